/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * live.h - what vmfsadm's commands that talk to the local vmfs-lockd share: connecting
 * through -c CONFIG, turning a path into a lock name, printing JSON, and exit statuses
 * from sysexits(3) that scripts can tell apart:
 *   69 EX_UNAVAILABLE  vmfs-lockd not running, or no quorum
 *   75 EX_TEMPFAIL     held elsewhere (or the cluster is settling): try again later
 *   77 EX_NOPERM       not root and not in group vmfs
 */
#ifndef VMFS_LIVE_H
#define VMFS_LIVE_H

#include <jansson.h>

#include "lockd/client/vmfslock.h"
#include "tools/vmfsadm/cmd.h"

#define LIVE_EXIT_UNAVAILABLE 69
#define LIVE_EXIT_TEMPFAIL 75
#define LIVE_EXIT_NOPERM 77

/* The -c option every live command takes, for its option tables and help. */
#define LIVE_CONFIG_OPT { "config", required_argument, NULL, 'c' }
#define LIVE_CONFIG_HELP "  -c, --config FILE           vmfs.conf of this host's daemon\n"
#define LIVE_JSON_OPT { "json", no_argument, NULL, 'j' }
#define LIVE_JSON_HELP "  -j, --json                  JSON instead of text\n"

/* Connects or prints why not; returns 0 or the exit status. */
int live_connect(const struct cmd_entry *e, const struct cmd_args *a, struct vmfslock **c);
/* The lock name of a command-line path, or prints why not and returns -EINVAL. */
int live_name(const struct cmd_entry *e, const struct vmfslock *c, const char *path,
	      char *out, size_t len);
/* Prints a daemon's refusal rc as one line and returns the matching exit status. */
int live_fail(const struct cmd_entry *e, int rc, const char *what);
/* Asks the daemon for what ("status", "hosts", "locks"); prints why not. */
int live_query(const struct cmd_entry *e, struct vmfslock *c, const char *what,
	       const char *path, json_t **out);
/*
 * What status, hosts and locks share: connects (-c), turns path (may be NULL) into a
 * lock name, asks the daemon for what and disconnects. 0 with *out, or the exit status
 * (the reason printed). With --json (-j) it prints *out itself and returns -1.
 */
int live_fetch(const struct cmd_entry *e, const struct cmd_args *a, const char *what,
	       const char *path, json_t **out);
/* Pretty JSON on stdout. */
void live_print_json(json_t *v);
/* "1.2 s" style age from milliseconds. */
const char *live_age(long long ms, char *buf, size_t len);

#endif

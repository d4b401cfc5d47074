/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lki.h - vmfs-lockd's server for local clients (libqb IPC, protocol in lki_proto.h).
 *
 * It owns the clients: who they are (SO_PEERCRED), what each holds (per path, with a
 * count), their waiting acquires and their event subscriptions. It turns requests into
 * agent calls and agent replies back into responses. Two clients of one host share the
 * host's cluster lock, but not in conflicting modes: an EX held by one connection makes
 * another connection's acquire wait or fail with -EBUSY naming this host.
 * A client that goes away has everything it held released (persisted free by the agent
 * before the release is multicast).
 */
#ifndef VMFS_LKI_H
#define VMFS_LKI_H

#include <stdbool.h>
#include <stdint.h>

#include "lockd/core/lk_agent.h"

struct lkd;
struct lki;

/* Creates the IPC service named after the run_dir. NULL with err filled. */
struct lki *lki_start(struct lkd *d, char *err, size_t errlen);
void lki_stop(struct lki *s);

/* The agent answered one of our acquires (x->req). */
void lki_reply(struct lki *s, const struct lk_act *x);
/* Handles on path must fail: subscribers are told, and the clients' holds of it end. */
void lki_revoke(struct lki *s, const char *path);
/* This incarnation stopped: subscribers told, every hold forgotten, waiters refused. */
void lki_fenced(struct lki *s, const char *why);
/* The lease deadline changed (monotonic ms, 0 = none): subscribers told. */
void lki_lease(struct lki *s, int64_t deadline);
/* Something was freed: waiting acquires ask again. */
void lki_retry_waiters(struct lki *s);
/* After the agent's actions: files arriving by handoff committed or aborted. */
void lki_ho_check(struct lki *s);
/* Periodic: expired waits answered, slow retries. */
void lki_tick(struct lki *s, int64_t now);
/* Is a vmfsd (a client that drains files before handoffs) connected? */
bool lki_has_vmfsd(const struct lki *s);
/* Shutdown: every client hold released through the agent. */
void lki_release_all(struct lki *s);
/* Shutdown: clients told (a "fenced" event with why), then lki_release_all. */
void lki_stopping(struct lki *s, const char *why);

#endif

/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd.h - vmfsadm's subcommands. Each lives in its own cmd_*.c file as one
 * const struct cmd_entry, listed in the table of vmfsadm.c. The dispatcher there looks
 * the command up, parses its options from the entry's tables, answers -h/--help, reports
 * usage errors (exit 2), and hands exec() the parsed arguments. exec() returns the exit
 * status: 0 done, 1 failed (its one-line message already printed), 2 bad usage.
 */
#ifndef VMFS_CMD_H
#define VMFS_CMD_H

#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

enum {
	CMD_EXIT_OK = 0,
	CMD_EXIT_FAIL = 1,
	CMD_EXIT_USAGE = 2,
};

struct cmd_args {
	const char *opt[UCHAR_MAX + 1]; /* option c's argument, "" for a flag, NULL if absent */
	int argc;                       /* the positional arguments */
	char **argv;
};

struct cmd_entry {
	const char *name;
	const char *summary;           /* one line for the command list */
	const char *usage;             /* what follows the name, e.g. "[--json] DATASTORE" */
	const char *help;              /* option lines for --help */
	const char *notes;             /* a paragraph after the options, or NULL */
	const char *optstring;         /* getopt short options; -h is the dispatcher's */
	const struct option *longopts; /* each .val its short option; --help is added */
	int min_args, max_args;        /* positional arguments */
	int (*exec)(const struct cmd_entry *self, const struct cmd_args *a);
};

extern const struct cmd_entry cmd_format_entry;
extern const struct cmd_entry cmd_dump_entry;
extern const struct cmd_entry cmd_status_entry;
extern const struct cmd_entry cmd_hosts_entry;
extern const struct cmd_entry cmd_locks_entry;
extern const struct cmd_entry cmd_lock_entry;
extern const struct cmd_entry cmd_break_entry;
extern const struct cmd_entry cmd_cpuid_entry;

/* "vmfsadm NAME: message" on stderr. */
__attribute__((format(printf, 2, 3))) void cmd_error(const struct cmd_entry *e,
						     const char *fmt, ...);
/* The usage line of e on stderr, for a usage error; returns CMD_EXIT_USAGE. */
int cmd_usage_error(const struct cmd_entry *e);
/*
 * Parses the decimal value s of option opt into [min, max]; returns 0, or prints why not
 * and returns -EINVAL with *out unchanged.
 */
int cmd_parse_u32(const struct cmd_entry *e, const char *opt, const char *s, uint32_t min,
		  uint32_t max, uint32_t *out);

/* Allocation for the CLI: on failure they print "out of memory" and exit 1, as tmux's do. */
void *xcalloc(size_t n, size_t size);
void *xreallocarray(void *p, size_t n, size_t size);
__attribute__((format(printf, 1, 0))) char *xvasprintf(const char *fmt, va_list ap);

#endif

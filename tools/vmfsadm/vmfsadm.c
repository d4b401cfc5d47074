// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vmfsadm.c - the vmfs admin CLI's entry point and dispatcher: the table of subcommands,
 * global options, option parsing driven by each command's cmd_entry, and the helpers
 * every command shares (messages, number parsing, allocation). The commands themselves
 * live in cmd_*.c, one per file.
 */
#define _GNU_SOURCE /* vasprintf, reallocarray */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/vmfsadm/cmd.h"

#define MAX_LONGOPTS 16

static const struct cmd_entry *const cmd_table[] = {
	&cmd_format_entry,
	&cmd_dump_entry,
	&cmd_status_entry,
	&cmd_hosts_entry,
	&cmd_locks_entry,
	&cmd_lock_entry,
	&cmd_break_entry,
	&cmd_cpuid_entry,
	NULL,
};

/* --- shared helpers ----------------------------------------------------------------- */

static void out_of_memory(void)
{
	fputs("vmfsadm: out of memory\n", stderr);
	exit(CMD_EXIT_FAIL);
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		out_of_memory();
	return p;
}

void *xreallocarray(void *p, size_t n, size_t size)
{
	void *q = reallocarray(p, n ? n : 1, size ? size : 1);

	if (!q)
		out_of_memory();
	return q;
}

char *xvasprintf(const char *fmt, va_list ap)
{
	char *s;

	if (vasprintf(&s, fmt, ap) < 0)
		out_of_memory();
	return s;
}

void cmd_error(const struct cmd_entry *e, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "vmfsadm %s: ", e->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cmd_usage_error(const struct cmd_entry *e)
{
	fprintf(stderr, "usage: vmfsadm %s %s\n", e->name, e->usage);
	return CMD_EXIT_USAGE;
}

int cmd_parse_u32(const struct cmd_entry *e, const char *opt, const char *s, uint32_t min,
		  uint32_t max, uint32_t *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v < min || v > max) {
		cmd_error(e, "%s '%s': must be a number from %u to %u", opt, s, min, max);
		return -EINVAL;
	}
	*out = (uint32_t)v;
	return 0;
}

/* --- usage -------------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fputs("usage: vmfsadm [-h] COMMAND [ARGS]\n\n"
	      "Administers a vmfs datastore: format and dump read the lock volume directly\n"
	      "on the shared storage (no daemon needed); the other commands ask this host's\n"
	      "vmfs-lockd (-c CONFIG, else $VMFS_CONFIG, else /etc/vmfs/vmfs.conf).\n\ncommands:\n",
	      f);
	for (const struct cmd_entry *const *e = cmd_table; *e; e++)
		fprintf(f, "  %-8s %s\n", (*e)->name, (*e)->summary);
	fputs("\n'vmfsadm COMMAND --help' describes a command.\n", f);
}

static void command_help(const struct cmd_entry *e)
{
	printf("usage: vmfsadm %s %s\n\n%s.\n\noptions:\n%s", e->name, e->usage, e->summary,
	       e->help);
	printf("  %-28s%s\n", "-h, --help", "show this help");
	if (e->notes)
		printf("\n%s", e->notes);
}

/* --- dispatch ----------------------------------------------------------------------- */

/* Parses argv (argv[0] is the command name) by e's tables into *a. */
static int parse(const struct cmd_entry *e, int argc, char **argv, struct cmd_args *a)
{
	struct option longopts[MAX_LONGOPTS + 2];
	char optstring[64];
	size_t n = 0;
	int c;

	while (e->longopts[n].name)
		n++;
	assert(n <= MAX_LONGOPTS && strlen(e->optstring) + 3 <= sizeof(optstring));
	memcpy(longopts, e->longopts, n * sizeof(*longopts));
	longopts[n] = (struct option){ "help", no_argument, NULL, 'h' };
	longopts[n + 1] = (struct option){ 0 };
	snprintf(optstring, sizeof(optstring), ":h%s", e->optstring);

	memset(a, 0, sizeof(*a));
	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, optstring, longopts, NULL)) != -1) {
		if (c == 'h') {
			command_help(e);
			exit(CMD_EXIT_OK);
		}
		if (c == '?' && optopt) {
			cmd_error(e, "unknown option '-%c'", optopt);
			return cmd_usage_error(e);
		}
		if (c == '?' || c == ':') {
			cmd_error(e, "%s option '%s'", c == '?' ? "unknown" : "missing argument for",
				  argv[optind - 1]);
			return cmd_usage_error(e);
		}
		a->opt[(unsigned char)c] = optarg ? optarg : "";
	}
	a->argc = argc - optind;
	a->argv = argv + optind;
	if (a->argc < e->min_args || a->argc > e->max_args) {
		cmd_error(e, "%s", a->argc < e->min_args ? "missing argument" : "too many arguments");
		return cmd_usage_error(e);
	}
	return 0;
}

int main(int argc, char **argv)
{
	const struct cmd_entry *const *e;
	struct cmd_args a;
	int rc;

	if (argc < 2) {
		usage(stderr);
		return CMD_EXIT_USAGE;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return CMD_EXIT_OK;
	}
	for (e = cmd_table; *e; e++)
		if (strcmp((*e)->name, argv[1]) == 0)
			break;
	if (!*e) {
		fprintf(stderr, "vmfsadm: unknown %s '%s'\n",
			argv[1][0] == '-' ? "option" : "command", argv[1]);
		usage(stderr);
		return CMD_EXIT_USAGE;
	}
	rc = parse(*e, argc - 1, argv + 1, &a);
	if (rc)
		return rc;
	return (*e)->exec(*e, &a);
}

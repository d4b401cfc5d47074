// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vmfs_handoff.c - vmfs-handoff(8): moves a VM's locks from this host to another at the
 * switchover of a live migration (prepare, commit, abort) and reports a handoff's state
 * (status), through the local vmfs-lockd (libvmfslock). Every refusal is one line on
 * stderr and an exit status migration tooling can tell apart (EXIT_* below).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "handoff/cli/ho_check.h"
#include "handoff/cli/ho_journal.h"
#include "handoff/ho_core.h"
#include "lockd/client/vmfslock.h"

enum {
	EXIT_OTHER_WAY = 1,   /* the handoff ended the other way (commit: aborted; abort: committed) */
	EXIT_USAGE = 64,
	EXIT_FILES = 65,      /* a file cannot move: not held here, held by a third host, ... */
	EXIT_UNKNOWN_ID = 66, /* no such handoff */
	EXIT_HOST = 67,       /* no such host, or not a live quorate member, or a party restarted */
	EXIT_UNAVAILABLE = 69,/* vmfs-lockd not running, fenced, or no quorum */
	EXIT_FAIL = 70,       /* anything else */
	EXIT_TEMPFAIL = 75,   /* try again: cluster settling, handoff in doubt, writers not drained */
	EXIT_NOPERM = 77,     /* not root or group vmfs; not the handoff's source */
};

static const char *prog = "vmfs-handoff";

static void usage(FILE *f)
{
	fprintf(f,
		"usage: %s [-c CONFIG] prepare --to HOST PATH...\n"
		"       %s [-c CONFIG] commit ID\n"
		"       %s [-c CONFIG] abort ID\n"
		"       %s [-c CONFIG] status [--json] ID\n"
		"       %s [-c CONFIG] check --to HOST [--qmp SOCKET] PATH...\n\n"
		"Moves a VM's cluster locks from this host to HOST (corosync node name or node id)\n"
		"at the switchover of a live migration. PATH: files, or VM directories (every lock\n"
		"this host holds under one), absolute under the mount point or relative to the\n"
		"datastore. prepare prints the handoff id as the last word of its output.\n\n"
		"options:\n"
		"  -c, --config FILE   vmfs.conf of this host's vmfs-lockd\n"
		"  -t, --to HOST       (prepare) the destination\n"
		"  -j, --json          (status) JSON instead of text\n"
		"  -q, --qmp SOCKET    (check) the VM's QMP socket: its devices, vCPUs, NICs\n"
		"  -h, --help          show this help\n\n"
		"exit: 0 done; 1 the handoff ended the other way; 64 usage; 65 a file cannot move;\n"
		"66 unknown handoff; 67 destination not a live member; 69 vmfs-lockd unavailable or\n"
		"no quorum; 75 try again; 77 not permitted; check: 1 when a check failed.\n"
		"See vmfs-handoff(8).\n",
		prog, prog, prog, prog, prog);
}

/* One line for rc (why: the daemon's own line, if any); the exit status. */
static int fail(const char *what, int rc, const char *why)
{
	const char *msg = why && *why ? why : strerror(-rc);

	fprintf(stderr, "%s %s: %s\n", prog, what, msg);
	switch (rc) {
	case -ECANCELED:
	case -EALREADY:
		return EXIT_OTHER_WAY;
	case -EUSERS:
	case -E2BIG:
	case -EINVAL:
	case -EXDEV:
		return EXIT_FILES;
	case -ENOENT:
		return strcmp(what, "prepare") == 0 ? EXIT_FILES : EXIT_UNKNOWN_ID;
	case -ENXIO:
	case -EHOSTUNREACH:
	case -ESTALE:
	case -EHOSTDOWN:
		return EXIT_HOST;
	case -ENOTCONN:
	case -ENOLINK:
	case -ECONNRESET:
		return EXIT_UNAVAILABLE;
	case -EAGAIN:
	case -ETIMEDOUT:
	case -EBUSY:
		return EXIT_TEMPFAIL;
	case -EPERM:
		return EXIT_NOPERM;
	default:
		return EXIT_FAIL;
	}
}

static int parse_id(const char *s, uint64_t *id)
{
	char *end;

	errno = 0;
	*id = strtoull(s, &end, 10);
	if (errno || !*s || *end || *id == 0) {
		fprintf(stderr, "%s: '%s' is not a handoff id (a positive number)\n", prog, s);
		return -EINVAL;
	}
	return 0;
}

static int do_prepare(struct vmfslock *c, const char *to, char **paths, int n)
{
	const char **names = calloc((size_t)n, sizeof(*names));
	char (*buf)[VMFSLOCK_NAME_MAX + 1] = calloc((size_t)n, sizeof(*buf));
	char why[800] = "";
	uint64_t id = 0;
	int rc;

	if (!names || !buf) {
		free(names);
		free(buf);
		return fail("prepare", -ENOMEM, NULL);
	}
	for (int i = 0; i < n; i++) {
		rc = vmfslock_name(vmfslock_conf(c), paths[i], buf[i], sizeof(buf[i]));
		if (rc < 0) {
			snprintf(why, sizeof(why), "%s is %s", paths[i], rc == -EXDEV ?
				 "neither under the mount point nor under the datastore" :
				 "not a lock name");
			free(names);
			free(buf);
			return fail("prepare", -EXDEV, why);
		}
		names[i] = buf[i];
	}
	rc = vmfslock_ho_prepare(c, to, names, (size_t)n, &id, why, sizeof(why));
	free(names);
	free(buf);
	if (rc < 0)
		return fail("prepare", rc, why);
	printf("prepared the handoff to %s: %" PRIu64 "\n", to, id);
	return 0;
}

/* vmfs-lockd does not know id (any more): what the journals on the volume say. */
static int journal_status(struct vmfslock *c, uint64_t id, bool json)
{
	char err[512], when[64];
	struct vol_journal j;
	const char *word;
	time_t t;
	int rc = ho_journal_find(vmfslock_conf(c)->datastore, id, &j, err, sizeof(err));

	if (rc < 0) {
		if (rc != -ENOENT)
			fprintf(stderr, "%s status: the journals: %s\n", prog, err);
		printf(json ? "{\"id\": %" PRIu64 ", \"state\": \"unknown\"}\n" : "unknown\n", id);
		return EXIT_UNKNOWN_ID;
	}
	/* a last record of pending or in doubt: the outcome was never written */
	word = j.ho_state == HO_ABORTED ? "aborted" :
	       j.ho_state == HO_COMMITTED || j.ho_state == HO_DURABLE ? "committed" : "unknown";
	t = (time_t)(j.wall_ms / 1000);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
	if (json)
		printf("{\"id\": %" PRIu64 ", \"state\": \"%s\", \"detail\": \"%s\", \"from\": "
		       "\"journal\", \"journal_host\": %u, \"written\": \"%s\", \"source\": "
		       "{\"host\": %u}, \"destination\": {\"host\": %u}, \"nfiles\": %u}\n", id,
		       word, ho_state_name((enum ho_state)j.ho_state), j.host, when, j.src, j.dst,
		       j.nfiles);
	else
		printf("%s (%s, per the journal of host %u, %s; vmfs-lockd no longer remembers "
		       "it): from host %u to host %u, %u file(s)\n", word,
		       ho_state_name((enum ho_state)j.ho_state), j.host, when, j.src, j.dst,
		       j.nfiles);
	return strcmp(word, "unknown") == 0 ? EXIT_UNKNOWN_ID : 0;
}

/* vmfs-lockd's view of a handoff it knows. */
static int print_status(json_t *v, bool json)
{
	const char *state = "", *path = "?";
	json_t *files, *f, *h;
	size_t i, k;

	json_unpack(v, "{s?s}", "state", &state);
	if (json) {
		char *text = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

		if (text)
			puts(text);
		free(text);
	} else {
		json_int_t src = 0, dst = 0;
		const char *sn = "", *dn = "", *detail = "";

		json_unpack(v, "{s?s, s:{s:I, s:s}, s:{s:I, s:s}}", "detail", &detail, "source",
			    "host", &src, "name", &sn, "destination", "host", &dst, "name", &dn);
		printf("%s (%s): from host %lld (%s) to host %lld (%s)\n", state, detail,
		       (long long)src, sn, (long long)dst, dn);
		files = json_object_get(v, "files");
		json_array_foreach(files, i, f) {
			json_unpack(f, "{s:s}", "path", &path);
			printf("  %s", path);
			json_array_foreach(json_object_get(f, "holders"), k, h) {
				json_int_t host = 0, e = 0, n = 0;
				const char *name = "", *mode = "";

				json_unpack(h, "{s:I, s:s, s:s, s:[II]}", "host", &host, "name", &name,
					    "mode", &mode, "gen", &e, &n);
				printf("  %s by host %lld (%s), generation %lld:%lld", mode,
				       (long long)host, name, (long long)e, (long long)n);
			}
			printf("%s\n", json_array_size(json_object_get(f, "holders")) ? "" :
			       "  not held");
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "to", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "qmp", required_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = NULL, *to = NULL, *qmp = NULL, *cmd;
	char err[VMFS_CONF_ERR_MAX + 256], why[800] = "";
	struct vmfslock *c;
	bool json = false;
	uint64_t id = 0;
	json_t *v;
	int o, rc;

	while ((o = getopt_long(argc, argv, "+c:t:q:jh", opts, NULL)) != -1) {
		switch (o) {
		case 'q':
			qmp = optarg;
			break;
		case 'c':
			config = optarg;
			break;
		case 't':
			to = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	cmd = argv[optind++];
	/* options may also follow the command */
	while ((o = getopt_long(argc, argv, "c:t:q:jh", opts, NULL)) != -1) {
		if (o == 'q')
			qmp = optarg;
		else if (o == 'c')
			config = optarg;
		else if (o == 't')
			to = optarg;
		else if (o == 'j')
			json = true;
		else if (o == 'h')
			return usage(stdout), 0;
		else
			return usage(stderr), EXIT_USAGE;
	}
	if (strcmp(cmd, "prepare") == 0 || strcmp(cmd, "check") == 0) {
		if (!to || optind >= argc) {
			fprintf(stderr, "%s %s: needs --to HOST and at least one PATH\n", prog, cmd);
			return EXIT_USAGE;
		}
	} else if (strcmp(cmd, "commit") == 0 || strcmp(cmd, "abort") == 0 ||
		   strcmp(cmd, "status") == 0) {
		if (argc - optind != 1) {
			fprintf(stderr, "%s %s: needs exactly one handoff ID\n", prog, cmd);
			return EXIT_USAGE;
		}
		if (parse_id(argv[optind], &id) < 0)
			return EXIT_USAGE;
	} else {
		fprintf(stderr, "%s: unknown command '%s' (prepare, commit, abort, status, check)\n", prog,
			cmd);
		return EXIT_USAGE;
	}
	rc = vmfslock_connect(config, &c, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "%s: %s\n", prog, err);
		return rc == -ENOTCONN || rc == -ETIMEDOUT ? EXIT_UNAVAILABLE : EXIT_FAIL;
	}
	if (strcmp(cmd, "check") == 0) {
		rc = ho_check(c, to, qmp, argv + optind, argc - optind);
		rc = rc < 0 ? fail("check", rc, NULL) : rc > 0 ? 1 : 0;
	} else if (strcmp(cmd, "prepare") == 0) {
		rc = do_prepare(c, to, argv + optind, argc - optind);
	} else if (strcmp(cmd, "commit") == 0) {
		rc = vmfslock_ho_commit(c, id, why, sizeof(why));
		rc = rc < 0 ? fail("commit", rc, why) :
			      (printf("handoff %" PRIu64 " committed\n", id), 0);
	} else if (strcmp(cmd, "abort") == 0) {
		rc = vmfslock_ho_abort(c, id, why, sizeof(why));
		rc = rc < 0 ? fail("abort", rc, why) :
			      (printf("handoff %" PRIu64 " aborted\n", id), 0);
	} else {
		rc = vmfslock_ho_status(c, id, &v);
		if (rc < 0) {
			rc = fail("status", rc, NULL);
		} else {
			const char *state = "";

			json_unpack(v, "{s?s}", "state", &state);
			rc = strcmp(state, "unknown") == 0 ? journal_status(c, id, json) :
							     print_status(v, json);
			json_decref(v);
		}
	}
	vmfslock_close(c);
	return rc;
}

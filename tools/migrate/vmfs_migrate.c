// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vmfs_migrate.c - vmfs-migrate: the reference live-migration driver. Runs on the source
 * host and drives two QEMU processes through QMP, moving the VM's locks with a handoff at
 * the switchover (vmfs-handoff(8), "MIGRATION SEQUENCE"):
 *
 *   prepare -> destination QEMU (-incoming defer -S, late-block-activate) -> source
 *   migrate with pause-before-switchover -> pre-switchover: re-check, migrate-continue ->
 *   source completed (vCPUs stopped, disks flushed and inactive) -> commit -> destination
 *   cont. completed -> cont is the switchover: no QEMU holds the images meanwhile.
 *
 * Failure before the commit: abort, quit the destination, cont the source. Failure after:
 * hand the files back (prepare + commit on the destination, through --dst-exec) before the
 * source continues. Figures go to stdout as key=value lines.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lockd/client/vmfslock.h"
#include "handoff/cli/qmp.h"

enum {
	EXIT_MIGRATED = 0,
	EXIT_FAILED_STAYED = 1,  /* failed before the commit: the VM runs on the source again */
	EXIT_FAILED_BACK = 2,    /* failed after the commit: handed back, runs on the source */
	EXIT_STUCK = 3,          /* failed after the commit and could not hand back: see stderr */
	EXIT_USAGE = 64,
};

struct opts {
	const char *config, *to, *src_qmp, *dst_qmp, *uri, *listen, *dst_start, *dst_exec;
	const char *src_name;
	long downtime_ms, bandwidth_mib, timeout_s;
	bool no_handoff;
	char **paths;
	int npaths;
};

static const char *prog = "vmfs-migrate";

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static double ms_since(int64_t t0, int64_t t1)
{
	return (double)(t1 - t0) / 1000.0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: %s [-c CONFIG] --to HOST --src-qmp SOCK --dst-qmp SOCK --uri URI\n"
		"       [--listen URI] [--dst-start CMD] [--dst-exec PREFIX] [--src-name NAME]\n"
		"       [--downtime-ms MS] [--bandwidth-mib MIB] [--timeout S] PATH...\n\n"
		"Live-migrates the VM whose QEMU answers QMP at --src-qmp (this host) to HOST,\n"
		"moving the locks of PATH... (its files or directory on /vmfs) at the switchover.\n\n"
		"  --to HOST          destination (corosync node name or id)\n"
		"  --src-qmp SOCK     the running source QEMU's QMP socket\n"
		"  --dst-qmp SOCK     the destination QEMU's QMP socket (started with -incoming\n"
		"                     defer -S), waited for after --dst-start\n"
		"  --uri URI          where the source sends the migration (tcp:ADDR:PORT)\n"
		"  --listen URI       where the destination listens (default: --uri)\n"
		"  --dst-start CMD    shell command that starts the destination QEMU, run after\n"
		"                     the prepare (the destination may open the files only then)\n"
		"  --dst-exec PREFIX  runs a command on the destination (e.g. 'ssh h2'): used to\n"
		"                     hand the files back if the destination fails after the commit\n"
		"  --src-name NAME    this host's name for that hand-back (default: hostname)\n"
		"  --downtime-ms MS   QEMU's downtime-limit (default 50)\n"
		"  --bandwidth-mib N  QEMU's max-bandwidth in MiB/s (default 1024)\n"
		"  --timeout S        give up a migration not completed after S s (default 120)\n"
		"  --no-handoff       migrate without moving locks (images outside /vmfs): the\n"
		"                     baseline the benchmark compares the handoff with\n\n"
		"exit: 0 migrated; 1 failed before the commit (the VM runs on the source); 2 failed\n"
		"after it, files handed back (runs on the source); 3 stuck (see the message); 64\n"
		"usage.\n", prog);
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int run_sh(const char *cmd)
{
	int st = system(cmd);

	return st == -1 ? -errno : WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* The source's status word from query-migrate; *downtime_ms when it says. */
static int src_status(struct qmp *src, char *status, size_t len, long *downtime_ms, char *err,
		      size_t errlen)
{
	json_t *r;
	json_int_t dt = -1;
	const char *s = "";
	int rc = qmp_call(src, "query-migrate", NULL, &r, err, errlen);

	if (rc < 0)
		return rc;
	json_unpack(r, "{s?s, s?I}", "status", &s, "downtime", &dt);
	snprintf(status, len, "%s", s);
	if (downtime_ms && dt >= 0)
		*downtime_ms = (long)dt;
	json_decref(r);
	return 0;
}

/* Back to the source after a failure before the commit: abort, dst gone, source runs. */
static int stay(const struct opts *o, struct vmfslock *c, uint64_t id, struct qmp *src,
		struct qmp **dst, const char *why)
{
	char err[512], status[32] = "";
	int64_t t0 = now_us();
	int rc;

	say("migration failed before the commit: %s; the VM stays on this host", why);
	if (src) {
		src_status(src, status, sizeof(status), NULL, err, sizeof(err));
		if (strcmp(status, "active") == 0 || strcmp(status, "pre-switchover") == 0 ||
		    strcmp(status, "device") == 0)
			qmp_call(src, "migrate_cancel", NULL, NULL, err, sizeof(err));
	}
	if (id && (rc = vmfslock_ho_abort(c, id, err, sizeof(err))) < 0)
		say("abort of handoff %" PRIu64 ": %s", id, *err ? err : strerror(-rc));
	if (*dst) {
		qmp_call(*dst, "quit", NULL, NULL, err, sizeof(err));
		qmp_close(*dst);
		*dst = NULL;
	}
	(void)o;
	if (src) {
		/* cancelled in pre-switchover, or completed: the source continues */
		for (int i = 0; i < 500; i++) {
			src_status(src, status, sizeof(status), NULL, err, sizeof(err));
			if (strcmp(status, "cancelling") != 0)
				break;
			usleep(1000);
		}
		if (qmp_call(src, "cont", NULL, NULL, err, sizeof(err)) < 0)
			say("cont of the source: %s", err);
	}
	printf("result=failed-before-commit\nsource_running_again_ms=%.1f\n",
	       ms_since(t0, now_us()));
	return EXIT_FAILED_STAYED;
}

/* After a commit whose destination cannot run the VM: the files go back, source runs. */
static int hand_back(const struct opts *o, struct qmp *src, const char *why)
{
	char cmd[8192], err[512], src_name[256];
	int off, rc;

	say("migration failed after the commit: %s", why);
	if (!o->dst_exec) {
		say("the files are %s's now: hand them back there (vmfs-handoff prepare --to "
		    "THIS-HOST, then commit), then cont the source QEMU", o->to);
		printf("result=stuck-after-commit\n");
		return EXIT_STUCK;
	}
	if (o->src_name)
		snprintf(src_name, sizeof(src_name), "%s", o->src_name);
	else if (gethostname(src_name, sizeof(src_name)) < 0)
		snprintf(src_name, sizeof(src_name), "?");
	off = snprintf(cmd, sizeof(cmd), "id=$(%s vmfs-handoff prepare --to '%s'", o->dst_exec,
		       src_name);
	for (int i = 0; i < o->npaths && off < (int)sizeof(cmd) - 600; i++)
		off += snprintf(cmd + off, sizeof(cmd) - (size_t)off, " '%s'", o->paths[i]);
	snprintf(cmd + off, sizeof(cmd) - (size_t)off,
		 " | awk '{ print $NF }') && [ -n \"$id\" ] && %s vmfs-handoff commit \"$id\"",
		 o->dst_exec);
	rc = run_sh(cmd);
	if (rc != 0) {
		say("handing the files back failed (exit %d): the VM cannot continue anywhere "
		    "until they are", rc);
		printf("result=stuck-after-commit\n");
		return EXIT_STUCK;
	}
	if (qmp_call(src, "cont", NULL, NULL, err, sizeof(err)) < 0) {
		say("cont of the source after the hand-back: %s", err);
		printf("result=stuck-after-commit\n");
		return EXIT_STUCK;
	}
	printf("result=failed-after-commit-handed-back\n");
	return EXIT_FAILED_BACK;
}

static json_t *caps(const char *name)
{
	return json_pack("{s:[{s:s, s:b}]}", "capabilities", "capability", name, "state", 1);
}

static int migrate(const struct opts *o, struct vmfslock *c)
{
	char err[1024] = "", why[800] = "", status[32] = "";
	const char **names = (const char **)o->paths;
	struct qmp *src = NULL, *dst = NULL;
	int64_t t_start, t_done = 0, t_commit, t_cont;
	long downtime = -1;
	uint64_t id = 0;
	bool paused = false;
	int rc;

	rc = qmp_open(o->src_qmp, 2000, &src, err, sizeof(err));
	if (rc < 0) {
		say("source QEMU: %s", err);
		return EXIT_FAILED_STAYED;
	}
	rc = o->no_handoff ? 0 :
		vmfslock_ho_prepare(c, o->to, names, (size_t)o->npaths, &id, why, sizeof(why));
	if (rc < 0) {
		say("prepare: %s", *why ? why : strerror(-rc));
		qmp_close(src);
		printf("result=failed-before-commit\n");
		return EXIT_FAILED_STAYED;
	}
	if (!o->no_handoff) {
		say("handoff %" PRIu64 " prepared", id);
		printf("handoff=%" PRIu64 "\n", id);
	}
	if (o->dst_start && (rc = run_sh(o->dst_start)) != 0) {
		snprintf(why, sizeof(why), "--dst-start exited %d", rc);
		return stay(o, c, id, src, &dst, why);
	}
	if (qmp_open(o->dst_qmp, 30000, &dst, err, sizeof(err)) < 0 ||
	    qmp_call(dst, "migrate-set-capabilities", caps("late-block-activate"), NULL, err,
		     sizeof(err)) < 0 ||
	    qmp_call(dst, "migrate-incoming", json_pack("{s:s}", "uri", o->listen ? o->listen :
							  o->uri), NULL, err, sizeof(err)) < 0)
		return stay(o, c, id, src, &dst, err);
	if (qmp_call(src, "migrate-set-capabilities", caps("pause-before-switchover"), NULL, err,
		     sizeof(err)) < 0 ||
	    qmp_call(src, "migrate-set-parameters",
		     json_pack("{s:I, s:I}", "downtime-limit", (json_int_t)o->downtime_ms,
			       "max-bandwidth", (json_int_t)o->bandwidth_mib * 1048576),
		     NULL, err, sizeof(err)) < 0)
		return stay(o, c, id, src, &dst, err);
	t_start = now_us();
	if (qmp_call(src, "migrate", json_pack("{s:s}", "uri", o->uri), NULL, err,
		     sizeof(err)) < 0)
		return stay(o, c, id, src, &dst, err);
	for (;;) {
		if (src_status(src, status, sizeof(status), &downtime, err, sizeof(err)) < 0)
			return stay(o, c, id, NULL, &dst, err);
		if (strcmp(status, "completed") == 0) {
			t_done = now_us();
			break;
		}
		if (strcmp(status, "failed") == 0 || strcmp(status, "cancelled") == 0) {
			snprintf(why, sizeof(why), "QEMU's migration %s", status);
			return stay(o, c, id, src, &dst, why);
		}
		if (strcmp(status, "pre-switchover") == 0 && !paused) {
			/* the last check before the source stops for good: still ours to move */
			json_t *st = NULL;
			const char *s = "";

			paused = true;
			if (o->no_handoff)
				s = "pending";
			else if (vmfslock_ho_status(c, id, &st) == 0)
				json_unpack(st, "{s?s}", "state", &s);
			if (strcmp(s, "pending") != 0) {
				snprintf(why, sizeof(why), "handoff %" PRIu64 " is %s at pre-switchover",
					 id, *s ? s : "unknown");
				json_decref(st);
				return stay(o, c, id, src, &dst, why);
			}
			json_decref(st);
			if (qmp_call(src, "migrate-continue", json_pack("{s:s}", "state",
				     "pre-switchover"), NULL, err, sizeof(err)) < 0)
				return stay(o, c, id, src, &dst, err);
		}
		if (now_us() - t_start > o->timeout_s * 1000000) {
			snprintf(why, sizeof(why), "not completed after %ld s", o->timeout_s);
			return stay(o, c, id, src, &dst, why);
		}
		usleep(paused ? 200 : 2000);
	}
	rc = o->no_handoff ? 0 : vmfslock_ho_commit(c, id, why, sizeof(why));
	t_commit = now_us();
	if (rc < 0) {
		json_t *st = NULL;
		const char *s = "";

		/* did it move anyway (the answer was lost)? status says; while it may still be
		 * agreed, only an abort that is accepted lets the source go on */
		if (vmfslock_ho_status(c, id, &st) == 0)
			json_unpack(st, "{s?s}", "state", &s);
		if (strcmp(s, "committed") != 0) {
			char aerr[512] = "";
			int arc = vmfslock_ho_abort(c, id, aerr, sizeof(aerr));

			snprintf(err, sizeof(err), "commit: %s", *why ? why : strerror(-rc));
			json_decref(st);
			if (arc == 0)
				return stay(o, c, id, src, &dst, err);
			if (arc != -EALREADY) {
				say("%s; its outcome is not known and the abort was refused (%s): neither "
				    "QEMU may continue until vmfs-handoff status %" PRIu64 " says committed "
				    "(cont the destination) or aborted (cont the source)", err,
				    *aerr ? aerr : strerror(-arc), id);
				printf("result=unknown-outcome\n");
				qmp_close(src);
				qmp_close(dst);
				return EXIT_STUCK;
			}
			/* -EALREADY: it was committed after all */
		} else {
			json_decref(st);
		}
	}
	if (qmp_call(dst, "cont", NULL, NULL, err, sizeof(err)) < 0) {
		qmp_close(dst);
		rc = hand_back(o, src, err);
		qmp_close(src);
		return rc;
	}
	t_cont = now_us();
	printf("result=migrated\n");
	printf("migration_ms=%.1f\n", ms_since(t_start, t_done));
	printf("qemu_downtime_ms=%ld\n", downtime);
	printf("commit_ms=%.2f\n", ms_since(t_done, t_commit));
	printf("switchover_ms=%.2f\n", ms_since(t_done, t_cont));
	printf("guest_pause_ms=%.1f\n", (double)downtime + ms_since(t_done, t_cont));
	qmp_call(src, "quit", NULL, NULL, err, sizeof(err));
	qmp_close(src);
	qmp_close(dst);
	return EXIT_MIGRATED;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "to", required_argument, NULL, 't' },
		{ "src-qmp", required_argument, NULL, 's' },
		{ "dst-qmp", required_argument, NULL, 'd' },
		{ "uri", required_argument, NULL, 'u' },
		{ "listen", required_argument, NULL, 'l' },
		{ "dst-start", required_argument, NULL, 'S' },
		{ "dst-exec", required_argument, NULL, 'E' },
		{ "src-name", required_argument, NULL, 'n' },
		{ "downtime-ms", required_argument, NULL, 'D' },
		{ "bandwidth-mib", required_argument, NULL, 'B' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "no-handoff", no_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { .downtime_ms = 50, .bandwidth_mib = 1024, .timeout_s = 120 };
	char err[VMFS_CONF_ERR_MAX + 256];
	struct vmfslock *c;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "c:t:h", lo, NULL)) != -1) {
		switch (ch) {
		case 'c': o.config = optarg; break;
		case 't': o.to = optarg; break;
		case 's': o.src_qmp = optarg; break;
		case 'd': o.dst_qmp = optarg; break;
		case 'u': o.uri = optarg; break;
		case 'l': o.listen = optarg; break;
		case 'S': o.dst_start = optarg; break;
		case 'E': o.dst_exec = optarg; break;
		case 'n': o.src_name = optarg; break;
		case 'D': o.downtime_ms = atol(optarg); break;
		case 'B': o.bandwidth_mib = atol(optarg); break;
		case 'T': o.timeout_s = atol(optarg); break;
		case 'N': o.no_handoff = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	o.paths = argv + optind;
	o.npaths = argc - optind;
	if (!o.to || !o.src_qmp || !o.dst_qmp || !o.uri || (o.npaths < 1 && !o.no_handoff) ||
	    o.downtime_ms < 1 ||
	    o.bandwidth_mib < 1 || o.timeout_s < 1) {
		say("needs --to, --src-qmp, --dst-qmp, --uri and at least one PATH (see --help)");
		return EXIT_USAGE;
	}
	signal(SIGPIPE, SIG_IGN);
	rc = vmfslock_connect(o.config, &c, err, sizeof(err));
	if (rc < 0) {
		say("%s", err);
		return EXIT_FAILED_STAYED;
	}
	for (int i = 0; i < o.npaths; i++) {
		static char names[64][VMFSLOCK_NAME_MAX + 1];

		if (i >= 64 || vmfslock_name(vmfslock_conf(c), o.paths[i], names[i],
					     sizeof(names[i])) < 0) {
			say("%s is not on the datastore (or more than 64 paths)", o.paths[i]);
			vmfslock_close(c);
			return EXIT_USAGE;
		}
		o.paths[i] = names[i];
	}
	rc = migrate(&o, c);
	vmfslock_close(c);
	fflush(stdout);
	return rc;
}

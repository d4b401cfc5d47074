/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bench_lock.c - vmfs-bench-lock: lock operations of vmfs-lockd through libvmfslock, as a
 * client of the host's running daemon (found through -c CONFIG, else $VMFS_CONFIG).
 * tests/bench/run-bench runs it on a cluster made by tests/cluster/lib.sh and prints its
 * figures as ratios against the floors (vmfs-bench-floor) and the sanlock peer measured
 * in the same run.
 *
 *   latency       N uncontended vmfslock_acquire(EX, wait 0) + vmfslock_release, one at
 *                 a time on one connection, of distinct names P/<i> (--same: the one name
 *                 P/same every time); acquire, release and the pair timed on their own.
 *                 BENCH_LOCK_WARMUP rounds first (names P/w<i>), not counted.
 *   throughput    T threads, each with its own connection, acquire (EX, wait 0) and
 *                 release names of their own (P/t<k>/<i>) as fast as they can for S
 *                 seconds; grants_per_s = acquires granted / elapsed (from the moment all
 *                 threads are connected until the last one stops).
 *   hold          acquires NAME EX, prints held=1 and sleeps until killed (the connection
 *                 holds the lock; used by run-bench's failover measurement).
 *   until-granted tries acquire(EX, wait 0) of NAME every interval until it is granted;
 *                 prints granted_after_ms (from the program's start) and granted_at_unix_ms
 *                 (CLOCK_REALTIME, for a caller timing from an event of its own), the
 *                 attempts and refusals by kind, and attempt_max_ms (the longest single
 *                 acquire call: a daemon that holds requests during recovery shows here).
 *
 * Output: key=value lines (bench.h; milliseconds with three decimals). Nothing here
 * judges a figure. Exit status: 0 measured, 1 failed (one line on stderr), 2 bad usage,
 * 69 vmfs-lockd not running (EX_UNAVAILABLE, as vmfsadm). Locks taken are released
 * before exit, or by the daemon when the connection closes.
 *
 * Sections: helpers; latency; throughput; hold and until-granted; command line.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lockd/client/vmfslock.h"
#include "tests/bench/bench.h"

#define BL_PROG "vmfs-bench-lock"
#define BL_EXIT_FAIL 1
#define BL_EXIT_USAGE 2
#define BL_EXIT_UNAVAILABLE 69
#define BENCH_LOCK_WARMUP 20
#define BL_DEFAULT_COUNT 2000
#define BL_MAX_COUNT 10000000UL
#define BL_DEFAULT_SECONDS 10
#define BL_DEFAULT_THREADS 8
#define BL_MAX_THREADS 1024
#define BL_DEFAULT_INTERVAL_MS 20
#define BL_DEFAULT_TIMEOUT_S 60

/* --- helpers ---------------------------------------------------------------------- */

static const char *bl_strerror(int rc)
{
	switch (rc) {
	case -ENOTCONN: return "not connected or no quorum (ENOTCONN)";
	case -EBUSY: return "held elsewhere (EBUSY)";
	case -EAGAIN: return "cluster synchronising or recovering a host (EAGAIN)";
	case -EPERM: return "not root and not in group vmfs (EPERM)";
	case -ENOLINK: return "this host was fenced (ENOLINK)";
	case -EINVAL: return "bad name or mode (EINVAL)";
	case -ENOENT: return "not held (ENOENT)";
	default: return strerror(rc < 0 ? -rc : rc);
	}
}

/* Connects, or prints one line and returns the exit status to leave with. */
static int bl_connect(const char *config, struct vmfslock **c)
{
	char err[VMFS_CONF_ERR_MAX + 128];
	int rc = vmfslock_connect(config, c, err, sizeof(err));

	if (rc == 0)
		return 0;
	fprintf(stderr, BL_PROG ": %s\n", err);
	return rc == -ENOTCONN ? BL_EXIT_UNAVAILABLE : BL_EXIT_FAIL;
}

/* Exit status for a failed request: the daemon going away is "unavailable" too. */
static int bl_fail_rc(int rc)
{
	return rc == -ENOTCONN ? BL_EXIT_UNAVAILABLE : BL_EXIT_FAIL;
}

/* Prints a failed request of latency round i and returns the exit status to leave with. */
static int bl_latency_fail(const char *what, const char *name, unsigned long i, int rc)
{
	fprintf(stderr, BL_PROG ": latency: %s %s (round %lu): %s\n", what, name, i,
		bl_strerror(rc));
	return bl_fail_rc(rc);
}

static bool bl_name(char *out, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static bool bl_name(char *out, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len) {
		fprintf(stderr, BL_PROG ": lock name too long (prefix?)\n");
		return false;
	}
	return true;
}

/* --- latency ---------------------------------------------------------------------- */

static int bl_latency(const char *config, const char *prefix, unsigned long count, bool same)
{
	struct vmfslock *c = NULL;
	uint64_t *acq = NULL, *rel = NULL, *pair = NULL;
	char name[VMFSLOCK_NAME_MAX + 1];
	int ret, rc;

	ret = bl_connect(config, &c);
	if (ret)
		return ret;
	ret = BL_EXIT_FAIL;
	acq = calloc(count, sizeof(*acq));
	rel = calloc(count, sizeof(*rel));
	pair = calloc(count, sizeof(*pair));
	if (!acq || !rel || !pair) {
		fprintf(stderr, BL_PROG ": out of memory\n");
		goto out;
	}
	for (unsigned long i = 0; i < BENCH_LOCK_WARMUP + count; i++) {
		bool warm = i < BENCH_LOCK_WARMUP;
		uint64_t t0, t1, t2;

		if (same ? !bl_name(name, sizeof(name), "%s/same", prefix) :
		    warm ? !bl_name(name, sizeof(name), "%s/w%lu", prefix, i) :
			   !bl_name(name, sizeof(name), "%s/%lu", prefix, i - BENCH_LOCK_WARMUP))
			goto out;
		t0 = bench_now_ns();
		rc = vmfslock_acquire(c, name, VMFSLOCK_EX, 0, NULL, NULL);
		t1 = bench_now_ns();
		if (rc) {
			ret = bl_latency_fail("acquire", name, i, rc);
			goto out;
		}
		rc = vmfslock_release(c, name);
		t2 = bench_now_ns();
		if (rc) {
			ret = bl_latency_fail("release", name, i, rc);
			goto out;
		}
		if (!warm) {
			acq[i - BENCH_LOCK_WARMUP] = t1 - t0;
			rel[i - BENCH_LOCK_WARMUP] = t2 - t1;
			pair[i - BENCH_LOCK_WARMUP] = t2 - t0;
		}
	}
	bench_print_pcts("acquire", acq, count);
	bench_print_pcts("release", rel, count);
	bench_print_pcts("pair", pair, count);
	printf("n=%lu\n", count);
	ret = 0;
out:
	free(pair);
	free(rel);
	free(acq);
	vmfslock_close(c);
	return ret;
}

/* --- throughput ------------------------------------------------------------------- */

struct bl_worker {
	pthread_t thread;
	unsigned idx;
	const char *prefix;
	struct vmfslock *conn;
	pthread_barrier_t *start;
	const atomic_bool *stop;
	unsigned long grants;
	unsigned long errors;
	int first_err;      /* first failure's rc, 0 if none */
	char first_what[16];
};

static void bl_worker_err(struct bl_worker *w, const char *what, int rc)
{
	w->errors++;
	if (!w->first_err) {
		w->first_err = rc;
		snprintf(w->first_what, sizeof(w->first_what), "%s", what);
	}
}

static void *bl_worker_main(void *arg)
{
	struct bl_worker *w = arg;
	char name[VMFSLOCK_NAME_MAX + 1];
	int rc;

	pthread_barrier_wait(w->start);
	for (unsigned long i = 0; !atomic_load_explicit(w->stop, memory_order_relaxed); i++) {
		snprintf(name, sizeof(name), "%s/t%u/%lu", w->prefix, w->idx, i);
		rc = vmfslock_acquire(w->conn, name, VMFSLOCK_EX, 0, NULL, NULL);
		if (rc) {
			bl_worker_err(w, "acquire", rc);
			if (rc == -ENOTCONN)
				break; /* the daemon went away: nothing more to measure */
			continue;
		}
		w->grants++;
		rc = vmfslock_release(w->conn, name);
		if (rc) {
			bl_worker_err(w, "release", rc);
			if (rc == -ENOTCONN)
				break;
		}
	}
	return NULL;
}

static int bl_throughput(const char *config, const char *prefix, unsigned long seconds,
			 unsigned long threads)
{
	struct bl_worker *w = calloc(threads, sizeof(*w));
	pthread_barrier_t start;
	atomic_bool stop = false;
	unsigned long started = 0, grants = 0, errors = 0;
	uint64_t t0, t1;
	int ret = BL_EXIT_FAIL, rc;
	bool barrier = false;

	if (!w) {
		fprintf(stderr, BL_PROG ": out of memory\n");
		return BL_EXIT_FAIL;
	}
	for (unsigned long k = 0; k < threads; k++) {
		ret = bl_connect(config, &w[k].conn);
		if (ret)
			goto out;
	}
	ret = BL_EXIT_FAIL;
	if (pthread_barrier_init(&start, NULL, (unsigned)threads + 1)) {
		fprintf(stderr, BL_PROG ": pthread_barrier_init failed\n");
		goto out;
	}
	barrier = true;
	for (unsigned long k = 0; k < threads; k++) {
		w[k].idx = (unsigned)k;
		w[k].prefix = prefix;
		w[k].start = &start;
		w[k].stop = &stop;
		rc = pthread_create(&w[k].thread, NULL, bl_worker_main, &w[k]);
		if (rc) {
			fprintf(stderr, BL_PROG ": pthread_create: %s\n", strerror(rc));
			/* the barrier waits for threads+1: the ones running cannot start; stop here */
			_exit(BL_EXIT_FAIL);
		}
		started++;
	}
	pthread_barrier_wait(&start);
	t0 = bench_now_ns();
	nanosleep(&(struct timespec){ .tv_sec = (time_t)seconds }, NULL);
	atomic_store(&stop, true);
	for (unsigned long k = 0; k < started; k++)
		pthread_join(w[k].thread, NULL);
	t1 = bench_now_ns();
	for (unsigned long k = 0; k < threads; k++) {
		grants += w[k].grants;
		errors += w[k].errors;
		if (w[k].first_err)
			fprintf(stderr, BL_PROG ": throughput: thread %lu: %lu error(s), first: %s: "
				"%s\n", k, w[k].errors, w[k].first_what, bl_strerror(w[k].first_err));
	}
	printf("grants_per_s=%.1f\n", (double)grants / ((double)(t1 - t0) / 1e9));
	printf("grants=%lu\n", grants);
	printf("elapsed_s=%.3f\n", (double)(t1 - t0) / 1e9);
	printf("errors=%lu\n", errors);
	printf("threads=%lu\n", threads);
	ret = 0;
out:
	if (barrier)
		pthread_barrier_destroy(&start);
	for (unsigned long k = 0; k < threads; k++)
		vmfslock_close(w[k].conn);
	free(w);
	return ret;
}

/* --- hold and until-granted ------------------------------------------------------- */

static int bl_hold(const char *config, const char *name)
{
	struct vmfslock *c = NULL;
	struct vmfslock_holder h;
	struct vmfslock_gen gen = { 0 };
	int ret, rc;

	ret = bl_connect(config, &c);
	if (ret)
		return ret;
	rc = vmfslock_acquire(c, name, VMFSLOCK_EX, 0, &gen, &h);
	if (rc) {
		if (rc == -EBUSY)
			fprintf(stderr, BL_PROG ": hold: acquire %s: held by host %" PRIu32 " (%s) "
				"in mode %s\n", name, h.host, h.name, h.mode);
		else
			fprintf(stderr, BL_PROG ": hold: acquire %s: %s\n", name, bl_strerror(rc));
		vmfslock_close(c);
		return bl_fail_rc(rc);
	}
	printf("held=1\ngen=%" PRIu32 ".%" PRIu64 "\n", gen.epoch, gen.counter);
	fflush(stdout);
	for (;;)
		pause(); /* until a signal ends us; the daemon frees what the connection held */
}

static int bl_until_granted(const char *config, const char *name, unsigned long interval_ms,
			    unsigned long timeout_s)
{
	uint64_t t0 = bench_now_ns(), deadline = t0 + (uint64_t)timeout_s * 1000000000u;
	struct timespec wall;
	struct vmfslock *c = NULL;
	unsigned long attempts = 0, busy = 0, again = 0, other = 0;
	uint64_t slowest = 0; /* longest single acquire call, granted or refused */
	int ret, rc, last = 0;

	ret = bl_connect(config, &c);
	if (ret)
		return ret;
	for (;;) {
		uint64_t a0 = bench_now_ns();

		attempts++;
		rc = vmfslock_acquire(c, name, VMFSLOCK_EX, 0, NULL, NULL);
		if (bench_now_ns() - a0 > slowest)
			slowest = bench_now_ns() - a0;
		if (rc == 0)
			break;
		last = rc;
		if (rc == -EBUSY)
			busy++;
		else if (rc == -EAGAIN)
			again++;
		else
			other++;
		if (rc == -EPERM || rc == -EINVAL) {
			fprintf(stderr, BL_PROG ": until-granted: acquire %s: %s\n", name,
				bl_strerror(rc));
			vmfslock_close(c);
			return BL_EXIT_FAIL;
		}
		if (bench_now_ns() >= deadline) {
			fprintf(stderr, BL_PROG ": until-granted: %s not granted after %lu s (%lu "
				"attempts; last: %s)\n", name, timeout_s, attempts, bl_strerror(last));
			vmfslock_close(c);
			return BL_EXIT_FAIL;
		}
		nanosleep(&(struct timespec){ .tv_sec = (time_t)(interval_ms / 1000),
					      .tv_nsec = (long)(interval_ms % 1000) * 1000000L },
			  NULL);
	}
	clock_gettime(CLOCK_REALTIME, &wall);
	printf("granted_after_ms=%.3f\n", (double)(bench_now_ns() - t0) / 1e6);
	printf("granted_at_unix_ms=%.3f\n", (double)wall.tv_sec * 1e3 + (double)wall.tv_nsec / 1e6);
	printf("attempts=%lu\nrefused_busy=%lu\nrefused_again=%lu\nrefused_other=%lu\n", attempts,
	       busy, again, other);
	printf("attempt_max_ms=%.3f\n", (double)slowest / 1e6);
	if (other)
		fprintf(stderr, BL_PROG ": until-granted: last refusal other than EBUSY/EAGAIN: "
			"%s\n", bl_strerror(last));
	vmfslock_release(c, name);
	vmfslock_close(c);
	return 0;
}

/* --- command line ----------------------------------------------------------------- */

static void bl_usage(FILE *f)
{
	fprintf(f,
		"usage: " BL_PROG " latency [-c CONFIG] [--count N] [--prefix P] [--same]\n"
		"       " BL_PROG " throughput [-c CONFIG] [--seconds S] [--threads T] [--prefix P]\n"
		"       " BL_PROG " hold [-c CONFIG] NAME\n"
		"       " BL_PROG " until-granted [-c CONFIG] NAME [--interval-ms MS] [--timeout-s S]\n"
		"  latency        N (default %d, after %d warm-up) uncontended EX acquire (wait 0)\n"
		"                 + release of P/<i> (--same: P/same); prints acquire_, release_,\n"
		"                 pair_p50_ms/_p99_ms and n\n"
		"  throughput     T threads (default %d), a connection each, acquire+release of\n"
		"                 their own names for S s (default %d); prints grants_per_s,\n"
		"                 grants, elapsed_s, errors, threads\n"
		"  hold           acquire NAME EX, print held=1, sleep until killed\n"
		"  until-granted  acquire NAME EX (wait 0) every MS ms (default %d) until granted\n"
		"                 or S s (default %d) pass; prints granted_after_ms\n"
		"  -c CONFIG      vmfs.conf of this host's daemon (default $VMFS_CONFIG, then\n"
		"                 " VMFS_CONF_DEFAULT_PATH "); P defaults to bench-<pid>\n"
		"exit: 0 done, 1 failed, 2 usage, 69 vmfs-lockd not running\n",
		BL_DEFAULT_COUNT, BENCH_LOCK_WARMUP, BL_DEFAULT_THREADS, BL_DEFAULT_SECONDS,
		BL_DEFAULT_INTERVAL_MS, BL_DEFAULT_TIMEOUT_S);
}

enum { OPT_COUNT = 256, OPT_PREFIX, OPT_SAME, OPT_SECONDS, OPT_THREADS, OPT_INTERVAL,
       OPT_TIMEOUT };

struct bl_opt_range {
	int opt;
	const char *name;
	unsigned long min, max;
};

static const struct bl_opt_range bl_ranges[] = {
	{ OPT_COUNT, "--count", 1, BL_MAX_COUNT },
	{ OPT_SECONDS, "--seconds", 1, 86400 },
	{ OPT_THREADS, "--threads", 1, BL_MAX_THREADS },
	{ OPT_INTERVAL, "--interval-ms", 1, 60000 },
	{ OPT_TIMEOUT, "--timeout-s", 1, 86400 },
};

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "count", required_argument, NULL, OPT_COUNT },
		{ "prefix", required_argument, NULL, OPT_PREFIX },
		{ "same", no_argument, NULL, OPT_SAME },
		{ "seconds", required_argument, NULL, OPT_SECONDS },
		{ "threads", required_argument, NULL, OPT_THREADS },
		{ "interval-ms", required_argument, NULL, OPT_INTERVAL },
		{ "timeout-s", required_argument, NULL, OPT_TIMEOUT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	/* value and presence of each long option, by its code */
	unsigned long val[OPT_TIMEOUT + 1] = { 0 };
	bool given[OPT_TIMEOUT + 1] = { false };
	const char *config = NULL, *prefix = NULL, *mode;
	char defprefix[32];
	int opt, nargs;
	bool lat, thr, hold, until;

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		bl_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? BL_EXIT_USAGE : 0;
	}
	mode = argv[1];
	lat = !strcmp(mode, "latency");
	thr = !strcmp(mode, "throughput");
	hold = !strcmp(mode, "hold");
	until = !strcmp(mode, "until-granted");
	if (!lat && !thr && !hold && !until) {
		fprintf(stderr, BL_PROG ": unknown mode '%s' (latency, throughput, hold, "
			"until-granted)\n", mode);
		return BL_EXIT_USAGE;
	}
	argc--;
	argv++;
	while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		const struct bl_opt_range *r = NULL;

		switch (opt) {
		case 'c':
			config = optarg;
			continue;
		case 'h':
			bl_usage(stdout);
			return 0;
		case OPT_PREFIX:
			if (!optarg[0]) {
				fprintf(stderr, BL_PROG ": --prefix: empty\n");
				return BL_EXIT_USAGE;
			}
			prefix = optarg;
			given[opt] = true;
			continue;
		case OPT_SAME:
			given[opt] = true;
			continue;
		case OPT_COUNT: case OPT_SECONDS: case OPT_THREADS: case OPT_INTERVAL:
		case OPT_TIMEOUT:
			for (size_t i = 0; i < sizeof(bl_ranges) / sizeof(bl_ranges[0]); i++)
				if (bl_ranges[i].opt == opt)
					r = &bl_ranges[i];
			if (!bench_parse_opt(BL_PROG, r->name, optarg, r->min, r->max, &val[opt]))
				return BL_EXIT_USAGE;
			given[opt] = true;
			continue;
		default:
			bl_usage(stderr);
			return BL_EXIT_USAGE;
		}
	}
	/* options that belong to another mode are refused rather than ignored */
	for (int o = OPT_COUNT; o <= OPT_TIMEOUT; o++) {
		bool ok = (lat && (o == OPT_COUNT || o == OPT_PREFIX || o == OPT_SAME)) ||
			  (thr && (o == OPT_SECONDS || o == OPT_THREADS || o == OPT_PREFIX)) ||
			  (until && (o == OPT_INTERVAL || o == OPT_TIMEOUT));

		if (given[o] && !ok) {
			for (size_t i = 0; longopts[i].name; i++)
				if (longopts[i].val == o)
					fprintf(stderr, BL_PROG ": --%s is not an option of %s\n",
						longopts[i].name, mode);
			return BL_EXIT_USAGE;
		}
	}
	nargs = argc - optind;
	if ((lat || thr) && nargs != 0) {
		fprintf(stderr, BL_PROG ": %s takes no argument ('%s')\n", mode, argv[optind]);
		return BL_EXIT_USAGE;
	}
	if ((hold || until) && nargs != 1) {
		fprintf(stderr, BL_PROG ": %s wants one lock NAME\n", mode);
		return BL_EXIT_USAGE;
	}
	if (!prefix) {
		snprintf(defprefix, sizeof(defprefix), "bench-%ld", (long)getpid());
		prefix = defprefix;
	}
	signal(SIGPIPE, SIG_IGN);
	if (lat)
		return bl_latency(config, prefix, given[OPT_COUNT] ? val[OPT_COUNT] :
			BL_DEFAULT_COUNT, given[OPT_SAME]);
	if (thr)
		return bl_throughput(config, prefix, given[OPT_SECONDS] ? val[OPT_SECONDS] :
			BL_DEFAULT_SECONDS, given[OPT_THREADS] ? val[OPT_THREADS] :
			BL_DEFAULT_THREADS);
	if (hold)
		return bl_hold(config, argv[optind]);
	return bl_until_granted(config, argv[optind], given[OPT_INTERVAL] ? val[OPT_INTERVAL] :
		BL_DEFAULT_INTERVAL_MS, given[OPT_TIMEOUT] ? val[OPT_TIMEOUT] : BL_DEFAULT_TIMEOUT_S);
}

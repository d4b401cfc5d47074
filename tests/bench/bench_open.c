/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bench_open.c - vmfs-bench-open: the latency of open(2) + close(2) of existing files,
 * N times in a row, one at a time: of one file over and over, or of several files in
 * turn (so that each open takes a lock that was released a while ago, not a moment ago). Through /vmfs an open for writing takes the file's
 * cluster lock (EX) and its last close releases it, a read-only open takes SH; on the
 * datastore directory itself the same loop gives the native reference.
 * tests/bench/run-fio-bench runs it on host 1 of a 3-host cluster (tests/cluster/lib.sh)
 * and prints the figures next to their target.
 *
 * Each round times open(FILE, O_RDWR or O_RDONLY) and close(fd) on their own and as a
 * pair. BENCH_WARMUP rounds first, not counted. The file is neither created nor written.
 *
 * Output: key=value lines (bench.h; milliseconds with three decimals): <P>_p50_ms,
 * <P>_p99_ms (the pair), <P>_open_p50_ms, <P>_open_p99_ms, <P>_close_p50_ms,
 * <P>_close_p99_ms, <P>_n. Nothing here judges a figure. Exit status: 0 measured, 1 an
 * open or close failed (one line on stderr naming the round and the error), 2 bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/bench/bench.h"

#define BO_PROG "vmfs-bench-open"
#define BO_DEFAULT_COUNT 2000
#define BO_MAX_COUNT 10000000UL
#define BO_PREFIX_MAX 64

/* One round: open + close of path; the two durations in ns. 0, or -errno. */
static int bo_round(const char *path, int flags, uint64_t *open_ns, uint64_t *close_ns)
{
	uint64_t t0, t1, t2;
	int fd, rc;

	t0 = bench_now_ns();
	fd = open(path, flags | O_CLOEXEC);
	t1 = bench_now_ns();
	if (fd < 0)
		return -errno;
	rc = close(fd);
	t2 = bench_now_ns();
	if (rc < 0)
		return -errno;
	*open_ns = t1 - t0;
	*close_ns = t2 - t1;
	return 0;
}

static int bo_run(char **paths, int npaths, int flags, const char *prefix, unsigned long count)
{
	uint64_t *op = NULL, *cl = NULL, *pair = NULL, o = 0, c = 0;
	char key[BO_PREFIX_MAX + 16];
	unsigned long i;
	int ret = 1, rc;

	op = calloc(count, sizeof(*op));
	cl = calloc(count, sizeof(*cl));
	pair = calloc(count, sizeof(*pair));
	if (!op || !cl || !pair) {
		fprintf(stderr, BO_PROG ": out of memory\n");
		goto out;
	}
	for (i = 0; i < BENCH_WARMUP + count; i++) {
		const char *path = paths[i % (unsigned long)npaths];

		rc = bo_round(path, flags, &o, &c);
		if (rc) {
			fprintf(stderr, BO_PROG ": %s (round %lu%s): %s\n", path,
				i < BENCH_WARMUP ? i : i - BENCH_WARMUP,
				i < BENCH_WARMUP ? ", warm-up" : "", strerror(-rc));
			goto out;
		}
		if (i < BENCH_WARMUP)
			continue;
		op[i - BENCH_WARMUP] = o;
		cl[i - BENCH_WARMUP] = c;
		pair[i - BENCH_WARMUP] = o + c;
	}
	bench_print_pcts(prefix, pair, count);
	snprintf(key, sizeof(key), "%s_open", prefix);
	bench_print_pcts(key, op, count);
	snprintf(key, sizeof(key), "%s_close", prefix);
	bench_print_pcts(key, cl, count);
	printf("%s_n=%lu\n", prefix, count);
	ret = 0;
out:
	free(op);
	free(cl);
	free(pair);
	return ret;
}

static void bo_usage(FILE *f)
{
	fprintf(f,
		"usage: " BO_PROG " [--count N] [--read-only] [--prefix P] FILE...\n"
		"  N times open(FILE, O_RDWR) + close, one at a time (N default %d), the\n"
		"  FILEs in turn; --read-only opens O_RDONLY. The FILEs must exist; they are\n"
		"  not written.\n"
		"prints key=value lines: P_p50_ms P_p99_ms (open+close), P_open_p50_ms,\n"
		"P_open_p99_ms, P_close_p50_ms, P_close_p99_ms, P_n (P default open_rw or\n"
		"open_ro)\n",
		BO_DEFAULT_COUNT);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "count", required_argument, NULL, 'c' },
		{ "read-only", no_argument, NULL, 'r' },
		{ "prefix", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long count = BO_DEFAULT_COUNT;
	const char *prefix = NULL;
	bool ro = false;
	int opt;

	while ((opt = getopt_long(argc, argv, "c:rp:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			if (!bench_parse_opt(BO_PROG, "--count", optarg, 1, BO_MAX_COUNT, &count))
				return 2;
			break;
		case 'r':
			ro = true;
			break;
		case 'p':
			if (!*optarg || strlen(optarg) > BO_PREFIX_MAX ||
			    optarg[strspn(optarg, "abcdefghijklmnopqrstuvwxyz"
					  "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")]) {
				fprintf(stderr, BO_PROG ": --prefix: want 1..%d of [A-Za-z0-9_], "
					"got '%s'\n", BO_PREFIX_MAX, optarg);
				return 2;
			}
			prefix = optarg;
			break;
		case 'h':
			bo_usage(stdout);
			return 0;
		default:
			bo_usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, BO_PROG ": want at least one FILE (see --help)\n");
		return 2;
	}
	if (!prefix)
		prefix = ro ? "open_ro" : "open_rw";
	return bo_run(argv + optind, argc - optind, ro ? O_RDONLY : O_RDWR, prefix, count);
}

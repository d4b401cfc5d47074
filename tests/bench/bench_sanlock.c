/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bench_sanlock.c - vmfs-bench-sanlock: the sanlock peer of the lock benchmarks. Registers
 * with a running sanlock daemon (libsanlock_client; the daemon's socket is found through
 * SANLOCK_RUN_DIR, as the sanlock CLI finds it) and times N rounds of sanlock_acquire()
 * then sanlock_release() of one exclusive resource lease, each call on its own, so the
 * figures are sanlock's Disk Paxos on the storage and not the start-up of a CLI process.
 *
 * The lockspace must already be joined (sanlock client add_lockspace) and the resource
 * initialised (sanlock direct init -r): tests/bench/sanlock-peer.sh does both, starts
 * and stops the daemon, and times add_lockspace. This program owns only its
 * registration, which the daemon drops when it exits.
 *
 * usage: vmfs-bench-sanlock LOCKSPACE:RESOURCE:PATH:OFFSET [--count N]
 * Prints sanlock_acquire_p50_ms=, sanlock_acquire_p99_ms=, sanlock_release_p50_ms=,
 * sanlock_release_p99_ms=, sanlock_n= (bench.h). The first BENCH_WARMUP rounds are not
 * counted. Exit status: 0 measured, 1 failed (one line on stderr), 2 bad usage.
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sanlock.h>
#include <sanlock_resource.h>
#include <sanlock_rv.h>

#include "tests/bench/bench.h"

#define SLB_PROG "vmfs-bench-sanlock"
#define SLB_DEFAULT_COUNT 2000
#define SLB_MAX_COUNT 10000000UL

static void slb_usage(FILE *f)
{
	fprintf(f, "usage: " SLB_PROG " LOCKSPACE:RESOURCE:PATH:OFFSET [--count N]\n"
		"  times N sanlock_acquire + sanlock_release of that resource lease (N default %d)\n"
		"  against the daemon at $SANLOCK_RUN_DIR (default /run/sanlock)\n",
		SLB_DEFAULT_COUNT);
}

/* Text for a -errno or, from -201 on, a SANLK_ code of <sanlock_rv.h>. */
static const char *slb_strerror(int rv)
{
	return rv > SANLK_ERROR ? strerror(-rv) : "sanlock error, see sanlock_rv.h";
}

static int slb_run(const char *res_str, unsigned long count)
{
	struct sanlk_resource *res = NULL;
	uint64_t *acq = NULL, *rel = NULL;
	char *copy = NULL;
	int sock = -1, ret = 1, rv;

	copy = strdup(res_str);
	acq = calloc(count, sizeof(*acq));
	rel = calloc(count, sizeof(*rel));
	if (!copy || !acq || !rel) {
		fprintf(stderr, SLB_PROG ": out of memory\n");
		goto out;
	}
	rv = sanlock_str_to_res(copy, &res);
	if (rv < 0 || !res || res->num_disks != 1) {
		fprintf(stderr, SLB_PROG ": bad resource '%s' (want LOCKSPACE:NAME:PATH:OFFSET)\n",
			res_str);
		goto out;
	}
	sock = sanlock_register();
	if (sock < 0) {
		fprintf(stderr, SLB_PROG ": sanlock_register: %s (is the daemon of "
			"SANLOCK_RUN_DIR=%s running?)\n", strerror(-sock),
			getenv("SANLOCK_RUN_DIR") ? getenv("SANLOCK_RUN_DIR") : "/run/sanlock");
		goto out;
	}

	for (unsigned long i = 0; i < BENCH_WARMUP + count; i++) {
		uint64_t t0, t1, t2;

		t0 = bench_now_ns();
		rv = sanlock_acquire(sock, -1, 0, 1, &res, NULL);
		t1 = bench_now_ns();
		if (rv < 0) {
			fprintf(stderr, SLB_PROG ": sanlock_acquire %s (round %lu): %d %s\n",
				res_str, i, rv, slb_strerror(rv));
			goto out;
		}
		rv = sanlock_release(sock, -1, 0, 1, &res);
		t2 = bench_now_ns();
		if (rv < 0) {
			fprintf(stderr, SLB_PROG ": sanlock_release %s (round %lu): %d %s\n",
				res_str, i, rv, slb_strerror(rv));
			goto out;
		}
		if (i >= BENCH_WARMUP) {
			acq[i - BENCH_WARMUP] = t1 - t0;
			rel[i - BENCH_WARMUP] = t2 - t1;
		}
	}
	bench_print_pcts("sanlock_acquire", acq, count);
	bench_print_pcts("sanlock_release", rel, count);
	printf("sanlock_n=%lu\n", count);
	ret = 0;
out:
	/* The registration ends with the process; the daemon releases what it still holds. */
	free(res);
	free(rel);
	free(acq);
	free(copy);
	return ret;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "count", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long count = SLB_DEFAULT_COUNT;
	int opt;

	while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			if (!bench_parse_opt(SLB_PROG, "--count", optarg, 1, SLB_MAX_COUNT, &count))
				return 2;
			break;
		case 'h':
			slb_usage(stdout);
			return 0;
		default:
			slb_usage(stderr);
			return 2;
		}
	}
	if (optind + 1 != argc) {
		slb_usage(stderr);
		return 2;
	}
	return slb_run(argv[optind], count);
}

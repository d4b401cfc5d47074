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
 *
 * --handoff RUNDIR1,RUNDIR2 --files F: the libvirt-style handoff of a VM's F leases
 * between two sanlock daemons (two hosts of one lockspace, each with its own run dir):
 * resources RESOURCE0..F-1 at OFFSET + i MiB; the first host acquires them all, then each
 * round the holder releases all F and the other acquires all F, timed together. A child
 * process per daemon does the calls (a registration belongs to one daemon), told what to
 * do through pipes. Prints sanlock_handoff_p50_ms=, sanlock_handoff_p99_ms=,
 * sanlock_handoff_n=, sanlock_handoff_files=.
 */
#include <sys/wait.h>
#include <unistd.h>
#include <getopt.h>
#include <signal.h>
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
		"       " SLB_PROG " --handoff RUNDIR1,RUNDIR2 [--files F] LOCKSPACE:RESOURCE:PATH:OFFSET"
		" [--count N]\n"
		"  times N sanlock_acquire + sanlock_release of that resource lease (N default %d)\n"
		"  against the daemon at $SANLOCK_RUN_DIR (default /run/sanlock); with --handoff,\n"
		"  N handoffs of F leases (RESOURCE0.., a MiB apart) between two daemons\n",
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

#define SLB_MAX_FILES 16

/* One host: registers with the daemon of rundir, then reads commands from in ('a':
 * acquire all, 'r': release all, 'q': quit) and answers each with one byte on out
 * ('0' done, '1' failed). */
static void slb_host(const char *rundir, const char *base, unsigned long nfiles, int in, int out)
{
	struct sanlk_resource *res[SLB_MAX_FILES];
	char spec[4200], cmd, ok;
	char *copy = strdup(base), *path, *ls, *name, *off;
	int sock;

	setenv("SANLOCK_RUN_DIR", rundir, 1);
	/* LOCKSPACE:RESOURCE:PATH:OFFSET */
	ls = strtok(copy, ":");
	name = strtok(NULL, ":");
	path = strtok(NULL, ":");
	off = strtok(NULL, ":");
	if (!ls || !name || !path || !off)
		_exit(1);
	for (unsigned long i = 0; i < nfiles; i++) {
		snprintf(spec, sizeof(spec), "%s:%s%lu:%s:%llu", ls, name, i, path,
			 strtoull(off, NULL, 10) + i * 1048576ull);
		if (sanlock_str_to_res(spec, &res[i]) < 0)
			_exit(1);
	}
	sock = sanlock_register();
	if (sock < 0) {
		fprintf(stderr, SLB_PROG ": sanlock_register at %s: %s\n", rundir, strerror(-sock));
		_exit(1);
	}
	while (read(in, &cmd, 1) == 1 && cmd != 'q') {
		int rv = 0;

		for (unsigned long i = 0; i < nfiles && rv >= 0; i++)
			rv = cmd == 'a' ? sanlock_acquire(sock, -1, 0, 1, &res[i], NULL) :
					  sanlock_release(sock, -1, 0, 1, &res[i]);
		if (rv < 0)
			fprintf(stderr, SLB_PROG ": %s at %s: %d %s\n", cmd == 'a' ? "acquire" :
				"release", rundir, rv, slb_strerror(rv));
		ok = rv < 0 ? '1' : '0';
		if (write(out, &ok, 1) != 1)
			break;
	}
	_exit(0);
}

/* Tells host h to do cmd and waits for its answer; false when it failed. */
static bool slb_do(int to[2], int from[2], char cmd)
{
	char ok = '1';

	return write(to[1], &cmd, 1) == 1 && read(from[0], &ok, 1) == 1 && ok == '0';
}

static int slb_handoff(const char *rundirs, const char *base, unsigned long nfiles,
		       unsigned long count)
{
	char *dirs = strdup(rundirs), *comma = dirs ? strchr(dirs, ',') : NULL;
	int to[2][2], from[2][2], ret = 1;
	uint64_t *lat = calloc(count, sizeof(*lat));
	pid_t pid[2];

	if (!comma || !lat) {
		fprintf(stderr, SLB_PROG ": --handoff wants RUNDIR1,RUNDIR2\n");
		free(dirs);
		free(lat);
		return 2;
	}
	*comma = '\0';
	for (int h = 0; h < 2; h++) {
		if (pipe(to[h]) < 0 || pipe(from[h]) < 0)
			return 1;
		pid[h] = fork();
		if (pid[h] == 0)
			slb_host(h ? comma + 1 : dirs, base, nfiles, to[h][0], from[h][1]);
	}
	if (!slb_do(to[0], from[0], 'a')) {
		fprintf(stderr, SLB_PROG ": the first host cannot acquire the leases\n");
		goto out;
	}
	for (unsigned long i = 0; i < BENCH_WARMUP + count; i++) {
		int s = (int)(i % 2), d = 1 - s;
		uint64_t t0 = bench_now_ns();

		if (!slb_do(to[s], from[s], 'r') || !slb_do(to[d], from[d], 'a')) {
			fprintf(stderr, SLB_PROG ": handoff %lu failed\n", i);
			goto out;
		}
		if (i >= BENCH_WARMUP)
			lat[i - BENCH_WARMUP] = bench_now_ns() - t0;
	}
	bench_print_pcts("sanlock_handoff", lat, count);
	printf("sanlock_handoff_n=%lu\nsanlock_handoff_files=%lu\n", count, nfiles);
	ret = 0;
out:
	for (int h = 0; h < 2; h++) {
		if (write(to[h][1], "q", 1) != 1)
			kill(pid[h], SIGTERM);
		waitpid(pid[h], NULL, 0);
	}
	free(dirs);
	free(lat);
	return ret;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "count", required_argument, NULL, 'c' },
		{ "handoff", required_argument, NULL, 'H' },
		{ "files", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long count = SLB_DEFAULT_COUNT, nfiles = 4;
	const char *handoff = NULL;
	int opt;

	while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			if (!bench_parse_opt(SLB_PROG, "--count", optarg, 1, SLB_MAX_COUNT, &count))
				return 2;
			break;
		case 'H':
			handoff = optarg;
			break;
		case 'f':
			if (!bench_parse_opt(SLB_PROG, "--files", optarg, 1, SLB_MAX_FILES, &nfiles))
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
	return handoff ? slb_handoff(handoff, argv[optind], nfiles, count) :
			 slb_run(argv[optind], count);
}

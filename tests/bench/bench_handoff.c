/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bench_handoff.c - vmfs-bench-handoff: the latency of moving a VM's locks between two
 * hosts, as migration tooling sees it. One process talks to the vmfs-lockd of two hosts
 * (it enters each host's network and mount namespaces to connect, tests/cluster/lib.sh
 * hosts, before any thread starts, as setns(2) of a mount namespace needs). On each host
 * a "VM" connection holds the files and one more answers drains (a thread; a commit waits
 * for it as it waits for vmfsd), and a control connection prepares and commits. Host A
 * holds FILES files (EX); then N times: prepare on the holder towards the other host, the
 * other host's VM opens the files as arriving (acquire with VMFSLOCK_F_INCOMING), commit
 * on the holder (drain, agreed move, durable on the destination), and the roles swap.
 *
 * usage: vmfs-bench-handoff --ns1 PID --conf1 FILE --ns2 PID --conf2 FILE [--count N]
 *                           [--files F]
 * Prints (bench.h) handoff_prepare_p50_ms=, _p99_ms=, handoff_commit_p50_ms=, _p99_ms=,
 * handoff_total_p50_ms=, _p99_ms= (prepare + commit), handoff_n=, handoff_files=.
 * Exit: 0 measured, 1 failed (one line on stderr), 2 bad usage.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lockd/client/vmfslock.h"
#include "tests/bench/bench.h"

#define HB_PROG "vmfs-bench-handoff"
#define HB_MAX_FILES 64

/* Connects to the vmfs-lockd of the host whose namespaces process pid is in. */
static struct vmfslock *connect_in(const char *pid, const char *conf)
{
	char path[64], err[512];
	struct vmfslock *c = NULL;
	int fd;

	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "/proc/%s/ns/%s", pid, i ? "mnt" : "net");
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || setns(fd, i ? CLONE_NEWNS : CLONE_NEWNET) < 0) {
			fprintf(stderr, HB_PROG ": cannot enter %s: %m\n", path);
			exit(1);
		}
		close(fd);
	}
	if (vmfslock_connect(conf, &c, err, sizeof(err)) < 0) {
		fprintf(stderr, HB_PROG ": %s\n", err);
		exit(1);
	}
	return c;
}

static atomic_bool stop;

/* Answers every drain at once: the bench's VM writes nothing. */
static void *drainer(void *arg)
{
	struct vmfslock *e = arg;
	struct vmfslock_event ev;

	while (!atomic_load(&stop))
		if (vmfslock_event_next(e, &ev, 100) == 0 && ev.type == VMFSLOCK_EV_DRAIN)
			vmfslock_drained(e, ev.handoff, ev.text);
	return NULL;
}

static void must(int rc, const char *what, const char *why)
{
	if (rc < 0) {
		fprintf(stderr, HB_PROG ": %s: %s\n", what, why && *why ? why : strerror(-rc));
		exit(1);
	}
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "ns1", required_argument, NULL, '1' }, { "conf1", required_argument, NULL, 'a' },
		{ "ns2", required_argument, NULL, '2' }, { "conf2", required_argument, NULL, 'b' },
		{ "count", required_argument, NULL, 'n' }, { "files", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	const char *ns[2] = { NULL, NULL }, *conf[2] = { NULL, NULL };
	unsigned long count = 200, nfiles = 4;
	char names[HB_MAX_FILES][48], why[800], to[16];
	const char *list[HB_MAX_FILES];
	uint64_t *prep, *commit, *total;
	struct vmfslock *c[2], *vm[2], *ev[2];
	pthread_t th[2];
	int ch;

	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case '1': ns[0] = optarg; break;
		case '2': ns[1] = optarg; break;
		case 'a': conf[0] = optarg; break;
		case 'b': conf[1] = optarg; break;
		case 'n':
			if (!bench_parse_opt(HB_PROG, "--count", optarg, 1, 100000, &count))
				return 2;
			break;
		case 'f':
			if (!bench_parse_opt(HB_PROG, "--files", optarg, 1, HB_MAX_FILES, &nfiles))
				return 2;
			break;
		default:
			return 2;
		}
	}
	if (!ns[0] || !ns[1] || !conf[0] || !conf[1]) {
		fprintf(stderr, "usage: " HB_PROG " --ns1 PID --conf1 FILE --ns2 PID --conf2 FILE "
			"[--count N] [--files F]\n");
		return 2;
	}
	for (int h = 0; h < 2; h++) {
		c[h] = connect_in(ns[h], conf[h]);
		vm[h] = connect_in(ns[h], conf[h]);
		ev[h] = connect_in(ns[h], conf[h]);
		must(vmfslock_events_drain(ev[h]), "events", NULL);
	}
	for (int h = 0; h < 2; h++)
		if (pthread_create(&th[h], NULL, drainer, ev[h]) != 0)
			return 1;
	prep = calloc(count, sizeof(*prep));
	commit = calloc(count, sizeof(*commit));
	total = calloc(count, sizeof(*total));
	if (!prep || !commit || !total)
		return 1;
	for (unsigned long i = 0; i < nfiles; i++) {
		snprintf(names[i], sizeof(names[i]), "bench-vm/disk%lu.img", i);
		list[i] = names[i];
		must(vmfslock_acquire_flags(vm[0], names[i], VMFSLOCK_EX, 3000, 0, NULL, NULL, why,
					    sizeof(why)), "acquire on host 1", why);
	}
	for (unsigned long r = 0; r < count + BENCH_WARMUP; r++) {
		int s = (int)(r % 2), d = 1 - s;
		uint64_t id = 0, t0, t1, t2;

		snprintf(to, sizeof(to), "%d", d + 1);
		t0 = bench_now_ns();
		must(vmfslock_ho_prepare(c[s], to, list, nfiles, &id, why, sizeof(why)), "prepare",
		     why);
		t1 = bench_now_ns();
		for (unsigned long i = 0; i < nfiles; i++) {
			struct vmfslock_holder h;
			int rc = vmfslock_acquire_flags(vm[d], names[i], VMFSLOCK_EX, 1000,
							VMFSLOCK_F_INCOMING, NULL, &h, why, sizeof(why));

			if (rc != -EINPROGRESS)
				must(rc < 0 ? rc : -EPROTO, "destination open of an arriving file", why);
		}
		t2 = bench_now_ns();
		must(vmfslock_ho_commit(c[s], id, why, sizeof(why)), "commit", why);
		if (r >= BENCH_WARMUP) {
			prep[r - BENCH_WARMUP] = t1 - t0;
			commit[r - BENCH_WARMUP] = bench_now_ns() - t2;
			total[r - BENCH_WARMUP] = prep[r - BENCH_WARMUP] + commit[r - BENCH_WARMUP];
		}
	}
	bench_print_pcts("handoff_prepare", prep, count);
	bench_print_pcts("handoff_commit", commit, count);
	bench_print_pcts("handoff_total", total, count);
	printf("handoff_n=%lu\nhandoff_files=%lu\n", count, nfiles);
	atomic_store(&stop, true);
	for (int h = 0; h < 2; h++) {
		pthread_join(th[h], NULL);
		vmfslock_close(c[h]);
		vmfslock_close(vm[h]);
		vmfslock_close(ev[h]);
	}
	free(prep);
	free(commit);
	free(total);
	return 0;
}

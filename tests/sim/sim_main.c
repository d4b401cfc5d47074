/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sim_main.c - vmfs-sim: runs seeds S..S+N-1 of the simulator, optionally over several
 * worker processes, prints each failing seed with the command that replays it with its
 * full trace and how many times each invariant broke (inv1..inv6 as in sim_check.c,
 * "replica" for a replica's own), and ends with one line "runs=N violations=V" (V = runs
 * with at least one violation). Exit 0 when V is 0, 1 when not, 2 on bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/sim/sim.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: vmfs-sim [--seed S] [--runs N] [--hosts H] [--jobs J] [--plant RULE] [--trace]\n"
		"Runs the lock protocol on H simulated hosts (default 3, at most %d) for seeds\n"
		"S..S+N-1 (default 1 and 100), checking its safety invariants after every event.\n"
		"  --jobs J       split the runs over J worker processes (default 1)\n"
		"  --plant RULE   break one protocol rule on purpose (%s): the runs must fail\n"
		"  --trace        print every event (use with --runs 1 to replay a seed)\n"
		"Prints failing seeds, then one line: runs=N violations=V (runs with a violation).\n",
		SIM_MAX_HOSTS, sim_plant_names());
}

static long parse_num(const char *opt, const char *s, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < lo || v > hi) {
		fprintf(stderr, "vmfs-sim: %s must be a number from %ld to %ld, not '%s'\n", opt, lo, hi, s);
		exit(2);
	}
	return v;
}

/* Runs seeds first, first+step, ...; returns the number of failing runs. */
static unsigned run_slice(struct sim_cfg cfg, uint64_t first, uint64_t runs, uint64_t step,
			  const char *plant)
{
	unsigned failed = 0;

	for (uint64_t s = first; s < cfg.seed + runs; s += step) {
		struct sim_cfg c = cfg;
		struct sim_result r;

		c.seed = s;
		if (sim_run(&c, &r) < 0) {
			fprintf(stderr, "vmfs-sim: seed %llu: out of memory\n", (unsigned long long)s);
			r = (struct sim_result){ .violations = 1 };
		}
		if (r.violations) {
			failed++;
			printf("seed %llu: %u violation(s) (", (unsigned long long)s, r.violations);
			if (r.by_kind[0])
				printf(" replica:%u", r.by_kind[0]);
			for (int k = 1; k < SIM_KINDS; k++)
				if (r.by_kind[k])
					printf(" inv%d:%u", k, r.by_kind[k]);
			printf(" ), first: %s\n", r.first);
			printf("  replay: vmfs-sim --seed %llu --runs 1 --hosts %d%s%s --trace\n",
			       (unsigned long long)s, cfg.hosts, plant ? " --plant " : "",
			       plant ? plant : "");
			fflush(stdout);
		}
	}
	return failed;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "seed", required_argument, NULL, 's' }, { "runs", required_argument, NULL, 'n' },
		{ "hosts", required_argument, NULL, 'H' }, { "jobs", required_argument, NULL, 'j' },
		{ "plant", required_argument, NULL, 'p' }, { "trace", no_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },         { NULL, 0, NULL, 0 },
	};
	struct sim_cfg cfg = { .seed = 1, .hosts = 3, .work_us = 30000000, .quiesce_us = 45000000 };
	uint64_t runs = 100;
	long jobs = 1;
	const char *plant = NULL;
	unsigned failed = 0;
	struct timespec t0, t1;
	int c;

	while ((c = getopt_long(argc, argv, "s:n:H:j:p:th", opts, NULL)) != -1) {
		switch (c) {
		case 's': cfg.seed = (uint64_t)parse_num("--seed", optarg, 0, 1L << 40); break;
		case 'n': runs = (uint64_t)parse_num("--runs", optarg, 1, 100000000); break;
		case 'H': cfg.hosts = (int)parse_num("--hosts", optarg, 1, SIM_MAX_HOSTS); break;
		case 'j': jobs = parse_num("--jobs", optarg, 1, 64); break;
		case 'p':
			plant = optarg;
			cfg.rules = sim_plant(optarg);
			if (!cfg.rules) {
				fprintf(stderr, "vmfs-sim: no rule '%s' to break; known: %s\n", optarg,
					sim_plant_names());
				return 2;
			}
			break;
		case 't': cfg.trace = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (jobs == 1) {
		failed = run_slice(cfg, cfg.seed, runs, 1, plant);
	} else {
		pid_t pids[64];
		int fds[64];

		fflush(stdout);
		for (long j = 0; j < jobs; j++) {
			int p[2];

			if (pipe(p) < 0 || (pids[j] = fork()) < 0) {
				perror("vmfs-sim: cannot start a worker");
				return 2;
			}
			if (pids[j] == 0) {
				unsigned f = run_slice(cfg, cfg.seed + (uint64_t)j, runs, (uint64_t)jobs,
						       plant);

				close(p[0]);
				exit(write(p[1], &f, sizeof(f)) == sizeof(f) ? 0 : 1);
			}
			close(p[1]);
			fds[j] = p[0];
		}
		for (long j = 0; j < jobs; j++) {
			unsigned f = 0;
			int st;

			if (read(fds[j], &f, sizeof(f)) != sizeof(f) || waitpid(pids[j], &st, 0) < 0 ||
			    !WIFEXITED(st) || WEXITSTATUS(st)) {
				fprintf(stderr, "vmfs-sim: worker %ld died (a crash in one of seeds %llu, "
					"%llu, ... every %ld): find it with --jobs 1\n", j,
					(unsigned long long)(cfg.seed + (uint64_t)j),
					(unsigned long long)(cfg.seed + (uint64_t)j + (uint64_t)jobs), jobs);
				f = 1;
			}
			close(fds[j]);
			failed += f;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	fprintf(stderr, "vmfs-sim: %llu runs in %.1f s (%.1f runs/s), %d hosts, %ld job(s)\n",
		(unsigned long long)runs, (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9,
		(double)runs / ((double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9 + 1e-9),
		cfg.hosts, jobs);
	printf("runs=%llu violations=%u\n", (unsigned long long)runs, failed);
	return failed ? 1 : 0;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bench.h - what every vmfs benchmark program shares: the monotonic clock in nanoseconds,
 * the percentile lines it prints and the parsing of its numeric options. A benchmark
 * prints key=value lines only, in milliseconds with three decimals; comparing them with a
 * peer measured in the same run is left to whoever reads them (tests/bench/ scripts, a
 * person).
 *
 * Percentiles are nearest rank over the sorted samples: p is the smallest sample with at
 * least p% of all samples at or below it.
 */
#ifndef VMFS_TESTS_BENCH_H
#define VMFS_TESTS_BENCH_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* Operations run before the measured ones and not counted (first allocation, caches). */
#define BENCH_WARMUP 10

static inline uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline int bench_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* pct-th percentile in ms of n > 0 sorted samples in ns. */
static inline double bench_pct_ms(const uint64_t *sorted, size_t n, unsigned pct)
{
	size_t rank = ((size_t)pct * n + 99) / 100;

	return (double)sorted[rank ? rank - 1 : 0] / 1e6;
}

/* Sorts the n > 0 samples (ns) in place and prints <key>_p50_ms= and <key>_p99_ms=. */
static inline void bench_print_pcts(const char *key, uint64_t *samples, size_t n)
{
	qsort(samples, n, sizeof(*samples), bench_cmp_u64);
	printf("%s_p50_ms=%.3f\n", key, bench_pct_ms(samples, n, 50));
	printf("%s_p99_ms=%.3f\n", key, bench_pct_ms(samples, n, 99));
}

/*
 * Parses s, the value of option name ("--count"), as a decimal in [min, max] into *out.
 * Anything else (a sign, blanks, trailing text, out of range) prints
 * "<prog>: <name>: want <min>..<max>, got '<s>'" on stderr and returns false: the caller
 * exits 2 (bad usage).
 */
static inline bool bench_parse_opt(const char *prog, const char *name, const char *s,
				   unsigned long min, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (s && *s >= '0' && *s <= '9') {
		errno = 0;
		v = strtoul(s, &end, 10);
		if (!errno && !*end && v >= min && v <= max) {
			*out = v;
			return true;
		}
	}
	fprintf(stderr, "%s: %s: want %lu..%lu, got '%s'\n", prog, name, min, max, s ? s : "");
	return false;
}

#endif /* VMFS_TESTS_BENCH_H */

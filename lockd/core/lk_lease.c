/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lk_lease.c - own lease and observer arithmetic (see lk_timing.h for the formulas) and
 * the check of configured timings against their lower bounds.
 */
#include <stddef.h>

#include "lockd/core/lk_lease.h"

const char *lk_timing_check(const struct lk_timing *t)
{
	uint64_t need;

	if (t->hb_interval_ms < LK_HB_INTERVAL_MIN_MS)
		return "hb_interval_ms is below its minimum of 100";
	if (t->io_timeout_ms < LK_IO_TIMEOUT_MIN_MS)
		return "io_timeout_ms is below its minimum of 100";
	need = 2ull * t->hb_interval_ms + 3ull * t->io_timeout_ms + lk_skew_ms(t);
	if (t->host_dead_ms < need)
		return "host_dead_ms must be at least 2 * hb_interval_ms + 3 * io_timeout_ms + skew";
	return NULL;
}

void lk_lease_renewed(struct lk_lease *l, const struct lk_timing *t, int64_t started)
{
	if (l->valid && started <= l->t_s)
		return;
	l->valid = true;
	l->t_s = started;
	l->deadline = lk_deadline(t, started);
}

bool lk_lease_admits(const struct lk_lease *l, const struct lk_timing *t, int64_t now)
{
	return l->valid && lk_write_admitted(t, now, l->deadline);
}

bool lk_lease_expired(const struct lk_lease *l, int64_t now)
{
	return l->valid && now >= l->deadline;
}

bool lk_observe(struct lk_observer *o, const struct lk_timing *t, uint64_t host_gen,
		uint64_t counter, int64_t now)
{
	if (!o->seen || o->host_gen != host_gen || o->counter != counter) {
		o->seen = true;
		o->host_gen = host_gen;
		o->counter = counter;
		o->first_seen = now;
		return false;
	}
	return now - o->first_seen >= (int64_t)t->host_dead_ms;
}

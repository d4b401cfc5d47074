// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_lk_lease.c - the lease arithmetic of lk_timing.h and lk_lease.c with pinned
 * numbers: the lower bounds lk_timing_check enforces, the deadline and write admission
 * formulas, this host's own lease (renewals never move t_s backwards; admission and
 * expiry exactly at their boundaries) and an observer's judgement of another host's
 * heartbeat (dead exactly host_dead after the first read of an unchanged counter).
 * Monotonic times are plain constants; nothing here reads a clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lockd/core/lk_lease.h"
#include "lockd/core/lk_timing.h"

static const struct lk_timing defaults = {
	.hb_interval_ms = LK_HB_INTERVAL_MS,
	.host_dead_ms = LK_HOST_DEAD_MS,
	.io_timeout_ms = LK_IO_TIMEOUT_MS,
};

/* An arbitrary monotonic origin, far from zero, so no formula works by accident at 0. */
#define T0 1000000

static const char *const msg_hb = "hb_interval_ms is below its minimum of 100";
static const char *const msg_io = "io_timeout_ms is below its minimum of 100";
static const char *const msg_dead =
	"host_dead_ms must be at least 2 * hb_interval_ms + 3 * io_timeout_ms + skew";

static void expect_timing(struct lk_timing t, const char *want)
{
	const char *got = lk_timing_check(&t);

	if (!want) {
		if (got)
			fail_msg("hb %u dead %u io %u refused: %s", t.hb_interval_ms,
				 t.host_dead_ms, t.io_timeout_ms, got);
		return;
	}
	if (!got)
		fail_msg("hb %u dead %u io %u accepted, expected: %s", t.hb_interval_ms,
			 t.host_dead_ms, t.io_timeout_ms, want);
	assert_string_equal(got, want);
}

/* --- lk_timing_check ------------------------------------------------------------------ */

static void test_lk_lease_defaults_pass(void **state)
{
	(void)state;
	expect_timing(defaults, NULL);
	assert_int_equal(LK_HB_INTERVAL_MS, 1000);
	assert_int_equal(LK_HOST_DEAD_MS, 10000);
	assert_int_equal(LK_IO_TIMEOUT_MS, 2000);
}

static void test_lk_lease_hb_interval_lower_bound(void **state)
{
	struct lk_timing t = defaults;

	(void)state;
	t.hb_interval_ms = LK_HB_INTERVAL_MIN_MS;
	expect_timing(t, NULL);
	t.hb_interval_ms = LK_HB_INTERVAL_MIN_MS - 1;
	expect_timing(t, msg_hb);
	t.hb_interval_ms = 0;
	expect_timing(t, msg_hb);
}

static void test_lk_lease_io_timeout_lower_bound(void **state)
{
	struct lk_timing t = defaults;

	(void)state;
	t.io_timeout_ms = LK_IO_TIMEOUT_MIN_MS;
	expect_timing(t, NULL);
	t.io_timeout_ms = LK_IO_TIMEOUT_MIN_MS - 1;
	expect_timing(t, msg_io);
	t.io_timeout_ms = 0;
	expect_timing(t, msg_io);
}

static void test_lk_lease_host_dead_lower_bound(void **state)
{
	struct lk_timing t = defaults;

	(void)state;
	/* 2 * 1000 + 3 * 2000 + skew, where skew = max(10, host_dead / 200): at 8040 the
	 * skew is 40 and the bound is met exactly; at 8039 it is 40 too, one short. */
	t.host_dead_ms = 8040;
	expect_timing(t, NULL);
	t.host_dead_ms = 8039;
	expect_timing(t, msg_dead);
	t.host_dead_ms = 0;
	expect_timing(t, msg_dead);
	/* With the smallest intervals the skew floor (10 ms) counts: 200 + 300 + 10. */
	t = (struct lk_timing){ .hb_interval_ms = 100, .io_timeout_ms = 100, .host_dead_ms = 510 };
	expect_timing(t, NULL);
	t.host_dead_ms = 509;
	expect_timing(t, msg_dead);
	/* Raising io_timeout raises the bound three times as fast. */
	t = defaults;
	t.io_timeout_ms = 2651; /* 2000 + 7953 + 50 = 10003 > 10000 */
	expect_timing(t, msg_dead);
	t.io_timeout_ms = 2650; /* 2000 + 7950 + 50 = 10000 */
	expect_timing(t, NULL);
}

static void test_lk_lease_check_reports_the_first_broken_bound(void **state)
{
	struct lk_timing t = { .hb_interval_ms = 1, .io_timeout_ms = 1, .host_dead_ms = 1 };

	(void)state;
	expect_timing(t, msg_hb);
	t.hb_interval_ms = 100;
	expect_timing(t, msg_io);
	t.io_timeout_ms = 100;
	expect_timing(t, msg_dead);
}

static void test_lk_lease_check_does_not_overflow(void **state)
{
	struct lk_timing t = { .hb_interval_ms = UINT32_MAX, .io_timeout_ms = UINT32_MAX,
			       .host_dead_ms = UINT32_MAX };

	(void)state;
	/* 2 * (2^32 - 1) + 3 * (2^32 - 1) overflows 32 bits; the check must still refuse. */
	expect_timing(t, msg_dead);
}

/* --- formulas ------------------------------------------------------------------------- */

static void test_lk_lease_skew(void **state)
{
	struct lk_timing t = defaults;

	(void)state;
	assert_int_equal(lk_skew_ms(&t), 50);
	t.host_dead_ms = 1999; /* 1999 / 200 = 9: the floor */
	assert_int_equal(lk_skew_ms(&t), LK_SKEW_MIN_MS);
	t.host_dead_ms = 2200;
	assert_int_equal(lk_skew_ms(&t), 11);
	t.host_dead_ms = 60000;
	assert_int_equal(lk_skew_ms(&t), 300);
}

static void test_lk_lease_deadline_formula(void **state)
{
	struct lk_timing t = {
		.hb_interval_ms = 500,
		.io_timeout_ms = 1000,
		.host_dead_ms = 20000,
	};

	(void)state;
	/* t_s + host_dead - io_timeout - skew: 10000 - 2000 - 50 = 7950 by default. */
	assert_int_equal(lk_deadline(&defaults, 0), 7950);
	assert_int_equal(lk_deadline(&defaults, T0), T0 + 7950);
	assert_int_equal(lk_deadline(&defaults, -5000), 2950);
	assert_int_equal(lk_deadline(&t, T0), T0 + 20000 - 1000 - 100);
}

static void test_lk_lease_write_admitted_formula(void **state)
{
	const int64_t deadline = lk_deadline(&defaults, T0);

	(void)state;
	/* now + io_timeout < deadline: the last admitted instant is deadline - io - 1. */
	assert_true(lk_write_admitted(&defaults, T0, deadline));
	assert_true(lk_write_admitted(&defaults, T0 + 5949, deadline));
	assert_false(lk_write_admitted(&defaults, T0 + 5950, deadline));
	assert_false(lk_write_admitted(&defaults, deadline, deadline));
	/* The worked timeline of lk_timing.h: t_s = 0, last write admitted before 5.95 s. */
	assert_true(lk_write_admitted(&defaults, 5949, lk_deadline(&defaults, 0)));
	assert_false(lk_write_admitted(&defaults, 5950, lk_deadline(&defaults, 0)));
}

/* --- own lease ------------------------------------------------------------------------ */

static void test_lk_lease_none_admits_nothing(void **state)
{
	struct lk_lease l;

	(void)state;
	memset(&l, 0, sizeof(l));
	assert_false(lk_lease_admits(&l, &defaults, 0));
	assert_false(lk_lease_admits(&l, &defaults, T0));
	assert_false(lk_lease_admits(&l, &defaults, -T0)); /* well before its zero deadline */
	assert_false(lk_lease_expired(&l, 0));
	assert_false(lk_lease_expired(&l, INT64_MAX));
	/* Not valid is not valid, whatever deadline the struct still carries. */
	l.t_s = T0;
	l.deadline = lk_deadline(&defaults, T0);
	assert_false(lk_lease_admits(&l, &defaults, T0));
	assert_false(lk_lease_expired(&l, T0 + 100000));
}

static void test_lk_lease_renewed_sets_deadline(void **state)
{
	struct lk_lease l;

	(void)state;
	memset(&l, 0, sizeof(l));
	lk_lease_renewed(&l, &defaults, T0);
	assert_true(l.valid);
	assert_int_equal(l.t_s, T0);
	assert_int_equal(l.deadline, T0 + 7950);
	/* A first renewal at time 0 (or before) is a lease too. */
	memset(&l, 0, sizeof(l));
	lk_lease_renewed(&l, &defaults, -100);
	assert_true(l.valid);
	assert_int_equal(l.t_s, -100);
	assert_int_equal(l.deadline, 7850);
}

static void test_lk_lease_renewed_never_moves_back(void **state)
{
	struct lk_lease l;

	(void)state;
	memset(&l, 0, sizeof(l));
	lk_lease_renewed(&l, &defaults, T0 + 1000);
	lk_lease_renewed(&l, &defaults, T0 + 500); /* an older renewal completing late */
	assert_int_equal(l.t_s, T0 + 1000);
	assert_int_equal(l.deadline, T0 + 1000 + 7950);
	lk_lease_renewed(&l, &defaults, T0 + 999); /* one millisecond older */
	assert_int_equal(l.t_s, T0 + 1000);
	assert_int_equal(l.deadline, T0 + 1000 + 7950);
	lk_lease_renewed(&l, &defaults, T0 + 1000); /* the same one reported twice */
	assert_int_equal(l.t_s, T0 + 1000);
	lk_lease_renewed(&l, &defaults, T0 + 2000);
	assert_int_equal(l.t_s, T0 + 2000);
	assert_int_equal(l.deadline, T0 + 2000 + 7950);
}

static void test_lk_lease_admits_until_boundary(void **state)
{
	struct lk_lease l;

	(void)state;
	memset(&l, 0, sizeof(l));
	lk_lease_renewed(&l, &defaults, T0);
	assert_true(lk_lease_admits(&l, &defaults, T0));
	assert_true(lk_lease_admits(&l, &defaults, T0 + 5949));
	assert_false(lk_lease_admits(&l, &defaults, T0 + 5950));
	assert_false(lk_lease_admits(&l, &defaults, T0 + 7950));
	/* A renewal that started later extends admission by as much. */
	lk_lease_renewed(&l, &defaults, T0 + 1000);
	assert_true(lk_lease_admits(&l, &defaults, T0 + 6949));
	assert_false(lk_lease_admits(&l, &defaults, T0 + 6950));
}

static void test_lk_lease_expires_exactly_at_deadline(void **state)
{
	struct lk_lease l;

	(void)state;
	memset(&l, 0, sizeof(l));
	lk_lease_renewed(&l, &defaults, T0);
	assert_false(lk_lease_expired(&l, T0));
	assert_false(lk_lease_expired(&l, T0 + 7949));
	assert_true(lk_lease_expired(&l, T0 + 7950));
	assert_true(lk_lease_expired(&l, T0 + 100000));
	/* Between the last admitted write and expiry, nothing new is admitted. */
	assert_false(lk_lease_admits(&l, &defaults, T0 + 7000));
	assert_false(lk_lease_expired(&l, T0 + 7000));
}

/* --- observer ------------------------------------------------------------------------- */

static void test_lk_lease_observe_first_read_never_dead(void **state)
{
	struct lk_observer o;

	(void)state;
	memset(&o, 0, sizeof(o));
	assert_false(lk_observe(&o, &defaults, 5, 100, T0));
	assert_true(o.seen);
	assert_int_equal(o.host_gen, 5);
	assert_int_equal(o.counter, 100);
	assert_int_equal(o.first_seen, T0);
	/* Even a first read long after the start of the clock. */
	memset(&o, 0, sizeof(o));
	assert_false(lk_observe(&o, &defaults, 5, 100, INT64_MAX / 2));
}

static void test_lk_lease_observe_dead_exactly_at_host_dead(void **state)
{
	struct lk_observer o;

	(void)state;
	memset(&o, 0, sizeof(o));
	assert_false(lk_observe(&o, &defaults, 5, 100, T0));
	assert_false(lk_observe(&o, &defaults, 5, 100, T0 + 1000));
	assert_false(lk_observe(&o, &defaults, 5, 100, T0 + 9999));
	assert_int_equal(o.first_seen, T0); /* unchanged reads keep the first one's time */
	assert_true(lk_observe(&o, &defaults, 5, 100, T0 + 10000));
	assert_true(lk_observe(&o, &defaults, 5, 100, T0 + 20000));
}

static void test_lk_lease_observe_counter_change_resets(void **state)
{
	struct lk_observer o;

	(void)state;
	memset(&o, 0, sizeof(o));
	lk_observe(&o, &defaults, 5, 100, T0);
	assert_false(lk_observe(&o, &defaults, 5, 101, T0 + 9000));
	assert_int_equal(o.first_seen, T0 + 9000);
	assert_int_equal(o.counter, 101);
	assert_false(lk_observe(&o, &defaults, 5, 101, T0 + 10000));
	assert_false(lk_observe(&o, &defaults, 5, 101, T0 + 18999));
	assert_true(lk_observe(&o, &defaults, 5, 101, T0 + 19000));
	/* A counter that goes backwards is a change too. */
	assert_false(lk_observe(&o, &defaults, 5, 7, T0 + 30000));
	assert_int_equal(o.first_seen, T0 + 30000);
}

static void test_lk_lease_observe_host_gen_change_resets(void **state)
{
	struct lk_observer o;

	(void)state;
	memset(&o, 0, sizeof(o));
	lk_observe(&o, &defaults, 5, 100, T0);
	/* A restarted host (new host_gen) with, by chance, the same counter. */
	assert_false(lk_observe(&o, &defaults, 6, 100, T0 + 9000));
	assert_int_equal(o.host_gen, 6);
	assert_int_equal(o.first_seen, T0 + 9000);
	assert_false(lk_observe(&o, &defaults, 6, 100, T0 + 10000));
	assert_true(lk_observe(&o, &defaults, 6, 100, T0 + 19000));
}

static void test_lk_lease_observe_repeated_corrupt_read_is_unchanged(void **state)
{
	struct lk_observer o;

	(void)state;
	memset(&o, 0, sizeof(o));
	/* A heartbeat that never decodes is fed as (0, 0) every time: it does not move. */
	assert_false(lk_observe(&o, &defaults, 0, 0, T0));
	assert_true(o.seen);
	assert_false(lk_observe(&o, &defaults, 0, 0, T0 + 9999));
	assert_true(lk_observe(&o, &defaults, 0, 0, T0 + 10000));
	/* After good reads, corruption starts a new period; it does not extend the old one. */
	memset(&o, 0, sizeof(o));
	lk_observe(&o, &defaults, 5, 100, T0);
	assert_false(lk_observe(&o, &defaults, 0, 0, T0 + 5000));
	assert_false(lk_observe(&o, &defaults, 0, 0, T0 + 14999));
	assert_true(lk_observe(&o, &defaults, 0, 0, T0 + 15000));
}

static void test_lk_lease_observe_uses_configured_host_dead(void **state)
{
	struct lk_timing t = defaults;
	struct lk_observer o;

	(void)state;
	t.host_dead_ms = 30000;
	memset(&o, 0, sizeof(o));
	lk_observe(&o, &t, 1, 1, 0);
	assert_false(lk_observe(&o, &t, 1, 1, 29999));
	assert_true(lk_observe(&o, &t, 1, 1, 30000));
}

/*
 * The safety argument of lk_timing.h, for the defaults: every write this host admits
 * lands (within io_timeout) before t_s + host_dead - skew, and an observer whose first
 * read completed no earlier than t_s declares the host dead no earlier than
 * t_s + host_dead.
 */
static void test_lk_lease_writes_land_before_observer_acts(void **state)
{
	struct lk_lease l;
	struct lk_observer o;
	int64_t last = T0, dead_at = 0;

	(void)state;
	memset(&l, 0, sizeof(l));
	memset(&o, 0, sizeof(o));
	lk_lease_renewed(&l, &defaults, T0);
	for (int64_t now = T0; now < T0 + 20000; now++)
		if (lk_lease_admits(&l, &defaults, now))
			last = now;
	assert_true(last + LK_IO_TIMEOUT_MS < T0 + LK_HOST_DEAD_MS - lk_skew_ms(&defaults));
	lk_observe(&o, &defaults, 1, 1, T0); /* first_seen >= t_s */
	for (int64_t now = T0; now < T0 + 20000 && !dead_at; now += 10)
		if (lk_observe(&o, &defaults, 1, 1, now))
			dead_at = now;
	assert_int_equal(dead_at, T0 + LK_HOST_DEAD_MS);
	assert_true(last + LK_IO_TIMEOUT_MS < dead_at);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lk_lease_defaults_pass),
		cmocka_unit_test(test_lk_lease_hb_interval_lower_bound),
		cmocka_unit_test(test_lk_lease_io_timeout_lower_bound),
		cmocka_unit_test(test_lk_lease_host_dead_lower_bound),
		cmocka_unit_test(test_lk_lease_check_reports_the_first_broken_bound),
		cmocka_unit_test(test_lk_lease_check_does_not_overflow),
		cmocka_unit_test(test_lk_lease_skew),
		cmocka_unit_test(test_lk_lease_deadline_formula),
		cmocka_unit_test(test_lk_lease_write_admitted_formula),
		cmocka_unit_test(test_lk_lease_none_admits_nothing),
		cmocka_unit_test(test_lk_lease_renewed_sets_deadline),
		cmocka_unit_test(test_lk_lease_renewed_never_moves_back),
		cmocka_unit_test(test_lk_lease_admits_until_boundary),
		cmocka_unit_test(test_lk_lease_expires_exactly_at_deadline),
		cmocka_unit_test(test_lk_lease_observe_first_read_never_dead),
		cmocka_unit_test(test_lk_lease_observe_dead_exactly_at_host_dead),
		cmocka_unit_test(test_lk_lease_observe_counter_change_resets),
		cmocka_unit_test(test_lk_lease_observe_host_gen_change_resets),
		cmocka_unit_test(test_lk_lease_observe_repeated_corrupt_read_is_unchanged),
		cmocka_unit_test(test_lk_lease_observe_uses_configured_host_dead),
		cmocka_unit_test(test_lk_lease_writes_land_before_observer_acts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_ho_core.c - the handoff record state machine (handoff/ho_core.c) on its own:
 * every arrow of the ho_core.h diagram is allowed and every other transition, final
 * states included, is refused with -EINVAL leaving the record byte for byte unchanged;
 * the state names and the status words tooling reads; init, copy and free of records
 * and their file lists; and ho_ok on malformed records. The lock core decides when a
 * transition happens (test_lk_core.c); nothing here touches a lock.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "handoff/ho_core.h"

static const char *const files3[] = { "vm1/disk0.img", "vm1/disk1.img", "vm1/nvram" };

/* Every state, and two values outside the enum. */
static const enum ho_state all_states[] = {
	HO_NONE, HO_PENDING, HO_IN_DOUBT, HO_COMMITTED, HO_DURABLE, HO_ABORTED,
};
#define NSTATES (sizeof(all_states) / sizeof(all_states[0]))
#define BOGUS_A ((enum ho_state)6)
#define BOGUS_B ((enum ho_state)0x7fffffff)

/* The arrows of the diagram in ho_core.h. */
static const struct {
	enum ho_state from, to;
} arrows[] = {
	{ HO_NONE, HO_PENDING },         /* prepare */
	{ HO_PENDING, HO_COMMITTED },    /* commit */
	{ HO_PENDING, HO_ABORTED },      /* abort, timeout */
	{ HO_PENDING, HO_IN_DOUBT },     /* source or destination left */
	{ HO_IN_DOUBT, HO_COMMITTED },   /* dst's table shows the commit */
	{ HO_IN_DOUBT, HO_ABORTED },     /* dst's table does not show it */
	{ HO_COMMITTED, HO_DURABLE },    /* dst persisted */
};
#define NARROWS (sizeof(arrows) / sizeof(arrows[0]))

static bool is_arrow(enum ho_state from, enum ho_state to)
{
	for (size_t i = 0; i < NARROWS; i++)
		if (arrows[i].from == from && arrows[i].to == to)
			return true;
	return false;
}

/* A valid record (id 7, host 1 incarnation 11 -> host 2 incarnation 12) in state st. */
static void rec_in(struct ho_rec *r, enum ho_state st)
{
	assert_int_equal(ho_rec_init(r, 7, 1, 11, 2, 12, files3, 3), 0);
	r->state = st;
	r->commit_req = 99;
}

/* --- transitions ---------------------------------------------------------------------- */

static void test_ho_core_every_arrow_allowed(void **state)
{
	(void)state;
	for (size_t i = 0; i < NARROWS; i++) {
		struct ho_rec r;

		rec_in(&r, arrows[i].from);
		assert_true(ho_transition_ok(arrows[i].from, arrows[i].to));
		assert_int_equal(ho_set_state(&r, arrows[i].to), 0);
		assert_int_equal(r.state, arrows[i].to);
		/* Only the state moves. */
		assert_int_equal(r.id, 7);
		assert_int_equal(r.src, 1);
		assert_int_equal(r.dst, 2);
		assert_int_equal(r.src_inc, 11);
		assert_int_equal(r.dst_inc, 12);
		assert_int_equal(r.commit_req, 99);
		assert_int_equal(r.nfiles, 3);
		ho_rec_free(&r);
	}
}

static void refused(enum ho_state from, enum ho_state to)
{
	struct ho_rec r, before;

	rec_in(&r, from);
	memcpy(&before, &r, sizeof(r));
	if (ho_transition_ok(from, to))
		fail_msg("%s -> %s allowed", ho_state_name(from), ho_state_name(to));
	if (ho_set_state(&r, to) != -EINVAL)
		fail_msg("%s -> %s not refused with -EINVAL", ho_state_name(from),
			 ho_state_name(to));
	assert_memory_equal(&r, &before, sizeof(r));
	for (uint32_t i = 0; i < r.nfiles; i++)
		assert_string_equal(r.files[i], files3[i]);
	ho_rec_free(&r);
}

static void test_ho_core_every_other_transition_refused(void **state)
{
	size_t n = 0;

	(void)state;
	for (size_t i = 0; i < NSTATES; i++)
		for (size_t j = 0; j < NSTATES; j++) {
			if (is_arrow(all_states[i], all_states[j]))
				continue;
			refused(all_states[i], all_states[j]);
			n++;
		}
	assert_int_equal(n, NSTATES * NSTATES - NARROWS); /* 29 refused, 7 allowed */
}

static void test_ho_core_self_transitions_refused(void **state)
{
	(void)state;
	for (size_t i = 0; i < NSTATES; i++)
		refused(all_states[i], all_states[i]);
}

static void test_ho_core_final_states_never_change(void **state)
{
	(void)state;
	for (size_t j = 0; j < NSTATES; j++) {
		refused(HO_ABORTED, all_states[j]);
		refused(HO_DURABLE, all_states[j]);
	}
	assert_true(ho_final(HO_ABORTED));
	assert_true(ho_final(HO_DURABLE));
	assert_false(ho_final(HO_NONE));
	assert_false(ho_final(HO_PENDING));
	assert_false(ho_final(HO_IN_DOUBT));
	assert_false(ho_final(HO_COMMITTED));
	assert_false(ho_final(BOGUS_A));
}

static void test_ho_core_out_of_range_states_refused(void **state)
{
	(void)state;
	for (size_t i = 0; i < NSTATES; i++) {
		refused(all_states[i], BOGUS_A);
		refused(all_states[i], BOGUS_B);
		refused(BOGUS_A, all_states[i]);
		refused(BOGUS_B, all_states[i]);
	}
	refused(BOGUS_A, BOGUS_A);
}

static void test_ho_core_paths_through_the_diagram(void **state)
{
	static const enum ho_state paths[][5] = {
		{ HO_PENDING, HO_COMMITTED, HO_DURABLE },
		{ HO_PENDING, HO_ABORTED },
		{ HO_PENDING, HO_IN_DOUBT, HO_COMMITTED, HO_DURABLE },
		{ HO_PENDING, HO_IN_DOUBT, HO_ABORTED },
	};

	(void)state;
	for (size_t p = 0; p < sizeof(paths) / sizeof(paths[0]); p++) {
		struct ho_rec r;

		memset(&r, 0, sizeof(r)); /* HO_NONE */
		for (size_t k = 0; k < 5 && paths[p][k] != HO_NONE; k++)
			assert_int_equal(ho_set_state(&r, paths[p][k]), 0);
		assert_true(ho_final(r.state));
		/* IN_DOUBT is only reached from PENDING: never back from an outcome. */
		assert_int_equal(ho_set_state(&r, HO_IN_DOUBT), -EINVAL);
		assert_int_equal(ho_set_state(&r, HO_PENDING), -EINVAL);
	}
}

/* --- names ---------------------------------------------------------------------------- */

static void test_ho_core_state_names(void **state)
{
	(void)state;
	assert_string_equal(ho_state_name(HO_PENDING), "pending");
	assert_string_equal(ho_state_name(HO_IN_DOUBT), "in-doubt");
	assert_string_equal(ho_state_name(HO_COMMITTED), "committed");
	assert_string_equal(ho_state_name(HO_DURABLE), "durable");
	assert_string_equal(ho_state_name(HO_ABORTED), "aborted");
	assert_string_equal(ho_state_name(HO_NONE), "unknown");
	assert_string_equal(ho_state_name(BOGUS_A), "unknown");
	assert_string_equal(ho_state_name(BOGUS_B), "unknown");
}

static void test_ho_core_status_words(void **state)
{
	(void)state;
	/* Tooling sees three outcomes: in doubt reads pending, durable reads committed. */
	assert_string_equal(ho_status_word(HO_PENDING), "pending");
	assert_string_equal(ho_status_word(HO_IN_DOUBT), "pending");
	assert_string_equal(ho_status_word(HO_COMMITTED), "committed");
	assert_string_equal(ho_status_word(HO_DURABLE), "committed");
	assert_string_equal(ho_status_word(HO_ABORTED), "aborted");
	assert_string_equal(ho_status_word(HO_NONE), "unknown");
	assert_string_equal(ho_status_word(BOGUS_A), "unknown");
}

/* --- records -------------------------------------------------------------------------- */

static void test_ho_core_init_copies_files(void **state)
{
	char buf[3][32];
	const char *files[3];
	struct ho_rec r;

	(void)state;
	for (int i = 0; i < 3; i++) {
		strcpy(buf[i], files3[i]);
		files[i] = buf[i];
	}
	memset(&r, 0xa5, sizeof(r)); /* init does not rely on a zeroed record */
	assert_int_equal(ho_rec_init(&r, 0x200000001ull, 3, 30, 4, 40, files, 3), 0);
	assert_int_equal(r.id, 0x200000001ull);
	assert_int_equal(r.src, 3);
	assert_int_equal(r.src_inc, 30);
	assert_int_equal(r.dst, 4);
	assert_int_equal(r.dst_inc, 40);
	assert_int_equal(r.state, HO_PENDING);
	assert_int_equal(r.commit_req, 0);
	assert_int_equal(r.nfiles, 3);
	assert_non_null(r.files);
	for (int i = 0; i < 3; i++) {
		assert_ptr_not_equal(r.files[i], buf[i]);
		assert_string_equal(r.files[i], files3[i]);
	}
	memset(buf, 'x', sizeof(buf)); /* the caller's strings are not kept */
	for (int i = 0; i < 3; i++)
		assert_string_equal(r.files[i], files3[i]);
	assert_true(ho_ok(&r));
	ho_rec_free(&r);
}

static void test_ho_core_init_without_files(void **state)
{
	struct ho_rec r;

	(void)state;
	assert_int_equal(ho_rec_init(&r, 1, 1, 11, 2, 12, NULL, 0), 0);
	assert_int_equal(r.nfiles, 0);
	assert_int_equal(r.state, HO_PENDING);
	assert_false(ho_ok(&r)); /* a handoff moves at least one file */
	assert_false(ho_rec_has_file(&r, "vm1/disk0.img"));
	ho_rec_free(&r);
}

static void test_ho_core_copy_is_deep(void **state)
{
	struct ho_rec a, b;

	(void)state;
	rec_in(&a, HO_COMMITTED);
	a.commit_req = 1234;
	assert_int_equal(ho_rec_copy(&b, &a), 0);
	assert_int_equal(b.id, a.id);
	assert_int_equal(b.src, a.src);
	assert_int_equal(b.dst, a.dst);
	assert_int_equal(b.src_inc, a.src_inc);
	assert_int_equal(b.dst_inc, a.dst_inc);
	assert_int_equal(b.state, HO_COMMITTED);
	assert_int_equal(b.commit_req, 1234);
	assert_int_equal(b.nfiles, a.nfiles);
	assert_ptr_not_equal(b.files, a.files);
	for (uint32_t i = 0; i < a.nfiles; i++) {
		assert_ptr_not_equal(b.files[i], a.files[i]);
		assert_string_equal(b.files[i], a.files[i]);
	}
	/* Changing or freeing the original leaves the copy whole. */
	assert_int_equal(ho_set_state(&a, HO_DURABLE), 0);
	ho_rec_free(&a);
	assert_int_equal(b.state, HO_COMMITTED);
	for (uint32_t i = 0; i < b.nfiles; i++)
		assert_string_equal(b.files[i], files3[i]);
	assert_true(ho_ok(&b));
	ho_rec_free(&b);
}

static void test_ho_core_free_zeroes(void **state)
{
	struct ho_rec r, zero;

	(void)state;
	memset(&zero, 0, sizeof(zero));
	rec_in(&r, HO_ABORTED);
	ho_rec_free(&r);
	assert_memory_equal(&r, &zero, sizeof(r));
	ho_rec_free(&r); /* freeing a zeroed record is harmless */
	assert_memory_equal(&r, &zero, sizeof(r));
	assert_int_equal(r.state, HO_NONE);
}

static void test_ho_core_has_file(void **state)
{
	struct ho_rec r;

	(void)state;
	rec_in(&r, HO_PENDING);
	for (int i = 0; i < 3; i++)
		assert_true(ho_rec_has_file(&r, files3[i]));
	assert_false(ho_rec_has_file(&r, "vm1/disk2.img"));
	assert_false(ho_rec_has_file(&r, "vm1/disk0.im"));  /* no prefix match */
	assert_false(ho_rec_has_file(&r, "vm1/disk0.img/")); /* nor a longer one */
	assert_false(ho_rec_has_file(&r, ""));
	ho_rec_free(&r);
}

/* --- ho_ok ---------------------------------------------------------------------------- */

static void test_ho_core_ok_in_every_state(void **state)
{
	(void)state;
	for (size_t i = 1; i < NSTATES; i++) {
		struct ho_rec r;

		rec_in(&r, all_states[i]);
		if (!ho_ok(&r))
			fail_msg("a well-formed %s record is not ok", ho_state_name(all_states[i]));
		ho_rec_free(&r);
	}
}

static void test_ho_core_ok_refuses_malformed(void **state)
{
	static const char *const dup[] = { "vm1/disk0.img", "vm1/disk1.img", "vm1/disk0.img" };
	struct ho_rec r;
	char **list, *keep;

	(void)state;
	rec_in(&r, HO_PENDING);
	r.id = 0; /* ids start at 1 */
	assert_false(ho_ok(&r));
	ho_rec_free(&r);

	rec_in(&r, HO_NONE); /* a record exists only from prepare on */
	assert_false(ho_ok(&r));
	ho_rec_free(&r);

	assert_int_equal(ho_rec_init(&r, 7, 2, 12, 2, 12, files3, 3), 0); /* src == dst */
	assert_false(ho_ok(&r));
	ho_rec_free(&r);
	assert_int_equal(ho_rec_init(&r, 7, 2, 12, 2, 22, files3, 3), 0); /* another incarnation */
	assert_false(ho_ok(&r));
	ho_rec_free(&r);

	assert_int_equal(ho_rec_init(&r, 7, 1, 11, 2, 12, dup, 3), 0); /* duplicate files */
	assert_false(ho_ok(&r));
	ho_rec_free(&r);

	rec_in(&r, HO_PENDING);
	keep = r.files[1];
	r.files[1] = NULL; /* a missing file name */
	assert_false(ho_ok(&r));
	r.files[1] = keep;
	assert_true(ho_ok(&r));
	r.nfiles = 0; /* no files */
	assert_false(ho_ok(&r));
	r.nfiles = 3;
	list = r.files;
	r.files = NULL; /* no file list */
	assert_false(ho_ok(&r));
	r.files = list;
	ho_rec_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ho_core_every_arrow_allowed),
		cmocka_unit_test(test_ho_core_every_other_transition_refused),
		cmocka_unit_test(test_ho_core_self_transitions_refused),
		cmocka_unit_test(test_ho_core_final_states_never_change),
		cmocka_unit_test(test_ho_core_out_of_range_states_refused),
		cmocka_unit_test(test_ho_core_paths_through_the_diagram),
		cmocka_unit_test(test_ho_core_state_names),
		cmocka_unit_test(test_ho_core_status_words),
		cmocka_unit_test(test_ho_core_init_copies_files),
		cmocka_unit_test(test_ho_core_init_without_files),
		cmocka_unit_test(test_ho_core_copy_is_deep),
		cmocka_unit_test(test_ho_core_free_zeroes),
		cmocka_unit_test(test_ho_core_has_file),
		cmocka_unit_test(test_ho_core_ok_in_every_state),
		cmocka_unit_test(test_ho_core_ok_refuses_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

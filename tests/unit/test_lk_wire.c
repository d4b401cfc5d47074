// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_lk_wire.c - lock messages on the wire (lockd/core/lk_wire.c): every message type
 * survives encode -> decode unchanged, a snapshot of a busy replica decodes into an equal
 * replica, and every malformed record (truncated at any byte, bad magic, other version,
 * unknown type or mode, host out of range, NUL inside a path, counts larger than the
 * record, trailing bytes, locks out of order) is refused with the exact code.
 */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lockd/core/lk_agent.h"
#include "lockd/core/lk_wire.h"

#define WALL 1700000000000ull

static struct lk_msg *roundtrip(const struct lk_msg *m)
{
	struct lk_msg *out = NULL;
	const char *why = NULL;
	void *buf = NULL;
	size_t len = 0;

	assert_int_equal(lk_wire_encode(m, &buf, &len), 0);
	assert_int_equal(lk_wire_decode(buf, len, 1, &lk_rules_default, &out, &why), 0);
	assert_null(why);
	free(buf);
	assert_int_equal(out->type, m->type);
	assert_int_equal(out->from, m->from);
	assert_true(out->from_inc == m->from_inc && out->req == m->req &&
		    out->wall_ms == m->wall_ms);
	return out;
}

static struct lk_msg hdr(enum lk_msg_type t)
{
	return (struct lk_msg){ .type = t, .from = 3, .from_inc = 0x1122334455667788ull,
				.req = 42, .wall_ms = WALL };
}

static void test_lk_wire_simple_messages(void **state)
{
	struct lk_msg m = hdr(LK_MSG_ACQUIRE), *o;
	const char *files[] = { "vm1/disk.img", "vm1/vm.conf" };

	(void)state;
	m.u.acquire.path = "vm1/disk.img";
	m.u.acquire.mode = LK_MODE_MW;
	o = roundtrip(&m);
	assert_string_equal(o->u.acquire.path, "vm1/disk.img");
	assert_int_equal(o->u.acquire.mode, LK_MODE_MW);
	lk_msg_free(o);

	m = hdr(LK_MSG_RELEASE);
	m.u.release.path = "a";
	o = roundtrip(&m);
	assert_string_equal(o->u.release.path, "a");
	lk_msg_free(o);

	m = hdr(LK_MSG_RENAME);
	m.u.rename.from = "old/x";
	m.u.rename.to = "new/y";
	o = roundtrip(&m);
	assert_string_equal(o->u.rename.from, "old/x");
	assert_string_equal(o->u.rename.to, "new/y");
	lk_msg_free(o);

	m = hdr(LK_MSG_SYNC);
	m.u.sync.ring = 77;
	m.u.sync.have_state = true;
	m.u.sync.lineage = 70;
	m.u.sync.seq = 9;
	m.u.sync.gen_hwm = (struct lk_gen){ 3, 123456789012ull };
	o = roundtrip(&m);
	assert_true(o->u.sync.ring == 77 && o->u.sync.have_state && o->u.sync.lineage == 70 &&
		    o->u.sync.seq == 9);
	assert_int_equal(lk_gen_cmp(o->u.sync.gen_hwm, m.u.sync.gen_hwm), 0);
	lk_msg_free(o);

	m = hdr(LK_MSG_HO_PREPARE);
	m.u.ho_prepare.to = 2;
	m.u.ho_prepare.files = files;
	m.u.ho_prepare.nfiles = 2;
	o = roundtrip(&m);
	assert_int_equal(o->u.ho_prepare.to, 2);
	assert_int_equal(o->u.ho_prepare.nfiles, 2);
	assert_string_equal(o->u.ho_prepare.files[1], "vm1/vm.conf");
	lk_msg_free(o);

	for (enum lk_msg_type t = LK_MSG_HO_COMMIT; t <= LK_MSG_HO_DURABLE; t++) {
		m = hdr(t);
		m.u.ho.id = 0xdeadbeefcafeull;
		o = roundtrip(&m);
		assert_true(o->u.ho.id == 0xdeadbeefcafeull);
		lk_msg_free(o);
	}
}

static const struct lk_disk_lock dlocks[] = {
	{ .path = "vm1/disk.img", .mode = LK_MODE_EX, .state = LK_DISK_HELD,
	  .gen = { 2, 7 }, .since_ms = WALL },
	{ .path = "vm2/disk.img", .mode = LK_MODE_EX, .state = LK_DISK_HANDOFF_OUT,
	  .gen = { 2, 9 }, .handoff_id = 5, .since_ms = WALL + 1 },
};

static void test_lk_wire_disk_tables(void **state)
{
	struct lk_disk_host hosts[] = {
		{ .host = 4, .inc = 99, .live = true, .complete = false, .ring_seq = 12,
		  .ring_quorate = true, .locks = dlocks, .nlocks = 2 },
		{ .host = 5, .inc = LK_INC_UNKNOWN, .live = true },
	};
	struct lk_msg m = hdr(LK_MSG_RECOVERED), *o;

	(void)state;
	m.u.recovered.host = 4;
	m.u.recovered.inc = 99;
	m.u.recovered.locks = dlocks;
	m.u.recovered.nlocks = 2;
	m.u.recovered.gen_hwm = (struct lk_gen){ 2, 10 };
	o = roundtrip(&m);
	assert_int_equal(o->u.recovered.nlocks, 2);
	assert_string_equal(o->u.recovered.locks[1].path, "vm2/disk.img");
	assert_int_equal(o->u.recovered.locks[1].state, LK_DISK_HANDOFF_OUT);
	assert_true(o->u.recovered.locks[1].handoff_id == 5);
	assert_true(o->u.recovered.locks[1].since_ms == WALL + 1);
	lk_msg_free(o);

	m = hdr(LK_MSG_COLDSTART);
	m.u.coldstart.ring = 30;
	m.u.coldstart.epoch = 3;
	m.u.coldstart.hosts = hosts;
	m.u.coldstart.nhosts = 2;
	o = roundtrip(&m);
	assert_int_equal(o->u.coldstart.nhosts, 2);
	assert_true(o->u.coldstart.hosts[0].live && !o->u.coldstart.hosts[0].complete);
	assert_int_equal(o->u.coldstart.hosts[0].nlocks, 2);
	assert_string_equal(o->u.coldstart.hosts[0].locks[0].path, "vm1/disk.img");
	assert_true(o->u.coldstart.hosts[1].inc == LK_INC_UNKNOWN);
	lk_msg_free(o);
}

/* --- a busy replica ------------------------------------------------------------------- */

static void apply_ok(struct lk_state *s, const struct lk_msg *m)
{
	struct lk_fxbuf fx = { 0 };

	assert_int_equal(lk_apply(s, m, &fx), 0);
	assert_null(lk_state_check(s));
	lk_fxbuf_free(&fx);
}

static struct lk_msg from(enum lk_msg_type t, lk_host_t h)
{
	return (struct lk_msg){ .type = t, .from = h, .from_inc = 10 + h, .wall_ms = WALL };
}

/* Hosts 1..3 cold-started in ring 10; EX, SH+SH, MW locks and a pending handoff. */
static struct lk_state *busy_replica(void)
{
	struct lk_member mem[] = { { 1, 11 }, { 2, 12 }, { 3, 13 } };
	struct lk_state *s = lk_state_new(1, &lk_rules_default);
	struct lk_msg m = { .type = LK_MSG_CONFCHG };
	const char *hofiles[] = { "vm1/disk.img" };
	static const struct { lk_host_t h; const char *p; enum lk_mode mode; } acq[] = {
		{ 1, "vm1/disk.img", LK_MODE_EX }, { 2, "base.img", LK_MODE_SH },
		{ 3, "base.img", LK_MODE_SH }, { 2, "shared/quorum.img", LK_MODE_MW },
		{ 3, "shared/quorum.img", LK_MODE_MW },
	};

	assert_non_null(s);
	m.u.confchg.ring = 10;
	m.u.confchg.members = mem;
	m.u.confchg.nmembers = 3;
	m.u.confchg.quorate = true;
	apply_ok(s, &m);
	for (lk_host_t h = 1; h <= 3; h++) {
		m = from(LK_MSG_SYNC, h);
		m.u.sync.ring = 10;
		apply_ok(s, &m);
	}
	m = from(LK_MSG_COLDSTART, 1);
	m.u.coldstart.ring = 10;
	m.u.coldstart.epoch = 2;
	apply_ok(s, &m);
	for (size_t i = 0; i < sizeof(acq) / sizeof(acq[0]); i++) {
		m = from(LK_MSG_ACQUIRE, acq[i].h);
		m.u.acquire.path = acq[i].p;
		m.u.acquire.mode = acq[i].mode;
		apply_ok(s, &m);
	}
	m = from(LK_MSG_HO_PREPARE, 1);
	m.u.ho_prepare.to = 2;
	m.u.ho_prepare.files = hofiles;
	m.u.ho_prepare.nfiles = 1;
	apply_ok(s, &m);
	assert_int_equal(lk_state_nlocks(s), 3);
	assert_int_equal(lk_state_nhandoffs(s), 1);
	return s;
}

static void encode_snapshot(const struct lk_state *s, void **buf, size_t *len)
{
	struct lk_msg m = hdr(LK_MSG_SNAPSHOT);

	m.u.snapshot.ring = 11;
	m.u.snapshot.state = s;
	m.u.snapshot.epoch = 0;
	assert_int_equal(lk_wire_encode(&m, buf, len), 0);
}

static void test_lk_wire_snapshot_equal_replica(void **state)
{
	struct lk_state *s = busy_replica();
	struct lk_msg *o = NULL;
	const char *why;
	void *buf;
	size_t len;

	(void)state;
	encode_snapshot(s, &buf, &len);
	assert_int_equal(lk_wire_decode(buf, len, 2, &lk_rules_default, &o, &why), 0);
	assert_non_null(o->u.snapshot.state);
	assert_true(lk_state_equal(s, o->u.snapshot.state));
	assert_int_equal(lk_state_nlocks(o->u.snapshot.state), 3);
	lk_msg_free(o);
	free(buf);
	lk_state_free(s);
}

/* Cutting a record short anywhere is refused, never read past its end (ASan watches). */
static void test_lk_wire_truncated_refused(void **state)
{
	struct lk_state *s = busy_replica();
	struct lk_msg *o = NULL;
	const char *why;
	void *buf;
	size_t len;

	(void)state;
	encode_snapshot(s, &buf, &len);
	for (size_t cut = 0; cut < len; cut++) {
		void *copy = malloc(cut ? cut : 1);

		memcpy(copy, buf, cut);
		assert_int_equal(lk_wire_decode(copy, cut, 2, &lk_rules_default, &o, &why),
				 -EBADMSG);
		assert_non_null(why);
		free(copy);
	}
	free(buf);
	lk_state_free(s);
}

static int decode_mutated(const struct lk_msg *m, size_t off, const void *bytes, size_t n,
			  const char **why)
{
	struct lk_msg *o = NULL;
	void *buf;
	size_t len;
	int rc;

	assert_int_equal(lk_wire_encode(m, &buf, &len), 0);
	assert_true(off + n <= len);
	memcpy((char *)buf + off, bytes, n);
	rc = lk_wire_decode(buf, len, 1, &lk_rules_default, &o, why);
	if (rc == 0)
		lk_msg_free(o);
	free(buf);
	return rc;
}

/* Header: magic 0, version 4, type 6, from 8, inc 12, req 20, wall 28; body from 36. */
static void test_lk_wire_bad_header_fields(void **state)
{
	struct lk_msg m = hdr(LK_MSG_ACQUIRE);
	const char *why;
	uint8_t zero4[4] = { 0 }, v2[2] = { LK_WIRE_VERSION + 1, 0 }, t0[2] = { 0, 0 }, t99[2] = { 99, 0 };
	uint8_t h200[4] = { 200, 0, 0, 0 };

	(void)state;
	m.u.acquire.path = "vm1/disk.img";
	m.u.acquire.mode = LK_MODE_EX;
	assert_int_equal(decode_mutated(&m, 0, zero4, 4, &why), -EBADMSG);
	assert_string_equal(why, "not a vmfs lock message (bad magic)");
	assert_int_equal(decode_mutated(&m, 4, v2, 2, &why), -EPROTO);
	assert_int_equal(decode_mutated(&m, 6, t0, 2, &why), -EBADMSG);
	assert_string_equal(why, "unknown message type");
	assert_int_equal(decode_mutated(&m, 6, t99, 2, &why), -EBADMSG);
	assert_int_equal(decode_mutated(&m, 8, h200, 4, &why), -EBADMSG);
	assert_string_equal(why, "host id out of range");
	assert_int_equal(decode_mutated(&m, 8, zero4, 4, &why), -EBADMSG);
}

static void test_lk_wire_bad_body_fields(void **state)
{
	struct lk_msg m = hdr(LK_MSG_ACQUIRE);
	const char *why;
	uint8_t nul = 0, mode9 = 9, mode0 = 0, big[2] = { 0xff, 0xff }, empty[2] = { 0, 0 };
	size_t plen = strlen("vm1/disk.img");

	(void)state;
	m.u.acquire.path = "vm1/disk.img";
	m.u.acquire.mode = LK_MODE_EX;
	assert_int_equal(decode_mutated(&m, 36 + 2 + 3, &nul, 1, &why), -EBADMSG);
	assert_string_equal(why, "NUL byte inside a path");
	assert_int_equal(decode_mutated(&m, 36 + 2 + plen, &mode9, 1, &why), -EBADMSG);
	assert_string_equal(why, "unknown lock mode");
	assert_int_equal(decode_mutated(&m, 36 + 2 + plen, &mode0, 1, &why), -EBADMSG);
	assert_int_equal(decode_mutated(&m, 36, big, 2, &why), -EBADMSG);
	assert_string_equal(why, "path longer than LK_PATH_MAX");
	assert_int_equal(decode_mutated(&m, 36, empty, 2, &why), -EBADMSG);
}

static void test_lk_wire_counts_and_trailing(void **state)
{
	struct lk_msg m = hdr(LK_MSG_RECOVERED), *o = NULL;
	const char *why;
	uint8_t huge[4] = { 0xff, 0xff, 0xff, 0x0f };
	void *buf, *longer;
	size_t len;

	(void)state;
	m.u.recovered.host = 4;
	m.u.recovered.inc = 1;
	m.u.recovered.locks = dlocks;
	m.u.recovered.nlocks = 2;
	/* body: host 4, inc 8, then the lock count */
	assert_int_equal(decode_mutated(&m, 36 + 12, huge, 4, &why), -EBADMSG);
	assert_string_equal(why, "count larger than the record");

	assert_int_equal(lk_wire_encode(&m, &buf, &len), 0);
	longer = calloc(1, len + 1);
	memcpy(longer, buf, len);
	assert_int_equal(lk_wire_decode(longer, len + 1, 1, &lk_rules_default, &o, &why),
			 -EBADMSG);
	assert_string_equal(why, "trailing bytes after the message");
	free(longer);
	free(buf);
}

static void test_lk_wire_snapshot_out_of_order_refused(void **state)
{
	struct lk_state *s = busy_replica();
	const char *why;
	struct lk_msg *o = NULL;
	uint8_t *buf;
	size_t len;
	char *a, *b;

	(void)state;
	encode_snapshot(s, (void **)&buf, &len);
	/* "base.img" sorts before "shared/quorum.img": swap one letter to break the order */
	a = memmem(buf, len, "base.img", 8);
	b = memmem(buf, len, "shared/q", 8);
	assert_non_null(a);
	assert_non_null(b);
	a[0] = 'z';
	assert_int_equal(lk_wire_decode(buf, len, 2, &lk_rules_default, &o, &why), -EBADMSG);
	assert_string_equal(why, "snapshot locks out of order");
	free(buf);
	lk_state_free(s);
}

/* Any 4 bytes of a snapshot set to host 200: refused or decoded, never an array indexed
 * out of bounds (the sanitizer build watches). */
static void test_lk_wire_snapshot_host_out_of_range_never_indexes(void **state)
{
	struct lk_state *s = busy_replica();
	struct lk_msg *o;
	const char *why;
	uint8_t *buf, *copy;
	size_t len;

	(void)state;
	encode_snapshot(s, (void **)&buf, &len);
	copy = malloc(len);
	for (size_t off = 0; off + 4 <= len; off++) {
		memcpy(copy, buf, len);
		copy[off] = 200;
		copy[off + 1] = copy[off + 2] = copy[off + 3] = 0;
		o = NULL;
		if (lk_wire_decode(copy, len, 2, &lk_rules_default, &o, &why) == 0)
			lk_msg_free(o);
	}
	free(copy);
	free(buf);
	lk_state_free(s);
}

static void test_lk_wire_encode_refuses(void **state)
{
	struct lk_msg m = { .type = LK_MSG_CONFCHG };
	char longpath[LK_PATH_MAX + 2];
	void *buf = NULL;
	size_t len;

	(void)state;
	assert_int_equal(lk_wire_encode(&m, &buf, &len), -EINVAL);
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = 0;
	m = hdr(LK_MSG_RELEASE);
	m.u.release.path = longpath;
	assert_int_equal(lk_wire_encode(&m, &buf, &len), -EINVAL);
	assert_null(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lk_wire_simple_messages),
		cmocka_unit_test(test_lk_wire_disk_tables),
		cmocka_unit_test(test_lk_wire_snapshot_equal_replica),
		cmocka_unit_test(test_lk_wire_truncated_refused),
		cmocka_unit_test(test_lk_wire_bad_header_fields),
		cmocka_unit_test(test_lk_wire_bad_body_fields),
		cmocka_unit_test(test_lk_wire_counts_and_trailing),
		cmocka_unit_test(test_lk_wire_snapshot_out_of_order_refused),
		cmocka_unit_test(test_lk_wire_snapshot_host_out_of_range_never_indexes),
		cmocka_unit_test(test_lk_wire_encode_refuses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

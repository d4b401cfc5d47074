// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_vol_ondisk.c - the lock volume's byte format (vol_ondisk.c), its layout
 * (vol_layout.c) and its checksum (vol_crc.c), without any I/O.
 *
 * Every sector kind (superblock, heartbeat, journal, lock table) goes through the same
 * behaviours, each a test named test_vol_<kind>_<behaviour>: round trip; a flipped body
 * byte (VOL_ECRC); bad magic; another datastore's UUID; a newer major (VOL_EMAJOR) and a
 * newer minor (decodes); another index; another sector kind; all zero; a torn write;
 * fields out of range behind a valid CRC (VOL_EFIELD). The header is patched through
 * the offsets of vol_ondisk.h and resealed with a fresh CRC, so that only the check
 * under test can catch the change.
 */
#include <endian.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lockd/volume/vol.h"
#include "lockd/volume/vol_ondisk.h"

/* 4 hosts, areas of 1 + 2 + 3 sectors: host 2's heartbeat is 7, journal 8-9, table 10-12. */
static const struct vol_geom geom = {
	.uuid = { 0x5a, 0x11, 0x22, 0x33, 0x44, 0x55, 0x46, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc,
		  0xdd, 0xee, 0xff },
	.sector_size = VOL_SECTOR_SIZE,
	.max_hosts = 4,
	.journal_sectors = 2,
	.table_sectors = 3,
};

#define HOST 2u
#define HB_IDX 7u
#define JOURNAL_IDX 8u
#define TABLE_IDX 10u

/* --- samples ------------------------------------------------------------------------ */

static struct vol_super sample_super(void)
{
	struct vol_super s;

	memset(&s, 0, sizeof(s));
	s.geom = geom;
	s.major = VOL_MAJOR;
	s.minor = VOL_MINOR;
	strcpy(s.cluster, "prod-a");
	s.hb_interval_ms = 1000;
	s.host_dead_ms = 10000;
	s.io_timeout_ms = 2000;
	s.epoch = 3;
	s.created_ms = 1700000000123;
	return s;
}

static struct vol_heartbeat sample_heartbeat(void)
{
	struct vol_heartbeat hb;

	memset(&hb, 0, sizeof(hb));
	hb.host = HOST;
	memset(hb.host_uuid, 0xab, sizeof(hb.host_uuid));
	hb.host_gen = 5;
	hb.counter = 0x123456789aull;
	hb.wall_ms = 1700000001000;
	hb.ring_seq = 44;
	hb.ring_quorate = true;
	hb.state = VOL_HB_LIVE;
	hb.hb_interval_ms = 1000;
	hb.host_dead_ms = 10000;
	hb.io_timeout_ms = 2000;
	strcpy(hb.hostname, "node2.example");
	return hb;
}

static struct vol_journal sample_journal(void)
{
	struct vol_journal j;

	memset(&j, 0, sizeof(j));
	j.host = HOST;
	j.host_gen = 5;
	j.type = VOL_J_HANDOFF;
	j.wall_ms = 1700000002000;
	j.handoff_id = 0xfeedfacecafebeefull;
	j.src = HOST;
	j.dst = 3;
	j.ho_state = 2;
	j.nfiles = 4;
	return j;
}

static void set_entry(struct vol_entry *e, enum vol_entry_state state, enum lk_mode mode,
		      uint64_t counter, const char *path)
{
	memset(e, 0, sizeof(*e));
	e->state = state;
	e->mode = mode;
	e->gen = (struct lk_gen){ .epoch = 3, .counter = counter };
	e->since_ms = 1700000003000 + counter;
	strcpy(e->path, path);
}

static struct vol_table sample_table(void)
{
	char longest[LK_PATH_MAX + 1];
	struct vol_table t;

	memset(&t, 0, sizeof(t));
	t.host = HOST;
	t.host_gen = 5;
	set_entry(&t.e[0], VOL_E_HELD, LK_MODE_EX, 42, "vm1/disk.qcow2");
	set_entry(&t.e[2], VOL_E_INTENT, LK_MODE_SH, 43, "base/debian.img");
	set_entry(&t.e[3], VOL_E_HANDOFF_OUT, LK_MODE_MW, 44, "shared/quorum.img");
	t.e[3].handoff_id = 77;
	memset(longest, 'p', LK_PATH_MAX);
	longest[LK_PATH_MAX] = '\0';
	set_entry(&t.e[6], VOL_E_HELD, LK_MODE_EX, 45, longest);
	return t;
}

/* --- the four kinds behind one interface -------------------------------------------- */

union value {
	struct vol_super s;
	struct vol_heartbeat hb;
	struct vol_journal j;
	struct vol_table t;
};

/* A byte-level change to a sector: put val in len little-endian bytes, or fill with it. */
struct patch {
	size_t off, len;
	uint64_t val;
	bool fill;
};

#define PUT(type, field, v) { offsetof(type, field), sizeof(((type *)0)->field), (v), false }
#define FILL(type, field, v) { offsetof(type, field), sizeof(((type *)0)->field), (v), true }
#define MAX_PATCHES 8

struct kind {
	uint64_t idx;
	enum vol_od_type type;
	void (*encode)(bool alt, void *buf); /* the sample, or a variant differing after tear_at */
	int (*decode)(const void *buf, union value *out);
	void (*encode_other_kind)(void *buf); /* a valid sector of another kind, same area */
	size_t tear_at;
	struct patch bad_fields[MAX_PATCHES]; /* each alone makes a valid sector VOL_EFIELD */
};

static void encode_super(bool alt, void *buf)
{
	struct vol_super s = sample_super();

	if (alt)
		strcpy(s.cluster, "prod-b");
	vol_encode_super(&s, buf);
}

static int decode_super(const void *buf, union value *out)
{
	return vol_decode_super(buf, VOL_SECTOR_SIZE, geom.uuid, &out->s);
}

static void encode_heartbeat(bool alt, void *buf)
{
	struct vol_heartbeat hb = sample_heartbeat();

	if (alt)
		strcpy(hb.hostname, "node2.other");
	vol_encode_heartbeat(&geom, &hb, buf);
}

static int decode_heartbeat(const void *buf, union value *out)
{
	return vol_decode_heartbeat(&geom, HB_IDX, buf, &out->hb);
}

static void encode_journal(bool alt, void *buf)
{
	struct vol_journal j = sample_journal();

	if (alt)
		j.nfiles = 5;
	vol_encode_journal(&geom, JOURNAL_IDX, &j, buf);
}

static int decode_journal(const void *buf, union value *out)
{
	return vol_decode_journal(&geom, JOURNAL_IDX, buf, &out->j);
}

static void encode_table(bool alt, void *buf)
{
	struct vol_table t = sample_table();

	if (alt)
		t.e[6].path[0] = 'q';
	vol_encode_table(&geom, TABLE_IDX, &t, buf);
}

static int decode_table(const void *buf, union value *out)
{
	return vol_decode_table(&geom, TABLE_IDX, buf, &out->t);
}

#define SLOT(n, field) (offsetof(struct vol_od_table, e) + (n) * VOL_OD_ENTRY_SIZE + \
			offsetof(struct vol_od_entry, field))
#define SLOT_PATCH(n, field, size, v) { SLOT(n, field), (size), (v), false }

static void heartbeat_sector(void *buf)
{
	encode_heartbeat(false, buf);
}

static void journal_sector(void *buf)
{
	encode_journal(false, buf);
}

static void table_sector(void *buf)
{
	encode_table(false, buf);
}

static void super_sector(void *buf)
{
	encode_super(false, buf);
}

static const struct kind kinds[] = {
	[VOL_OD_SUPER] = {
		.idx = 0,
		.type = VOL_OD_SUPER,
		.encode = encode_super,
		.decode = decode_super,
		.encode_other_kind = heartbeat_sector,
		.tear_at = offsetof(struct vol_od_super, cluster),
		.bad_fields = {
			PUT(struct vol_od_super, sector_size, 512),
			PUT(struct vol_od_super, max_hosts, 0),
			PUT(struct vol_od_super, max_hosts, LK_MAX_HOSTS + 1),
			PUT(struct vol_od_super, table_sectors, 0),
			PUT(struct vol_od_super, host_dead_ms, 500),
			PUT(struct vol_od_super, epoch, 0),
			FILL(struct vol_od_super, cluster, 'c'),
			{ offsetof(struct vol_od_super, cluster) + 10, 1, 'x', false },
		},
	},
	[VOL_OD_HEARTBEAT] = {
		.idx = HB_IDX,
		.type = VOL_OD_HEARTBEAT,
		.encode = encode_heartbeat,
		.decode = decode_heartbeat,
		.encode_other_kind = journal_sector,
		.tear_at = offsetof(struct vol_od_heartbeat, hostname),
		.bad_fields = {
			PUT(struct vol_od_heartbeat, host, HOST + 1),
			PUT(struct vol_od_heartbeat, state, VOL_HB_FENCED + 1),
			PUT(struct vol_od_heartbeat, state, VOL_HB_FENCED), /* fenced by nobody */
			PUT(struct vol_od_heartbeat, fenced_by, 5),
			PUT(struct vol_od_heartbeat, ring_quorate, 2),
			FILL(struct vol_od_heartbeat, hostname, 'h'),
			{ offsetof(struct vol_od_heartbeat, hostname) + 20, 1, 'x', false },
		},
	},
	[VOL_OD_JOURNAL] = {
		.idx = JOURNAL_IDX,
		.type = VOL_OD_JOURNAL,
		.encode = encode_journal,
		.decode = decode_journal,
		.encode_other_kind = table_sector,
		.tear_at = offsetof(struct vol_od_journal, nfiles),
		.bad_fields = {
			PUT(struct vol_od_journal, host, 1),
			PUT(struct vol_od_journal, type, VOL_J_RECOVERY + 1),
			PUT(struct vol_od_journal, handoff_id, 0),
			PUT(struct vol_od_journal, dst, HOST), /* to itself */
			PUT(struct vol_od_journal, src, 0),
			PUT(struct vol_od_journal, dst, 5),
		},
	},
	[VOL_OD_TABLE] = {
		.idx = TABLE_IDX,
		.type = VOL_OD_TABLE,
		.encode = encode_table,
		.decode = decode_table,
		.encode_other_kind = super_sector,
		.tear_at = VOL_SECTOR_SIZE / 2,
		.bad_fields = {
			PUT(struct vol_od_table, host, 3),
			SLOT_PATCH(0, mode, 1, LK_MODE_EX + 1),
			SLOT_PATCH(0, mode, 1, LK_MODE_NONE),
			SLOT_PATCH(0, state, 1, VOL_E_HANDOFF_IN + 1),
			SLOT_PATCH(0, path_len, 2, LK_PATH_MAX + 1),
			SLOT_PATCH(0, path, 1, 0), /* NUL inside the path */
			{ SLOT(0, path) + 20, 1, 'x', false }, /* garbage after the path */
			SLOT_PATCH(1, path_len, 2, 3), /* a free slot with a path length */
		},
	},
};

/* --- sector surgery ----------------------------------------------------------------- */

static void reseal(uint8_t *buf)
{
	uint32_t crc;

	memset(buf + offsetof(struct vol_od_hdr, crc), 0, sizeof(uint32_t));
	crc = htole32(vol_crc32c(buf, VOL_SECTOR_SIZE));
	memcpy(buf + offsetof(struct vol_od_hdr, crc), &crc, sizeof(crc));
}

static void apply(uint8_t *buf, const struct patch *p)
{
	if (p->fill) {
		memset(buf + p->off, (int)p->val, p->len);
	} else {
		for (size_t i = 0; i < p->len; i++)
			buf[p->off + i] = (uint8_t)(p->val >> (8 * i));
	}
	reseal(buf);
}

static void sample_sector(const struct kind *k, uint8_t *buf)
{
	k->encode(false, buf);
}

static void expect_decode(const struct kind *k, const uint8_t *buf, int want)
{
	union value out, before;

	memset(&out, 0x5c, sizeof(out));
	before = out;
	assert_int_equal(k->decode(buf, &out), want);
	if (want)
		assert_memory_equal(&out, &before, sizeof(out)); /* left unchanged */
}

/* --- behaviours, run for every kind ------------------------------------------------- */

static void assert_geom_equal(const struct vol_geom *a, const struct vol_geom *b)
{
	assert_memory_equal(a->uuid, b->uuid, sizeof(a->uuid));
	assert_int_equal(a->sector_size, b->sector_size);
	assert_int_equal(a->max_hosts, b->max_hosts);
	assert_int_equal(a->journal_sectors, b->journal_sectors);
	assert_int_equal(a->table_sectors, b->table_sectors);
}

static void assert_super_equal(const struct vol_super *a, const struct vol_super *b)
{
	assert_geom_equal(&a->geom, &b->geom);
	assert_int_equal(a->major, b->major);
	assert_int_equal(a->minor, b->minor);
	assert_string_equal(a->cluster, b->cluster);
	assert_int_equal(a->hb_interval_ms, b->hb_interval_ms);
	assert_int_equal(a->host_dead_ms, b->host_dead_ms);
	assert_int_equal(a->io_timeout_ms, b->io_timeout_ms);
	assert_int_equal(a->epoch, b->epoch);
	assert_int_equal(a->created_ms, b->created_ms);
}

static void assert_heartbeat_equal(const struct vol_heartbeat *a, const struct vol_heartbeat *b)
{
	assert_int_equal(a->host, b->host);
	assert_memory_equal(a->host_uuid, b->host_uuid, sizeof(a->host_uuid));
	assert_int_equal(a->host_gen, b->host_gen);
	assert_int_equal(a->counter, b->counter);
	assert_int_equal(a->wall_ms, b->wall_ms);
	assert_int_equal(a->ring_seq, b->ring_seq);
	assert_int_equal(a->ring_quorate, b->ring_quorate);
	assert_int_equal(a->state, b->state);
	assert_int_equal(a->fenced_by, b->fenced_by);
	assert_int_equal(a->hb_interval_ms, b->hb_interval_ms);
	assert_int_equal(a->host_dead_ms, b->host_dead_ms);
	assert_int_equal(a->io_timeout_ms, b->io_timeout_ms);
	assert_string_equal(a->hostname, b->hostname);
}

static void assert_journal_equal(const struct vol_journal *a, const struct vol_journal *b)
{
	assert_int_equal(a->host, b->host);
	assert_int_equal(a->host_gen, b->host_gen);
	assert_int_equal(a->type, b->type);
	assert_int_equal(a->wall_ms, b->wall_ms);
	assert_int_equal(a->handoff_id, b->handoff_id);
	assert_int_equal(a->src, b->src);
	assert_int_equal(a->dst, b->dst);
	assert_int_equal(a->ho_state, b->ho_state);
	assert_int_equal(a->nfiles, b->nfiles);
	assert_int_equal(a->recovered, b->recovered);
	assert_int_equal(a->recovered_gen, b->recovered_gen);
	assert_int_equal(a->epoch, b->epoch);
}

static void assert_table_equal(const struct vol_table *a, const struct vol_table *b)
{
	assert_int_equal(a->host, b->host);
	assert_int_equal(a->host_gen, b->host_gen);
	for (uint32_t i = 0; i < VOL_SLOTS_PER_SECTOR; i++) {
		const struct vol_entry *x = &a->e[i], *y = &b->e[i];

		assert_int_equal(x->state, y->state);
		if (x->state == VOL_E_FREE)
			continue;
		assert_int_equal(x->mode, y->mode);
		assert_int_equal(lk_gen_cmp(x->gen, y->gen), 0);
		assert_int_equal(x->since_ms, y->since_ms);
		assert_int_equal(x->handoff_id, y->handoff_id);
		assert_string_equal(x->path, y->path);
	}
}

static void roundtrip(const struct kind *k)
{
	uint8_t buf[VOL_SECTOR_SIZE], again[VOL_SECTOR_SIZE];
	union value want, got;

	sample_sector(k, buf);
	assert_int_equal(k->decode(buf, &got), 0);
	/* the decoded value equals the sample and encodes to the same bytes */
	switch (k->type) {
	case VOL_OD_SUPER:
		want.s = sample_super();
		assert_super_equal(&got.s, &want.s);
		vol_encode_super(&got.s, again);
		break;
	case VOL_OD_HEARTBEAT:
		want.hb = sample_heartbeat();
		assert_heartbeat_equal(&got.hb, &want.hb);
		vol_encode_heartbeat(&geom, &got.hb, again);
		break;
	case VOL_OD_JOURNAL:
		want.j = sample_journal();
		assert_journal_equal(&got.j, &want.j);
		vol_encode_journal(&geom, k->idx, &got.j, again);
		break;
	case VOL_OD_TABLE:
		want.t = sample_table();
		assert_table_equal(&got.t, &want.t);
		assert_int_equal(strlen(got.t.e[6].path), LK_PATH_MAX);
		vol_encode_table(&geom, k->idx, &got.t, again);
		break;
	}
	assert_memory_equal(buf, again, VOL_SECTOR_SIZE);
}

static void bad_crc(const struct kind *k)
{
	uint8_t buf[VOL_SECTOR_SIZE];

	sample_sector(k, buf);
	buf[VOL_OD_HDR_SIZE + 9] ^= 0x01;
	expect_decode(k, buf, VOL_ECRC);
	sample_sector(k, buf);
	buf[VOL_SECTOR_SIZE - 1] ^= 0x80; /* pad bytes are covered too */
	expect_decode(k, buf, VOL_ECRC);
}

static void bad_magic(const struct kind *k)
{
	uint8_t buf[VOL_SECTOR_SIZE];

	sample_sector(k, buf);
	apply(buf, &(struct patch)PUT(struct vol_od_hdr, magic, 0x4d465356));
	expect_decode(k, buf, VOL_EMAGIC);
}

static void other_uuid(const struct kind *k)
{
	uint8_t buf[VOL_SECTOR_SIZE];

	sample_sector(k, buf);
	apply(buf, &(struct patch){ offsetof(struct vol_od_hdr, uuid) + 15, 1, 0x00, false });
	expect_decode(k, buf, VOL_EUUID);
}

static void newer_major(const struct kind *k)
{
	uint8_t buf[VOL_SECTOR_SIZE];

	sample_sector(k, buf);
	apply(buf, &(struct patch)PUT(struct vol_od_hdr, major, VOL_MAJOR + 1));
	expect_decode(k, buf, VOL_EMAJOR);
}

static void newer_minor(const struct kind *k)
{
	uint8_t buf[VOL_SECTOR_SIZE];
	union value out;

	sample_sector(k, buf);
	apply(buf, &(struct patch)PUT(struct vol_od_hdr, minor, VOL_MINOR + 1));
	/* and a newer minor's use of reserved space */
	apply(buf, &(struct patch)FILL(struct vol_od_hdr, pad, 0xee));
	apply(buf, &(struct patch){ VOL_SECTOR_SIZE - 8, 8, 0x0102030405060708ull, false });
	assert_int_equal(k->decode(buf, &out), 0);
	if (k->type == VOL_OD_SUPER)
		assert_int_equal(out.s.minor, VOL_MINOR + 1);
}

static void wrong_index(const struct kind *k)
{
	uint8_t buf[VOL_SECTOR_SIZE];

	sample_sector(k, buf);
	apply(buf, &(struct patch)PUT(struct vol_od_hdr, index, k->idx + 1));
	expect_decode(k, buf, VOL_EINDEX);
}

static void wrong_type(const struct kind *k)
{
	uint8_t buf[VOL_SECTOR_SIZE];

	k->encode_other_kind(buf);
	expect_decode(k, buf, VOL_ETYPE);
}

static void zero(const struct kind *k)
{
	uint8_t buf[VOL_SECTOR_SIZE];

	memset(buf, 0, sizeof(buf));
	expect_decode(k, buf, VOL_EZERO);
}

static void torn(const struct kind *k)
{
	uint8_t old[VOL_SECTOR_SIZE], new[VOL_SECTOR_SIZE];

	k->encode(false, old);
	k->encode(true, new);
	assert_memory_not_equal(old + k->tear_at, new + k->tear_at, VOL_SECTOR_SIZE - k->tear_at);
	memcpy(new + k->tear_at, old + k->tear_at, VOL_SECTOR_SIZE - k->tear_at);
	expect_decode(k, new, VOL_ECRC);
}

static void field_range(const struct kind *k)
{
	uint8_t buf[VOL_SECTOR_SIZE];

	union value out;
	int rc;

	for (size_t i = 0; i < MAX_PATCHES && k->bad_fields[i].len; i++) {
		sample_sector(k, buf);
		apply(buf, &k->bad_fields[i]);
		rc = k->decode(buf, &out);
		if (rc != VOL_EFIELD)
			fail_msg("bad field %zu (offset %zu): decode gave %d, not VOL_EFIELD", i,
				 k->bad_fields[i].off, rc);
	}
}

#define KIND_TESTS(behaviour)                                                   \
	static void test_vol_super_##behaviour(void **state)                   \
	{                                                                       \
		(void)state;                                                    \
		behaviour(&kinds[VOL_OD_SUPER]);                                \
	}                                                                       \
	static void test_vol_heartbeat_##behaviour(void **state)               \
	{                                                                       \
		(void)state;                                                    \
		behaviour(&kinds[VOL_OD_HEARTBEAT]);                            \
	}                                                                       \
	static void test_vol_journal_##behaviour(void **state)                 \
	{                                                                       \
		(void)state;                                                    \
		behaviour(&kinds[VOL_OD_JOURNAL]);                              \
	}                                                                       \
	static void test_vol_table_##behaviour(void **state)                   \
	{                                                                       \
		(void)state;                                                    \
		behaviour(&kinds[VOL_OD_TABLE]);                                \
	}
#define KIND_ENTRIES(behaviour)                                                 \
	cmocka_unit_test(test_vol_super_##behaviour),                           \
	cmocka_unit_test(test_vol_heartbeat_##behaviour),                       \
	cmocka_unit_test(test_vol_journal_##behaviour),                         \
	cmocka_unit_test(test_vol_table_##behaviour)

KIND_TESTS(roundtrip)
KIND_TESTS(bad_crc)
KIND_TESTS(bad_magic)
KIND_TESTS(other_uuid)
KIND_TESTS(newer_major)
KIND_TESTS(newer_minor)
KIND_TESTS(wrong_index)
KIND_TESTS(wrong_type)
KIND_TESTS(zero)
KIND_TESTS(torn)
KIND_TESTS(field_range)

/* --- single behaviours -------------------------------------------------------------- */

static void test_vol_super_learns_uuid_without_expectation(void **state)
{
	uint8_t buf[VOL_SECTOR_SIZE];
	struct vol_super s;

	(void)state;
	encode_super(false, buf);
	apply(buf, &(struct patch){ offsetof(struct vol_od_hdr, uuid), 1, 0x77, false });
	assert_int_equal(vol_decode_super(buf, sizeof(buf), NULL, &s), 0);
	assert_int_equal(s.geom.uuid[0], 0x77);
	assert_int_equal(s.geom.table_sectors, geom.table_sectors);
}

static void test_vol_table_misplaced_copy(void **state)
{
	uint8_t buf[VOL_SECTOR_SIZE];
	struct vol_table t = sample_table(), out;

	(void)state;
	vol_encode_table(&geom, TABLE_IDX, &t, buf);
	assert_int_equal(vol_decode_table(&geom, TABLE_IDX + 1, buf, &out), VOL_EINDEX);
}

static void test_vol_free_slot_is_zero_on_disk(void **state)
{
	uint8_t buf[VOL_SECTOR_SIZE];
	struct vol_table t = sample_table();
	struct vol_od_table od;

	(void)state;
	/* a freed slot's leftovers are not written */
	t.e[0].state = VOL_E_FREE;
	vol_encode_table(&geom, TABLE_IDX, &t, buf);
	memcpy(&od, buf, sizeof(od));
	for (size_t i = 0; i < sizeof(od.e[0]); i++)
		assert_int_equal(((const uint8_t *)&od.e[0])[i], 0);
}

static void test_vol_journal_recovery_roundtrip(void **state)
{
	uint8_t buf[VOL_SECTOR_SIZE];
	struct vol_journal j, out;

	(void)state;
	memset(&j, 0, sizeof(j));
	j.host = HOST;
	j.type = VOL_J_RECOVERY;
	j.recovered = 4;
	j.recovered_gen = 9;
	j.epoch = 3;
	vol_encode_journal(&geom, JOURNAL_IDX + 1, &j, buf);
	assert_int_equal(vol_decode_journal(&geom, JOURNAL_IDX + 1, buf, &out), 0);
	assert_journal_equal(&out, &j);
	apply(buf, &(struct patch)PUT(struct vol_od_journal, recovered, HOST)); /* itself */
	assert_int_equal(vol_decode_journal(&geom, JOURNAL_IDX + 1, buf, &out), VOL_EFIELD);
}

static void test_vol_layout_pinned(void **state)
{
	(void)state;
	assert_int_equal(sizeof(struct vol_od_hdr), 64);
	assert_int_equal(offsetof(struct vol_od_table, e) +
				 VOL_SLOTS_PER_SECTOR * sizeof(struct vol_od_entry),
			 4000);
	assert_int_equal(sizeof(struct vol_od_table), VOL_SECTOR_SIZE);
}

static void test_vol_crc32c_check_value(void **state)
{
	static const char check[] = "123456789";
	uint8_t zeros[32] = { 0 };

	(void)state;
	assert_int_equal(vol_crc32c(check, 9), 0xe3069283u);
	assert_int_equal(vol_crc32c(check, 0), 0);
	/* RFC 3720 B.4: 32 bytes of zeroes */
	assert_int_equal(vol_crc32c(zeros, sizeof(zeros)), 0x8a9136aau);
}

static void test_vol_layout_owner_of_every_sector(void **state)
{
	/* hosts 1..3, areas of 1 heartbeat + 2 journal + 3 table sectors */
	static const struct vol_geom g = {
		.sector_size = VOL_SECTOR_SIZE, .max_hosts = 3,
		.journal_sectors = 2, .table_sectors = 3,
	};
	static const struct {
		enum vol_kind kind;
		lk_host_t host;
		uint32_t n;
	} want[] = {
		{ VOL_K_SUPER, 0, 0 },
		{ VOL_K_HEARTBEAT, 1, 0 }, { VOL_K_JOURNAL, 1, 0 }, { VOL_K_JOURNAL, 1, 1 },
		{ VOL_K_TABLE, 1, 0 }, { VOL_K_TABLE, 1, 1 }, { VOL_K_TABLE, 1, 2 },
		{ VOL_K_HEARTBEAT, 2, 0 }, { VOL_K_JOURNAL, 2, 0 }, { VOL_K_JOURNAL, 2, 1 },
		{ VOL_K_TABLE, 2, 0 }, { VOL_K_TABLE, 2, 1 }, { VOL_K_TABLE, 2, 2 },
		{ VOL_K_HEARTBEAT, 3, 0 }, { VOL_K_JOURNAL, 3, 0 }, { VOL_K_JOURNAL, 3, 1 },
		{ VOL_K_TABLE, 3, 0 }, { VOL_K_TABLE, 3, 1 }, { VOL_K_TABLE, 3, 2 },
	};
	struct vol_loc loc = { .kind = VOL_K_TABLE, .host = 99, .n = 99 };

	(void)state;
	assert_int_equal(vol_total_sectors(&g), sizeof(want) / sizeof(want[0]));
	for (uint64_t idx = 0; idx < vol_total_sectors(&g); idx++) {
		assert_int_equal(vol_locate(&g, idx, &loc), 0);
		assert_int_equal(loc.kind, want[idx].kind);
		assert_int_equal(loc.host, want[idx].host);
		assert_int_equal(loc.n, want[idx].n);
		assert_int_equal(vol_sector_owner(&g, idx), want[idx].host);
		switch (loc.kind) {
		case VOL_K_SUPER:
			break;
		case VOL_K_HEARTBEAT:
			assert_int_equal(vol_hb_index(&g, loc.host), idx);
			break;
		case VOL_K_JOURNAL:
			assert_int_equal(vol_journal_index(&g, loc.host, loc.n), idx);
			break;
		case VOL_K_TABLE:
			assert_int_equal(vol_table_index(&g, loc.host, loc.n), idx);
			break;
		}
	}
	assert_int_equal(vol_locate(&g, vol_total_sectors(&g), &loc), -ERANGE);
	assert_int_equal(loc.host, 3); /* unchanged */
}

static void test_vol_strerror_names_every_code(void **state)
{
	(void)state;
	for (int e = VOL_EFIELD; e <= VOL_EZERO; e++) {
		assert_string_not_equal(vol_strerror(e), vol_strerror(e - 1));
		assert_string_not_equal(vol_err_name(e), "unknown");
	}
	assert_string_equal(vol_strerror(VOL_ECRC), "checksum mismatch: torn or corrupt sector");
	assert_string_equal(vol_err_name(VOL_EUUID), "uuid");
}

static void test_vol_describe_raw_shows_header(void **state)
{
	uint8_t buf[VOL_SECTOR_SIZE];
	char line[256];

	(void)state;
	encode_table(false, buf);
	buf[100] ^= 1;
	vol_describe_raw(buf, sizeof(buf), line, sizeof(line));
	assert_non_null(strstr(line, "magic 0x53464d56 version 1.0 type 4 index 10 "));
	assert_non_null(strstr(line, "5a112233-4455-4677-8899-aabbccddeeff"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		KIND_ENTRIES(roundtrip),
		KIND_ENTRIES(bad_crc),
		KIND_ENTRIES(bad_magic),
		KIND_ENTRIES(other_uuid),
		KIND_ENTRIES(newer_major),
		KIND_ENTRIES(newer_minor),
		KIND_ENTRIES(wrong_index),
		KIND_ENTRIES(wrong_type),
		KIND_ENTRIES(zero),
		KIND_ENTRIES(torn),
		KIND_ENTRIES(field_range),
		cmocka_unit_test(test_vol_super_learns_uuid_without_expectation),
		cmocka_unit_test(test_vol_table_misplaced_copy),
		cmocka_unit_test(test_vol_free_slot_is_zero_on_disk),
		cmocka_unit_test(test_vol_journal_recovery_roundtrip),
		cmocka_unit_test(test_vol_layout_pinned),
		cmocka_unit_test(test_vol_crc32c_check_value),
		cmocka_unit_test(test_vol_layout_owner_of_every_sector),
		cmocka_unit_test(test_vol_strerror_names_every_code),
		cmocka_unit_test(test_vol_describe_raw_shows_header),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vol_ondisk.c - the one file that converts between the lock volume's byte format
 * (vol_ondisk.h) and the in-memory types of vol.h. Nothing else touches sector bytes.
 *
 * Encoding fills a zeroed copy of the on-disk structure field by field in little-endian,
 * computes the CRC32C last over the whole sector with the crc field zeroed, then copies
 * the sector out. Decoding copies the sector in and checks, in this order, stopping at
 * the first failure: all zero, magic, major version, type, index, datastore UUID, CRC,
 * then the fields themselves. The field rules are written once, on the in-memory
 * values (the *_ok functions): decoding returns VOL_EFIELD when they fail, encoding
 * asserts them, so whatever this code writes it also reads back.
 *
 * Sections: common header; strings; field rules; superblock; heartbeat; journal;
 * lock table; raw description.
 */
#include <assert.h>
#include <endian.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "lockd/volume/vol.h"
#include "lockd/volume/vol_ondisk.h"

/* --- common header ------------------------------------------------------------------ */

static bool all_zero(const void *buf, size_t len)
{
	const uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

static void hdr_put(struct vol_od_hdr *h, enum vol_od_type type, uint64_t idx,
		    const uint8_t uuid[16])
{
	h->magic = htole32(VOL_OD_MAGIC);
	h->major = htole16(VOL_MAJOR);
	h->minor = htole16(VOL_MINOR);
	h->type = htole16(type);
	h->index = htole64(idx);
	memcpy(h->uuid, uuid, sizeof(h->uuid));
}

/* The CRC of a sector whose header is h and which is len bytes long: crc taken as zero. */
static uint32_t sector_crc(struct vol_od_hdr *h, size_t len)
{
	uint32_t stored = h->crc;
	uint32_t crc;

	h->crc = 0;
	crc = vol_crc32c(h, len);
	h->crc = stored;
	return crc;
}

/* Must be the last step of every encoding. */
static void seal(struct vol_od_hdr *h, size_t len)
{
	h->crc = htole32(sector_crc(h, len));
}

/* h starts a local copy of a sector of len bytes. Returns 0 or the first VOL_E* failure. */
static int hdr_check(struct vol_od_hdr *h, size_t len, enum vol_od_type type, uint64_t idx,
		     const uint8_t *uuid)
{
	if (all_zero(h, len))
		return VOL_EZERO;
	if (le32toh(h->magic) != VOL_OD_MAGIC)
		return VOL_EMAGIC;
	if (le16toh(h->major) != VOL_MAJOR)
		return VOL_EMAJOR;
	if (le16toh(h->type) != type)
		return VOL_ETYPE;
	if (le64toh(h->index) != idx)
		return VOL_EINDEX;
	if (uuid && memcmp(h->uuid, uuid, sizeof(h->uuid)) != 0)
		return VOL_EUUID;
	if (le32toh(h->crc) != sector_crc(h, len))
		return VOL_ECRC;
	return 0;
}

void vol_od_version(const void *buf, size_t len, uint16_t *major, uint16_t *minor)
{
	struct vol_od_hdr h;

	assert(len >= sizeof(h));
	memcpy(&h, buf, sizeof(h));
	*major = le16toh(h.major);
	*minor = le16toh(h.minor);
}

/* --- strings ------------------------------------------------------------------------ */

/* Copies a NUL-terminated string into a zeroed field of size bytes; it must fit. */
static void str_put(char *field, size_t size, const char *s)
{
	size_t n = strnlen(s, size);

	assert(n < size);
	memcpy(field, s, n);
}

/* A field holds a string, a NUL, then only zeroes; copies it to out (size bytes). */
static bool str_get(char *out, const char *field, size_t size)
{
	size_t n = strnlen(field, size);

	if (n == size || !all_zero(field + n, size - n))
		return false;
	memcpy(out, field, size);
	return true;
}

/* --- field rules, on in-memory values ------------------------------------------------ */

static bool name_ok(const char *s)
{
	return strnlen(s, VOL_NAME_MAX + 1) <= VOL_NAME_MAX;
}

static bool host_ok(const struct vol_geom *g, lk_host_t h)
{
	return h >= 1 && h <= g->max_hosts;
}

static bool geom_ok(const struct vol_geom *g)
{
	return g->sector_size == VOL_SECTOR_SIZE && g->max_hosts >= 1 &&
	       g->max_hosts <= LK_MAX_HOSTS && g->journal_sectors >= 1 &&
	       g->journal_sectors <= VOL_MAX_JOURNAL_SECTORS && g->table_sectors >= 1 &&
	       g->table_sectors <= VOL_MAX_TABLE_SECTORS;
}

static bool super_ok(const struct vol_super *s)
{
	return geom_ok(&s->geom) && name_ok(s->cluster) && s->cluster[0] != '\0' &&
	       s->hb_interval_ms > 0 && s->io_timeout_ms > 0 &&
	       s->host_dead_ms > s->hb_interval_ms && s->host_dead_ms > s->io_timeout_ms &&
	       s->epoch >= 1;
}

static bool heartbeat_ok(const struct vol_geom *g, lk_host_t owner,
			 const struct vol_heartbeat *hb)
{
	if (hb->host != owner || hb->state > VOL_HB_FENCED || !name_ok(hb->hostname))
		return false;
	if (hb->fenced_by > g->max_hosts)
		return false;
	return hb->state != VOL_HB_FENCED || hb->fenced_by >= 1;
}

static bool entry_ok(const struct vol_entry *e)
{
	size_t n;

	if (e->state > VOL_E_HANDOFF_IN)
		return false;
	if (e->state == VOL_E_FREE)
		return true;
	if (e->mode != LK_MODE_SH && e->mode != LK_MODE_MW && e->mode != LK_MODE_EX)
		return false;
	n = strnlen(e->path, LK_PATH_MAX + 1);
	if (n == 0 || n > LK_PATH_MAX)
		return false;
	if (e->state == VOL_E_HANDOFF_OUT || e->state == VOL_E_HANDOFF_IN)
		return e->handoff_id != 0;
	return true;
}

static bool table_ok(lk_host_t owner, const struct vol_table *t)
{
	if (t->host != owner)
		return false;
	for (uint32_t i = 0; i < VOL_SLOTS_PER_SECTOR; i++)
		if (!entry_ok(&t->e[i]))
			return false;
	return true;
}

static bool journal_ok(const struct vol_geom *g, lk_host_t owner, const struct vol_journal *j)
{
	if (j->host != owner)
		return false;
	switch (j->type) {
	case VOL_J_NONE:
		return true;
	case VOL_J_HANDOFF:
		return j->handoff_id != 0 && host_ok(g, j->src) && host_ok(g, j->dst) &&
		       j->src != j->dst;
	case VOL_J_RECOVERY:
		return host_ok(g, j->recovered) && j->recovered != owner;
	}
	return false;
}

/* The sector at idx must be of this kind: decoding at another index is a caller bug. */
static lk_host_t owner_of(const struct vol_geom *g, uint64_t idx, enum vol_kind kind)
{
	struct vol_loc loc;
	int rc = vol_locate(g, idx, &loc);

	assert(rc == 0 && loc.kind == kind);
	(void)rc;
	(void)kind;
	return loc.host;
}

/* --- superblock --------------------------------------------------------------------- */

void vol_encode_super(const struct vol_super *s, void *buf)
{
	struct vol_od_super od;

	assert(super_ok(s));
	memset(&od, 0, sizeof(od));
	hdr_put(&od.h, VOL_OD_SUPER, 0, s->geom.uuid);
	od.sector_size = htole32(s->geom.sector_size);
	od.max_hosts = htole32(s->geom.max_hosts);
	od.journal_sectors = htole32(s->geom.journal_sectors);
	od.table_sectors = htole32(s->geom.table_sectors);
	od.hb_interval_ms = htole32(s->hb_interval_ms);
	od.host_dead_ms = htole32(s->host_dead_ms);
	od.io_timeout_ms = htole32(s->io_timeout_ms);
	od.epoch = htole32(s->epoch);
	od.created_ms = htole64(s->created_ms);
	str_put(od.cluster, sizeof(od.cluster), s->cluster);
	seal(&od.h, sizeof(od));
	memcpy(buf, &od, sizeof(od));
}

int vol_decode_super(const void *buf, size_t buflen, const uint8_t *expect_uuid,
		     struct vol_super *out)
{
	struct vol_od_super od;
	struct vol_super s;
	int rc;

	assert(buflen >= sizeof(od));
	memcpy(&od, buf, sizeof(od));
	rc = hdr_check(&od.h, sizeof(od), VOL_OD_SUPER, 0, expect_uuid);
	if (rc)
		return rc;
	memset(&s, 0, sizeof(s));
	memcpy(s.geom.uuid, od.h.uuid, sizeof(s.geom.uuid));
	s.geom.sector_size = le32toh(od.sector_size);
	s.geom.max_hosts = le32toh(od.max_hosts);
	s.geom.journal_sectors = le32toh(od.journal_sectors);
	s.geom.table_sectors = le32toh(od.table_sectors);
	s.major = le16toh(od.h.major);
	s.minor = le16toh(od.h.minor);
	s.hb_interval_ms = le32toh(od.hb_interval_ms);
	s.host_dead_ms = le32toh(od.host_dead_ms);
	s.io_timeout_ms = le32toh(od.io_timeout_ms);
	s.epoch = le32toh(od.epoch);
	s.created_ms = le64toh(od.created_ms);
	if (!str_get(s.cluster, od.cluster, sizeof(od.cluster)) || !super_ok(&s))
		return VOL_EFIELD;
	*out = s;
	return 0;
}

/* --- heartbeat ---------------------------------------------------------------------- */

void vol_encode_heartbeat(const struct vol_geom *g, const struct vol_heartbeat *hb, void *buf)
{
	struct vol_od_heartbeat od;

	assert(g->sector_size == sizeof(od) && host_ok(g, hb->host));
	assert(heartbeat_ok(g, hb->host, hb));
	memset(&od, 0, sizeof(od));
	hdr_put(&od.h, VOL_OD_HEARTBEAT, vol_hb_index(g, hb->host), g->uuid);
	od.host = htole32(hb->host);
	od.state = htole32(hb->state);
	memcpy(od.host_uuid, hb->host_uuid, sizeof(od.host_uuid));
	od.host_gen = htole64(hb->host_gen);
	od.counter = htole64(hb->counter);
	od.wall_ms = htole64(hb->wall_ms);
	od.ring_seq = htole64(hb->ring_seq);
	od.ring_quorate = htole32(hb->ring_quorate);
	od.fenced_by = htole32(hb->fenced_by);
	od.hb_interval_ms = htole32(hb->hb_interval_ms);
	od.host_dead_ms = htole32(hb->host_dead_ms);
	od.io_timeout_ms = htole32(hb->io_timeout_ms);
	str_put(od.hostname, sizeof(od.hostname), hb->hostname);
	od.hwm_epoch = htole32(hb->gen_hwm.epoch);
	od.hwm_counter = htole64(hb->gen_hwm.counter);
	seal(&od.h, sizeof(od));
	memcpy(buf, &od, sizeof(od));
}

int vol_decode_heartbeat(const struct vol_geom *g, uint64_t idx, const void *buf,
			 struct vol_heartbeat *out)
{
	struct vol_od_heartbeat od;
	struct vol_heartbeat hb;
	lk_host_t owner = owner_of(g, idx, VOL_K_HEARTBEAT);
	uint32_t state, quorate;
	int rc;

	assert(g->sector_size == sizeof(od));
	memcpy(&od, buf, sizeof(od));
	rc = hdr_check(&od.h, sizeof(od), VOL_OD_HEARTBEAT, idx, g->uuid);
	if (rc)
		return rc;
	state = le32toh(od.state);
	quorate = le32toh(od.ring_quorate);
	if (state > VOL_HB_FENCED || quorate > 1)
		return VOL_EFIELD;
	memset(&hb, 0, sizeof(hb));
	hb.host = le32toh(od.host);
	hb.state = (enum vol_hb_state)state;
	memcpy(hb.host_uuid, od.host_uuid, sizeof(hb.host_uuid));
	hb.host_gen = le64toh(od.host_gen);
	hb.counter = le64toh(od.counter);
	hb.wall_ms = le64toh(od.wall_ms);
	hb.ring_seq = le64toh(od.ring_seq);
	hb.ring_quorate = quorate == 1;
	hb.fenced_by = le32toh(od.fenced_by);
	hb.hb_interval_ms = le32toh(od.hb_interval_ms);
	hb.host_dead_ms = le32toh(od.host_dead_ms);
	hb.io_timeout_ms = le32toh(od.io_timeout_ms);
	hb.gen_hwm.epoch = le32toh(od.hwm_epoch);
	hb.gen_hwm.counter = le64toh(od.hwm_counter);
	if (!str_get(hb.hostname, od.hostname, sizeof(od.hostname)) ||
	    !heartbeat_ok(g, owner, &hb))
		return VOL_EFIELD;
	*out = hb;
	return 0;
}

/* --- journal ------------------------------------------------------------------------ */

void vol_encode_journal(const struct vol_geom *g, uint64_t idx, const struct vol_journal *j,
			void *buf)
{
	struct vol_od_journal od;

	assert(g->sector_size == sizeof(od));
	assert(journal_ok(g, owner_of(g, idx, VOL_K_JOURNAL), j));
	memset(&od, 0, sizeof(od));
	hdr_put(&od.h, VOL_OD_JOURNAL, idx, g->uuid);
	od.host = htole32(j->host);
	od.type = htole32(j->type);
	od.host_gen = htole64(j->host_gen);
	od.wall_ms = htole64(j->wall_ms);
	if (j->type == VOL_J_HANDOFF) {
		od.handoff_id = htole64(j->handoff_id);
		od.src = htole32(j->src);
		od.dst = htole32(j->dst);
		od.ho_state = htole32(j->ho_state);
		od.nfiles = htole32(j->nfiles);
	} else if (j->type == VOL_J_RECOVERY) {
		od.recovered = htole32(j->recovered);
		od.recovered_gen = htole64(j->recovered_gen);
		od.epoch = htole32(j->epoch);
	}
	seal(&od.h, sizeof(od));
	memcpy(buf, &od, sizeof(od));
}

int vol_decode_journal(const struct vol_geom *g, uint64_t idx, const void *buf,
		       struct vol_journal *out)
{
	struct vol_od_journal od;
	struct vol_journal j;
	lk_host_t owner = owner_of(g, idx, VOL_K_JOURNAL);
	uint32_t type;
	int rc;

	assert(g->sector_size == sizeof(od));
	memcpy(&od, buf, sizeof(od));
	rc = hdr_check(&od.h, sizeof(od), VOL_OD_JOURNAL, idx, g->uuid);
	if (rc)
		return rc;
	type = le32toh(od.type);
	if (type > VOL_J_RECOVERY)
		return VOL_EFIELD;
	memset(&j, 0, sizeof(j));
	j.host = le32toh(od.host);
	j.host_gen = le64toh(od.host_gen);
	j.type = (enum vol_jrec_type)type;
	j.wall_ms = le64toh(od.wall_ms);
	j.handoff_id = le64toh(od.handoff_id);
	j.src = le32toh(od.src);
	j.dst = le32toh(od.dst);
	j.ho_state = le32toh(od.ho_state);
	j.nfiles = le32toh(od.nfiles);
	j.recovered = le32toh(od.recovered);
	j.recovered_gen = le64toh(od.recovered_gen);
	j.epoch = le32toh(od.epoch);
	if (!journal_ok(g, owner, &j))
		return VOL_EFIELD;
	*out = j;
	return 0;
}

/* --- lock table --------------------------------------------------------------------- */

static void entry_put(struct vol_od_entry *od, const struct vol_entry *e)
{
	size_t n;

	if (e->state == VOL_E_FREE)
		return;
	n = strlen(e->path);
	od->state = (uint8_t)e->state;
	od->mode = (uint8_t)e->mode;
	od->path_len = htole16((uint16_t)n);
	od->gen_epoch = htole32(e->gen.epoch);
	od->gen_counter = htole64(e->gen.counter);
	od->since_ms = htole64(e->since_ms);
	od->handoff_id = htole64(e->handoff_id);
	memcpy(od->path, e->path, n);
}

/* The raw checks entry_ok() cannot make: enum ranges, and the path's bytes. */
static bool entry_get(struct vol_entry *e, const struct vol_od_entry *od)
{
	size_t n = le16toh(od->path_len);

	if (od->state > VOL_E_HANDOFF_IN || od->mode > LK_MODE_EX || n > LK_PATH_MAX)
		return false;
	if (memchr(od->path, '\0', n) || !all_zero(od->path + n, LK_PATH_MAX - n))
		return false;
	if (od->state == VOL_E_FREE && (od->mode != LK_MODE_NONE || n != 0))
		return false;
	memset(e, 0, sizeof(*e));
	e->state = (enum vol_entry_state)od->state;
	e->mode = (enum lk_mode)od->mode;
	e->gen.epoch = le32toh(od->gen_epoch);
	e->gen.counter = le64toh(od->gen_counter);
	e->since_ms = le64toh(od->since_ms);
	e->handoff_id = le64toh(od->handoff_id);
	memcpy(e->path, od->path, n);
	return true;
}

void vol_encode_table(const struct vol_geom *g, uint64_t idx, const struct vol_table *t,
		      void *buf)
{
	struct vol_od_table od;

	assert(g->sector_size == sizeof(od));
	assert(table_ok(owner_of(g, idx, VOL_K_TABLE), t));
	memset(&od, 0, sizeof(od));
	hdr_put(&od.h, VOL_OD_TABLE, idx, g->uuid);
	od.host = htole32(t->host);
	od.host_gen = htole64(t->host_gen);
	for (uint32_t i = 0; i < VOL_SLOTS_PER_SECTOR; i++)
		entry_put(&od.e[i], &t->e[i]);
	seal(&od.h, sizeof(od));
	memcpy(buf, &od, sizeof(od));
}

int vol_decode_table(const struct vol_geom *g, uint64_t idx, const void *buf,
		     struct vol_table *out)
{
	struct vol_od_table od;
	struct vol_table t;
	lk_host_t owner = owner_of(g, idx, VOL_K_TABLE);
	int rc;

	assert(g->sector_size == sizeof(od));
	memcpy(&od, buf, sizeof(od));
	rc = hdr_check(&od.h, sizeof(od), VOL_OD_TABLE, idx, g->uuid);
	if (rc)
		return rc;
	memset(&t, 0, sizeof(t));
	t.host = le32toh(od.host);
	t.host_gen = le64toh(od.host_gen);
	for (uint32_t i = 0; i < VOL_SLOTS_PER_SECTOR; i++)
		if (!entry_get(&t.e[i], &od.e[i]))
			return VOL_EFIELD;
	if (!table_ok(owner, &t))
		return VOL_EFIELD;
	*out = t;
	return 0;
}

/* --- raw description ---------------------------------------------------------------- */

void vol_describe_raw(const void *buf, size_t len, char *out, size_t outlen)
{
	union {
		struct vol_od_hdr h;
		uint8_t bytes[VOL_SECTOR_SIZE];
	} copy;
	char uuid[VOL_UUID_STR_LEN];

	if (len < sizeof(copy.h)) {
		snprintf(out, outlen, "%zu bytes, shorter than a sector header", len);
		return;
	}
	if (len > sizeof(copy))
		len = sizeof(copy);
	memcpy(copy.bytes, buf, len);
	vol_uuid_str(copy.h.uuid, uuid);
	snprintf(out, outlen,
		 "magic 0x%08" PRIx32 " version %u.%u type %u index %" PRIu64
		 " uuid %s crc 0x%08" PRIx32 " computed 0x%08" PRIx32,
		 le32toh(copy.h.magic), le16toh(copy.h.major), le16toh(copy.h.minor),
		 le16toh(copy.h.type), le64toh(copy.h.index), uuid, le32toh(copy.h.crc),
		 sector_crc(&copy.h, len));
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vol.h - the lock volume: in-memory types, layout, sector encode/decode, sector I/O.
 *
 * Layout (sector = vol_geom.sector_size bytes, 4096 by default):
 *
 *   sector 0                    superblock (written by vmfsadm format; epoch by the
 *                               cold-start coordinator)
 *   host area h, h = 1..max_hosts, each 1 + journal_sectors + table_sectors long:
 *     heartbeat sector          host h only (or its recovery coordinator once fenced)
 *     journal sectors           host h only
 *     lock table sectors        host h only (or its recovery coordinator once fenced),
 *                               VOL_SLOTS_PER_SECTOR entries each
 *
 * The byte format lives in vol_ondisk.h and is converted in vol_ondisk.c only; callers
 * see the types below. Decoding validates in a fixed order (magic, version, type, index,
 * datastore UUID, CRC32C, then field ranges) and reports the first failure as a negative
 * VOL_E* code; it never trusts a field it has not validated. Opening a datastore and
 * formatting one live in vol_datastore.h.
 */
#ifndef VMFS_VOL_H
#define VMFS_VOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lockd/core/lk_types.h"

#define VOL_MAJOR 1u
#define VOL_MINOR 0u
#define VOL_SECTOR_SIZE 4096u
#define VOL_SLOTS_PER_SECTOR 7u
#define VOL_NAME_MAX 63u /* cluster and host names, bytes without the NUL */
#define VOL_DEFAULT_MAX_HOSTS 64u
#define VOL_DEFAULT_LOCKS_PER_HOST 1024u
#define VOL_JOURNAL_SECTORS 8u
/* Bounds a superblock must respect to decode (VOL_EFIELD otherwise). */
#define VOL_MAX_JOURNAL_SECTORS 1024u
#define VOL_MAX_LOCKS_PER_HOST 65536u
#define VOL_MAX_TABLE_SECTORS \
	((VOL_MAX_LOCKS_PER_HOST + VOL_SLOTS_PER_SECTOR - 1) / VOL_SLOTS_PER_SECTOR)

/* Decode results: 0 or one of these (negative). vol_strerror() names each in words. */
enum vol_err {
	VOL_EZERO = -1,    /* sector is all zeroes: never written, or truncated volume */
	VOL_EMAGIC = -2,   /* not a vmfs sector */
	VOL_EMAJOR = -3,   /* written by a newer (or unknown) major version */
	VOL_ETYPE = -4,    /* a vmfs sector of another kind than expected at this index */
	VOL_EINDEX = -5,   /* sector carries another index: misplaced or stale copy */
	VOL_EUUID = -6,    /* sector belongs to another datastore */
	VOL_ECRC = -7,     /* checksum mismatch: torn or corrupt */
	VOL_EFIELD = -8,   /* checksum fine but a field is out of range */
};
const char *vol_strerror(int err);
/* A short name for scripts: "zero", "magic", "major", "type", "index", "uuid", "crc", "field". */
const char *vol_err_name(int err);

/* The geometry every index computation needs; taken from the superblock. */
struct vol_geom {
	uint8_t uuid[16];
	uint32_t sector_size;     /* VOL_SECTOR_SIZE: the only size format major 1 knows */
	uint32_t max_hosts;       /* <= LK_MAX_HOSTS */
	uint32_t journal_sectors; /* per host */
	uint32_t table_sectors;   /* per host */
};

struct vol_super {
	struct vol_geom geom;
	uint16_t major, minor; /* as decoded; encoding always writes VOL_MAJOR.VOL_MINOR */
	char cluster[VOL_NAME_MAX + 1];
	uint32_t hb_interval_ms, host_dead_ms, io_timeout_ms;
	uint32_t epoch;      /* cluster epoch, first half of every lock generation */
	uint64_t created_ms; /* wall clock, for admins */
};

enum vol_hb_state {
	VOL_HB_UNUSED = 0, /* slot never used since format */
	VOL_HB_LIVE = 1,
	VOL_HB_CLEAN = 2,  /* clean shutdown: holds nothing */
	VOL_HB_FENCED = 3, /* lease expired; fenced_by recovered it */
};

struct vol_heartbeat {
	lk_host_t host;
	uint8_t host_uuid[16];
	uint64_t host_gen;  /* bumped at every lockd start */
	uint64_t counter;   /* bumped at every renewal */
	uint64_t wall_ms;   /* time of the renewal, for admins only */
	uint64_t ring_seq;  /* last cluster configuration this host installed ... */
	bool ring_quorate;  /* ... and whether it was quorate there */
	enum vol_hb_state state;
	lk_host_t fenced_by;
	uint32_t hb_interval_ms, host_dead_ms, io_timeout_ms;
	char hostname[VOL_NAME_MAX + 1];
	struct lk_gen gen_hwm; /* highest lock generation its replica had seen: a settle
				* moves past it, so no generation granted in deliveries
				* others missed is ever handed out again */
};

enum vol_entry_state {
	VOL_E_FREE = 0,
	VOL_E_INTENT = 1,      /* requested, not granted yet: others treat it as possibly held */
	VOL_E_HELD = 2,
	VOL_E_HANDOFF_OUT = 3, /* held, prepared for handoff to another host */
	VOL_E_HANDOFF_IN = 4,  /* prepared for handoff to this host, not committed yet */
};

struct vol_entry {
	enum vol_entry_state state;
	enum lk_mode mode;
	struct lk_gen gen;
	uint64_t since_ms;   /* wall clock of the grant, for admins */
	uint64_t handoff_id; /* 0 when not part of a handoff, never 0 in the HANDOFF states */
	char path[LK_PATH_MAX + 1];
};

struct vol_table {
	lk_host_t host;
	uint64_t host_gen;
	struct vol_entry e[VOL_SLOTS_PER_SECTOR];
};

enum vol_jrec_type {
	VOL_J_NONE = 0,
	VOL_J_HANDOFF = 1,  /* a handoff this host took part in, and its outcome */
	VOL_J_RECOVERY = 2, /* this host recovered (fenced and cleared) another host */
};

struct vol_journal {
	lk_host_t host;
	uint64_t host_gen;
	enum vol_jrec_type type;
	uint64_t wall_ms;
	/* VOL_J_HANDOFF */
	uint64_t handoff_id;
	lk_host_t src, dst;
	uint32_t ho_state; /* handoff state, as handoff/ho_core.h numbers it */
	uint32_t nfiles;
	/* VOL_J_RECOVERY */
	lk_host_t recovered;
	uint64_t recovered_gen;
	uint32_t epoch;
};

/* Words for admins: "unused", "live"...; "held", "handoff-out"...; "handoff"...; "?" if unknown. */
const char *vol_hb_state_name(enum vol_hb_state s);
const char *vol_entry_state_name(enum vol_entry_state s);
const char *vol_jrec_type_name(enum vol_jrec_type t);
/* The canonical 8-4-4-4-12 lowercase hex form, NUL-terminated. */
#define VOL_UUID_STR_LEN 37u
void vol_uuid_str(const uint8_t uuid[16], char out[VOL_UUID_STR_LEN]);

/* Layout. Hosts are 1..max_hosts; the functions do not check their arguments. */
uint64_t vol_total_sectors(const struct vol_geom *g);
uint64_t vol_hb_index(const struct vol_geom *g, lk_host_t h);
uint64_t vol_journal_index(const struct vol_geom *g, lk_host_t h, uint32_t j);
uint64_t vol_table_index(const struct vol_geom *g, lk_host_t h, uint32_t t);
/* The one host allowed to write sector idx (0 for the superblock). */
lk_host_t vol_sector_owner(const struct vol_geom *g, uint64_t idx);

/* What sector idx is: its kind, the host whose area holds it, its number within the kind. */
enum vol_kind {
	VOL_K_SUPER,
	VOL_K_HEARTBEAT,
	VOL_K_JOURNAL,
	VOL_K_TABLE,
};
struct vol_loc {
	enum vol_kind kind;
	lk_host_t host; /* 0 for the superblock */
	uint32_t n;     /* journal or table sector number within the host's area, else 0 */
};
/* 0, or -ERANGE (out unchanged) when idx lies past the end of the volume. */
int vol_locate(const struct vol_geom *g, uint64_t idx, struct vol_loc *out);

/*
 * Encode/decode. Every buffer is g->sector_size bytes. Encoding never fails for values
 * that decode would accept (it asserts on programmer errors such as an unterminated
 * path). Decoding returns 0 and fills *out, or a VOL_E* code and leaves *out unchanged.
 * vol_decode_super() learns the geometry from the sector itself; when expect_uuid is
 * not NULL it must match.
 */
void vol_encode_super(const struct vol_super *s, void *buf);
int vol_decode_super(const void *buf, size_t buflen, const uint8_t *expect_uuid,
		     struct vol_super *out);
void vol_encode_heartbeat(const struct vol_geom *g, const struct vol_heartbeat *hb, void *buf);
int vol_decode_heartbeat(const struct vol_geom *g, uint64_t idx, const void *buf,
			 struct vol_heartbeat *out);
void vol_encode_table(const struct vol_geom *g, uint64_t idx, const struct vol_table *t,
		      void *buf);
int vol_decode_table(const struct vol_geom *g, uint64_t idx, const void *buf,
		     struct vol_table *out);
void vol_encode_journal(const struct vol_geom *g, uint64_t idx, const struct vol_journal *j,
			void *buf);
int vol_decode_journal(const struct vol_geom *g, uint64_t idx, const void *buf,
		       struct vol_journal *out);

/*
 * One line describing a sector's raw header for an error report: magic, version, type,
 * index, stored and computed CRC. Never fails; buf holds len bytes.
 */
void vol_describe_raw(const void *buf, size_t len, char *out, size_t outlen);

/* CRC32C (Castagnoli) of len bytes; hardware instruction when the CPU has it (ISA-L). */
uint32_t vol_crc32c(const void *buf, size_t len);

/*
 * Sector I/O: a small ops table so the simulator and fault tests plug in their own.
 * Counts and indexes are in sectors of dev->sector_size; buffers are aligned to it.
 * Return 0 or -errno; a short transfer is -EIO.
 */
struct vol_dev;
struct vol_io_ops {
	int (*read)(struct vol_dev *d, uint64_t idx, uint32_t count, void *buf);
	int (*write)(struct vol_dev *d, uint64_t idx, uint32_t count, const void *buf);
	void (*close)(struct vol_dev *d);
};
struct vol_dev {
	const struct vol_io_ops *ops;
	void *priv;
	uint32_t sector_size;    /* bytes per volume sector */
	uint32_t dev_block_size; /* the device's logical block size (BLKSSZGET; 512 for files) */
	uint64_t nsectors;       /* size of the file or device, in volume sectors */
	char path[4096];
};

/*
 * The real backend: a regular file or a block device opened with O_DIRECT and O_DSYNC
 * (fdatasync after each write where O_DSYNC is refused). sector_size is the volume's.
 * Returns 0 and fills *out; or -errno and leaves *out unchanged: -EINVAL when the
 * file system refuses O_DIRECT or path is neither a regular file nor a block device,
 * -EMEDIUMTYPE when the device's logical block size does not divide sector_size.
 * Transfers return -EINVAL for a buffer not aligned to sector_size or a range past the
 * end. d->ops->close() closes it.
 */
int vol_direct_open(const char *path, bool writable, uint32_t sector_size, struct vol_dev *out);

/* count zeroed sectors aligned to sector_size, for O_DIRECT; free() them; NULL if out of memory. */
void *vol_alloc_sectors(uint32_t sector_size, uint32_t count);
#endif

/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vol_ondisk.h - the lock volume's byte format: one structure per sector kind, each
 * exactly VOL_SECTOR_SIZE bytes, all integers little-endian, every field naturally
 * aligned and every gap an explicit pad, so the compiler adds nothing (the
 * static_asserts below pin it). Only vol_ondisk.c reads or writes these structures;
 * everyone else goes through the encode/decode pairs of vol.h.
 *
 * Every sector starts with the common header:
 *
 *   off  size  field
 *     0     4  magic      VOL_OD_MAGIC, the bytes "VMFS" on disk
 *     4     2  major      a reader refuses a major it does not know (VOL_EMAJOR)
 *     6     2  minor      a newer minor of a known major only adds to reserved space
 *     8     2  type       enum vol_od_type, must match what the layout puts at index
 *    10     2  reserved
 *    12     4  crc        CRC32C over the whole sector with this field zeroed
 *    16     8  index      the sector's own index: catches misdirected and stale writes
 *    24    16  uuid       datastore UUID: catches sectors of another volume
 *    40    24  reserved
 *
 * Reserved and pad bytes are written as zero and ignored on read, so that a newer
 * minor version may use them.
 */
#ifndef VMFS_VOL_ONDISK_H
#define VMFS_VOL_ONDISK_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#include "lockd/volume/vol.h"

#define VOL_OD_MAGIC 0x53464d56u /* "VMFS" read as a little-endian u32 */

enum vol_od_type {
	VOL_OD_SUPER = 1,
	VOL_OD_HEARTBEAT = 2,
	VOL_OD_JOURNAL = 3,
	VOL_OD_TABLE = 4,
};

#define VOL_OD_HDR_SIZE 64u

struct vol_od_hdr {
	uint32_t magic;
	uint16_t major;
	uint16_t minor;
	uint16_t type;
	uint16_t reserved;
	uint32_t crc;
	uint64_t index;
	uint8_t uuid[16];
	uint8_t pad[24];
};
static_assert(sizeof(struct vol_od_hdr) == VOL_OD_HDR_SIZE, "common header size");
static_assert(offsetof(struct vol_od_hdr, crc) == 12, "crc offset");
static_assert(offsetof(struct vol_od_hdr, uuid) == 24, "uuid offset");

/* Strings are NUL-padded to the end of their field; bytes after the first NUL are zero. */
#define VOL_OD_NAME_SIZE (VOL_NAME_MAX + 1)

struct vol_od_super {
	struct vol_od_hdr h;
	uint32_t sector_size;
	uint32_t max_hosts;
	uint32_t journal_sectors;
	uint32_t table_sectors;
	uint32_t hb_interval_ms;
	uint32_t host_dead_ms;
	uint32_t io_timeout_ms;
	uint32_t epoch;
	uint64_t created_ms;
	char cluster[VOL_OD_NAME_SIZE];
	uint8_t pad[VOL_SECTOR_SIZE - VOL_OD_HDR_SIZE - 40 - VOL_OD_NAME_SIZE];
};
static_assert(sizeof(struct vol_od_super) == VOL_SECTOR_SIZE, "superblock size");
static_assert(offsetof(struct vol_od_super, cluster) == VOL_OD_HDR_SIZE + 40,
	      "superblock cluster offset");

struct vol_od_heartbeat {
	struct vol_od_hdr h;
	uint32_t host;
	uint32_t state;
	uint8_t host_uuid[16];
	uint64_t host_gen;
	uint64_t counter;
	uint64_t wall_ms;
	uint64_t ring_seq;
	uint32_t ring_quorate; /* 0 or 1 */
	uint32_t fenced_by;
	uint32_t hb_interval_ms;
	uint32_t host_dead_ms;
	uint32_t io_timeout_ms;
	uint32_t reserved;
	char hostname[VOL_OD_NAME_SIZE];
	uint32_t hwm_epoch;    /* highest lock generation the host's replica had seen */
	uint32_t reserved2;
	uint64_t hwm_counter;
	uint8_t pad[VOL_SECTOR_SIZE - VOL_OD_HDR_SIZE - 80 - VOL_OD_NAME_SIZE - 16];
};
static_assert(sizeof(struct vol_od_heartbeat) == VOL_SECTOR_SIZE, "heartbeat size");
static_assert(offsetof(struct vol_od_heartbeat, hostname) == VOL_OD_HDR_SIZE + 80,
	      "heartbeat hostname offset");

/* One record per journal sector; the fields of the other record type are zero. */
struct vol_od_journal {
	struct vol_od_hdr h;
	uint32_t host;
	uint32_t type;
	uint64_t host_gen;
	uint64_t wall_ms;
	uint64_t handoff_id;
	uint32_t src;
	uint32_t dst;
	uint32_t ho_state;
	uint32_t nfiles;
	uint32_t recovered;
	uint32_t epoch;
	uint64_t recovered_gen;
	uint8_t pad[VOL_SECTOR_SIZE - VOL_OD_HDR_SIZE - 64];
};
static_assert(sizeof(struct vol_od_journal) == VOL_SECTOR_SIZE, "journal size");
static_assert(offsetof(struct vol_od_journal, pad) == VOL_OD_HDR_SIZE + 64,
	      "journal body size");

/*
 * A lock table slot. A free slot is all zero. path holds path_len bytes without a NUL,
 * then zeroes to the end of the field.
 */
#define VOL_OD_ENTRY_SIZE 560u

struct vol_od_entry {
	uint8_t state;
	uint8_t mode;
	uint16_t path_len;
	uint32_t gen_epoch;
	uint64_t gen_counter;
	uint64_t since_ms;
	uint64_t handoff_id;
	char path[LK_PATH_MAX];
	uint8_t pad[VOL_OD_ENTRY_SIZE - 32 - LK_PATH_MAX];
};
static_assert(sizeof(struct vol_od_entry) == VOL_OD_ENTRY_SIZE, "table slot size");
static_assert(offsetof(struct vol_od_entry, path) == 32, "table slot path offset");

#define VOL_OD_TABLE_HEAD 16u /* host, pad, host_gen */

struct vol_od_table {
	struct vol_od_hdr h;
	uint32_t host;
	uint32_t pad0;
	uint64_t host_gen;
	struct vol_od_entry e[VOL_SLOTS_PER_SECTOR];
	uint8_t pad[VOL_SECTOR_SIZE - VOL_OD_HDR_SIZE - VOL_OD_TABLE_HEAD -
		    VOL_SLOTS_PER_SECTOR * VOL_OD_ENTRY_SIZE];
};
static_assert(sizeof(struct vol_od_table) == VOL_SECTOR_SIZE, "table size");
static_assert(offsetof(struct vol_od_table, e) == VOL_OD_HDR_SIZE + VOL_OD_TABLE_HEAD,
	      "table slots offset");

/*
 * The version fields of a raw sector, for error messages about VOL_EMAJOR; no validation
 * at all. len must be at least VOL_OD_HDR_SIZE.
 */
void vol_od_version(const void *buf, size_t len, uint16_t *major, uint16_t *minor);

#endif

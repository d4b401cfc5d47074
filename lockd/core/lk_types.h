/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lk_types.h - the small value types shared by the lock core, the lock volume and
 * the handoff state machine: host ids, lock modes and lock generations.
 * Nothing here does I/O or keeps state.
 */
#ifndef VMFS_LK_TYPES_H
#define VMFS_LK_TYPES_H

#include <stdbool.h>
#include <stdint.h>

/* A host is its corosync nodeid, 1..LK_MAX_HOSTS; it is also its slot on the volume. */
#define LK_MAX_HOSTS 128u
typedef uint32_t lk_host_t;

/* Lock names are paths relative to the datastore root, at most LK_PATH_MAX bytes. */
#define LK_PATH_MAX 527u

enum lk_mode {
	LK_MODE_NONE = 0,
	LK_MODE_SH = 1, /* readers only: base disks */
	LK_MODE_MW = 2, /* multi-writer: shared disks of clustered guests */
	LK_MODE_EX = 3, /* one writer host */
};

/* Generations grow across a cold start: the epoch is bumped in the superblock then. */
struct lk_gen {
	uint32_t epoch;
	uint64_t counter;
};

static inline int lk_gen_cmp(struct lk_gen a, struct lk_gen b)
{
	if (a.epoch != b.epoch)
		return a.epoch < b.epoch ? -1 : 1;
	if (a.counter != b.counter)
		return a.counter < b.counter ? -1 : 1;
	return 0;
}

/* SH shares with SH, MW with MW; everything else conflicts. */
static inline bool lk_mode_compatible(enum lk_mode a, enum lk_mode b)
{
	return a == b && (a == LK_MODE_SH || a == LK_MODE_MW);
}

/* "ex", "sh", "mw", "none"; lk_mode_parse returns LK_MODE_NONE for anything else. */
const char *lk_mode_name(enum lk_mode m);
enum lk_mode lk_mode_parse(const char *s);

#endif

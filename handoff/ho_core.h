/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ho_core.h - the handoff state machine: one record per handoff, its states and the
 * transitions between them. Pure: the lock core (lockd/core) owns the locks and calls
 * these functions when it applies a handoff message; nothing here touches a lock.
 *
 *               prepare                 commit          dst persisted, or dst recovered
 *   (none) ───────────────▶ PENDING ───────────────▶ COMMITTED ───────────────▶ DURABLE
 *                            │   │                              (final: the source's commit
 *                     abort, │   │ destination left             is answered either way)
 *       timeout, or source   │   ▼
 *        left (dst stayed)   │  IN_DOUBT ── dst's table shows the commit ──▶ COMMITTED
 *                            ▼     │
 *                         ABORTED ◀┘ dst's table does not show it, or dst recovered
 *
 * Invariants (ho_ok): an id is never reused; a record only moves along the arrows;
 * a final state (ABORTED, DURABLE) never changes; the file set never changes after
 * prepare.
 */
#ifndef VMFS_HO_CORE_H
#define VMFS_HO_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lockd/core/lk_types.h"

enum ho_state {
	HO_NONE = 0,
	HO_PENDING = 1,   /* prepared: dst may open, writes wait for commit */
	HO_IN_DOUBT = 2,  /* a party left before the outcome was known everywhere */
	HO_COMMITTED = 3, /* agreed: the locks are the destination's */
	HO_DURABLE = 4,   /* the destination has them in its lock table on disk */
	HO_ABORTED = 5,   /* the locks stay with the source */
};

struct ho_rec {
	uint64_t id;
	lk_host_t src, dst;
	uint64_t src_inc, dst_inc; /* incarnations of both ends at prepare */
	enum ho_state state;
	uint64_t commit_req;       /* the source's request that committed, answered at DURABLE */
	uint32_t nfiles;
	char **files;              /* owned */
};

/* "pending", "in-doubt", "committed", "durable", "aborted", "unknown". */
const char *ho_state_name(enum ho_state s);

/* What tooling is told: committed covers COMMITTED and DURABLE; IN_DOUBT reads pending. */
const char *ho_status_word(enum ho_state s);

/* True when from -> to is one of the arrows above. */
bool ho_transition_ok(enum ho_state from, enum ho_state to);

/* Moves r to state to; returns 0, or -EINVAL (r unchanged) when that is not an arrow. */
int ho_set_state(struct ho_rec *r, enum ho_state to);

/* Fills r as a new PENDING record with copies of files; 0 or -ENOMEM (r zeroed). */
int ho_rec_init(struct ho_rec *r, uint64_t id, lk_host_t src, uint64_t src_inc,
		lk_host_t dst, uint64_t dst_inc, const char *const *files, uint32_t nfiles);
int ho_rec_copy(struct ho_rec *dst, const struct ho_rec *src);
void ho_rec_free(struct ho_rec *r);
bool ho_rec_has_file(const struct ho_rec *r, const char *path);
bool ho_final(enum ho_state s);

/* The record's own invariants. */
bool ho_ok(const struct ho_rec *r);

#endif

/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lk_state_int.h - the replica's representation, shared by the files of lockd/core only.
 * Everything outside lockd/core goes through lk_core.h.
 */
#ifndef VMFS_LK_STATE_INT_H
#define VMFS_LK_STATE_INT_H

#include "lockd/core/lk_core.h"

struct lk_holder {
	lk_host_t host;
	uint64_t inc;
	enum lk_mode mode;
	struct lk_gen gen;
	uint64_t since_ms;
};

struct lk_lock {
	char *path;
	uint64_t handoff_id; /* pending or in-doubt handoff that this file is part of */
	uint32_t nh, caph;
	struct lk_holder *h;
};

/* What the cluster knows of one host slot. */
struct lk_hslot {
	bool member;
	uint64_t inc;       /* incarnation while member */
	uint64_t dead_inc;  /* departed incarnation whose locks await recovery, 0 if none */
	uint64_t dead_ring; /* last ring dead_inc shared with us */
	bool unsettled;     /* dead_inc's table not merged yet: no new ownership anywhere */
};

struct lk_sync {
	bool got, have;
	uint64_t lineage, seq;
	struct lk_gen hwm;
};

struct lk_state {
	lk_host_t self;
	const struct lk_rules *rules;

	/* replicated content: identical on every member of a configuration */
	bool have;      /* synced or cold-started */
	bool quorate;
	bool syncing;   /* waiting for SYNC from every member, then SNAPSHOT or COLDSTART */
	uint64_t ring;
	uint64_t lineage; /* ring of the last quorate configuration this state was authoritative in */
	uint64_t seq;     /* agreed messages applied in that ring */
	uint32_t epoch;
	uint64_t counter; /* last lock generation counter handed out in this epoch */
	uint32_t ho_counter;
	lk_host_t sync_winner;
	bool sync_cold;   /* the winner was asked to cold-start, not to send a snapshot */
	struct lk_hslot hosts[LK_MAX_HOSTS + 1];
	struct lk_sync sync[LK_MAX_HOSTS + 1];

	struct lk_lock **locks; /* sorted by path */
	size_t nlocks, caplocks;
	struct ho_rec *ho;      /* oldest first */
	size_t nho, capho;
};

/* Final handoff records kept for status queries; older ones are forgotten. */
#define LK_HO_HISTORY 256u

struct lk_lock *lk_find(const struct lk_state *s, const char *path, size_t *pos);
struct lk_lock *lk_lock_insert(struct lk_state *s, const char *path, size_t pos);
void lk_lock_remove(struct lk_state *s, size_t pos);
struct lk_holder *lk_holder_find(const struct lk_lock *l, lk_host_t h);
struct lk_holder *lk_holder_add(struct lk_lock *l);
void lk_holder_del(struct lk_lock *l, struct lk_holder *h);
bool lk_holder_orphan(const struct lk_state *s, const struct lk_holder *h);
size_t lk_view(const struct lk_state *s, const struct lk_lock *l, struct lk_lock_view *out);
struct ho_rec *lk_ho_find(const struct lk_state *s, uint64_t id);
struct ho_rec *lk_ho_add(struct lk_state *s);
void lk_ho_prune(struct lk_state *s);
void lk_state_clear(struct lk_state *s);
int lk_state_copy_content(struct lk_state *dst, const struct lk_state *src);
int lk_fx_push(struct lk_fxbuf *b, const struct lk_fx *fx);

#endif

/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lk_apply.c - the transitions of the replicated lock state machine.
 *
 * NOTES ON THE DESIGN
 *
 * Every member applies the same agreed messages in the same order, so every member
 * decides the same grants. What one replica cannot know is what another partition
 * delivered just before a split (virtual synchrony promises equal deliveries only to
 * members that move on together). Four rules make that safe:
 *
 *  1. Persist before use. A grantee writes the lock into its own table on disk before
 *     it lets a client use it (LK_FX_PERSIST); a releasing host removes it from its
 *     table before it multicasts RELEASE. The disk never shows less than what is used.
 *  2. A departed host is unsettled until its table can grow no more. It may have been
 *     granted locks in deliveries we never saw. The coordinator waits until the host's
 *     heartbeat acknowledges a later configuration (it flushes its table writes before
 *     that acknowledgement) or its lease expired, reads its table, and multicasts
 *     SETTLED. Until then nothing in the partition gains new ownership (acquire,
 *     rename, prepare, commit refuse with -EAGAIN). Where the table and this replica
 *     disagree, the higher generation wins (generations come from one counter), and
 *     a hold the table does not show is dropped: by rule 1 it is not in use.
 *  3. Orphans are not free. Locks of a departed incarnation stay held until the
 *     coordinator has seen its lease expire, fenced its slot and cleared its table
 *     (RECOVERED). A compatible mode may still share them (SH with SH, MW with MW).
 *  4. Only a quorate, synchronised replica changes anything. After a join every member
 *     announces the age of its state (SYNC: lineage = last quorate ring it was
 *     authoritative in, seq = messages applied there); the newest is sent as SNAPSHOT
 *     and replaces every replica. With no state anywhere and quorum, the coordinator
 *     rebuilds from the volume (COLDSTART) under a new epoch. When a member restarted,
 *     the lineage its previous incarnation knew may be lost with it (its quorum partner
 *     isolated): the snapshot then comes under a new epoch, so no generation handed
 *     out in a lost lineage is ever handed out again, and with the volume as read, so
 *     every incarnation that may hold locks the snapshot never heard of is orphaned.
 *
 *   replica:  (new) ──confchg──▶ SYNCING ──snapshot / coldstart──▶ READY
 *                                  ▲                                 │
 *                                  └──────── confchg with a join ────┘
 *             READY: quorate → mutations apply; inquorate → every request -ENOTCONN
 *
 * Names form a tree, as the files they name do: no lock is granted on a name while a lock
 * is held on a name above it ("vm1" above "vm1/disk.img") or below it (apply_acquire,
 * apply_rename: tree_clash). A host that renames or removes a directory holds the
 * directory's own name meanwhile, so no file under it can be locked under a name that is
 * about to change.
 *
 * One function per message; each checks its preconditions first and changes nothing
 * when it refuses (but the count of applied messages, identical on every replica). lk_check.c holds the invariants; the agent checks them after every
 * message it applies (lk_agent.c) and stops the host when one breaks.
 */
#include <errno.h>
#include <string.h>

#include "lockd/core/lk_state_int.h"

/* --- rules ---------------------------------------------------------------------------- */

static bool rule_grantable(const struct lk_lock_view *holders, size_t n, enum lk_mode mode)
{
	for (size_t i = 0; i < n; i++)
		if (!lk_mode_compatible(holders[i].mode, mode))
			return false;
	return true;
}

static bool rule_commit_moves(uint32_t i, uint32_t n)
{
	(void)i;
	(void)n;
	return true;
}

static bool rule_may_use(bool persisted)
{
	return persisted;
}

const struct lk_rules lk_rules_default = {
	.grantable = rule_grantable,
	.commit_moves = rule_commit_moves,
	.may_use = rule_may_use,
};

/* --- effects -------------------------------------------------------------------------- */

struct ctx {
	struct lk_state *s;
	const struct lk_msg *m;
	struct lk_fxbuf *fx;
	int err; /* first -ENOMEM */
};

static void push(struct ctx *c, const struct lk_fx *fx)
{
	int rc = lk_fx_push(c->fx, fx);

	if (rc < 0 && !c->err)
		c->err = rc;
}

static void reply(struct ctx *c, int rc)
{
	push(c, &(struct lk_fx){ .type = LK_FX_REPLY, .host = c->m->from, .inc = c->m->from_inc,
				 .req = c->m->req, .rc = rc });
}

static void reply_busy(struct ctx *c, const struct lk_holder *h, const struct lk_lock *l)
{
	push(c, &(struct lk_fx){ .type = LK_FX_REPLY, .host = c->m->from, .inc = c->m->from_inc,
				 .req = c->m->req, .rc = -EBUSY, .path = l->path, .holder = h->host,
				 .holder_mode = h->mode, .holder_gen = h->gen,
				 .handoff_id = l->handoff_id });
}

static void persist(struct ctx *c, lk_host_t host, uint64_t inc, uint64_t req, const char *path,
		    const char *old_path, enum lk_disk_state ds, const struct lk_holder *h,
		    uint64_t ho_id)
{
	push(c, &(struct lk_fx){ .type = LK_FX_PERSIST, .host = host, .inc = inc, .req = req,
				 .path = path,
				 .old_path = old_path, .disk_state = ds, .mode = h->mode,
				 .gen = h->gen, .handoff_id = ho_id });
}

static void simple_fx(struct ctx *c, enum lk_fx_type t, lk_host_t host, uint64_t inc,
		      const char *path)
{
	push(c, &(struct lk_fx){ .type = t, .host = host, .inc = inc, .path = path });
}

static void grants_open_fx(struct ctx *c)
{
	if (lk_state_grants_open(c->s))
		push(c, &(struct lk_fx){ .type = LK_FX_GRANTS_OPEN });
}

static struct lk_gen next_gen(struct lk_state *s)
{
	return (struct lk_gen){ .epoch = s->epoch, .counter = ++s->counter };
}

/*
 * Moves (epoch, counter) past a generation handed out elsewhere. A later epoch is taken
 * over as it is: whoever handed it out wrote it to the superblock first, so it stays
 * unique there.
 */
static void see_gen(struct lk_state *s, struct lk_gen g)
{
	if (g.epoch > s->epoch) {
		s->epoch = g.epoch;
		s->counter = g.counter;
	} else if (g.epoch == s->epoch && g.counter > s->counter) {
		s->counter = g.counter;
	}
}

/* --- common preconditions ----------------------------------------------------------- */

static bool valid_path(const char *p)
{
	size_t n;

	if (!p || !*p || *p == '/')
		return false;
	n = strnlen(p, LK_PATH_MAX + 1);
	return n <= LK_PATH_MAX && p[n - 1] != '/';
}

/* The checks every request shares; replies and returns false when one fails. */
static bool admit(struct ctx *c, bool new_ownership)
{
	const struct lk_state *s = c->s;
	const struct lk_hslot *hs;

	if (!s->quorate) {
		reply(c, -ENOTCONN);
		return false;
	}
	if (!s->have || s->syncing) {
		reply(c, -EAGAIN);
		return false;
	}
	if (!lk_state_is_member(s, c->m->from, c->m->from_inc)) {
		reply(c, -ESTALE);
		return false;
	}
	hs = &s->hosts[c->m->from];
	if (hs->dead_inc && hs->dead_inc != hs->inc) {
		reply(c, -ESTALE);
		return false;
	}
	if (new_ownership && !lk_state_grants_open(s)) {
		reply(c, -EAGAIN);
		return false;
	}
	return true;
}

/* --- configuration ------------------------------------------------------------------ */

/*
 * A pending handoff ends aborted: its files stay with the source (rewritten HELD in its
 * table where it still holds them), the destination drops its HANDOFF_IN entries.
 */
static void abort_handoff(struct ctx *c, struct ho_rec *r)
{
	struct lk_state *s = c->s;

	for (uint32_t i = 0; i < r->nfiles; i++) {
		struct lk_lock *l = lk_find(s, r->files[i], NULL);
		const struct lk_holder *h = l ? lk_holder_find(l, r->src) : NULL;

		if (l && l->handoff_id == r->id)
			l->handoff_id = 0;
		if (h && h->inc == r->src_inc && lk_state_is_member(s, r->src, r->src_inc))
			persist(c, r->src, r->src_inc, 0, l->path, NULL, LK_DISK_HELD, h, 0);
		simple_fx(c, LK_FX_UNPERSIST, r->dst, r->dst_inc, r->files[i]);
	}
	ho_set_state(r, HO_ABORTED);
}

/*
 * Pending handoffs whose parties left with this configuration change. The destination
 * leaving (whatever the source did) leaves it in doubt: it may have delivered a commit
 * we never saw, so its table decides. The source leaving alone aborts it: the source
 * fences its use before it commits, and the destination is here to tell it never
 * delivered a commit; the files stay with the source (orphaned).
 */
static void handoffs_after_departures(struct ctx *c)
{
	struct lk_state *s = c->s;

	for (size_t k = 0; k < s->nho; k++) {
		struct ho_rec *r = &s->ho[k];

		if (r->state != HO_PENDING)
			continue;
		if (!lk_state_is_member(s, r->dst, r->dst_inc)) {
			ho_set_state(r, HO_IN_DOUBT);
			continue;
		}
		if (!lk_state_is_member(s, r->src, r->src_inc))
			abort_handoff(c, r);
	}
}

static void apply_confchg(struct ctx *c)
{
	struct lk_state *s = c->s;
	const struct lk_msg *m = c->m;
	bool now_member[LK_MAX_HOSTS + 1] = { false };
	uint64_t now_inc[LK_MAX_HOSTS + 1] = { 0 };
	bool joined = false;

	for (uint32_t i = 0; i < m->u.confchg.nmembers; i++) {
		lk_host_t h = m->u.confchg.members[i].host;

		if (h < 1 || h > LK_MAX_HOSTS)
			continue;
		now_member[h] = true;
		now_inc[h] = m->u.confchg.members[i].inc;
	}
	for (lk_host_t h = 1; h <= LK_MAX_HOSTS; h++) {
		struct lk_hslot *hs = &s->hosts[h];
		bool was = hs->member;
		bool left = was && (!now_member[h] || now_inc[h] != hs->inc);

		if (left && s->have) {
			/* Its table may hold what we never saw granted. With an older incarnation
			 * still awaiting recovery, the slot keeps that one as dead_inc: the watch
			 * finds the newer one in the heartbeat and settles or recovers it. */
			if (!hs->dead_inc)
				hs->dead_inc = hs->inc;
			hs->dead_ring = s->ring;
			hs->unsettled = true;
		}
		if (now_member[h] && (!was || left))
			joined = true;
		hs->member = now_member[h];
		if (now_member[h])
			hs->inc = now_inc[h];
		/* The same incarnation back from a partition: its locks are live again. */
		if (hs->member && hs->dead_inc == hs->inc)
			hs->dead_inc = 0;
	}
	if (s->have)
		handoffs_after_departures(c);
	s->ring = m->u.confchg.ring;
	s->quorate = m->u.confchg.quorate;
	if (!s->have || joined || s->syncing) {
		s->syncing = true;
		s->sync_winner = 0;
		s->sync_cold = false;
		memset(s->sync, 0, sizeof(s->sync));
		return;
	}
	if (s->quorate) {
		s->lineage = s->ring;
		s->seq = 0;
	}
	grants_open_fx(c);
}

static void apply_sync(struct ctx *c)
{
	struct lk_state *s = c->s;
	const struct lk_msg *m = c->m;
	lk_host_t best = 0;
	bool all = true, fresh = false;

	if (!s->syncing || m->u.sync.ring != s->ring || s->sync_winner ||
	    !lk_state_is_member(s, m->from, m->from_inc) || s->sync[m->from].got)
		return;
	s->sync[m->from] = (struct lk_sync){ .got = true, .have = m->u.sync.have_state,
					     .lineage = m->u.sync.lineage, .seq = m->u.sync.seq,
					     .hwm = m->u.sync.gen_hwm };
	for (lk_host_t h = 1; h <= LK_MAX_HOSTS; h++) {
		const struct lk_sync *y = &s->sync[h];

		if (!s->hosts[h].member)
			continue;
		if (!y->got) {
			all = false;
			break;
		}
		fresh |= !y->have;
		if (y->have && (!best || y->lineage > s->sync[best].lineage ||
				(y->lineage == s->sync[best].lineage && y->seq > s->sync[best].seq)))
			best = h;
	}
	if (!all)
		return;
	if (best) {
		s->sync_winner = best;
		s->sync_cold = false;
		push(c, &(struct lk_fx){ .type = LK_FX_SEND_SNAPSHOT, .host = best,
					 .inc = s->hosts[best].inc, .ring = s->ring,
					 .new_epoch = fresh && s->quorate });
	} else if (s->quorate) {
		s->sync_winner = lk_state_coordinator(s);
		s->sync_cold = true;
		push(c, &(struct lk_fx){ .type = LK_FX_COLDSTART, .host = s->sync_winner,
					 .inc = s->hosts[s->sync_winner].inc,
					 .ring = s->ring });
	}
}

/* After SNAPSHOT or COLDSTART: the replica is authoritative in this configuration. */
static void become_ready(struct ctx *c)
{
	struct lk_state *s = c->s;

	s->have = true;
	s->syncing = false;
	s->sync_winner = 0;
	s->sync_cold = false;
	memset(s->sync, 0, sizeof(s->sync));
	if (s->quorate) {
		s->lineage = s->ring;
		s->seq = 0;
	}
	grants_open_fx(c);
}

static void merge_disk_hosts(struct ctx *c, const struct lk_disk_host *hosts, uint32_t n);

static void apply_snapshot(struct ctx *c)
{
	struct lk_state *s = c->s;
	const struct lk_msg *m = c->m;
	const struct lk_state *snap = m->u.snapshot.state;
	struct lk_gen hwm = { 0 };

	/* The sender applied this same configuration change, so its membership is ours. */
	if (!s->syncing || m->u.snapshot.ring != s->ring || m->from != s->sync_winner ||
	    s->sync_cold || !snap || snap->ring != s->ring)
		return;
	/* A member may have seen generations the snapshot's lineage never did (granted in
	 * deliveries only its side got): the counter moves past all of them. */
	for (lk_host_t h = 1; h <= LK_MAX_HOSTS; h++)
		if (s->sync[h].got && lk_gen_cmp(s->sync[h].hwm, hwm) > 0)
			hwm = s->sync[h].hwm;
	if (lk_state_copy_content(s, snap) < 0) {
		c->err = -ENOMEM;
		return;
	}
	see_gen(s, hwm);
	if (m->u.snapshot.epoch > s->epoch) {
		s->epoch = m->u.snapshot.epoch;
		s->counter = 0;
		s->ho_counter = 0;
		merge_disk_hosts(c, m->u.snapshot.hosts, m->u.snapshot.nhosts);
	}
	become_ready(c);
}

/* Adds one table entry of host (incarnation inc) read from disk; the higher generation wins. */
static void merge_disk_lock(struct ctx *c, lk_host_t host, uint64_t inc,
			    const struct lk_disk_lock *d)
{
	struct lk_state *s = c->s;
	struct lk_lock *l;
	struct lk_holder *h;
	size_t pos;

	if (d->state == LK_DISK_HANDOFF_IN || !valid_path(d->path))
		return;
	see_gen(s, d->gen);
	l = lk_find(s, d->path, &pos);
	if (!l) {
		l = lk_lock_insert(s, d->path, pos);
		if (!l) {
			c->err = -ENOMEM;
			return;
		}
	}
	h = lk_holder_find(l, host);
	if (h && h->inc == inc && lk_gen_cmp(h->gen, d->gen) >= 0)
		return;
	for (uint32_t i = 0; i < l->nh; i++) {
		const struct lk_holder *o = &l->h[i];

		if ((!lk_mode_compatible(o->mode, d->mode) || o->host == host) &&
		    lk_gen_cmp(o->gen, d->gen) > 0)
			return; /* a newer record conflicts: the disk entry is stale */
	}
	for (uint32_t i = 0; i < l->nh;) {
		struct lk_holder *o = &l->h[i];

		if (lk_mode_compatible(o->mode, d->mode) && o->host != host) {
			i++;
			continue;
		}
		/* The disk entry is newer: o's hold was released in deliveries we missed. A
		 * pending handoff of it by o cannot go on: it is aborted first. */
		if (l->handoff_id) {
			struct ho_rec *r = lk_ho_find(s, l->handoff_id);

			if (r && r->state == HO_PENDING && r->src == o->host && r->src_inc == o->inc)
				abort_handoff(c, r);
		}
		simple_fx(c, LK_FX_REVOKE, o->host, o->inc, l->path);
		simple_fx(c, LK_FX_UNPERSIST, o->host, o->inc, l->path);
		lk_holder_del(l, o);
	}
	h = lk_holder_add(l);
	if (!h) {
		c->err = -ENOMEM;
		return;
	}
	*h = (struct lk_holder){ .host = host, .inc = inc, .mode = d->mode, .gen = d->gen,
				 .since_ms = d->since_ms };
}

/* Settles an in-doubt handoff whose destination's table we now have. */
static void resolve_in_doubt(struct ctx *c, struct ho_rec *r, const struct lk_disk_lock *locks,
			     uint32_t n)
{
	struct lk_state *s = c->s;
	bool committed = false;

	for (uint32_t i = 0; i < n; i++)
		if (locks[i].handoff_id == r->id && locks[i].state == LK_DISK_HELD)
			committed = true;
	for (uint32_t i = 0; i < r->nfiles; i++) {
		struct lk_lock *l = lk_find(s, r->files[i], NULL);
		struct lk_holder *src = l ? lk_holder_find(l, r->src) : NULL;

		if (l && l->handoff_id == r->id)
			l->handoff_id = 0;
		if (!src || src->inc != r->src_inc)
			continue;
		if (committed) {
			/* The commit reached the destination: all files move, as at commit. */
			struct lk_holder *dst = lk_holder_find(l, r->dst);

			simple_fx(c, LK_FX_REVOKE, r->src, r->src_inc, r->files[i]);
			simple_fx(c, LK_FX_UNPERSIST, r->src, r->src_inc, r->files[i]);
			if (dst && dst->inc == r->dst_inc) {
				lk_holder_del(l, src); /* its table, merged already, shows it */
				continue;
			}
			src->host = r->dst;
			src->inc = r->dst_inc;
			src->gen = (struct lk_gen){ 0 };
			for (uint32_t k = 0; k < n; k++)
				if (locks[k].handoff_id == r->id && strcmp(locks[k].path, r->files[i]) == 0)
					src->gen = locks[k].gen;
			if (!src->gen.epoch)
				src->gen = next_gen(s); /* its entry was lost: a fresh generation */
		} else {
			persist(c, r->src, r->src_inc, 0, r->files[i], NULL, LK_DISK_HELD, src, 0);
			simple_fx(c, LK_FX_UNPERSIST, r->dst, r->dst_inc, r->files[i]);
		}
	}
	if (committed) {
		ho_set_state(r, HO_COMMITTED);
		ho_set_state(r, HO_DURABLE);
	} else {
		ho_set_state(r, HO_ABORTED);
	}
}

static bool disk_holds(const struct lk_disk_lock *locks, uint32_t n, const char *path)
{
	for (uint32_t i = 0; i < n; i++)
		if (locks[i].state != LK_DISK_HANDOFF_IN && strcmp(locks[i].path, path) == 0)
			return true;
	return false;
}

/* The table of departed incarnation (host, inc) as read from disk, merged into the replica. */
static void settle(struct ctx *c, lk_host_t host, uint64_t inc, const struct lk_disk_lock *locks,
		   uint32_t n)
{
	struct lk_state *s = c->s;
	struct lk_hslot *hs = &s->hosts[host];

	for (uint32_t i = 0; i < n; i++)
		see_gen(s, locks[i].gen);
	for (size_t i = 0; i < s->nho; i++)
		if (s->ho[i].state == HO_IN_DOUBT && s->ho[i].dst == host && s->ho[i].dst_inc == inc)
			resolve_in_doubt(c, &s->ho[i], locks, n);
	for (uint32_t i = 0; i < n && !c->err; i++)
		merge_disk_lock(c, host, inc, &locks[i]);
	/* What its table does not show, it does not use (persist before use): a hold we
	 * remember from an older lineage, released in deliveries we never saw. */
	for (size_t i = s->nlocks; i-- > 0;) {
		struct lk_lock *l = s->locks[i];
		struct lk_holder *h = lk_holder_find(l, host);

		if (h && h->inc == inc && !disk_holds(locks, n, l->path)) {
			simple_fx(c, LK_FX_REVOKE, host, inc, l->path);
			lk_holder_del(l, h);
			if (l->nh == 0)
				simple_fx(c, LK_FX_FREED, 0, 0, l->path);
		}
		if (l->nh == 0)
			lk_lock_remove(s, i);
	}
	hs->unsettled = false;
}

/*
 * Incarnation (host, inc) is gone (recovered, or proven replaced): every hold of it goes,
 * and a handoff to it still in doubt is aborted (its files stay with the source; if the
 * commit did reach it, it is dead now and uses nothing).
 */
static void forget_incarnation(struct ctx *c, lk_host_t host, uint64_t inc)
{
	struct lk_state *s = c->s;

	for (size_t i = 0; i < s->nho; i++) {
		struct ho_rec *r = &s->ho[i];

		if (r->dst != host || r->dst_inc != inc)
			continue;
		if (r->state == HO_IN_DOUBT)
			resolve_in_doubt(c, r, NULL, 0);
		if (r->state == HO_COMMITTED) {
			/* It never confirmed: the outcome stands (committed, its locks recovered
			 * with it); the source's commit is answered that its destination is lost. */
			ho_set_state(r, HO_DURABLE);
			push(c, &(struct lk_fx){ .type = LK_FX_REPLY, .host = r->src, .inc = r->src_inc,
						 .req = r->commit_req, .rc = -EHOSTDOWN,
						 .handoff_id = r->id });
		}
	}

	for (size_t i = s->nlocks; i-- > 0;) {
		struct lk_lock *l = s->locks[i];
		struct lk_holder *h = lk_holder_find(l, host);

		if (!h || h->inc != inc)
			continue;
		simple_fx(c, LK_FX_REVOKE, host, inc, l->path);
		lk_holder_del(l, h);
		if (l->nh == 0) {
			simple_fx(c, LK_FX_FREED, 0, 0, l->path);
			lk_lock_remove(s, i);
		}
	}
}

/*
 * The volume as read by the coordinator of a cold start, or by the sender of a snapshot
 * under a new epoch (when a lineage may have been lost with a restarted host): every
 * incarnation whose area shows it may still run or hold locks, and is not a member now,
 * becomes a departed incarnation with its table merged as orphans; it is unsettled when
 * it may still add to its table (live in a quorate ring) or its area did not read whole.
 * An older departed incarnation the replica remembered for the same slot was recovered
 * in the lost lineage (a newer one wrote the slot since): its holds go.
 */
static void merge_disk_hosts(struct ctx *c, const struct lk_disk_host *hosts, uint32_t n)
{
	struct lk_state *s = c->s;

	for (uint32_t i = 0; i < n && !c->err; i++) {
		const struct lk_disk_host *d = &hosts[i];
		struct lk_hslot *hs;

		if (d->host < 1 || d->host > LK_MAX_HOSTS || (!d->live && d->nlocks == 0))
			continue;
		hs = &s->hosts[d->host];
		if (hs->member && hs->inc == d->inc)
			continue; /* a member's current incarnation is never recovered */
		if (hs->dead_inc && hs->dead_inc != d->inc)
			forget_incarnation(c, d->host, hs->dead_inc);
		if (hs->dead_inc != d->inc) {
			hs->dead_inc = d->inc;
			hs->unsettled = false;
		}
		hs->dead_ring = d->complete ? d->ring_seq : UINT64_MAX;
		hs->unsettled |= (d->live && d->ring_quorate) || !d->complete;
		for (uint32_t j = 0; j < d->nlocks && !c->err; j++)
			merge_disk_lock(c, d->host, d->inc, &d->locks[j]);
	}
}

/*
 * Is inc the incarnation a SETTLED or RECOVERED for this slot may name? The one awaiting
 * recovery, or (member or not) the slot's current one while unsettled, or a newer one
 * the coordinator found in the heartbeat: a newer incarnation writes its slot only after
 * the older one was recovered (in deliveries we may have missed), so the older one is
 * forgotten and the newer one takes its place.
 */
static bool adopt_incarnation(struct ctx *c, lk_host_t host, uint64_t inc)
{
	struct lk_hslot *hs = &c->s->hosts[host];

	if (hs->dead_inc == inc || (!hs->dead_inc && hs->unsettled && hs->inc == inc))
		return true;
	if (!hs->dead_inc || inc < hs->dead_inc || (hs->member && hs->inc == inc))
		return false;
	forget_incarnation(c, host, hs->dead_inc);
	hs->dead_inc = inc;
	return true;
}

static bool coordinator_msg_ok(struct ctx *c)
{
	const struct lk_state *s = c->s;

	return s->have && !s->syncing && s->quorate &&
	       lk_state_is_member(s, c->m->from, c->m->from_inc);
}

static void apply_settled(struct ctx *c)
{
	struct lk_state *s = c->s;
	const struct lk_msg *m = c->m;
	lk_host_t host = m->u.settled.host;
	struct lk_hslot *hs;

	if (!coordinator_msg_ok(c) || host < 1 || host > LK_MAX_HOSTS)
		return;
	hs = &s->hosts[host];
	if (!hs->unsettled || !adopt_incarnation(c, host, m->u.settled.inc))
		return;
	see_gen(s, m->u.settled.gen_hwm);
	settle(c, host, m->u.settled.inc, m->u.settled.locks, m->u.settled.nlocks);
	grants_open_fx(c);
}

static void apply_recovered(struct ctx *c)
{
	struct lk_state *s = c->s;
	const struct lk_msg *m = c->m;
	lk_host_t host = m->u.recovered.host;
	uint64_t inc = m->u.recovered.inc;
	struct lk_hslot *hs;

	if (!coordinator_msg_ok(c) || host < 1 || host > LK_MAX_HOSTS)
		return;
	hs = &s->hosts[host];
	if (!adopt_incarnation(c, host, inc) && !(hs->unsettled && hs->inc == inc))
		return;
	if (hs->dead_inc && hs->dead_inc != inc)
		forget_incarnation(c, host, hs->dead_inc); /* older, recovered before this one */
	see_gen(s, m->u.recovered.gen_hwm);
	if (hs->unsettled)
		settle(c, host, inc, m->u.recovered.locks, m->u.recovered.nlocks);
	forget_incarnation(c, host, inc);
	hs->dead_inc = 0;
	hs->unsettled = false;
	grants_open_fx(c);
}

static void apply_coldstart(struct ctx *c)
{
	struct lk_state *s = c->s;
	const struct lk_msg *m = c->m;

	if (!s->syncing || !s->quorate || m->u.coldstart.ring != s->ring ||
	    m->from != s->sync_winner || !s->sync_cold)
		return;
	lk_state_clear(s);
	s->epoch = m->u.coldstart.epoch;
	s->counter = 0;
	s->ho_counter = 0;
	merge_disk_hosts(c, m->u.coldstart.hosts, m->u.coldstart.nhosts);
	become_ready(c);
}

/* --- locks ----------------------------------------------------------------------------- */

static const struct lk_lock *tree_clash(const struct lk_state *s, const char *path);

static void apply_acquire(struct ctx *c)
{
	struct lk_state *s = c->s;
	const struct lk_msg *m = c->m;
	const char *path = m->u.acquire.path;
	enum lk_mode mode = m->u.acquire.mode;
	struct lk_lock_view v[LK_MAX_HOSTS];
	const struct lk_lock *t;
	struct lk_lock *l;
	struct lk_holder *h;
	size_t pos, n;

	if (!valid_path(path) || mode < LK_MODE_SH || mode > LK_MODE_EX) {
		reply(c, -EINVAL);
		return;
	}
	if (!admit(c, true))
		return;
	t = tree_clash(s, path);
	if (t) {
		reply_busy(c, &t->h[0], t);
		return;
	}
	l = lk_find(s, path, &pos);
	if (l) {
		h = lk_holder_find(l, m->from);
		if (l->handoff_id) {
			reply_busy(c, h ? h : &l->h[0], l);
			return;
		}
		if (h && h->mode == mode && h->inc == m->from_inc) {
			persist(c, m->from, m->from_inc, m->req, l->path, NULL, LK_DISK_HELD, h, 0);
			return;
		}
		if (h) {
			reply_busy(c, h, l);
			return;
		}
		n = lk_view(s, l, v);
		if (!s->rules->grantable(v, n, mode)) {
			for (uint32_t i = 0; i < l->nh; i++)
				if (!lk_mode_compatible(l->h[i].mode, mode)) {
					reply_busy(c, &l->h[i], l);
					return;
				}
			reply_busy(c, &l->h[0], l);
			return;
		}
	} else {
		l = lk_lock_insert(s, path, pos);
		if (!l) {
			c->err = -ENOMEM;
			return;
		}
	}
	h = lk_holder_add(l);
	if (!h) {
		c->err = -ENOMEM;
		return;
	}
	*h = (struct lk_holder){ .host = m->from, .inc = m->from_inc, .mode = mode,
				 .gen = next_gen(s), .since_ms = m->wall_ms };
	persist(c, m->from, m->from_inc, m->req, l->path, NULL, LK_DISK_HELD, h, 0);
}

/* A held lock on a name above path or below it, or NULL (the notes at the top). */
static const struct lk_lock *tree_clash(const struct lk_state *s, const char *path)
{
	char up[LK_PATH_MAX + 1];
	size_t n = strlen(path), pos;
	const struct lk_lock *l;

	for (size_t k = 1; k < n && k <= LK_PATH_MAX; k++) {
		if (path[k] != '/')
			continue;
		memcpy(up, path, k);
		up[k] = '\0';
		if ((l = lk_find(s, up, NULL)))
			return l;
	}
	lk_find(s, path, &pos);
	for (; pos < s->nlocks; pos++) {
		l = s->locks[pos];
		if (strncmp(l->path, path, n) != 0)
			return NULL;
		if (l->path[n] == '/')
			return l;
	}
	return NULL;
}

static void apply_release(struct ctx *c)
{
	struct lk_state *s = c->s;
	const struct lk_msg *m = c->m;
	struct lk_lock *l;
	struct lk_holder *h;
	size_t pos;

	if (!valid_path(m->u.release.path)) {
		reply(c, -EINVAL);
		return;
	}
	if (!admit(c, false))
		return;
	l = lk_find(s, m->u.release.path, &pos);
	h = l ? lk_holder_find(l, m->from) : NULL;
	if (!h || h->inc != m->from_inc) {
		reply(c, -ENOENT);
		return;
	}
	if (l->handoff_id && lk_ho_find(s, l->handoff_id) &&
	    lk_ho_find(s, l->handoff_id)->src == m->from) {
		reply_busy(c, h, l); /* the source lets go by commit or abort */
		return;
	}
	lk_holder_del(l, h);
	reply(c, 0);
	if (l->nh == 0) {
		simple_fx(c, LK_FX_FREED, 0, 0, m->u.release.path);
		lk_lock_remove(s, pos);
	}
}

static bool has_children(const struct lk_state *s, const char *dir)
{
	size_t n = strlen(dir), pos;

	lk_find(s, dir, &pos);
	for (; pos < s->nlocks; pos++) {
		const char *p = s->locks[pos]->path;

		if (strncmp(p, dir, n) != 0)
			return false;
		if (p[n] == '/')
			return true;
	}
	return false;
}

static void apply_rename(struct ctx *c)
{
	struct lk_state *s = c->s;
	const struct lk_msg *m = c->m;
	const char *from = m->u.rename.from, *to = m->u.rename.to;
	const struct lk_lock *t;
	struct lk_lock *l, *nl;
	struct lk_holder *h;
	struct lk_holder moved;
	size_t pos, npos;

	if (!valid_path(from) || !valid_path(to) || strcmp(from, to) == 0) {
		reply(c, -EINVAL);
		return;
	}
	if (!admit(c, true))
		return;
	l = lk_find(s, from, &pos);
	h = l ? lk_holder_find(l, m->from) : NULL;
	if (!h || h->inc != m->from_inc || h->mode != LK_MODE_EX) {
		reply(c, -ENOENT);
		return;
	}
	if (l->handoff_id) {
		reply_busy(c, h, l);
		return;
	}
	if (has_children(s, from)) {
		reply(c, -ENOTEMPTY);
		return;
	}
	if (lk_find(s, to, NULL) || has_children(s, to)) {
		reply(c, -EEXIST);
		return;
	}
	t = tree_clash(s, to);
	if (t) {
		reply_busy(c, &t->h[0], t);
		return;
	}
	moved = *h;
	moved.gen = next_gen(s);
	moved.since_ms = m->wall_ms;
	lk_lock_remove(s, pos);
	lk_find(s, to, &npos);
	nl = lk_lock_insert(s, to, npos);
	h = nl ? lk_holder_add(nl) : NULL;
	if (!h) {
		c->err = -ENOMEM;
		return;
	}
	*h = moved;
	persist(c, m->from, m->from_inc, m->req, nl->path, from, LK_DISK_HELD, h, 0);
	simple_fx(c, LK_FX_FREED, 0, 0, from);
}

/* --- handoff --------------------------------------------------------------------------- */

static void apply_ho_prepare(struct ctx *c)
{
	struct lk_state *s = c->s;
	const struct lk_msg *m = c->m;
	lk_host_t to = m->u.ho_prepare.to;
	uint32_t n = m->u.ho_prepare.nfiles;
	const char *const *files = m->u.ho_prepare.files;
	struct ho_rec *r;
	uint64_t id;

	if (n == 0 || !files || to < 1 || to > LK_MAX_HOSTS || to == m->from) {
		reply(c, -EINVAL);
		return;
	}
	for (uint32_t i = 0; i < n; i++) {
		if (!valid_path(files[i])) {
			reply(c, -EINVAL);
			return;
		}
		for (uint32_t j = 0; j < i; j++)
			if (strcmp(files[i], files[j]) == 0) {
				reply(c, -EINVAL);
				return;
			}
	}
	if (!admit(c, true))
		return;
	if (!s->hosts[to].member || lk_state_awaits_recovery(s, to)) {
		reply(c, -ESTALE);
		return;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct lk_lock *l = lk_find(s, files[i], NULL);
		struct lk_holder *h = l ? lk_holder_find(l, m->from) : NULL;

		if (!h || h->inc != m->from_inc) {
			reply(c, -ENOENT);
			return;
		}
		if (h->mode == LK_MODE_SH) {
			reply(c, -EINVAL); /* readers open base disks on both hosts; nothing moves */
			return;
		}
		if (l->handoff_id || lk_holder_find(l, to)) {
			reply(c, -EEXIST);
			return;
		}
	}
	id = ((uint64_t)s->epoch << 32) | ++s->ho_counter;
	r = lk_ho_add(s);
	if (!r || ho_rec_init(r, id, m->from, m->from_inc, to, s->hosts[to].inc, files, n) < 0) {
		c->err = -ENOMEM;
		return;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct lk_lock *l = lk_find(s, files[i], NULL);
		const struct lk_holder *h = lk_holder_find(l, m->from);

		l->handoff_id = id;
		persist(c, m->from, m->from_inc, 0, l->path, NULL, LK_DISK_HANDOFF_OUT, h, id);
		persist(c, to, s->hosts[to].inc, 0, l->path, NULL, LK_DISK_HANDOFF_IN, h, id);
	}
	push(c, &(struct lk_fx){ .type = LK_FX_REPLY, .host = m->from, .inc = m->from_inc,
				 .req = m->req, .rc = 0,
				 .handoff_id = id });
	lk_ho_prune(s);
}

static struct ho_rec *ho_of_request(struct ctx *c)
{
	struct ho_rec *r = lk_ho_find(c->s, c->m->u.ho.id);

	if (!r)
		reply(c, -ENOENT);
	return r;
}

static void apply_ho_commit(struct ctx *c)
{
	struct lk_state *s = c->s;
	const struct lk_msg *m = c->m;
	struct ho_rec *r;

	if (!admit(c, false) || !(r = ho_of_request(c)))
		return;
	if (m->from != r->src || m->from_inc != r->src_inc) {
		reply(c, -EPERM);
		return;
	}
	switch (r->state) {
	case HO_DURABLE:
		reply(c, 0);
		return;
	case HO_COMMITTED:
		r->commit_req = m->req; /* answered at durable */
		return;
	case HO_ABORTED:
		reply(c, -ECANCELED);
		return;
	case HO_IN_DOUBT:
		reply(c, -EAGAIN);
		return;
	case HO_PENDING:
	case HO_NONE:
		break;
	}
	if (!lk_state_grants_open(s)) {
		reply(c, -EAGAIN);
		return;
	}
	if (!lk_state_is_member(s, r->dst, r->dst_inc)) {
		reply(c, -ESTALE);
		return;
	}
	for (uint32_t i = 0; i < r->nfiles; i++) {
		struct lk_lock *l = lk_find(s, r->files[i], NULL);
		struct lk_holder *h = lk_holder_find(l, r->src);

		l->handoff_id = 0;
		if (!s->rules->commit_moves(i, r->nfiles))
			continue;
		h->host = r->dst;
		h->inc = r->dst_inc;
		h->gen = next_gen(s);
		h->since_ms = m->wall_ms;
		persist(c, r->dst, r->dst_inc, 0, l->path, NULL, LK_DISK_HELD, h, r->id);
		simple_fx(c, LK_FX_REVOKE, r->src, r->src_inc, l->path);
		simple_fx(c, LK_FX_UNPERSIST, r->src, r->src_inc, l->path);
	}
	ho_set_state(r, HO_COMMITTED);
	r->commit_req = m->req;
}

static void apply_ho_durable(struct ctx *c)
{
	struct ho_rec *r = lk_ho_find(c->s, c->m->u.ho.id);

	if (!coordinator_msg_ok(c) || !r || r->state != HO_COMMITTED || c->m->from != r->dst ||
	    c->m->from_inc != r->dst_inc)
		return;
	ho_set_state(r, HO_DURABLE);
	push(c, &(struct lk_fx){ .type = LK_FX_REPLY, .host = r->src, .inc = r->src_inc,
				 .req = r->commit_req,
				 .rc = 0, .handoff_id = r->id });
	lk_ho_prune(c->s);
}

static void apply_ho_abort(struct ctx *c)
{
	struct lk_state *s = c->s;
	const struct lk_msg *m = c->m;
	struct ho_rec *r;

	if (!admit(c, false) || !(r = ho_of_request(c)))
		return;
	if (m->from != r->src && m->from != r->dst) {
		reply(c, -EPERM);
		return;
	}
	switch (r->state) {
	case HO_ABORTED:
		reply(c, 0);
		return;
	case HO_COMMITTED:
	case HO_DURABLE:
		reply(c, -EALREADY);
		return;
	case HO_IN_DOUBT:
		reply(c, -EAGAIN);
		return;
	case HO_PENDING:
	case HO_NONE:
		break;
	}
	abort_handoff(c, r);
	reply(c, 0);
	lk_ho_prune(s);
}

/* --- dispatch --------------------------------------------------------------------------- */

static void (*const apply_fn[])(struct ctx *) = {
	[LK_MSG_CONFCHG] = apply_confchg,
	[LK_MSG_SYNC] = apply_sync,
	[LK_MSG_SNAPSHOT] = apply_snapshot,
	[LK_MSG_COLDSTART] = apply_coldstart,
	[LK_MSG_ACQUIRE] = apply_acquire,
	[LK_MSG_RELEASE] = apply_release,
	[LK_MSG_RENAME] = apply_rename,
	[LK_MSG_SETTLED] = apply_settled,
	[LK_MSG_RECOVERED] = apply_recovered,
	[LK_MSG_HO_PREPARE] = apply_ho_prepare,
	[LK_MSG_HO_COMMIT] = apply_ho_commit,
	[LK_MSG_HO_ABORT] = apply_ho_abort,
	[LK_MSG_HO_DURABLE] = apply_ho_durable,
};

int lk_apply(struct lk_state *s, const struct lk_msg *m, struct lk_fxbuf *fx)
{
	struct ctx c = { .s = s, .m = m, .fx = fx };

	if ((size_t)m->type >= sizeof(apply_fn) / sizeof(apply_fn[0]) || !apply_fn[m->type])
		return -EINVAL;
	if (m->type != LK_MSG_CONFCHG && s->have && s->quorate && s->ring == s->lineage)
		s->seq++;
	apply_fn[m->type](&c);
	return c.err;
}

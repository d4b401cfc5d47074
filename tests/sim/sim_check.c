/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sim_check.c - the safety invariants, checked after every event of a run.
 *
 *  1  never two hosts with conflicting permission on one file at one instant of real
 *     time: a host's permission lasts while its agent uses the lock and its lease
 *     deadline has not passed; a crashed host's, until its deadline (writes in flight)
 *  2  generations never go backwards: a replica's (epoch, counter) only grows outside a
 *     snapshot or cold start; a conflicting use of a file always has a higher generation
 *     than the one before it; the superblock epoch only grows
 *  3  a handoff moves all of its files or none: when it commits, the source holds none
 *     of them and the destination all
 *  4  nothing leaks: once the workload stops and faults heal, every replica agrees,
 *     every lock is free, every host's table on disk is empty, and every client request
 *     got exactly one answer
 *  5  the disk never shows less than what is in use: a host using a lock has it in its
 *     own table on disk at that generation or higher
 *  6  no sector is written by two hosts: another host writes a host's area only after
 *     that host's lease deadline, and the host never writes it again in that incarnation
 *  and every replica's own invariants (lk_state_check) after every message.
 */
#include <stdlib.h>
#include <string.h>

#include "tests/sim/sim.h"

struct use {
	int host;
	const char *path;
	enum lk_mode mode;
	struct lk_gen gen;
	bool ghost;
};

struct uses {
	struct sim_world *w;
	int host;
	struct use u[256];
	size_t n;
};

static void add_use(void *arg, const char *path, enum lk_mode mode, struct lk_gen gen)
{
	struct uses *us = arg;

	if (us->n < sizeof(us->u) / sizeof(us->u[0]))
		us->u[us->n++] = (struct use){ .host = us->host, .path = path, .mode = mode,
					       .gen = gen };
}

static void collect(struct sim_world *w, struct uses *us)
{
	us->w = w;
	us->n = 0;
	for (int i = 1; i <= w->cfg.hosts; i++) {
		struct sim_host *h = &w->h[i];

		us->host = i;
		if (h->agent && h->st != HS_DOWN)
			lk_agent_foreach_use(h->agent, sim_local_ms(h, w->now), add_use, us);
		for (size_t g = 0; g < h->nghosts; g++)
			if (h->ghosts[g].until > w->now && us->n < 256)
				us->u[us->n++] = (struct use){ .host = i, .path = h->ghosts[g].path,
							       .mode = h->ghosts[g].mode,
							       .gen = h->ghosts[g].gen, .ghost = true };
	}
}

void sim_check_ghosts(struct sim_world *w, int host)
{
	struct sim_host *h = &w->h[host];
	struct uses us = { 0 };

	if (!h->agent)
		return;
	us.host = host;
	lk_agent_foreach_use(h->agent, sim_local_ms(h, w->now), add_use, &us);
	h->ghosts = realloc(h->ghosts, (h->nghosts + us.n + 1) * sizeof(*h->ghosts));
	if (!h->ghosts)
		abort();
	for (size_t i = 0; i < us.n; i++) {
		struct sim_ghost *g = &h->ghosts[h->nghosts++];

		snprintf(g->path, sizeof(g->path), "%s", us.u[i].path);
		g->mode = us.u[i].mode;
		g->gen = us.u[i].gen;
		g->until = h->deadline_real;
	}
}

/* Invariant 5: the use is in the host's own table on disk at that generation or higher. */
static void check_on_disk(struct sim_world *w, const struct use *u)
{
	struct sim_disk *d = &w->disk;

	for (uint32_t t = 0; t < d->g.table_sectors; t++) {
		size_t k = (size_t)(u->host - 1) * d->g.table_sectors + t;

		if (!d->table_ok[k])
			return; /* torn by a crash: unknown, so recovery waits for the lease */
		for (uint32_t e = 0; e < VOL_SLOTS_PER_SECTOR; e++) {
			const struct vol_entry *v = &d->tables[k].e[e];

			if ((v->state == VOL_E_HELD || v->state == VOL_E_HANDOFF_OUT) &&
			    strcmp(v->path, u->path) == 0 && lk_gen_cmp(v->gen, u->gen) >= 0)
				return;
		}
	}
	sim_violation(w, "[5] host %d uses %s (gen %u:%llu) but its table on disk does not show it",
		      u->host, u->path, u->gen.epoch, (unsigned long long)u->gen.counter);
}

/* Invariant 2, uses: a conflicting use of a file has a higher generation than the last. */
static void check_use_gen(struct sim_world *w, const struct use *u)
{
	struct sim_use_rec *r = NULL;

	for (size_t i = 0; i < w->nuses; i++)
		if (strcmp(w->uses[i].path, u->path) == 0)
			r = &w->uses[i];
	if (!r) {
		if (w->nuses == sizeof(w->uses) / sizeof(w->uses[0]))
			return;
		r = &w->uses[w->nuses++];
		snprintf(r->path, sizeof(r->path), "%s", u->path);
		r->host = u->host;
		r->mode = u->mode;
		r->gen = u->gen;
		return;
	}
	if (r->host != u->host && !lk_mode_compatible(r->mode, u->mode) &&
	    lk_gen_cmp(u->gen, r->gen) <= 0)
		sim_violation(w, "[2] host %d uses %s at gen %u:%llu after host %d used it at %u:%llu",
			      u->host, u->path, u->gen.epoch, (unsigned long long)u->gen.counter,
			      r->host, r->gen.epoch, (unsigned long long)r->gen.counter);
	if (lk_gen_cmp(u->gen, r->gen) > 0) {
		r->host = u->host;
		r->mode = u->mode;
		r->gen = u->gen;
	}
}

void sim_check_step(struct sim_world *w)
{
	struct uses us;

	collect(w, &us);
	for (size_t i = 0; i < us.n; i++) {
		const struct use *a = &us.u[i];

		for (size_t j = 0; j < i; j++) {
			const struct use *b = &us.u[j];

			if (a->host != b->host && strcmp(a->path, b->path) == 0 &&
			    !lk_mode_compatible(a->mode, b->mode))
				sim_violation(w, "[1] hosts %d and %d both have %s: %s gen %u:%llu%s, "
					      "%s gen %u:%llu%s", b->host, a->host, a->path,
					      lk_mode_name(b->mode), b->gen.epoch,
					      (unsigned long long)b->gen.counter,
					      b->ghost ? " (crashed)" : "", lk_mode_name(a->mode),
					      a->gen.epoch, (unsigned long long)a->gen.counter,
					      a->ghost ? " (crashed)" : "");
		}
		check_on_disk(w, a);
		check_use_gen(w, a);
	}
}

void sim_check_pre(struct sim_world *w, int host, struct sim_check_pre *pre)
{
	const struct lk_state *s = lk_agent_state(w->h[host].agent);

	memset(pre, 0, sizeof(*pre));
	pre->have = lk_state_have(s);
	pre->epoch = lk_state_epoch(s);
	pre->counter = lk_state_counter(s);
	for (size_t i = 0; i < lk_state_nhandoffs(s) && pre->nho < SIM_PRE_HO; i++) {
		const struct ho_rec *r = lk_state_handoff(s, i);

		if (r->state == HO_PENDING || r->state == HO_IN_DOUBT)
			pre->ho[pre->nho++] = r->id;
	}
}

/* Invariants 2 (replica) and 3, right after host applied message m. */
void sim_check_post(struct sim_world *w, int host, const struct sim_check_pre *pre,
		    const struct lk_msg *m)
{
	struct sim_host *h = &w->h[host];
	const struct lk_state *s;

	s = lk_agent_state(h->agent);
	/* A snapshot or cold start replaces the replica: only a new epoch excuses a counter
	 * that went back (a snapshot that keeps the epoch must not reuse generations). */
	if (pre->have && !(m->type == LK_MSG_COLDSTART ||
			   (m->type == LK_MSG_SNAPSHOT && lk_state_epoch(s) > pre->epoch)) &&
	    (lk_state_epoch(s) < pre->epoch ||
	     (lk_state_epoch(s) == pre->epoch && lk_state_counter(s) < pre->counter)))
		sim_violation(w, "[2] host %d: generation counter went back applying %s", host,
			      lk_msg_name(m->type));
	if (m->type == LK_MSG_SNAPSHOT || m->type == LK_MSG_COLDSTART)
		return; /* a replaced replica: its handoffs moved on elsewhere */
	for (size_t i = 0; i < pre->nho; i++) {
		const struct ho_rec *r = lk_state_handoff_by_id(s, pre->ho[i]);

		if (!r || (r->state != HO_COMMITTED && r->state != HO_DURABLE))
			continue;
		for (uint32_t f = 0; f < r->nfiles; f++) {
			struct lk_lock_view v;
			bool src = lk_state_holds(s, r->files[f], r->src, &v) && v.inc == r->src_inc;
			bool dst = lk_state_holds(s, r->files[f], r->dst, &v) && v.inc == r->dst_inc;

			/* At commit itself the destination has every file; when the commit is
			 * learnt from its table instead, a file that table does not show is
			 * freed (it was never used there). None may stay with the source. */
			if (src || (!dst && m->type == LK_MSG_HO_COMMIT))
				sim_violation(w, "[3] host %d: handoff %llx committed but %s %s",
					      host, (unsigned long long)r->id, r->files[f],
					      src ? "stayed with its source" : "did not reach its destination");
		}
	}
}

void sim_check_landing(struct sim_world *w, int writer, uint64_t writer_inc, uint64_t idx,
		       uint64_t fenced_inc)
{
	lk_host_t owner = vol_sector_owner(&w->disk.g, idx);
	struct sim_host *o;

	if (!owner)
		return;
	o = &w->h[owner];
	if ((int)owner != writer) {
		if (w->now < o->deadline_real)
			sim_violation(w, "[6] host %d wrote sector %llu of host %u while its lease "
				      "ran %.3fs longer", writer, (unsigned long long)idx, owner,
				      (double)(o->deadline_real - w->now) / 1e6);
		w->disk.foreign_at[owner] = w->now;
		o->fenced_inc = fenced_inc;
		return;
	}
	if (w->disk.foreign_at[owner] && writer_inc == o->fenced_inc)
		sim_violation(w, "[6] host %d (incarnation %llu) wrote sector %llu after another "
			      "host fenced its area", writer, (unsigned long long)writer_inc,
			      (unsigned long long)idx);
}

static void name_first(void *arg, const char *path, const struct lk_lock_view *v, size_t n,
		       uint64_t handoff_id)
{
	char *out = arg;

	if (*out)
		return;
	snprintf(out, LK_PATH_MAX + 256, "%s%s", path, handoff_id ? " (in a handoff)" : "");
	for (size_t i = 0; i < n; i++)
		snprintf(out + strlen(out), LK_PATH_MAX + 256 - strlen(out), ", host %u incarnation %llu%s",
			 v[i].host, (unsigned long long)v[i].inc, v[i].orphan ? " (orphaned)" : "");
}

/* Invariant 4: run after healing and settling. */
void sim_check_final(struct sim_world *w)
{
	const struct lk_state *ref = NULL;
	int refhost = 0;

	for (int i = 1; i <= w->cfg.hosts; i++) {
		struct sim_host *h = &w->h[i];
		const struct lk_state *s;
		struct lk_departed d[LK_MAX_HOSTS];

		if (h->st != HS_UP || !h->agent) {
			sim_violation(w, "[4] host %d is not running after healing", i);
			continue;
		}
		s = lk_agent_state(h->agent);
		if (!lk_state_have(s) || lk_state_syncing(s) || !lk_state_quorate(s)) {
			sim_violation(w, "[4] host %d has no quorate synchronised state after healing", i);
			continue;
		}
		if (lk_state_nlocks(s)) {
			char first[LK_PATH_MAX + 256] = "";

			lk_state_foreach(s, name_first, first);
			sim_violation(w, "[4] host %d: %zu lock(s) still held after healing, %s", i,
				      lk_state_nlocks(s), first);
		}
		if (h->npending)
			sim_violation(w, "[4] host %d: %zu client request(s) never answered, first %llx",
				      i, h->npending, (unsigned long long)h->pending[0]);
		if (lk_state_departed(s, d, LK_MAX_HOSTS))
			sim_violation(w, "[4] host %d: a departed host was never recovered", i);
		for (size_t k = 0; k < lk_state_nhandoffs(s); k++) {
			const struct ho_rec *r = lk_state_handoff(s, k);

			if (r->state == HO_PENDING || r->state == HO_IN_DOUBT || r->state == HO_COMMITTED)
				sim_violation(w, "[4] host %d: handoff %llx (host %u to host %u "
					      "incarnation %llu) still %s", i, (unsigned long long)r->id,
					      r->src, r->dst, (unsigned long long)r->dst_inc,
					      ho_state_name(r->state));
		}
		if (!ref) {
			ref = s;
			refhost = i;
		} else if (!lk_state_equal(ref, s)) {
			sim_violation(w, "[4] replicas of hosts %d and %d differ", refhost, i);
		}
	}
	for (size_t k = 0; k < (size_t)w->cfg.hosts * w->disk.g.table_sectors; k++) {
		if (!w->disk.table_ok[k]) {
			sim_violation(w, "[4] host %zu: table sector %zu unreadable after healing",
				      k / w->disk.g.table_sectors + 1, k % w->disk.g.table_sectors);
			continue;
		}
		for (uint32_t e = 0; e < VOL_SLOTS_PER_SECTOR; e++)
			if (w->disk.tables[k].e[e].state != VOL_E_FREE)
				sim_violation(w, "[4] host %zu: %s still in its table on disk",
					      k / w->disk.g.table_sectors + 1,
					      w->disk.tables[k].e[e].path);
	}
}

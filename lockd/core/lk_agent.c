/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lk_agent.c - one host's side of the lock protocol (contract in lk_agent.h).
 *
 * A local hold goes through these phases:
 *
 *            acquire                PERSIST fx          table sector durable
 *   (none) ──────────▶ ACQUIRING ──────────────▶ PERSISTING ─────────────────▶ USED
 *                        │ refused                                              │ last release
 *                        ▼                                                      ▼
 *                      (none) ◀──── RELEASE applied ──── RELEASING ◀──── UNPERSISTING
 *                                                                 entry removed durably
 *   revival: UNPERSISTING ──acquire, same mode──▶ PERSISTING (entry back, same generation)
 *   handoff source: USED ──commit──▶ COMMITTING ──REVOKE fx──▶ (none)
 *                                       └──aborted──▶ USED
 *   handoff destination: (none) ──prepare──▶ HO_IN ──commit: PERSIST fx──▶ PERSISTING
 *   rename: USED ──rename──▶ RENAMING ──PERSIST fx (new name)──▶ PERSISTING
 *                               └──refused──▶ USED        (no I/O under either name meanwhile)
 *
 * Sections: holds and requests · lock table image · heartbeat and lease · effects ·
 * reconciliation · coordinator duties · events · client requests · queries
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lockd/core/lk_agent.h"
#include "lockd/core/lk_grow.h"

enum hphase {
	H_ACQUIRING, H_PERSISTING, H_USED, H_UNPERSISTING, H_RELEASING, H_HO_IN, H_COMMITTING,
	H_RENAMING,
};

struct hold {
	char *path;
	enum lk_mode mode;
	struct lk_gen gen;
	enum hphase phase;
	uint32_t refs;      /* client references answered */
	uint64_t *wait;     /* client requests waiting for the grant */
	uint32_t nwait;
	uint32_t sector;    /* PERSISTING/UNPERSISTING: waits for this sector ... */
	uint64_t mod;       /* ... to be durable at this modification */
	uint64_t ho_id;
	uint64_t rename_req; /* client rename answered once the new name is durable */
	bool committing;     /* our commit of handoff ho_id is in flight: never back in use
			      * unless it was aborted */
	bool reacquire;     /* an acquire arrived while releasing */
	uint64_t let_go_ring; /* ring in which UNPERSISTING began (revive) */
	enum lk_mode want;
};

/* A failed table write is issued again after this long (one simulator tick). */
#define LK_WRITE_RETRY_MS 100

enum reqkind { R_ACQUIRE, R_RELEASE, R_RENAME, R_PREPARE, R_COMMIT, R_ABORT };

struct request {
	uint64_t msg_req;
	enum reqkind kind;
	uint64_t client_req;
	uint64_t ho_id;
	char *path, *to;
	bool retry;
	uint64_t wait_ho; /* refused while this handoff is pending: resend once it is not */
	bool moot;        /* nothing left to do: answered and dropped */
};

struct sector {
	uint64_t mod, durable, inflight_mod, barrier;
	bool inflight;
	uint64_t io;
	int64_t retry_at; /* after a failed write: not before the next tick */
};

/* A watch reads the heartbeat (OBSERVE); a clean shutdown is confirmed by reading the
 * table (CLEAN_READ, nothing written); a settled host's table is read and sent
 * (SETTLE_READ); an expired lease leads to reading the table, fencing and clearing the
 * slot, then RECOVERED (RECOVER_READ, FENCING, SENT). */
enum wphase { W_OBSERVE, W_CLEAN_READ, W_SETTLE_READ, W_RECOVER_READ, W_FENCING, W_SENT };

struct watch {
	lk_host_t host;
	uint64_t inc, last_ring;
	bool unsettled;
	enum wphase phase;
	struct lk_observer obs;
	bool seen_own;   /* a read showed this incarnation's own heartbeat (or a torn one) */
	bool hb_inflight;
	uint64_t io;
	int64_t next_read;
	struct lk_disk_lock *locks; /* recovery: the table as read before clearing it */
	uint32_t nlocks;
	struct lk_gen gen_hwm;      /* from the last heartbeat read */
};

struct prepared {
	uint64_t id;
	int64_t at;
	bool aborting;
};

/* The state of a handoff of ours last written to our journal. */
struct journaled {
	uint64_t id;
	enum ho_state state;
};

struct lk_agent {
	struct lk_agent_cfg cfg;
	struct lk_state *st;
	struct lk_fxbuf fx;
	bool fenced;
	uint64_t next_req, next_io;

	struct lk_act **acts;
	size_t nacts, capacts;

	struct hold *holds;
	size_t nholds, capholds;
	struct request *reqs;
	size_t nreqs, capreqs;

	struct vol_entry *slots;   /* table_sectors * VOL_SLOTS_PER_SECTOR */
	struct sector *sectors;
	uint64_t mod_counter;
	bool flush_due;     /* table sectors changed: written when the driver takes actions */
	int64_t flush_now;  /* ... judged against the lease at this time */

	struct lk_lease lease;
	bool hb_inflight;
	uint64_t hb_io, hb_counter;
	int64_t hb_start, next_hb;
	uint64_t acked_ring, ack_ring;
	bool acked_quorate, ack_quorate, ack_pending;
	int64_t inquorate_since; /* -1 while quorate */
	uint32_t journal_next;

	struct watch *watches;
	size_t nwatches;
	uint64_t coord_since; /* ring since which we coordinate without a break; 0: we don't */
	uint64_t prev_ring;   /* the configuration before the last one, and its coordinator */
	lk_host_t prev_coord;
	/* The fence write in flight for each slot, watched or not: at most one, and no
	 * RECOVERED while one is in flight (it would land on the next incarnation). */
	uint64_t fence_io[LK_MAX_HOSTS + 1];
	/* A new epoch for a cold start or a snapshot: asked for, for this ring, retried at. */
	uint64_t epoch_io, epoch_ring;
	int64_t epoch_retry;
	bool epoch_for_snapshot;

	struct prepared *prep;
	size_t nprep, capprep;
	struct journaled *jho;
	size_t njho, capjho;

	/* What the driver saw of each heartbeat on its own (lk_agent_heartbeat_seen): a
	 * watch of a host that departs starts from there, not from scratch. */
	struct lk_observer seen[LK_MAX_HOSTS + 1];

	/* Settling our own previous incarnation (cfg.prev_inc): reading our table, sent. */
	enum { SELF_IDLE, SELF_READING, SELF_SENT } self_phase;
	uint64_t self_io;
};

/* --- actions ------------------------------------------------------------------------ */

static struct lk_act *act(struct lk_agent *a, enum lk_act_type t)
{
	struct lk_act *x;

	x = calloc(1, sizeof(*x));
	if (!x || LK_GROW(a->acts, a->nacts, a->capacts) < 0)
		abort();
	x->type = t;
	a->acts[a->nacts++] = x;
	return x;
}

static void flush_sectors(struct lk_agent *a, int64_t now);

size_t lk_agent_take(struct lk_agent *a, struct lk_act **out, size_t max)
{
	size_t n;

	if (a->flush_due) {
		a->flush_due = false;
		flush_sectors(a, a->flush_now);
	}
	n = a->nacts < max ? a->nacts : max;

	if (!n)
		return 0;
	memcpy(out, a->acts, n * sizeof(*out));
	memmove(a->acts, a->acts + n, (a->nacts - n) * sizeof(*a->acts));
	a->nacts -= n;
	return n;
}

void lk_act_free(struct lk_act *x)
{
	if (!x)
		return;
	lk_msg_free(x->msg);
	free(x);
}

static void set_path(char *dst, const char *src)
{
	size_t n = src ? strnlen(src, LK_PATH_MAX) : 0;

	memcpy(dst, src ? src : "", n);
	dst[n] = '\0';
}

static void client_reply(struct lk_agent *a, uint64_t req, int rc, const char *path,
			 struct lk_gen gen, uint64_t ho_id, lk_host_t holder)
{
	struct lk_act *x;

	if (!req)
		return; /* the agent's own request (a timeout's abort, a reacquire): no client */
	x = act(a, LK_ACT_REPLY);

	x->req = req;
	x->rc = rc;
	x->gen = gen;
	x->handoff_id = ho_id;
	x->holder = holder;
	set_path(x->path, path);
}

static uint64_t new_req(struct lk_agent *a)
{
	return (a->cfg.inc << 32) | ++a->next_req;
}

static void send(struct lk_agent *a, struct lk_msg *m, uint64_t wall_ms)
{
	struct lk_act *x = act(a, LK_ACT_SEND);

	m->from = a->cfg.host;
	m->from_inc = a->cfg.inc;
	m->wall_ms = wall_ms;
	x->msg = lk_msg_dup(m);
	if (!x->msg)
		abort();
}

/* --- holds and requests ------------------------------------------------------------ */

static struct hold *hold_find(struct lk_agent *a, const char *path)
{
	for (size_t i = 0; i < a->nholds; i++)
		if (strcmp(a->holds[i].path, path) == 0)
			return &a->holds[i];
	return NULL;
}

static struct hold *hold_new(struct lk_agent *a, const char *path, enum hphase ph)
{
	struct hold *h;

	if (LK_GROW(a->holds, a->nholds, a->capholds) < 0)
		abort();
	h = &a->holds[a->nholds++];
	memset(h, 0, sizeof(*h));
	h->path = strdup(path);
	if (!h->path)
		abort();
	h->phase = ph;
	return h;
}

static void hold_del(struct lk_agent *a, struct hold *h)
{
	size_t i = (size_t)(h - a->holds);

	if (h->rename_req) /* renamed, but the hold went before the new name was durable */
		client_reply(a, h->rename_req, -EIO, h->path, h->gen, 0, 0);

	free(h->path);
	free(h->wait);
	a->holds[i] = a->holds[--a->nholds];
}

static void hold_wait(struct hold *h, uint64_t req)
{
	uint64_t *n = realloc(h->wait, (h->nwait + 1) * sizeof(*n));

	if (!n)
		abort();
	h->wait = n;
	h->wait[h->nwait++] = req;
}

/* Answers every waiting client of h with rc (0: h's generation; -EBUSY: the holder's). */
static void hold_answer(struct lk_agent *a, struct hold *h, int rc, lk_host_t holder,
			struct lk_gen holder_gen)
{
	for (uint32_t i = 0; i < h->nwait; i++)
		client_reply(a, h->wait[i], rc, h->path, rc == 0 ? h->gen : holder_gen, h->ho_id,
			     holder);
	if (rc == 0)
		h->refs += h->nwait;
	h->nwait = 0;
}

static struct request *req_add(struct lk_agent *a, enum reqkind k, uint64_t client_req,
			       const char *path, const char *to, uint64_t ho_id)
{
	struct request *r;

	if (LK_GROW(a->reqs, a->nreqs, a->capreqs) < 0)
		abort();
	r = &a->reqs[a->nreqs++];
	memset(r, 0, sizeof(*r));
	r->msg_req = new_req(a);
	r->kind = k;
	r->client_req = client_req;
	r->ho_id = ho_id;
	r->path = path ? strdup(path) : NULL;
	r->to = to ? strdup(to) : NULL;
	return r;
}

static struct request *req_find(struct lk_agent *a, uint64_t msg_req)
{
	for (size_t i = 0; i < a->nreqs; i++)
		if (a->reqs[i].msg_req == msg_req)
			return &a->reqs[i];
	return NULL;
}

static void req_del(struct lk_agent *a, struct request *r)
{
	size_t i = (size_t)(r - a->reqs);

	free(r->path);
	free(r->to);
	a->reqs[i] = a->reqs[--a->nreqs];
}

static void send_request(struct lk_agent *a, struct request *r, enum lk_mode mode,
			 uint64_t wall_ms)
{
	struct lk_msg m = { .req = r->msg_req };

	r->retry = false;
	switch (r->kind) {
	case R_ACQUIRE:
		m.type = LK_MSG_ACQUIRE;
		m.u.acquire.path = r->path;
		m.u.acquire.mode = mode;
		break;
	case R_RELEASE:
		m.type = LK_MSG_RELEASE;
		m.u.release.path = r->path;
		break;
	case R_RENAME:
		m.type = LK_MSG_RENAME;
		m.u.rename.from = r->path;
		m.u.rename.to = r->to;
		break;
	case R_COMMIT:
		m.type = LK_MSG_HO_COMMIT;
		m.u.ho.id = r->ho_id;
		break;
	case R_ABORT:
		m.type = LK_MSG_HO_ABORT;
		m.u.ho.id = r->ho_id;
		break;
	case R_PREPARE:
		return; /* sent once by lk_agent_ho_prepare: it carries the file list */
	}
	send(a, &m, wall_ms);
}

/* --- lock table image ---------------------------------------------------------------- */

static uint32_t nslots(const struct lk_agent *a)
{
	return a->cfg.table_sectors * VOL_SLOTS_PER_SECTOR;
}

static int slot_find(const struct lk_agent *a, const char *path)
{
	for (uint32_t i = 0; i < nslots(a); i++)
		if (a->slots[i].state != VOL_E_FREE && strcmp(a->slots[i].path, path) == 0)
			return (int)i;
	return -1;
}

/*
 * A free slot, preferably in a sector already waiting to be written (one write carries
 * both entries), else in a sector with no write in flight (written at once, not after
 * the write in flight: an acquire right after a release would wait for the release's).
 */
static int slot_free(const struct lk_agent *a)
{
	int idle = -1, any = -1;

	for (uint32_t i = 0; i < nslots(a); i++) {
		const struct sector *s = &a->sectors[i / VOL_SLOTS_PER_SECTOR];

		if (a->slots[i].state != VOL_E_FREE)
			continue;
		if (!s->inflight && s->mod > s->durable)
			return (int)i;
		if (!s->inflight && idle < 0)
			idle = (int)i;
		if (any < 0)
			any = (int)i;
	}
	return idle >= 0 ? idle : any;
}

/* Marks the sector of slot i modified; returns the modification to wait for. */
static uint64_t slot_touch(struct lk_agent *a, int i)
{
	struct sector *s = &a->sectors[(uint32_t)i / VOL_SLOTS_PER_SECTOR];

	s->mod = ++a->mod_counter;
	return s->mod;
}

static void flush_sectors(struct lk_agent *a, int64_t now)
{
	if (!lk_lease_admits(&a->lease, &a->cfg.timing, now) || a->fenced)
		return;
	for (uint32_t t = 0; t < a->cfg.table_sectors; t++) {
		struct sector *s = &a->sectors[t];
		struct lk_act *x;

		if (s->inflight || s->mod <= s->durable || now < s->retry_at)
			continue;
		x = act(a, LK_ACT_WRITE_TABLE);
		x->io = s->io = ++a->next_io;
		x->sector = t;
		x->table.host = a->cfg.host;
		x->table.host_gen = a->cfg.inc;
		memcpy(x->table.e, &a->slots[t * VOL_SLOTS_PER_SECTOR],
		       sizeof(x->table.e));
		s->inflight = true;
		s->inflight_mod = s->mod;
	}
}

/*
 * Table writes are issued when the driver takes the actions, not at each change: every
 * entry changed by the events handled since (several grants of one batch of agreed
 * messages, say) goes out in as few sector writes as possible.
 */
static void flush_later(struct lk_agent *a, int64_t now)
{
	a->flush_due = true;
	a->flush_now = now;
}

static bool sector_durable(const struct lk_agent *a, uint32_t sector, uint64_t mod)
{
	return a->sectors[sector].durable >= mod;
}

/* --- heartbeat and lease ------------------------------------------------------------- */

static bool ready(const struct lk_agent *a)
{
	return lk_state_have(a->st) && !lk_state_syncing(a->st);
}

static void renew(struct lk_agent *a, int64_t now, uint64_t wall_ms)
{
	struct lk_act *x;

	if (a->fenced || a->hb_inflight)
		return;
	if (!a->lease.valid) {
		/* No lease yet: write only once our slot is ours again (not being recovered). */
		if (!ready(a) || lk_state_awaits_recovery(a->st, a->cfg.host))
			return;
	} else if (!lk_lease_admits(&a->lease, &a->cfg.timing, now)) {
		return;
	}
	x = act(a, LK_ACT_WRITE_HB);
	x->io = a->hb_io = ++a->next_io;
	x->hb = (struct vol_heartbeat){
		.host = a->cfg.host,
		.host_gen = a->cfg.inc,
		.counter = ++a->hb_counter,
		.wall_ms = wall_ms,
		.ring_seq = a->acked_ring,
		.ring_quorate = a->acked_quorate,
		.state = VOL_HB_LIVE,
		.hb_interval_ms = a->cfg.timing.hb_interval_ms,
		.host_dead_ms = a->cfg.timing.host_dead_ms,
		.io_timeout_ms = a->cfg.timing.io_timeout_ms,
		.gen_hwm = { lk_state_epoch(a->st), lk_state_counter(a->st) },
	};
	a->hb_inflight = true;
	a->hb_start = now;
	a->next_hb = now + a->cfg.timing.hb_interval_ms;
}

/* The configuration is acknowledged once every table write asked for before it is durable. */
static void check_ack(struct lk_agent *a, int64_t now, uint64_t wall_ms)
{
	if (!a->ack_pending)
		return;
	for (uint32_t t = 0; t < a->cfg.table_sectors; t++)
		if (a->sectors[t].durable < a->sectors[t].barrier)
			return;
	a->ack_pending = false;
	a->acked_ring = a->ack_ring;
	a->acked_quorate = a->ack_quorate;
	a->next_hb = now; /* tell the coordinator soon */
	renew(a, now, wall_ms);
}

static void self_fence(struct lk_agent *a, const char *why)
{
	struct lk_act *x;

	if (a->fenced)
		return;
	a->fenced = true;
	while (a->nholds) {
		struct hold *h = &a->holds[0];

		hold_answer(a, h, -EIO, 0, (struct lk_gen){ 0 });
		x = act(a, LK_ACT_REVOKE);
		set_path(x->path, h->path);
		hold_del(a, h);
	}
	x = act(a, LK_ACT_FENCED);
	x->why = why;
}

/* False when this incarnation is done; fences it first if its lease ran out meanwhile
 * (a paused host learns it here, before it acts on anything that arrived). */
static bool alive(struct lk_agent *a, int64_t now)
{
	if (!a->fenced && lk_lease_expired(&a->lease, now))
		self_fence(a, "lease expired: heartbeat not renewed in time");
	return !a->fenced;
}

/* --- effects ------------------------------------------------------------------------- */

static void revoke(struct lk_agent *a, const char *path)
{
	struct hold *h = hold_find(a, path);
	struct lk_act *x;

	if (!h || h->phase == H_RELEASING || h->phase == H_UNPERSISTING)
		return;
	hold_answer(a, h, -EIO, 0, (struct lk_gen){ 0 });
	x = act(a, LK_ACT_REVOKE);
	set_path(x->path, path);
	hold_del(a, h);
}

static void unpersist(struct lk_agent *a, const char *path, int64_t now)
{
	int i = slot_find(a, path);

	if (i < 0)
		return;
	memset(&a->slots[i], 0, sizeof(a->slots[i]));
	slot_touch(a, i);
	flush_later(a, now);
}

static enum vol_entry_state disk_state(enum lk_disk_state d)
{
	switch (d) {
	case LK_DISK_HANDOFF_OUT: return VOL_E_HANDOFF_OUT;
	case LK_DISK_HANDOFF_IN: return VOL_E_HANDOFF_IN;
	case LK_DISK_HELD: break;
	}
	return VOL_E_HELD;
}

static void send_durable_if_done(struct lk_agent *a, uint64_t ho_id, uint64_t wall_ms);

/* Persist before release: the entry leaves the table; RELEASE goes once that is durable. */
static void hold_let_go(struct lk_agent *a, struct hold *h)
{
	int i = slot_find(a, h->path);

	h->phase = H_UNPERSISTING;
	h->let_go_ring = lk_state_ring(a->st);
	h->sector = 0;
	h->mod = 0;
	if (i >= 0) {
		memset(&a->slots[i], 0, sizeof(a->slots[i]));
		h->sector = (uint32_t)i / VOL_SLOTS_PER_SECTOR;
		h->mod = slot_touch(a, i);
	}
}

/* Clients may use the hold from now on; with no client left, it goes at once. A hold
 * whose commit to another host is in flight is not used again. */
static void hold_usable(struct lk_agent *a, struct hold *h, uint64_t wall_ms)
{
	if (h->committing) {
		const struct ho_rec *r = lk_state_handoff_by_id(a->st, h->ho_id);

		if (r && (r->state == HO_PENDING || r->state == HO_IN_DOUBT)) {
			h->phase = H_COMMITTING;
			hold_answer(a, h, -EBUSY, a->cfg.host, h->gen);
			return;
		}
		h->committing = false; /* that handoff is over */
	}
	h->phase = H_USED;
	hold_answer(a, h, 0, 0, (struct lk_gen){ 0 });
	if (h->rename_req) {
		client_reply(a, h->rename_req, 0, h->path, h->gen, 0, 0);
		h->rename_req = 0;
	}
	if (h->ho_id)
		send_durable_if_done(a, h->ho_id, wall_ms);
	if (h->refs == 0)
		hold_let_go(a, h);
}

/* A hold becomes usable once its entry is durable (or at once, if the rules say so). */
static void hold_persisting(struct lk_agent *a, struct hold *h, uint32_t sector, uint64_t mod,
			    uint64_t wall_ms)
{
	h->phase = H_PERSISTING;
	h->sector = sector;
	h->mod = mod;
	if (a->cfg.rules->may_use(sector_durable(a, sector, mod)))
		hold_usable(a, h, wall_ms);
}

static void fx_persist(struct lk_agent *a, const struct lk_fx *f, int64_t now, uint64_t wall_ms)
{
	int i = slot_find(a, f->old_path ? f->old_path : f->path);
	struct request *r = f->req ? req_find(a, f->req) : NULL;
	struct hold *h;
	uint64_t mod;

	if (i < 0)
		i = slot_free(a);
	h = hold_find(a, f->old_path ? f->old_path : f->path);
	if (h && (h->phase == H_RELEASING || h->phase == H_UNPERSISTING))
		return; /* we are letting go of it: its entry stays off the disk */
	if (!a->lease.valid) {
		/* Without a lease nothing is persisted, so nothing may be used: a recovery of
		 * this incarnation writes and keeps nothing (lk_agent.h). Give grants back. */
		if (r && r->kind == R_RENAME)
			client_reply(a, r->client_req, -EAGAIN, f->path, f->gen, 0, 0);
		if (r)
			req_del(a, r);
		if (f->disk_state == LK_DISK_HANDOFF_IN || f->old_path)
			return;
		if (!h)
			h = hold_new(a, f->path, H_UNPERSISTING);
		hold_answer(a, h, -EAGAIN, 0, (struct lk_gen){ 0 });
		h->reacquire = false;
		hold_let_go(a, h);
		return;
	}
	if (r) {
		/* A grant or a rename: answered through the hold once durable (a rename of a
		 * file closed meanwhile is answered now; what it renamed is given back). */
		if (r->kind == R_RENAME && h)
			h->rename_req = r->client_req;
		else if (r->kind == R_RENAME)
			client_reply(a, r->client_req, 0, f->path, f->gen, 0, 0);
		req_del(a, r);
	}
	if (i < 0) {
		/* Table full: the grant can never be used; give it back. */
		if (h && h->phase == H_ACQUIRING) {
			struct request *rel = req_add(a, R_RELEASE, 0, f->path, NULL, 0);

			hold_answer(a, h, -ENOSPC, 0, (struct lk_gen){ 0 });
			h->phase = H_RELEASING;
			send_request(a, rel, LK_MODE_NONE, wall_ms);
		}
		return;
	}
	a->slots[i] = (struct vol_entry){ .state = disk_state(f->disk_state), .mode = f->mode,
					  .gen = f->gen, .since_ms = wall_ms,
					  .handoff_id = f->handoff_id };
	set_path(a->slots[i].path, f->path);
	mod = slot_touch(a, i);
	flush_later(a, now);

	if (f->disk_state == LK_DISK_HANDOFF_IN) {
		if (!h)
			h = hold_new(a, f->path, H_HO_IN);
		h->mode = f->mode;
		h->gen = f->gen;
		h->ho_id = f->handoff_id;
		return;
	}
	if (f->disk_state == LK_DISK_HANDOFF_OUT || !h)
		return;
	if (f->old_path) {
		free(h->path);
		h->path = strdup(f->path);
		if (!h->path)
			abort();
	}
	h->mode = f->mode;
	h->gen = f->gen;
	if (h->phase == H_HO_IN) {
		/* Committed to us: the migrated guest is this hold's one reference. */
		h->refs = 1;
		hold_persisting(a, h, (uint32_t)i / VOL_SLOTS_PER_SECTOR, mod, wall_ms);
	} else if (h->phase == H_ACQUIRING || f->old_path) {
		hold_persisting(a, h, (uint32_t)i / VOL_SLOTS_PER_SECTOR, mod, wall_ms);
	}
}

static void send_durable_if_done(struct lk_agent *a, uint64_t ho_id, uint64_t wall_ms)
{
	const struct ho_rec *r = lk_state_handoff_by_id(a->st, ho_id);
	struct lk_msg m = { .type = LK_MSG_HO_DURABLE };

	if (!r || r->state != HO_COMMITTED || r->dst != a->cfg.host)
		return;
	/* Durable once no file of it still waits for its entry (used or let go since). */
	for (size_t i = 0; i < a->nholds; i++)
		if (a->holds[i].ho_id == ho_id &&
		    (a->holds[i].phase == H_PERSISTING || a->holds[i].phase == H_HO_IN))
			return;
	m.u.ho.id = ho_id;
	send(a, &m, wall_ms);
}

/* The table is durable up to some point: holds waiting on it move on. */
static void holds_progress(struct lk_agent *a, uint64_t wall_ms)
{
	for (size_t i = 0; i < a->nholds; i++) {
		struct hold *h = &a->holds[i];

		if (h->phase == H_PERSISTING && sector_durable(a, h->sector, h->mod)) {
			hold_usable(a, h, wall_ms);
		} else if (h->phase == H_UNPERSISTING && sector_durable(a, h->sector, h->mod)) {
			struct request *r = req_add(a, R_RELEASE, 0, h->path, NULL, 0);

			h->phase = H_RELEASING;
			send_request(a, r, LK_MODE_NONE, wall_ms);
		}
	}
}

static void on_reply(struct lk_agent *a, const struct lk_fx *f, uint64_t wall_ms)
{
	struct request *found = req_find(a, f->req);
	struct request r;
	struct hold *h;

	if (!found)
		return;
	if ((f->rc == -EAGAIN && found->kind != R_PREPARE) ||
	    (f->rc == -ENOTCONN && found->kind != R_ACQUIRE && found->kind != R_RENAME &&
	     found->kind != R_PREPARE) ||
	    (f->rc == -ESTALE && found->kind == R_ACQUIRE) ||
	    (f->rc == -EBUSY && found->kind == R_RELEASE)) {
		found->retry = true; /* resent when the cluster allows (resend_deferred) */
		found->wait_ho = f->rc == -EBUSY ? f->handoff_id : 0;
		return;
	}
	/* Take it out of the table first: answering may add requests (and move the table). */
	r = *found;
	*found = a->reqs[--a->nreqs];
	h = r.path ? hold_find(a, r.path) : NULL;
	switch (r.kind) {
	case R_ACQUIRE:
		if (h && h->phase == H_ACQUIRING && f->rc == -EBUSY && h->ho_id &&
		    f->handoff_id == h->ho_id) {
			/* A handoff to us was prepared before our acquire was delivered: the
			 * file is on its way here (its entry is being written), not refused. */
			hold_answer(a, h, -EBUSY, a->cfg.host, h->gen);
			h->phase = H_HO_IN;
		} else if (h && h->phase == H_ACQUIRING && f->rc < 0) {
			hold_answer(a, h, f->rc, f->holder, f->holder_gen);
			hold_del(a, h);
		}
		break;
	case R_RELEASE:
		if (h && h->phase == H_RELEASING) {
			if (h->reacquire) {
				struct request *n = req_add(a, R_ACQUIRE, 0, h->path, NULL, 0);

				h->reacquire = false;
				h->phase = H_ACQUIRING;
				h->mode = h->want;
				send_request(a, n, h->want, wall_ms);
			} else {
				hold_del(a, h);
			}
		}
		break;
	case R_RENAME:
		if (h && h->phase == H_RENAMING && h->committing) {
			h->phase = H_COMMITTING; /* refused, but our commit of it is in flight */
		} else if (h && h->phase == H_RENAMING) {
			h->phase = H_USED; /* refused: the old name is ours again */
			if (h->refs == 0)
				hold_let_go(a, h);
		}
		client_reply(a, r.client_req, f->rc, r.path, (struct lk_gen){ 0 }, 0, f->holder);
		break;
	case R_PREPARE:
		client_reply(a, r.client_req, f->rc, NULL, (struct lk_gen){ 0 }, f->handoff_id, 0);
		break;
	case R_COMMIT:
	case R_ABORT:
		client_reply(a, r.client_req, f->rc, NULL, (struct lk_gen){ 0 }, r.ho_id, 0);
		break;
	}
	free(r.path);
	free(r.to);
}

static void send_snapshot(struct lk_agent *a, uint64_t ring, uint32_t epoch,
			  const struct lk_disk_host *hosts, uint32_t nhosts, uint64_t wall_ms)
{
	struct lk_msg m = { .type = LK_MSG_SNAPSHOT };

	m.u.snapshot.ring = ring;
	m.u.snapshot.state = a->st;
	m.u.snapshot.epoch = epoch;
	m.u.snapshot.hosts = hosts;
	m.u.snapshot.nhosts = nhosts;
	send(a, &m, wall_ms);
}

/* Asks the driver for a new epoch in the superblock (and the volume's content). */
static void new_epoch(struct lk_agent *a, uint64_t ring, bool for_snapshot)
{
	struct lk_act *x = act(a, LK_ACT_NEW_EPOCH);

	x->io = a->epoch_io = ++a->next_io;
	a->epoch_ring = ring;
	a->epoch_for_snapshot = for_snapshot;
	a->epoch_retry = 0;
}

static void handle_fx(struct lk_agent *a, const struct lk_fx *f, int64_t now, uint64_t wall_ms)
{
	/* Effects for an earlier incarnation of this host are not ours to carry out. */
	lk_host_t me = f->inc == a->cfg.inc ? a->cfg.host : 0;

	switch (f->type) {
	case LK_FX_REPLY:
		if (f->host == me)
			on_reply(a, f, wall_ms);
		break;
	case LK_FX_PERSIST:
		if (f->host == me)
			fx_persist(a, f, now, wall_ms);
		break;
	case LK_FX_UNPERSIST:
		if (f->host == me) {
			struct hold *h = hold_find(a, f->path);

			/* An entry that protects a hold of ours stays: persist before use. If
			 * the cluster took the lock from us, a REVOKE (or reconcile) comes first. */
			if (h && (h->phase == H_USED || h->phase == H_PERSISTING ||
				  h->phase == H_COMMITTING || h->phase == H_RENAMING))
				break;
			if (h && h->phase == H_HO_IN)
				hold_del(a, h);
			unpersist(a, f->path, now);
		}
		break;
	case LK_FX_REVOKE:
		if (f->host == me)
			revoke(a, f->path);
		break;
	case LK_FX_SEND_SNAPSHOT:
		if (f->host == me && !f->new_epoch)
			send_snapshot(a, f->ring, 0, NULL, 0, wall_ms);
		else if (f->host == me)
			new_epoch(a, f->ring, true);
		break;
	case LK_FX_COLDSTART:
		if (f->host == me)
			new_epoch(a, f->ring, false);
		break;
	case LK_FX_FREED:
	case LK_FX_GRANTS_OPEN:
		break; /* waiters and deferred requests: resend_deferred after every message */
	}
}

/* --- reconciliation ------------------------------------------------------------------- */

static bool self_unsettled(const struct lk_agent *a)
{
	struct lk_departed d[LK_MAX_HOSTS];
	size_t n = lk_state_departed(a->st, d, LK_MAX_HOSTS);

	for (size_t i = 0; i < n && i < LK_MAX_HOSTS; i++)
		if (d[i].host == a->cfg.host && d[i].unsettled)
			return true;
	return false;
}

/*
 * A lock the replica says we hold but we do not use: granted in deliveries we missed, or
 * released in them. Give it back; an acquire of ours still waiting asks again after, so
 * its generation comes from the current lineage, never from a stale one.
 */
static void recon_lock(void *arg, const char *path, const struct lk_lock_view *v, size_t n,
		       uint64_t ho_id)
{
	struct lk_agent *a = arg;
	struct hold *h;

	(void)ho_id;
	for (size_t i = 0; i < n; i++) {
		if (v[i].host != a->cfg.host || v[i].inc != a->cfg.inc)
			continue;
		h = hold_find(a, path);
		if (h && h->phase != H_ACQUIRING && h->phase != H_HO_IN)
			continue;
		if (!h) {
			h = hold_new(a, path, H_UNPERSISTING);
		} else if (h->phase == H_ACQUIRING) {
			h->reacquire = true;
			h->want = h->mode;
		}
		/* persist before release: RELEASE goes once the entry is durably gone */
		hold_let_go(a, h);
	}
}

static void reconcile_holds(struct lk_agent *a, int64_t now)
{
	if (!ready(a) || a->fenced)
		return;
	for (size_t i = 0; i < a->nholds;) {
		struct hold *h = &a->holds[i];
		struct lk_lock_view v;
		bool held = lk_state_holds(a->st, h->path, a->cfg.host, &v) && v.inc == a->cfg.inc;

		if (h->phase == H_COMMITTING || h->phase == H_HO_IN) {
			const struct ho_rec *r = lk_state_handoff_by_id(a->st, h->ho_id);
			bool open = r && (r->state == HO_PENDING || r->state == HO_IN_DOUBT);

			/* Still ours once the handoff is over (aborted; or committed, and what we
			 * hold now is a later grant): back in use. */
			if (h->phase == H_COMMITTING && held && !open) {
				h->committing = false;
				h->phase = H_USED;
				if (h->refs == 0)
					hold_let_go(a, h);
			}
			if (h->phase == H_HO_IN && !open && !held) {
				/* A handoff to us that ended while we were away: forget it. */
				char path[LK_PATH_MAX + 1];

				set_path(path, h->path);
				hold_del(a, h);
				unpersist(a, path, now);
				continue;
			}
		}
		if ((h->phase == H_USED || h->phase == H_PERSISTING || h->phase == H_COMMITTING ||
		     h->phase == H_RENAMING) &&
		    !held && !self_unsettled(a)) {
			char path[LK_PATH_MAX + 1];

			/* The cluster does not know this hold: stop using it. */
			set_path(path, h->path);
			revoke(a, path);
			unpersist(a, path, now);
			continue;
		}
		i++;
	}
}

static void reconcile(struct lk_agent *a, int64_t now, uint64_t wall_ms)
{
	if (!ready(a) || a->fenced)
		return;
	reconcile_holds(a, now);
	lk_state_foreach(a->st, recon_lock, a);
	/* A committed handoff to us whose DURABLE a replaced replica never applied. */
	for (size_t i = 0; i < lk_state_nhandoffs(a->st); i++) {
		const struct ho_rec *r = lk_state_handoff(a->st, i);

		if (r->state == HO_COMMITTED && r->dst == a->cfg.host && r->dst_inc == a->cfg.inc)
			send_durable_if_done(a, r->id, wall_ms);
	}
}

/* --- coordinator duties ---------------------------------------------------------------- */

static struct watch *watch_by_io(struct lk_agent *a, uint64_t io)
{
	for (size_t i = 0; i < a->nwatches; i++)
		if (a->watches[i].io == io)
			return &a->watches[i];
	return NULL;
}

static void watch_clear(struct watch *w)
{
	for (uint32_t i = 0; i < w->nlocks; i++)
		free((char *)w->locks[i].path);
	free(w->locks);
	w->locks = NULL;
	w->nlocks = 0;
}

/* Keeps one watch per departed incarnation while we coordinate a quorate partition. */
static void refresh_watches(struct lk_agent *a, bool reset_sent)
{
	struct lk_departed d[LK_MAX_HOSTS];
	size_t n = 0;
	struct watch *nw;
	bool coord = ready(a) && lk_state_quorate(a->st) && !a->fenced &&
		     lk_state_coordinator(a->st) == a->cfg.host;

	if (coord)
		n = lk_state_departed(a->st, d, LK_MAX_HOSTS);
	if (!coord)
		a->coord_since = 0;
	else if (!a->coord_since)
		a->coord_since = lk_state_ring(a->st);
	nw = calloc(n ? n : 1, sizeof(*nw));
	if (!nw)
		abort();
	for (size_t i = 0; i < n; i++) {
		struct watch *w = &nw[i];

		for (size_t j = 0; j < a->nwatches; j++) {
			struct watch *o = &a->watches[j];

			if (o->host == d[i].host && o->inc >= d[i].inc) {
				*w = *o;
				o->locks = NULL;
				o->nlocks = 0;
				break;
			}
		}
		if (w->inc < d[i].inc) {
			*w = (struct watch){ .inc = d[i].inc };
			/*
			 * Its heartbeat as the driver has been watching it since before it left,
			 * but only when we have coordinated since before it left, or it was the
			 * coordinator itself when it left: another coordinator before us may have
			 * a fence of it in flight, and only host_dead counted from scratch
			 * outlasts that (lk_timing.h). A coordinator never fences itself.
			 */
			if (a->seen[d[i].host].seen &&
			    (a->coord_since <= d[i].last_ring ||
			     (d[i].last_ring == a->prev_ring && d[i].host == a->prev_coord)))
				w->obs = a->seen[d[i].host];
		}
		w->host = d[i].host;
		w->last_ring = d[i].last_ring;
		w->unsettled = d[i].unsettled;
		if (reset_sent && w->phase == W_SENT)
			w->phase = W_OBSERVE;
	}
	for (size_t j = 0; j < a->nwatches; j++)
		watch_clear(&a->watches[j]);
	free(a->watches);
	a->watches = nw;
	a->nwatches = n;
}

static void send_watch_msg(struct lk_agent *a, struct watch *w, enum lk_msg_type t,
			   uint64_t wall_ms)
{
	struct lk_msg m = { .type = t };

	m.u.settled.host = w->host;
	m.u.settled.inc = w->inc;
	m.u.settled.locks = w->locks;
	m.u.settled.nlocks = w->nlocks;
	m.u.settled.gen_hwm = w->gen_hwm;
	send(a, &m, wall_ms);
	w->phase = W_SENT;
}

static void coordinate(struct lk_agent *a, int64_t now)
{
	for (size_t i = 0; i < a->nwatches; i++) {
		struct watch *w = &a->watches[i];
		struct lk_act *x;

		if (w->phase != W_OBSERVE || w->hb_inflight || now < w->next_read)
			continue;
		x = act(a, LK_ACT_READ_HB);
		x->io = w->io = ++a->next_io;
		x->host = w->host;
		w->hb_inflight = true;
	}
}

static void journal_recovery(struct lk_agent *a, const struct watch *w, int64_t now,
			     uint64_t wall_ms)
{
	struct lk_act *x;

	if (!lk_lease_admits(&a->lease, &a->cfg.timing, now))
		return;
	x = act(a, LK_ACT_WRITE_JOURNAL);
	x->io = ++a->next_io;
	x->sector = a->journal_next++ % VOL_JOURNAL_SECTORS;
	x->journal = (struct vol_journal){ .host = a->cfg.host, .host_gen = a->cfg.inc,
					   .type = VOL_J_RECOVERY, .wall_ms = wall_ms,
					   .recovered = w->host, .recovered_gen = w->inc,
					   .epoch = lk_state_epoch(a->st) };
}

/*
 * Every state a handoff of ours (as source or destination, this incarnation) reaches goes
 * to our journal once: the volume keeps what each host did (vmfsadm dump shows it). A
 * write the lease does not admit now is tried again at the next event.
 */
static void journal_handoffs(struct lk_agent *a, int64_t now, uint64_t wall_ms)
{
	for (size_t i = 0; i < a->njho;) {
		if (!lk_state_handoff_by_id(a->st, a->jho[i].id))
			a->jho[i] = a->jho[--a->njho];
		else
			i++;
	}
	for (size_t i = 0; i < lk_state_nhandoffs(a->st); i++) {
		const struct ho_rec *r = lk_state_handoff(a->st, i);
		struct journaled *j = NULL;
		struct lk_act *x;

		if (!((r->src == a->cfg.host && r->src_inc == a->cfg.inc) ||
		      (r->dst == a->cfg.host && r->dst_inc == a->cfg.inc)))
			continue;
		for (size_t k = 0; k < a->njho && !j; k++)
			if (a->jho[k].id == r->id)
				j = &a->jho[k];
		if (j && j->state == r->state)
			continue;
		if (!lk_lease_admits(&a->lease, &a->cfg.timing, now) || a->fenced)
			return;
		if (!j) {
			if (LK_GROW(a->jho, a->njho, a->capjho) < 0)
				abort();
			j = &a->jho[a->njho++];
			j->id = r->id;
		}
		j->state = r->state;
		x = act(a, LK_ACT_WRITE_JOURNAL);
		x->io = ++a->next_io;
		x->sector = a->journal_next++ % VOL_JOURNAL_SECTORS;
		x->journal = (struct vol_journal){ .host = a->cfg.host, .host_gen = a->cfg.inc,
						   .type = VOL_J_HANDOFF, .wall_ms = wall_ms,
						   .handoff_id = r->id, .src = r->src, .dst = r->dst,
						   .ho_state = r->state, .nfiles = r->nfiles,
						   .epoch = lk_state_epoch(a->st) };
	}
}

/* --- events ------------------------------------------------------------------------------ */

static void resend_deferred(struct lk_agent *a, uint64_t wall_ms)
{
	/* The same conditions as the core's admission, so a resend is not refused again. */
	bool releases = ready(a) && lk_state_quorate(a->st) &&
			lk_state_is_member(a->st, a->cfg.host, a->cfg.inc) &&
			!lk_state_awaits_recovery(a->st, a->cfg.host);
	bool grants = releases && lk_state_grants_open(a->st);

	for (size_t i = 0; i < a->nreqs; i++) {
		struct request *r = &a->reqs[i];
		struct hold *h = r->path ? hold_find(a, r->path) : NULL;
		bool ok = r->kind == R_RELEASE || r->kind == R_ABORT ? releases : grants;

		if (!r->retry)
			continue;
		if (r->wait_ho || r->kind == R_COMMIT || r->kind == R_ABORT) {
			const struct ho_rec *ho = lk_state_handoff_by_id(a->st, r->wait_ho ? r->wait_ho
										       : r->ho_id);

			/* Refused for a handoff in doubt (or, a release, still pending):
			 * nothing changes until that handoff is decided. */
			if (ho && (ho->state == HO_IN_DOUBT ||
				   (r->wait_ho && ho->state == HO_PENDING)))
				continue;
		}
		if (r->kind == R_RENAME && (!h || h->phase != H_RENAMING)) {
			/* Its file was closed meanwhile: nothing left to rename. */
			r->moot = true;
			continue;
		}
		if (ok)
			send_request(a, r, h ? h->mode : LK_MODE_NONE, wall_ms);
	}
	for (size_t i = 0; i < a->nreqs;) {
		struct request *r = &a->reqs[i];

		if (!r->moot) {
			i++;
			continue;
		}
		client_reply(a, r->client_req, -ENOENT, r->path, (struct lk_gen){ 0 }, 0, 0);
		req_del(a, r);
	}
}

/*
 * A request sent before a configuration change and not answered may have been lost with
 * the old ring (delivered only to members we parted from). Send it again: the core
 * answers a repeated acquire, release, commit or abort the same way or ignorably, and
 * the first answer to arrive is the one taken. A prepare carries its file list, which we
 * do not keep: its client is told to try again.
 */
static void requests_maybe_lost(struct lk_agent *a)
{
	for (size_t i = 0; i < a->nreqs;) {
		struct request *r = &a->reqs[i];

		if (r->kind == R_PREPARE) {
			client_reply(a, r->client_req, -EAGAIN, NULL, (struct lk_gen){ 0 }, 0, 0);
			req_del(a, r);
			continue;
		}
		r->retry = true;
		i++;
	}
}

/*
 * Our previous incarnation is known to run no more (the driver's word: its process is
 * gone and nothing it issued can still land after prev_quiet_at). What it persisted is
 * all there is: once it is a departed, unsettled incarnation in the replica, we read our
 * own table and settle it ourselves instead of waiting for its lease to expire. Its
 * locks stay orphaned until recovery; only the rest of the cluster's grants reopen.
 */
static void self_settle(struct lk_agent *a, int64_t now)
{
	struct lk_departed d[LK_MAX_HOSTS];
	size_t n;
	struct lk_act *x;

	if (!a->cfg.prev_inc || a->self_phase != SELF_IDLE || now < a->cfg.prev_quiet_at ||
	    !ready(a) || !lk_state_quorate(a->st) || a->fenced)
		return;
	n = lk_state_departed(a->st, d, LK_MAX_HOSTS);
	for (size_t i = 0; i < n; i++) {
		if (d[i].host != a->cfg.host || d[i].inc != a->cfg.prev_inc || !d[i].unsettled)
			continue;
		x = act(a, LK_ACT_READ_TABLE);
		x->io = a->self_io = ++a->next_io;
		x->host = a->cfg.host;
		a->self_phase = SELF_READING;
		return;
	}
}

static void after_change(struct lk_agent *a, int64_t now, uint64_t wall_ms)
{
	holds_progress(a, wall_ms);
	self_settle(a, now);
	flush_later(a, now);
	check_ack(a, now, wall_ms);
	if (now >= a->next_hb)
		renew(a, now, wall_ms); /* one renewal per hb_interval, failed or not */
}

void lk_agent_deliver(struct lk_agent *a, const struct lk_msg *m, int64_t now, uint64_t wall_ms)
{
	const char *why;
	bool reset = false;

	if (!alive(a, now))
		return;
	if (m->type == LK_MSG_CONFCHG) {
		if (lk_state_have(a->st)) {
			a->prev_ring = lk_state_ring(a->st);
			a->prev_coord = lk_state_coordinator(a->st);
		}
		for (uint32_t t = 0; t < a->cfg.table_sectors; t++)
			a->sectors[t].barrier = a->sectors[t].mod;
		a->ack_pending = true;
		a->ack_ring = m->u.confchg.ring;
		a->ack_quorate = m->u.confchg.quorate;
		reset = true;
		if (a->self_phase == SELF_SENT)
			a->self_phase = SELF_IDLE; /* not applied before the change: again */
	}
	lk_fxbuf_reset(&a->fx);
	if (lk_apply(a->st, m, &a->fx) < 0) {
		self_fence(a, "out of memory applying a message");
		return;
	}
	why = lk_state_check(a->st);
	if (why) {
		struct lk_act *x = act(a, LK_ACT_VIOLATION);

		x->why = why;
	}
	for (size_t i = 0; i < a->fx.n; i++)
		handle_fx(a, &a->fx.fx[i], now, wall_ms);
	if (m->type == LK_MSG_CONFCHG) {
		requests_maybe_lost(a);
		if (lk_state_syncing(a->st)) {
			struct lk_msg s = { .type = LK_MSG_SYNC };

			s.u.sync.ring = lk_state_ring(a->st);
			s.u.sync.have_state = lk_state_have(a->st);
			s.u.sync.lineage = lk_state_lineage(a->st);
			s.u.sync.seq = lk_state_seq(a->st);
			s.u.sync.gen_hwm = (struct lk_gen){ lk_state_epoch(a->st),
							    lk_state_counter(a->st) };
			send(a, &s, wall_ms);
		}
		if (lk_state_quorate(a->st))
			a->inquorate_since = -1;
		else if (a->inquorate_since < 0)
			a->inquorate_since = now;
	}
	if ((m->type == LK_MSG_SETTLED || m->type == LK_MSG_RECOVERED) && m->from == a->cfg.host)
		reset = true;
	/* Our holds against the replica after every message (they are few); the replica's
	 * locks against our holds only after the messages that can change them wholesale. */
	reconcile_holds(a, now);
	switch (m->type) {
	case LK_MSG_CONFCHG:
	case LK_MSG_SNAPSHOT:
	case LK_MSG_COLDSTART:
	case LK_MSG_SETTLED:
	case LK_MSG_RECOVERED:
	case LK_MSG_HO_COMMIT:
	case LK_MSG_HO_ABORT:
		reconcile(a, now, wall_ms);
		refresh_watches(a, reset);
		break;
	default:
		break;
	}
	resend_deferred(a, wall_ms);
	after_change(a, now, wall_ms);
	journal_handoffs(a, now, wall_ms);
}

/*
 * The source aborts its handoffs that stay prepared for handoff_timeout, counted from
 * when its replica first showed them (whether or not it saw the prepare's answer).
 */
static void handoff_timeouts(struct lk_agent *a, int64_t now, uint64_t wall_ms)
{
	for (size_t i = 0; i < a->nprep;) {
		const struct ho_rec *r = lk_state_handoff_by_id(a->st, a->prep[i].id);

		if (!r || r->state != HO_PENDING)
			a->prep[i] = a->prep[--a->nprep];
		else
			i++;
	}
	for (size_t i = 0; i < lk_state_nhandoffs(a->st); i++) {
		const struct ho_rec *r = lk_state_handoff(a->st, i);
		struct prepared *p = NULL;

		if (r->state != HO_PENDING || r->src != a->cfg.host || r->src_inc != a->cfg.inc)
			continue;
		for (size_t j = 0; j < a->nprep && !p; j++)
			if (a->prep[j].id == r->id)
				p = &a->prep[j];
		if (!p) {
			if (LK_GROW(a->prep, a->nprep, a->capprep) < 0)
				abort();
			p = &a->prep[a->nprep++];
			*p = (struct prepared){ .id = r->id, .at = now };
		}
		if (!p->aborting && now - p->at >= (int64_t)a->cfg.handoff_timeout_ms) {
			struct request *q = req_add(a, R_ABORT, 0, NULL, NULL, r->id);

			p->aborting = true;
			send_request(a, q, LK_MODE_NONE, wall_ms);
		}
	}
}

void lk_agent_tick(struct lk_agent *a, int64_t now, uint64_t wall_ms)
{
	if (!alive(a, now))
		return;
	if (a->cfg.isolation == LK_ISOLATION_FENCE && a->inquorate_since >= 0 &&
	    now - a->inquorate_since >= 2 * (int64_t)a->cfg.timing.hb_interval_ms &&
	    a->nholds) {
		self_fence(a, "isolated from the quorate partition (isolation=fence)");
		return;
	}
	if (now >= a->next_hb)
		renew(a, now, wall_ms);
	if (a->epoch_retry && now >= a->epoch_retry) {
		a->epoch_retry = 0;
		if (lk_state_syncing(a->st) && lk_state_ring(a->st) == a->epoch_ring)
			new_epoch(a, a->epoch_ring, a->epoch_for_snapshot);
	}
	flush_later(a, now);
	coordinate(a, now);
	self_settle(a, now);
	handoff_timeouts(a, now, wall_ms);
	journal_handoffs(a, now, wall_ms);
}

void lk_agent_io_done(struct lk_agent *a, uint64_t io, int rc, int64_t now, uint64_t wall_ms)
{
	struct watch *w;

	if (!alive(a, now))
		return;
	if (a->hb_inflight && io == a->hb_io) {
		bool first = !a->lease.valid;

		a->hb_inflight = false;
		if (rc == 0)
			lk_lease_renewed(&a->lease, &a->cfg.timing, a->hb_start);
		/*
		 * Our first lease: the slot is ours now (any previous incarnation recovered).
		 * Its whole table is written once, so that what a previous one left there, a
		 * sector torn by its crash or entries a lost fence did not clear, is replaced
		 * and every reader finds a table that decodes.
		 */
		if (rc == 0 && first) {
			for (uint32_t t = 0; t < a->cfg.table_sectors; t++)
				a->sectors[t].mod = ++a->mod_counter;
		}
		after_change(a, now, wall_ms);
		return;
	}
	for (uint32_t t = 0; t < a->cfg.table_sectors; t++) {
		struct sector *s = &a->sectors[t];

		if (!s->inflight || s->io != io)
			continue;
		s->inflight = false;
		if (rc == 0)
			s->durable = s->inflight_mod;
		else
			s->retry_at = now + LK_WRITE_RETRY_MS;
		after_change(a, now, wall_ms);
		return;
	}
	for (lk_host_t h = 1; h <= LK_MAX_HOSTS; h++)
		if (a->fence_io[h] == io)
			a->fence_io[h] = 0;
	w = watch_by_io(a, io);
	if (w && w->phase == W_FENCING) {
		if (rc == 0) {
			send_watch_msg(a, w, LK_MSG_RECOVERED, wall_ms);
			journal_recovery(a, w, now, wall_ms);
		} else {
			w->phase = W_OBSERVE; /* read again, then fence again */
		}
	}
}

void lk_agent_read_hb_done(struct lk_agent *a, uint64_t io, int rc,
			   const struct vol_heartbeat *hb, int64_t now, uint64_t wall_ms)
{
	struct watch *w = watch_by_io(a, io);
	bool dead;
	struct lk_act *x;

	if (!w || !w->hb_inflight || !alive(a, now))
		return;
	w->hb_inflight = false;
	w->next_read = now + a->cfg.timing.hb_interval_ms;
	if (rc == -EIO)
		return; /* nothing seen: cannot judge */
	if (rc == 0 && lk_gen_cmp(hb->gen_hwm, w->gen_hwm) > 0)
		w->gen_hwm = hb->gen_hwm;
	if (rc == 0 && hb->host_gen > w->inc && lk_state_is_member(a->st, w->host, hb->host_gen)) {
		/*
		 * The slot is a member's newer incarnation's now (it restarted where nobody
		 * had seen ours depart). Ours no longer renews, and its lease ran out at the
		 * latest host_dead after we first saw the newer one; there is nothing of ours
		 * to fence or clear in a slot that is not ours any more.
		 */
		struct lk_timing t = a->cfg.timing;

		if (hb->host_dead_ms > t.host_dead_ms)
			t.host_dead_ms = hb->host_dead_ms;
		if (lk_observe(&w->obs, &t, w->inc, UINT64_MAX, now)) {
			watch_clear(w);
			send_watch_msg(a, w, LK_MSG_RECOVERED, wall_ms);
		}
		return;
	}
	if (rc == 0 && hb->host_gen > w->inc) {
		/* A newer incarnation wrote the slot (the one we knew was recovered in
		 * deliveries we missed): that one is what we settle or recover now. */
		w->inc = hb->host_gen;
		w->seen_own = false;
	}
	/* A heartbeat already FENCED is observed like any other: a fence of an earlier
	 * coordinator may still be in flight, and host_dead outlasts it (lk_timing.h). */
	if (rc < 0) { /* corrupt: counts as a value that does not change */
		dead = lk_observe(&w->obs, &a->cfg.timing, 0, 0, now);
	} else {
		/* Judge it by the larger of our host_dead and the one it renews with. */
		struct lk_timing t = a->cfg.timing;

		if (hb->host_dead_ms > t.host_dead_ms)
			t.host_dead_ms = hb->host_dead_ms;
		dead = lk_observe(&w->obs, &t, hb->host_gen, hb->counter, now);
	}
	w->seen_own |= rc < 0 || hb->host_gen == w->inc;
	if (dead && !w->seen_own) {
		/* It never renewed a lease, so it never persisted or used a lock: nothing to
		 * fence or clear. Writing its slot could collide with a late first heartbeat. */
		watch_clear(w);
		send_watch_msg(a, w, LK_MSG_RECOVERED, wall_ms);
		return;
	}
	if (dead)
		w->phase = W_RECOVER_READ;
	else if (rc == 0 && hb->host_gen == w->inc && hb->state == VOL_HB_CLEAN)
		w->phase = W_CLEAN_READ;
	else if (rc == 0 && w->unsettled && hb->host_gen == w->inc && hb->ring_seq > w->last_ring)
		w->phase = W_SETTLE_READ;
	else
		return;
	x = act(a, LK_ACT_READ_TABLE);
	x->io = w->io = ++a->next_io;
	x->host = w->host;
}

void lk_agent_read_table_done(struct lk_agent *a, uint64_t io, int rc,
			      const struct lk_disk_lock *locks, uint32_t n, bool complete,
			      int64_t now, uint64_t wall_ms)
{
	struct watch *w = watch_by_io(a, io);
	struct lk_act *x;

	if (a->self_phase == SELF_READING && io == a->self_io) {
		struct lk_msg m = { .type = LK_MSG_SETTLED };

		a->self_phase = SELF_IDLE;
		if (!alive(a, now) || rc < 0 || !complete)
			return; /* a damaged table: its lease decides, as for anyone */
		m.u.settled.host = a->cfg.host;
		m.u.settled.inc = a->cfg.prev_inc;
		m.u.settled.locks = locks;
		m.u.settled.nlocks = n;
		m.u.settled.gen_hwm = a->cfg.prev_gen_hwm;
		send(a, &m, wall_ms);
		a->self_phase = SELF_SENT;
		return;
	}
	if (!w || !alive(a, now) ||
	    (w->phase != W_SETTLE_READ && w->phase != W_RECOVER_READ && w->phase != W_CLEAN_READ))
		return;
	if (rc < 0 || (w->phase != W_RECOVER_READ && !complete) ||
	    (w->phase == W_CLEAN_READ && n)) {
		/* settle and a clean shutdown need the whole table (empty, for the latter);
		 * otherwise the lease decides */
		w->phase = W_OBSERVE;
		return;
	}
	watch_clear(w);
	w->locks = calloc(n ? n : 1, sizeof(*w->locks));
	if (!w->locks)
		abort();
	for (uint32_t i = 0; i < n; i++) {
		w->locks[i] = locks[i];
		w->locks[i].path = strdup(locks[i].path);
		if (!w->locks[i].path)
			abort();
	}
	w->nlocks = n;
	if (w->phase == W_SETTLE_READ || w->phase == W_CLEAN_READ) {
		/* A clean shutdown left nothing to fence or clear: recovered as it stands. */
		send_watch_msg(a, w, w->phase == W_SETTLE_READ ? LK_MSG_SETTLED : LK_MSG_RECOVERED,
			       wall_ms);
		return;
	}
	if (a->fence_io[w->host]) {
		w->phase = W_OBSERVE; /* an earlier fence of this slot is still in flight */
		return;
	}
	w->phase = W_FENCING;
	x = act(a, LK_ACT_FENCE);
	x->io = w->io = a->fence_io[w->host] = ++a->next_io;
	x->host = w->host;
	x->hb = (struct vol_heartbeat){ .host = w->host, .host_gen = w->inc, .wall_ms = wall_ms,
					.state = VOL_HB_FENCED, .fenced_by = a->cfg.host };
}

void lk_agent_new_epoch_done(struct lk_agent *a, uint64_t io, int rc, uint32_t epoch,
			     const struct lk_disk_host *hosts, uint32_t nhosts, int64_t now,
			     uint64_t wall_ms)
{
	struct lk_msg m = { .type = LK_MSG_COLDSTART };

	if (!alive(a, now) || io != a->epoch_io || !lk_state_syncing(a->st) ||
	    lk_state_ring(a->st) != a->epoch_ring)
		return;
	if (rc < 0) {
		a->epoch_retry = now + a->cfg.timing.hb_interval_ms;
		return;
	}
	a->epoch_io = 0;
	if (a->epoch_for_snapshot) {
		send_snapshot(a, a->epoch_ring, epoch, hosts, nhosts, wall_ms);
		return;
	}
	m.u.coldstart.ring = a->epoch_ring;
	m.u.coldstart.epoch = epoch;
	m.u.coldstart.hosts = hosts;
	m.u.coldstart.nhosts = nhosts;
	send(a, &m, wall_ms);
}

/* --- client requests ------------------------------------------------------------------------ */

/* Is a rename of ours in flight from or to either path? Renames and opens of those wait. */
static bool rename_pending(const struct lk_agent *a, const char *p, const char *q)
{
	for (size_t i = 0; i < a->nreqs; i++) {
		const struct request *r = &a->reqs[i];

		if (r->kind == R_RENAME && (strcmp(r->path, p) == 0 || strcmp(r->to, p) == 0 ||
					    strcmp(r->path, q) == 0 || strcmp(r->to, q) == 0))
			return true;
	}
	return false;
}

/*
 * An acquire of a hold being let go whose RELEASE is not sent yet (UNPERSISTING): the
 * replica still says this incarnation holds it, and no other host can have it meanwhile,
 * so it comes back into use without a message, under the same generation, once its entry
 * is durable again (persist before use). Not a file in a handoff: its commit may move it
 * any moment (an acquire of it is refused then too). Only in the quorate ring in which the
 * letting go began: the removal may be on disk already, and after a configuration change
 * a coordinator may settle this host from that table ("a hold the table does not show is
 * dropped", lk_apply.c rule 2); within the ring nobody reads it, and the entry written
 * back is durable before this host acknowledges any later ring (simulator seed 718184). Without this, a file closed and opened again at
 * once paid a release and a new grant in a row: two agreed messages and two writes.
 * False (nothing changed) when the replica disagrees or the table is full.
 */
static bool revive(struct lk_agent *a, struct hold *h, uint64_t req, int64_t now,
		   uint64_t wall_ms)
{
	struct lk_lock_view v;
	int i;

	if (h->reacquire || h->committing || h->ho_id || h->rename_req ||
	    !lk_state_grants_open(a->st) || lk_state_ring(a->st) != h->let_go_ring ||
	    lk_state_handoff_of(a->st, h->path) ||
	    !lk_state_holds(a->st, h->path, a->cfg.host, &v) || v.inc != a->cfg.inc ||
	    v.mode != h->mode || v.orphan || (i = slot_free(a)) < 0)
		return false;
	a->slots[i] = (struct vol_entry){ .state = VOL_E_HELD, .mode = v.mode, .gen = v.gen,
					  .since_ms = v.since_ms };
	set_path(a->slots[i].path, h->path);
	h->gen = v.gen;
	hold_wait(h, req);
	hold_persisting(a, h, (uint32_t)i / VOL_SLOTS_PER_SECTOR, slot_touch(a, i), wall_ms);
	flush_later(a, now);
	return true;
}

void lk_agent_acquire(struct lk_agent *a, uint64_t req, const char *path, enum lk_mode mode,
		      int64_t now, uint64_t wall_ms)
{
	struct hold *h = hold_find(a, path);
	struct request *r;

	if (!alive(a, now)) {
		client_reply(a, req, -EIO, path, (struct lk_gen){ 0 }, 0, 0);
		return;
	}
	if (!a->lease.valid) {
		/* No lease yet: a grant could never be used (nor safely persisted). */
		client_reply(a, req, -EAGAIN, path, (struct lk_gen){ 0 }, 0, 0);
		return;
	}
	if (rename_pending(a, path, path)) {
		client_reply(a, req, -EBUSY, path, (struct lk_gen){ 0 }, 0, a->cfg.host);
		return;
	}
	if (h) {
		switch (h->phase) {
		case H_USED:
			if (h->mode == mode) {
				h->refs++;
				client_reply(a, req, 0, path, h->gen, 0, 0);
			} else {
				client_reply(a, req, -EBUSY, path, h->gen, 0, a->cfg.host);
			}
			return;
		case H_ACQUIRING:
		case H_PERSISTING:
			if (h->mode == mode)
				hold_wait(h, req);
			else
				client_reply(a, req, -EBUSY, path, h->gen, 0, a->cfg.host);
			return;
		case H_UNPERSISTING:
			if (h->mode == mode && revive(a, h, req, now, wall_ms))
				return;
			/* fall through */
		case H_RELEASING:
			if (h->reacquire && h->want != mode) {
				client_reply(a, req, -EBUSY, path, h->gen, 0, a->cfg.host);
				return;
			}
			h->reacquire = true;
			h->want = mode;
			hold_wait(h, req);
			return;
		case H_HO_IN:
		case H_COMMITTING:
		case H_RENAMING:
			client_reply(a, req, -EBUSY, path, h->gen, h->ho_id, a->cfg.host);
			return;
		}
	}
	h = hold_new(a, path, H_ACQUIRING);
	h->mode = mode;
	hold_wait(h, req);
	r = req_add(a, R_ACQUIRE, req, path, NULL, 0);
	send_request(a, r, mode, wall_ms);
}

void lk_agent_release(struct lk_agent *a, const char *path, int64_t now, uint64_t wall_ms)
{
	struct hold *h = hold_find(a, path);

	if (!alive(a, now) || !h || h->refs == 0)
		return;
	if (h->phase != H_USED && h->phase != H_RENAMING && h->phase != H_COMMITTING &&
	    h->phase != H_PERSISTING)
		return;
	/* The last close of a hold that is not in use (renaming, committing, persisting)
	 * lets go when it comes back into use: hold_usable, reconcile. */
	if (--h->refs || h->phase != H_USED)
		return;
	hold_let_go(a, h);
	after_change(a, now, wall_ms);
}

void lk_agent_rename(struct lk_agent *a, uint64_t req, const char *from, const char *to,
		     int64_t now, uint64_t wall_ms)
{
	struct hold *h = hold_find(a, from);
	struct request *r;

	if (!alive(a, now) || !h || h->phase != H_USED) {
		client_reply(a, req, a->fenced ? -EIO : -ENOENT, from, (struct lk_gen){ 0 }, 0, 0);
		return;
	}
	if (hold_find(a, to) || rename_pending(a, from, to)) {
		client_reply(a, req, -EEXIST, to, (struct lk_gen){ 0 }, 0, a->cfg.host);
		return;
	}
	/* The old name is not used from here: another host may take it once the rename is
	 * agreed, before we deliver it. */
	h->phase = H_RENAMING;
	r = req_add(a, R_RENAME, req, from, to, 0);
	send_request(a, r, h->mode, wall_ms);
}

void lk_agent_ho_prepare(struct lk_agent *a, uint64_t req, lk_host_t to,
			 const char *const *files, uint32_t n, int64_t now, uint64_t wall_ms)
{
	struct lk_msg m = { .type = LK_MSG_HO_PREPARE };
	struct request *r;

	if (!alive(a, now)) {
		client_reply(a, req, -EIO, NULL, (struct lk_gen){ 0 }, 0, 0);
		return;
	}
	r = req_add(a, R_PREPARE, req, NULL, NULL, 0);
	m.req = r->msg_req;
	m.u.ho_prepare.to = to;
	m.u.ho_prepare.files = files;
	m.u.ho_prepare.nfiles = n;
	send(a, &m, wall_ms);
}

void lk_agent_ho_commit(struct lk_agent *a, uint64_t req, uint64_t id, int64_t now,
			uint64_t wall_ms)
{
	const struct ho_rec *r = lk_state_handoff_by_id(a->st, id);
	struct request *q;

	if (!alive(a, now)) {
		client_reply(a, req, -EIO, NULL, (struct lk_gen){ 0 }, id, 0);
		return;
	}
	/* Drain and fence the source's use of every file before the commit is sent (only a
	 * pending handoff of ours moves anything; a repeat is answered without touching). */
	for (uint32_t i = 0; r && r->state == HO_PENDING && r->src == a->cfg.host &&
			     r->src_inc == a->cfg.inc && i < r->nfiles; i++) {
		struct hold *h = hold_find(a, r->files[i]);

		if (!h || h->phase == H_RELEASING || h->phase == H_UNPERSISTING ||
		    h->phase == H_HO_IN)
			continue;
		h->committing = true;
		h->ho_id = id;
		if (h->phase == H_USED)
			h->phase = H_COMMITTING;
		/* persisting or renaming: it becomes COMMITTING, not USED, when that ends */
	}
	q = req_add(a, R_COMMIT, req, NULL, NULL, id);
	send_request(a, q, LK_MODE_NONE, wall_ms);
}

void lk_agent_ho_abort(struct lk_agent *a, uint64_t req, uint64_t id, int64_t now,
		       uint64_t wall_ms)
{
	struct request *q;

	if (!alive(a, now)) {
		client_reply(a, req, -EIO, NULL, (struct lk_gen){ 0 }, id, 0);
		return;
	}
	q = req_add(a, R_ABORT, req, NULL, NULL, id);
	send_request(a, q, LK_MODE_NONE, wall_ms);
}

/* --- lifecycle and queries ---------------------------------------------------------------- */

struct lk_agent *lk_agent_new(const struct lk_agent_cfg *cfg)
{
	struct lk_agent *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->cfg = *cfg;
	if (!a->cfg.rules)
		a->cfg.rules = &lk_rules_default;
	a->st = lk_state_new(cfg->host, a->cfg.rules);
	a->slots = calloc(nslots(a) ? nslots(a) : 1, sizeof(*a->slots));
	a->sectors = calloc(cfg->table_sectors ? cfg->table_sectors : 1, sizeof(*a->sectors));
	a->watches = calloc(1, sizeof(*a->watches));
	if (!a->st || !a->slots || !a->sectors || !a->watches) {
		lk_agent_free(a);
		return NULL;
	}
	a->inquorate_since = -1;
	return a;
}

void lk_agent_free(struct lk_agent *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->nacts; i++)
		lk_act_free(a->acts[i]);
	free(a->acts);
	while (a->nholds) {
		a->holds[0].rename_req = 0; /* nobody is left to answer */
		hold_del(a, &a->holds[0]);
	}
	free(a->holds);
	while (a->nreqs)
		req_del(a, &a->reqs[0]);
	free(a->reqs);
	for (size_t i = 0; i < a->nwatches; i++)
		watch_clear(&a->watches[i]);
	free(a->watches);
	free(a->prep);
	free(a->jho);
	free(a->slots);
	free(a->sectors);
	lk_fxbuf_free(&a->fx);
	lk_state_free(a->st);
	free(a);
}

void lk_agent_heartbeat_seen(struct lk_agent *a, lk_host_t host, uint64_t host_gen,
			     uint64_t counter, int64_t first_seen)
{
	if (host < 1 || host > LK_MAX_HOSTS)
		return;
	a->seen[host] = (struct lk_observer){ .seen = true, .host_gen = host_gen,
					      .counter = counter, .first_seen = first_seen };
}

const struct lk_state *lk_agent_state(const struct lk_agent *a) { return a->st; }
const struct lk_lease *lk_agent_lease(const struct lk_agent *a) { return &a->lease; }
bool lk_agent_fenced(const struct lk_agent *a) { return a->fenced; }

static bool hold_in_use(const struct lk_agent *a, const struct hold *h, int64_t now)
{
	return !a->fenced && h->phase == H_USED && a->lease.valid && now < a->lease.deadline;
}

bool lk_agent_using(const struct lk_agent *a, const char *path, int64_t now,
		    enum lk_mode *mode, struct lk_gen *gen)
{
	for (size_t i = 0; i < a->nholds; i++) {
		const struct hold *h = &a->holds[i];

		if (strcmp(h->path, path) != 0 || !hold_in_use(a, h, now))
			continue;
		if (mode)
			*mode = h->mode;
		if (gen)
			*gen = h->gen;
		return true;
	}
	return false;
}

void lk_agent_foreach_use(const struct lk_agent *a, int64_t now, lk_use_fn fn, void *arg)
{
	for (size_t i = 0; i < a->nholds; i++)
		if (hold_in_use(a, &a->holds[i], now))
			fn(arg, a->holds[i].path, a->holds[i].mode, a->holds[i].gen);
}

void lk_agent_dump(const struct lk_agent *a, FILE *f)
{
	static const char *const phase[] = { "acquiring", "persisting", "used", "unpersisting",
					     "releasing", "handoff-in", "committing", "renaming" };

	fprintf(f, "agent host %u inc %llu%s lease %s deadline %lld\n", a->cfg.host,
		(unsigned long long)a->cfg.inc, a->fenced ? " FENCED" : "",
		a->lease.valid ? "valid" : "none", (long long)a->lease.deadline);
	for (size_t i = 0; i < a->nholds; i++) {
		const struct hold *h = &a->holds[i];

		fprintf(f, "  hold %s %s %s gen %u:%llu refs %u waits %u ho %llx\n", h->path,
			phase[h->phase], lk_mode_name(h->mode), h->gen.epoch,
			(unsigned long long)h->gen.counter, h->refs, h->nwait,
			(unsigned long long)h->ho_id);
	}
	for (size_t i = 0; i < a->nreqs; i++)
		fprintf(f, "  request %llx kind %d %s%s%s%s wait-handoff %llx\n",
			(unsigned long long)a->reqs[i].msg_req, (int)a->reqs[i].kind,
			a->reqs[i].path ? a->reqs[i].path : "", a->reqs[i].to ? " -> " : "",
			a->reqs[i].to ? a->reqs[i].to : "", a->reqs[i].retry ? " (deferred)" : "",
			(unsigned long long)a->reqs[i].wait_ho);
	for (uint32_t i = 0; i < nslots(a); i++)
		if (a->slots[i].state != VOL_E_FREE)
			fprintf(f, "  slot %u: %s state %d gen %u:%llu\n", i, a->slots[i].path,
				(int)a->slots[i].state, a->slots[i].gen.epoch,
				(unsigned long long)a->slots[i].gen.counter);
	for (uint32_t t = 0; t < a->cfg.table_sectors; t++)
		fprintf(f, "  sector %u: mod %llu durable %llu%s\n", t,
			(unsigned long long)a->sectors[t].mod,
			(unsigned long long)a->sectors[t].durable,
			a->sectors[t].inflight ? " (write in flight)" : "");
}

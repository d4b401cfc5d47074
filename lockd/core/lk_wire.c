/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lk_wire.c - encode/decode of lock messages for corosync CPG (contract: lk_wire.h).
 *
 * Sections: the writer (growable buffer, put_*), the reader (bounds-checked get_*, first
 * failure sticks), shared pieces (generations, disk locks and hosts), the replica
 * snapshot, then one encode and one decode switch over the message types.
 *
 * Decoding builds a temporary message whose arrays live in an arena, then hands it to
 * lk_msg_dup, which makes the owned copy the caller frees with lk_msg_free.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lockd/core/lk_agent.h"
#include "lockd/core/lk_grow.h"
#include "lockd/core/lk_state_int.h"
#include "lockd/core/lk_wire.h"

/* --- writer ------------------------------------------------------------------------ */

struct wbuf {
	uint8_t *p;
	size_t n, cap;
	int err;
};

static uint8_t *wroom(struct wbuf *w, size_t k)
{
	uint8_t *p;

	if (w->err)
		return NULL;
	if (w->n + k > w->cap) {
		size_t ncap = w->cap ? w->cap : 256;

		while (ncap < w->n + k)
			ncap *= 2;
		p = realloc(w->p, ncap);
		if (!p) {
			w->err = -ENOMEM;
			return NULL;
		}
		w->p = p;
		w->cap = ncap;
	}
	p = w->p + w->n;
	w->n += k;
	return p;
}

static void put_u(struct wbuf *w, uint64_t v, size_t bytes)
{
	uint8_t *p = wroom(w, bytes);

	for (size_t i = 0; p && i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u8(struct wbuf *w, uint64_t v) { put_u(w, v, 1); }
static void put_u16(struct wbuf *w, uint64_t v) { put_u(w, v, 2); }
static void put_u32(struct wbuf *w, uint64_t v) { put_u(w, v, 4); }
static void put_u64(struct wbuf *w, uint64_t v) { put_u(w, v, 8); }

static void put_str(struct wbuf *w, const char *s)
{
	size_t len = s ? strlen(s) : 0;
	uint8_t *p;

	if (len > LK_PATH_MAX) {
		w->err = w->err ? w->err : -EINVAL;
		return;
	}
	put_u16(w, len);
	p = wroom(w, len);
	if (p && len)
		memcpy(p, s, len);
}

static void put_gen(struct wbuf *w, struct lk_gen g)
{
	put_u32(w, g.epoch);
	put_u64(w, g.counter);
}

/* --- reader ------------------------------------------------------------------------ */

struct rbuf {
	const uint8_t *p;
	size_t n, off;
	const char *why; /* first failure */
	void **allocs;   /* arena of the temporary message */
	size_t nallocs, capallocs;
	bool nomem;
};

static bool fail(struct rbuf *r, const char *why)
{
	if (!r->why)
		r->why = why;
	return false;
}

static const uint8_t *take(struct rbuf *r, size_t k)
{
	const uint8_t *p;

	if (r->why)
		return NULL;
	if (r->n - r->off < k) {
		fail(r, "record ends early");
		return NULL;
	}
	p = r->p + r->off;
	r->off += k;
	return p;
}

static uint64_t get_u(struct rbuf *r, size_t bytes)
{
	const uint8_t *p = take(r, bytes);
	uint64_t v = 0;

	for (size_t i = 0; p && i < bytes; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static uint8_t get_u8(struct rbuf *r) { return (uint8_t)get_u(r, 1); }
static uint16_t get_u16(struct rbuf *r) { return (uint16_t)get_u(r, 2); }
static uint32_t get_u32(struct rbuf *r) { return (uint32_t)get_u(r, 4); }
static uint64_t get_u64(struct rbuf *r) { return get_u(r, 8); }

static bool get_bool(struct rbuf *r)
{
	uint8_t v = get_u8(r);

	if (v > 1)
		fail(r, "flag is neither 0 nor 1");
	return v == 1;
}

static void *arena(struct rbuf *r, size_t size)
{
	void *p;

	if (r->why || r->nomem)
		return NULL;
	p = calloc(1, size ? size : 1);
	if (!p || LK_GROW(r->allocs, r->nallocs, r->capallocs) < 0) {
		free(p);
		r->nomem = true;
		fail(r, "out of memory");
		return NULL;
	}
	r->allocs[r->nallocs++] = p;
	return p;
}

static void arena_free(struct rbuf *r)
{
	for (size_t i = 0; i < r->nallocs; i++)
		free(r->allocs[i]);
	free(r->allocs);
}

/* A path or name: at most LK_PATH_MAX bytes, no NUL; empty only when allowed. */
static char *get_str(struct rbuf *r, bool may_be_empty)
{
	uint16_t len = get_u16(r);
	const uint8_t *p;
	char *s;

	if (len > LK_PATH_MAX) {
		fail(r, "path longer than LK_PATH_MAX");
		return NULL;
	}
	if (!len && !may_be_empty) {
		fail(r, "empty path");
		return NULL;
	}
	p = take(r, len);
	if (!p)
		return NULL;
	if (memchr(p, 0, len)) {
		fail(r, "NUL byte inside a path");
		return NULL;
	}
	s = arena(r, (size_t)len + 1);
	if (s)
		memcpy(s, p, len);
	return s;
}

/* A count of elements that each take at least min bytes: never more than remain. */
static uint32_t get_count(struct rbuf *r, size_t min)
{
	uint32_t n = get_u32(r);

	if (!r->why && (uint64_t)n * min > r->n - r->off) {
		fail(r, "count larger than the record");
		return 0;
	}
	return r->why ? 0 : n;
}

static lk_host_t get_host(struct rbuf *r, bool may_be_zero)
{
	uint32_t h = get_u32(r);

	if (h > LK_MAX_HOSTS || (!h && !may_be_zero)) {
		fail(r, "host id out of range");
		return 0; /* callers index arrays with it before they look at r->why */
	}
	return h;
}

static enum lk_mode get_mode(struct rbuf *r, bool may_be_none)
{
	uint8_t m = get_u8(r);

	if (m > LK_MODE_EX || (m == LK_MODE_NONE && !may_be_none))
		fail(r, "unknown lock mode");
	return (enum lk_mode)m;
}

static struct lk_gen get_gen(struct rbuf *r)
{
	struct lk_gen g;

	g.epoch = get_u32(r);
	g.counter = get_u64(r);
	return g;
}

/* --- disk locks and hosts (settle, recovery, cold start) ---------------------------- */

#define DISK_LOCK_MIN (2 + 1 + 1 + 12 + 8 + 8)
#define DISK_HOST_MIN (4 + 8 + 1 + 1 + 8 + 1 + 4)

static void put_disk_locks(struct wbuf *w, const struct lk_disk_lock *l, uint32_t n)
{
	put_u32(w, n);
	for (uint32_t i = 0; i < n; i++) {
		put_str(w, l[i].path);
		put_u8(w, l[i].mode);
		put_u8(w, l[i].state);
		put_gen(w, l[i].gen);
		put_u64(w, l[i].handoff_id);
		put_u64(w, l[i].since_ms);
	}
}

static const struct lk_disk_lock *get_disk_locks(struct rbuf *r, uint32_t *n)
{
	struct lk_disk_lock *l;

	*n = get_count(r, DISK_LOCK_MIN);
	l = arena(r, *n * sizeof(*l));
	for (uint32_t i = 0; l && i < *n && !r->why; i++) {
		uint8_t st;

		l[i].path = get_str(r, false);
		l[i].mode = get_mode(r, false);
		st = get_u8(r);
		if (st < LK_DISK_HELD || st > LK_DISK_HANDOFF_IN)
			fail(r, "unknown disk lock state");
		l[i].state = (enum lk_disk_state)st;
		l[i].gen = get_gen(r);
		l[i].handoff_id = get_u64(r);
		l[i].since_ms = get_u64(r);
	}
	return l;
}

static void put_disk_hosts(struct wbuf *w, const struct lk_disk_host *h, uint32_t n)
{
	put_u32(w, n);
	for (uint32_t i = 0; i < n; i++) {
		put_u32(w, h[i].host);
		put_u64(w, h[i].inc);
		put_u8(w, h[i].live);
		put_u8(w, h[i].complete);
		put_u64(w, h[i].ring_seq);
		put_u8(w, h[i].ring_quorate);
		put_disk_locks(w, h[i].locks, h[i].nlocks);
	}
}

static const struct lk_disk_host *get_disk_hosts(struct rbuf *r, uint32_t *n)
{
	struct lk_disk_host *h;

	*n = get_count(r, DISK_HOST_MIN);
	h = arena(r, *n * sizeof(*h));
	for (uint32_t i = 0; h && i < *n && !r->why; i++) {
		h[i].host = get_host(r, false);
		h[i].inc = get_u64(r);
		h[i].live = get_bool(r);
		h[i].complete = get_bool(r);
		h[i].ring_seq = get_u64(r);
		h[i].ring_quorate = get_bool(r);
		h[i].locks = get_disk_locks(r, &h[i].nlocks);
	}
	return h;
}

/* --- the replica (SNAPSHOT) ---------------------------------------------------------- */

static void put_state(struct wbuf *w, const struct lk_state *s)
{
	uint32_t n = 0;

	put_u8(w, s->have);
	put_u8(w, s->quorate);
	put_u8(w, s->syncing);
	put_u64(w, s->ring);
	put_u64(w, s->lineage);
	put_u64(w, s->seq);
	put_u32(w, s->epoch);
	put_u64(w, s->counter);
	put_u32(w, s->ho_counter);
	put_u32(w, s->sync_winner);
	put_u8(w, s->sync_cold);
	for (lk_host_t h = 0; h <= LK_MAX_HOSTS; h++)
		n += s->hosts[h].member || s->hosts[h].inc || s->hosts[h].dead_inc ||
		     s->sync[h].got || s->sync[h].have;
	put_u32(w, n);
	for (lk_host_t h = 0; h <= LK_MAX_HOSTS; h++) {
		const struct lk_hslot *x = &s->hosts[h];
		const struct lk_sync *y = &s->sync[h];

		if (!(x->member || x->inc || x->dead_inc || y->got || y->have))
			continue;
		put_u32(w, h);
		put_u8(w, x->member);
		put_u64(w, x->inc);
		put_u64(w, x->dead_inc);
		put_u64(w, x->dead_ring);
		put_u8(w, x->unsettled);
		put_u8(w, y->got);
		put_u8(w, y->have);
		put_u64(w, y->lineage);
		put_u64(w, y->seq);
		put_gen(w, y->hwm);
	}
	put_u32(w, (uint32_t)s->nlocks);
	for (size_t i = 0; i < s->nlocks; i++) {
		const struct lk_lock *l = s->locks[i];

		put_str(w, l->path);
		put_u64(w, l->handoff_id);
		put_u32(w, l->nh);
		for (uint32_t j = 0; j < l->nh; j++) {
			put_u32(w, l->h[j].host);
			put_u64(w, l->h[j].inc);
			put_u8(w, l->h[j].mode);
			put_gen(w, l->h[j].gen);
			put_u64(w, l->h[j].since_ms);
		}
	}
	put_u32(w, (uint32_t)s->nho);
	for (size_t i = 0; i < s->nho; i++) {
		const struct ho_rec *x = &s->ho[i];

		put_u64(w, x->id);
		put_u32(w, x->src);
		put_u32(w, x->dst);
		put_u64(w, x->src_inc);
		put_u64(w, x->dst_inc);
		put_u8(w, x->state);
		put_u64(w, x->commit_req);
		put_u32(w, x->nfiles);
		for (uint32_t f = 0; f < x->nfiles; f++)
			put_str(w, x->files[f]);
	}
}

#define SLOT_MIN (4 + 1 + 8 + 8 + 8 + 1 + 1 + 1 + 8 + 8 + 12)
#define LOCK_MIN (2 + 8 + 4)
#define HOLDER_MIN (4 + 8 + 1 + 12 + 8)
#define HO_MIN (8 + 4 + 4 + 8 + 8 + 1 + 8 + 4)

static bool get_locks_into(struct rbuf *r, struct lk_state *s)
{
	uint32_t n = get_count(r, LOCK_MIN);

	for (uint32_t i = 0; i < n && !r->why; i++) {
		char *path = get_str(r, false);
		uint64_t ho = get_u64(r);
		uint32_t nh = get_count(r, HOLDER_MIN);
		struct lk_lock *l;

		if (r->why)
			return false;
		if (i && strcmp(s->locks[i - 1]->path, path) >= 0)
			return fail(r, "snapshot locks out of order");
		l = lk_lock_insert(s, path, i);
		if (!l)
			return fail(r, "out of memory");
		l->handoff_id = ho;
		for (uint32_t j = 0; j < nh && !r->why; j++) {
			struct lk_holder *h = lk_holder_add(l);

			if (!h)
				return fail(r, "out of memory");
			h->host = get_host(r, false);
			h->inc = get_u64(r);
			h->mode = get_mode(r, false);
			h->gen = get_gen(r);
			h->since_ms = get_u64(r);
		}
	}
	return !r->why;
}

static bool get_handoffs_into(struct rbuf *r, struct lk_state *s)
{
	uint32_t n = get_count(r, HO_MIN);

	for (uint32_t i = 0; i < n && !r->why; i++) {
		struct ho_rec x = { 0 };
		const char **files;
		struct ho_rec *dst;
		uint8_t st;

		x.id = get_u64(r);
		x.src = get_host(r, false);
		x.dst = get_host(r, false);
		x.src_inc = get_u64(r);
		x.dst_inc = get_u64(r);
		st = get_u8(r);
		x.commit_req = get_u64(r);
		x.nfiles = get_count(r, 2);
		if (st < HO_PENDING || st > HO_ABORTED)
			return fail(r, "unknown handoff state");
		files = arena(r, x.nfiles * sizeof(*files));
		for (uint32_t f = 0; files && f < x.nfiles; f++)
			files[f] = get_str(r, false);
		if (r->why)
			return false;
		dst = lk_ho_add(s);
		if (!dst)
			return fail(r, "out of memory");
		if (ho_rec_init(dst, x.id, x.src, x.src_inc, x.dst, x.dst_inc, files, x.nfiles) < 0) {
			s->nho--;
			return fail(r, "out of memory");
		}
		dst->state = (enum ho_state)st;
		dst->commit_req = x.commit_req;
		if (!ho_ok(dst))
			return fail(r, "handoff record breaks its invariants");
	}
	return !r->why;
}

static struct lk_state *get_state(struct rbuf *r, lk_host_t self, const struct lk_rules *rules)
{
	struct lk_state *s = lk_state_new(self, rules);
	uint32_t n;

	if (!s) {
		fail(r, "out of memory");
		return NULL;
	}
	s->have = get_bool(r);
	s->quorate = get_bool(r);
	s->syncing = get_bool(r);
	s->ring = get_u64(r);
	s->lineage = get_u64(r);
	s->seq = get_u64(r);
	s->epoch = get_u32(r);
	s->counter = get_u64(r);
	s->ho_counter = get_u32(r);
	s->sync_winner = get_host(r, true);
	s->sync_cold = get_bool(r);
	n = get_count(r, SLOT_MIN);
	for (uint32_t i = 0; i < n && !r->why; i++) {
		lk_host_t h = get_host(r, true);
		struct lk_hslot *x = &s->hosts[h];
		struct lk_sync *y = &s->sync[h];

		x->member = get_bool(r);
		x->inc = get_u64(r);
		x->dead_inc = get_u64(r);
		x->dead_ring = get_u64(r);
		x->unsettled = get_bool(r);
		y->got = get_bool(r);
		y->have = get_bool(r);
		y->lineage = get_u64(r);
		y->seq = get_u64(r);
		y->hwm = get_gen(r);
	}
	if (!r->why && get_locks_into(r, s) && get_handoffs_into(r, s) && lk_state_check(s))
		fail(r, "snapshot breaks the replica's invariants");
	if (r->why) {
		lk_state_free(s);
		return NULL;
	}
	return s;
}

/* --- messages ------------------------------------------------------------------------ */

#define HEADER_LEN (4 + 2 + 2 + 4 + 8 + 8 + 8)

int lk_wire_encode(const struct lk_msg *m, void **buf, size_t *len)
{
	struct wbuf w = { 0 };

	if (m->type == LK_MSG_CONFCHG)
		return -EINVAL;
	put_u32(&w, LK_WIRE_MAGIC);
	put_u16(&w, LK_WIRE_VERSION);
	put_u16(&w, m->type);
	put_u32(&w, m->from);
	put_u64(&w, m->from_inc);
	put_u64(&w, m->req);
	put_u64(&w, m->wall_ms);
	switch (m->type) {
	case LK_MSG_CONFCHG:
		break;
	case LK_MSG_SYNC:
		put_u64(&w, m->u.sync.ring);
		put_u8(&w, m->u.sync.have_state);
		put_u64(&w, m->u.sync.lineage);
		put_u64(&w, m->u.sync.seq);
		put_gen(&w, m->u.sync.gen_hwm);
		break;
	case LK_MSG_SNAPSHOT:
		put_u64(&w, m->u.snapshot.ring);
		put_u8(&w, m->u.snapshot.state != NULL);
		if (m->u.snapshot.state)
			put_state(&w, m->u.snapshot.state);
		put_u32(&w, m->u.snapshot.epoch);
		put_disk_hosts(&w, m->u.snapshot.hosts, m->u.snapshot.nhosts);
		break;
	case LK_MSG_COLDSTART:
		put_u64(&w, m->u.coldstart.ring);
		put_u32(&w, m->u.coldstart.epoch);
		put_disk_hosts(&w, m->u.coldstart.hosts, m->u.coldstart.nhosts);
		break;
	case LK_MSG_ACQUIRE:
		put_str(&w, m->u.acquire.path);
		put_u8(&w, m->u.acquire.mode);
		break;
	case LK_MSG_RELEASE:
		put_str(&w, m->u.release.path);
		break;
	case LK_MSG_RENAME:
		put_str(&w, m->u.rename.from);
		put_str(&w, m->u.rename.to);
		break;
	case LK_MSG_SETTLED:
	case LK_MSG_RECOVERED:
		put_u32(&w, m->u.settled.host);
		put_u64(&w, m->u.settled.inc);
		put_disk_locks(&w, m->u.settled.locks, m->u.settled.nlocks);
		put_gen(&w, m->u.settled.gen_hwm);
		break;
	case LK_MSG_HO_PREPARE:
		put_u32(&w, m->u.ho_prepare.to);
		put_u32(&w, m->u.ho_prepare.nfiles);
		for (uint32_t i = 0; i < m->u.ho_prepare.nfiles; i++)
			put_str(&w, m->u.ho_prepare.files[i]);
		break;
	case LK_MSG_HO_COMMIT:
	case LK_MSG_HO_ABORT:
	case LK_MSG_HO_DURABLE:
		put_u64(&w, m->u.ho.id);
		break;
	}
	if (w.err) {
		free(w.p);
		return w.err;
	}
	*buf = w.p;
	*len = w.n;
	return 0;
}

static void get_body(struct rbuf *r, struct lk_msg *m, lk_host_t self,
		     const struct lk_rules *rules, struct lk_state **snap)
{
	switch (m->type) {
	case LK_MSG_CONFCHG:
		fail(r, "a configuration change is never sent");
		break;
	case LK_MSG_SYNC:
		m->u.sync.ring = get_u64(r);
		m->u.sync.have_state = get_bool(r);
		m->u.sync.lineage = get_u64(r);
		m->u.sync.seq = get_u64(r);
		m->u.sync.gen_hwm = get_gen(r);
		break;
	case LK_MSG_SNAPSHOT:
		m->u.snapshot.ring = get_u64(r);
		if (get_bool(r))
			*snap = get_state(r, self, rules);
		m->u.snapshot.state = *snap;
		m->u.snapshot.epoch = get_u32(r);
		m->u.snapshot.hosts = get_disk_hosts(r, &m->u.snapshot.nhosts);
		break;
	case LK_MSG_COLDSTART:
		m->u.coldstart.ring = get_u64(r);
		m->u.coldstart.epoch = get_u32(r);
		m->u.coldstart.hosts = get_disk_hosts(r, &m->u.coldstart.nhosts);
		break;
	case LK_MSG_ACQUIRE:
		m->u.acquire.path = get_str(r, false);
		m->u.acquire.mode = get_mode(r, false);
		break;
	case LK_MSG_RELEASE:
		m->u.release.path = get_str(r, false);
		break;
	case LK_MSG_RENAME:
		m->u.rename.from = get_str(r, false);
		m->u.rename.to = get_str(r, false);
		break;
	case LK_MSG_SETTLED:
	case LK_MSG_RECOVERED:
		m->u.settled.host = get_host(r, false);
		m->u.settled.inc = get_u64(r);
		m->u.settled.locks = get_disk_locks(r, &m->u.settled.nlocks);
		m->u.settled.gen_hwm = get_gen(r);
		break;
	case LK_MSG_HO_PREPARE: {
		const char **f;

		m->u.ho_prepare.to = get_host(r, false);
		m->u.ho_prepare.nfiles = get_count(r, 2);
		f = arena(r, m->u.ho_prepare.nfiles * sizeof(*f));
		for (uint32_t i = 0; f && i < m->u.ho_prepare.nfiles; i++)
			f[i] = get_str(r, false);
		m->u.ho_prepare.files = f;
		break;
	}
	case LK_MSG_HO_COMMIT:
	case LK_MSG_HO_ABORT:
	case LK_MSG_HO_DURABLE:
		m->u.ho.id = get_u64(r);
		break;
	}
}

int lk_wire_decode(const void *buf, size_t len, lk_host_t self, const struct lk_rules *rules,
		   struct lk_msg **out, const char **why)
{
	struct rbuf r = { .p = buf, .n = len };
	struct lk_state *snap = NULL;
	struct lk_msg m = { 0 };
	uint16_t version, type;
	int rc = 0;

	*why = NULL;
	if (len < HEADER_LEN) {
		*why = "shorter than a message header";
		return -EBADMSG;
	}
	if (get_u32(&r) != LK_WIRE_MAGIC) {
		*why = "not a vmfs lock message (bad magic)";
		return -EBADMSG;
	}
	version = get_u16(&r);
	if (version != LK_WIRE_VERSION) {
		*why = "another wire version";
		return -EPROTO;
	}
	type = get_u16(&r);
	if (type < LK_MSG_SYNC || type > LK_MSG_HO_DURABLE) {
		*why = "unknown message type";
		return -EBADMSG;
	}
	m.type = (enum lk_msg_type)type;
	m.from = get_host(&r, false);
	m.from_inc = get_u64(&r);
	m.req = get_u64(&r);
	m.wall_ms = get_u64(&r);
	get_body(&r, &m, self, rules, &snap);
	if (!r.why && r.off != r.n)
		fail(&r, "trailing bytes after the message");
	if (r.why) {
		rc = r.nomem ? -ENOMEM : -EBADMSG;
		*why = r.why;
	} else {
		*out = lk_msg_dup(&m);
		if (!*out)
			rc = -ENOMEM;
	}
	lk_state_free(snap);
	arena_free(&r);
	return rc;
}

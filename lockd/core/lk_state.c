/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lk_state.c - the replica's containers: the sorted lock array with its holders, the
 * handoff records, copying and comparing whole replicas, read-only queries, and the
 * effect buffer. The transitions themselves are in lk_apply.c.
 *
 * Sections: locks and holders · handoff records · whole replica · queries · effects
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lockd/core/lk_grow.h"
#include "lockd/core/lk_state_int.h"

/* --- locks and holders ---------------------------------------------------------- */

struct lk_lock *lk_find(const struct lk_state *s, const char *path, size_t *pos)
{
	size_t lo = 0, hi = s->nlocks;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(s->locks[mid]->path, path);

		if (c == 0) {
			if (pos)
				*pos = mid;
			return s->locks[mid];
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (pos)
		*pos = lo;
	return NULL;
}

struct lk_lock *lk_lock_insert(struct lk_state *s, const char *path, size_t pos)
{
	struct lk_lock *l;

	if (LK_GROW(s->locks, s->nlocks, s->caplocks) < 0)
		return NULL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->path = strdup(path);
	if (!l->path) {
		free(l);
		return NULL;
	}
	memmove(&s->locks[pos + 1], &s->locks[pos], (s->nlocks - pos) * sizeof(*s->locks));
	s->locks[pos] = l;
	s->nlocks++;
	return l;
}

static void lock_free(struct lk_lock *l)
{
	free(l->path);
	free(l->h);
	free(l);
}

void lk_lock_remove(struct lk_state *s, size_t pos)
{
	lock_free(s->locks[pos]);
	memmove(&s->locks[pos], &s->locks[pos + 1], (s->nlocks - pos - 1) * sizeof(*s->locks));
	s->nlocks--;
}

struct lk_holder *lk_holder_find(const struct lk_lock *l, lk_host_t h)
{
	for (uint32_t i = 0; i < l->nh; i++)
		if (l->h[i].host == h)
			return &l->h[i];
	return NULL;
}

struct lk_holder *lk_holder_add(struct lk_lock *l)
{
	size_t cap = l->caph;

	if (lk_grow((void **)&l->h, &cap, l->nh, sizeof(*l->h)) < 0)
		return NULL;
	l->caph = (uint32_t)cap;
	memset(&l->h[l->nh], 0, sizeof(l->h[0]));
	return &l->h[l->nh++];
}

void lk_holder_del(struct lk_lock *l, struct lk_holder *h)
{
	size_t i = (size_t)(h - l->h);

	memmove(&l->h[i], &l->h[i + 1], (l->nh - i - 1) * sizeof(*h));
	l->nh--;
}

bool lk_holder_orphan(const struct lk_state *s, const struct lk_holder *h)
{
	const struct lk_hslot *hs = &s->hosts[h->host];

	return !(hs->member && hs->inc == h->inc);
}

size_t lk_view(const struct lk_state *s, const struct lk_lock *l, struct lk_lock_view *out)
{
	for (uint32_t i = 0; i < l->nh; i++) {
		out[i].host = l->h[i].host;
		out[i].inc = l->h[i].inc;
		out[i].mode = l->h[i].mode;
		out[i].gen = l->h[i].gen;
		out[i].orphan = lk_holder_orphan(s, &l->h[i]);
		out[i].since_ms = l->h[i].since_ms;
	}
	return l->nh;
}

/* --- handoff records ---------------------------------------------------------------- */

struct ho_rec *lk_ho_find(const struct lk_state *s, uint64_t id)
{
	for (size_t i = 0; i < s->nho; i++)
		if (s->ho[i].id == id)
			return &s->ho[i];
	return NULL;
}

struct ho_rec *lk_ho_add(struct lk_state *s)
{
	if (LK_GROW(s->ho, s->nho, s->capho) < 0)
		return NULL;
	memset(&s->ho[s->nho], 0, sizeof(s->ho[0]));
	return &s->ho[s->nho++];
}

/* Forgets the oldest final records beyond LK_HO_HISTORY; live ones are always kept. */
void lk_ho_prune(struct lk_state *s)
{
	size_t nfinal = 0;

	for (size_t i = 0; i < s->nho; i++)
		nfinal += ho_final(s->ho[i].state);
	for (size_t i = 0; i < s->nho && nfinal > LK_HO_HISTORY;) {
		if (!ho_final(s->ho[i].state)) {
			i++;
			continue;
		}
		ho_rec_free(&s->ho[i]);
		memmove(&s->ho[i], &s->ho[i + 1], (s->nho - i - 1) * sizeof(s->ho[0]));
		s->nho--;
		nfinal--;
	}
}

/* --- whole replica ------------------------------------------------------------------ */

struct lk_state *lk_state_new(lk_host_t self, const struct lk_rules *rules)
{
	struct lk_state *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->self = self;
	s->rules = rules ? rules : &lk_rules_default;
	return s;
}

void lk_state_clear(struct lk_state *s)
{
	for (size_t i = 0; i < s->nlocks; i++)
		lock_free(s->locks[i]);
	free(s->locks);
	for (size_t i = 0; i < s->nho; i++)
		ho_rec_free(&s->ho[i]);
	free(s->ho);
	s->locks = NULL;
	s->ho = NULL;
	s->nlocks = s->caplocks = s->nho = s->capho = 0;
}

void lk_state_free(struct lk_state *s)
{
	if (!s)
		return;
	lk_state_clear(s);
	free(s);
}

/* Replaces dst's replicated content with a deep copy of src's; dst keeps self and rules.
 * On -ENOMEM dst is left unchanged. */
int lk_state_copy_content(struct lk_state *dst, const struct lk_state *src)
{
	struct lk_state tmp = *src;

	tmp.self = dst->self;
	tmp.rules = dst->rules;
	tmp.locks = NULL;
	tmp.ho = NULL;
	tmp.nlocks = tmp.caplocks = tmp.nho = tmp.capho = 0;
	for (size_t i = 0; i < src->nlocks; i++) {
		const struct lk_lock *o = src->locks[i];
		struct lk_lock *l = lk_lock_insert(&tmp, o->path, i);

		if (!l)
			goto out_nomem;
		l->handoff_id = o->handoff_id;
		for (uint32_t j = 0; j < o->nh; j++) {
			struct lk_holder *h = lk_holder_add(l);

			if (!h)
				goto out_nomem;
			*h = o->h[j];
		}
	}
	for (size_t i = 0; i < src->nho; i++) {
		struct ho_rec *r = lk_ho_add(&tmp);

		if (!r || ho_rec_copy(r, &src->ho[i]) < 0) {
			if (r)
				tmp.nho--;
			goto out_nomem;
		}
	}
	lk_state_clear(dst);
	*dst = tmp;
	return 0;
out_nomem:
	lk_state_clear(&tmp);
	return -ENOMEM;
}

struct lk_state *lk_state_clone(const struct lk_state *s)
{
	struct lk_state *c = lk_state_new(s->self, s->rules);

	if (c && lk_state_copy_content(c, s) < 0) {
		lk_state_free(c);
		return NULL;
	}
	return c;
}

static bool ho_equal(const struct ho_rec *a, const struct ho_rec *b)
{
	if (a->id != b->id || a->src != b->src || a->dst != b->dst || a->src_inc != b->src_inc ||
	    a->dst_inc != b->dst_inc || a->state != b->state || a->commit_req != b->commit_req ||
	    a->nfiles != b->nfiles)
		return false;
	for (uint32_t i = 0; i < a->nfiles; i++)
		if (strcmp(a->files[i], b->files[i]) != 0)
			return false;
	return true;
}

static bool hslot_equal(const struct lk_hslot *a, const struct lk_hslot *b)
{
	return a->member == b->member && a->inc == b->inc && a->dead_inc == b->dead_inc &&
	       a->dead_ring == b->dead_ring && a->unsettled == b->unsettled;
}

static bool sync_equal(const struct lk_sync *a, const struct lk_sync *b)
{
	return a->got == b->got && a->have == b->have && a->lineage == b->lineage &&
	       a->seq == b->seq && lk_gen_cmp(a->hwm, b->hwm) == 0;
}

static bool holder_equal(const struct lk_holder *a, const struct lk_holder *b)
{
	return a->host == b->host && a->inc == b->inc && a->mode == b->mode &&
	       lk_gen_cmp(a->gen, b->gen) == 0 && a->since_ms == b->since_ms;
}

bool lk_state_equal(const struct lk_state *a, const struct lk_state *b)
{
	if (a->have != b->have || a->quorate != b->quorate || a->syncing != b->syncing ||
	    a->ring != b->ring || a->lineage != b->lineage || a->seq != b->seq ||
	    a->epoch != b->epoch || a->counter != b->counter || a->ho_counter != b->ho_counter ||
	    a->sync_winner != b->sync_winner || a->sync_cold != b->sync_cold ||
	    a->nlocks != b->nlocks || a->nho != b->nho)
		return false;
	for (lk_host_t h = 1; h <= LK_MAX_HOSTS; h++)
		if (!hslot_equal(&a->hosts[h], &b->hosts[h]) || !sync_equal(&a->sync[h], &b->sync[h]))
			return false;
	for (size_t i = 0; i < a->nlocks; i++) {
		const struct lk_lock *x = a->locks[i], *y = b->locks[i];

		if (strcmp(x->path, y->path) != 0 || x->handoff_id != y->handoff_id || x->nh != y->nh)
			return false;
		for (uint32_t j = 0; j < x->nh; j++)
			if (!holder_equal(&x->h[j], &y->h[j]))
				return false;
	}
	for (size_t i = 0; i < a->nho; i++)
		if (!ho_equal(&a->ho[i], &b->ho[i]))
			return false;
	return true;
}

/* --- queries ------------------------------------------------------------------------ */

bool lk_state_have(const struct lk_state *s) { return s->have; }
bool lk_state_quorate(const struct lk_state *s) { return s->quorate; }
bool lk_state_syncing(const struct lk_state *s) { return s->syncing; }
uint64_t lk_state_ring(const struct lk_state *s) { return s->ring; }
uint32_t lk_state_epoch(const struct lk_state *s) { return s->epoch; }
uint64_t lk_state_counter(const struct lk_state *s) { return s->counter; }
uint64_t lk_state_lineage(const struct lk_state *s) { return s->lineage; }
uint64_t lk_state_seq(const struct lk_state *s) { return s->seq; }
size_t lk_state_nlocks(const struct lk_state *s) { return s->nlocks; }
size_t lk_state_nhandoffs(const struct lk_state *s) { return s->nho; }

const struct ho_rec *lk_state_handoff(const struct lk_state *s, size_t i)
{
	return i < s->nho ? &s->ho[i] : NULL;
}

const struct ho_rec *lk_state_handoff_by_id(const struct lk_state *s, uint64_t id)
{
	return lk_ho_find(s, id);
}

bool lk_state_grants_open(const struct lk_state *s)
{
	if (!s->have || !s->quorate || s->syncing)
		return false;
	for (lk_host_t h = 1; h <= LK_MAX_HOSTS; h++)
		if (s->hosts[h].unsettled)
			return false;
	return true;
}

bool lk_state_is_member(const struct lk_state *s, lk_host_t h, uint64_t inc)
{
	return h >= 1 && h <= LK_MAX_HOSTS && s->hosts[h].member && s->hosts[h].inc == inc;
}

lk_host_t lk_state_coordinator(const struct lk_state *s)
{
	for (lk_host_t h = 1; h <= LK_MAX_HOSTS; h++)
		if (s->hosts[h].member)
			return h;
	return 0;
}

size_t lk_state_departed(const struct lk_state *s, struct lk_departed *out, size_t max)
{
	size_t n = 0;

	for (lk_host_t h = 1; h <= LK_MAX_HOSTS; h++) {
		const struct lk_hslot *hs = &s->hosts[h];

		if (!hs->dead_inc && !hs->unsettled)
			continue;
		if (n < max) {
			out[n].host = h;
			out[n].inc = hs->dead_inc ? hs->dead_inc : hs->inc;
			out[n].last_ring = hs->dead_ring;
			out[n].unsettled = hs->unsettled;
		}
		n++;
	}
	return n;
}

bool lk_state_awaits_recovery(const struct lk_state *s, lk_host_t h)
{
	const struct lk_hslot *hs = &s->hosts[h];

	return hs->dead_inc != 0 && !(hs->member && hs->inc == hs->dead_inc);
}

void lk_state_foreach(const struct lk_state *s, lk_lock_fn fn, void *arg)
{
	struct lk_lock_view v[LK_MAX_HOSTS];

	for (size_t i = 0; i < s->nlocks; i++) {
		const struct lk_lock *l = s->locks[i];

		fn(arg, l->path, v, lk_view(s, l, v), l->handoff_id);
	}
}

bool lk_state_holds(const struct lk_state *s, const char *path, lk_host_t h,
		    struct lk_lock_view *out)
{
	const struct lk_lock *l = lk_find(s, path, NULL);
	const struct lk_holder *hd = l ? lk_holder_find(l, h) : NULL;

	if (!hd)
		return false;
	out->host = hd->host;
	out->inc = hd->inc;
	out->mode = hd->mode;
	out->gen = hd->gen;
	out->orphan = lk_holder_orphan(s, hd);
	out->since_ms = hd->since_ms;
	return true;
}

size_t lk_state_holders(const struct lk_state *s, const char *path, struct lk_lock_view *out)
{
	const struct lk_lock *l = lk_find(s, path, NULL);

	return l ? lk_view(s, l, out) : 0;
}

uint64_t lk_state_member_inc(const struct lk_state *s, lk_host_t h)
{
	return h >= 1 && h <= LK_MAX_HOSTS && s->hosts[h].member ? s->hosts[h].inc : 0;
}

uint64_t lk_state_handoff_of(const struct lk_state *s, const char *path)
{
	const struct lk_lock *l = lk_find(s, path, NULL);

	return l ? l->handoff_id : 0;
}

/* --- effects ------------------------------------------------------------------------ */

void lk_fxbuf_reset(struct lk_fxbuf *b)
{
	for (size_t i = 0; i < b->nstrs; i++)
		free(b->strs[i]);
	b->nstrs = 0;
	b->n = 0;
}

void lk_fxbuf_free(struct lk_fxbuf *b)
{
	lk_fxbuf_reset(b);
	free(b->fx);
	free(b->strs);
	memset(b, 0, sizeof(*b));
}

static const char *fx_strdup(struct lk_fxbuf *b, const char *str)
{
	char *c;

	if (!str)
		return NULL;
	if (LK_GROW(b->strs, b->nstrs, b->capstrs) < 0)
		return NULL;
	c = strdup(str);
	if (c)
		b->strs[b->nstrs++] = c;
	return c;
}

int lk_fx_push(struct lk_fxbuf *b, const struct lk_fx *fx)
{
	struct lk_fx *slot;

	if (LK_GROW(b->fx, b->n, b->cap) < 0)
		return -ENOMEM;
	slot = &b->fx[b->n];
	*slot = *fx;
	slot->path = fx_strdup(b, fx->path);
	slot->old_path = fx_strdup(b, fx->old_path);
	if ((fx->path && !slot->path) || (fx->old_path && !slot->old_path))
		return -ENOMEM;
	b->n++;
	return 0;
}

const char *lk_msg_name(enum lk_msg_type t)
{
	static const char *const names[] = {
		[LK_MSG_CONFCHG] = "confchg",   [LK_MSG_SYNC] = "sync",
		[LK_MSG_SNAPSHOT] = "snapshot", [LK_MSG_COLDSTART] = "coldstart",
		[LK_MSG_ACQUIRE] = "acquire",   [LK_MSG_RELEASE] = "release",
		[LK_MSG_RENAME] = "rename",     [LK_MSG_SETTLED] = "settled",
		[LK_MSG_RECOVERED] = "recovered", [LK_MSG_HO_PREPARE] = "ho-prepare",
		[LK_MSG_HO_COMMIT] = "ho-commit", [LK_MSG_HO_ABORT] = "ho-abort",
		[LK_MSG_HO_DURABLE] = "ho-durable",
	};

	if ((size_t)t < sizeof(names) / sizeof(names[0]) && names[t])
		return names[t];
	return "unknown";
}

const char *lk_fx_name(enum lk_fx_type t)
{
	static const char *const names[] = {
		[LK_FX_REPLY] = "reply",         [LK_FX_PERSIST] = "persist",
		[LK_FX_UNPERSIST] = "unpersist", [LK_FX_REVOKE] = "revoke",
		[LK_FX_FREED] = "freed",         [LK_FX_SEND_SNAPSHOT] = "send-snapshot",
		[LK_FX_COLDSTART] = "coldstart", [LK_FX_GRANTS_OPEN] = "grants-open",
	};

	if ((size_t)t < sizeof(names) / sizeof(names[0]) && names[t])
		return names[t];
	return "unknown";
}

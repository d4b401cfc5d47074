/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sim_net.c - the simulated agreed-order transport (what corosync CPG provides).
 *
 * A configuration is a ring: its members and an ordered log of the messages sent in it.
 * Every member delivers the ring's configuration change, then the log in order, each
 * after its own latency. When the members split, merge, crash or pause, new rings form,
 * and every group of old members that moves on together delivers the same prefix of the
 * old log: all of it when the whole ring moved together, otherwise a random cut no
 * shorter than what any of them already delivered. Two partitions may so deliver
 * different prefixes (virtual synchrony promises no more), which is exactly the hazard
 * the settle rule of the lock core exists for. A message sent by a host that has not
 * yet delivered its new configuration goes to the new ring, as totem resends it there.
 */
#include <stdlib.h>
#include <string.h>

#include "tests/sim/sim.h"

static struct sim_ring *ring_new(struct sim_world *w, const int *members, int n)
{
	struct sim_ring *r = calloc(1, sizeof(*r));

	if (!r)
		abort();
	r->id = ++w->ring_counter;
	r->nmembers = n;
	r->quorate = 2 * n > w->cfg.hosts;
	for (int i = 0; i < n; i++) {
		r->members[i] = members[i];
		r->incs[i] = w->h[members[i]].inc;
	}
	if (w->nrings == w->caprings) {
		w->caprings = w->caprings ? w->caprings * 2 : 32;
		w->rings = realloc(w->rings, w->caprings * sizeof(*w->rings));
		if (!w->rings)
			abort();
	}
	w->rings[w->nrings++] = r;
	return r;
}

static void enqueue(struct sim_world *w, int host, struct sim_ring *r, bool confchg, size_t idx,
		    int64_t lat)
{
	struct sim_host *h = &w->h[host];
	struct sim_item *it = calloc(1, sizeof(*it));

	if (!it)
		abort();
	it->ring = r;
	it->confchg = confchg;
	it->idx = idx;
	it->t = w->now + lat > h->last_item_t ? w->now + lat : h->last_item_t;
	h->last_item_t = it->t;
	if (h->nq == h->capq) {
		h->capq = h->capq ? h->capq * 2 : 64;
		h->q = realloc(h->q, h->capq * sizeof(*h->q));
		if (!h->q)
			abort();
	}
	h->q[h->nq++] = it;
	sim_schedule(w, it->t, EV_DELIVER, host, it, 0);
}

static size_t delivered(const struct sim_host *h, const struct sim_ring *r)
{
	return h->dl_ring == r ? h->dl_next : 0;
}

/* Group g (hosts) forms a new ring unless it already is one. */
static void form(struct sim_world *w, const int *g, int n)
{
	struct sim_ring *old = w->h[g[0]].ring, *r;
	bool same = old && old->nmembers == n;

	for (int i = 0; same && i < n; i++)
		same = w->h[g[i]].ring == old && old->members[i] == g[i] &&
		       old->incs[i] == w->h[g[i]].inc;
	if (same)
		return;
	r = ring_new(w, g, n);
	sim_trace(w, "ring %llu forms with %d host(s)%s", (unsigned long long)r->id, n,
		  r->quorate ? ", quorate" : "");
	/* Cut each old ring that members arrive from. */
	for (int i = 0; i < n; i++) {
		struct sim_ring *o = w->h[g[i]].ring;
		int moved = 0;
		size_t maxd = 0, k;

		if (!o || o == r)
			continue;
		for (int j = 0; j < n; j++)
			if (w->h[g[j]].ring == o) {
				moved++;
				if (delivered(&w->h[g[j]], o) > maxd)
					maxd = delivered(&w->h[g[j]], o);
			}
		k = moved == o->nmembers ? o->nlog : (size_t)sim_range(&w->rng, (int64_t)maxd,
								      (int64_t)o->nlog);
		for (int j = 0; j < n; j++) {
			struct sim_host *m = &w->h[g[j]];

			if (m->ring != o)
				continue;
			for (size_t q = 0; q < m->nq; q++)
				if (m->q[q]->ring == o && !m->q[q]->confchg && m->q[q]->idx >= k)
					m->q[q]->cancelled = true;
			m->ring = r;
		}
	}
	for (int i = 0; i < n; i++) {
		w->h[g[i]].ring = r;
		enqueue(w, g[i], r, true, 0, sim_range(&w->rng, 0, 300000));
	}
}

void sim_net_reconfigure(struct sim_world *w)
{
	bool done[SIM_MAX_HOSTS + 1] = { false };

	for (int i = 1; i <= w->cfg.hosts; i++) {
		int g[SIM_MAX_HOSTS] = { 0 }, n = 0;

		if (done[i] || w->h[i].st == HS_DOWN)
			continue;
		if (w->h[i].st == HS_PAUSED) {
			g[n++] = i; /* its corosync sees everybody else leave */
			done[i] = true;
		} else {
			for (int j = i; j <= w->cfg.hosts; j++)
				if (!done[j] && w->h[j].st == HS_UP && w->h[j].comp == w->h[i].comp) {
					g[n++] = j;
					done[j] = true;
				}
		}
		form(w, g, n);
	}
}

void sim_net_send(struct sim_world *w, int host, struct lk_msg *m)
{
	struct sim_ring *r = w->h[host].ring;

	if (!r || w->h[host].st == HS_DOWN) {
		lk_msg_free(m);
		return;
	}
	if (r->nlog == r->caplog) {
		r->caplog = r->caplog ? r->caplog * 2 : 64;
		r->log = realloc(r->log, r->caplog * sizeof(*r->log));
		if (!r->log)
			abort();
	}
	r->log[r->nlog++] = m;
	sim_trace(w, "host %d sends %s in ring %llu", host, lk_msg_name(m->type),
		  (unsigned long long)r->id);
	for (int i = 0; i < r->nmembers; i++) {
		struct sim_host *h = &w->h[r->members[i]];

		if (h->ring == r && h->st != HS_DOWN)
			enqueue(w, r->members[i], r, false, r->nlog - 1, sim_range(&w->rng, 100, 600));
	}
}

static void pop_item(struct sim_host *h, struct sim_item *it)
{
	for (size_t i = 0; i < h->nq; i++)
		if (h->q[i] == it) {
			memmove(&h->q[i], &h->q[i + 1], (h->nq - i - 1) * sizeof(*h->q));
			h->nq--;
			break;
		}
	free(it);
}

void sim_net_deliver(struct sim_world *w, int host, struct sim_item *it)
{
	struct sim_host *h = &w->h[host];
	struct sim_ring *r = it->ring;
	struct sim_check_pre pre;

	if (it->cancelled) {
		pop_item(h, it);
		return;
	}
	sim_check_pre(w, host, &pre);
	if (it->confchg) {
		struct lk_member mem[SIM_MAX_HOSTS];
		struct lk_msg m = { .type = LK_MSG_CONFCHG };

		for (int i = 0; i < r->nmembers; i++)
			mem[i] = (struct lk_member){ .host = (lk_host_t)r->members[i],
						     .inc = r->incs[i] };
		m.u.confchg.ring = r->id;
		m.u.confchg.members = mem;
		m.u.confchg.nmembers = (uint32_t)r->nmembers;
		m.u.confchg.quorate = r->quorate;
		h->dl_ring = r;
		h->dl_next = 0;
		sim_trace(w, "host %d installs ring %llu", host, (unsigned long long)r->id);
		lk_agent_deliver(h->agent, &m, sim_local_ms(h, w->now), sim_wall_ms(w));
		sim_check_post(w, host, &pre, &m);
	} else {
		const struct lk_msg *m = r->log[it->idx];

		h->dl_next = it->idx + 1;
		if (m->type == LK_MSG_SETTLED || m->type == LK_MSG_RECOVERED)
			sim_trace(w, "host %d delivers %s of host %u incarnation %llu (%u locks) from "
				  "host %u (ring %llu #%zu)", host, lk_msg_name(m->type),
				  m->u.settled.host, (unsigned long long)m->u.settled.inc,
				  m->u.settled.nlocks, m->from, (unsigned long long)r->id, it->idx);
		else
			sim_trace(w, "host %d delivers %s from host %u (ring %llu #%zu)", host,
				  lk_msg_name(m->type), m->from, (unsigned long long)r->id, it->idx);
		lk_agent_deliver(h->agent, m, sim_local_ms(h, w->now), sim_wall_ms(w));
		sim_check_post(w, host, &pre, m);
	}
	pop_item(h, it);
}

void sim_net_drop_host(struct sim_world *w, int host)
{
	struct sim_host *h = &w->h[host];

	for (size_t i = 0; i < h->nq; i++)
		free(h->q[i]);
	h->nq = 0;
	h->ring = NULL;
	h->dl_ring = NULL;
	h->dl_next = 0;
}

void sim_net_free(struct sim_world *w)
{
	for (int i = 1; i <= w->cfg.hosts; i++) {
		sim_net_drop_host(w, i);
		free(w->h[i].q);
	}
	for (size_t i = 0; i < w->nrings; i++) {
		for (size_t j = 0; j < w->rings[i]->nlog; j++)
			lk_msg_free(w->rings[i]->log[j]);
		free(w->rings[i]->log);
		free(w->rings[i]);
	}
	free(w->rings);
}

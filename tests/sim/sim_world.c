/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sim_world.c - one simulated run: the event queue, the hosts' clocks and lifecycles
 * (start, crash, pause, restart), and the hand-off of every agent action to the
 * transport, the disk, the workload or the checker.
 *
 * Sections: randomness and clocks · event queue · hosts · actions · the run
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "tests/sim/sim.h"

/* --- randomness and clocks ------------------------------------------------------------- */

uint64_t sim_rand(struct sim_rng *r)
{
	/* xorshift64* */
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 0x2545F4914F6CDD1Dull;
}

int64_t sim_range(struct sim_rng *r, int64_t lo, int64_t hi)
{
	return lo + (int64_t)(sim_rand(r) % (uint64_t)(hi - lo + 1));
}

bool sim_chance(struct sim_rng *r, unsigned percent)
{
	return sim_rand(r) % 100 < percent;
}

int64_t sim_local_us(const struct sim_host *h, int64_t real)
{
	return h->clk_offset + real + real * h->drift_ppm / 1000000;
}

int64_t sim_real_us(const struct sim_host *h, int64_t local)
{
	return (local - h->clk_offset) * 1000000 / (1000000 + h->drift_ppm);
}

int64_t sim_local_ms(const struct sim_host *h, int64_t real)
{
	return sim_local_us(h, real) / 1000;
}

uint64_t sim_wall_ms(const struct sim_world *w)
{
	return 1800000000000ull + (uint64_t)w->now / 1000;
}

void sim_violation(struct sim_world *w, const char *fmt, ...)
{
	char buf[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (!w->res.violations)
		snprintf(w->res.first, sizeof(w->res.first), "t=%.6fs %s", (double)w->now / 1e6, buf);
	/* "[k] ..." names invariant k; a replica's own invariants count as 0 */
	w->res.by_kind[buf[0] == '[' && buf[1] > '0' && buf[1] < '0' + SIM_KINDS ? buf[1] - '0' : 0]++;
	if (w->cfg.trace) {
		printf("%12.6f VIOLATION %s\n", (double)w->now / 1e6, buf);
		for (int i = 1; !w->res.violations && i <= w->cfg.hosts; i++)
			if (w->h[i].agent)
				lk_agent_dump(w->h[i].agent, stdout);
	}
	w->res.violations++;
}

void sim_trace(struct sim_world *w, const char *fmt, ...)
{
	va_list ap;

	if (!w->cfg.trace)
		return;
	printf("%12.6f ", (double)w->now / 1e6);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* --- event queue (binary heap on (t, seq)) --------------------------------------------- */

static bool ev_less(const struct sim_ev *a, const struct sim_ev *b)
{
	return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

static void heap_push(struct sim_world *w, struct sim_ev ev)
{
	size_t i;

	if (w->nheap == w->capheap) {
		w->capheap = w->capheap ? w->capheap * 2 : 1024;
		w->heap = realloc(w->heap, w->capheap * sizeof(*w->heap));
		if (!w->heap)
			abort();
	}
	i = w->nheap++;
	while (i && ev_less(&ev, &w->heap[(i - 1) / 2])) {
		w->heap[i] = w->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	w->heap[i] = ev;
}

static struct sim_ev heap_pop(struct sim_world *w)
{
	struct sim_ev top = w->heap[0], last = w->heap[--w->nheap];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= w->nheap)
			break;
		if (c + 1 < w->nheap && ev_less(&w->heap[c + 1], &w->heap[c]))
			c++;
		if (!ev_less(&w->heap[c], &last))
			break;
		w->heap[i] = w->heap[c];
		i = c;
	}
	if (w->nheap)
		w->heap[i] = last;
	return top;
}

void sim_schedule(struct sim_world *w, int64_t t, enum sim_ev_type type, int host, void *p,
		  uint64_t u)
{
	struct sim_ev ev = { .t = t < w->now ? w->now : t, .seq = ++w->seq, .type = type,
			     .host = host, .p = p, .u = u };

	if (host)
		ev.inc = w->h[host].inc;
	heap_push(w, ev);
}

/* --- hosts -------------------------------------------------------------------------------- */

static void host_start(struct sim_world *w, int id)
{
	struct sim_host *h = &w->h[id];
	struct vol_heartbeat hb;
	struct lk_agent_cfg cfg = {
		.host = (lk_host_t)id,
		.inc = h->inc + 1,
		.timing = { LK_HB_INTERVAL_MS, LK_HOST_DEAD_MS, LK_IO_TIMEOUT_MS },
		.isolation = (w->cfg.seed & 1) ? LK_ISOLATION_FENCE : LK_ISOLATION_KEEP,
		.table_sectors = SIM_TABLE_SECTORS,
		.handoff_timeout_ms = 5000,
		.rules = w->cfg.rules,
	};

	/* Like lockd after a crash: the previous incarnation's process is gone, and what it
	 * had in flight lands within io_timeout of the crash (sim_disk.c's latencies). */
	if (h->crashed_at && h->inc) {
		cfg.prev_inc = h->inc;
		cfg.prev_quiet_at = sim_local_ms(h, h->crashed_at) + LK_IO_TIMEOUT_MS;
		if (sim_disk_heartbeat(w, (lk_host_t)id, &hb) == 0 && hb.host_gen == h->inc)
			cfg.prev_gen_hwm = hb.gen_hwm;
	}
	h->inc++;
	h->agent = lk_agent_new(&cfg);
	if (!h->agent)
		abort();
	h->st = HS_UP;
	memset(h->seen, 0, sizeof(h->seen)); /* a new lockd process observes from scratch */
	h->next_scan = 0;
	h->nholds = 0;
	h->npending = 0; /* the previous incarnation's requests died with it */
	h->untracked = false;
	h->last_epoch = 0;
	h->last_counter = 0;
	memset(h->ho, 0, sizeof(h->ho));
	sim_trace(w, "host %d starts, incarnation %llu", id, (unsigned long long)h->inc);
	sim_schedule(w, w->now + sim_range(&w->rng, 1000, 100000), EV_TICK, id, NULL, 0);
}

/* The host's lockd dies: what it used may still be written until its lease deadline. */
void sim_crash(struct sim_world *w, int id, bool restart)
{
	struct sim_host *h = &w->h[id];

	if (h->st == HS_DOWN)
		return;
	sim_check_ghosts(w, id);
	sim_trace(w, "host %d crashes", id);
	sim_disk_crash(w, id);
	h->crashed_at = w->now;
	lk_agent_free(h->agent);
	h->agent = NULL;
	h->st = HS_DOWN;
	for (size_t i = 0; i < h->ndef; i++)
		if (h->deferred[i].type == EV_IOCB)
			sim_disk_io_free(h->deferred[i].p);
	h->ndef = 0;
	sim_net_drop_host(w, id);
	sim_net_reconfigure(w);
	if (restart)
		sim_schedule(w, w->now + (w->working ? sim_range(&w->rng, 500000, 15000000) : 100000),
			     EV_RESTART, 0, NULL, (uint64_t)id);
}

void sim_pause(struct sim_world *w, int id, int64_t dur)
{
	struct sim_host *h = &w->h[id];

	if (h->st != HS_UP)
		return;
	sim_trace(w, "host %d paused for %.3fs", id, (double)dur / 1e6);
	h->st = HS_PAUSED;
	sim_net_reconfigure(w);
	sim_schedule(w, w->now + dur, EV_RESUME, 0, NULL, (uint64_t)id);
}

static void host_resume(struct sim_world *w, int id)
{
	struct sim_host *h = &w->h[id];
	size_t n = h->ndef;

	if (h->st != HS_PAUSED)
		return;
	sim_trace(w, "host %d resumes", id);
	h->st = HS_UP;
	for (size_t i = 0; i < n; i++) {
		struct sim_ev ev = h->deferred[i];

		ev.t = w->now;
		ev.seq = ++w->seq;
		heap_push(w, ev);
	}
	h->ndef = 0;
	sim_net_reconfigure(w);
}

static void defer(struct sim_host *h, const struct sim_ev *ev)
{
	if (h->ndef == h->capdef) {
		h->capdef = h->capdef ? h->capdef * 2 : 64;
		h->deferred = realloc(h->deferred, h->capdef * sizeof(*h->deferred));
		if (!h->deferred)
			abort();
	}
	h->deferred[h->ndef++] = *ev;
}

/* --- actions ------------------------------------------------------------------------------ */

/* Carries out everything the host's agent asked for since the last call. */
void sim_host_events(struct sim_world *w, int id)
{
	struct sim_host *h = &w->h[id];
	struct lk_act *acts[4096];
	bool fenced = false;
	size_t n;

	while (h->agent && (n = lk_agent_take(h->agent, acts, sizeof(acts) / sizeof(acts[0]))) > 0) {
		for (size_t i = 0; i < n; i++) {
			struct lk_act *x = acts[i];

			switch (x->type) {
			case LK_ACT_SEND:
				sim_net_send(w, id, x->msg);
				x->msg = NULL;
				lk_act_free(x);
				break;
			case LK_ACT_WRITE_HB:
			case LK_ACT_WRITE_TABLE:
			case LK_ACT_WRITE_JOURNAL:
			case LK_ACT_READ_HB:
			case LK_ACT_READ_TABLE:
			case LK_ACT_FENCE:
			case LK_ACT_NEW_EPOCH:
				sim_disk_submit(w, id, x);
				break;
			case LK_ACT_REPLY:
				sim_work_reply(w, id, x);
				lk_act_free(x);
				break;
			case LK_ACT_REVOKE:
				sim_work_revoke(w, id, x->path);
				lk_act_free(x);
				break;
			case LK_ACT_FENCED:
				sim_trace(w, "host %d fenced itself: %s", id, x->why);
				fenced = true;
				lk_act_free(x);
				break;
			case LK_ACT_VIOLATION:
				sim_violation(w, "host %d replica invariant broken: %s", id, x->why);
				lk_act_free(x);
				break;
			}
		}
	}
	if (h->agent) {
		const struct lk_lease *l = lk_agent_lease(h->agent);
		int64_t d = l->valid ? sim_real_us(h, l->deadline * 1000) : 0;

		if (d > h->deadline_real)
			h->deadline_real = d;
	}
	/* A fenced lockd exits; the service manager starts it again. */
	if (fenced)
		sim_crash(w, id, true);
}

/*
 * As lockd does: every hb_interval the host reads every other heartbeat slot itself and
 * tells its agent since when it has seen each counter (the completion of the read that
 * first returned it: now, the read being instant here).
 */
static void scan_heartbeats(struct sim_world *w, int id)
{
	struct sim_host *h = &w->h[id];
	int64_t now = sim_local_ms(h, w->now);

	if (now < h->next_scan)
		return;
	h->next_scan = now + LK_HB_INTERVAL_MS;
	for (int j = 1; j <= w->cfg.hosts; j++) {
		struct vol_heartbeat hb;
		struct lk_observer *o = &h->seen[j];

		if (j == id || sim_disk_heartbeat(w, (lk_host_t)j, &hb) != 0 ||
		    hb.state == VOL_HB_UNUSED)
			continue;
		if (!o->seen || o->host_gen != hb.host_gen || o->counter != hb.counter)
			*o = (struct lk_observer){ .seen = true, .host_gen = hb.host_gen,
						   .counter = hb.counter, .first_seen = now };
		lk_agent_heartbeat_seen(h->agent, (lk_host_t)j, o->host_gen, o->counter,
					o->first_seen);
	}
}

/* --- the run ---------------------------------------------------------------------------- */

static void dispatch(struct sim_world *w, const struct sim_ev *ev)
{
	struct sim_host *h = ev->host ? &w->h[ev->host] : NULL;

	if (h && (h->st == HS_DOWN || ev->inc != h->inc)) {
		/* addressed to an incarnation that is gone */
		if (ev->type == EV_IOCB)
			sim_disk_io_free(ev->p);
		return;
	}
	if (h && h->st == HS_PAUSED) {
		defer(h, ev);
		return;
	}
	switch (ev->type) {
	case EV_DELIVER:
		sim_net_deliver(w, ev->host, ev->p);
		break;
	case EV_TICK:
		scan_heartbeats(w, ev->host);
		lk_agent_tick(h->agent, sim_local_ms(h, w->now), sim_wall_ms(w));
		sim_schedule(w, w->now + 100000, EV_TICK, ev->host, NULL, 0);
		break;
	case EV_IO:
		sim_disk_complete(w, ev->p);
		break;
	case EV_IOCB:
		sim_disk_callback(w, ev->p);
		break;
	case EV_WORK:
		sim_work_event(w, ev->host);
		break;
	case EV_FAULT:
		sim_fault_event(w);
		break;
	case EV_RESTART:
		if (w->h[ev->u].st == HS_DOWN) {
			host_start(w, (int)ev->u);
			sim_net_reconfigure(w);
			sim_work_start_host(w, (int)ev->u);
		}
		break;
	case EV_RESUME:
		host_resume(w, (int)ev->u);
		break;
	case EV_HO_STEP:
		sim_ho_step(w, ev->host, ev->u);
		break;
	}
	if (ev->host)
		sim_host_events(w, ev->host);
}

/* Stops the workload and faults and heals everything, so the run can settle. */
static void heal(struct sim_world *w)
{
	w->working = false;
	sim_trace(w, "healing: workload stops, faults heal");
	for (int i = 1; i <= w->cfg.hosts; i++) {
		struct sim_host *h = &w->h[i];

		h->disk_bad_until = 0;
		h->comp = 0;
		if (h->st == HS_PAUSED)
			host_resume(w, i);
		else if (h->st == HS_DOWN)
			sim_schedule(w, w->now, EV_RESTART, 0, NULL, (uint64_t)i);
	}
	sim_net_reconfigure(w);
	for (int i = 1; i <= w->cfg.hosts; i++)
		if (w->h[i].st == HS_UP)
			sim_work_release_all(w, i);
}

static void world_free(struct sim_world *w)
{
	for (size_t i = 0; i < w->nheap; i++)
		if (w->heap[i].type == EV_IO || w->heap[i].type == EV_IOCB)
			sim_disk_io_free(w->heap[i].p);
	free(w->heap);
	for (int i = 1; i <= w->cfg.hosts; i++) {
		struct sim_host *h = &w->h[i];

		for (size_t j = 0; j < h->ndef; j++)
			if (h->deferred[j].type == EV_IOCB)
				sim_disk_io_free(h->deferred[j].p);
		lk_agent_free(h->agent);
		free(h->deferred);
		free(h->ghosts);
	}
	sim_net_free(w);
	sim_disk_free(&w->disk);
}

int sim_run(const struct sim_cfg *cfg, struct sim_result *res)
{
	struct sim_world *w = calloc(1, sizeof(*w));
	int64_t heal_at;

	if (!w)
		return -1;
	w->cfg = *cfg;
	w->rng.s = cfg->seed * 0x9E3779B97F4A7C15ull + 1;
	w->working = true;
	if (sim_disk_init(w) < 0) {
		free(w);
		return -1;
	}
	for (int i = 1; i <= cfg->hosts; i++) {
		struct sim_host *h = &w->h[i];

		h->id = i;
		h->clk_offset = sim_range(&w->rng, 0, 1000000000);
		h->drift_ppm = (int32_t)sim_range(&w->rng, -1000, 1000);
		host_start(w, i);
	}
	sim_net_reconfigure(w);
	sim_work_start(w);
	heal_at = cfg->work_us;
	while (w->nheap) {
		struct sim_ev ev = heap_pop(w);

		if (w->working && ev.t >= heal_at) {
			w->now = heal_at;
			heal(w);
		}
		if (ev.t > cfg->work_us + cfg->quiesce_us) {
			w->now = ev.t;
			if (ev.type == EV_IO || ev.type == EV_IOCB)
				sim_disk_io_free(ev.p);
			break;
		}
		w->now = ev.t;
		w->events++;
		dispatch(w, &ev);
		sim_check_step(w);
	}
	sim_check_final(w);
	*res = w->res;
	world_free(w);
	free(w);
	return 0;
}

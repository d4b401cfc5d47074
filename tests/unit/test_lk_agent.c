// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_lk_agent.c - one host's lock agent (lockd/core/lk_agent.c) driven event by event:
 * agreed messages, disk completions, client calls and clock ticks, with no transport, disk
 * or clock. A tiny in-test cluster takes every agent's actions, delivers each multicast to
 * every connected agent in one total order, and leaves disk writes pending until the test
 * completes them (with 0 or -EIO) at a time it chooses.
 *
 * The contract under test (lk_agent.h): no lock before a lease, persist before use and
 * before release, writes admitted only while now + io_timeout < deadline, self-fence at
 * the deadline (or when isolated with isolation=fence), a configuration acknowledged in
 * the heartbeat only once the table writes asked for before it are durable, a renamed file
 * in use under neither name until its new entry is durable, and the coordinator's watch of
 * a departed host (fence only after its lease expired, RECOVERED only after the fence
 * landed, SETTLED when its heartbeat acknowledges a later ring). Hosts are 1 and 2 with
 * incarnation 10 + host; timings are the defaults (1000/10000/2000 ms, so a renewal
 * started at t_s gives deadline t_s + 7950); monotonic times are pinned constants from T0.
 *
 * Sections: cluster harness · fixtures · lease and first heartbeat · persist before use ·
 * release · lease admission and self-fence · acknowledgement · isolation · rename ·
 * coordinator watch · self-settle after a restart
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lockd/core/lk_agent.h"

/* --- cluster harness ------------------------------------------------------------------ */

#define T0 1000000 /* monotonic origin, far from zero */
#define WALL 1700000000000ull
#define EPOCH 2u
#define RING0 10u
#define INC(h) (10u + (uint64_t)(h))
#define MAXH 3u
#define LEASE_MS 7950 /* host_dead - io_timeout - skew for the defaults */
#define TAKE_MAX 1024u

static const struct lk_timing timing = {
	.hb_interval_ms = LK_HB_INTERVAL_MS,
	.host_dead_ms = LK_HOST_DEAD_MS,
	.io_timeout_ms = LK_IO_TIMEOUT_MS,
};

/* One action an agent asked for, when, and whether the test (or the pump) consumed it. */
struct rec {
	struct lk_act *x;
	lk_host_t host;
	int64_t at;
	size_t seq; /* position in the log */
	bool taken;
};

struct cl {
	struct lk_agent *a[MAXH + 1];
	bool up[MAXH + 1]; /* in the configuration: receives what is multicast */
	uint32_t nhosts;
	uint64_t inc[MAXH + 1]; /* each host's incarnation (INC(h) until it restarts) */
	uint64_t ring;
	int64_t now;
	struct rec **log; /* every action of every agent, in the order taken */
	size_t nlog, caplog;
};

static uint64_t wall(const struct cl *c)
{
	return WALL + (uint64_t)c->now;
}

static struct cl *cl_new(uint32_t nhosts, enum lk_isolation iso)
{
	struct cl *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	assert_true(nhosts <= MAXH);
	c->nhosts = nhosts;
	c->ring = RING0 - 1;
	c->now = T0;
	for (lk_host_t h = 1; h <= nhosts; h++) {
		struct lk_agent_cfg cfg = {
			.host = h, .inc = INC(h), .timing = timing, .isolation = iso,
			.table_sectors = 2, .handoff_timeout_ms = 30000,
		};

		c->a[h] = lk_agent_new(&cfg);
		assert_non_null(c->a[h]);
		c->up[h] = true;
		c->inc[h] = INC(h);
	}
	return c;
}

static void cl_free(struct cl *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nlog; i++) {
		lk_act_free(c->log[i]->x);
		free(c->log[i]);
	}
	free(c->log);
	for (lk_host_t h = 1; h <= c->nhosts; h++)
		lk_agent_free(c->a[h]);
	free(c);
}

/* Moves the clock forward (never back). */
static void at(struct cl *c, int64_t t)
{
	if (t < c->now)
		fail_msg("time goes back: %lld -> %lld", (long long)c->now, (long long)t);
	c->now = t;
}

/* Takes every agent's actions into the log; returns how many. */
static size_t collect(struct cl *c)
{
	struct lk_act *buf[TAKE_MAX];
	size_t total = 0;

	for (lk_host_t h = 1; h <= c->nhosts; h++) {
		size_t n = lk_agent_take(c->a[h], buf, TAKE_MAX);

		assert_true(n <= TAKE_MAX);
		for (size_t i = 0; i < n; i++) {
			if (buf[i]->type == LK_ACT_VIOLATION)
				fail_msg("host %u: invariant broken: %s", h, buf[i]->why);
			if (c->nlog == c->caplog) {
				c->caplog = c->caplog ? 2 * c->caplog : 256;
				c->log = realloc(c->log, c->caplog * sizeof(*c->log));
				assert_non_null(c->log);
			}
			c->log[c->nlog] = malloc(sizeof(struct rec));
			assert_non_null(c->log[c->nlog]);
			*c->log[c->nlog] = (struct rec){ .x = buf[i], .host = h, .at = c->now,
							 .seq = c->nlog };
			c->nlog++;
		}
		total += n;
	}
	return total;
}

/*
 * Until nothing moves: every multicast (in the order taken) goes to every connected
 * agent, the sender included; a disconnected sender's messages are lost. Other actions
 * stay in the log for the test.
 */
static void pump(struct cl *c)
{
	size_t next = 0;

	collect(c);
	for (;;) {
		while (next < c->nlog && (c->log[next]->taken || c->log[next]->x->type != LK_ACT_SEND))
			next++;
		if (next == c->nlog)
			return;
		c->log[next]->taken = true;
		if (c->up[c->log[next]->host])
			for (lk_host_t h = 1; h <= c->nhosts; h++)
				if (c->up[h]) {
					lk_agent_deliver(c->a[h], c->log[next]->x->msg, c->now, wall(c));
					collect(c);
				}
	}
}

/* The first pending (untaken) action of type t of host h, taken; NULL if none. */
static struct rec *take(struct cl *c, lk_host_t h, enum lk_act_type t)
{
	for (size_t i = 0; i < c->nlog; i++)
		if (!c->log[i]->taken && c->log[i]->host == h && c->log[i]->x->type == t) {
			c->log[i]->taken = true;
			return c->log[i];
		}
	return NULL;
}

static struct rec *must_take(struct cl *c, lk_host_t h, enum lk_act_type t)
{
	struct rec *r = take(c, h, t);

	if (!r)
		fail_msg("host %u issued no action of type %d", h, (int)t);
	return r;
}

static size_t pending(const struct cl *c, lk_host_t h, enum lk_act_type t)
{
	size_t n = 0;

	for (size_t i = 0; i < c->nlog; i++)
		n += !c->log[i]->taken && c->log[i]->host == h && c->log[i]->x->type == t;
	return n;
}

/* How many actions of type t host h issued at or after time t0 (taken or not). */
static size_t issued_since(const struct cl *c, lk_host_t h, enum lk_act_type t, int64_t t0)
{
	size_t n = 0;

	for (size_t i = 0; i < c->nlog; i++)
		n += c->log[i]->host == h && c->log[i]->x->type == t && c->log[i]->at >= t0;
	return n;
}

/* How many messages of type t host h multicast so far. */
static size_t nsent(const struct cl *c, lk_host_t h, enum lk_msg_type t)
{
	size_t n = 0;

	for (size_t i = 0; i < c->nlog; i++)
		n += c->log[i]->host == h && c->log[i]->x->type == LK_ACT_SEND &&
		     c->log[i]->x->msg->type == t;
	return n;
}

static const struct lk_msg *last_sent(const struct cl *c, lk_host_t h, enum lk_msg_type t)
{
	for (size_t i = c->nlog; i-- > 0;)
		if (c->log[i]->host == h && c->log[i]->x->type == LK_ACT_SEND &&
		    c->log[i]->x->msg->type == t)
			return c->log[i]->x->msg;
	fail_msg("host %u sent no %s", h, lk_msg_name(t));
	return NULL;
}

/* The pending reply to client request req of host h, taken; NULL if none. */
static struct rec *reply_of(struct cl *c, lk_host_t h, uint64_t req)
{
	for (size_t i = 0; i < c->nlog; i++)
		if (!c->log[i]->taken && c->log[i]->host == h && c->log[i]->x->type == LK_ACT_REPLY &&
		    c->log[i]->x->req == req) {
			c->log[i]->taken = true;
			return c->log[i];
		}
	return NULL;
}

static void expect_reply(struct cl *c, lk_host_t h, uint64_t req, int rc)
{
	struct rec *r = reply_of(c, h, req);

	if (!r)
		fail_msg("host %u: no reply to request %llu", h, (unsigned long long)req);
	if (r->x->rc != rc)
		fail_msg("host %u request %llu: rc %d (%s), expected %d (%s)", h,
			 (unsigned long long)req, r->x->rc, strerror(-r->x->rc), rc, strerror(-rc));
}

static void assert_gen(struct lk_gen g, uint32_t epoch, uint64_t counter)
{
	if (g.epoch != epoch || g.counter != counter)
		fail_msg("generation (%u,%llu), expected (%u,%llu)", g.epoch,
			 (unsigned long long)g.counter, epoch, (unsigned long long)counter);
}

static void io_done(struct cl *c, lk_host_t h, const struct rec *r, int rc)
{
	lk_agent_io_done(c->a[h], r->x->io, rc, c->now, wall(c));
	pump(c);
}

static void tick(struct cl *c, lk_host_t h)
{
	lk_agent_tick(c->a[h], c->now, wall(c));
	pump(c);
}

static void acquire(struct cl *c, lk_host_t h, uint64_t req, const char *path, enum lk_mode m)
{
	lk_agent_acquire(c->a[h], req, path, m, c->now, wall(c));
	pump(c);
}

static bool using(const struct cl *c, lk_host_t h, const char *path)
{
	return lk_agent_using(c->a[h], path, c->now, NULL, NULL);
}

/* Completes the pending heartbeat write of h (if any) with rc; returns it or NULL. */
static struct rec *hb_done(struct cl *c, lk_host_t h, int rc)
{
	struct rec *r = take(c, h, LK_ACT_WRITE_HB);

	if (r)
		io_done(c, h, r, rc);
	return r;
}

/* Completes every table write of h pending now (not those issued meanwhile) with rc. */
static size_t tables_done(struct cl *c, lk_host_t h, int rc)
{
	uint64_t ios[16];
	size_t n = 0;
	struct rec *r;

	while ((r = take(c, h, LK_ACT_WRITE_TABLE))) {
		assert_true(n < 16);
		ios[n++] = r->x->io;
	}
	for (size_t i = 0; i < n; i++) {
		lk_agent_io_done(c->a[h], ios[i], rc, c->now, wall(c));
		pump(c);
	}
	return n;
}

/* The next configuration (ring + 1) of the connected hosts, delivered to each of them. */
static void confchg(struct cl *c, bool quorate)
{
	struct lk_member mem[MAXH];
	struct lk_msg m = { .type = LK_MSG_CONFCHG };
	uint32_t n = 0;

	for (lk_host_t h = 1; h <= c->nhosts; h++)
		if (c->up[h])
			mem[n++] = (struct lk_member){ .host = h, .inc = c->inc[h] };
	m.u.confchg.ring = ++c->ring;
	m.u.confchg.members = mem;
	m.u.confchg.nmembers = n;
	m.u.confchg.quorate = quorate;
	for (lk_host_t h = 1; h <= c->nhosts; h++)
		if (c->up[h]) {
			lk_agent_deliver(c->a[h], &m, c->now, wall(c));
			collect(c);
		}
	pump(c);
}

/* Each host's advance of the clock: tick, then complete the heartbeat it had in flight. */
static void advance(struct cl *c, int64_t t, lk_host_t h)
{
	at(c, t);
	tick(c, h);
	hb_done(c, h, 0);
}

/*
 * The first heartbeat write h issues after log position mark: those issued before it are
 * completed (successfully) on the way; with none pending, h ticks a heartbeat interval
 * later.
 */
static struct rec *hb_after(struct cl *c, lk_host_t h, size_t mark)
{
	for (int i = 0; i < 8; i++) {
		struct rec *r = take(c, h, LK_ACT_WRITE_HB);

		if (r && r->seq >= mark)
			return r;
		if (r) {
			io_done(c, h, r, 0);
			continue;
		}
		at(c, c->now + LK_HB_INTERVAL_MS);
		tick(c, h);
	}
	fail_msg("host %u issued no heartbeat", h);
	return NULL;
}

/* --- fixtures ------------------------------------------------------------------------- */

/* Quorate first configuration of every host, SYNC, new epoch 2 on host 1, COLDSTART. */
static void coldstart(struct cl *c)
{
	struct rec *e;

	confchg(c, true);
	e = must_take(c, 1, LK_ACT_NEW_EPOCH);
	lk_agent_new_epoch_done(c->a[1], e->x->io, 0, EPOCH, NULL, 0, c->now, wall(c));
	pump(c);
	for (lk_host_t h = 1; h <= c->nhosts; h++) {
		const struct lk_state *s = lk_agent_state(c->a[h]);

		assert_true(lk_state_have(s));
		assert_false(lk_state_syncing(s));
		assert_int_equal(lk_state_epoch(s), EPOCH);
	}
}

/* nhosts cold-started at T0, each with a lease from a heartbeat started at T0. */
static struct cl *ready(uint32_t nhosts, enum lk_isolation iso)
{
	struct cl *c = cl_new(nhosts, iso);

	coldstart(c);
	for (lk_host_t h = 1; h <= nhosts; h++) {
		struct rec *r = must_take(c, h, LK_ACT_WRITE_HB);

		assert_int_equal(r->at, T0);
		io_done(c, h, r, 0);
		assert_int_equal(lk_agent_lease(c->a[h])->deadline, T0 + LEASE_MS);
		/* with its first lease, a host writes its whole table once */
		assert_int_equal(tables_done(c, h, 0), 2);
	}
	return c;
}

static int setup_one(void **st)
{
	*st = ready(1, LK_ISOLATION_KEEP);
	return 0;
}

static int setup_one_fence(void **st)
{
	*st = ready(1, LK_ISOLATION_FENCE);
	return 0;
}

static int setup_two(void **st)
{
	*st = ready(2, LK_ISOLATION_KEEP);
	return 0;
}

static int setup_none(void **st)
{
	*st = NULL;
	return 0;
}

static int teardown(void **st)
{
	cl_free(*st);
	return 0;
}

/* Acquires path on h at now and makes it durable: used, refs 1. */
static void hold(struct cl *c, lk_host_t h, uint64_t req, const char *path, enum lk_mode m)
{
	acquire(c, h, req, path, m);
	assert_int_equal(tables_done(c, h, 0), 1);
	expect_reply(c, h, req, 0);
	assert_true(using(c, h, path));
}

/* --- lease and first heartbeat -------------------------------------------------------- */

static void test_lk_agent_no_lease_no_lock_first_hb_once_ready(void **st)
{
	struct cl *c = cl_new(1, LK_ISOLATION_KEEP);
	struct rec *e, *hb;

	*st = c;
	/* No state at all: refused at once, nothing multicast, no heartbeat on a tick. */
	acquire(c, 1, 1, "vm1/disk.img", LK_MODE_EX);
	expect_reply(c, 1, 1, -EAGAIN);
	tick(c, 1);
	assert_int_equal(pending(c, 1, LK_ACT_WRITE_HB), 0);

	/* Quorate configuration of one member: SYNC, then a new epoch for the cold start. */
	confchg(c, true);
	assert_int_equal(nsent(c, 1, LK_MSG_SYNC), 1);
	assert_int_equal(last_sent(c, 1, LK_MSG_SYNC)->u.sync.ring, RING0);
	assert_false(last_sent(c, 1, LK_MSG_SYNC)->u.sync.have_state);
	e = must_take(c, 1, LK_ACT_NEW_EPOCH);
	at(c, T0 + 500);
	tick(c, 1);
	assert_int_equal(pending(c, 1, LK_ACT_WRITE_HB), 0); /* still syncing */
	acquire(c, 1, 2, "vm1/disk.img", LK_MODE_EX);
	expect_reply(c, 1, 2, -EAGAIN);
	assert_int_equal(nsent(c, 1, LK_MSG_ACQUIRE), 0);

	/* Epoch 2 written, no host found: COLDSTART makes the replica ready. */
	at(c, T0 + 1000);
	lk_agent_new_epoch_done(c->a[1], e->x->io, 0, EPOCH, NULL, 0, c->now, wall(c));
	pump(c);
	assert_int_equal(nsent(c, 1, LK_MSG_COLDSTART), 1);
	assert_int_equal(last_sent(c, 1, LK_MSG_COLDSTART)->u.coldstart.epoch, EPOCH);
	assert_true(lk_state_grants_open(lk_agent_state(c->a[1])));
	hb = must_take(c, 1, LK_ACT_WRITE_HB);
	assert_int_equal(hb->at, T0 + 1000);
	assert_int_equal(hb->x->hb.host, 1);
	assert_int_equal(hb->x->hb.host_gen, INC(1));
	assert_int_equal(hb->x->hb.counter, 1);
	assert_int_equal(hb->x->hb.state, VOL_HB_LIVE);
	assert_int_equal(hb->x->hb.ring_seq, RING0);
	assert_true(hb->x->hb.ring_quorate);
	assert_int_equal(hb->x->hb.hb_interval_ms, 1000);
	assert_int_equal(hb->x->hb.host_dead_ms, 10000);
	assert_int_equal(hb->x->hb.io_timeout_ms, 2000);

	/* Ready, heartbeat in flight: still no lease, still no lock. */
	assert_false(lk_agent_lease(c->a[1])->valid);
	acquire(c, 1, 3, "vm1/disk.img", LK_MODE_EX);
	expect_reply(c, 1, 3, -EAGAIN);
	assert_int_equal(nsent(c, 1, LK_MSG_ACQUIRE), 0);

	/* It lands 1500 ms later: the lease counts from the write's start. */
	at(c, T0 + 2500);
	io_done(c, 1, hb, 0);
	assert_true(lk_agent_lease(c->a[1])->valid);
	assert_int_equal(lk_agent_lease(c->a[1])->t_s, T0 + 1000);
	assert_int_equal(lk_agent_lease(c->a[1])->deadline, T0 + 1000 + LEASE_MS);
	acquire(c, 1, 4, "vm1/disk.img", LK_MODE_EX);
	assert_int_equal(nsent(c, 1, LK_MSG_ACQUIRE), 1);
}

/* A failed renewal leaves t_s and the deadline; a later successful one counts from its start. */
static void test_lk_agent_failed_renewal_keeps_deadline(void **st)
{
	struct cl *c = *st;
	const struct lk_lease *l = lk_agent_lease(c->a[1]);
	struct rec *hb;
	int64_t start;

	at(c, T0 + 1000);
	tick(c, 1);
	hb = must_take(c, 1, LK_ACT_WRITE_HB);
	assert_int_equal(hb->x->hb.counter, 2);
	at(c, T0 + 1700);
	io_done(c, 1, hb, -EIO);
	assert_int_equal(l->t_s, T0);
	assert_int_equal(l->deadline, T0 + LEASE_MS);

	/* The next renewal (whenever the agent issues it) succeeds. */
	at(c, T0 + 2000);
	tick(c, 1);
	hb = must_take(c, 1, LK_ACT_WRITE_HB);
	assert_int_equal(hb->x->hb.counter, 3);
	start = hb->at;
	at(c, T0 + 2600);
	io_done(c, 1, hb, 0);
	assert_int_equal(l->t_s, start);
	assert_int_equal(l->deadline, start + LEASE_MS);
}

/*
 * The heartbeat is renewed every hb_interval (lk_timing.h): once a renewal landed, the
 * next one is issued by the tick hb_interval after the previous one started.
 */
static void test_lk_agent_heartbeat_paced_by_hb_interval(void **st)
{
	struct cl *c = *st;
	struct rec *hb;

	/* The fixture's renewal started at T0 and landed at T0. */
	hb = take(c, 1, LK_ACT_WRITE_HB);
	if (hb)
		fail_msg("renewal %llu issued at %lld, 0 ms after the previous one started at %lld "
			 "(hb_interval is 1000 ms)", (unsigned long long)hb->x->hb.counter,
			 (long long)hb->at, (long long)T0);
	at(c, T0 + 999);
	tick(c, 1);
	assert_int_equal(pending(c, 1, LK_ACT_WRITE_HB), 0);
	at(c, T0 + 1000);
	tick(c, 1);
	hb = must_take(c, 1, LK_ACT_WRITE_HB);
	assert_int_equal(hb->x->hb.counter, 2);
	at(c, T0 + 1010);
	io_done(c, 1, hb, 0);
	assert_int_equal(pending(c, 1, LK_ACT_WRITE_HB), 0);
}

/* --- persist before use --------------------------------------------------------------- */

static void test_lk_agent_persist_before_use(void **st)
{
	struct cl *c = *st;
	struct rec *w, *r;
	enum lk_mode mode;
	struct lk_gen gen;
	const struct vol_entry *e;

	at(c, T0 + 100);
	acquire(c, 1, 7, "vm1/disk.img", LK_MODE_EX);
	assert_int_equal(nsent(c, 1, LK_MSG_ACQUIRE), 1);
	w = must_take(c, 1, LK_ACT_WRITE_TABLE);
	assert_int_equal(pending(c, 1, LK_ACT_WRITE_TABLE), 0);
	assert_int_equal(w->x->sector, 0);
	assert_int_equal(w->x->table.host, 1);
	assert_int_equal(w->x->table.host_gen, INC(1));
	e = &w->x->table.e[0];
	assert_int_equal(e->state, VOL_E_HELD);
	assert_int_equal(e->mode, LK_MODE_EX);
	assert_gen(e->gen, EPOCH, 1);
	assert_string_equal(e->path, "vm1/disk.img");
	assert_int_equal(e->since_ms, WALL + T0 + 100);
	for (uint32_t i = 1; i < VOL_SLOTS_PER_SECTOR; i++)
		assert_int_equal(w->x->table.e[i].state, VOL_E_FREE);

	/* Granted by the cluster, not yet durable: no answer, not in use. */
	assert_null(reply_of(c, 1, 7));
	assert_false(using(c, 1, "vm1/disk.img"));
	at(c, T0 + 300);
	tick(c, 1);
	assert_null(reply_of(c, 1, 7));
	assert_false(using(c, 1, "vm1/disk.img"));

	at(c, T0 + 400);
	io_done(c, 1, w, 0);
	r = reply_of(c, 1, 7);
	assert_non_null(r);
	assert_int_equal(r->x->rc, 0);
	assert_gen(r->x->gen, EPOCH, 1);
	assert_string_equal(r->x->path, "vm1/disk.img");
	assert_true(lk_agent_lease(c->a[1])->valid);
	assert_true(lk_agent_using(c->a[1], "vm1/disk.img", c->now, &mode, &gen));
	assert_int_equal(mode, LK_MODE_EX);
	assert_gen(gen, EPOCH, 1);
}

static void test_lk_agent_failed_table_write_is_retried(void **st)
{
	struct cl *c = *st;
	struct rec *w, *w2;

	at(c, T0 + 100);
	acquire(c, 1, 7, "vm1/disk.img", LK_MODE_EX);
	w = must_take(c, 1, LK_ACT_WRITE_TABLE);
	at(c, T0 + 200);
	io_done(c, 1, w, -EIO);
	assert_null(reply_of(c, 1, 7));
	assert_false(using(c, 1, "vm1/disk.img"));

	/* Written again by the next tick at the latest, with the same entry. */
	at(c, T0 + 1000);
	tick(c, 1);
	w2 = must_take(c, 1, LK_ACT_WRITE_TABLE);
	assert_int_equal(pending(c, 1, LK_ACT_WRITE_TABLE), 0);
	assert_int_not_equal(w2->x->io, w->x->io);
	assert_int_equal(w2->x->sector, 0);
	assert_int_equal(w2->x->table.e[0].state, VOL_E_HELD);
	assert_string_equal(w2->x->table.e[0].path, "vm1/disk.img");
	assert_gen(w2->x->table.e[0].gen, EPOCH, 1);
	assert_null(reply_of(c, 1, 7));
	assert_false(using(c, 1, "vm1/disk.img"));
	assert_int_equal(nsent(c, 1, LK_MSG_ACQUIRE), 1); /* the grant stands */

	at(c, T0 + 1100);
	io_done(c, 1, w2, 0);
	expect_reply(c, 1, 7, 0);
	assert_true(using(c, 1, "vm1/disk.img"));
}

/* --- release -------------------------------------------------------------------------- */

static void test_lk_agent_release_unpersists_then_sends(void **st)
{
	struct cl *c = *st;
	struct rec *w, *r;
	struct lk_lock_view v;

	at(c, T0 + 100);
	hold(c, 1, 1, "vm1/disk.img", LK_MODE_EX);

	/* A second open of the same file in the same mode: answered at once, no message. */
	acquire(c, 1, 2, "vm1/disk.img", LK_MODE_EX);
	r = reply_of(c, 1, 2);
	assert_non_null(r);
	assert_int_equal(r->x->rc, 0);
	assert_gen(r->x->gen, EPOCH, 1);
	assert_int_equal(nsent(c, 1, LK_MSG_ACQUIRE), 1);
	assert_int_equal(pending(c, 1, LK_ACT_WRITE_TABLE), 0);

	/* First close: one reference left, nothing written or sent. */
	at(c, T0 + 200);
	lk_agent_release(c->a[1], "vm1/disk.img", c->now, wall(c));
	pump(c);
	assert_true(using(c, 1, "vm1/disk.img"));
	assert_int_equal(pending(c, 1, LK_ACT_WRITE_TABLE), 0);
	assert_int_equal(nsent(c, 1, LK_MSG_RELEASE), 0);

	/* Last close: no longer used from here; the entry leaves the table first. */
	at(c, T0 + 300);
	lk_agent_release(c->a[1], "vm1/disk.img", c->now, wall(c));
	assert_false(using(c, 1, "vm1/disk.img"));
	pump(c);
	assert_false(using(c, 1, "vm1/disk.img"));
	w = must_take(c, 1, LK_ACT_WRITE_TABLE);
	assert_int_equal(w->x->sector, 0);
	for (uint32_t i = 0; i < VOL_SLOTS_PER_SECTOR; i++)
		assert_int_equal(w->x->table.e[i].state, VOL_E_FREE);
	assert_int_equal(nsent(c, 1, LK_MSG_RELEASE), 0);
	assert_true(lk_state_holds(lk_agent_state(c->a[1]), "vm1/disk.img", 1, &v));

	at(c, T0 + 400);
	io_done(c, 1, w, 0);
	assert_int_equal(nsent(c, 1, LK_MSG_RELEASE), 1);
	assert_string_equal(last_sent(c, 1, LK_MSG_RELEASE)->u.release.path, "vm1/disk.img");
	assert_false(lk_state_holds(lk_agent_state(c->a[1]), "vm1/disk.img", 1, &v));
	assert_int_equal(lk_state_nlocks(lk_agent_state(c->a[1])), 0);
	assert_false(using(c, 1, "vm1/disk.img"));
}

/* Opened again before its RELEASE went out: back in use under the same generation once its
 * entry is durable again, with no message; opened again after RELEASE went out: a new grant. */
static void test_lk_agent_reopen_before_release_sent_revives(void **st)
{
	struct cl *c = *st;
	struct rec *w, *w2, *r;
	struct lk_lock_view v;

	at(c, T0 + 100);
	hold(c, 1, 1, "vm1/disk.img", LK_MODE_EX);
	at(c, T0 + 200);
	lk_agent_release(c->a[1], "vm1/disk.img", c->now, wall(c));
	pump(c);
	w = must_take(c, 1, LK_ACT_WRITE_TABLE);
	assert_int_equal(w->x->table.e[0].state, VOL_E_FREE);

	/* the removal is in flight; the same mode again */
	at(c, T0 + 250);
	acquire(c, 1, 2, "vm1/disk.img", LK_MODE_EX);
	assert_null(reply_of(c, 1, 2));
	assert_false(using(c, 1, "vm1/disk.img"));
	at(c, T0 + 300);
	io_done(c, 1, w, 0);
	assert_int_equal(nsent(c, 1, LK_MSG_RELEASE), 0);
	assert_null(reply_of(c, 1, 2)); /* the entry is not back on disk yet */
	w2 = must_take(c, 1, LK_ACT_WRITE_TABLE);
	assert_int_equal(w2->x->table.e[0].state, VOL_E_HELD);
	assert_string_equal(w2->x->table.e[0].path, "vm1/disk.img");
	assert_gen(w2->x->table.e[0].gen, EPOCH, 1);
	assert_false(using(c, 1, "vm1/disk.img"));
	at(c, T0 + 350);
	io_done(c, 1, w2, 0);
	r = reply_of(c, 1, 2);
	assert_non_null(r);
	assert_int_equal(r->x->rc, 0);
	assert_gen(r->x->gen, EPOCH, 1);
	assert_true(using(c, 1, "vm1/disk.img"));
	assert_int_equal(nsent(c, 1, LK_MSG_ACQUIRE), 1);
	assert_int_equal(nsent(c, 1, LK_MSG_RELEASE), 0);
	assert_true(lk_state_holds(lk_agent_state(c->a[1]), "vm1/disk.img", 1, &v));

	/* another mode is not a revival: it waits for the release, then asks the cluster */
	at(c, T0 + 400);
	lk_agent_release(c->a[1], "vm1/disk.img", c->now, wall(c));
	pump(c);
	w = must_take(c, 1, LK_ACT_WRITE_TABLE);
	acquire(c, 1, 3, "vm1/disk.img", LK_MODE_SH);
	at(c, T0 + 450);
	io_done(c, 1, w, 0);
	assert_int_equal(nsent(c, 1, LK_MSG_RELEASE), 1);
	assert_int_equal(nsent(c, 1, LK_MSG_ACQUIRE), 2);
}

/* After a configuration change a coordinator may settle this host from its table, which
 * may show the removal already: a reopen then asks the cluster again (RELEASE, ACQUIRE). */
static void test_lk_agent_no_revival_after_a_configuration_change(void **st)
{
	struct cl *c = *st;
	struct rec *w;

	at(c, T0 + 100);
	hold(c, 1, 1, "vm1/disk.img", LK_MODE_EX);
	at(c, T0 + 200);
	lk_agent_release(c->a[1], "vm1/disk.img", c->now, wall(c));
	pump(c);
	w = must_take(c, 1, LK_ACT_WRITE_TABLE);
	confchg(c, true);
	assert_true(lk_state_grants_open(lk_agent_state(c->a[1])));
	at(c, T0 + 250);
	acquire(c, 1, 2, "vm1/disk.img", LK_MODE_EX);
	at(c, T0 + 300);
	io_done(c, 1, w, 0);
	assert_int_equal(nsent(c, 1, LK_MSG_RELEASE), 1);
	assert_null(reply_of(c, 1, 2));
	assert_false(using(c, 1, "vm1/disk.img"));
}

/* --- lease admission and self-fence --------------------------------------------------- */

static void test_lk_agent_writes_admitted_before_deadline_less_io_timeout(void **st)
{
	struct cl *c = *st;
	const int64_t d = T0 + LEASE_MS;
	struct rec *w;

	/* now + 2000 < deadline: the table write is issued. */
	at(c, d - 2001);
	acquire(c, 1, 1, "vm1/a.img", LK_MODE_EX);
	w = must_take(c, 1, LK_ACT_WRITE_TABLE);
	io_done(c, 1, w, 0);
	expect_reply(c, 1, 1, 0);

	/* now + 2000 == deadline: granted, but nothing is written, so nothing is used. */
	at(c, d - 2000);
	acquire(c, 1, 2, "vm1/b.img", LK_MODE_EX);
	assert_int_equal(nsent(c, 1, LK_MSG_ACQUIRE), 2);
	assert_int_equal(pending(c, 1, LK_ACT_WRITE_TABLE), 0);
	assert_null(reply_of(c, 1, 2));
	at(c, d - 1);
	tick(c, 1);
	assert_int_equal(issued_since(c, 1, LK_ACT_WRITE_TABLE, d - 2000), 0);
	assert_int_equal(issued_since(c, 1, LK_ACT_WRITE_HB, d - 2000), 0);
	assert_true(using(c, 1, "vm1/a.img"));
	assert_false(using(c, 1, "vm1/b.img"));
	assert_false(lk_agent_fenced(c->a[1]));
	assert_false(lk_agent_using(c->a[1], "vm1/a.img", d, NULL, NULL));

	/* At the deadline the tick fences: every hold revoked, its waiter answered -EIO. */
	at(c, d);
	tick(c, 1);
	assert_true(lk_agent_fenced(c->a[1]));
	assert_non_null(take(c, 1, LK_ACT_FENCED));
	assert_int_equal(pending(c, 1, LK_ACT_REVOKE), 2);
	expect_reply(c, 1, 2, -EIO);
	assert_false(using(c, 1, "vm1/a.img"));
	assert_int_equal(issued_since(c, 1, LK_ACT_WRITE_TABLE, d - 2000), 0);
}

enum fence_event { EV_TICK, EV_DELIVER, EV_IO_DONE, EV_ACQUIRE, EV_RELEASE, EV_RENAME, EV_NEVENTS };

static void test_lk_agent_any_event_at_deadline_fences(void **st)
{
	static const char *const name[] = { "tick", "deliver", "io_done", "acquire", "release",
					    "rename" };
	const int64_t d = T0 + LEASE_MS;

	(void)st;
	for (int ev = 0; ev < EV_NEVENTS; ev++) {
		struct cl *c = ready(1, LK_ISOLATION_KEEP);
		struct rec *hb, *r;
		size_t revoked = 0;

		*st = c;
		at(c, T0 + 100);
		hold(c, 1, 1, "vm1/a.img", LK_MODE_EX);
		hold(c, 1, 2, "vm1/b.img", LK_MODE_SH);
		at(c, T0 + 1000);
		tick(c, 1);
		hb = must_take(c, 1, LK_ACT_WRITE_HB); /* in flight until the deadline */

		at(c, d - 1);
		tick(c, 1);
		assert_false(lk_agent_fenced(c->a[1]));
		at(c, d);
		switch (ev) {
		case EV_TICK:
			tick(c, 1);
			break;
		case EV_DELIVER:
			confchg(c, true);
			break;
		case EV_IO_DONE: /* a renewal landing at the deadline is too late */
			io_done(c, 1, hb, 0);
			assert_int_equal(lk_agent_lease(c->a[1])->deadline, d);
			break;
		case EV_ACQUIRE:
			acquire(c, 1, 3, "vm1/c.img", LK_MODE_EX);
			expect_reply(c, 1, 3, -EIO);
			break;
		case EV_RELEASE:
			lk_agent_release(c->a[1], "vm1/a.img", c->now, wall(c));
			pump(c);
			break;
		case EV_RENAME:
			lk_agent_rename(c->a[1], 3, "vm1/a.img", "vm1/z.img", c->now, wall(c));
			pump(c);
			expect_reply(c, 1, 3, -EIO);
			break;
		}
		if (!lk_agent_fenced(c->a[1]))
			fail_msg("%s at the deadline did not fence", name[ev]);
		assert_int_equal(pending(c, 1, LK_ACT_FENCED), 1);
		while ((r = take(c, 1, LK_ACT_REVOKE))) {
			assert_true(strcmp(r->x->path, "vm1/a.img") == 0 ||
				    strcmp(r->x->path, "vm1/b.img") == 0);
			revoked++;
		}
		assert_int_equal(revoked, 2);
		assert_false(using(c, 1, "vm1/a.img"));
		assert_false(using(c, 1, "vm1/b.img"));
		assert_int_equal(nsent(c, 1, LK_MSG_RELEASE), 0);
		assert_int_equal(nsent(c, 1, LK_MSG_RENAME), 0);
		assert_int_equal(pending(c, 1, LK_ACT_WRITE_TABLE), 0);

		/* Later calls answer -EIO and nothing is written or sent. */
		at(c, d + 1000);
		acquire(c, 1, 10, "vm1/a.img", LK_MODE_EX);
		expect_reply(c, 1, 10, -EIO);
		lk_agent_rename(c->a[1], 11, "vm1/a.img", "vm1/y.img", c->now, wall(c));
		lk_agent_ho_prepare(c->a[1], 12, 2, NULL, 0, c->now, wall(c));
		lk_agent_ho_commit(c->a[1], 13, 1, c->now, wall(c));
		lk_agent_ho_abort(c->a[1], 14, 1, c->now, wall(c));
		tick(c, 1);
		pump(c);
		expect_reply(c, 1, 11, -EIO);
		expect_reply(c, 1, 12, -EIO);
		expect_reply(c, 1, 13, -EIO);
		expect_reply(c, 1, 14, -EIO);
		assert_int_equal(nsent(c, 1, LK_MSG_ACQUIRE), 2);
		assert_int_equal(pending(c, 1, LK_ACT_WRITE_HB), 0);
		assert_int_equal(pending(c, 1, LK_ACT_WRITE_TABLE), 0);
		assert_int_equal(pending(c, 1, LK_ACT_FENCED), 1);
		cl_free(c);
		*st = NULL;
	}
}

/* --- configuration acknowledgement ---------------------------------------------------- */

static void test_lk_agent_ack_waits_for_table_writes(void **st)
{
	struct cl *c = *st;
	struct rec *w, *hb, *w2;
	size_t mark;

	at(c, T0 + 100);
	acquire(c, 1, 1, "vm1/disk.img", LK_MODE_EX);
	w = must_take(c, 1, LK_ACT_WRITE_TABLE);

	/* Ring 11 installed while that write is in flight. */
	at(c, T0 + 200);
	confchg(c, true);
	assert_int_equal(lk_state_ring(lk_agent_state(c->a[1])), RING0 + 1);

	/* Renewals meanwhile still acknowledge ring 10. */
	for (int64_t t = T0 + 1000; t <= T0 + 3000; t += 1000) {
		at(c, t);
		tick(c, 1);
		hb = must_take(c, 1, LK_ACT_WRITE_HB);
		assert_int_equal(hb->x->hb.ring_seq, RING0);
		io_done(c, 1, hb, 0);
	}
	/* A failed write is not durable either. */
	at(c, T0 + 3100);
	io_done(c, 1, w, -EIO);
	at(c, T0 + 4000);
	tick(c, 1);
	w2 = must_take(c, 1, LK_ACT_WRITE_TABLE);
	hb = must_take(c, 1, LK_ACT_WRITE_HB);
	assert_int_equal(hb->x->hb.ring_seq, RING0);
	io_done(c, 1, hb, 0);

	/* Durable: the first heartbeat issued from here acknowledges ring 11. */
	at(c, T0 + 4100);
	mark = c->nlog;
	io_done(c, 1, w2, 0);
	expect_reply(c, 1, 1, 0);
	hb = hb_after(c, 1, mark);
	assert_int_equal(hb->x->hb.ring_seq, RING0 + 1);
	assert_true(hb->x->hb.ring_quorate);
}

/* With nothing unwritten at the configuration change, it is acknowledged at once. */
static void test_lk_agent_ack_immediate_without_writes(void **st)
{
	struct cl *c = *st;
	struct rec *hb;
	size_t mark;

	at(c, T0 + 1000);
	tick(c, 1);
	hb_done(c, 1, 0);
	at(c, T0 + 1100);
	mark = c->nlog;
	confchg(c, false);
	hb = hb_after(c, 1, mark);
	assert_int_equal(hb->x->hb.ring_seq, RING0 + 1);
	assert_false(hb->x->hb.ring_quorate);
}

/* --- isolation ------------------------------------------------------------------------ */

static void test_lk_agent_isolation_fence_after_two_intervals(void **st)
{
	struct cl *c = *st;
	const int64_t t1 = T0 + 300;

	at(c, T0 + 100);
	hold(c, 1, 1, "vm1/disk.img", LK_MODE_EX);
	at(c, t1);
	confchg(c, false);
	assert_false(lk_state_quorate(lk_agent_state(c->a[1])));
	at(c, t1 + 1999);
	tick(c, 1);
	assert_false(lk_agent_fenced(c->a[1]));
	assert_true(using(c, 1, "vm1/disk.img"));
	at(c, t1 + 2000);
	tick(c, 1);
	assert_true(lk_agent_fenced(c->a[1]));
	assert_non_null(take(c, 1, LK_ACT_FENCED));
	assert_string_equal(must_take(c, 1, LK_ACT_REVOKE)->x->path, "vm1/disk.img");
	assert_false(using(c, 1, "vm1/disk.img"));
	acquire(c, 1, 2, "vm1/disk.img", LK_MODE_EX);
	expect_reply(c, 1, 2, -EIO);
}

static void test_lk_agent_isolation_keep_holds_while_lease_lives(void **st)
{
	struct cl *c = *st;
	const int64_t t1 = T0 + 300, d = T0 + LEASE_MS;

	at(c, T0 + 100);
	hold(c, 1, 1, "vm1/disk.img", LK_MODE_EX);
	at(c, T0 + 1000);
	tick(c, 1);
	assert_non_null(take(c, 1, LK_ACT_WRITE_HB)); /* never lands: the lease ends at d */
	at(c, t1 + 1000);
	confchg(c, false);
	for (int64_t t = t1 + 2000; t < d; t += 1000) {
		at(c, t);
		tick(c, 1);
		assert_false(lk_agent_fenced(c->a[1]));
		assert_true(using(c, 1, "vm1/disk.img"));
	}
	at(c, d - 1);
	tick(c, 1);
	assert_true(using(c, 1, "vm1/disk.img"));
	assert_int_equal(pending(c, 1, LK_ACT_REVOKE), 0);
	at(c, d);
	tick(c, 1);
	assert_true(lk_agent_fenced(c->a[1]));
	assert_string_equal(must_take(c, 1, LK_ACT_REVOKE)->x->path, "vm1/disk.img");
}

/* --- rename --------------------------------------------------------------------------- */

static void test_lk_agent_rename_unused_until_new_entry_durable(void **st)
{
	struct cl *c = *st;
	struct rec *w, *r;
	struct lk_gen gen;
	struct lk_lock_view v;

	at(c, T0 + 100);
	hold(c, 1, 1, "vm1/a.img", LK_MODE_EX);
	at(c, T0 + 200);
	lk_agent_rename(c->a[1], 5, "vm1/a.img", "vm1/b.img", c->now, wall(c));
	assert_false(using(c, 1, "vm1/a.img"));
	assert_false(using(c, 1, "vm1/b.img"));
	pump(c);
	assert_int_equal(nsent(c, 1, LK_MSG_RENAME), 1);
	w = must_take(c, 1, LK_ACT_WRITE_TABLE);
	assert_int_equal(w->x->sector, 0);
	assert_int_equal(w->x->table.e[0].state, VOL_E_HELD); /* rewritten in place */
	assert_string_equal(w->x->table.e[0].path, "vm1/b.img");
	assert_gen(w->x->table.e[0].gen, EPOCH, 2);
	assert_int_equal(w->x->table.e[1].state, VOL_E_FREE);
	assert_null(reply_of(c, 1, 5));
	assert_false(using(c, 1, "vm1/a.img"));
	assert_false(using(c, 1, "vm1/b.img"));
	assert_true(lk_state_holds(lk_agent_state(c->a[1]), "vm1/b.img", 1, &v));
	assert_false(lk_state_holds(lk_agent_state(c->a[1]), "vm1/a.img", 1, &v));

	at(c, T0 + 300);
	io_done(c, 1, w, 0);
	r = reply_of(c, 1, 5);
	assert_non_null(r);
	assert_int_equal(r->x->rc, 0);
	assert_gen(r->x->gen, EPOCH, 2);
	assert_false(using(c, 1, "vm1/a.img"));
	assert_true(lk_agent_using(c->a[1], "vm1/b.img", c->now, NULL, &gen));
	assert_gen(gen, EPOCH, 2);
}

/* Refused by this host at once (the target is held here): nothing sent, old name kept. */
static void test_lk_agent_rename_to_local_hold_eexist(void **st)
{
	struct cl *c = *st;

	at(c, T0 + 100);
	hold(c, 1, 1, "vm1/a.img", LK_MODE_EX);
	hold(c, 1, 2, "vm1/b.img", LK_MODE_EX);
	lk_agent_rename(c->a[1], 5, "vm1/a.img", "vm1/b.img", c->now, wall(c));
	pump(c);
	expect_reply(c, 1, 5, -EEXIST);
	assert_int_equal(nsent(c, 1, LK_MSG_RENAME), 0);
	assert_true(using(c, 1, "vm1/a.img"));
	assert_true(using(c, 1, "vm1/b.img"));
}

/* Refused by the cluster (another host holds the target): the old name is ours again. */
static void test_lk_agent_rename_refused_gives_old_name_back(void **st)
{
	struct cl *c = *st;
	struct lk_gen gen;

	at(c, T0 + 100);
	hold(c, 2, 1, "vm1/b.img", LK_MODE_EX);
	hold(c, 1, 2, "vm1/a.img", LK_MODE_EX);
	at(c, T0 + 200);
	lk_agent_rename(c->a[1], 5, "vm1/a.img", "vm1/b.img", c->now, wall(c));
	assert_false(using(c, 1, "vm1/a.img"));
	pump(c);
	assert_int_equal(nsent(c, 1, LK_MSG_RENAME), 1);
	expect_reply(c, 1, 5, -EEXIST);
	assert_int_equal(pending(c, 1, LK_ACT_WRITE_TABLE), 0);
	assert_true(lk_agent_using(c->a[1], "vm1/a.img", c->now, NULL, &gen));
	assert_gen(gen, EPOCH, 2);
	assert_false(using(c, 1, "vm1/b.img"));
	assert_true(using(c, 2, "vm1/b.img"));
}

/* Delivers the oldest message not yet delivered to every host in the configuration. */
static void deliver_one(struct cl *c)
{
	collect(c);
	for (size_t i = 0; i < c->nlog; i++) {
		struct rec *r = c->log[i];

		if (r->taken || r->x->type != LK_ACT_SEND)
			continue;
		r->taken = true;
		for (lk_host_t h = 1; h <= c->nhosts; h++)
			if (c->up[h])
				lk_agent_deliver(c->a[h], r->x->msg, c->now, wall(c));
		collect(c);
		return;
	}
	fail_msg("no message to deliver");
}

/* A file whose commit to another host is in flight is never used again by the source,
 * even when a rename sent just before is refused meanwhile. */
/* A file of a pending handoff closed and opened again on its source is not revived: the
 * commit may move it any moment. */
static void test_lk_agent_no_revival_in_a_pending_handoff(void **st)
{
	struct cl *c = *st;
	const char *files[1] = { "vm1/a.img" };
	struct rec *w;

	at(c, T0 + 100);
	hold(c, 1, 1, "vm1/a.img", LK_MODE_EX);
	lk_agent_ho_prepare(c->a[1], 2, 2, files, 1, c->now, wall(c));
	pump(c);
	assert_true(reply_of(c, 1, 2)->x->handoff_id != 0);
	tables_done(c, 1, 0);
	tables_done(c, 2, 0);

	at(c, T0 + 200);
	lk_agent_release(c->a[1], "vm1/a.img", c->now, wall(c));
	pump(c);
	w = must_take(c, 1, LK_ACT_WRITE_TABLE);
	acquire(c, 1, 3, "vm1/a.img", LK_MODE_EX);
	assert_int_equal(pending(c, 1, LK_ACT_WRITE_TABLE), 0); /* nothing written back */
	io_done(c, 1, w, 0);
	assert_false(using(c, 1, "vm1/a.img"));
	assert_null(reply_of(c, 1, 3));
}

static void test_lk_agent_commit_in_flight_not_used_after_refused_rename(void **st)
{
	struct cl *c = *st;
	const char *files[1] = { "vm1/a.img" };
	uint64_t id;

	at(c, T0 + 100);
	hold(c, 1, 1, "vm1/a.img", LK_MODE_EX);
	lk_agent_ho_prepare(c->a[1], 2, 2, files, 1, c->now, wall(c));
	pump(c);
	id = reply_of(c, 1, 2)->x->handoff_id;
	assert_true(id != 0);
	tables_done(c, 1, 0);
	tables_done(c, 2, 0);
	assert_true(using(c, 1, "vm1/a.img"));

	at(c, T0 + 200);
	lk_agent_rename(c->a[1], 3, "vm1/a.img", "vm1/b.img", c->now, wall(c));
	lk_agent_ho_commit(c->a[1], 4, id, c->now, wall(c));
	assert_false(using(c, 1, "vm1/a.img"));
	deliver_one(c); /* the rename: refused, the file is in a pending handoff */
	expect_reply(c, 1, 3, -EBUSY);
	assert_false(using(c, 1, "vm1/a.img"));
	pump(c); /* the commit moves it */
	assert_false(using(c, 1, "vm1/a.img"));
	tables_done(c, 2, 0);
	pump(c);
	assert_true(using(c, 2, "vm1/a.img"));
	expect_reply(c, 1, 4, 0);
}

/*
 * The destination opens a file of a handoff before the prepare reached it: its acquire is
 * delivered after the prepare and refused, but the file is on its way there, so the hold
 * waits for the commit (the client hears -EBUSY naming the handoff and this host), and the
 * commit makes it the destination's with one reference.
 */
static void test_lk_agent_destination_acquire_after_prepare_waits_for_commit(void **st)
{
	struct cl *c = *st;
	const char *files[1] = { "vm1/a.img" };
	struct rec *r;
	uint64_t id;

	at(c, T0 + 100);
	hold(c, 1, 1, "vm1/a.img", LK_MODE_EX);
	lk_agent_ho_prepare(c->a[1], 2, 2, files, 1, c->now, wall(c));
	lk_agent_acquire(c->a[2], 7, "vm1/a.img", LK_MODE_EX, c->now, wall(c));
	pump(c); /* the prepare first, then host 2's acquire */
	id = reply_of(c, 1, 2)->x->handoff_id;
	assert_true(id != 0);
	r = reply_of(c, 2, 7);
	assert_non_null(r);
	assert_int_equal(r->x->rc, -EBUSY);
	assert_int_equal(r->x->handoff_id, id);
	assert_int_equal(r->x->holder, 2);
	tables_done(c, 1, 0);
	tables_done(c, 2, 0);
	assert_false(using(c, 2, "vm1/a.img"));

	at(c, T0 + 200);
	lk_agent_ho_commit(c->a[1], 3, id, c->now, wall(c));
	pump(c);
	tables_done(c, 2, 0);
	pump(c);
	expect_reply(c, 1, 3, 0);
	assert_true(using(c, 2, "vm1/a.img"));
	/* the handoff's reference: one release lets it go */
	lk_agent_release(c->a[2], "vm1/a.img", c->now, wall(c));
	pump(c);
	assert_false(using(c, 2, "vm1/a.img"));
}

/* Each state a handoff reaches is written once to the journal of its source and of its
 * destination (vmfsadm dump shows them). */
static void test_lk_agent_handoff_states_journaled(void **st)
{
	struct cl *c = *st;
	const char *files[1] = { "vm1/a.img" };
	enum ho_state want1[] = { HO_PENDING, HO_COMMITTED, HO_DURABLE };
	size_t n1 = 0, n2 = 0;
	uint64_t id;

	at(c, T0 + 100);
	hold(c, 1, 1, "vm1/a.img", LK_MODE_EX);
	lk_agent_ho_prepare(c->a[1], 2, 2, files, 1, c->now, wall(c));
	pump(c);
	id = reply_of(c, 1, 2)->x->handoff_id;
	tables_done(c, 1, 0);
	tables_done(c, 2, 0);
	lk_agent_ho_commit(c->a[1], 3, id, c->now, wall(c));
	pump(c);
	tables_done(c, 2, 0);
	pump(c);
	tick(c, 1);
	tick(c, 2);
	expect_reply(c, 1, 3, 0);
	for (size_t i = 0; i < c->nlog; i++) {
		const struct lk_act *x = c->log[i]->x;

		if (x->type != LK_ACT_WRITE_JOURNAL || x->journal.type != VOL_J_HANDOFF)
			continue;
		assert_int_equal(x->journal.handoff_id, id);
		assert_int_equal(x->journal.src, 1);
		assert_int_equal(x->journal.dst, 2);
		assert_int_equal(x->journal.nfiles, 1);
		if (c->log[i]->host == 1) {
			assert_true(n1 < 3);
			assert_int_equal(x->journal.ho_state, want1[n1++]);
		} else {
			n2++;
		}
	}
	assert_int_equal(n1, 3); /* pending, committed, durable: each once */
	assert_int_equal(n2, 3);
}

/* --- coordinator watch ---------------------------------------------------------------- */

#define DEPART (T0 + 1000) /* host 2 leaves; host 1 (coordinator) stays, quorate */

/* Host 2 holds vm2/disk.img durably (if locked), then leaves the configuration at DEPART. */
static void depart_host2(struct cl *c, bool locked)
{
	struct lk_departed d[4];

	at(c, T0 + 100);
	if (locked)
		hold(c, 2, 1, "vm2/disk.img", LK_MODE_EX);
	at(c, DEPART);
	hb_done(c, 1, 0);
	c->up[2] = false;
	confchg(c, true);
	assert_int_equal(lk_state_departed(lk_agent_state(c->a[1]), d, 4), 1);
	assert_int_equal(d[0].host, 2);
	assert_int_equal(d[0].inc, INC(2));
	assert_int_equal(d[0].last_ring, RING0);
	assert_true(d[0].unsettled);
	assert_int_equal(lk_state_coordinator(lk_agent_state(c->a[1])), 1);
}

static struct vol_heartbeat hb_of(uint64_t gen, uint64_t counter, uint64_t ring,
				  enum vol_hb_state state)
{
	return (struct vol_heartbeat){ .host = 2, .host_gen = gen, .counter = counter,
				       .ring_seq = ring, .ring_quorate = true, .state = state };
}

/* Host 1 ticks at issue (a READ_HB of host 2 must come), the read completes at done. */
static void watch_read(struct cl *c, int64_t issue, int64_t done, const struct vol_heartbeat *hb)
{
	struct rec *r;

	advance(c, issue, 1);
	r = must_take(c, 1, LK_ACT_READ_HB);
	assert_int_equal(r->x->host, 2);
	assert_int_equal(pending(c, 1, LK_ACT_READ_HB), 0);
	advance(c, done, 1);
	lk_agent_read_hb_done(c->a[1], r->x->io, 0, hb, c->now, wall(c));
	pump(c);
}

static void expect_quiet_watch(struct cl *c)
{
	assert_int_equal(pending(c, 1, LK_ACT_READ_TABLE), 0);
	assert_int_equal(pending(c, 1, LK_ACT_FENCE), 0);
	assert_int_equal(nsent(c, 1, LK_MSG_RECOVERED), 0);
	assert_int_equal(nsent(c, 1, LK_MSG_SETTLED), 0);
}

static void test_lk_agent_coordinator_fences_expired_host(void **st)
{
	struct cl *c = *st;
	const struct vol_heartbeat hb = hb_of(INC(2), 4, RING0, VOL_HB_LIVE);
	const int64_t seen = DEPART + 10; /* completion of the first read showing counter 4 */
	const struct lk_disk_lock disk[] = {
		{ .path = "vm2/disk.img", .mode = LK_MODE_EX, .state = LK_DISK_HELD,
		  .gen = { EPOCH, 1 } },
	};
	const struct lk_msg *m;
	struct lk_departed d[4];
	struct lk_lock_view v;
	struct rec *rt, *f, *j;
	int64_t t;

	depart_host2(c, true);
	watch_read(c, DEPART, seen, &hb);
	expect_quiet_watch(c);

	/* Read again every hb_interval after the previous read completed. */
	advance(c, seen + 999, 1);
	assert_int_equal(pending(c, 1, LK_ACT_READ_HB), 0);
	for (t = seen + 1000; t <= seen + 8000; t += 1000) {
		watch_read(c, t, t, &hb);
		expect_quiet_watch(c);
	}
	/* host_dead is counted from the first read's completion, not its issue. */
	watch_read(c, seen + 9000, seen + 9999, &hb);
	expect_quiet_watch(c);
	assert_true(seen + 9999 - DEPART >= 10000);
	watch_read(c, seen + 10999, seen + 10999, &hb);
	assert_int_equal(pending(c, 1, LK_ACT_FENCE), 0);
	rt = must_take(c, 1, LK_ACT_READ_TABLE);
	assert_int_equal(rt->x->host, 2);

	advance(c, seen + 11010, 1);
	lk_agent_read_table_done(c->a[1], rt->x->io, 0, disk, 1, true, c->now, wall(c));
	pump(c);
	f = must_take(c, 1, LK_ACT_FENCE);
	assert_int_equal(f->x->host, 2);
	assert_int_equal(f->x->hb.host, 2);
	assert_int_equal(f->x->hb.host_gen, INC(2));
	assert_int_equal(f->x->hb.state, VOL_HB_FENCED);
	assert_int_equal(f->x->hb.fenced_by, 1);
	assert_int_equal(nsent(c, 1, LK_MSG_RECOVERED), 0);
	advance(c, seen + 12000, 1);
	assert_int_equal(nsent(c, 1, LK_MSG_RECOVERED), 0);
	assert_int_equal(pending(c, 1, LK_ACT_READ_HB), 0);
	assert_int_equal(pending(c, 1, LK_ACT_FENCE), 0);

	/* The fence landed: RECOVERED with the table as read, and a journal record. */
	at(c, seen + 12500);
	io_done(c, 1, f, 0);
	assert_int_equal(nsent(c, 1, LK_MSG_RECOVERED), 1);
	m = last_sent(c, 1, LK_MSG_RECOVERED);
	assert_int_equal(m->u.recovered.host, 2);
	assert_int_equal(m->u.recovered.inc, INC(2));
	assert_int_equal(m->u.recovered.nlocks, 1);
	assert_string_equal(m->u.recovered.locks[0].path, "vm2/disk.img");
	j = must_take(c, 1, LK_ACT_WRITE_JOURNAL);
	assert_int_equal(j->x->journal.type, VOL_J_RECOVERY);
	assert_int_equal(j->x->journal.recovered, 2);
	assert_int_equal(j->x->journal.recovered_gen, INC(2));
	assert_int_equal(nsent(c, 1, LK_MSG_SETTLED), 0);

	/* Delivered: nothing departed any more, and the lock is free for host 1. */
	assert_int_equal(lk_state_departed(lk_agent_state(c->a[1]), d, 4), 0);
	assert_false(lk_state_holds(lk_agent_state(c->a[1]), "vm2/disk.img", 2, &v));
	assert_true(lk_state_grants_open(lk_agent_state(c->a[1])));
	advance(c, seen + 13000, 1);
	assert_int_equal(pending(c, 1, LK_ACT_READ_HB), 0);
	acquire(c, 1, 9, "vm2/disk.img", LK_MODE_EX);
	assert_int_equal(tables_done(c, 1, 0), 1);
	expect_reply(c, 1, 9, 0);
	assert_true(lk_state_holds(lk_agent_state(c->a[1]), "vm2/disk.img", 1, &v));
	assert_gen(v.gen, EPOCH, 2);
}

/* A fence that fails is not followed by RECOVERED; the watch reads and fences again. */
static void test_lk_agent_coordinator_failed_fence_no_recovered(void **st)
{
	struct cl *c = *st;
	const struct vol_heartbeat hb = hb_of(INC(2), 4, RING0, VOL_HB_LIVE);
	const struct lk_disk_lock disk[] = {
		{ .path = "vm2/disk.img", .mode = LK_MODE_EX, .state = LK_DISK_HELD,
		  .gen = { EPOCH, 1 } },
	};
	struct rec *rt, *f;
	int64_t t;

	depart_host2(c, true);
	for (t = DEPART; t <= DEPART + 10000; t += 1000)
		watch_read(c, t, t, &hb);
	rt = must_take(c, 1, LK_ACT_READ_TABLE);
	lk_agent_read_table_done(c->a[1], rt->x->io, 0, disk, 1, true, c->now, wall(c));
	pump(c);
	f = must_take(c, 1, LK_ACT_FENCE);
	at(c, DEPART + 10500);
	io_done(c, 1, f, -EIO);
	assert_int_equal(nsent(c, 1, LK_MSG_RECOVERED), 0);
	assert_int_equal(pending(c, 1, LK_ACT_WRITE_JOURNAL), 0);

	watch_read(c, DEPART + 11000, DEPART + 11000, &hb);
	rt = must_take(c, 1, LK_ACT_READ_TABLE);
	lk_agent_read_table_done(c->a[1], rt->x->io, 0, disk, 1, true, c->now, wall(c));
	pump(c);
	f = must_take(c, 1, LK_ACT_FENCE);
	at(c, DEPART + 11100);
	io_done(c, 1, f, 0);
	assert_int_equal(nsent(c, 1, LK_MSG_RECOVERED), 1);
}

static void test_lk_agent_coordinator_never_seen_incarnation_recovered_without_fence(void **st)
{
	struct cl *c = cl_new(2, LK_ISOLATION_KEEP);
	/* The slot still shows a previous incarnation's clean shutdown. */
	const struct vol_heartbeat old = hb_of(5, 77, 3, VOL_HB_CLEAN);
	const struct lk_msg *m;
	struct lk_departed d[4];
	struct rec *hb;

	*st = c;
	/* Both cold-started at T0; host 2's first heartbeat never lands before it leaves. */
	coldstart(c);
	io_done(c, 1, must_take(c, 1, LK_ACT_WRITE_HB), 0);
	hb = must_take(c, 2, LK_ACT_WRITE_HB);
	assert_int_equal(hb->x->hb.host_gen, INC(2));
	at(c, T0 + 100);
	assert_false(lk_agent_lease(c->a[2])->valid);
	acquire(c, 2, 1, "vm2/disk.img", LK_MODE_EX);
	expect_reply(c, 2, 1, -EAGAIN);

	at(c, DEPART);
	hb_done(c, 1, 0);
	c->up[2] = false;
	confchg(c, true);
	assert_int_equal(lk_state_departed(lk_agent_state(c->a[1]), d, 4), 1);
	assert_int_equal(d[0].inc, INC(2));

	for (int64_t t = DEPART; t < DEPART + 10000; t += 1000) {
		watch_read(c, t, t, &old);
		expect_quiet_watch(c);
	}
	watch_read(c, DEPART + 10000, DEPART + 10000, &old);
	assert_int_equal(pending(c, 1, LK_ACT_READ_TABLE), 0);
	assert_int_equal(pending(c, 1, LK_ACT_FENCE), 0);
	assert_int_equal(pending(c, 1, LK_ACT_WRITE_JOURNAL), 0);
	assert_int_equal(nsent(c, 1, LK_MSG_RECOVERED), 1);
	m = last_sent(c, 1, LK_MSG_RECOVERED);
	assert_int_equal(m->u.recovered.host, 2);
	assert_int_equal(m->u.recovered.inc, INC(2));
	assert_int_equal(m->u.recovered.nlocks, 0);
	assert_int_equal(lk_state_departed(lk_agent_state(c->a[1]), d, 4), 0);
	assert_true(lk_state_grants_open(lk_agent_state(c->a[1])));
}


/*
 * Host 1's driver had been reading host 2's heartbeat before host 2 left and saw counter 4
 * from T0 on: the watch starts from that observation, so host 2 is judged dead host_dead
 * after T0 (9 s after its departure), not host_dead after the watch's first read.
 */
static void test_lk_agent_coordinator_watch_starts_from_drivers_observation(void **st)
{
	struct cl *c = *st;
	const struct vol_heartbeat hb = hb_of(INC(2), 4, RING0, VOL_HB_LIVE);
	struct rec *rt;

	lk_agent_heartbeat_seen(c->a[1], 2, INC(2), 4, T0);
	depart_host2(c, true);
	watch_read(c, DEPART, DEPART + 10, &hb);
	for (int64_t t = DEPART + 1010; t < T0 + 10000; t += 1000) {
		watch_read(c, t, t, &hb);
		expect_quiet_watch(c);
	}
	watch_read(c, T0 + 10010, T0 + 10010, &hb);
	rt = must_take(c, 1, LK_ACT_READ_TABLE);
	assert_int_equal(rt->x->host, 2);
	assert_true(c->now - (DEPART + 10) < 10000); /* sooner than a watch from scratch */
}

/* A counter other than the one observed starts the count again, from the first read. */
static void test_lk_agent_coordinator_watch_hint_of_other_counter_ignored(void **st)
{
	struct cl *c = *st;
	const struct vol_heartbeat hb = hb_of(INC(2), 5, RING0, VOL_HB_LIVE);

	lk_agent_heartbeat_seen(c->a[1], 2, INC(2), 4, T0);
	depart_host2(c, true);
	watch_read(c, DEPART, DEPART + 10, &hb);
	for (int64_t t = DEPART + 1010; t <= T0 + 10010; t += 1000) {
		watch_read(c, t, t, &hb);
		expect_quiet_watch(c);
	}
	watch_read(c, T0 + 11010, T0 + 11010, &hb);
	assert_int_equal(pending(c, 1, LK_ACT_READ_TABLE), 1);
}

static void test_lk_agent_coordinator_settles_on_later_ring(void **st)
{
	struct cl *c = *st;
	const struct vol_heartbeat same = hb_of(INC(2), 4, RING0, VOL_HB_LIVE);
	const struct vol_heartbeat later = hb_of(INC(2), 5, RING0 + 1, VOL_HB_LIVE);
	const struct lk_disk_lock disk[] = {
		{ .path = "vm2/disk.img", .mode = LK_MODE_EX, .state = LK_DISK_HELD,
		  .gen = { EPOCH, 1 } },
	};
	const struct lk_msg *m;
	struct lk_departed d[4];
	struct lk_lock_view v;
	struct rec *rt;

	depart_host2(c, true);
	assert_false(lk_state_grants_open(lk_agent_state(c->a[1])));
	watch_read(c, DEPART, DEPART + 10, &same);
	expect_quiet_watch(c);
	watch_read(c, DEPART + 1010, DEPART + 1020, &later);
	rt = must_take(c, 1, LK_ACT_READ_TABLE);
	assert_int_equal(rt->x->host, 2);
	assert_int_equal(pending(c, 1, LK_ACT_FENCE), 0);

	at(c, DEPART + 1030);
	lk_agent_read_table_done(c->a[1], rt->x->io, 0, disk, 1, true, c->now, wall(c));
	pump(c);
	assert_int_equal(pending(c, 1, LK_ACT_FENCE), 0);
	assert_int_equal(nsent(c, 1, LK_MSG_RECOVERED), 0);
	assert_int_equal(nsent(c, 1, LK_MSG_SETTLED), 1);
	m = last_sent(c, 1, LK_MSG_SETTLED);
	assert_int_equal(m->u.settled.host, 2);
	assert_int_equal(m->u.settled.inc, INC(2));
	assert_int_equal(m->u.settled.nlocks, 1);
	assert_string_equal(m->u.settled.locks[0].path, "vm2/disk.img");

	/* Settled, not recovered: grants reopen, the orphan stays held. */
	assert_int_equal(lk_state_departed(lk_agent_state(c->a[1]), d, 4), 1);
	assert_false(d[0].unsettled);
	assert_true(lk_state_grants_open(lk_agent_state(c->a[1])));
	assert_true(lk_state_holds(lk_agent_state(c->a[1]), "vm2/disk.img", 2, &v));
	acquire(c, 1, 9, "vm2/disk.img", LK_MODE_EX);
	expect_reply(c, 1, 9, -EBUSY);
	assert_int_equal(pending(c, 1, LK_ACT_FENCE), 0);
}


/* --- self-settle after a restart -------------------------------------------------------- */

#define RESTART_INC 20u
#define QUIET (T0 + 2300)

/*
 * Host 2 held vm2/disk.img; its lockd died and restarts as incarnation 20, told that
 * incarnation 12 is gone and quiet from QUIET on. Once in sync it reads its own table and
 * settles 12 itself; until then grants stay closed everywhere.
 */
static void restart_host2_as(struct cl *c, bool vouched)
{
	struct lk_agent_cfg cfg = {
		.host = 2, .inc = RESTART_INC, .timing = timing, .isolation = LK_ISOLATION_KEEP,
		.table_sectors = 2, .handoff_timeout_ms = 30000,
		.prev_inc = vouched ? INC(2) : 0, .prev_quiet_at = QUIET,
		.prev_gen_hwm = { EPOCH, 1 },
	};
	static const struct lk_disk_lock old[] = {
		{ .path = "vm2/disk.img", .mode = LK_MODE_EX, .state = LK_DISK_HELD,
		  .gen = { EPOCH, 1 } },
	};
	const struct lk_disk_host hosts[] = {
		{ .host = 2, .inc = INC(2), .live = true, .complete = true, .ring_seq = RING0,
		  .ring_quorate = true, .locks = old, .nlocks = 1 },
	};
	struct rec *e;

	at(c, T0 + 100);
	hold(c, 2, 1, "vm2/disk.img", LK_MODE_EX);
	at(c, T0 + 200);
	c->up[2] = false;
	confchg(c, true);
	assert_false(lk_state_grants_open(lk_agent_state(c->a[1])));
	lk_agent_free(c->a[2]);
	c->a[2] = lk_agent_new(&cfg);
	assert_non_null(c->a[2]);
	c->inc[2] = RESTART_INC;
	c->up[2] = true;
	at(c, T0 + 300);
	confchg(c, true);
	e = take(c, 1, LK_ACT_NEW_EPOCH);
	if (e) {
		lk_agent_new_epoch_done(c->a[1], e->x->io, 0, EPOCH + 1, hosts, 1, c->now,
					wall(c));
		pump(c);
	}
	assert_true(lk_state_have(lk_agent_state(c->a[2])));
	assert_false(lk_state_syncing(lk_agent_state(c->a[2])));
	assert_false(lk_state_grants_open(lk_agent_state(c->a[1])));
}

static void restart_host2(struct cl *c)
{
	restart_host2_as(c, true);
}

/*
 * Host 2's new incarnation (20) writes the slot while its old one (12) still awaits
 * recovery (it restarted where nobody saw 12 depart). Host 1's watch of 12 must not turn
 * into a watch of 20, a live member: 12 is recovered host_dead after 20 was first seen
 * there, without a fence of a slot that is 20's now.
 */
static void test_lk_agent_watch_of_replaced_incarnation_recovers_without_fence(void **st)
{
	struct cl *c = *st;
	struct vol_heartbeat hb = { .host = 2, .host_gen = RESTART_INC, .counter = 1,
				    .ring_seq = RING0 + 2, .ring_quorate = true,
				    .state = VOL_HB_LIVE };
	const struct lk_msg *m;
	struct lk_lock_view v;
	int64_t first = 0;

	restart_host2_as(c, false);
	for (int64_t t = T0 + 1000; !nsent(c, 1, LK_MSG_RECOVERED) && t < T0 + 20000; t += 1000) {
		struct rec *r;

		advance(c, t, 1);
		advance(c, t, 2);
		while ((r = take(c, 1, LK_ACT_READ_HB))) {
			assert_int_equal(r->x->host, 2);
			hb.counter++; /* the new incarnation renews */
			first = first ? first : c->now;
			lk_agent_read_hb_done(c->a[1], r->x->io, 0, &hb, c->now, wall(c));
			pump(c);
		}
		assert_int_equal(pending(c, 1, LK_ACT_FENCE), 0);
		assert_int_equal(pending(c, 1, LK_ACT_READ_TABLE), 0);
	}
	assert_int_equal(nsent(c, 1, LK_MSG_RECOVERED), 1);
	assert_true(c->now - first >= LK_HOST_DEAD_MS);
	m = last_sent(c, 1, LK_MSG_RECOVERED);
	assert_int_equal(m->u.recovered.host, 2);
	assert_int_equal(m->u.recovered.inc, INC(2));
	assert_int_equal(m->u.recovered.nlocks, 0);
	assert_true(lk_state_grants_open(lk_agent_state(c->a[1])));
	assert_false(lk_state_holds(lk_agent_state(c->a[1]), "vm2/disk.img", 2, &v));
}

static void test_lk_agent_restarted_host_settles_its_previous_incarnation(void **st)
{
	struct cl *c = *st;
	const struct lk_disk_lock disk[] = {
		{ .path = "vm2/disk.img", .mode = LK_MODE_EX, .state = LK_DISK_HELD,
		  .gen = { EPOCH, 1 } },
	};
	const struct lk_msg *m;
	struct lk_departed d[4];
	struct lk_lock_view v;
	struct rec *r;

	restart_host2(c);
	/* not before its writes may still land */
	at(c, QUIET - 1);
	tick(c, 2);
	assert_int_equal(pending(c, 2, LK_ACT_READ_TABLE), 0);
	at(c, QUIET);
	tick(c, 2);
	r = must_take(c, 2, LK_ACT_READ_TABLE);
	assert_int_equal(r->x->host, 2);
	assert_int_equal(pending(c, 2, LK_ACT_FENCE), 0);
	lk_agent_read_table_done(c->a[2], r->x->io, 0, disk, 1, true, c->now, wall(c));
	pump(c);
	assert_int_equal(nsent(c, 2, LK_MSG_SETTLED), 1);
	m = last_sent(c, 2, LK_MSG_SETTLED);
	assert_int_equal(m->u.settled.host, 2);
	assert_int_equal(m->u.settled.inc, INC(2));
	assert_int_equal(m->u.settled.nlocks, 1);
	assert_int_equal(nsent(c, 2, LK_MSG_RECOVERED), 0);

	/* settled, not recovered: grants reopen everywhere, the old lock stays orphaned */
	for (lk_host_t h = 1; h <= 2; h++) {
		const struct lk_state *s = lk_agent_state(c->a[h]);

		assert_true(lk_state_grants_open(s));
		assert_int_equal(lk_state_departed(s, d, 4), 1);
		assert_false(d[0].unsettled);
		assert_true(lk_state_holds(s, "vm2/disk.img", 2, &v));
		assert_int_equal(v.inc, INC(2));
		assert_true(v.orphan);
	}
	acquire(c, 1, 7, "vm2/disk.img", LK_MODE_EX);
	expect_reply(c, 1, 7, -EBUSY);
	acquire(c, 1, 8, "vm1/other.img", LK_MODE_EX);
	assert_int_equal(tables_done(c, 1, 0), 1);
	expect_reply(c, 1, 8, 0);
}

/* A table that does not decode whole proves nothing: the lease decides, as for anyone. */
static void test_lk_agent_restarted_host_incomplete_table_no_settle(void **st)
{
	struct cl *c = *st;
	struct rec *r;

	restart_host2(c);
	at(c, QUIET);
	tick(c, 2);
	r = must_take(c, 2, LK_ACT_READ_TABLE);
	lk_agent_read_table_done(c->a[2], r->x->io, 0, NULL, 0, false, c->now, wall(c));
	pump(c);
	assert_int_equal(nsent(c, 2, LK_MSG_SETTLED), 0);
	assert_false(lk_state_grants_open(lk_agent_state(c->a[1])));
}

/*
 * Host 3 departs while host 1 coordinates; then host 1 departs too and host 2 takes over.
 * Host 1 may have a fence of host 3 in flight, so host 2's watch of host 3 starts from
 * scratch (host_dead from its own first read), whatever its driver saw before.
 */
/* Host 2 ticks at t and completes each heartbeat read it issued: host 3's counter stays
 * 4, host 1's keeps moving (not dead). True when a table read of host 3 was asked. */
static bool read_round(struct cl *c, int64_t t, const struct vol_heartbeat *hb3,
		       uint64_t *counter1)
{
	struct rec *r;
	bool table3 = false;

	advance(c, t, 2);
	while ((r = take(c, 2, LK_ACT_READ_HB))) {
		struct vol_heartbeat hb1 = *hb3;

		hb1.host = 1;
		hb1.host_gen = INC(1);
		hb1.counter = ++*counter1;
		lk_agent_read_hb_done(c->a[2], r->x->io, 0, r->x->host == 3 ? hb3 : &hb1,
				      c->now, wall(c));
		pump(c);
	}
	while ((r = take(c, 2, LK_ACT_READ_TABLE)))
		table3 |= r->x->host == 3;
	return table3;
}

static void test_lk_agent_new_coordinator_ignores_earlier_observation(void **st)
{
	struct cl *c = *st;
	const struct vol_heartbeat hb = { .host = 3, .host_gen = INC(3), .counter = 4,
					  .ring_seq = RING0, .ring_quorate = true,
					  .state = VOL_HB_LIVE };
	uint64_t counter1 = 100;
	int64_t first = T0 + 5000; /* the first read, 5 s after what the driver saw */

	lk_agent_heartbeat_seen(c->a[2], 3, INC(3), 4, T0);
	at(c, T0 + 500);
	for (lk_host_t h = 1; h <= 3; h++)
		hb_done(c, h, 0);
	c->up[3] = false;
	confchg(c, true);
	at(c, T0 + 600);
	c->up[1] = false;
	confchg(c, true);
	assert_int_equal(lk_state_coordinator(lk_agent_state(c->a[2])), 2);
	/* from T0 on, host 3 would be dead at T0 + 10000: not so, its count starts here */
	for (int64_t t = first; t < first + 10000; t += 1000)
		assert_false(read_round(c, t, &hb, &counter1));
	assert_true(read_round(c, first + 10000, &hb, &counter1));
}


/* The coordinator itself departs: it never fenced itself, so its successor may count
 * from what its driver saw before (dead host_dead after T0, not after its first read). */
static void test_lk_agent_departed_coordinator_observation_used(void **st)
{
	struct cl *c = *st;
	const struct vol_heartbeat hb1 = { .host = 1, .host_gen = INC(1), .counter = 4,
					   .ring_seq = RING0, .ring_quorate = true,
					   .state = VOL_HB_LIVE };
	int64_t first = T0 + 5000;
	bool table1 = false;

	lk_agent_heartbeat_seen(c->a[2], 1, INC(1), 4, T0);
	at(c, T0 + 500);
	for (lk_host_t h = 1; h <= 3; h++)
		hb_done(c, h, 0);
	c->up[1] = false;
	confchg(c, true);
	assert_int_equal(lk_state_coordinator(lk_agent_state(c->a[2])), 2);
	for (int64_t t = first; t <= T0 + 10000 && !table1; t += 1000) {
		struct rec *r;

		advance(c, t, 2);
		while ((r = take(c, 2, LK_ACT_READ_HB))) {
			assert_int_equal(r->x->host, 1);
			lk_agent_read_hb_done(c->a[2], r->x->io, 0, &hb1, c->now, wall(c));
			pump(c);
		}
		while ((r = take(c, 2, LK_ACT_READ_TABLE)))
			table1 |= r->x->host == 1;
	}
	assert_true(table1); /* by T0 + 10000, not first + 10000 */
}

static int setup_three(void **st)
{
	*st = ready(3, LK_ISOLATION_KEEP);
	return 0;
}

#define T_ONE(f) cmocka_unit_test_setup_teardown(f, setup_one, teardown)
#define T_FENCE(f) cmocka_unit_test_setup_teardown(f, setup_one_fence, teardown)
#define T_TWO(f) cmocka_unit_test_setup_teardown(f, setup_two, teardown)
#define T_NONE(f) cmocka_unit_test_setup_teardown(f, setup_none, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		/* lease and first heartbeat */
		T_NONE(test_lk_agent_no_lease_no_lock_first_hb_once_ready),
		T_ONE(test_lk_agent_failed_renewal_keeps_deadline),
		T_ONE(test_lk_agent_heartbeat_paced_by_hb_interval),
		/* persist before use */
		T_ONE(test_lk_agent_persist_before_use),
		T_ONE(test_lk_agent_failed_table_write_is_retried),
		/* release */
		T_ONE(test_lk_agent_release_unpersists_then_sends),
		T_ONE(test_lk_agent_reopen_before_release_sent_revives),
		T_ONE(test_lk_agent_no_revival_after_a_configuration_change),
		/* lease admission and self-fence */
		T_ONE(test_lk_agent_writes_admitted_before_deadline_less_io_timeout),
		T_NONE(test_lk_agent_any_event_at_deadline_fences),
		/* acknowledgement */
		T_ONE(test_lk_agent_ack_waits_for_table_writes),
		T_ONE(test_lk_agent_ack_immediate_without_writes),
		/* isolation */
		T_FENCE(test_lk_agent_isolation_fence_after_two_intervals),
		T_ONE(test_lk_agent_isolation_keep_holds_while_lease_lives),
		/* rename */
		T_ONE(test_lk_agent_rename_unused_until_new_entry_durable),
		T_ONE(test_lk_agent_rename_to_local_hold_eexist),
		T_TWO(test_lk_agent_rename_refused_gives_old_name_back),
		T_TWO(test_lk_agent_commit_in_flight_not_used_after_refused_rename),
		T_TWO(test_lk_agent_no_revival_in_a_pending_handoff),
		T_TWO(test_lk_agent_destination_acquire_after_prepare_waits_for_commit),
		T_TWO(test_lk_agent_handoff_states_journaled),
		/* coordinator watch */
		T_TWO(test_lk_agent_coordinator_fences_expired_host),
		T_TWO(test_lk_agent_coordinator_failed_fence_no_recovered),
		T_NONE(test_lk_agent_coordinator_never_seen_incarnation_recovered_without_fence),
		T_TWO(test_lk_agent_coordinator_settles_on_later_ring),
		T_TWO(test_lk_agent_coordinator_watch_starts_from_drivers_observation),
		T_TWO(test_lk_agent_coordinator_watch_hint_of_other_counter_ignored),
		cmocka_unit_test_setup_teardown(
			test_lk_agent_new_coordinator_ignores_earlier_observation, setup_three,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_lk_agent_departed_coordinator_observation_used, setup_three, teardown),
		T_TWO(test_lk_agent_restarted_host_settles_its_previous_incarnation),
		T_TWO(test_lk_agent_restarted_host_incomplete_table_no_settle),
		T_TWO(test_lk_agent_watch_of_replaced_incarnation_recovers_without_fence),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

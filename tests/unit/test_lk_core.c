// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_lk_core.c - the replicated lock state machine (lockd/core: lk_apply.c, lk_state.c,
 * lk_check.c) driven one agreed message at a time, without an agent, a disk or a clock.
 *
 * Every test builds its messages by hand, applies them to a replica (two replicas where a
 * test needs partitions that saw different deliveries) and asserts the effects returned in
 * the struct lk_fxbuf and the queries of lk_core.h, with the exact -errno of every refusal.
 * After every message the replica's invariants must hold (lk_state_check), and a refused
 * or ignored message must leave the replica as it was. Hosts are 1..5 with incarnation
 * 10 + host unless a test restarts one; the senders' wall clock is pinned to WALL. The
 * 3-host fixture is host 1's replica, cold-started under epoch 2 in ring 10.
 *
 * Sections: harness · fixture and sync · modes · persist before use · quorum · departure
 * and recovery · settle merge · cold start · rename · handoff · invariants and names
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lockd/core/lk_core.h"

/* --- harness -------------------------------------------------------------------------- */

#define EPOCH 2u
#define RING0 10u
#define WALL 1700000000000ull
#define INC(h) (10u + (uint64_t)(h))
#define MAXMEM 8u

/* One replica with the membership the test has configured so far. */
struct tc {
	struct lk_state *s;
	struct lk_fxbuf fx; /* effects of the last message applied */
	struct lk_member mem[MAXMEM];
	uint32_t nmem;
	uint64_t ring;
	uint64_t req; /* request ids handed out by the message builders */
	struct lk_state *before; /* a clone to compare with, freed by teardown on failure */
	struct lk_state *snap;   /* a snapshot being sent, likewise */
};

static int expect_rc(int got, int want)
{
	if (got != want)
		fail_msg("rc %d (%s), expected %d (%s)", got, strerror(-got), want,
			 strerror(-want));
	return got;
}

static void assert_gen(struct lk_gen g, uint32_t epoch, uint64_t counter)
{
	if (g.epoch != epoch || g.counter != counter)
		fail_msg("generation (%u,%llu), expected (%u,%llu)", g.epoch,
			 (unsigned long long)g.counter, epoch, (unsigned long long)counter);
}

static void assert_gen_eq(struct lk_gen a, struct lk_gen b)
{
	assert_gen(a, b.epoch, b.counter);
}

static void check_invariants(const struct lk_state *s, const struct lk_msg *m)
{
	const char *why = lk_state_check(s);

	if (why)
		fail_msg("invariant broken after %s: %s", lk_msg_name(m->type), why);
}

/* Applies m; lk_apply must succeed and the invariants must hold. */
static void apply(struct tc *t, const struct lk_msg *m)
{
	lk_fxbuf_reset(&t->fx);
	expect_rc(lk_apply(t->s, m, &t->fx), 0);
	check_invariants(t->s, m);
}

static uint64_t member_inc(const struct tc *t, lk_host_t h)
{
	for (uint32_t i = 0; i < t->nmem; i++)
		if (t->mem[i].host == h)
			return t->mem[i].inc;
	return INC(h);
}

/* Adds host h (or changes its incarnation), keeping mem sorted by host. */
static void member_set(struct tc *t, lk_host_t h, uint64_t inc)
{
	uint32_t i;

	for (i = 0; i < t->nmem; i++) {
		if (t->mem[i].host == h) {
			t->mem[i].inc = inc;
			return;
		}
		if (t->mem[i].host > h)
			break;
	}
	assert_true(t->nmem < MAXMEM);
	memmove(&t->mem[i + 1], &t->mem[i], (t->nmem - i) * sizeof(t->mem[0]));
	t->mem[i] = (struct lk_member){ .host = h, .inc = inc };
	t->nmem++;
}

static void member_drop(struct tc *t, lk_host_t h)
{
	for (uint32_t i = 0; i < t->nmem; i++)
		if (t->mem[i].host == h) {
			memmove(&t->mem[i], &t->mem[i + 1], (t->nmem - i - 1) * sizeof(t->mem[0]));
			t->nmem--;
			return;
		}
	fail_msg("host %u is not a member", h);
}

/* --- message builders ----------------------------------------------------------------- */

static struct lk_msg msg_from(struct tc *t, enum lk_msg_type type, lk_host_t from)
{
	return (struct lk_msg){ .type = type, .from = from, .from_inc = member_inc(t, from),
				.req = ++t->req, .wall_ms = WALL };
}

/* The next configuration: ring + 1 with the members configured in t. */
static void confchg(struct tc *t, bool quorate)
{
	struct lk_msg m = { .type = LK_MSG_CONFCHG };

	m.u.confchg.ring = ++t->ring;
	m.u.confchg.members = t->mem;
	m.u.confchg.nmembers = t->nmem;
	m.u.confchg.quorate = quorate;
	apply(t, &m);
}

static struct lk_msg msg_sync(struct tc *t, lk_host_t from, uint64_t ring, bool have,
			      uint64_t lineage, uint64_t seq)
{
	struct lk_msg m = msg_from(t, LK_MSG_SYNC, from);

	m.u.sync.ring = ring;
	m.u.sync.have_state = have;
	m.u.sync.lineage = lineage;
	m.u.sync.seq = seq;
	return m;
}

static struct lk_msg msg_snapshot(struct tc *t, lk_host_t from, uint64_t ring,
				  const struct lk_state *snap)
{
	struct lk_msg m = msg_from(t, LK_MSG_SNAPSHOT, from);

	m.u.snapshot.ring = ring;
	m.u.snapshot.state = snap;
	return m;
}

static struct lk_msg msg_coldstart(struct tc *t, lk_host_t from, uint64_t ring,
				   const struct lk_disk_host *hosts, uint32_t n)
{
	struct lk_msg m = msg_from(t, LK_MSG_COLDSTART, from);

	m.u.coldstart.ring = ring;
	m.u.coldstart.epoch = EPOCH;
	m.u.coldstart.hosts = hosts;
	m.u.coldstart.nhosts = n;
	return m;
}

static struct lk_msg msg_acquire(struct tc *t, lk_host_t from, const char *path, enum lk_mode mode)
{
	struct lk_msg m = msg_from(t, LK_MSG_ACQUIRE, from);

	m.u.acquire.path = path;
	m.u.acquire.mode = mode;
	return m;
}

static struct lk_msg msg_release(struct tc *t, lk_host_t from, const char *path)
{
	struct lk_msg m = msg_from(t, LK_MSG_RELEASE, from);

	m.u.release.path = path;
	return m;
}

static struct lk_msg msg_rename(struct tc *t, lk_host_t from, const char *old, const char *new)
{
	struct lk_msg m = msg_from(t, LK_MSG_RENAME, from);

	m.u.rename.from = old;
	m.u.rename.to = new;
	return m;
}

/* SETTLED or RECOVERED of (host, inc), sent by the coordinator (lowest member). */
static struct lk_msg msg_table(struct tc *t, enum lk_msg_type type, lk_host_t host, uint64_t inc,
			       const struct lk_disk_lock *locks, uint32_t n)
{
	struct lk_msg m = msg_from(t, type, t->mem[0].host);

	m.u.settled.host = host;
	m.u.settled.inc = inc;
	m.u.settled.locks = locks;
	m.u.settled.nlocks = n;
	return m;
}

static struct lk_msg msg_prepare(struct tc *t, lk_host_t from, lk_host_t to,
				 const char *const *files, uint32_t n)
{
	struct lk_msg m = msg_from(t, LK_MSG_HO_PREPARE, from);

	m.u.ho_prepare.to = to;
	m.u.ho_prepare.files = files;
	m.u.ho_prepare.nfiles = n;
	return m;
}

static struct lk_msg msg_ho(struct tc *t, enum lk_msg_type type, lk_host_t from, uint64_t id)
{
	struct lk_msg m = msg_from(t, type, from);

	m.u.ho.id = id;
	return m;
}

/* --- effects and outcomes ------------------------------------------------------------- */

static void fx_is(const struct lk_fx *f, enum lk_fx_type type, lk_host_t host, uint64_t inc,
		  const char *path)
{
	if (f->type != type)
		fail_msg("effect %s, expected %s", lk_fx_name(f->type), lk_fx_name(type));
	assert_int_equal(f->host, host);
	assert_int_equal(f->inc, inc);
	if (path) {
		assert_non_null(f->path);
		assert_string_equal(f->path, path);
	} else {
		assert_null(f->path);
	}
}

static const struct lk_fx *fx_at(const struct tc *t, size_t i)
{
	assert_true(i < t->fx.n);
	return &t->fx.fx[i];
}

static size_t fx_count(const struct tc *t, enum lk_fx_type type)
{
	size_t n = 0;

	for (size_t i = 0; i < t->fx.n; i++)
		n += t->fx.fx[i].type == type;
	return n;
}

/* The effect of this type for host on path (path NULL: any), or NULL. */
static const struct lk_fx *fx_find(const struct tc *t, enum lk_fx_type type, lk_host_t host,
				   const char *path)
{
	for (size_t i = 0; i < t->fx.n; i++) {
		const struct lk_fx *f = &t->fx.fx[i];

		if (f->type == type && f->host == host &&
		    (!path || (f->path && strcmp(f->path, path) == 0)))
			return f;
	}
	return NULL;
}

static void expect_reply(const struct tc *t, size_t i, const struct lk_msg *m, int rc)
{
	const struct lk_fx *f = fx_at(t, i);

	fx_is(f, LK_FX_REPLY, m->from, m->from_inc, f->path);
	assert_int_equal(f->req, m->req);
	expect_rc(f->rc, rc);
}

static void expect_only_grants_open(const struct tc *t)
{
	assert_int_equal(t->fx.n, 1);
	fx_is(fx_at(t, 0), LK_FX_GRANTS_OPEN, 0, 0, NULL);
}

/* `before` (a clone taken before the last message) must equal the replica, but for the
 * message count (seq) every agreed message bumps: a stray SYNC, ignored by every
 * replica that is not syncing for its ring, brings the clone level. */
static void same_as_before(struct tc *t)
{
	struct lk_fxbuf fx = { 0 };
	struct lk_msg noop = { .type = LK_MSG_SYNC, .from = 1, .from_inc = INC(1) };
	int rc;
	bool eq;

	noop.u.sync.ring = UINT64_MAX;
	rc = lk_apply(t->before, &noop, &fx);
	eq = rc == 0 && fx.n == 0 && lk_state_equal(t->before, t->s);
	lk_fxbuf_free(&fx);
	lk_state_free(t->before);
	t->before = NULL;
	if (!eq)
		fail_msg("the replica changed");
}

static void take_before(struct tc *t)
{
	lk_state_free(t->before);
	t->before = lk_state_clone(t->s);
	assert_non_null(t->before);
}

/* m is refused with rc: one REPLY to its sender, and the replica unchanged. */
static const struct lk_fx *refuse(struct tc *t, const struct lk_msg *m, int rc)
{
	take_before(t);
	apply(t, m);
	if (t->fx.n != 1)
		fail_msg("%zu effects for a refusal, expected 1", t->fx.n);
	expect_reply(t, 0, m, rc);
	same_as_before(t);
	return fx_at(t, 0);
}

/* -EBUSY naming the holder (host, mode, generation) and the path. */
static void refuse_busy(struct tc *t, const struct lk_msg *m, lk_host_t holder, enum lk_mode mode,
			struct lk_gen gen, uint64_t handoff_id)
{
	const struct lk_fx *f = refuse(t, m, -EBUSY);
	const char *path;

	switch (m->type) {
	case LK_MSG_RENAME:
		path = m->u.rename.from;
		break;
	case LK_MSG_RELEASE:
		path = m->u.release.path;
		break;
	default:
		path = m->u.acquire.path;
		break;
	}
	assert_non_null(f->path);
	assert_string_equal(f->path, path);
	assert_int_equal(f->holder, holder);
	assert_int_equal(f->holder_mode, mode);
	assert_gen_eq(f->holder_gen, gen);
	assert_int_equal(f->handoff_id, handoff_id);
}

/* m is ignored: no effect, and the replica unchanged. */
static void ignored(struct tc *t, const struct lk_msg *m)
{
	take_before(t);
	apply(t, m);
	if (t->fx.n != 0)
		fail_msg("%zu effects (first %s) for an ignored %s", t->fx.n,
			 lk_fx_name(t->fx.fx[0].type), lk_msg_name(m->type));
	same_as_before(t);
}

static void expect_holds(const struct tc *t, const char *path, lk_host_t h, uint64_t inc,
			 enum lk_mode mode, struct lk_gen gen, bool orphan)
{
	struct lk_lock_view v;

	if (!lk_state_holds(t->s, path, h, &v))
		fail_msg("host %u does not hold %s", h, path);
	assert_int_equal(v.host, h);
	assert_int_equal(v.inc, inc);
	assert_int_equal(v.mode, mode);
	assert_gen_eq(v.gen, gen);
	assert_int_equal(v.orphan, orphan);
}

static void expect_not_held(const struct tc *t, const char *path, lk_host_t h)
{
	struct lk_lock_view v;

	if (lk_state_holds(t->s, path, h, &v))
		fail_msg("host %u still holds %s", h, path);
}

/* Acquires path for h (its member incarnation): the grant is a PERSIST, nothing else. */
static struct lk_gen grant(struct tc *t, lk_host_t h, const char *path, enum lk_mode mode)
{
	struct lk_msg m = msg_acquire(t, h, path, mode);
	const struct lk_fx *f;

	apply(t, &m);
	if (t->fx.n != 1 || t->fx.fx[0].type != LK_FX_PERSIST)
		fail_msg("acquire %s by %u: %zu effects, first %s rc %d", path, h, t->fx.n,
			 t->fx.n ? lk_fx_name(t->fx.fx[0].type) : "-",
			 t->fx.n ? t->fx.fx[0].rc : 0);
	f = fx_at(t, 0);
	fx_is(f, LK_FX_PERSIST, h, m.from_inc, path);
	assert_int_equal(f->req, m.req);
	assert_null(f->old_path);
	assert_int_equal(f->mode, mode);
	assert_int_equal(f->disk_state, LK_DISK_HELD);
	assert_int_equal(f->handoff_id, 0);
	assert_int_equal(f->rc, 0);
	expect_holds(t, path, h, m.from_inc, mode, f->gen, false);
	return f->gen;
}

static void release_ok(struct tc *t, lk_host_t h, const char *path, bool last)
{
	struct lk_msg m = msg_release(t, h, path);

	apply(t, &m);
	assert_int_equal(t->fx.n, last ? 2 : 1);
	expect_reply(t, 0, &m, 0);
	if (last)
		fx_is(fx_at(t, 1), LK_FX_FREED, 0, 0, path);
	expect_not_held(t, path, h);
}

static size_t departed(const struct tc *t, struct lk_departed *out, size_t max)
{
	return lk_state_departed(t->s, out, max);
}

static void expect_departed(const struct lk_departed *d, lk_host_t h, uint64_t inc,
			    uint64_t last_ring, bool unsettled)
{
	assert_int_equal(d->host, h);
	assert_int_equal(d->inc, inc);
	assert_int_equal(d->last_ring, last_ring);
	assert_int_equal(d->unsettled, unsettled);
}

static struct lk_disk_lock disk(const char *path, enum lk_mode mode, enum lk_disk_state st,
				uint32_t epoch, uint64_t counter, uint64_t ho_id)
{
	return (struct lk_disk_lock){ .path = path, .mode = mode, .state = st,
				      .gen = { .epoch = epoch, .counter = counter },
				      .handoff_id = ho_id, .since_ms = WALL - 1000 };
}

/* The handoff of ho_files and the handoff mark of each lock. */
static const char *const ho_files[] = { "vm1/disk0.img", "vm1/shared.img" };

/* src holds ho_files (EX, MW) and prepares their handoff to dst; returns the id. */
static uint64_t prepared(struct tc *t, lk_host_t src, lk_host_t dst, struct lk_gen gens[2])
{
	struct lk_msg m;
	const struct lk_fx *f;
	uint64_t id;

	gens[0] = grant(t, src, ho_files[0], LK_MODE_EX);
	gens[1] = grant(t, src, ho_files[1], LK_MODE_MW);
	m = msg_prepare(t, src, dst, ho_files, 2);
	apply(t, &m);
	assert_int_equal(t->fx.n, 5);
	f = fx_at(t, 4);
	expect_reply(t, 4, &m, 0);
	id = f->handoff_id;
	assert_int_not_equal(id, 0);
	return id;
}

/* Prepares the handoff of `path` (held EX by 1) to 2 and aborts it; returns its id. */
static uint64_t prepare_and_abort(struct tc *t, const char *path)
{
	const char *const one[] = { path };
	struct lk_msg m = msg_prepare(t, 1, 2, one, 1);
	uint64_t id;

	apply(t, &m);
	assert_int_equal(t->fx.n, 3);
	id = fx_at(t, 2)->handoff_id;
	m = msg_ho(t, LK_MSG_HO_ABORT, 1, id);
	apply(t, &m);
	expect_reply(t, t->fx.n - 1, &m, 0);
	return id;
}

struct marks {
	const char *path[4];
	uint64_t id[4];
	size_t n;
};

static void collect_marks(void *arg, const char *path, const struct lk_lock_view *holders,
			  size_t n, uint64_t handoff_id)
{
	struct marks *mk = arg;

	(void)holders;
	assert_true(n > 0);
	if (mk->n < 4) {
		mk->path[mk->n] = path;
		mk->id[mk->n] = handoff_id;
	}
	mk->n++;
}

/* The handoff mark of path, from lk_state_foreach. */
static uint64_t mark_of(const struct tc *t, const char *path)
{
	struct marks mk = { .n = 0 };

	lk_state_foreach(t->s, collect_marks, &mk);
	for (size_t i = 0; i < mk.n && i < 4; i++)
		if (strcmp(mk.path[i], path) == 0)
			return mk.id[i];
	fail_msg("%s is not locked", path);
	return 0;
}

/* --- fixture and sync ----------------------------------------------------------------- */

/*
 * A replica of `self` for hosts[0..n) READY in ring RING0 under EPOCH: confchg (quorate)
 * -> SYNC without state from every member -> LK_FX_COLDSTART to the lowest member ->
 * COLDSTART from it, no host areas -> LK_FX_GRANTS_OPEN.
 */
static void ready(struct tc *t, lk_host_t self, const lk_host_t *hosts, uint32_t n,
		  const struct lk_rules *rules)
{
	t->s = lk_state_new(self, rules);
	assert_non_null(t->s);
	for (uint32_t i = 0; i < n; i++)
		member_set(t, hosts[i], INC(hosts[i]));
	t->ring = RING0 - 1;
	confchg(t, true);
	assert_int_equal(t->fx.n, 0);
	for (uint32_t i = 0; i < t->nmem; i++) {
		struct lk_msg m = msg_sync(t, t->mem[i].host, RING0, false, 0, 0);

		apply(t, &m);
		assert_int_equal(t->fx.n, i + 1 == t->nmem ? 1 : 0);
	}
	fx_is(fx_at(t, 0), LK_FX_COLDSTART, t->mem[0].host, t->mem[0].inc, NULL);
	assert_int_equal(fx_at(t, 0)->ring, RING0);
	{
		struct lk_msg m = msg_coldstart(t, t->mem[0].host, RING0, NULL, 0);

		apply(t, &m);
	}
	expect_only_grants_open(t);
}

static const lk_host_t hosts3[] = { 1, 2, 3 };
static const lk_host_t hosts5[] = { 1, 2, 3, 4, 5 };

static int setup_empty(void **state)
{
	struct tc *t = calloc(2, sizeof(*t));

	if (!t)
		return -1;
	*state = t;
	return 0;
}

static int setup_ready3(void **state)
{
	int rc = setup_empty(state);

	if (rc == 0)
		ready(*state, 1, hosts3, 3, NULL);
	return rc;
}

static int setup_ready5(void **state)
{
	int rc = setup_empty(state);

	if (rc == 0)
		ready(*state, 1, hosts5, 5, NULL);
	return rc;
}

static int teardown(void **state)
{
	struct tc *t = *state;

	for (int i = 0; i < 2; i++) {
		lk_state_free(t[i].s);
		lk_state_free(t[i].before);
		lk_state_free(t[i].snap);
		lk_fxbuf_free(&t[i].fx);
	}
	free(t);
	return 0;
}

/*
 * After a confchg with a join: every member announces its state; those whose incarnation
 * is not 10 + host (restarted) have none, the others the replica's (lineage, seq). The
 * lowest of those is told to send its snapshot, and sends a clone of this replica.
 */
static void resync(struct tc *t)
{
	lk_host_t winner = 0;
	uint64_t lineage = lk_state_lineage(t->s), seq = lk_state_seq(t->s);
	bool fresh = false;
	struct lk_state *snap;
	struct lk_msg m;

	assert_true(lk_state_syncing(t->s));
	for (uint32_t i = 0; i < t->nmem; i++) {
		bool have = t->mem[i].inc == INC(t->mem[i].host);

		fresh |= !have;
		if (have && !winner)
			winner = t->mem[i].host;
		m = msg_sync(t, t->mem[i].host, t->ring, have, lineage, seq);
		apply(t, &m);
		assert_int_equal(t->fx.n, i + 1 == t->nmem ? 1 : 0);
	}
	fx_is(fx_at(t, 0), LK_FX_SEND_SNAPSHOT, winner, member_inc(t, winner), NULL);
	assert_int_equal(fx_at(t, 0)->ring, t->ring);
	/* A member without state restarted: the winner sends under a new epoch. */
	assert_int_equal(fx_at(t, 0)->new_epoch, fresh && lk_state_quorate(t->s));
	t->snap = snap = lk_state_clone(t->s);
	assert_non_null(snap);
	m = msg_snapshot(t, winner, t->ring, snap);
	if (fx_at(t, 0)->new_epoch)
		m.u.snapshot.epoch = lk_state_epoch(t->s) + 1;
	apply(t, &m);
	lk_state_free(snap);
	t->snap = NULL;
	assert_false(lk_state_syncing(t->s));
	assert_true(lk_state_have(t->s));
}

static void test_lk_core_coldstart_fixture_reaches_ready(void **state)
{
	struct tc *t = *state;
	struct lk_msg m;

	t->s = lk_state_new(1, NULL);
	assert_non_null(t->s);
	assert_null(lk_state_check(t->s));
	assert_false(lk_state_have(t->s));
	for (uint32_t i = 0; i < 3; i++)
		member_set(t, hosts3[i], INC(hosts3[i]));
	t->ring = RING0 - 1;
	confchg(t, true);
	assert_int_equal(t->fx.n, 0);
	assert_true(lk_state_syncing(t->s));
	assert_true(lk_state_quorate(t->s));
	assert_false(lk_state_grants_open(t->s));
	assert_int_equal(lk_state_ring(t->s), RING0);
	assert_int_equal(lk_state_coordinator(t->s), 1);
	assert_true(lk_state_is_member(t->s, 2, INC(2)));
	assert_false(lk_state_is_member(t->s, 2, INC(2) + 1));
	assert_false(lk_state_is_member(t->s, 4, INC(4)));

	m = msg_sync(t, 1, RING0, false, 0, 0);
	apply(t, &m);
	assert_int_equal(t->fx.n, 0);
	m = msg_sync(t, 2, RING0, false, 0, 0);
	apply(t, &m);
	assert_int_equal(t->fx.n, 0);
	m = msg_sync(t, 3, RING0, false, 0, 0);
	apply(t, &m);
	assert_int_equal(t->fx.n, 1);
	fx_is(fx_at(t, 0), LK_FX_COLDSTART, 1, INC(1), NULL);
	assert_int_equal(fx_at(t, 0)->ring, RING0);
	assert_false(lk_state_have(t->s));

	m = msg_coldstart(t, 1, RING0, NULL, 0);
	apply(t, &m);
	expect_only_grants_open(t);
	assert_true(lk_state_have(t->s));
	assert_false(lk_state_syncing(t->s));
	assert_true(lk_state_grants_open(t->s));
	assert_int_equal(lk_state_epoch(t->s), EPOCH);
	assert_int_equal(lk_state_counter(t->s), 0);
	assert_int_equal(lk_state_lineage(t->s), RING0);
	assert_int_equal(lk_state_seq(t->s), 0);
	assert_int_equal(lk_state_nlocks(t->s), 0);
	assert_int_equal(lk_state_nhandoffs(t->s), 0);
	assert_int_equal(departed(t, NULL, 0), 0);
}

static void test_lk_core_confchg_ignores_out_of_range_hosts(void **state)
{
	struct tc *t = *state;
	struct lk_member mem[5] = {
		{ .host = 0, .inc = 1 }, { .host = 1, .inc = INC(1) }, { .host = 2, .inc = INC(2) },
		{ .host = 3, .inc = INC(3) }, { .host = LK_MAX_HOSTS + 1, .inc = 1 },
	};
	struct lk_msg m = { .type = LK_MSG_CONFCHG };

	m.u.confchg.ring = ++t->ring;
	m.u.confchg.members = mem;
	m.u.confchg.nmembers = 5;
	m.u.confchg.quorate = true;
	apply(t, &m);
	expect_only_grants_open(t); /* nobody joined or left: no sync */
	assert_int_equal(lk_state_coordinator(t->s), 1);
	assert_false(lk_state_is_member(t->s, 0, 1));
	assert_false(lk_state_is_member(t->s, LK_MAX_HOSTS + 1, 1));
	assert_int_equal(departed(t, NULL, 0), 0);
}

static void test_lk_core_without_state_refuses_eagain(void **state)
{
	struct tc *t = *state;
	struct lk_msg m;

	t->s = lk_state_new(1, NULL);
	assert_non_null(t->s);
	for (uint32_t i = 0; i < 3; i++)
		member_set(t, hosts3[i], INC(hosts3[i]));
	/* Before any configuration the replica is not quorate either. */
	m = msg_acquire(t, 2, "vm1/disk.img", LK_MODE_EX);
	refuse(t, &m, -ENOTCONN);
	t->ring = RING0 - 1;
	confchg(t, true);
	m = msg_acquire(t, 2, "vm1/disk.img", LK_MODE_EX);
	refuse(t, &m, -EAGAIN);
	m = msg_release(t, 2, "vm1/disk.img");
	refuse(t, &m, -EAGAIN);
	m = msg_rename(t, 2, "a", "b");
	refuse(t, &m, -EAGAIN);
	m = msg_ho(t, LK_MSG_HO_ABORT, 2, 1);
	refuse(t, &m, -EAGAIN);
}

static void test_lk_core_coldstart_goes_to_lowest_member(void **state)
{
	struct tc *t = *state;
	struct lk_msg m;

	t->s = lk_state_new(5, NULL);
	assert_non_null(t->s);
	member_set(t, 7, INC(7));
	member_set(t, 3, INC(3));
	member_set(t, 5, INC(5));
	t->ring = RING0 - 1;
	confchg(t, true);
	for (lk_host_t h = 7; h >= 3; h -= 2) {
		m = msg_sync(t, h, RING0, false, 0, 0);
		apply(t, &m);
	}
	assert_int_equal(t->fx.n, 1);
	fx_is(fx_at(t, 0), LK_FX_COLDSTART, 3, INC(3), NULL);
	assert_int_equal(fx_at(t, 0)->ring, RING0);

	/* Only the coordinator's rebuild, for this ring, counts. */
	m = msg_coldstart(t, 5, RING0, NULL, 0);
	ignored(t, &m);
	m = msg_coldstart(t, 3, RING0 + 1, NULL, 0);
	ignored(t, &m);
	assert_false(lk_state_have(t->s));
	m = msg_coldstart(t, 3, RING0, NULL, 0);
	apply(t, &m);
	expect_only_grants_open(t);
	assert_true(lk_state_have(t->s));
	/* Not syncing any more: a second rebuild is ignored. */
	m = msg_coldstart(t, 3, RING0, NULL, 0);
	ignored(t, &m);
}

static void test_lk_core_inquorate_without_state_does_nothing(void **state)
{
	struct tc *t = *state;
	struct lk_msg m;

	t->s = lk_state_new(1, NULL);
	assert_non_null(t->s);
	member_set(t, 1, INC(1));
	member_set(t, 2, INC(2));
	t->ring = RING0 - 1;
	confchg(t, false);
	m = msg_sync(t, 1, RING0, false, 0, 0);
	apply(t, &m);
	assert_int_equal(t->fx.n, 0);
	m = msg_sync(t, 2, RING0, false, 0, 0);
	apply(t, &m);
	assert_int_equal(t->fx.n, 0);
	assert_true(lk_state_syncing(t->s));
	assert_false(lk_state_have(t->s));
	m = msg_coldstart(t, 1, RING0, NULL, 0);
	ignored(t, &m);
	m = msg_acquire(t, 1, "a", LK_MODE_EX);
	refuse(t, &m, -ENOTCONN);
}

/* Host 4 joins the 3-host fixture in ring 11: the replicas sync. */
static void join4(struct tc *t)
{
	member_set(t, 4, INC(4));
	confchg(t, true);
	assert_int_equal(t->fx.n, 0);
	assert_true(lk_state_syncing(t->s));
	assert_false(lk_state_grants_open(t->s));
}

static void sync_expect_winner(struct tc *t, const uint64_t claims[][2], lk_host_t winner)
{
	for (uint32_t i = 0; i < t->nmem; i++) {
		lk_host_t h = t->mem[i].host;
		bool have = claims[h - 1][0] != 0;
		struct lk_msg m = msg_sync(t, h, t->ring, have, claims[h - 1][0], claims[h - 1][1]);

		apply(t, &m);
		if (i + 1 < t->nmem) {
			assert_int_equal(t->fx.n, 0);
			continue;
		}
		assert_int_equal(t->fx.n, 1);
		fx_is(fx_at(t, 0), LK_FX_SEND_SNAPSHOT, winner, INC(winner), NULL);
		assert_int_equal(fx_at(t, 0)->ring, t->ring);
	}
}

static void test_lk_core_join_starts_sync_and_closes_grants(void **state)
{
	struct tc *t = *state;
	struct lk_msg m;

	grant(t, 1, "a", LK_MODE_EX);
	join4(t);
	m = msg_acquire(t, 2, "b", LK_MODE_EX);
	refuse(t, &m, -EAGAIN);
	m = msg_release(t, 1, "a");
	refuse(t, &m, -EAGAIN);
	m = msg_rename(t, 1, "a", "c");
	refuse(t, &m, -EAGAIN);
}

static void test_lk_core_sync_newest_seq_wins(void **state)
{
	static const uint64_t claims[4][2] = { { 10, 7 }, { 10, 9 }, { 10, 8 }, { 0, 0 } };
	struct tc *t = *state;

	join4(t);
	sync_expect_winner(t, claims, 2);
	assert_true(lk_state_syncing(t->s));
}

static void test_lk_core_sync_newest_lineage_beats_seq(void **state)
{
	static const uint64_t claims[4][2] = { { 9, 100 }, { 0, 0 }, { 10, 0 }, { 10, 0 } };
	struct tc *t = *state;

	join4(t);
	sync_expect_winner(t, claims, 3);
}

static void test_lk_core_sync_tie_goes_to_lowest_host(void **state)
{
	static const uint64_t claims[4][2] = { { 10, 3 }, { 10, 3 }, { 10, 3 }, { 10, 3 } };
	struct tc *t = *state;

	join4(t);
	sync_expect_winner(t, claims, 1);
}

static void test_lk_core_sync_new_epoch_only_with_a_fresh_member(void **state)
{
	static const uint64_t some_fresh[4][2] = { { 10, 3 }, { 10, 3 }, { 10, 3 }, { 0, 0 } };
	static const uint64_t none_fresh[4][2] = { { 10, 3 }, { 10, 3 }, { 10, 3 }, { 10, 1 } };
	struct tc *t = *state;

	join4(t);
	sync_expect_winner(t, some_fresh, 1);
	assert_true(fx_at(t, 0)->new_epoch);
	/* Another configuration restarts the sync: everyone has state now. */
	confchg(t, true);
	sync_expect_winner(t, none_fresh, 1);
	assert_false(fx_at(t, 0)->new_epoch);
	/* Inquorate: a snapshot, never a new epoch. */
	confchg(t, false);
	sync_expect_winner(t, some_fresh, 1);
	assert_false(fx_at(t, 0)->new_epoch);
}

static void test_lk_core_snapshot_under_new_epoch_restarts_counter(void **state)
{
	static const uint64_t claims[4][2] = { { 10, 3 }, { 10, 2 }, { 10, 1 }, { 0, 0 } };
	static const char *const one[] = { "b" };
	struct tc *t = *state;
	struct lk_gen ga = grant(t, 1, "a", LK_MODE_EX);
	struct lk_state *snap;
	struct lk_msg m;

	grant(t, 1, "b", LK_MODE_EX);
	m = msg_prepare(t, 1, 2, one, 1);
	apply(t, &m);
	assert_int_equal(fx_at(t, 2)->handoff_id, ((uint64_t)EPOCH << 32) | 1);
	join4(t);
	sync_expect_winner(t, claims, 1);
	t->snap = snap = lk_state_clone(t->s);
	assert_non_null(snap);
	m = msg_snapshot(t, 1, t->ring, snap);
	m.u.snapshot.epoch = EPOCH + 3;
	apply(t, &m);
	lk_state_free(snap);
	t->snap = NULL;
	expect_only_grants_open(t);
	assert_int_equal(lk_state_epoch(t->s), EPOCH + 3);
	assert_int_equal(lk_state_counter(t->s), 0);
	expect_holds(t, "a", 1, INC(1), LK_MODE_EX, ga, false); /* old holds keep their gen */
	assert_gen(grant(t, 2, "c", LK_MODE_EX), EPOCH + 3, 1);
	grant(t, 1, "d", LK_MODE_EX);
	{
		static const char *const d[] = { "d" };

		m = msg_prepare(t, 1, 2, d, 1);
		apply(t, &m);
		assert_int_equal(fx_at(t, 2)->handoff_id, ((uint64_t)(EPOCH + 3) << 32) | 1);
	}
}

/*
 * A snapshot under a new epoch comes with the volume as its sender read it: host 3's
 * area shows incarnation 33, neither a member nor the departed 13 this replica remembers.
 * 13 was recovered in a lineage lost with a restarted host (33 wrote the slot since), so
 * its holds go and the handoff in doubt towards it is aborted; 33 becomes the departed
 * incarnation, its table merged as orphans.
 */
static void test_lk_core_snapshot_under_new_epoch_merges_the_volume(void **state)
{
	static const struct lk_disk_lock locks33[] = {
		{ .path = "new33", .mode = LK_MODE_EX, .state = LK_DISK_HELD,
		  .gen = { EPOCH, 40 } },
	};
	static const struct lk_disk_host vol[] = {
		{ .host = 3, .inc = 33, .live = true, .complete = true, .ring_seq = 15,
		  .ring_quorate = true, .locks = locks33, .nlocks = 1 },
	};
	struct tc *t = *state;
	struct lk_gen g[2], gold;
	struct lk_departed dd[2];
	uint64_t id;
	struct lk_state *snap;
	struct lk_msg m;

	gold = grant(t, 3, "old", LK_MODE_EX);
	id = prepared(t, 2, 3, g);
	member_drop(t, 3);
	confchg(t, true);
	assert_int_equal(lk_state_handoff_by_id(t->s, id)->state, HO_IN_DOUBT);
	expect_holds(t, "old", 3, INC(3), LK_MODE_EX, gold, true);
	/* Host 4 joins without state: the snapshot comes under a new epoch. */
	member_set(t, 4, INC(4));
	confchg(t, true);
	for (uint32_t i = 0; i < t->nmem; i++) {
		lk_host_t h = t->mem[i].host;

		m = msg_sync(t, h, t->ring, h != 4, lk_state_lineage(t->s), lk_state_seq(t->s));
		apply(t, &m);
	}
	fx_is(fx_at(t, 0), LK_FX_SEND_SNAPSHOT, 1, INC(1), NULL);
	assert_true(fx_at(t, 0)->new_epoch);
	t->snap = snap = lk_state_clone(t->s);
	assert_non_null(snap);
	m = msg_snapshot(t, 1, t->ring, snap);
	m.u.snapshot.epoch = EPOCH + 1;
	m.u.snapshot.hosts = vol;
	m.u.snapshot.nhosts = 1;
	apply(t, &m);
	lk_state_free(snap);
	t->snap = NULL;

	assert_int_equal(lk_state_epoch(t->s), EPOCH + 1);
	assert_int_equal(lk_state_handoff_by_id(t->s, id)->state, HO_ABORTED);
	for (int i = 0; i < 2; i++) {
		const struct lk_fx *p = fx_find(t, LK_FX_PERSIST, 2, ho_files[i]);

		assert_non_null(p);
		assert_int_equal(p->disk_state, LK_DISK_HELD);
		assert_int_equal(p->handoff_id, 0);
		assert_non_null(fx_find(t, LK_FX_UNPERSIST, 3, ho_files[i]));
		expect_holds(t, ho_files[i], 2, INC(2), i ? LK_MODE_MW : LK_MODE_EX, g[i], false);
		assert_int_equal(mark_of(t, ho_files[i]), 0);
	}
	assert_non_null(fx_find(t, LK_FX_REVOKE, 3, "old"));
	assert_int_equal(fx_find(t, LK_FX_REVOKE, 3, "old")->inc, INC(3));
	assert_non_null(fx_find(t, LK_FX_FREED, 0, "old"));
	expect_not_held(t, "old", 3);
	expect_holds(t, "new33", 3, 33, LK_MODE_EX, locks33[0].gen, true);
	assert_int_equal(departed(t, dd, 2), 1);
	expect_departed(&dd[0], 3, 33, 15, true); /* live in a quorate ring: unsettled */
	assert_false(lk_state_grants_open(t->s));
	m = msg_table(t, LK_MSG_SETTLED, 3, 33, locks33, 1);
	apply(t, &m);
	expect_only_grants_open(t);
	m = msg_acquire(t, 4, "new33", LK_MODE_SH);
	refuse_busy(t, &m, 3, LK_MODE_EX, locks33[0].gen, 0);
	assert_gen(grant(t, 4, "old", LK_MODE_EX), EPOCH + 1, 1);
}

static void test_lk_core_sync_ignores_other_rings_and_strangers(void **state)
{
	static const uint64_t claims[4][2] = { { 10, 1 }, { 10, 5 }, { 10, 1 }, { 0, 0 } };
	struct tc *t = *state;
	struct lk_state *snap;
	struct lk_msg m;

	join4(t);
	/* Another ring, a non-member, an unknown incarnation: none counts. */
	m = msg_sync(t, 4, t->ring - 1, false, 0, 0);
	ignored(t, &m);
	m = msg_sync(t, 9, t->ring, true, 99, 99);
	ignored(t, &m);
	m = msg_sync(t, 3, t->ring, true, 99, 99);
	m.from_inc = INC(3) + 100;
	ignored(t, &m);
	/* The first announcement of a member counts, a second is ignored. */
	m = msg_sync(t, 1, t->ring, true, 10, 1);
	apply(t, &m);
	assert_int_equal(t->fx.n, 0);
	m = msg_sync(t, 1, t->ring, true, 99, 99);
	ignored(t, &m);
	for (lk_host_t h = 2; h <= 4; h++) {
		m = msg_sync(t, h, t->ring, claims[h - 1][0] != 0, claims[h - 1][0],
			     claims[h - 1][1]);
		apply(t, &m);
	}
	assert_int_equal(t->fx.n, 1);
	fx_is(fx_at(t, 0), LK_FX_SEND_SNAPSHOT, 2, INC(2), NULL);
	/* Once the winner is known, further SYNCs change nothing. */
	m = msg_sync(t, 4, t->ring, true, 99, 99);
	ignored(t, &m);

	t->snap = snap = lk_state_clone(t->s);
	assert_non_null(snap);
	m = msg_snapshot(t, 1, t->ring, snap); /* not the winner */
	ignored(t, &m);
	m = msg_snapshot(t, 2, t->ring - 1, snap); /* another ring */
	ignored(t, &m);
	m = msg_snapshot(t, 2, t->ring, NULL);
	ignored(t, &m);
	m = msg_snapshot(t, 2, t->ring, snap);
	apply(t, &m);
	lk_state_free(snap);
	t->snap = NULL;
	expect_only_grants_open(t);
	assert_false(lk_state_syncing(t->s));
	assert_int_equal(lk_state_lineage(t->s), t->ring);
	assert_int_equal(lk_state_seq(t->s), 0);
}

static void test_lk_core_snapshot_replaces_state(void **state)
{
	struct tc *a = &((struct tc *)*state)[0];
	struct tc *b = &((struct tc *)*state)[1];
	struct lk_state *snap;
	struct lk_gen gx;
	struct lk_msg m;

	ready(b, 2, hosts3, 3, NULL);
	assert_true(lk_state_equal(a->s, b->s));

	/* Split: host 1 alone (inquorate), hosts 2 and 3 go on and grant x. */
	member_drop(a, 2);
	member_drop(a, 3);
	a->ring = 10;
	confchg(a, false); /* ring 11 */
	member_drop(b, 1);
	b->ring = 11;
	confchg(b, true); /* ring 12 */
	m = msg_table(b, LK_MSG_SETTLED, 1, INC(1), NULL, 0);
	apply(b, &m);
	expect_only_grants_open(b);
	gx = grant(b, 2, "x", LK_MODE_EX);
	assert_gen(gx, EPOCH, 1);
	expect_not_held(a, "x", 2);

	/* Merge in ring 20: hosts 2 and 3 are newest (lineage 12). */
	member_set(a, 2, INC(2));
	member_set(a, 3, INC(3));
	a->ring = 19;
	confchg(a, true);
	member_set(b, 1, INC(1));
	b->ring = 19;
	confchg(b, true);
	assert_false(lk_state_equal(a->s, b->s));
	{
		const uint64_t claims[3][2] = {
			{ lk_state_lineage(a->s), lk_state_seq(a->s) },
			{ lk_state_lineage(b->s), lk_state_seq(b->s) },
			{ lk_state_lineage(b->s), lk_state_seq(b->s) },
		};

		assert_int_equal(claims[0][0], 10);
		assert_int_equal(claims[1][0], 12);
		for (lk_host_t h = 1; h <= 3; h++) {
			struct lk_msg s = msg_sync(a, h, 20, true, claims[h - 1][0],
						   claims[h - 1][1]);

			apply(a, &s);
			apply(b, &s);
		}
	}
	fx_is(fx_at(a, 0), LK_FX_SEND_SNAPSHOT, 2, INC(2), NULL);
	fx_is(fx_at(b, 0), LK_FX_SEND_SNAPSHOT, 2, INC(2), NULL);
	b->snap = snap = lk_state_clone(b->s);
	assert_non_null(snap);
	m = msg_snapshot(b, 2, 20, snap);
	apply(a, &m);
	expect_only_grants_open(a);
	apply(b, &m);
	expect_only_grants_open(b);
	lk_state_free(snap);
	b->snap = NULL;

	assert_true(lk_state_equal(a->s, b->s));
	expect_holds(a, "x", 2, INC(2), LK_MODE_EX, gx, false);
	assert_int_equal(lk_state_counter(a->s), 1);
	assert_int_equal(lk_state_lineage(a->s), 20);
	assert_int_equal(departed(a, NULL, 0), 0);
	/* And it goes on from there: the next generation follows the snapshot's counter. */
	assert_gen(grant(a, 1, "y", LK_MODE_EX), EPOCH, 2);
}

/* --- modes ---------------------------------------------------------------------------- */

static void conflict(struct tc *t, enum lk_mode held, enum lk_mode wanted)
{
	struct lk_gen g = grant(t, 1, "vm1/disk.img", held);
	struct lk_msg m = msg_acquire(t, 2, "vm1/disk.img", wanted);

	refuse_busy(t, &m, 1, held, g, 0);
	expect_not_held(t, "vm1/disk.img", 2);
}

static void test_lk_core_ex_excludes_ex(void **state)
{
	conflict(*state, LK_MODE_EX, LK_MODE_EX);
}

static void test_lk_core_ex_excludes_sh(void **state)
{
	conflict(*state, LK_MODE_EX, LK_MODE_SH);
}

static void test_lk_core_ex_excludes_mw(void **state)
{
	conflict(*state, LK_MODE_EX, LK_MODE_MW);
}

static void test_lk_core_sh_excludes_ex(void **state)
{
	conflict(*state, LK_MODE_SH, LK_MODE_EX);
}

static void test_lk_core_mw_excludes_ex(void **state)
{
	conflict(*state, LK_MODE_MW, LK_MODE_EX);
}

static void test_lk_core_sh_conflicts_with_mw(void **state)
{
	conflict(*state, LK_MODE_SH, LK_MODE_MW);
}

static void test_lk_core_mw_conflicts_with_sh(void **state)
{
	conflict(*state, LK_MODE_MW, LK_MODE_SH);
}

static void share(struct tc *t, enum lk_mode mode)
{
	struct lk_gen g1 = grant(t, 1, "base.vmdk", mode);
	struct lk_gen g2 = grant(t, 2, "base.vmdk", mode);
	struct lk_gen g3 = grant(t, 3, "base.vmdk", mode);

	assert_gen(g1, EPOCH, 1);
	assert_gen(g2, EPOCH, 2);
	assert_gen(g3, EPOCH, 3);
	expect_holds(t, "base.vmdk", 1, INC(1), mode, g1, false);
	expect_holds(t, "base.vmdk", 2, INC(2), mode, g2, false);
	assert_int_equal(lk_state_nlocks(t->s), 1);
}

static void test_lk_core_sh_shares_sh(void **state)
{
	share(*state, LK_MODE_SH);
}

static void test_lk_core_mw_shares_mw(void **state)
{
	share(*state, LK_MODE_MW);
}

static void test_lk_core_busy_names_a_conflicting_holder(void **state)
{
	struct tc *t = *state;
	struct lk_gen g1 = grant(t, 1, "base.vmdk", LK_MODE_SH);
	struct lk_gen g2 = grant(t, 2, "base.vmdk", LK_MODE_SH);
	struct lk_msg m = msg_acquire(t, 3, "base.vmdk", LK_MODE_EX);
	const struct lk_fx *f = refuse(t, &m, -EBUSY);

	assert_int_equal(f->holder_mode, LK_MODE_SH);
	if (f->holder == 1)
		assert_gen_eq(f->holder_gen, g1);
	else if (f->holder == 2)
		assert_gen_eq(f->holder_gen, g2);
	else
		fail_msg("-EBUSY names host %u, which does not hold base.vmdk", f->holder);
}

static void test_lk_core_same_host_same_mode_is_idempotent(void **state)
{
	struct tc *t = *state;
	struct lk_gen g = grant(t, 2, "vm1/disk.img", LK_MODE_EX);
	struct lk_gen again = grant(t, 2, "vm1/disk.img", LK_MODE_EX);

	assert_gen_eq(again, g);
	assert_int_equal(lk_state_counter(t->s), 1);
	assert_int_equal(lk_state_nlocks(t->s), 1);
	g = grant(t, 2, "base.vmdk", LK_MODE_SH);
	assert_gen_eq(grant(t, 2, "base.vmdk", LK_MODE_SH), g);
	assert_int_equal(lk_state_counter(t->s), 2);
}

static void test_lk_core_same_host_other_mode_busy(void **state)
{
	struct tc *t = *state;
	struct lk_gen g = grant(t, 2, "base.vmdk", LK_MODE_SH);
	struct lk_msg m = msg_acquire(t, 2, "base.vmdk", LK_MODE_EX);

	refuse_busy(t, &m, 2, LK_MODE_SH, g, 0);
	m = msg_acquire(t, 2, "base.vmdk", LK_MODE_MW);
	refuse_busy(t, &m, 2, LK_MODE_SH, g, 0);
	expect_holds(t, "base.vmdk", 2, INC(2), LK_MODE_SH, g, false);
}

static void test_lk_core_invalid_mode_einval(void **state)
{
	struct tc *t = *state;
	struct lk_msg m = msg_acquire(t, 1, "a", LK_MODE_NONE);

	refuse(t, &m, -EINVAL);
	m = msg_acquire(t, 1, "a", (enum lk_mode)(LK_MODE_EX + 1));
	refuse(t, &m, -EINVAL);
	assert_int_equal(lk_state_nlocks(t->s), 0);
}

static void test_lk_core_invalid_path_einval(void **state)
{
	struct tc *t = *state;
	char longest[LK_PATH_MAX + 2];
	const char *bad[] = { NULL, "", "/", "/abs/disk.img", "vm1/", longest };
	struct lk_msg m;

	memset(longest, 'a', LK_PATH_MAX + 1);
	longest[LK_PATH_MAX + 1] = '\0'; /* LK_PATH_MAX + 1 bytes: one too long */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		m = msg_acquire(t, 1, bad[i], LK_MODE_EX);
		refuse(t, &m, -EINVAL);
	}
	longest[LK_PATH_MAX] = '\0'; /* exactly LK_PATH_MAX: valid */
	grant(t, 1, longest, LK_MODE_EX);
}

/* --- persist before use --------------------------------------------------------------- */

static void test_lk_core_grant_is_persist_to_grantee(void **state)
{
	struct tc *t = *state;
	struct lk_msg m = msg_acquire(t, 2, "vm1/shared.vmdk", LK_MODE_MW);
	const struct lk_fx *f;

	m.req = 4242;
	apply(t, &m);
	assert_int_equal(t->fx.n, 1);
	assert_int_equal(fx_count(t, LK_FX_REPLY), 0);
	f = fx_at(t, 0);
	fx_is(f, LK_FX_PERSIST, 2, INC(2), "vm1/shared.vmdk");
	assert_int_equal(f->req, 4242);
	assert_null(f->old_path);
	assert_int_equal(f->mode, LK_MODE_MW);
	assert_int_equal(f->disk_state, LK_DISK_HELD);
	assert_gen(f->gen, EPOCH, 1);
	assert_int_equal(f->handoff_id, 0);
	assert_int_equal(lk_state_counter(t->s), 1);
	expect_holds(t, "vm1/shared.vmdk", 2, INC(2), LK_MODE_MW, f->gen, false);
}

static void test_lk_core_generations_strictly_grow(void **state)
{
	struct tc *t = *state;
	struct lk_gen prev = { EPOCH, 0 }, g;
	struct lk_msg m;

	for (int round = 0; round < 3; round++) {
		g = grant(t, 1, "a", LK_MODE_EX);
		assert_true(lk_gen_cmp(g, prev) > 0);
		prev = g;
		g = grant(t, 2, "b", LK_MODE_SH);
		assert_true(lk_gen_cmp(g, prev) > 0);
		prev = g;
		release_ok(t, 1, "a", true);
		release_ok(t, 2, "b", true);
		g = grant(t, 3, "a", LK_MODE_EX); /* the same path again, another host */
		assert_true(lk_gen_cmp(g, prev) > 0);
		prev = g;
		m = msg_rename(t, 3, "a", "c");
		apply(t, &m);
		assert_true(lk_gen_cmp(fx_at(t, 0)->gen, prev) > 0);
		prev = fx_at(t, 0)->gen;
		release_ok(t, 3, "c", true);
	}
	assert_int_equal(lk_state_counter(t->s), prev.counter);
	assert_gen(prev, EPOCH, 12);
}

static void test_lk_core_release_answers_and_frees(void **state)
{
	struct tc *t = *state;

	grant(t, 1, "vm1/disk.img", LK_MODE_EX);
	release_ok(t, 1, "vm1/disk.img", true);
	assert_int_equal(lk_state_nlocks(t->s), 0);
	/* Shared: FREED only when the last holder leaves. */
	grant(t, 1, "base.vmdk", LK_MODE_SH);
	grant(t, 2, "base.vmdk", LK_MODE_SH);
	release_ok(t, 1, "base.vmdk", false);
	assert_int_equal(lk_state_nlocks(t->s), 1);
	release_ok(t, 2, "base.vmdk", true);
	assert_int_equal(lk_state_nlocks(t->s), 0);
	/* A freed path can be taken by anyone again. */
	grant(t, 3, "vm1/disk.img", LK_MODE_EX);
}

static void test_lk_core_release_not_held_enoent(void **state)
{
	struct tc *t = *state;
	struct lk_msg m = msg_release(t, 1, "vm1/disk.img");

	refuse(t, &m, -ENOENT);
	grant(t, 2, "vm1/disk.img", LK_MODE_EX);
	m = msg_release(t, 1, "vm1/disk.img");
	refuse(t, &m, -ENOENT);
	m = msg_release(t, 1, "");
	refuse(t, &m, -EINVAL);
	m = msg_release(t, 1, "/vm1/disk.img");
	refuse(t, &m, -EINVAL);
	/* The holder's other incarnation is not the holder. */
	m = msg_release(t, 2, "vm1/disk.img");
	m.from_inc = INC(2) + 100;
	refuse(t, &m, -ESTALE);
}

/* --- quorum --------------------------------------------------------------------------- */

static void test_lk_core_inquorate_refuses_everything(void **state)
{
	static const char *const one[] = { "c" };
	static const char *const other[] = { "a" };
	struct tc *t = *state;
	struct lk_disk_lock table[1];
	struct lk_msg m;
	uint64_t id;

	grant(t, 1, "a", LK_MODE_EX);
	grant(t, 2, "b", LK_MODE_EX);
	grant(t, 1, "c", LK_MODE_EX);
	m = msg_prepare(t, 1, 2, one, 1);
	apply(t, &m);
	id = fx_at(t, t->fx.n - 1)->handoff_id;
	assert_int_not_equal(id, 0);

	/* Host 1 alone: inquorate. */
	member_drop(t, 2);
	member_drop(t, 3);
	confchg(t, false);
	assert_false(lk_state_quorate(t->s));
	assert_false(lk_state_grants_open(t->s));
	m = msg_acquire(t, 1, "d", LK_MODE_EX);
	refuse(t, &m, -ENOTCONN);
	m = msg_acquire(t, 1, "a", LK_MODE_EX); /* even what it holds already */
	refuse(t, &m, -ENOTCONN);
	m = msg_release(t, 1, "a");
	refuse(t, &m, -ENOTCONN);
	m = msg_rename(t, 1, "a", "z");
	refuse(t, &m, -ENOTCONN);
	m = msg_prepare(t, 1, 2, other, 1);
	refuse(t, &m, -ENOTCONN);
	m = msg_ho(t, LK_MSG_HO_COMMIT, 1, id);
	refuse(t, &m, -ENOTCONN);
	m = msg_ho(t, LK_MSG_HO_ABORT, 1, id);
	refuse(t, &m, -ENOTCONN);
	m = msg_acquire(t, 2, "d", LK_MODE_EX); /* a departed sender: still -ENOTCONN first */
	refuse(t, &m, -ENOTCONN);
	/* The coordinator's messages change nothing either. */
	table[0] = disk("b", LK_MODE_EX, LK_DISK_HELD, EPOCH, 2, 0);
	m = msg_table(t, LK_MSG_SETTLED, 2, INC(2), table, 1);
	ignored(t, &m);
	m = msg_table(t, LK_MSG_RECOVERED, 2, INC(2), table, 1);
	ignored(t, &m);
	assert_true(lk_state_awaits_recovery(t->s, 2));
}

static void test_lk_core_inquorate_durable_changes_nothing(void **state)
{
	static const char *const one[] = { "c" };
	struct tc *t = *state;
	struct lk_msg m;
	uint64_t id;

	grant(t, 1, "c", LK_MODE_EX);
	m = msg_prepare(t, 1, 2, one, 1);
	apply(t, &m);
	id = fx_at(t, t->fx.n - 1)->handoff_id;
	m = msg_ho(t, LK_MSG_HO_COMMIT, 1, id);
	apply(t, &m);
	assert_int_equal(lk_state_handoff_by_id(t->s, id)->state, HO_COMMITTED);
	/* Quorum lost without anyone leaving (expected votes): only quorate replicas change. */
	confchg(t, false);
	m = msg_ho(t, LK_MSG_HO_DURABLE, 2, id);
	ignored(t, &m);
	assert_int_equal(lk_state_handoff_by_id(t->s, id)->state, HO_COMMITTED);
}

static void test_lk_core_quorum_regained_reopens_grants(void **state)
{
	struct tc *t = *state;
	struct lk_msg m;

	grant(t, 1, "a", LK_MODE_EX);
	confchg(t, false);
	assert_int_equal(t->fx.n, 0);
	m = msg_acquire(t, 2, "b", LK_MODE_EX);
	refuse(t, &m, -ENOTCONN);
	/* The same members, quorate again, nobody joined: no sync, grants reopen. */
	confchg(t, true);
	expect_only_grants_open(t);
	assert_false(lk_state_syncing(t->s));
	assert_int_equal(lk_state_lineage(t->s), t->ring);
	assert_int_equal(lk_state_seq(t->s), 0);
	assert_gen(grant(t, 2, "b", LK_MODE_EX), EPOCH, 2);
}

/* --- departure and recovery ----------------------------------------------------------- */

/*
 * The 3-host fixture where host 2 holds a (EX) and b (SH, shared with host 3) and host 1
 * holds c (EX); then host 2 leaves (ring 11, quorate).
 */
struct dep {
	struct lk_gen a2, b2, b3, c1;
};

static struct dep depart2(struct tc *t)
{
	struct dep d;

	d.a2 = grant(t, 2, "a", LK_MODE_EX);
	d.b2 = grant(t, 2, "b", LK_MODE_SH);
	d.b3 = grant(t, 3, "b", LK_MODE_SH);
	d.c1 = grant(t, 1, "c", LK_MODE_EX);
	member_drop(t, 2);
	confchg(t, true);
	assert_int_equal(t->fx.n, 0); /* grants stay closed: no GRANTS_OPEN */
	return d;
}

static void settle2(struct tc *t, const struct dep *d)
{
	struct lk_disk_lock table[2] = {
		disk("a", LK_MODE_EX, LK_DISK_HELD, EPOCH, d->a2.counter, 0),
		disk("b", LK_MODE_SH, LK_DISK_HELD, EPOCH, d->b2.counter, 0),
	};
	struct lk_msg m = msg_table(t, LK_MSG_SETTLED, 2, INC(2), table, 2);

	apply(t, &m);
	expect_only_grants_open(t);
}

static void test_lk_core_departure_orphans_locks(void **state)
{
	struct tc *t = *state;
	struct dep d = depart2(t);
	struct lk_departed dd[4];

	expect_holds(t, "a", 2, INC(2), LK_MODE_EX, d.a2, true);
	expect_holds(t, "b", 2, INC(2), LK_MODE_SH, d.b2, true);
	expect_holds(t, "b", 3, INC(3), LK_MODE_SH, d.b3, false);
	expect_holds(t, "c", 1, INC(1), LK_MODE_EX, d.c1, false);
	assert_int_equal(departed(t, dd, 4), 1);
	expect_departed(&dd[0], 2, INC(2), RING0, true);
	assert_true(lk_state_awaits_recovery(t->s, 2));
	assert_false(lk_state_awaits_recovery(t->s, 3));
	assert_true(lk_state_quorate(t->s));
	assert_false(lk_state_grants_open(t->s));
	assert_false(lk_state_is_member(t->s, 2, INC(2)));
	assert_int_equal(lk_state_lineage(t->s), RING0 + 1);
}

static void test_lk_core_departure_closes_grants(void **state)
{
	static const char *const one[] = { "c" };
	struct tc *t = *state;
	struct lk_msg m;

	depart2(t);
	m = msg_acquire(t, 3, "d", LK_MODE_EX);
	refuse(t, &m, -EAGAIN);
	m = msg_acquire(t, 1, "c", LK_MODE_EX); /* even a repeat of a hold */
	refuse(t, &m, -EAGAIN);
	m = msg_rename(t, 1, "c", "e");
	refuse(t, &m, -EAGAIN);
	m = msg_prepare(t, 1, 3, one, 1);
	refuse(t, &m, -EAGAIN);
	/* Giving up ownership is still allowed. */
	release_ok(t, 1, "c", true);
	release_ok(t, 3, "b", false);
}

static void test_lk_core_settled_reopens_grants(void **state)
{
	struct tc *t = *state;
	struct dep d = depart2(t);
	struct lk_departed dd[4];
	struct lk_msg m;

	/* An older incarnation, not a departed host, not a member sending, no such host. */
	m = msg_table(t, LK_MSG_SETTLED, 2, INC(2) - 1, NULL, 0);
	ignored(t, &m);
	m = msg_table(t, LK_MSG_SETTLED, 3, INC(3), NULL, 0);
	ignored(t, &m);
	m = msg_table(t, LK_MSG_SETTLED, 2, INC(2), NULL, 0);
	m.from = 2;
	ignored(t, &m);
	m = msg_table(t, LK_MSG_SETTLED, 0, 0, NULL, 0);
	ignored(t, &m);
	m = msg_table(t, LK_MSG_SETTLED, LK_MAX_HOSTS + 1, INC(2), NULL, 0);
	ignored(t, &m);

	settle2(t, &d);
	assert_true(lk_state_grants_open(t->s));
	assert_int_equal(departed(t, dd, 4), 1);
	expect_departed(&dd[0], 2, INC(2), RING0, false);
	assert_true(lk_state_awaits_recovery(t->s, 2));
	expect_holds(t, "a", 2, INC(2), LK_MODE_EX, d.a2, true);
	grant(t, 3, "d", LK_MODE_EX);
	/* Settled once: a second SETTLED is ignored. */
	m = msg_table(t, LK_MSG_SETTLED, 2, INC(2), NULL, 0);
	ignored(t, &m);
}

static void test_lk_core_orphan_ex_not_grantable(void **state)
{
	struct tc *t = *state;
	struct dep d = depart2(t);
	struct lk_msg m;

	settle2(t, &d);
	m = msg_acquire(t, 3, "a", LK_MODE_EX);
	refuse_busy(t, &m, 2, LK_MODE_EX, d.a2, 0);
	m = msg_acquire(t, 3, "a", LK_MODE_SH);
	refuse_busy(t, &m, 2, LK_MODE_EX, d.a2, 0);
}

static void test_lk_core_orphan_sh_shares(void **state)
{
	struct tc *t = *state;
	struct dep d = depart2(t);
	struct lk_msg m;
	const struct lk_fx *f;

	settle2(t, &d);
	grant(t, 1, "b", LK_MODE_SH);
	expect_holds(t, "b", 2, INC(2), LK_MODE_SH, d.b2, true);
	m = msg_acquire(t, 1, "a", LK_MODE_MW);
	refuse_busy(t, &m, 2, LK_MODE_EX, d.a2, 0);
	release_ok(t, 3, "b", false);
	m = msg_acquire(t, 3, "b", LK_MODE_MW);
	f = refuse(t, &m, -EBUSY);
	assert_int_equal(f->holder_mode, LK_MODE_SH);
	assert_true(f->holder == 1 || f->holder == 2);
}

static void test_lk_core_recovered_frees_orphans(void **state)
{
	struct tc *t = *state;
	struct dep d = depart2(t);
	struct lk_disk_lock table[2] = {
		disk("a", LK_MODE_EX, LK_DISK_HELD, EPOCH, d.a2.counter, 0),
		disk("b", LK_MODE_SH, LK_DISK_HELD, EPOCH, d.b2.counter, 0),
	};
	struct lk_msg m;

	settle2(t, &d);
	m = msg_table(t, LK_MSG_RECOVERED, 2, INC(2) - 1, table, 2);
	ignored(t, &m);
	m = msg_table(t, LK_MSG_RECOVERED, 2, INC(2), table, 2);
	apply(t, &m);
	assert_int_equal(t->fx.n, 4);
	assert_non_null(fx_find(t, LK_FX_REVOKE, 2, "a"));
	assert_int_equal(fx_find(t, LK_FX_REVOKE, 2, "a")->inc, INC(2));
	assert_non_null(fx_find(t, LK_FX_REVOKE, 2, "b"));
	assert_int_equal(fx_find(t, LK_FX_REVOKE, 2, "b")->inc, INC(2));
	assert_non_null(fx_find(t, LK_FX_FREED, 0, "a"));
	assert_null(fx_find(t, LK_FX_FREED, 0, "b")); /* host 3 still reads b */
	fx_is(fx_at(t, 3), LK_FX_GRANTS_OPEN, 0, 0, NULL);
	expect_not_held(t, "a", 2);
	expect_not_held(t, "b", 2);
	expect_holds(t, "b", 3, INC(3), LK_MODE_SH, d.b3, false);
	assert_false(lk_state_awaits_recovery(t->s, 2));
	assert_int_equal(departed(t, NULL, 0), 0);
	assert_gen(grant(t, 3, "a", LK_MODE_EX), EPOCH, 5);
	/* Recovered once: a second RECOVERED is ignored. */
	m = msg_table(t, LK_MSG_RECOVERED, 2, INC(2), table, 2);
	ignored(t, &m);
}

static void test_lk_core_recovered_while_unsettled_settles_first(void **state)
{
	struct tc *t = *state;
	struct dep d = depart2(t);
	/* The table shows d, granted in deliveries this replica never saw. */
	struct lk_disk_lock table[3] = {
		disk("a", LK_MODE_EX, LK_DISK_HELD, EPOCH, d.a2.counter, 0),
		disk("b", LK_MODE_SH, LK_DISK_HELD, EPOCH, d.b2.counter, 0),
		disk("d", LK_MODE_EX, LK_DISK_HELD, EPOCH, 50, 0),
	};
	struct lk_msg m = msg_table(t, LK_MSG_RECOVERED, 2, INC(2), table, 3);

	apply(t, &m);
	assert_int_equal(fx_count(t, LK_FX_REVOKE), 3);
	assert_non_null(fx_find(t, LK_FX_REVOKE, 2, "d"));
	assert_non_null(fx_find(t, LK_FX_FREED, 0, "a"));
	assert_non_null(fx_find(t, LK_FX_FREED, 0, "d"));
	assert_int_equal(fx_count(t, LK_FX_FREED), 2);
	assert_int_equal(fx_count(t, LK_FX_GRANTS_OPEN), 1);
	assert_int_equal(t->fx.n, 6);
	assert_false(lk_state_awaits_recovery(t->s, 2));
	assert_true(lk_state_grants_open(t->s));
	assert_int_equal(departed(t, NULL, 0), 0);
	assert_int_equal(lk_state_counter(t->s), 50);
	assert_gen(grant(t, 1, "d", LK_MODE_EX), EPOCH, 51);
}

/* Host h restarts as incarnation inc: one confchg where its old incarnation is gone. */
static void restart(struct tc *t, lk_host_t h, uint64_t inc)
{
	member_set(t, h, inc);
	confchg(t, true);
	assert_int_equal(t->fx.n, 0);
	resync(t);
}

static void test_lk_core_restarted_host_estale_until_recovered(void **state)
{
	struct tc *t = *state;
	struct lk_gen g = grant(t, 2, "a", LK_MODE_EX);
	struct lk_disk_lock table[1] = { disk("a", LK_MODE_EX, LK_DISK_HELD, EPOCH, g.counter, 0) };
	struct lk_departed dd[2];
	struct lk_msg m;

	restart(t, 2, 22);
	assert_int_equal(t->fx.n, 0); /* no GRANTS_OPEN: incarnation 12 is unsettled */
	assert_true(lk_state_is_member(t->s, 2, 22));
	assert_true(lk_state_awaits_recovery(t->s, 2));
	assert_int_equal(departed(t, dd, 2), 1);
	expect_departed(&dd[0], 2, INC(2), RING0, true);
	expect_holds(t, "a", 2, INC(2), LK_MODE_EX, g, true);
	m = msg_acquire(t, 2, "b", LK_MODE_EX);
	refuse(t, &m, -ESTALE);
	m = msg_release(t, 2, "a");
	refuse(t, &m, -ESTALE);
	m = msg_acquire(t, 2, "b", LK_MODE_EX);
	m.from_inc = INC(2); /* the old incarnation is no member any more */
	refuse(t, &m, -ESTALE);

	m = msg_table(t, LK_MSG_SETTLED, 2, INC(2), table, 1);
	apply(t, &m);
	expect_only_grants_open(t);
	m = msg_acquire(t, 2, "b", LK_MODE_EX);
	refuse(t, &m, -ESTALE);
	m = msg_table(t, LK_MSG_RECOVERED, 2, INC(2), table, 1);
	apply(t, &m);
	assert_int_equal(t->fx.n, 3);
	fx_is(fx_at(t, 0), LK_FX_REVOKE, 2, INC(2), "a");
	fx_is(fx_at(t, 1), LK_FX_FREED, 0, 0, "a");
	fx_is(fx_at(t, 2), LK_FX_GRANTS_OPEN, 0, 0, NULL);
	assert_false(lk_state_awaits_recovery(t->s, 2));
	/* The snapshot after the restart came under epoch EPOCH + 1. */
	assert_gen(grant(t, 2, "a", LK_MODE_EX), EPOCH + 1, 1);
}

static void test_lk_core_same_incarnation_returns_live(void **state)
{
	struct tc *t = *state;
	struct lk_gen g = grant(t, 2, "a", LK_MODE_EX);
	struct lk_disk_lock table[1] = { disk("a", LK_MODE_EX, LK_DISK_HELD, EPOCH, g.counter, 0) };
	struct lk_departed dd[2];
	struct lk_msg m;

	member_drop(t, 2);
	confchg(t, true);
	expect_holds(t, "a", 2, INC(2), LK_MODE_EX, g, true);
	/* The partition heals: the same incarnation is back. */
	member_set(t, 2, INC(2));
	confchg(t, true);
	assert_true(lk_state_syncing(t->s));
	resync(t);
	assert_int_equal(t->fx.n, 0); /* it may have been granted more meanwhile: unsettled */
	expect_holds(t, "a", 2, INC(2), LK_MODE_EX, g, false);
	assert_false(lk_state_awaits_recovery(t->s, 2));
	assert_int_equal(departed(t, dd, 2), 1);
	expect_departed(&dd[0], 2, INC(2), RING0, true);
	m = msg_table(t, LK_MSG_SETTLED, 2, INC(2), table, 1);
	apply(t, &m);
	expect_only_grants_open(t);
	assert_int_equal(departed(t, NULL, 0), 0);
	expect_holds(t, "a", 2, INC(2), LK_MODE_EX, g, false);
	/* Live again: its holds answer like any member's. */
	assert_gen_eq(grant(t, 2, "a", LK_MODE_EX), g);
	m = msg_acquire(t, 3, "a", LK_MODE_SH);
	refuse_busy(t, &m, 2, LK_MODE_EX, g, 0);
	release_ok(t, 2, "a", true);
}

/*
 * Rule 2 for a slot whose older incarnation still awaits recovery. Host 3's replica of 5
 * hosts: host 2 restarted as incarnation 22 and its old incarnation 12 is settled but not
 * yet recovered. Hosts 1 and 2 deliver RECOVERED(2, 12) and an ACQUIRE of x by (2, 22) in
 * the old ring, then split off; hosts 3, 4, 5 never saw either. Incarnation 22 has x in its
 * table and uses it while its lease lasts, so the quorate side must not grant x before it
 * has read that table: 22's departure must leave the partition unsettled.
 */
static void test_lk_core_departure_of_restarted_incarnation_unsettles(void **state)
{
	struct tc *t = *state;
	struct lk_msg m;

	ready(t, 3, hosts5, 5, NULL);
	restart(t, 2, 22);
	m = msg_table(t, LK_MSG_SETTLED, 2, INC(2), NULL, 0);
	apply(t, &m);
	expect_only_grants_open(t);
	assert_true(lk_state_awaits_recovery(t->s, 2));

	member_drop(t, 1);
	member_drop(t, 2);
	confchg(t, true);
	m = msg_table(t, LK_MSG_SETTLED, 1, INC(1), NULL, 0);
	apply(t, &m);
	assert_false(lk_state_grants_open(t->s));
	m = msg_acquire(t, 4, "x", LK_MODE_EX);
	refuse(t, &m, -EAGAIN);

	/* The coordinator finds incarnation 22 in the heartbeat (it wrote its slot, so 12
	 * was recovered where we did not see it): 22 replaces 12 and its table counts. */
	{
		struct lk_disk_lock table[1] = { disk("x", LK_MODE_EX, LK_DISK_HELD, EPOCH, 7, 0) };
		struct lk_departed dd[4];

		m = msg_table(t, LK_MSG_SETTLED, 2, 22, table, 1);
		apply(t, &m);
		assert_true(lk_state_grants_open(t->s));
		assert_int_equal(departed(t, dd, 4), 2);
		expect_holds(t, "x", 2, 22, LK_MODE_EX, (struct lk_gen){ EPOCH, 7 }, true);
		m = msg_acquire(t, 4, "x", LK_MODE_EX);
		refuse_busy(t, &m, 2, LK_MODE_EX, (struct lk_gen){ EPOCH, 7 }, 0);
		/* The forgotten incarnation can no longer be named. */
		m = msg_table(t, LK_MSG_RECOVERED, 2, INC(2), NULL, 0);
		ignored(t, &m);
	}
}

/* --- settle merge --------------------------------------------------------------------- */

/* What the departed host's table does not show, it does not use: released in deliveries
 * this replica never saw. Settle drops it (REVOKE to it, FREED when nobody is left). */
static void test_lk_core_settle_drops_holds_the_table_does_not_show(void **state)
{
	struct tc *t = *state;
	struct dep d = depart2(t);
	struct lk_disk_lock table[1] = {
		disk("a", LK_MODE_EX, LK_DISK_HELD, EPOCH, d.a2.counter, 0),
	};
	struct lk_msg m = msg_table(t, LK_MSG_SETTLED, 2, INC(2), table, 1);

	apply(t, &m);
	assert_int_equal(t->fx.n, 2);
	fx_is(fx_at(t, 0), LK_FX_REVOKE, 2, INC(2), "b");
	fx_is(fx_at(t, 1), LK_FX_GRANTS_OPEN, 0, 0, NULL);
	expect_not_held(t, "b", 2);
	expect_holds(t, "b", 3, INC(3), LK_MODE_SH, d.b3, false);
	expect_holds(t, "a", 2, INC(2), LK_MODE_EX, d.a2, true);

	/* An empty table (read as such): its last orphan goes, and the path is free. */
	member_drop(t, 3);
	confchg(t, true);
	m = msg_table(t, LK_MSG_SETTLED, 3, INC(3), NULL, 0);
	apply(t, &m);
	assert_int_equal(t->fx.n, 3);
	fx_is(fx_at(t, 0), LK_FX_REVOKE, 3, INC(3), "b");
	fx_is(fx_at(t, 1), LK_FX_FREED, 0, 0, "b");
	fx_is(fx_at(t, 2), LK_FX_GRANTS_OPEN, 0, 0, NULL);
	assert_int_equal(lk_state_nlocks(t->s), 2);
	assert_true(lk_state_awaits_recovery(t->s, 3)); /* still to be fenced */
}

static void test_lk_core_settle_newer_disk_generation_wins(void **state)
{
	struct tc *t = *state;
	struct lk_gen g3 = grant(t, 3, "x", LK_MODE_EX);
	/* Host 2's table: x at (2,50), granted after host 3 released it, in deliveries we
	 * never saw. */
	struct lk_disk_lock table[1] = { disk("x", LK_MODE_EX, LK_DISK_HELD, EPOCH, 50, 0) };
	struct lk_msg m;

	assert_gen(g3, EPOCH, 1);
	member_drop(t, 2);
	confchg(t, true);
	m = msg_table(t, LK_MSG_SETTLED, 2, INC(2), table, 1);
	apply(t, &m);
	/* The stale holder is revoked and told to drop its table entry too. */
	assert_int_equal(t->fx.n, 3);
	fx_is(fx_at(t, 0), LK_FX_REVOKE, 3, INC(3), "x");
	fx_is(fx_at(t, 1), LK_FX_UNPERSIST, 3, INC(3), "x");
	fx_is(fx_at(t, 2), LK_FX_GRANTS_OPEN, 0, 0, NULL);
	expect_not_held(t, "x", 3);
	expect_holds(t, "x", 2, INC(2), LK_MODE_EX, table[0].gen, true);
	assert_int_equal(lk_state_counter(t->s), 50);
	m = msg_acquire(t, 3, "x", LK_MODE_EX);
	refuse_busy(t, &m, 2, LK_MODE_EX, table[0].gen, 0);
	assert_gen(grant(t, 1, "y", LK_MODE_EX), EPOCH, 51);
}

static void test_lk_core_settle_older_disk_generation_ignored(void **state)
{
	struct tc *t = *state;
	struct lk_disk_lock table[1] = { disk("x", LK_MODE_EX, LK_DISK_HELD, EPOCH, 2, 0) };
	struct lk_gen g3;
	struct lk_msg m;

	grant(t, 1, "p", LK_MODE_EX);
	grant(t, 1, "q", LK_MODE_EX);
	g3 = grant(t, 3, "x", LK_MODE_EX); /* (2,3): newer than host 2's entry */
	member_drop(t, 2);
	confchg(t, true);
	m = msg_table(t, LK_MSG_SETTLED, 2, INC(2), table, 1);
	apply(t, &m);
	expect_only_grants_open(t);
	expect_holds(t, "x", 3, INC(3), LK_MODE_EX, g3, false);
	expect_not_held(t, "x", 2);
	assert_int_equal(lk_state_nlocks(t->s), 3);
	assert_int_equal(lk_state_counter(t->s), 3);
}

/* A table entry of a later epoch (handed out in a lineage we never saw, which wrote that
 * epoch to the superblock first) is taken over: no generation of it is reissued. */
static void test_lk_core_settle_takes_over_later_epoch(void **state)
{
	struct tc *t = *state;
	struct lk_disk_lock table[1] = { disk("x", LK_MODE_EX, LK_DISK_HELD, EPOCH + 1, 4, 0) };
	struct lk_msg m;

	grant(t, 1, "p", LK_MODE_EX);
	member_drop(t, 2);
	confchg(t, true);
	m = msg_table(t, LK_MSG_SETTLED, 2, INC(2), table, 1);
	apply(t, &m);
	assert_int_equal(lk_state_epoch(t->s), EPOCH + 1);
	assert_int_equal(lk_state_counter(t->s), 4);
	expect_holds(t, "x", 2, INC(2), LK_MODE_EX, table[0].gen, true);
	assert_gen(grant(t, 3, "y", LK_MODE_EX), EPOCH + 1, 5);
}

/* A stale disk entry revokes nobody, even an older holder met before the newer one. */
static void test_lk_core_settle_stale_entry_revokes_nobody(void **state)
{
	struct tc *t = *state;
	struct lk_disk_lock table[1] = { disk("x", LK_MODE_EX, LK_DISK_HELD, EPOCH, 3, 0) };
	struct lk_gen g3, g1;
	struct lk_msg m;

	g3 = grant(t, 3, "x", LK_MODE_SH); /* (2,1): older than the entry */
	grant(t, 1, "p", LK_MODE_EX);
	grant(t, 1, "q", LK_MODE_EX);
	grant(t, 1, "r", LK_MODE_EX);
	g1 = grant(t, 1, "x", LK_MODE_SH); /* (2,5): newer than the entry */
	member_drop(t, 2);
	confchg(t, true);
	m = msg_table(t, LK_MSG_SETTLED, 2, INC(2), table, 1);
	apply(t, &m);
	expect_only_grants_open(t);
	expect_holds(t, "x", 3, INC(3), LK_MODE_SH, g3, false);
	expect_holds(t, "x", 1, INC(1), LK_MODE_SH, g1, false);
	expect_not_held(t, "x", 2);
}

static void test_lk_core_settle_compatible_entry_shares(void **state)
{
	struct tc *t = *state;
	struct lk_gen g3 = grant(t, 3, "base", LK_MODE_SH);
	struct lk_disk_lock table[2] = {
		disk("base", LK_MODE_SH, LK_DISK_HELD, EPOCH, 7, 0),
		disk("new", LK_MODE_MW, LK_DISK_HELD, EPOCH, 8, 0),
	};
	struct lk_msg m;

	member_drop(t, 2);
	confchg(t, true);
	m = msg_table(t, LK_MSG_SETTLED, 2, INC(2), table, 2);
	apply(t, &m);
	expect_only_grants_open(t);
	expect_holds(t, "base", 3, INC(3), LK_MODE_SH, g3, false);
	expect_holds(t, "base", 2, INC(2), LK_MODE_SH, table[0].gen, true);
	expect_holds(t, "new", 2, INC(2), LK_MODE_MW, table[1].gen, true);
	assert_int_equal(lk_state_counter(t->s), 8);
	grant(t, 1, "new", LK_MODE_MW); /* shares the orphaned MW */
}

static void test_lk_core_settle_skips_handoff_in_and_bad_entries(void **state)
{
	struct tc *t = *state;
	struct lk_disk_lock table[3] = {
		disk("incoming", LK_MODE_EX, LK_DISK_HANDOFF_IN, EPOCH, 0, 77),
		disk("/abs", LK_MODE_EX, LK_DISK_HELD, EPOCH, 0, 0),
		disk("dir/", LK_MODE_EX, LK_DISK_HELD, EPOCH, 0, 0),
	};
	struct lk_msg m;

	member_drop(t, 2);
	confchg(t, true);
	m = msg_table(t, LK_MSG_SETTLED, 2, INC(2), table, 3);
	apply(t, &m);
	expect_only_grants_open(t);
	assert_int_equal(lk_state_nlocks(t->s), 0);
	grant(t, 1, "incoming", LK_MODE_EX);
}

/*
 * The departed host released its SH on x and took it EX in deliveries this replica never
 * saw (rule 2). Its table, EX at a newer generation, must win over the replica's SH of
 * the same incarnation; otherwise SH is granted next to a writer that still runs.
 */
static void test_lk_core_settle_newer_mode_of_same_incarnation_wins(void **state)
{
	struct tc *t = *state;
	struct lk_gen g = grant(t, 2, "x", LK_MODE_SH);
	struct lk_disk_lock table[1] = { disk("x", LK_MODE_EX, LK_DISK_HELD, EPOCH, 7, 0) };
	struct lk_msg m;

	assert_gen(g, EPOCH, 1);
	member_drop(t, 2);
	confchg(t, true);
	m = msg_table(t, LK_MSG_SETTLED, 2, INC(2), table, 1);
	apply(t, &m);
	assert_int_equal(lk_state_counter(t->s), 7);
	expect_holds(t, "x", 2, INC(2), LK_MODE_EX, table[0].gen, true);
	m = msg_acquire(t, 3, "x", LK_MODE_SH);
	refuse_busy(t, &m, 2, LK_MODE_EX, table[0].gen, 0);
}

/* --- cold start ----------------------------------------------------------------------- */

/* Host 1's replica of hosts 1, 2, 3, syncing in ring 10 and told to cold-start. */
static void before_coldstart(struct tc *t)
{
	struct lk_msg m;

	t->s = lk_state_new(1, NULL);
	assert_non_null(t->s);
	for (uint32_t i = 0; i < 3; i++)
		member_set(t, hosts3[i], INC(hosts3[i]));
	t->ring = RING0 - 1;
	confchg(t, true);
	for (lk_host_t h = 1; h <= 3; h++) {
		m = msg_sync(t, h, RING0, false, 0, 0);
		apply(t, &m);
	}
	fx_is(fx_at(t, 0), LK_FX_COLDSTART, 1, INC(1), NULL);
}

static const struct lk_disk_lock cs_locks4[] = {
	{ .path = "a", .mode = LK_MODE_EX, .state = LK_DISK_HELD, .gen = { 1, 9 } },
	{ .path = "b", .mode = LK_MODE_SH, .state = LK_DISK_HELD, .gen = { 1, 3 } },
};
static const struct lk_disk_lock cs_locks5[] = {
	{ .path = "c", .mode = LK_MODE_MW, .state = LK_DISK_HELD, .gen = { 1, 4 } },
};
static const struct lk_disk_lock cs_locks_member[] = {
	{ .path = "d", .mode = LK_MODE_EX, .state = LK_DISK_HELD, .gen = { 1, 2 } },
};
static const struct lk_disk_lock cs_locks_old3[] = {
	{ .path = "e", .mode = LK_MODE_EX, .state = LK_DISK_HELD, .gen = { 1, 1 } },
};

/* Every kind of area the coordinator may read. */
static const struct lk_disk_host cs_hosts[] = {
	/* stopped, read whole: orphans, settled */
	{ .host = 4, .inc = 40, .live = false, .complete = true, .ring_seq = 7,
	  .locks = cs_locks4, .nlocks = 2 },
	/* live and quorate by its heartbeat: may still add to its table */
	{ .host = 5, .inc = 50, .live = true, .complete = true, .ring_seq = 8,
	  .ring_quorate = true, .locks = cs_locks5, .nlocks = 1 },
	/* unreadable */
	{ .host = 6, .inc = LK_INC_UNKNOWN, .live = true, .complete = false },
	/* stopped with an empty table: nothing to recover */
	{ .host = 7, .inc = 70, .live = false, .complete = true },
	/* a member's current incarnation: never recovered */
	{ .host = 2, .inc = INC(2), .live = true, .complete = true, .ring_seq = 9,
	  .ring_quorate = true, .locks = cs_locks_member, .nlocks = 1 },
	/* a member's previous incarnation */
	{ .host = 3, .inc = 3, .live = false, .complete = true, .ring_seq = 6,
	  .locks = cs_locks_old3, .nlocks = 1 },
	/* out of range */
	{ .host = 0, .inc = 1, .live = true, .complete = false },
	{ .host = LK_MAX_HOSTS + 1, .inc = 1, .live = true, .complete = false },
};
#define NCS_HOSTS (uint32_t)(sizeof(cs_hosts) / sizeof(cs_hosts[0]))

static void test_lk_core_coldstart_restores_orphans(void **state)
{
	struct tc *t = *state;
	struct lk_departed dd[8];
	struct lk_msg m;

	before_coldstart(t);
	m = msg_coldstart(t, 1, RING0, cs_hosts, NCS_HOSTS);
	m.u.coldstart.epoch = 5;
	apply(t, &m);
	assert_int_equal(t->fx.n, 0); /* hosts 5 and 6 are unsettled: no GRANTS_OPEN */
	assert_true(lk_state_have(t->s));
	assert_false(lk_state_syncing(t->s));
	assert_int_equal(lk_state_epoch(t->s), 5);
	assert_int_equal(lk_state_counter(t->s), 0); /* epoch 1 generations do not count */
	assert_int_equal(lk_state_lineage(t->s), RING0);
	expect_holds(t, "a", 4, 40, LK_MODE_EX, cs_locks4[0].gen, true);
	expect_holds(t, "b", 4, 40, LK_MODE_SH, cs_locks4[1].gen, true);
	expect_holds(t, "c", 5, 50, LK_MODE_MW, cs_locks5[0].gen, true);
	expect_holds(t, "e", 3, 3, LK_MODE_EX, cs_locks_old3[0].gen, true);
	expect_not_held(t, "d", 2);
	assert_int_equal(lk_state_nlocks(t->s), 4);
	assert_int_equal(departed(t, dd, 8), 4);
	expect_departed(&dd[0], 3, 3, 6, false);
	expect_departed(&dd[1], 4, 40, 7, false);
	expect_departed(&dd[2], 5, 50, 8, true);
	expect_departed(&dd[3], 6, LK_INC_UNKNOWN, UINT64_MAX, true);
	assert_true(lk_state_awaits_recovery(t->s, 3));
	assert_false(lk_state_awaits_recovery(t->s, 2));
	assert_false(lk_state_awaits_recovery(t->s, 7));
	assert_false(lk_state_grants_open(t->s));
	m = msg_acquire(t, 1, "f", LK_MODE_EX);
	refuse(t, &m, -EAGAIN);
}

static void test_lk_core_coldstart_settles_then_grants(void **state)
{
	struct tc *t = *state;
	struct lk_msg m;

	before_coldstart(t);
	m = msg_coldstart(t, 1, RING0, cs_hosts, NCS_HOSTS);
	apply(t, &m);
	m = msg_table(t, LK_MSG_SETTLED, 5, 50, cs_locks5, 1);
	apply(t, &m);
	assert_int_equal(t->fx.n, 0); /* host 6 still unsettled */
	m = msg_table(t, LK_MSG_SETTLED, 6, LK_INC_UNKNOWN, NULL, 0);
	apply(t, &m);
	expect_only_grants_open(t);
	m = msg_acquire(t, 1, "a", LK_MODE_EX);
	refuse_busy(t, &m, 4, LK_MODE_EX, cs_locks4[0].gen, 0);
	assert_gen(grant(t, 1, "f", LK_MODE_EX), EPOCH, 1);
	assert_gen(grant(t, 2, "c", LK_MODE_MW), EPOCH, 2);
	assert_gen(grant(t, 2, "d", LK_MODE_EX), EPOCH, 3);
	/* Host 3's member incarnation waits for its previous one's recovery. */
	m = msg_acquire(t, 3, "g", LK_MODE_EX);
	refuse(t, &m, -ESTALE);
	m = msg_table(t, LK_MSG_RECOVERED, 3, 3, cs_locks_old3, 1);
	apply(t, &m);
	assert_non_null(fx_find(t, LK_FX_REVOKE, 3, "e"));
	assert_int_equal(fx_find(t, LK_FX_REVOKE, 3, "e")->inc, 3);
	assert_non_null(fx_find(t, LK_FX_FREED, 0, "e"));
	grant(t, 3, "e", LK_MODE_EX);
}

static void test_lk_core_coldstart_all_settled_opens_grants(void **state)
{
	struct tc *t = *state;
	struct lk_msg m;

	before_coldstart(t);
	m = msg_coldstart(t, 1, RING0, cs_hosts, 1); /* host 4 only: stopped and complete */
	apply(t, &m);
	expect_only_grants_open(t);
	assert_int_equal(lk_state_epoch(t->s), EPOCH);
	m = msg_acquire(t, 2, "b", LK_MODE_SH); /* shares the orphaned SH */
	apply(t, &m);
	assert_int_equal(fx_at(t, 0)->type, LK_FX_PERSIST);
	m = msg_acquire(t, 2, "a", LK_MODE_SH);
	refuse_busy(t, &m, 4, LK_MODE_EX, cs_locks4[0].gen, 0);
}

static void test_lk_core_coldstart_needs_quorum(void **state)
{
	struct tc *t = *state;
	struct lk_msg m;

	before_coldstart(t);
	confchg(t, false); /* same members, quorum lost: the sync restarts in ring 11 */
	for (lk_host_t h = 1; h <= 3; h++) {
		m = msg_sync(t, h, t->ring, false, 0, 0);
		apply(t, &m);
		assert_int_equal(t->fx.n, 0);
	}
	m = msg_coldstart(t, 1, t->ring, cs_hosts, 1);
	ignored(t, &m);
	m = msg_coldstart(t, 1, RING0, cs_hosts, 1);
	ignored(t, &m);
	assert_false(lk_state_have(t->s));
}

/* --- rename --------------------------------------------------------------------------- */

static void test_lk_core_rename_moves_the_lock(void **state)
{
	struct tc *t = *state;
	struct lk_gen g = grant(t, 1, "vm1/a.vmdk", LK_MODE_EX);
	struct lk_msg m = msg_rename(t, 1, "vm1/a.vmdk", "vm2/a.vmdk");
	const struct lk_fx *f;

	m.wall_ms = WALL + 5;
	apply(t, &m);
	assert_int_equal(t->fx.n, 2);
	f = fx_at(t, 0);
	fx_is(f, LK_FX_PERSIST, 1, INC(1), "vm2/a.vmdk");
	assert_int_equal(f->req, m.req);
	assert_non_null(f->old_path);
	assert_string_equal(f->old_path, "vm1/a.vmdk");
	assert_int_equal(f->mode, LK_MODE_EX);
	assert_int_equal(f->disk_state, LK_DISK_HELD);
	assert_true(lk_gen_cmp(f->gen, g) > 0);
	assert_gen(f->gen, EPOCH, 2);
	assert_int_equal(f->handoff_id, 0);
	fx_is(fx_at(t, 1), LK_FX_FREED, 0, 0, "vm1/a.vmdk");
	expect_not_held(t, "vm1/a.vmdk", 1);
	expect_holds(t, "vm2/a.vmdk", 1, INC(1), LK_MODE_EX, (struct lk_gen){ EPOCH, 2 }, false);
	assert_int_equal(lk_state_nlocks(t->s), 1);
	grant(t, 2, "vm1/a.vmdk", LK_MODE_EX);
}

static void test_lk_core_rename_needs_ex_of_sender(void **state)
{
	struct tc *t = *state;
	struct lk_msg m = msg_rename(t, 1, "a", "z");

	refuse(t, &m, -ENOENT);
	grant(t, 1, "sh", LK_MODE_SH);
	m = msg_rename(t, 1, "sh", "z");
	refuse(t, &m, -ENOENT);
	grant(t, 1, "mw", LK_MODE_MW);
	m = msg_rename(t, 1, "mw", "z");
	refuse(t, &m, -ENOENT);
	grant(t, 2, "ex", LK_MODE_EX);
	m = msg_rename(t, 1, "ex", "z");
	refuse(t, &m, -ENOENT);
}

static void test_lk_core_rename_target_locked_eexist(void **state)
{
	struct tc *t = *state;
	struct lk_msg m;

	grant(t, 1, "a", LK_MODE_EX);
	grant(t, 2, "b", LK_MODE_SH);
	grant(t, 1, "c", LK_MODE_EX);
	grant(t, 3, "dir/x", LK_MODE_EX);
	m = msg_rename(t, 1, "a", "b");
	refuse(t, &m, -EEXIST);
	m = msg_rename(t, 1, "a", "c"); /* held by the sender itself */
	refuse(t, &m, -EEXIST);
	m = msg_rename(t, 1, "a", "dir"); /* a directory with locked files */
	refuse(t, &m, -EEXIST);
}

/* Names form a tree: no lock on a name while one above or below it is held (EBUSY naming
 * that lock and its holder), so a directory held for a rename keeps its files unlocked. */
static void test_lk_core_tree_no_lock_above_or_below_a_held_name(void **state)
{
	struct tc *t = *state;
	const struct lk_fx *f;
	struct lk_msg m;

	grant(t, 2, "vm1/disk.img", LK_MODE_SH);
	m = msg_acquire(t, 1, "vm1", LK_MODE_EX); /* a directory over a held file */
	f = refuse(t, &m, -EBUSY);
	assert_int_equal(f->holder, 2);
	assert_string_equal(f->path, "vm1/disk.img");
	grant(t, 1, "vm2", LK_MODE_EX);             /* a directory held for a rename */
	m = msg_acquire(t, 3, "vm2/sub/disk.img", LK_MODE_SH);
	f = refuse(t, &m, -EBUSY);
	assert_int_equal(f->holder, 1);
	assert_string_equal(f->path, "vm2");
	m = msg_acquire(t, 1, "vm2/x", LK_MODE_EX); /* its own holder too */
	refuse(t, &m, -EBUSY);
	grant(t, 3, "vm2-old/x", LK_MODE_EX);       /* siblings that share a prefix are apart */
	grant(t, 3, "vm", LK_MODE_EX);
	grant(t, 1, "a", LK_MODE_EX);               /* nor onto a name under a held one */
	m = msg_rename(t, 1, "a", "vm2/a");
	refuse(t, &m, -EBUSY);
}

static void test_lk_core_rename_prefix_siblings_are_not_children(void **state)
{
	struct tc *t = *state;
	struct lk_msg m;

	grant(t, 1, "vm1", LK_MODE_EX);
	grant(t, 2, "vm1-old", LK_MODE_EX); /* '-' and '.' sort before '/' */
	grant(t, 2, "vm1.bak", LK_MODE_EX);
	grant(t, 2, "vm10/disk.img", LK_MODE_EX); /* '0' sorts after '/' */
	m = msg_rename(t, 1, "vm1", "vm");
	apply(t, &m);
	assert_int_equal(t->fx.n, 2);
	fx_is(fx_at(t, 0), LK_FX_PERSIST, 1, INC(1), "vm");
	fx_is(fx_at(t, 1), LK_FX_FREED, 0, 0, "vm1");
}

static void test_lk_core_rename_invalid_einval(void **state)
{
	struct tc *t = *state;
	char toolong[LK_PATH_MAX + 2];
	struct lk_msg m;

	memset(toolong, 'b', sizeof(toolong) - 1);
	toolong[sizeof(toolong) - 1] = '\0';
	grant(t, 1, "a", LK_MODE_EX);
	m = msg_rename(t, 1, "a", "a");
	refuse(t, &m, -EINVAL);
	m = msg_rename(t, 1, "a", "");
	refuse(t, &m, -EINVAL);
	m = msg_rename(t, 1, "a", "/b");
	refuse(t, &m, -EINVAL);
	m = msg_rename(t, 1, "a", "b/");
	refuse(t, &m, -EINVAL);
	m = msg_rename(t, 1, "a", toolong);
	refuse(t, &m, -EINVAL);
	m = msg_rename(t, 1, NULL, "b");
	refuse(t, &m, -EINVAL);
}

/* --- handoff -------------------------------------------------------------------------- */

static void test_lk_core_ho_prepare_persists_both_ends(void **state)
{
	struct tc *t = *state;
	struct lk_gen g[2];
	uint64_t id = prepared(t, 1, 2, g);
	const struct ho_rec *r;

	assert_int_equal(id, ((uint64_t)EPOCH << 32) | 1);
	for (int i = 0; i < 2; i++) {
		const struct lk_fx *out = fx_at(t, 2 * (size_t)i);
		const struct lk_fx *in = fx_at(t, 2 * (size_t)i + 1);
		enum lk_mode mode = i ? LK_MODE_MW : LK_MODE_EX;

		fx_is(out, LK_FX_PERSIST, 1, INC(1), ho_files[i]);
		assert_int_equal(out->disk_state, LK_DISK_HANDOFF_OUT);
		assert_int_equal(out->req, 0);
		assert_int_equal(out->mode, mode);
		assert_gen_eq(out->gen, g[i]);
		assert_int_equal(out->handoff_id, id);
		fx_is(in, LK_FX_PERSIST, 2, INC(2), ho_files[i]);
		assert_int_equal(in->disk_state, LK_DISK_HANDOFF_IN);
		assert_int_equal(in->req, 0);
		assert_int_equal(in->mode, mode);
		assert_gen_eq(in->gen, g[i]);
		assert_int_equal(in->handoff_id, id);
		expect_holds(t, ho_files[i], 1, INC(1), mode, g[i], false);
		expect_not_held(t, ho_files[i], 2);
	}
	assert_int_equal(lk_state_nhandoffs(t->s), 1);
	r = lk_state_handoff_by_id(t->s, id);
	assert_non_null(r);
	assert_ptr_equal(r, lk_state_handoff(t->s, 0));
	assert_null(lk_state_handoff(t->s, 1));
	assert_null(lk_state_handoff_by_id(t->s, id + 1));
	assert_int_equal(r->state, HO_PENDING);
	assert_int_equal(r->src, 1);
	assert_int_equal(r->src_inc, INC(1));
	assert_int_equal(r->dst, 2);
	assert_int_equal(r->dst_inc, INC(2));
	assert_int_equal(r->nfiles, 2);
	assert_string_equal(r->files[0], ho_files[0]);
	assert_string_equal(r->files[1], ho_files[1]);
	assert_int_equal(lk_state_counter(t->s), 2); /* prepare hands out no generation */
	/* Ids never repeat. */
	grant(t, 1, "other", LK_MODE_EX);
	{
		static const char *const other[] = { "other" };
		struct lk_msg m = msg_prepare(t, 1, 3, other, 1);

		apply(t, &m);
		assert_int_equal(fx_at(t, 2)->handoff_id, ((uint64_t)EPOCH << 32) | 2);
	}
}

static void test_lk_core_ho_prepare_malformed_einval(void **state)
{
	static const char *const dup[] = { "a", "b", "a" };
	static const char *const bad[] = { "a", "/b" };
	static const char *const sh[] = { "a", "base" };
	static const char *const a[] = { "a" };
	struct tc *t = *state;
	struct lk_msg m;

	grant(t, 1, "a", LK_MODE_EX);
	grant(t, 1, "b", LK_MODE_EX);
	grant(t, 1, "base", LK_MODE_SH);
	m = msg_prepare(t, 1, 1, a, 1); /* to == from */
	refuse(t, &m, -EINVAL);
	m = msg_prepare(t, 1, 0, a, 1);
	refuse(t, &m, -EINVAL);
	m = msg_prepare(t, 1, LK_MAX_HOSTS + 1, a, 1);
	refuse(t, &m, -EINVAL);
	m = msg_prepare(t, 1, 2, a, 0);
	refuse(t, &m, -EINVAL);
	m = msg_prepare(t, 1, 2, NULL, 1);
	refuse(t, &m, -EINVAL);
	m = msg_prepare(t, 1, 2, dup, 3);
	refuse(t, &m, -EINVAL);
	m = msg_prepare(t, 1, 2, bad, 2);
	refuse(t, &m, -EINVAL);
	m = msg_prepare(t, 1, 2, sh, 2); /* readers: nothing to move */
	refuse(t, &m, -EINVAL);
	assert_int_equal(lk_state_nhandoffs(t->s), 0);
}

static void test_lk_core_ho_prepare_refusals(void **state)
{
	static const char *const a[] = { "a" };
	static const char *const ab[] = { "a", "b" };
	static const char *const mine_theirs[] = { "a", "theirs" };
	static const char *const mw[] = { "mw" };
	struct tc *t = *state;
	struct lk_msg m;

	grant(t, 1, "a", LK_MODE_EX);
	grant(t, 3, "theirs", LK_MODE_EX);
	m = msg_prepare(t, 1, 2, ab, 2); /* b is not held */
	refuse(t, &m, -ENOENT);
	m = msg_prepare(t, 1, 2, mine_theirs, 2); /* held by someone else */
	refuse(t, &m, -ENOENT);
	m = msg_prepare(t, 1, 4, a, 1); /* not a member */
	refuse(t, &m, -ESTALE);
	grant(t, 1, "mw", LK_MODE_MW);
	grant(t, 2, "mw", LK_MODE_MW);
	m = msg_prepare(t, 1, 2, mw, 1); /* the destination holds it already */
	refuse(t, &m, -EEXIST);
	m = msg_prepare(t, 1, 2, a, 1);
	apply(t, &m);
	assert_int_equal(t->fx.n, 3);
	expect_reply(t, 2, &m, 0);
	m = msg_prepare(t, 1, 3, a, 1); /* already part of a handoff */
	refuse(t, &m, -EEXIST);
	m = msg_prepare(t, 2, 3, mw, 1); /* from an incarnation that is no member */
	m.from_inc = INC(2) + 1;
	refuse(t, &m, -ESTALE);
}

static void test_lk_core_ho_prepare_to_host_awaiting_recovery_estale(void **state)
{
	static const char *const a[] = { "a" };
	struct tc *t = *state;
	struct lk_msg m;

	grant(t, 1, "a", LK_MODE_EX);
	restart(t, 2, 22);
	m = msg_table(t, LK_MSG_SETTLED, 2, INC(2), NULL, 0);
	apply(t, &m);
	expect_only_grants_open(t);
	m = msg_prepare(t, 1, 2, a, 1);
	refuse(t, &m, -ESTALE);
}

static void test_lk_core_ho_pending_refuses_others_and_release(void **state)
{
	struct tc *t = *state;
	struct lk_gen g[2];
	uint64_t id = prepared(t, 1, 2, g);
	struct lk_msg m;

	m = msg_acquire(t, 3, ho_files[0], LK_MODE_EX);
	refuse_busy(t, &m, 1, LK_MODE_EX, g[0], id);
	m = msg_acquire(t, 2, ho_files[0], LK_MODE_EX); /* the destination too */
	refuse_busy(t, &m, 1, LK_MODE_EX, g[0], id);
	m = msg_acquire(t, 3, ho_files[1], LK_MODE_MW); /* even a compatible mode */
	refuse_busy(t, &m, 1, LK_MODE_MW, g[1], id);
	m = msg_release(t, 1, ho_files[0]);
	refuse_busy(t, &m, 1, LK_MODE_EX, g[0], id);
	m = msg_rename(t, 1, ho_files[0], "vm1/renamed.img");
	refuse_busy(t, &m, 1, LK_MODE_EX, g[0], id);
	assert_int_equal(lk_state_handoff_by_id(t->s, id)->state, HO_PENDING);
}

static void commit_ok(struct tc *t, lk_host_t src, lk_host_t dst, uint64_t id,
		      const struct lk_gen old[2], struct lk_gen moved[2], uint64_t *req)
{
	struct lk_msg m = msg_ho(t, LK_MSG_HO_COMMIT, src, id);
	const struct ho_rec *r;

	m.wall_ms = WALL + 10;
	apply(t, &m);
	assert_int_equal(t->fx.n, 6);
	assert_int_equal(fx_count(t, LK_FX_REPLY), 0); /* answered once durable */
	for (int i = 0; i < 2; i++) {
		const struct lk_fx *p = fx_at(t, 3 * (size_t)i);
		enum lk_mode mode = i ? LK_MODE_MW : LK_MODE_EX;

		fx_is(p, LK_FX_PERSIST, dst, member_inc(t, dst), ho_files[i]);
		assert_int_equal(p->disk_state, LK_DISK_HELD);
		assert_int_equal(p->req, 0);
		assert_int_equal(p->mode, mode);
		assert_int_equal(p->handoff_id, id);
		assert_true(lk_gen_cmp(p->gen, old[0]) > 0 && lk_gen_cmp(p->gen, old[1]) > 0);
		moved[i] = p->gen;
		fx_is(fx_at(t, 3 * (size_t)i + 1), LK_FX_REVOKE, src, member_inc(t, src),
		      ho_files[i]);
		fx_is(fx_at(t, 3 * (size_t)i + 2), LK_FX_UNPERSIST, src, member_inc(t, src),
		      ho_files[i]);
		expect_holds(t, ho_files[i], dst, member_inc(t, dst), mode, moved[i], false);
		expect_not_held(t, ho_files[i], src);
	}
	assert_true(lk_gen_cmp(moved[1], moved[0]) > 0);
	r = lk_state_handoff_by_id(t->s, id);
	assert_int_equal(r->state, HO_COMMITTED);
	assert_int_equal(r->commit_req, m.req);
	*req = m.req;
}

static void test_lk_core_ho_commit_moves_every_file(void **state)
{
	struct tc *t = *state;
	struct lk_gen g[2], moved[2];
	uint64_t id = prepared(t, 1, 2, g), req;
	struct lk_msg m;

	commit_ok(t, 1, 2, id, g, moved, &req);
	assert_string_equal(ho_status_word(lk_state_handoff_by_id(t->s, id)->state), "committed");
	/* The files are the destination's, with no handoff mark left. */
	m = msg_acquire(t, 3, ho_files[0], LK_MODE_EX);
	refuse_busy(t, &m, 2, LK_MODE_EX, moved[0], 0);
	grant(t, 3, ho_files[1], LK_MODE_MW);
	release_ok(t, 2, ho_files[0], true);
}

static void test_lk_core_ho_commit_only_by_source_eperm(void **state)
{
	struct tc *t = *state;
	struct lk_gen g[2];
	uint64_t id = prepared(t, 1, 2, g);
	struct lk_msg m;

	m = msg_ho(t, LK_MSG_HO_COMMIT, 2, id);
	refuse(t, &m, -EPERM);
	m = msg_ho(t, LK_MSG_HO_COMMIT, 3, id);
	refuse(t, &m, -EPERM);
	assert_int_equal(lk_state_handoff_by_id(t->s, id)->state, HO_PENDING);
}

static void test_lk_core_ho_durable_answers_commit(void **state)
{
	struct tc *t = *state;
	struct lk_gen g[2], moved[2];
	uint64_t id = prepared(t, 1, 2, g), req;
	struct lk_msg m;
	const struct lk_fx *f;

	m = msg_ho(t, LK_MSG_HO_DURABLE, 2, id); /* not committed yet */
	ignored(t, &m);
	commit_ok(t, 1, 2, id, g, moved, &req);
	m = msg_ho(t, LK_MSG_HO_DURABLE, 3, id); /* not the destination ... */
	ignored(t, &m);
	m.from_inc = INC(2); /* ... even with the destination's incarnation number */
	ignored(t, &m);
	m = msg_ho(t, LK_MSG_HO_DURABLE, 2, id); /* not its incarnation */
	m.from_inc = INC(2) + 1;
	ignored(t, &m);
	m = msg_ho(t, LK_MSG_HO_DURABLE, 2, id + 1); /* no such handoff */
	ignored(t, &m);
	m = msg_ho(t, LK_MSG_HO_DURABLE, 2, id);
	apply(t, &m);
	assert_int_equal(t->fx.n, 1);
	f = fx_at(t, 0);
	fx_is(f, LK_FX_REPLY, 1, INC(1), NULL);
	assert_int_equal(f->req, req);
	expect_rc(f->rc, 0);
	assert_int_equal(f->handoff_id, id);
	assert_int_equal(lk_state_handoff_by_id(t->s, id)->state, HO_DURABLE);
	assert_string_equal(ho_status_word(HO_DURABLE), "committed");
	/* Durable once: a repeat is ignored. */
	m = msg_ho(t, LK_MSG_HO_DURABLE, 2, id);
	ignored(t, &m);
}

/* The destination is recovered before it confirmed: the handoff ends (committed), and
 * the source's commit is answered -EHOSTDOWN instead of waiting forever. */
static void test_lk_core_ho_committed_dst_recovered_answers_commit(void **state)
{
	struct tc *t = *state;
	struct lk_gen g[2], moved[2];
	uint64_t id = prepared(t, 1, 2, g), req;
	struct lk_disk_lock table[2];
	struct lk_msg m;
	const struct lk_fx *f = NULL;

	commit_ok(t, 1, 2, id, g, moved, &req);
	table[0] = disk(ho_files[0], LK_MODE_EX, LK_DISK_HELD, EPOCH, moved[0].counter, id);
	table[1] = disk(ho_files[1], LK_MODE_MW, LK_DISK_HELD, EPOCH, moved[1].counter, id);
	member_drop(t, 2);
	confchg(t, true);
	assert_int_equal(lk_state_handoff_by_id(t->s, id)->state, HO_COMMITTED);
	m = msg_table(t, LK_MSG_RECOVERED, 2, INC(2), table, 2);
	apply(t, &m);
	for (size_t i = 0; i < t->fx.n; i++)
		if (fx_at(t, i)->type == LK_FX_REPLY)
			f = fx_at(t, i);
	assert_non_null(f);
	fx_is(f, LK_FX_REPLY, 1, INC(1), NULL);
	assert_int_equal(f->req, req);
	expect_rc(f->rc, -EHOSTDOWN);
	assert_int_equal(lk_state_handoff_by_id(t->s, id)->state, HO_DURABLE);
	expect_not_held(t, ho_files[0], 2);
	expect_not_held(t, ho_files[0], 1);
}

static void test_lk_core_ho_commit_idempotent(void **state)
{
	struct tc *t = *state;
	struct lk_gen g[2], moved[2];
	uint64_t id = prepared(t, 1, 2, g), req;
	struct lk_msg m;

	commit_ok(t, 1, 2, id, g, moved, &req);
	/* Again before durable: no answer yet, the durable answers the latest request. */
	m = msg_ho(t, LK_MSG_HO_COMMIT, 1, id);
	apply(t, &m);
	assert_int_equal(t->fx.n, 0);
	assert_int_equal(lk_state_handoff_by_id(t->s, id)->commit_req, m.req);
	req = m.req;
	m = msg_ho(t, LK_MSG_HO_DURABLE, 2, id);
	apply(t, &m);
	assert_int_equal(t->fx.n, 1);
	assert_int_equal(fx_at(t, 0)->req, req);
	/* After durable: answered at once, nothing moves again. */
	m = msg_ho(t, LK_MSG_HO_COMMIT, 1, id);
	refuse(t, &m, 0);
	expect_holds(t, ho_files[0], 2, INC(2), LK_MODE_EX, moved[0], false);
}

static void test_lk_core_ho_abort_pending(void **state)
{
	struct tc *t = *state;
	struct lk_gen g[2];
	uint64_t id = prepared(t, 1, 2, g);
	struct lk_msg m = msg_ho(t, LK_MSG_HO_ABORT, 1, id);

	apply(t, &m);
	assert_int_equal(t->fx.n, 5);
	for (int i = 0; i < 2; i++) {
		const struct lk_fx *p = fx_at(t, 2 * (size_t)i);

		fx_is(p, LK_FX_PERSIST, 1, INC(1), ho_files[i]);
		assert_int_equal(p->disk_state, LK_DISK_HELD);
		assert_int_equal(p->req, 0);
		assert_int_equal(p->handoff_id, 0);
		assert_gen_eq(p->gen, g[i]); /* nothing moved: the same generation */
		fx_is(fx_at(t, 2 * (size_t)i + 1), LK_FX_UNPERSIST, 2, INC(2), ho_files[i]);
		expect_holds(t, ho_files[i], 1, INC(1), i ? LK_MODE_MW : LK_MODE_EX, g[i], false);
	}
	expect_reply(t, 4, &m, 0);
	assert_int_equal(lk_state_handoff_by_id(t->s, id)->state, HO_ABORTED);
	assert_string_equal(ho_status_word(HO_ABORTED), "aborted");
	/* The files are free of the handoff: shared, released. */
	grant(t, 3, ho_files[1], LK_MODE_MW);
	release_ok(t, 1, ho_files[0], true);
}

static void test_lk_core_ho_abort_by_destination(void **state)
{
	struct tc *t = *state;
	struct lk_gen g[2];
	uint64_t id = prepared(t, 1, 2, g);
	struct lk_msg m = msg_ho(t, LK_MSG_HO_ABORT, 2, id);

	apply(t, &m);
	expect_reply(t, t->fx.n - 1, &m, 0);
	assert_int_equal(lk_state_handoff_by_id(t->s, id)->state, HO_ABORTED);
	m = msg_ho(t, LK_MSG_HO_ABORT, 3, id); /* a third host may not */
	refuse(t, &m, -EPERM);
}

static void test_lk_core_ho_abort_twice_answers_zero(void **state)
{
	struct tc *t = *state;
	struct lk_gen g[2];
	uint64_t id = prepared(t, 1, 2, g);
	struct lk_msg m = msg_ho(t, LK_MSG_HO_ABORT, 1, id);

	apply(t, &m);
	m = msg_ho(t, LK_MSG_HO_ABORT, 1, id);
	refuse(t, &m, 0);
}

static void test_lk_core_ho_commit_after_abort_ecanceled(void **state)
{
	struct tc *t = *state;
	struct lk_gen g[2];
	uint64_t id = prepared(t, 1, 2, g);
	struct lk_msg m = msg_ho(t, LK_MSG_HO_ABORT, 1, id);

	apply(t, &m);
	m = msg_ho(t, LK_MSG_HO_COMMIT, 1, id);
	refuse(t, &m, -ECANCELED);
	expect_holds(t, ho_files[0], 1, INC(1), LK_MODE_EX, g[0], false);
}

static void test_lk_core_ho_abort_after_commit_ealready(void **state)
{
	struct tc *t = *state;
	struct lk_gen g[2], moved[2];
	uint64_t id = prepared(t, 1, 2, g), req;
	struct lk_msg m;

	commit_ok(t, 1, 2, id, g, moved, &req);
	m = msg_ho(t, LK_MSG_HO_ABORT, 1, id);
	refuse(t, &m, -EALREADY);
	m = msg_ho(t, LK_MSG_HO_ABORT, 2, id);
	refuse(t, &m, -EALREADY);
	m = msg_ho(t, LK_MSG_HO_DURABLE, 2, id);
	apply(t, &m);
	m = msg_ho(t, LK_MSG_HO_ABORT, 1, id);
	refuse(t, &m, -EALREADY);
}

static void test_lk_core_ho_unknown_id_enoent(void **state)
{
	struct tc *t = *state;
	struct lk_gen g[2];
	uint64_t id = prepared(t, 1, 2, g);
	struct lk_msg m;

	m = msg_ho(t, LK_MSG_HO_COMMIT, 1, id + 1);
	refuse(t, &m, -ENOENT);
	m = msg_ho(t, LK_MSG_HO_ABORT, 1, id + 1);
	refuse(t, &m, -ENOENT);
	m = msg_ho(t, LK_MSG_HO_COMMIT, 1, 0);
	refuse(t, &m, -ENOENT);
}

static void test_lk_core_ho_commit_waits_for_settle(void **state)
{
	struct tc *t = *state;
	struct lk_gen g[2];
	uint64_t id = prepared(t, 1, 2, g);
	struct lk_msg m;

	member_drop(t, 3);
	confchg(t, true);
	m = msg_ho(t, LK_MSG_HO_COMMIT, 1, id);
	refuse(t, &m, -EAGAIN);
	assert_int_equal(lk_state_handoff_by_id(t->s, id)->state, HO_PENDING);
	m = msg_table(t, LK_MSG_SETTLED, 3, INC(3), NULL, 0);
	apply(t, &m);
	expect_only_grants_open(t);
	m = msg_ho(t, LK_MSG_HO_COMMIT, 1, id);
	apply(t, &m);
	assert_int_equal(lk_state_handoff_by_id(t->s, id)->state, HO_COMMITTED);
}

/* Final records are kept for status queries, the oldest forgotten past a bound; a live
 * (pending) record is never forgotten. */
static void test_lk_core_ho_old_final_records_forgotten(void **state)
{
	static const char *const pend[] = { "pending" };
	struct tc *t = *state;
	uint64_t first, last = 0, pending;
	struct lk_msg m;
	size_t n;

	grant(t, 1, "pending", LK_MODE_EX);
	m = msg_prepare(t, 1, 3, pend, 1);
	apply(t, &m);
	pending = fx_at(t, 2)->handoff_id;
	grant(t, 1, "f", LK_MODE_EX);
	first = prepare_and_abort(t, "f");
	for (int i = 0; i < 1000; i++)
		last = prepare_and_abort(t, "f");
	n = lk_state_nhandoffs(t->s);
	assert_true(n > 1 && n < 1000);
	assert_null(lk_state_handoff_by_id(t->s, first));
	assert_non_null(lk_state_handoff_by_id(t->s, last));
	assert_int_equal(lk_state_handoff_by_id(t->s, last)->state, HO_ABORTED);
	assert_non_null(lk_state_handoff_by_id(t->s, pending));
	assert_int_equal(lk_state_handoff_by_id(t->s, pending)->state, HO_PENDING);
	/* Forgetting does not move ids back: the next one is still new. */
	assert_true(prepare_and_abort(t, "f") > last);
	assert_int_equal(lk_state_nhandoffs(t->s), n);
}

static void test_lk_core_ho_source_leaving_aborts(void **state)
{
	struct tc *t = *state;
	struct lk_gen g[2];
	uint64_t id = prepared(t, 2, 3, g);
	struct lk_disk_lock out[2] = {
		disk(ho_files[0], LK_MODE_EX, LK_DISK_HANDOFF_OUT, g[0].epoch, g[0].counter, id),
		disk(ho_files[1], LK_MODE_MW, LK_DISK_HANDOFF_OUT, g[1].epoch, g[1].counter, id),
	};
	struct lk_msg m;

	member_drop(t, 2);
	confchg(t, true);
	assert_int_equal(t->fx.n, 2);
	fx_is(fx_at(t, 0), LK_FX_UNPERSIST, 3, INC(3), ho_files[0]);
	fx_is(fx_at(t, 1), LK_FX_UNPERSIST, 3, INC(3), ho_files[1]);
	assert_int_equal(lk_state_handoff_by_id(t->s, id)->state, HO_ABORTED);
	assert_string_equal(ho_status_word(lk_state_handoff_by_id(t->s, id)->state), "aborted");
	assert_int_equal(mark_of(t, ho_files[0]), 0);
	assert_int_equal(mark_of(t, ho_files[1]), 0);
	/* Its locks stay, orphaned, until recovery. */
	expect_holds(t, ho_files[0], 2, INC(2), LK_MODE_EX, g[0], true);
	expect_holds(t, ho_files[1], 2, INC(2), LK_MODE_MW, g[1], true);
	m = msg_table(t, LK_MSG_SETTLED, 2, INC(2), out, 2);
	apply(t, &m);
	expect_only_grants_open(t);
	expect_holds(t, ho_files[0], 2, INC(2), LK_MODE_EX, g[0], true);
	m = msg_acquire(t, 3, ho_files[0], LK_MODE_EX);
	refuse_busy(t, &m, 2, LK_MODE_EX, g[0], 0);
	grant(t, 3, ho_files[1], LK_MODE_MW);
}

static void test_lk_core_ho_destination_leaving_in_doubt(void **state)
{
	struct tc *t = *state;
	struct lk_gen g[2];
	uint64_t id = prepared(t, 2, 3, g);
	struct lk_msg m;

	member_drop(t, 3);
	confchg(t, true);
	assert_int_equal(t->fx.n, 0);
	assert_int_equal(lk_state_handoff_by_id(t->s, id)->state, HO_IN_DOUBT);
	assert_string_equal(ho_status_word(lk_state_handoff_by_id(t->s, id)->state), "pending");
	assert_int_equal(mark_of(t, ho_files[0]), id);
	m = msg_ho(t, LK_MSG_HO_COMMIT, 2, id);
	refuse(t, &m, -EAGAIN);
	m = msg_ho(t, LK_MSG_HO_ABORT, 2, id);
	refuse(t, &m, -EAGAIN);
	expect_holds(t, ho_files[0], 2, INC(2), LK_MODE_EX, g[0], false);
}

static void test_lk_core_ho_in_doubt_settles_committed(void **state)
{
	struct tc *t = *state;
	struct lk_gen g[2];
	uint64_t id = prepared(t, 2, 3, g);
	/* The destination delivered the commit we never saw, at generations (2,10), (2,11). */
	struct lk_disk_lock table[2] = {
		disk(ho_files[0], LK_MODE_EX, LK_DISK_HELD, EPOCH, 10, id),
		disk(ho_files[1], LK_MODE_MW, LK_DISK_HELD, EPOCH, 11, id),
	};
	struct lk_msg m;

	member_drop(t, 3);
	confchg(t, true);
	m = msg_table(t, LK_MSG_SETTLED, 3, INC(3), table, 2);
	apply(t, &m);
	assert_int_equal(t->fx.n, 5);
	for (int i = 0; i < 2; i++) {
		fx_is(fx_at(t, 2 * (size_t)i), LK_FX_REVOKE, 2, INC(2), ho_files[i]);
		fx_is(fx_at(t, 2 * (size_t)i + 1), LK_FX_UNPERSIST, 2, INC(2), ho_files[i]);
		expect_not_held(t, ho_files[i], 2);
		expect_holds(t, ho_files[i], 3, INC(3), table[i].mode, table[i].gen, true);
		assert_int_equal(mark_of(t, ho_files[i]), 0);
	}
	fx_is(fx_at(t, 4), LK_FX_GRANTS_OPEN, 0, 0, NULL);
	assert_int_equal(lk_state_handoff_by_id(t->s, id)->state, HO_DURABLE);
	assert_true(lk_state_counter(t->s) >= 11); /* past the table's generations */
	m = msg_acquire(t, 1, ho_files[0], LK_MODE_EX);
	refuse_busy(t, &m, 3, LK_MODE_EX, table[0].gen, 0);
	assert_true(grant(t, 1, "next", LK_MODE_EX).counter > 11);
}

/* The commit reached the destination, but only one file's entry is durable there: every
 * file moves, and the one its table does not show is not in use (rule 1), so it is free. */
static void test_lk_core_ho_in_doubt_commit_moves_every_file(void **state)
{
	struct tc *t = *state;
	struct lk_gen g[2];
	uint64_t id = prepared(t, 2, 3, g);
	struct lk_disk_lock table[2] = {
		disk(ho_files[0], LK_MODE_EX, LK_DISK_HELD, EPOCH, 10, id),
		disk(ho_files[1], LK_MODE_MW, LK_DISK_HANDOFF_IN, g[1].epoch, g[1].counter, id),
	};
	struct lk_msg m;

	member_drop(t, 3);
	confchg(t, true);
	m = msg_table(t, LK_MSG_SETTLED, 3, INC(3), table, 2);
	apply(t, &m);
	for (int i = 0; i < 2; i++) {
		const struct lk_fx *r = fx_find(t, LK_FX_REVOKE, 2, ho_files[i]);

		assert_non_null(r);
		assert_int_equal(r->inc, INC(2));
		assert_non_null(fx_find(t, LK_FX_UNPERSIST, 2, ho_files[i]));
		assert_null(fx_find(t, LK_FX_PERSIST, 2, ho_files[i]));
		expect_not_held(t, ho_files[i], 2);
	}
	expect_holds(t, ho_files[0], 3, INC(3), LK_MODE_EX, table[0].gen, true);
	expect_not_held(t, ho_files[1], 3);
	assert_non_null(fx_find(t, LK_FX_FREED, 0, ho_files[1]));
	assert_null(fx_find(t, LK_FX_FREED, 0, ho_files[0]));
	assert_int_equal(lk_state_handoff_by_id(t->s, id)->state, HO_DURABLE);
	assert_int_equal(fx_count(t, LK_FX_GRANTS_OPEN), 1);
	grant(t, 1, ho_files[1], LK_MODE_MW);
}

static void test_lk_core_ho_in_doubt_settles_aborted(void **state)
{
	struct tc *t = *state;
	struct lk_gen g[2];
	uint64_t id = prepared(t, 2, 3, g);
	struct lk_disk_lock table[2] = {
		disk(ho_files[0], LK_MODE_EX, LK_DISK_HANDOFF_IN, g[0].epoch, g[0].counter, id),
		disk(ho_files[1], LK_MODE_MW, LK_DISK_HANDOFF_IN, g[1].epoch, g[1].counter, id),
	};
	struct lk_msg m;

	member_drop(t, 3);
	confchg(t, true);
	m = msg_table(t, LK_MSG_SETTLED, 3, INC(3), table, 2);
	apply(t, &m);
	assert_int_equal(t->fx.n, 5);
	for (int i = 0; i < 2; i++) {
		const struct lk_fx *p = fx_at(t, 2 * (size_t)i);

		fx_is(p, LK_FX_PERSIST, 2, INC(2), ho_files[i]);
		assert_int_equal(p->disk_state, LK_DISK_HELD);
		assert_int_equal(p->handoff_id, 0);
		assert_int_equal(p->req, 0);
		assert_gen_eq(p->gen, g[i]);
		fx_is(fx_at(t, 2 * (size_t)i + 1), LK_FX_UNPERSIST, 3, INC(3), ho_files[i]);
		expect_holds(t, ho_files[i], 2, INC(2), i ? LK_MODE_MW : LK_MODE_EX, g[i], false);
		expect_not_held(t, ho_files[i], 3);
		assert_int_equal(mark_of(t, ho_files[i]), 0);
	}
	fx_is(fx_at(t, 4), LK_FX_GRANTS_OPEN, 0, 0, NULL);
	assert_int_equal(lk_state_handoff_by_id(t->s, id)->state, HO_ABORTED);
	release_ok(t, 2, ho_files[0], true);
}

/*
 * Both ends of a pending handoff leave in one configuration change. They may have
 * delivered the commit together in the old ring, so only the destination's table can
 * tell: the handoff is in doubt, whichever host id is lower.
 */
static void both_leave(struct tc *t, lk_host_t src, lk_host_t dst)
{
	struct lk_gen g[2];
	uint64_t id = prepared(t, src, dst, g);
	struct lk_disk_lock table[2] = {
		disk(ho_files[0], LK_MODE_EX, LK_DISK_HELD, EPOCH, 10, id),
		disk(ho_files[1], LK_MODE_MW, LK_DISK_HELD, EPOCH, 11, id),
	};
	struct lk_msg m;

	member_drop(t, src);
	member_drop(t, dst);
	confchg(t, true);
	assert_int_equal(lk_state_handoff_by_id(t->s, id)->state, HO_IN_DOUBT);
	m = msg_table(t, LK_MSG_SETTLED, src, INC(src), NULL, 0);
	apply(t, &m);
	m = msg_table(t, LK_MSG_SETTLED, dst, INC(dst), table, 2);
	apply(t, &m);
	assert_string_equal(ho_status_word(lk_state_handoff_by_id(t->s, id)->state), "committed");
	expect_holds(t, ho_files[0], dst, INC(dst), LK_MODE_EX, table[0].gen, true);
	expect_not_held(t, ho_files[0], src);
}

static void test_lk_core_ho_both_leave_destination_lower_in_doubt(void **state)
{
	both_leave(*state, 3, 2);
}

static void test_lk_core_ho_both_leave_source_lower_in_doubt(void **state)
{
	both_leave(*state, 2, 3);
}

/* --- invariants and names ------------------------------------------------------------- */

static bool always_grantable(const struct lk_lock_view *holders, size_t n, enum lk_mode mode)
{
	(void)holders;
	(void)n;
	(void)mode;
	return true;
}

static void test_lk_core_check_catches_conflicting_grant(void **state)
{
	struct tc *t = *state;
	struct lk_rules broken = lk_rules_default;
	struct lk_msg m;
	const char *why;

	broken.grantable = always_grantable;
	ready(t, 1, hosts3, 3, &broken);
	grant(t, 1, "a", LK_MODE_EX);
	m = msg_acquire(t, 2, "a", LK_MODE_EX);
	lk_fxbuf_reset(&t->fx);
	expect_rc(lk_apply(t->s, &m, &t->fx), 0);
	assert_int_equal(t->fx.fx[0].type, LK_FX_PERSIST); /* the broken rule granted it */
	why = lk_state_check(t->s);
	assert_non_null(why);
	assert_memory_equal(why, "I3", 2);
}

static bool never_grantable(const struct lk_lock_view *holders, size_t n, enum lk_mode mode)
{
	(void)holders;
	(void)n;
	(void)mode;
	return false;
}

/* A rules table may refuse what the modes allow: -EBUSY still names a holder. */
static void test_lk_core_refusing_rules_name_a_holder(void **state)
{
	struct tc *t = *state;
	struct lk_rules strict = lk_rules_default;
	struct lk_gen g;
	struct lk_msg m;

	strict.grantable = never_grantable;
	ready(t, 1, hosts3, 3, &strict);
	m = msg_acquire(t, 1, "base", LK_MODE_SH);
	apply(t, &m); /* nobody holds it: the rules are asked only about holders */
	assert_int_equal(fx_at(t, 0)->type, LK_FX_PERSIST);
	g = fx_at(t, 0)->gen;
	m = msg_acquire(t, 2, "base", LK_MODE_SH);
	refuse_busy(t, &m, 1, LK_MODE_SH, g, 0);
}

static void test_lk_core_rules_default_table(void **state)
{
	static const enum lk_mode modes[] = { LK_MODE_SH, LK_MODE_MW, LK_MODE_EX };

	(void)state;
	assert_true(lk_rules_default.grantable(NULL, 0, LK_MODE_EX));
	for (size_t i = 0; i < 3; i++)
		for (size_t j = 0; j < 3; j++) {
			struct lk_lock_view v = { .host = 1, .inc = 11, .mode = modes[i],
						  .gen = { EPOCH, 1 } };
			bool want = modes[i] == modes[j] && modes[i] != LK_MODE_EX;

			assert_int_equal(lk_rules_default.grantable(&v, 1, modes[j]), want);
			v.orphan = true; /* an orphan blocks the same */
			assert_int_equal(lk_rules_default.grantable(&v, 1, modes[j]), want);
		}
	for (uint32_t i = 0; i < 4; i++)
		assert_true(lk_rules_default.commit_moves(i, 4));
	assert_false(lk_rules_default.may_use(false));
	assert_true(lk_rules_default.may_use(true));
}

static void test_lk_core_unknown_message_einval(void **state)
{
	struct tc *t = *state;
	struct lk_msg m = { .type = (enum lk_msg_type)0, .from = 1, .from_inc = INC(1) };

	take_before(t);
	lk_fxbuf_reset(&t->fx);
	expect_rc(lk_apply(t->s, &m, &t->fx), -EINVAL);
	m.type = (enum lk_msg_type)(LK_MSG_HO_DURABLE + 1);
	expect_rc(lk_apply(t->s, &m, &t->fx), -EINVAL);
	assert_int_equal(t->fx.n, 0);
	assert_true(lk_state_equal(t->before, t->s)); /* not even counted (seq) */
}

static void test_lk_core_clone_and_equal(void **state)
{
	struct tc *t = *state;
	struct lk_state *c, *two, *three;
	bool eq;

	grant(t, 1, "a", LK_MODE_EX);
	c = lk_state_clone(t->s);
	assert_non_null(c);
	assert_true(lk_state_equal(c, t->s));
	assert_null(lk_state_check(c));
	grant(t, 2, "b", LK_MODE_SH);
	eq = lk_state_equal(c, t->s);
	lk_state_free(c);
	assert_false(eq);
	/* The count of agreed messages is replicated content too. */
	take_before(t);
	{
		struct lk_msg noop = msg_sync(t, 1, UINT64_MAX, false, 0, 0);

		apply(t, &noop);
		assert_int_equal(t->fx.n, 0);
	}
	assert_int_equal(lk_state_seq(t->s), lk_state_seq(t->before) + 1);
	assert_false(lk_state_equal(t->before, t->s));
	/* `self` is not replicated content. */
	two = lk_state_new(2, NULL);
	three = lk_state_new(3, NULL);
	eq = two && three && lk_state_equal(two, three);
	lk_state_free(two);
	lk_state_free(three);
	assert_true(eq);
}

static void test_lk_core_names(void **state)
{
	(void)state;
	assert_string_equal(lk_msg_name(LK_MSG_CONFCHG), "confchg");
	assert_string_equal(lk_msg_name(LK_MSG_HO_DURABLE), "ho-durable");
	assert_string_equal(lk_msg_name((enum lk_msg_type)0), "unknown");
	assert_string_equal(lk_msg_name((enum lk_msg_type)99), "unknown");
	assert_string_equal(lk_fx_name(LK_FX_PERSIST), "persist");
	assert_string_equal(lk_fx_name(LK_FX_GRANTS_OPEN), "grants-open");
	assert_string_equal(lk_fx_name((enum lk_fx_type)0), "unknown");
	assert_string_equal(lk_fx_name((enum lk_fx_type)99), "unknown");
	for (int t = LK_MSG_CONFCHG; t <= LK_MSG_HO_DURABLE; t++)
		assert_string_not_equal(lk_msg_name((enum lk_msg_type)t), "unknown");
	for (int t = LK_FX_REPLY; t <= LK_FX_GRANTS_OPEN; t++)
		assert_string_not_equal(lk_fx_name((enum lk_fx_type)t), "unknown");
}

#define T_EMPTY(f) cmocka_unit_test_setup_teardown(f, setup_empty, teardown)
#define T_READY(f) cmocka_unit_test_setup_teardown(f, setup_ready3, teardown)
#define T_READY5(f) cmocka_unit_test_setup_teardown(f, setup_ready5, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		/* fixture and sync */
		T_EMPTY(test_lk_core_coldstart_fixture_reaches_ready),
		T_READY(test_lk_core_confchg_ignores_out_of_range_hosts),
		T_EMPTY(test_lk_core_without_state_refuses_eagain),
		T_EMPTY(test_lk_core_coldstart_goes_to_lowest_member),
		T_EMPTY(test_lk_core_inquorate_without_state_does_nothing),
		T_READY(test_lk_core_join_starts_sync_and_closes_grants),
		T_READY(test_lk_core_sync_newest_seq_wins),
		T_READY(test_lk_core_sync_newest_lineage_beats_seq),
		T_READY(test_lk_core_sync_tie_goes_to_lowest_host),
		T_READY(test_lk_core_sync_new_epoch_only_with_a_fresh_member),
		T_READY(test_lk_core_snapshot_under_new_epoch_restarts_counter),
		T_READY(test_lk_core_snapshot_under_new_epoch_merges_the_volume),
		T_READY(test_lk_core_sync_ignores_other_rings_and_strangers),
		T_READY(test_lk_core_snapshot_replaces_state),
		/* modes */
		T_READY(test_lk_core_ex_excludes_ex),
		T_READY(test_lk_core_ex_excludes_sh),
		T_READY(test_lk_core_ex_excludes_mw),
		T_READY(test_lk_core_sh_excludes_ex),
		T_READY(test_lk_core_mw_excludes_ex),
		T_READY(test_lk_core_sh_conflicts_with_mw),
		T_READY(test_lk_core_mw_conflicts_with_sh),
		T_READY(test_lk_core_sh_shares_sh),
		T_READY(test_lk_core_mw_shares_mw),
		T_READY(test_lk_core_busy_names_a_conflicting_holder),
		T_READY(test_lk_core_same_host_same_mode_is_idempotent),
		T_READY(test_lk_core_same_host_other_mode_busy),
		T_READY(test_lk_core_invalid_mode_einval),
		T_READY(test_lk_core_invalid_path_einval),
		/* persist before use */
		T_READY(test_lk_core_grant_is_persist_to_grantee),
		T_READY(test_lk_core_generations_strictly_grow),
		T_READY(test_lk_core_release_answers_and_frees),
		T_READY(test_lk_core_release_not_held_enoent),
		/* quorum */
		T_READY(test_lk_core_inquorate_refuses_everything),
		T_READY(test_lk_core_inquorate_durable_changes_nothing),
		T_READY(test_lk_core_quorum_regained_reopens_grants),
		/* departure and recovery */
		T_READY(test_lk_core_departure_orphans_locks),
		T_READY(test_lk_core_departure_closes_grants),
		T_READY(test_lk_core_settled_reopens_grants),
		T_READY(test_lk_core_orphan_ex_not_grantable),
		T_READY(test_lk_core_orphan_sh_shares),
		T_READY(test_lk_core_recovered_frees_orphans),
		T_READY(test_lk_core_recovered_while_unsettled_settles_first),
		T_READY(test_lk_core_restarted_host_estale_until_recovered),
		T_READY(test_lk_core_same_incarnation_returns_live),
		T_EMPTY(test_lk_core_departure_of_restarted_incarnation_unsettles),
		/* settle merge */
		T_READY(test_lk_core_settle_drops_holds_the_table_does_not_show),
		T_READY(test_lk_core_settle_newer_disk_generation_wins),
		T_READY(test_lk_core_settle_older_disk_generation_ignored),
		T_READY(test_lk_core_settle_takes_over_later_epoch),
		T_READY(test_lk_core_settle_stale_entry_revokes_nobody),
		T_READY(test_lk_core_settle_compatible_entry_shares),
		T_READY(test_lk_core_settle_skips_handoff_in_and_bad_entries),
		T_READY(test_lk_core_settle_newer_mode_of_same_incarnation_wins),
		/* cold start */
		T_EMPTY(test_lk_core_coldstart_restores_orphans),
		T_EMPTY(test_lk_core_coldstart_settles_then_grants),
		T_EMPTY(test_lk_core_coldstart_all_settled_opens_grants),
		T_EMPTY(test_lk_core_coldstart_needs_quorum),
		/* rename */
		T_READY(test_lk_core_rename_moves_the_lock),
		T_READY(test_lk_core_rename_needs_ex_of_sender),
		T_READY(test_lk_core_rename_target_locked_eexist),
		T_READY(test_lk_core_tree_no_lock_above_or_below_a_held_name),
		T_READY(test_lk_core_rename_prefix_siblings_are_not_children),
		T_READY(test_lk_core_rename_invalid_einval),
		/* handoff */
		T_READY(test_lk_core_ho_prepare_persists_both_ends),
		T_READY(test_lk_core_ho_prepare_malformed_einval),
		T_READY(test_lk_core_ho_prepare_refusals),
		T_READY(test_lk_core_ho_prepare_to_host_awaiting_recovery_estale),
		T_READY(test_lk_core_ho_pending_refuses_others_and_release),
		T_READY(test_lk_core_ho_commit_moves_every_file),
		T_READY(test_lk_core_ho_commit_only_by_source_eperm),
		T_READY(test_lk_core_ho_durable_answers_commit),
		T_READY(test_lk_core_ho_committed_dst_recovered_answers_commit),
		T_READY(test_lk_core_ho_commit_idempotent),
		T_READY(test_lk_core_ho_abort_pending),
		T_READY(test_lk_core_ho_abort_by_destination),
		T_READY(test_lk_core_ho_abort_twice_answers_zero),
		T_READY(test_lk_core_ho_commit_after_abort_ecanceled),
		T_READY(test_lk_core_ho_abort_after_commit_ealready),
		T_READY(test_lk_core_ho_unknown_id_enoent),
		T_READY(test_lk_core_ho_commit_waits_for_settle),
		T_READY(test_lk_core_ho_old_final_records_forgotten),
		T_READY(test_lk_core_ho_source_leaving_aborts),
		T_READY(test_lk_core_ho_destination_leaving_in_doubt),
		T_READY(test_lk_core_ho_in_doubt_settles_committed),
		T_READY(test_lk_core_ho_in_doubt_settles_aborted),
		T_READY(test_lk_core_ho_in_doubt_commit_moves_every_file),
		T_READY5(test_lk_core_ho_both_leave_destination_lower_in_doubt),
		T_READY5(test_lk_core_ho_both_leave_source_lower_in_doubt),
		/* invariants and names */
		T_EMPTY(test_lk_core_check_catches_conflicting_grant),
		T_EMPTY(test_lk_core_refusing_rules_name_a_holder),
		T_EMPTY(test_lk_core_rules_default_table),
		T_READY(test_lk_core_unknown_message_einval),
		T_READY(test_lk_core_clone_and_equal),
		T_EMPTY(test_lk_core_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

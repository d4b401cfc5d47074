/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lkc.c - corosync CPG + quorum transport of vmfs-lockd (contract: lkc.h).
 *
 * Sections: envelope format · members and rounds (the HELLO exchange that turns a CPG
 * configuration into the core's CONFCHG) · corosync callbacks · sending · open/close ·
 * cmap readings.
 *
 * Rounds. A round collects one HELLO per member of the current CPG view. Round 0 opens
 * at every CPG configuration change; a quorum change inside a view opens round r+1 at
 * the first HELLO of r+1 delivered. Both opening points are positions in the agreed
 * order, so every member holds back exactly the same lock messages and delivers the
 * CONFCHG at the same point: right after the round's last HELLO.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <corosync/cmap.h>
#include <corosync/corotypes.h>
#include <corosync/cpg.h>
#include <corosync/quorum.h>
#include <corosync/votequorum.h>
#include <qb/qblog.h>

#include "lockd/cluster/lkc.h"
#include "lockd/core/lk_agent.h"
#include "lockd/core/lk_grow.h"
#include "lockd/core/lk_wire.h"

/* --- envelope ------------------------------------------------------------------------ */

#define ENV_MAGIC 0x56454d56u /* "VMEV" */
#define ENV_HELLO 1u
#define ENV_LOCK 2u
#define ENV_EVICT 3u
#define EVICT_LEN (4 + 4 + 8)
#define ENV_HDR 12u           /* magic, kind (u16), version (u16), count (u32) */
#define HELLO_LEN (8 + 8 + 8 + 1 + 4) /* + 8 per evicted process it names */
#define SEND_MAX (256u * 1024) /* a batch is flushed when it grows past this */

static void le_put(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t le_get(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* --- state ----------------------------------------------------------------------------- */

struct member {
	uint32_t nodeid, pid;
	bool evicted; /* its heartbeat stopped: no longer part of any configuration */
	bool hello;
	uint64_t inc, proposal, qseq;
	bool quorate;
};

struct lkc {
	struct lkc_cfg cfg;
	cpg_handle_t cpg;
	quorum_handle_t q;
	bool cpg_ok, q_ok, lost;
	bool leave;       /* closing: leave the group first (it was not lost) */
	struct cpg_name group;
	uint32_t nodeid, pid;

	/* CPG view and round */
	struct member mem[LK_MAX_HOSTS];
	uint32_t nmem;
	struct { uint32_t nodeid, pid; } evicted[LK_MAX_HOSTS]; /* until they leave the view */
	uint32_t nevicted;
	bool in_view;
	uint32_t round;
	bool round_open;
	uint32_t hello_sent_round; /* round+1 of our last HELLO in this view; 0 none */
	bool reported_quorate;      /* the quorum our last HELLO reported */
	uint64_t totem_seq;
	bool totem_known;

	/* quorum as the quorum service last told it */
	bool q_known, q_quorate;
	uint64_t q_seq;

	/* last agreed configuration */
	uint64_t ring;
	bool quorate;

	/* lock messages held back while a round is open */
	struct lk_msg **held;
	size_t nheld, capheld;

	/* outgoing batch */
	uint8_t *out;
	size_t outlen, outcap;
	uint32_t outcount;
	qb_loop_timer_handle retry_timer;
	bool retry_armed;
};

static void lost(struct lkc *c, const char *why)
{
	if (c->lost)
		return;
	c->lost = true;
	c->cfg.cb.lost(c->cfg.arg, why);
}

static struct member *member_find(struct lkc *c, uint32_t nodeid, uint32_t pid)
{
	for (uint32_t i = 0; i < c->nmem; i++)
		if (c->mem[i].nodeid == nodeid && c->mem[i].pid == pid)
			return &c->mem[i];
	return NULL;
}

static void send_hello(struct lkc *c);

/*
 * Our HELLO for the current round, once quorum is known for the current totem ring; or
 * for a new round when the quorum we are told differs from what we last reported.
 */
static void maybe_hello(struct lkc *c)
{
	uint32_t want = c->round_open ? c->round : c->round + 1;

	int now_quorate = 0;

	if (!c->in_view || !c->totem_known || !c->q_known || c->q_seq < c->totem_seq)
		return;
	if (!c->round_open && c->q_quorate == c->reported_quorate)
		return;
	/* told quorate, reported not: a new round once corosync says so too (lkc_tick asks
	 * again), not one round per event while the two disagree */
	if (!c->round_open && c->q_quorate &&
	    (quorum_getquorate(c->q, &now_quorate) != CS_OK || !now_quorate))
		return;
	if (c->hello_sent_round >= want + 1)
		return;
	send_hello(c);
}

static int cmp_member(const void *a, const void *b)
{
	const struct lk_member *x = a, *y = b;

	return x->host < y->host ? -1 : x->host > y->host;
}

/* Every member said HELLO: deliver the configuration, then what was held back. */
static void round_complete(struct lkc *c)
{
	struct lk_member members[LK_MAX_HOSTS];
	struct lk_msg m = { .type = LK_MSG_CONFCHG };
	uint32_t n = 0;
	bool quorate = true;
	uint64_t ring = c->ring + 1;
	size_t nheld = c->nheld;

	for (uint32_t i = 0; i < c->nmem; i++) {
		const struct member *x = &c->mem[i];

		if (x->evicted)
			continue;
		if (x->proposal > ring)
			ring = x->proposal;
		quorate = quorate && x->quorate;
		members[n++] = (struct lk_member){ .host = x->nodeid, .inc = x->inc };
	}
	qsort(members, n, sizeof(members[0]), cmp_member);
	c->round_open = false;
	c->ring = ring;
	c->quorate = quorate;
	m.from = c->nodeid;
	m.u.confchg.ring = ring;
	m.u.confchg.members = members;
	m.u.confchg.nmembers = n;
	m.u.confchg.quorate = quorate;
	qb_log(LOG_INFO, "configuration ring %" PRIu64 ": %u member(s), %s", ring, n,
	       quorate ? "quorate" : "NOT quorate");
	c->cfg.cb.deliver(c->cfg.arg, &m);
	c->nheld = 0;
	for (size_t i = 0; i < nheld && !c->round_open && !c->lost; i++) {
		c->cfg.cb.deliver(c->cfg.arg, c->held[i]);
		lk_msg_free(c->held[i]);
		c->held[i] = NULL;
	}
	for (size_t i = 0; i < nheld; i++)
		lk_msg_free(c->held[i]);
	if (!c->lost)
		maybe_hello(c);
}

/* Marks member x evicted and remembers it until it leaves the view. */
static void mark_evicted(struct lkc *c, struct member *x)
{
	x->evicted = true;
	if (c->nevicted < LK_MAX_HOSTS) {
		c->evicted[c->nevicted].nodeid = x->nodeid;
		c->evicted[c->nevicted++].pid = x->pid;
	}
}

static void on_hello(struct lkc *c, uint32_t nodeid, uint32_t pid, const uint8_t *p, size_t len,
		     uint32_t round)
{
	struct member *x = member_find(c, nodeid, pid);
	uint32_t nev;

	if (len < HELLO_LEN || len != HELLO_LEN + 8 * (size_t)(nev = (uint32_t)le_get(p + 25, 4))) {
		qb_log(LOG_WARNING, "HELLO of %u bytes from host %u ignored", (unsigned)len, nodeid);
		return;
	}
	if (!x || x->evicted || round < c->round)
		return; /* from a previous view or round, or evicted */
	/*
	 * The processes it evicted (a joiner learns here what it never saw): every member
	 * that saw the EVICT names them, so no round completes on a joiner that still waits
	 * for a HELLO of theirs.
	 */
	for (uint32_t i = 0; i < nev; i++) {
		struct member *e = member_find(c, (uint32_t)le_get(p + HELLO_LEN + 8 * i, 4),
					       (uint32_t)le_get(p + HELLO_LEN + 8 * i + 4, 4));

		if (e && !e->evicted && e != member_find(c, c->nodeid, c->pid))
			mark_evicted(c, e);
	}
	if (round > c->round) {
		c->round = round;
		c->round_open = true;
		for (uint32_t i = 0; i < c->nmem; i++)
			c->mem[i].hello = false;
	}
	if (!c->round_open || x->hello)
		return;
	x->hello = true;
	x->inc = le_get(p, 8);
	x->proposal = le_get(p + 8, 8);
	x->qseq = le_get(p + 16, 8);
	x->quorate = p[24] == 1;
	for (uint32_t i = 0; i < c->nmem; i++)
		if (!c->mem[i].hello && !c->mem[i].evicted) {
			maybe_hello(c);
			return;
		}
	round_complete(c);
}

/*
 * An EVICT names a member whose heartbeat stopped for host_dead while corosync still
 * lists it (its lockd hung or was stopped). Every member drops it from the
 * configuration at this point of the agreed order, opening a new round; the evicted
 * process, if it ever runs again, learns it here and ends its incarnation.
 */
static void on_evict(struct lkc *c, uint32_t from, uint32_t from_pid, const uint8_t *p,
		     size_t len)
{
	const struct member *sender = member_find(c, from, from_pid);
	uint32_t nodeid, pid;
	struct member *x;

	if (len != EVICT_LEN || !sender || sender->evicted)
		return;
	nodeid = (uint32_t)le_get(p, 4);
	pid = (uint32_t)le_get(p + 4, 4);
	x = member_find(c, nodeid, pid);
	if (!x || x->evicted || x->inc != le_get(p + 8, 8))
		return;
	qb_log(LOG_WARNING, "host %u (pid %u, incarnation %" PRIu64 ") evicted by host %u: its "
	       "heartbeat stopped while corosync still lists it", nodeid, pid, x->inc, from);
	if (nodeid == c->nodeid && pid == c->pid) {
		lost(c, "evicted from the configuration: this host's heartbeat stopped renewing");
		return;
	}
	mark_evicted(c, x);
	c->round++;
	c->round_open = true;
	for (uint32_t i = 0; i < c->nmem; i++)
		c->mem[i].hello = false;
	maybe_hello(c);
}

static void on_locks(struct lkc *c, uint32_t nodeid, const uint8_t *p, size_t len,
		     uint32_t count)
{
	for (uint32_t i = 0; i < count && !c->lost; i++) {
		struct lk_msg *m = NULL;
		const char *why = NULL;
		uint32_t rl;
		int rc;

		if (len < 4 || (rl = (uint32_t)le_get(p, 4)) > len - 4) {
			qb_log(LOG_ERR, "malformed envelope from host %u: record %u of %u overruns it",
			       nodeid, i + 1, count);
			return;
		}
		rc = lk_wire_decode(p + 4, rl, c->nodeid, c->cfg.rules, &m, &why);
		p += 4 + rl;
		len -= 4 + rl;
		if (rc == -ENOMEM) {
			/* an agreed message every other member applies: this replica cannot go on */
			lost(c, "out of memory decoding an agreed message");
			return;
		}
		if (rc < 0) {
			qb_log(LOG_ERR, "lock message from host %u dropped: %s (%s)", nodeid,
			       why ? why : "", strerror(-rc));
			continue;
		}
		if (m->from != nodeid) {
			qb_log(LOG_ERR, "lock message from host %u claims to come from host %u: dropped",
			       nodeid, m->from);
			lk_msg_free(m);
			continue;
		}
		if (c->round_open || !c->ring) {
			if (LK_GROW(c->held, c->nheld, c->capheld) < 0) {
				lk_msg_free(m);
				lost(c, "out of memory holding back lock messages");
				return;
			}
			c->held[c->nheld++] = m;
			continue;
		}
		c->cfg.cb.deliver(c->cfg.arg, m);
		lk_msg_free(m);
	}
}

/* --- corosync callbacks ---------------------------------------------------------------- */

static void cpg_deliver(cpg_handle_t h, const struct cpg_name *g, uint32_t nodeid, uint32_t pid,
			void *msg, size_t len)
{
	struct lkc *c = NULL;
	const uint8_t *p = msg;

	(void)g;
	cpg_context_get(h, (void **)&c);
	if (!c || c->lost)
		return;
	if (len < ENV_HDR || le_get(p, 4) != ENV_MAGIC || le_get(p + 6, 2) != LK_WIRE_VERSION) {
		qb_log(LOG_ERR, "message of %zu bytes from host %u (pid %u) is not a vmfs envelope "
		       "of wire version %u: dropped", len, nodeid, pid, LK_WIRE_VERSION);
		return;
	}
	switch (le_get(p + 4, 2)) {
	case ENV_HELLO:
		on_hello(c, nodeid, pid, p + ENV_HDR, len - ENV_HDR, (uint32_t)le_get(p + 8, 4));
		break;
	case ENV_LOCK:
		if (member_find(c, nodeid, pid) && member_find(c, nodeid, pid)->evicted)
			break; /* an evicted process's late words */
		on_locks(c, nodeid, p + ENV_HDR, len - ENV_HDR, (uint32_t)le_get(p + 8, 4));
		break;
	case ENV_EVICT:
		on_evict(c, nodeid, pid, p + ENV_HDR, len - ENV_HDR);
		break;
	default:
		qb_log(LOG_ERR, "envelope of unknown kind from host %u: dropped", nodeid);
	}
}

static void cpg_confchg(cpg_handle_t h, const struct cpg_name *g,
			const struct cpg_address *mem, size_t nmem,
			const struct cpg_address *left, size_t nleft,
			const struct cpg_address *joined, size_t njoined)
{
	struct lkc *c = NULL;
	bool self = false;

	(void)g;
	cpg_context_get(h, (void **)&c);
	if (!c || c->lost)
		return;
	for (size_t i = 0; i < nleft; i++)
		qb_log(LOG_NOTICE, "host %u (pid %u) left the group (reason %u)", left[i].nodeid,
		       left[i].pid, left[i].reason);
	for (size_t i = 0; i < njoined; i++)
		qb_log(LOG_NOTICE, "host %u (pid %u) joined the group", joined[i].nodeid,
		       joined[i].pid);
	c->nmem = 0;
	for (size_t i = 0; i < nmem && c->nmem < LK_MAX_HOSTS; i++) {
		bool ev = false;

		for (uint32_t k = 0; k < c->nevicted; k++)
			ev = ev || (c->evicted[k].nodeid == mem[i].nodeid &&
				    c->evicted[k].pid == mem[i].pid);
		c->mem[c->nmem++] = (struct member){ .nodeid = mem[i].nodeid, .pid = mem[i].pid,
						     .evicted = ev };
		self = self || (mem[i].nodeid == c->nodeid && mem[i].pid == c->pid);
	}
	for (uint32_t k = 0; k < c->nevicted;) {
		if (member_find(c, c->evicted[k].nodeid, c->evicted[k].pid))
			k++;
		else
			c->evicted[k] = c->evicted[--c->nevicted];
	}
	if (!self) {
		lost(c, "this process is no longer a member of the CPG group");
		return;
	}
	c->in_view = true;
	c->round = 0;
	c->round_open = true;
	c->hello_sent_round = 0;
	maybe_hello(c);
}

static void cpg_totem(cpg_handle_t h, struct cpg_ring_id ring, uint32_t n, const uint32_t *list)
{
	struct lkc *c = NULL;

	(void)n;
	(void)list;
	cpg_context_get(h, (void **)&c);
	if (!c || c->lost)
		return;
	c->totem_seq = ring.seq;
	c->totem_known = true;
	maybe_hello(c);
}

static void quorum_notify(quorum_handle_t h, uint32_t quorate, uint64_t ring_seq, uint32_t n,
			  uint32_t *list)
{
	struct lkc *c = NULL;

	(void)n;
	(void)list;
	quorum_context_get(h, (const void **)&c);
	if (!c || c->lost)
		return;
	if (c->q_known && c->q_quorate != (quorate != 0))
		qb_log(LOG_NOTICE, "quorum %s (ring %" PRIu64 ")", quorate ? "regained" : "lost",
		       ring_seq);
	c->q_known = true;
	c->q_quorate = quorate != 0;
	c->q_seq = ring_seq;
	maybe_hello(c);
}

static int32_t on_fd(int32_t fd, int32_t revents, void *data, bool is_cpg)
{
	struct lkc *c = data;
	cs_error_t e;

	(void)fd;
	if (c->lost)
		return -1;
	/* a host that was paused learns that its lease is gone before it answers anything
	 * that arrived meanwhile */
	c->cfg.cb.before_dispatch(c->cfg.arg);
	if (c->lost)
		return -1;
	e = is_cpg ? cpg_dispatch(c->cpg, CS_DISPATCH_ALL) : quorum_dispatch(c->q, CS_DISPATCH_ALL);
	if (!c->lost)
		c->cfg.cb.batch_end(c->cfg.arg);
	if (e != CS_OK && e != CS_ERR_TRY_AGAIN) {
		lost(c, is_cpg ? "corosync CPG connection lost" : "corosync quorum connection lost");
		return -1;
	}
	if (revents & (POLLHUP | POLLERR)) {
		lost(c, "corosync closed the connection");
		return -1;
	}
	return 0;
}

static int32_t on_cpg_fd(int32_t fd, int32_t revents, void *data)
{
	return on_fd(fd, revents, data, true);
}

static int32_t on_q_fd(int32_t fd, int32_t revents, void *data)
{
	return on_fd(fd, revents, data, false);
}

/* --- sending ----------------------------------------------------------------------------- */

static int mcast(struct lkc *c, const void *buf, size_t len)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	cs_error_t e = cpg_mcast_joined(c->cpg, CPG_TYPE_AGREED, &iov, 1);

	if (e == CS_OK)
		return 0;
	if (e == CS_ERR_TRY_AGAIN)
		return -EAGAIN;
	qb_log(LOG_ERR, "cpg_mcast_joined failed: %s", cs_strerror(e));
	return -EIO;
}

static void send_hello(struct lkc *c)
{
	uint8_t b[ENV_HDR + HELLO_LEN + 8 * LK_MAX_HOSTS];
	uint32_t round = c->round_open ? c->round : c->round + 1, nev = 0;
	uint64_t proposal = c->totem_seq << 20;
	int now_quorate = 0, rc;
	bool quorate;

	if (c->cfg.last_ring + 1 > proposal)
		proposal = c->cfg.last_ring + 1;
	if (c->ring + 1 > proposal)
		proposal = c->ring + 1;
	le_put(b, ENV_MAGIC, 4);
	le_put(b + 4, ENV_HELLO, 2);
	le_put(b + 6, LK_WIRE_VERSION, 2);
	le_put(b + 8, round, 4);
	le_put(b + ENV_HDR, c->cfg.inc, 8);
	le_put(b + ENV_HDR + 8, proposal, 8);
	le_put(b + ENV_HDR + 16, c->q_seq, 8);
	/*
	 * Quorate only if the last notification said so and corosync says so now: a
	 * notification for this ring may not have been dispatched yet when CPG delivers its
	 * configuration, and a stale "quorate" must never reach the core (the other way
	 * round costs a round more, when the notification comes).
	 */
	quorate = c->q_quorate && quorum_getquorate(c->q, &now_quorate) == CS_OK && now_quorate;
	b[ENV_HDR + 24] = quorate;
	for (uint32_t i = 0; i < c->nmem; i++)
		if (c->mem[i].evicted) {
			le_put(b + ENV_HDR + HELLO_LEN + 8 * nev, c->mem[i].nodeid, 4);
			le_put(b + ENV_HDR + HELLO_LEN + 8 * nev + 4, c->mem[i].pid, 4);
			nev++;
		}
	le_put(b + ENV_HDR + 25, nev, 4);
	/* HELLOs are rare and tiny: on TRY_AGAIN spin briefly rather than reorder them */
	for (int i = 0; (rc = mcast(c, b, ENV_HDR + HELLO_LEN + 8 * (size_t)nev)) == -EAGAIN &&
			i < 1000; i++)
		usleep(1000);
	if (rc < 0) {
		lost(c, "cannot multicast HELLO");
		return;
	}
	c->hello_sent_round = round + 1;
	c->reported_quorate = quorate;
}

int lkc_evict(struct lkc *c, lk_host_t host, uint64_t inc)
{
	uint8_t b[ENV_HDR + EVICT_LEN];

	for (uint32_t i = 0; i < c->nmem; i++) {
		const struct member *x = &c->mem[i];

		if (x->nodeid != host || x->evicted || x->inc != inc || host == c->nodeid)
			continue;
		le_put(b, ENV_MAGIC, 4);
		le_put(b + 4, ENV_EVICT, 2);
		le_put(b + 6, LK_WIRE_VERSION, 2);
		le_put(b + 8, 1, 4);
		le_put(b + ENV_HDR, x->nodeid, 4);
		le_put(b + ENV_HDR + 4, x->pid, 4);
		le_put(b + ENV_HDR + 8, x->inc, 8);
		return mcast(c, b, sizeof(b));
	}
	return -ENOENT;
}

int lkc_send(struct lkc *c, const struct lk_msg *m)
{
	void *buf;
	size_t len, need;
	int rc = lk_wire_encode(m, &buf, &len);

	if (rc < 0)
		return rc;
	need = (c->outlen ? c->outlen : ENV_HDR) + 4 + len; /* the envelope header counts */

	if (need > c->outcap) {
		size_t ncap = c->outcap ? c->outcap : 4096;
		uint8_t *p;

		while (ncap < need)
			ncap *= 2;
		p = realloc(c->out, ncap);
		if (!p) {
			free(buf);
			return -ENOMEM;
		}
		c->out = p;
		c->outcap = ncap;
	}
	if (!c->outlen)
		c->outlen = ENV_HDR;
	le_put(c->out + c->outlen, len, 4);
	memcpy(c->out + c->outlen + 4, buf, len);
	c->outlen += 4 + len;
	c->outcount++;
	free(buf);
	if (c->outlen >= SEND_MAX)
		lkc_flush(c);
	return 0;
}

static void retry_flush(void *data)
{
	struct lkc *c = data;

	c->retry_armed = false;
	lkc_flush(c);
}

void lkc_flush(struct lkc *c)
{
	int rc;

	if (!c->outcount || c->lost)
		return;
	le_put(c->out, ENV_MAGIC, 4);
	le_put(c->out + 4, ENV_LOCK, 2);
	le_put(c->out + 6, LK_WIRE_VERSION, 2);
	le_put(c->out + 8, c->outcount, 4);
	rc = mcast(c, c->out, c->outlen);
	if (rc == -EAGAIN) {
		if (!c->retry_armed && qb_loop_timer_add(c->cfg.loop, QB_LOOP_HIGH, 1000000, c,
							 retry_flush, &c->retry_timer) == 0)
			c->retry_armed = true;
		return;
	}
	if (rc < 0) {
		lost(c, "cannot multicast lock messages");
		return;
	}
	c->outlen = 0;
	c->outcount = 0;
}

/* --- open / close -------------------------------------------------------------------------- */

int lkc_open(const struct lkc_cfg *cfg, struct lkc **out, char *err, size_t errlen)
{
	cpg_model_v1_data_t md = {
		.model = CPG_MODEL_V1,
		.cpg_deliver_fn = cpg_deliver,
		.cpg_confchg_fn = cpg_confchg,
		.cpg_totem_confchg_fn = cpg_totem,
		.flags = CPG_MODEL_V1_DELIVER_INITIAL_TOTEM_CONF,
	};
	quorum_callbacks_t qcb = { .quorum_notify_fn = quorum_notify };
	struct lkc *c = calloc(1, sizeof(*c));
	uint32_t qtype = 0;
	int fd, rc = -ENOTCONN;
	cs_error_t e;

	if (!c)
		return -ENOMEM;
	c->cfg = *cfg;
	c->pid = (uint32_t)getpid();
	e = cpg_model_initialize(&c->cpg, CPG_MODEL_V1, (cpg_model_data_t *)&md, c);
	if (e != CS_OK) {
		snprintf(err, errlen, "cannot connect to corosync (CPG): %s; is corosync running?",
			 cs_strerror(e));
		goto out_free;
	}
	c->cpg_ok = true;
	if (cpg_local_get(c->cpg, &c->nodeid) != CS_OK || !c->nodeid ||
	    c->nodeid > LK_MAX_HOSTS) {
		snprintf(err, errlen, "corosync node id %u is outside 1..%u: set nodeid in "
			 "corosync.conf's nodelist", c->nodeid, LK_MAX_HOSTS);
		rc = -ERANGE;
		goto out_free;
	}
	e = quorum_initialize(&c->q, &qcb, &qtype);
	if (e != CS_OK) {
		snprintf(err, errlen, "cannot connect to corosync's quorum service: %s",
			 cs_strerror(e));
		goto out_free;
	}
	c->q_ok = true;
	quorum_context_set(c->q, c);
	if (quorum_trackstart(c->q, CS_TRACK_CURRENT | CS_TRACK_CHANGES) != CS_OK) {
		snprintf(err, errlen, "cannot follow corosync's quorum");
		goto out_free;
	}
	snprintf(c->group.value, sizeof(c->group.value), "%s", cfg->group);
	c->group.length = (uint32_t)strlen(c->group.value);
	for (int i = 0; (e = cpg_join(c->cpg, &c->group)) == CS_ERR_TRY_AGAIN && i < 100; i++)
		usleep(10000);
	if (e != CS_OK) {
		snprintf(err, errlen, "cannot join CPG group %s: %s", cfg->group, cs_strerror(e));
		goto out_free;
	}
	cpg_fd_get(c->cpg, &fd);
	qb_loop_poll_add(cfg->loop, QB_LOOP_HIGH, fd, POLLIN, c, on_cpg_fd);
	quorum_fd_get(c->q, &fd);
	qb_loop_poll_add(cfg->loop, QB_LOOP_HIGH, fd, POLLIN, c, on_q_fd);
	*out = c;
	return 0;
out_free:
	if (c->q_ok)
		quorum_finalize(c->q);
	if (c->cpg_ok)
		cpg_finalize(c->cpg);
	free(c);
	return rc;
}

/* Leaving the group and finalizing talk to corosync, which may be stopped or hung: a
 * thread of its own does it, so the main loop (clients, the lease) never waits. */
static void *close_thread(void *data)
{
	struct lkc *c = data;

	if (c->leave)
		cpg_leave(c->cpg, &c->group);
	cpg_finalize(c->cpg);
	quorum_finalize(c->q);
	for (size_t i = 0; i < c->nheld; i++)
		lk_msg_free(c->held[i]);
	free(c->held);
	free(c->out);
	free(c);
	return NULL;
}

static void close_job(void *data)
{
	pthread_t t;
	pthread_attr_t attr;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, close_thread, data) != 0)
		close_thread(data);
	pthread_attr_destroy(&attr);
}

/*
 * May be called from inside one of our callbacks (a delivery that ends the incarnation):
 * callbacks stop at once; the handles are let go from the main loop once corosync's
 * dispatch has returned, by a thread that may wait for corosync as long as it takes.
 */
void lkc_close(struct lkc *c)
{
	int fd;

	if (!c)
		return;
	if (c->retry_armed)
		qb_loop_timer_del(c->cfg.loop, c->retry_timer);
	if (cpg_fd_get(c->cpg, &fd) == CS_OK)
		qb_loop_poll_del(c->cfg.loop, fd);
	if (quorum_fd_get(c->q, &fd) == CS_OK)
		qb_loop_poll_del(c->cfg.loop, fd);
	c->leave = !c->lost;
	c->lost = true; /* no callback from here on */
	if (qb_loop_job_add(c->cfg.loop, QB_LOOP_LOW, c, close_job) != 0)
		close_job(c);
}

void lkc_tick(struct lkc *c)
{
	if (!c->lost)
		maybe_hello(c);
}

lk_host_t lkc_nodeid(const struct lkc *c)
{
	return c->nodeid;
}

void lkc_view(const struct lkc *c, struct lkc_view *out, bool votes)
{
	votequorum_handle_t vq;
	struct votequorum_info info;

	memset(out, 0, sizeof(*out));
	for (uint32_t i = 0; i < c->nmem; i++)
		if (!c->mem[i].evicted)
			out->members[out->nmembers++] = c->mem[i].nodeid;
	out->ring = c->ring;
	out->quorate = c->quorate;
	out->settling = c->round_open;
	out->totem_seq = c->totem_seq;
	if (votes && votequorum_initialize(&vq, NULL) == CS_OK) {
		if (votequorum_getinfo(vq, 0, &info) == CS_OK) {
			out->expected_votes = info.node_expected_votes;
			out->total_votes = info.total_votes;
		}
		votequorum_finalize(vq);
	}
}

int lkc_local_nodeid(lk_host_t *id, char *err, size_t errlen)
{
	cpg_callbacks_t cb = { 0 };
	cpg_handle_t h;
	unsigned int n = 0;
	cs_error_t e = cpg_initialize(&h, &cb);

	if (e != CS_OK) {
		snprintf(err, errlen, "cannot connect to corosync (CPG): %s; is corosync running?",
			 cs_strerror(e));
		return -ENOTCONN;
	}
	e = cpg_local_get(h, &n);
	cpg_finalize(h);
	if (e != CS_OK) {
		snprintf(err, errlen, "corosync does not tell this node's id: %s", cs_strerror(e));
		return -EIO;
	}
	*id = n;
	return 0;
}

/* --- cmap ----------------------------------------------------------------------------------- */

static int cmap_open(cmap_handle_t *h, char *err, size_t errlen)
{
	cs_error_t e = cmap_initialize(h);

	if (e != CS_OK) {
		snprintf(err, errlen, "cannot connect to corosync (cmap): %s; is corosync running?",
			 cs_strerror(e));
		return -ENOTCONN;
	}
	return 0;
}

int lkc_cluster_name(char *buf, size_t len, char *err, size_t errlen)
{
	cmap_handle_t h;
	char *s = NULL;
	int rc = cmap_open(&h, err, errlen);

	if (rc < 0)
		return rc;
	if (cmap_get_string(h, "totem.cluster_name", &s) != CS_OK || !s) {
		snprintf(err, errlen, "corosync.conf sets no totem.cluster_name");
		rc = -ENOENT;
	} else {
		snprintf(buf, len, "%s", s);
	}
	free(s);
	cmap_finalize(h);
	return rc;
}

int lkc_token_ms(uint32_t *ms, char *err, size_t errlen)
{
	cmap_handle_t h;
	int rc = cmap_open(&h, err, errlen);

	if (rc < 0)
		return rc;
	if (cmap_get_uint32(h, "runtime.config.totem.token", ms) != CS_OK) {
		snprintf(err, errlen, "corosync reports no runtime.config.totem.token");
		rc = -ENOENT;
	}
	cmap_finalize(h);
	return rc;
}

/* Walks nodelist.node.N: calls match for each (id, name) until it returns true. */
static void nodelist_walk(bool (*match)(void *arg, uint32_t id, const char *name), void *arg)
{
	cmap_handle_t h;
	char key[128], err[128];

	if (cmap_open(&h, err, sizeof(err)) < 0)
		return;
	for (unsigned i = 0; i < 2 * LK_MAX_HOSTS; i++) {
		uint32_t id = 0;
		char *name = NULL;
		bool done;

		snprintf(key, sizeof(key), "nodelist.node.%u.nodeid", i);
		if (cmap_get_uint32(h, key, &id) != CS_OK)
			break;
		snprintf(key, sizeof(key), "nodelist.node.%u.name", i);
		if (cmap_get_string(h, key, &name) != CS_OK) {
			snprintf(key, sizeof(key), "nodelist.node.%u.ring0_addr", i);
			cmap_get_string(h, key, &name);
		}
		done = match(arg, id, name ? name : "");
		free(name);
		if (done)
			break;
	}
	cmap_finalize(h);
}

struct name_q {
	lk_host_t id;
	char *buf;
	size_t len;
};

static bool match_id(void *arg, uint32_t id, const char *name)
{
	struct name_q *q = arg;

	if (id != q->id)
		return false;
	snprintf(q->buf, q->len, "%s", name);
	return true;
}

void lkc_node_name(lk_host_t id, char *buf, size_t len)
{
	struct name_q q = { .id = id, .buf = buf, .len = len };

	buf[0] = 0;
	nodelist_walk(match_id, &q);
}

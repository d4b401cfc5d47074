/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lkd_run.c - one incarnation of this host in the lock protocol.
 *
 * An incarnation is an agent (lockd/core/lk_agent.h) with a new host generation, joined
 * to the datastore's CPG group. Events reach the agent from three sources, each followed
 * by lkd_run_actions(): agreed messages (lkc deliver), disk completions (lkd_io.c) and
 * client requests (lockd/ipc). A tick every LKD_TICK_MS drives its clock.
 *
 * An incarnation ends when its lease is gone (the agent says LK_ACT_FENCED), when
 * corosync goes away (no agreed order: it must stop renewing so the others can recover
 * its locks after host_dead) or at shutdown. Clients are told first, then the agent is
 * dropped; a new incarnation starts as soon as corosync answers again. Its agent writes
 * nothing before the cluster recovered the previous one (lk_agent.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <qb/qblog.h>

#include "lockd/cluster/lkc.h"
#include "lockd/cluster/lkc_info.h"
#include "lockd/daemon/lkd.h"
#include "lockd/ipc/lki.h"

#define LKD_TICK_MS 50
#define LKD_RESTART_MS 1000

static void fence_incarnation(struct lkd *d, const char *why);

/* --- actions ------------------------------------------------------------------------- */

void lkd_run_actions(struct lkd *d)
{
	struct lk_act *acts[256];
	const char *fenced = NULL;
	bool violation = false;
	char why[160];
	size_t n;

	while (d->agent && (n = lk_agent_take(d->agent, acts, 256)) > 0) {
		for (size_t i = 0; i < n; i++) {
			struct lk_act *x = acts[i];

			switch (x->type) {
			case LK_ACT_SEND:
				if (d->cl && lkc_send(d->cl, x->msg) < 0)
					qb_log(LOG_ERR, "cannot send %s: dropped",
					       lk_msg_name(x->msg->type));
				lk_act_free(x);
				break;
			case LK_ACT_WRITE_HB:
			case LK_ACT_WRITE_TABLE:
			case LK_ACT_WRITE_JOURNAL:
			case LK_ACT_READ_HB:
			case LK_ACT_READ_TABLE:
			case LK_ACT_FENCE:
			case LK_ACT_NEW_EPOCH:
				if (x->type == LK_ACT_FENCE)
					qb_log(LOG_WARNING, "host %u's lease expired: fencing its slot "
					       "and clearing its lock table", x->host);
				lkd_io_submit(d->io, x, d->inc);
				break;
			case LK_ACT_REPLY:
				lki_reply(d->ipc, x);
				lk_act_free(x);
				break;
			case LK_ACT_REVOKE:
				qb_log(LOG_WARNING, "lock on %s taken away from this host", x->path);
				lki_revoke(d->ipc, x->path);
				lk_act_free(x);
				break;
			case LK_ACT_FENCED:
			case LK_ACT_VIOLATION:
				snprintf(why, sizeof(why), "%s%s",
					 x->type == LK_ACT_VIOLATION ? "replica invariant broken: " : "",
					 x->why ? x->why : "lease lost");
				fenced = why;
				violation = violation || x->type == LK_ACT_VIOLATION;
				lk_act_free(x);
				break;
			}
		}
	}
	if (d->cl)
		lkc_flush(d->cl);
	if (fenced) {
		fence_incarnation(d, fenced);
		if (violation) {
			/* a bug, not a fault: stop for good, keep the evidence */
			char bb[4200];

			snprintf(bb, sizeof(bb), "%s/vmfs-lockd.blackbox", d->conf.run_dir);
			qb_log(LOG_CRIT, "stopping: the replica broke its invariants; history in %s",
			       bb);
			qb_log_blackbox_write_to_file(bb);
			d->stopping = true;
			d->exit_code = 70;
			qb_loop_stop(d->loop);
		}
		return;
	}
	if (d->agent) {
		const struct lk_lease *l = lk_agent_lease(d->agent);
		int64_t deadline = l->valid ? l->deadline : 0;

		if (deadline != d->deadline_sent) {
			d->deadline_sent = deadline;
			lkd_io_set_live(d->io, d->inc, deadline);
			lki_lease(d->ipc, deadline);
		}
	}
	if (d->ipc)
		lki_ho_check(d->ipc);
	if (d->retry_waiters) {
		d->retry_waiters = false;
		lki_retry_waiters(d->ipc);
	}
}

/* --- cluster callbacks ------------------------------------------------------------------ */


static void on_deliver(void *arg, const struct lk_msg *m)
{
	struct lkd *d = arg;

	if (!d->agent)
		return;
	if (m->type == LK_MSG_CONFCHG && m->u.confchg.ring > d->last_ring)
		d->last_ring = m->u.confchg.ring;
	lk_agent_deliver(d->agent, m, lkd_now(), lkd_wall());
	switch (m->type) {
	case LK_MSG_ACQUIRE:
	case LK_MSG_SYNC:
		break;
	default:
		d->retry_waiters = true; /* something may have been freed or opened */
		break;
	}
	/* carried out in on_batch_end, once corosync's dispatch has delivered everything
	 * at hand: the grants of one batch share their table writes and multicasts */
}

static void on_batch_end(void *arg)
{
	lkd_run_actions(arg);
}

/* A lease that ran out (the host was paused) ends the incarnation before anything that
 * arrived meanwhile is dispatched: the agent fences itself at its next event. */
static void on_before_dispatch(void *arg)
{
	struct lkd *d = arg;

	int64_t now = lkd_now();

	if (!d->agent || !lk_lease_expired(lk_agent_lease(d->agent), now))
		return;
	lk_agent_tick(d->agent, now, lkd_wall());
	lkd_run_actions(d);
}

static void on_lost(void *arg, const char *why)
{
	struct lkd *d = arg;

	qb_log(LOG_CRIT, "%s: this host stops renewing its lease so that the others can recover "
	       "its locks", why);
	fence_incarnation(d, why);
}

/* --- incarnations -------------------------------------------------------------------------- */

static void restart(void *data)
{
	struct lkd *d = data;
	char err[256];

	d->restart_armed = false;
	if (d->stopping || d->agent)
		return;
	if (lkd_io_agent_busy(d->io)) {
		/* a write of the old incarnation is still in a system call (a hung disk):
		 * the new one starts when it is done, so nothing old lands on it */
		qb_log(LOG_INFO, "new incarnation waits: %zu disk job(s) of the previous one "
		       "still running", lkd_io_agent_busy(d->io));
		if (qb_loop_timer_add(d->loop, QB_LOOP_MED, LKD_RESTART_MS * 1000000ull, d, restart,
				      &d->restart_timer) == 0)
			d->restart_armed = true;
		return;
	}
	if (lkd_run_start(d, err, sizeof(err)) < 0) {
		qb_log(LOG_DEBUG, "new incarnation not started yet: %s", err);
		if (qb_loop_timer_add(d->loop, QB_LOOP_MED, LKD_RESTART_MS * 1000000ull, d, restart,
				      &d->restart_timer) == 0)
			d->restart_armed = true;
	}
}

static void fence_incarnation(struct lkd *d, const char *why)
{
	if (!d->agent)
		return;
	qb_log(LOG_CRIT, "incarnation %" PRIu64 " of host %u stops: %s", d->inc, d->host, why);
	snprintf(d->fenced_why, sizeof(d->fenced_why), "%s", why);
	d->fenced = true;
	lki_fenced(d->ipc, why); /* clients first: their handles fail before anything else */
	lkd_run_stop(d);
	/* its queued writes are cancelled, and the next incarnation starts only when those
	 * in a system call are done (restart) */
	d->prev_gone = true;
	d->prev_quiet_at = lkd_now();
	if (!d->stopping && !d->restart_armed &&
	    qb_loop_timer_add(d->loop, QB_LOOP_MED, LKD_RESTART_MS * 1000000ull, d, restart,
			      &d->restart_timer) == 0)
		d->restart_armed = true;
}

/*
 * A member whose heartbeat stopped for host_dead while corosync still lists it (its
 * lockd hung or was stopped, its corosync runs): the lowest member whose heartbeat lives
 * asks the group to evict it, so that the lock core treats it as departed and recovers
 * its locks. Its lease expired by then (it cannot have renewed without our seeing it).
 */
static void evict_dead_members(struct lkd *d)
{
	const struct lk_state *st;
	struct lkc_view v;
	lk_host_t decider = 0;

	if (!d->agent || !d->cl)
		return;
	st = lk_agent_state(d->agent);
	if (!lk_state_have(st) || !lk_state_quorate(st))
		return;
	lkc_view(d->cl, &v, false);
	for (uint32_t i = 0; i < v.nmembers; i++)
		if (!d->slots[v.members[i]].dead && (!decider || v.members[i] < decider))
			decider = v.members[i];
	if (decider != d->host)
		return;
	for (uint32_t i = 0; i < v.nmembers; i++) {
		lk_host_t h = v.members[i];
		const struct lkd_slot *sl = &d->slots[h];

		if (h == d->host || !sl->dead || sl->rc || sl->hb.state != VOL_HB_LIVE ||
		    !lk_state_is_member(st, h, sl->hb.host_gen) ||
		    d->evicted_inc[h] == sl->hb.host_gen)
			continue;
		qb_log(LOG_WARNING, "host %u is a cluster member but its heartbeat has not changed "
		       "for %lld ms: evicting incarnation %" PRIu64, h,
		       (long long)(lkd_now() - sl->changed_at), sl->hb.host_gen);
		if (lkc_evict(d->cl, h, sl->hb.host_gen) == 0)
			d->evicted_inc[h] = sl->hb.host_gen;
	}
}

static void tick(void *data)
{
	struct lkd *d = data;
	int64_t now = lkd_now();

	if (d->agent) {
		lk_agent_tick(d->agent, now, lkd_wall());
		lkd_run_actions(d);
	}
	if (d->io && !d->scan_inflight && now >= d->next_scan) {
		d->next_scan = now + d->timing.hb_interval_ms;
		lkd_io_scan(d->io);
	}
	evict_dead_members(d);
	if (d->cl)
		lkc_tick(d->cl);
	lki_tick(d->ipc, now);
	qb_loop_timer_add(d->loop, QB_LOOP_MED, LKD_TICK_MS * 1000000ull, d, tick,
			  &d->tick_timer);
}

/* Reads our heartbeat: the next host generation and the last ring we acknowledged. */
static int read_own_hb(struct lkd *d, struct vol_heartbeat *hb, char *err, size_t errlen)
{
	const struct vol_geom *g = &d->vol.super.geom;
	uint8_t *buf = vol_alloc_sectors(g->sector_size, 1);
	int rc;

	memset(hb, 0, sizeof(*hb));
	if (!buf)
		return -ENOMEM;
	rc = d->vol.dev.ops->read(&d->vol.dev, vol_hb_index(g, d->host), 1, buf);
	if (rc < 0) {
		snprintf(err, errlen, "%s: cannot read the heartbeat of host %u: %s", d->vol.dev.path,
			 d->host, strerror(-rc));
	} else if (vol_decode_heartbeat(g, vol_hb_index(g, d->host), buf, hb) < 0) {
		qb_log(LOG_WARNING, "%s: heartbeat sector of host %u is damaged; starting over",
		       d->vol.dev.path, d->host);
		memset(hb, 0, sizeof(*hb));
	}
	free(buf);
	return rc;
}

static json_t *info_mine(void *arg)
{
	return lkd_host_info(arg);
}

int lkd_run_start(struct lkd *d, char *err, size_t errlen)
{
	char ierr[256];
	struct vol_heartbeat hb;
	struct lk_agent_cfg acfg;
	struct lkc_cfg ccfg;
	int rc = read_own_hb(d, &hb, err, errlen);

	if (rc < 0)
		return rc;
	d->inc = (hb.host_gen > d->inc ? hb.host_gen : d->inc) + 1;
	if (hb.ring_seq > d->last_ring)
		d->last_ring = hb.ring_seq;
	acfg = (struct lk_agent_cfg){
		.host = d->host,
		.inc = d->inc,
		.timing = d->timing,
		.isolation = d->conf.isolation == VMFS_ISOLATION_FENCE ? LK_ISOLATION_FENCE :
									 LK_ISOLATION_KEEP,
		.table_sectors = d->vol.super.geom.table_sectors,
		.handoff_timeout_ms = d->conf.handoff_timeout_ms,
		.rules = &lk_rules_default,
	};
	if (d->prev_gone && hb.state == VOL_HB_LIVE && hb.host_gen) {
		/* it left its locks persisted: we settle it from its table ourselves */
		acfg.prev_inc = hb.host_gen;
		acfg.prev_quiet_at = d->prev_quiet_at;
		acfg.prev_gen_hwm = hb.gen_hwm;
	}
	lkd_io_set_live(d->io, d->inc, 0);
	d->agent = lk_agent_new(&acfg);
	if (!d->agent) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	ccfg = (struct lkc_cfg){
		.loop = d->loop,
		.group = d->group,
		.inc = d->inc,
		.last_ring = d->last_ring,
		.rules = &lk_rules_default,
		.cb = { .deliver = on_deliver, .batch_end = on_batch_end,
			.before_dispatch = on_before_dispatch, .lost = on_lost },
		.arg = d,
	};
	rc = lkc_open(&ccfg, &d->cl, err, errlen);
	if (rc < 0) {
		lk_agent_free(d->agent);
		d->agent = NULL;
		return rc;
	}
	if (lkc_nodeid(d->cl) != d->host) {
		snprintf(err, errlen, "corosync's node id changed from %u to %u", d->host,
			 lkc_nodeid(d->cl));
		lkd_run_stop(d);
		return -EINVAL;
	}
	d->fenced = false;
	d->deadline_sent = 0;
	qb_log(LOG_NOTICE, "host %u (%s) incarnation %" PRIu64 " joined CPG group %s", d->host,
	       d->hostname, d->inc, d->group);
	d->info = lkc_info_start(d->loop, d->group, info_mine, d, ierr, sizeof(ierr));
	if (!d->info)
		qb_log(LOG_WARNING, "%s: other hosts do not learn this host's CPU (preflight "
		       "checks of migrations here fail)", ierr);
	return 0;
}

void lkd_run_stop(struct lkd *d)
{
	lkc_info_stop(d->info);
	d->info = NULL;
	if (d->io)
		lkd_io_set_live(d->io, 0, 0); /* its queued writes are cancelled */
	lkc_close(d->cl);
	d->cl = NULL;
	lk_agent_free(d->agent);
	d->agent = NULL;
	lki_lease(d->ipc, 0);
	d->deadline_sent = 0;
}

void lkd_run_tick_start(struct lkd *d)
{
	qb_loop_timer_add(d->loop, QB_LOOP_MED, LKD_TICK_MS * 1000000ull, d, tick,
			  &d->tick_timer);
}

struct held_count {
	lk_host_t host;
	uint64_t inc;
	size_t n;
};

static void count_held(void *arg, const char *path, const struct lk_lock_view *v, size_t n,
		       uint64_t ho)
{
	struct held_count *c = arg;

	(void)path;
	(void)ho;
	for (size_t i = 0; i < n; i++)
		c->n += v[i].host == c->host && v[i].inc == c->inc;
}

size_t lkd_run_held(const struct lkd *d)
{
	struct held_count c = { .host = d->host, .inc = d->inc };

	if (!d->agent)
		return 0;
	lk_state_foreach(lk_agent_state(d->agent), count_held, &c);
	return c.n;
}

int lkd_run_mark_clean(struct lkd *d)
{
	const struct vol_geom *g = &d->vol.super.geom;
	struct vol_heartbeat hb;
	uint8_t *buf;
	char err[256];
	int rc = read_own_hb(d, &hb, err, sizeof(err));

	if (rc < 0)
		return rc;
	if (hb.host_gen != d->inc || hb.state != VOL_HB_LIVE)
		return -ESTALE; /* not ours to mark: never renewed, or fenced meanwhile */
	buf = vol_alloc_sectors(g->sector_size, 1);
	if (!buf)
		return -ENOMEM;
	hb.counter++;
	hb.state = VOL_HB_CLEAN;
	hb.wall_ms = lkd_wall();
	vol_encode_heartbeat(g, &hb, buf);
	rc = d->vol.dev.ops->write(&d->vol.dev, vol_hb_index(g, d->host), 1, buf);
	free(buf);
	return rc;
}

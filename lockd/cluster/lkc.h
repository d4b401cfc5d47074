/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lkc.h - vmfs-lockd's cluster transport on corosync: one CPG group per datastore
 * (agreed order), quorum from the quorum service (votequorum underneath), names and
 * timings from cmap.
 *
 * What it adds to CPG: every configuration the lock core sees (LK_MSG_CONFCHG) carries
 * each member's incarnation, an agreed ring number and the quorate flag, and reaches every
 * member at the same point of the agreed order. After each CPG configuration change (and
 * each quorum change without one) every member multicasts a HELLO (its incarnation, the
 * ring it proposes, the quorum it was told for the current totem ring); the configuration
 * is delivered once the HELLOs of all members are in, lock messages delivered meanwhile
 * are held and delivered after it. ring = the largest proposal, so it grows on every
 * member; quorate = every member reported quorate.
 *
 * A member whose lockd stopped renewing while corosync still lists it is evicted the same
 * way (lkc_evict): an agreed EVICT opens a new round without it.
 *
 * Lock messages travel in envelopes; lkc_send queues, lkc_flush sends everything queued
 * as one multicast (batching), retrying while corosync says CS_ERR_TRY_AGAIN.
 */
#ifndef VMFS_LKC_H
#define VMFS_LKC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <qb/qbloop.h>

#include "lockd/core/lk_core.h"

struct lkc;

struct lkc_cb {
	/* An agreed message (the CONFCHG included), valid during the call only. */
	void (*deliver)(void *arg, const struct lk_msg *m);
	/* corosync's dispatch delivered everything at hand (deliveries come in batches). */
	void (*batch_end)(void *arg);
	/* Before each dispatch: the driver checks its lease and may close this transport
	 * (nothing is then dispatched). */
	void (*before_dispatch)(void *arg);
	/* The connection to corosync is gone (corosync died or was stopped). */
	void (*lost)(void *arg, const char *why);
};

struct lkc_cfg {
	qb_loop_t *loop;
	const char *group;       /* CPG group name, e.g. "vmfs-<datastore uuid>" */
	uint64_t inc;            /* this incarnation */
	uint64_t last_ring;      /* highest ring this host ever acknowledged (its heartbeat) */
	const struct lk_rules *rules;
	struct lkc_cb cb;
	void *arg;
};

/* Joins the group. 0, or -ENOTCONN (corosync not running), -errno; err says why. */
int lkc_open(const struct lkc_cfg *cfg, struct lkc **out, char *err, size_t errlen);
/* Leaves the group and disconnects (no callback after it). */
void lkc_close(struct lkc *c);

lk_host_t lkc_nodeid(const struct lkc *c);
/* Periodic: a quorum that came back while corosync still said otherwise is reported. */
void lkc_tick(struct lkc *c);
/*
 * Asks every member to drop host's incarnation inc from the configuration: its heartbeat
 * stopped for host_dead while corosync still lists its process (a hung or stopped
 * lockd). Its lease has expired by then, so it writes nothing more; the lock core then
 * recovers it like a departed host. 0, -ENOENT (no such member), -EAGAIN, -EIO.
 */
int lkc_evict(struct lkc *c, lk_host_t host, uint64_t inc);
/* Queues m for the next lkc_flush. 0, -EINVAL (unencodable), -ENOMEM. */
int lkc_send(struct lkc *c, const struct lk_msg *m);
void lkc_flush(struct lkc *c);

/* What status shows: the CPG view as corosync gave it and the last agreed configuration. */
struct lkc_view {
	uint32_t nmembers;
	lk_host_t members[LK_MAX_HOSTS];
	uint64_t ring;        /* last CONFCHG delivered, 0 before the first */
	bool quorate;         /* as in that CONFCHG */
	bool settling;        /* a configuration change waits for HELLOs */
	uint64_t totem_seq;
	uint32_t expected_votes, total_votes;
};
/* votes: also ask votequorum for expected and total votes (an IPC round trip). */
void lkc_view(const struct lkc *c, struct lkc_view *out, bool votes);

/* This host's corosync node id, without joining anything. 0 or -errno with err filled. */
int lkc_local_nodeid(lk_host_t *id, char *err, size_t errlen);

/* cmap readings that need no group. Each returns 0 or -errno with err filled. */
int lkc_cluster_name(char *buf, size_t len, char *err, size_t errlen);
int lkc_token_ms(uint32_t *ms, char *err, size_t errlen); /* runtime token timeout */
/* Name of node id from corosync's nodelist ("" when it has none). */
void lkc_node_name(lk_host_t id, char *buf, size_t len);

#endif

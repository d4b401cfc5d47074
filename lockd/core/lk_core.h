/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lk_core.h - the replicated lock state machine: the contract.
 *
 * Every member applies the same agreed messages in the same order to its own replica:
 *
 *     lk_apply(state, msg, fx) -> 0, state changed, effects appended to fx
 *
 * No I/O, no clock, no globals: time enters only as the sender's timestamp inside a
 * message (not as an argument of lk_apply: a replica's decision must not depend on when
 * it happens to apply a message), so every replica computes the same thing. Effects name the host that must act
 * (persist a lock-table entry then answer a client, drop an entry, fence handles, send a
 * snapshot...); each host's agent (lk_agent.h) executes the ones addressed to it.
 *
 * A refused request is not an error of lk_apply: it is a LK_FX_REPLY with a negative
 * code, and the state is unchanged. lk_apply itself fails only for -ENOMEM; the replica
 * may then be half-updated and must not be used again (lockd exits; the cluster treats
 * it as a departed host).
 *
 * Replies carry these codes:
 *   -EBUSY      another host holds the lock in a conflicting mode (fx names it), or a
 *               lock is held on a name above or below it (fx names that lock)
 *   -ENOTCONN   this partition is not quorate: it changes nothing
 *   -EAGAIN     the cluster is synchronising state or settling a departed host; retry
 *               when lk_state_grants_open() says so
 *   -ESTALE     the sender's incarnation is not the member the cluster knows (restarted,
 *               or its previous incarnation still awaits recovery)
 *   -ENOENT     release/rename/commit of something the sender does not hold / no such id
 *   -EEXIST     rename target is locked, or the file is already part of a handoff
 *   -ENOTEMPTY  rename of a directory with locked files inside
 *   -EINVAL     malformed request (mode, path, same source and destination, SH handoff)
 *   -EPERM      commit by another host than the source; abort by a third host
 *   -ECANCELED  commit of an aborted handoff;  -EALREADY  abort of a committed one
 *   -EHOSTDOWN  commit answered after the destination was recovered before confirming
 *   -EBUSY      also: a file in a pending handoff (acquire; release by its source)
 */
#ifndef VMFS_LK_CORE_H
#define VMFS_LK_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "handoff/ho_core.h"
#include "lockd/core/lk_types.h"

struct lk_state;

struct lk_member {
	lk_host_t host;
	uint64_t inc; /* incarnation: bumped at every start of that host's lockd */
};

/* A lock-table entry as read from a host's area on the volume (settle, recovery, cold start). */
enum lk_disk_state {
	LK_DISK_HELD = 1,
	LK_DISK_HANDOFF_OUT = 2,
	LK_DISK_HANDOFF_IN = 3,
};
struct lk_disk_lock {
	const char *path;
	enum lk_mode mode;
	enum lk_disk_state state;
	struct lk_gen gen;
	uint64_t handoff_id;
	uint64_t since_ms;
};

/* One host's area as the cold-start coordinator read it. */
#define LK_INC_UNKNOWN UINT64_MAX /* its heartbeat and table were unreadable */
struct lk_disk_host {
	lk_host_t host;
	uint64_t inc;       /* host_gen of its heartbeat (or of its table), or LK_INC_UNKNOWN */
	bool live;          /* heartbeat says LIVE (or is unreadable): the host may still run */
	bool complete;      /* every sector of its area decoded: locks is all it holds */
	uint64_t ring_seq;  /* ring its heartbeat last acknowledged */
	bool ring_quorate;
	const struct lk_disk_lock *locks;
	uint32_t nlocks;
};

/*
 * Quorum changes enter only as the quorate flag of a configuration change: a replica's
 * answers depend on it, so every member must switch at the same point of the agreed
 * order. vmfs-lockd pairs CPG's configuration with votequorum's notification of the same
 * ring id before it delivers LK_MSG_CONFCHG.
 */
enum lk_msg_type {
	LK_MSG_CONFCHG = 1, /* local, at each member's configuration change (and quorum) */
	LK_MSG_SYNC,        /* after a join: each member announces its state's age */
	LK_MSG_SNAPSHOT,    /* the member with the newest state sends it */
	LK_MSG_COLDSTART,   /* nobody has state: the coordinator's rebuild from the volume */
	LK_MSG_ACQUIRE,
	LK_MSG_RELEASE,
	LK_MSG_RENAME,
	LK_MSG_SETTLED,     /* a departed host's lock table, read once it can add nothing */
	LK_MSG_RECOVERED,   /* a departed host's lease expired; coordinator fenced and cleared it */
	LK_MSG_HO_PREPARE,
	LK_MSG_HO_COMMIT,
	LK_MSG_HO_ABORT,
	LK_MSG_HO_DURABLE,  /* the destination has the committed locks on disk */
};

struct lk_msg {
	enum lk_msg_type type;
	lk_host_t from;    /* sending host (corosync nodeid) */
	uint64_t from_inc; /* its incarnation */
	uint64_t req;      /* sender's request id, echoed in its reply */
	uint64_t wall_ms;  /* sender's wall clock: "since" of what this grants */
	union {
		struct {
			uint64_t ring;
			const struct lk_member *members;
			uint32_t nmembers;
			bool quorate;
		} confchg;
		struct {
			uint64_t ring;
			bool have_state;
			uint64_t lineage, seq;
			struct lk_gen gen_hwm; /* highest generation its replica has seen */
		} sync;
		struct {
			uint64_t ring;
			const struct lk_state *state;
			uint32_t epoch; /* 0, or a new epoch already written to the superblock, */
			const struct lk_disk_host *hosts; /* with the volume as read then */
			uint32_t nhosts;
		} snapshot;
		struct {
			uint64_t ring;
			uint32_t epoch; /* already written to the superblock */
			const struct lk_disk_host *hosts;
			uint32_t nhosts;
		} coldstart;
		struct {
			const char *path;
			enum lk_mode mode;
		} acquire;
		struct {
			const char *path;
		} release;
		struct {
			const char *from, *to;
		} rename;
		struct {
			lk_host_t host;
			uint64_t inc;
			const struct lk_disk_lock *locks;
			uint32_t nlocks;
			struct lk_gen gen_hwm; /* its heartbeat's highest generation seen */
		} settled, recovered; /* recovered: the table as read before clearing it */
		struct {
			lk_host_t to;
			const char *const *files;
			uint32_t nfiles;
		} ho_prepare;
		struct {
			uint64_t id;
		} ho; /* commit, abort, durable */
	} u;
};

enum lk_fx_type {
	LK_FX_REPLY = 1,    /* answer request req of host: rc, and for -EBUSY the holder */
	LK_FX_PERSIST,      /* host writes path into its own table (state, mode, gen), then
			     * answers req (if not 0): persist before use */
	LK_FX_UNPERSIST,    /* host removes path from its own table */
	LK_FX_REVOKE,       /* host lost path: fence its handles (lock moved or was recovered) */
	LK_FX_FREED,        /* path is free now: for lockd's clients waiting on it */
	LK_FX_SEND_SNAPSHOT,/* host sends its state as LK_MSG_SNAPSHOT for ring (under a new
			     * epoch when new_epoch: a member restarted, and the lineage its
			     * previous incarnation knew may be newer than any state present) */
	LK_FX_COLDSTART,    /* host (coordinator) rebuilds from the volume: LK_MSG_COLDSTART */
	LK_FX_GRANTS_OPEN,  /* requests refused with -EAGAIN may be retried now (the agent
			     * checks its deferred requests after every message anyway) */
};

struct lk_fx {
	enum lk_fx_type type;
	lk_host_t host;    /* the host that must act ... */
	uint64_t inc;      /* ... in this incarnation (0 for effects addressed to all) */
	uint64_t req;
	int rc;
	const char *path;     /* owned by the buffer: valid until lk_fxbuf_reset/free */
	const char *old_path; /* LK_FX_PERSIST of a rename: the entry to rewrite in place */
	enum lk_mode mode;
	enum lk_disk_state disk_state;
	struct lk_gen gen;
	uint64_t handoff_id;
	uint64_t ring;
	bool new_epoch;
	lk_host_t holder;  /* -EBUSY: one conflicting holder */
	enum lk_mode holder_mode;
	struct lk_gen holder_gen;
};

struct lk_fxbuf {
	struct lk_fx *fx;
	size_t n, cap;
	char **strs; /* copies of the paths the effects name */
	size_t nstrs, capstrs;
};
void lk_fxbuf_reset(struct lk_fxbuf *b);
void lk_fxbuf_free(struct lk_fxbuf *b);

/*
 * Decision points of the protocol, as one table. lk_rules_default is the protocol; the
 * simulator swaps single entries for deliberately broken ones to prove that its checker
 * catches each breakage. lockd always uses the default.
 */
struct lk_lock_view {
	lk_host_t host;
	uint64_t inc;
	enum lk_mode mode;
	struct lk_gen gen;
	bool orphan; /* holder's incarnation departed and is not recovered */
	uint64_t since_ms; /* wall clock of the grant, for admins */
};
struct lk_rules {
	/* May `mode` be granted next to these holders? */
	bool (*grantable)(const struct lk_lock_view *holders, size_t n, enum lk_mode mode);
	/* Does commit move file i of n? (all of them, always) */
	bool (*commit_moves)(uint32_t i, uint32_t n);
	/* May a granted lock be handed to clients? (only once persisted) */
	bool (*may_use)(bool persisted);
};
extern const struct lk_rules lk_rules_default;

/* A new empty replica for host `self` (no state yet: it syncs or cold-starts). NULL on ENOMEM. */
struct lk_state *lk_state_new(lk_host_t self, const struct lk_rules *rules);
struct lk_state *lk_state_clone(const struct lk_state *s);
void lk_state_free(struct lk_state *s);

int lk_apply(struct lk_state *s, const struct lk_msg *m, struct lk_fxbuf *fx);

/* Invariants of a replica, gathered (see lk_check.c). Returns NULL or what is broken. */
const char *lk_state_check(const struct lk_state *s);
/* True when a and b hold the same replicated content (ignores `self`). */
bool lk_state_equal(const struct lk_state *a, const struct lk_state *b);

/* --- queries (read-only) ------------------------------------------------------------ */
bool lk_state_have(const struct lk_state *s);       /* has state (synced or cold-started) */
bool lk_state_quorate(const struct lk_state *s);
bool lk_state_syncing(const struct lk_state *s);
bool lk_state_grants_open(const struct lk_state *s); /* quorate, synced, nothing unsettled */
uint64_t lk_state_ring(const struct lk_state *s);
uint32_t lk_state_epoch(const struct lk_state *s);
uint64_t lk_state_counter(const struct lk_state *s); /* last generation counter handed out */
uint64_t lk_state_lineage(const struct lk_state *s);
uint64_t lk_state_seq(const struct lk_state *s);
bool lk_state_is_member(const struct lk_state *s, lk_host_t h, uint64_t inc);
lk_host_t lk_state_coordinator(const struct lk_state *s); /* lowest member, 0 if none */

/* A departed incarnation whose locks are orphaned, for the coordinator to watch. */
struct lk_departed {
	lk_host_t host;
	uint64_t inc;
	uint64_t last_ring; /* last ring it shared with us: settled once its heartbeat is past it */
	bool unsettled;
};
size_t lk_state_departed(const struct lk_state *s, struct lk_departed *out, size_t max);
/* True while host h's previous incarnation awaits recovery (h must not write its area). */
bool lk_state_awaits_recovery(const struct lk_state *s, lk_host_t h);

/* Calls fn for every lock (path order) and each of its holders. */
typedef void (*lk_lock_fn)(void *arg, const char *path, const struct lk_lock_view *holders,
			   size_t n, uint64_t handoff_id);
void lk_state_foreach(const struct lk_state *s, lk_lock_fn fn, void *arg);
/* The holder entry of host h on path, or false. */
bool lk_state_holds(const struct lk_state *s, const char *path, lk_host_t h,
		    struct lk_lock_view *out);
/* Every holder of path into out (LK_MAX_HOSTS entries); how many. */
size_t lk_state_holders(const struct lk_state *s, const char *path, struct lk_lock_view *out);
/* The incarnation of member h, or 0 when h is no member. */
uint64_t lk_state_member_inc(const struct lk_state *s, lk_host_t h);
/* The pending or in-doubt handoff path is part of, or 0. */
uint64_t lk_state_handoff_of(const struct lk_state *s, const char *path);
size_t lk_state_nlocks(const struct lk_state *s);
size_t lk_state_nhandoffs(const struct lk_state *s);
const struct ho_rec *lk_state_handoff(const struct lk_state *s, size_t i);
const struct ho_rec *lk_state_handoff_by_id(const struct lk_state *s, uint64_t id);

const char *lk_msg_name(enum lk_msg_type t);
const char *lk_fx_name(enum lk_fx_type t);

#endif

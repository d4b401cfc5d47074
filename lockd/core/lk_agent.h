/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lk_agent.h - one host's side of the lock protocol, as a pure event machine.
 *
 * The agent owns this host's replica (lk_core.h), its lock table image, its lease
 * (lk_lease.h) and its local holds (client refcounts). It is driven by events: an agreed
 * message delivered, a disk I/O completed, a client request, a clock tick. It answers
 * with actions the driver carries out: multicast a message, write or read sectors,
 * answer a client, fence a file's handles. Time is an argument (monotonic ms), never read.
 *
 * vmfs-lockd drives it with corosync, libqb and O_DIRECT I/O; the simulator drives many
 * of them with a simulated transport, disk and clocks. What the agent guarantees:
 *   - a lock is in use (lk_agent_using) only after it is durable in this host's table
 *     and only while the lease admits writes' landing (now < deadline);
 *   - a released lock leaves the table durably before RELEASE is multicast;
 *   - its heartbeat acknowledges a configuration only after every table write requested
 *     before that configuration is durable (the settle rule, lk_apply.c);
 *   - it writes only its own area, and another host's only as recovery coordinator after
 *     that host's lease expired (lk_timing.h), with at most one such fence in flight per
 *     slot; an incarnation that never renewed a lease is recovered without any write
 *     (it never persisted anything; it asks for no lock before it has a lease);
 *   - past its deadline it fences itself (LK_ACT_FENCED) and must be restarted as a new
 *     incarnation;
 *   - it settles its own previous incarnation only on the driver's word that it is gone
 *     (cfg.prev_inc), with the table that incarnation left: what it used was persisted
 *     first, so the table shows all of it.
 */
#ifndef VMFS_LK_AGENT_H
#define VMFS_LK_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "lockd/core/lk_core.h"
#include "lockd/core/lk_lease.h"
#include "lockd/volume/vol.h"

struct lk_agent;

enum lk_isolation {
	LK_ISOLATION_KEEP = 0,  /* inquorate: keep what is held while the lease lives */
	LK_ISOLATION_FENCE = 1, /* inquorate past a grace: fence and let others recover */
};

struct lk_agent_cfg {
	lk_host_t host;
	uint64_t inc;
	struct lk_timing timing;
	enum lk_isolation isolation;
	uint32_t table_sectors;      /* this host's lock table, VOL_SLOTS_PER_SECTOR entries each */
	uint32_t handoff_timeout_ms; /* a prepared handoff not committed by then is aborted */
	const struct lk_rules *rules;
	/* This host's previous incarnation, when the driver knows it runs no more (its
	 * process is gone) and nothing it issued can land after prev_quiet_at (monotonic):
	 * the agent then settles it itself (LK_MSG_SETTLED from its own table) instead of
	 * the cluster waiting for its lease. 0: unknown, the lease decides. */
	uint64_t prev_inc;
	int64_t prev_quiet_at;
	struct lk_gen prev_gen_hwm; /* from its last heartbeat */
};

enum lk_act_type {
	LK_ACT_SEND = 1,     /* multicast msg (owned by the action) */
	LK_ACT_WRITE_HB,     /* write own heartbeat: hb */
	LK_ACT_WRITE_TABLE,  /* write own table sector `sector`: table */
	LK_ACT_WRITE_JOURNAL,/* write own journal sector `sector`: journal */
	LK_ACT_READ_HB,      /* read heartbeat of `host` -> lk_agent_read_hb_done */
	LK_ACT_READ_TABLE,   /* read every table sector of `host` -> lk_agent_read_table_done */
	LK_ACT_FENCE,        /* recovery of `host`: write hb (FENCED by us), then clear its
			      * table sectors -> lk_agent_io_done */
	LK_ACT_NEW_EPOCH,    /* read superblock and every area, write epoch + 1 to the
			      * superblock -> lk_agent_new_epoch_done */
	LK_ACT_REPLY,        /* answer client request `req`: rc, gen (ours, or with -EBUSY the
			      * holder's), handoff id, holder */
	LK_ACT_REVOKE,       /* handles on `path` must fail from now on */
	LK_ACT_FENCED,       /* this incarnation stopped: lease lost or isolation=fence */
	LK_ACT_VIOLATION,    /* a replica invariant broke: `why`; stop the host */
};

struct lk_act {
	enum lk_act_type type;
	uint64_t io;          /* I/O id to report back with */
	lk_host_t host;
	uint32_t sector;      /* table or journal sector number within the area */
	struct lk_msg *msg;   /* LK_ACT_SEND: built by lk_msg_dup */
	struct vol_heartbeat hb;
	struct vol_table table;
	struct vol_journal journal;
	uint64_t req;
	int rc;
	struct lk_gen gen;
	uint64_t handoff_id;
	lk_host_t holder;
	char path[LK_PATH_MAX + 1];
	const char *why;
};

/* Actions queue up in order; the driver takes up to max of them (oldest first) into out
 * and frees each with lk_act_free. Returns how many it took. */
size_t lk_agent_take(struct lk_agent *a, struct lk_act **out, size_t max);
void lk_act_free(struct lk_act *act);

/* NULL on ENOMEM. The agent starts without state; it syncs at its first confchg. */
struct lk_agent *lk_agent_new(const struct lk_agent_cfg *cfg);
void lk_agent_free(struct lk_agent *a);

/* --- events ------------------------------------------------------------------------ */
void lk_agent_deliver(struct lk_agent *a, const struct lk_msg *m, int64_t now, uint64_t wall_ms);
void lk_agent_tick(struct lk_agent *a, int64_t now, uint64_t wall_ms);
/* A write (hb, table, journal, fence) finished: rc 0 or -errno. */
void lk_agent_io_done(struct lk_agent *a, uint64_t io, int rc, int64_t now, uint64_t wall_ms);
/* rc < 0: the read failed or the sector did not decode (corrupt counts as unchanged). */
void lk_agent_read_hb_done(struct lk_agent *a, uint64_t io, int rc,
			   const struct vol_heartbeat *hb, int64_t now, uint64_t wall_ms);
/* locks: the HELD/HANDOFF entries found; complete: every sector decoded. */
void lk_agent_read_table_done(struct lk_agent *a, uint64_t io, int rc,
			      const struct lk_disk_lock *locks, uint32_t n, bool complete,
			      int64_t now, uint64_t wall_ms);
/* rc 0: epoch is the new epoch, already written to the superblock; hosts as read. */
void lk_agent_new_epoch_done(struct lk_agent *a, uint64_t io, int rc, uint32_t epoch,
			     const struct lk_disk_host *hosts, uint32_t nhosts, int64_t now,
			     uint64_t wall_ms);

/*
 * The driver read host's heartbeat on its own and has seen (host_gen, counter) since
 * first_seen: the completion, on this agent's clock, of the first read that returned it.
 * A recovery watch of that host starts from this observation instead of from scratch, so
 * a host that stopped renewing before it departed is recovered host_dead after it
 * stopped, not host_dead after it departed (lk_timing.h).
 */
void lk_agent_heartbeat_seen(struct lk_agent *a, lk_host_t host, uint64_t host_gen,
			     uint64_t counter, int64_t first_seen);

/* --- client requests: each is answered by one LK_ACT_REPLY with the same req -------- */
void lk_agent_acquire(struct lk_agent *a, uint64_t req, const char *path, enum lk_mode mode,
		      int64_t now, uint64_t wall_ms);
/* Drops one reference; the last one releases the lock. No reply. */
void lk_agent_release(struct lk_agent *a, const char *path, int64_t now, uint64_t wall_ms);
void lk_agent_rename(struct lk_agent *a, uint64_t req, const char *from, const char *to,
		     int64_t now, uint64_t wall_ms);
void lk_agent_ho_prepare(struct lk_agent *a, uint64_t req, lk_host_t to,
			 const char *const *files, uint32_t n, int64_t now, uint64_t wall_ms);
/* Stops this host's use of the handoff's files, then commits; answered once durable. */
void lk_agent_ho_commit(struct lk_agent *a, uint64_t req, uint64_t id, int64_t now,
			uint64_t wall_ms);
void lk_agent_ho_abort(struct lk_agent *a, uint64_t req, uint64_t id, int64_t now,
		       uint64_t wall_ms);

/* --- queries ------------------------------------------------------------------------ */
const struct lk_state *lk_agent_state(const struct lk_agent *a);
const struct lk_lease *lk_agent_lease(const struct lk_agent *a);
bool lk_agent_fenced(const struct lk_agent *a);
/* Is path in use here (clients may do I/O) at now? mode and gen of the hold. */
bool lk_agent_using(const struct lk_agent *a, const char *path, int64_t now,
		    enum lk_mode *mode, struct lk_gen *gen);
typedef void (*lk_use_fn)(void *arg, const char *path, enum lk_mode mode, struct lk_gen gen);
/* Calls fn for every path in use at now. */
void lk_agent_foreach_use(const struct lk_agent *a, int64_t now, lk_use_fn fn, void *arg);

/* Holds, table slots and sectors, for post-mortems and traces. */
void lk_agent_dump(const struct lk_agent *a, FILE *f);

/* Deep copy of a message (paths, arrays and snapshot state); NULL on ENOMEM. */
struct lk_msg *lk_msg_dup(const struct lk_msg *m);
void lk_msg_free(struct lk_msg *m);

#endif

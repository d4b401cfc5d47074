/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lkd.h - vmfs-lockd's context and the seams between its files.
 *
 *   lkd_main.c   options, vmfs.conf, start-up checks, the libqb main loop, signals,
 *                clean shutdown
 *   lkd_run.c    one incarnation: the pure agent (lockd/core/lk_agent.h) driven by the
 *                cluster transport (lockd/cluster), the disk executor and a tick; its
 *                actions carried out; fencing and re-incarnation
 *   lkd_io.c     the disk executor: worker threads doing O_DIRECT sector I/O for the
 *                agent, completions handed back to the main loop through a pipe
 *   lkd_view.c   what vmfsadm shows (status, hosts, locks) as JSON
 *   lockd/ipc/   the clients (libqb IPC): requests, waiting acquires, events
 *
 * Everything runs on the main loop's thread except the I/O workers, which touch only
 * their jobs. No globals: main() builds one struct lkd and passes it down.
 */
#ifndef VMFS_LKD_H
#define VMFS_LKD_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <qb/qbloop.h>

#include "lockd/client/vmfs_cpuid.h"
#include "lockd/conf/vmfs_conf.h"
#include "lockd/core/lk_agent.h"
#include "lockd/core/lk_lease.h"
#include "lockd/volume/vol_datastore.h"

struct lkc;
struct lkd_io;
struct lki;

/* The daemon's knowledge of one heartbeat slot, from its periodic scan of the volume. */
struct lkd_slot {
	int io_rc;               /* last read: 0 or -errno */
	int rc;                  /* last decode: 0 or VOL_E* */
	struct vol_heartbeat hb; /* valid when rc == 0 */
	struct lk_observer obs;  /* judged on our monotonic clock */
	int64_t changed_at;      /* monotonic ms when the counter was first seen */
	bool dead;               /* unchanged for host_dead */
};

struct lkd {
	struct vmfs_conf conf;
	qb_loop_t *loop;
	struct vol_handle vol;
	struct lk_timing timing;
	lk_host_t host;
	char hostname[VOL_NAME_MAX + 1];
	char cluster[VOL_NAME_MAX + 1];
	char group[128];
	uint8_t host_uuid[16];
	uint32_t token_ms;
	bool foreground;

	/* the current incarnation (lkd_run.c) */
	uint64_t inc;
	bool prev_gone;          /* the incarnation in our slot runs no more (pid file lock,
				  * or we ended it), and its writes land by prev_quiet_at */
	int64_t prev_quiet_at;
	uint64_t last_ring;
	struct lk_agent *agent;
	struct lkc *cl;
	bool fenced;             /* this incarnation stopped; a new one starts when it can */
	char fenced_why[160];
	qb_loop_timer_handle tick_timer;
	qb_loop_timer_handle restart_timer;
	bool restart_armed;
	int64_t deadline_sent;   /* lease deadline last told to clients */
	bool retry_waiters;      /* something was freed: waiting acquires try again */

	struct lkd_io *io;
	struct lki *ipc;
	struct lkc_info *info;   /* host info to and from the other hosts (lkc_info.h) */
	struct vmfs_cpuid cpuid; /* this host's CPU, read at start */

	struct lkd_slot slots[LK_MAX_HOSTS + 1];
	uint64_t evicted_inc[LK_MAX_HOSTS + 1]; /* incarnation we last asked to evict */
	bool scan_inflight;
	int64_t next_scan;

	bool stopping;           /* SIGTERM: releasing everything before exit */
	int64_t stop_deadline;
	int exit_code;
};

/* Monotonic and wall clock in ms: the only places lockd reads time. */
int64_t lkd_now(void);
uint64_t lkd_wall(void);

/* --- lkd_run.c ---------------------------------------------------------------------- */
/* Starts an incarnation (reads our heartbeat for the next host_gen, joins the group). */
int lkd_run_start(struct lkd *d, char *err, size_t errlen);
void lkd_run_stop(struct lkd *d);
/* Starts the periodic tick (agent clock, heartbeat scan, client timeouts). */
void lkd_run_tick_start(struct lkd *d);
/* Carries out every action the agent queued (call after each event fed to it). */
void lkd_run_actions(struct lkd *d);
/* Locks this host holds in the replica (clean shutdown waits for 0). */
size_t lkd_run_held(const struct lkd *d);
/* Writes our heartbeat CLEAN (only when nothing is held), synchronously. */
int lkd_run_mark_clean(struct lkd *d);

/* --- lkd_io.c ----------------------------------------------------------------------- */
/* Starts nthreads workers on d->vol. NULL on failure. */
struct lkd_io *lkd_io_start(struct lkd *d, int nthreads);
void lkd_io_stop(struct lkd_io *io);
/* Hands an agent disk action (LK_ACT_WRITE_*, READ_*, FENCE, NEW_EPOCH) to a worker;
 * the result reaches the agent of incarnation inc from the main loop. Takes x. */
void lkd_io_submit(struct lkd_io *io, struct lk_act *x, uint64_t inc);
/* Reads every heartbeat slot into d->slots (from the main loop when done). */
void lkd_io_scan(struct lkd_io *io);
/* The agent's jobs queued or running, of any incarnation. */
size_t lkd_io_agent_busy(const struct lkd_io *io);
/* The live incarnation (0 between incarnations) and its lease deadline (0: none): a
 * worker issues a queued write only if it is this incarnation's and may still land
 * before the deadline. */
void lkd_io_set_live(struct lkd_io *io, uint64_t inc, int64_t deadline);

/* --- lkd_view.c --------------------------------------------------------------------- */
json_t *lkd_view_status(struct lkd *d);
json_t *lkd_view_hosts(struct lkd *d);
json_t *lkd_view_locks(struct lkd *d, const char *path);
/* Handoff id as the replica knows it: state (pending, committed, aborted, unknown),
 * source, destination, files and their holders. NULL on ENOMEM. */
json_t *lkd_view_handoff(struct lkd *d, uint64_t id);
/* This host's info as published to the others: { host, hostname, cpuid, vmfsd }. */
json_t *lkd_host_info(struct lkd *d);
/* Host h's info (this host's, or the last h published); JSON null when none. */
json_t *lkd_view_hostinfo(struct lkd *d, lk_host_t h);
/* The name host h goes by: its heartbeat's hostname, else corosync's node name. */
const char *lkd_host_name(const struct lkd *d, lk_host_t h, char *buf, size_t len);
/* Feeds a heartbeat scan result into the slot's observer. */
void lkd_view_slot_seen(struct lkd *d, lk_host_t h, int io_rc, int rc,
			const struct vol_heartbeat *hb);

#endif

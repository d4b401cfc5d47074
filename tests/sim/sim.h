/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sim.h - the deterministic multi-host simulator: N hosts, each running the real lock
 * agent (lockd/core/lk_agent.h) with its real replica, over a simulated agreed-order
 * transport (sim_net.c), a simulated shared disk holding real encoded sectors
 * (sim_disk.c) and one drifting clock per host, driven by a random workload and random
 * faults (sim_workload.c), with the safety invariants checked after every event
 * (sim_check.c). One run is one seed; everything is a function of it.
 *
 *   sim_main.c      command line, runs, workers, the final "runs=N violations=V" line
 *   sim_world.c     the event loop, hosts (start, crash, pause, restart), agent actions
 *   sim_net.c       configurations (rings), cuts at partitions, per-host delivery order
 *   sim_disk.c      sectors, latency, errors, torn and lost writes, who wrote what when
 *   sim_check.c     invariants 1-6
 *   sim_workload.c  clients (acquire, release, rename, handoff) and the fault schedule
 *   sim_plant.c     deliberately broken rules, to prove the checker bites
 */
#ifndef VMFS_SIM_H
#define VMFS_SIM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "lockd/core/lk_agent.h"
#include "lockd/volume/vol.h"

#define SIM_MAX_HOSTS 64
#define SIM_TABLE_SECTORS 2
#define SIM_PATHS 8

/* --- randomness ------------------------------------------------------------------------ */
struct sim_rng {
	uint64_t s;
};
uint64_t sim_rand(struct sim_rng *r);
/* uniform in [lo, hi] */
int64_t sim_range(struct sim_rng *r, int64_t lo, int64_t hi);
bool sim_chance(struct sim_rng *r, unsigned percent);

/* --- events ------------------------------------------------------------------------------ */
enum sim_ev_type {
	EV_DELIVER = 1, /* host's next delivery item */
	EV_TICK,        /* host's agent timer */
	EV_IO,          /* a disk operation completes (lands, answers) */
	EV_WORK,        /* host's client does something */
	EV_FAULT,       /* the fault schedule acts */
	EV_RESTART,     /* a crashed host comes back */
	EV_RESUME,      /* a paused host continues */
	EV_HO_STEP,     /* commit or abort a prepared handoff */
	EV_IOCB,        /* the host learns how a disk operation went */
};

struct sim_ev {
	int64_t t;     /* real time, us */
	uint64_t seq;  /* tie-break: order of scheduling */
	enum sim_ev_type type;
	int host;      /* 1-based */
	uint64_t inc;  /* host incarnation the event belongs to (stale ones are dropped) */
	void *p;       /* type-specific */
	uint64_t u;
};

/* --- transport ---------------------------------------------------------------------------- */
struct sim_ring {
	uint64_t id;
	bool quorate;
	int nmembers;
	int members[SIM_MAX_HOSTS];
	uint64_t incs[SIM_MAX_HOSTS];
	struct lk_msg **log;
	size_t nlog, caplog;
};

struct sim_item {           /* one thing a host will deliver, in order */
	struct sim_ring *ring;
	bool confchg;
	size_t idx;             /* message index in ring->log */
	bool cancelled;
	int64_t t;
};

/* --- disk ----------------------------------------------------------------------------------- */
struct sim_write {
	uint64_t idx;
	uint8_t *buf;
};

struct sim_io {
	int host;
	uint64_t inc;
	struct lk_act *act;      /* the agent's request, owned */
	int nwrites;
	struct sim_write w[1 + SIM_TABLE_SECTORS];
	int rc;
	bool torn;               /* lands half-written (crash) */
	bool lost;               /* never lands (crash) */
	int64_t issued;
};

struct sim_disk {
	struct vol_geom g;
	uint64_t nsectors;
	uint8_t *bytes;          /* nsectors * sector_size */
	/* decoded shadow of every table sector, refreshed at each landing */
	struct vol_table *tables; /* [host-1][t] */
	bool *table_ok;
	int *last_writer;        /* per sector */
	uint64_t *last_writer_inc;
	int64_t *foreign_at;     /* per host area: last landing by another host */
	uint32_t super_epoch;
};

/* --- hosts ---------------------------------------------------------------------------------- */
enum sim_hstate { HS_UP, HS_PAUSED, HS_DOWN };

struct sim_ghost {           /* a crashed host's uses: I/O may land until its deadline */
	char path[LK_PATH_MAX + 1];
	enum lk_mode mode;
	struct lk_gen gen;
	int64_t until;           /* real us */
};

struct sim_client_hold {
	char path[LK_PATH_MAX + 1];
	uint32_t refs;
};

struct sim_pending_ho {
	uint64_t id;
	bool active;
};

struct sim_host {
	int id;
	enum sim_hstate st;
	uint64_t inc;
	struct lk_agent *agent;
	int64_t clk_offset;      /* us */
	int32_t drift_ppm;
	int comp;                /* partition label */
	struct sim_ring *ring;   /* ring the world last formed with this host */
	struct sim_ring *dl_ring;/* ring of the last item delivered */
	size_t dl_next;          /* messages of dl_ring delivered */
	int64_t last_item_t;
	struct sim_item **q;     /* undelivered items, in order */
	size_t nq, capq;
	struct sim_ev *deferred; /* events that arrived while paused */
	size_t ndef, capdef;
	int64_t disk_bad_until;  /* real us: this host's I/O fails until then */
	int64_t deadline_real;   /* max lease deadline of any incarnation, real us */
	uint64_t fenced_inc;     /* incarnation whose area another host wrote */
	struct sim_ghost *ghosts;
	size_t nghosts;
	struct sim_client_hold holds[SIM_PATHS * 2];
	size_t nholds;
	struct sim_pending_ho ho[4];
	uint64_t next_req;
	uint64_t pending[256];   /* client requests not answered yet (each exactly once) */
	size_t npending;
	bool untracked;          /* pending overflowed: unknown answers are not judged */
	uint64_t last_epoch, last_counter; /* replica generation, for invariant 2 */
	struct lk_observer seen[SIM_MAX_HOSTS + 1]; /* like lockd's own scan of every slot, */
	int64_t next_scan;       /* fed to the agent (lk_agent_heartbeat_seen); local ms */
	int64_t crashed_at;      /* real us of the last crash, 0 if none: the restarted
				  * incarnation settles that one itself (lk_agent_cfg.prev_inc) */
};

/* --- the world ------------------------------------------------------------------------------ */
struct sim_cfg {
	uint64_t seed;
	int hosts;
	bool trace;
	const struct lk_rules *rules;
	int64_t work_us;         /* workload phase */
	int64_t quiesce_us;      /* healing phase before the final checks */
};

struct sim_use_rec {         /* latest-generation use seen per path, for invariant 2 */
	char path[LK_PATH_MAX + 1];
	int host;
	enum lk_mode mode;
	struct lk_gen gen;
};

/* What one run found: violations in all, by invariant (0: a replica's own), the first. */
#define SIM_KINDS 7
struct sim_result {
	unsigned violations;
	unsigned by_kind[SIM_KINDS];
	char first[512];
};

struct sim_world {
	struct sim_cfg cfg;
	struct sim_rng rng;
	int64_t now;
	uint64_t seq;
	struct sim_ev *heap;
	size_t nheap, capheap;
	struct sim_host h[SIM_MAX_HOSTS + 1];
	struct sim_disk disk;
	uint64_t ring_counter;
	struct sim_ring **rings;
	size_t nrings, caprings;
	bool working;            /* workload and faults still active */
	struct sim_result res;
	struct sim_use_rec uses[64];
	size_t nuses;
	uint64_t events;
};

/* sim_world.c */
int sim_run(const struct sim_cfg *cfg, struct sim_result *res);
void sim_schedule(struct sim_world *w, int64_t t, enum sim_ev_type type, int host, void *p,
		  uint64_t u);
int64_t sim_local_us(const struct sim_host *h, int64_t real);
int64_t sim_real_us(const struct sim_host *h, int64_t local);
int64_t sim_local_ms(const struct sim_host *h, int64_t real);
uint64_t sim_wall_ms(const struct sim_world *w);
void sim_violation(struct sim_world *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void sim_trace(struct sim_world *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sim_crash(struct sim_world *w, int host, bool restart);
void sim_pause(struct sim_world *w, int host, int64_t dur);
void sim_host_events(struct sim_world *w, int host);

/* sim_net.c */
void sim_net_reconfigure(struct sim_world *w);
void sim_net_send(struct sim_world *w, int host, struct lk_msg *m);
void sim_net_deliver(struct sim_world *w, int host, struct sim_item *it);
void sim_net_drop_host(struct sim_world *w, int host);
void sim_net_free(struct sim_world *w);

/* sim_disk.c */
int sim_disk_init(struct sim_world *w);
void sim_disk_free(struct sim_disk *d);
void sim_disk_submit(struct sim_world *w, int host, struct lk_act *act);
void sim_disk_complete(struct sim_world *w, struct sim_io *io);
void sim_disk_callback(struct sim_world *w, struct sim_io *io);
void sim_disk_io_free(struct sim_io *io);
void sim_disk_crash(struct sim_world *w, int host);
/* Decodes host's heartbeat sector as it lies on the disk now; 0 or a VOL_E* code. */
int sim_disk_heartbeat(struct sim_world *w, lk_host_t host, struct vol_heartbeat *out);

/* sim_check.c */
#define SIM_PRE_HO 64
struct sim_check_pre {       /* a replica just before it applies a message */
	bool have;
	uint32_t epoch;
	uint64_t counter;
	uint64_t ho[SIM_PRE_HO]; /* pending or in-doubt handoffs */
	size_t nho;
};
void sim_check_pre(struct sim_world *w, int host, struct sim_check_pre *pre);
void sim_check_post(struct sim_world *w, int host, const struct sim_check_pre *pre,
		    const struct lk_msg *m);
void sim_check_step(struct sim_world *w);
void sim_check_ghosts(struct sim_world *w, int host);
void sim_check_final(struct sim_world *w);
/* A write of writer landed on sector idx; fenced_inc: the incarnation a recovery fences. */
void sim_check_landing(struct sim_world *w, int writer, uint64_t writer_inc, uint64_t idx,
		       uint64_t fenced_inc);

/* sim_workload.c */
void sim_work_start(struct sim_world *w);
void sim_work_start_host(struct sim_world *w, int host);
void sim_work_event(struct sim_world *w, int host);
void sim_fault_event(struct sim_world *w);
void sim_ho_step(struct sim_world *w, int host, uint64_t id);
void sim_work_reply(struct sim_world *w, int host, const struct lk_act *x);
void sim_work_revoke(struct sim_world *w, int host, const char *path);
void sim_work_release_all(struct sim_world *w, int host);

/* sim_plant.c */
const struct lk_rules *sim_plant(const char *name);
const char *sim_plant_names(void);

#endif

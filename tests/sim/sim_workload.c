/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sim_workload.c - what the hosts' clients do (open VM files in their modes, close them,
 * rename them, migrate VMs with a handoff) and the fault schedule (partitions, merges,
 * crashes and restarts, whole-cluster crashes, long and short pauses, disk errors).
 * Once the workload stops, clients only let go of what they still hold.
 */
#include <string.h>

#include "tests/sim/sim.h"

static const struct {
	const char *path, *renamed;
	enum lk_mode mode;
} files[SIM_PATHS] = {
	{ "vm1/disk.img", "vm1/disk-old.img", LK_MODE_EX },
	{ "vm1/vm.cfg", "vm1/vm.cfg~", LK_MODE_EX },
	{ "vm2/disk.img", "vm2/disk-old.img", LK_MODE_EX },
	{ "vm2/vm.cfg", "vm2/vm.cfg~", LK_MODE_EX },
	{ "vm3/disk.img", "vm3/disk-old.img", LK_MODE_EX },
	{ "base/debian.img", "base/debian-old.img", LK_MODE_SH },
	{ "shared/quorum.img", "shared/quorum-old.img", LK_MODE_MW },
	{ "iso/install.iso", "iso/install-old.iso", LK_MODE_SH },
};

/* Client request ids: sequence << 8 | kind << 5 | file index (renamed name: +16). */
enum { K_ACQUIRE = 1, K_RENAME, K_PREPARE, K_COMMIT, K_ABORT };

/* A new client request id, remembered until its one answer arrives. */
static uint64_t req_id(struct sim_host *h, unsigned kind, unsigned file)
{
	uint64_t id = (++h->next_req << 8) | (kind << 5) | file;

	if (h->npending < sizeof(h->pending) / sizeof(h->pending[0]))
		h->pending[h->npending++] = id;
	else
		h->untracked = true;
	return id;
}

/* The answer to request id: false if it was not outstanding (answered twice, or never
 * asked), unless some request could not be tracked. */
static bool answered(struct sim_host *h, uint64_t id)
{
	for (size_t i = 0; i < h->npending; i++)
		if (h->pending[i] == id) {
			h->pending[i] = h->pending[--h->npending];
			return true;
		}
	return h->untracked;
}

static const char *file_name(unsigned f)
{
	return f & 16 ? files[f & 15].renamed : files[f & 15].path;
}

static struct sim_client_hold *client_hold(struct sim_host *h, const char *path, bool create)
{
	for (size_t i = 0; i < h->nholds; i++)
		if (strcmp(h->holds[i].path, path) == 0)
			return &h->holds[i];
	if (!create || h->nholds == sizeof(h->holds) / sizeof(h->holds[0]))
		return NULL;
	snprintf(h->holds[h->nholds].path, sizeof(h->holds[0].path), "%s", path);
	h->holds[h->nholds].refs = 0;
	return &h->holds[h->nholds++];
}

static void client_drop(struct sim_host *h, struct sim_client_hold *c)
{
	*c = h->holds[--h->nholds];
}

static int random_up(struct sim_world *w, int except)
{
	int c[SIM_MAX_HOSTS], n = 0;

	for (int i = 1; i <= w->cfg.hosts; i++)
		if (w->h[i].st == HS_UP && i != except)
			c[n++] = i;
	return n ? c[sim_rand(&w->rng) % (uint64_t)n] : 0;
}

void sim_work_start_host(struct sim_world *w, int host)
{
	sim_schedule(w, w->now + sim_range(&w->rng, 1000, 50000), EV_WORK, host, NULL, 0);
}

void sim_work_start(struct sim_world *w)
{
	for (int i = 1; i <= w->cfg.hosts; i++)
		sim_work_start_host(w, i);
	sim_schedule(w, w->now + sim_range(&w->rng, 200000, 2000000), EV_FAULT, 0, NULL, 0);
}

static void release_one(void *arg, const char *path, enum lk_mode mode, struct lk_gen gen)
{
	struct sim_world *w = ((void **)arg)[0];
	int host = *(int *)((void **)arg)[1];
	struct sim_host *h = &w->h[host];
	char p[LK_PATH_MAX + 1];

	(void)mode;
	(void)gen;
	snprintf(p, sizeof(p), "%s", path); /* the hold may go away under us */
	lk_agent_release(h->agent, p, sim_local_ms(h, w->now), sim_wall_ms(w));
}

/* Clients let go of everything: every reference the agent still counts. */
void sim_work_release_all(struct sim_world *w, int host)
{
	struct sim_host *h = &w->h[host];
	void *arg[2] = { w, &host };

	for (int round = 0; round < 64 && h->agent; round++)
		lk_agent_foreach_use(h->agent, sim_local_ms(h, w->now), release_one, arg);
	h->nholds = 0;
	sim_host_events(w, host);
}

static void do_handoff(struct sim_world *w, int host)
{
	struct sim_host *h = &w->h[host];
	const char *sel[3];
	uint32_t n = 0;
	int to = random_up(w, host);

	if (!to)
		return;
	for (size_t i = 0; i < h->nholds && n < 3; i++) {
		enum lk_mode mode;

		if (lk_agent_using(h->agent, h->holds[i].path, sim_local_ms(h, w->now), &mode, NULL) &&
		    mode != LK_MODE_SH)
			sel[n++] = h->holds[i].path;
	}
	if (!n)
		return;
	sim_trace(w, "host %d prepares a handoff of %u file(s) to host %d", host, n, to);
	lk_agent_ho_prepare(h->agent, req_id(h, K_PREPARE, 0), (lk_host_t)to, sel, n,
			    sim_local_ms(h, w->now), sim_wall_ms(w));
}

/* A file closed and opened again at once (its release may not even be sent yet), on one
 * last close in four. */
static void reopen_soon(struct sim_world *w, int host, const char *path)
{
	struct sim_host *h = &w->h[host];

	if (!sim_chance(&w->rng, 25))
		return;
	for (unsigned f = 0; f < 2 * SIM_PATHS; f++) {
		unsigned src = f < SIM_PATHS ? f : (f - SIM_PATHS) | 16;

		if (strcmp(file_name(src), path) != 0)
			continue;
		sim_trace(w, "host %d client opens %s again at once", host, path);
		lk_agent_acquire(h->agent, req_id(h, K_ACQUIRE, src), path, files[src & 15].mode,
				 sim_local_ms(h, w->now), sim_wall_ms(w));
		return;
	}
}

void sim_work_event(struct sim_world *w, int host)
{
	struct sim_host *h = &w->h[host];
	int64_t now = sim_local_ms(h, w->now);
	unsigned roll = (unsigned)(sim_rand(&w->rng) % 100);

	if (!w->working) {
		sim_work_release_all(w, host);
		sim_schedule(w, w->now + 1000000, EV_WORK, host, NULL, 0);
		return;
	}
	if (roll < 40) {
		unsigned f = (unsigned)(sim_rand(&w->rng) % SIM_PATHS) | (sim_chance(&w->rng, 15) ? 16 : 0);

		sim_trace(w, "host %d client opens %s", host, file_name(f));
		lk_agent_acquire(h->agent, req_id(h, K_ACQUIRE, f), file_name(f), files[f & 15].mode,
				 now, sim_wall_ms(w));
	} else if (roll < 75 && h->nholds) {
		struct sim_client_hold *c = &h->holds[sim_rand(&w->rng) % h->nholds];

		sim_trace(w, "host %d client closes %s", host, c->path);
		lk_agent_release(h->agent, c->path, now, sim_wall_ms(w));
		if (--c->refs == 0) {
			reopen_soon(w, host, c->path);
			client_drop(h, c);
		}
	} else if (roll < 83 && h->nholds) {
		struct sim_client_hold *c = &h->holds[sim_rand(&w->rng) % h->nholds];

		for (unsigned f = 0; f < 2 * SIM_PATHS; f++) {
			unsigned src = f < SIM_PATHS ? f : (f - SIM_PATHS) | 16;

			if (strcmp(file_name(src), c->path) != 0 || files[src & 15].mode != LK_MODE_EX)
				continue;
			sim_trace(w, "host %d renames %s", host, c->path);
			lk_agent_rename(h->agent, req_id(h, K_RENAME, src ^ 16), c->path,
					file_name(src ^ 16), now, sim_wall_ms(w));
			break;
		}
	} else if (roll < 93) {
		do_handoff(w, host);
	}
	sim_schedule(w, w->now + sim_range(&w->rng, 5000, 100000), EV_WORK, host, NULL, 0);
}

void sim_ho_step(struct sim_world *w, int host, uint64_t id)
{
	struct sim_host *h = &w->h[host];
	int64_t now = sim_local_ms(h, w->now);

	if (w->working && sim_chance(&w->rng, 75)) {
		sim_trace(w, "host %d commits handoff %llx", host, (unsigned long long)id);
		lk_agent_ho_commit(h->agent, req_id(h, K_COMMIT, 0), id, now, sim_wall_ms(w));
	} else {
		sim_trace(w, "host %d aborts handoff %llx", host, (unsigned long long)id);
		lk_agent_ho_abort(h->agent, req_id(h, K_ABORT, 0), id, now, sim_wall_ms(w));
	}
}

void sim_work_reply(struct sim_world *w, int host, const struct lk_act *x)
{
	struct sim_host *h = &w->h[host];
	unsigned kind = (unsigned)(x->req >> 5) & 7, f = (unsigned)x->req & 31;
	struct sim_client_hold *c;

	sim_trace(w, "host %d client request %llx answered: %d", host,
		  (unsigned long long)x->req, x->rc);
	if (!answered(h, x->req))
		sim_violation(w, "[4] host %d: client request %llx answered twice or unasked",
			      host, (unsigned long long)x->req);
	if (x->rc < 0)
		return;
	switch (kind) {
	case K_ACQUIRE:
		if (!w->working) {
			lk_agent_release(h->agent, file_name(f), sim_local_ms(h, w->now),
					 sim_wall_ms(w));
			break;
		}
		c = client_hold(h, file_name(f), true);
		if (c)
			c->refs++;
		break;
	case K_RENAME:
		c = client_hold(h, file_name(f ^ 16), false);
		if (c)
			snprintf(c->path, sizeof(c->path), "%s", file_name(f));
		break;
	case K_PREPARE:
		sim_schedule(w, w->now + sim_range(&w->rng, 1000, 7000000), EV_HO_STEP, host, NULL,
			     x->handoff_id);
		break;
	default:
		break;
	}
}

void sim_work_revoke(struct sim_world *w, int host, const char *path)
{
	struct sim_client_hold *c = client_hold(&w->h[host], path, false);

	if (c)
		client_drop(&w->h[host], c);
}

void sim_fault_event(struct sim_world *w)
{
	unsigned roll = (unsigned)(sim_rand(&w->rng) % 100);
	int victim = random_up(w, 0);

	if (!w->working)
		return;
	if (roll < 15) {
		sim_trace(w, "fault: partition");
		for (int i = 1; i <= w->cfg.hosts; i++)
			w->h[i].comp = (int)(sim_rand(&w->rng) % 2);
		sim_net_reconfigure(w);
	} else if (roll < 35) {
		sim_trace(w, "fault: partitions merge");
		for (int i = 1; i <= w->cfg.hosts; i++)
			w->h[i].comp = 0;
		sim_net_reconfigure(w);
	} else if (roll < 50 && victim) {
		sim_crash(w, victim, true);
	} else if (roll < 53) {
		sim_trace(w, "fault: every host crashes");
		for (int i = 1; i <= w->cfg.hosts; i++)
			sim_crash(w, i, true);
	} else if (roll < 63 && victim) {
		sim_pause(w, victim, sim_chance(&w->rng, 50) ? sim_range(&w->rng, 50000, 3000000)
							    : sim_range(&w->rng, 11000000, 16000000));
	} else if (roll < 73 && victim) {
		int64_t dur = sim_chance(&w->rng, 50) ? sim_range(&w->rng, 500000, 3000000)
						       : sim_range(&w->rng, 9000000, 14000000);

		sim_trace(w, "fault: host %d loses its disk for %.3fs", victim, (double)dur / 1e6);
		w->h[victim].disk_bad_until = w->now + dur;
	}
	sim_schedule(w, w->now + sim_range(&w->rng, 1000000, 4000000), EV_FAULT, 0, NULL, 0);
}

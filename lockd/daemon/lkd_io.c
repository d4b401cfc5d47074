/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lkd_io.c - the disk executor of vmfs-lockd: worker threads carry out the agent's
 * sector I/O with O_DIRECT on the lock volume, so a slow or hung disk never stalls the
 * main loop (corosync, clients, the lease clock keep running). A finished job goes back
 * through a pipe; the main loop decodes nothing, it only feeds the result to the agent
 * of the incarnation that asked (a job of an older incarnation is dropped).
 *
 * The agent keeps at most one write in flight per sector and one heartbeat write, so
 * workers may finish in any order. Encoding happens in the worker (CRC32C of a 4 KiB
 * sector), decoding too (a table or a whole volume at cold start).
 *
 * Sections: jobs · the work of each kind · the queue and its workers · completions.
 */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <qb/qblog.h>

#include "lockd/daemon/lkd.h"

/* --- jobs --------------------------------------------------------------------------- */

enum job_kind { JOB_AGENT, JOB_SCAN };

struct job {
	enum job_kind kind;
	uint64_t inc;
	struct lk_act *act;
	int rc;
	/* READ_HB */
	struct vol_heartbeat hb;
	/* READ_TABLE / NEW_EPOCH: decoded locks; paths point into tables */
	struct vol_table *tables;
	size_t ntables;
	struct lk_disk_lock *locks;
	uint32_t nlocks;
	bool complete;
	struct lk_disk_host *hosts;
	uint32_t nhosts;
	uint32_t epoch;
	/* SCAN */
	int scan_io[LK_MAX_HOSTS + 1]; /* -errno of the read */
	int scan_rc[LK_MAX_HOSTS + 1]; /* VOL_E* of the decode */
	struct vol_heartbeat scan_hb[LK_MAX_HOSTS + 1];
	struct job *next;
};

struct lkd_io {
	struct lkd *d;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *head, *tail;
	bool stop;
	size_t agent_busy; /* the agent's jobs queued or running (any incarnation) */
	/* Published by the main loop, read by the workers just before a write: the live
	 * incarnation (0 between incarnations) and its lease deadline (0: none yet). */
	_Atomic uint64_t live_inc;
	_Atomic int64_t deadline;
	int pipefd[2];
	pthread_t *threads;
	int nthreads;
};

static void job_free(struct job *j)
{
	if (j->act)
		lk_act_free(j->act);
	free(j->tables);
	free(j->locks);
	free(j->hosts);
	free(j);
}

/* --- work ------------------------------------------------------------------------------- */

static int write_one(struct lkd_io *io, uint64_t idx, const void *buf)
{
	return io->d->vol.dev.ops->write(&io->d->vol.dev, idx, 1, buf);
}

static void fill_hb(struct lkd_io *io, struct vol_heartbeat *hb)
{
	memcpy(hb->host_uuid, io->d->host_uuid, sizeof(hb->host_uuid));
	snprintf(hb->hostname, sizeof(hb->hostname), "%s", io->d->hostname);
}

static enum lk_disk_state disk_state(enum vol_entry_state s)
{
	return s == VOL_E_HANDOFF_OUT ? LK_DISK_HANDOFF_OUT :
	       s == VOL_E_HANDOFF_IN ? LK_DISK_HANDOFF_IN : LK_DISK_HELD;
}

/*
 * Reads host h's table sectors into j->tables[base..] and appends their entries to
 * j->locks. held_only: cold start keeps HELD and HANDOFF_OUT entries as held (the
 * rebuild treats a prepared handoff as not happened). Returns 0 or -errno;
 * *complete false when a sector did not decode.
 */
static int read_table(struct lkd_io *io, struct job *j, lk_host_t h, size_t base, bool held_only,
		      bool *complete, uint32_t *nlocks)
{
	const struct vol_geom *g = &io->d->vol.super.geom;
	uint8_t *buf = vol_alloc_sectors(g->sector_size, g->table_sectors);
	int rc;

	*complete = true;
	*nlocks = 0;
	if (!buf)
		return -ENOMEM;
	rc = io->d->vol.dev.ops->read(&io->d->vol.dev, vol_table_index(g, h, 0), g->table_sectors,
				      buf);
	for (uint32_t t = 0; !rc && t < g->table_sectors; t++) {
		struct vol_table *tab = &j->tables[base + t];
		uint64_t idx = vol_table_index(g, h, t);

		if (vol_decode_table(g, idx, buf + (size_t)t * g->sector_size, tab) < 0) {
			*complete = false;
			memset(tab, 0, sizeof(*tab));
			continue;
		}
		for (uint32_t e = 0; e < VOL_SLOTS_PER_SECTOR; e++) {
			const struct vol_entry *v = &tab->e[e];

			if (v->state == VOL_E_FREE || v->state == VOL_E_INTENT)
				continue;
			if (held_only && v->state == VOL_E_HANDOFF_IN)
				continue;
			j->locks[j->nlocks++] = (struct lk_disk_lock){
				.path = v->path, .mode = v->mode,
				.state = held_only ? LK_DISK_HELD : disk_state(v->state),
				.gen = v->gen, .handoff_id = v->handoff_id, .since_ms = v->since_ms };
			(*nlocks)++;
		}
	}
	free(buf);
	return rc;
}

static int alloc_tables(struct job *j, size_t nsectors)
{
	j->tables = calloc(nsectors ? nsectors : 1, sizeof(*j->tables));
	j->locks = calloc(nsectors * VOL_SLOTS_PER_SECTOR + 1, sizeof(*j->locks));
	j->ntables = nsectors;
	return j->tables && j->locks ? 0 : -ENOMEM;
}

/* 0 and *dec = 0 or the VOL_E* code of the decode; or -errno of the read. */
static int read_hb(struct lkd_io *io, lk_host_t h, struct vol_heartbeat *out, int *dec)
{
	const struct vol_geom *g = &io->d->vol.super.geom;
	uint8_t *buf = vol_alloc_sectors(g->sector_size, 1);
	int rc;

	*dec = 0;
	if (!buf)
		return -ENOMEM;
	rc = io->d->vol.dev.ops->read(&io->d->vol.dev, vol_hb_index(g, h), 1, buf);
	if (!rc)
		*dec = vol_decode_heartbeat(g, vol_hb_index(g, h), buf, out);
	free(buf);
	return rc;
}

/* Cold start: a new epoch in the superblock, and every used host area as read. */
static int new_epoch(struct lkd_io *io, struct job *j)
{
	const struct vol_geom *g = &io->d->vol.super.geom;
	uint8_t *buf = vol_alloc_sectors(g->sector_size, 1);
	struct vol_super s;
	int rc;

	if (!buf)
		return -ENOMEM;
	rc = io->d->vol.dev.ops->read(&io->d->vol.dev, 0, 1, buf);
	if (!rc && vol_decode_super(buf, g->sector_size, g->uuid, &s) < 0)
		rc = -EBADMSG;
	if (!rc)
		rc = alloc_tables(j, (size_t)g->max_hosts * g->table_sectors);
	if (!rc)
		j->hosts = calloc(g->max_hosts, sizeof(*j->hosts));
	if (!rc && !j->hosts)
		rc = -ENOMEM;
	for (lk_host_t h = 1; !rc && h <= g->max_hosts; h++) {
		struct lk_disk_host *dh = &j->hosts[j->nhosts];
		struct vol_heartbeat hb;
		int dec;
		bool hb_ok = read_hb(io, h, &hb, &dec) == 0 && dec == 0, complete;
		uint32_t first = j->nlocks, n;
		size_t base = (size_t)(h - 1) * g->table_sectors;

		if (hb_ok && hb.state == VOL_HB_UNUSED)
			continue;
		*dh = (struct lk_disk_host){ .host = h, .inc = hb_ok ? hb.host_gen : LK_INC_UNKNOWN,
					     .live = !hb_ok || hb.state == VOL_HB_LIVE,
					     .ring_seq = hb_ok ? hb.ring_seq : 0,
					     .ring_quorate = hb_ok && hb.ring_quorate };
		rc = read_table(io, j, h, base, true, &complete, &n);
		dh->complete = hb_ok && complete;
		if (!hb_ok && j->tables[base].host_gen)
			dh->inc = j->tables[base].host_gen;
		dh->locks = &j->locks[first];
		dh->nlocks = n;
		j->nhosts++;
	}
	if (!rc) {
		s.epoch++;
		vol_encode_super(&s, buf);
		rc = write_one(io, 0, buf);
		j->epoch = s.epoch;
	}
	free(buf);
	return rc;
}

static int fence(struct lkd_io *io, struct lk_act *x)
{
	const struct vol_geom *g = &io->d->vol.super.geom;
	uint8_t *buf = vol_alloc_sectors(g->sector_size, g->table_sectors);
	struct vol_table empty = { .host = x->host, .host_gen = x->hb.host_gen };
	int rc;

	if (!buf)
		return -ENOMEM;
	vol_encode_heartbeat(g, &x->hb, buf);
	rc = write_one(io, vol_hb_index(g, x->host), buf);
	for (uint32_t t = 0; !rc && t < g->table_sectors; t++)
		vol_encode_table(g, vol_table_index(g, x->host, t), &empty,
				 buf + (size_t)t * g->sector_size);
	if (!rc)
		rc = io->d->vol.dev.ops->write(&io->d->vol.dev, vol_table_index(g, x->host, 0),
					       g->table_sectors, buf);
	free(buf);
	return rc;
}

/*
 * The agent admitted the write when it asked; by now its incarnation may be over (fenced,
 * its successor running) or its lease too close to the deadline (the queue was long, the
 * disk slow, or lockd was stopped in between). Checked just before the system call:
 * -ECANCELED for an incarnation that is over, -ETIMEDOUT for a write that could land
 * after the deadline. A heartbeat, a new epoch and a fence need no lease of ours: the
 * first ones come before there is one, and a coordinator may have to fence its own
 * previous incarnation before it may renew (lk_timing.h bounds a fence in flight). A
 * write already in the system call cannot be taken back, which is why a new
 * incarnation starts only once the old one's jobs are all done.
 */
static int write_admitted(struct lkd_io *io, const struct job *j)
{
	enum lk_act_type t = j->act->type;
	int64_t deadline;

	if (t == LK_ACT_READ_HB || t == LK_ACT_READ_TABLE)
		return 0;
	if (j->inc != atomic_load(&io->live_inc))
		return -ECANCELED;
	if (t == LK_ACT_WRITE_HB || t == LK_ACT_NEW_EPOCH || t == LK_ACT_FENCE)
		return 0;
	deadline = atomic_load(&io->deadline);
	return lk_write_admitted(&io->d->timing, lkd_now(), deadline) ? 0 : -ETIMEDOUT;
}

static void work_agent(struct lkd_io *io, struct job *j)
{
	const struct vol_geom *g = &io->d->vol.super.geom;
	lk_host_t me = io->d->host;
	struct lk_act *x = j->act;
	uint8_t *buf;
	uint32_t n;
	int dec;

	j->rc = write_admitted(io, j);
	if (j->rc)
		return;
	buf = vol_alloc_sectors(g->sector_size, 1);
	if (!buf) {
		j->rc = -ENOMEM;
		return;
	}
	switch (x->type) {
	case LK_ACT_WRITE_HB:
		fill_hb(io, &x->hb);
		vol_encode_heartbeat(g, &x->hb, buf);
		j->rc = write_one(io, vol_hb_index(g, me), buf);
		break;
	case LK_ACT_WRITE_TABLE:
		vol_encode_table(g, vol_table_index(g, me, x->sector), &x->table, buf);
		j->rc = write_one(io, vol_table_index(g, me, x->sector), buf);
		break;
	case LK_ACT_WRITE_JOURNAL:
		vol_encode_journal(g, vol_journal_index(g, me, x->sector), &x->journal, buf);
		j->rc = write_one(io, vol_journal_index(g, me, x->sector), buf);
		break;
	case LK_ACT_READ_HB:
		j->rc = read_hb(io, x->host, &j->hb, &dec);
		if (!j->rc && dec)
			j->rc = -EBADMSG;
		break;
	case LK_ACT_READ_TABLE:
		j->rc = alloc_tables(j, g->table_sectors);
		if (!j->rc)
			j->rc = read_table(io, j, x->host, 0, false, &j->complete, &n);
		break;
	case LK_ACT_FENCE:
		fill_hb(io, &x->hb);
		snprintf(x->hb.hostname, sizeof(x->hb.hostname), "%s", "");
		j->rc = fence(io, x);
		break;
	case LK_ACT_NEW_EPOCH:
		j->rc = new_epoch(io, j);
		break;
	default:
		j->rc = -EINVAL;
		break;
	}
	free(buf);
}

static void work_scan(struct lkd_io *io, struct job *j)
{
	for (lk_host_t h = 1; h <= io->d->vol.super.geom.max_hosts; h++)
		j->scan_io[h] = read_hb(io, h, &j->scan_hb[h], &j->scan_rc[h]);
}

/* --- queue and workers ---------------------------------------------------------------------- */

static void *worker(void *arg)
{
	struct lkd_io *io = arg;

	for (;;) {
		struct job *j;

		pthread_mutex_lock(&io->mu);
		while (!io->head && !io->stop)
			pthread_cond_wait(&io->cv, &io->mu);
		if (io->stop) {
			pthread_mutex_unlock(&io->mu);
			return NULL;
		}
		j = io->head;
		io->head = j->next;
		if (!io->head)
			io->tail = NULL;
		pthread_mutex_unlock(&io->mu);
		if (j->kind == JOB_SCAN)
			work_scan(io, j);
		else
			work_agent(io, j);
		if (write(io->pipefd[1], &j, sizeof(j)) != sizeof(j))
			qb_log(LOG_CRIT, "disk executor: cannot hand a result back");
	}
}

static void enqueue(struct lkd_io *io, struct job *j)
{
	pthread_mutex_lock(&io->mu);
	if (io->tail)
		io->tail->next = j;
	else
		io->head = j;
	io->tail = j;
	pthread_cond_signal(&io->cv);
	pthread_mutex_unlock(&io->mu);
}

void lkd_io_submit(struct lkd_io *io, struct lk_act *x, uint64_t inc)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j) {
		qb_log(LOG_CRIT, "out of memory queueing disk I/O");
		abort();
	}
	j->kind = JOB_AGENT;
	j->act = x;
	j->inc = inc;
	io->agent_busy++;
	enqueue(io, j);
}

void lkd_io_scan(struct lkd_io *io)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j)
		return;
	j->kind = JOB_SCAN;
	io->d->scan_inflight = true;
	enqueue(io, j);
}

size_t lkd_io_agent_busy(const struct lkd_io *io)
{
	return io->agent_busy;
}

void lkd_io_set_live(struct lkd_io *io, uint64_t inc, int64_t deadline)
{
	atomic_store(&io->live_inc, inc);
	atomic_store(&io->deadline, deadline);
}

/* --- completions (main loop) ------------------------------------------------------------------ */

static void complete_agent(struct lkd *d, struct job *j)
{
	struct lk_act *x = j->act;
	int64_t now = lkd_now();
	uint64_t wall = lkd_wall();

	if (!d->agent || j->inc != d->inc)
		return; /* an older incarnation asked */
	if (j->rc < 0 && x->type != LK_ACT_READ_HB)
		qb_log(LOG_ERR, "lock volume %s: %s failed: %s", d->vol.dev.path,
		       x->type == LK_ACT_WRITE_HB ? "heartbeat write" :
		       x->type == LK_ACT_WRITE_TABLE ? "lock table write" :
		       x->type == LK_ACT_FENCE ? "fencing a dead host's slot" : "I/O",
		       strerror(-j->rc));
	switch (x->type) {
	case LK_ACT_READ_HB:
		lk_agent_read_hb_done(d->agent, x->io, j->rc, j->rc ? NULL : &j->hb, now, wall);
		break;
	case LK_ACT_READ_TABLE:
		lk_agent_read_table_done(d->agent, x->io, j->rc, j->locks, j->nlocks, j->complete,
					 now, wall);
		break;
	case LK_ACT_NEW_EPOCH:
		if (!j->rc)
			qb_log(LOG_NOTICE, "new cluster epoch %u written to the superblock (cold start, "
			       "or a member without state joined)", j->epoch);
		lk_agent_new_epoch_done(d->agent, x->io, j->rc, j->epoch, j->hosts, j->nhosts, now,
					wall);
		break;
	default:
		lk_agent_io_done(d->agent, x->io, j->rc, now, wall);
		break;
	}
	lkd_run_actions(d);
}

static int32_t on_pipe(int32_t fd, int32_t revents, void *data)
{
	struct lkd_io *io = data;
	struct job *jobs[64];
	ssize_t n;

	(void)revents;
	n = read(fd, jobs, sizeof(jobs));
	for (ssize_t i = 0; i < n / (ssize_t)sizeof(jobs[0]); i++) {
		struct job *j = jobs[i];

		if (j->kind == JOB_SCAN) {
			io->d->scan_inflight = false;
			for (lk_host_t h = 1; h <= io->d->vol.super.geom.max_hosts; h++)
				lkd_view_slot_seen(io->d, h, j->scan_io[h], j->scan_rc[h],
						   &j->scan_hb[h]);
		} else {
			io->agent_busy--;
			complete_agent(io->d, j);
		}
		job_free(j);
	}
	return 0;
}

struct lkd_io *lkd_io_start(struct lkd *d, int nthreads)
{
	struct lkd_io *io = calloc(1, sizeof(*io));

	if (!io)
		return NULL;
	io->d = d;
	pthread_mutex_init(&io->mu, NULL);
	pthread_cond_init(&io->cv, NULL);
	if (pipe2(io->pipefd, O_CLOEXEC) < 0)
		goto out_free;
	fcntl(io->pipefd[0], F_SETFL, O_NONBLOCK);
	io->threads = calloc((size_t)nthreads, sizeof(*io->threads));
	if (!io->threads)
		goto out_pipe;
	for (; io->nthreads < nthreads; io->nthreads++)
		if (pthread_create(&io->threads[io->nthreads], NULL, worker, io) != 0)
			goto out_threads;
	qb_loop_poll_add(d->loop, QB_LOOP_HIGH, io->pipefd[0], POLLIN, io, on_pipe);
	return io;
out_threads:
	lkd_io_stop(io);
	return NULL;
out_pipe:
	close(io->pipefd[0]);
	close(io->pipefd[1]);
out_free:
	free(io);
	return NULL;
}

/* Workers finish the job in hand; queued jobs are dropped. A worker stuck in a hung
 * write is waited for: the process must not exit while a write of its could land. */
void lkd_io_stop(struct lkd_io *io)
{
	struct job *j;

	if (!io)
		return;
	pthread_mutex_lock(&io->mu);
	io->stop = true;
	pthread_cond_broadcast(&io->cv);
	pthread_mutex_unlock(&io->mu);
	for (int i = 0; i < io->nthreads; i++)
		pthread_join(io->threads[i], NULL);
	qb_loop_poll_del(io->d->loop, io->pipefd[0]);
	while ((j = io->head)) {
		io->head = j->next;
		job_free(j);
	}
	while (read(io->pipefd[0], &j, sizeof(j)) == sizeof(j))
		job_free(j);
	close(io->pipefd[0]);
	close(io->pipefd[1]);
	free(io->threads);
	free(io);
}

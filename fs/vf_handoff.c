/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vf_handoff.c - vmfsd's side of a handoff (vmfs-handoff(8), protocol: lki_proto.h).
 *
 * Source: lockd sends DRAIN before the commit leaves. The name's writes stop being
 * admitted (they wait in vf_ho_wait), a drain thread waits for the ones in flight
 * (r->inflight), flushes the file and answers "drained". Then either REVOKED comes (the
 * commit moved it: the record is fenced, the waiting writes fail with EIO, so no byte of
 * this host reaches the file once the destination may write) or RESUME (it did not: the
 * waiting writes go on).
 *
 * Destination: an open for writing of a file on its way here is granted as incoming
 * (vf_lock.c, acquire); its writes wait until COMMITTED, or fail with EIO on REVOKED
 * (aborted). Such handles are direct_io (vf_io.c), so nothing of the file is cached here
 * from before the commit.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <qb/qblog.h>

#include "fs/vf_lock_int.h"

/* A write waits at most this long for a handoff to end; lockd aborts a prepared handoff
 * after handoff_timeout (30 s by default) and fails a drain after io_timeout + 1 s. */
#define HO_WAIT_MS 120000

struct vf_lk *vf_rec_find(struct vf_locks *L, const char *name)
{
	struct vf_lk *r;

	pthread_mutex_lock(&L->map_mu);
	r = qb_map_get(L->map, name);
	if (r)
		r->users++;
	pthread_mutex_unlock(&L->map_mu);
	return r;
}

void vf_ho_wake(struct vf_locks *L)
{
	pthread_mutex_lock(&L->ho_mu);
	pthread_cond_broadcast(&L->ho_cv);
	pthread_mutex_unlock(&L->ho_mu);
}

static void deadline_in(struct timespec *ts, int64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

int vf_ho_wait(struct vf_locks *L, struct vf_lk *r)
{
	int64_t end = vf_mono_ms() + HO_WAIT_MS;
	struct timespec ts;
	int rc = 0;

	pthread_mutex_lock(&L->ho_mu);
	while ((atomic_load(&r->draining) || atomic_load(&r->incoming)) &&
	       !atomic_load(&r->fenced)) {
		if (vf_mono_ms() >= end) {
			rc = -ETIMEDOUT;
			break;
		}
		deadline_in(&ts, 200);
		pthread_cond_timedwait(&L->ho_cv, &L->ho_mu, &ts);
	}
	pthread_mutex_unlock(&L->ho_mu);
	if (rc)
		qb_log(LOG_ERR, "%s: a write waited %d s for handoff %" PRIu64 " to end: EIO",
		       r->name, HO_WAIT_MS / 1000, (uint64_t)atomic_load(&r->ho_id));
	return rc || atomic_load(&r->fenced) ? -EIO : 0;
}

struct drain {
	struct vf_locks *L;
	struct vf_lk *r; /* a user of it is ours; NULL: this host holds nothing of it */
	uint64_t id;
	char name[];
};

/* Waits for r's admitted writes to end; false after io_timeout (a write lands within it,
 * lk_timing.h; lockd's own limit is a second more). */
static bool writes_done(struct vf_locks *L, struct vf_lk *r)
{
	int64_t end = vf_mono_ms() + L->io_timeout_ms;
	struct timespec ts;
	bool done;

	pthread_mutex_lock(&L->ho_mu);
	while (!(done = atomic_load(&r->inflight) == 0) && vf_mono_ms() < end) {
		deadline_in(&ts, 5);
		pthread_cond_timedwait(&L->ho_cv, &L->ho_mu, &ts);
	}
	pthread_mutex_unlock(&L->ho_mu);
	return done;
}

static int flush_file(const struct vf_locks *L, const char *name)
{
	char path[4200];
	int fd, rc = 0;

	snprintf(path, sizeof(path), "%s/%s", L->datastore ? L->datastore : ".", name);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	if (fdatasync(fd) < 0) /* the data; an mtime alone needs no journal commit */
		rc = -errno;
	close(fd);
	return rc;
}

static void *drain_thread(void *arg)
{
	struct drain *d = arg;
	struct vf_locks *L = d->L;
	int64_t t0 = vf_mono_ms();
	int rc = 0;

	if (d->r && !writes_done(L, d->r)) {
		qb_log(LOG_ERR, "%s: writes still in the storage %" PRId64 " ms (io_timeout) into the "
		       "drain for handoff %" PRIu64 ": not answering, the commit fails", d->name,
		       L->io_timeout_ms, d->id);
		goto out;
	}
	if (d->r && (rc = flush_file(L, d->name)) < 0) {
		/* what was written may not be on the storage: the commit must not go */
		qb_log(LOG_ERR, "%s: flush for handoff %" PRIu64 " failed: %s; not answering, the "
		       "commit fails", d->name, d->id, strerror(-rc));
		goto out;
	}
	if (d->r) {
		struct slot *s = &L->slots[d->r->slot];

		pthread_mutex_lock(&s->mu);
		rc = s->c ? vmfslock_drained(s->c, d->id, d->name) : -ENOTCONN;
		pthread_mutex_unlock(&s->mu);
	} else {
		pthread_mutex_lock(&L->slots[0].mu);
		rc = L->slots[0].c ? vmfslock_drained(L->slots[0].c, d->id, d->name) : -ENOTCONN;
		pthread_mutex_unlock(&L->slots[0].mu);
	}
	if (rc < 0)
		qb_log(LOG_WARNING, "%s: cannot tell vmfs-lockd the drain for handoff %" PRIu64
		       " is done: %s", d->name, d->id, strerror(-rc));
	else
		qb_log(LOG_INFO, "%s: drained for handoff %" PRIu64 " in %" PRId64 " ms", d->name,
		       d->id, vf_mono_ms() - t0);
out:
	if (d->r)
		vf_rec_put(L, d->r);
	free(d);
	atomic_fetch_sub(&L->drains, 1);
	return NULL;
}

static void start_drain(struct vf_locks *L, const struct vmfslock_event *e)
{
	size_t len = strlen(e->text);
	struct drain *d = calloc(1, sizeof(*d) + len + 1);
	pthread_attr_t at;
	pthread_t t;

	if (!d) {
		qb_log(LOG_ERR, "%s: out of memory for a drain: the commit fails", e->text);
		return;
	}
	*d = (struct drain){ .L = L, .r = vf_rec_find(L, e->text), .id = e->handoff };
	memcpy(d->name, e->text, len + 1);
	if (d->r) {
		atomic_store(&d->r->ho_id, e->handoff);
		atomic_store(&d->r->draining, true); /* from here no write of it is admitted */
	}
	atomic_fetch_add(&L->drains, 1);
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &at, drain_thread, d) != 0) {
		qb_log(LOG_ERR, "%s: cannot start a drain thread: the commit fails", e->text);
		atomic_fetch_sub(&L->drains, 1);
		if (d->r)
			vf_rec_put(L, d->r);
		free(d);
	}
	pthread_attr_destroy(&at);
}

void vf_ho_event(struct vf_locks *L, const struct vmfslock_event *e)
{
	struct vf_lk *r;

	if (e->type == VMFSLOCK_EV_DRAIN) {
		start_drain(L, e);
		return;
	}
	r = vf_rec_find(L, e->text);
	if (!r)
		return;
	if (e->type == VMFSLOCK_EV_RESUME) {
		atomic_store(&r->draining, false);
		qb_log(LOG_NOTICE, "%s: handoff %" PRIu64 " did not commit: its writes go on",
		       r->name, e->handoff);
	} else if (e->type == VMFSLOCK_EV_COMMITTED) {
		/* the generation is for display; this thread never waits on a take in progress
		 * (it carries the lease events) */
		if (pthread_mutex_trylock(&r->mu) == 0) {
			r->gen = e->gen;
			pthread_mutex_unlock(&r->mu);
		}
		atomic_store(&r->incoming, false);
		qb_log(LOG_NOTICE, "%s: came by handoff %" PRIu64 ", generation %" PRIu32 ":%" PRIu64
		       ": its writes go on", r->name, e->handoff, e->gen.epoch, e->gen.counter);
	}
	vf_ho_wake(L);
	vf_rec_put(L, r);
}

void vf_ho_stop(struct vf_locks *L)
{
	while (atomic_load(&L->drains) > 0)
		usleep(1000);
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vf_lock.c - this host's locks for vmfsd's handles (contract: vf_lock.h).
 *
 * Sections: the lock records · connections to vmfs-lockd · fencing · taking and putting
 * locks · write admission · the lockd thread (connect, events, reconnect).
 *
 * Lock order: rec->mu before L->map_mu; a slot's mu on its own (never while holding
 * map_mu). A record is in the map while some thread uses it or it is held; a fenced record
 * is taken out of the map at once (a later open makes a new one) and freed when its last
 * user puts it.
 *
 * Connections: L->slots[] are NSLOTS libvmfslock connections for requests (one request at
 * a time each; a name always uses the same slot, as lockd counts holds per connection),
 * and one more for events. When any of them fails, every lock is fenced and all are
 * reopened: closing a connection makes lockd release what it held, so no hold survives a
 * reconnect unfenced. The order matters (lockd_reset): the generation moves first, so a
 * grant on a connection about to close is refused; then every lock is fenced; then the
 * writes admitted before are waited for (L->inflight), since the close lets other hosts
 * in at once; only then do the connections close.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <qb/qblog.h>
#include <qb/qbmap.h>

#include "fs/vf_lock.h"
#include "fs/vf_lock_int.h"

int64_t vf_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *mode_name(enum vmfslock_mode m)
{
	return m == VMFSLOCK_EX ? "ex" : m == VMFSLOCK_MW ? "mw" : m == VMFSLOCK_SH ? "sh" : "-";
}

/* --- the lock records ------------------------------------------------------------------ */

static unsigned slot_of(const char *name)
{
	uint32_t h = 2166136261u;

	for (; *name; name++)
		h = (h ^ (uint8_t)*name) * 16777619u;
	return h % NSLOTS;
}

/* Takes r out of the map and its list. map_mu held. */
static void rec_unmap(struct vf_locks *L, struct vf_lk *r)
{
	qb_map_rm(L->map, r->name);
	if (r->prev)
		r->prev->next = r->next;
	else
		L->recs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
	r->in_map = false;
}

static struct vf_lk *rec_get(struct vf_locks *L, const char *name)
{
	struct vf_lk *r;

	pthread_mutex_lock(&L->map_mu);
	r = qb_map_get(L->map, name);
	if (!r) {
		r = calloc(1, sizeof(*r));
		if (r && !(r->name = strdup(name))) {
			free(r);
			r = NULL;
		}
		if (r) {
			pthread_mutex_init(&r->mu, NULL);
			r->slot = slot_of(name);
			r->in_map = true;
			qb_map_put(L->map, r->name, r);
			r->next = L->recs;
			if (L->recs)
				L->recs->prev = r;
			L->recs = r;
		}
	}
	if (r)
		r->users++;
	pthread_mutex_unlock(&L->map_mu);
	return r;
}

static void rec_free(struct vf_lk *r)
{
	pthread_mutex_destroy(&r->mu);
	free(r->name);
	free(r);
}

/* Drops a user; the last one of a record that holds nothing (or is fenced) frees it. */
void vf_rec_put(struct vf_locks *L, struct vf_lk *r)
{
	bool gone;

	pthread_mutex_lock(&L->map_mu);
	gone = --r->users == 0 && (!r->in_map || r->mode == 0);
	if (gone && r->in_map)
		rec_unmap(L, r);
	pthread_mutex_unlock(&L->map_mu);
	if (gone)
		rec_free(r);
}

/* --- fencing ----------------------------------------------------------------------------- */

/* Marks r fenced and takes it out of the map. map_mu held. */
static void fence_locked(struct vf_locks *L, struct vf_lk *r)
{
	atomic_store(&r->fenced, true);
	if (r->in_map)
		rec_unmap(L, r);
}

static void fence_all(struct vf_locks *L, const char *why)
{
	struct vf_lk *r, *next;
	unsigned n = 0;

	pthread_mutex_lock(&L->map_mu);
	for (r = L->recs; r; r = next) {
		next = r->next;
		if (r->mode)
			n++;
		fence_locked(L, r); /* freed by its last put (fence_name) */
	}
	pthread_mutex_unlock(&L->map_mu);
	vf_ho_wake(L);
	if (n)
		qb_log(LOG_ERR, "fencing %u lock(s): %s; their handles fail with EIO from now on",
		       n, why);
}

/* A record in the map always has a user (a handle, or a thread taking it), so the last
 * put frees a fenced one. */
void vf_fence_name(struct vf_locks *L, const char *name, const char *why)
{
	struct vf_lk *r;

	pthread_mutex_lock(&L->map_mu);
	r = qb_map_get(L->map, name);
	if (r)
		fence_locked(L, r);
	pthread_mutex_unlock(&L->map_mu);
	vf_ho_wake(L);
	if (r)
		qb_log(LOG_ERR, "%s: lock %s: its handles fail with EIO from now on", name, why);
}

/* A connection failed: the thread fences every lock and reconnects. */
void vf_want_reset(struct vf_locks *L)
{
	atomic_store(&L->reset, true);
}

/* --- taking and putting locks --------------------------------------------------------------- */

static bool covers(enum vmfslock_mode held, enum vf_want want)
{
	switch (want) {
	case VF_WANT_READ:
		return held != 0;
	case VF_WANT_WRITE:
	case VF_WANT_MW:
		return held == VMFSLOCK_EX || held == VMFSLOCK_MW;
	case VF_WANT_EX:
		return held == VMFSLOCK_EX;
	}
	return false;
}

static enum vmfslock_mode mode_for(enum vf_want want)
{
	return want == VF_WANT_READ ? VMFSLOCK_SH : want == VF_WANT_MW ? VMFSLOCK_MW : VMFSLOCK_EX;
}

static void busy_phrase(const struct vmfslock_holder *h, char *who, size_t len)
{
	if (h->local)
		snprintf(who, len, "held %s by another program of this host", h->mode);
	else if (!h->mode[0])
		snprintf(who, len, "a name above or below it is locked by host %u (%s)", h->host,
			 h->name[0] ? h->name : "?");
	else
		snprintf(who, len, "held %s by host %u (%s), generation %" PRIu32 ":%" PRIu64,
			 h->mode, h->host, h->name[0] ? h->name : "?", h->gen.epoch,
			 h->gen.counter);
}

/* One acquire on r's slot. mu of r held. */
static int acquire(struct vf_locks *L, struct vf_lk *r, enum vmfslock_mode mode, char *who,
		   size_t wholen)
{
	struct slot *s = &L->slots[r->slot];
	int64_t give_up = vf_mono_ms() + RETRY_AGAIN_MS;
	struct vmfslock_holder h = { 0 };
	int rc;

	for (;;) {
		pthread_mutex_lock(&s->mu);
		if (!s->c) {
			pthread_mutex_unlock(&s->mu);
			snprintf(who, wholen, "vmfs-lockd is not running or not reachable");
			return -ENOLCK;
		}
		/* a writer takes a file arriving by handoff (vf_handoff.c) */
		rc = vmfslock_acquire_flags(s->c, r->name, mode, 0,
					    mode == VMFSLOCK_SH ? 0 : VMFSLOCK_F_INCOMING, &r->gen,
					    &h, NULL, 0);
		r->slot_gen = s->gen;
		if ((rc == 0 || rc == -EINPROGRESS) && s->gen != atomic_load(&L->gen))
			atomic_store(&r->fenced, true); /* the connection is being reset */
		pthread_mutex_unlock(&s->mu);
		if (rc != -EAGAIN || vf_mono_ms() >= give_up)
			break;
		usleep(50 * 1000);
	}
	switch (rc) {
	case -EINPROGRESS:
	case 0:
		if (atomic_load(&r->fenced)) {
			snprintf(who, wholen, "this host was fenced while the lock was granted");
			return -ENOLCK;
		}
		r->mode = mode;
		if (rc == -EINPROGRESS) {
			atomic_store(&r->ho_id, h.handoff);
			atomic_store(&r->incoming, true);
			qb_log(LOG_NOTICE, "%s: arriving by handoff %" PRIu64 ": open for writing, "
			       "its writes wait for the commit", r->name, h.handoff);
		}
		return 0;
	case -EBUSY:
		busy_phrase(&h, who, wholen);
		return -EBUSY;
	case -ENOTCONN:
		snprintf(who, wholen, "no quorum: this host is not in a quorate cluster partition");
		return -ENOLCK;
	case -EAGAIN:
		snprintf(who, wholen, "the cluster is still synchronising or recovering a host");
		return -ENOLCK;
	case -ENOLINK:
		snprintf(who, wholen, "this host was fenced and is rejoining the cluster");
		return -ENOLCK;
	case -ETIMEDOUT:
	case -ECONNRESET:
		vf_want_reset(L);
		snprintf(who, wholen, "vmfs-lockd did not answer (%s)", strerror(-rc));
		return -ENOLCK;
	case -EINVAL:
		snprintf(who, wholen, "vmfs-lockd refuses this name");
		return -EINVAL;
	default:
		snprintf(who, wholen, "vmfs-lockd: %s", strerror(-rc));
		return rc == -EPERM ? -EACCES : -ENOLCK;
	}
}

/*
 * This host reads r (SH) and now a writer opens it: QEMU opens an image read-only, then
 * read-write while the first descriptor stays open. The shared lock is released and the
 * writer's taken on the same connection (lockd's agent asks again once the release went
 * out). If another host takes the file in between, the readers get their shared lock back,
 * or, failing that, their handles are fenced. mu of r held.
 */
static int upgrade(struct vf_locks *L, struct vf_lk *r, enum vmfslock_mode mode, char *who,
		   size_t wholen)
{
	struct slot *s = &L->slots[r->slot];
	char again[160];
	int rc;

	pthread_mutex_lock(&s->mu);
	rc = s->c && s->gen == r->slot_gen ? vmfslock_release(s->c, r->name) : -ENOTCONN;
	pthread_mutex_unlock(&s->mu);
	if (rc < 0) {
		vf_want_reset(L);
		snprintf(who, wholen, "held sh by this host, and vmfs-lockd did not answer its "
			 "release (%s)", strerror(-rc));
		return -ENOLCK;
	}
	r->mode = 0;
	rc = acquire(L, r, mode, who, wholen);
	if (rc == 0) {
		qb_log(LOG_INFO, "%s: read by this host, now opened for writing: lock %s instead "
		       "of sh", r->name, mode_name(mode));
		return 0;
	}
	if (acquire(L, r, VMFSLOCK_SH, again, sizeof(again)) != 0) {
		qb_log(LOG_ERR, "%s: its readers here lost their shared lock (%s): their handles "
		       "fail with EIO from now on", r->name, again);
		vf_fence_name(L, r->name, "lost while changing mode");
	}
	return rc;
}

int vf_lk_take(struct vf_locks *L, const char *name, enum vf_want want, struct vf_lk **out,
	       char *who, size_t wholen)
{
	int64_t local_until = 0;
	int rc, fenced = 0;
	char dummy[8];
	struct vf_lk *r;
	bool local;

	if (!who) {
		who = dummy;
		wholen = sizeof(dummy);
	}

	for (;;) {
		r = rec_get(L, name);
		if (!r)
			return -ENOMEM;
		pthread_mutex_lock(&r->mu);
		if (atomic_load(&r->fenced)) {
			/* fenced between rec_get and here: a new record replaces it */
			pthread_mutex_unlock(&r->mu);
			vf_rec_put(L, r);
			if (++fenced < 8)
				continue;
			snprintf(who, wholen, "its lock was fenced repeatedly");
			return -ENOLCK;
		}
		local = r->mode != 0;
		if (r->mode) {
			rc = covers(r->mode, want) ? 0 : -EBUSY;
			if (rc && r->mode == VMFSLOCK_SH && want != VF_WANT_READ) {
				rc = upgrade(L, r, mode_for(want), who, wholen);
				local = false; /* no point waiting for our own mode to go */
			} else if (rc) {
				snprintf(who, wholen, "held %s by this host (an open %s)",
					 mode_name(r->mode), r->mode == VMFSLOCK_SH ?
					 "for reading" : "for writing");
			}
		} else {
			rc = acquire(L, r, mode_for(want), who, wholen);
		}
		if (rc == 0)
			r->refs++;
		pthread_mutex_unlock(&r->mu);
		if (rc) {
			vf_rec_put(L, r);
			/* This host's own other mode: a close(2) returns before the kernel sends
			 * FUSE's RELEASE, so a program that closes and reopens finds its old lock
			 * still held for a moment. Wait for it to go, a while. */
			if (rc == -EBUSY && local &&
			    (local_until == 0 || vf_mono_ms() < local_until)) {
				if (!local_until)
					local_until = vf_mono_ms() + LOCAL_WAIT_MS;
				usleep(5 * 1000);
				continue;
			}
			return rc;
		}
		*out = r;
		return 0;
	}
}

void vf_lk_put(struct vf_locks *L, struct vf_lk *r)
{
	struct slot *s = &L->slots[r->slot];
	int rc = 0;

	pthread_mutex_lock(&r->mu);
	if (--r->refs == 0 && r->mode) {
		/* a fenced hold is gone already (lockd dropped it, or its connection closed) */
		pthread_mutex_lock(&s->mu);
		if (!atomic_load(&r->fenced) && s->c && s->gen == r->slot_gen)
			rc = vmfslock_release(s->c, r->name);
		pthread_mutex_unlock(&s->mu);
		if (rc == -ETIMEDOUT || rc == -ECONNRESET || rc == -ENOTCONN)
			vf_want_reset(L);
		else if (rc && rc != -ENOENT)
			qb_log(LOG_WARNING, "%s: release: %s", r->name, strerror(-rc));
		r->mode = 0;
	}
	pthread_mutex_unlock(&r->mu);
	vf_rec_put(L, r);
}

bool vf_lk_held_here(struct vf_locks *L, const char *name)
{
	struct vf_lk *r;
	bool held;

	pthread_mutex_lock(&L->map_mu);
	r = qb_map_get(L->map, name);
	if (r)
		r->users++; /* mode is r->mu's, taken before map_mu, never under it */
	pthread_mutex_unlock(&L->map_mu);
	if (!r)
		return false;
	pthread_mutex_lock(&r->mu);
	held = r->mode != 0;
	pthread_mutex_unlock(&r->mu);
	vf_rec_put(L, r);
	return held;
}

const char *vf_lk_mode(const struct vf_lk *r)
{
	return mode_name(r->mode);
}

bool vf_lk_fenced(const struct vf_lk *r)
{
	return atomic_load(&r->fenced);
}

/* --- write admission ----------------------------------------------------------------------- */

int vf_lk_admit(struct vf_locks *L, struct vf_lk *r)
{
	int64_t until, now;

	for (;;) {
		atomic_fetch_add(&L->inflight, 1);
		atomic_fetch_add(&r->inflight, 1);
		if (atomic_load(&r->fenced))
			goto refuse;
		/* counted before the flags are read: a drain that sets one then waits for
		 * r->inflight sees this write, or this write sees the flag */
		if (!atomic_load(&r->draining) && !atomic_load(&r->incoming))
			break;
		vf_lk_done(L, r);
		if (vf_ho_wait(L, r) < 0)
			return -EIO;
	}
	until = atomic_load(&L->valid_until);
	now = vf_mono_ms();
	if (now + L->io_timeout_ms >= until) {
		if (!atomic_exchange(&L->lapse_logged, true))
			qb_log(LOG_CRIT, "the lease of this host ends in %" PRId64 " ms, less than "
			       "io_timeout (%" PRId64 " ms): no write may start; fencing every lock",
			       until - now, L->io_timeout_ms);
		vf_want_reset(L);
		goto refuse;
	}
	return 0;
refuse:
	vf_lk_done(L, r);
	return -EIO;
}

void vf_lk_done(struct vf_locks *L, struct vf_lk *r)
{
	atomic_fetch_sub(&L->inflight, 1);
	if (atomic_fetch_sub(&r->inflight, 1) == 1 && atomic_load(&r->draining))
		vf_ho_wake(L);
}

bool vf_lk_incoming(const struct vf_lk *r)
{
	return atomic_load(&r->incoming);
}

/* --- queries ------------------------------------------------------------------------------ */

int vf_locks_query(struct vf_locks *L, const char *what, const char *path, json_t **out)
{
	struct slot *s = &L->slots[path ? slot_of(path) : 0];
	int rc;

	pthread_mutex_lock(&s->mu);
	rc = s->c ? vmfslock_query(s->c, what, path, out) : -ENOLCK;
	pthread_mutex_unlock(&s->mu);
	if (rc == -ETIMEDOUT || rc == -ECONNRESET || rc == -ENOTCONN) {
		vf_want_reset(L);
		rc = -ENOLCK;
	}
	return rc;
}

/* --- the lockd thread -------------------------------------------------------------------- */

static void disconnect_all(struct vf_locks *L)
{
	for (unsigned i = 0; i < NSLOTS; i++) {
		pthread_mutex_lock(&L->slots[i].mu);
		if (L->slots[i].c)
			vmfslock_close(L->slots[i].c);
		L->slots[i].c = NULL;
		pthread_mutex_unlock(&L->slots[i].mu);
	}
	if (L->ev)
		vmfslock_close(L->ev);
	L->ev = NULL;
	atomic_store(&L->valid_until, 0);
}

/* Fences every lock and closes the connections, in the order the notes at the top give. */
static void lockd_reset(struct vf_locks *L, const char *why)
{
	int64_t t0 = vf_mono_ms(), next_log = t0 + 5000;

	atomic_fetch_add(&L->gen, 1);
	fence_all(L, why);
	while (atomic_load(&L->inflight) > 0) {
		if (vf_mono_ms() >= next_log) {
			qb_log(LOG_WARNING, "%d write(s) admitted before the fence still in the "
			       "storage after %" PRId64 " ms: the locks stay held until they end",
			       atomic_load(&L->inflight), vf_mono_ms() - t0);
			next_log += 5000;
		}
		usleep(1000);
	}
	disconnect_all(L);
}

static void on_event(struct vf_locks *L, const struct vmfslock_event *e);

/* Waits (up to 1 s) for the lease event lockd sends on subscription, so that a write right
 * after the connection is admitted against the real lease. */
static void first_lease(struct vf_locks *L)
{
	int64_t end = vf_mono_ms() + 1000;
	struct vmfslock_event e;

	int rc;

	while (vf_mono_ms() < end && (rc = vmfslock_event_next(L->ev, &e, 100)) != -ENOTCONN) {
		if (rc == 0) {
			on_event(L, &e);
			if (e.type == VMFSLOCK_EV_LEASE)
				return;
		}
	}
}

static int connect_all(struct vf_locks *L, char *err, size_t errlen)
{
	uint64_t gen = atomic_fetch_add(&L->gen, 1) + 1;
	int rc;

	rc = vmfslock_connect(L->config, &L->ev, err, errlen);
	if (rc == 0 && (rc = vmfslock_events_drain(L->ev)) < 0)
		snprintf(err, errlen, "cannot subscribe to vmfs-lockd's events: %s", strerror(-rc));
	if (rc == 0 && !L->datastore)
		L->datastore = strdup(vmfslock_conf(L->ev)->datastore); /* NULL: flush skipped */
	if (rc == 0)
		first_lease(L);
	for (unsigned i = 0; rc == 0 && i < NSLOTS; i++) {
		pthread_mutex_lock(&L->slots[i].mu);
		rc = vmfslock_connect(L->config, &L->slots[i].c, err, errlen);
		L->slots[i].gen = gen;
		pthread_mutex_unlock(&L->slots[i].mu);
	}
	if (rc)
		disconnect_all(L);
	return rc;
}

static void on_event(struct vf_locks *L, const struct vmfslock_event *e)
{
	switch (e->type) {
	case VMFSLOCK_EV_LEASE:
		atomic_store(&L->valid_until, e->valid_until_ms);
		if (e->valid_until_ms)
			atomic_store(&L->lapse_logged, false);
		break;
	case VMFSLOCK_EV_REVOKED:
		vf_fence_name(L, e->text, "taken away by the cluster");
		break;
	case VMFSLOCK_EV_FENCED:
		atomic_store(&L->valid_until, 0);
		fence_all(L, e->text);
		break;
	case VMFSLOCK_EV_DRAIN:
	case VMFSLOCK_EV_RESUME:
	case VMFSLOCK_EV_COMMITTED:
		vf_ho_event(L, e);
		break;
	}
}

static void *lockd_thread(void *arg)
{
	struct vf_locks *L = arg;
	char err[VMFS_CONF_ERR_MAX + 256], last[sizeof(err)] = "";
	struct vmfslock_event e;
	int rc;

	while (!atomic_load(&L->stop)) {
		if (atomic_exchange(&L->reset, false) && L->ev) {
			lockd_reset(L, "the connection to vmfs-lockd failed or the lease ran out");
			qb_log(LOG_WARNING, "reconnecting to vmfs-lockd");
		}
		if (!L->ev) {
			if (connect_all(L, err, sizeof(err)) < 0) {
				if (strcmp(err, last) != 0)
					qb_log(LOG_WARNING, "%s; opens for writing fail with ENOLCK "
					       "until it answers (retrying every %d ms)", err,
					       RECONNECT_MS);
				snprintf(last, sizeof(last), "%s", err);
				usleep(RECONNECT_MS * 1000);
				continue;
			}
			last[0] = '\0';
			qb_log(LOG_NOTICE, "connected to vmfs-lockd");
		}
		rc = vmfslock_event_next(L->ev, &e, 200);
		if (rc == 0) {
			on_event(L, &e);
		} else if (rc != -ETIMEDOUT) {
			lockd_reset(L, "vmfs-lockd went away");
			atomic_store(&L->reset, false);
			qb_log(LOG_ERR, "vmfs-lockd went away: every lock of this host is fenced");
		}
	}
	lockd_reset(L, "vmfsd is stopping");
	return NULL;
}

int vf_locks_start(const char *config, uint32_t io_timeout_ms, struct vf_locks **out)
{
	struct vf_locks *L = calloc(1, sizeof(*L));
	pthread_condattr_t ca;

	if (!L)
		return -ENOMEM;
	L->config = config ? strdup(config) : NULL;
	L->io_timeout_ms = io_timeout_ms;
	L->map = qb_hashtable_create(1024);
	pthread_mutex_init(&L->map_mu, NULL);
	pthread_mutex_init(&L->ho_mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&L->ho_cv, &ca);
	pthread_condattr_destroy(&ca);
	for (unsigned i = 0; i < NSLOTS; i++)
		pthread_mutex_init(&L->slots[i].mu, NULL);
	if (!L->map || (config && !L->config) ||
	    pthread_create(&L->thread, NULL, lockd_thread, L) != 0) {
		if (L->map)
			qb_map_destroy(L->map);
		free(L->config);
		free(L);
		return -ENOMEM;
	}
	*out = L;
	return 0;
}

void vf_locks_stop(struct vf_locks *L)
{
	if (!L)
		return;
	atomic_store(&L->stop, true);
	pthread_join(L->thread, NULL);
	vf_ho_stop(L);
	qb_map_destroy(L->map);
	pthread_cond_destroy(&L->ho_cv);
	pthread_mutex_destroy(&L->ho_mu);
	free(L->config);
	free(L->datastore);
	free(L);
}

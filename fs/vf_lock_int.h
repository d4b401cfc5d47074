/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vf_lock_int.h - what vf_lock.c (locks, fencing, the lockd thread) and vf_handoff.c
 * (drains and incoming files of handoffs) share inside vmfsd. Lock order as in vf_lock.c:
 * rec->mu before L->map_mu; a slot's mu on its own; L->ho_mu on its own.
 */
#ifndef VMFS_VF_LOCK_INT_H
#define VMFS_VF_LOCK_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <qb/qbmap.h>

#include "fs/vf_lock.h"

#define NSLOTS 4
#define RETRY_AGAIN_MS 3000  /* how long an open waits for a cluster that is synchronising */
#define RECONNECT_MS 1000
#define LOCAL_WAIT_MS 1000    /* how long an open waits for this host's other-mode lock to go */

struct slot {
	pthread_mutex_t mu;   /* guards c and gen; held across a request */
	struct vmfslock *c;   /* NULL: not connected */
	uint64_t gen;         /* L->gen when c was opened */
};

struct vf_lk {
	char *name;
	pthread_mutex_t mu;        /* serialises take/put of this name */
	unsigned users;            /* map_mu: threads and handles referring to it */
	bool in_map;               /* map_mu */
	struct vf_lk *prev, *next; /* map_mu: L->recs, the records in the map */
	enum vmfslock_mode mode;   /* mu: 0 = not held */
	struct vmfslock_gen gen;   /* mu */
	unsigned refs;             /* mu: handles (and changes in progress) using the hold */
	unsigned slot;
	uint64_t slot_gen;         /* mu: the connection generation the hold lives on */
	atomic_bool fenced;
	/* handoffs (vf_handoff.c); a write waits while either is set */
	atomic_int inflight;       /* admitted write-like syscalls of this name not done */
	atomic_bool draining;      /* a commit of it to another host is draining its writes */
	atomic_bool incoming;      /* arriving by handoff: writes wait for the commit */
	atomic_uint_fast64_t ho_id;
};

struct vf_locks {
	char *config;
	char *datastore;              /* where a drained file is flushed */
	int64_t io_timeout_ms;
	pthread_mutex_t map_mu;
	qb_map_t *map;                /* map_mu: name -> struct vf_lk */
	struct vf_lk *recs;           /* map_mu: the same records, in a list */
	struct slot slots[NSLOTS];
	atomic_uint_fast64_t gen;     /* bumped at every (re)connect and reset */
	atomic_int inflight;          /* admitted write-like syscalls not yet done */
	atomic_llong valid_until;     /* lease deadline, CLOCK_MONOTONIC ms; 0 = none */
	atomic_bool reset;            /* a connection failed: fence and reconnect */
	atomic_bool stop;
	atomic_bool lapse_logged;
	pthread_t thread;
	struct vmfslock *ev;          /* the thread's own */
	pthread_mutex_t ho_mu;        /* with ho_cv: writes waiting on a handoff */
	pthread_cond_t ho_cv;
	atomic_int drains;            /* drain threads running */
};

/* vf_lock.c */
int64_t vf_mono_ms(void);
void vf_rec_put(struct vf_locks *L, struct vf_lk *r);
void vf_fence_name(struct vf_locks *L, const char *name, const char *why);
void vf_want_reset(struct vf_locks *L);

/* vf_handoff.c */
/* The record of name with a user added, or NULL when this host has none. */
struct vf_lk *vf_rec_find(struct vf_locks *L, const char *name);
/* A handoff event (DRAIN, RESUME, COMMITTED) from the lockd thread: never blocks. */
void vf_ho_event(struct vf_locks *L, const struct vmfslock_event *e);
/* Something a waiting write looks at changed (flags, fencing): wake them. */
void vf_ho_wake(struct vf_locks *L);
/* Waits while r is draining or incoming: 0 when writes may go on, -EIO when fenced or
 * after HO_WAIT_MS. */
int vf_ho_wait(struct vf_locks *L, struct vf_lk *r);
/* Waits for the drain threads to end (vmfsd stopping). */
void vf_ho_stop(struct vf_locks *L);

#endif

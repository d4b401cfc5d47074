/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vf_lock.h - vmfsd's side of the cluster locks: which names this host holds for its open
 * handles, the connection to the local vmfs-lockd, and fencing.
 *
 * One lock per host per name (struct vf_lk), shared by every handle of this host that
 * opened the name and released (vmfslock_release) when the last one closes. A lock is
 * *fenced* when it may no longer be used: lockd said this host was fenced or the name was
 * revoked, lockd went away or stopped answering, or the lease (valid-until, CLOCK_MONOTONIC)
 * ran out. A fenced lock never becomes valid again; a later open takes a new one.
 *
 * Every write-like syscall on a locked handle is bracketed by vf_lk_admit() / vf_lk_done():
 * admit refuses (-EIO) a fenced lock and a write that could land after the lease deadline
 * (now + io_timeout >= valid_until, lk_timing.h), so a hung lockd cannot extend it. The
 * check sits right before the syscall; what it admitted may still take io_timeout to land,
 * which the lease arithmetic allows for. While a handoff drains a name before its commit
 * leaves this host, or brings a name here and is not committed yet, admit waits
 * (vf_handoff.c); a commit that moved the name away fences it.
 *
 * Functions return 0 or -errno. Errors of vf_lk_take: -EBUSY (another host, or this host in
 * an incompatible mode; `who` says which), -ENOLCK (no vmfs-lockd, no quorum, cluster not
 * ready, this host fenced: `who` says which), -EINVAL (a name lockd refuses).
 */
#ifndef VMFS_VF_LOCK_H
#define VMFS_VF_LOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "lockd/client/vmfslock.h"

struct vf_locks;
struct vf_lk;

enum vf_want {
	VF_WANT_READ,   /* SH, or any lock this host already holds */
	VF_WANT_WRITE,  /* EX, or an EX/MW this host holds */
	VF_WANT_MW,     /* MW (the file carries user.vmfs.mode=mw), or an EX/MW held */
	VF_WANT_EX,     /* EX only: a change of the name (unlink, rename, truncate) */
};

/* Connects in the background (a thread keeps reconnecting and reads lockd's events).
 * config: as for vmfslock_connect. */
int vf_locks_start(const char *config, uint32_t io_timeout_ms, struct vf_locks **out);
/* Stops the thread and closes the connections: lockd releases what they held. */
void vf_locks_stop(struct vf_locks *L);

/* Takes or shares this host's lock of name. On -EBUSY/-ENOLCK, who (may be NULL) gets a
 * phrase naming the holder or the reason ("held ex by host 2 (h2), generation 3:17"). */
int vf_lk_take(struct vf_locks *L, const char *name, enum vf_want want, struct vf_lk **out,
	       char *who, size_t wholen);
/* Drops one reference; the last one releases the lock (unless fenced: lockd dropped it). */
void vf_lk_put(struct vf_locks *L, struct vf_lk *lk);
/* Does this host hold name for an open handle (any mode)? */
bool vf_lk_held_here(struct vf_locks *L, const char *name);

/* 0: the caller may issue one write-like syscall now, then must call vf_lk_done. -EIO:
 * fenced or past the lease (every lock is then fenced). */
int vf_lk_admit(struct vf_locks *L, struct vf_lk *lk);
void vf_lk_done(struct vf_locks *L, struct vf_lk *lk);
bool vf_lk_fenced(const struct vf_lk *lk);
/* Is lk arriving by handoff (writes wait for its commit; its handles must not cache)? */
bool vf_lk_incoming(const struct vf_lk *lk);
/* The mode ("ex", "sh", "mw") this host holds lk in. */
const char *vf_lk_mode(const struct vf_lk *lk);

/* lockd's "status" / "locks" JSON (vmfslock_query): -ENOLCK when lockd is not there. */
int vf_locks_query(struct vf_locks *L, const char *what, const char *path, json_t **out);

#endif

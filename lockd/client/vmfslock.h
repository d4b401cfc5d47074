/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vmfslock.h - libvmfslock: the client side of vmfs-lockd, for vmfsd, vmfsadm,
 * vmfs-handoff and migration tooling.
 *
 * A client finds its host's daemon through vmfs.conf (the run_dir names the IPC
 * service), so `-c CONFIG` means the same to every program. Lock names are paths relative
 * to the datastore root; vmfslock_name() turns an absolute path under the mount point (or
 * the datastore directory) into one.
 *
 * Every call returns 0 or -errno and is safe from several threads (one request at a time
 * per connection). Errors a caller shows to an admin:
 *   -ENOTCONN   daemon not running (connect), or no quorum (acquire)
 *   -ECONNRESET the daemon went away while the request was in flight
 *   -ETIMEDOUT  no answer within the request's own wait + 10 s (a hung daemon); the
 *               connection then answers -ENOTCONN: close it and connect again
 *   -EBUSY      held elsewhere in a conflicting mode: *holder says by whom
 *   -EAGAIN     the cluster is synchronising or recovering a host: try again
 *   -EPERM      not root and not in group vmfs (acquire, release, break)
 *   -ENOLINK    this host was fenced while the request was in flight, or is between
 *               incarnations
 *   -EINVAL     bad path or mode; -ENOENT release of a lock not held
 *   -EINPROGRESS (acquire with VMFSLOCK_F_INCOMING) the file is on its way to this host by a handoff (holder->handoff
 *               names it): open it, but hold its writes until VMFSLOCK_EV_COMMITTED (or
 *               fail them on VMFSLOCK_EV_REVOKED: the handoff was aborted)
 * What the connection holds is released by the daemon when it closes or the process dies.
 */
#ifndef VMFS_VMFSLOCK_H
#define VMFS_VMFSLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "lockd/conf/vmfs_conf.h"

struct vmfslock;

#define VMFSLOCK_NAME_MAX 527 /* bytes of a lock name (LK_PATH_MAX) */

enum vmfslock_mode {
	VMFSLOCK_SH = 1, /* readers only */
	VMFSLOCK_MW = 2, /* multi-writer */
	VMFSLOCK_EX = 3, /* one writer host */
};

struct vmfslock_gen {
	uint32_t epoch;
	uint64_t counter;
};

struct vmfslock_holder {
	uint32_t host;
	char name[64];
	char mode[8];            /* "ex", "sh", "mw"; "" when the holder has a name above
				  * or below this one locked (a directory or a file in it) */
	struct vmfslock_gen gen;
	bool local;              /* another client of this host */
	uint64_t handoff;        /* -EINPROGRESS: the handoff bringing the file here */
};

/* Loads the configuration (config, else $VMFS_CONFIG, else the default) and connects.
 * err gets one line on failure. */
int vmfslock_connect(const char *config, struct vmfslock **out, char *err, size_t errlen);
void vmfslock_close(struct vmfslock *c);
const struct vmfs_conf *vmfslock_conf(const struct vmfslock *c);

/* Lock name of path: relative paths are names already; absolute ones must lie under the
 * mount point or the datastore directory (-EXDEV otherwise). */
int vmfslock_name(const struct vmfs_conf *conf, const char *path, char *out, size_t len);

/* Waits up to wait_ms for a conflicting holder to go (0: do not wait). gen may be NULL;
 * holder (may be NULL) is filled on -EBUSY. */
int vmfslock_acquire(struct vmfslock *c, const char *name, enum vmfslock_mode mode,
		     uint32_t wait_ms, struct vmfslock_gen *gen, struct vmfslock_holder *holder);
/* The same, with the daemon's one-line reason for a refusal (-EINVAL) in why. */
int vmfslock_acquire_why(struct vmfslock *c, const char *name, enum vmfslock_mode mode,
			 uint32_t wait_ms, struct vmfslock_gen *gen, struct vmfslock_holder *holder,
			 char *why, size_t whylen);
/* With VMFSLOCK_F_INCOMING: this caller handles a file arriving by handoff (-EINPROGRESS
 * and the events that follow); without it such a file is -EBUSY like any other. */
#define VMFSLOCK_F_INCOMING 1u
int vmfslock_acquire_flags(struct vmfslock *c, const char *name, enum vmfslock_mode mode,
			   uint32_t wait_ms, unsigned flags, struct vmfslock_gen *gen,
			   struct vmfslock_holder *holder, char *why, size_t whylen);
int vmfslock_release(struct vmfslock *c, const char *name);
/* Waits for recovery to free a lock whose holder's lease expired; -EBUSY while the holder
 * lives. why (may be NULL) gets the daemon's one-line reason. */
int vmfslock_break(struct vmfslock *c, const char *name, char *why, size_t len);
/* "status", "hosts" or "locks" (path may be NULL): the daemon's JSON (json_decref it). */
int vmfslock_query(struct vmfslock *c, const char *what, const char *path, json_t **result);

/* What host (0: this one) published about itself: { host, hostname, cpuid (vmfs_cpuid.h's
 * JSON), vmfsd: whether /vmfs is mounted there }; JSON null when it published nothing (not
 * a member). json_decref it. */
int vmfslock_hostinfo(struct vmfslock *c, uint32_t host, json_t **result);

/* --- events -------------------------------------------------------------------------- */
enum vmfslock_event_type {
	VMFSLOCK_EV_FENCED = 1,  /* every lock of this host is gone: fail every handle */
	VMFSLOCK_EV_REVOKED = 2, /* path was taken away: fail its handles */
	VMFSLOCK_EV_LEASE = 3,   /* the lease deadline (CLOCK_MONOTONIC ms): admit a write
				  * only while now + io_timeout_ms < valid_until_ms, so
				  * that it lands before the deadline (lk_timing.h) */
	/* with vmfslock_events_drain only: */
	VMFSLOCK_EV_DRAIN = 4,   /* handoff `handoff` is about to commit: stop writing path
				  * (hold new writes), wait for those in flight, flush it, then
				  * vmfslock_drained(); REVOKED follows if it moved */
	VMFSLOCK_EV_RESUME = 5,  /* that commit did not happen: held writes to path go on */
	VMFSLOCK_EV_COMMITTED = 6, /* path, incoming (-EINPROGRESS), is this host's now at
				    * generation gen: held writes go on, caches of it are stale */
};
struct vmfslock_event {
	enum vmfslock_event_type type;
	char text[600];          /* FENCED: why; REVOKED, DRAIN, RESUME, COMMITTED: the path */
	int64_t valid_until_ms;  /* LEASE; 0 = no lease */
	uint64_t handoff;        /* DRAIN, RESUME, COMMITTED */
	struct vmfslock_gen gen; /* COMMITTED */
};
/* Subscribes this connection to events. */
int vmfslock_events(struct vmfslock *c);
/* The same, for a process that also drains the files it holds before a handoff commits
 * (vmfsd): the commit waits up to io_timeout + 1 s (3 s by default) for
 * vmfslock_drained of each. */
int vmfslock_events_drain(struct vmfslock *c);
/* This process stopped writing name for handoff id (answer to VMFSLOCK_EV_DRAIN). */
int vmfslock_drained(struct vmfslock *c, uint64_t id, const char *name);
/* A descriptor that polls readable when an event (or a hang-up) is waiting. */
int vmfslock_event_fd(struct vmfslock *c);
/* Next event, waiting up to timeout_ms (-1 forever): 0, -ETIMEDOUT, -ENOTCONN. */
int vmfslock_event_next(struct vmfslock *c, struct vmfslock_event *ev, int timeout_ms);

/* --- handoffs (vmfs-handoff(8), for migration tooling) --------------------------------
 * Each call returns 0 or -errno and, where why is given, the daemon's one line:
 *   prepare: -ENXIO no such host; -EHOSTUNREACH destination not a live quorate member;
 *            -ENOENT a name this host does not hold (nor anything under it); -EUSERS a
 *            file held by a third host or by the destination, or already in a handoff;
 *            -EINVAL bad name, shared (sh) file, destination is this host
 *   commit:  -ENOENT unknown id; -EPERM not its source; -ECANCELED it was aborted;
 *            -ETIMEDOUT a writer here did not drain (nothing moved); -ESTALE a party
 *            restarted; -EHOSTDOWN destination recovered before confirming
 *   abort:   -ENOENT unknown id; -EPERM a third host; -EALREADY it was committed
 *   all:     -EAGAIN the cluster is settling or the handoff is in doubt: try again;
 *            -ENOTCONN no quorum */
/* to: corosync node name or node id; names: files, or directories (every lock this host
 * holds under each); *id: the new handoff. */
int vmfslock_ho_prepare(struct vmfslock *c, const char *to, const char *const *names,
			size_t n, uint64_t *id, char *why, size_t whylen);
/* Returns once the transfer is agreed and durable on the destination; repeatable. */
int vmfslock_ho_commit(struct vmfslock *c, uint64_t id, char *why, size_t whylen);
/* Repeatable; the files stay with the source. */
int vmfslock_ho_abort(struct vmfslock *c, uint64_t id, char *why, size_t whylen);
/* The daemon's view (json_decref it): { id, state: pending|committed|aborted|unknown,
 * detail, source, destination: { host, name, incarnation }, files: [ { path, holders } ] }. */
int vmfslock_ho_status(struct vmfslock *c, uint64_t id, json_t **result);

#endif

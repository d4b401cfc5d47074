/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lki_int.h - what lki.c (clients, acquires, the libqb service) and lki_ho.c (handoff
 * ops, drains, incoming files) share inside vmfs-lockd's IPC server.
 */
#ifndef VMFS_LKI_INT_H
#define VMFS_LKI_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>
#include <qb/qbipcs.h>

#include "lockd/core/lk_agent.h"

#define VMFS_GROUP "vmfs"
/* An acquire the agent has not answered after this long (it holds requests while the
 * cluster settles a departed host) is answered -EAGAIN once its wait is over. */
#define AGENT_PATIENCE_MS 1000

/* What one connection holds of one name. incoming: the name is on its way to this host
 * in that handoff (prepared, not committed): the client may open it, must hold its writes
 * until the "committed" event, and is told "revoked" if the handoff is aborted. */
struct chold {
	char *path;
	enum lk_mode mode;
	uint32_t count;
	uint64_t incoming;
};

struct client;

/* A request in progress: an acquire (granted, refused, parked or asked of the agent)
 * or a break waiting for recovery to free the lock. */
struct pending {
	struct client *c; /* NULL once the client went away */
	bool is_break;
	int64_t seq;
	char path[LK_PATH_MAX + 1];
	enum lk_mode mode;
	bool incoming;      /* the client takes a file arriving by handoff (-EINPROGRESS) */
	int64_t deadline;   /* monotonic ms: answer by then */
	uint64_t agent_req; /* in flight with the agent, 0 when parked */
	int64_t asked_at;   /* when agent_req was sent */
	int last_rc;
	json_t *last_info;  /* holder of the last -EBUSY */
	struct pending *next;
};

struct client {
	struct lki *s;
	qb_ipcs_connection_t *conn;
	uid_t uid;
	gid_t gid;
	pid_t pid;
	bool may_write, events, busy;
	bool drains;        /* events with drain: it drains files before a commit leaves */
	bool dropped;       /* disconnect scheduled: its requests are ignored */
	struct chold *holds;
	size_t nholds, capholds;
	struct client *next;
};

struct ho_call;
struct ho_drain;
struct ho_claim;

struct lki {
	struct lkd *d;
	qb_ipcs_service_t *svc;
	struct client *clients;
	struct pending *pending;
	uint64_t next_req;
	gid_t vmfs_gid;
	bool have_vmfs_gid;
	int64_t next_retry;
	/* lki_ho.c */
	struct ho_call *ho_calls;   /* prepares, commits, aborts in progress */
	struct ho_drain *drains;    /* files a commit waits for a client process to drain */
	struct ho_claim *unclaimed; /* files that came by handoff with no client to take them */
	uint64_t *ho_done;          /* committed handoffs to us already handed to clients */
	size_t nho_done;
	bool ho_checking;
	bool ho_incoming;           /* some hold may be incoming: lki_ho_check looks */
	uint64_t *ho_sent;          /* handoffs whose commit went to the agent, not final yet */
	size_t nho_sent;
};

/* lki.c */
struct chold *lki_hold_find(struct client *c, const char *path);
int lki_hold_add(struct client *c, const char *path, enum lk_mode mode);
void lki_hold_del(struct client *c, struct chold *h);
void lki_send_json(qb_ipcs_connection_t *conn, int32_t id, int rc, json_t *body, bool event);
/* Answers c's request seq with rc and the members of info (taken); c may be NULL. */
void lki_respond(struct client *c, int64_t seq, int rc, json_t *info);
/* Sends ev (taken) to every subscribed connection of a process that holds path. */
void lki_path_event(struct lki *s, json_t *ev, const char *path);
json_t *lki_gen_json(struct lk_gen g);
/* Why p is no lock name (relative, normalised, printable, not .vmfs), or NULL. */
const char *lki_path_problem(const char *p);

/* lki_ho.c: the ops (request handlers, as in lki.c's table) */
int lki_op_ho_prepare(struct lki *s, struct client *c, int64_t seq, json_t *req);
int lki_op_ho_commit(struct lki *s, struct client *c, int64_t seq, json_t *req);
int lki_op_ho_abort(struct lki *s, struct client *c, int64_t seq, json_t *req);
int lki_op_ho_status(struct lki *s, struct client *c, int64_t seq, json_t *req);
int lki_op_drained(struct lki *s, struct client *c, int64_t seq, json_t *req);
/* The agent answered x->req: true when it was a handoff call of ours. */
bool lki_ho_reply(struct lki *s, const struct lk_act *x);
/* An acquire of path was refused because it is on its way to this host (handoff id):
 * c holds it as incoming. 0 or -errno. */
int lki_ho_incoming(struct client *c, const char *path, enum lk_mode mode, uint64_t id);
void lki_ho_tick(struct lki *s, int64_t now);
/* c goes away: its calls lose their client, its drains count as done. */
void lki_ho_client_gone(struct lki *s, struct client *c);
/* A client took path with an acquire of its own: a handoff's reference of it goes. */
void lki_ho_claimed(struct lki *s, const char *path);
/* This incarnation stopped: calls answered -ENOLINK, drains and claims forgotten. */
void lki_ho_fenced(struct lki *s);
/* Is a commit draining path here (no new local holder may join meanwhile)? */
bool lki_ho_draining(const struct lki *s, const char *path);
/* path was taken from this host (revoked): nothing of it is unclaimed any more. */
void lki_ho_forget(struct lki *s, const char *path);
void lki_ho_stop(struct lki *s);

#endif

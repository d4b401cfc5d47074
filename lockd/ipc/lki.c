/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lki.c - vmfs-lockd's local clients over libqb IPC (contract: lki.h, protocol:
 * lki_proto.h).
 *
 * Sections: clients and their holds · responses and events · requests (one handler per
 * op, in one table) · waiting acquires · agent callbacks · the libqb service.
 *
 * A request is validated in a fixed order (header id, size, JSON object, "op", "seq",
 * the op's fields); the first failure ends the connection with one log line naming the
 * client's pid and uid. Responses go out in request order: a connection may have one
 * request in progress (an acquire may wait); a second one before its answer is a
 * protocol error.
 */
#define _GNU_SOURCE /* getgrouplist */
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <qb/qbipcs.h>
#include <qb/qbloop.h>
#include <qb/qblog.h>

#include "lockd/cluster/lkc_info.h"
#include "lockd/daemon/lkd.h"
#include "lockd/ipc/lki.h"
#include "lockd/ipc/lki_int.h"
#include "lockd/ipc/lki_proto.h"

struct chold *lki_hold_find(struct client *c, const char *path)
{
	for (size_t i = 0; i < c->nholds; i++)
		if (strcmp(c->holds[i].path, path) == 0)
			return &c->holds[i];
	return NULL;
}

int lki_hold_add(struct client *c, const char *path, enum lk_mode mode)
{
	struct chold *h;

	if (c->nholds == c->capholds) {
		size_t ncap = c->capholds ? 2 * c->capholds : 8;

		h = realloc(c->holds, ncap * sizeof(*h));
		if (!h)
			return -ENOMEM;
		c->holds = h;
		c->capholds = ncap;
	}
	h = &c->holds[c->nholds];
	h->path = strdup(path);
	if (!h->path)
		return -ENOMEM;
	h->mode = mode;
	h->count = 1;
	h->incoming = 0;
	c->nholds++;
	return 0;
}

void lki_hold_del(struct client *c, struct chold *h)
{
	free(h->path);
	*h = c->holds[--c->nholds];
}

/*
 * Another connection of this host holds path, or is being granted it, in a mode that
 * conflicts with mode? Returns that mode, or LK_MODE_NONE.
 */
static enum lk_mode local_conflict(struct lki *s, const struct client *me, const char *path,
				   enum lk_mode mode)
{
	for (struct client *c = s->clients; c; c = c->next) {
		const struct chold *h;

		if (c == me)
			continue;
		h = lki_hold_find(c, path);
		if (h && !lk_mode_compatible(h->mode, mode))
			return h->mode;
	}
	for (const struct pending *p = s->pending; p; p = p->next)
		if (p->agent_req && p->c && p->c != me && !p->is_break &&
		    strcmp(p->path, path) == 0 &&
		    !lk_mode_compatible(p->mode, mode))
			return p->mode;
	return LK_MODE_NONE;
}

static void release_hold(struct lki *s, struct client *c, struct chold *h)
{
	if (s->d->agent)
		lk_agent_release(s->d->agent, h->path, lkd_now(), lkd_wall());
	lki_hold_del(c, h);
	s->d->retry_waiters = true;
}

/* --- responses and events ------------------------------------------------------------------ */

void lki_send_json(qb_ipcs_connection_t *conn, int32_t id, int rc, json_t *body, bool event)
{
	char *text = json_dumps(body, JSON_COMPACT);
	size_t len = text ? strlen(text) : 0;
	struct qb_ipc_response_header hdr = { .id = id, .error = rc };
	struct iovec iov[2] = { { &hdr, sizeof(hdr) }, { text, len } };
	ssize_t n;

	hdr.size = (int32_t)(sizeof(hdr) + len);
	if (!text || hdr.size > (int32_t)LKI_MAX_MSG) {
		qb_log(LOG_ERR, "response of %zu bytes does not fit the IPC buffer", len);
		hdr.error = -EMSGSIZE;
		iov[1].iov_len = 0;
		hdr.size = sizeof(hdr);
	}
	n = event ? qb_ipcs_event_sendv(conn, iov, 2) : qb_ipcs_response_sendv(conn, iov, 2);
	if (n < 0)
		qb_log(LOG_DEBUG, "cannot send to a client: %s", strerror((int)-n));
	free(text);
}

/* Answers c's request seq with rc and the members of info (taken). */
void lki_respond(struct client *c, int64_t seq, int rc, json_t *info)
{
	json_t *body = info ? info : json_object();

	json_object_set_new(body, "seq", json_integer(seq));
	if (c) {
		lki_send_json(c->conn, LKI_RESPONSE, rc, body, false);
		c->busy = false;
	}
	json_decref(body);
}

static void broadcast_event(struct lki *s, json_t *ev)
{
	for (struct client *c = s->clients; c; c = c->next)
		if (c->events)
			lki_send_json(c->conn, LKI_EVENT, 0, ev, true);
	json_decref(ev);
}

/* A process may hold locks on some connections and read events on another (vmfsd). */
static bool pid_holds(struct lki *s, pid_t pid, const char *path)
{
	for (struct client *c = s->clients; c; c = c->next)
		if (c->pid == pid && lki_hold_find(c, path))
			return true;
	return false;
}

void lki_path_event(struct lki *s, json_t *ev, const char *path)
{
	for (struct client *c = s->clients; c; c = c->next)
		if (c->events && pid_holds(s, c->pid, path))
			lki_send_json(c->conn, LKI_EVENT, 0, ev, true);
	json_decref(ev);
}

/* --- requests -------------------------------------------------------------------------------- */

json_t *lki_gen_json(struct lk_gen g)
{
	return json_pack("[II]", (json_int_t)g.epoch, (json_int_t)g.counter);
}

/* A lock name: relative, normalised, printable, at most LK_PATH_MAX bytes. */
const char *lki_path_problem(const char *p)
{
	size_t len = strlen(p);

	if (!len)
		return "empty path";
	if (len > LK_PATH_MAX)
		return "path longer than 527 bytes";
	if (p[0] == '/')
		return "path must be relative to the datastore root";
	if (p[len - 1] == '/')
		return "path ends with '/'";
	for (const char *q = p; *q; q++)
		if ((unsigned char)*q < 0x20 || *q == 0x7f)
			return "control character in path";
	for (const char *q = p; q; q = strchr(q, '/')) {
		q += *q == '/';
		if (*q == '/' || strncmp(q, "./", 2) == 0 || strcmp(q, ".") == 0 ||
		    strncmp(q, "../", 3) == 0 || strcmp(q, "..") == 0)
			return "path has an empty, '.' or '..' component";
	}
	if (strcmp(p, ".vmfs") == 0 || strncmp(p, ".vmfs/", 6) == 0)
		return "the lock volume (.vmfs) cannot be locked";
	return NULL;
}

static void holder_info(struct lki *s, json_t *info, lk_host_t h, enum lk_mode mode,
			struct lk_gen gen)
{
	const struct lkd_slot *sl = h <= LK_MAX_HOSTS ? &s->d->slots[h] : NULL;

	json_object_set_new(info, "holder", json_integer(h));
	if (mode != LK_MODE_NONE) /* none: the holder of a name above or below (lk_apply.c) */
		json_object_set_new(info, "holder_mode", json_string(lk_mode_name(mode)));
	json_object_set_new(info, "holder_gen", lki_gen_json(gen));
	if (sl && sl->rc == 0 && sl->hb.hostname[0])
		json_object_set_new(info, "holder_name", json_string(sl->hb.hostname));
}

static void ask_agent(struct lki *s, struct pending *p)
{
	p->agent_req = ++s->next_req;
	p->asked_at = lkd_now();
	lk_agent_acquire(s->d->agent, p->agent_req, p->path, p->mode, lkd_now(), lkd_wall());
	/* its actions are carried out by the caller once done with p: the agent may answer
	 * at once, and that answer frees p */
}

/* Tries p now: local conflict, own re-acquire, or the agent. */
static void try_acquire(struct lki *s, struct pending *p)
{
	struct client *c = p->c;
	enum lk_mode other = local_conflict(s, c, p->path, p->mode);
	struct chold *mine = lki_hold_find(c, p->path);
	enum lk_mode mode;
	struct lk_gen gen;

	if (!s->d->agent) {
		p->last_rc = -ENOTCONN;
		return;
	}
	if (other) {
		json_decref(p->last_info);
		p->last_info = json_object();
		holder_info(s, p->last_info, s->d->host, other, (struct lk_gen){ 0, 0 });
		json_object_set_new(p->last_info, "local", json_true());
		p->last_rc = -EBUSY;
		return;
	}
	if (!mine && lki_ho_draining(s, p->path)) {
		/* a commit is stopping this host's writers of it: no new one joins them */
		json_decref(p->last_info);
		p->last_info = json_object();
		holder_info(s, p->last_info, s->d->host, LK_MODE_NONE, (struct lk_gen){ 0, 0 });
		p->last_rc = -EBUSY;
		return;
	}
	if (mine && mine->incoming) {
		mine->count++;
		p->last_rc = -EINPROGRESS;
		json_decref(p->last_info);
		p->last_info = json_pack("{s:I}", "handoff", (json_int_t)mine->incoming);
		return;
	}
	if (mine) {
		if (mine->mode != p->mode) {
			p->last_rc = -EINVAL;
			return;
		}
		if (lk_agent_using(s->d->agent, p->path, lkd_now(), &mode, &gen)) {
			mine->count++;
			p->last_rc = 0;
			json_decref(p->last_info);
			p->last_info = json_pack("{s:o}", "gen", lki_gen_json(gen));
			return;
		}
	}
	ask_agent(s, p);
}

static void pending_unlink(struct lki *s, struct pending *p)
{
	for (struct pending **pp = &s->pending; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	json_decref(p->last_info);
	free(p);
}

/* Answers p with its last outcome and forgets it. */
static void pending_answer(struct lki *s, struct pending *p)
{
	json_t *info = p->last_info;

	p->last_info = NULL;
	lki_respond(p->c, p->seq, p->last_rc, info);
	pending_unlink(s, p);
}

static bool retryable(int rc)
{
	return rc == -EBUSY || rc == -EAGAIN || rc == -ENOTCONN;
}

/* After an attempt: answer it, or leave it parked until freed or its deadline. */
static void settle(struct lki *s, struct pending *p)
{
	if (p->agent_req)
		return; /* the agent will answer */
	if (p->last_rc == 0 || !retryable(p->last_rc) || lkd_now() >= p->deadline || !p->c)
		pending_answer(s, p);
}

static int op_acquire(struct lki *s, struct client *c, int64_t seq, json_t *req)
{
	const char *path = NULL, *mode = NULL;
	json_int_t wait_ms = 0;
	struct pending *p;
	const char *why;
	enum lk_mode m;
	int incoming = 0;

	if (json_unpack(req, "{s:s, s:s, s?I, s?b}", "path", &path, "mode", &mode, "wait_ms",
			&wait_ms, "incoming", &incoming) < 0 || wait_ms < 0 || wait_ms > 86400000)
		return -EPROTO;
	m = lk_mode_parse(mode);
	why = lki_path_problem(path);
	if (m == LK_MODE_NONE || why) {
		lki_respond(c, seq, -EINVAL, json_pack("{s:s}", "why", why ? why : "unknown mode"));
		return 0;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	*p = (struct pending){ .c = c, .seq = seq, .mode = m, .incoming = incoming,
			       .deadline = lkd_now() + wait_ms, .next = s->pending };
	snprintf(p->path, sizeof(p->path), "%s", path);
	s->pending = p;
	c->busy = true;
	try_acquire(s, p);
	settle(s, p);
	lkd_run_actions(s->d);
	return 0;
}

static int op_release(struct lki *s, struct client *c, int64_t seq, json_t *req)
{
	const char *path = NULL;
	struct chold *h;

	if (json_unpack(req, "{s:s}", "path", &path) < 0)
		return -EPROTO;
	h = lki_hold_find(c, path);
	if (!h) {
		lki_respond(c, seq, -ENOENT, NULL);
		return 0;
	}
	if (--h->count == 0) {
		release_hold(s, c, h);
		lkd_run_actions(s->d);
	}
	lki_respond(c, seq, 0, NULL);
	return 0;
}

struct find_lock {
	struct lki *s;
	const char *path;
	int rc;           /* 0 free, -EBUSY a holder lives, -EINPROGRESS all expired */
	char *why;
	size_t len;
};

/* Every holder of path must have an expired lease; the first that lives refuses. */
static void find_lock_fn(void *arg, const char *path, const struct lk_lock_view *v, size_t n,
			 uint64_t ho)
{
	struct find_lock *f = arg;

	(void)ho;
	if (strcmp(path, f->path) != 0)
		return;
	for (size_t i = 0; i < n && f->rc != -EBUSY; i++) {
		const struct lkd_slot *sl = &f->s->d->slots[v[i].host];

		if (!v[i].orphan) {
			snprintf(f->why, f->len, "%s is held by host %u, a live cluster member%s",
				 path, v[i].host, sl->dead ? " whose heartbeat stopped: it is evicted "
				 "and recovered without help" : " renewing its lease");
			f->rc = -EBUSY;
		} else if (!sl->dead) {
			snprintf(f->why, f->len, "%s is held by host %u, which left the cluster, but "
				 "its lease is still being renewed on disk", path, v[i].host);
			f->rc = -EBUSY;
		} else {
			snprintf(f->why, f->len, "host %u's lease expired: the recovery coordinator "
				 "frees %s", v[i].host, path);
			f->rc = -EINPROGRESS;
		}
	}
}

/* 0: free now; -EBUSY with why: a holder lives; -EINPROGRESS: recovery will free it. */
static int break_check(struct lki *s, const char *path, char *why, size_t len)
{
	struct find_lock f = { .s = s, .path = path, .why = why, .len = len };

	lk_state_foreach(lk_agent_state(s->d->agent), find_lock_fn, &f);
	return f.rc;
}

static int op_break(struct lki *s, struct client *c, int64_t seq, json_t *req)
{
	const char *path = NULL;
	char why[256] = "";
	struct pending *p;
	int rc;

	if (json_unpack(req, "{s:s}", "path", &path) < 0)
		return -EPROTO;
	if (lki_path_problem(path)) {
		lki_respond(c, seq, -EINVAL, json_pack("{s:s}", "why", lki_path_problem(path)));
		return 0;
	}
	if (!s->d->agent) {
		lki_respond(c, seq, -ENOLINK, json_pack("{s:s}", "why", "this host is between "
						    "incarnations (fenced or not connected to corosync)"));
		return 0;
	}
	rc = break_check(s, path, why, sizeof(why));
	if (rc != -EINPROGRESS) {
		lki_respond(c, seq, rc, rc ? json_pack("{s:s}", "why", why) : NULL);
		return 0;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	*p = (struct pending){ .c = c, .is_break = true, .seq = seq, .last_rc = -EINPROGRESS,
			       .deadline = lkd_now() + s->d->timing.host_dead_ms + 5000,
			       .last_info = json_pack("{s:s}", "why", why), .next = s->pending };
	snprintf(p->path, sizeof(p->path), "%s", path);
	s->pending = p;
	c->busy = true;
	return 0;
}

static int op_view(struct lki *s, struct client *c, int64_t seq, json_t *req, char which)
{
	const char *path = NULL;
	json_t *v;

	if (which == 'l' && json_unpack(req, "{s?s}", "path", &path) < 0)
		return -EPROTO;
	v = which == 's' ? lkd_view_status(s->d) : which == 'h' ? lkd_view_hosts(s->d) :
							     lkd_view_locks(s->d, path);
	lki_respond(c, seq, v ? 0 : -ENOMEM, v ? json_pack("{s:o}", "result", v) : NULL);
	return 0;
}

static int op_status(struct lki *s, struct client *c, int64_t seq, json_t *req)
{
	return op_view(s, c, seq, req, 's');
}

static int op_hosts(struct lki *s, struct client *c, int64_t seq, json_t *req)
{
	return op_view(s, c, seq, req, 'h');
}

static int op_locks(struct lki *s, struct client *c, int64_t seq, json_t *req)
{
	return op_view(s, c, seq, req, 'l');
}

bool lki_has_vmfsd(const struct lki *s)
{
	for (const struct client *c = s ? s->clients : NULL; c; c = c->next)
		if (c->drains && !c->dropped)
			return true;
	return false;
}

static int op_hostinfo(struct lki *s, struct client *c, int64_t seq, json_t *req)
{
	json_int_t h = s->d->host;
	json_t *v;

	if (json_unpack(req, "{s?I}", "host", &h) < 0 || h < 1 || h > LK_MAX_HOSTS)
		return -EPROTO;
	v = lkd_view_hostinfo(s->d, (lk_host_t)h);
	lki_respond(c, seq, v ? 0 : -ENOMEM, v ? json_pack("{s:o}", "result", v) : NULL);
	return 0;
}

static int op_events(struct lki *s, struct client *c, int64_t seq, json_t *req)
{
	const struct lk_lease *l = s->d->agent ? lk_agent_lease(s->d->agent) : NULL;
	json_t *ev;

	int drain = 0;

	if (json_unpack(req, "{s?b}", "drain", &drain) < 0)
		return -EPROTO;
	c->events = true;
	if (drain && !c->drains) {
		c->drains = true;
		lkc_info_changed(s->d->info); /* the other hosts learn that vmfsd runs here */
	}
	lki_respond(c, seq, 0, NULL);
	ev = json_pack("{s:s, s:I}", "event", "lease", "valid_until_ms",
		       (json_int_t)(l && l->valid ? l->deadline : 0));
	lki_send_json(c->conn, LKI_EVENT, 0, ev, true);
	json_decref(ev);
	return 0;
}

static const struct op {
	const char *name;
	bool write;
	int (*fn)(struct lki *s, struct client *c, int64_t seq, json_t *req);
} ops[] = {
	{ .name = "acquire", .write = true, .fn = op_acquire },
	{ .name = "release", .write = true, .fn = op_release },
	{ .name = "break", .write = true, .fn = op_break },
	{ .name = "status", .write = false, .fn = op_status },
	{ .name = "hosts", .write = false, .fn = op_hosts },
	{ .name = "locks", .write = false, .fn = op_locks },
	{ .name = "events", .write = false, .fn = op_events },
	{ .name = "ho_prepare", .write = true, .fn = lki_op_ho_prepare },
	{ .name = "ho_commit", .write = true, .fn = lki_op_ho_commit },
	{ .name = "ho_abort", .write = true, .fn = lki_op_ho_abort },
	{ .name = "ho_status", .write = false, .fn = lki_op_ho_status },
	{ .name = "hostinfo", .write = false, .fn = op_hostinfo },
	{ .name = "drained", .write = true, .fn = lki_op_drained },
	{ .name = NULL },
};

static void disconnect_job(void *data)
{
	qb_ipcs_connection_t *conn = data;

	qb_ipcs_disconnect(conn);
	qb_ipcs_connection_unref(conn);
}

/* Ends a misbehaving client's connection once libqb is done with its request (never
 * from inside msg_process: libqb still uses the connection after it returns). */
static void drop(struct client *c, const char *why)
{
	if (c->dropped)
		return;
	qb_log(LOG_WARNING, "client pid %d (uid %u) disconnected: %s", (int)c->pid,
	       (unsigned)c->uid, why);
	c->dropped = true;
	qb_ipcs_connection_ref(c->conn);
	if (qb_loop_job_add(c->s->d->loop, QB_LOOP_HIGH, c->conn, disconnect_job) != 0)
		qb_ipcs_connection_unref(c->conn);
}

static int32_t msg_process(qb_ipcs_connection_t *conn, void *data, size_t size)
{
	struct client *c = qb_ipcs_context_get(conn);
	struct qb_ipc_request_header hdr;
	const struct op *op;
	json_error_t jerr;
	const char *name = NULL;
	json_int_t seq = 0;
	json_t *req;
	int rc;

	if (!c || c->dropped)
		return 0;
	/* libqb hands over hdr.size bytes: the size field is the message's length. The
	 * header is copied out: libqb's ring may hand it over 4-byte aligned only. */
	if (size >= sizeof(hdr))
		memcpy(&hdr, data, sizeof(hdr));
	if (size < sizeof(hdr) || hdr.id != LKI_REQUEST) {
		drop(c, "malformed request header");
		return 0;
	}
	if (size - sizeof(hdr) > LKI_MAX_REQUEST) {
		drop(c, "oversized request");
		return 0;
	}
	if (c->busy) {
		drop(c, "a second request before the answer to the first");
		return 0;
	}
	req = json_loadb((const char *)data + sizeof(hdr), size - sizeof(hdr),
			 JSON_REJECT_DUPLICATES, &jerr);
	if (!req || json_unpack(req, "{s:s, s:I}", "op", &name, "seq", &seq) < 0) {
		drop(c, req ? "request without op or seq" : "request is not JSON");
		json_decref(req);
		return 0;
	}
	for (op = ops; op->name && strcmp(op->name, name) != 0; op++)
		;
	if (!op->name) {
		drop(c, "unknown op");
		json_decref(req);
		return 0;
	}
	if (op->write && !c->may_write) {
		qb_log(LOG_NOTICE, "client pid %d (uid %u) may not %s: needs root or group %s",
		       (int)c->pid, (unsigned)c->uid, name, VMFS_GROUP);
		lki_respond(c, seq, -EPERM, NULL);
		json_decref(req);
		return 0;
	}
	rc = op->fn(c->s, c, seq, req);
	if (rc == -EPROTO)
		drop(c, "request fields missing or of the wrong type");
	else if (rc < 0)
		lki_respond(c, seq, rc, NULL);
	json_decref(req);
	return 0;
}

/* --- waiting acquires and agent callbacks ------------------------------------------------- */

/* Is handoff id a pending one to this host? */
static bool incoming_here(struct lki *s, uint64_t id)
{
	const struct ho_rec *r = lk_state_handoff_by_id(lk_agent_state(s->d->agent), id);

	return r && r->dst == s->d->host && r->dst_inc == s->d->inc &&
	       (r->state == HO_PENDING || r->state == HO_COMMITTED);
}

void lki_reply(struct lki *s, const struct lk_act *x)
{
	struct pending *p;

	if (lki_ho_reply(s, x))
		return;
	for (p = s->pending; p && (p->is_break || p->agent_req != x->req); p = p->next)
		;
	if (!p)
		return;
	p->agent_req = 0;
	p->last_rc = x->rc;
	json_decref(p->last_info);
	p->last_info = NULL;
	if (x->rc == 0) {
		if (!p->c) {
			/* the client went away meanwhile: give the lock back */
			lk_agent_release(s->d->agent, p->path, lkd_now(), lkd_wall());
		} else if (lki_hold_find(p->c, p->path)) {
			lki_hold_find(p->c, p->path)->count++;
			lk_agent_release(s->d->agent, p->path, lkd_now(), lkd_wall());
		} else if (lki_hold_add(p->c, p->path, p->mode) < 0) {
			lk_agent_release(s->d->agent, p->path, lkd_now(), lkd_wall());
			p->last_rc = -ENOMEM;
		}
		p->last_info = json_pack("{s:o}", "gen", lki_gen_json(x->gen));
		lki_ho_claimed(s, p->path);
	} else if (x->rc == -EBUSY && x->handoff_id && x->holder == s->d->host && p->c &&
		   p->incoming && incoming_here(s, x->handoff_id)) {
		/* on its way here: the client may open it, its writes wait for the commit */
		p->last_rc = lki_ho_incoming(p->c, p->path, p->mode, x->handoff_id);
		if (p->last_rc == 0)
			p->last_rc = -EINPROGRESS;
		p->last_info = json_pack("{s:I}", "handoff", (json_int_t)x->handoff_id);
	} else if (x->rc == -EBUSY) {
		p->last_info = json_object();
		holder_info(s, p->last_info, x->holder, LK_MODE_NONE, x->gen);
		if (p->last_info) {
			struct lk_lock_view v;

			if (lk_state_holds(lk_agent_state(s->d->agent), p->path, x->holder, &v)) {
				json_object_set_new(p->last_info, "holder_mode",
						    json_string(lk_mode_name(v.mode)));
				json_object_set_new(p->last_info, "holder_gen", lki_gen_json(v.gen));
			}
		}
	}
	settle(s, p);
}

void lki_retry_waiters(struct lki *s)
{
	struct pending *p, *next;

	for (p = s->pending; p; p = next) {
		next = p->next;
		if (p->agent_req || !p->c)
			continue;
		if (p->is_break) {
			char why[256];
			int rc = s->d->agent ? break_check(s, p->path, why, sizeof(why)) : -ENOTCONN;

			if (rc != -EINPROGRESS) {
				p->last_rc = rc;
				json_decref(p->last_info);
				p->last_info = rc ? json_pack("{s:s}", "why", why) : NULL;
				pending_answer(s, p);
			}
			continue;
		}
		try_acquire(s, p);
		settle(s, p);
	}
	lkd_run_actions(s->d);
}

void lki_tick(struct lki *s, int64_t now)
{
	struct pending *p, *next;

	for (p = s->pending; p; p = next) {
		next = p->next;
		if (!p->agent_req && now >= p->deadline) {
			pending_answer(s, p);
		} else if (p->agent_req && p->c && now >= p->deadline &&
			   now >= p->asked_at + AGENT_PATIENCE_MS) {
			/* the agent keeps the request (a departed host is being settled): the
			 * client hears -EAGAIN now; a late grant is given back (no client) */
			lki_respond(p->c, p->seq, -EAGAIN, json_pack("{s:s}", "why", "the cluster is "
				"settling a departed host; try again"));
			p->c = NULL;
		}
	}
	lki_ho_tick(s, now);
	if (now >= s->next_retry) {
		s->next_retry = now + 500; /* a freed lock is seen at once; this is the backstop */
		lki_retry_waiters(s);
	}
}

void lki_revoke(struct lki *s, const char *path)
{
	struct chold *h;

	lki_path_event(s, json_pack("{s:s, s:s}", "event", "revoked", "path", path), path);
	/* the agent let its hold go: ours go too (without releasing what is no more), so a
	 * later acquire of the path asks the cluster again */
	for (struct client *c = s->clients; c; c = c->next)
		if ((h = lki_hold_find(c, path)))
			lki_hold_del(c, h);
	lki_ho_forget(s, path);
}

void lki_lease(struct lki *s, int64_t deadline)
{
	if (s)
		broadcast_event(s, json_pack("{s:s, s:I}", "event", "lease", "valid_until_ms",
					     (json_int_t)deadline));
}

void lki_fenced(struct lki *s, const char *why)
{
	broadcast_event(s, json_pack("{s:s, s:s}", "event", "fenced", "why", why));
	for (struct client *c = s->clients; c; c = c->next)
		while (c->nholds)
			lki_hold_del(c, &c->holds[0]);
	for (struct pending *p = s->pending; p; p = p->next)
		if (p->agent_req) {
			p->agent_req = 0;
			p->last_rc = -ENOLINK;
		}
	lki_ho_fenced(s);
}

void lki_stopping(struct lki *s, const char *why)
{
	/* told first, then released: the event says their handles must fail from now on */
	broadcast_event(s, json_pack("{s:s, s:s}", "event", "fenced", "why", why));
	lki_release_all(s);
}

void lki_release_all(struct lki *s)
{
	for (struct client *c = s->clients; c; c = c->next)
		while (c->nholds)
			release_hold(s, c, &c->holds[0]);
	lkd_run_actions(s->d);
}

/* --- the libqb service ----------------------------------------------------------------------- */

static bool in_group(struct lki *s, uid_t uid, gid_t gid)
{
	struct passwd pw, *pwp = NULL;
	gid_t groups[256];
	int n = 256;
	char buf[4096];

	if (!s->have_vmfs_gid)
		return false;
	if (gid == s->vmfs_gid)
		return true;
	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &pwp) != 0 || !pwp)
		return false;
	if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &n) < 0)
		return false;
	for (int i = 0; i < n; i++)
		if (groups[i] == s->vmfs_gid)
			return true;
	return false;
}

/* Everyone may connect and read; writing is checked per request against these. */
static int32_t conn_accept(qb_ipcs_connection_t *conn, uid_t uid, gid_t gid)
{
	struct lki *s = qb_ipcs_connection_service_context_get(conn);
	struct client *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->s = s;
	c->conn = conn;
	c->uid = uid;
	c->gid = gid;
	c->may_write = uid == 0 || in_group(s, uid, gid);
	qb_ipcs_context_set(conn, c);
	return 0;
}

static void conn_created(qb_ipcs_connection_t *conn)
{
	struct client *c = qb_ipcs_context_get(conn);
	struct qb_ipcs_connection_stats st;

	if (!c)
		return;
	if (qb_ipcs_connection_stats_get(conn, &st, QB_FALSE) == 0)
		c->pid = st.client_pid;
	c->next = c->s->clients;
	c->s->clients = c;
}

static int32_t conn_closed(qb_ipcs_connection_t *conn)
{
	struct client *c = qb_ipcs_context_get(conn);
	struct lki *s;

	if (!c)
		return 0;
	s = c->s;
	lki_ho_client_gone(s, c);
	while (c->nholds)
		release_hold(s, c, &c->holds[0]);
	for (struct pending *p = s->pending, *next; p; p = next) {
		next = p->next;
		if (p->c != c)
			continue;
		p->c = NULL;
		if (!p->agent_req)
			pending_unlink(s, p); /* parked: nobody to answer, nothing to give back */
	}
	for (struct client **pp = &s->clients; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	qb_ipcs_context_set(conn, NULL);
	if (c->drains)
		lkc_info_changed(s->d->info);
	free(c->holds);
	free(c);
	lkd_run_actions(s->d);
	return 0;
}

static void conn_destroyed(qb_ipcs_connection_t *conn)
{
	(void)conn;
}

/* libqb's poll hooks onto our qb_loop. */
static qb_loop_t *hook_loop;

static int32_t job_add(enum qb_loop_priority p, void *data, qb_loop_job_dispatch_fn fn)
{
	return qb_loop_job_add(hook_loop, p, data, fn);
}

static int32_t dispatch_add(enum qb_loop_priority p, int32_t fd, int32_t events, void *data,
			    qb_ipcs_dispatch_fn_t fn)
{
	return qb_loop_poll_add(hook_loop, p, fd, events, data, fn);
}

static int32_t dispatch_mod(enum qb_loop_priority p, int32_t fd, int32_t events, void *data,
			    qb_ipcs_dispatch_fn_t fn)
{
	return qb_loop_poll_mod(hook_loop, p, fd, events, data, fn);
}

static int32_t dispatch_del(int32_t fd)
{
	return qb_loop_poll_del(hook_loop, fd);
}

struct lki *lki_start(struct lkd *d, char *err, size_t errlen)
{
	struct qb_ipcs_service_handlers h = {
		.connection_accept = conn_accept,
		.connection_created = conn_created,
		.msg_process = msg_process,
		.connection_closed = conn_closed,
		.connection_destroyed = conn_destroyed,
	};
	struct qb_ipcs_poll_handlers ph = {
		.job_add = job_add,
		.dispatch_add = dispatch_add,
		.dispatch_mod = dispatch_mod,
		.dispatch_del = dispatch_del,
	};
	struct lki *s = calloc(1, sizeof(*s));
	char name[64];
	struct group gr, *grp = NULL;
	char buf[4096];
	int rc;

	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->d = d;
	if (getgrnam_r(VMFS_GROUP, &gr, buf, sizeof(buf), &grp) == 0 && grp) {
		s->vmfs_gid = grp->gr_gid;
		s->have_vmfs_gid = true;
	}
	hook_loop = d->loop;
	vmfs_conf_ipc_name(&d->conf, name, sizeof(name));
	s->svc = qb_ipcs_create(name, 0, QB_IPC_SHM, &h);
	if (!s->svc) {
		snprintf(err, errlen, "cannot create IPC service %s", name);
		free(s);
		return NULL;
	}
	qb_ipcs_service_context_set(s->svc, s);
	qb_ipcs_poll_handlers_set(s->svc, &ph);
	qb_ipcs_enforce_buffer_size(s->svc, LKI_MAX_MSG);
	rc = qb_ipcs_run(s->svc);
	if (rc < 0) {
		snprintf(err, errlen, "cannot start IPC service %s: %s (is another vmfs-lockd "
			 "running with run_dir %s?)", name, strerror(-rc), d->conf.run_dir);
		qb_ipcs_destroy(s->svc);
		free(s);
		return NULL;
	}
	qb_log(LOG_INFO, "serving clients as %s", name);
	return s;
}

void lki_stop(struct lki *s)
{
	struct pending *p;

	if (!s)
		return;
	qb_ipcs_destroy(s->svc);
	lki_ho_stop(s);
	while ((p = s->pending)) {
		s->pending = p->next;
		json_decref(p->last_info);
		free(p);
	}
	free(s);
}

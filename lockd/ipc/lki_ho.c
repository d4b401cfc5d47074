/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lki_ho.c - handoffs for local clients: the prepare, commit, abort and status ops, the
 * drain of this host's writers before a commit leaves, and files arriving by handoff
 * (protocol: lki_proto.h; the agreed part is the lock core's, lk_apply.c).
 *
 * Source: a commit first sends "drain" {id, path} to every subscribed process that holds
 * a file of the handoff and waits until each answered "drained" (its writes to the file
 * stopped, the ones in flight done, the file flushed), at most drain_ms(); only then does
 * the agent send the commit. The agreed commit revokes the files here (their handles fail
 * for good); a commit that fails sends "resume" {id, path} so held writes go on.
 *
 * Destination: an acquire of a file on its way here answers -EINPROGRESS and the
 * connection holds it as incoming. Once the commit is agreed and the file durable in our
 * table, that connection holds it for real and is sent "committed" {id, path, gen}; after
 * an abort it is sent "revoked" {path}. A file that arrives with no connection to take it
 * stays held by this host for handoff_timeout (migration tooling may start its user late)
 * and is then released.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qb/qblog.h>

#include "lockd/daemon/lkd.h"
#include "lockd/ipc/lki.h"
#include "lockd/ipc/lki_int.h"
#include "lockd/ipc/lki_proto.h"

/* How long a commit waits for this host's writers to drain its files: a write lands within
 * io_timeout (lk_timing.h), and the answer needs a moment more. Short enough that a writer
 * held that long still has the lease to go on if the commit fails. */
static int64_t drain_ms(const struct lki *s)
{
	return (int64_t)s->d->timing.io_timeout_ms + 1000;
}
/* A call the agent has not answered by then is answered -ETIMEDOUT: the outcome is not
 * known here (quorum lost meanwhile?); status on a quorate host tells. Below the client's
 * own patience (libvmfslock: 10 s beyond the call's wait). */
#define CALL_MS 8000

enum ho_op { HC_PREPARE, HC_COMMIT, HC_ABORT };

/* A prepare, commit or abort in progress. A commit with agent_req 0 waits for drains
 * (or for another commit of the same id that is with the agent). */
struct ho_call {
	struct client *c; /* NULL once the client went away */
	int64_t seq;
	enum ho_op op;
	uint64_t id;
	uint64_t agent_req;
	int64_t asked_at; /* when agent_req was sent */
	size_t nfiles;    /* prepare: how many files the names came to */
	struct ho_call *next;
};

/* One file of a commit that one process was asked to drain. */
struct ho_drain {
	pid_t pid;
	uint64_t id;
	bool done;
	int64_t deadline;
	char path[LK_PATH_MAX + 1];
	struct ho_drain *next;
};

/* A file that came by handoff and that no connection took yet. */
struct ho_claim {
	uint64_t id;
	int64_t deadline;
	char path[LK_PATH_MAX + 1];
	struct ho_claim *next;
};

static const struct lk_state *state(const struct lki *s)
{
	return lk_agent_state(s->d->agent);
}

static json_t *why(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static json_t *why(const char *fmt, ...)
{
	char buf[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return json_pack("{s:s}", "why", buf);
}

static const char *name_of(const struct lki *s, lk_host_t h, char *buf, size_t len)
{
	return lkd_host_name(s->d, h, buf, len);
}

/* The subscribed connection of process pid, or NULL. */
static struct client *subscriber(struct lki *s, pid_t pid)
{
	for (struct client *c = s->clients; c; c = c->next)
		if (c->events && c->pid == pid && !c->dropped)
			return c;
	return NULL;
}

/* The connection of process pid that drains files before a commit, or NULL. */
static struct client *drainer(struct lki *s, pid_t pid)
{
	for (struct client *c = s->clients; c; c = c->next)
		if (c->events && c->drains && c->pid == pid && !c->dropped)
			return c;
	return NULL;
}

static void event_to(struct lki *s, pid_t pid, json_t *ev)
{
	struct client *c = subscriber(s, pid);

	if (c)
		lki_send_json(c->conn, LKI_EVENT, 0, ev, true);
	json_decref(ev);
}

static struct ho_call *call_new(struct lki *s, struct client *c, int64_t seq, enum ho_op op,
				uint64_t id)
{
	struct ho_call *k = calloc(1, sizeof(*k));

	if (!k)
		return NULL;
	*k = (struct ho_call){ .c = c, .seq = seq, .op = op, .id = id, .next = s->ho_calls };
	s->ho_calls = k;
	c->busy = true;
	return k;
}

static void call_answer(struct lki *s, struct ho_call *k, int rc, json_t *info)
{
	lki_respond(k->c, k->seq, rc, info);
	for (struct ho_call **pp = &s->ho_calls; *pp; pp = &(*pp)->next)
		if (*pp == k) {
			*pp = k->next;
			break;
		}
	free(k);
}

static bool agent_ready(struct lki *s, struct client *c, int64_t seq)
{
	if (!s->d->agent) {
		lki_respond(c, seq, -ENOLINK, why("this host is between incarnations (fenced or "
						  "not connected to corosync)"));
		return false;
	}
	if (lk_state_have(state(s)) && !lk_state_quorate(state(s))) {
		lki_respond(c, seq, -ENOTCONN, why("this host is not in the quorate partition: "
			    "nothing is decided here (status on a quorate host says what was)"));
		return false;
	}
	return true;
}

/* --- prepare --------------------------------------------------------------------------- */

/* Host id of a corosync node id or name; 0 when unknown. */
static lk_host_t resolve_host(struct lki *s, json_t *to)
{
	const char *t = json_string_value(to);
	char buf[VOL_NAME_MAX + 1], *end;
	unsigned long v;

	if (json_is_integer(to))
		return json_integer_value(to) >= 1 && json_integer_value(to) <= LK_MAX_HOSTS ?
			       (lk_host_t)json_integer_value(to) : 0;
	if (!t || !*t)
		return 0;
	v = strtoul(t, &end, 10);
	if (!*end)
		return v >= 1 && v <= LK_MAX_HOSTS ? (lk_host_t)v : 0;
	for (lk_host_t h = 1; h <= LK_MAX_HOSTS; h++)
		if (strcmp(name_of(s, h, buf, sizeof(buf)), t) == 0)
			return h;
	return 0;
}

struct expand {
	const char *dir;
	size_t len;
	lk_host_t me;
	const char **out;
	size_t n, cap;
	bool exact, overflow;
};

/* Names held by this host at or under e->dir. */
static void expand_fn(void *arg, const char *path, const struct lk_lock_view *v, size_t n,
		      uint64_t ho)
{
	struct expand *e = arg;
	bool at = strcmp(path, e->dir) == 0;

	(void)ho;
	if (!at && !(strncmp(path, e->dir, e->len) == 0 && path[e->len] == '/'))
		return;
	for (size_t i = 0; i < n; i++)
		if (v[i].host == e->me) {
			if (e->n < e->cap)
				e->out[e->n++] = path;
			else
				e->overflow = true;
			e->exact |= at;
			return;
		}
	e->exact |= at;
}

/* One line on why path cannot move from this host to dst, or NULL. */
static json_t *file_problem(struct lki *s, const char *path, lk_host_t dst)
{
	struct lk_lock_view v[LK_MAX_HOSTS];
	char nb[VOL_NAME_MAX + 1];
	size_t n = lk_state_holders(state(s), path, v);
	uint64_t ho = lk_state_handoff_of(state(s), path);
	bool mine = false;

	for (size_t i = 0; i < n; i++) {
		if (v[i].host == s->d->host) {
			mine = true;
			if (v[i].mode == LK_MODE_SH)
				return why("%s is held shared (sh): readers open it on every host, "
					   "there is nothing to hand off", path);
		} else if (v[i].host == dst) {
			return why("%s is already held by the destination, host %u (%s)", path,
				   dst, name_of(s, dst, nb, sizeof(nb)));
		} else {
			return why("%s is also held by host %u (%s): a VM's files must be held by "
				   "the source alone", path, v[i].host,
				   name_of(s, v[i].host, nb, sizeof(nb)));
		}
	}
	if (!mine)
		return why("%s is not held by this host%s", path,
			   n ? "" : " (nobody holds it: is the VM running here?)");
	if (ho)
		return why("%s is already part of handoff %" PRIu64, path, ho);
	return NULL;
}

int lki_op_ho_prepare(struct lki *s, struct client *c, int64_t seq, json_t *req)
{
	json_t *to = NULL, *paths = NULL, *bad = NULL, *item;
	const char *files[LKI_MAX_REQUEST / 2];
	size_t nfiles = 0, i;
	char nb[VOL_NAME_MAX + 1];
	const struct lkd_slot *sl;
	struct ho_call *k;
	lk_host_t dst;

	if (json_unpack(req, "{s:o, s:o}", "to", &to, "paths", &paths) < 0 ||
	    !json_is_array(paths) || !(json_is_integer(to) || json_is_string(to)))
		return -EPROTO;
	if (!agent_ready(s, c, seq))
		return 0;
	dst = resolve_host(s, to);
	if (!dst) {
		lki_respond(c, seq, -ENXIO, why("no host %s%s in this cluster",
			    json_is_string(to) ? json_string_value(to) : "",
			    json_is_string(to) ? "" : "with that node id"));
		return 0;
	}
	if (dst == s->d->host) {
		lki_respond(c, seq, -EINVAL, why("the destination is this host"));
		return 0;
	}
	if (json_array_size(paths) == 0) {
		lki_respond(c, seq, -EINVAL, why("no file to hand off"));
		return 0;
	}
	json_array_foreach(paths, i, item) {
		const char *p = json_string_value(item);
		struct expand e = { .dir = p, .len = p ? strlen(p) : 0, .me = s->d->host,
				    .out = files + nfiles, .cap = sizeof(files) / sizeof(files[0]) - nfiles };

		if (!p)
			return -EPROTO;
		if (lki_path_problem(p)) {
			lki_respond(c, seq, -EINVAL, why("%s: %s", p, lki_path_problem(p)));
			return 0;
		}
		lk_state_foreach(state(s), expand_fn, &e);
		if (e.overflow) {
			lki_respond(c, seq, -E2BIG, why("%s: more locks under it than one handoff "
				    "moves (%zu): name fewer", p, sizeof(files) / sizeof(files[0])));
			return 0;
		}
		if (e.exact && !e.n) {
			bad = file_problem(s, p, dst);
		} else if (!e.n) {
			bad = why("%s: this host holds no lock on it or on anything under it%s", p,
				  lk_state_have(state(s)) ? "" : " (not in sync with the cluster yet)");
		}
		if (bad) {
			lki_respond(c, seq, -ENOENT, bad);
			return 0;
		}
		nfiles += e.n;
	}
	for (i = 0; i < nfiles; i++) {
		for (size_t j = 0; j < i; j++)
			if (strcmp(files[i], files[j]) == 0) {
				lki_respond(c, seq, -EINVAL, why("%s is named twice", files[i]));
				return 0;
			}
		if ((bad = file_problem(s, files[i], dst))) {
			lki_respond(c, seq, -EUSERS, bad);
			return 0;
		}
	}
	sl = &s->d->slots[dst];
	if (!lk_state_quorate(state(s))) {
		lki_respond(c, seq, -ENOTCONN, why("this host is not in the quorate partition"));
		return 0;
	}
	if (!lk_state_member_inc(state(s), dst) ||
	    lk_state_awaits_recovery(state(s), dst) || sl->dead || sl->rc != 0) {
		lki_respond(c, seq, -EHOSTUNREACH, why("host %u (%s) is not a live member of the "
			    "quorate cluster%s", dst, name_of(s, dst, nb, sizeof(nb)),
			    sl->dead ? ": its heartbeat stopped" : ""));
		return 0;
	}
	k = call_new(s, c, seq, HC_PREPARE, 0);
	if (!k)
		return -ENOMEM;
	k->agent_req = ++s->next_req;
	k->asked_at = lkd_now();
	k->nfiles = nfiles;
	qb_log(LOG_INFO, "handoff to host %u (%s) of %zu file(s) asked by pid %d", dst,
	       name_of(s, dst, nb, sizeof(nb)), nfiles, (int)c->pid);
	lk_agent_ho_prepare(s->d->agent, k->agent_req, dst, files, (uint32_t)nfiles, lkd_now(),
			    lkd_wall());
	lkd_run_actions(s->d);
	return 0;
}

/* --- commit and drains ------------------------------------------------------------------ */

static bool sent(const struct lki *s, uint64_t id)
{
	for (size_t i = 0; i < s->nho_sent; i++)
		if (s->ho_sent[i] == id)
			return true;
	return false;
}

static void commit_to_agent(struct lki *s, struct ho_call *k)
{
	uint64_t *n;

	if (!sent(s, k->id) && (n = realloc(s->ho_sent, (s->nho_sent + 1) * sizeof(*n)))) {
		s->ho_sent = n;
		s->ho_sent[s->nho_sent++] = k->id;
	}
	k->agent_req = ++s->next_req;
	k->asked_at = lkd_now();
	lk_agent_ho_commit(s->d->agent, k->agent_req, k->id, lkd_now(), lkd_wall());
}

static bool draining(const struct lki *s, uint64_t id)
{
	for (const struct ho_drain *w = s->drains; w; w = w->next)
		if (w->id == id && !w->done)
			return true;
	return false;
}

/* Drains of id end: "resume" to their processes unless the files moved. */
static void drains_end(struct lki *s, uint64_t id, bool moved)
{
	for (struct ho_drain **pp = &s->drains; *pp;) {
		struct ho_drain *w = *pp;

		if (w->id != id) {
			pp = &w->next;
			continue;
		}
		if (!moved)
			event_to(s, w->pid, json_pack("{s:s, s:I, s:s}", "event", "resume", "id",
						      (json_int_t)id, "path", w->path));
		*pp = w->next;
		free(w);
	}
}

/* Every drain of id answered: the first commit call of id goes to the agent. */
static void drains_check(struct lki *s, uint64_t id)
{
	if (!s->d->agent || draining(s, id))
		return;
	for (struct ho_call *k = s->ho_calls; k; k = k->next)
		if (k->op == HC_COMMIT && k->id == id) {
			if (!k->agent_req)
				commit_to_agent(s, k);
			return;
		}
}

/* Asks every process that holds a file of r to drain it; how many were asked, or -ENOMEM
 * (then the commit must not go: a writer would not have been stopped). */
static ssize_t drains_start(struct lki *s, const struct ho_rec *r)
{
	ssize_t asked = 0;

	for (uint32_t i = 0; i < r->nfiles; i++) {
		for (struct client *h = s->clients; h; h = h->next) {
			struct ho_drain *w;
			bool dup = false;
			json_t *ev;

			if (!lki_hold_find(h, r->files[i]) || !drainer(s, h->pid))
				continue;
			for (w = s->drains; w && !dup; w = w->next)
				dup = w->pid == h->pid && w->id == r->id &&
				      strcmp(w->path, r->files[i]) == 0;
			if (dup)
				continue;
			if (!(w = calloc(1, sizeof(*w)))) {
				drains_end(s, r->id, false);
				return -ENOMEM;
			}
			*w = (struct ho_drain){ .pid = h->pid, .id = r->id,
						.deadline = lkd_now() + drain_ms(s), .next = s->drains };
			snprintf(w->path, sizeof(w->path), "%s", r->files[i]);
			s->drains = w;
			lki_send_json(drainer(s, h->pid)->conn, LKI_EVENT, 0, ev = json_pack(
					      "{s:s, s:I, s:s}", "event", "drain", "id",
					      (json_int_t)r->id, "path", r->files[i]), true);
			json_decref(ev);
			asked++;
		}
	}
	return asked;
}

/* A file of r held here by a process that cannot drain it (no drain subscription): its
 * writes could not be stopped before the commit. NULL when none; *pid names it. */
static const char *undrainable(struct lki *s, const struct ho_rec *r, pid_t *pid)
{
	for (uint32_t i = 0; i < r->nfiles; i++)
		for (struct client *h = s->clients; h; h = h->next) {
			const struct chold *ch = lki_hold_find(h, r->files[i]);

			if (ch && !ch->incoming && !drainer(s, h->pid)) {
				*pid = h->pid;
				return r->files[i];
			}
		}
	return NULL;
}

bool lki_ho_draining(const struct lki *s, const char *path)
{
	for (const struct ho_drain *w = s->drains; w; w = w->next)
		if (strcmp(w->path, path) == 0)
			return true;
	return false;
}

int lki_op_ho_commit(struct lki *s, struct client *c, int64_t seq, json_t *req)
{
	json_int_t id = 0;
	const struct ho_rec *r;
	struct ho_call *k;
	bool busy = false;

	if (json_unpack(req, "{s:I}", "id", &id) < 0)
		return -EPROTO;
	if (!agent_ready(s, c, seq))
		return 0;
	for (k = s->ho_calls; k && !busy; k = k->next)
		busy = k->op == HC_COMMIT && k->id == (uint64_t)id;
	k = call_new(s, c, seq, HC_COMMIT, (uint64_t)id);
	if (!k)
		return -ENOMEM;
	if (busy)
		return 0; /* answered with the commit already under way */
	r = lk_state_handoff_by_id(state(s), (uint64_t)id);
	if (r && r->state == HO_PENDING && r->src == s->d->host && r->src_inc == s->d->inc) {
		pid_t pid = 0;
		const char *bad = undrainable(s, r, &pid);
		ssize_t asked;

		if (bad) {
			call_answer(s, k, -EBUSY, why("%s is held on this host by process %d, which "
				    "cannot stop its writes for a handoff (it did not ask for drains): "
				    "stop it, or let it close the file; nothing moved", bad, (int)pid));
			return 0;
		}
		asked = drains_start(s, r);

		if (asked < 0) {
			call_answer(s, k, -ENOMEM, why("out of memory asking this host's writers to "
						       "stop: nothing moved"));
			return 0;
		}
		if (asked) {
			qb_log(LOG_INFO, "handoff %" PRIu64 ": draining this host's writers",
			       (uint64_t)id);
			return 0;
		}
	}
	commit_to_agent(s, k);
	lkd_run_actions(s->d);
	return 0;
}

int lki_op_drained(struct lki *s, struct client *c, int64_t seq, json_t *req)
{
	json_int_t id = 0;
	const char *path = NULL;

	if (json_unpack(req, "{s:I, s:s}", "id", &id, "path", &path) < 0)
		return -EPROTO;
	for (struct ho_drain *w = s->drains; w; w = w->next)
		if (w->pid == c->pid && w->id == (uint64_t)id && strcmp(w->path, path) == 0)
			w->done = true;
	lki_respond(c, seq, 0, NULL);
	drains_check(s, (uint64_t)id);
	lkd_run_actions(s->d);
	return 0;
}

int lki_op_ho_abort(struct lki *s, struct client *c, int64_t seq, json_t *req)
{
	json_int_t id = 0;
	struct ho_call *k;

	if (json_unpack(req, "{s:I}", "id", &id) < 0)
		return -EPROTO;
	if (!agent_ready(s, c, seq))
		return 0;
	k = call_new(s, c, seq, HC_ABORT, (uint64_t)id);
	if (!k)
		return -ENOMEM;
	k->agent_req = ++s->next_req;
	k->asked_at = lkd_now();
	lk_agent_ho_abort(s->d->agent, k->agent_req, (uint64_t)id, lkd_now(), lkd_wall());
	lkd_run_actions(s->d);
	return 0;
}

int lki_op_ho_status(struct lki *s, struct client *c, int64_t seq, json_t *req)
{
	json_int_t id = 0;
	json_t *v;

	if (json_unpack(req, "{s:I}", "id", &id) < 0)
		return -EPROTO;
	v = lkd_view_handoff(s->d, (uint64_t)id);
	lki_respond(c, seq, v ? 0 : -ENOMEM, v ? json_pack("{s:o}", "result", v) : NULL);
	return 0;
}

/* One line for an agent refusal of a handoff call. */
static json_t *refusal(struct lki *s, const struct ho_call *k, int rc)
{
	const struct ho_rec *r = lk_state_handoff_by_id(state(s), k->id);
	char nb[VOL_NAME_MAX + 1];

	switch (rc) {
	case -ENOENT:
		return k->op == HC_PREPARE ? why("a file is no longer held by this host") :
		       why("no handoff %" PRIu64 " (unknown, or ended long ago)", k->id);
	case -EPERM:
		return why("handoff %" PRIu64 " is from host %u (%s): %s", k->id, r ? r->src : 0,
			   r ? name_of(s, r->src, nb, sizeof(nb)) : "?",
			   k->op == HC_COMMIT ? "only its source commits it" :
						"only its source or destination aborts it");
	case -ECANCELED:
		return why("handoff %" PRIu64 " was aborted: the files stayed with the source",
			   k->id);
	case -EALREADY:
		return why("handoff %" PRIu64 " is committed: the files are the destination's",
			   k->id);
	case -EAGAIN:
		return why("the cluster is synchronising, settling a departed host, or deciding "
			   "a handoff a party left in: try again");
	case -ESTALE:
		return why("the destination or this host is not the member the handoff was "
			   "prepared with (restarted or gone)");
	case -EHOSTDOWN:
		return why("the destination was recovered before it confirmed: the files went "
			   "through its dead-host recovery");
	case -ENOTCONN:
		return why("this host is not in the quorate partition");
	case -EEXIST:
		return why("a file is already part of a handoff, or held by the destination");
	case -ENOLINK:
	case -EIO:
		return why("this host was fenced meanwhile");
	default:
		return why("%s", strerror(-rc));
	}
}

bool lki_ho_reply(struct lki *s, const struct lk_act *x)
{
	struct ho_call *k;

	for (k = s->ho_calls; k && (!k->agent_req || k->agent_req != x->req); k = k->next)
		;
	if (!k)
		return false;
	if (k->op == HC_PREPARE) {
		if (x->rc == 0)
			qb_log(LOG_NOTICE, "handoff %" PRIu64 " prepared", x->handoff_id);
		call_answer(s, k, x->rc, x->rc ? refusal(s, k, x->rc) :
			    json_pack("{s:I, s:I}", "id", (json_int_t)x->handoff_id, "files",
				      (json_int_t)k->nfiles));
		return true;
	}
	if (k->op == HC_COMMIT) {
		uint64_t id = k->id;

		if (x->rc == 0)
			qb_log(LOG_NOTICE, "handoff %" PRIu64 " committed", id);
		else
			qb_log(LOG_WARNING, "handoff %" PRIu64 ": commit refused: %s", id,
			       strerror(-x->rc));
		/* moved: the revoke fenced the drained writers. Refused: they stay held until
		 * the handoff ends (orphan_drains), since another commit may still be agreed */
		if (x->rc == 0)
			drains_end(s, id, true);
		/* every commit call of id hears the same outcome */
		for (struct ho_call *o = s->ho_calls, *next; o; o = next) {
			next = o->next;
			if (o != k && o->op == HC_COMMIT && o->id == id)
				call_answer(s, o, x->rc, x->rc ? refusal(s, o, x->rc) :
					    json_pack("{s:I}", "id", (json_int_t)id));
		}
	} else if (x->rc == 0) {
		qb_log(LOG_NOTICE, "handoff %" PRIu64 " aborted", k->id);
	}
	call_answer(s, k, x->rc, x->rc ? refusal(s, k, x->rc) :
		    json_pack("{s:I}", "id", (json_int_t)k->id));
	return true;
}

/* --- files arriving ----------------------------------------------------------------------- */

int lki_ho_incoming(struct client *c, const char *path, enum lk_mode mode, uint64_t id)
{
	struct chold *h = lki_hold_find(c, path);
	int rc;

	c->s->ho_incoming = true;
	if (h) {
		h->count++;
		return 0;
	}
	rc = lki_hold_add(c, path, mode);
	if (rc == 0)
		lki_hold_find(c, path)->incoming = id;
	return rc;
}

static bool ho_done(const struct lki *s, uint64_t id)
{
	for (size_t i = 0; i < s->nho_done; i++)
		if (s->ho_done[i] == id)
			return true;
	return false;
}

static bool held_by_a_client(struct lki *s, const char *path)
{
	for (struct client *c = s->clients; c; c = c->next) {
		const struct chold *h = lki_hold_find(c, path);

		if (h && !h->incoming)
			return true;
	}
	return false;
}

/* A committed handoff to us: files nobody took are held for handoff_timeout. True once
 * every file is ours and durable (or gone again). */
/* Is path ours now (this incarnation holds it in the replica)? */
static bool ours(struct lki *s, const char *path)
{
	struct lk_lock_view v;

	return lk_state_holds(state(s), path, s->d->host, &v) && v.inc == s->d->inc;
}

static bool unclaimed(const struct lki *s, const char *path)
{
	for (const struct ho_claim *u = s->unclaimed; u; u = u->next)
		if (strcmp(u->path, path) == 0)
			return true;
	return false;
}

static bool claim_arrivals(struct lki *s, const struct ho_rec *r)
{
	int64_t now = lkd_now();

	/* once every file is durable, each is claimed once: a claim releases one reference */
	for (uint32_t i = 0; i < r->nfiles; i++)
		if (ours(s, r->files[i]) &&
		    !lk_agent_using(s->d->agent, r->files[i], now, NULL, NULL))
			return false;
	for (uint32_t i = 0; i < r->nfiles; i++) {
		struct ho_claim *u;

		if (!ours(s, r->files[i]) || held_by_a_client(s, r->files[i]) ||
		    unclaimed(s, r->files[i]))
			continue; /* moved on already, taken, or claimed */
		u = calloc(1, sizeof(*u));
		if (!u)
			return false;
		*u = (struct ho_claim){ .id = r->id, .next = s->unclaimed,
					.deadline = now + (int64_t)s->d->conf.handoff_timeout_ms };
		snprintf(u->path, sizeof(u->path), "%s", r->files[i]);
		s->unclaimed = u;
		qb_log(LOG_INFO, "%s came by handoff %" PRIu64 " with no process here to take it: "
		       "held for %u ms", u->path, r->id, s->d->conf.handoff_timeout_ms);
	}
	return true;
}

static void mark_done(struct lki *s, uint64_t id)
{
	uint64_t *n;

	if (s->nho_done >= 1024) { /* far more than the core remembers (LK_HO_HISTORY) */
		memmove(s->ho_done, s->ho_done + 512, (s->nho_done - 512) * sizeof(*n));
		s->nho_done -= 512;
	}
	n = realloc(s->ho_done, (s->nho_done + 1) * sizeof(*n));
	if (!n)
		return;
	s->ho_done = n;
	s->ho_done[s->nho_done++] = id;
}

/* An incoming hold of c: taken for real once ours and durable, dropped after an abort. */
static void settle_incoming(struct lki *s, struct client *c, size_t *i)
{
	struct chold *h = &c->holds[*i];
	const struct ho_rec *r = lk_state_handoff_by_id(state(s), h->incoming);
	enum lk_mode mode;
	struct lk_gen gen;
	bool first = true;

	if (lk_agent_using(s->d->agent, h->path, lkd_now(), &mode, &gen)) {
		uint64_t id = h->incoming;

		/* the handoff's own reference goes to the first connection; others add theirs */
		for (struct client *o = s->clients; o && first; o = o->next) {
			const struct chold *oh = lki_hold_find(o, h->path);

			first = !(oh && !oh->incoming);
		}
		if (!first)
			lk_agent_acquire(s->d->agent, 0, h->path, mode, lkd_now(), lkd_wall());
		h->incoming = 0;
		(*i)++;
		event_to(s, c->pid, json_pack("{s:s, s:I, s:s, s:o}", "event", "committed", "id",
					      (json_int_t)id, "path", h->path, "gen",
					      lki_gen_json(gen)));
		return;
	}
	if (r && r->state != HO_ABORTED) {
		(*i)++;
		return; /* pending, committed but not durable yet, or in doubt */
	}
	event_to(s, c->pid, json_pack("{s:s, s:s}", "event", "revoked", "path", h->path));
	lki_hold_del(c, h);
}

/* Commits sent for handoffs that have ended are forgotten. */
static void prune_sent(struct lki *s)
{
	for (size_t i = 0; i < s->nho_sent;) {
		const struct ho_rec *r = lk_state_handoff_by_id(state(s), s->ho_sent[i]);

		if (!r || (r->state != HO_PENDING && r->state != HO_IN_DOUBT))
			s->ho_sent[i] = s->ho_sent[--s->nho_sent];
		else
			i++;
	}
}

/* Drains whose commit call is gone (answered, refused or timed out) end with their
 * handoff: resumed once it is aborted, dropped once committed (the revoke fenced them). */
static void orphan_drains(struct lki *s)
{
	for (struct ho_drain *w = s->drains; w; w = w->next) {
		const struct ho_rec *r = lk_state_handoff_by_id(state(s), w->id);
		bool called = false;

		for (struct ho_call *k = s->ho_calls; k && !called; k = k->next)
			called = k->op == HC_COMMIT && k->id == w->id;
		if (called || (r && (r->state == HO_PENDING || r->state == HO_IN_DOUBT)))
			continue;
		drains_end(s, w->id, r && r->state != HO_ABORTED);
		return; /* the list changed: the next check goes on */
	}
}

void lki_ho_check(struct lki *s)
{
	const struct lk_state *st;

	if (!s || !s->d->agent || s->ho_checking)
		return;
	s->ho_checking = true;
	st = state(s);
	if (s->drains)
		orphan_drains(s);
	if (s->nho_sent)
		prune_sent(s);
	if (s->ho_incoming) {
		bool left = false;

		/* every hold of every client: only while some may be incoming */
		for (struct client *c = s->clients; c; c = c->next)
			for (size_t i = 0; i < c->nholds;) {
				if (!c->holds[i].incoming) {
					i++;
					continue;
				}
				settle_incoming(s, c, &i);
				left |= i > 0 && i <= c->nholds && c->holds[i - 1].incoming;
			}
		s->ho_incoming = left;
	}
	for (size_t i = 0; i < lk_state_nhandoffs(st); i++) {
		const struct ho_rec *r = lk_state_handoff(st, i);

		if (r->dst != s->d->host || r->dst_inc != s->d->inc ||
		    (r->state != HO_COMMITTED && r->state != HO_DURABLE) || ho_done(s, r->id))
			continue;
		if (claim_arrivals(s, r))
			mark_done(s, r->id);
	}
	s->ho_checking = false;
}

void lki_ho_claimed(struct lki *s, const char *path)
{
	for (struct ho_claim **pp = &s->unclaimed; *pp; pp = &(*pp)->next) {
		struct ho_claim *u = *pp;

		if (strcmp(u->path, path) != 0)
			continue;
		*pp = u->next;
		free(u);
		/* the client took a reference of its own: the handoff's goes */
		lk_agent_release(s->d->agent, path, lkd_now(), lkd_wall());
		return;
	}
}

void lki_ho_forget(struct lki *s, const char *path)
{
	for (struct ho_claim **pp = &s->unclaimed; *pp;) {
		struct ho_claim *u = *pp;

		if (strcmp(u->path, path) == 0) {
			*pp = u->next;
			free(u);
		} else {
			pp = &u->next;
		}
	}
}

/* --- time, clients going, shutdown --------------------------------------------------------- */

void lki_ho_tick(struct lki *s, int64_t now)
{
	bool acted = false;

	for (struct ho_call *k = s->ho_calls, *next; k; k = next) {
		next = k->next;
		if (!k->agent_req || now < k->asked_at + CALL_MS)
			continue;
		/* drained writers stay held until the outcome is known (lki_ho_check); every
		 * call waiting on this one hears the same */
		qb_log(LOG_WARNING, "handoff %" PRIu64 ": no outcome within %d ms", k->id, CALL_MS);
		for (struct ho_call *o = s->ho_calls, *onext; o; o = onext) {
			onext = o->next;
			if (o != k && o->op == HC_COMMIT && k->op == HC_COMMIT && o->id == k->id) {
				if (o == next)
					next = o->next;
				call_answer(s, o, -ETIMEDOUT, why("no outcome within %d ms (quorum "
					    "lost?): status on a quorate host says what happened",
					    CALL_MS));
			}
		}
		call_answer(s, k, -ETIMEDOUT, why("no outcome within %d ms (quorum lost?): status "
			    "on a quorate host says what happened", CALL_MS));
	}

	for (struct ho_drain *w = s->drains; w; w = w->next) {
		uint64_t id = w->id;

		if (w->done || now < w->deadline)
			continue;
		qb_log(LOG_WARNING, "handoff %" PRIu64 ": process %d did not drain %s within %" PRId64 " ms: "
		       "commit refused, writers resumed", id, (int)w->pid, w->path, drain_ms(s));
		for (struct ho_call *k = s->ho_calls, *next; k; k = next) {
			next = k->next;
			if (k->op == HC_COMMIT && k->id == id && !k->agent_req)
				call_answer(s, k, -ETIMEDOUT, why("process %d on this host did not "
					    "stop writing %s within %" PRId64 " ms; nothing moved", (int)w->pid,
					    w->path, drain_ms(s)));
		}
		/* no commit of it ever left: the writers go on; else they wait for the end */
		if (!sent(s, id))
			drains_end(s, id, false);
		else
			for (struct ho_drain *o = s->drains; o; o = o->next)
				if (o->id == id)
					o->done = true;
		acted = true;
		break; /* the list changed: the next tick looks again */
	}
	for (struct ho_claim **pp = &s->unclaimed; s->d->agent && *pp;) {
		struct ho_claim *u = *pp;

		if (now < u->deadline) {
			pp = &u->next;
			continue;
		}
		qb_log(LOG_NOTICE, "%s came by handoff %" PRIu64 " but no process on this host took "
		       "it within %u ms: released", u->path, u->id, s->d->conf.handoff_timeout_ms);
		lk_agent_release(s->d->agent, u->path, now, lkd_wall());
		*pp = u->next;
		free(u);
		acted = true;
	}
	if (acted)
		lkd_run_actions(s->d);
}

void lki_ho_client_gone(struct lki *s, struct client *c)
{
	for (struct ho_call *k = s->ho_calls; k; k = k->next)
		if (k->c == c)
			k->c = NULL;
	/* a process that is gone (its last connection closed) writes no more; one that
	 * still has connections may still be writing */
	for (const struct client *o = s->clients; o; o = o->next)
		if (o != c && o->pid == c->pid && !o->dropped)
			return;
	for (struct ho_drain *w = s->drains; w; w = w->next)
		if (w->pid == c->pid && !w->done) {
			w->done = true;
			drains_check(s, w->id);
		}
}

void lki_ho_fenced(struct lki *s)
{
	while (s->ho_calls)
		call_answer(s, s->ho_calls, -ENOLINK, why("this host was fenced"));
	while (s->drains) {
		struct ho_drain *w = s->drains;

		s->drains = w->next;
		free(w);
	}
	while (s->unclaimed) {
		struct ho_claim *u = s->unclaimed;

		s->unclaimed = u->next;
		free(u);
	}
}

void lki_ho_stop(struct lki *s)
{
	lki_ho_fenced(s);
	free(s->ho_done);
	s->ho_done = NULL;
	s->nho_done = 0;
	free(s->ho_sent);
	s->ho_sent = NULL;
	s->nho_sent = 0;
}

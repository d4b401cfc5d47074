/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vmfslock.c - libvmfslock (contract: vmfslock.h, protocol: lockd/ipc/lki_proto.h).
 *
 * One libqb IPC connection per handle; a mutex keeps one request in flight. A request
 * is a JSON object; its response comes back on the same connection in order, an event
 * on the event channel at any time.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qb/qbipcc.h>

#include "lockd/client/vmfslock.h"
#include "lockd/ipc/lki_proto.h"

/* How long a request may go unanswered beyond its own wait: a daemon that is alive
 * answers in milliseconds, so this only catches a hung or stopped one. */
#define VMFSLOCK_PATIENCE_MS 10000

struct vmfslock {
	struct vmfs_conf conf;
	qb_ipcc_connection_t *conn;
	bool broken;  /* a request timed out: its late answer would pair with the next one */
	pthread_mutex_t mu;
	int64_t seq;
	char *buf; /* LKI_MAX_MSG bytes, for responses */
};

/* libqb's blocking connect waits for the server's handshake for ever: a stopped daemon
 * would hang every client at connect. 0, -ENOTCONN (no such service), -ETIMEDOUT. */
static int connect_within(struct vmfslock *c, const char *name, int timeout_ms)
{
	int fd = -1;
	struct pollfd p;

	c->conn = qb_ipcc_connect_async(name, LKI_MAX_MSG, &fd);
	if (!c->conn)
		return -ENOTCONN;
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	if (poll(&p, 1, timeout_ms) <= 0) {
		qb_ipcc_disconnect(c->conn);
		c->conn = NULL;
		return -ETIMEDOUT;
	}
	if (qb_ipcc_connect_continue(c->conn) != 0) {
		c->conn = NULL; /* freed by libqb on failure */
		return -ENOTCONN;
	}
	return 0;
}

int vmfslock_connect(const char *config, struct vmfslock **out, char *err, size_t errlen)
{
	struct vmfslock *c = calloc(1, sizeof(*c));
	char name[64];
	int rc;

	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	rc = vmfs_conf_load(vmfs_conf_path(config), &c->conf, err, errlen);
	if (rc < 0)
		goto out_free;
	c->buf = malloc(LKI_MAX_MSG);
	if (!c->buf) {
		snprintf(err, errlen, "out of memory");
		rc = -ENOMEM;
		goto out_free;
	}
	vmfs_conf_ipc_name(&c->conf, name, sizeof(name));
	rc = connect_within(c, name, VMFSLOCK_PATIENCE_MS);
	if (rc == -ETIMEDOUT) {
		snprintf(err, errlen, "vmfs-lockd (IPC service %s) accepts no connection within "
			 "%d s: hung or stopped?", name, VMFSLOCK_PATIENCE_MS / 1000);
		goto out_free;
	}
	if (rc < 0) {
		snprintf(err, errlen, "vmfs-lockd is not running (no IPC service %s for run_dir %s "
			 "of %s)", name, c->conf.run_dir, c->conf.path);
		rc = -ENOTCONN;
		goto out_free;
	}
	pthread_mutex_init(&c->mu, NULL);
	*out = c;
	return 0;
out_free:
	free(c->buf);
	free(c);
	return rc;
}

void vmfslock_close(struct vmfslock *c)
{
	if (!c)
		return;
	qb_ipcc_disconnect(c->conn);
	pthread_mutex_destroy(&c->mu);
	free(c->buf);
	free(c);
}

const struct vmfs_conf *vmfslock_conf(const struct vmfslock *c)
{
	return &c->conf;
}

static const char *under(const char *path, const char *root)
{
	size_t n = strlen(root);

	if (n == 1 && root[0] == '/')
		return path + 1;
	if (strncmp(path, root, n) == 0 && path[n] == '/')
		return path + n + 1;
	return NULL;
}

int vmfslock_name(const struct vmfs_conf *conf, const char *path, char *out, size_t len)
{
	const char *rel = path;

	if (path[0] == '/') {
		rel = under(path, conf->mountpoint);
		if (!rel)
			rel = under(path, conf->datastore);
		if (!rel)
			return -EXDEV;
	}
	size_t n;

	while (rel[0] == '.' && rel[1] == '/')
		rel += 2;
	n = strlen(rel);
	while (n && rel[n - 1] == '/')
		n--; /* a directory named with its trailing slash */
	if (!n || n >= len)
		return -EINVAL;
	memcpy(out, rel, n);
	out[n] = 0;
	return 0;
}

/* Sends req (taken), returns the response's error and its body (*resp, may be NULL);
 * -ETIMEDOUT when nothing came back within wait_ms + VMFSLOCK_PATIENCE_MS (the
 * connection is then unusable: -ENOTCONN from there on). */
static int call_wait(struct vmfslock *c, json_t *req, json_t **resp, uint32_t wait_ms)
{
	struct qb_ipc_request_header hdr = { .id = LKI_REQUEST };
	struct qb_ipc_response_header *rh;
	struct iovec iov[2];
	char *text;
	ssize_t n;
	int rc;

	if (resp)
		*resp = NULL;
	if (!req)
		return -ENOMEM;
	pthread_mutex_lock(&c->mu);
	if (c->broken) {
		pthread_mutex_unlock(&c->mu);
		json_decref(req);
		return -ENOTCONN;
	}
	json_object_set_new(req, "seq", json_integer(++c->seq));
	text = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (!text) {
		pthread_mutex_unlock(&c->mu);
		return -ENOMEM;
	}
	hdr.size = (int32_t)(sizeof(hdr) + strlen(text));
	iov[0] = (struct iovec){ &hdr, sizeof(hdr) };
	iov[1] = (struct iovec){ text, strlen(text) };
	n = qb_ipcc_sendv_recv(c->conn, iov, 2, c->buf, LKI_MAX_MSG,
			       (int32_t)(wait_ms > INT32_MAX - VMFSLOCK_PATIENCE_MS ?
					 INT32_MAX : wait_ms + VMFSLOCK_PATIENCE_MS));
	free(text);
	if (n == -ETIMEDOUT || n == -EAGAIN) {
		c->broken = true;
		pthread_mutex_unlock(&c->mu);
		return -ETIMEDOUT;
	}
	if (n < (ssize_t)sizeof(*rh)) {
		pthread_mutex_unlock(&c->mu);
		return n < 0 ? -ECONNRESET : -EPROTO; /* the daemon went away */
	}
	rh = (struct qb_ipc_response_header *)c->buf;
	rc = rh->error;
	if (resp && n > (ssize_t)sizeof(*rh))
		*resp = json_loadb(c->buf + sizeof(*rh), (size_t)n - sizeof(*rh), 0, NULL);
	pthread_mutex_unlock(&c->mu);
	return rc;
}

static int call(struct vmfslock *c, json_t *req, json_t **resp)
{
	return call_wait(c, req, resp, 0);
}

static const char *mode_word(enum vmfslock_mode m)
{
	return m == VMFSLOCK_SH ? "sh" : m == VMFSLOCK_MW ? "mw" : m == VMFSLOCK_EX ? "ex" : "?";
}

static void read_gen(json_t *arr, struct vmfslock_gen *g)
{
	json_int_t e = 0, n = 0;

	json_unpack(arr, "[II]", &e, &n);
	g->epoch = (uint32_t)e;
	g->counter = (uint64_t)n;
}

int vmfslock_acquire(struct vmfslock *c, const char *name, enum vmfslock_mode mode,
		     uint32_t wait_ms, struct vmfslock_gen *gen, struct vmfslock_holder *holder)
{
	return vmfslock_acquire_why(c, name, mode, wait_ms, gen, holder, NULL, 0);
}

int vmfslock_acquire_why(struct vmfslock *c, const char *name, enum vmfslock_mode mode,
			 uint32_t wait_ms, struct vmfslock_gen *gen, struct vmfslock_holder *holder,
			 char *why, size_t whylen)
{
	return vmfslock_acquire_flags(c, name, mode, wait_ms, 0, gen, holder, why, whylen);
}

int vmfslock_acquire_flags(struct vmfslock *c, const char *name, enum vmfslock_mode mode,
			   uint32_t wait_ms, unsigned flags, struct vmfslock_gen *gen,
			   struct vmfslock_holder *holder, char *why, size_t whylen)
{
	json_t *resp = NULL;
	int rc = call_wait(c, json_pack("{s:s, s:s, s:s, s:I, s:b}", "op", "acquire", "path",
					name, "mode", mode_word(mode), "wait_ms",
					(json_int_t)wait_ms, "incoming",
					(flags & VMFSLOCK_F_INCOMING) != 0),
			   &resp, wait_ms);

	if (rc == 0 && gen)
		read_gen(json_object_get(resp, "gen"), gen);
	if ((rc == -EBUSY || rc == -EINPROGRESS) && holder) {
		json_int_t h = 0, ho = 0;
		const char *hm = "", *hn = "";
		int local = 0;

		memset(holder, 0, sizeof(*holder));
		json_unpack(resp, "{s?I, s?s, s?s, s?b, s?I}", "holder", &h, "holder_mode", &hm,
			    "holder_name", &hn, "local", &local, "handoff", &ho);
		holder->host = (uint32_t)h;
		holder->local = local;
		holder->handoff = (uint64_t)ho;
		snprintf(holder->mode, sizeof(holder->mode), "%s", hm);
		snprintf(holder->name, sizeof(holder->name), "%s", hn);
		read_gen(json_object_get(resp, "holder_gen"), &holder->gen);
	}
	if (why && whylen) {
		const char *w = "";

		json_unpack(resp, "{s?s}", "why", &w);
		snprintf(why, whylen, "%s", w);
	}
	json_decref(resp);
	return rc;
}

int vmfslock_release(struct vmfslock *c, const char *name)
{
	return call(c, json_pack("{s:s, s:s}", "op", "release", "path", name), NULL);
}

int vmfslock_break(struct vmfslock *c, const char *name, char *why, size_t len)
{
	json_t *resp = NULL;
	const char *w = "";
	/* a break waits for the recovery: up to host_dead + 5 s, at most 10 min configured */
	int rc = call_wait(c, json_pack("{s:s, s:s}", "op", "break", "path", name), &resp,
			   c->conf.host_dead_ms + 5000);

	if (why) {
		json_unpack(resp, "{s?s}", "why", &w);
		snprintf(why, len, "%s", w);
	}
	json_decref(resp);
	return rc;
}

/* A request whose answer is { result: ... }: *result gets it (a new reference). */
static int call_result(struct vmfslock *c, json_t *req, json_t **result)
{
	json_t *resp = NULL;
	int rc = call(c, req, &resp);

	*result = NULL;
	if (rc == 0) {
		*result = json_incref(json_object_get(resp, "result"));
		if (!*result)
			rc = -EPROTO;
	}
	json_decref(resp);
	return rc;
}

int vmfslock_query(struct vmfslock *c, const char *what, const char *path, json_t **result)
{
	json_t *req = json_pack("{s:s}", "op", what);

	if (req && path)
		json_object_set_new(req, "path", json_string(path));
	return call_result(c, req, result);
}

int vmfslock_hostinfo(struct vmfslock *c, uint32_t host, json_t **result)
{
	json_t *req = json_pack("{s:s}", "op", "hostinfo");

	if (req && host)
		json_object_set_new(req, "host", json_integer(host));
	return call_result(c, req, result);
}

int vmfslock_events(struct vmfslock *c)
{
	return call(c, json_pack("{s:s}", "op", "events"), NULL);
}

int vmfslock_events_drain(struct vmfslock *c)
{
	return call(c, json_pack("{s:s, s:b}", "op", "events", "drain", 1), NULL);
}

int vmfslock_drained(struct vmfslock *c, uint64_t id, const char *name)
{
	return call(c, json_pack("{s:s, s:I, s:s}", "op", "drained", "id", (json_int_t)id,
				 "path", name), NULL);
}

int vmfslock_event_fd(struct vmfslock *c)
{
	int32_t fd = -1;

	return qb_ipcc_fd_get(c->conn, &fd) == 0 ? fd : -ENOTCONN;
}

int vmfslock_event_next(struct vmfslock *c, struct vmfslock_event *ev, int timeout_ms)
{
	char buf[4096];
	const char *type = "", *text = "";
	json_int_t until = 0, id = 0;
	json_t *o, *gen = NULL;
	ssize_t n = qb_ipcc_event_recv(c->conn, buf, sizeof(buf), timeout_ms);

	if (n == -ETIMEDOUT || n == -EAGAIN)
		return -ETIMEDOUT;
	if (n < (ssize_t)sizeof(struct qb_ipc_response_header))
		return n < 0 ? -ENOTCONN : -EPROTO;
	o = json_loadb(buf + sizeof(struct qb_ipc_response_header),
		       (size_t)n - sizeof(struct qb_ipc_response_header), 0, NULL);
	if (!o || json_unpack(o, "{s:s, s?s, s?s, s?I, s?I, s?o}", "event", &type, "why", &text,
			      "path", &text, "valid_until_ms", &until, "id", &id, "gen", &gen) < 0) {
		json_decref(o);
		return -EPROTO;
	}
	memset(ev, 0, sizeof(*ev));
	ev->type = strcmp(type, "fenced") == 0 ? VMFSLOCK_EV_FENCED :
		   strcmp(type, "revoked") == 0 ? VMFSLOCK_EV_REVOKED :
		   strcmp(type, "drain") == 0 ? VMFSLOCK_EV_DRAIN :
		   strcmp(type, "resume") == 0 ? VMFSLOCK_EV_RESUME :
		   strcmp(type, "committed") == 0 ? VMFSLOCK_EV_COMMITTED : VMFSLOCK_EV_LEASE;
	snprintf(ev->text, sizeof(ev->text), "%s", text);
	ev->valid_until_ms = until;
	ev->handoff = (uint64_t)id;
	if (gen)
		read_gen(gen, &ev->gen);
	json_decref(o);
	return 0;
}

/* --- handoffs ---------------------------------------------------------------------------- */

/* The daemon's answer: rc, with its "why" line into why and its "id" into *id. */
static int ho_call(struct vmfslock *c, json_t *req, uint32_t wait_ms, uint64_t *id, char *why,
		   size_t whylen)
{
	json_t *resp = NULL;
	const char *w = "";
	json_int_t v = 0;
	int rc = call_wait(c, req, &resp, wait_ms);

	json_unpack(resp, "{s?s, s?I}", "why", &w, "id", &v);
	if (why && whylen)
		snprintf(why, whylen, "%s", w);
	if (id && rc == 0)
		*id = (uint64_t)v;
	json_decref(resp);
	return rc;
}

int vmfslock_ho_prepare(struct vmfslock *c, const char *to, const char *const *names,
			size_t n, uint64_t *id, char *why, size_t whylen)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < n; i++)
		json_array_append_new(arr, json_string(names[i]));
	return ho_call(c, json_pack("{s:s, s:s, s:o}", "op", "ho_prepare", "to", to, "paths",
				    arr), 0, id, why, whylen);
}

int vmfslock_ho_commit(struct vmfslock *c, uint64_t id, char *why, size_t whylen)
{
	/* the daemon first waits up to io_timeout + 1 s for this host's writers to drain */
	return ho_call(c, json_pack("{s:s, s:I}", "op", "ho_commit", "id", (json_int_t)id),
		       c->conf.io_timeout_ms + 1000,
		       NULL, why, whylen);
}

int vmfslock_ho_abort(struct vmfslock *c, uint64_t id, char *why, size_t whylen)
{
	return ho_call(c, json_pack("{s:s, s:I}", "op", "ho_abort", "id", (json_int_t)id), 0,
		       NULL, why, whylen);
}

int vmfslock_ho_status(struct vmfslock *c, uint64_t id, json_t **result)
{
	return call_result(c, json_pack("{s:s, s:I}", "op", "ho_status", "id", (json_int_t)id),
			   result);
}

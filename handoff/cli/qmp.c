/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qmp.c - a minimal QMP client (contract: qmp.h). QEMU sends one JSON object per line:
 * the greeting, then for each command its answer, with asynchronous events in between.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "handoff/cli/qmp.h"

#define QMP_REPLY_MS 30000

struct qmp {
	int fd;
	char buf[65536];
	size_t len;
};

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* The next line QEMU sent, as JSON (decref it); NULL with *rc on failure. */
static json_t *next_obj(struct qmp *q, int *rc)
{
	for (;;) {
		char *nl = memchr(q->buf, '\n', q->len);
		struct pollfd p = { .fd = q->fd, .events = POLLIN };
		ssize_t n;

		if (nl) {
			json_t *o = json_loadb(q->buf, (size_t)(nl - q->buf), 0, NULL);

			q->len -= (size_t)(nl + 1 - q->buf);
			memmove(q->buf, nl + 1, q->len);
			if (o)
				return o;
			continue;
		}
		if (q->len == sizeof(q->buf)) {
			*rc = -EMSGSIZE;
			return NULL;
		}
		if (poll(&p, 1, QMP_REPLY_MS) <= 0) {
			*rc = -ETIMEDOUT;
			return NULL;
		}
		n = read(q->fd, q->buf + q->len, sizeof(q->buf) - q->len);
		if (n <= 0) {
			*rc = -ECONNRESET;
			return NULL;
		}
		q->len += (size_t)n;
	}
}

int qmp_call(struct qmp *q, const char *cmd, json_t *args, json_t **ret, char *err,
	     size_t errlen)
{
	json_t *req = json_pack("{s:s}", "execute", cmd), *o;
	char *text;
	int rc = 0;

	if (ret)
		*ret = NULL;
	if (req && args)
		json_object_set_new(req, "arguments", args);
	else
		json_decref(args);
	text = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	if (!text)
		return -ENOMEM;
	if (dprintf(q->fd, "%s\n", text) < 0) {
		free(text);
		snprintf(err, errlen, "%s: QEMU went away", cmd);
		return -ECONNRESET;
	}
	free(text);
	while ((o = next_obj(q, &rc))) {
		json_t *r = json_object_get(o, "return"), *e = json_object_get(o, "error");

		if (r) {
			if (ret)
				*ret = json_incref(r);
			json_decref(o);
			return 0;
		}
		if (e) {
			snprintf(err, errlen, "%s: %s", cmd,
				 json_string_value(json_object_get(e, "desc")) ?: "QMP error");
			json_decref(o);
			return -EPROTO;
		}
		json_decref(o); /* an event */
	}
	snprintf(err, errlen, "%s: %s", cmd, rc == -ETIMEDOUT ? "no answer from QEMU in 30 s" :
		 "QEMU went away");
	return rc;
}

int qmp_open(const char *path, int wait_ms, struct qmp **out, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct qmp *q = calloc(1, sizeof(*q));
	json_t *greeting;
	int rc = 0;

	if (!q)
		return -ENOMEM;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "%s: QMP socket path too long", path);
		free(q);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	for (int waited = 0;; waited += 20) {
		q->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (q->fd >= 0 && connect(q->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			break;
		rc = -errno;
		if (q->fd >= 0)
			close(q->fd);
		if (waited >= wait_ms) {
			snprintf(err, errlen, "cannot connect to QMP at %s: %s", path, strerror(-rc));
			free(q);
			return rc;
		}
		sleep_ms(20);
	}
	greeting = next_obj(q, &rc);
	if (!greeting || !json_object_get(greeting, "QMP")) {
		snprintf(err, errlen, "%s: no QMP greeting", path);
		json_decref(greeting);
		qmp_close(q);
		return rc ? rc : -EPROTO;
	}
	json_decref(greeting);
	rc = qmp_call(q, "qmp_capabilities", NULL, NULL, err, errlen);
	if (rc < 0) {
		qmp_close(q);
		return rc;
	}
	*out = q;
	return 0;
}

void qmp_close(struct qmp *q)
{
	if (!q)
		return;
	close(q->fd);
	free(q);
}

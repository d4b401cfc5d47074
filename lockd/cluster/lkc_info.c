/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lkc_info.c - what each host tells the others about itself, outside the lock protocol
 * (contract: lkc_info.h): a CPG group of its own, "<group>-info", where every vmfs-lockd
 * multicasts one JSON object (its CPU, whether vmfsd runs) when it joins, when another
 * member joins, and when the object changes. Members keep the last object of each host
 * and forget a host that leaves. Nothing here touches locks or their ordering.
 *
 * corosync's calls block while corosync does not answer (stopped, overloaded): the main
 * loop never makes one but dispatch. A thread of our own sends (the latest object only)
 * and, at stop, leaves the group and lets the handle go, however long that takes.
 */
#include <pthread.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <corosync/cpg.h>
#include <qb/qblog.h>

#include "lockd/cluster/lkc_info.h"

struct lkc_info {
	qb_loop_t *loop;
	cpg_handle_t cpg;
	struct cpg_name group;
	json_t *(*mine)(void *arg);
	void *arg;
	json_t *known[LK_MAX_HOSTS + 1];
	int fd;
	bool dead;
	pthread_t sender;
	pthread_mutex_t mu;  /* guards what follows */
	pthread_cond_t cv;
	char *outgoing;      /* the object to send next, NULL when none */
	bool stop;
};

/* The sender: sends the latest object; at stop leaves, finalizes and frees everything. */
static void *sender(void *arg)
{
	struct lkc_info *in = arg;

	pthread_mutex_lock(&in->mu);
	for (;;) {
		char *text;

		while (!in->outgoing && !in->stop)
			pthread_cond_wait(&in->cv, &in->mu);
		if (in->stop)
			break;
		text = in->outgoing;
		in->outgoing = NULL;
		pthread_mutex_unlock(&in->mu);
		if (cpg_mcast_joined(in->cpg, CPG_TYPE_AGREED,
				     &(struct iovec){ text, strlen(text) }, 1) != CS_OK)
			qb_log(LOG_DEBUG, "host info not sent (corosync busy): sent again at the "
			       "next join or change");
		free(text);
		pthread_mutex_lock(&in->mu);
	}
	pthread_mutex_unlock(&in->mu);
	cpg_leave(in->cpg, &in->group);
	cpg_finalize(in->cpg);
	free(in->outgoing);
	for (lk_host_t h = 0; h <= LK_MAX_HOSTS; h++)
		json_decref(in->known[h]);
	pthread_mutex_destroy(&in->mu);
	pthread_cond_destroy(&in->cv);
	free(in);
	return NULL;
}

static void multicast(struct lkc_info *in)
{
	json_t *o = in->mine(in->arg);
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	if (!text)
		return;
	pthread_mutex_lock(&in->mu);
	free(in->outgoing);
	in->outgoing = text;
	pthread_cond_signal(&in->cv);
	pthread_mutex_unlock(&in->mu);
}

static void deliver(cpg_handle_t h, const struct cpg_name *g, uint32_t nodeid, uint32_t pid,
		    void *msg, size_t len)
{
	struct lkc_info *in = NULL;
	json_t *o;

	(void)g;
	(void)pid;
	cpg_context_get(h, (void **)&in);
	if (!in || nodeid < 1 || nodeid > LK_MAX_HOSTS)
		return;
	o = json_loadb(msg, len, 0, NULL);
	if (!json_is_object(o)) {
		qb_log(LOG_WARNING, "host %u sent host info that is not a JSON object: ignored",
		       nodeid);
		json_decref(o);
		return;
	}
	json_decref(in->known[nodeid]);
	in->known[nodeid] = o;
}

static void confchg(cpg_handle_t h, const struct cpg_name *g, const struct cpg_address *members,
		    size_t nm, const struct cpg_address *left, size_t nl,
		    const struct cpg_address *joined, size_t nj)
{
	struct lkc_info *in = NULL;

	(void)g;
	(void)members;
	(void)nm;
	(void)joined;
	cpg_context_get(h, (void **)&in);
	if (!in)
		return;
	for (size_t i = 0; i < nl; i++)
		if (left[i].nodeid >= 1 && left[i].nodeid <= LK_MAX_HOSTS) {
			json_decref(in->known[left[i].nodeid]);
			in->known[left[i].nodeid] = NULL;
		}
	if (nj)
		multicast(in); /* newcomers learn us; we learn them from theirs */
}

static int32_t on_fd(int32_t fd, int32_t revents, void *data)
{
	struct lkc_info *in = data;

	(void)fd;
	if (cpg_dispatch(in->cpg, CS_DISPATCH_ALL) != CS_OK || (revents & (POLLHUP | POLLERR))) {
		qb_log(LOG_WARNING, "host info: corosync connection lost; peers' info kept until "
		       "this incarnation ends");
		in->dead = true;
		return -1;
	}
	return 0;
}

struct lkc_info *lkc_info_start(qb_loop_t *loop, const char *group,
				json_t *(*mine)(void *arg), void *arg, char *err, size_t errlen)
{
	cpg_callbacks_t cb = { .cpg_deliver_fn = deliver, .cpg_confchg_fn = confchg };
	struct lkc_info *in = calloc(1, sizeof(*in));
	cs_error_t e;

	if (!in) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	in->loop = loop;
	in->mine = mine;
	in->arg = arg;
	e = cpg_initialize(&in->cpg, &cb);
	if (e != CS_OK) {
		snprintf(err, errlen, "host info: cannot connect to corosync: %s", cs_strerror(e));
		free(in);
		return NULL;
	}
	cpg_context_set(in->cpg, in);
	snprintf(in->group.value, sizeof(in->group.value), "%.100s-info", group);
	in->group.length = (uint32_t)strlen(in->group.value);
	for (int i = 0; (e = cpg_join(in->cpg, &in->group)) == CS_ERR_TRY_AGAIN && i < 100; i++)
		usleep(10000);
	if (e != CS_OK) {
		snprintf(err, errlen, "host info: cannot join CPG group %s: %s", in->group.value,
			 cs_strerror(e));
		cpg_finalize(in->cpg);
		free(in);
		return NULL;
	}
	pthread_mutex_init(&in->mu, NULL);
	pthread_cond_init(&in->cv, NULL);
	if (pthread_create(&in->sender, NULL, sender, in) != 0) {
		snprintf(err, errlen, "host info: cannot start its thread");
		cpg_finalize(in->cpg);
		pthread_mutex_destroy(&in->mu);
		pthread_cond_destroy(&in->cv);
		free(in);
		return NULL;
	}
	pthread_detach(in->sender);
	cpg_fd_get(in->cpg, &in->fd);
	qb_loop_poll_add(loop, QB_LOOP_MED, in->fd, POLLIN, in, on_fd);
	return in;
}

void lkc_info_changed(struct lkc_info *in)
{
	if (in && !in->dead)
		multicast(in);
}

json_t *lkc_info_get(const struct lkc_info *in, lk_host_t host)
{
	return in && host >= 1 && host <= LK_MAX_HOSTS ? in->known[host] : NULL;
}

void lkc_info_stop(struct lkc_info *in)
{
	if (!in)
		return;
	if (!in->dead)
		qb_loop_poll_del(in->loop, in->fd);
	cpg_context_set(in->cpg, NULL); /* no callback from here on */
	pthread_mutex_lock(&in->mu);
	in->stop = true; /* the sender leaves, finalizes and frees */
	pthread_cond_signal(&in->cv);
	pthread_mutex_unlock(&in->mu);
}

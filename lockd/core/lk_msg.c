/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lk_msg.c - deep copies of lock messages, so an agent can hand a message to its
 * transport and forget it: every path, array and snapshot is copied into allocations
 * owned by the copy and freed with it.
 */
#include <stdlib.h>
#include <string.h>

#include "lockd/core/lk_agent.h"
#include "lockd/core/lk_grow.h"

struct msgbox {
	struct lk_msg m; /* first: lk_msg_free casts back */
	void **allocs;
	size_t n, cap;
	struct lk_state *snap;
	bool nomem;
};

static void *keep(struct msgbox *b, void *p)
{
	if (!p) {
		b->nomem = true;
		return NULL;
	}
	if (LK_GROW(b->allocs, b->n, b->cap) < 0) {
		free(p);
		b->nomem = true;
		return NULL;
	}
	b->allocs[b->n++] = p;
	return p;
}

static const char *dup_str(struct msgbox *b, const char *s)
{
	return s ? keep(b, strdup(s)) : NULL;
}

static void *dup_mem(struct msgbox *b, const void *p, size_t len)
{
	void *c;

	if (!p || !len)
		return NULL;
	c = keep(b, malloc(len));
	if (c)
		memcpy(c, p, len);
	return c;
}

static const struct lk_disk_lock *dup_locks(struct msgbox *b, const struct lk_disk_lock *l,
					    uint32_t n)
{
	struct lk_disk_lock *c = dup_mem(b, l, n * sizeof(*l));

	for (uint32_t i = 0; c && i < n; i++)
		c[i].path = dup_str(b, l[i].path);
	return c;
}

static const struct lk_disk_host *dup_hosts(struct msgbox *b, const struct lk_disk_host *hosts,
					   uint32_t n)
{
	struct lk_disk_host *h = dup_mem(b, hosts, n * sizeof(*h));

	for (uint32_t i = 0; h && i < n; i++)
		h[i].locks = dup_locks(b, h[i].locks, h[i].nlocks);
	return h;
}

struct lk_msg *lk_msg_dup(const struct lk_msg *m)
{
	struct msgbox *b = calloc(1, sizeof(*b));
	struct lk_msg *c;

	if (!b)
		return NULL;
	c = &b->m;
	*c = *m;
	switch (m->type) {
	case LK_MSG_CONFCHG:
		c->u.confchg.members = dup_mem(b, m->u.confchg.members,
					       m->u.confchg.nmembers * sizeof(struct lk_member));
		break;
	case LK_MSG_SNAPSHOT:
		b->snap = m->u.snapshot.state ? lk_state_clone(m->u.snapshot.state) : NULL;
		b->nomem |= m->u.snapshot.state && !b->snap;
		c->u.snapshot.state = b->snap;
		c->u.snapshot.hosts = dup_hosts(b, m->u.snapshot.hosts, m->u.snapshot.nhosts);
		break;
	case LK_MSG_COLDSTART:
		c->u.coldstart.hosts = dup_hosts(b, m->u.coldstart.hosts, m->u.coldstart.nhosts);
		break;
	case LK_MSG_ACQUIRE:
		c->u.acquire.path = dup_str(b, m->u.acquire.path);
		break;
	case LK_MSG_RELEASE:
		c->u.release.path = dup_str(b, m->u.release.path);
		break;
	case LK_MSG_RENAME:
		c->u.rename.from = dup_str(b, m->u.rename.from);
		c->u.rename.to = dup_str(b, m->u.rename.to);
		break;
	case LK_MSG_SETTLED:
	case LK_MSG_RECOVERED:
		c->u.settled.locks = dup_locks(b, m->u.settled.locks, m->u.settled.nlocks);
		break;
	case LK_MSG_HO_PREPARE: {
		const char **f = dup_mem(b, m->u.ho_prepare.files,
					 m->u.ho_prepare.nfiles * sizeof(*f));

		for (uint32_t i = 0; f && i < m->u.ho_prepare.nfiles; i++)
			f[i] = dup_str(b, m->u.ho_prepare.files[i]);
		c->u.ho_prepare.files = f;
		break;
	}
	case LK_MSG_SYNC:
	case LK_MSG_HO_COMMIT:
	case LK_MSG_HO_ABORT:
	case LK_MSG_HO_DURABLE:
		break;
	}
	if (b->nomem) {
		lk_msg_free(c);
		return NULL;
	}
	return c;
}

void lk_msg_free(struct lk_msg *m)
{
	struct msgbox *b = (struct msgbox *)m;

	if (!b)
		return;
	for (size_t i = 0; i < b->n; i++)
		free(b->allocs[i]);
	free(b->allocs);
	lk_state_free(b->snap);
	free(b);
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lk_check.c - the invariants of one replica, gathered in one function. The agent runs
 * it after every message it applies; the unit tests and the simulator run it too.
 *
 *  I1  the lock array is sorted by path, without duplicates; every path is valid
 *  I2  every lock has at least one holder, each host at most once, with a valid mode
 *  I3  the holders of a lock are pairwise compatible (SH with SH, MW with MW): a grant
 *      never sits beside a conflicting hold, orphaned or not
 *  I4  no generation is ahead of the replica's (epoch, counter)
 *  I5  a lock marks a handoff only while that handoff is pending or in doubt and lists
 *      the file; a pending handoff's files are all held by its source incarnation and
 *      not by its destination
 *  I6  a replica without state holds nothing; a sync winner exists only while syncing
 *  I7  a departed incarnation awaiting recovery is not the slot's member incarnation
 */
#include <string.h>

#include "lockd/core/lk_state_int.h"

static bool path_ok(const char *p)
{
	size_t n = p ? strnlen(p, LK_PATH_MAX + 1) : 0;

	return n > 0 && n <= LK_PATH_MAX && p[0] != '/' && p[n - 1] != '/';
}

static const char *check_lock(const struct lk_state *s, const struct lk_lock *l)
{
	if (!path_ok(l->path))
		return "I1: invalid lock path";
	if (l->nh == 0)
		return "I2: lock without holder";
	for (uint32_t i = 0; i < l->nh; i++) {
		const struct lk_holder *a = &l->h[i];

		if (a->host < 1 || a->host > LK_MAX_HOSTS)
			return "I2: holder host out of range";
		if (a->mode < LK_MODE_SH || a->mode > LK_MODE_EX)
			return "I2: holder mode invalid";
		if (a->gen.epoch > s->epoch ||
		    (a->gen.epoch == s->epoch && a->gen.counter > s->counter))
			return "I4: generation ahead of the replica's counter";
		for (uint32_t j = 0; j < i; j++) {
			if (l->h[j].host == a->host)
				return "I2: host holds one lock twice";
			if (!lk_mode_compatible(l->h[j].mode, a->mode))
				return "I3: conflicting holders on one lock";
		}
	}
	if (l->handoff_id) {
		const struct ho_rec *r = lk_ho_find(s, l->handoff_id);

		if (!r || (r->state != HO_PENDING && r->state != HO_IN_DOUBT) ||
		    !ho_rec_has_file(r, l->path))
			return "I5: lock marks a handoff that is not pending with this file";
	}
	return NULL;
}

static const char *check_handoffs(const struct lk_state *s)
{
	for (size_t i = 0; i < s->nho; i++) {
		const struct ho_rec *r = &s->ho[i];

		if (!ho_ok(r))
			return "I5: malformed handoff record";
		for (size_t j = 0; j < i; j++)
			if (s->ho[j].id == r->id)
				return "I5: handoff id used twice";
		if (r->state != HO_PENDING)
			continue;
		for (uint32_t k = 0; k < r->nfiles; k++) {
			const struct lk_lock *l = lk_find(s, r->files[k], NULL);
			const struct lk_holder *h = l ? lk_holder_find(l, r->src) : NULL;

			if (!h || h->inc != r->src_inc || l->handoff_id != r->id)
				return "I5: pending handoff file not held by its source";
			if (lk_holder_find(l, r->dst))
				return "I5: pending handoff file already held by its destination";
		}
	}
	return NULL;
}

const char *lk_state_check(const struct lk_state *s)
{
	const char *why;

	if (!s->have && (s->nlocks || s->nho))
		return "I6: replica without state holds locks";
	if (s->sync_winner && !s->syncing)
		return "I6: sync winner outside a sync";
	for (size_t i = 0; i < s->nlocks; i++) {
		if (i && strcmp(s->locks[i - 1]->path, s->locks[i]->path) >= 0)
			return "I1: lock array not sorted";
		why = check_lock(s, s->locks[i]);
		if (why)
			return why;
	}
	for (lk_host_t h = 1; h <= LK_MAX_HOSTS; h++) {
		const struct lk_hslot *hs = &s->hosts[h];

		if (hs->dead_inc && hs->member && hs->inc == hs->dead_inc)
			return "I7: member incarnation marked as awaiting recovery";
	}
	return check_handoffs(s);
}

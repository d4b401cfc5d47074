/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ho_core.c - handoff records and their state transitions (see ho_core.h for the
 * diagram). The lock core decides when a transition happens; this file only keeps
 * the record consistent.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "handoff/ho_core.h"

const char *ho_state_name(enum ho_state s)
{
	switch (s) {
	case HO_PENDING: return "pending";
	case HO_IN_DOUBT: return "in-doubt";
	case HO_COMMITTED: return "committed";
	case HO_DURABLE: return "durable";
	case HO_ABORTED: return "aborted";
	case HO_NONE: break;
	}
	return "unknown";
}

const char *ho_status_word(enum ho_state s)
{
	switch (s) {
	case HO_PENDING:
	case HO_IN_DOUBT: return "pending";
	case HO_COMMITTED:
	case HO_DURABLE: return "committed";
	case HO_ABORTED: return "aborted";
	case HO_NONE: break;
	}
	return "unknown";
}

bool ho_final(enum ho_state s)
{
	return s == HO_ABORTED || s == HO_DURABLE;
}

bool ho_transition_ok(enum ho_state from, enum ho_state to)
{
	switch (from) {
	case HO_NONE: return to == HO_PENDING;
	case HO_PENDING: return to == HO_COMMITTED || to == HO_ABORTED || to == HO_IN_DOUBT;
	case HO_IN_DOUBT: return to == HO_COMMITTED || to == HO_ABORTED;
	case HO_COMMITTED: return to == HO_DURABLE;
	case HO_DURABLE:
	case HO_ABORTED: return false;
	}
	return false;
}

int ho_set_state(struct ho_rec *r, enum ho_state to)
{
	if (!ho_transition_ok(r->state, to))
		return -EINVAL;
	r->state = to;
	return 0;
}

int ho_rec_init(struct ho_rec *r, uint64_t id, lk_host_t src, uint64_t src_inc,
		lk_host_t dst, uint64_t dst_inc, const char *const *files, uint32_t nfiles)
{
	memset(r, 0, sizeof(*r));
	r->files = calloc(nfiles ? nfiles : 1, sizeof(*r->files));
	if (!r->files)
		return -ENOMEM;
	for (uint32_t i = 0; i < nfiles; i++) {
		r->files[i] = strdup(files[i]);
		if (!r->files[i]) {
			r->nfiles = i;
			ho_rec_free(r);
			return -ENOMEM;
		}
	}
	r->id = id;
	r->src = src;
	r->dst = dst;
	r->src_inc = src_inc;
	r->dst_inc = dst_inc;
	r->nfiles = nfiles;
	r->state = HO_PENDING;
	return 0;
}

int ho_rec_copy(struct ho_rec *dst, const struct ho_rec *src)
{
	int rc = ho_rec_init(dst, src->id, src->src, src->src_inc, src->dst, src->dst_inc,
			     (const char *const *)src->files, src->nfiles);
	if (rc == 0) {
		dst->state = src->state;
		dst->commit_req = src->commit_req;
	}
	return rc;
}

void ho_rec_free(struct ho_rec *r)
{
	for (uint32_t i = 0; i < r->nfiles; i++)
		free(r->files[i]);
	free(r->files);
	memset(r, 0, sizeof(*r));
}

bool ho_rec_has_file(const struct ho_rec *r, const char *path)
{
	for (uint32_t i = 0; i < r->nfiles; i++)
		if (strcmp(r->files[i], path) == 0)
			return true;
	return false;
}

bool ho_ok(const struct ho_rec *r)
{
	if (r->id == 0 || r->state == HO_NONE || r->src == r->dst)
		return false;
	if (r->nfiles == 0 || !r->files)
		return false;
	for (uint32_t i = 0; i < r->nfiles; i++) {
		if (!r->files[i])
			return false;
		for (uint32_t j = 0; j < i; j++)
			if (strcmp(r->files[i], r->files[j]) == 0)
				return false;
	}
	return true;
}

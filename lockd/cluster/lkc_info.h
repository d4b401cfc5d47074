/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lkc_info.h - host information shared through corosync beside the lock protocol: each
 * vmfs-lockd multicasts one JSON object about its host ({ host, hostname, cpuid, vmfsd })
 * to a CPG group of its own and keeps the last one of every member (lkc_info.c).
 */
#ifndef VMFS_LKC_INFO_H
#define VMFS_LKC_INFO_H

#include <stddef.h>

#include <jansson.h>
#include <qb/qbloop.h>

#include "lockd/core/lk_types.h"

struct lkc_info;

/* Joins "<group>-info"; mine() builds this host's object (a new reference) whenever it
 * is sent. NULL with err when corosync is not there. */
struct lkc_info *lkc_info_start(qb_loop_t *loop, const char *group,
				json_t *(*mine)(void *arg), void *arg, char *err, size_t errlen);
void lkc_info_stop(struct lkc_info *in);
/* This host's object changed: sends it again. */
void lkc_info_changed(struct lkc_info *in);
/* The last object host sent (borrowed), NULL when none or it left. */
json_t *lkc_info_get(const struct lkc_info *in, lk_host_t host);

#endif

/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ho_journal.h - a handoff's outcome as the hosts' journals on the lock volume keep it,
 * for `vmfs-handoff status` of a handoff vmfs-lockd no longer remembers (a restarted
 * cluster, or one of more than 256 finished since). Each host writes every state its
 * handoffs reach (lk_agent.c, journal_handoffs); the journal is a ring of a few sectors.
 */
#ifndef VMFS_HO_JOURNAL_H
#define VMFS_HO_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "lockd/volume/vol.h"

/* The most advanced state any host's journal records for handoff id: 0 with *out,
 * -ENOENT when no journal names it (any more), or another -errno with err. */
int ho_journal_find(const char *datastore, uint64_t id, struct vol_journal *out, char *err,
		    size_t errlen);

#endif

// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ho_journal.c - a handoff's outcome from the journals on the lock volume (contract:
 * ho_journal.h). Reads the volume directly, read-only, as vmfsadm dump does.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "handoff/cli/ho_journal.h"
#include "handoff/ho_core.h"
#include "lockd/volume/vol_datastore.h"

/* How far along the arrows of ho_core.h a state is: a later record never goes back. */
static int rank(uint32_t state)
{
	switch (state) {
	case HO_PENDING: return 1;
	case HO_IN_DOUBT: return 2;
	case HO_COMMITTED: return 3;
	case HO_DURABLE: case HO_ABORTED: return 4;
	default: return 0;
	}
}

int ho_journal_find(const char *datastore, uint64_t id, struct vol_journal *out, char *err,
		    size_t errlen)
{
	struct vol_handle h;
	const struct vol_geom *g;
	uint8_t *buf;
	bool found = false;
	int rc = vol_open(datastore, false, &h, err, errlen);

	if (rc < 0)
		return rc;
	g = &h.super.geom;
	buf = vol_alloc_sectors(g->sector_size, g->journal_sectors);
	if (!buf) {
		vol_close(&h);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (lk_host_t host = 1; host <= g->max_hosts; host++) {
		if (h.dev.ops->read(&h.dev, vol_journal_index(g, host, 0), g->journal_sectors,
				    buf) < 0)
			continue; /* an unreadable area says nothing */
		for (uint32_t n = 0; n < g->journal_sectors; n++) {
			uint64_t idx = vol_journal_index(g, host, n);
			struct vol_journal j;

			if (vol_decode_journal(g, idx, buf + (size_t)n * g->sector_size, &j) < 0 ||
			    j.type != VOL_J_HANDOFF || j.handoff_id != id)
				continue;
			if (!found || rank(j.ho_state) > rank(out->ho_state) ||
			    (rank(j.ho_state) == rank(out->ho_state) && j.wall_ms > out->wall_ms))
				*out = j;
			found = true;
		}
	}
	free(buf);
	vol_close(&h);
	return found ? 0 : -ENOENT;
}

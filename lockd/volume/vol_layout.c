// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vol_layout.c - where each sector of the lock volume lives (see the map in vol.h):
 * sector 0 is the superblock, then max_hosts host areas, host h at area h - 1, each a
 * heartbeat sector, journal_sectors journal sectors and table_sectors lock table
 * sectors. Pure arithmetic on the geometry; nothing here reads or writes.
 */
#include <errno.h>

#include "lockd/volume/vol.h"

static uint64_t area_sectors(const struct vol_geom *g)
{
	return 1 + (uint64_t)g->journal_sectors + g->table_sectors;
}

uint64_t vol_total_sectors(const struct vol_geom *g)
{
	return 1 + (uint64_t)g->max_hosts * area_sectors(g);
}

uint64_t vol_hb_index(const struct vol_geom *g, lk_host_t h)
{
	return 1 + (uint64_t)(h - 1) * area_sectors(g);
}

uint64_t vol_journal_index(const struct vol_geom *g, lk_host_t h, uint32_t j)
{
	return vol_hb_index(g, h) + 1 + j;
}

uint64_t vol_table_index(const struct vol_geom *g, lk_host_t h, uint32_t t)
{
	return vol_hb_index(g, h) + 1 + g->journal_sectors + t;
}

lk_host_t vol_sector_owner(const struct vol_geom *g, uint64_t idx)
{
	if (idx == 0)
		return 0;
	return (lk_host_t)((idx - 1) / area_sectors(g) + 1);
}

int vol_locate(const struct vol_geom *g, uint64_t idx, struct vol_loc *out)
{
	uint64_t off;

	if (idx >= vol_total_sectors(g))
		return -ERANGE;
	if (idx == 0) {
		*out = (struct vol_loc){ .kind = VOL_K_SUPER };
		return 0;
	}
	out->host = vol_sector_owner(g, idx);
	off = idx - vol_hb_index(g, out->host);
	if (off == 0) {
		out->kind = VOL_K_HEARTBEAT;
		out->n = 0;
	} else if (off <= g->journal_sectors) {
		out->kind = VOL_K_JOURNAL;
		out->n = (uint32_t)(off - 1);
	} else {
		out->kind = VOL_K_TABLE;
		out->n = (uint32_t)(off - 1 - g->journal_sectors);
	}
	return 0;
}

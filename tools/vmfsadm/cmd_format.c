// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cmd_format.c - "vmfsadm format": writes a new, empty lock volume on a datastore
 * (vol_format() does the work and the refusing) and says what it made.
 */
#include <inttypes.h>
#include <stdio.h>

#include "lockd/volume/vol_datastore.h"
#include "tools/vmfsadm/cmd.h"

static const struct option format_longopts[] = {
	{ "cluster", required_argument, NULL, 'C' },
	{ "max-hosts", required_argument, NULL, 'H' },
	{ "locks-per-host", required_argument, NULL, 'L' },
	{ "force", no_argument, NULL, 'f' },
	{ 0 },
};

static void print_made(const struct vol_handle *h)
{
	const struct vol_super *s = &h->super;
	uint64_t total = vol_total_sectors(&s->geom);
	uint64_t bytes = total * s->geom.sector_size;
	char uuid[VOL_UUID_STR_LEN];

	vol_uuid_str(s->geom.uuid, uuid);
	printf("formatted lock volume %s\n", h->dev.path);
	printf("  %-16s%s\n", "uuid", uuid);
	printf("  %-16s%s\n", "cluster", s->cluster);
	printf("  %-16s%" PRIu32 "\n", "max hosts", s->geom.max_hosts);
	printf("  %-16s%" PRIu32 " (%" PRIu32 " table sectors)\n", "locks per host",
	       s->geom.table_sectors * VOL_SLOTS_PER_SECTOR, s->geom.table_sectors);
	printf("  %-16s%" PRIu32 " sectors per host\n", "journal", s->geom.journal_sectors);
	printf("  %-16s%" PRIu64 " of %" PRIu32 " bytes\n", "sectors", total,
	       s->geom.sector_size);
	printf("  %-16s%" PRIu64 " bytes (%.1f MiB)\n", "size", bytes,
	       (double)bytes / (1024.0 * 1024.0));
}

static int format_exec(const struct cmd_entry *self, const struct cmd_args *a)
{
	struct vol_format_opts o = {
		.cluster = a->opt['C'],
		.force = a->opt['f'] != NULL,
	};
	struct vol_handle h;
	char err[VOL_ERR_MAX];

	if (a->opt['H'] &&
	    cmd_parse_u32(self, "--max-hosts", a->opt['H'], 1, LK_MAX_HOSTS, &o.max_hosts))
		return cmd_usage_error(self);
	if (a->opt['L'] && cmd_parse_u32(self, "--locks-per-host", a->opt['L'], 1,
					 VOL_MAX_LOCKS_PER_HOST, &o.locks_per_host))
		return cmd_usage_error(self);
	if (vol_format(a->argv[0], &o, &h, err, sizeof(err))) {
		cmd_error(self, "%s", err);
		return CMD_EXIT_FAIL;
	}
	print_made(&h);
	vol_close(&h);
	return CMD_EXIT_OK;
}

const struct cmd_entry cmd_format_entry = {
	.name = "format",
	.summary = "write a new, empty lock volume on a datastore",
	.usage = "[--cluster NAME] [--max-hosts N] [--locks-per-host N] [--force] DATASTORE",
	.help = "  -C, --cluster NAME          cluster name recorded in the volume (default "
		VOL_DEFAULT_CLUSTER ")\n"
		"  -H, --max-hosts N           host slots, 1 to 128 (default 64)\n"
		"  -L, --locks-per-host N      locks each host can hold, 1 to 65536 (default "
		"1024)\n"
		"  -f, --force                 overwrite an existing lock volume or other data\n",
	.notes = "DATASTORE is a directory (the volume is DATASTORE/" VOL_LOCKVOL_NAME
		 "),\na regular file or a block device.\n",
	.optstring = "C:H:L:f",
	.longopts = format_longopts,
	.min_args = 1,
	.max_args = 1,
	.exec = format_exec,
};

// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cmd_break.c - `vmfsadm break PATH`: frees a lock whose holder's lease has expired.
 * The recovery coordinator frees such locks by itself once the lease is over; break
 * refuses while the holder lives (and says why), and otherwise waits until the lock is
 * free.
 */
#include <errno.h>
#include <stdio.h>

#include "tools/vmfsadm/live.h"

static int break_exec(const struct cmd_entry *self, const struct cmd_args *a)
{
	char name[VMFSLOCK_NAME_MAX + 1], why[512];
	struct vmfslock *c;
	int rc = live_connect(self, a, &c);

	if (rc)
		return rc;
	if (live_name(self, c, a->argv[0], name, sizeof(name)) < 0) {
		vmfslock_close(c);
		return CMD_EXIT_USAGE;
	}
	rc = vmfslock_break(c, name, why, sizeof(why));
	vmfslock_close(c);
	if (rc == 0) {
		printf("%s is free\n", name);
		return CMD_EXIT_OK;
	}
	if (rc == -EBUSY) {
		cmd_error(self, "refused: %s", why);
		return LIVE_EXIT_TEMPFAIL;
	}
	if (rc == -EINPROGRESS) {
		cmd_error(self, "%s; not free yet", why);
		return LIVE_EXIT_TEMPFAIL;
	}
	return live_fail(self, rc, name);
}

static const struct option break_longopts[] = {
	LIVE_CONFIG_OPT,
	{ NULL, 0, NULL, 0 },
};

const struct cmd_entry cmd_break_entry = {
	.name = "break",
	.summary = "free a lock whose holder's lease has expired",
	.usage = "[-c CONFIG] PATH",
	.help = LIVE_CONFIG_HELP,
	.notes = "Refuses (exit 75, naming the holder) while the holder's lease lives. Once it\n"
		 "has expired, waits until the recovery coordinator has fenced the holder and\n"
		 "freed the lock (at most host_dead + 5 s) and exits 0.\n",
	.optstring = "c:",
	.longopts = break_longopts,
	.min_args = 1,
	.max_args = 1,
	.exec = break_exec,
};

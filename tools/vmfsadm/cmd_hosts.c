// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cmd_hosts.c - `vmfsadm hosts`: every heartbeat slot in use, with its host, generation,
 * the age of its last renewal as this host saw it, and whether it is live, dead, fenced,
 * isolated (renewing on disk, not in our partition) or cleanly stopped.
 */
#include <stdio.h>

#include "tools/vmfsadm/live.h"
#include "tools/vmfsadm/tab.h"

static int hosts_exec(const struct cmd_entry *self, const struct cmd_args *a)
{
	static const char *const head[] = { "HOST", "NAME", "STATUS", "MEMBER", "GENERATION",
					     "RENEWED", "ON DISK" };
	json_t *arr, *h;
	struct tab *t;
	size_t i;
	char age[32];
	int rc = live_fetch(self, a, "hosts", NULL, &arr);

	if (rc)
		return rc < 0 ? CMD_EXIT_OK : rc;
	t = tab_new(7, head);
	json_array_foreach(arr, i, h) {
		json_t *err = json_object_get(h, "error");

		tab_row(t);
		tab_cell(t, "%lld", (long long)json_integer_value(json_object_get(h, "host")));
		tab_cell(t, "%s", json_string_value(json_object_get(h, "name")));
		tab_cell(t, "%s", json_string_value(json_object_get(h, "status")));
		tab_cell(t, "%s", json_is_true(json_object_get(h, "member")) ? "yes" : "no");
		if (err) {
			tab_cell(t, "-");
			tab_cell(t, "-");
			tab_cell(t, "%s", json_string_value(err));
			continue;
		}
		tab_cell(t, "%lld", (long long)json_integer_value(json_object_get(h, "host_gen")));
		tab_cell(t, "%s ago", live_age(json_integer_value(json_object_get(h, "age_ms")), age,
					       sizeof(age)));
		if (json_object_get(h, "fenced_by"))
			tab_cell(t, "%s by host %lld",
				 json_string_value(json_object_get(h, "disk_state")),
				 (long long)json_integer_value(json_object_get(h, "fenced_by")));
		else
			tab_cell(t, "%s", json_string_value(json_object_get(h, "disk_state")));
	}
	tab_print(t, stdout, 0);
	tab_free(t);
	json_decref(arr);
	return CMD_EXIT_OK;
}

static const struct option hosts_longopts[] = {
	LIVE_CONFIG_OPT,
	LIVE_JSON_OPT,
	{ NULL, 0, NULL, 0 },
};

const struct cmd_entry cmd_hosts_entry = {
	.name = "hosts",
	.summary = "every host's heartbeat slot: generation, last renewal, live or dead",
	.usage = "[-c CONFIG] [--json]",
	.help = LIVE_CONFIG_HELP LIVE_JSON_HELP,
	.notes = "STATUS: live (renewing, cluster member), isolated (renewing on disk but not in\n"
		 "this partition), dead (no renewal for host_dead), fenced (recovered by another\n"
		 "host), clean (stopped cleanly, holds nothing), damaged or unreadable sector.\n"
		 "RENEWED is the age of the last change of its counter on this host's clock.\n",
	.optstring = "c:j",
	.longopts = hosts_longopts,
	.min_args = 0,
	.max_args = 0,
	.exec = hosts_exec,
};

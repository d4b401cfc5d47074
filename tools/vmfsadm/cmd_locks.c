// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cmd_locks.c - `vmfsadm locks [PATH]`: every lock of the cluster (or those of PATH and
 * below), with mode, holder host(s), generation, since when, and handoff state.
 */
#include <stdio.h>
#include <time.h>

#include "tools/vmfsadm/live.h"
#include "tools/vmfsadm/tab.h"

static void since(struct tab *t, long long wall_ms)
{
	time_t s = (time_t)(wall_ms / 1000);
	struct tm tm;
	char buf[32];

	if (!wall_ms || !localtime_r(&s, &tm)) {
		tab_cell(t, "-");
		return;
	}
	strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
	tab_cell(t, "%s", buf);
}

static int locks_exec(const struct cmd_entry *self, const struct cmd_args *a)
{
	static const char *const head[] = { "PATH", "MODE", "HOLDER", "GENERATION", "SINCE",
					     "HANDOFF" };
	json_t *arr, *l;
	struct tab *t;
	size_t i, j;
	int rc = live_fetch(self, a, "locks", a->argc ? a->argv[0] : NULL, &arr);

	if (rc)
		return rc < 0 ? CMD_EXIT_OK : rc;
	t = tab_new(6, head);
	json_array_foreach(arr, i, l) {
		json_t *h, *ho = json_object_get(l, "handoff");

		json_array_foreach(json_object_get(l, "holders"), j, h) {
			json_t *g = json_object_get(h, "gen");

			tab_row(t);
			tab_cell(t, "%s", j ? "" : json_string_value(json_object_get(l, "path")));
			tab_cell(t, "%s", json_string_value(json_object_get(h, "mode")));
			tab_cell(t, "%s(%lld)%s", json_string_value(json_object_get(h, "name")),
				 (long long)json_integer_value(json_object_get(h, "host")),
				 json_is_true(json_object_get(h, "orphan")) ? " orphaned" : "");
			tab_cell(t, "%lld:%lld", (long long)json_integer_value(json_array_get(g, 0)),
				 (long long)json_integer_value(json_array_get(g, 1)));
			since(t, json_integer_value(json_object_get(h, "since_ms")));
			if (ho)
				tab_cell(t, "%lld %s %lld->%lld",
					 (long long)json_integer_value(json_object_get(ho, "id")),
					 json_string_value(json_object_get(ho, "state")),
					 (long long)json_integer_value(json_object_get(ho, "from")),
					 (long long)json_integer_value(json_object_get(ho, "to")));
			else
				tab_cell(t, "-");
		}
	}
	tab_print(t, stdout, 0);
	tab_free(t);
	json_decref(arr);
	return CMD_EXIT_OK;
}

static const struct option locks_longopts[] = {
	LIVE_CONFIG_OPT,
	LIVE_JSON_OPT,
	{ NULL, 0, NULL, 0 },
};

const struct cmd_entry cmd_locks_entry = {
	.name = "locks",
	.summary = "every lock of the cluster: mode, holder(s), generation, since, handoff",
	.usage = "[-c CONFIG] [--json] [PATH]",
	.help = LIVE_CONFIG_HELP LIVE_JSON_HELP,
	.notes = "PATH is a lock name (relative to the datastore root) or an absolute path under\n"
		 "the mount point; a directory shows every lock below it. An orphaned holder left\n"
		 "the cluster and is recovered once its lease expires.\n",
	.optstring = "c:j",
	.longopts = locks_longopts,
	.min_args = 0,
	.max_args = 1,
	.exec = locks_exec,
};

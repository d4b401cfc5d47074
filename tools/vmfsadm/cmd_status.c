// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cmd_status.c - `vmfsadm status`: the cluster, its quorum and members, this host, its
 * lease, as the local vmfs-lockd sees them.
 */
#include <stdio.h>

#include "tools/vmfsadm/live.h"

static void print_text(json_t *s)
{
	json_t *m, *members = json_object_get(s, "members");
	size_t i;
	char age[32];

	printf("cluster      %s: %s, ring %lld, %zu member(s):", json_string_value(
		       json_object_get(s, "cluster")),
	       json_is_true(json_object_get(s, "quorate")) ? "quorate" : "NOT QUORATE",
	       (long long)json_integer_value(json_object_get(s, "ring")), json_array_size(members));
	json_array_foreach(members, i, m)
		printf(" %s(%lld)", json_string_value(json_object_get(m, "name")),
		       (long long)json_integer_value(json_object_get(m, "host")));
	printf("\ndatastore    %s (volume %s, uuid %s)\n",
	       json_string_value(json_object_get(s, "datastore")),
	       json_string_value(json_object_get(s, "volume")),
	       json_string_value(json_object_get(s, "uuid")));
	printf("this host    %s (host %lld, incarnation %lld)%s\n",
	       json_string_value(json_object_get(s, "hostname")),
	       (long long)json_integer_value(json_object_get(s, "host")),
	       (long long)json_integer_value(json_object_get(s, "incarnation")),
	       json_is_true(json_object_get(s, "connected")) ? "" : ", NOT CONNECTED to corosync");
	printf("lease        %s", json_string_value(json_object_get(s, "lease")));
	if (json_integer_value(json_object_get(s, "lease_left_ms")) > 0)
		printf(", %s left", live_age(json_integer_value(json_object_get(s, "lease_left_ms")),
					     age, sizeof(age)));
	printf(" (hb_interval %lld ms, host_dead %lld ms, io_timeout %lld ms, token %lld ms, "
	       "isolation %s)\n",
	       (long long)json_integer_value(json_object_get(s, "hb_interval_ms")),
	       (long long)json_integer_value(json_object_get(s, "host_dead_ms")),
	       (long long)json_integer_value(json_object_get(s, "io_timeout_ms")),
	       (long long)json_integer_value(json_object_get(s, "token_ms")),
	       json_string_value(json_object_get(s, "isolation")));
	if (json_object_get(s, "fenced_why"))
		printf("fenced       %s\n", json_string_value(json_object_get(s, "fenced_why")));
	printf("grants       %s\n", json_is_true(json_object_get(s, "grants_open")) ? "open" :
	       json_is_true(json_object_get(s, "settling")) ? "closed: synchronising" :
	       "closed: not quorate or recovering a host");
	printf("locks held   %lld (cluster epoch %lld)\n",
	       (long long)json_integer_value(json_object_get(s, "locks_held")),
	       (long long)json_integer_value(json_object_get(s, "epoch")));
}

static int status_exec(const struct cmd_entry *self, const struct cmd_args *a)
{
	json_t *s;
	int rc = live_fetch(self, a, "status", NULL, &s);

	if (rc)
		return rc < 0 ? CMD_EXIT_OK : rc;
	print_text(s);
	json_decref(s);
	return CMD_EXIT_OK;
}

static const struct option status_longopts[] = {
	LIVE_CONFIG_OPT,
	LIVE_JSON_OPT,
	{ NULL, 0, NULL, 0 },
};

const struct cmd_entry cmd_status_entry = {
	.name = "status",
	.summary = "cluster, quorum, members, this host and its lease (from vmfs-lockd)",
	.usage = "[-c CONFIG] [--json]",
	.help = LIVE_CONFIG_HELP LIVE_JSON_HELP,
	.notes = "Exit status 69 when vmfs-lockd is not running.\n",
	.optstring = "c:j",
	.longopts = status_longopts,
	.min_args = 0,
	.max_args = 0,
	.exec = status_exec,
};

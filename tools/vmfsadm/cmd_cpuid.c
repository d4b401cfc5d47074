// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cmd_cpuid.c - `vmfsadm cpuid [HOST]`: a host's CPU as its vmfs-lockd published it to
 * the cluster (vmfs_cpuid.h): vendor, family/model/stepping, brand, the feature words and
 * what a live migration asks about them.
 */
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "lockd/client/vmfs_cpuid.h"
#include "tools/vmfsadm/live.h"

/* Host id of a node id or name among the hosts vmfs-lockd knows; 0 when none. */
static uint32_t resolve(const struct cmd_entry *e, struct vmfslock *c, const char *s)
{
	json_t *hosts, *h;
	char *end;
	unsigned long v = strtoul(s, &end, 10);
	uint32_t id = 0;
	size_t i;

	if (*s && !*end)
		return (uint32_t)v;
	if (live_query(e, c, "hosts", NULL, &hosts))
		return 0;
	json_array_foreach(hosts, i, h)
		if (json_is_string(json_object_get(h, "name")) &&
		    strcmp(json_string_value(json_object_get(h, "name")), s) == 0)
			id = (uint32_t)json_integer_value(json_object_get(h, "host"));
	json_decref(hosts);
	return id;
}

static bool has(const struct vmfs_cpuid *c, const char *feature)
{
	for (int w = 0; w < VMFS_CPUID_NWORDS; w++)
		for (unsigned b = 0; b < 32; b++)
			if ((c->w[w] >> b & 1) && vmfs_cpuid_feature((enum vmfs_cpuid_word)w, b) &&
			    strcmp(vmfs_cpuid_feature((enum vmfs_cpuid_word)w, b), feature) == 0)
				return true;
	return false;
}

static void print_text(json_t *info, const struct vmfs_cpuid *c)
{
	static const char *const sse[] = { "sse", "sse2", "pni", "ssse3", "sse4_1", "sse4_2" };
	const char *level = "none";

	printf("host         %lld (%s)%s\n", (long long)json_integer_value(json_object_get(info, "host")),
	       json_string_value(json_object_get(info, "hostname")),
	       json_is_true(json_object_get(info, "vmfsd")) ? ", /vmfs mounted" : ", no vmfsd");
	printf("vendor       %s\nbrand        %s\n", c->vendor, c->brand[0] ? c->brand : "-");
	printf("family       %u, model %u, stepping %u\n", c->family, c->model, c->stepping);
	for (size_t i = 0; i < sizeof(sse) / sizeof(sse[0]) && has(c, sse[i]); i++)
		level = sse[i];
	printf("sse          up to %s%s\n", strcmp(level, "pni") == 0 ? "sse3" : level,
	       has(c, "avx2") ? ", avx2" : has(c, "avx") ? ", avx" : "");
	printf("nx %s, cmpxchg16b %s, rdtscp %s, long mode %s, vt-x %s, svm %s\n",
	       has(c, "nx") ? "yes" : "NO", has(c, "cx16") ? "yes" : "NO",
	       has(c, "rdtscp") ? "yes" : "NO", has(c, "lm") ? "yes" : "NO",
	       has(c, "vmx") ? "yes" : "no", has(c, "svm") ? "yes" : "no");
	for (int w = 0; w < VMFS_CPUID_NWORDS; w++) {
		printf("%-12s 0x%08x ", vmfs_cpuid_word_name((enum vmfs_cpuid_word)w), c->w[w]);
		for (unsigned b = 0; b < 32; b++)
			if (c->w[w] >> b & 1) {
				const char *n = vmfs_cpuid_feature((enum vmfs_cpuid_word)w, b);

				if (n)
					printf(" %s", n);
			}
		printf("\n");
	}
}

static int cpuid_exec(const struct cmd_entry *self, const struct cmd_args *a)
{
	struct vmfs_cpuid cpu;
	struct vmfslock *c;
	uint32_t host = 0;
	json_t *info;
	int rc = live_connect(self, a, &c);

	if (rc)
		return rc;
	if (a->argc == 1 && !(host = resolve(self, c, a->argv[0]))) {
		cmd_error(self, "no host %s in this cluster", a->argv[0]);
		vmfslock_close(c);
		return CMD_EXIT_FAIL;
	}
	rc = vmfslock_hostinfo(c, host, &info);
	vmfslock_close(c);
	if (rc < 0)
		return live_fail(self, rc, "hostinfo");
	if (json_is_null(info) ||
	    vmfs_cpuid_from_json(json_object_get(info, "cpuid"), &cpu) < 0) {
		cmd_error(self, "host %s published no CPU report (not a member, or its vmfs-lockd "
			  "predates it)", a->argc ? a->argv[0] : "this");
		json_decref(info);
		return CMD_EXIT_FAIL;
	}
	if (a->opt['j'])
		live_print_json(info);
	else
		print_text(info, &cpu);
	json_decref(info);
	return CMD_EXIT_OK;
}

static const struct option cpuid_longopts[] = {
	LIVE_CONFIG_OPT,
	LIVE_JSON_OPT,
	{ NULL, 0, NULL, 0 },
};

const struct cmd_entry cmd_cpuid_entry = {
	.name = "cpuid",
	.summary = "a host's CPU and feature words, as published to the cluster",
	.usage = "[-c CONFIG] [--json] [HOST]",
	.help = LIVE_CONFIG_HELP LIVE_JSON_HELP,
	.notes = "HOST is a node id or name (default: this host). Every vmfs-lockd publishes "
		 "its host's CPUID words to the others; vmfs-handoff check compares them.\n",
	.optstring = "c:j",
	.longopts = cpuid_longopts,
	.min_args = 0,
	.max_args = 1,
	.exec = cpuid_exec,
};

// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ho_check.c - the preflight of a live migration (contract: ho_check.h; vmfs-handoff(8),
 * CHECK). From vmfs-lockd: the files are on the datastore and held by no third host; the
 * destination is a live member of the quorate cluster, renews its heartbeat and has /vmfs
 * mounted; its CPU has every feature this host's has. From QEMU (QMP), with --qmp: no
 * block device is backed by an image outside the mount point, no vCPU thread is pinned
 * to fewer CPUs than the host has, no NIC backend exists only in this QEMU (user-mode
 * networking).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "handoff/cli/ho_check.h"
#include "handoff/cli/qmp.h"
#include "lockd/client/vmfs_cpuid.h"

/* A heartbeat older than this is not fresh (hb_interval is 1 s by default). */
#define STALE_HB_MS 5000

struct ctx {
	struct vmfslock *c;
	const struct vmfs_conf *conf;
	int failed;
};

static void result(struct ctx *x, bool ok, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void result(struct ctx *x, bool ok, const char *fmt, ...)
{
	va_list ap;

	fputs(ok ? "ok   " : "FAIL ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	x->failed += !ok;
}

/* The destination's entry in vmfs-lockd's host list, by node id or name (borrowed). */
static json_t *find_host(json_t *hosts, const char *to)
{
	char *end;
	unsigned long id = strtoul(to, &end, 10);
	json_t *h;
	size_t i;

	json_array_foreach(hosts, i, h) {
		const char *name = json_string_value(json_object_get(h, "name"));

		if ((*to && !*end && (unsigned long)json_integer_value(json_object_get(h, "host")) == id) ||
		    (name && strcmp(name, to) == 0))
			return h;
	}
	return NULL;
}

static void check_files(struct ctx *x, uint32_t me, uint32_t dst, char **paths, int n)
{
	for (int i = 0; i < n; i++) {
		char name[VMFSLOCK_NAME_MAX + 1];
		json_t *locks = NULL, *l, *h;
		size_t k, j, mine = 0, third = 0;

		if (vmfslock_name(x->conf, paths[i], name, sizeof(name)) < 0) {
			result(x, false, "file %s: not on the datastore (not under %s): the destination "
			       "cannot see it", paths[i], x->conf->mountpoint);
			continue;
		}
		if (vmfslock_query(x->c, "locks", name, &locks) < 0) {
			result(x, false, "file %s: vmfs-lockd does not answer", paths[i]);
			continue;
		}
		json_array_foreach(locks, k, l) {
			json_array_foreach(json_object_get(l, "holders"), j, h) {
				uint32_t host = (uint32_t)json_integer_value(json_object_get(h, "host"));

				if (host == me) {
					mine++;
				} else if (host != dst) {
					third++;
					result(x, false, "file %s is held by host %u (%s), a third host",
					       json_string_value(json_object_get(l, "path")), host,
					       json_string_value(json_object_get(h, "name")));
				}
			}
		}
		json_decref(locks);
		if (!third)
			result(x, mine > 0, "file %s: %s", name, mine ? "on the datastore, held by "
			       "this host alone" : "this host holds no lock on it or under it (is the "
			       "VM running here?)");
	}
}

static void missing(const char *feature, void *arg)
{
	char *buf = arg;
	size_t len = strlen(buf);

	if (len < 900)
		snprintf(buf + len, 1000 - len, "%s%s", len ? ", " : "", feature);
}

static void check_destination(struct ctx *x, json_t *status, json_t *dh, const char *to)
{
	uint32_t dst = (uint32_t)json_integer_value(json_object_get(dh, "host"));
	const char *name = json_string_value(json_object_get(dh, "name"));
	json_int_t age = json_integer_value(json_object_get(dh, "age_ms"));
	bool member = json_is_true(json_object_get(dh, "member"));
	struct vmfs_cpuid src_cpu, dst_cpu;
	json_t *si = NULL, *di = NULL;
	char lack[1000] = "";

	result(x, member && json_is_true(json_object_get(status, "quorate")),
	       "destination %s (host %u): %s", to, dst, !member ? "not a member of this cluster "
	       "partition" : json_is_true(json_object_get(status, "quorate")) ?
	       "a member of the quorate cluster" : "this partition is not quorate");
	result(x, json_object_get(dh, "age_ms") && age <= STALE_HB_MS,
	       "destination %s: heartbeat %s", name, json_object_get(dh, "age_ms") ?
	       (age <= STALE_HB_MS ? "fresh" : "stale (not renewed for more than 5 s)") :
	       "unreadable");
	if (vmfslock_hostinfo(x->c, dst, &di) < 0 || json_is_null(di) ||
	    vmfslock_hostinfo(x->c, 0, &si) < 0) {
		result(x, false, "destination %s published nothing about itself (is its "
		       "vmfs-lockd running and up to date?)", name);
		json_decref(di);
		json_decref(si);
		return;
	}
	result(x, json_is_true(json_object_get(di, "vmfsd")), "destination %s: /vmfs %s", name,
	       json_is_true(json_object_get(di, "vmfsd")) ? "mounted (vmfsd runs)" :
	       "NOT mounted (no vmfsd connected to its vmfs-lockd)");
	if (vmfs_cpuid_from_json(json_object_get(si, "cpuid"), &src_cpu) < 0 ||
	    vmfs_cpuid_from_json(json_object_get(di, "cpuid"), &dst_cpu) < 0)
		result(x, false, "cpu: a CPU report is missing or malformed");
	else if (vmfs_cpuid_missing(&src_cpu, &dst_cpu, missing, lack))
		result(x, false, "cpu: destination %s lacks feature(s) this host has: %s", name,
		       lack);
	else
		result(x, true, "cpu: destination %s (%s %s) has every feature of this host (%s)",
		       name, dst_cpu.vendor, dst_cpu.brand, src_cpu.brand);
	json_decref(di);
	json_decref(si);
}

static bool on_vmfs(const struct ctx *x, const char *f)
{
	size_t ml = strlen(x->conf->mountpoint), dl = strlen(x->conf->datastore);

	return (strncmp(f, x->conf->mountpoint, ml) == 0 && f[ml] == '/') ||
	       (strncmp(f, x->conf->datastore, dl) == 0 && f[dl] == '/');
}

/* The first local file named in v (a "json:{...}" filename, parsed) not on /vmfs. */
static const char *outside(const struct ctx *x, json_t *v)
{
	const char *key, *bad;
	json_t *e;

	json_object_foreach(v, key, e) {
		if (json_is_object(e) && (bad = outside(x, e)))
			return bad;
		if (strcmp(key, "filename") == 0 && json_is_string(e) &&
		    !on_vmfs(x, json_string_value(e)))
			return json_string_value(e);
	}
	return NULL;
}

/* Every file name of one block device's image chain (inserted, backing images); QEMU
 * writes a node with options (offset, size) as "json:{...}". */
static void check_image(struct ctx *x, const char *dev, json_t *img)
{
	for (; img; img = json_object_get(img, "backing-image")) {
		const char *f = json_string_value(json_object_get(img, "filename")), *bad = f;
		json_t *spec = NULL;

		if (f && strncmp(f, "json:", 5) == 0) {
			spec = json_loads(f + 5, 0, NULL);
			bad = spec ? outside(x, spec) : f;
		} else if (f && on_vmfs(x, f)) {
			bad = NULL;
		}
		if (bad) {
			result(x, false, "qemu: block device %s uses %s, outside %s: the destination "
			       "cannot open it", dev, bad, x->conf->mountpoint);
			json_decref(spec);
			return;
		}
		json_decref(spec);
	}
	result(x, true, "qemu: block device %s is on /vmfs", dev);
}

static int online_cpus(void)
{
	cpu_set_t all;

	/* the host's CPUs this process may use: its own set is the widest a vCPU can get */
	if (sched_getaffinity(0, sizeof(all), &all) == 0)
		return CPU_COUNT(&all);
	return (int)sysconf(_SC_NPROCESSORS_ONLN);
}

static void check_qemu(struct ctx *x, const char *sock)
{
	char err[512];
	struct qmp *q;
	json_t *r, *d;
	size_t i;
	int pinned = 0, ncpu = online_cpus();

	if (qmp_open(sock, 2000, &q, err, sizeof(err)) < 0) {
		result(x, false, "qemu: %s", err);
		return;
	}
	if (qmp_call(q, "query-block", NULL, &r, err, sizeof(err)) == 0) {
		json_array_foreach(r, i, d) {
			json_t *ins = json_object_get(d, "inserted");
			const char *dev = json_string_value(json_object_get(d, "device"));

			if (!dev || !*dev) /* a -blockdev node has no drive name */
				dev = json_string_value(json_object_get(d, "qdev"));

			if (ins)
				check_image(x, dev ? dev : "?", json_object_get(ins, "image"));
		}
		json_decref(r);
	} else {
		result(x, false, "qemu: %s", err);
	}
	if (qmp_call(q, "query-cpus-fast", NULL, &r, err, sizeof(err)) == 0) {
		json_array_foreach(r, i, d) {
			pid_t tid = (pid_t)json_integer_value(json_object_get(d, "thread-id"));
			cpu_set_t set;

			if (sched_getaffinity(tid, sizeof(set), &set) == 0 && CPU_COUNT(&set) < ncpu) {
				result(x, false, "qemu: vCPU %lld (thread %d) is pinned to %d of this "
				       "host's %d CPUs: the destination does not repeat the pinning",
				       (long long)json_integer_value(json_object_get(d, "cpu-index")),
				       (int)tid, CPU_COUNT(&set), ncpu);
				pinned++;
			}
		}
		if (!pinned)
			result(x, true, "qemu: %zu vCPU(s), none pinned", json_array_size(r));
		json_decref(r);
	} else {
		result(x, false, "qemu: %s", err);
	}
	if (qmp_call(q, "human-monitor-command", json_pack("{s:s}", "command-line",
		     "info network"), &r, err, sizeof(err)) == 0) {
		const char *text = json_string_value(r) ?: "";
		const char *p = strstr(text, "type=user");

		if (p) {
			const char *line = p;

			while (line > text && line[-1] != '\n')
				line--;
			result(x, false, "qemu: NIC backend with user-mode networking (%.*s): it "
			       "exists only in this QEMU process", (int)strcspn(line, "\n"), line);
		} else {
			result(x, true, "qemu: no NIC backend that exists only here");
		}
		json_decref(r);
	} else {
		result(x, false, "qemu: %s", err);
	}
	qmp_close(q);
}

int ho_check(struct vmfslock *c, const char *to, const char *qmp, char **paths, int n)
{
	struct ctx x = { .c = c, .conf = vmfslock_conf(c) };
	json_t *status = NULL, *hosts = NULL, *dh;
	uint32_t me, dst = 0;
	int rc;

	if ((rc = vmfslock_query(c, "status", NULL, &status)) < 0 ||
	    (rc = vmfslock_query(c, "hosts", NULL, &hosts)) < 0) {
		json_decref(status);
		return rc;
	}
	me = (uint32_t)json_integer_value(json_object_get(status, "host"));
	dh = find_host(hosts, to);
	if (!dh)
		result(&x, false, "destination %s: no such host in this cluster", to);
	else if ((dst = (uint32_t)json_integer_value(json_object_get(dh, "host"))) == me)
		result(&x, false, "destination %s: that is this host", to);
	else
		check_destination(&x, status, dh, to);
	check_files(&x, me, dst, paths, n);
	if (qmp)
		check_qemu(&x, qmp);
	json_decref(status);
	json_decref(hosts);
	return x.failed;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lkd_view.c - what an admin sees of this lockd (vmfsadm status / hosts / locks), as
 * JSON objects built from the replica, the lease, the CPG view and the daemon's own
 * periodic read of every heartbeat slot. The liveness of another host is judged here
 * the same way the protocol judges it: its counter unchanged for host_dead on this
 * host's monotonic clock (lk_lease.h).
 */
#include <string.h>

#include "lockd/cluster/lkc.h"
#include "lockd/cluster/lkc_info.h"
#include "lockd/daemon/lkd.h"
#include "lockd/ipc/lki.h"

static struct lk_timing slot_timing(const struct lkd *d, const struct vol_heartbeat *hb)
{
	struct lk_timing t = d->timing;

	if (hb->host_dead_ms > t.host_dead_ms)
		t.host_dead_ms = hb->host_dead_ms;
	return t;
}

void lkd_view_slot_seen(struct lkd *d, lk_host_t h, int io_rc, int rc,
			const struct vol_heartbeat *hb)
{
	struct lkd_slot *s = &d->slots[h];
	int64_t now = lkd_now();

	s->io_rc = io_rc;
	if (io_rc)
		return; /* unread: keep judging what was seen before */
	s->rc = rc;
	if (rc)
		return;
	if (!s->obs.seen || s->obs.host_gen != hb->host_gen || s->obs.counter != hb->counter)
		s->changed_at = now;
	s->hb = *hb;
	{
		struct lk_timing t = slot_timing(d, hb);

		s->dead = lk_observe(&s->obs, &t, hb->host_gen, hb->counter, now);
	}
	if (d->agent && h != d->host)
		lk_agent_heartbeat_seen(d->agent, h, hb->host_gen, hb->counter,
					s->obs.first_seen);
}

static json_t *gen_json(struct lk_gen g)
{
	return json_pack("[II]", (json_int_t)g.epoch, (json_int_t)g.counter);
}

const char *lkd_host_name(const struct lkd *d, lk_host_t h, char *buf, size_t len)
{
	if (d->slots[h].rc == 0 && d->slots[h].hb.hostname[0])
		return d->slots[h].hb.hostname;
	lkc_node_name(h, buf, len);
	return buf;
}

json_t *lkd_view_status(struct lkd *d)
{
	const struct lk_state *st = d->agent ? lk_agent_state(d->agent) : NULL;
	const struct lk_lease *l = d->agent ? lk_agent_lease(d->agent) : NULL;
	int64_t now = lkd_now();
	struct lkc_view v = { 0 };
	char uuid[VOL_UUID_STR_LEN], name[VOL_NAME_MAX + 1];
	json_t *members = json_array(), *o;
	const char *lease;

	if (d->cl)
		lkc_view(d->cl, &v, true);
	for (uint32_t i = 0; i < v.nmembers; i++)
		json_array_append_new(members,
				      json_pack("{s:I, s:s}", "host", (json_int_t)v.members[i],
						"name", lkd_host_name(d, v.members[i], name, sizeof(name))));
	vol_uuid_str(d->vol.super.geom.uuid, uuid);
	lease = !d->agent ? "none" : lk_agent_fenced(d->agent) ? "fenced" :
		l->valid && now < l->deadline ? "valid" : l->valid ? "expired" : "none";
	o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:I, s:b, s:b, s:I, s:o, s:b, s:b, s:s,"
		      " s:I, s:I, s:I, s:I, s:I, s:s, s:I, s:I}",
		      "cluster", d->cluster, "datastore", d->conf.datastore,
		      "volume", d->vol.dev.path, "uuid", uuid,
		      "host", (json_int_t)d->host, "hostname", d->hostname,
		      "incarnation", (json_int_t)d->inc,
		      "connected", d->cl != NULL,
		      "quorate", st && lk_state_quorate(st),
		      "ring", (json_int_t)(st ? lk_state_ring(st) : 0),
		      "members", members,
		      "settling", v.settling || (st && lk_state_syncing(st)),
		      "grants_open", st && lk_state_grants_open(st),
		      "lease", lease,
		      "lease_left_ms", (json_int_t)(l && l->valid && now < l->deadline ?
						     l->deadline - now : 0),
		      "hb_interval_ms", (json_int_t)d->timing.hb_interval_ms,
		      "host_dead_ms", (json_int_t)d->timing.host_dead_ms,
		      "io_timeout_ms", (json_int_t)d->timing.io_timeout_ms,
		      "token_ms", (json_int_t)d->token_ms,
		      "isolation", d->conf.isolation == VMFS_ISOLATION_FENCE ? "fence" : "keep",
		      "epoch", (json_int_t)(st ? lk_state_epoch(st) : 0),
		      "locks_held", (json_int_t)lkd_run_held(d));
	if (o && d->fenced)
		json_object_set_new(o, "fenced_why", json_string(d->fenced_why));
	if (o && d->cl) {
		json_object_set_new(o, "expected_votes", json_integer(v.expected_votes));
		json_object_set_new(o, "total_votes", json_integer(v.total_votes));
	}
	return o;
}

static bool in_view(const struct lkc_view *v, lk_host_t h)
{
	for (uint32_t k = 0; k < v->nmembers; k++)
		if (v->members[k] == h)
			return true;
	return false;
}

static const char *slot_status(const struct lkd_slot *s, bool member)
{
	if (s->io_rc)
		return "unreadable";
	if (s->rc)
		return "damaged";
	switch (s->hb.state) {
	case VOL_HB_UNUSED:
		return "unused";
	case VOL_HB_CLEAN:
		return "clean";
	case VOL_HB_FENCED:
		return "fenced";
	case VOL_HB_LIVE:
		break;
	}
	if (s->dead)
		return "dead";
	return member ? "live" : "isolated";
}

json_t *lkd_view_hosts(struct lkd *d)
{
	json_t *arr = json_array();
	int64_t now = lkd_now();
	char name[VOL_NAME_MAX + 1];
	struct lkc_view v = { 0 };

	if (d->cl)
		lkc_view(d->cl, &v, false);
	for (lk_host_t h = 1; arr && h <= d->vol.super.geom.max_hosts; h++) {
		const struct lkd_slot *s = &d->slots[h];
		bool member = in_view(&v, h);
		json_t *o;

		if (!member && !s->io_rc && (s->rc == VOL_EZERO ||
					     (!s->rc && s->hb.state == VOL_HB_UNUSED)))
			continue;
		o = json_pack("{s:I, s:s, s:s, s:b}", "host", (json_int_t)h,
			      "name", lkd_host_name(d, h, name, sizeof(name)),
			      "status", slot_status(s, member), "member", member);
		if (!s->io_rc && !s->rc) {
			json_object_set_new(o, "host_gen", json_integer((json_int_t)s->hb.host_gen));
			json_object_set_new(o, "counter", json_integer((json_int_t)s->hb.counter));
			json_object_set_new(o, "age_ms", json_integer(now - s->changed_at));
			json_object_set_new(o, "wall_ms", json_integer((json_int_t)s->hb.wall_ms));
			json_object_set_new(o, "disk_state",
					    json_string(vol_hb_state_name(s->hb.state)));
			if (s->hb.state == VOL_HB_FENCED)
				json_object_set_new(o, "fenced_by",
						    json_integer(s->hb.fenced_by));
		} else {
			json_object_set_new(o, "error", json_string(s->io_rc ? strerror(-s->io_rc) :
								       vol_strerror(s->rc)));
		}
		json_array_append_new(arr, o);
	}
	return arr;
}

struct locks_q {
	struct lkd *d;
	const char *path;
	size_t plen;
	json_t *arr;
};

static void lock_fn(void *arg, const char *path, const struct lk_lock_view *v, size_t n,
		    uint64_t ho)
{
	struct locks_q *q = arg;
	const struct lk_state *st = lk_agent_state(q->d->agent);
	char name[VOL_NAME_MAX + 1];
	json_t *holders, *o;

	if (q->path && strcmp(path, q->path) != 0 &&
	    !(strncmp(path, q->path, q->plen) == 0 && path[q->plen] == '/'))
		return;
	holders = json_array();
	for (size_t i = 0; i < n; i++) {
		json_array_append_new(holders, json_pack(
			"{s:I, s:s, s:s, s:o, s:b, s:I}", "host", (json_int_t)v[i].host,
			"name", lkd_host_name(q->d, v[i].host, name, sizeof(name)),
			"mode", lk_mode_name(v[i].mode), "gen", gen_json(v[i].gen),
			"orphan", v[i].orphan, "since_ms", (json_int_t)v[i].since_ms));
	}
	o = json_pack("{s:s, s:o}", "path", path, "holders", holders);
	if (ho) {
		const struct ho_rec *r = lk_state_handoff_by_id(st, ho);

		json_object_set_new(o, "handoff", json_pack("{s:I, s:s, s:I, s:I}",
			"id", (json_int_t)ho, "state", r ? ho_state_name(r->state) : "unknown",
			"from", (json_int_t)(r ? r->src : 0), "to", (json_int_t)(r ? r->dst : 0)));
	}
	json_array_append_new(q->arr, o);
}

json_t *lkd_view_locks(struct lkd *d, const char *path)
{
	struct locks_q q = { .d = d, .path = path, .plen = path ? strlen(path) : 0,
			     .arr = json_array() };

	if (d->agent && q.arr)
		lk_state_foreach(lk_agent_state(d->agent), lock_fn, &q);
	return q.arr;
}

static json_t *party(struct lkd *d, lk_host_t h, uint64_t inc)
{
	char name[VOL_NAME_MAX + 1];

	return json_pack("{s:I, s:s, s:I}", "host", (json_int_t)h,
			 "name", lkd_host_name(d, h, name, sizeof(name)),
			 "incarnation", (json_int_t)inc);
}

json_t *lkd_view_handoff(struct lkd *d, uint64_t id)
{
	const struct lk_state *st = d->agent ? lk_agent_state(d->agent) : NULL;
	const struct ho_rec *r = st ? lk_state_handoff_by_id(st, id) : NULL;
	char name[VOL_NAME_MAX + 1];
	json_t *files, *o;

	if (!r)
		return json_pack("{s:I, s:s, s:b}", "id", (json_int_t)id, "state", "unknown",
				 "in_sync", st && lk_state_have(st) && !lk_state_syncing(st));
	files = json_array();
	for (uint32_t i = 0; i < r->nfiles; i++) {
		struct lk_lock_view v[LK_MAX_HOSTS];
		size_t n = lk_state_holders(st, r->files[i], v);
		json_t *holders = json_array();

		for (size_t k = 0; k < n; k++)
			json_array_append_new(holders, json_pack(
				"{s:I, s:s, s:s, s:o}", "host", (json_int_t)v[k].host,
				"name", lkd_host_name(d, v[k].host, name, sizeof(name)),
				"mode", lk_mode_name(v[k].mode), "gen", gen_json(v[k].gen)));
		json_array_append_new(files, json_pack("{s:s, s:o}", "path", r->files[i],
						       "holders", holders));
	}
	o = json_pack("{s:I, s:s, s:s, s:o, s:o, s:o}", "id", (json_int_t)id,
		      "state", ho_status_word(r->state), "detail", ho_state_name(r->state),
		      "source", party(d, r->src, r->src_inc),
		      "destination", party(d, r->dst, r->dst_inc), "files", files);
	return o;
}

json_t *lkd_host_info(struct lkd *d)
{
	return json_pack("{s:I, s:s, s:o, s:b}", "host", (json_int_t)d->host,
			 "hostname", d->hostname, "cpuid", vmfs_cpuid_to_json(&d->cpuid),
			 "vmfsd", lki_has_vmfsd(d->ipc));
}

json_t *lkd_view_hostinfo(struct lkd *d, lk_host_t h)
{
	json_t *o;

	if (h == d->host)
		return lkd_host_info(d);
	o = lkc_info_get(d->info, h);
	return o ? json_incref(o) : json_null();
}

// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cmd_dump.c - "vmfsadm dump": reads a lock volume straight from the storage, with no
 * daemon, and shows all of it: the superblock; every host area in use (heartbeat not
 * unused, a journal record or a lock table entry present, or a damaged sector) with its
 * heartbeat, journal records and lock table entries; the per-file view derived from
 * every host's table, highest generation marked; and every damaged sector with the
 * reason. A damaged sector does not stop the dump; it makes the exit status 1.
 *
 * Sections: the model (read and decode everything once); human output; JSON output;
 * the command.
 */
#define _GNU_SOURCE /* qsort_r */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "lockd/volume/vol_datastore.h"
#include "tools/vmfsadm/cmd.h"
#include "tools/vmfsadm/tab.h"

/* --- the model ---------------------------------------------------------------------- */

struct held {
	lk_host_t host;
	uint64_t sector;
	uint32_t slot; /* within the sector */
	struct vol_entry e;
	bool highest; /* of the generations held for this path */
};

struct jrec {
	uint64_t sector;
	uint32_t n; /* journal sector number within the area */
	struct vol_journal j;
};

struct bad {
	uint64_t sector;
	struct vol_loc loc;
	int code; /* VOL_E* */
	char raw[256];
};

struct area {
	lk_host_t host;
	uint64_t hb_sector;
	bool hb_valid;
	struct vol_heartbeat hb;
	size_t first_jrec, njrecs; /* ranges in struct dump's arrays */
	size_t first_held, nheld;
	size_t first_bad, nbad;
};

struct dump {
	struct vol_handle *h;
	struct area *areas; /* in use only */
	size_t nareas;
	struct jrec *jrecs;
	size_t njrecs;
	struct held *held;
	size_t nheld;
	struct bad *bad;
	size_t nbad;
	size_t *files; /* indexes into held, sorted by path, then generation downwards */
};

static void *grow(void *arr, size_t n, size_t size)
{
	/* Doubles at every power of two: amortised O(1) appends without a capacity field. */
	if (n == 0 || (n & (n - 1)) == 0)
		arr = xreallocarray(arr, n ? 2 * n : 1, size);
	return arr;
}

static void add_bad(struct dump *d, uint64_t idx, int code, const void *sector)
{
	struct bad *b;

	d->bad = grow(d->bad, d->nbad, sizeof(*d->bad));
	b = &d->bad[d->nbad++];
	b->sector = idx;
	b->code = code;
	vol_locate(&d->h->super.geom, idx, &b->loc);
	vol_describe_raw(sector, d->h->dev.sector_size, b->raw, sizeof(b->raw));
}

/* Decodes one host area from buf (1 + journal + table sectors) into the model. */
static void decode_area(struct dump *d, lk_host_t host, const uint8_t *buf)
{
	const struct vol_geom *g = &d->h->super.geom;
	struct area a = {
		.host = host,
		.hb_sector = vol_hb_index(g, host),
		.first_bad = d->nbad,
	};
	struct vol_journal j;
	struct vol_table t;
	int rc;

	rc = vol_decode_heartbeat(g, a.hb_sector, buf, &a.hb);
	a.hb_valid = rc == 0;
	if (rc)
		add_bad(d, a.hb_sector, rc, buf);
	a.first_jrec = d->njrecs;
	for (uint32_t n = 0; n < g->journal_sectors; n++) {
		uint64_t idx = vol_journal_index(g, host, n);
		const uint8_t *sector = buf + (idx - a.hb_sector) * g->sector_size;

		rc = vol_decode_journal(g, idx, sector, &j);
		if (rc) {
			add_bad(d, idx, rc, sector);
		} else if (j.type != VOL_J_NONE) {
			d->jrecs = grow(d->jrecs, d->njrecs, sizeof(*d->jrecs));
			d->jrecs[d->njrecs++] = (struct jrec){ .sector = idx, .n = n, .j = j };
		}
	}
	a.njrecs = d->njrecs - a.first_jrec;
	a.first_held = d->nheld;
	for (uint32_t n = 0; n < g->table_sectors; n++) {
		uint64_t idx = vol_table_index(g, host, n);
		const uint8_t *sector = buf + (idx - a.hb_sector) * g->sector_size;

		rc = vol_decode_table(g, idx, sector, &t);
		if (rc) {
			add_bad(d, idx, rc, sector);
			continue;
		}
		for (uint32_t s = 0; s < VOL_SLOTS_PER_SECTOR; s++) {
			if (t.e[s].state == VOL_E_FREE)
				continue;
			d->held = grow(d->held, d->nheld, sizeof(*d->held));
			d->held[d->nheld++] =
				(struct held){ .host = host, .sector = idx, .slot = s, .e = t.e[s] };
		}
	}
	a.nheld = d->nheld - a.first_held;
	a.nbad = d->nbad - a.first_bad;
	if ((a.hb_valid && a.hb.state != VOL_HB_UNUSED) || a.njrecs || a.nheld || a.nbad) {
		d->areas = grow(d->areas, d->nareas, sizeof(*d->areas));
		d->areas[d->nareas++] = a;
	}
}

static int cmp_file(const void *pa, const void *pb, void *arg)
{
	const struct held *held = arg;
	const struct held *a = &held[*(const size_t *)pa];
	const struct held *b = &held[*(const size_t *)pb];
	int c = strcmp(a->e.path, b->e.path);

	if (c)
		return c;
	c = lk_gen_cmp(b->e.gen, a->e.gen);
	if (c)
		return c;
	return a->host < b->host ? -1 : a->host > b->host;
}

/* The per-file view: held entries sorted by path, the highest generation of each marked. */
static void build_files(struct dump *d)
{
	d->files = xcalloc(d->nheld, sizeof(*d->files));
	for (size_t i = 0; i < d->nheld; i++)
		d->files[i] = i;
	qsort_r(d->files, d->nheld, sizeof(*d->files), cmp_file, d->held);
	for (size_t i = 0, first = 0; i < d->nheld; i++) {
		struct held *x = &d->held[d->files[i]];
		struct held *top = &d->held[d->files[first]];

		if (strcmp(x->e.path, top->e.path) != 0) {
			first = i;
			top = x;
		}
		x->highest = lk_gen_cmp(x->e.gen, top->e.gen) == 0;
	}
}

/* Reads every host area; 0, or -errno when the storage fails (message printed). */
static int load(const struct cmd_entry *self, struct dump *d)
{
	const struct vol_geom *g = &d->h->super.geom;
	uint32_t area = 1 + g->journal_sectors + g->table_sectors;
	uint8_t *buf = vol_alloc_sectors(g->sector_size, area);
	struct vol_dev *dev = &d->h->dev;
	int rc = 0;

	if (!buf) {
		cmd_error(self, "%s: out of memory", dev->path);
		return -ENOMEM;
	}
	for (lk_host_t host = 1; host <= g->max_hosts; host++) {
		rc = dev->ops->read(dev, vol_hb_index(g, host), area, buf);
		if (rc) {
			cmd_error(self, "%s: reading the area of host %" PRIu32 ": %s", dev->path,
				  host, strerror(-rc));
			break;
		}
		decode_area(d, host, buf);
	}
	free(buf);
	if (!rc)
		build_files(d);
	return rc;
}

static void dump_free(struct dump *d)
{
	free(d->areas);
	free(d->jrecs);
	free(d->held);
	free(d->bad);
	free(d->files);
}

/* --- human output ------------------------------------------------------------------- */

/* Wall-clock milliseconds as UTC, or "-" for 0. */
static const char *when(uint64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	size_t n;

	if (ms == 0 || !gmtime_r(&t, &tm))
		return "-";
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	if (n == 0)
		return "-";
	snprintf(buf + n, len - n, ".%03uZ", (unsigned int)(ms % 1000));
	return buf;
}

static const char *where(const struct vol_loc *loc, char *buf, size_t len)
{
	switch (loc->kind) {
	case VOL_K_SUPER:
		return "superblock";
	case VOL_K_HEARTBEAT:
		snprintf(buf, len, "host %" PRIu32 " heartbeat", loc->host);
		break;
	case VOL_K_JOURNAL:
		snprintf(buf, len, "host %" PRIu32 " journal %" PRIu32, loc->host, loc->n);
		break;
	case VOL_K_TABLE:
		snprintf(buf, len, "host %" PRIu32 " table %" PRIu32, loc->host, loc->n);
		break;
	}
	return buf;
}

static void print_super(const struct vol_handle *h)
{
	const struct vol_super *s = &h->super;
	const struct vol_geom *g = &s->geom;
	uint64_t total = vol_total_sectors(g);
	struct tab *t = tab_new(2, NULL);
	char uuid[VOL_UUID_STR_LEN], tbuf[32];

	vol_uuid_str(g->uuid, uuid);
	printf("lock volume %s\n", h->dev.path);
	tab_row(t);
	tab_cell(t, "uuid");
	tab_cell(t, "%s", uuid);
	tab_row(t);
	tab_cell(t, "cluster");
	tab_cell(t, "%s", s->cluster);
	tab_row(t);
	tab_cell(t, "format");
	tab_cell(t, "%u.%u", s->major, s->minor);
	tab_row(t);
	tab_cell(t, "epoch");
	tab_cell(t, "%" PRIu32, s->epoch);
	tab_row(t);
	tab_cell(t, "created");
	tab_cell(t, "%s", when(s->created_ms, tbuf, sizeof(tbuf)));
	tab_row(t);
	tab_cell(t, "max hosts");
	tab_cell(t, "%" PRIu32, g->max_hosts);
	tab_row(t);
	tab_cell(t, "host area");
	tab_cell(t,
		 "1 heartbeat, %" PRIu32 " journal, %" PRIu32 " table sectors (%" PRIu32
		 " locks)",
		 g->journal_sectors, g->table_sectors, g->table_sectors * VOL_SLOTS_PER_SECTOR);
	tab_row(t);
	tab_cell(t, "timing");
	tab_cell(t,
		 "hb_interval %" PRIu32 " ms, host_dead %" PRIu32 " ms, io_timeout %" PRIu32
		 " ms",
		 s->hb_interval_ms, s->host_dead_ms, s->io_timeout_ms);
	tab_row(t);
	tab_cell(t, "size");
	tab_cell(t, "%" PRIu64 " sectors of %" PRIu32 " bytes, %" PRIu64 " bytes", total,
		 g->sector_size, total * g->sector_size);
	tab_print(t, stdout, 2);
	tab_free(t);
}

static void print_heartbeat(const struct area *a)
{
	const struct vol_heartbeat *hb = &a->hb;
	struct tab *t = tab_new(2, NULL);
	char uuid[VOL_UUID_STR_LEN], tbuf[32];

	printf("  heartbeat (sector %" PRIu64 ")\n", a->hb_sector);
	if (!a->hb_valid) {
		printf("    damaged, see errors\n");
		tab_free(t);
		return;
	}
	vol_uuid_str(hb->host_uuid, uuid);
	tab_row(t);
	tab_cell(t, "state");
	if (hb->state == VOL_HB_FENCED)
		tab_cell(t, "fenced by host %" PRIu32, hb->fenced_by);
	else
		tab_cell(t, "%s", vol_hb_state_name(hb->state));
	tab_row(t);
	tab_cell(t, "hostname");
	tab_cell(t, "%s", hb->hostname[0] ? hb->hostname : "-");
	tab_row(t);
	tab_cell(t, "host uuid");
	tab_cell(t, "%s", uuid);
	tab_row(t);
	tab_cell(t, "host gen");
	tab_cell(t, "%" PRIu64, hb->host_gen);
	tab_row(t);
	tab_cell(t, "counter");
	tab_cell(t, "%" PRIu64, hb->counter);
	tab_row(t);
	tab_cell(t, "renewed");
	tab_cell(t, "%s", when(hb->wall_ms, tbuf, sizeof(tbuf)));
	tab_row(t);
	tab_cell(t, "ring");
	tab_cell(t, "seq %" PRIu64 ", %s", hb->ring_seq,
		 hb->ring_quorate ? "quorate" : "not quorate");
	tab_row(t);
	tab_cell(t, "timing");
	tab_cell(t,
		 "hb_interval %" PRIu32 " ms, host_dead %" PRIu32 " ms, io_timeout %" PRIu32
		 " ms",
		 hb->hb_interval_ms, hb->host_dead_ms, hb->io_timeout_ms);
	tab_print(t, stdout, 4);
	tab_free(t);
}

static void print_journal(const struct dump *d, const struct area *a)
{
	static const char *const head[] = { "SECTOR", "J", "TYPE", "HOST GEN", "WHEN",
					    "DETAILS" };
	struct tab *t;
	char tbuf[32];

	if (!a->njrecs)
		return;
	printf("  journal\n");
	t = tab_new(6, head);
	for (size_t i = a->first_jrec; i < a->first_jrec + a->njrecs; i++) {
		const struct jrec *r = &d->jrecs[i];

		tab_row(t);
		tab_cell(t, "%" PRIu64, r->sector);
		tab_cell(t, "%" PRIu32, r->n);
		tab_cell(t, "%s", vol_jrec_type_name(r->j.type));
		tab_cell(t, "%" PRIu64, r->j.host_gen);
		tab_cell(t, "%s", when(r->j.wall_ms, tbuf, sizeof(tbuf)));
		if (r->j.type == VOL_J_HANDOFF)
			tab_cell(t,
				 "handoff %016" PRIx64 " host %" PRIu32 " -> %" PRIu32
				 ", state %" PRIu32 ", %" PRIu32 " files",
				 r->j.handoff_id, r->j.src, r->j.dst, r->j.ho_state, r->j.nfiles);
		else
			tab_cell(t,
				 "recovered host %" PRIu32 " (host gen %" PRIu64 "), epoch %" PRIu32,
				 r->j.recovered, r->j.recovered_gen, r->j.epoch);
	}
	tab_print(t, stdout, 4);
	tab_free(t);
}

static void print_locks(const struct dump *d, const struct area *a)
{
	static const char *const head[] = { "SECTOR", "SLOT",	 "STATE", "MODE",
					    "GEN",    "SINCE", "HANDOFF", "PATH" };
	struct tab *t;
	char tbuf[32];

	if (!a->nheld)
		return;
	printf("  locks\n");
	t = tab_new(8, head);
	for (size_t i = a->first_held; i < a->first_held + a->nheld; i++) {
		const struct held *x = &d->held[i];

		tab_row(t);
		tab_cell(t, "%" PRIu64, x->sector);
		tab_cell(t, "%" PRIu32, x->slot);
		tab_cell(t, "%s", vol_entry_state_name(x->e.state));
		tab_cell(t, "%s", lk_mode_name(x->e.mode));
		tab_cell(t, "%" PRIu32 ":%" PRIu64, x->e.gen.epoch, x->e.gen.counter);
		tab_cell(t, "%s", when(x->e.since_ms, tbuf, sizeof(tbuf)));
		if (x->e.handoff_id)
			tab_cell(t, "%016" PRIx64, x->e.handoff_id);
		else
			tab_cell(t, "-");
		tab_cell(t, "%s", x->e.path);
	}
	tab_print(t, stdout, 4);
	tab_free(t);
}

static void print_files(const struct dump *d)
{
	static const char *const head[] = { "PATH", "HOST", "MODE", "STATE", "GEN" };
	struct tab *t;

	printf("\nfiles (from every host's lock table; * marks the highest generation)\n");
	if (!d->nheld) {
		printf("  no locks held\n");
		return;
	}
	t = tab_new(5, head);
	for (size_t i = 0; i < d->nheld; i++) {
		const struct held *x = &d->held[d->files[i]];
		bool first = i == 0 || strcmp(x->e.path, d->held[d->files[i - 1]].e.path) != 0;

		tab_row(t);
		tab_cell(t, "%s", first ? x->e.path : "");
		tab_cell(t, "%" PRIu32, x->host);
		tab_cell(t, "%s", lk_mode_name(x->e.mode));
		tab_cell(t, "%s", vol_entry_state_name(x->e.state));
		tab_cell(t, "%" PRIu32 ":%" PRIu64 "%s", x->e.gen.epoch, x->e.gen.counter,
			 x->highest ? " *" : "");
	}
	tab_print(t, stdout, 2);
	tab_free(t);
}

static void print_damaged(const struct dump *d, const struct area *a)
{
	char wbuf[64];

	for (size_t i = a->first_bad; i < a->first_bad + a->nbad; i++)
		printf("  damaged sector %" PRIu64 " (%s), see errors\n", d->bad[i].sector,
		       where(&d->bad[i].loc, wbuf, sizeof(wbuf)));
}

static void print_errors(const struct dump *d)
{
	char wbuf[64];

	printf("\nerrors\n");
	if (!d->nbad) {
		printf("  none\n");
		return;
	}
	for (size_t i = 0; i < d->nbad; i++) {
		const struct bad *b = &d->bad[i];

		printf("  sector %" PRIu64 " (%s): %s\n", b->sector,
		       where(&b->loc, wbuf, sizeof(wbuf)), vol_strerror(b->code));
		printf("    %s\n", b->raw);
	}
}

static void print_human(const struct dump *d)
{
	const struct vol_geom *g = &d->h->super.geom;

	print_super(d->h);
	for (size_t i = 0; i < d->nareas; i++) {
		const struct area *a = &d->areas[i];

		printf("\nhost %" PRIu32 "\n", a->host);
		print_heartbeat(a);
		print_journal(d, a);
		print_locks(d, a);
		print_damaged(d, a);
	}
	printf("\n%zu of %" PRIu32 " host areas in use\n", d->nareas, g->max_hosts);
	print_files(d);
	print_errors(d);
}

/* --- JSON output -------------------------------------------------------------------- */

static json_t *json_uuid(const uint8_t uuid[16])
{
	char s[VOL_UUID_STR_LEN];

	vol_uuid_str(uuid, s);
	return json_string(s);
}

static json_t *json_gen(struct lk_gen gen)
{
	return json_pack("{s:I, s:I}", "epoch", (json_int_t)gen.epoch, "counter",
			 (json_int_t)gen.counter);
}

static json_t *json_id(uint64_t id)
{
	char s[17];

	snprintf(s, sizeof(s), "%016" PRIx64, id);
	return id ? json_string(s) : json_null();
}

static json_t *json_super(const struct vol_handle *h)
{
	const struct vol_super *s = &h->super;
	const struct vol_geom *g = &s->geom;
	uint64_t total = vol_total_sectors(g);

	return json_pack("{s:s, s:o, s:s, s:i, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
			 "s:I, s:I, s:I, s:I}",
			 "path", h->dev.path, "uuid", json_uuid(g->uuid), "cluster", s->cluster,
			 "major", (int)s->major, "minor", (int)s->minor, "epoch",
			 (json_int_t)s->epoch, "created_ms", (json_int_t)s->created_ms,
			 "sector_size", (json_int_t)g->sector_size, "max_hosts",
			 (json_int_t)g->max_hosts, "journal_sectors",
			 (json_int_t)g->journal_sectors, "table_sectors",
			 (json_int_t)g->table_sectors, "locks_per_host",
			 (json_int_t)g->table_sectors * VOL_SLOTS_PER_SECTOR, "hb_interval_ms",
			 (json_int_t)s->hb_interval_ms, "host_dead_ms",
			 (json_int_t)s->host_dead_ms, "io_timeout_ms",
			 (json_int_t)s->io_timeout_ms, "total_sectors", (json_int_t)total,
			 "size_bytes", (json_int_t)(total * g->sector_size));
}

static json_t *json_heartbeat(const struct area *a)
{
	const struct vol_heartbeat *hb = &a->hb;

	if (!a->hb_valid)
		return json_null();
	return json_pack("{s:I, s:s, s:I, s:s, s:o, s:I, s:I, s:I, s:I, s:b, s:I, s:I, s:I}",
			 "sector", (json_int_t)a->hb_sector, "state",
			 vol_hb_state_name(hb->state), "fenced_by", (json_int_t)hb->fenced_by,
			 "hostname", hb->hostname, "host_uuid", json_uuid(hb->host_uuid),
			 "host_gen", (json_int_t)hb->host_gen, "counter",
			 (json_int_t)hb->counter, "wall_ms", (json_int_t)hb->wall_ms, "ring_seq",
			 (json_int_t)hb->ring_seq, "ring_quorate", hb->ring_quorate,
			 "hb_interval_ms",
			 (json_int_t)hb->hb_interval_ms, "host_dead_ms",
			 (json_int_t)hb->host_dead_ms, "io_timeout_ms",
			 (json_int_t)hb->io_timeout_ms);
}

static json_t *json_jrec(const struct jrec *r)
{
	const struct vol_journal *j = &r->j;
	json_t *o = json_pack("{s:I, s:I, s:s, s:I, s:I}", "sector", (json_int_t)r->sector,
			      "number", (json_int_t)r->n, "type", vol_jrec_type_name(j->type),
			      "host_gen", (json_int_t)j->host_gen, "wall_ms",
			      (json_int_t)j->wall_ms);

	if (j->type == VOL_J_HANDOFF)
		json_object_update_new(o, json_pack("{s:o, s:I, s:I, s:I, s:I}", "handoff_id",
						json_id(j->handoff_id), "src", (json_int_t)j->src,
						"dst", (json_int_t)j->dst, "ho_state",
						(json_int_t)j->ho_state, "nfiles",
						(json_int_t)j->nfiles));
	else
		json_object_update_new(o, json_pack("{s:I, s:I, s:I}", "recovered",
						(json_int_t)j->recovered, "recovered_gen",
						(json_int_t)j->recovered_gen, "epoch",
						(json_int_t)j->epoch));
	return o;
}

static json_t *json_entry(const struct held *x)
{
	return json_pack("{s:I, s:I, s:I, s:s, s:s, s:o, s:I, s:o, s:s}", "host",
			 (json_int_t)x->host, "sector", (json_int_t)x->sector, "slot",
			 (json_int_t)x->slot, "state", vol_entry_state_name(x->e.state), "mode",
			 lk_mode_name(x->e.mode), "generation", json_gen(x->e.gen), "since_ms",
			 (json_int_t)x->e.since_ms, "handoff_id", json_id(x->e.handoff_id),
			 "path", x->e.path);
}

static json_t *json_areas(const struct dump *d)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < d->nareas; i++) {
		const struct area *a = &d->areas[i];
		json_t *jr = json_array(), *locks = json_array();

		for (size_t k = a->first_jrec; k < a->first_jrec + a->njrecs; k++)
			json_array_append_new(jr, json_jrec(&d->jrecs[k]));
		for (size_t k = a->first_held; k < a->first_held + a->nheld; k++)
			json_array_append_new(locks, json_entry(&d->held[k]));
		json_array_append_new(arr, json_pack("{s:I, s:o, s:o, s:o}", "host",
						     (json_int_t)a->host, "heartbeat",
						     json_heartbeat(a), "journal", jr, "locks",
						     locks));
	}
	return arr;
}

static json_t *json_files(const struct dump *d)
{
	json_t *arr = json_array(), *holders = NULL;

	for (size_t i = 0; i < d->nheld; i++) {
		const struct held *x = &d->held[d->files[i]];
		json_t *o = json_entry(x);

		if (i == 0 || strcmp(x->e.path, d->held[d->files[i - 1]].e.path) != 0) {
			holders = json_array();
			json_array_append_new(arr, json_pack("{s:s, s:o}", "path", x->e.path,
							     "holders", holders));
		}
		json_object_del(o, "path");
		json_object_set_new(o, "highest", json_boolean(x->highest));
		json_array_append_new(holders, o);
	}
	return arr;
}

static json_t *json_errors(const struct dump *d)
{
	static const char *const kinds[] = {
		[VOL_K_SUPER] = "superblock",
		[VOL_K_HEARTBEAT] = "heartbeat",
		[VOL_K_JOURNAL] = "journal",
		[VOL_K_TABLE] = "table",
	};
	json_t *arr = json_array();

	for (size_t i = 0; i < d->nbad; i++) {
		const struct bad *b = &d->bad[i];

		json_array_append_new(arr, json_pack("{s:I, s:I, s:s, s:I, s:s, s:s, s:s}",
						     "sector", (json_int_t)b->sector, "host",
						     (json_int_t)b->loc.host, "kind",
						     kinds[b->loc.kind], "number",
						     (json_int_t)b->loc.n, "code",
						     vol_err_name(b->code), "reason",
						     vol_strerror(b->code), "raw", b->raw));
	}
	return arr;
}

static int print_json(const struct cmd_entry *self, const struct dump *d)
{
	json_t *root = json_pack("{s:o, s:o, s:I, s:o, s:o}", "superblock", json_super(d->h),
				 "hosts", json_areas(d), "hosts_in_use", (json_int_t)d->nareas,
				 "files", json_files(d), "errors", json_errors(d));
	int rc = 0;

	if (!root || json_dumpf(root, stdout, JSON_INDENT(2)) < 0 || putchar('\n') == EOF) {
		cmd_error(self, "writing JSON failed");
		rc = -EIO;
	}
	json_decref(root);
	return rc;
}

/* --- the command -------------------------------------------------------------------- */

static const struct option dump_longopts[] = {
	{ "json", no_argument, NULL, 'j' },
	{ 0 },
};

static int dump_exec(const struct cmd_entry *self, const struct cmd_args *a)
{
	struct vol_handle h;
	struct dump d = { .h = &h };
	char err[VOL_ERR_MAX];
	int rc;

	if (vol_open(a->argv[0], false, &h, err, sizeof(err))) {
		cmd_error(self, "%s", err);
		return CMD_EXIT_FAIL;
	}
	rc = load(self, &d);
	if (rc)
		goto out;
	if (a->opt['j'])
		rc = print_json(self, &d);
	else
		print_human(&d);
	if (fflush(stdout) == EOF && !rc) {
		cmd_error(self, "writing output: %s", strerror(errno));
		rc = -EIO;
	}
	if (!rc && d.nbad)
		cmd_error(self, "%s: %zu damaged sector%s", h.dev.path, d.nbad,
			  d.nbad == 1 ? "" : "s");
out:
	dump_free(&d);
	vol_close(&h);
	return rc || d.nbad ? CMD_EXIT_FAIL : CMD_EXIT_OK;
}

const struct cmd_entry cmd_dump_entry = {
	.name = "dump",
	.summary = "show everything the lock volume holds, read directly from the storage",
	.usage = "[--json] DATASTORE",
	.help = "  -j, --json                  one JSON object instead of text\n",
	.notes = "DATASTORE is a directory (the volume is DATASTORE/" VOL_LOCKVOL_NAME
		 "),\na regular file or a block device. Exit status 1 when a sector is damaged;\n"
		 "everything else is still shown.\n",
	.optstring = "j",
	.longopts = dump_longopts,
	.min_args = 1,
	.max_args = 1,
	.exec = dump_exec,
};

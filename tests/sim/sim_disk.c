/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sim_disk.c - the simulated shared disk. It holds real sectors, encoded and decoded by
 * the lock volume's own code (lockd/volume), so a torn write shows up as the CRC error
 * it would be. Every operation takes a latency below io_timeout; a host whose disk path
 * is down gets -EIO; a crashed host's writes in flight are lost, land, or land torn.
 * Every landing is reported to the checker with its writer (invariant 6).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tests/sim/sim.h"

static uint8_t *sector(struct sim_disk *d, uint64_t idx)
{
	return d->bytes + idx * d->g.sector_size;
}

static void shadow_table(struct sim_disk *d, uint64_t idx)
{
	lk_host_t h = vol_sector_owner(&d->g, idx);
	uint32_t t;
	size_t k;

	if (!h || idx < vol_table_index(&d->g, h, 0))
		return;
	t = (uint32_t)(idx - vol_table_index(&d->g, h, 0));
	k = (h - 1) * d->g.table_sectors + t;
	d->table_ok[k] = vol_decode_table(&d->g, idx, sector(d, idx), &d->tables[k]) == 0;
}

int sim_disk_init(struct sim_world *w)
{
	struct sim_disk *d = &w->disk;
	struct vol_super s = { 0 };
	uint64_t u = sim_rand(&w->rng);

	d->g.sector_size = VOL_SECTOR_SIZE;
	d->g.max_hosts = (uint32_t)w->cfg.hosts;
	d->g.journal_sectors = VOL_JOURNAL_SECTORS;
	d->g.table_sectors = SIM_TABLE_SECTORS;
	memcpy(d->g.uuid, &u, sizeof(u));
	memcpy(d->g.uuid + 8, &w->cfg.seed, sizeof(w->cfg.seed));
	d->nsectors = vol_total_sectors(&d->g);
	d->bytes = calloc(d->nsectors, d->g.sector_size);
	d->tables = calloc((size_t)w->cfg.hosts * SIM_TABLE_SECTORS, sizeof(*d->tables));
	d->table_ok = calloc((size_t)w->cfg.hosts * SIM_TABLE_SECTORS, sizeof(*d->table_ok));
	d->last_writer = calloc(d->nsectors, sizeof(*d->last_writer));
	d->foreign_at = calloc((size_t)w->cfg.hosts + 1, sizeof(*d->foreign_at));
	if (!d->bytes || !d->tables || !d->table_ok || !d->last_writer || !d->foreign_at)
		return -1;
	s.geom = d->g;
	s.major = VOL_MAJOR;
	s.minor = VOL_MINOR;
	strcpy(s.cluster, "sim");
	s.hb_interval_ms = LK_HB_INTERVAL_MS;
	s.host_dead_ms = LK_HOST_DEAD_MS;
	s.io_timeout_ms = LK_IO_TIMEOUT_MS;
	s.epoch = 1;
	d->super_epoch = 1;
	vol_encode_super(&s, sector(d, 0));
	for (lk_host_t h = 1; h <= d->g.max_hosts; h++) {
		struct vol_heartbeat hb = { .host = h };
		struct vol_journal j = { .host = h };
		struct vol_table t = { .host = h };

		vol_encode_heartbeat(&d->g, &hb, sector(d, vol_hb_index(&d->g, h)));
		for (uint32_t k = 0; k < d->g.journal_sectors; k++)
			vol_encode_journal(&d->g, vol_journal_index(&d->g, h, k), &j,
					   sector(d, vol_journal_index(&d->g, h, k)));
		for (uint32_t k = 0; k < d->g.table_sectors; k++) {
			vol_encode_table(&d->g, vol_table_index(&d->g, h, k), &t,
					 sector(d, vol_table_index(&d->g, h, k)));
			shadow_table(d, vol_table_index(&d->g, h, k));
		}
	}
	return 0;
}

void sim_disk_free(struct sim_disk *d)
{
	free(d->bytes);
	free(d->tables);
	free(d->table_ok);
	free(d->last_writer);
	free(d->foreign_at);
}

void sim_disk_io_free(struct sim_io *io)
{
	if (!io)
		return;
	for (int i = 0; i < io->nwrites; i++)
		free(io->w[i].buf);
	lk_act_free(io->act);
	free(io);
}

static void add_write(struct sim_world *w, struct sim_io *io, uint64_t idx)
{
	struct sim_write *x = &io->w[io->nwrites++];

	x->idx = idx;
	x->buf = malloc(w->disk.g.sector_size);
	if (!x->buf)
		abort();
}

/* Latency of one operation: mostly fast, sometimes slow, always below io_timeout. */
static int64_t latency(struct sim_world *w)
{
	if (sim_chance(&w->rng, 2))
		return sim_range(&w->rng, 100000, (int64_t)LK_IO_TIMEOUT_MS * 900);
	return sim_range(&w->rng, 100, 3000);
}

void sim_disk_submit(struct sim_world *w, int host, struct lk_act *x)
{
	struct sim_disk *d = &w->disk;
	struct sim_io *io = calloc(1, sizeof(*io));
	lk_host_t me = (lk_host_t)host;

	if (!io)
		abort();
	io->host = host;
	io->inc = w->h[host].inc;
	io->act = x;
	io->issued = w->now;
	switch (x->type) {
	case LK_ACT_WRITE_HB:
		add_write(w, io, vol_hb_index(&d->g, me));
		vol_encode_heartbeat(&d->g, &x->hb, io->w[0].buf);
		break;
	case LK_ACT_WRITE_TABLE:
		add_write(w, io, vol_table_index(&d->g, me, x->sector));
		vol_encode_table(&d->g, io->w[0].idx, &x->table, io->w[0].buf);
		break;
	case LK_ACT_WRITE_JOURNAL:
		add_write(w, io, vol_journal_index(&d->g, me, x->sector));
		vol_encode_journal(&d->g, io->w[0].idx, &x->journal, io->w[0].buf);
		break;
	case LK_ACT_FENCE: {
		struct vol_table empty = { .host = x->host, .host_gen = x->hb.host_gen };

		add_write(w, io, vol_hb_index(&d->g, x->host));
		vol_encode_heartbeat(&d->g, &x->hb, io->w[0].buf);
		for (uint32_t t = 0; t < d->g.table_sectors; t++) {
			add_write(w, io, vol_table_index(&d->g, x->host, t));
			vol_encode_table(&d->g, io->w[1 + t].idx, &empty, io->w[1 + t].buf);
		}
		break;
	}
	default:
		break;
	}
	if (w->now < w->h[host].disk_bad_until)
		io->rc = -EIO;
	if (w->cfg.trace && x->type == LK_ACT_WRITE_TABLE) {
		char list[VOL_SLOTS_PER_SECTOR * 64] = "";

		for (uint32_t e = 0; e < VOL_SLOTS_PER_SECTOR; e++)
			if (x->table.e[e].state != VOL_E_FREE)
				snprintf(list + strlen(list), sizeof(list) - strlen(list), " %.40s(%u:%llu)",
					 x->table.e[e].path, x->table.e[e].gen.epoch,
					 (unsigned long long)x->table.e[e].gen.counter);
		sim_trace(w, "host %d writes table sector %u:%s%s", host, x->sector, list,
			  io->rc ? " (will fail)" : "");
	} else if (w->cfg.trace && x->type != LK_ACT_WRITE_HB) {
		sim_trace(w, "host %d disk op %d on host %u%s", host, (int)x->type, x->host,
			  io->rc ? " (will fail)" : "");
	}
	sim_schedule(w, w->now + latency(w), EV_IO, 0, io, 0);
}

static void land(struct sim_world *w, struct sim_io *io)
{
	struct sim_disk *d = &w->disk;

	for (int i = 0; i < io->nwrites; i++) {
		uint8_t *dst = sector(d, io->w[i].idx);
		size_t n = io->torn ? d->g.sector_size / 2 : d->g.sector_size;

		memcpy(dst, io->w[i].buf, n);
		sim_check_landing(w, io->host, io->inc, io->w[i].idx,
				  io->act->type == LK_ACT_FENCE ? io->act->hb.host_gen : 0);
		shadow_table(d, io->w[i].idx);
	}
}

/* A new epoch: the superblock's plus one, and every host's heartbeat and table as read. */
static void coldstart(struct sim_world *w, struct sim_io *io, struct sim_host *h)
{
	struct sim_disk *d = &w->disk;
	struct lk_disk_host hosts[SIM_MAX_HOSTS];
	struct lk_disk_lock *locks = calloc((size_t)d->g.max_hosts * SIM_TABLE_SECTORS *
					    VOL_SLOTS_PER_SECTOR, sizeof(*locks));
	struct vol_super s;
	uint32_t nh = 0, nl = 0;
	int rc = io->rc;

	if (!locks)
		abort();
	if (!rc && vol_decode_super(sector(d, 0), d->g.sector_size, d->g.uuid, &s) < 0)
		rc = -EBADMSG;
	for (lk_host_t x = 1; !rc && x <= d->g.max_hosts; x++) {
		struct vol_heartbeat hb;
		struct lk_disk_host *dh = &hosts[nh];
		bool hb_ok = vol_decode_heartbeat(&d->g, vol_hb_index(&d->g, x),
						  sector(d, vol_hb_index(&d->g, x)), &hb) == 0;

		if (hb_ok && hb.state == VOL_HB_UNUSED)
			continue;
		*dh = (struct lk_disk_host){ .host = x, .inc = hb_ok ? hb.host_gen : LK_INC_UNKNOWN,
					     .live = !hb_ok || hb.state == VOL_HB_LIVE,
					     .complete = hb_ok, .ring_seq = hb_ok ? hb.ring_seq : 0,
					     .ring_quorate = hb_ok && hb.ring_quorate,
					     .locks = &locks[nl] };
		for (uint32_t t = 0; t < d->g.table_sectors; t++) {
			size_t k = (x - 1) * d->g.table_sectors + t;

			if (!d->table_ok[k]) {
				dh->complete = false;
				continue;
			}
			if (!hb_ok)
				dh->inc = d->tables[k].host_gen;
			for (uint32_t e = 0; e < VOL_SLOTS_PER_SECTOR; e++) {
				const struct vol_entry *v = &d->tables[k].e[e];

				if (v->state != VOL_E_HELD && v->state != VOL_E_HANDOFF_OUT)
					continue;
				locks[nl++] = (struct lk_disk_lock){ .path = v->path, .mode = v->mode,
								     .state = LK_DISK_HELD,
								     .gen = v->gen,
								     .handoff_id = v->handoff_id,
								     .since_ms = v->since_ms };
				dh->nlocks++;
			}
		}
		nh++;
	}
	if (!rc) {
		s.epoch = d->super_epoch + 1;
		if (s.epoch <= d->super_epoch)
			sim_violation(w, "superblock epoch went backwards");
		d->super_epoch = s.epoch;
		vol_encode_super(&s, sector(d, 0));
	}
	lk_agent_new_epoch_done(h->agent, io->act->io, rc, rc ? 0 : s.epoch, hosts, nh,
				sim_local_ms(h, w->now), sim_wall_ms(w));
	free(locks);
}

static void read_table(struct sim_world *w, struct sim_io *io, struct sim_host *h)
{
	struct sim_disk *d = &w->disk;
	struct lk_disk_lock locks[SIM_TABLE_SECTORS * VOL_SLOTS_PER_SECTOR];
	struct vol_table t[SIM_TABLE_SECTORS];
	uint32_t n = 0;
	bool complete = true;
	lk_host_t x = io->act->host;

	for (uint32_t s = 0; s < d->g.table_sectors; s++) {
		uint64_t idx = vol_table_index(&d->g, x, s);

		if (vol_decode_table(&d->g, idx, sector(d, idx), &t[s]) < 0) {
			complete = false;
			continue;
		}
		for (uint32_t e = 0; e < VOL_SLOTS_PER_SECTOR; e++) {
			const struct vol_entry *v = &t[s].e[e];
			enum lk_disk_state ds = v->state == VOL_E_HANDOFF_OUT ? LK_DISK_HANDOFF_OUT :
						v->state == VOL_E_HANDOFF_IN ? LK_DISK_HANDOFF_IN :
						LK_DISK_HELD;

			if (v->state == VOL_E_FREE || v->state == VOL_E_INTENT)
				continue;
			locks[n++] = (struct lk_disk_lock){ .path = v->path, .mode = v->mode,
							    .state = ds, .gen = v->gen,
							    .handoff_id = v->handoff_id,
							    .since_ms = v->since_ms };
		}
	}
	lk_agent_read_table_done(h->agent, io->act->io, io->rc, locks, n, complete,
				 sim_local_ms(h, w->now), sim_wall_ms(w));
}

/* The operation completes on the disk: writes land (or not), reads take their data. */
void sim_disk_complete(struct sim_world *w, struct sim_io *io)
{
	if (!io->lost && io->rc == 0)
		land(w, io);
	if (io->lost || io->torn) {
		sim_disk_io_free(io); /* its host crashed: nobody is told */
		return;
	}
	sim_schedule(w, w->now, EV_IOCB, io->host, io, 0);
}

/* The host learns the outcome (deferred while it is paused). */
void sim_disk_callback(struct sim_world *w, struct sim_io *io)
{
	struct sim_host *h = &w->h[io->host];
	struct sim_disk *d = &w->disk;
	struct lk_act *x = io->act;
	int64_t now = sim_local_ms(h, w->now);

	if (h->st == HS_DOWN || h->inc != io->inc) {
		sim_disk_io_free(io);
		return;
	}
	switch (x->type) {
	case LK_ACT_READ_HB: {
		struct vol_heartbeat hb;
		uint64_t idx = vol_hb_index(&d->g, x->host);
		int rc = io->rc;

		if (!rc && vol_decode_heartbeat(&d->g, idx, sector(d, idx), &hb) < 0)
			rc = -EBADMSG;
		lk_agent_read_hb_done(h->agent, x->io, rc, rc ? NULL : &hb, now, sim_wall_ms(w));
		break;
	}
	case LK_ACT_READ_TABLE:
		read_table(w, io, h);
		break;
	case LK_ACT_NEW_EPOCH:
		coldstart(w, io, h);
		break;
	default:
		lk_agent_io_done(h->agent, x->io, io->rc, now, sim_wall_ms(w));
		break;
	}
	sim_disk_io_free(io);
}

/* The host crashed: each of its writes in flight is lost, lands, or lands torn. */
void sim_disk_crash(struct sim_world *w, int host)
{
	for (size_t i = 0; i < w->nheap; i++) {
		struct sim_io *io = w->heap[i].p;

		if (w->heap[i].type != EV_IO || io->host != host || !io->nwrites)
			continue;
		switch (sim_rand(&w->rng) % 3) {
		case 0: io->lost = true; break;
		case 1: io->torn = true; break;
		default: break;
		}
	}
}

int sim_disk_heartbeat(struct sim_world *w, lk_host_t host, struct vol_heartbeat *out)
{
	struct sim_disk *d = &w->disk;
	uint64_t idx = vol_hb_index(&d->g, host);

	return vol_decode_heartbeat(&d->g, idx, sector(d, idx), out);
}

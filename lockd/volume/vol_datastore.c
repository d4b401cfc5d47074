// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vol_datastore.c - finding, formatting and opening a datastore's lock volume. This is
 * the edge where lock volume errors become sentences for admins; the byte format is
 * vol_ondisk.c's and the sector I/O vol_io_direct.c's.
 *
 * Sections: messages; finding the volume; reading the superblock; format; open.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lockd/volume/vol_datastore.h"
#include "lockd/volume/vol_ondisk.h"

#define FORMAT_BATCH 256u /* sectors per write while formatting: 1 MiB */

/* --- messages ----------------------------------------------------------------------- */

__attribute__((format(printf, 4, 5))) static int fail(char *err, size_t errlen, int rc,
						       const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return rc;
}

static int open_failed(const char *path, int rc, char *err, size_t errlen)
{
	if (rc == -EINVAL)
		return fail(err, errlen, rc,
			    "%s: cannot be opened for direct I/O (O_DIRECT): the file system "
			    "does not support it",
			    path);
	if (rc == -EMEDIUMTYPE)
		return fail(err, errlen, rc,
			    "%s: the device's logical block size does not divide the lock "
			    "volume's %u-byte sectors",
			    path, VOL_SECTOR_SIZE);
	return fail(err, errlen, rc, "%s: %s", path, strerror(-rc));
}

/* --- finding the volume ------------------------------------------------------------- */

/*
 * The lock volume of a datastore: path receives DATASTORE/.vmfs/lockvol for a directory,
 * DATASTORE itself for a regular file or block device.
 */
static int resolve(const char *datastore, char *path, size_t len, bool *is_dir, char *err,
		   size_t errlen)
{
	struct stat st;
	size_t n;

	if (stat(datastore, &st) < 0)
		return fail(err, errlen, -errno, "%s: %s", datastore, strerror(errno));
	*is_dir = S_ISDIR(st.st_mode);
	if (!*is_dir && !S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return fail(err, errlen, -EINVAL,
			    "%s: not a directory, regular file or block device", datastore);
	n = strlen(datastore);
	while (*is_dir && n > 1 && datastore[n - 1] == '/')
		n--;
	if ((size_t)snprintf(path, len, *is_dir ? "%.*s/" VOL_LOCKVOL_NAME : "%.*s", (int)n,
			     datastore) >= len)
		return fail(err, errlen, -ENAMETOOLONG, "%s: path too long", datastore);
	return 0;
}

/* --- reading the superblock --------------------------------------------------------- */

/*
 * Reads sector 0 into sector (one aligned sector) and decodes it into *s. Returns 0 or
 * the -errno of the read; *dec gets the decode result, VOL_EMAGIC for a file shorter
 * than one sector.
 */
static int read_super(struct vol_dev *dev, void *sector, struct vol_super *s, int *dec)
{
	int rc;

	if (dev->nsectors == 0) {
		*dec = VOL_EMAGIC;
		return 0;
	}
	rc = dev->ops->read(dev, 0, 1, sector);
	if (rc)
		return rc;
	*dec = vol_decode_super(sector, dev->sector_size, NULL, s);
	return 0;
}

/* The message for a superblock that did not decode; names the version when it is the cause. */
static int super_failed(const char *path, int dec, const void *sector, char *err, size_t errlen)
{
	uint16_t major, minor;

	switch (dec) {
	case VOL_EZERO:
	case VOL_EMAGIC:
		return fail(err, errlen, -ENOMEDIUM,
			    "%s: not a vmfs lock volume (no vmfs superblock in sector 0)", path);
	case VOL_EMAJOR:
		vol_od_version(sector, VOL_SECTOR_SIZE, &major, &minor);
		return fail(err, errlen, -ENOTSUP,
			    "%s: lock volume format %u.%u is %s this program's %u.%u; "
			    "it cannot be used",
			    path, major, minor, major > VOL_MAJOR ? "newer than" : "unknown to",
			    VOL_MAJOR, VOL_MINOR);
	}
	return fail(err, errlen, -EUCLEAN, "%s: damaged superblock: %s", path, vol_strerror(dec));
}

/* --- format ------------------------------------------------------------------------- */

static bool cluster_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > VOL_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isgraph((unsigned char)s[i]))
			return false;
	return true;
}

/* The superblock opts ask for, options checked, defaults and UUID filled in. */
static int make_super(const struct vol_format_opts *o, struct vol_super *s, char *err,
		      size_t errlen)
{
	static const uint8_t zero_uuid[16];
	const char *cluster = o->cluster ? o->cluster : VOL_DEFAULT_CLUSTER;
	uint32_t hosts = o->max_hosts ? o->max_hosts : VOL_DEFAULT_MAX_HOSTS;
	uint32_t locks = o->locks_per_host ? o->locks_per_host : VOL_DEFAULT_LOCKS_PER_HOST;
	struct timespec ts;

	if (!cluster_name_ok(cluster))
		return fail(err, errlen, -EINVAL,
			    "cluster name '%s': must be 1 to %u printable characters, no spaces",
			    cluster, VOL_NAME_MAX);
	if (hosts > LK_MAX_HOSTS)
		return fail(err, errlen, -EINVAL, "max hosts %" PRIu32 ": must be 1 to %u",
			    hosts, LK_MAX_HOSTS);
	if (locks > VOL_MAX_LOCKS_PER_HOST)
		return fail(err, errlen, -EINVAL, "locks per host %" PRIu32 ": must be 1 to %u",
			    locks, VOL_MAX_LOCKS_PER_HOST);
	memset(s, 0, sizeof(*s));
	s->geom.sector_size = VOL_SECTOR_SIZE;
	s->geom.max_hosts = hosts;
	s->geom.journal_sectors = VOL_JOURNAL_SECTORS;
	s->geom.table_sectors = (locks + VOL_SLOTS_PER_SECTOR - 1) / VOL_SLOTS_PER_SECTOR;
	s->major = VOL_MAJOR;
	s->minor = VOL_MINOR;
	strcpy(s->cluster, cluster);
	s->hb_interval_ms = VOL_DEFAULT_HB_INTERVAL_MS;
	s->host_dead_ms = VOL_DEFAULT_HOST_DEAD_MS;
	s->io_timeout_ms = VOL_DEFAULT_IO_TIMEOUT_MS;
	s->epoch = 1;
	s->created_ms = o->created_ms;
	if (!s->created_ms) {
		clock_gettime(CLOCK_REALTIME, &ts);
		s->created_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	}
	memcpy(s->geom.uuid, o->uuid, sizeof(s->geom.uuid));
	if (memcmp(o->uuid, zero_uuid, sizeof(zero_uuid)) == 0) {
		if (getrandom(s->geom.uuid, sizeof(s->geom.uuid), 0) != sizeof(s->geom.uuid))
			return fail(err, errlen, -errno, "generating a uuid: %s", strerror(errno));
		s->geom.uuid[6] = (uint8_t)((s->geom.uuid[6] & 0x0f) | 0x40);
		s->geom.uuid[8] = (uint8_t)((s->geom.uuid[8] & 0x3f) | 0x80);
	}
	return 0;
}

/* Why format will not overwrite what sector 0 holds (decode result dec): -EEXIST. */
static int refuse(const char *path, int dec, const struct vol_super *old, const void *sector,
		  char *err, size_t errlen)
{
	char uuid[VOL_UUID_STR_LEN];
	uint16_t major, minor;

	switch (dec) {
	case 0:
		vol_uuid_str(old->geom.uuid, uuid);
		return fail(err, errlen, -EEXIST,
			    "%s: already holds the lock volume of cluster '%s' (uuid %s); "
			    "--force overwrites it",
			    path, old->cluster, uuid);
	case VOL_EMAJOR:
		vol_od_version(sector, VOL_SECTOR_SIZE, &major, &minor);
		return fail(err, errlen, -EEXIST,
			    "%s: already holds a lock volume of format %u.%u; --force "
			    "overwrites it",
			    path, major, minor);
	case VOL_EMAGIC:
		return fail(err, errlen, -EEXIST,
			    "%s: sector 0 holds data that is not a vmfs lock volume; "
			    "--force overwrites it",
			    path);
	}
	return fail(err, errlen, -EEXIST,
		    "%s: holds a damaged vmfs superblock (%s); --force overwrites it", path,
		    vol_strerror(dec));
}

/*
 * Refuses, unless force, to overwrite a lock volume or other data in sector 0 of path;
 * refuses, force or not, a block device too small for the volume. A missing path is
 * fine: format creates it.
 */
static int check_target(const char *path, const struct vol_super *s, bool force, char *err,
			size_t errlen)
{
	struct vol_dev dev;
	struct vol_super old;
	uint64_t need = vol_total_sectors(&s->geom);
	void *sector = NULL;
	struct stat st;
	int rc, dec;

	if (stat(path, &st) < 0)
		return errno == ENOENT ? 0
				       : fail(err, errlen, -errno, "%s: %s", path, strerror(errno));
	if (S_ISREG(st.st_mode) && st.st_size == 0)
		return 0;
	rc = vol_direct_open(path, false, VOL_SECTOR_SIZE, &dev);
	if (rc)
		return open_failed(path, rc, err, errlen);
	sector = vol_alloc_sectors(VOL_SECTOR_SIZE, 1);
	if (!sector) {
		rc = fail(err, errlen, -ENOMEM, "%s: out of memory", path);
		goto out;
	}
	rc = read_super(&dev, sector, &old, &dec);
	if (rc) {
		rc = fail(err, errlen, rc, "%s: reading sector 0: %s", path, strerror(-rc));
		goto out;
	}
	if (!force && dec != VOL_EZERO) {
		rc = refuse(path, dec, &old, sector, err, errlen);
		goto out;
	}
	if (S_ISBLK(st.st_mode) && dev.nsectors < need)
		rc = fail(err, errlen, -ENOSPC,
			  "%s: device holds %" PRIu64 " sectors of %u bytes, the lock volume "
			  "needs %" PRIu64,
			  path, dev.nsectors, VOL_SECTOR_SIZE, need);
out:
	free(sector);
	dev.ops->close(&dev);
	return rc;
}

/* What format created in a directory datastore, so that a failed format takes it back. */
struct made {
	char dir[4096]; /* DATASTORE/.vmfs */
	bool made_dir, made_file;
};

static void unmake(const char *path, const struct made *m)
{
	if (m->made_file)
		unlink(path);
	if (m->made_dir)
		rmdir(m->dir);
}

/* Creates DATASTORE/.vmfs/lockvol at exactly bytes long, its blocks allocated. */
static int create_lockvol(const char *path, uint64_t bytes, struct made *m, char *err,
			  size_t errlen)
{
	int fd, rc;

	snprintf(m->dir, sizeof(m->dir), "%s", path);
	*strrchr(m->dir, '/') = '\0';
	if (mkdir(m->dir, 0755) == 0)
		m->made_dir = true;
	else if (errno != EEXIST)
		return fail(err, errlen, -errno, "%s: %s", m->dir, strerror(errno));
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd >= 0)
		m->made_file = true;
	else if (errno == EEXIST)
		fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(err, errlen, -errno, "%s: %s", path, strerror(errno));
	rc = ftruncate(fd, (off_t)bytes) < 0 ? errno : posix_fallocate(fd, 0, (off_t)bytes);
	close(fd);
	if (rc)
		return fail(err, errlen, -rc, "%s: allocating %" PRIu64 " bytes: %s", path, bytes,
			    strerror(rc));
	return 0;
}

/* Grows a regular file given as the datastore to at least bytes, its blocks allocated. */
static int grow_file(const char *path, uint64_t bytes, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return fail(err, errlen, -errno, "%s: %s", path, strerror(errno));
	rc = posix_fallocate(fd, 0, (off_t)bytes);
	close(fd);
	if (rc)
		return fail(err, errlen, -rc, "%s: allocating %" PRIu64 " bytes: %s", path, bytes,
			    strerror(rc));
	return 0;
}

/* Encodes the empty content of sector idx (a host area sector) into buf. */
static void encode_empty(const struct vol_geom *g, uint64_t idx, void *buf)
{
	struct vol_loc loc;

	vol_locate(g, idx, &loc);
	if (loc.kind == VOL_K_HEARTBEAT)
		vol_encode_heartbeat(g, &(struct vol_heartbeat){ .host = loc.host }, buf);
	else if (loc.kind == VOL_K_JOURNAL)
		vol_encode_journal(g, idx, &(struct vol_journal){ .host = loc.host }, buf);
	else
		vol_encode_table(g, idx, &(struct vol_table){ .host = loc.host }, buf);
}

/*
 * Zeroes sector 0 first, so that an old superblock does not vouch for a half-written
 * volume, then writes every host area, then the superblock.
 */
static int write_volume(struct vol_dev *dev, const struct vol_super *s, char *err,
			size_t errlen)
{
	const struct vol_geom *g = &s->geom;
	uint64_t total = vol_total_sectors(g);
	uint8_t *buf = vol_alloc_sectors(g->sector_size, FORMAT_BATCH);
	uint64_t idx = 0;
	uint32_t n;
	int rc;

	if (!buf)
		return fail(err, errlen, -ENOMEM, "%s: out of memory", dev->path);
	rc = dev->ops->write(dev, 0, 1, buf);
	for (idx = 1; !rc && idx < total;) {
		n = total - idx < FORMAT_BATCH ? (uint32_t)(total - idx) : FORMAT_BATCH;
		for (uint32_t i = 0; i < n; i++)
			encode_empty(g, idx + i, buf + (size_t)i * g->sector_size);
		rc = dev->ops->write(dev, idx, n, buf);
		if (!rc)
			idx += n;
	}
	if (!rc) {
		idx = 0;
		vol_encode_super(s, buf);
		rc = dev->ops->write(dev, 0, 1, buf);
	}
	if (rc)
		fail(err, errlen, rc, "%s: writing sector %" PRIu64 ": %s", dev->path, idx,
		     strerror(-rc));
	free(buf);
	return rc;
}

int vol_format(const char *datastore, const struct vol_format_opts *o, struct vol_handle *out,
	       char *err, size_t errlen)
{
	char path[sizeof(out->dev.path)];
	struct made made = { .made_dir = false };
	struct vol_super s;
	struct vol_dev dev;
	uint64_t bytes;
	bool is_dir;
	struct stat st;
	int rc;

	rc = make_super(o, &s, err, errlen);
	if (rc)
		return rc;
	rc = resolve(datastore, path, sizeof(path), &is_dir, err, errlen);
	if (rc)
		return rc;
	rc = check_target(path, &s, o->force, err, errlen);
	if (rc)
		return rc;
	bytes = vol_total_sectors(&s.geom) * s.geom.sector_size;
	if (is_dir)
		rc = create_lockvol(path, bytes, &made, err, errlen);
	else if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
		rc = grow_file(path, bytes, err, errlen);
	if (rc)
		goto out_unmake;
	rc = vol_direct_open(path, true, VOL_SECTOR_SIZE, &dev);
	if (rc) {
		rc = open_failed(path, rc, err, errlen);
		goto out_unmake;
	}
	rc = write_volume(&dev, &s, err, errlen);
	if (rc) {
		dev.ops->close(&dev);
		goto out_unmake;
	}
	out->dev = dev;
	out->super = s;
	return 0;

out_unmake:
	unmake(path, &made);
	return rc;
}

/* --- open --------------------------------------------------------------------------- */

int vol_open(const char *datastore, bool writable, struct vol_handle *out, char *err,
	     size_t errlen)
{
	char path[sizeof(out->dev.path)];
	struct vol_super s;
	struct vol_dev dev;
	uint64_t need;
	void *sector = NULL;
	bool is_dir;
	int rc, dec;

	rc = resolve(datastore, path, sizeof(path), &is_dir, err, errlen);
	if (rc)
		return rc;
	if (is_dir && access(path, F_OK) < 0 && errno == ENOENT)
		return fail(err, errlen, -ENOENT,
			    "%s: not a vmfs datastore: %s does not exist (vmfsadm format "
			    "creates it)",
			    datastore, path);
	rc = vol_direct_open(path, writable, VOL_SECTOR_SIZE, &dev);
	if (rc)
		return open_failed(path, rc, err, errlen);
	sector = vol_alloc_sectors(VOL_SECTOR_SIZE, 1);
	if (!sector) {
		rc = fail(err, errlen, -ENOMEM, "%s: out of memory", path);
		goto out_close;
	}
	rc = read_super(&dev, sector, &s, &dec);
	if (rc) {
		rc = fail(err, errlen, rc, "%s: reading the superblock: %s", path,
			  strerror(-rc));
		goto out_close;
	}
	if (dec) {
		rc = super_failed(path, dec, sector, err, errlen);
		goto out_close;
	}
	need = vol_total_sectors(&s.geom);
	if (dev.nsectors < need) {
		rc = fail(err, errlen, -ENXIO,
			  "%s: truncated lock volume: %" PRIu64 " bytes, its superblock "
			  "describes %" PRIu64 " (%" PRIu64 " sectors of %u bytes)",
			  path, dev.nsectors * dev.sector_size, need * s.geom.sector_size, need,
			  s.geom.sector_size);
		goto out_close;
	}
	free(sector);
	out->dev = dev;
	out->super = s;
	return 0;

out_close:
	free(sector);
	dev.ops->close(&dev);
	return rc;
}

void vol_close(struct vol_handle *h)
{
	h->dev.ops->close(&h->dev);
}

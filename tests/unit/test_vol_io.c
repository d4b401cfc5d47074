// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_vol_io.c - the lock volume on real storage: O_DIRECT sector I/O
 * (vol_io_direct.c) and formatting and opening datastores (vol_datastore.c).
 *
 * The tests need a file system that supports O_DIRECT. The group setup looks for one
 * ($VMFS_TEST_DIR, the build directory, /var/tmp; never tmpfs or ramfs) and fails the
 * whole run, loudly, when none works: passing without having done direct I/O would be
 * a lie.
 */
#define _GNU_SOURCE /* O_DIRECT */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/magic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cmocka.h>

#include "lockd/volume/vol.h"
#include "lockd/volume/vol_datastore.h"
#include "lockd/volume/vol_ondisk.h"

static char test_dir[1024]; /* a fresh directory on a file system with O_DIRECT */

/* --- setup -------------------------------------------------------------------------- */

static bool direct_io_works(const char *dir)
{
	char probe[2048];
	struct statfs sf;
	int fd;

	if (statfs(dir, &sf) < 0 || sf.f_type == TMPFS_MAGIC || sf.f_type == RAMFS_MAGIC)
		return false;
	snprintf(probe, sizeof(probe), "%s/vmfs-direct-probe.XXXXXX", dir);
	fd = mkstemp(probe);
	if (fd < 0)
		return false;
	close(fd);
	fd = open(probe, O_RDWR | O_DIRECT);
	unlink(probe);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static int group_setup(void **state)
{
	const char *candidates[] = { getenv("VMFS_TEST_DIR"), ".", "/var/tmp" };

	(void)state;
	for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++) {
		if (!candidates[i] || !direct_io_works(candidates[i]))
			continue;
		snprintf(test_dir, sizeof(test_dir), "%s/test_vol_io.XXXXXX", candidates[i]);
		if (mkdtemp(test_dir))
			return 0;
	}
	print_error("test_vol_io: no directory with O_DIRECT support among $VMFS_TEST_DIR, "
		    ". and /var/tmp; set VMFS_TEST_DIR to one on a disk file system\n");
	return -1;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int group_teardown(void **state)
{
	(void)state;
	return nftw(test_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A path under the test directory; valid until the fourth call after this one. */
static const char *path_of(const char *name)
{
	static char paths[4][2048];
	static unsigned int next;
	char *path = paths[next++ % 4];

	snprintf(path, sizeof(paths[0]), "%s/%s", test_dir, name);
	return path;
}

static const char *new_dir(const char *name)
{
	const char *dir = path_of(name);

	assert_int_equal(mkdir(dir, 0755), 0);
	return dir;
}

static const char *new_file(const char *name, off_t size)
{
	const char *file = path_of(name);
	int fd = open(file, O_WRONLY | O_CREAT | O_EXCL, 0644);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, size), 0);
	close(fd);
	return file;
}

/* A small volume: 4 hosts, 20 locks each (3 table sectors), fixed uuid and clock. */
static const struct vol_format_opts small = {
	.cluster = "testcl",
	.max_hosts = 4,
	.locks_per_host = 20,
	.uuid = { 1, 2, 3, 4, 5, 6, 0x47, 8, 0x89, 10, 11, 12, 13, 14, 15, 16 },
	.created_ms = 1700000000000,
};
#define SMALL_TOTAL (1 + 4 * (1 + VOL_JOURNAL_SECTORS + 3))

static void format_small(const char *ds)
{
	struct vol_handle h;
	char err[VOL_ERR_MAX];

	if (vol_format(ds, &small, &h, err, sizeof(err)) != 0)
		fail_msg("format %s: %s", ds, err);
	vol_close(&h);
}

/* Rewrites the superblock's major version in place, with a valid CRC. */
static void set_major(const char *file, uint16_t major)
{
	uint8_t sector[VOL_SECTOR_SIZE];
	uint16_t le = htole16(major);
	uint32_t crc;
	int fd = open(file, O_RDWR);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, sector, sizeof(sector), 0), sizeof(sector));
	memcpy(sector + offsetof(struct vol_od_hdr, major), &le, sizeof(le));
	memset(sector + offsetof(struct vol_od_hdr, crc), 0, sizeof(crc));
	crc = htole32(vol_crc32c(sector, sizeof(sector)));
	memcpy(sector + offsetof(struct vol_od_hdr, crc), &crc, sizeof(crc));
	assert_int_equal(pwrite(fd, sector, sizeof(sector), 0), sizeof(sector));
	close(fd);
}

static void expect_open_error(const char *ds, int want, const char *words)
{
	struct vol_handle h;
	char err[VOL_ERR_MAX] = "";

	assert_int_equal(vol_open(ds, false, &h, err, sizeof(err)), want);
	if (!strstr(err, words))
		fail_msg("message \"%s\" lacks \"%s\"", err, words);
}

/* --- tests -------------------------------------------------------------------------- */

static void test_vol_format_directory_then_open(void **state)
{
	const char *ds = new_dir("dirds");
	char want_path[4096];
	struct vol_handle h;
	char err[VOL_ERR_MAX];
	struct stat st;
	uint8_t *buf;

	(void)state;
	format_small(ds);
	snprintf(want_path, sizeof(want_path), "%s/.vmfs/lockvol", ds);
	assert_int_equal(stat(want_path, &st), 0);
	assert_int_equal(st.st_size, (off_t)SMALL_TOTAL * VOL_SECTOR_SIZE);
	assert_true(st.st_blocks * 512 >= st.st_size); /* preallocated */

	assert_int_equal(vol_open(ds, false, &h, err, sizeof(err)), 0);
	assert_string_equal(h.dev.path, want_path);
	assert_string_equal(h.super.cluster, "testcl");
	assert_memory_equal(h.super.geom.uuid, small.uuid, 16);
	assert_int_equal(h.super.geom.max_hosts, 4);
	assert_int_equal(h.super.geom.table_sectors, 3);
	assert_int_equal(h.super.geom.journal_sectors, VOL_JOURNAL_SECTORS);
	assert_int_equal(h.super.epoch, 1);
	assert_int_equal(h.super.hb_interval_ms, VOL_DEFAULT_HB_INTERVAL_MS);
	assert_int_equal(h.super.host_dead_ms, VOL_DEFAULT_HOST_DEAD_MS);
	assert_int_equal(h.super.io_timeout_ms, VOL_DEFAULT_IO_TIMEOUT_MS);
	assert_int_equal(h.super.created_ms, small.created_ms);
	assert_int_equal(vol_total_sectors(&h.super.geom), SMALL_TOTAL);

	/* every sector of the new volume decodes, and is empty */
	buf = vol_alloc_sectors(VOL_SECTOR_SIZE, SMALL_TOTAL);
	assert_non_null(buf);
	assert_int_equal(h.dev.ops->read(&h.dev, 0, SMALL_TOTAL, buf), 0);
	for (uint64_t idx = 1; idx < SMALL_TOTAL; idx++) {
		const uint8_t *sector = buf + idx * VOL_SECTOR_SIZE;
		const struct vol_geom *g = &h.super.geom;
		struct vol_heartbeat hb;
		struct vol_journal j;
		struct vol_table t;
		struct vol_loc loc;

		assert_int_equal(vol_locate(g, idx, &loc), 0);
		if (loc.kind == VOL_K_HEARTBEAT) {
			assert_int_equal(vol_decode_heartbeat(g, idx, sector, &hb), 0);
			assert_int_equal(hb.state, VOL_HB_UNUSED);
		} else if (loc.kind == VOL_K_JOURNAL) {
			assert_int_equal(vol_decode_journal(g, idx, sector, &j), 0);
			assert_int_equal(j.type, VOL_J_NONE);
		} else {
			assert_int_equal(vol_decode_table(g, idx, sector, &t), 0);
			for (uint32_t s = 0; s < VOL_SLOTS_PER_SECTOR; s++)
				assert_int_equal(t.e[s].state, VOL_E_FREE);
		}
	}
	free(buf);
	vol_close(&h);
}

static void test_vol_format_plain_file_in_place(void **state)
{
	const char *file = new_file("plain.img", 0);
	struct vol_handle h;
	char err[VOL_ERR_MAX];
	struct stat st;

	(void)state;
	format_small(file);
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(st.st_size, (off_t)SMALL_TOTAL * VOL_SECTOR_SIZE);
	assert_int_equal(vol_open(file, true, &h, err, sizeof(err)), 0);
	assert_string_equal(h.dev.path, file);
	assert_int_equal(h.dev.dev_block_size, 512);
	assert_int_equal(h.dev.nsectors, SMALL_TOTAL);
	vol_close(&h);
}

static void test_vol_sectors_written_are_read_back(void **state)
{
	const char *file = new_file("rw.img", 0);
	const struct vol_geom *g;
	struct vol_heartbeat hb, got;
	struct vol_table t, tgot;
	struct vol_handle h;
	char err[VOL_ERR_MAX];
	uint8_t *buf;

	(void)state;
	format_small(file);
	assert_int_equal(vol_open(file, true, &h, err, sizeof(err)), 0);
	g = &h.super.geom;
	buf = vol_alloc_sectors(VOL_SECTOR_SIZE, 3);
	assert_non_null(buf);

	memset(&hb, 0, sizeof(hb));
	hb.host = 2;
	hb.state = VOL_HB_LIVE;
	hb.counter = 17;
	strcpy(hb.hostname, "node2");
	vol_encode_heartbeat(g, &hb, buf);
	assert_int_equal(h.dev.ops->write(&h.dev, vol_hb_index(g, 2), 1, buf), 0);

	/* three table sectors in one transfer */
	for (uint32_t n = 0; n < 3; n++) {
		memset(&t, 0, sizeof(t));
		t.host = 2;
		t.e[n].state = VOL_E_HELD;
		t.e[n].mode = LK_MODE_EX;
		t.e[n].gen = (struct lk_gen){ 1, 100 + n };
		snprintf(t.e[n].path, sizeof(t.e[n].path), "vm%u/disk.img", n);
		vol_encode_table(g, vol_table_index(g, 2, n), &t, buf + n * VOL_SECTOR_SIZE);
	}
	assert_int_equal(h.dev.ops->write(&h.dev, vol_table_index(g, 2, 0), 3, buf), 0);
	vol_close(&h);

	memset(buf, 0, 3 * VOL_SECTOR_SIZE);
	assert_int_equal(vol_open(file, false, &h, err, sizeof(err)), 0);
	g = &h.super.geom;
	assert_int_equal(h.dev.ops->read(&h.dev, vol_hb_index(g, 2), 1, buf), 0);
	assert_int_equal(vol_decode_heartbeat(g, vol_hb_index(g, 2), buf, &got), 0);
	assert_int_equal(got.counter, 17);
	assert_string_equal(got.hostname, "node2");
	assert_int_equal(h.dev.ops->read(&h.dev, vol_table_index(g, 2, 0), 3, buf), 0);
	for (uint32_t n = 0; n < 3; n++) {
		char want[32];

		assert_int_equal(vol_decode_table(g, vol_table_index(g, 2, n),
						  buf + n * VOL_SECTOR_SIZE, &tgot),
				 0);
		snprintf(want, sizeof(want), "vm%u/disk.img", n);
		assert_string_equal(tgot.e[n].path, want);
		assert_int_equal(tgot.e[n].gen.counter, 100 + n);
	}
	free(buf);
	vol_close(&h);
}

static void test_vol_transfer_alignment_and_range(void **state)
{
	const char *file = new_file("align.img", 0);
	struct vol_handle h;
	char err[VOL_ERR_MAX];
	uint8_t *buf;

	(void)state;
	format_small(file);
	assert_int_equal(vol_open(file, true, &h, err, sizeof(err)), 0);
	buf = vol_alloc_sectors(VOL_SECTOR_SIZE, 2);
	assert_non_null(buf);
	assert_int_equal((uintptr_t)buf % VOL_SECTOR_SIZE, 0);
	for (size_t i = 0; i < 2 * VOL_SECTOR_SIZE; i++)
		assert_int_equal(buf[i], 0);
	assert_int_equal(h.dev.ops->read(&h.dev, 1, 1, buf + 512), -EINVAL);
	assert_int_equal(h.dev.ops->write(&h.dev, 1, 1, buf + 8), -EINVAL);
	assert_int_equal(h.dev.ops->read(&h.dev, SMALL_TOTAL - 1, 2, buf), -EINVAL);
	assert_int_equal(h.dev.ops->write(&h.dev, SMALL_TOTAL, 1, buf), -EINVAL);
	assert_int_equal(h.dev.ops->read(&h.dev, SMALL_TOTAL - 1, 1, buf), 0);
	free(buf);
	vol_close(&h);
}

static void test_vol_open_truncated_volume_refused(void **state)
{
	const char *file = new_file("trunc.img", 0);

	(void)state;
	format_small(file);
	assert_int_equal(truncate(file, (off_t)(SMALL_TOTAL / 2) * VOL_SECTOR_SIZE), 0);
	expect_open_error(file, -ENXIO, "truncated lock volume");
	expect_open_error(file, -ENXIO, file);
}

static void test_vol_open_newer_major_refused(void **state)
{
	const char *file = new_file("major.img", 0);

	(void)state;
	format_small(file);
	set_major(file, VOL_MAJOR + 1);
	expect_open_error(file, -ENOTSUP, "format 2.0 is newer than");
}

static void test_vol_open_damaged_superblock_refused(void **state)
{
	const char *file = new_file("damaged.img", 0);
	int fd;

	(void)state;
	format_small(file);
	fd = open(file, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "X", 1, 200), 1);
	close(fd);
	expect_open_error(file, -EUCLEAN, "damaged superblock: checksum mismatch");
}

static void test_vol_open_not_a_datastore(void **state)
{
	(void)state;
	expect_open_error(new_dir("empty"), -ENOENT, "not a vmfs datastore");
	expect_open_error(path_of("missing"), -ENOENT, "No such file or directory");
	expect_open_error(new_file("zeros.img", 1 << 20), -ENOMEDIUM, "not a vmfs lock volume");
	expect_open_error(new_file("tiny.img", 100), -ENOMEDIUM, "not a vmfs lock volume");
	expect_open_error("/dev/null", -EINVAL, "not a directory, regular file or block device");
}

static void test_vol_format_refuses_existing_volume_without_force(void **state)
{
	const char *ds = new_dir("twice");
	struct vol_format_opts o = small;
	struct vol_handle h;
	char err[VOL_ERR_MAX];

	(void)state;
	format_small(ds);
	o.cluster = "other";
	assert_int_equal(vol_format(ds, &o, &h, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "cluster 'testcl'"));
	assert_non_null(strstr(err, "01020304-0506-4708-890a-0b0c0d0e0f10"));

	o.force = true;
	memset(o.uuid, 0, sizeof(o.uuid)); /* a random one */
	assert_int_equal(vol_format(ds, &o, &h, err, sizeof(err)), 0);
	assert_memory_not_equal(h.super.geom.uuid, small.uuid, 16);
	assert_int_equal(h.super.geom.uuid[6] >> 4, 4); /* version 4 */
	vol_close(&h);
	assert_int_equal(vol_open(ds, false, &h, err, sizeof(err)), 0);
	assert_string_equal(h.super.cluster, "other");
	vol_close(&h);
}

static void test_vol_format_refuses_foreign_data_without_force(void **state)
{
	const char *file = new_file("foreign.img", 1 << 20);
	struct vol_format_opts o = small;
	struct vol_handle h;
	char err[VOL_ERR_MAX];
	int fd = open(file, O_WRONLY);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "QFI\xfb", 4, 0), 4);
	close(fd);
	assert_int_equal(vol_format(file, &o, &h, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "not a vmfs lock volume"));
	o.force = true;
	assert_int_equal(vol_format(file, &o, &h, err, sizeof(err)), 0);
	vol_close(&h);
}

static void test_vol_format_refuses_newer_volume_without_force(void **state)
{
	const char *file = new_file("newer.img", 0);
	struct vol_handle h;
	char err[VOL_ERR_MAX];

	(void)state;
	format_small(file);
	set_major(file, VOL_MAJOR + 1);
	assert_int_equal(vol_format(file, &small, &h, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "format 2.0"));
}

static void test_vol_format_bad_options_write_nothing(void **state)
{
	const char *ds = new_dir("badopts");
	struct vol_format_opts o = small;
	struct vol_handle h;
	char err[VOL_ERR_MAX], vmfs[4096];
	struct stat st;

	(void)state;
	o.cluster = "two words";
	assert_int_equal(vol_format(ds, &o, &h, err, sizeof(err)), -EINVAL);
	o = small;
	o.max_hosts = LK_MAX_HOSTS + 1;
	assert_int_equal(vol_format(ds, &o, &h, err, sizeof(err)), -EINVAL);
	o = small;
	o.locks_per_host = VOL_MAX_LOCKS_PER_HOST + 1;
	assert_int_equal(vol_format(ds, &o, &h, err, sizeof(err)), -EINVAL);
	assert_int_equal(vol_format(path_of("nowhere"), &small, &h, err, sizeof(err)), -ENOENT);
	snprintf(vmfs, sizeof(vmfs), "%s/.vmfs", ds);
	assert_int_equal(stat(vmfs, &st), -1);
}

static void test_vol_direct_open_block_size_must_divide_sector(void **state)
{
	const char *file = new_file("blocks.img", 1 << 16);
	struct vol_dev dev;

	(void)state;
	assert_int_equal(vol_direct_open(file, false, 256, &dev), -EMEDIUMTYPE);
	assert_int_equal(vol_direct_open(file, false, 768, &dev), -EMEDIUMTYPE);
	assert_int_equal(vol_direct_open(file, false, VOL_SECTOR_SIZE, &dev), 0);
	assert_int_equal(dev.dev_block_size, 512);
	assert_int_equal(dev.nsectors, (1 << 16) / VOL_SECTOR_SIZE);
	dev.ops->close(&dev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vol_format_directory_then_open),
		cmocka_unit_test(test_vol_format_plain_file_in_place),
		cmocka_unit_test(test_vol_sectors_written_are_read_back),
		cmocka_unit_test(test_vol_transfer_alignment_and_range),
		cmocka_unit_test(test_vol_open_truncated_volume_refused),
		cmocka_unit_test(test_vol_open_newer_major_refused),
		cmocka_unit_test(test_vol_open_damaged_superblock_refused),
		cmocka_unit_test(test_vol_open_not_a_datastore),
		cmocka_unit_test(test_vol_format_refuses_existing_volume_without_force),
		cmocka_unit_test(test_vol_format_refuses_foreign_data_without_force),
		cmocka_unit_test(test_vol_format_refuses_newer_volume_without_force),
		cmocka_unit_test(test_vol_format_bad_options_write_nothing),
		cmocka_unit_test(test_vol_direct_open_block_size_must_divide_sector),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

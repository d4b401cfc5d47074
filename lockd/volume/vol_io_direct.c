// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vol_io_direct.c - the real sector I/O backend (struct vol_io_ops): a regular file or a
 * block device opened with O_DIRECT, so no host ever reads another host's sectors from
 * its own page cache, and O_DSYNC, so a write has reached stable storage when it
 * returns. Where the file system refuses O_DSYNC, every write is followed by
 * fdatasync(). Buffers must be aligned to the volume sector size (vol_alloc_sectors).
 *
 * The device's logical block size (BLKSSZGET; 512 for regular files) must divide the
 * volume sector size, else a sector write would not be atomic and O_DIRECT would fail.
 */
#define _GNU_SOURCE /* O_DIRECT */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lockd/volume/vol.h"

#define REGULAR_FILE_BLOCK_SIZE 512

struct direct {
	int fd;
	bool sync_after_write; /* O_DSYNC refused: fdatasync() after each write */
};

static int check_range(const struct vol_dev *d, uint64_t idx, uint32_t count, const void *buf)
{
	if ((uintptr_t)buf % d->sector_size != 0)
		return -EINVAL;
	if (idx > d->nsectors || count > d->nsectors - idx)
		return -EINVAL;
	return 0;
}

static int direct_read(struct vol_dev *d, uint64_t idx, uint32_t count, void *buf)
{
	struct direct *io = d->priv;
	size_t len = (size_t)count * d->sector_size;
	ssize_t n;
	int rc = check_range(d, idx, count, buf);

	if (rc)
		return rc;
	do
		n = pread(io->fd, buf, len, (off_t)(idx * d->sector_size));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

static int direct_write(struct vol_dev *d, uint64_t idx, uint32_t count, const void *buf)
{
	struct direct *io = d->priv;
	size_t len = (size_t)count * d->sector_size;
	ssize_t n;
	int rc = check_range(d, idx, count, buf);

	if (rc)
		return rc;
	do
		n = pwrite(io->fd, buf, len, (off_t)(idx * d->sector_size));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if ((size_t)n != len)
		return -EIO;
	if (io->sync_after_write && fdatasync(io->fd) < 0)
		return -errno;
	return 0;
}

static void direct_close(struct vol_dev *d)
{
	struct direct *io = d->priv;

	close(io->fd);
	free(io);
	d->priv = NULL;
}

static const struct vol_io_ops direct_ops = {
	.read = direct_read,
	.write = direct_write,
	.close = direct_close,
};

/* Opens with O_DSYNC when writable; falls back to fdatasync() only if O_DSYNC is refused. */
static int open_direct(const char *path, bool writable, bool *sync_after_write)
{
	int flags = O_DIRECT | O_CLOEXEC | (writable ? O_RDWR : O_RDONLY);
	int fd;

	*sync_after_write = false;
	fd = open(path, flags | (writable ? O_DSYNC : 0));
	if (fd < 0 && errno == EINVAL && writable) {
		fd = open(path, flags);
		*sync_after_write = fd >= 0;
	}
	return fd < 0 ? -errno : fd;
}

/*
 * Size in bytes and logical block size of an open regular file or block device. Returns
 * 0, -EINVAL for another kind of file, -EMEDIUMTYPE for a block size that does not divide
 * sector_size, or the -errno of a failed call.
 */
static int dev_geometry(int fd, uint32_t sector_size, uint64_t *bytes, uint32_t *block)
{
	int bs = REGULAR_FILE_BLOCK_SIZE;
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISREG(st.st_mode))
		*bytes = (uint64_t)st.st_size;
	else if (!S_ISBLK(st.st_mode))
		return -EINVAL;
	else if (ioctl(fd, BLKGETSIZE64, bytes) < 0 || ioctl(fd, BLKSSZGET, &bs) < 0)
		return -errno;
	if (bs <= 0 || (uint32_t)bs > sector_size || sector_size % (uint32_t)bs != 0)
		return -EMEDIUMTYPE;
	*block = (uint32_t)bs;
	return 0;
}

int vol_direct_open(const char *path, bool writable, uint32_t sector_size, struct vol_dev *out)
{
	struct direct *io = NULL;
	bool sync_after_write;
	uint64_t bytes = 0;
	uint32_t block = 0;
	int fd, rc;

	if (strlen(path) >= sizeof(out->path))
		return -ENAMETOOLONG;
	fd = open_direct(path, writable, &sync_after_write);
	if (fd < 0)
		return fd;
	rc = dev_geometry(fd, sector_size, &bytes, &block);
	if (rc)
		goto out_close;
	io = malloc(sizeof(*io));
	if (!io) {
		rc = -ENOMEM;
		goto out_close;
	}
	io->fd = fd;
	io->sync_after_write = sync_after_write;
	memset(out, 0, sizeof(*out));
	out->ops = &direct_ops;
	out->priv = io;
	out->sector_size = sector_size;
	out->dev_block_size = block;
	out->nsectors = bytes / sector_size;
	strcpy(out->path, path);
	return 0;

out_close:
	close(fd);
	return rc;
}

void *vol_alloc_sectors(uint32_t sector_size, uint32_t count)
{
	size_t len = (size_t)sector_size * count;
	void *buf;

	if (posix_memalign(&buf, sector_size, len) != 0)
		return NULL;
	memset(buf, 0, len);
	return buf;
}

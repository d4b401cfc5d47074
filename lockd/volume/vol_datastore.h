/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vol_datastore.h - a datastore's lock volume: where it is, formatting it, opening it.
 *
 * A DATASTORE argument is either a directory (a NAS mount: the volume is the file
 * DATASTORE/.vmfs/lockvol) or a regular file or block device that starts with the
 * volume. Functions here return 0 or -errno; on failure they write one line for an
 * admin, naming the file, into err (errlen bytes, VOL_ERR_MAX is enough) and leave
 * *out unchanged. Bad input is refused before anything is written.
 */
#ifndef VMFS_VOL_DATASTORE_H
#define VMFS_VOL_DATASTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lockd/volume/vol.h"

#define VOL_ERR_MAX 512u
#define VOL_LOCKVOL_NAME ".vmfs/lockvol" /* inside a directory datastore */
#define VOL_DEFAULT_CLUSTER "vmfs"

/* Timing written into a new superblock; the lock daemon derives every timeout from these. */
#define VOL_DEFAULT_HB_INTERVAL_MS 1000u
#define VOL_DEFAULT_HOST_DEAD_MS 10000u
#define VOL_DEFAULT_IO_TIMEOUT_MS 2000u

struct vol_format_opts {
	const char *cluster;     /* NULL: VOL_DEFAULT_CLUSTER; 1..VOL_NAME_MAX printable bytes */
	uint32_t max_hosts;      /* 0: VOL_DEFAULT_MAX_HOSTS; else 1..LK_MAX_HOSTS */
	uint32_t locks_per_host; /* 0: VOL_DEFAULT_LOCKS_PER_HOST; else 1..VOL_MAX_LOCKS_PER_HOST */
	bool force;              /* overwrite whatever sector 0 holds, a lock volume included */
	uint8_t uuid[16];        /* all zero: a random (version 4) UUID from getrandom() */
	uint64_t created_ms;     /* 0: the wall clock now */
};

/* An open lock volume. */
struct vol_handle {
	struct vol_dev dev; /* dev.path is the volume itself, e.g. DATASTORE/.vmfs/lockvol */
	struct vol_super super;
};

/*
 * Writes a new, empty lock volume: every host's heartbeat UNUSED, empty journals and lock
 * tables, and the superblock last, so that a format cut short leaves no valid volume.
 * A directory datastore gets .vmfs/lockvol, preallocated; a regular file grows to the
 * volume's size; a block device must be large enough. Returns the volume opened for
 * writing in *out, or: -ENOENT (no such datastore), -EINVAL (bad option, unusable kind
 * of file, or no O_DIRECT), -EEXIST (sector 0 holds a lock volume or other data and
 * force is not set), -ENOSPC (block device too small), -EMEDIUMTYPE (device block size),
 * or the -errno of a failed system call.
 */
int vol_format(const char *datastore, const struct vol_format_opts *o, struct vol_handle *out,
	       char *err, size_t errlen);

/*
 * Opens a datastore's lock volume and validates its superblock and size. Returns 0, or:
 * -ENOENT (no such datastore, or a directory without .vmfs/lockvol), -ENOMEDIUM (no vmfs
 * superblock), -ENOTSUP (format of another major version), -EUCLEAN (damaged
 * superblock), -ENXIO (truncated volume), -EINVAL, -EMEDIUMTYPE, or another -errno.
 */
int vol_open(const char *datastore, bool writable, struct vol_handle *out, char *err,
	     size_t errlen);

void vol_close(struct vol_handle *h);

#endif

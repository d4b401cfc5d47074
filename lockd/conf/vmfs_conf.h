/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vmfs_conf.h - vmfs.conf(5), the configuration file every vmfs program reads (-c CONFIG).
 *
 * This module finds the file, reads it and checks every value, the timing bounds of
 * lk_timing.h included; what the values mean belongs to the programs that use them.
 * Functions return 0 or -errno; on failure they write one line for an admin into err
 * (errlen bytes, VMFS_CONF_ERR_MAX is enough), naming the file, the line and the key,
 * and leave *out unchanged. Paths in the file are absolute, at most 3839 bytes (room to
 * append "/" and a 255-byte file name within PATH_MAX), and lose their trailing slashes.
 */
#ifndef VMFS_CONF_H
#define VMFS_CONF_H

#include <stddef.h>
#include <stdint.h>

#define VMFS_CONF_DEFAULT_PATH "/etc/vmfs/vmfs.conf"
#define VMFS_CONF_ENV "VMFS_CONFIG"          /* used when no -c is given */
#define VMFS_CONF_ERR_MAX 512

enum vmfs_isolation { VMFS_ISOLATION_KEEP = 0, VMFS_ISOLATION_FENCE = 1 };

struct vmfs_conf {
	char path[4096];        /* the file it was read from */
	char datastore[4096];   /* required: directory (NAS mount) or block device / file */
	char run_dir[4096];     /* default /run/vmfs: pid file, IPC name derived from it */
	char mountpoint[4096];  /* default /vmfs: CLIs translate absolute paths under it */
	uint32_t hb_interval_ms;      /* default 1000 */
	uint32_t host_dead_ms;        /* default 10000 */
	uint32_t io_timeout_ms;       /* default 2000 */
	uint32_t handoff_timeout_ms;  /* default 30000 */
	enum vmfs_isolation isolation;/* default keep */
	int log_level;          /* syslog priority, default LOG_INFO; key log_level = error|warning|notice|info|debug */
};

/* Every default above; path and datastore empty. */
void vmfs_conf_defaults(struct vmfs_conf *c);

/* Which file a program reads: explicit (from -c) if not NULL, else $VMFS_CONFIG if set and non-empty, else VMFS_CONF_DEFAULT_PATH. */
const char *vmfs_conf_path(const char *explicit_path);

/*
 * Parses text (len bytes, need not be NUL-terminated); name is used in messages. 0, or -EINVAL with one line in err naming the file, the line number and the key, e.g.
 *   "/etc/vmfs/vmfs.conf:7: host_dead_ms: 'ten' is not a number of milliseconds" ; *out unchanged on failure.
 * On success *out holds the defaults overridden by the file, and path = name.
 */
int vmfs_conf_parse(const char *text, size_t len, const char *name, struct vmfs_conf *out, char *err, size_t errlen);

/* Reads and parses path: -ENOENT / -EACCES / ... with "cannot read <path>: <strerror>", or the parse errors. *out unchanged on failure. */
int vmfs_conf_load(const char *path, struct vmfs_conf *out, char *err, size_t errlen);

/*
 * The libqb IPC service name of the lockd using this run_dir: "vmfs-lockd" for the default run_dir, else "vmfs-lockd-XXXXXXXX" (8 hex digits of a FNV-1a hash of run_dir). Writes into buf (>= 32 bytes).
 * The hash is 32-bit FNV-1a over the bytes of run_dir. Returns buf, or NULL when len is too small.
 */
const char *vmfs_conf_ipc_name(const struct vmfs_conf *c, char *buf, size_t len);

#endif

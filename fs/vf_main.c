/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vf_main.c - vmfsd: mounts a vmfs datastore at /vmfs (FUSE, libfuse3 low-level API,
 * multithreaded) with the cluster's file locks (see vmfsd(8)).
 *
 * main() checks the configuration, the datastore and the mount point (one line and an
 * exit code each), mounts, goes to the background unless -f, starts the connection to
 * vmfs-lockd and runs the FUSE loop until SIGTERM/SIGINT or an unmount. Then it unmounts,
 * fences and closes what is left (lockd releases what the connections held) and exits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sysexits.h>
#include <unistd.h>

#include <qb/qblog.h>

#include "fs/vf.h"

#define ATTR_TIMEOUT_S 1.0
#define IDLE_THREADS 16
#define MAX_THREADS 64

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vmfsd [-f] [-c CONFIG] [-o FUSE-OPTIONS] [MOUNTPOINT]\n"
		"Mounts the vmfs datastore named by vmfs.conf at MOUNTPOINT (default: its\n"
		"`mountpoint`, /vmfs), with the cluster's file locks from vmfs-lockd.\n"
		"  -f, --foreground   stay in the foreground, log to stderr as well\n"
		"  -c, --config FILE  vmfs.conf to read (default $VMFS_CONFIG, else %s)\n"
		"  -o OPTIONS         more FUSE mount options (comma-separated)\n"
		"  -h, --help         this text\n"
		"Exit: 0 after an unmount or SIGTERM; 64 usage; 78 configuration; 69 the\n"
		"datastore or the mount point is unusable; 70 internal error. See vmfsd(8).\n",
		VMFS_CONF_DEFAULT_PATH);
}

static void setup_logging(const struct vf *v, bool foreground)
{
	qb_log_init("vmfsd", LOG_DAEMON, v->conf.log_level);
	qb_log_filter_ctl(QB_LOG_SYSLOG, QB_LOG_FILTER_ADD, QB_LOG_FILTER_FILE, "*",
			  v->conf.log_level);
	qb_log_ctl(QB_LOG_SYSLOG, QB_LOG_CONF_ENABLED, QB_TRUE);
	if (foreground) {
		qb_log_filter_ctl(QB_LOG_STDERR, QB_LOG_FILTER_ADD, QB_LOG_FILTER_FILE, "*",
				  v->conf.log_level);
		qb_log_format_set(QB_LOG_STDERR, "%t %p: %b");
		qb_log_ctl(QB_LOG_STDERR, QB_LOG_CONF_ENABLED, QB_TRUE);
	}
}

/* The datastore must be a formatted directory; the mount point a directory outside it. */
static int check_paths(struct vf *v, const char *mnt, char *err, size_t len)
{
	char real[PATH_MAX], vol[PATH_MAX + 32];
	struct stat st;

	if (!realpath(v->conf.datastore, v->ds) || stat(v->ds, &st) < 0) {
		snprintf(err, len, "datastore %s: %s", v->conf.datastore, strerror(errno));
		return EX_UNAVAILABLE;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, len, "datastore %s is not a directory: vmfsd serves directory "
			 "datastores (NAS); block devices are not supported yet", v->ds);
		return EX_CONFIG;
	}
	v->dslen = strlen(v->ds);
	snprintf(vol, sizeof(vol), "%s/.vmfs/lockvol", v->ds);
	if (stat(vol, &st) < 0) {
		snprintf(err, len, "datastore %s has no lock volume (%s: %s): format it with "
			 "`vmfsadm format`", v->ds, vol, strerror(errno));
		return EX_UNAVAILABLE;
	}
	if (!realpath(mnt, real) || stat(real, &st) < 0) {
		snprintf(err, len, "mount point %s: %s", mnt, strerror(errno));
		return EX_UNAVAILABLE;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, len, "mount point %s is not a directory", mnt);
		return EX_UNAVAILABLE;
	}
	if (strncmp(real, v->ds, v->dslen) == 0 && (real[v->dslen] == '/' || !real[v->dslen])) {
		snprintf(err, len, "mount point %s lies inside the datastore %s", real, v->ds);
		return EX_CONFIG;
	}
	return 0;
}

/* Is the datastore on a file system of one kernel (one page cache for every host that can
 * reach it)? Anything else (NFS, CIFS, a FUSE or cluster file system) gets synchronous
 * writes: see vf_io.c. */
static bool local_fs(int fd)
{
	static const long local[] = {
		0xEF53,     /* ext2/3/4 */
		0x58465342, /* xfs */
		0x9123683E, /* btrfs */
		0x01021994, /* tmpfs */
		0xF2F52010, /* f2fs */
	};
	struct statfs sf;

	if (fstatfs(fd, &sf) < 0)
		return false;
	for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++)
		if ((long)sf.f_type == local[i])
			return true;
	return false;
}

static int add_opt(struct fuse_args *a, const char *opt)
{
	return fuse_opt_add_arg(a, "-o") || fuse_opt_add_arg(a, opt) ? -ENOMEM : 0;
}

/* Mounts and runs the loop until an unmount or a signal: the exit status. */
static int serve(struct vf *v, const char *mnt, bool foreground, const char *extra)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_loop_config *lc = NULL;
	struct fuse_session *se = NULL;
	char fsname[PATH_MAX + 16];
	bool mounted = false;
	int rc = EX_SOFTWARE;

	snprintf(fsname, sizeof(fsname), "fsname=vmfs:%s", v->ds);
	if (fuse_opt_add_arg(&args, "vmfsd") || add_opt(&args, fsname) ||
	    add_opt(&args, "subtype=vmfs,default_permissions,allow_other") ||
	    (extra && add_opt(&args, extra)))
		goto out;
	se = fuse_session_new(&args, &vf_ops, sizeof(vf_ops), v);
	if (!se) {
		fprintf(stderr, "vmfsd: bad FUSE options%s%s\n", extra ? ": " : "", extra ?: "");
		rc = EX_USAGE;
		goto out;
	}
	if (fuse_set_signal_handlers(se) != 0 || fuse_session_mount(se, mnt) != 0) {
		fprintf(stderr, "vmfsd: cannot mount %s (see the lines above)\n", mnt);
		rc = EX_UNAVAILABLE;
		goto out;
	}
	mounted = true;
	qb_log(LOG_NOTICE, "datastore %s mounted at %s; %s", v->ds, mnt, v->sync_writes ?
	       "a shared file system: writes are synchronous (O_DSYNC) unless O_DIRECT" :
	       "a local file system: one page cache for every host, buffered writes");
	if (!foreground && fuse_daemonize(0) != 0) {
		rc = EX_OSERR;
		goto out;
	}
	/* threads only after daemonizing: fork keeps none */
	lc = fuse_loop_cfg_create();
	if (!lc || vf_locks_start(v->config, v->conf.io_timeout_ms, &v->locks) < 0) {
		qb_log(LOG_ERR, "cannot start the connection to vmfs-lockd");
		goto out;
	}
	fuse_loop_cfg_set_idle_threads(lc, IDLE_THREADS);
	fuse_loop_cfg_set_max_threads(lc, MAX_THREADS);
	fuse_loop_cfg_set_clone_fd(lc, 0);
	rc = fuse_session_loop_mt(se, lc);
	qb_log(LOG_NOTICE, "%s: unmounting %s", rc ? "stopping on a signal" : "unmounted", mnt);
	rc = 0;
out:
	if (mounted)
		fuse_session_unmount(se);
	if (se) {
		fuse_remove_signal_handlers(se);
		fuse_session_destroy(se);
	}
	vf_locks_stop(v->locks);
	if (lc)
		fuse_loop_cfg_destroy(lc);
	fuse_opt_free_args(&args);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "foreground", no_argument, NULL, 'f' },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct vf vf = { 0 }; /* the context, passed down (STYLE.md, State) */
	struct vf *v = &vf;
	const char *extra = NULL, *mnt;
	char err[VMFS_CONF_ERR_MAX + 3 * PATH_MAX], config_abs[PATH_MAX];
	bool foreground = false;
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "fc:o:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'f':
			foreground = true;
			break;
		case 'c':
			v->config = optarg;
			break;
		case 'o':
			extra = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (argc - optind > 1) {
		fprintf(stderr, "vmfsd: unexpected argument '%s'\n", argv[optind + 1]);
		return EX_USAGE;
	}
	if (vmfs_conf_load(vmfs_conf_path(v->config), &v->conf, err, sizeof(err)) < 0) {
		fprintf(stderr, "vmfsd: %s\n", err);
		return EX_CONFIG;
	}
	/* the daemon works from /: the lockd thread reads the file again when it connects */
	if (!realpath(v->conf.path, config_abs)) {
		fprintf(stderr, "vmfsd: %s: %s\n", v->conf.path, strerror(errno));
		return EX_CONFIG;
	}
	v->config = config_abs;
	mnt = optind < argc ? argv[optind] : v->conf.mountpoint;
	rc = check_paths(v, mnt, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "vmfsd: %s\n", err);
		return rc;
	}
	setup_logging(v, foreground);
	v->attr_timeout = ATTR_TIMEOUT_S;
	v->align = 4096;
	v->root.kind = VF_BACKING;
	v->vdir = (struct vf_inode){ .kind = VF_VDIR, .fd = -1 };
	v->vmembers = (struct vf_inode){ .kind = VF_VMEMBERS, .fd = -1 };
	v->vlocks = (struct vf_inode){ .kind = VF_VLOCKS, .fd = -1 };
	rc = vf_inode_init(v);
	if (rc < 0) {
		fprintf(stderr, "vmfsd: datastore %s: %s\n", v->ds, strerror(-rc));
		return EX_UNAVAILABLE;
	}
	v->sync_writes = !local_fs(v->root.fd);
	rc = serve(v, mnt, foreground, extra);
	vf_inode_fini(v);
	if (rc == 0)
		qb_log(LOG_NOTICE, "stopped");
	qb_log_fini();
	return rc;
}

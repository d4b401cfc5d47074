/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vf.h - vmfsd's context and the contracts between its files.
 *
 *   vf_main.c   command line, logging, the FUSE session and its multithreaded loop
 *   vf_inode.c  the inode table (one O_PATH descriptor per backing object, as libfuse's
 *               passthrough_ll does) and lock names of inodes
 *   vf_ops.c    the FUSE operations on names and attributes (lookup, mkdir, unlink, rename...)
 *   vf_io.c     the operations on handles (open, create, read, write, fsync, release...)
 *   vf_meta.c   what vmfs adds: /vmfs/.vmfs/{members,locks} and the user.vmfs.* xattrs
 *   vf_lock.c   this host's cluster locks, fencing and the lease (vf_lock.h)
 *
 * The datastore's own `.vmfs/` (the lock volume) is never reachable through the mount:
 * the root's `.vmfs` is a virtual read-only directory.
 */
#ifndef VMFS_VF_H
#define VMFS_VF_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include <qb/qbmap.h>

#include "fs/vf_lock.h"
#include "lockd/conf/vmfs_conf.h"

enum vf_kind {
	VF_BACKING = 0,  /* a file, directory or link of the datastore */
	VF_VDIR,         /* /vmfs/.vmfs */
	VF_VMEMBERS,     /* /vmfs/.vmfs/members */
	VF_VLOCKS,       /* /vmfs/.vmfs/locks */
};

struct vf_inode {
	enum vf_kind kind;
	int fd;              /* O_PATH descriptor (VF_BACKING), else -1 */
	dev_t dev;
	ino_t ino;
	uint64_t nlookup;    /* vf->imu: kernel references (FUSE lookup count) */
	char key[48];        /* vf->inodes key: "dev:ino" */
};

/* An open handle (fi->fh). */
struct vf_fh {
	int fd;              /* backing descriptor; -1 for a virtual file */
	struct vf_lk *lk;    /* the host's lock it uses, NULL for a peek or a virtual file */
	bool direct;         /* backing opened O_DIRECT: buffers and offsets aligned */
	char *vbuf;          /* virtual file: its content, rendered at open */
	size_t vlen;
	char name[];         /* lock name (for log lines) */
};

struct vf {
	struct vmfs_conf conf;
	const char *config;        /* -c, or NULL */
	char ds[PATH_MAX];         /* realpath of the datastore */
	size_t dslen;
	struct vf_inode root, vdir, vmembers, vlocks;
	pthread_mutex_t imu;       /* inodes and nlookup */
	qb_map_t *inodes;          /* imu: key -> struct vf_inode */
	struct vf_locks *locks;
	double attr_timeout;       /* seconds the kernel may cache attributes and names */
	size_t align;              /* O_DIRECT alignment of the backing store */
	bool sync_writes;          /* writable backing descriptors O_DSYNC (vf_io.c) */
};

static inline struct vf *vf_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* vf_inode.c */
struct vf_inode *vf_inode(fuse_req_t req, fuse_ino_t ino);
int vf_inode_init(struct vf *v);
/* Frees every inode the kernel did not forget (at exit). */
void vf_inode_fini(struct vf *v);
/* Looks up name under parent (a backing directory) and fills e, taking one reference. */
int vf_inode_lookup(struct vf *v, struct vf_inode *parent, const char *name,
		    struct fuse_entry_param *e);
void vf_inode_forget(struct vf *v, struct vf_inode *in, uint64_t n);
/* The lock name of in (path relative to the datastore), or of name under in when name is
 * not NULL: -ENAMETOOLONG, -ESTALE (unlinked), -EXDEV (outside the datastore). */
int vf_inode_name(struct vf *v, struct vf_inode *in, const char *name, char *out, size_t len);
/* Does the lock name (relative to the datastore) still name in? Checked once its lock is
 * held: another host may have renamed the file meanwhile (an NFS client keeps the old
 * name of an open inode). 0 or -ESTALE. */
int vf_inode_check_name(struct vf *v, const struct vf_inode *in, const char *name);
/* "/proc/self/fd/N" of in, for the calls that have no *at form. */
void vf_inode_proc(const struct vf_inode *in, char *buf, size_t len);
bool vf_is_root(const struct vf *v, const struct vf_inode *in);

/* vf_ops.c, vf_io.c, vf_meta.c: the operation table is in vf_ops.c */
extern const struct fuse_lowlevel_ops vf_ops;
void vf_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void vf_op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		  struct fuse_file_info *fi);
void vf_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		struct fuse_file_info *fi);
void vf_op_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *bufv, off_t off,
		     struct fuse_file_info *fi);
void vf_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void vf_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void vf_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void vf_op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
		     struct fuse_file_info *fi);
void vf_op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			   struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,
			   struct fuse_file_info *fi_out, size_t len, int flags);
/* ftruncate through a handle, for setattr: 0 or -errno. */
int vf_io_truncate(struct vf *v, struct vf_fh *fh, off_t size);

/* Virtual inodes (vf_meta.c). */
bool vf_meta_lookup(struct vf *v, struct vf_inode *parent, const char *name,
		    struct fuse_entry_param *e);
void vf_meta_stat(const struct vf *v, const struct vf_inode *in, struct stat *st);
int vf_meta_open(struct vf *v, struct vf_inode *in, struct vf_fh **out);
void vf_meta_readdir(fuse_req_t req, struct vf_inode *in, size_t size, off_t off);
/* user.vmfs.lock: the value (NUL-terminated) into buf; -ENODATA when not ours. */
int vf_meta_lock_xattr(struct vf *v, struct vf_inode *in, char *buf, size_t len);

#endif

/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vf_ops.c - vmfsd's FUSE operations on names and attributes, and the operation table.
 *
 * Sections: helpers · lookup and attributes · creating names · removing and renaming
 * names (these take cluster locks for their duration) · directories · xattrs · the table.
 *
 * A change of a name that another host has open is refused with EBUSY, and one line in the
 * log names the file, the holder and the generation: unlink, rename and truncate take the
 * file's lock (EX) for their duration; rename and rmdir of a directory take the
 * directory's own name (EX), which the cluster refuses while any file under it is locked
 * and which keeps every file under it from being locked meanwhile (names form a tree,
 * lk_apply.c). A file that this host has open may be unlinked here (POSIX semantics on one
 * host) but not renamed: its lock is tied to its name.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <qb/qblog.h>

#include "fs/vf.h"

#define VF_LOCK_XATTR "user.vmfs.lock"
#define VF_VMFS_DIR ".vmfs"

/* --- helpers ------------------------------------------------------------------------------- */

static void reply_rc(fuse_req_t req, int rc)
{
	fuse_reply_err(req, rc < 0 ? -rc : 0);
}

/* A name the datastore reserves: the root's .vmfs is the virtual directory. */
static bool reserved(struct vf *v, struct vf_inode *parent, const char *name)
{
	return vf_is_root(v, parent) && strcmp(name, VF_VMFS_DIR) == 0;
}

/* The backing parent of a name change, or NULL (virtual: nothing may change there). */
static struct vf_inode *backing_dir(fuse_req_t req, fuse_ino_t ino)
{
	struct vf_inode *in = vf_inode(req, ino);

	return in->kind == VF_BACKING ? in : NULL;
}

/* One line for a refused change: "rm vm1/disk.img refused: held ex by host 2 (h2), ...". */
static void refused(const char *what, const char *name, const char *who)
{
	qb_log(LOG_WARNING, "%s %s refused: %s", what, name, who);
}

static void put_lock(struct vf *v, struct vf_lk *lk)
{
	if (lk)
		vf_lk_put(v->locks, lk);
}

/* --- lookup and attributes -------------------------------------------------------------- */

static void vf_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct vf *v = vf_of(req);
	struct vf_inode *p = vf_inode(req, parent);
	struct fuse_entry_param e;
	int rc;

	if (vf_meta_lookup(v, p, name, &e)) {
		fuse_reply_entry(req, &e);
		return;
	}
	rc = vf_inode_lookup(v, p, name, &e);
	if (rc == -ENOENT) {
		/* a negative entry is not cached: another host may create it any time */
		memset(&e, 0, sizeof(e));
		fuse_reply_entry(req, &e);
		return;
	}
	if (rc)
		reply_rc(req, rc);
	else
		fuse_reply_entry(req, &e);
}

static void vf_forget(fuse_req_t req, fuse_ino_t ino, uint64_t n)
{
	vf_inode_forget(vf_of(req), vf_inode(req, ino), n);
	fuse_reply_none(req);
}

static void vf_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *f)
{
	for (size_t i = 0; i < count; i++)
		vf_inode_forget(vf_of(req), vf_inode(req, f[i].ino), f[i].nlookup);
	fuse_reply_none(req);
}

static void vf_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct vf *v = vf_of(req);
	struct vf_inode *in = vf_inode(req, ino);
	struct stat st;

	(void)fi;
	if (in->kind != VF_BACKING) {
		vf_meta_stat(v, in, &st);
		fuse_reply_attr(req, &st, v->attr_timeout);
		return;
	}
	if (fstatat(in->fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_attr(req, &st, v->attr_timeout);
}

/* truncate by name: under the file's EX lock (this host's open for writing shares it); not
 * of a file with several names (another name would be another lock). */
static int truncate_name(struct vf *v, struct vf_inode *in, off_t size)
{
	char name[PATH_MAX], who[256], proc[64];
	struct vf_lk *lk;
	struct stat st;
	int rc = vf_inode_name(v, in, NULL, name, sizeof(name));

	if (rc)
		return rc;
	if (fstatat(in->fd, "", &st, AT_EMPTY_PATH) == 0 && S_ISREG(st.st_mode) &&
	    st.st_nlink > 1) {
		refused("truncate", name, "it has several hard links");
		return -EMLINK;
	}
	rc = vf_lk_take(v->locks, name, VF_WANT_EX, &lk, who, sizeof(who));
	if (rc) {
		refused("truncate", name, who);
		return rc;
	}
	vf_inode_proc(in, proc, sizeof(proc));
	rc = vf_inode_check_name(v, in, name);
	if (rc == 0)
		rc = vf_lk_admit(v->locks, lk);
	if (rc == 0) {
		rc = truncate(proc, size) < 0 ? -errno : 0;
		vf_lk_done(v->locks, lk);
	}
	vf_lk_put(v->locks, lk);
	return rc;
}

static void vf_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int valid,
		       struct fuse_file_info *fi)
{
	struct vf *v = vf_of(req);
	struct vf_inode *in = vf_inode(req, ino);
	struct vf_fh *fh = fi ? (struct vf_fh *)(uintptr_t)fi->fh : NULL;
	char proc[64];
	int rc = 0;

	if (in->kind != VF_BACKING) {
		fuse_reply_err(req, EPERM);
		return;
	}
	vf_inode_proc(in, proc, sizeof(proc));
	if (valid & FUSE_SET_ATTR_MODE)
		rc = (fh && fh->fd >= 0 ? fchmod(fh->fd, attr->st_mode) :
		      chmod(proc, attr->st_mode)) < 0 ? -errno : 0;
	if (!rc && (valid & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)))
		rc = fchownat(in->fd, "", (valid & FUSE_SET_ATTR_UID) ? attr->st_uid : (uid_t)-1,
			      (valid & FUSE_SET_ATTR_GID) ? attr->st_gid : (gid_t)-1,
			      AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
	if (!rc && (valid & FUSE_SET_ATTR_SIZE))
		rc = fh && fh->lk ? vf_io_truncate(v, fh, attr->st_size) :
				    truncate_name(v, in, attr->st_size);
	if (!rc && (valid & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME))) {
		struct timespec tv[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_nsec = UTIME_OMIT } };

		if (valid & FUSE_SET_ATTR_ATIME_NOW)
			tv[0].tv_nsec = UTIME_NOW;
		else if (valid & FUSE_SET_ATTR_ATIME)
			tv[0] = attr->st_atim;
		if (valid & FUSE_SET_ATTR_MTIME_NOW)
			tv[1].tv_nsec = UTIME_NOW;
		else if (valid & FUSE_SET_ATTR_MTIME)
			tv[1] = attr->st_mtim;
		rc = (fh && fh->fd >= 0 ? futimens(fh->fd, tv) :
		      utimensat(AT_FDCWD, proc, tv, 0)) < 0 ? -errno : 0;
	}
	if (rc)
		reply_rc(req, rc);
	else
		vf_getattr(req, ino, fi);
}

static void vf_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct vf_inode *in = vf_inode(req, ino);
	char buf[PATH_MAX + 1];
	ssize_t n;

	if (in->kind != VF_BACKING) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	n = readlinkat(in->fd, "", buf, sizeof(buf) - 1);
	if (n < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	buf[n] = '\0';
	fuse_reply_readlink(req, buf);
}

static void vf_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs st;

	(void)ino;
	if (fstatvfs(vf_of(req)->root.fd, &st) < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_statfs(req, &st);
}

/* --- creating names ------------------------------------------------------------------------ */

/* mknod, mkdir, symlink: make the name (make() returns 0 or -1/errno), then look it up. */
static void make_name(fuse_req_t req, fuse_ino_t parent, const char *name,
		      int (*make)(int dirfd, const char *name, mode_t mode, dev_t rdev,
				  const char *target),
		      mode_t mode, dev_t rdev, const char *target)
{
	struct vf *v = vf_of(req);
	struct vf_inode *p = backing_dir(req, parent);
	struct fuse_entry_param e;
	int rc;

	if (!p) {
		fuse_reply_err(req, EPERM);
		return;
	}
	if (reserved(v, p, name)) {
		fuse_reply_err(req, EEXIST);
		return;
	}
	rc = make(p->fd, name, mode, rdev, target) < 0 ? -errno : 0;
	if (!rc)
		rc = vf_inode_lookup(v, p, name, &e);
	if (rc)
		reply_rc(req, rc);
	else
		fuse_reply_entry(req, &e);
}

static int do_mknod(int dirfd, const char *name, mode_t mode, dev_t rdev, const char *target)
{
	(void)target;
	return mknodat(dirfd, name, mode, rdev);
}

static int do_mkdir(int dirfd, const char *name, mode_t mode, dev_t rdev, const char *target)
{
	(void)rdev;
	(void)target;
	return mkdirat(dirfd, name, mode);
}

static int do_symlink(int dirfd, const char *name, mode_t mode, dev_t rdev, const char *target)
{
	(void)mode;
	(void)rdev;
	return symlinkat(target, dirfd, name);
}

static void vf_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		     dev_t rdev)
{
	make_name(req, parent, name, do_mknod, mode, rdev, NULL);
}

static void vf_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	make_name(req, parent, name, do_mkdir, mode | S_IFDIR, 0, NULL);
}

static void vf_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	make_name(req, parent, name, do_symlink, 0, 0, link);
}

/* A second name of a regular file is made under the EX lock of the first (refused while
 * another host has it); from then on the file is not opened for writing (EMLINK). */
static void vf_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct vf *v = vf_of(req);
	struct vf_inode *in = vf_inode(req, ino), *p = backing_dir(req, newparent);
	struct fuse_entry_param e;
	struct vf_lk *lk = NULL;
	char proc[64], name[PATH_MAX], who[600];
	struct stat st;
	int rc = 0;

	if (!p || in->kind != VF_BACKING) {
		fuse_reply_err(req, EPERM);
		return;
	}
	if (reserved(v, p, newname)) {
		fuse_reply_err(req, EEXIST);
		return;
	}
	if (fstatat(in->fd, "", &st, AT_EMPTY_PATH) == 0 && S_ISREG(st.st_mode)) {
		rc = vf_inode_name(v, in, NULL, name, sizeof(name));
		if (!rc && (rc = vf_lk_take(v->locks, name, VF_WANT_EX, &lk, who, sizeof(who))))
			refused("link", name, who);
	}
	vf_inode_proc(in, proc, sizeof(proc));
	if (!rc)
		rc = linkat(AT_FDCWD, proc, p->fd, newname, AT_SYMLINK_FOLLOW) < 0 ? -errno : 0;
	put_lock(v, lk);
	if (!rc)
		rc = vf_inode_lookup(v, p, newname, &e);
	if (rc)
		reply_rc(req, rc);
	else if (fuse_reply_entry(req, &e) == -ENOENT)
		vf_inode_forget(v, vf_inode(req, e.ino), 1);
}

/* --- removing and renaming names ------------------------------------------------------------ */

/* What kind of object name under p is: S_IFREG, S_IFDIR..., or -errno. */
static int kind_of(struct vf_inode *p, const char *name)
{
	struct stat st;

	if (fstatat(p->fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return (int)(st.st_mode & S_IFMT);
}

/* Takes the EX lock of a regular file or a directory for a change of its name (*lk NULL
 * for other kinds). `what` names the change in the log.
 * here_ok: a lock this host holds for an open may be shared (unlink). absent: the kind a
 * name that does not exist counts as (0: nothing to lock; S_IFREG: a rename target, locked
 * so that no host creates and opens it meanwhile). */
static int lock_for_change(struct vf *v, struct vf_inode *p, const char *name, const char *what,
			   bool here_ok, int absent, struct vf_lk **lk)
{
	char lname[PATH_MAX], who[PATH_MAX + 128];
	int kind = kind_of(p, name), rc = 0;

	*lk = NULL;
	if (kind == -ENOENT)
		kind = absent;
	if (kind == 0)
		return 0; /* the change itself says so */
	if (kind < 0)
		return kind;
	rc = vf_inode_name(v, p, name, lname, sizeof(lname));
	if (rc)
		return rc;
	if (kind == S_IFREG || kind == S_IFDIR) {
		if (!here_ok && vf_lk_held_here(v->locks, lname)) {
			snprintf(who, sizeof(who), "it is open on this host (its lock is tied to "
				 "its name): close it first");
			rc = -EBUSY;
		} else {
			rc = vf_lk_take(v->locks, lname, VF_WANT_EX, lk, who, sizeof(who));
		}
	}
	if (rc)
		refused(what, lname, who);
	return rc;
}

/* unlink (flags 0) and rmdir (AT_REMOVEDIR): a file under its lock, a directory with no
 * lock under it. A file this host has open may go (POSIX semantics on one host). */
static void remove_name(fuse_req_t req, fuse_ino_t parent, const char *name, int flags)
{
	struct vf *v = vf_of(req);
	struct vf_inode *p = backing_dir(req, parent);
	struct vf_lk *lk;
	int rc;

	if (!p || reserved(v, p, name)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	rc = lock_for_change(v, p, name, flags ? "rmdir" : "unlink", !flags, 0, &lk);
	if (!rc && lk)
		rc = vf_lk_admit(v->locks, lk);
	if (!rc) {
		rc = unlinkat(p->fd, name, flags) < 0 ? -errno : 0;
		if (lk)
			vf_lk_done(v->locks, lk);
	}
	put_lock(v, lk);
	reply_rc(req, rc);
}

static void vf_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_name(req, parent, name, 0);
}

static void vf_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_name(req, parent, name, AT_REMOVEDIR);
}

static void vf_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	struct vf *v = vf_of(req);
	struct vf_inode *p = backing_dir(req, parent), *np = backing_dir(req, newparent);
	struct vf_lk *a = NULL, *b = NULL;
	int rc;

	if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE)) {
		fuse_reply_err(req, EINVAL); /* RENAME_WHITEOUT: overlayfs only */
		return;
	}
	if (!p || !np || reserved(v, p, name) || reserved(v, np, newname)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	rc = lock_for_change(v, p, name, "rename", false, 0, &a);
	if (!rc)
		rc = lock_for_change(v, np, newname, "rename onto", false, a ? S_IFREG : 0, &b);
	if (!rc && (a || b))
		rc = vf_lk_admit(v->locks, a ? a : b);
	if (!rc && a && b && (rc = vf_lk_admit(v->locks, b)) < 0)
		vf_lk_done(v->locks, a);
	if (!rc) {
		rc = renameat2(p->fd, name, np->fd, newname, flags) < 0 ? -errno : 0;
		if (a)
			vf_lk_done(v->locks, a);
		if (b)
			vf_lk_done(v->locks, b);
	}
	put_lock(v, b);
	put_lock(v, a);
	reply_rc(req, rc);
}

/* --- directories ---------------------------------------------------------------------------- */

struct vf_dir {
	DIR *dp;
	off_t offset;
	struct dirent *entry;
};

static void vf_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct vf_inode *in = vf_inode(req, ino);
	struct vf_dir *d;
	int fd;

	if (in->kind != VF_BACKING) {
		fi->fh = 0;
		fuse_reply_open(req, fi);
		return;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	fd = openat(in->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d->dp = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d->dp) {
		int err = errno;

		if (fd >= 0)
			close(fd);
		free(d);
		fuse_reply_err(req, err);
		return;
	}
	fi->fh = (uintptr_t)d;
	fuse_reply_open(req, fi);
}

static void vf_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct vf_dir *d = (struct vf_dir *)(uintptr_t)fi->fh;
	char *buf, *p;
	size_t rem = size;
	int err = 0;

	if (!d) {
		vf_meta_readdir(req, vf_inode(req, ino), size, off);
		return;
	}
	buf = calloc(1, size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	p = buf;
	if (off != d->offset) {
		seekdir(d->dp, off);
		d->entry = NULL;
		d->offset = off;
	}
	for (;;) {
		struct stat st = { 0 };
		size_t n;

		if (!d->entry) {
			errno = 0;
			d->entry = readdir(d->dp);
			if (!d->entry) {
				err = errno;
				break;
			}
		}
		st.st_ino = d->entry->d_ino;
		st.st_mode = (mode_t)d->entry->d_type << 12;
		n = fuse_add_direntry(req, p, rem, d->entry->d_name, &st, d->entry->d_off);
		if (n > rem)
			break;
		p += n;
		rem -= n;
		d->offset = d->entry->d_off;
		d->entry = NULL;
	}
	if (err && rem == size)
		fuse_reply_err(req, err);
	else
		fuse_reply_buf(req, buf, size - rem);
	free(buf);
}

static void vf_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct vf_dir *d = (struct vf_dir *)(uintptr_t)fi->fh;

	(void)ino;
	if (d) {
		closedir(d->dp);
		free(d);
	}
	fuse_reply_err(req, 0);
}

static void vf_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct vf_dir *d = (struct vf_dir *)(uintptr_t)fi->fh;
	int fd = d ? dirfd(d->dp) : -1;

	(void)ino;
	if (fd < 0)
		fuse_reply_err(req, 0);
	else
		reply_rc(req, (datasync ? fdatasync(fd) : fsync(fd)) < 0 ? -errno : 0);
}

/* --- xattrs ------------------------------------------------------------------------------------ */

static void reply_xattr_value(fuse_req_t req, const char *val, size_t len, size_t size)
{
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (len > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, val, len);
}

static void vf_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct vf *v = vf_of(req);
	struct vf_inode *in = vf_inode(req, ino);
	char proc[64], *buf;
	ssize_t n;
	int rc;

	if (in->kind != VF_BACKING) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	buf = malloc(size > 4096 ? size : 4096);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (strcmp(name, VF_LOCK_XATTR) == 0) {
		rc = vf_meta_lock_xattr(v, in, buf, 4096);
		if (rc < 0)
			reply_rc(req, rc);
		else
			reply_xattr_value(req, buf, strlen(buf), size);
		free(buf);
		return;
	}
	vf_inode_proc(in, proc, sizeof(proc));
	n = getxattr(proc, name, buf, size);
	if (n < 0)
		fuse_reply_err(req, errno);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

static void vf_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct vf_inode *in = vf_inode(req, ino);
	struct stat st;
	char proc[64], *buf;
	ssize_t n;
	size_t extra = 0;

	if (in->kind != VF_BACKING) {
		reply_xattr_value(req, "", 0, size);
		return;
	}
	if (fstatat(in->fd, "", &st, AT_EMPTY_PATH) == 0 && S_ISREG(st.st_mode))
		extra = sizeof(VF_LOCK_XATTR);
	vf_inode_proc(in, proc, sizeof(proc));
	n = listxattr(proc, NULL, 0);
	if (n < 0) {
		if (errno != ENOTSUP) {
			fuse_reply_err(req, errno);
			return;
		}
		n = 0;
	}
	buf = malloc((size_t)n + extra + 1);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	n = n ? listxattr(proc, buf, (size_t)n) : 0;
	if (n < 0) {
		fuse_reply_err(req, errno == ERANGE ? EAGAIN : errno);
		free(buf);
		return;
	}
	memcpy(buf + n, VF_LOCK_XATTR, extra);
	reply_xattr_value(req, buf, (size_t)n + extra, size);
	free(buf);
}

static void vf_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			size_t size, int flags)
{
	struct vf_inode *in = vf_inode(req, ino);
	char proc[64];

	if (in->kind != VF_BACKING || strcmp(name, VF_LOCK_XATTR) == 0) {
		fuse_reply_err(req, EPERM);
		return;
	}
	vf_inode_proc(in, proc, sizeof(proc));
	reply_rc(req, setxattr(proc, name, value, size, flags) < 0 ? -errno : 0);
}

static void vf_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct vf_inode *in = vf_inode(req, ino);
	char proc[64];

	if (in->kind != VF_BACKING || strcmp(name, VF_LOCK_XATTR) == 0) {
		fuse_reply_err(req, EPERM);
		return;
	}
	vf_inode_proc(in, proc, sizeof(proc));
	reply_rc(req, removexattr(proc, name) < 0 ? -errno : 0);
}

/* --- the table ------------------------------------------------------------------------------- */

static void vf_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	conn->max_write = 1024 * 1024;
	conn->max_readahead = 1024 * 1024;
	conn->max_background = 64;
	conn->congestion_threshold = 48;
	conn->want |= conn->capable & (FUSE_CAP_ASYNC_DIO | FUSE_CAP_PARALLEL_DIROPS |
				       FUSE_CAP_ATOMIC_O_TRUNC | FUSE_CAP_SPLICE_WRITE |
				       FUSE_CAP_SPLICE_MOVE);
	/* coherence across hosts: no writeback cache, and data checked against attributes */
	conn->want &= ~(unsigned)(FUSE_CAP_WRITEBACK_CACHE | FUSE_CAP_SPLICE_READ);
	conn->want |= conn->capable & FUSE_CAP_AUTO_INVAL_DATA;
}

const struct fuse_lowlevel_ops vf_ops = {
	.init = vf_init,
	.lookup = vf_lookup,
	.forget = vf_forget,
	.forget_multi = vf_forget_multi,
	.getattr = vf_getattr,
	.setattr = vf_setattr,
	.readlink = vf_readlink,
	.mknod = vf_mknod,
	.mkdir = vf_mkdir,
	.symlink = vf_symlink,
	.link = vf_link,
	.unlink = vf_unlink,
	.rmdir = vf_rmdir,
	.rename = vf_rename,
	.open = vf_op_open,
	.create = vf_op_create,
	.read = vf_op_read,
	.write_buf = vf_op_write_buf,
	.flush = vf_op_flush,
	.fsync = vf_op_fsync,
	.release = vf_op_release,
	.fallocate = vf_op_fallocate,
	.copy_file_range = vf_op_copy_file_range,
	.opendir = vf_opendir,
	.readdir = vf_readdir,
	.releasedir = vf_releasedir,
	.fsyncdir = vf_fsyncdir,
	.statfs = vf_statfs,
	.getxattr = vf_getxattr,
	.listxattr = vf_listxattr,
	.setxattr = vf_setxattr,
	.removexattr = vf_removexattr,
};

/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vf_io.c - vmfsd's operations on handles: open and create take the host's cluster lock,
 * read and write pass data through, release lets the lock go.
 *
 *   open for writing  -> EX (MW when the file carries user.vmfs.mode=mw); refused EBUSY
 *                        while another host holds it, ENOLCK without vmfs-lockd or quorum
 *   open read-only    -> SH when no host writes; otherwise (or without vmfs-lockd) an
 *                        unlocked "peek": uncached (direct_io), so it sees what the
 *                        writer's host has written
 *   write, truncate, fallocate, fsync, copy_file_range -> admitted by vf_lk_admit right
 *                        before the syscall: EIO once the lock is fenced or the lease is
 *                        too short for the write to land in time
 *   release           -> the backing descriptor is closed (an NFS client flushes there)
 *                        before the lock is let go
 *
 * A file with several hard links is not opened for writing: its lock is its name, and
 * another name would be another lock. Once the lock is held, the name must still lead to
 * the inode opened (ESTALE otherwise: another host renamed it meanwhile).
 *
 * On a shared file system (NFS and the like: v->sync_writes) a writable backing
 * descriptor is O_DSYNC unless the opener asked for O_DIRECT: an admitted write is then on
 * the storage when it returns, so a fence leaves no dirty page behind that this host's
 * client could write back after another host took over. A local file system has one page
 * cache for every host that can reach it (the hosts of a one-machine cluster), so a later
 * write of another host lands on the same page and nothing stale is written back.
 *
 * O_DIRECT: FUSE hands write data over right after the request header, so it is not
 * sector-aligned; a write to a backing file opened O_DIRECT is copied into an aligned
 * per-thread buffer first, and a read lands in one.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <qb/qblog.h>

#include "fs/vf.h"

#define VF_MODE_XATTR "user.vmfs.mode"

/* --- aligned per-thread buffers ------------------------------------------------------------ */

struct tbuf {
	void *mem;
	size_t size;
};

static void tbuf_free(void *p)
{
	struct tbuf *t = p;

	free(t->mem);
	free(t);
}

static pthread_key_t tbuf_key;
static pthread_once_t tbuf_once = PTHREAD_ONCE_INIT;

static void tbuf_key_make(void)
{
	pthread_key_create(&tbuf_key, tbuf_free);
}

/* This thread's buffer of at least size bytes, aligned to align, or NULL. */
static void *tbuf_get(size_t size, size_t align)
{
	struct tbuf *t;

	pthread_once(&tbuf_once, tbuf_key_make);
	t = pthread_getspecific(tbuf_key);
	if (!t) {
		t = calloc(1, sizeof(*t));
		if (!t || pthread_setspecific(tbuf_key, t) != 0) {
			free(t);
			return NULL;
		}
	}
	if (t->size < size) {
		size_t want = (size + align - 1) / align * align;
		void *m;

		if (posix_memalign(&m, align, want) != 0)
			return NULL;
		free(t->mem);
		t->mem = m;
		t->size = want;
	}
	return t->mem;
}

/* --- handles ------------------------------------------------------------------------------- */

static struct vf_fh *fh_of(struct fuse_file_info *fi)
{
	return (struct vf_fh *)(uintptr_t)fi->fh;
}

static struct vf_fh *fh_new(const char *name)
{
	size_t n = strlen(name) + 1;
	struct vf_fh *fh = calloc(1, sizeof(*fh) + n);

	if (fh) {
		fh->fd = -1;
		memcpy(fh->name, name, n);
	}
	return fh;
}

static void fh_free(struct vf *v, struct vf_fh *fh)
{
	if (fh->fd >= 0)
		close(fh->fd);
	if (fh->lk)
		vf_lk_put(v->locks, fh->lk);
	free(fh->vbuf);
	free(fh);
}

static bool wants_write(int flags)
{
	return (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
}

static bool is_mw(const char *proc)
{
	char val[8];
	ssize_t n = getxattr(proc, VF_MODE_XATTR, val, sizeof(val) - 1);

	if (n <= 0)
		return false;
	val[n] = '\0';
	return strcmp(val, "mw") == 0 || strcmp(val, "mw\n") == 0;
}

/*
 * Takes the lock an open of a regular file needs (fh->lk; NULL for a peek). proc is the
 * file's /proc/self/fd path, st its attributes. 0 or -errno, logged.
 */
static int lock_for_open(struct vf *v, fuse_req_t req, struct vf_fh *fh, const char *proc,
			 const struct stat *st, int flags)
{
	char who[600];
	int rc;

	if (!wants_write(flags)) {
		if (vf_lk_take(v->locks, fh->name, VF_WANT_READ, &fh->lk, who, sizeof(who)) < 0) {
			fh->lk = NULL;
			qb_log(LOG_DEBUG, "%s: read-only open unlocked (a peek): %s", fh->name, who);
		}
		return 0;
	}
	if (st->st_nlink > 1) {
		qb_log(LOG_WARNING, "open for writing %s refused (pid %d): it has %ju hard links, "
		       "and vmfs locks a file by its name", fh->name, (int)fuse_req_ctx(req)->pid,
		       (uintmax_t)st->st_nlink);
		return -EMLINK;
	}
	rc = vf_lk_take(v->locks, fh->name, is_mw(proc) ? VF_WANT_MW : VF_WANT_WRITE, &fh->lk,
			who, sizeof(who));
	if (rc) {
		fh->lk = NULL;
		qb_log(LOG_WARNING, "open for writing %s refused (pid %d): %s", fh->name,
		       (int)fuse_req_ctx(req)->pid, who);
	}
	return rc;
}

/* The flags of a backing open: the caller's, less what vmfsd does itself (creation,
 * truncation under the lock), plus O_DSYNC where writes must be synchronous. */
static int backing_flags(const struct vf *v, int flags)
{
	int oflags = (flags & ~(O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC)) | O_CLOEXEC;

	if (v->sync_writes && (flags & O_ACCMODE) != O_RDONLY && !(flags & O_DIRECT))
		oflags |= O_DSYNC;
	return oflags;
}

/* Opens the backing file through its /proc/self/fd path, truncating under the lock when
 * asked. */
static int open_backing(struct vf *v, struct vf_fh *fh, const char *proc, int flags)
{
	int oflags = backing_flags(v, flags);

	fh->fd = open(proc, oflags);
	if (fh->fd < 0)
		return -errno;
	fh->direct = (flags & O_DIRECT) != 0;
	if ((flags & O_TRUNC) && fh->lk)
		return vf_io_truncate(v, fh, 0);
	return 0;
}

static void set_caching(struct fuse_file_info *fi, const struct vf_fh *fh)
{
	/* A peek never trusts the page cache: another host writes the file. An O_DIRECT
	 * handle (QEMU's cache=none) bypasses it anyway; as direct_io its writes also skip
	 * the kernel's buffered-write path, which asks for security.capability (a GETXATTR
	 * round trip) under the inode lock before every write, serialising them. */
	fi->direct_io = fh->lk == NULL || fh->direct || vf_lk_incoming(fh->lk);
	fi->keep_cache = 0;
}

void vf_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct vf *v = vf_of(req);
	struct vf_inode *in = vf_inode(req, ino);
	char name[PATH_MAX], proc[64];
	struct vf_fh *fh;
	struct stat st;
	int rc;

	if (in->kind != VF_BACKING) {
		if (wants_write(fi->flags)) {
			fuse_reply_err(req, EACCES);
			return;
		}
		rc = vf_meta_open(v, in, &fh);
		if (rc) {
			fuse_reply_err(req, -rc);
			return;
		}
		fi->fh = (uintptr_t)fh;
		fi->direct_io = 1;
		if (fuse_reply_open(req, fi) == -ENOENT)
			fh_free(v, fh);
		return;
	}
	if (fstatat(in->fd, "", &st, AT_EMPTY_PATH) < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	rc = vf_inode_name(v, in, NULL, name, sizeof(name));
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	fh = fh_new(name);
	if (!fh) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	vf_inode_proc(in, proc, sizeof(proc));
	rc = S_ISREG(st.st_mode) ? lock_for_open(v, req, fh, proc, &st, fi->flags) : 0;
	if (!rc && fh->lk && vf_inode_check_name(v, in, name) < 0) {
		qb_log(LOG_WARNING, "%s: renamed by another host meanwhile (pid %d)", name,
		       (int)fuse_req_ctx(req)->pid);
		if (wants_write(fi->flags)) {
			rc = -ESTALE;
		} else {
			vf_lk_put(v->locks, fh->lk); /* a reader peeks instead */
			fh->lk = NULL;
		}
	}
	if (!rc)
		rc = open_backing(v, fh, proc, fi->flags);
	if (rc) {
		fh_free(v, fh);
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = (uintptr_t)fh;
	set_caching(fi, fh);
	if (fuse_reply_open(req, fi) == -ENOENT)
		fh_free(v, fh); /* the opener was interrupted */
}

void vf_op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		  struct fuse_file_info *fi)
{
	struct vf *v = vf_of(req);
	struct vf_inode *p = vf_inode(req, parent);
	struct fuse_entry_param e;
	char lname[PATH_MAX], proc[PATH_MAX + 64], who[600];
	struct vf_fh *fh;
	struct stat st;
	int rc, fd;

	if (p->kind != VF_BACKING || (vf_is_root(v, p) && strcmp(name, ".vmfs") == 0)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	rc = vf_inode_name(v, p, name, lname, sizeof(lname));
	fh = rc ? NULL : fh_new(lname);
	if (!fh) {
		fuse_reply_err(req, rc ? -rc : ENOMEM);
		return;
	}
	/* an existing file opened with O_CREAT: the same checks as an open */
	if (fstatat(p->fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (fi->flags & O_EXCL) {
			rc = -EEXIST;
			goto out;
		}
		vf_inode_proc(p, proc, sizeof(proc));
		strcat(proc, "/");
		strcat(proc, name);
		if (S_ISREG(st.st_mode))
			rc = lock_for_open(v, req, fh, proc, &st, fi->flags);
	} else {
		rc = vf_lk_take(v->locks, lname, VF_WANT_WRITE, &fh->lk, who, sizeof(who));
		if (rc) {
			fh->lk = NULL;
			qb_log(LOG_WARNING, "create %s refused (pid %d): %s", lname,
			       (int)fuse_req_ctx(req)->pid, who);
		}
	}
	if (!rc && fh->lk) {
		/* the parent must still be where the lock name says: lname less its last part */
		char *slash = strrchr(lname, '/');

		if (slash)
			*slash = '\0';
		rc = vf_inode_check_name(v, p, slash ? lname : "");
		if (slash)
			*slash = '/';
	}
	if (rc)
		goto out;
	fd = openat(p->fd, name, backing_flags(v, fi->flags) | O_CREAT | (fi->flags & O_EXCL) |
		    O_NOFOLLOW, mode);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	fh->fd = fd;
	fh->direct = (fi->flags & O_DIRECT) != 0;
	if ((fi->flags & O_TRUNC) && fh->lk)
		rc = vf_io_truncate(v, fh, 0);
	if (!rc)
		rc = vf_inode_lookup(v, p, name, &e);
out:
	if (rc) {
		fh_free(v, fh);
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = (uintptr_t)fh;
	set_caching(fi, fh);
	if (fuse_reply_create(req, &e, fi) == -ENOENT) {
		fh_free(v, fh); /* the creator was interrupted: nobody knows the inode */
		vf_inode_forget(v, vf_inode(req, e.ino), 1);
	}
}

void vf_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	fh_free(vf_of(req), fh_of(fi));
	fuse_reply_err(req, 0);
}

/* --- data ---------------------------------------------------------------------------------- */

/* A handle whose lock is fenced fails everything with EIO. */
static bool fenced(const struct vf_fh *fh)
{
	return fh->lk && vf_lk_fenced(fh->lk);
}

void vf_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		struct fuse_file_info *fi)
{
	struct vf *v = vf_of(req);
	struct vf_fh *fh = fh_of(fi);
	ssize_t n;
	void *buf;

	(void)ino;
	if (fh->vbuf || fh->fd < 0) {
		size_t from = (size_t)off < fh->vlen ? (size_t)off : fh->vlen;

		fuse_reply_buf(req, fh->vbuf ? fh->vbuf + from : NULL,
			       size < fh->vlen - from ? size : fh->vlen - from);
		return;
	}
	if (fenced(fh)) {
		fuse_reply_err(req, EIO);
		return;
	}
	if (!fh->direct) {
		struct fuse_bufvec bv = FUSE_BUFVEC_INIT(size);

		bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
		bv.buf[0].fd = fh->fd;
		bv.buf[0].pos = off;
		fuse_reply_data(req, &bv, FUSE_BUF_SPLICE_MOVE);
		return;
	}
	buf = tbuf_get(size, v->align);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	n = pread(fh->fd, buf, size, off);
	if (n < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_buf(req, buf, (size_t)n);
}

/* pwrite of all of buf under the handle's admission. */
static ssize_t write_admitted(struct vf *v, struct vf_fh *fh, const void *buf, size_t len,
			      off_t off)
{
	size_t done = 0;
	ssize_t n = 0;
	int rc = vf_lk_admit(v->locks, fh->lk);

	if (rc)
		return rc;
	while (done < len) {
		n = pwrite(fh->fd, (const char *)buf + done, len - done, off + (off_t)done);
		if (n < 0) {
			n = -errno;
			break;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	vf_lk_done(v->locks, fh->lk);
	return done ? (ssize_t)done : n;
}

void vf_op_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *bufv, off_t off,
		     struct fuse_file_info *fi)
{
	struct vf *v = vf_of(req);
	struct vf_fh *fh = fh_of(fi);
	size_t size = fuse_buf_size(bufv);
	const struct fuse_buf *b = &bufv->buf[bufv->idx];
	const void *src;
	ssize_t n;

	(void)ino;
	if (!fh->lk) {
		fuse_reply_err(req, EBADF);
		return;
	}
	if (!fh->direct && bufv->count == 1 && !(b->flags & FUSE_BUF_IS_FD)) {
		src = (const char *)b->mem + bufv->off;
	} else {
		void *dst = tbuf_get(size, v->align);
		struct fuse_bufvec out = FUSE_BUFVEC_INIT(size);

		if (!dst) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
		out.buf[0].mem = dst;
		n = fuse_buf_copy(&out, bufv, 0);
		if (n < 0) {
			fuse_reply_err(req, (int)-n);
			return;
		}
		size = (size_t)n;
		src = dst;
	}
	n = write_admitted(v, fh, src, size, off);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_write(req, (size_t)n);
}

int vf_io_truncate(struct vf *v, struct vf_fh *fh, off_t size)
{
	int rc;

	if (!fh->lk)
		return -EBADF;
	if (strcmp(vf_lk_mode(fh->lk), "ex") != 0) {
		qb_log(LOG_WARNING, "truncate %s refused: it is held %s (shared by several "
		       "writer hosts); a change of its size needs ex", fh->name,
		       vf_lk_mode(fh->lk));
		return -EBUSY;
	}
	rc = vf_lk_admit(v->locks, fh->lk);
	if (rc)
		return rc;
	rc = ftruncate(fh->fd, size) < 0 ? -errno : 0;
	vf_lk_done(v->locks, fh->lk);
	return rc;
}

void vf_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct vf_fh *fh = fh_of(fi);
	int fd;

	(void)ino;
	if (fh->fd < 0 || !fh->lk) {
		fuse_reply_err(req, 0);
		return;
	}
	if (fenced(fh)) {
		fuse_reply_err(req, EIO);
		return;
	}
	/* a close of a duplicate makes an NFS client write back, as close(2) would */
	fd = dup(fh->fd);
	fuse_reply_err(req, fd < 0 ? errno : close(fd) < 0 ? errno : 0);
}

void vf_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct vf *v = vf_of(req);
	struct vf_fh *fh = fh_of(fi);
	int rc;

	(void)ino;
	if (fh->fd < 0) {
		fuse_reply_err(req, 0);
		return;
	}
	if (!fh->lk) {
		fuse_reply_err(req, (datasync ? fdatasync(fh->fd) : fsync(fh->fd)) < 0 ? errno : 0);
		return;
	}
	rc = vf_lk_admit(v->locks, fh->lk);
	if (rc == 0) {
		rc = (datasync ? fdatasync(fh->fd) : fsync(fh->fd)) < 0 ? -errno : 0;
		vf_lk_done(v->locks, fh->lk);
	}
	fuse_reply_err(req, -rc);
}

void vf_op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
		     struct fuse_file_info *fi)
{
	struct vf *v = vf_of(req);
	struct vf_fh *fh = fh_of(fi);
	int rc;

	(void)ino;
	if (!fh->lk) {
		fuse_reply_err(req, EBADF);
		return;
	}
	rc = vf_lk_admit(v->locks, fh->lk);
	if (rc == 0) {
		rc = fallocate(fh->fd, mode, off, len) < 0 ? -errno : 0;
		vf_lk_done(v->locks, fh->lk);
	}
	fuse_reply_err(req, -rc);
}

void vf_op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			   struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,
			   struct fuse_file_info *fi_out, size_t len, int flags)
{
	struct vf *v = vf_of(req);
	struct vf_fh *in = fh_of(fi_in), *out = fh_of(fi_out);
	ssize_t n;
	int rc;

	(void)ino_in;
	(void)ino_out;
	if (!out->lk || in->fd < 0) {
		fuse_reply_err(req, EBADF);
		return;
	}
	if (fenced(in)) {
		fuse_reply_err(req, EIO);
		return;
	}
	rc = vf_lk_admit(v->locks, out->lk);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	n = copy_file_range(in->fd, &off_in, out->fd, &off_out, len, (unsigned)flags);
	rc = n < 0 ? -errno : 0;
	vf_lk_done(v->locks, out->lk);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_write(req, (size_t)n);
}

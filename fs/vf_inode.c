/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vf_inode.c - vmfsd's inode table: one O_PATH descriptor per backing object the kernel
 * knows, found by (st_dev, st_ino) so that hard links and repeated lookups share one inode,
 * freed when the kernel forgets it (libfuse's passthrough_ll does the same). The FUSE inode
 * number is the address of struct vf_inode; FUSE_ROOT_ID is the datastore's root.
 *
 * Lock names come from the kernel's own idea of where a descriptor lives
 * (/proc/self/fd/N), so a rename by any host is seen without a path cache of ours.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs/vf.h"

bool vf_is_root(const struct vf *v, const struct vf_inode *in)
{
	return in == &v->root;
}

struct vf_inode *vf_inode(fuse_req_t req, fuse_ino_t ino)
{
	struct vf *v = vf_of(req);

	if (ino == FUSE_ROOT_ID)
		return &v->root;
	return (struct vf_inode *)(uintptr_t)ino;
}

void vf_inode_proc(const struct vf_inode *in, char *buf, size_t len)
{
	snprintf(buf, len, "/proc/self/fd/%d", in->fd);
}

int vf_inode_init(struct vf *v)
{
	struct stat st;

	v->root.fd = open(v->ds, O_PATH | O_DIRECTORY);
	if (v->root.fd < 0)
		return -errno;
	if (fstat(v->root.fd, &st) < 0)
		return -errno;
	v->root.dev = st.st_dev;
	v->root.ino = st.st_ino;
	v->root.nlookup = 2; /* never forgotten */
	v->inodes = qb_hashtable_create(4096);
	if (!v->inodes)
		return -ENOMEM;
	pthread_mutex_init(&v->imu, NULL);
	return 0;
}

void vf_inode_fini(struct vf *v)
{
	qb_map_iter_t *it = qb_map_iter_create(v->inodes);
	void *val;

	while (it && qb_map_iter_next(it, &val)) {
		struct vf_inode *in = val;

		close(in->fd);
		free(in);
	}
	qb_map_iter_free(it);
	qb_map_destroy(v->inodes);
	close(v->root.fd);
}

static void fill_entry(struct vf *v, struct vf_inode *in, const struct stat *st,
		       struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = (uintptr_t)in;
	e->attr = *st;
	e->attr_timeout = v->attr_timeout;
	e->entry_timeout = v->attr_timeout;
}

int vf_inode_lookup(struct vf *v, struct vf_inode *parent, const char *name,
		    struct fuse_entry_param *e)
{
	struct vf_inode *in;
	struct stat st;
	char key[48];
	int fd, err;

	if (parent->kind != VF_BACKING)
		return -ENOENT;
	fd = openat(parent->fd, name, O_PATH | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	if (fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	snprintf(key, sizeof(key), "%lx:%lx", (unsigned long)st.st_dev,
		 (unsigned long)st.st_ino);
	pthread_mutex_lock(&v->imu);
	in = (st.st_dev == v->root.dev && st.st_ino == v->root.ino) ? &v->root :
	     qb_map_get(v->inodes, key);
	if (in) {
		in->nlookup++;
		pthread_mutex_unlock(&v->imu);
		close(fd);
	} else {
		in = calloc(1, sizeof(*in));
		if (!in) {
			pthread_mutex_unlock(&v->imu);
			close(fd);
			return -ENOMEM;
		}
		in->kind = VF_BACKING;
		in->fd = fd;
		in->dev = st.st_dev;
		in->ino = st.st_ino;
		in->nlookup = 1;
		memcpy(in->key, key, sizeof(key));
		qb_map_put(v->inodes, in->key, in);
		pthread_mutex_unlock(&v->imu);
	}
	fill_entry(v, in, &st, e);
	return 0;
}

void vf_inode_forget(struct vf *v, struct vf_inode *in, uint64_t n)
{
	bool gone;

	if (in->kind != VF_BACKING || in == &v->root)
		return;
	pthread_mutex_lock(&v->imu);
	in->nlookup = in->nlookup > n ? in->nlookup - n : 0;
	gone = in->nlookup == 0;
	if (gone)
		qb_map_rm(v->inodes, in->key);
	pthread_mutex_unlock(&v->imu);
	if (gone) {
		close(in->fd);
		free(in);
	}
}

int vf_inode_check_name(struct vf *v, const struct vf_inode *in, const char *name)
{
	struct stat st;

	if (in == &v->root)
		return 0;
	if (fstatat(v->root.fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_dev != in->dev ||
	    st.st_ino != in->ino)
		return -ESTALE;
	return 0;
}

int vf_inode_name(struct vf *v, struct vf_inode *in, const char *name, char *out, size_t len)
{
	char proc[64], target[PATH_MAX + 1];
	const char *rel;
	struct stat st;
	ssize_t n;
	int w;

	if (in->kind != VF_BACKING)
		return -EPERM;
	if (in == &v->root) {
		rel = "";
	} else {
		vf_inode_proc(in, proc, sizeof(proc));
		n = readlink(proc, target, sizeof(target) - 1);
		if (n < 0)
			return -errno;
		target[n] = '\0';
		if (strncmp(target, v->ds, v->dslen) != 0 || target[v->dslen] != '/')
			return -EXDEV;
		if (fstatat(in->fd, "", &st, AT_EMPTY_PATH) == 0 && st.st_nlink == 0 &&
		    !S_ISDIR(st.st_mode))
			return -ESTALE;
		rel = target + v->dslen + 1;
	}
	if (name)
		w = snprintf(out, len, "%s%s%s", rel, rel[0] ? "/" : "", name);
	else
		w = snprintf(out, len, "%s", rel);
	return w < 0 || (size_t)w >= len ? -ENAMETOOLONG : 0;
}

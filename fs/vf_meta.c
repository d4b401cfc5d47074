/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vf_meta.c - what vmfsd shows beyond the datastore's files: the read-only directory
 * /vmfs/.vmfs (which hides the lock volume) with `members` (vmfs-lockd's status, as
 * `vmfsadm status --json` prints it) and `locks` (`vmfsadm locks --json`), rendered when
 * opened; and the xattr user.vmfs.lock of a file: who holds it, in which mode, under which
 * generation and since when, one holder per `;`-separated part, or "free".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fs/vf.h"

#define VINO_BASE 0x766d6673000ull /* st_ino of the virtual inodes ("vmfs") */

void vf_meta_stat(const struct vf *v, const struct vf_inode *in, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = VINO_BASE + in->kind;
	st->st_dev = v->root.dev;
	if (in->kind == VF_VDIR) {
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
	} else {
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
	}
	clock_gettime(CLOCK_REALTIME, &st->st_mtim);
	st->st_atim = st->st_ctim = st->st_mtim;
}

static void entry(struct vf *v, struct vf_inode *in, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = (uintptr_t)in;
	vf_meta_stat(v, in, &e->attr);
	e->attr_timeout = e->entry_timeout = v->attr_timeout;
}

bool vf_meta_lookup(struct vf *v, struct vf_inode *parent, const char *name,
		    struct fuse_entry_param *e)
{
	if (vf_is_root(v, parent) && strcmp(name, ".vmfs") == 0) {
		entry(v, &v->vdir, e);
		return true;
	}
	if (parent->kind == VF_BACKING)
		return false;
	if (parent->kind == VF_VDIR && strcmp(name, "members") == 0)
		entry(v, &v->vmembers, e);
	else if (parent->kind == VF_VDIR && strcmp(name, "locks") == 0)
		entry(v, &v->vlocks, e);
	else
		memset(e, 0, sizeof(*e)); /* no such name: a negative entry */
	return true;
}

void vf_meta_readdir(fuse_req_t req, struct vf_inode *in, size_t size, off_t off)
{
	static const char *const names[] = { ".", "..", "members", "locks" };
	size_t n = in->kind == VF_VDIR ? 4 : 0, used = 0;
	char buf[512];

	for (size_t i = (size_t)off; i < n; i++) {
		struct stat st = { .st_ino = VINO_BASE + (i < 2 ? VF_VDIR : VF_VMEMBERS + i - 2),
				   .st_mode = i < 2 ? S_IFDIR : S_IFREG };
		size_t len = fuse_add_direntry(req, buf + used, sizeof(buf) - used, names[i], &st,
					       (off_t)i + 1);

		if (len > sizeof(buf) - used || used + len > size)
			break;
		used += len;
	}
	fuse_reply_buf(req, buf, used);
}

int vf_meta_open(struct vf *v, struct vf_inode *in, struct vf_fh **out)
{
	json_t *j = NULL;
	struct vf_fh *fh;
	char *text;
	int rc;

	if (in->kind == VF_VDIR)
		return -EISDIR;
	rc = vf_locks_query(v->locks, in->kind == VF_VMEMBERS ? "status" : "locks", NULL, &j);
	if (rc)
		return rc;
	text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(j);
	fh = text ? calloc(1, sizeof(*fh) + 1) : NULL;
	if (!fh) {
		free(text);
		return -ENOMEM;
	}
	fh->fd = -1;
	fh->vlen = strlen(text) + 1;
	text[fh->vlen - 1] = '\n'; /* the NUL becomes the last line's end */
	fh->vbuf = text;
	*out = fh;
	return 0;
}

static void iso_time(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms <= 0 || !gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, len, "unknown");
}

/* "mode=ex host=1 name=h1 generation=3:17 since=2026-11-27T14:02:11Z[ orphaned]" per holder */
static int format_holders(json_t *lock, char *buf, size_t len)
{
	json_t *holders = json_object_get(lock, "holders"), *h, *ho;
	size_t i, used = 0;
	int w;

	json_array_foreach(holders, i, h) {
		json_t *gen = json_object_get(h, "gen");
		char since[32];

		iso_time(json_integer_value(json_object_get(h, "since_ms")), since, sizeof(since));
		w = snprintf(buf + used, len - used,
			     "%smode=%s host=%" JSON_INTEGER_FORMAT " name=%s generation=%"
			     JSON_INTEGER_FORMAT ":%" JSON_INTEGER_FORMAT " since=%s%s",
			     i ? "; " : "",
			     json_string_value(json_object_get(h, "mode")) ?: "?",
			     json_integer_value(json_object_get(h, "host")),
			     json_string_value(json_object_get(h, "name")) ?: "?",
			     json_integer_value(json_array_get(gen, 0)),
			     json_integer_value(json_array_get(gen, 1)), since,
			     json_is_true(json_object_get(h, "orphan")) ? " orphaned" : "");
		if (w < 0 || (size_t)w >= len - used)
			return -ERANGE;
		used += (size_t)w;
	}
	ho = json_object_get(lock, "handoff");
	if (ho) {
		w = snprintf(buf + used, len - used, "; handoff=%" JSON_INTEGER_FORMAT " state=%s "
			     "to=%" JSON_INTEGER_FORMAT,
			     json_integer_value(json_object_get(ho, "id")),
			     json_string_value(json_object_get(ho, "state")) ?: "?",
			     json_integer_value(json_object_get(ho, "to")));
		if (w < 0 || (size_t)w >= len - used)
			return -ERANGE;
	}
	return 0;
}

int vf_meta_lock_xattr(struct vf *v, struct vf_inode *in, char *buf, size_t len)
{
	char name[PATH_MAX];
	json_t *arr = NULL, *o;
	size_t i;
	int rc = vf_inode_name(v, in, NULL, name, sizeof(name));

	if (rc)
		return rc;
	rc = vf_locks_query(v->locks, "locks", name, &arr);
	if (rc)
		return rc;
	snprintf(buf, len, "free");
	json_array_foreach(arr, i, o) {
		const char *p = json_string_value(json_object_get(o, "path"));

		if (p && strcmp(p, name) == 0) {
			rc = format_holders(o, buf, len);
			break;
		}
	}
	json_decref(arr);
	return rc;
}

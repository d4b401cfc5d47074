// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * live.c - helpers of vmfsadm's live commands (contract: live.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tools/vmfsadm/live.h"

int live_connect(const struct cmd_entry *e, const struct cmd_args *a, struct vmfslock **c)
{
	char err[VMFS_CONF_ERR_MAX + 256];
	int rc = vmfslock_connect(a->opt['c'], c, err, sizeof(err));

	if (rc == 0)
		return 0;
	cmd_error(e, "%s", err);
	return rc == -ENOTCONN || rc == -ETIMEDOUT ? LIVE_EXIT_UNAVAILABLE : CMD_EXIT_FAIL;
}

int live_name(const struct cmd_entry *e, const struct vmfslock *c, const char *path, char *out,
	      size_t len)
{
	const struct vmfs_conf *conf = vmfslock_conf(c);
	int rc = vmfslock_name(conf, path, out, len);

	if (rc == -EXDEV)
		cmd_error(e, "%s is neither under the mount point %s nor under the datastore %s",
			  path, conf->mountpoint, conf->datastore);
	else if (rc < 0)
		cmd_error(e, "'%s' is not a lock name", path);
	return rc < 0 ? -EINVAL : 0;
}

int live_fail(const struct cmd_entry *e, int rc, const char *what)
{
	switch (rc) {
	case -ENOTCONN:
		cmd_error(e, "%s: no quorum (this host's partition is not quorate, or it lost "
			  "corosync): nothing can be locked", what);
		return LIVE_EXIT_UNAVAILABLE;
	case -ECONNRESET:
		cmd_error(e, "%s: vmfs-lockd went away", what);
		return LIVE_EXIT_UNAVAILABLE;
	case -ETIMEDOUT:
		cmd_error(e, "%s: vmfs-lockd did not answer within 10 s (hung or stopped?)", what);
		return LIVE_EXIT_UNAVAILABLE;
	case -EAGAIN:
		cmd_error(e, "%s: the cluster is synchronising or recovering a host; try again",
			  what);
		return LIVE_EXIT_TEMPFAIL;
	case -EPERM:
		cmd_error(e, "%s: permission denied (needs root or group vmfs)", what);
		return LIVE_EXIT_NOPERM;
	case -ENOLINK:
		cmd_error(e, "%s: this host was fenced meanwhile", what);
		return CMD_EXIT_FAIL;
	default:
		cmd_error(e, "%s: %s", what, strerror(-rc));
		return CMD_EXIT_FAIL;
	}
}

int live_query(const struct cmd_entry *e, struct vmfslock *c, const char *what,
	       const char *path, json_t **out)
{
	int rc = vmfslock_query(c, what, path, out);

	return rc < 0 ? live_fail(e, rc, what) : 0;
}

int live_fetch(const struct cmd_entry *e, const struct cmd_args *a, const char *what,
	       const char *path, json_t **out)
{
	char name[VMFSLOCK_NAME_MAX + 1];
	struct vmfslock *c;
	int rc = live_connect(e, a, &c);

	if (rc)
		return rc;
	if (path && live_name(e, c, path, name, sizeof(name)) < 0) {
		vmfslock_close(c);
		return CMD_EXIT_USAGE;
	}
	rc = live_query(e, c, what, path ? name : NULL, out);
	vmfslock_close(c);
	if (rc || !a->opt['j'])
		return rc;
	live_print_json(*out);
	json_decref(*out);
	return -1;
}

void live_print_json(json_t *v)
{
	json_dumpf(v, stdout, JSON_INDENT(2));
	fputc('\n', stdout);
}

const char *live_age(long long ms, char *buf, size_t len)
{
	snprintf(buf, len, "%lld.%01lld s", ms / 1000, (ms % 1000) / 100);
	return buf;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qmp.h - a minimal QMP client (QEMU Machine Protocol over a unix socket, jansson):
 * connect and negotiate, run one command and get its "return", skipping events.
 * Calls return 0 or -errno; err gets QEMU's error description or the reason.
 */
#ifndef VMFS_QMP_H
#define VMFS_QMP_H

#include <stddef.h>

#include <jansson.h>

struct qmp;

/* Connects to path (waiting up to wait_ms for it to appear) and leaves capabilities
 * negotiation mode. */
int qmp_open(const char *path, int wait_ms, struct qmp **out, char *err, size_t errlen);
void qmp_close(struct qmp *q);
/* Runs cmd with args (taken; may be NULL); *ret (may be NULL) gets "return" (decref it).
 * -EPROTO with err for a QMP error, -ECONNRESET when QEMU went away. */
int qmp_call(struct qmp *q, const char *cmd, json_t *args, json_t **ret, char *err,
	     size_t errlen);

#endif

/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ho_check.h - `vmfs-handoff check`: the requirements of a live migration of the VM whose
 * files are paths (and, with qmp, whose QEMU answers there) from this host to `to`, checked
 * before it starts. Prints one line per check ("ok   ..." or "FAIL ..."); returns the
 * number of failed checks, or -errno when vmfs-lockd could not be asked.
 */
#ifndef VMFS_HO_CHECK_H
#define VMFS_HO_CHECK_H

#include "lockd/client/vmfslock.h"

int ho_check(struct vmfslock *c, const char *to, const char *qmp, char **paths, int n);

#endif

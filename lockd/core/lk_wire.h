/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lk_wire.h - the lock messages on the wire (corosync CPG): encode and decode.
 *
 * Every agreed message crosses the network as one little-endian record: a fixed header
 * (magic "VMLK", wire version, type, sender, incarnation, request id, wall clock) and a
 * body per type, strings as a 16-bit length and bytes, counts before arrays. A SNAPSHOT
 * carries the whole replica. LK_MSG_CONFCHG never travels (each member makes its own).
 *
 * Decoding trusts nothing: every length is checked against what remains, every enum and
 * host id against its range, paths against LK_PATH_MAX and NUL bytes, a snapshot's locks
 * against their sort order and the replica's invariants. A record that fails any check
 * is refused as a whole with -EBADMSG (or -EPROTO for another wire version).
 */
#ifndef VMFS_LK_WIRE_H
#define VMFS_LK_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "lockd/core/lk_core.h"

#define LK_WIRE_MAGIC 0x4b4c4d56u /* "VMLK" read as little-endian bytes */
#define LK_WIRE_VERSION 2u /* 2: names form a tree (lk_apply.c); 1 decided otherwise */

/* Encodes m into a new buffer (*buf, *len; free() it). 0, -EINVAL for a CONFCHG or a
 * path longer than LK_PATH_MAX, -ENOMEM; *buf untouched on failure. */
int lk_wire_encode(const struct lk_msg *m, void **buf, size_t *len);

/*
 * Decodes len bytes into a message owned by the caller (lk_msg_free). A snapshot's
 * replica is built for host self with rules. 0, or -EBADMSG (malformed: *why says what,
 * a static string), -EPROTO (other wire version), -ENOMEM; *out untouched on failure.
 */
int lk_wire_decode(const void *buf, size_t len, lk_host_t self, const struct lk_rules *rules,
		   struct lk_msg **out, const char **why);

#endif

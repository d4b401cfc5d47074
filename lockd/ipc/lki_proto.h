/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lki_proto.h - the local protocol between vmfs-lockd and its clients (libvmfslock),
 * over libqb IPC (abstract unix socket + shared memory, per network namespace).
 *
 * Request:  qb_ipc_request_header { id = LKI_REQUEST, size } + one JSON object
 *           { "op": OP, "seq": N, ... } of at most LKI_MAX_REQUEST bytes.
 * Response: qb_ipc_response_header { id = LKI_RESPONSE, size, error = 0 or -errno }
 *           + one JSON object { "seq": N, ... }. Every request gets exactly one, in order
 *           per connection; an acquire that waits is answered when it is granted, refused
 *           or its wait runs out.
 * Event:    qb_ipc_response_header { id = LKI_EVENT, ... } + { "event": E, ... } on the
 *           event channel, for connections that asked with op "events":
 *             "fenced"  { "why" }           every lock of this host is gone
 *             "revoked" { "path" }          this lock was taken away
 *             "lease"   { "valid_until_ms" } CLOCK_MONOTONIC ms; 0: no lease
 *           with "events" { drain: true } also (handoffs, lki_ho.c):
 *             "drain"     { id, path }       stop writing path, finish and flush what is
 *                                            in flight, then op "drained" { id, path }
 *             "resume"    { id, path }       that commit did not happen: writes go on
 *             "committed" { id, path, gen }  an incoming path is this connection's now
 *           "revoked" and the handoff events go to every subscribed connection of a
 *           process that holds the path on any of its connections.
 *
 * Ops (W = needs root or group vmfs; the rest anyone may ask):
 *   acquire W { path, mode: "ex"|"sh"|"mw", wait_ms }  -> { gen: [epoch, counter] }
 *             -EBUSY: { holder, holder_mode, holder_gen, holder_name }; without
                     holder_mode, holder holds a name above or below path
 *             -ENOTCONN no quorum; -EAGAIN cluster not ready (after wait_ms)
 *   release W { path }            -ENOENT when this connection does not hold it
 *   break   W { path }            -EBUSY while the holder's lease lives
 *             with "incoming": true, -EINPROGRESS { handoff } for a file on its way here
 *             by a prepared handoff: held as incoming until "committed" or "revoked"
 *   status, hosts, locks { path? }, events { drain? }
 *   ho_prepare W { to: node id or name, paths: [...] }  -> { id, files }; -ENXIO no such
 *             host, -EHOSTUNREACH not a live member, -ENOENT not held here, -EUSERS held
 *             by another host too or in a handoff, -EINVAL; every refusal with { why }
 *   ho_commit W { id }   drains this host's writers, then commits; answered once durable
 *   ho_abort  W { id }   ho_status { id } -> { result: lkd_view_handoff }
 *   drained   W { id, path }
 * A malformed or oversized request ends that connection (logged); nothing else changes.
 * libqb delivers the number of bytes the header's size field gives: bytes sent beyond
 * it are never read, and a size larger than what was sent makes the JSON invalid.
 */
#ifndef VMFS_LKI_PROTO_H
#define VMFS_LKI_PROTO_H

#define LKI_REQUEST 1
#define LKI_RESPONSE 2
#define LKI_EVENT 3
#define LKI_MAX_REQUEST 4096u
#define LKI_MAX_MSG (1024u * 1024u) /* libqb buffer size; a response never exceeds it */

#endif

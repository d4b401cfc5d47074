/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lk_timing.h - every timeout of the lock protocol, derived from three configured values.
 *
 * Configured (superblock defaults, vmfs.conf may override per host; hosts warn when they
 * disagree):
 *   hb_interval   1000 ms   a host renews its disk heartbeat this often
 *   host_dead    10000 ms   an observer declares a host dead when its heartbeat counter
 *                           stayed unchanged this long on the OBSERVER's monotonic clock
 *   io_timeout    2000 ms   one sector write either lands within this or counts as failed
 *
 * Derived:
 *   skew     = max(LK_SKEW_MIN_MS, host_dead / LK_SKEW_DIVISOR)     (50 ms by default)
 *              covers the rate difference of two monotonic clocks over host_dead: up
 *              to 0.5% between host and observer (each within 2500 ppm of real time;
 *              a crystal is within 100 ppm, NTP-disciplined clocks far better)
 *   deadline = t_s + host_dead - io_timeout - skew
 *              t_s = when this host STARTED its last renewal write that succeeded (an
 *              observer may see the write at once, so the start counts)
 *   admit a write (data, lock table, heartbeat) only while now + io_timeout < deadline,
 *              so every write of this host lands before t_s + host_dead - skew
 *   expiry   = first_seen + host_dead on the observer's clock, first_seen being when the
 *              observer's read that returned the current counter COMPLETED
 *   self-fence at deadline: every locked handle fails with EIO; the host restarts as a
 *              new incarnation
 *
 * Why it is safe: first_seen >= t_s, so the observer acts (fences the slot, clears the
 * table, frees the locks) no earlier than host_dead after t_s by its clock, while every
 * write of the host landed within host_dead - skew after t_s by the host's clock; skew
 * absorbs the difference between the two clocks' rates over that span.
 *
 * Lower bounds (lk_timing_check): a host whose disk answers must keep its lease, so a
 * renewal started one interval after t_s must complete (io_timeout) while writes are
 * still admitted, with one renewal to spare:
 *   host_dead >= 2 * hb_interval + 3 * io_timeout + skew      (8050 ms for the defaults)
 *   hb_interval >= LK_HB_INTERVAL_MIN_MS, io_timeout >= LK_IO_TIMEOUT_MIN_MS
 *
 * Worked failure timeline (defaults), host A holds vm1/disk.img, its storage path dies:
 *   t=0.0   A starts renewal n (succeeds); deadline = 0 + 10 - 2 - 0.05 = 7.95 s
 *   t=1.0   renewal n+1 starts, never completes (fails at 3.0)
 *   t=5.95  A admits its last write (5.95 + 2 < 7.95 fails from here on)
 *   t=7.95  A's deadline: self-fence, handles fail with EIO; every write landed by 7.95
 *   t=0.0+  observer B's read completes and returns counter n: first_seen >= 0.0
 *           (B's lockd reads every slot each hb_interval and hands what it saw to
 *           its agent, lk_agent_heartbeat_seen)
 *   t=7.95  A leaves the group (it fenced itself); B's recovery watch of A starts
 *           from that observation
 *   t=10.0  B (coordinator) declares A dead, marks A's slot fenced, clears A's table,
 *           multicasts RECOVERED; vm1/disk.img can be locked elsewhere from ~10.0-11.0 s
 *           (a coordinator that took over after A left starts from its own first read
 *           instead, see below: ~18 s here)
 *
 * The same arithmetic covers a paused host (SIGSTOP): it admits nothing once its clock
 * says the deadline is near, and a write admitted just before the pause lands within
 * io_timeout, before the deadline.
 *
 * The recovery coordinator's own writes (fencing the dead host's heartbeat, clearing its
 * table) must land before the dead host's next incarnation writes there. One coordinator
 * keeps at most one fence in flight per slot and multicasts RECOVERED only after it
 * landed. A coordinator that leaves (crash, partition) with a fence in flight: that
 * write lands within io_timeout of its issue, which precedes the membership change by
 * at most the token timeout; the next coordinator starts observing from scratch and
 * waits host_dead. So host_dead > token timeout + io_timeout is required as well
 * (10 s > 3.65 s + 2 s with corosync's default token).
 */
#ifndef VMFS_LK_TIMING_H
#define VMFS_LK_TIMING_H

#include <stdbool.h>
#include <stdint.h>

#define LK_HB_INTERVAL_MS 1000u
#define LK_HOST_DEAD_MS 10000u
#define LK_IO_TIMEOUT_MS 2000u
#define LK_SKEW_MIN_MS 10u
#define LK_SKEW_DIVISOR 200u
#define LK_HB_INTERVAL_MIN_MS 100u
#define LK_IO_TIMEOUT_MIN_MS 100u

struct lk_timing {
	uint32_t hb_interval_ms;
	uint32_t host_dead_ms;
	uint32_t io_timeout_ms;
};

static inline uint32_t lk_skew_ms(const struct lk_timing *t)
{
	uint32_t s = t->host_dead_ms / LK_SKEW_DIVISOR;

	return s > LK_SKEW_MIN_MS ? s : LK_SKEW_MIN_MS;
}

/* Monotonic milliseconds; the deadline after a renewal that started at t_s. */
static inline int64_t lk_deadline(const struct lk_timing *t, int64_t t_s)
{
	return t_s + t->host_dead_ms - t->io_timeout_ms - lk_skew_ms(t);
}

/* May a write be issued now, given the current deadline? */
static inline bool lk_write_admitted(const struct lk_timing *t, int64_t now, int64_t deadline)
{
	return now + (int64_t)t->io_timeout_ms < deadline;
}

/* NULL when t respects the lower bounds above, else which one it breaks. */
const char *lk_timing_check(const struct lk_timing *t);

#endif

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# check-lockd-failover.sh - a lock held by a host whose daemon dies moves to another host
# only once the dead host's lease has expired, and soon after. 3 hosts, default timing
# (hb_interval 1 s, host_dead 10 s, io_timeout 2 s; corosync token 1000, 1650 ms at runtime).
#
# 1. kill -9 of vmfs-lockd on host 1 while it holds vm1/disk.img EX (a background
#    `vmfsadm lock -v vm1/disk.img -- sleep 600`):
#    - host 1's vmfsadm lock exits 70 (its lockd went away: the lock is lost);
#    - host 2, trying `vmfsadm lock vm1/disk.img -- true` every 0.2 s, does not get the lock
#      before host_dead - 2.5 s after the kill (host 1's lease may still be valid before:
#      deadline = t_s + host_dead - io_timeout - skew, t_s up to hb_interval + io before the
#      kill) and gets it within host_dead + detection + 2 s (detection: when host 2
#      sees host 1 go, counted as at least 3.5 s);
#    - the failover time (kill -> host 2's grant) is printed.
# 2. lockd restarted on host 1: it becomes a member again with grants open, as a newer
#    incarnation, holding nothing.
# 3. kill -9 of corosync on host 1 while it holds vm1/disk.img again:
#    - host 1's vmfsadm lock exits 70 with "lock lost" within 1.5 s of the kill;
#    - host 2 gets the lock within the same bounds as in 1;
#    - host 1's lockd stays running and answers status: not connected, lease none;
# 4. corosync restarted on host 1: its lockd reconnects by itself (a member with grants open).
#
# Run as root with top_builddir/top_srcdir set; exit 77 means skipped.

set -euo pipefail

: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
# shellcheck source=tests/cluster/lib.sh
source "$top_srcdir/tests/cluster/lib.sh"
# shellcheck source=tests/cluster/lockd.sh
source "$top_srcdir/tests/cluster/lockd.sh"
lt_init # LT_LOW, LT_HIGH, LT_CAP: the failover window of host_dead (10 s, CL_DEAD unset)

# --- helpers ---------------------------------------------------------------------------

# probe_other I PATH OUT: in the background, time `vmfsadm lock PATH -- true` on host I
# (a file nobody holds) into OUT as "RC SECONDS". Informational: how long a dead host's
# recovery keeps unrelated grants waiting.
probe_other() {
	(
		ta=$(lt_now) rc=0
		cl_on "$1" timeout -k 1 20 "$ADM" lock "$2" -- true >/dev/null 2>&1 || rc=$?
		echo "$rc $(lt_since "$ta")" >"$3"
	) &
}

# kill_h1 NAME TAG: SIGKILL of host 1's NAME (lockd, corosync) at T_KILL; host 2 watches
# its members drop into $CL_DIR/det-TAG
kill_h1() {
	T_KILL=$(lt_now)
	cl_kill 1 "$1" KILL
	cl_log "h1: $1 killed (SIGKILL)"
	lt_watch_members 2 2 "$CL_DIR/det-$2"
}

# take_over WHAT TAG GEN0: 0.5 s on, host 3 probes an unrelated file (probe_other, a
# FIGURE) while host 2 takes vm1/disk.img over (lt_failover: a FIGURE, the bounds) with a
# generation above GEN0, kept in GEN
take_over() {
	local what=$1 tag=$2 rc d
	sleep 0.5
	probe_other 3 "vm9/other-$tag.img" "$CL_DIR/probe-$tag"
	lt_failover "$what" kill 2 1 vm1/disk.img "$T_KILL" "$CL_DIR/det-$tag" \
		"$what -9: failover after %s s; h2 saw h1 go after %s s (%s)"
	GEN=$(lt_gen_of <<<"$POLL_OUT")
	lt_gen_gt "$GEN" "$3" || cl_fail "$what: h2's generation $GEN is not above h1's $3"
	cl_wait_for 10 test -s "$CL_DIR/probe-$tag" && read -r rc d <"$CL_DIR/probe-$tag" &&
		cl_log "FIGURE $what -9: h3's lock of an unrelated file, 0.5 s after the kill: rc $rc after $d s" || true
}

# lost_lock WHAT: host 1's holder hold1 must have exited 70 (lock lost) within 5 s of the
# kill; sets LOST (seconds from T_KILL to its exit) and logs it as a FIGURE of WHAT
lost_lock() {
	local rc t_exit
	cl_wait_for 5 test -s "$CL_DIR/hold1.rc" || cl_fail "$1: h1's vmfsadm lock still runs 5 s after the kill"
	read -r rc t_exit <"$CL_DIR/hold1.rc"
	LOST=$(lt_since "$T_KILL" "$t_exit")
	cl_log "FIGURE $1 -9: h1's vmfsadm lock exited $rc after $LOST s"
	[[ $rc == 70 ]] || cl_fail "$1: h1's vmfsadm lock exited $rc, not 70: $(lt_holder_out hold1)"
}

# --- cluster ---------------------------------------------------------------------------

cl_setup 3
lt_start_cluster 30 1 2 3
cl_log "cluster ready (host_dead ${LT_HOST_DEAD}s: failover window [$LT_LOW, $LT_HIGH] s)"

# --- 1. kill -9 of lockd ----------------------------------------------------------------

lt_hold 1 hold1 vm1/disk.img ex sleep 600
gen1=$(lt_gen_of <"$CL_DIR/hold1.log")
inc1=$(lt_stq 1 's["incarnation"]')
cl_log "h1 holds vm1/disk.img, generation $gen1, incarnation $inc1"

kill_h1 lockd a
take_over "lockd kill" a "$gen1"
gen2=$GEN
lost_lock "lockd kill"

# --- 2. lockd restarted on host 1 -------------------------------------------------------

t0=$(lt_now)
cl_start_lockd 1
lt_wait_ready "after lockd restart" 30 3 1 2 3
cl_log "FIGURE lockd restart: h1 back with grants open after $(lt_since "$t0") s"
lt_new_incarnation "after lockd restart" 1 "$inc1"

# --- 3. kill -9 of corosync -------------------------------------------------------------

lt_hold 1 hold1 vm1/disk.img ex sleep 600
gen3=$(lt_gen_of <"$CL_DIR/hold1.log")
lt_gen_gt "$gen3" "$gen2" || cl_fail "h1's new generation $gen3 is not above $gen2"
cl_log "h1 holds vm1/disk.img again, generation $gen3"

kill_h1 corosync b
# host 1's holder must go at once: without corosync there is no agreed order
lost_lock "corosync kill"
grep -q "lock lost" "$CL_DIR/hold1.log" || cl_fail "corosync kill: h1's vmfsadm lock did not say 'lock lost': $(lt_holder_out hold1)"
lt_fle "$LOST" 1.5 || cl_fail "corosync kill: h1's vmfsadm lock took $LOST s to stop (> 1.5 s)"
take_over "corosync kill" b "$gen3"
cl_alive 1 lockd || cl_fail "corosync kill: h1's lockd died: $(tail -n 20 "$CL_DIR/h1/lockd.log")"
s=$(lt_stq 1 's["connected"], s["lease"]') || cl_fail "corosync kill: h1's lockd does not answer status"
[[ $s == "False none" ]] || cl_fail "corosync kill: h1's status says connected, lease = $s (want False none)"

# --- 4. corosync back on host 1 ---------------------------------------------------------

t0=$(lt_now)
cl_start_corosync 1
lt_wait_ready "after corosync restart" 30 3 1 2 3
cl_log "FIGURE corosync restart: h1's lockd back with grants open after $(lt_since "$t0") s"
cl_alive 1 lockd || cl_fail "after corosync restart: h1's lockd died"
cl_on 1 "$ADM" lock vm1/disk.img -- true || cl_fail "after corosync restart: h1 cannot lock vm1/disk.img"

echo "ok: check-lockd-failover"
exit 0

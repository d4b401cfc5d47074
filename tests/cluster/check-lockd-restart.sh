#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# check-lockd-restart.sh - the whole cluster stopped hard and started again: the lock table
# comes back from the volume; and a clean stop leaves clean heartbeats. 3 hosts, default
# timing (hb_interval 1 s, host_dead 10 s, io_timeout 2 s; corosync token 1000).
#
# 1. Hosts 1 and 2 hold p1 and p2 (background vmfsadm lock ... -- sleep 600). Then every
#    lockd, every corosync and the two vmfsadm lock processes get SIGKILL; the volume
#    still lists p1 in host 1's table and p2 in host 2's.
# 2. All corosyncs and lockds start again. Within 10 s (members settled):
#    - `locks --json` of every host shows p1 held by host 1 and p2 by host 2, with their
#      old generations, orphaned (nobody uses them: the table came back from the volume);
#    - the cluster epoch (status) is larger than before the stop.
# 3. Host 3, trying every 0.2 s, locks p1 no earlier than host_dead - 2.5 s after the kill
#    (the old incarnations' leases may be valid until then) and within host_dead + 3.5 + 2 s
#    of the hosts showing the table (when observing the old heartbeats can start), with a
#    generation larger than the old one; then p2 too; then no host shows any lock.
# 5. grants open while the orphans are still held: each restarted lockd settles its own
#    previous incarnation from the table it left (its pid file lock and its 4 s watch of
#    its slot vouch that it runs no more), so no host waits for the old leases to take
#    a lock nobody holds (bound: host_dead - 0.5 s after lockd's start, which the
#    recovery path cannot reach). The time is a FIGURE.
# 4. Clean stop: SIGTERM to every lockd while nothing is held -> `vmfsadm dump` shows the
#    heartbeats of hosts 1-3 'clean'.
#
# Run as root with top_builddir/top_srcdir set; exit 77 means skipped.

set -euo pipefail

: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
# shellcheck source=tests/cluster/lib.sh
source "$top_srcdir/tests/cluster/lib.sh"
# shellcheck source=tests/cluster/lockd.sh
source "$top_srcdir/tests/cluster/lockd.sh"
lt_init # LT_LOW, LT_HIGH: the failover window of host_dead (10 s, CL_DEAD unset)

# --- helpers ---------------------------------------------------------------------------

# tree PID: PID and all its descendants
tree() {
	local p c
	for p in "$@"; do
		echo "$p"
		for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do tree "$c"; done
	done
}

# --- cluster ---------------------------------------------------------------------------

cl_setup 3
lt_start_cluster 30 1 2 3
cl_log "cluster ready"

# --- 1. hard stop while p1 and p2 are held ------------------------------------------------

lt_hold 1 hold1 p1 ex sleep 600
lt_hold 2 hold2 p2 ex sleep 600
g1=$(lt_gen_of <"$CL_DIR/hold1.log")
g2=$(lt_gen_of <"$CL_DIR/hold2.log")
epoch0=$(lt_stq 1 's["epoch"]')
cl_log "h1 holds p1 ($g1), h2 holds p2 ($g2), cluster epoch $epoch0"

holders=$(tree "$(cl_pid 1 hold1)" "$(cl_pid 2 hold2)")
t_kill=$(lt_now)
for i in 1 2 3; do cl_kill "$i" lockd KILL; done
for i in 1 2 3; do cl_kill "$i" corosync KILL; done
for p in $holders; do kill -KILL "$p" 2>/dev/null || true; done
cl_log "every lockd, corosync and vmfsadm lock killed (SIGKILL) in $(lt_since "$t_kill") s"
[[ $(lt_disk_paths 1) == p1 && $(lt_disk_paths 2) == p2 ]] ||
	cl_fail "after the kill the volume lists h1: '$(lt_disk_paths 1)', h2: '$(lt_disk_paths 2)' (want p1, p2)"

# --- 2. cold start --------------------------------------------------------------------------

t0=$(lt_now)
lt_start_corosync 1 2 3
t_lockd=$(lt_now)
for i in 1 2 3; do cl_start_lockd "$i"; done
# the table comes back from the volume as soon as the hosts have settled; grants open
# once every host shows it (the orphans stay until the old incarnations' leases expired)
want="[[\"p1\", [[1, \"ex\", [${g1/:/, }], true]]], [\"p2\", [[2, \"ex\", [${g2/:/, }], true]]]]"
shows() { [[ $(lt_stq "$1" 'len(s["members"])') == 3 && $(lt_locks_norm "$1") == "$want" ]]; }
for i in 1 2 3; do
	cl_wait_for 10 shows "$i" || cl_fail "restart: h$i's locks are $(lt_locks_norm "$i") 10 s after lockd started, want $want (p1 by h1, p2 by h2, orphaned, old generations)"
done
t_shown=$(lt_now)
cl_log "FIGURE restart: corosync quorate after $(lt_since "$t0" "$t_lockd") s; $(lt_since "$t_lockd") s after lockd started every host shows $want"
grants_at=
for i in 1 2 3; do
	cl_wait_for 30 lt_ready "$i" 3 || cl_fail "restart: h$i: grants not open with 3 members 30 s after lockd started"
	[[ $i == 1 ]] && grants_at=$(lt_since "$t_lockd")
done
cl_log "FIGURE restart: grants open on h1 $grants_at s after lockd started, on all hosts $(lt_since "$t_lockd") s ($(lt_since "$t_kill") s after the kill); h1 then shows $(lt_locks_norm 1)"
epoch1=$(lt_stq 1 's["epoch"]')
((epoch1 > epoch0)) || cl_fail "restart: cluster epoch $epoch1 is not above $epoch0"
[[ $(lt_dumpq 'd["superblock"]["epoch"]') == "$epoch1" ]] ||
	cl_fail "restart: the superblock says epoch $(lt_dumpq 'd["superblock"]["epoch"]'), status says $epoch1"
cl_log "restart: cluster epoch $epoch0 -> $epoch1"

# --- 3. the old leases expire, the orphans are freed -----------------------------------------

lt_poll_lock 3 p1 "$t_shown" "$LT_HIGH"
[[ -n $POLL_OK ]] || cl_fail "restart: h3 did not get p1 within $LT_HIGH s of the cluster settling after the restart ($POLL_SUM)"
fo=$(lt_since "$t_kill" "$POLL_OK")
cl_log "FIGURE restart: h3 got p1 $fo s after the kill, $(lt_since "$t_lockd" "$POLL_OK") s after lockd started ($POLL_SUM)"
lt_fle "$LT_LOW" "$fo" || cl_fail "restart: h3 got p1 $fo s after the kill, before the old lease could have expired (>= $LT_LOW s)"
g3=$(lt_gen_of <<<"$POLL_OUT")
lt_gen_gt "$g3" "$g1" || cl_fail "restart: h3's generation of p1 $g3 is not above the old $g1"
cl_log "restart: p1 generation $g1 -> $g3"
rc=0 out=$(cl_on 3 timeout 10 "$ADM" lock -v p2 -- true 2>&1) || rc=$?
[[ $rc == 0 ]] || cl_fail "restart: h3 cannot lock p2 once h1's lease expired: rc $rc: $out"
lt_gen_gt "$(lt_gen_of <<<"$out")" "$g2" || cl_fail "restart: h3's generation of p2 $(lt_gen_of <<<"$out") is not above the old $g2"
for i in 1 2 3; do
	cl_wait_for 5 eval '[[ $(lt_locks_norm '"$i"') == "[]" ]]' || cl_fail "restart: h$i still shows locks: $(lt_locks_norm "$i")"
done
[[ -z $(lt_disk_paths 1)$(lt_disk_paths 2)$(lt_disk_paths 3) ]] ||
	cl_fail "restart: the volume still lists locks: h1 '$(lt_disk_paths 1)' h2 '$(lt_disk_paths 2)' h3 '$(lt_disk_paths 3)'"

# --- 4. clean stop ---------------------------------------------------------------------------

for i in 1 2 3; do [[ $(lt_stq "$i" 's["locks_held"]') == 0 ]] || cl_fail "clean stop: h$i holds locks"; done
for i in 1 2 3; do cl_stop "$i" lockd; done
states=$(lt_dumpq '" ".join("h%d:%s" % (a["host"], a["heartbeat"]["state"] if a["heartbeat"] else "damaged") for a in d["hosts"] if a["host"] in (1, 2, 3))')
cl_log "clean stop: heartbeats $states"
[[ $states == "h1:clean h2:clean h3:clean" ]] || cl_fail "clean stop: heartbeats on the volume are '$states', not all clean"
for i in 1 2 3; do
	grep -q "heartbeat marked clean" "$CL_DIR/h$i/lockd.log" || cl_fail "clean stop: h$i's lockd did not log 'heartbeat marked clean'"
done

# grants open once every host settled its previous incarnation itself: its 4 s slot
# watch, the join and one table read after lockd's start (5.5 s idle, 7 s with the other
# tests running beside). Without the self-settle a coordinator watches the old heartbeat
# for host_dead from its own first read, which comes after lockd's start: grants open
# before host_dead therefore prove the self-settle.
lt_fle "$grants_at" "$(awk -v d="$LT_HOST_DEAD" 'BEGIN { print d - 0.5 }')" ||
	cl_fail "restart: grants opened only $grants_at s after lockd started (orphans shown after $(lt_since "$t_lockd" "$t_shown") s); expected before host_dead ($LT_HOST_DEAD s): no self-settle"

echo "ok: check-lockd-restart"
exit 0

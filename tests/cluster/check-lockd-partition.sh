#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# check-lockd-partition.sh - a host cut off from the others (nftables drop on its eth0),
# under both isolation policies. 3 hosts, default timing (hb_interval 1 s, host_dead 10 s,
# io_timeout 2 s; corosync token 1000, 1650 ms at runtime).
#
# (a) isolation = keep (the default): host 3 holds p3 EX (background vmfsadm lock), then
#     host 3 is cut off:
#     - within 10 s host 3's status says quorate false, and `vmfsadm lock x -- true` on
#       host 3 exits 69 naming quorum;
#     - hosts 1 and 2 (the quorate side) lock new files (exit 0);
#     - p3 stays host 3's: `vmfsadm lock p3` on host 1 exits 75, checked every second for
#       15 s (longer than host_dead: host 3 keeps renewing its disk heartbeat), and host 3's
#       holder keeps running;
#     - once healed, host 3 is a member again with grants open, p3 is still held by host 3
#       (not orphaned) and the three hosts show the same `locks --json` (path, holder host,
#       mode, generation, orphan flag).
# (b) isolation = fence (a new cluster, CL_ISOLATION=fence): host 3 holds p3, then is cut:
#     - host 3's holder exits 70 (lock lost) before any other host is granted p3;
#     - host 1, trying every 0.2 s, gets p3 no earlier than host_dead - 2.5 s after the cut
#       (host 3's lease may be valid until then) and within host_dead + detection +
#       2 * hb_interval + 2 s (detection: when host 1 sees host 3 go, counted as at least
#       3.5 s; host 3 renews until it fences itself, 2 * hb_interval after losing quorum);
#     - once healed, host 3 is a member again with a larger incarnation, grants open, and
#       nobody shows host 3 holding p3.
#
# Run as root with top_builddir/top_srcdir set; exit 77 means skipped.

set -euo pipefail

: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
# shellcheck source=tests/cluster/lib.sh
source "$top_srcdir/tests/cluster/lib.sh"
# shellcheck source=tests/cluster/lockd.sh
source "$top_srcdir/tests/cluster/lockd.sh"
lt_init # LT_LOW, LT_CAP: the failover window of host_dead (10 s, CL_DEAD unset)

# --- helpers ---------------------------------------------------------------------------

# inquorate I: host I's lockd says quorate false
inquorate() { [[ $(lt_stq "$1" 's["quorate"]') == False ]]; }

# try I PATH [TIMEOUT]: one `vmfsadm lock PATH -- true` on host I, cut after TIMEOUT s
# (default 5; exit 124 then). Sets TRY_RC, TRY_OUT, TRY_S (seconds it took).
try() {
	local t0
	t0=$(lt_now)
	TRY_RC=0
	TRY_OUT=$(cl_on "$1" timeout -k 1 "${3:-5}" "$ADM" lock "$2" -- true 2>&1) || TRY_RC=$?
	TRY_S=$(lt_since "$t0")
}

start_cluster() {
	cl_setup 3
	lt_start_cluster 30 1 2 3
	cl_log "cluster ready, isolation $(lt_stq 1 's["isolation"]')"
}

# --- (a) isolation = keep ----------------------------------------------------------------

start_cluster
[[ $(lt_stq 3 's["isolation"]') == keep ]] || cl_fail "(a) h3's isolation is not keep"
lt_hold 3 hold3 p3 ex sleep 600
cl_log "h3 holds p3 ($(grep -o 'generation.*' "$CL_DIR/hold3.log"))"

t_cut=$(lt_now)
cl_cut 3
cl_wait_for 10 inquorate 3 || cl_fail "(a) h3 still says quorate 10 s after the cut"
cl_log "FIGURE keep: h3 says quorate false $(lt_since "$t_cut") s after the cut"
try 3 x
cl_log "(a) h3 lock x: rc $TRY_RC after $TRY_S s: $TRY_OUT"
[[ $TRY_RC == 69 && $TRY_OUT == *quorum* ]] ||
	cl_fail "(a) cut h3: 'vmfsadm lock x' gave rc $TRY_RC after $TRY_S s, not 69 naming quorum: $TRY_OUT"

# the quorate side goes on: a new file on each of hosts 1 and 2 (after the membership
# change, which takes token + consensus: allow 10 s from the cut)
for i in 1 2; do
	ok=0
	while :; do
		try "$i" "new-h$i" 5
		[[ $TRY_RC == 0 ]] && { ok=1; break; }
		lt_fle 12 "$(lt_since "$t_cut")" && break
		sleep 0.5
	done
	cl_log "FIGURE keep: h$i locks new-h$i: rc $TRY_RC, last attempt $TRY_S s, $(lt_since "$t_cut") s after the cut"
	((ok)) || cl_fail "(a) h$i cannot lock a new file while h3 is cut: rc $TRY_RC after $TRY_S s: $TRY_OUT"
done

# p3 stays host 3's while host 3's heartbeat lives: 15 s of checks, > host_dead
t_chk=$(lt_now)
n=0
while ! lt_fle 15 "$(lt_since "$t_chk")"; do
	try 1 p3 5
	n=$((n + 1))
	[[ $TRY_RC == 75 && $TRY_OUT == *h3* ]] ||
		cl_fail "(a) h1 'lock p3' $(lt_since "$t_cut") s after the cut: rc $TRY_RC after $TRY_S s, not 75 naming h3: $TRY_OUT"
	lt_holding 3 hold3 ||
		cl_fail "(a) h3's holder of p3 stopped $(lt_since "$t_cut") s after the cut: $(lt_holder_out hold3)"
	sleep 1
done
cl_log "(a) p3 stayed h3's for $(lt_since "$t_cut") s after the cut ($n checks from h1)"

t_heal=$(lt_now)
cl_heal 3
lt_wait_ready "(a) after heal" 30 3 1 2 3
cl_log "FIGURE keep: all 3 hosts ready $(lt_since "$t_heal") s after the heal"
lt_holding 3 hold3 || cl_fail "(a) h3's holder of p3 stopped after the heal: $(lt_holder_out hold3)"
p3=$(lt_locks_norm 1 p3)
[[ $p3 == '[["p3", [[3, "ex", '*', false]]]]' ]] || cl_fail "(a) after heal: p3 is not held by h3 alone: $p3"
try 1 p3 5
[[ $TRY_RC == 75 ]] || cl_fail "(a) after heal: h1 'lock p3' gave rc $TRY_RC, not 75: $TRY_OUT"
# the replicas agree (give a just-merged replica a moment)
cl_wait_for 5 lt_agree 1 2 3 || cl_fail "(a) after heal the hosts disagree on the locks: h1 $A1, h2 $A2, h3 $A3"
cl_log "(a) locks agreed on all hosts: $A1"

cl_teardown

# --- (b) isolation = fence ---------------------------------------------------------------

CL_ISOLATION=fence start_cluster
for i in 1 2 3; do
	[[ $(lt_stq "$i" 's["isolation"]') == fence ]] || cl_fail "(b) h$i's isolation is not fence"
done
lt_hold 3 hold3 p3 ex sleep 600
inc3=$(lt_stq 3 's["incarnation"]')
cl_log "h3 holds p3 ($(grep -o 'generation.*' "$CL_DIR/hold3.log")), incarnation $inc3"

t_cut=$(lt_now)
cl_cut 3
lt_watch_members 1 2 "$CL_DIR/det-b"
LT_EXTRA=2 lt_failover "(b)" cut 1 3 p3 "$t_cut" "$CL_DIR/det-b" \
	'fence: h1 got p3 %s s after the cut; h1 saw h3 go after %s s (%s)'
cl_log "(b) h1: $POLL_OUT"

[[ -s $CL_DIR/hold3.rc ]] || cl_fail "(b) h3's holder of p3 still runs when h1 got p3 ($FO s after the cut): $(lt_holder_out hold3)"
read -r rc t_exit <"$CL_DIR/hold3.rc"
cl_log "FIGURE fence: h3's holder exited $rc $(lt_since "$t_cut" "$t_exit") s after the cut ($(grep -o 'lock lost.*' "$CL_DIR/hold3.log" || true))"
[[ $rc == 70 ]] || cl_fail "(b) h3's holder of p3 exited $rc, not 70: $(lt_holder_out hold3)"
lt_fle "$t_exit" "$POLL_OK" || cl_fail "(b) h3's holder stopped at $t_exit, after h1 was granted p3 at $POLL_OK"
cl_log "(b) h3 status while cut: $(lt_stq 3 's["quorate"], s["lease"], s.get("fenced_why"), s["incarnation"]')"

t_heal=$(lt_now)
cl_heal 3
lt_wait_ready "(b) after heal" 30 3 1 2 3
cl_log "FIGURE fence: all 3 hosts ready $(lt_since "$t_heal") s after the heal"
lt_new_incarnation "(b) after heal" 3 "$inc3"
for i in 1 2 3; do
	p3=$(lt_locks_norm "$i" p3)
	[[ $p3 != *'[3, "'* ]] || cl_fail "(b) after heal: h$i shows h3 holding p3: $p3"
done
try 3 p3 5
[[ $TRY_RC == 0 ]] || cl_fail "(b) after heal: h3 cannot lock p3 (free again): rc $TRY_RC: $TRY_OUT"
cl_log "(b) h3 is back as incarnation $INC (was $inc3), holding nothing"

echo "ok: check-lockd-partition"
exit 0

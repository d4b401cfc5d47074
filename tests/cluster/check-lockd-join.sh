#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# check-lockd-join.sh - a host joins a busy cluster and gets the lock table by state
# transfer. 4 hosts set up (corosync nodelist of 4, quorum 3), 3 started; default timing
# (hb_interval 1 s, host_dead 10 s, io_timeout 2 s; corosync token 1000).
#
# - Hosts 1-3 are busy: each runs 2 loops, each taking and releasing 20 distinct locks of
#   its own (`vmfsadm lock busy-h<i>-<j>/f<k> -- true`), and holds 2 long-held locks
#   (long-h<i>-a/b).
# - corosync and lockd start on host 4 while the loops run. Once host 4 has grants open
#   with 4 members:
#   - `locks --json` of the long-held locks is the same on all 4 hosts, each held by its
#     host, not orphaned;
#   - host 4 takes and releases a lock (exit 0, then no host shows it);
#   - the loops kept working through the join: every iteration exited 0 (nobody else
#     wants those files), and each loop completed iterations after host 4 joined;
#   - the long holders still run; with the loops stopped, all 4 hosts show the same
#     whole `locks --json`;
#   - no lockd logged "invariant" or "violation".
#
# Run as root with top_builddir/top_srcdir set; exit 77 means skipped.

set -euo pipefail

: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
# shellcheck source=tests/cluster/lib.sh
source "$top_srcdir/tests/cluster/lib.sh"
# shellcheck source=tests/cluster/lockd.sh
source "$top_srcdir/tests/cluster/lockd.sh"
lt_init

# --- cluster of 3 (of 4) -----------------------------------------------------------------

cl_setup 4
lt_start_cluster 30 1 2 3
cl_log "cluster of 3 ready"

LONG=
for i in 1 2 3; do
	for x in a b; do
		lt_hold "$i" "long-$x-h$i" "long-h$i-$x" ex sleep 600
		LONG+=" long-h$i-$x"
	done
done

# the busy loops: "<time> <rc>" per iteration into $CL_DIR/busy-h<i>-<j>.out, until
# $CL_DIR/stop exists
cat >"$CL_DIR/busy.sh" <<'EOF'
i=$1 adm=$2 stop=$3 out=$4
while [ ! -e "$stop" ]; do
	for k in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
		rc=0
		timeout -k 1 30 "$adm" lock "busy-h$i/f$k" -- true >/dev/null 2>>"$out.err" || rc=$?
		echo "$(date +%s.%N) $rc" >>"$out"
	done
done
EOF
BUSY="1-1 1-2 2-1 2-2 3-1 3-2"
for b in $BUSY; do
	cl_bg "${b%-*}" "busy-$b" "$CL_DIR/busy-h$b.log" bash "$CL_DIR/busy.sh" "$b" "$ADM" "$CL_DIR/stop" "$CL_DIR/busy-h$b.out"
done
sleep 2
for b in $BUSY; do
	[[ -s $CL_DIR/busy-h$b.out ]] || cl_fail "busy loop h$b does not run: $(cat "$CL_DIR/busy-h$b.log" "$CL_DIR/busy-h$b.out.err" 2>/dev/null)"
done
cl_log "busy loops running: $(for b in $BUSY; do printf 'h%s %d  ' "$b" "$(wc -l <"$CL_DIR/busy-h$b.out")"; done)"

# --- host 4 joins ---------------------------------------------------------------------------

t_join=$(lt_now)
lt_start_corosync 4
t_lockd=$(lt_now)
cl_start_lockd 4
lt_wait_ready join 30 4 4
t_ready=$(lt_now)
cl_log "FIGURE join: h4's corosync quorate after $(lt_since "$t_join" "$t_lockd") s, grants open $(lt_since "$t_lockd" "$t_ready") s after its lockd started"
lt_wait_ready "after h4 joined" 10 4 1 2 3

# the long-held locks, the same everywhere
# shellcheck disable=SC2086
want=$(python3 -c '
import json, sys
print(json.dumps(sorted((p, [[int(p[6]), "ex", "GEN", False]]) for p in sys.argv[1:])))' $LONG)
declare -a L
for i in 1 2 3 4; do
	# shellcheck disable=SC2086
	L[i]=$(lt_locks_norm "$i" $LONG)
done
cl_log "join: h4 shows the long-held locks as ${L[4]}"
for i in 1 2 3; do
	[[ ${L[i]} == "${L[4]}" ]] || cl_fail "join: long-held locks differ: h$i ${L[i]}, h4 ${L[4]}"
done
[[ $(sed -E 's/\[[0-9]+, [0-9]+\]/"GEN"/g' <<<"${L[4]}") == "$want" ]] ||
	cl_fail "join: long-held locks are ${L[4]}, want each held by its host, not orphaned ($want)"

# host 4 takes and releases a lock
rc=0 out=$(cl_on 4 timeout 10 "$ADM" lock -v j4 -- true 2>&1) || rc=$?
[[ $rc == 0 ]] || cl_fail "join: h4 cannot lock j4: rc $rc: $out"
for i in 1 2 3 4; do
	cl_wait_for 5 eval '[[ $(lt_locks_norm '"$i"' j4) == "[]" ]]' || cl_fail "join: h$i still shows j4 after h4 released it: $(lt_locks_norm "$i" j4)"
done
cl_log "join: h4 locked and released j4 ($(lt_gen_of <<<"$out"))"

# let the loops run on a little, then stop them
sleep 2
: >"$CL_DIR/stop"
for b in $BUSY; do
	cl_wait_for 35 eval '! cl_alive '"${b%-*}"' busy-'"$b" || cl_fail "busy loop h$b does not stop"
done
for b in $BUSY; do
	read -r n bad after < <(awk -v t="$t_ready" '{ n++; if ($2 != 0) bad++; if ($1 > t) after++ }
		END { print n + 0, bad + 0, after + 0 }' "$CL_DIR/busy-h$b.out")
	cl_log "FIGURE join: busy loop h$b: $n iterations, $bad failed, $after after h4 had grants open"
	((bad == 0)) || cl_fail "join: $bad of busy loop h$b's $n iterations failed: $(awk '$2 != 0 { print $2 }' "$CL_DIR/busy-h$b.out" | sort | uniq -c | head -5; tail -n 3 "$CL_DIR/busy-h$b.out.err")"
	((after > 0)) || cl_fail "join: busy loop h$b made no progress after h4 joined"
done

for i in 1 2 3; do
	for x in a b; do
		lt_holding "$i" "long-$x-h$i" ||
			cl_fail "join: h$i's holder of long-h$i-$x stopped: $(lt_holder_out "long-$x-h$i")"
	done
done
cl_wait_for 5 lt_agree 1 2 3 4 || cl_fail "join: the hosts disagree on the locks: h1 $A1, h2 $A2, h3 $A3, h4 $A4"
cl_log "join: all 4 hosts agree: $A1"

if grep -n -i -E 'invariant|violation' "$CL_DIR"/h[1-4]/lockd.log; then
	cl_fail "join: a lockd logged an invariant violation (above)"
fi

echo "ok: check-lockd-join"
exit 0

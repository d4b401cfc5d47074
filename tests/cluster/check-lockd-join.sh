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

ADM=$top_builddir/tools/vmfsadm/vmfsadm
[[ $ADM == /* ]] || ADM=$PWD/$ADM
[[ -x $ADM ]] || { echo "check-lockd-join: $ADM not built"; exit 1; }
command -v python3 >/dev/null || cl_skip "python3 is needed"

# --- helpers ---------------------------------------------------------------------------

now() { date +%s.%N; }
# since T0 [T1]: seconds from T0 to T1 (default now), 2 decimals
since() { awk -v a="$1" -v b="${2:-$(date +%s.%N)}" 'BEGIN { printf "%.2f", b - a }'; }
# fle A B: A <= B (floats)
fle() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }

# stq I EXPR: evaluate python EXPR over host I's `vmfsadm status --json` (as s)
stq() {
	cl_on "$1" "$ADM" status --json 2>/dev/null | python3 -c '
import sys, json
s = json.load(sys.stdin)
v = eval(sys.argv[1])
print(" ".join(map(str, v)) if isinstance(v, tuple) else v)' "$2" 2>/dev/null
}
# ready I N: host I has grants open and N members
ready() { [[ $(stq "$1" 's["grants_open"] and len(s["members"])') == "$2" ]] 2>/dev/null; }
# locks_norm I [PATH...]: host I's `locks --json` as one line: each path (all, or only the
# PATHs given) with its holders' host, mode, generation and orphan flag, sorted
locks_norm() {
	local i=$1
	shift
	cl_on "$i" timeout 10 "$ADM" locks --json 2>/dev/null | python3 -c '
import sys, json
want = set(sys.argv[1:])
t = json.load(sys.stdin)
out = sorted((e["path"], sorted((h["host"], h["mode"], tuple(h["gen"]), h["orphan"])
                                for h in e["holders"]))
             for e in t if not want or e["path"] in want)
print(json.dumps(out))' "$@"
}

# hold I NAME PATH: background `vmfsadm lock -v PATH -- sleep 600` on host I, waits for the
# grant; its exit status and the time it exited go to $CL_DIR/NAME.rc, output to NAME.log
hold() {
	local i=$1 name=$2 path=$3
	rm -f "$CL_DIR/$name.rc" "$CL_DIR/$name.log"
	# shellcheck disable=SC2016
	cl_bg "$i" "$name" "$CL_DIR/$name.log" sh -c '"$@"; echo "$? $(date +%s.%N)" >"$0"' \
		"$CL_DIR/$name.rc" "$ADM" lock -v "$path" -- sleep 600
	cl_wait_for 10 grep -q "held, generation" "$CL_DIR/$name.log" ||
		cl_fail "h$i could not lock $path: $(cat "$CL_DIR/$name.log" "$CL_DIR/$name.rc" 2>/dev/null)"
}

# gen_of <TEXT: the last generation "E:C" a `vmfsadm lock -v` printed
gen_of() { sed -n 's/.*held, generation \([0-9]*:[0-9]*\).*/\1/p' | tail -n 1; }

# --- cluster of 3 (of 4) -----------------------------------------------------------------

cl_setup 4
"$ADM" format --cluster vmfstest "$CL_DS" >/dev/null || cl_fail "format failed"
for i in 1 2 3; do cl_start_corosync "$i"; done
for i in 1 2 3; do cl_wait_quorate "$i" || cl_fail "h$i: corosync not quorate"; done
for i in 1 2 3; do cl_start_lockd "$i"; done
for i in 1 2 3; do cl_wait_for 30 ready "$i" 3 || cl_fail "h$i: grants not open with 3 members"; done
cl_log "cluster of 3 ready"

LONG=
for i in 1 2 3; do
	for x in a b; do
		hold "$i" "long-$x-h$i" "long-h$i-$x"
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

t_join=$(now)
cl_start_corosync 4
cl_wait_quorate 4 || cl_fail "h4: corosync not quorate"
t_lockd=$(now)
cl_start_lockd 4
cl_wait_for 30 ready 4 4 || cl_fail "h4: grants not open with 4 members 30 s after its lockd started"
t_ready=$(now)
cl_log "FIGURE join: h4's corosync quorate after $(since "$t_join" "$t_lockd") s, grants open $(since "$t_lockd" "$t_ready") s after its lockd started"
for i in 1 2 3; do cl_wait_for 10 ready "$i" 4 || cl_fail "h$i: not ready with 4 members after h4 joined"; done

# the long-held locks, the same everywhere
# shellcheck disable=SC2086
want=$(python3 -c '
import json, sys
print(json.dumps(sorted((p, [[int(p[6]), "ex", "GEN", False]]) for p in sys.argv[1:])))' $LONG)
declare -a L
for i in 1 2 3 4; do
	# shellcheck disable=SC2086
	L[i]=$(locks_norm "$i" $LONG)
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
	cl_wait_for 5 eval '[[ $(locks_norm '"$i"' j4) == "[]" ]]' || cl_fail "join: h$i still shows j4 after h4 released it: $(locks_norm "$i" j4)"
done
cl_log "join: h4 locked and released j4 ($(gen_of <<<"$out"))"

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
		cl_alive "$i" "long-$x-h$i" && [[ ! -e $CL_DIR/long-$x-h$i.rc ]] ||
			cl_fail "join: h$i's holder of long-h$i-$x stopped: $(cat "$CL_DIR/long-$x-h$i.log" "$CL_DIR/long-$x-h$i.rc" 2>/dev/null)"
	done
done
agree() {
	A1=$(locks_norm 1) A2=$(locks_norm 2) A3=$(locks_norm 3) A4=$(locks_norm 4)
	[[ -n $A1 && $A1 == "$A2" && $A1 == "$A3" && $A1 == "$A4" ]]
}
cl_wait_for 5 agree || cl_fail "join: the hosts disagree on the locks: h1 $A1, h2 $A2, h3 $A3, h4 $A4"
cl_log "join: all 4 hosts agree: $A1"

if grep -n -i -E 'invariant|violation' "$CL_DIR"/h[1-4]/lockd.log; then
	cl_fail "join: a lockd logged an invariant violation (above)"
fi

echo "ok: check-lockd-join"
exit 0

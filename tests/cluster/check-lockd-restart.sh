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
#    a lock nobody holds (bound: 8 s after lockd's start). The time is a FIGURE.
# 4. Clean stop: SIGTERM to every lockd while nothing is held -> `vmfsadm dump` shows the
#    heartbeats of hosts 1-3 'clean'.
#
# Run as root with top_builddir/top_srcdir set; exit 77 means skipped.

set -euo pipefail

: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
# shellcheck source=tests/cluster/lib.sh
source "$top_srcdir/tests/cluster/lib.sh"

ADM=$top_builddir/tools/vmfsadm/vmfsadm
[[ $ADM == /* ]] || ADM=$PWD/$ADM
[[ -x $ADM ]] || { echo "check-lockd-restart: $ADM not built"; exit 1; }
command -v python3 >/dev/null || cl_skip "python3 is needed"

HOST_DEAD=10 # s, the harness default (CL_DEAD unset)
LOW=$(awk -v d=$HOST_DEAD 'BEGIN { print d - 2.5 }')
HIGH=$(awk -v d=$HOST_DEAD 'BEGIN { print d + 3.5 + 2 }')

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

# poll_lock I PATH T0 TMAX: `vmfsadm lock -v PATH -- true` on host I every 0.2 s until it
# succeeds or TMAX s after T0 (one attempt is cut at TMAX: the daemon may hold a request
# while its grants are closed). Sets POLL_OK (time of the grant, empty if none), POLL_OUT
# and POLL_SUM (attempts, the longest, the refusals' exit codes and the last refusal).
poll_lock() {
	local i=$1 path=$2 t0=$3 tmax=$4 rc out left ta d n=0 long=0 last='' rcs=''
	local -A seen=()
	POLL_OK='' POLL_OUT=''
	while :; do
		left=$(awk -v m="$tmax" -v e="$(since "$t0")" 'BEGIN { l = m - e; printf "%.2f", (l > 0.1 ? l : 0.1) }')
		rc=0 ta=$(now)
		out=$(cl_on "$i" timeout -k 1 "$left" "$ADM" lock -v "$path" -- true 2>&1) || rc=$?
		d=$(since "$ta")
		n=$((n + 1))
		fle "$d" "$long" || long=$d
		if ((rc == 0)); then
			POLL_OK=$(now) POLL_OUT=$out
			break
		fi
		seen[$rc]=$((${seen[$rc]:-0} + 1))
		last="rc $rc: $out"
		fle "$tmax" "$(since "$t0")" && break
		sleep 0.2
	done
	for rc in "${!seen[@]}"; do rcs+="rc$rc x${seen[$rc]} "; done
	POLL_SUM="$n attempt(s), longest $long s, refusals: ${rcs:-none}${last:+; last: $last}"
}

# gen_of <TEXT: the last generation "E:C" a `vmfsadm lock -v` printed
gen_of() { sed -n 's/.*held, generation \([0-9]*:[0-9]*\).*/\1/p' | tail -n 1; }
# gen_gt A B: generation A > B
gen_gt() { awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, ":"); split(b, y, ":");
	exit !(x[1] > y[1] || (x[1] == y[1] && x[2] > y[2])) }'; }

# dumpq EXPR: evaluate python EXPR over `vmfsadm dump --json` of the datastore (as d)
dumpq() {
	"$ADM" dump --json "$CL_DS" 2>/dev/null | python3 -c '
import sys, json
d = json.load(sys.stdin)
print(eval(sys.argv[1]))' "$1"
}
# disk_paths H: the paths in host H's lock table on the volume
disk_paths() {
	dumpq "\" \".join(sorted(l[\"path\"] for a in d[\"hosts\"] if a[\"host\"] == $1 for l in a[\"locks\"]))"
}

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
"$ADM" format --cluster vmfstest "$CL_DS" >/dev/null || cl_fail "format failed"
for i in 1 2 3; do cl_start_corosync "$i"; done
for i in 1 2 3; do cl_wait_quorate "$i" || cl_fail "h$i: corosync not quorate"; done
for i in 1 2 3; do cl_start_lockd "$i"; done
for i in 1 2 3; do cl_wait_for 30 ready "$i" 3 || cl_fail "h$i: grants not open with 3 members"; done
cl_log "cluster ready"

# --- 1. hard stop while p1 and p2 are held ------------------------------------------------

hold 1 hold1 p1
hold 2 hold2 p2
g1=$(gen_of <"$CL_DIR/hold1.log")
g2=$(gen_of <"$CL_DIR/hold2.log")
epoch0=$(stq 1 's["epoch"]')
cl_log "h1 holds p1 ($g1), h2 holds p2 ($g2), cluster epoch $epoch0"

holders=$(tree "$(cl_pid 1 hold1)" "$(cl_pid 2 hold2)")
t_kill=$(now)
for i in 1 2 3; do cl_kill "$i" lockd KILL; done
for i in 1 2 3; do cl_kill "$i" corosync KILL; done
for p in $holders; do kill -KILL "$p" 2>/dev/null || true; done
cl_log "every lockd, corosync and vmfsadm lock killed (SIGKILL) in $(since "$t_kill") s"
[[ $(disk_paths 1) == p1 && $(disk_paths 2) == p2 ]] ||
	cl_fail "after the kill the volume lists h1: '$(disk_paths 1)', h2: '$(disk_paths 2)' (want p1, p2)"

# --- 2. cold start --------------------------------------------------------------------------

t0=$(now)
for i in 1 2 3; do cl_start_corosync "$i"; done
for i in 1 2 3; do cl_wait_quorate "$i" || cl_fail "restart: h$i: corosync not quorate"; done
t_lockd=$(now)
for i in 1 2 3; do cl_start_lockd "$i"; done
# the table comes back from the volume as soon as the hosts have settled; grants open
# once every host shows it (the orphans stay until the old incarnations' leases expired)
want="[[\"p1\", [[1, \"ex\", [${g1/:/, }], true]]], [\"p2\", [[2, \"ex\", [${g2/:/, }], true]]]]"
shows() { [[ $(stq "$1" 'len(s["members"])') == 3 && $(locks_norm "$1") == "$want" ]]; }
for i in 1 2 3; do
	cl_wait_for 10 shows "$i" || cl_fail "restart: h$i's locks are $(locks_norm "$i") 10 s after lockd started, want $want (p1 by h1, p2 by h2, orphaned, old generations)"
done
t_shown=$(now)
cl_log "FIGURE restart: corosync quorate after $(since "$t0" "$t_lockd") s; $(since "$t_lockd") s after lockd started every host shows $want"
grants_at=
for i in 1 2 3; do
	cl_wait_for 30 ready "$i" 3 || cl_fail "restart: h$i: grants not open with 3 members 30 s after lockd started"
	[[ $i == 1 ]] && grants_at=$(since "$t_lockd")
done
cl_log "FIGURE restart: grants open on h1 $grants_at s after lockd started, on all hosts $(since "$t_lockd") s ($(since "$t_kill") s after the kill); h1 then shows $(locks_norm 1)"
epoch1=$(stq 1 's["epoch"]')
((epoch1 > epoch0)) || cl_fail "restart: cluster epoch $epoch1 is not above $epoch0"
[[ $(dumpq 'd["superblock"]["epoch"]') == "$epoch1" ]] ||
	cl_fail "restart: the superblock says epoch $(dumpq 'd["superblock"]["epoch"]'), status says $epoch1"
cl_log "restart: cluster epoch $epoch0 -> $epoch1"

# --- 3. the old leases expire, the orphans are freed -----------------------------------------

poll_lock 3 p1 "$t_shown" "$HIGH"
[[ -n $POLL_OK ]] || cl_fail "restart: h3 did not get p1 within $HIGH s of the cluster settling after the restart ($POLL_SUM)"
fo=$(since "$t_kill" "$POLL_OK")
cl_log "FIGURE restart: h3 got p1 $fo s after the kill, $(since "$t_lockd" "$POLL_OK") s after lockd started ($POLL_SUM)"
fle "$LOW" "$fo" || cl_fail "restart: h3 got p1 $fo s after the kill, before the old lease could have expired (>= $LOW s)"
g3=$(gen_of <<<"$POLL_OUT")
gen_gt "$g3" "$g1" || cl_fail "restart: h3's generation of p1 $g3 is not above the old $g1"
cl_log "restart: p1 generation $g1 -> $g3"
rc=0 out=$(cl_on 3 timeout 10 "$ADM" lock -v p2 -- true 2>&1) || rc=$?
[[ $rc == 0 ]] || cl_fail "restart: h3 cannot lock p2 once h1's lease expired: rc $rc: $out"
gen_gt "$(gen_of <<<"$out")" "$g2" || cl_fail "restart: h3's generation of p2 $(gen_of <<<"$out") is not above the old $g2"
for i in 1 2 3; do
	cl_wait_for 5 eval '[[ $(locks_norm '"$i"') == "[]" ]]' || cl_fail "restart: h$i still shows locks: $(locks_norm "$i")"
done
[[ -z $(disk_paths 1)$(disk_paths 2)$(disk_paths 3) ]] ||
	cl_fail "restart: the volume still lists locks: h1 '$(disk_paths 1)' h2 '$(disk_paths 2)' h3 '$(disk_paths 3)'"

# --- 4. clean stop ---------------------------------------------------------------------------

for i in 1 2 3; do [[ $(stq "$i" 's["locks_held"]') == 0 ]] || cl_fail "clean stop: h$i holds locks"; done
for i in 1 2 3; do cl_stop "$i" lockd; done
states=$(dumpq '" ".join("h%d:%s" % (a["host"], a["heartbeat"]["state"] if a["heartbeat"] else "damaged") for a in d["hosts"] if a["host"] in (1, 2, 3))')
cl_log "clean stop: heartbeats $states"
[[ $states == "h1:clean h2:clean h3:clean" ]] || cl_fail "clean stop: heartbeats on the volume are '$states', not all clean"
for i in 1 2 3; do
	grep -q "heartbeat marked clean" "$CL_DIR/h$i/lockd.log" || cl_fail "clean stop: h$i's lockd did not log 'heartbeat marked clean'"
done

# grants open once every host settled its previous incarnation itself: its 4 s slot
# watch, the join and one table read after lockd's start, with margin
fle "$grants_at" 8 ||
	cl_fail "restart: grants opened only $grants_at s after lockd started (orphans shown after $(since "$t_lockd" "$t_shown") s); expected within 8 s (self-settle)"

echo "ok: check-lockd-restart"
exit 0

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# check-lockd-pause.sh - a host frozen (SIGSTOP of its corosync and vmfs-lockd) for longer
# than its lease, then resumed: the case corosync does not report (the frozen host's client
# sees the others leave and come back, never a loss of quorum), so only the lease check on
# the monotonic clock protects the data. 3 hosts, default timing (hb_interval 1 s,
# host_dead 10 s, io_timeout 2 s; corosync token 1000, 1650 ms at runtime).
#
# Twice: once resuming lockd first and corosync 3 s later (lockd must act on its own
# clock while corosync still hangs), once corosync first and lockd 3 s later (a pile of
# membership changes waits for lockd when it wakes). Each time:
#   - host 1 holds p1 EX (background `vmfsadm lock -v p1 -- CMD`, CMD noting when it gets
#     SIGTERM);
#   - SIGSTOP host 1's corosync and lockd for host_dead + 6 s;
#   - meanwhile host 2, trying every 0.2 s, gets p1 no earlier than host_dead - 2.5 s after
#     the stop (host 1's lease may be valid until then) and within host_dead + detection
#     + 2 s (detection: when host 2 sees host 1 go, counted as at least 3.5 s),
#     with a larger generation;
#   - after lockd's SIGCONT, host 1's CMD gets SIGTERM within 1 s and its vmfsadm lock
#     exits 70 within 2 s;
#   - host 1's lockd.log says its incarnation stopped (lease expired / fenced) before any
#     line about rejoining (a member joining, a configuration, quorum regained, joining
#     the CPG group): an incarnation whose lease ran out takes no part in the cluster;
#   - all 3 hosts are members with grants open within 12 s of the first SIGCONT;
#   - host 1 runs a larger incarnation and holds nothing (status, `locks --json` of every
#     host, its lock table on the volume), and the three hosts show the same `locks --json`.
# PAUSE_ROUNDS (default "lockd corosync") chooses which rounds run, in which order.
#
# Run as root with top_builddir/top_srcdir set; exit 77 means skipped.

set -euo pipefail

: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
# shellcheck source=tests/cluster/lib.sh
source "$top_srcdir/tests/cluster/lib.sh"

ADM=$top_builddir/tools/vmfsadm/vmfsadm
[[ $ADM == /* ]] || ADM=$PWD/$ADM
[[ -x $ADM ]] || { echo "check-lockd-pause: $ADM not built"; exit 1; }
command -v python3 >/dev/null || cl_skip "python3 is needed"

HOST_DEAD=10 # s, the harness default (CL_DEAD unset)
LOW=$(awk -v d=$HOST_DEAD 'BEGIN { print d - 2.5 }')
HIGH=$(awk -v d=$HOST_DEAD 'BEGIN { print d + 3.5 + 2 }') # nominal; see bound_after
CAP=$((HOST_DEAD + 10))  # how long a poll goes on
PAUSE=$((HOST_DEAD + 6))

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

# hold I NAME PATH: background `vmfsadm lock -v PATH -- CMD` on host I, waits for the
# grant. CMD sleeps and writes the time it got SIGTERM to $CL_DIR/NAME.term; vmfsadm's exit
# status and the time it exited go to $CL_DIR/NAME.rc, its output to NAME.log.
hold() {
	local i=$1 name=$2 path=$3
	rm -f "$CL_DIR/$name.rc" "$CL_DIR/$name.log" "$CL_DIR/$name.term"
	# shellcheck disable=SC2016
	cl_bg "$i" "$name" "$CL_DIR/$name.log" sh -c '"$@"; echo "$? $(date +%s.%N)" >"$0"' \
		"$CL_DIR/$name.rc" "$ADM" lock -v "$path" -- \
		sh -c 'trap "date +%s.%N >\"\$0\"; exit 143" TERM; sleep 600 & wait' "$CL_DIR/$name.term"
	cl_wait_for 10 grep -q "held, generation" "$CL_DIR/$name.log" ||
		cl_fail "h$i could not lock $path: $(cat "$CL_DIR/$name.log" "$CL_DIR/$name.rc" 2>/dev/null)"
}

# watch_members I N OUT: in the background, write to OUT when host I's lockd first shows N
# members (the failure detected); gives up after 30 s
watch_members() {
	rm -f "$3"
	(
		for _ in $(seq 300); do
			[[ $(stq "$1" 'len(s["members"])') == "$2" ]] && { now >"$3"; exit 0; }
			sleep 0.1
		done
	) &
}
# bound_after T0 OUT: sets DET (seconds from T0 to the detection written in OUT, "none" if
# none) and BOUND = host_dead + detection + 2 s, detection counted as at least 3.5 s
bound_after() {
	DET=none
	[[ -s $2 ]] && DET=$(since "$1" "$(<"$2")")
	BOUND=$(awk -v d="$HOST_DEAD" -v t="$DET" 'BEGIN { if (t == "none" || t + 0 < 3.5) t = 3.5; print d + t + 2 }')
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

# disk_paths H: the paths in host H's lock table on the volume (vmfsadm dump --json)
disk_paths() {
	"$ADM" dump --json "$CL_DS" 2>/dev/null | python3 -c '
import sys, json
d = json.load(sys.stdin)
print(" ".join(sorted(l["path"] for a in d["hosts"] if a["host"] == int(sys.argv[1])
                      for l in a["locks"])))' "$1"
}

agree() {
	A1=$(locks_norm 1) A2=$(locks_norm 2) A3=$(locks_norm 3)
	[[ -n $A1 && $A1 == "$A2" && $A1 == "$A3" ]]
}

# --- cluster ---------------------------------------------------------------------------

cl_setup 3
"$ADM" format --cluster vmfstest "$CL_DS" >/dev/null || cl_fail "format failed"
for i in 1 2 3; do cl_start_corosync "$i"; done
for i in 1 2 3; do cl_wait_quorate "$i" || cl_fail "h$i: corosync not quorate"; done
for i in 1 2 3; do cl_start_lockd "$i"; done
for i in 1 2 3; do cl_wait_for 30 ready "$i" 3 || cl_fail "h$i: grants not open with 3 members"; done
cl_log "cluster ready (host_dead ${HOST_DEAD}s: failover window [$LOW, $HIGH] s, pause $PAUSE s)"

# pause_round NAME FIRST GAP: one freeze of host 1; FIRST (lockd|corosync) gets SIGCONT
# first, the other GAP s later
pause_round() {
	local r=$1 first=$2 gap=$3 second inc gen gen2 t_stop fo t_cont t_lockd rc t_exit
	local n0 fence_at rejoin_at lines t_term ready_s
	[[ $first == lockd ]] && second=corosync || second=lockd
	cl_log "--- $r: resume $first first, $second $gap s later"
	hold 1 "hold-$r" p1
	gen=$(gen_of <"$CL_DIR/hold-$r.log")
	inc=$(stq 1 's["incarnation"]')
	cl_log "$r: h1 holds p1, generation $gen, incarnation $inc"
	n0=$(wc -l <"$CL_DIR/h1/lockd.log")

	t_stop=$(now)
	cl_kill 1 corosync STOP
	cl_kill 1 lockd STOP
	cl_log "$r: h1's corosync and lockd stopped (SIGSTOP)"
	watch_members 2 2 "$CL_DIR/det-$r"
	poll_lock 2 p1 "$t_stop" "$CAP"
	bound_after "$t_stop" "$CL_DIR/det-$r"
	[[ -n $POLL_OK ]] || cl_fail "$r: h2 did not get p1 within $CAP s of the stop ($POLL_SUM)"
	fo=$(since "$t_stop" "$POLL_OK")
	cl_log "FIGURE $r: h2 got p1 $fo s after the stop; h2 saw h1 go after $DET s ($POLL_SUM)"
	fle "$fo" "$BOUND" || cl_fail "$r: h2 got p1 only $fo s after the stop (> host_dead + detection + 2 = $BOUND s)"
	fle "$LOW" "$fo" || cl_fail "$r: h2 got p1 $fo s after the stop, before h1's lease could have expired (>= $LOW s)"
	gen2=$(gen_of <<<"$POLL_OUT")
	gen_gt "$gen2" "$gen" || cl_fail "$r: h2's generation $gen2 is not above h1's $gen"

	while ! fle "$PAUSE" "$(since "$t_stop")"; do sleep 0.2; done
	[[ ! -e $CL_DIR/hold-$r.rc ]] || cl_log "$r: note: h1's holder exited while lockd was stopped: $(cat "$CL_DIR/hold-$r.rc")"
	t_cont=$(now)
	cl_kill 1 "$first" CONT
	sleep "$gap"
	cl_kill 1 "$second" CONT
	cl_log "$r: h1 resumed after $(since "$t_stop" "$t_cont") s ($first, then $second)"
	[[ $first == lockd ]] && t_lockd=$t_cont || t_lockd=$(awk -v a="$t_cont" -v g="$gap" 'BEGIN { printf "%.9f", a + g }')

	cl_wait_for 10 test -s "$CL_DIR/hold-$r.term" ||
		cl_fail "$r: h1's CMD under p1 got no SIGTERM within 10 s of the resume: $(cat "$CL_DIR/hold-$r.log")"
	t_term=$(<"$CL_DIR/hold-$r.term")
	cl_log "FIGURE $r: h1's CMD got SIGTERM $(since "$t_lockd" "$t_term") s after lockd's SIGCONT"
	fle "$(since "$t_lockd" "$t_term")" 1 || cl_fail "$r: h1's CMD under p1 got SIGTERM $(since "$t_lockd" "$t_term") s after lockd's resume (> 1 s)"
	cl_wait_for 10 test -s "$CL_DIR/hold-$r.rc" || cl_fail "$r: h1's vmfsadm lock still runs 10 s after the resume: $(cat "$CL_DIR/hold-$r.log")"
	read -r rc t_exit <"$CL_DIR/hold-$r.rc"
	cl_log "FIGURE $r: h1's vmfsadm lock exited $rc $(since "$t_lockd" "$t_exit") s after lockd's SIGCONT ($(grep -o 'lock lost.*' "$CL_DIR/hold-$r.log" || true))"
	[[ $rc == 70 ]] || cl_fail "$r: h1's vmfsadm lock exited $rc, not 70: $(cat "$CL_DIR/hold-$r.log")"
	fle "$(since "$t_lockd" "$t_exit")" 2 || cl_fail "$r: h1's vmfsadm lock exited $(since "$t_lockd" "$t_exit") s after lockd's resume (> 2 s; $second resumed $gap s after $first)"

	# the order in h1's lockd.log, from the stop on: fenced first, rejoining after; wait
	# for the new incarnation to join so that the whole story is there
	cl_wait_for 15 eval 'tail -n +"$((n0 + 1))" "$CL_DIR/h1/lockd.log" | grep -q "joined CPG group"' ||
		cl_fail "$r: h1's lockd started no new incarnation within 15 s of the resume"
	lines=$(tail -n +"$((n0 + 1))" "$CL_DIR/h1/lockd.log")
	cl_log "$r: h1's lockd.log from the stop on:"$'\n'"$lines"
	fence_at=$(grep -n -m1 -E 'incarnation [0-9]+ of host 1 stops|this host stops renewing' <<<"$lines" | cut -d: -f1) || true
	rejoin_at=$(grep -n -m1 -E 'joined CPG group|joined the group|configuration ring|quorum regained' <<<"$lines" | cut -d: -f1) || true
	[[ -n $fence_at ]] || cl_fail "$r: h1's lockd never logged that its lease was lost / it was fenced"
	[[ -z $rejoin_at ]] || ((fence_at < rejoin_at)) ||
		cl_fail "$r: h1's lockd logged about rejoining (line $rejoin_at: $(sed -n "${rejoin_at}p" <<<"$lines")) before it said it was fenced (line $fence_at: $(sed -n "${fence_at}p" <<<"$lines"))"

	for i in 1 2 3; do
		cl_wait_for 30 ready "$i" 3 || cl_fail "$r: h$i not ready with 3 members 30 s after the resume"
	done
	ready_s=$(since "$t_cont")
	cl_log "FIGURE $r: all 3 hosts ready $ready_s s after the first SIGCONT"
	fle "$ready_s" 12 || cl_fail "$r: the cluster took $ready_s s after the resume to have all 3 hosts ready (> 12 s)"
	cl_alive 1 lockd || cl_fail "$r: h1's lockd died"

	local inc2
	inc2=$(stq 1 's["incarnation"]')
	((inc2 > inc)) || cl_fail "$r: h1's incarnation is $inc2 after the resume, not above $inc"
	[[ $(stq 1 's["locks_held"]') == 0 ]] || cl_fail "$r: h1 still holds locks after the resume"
	cl_wait_for 5 agree || cl_fail "$r: hosts disagree on the locks: h1 $A1, h2 $A2, h3 $A3"
	[[ $A1 != *'[1, "'* ]] || cl_fail "$r: h1 shown holding a lock after the resume: $A1"
	cl_wait_for 5 eval '[[ -z $(disk_paths 1) ]]' ||
		cl_fail "$r: h1's lock table on the volume still lists: $(disk_paths 1)"
	cl_log "$r: h1 back as incarnation $inc2 (was $inc), holding nothing; locks agreed: $A1"
}

n=0
for first in ${PAUSE_ROUNDS:-lockd corosync}; do
	n=$((n + 1))
	pause_round "r$n-$first-first" "$first" 3
done

echo "ok: check-lockd-pause"
exit 0

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
#       (host 3's lease may be valid until then) and within host_dead + detection + 2 s
#       (detection: when host 1 sees host 3 go, counted as at least 3.5 s);
#     - once healed, host 3 is a member again with a larger incarnation, grants open, and
#       nobody shows host 3 holding p3.
#
# Run as root with top_builddir/top_srcdir set; exit 77 means skipped.

set -euo pipefail

: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
# shellcheck source=tests/cluster/lib.sh
source "$top_srcdir/tests/cluster/lib.sh"

ADM=$top_builddir/tools/vmfsadm/vmfsadm
[[ $ADM == /* ]] || ADM=$PWD/$ADM
[[ -x $ADM ]] || { echo "check-lockd-partition: $ADM not built"; exit 1; }
command -v python3 >/dev/null || cl_skip "python3 is needed"

HOST_DEAD=10 # s, the harness default (CL_DEAD unset)
LOW=$(awk -v d=$HOST_DEAD 'BEGIN { print d - 2.5 }')
CAP=$((HOST_DEAD + 10))  # how long a poll goes on

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
# inquorate I: host I's lockd says quorate false
inquorate() { [[ $(stq "$1" 's["quorate"]') == False ]]; }

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

# try I PATH [TIMEOUT]: one `vmfsadm lock PATH -- true` on host I, cut after TIMEOUT s
# (default 5; exit 124 then). Sets TRY_RC, TRY_OUT, TRY_S (seconds it took).
try() {
	local t0
	t0=$(now)
	TRY_RC=0
	TRY_OUT=$(cl_on "$1" timeout -k 1 "${3:-5}" "$ADM" lock "$2" -- true 2>&1) || TRY_RC=$?
	TRY_S=$(since "$t0")
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

start_cluster() {
	cl_setup 3
	"$ADM" format --cluster vmfstest "$CL_DS" >/dev/null || cl_fail "format failed"
	for i in 1 2 3; do cl_start_corosync "$i"; done
	for i in 1 2 3; do cl_wait_quorate "$i" || cl_fail "h$i: corosync not quorate"; done
	for i in 1 2 3; do cl_start_lockd "$i"; done
	for i in 1 2 3; do cl_wait_for 30 ready "$i" 3 || cl_fail "h$i: grants not open with 3 members"; done
	cl_log "cluster ready, isolation $(stq 1 's["isolation"]')"
}

# --- (a) isolation = keep ----------------------------------------------------------------

start_cluster
[[ $(stq 3 's["isolation"]') == keep ]] || cl_fail "(a) h3's isolation is not keep"
hold 3 hold3 p3
cl_log "h3 holds p3 ($(grep -o 'generation.*' "$CL_DIR/hold3.log"))"

t_cut=$(now)
cl_cut 3
cl_wait_for 10 inquorate 3 || cl_fail "(a) h3 still says quorate 10 s after the cut"
cl_log "FIGURE keep: h3 says quorate false $(since "$t_cut") s after the cut"
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
		fle 12 "$(since "$t_cut")" && break
		sleep 0.5
	done
	cl_log "FIGURE keep: h$i locks new-h$i: rc $TRY_RC, last attempt $TRY_S s, $(since "$t_cut") s after the cut"
	((ok)) || cl_fail "(a) h$i cannot lock a new file while h3 is cut: rc $TRY_RC after $TRY_S s: $TRY_OUT"
done

# p3 stays host 3's while host 3's heartbeat lives: 15 s of checks, > host_dead
t_chk=$(now)
n=0
while ! fle 15 "$(since "$t_chk")"; do
	try 1 p3 5
	n=$((n + 1))
	[[ $TRY_RC == 75 && $TRY_OUT == *h3* ]] ||
		cl_fail "(a) h1 'lock p3' $(since "$t_cut") s after the cut: rc $TRY_RC after $TRY_S s, not 75 naming h3: $TRY_OUT"
	cl_alive 3 hold3 && [[ ! -e $CL_DIR/hold3.rc ]] ||
		cl_fail "(a) h3's holder of p3 stopped $(since "$t_cut") s after the cut: $(cat "$CL_DIR/hold3.log" "$CL_DIR/hold3.rc" 2>/dev/null)"
	sleep 1
done
cl_log "(a) p3 stayed h3's for $(since "$t_cut") s after the cut ($n checks from h1)"

t_heal=$(now)
cl_heal 3
for i in 1 2 3; do cl_wait_for 30 ready "$i" 3 || cl_fail "(a) after heal: h$i not ready with 3 members"; done
cl_log "FIGURE keep: all 3 hosts ready $(since "$t_heal") s after the heal"
cl_alive 3 hold3 && [[ ! -e $CL_DIR/hold3.rc ]] ||
	cl_fail "(a) h3's holder of p3 stopped after the heal: $(cat "$CL_DIR/hold3.log" "$CL_DIR/hold3.rc" 2>/dev/null)"
p3=$(locks_norm 1 p3)
[[ $p3 == '[["p3", [[3, "ex", '*', false]]]]' ]] || cl_fail "(a) after heal: p3 is not held by h3 alone: $p3"
try 1 p3 5
[[ $TRY_RC == 75 ]] || cl_fail "(a) after heal: h1 'lock p3' gave rc $TRY_RC, not 75: $TRY_OUT"
# the replicas agree (give a just-merged replica a moment)
agree() {
	A1=$(locks_norm 1) A2=$(locks_norm 2) A3=$(locks_norm 3)
	[[ -n $A1 && $A1 == "$A2" && $A1 == "$A3" ]]
}
cl_wait_for 5 agree || cl_fail "(a) after heal the hosts disagree on the locks: h1 $A1, h2 $A2, h3 $A3"
cl_log "(a) locks agreed on all hosts: $A1"

cl_teardown

# --- (b) isolation = fence ---------------------------------------------------------------

CL_ISOLATION=fence start_cluster
for i in 1 2 3; do
	[[ $(stq "$i" 's["isolation"]') == fence ]] || cl_fail "(b) h$i's isolation is not fence"
done
hold 3 hold3 p3
inc3=$(stq 3 's["incarnation"]')
cl_log "h3 holds p3 ($(grep -o 'generation.*' "$CL_DIR/hold3.log")), incarnation $inc3"

t_cut=$(now)
cl_cut 3
watch_members 1 2 "$CL_DIR/det-b"
poll_lock 1 p3 "$t_cut" "$CAP"
bound_after "$t_cut" "$CL_DIR/det-b"
[[ -n $POLL_OK ]] || cl_fail "(b) h1 did not get p3 within $CAP s of the cut ($POLL_SUM)"
fo=$(since "$t_cut" "$POLL_OK")
cl_log "FIGURE fence: h1 got p3 $fo s after the cut; h1 saw h3 go after $DET s ($POLL_SUM)"
cl_log "(b) h1: $POLL_OUT"
fle "$fo" "$BOUND" || cl_fail "(b) h1 got p3 only $fo s after the cut (> host_dead + detection + 2 = $BOUND s)"
fle "$LOW" "$fo" || cl_fail "(b) h1 got p3 $fo s after the cut, before h3's lease could have expired (>= $LOW s)"

[[ -s $CL_DIR/hold3.rc ]] || cl_fail "(b) h3's holder of p3 still runs when h1 got p3 ($fo s after the cut): $(cat "$CL_DIR/hold3.log")"
read -r rc t_exit <"$CL_DIR/hold3.rc"
cl_log "FIGURE fence: h3's holder exited $rc $(since "$t_cut" "$t_exit") s after the cut ($(grep -o 'lock lost.*' "$CL_DIR/hold3.log" || true))"
[[ $rc == 70 ]] || cl_fail "(b) h3's holder of p3 exited $rc, not 70: $(cat "$CL_DIR/hold3.log")"
fle "$t_exit" "$POLL_OK" || cl_fail "(b) h3's holder stopped at $t_exit, after h1 was granted p3 at $POLL_OK"
cl_log "(b) h3 status while cut: $(stq 3 's["quorate"], s["lease"], s.get("fenced_why"), s["incarnation"]')"

t_heal=$(now)
cl_heal 3
for i in 1 2 3; do cl_wait_for 30 ready "$i" 3 || cl_fail "(b) after heal: h$i not ready with 3 members"; done
cl_log "FIGURE fence: all 3 hosts ready $(since "$t_heal") s after the heal"
inc3b=$(stq 3 's["incarnation"]')
((inc3b > inc3)) || cl_fail "(b) after heal: h3's incarnation is $inc3b, not above $inc3"
for i in 1 2 3; do
	p3=$(locks_norm "$i" p3)
	[[ $p3 != *'[3, "'* ]] || cl_fail "(b) after heal: h$i shows h3 holding p3: $p3"
done
[[ $(stq 3 's["locks_held"]') == 0 ]] || cl_fail "(b) after heal: h3 holds locks"
try 3 p3 5
[[ $TRY_RC == 0 ]] || cl_fail "(b) after heal: h3 cannot lock p3 (free again): rc $TRY_RC: $TRY_OUT"
cl_log "(b) h3 is back as incarnation $inc3b (was $inc3), holding nothing"

echo "ok: check-lockd-partition"
exit 0

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

ADM=$top_builddir/tools/vmfsadm/vmfsadm
[[ $ADM == /* ]] || ADM=$PWD/$ADM
[[ -x $ADM ]] || { echo "check-lockd-failover: $ADM not built"; exit 1; }
command -v python3 >/dev/null || cl_skip "python3 is needed"

HOST_DEAD=10 # s, the harness default (CL_DEAD unset)
LOW=$(awk -v d=$HOST_DEAD 'BEGIN { print d - 2.5 }')
HIGH=$(awk -v d=$HOST_DEAD 'BEGIN { print d + 3.5 + 2 }') # nominal; see bound_after
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
# gen_of LOG: the generation "E:C" a `vmfsadm lock -v` printed
gen_of() { sed -n 's/.*held, generation \([0-9]*:[0-9]*\).*/\1/p' "$1" | tail -n 1; }
# gen_gt A B: generation A > B
gen_gt() { awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, ":"); split(b, y, ":");
	exit !(x[1] > y[1] || (x[1] == y[1] && x[2] > y[2])) }'; }

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
# while its grants are closed). Sets POLL_OK (time of the grant, empty if none), POLL_OUT,
# POLL_RCS (exit codes of the refusals, counted), POLL_LAST (the last refusal), POLL_N
# (attempts) and POLL_LONG (the longest attempt, s).
poll_lock() {
	local i=$1 path=$2 t0=$3 tmax=$4 rc out left ta d
	local -A seen=()
	POLL_OK='' POLL_OUT='' POLL_LAST='' POLL_RCS='' POLL_N=0 POLL_LONG=0
	while :; do
		left=$(awk -v m="$tmax" -v e="$(since "$t0")" 'BEGIN { l = m - e; printf "%.2f", (l > 0.1 ? l : 0.1) }')
		rc=0 ta=$(now)
		out=$(cl_on "$i" timeout -k 1 "$left" "$ADM" lock -v "$path" -- true 2>&1) || rc=$?
		d=$(since "$ta")
		POLL_N=$((POLL_N + 1))
		fle "$d" "$POLL_LONG" || POLL_LONG=$d
		if ((rc == 0)); then
			POLL_OK=$(now) POLL_OUT=$out
			break
		fi
		seen[$rc]=$((${seen[$rc]:-0} + 1))
		POLL_LAST="rc $rc: $out"
		fle "$tmax" "$(since "$t0")" && break
		sleep 0.2
	done
	for rc in "${!seen[@]}"; do POLL_RCS+="rc$rc x${seen[$rc]} "; done
	POLL_SUM="$POLL_N attempt(s), longest ${POLL_LONG} s, refusals: ${POLL_RCS:-none}${POLL_LAST:+; last: $POLL_LAST}"
}

# probe_other I PATH OUT: in the background, time `vmfsadm lock PATH -- true` on host I
# (a file nobody holds) into OUT as "RC SECONDS". Informational: how long a dead host's
# recovery keeps unrelated grants waiting.
probe_other() {
	(
		ta=$(now) rc=0
		cl_on "$1" timeout -k 1 20 "$ADM" lock "$2" -- true >/dev/null 2>&1 || rc=$?
		echo "$rc $(since "$ta")" >"$3"
	) &
}

# --- cluster ---------------------------------------------------------------------------

cl_setup 3
"$ADM" format --cluster vmfstest "$CL_DS" >/dev/null || cl_fail "format failed"
for i in 1 2 3; do cl_start_corosync "$i"; done
for i in 1 2 3; do cl_wait_quorate "$i" || cl_fail "h$i: corosync not quorate"; done
for i in 1 2 3; do cl_start_lockd "$i"; done
for i in 1 2 3; do cl_wait_for 30 ready "$i" 3 || cl_fail "h$i: grants not open with 3 members"; done
cl_log "cluster ready (host_dead ${HOST_DEAD}s: failover window [$LOW, $HIGH] s)"

# --- 1. kill -9 of lockd ----------------------------------------------------------------

hold 1 hold1 vm1/disk.img
gen1=$(gen_of "$CL_DIR/hold1.log")
inc1=$(stq 1 's["incarnation"]')
cl_log "h1 holds vm1/disk.img, generation $gen1, incarnation $inc1"

t_kill=$(now)
cl_kill 1 lockd KILL
cl_log "h1: lockd killed (SIGKILL)"
watch_members 2 2 "$CL_DIR/det-a"
sleep 0.5
probe_other 3 vm9/other-a.img "$CL_DIR/probe-a"
poll_lock 2 vm1/disk.img "$t_kill" "$CAP"
bound_after "$t_kill" "$CL_DIR/det-a"
[[ -n $POLL_OK ]] || cl_fail "lockd kill: h2 did not get vm1/disk.img within $CAP s ($POLL_SUM)"
fo=$(since "$t_kill" "$POLL_OK")
cl_log "FIGURE lockd kill -9: failover after $fo s; h2 saw h1 go after $DET s ($POLL_SUM)"
fle "$fo" "$BOUND" || cl_fail "lockd kill: h2 got vm1/disk.img only $fo s after the kill (> host_dead + detection + 2 = $BOUND s)"
fle "$LOW" "$fo" || cl_fail "lockd kill: h2 got vm1/disk.img $fo s after the kill, before h1's lease could have expired (>= $LOW s)"
gen2=$(sed -n 's/.*held, generation \([0-9]*:[0-9]*\).*/\1/p' <<<"$POLL_OUT")
gen_gt "$gen2" "$gen1" || cl_fail "lockd kill: h2's generation $gen2 is not above h1's $gen1"

cl_wait_for 10 test -s "$CL_DIR/probe-a" && read -r rc d <"$CL_DIR/probe-a" &&
	cl_log "FIGURE lockd kill -9: h3's lock of an unrelated file, 0.5 s after the kill: rc $rc after $d s" || true
cl_wait_for 5 test -s "$CL_DIR/hold1.rc" || cl_fail "lockd kill: h1's vmfsadm lock still runs after its lockd died"
read -r rc t_exit <"$CL_DIR/hold1.rc"
cl_log "FIGURE lockd kill -9: h1's vmfsadm lock exited $rc after $(since "$t_kill" "$t_exit") s"
[[ $rc == 70 ]] || cl_fail "lockd kill: h1's vmfsadm lock exited $rc, not 70: $(cat "$CL_DIR/hold1.log")"

# --- 2. lockd restarted on host 1 -------------------------------------------------------

t0=$(now)
cl_start_lockd 1
for i in 1 2 3; do cl_wait_for 30 ready "$i" 3 || cl_fail "after lockd restart: h$i not ready with 3 members"; done
cl_log "FIGURE lockd restart: h1 back with grants open after $(since "$t0") s"
inc1b=$(stq 1 's["incarnation"]')
((inc1b > inc1)) || cl_fail "after lockd restart: h1 incarnation $inc1b, not above $inc1"
[[ $(stq 1 's["locks_held"]') == 0 ]] || cl_fail "after lockd restart: h1 holds locks: $(cl_on 1 "$ADM" locks --json)"

# --- 3. kill -9 of corosync -------------------------------------------------------------

hold 1 hold1 vm1/disk.img
gen3=$(gen_of "$CL_DIR/hold1.log")
gen_gt "$gen3" "$gen2" || cl_fail "h1's new generation $gen3 is not above $gen2"
cl_log "h1 holds vm1/disk.img again, generation $gen3"

t_kill=$(now)
cl_kill 1 corosync KILL
cl_log "h1: corosync killed (SIGKILL)"
watch_members 2 2 "$CL_DIR/det-b"
# host 1's holder must go at once: without corosync there is no agreed order
cl_wait_for 5 test -s "$CL_DIR/hold1.rc" || cl_fail "corosync kill: h1's vmfsadm lock still runs 5 s after the kill"
read -r rc t_exit <"$CL_DIR/hold1.rc"
lost=$(since "$t_kill" "$t_exit")
cl_log "FIGURE corosync kill -9: h1's vmfsadm lock exited $rc after $lost s"
[[ $rc == 70 ]] || cl_fail "corosync kill: h1's vmfsadm lock exited $rc, not 70: $(cat "$CL_DIR/hold1.log")"
grep -q "lock lost" "$CL_DIR/hold1.log" || cl_fail "corosync kill: h1's vmfsadm lock did not say 'lock lost': $(cat "$CL_DIR/hold1.log")"
fle "$lost" 1.5 || cl_fail "corosync kill: h1's vmfsadm lock took $lost s to stop (> 1.5 s)"

sleep 0.5
probe_other 3 vm9/other-b.img "$CL_DIR/probe-b"
poll_lock 2 vm1/disk.img "$t_kill" "$CAP"
bound_after "$t_kill" "$CL_DIR/det-b"
[[ -n $POLL_OK ]] || cl_fail "corosync kill: h2 did not get vm1/disk.img within $CAP s ($POLL_SUM)"
fo=$(since "$t_kill" "$POLL_OK")
cl_log "FIGURE corosync kill -9: failover after $fo s; h2 saw h1 go after $DET s ($POLL_SUM)"
fle "$fo" "$BOUND" || cl_fail "corosync kill: h2 got vm1/disk.img only $fo s after the kill (> host_dead + detection + 2 = $BOUND s)"
fle "$LOW" "$fo" || cl_fail "corosync kill: h2 got vm1/disk.img $fo s after the kill, before h1's lease could have expired (>= $LOW s)"
gen4=$(sed -n 's/.*held, generation \([0-9]*:[0-9]*\).*/\1/p' <<<"$POLL_OUT")
gen_gt "$gen4" "$gen3" || cl_fail "corosync kill: h2's generation $gen4 is not above h1's $gen3"

cl_wait_for 10 test -s "$CL_DIR/probe-b" && read -r rc d <"$CL_DIR/probe-b" &&
	cl_log "FIGURE corosync kill -9: h3's lock of an unrelated file, 0.5 s after the kill: rc $rc after $d s" || true
cl_alive 1 lockd || cl_fail "corosync kill: h1's lockd died: $(tail -n 20 "$CL_DIR/h1/lockd.log")"
s=$(stq 1 's["connected"], s["lease"]') || cl_fail "corosync kill: h1's lockd does not answer status"
[[ $s == "False none" ]] || cl_fail "corosync kill: h1's status says connected, lease = $s (want False none)"

# --- 4. corosync back on host 1 ---------------------------------------------------------

t0=$(now)
cl_start_corosync 1
for i in 1 2 3; do cl_wait_for 30 ready "$i" 3 || cl_fail "after corosync restart: h$i not ready with 3 members"; done
cl_log "FIGURE corosync restart: h1's lockd back with grants open after $(since "$t0") s"
cl_alive 1 lockd || cl_fail "after corosync restart: h1's lockd died"
cl_on 1 "$ADM" lock vm1/disk.img -- true || cl_fail "after corosync restart: h1 cannot lock vm1/disk.img"

echo "ok: check-lockd-failover"
exit 0

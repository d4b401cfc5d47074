# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash disable=SC2034 # the variables set here are for the tests
#
# tests/cluster/lockd.sh - what the vmfs-lockd cluster tests (check-lockd-*.sh) share, on
# top of lib.sh: vmfsadm's --json read through python3, readiness waits, starting the
# cluster, lock holders in the background, generations, failover timing.
#
# Usage (bash, after lib.sh; safe under `set -euo pipefail`):
#
#	source "$top_srcdir/tests/cluster/lib.sh"
#	source "$top_srcdir/tests/cluster/lockd.sh"
#	lt_init                         # needs top_builddir; exit 1 / skip (77) as below
#	cl_setup 3
#	lt_start_cluster 30 1 2 3       # format, corosync and lockd on h1..h3, grants open
#	lt_hold 1 h1x vm1/disk.img      # h1 holds vm1/disk.img EX until lt_unhold 1 h1x
#
# Functions, one line each:
#	lt_init                     set ADM (vmfsadm, also on PATH) and the LT_ bounds; exit 1 unbuilt, 77 no python3
#	lt_pass NAME                print "PASS: NAME in S s", S the time since lt_init
#	lt_now                      the wall clock in seconds, with nanoseconds (date +%s.%N)
#	lt_now_ms                   the wall clock in ms (EPOCHREALTIME), for elapsed times
#	lt_since T0 [T1]            seconds from T0 to T1 (default now), 2 decimals
#	lt_fle A B                  true if A <= B (decimal numbers)
#	lt_json VAR EXPR [ARG...]   print python EXPR over the JSON on stdin, bound to VAR (ARGs: argv)
#	lt_stq I EXPR [ARG...]      lt_json over host I's `vmfsadm status --json` (as s); empty if no answer
#	lt_dumpq EXPR [ARG...]      lt_json over `vmfsadm dump --json` of the datastore (as d)
#	lt_locks_canon I            host I's locks --json as sorted lines "path host name mode E:C orphan|-"
#	lt_locks_norm I [PATH...]   host I's locks --json (or only PATHs) as one sorted JSON line
#	lt_agree I...               true if hosts I... show one non-empty lt_locks_norm (kept in A<I>)
#	lt_disk_paths H             print the paths in host H's lock table on the volume
#	lt_ready I N                true if host I's lockd has grants open and N members
#	lt_wait_ready WHAT S N I... wait up to S s for each host I to be lt_ready with N members, else fail
#	lt_format [ARG...]          vmfsadm format ARGs (default --cluster $CL_CLUSTER) $CL_DS, else fail
#	lt_start_corosync I...      start corosync on hosts I..., wait up to 30 s for each to be quorate
#	lt_start_cluster S I...     lt_format, lt_start_corosync, lockd on hosts I..., lt_wait_ready S
#	lt_new_incarnation WHAT I INC0  fail unless host I runs an incarnation > INC0 (in INC), holding nothing
#	lt_lockd_alive I...         fail unless every host I's lockd still runs (naming its log's tail)
#	lt_hold I NAME PATH [MODE [CMD...]]  host I holds PATH in the background as NAME (files $CL_DIR/NAME.*)
#	lt_holder_out NAME          print holder NAME's output and exit record (for failure messages)
#	lt_holding I NAME           true while holder NAME on host I runs and its vmfsadm lock has not exited
#	lt_unhold I NAME            let holder NAME's default CMD end; its vmfsadm lock must exit 0
#	lt_gen_of <TEXT             print the last generation "E:C" a `vmfsadm lock -v` printed
#	lt_gen_gt A B               true if generation A is above generation B
#	lt_watch_members I N OUT    in the background, write lt_now to OUT once host I shows N members
#	lt_bound_after T0 OUT       set DET (T0 to OUT's time) and BOUND = host_dead + max(DET, 3.5) + 2 (+ LT_EXTRA s)
#	lt_poll_lock I PATH T0 TMAX lock PATH on host I every 0.2 s until granted or TMAX s after T0
#	lt_failover WHAT EVENT I J PATH T0 OUT FIGURE  host I polls PATH after EVENT took host J away
#
# The bounds lt_init sets, in seconds, from the harness's host_dead (CL_DEAD, default
# 10000 ms): LT_HOST_DEAD; LT_LOW = host_dead - 2.5, before which a lost host's lease may
# still be valid (deadline = t_s + host_dead - io_timeout - skew, t_s up to hb_interval +
# io before the event); LT_HIGH = host_dead + 3.5 + 2, the nominal failover bound;
# LT_CAP = host_dead + 10, how long a poll goes on.

# --- setup and timing -------------------------------------------------------------------

lt_init() {
	# shellcheck disable=SC2154 # set by the test before it sources lib.sh
	ADM=$top_builddir/tools/vmfsadm/vmfsadm
	[[ $ADM == /* ]] || ADM=$PWD/$ADM
	HO=$top_builddir/handoff/cli/vmfs-handoff
	[[ $HO == /* ]] || HO=$PWD/$HO
	[[ -x $ADM ]] || { echo "FAIL: $ADM not built" >&2; exit 1; }
	command -v python3 >/dev/null 2>&1 || cl_skip "needs python3 (reads vmfsadm --json)"
	export PATH="${ADM%/*}:$PATH"
	LT_HOST_DEAD=$(awk -v d="${CL_DEAD:-10000}" 'BEGIN { print d / 1000 }')
	LT_LOW=$(awk -v d="$LT_HOST_DEAD" 'BEGIN { print d - 2.5 }')
	LT_HIGH=$(awk -v d="$LT_HOST_DEAD" 'BEGIN { print d + 3.5 + 2 }')
	LT_CAP=$(awk -v d="$LT_HOST_DEAD" 'BEGIN { print d + 10 }')
	_LT_T0=$(date +%s%N)
}

lt_pass() {
	local el=$((($(date +%s%N) - _LT_T0) / 100000000))
	echo "PASS: $1 in $((el / 10)).$((el % 10)) s"
}

lt_now() { date +%s.%N; }

# lt_ho I ARGS...: vmfs-handoff ARGS on host I (30 s at most); sets OUT (stdout and
# stderr) and RC
lt_ho() {
	local i=$1
	shift
	RC=0
	OUT=$(cl_on "$i" timeout 30 "$HO" "$@" 2>&1) || RC=$?
}

lt_now_ms() { local t=${EPOCHREALTIME/[.,]/}; printf '%s' $((10#$t / 1000)); }

lt_since() { awk -v a="$1" -v b="${2:-$(date +%s.%N)}" 'BEGIN { printf "%.2f", b - a }'; }

lt_fle() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }

# --- vmfsadm --json -----------------------------------------------------------------------

# a tuple prints as its items, space-separated ("False none")
lt_json() {
	python3 -c '
import json, sys
v = eval(sys.argv[2], {sys.argv[1]: json.load(sys.stdin), "argv": sys.argv[3:]})
print(" ".join(map(str, v)) if isinstance(v, tuple) else v)' "$@"
}

lt_stq() {
	local i=$1
	shift
	cl_on "$i" "$ADM" status --json 2>/dev/null | lt_json s "$@" 2>/dev/null
}

lt_dumpq() { "$ADM" dump --json "$CL_DS" 2>/dev/null | lt_json d "$@"; }

lt_locks_canon() {
	cl_on "$1" "$ADM" locks --json | python3 -c '
import json, sys
for l in sorted(json.load(sys.stdin), key=lambda l: l["path"]):
    for h in sorted(l["holders"], key=lambda h: h["host"]):
        print(l["path"], h["host"], h["name"], h["mode"], "%d:%d" % tuple(h["gen"]),
              "orphan" if h["orphan"] else "-")'
}

# each path with its holders' host, mode, generation and orphan flag
lt_locks_norm() {
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

lt_agree() {
	local i ref=A$1 other
	for i in "$@"; do printf -v "A$i" '%s' "$(lt_locks_norm "$i")"; done
	[[ -n ${!ref} ]] || return 1
	for i in "$@"; do
		other=A$i
		[[ ${!other} == "${!ref}" ]] || return 1
	done
}

lt_disk_paths() {
	lt_dumpq '" ".join(sorted(l["path"] for a in d["hosts"] if a["host"] == int(argv[0])
	                          for l in a["locks"]))' "$1"
}

# --- the cluster ------------------------------------------------------------------------

lt_ready() { [[ $(lt_stq "$1" 's["grants_open"] and len(s["members"])') == "$2" ]]; }

lt_wait_ready() {
	local what=$1 secs=$2 n=$3 i
	shift 3
	for i in "$@"; do
		cl_wait_for "$secs" lt_ready "$i" "$n" ||
			cl_fail "$what: h$i: grants not open with $n members within $secs s: $(cl_on "$i" "$ADM" status 2>&1)"
	done
}

lt_format() {
	(($#)) || set -- --cluster "$CL_CLUSTER"
	"$ADM" format "$@" "$CL_DS" >"$CL_DIR/format.log" 2>&1 ||
		cl_fail "vmfsadm format $* failed: $(cat "$CL_DIR/format.log")"
}

lt_start_corosync() {
	local i
	for i in "$@"; do cl_start_corosync "$i"; done
	for i in "$@"; do
		cl_wait_quorate "$i" 30 || cl_fail "h$i: corosync not quorate within 30 s: $(cl_quorum "$i")"
	done
}

lt_start_cluster() {
	local secs=$1 i
	shift
	lt_format
	lt_start_corosync "$@"
	for i in "$@"; do cl_start_lockd "$i"; done
	lt_wait_ready start "$secs" $# "$@"
}

lt_new_incarnation() {
	local what=$1 i=$2 inc0=$3
	INC=$(lt_stq "$i" 's["incarnation"]')
	((INC > inc0)) || cl_fail "$what: h$i's incarnation is $INC, not above $inc0"
	[[ $(lt_stq "$i" 's["locks_held"]') == 0 ]] ||
		cl_fail "$what: h$i still holds locks: $(cl_on "$i" "$ADM" locks --json 2>&1)"
}

lt_lockd_alive() {
	local i
	for i in "$@"; do
		cl_alive "$i" lockd || cl_fail "h$i lockd is gone: $(tail -n 5 "$CL_DIR/h$i/lockd.log")"
	done
}

# --- lock holders -------------------------------------------------------------------------

# `vmfsadm lock -v --mode MODE PATH -- CMD` in the background on host I; returns once the
# lock is held. MODE defaults to ex; CMD, to waiting for $CL_DIR/NAME.go (lt_unhold).
# Files: $CL_DIR/NAME.log (vmfsadm's output), NAME.rc ("<exit status> <lt_now>", written
# once vmfsadm lock exited); NAME.term is removed too, for a CMD that notes there when it
# got SIGTERM. The pid cl_bg records as NAME is the sh that runs vmfsadm lock and writes
# NAME.rc: signal vmfsadm itself through its children.
lt_hold() {
	local i=$1 name=$2 path=$3 mode=${4:-ex} f=$CL_DIR/$2
	shift $(($# < 4 ? $# : 4))
	# shellcheck disable=SC2016 # expanded by the inner sh
	(($#)) || set -- sh -c 'while [ ! -e "$1" ]; do sleep 0.05; done' wait "$f.go"
	rm -f "$f.rc" "$f.go" "$f.term"
	: >"$f.log"
	# shellcheck disable=SC2016 # expanded by the inner sh
	cl_bg "$i" "$name" "$f.log" sh -c '"$@"; echo "$? $(date +%s.%N)" >"$0"' \
		"$f.rc" "$ADM" lock -v --mode "$mode" "$path" -- "$@"
	cl_wait_for 10 grep -q "held, generation" "$f.log" ||
		cl_fail "h$i could not take $mode on $path in 10 s: $(lt_holder_out "$name")"
}

lt_holder_out() { cat "$CL_DIR/$1.log" "$CL_DIR/$1.rc" 2>/dev/null || true; }

lt_holding() { cl_alive "$1" "$2" && [[ ! -e $CL_DIR/$2.rc ]]; }

lt_unhold() {
	local i=$1 name=$2 f=$CL_DIR/$2 rc=
	: >"$f.go"
	cl_wait_for 10 eval '! cl_alive '"$i $name" ||
		cl_fail "h$i $name still running 10 s after its command was told to end"
	cl_wait_for 2 test -s "$f.rc" || true
	read -r rc _ 2>/dev/null <"$f.rc" || true
	[[ $rc == 0 ]] ||
		cl_fail "h$i $name: vmfsadm lock did not exit 0 after its command ended: $(lt_holder_out "$name")"
}

lt_gen_of() { sed -n 's/.*held, generation \([0-9]*:[0-9]*\).*/\1/p' | tail -n 1; }

lt_gen_gt() {
	local a=$1 b=$2
	[[ $a =~ ^[0-9]+:[0-9]+$ && $b =~ ^[0-9]+:[0-9]+$ ]] || return 1
	((10#${a%%:*} > 10#${b%%:*} || (10#${a%%:*} == 10#${b%%:*} && 10#${a##*:} > 10#${b##*:})))
}

# --- failover -------------------------------------------------------------------------------

# gives up after 30 s
lt_watch_members() {
	rm -f "$3"
	(
		for _ in $(seq 300); do
			[[ $(lt_stq "$1" 'len(s["members"])') == "$2" ]] && { lt_now >"$3"; exit 0; }
			sleep 0.1
		done
	) &
}

# DET is "none" when OUT holds no time; BOUND counts the detection as at least 3.5 s
lt_bound_after() {
	DET=none
	[[ -s $2 ]] && DET=$(lt_since "$1" "$(<"$2")")
	BOUND=$(awk -v d="$LT_HOST_DEAD" -v t="$DET" -v x="${LT_EXTRA:-0}" 'BEGIN { if (t == "none" || t + 0 < 3.5) t = 3.5; print d + t + 2 + x }')
}

# One attempt is cut at TMAX: the daemon may hold a request while its grants are closed.
# Sets POLL_OK (lt_now of the grant, empty if none), POLL_OUT (the granted vmfsadm lock -v's
# output) and POLL_SUM (attempts, the longest, the refusals' exit codes and the last one).
lt_poll_lock() {
	local i=$1 path=$2 t0=$3 tmax=$4 rc out left ta d n=0 long=0 last='' rcs=''
	local -A seen=()
	POLL_OK='' POLL_OUT=''
	while :; do
		left=$(awk -v m="$tmax" -v e="$(lt_since "$t0")" 'BEGIN { l = m - e; printf "%.2f", (l > 0.1 ? l : 0.1) }')
		rc=0 ta=$(lt_now)
		out=$(cl_on "$i" timeout -k 1 "$left" "$ADM" lock -v "$path" -- true 2>&1) || rc=$?
		d=$(lt_since "$ta")
		n=$((n + 1))
		lt_fle "$d" "$long" || long=$d
		if ((rc == 0)); then
			POLL_OK=$(lt_now) POLL_OUT=$out
			break
		fi
		seen[$rc]=$((${seen[$rc]:-0} + 1))
		last="rc $rc: $out"
		lt_fle "$tmax" "$(lt_since "$t0")" && break
		sleep 0.2
	done
	for rc in "${!seen[@]}"; do rcs+="rc$rc x${seen[$rc]} "; done
	POLL_SUM="$n attempt(s), longest $long s, refusals: ${rcs:-none}${last:+; last: $last}"
}

# WHAT names the case in failure messages ("WHAT: h2 got ..."), EVENT what happened at T0
# ("the EVENT"); OUT is lt_watch_members' file of host I. FIGURE is a printf format of
# three %s: FO, DET and POLL_SUM; it is logged as "FIGURE ..." before the bounds are checked.
# Sets FO (seconds from T0 to the grant), DET, BOUND and the POLL_ variables.
lt_failover() {
	local what=$1 event=$2 i=$3 j=$4 path=$5 t0=$6 out=$7 fig=$8
	lt_poll_lock "$i" "$path" "$t0" "$LT_CAP"
	lt_bound_after "$t0" "$out"
	[[ -n $POLL_OK ]] || cl_fail "$what: h$i did not get $path within $LT_CAP s of the $event ($POLL_SUM)"
	FO=$(lt_since "$t0" "$POLL_OK")
	# shellcheck disable=SC2059 # the format is the caller's
	cl_log "FIGURE $(printf "$fig" "$FO" "$DET" "$POLL_SUM")"
	lt_fle "$FO" "$BOUND" ||
		cl_fail "$what: h$i got $path only $FO s after the $event (> host_dead + detection + 2${LT_EXTRA:+ + $LT_EXTRA} = $BOUND s)"
	lt_fle "$LT_LOW" "$FO" ||
		cl_fail "$what: h$i got $path $FO s after the $event, before h$j's lease could have expired (>= $LT_LOW s)"
}

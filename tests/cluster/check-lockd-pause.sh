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
# shellcheck source=tests/cluster/lockd.sh
source "$top_srcdir/tests/cluster/lockd.sh"
lt_init # LT_LOW, LT_HIGH, LT_CAP: the failover window of host_dead (10 s, CL_DEAD unset)
PAUSE=$(awk -v d="$LT_HOST_DEAD" 'BEGIN { print d + 6 }')

# --- cluster ---------------------------------------------------------------------------

cl_setup 3
lt_start_cluster 30 1 2 3
cl_log "cluster ready (host_dead ${LT_HOST_DEAD}s: failover window [$LT_LOW, $LT_HIGH] s, pause $PAUSE s)"

# pause_round NAME FIRST GAP: one freeze of host 1; FIRST (lockd|corosync) gets SIGCONT
# first, the other GAP s later
pause_round() {
	local r=$1 first=$2 gap=$3 second inc gen gen2 t_stop t_cont t_lockd rc t_exit
	local n0 fence_at rejoin_at lines t_term ready_s
	[[ $first == lockd ]] && second=corosync || second=lockd
	cl_log "--- $r: resume $first first, $second $gap s later"
	# CMD: sleeps, and writes the time it got SIGTERM to $CL_DIR/hold-$r.term
	lt_hold 1 "hold-$r" p1 ex \
		sh -c 'trap "date +%s.%N >\"\$0\"; exit 143" TERM; sleep 600 & wait' "$CL_DIR/hold-$r.term"
	gen=$(lt_gen_of <"$CL_DIR/hold-$r.log")
	inc=$(lt_stq 1 's["incarnation"]')
	cl_log "$r: h1 holds p1, generation $gen, incarnation $inc"
	n0=$(wc -l <"$CL_DIR/h1/lockd.log")

	t_stop=$(lt_now)
	cl_kill 1 corosync STOP
	cl_kill 1 lockd STOP
	cl_log "$r: h1's corosync and lockd stopped (SIGSTOP)"
	lt_watch_members 2 2 "$CL_DIR/det-$r"
	lt_failover "$r" stop 2 1 p1 "$t_stop" "$CL_DIR/det-$r" \
		"$r: h2 got p1 %s s after the stop; h2 saw h1 go after %s s (%s)"
	gen2=$(lt_gen_of <<<"$POLL_OUT")
	lt_gen_gt "$gen2" "$gen" || cl_fail "$r: h2's generation $gen2 is not above h1's $gen"

	while ! lt_fle "$PAUSE" "$(lt_since "$t_stop")"; do sleep 0.2; done
	[[ ! -e $CL_DIR/hold-$r.rc ]] || cl_log "$r: note: h1's holder exited while lockd was stopped: $(cat "$CL_DIR/hold-$r.rc")"
	t_cont=$(lt_now)
	cl_kill 1 "$first" CONT
	sleep "$gap"
	cl_kill 1 "$second" CONT
	cl_log "$r: h1 resumed after $(lt_since "$t_stop" "$t_cont") s ($first, then $second)"
	[[ $first == lockd ]] && t_lockd=$t_cont || t_lockd=$(awk -v a="$t_cont" -v g="$gap" 'BEGIN { printf "%.9f", a + g }')

	cl_wait_for 10 test -s "$CL_DIR/hold-$r.term" ||
		cl_fail "$r: h1's CMD under p1 got no SIGTERM within 10 s of the resume: $(lt_holder_out "hold-$r")"
	t_term=$(<"$CL_DIR/hold-$r.term")
	cl_log "FIGURE $r: h1's CMD got SIGTERM $(lt_since "$t_lockd" "$t_term") s after lockd's SIGCONT"
	lt_fle "$(lt_since "$t_lockd" "$t_term")" 1 || cl_fail "$r: h1's CMD under p1 got SIGTERM $(lt_since "$t_lockd" "$t_term") s after lockd's resume (> 1 s)"
	cl_wait_for 10 test -s "$CL_DIR/hold-$r.rc" || cl_fail "$r: h1's vmfsadm lock still runs 10 s after the resume: $(lt_holder_out "hold-$r")"
	read -r rc t_exit <"$CL_DIR/hold-$r.rc"
	cl_log "FIGURE $r: h1's vmfsadm lock exited $rc $(lt_since "$t_lockd" "$t_exit") s after lockd's SIGCONT ($(grep -o 'lock lost.*' "$CL_DIR/hold-$r.log" || true))"
	[[ $rc == 70 ]] || cl_fail "$r: h1's vmfsadm lock exited $rc, not 70: $(lt_holder_out "hold-$r")"
	lt_fle "$(lt_since "$t_lockd" "$t_exit")" 2 || cl_fail "$r: h1's vmfsadm lock exited $(lt_since "$t_lockd" "$t_exit") s after lockd's resume (> 2 s; $second resumed $gap s after $first)"

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

	lt_wait_ready "$r: after the resume" 30 3 1 2 3
	ready_s=$(lt_since "$t_cont")
	cl_log "FIGURE $r: all 3 hosts ready $ready_s s after the first SIGCONT"
	lt_fle "$ready_s" 12 || cl_fail "$r: the cluster took $ready_s s after the resume to have all 3 hosts ready (> 12 s)"
	cl_alive 1 lockd || cl_fail "$r: h1's lockd died"

	lt_new_incarnation "$r: after the resume" 1 "$inc"
	cl_wait_for 5 lt_agree 1 2 3 || cl_fail "$r: hosts disagree on the locks: h1 $A1, h2 $A2, h3 $A3"
	[[ $A1 != *'[1, "'* ]] || cl_fail "$r: h1 shown holding a lock after the resume: $A1"
	cl_wait_for 5 eval '[[ -z $(lt_disk_paths 1) ]]' ||
		cl_fail "$r: h1's lock table on the volume still lists: $(lt_disk_paths 1)"
	cl_log "$r: h1 back as incarnation $INC (was $inc), holding nothing; locks agreed: $A1"
}

n=0
for first in ${PAUSE_ROUNDS:-lockd corosync}; do
	n=$((n + 1))
	pause_round "r$n-$first-first" "$first" 3
done

echo "ok: check-lockd-pause"
exit 0

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# check-handoff-failures.sh - handoffs whose parties fail, 3 hosts (handoff_timeout 6 s,
# default timing otherwise). The files are held by `vmfsadm lock` processes; each case uses
# its own VM directory. Every outcome is checked on every surviving host: the same state
# from status, and the locks where that state says.
#
# 1. Source lockd killed between prepare and commit: the handoff is aborted (status on h2
#    and h3), the files stay the source's (orphaned) and are free after dead-host recovery.
# 2. Source's lock holder killed between prepare and commit (the VM process, or vmfsd,
#    dies): its release waits for the handoff, which is aborted after handoff_timeout;
#    then the files are free.
# 3. Source lockd killed right after the commit was sent: h2 and h3 agree on the outcome,
#    and the files are held where it says (destination: committed; source, orphaned, then
#    recovered: aborted).
# 4. Destination lockd killed after the commit: its files go through dead-host recovery
#    (h3 locks them after host_dead, not before host_dead - 2.5 s).
# 5. Source cut off right after the commit was sent: the majority (h2, h3) decides; after
#    the heal every host agrees, and the files are where that says. 5b: cut off before
#    it: the commit fails on the inquorate source (exit 69), the majority aborts, and
#    after the heal every host says aborted.
# 6. Two commits at once: both succeed, one handoff.
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
TIMEOUT_MS=6000
state_on() { cl_on "$1" "$HO" status --json "$2" 2>/dev/null | lt_json s 's["state"]'; }
holder_of() { lt_locks_canon "$1" | awk -v p="$2" '$1 == p { print $2 }'; }
agree() { # agree ID HOSTS...: every host gives ID the same state; prints it
	local id=$1 s0 s
	shift
	s0=$(state_on "$1" "$id")
	for i in "$@"; do
		s=$(state_on "$i" "$id")
		[[ $s == "$s0" ]] || return 1
	done
	printf '%s' "$s0"
}
# prep NAME: h1 holds NAME/disk.img and NAME/vm.cfg; prepares them to h2; sets ID
prep() {
	lt_hold 1 "$1-d" "$1/disk.img" ex
	lt_hold 1 "$1-c" "$1/vm.cfg" ex
	lt_ho 1 prepare --to h2 "$1"
	[[ $RC == 0 ]] || cl_fail "$1: prepare: exit $RC: $OUT"
	ID=${OUT##* }
}
# restart_lockd I: a new incarnation on host I, waited for until it can lock (its previous
# one recovered first)
restart_lockd() {
	cl_start_lockd "$1"
	lt_wait_ready "restart h$1" 30 3 1 2 3
	cl_wait_for "$LT_CAP" cl_on "$1" "$ADM" lock "probe-h$1" -- true ||
		cl_fail "h$1 cannot lock anything $LT_CAP s after its restart"
}

cl_setup 3
for i in 1 2 3; do cl_conf_set "$i" handoff_timeout_ms "$TIMEOUT_MS"; done
lt_start_cluster 30 1 2 3

# --- 1. source lockd killed between prepare and commit -------------------------------------------
prep c1
t0=$(lt_now)
cl_kill 1 lockd KILL
cl_wait_for 10 eval '[[ $(agree '"$ID"' 2 3) == aborted ]]' ||
	cl_fail "case 1: after the source died h2/h3 say $(state_on 2 "$ID")/$(state_on 3 "$ID"), want aborted"
cl_log "case 1: source killed before commit: aborted on h2 and h3 after $(lt_since "$t0") s"
[[ $(holder_of 2 c1/disk.img) == 1 ]] || cl_fail "case 1: c1/disk.img is not the (departed) source's: $(lt_locks_canon 2)"
lt_poll_lock 3 c1/disk.img "$t0" "$LT_CAP"
[[ -n $POLL_OK ]] || cl_fail "case 1: h3 never got c1/disk.img ($POLL_SUM)"
fo=$(lt_since "$t0" "$POLL_OK")
lt_fle "$LT_LOW" "$fo" || cl_fail "case 1: h3 got c1/disk.img $fo s after the kill, before the lease could expire"
cl_log "FIGURE handoff case 1: the source's files free $fo s after its death (recovery)"
restart_lockd 1

# --- 2. the source's holder dies between prepare and commit -------------------------------------------
prep c2
t0=$(lt_now)
for n in c2-d c2-c; do for p in $(cat /proc/"$(cl_pid 1 "$n")"/task/*/children 2>/dev/null); do kill -KILL "$p" || true; done; cl_kill 1 "$n" KILL || true; done
sleep 1
[[ $(state_on 2 "$ID") == pending ]] || cl_fail "case 2: the handoff ended at once when its holder died: $(state_on 2 "$ID")"
[[ $(holder_of 3 c2/disk.img) == 1 ]] || cl_fail "case 2: the source let go of c2/disk.img during a pending handoff"
cl_wait_for 15 eval '[[ $(agree '"$ID"' 1 2 3) == aborted ]]' || cl_fail "case 2: not aborted after handoff_timeout: $(state_on 2 "$ID")"
cl_wait_for 5 eval '[[ -z $(holder_of 3 c2/disk.img) ]]' || cl_fail "case 2: c2/disk.img still held after the abort: $(lt_locks_canon 3)"
cl_log "FIGURE handoff case 2: holder gone, handoff aborted and files free $(lt_since "$t0") s later (handoff_timeout $TIMEOUT_MS ms)"

# --- 3. source lockd killed right after the commit was sent ------------------------------------------
prep c3
cl_bg 1 commit3 "$CL_DIR/commit3.out" "$HO" commit "$ID"
sleep 0.002
cl_kill 1 lockd KILL
t0=$(lt_now)
cl_wait_for 10 eval '[[ -n $(agree '"$ID"' 2 3) && $(agree '"$ID"' 2 3) != pending ]]' ||
	cl_fail "case 3: h2/h3 do not agree on a final state: $(state_on 2 "$ID") / $(state_on 3 "$ID")"
s=$(agree "$ID" 2 3)
case $s in
committed) [[ $(holder_of 3 c3/disk.img) == 2 && $(holder_of 3 c3/vm.cfg) == 2 ]] || cl_fail "case 3: committed, but the files are not h2's: $(lt_locks_canon 3)" ;;
aborted) [[ $(holder_of 3 c3/disk.img) == 1 && $(holder_of 3 c3/vm.cfg) == 1 ]] || cl_fail "case 3: aborted, but the files are not h1's: $(lt_locks_canon 3)" ;;
*) cl_fail "case 3: state $s" ;;
esac
cl_log "case 3: source killed right after commit: h2 and h3 agree: $s; files where it says"
cl_wait_for "$LT_CAP" eval '[[ -z $(lt_locks_canon 3 | awk '"'"'$1 ~ /^c[13]\// && $2 == 1'"'"') ]]' ||
	cl_fail "case 3: h1's orphans not recovered: $(lt_locks_canon 3)"
restart_lockd 1

# --- 4. destination lockd killed after the commit -------------------------------------------------
prep c4
lt_ho 1 commit "$ID"
[[ $RC == 0 ]] || cl_fail "case 4: commit: exit $RC: $OUT"
[[ $(holder_of 3 c4/disk.img) == 2 ]] || cl_fail "case 4: not h2's after the commit"
t0=$(lt_now)
cl_kill 2 lockd KILL
lt_poll_lock 3 c4/disk.img "$t0" "$LT_CAP"
[[ -n $POLL_OK ]] || cl_fail "case 4: h3 never got c4/disk.img ($POLL_SUM)"
fo=$(lt_since "$t0" "$POLL_OK")
lt_fle "$LT_LOW" "$fo" || cl_fail "case 4: h3 got c4/disk.img $fo s after the destination died, before its lease could expire"
cl_log "FIGURE handoff case 4: destination killed after commit: its files free $fo s later (recovery)"
[[ $(state_on 3 "$ID") == committed ]] || cl_fail "case 4: status after the destination's recovery: $(state_on 3 "$ID")"
restart_lockd 2

# --- 5. source cut off during the commit ------------------------------------------------------------
prep c5
cl_bg 1 commit5 "$CL_DIR/commit5.out" "$HO" commit "$ID"
cl_cut 1
cl_wait_for 20 eval '[[ -n $(agree '"$ID"' 2 3) && $(agree '"$ID"' 2 3) != pending ]]' ||
	cl_fail "case 5: h2/h3 did not decide: $(state_on 2 "$ID") / $(state_on 3 "$ID")"
s=$(agree "$ID" 2 3)
cl_log "case 5: source cut during commit: the majority says $s"
cl_heal 1
cl_wait_for 30 eval '[[ $(agree '"$ID"' 1 2 3) == '"$s"' ]]' ||
	cl_fail "case 5: after the heal h1 says $(state_on 1 "$ID"), the majority $s"
if [[ $s == committed ]]; then
	[[ $(holder_of 1 c5/disk.img) == 2 ]] || cl_fail "case 5: committed, but c5/disk.img is not h2's: $(lt_locks_canon 1)"
fi
cl_log "case 5: after the heal every host says $s; commit: $(cat "$CL_DIR/commit5.out")"

# --- 5b. source cut off before the commit: it cannot commit alone -----------------------------------
lt_wait_ready "case 5b" 60 3 1 2 3
prep c5b
cl_cut 1
cl_wait_for 10 eval '[[ $(agree '"$ID"' 2 3) == aborted ]]' ||
	cl_fail "case 5b: the majority did not abort when the source left: $(state_on 2 "$ID")"
cl_wait_for 15 eval '[[ $(lt_stq 1 "s[\"quorate\"]") == False ]]' || cl_fail "case 5b: h1 still quorate when cut"
lt_ho 1 commit "$ID"
[[ $RC == 69 || $RC == 1 ]] || cl_fail "case 5b: commit on the cut-off source: exit $RC, want 69 (no quorum) or 1 (aborted): $OUT"
cl_log "case 5b: commit on the cut-off source: exit $RC: $OUT"
cl_heal 1
cl_wait_for 30 eval '[[ $(agree '"$ID"' 1 2 3) == aborted ]]' ||
	cl_fail "case 5b: after the heal h1 says $(state_on 1 "$ID")"
cl_log "case 5b: after the heal every host says aborted"

# --- 6. two commits at once -----------------------------------------------------------------------
lt_wait_ready "case 6" 60 3 1 2 3
prep c6
cl_bg 1 commit6a "$CL_DIR/commit6a.out" "$HO" commit "$ID"
lt_ho 1 commit "$ID"
[[ $RC == 0 ]] || cl_fail "case 6: the second commit: exit $RC: $OUT"
cl_wait_for 10 eval '! cl_alive 1 commit6a' || cl_fail "case 6: the first commit did not return"
grep -q "committed" "$CL_DIR/commit6a.out" || cl_fail "case 6: the first commit: $(cat "$CL_DIR/commit6a.out")"
[[ $(agree "$ID" 1 2 3) == committed ]] || cl_fail "case 6: not committed everywhere"
cl_log "case 6: two commits at once: both returned committed"

echo "ok: check-handoff-failures"

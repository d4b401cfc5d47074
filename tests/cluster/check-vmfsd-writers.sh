#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# check-vmfsd-writers.sh - the single-writer proof through /vmfs on 3 hosts of real
# corosync, vmfs-lockd and vmfsd. On every host `vf_probe claim` repeatedly opens one shared
# file for writing and, when it gets it, appends records tagged (host, lock generation,
# sequence) for a random while. Meanwhile, each fault struck while its host holds the file:
#   - kill -9 of h2's vmfs-lockd, restarted 5 s later (h2's claimer must see EIO)
#   - h3 cut off the network (nftables) for 15 s, then healed
#   - SIGSTOP of h1's vmfs-lockd and vmfsd for host_dead + 3 s, then SIGCONT (h1's claimer
#     must see EIO)
# Then `vf_probe check` proves that no two hosts' records interleave and that generations
# only grow from hold to hold; and every host held the file at least once.
# Exit 77 (skip) unless root with corosync and friends.

set -euo pipefail

top_srcdir=$(cd "${top_srcdir:-$(dirname "$0")/../..}" && pwd)
top_builddir=$(cd "${top_builddir:-.}" && pwd)
# shellcheck source=tests/cluster/lib.sh
source "$top_srcdir/tests/cluster/lib.sh"
# shellcheck source=tests/cluster/lockd.sh
source "$top_srcdir/tests/cluster/lockd.sh"
# shellcheck source=tests/cluster/vmfsd.sh
source "$top_srcdir/tests/cluster/vmfsd.sh"
lt_init
vt_init
cl_setup 3
vt_start 1 2 3
cl_on 1 mkdir -p "$CL_VMFS_1/shared"

SECS=${VT_CLAIM_SECS:-70}

# held_by I J: host J sees host I holding the shared file
held_by() { [[ $(vt_lockattr "$2" shared/log) == *"host=$1 "* ]]; }
# flagged I: how many holds host I's claimer kept for a strike so far
flagged() { grep -c '^flagged hold' "$CL_DIR/claim$1.out" || true; }
# wait_held I J: host I's claimer keeps its hold ($CL_DIR/holdI) until it is struck; returns
# once the claimer says it is in such a hold and host J sees it (a hold that had just ended
# could otherwise still show in the lock state); the flag goes once the hold is struck.
wait_held() {
	local n0
	n0=$(flagged "$1")
	: >"$CL_DIR/hold$1"
	cl_wait_for 30 eval '(( $(flagged '"$1"') > '"$n0"' ))' ||
		vt_fail "h$1's claimer did not start a hold within 30 s: $(tail -n 3 "$CL_DIR/claim$1.out")"
	cl_wait_for 30 held_by "$1" "$2" || vt_fail "h$1 did not get the shared file within 30 s"
}

pause=$(((${CL_DEAD:-10000} + 3000) / 1000))
for i in 1 2 3; do
	cl_bg "$i" "claim$i" "$CL_DIR/claim$i.out" "$PROBE" claim "$CL_DIR/h$i/vmfs/shared/log" \
		"$i" "$SECS" "$CL_DIR/hold$i"
done
cl_log "claimers started for $SECS s"
sleep 3
wait_held 2 3
cl_kill 2 lockd KILL
sleep 0.5
rm -f "$CL_DIR/hold2"
cl_log "h2: lockd killed"
sleep 5
cl_start_lockd 2
sleep 5
wait_held 3 1
cl_cut 3
rm -f "$CL_DIR/hold3"
sleep 15
cl_heal 3
sleep 3
wait_held 1 2
lpid=$(cl_pid 1 lockd)
fpid=$(cl_pid 1 vmfsd)
kill -STOP "$lpid" "$fpid"
cl_log "h1: lockd and vmfsd stopped for $pause s"
sleep "$pause"
kill -CONT "$fpid" "$lpid"
sleep 0.5
rm -f "$CL_DIR/hold1"
cl_log "h1: continued"
for i in 1 2 3; do
	cl_wait_for $((SECS + 30)) eval '! cl_alive '"$i claim$i" ||
		vt_fail "h$i: the claimer still runs after $((SECS + 30)) s: $(cat "$CL_DIR/claim$i.out")"
	grep -q '^holds=' "$CL_DIR/claim$i.out" || vt_fail "h$i: the claimer failed: $(cat "$CL_DIR/claim$i.out")"
	cl_log "h$i: $(cat "$CL_DIR/claim$i.out")"
	[[ $i == 3 ]] || [[ $(sed -n 's/.*eio=\([0-9]*\).*/\1/p' "$CL_DIR/claim$i.out") -gt 0 ]] ||
		vt_fail "h$i's claimer never saw EIO, though its fault struck while it held the file"
	[[ $(sed -n 's/^holds=\([0-9]*\).*/\1/p' "$CL_DIR/claim$i.out") -gt 0 ]] ||
		vt_fail "h$i never held the shared file"
done
"$PROBE" check "$CL_DS/shared/log" >"$CL_DIR/check.out" 2>&1 ||
	vt_fail "single writer violated: $(head -n 10 "$CL_DIR/check.out")"
cl_log "FIGURE single-writer proof: $(cat "$CL_DIR/check.out")"
holds=$(sed -n 's/.* holds=\([0-9]*\).*/\1/p' "$CL_DIR/check.out")
((holds >= 20)) || vt_fail "only $holds holds: the proof needs more handovers"
cl_log "PASS"

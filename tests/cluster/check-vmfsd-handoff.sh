#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# check-vmfsd-handoff.sh - a handoff through the /vmfs mounts of 2 hosts (of 3), with
# writers on both sides:
#
# 1. h1's writer appends to vm1/disk.img every 5 ms and a second one to vm1/vm.log.
#    prepare --to h2 vm1. h2's writer opens vm1/disk.img for writing (the file arrives by
#    the handoff): the open succeeds, its first write (fsync) waits; h1 goes on writing.
# 2. commit on h1: h1's writers get EIO (the names were drained, then revoked); h2's
#    waiting write goes on after the commit, with a larger generation than h1's; the
#    records prove one writer at a time (vf_probe check); status committed.
# 3. Back the other way, aborted: prepare --to h1 vm1/disk.img; h1 opens it to write (it
#    waits); abort: h1's waiting write gets EIO, h2's writer never stopped; h2 still holds.
# 4. A drain that fails: prepare --to h1, SIGSTOP h2's vmfsd, commit → exit 75 after the
#    drain limit (io_timeout + 1 s), nothing moved; SIGCONT: h2's writer goes on (resumed), the handoff
#    can be aborted.
# 5. The source's vmfsd killed between prepare and commit (handoff_timeout 6 s): the
#    handoff stays pending, then is aborted; the file is free afterwards.
#
# Run as root with top_builddir/top_srcdir set; exit 77 means skipped.

set -euo pipefail

: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
top_builddir=$(cd "${top_builddir:-.}" && pwd)
# shellcheck source=tests/cluster/lib.sh
source "$top_srcdir/tests/cluster/lib.sh"
# shellcheck source=tests/cluster/lockd.sh
source "$top_srcdir/tests/cluster/lockd.sh"
# shellcheck source=tests/cluster/vmfsd.sh
source "$top_srcdir/tests/cluster/vmfsd.sh"
lt_init
vt_init

failed() { grep -q "^write failed: EIO" "$CL_DIR/$1.out"; }
records() { grep -c "h=$2 " "$CL_DS/$1" || true; }

cl_setup 3
for i in 1 2 3; do cl_conf_set "$i" handoff_timeout_ms 6000; done
vt_start 1 2 3
cl_on 1 mkdir -p "$CL_VMFS_1/vm1"

# --- 1. prepare with writers on both sides ----------------------------------------------------

vt_writer 1 w1 vm1/disk.img 5
vt_writer 1 log1 vm1/vm.log 20
sleep 0.3
lt_ho 1 prepare --to h2 "$CL_VMFS_1/vm1"
[[ $RC == 0 ]] || vt_fail "prepare: exit $RC: $OUT"
id=${OUT##* }
cl_log "prepare: $OUT"
: >"$CL_DIR/a2.out"
cl_bg 2 a2 "$CL_DIR/a2.out" "$PROBE" arrive "$CL_DIR/h2/vmfs/vm1/disk.img" 2 5
cl_wait_for 10 grep -q "^open" "$CL_DIR/a2.out" || vt_fail "h2 could not open the arriving file: $(cat "$CL_DIR/a2.out")"
cl_wait_for 3 vt_log_has 2 "arriving by handoff $id" || vt_fail "h2's vmfsd did not log the arriving file"
n0=$(records vm1/disk.img 1)
sleep 1
grep -q "committed after" "$CL_DIR/a2.out" && vt_fail "h2's write went on before the commit: $(cat "$CL_DIR/a2.out")"
failed w1 && vt_fail "h1's writer failed before the commit: $(cat "$CL_DIR/w1.out")"
n1=$(records vm1/disk.img 1)
((n1 > n0 + 50)) || vt_fail "h1 did not go on writing while the handoff was pending ($n0 -> $n1 records)"
cl_log "pending: h1 wrote $((n1 - n0)) records in 1 s, h2's first write waits"

# --- 2. commit ---------------------------------------------------------------------------------

t0=$(date +%s%N)
lt_ho 1 commit "$id"
[[ $RC == 0 ]] || vt_fail "commit: exit $RC: $OUT"
cl_log "FIGURE vmfsd handoff: commit with 2 writers drained took $(( ($(date +%s%N) - t0) / 1000000 )) ms"
cl_wait_for 3 failed w1 || vt_fail "h1's disk writer did not get EIO after the commit: $(cat "$CL_DIR/w1.out")"
cl_wait_for 3 failed log1 || vt_fail "h1's log writer did not get EIO after the commit: $(cat "$CL_DIR/log1.out")"
cl_wait_for 3 grep -q "committed after" "$CL_DIR/a2.out" || vt_fail "h2's write did not go on after the commit: $(cat "$CL_DIR/a2.out")"
vt_log_has 1 "drained for handoff $id" || vt_fail "h1's vmfsd did not drain for $id"
cl_log "h1: $(tail -n 1 "$CL_DIR/w1.out"); h2: $(grep committed "$CL_DIR/a2.out")"
sleep 0.5
cl_on 2 "$PROBE" check "$CL_VMFS_2/vm1/disk.img" >"$CL_DIR/check.out" 2>&1 ||
	vt_fail "vm1/disk.img: records interleave: $(head -n 5 "$CL_DIR/check.out")"
grep -q "hosts=2" "$CL_DIR/check.out" || vt_fail "vm1/disk.img should have records of 2 hosts: $(cat "$CL_DIR/check.out")"
cl_log "records: $(cat "$CL_DIR/check.out")"
[[ $(cl_on 3 "$HO" status --json "$id" | lt_json s 's["state"]') == committed ]] || vt_fail "status of $id is not committed"

# --- 3. back, aborted ----------------------------------------------------------------------------

lt_ho 2 prepare --to h1 vm1/disk.img
[[ $RC == 0 ]] || vt_fail "prepare back: exit $RC: $OUT"
id2=${OUT##* }
: >"$CL_DIR/a1.out"
cl_bg 1 a1 "$CL_DIR/a1.out" "$PROBE" arrive "$CL_DIR/h1/vmfs/vm1/disk.img" 1 5
cl_wait_for 10 grep -q "^open" "$CL_DIR/a1.out" || vt_fail "h1 could not open the arriving file: $(cat "$CL_DIR/a1.out")"
sleep 0.3
lt_ho 2 abort "$id2"
[[ $RC == 0 ]] || vt_fail "abort: exit $RC: $OUT"
cl_wait_for 3 failed a1 || vt_fail "h1's waiting write did not fail after the abort: $(cat "$CL_DIR/a1.out")"
grep -q "after 0 records" "$CL_DIR/a1.out" || vt_fail "h1 wrote after an abort: $(cat "$CL_DIR/a1.out")"
failed a2 && vt_fail "h2's writer stopped at the abort: $(cat "$CL_DIR/a2.out")"
cl_log "abort: h1's waiting write: $(tail -n 1 "$CL_DIR/a1.out"); h2 writes on"

# --- 4. a drain that does not finish --------------------------------------------------------------

lt_ho 2 prepare --to h1 vm1/disk.img
[[ $RC == 0 ]] || vt_fail "prepare for the stopped drain: exit $RC: $OUT"
id3=${OUT##* }
cl_kill 2 vmfsd STOP
t0=$(date +%s%N)
lt_ho 2 commit "$id3"
cl_kill 2 vmfsd CONT
took=$(( ($(date +%s%N) - t0) / 1000000 ))
[[ $RC == 75 ]] || vt_fail "commit with h2's vmfsd stopped: exit $RC, want 75: $OUT"
[[ $OUT == *"did not stop writing vm1/disk.img within 3000 ms"* ]] || vt_fail "commit did not name the file and the limit: $OUT"
cl_log "stopped drain: exit $RC after $took ms: $OUT"
n0=$(records vm1/disk.img 2)
sleep 1
n1=$(records vm1/disk.img 2)
((n1 > n0 + 50)) || vt_fail "h2's writer did not go on after the failed commit ($n0 -> $n1): $(cat "$CL_DIR/a2.out")"
lt_ho 2 abort "$id3"
[[ $RC == 0 ]] || vt_fail "abort after the failed commit: exit $RC: $OUT"
cl_kill 2 a2 TERM
cl_on 2 "$PROBE" check "$CL_VMFS_2/vm1/disk.img" >"$CL_DIR/check.out" 2>&1 ||
	vt_fail "vm1/disk.img at the end: records interleave: $(head -n 5 "$CL_DIR/check.out")"
cl_log "records at the end: $(cat "$CL_DIR/check.out")"

# --- 5. the source's vmfsd killed between prepare and commit -------------------------------------

vt_writer 2 w5 vm1/disk.img 5
lt_ho 2 prepare --to h1 vm1/disk.img
[[ $RC == 0 ]] || vt_fail "prepare before the kill: exit $RC: $OUT"
id5=${OUT##* }
t0=$(lt_now)
cl_kill 2 vmfsd KILL
sleep 1
[[ $(cl_on 3 "$HO" status --json "$id5" | lt_json s 's["state"]') == pending ]] ||
	vt_fail "handoff $id5 ended at once when the source's vmfsd died"
cl_wait_for 15 eval '[[ $(cl_on 3 "$HO" status --json '"$id5"' | lt_json s "s[\"state\"]") == aborted ]]' ||
	vt_fail "handoff $id5 not aborted after handoff_timeout once the source's vmfsd died"
cl_wait_for 5 eval '[[ -z $(lt_locks_canon 3 | awk '"'"'$1 == "vm1/disk.img"'"'"') ]]' ||
	vt_fail "vm1/disk.img still held after the abort: $(lt_locks_canon 3)"
cl_log "FIGURE vmfsd handoff: source vmfsd killed after prepare: aborted, file free $(lt_since "$t0") s later (handoff_timeout 6 s)"

echo "ok: check-vmfsd-handoff"

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# check-vmfsd-fence.sh - vmfsd's fencing on 3 hosts of real corosync and vmfs-lockd.
#   - kill -9 of vmfs-lockd on h1 while a writer on h1 appends to vm1/disk.img: the writer's
#     next write fails with EIO within 1 s; h2, trying to open the file for writing every
#     0.2 s, gets it only once h1's lease can have expired (>= host_dead - 2.5 s after the
#     kill) and within host_dead + 10 s; the records prove a single writer at a time. Then
#     lockd comes back on h1, vmfsd reconnects by itself and h1 opens files for writing again
#   - SIGSTOP of vmfs-lockd *and* vmfsd on h1 for host_dead + 6 s while h1's writer appends
#     to vm1/paused.img every 5 ms: h2 gets the file (after the lease expired) and appends;
#     on SIGCONT h1's queued write fails with EIO, and no record of h1 lands after h2's
#     first (vf_probe check)
#   - SIGSTOP of vmfs-lockd alone on h1 (vmfsd runs on): the lease is not renewed, and
#     vmfsd refuses h1's writer (EIO) on its own, io_timeout before the lease ends and before
#     h2 can have the file; SIGCONT, then h1 opens files again
#   - isolation=fence: h3 cut off the network while its writer appends to vm1/cut.img: the
#     writer gets EIO once h3 fenced itself (no quorum), before h1 can have the file; h1
#     gets it after h3's lease expired; after the heal h3's vmfsd opens files again
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
export CL_ISOLATION=fence
cl_setup 3
vt_start 1 2 3
cl_on 1 mkdir -p "$CL_VMFS_1/vm1"

now_ms() { date +%s%3N; }

# poll_open I FILE T0_MS: open FILE (relative) for writing on host I every 0.2 s until it
# works or LT_CAP s passed since T0_MS; sets GOT_S (seconds from T0 to success, or empty).
poll_open() {
	local i=$1 file=$2 t0=$3 t
	GOT_S=
	while (($(now_ms) - t0 < ${LT_CAP%.*} * 1000)); do
		if cl_on "$i" sh -c 'exec 3>>"$1"' sh "$CL_DIR/h$i/vmfs/$file" 2>/dev/null; then
			t=$(now_ms)
			GOT_S=$(awk -v a="$t0" -v b="$t" 'BEGIN { printf "%.2f", (b - a) / 1000 }')
			return 0
		fi
		sleep 0.2
	done
}

# failed_at NAME: the CLOCK_REALTIME ms at which writer NAME saw its write fail (EIO only).
failed_at() { sed -n 's/^write failed: EIO after [0-9]* records at \([0-9]*\)$/\1/p' "$CL_DIR/$1.out"; }
has_failed() { [[ -n $(failed_at "$1") ]]; }

# --- kill -9 of lockd under a writer ------------------------------------------------------------
vt_writer 1 w1 vm1/disk.img 10
sleep 0.5
t0=$(now_ms)
cl_kill 1 lockd KILL
cl_wait_for 5 has_failed w1 ||
	vt_fail "h1's writer did not get EIO within 5 s of lockd's kill: $(cat "$CL_DIR/w1.out")"
eio_ms=$(($(failed_at w1) - t0))
cl_log "FIGURE lockd kill -9 -> writer's EIO: $eio_ms ms"
((eio_ms <= 1000)) || vt_fail "h1's writer got EIO $eio_ms ms after lockd's kill (> 1000 ms)"
cl_wait_for 3 vt_log_has 1 "vmfs-lockd went away" || vt_fail "h1's vmfsd did not log that vmfs-lockd went away"
poll_open 2 vm1/disk.img "$t0"
[[ -n $GOT_S ]] || vt_fail "h2 could not open vm1/disk.img for writing within $LT_CAP s of h1's lockd kill"
cl_log "FIGURE lockd kill -9 -> h2 opens the file: $GOT_S s (host_dead $LT_HOST_DEAD s)"
lt_fle "$LT_LOW" "$GOT_S" ||
	vt_fail "h2 opened vm1/disk.img $GOT_S s after h1's lockd died, before h1's lease could expire (>= $LT_LOW s)"
vt_writer 2 w2 vm1/disk.img 10
sleep 0.5
cl_kill 2 w2 KILL
cl_on 2 "$PROBE" check "$CL_VMFS_2/vm1/disk.img" >"$CL_DIR/check1.out" 2>&1 ||
	vt_fail "vm1/disk.img: records of two writers interleave: $(head -n 5 "$CL_DIR/check1.out")"
cl_log "records: $(cat "$CL_DIR/check1.out")"
cl_start_lockd 1
lt_wait_ready restart 30 3 1
cl_wait_for 15 eval '[[ $(grep -c "connected to vmfs-lockd" "$CL_DIR/h1/vmfsd.log") -ge 2 ]]' ||
	vt_fail "h1's vmfsd did not reconnect to the restarted vmfs-lockd"
vt_writer 1 w1b vm1/after.img
cl_kill 1 w1b KILL
cl_log "kill -9 of lockd: EIO at once, the file moves after the lease, vmfsd reconnects"

# --- SIGSTOP of lockd and vmfsd beyond host_dead ------------------------------------------------------
vt_writer 1 wp vm1/paused.img 5
sleep 0.5
lpid=$(cl_pid 1 lockd)
fpid=$(cl_pid 1 vmfsd)
t0=$(now_ms)
kill -STOP "$lpid" "$fpid"
poll_open 2 vm1/paused.img "$t0"
[[ -n $GOT_S ]] || { kill -CONT "$lpid" "$fpid"; vt_fail "h2 could not open vm1/paused.img within $LT_CAP s of h1's pause"; }
cl_log "FIGURE pause of h1's lockd+vmfsd -> h2 opens the file: $GOT_S s"
lt_fle "$LT_LOW" "$GOT_S" || { kill -CONT "$lpid" "$fpid"; vt_fail "h2 opened vm1/paused.img $GOT_S s after h1's pause (< $LT_LOW s)"; }
vt_writer 2 wp2 vm1/paused.img 5
pause_left=$((${CL_DEAD:-10000} + 6000 - ($(now_ms) - t0)))
((pause_left > 0)) && sleep "$(awk -v m="$pause_left" 'BEGIN { printf "%.3f", m / 1000 }')"
tc=$(now_ms)
kill -CONT "$fpid" "$lpid"
cl_wait_for 5 has_failed wp ||
	vt_fail "h1's writer did not get EIO within 5 s of SIGCONT: $(cat "$CL_DIR/wp.out")"
cl_log "FIGURE SIGCONT -> h1's queued write fails: $(($(failed_at wp) - tc)) ms"
sleep 1
cl_kill 2 wp2 KILL
cl_on 2 "$PROBE" check "$CL_VMFS_2/vm1/paused.img" >"$CL_DIR/check2.out" 2>&1 ||
	vt_fail "vm1/paused.img: a write of the paused h1 landed after h2 took over: $(head -n 5 "$CL_DIR/check2.out")"
cl_log "records: $(cat "$CL_DIR/check2.out")"
grep -q '^h=2 ' "$CL_DS/vm1/paused.img" || vt_fail "vm1/paused.img has no record of h2"
cl_log "pause: h1's writes fail after SIGCONT, none lands after h2's"

# --- a hung lockd cannot extend the lease ---------------------------------------------------------
lt_wait_ready "after the pause" 30 3 1 2 3
vt_writer 1 wh vm1/hung.img 10
sleep 0.5
lpid=$(cl_pid 1 lockd)
t0=$(now_ms)
kill -STOP "$lpid"
cl_wait_for 20 has_failed wh || { kill -CONT "$lpid"; vt_fail "h1's writer did not get EIO within 20 s of its lockd's SIGSTOP: $(cat "$CL_DIR/wh.out")"; }
eio_s=$(awk -v a="$t0" -v b="$(failed_at wh)" 'BEGIN { printf "%.2f", (b - a) / 1000 }')
cl_log "FIGURE SIGSTOP of h1's lockd alone -> h1's writer gets EIO from vmfsd: $eio_s s"
poll_open 2 vm1/hung.img "$t0"
[[ -n $GOT_S ]] || { kill -CONT "$lpid"; vt_fail "h2 could not open vm1/hung.img within $LT_CAP s of h1's lockd stop"; }
cl_log "FIGURE SIGSTOP of h1's lockd alone -> h2 opens the file: $GOT_S s"
lt_fle "$eio_s" "$GOT_S" || { kill -CONT "$lpid"; vt_fail "h2 opened vm1/hung.img ($GOT_S s) before h1's writer was refused ($eio_s s)"; }
vt_log_has 1 "no write may start" || { kill -CONT "$lpid"; vt_fail "h1's vmfsd did not log the lease running out"; }
kill -CONT "$lpid"
cl_on 2 "$PROBE" check "$CL_VMFS_2/vm1/hung.img" >"$CL_DIR/check4.out" 2>&1 ||
	vt_fail "vm1/hung.img: $(head -n 5 "$CL_DIR/check4.out")"
lt_wait_ready "after the lockd stop" 40 3 1
cl_wait_for 20 eval 'cl_on 1 sh -c '"'"'exec 3>>"$1"'"'"' sh "$CL_VMFS_1/vm1/after-hang.img" 2>/dev/null' ||
	vt_fail "h1 cannot open files for writing after its lockd continued"
cl_log "hung lockd: vmfsd stops writes on its own before the lease ends"

# --- isolation=fence: a cut host fences its handles ---------------------------------------------------
lt_wait_ready "before the cut" 30 3 1 2 3
vt_writer 3 wc vm1/cut.img 10
sleep 0.5
t0=$(now_ms)
cl_cut 3
cl_wait_for 20 has_failed wc || vt_fail "h3's writer did not get EIO within 20 s of the cut: $(cat "$CL_DIR/wc.out")"
eio_s=$(awk -v a="$t0" -v b="$(failed_at wc)" 'BEGIN { printf "%.2f", (b - a) / 1000 }')
cl_log "FIGURE cut of h3 (isolation=fence) -> h3's writer gets EIO: $eio_s s"
poll_open 1 vm1/cut.img "$t0"
[[ -n $GOT_S ]] || vt_fail "h1 could not open vm1/cut.img within $LT_CAP s of h3's cut"
cl_log "FIGURE cut of h3 -> h1 opens the file: $GOT_S s"
lt_fle "$eio_s" "$GOT_S" || vt_fail "h1 opened vm1/cut.img ($GOT_S s) before h3's writer was fenced ($eio_s s)"
cl_on 1 "$PROBE" check "$CL_VMFS_1/vm1/cut.img" >"$CL_DIR/check3.out" 2>&1 ||
	vt_fail "vm1/cut.img: $(head -n 5 "$CL_DIR/check3.out")"
cl_heal 3
lt_wait_ready "after the heal" 30 3 3
vt_writer 3 wc2 vm1/after-cut.img
cl_kill 3 wc2 KILL
cl_log "isolation=fence: the cut host's writer fails first, the file moves after its lease"
cl_log "PASS"

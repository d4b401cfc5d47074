#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# check-lockd-ipc.sh - vmfs-lockd's local IPC against a misbehaving client
# (tests/cluster/ipc_abuse.c), on 2 hosts of real corosync. For each abuse
# of lki_proto.h - a body that is not JSON, JSON without "op", an unknown op, a header
# id that is not 1, a header size larger than the bytes sent, a 64 KiB
# request (limit 4096), a second request (two acquires, wait_ms 5000, of a path held on
# h2) before the first one's answer, and junk sent by a client that holds a lock - checks:
#   - the abusive connection is dropped: the abusive request and the next one on that
#     connection both fail with a hang-up, none is answered
#   - h1's lockd logs "client pid <that pid> (uid 0) disconnected: <why>" and no libqb
#     error (a dropped connection must not leave libqb working on a closed descriptor)
#   - h1's lockd keeps running; a lock held by a well-behaved client on h1 (background
#     `vmfsadm lock vm1/disk.img`) stays held by h1 with the same generation; a new
#     `vmfsadm status` works
#   - the lock of a dropped client is released (another host gets it), and the acquire
#     parked by a dropped connection is never granted to anyone (no leaked lock)
#   - when valgrind is available (VMFS_TEST_VALGRIND=0 turns it off), h1's lockd runs
#     under it, and the log must show no invalid read, write or free
# Exit 77 (skip) unless root with corosync and friends (the harness decides) and python3.

set -euo pipefail

top_srcdir=$(cd "${top_srcdir:-$(dirname "$0")/../..}" && pwd)
top_builddir=$(cd "${top_builddir:-.}" && pwd)
# shellcheck source=tests/cluster/lib.sh
source "$top_srcdir/tests/cluster/lib.sh"
# shellcheck source=tests/cluster/lockd.sh
source "$top_srcdir/tests/cluster/lockd.sh"
lt_init
cl_setup 2
T=$CL_DIR/t
mkdir -p "$T"

# the abusive client: built by `make check-cluster`
ABUSE=$top_builddir/tests/cluster/ipc_abuse
[[ -x $ABUSE ]] || cl_fail "$ABUSE not built (make -C tests cluster/ipc_abuse)"

# h1's lockd under valgrind, when there is one
VG_LOG=
if [[ ${VMFS_TEST_VALGRIND:-1} != 0 ]] && command -v valgrind >/dev/null 2>&1; then
	VG_LOG=$CL_DIR/h1/valgrind.log
	cat >"$CL_DIR/lockd-vg" <<-EOF
	#!/bin/sh
	exec valgrind -q --num-callers=30 --log-file="$VG_LOG" "$CL_LOCKD" "\$@"
	EOF
	chmod +x "$CL_DIR/lockd-vg"
fi

# --- helpers --------------------------------------------------------------------------

# the lock of the well-behaved client on h1 is still h1's, same generation (TBL: h2's
# table as lines "path host mode E:C")
keeper_held() {
	TBL=$(lt_locks_canon 2 2>&1 | awk '{ print $1, $2, $4, $5 }') || return 1
	grep -qx "vm1/disk.img 1 ex $KEEP_GEN" <<<"$TBL"
}

# logged_since LINE PATTERN: h1's lockd.log has PATTERN from line LINE on.
logged_since() { tail -n +"$1" "$CL_DIR/h1/lockd.log" | grep -q -- "$2"; }

# vg_excerpt: the start of valgrind's report on h1's lockd, if any, without libqb's
# unnamed frames.
vg_excerpt() {
	[[ -n $VG_LOG && -s $VG_LOG ]] || return 0
	printf '\nvalgrind (%s):\n' "$VG_LOG"
	grep -vE '^==[0-9]+==    (by|at) 0x[0-9A-F]+: \?\?\?' "$VG_LOG" | head -n 40
}

# abuse CASE [PATH]: runs ipc_abuse CASE on h1 and checks everything the header promises.
abuse() {
	local kase=$1 lines pid rc=0 new
	lines=$(wc -l <"$CL_DIR/h1/lockd.log")
	cl_on 1 "$ABUSE" "$@" >"$T/abuse.out" 2>&1 || rc=$?
	{
		echo "--- ipc_abuse $*: exit $rc"
		sed 's/^/    /' "$T/abuse.out"
	} >&2
	pid=$(sed -n 's/^ipc_abuse pid \([0-9]*\).*/\1/p' "$T/abuse.out")
	[[ $rc != 2 ]] || cl_fail "$kase: ipc_abuse could not run: $(cat "$T/abuse.out")"
	# what the daemon logged meanwhile (it may log the drop just after the client saw it)
	cl_wait_for 2 logged_since "$((lines + 1))" "client pid $pid " || true
	new=$(tail -n +"$((lines + 1))" "$CL_DIR/h1/lockd.log")
	echo "    lockd logged: ${new:-(nothing)}" | sed '2,$s/^/    /' >&2
	# a daemon that is going down may take a moment (valgrind's report): give it 0.5 s
	cl_wait_for 0.5 eval '! cl_alive 1 lockd' || true
	new=$(tail -n +"$((lines + 1))" "$CL_DIR/h1/lockd.log")
	cl_alive 1 lockd || cl_fail "$kase: h1's lockd died; it logged: ${new:-nothing}$(vg_excerpt)"
	[[ $rc == 0 ]] ||
		cl_fail "$kase: the abusive connection was not dropped: $(grep -E 'RESULT|abusive|after the abuse' "$T/abuse.out" | tr '\n' ' ')"
	grep -qE "client pid $pid \(uid 0\) disconnected: .+" <<<"$new" ||
		cl_fail "$kase: lockd logged no 'client pid $pid (uid 0) disconnected: <why>' line; it logged: ${new:-nothing}"
	if grep -qE ' (error|crit|alert|emerg): ' <<<"$new"; then
		cl_fail "$kase: dropping the client made lockd log an error: $(grep -E ' (error|crit|alert|emerg): ' <<<"$new" | head -n 3)$(vg_excerpt)"
	fi
	cl_wait_for 2 keeper_held ||
		cl_fail "$kase: vm1/disk.img should still be held by h1's well-behaved client at $KEEP_GEN; h2 shows: $TBL"
	cl_alive 1 keep || cl_fail "$kase: h1's well-behaved client (vmfsadm lock vm1/disk.img) is gone: $(lt_holder_out keep)"
	cl_on 1 vmfsadm status >"$T/status.out" 2>&1 ||
		cl_fail "$kase: a new vmfsadm status on h1 failed: $(cat "$T/status.out")"
	cl_log "ok: $kase: dropped, lockd running, vm1/disk.img still held, status answers"
}

# --- cluster --------------------------------------------------------------------------
lt_format
lt_start_corosync 1 2
if [[ -n $VG_LOG ]]; then
	CL_LOCKD=$CL_DIR/lockd-vg cl_start_lockd 1
	cl_log "h1: lockd runs under valgrind, log $VG_LOG"
else
	cl_start_lockd 1
	cl_log "h1: valgrind not used (not found or VMFS_TEST_VALGRIND=0)"
fi
cl_start_lockd 2
lt_wait_ready start 30 2 1 2
cl_log "lockd ready on 2 hosts"

lt_hold 1 keep vm1/disk.img
KEEP_GEN=$(lt_gen_of <"$CL_DIR/keep.log")
cl_wait_for 2 keeper_held || cl_fail "h2 does not show h1's vm1/disk.img at $KEEP_GEN: $TBL"
lt_hold 2 other vm2/disk.img

# --- the abuses -------------------------------------------------------------------------
abuse notjson
abuse noop
abuse unknownop
abuse badid
abuse sizebig
abuse huge
abuse twice vm2/disk.img
# the acquire the dropped connection left parked must never be granted: let h2 go
lt_unhold 2 other
sleep 1.5
TBL=$(lt_locks_canon 2)
[[ $TBL != *vm2/disk.img* ]] ||
	cl_fail "twice: after h2 released vm2/disk.img, the acquire of the dropped connection was granted: $TBL"
cl_log "ok: twice: the dropped connection's parked acquire was not granted"
abuse holdjunk vm3/x
t=$(lt_now_ms)
cl_on 2 vmfsadm lock --wait 3 vm3/x -- true >"$T/h2.out" 2>&1 ||
	cl_fail "holdjunk: h2 could not take vm3/x, held by the dropped connection: $(cat "$T/h2.out")"
cl_log "ok: holdjunk: the dropped client's vm3/x was free for h2 after $(($(lt_now_ms) - t)) ms"

lt_unhold 1 keep
if [[ -n $VG_LOG ]]; then
	if grep -qE 'Invalid (read|write|free)|uninitialised|Mismatched free|Source and destination overlap' "$VG_LOG"; then
		cl_fail "valgrind found memory errors in h1's lockd:$(vg_excerpt)"
	fi
	cl_log "ok: valgrind: no memory error in h1's lockd"
fi
lt_pass check-lockd-ipc

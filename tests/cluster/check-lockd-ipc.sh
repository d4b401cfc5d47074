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

command -v python3 >/dev/null 2>&1 || cl_skip "needs python3 (reads vmfsadm --json)"
VMFSADM=$top_builddir/tools/vmfsadm/vmfsadm
[[ -x $VMFSADM ]] || { echo "FAIL: $VMFSADM not built" >&2; exit 1; }
export PATH="$top_builddir/tools/vmfsadm:$PATH"

T0=$(date +%s%N)
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

now_ms() { local t=${EPOCHREALTIME/[.,]/}; printf '%s' $((10#$t / 1000)); }

ready() {
	cl_on "$1" vmfsadm status --json 2>/dev/null |
		python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["grants_open"] else 1)' 2>/dev/null
}

# locks_canon I: host I's locks --json as sorted lines "path host mode E:C".
locks_canon() {
	cl_on "$1" vmfsadm locks --json | python3 -c '
import json, sys
for l in sorted(json.load(sys.stdin), key=lambda l: l["path"]):
    for h in sorted(l["holders"], key=lambda h: h["host"]):
        print(l["path"], h["host"], h["mode"], "%d:%d" % tuple(h["gen"]))'
}

# hold I NAME PATH: background `vmfsadm lock -v PATH` on host I until $T/NAME.go exists.
hold() {
	local i=$1 name=$2 path=$3
	rm -f "$T/$name.go"
	: >"$T/$name.log"
	# shellcheck disable=SC2016 # expanded by the inner sh
	cl_bg "$i" "$name" "$T/$name.log" sh -c '"$@"; echo "vmfsadm exit $?"' sh \
		vmfsadm lock -v "$path" -- \
		sh -c 'while [ ! -e "$1" ]; do sleep 0.05; done' wait "$T/$name.go"
	cl_wait_for 10 grep -q "held, generation" "$T/$name.log" ||
		cl_fail "h$i could not take $path in 10 s: $(cat "$T/$name.log")"
}

gen_of() { sed -n 's/.*held, generation \([0-9]*:[0-9]*\).*/\1/p' "$T/$1.log" | head -n 1; }

unhold() {
	local i=$1 name=$2
	: >"$T/$name.go"
	cl_wait_for 10 eval '! cl_alive '"$i $name" || cl_fail "h$i $name did not end"
	cl_wait_for 2 grep -q "vmfsadm exit" "$T/$name.log" || true
	grep -qx "vmfsadm exit 0" "$T/$name.log" ||
		cl_fail "h$i $name: vmfsadm lock did not exit 0: $(cat "$T/$name.log")"
}

# the lock of the well-behaved client on h1 is still h1's, same generation (TBL: h2's table)
keeper_held() {
	TBL=$(locks_canon 2 2>&1) || return 1
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
	cl_alive 1 keep || cl_fail "$kase: h1's well-behaved client (vmfsadm lock vm1/disk.img) is gone: $(cat "$T/keep.log")"
	cl_on 1 vmfsadm status >"$T/status.out" 2>&1 ||
		cl_fail "$kase: a new vmfsadm status on h1 failed: $(cat "$T/status.out")"
	cl_log "ok: $kase: dropped, lockd running, vm1/disk.img still held, status answers"
}

# --- cluster --------------------------------------------------------------------------
vmfsadm format --cluster "$CL_CLUSTER" "$CL_DS" >"$T/format.log" 2>&1 ||
	cl_fail "vmfsadm format failed: $(cat "$T/format.log")"
for i in 1 2; do cl_start_corosync "$i"; done
for i in 1 2; do cl_wait_quorate "$i" 30 || cl_fail "h$i corosync not quorate: $(cl_quorum "$i")"; done
if [[ -n $VG_LOG ]]; then
	CL_LOCKD=$CL_DIR/lockd-vg cl_start_lockd 1
	cl_log "h1: lockd runs under valgrind, log $VG_LOG"
else
	cl_start_lockd 1
	cl_log "h1: valgrind not used (not found or VMFS_TEST_VALGRIND=0)"
fi
cl_start_lockd 2
for i in 1 2; do
	cl_wait_for 30 ready "$i" ||
		cl_fail "h$i: lockd grants not open 30 s after start: $(cl_on "$i" vmfsadm status 2>&1)"
done
cl_log "lockd ready on 2 hosts"

hold 1 keep vm1/disk.img
KEEP_GEN=$(gen_of keep)
cl_wait_for 2 keeper_held || cl_fail "h2 does not show h1's vm1/disk.img at $KEEP_GEN: $TBL"
hold 2 other vm2/disk.img

# --- the abuses -------------------------------------------------------------------------
abuse notjson
abuse noop
abuse unknownop
abuse badid
abuse sizebig
abuse huge
abuse twice vm2/disk.img
# the acquire the dropped connection left parked must never be granted: let h2 go
unhold 2 other
sleep 1.5
TBL=$(locks_canon 2)
[[ $TBL != *vm2/disk.img* ]] ||
	cl_fail "twice: after h2 released vm2/disk.img, the acquire of the dropped connection was granted: $TBL"
cl_log "ok: twice: the dropped connection's parked acquire was not granted"
abuse holdjunk vm3/x
t=$(now_ms)
cl_on 2 vmfsadm lock --wait 3 vm3/x -- true >"$T/h2.out" 2>&1 ||
	cl_fail "holdjunk: h2 could not take vm3/x, held by the dropped connection: $(cat "$T/h2.out")"
cl_log "ok: holdjunk: the dropped client's vm3/x was free for h2 after $(($(now_ms) - t)) ms"

unhold 1 keep
if [[ -n $VG_LOG ]]; then
	if grep -qE 'Invalid (read|write|free)|uninitialised|Mismatched free|Source and destination overlap' "$VG_LOG"; then
		cl_fail "valgrind found memory errors in h1's lockd:$(vg_excerpt)"
	fi
	cl_log "ok: valgrind: no memory error in h1's lockd"
fi
el=$((($(date +%s%N) - T0) / 100000000))
echo "PASS: check-lockd-ipc in $((el / 10)).$((el % 10)) s"

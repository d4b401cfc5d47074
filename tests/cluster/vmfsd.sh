# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
#
# tests/cluster/vmfsd.sh - helpers of the vmfsd cluster tests, on top of lib.sh and
# lockd.sh (source those first, then call vt_init after lt_init).
#
#	vt_init                     find vmfsd and vf_probe; skip without getfattr
#	vt_start_vmfsd I...         start vmfsd -f on hosts I... at $CL_VMFS_i; wait until mounted
#	vt_mounted I                true while host I has a vmfs FUSE mount at its mount point
#	vt_start I...               lt_start_cluster + vt_start_vmfsd on hosts I...
#	vt_sh I SCRIPT [ARGS...]    sh -c SCRIPT on host I, with V=$CL_VMFS_i; sets RC, OUT, ERR
#	vt_expect_rc WHAT RC        fail unless the last vt_sh exited RC
#	vt_expect_err WHAT TEXT     fail unless the last vt_sh's stderr has TEXT
#	vt_writer I NAME FILE [MS]  `vf_probe write` of FILE (relative to /vmfs) on host I in the
#	                            background, recorded as NAME; waits for its "open gen="
#	vt_gen NAME                 the generation "E:C" writer NAME printed
#	vt_lockattr I FILE          user.vmfs.lock of FILE (relative) as host I sees it
#	vt_log_has I TEXT           true if host I's vmfsd.log has TEXT
#	vt_fail MSG                 cl_fail, with the tails of every vmfsd.log first
#
# Every command of host I runs in its mount namespace, where its vmfsd mounted
# $CL_DIR/h<I>/vmfs ($CL_VMFS_i); the datastore is $CL_DS.

vt_init() {
	VMFSD=$top_builddir/fs/vmfsd
	PROBE=$top_builddir/tests/cluster/vf_probe
	[[ -x $VMFSD ]] || { echo "FAIL: $VMFSD not built" >&2; exit 1; }
	[[ -x $PROBE ]] || { echo "FAIL: $PROBE not built (make -C tests cluster/vf_probe)" >&2; exit 1; }
	command -v getfattr >/dev/null 2>&1 || cl_skip "needs getfattr (Debian package attr)"
}

vt_fail() {
	local i f
	for ((i = 1; i <= ${CL_N:-0}; i++)); do
		f=$CL_DIR/h$i/vmfsd.log
		[[ -s $f ]] || continue
		if grep -q "ERROR: AddressSanitizer\|runtime error:" "$f"; then
			# a sanitizer report: its start (what and where) matters, not its legend
			echo "----- h$i/vmfsd.log (sanitizer report) -----" >&2
			grep -m1 -A45 "ERROR: AddressSanitizer\|runtime error:" "$f" >&2 || true
		else
			echo "----- h$i/vmfsd.log (last 20 lines) -----" >&2
			tail -n 20 "$f" >&2 || true
		fi
	done
	cl_fail "$@"
}

vt_mounted() {
	[[ $(cl_on "$1" findmnt -n -o FSTYPE "$CL_DIR/h$1/vmfs" 2>/dev/null) == fuse.vmfs ]]
}

vt_start_vmfsd() {
	local i
	for i in "$@"; do
		cl_bg "$i" vmfsd "$CL_DIR/h$i/vmfsd.log" \
			"$VMFSD" -f -c "$CL_DIR/h$i/vmfs.conf" "$CL_DIR/h$i/vmfs"
	done
	for i in "$@"; do
		cl_wait_for 10 vt_mounted "$i" ||
			vt_fail "h$i: vmfsd did not mount $CL_DIR/h$i/vmfs in 10 s"
		cl_wait_for 10 grep -q "connected to vmfs-lockd" "$CL_DIR/h$i/vmfsd.log" ||
			vt_fail "h$i: vmfsd did not connect to vmfs-lockd in 10 s"
	done
	cl_log "vmfsd mounted on h${*// /, h}"
}

vt_start() {
	lt_start_cluster 60 "$@"
	vt_start_vmfsd "$@"
}

vt_sh() {
	local i=$1 script=$2
	shift 2
	RC=0
	OUT=$(cl_on "$i" env V="$CL_DIR/h$i/vmfs" sh -c "$script" sh "$@" 2>"$CL_DIR/vt.err") || RC=$?
	ERR=$(<"$CL_DIR/vt.err")
}

vt_expect_rc() {
	[[ $RC == "$2" ]] || vt_fail "$1: exit $RC, expected $2 (stdout: $OUT; stderr: $ERR)"
}

vt_expect_err() {
	[[ $ERR == *"$2"* ]] || vt_fail "$1: stderr does not say '$2': $ERR"
}

vt_writer() {
	local i=$1 name=$2 file=$3 ms=${4:-10}
	: >"$CL_DIR/$name.out"
	cl_bg "$i" "$name" "$CL_DIR/$name.out" "$PROBE" write "$CL_DIR/h$i/vmfs/$file" "$i" "$ms"
	cl_wait_for 10 grep -q "^open" "$CL_DIR/$name.out" ||
		vt_fail "h$i: writer $name did not open $file: $(cat "$CL_DIR/$name.out")"
	grep -q "^open gen=" "$CL_DIR/$name.out" ||
		vt_fail "h$i: writer $name could not open $file: $(cat "$CL_DIR/$name.out")"
}

vt_gen() { sed -n 's/^open gen=//p' "$CL_DIR/$1.out"; }

vt_lockattr() {
	cl_on "$1" getfattr --absolute-names --only-values -n user.vmfs.lock "$CL_DIR/h$1/vmfs/$2" 2>&1
}

vt_log_has() { grep -qF -- "$2" "$CL_DIR/h$1/vmfsd.log"; }

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# check-vmfsd-startup.sh - vmfsd's refusals and its life without vmfs-lockd (one host):
#   - one line and its exit code for: an unknown config key (78), a datastore without a lock
#     volume (69, says to format it), a mount point inside the datastore (78), a missing
#     mount point (69), a bad FUSE option (64), an extra argument (64); --help exits 0
#   - started before vmfs-lockd: it mounts; an open for writing fails with ENOLCK and the
#     log names the file and why; reading an existing file works (a peek); getfattr
#     user.vmfs.lock fails cleanly; once lockd runs, vmfsd connects by itself and files open
#     for writing
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
cl_setup 1
H=$CL_DIR/h1
T=$CL_DIR/t
mkdir -p "$T/empty" "$T/mnt"

# refuse CODE TEXT WHAT -- ARGS: vmfsd ARGS on h1 must exit CODE and say TEXT on stderr
refuse() {
	local code=$1 text=$2 what=$3 rc=0
	shift 4
	cl_on 1 timeout 10 "$VMFSD" -f "$@" >"$T/out" 2>"$T/err" || rc=$?
	[[ $rc == "$code" ]] || vt_fail "$what: vmfsd exited $rc, not $code: $(cat "$T/err")"
	grep -qF -- "$text" "$T/err" || vt_fail "$what: stderr does not say '$text': $(cat "$T/err")"
	[[ $(wc -l <"$T/err") -le 2 ]] || vt_fail "$what: more than one line: $(cat "$T/err")"
	cl_log "refused ($rc): $(head -n 1 "$T/err")"
}

printf 'datastore = %s\nbogus_key = 1\n' "$CL_DS" >"$T/bad.conf"
printf 'datastore = %s\n' "$T/empty" >"$T/empty.conf"
lt_format
refuse 78 "bogus_key" "unknown key" -- -c "$T/bad.conf" "$T/mnt"
refuse 69 "vmfsadm format" "unformatted datastore" -- -c "$T/empty.conf" "$T/mnt"
refuse 78 "inside the datastore" "mount point in the datastore" -- -c "$H/vmfs.conf" "$CL_DS"
refuse 69 "$T/nowhere" "missing mount point" -- -c "$H/vmfs.conf" "$T/nowhere"
refuse 64 "bad FUSE options" "bad -o" -- -c "$H/vmfs.conf" -o no_such_option "$T/mnt"
refuse 64 "unexpected argument" "two mount points" -- -c "$H/vmfs.conf" "$T/mnt" "$T/mnt"
cl_on 1 "$VMFSD" --help | grep -q '^usage: vmfsd' || vt_fail "vmfsd --help prints no usage"

# --- without vmfs-lockd ------------------------------------------------------------------------
mkdir -p "$CL_DS/vm1"
echo "written natively" >"$CL_DS/vm1/vm.log"
lt_start_corosync 1
vt_start_vmfsd_nolockd() {
	cl_bg 1 vmfsd "$H/vmfsd.log" "$VMFSD" -f -c "$H/vmfs.conf" "$H/vmfs"
	cl_wait_for 10 vt_mounted 1 || vt_fail "vmfsd did not mount without lockd"
}
vt_start_vmfsd_nolockd
vt_sh 1 'exec 3>>"$V/vm1/disk.img"'
vt_expect_err "open for writing without lockd" "No locks available"
cl_wait_for 3 vt_log_has 1 "create vm1/disk.img refused" ||
	vt_fail "the refused open is not logged"
vt_log_has 1 "vmfs-lockd is not running" || vt_fail "vmfsd does not say vmfs-lockd is not running"
vt_sh 1 'cat "$V/vm1/vm.log"'
[[ $RC == 0 && $OUT == "written natively" ]] || vt_fail "reading without lockd: rc $RC, '$OUT' $ERR"
vt_sh 1 'getfattr -n user.vmfs.lock "$V/vm1/vm.log"'
vt_expect_err "getfattr without lockd" "No locks available"
cl_start_lockd 1
lt_wait_ready start 30 1 1
cl_wait_for 5 vt_log_has 1 "connected to vmfs-lockd" || vt_fail "vmfsd did not connect to lockd"
vt_writer 1 w vm1/disk.img
cl_log "without lockd: ENOLCK for writers, reads work; connected once lockd runs"
cl_log "PASS"

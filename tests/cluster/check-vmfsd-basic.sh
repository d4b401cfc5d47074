#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# check-vmfsd-basic.sh - vmfsd on 3 hosts of real corosync and vmfs-lockd, each with its
# own mount namespace and /vmfs over one datastore directory. Checks:
#   - the mount: fuse.vmfs on every host; a file written on h1 is read on h2; .vmfs is the
#     virtual directory (members, locks: JSON that matches vmfsadm), the lock volume is
#     not reachable and nothing can be created in it
#   - a writer on h1 holds vm1/disk.img and vm1/vm.log: h2's open for write -> EBUSY; h2
#     reads vm.log as a peek (sees what h1 wrote); rm, mv, truncate(2) by name, truncate(1)
#     (an open for writing) of disk.img and mv of
#     the directory vm1 from h2 -> EBUSY, each logged with the path and the holder h1;
#     getfattr user.vmfs.lock on every host names host 1, mode ex and the writer's
#     generation; after h1's writer ends, h2 opens it and the generation grew
#   - SH: read-only opens on h1 and h3 share the file (two holders), h2's write -> EBUSY;
#     a read closed and a write opened at once on one host, 30 times, all succeed
#   - MW: a file with user.vmfs.mode=mw is open for writing on h1 and h2 at once
#   - a file open on this host cannot be renamed (EBUSY) but can be unlinked; a file with
#     two hard links is not opened for writing (EMLINK)
#   - metadata passes through: chmod, chown, touch -d, truncate, symlink/readlink, link,
#     mkdir/rmdir, mv, user xattrs, statfs; user.vmfs.lock cannot be set
#   - O_DIRECT (QEMU's cache=none): qemu-img create + qemu-io -t none write/read-verify on a
#     qcow2 and a raw image (when qemu-utils is installed); dd oflag=direct
#   - vmfsd exits 0 within 3 s after fusermount3 -u, and after SIGTERM (mount gone)
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

# --- the mount ------------------------------------------------------------------------------
vt_sh 1 'mkdir -p "$V/vm1" && echo hello-from-h1 >"$V/vm1/note"'
vt_expect_rc "h1 writes vm1/note" 0
vt_sh 2 'cat "$V/vm1/note"'
[[ $OUT == hello-from-h1 ]] || vt_fail "h2 reads '$OUT' from vm1/note, not what h1 wrote"
vt_sh 3 'ls -A "$V/.vmfs" | tr "\n" " "'
[[ $OUT == "locks members " ]] || vt_fail ".vmfs on h3 lists '$OUT', not 'locks members'"
vt_sh 3 'cat "$V/.vmfs/lockvol"'
vt_expect_rc "reading .vmfs/lockvol through the mount" 1
vt_sh 3 ': >"$V/.vmfs/x"'
[[ $RC != 0 ]] || vt_fail "a file could be created in .vmfs"
vt_sh 3 ': >"$V/.vmfs/members"'
[[ $RC != 0 ]] || vt_fail ".vmfs/members could be opened for writing"
vt_sh 3 'mkdir "$V/.vmfs"'
vt_expect_err "mkdir .vmfs" "File exists"
vt_sh 3 'mv "$V/vm1/note" "$V/.vmfs"'
[[ $RC != 0 ]] || vt_fail "a file could be moved onto .vmfs"
for i in 1 2 3; do
	vt_sh "$i" 'cat "$V/.vmfs/members"'
	python3 -c '
import json, sys
m = json.loads(sys.argv[1]); s = json.loads(sys.argv[2])
assert m["host"] == int(sys.argv[3]) and m["uuid"] == s["uuid"] and len(m["members"]) == 3, m
' "$OUT" "$(cl_on "$i" vmfsadm status --json)" "$i" ||
		vt_fail "h$i: .vmfs/members does not match vmfsadm status --json: $OUT"
done
cl_log "mount: files shared, .vmfs virtual and read-only, members match vmfsadm"

# --- a writer on h1 --------------------------------------------------------------------------
vt_writer 1 w_disk vm1/disk.img
vt_writer 1 w_log vm1/vm.log
GEN=$(vt_gen w_disk)
vt_sh 2 'exec 3>>"$V/vm1/disk.img"'
vt_expect_err "h2 opens vm1/disk.img for writing while h1 writes it" "Device or resource busy"
vt_log_has 2 "open for writing vm1/disk.img refused" && vt_log_has 2 "held ex by host 1 (h1)" ||
	vt_fail "h2's vmfsd.log does not name vm1/disk.img and its holder h1"
sleep 0.3
vt_sh 2 'tail -n 1 "$V/vm1/vm.log"'
vt_expect_rc "h2 reads vm1/vm.log (a peek) while h1 writes it" 0
[[ $OUT == "h=1 g="* ]] || vt_fail "h2's peek of vm1/vm.log shows '$OUT', not h1's records"
n1=$(cl_on 2 wc -l <"$CL_DS/vm1/vm.log")
sleep 0.3
vt_sh 2 'wc -l <"$V/vm1/vm.log"'
((OUT > n1)) || vt_fail "h2's peek of vm1/vm.log does not see h1's new records ($OUT <= $n1)"
for what in 'rm -f "$V/vm1/disk.img"' 'mv "$V/vm1/disk.img" "$V/vm1/d2"' \
	'python3 -c "import os, sys; os.truncate(sys.argv[1], 0)" "$V/vm1/disk.img"' \
	'truncate -s 0 "$V/vm1/disk.img"' 'mv "$V/vm1" "$V/vm1-moved"'; do
	vt_sh 2 "$what"
	vt_expect_err "h2: $what" "Device or resource busy"
done
for what in "unlink vm1/disk.img refused" "rename vm1/disk.img refused" \
	"truncate vm1/disk.img refused" "rename vm1 refused: a name above or below it is locked by host 1 (h1)"; do
	vt_log_has 2 "$what" || vt_fail "h2's vmfsd.log has no '$what'"
done
[[ -e $CL_DS/vm1/disk.img ]] || vt_fail "vm1/disk.img is gone after the refused changes"
for i in 1 2 3; do
	a=$(vt_lockattr "$i" vm1/disk.img)
	[[ $a == "mode=ex host=1 name=h1 generation=$GEN since="* ]] ||
		vt_fail "h$i: user.vmfs.lock of vm1/disk.img is '$a', not ex by host 1 at $GEN"
done
cl_kill 1 w_disk KILL
cl_wait_for 5 eval '[[ $(vt_lockattr 1 vm1/disk.img) == free ]]' ||
	vt_fail "vm1/disk.img still locked after h1's writer ended: $(vt_lockattr 1 vm1/disk.img)"
vt_writer 2 w_disk2 vm1/disk.img
lt_gen_gt "$(vt_gen w_disk2)" "$GEN" ||
	vt_fail "h2's generation $(vt_gen w_disk2) is not above h1's $GEN"
cl_kill 2 w_disk2 KILL
cl_kill 1 w_log KILL
cl_log "writer: EBUSY, peek, refusals logged, getfattr agrees, handover with a larger generation"

# --- SH and MW ---------------------------------------------------------------------------------
cl_on 1 sh -c 'echo base >"$1"' sh "$CL_VMFS_1/base.img"
cl_bg 1 r1 "$CL_DIR/r1.out" sh -c 'exec 3<"$1"; echo open; exec sleep 60' sh "$CL_VMFS_1/base.img"
cl_bg 3 r3 "$CL_DIR/r3.out" sh -c 'exec 3<"$1"; echo open; exec sleep 60' sh "$CL_DIR/h3/vmfs/base.img"
cl_wait_for 5 grep -q open "$CL_DIR/r1.out" && cl_wait_for 5 grep -q open "$CL_DIR/r3.out" ||
	vt_fail "read-only opens of base.img did not happen"
a=$(vt_lockattr 2 base.img)
[[ $a == "mode=sh host="*"; mode=sh host="* && $a == *"host=1 "* && $a == *"host=3 "* ]] ||
	vt_fail "base.img read on h1 and h3: user.vmfs.lock is '$a', not sh by hosts 1 and 3"
vt_sh 2 'exec 3>>"$V/base.img"'
vt_expect_err "h2 writes base.img while h1 and h3 read it" "Device or resource busy"
cl_kill 1 r1 KILL
cl_kill 3 r3 KILL
vt_sh 1 ': >"$V/shared.img" && setfattr -n user.vmfs.mode -v mw "$V/shared.img"'
vt_expect_rc "setfattr user.vmfs.mode=mw" 0
vt_writer 1 m1 shared.img
vt_writer 2 m2 shared.img
a=$(vt_lockattr 3 shared.img)
[[ $a == "mode=mw host="*"; mode=mw host="* ]] || vt_fail "shared.img: user.vmfs.lock is '$a', not mw by two hosts"
vt_sh 3 'exec 3>>"$V/shared.img"; echo x >&3' # a third MW writer is fine too
vt_expect_rc "h3 writes shared.img (mw)" 0
cl_kill 1 m1 KILL
cl_kill 2 m2 KILL
# close(2) returns before FUSE's RELEASE: a reader closed and a writer opened at once on
# one host must not find the reader's SH lock in its way
vt_sh 1 'for i in $(seq 30); do cat "$V/base.img" >/dev/null && echo $i >>"$V/base.img" || exit 1; done'
vt_expect_rc "h1 reads, then at once appends to base.img, 30 times" 0
cl_log "SH readers share and keep writers out; MW writers share; read then write at once"


# --- this host's own opens, hard links ----------------------------------------------------------
vt_writer 1 w_own vm1/own.img
vt_sh 1 'mv "$V/vm1/own.img" "$V/vm1/own2.img"'
vt_expect_err "h1 renames vm1/own.img which it has open" "Device or resource busy"
vt_sh 1 'rm "$V/vm1/own.img"'
vt_expect_rc "h1 unlinks vm1/own.img which it has open" 0
cl_kill 1 w_own KILL
vt_sh 1 'echo a >"$V/vm1/l1" && ln "$V/vm1/l1" "$V/vm1/l2" && exec 3>>"$V/vm1/l2"'
vt_expect_err "open for writing of a file with two links" "Too many links"
vt_sh 1 'rm "$V/vm1/l2" && echo b >>"$V/vm1/l1" && cat "$V/vm1/l1" | tr "\n" " "'
[[ $RC == 0 && $OUT == "a b " ]] || vt_fail "after rm of the second link: rc $RC, '$OUT'"
cl_log "own opens: rename refused, unlink allowed; two links: EMLINK"

# --- metadata --------------------------------------------------------------------------------------
vt_sh 2 '
set -e
cd "$V"
mkdir -p meta/d && cd meta
echo data >f
chmod 640 f && stat -c %a f
chown 1234:5678 f && stat -c %u:%g f
touch -d "2001-02-03 04:05:06 UTC" f && TZ=UTC stat -c %y f | cut -c1-19
truncate -s 10000 f && stat -c %s f
ln -s f s && readlink s
ln f hard && stat -c %h f && rm hard
mv f g && ls
setfattr -n user.test -v 42 g && getfattr --absolute-names --only-values -n user.test g; echo
getfattr --absolute-names -d -m - g | grep -c user.vmfs.lock
rmdir d
df -P . | tail -n 1 | wc -l
rm g s
'
expect="640
1234:5678
2001-02-03 04:05:06
10000
f
2
d
g
s
42
1
1"
[[ $RC == 0 && $OUT == "$expect" ]] || vt_fail "metadata pass-through: rc $RC, got:
$OUT
expected:
$expect
stderr: $ERR"
vt_sh 2 'setfattr -n user.vmfs.lock -v x "$V/vm1/note"'
[[ $RC != 0 ]] || vt_fail "user.vmfs.lock could be set"
cl_log "metadata: chmod chown utimens truncate symlink link mv xattrs rmdir statfs"

# --- O_DIRECT --------------------------------------------------------------------------------------
vt_sh 3 'dd if=/dev/urandom of=/tmp/vt.rand bs=1M count=4 status=none &&
	dd if=/tmp/vt.rand of="$V/direct.raw" bs=1M oflag=direct status=none &&
	dd if="$V/direct.raw" bs=1M iflag=direct status=none | cmp - /tmp/vt.rand && rm /tmp/vt.rand'
vt_expect_rc "dd oflag=direct/iflag=direct round trip" 0
if command -v qemu-io >/dev/null 2>&1; then
	for fmt in qcow2 raw; do
		vt_sh 3 'qemu-img create -q -f "$1" "$V/vm1/disk.$1" 64M &&
			qemu-io -f "$1" -t none -c "write -P 0xab 512k 1M" -c "write -P 0x5c 7M 64k" \
				-c "read -P 0xab 512k 1M" -c "read -P 0x5c 7M 64k" -c "read -P 0 0 512k" \
				"$V/vm1/disk.$1" && { [ "$1" = raw ] || qemu-img check -q "$V/vm1/disk.$1"; }; echo rc=$?' "$fmt"
		[[ $OUT != *"Pattern verification failed"* && $OUT == *"rc=0" ]] ||
			vt_fail "qemu-io -t none on a $fmt image: $OUT $ERR"
	done
	cl_log "O_DIRECT: dd and qemu-io -t none (qcow2 and raw) verified"
else
	cl_log "O_DIRECT: dd verified; qemu-io not installed (qemu-utils): skipped"
fi

# --- clean exits -------------------------------------------------------------------------------------
pid=$(cl_pid 3 vmfsd)
cl_on 3 fusermount3 -u "$CL_DIR/h3/vmfs"
cl_wait_for 3 eval '! cl_alive 3 vmfsd' || vt_fail "h3: vmfsd (pid $pid) still runs 3 s after fusermount3 -u"
vt_log_has 3 "stopped" || vt_fail "h3: vmfsd did not log its stop after the unmount"
vt_start_vmfsd 3
pid=$(cl_pid 3 vmfsd)
kill -TERM "$pid"
cl_wait_for 3 eval '! cl_alive 3 vmfsd' || vt_fail "h3: vmfsd (pid $pid) still runs 3 s after SIGTERM"
vt_mounted 3 && vt_fail "h3: /vmfs still mounted after vmfsd's SIGTERM"
cl_log "vmfsd exits after fusermount3 -u and after SIGTERM"
cl_log "PASS"

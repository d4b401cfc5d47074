#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# check-migrate-qemu.sh - a real QEMU guest live-migrated between hosts with
# tools/migrate/vmfs-migrate, its locks moved by a handoff at the switchover. 3 hosts
# (quorum), vmfsd on each; the guest (tests/guest: Debian's kernel, busybox initramfs,
# TCG) boots from files on /vmfs and writes record N to sector N of its virtio disk for
# ever ("seq=N up=CENTISECONDS", O_DIRECT).
#
# For a raw image (vm1) and a qcow2 image (vm2): boot on h1, migrate h1 -> h2 -> h1. While
# the source runs, a second writer on the source holds the image open (appending past the
# guest's disk size): after each commit it gets EIO. After each hop the guest goes on
# writing on the destination. At the end the records on disk are 0..N with no hole and
# never go backwards; the largest gap between two records' uptimes is the pause the guest
# saw. Before each first hop, vmfs-handoff check (QMP included) passes; a VM with a
# host-local CD-ROM, a pinned vCPU and user networking fails it naming each, and so does a
# destination without vmfsd. Then a failed migration (the destination QEMU killed before
# the commit): exit 1, the guest runs on h1 again, h1 holds the image, the handoff is
# aborted.
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
command -v qemu-system-x86_64 >/dev/null || cl_skip "needs qemu-system-x86_64 (Debian package qemu-system-x86)"
command -v busybox >/dev/null || cl_skip "needs busybox (Debian package busybox-static)"
GUEST=$top_builddir/tests/guest/out
"$top_srcdir/tests/guest/build-guest" "$GUEST" || cl_fail "cannot build the test guest"
MIG=$top_builddir/tools/migrate/vmfs-migrate
SIZE=67108864 # the guest's disk; a writer appending past it does not touch the guest

# qemu_cmd VM FMT FILE HOST TAG: the QEMU command line of VM on host HOST (TAG names its
# console and QMP socket), with FILE relative to /vmfs.
qemu_cmd() {
	local vm=$1 fmt=$2 file=$3 host=$4 tag=$5 drive
	drive="file=$CL_DIR/h$host/vmfs/$file,format=$fmt,if=none,id=d0,cache=none,aio=threads"
	[[ $fmt == raw ]] && drive+=",size=$SIZE"
	printf '%s ' qemu-system-x86_64 -machine q35,accel=tcg -m 256 -display none -nic none \
		-no-reboot -kernel "$GUEST/vmlinuz" -initrd "$GUEST/initrd.gz" \
		-append "'console=ttyS0 panic=-1 quiet'" -drive "$drive" \
		-device virtio-blk-pci,drive=d0,id=vd0 \
		-serial "file:$CL_DIR/$vm.$tag.console" -qmp "unix:$CL_DIR/$vm.$tag.qmp,server=on,wait=off"
}

# seq_of VM TAG: the last sequence number VM's console TAG printed
seq_of() { sed -n 's/^seq \([0-9]*\).*/\1/p' "$CL_DIR/$1.$2.console" 2>/dev/null | tail -n 1; }

# goes_on VM TAG: the guest's console TAG shows the sequence moving within 20 s
goes_on() {
	local s0
	cl_wait_for 60 grep -q "^seq " "$CL_DIR/$1.$2.console" || return 1
	s0=$(seq_of "$1" "$2")
	cl_wait_for 20 eval '(( $(seq_of '"$1 $2"') > '"$s0"' ))'
}

boot() {
	local vm=$1 fmt=$2 file=$3
	: >"$CL_DIR/$vm.a.console"
	# shellcheck disable=SC2046 # qemu_cmd prints words, quoted for eval
	eval cl_bg 1 "$vm-a" "$CL_DIR/$vm-a.log" $(qemu_cmd "$vm" "$fmt" "$file" 1 a)
	local t0=$SECONDS
	goes_on "$vm" a || vt_fail "$vm did not boot and write on h1: $(tail -n 5 "$CL_DIR/$vm.a.console" "$CL_DIR/$vm-a.log")"
	cl_log "$vm ($fmt) boots on h1 and writes (after $((SECONDS - t0)) s)"
}

# hop VM FMT FILE FROM TO TAGFROM TAGTO: migrate VM from host FROM to TO, a second writer
# holding the image on FROM
hop() {
	local vm=$1 fmt=$2 file=$3 from=$4 to=$5 tf=$6 tt=$7 rc=0 out dst
	: >"$CL_DIR/$vm.w$from.out"
	cl_bg "$from" "$vm-w$from" "$CL_DIR/$vm.w$from.out" "$PROBE" write "$CL_DIR/h$from/vmfs/$file" "$from" 50
	cl_wait_for 10 grep -q "^open gen=" "$CL_DIR/$vm.w$from.out" ||
		vt_fail "h$from: the second writer could not open $file: $(cat "$CL_DIR/$vm.w$from.out")"
	: >"$CL_DIR/$vm.$tt.console"
	rm -f "$CL_DIR/$vm.$tt.pid"
	dst="$(cl_cmd "$to") $(qemu_cmd "$vm" "$fmt" "$file" "$to" "$tt") -incoming defer -S -daemonize -pidfile $CL_DIR/$vm.$tt.pid"
	out=$(cl_on "$from" "$MIG" --to "h$to" --src-qmp "$CL_DIR/$vm.$tf.qmp" --dst-qmp "$CL_DIR/$vm.$tt.qmp" \
		--uri "tcp:10.99.0.$to:4444" --dst-start "$dst" "$CL_DIR/h$from/vmfs/${file%/*}" 2>&1) || rc=$?
	[[ -s $CL_DIR/$vm.$tt.pid ]] && cl_adopt "$to" "$vm-$tt" "$(cat "$CL_DIR/$vm.$tt.pid")"
	[[ $rc == 0 && $out == *result=migrated* ]] || vt_fail "$vm h$from -> h$to: vmfs-migrate exit $rc: $out"
	cl_log "FIGURE migrate $vm ($fmt) h$from -> h$to: $(grep -E '^(migration|qemu_downtime|commit|switchover)_ms=' <<<"$out" | tr '\n' ' ')"
	grep -E '^(migration|qemu_downtime|commit|switchover|guest_pause)_ms=' <<<"$out" |
		sed "s/^/$fmt /" >>"$CL_DIR/figures"
	cl_wait_for 5 grep -q "^write failed: EIO" "$CL_DIR/$vm.w$from.out" ||
		vt_fail "h$from: the second writer of $file did not get EIO after the commit: $(cat "$CL_DIR/$vm.w$from.out")"
	goes_on "$vm" "$tt" || vt_fail "$vm does not go on writing on h$to: $(tail -n 5 "$CL_DIR/$vm.$tt.console")"
	cl_wait_for 10 eval '! cl_alive '"$from $vm-$tf" || vt_fail "$vm's source QEMU on h$from did not quit"
	cl_log "$vm on h$to writes on (seq $(seq_of "$vm" "$tt")); h$from's second writer: $(tail -n 1 "$CL_DIR/$vm.w$from.out")"
}

# check_disk VM FMT FILE: records 0..N, none missing, none going back; prints N and the
# largest uptime gap
check_disk() {
	local vm=$1 fmt=$2 file=$3 img=$CL_DS/$3
	if [[ $fmt == qcow2 ]]; then
		qemu-img convert -O raw "$img" "$CL_DIR/$vm.raw" || vt_fail "qemu-img convert of $file failed"
		img=$CL_DIR/$vm.raw
	fi
	python3 - "$img" "$SIZE" <<'PY' || vt_fail "$vm: the records on its disk are not 0..N in order: $(cat "$CL_DIR/check.err")"
import sys
img, size = sys.argv[1], int(sys.argv[2])
d = open(img, "rb").read(size)
n, last_up, gap, at = 0, None, 0, 0
while d[n * 512:n * 512 + 4] == b"seq=":
    f = dict(w.split("=") for w in d[n * 512:n * 512 + 64].split(b"\n")[0].decode().split())
    if int(f["seq"]) != n:
        sys.exit("sector %d holds seq %s" % (n, f["seq"]))
    up = int(f["up"])
    if last_up is not None and up < last_up:
        sys.exit("record %d: uptime %d before %d" % (n, up, last_up))
    if last_up is not None and up - last_up > gap:
        gap, at = up - last_up, n
    last_up = up
    n += 1
rest = d[n * 512:]
if rest.count(b"seq="):
    sys.exit("a record after the hole at sector %d" % n)
print("records=%d largest_gap_ms=%d at=%d" % (n, gap * 10, at))
PY
}

cl_setup 3
vt_start 1 2 3
mkdir -p "$CL_DS/vm1" "$CL_DS/vm2"
truncate -s "$SIZE" "$CL_DS/vm1/disk.img"
qemu-img create -q -f qcow2 "$CL_DS/vm2/disk.qcow2" "$SIZE"
: >"$CL_DIR/figures"

for vm in vm1 vm2; do
	if [[ $vm == vm1 ]]; then fmt=raw file=vm1/disk.img; else fmt=qcow2 file=vm2/disk.qcow2; fi
	boot "$vm" "$fmt" "$file"
	rc=0
	out=$(cl_on 1 "$HO" check --to h2 --qmp "$CL_DIR/$vm.a.qmp" "$CL_VMFS_1/${file%/*}" 2>&1) || rc=$?
	[[ $rc == 0 ]] || vt_fail "preflight of $vm to h2: exit $rc: $out"
	cl_log "preflight of $vm: $(grep -c '^ok' <<<"$out") checks ok"
	hop "$vm" "$fmt" "$file" 1 2 a b
	hop "$vm" "$fmt" "$file" 2 1 b c
	# stop the guest, then read its disk
	cl_on 1 python3 -c '
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rw")
f.readline()
for c in ("qmp_capabilities", "quit"):
    f.write(json.dumps({"execute": c}) + "\n"); f.flush(); f.readline()' "$CL_DIR/$vm.c.qmp" || true
	cl_wait_for 10 eval '! cl_alive 1 '"$vm-c" || vt_fail "$vm's QEMU did not quit"
	cl_kill 1 "$vm-w1" TERM 2>/dev/null || true
	res=$(check_disk "$vm" "$fmt" "$file" 2>"$CL_DIR/check.err")
	cl_log "FIGURE $vm ($fmt) after h1 -> h2 -> h1: $res"
done

# --- a VM that cannot move: host-local CD-ROM, a pinned vCPU, user networking ---------------
cl_on 1 "$top_builddir/tools/vmfsadm/vmfsadm" cpuid >"$CL_DIR/cpuid.txt" || vt_fail "vmfsadm cpuid: $(cat "$CL_DIR/cpuid.txt")"
cl_on 1 "$top_builddir/tools/vmfsadm/vmfsadm" cpuid h2 | grep -q "^1.edx" || vt_fail "vmfsadm cpuid h2 shows no feature words"
cl_log "vmfsadm cpuid: $(head -n 3 "$CL_DIR/cpuid.txt" | tr '\n' ';')"
truncate -s 1M "$CL_DIR/local.iso"
mkdir -p "$CL_DS/vm3"
truncate -s "$SIZE" "$CL_DS/vm3/disk.img"
cl_bg 1 vm3 "$CL_DIR/vm3.log" taskset -c 0 qemu-system-x86_64 -machine q35,accel=tcg -m 64 -S \
	-display none -drive "file=$CL_VMFS_1/vm3/disk.img,format=raw,if=virtio,cache=none" \
	-drive "file=$CL_DIR/local.iso,media=cdrom,readonly=on" -nic user,model=virtio-net-pci \
	-qmp "unix:$CL_DIR/vm3.qmp,server=on,wait=off"
cl_wait_for 20 test -S "$CL_DIR/vm3.qmp" || vt_fail "vm3 did not start: $(cat "$CL_DIR/vm3.log")"
rc=0
out=$(cl_on 1 "$HO" check --to h2 --qmp "$CL_DIR/vm3.qmp" "$CL_VMFS_1/vm3" 2>&1) || rc=$?
[[ $rc == 1 ]] || vt_fail "preflight of vm3: exit $rc, want 1: $out"
for want in "uses $CL_DIR/local.iso, outside" "is pinned to 1 of" "user-mode networking"; do
	grep -q "^FAIL .*$want" <<<"$out" || vt_fail "preflight of vm3 does not say '$want': $out"
done
cl_log "preflight of vm3 (exit 1): $(grep '^FAIL' <<<"$out" | cut -c1-90 | tr '\n' ';')"
cl_kill 1 vm3 TERM
cl_stop 3 vmfsd
unmounted_h3() {
	rc=0
	out=$(cl_on 1 "$HO" check --to h3 "$CL_VMFS_1/vm1" 2>&1) || rc=$?
	[[ $rc == 1 ]] && grep -q "^FAIL destination h3: /vmfs NOT mounted" <<<"$out"
}
cl_wait_for 5 unmounted_h3 || vt_fail "preflight to a host without vmfsd: exit $rc: $out"
cl_log "preflight to h3 without vmfsd: $(grep '^FAIL' <<<"$out")"

# --- a failed migration: the destination QEMU dies before the commit ------------------------
boot vm1 raw vm1/disk.img
dst="$(cl_cmd 2) $(qemu_cmd vm1 raw vm1/disk.img 2 f) -incoming defer -S -daemonize -pidfile $CL_DIR/vm1.f.pid && (sleep 0.5; kill -9 \$(cat $CL_DIR/vm1.f.pid)) &"
rc=0
out=$(cl_on 1 "$MIG" --to h2 --src-qmp "$CL_DIR/vm1.a.qmp" --dst-qmp "$CL_DIR/vm1.f.qmp" \
	--uri tcp:10.99.0.2:4444 --bandwidth-mib 2 --dst-start "$dst" "$CL_VMFS_1/vm1" 2>&1) || rc=$?
[[ $rc == 1 && $out == *result=failed-before-commit* ]] ||
	vt_fail "migration with the destination killed: exit $rc, want 1: $out"
id=$(sed -n 's/^handoff=//p' <<<"$out")
cl_log "FIGURE failed migration: $(grep -E '^source_running_again_ms=' <<<"$out"); $(grep 'failed before' <<<"$out")"
goes_on vm1 a || vt_fail "vm1 does not run on h1 after the failed migration: $(tail -n 5 "$CL_DIR/vm1.a.console")"
[[ $(lt_locks_canon 3 | awk '$1 == "vm1/disk.img" { print $2 }') == 1 ]] ||
	vt_fail "after the failed migration vm1/disk.img is not h1's: $(lt_locks_canon 3)"
[[ $(cl_on 3 "$top_builddir/handoff/cli/vmfs-handoff" status --json "$id" | lt_json s 's["state"]') == aborted ]] ||
	vt_fail "handoff $id of the failed migration is not aborted"
cl_log "failed migration: vm1 runs on h1 (seq $(seq_of vm1 a)), h1 holds its disk, handoff $id aborted"

echo "ok: check-migrate-qemu"

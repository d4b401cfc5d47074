#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# check-vmfsd-data.sh - data integrity through /vmfs (one host of real corosync, vmfs-lockd
# and vmfsd):
#   - fio with --verify=crc32c (verify_fatal): 4 KiB random writes O_DIRECT at QD16 (libaio),
#     1 MiB sequential buffered writes, and random 4 KiB-1 MiB O_DIRECT writes; each job
#     writes, then reads everything back and checks every block
#   - vf_model.py: 3000 random buffered and O_DIRECT writes, reads, truncates (ftruncate and
#     by name), appends and reopens against an in-memory model; every read and the final
#     content must equal the model; then the same file read natively equals it too
# Exit 77 (skip) unless root with corosync and friends, and fio.

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
command -v fio >/dev/null 2>&1 || cl_skip "needs fio (Debian package fio)"
cl_setup 1
vt_start 1
V=$CL_VMFS_1

# fio_verify NAME ARGS...: one fio job on $V/NAME that writes then verifies; fails on any error
fio_verify() {
	local name=$1
	shift
	cl_on 1 fio --name="$name" --filename="$V/$name" --verify=crc32c --do_verify=1 \
		--verify_fatal=1 --output-format=terse --terse-version=3 "$@" \
		>"$CL_DIR/fio-$name.out" 2>&1 ||
		vt_fail "fio $name: $(grep -v '^3;' "$CL_DIR/fio-$name.out" | head -n 5)"
	grep -qi 'verify.*fail\|bad magic\|crc32c' "$CL_DIR/fio-$name.out" &&
		vt_fail "fio $name reports a verify failure: $(head -n 5 "$CL_DIR/fio-$name.out")"
	cl_log "fio $name: written and verified"
}

fio_verify rand4k --rw=randwrite --bs=4k --size=64m --direct=1 --ioengine=libaio --iodepth=16
fio_verify seq1m --rw=write --bs=1m --size=128m --ioengine=psync
fio_verify mixed --rw=randwrite --bsrange=4k-1m --size=64m --direct=1 --ioengine=libaio \
	--iodepth=8
cl_on 1 python3 "$top_srcdir/tests/cluster/vf_model.py" "$V/model.bin" 3000 7 \
	>"$CL_DIR/model.out" 2>&1 || vt_fail "model test: $(cat "$CL_DIR/model.out")"
cl_log "model: $(cat "$CL_DIR/model.out")"
cmp "$CL_DS/model.bin" <(cl_on 1 cat "$V/model.bin") ||
	vt_fail "model.bin differs between the datastore and /vmfs"
cl_log "PASS"

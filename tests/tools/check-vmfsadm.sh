#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# check-vmfsadm.sh - vmfsadm format and dump on real storage: a directory datastore, a
# plain file and, when root with working loop devices, a block device (512-byte and
# 4096-byte logical blocks). Lock table entries are planted by an independent Python
# encoder of the documented byte format (vol_ondisk.h), sectors are damaged with dd,
# and the bad inputs an admin can give are each checked for their one-line refusal.
# Run by automake's test driver (top_builddir exported); exit 77 means skipped.

set -u

VMFSADM=${top_builddir:-..}/tools/vmfsadm/vmfsadm
[ -x "$VMFSADM" ] || { echo "check-vmfsadm: $VMFSADM not built"; exit 1; }
command -v python3 >/dev/null || { echo "check-vmfsadm: python3 is needed, skipping"; exit 77; }

# O_DIRECT needs a disk file system: the build directory, else /var/tmp; never tmpfs.
work=
for dir in "$PWD" /var/tmp; do
	case $(stat -f -c %T "$dir" 2>/dev/null) in
	tmpfs|ramfs|'') continue ;;
	esac
	work=$(mktemp -d "$dir/check-vmfsadm.XXXXXX") && break
done
[ -n "$work" ] || { echo "check-vmfsadm: no disk-backed directory for O_DIRECT"; exit 1; }

loops=
cleanup() {
	for dev in $loops; do
		losetup -d "$dev"
	done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

failures=0
fail() {
	echo "FAIL: $*" >&2
	failures=$((failures + 1))
}
pass() {
	echo "ok: $*"
}

# run WANT_RC NAME CMD...: runs CMD, stdout in $work/out, stderr in $work/err.
run() {
	run_want=$1 run_what=$2
	shift 2
	"$@" >"$work/out" 2>"$work/err"
	run_rc=$?
	if [ "$run_rc" -ne "$run_want" ]; then
		fail "$run_what: exit $run_rc, expected $run_want"
		sed 's/^/    stderr: /' "$work/err" >&2
		return 1
	fi
	pass "$run_what"
}

# has FILE TEXT NAME: FILE holds a line containing TEXT, runs of spaces counting as one.
has() {
	squeezed=$(printf '%s' "$2" | tr -s ' ')
	tr -s ' ' <"$work/$1" | grep -qF -- "$squeezed" ||
		{ fail "$3: $1 lacks '$2'"; sed 's/^/    /' "$work/$1" >&2; }
}

# one_line NAME: stderr is exactly one line.
one_line() {
	[ "$(wc -l <"$work/err")" -eq 1 ] || { fail "$1: stderr is not one line"; cat "$work/err" >&2; }
}

# --- an independent encoder of the on-disk format ----------------------------------------

cat >"$work/vol.py" <<'EOF'
import os, struct, sys

SECTOR = 4096
SLOT = 560

def crc32c(data):
    crc = 0xffffffff
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82f63b78 & -(crc & 1))
    return crc ^ 0xffffffff

def seal(buf):
    buf[12:16] = b"\0\0\0\0"
    buf[12:16] = struct.pack("<I", crc32c(bytes(buf)))
    return buf

class Vol:
    def __init__(self, path):
        self.f = open(path, "r+b")
        s = self.read(0)
        self.uuid = bytes(s[24:40])
        self.hosts, self.njournal, self.ntable = struct.unpack_from("<III", s, 68)
        self.area = 1 + self.njournal + self.ntable

    def read(self, idx):
        self.f.seek(idx * SECTOR)
        return bytearray(self.f.read(SECTOR))

    def write(self, idx, buf):
        self.f.seek(idx * SECTOR)
        self.f.write(seal(buf))

    def sector(self, typ, idx):
        buf = bytearray(SECTOR)
        struct.pack_into("<IHHHHIQ16s", buf, 0, 0x53464d56, 1, 0, typ, 0, 0, idx, self.uuid)
        return buf

    def hb_index(self, host):
        return 1 + (host - 1) * self.area

    def heartbeat(self, host, name, counter):
        idx = self.hb_index(host)
        buf = self.sector(2, idx)
        struct.pack_into("<II16sQQQQIIIIII64s", buf, 64, host, 1, bytes(range(16)), 3,
                         counter, 1700000000000, 12, 1, 0, 1000, 10000, 2000, 0,
                         name.encode())
        self.write(idx, buf)

    def handoff(self, host, j, hid, src, dst, nfiles):
        idx = self.hb_index(host) + 1 + j
        buf = self.sector(3, idx)
        struct.pack_into("<IIQQQIIII", buf, 64, host, 1, 3, 1700000000500, hid, src, dst,
                         2, nfiles)
        self.write(idx, buf)

    def table(self, host, t, entries):
        """entries: {slot: (state, mode, epoch, counter, handoff_id, path)}"""
        idx = self.hb_index(host) + 1 + self.njournal + t
        buf = self.sector(4, idx)
        struct.pack_into("<IIQ", buf, 64, host, 0, 3)
        for slot, (state, mode, epoch, counter, hid, path) in entries.items():
            p = path.encode()
            struct.pack_into("<BBHIQQQ", buf, 80 + slot * SLOT, state, mode, len(p), epoch,
                             counter, 1700000001000, hid)
            buf[80 + slot * SLOT + 32:80 + slot * SLOT + 32 + len(p)] = p
        self.write(idx, buf)

HELD, INTENT, HANDOFF_OUT, HANDOFF_IN = 2, 1, 3, 4
SH, MW, EX = 1, 2, 3

v = Vol(sys.argv[1])
if sys.argv[2] == "plant":
    v.heartbeat(2, "node2", 99)
    v.handoff(2, 0, 0x1234, 2, 3, 2)
    v.table(2, 0, {0: (HELD, EX, 1, 42, 0, "vm1/disk.img"),
                   1: (HANDOFF_OUT, MW, 1, 7, 0x1234, "vm2/shared.img")})
    v.heartbeat(3, "node3", 5)
    v.table(3, 0, {0: (INTENT, EX, 1, 41, 0, "vm1/disk.img"),
                   2: (HANDOFF_IN, MW, 1, 8, 0x1234, "vm2/shared.img")})
    v.table(3, 1, {0: (HELD, SH, 1, 5, 0, "base/debian.img")})
elif sys.argv[2] == "major":
    buf = v.read(0)
    struct.pack_into("<H", buf, 4, int(sys.argv[3]))
    v.write(0, buf)
v.f.flush()
os.fsync(v.f.fileno())
EOF
vol_py() {
	python3 "$work/vol.py" "$@"
}

# --- format and dump ---------------------------------------------------------------------

# check_volume NAME DATASTORE LOCKVOL: the whole round on one datastore, formatted with
# 4 hosts and 20 locks per host: areas of 1 + 8 + 3 = 12 sectors, 49 sectors in all.
check_volume() {
	name=$1 ds=$2 lockvol=$3

	run 0 "$name: format" "$VMFSADM" format --cluster c1 --max-hosts 4 --locks-per-host 20 "$ds"
	has out "formatted lock volume $lockvol" "$name: format"
	has out "cluster         c1" "$name: format"
	has out "sectors         49 of 4096 bytes" "$name: format"
	uuid=$(sed -n 's/^  uuid *//p' "$work/out")

	run 0 "$name: dump of an empty volume" "$VMFSADM" dump "$ds"
	has out "lock volume $lockvol" "$name: dump"
	has out "uuid       $uuid" "$name: dump"
	has out "0 of 4 host areas in use" "$name: dump"
	has out "no locks held" "$name: dump"

	run 1 "$name: format refused without --force" "$VMFSADM" format --cluster c2 "$ds"
	has err "already holds the lock volume of cluster 'c1' (uuid $uuid)" "$name: refusal"
	one_line "$name: refusal"

	vol_py "$lockvol" plant || fail "$name: planting entries"
	run 0 "$name: dump of planted entries" "$VMFSADM" dump "$ds"
	has out "2 of 4 host areas in use" "$name: dump"
	has out "hostname   node2" "$name: dump"
	has out "ring       seq 12, quorate" "$name: dump"
	has out "handoff 0000000000001234 host 2 -> 3, state 2, 2 files" "$name: journal"
	has out "vm1/disk.img     2     ex    held         1:42 *" "$name: files"
	has out "                 3     ex    intent       1:41" "$name: files"
	has out "vm2/shared.img   3     mw    handoff-in   1:8 *" "$name: files"
	has out "base/debian.img  3     sh    held         1:5 *" "$name: files"

	run 0 "$name: dump --json" "$VMFSADM" dump --json "$ds"
	python3 - "$work/out" <<-'EOF' || fail "$name: JSON content"
	import json, sys
	d = json.load(open(sys.argv[1]))
	assert d["superblock"]["cluster"] == "c1"
	assert d["hosts"][0]["heartbeat"]["ring_quorate"] is True
	assert [h["host"] for h in d["hosts"]] == [2, 3]
	files = {f["path"]: f["holders"] for f in d["files"]}
	top = [(h["host"], h["highest"]) for h in files["vm1/disk.img"]]
	assert top == [(2, True), (3, False)], top
	assert files["vm2/shared.img"][0]["generation"] == {"epoch": 1, "counter": 8}
	assert d["errors"] == []
	EOF

	# damage three sectors: a bit flip in host 3's table 1 (sector 35), host 4's
	# heartbeat zeroed (37), host 1's journal 0 (2) from another volume (other uuid)
	printf 'X' | dd of="$lockvol" bs=1 seek=$((35 * 4096 + 1000)) conv=notrunc,fsync status=none
	dd if=/dev/zero of="$lockvol" bs=4096 seek=37 count=1 conv=notrunc,fsync status=none
	dd if="$work/other.img" of="$lockvol" bs=4096 skip=2 seek=2 count=1 conv=notrunc,fsync \
		status=none
	run 1 "$name: dump of a damaged volume exits 1" "$VMFSADM" dump "$ds"
	has out "sector 35 (host 3 table 1): checksum mismatch: torn or corrupt sector" "$name: crc"
	has out "sector 37 (host 4 heartbeat): sector is all zeroes" "$name: zero"
	has out "sector 2 (host 1 journal 0): sector belongs to another datastore" "$name: uuid"
	has out "vm1/disk.img     2     ex    held         1:42 *" "$name: rest still shown"
	has out "hostname   node2" "$name: rest still shown"
	has err "3 damaged sectors" "$name: summary"

	run 1 "$name: dump --json of a damaged volume exits 1" "$VMFSADM" dump --json "$ds"
	python3 - "$work/out" <<-'EOF' || fail "$name: JSON errors"
	import json, sys
	d = json.load(open(sys.argv[1]))
	errs = {(e["sector"], e["kind"], e["host"], e["number"], e["code"]) for e in d["errors"]}
	assert errs == {(35, "table", 3, 1, "crc"), (37, "heartbeat", 4, 0, "zero"),
	                (2, "journal", 1, 0, "uuid")}, errs
	assert "vm1/disk.img" in [f["path"] for f in d["files"]]
	EOF

	run 0 "$name: format --force" "$VMFSADM" format --force --cluster c2 --max-hosts 4 \
		--locks-per-host 20 "$ds"
	run 0 "$name: dump after --force" "$VMFSADM" dump "$ds"
	has out "cluster    c2" "$name: reformatted"
}

: >"$work/other.img"
run 0 "setup: a second volume, source of foreign sectors" "$VMFSADM" format --max-hosts 4 \
	--locks-per-host 20 "$work/other.img"

mkdir "$work/ds"
check_volume "directory" "$work/ds" "$work/ds/.vmfs/lockvol"
: >"$work/plain.img"
check_volume "plain file" "$work/plain.img" "$work/plain.img"

# --- bad input: one line on stderr, non-zero exit, nothing written -----------------------

run 2 "no command" "$VMFSADM"
run 2 "unknown command" "$VMFSADM" frobnicate
has err "unknown command 'frobnicate'" "unknown command"
run 2 "unknown option" "$VMFSADM" dump --bogus "$work/ds"
run 2 "bad number" "$VMFSADM" format --max-hosts 129 "$work/ds"
has err "--max-hosts '129': must be a number from 1 to 128" "bad number"
run 0 "help" "$VMFSADM" --help
has out "format" "help"
run 0 "command help" "$VMFSADM" dump --help
has out "usage: vmfsadm dump [--json] DATASTORE" "command help"

run 1 "missing datastore" "$VMFSADM" dump "$work/nonexistent"
has err "$work/nonexistent: No such file or directory" "missing datastore"
one_line "missing datastore"

mkdir "$work/empty"
run 1 "directory without a lock volume" "$VMFSADM" dump "$work/empty"
has err "not a vmfs datastore: $work/empty/.vmfs/lockvol does not exist" "not a datastore"
one_line "not a datastore"
[ ! -e "$work/empty/.vmfs" ] || fail "dump wrote into $work/empty"

dd if=/dev/zero of="$work/zeros.img" bs=1M count=1 status=none
run 1 "file without a superblock" "$VMFSADM" dump "$work/zeros.img"
has err "$work/zeros.img: not a vmfs lock volume" "no superblock"
one_line "no superblock"

run 1 "character device" "$VMFSADM" dump /dev/null
has err "/dev/null: not a directory, regular file or block device" "character device"

cp "$work/other.img" "$work/newer.img"
vol_py "$work/newer.img" major 2 || fail "setting major 2"
cp "$work/newer.img" "$work/newer.orig"
run 1 "newer major version" "$VMFSADM" dump "$work/newer.img"
has err "lock volume format 2.0 is newer than this program's 1.0" "newer major"
one_line "newer major"
run 1 "format over a newer major version" "$VMFSADM" format "$work/newer.img"
has err "already holds a lock volume of format 2.0" "format over newer"
cmp -s "$work/newer.img" "$work/newer.orig" || fail "format changed a newer volume"

cp "$work/other.img" "$work/trunc.img"
truncate -s 65536 "$work/trunc.img"
run 1 "truncated volume" "$VMFSADM" dump "$work/trunc.img"
has err "$work/trunc.img: truncated lock volume: 65536 bytes, its superblock describes 200704" \
	"truncated"
one_line "truncated"

printf 'QFI\373' >"$work/foreign.img"
cp "$work/foreign.img" "$work/foreign.orig"
run 1 "format over foreign data" "$VMFSADM" format "$work/foreign.img"
has err "sector 0 holds data that is not a vmfs lock volume" "foreign data"
cmp -s "$work/foreign.img" "$work/foreign.orig" || fail "format changed foreign data"

# --- block devices -----------------------------------------------------------------------

if [ "$(id -u)" -ne 0 ] || ! command -v losetup >/dev/null; then
	echo "skip: loop device checks need root and losetup"
else
	for bs in 512 4096; do
		truncate -s 8M "$work/loop$bs.img"
		if ! dev=$(losetup -f --show --sector-size "$bs" "$work/loop$bs.img" 2>"$work/err"); then
			echo "skip: loop device with $bs-byte blocks: $(cat "$work/err")"
			continue
		fi
		loops="$loops $dev"
		check_volume "loop device, $bs-byte blocks" "$dev" "$dev"
	done
	truncate -s 1M "$work/small.img"
	if dev=$(losetup -f --show "$work/small.img" 2>"$work/err"); then
		loops="$loops $dev"
		run 1 "block device too small" "$VMFSADM" format "$dev"
		has err "$dev: device holds 256 sectors of 4096 bytes, the lock volume needs" "small"
		one_line "small device"
	else
		echo "skip: small loop device: $(cat "$work/err")"
	fi
fi

if [ "$failures" -ne 0 ]; then
	echo "check-vmfsadm: $failures failure(s)"
	exit 1
fi
echo "check-vmfsadm: all passed"

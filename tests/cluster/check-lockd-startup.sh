#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# check-lockd-startup.sh - vmfs-lockd refuses to start, with a non-zero exit and one line
# naming the cause, when (3 hosts in corosync's nodelist, corosync running on h1 and h2):
#   - vmfs.conf has an unknown key (cl_conf_set 3 bogus 1): exit 78, the line names the
#     key and the file
#   - corosync is not running on the host (h3): exit 69, the line says so
#   - the datastore directory has no lock volume: the line names the datastore
#   - the datastore was formatted for another cluster (format --force --cluster other):
#     the line names both cluster names
#   - host_dead_ms does not exceed corosync's runtime token + io_timeout_ms (hb 200,
#     io 500, host_dead 2000: valid for vmfs.conf's own bound, but token is 1650 with 3
#     nodes): the line names the token timeout corosync reports
#   - a second vmfs-lockd on h1 with the same run_dir while the first runs: "another
#     vmfs-lockd (pid <the first's>) already uses run_dir /run/vmfs"
#   - a second vmfs-lockd on h1 with another run_dir (/run/vmfs2) while the first runs:
#     its heartbeat slot is being renewed by another process ("two hosts configured with
#     nodeid 1"); the first keeps running, its lease valid and its heartbeat generation
#     unchanged (the refused one wrote nothing)
# and, with h1's lockd running, a user that is neither root nor in group vmfs (nobody,
# through setpriv) may read (`vmfsadm status` exits 0) but not lock (`vmfsadm lock`
# exits 77, nothing held). The vmfs-group half (a member of group vmfs may lock) is not
# tested: the test must not create groups or users on the machine.
# Exit 77 (skip) unless root with corosync and friends (the harness decides), python3
# and setpriv.

set -euo pipefail

top_srcdir=$(cd "${top_srcdir:-$(dirname "$0")/../..}" && pwd)
top_builddir=$(cd "${top_builddir:-.}" && pwd)
# shellcheck source=tests/cluster/lib.sh
source "$top_srcdir/tests/cluster/lib.sh"
# shellcheck source=tests/cluster/lockd.sh
source "$top_srcdir/tests/cluster/lockd.sh"
lt_init
command -v setpriv >/dev/null 2>&1 || cl_skip "needs setpriv (runs vmfsadm as nobody)"

# a short heartbeat, so that the slot watch of a second lockd (2 * hb + io) is short
CL_HB=500 CL_IO=1000 cl_setup 3
T=$CL_DIR/t
mkdir -p "$T"

# --- helpers --------------------------------------------------------------------------

# refuse WHAT WANT_RC I CONF TEXT...: `vmfs-lockd -f -c CONF` on host I must exit WANT_RC
# ("nz": any non-zero) instead of starting, and print exactly one line at error level
# (or the "vmfs-lockd: " line of a configuration error), containing every TEXT.
refuse() {
	local what=$1 want=$2 i=$3 conf=$4 errs t
	shift 4
	RC=0
	cl_on "$i" timeout 20 "$CL_LOCKD" -f -c "$conf" >"$T/lockd.out" 2>&1 || RC=$?
	OUT=$(<"$T/lockd.out")
	[[ $RC != 124 ]] || cl_fail "$what: vmfs-lockd did not refuse: still running after 20 s: $OUT"
	[[ $RC != 0 ]] || cl_fail "$what: vmfs-lockd exited 0 instead of refusing: $OUT"
	[[ $want == nz || $RC == "$want" ]] || cl_fail "$what: expected exit $want, got $RC: $OUT"
	errs=$(grep -E ' (error|crit|alert|emerg): |^vmfs-lockd: ' <<<"$OUT" || true)
	[[ -n $errs && $(grep -c . <<<"$errs") == 1 ]] ||
		cl_fail "$what: expected exactly one line naming the cause, got: ${OUT:-nothing}"
	for t in "$@"; do
		grep -qF -- "$t" <<<"$errs" || cl_fail "$what: the refusal does not name '$t': $errs"
	done
	cl_log "ok: $what: exit $RC: $errs"
}

# conf_copy I NAME KEY=VALUE...: a copy of host I's vmfs.conf as $CL_DIR/hI/NAME.conf
# with KEYs set; prints its path.
conf_copy() {
	local i=$1 name=$2 kv f
	shift 2
	f=$CL_DIR/h$i/$name.conf
	cp "$CL_DIR/h$i/vmfs.conf" "$f"
	for kv in "$@"; do cl_conf_edit "$f" "${kv%%=*}" "${kv#*=}"; done
	printf '%s\n' "$f"
}

# lease_valid I: host I's lockd has a valid lease and grants open.
lease_valid() { [[ $(lt_stq "$1" 's["lease"] == "valid" and s["grants_open"]') == True ]]; }

# host_gen I J: host J's heartbeat generation as host I's lockd reads it.
host_gen() {
	cl_on "$1" "$ADM" hosts --json | lt_json h 'next(x["host_gen"] for x in h if x["host"] == int(argv[0]))' "$2"
}

# --- host 3: no corosync ------------------------------------------------------------------
cp "$CL_DIR/h3/vmfs.conf" "$CL_DIR/h3/vmfs.conf.orig"
cl_conf_set 3 bogus 1
refuse "unknown key in vmfs.conf" 78 3 "$CL_DIR/h3/vmfs.conf" "bogus" "$CL_DIR/h3/vmfs.conf"
cp "$CL_DIR/h3/vmfs.conf.orig" "$CL_DIR/h3/vmfs.conf"
refuse "corosync not running on the host" 69 3 "$CL_DIR/h3/vmfs.conf" "corosync" "running"

# --- hosts 1 and 2: corosync ----------------------------------------------------------------
lt_start_corosync 1 2
token=$(cl_on 1 corosync-cmapctl -g runtime.config.totem.token | sed -n 's/.* = \([0-9]*\)$/\1/p')
[[ $token =~ ^[0-9]+$ ]] || cl_fail "cannot read corosync's runtime token on h1"
cl_log "corosync on h1 and h2, runtime token $token ms"

refuse "datastore without a lock volume" nz 1 "$CL_DIR/h1/vmfs.conf" "$CL_DS"

lt_format --cluster other
refuse "datastore of another cluster" nz 1 "$CL_DIR/h1/vmfs.conf" "'other'" "'$CL_CLUSTER'"

lt_format --force --cluster "$CL_CLUSTER"
# 2 * 200 + 3 * 500 + skew <= 2000 (vmfs.conf's own bound holds), but 2000 <= token + 500
((2000 <= token + 500)) || cl_fail "runtime token $token ms: the host_dead case needs token >= 1500"
short=$(conf_copy 1 short hb_interval_ms=200 io_timeout_ms=500 host_dead_ms=2000 run_dir=/run/vmfs-short)
refuse "host_dead_ms not above corosync's token + io_timeout_ms" nz 1 "$short" "token" "$token"

# --- a second lockd beside a running one ------------------------------------------------------
cl_start_lockd 1
cl_start_lockd 2
cl_wait_for 20 lease_valid 1 ||
	cl_fail "h1 lockd: no valid lease 20 s after start: $(cl_on 1 vmfsadm status 2>&1)"
pid1=$(cl_pid 1 lockd) || cl_fail "h1 lockd is not running: $(tail -n 5 "$CL_DIR/h1/lockd.log")"
refuse "second lockd with the same run_dir" nz 1 "$CL_DIR/h1/vmfs.conf" \
	"another vmfs-lockd (pid $pid1) already uses run_dir /run/vmfs"

# shellcheck disable=SC2016 # evaluated by cl_wait_for
cl_wait_for 5 eval '[[ $(host_gen 2 1) =~ ^[0-9]+$ ]]' || cl_fail "h2 does not read h1's heartbeat"
gen_before=$(host_gen 2 1)
other=$(conf_copy 1 other run_dir=/run/vmfs2)
refuse "second lockd with another run_dir" nz 1 "$other" "two hosts configured with nodeid 1"
cl_alive 1 lockd || cl_fail "h1's first lockd died when the second one was refused: $(tail -n 5 "$CL_DIR/h1/lockd.log")"
lease_valid 1 || cl_fail "h1's first lockd lost its lease after the second was refused: $(cl_on 1 vmfsadm status 2>&1)"
gen_after=$(host_gen 2 1)
[[ $gen_after == "$gen_before" ]] ||
	cl_fail "h1's heartbeat generation went from $gen_before to $gen_after: the refused lockd wrote to the slot"
cl_log "ok: first lockd on h1 unharmed (heartbeat generation $gen_after)"

# --- a user neither root nor in group vmfs ----------------------------------------------------
# nobody must reach the config and the binary: a world-readable copy of both
chmod 0711 "$CL_DIR"
mkdir -m 0755 "$CL_DIR/pub"
install -m 0644 "$CL_DIR/h1/vmfs.conf" "$CL_DIR/pub/vmfs.conf"
install -m 0755 "$ADM" "$CL_DIR/pub/vmfsadm"
nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups "$CL_DIR/pub/vmfsadm")
RC=0
cl_on 1 "${nobody[@]}" status -c "$CL_DIR/pub/vmfs.conf" >"$T/out" 2>&1 || RC=$?
[[ $RC == 0 ]] || cl_fail "vmfsadm status as nobody: expected 0 (anyone may read), got $RC: $(cat "$T/out")"
cl_log "ok: vmfsadm status as nobody works"
RC=0
cl_on 1 "${nobody[@]}" lock -c "$CL_DIR/pub/vmfs.conf" x -- touch "$T/ran" >"$T/out" 2>&1 || RC=$?
[[ $RC == 77 ]] || cl_fail "vmfsadm lock as nobody: expected 77 (no permission), got $RC: $(cat "$T/out")"
[[ ! -e $T/ran ]] || cl_fail "vmfsadm lock as nobody: the command ran"
held=$(cl_on 2 "$ADM" locks --json | lt_json l 'len(l)')
[[ $held == 0 ]] || cl_fail "vmfsadm lock as nobody was refused, but $held lock(s) are held: $(cl_on 2 vmfsadm locks)"
cl_log "ok: vmfsadm lock as nobody refused (77): $(cat "$T/out")"
# (a member of group vmfs may lock: not tested, the test creates no group or user)

lt_lockd_alive 1 2
lt_pass check-lockd-startup

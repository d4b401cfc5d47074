#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# check-lockd-basic.sh - vmfs-lockd on 3 hosts of real corosync, driven by `vmfsadm lock`
# (locks held by background `vmfsadm lock PATH -- <wait for a flag file>`). Checks:
#   - status --json on every host: 3 members, quorate, this host, lease valid, grants open;
#     hosts --json on every host: hosts 1..3 live and members
#   - EX held on h1: `lock` of the same path on h2 exits 75 without running its command,
#     and its stderr names h1 (host 1), mode ex and the generation locks --json shows;
#     once h1 released, h2 gets it (exit 0)
#   - SH + SH share across hosts; EX against
#     SH and SH against EX conflict (75, holder's mode named); MW + MW share across hosts;
#     MW against EX and SH conflicts
#   - two processes of one host conflict for EX (75, the holder named as this host) and
#     share SH
#   - `--wait 5` on h2 succeeds once h1's `lock -- sleep 1` ends, well before 5 s
#   - an absolute path under the mount point ($CL_VMFS_i) or under the datastore dir
#     names the same lock as the relative one, on every host
#   - locks --json shows the same table (path, holder host, name, mode, generation,
#     orphan) on all 3 hosts while locks are held, and the table expected
#   - each new grant of one path gets a larger generation than the one before
#   - a client killed with SIGKILL while holding loses its lock: another host gets it
#     within a few seconds
#   - invalid names (`../x`, `.vmfs/lockvol`, empty, a path outside the datastore) are
#     refused with exit 1 or 2, the command is not run and nothing is held afterwards
# Exit 77 (skip) unless root with corosync and friends (the harness decides) and python3.

set -euo pipefail

top_srcdir=$(cd "${top_srcdir:-$(dirname "$0")/../..}" && pwd)
top_builddir=$(cd "${top_builddir:-.}" && pwd)
# shellcheck source=tests/cluster/lib.sh
source "$top_srcdir/tests/cluster/lib.sh"
# shellcheck source=tests/cluster/lockd.sh
source "$top_srcdir/tests/cluster/lockd.sh"
lt_init
cl_setup 3
T=$CL_DIR/t
mkdir -p "$T"

# --- helpers --------------------------------------------------------------------------

# adm I ARGS...: vmfsadm ARGS on host I; sets RC and ERR (call from the main shell).
adm() {
	local i=$1
	shift
	RC=0
	cl_on "$i" vmfsadm "$@" >"$T/out" 2>"$T/err" || RC=$?
	ERR=$(<"$T/err")
}

# gen_of NAME: the generation "E:C" the holder NAME (lt_hold) printed.
gen_of() { lt_gen_of <"$CL_DIR/$1.log"; }

# expect_busy I WHAT HOLDERS HOLDER_MODE GEN -- ARGS: `vmfsadm lock ARGS` on host I must
# exit 75 without running its command, and its stderr name one of HOLDERS ("h1/1,h2/2":
# name/host; "this host/1" for another process of host I), the holder's mode and,
# unless GEN is empty, the holder's generation.
expect_busy() {
	local i=$1 what=$2 hspec=$3 hmode=$4 gen=$5 h named=0 holders
	shift 6
	rm -f "$T/ran"
	adm "$i" lock "$@" -- touch "$T/ran"
	[[ $RC == 75 ]] || cl_fail "$what: expected exit 75 (held elsewhere), got $RC: $ERR"
	[[ ! -e $T/ran ]] || cl_fail "$what: the command ran although the lock was refused"
	IFS=, read -ra holders <<<"$hspec"
	for h in "${holders[@]}"; do
		[[ $ERR == *"${h%/*}"* && $ERR == *"host ${h#*/}"* ]] && named=1
	done
	((named)) || cl_fail "$what: stderr does not name the holder (one of $hspec, as name/host): $ERR"
	[[ $ERR == *"mode $hmode"* ]] || cl_fail "$what: stderr does not name mode $hmode: $ERR"
	if [[ -n $gen ]]; then
		[[ $ERR == *"generation $gen"* ]] ||
			cl_fail "$what: stderr does not name the holder's generation $gen: $ERR"
	fi
	cl_log "ok: $what: $ERR"
}

# expect_ok I WHAT ARGS: `vmfsadm lock ARGS -- touch` on host I must run and exit 0.
expect_ok() {
	local i=$1 what=$2
	shift 2
	rm -f "$T/ran"
	adm "$i" lock "$@" -- touch "$T/ran"
	[[ $RC == 0 && -e $T/ran ]] || cl_fail "$what: expected exit 0 with the command run, got $RC: $ERR"
	cl_log "ok: $what"
}

# table_is I EXPECTED: host I's lt_locks_canon is EXPECTED (kept in TBL).
table_is() {
	TBL=$(lt_locks_canon "$1" 2>&1) || return 1
	[[ $TBL == "$2" ]]
}

# tables_agree EXPECTED: all 3 hosts show the table EXPECTED (lines "path host mode"),
# with equal generations everywhere; TBL1..3 keep what each host showed.
tables_agree() {
	TBL1=$(lt_locks_canon 1 2>&1) || return 1
	TBL2=$(lt_locks_canon 2 2>&1) || return 1
	TBL3=$(lt_locks_canon 3 2>&1) || return 1
	[[ $TBL1 == "$TBL2" && $TBL1 == "$TBL3" ]] || return 1
	if [[ -z $1 ]]; then [[ -z $TBL1 ]]; else [[ $(awk '{print $1, $2, $4}' <<<"$TBL1") == "$1" ]]; fi
}

status_ok() {
	cl_on "$1" vmfsadm status --json 2>/dev/null | python3 -c '
import json, sys
s = json.load(sys.stdin); i = int(sys.argv[1])
ok = (s["quorate"] is True and sorted(m["host"] for m in s["members"]) == [1, 2, 3]
      and sorted(m["name"] for m in s["members"]) == ["h1", "h2", "h3"]
      and s["host"] == i and s["hostname"] == "h%d" % i and s["cluster"] == "vmfstest"
      and s["lease"] == "valid" and s["grants_open"] is True)
sys.exit(0 if ok else 1)' "$1" 2>/dev/null
}

hosts_live() {
	cl_on "$1" vmfsadm hosts --json 2>/dev/null | python3 -c '
import json, sys
h = {x["host"]: x for x in json.load(sys.stdin)}
ok = (sorted(h) == [1, 2, 3] and all(h[i]["status"] == "live" and h[i]["member"] is True
                                      and h[i]["name"] == "h%d" % i for i in h))
sys.exit(0 if ok else 1)' 2>/dev/null
}

# --- cluster --------------------------------------------------------------------------
lt_start_cluster 20 1 2 3
cl_log "lockd ready on 3 hosts"

# --- status and hosts -------------------------------------------------------------------
for i in 1 2 3; do
	status_ok "$i" || cl_fail "h$i status --json: expected 3 members h1..h3, quorate, host $i,
lease valid, grants open; got: $(cl_on "$i" vmfsadm status --json 2>&1)"
done
cl_log "ok: status --json on 3 hosts: 3 members, quorate, lease valid"
for i in 1 2 3; do
	# a host's view of the others' slots comes from its periodic read of the heartbeats
	cl_wait_for 5 hosts_live "$i" ||
		cl_fail "h$i hosts --json: expected hosts 1..3 live members; got: $(cl_on "$i" vmfsadm hosts --json 2>&1)"
done
cl_log "ok: hosts --json on 3 hosts: 3 live"

# --- EX across hosts ------------------------------------------------------------------
lt_hold 1 ex1 vm1/disk.img ex
g1=$(gen_of ex1)
[[ $g1 =~ ^[0-9]+:[0-9]+$ ]] || cl_fail "h1 lock -v printed no generation: $(lt_holder_out ex1)"
cl_wait_for 2 table_is 2 "vm1/disk.img 1 h1 ex $g1 -" ||
	cl_fail "h2 locks: expected vm1/disk.img held by h1 ex at $g1, got: $TBL"
expect_busy 2 "EX held by h1, EX on h2" h1/1 ex "$g1" -- vm1/disk.img
expect_busy 3 "EX held by h1, SH on h3" h1/1 ex "$g1" -- --mode sh vm1/disk.img
expect_busy 3 "EX held by h1, MW on h3" h1/1 ex "$g1" -- --mode mw vm1/disk.img
# two processes on one host: the second is refused, naming this host
expect_busy 1 "EX held by a process of h1, EX by another on h1" "this host/1" ex "" -- vm1/disk.img
# the same lock under absolute names, on every host
expect_busy 2 "EX held by h1, EX on h2 by mount point path" h1/1 ex "$g1" -- "$CL_VMFS_2/vm1/disk.img"
expect_busy 3 "EX held by h1, EX on h3 by datastore path" h1/1 ex "$g1" -- "$CL_DS/vm1/disk.img"
lt_unhold 1 ex1
# --wait: the release travels through corosync; allow it 2 s
expect_ok 2 "h2 gets vm1/disk.img once h1 released it" --wait 2 vm1/disk.img

# by absolute path on h1: h2 sees the relative name
lt_hold 1 abs1 "$CL_VMFS_1/vm1/disk.img" ex
ga=$(gen_of abs1)
cl_wait_for 2 table_is 2 "vm1/disk.img 1 h1 ex $ga -" ||
	cl_fail "lock taken on h1 as $CL_VMFS_1/vm1/disk.img: h2 expected vm1/disk.img held by h1 at $ga, got: $TBL"
expect_busy 2 "EX held by h1 (taken by mount point path), EX on h2" h1/1 ex "$ga" -- vm1/disk.img
lt_unhold 1 abs1

# --- SH ---------------------------------------------------------------------------------
lt_hold 1 sh1 base.img sh
lt_hold 2 sh2 base.img sh
expect_ok 3 "SH held by h1 and h2, SH on h3" --mode sh base.img
expect_busy 3 "SH held by h1+h2, EX on h3" "h1/1,h2/2" sh "" -- base.img
expect_busy 3 "SH held by h1+h2, MW on h3" "h1/1,h2/2" sh "" -- --mode mw base.img
expect_busy 1 "SH held by h1, EX by another process on h1" "this host/1" sh "" -- base.img
lt_hold 3 ex3 vm3/disk.img ex
g3=$(gen_of ex3)
expect_busy 1 "EX held by h3, SH on h1" h3/3 ex "$g3" -- --mode sh vm3/disk.img

# --- MW ---------------------------------------------------------------------------------
lt_hold 1 mw1 shared.img mw
lt_hold 3 mw3 shared.img mw
expect_ok 2 "MW held by h1 and h3, MW on h2" --mode mw shared.img
expect_busy 2 "MW held by h1+h3, EX on h2" "h1/1,h3/3" mw "" -- shared.img
expect_busy 2 "MW held by h1+h3, SH on h2" "h1/1,h3/3" mw "" -- --mode sh shared.img

# --- one table everywhere -----------------------------------------------------------------
want="base.img 1 sh
base.img 2 sh
shared.img 1 mw
shared.img 3 mw
vm3/disk.img 3 ex"
cl_wait_for 3 tables_agree "$want" || cl_fail "locks --json differs between hosts or from what is held
(expected path/host/mode: $(tr '\n' ';' <<<"$want"))
h1: $TBL1
h2: $TBL2
h3: $TBL3"
grep -q "vm3/disk.img 3 h3 ex $g3 -" <<<"$TBL1" ||
	cl_fail "locks: vm3/disk.img should show h3's generation $g3: $TBL1"
cl_log "ok: locks --json identical on 3 hosts:"$'\n'"$TBL1"
for n in "1 sh1" "2 sh2" "3 ex3" "1 mw1" "3 mw3"; do
	# shellcheck disable=SC2086
	lt_unhold $n
done
cl_wait_for 3 tables_agree "" || cl_fail "locks left after every holder released:
h1: $TBL1
h2: $TBL2
h3: $TBL3"
cl_log "ok: table empty on 3 hosts after release"

# --- --wait ---------------------------------------------------------------------------------
: >"$T/w1.log"
cl_bg 1 w1 "$T/w1.log" vmfsadm lock -v vm1/wait.img -- sleep 1
cl_wait_for 5 grep -q "held, generation" "$T/w1.log" || cl_fail "h1 could not take vm1/wait.img: $(cat "$T/w1.log")"
t=$(lt_now_ms)
expect_ok 2 "h2 --wait 5 while h1 holds for ~1 s" --wait 5 vm1/wait.img
el=$(($(lt_now_ms) - t))
((el < 4500)) || cl_fail "h2 --wait 5: got the lock only after $el ms though h1 held it ~1 s"
cl_log "ok: --wait 5 granted after $el ms"

# --- generations grow ------------------------------------------------------------------------
prev=
for i in 1 2 3 1 3; do
	# --wait 2: the previous holder's release may still be on its way through corosync
	adm "$i" lock -v --wait 2 vm1/gen.img -- true
	[[ $RC == 0 ]] || cl_fail "h$i lock vm1/gen.img: expected 0, got $RC: $ERR"
	g=$(lt_gen_of <<<"$ERR")
	[[ -n $g ]] || cl_fail "h$i lock -v printed no generation: $ERR"
	if [[ -n $prev ]] && ! lt_gen_gt "$g" "$prev"; then
		cl_fail "generation of vm1/gen.img did not grow: $prev then $g (on h$i)"
	fi
	prev=$g
done
cl_log "ok: generations of vm1/gen.img grow with each grant (last $prev)"

# --- kill -9 of a holding client -----------------------------------------------------------
: >"$T/k2.log"
cl_bg 2 k2 "$T/k2.log" vmfsadm lock -v vm1/kill.img -- sleep 60
cl_wait_for 5 grep -q "held, generation" "$T/k2.log" || cl_fail "h2 could not take vm1/kill.img: $(cat "$T/k2.log")"
expect_busy 3 "EX held by h2 (before kill -9)" h2/2 ex "" -- vm1/kill.img
cl_kill 2 k2 KILL
t=$(lt_now_ms)
expect_ok 3 "h3 gets vm1/kill.img after h2's client was killed with SIGKILL" --wait 5 vm1/kill.img
el=$(($(lt_now_ms) - t))
((el < 5000)) || cl_fail "h3 got vm1/kill.img only after $el ms"
cl_log "ok: killed client's lock free for h3 after $el ms"

# --- invalid names ---------------------------------------------------------------------------
for p in ../x vm1/../../x .vmfs/lockvol .vmfs "" /etc/passwd; do
	rm -f "$T/ran"
	adm 2 lock "$p" -- touch "$T/ran"
	[[ $RC == 1 || $RC == 2 ]] || cl_fail "lock of invalid name '$p': expected exit 1 or 2, got $RC: $ERR"
	[[ ! -e $T/ran ]] || cl_fail "lock of invalid name '$p': the command ran"
	cl_log "ok: '$p' refused ($RC): $ERR"
done
cl_wait_for 2 tables_agree "" || cl_fail "something is held after the invalid names were refused:
h1: $TBL1
h2: $TBL2
h3: $TBL3"

# --- two processes of one host share SH ------------------------------------------------------
# (last, so that the checks above run even while this one fails)
lt_hold 1 shl base.img sh
expect_ok 1 "SH held by a process of h1, SH by another on h1" --mode sh base.img
cl_alive 1 lockd || cl_fail "h1 lockd died when a second local client took SH on base.img: $(tail -n 5 "$CL_DIR/h1/lockd.log")"
lt_unhold 1 shl

# --- a clean stop while a client holds a lock -------------------------------------------------
# SIGTERM to h3's lockd: its client is told, the lock is released (persisted free) and
# the heartbeat marked clean, so h1 gets the lock at once, not after h3's lease.
lt_hold 3 stop vm3/stop.img
t=$(lt_now)
cl_stop 3 lockd
cl_wait_for 5 test -s "$CL_DIR/stop.rc" || cl_fail "h3's client still runs after its lockd stopped: $(lt_holder_out stop)"
read -r rc _ <"$CL_DIR/stop.rc"
[[ $rc == 70 ]] || cl_fail "h3's client exited $rc when its lockd stopped, not 70: $(lt_holder_out stop)"
grep -q "heartbeat marked clean" "$CL_DIR/h3/lockd.log" ||
	cl_fail "h3's lockd stopped without marking its heartbeat clean: $(tail -n 5 "$CL_DIR/h3/lockd.log")"
cl_wait_for 5 cl_on 1 "$ADM" lock vm3/stop.img -- true ||
	cl_fail "h1 could not take vm3/stop.img within 5 s of h3's clean stop"
cl_log "ok: clean stop of h3's lockd with a lock held: h1 took it $(lt_since "$t") s after SIGTERM"

lt_lockd_alive 1 2
lt_pass check-lockd-basic

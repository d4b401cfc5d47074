#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# check-handoff-basic.sh - vmfs-handoff prepare / commit / abort / status through real
# vmfs-lockd on 3 hosts (handoff_timeout 6 s). The files are held by `vmfsadm lock`
# processes (no vmfsd: its side of a handoff is tested with the mount).
#
# 1. Refusals, each one line and its exit status, nothing changed: an unknown host (67),
#    a file this host does not hold (65), a file also held by a third host (65), this host
#    as destination (65), an unknown id for commit (66) and status ("unknown", 66), a
#    commit by another host than the source (77), a bad id (64).
# 2. prepare of the VM directory moves both files held under it; status on every host
#    says pending, source h1, destination h2, both files; abort (twice: idempotent) keeps
#    them with h1 at the same generations; commit after abort exits 1.
# 3. prepare again, commit: h1's holders are told the locks were taken away (exit 70);
#    every host shows both files held by h2 with larger generations; status committed
#    everywhere; commit again exits 0; abort after commit exits 1.
# 4. h2 has no process for the files: it keeps them for handoff_timeout, hands them back
#    to h1 meanwhile (prepare + commit on h2), and h1 releases them handoff_timeout later.
# 5. A prepared handoff nobody commits is aborted after handoff_timeout.
# 5b. A file held on the source by a client that cannot drain (no drain subscription):
#    commit refused (75) naming the process, nothing moved.
# 6. Every lockd restarted (a cold start: the replica forgets finished handoffs): status
#    of the last one still says aborted, from the hosts' journals on the volume.
#
# Run as root with top_builddir/top_srcdir set; exit 77 means skipped.

set -euo pipefail

: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
# shellcheck source=tests/cluster/lib.sh
source "$top_srcdir/tests/cluster/lib.sh"
# shellcheck source=tests/cluster/lockd.sh
source "$top_srcdir/tests/cluster/lockd.sh"
lt_init
TIMEOUT_MS=6000

# expect RC WHAT PATTERN: the last ho call exited RC with a line matching PATTERN
expect() {
	[[ $RC == "$1" ]] || cl_fail "$2: exit $RC, want $1: $OUT"
	[[ $OUT =~ $3 ]] || cl_fail "$2: '$OUT' does not say /$3/"
	[[ $(wc -l <<<"$OUT") == 1 ]] || cl_fail "$2: more than one line: $OUT"
	cl_log "$2: exit $RC: $OUT"
}

status_of() { cl_on "$1" "$HO" status --json "$2" 2>/dev/null | lt_json s "$3"; }

cl_setup 3
for i in 1 2 3; do cl_conf_set "$i" handoff_timeout_ms "$TIMEOUT_MS"; done
lt_start_cluster 30 1 2 3
cl_log "cluster ready"

lt_hold 1 disk vm1/disk.img ex
lt_hold 1 cfg vm1/vm.cfg ex
lt_hold 1 shared base/shared.img mw
lt_hold 3 shared3 base/shared.img mw
g_disk=$(lt_gen_of <"$CL_DIR/disk.log")
g_cfg=$(lt_gen_of <"$CL_DIR/cfg.log")

# --- 1. refusals ---------------------------------------------------------------------------

before=$(lt_locks_norm 1)
lt_ho 1 prepare --to nosuch vm1
expect 67 "unknown host" "no host nosuch"
lt_ho 1 prepare --to h2 vm9/other.img
expect 65 "file not held" "vm9/other.img: this host holds no lock on it"
lt_ho 1 prepare --to h2 vm1/disk.img base/shared.img
expect 65 "file also held by a third host" "base/shared.img is also held by host 3 \(h3\)"
lt_ho 1 prepare --to 1 vm1
expect 65 "destination is the source" "the destination is this host"
lt_ho 1 prepare --to h2 ../etc/passwd
expect 65 "bad name" "not a lock name|\.\."
lt_ho 1 commit 12345
expect 66 "commit of an unknown id" "no handoff 12345"
lt_ho 2 status 12345
[[ $RC == 66 && $OUT == unknown ]] || cl_fail "status of an unknown id: exit $RC: $OUT"
lt_ho 1 commit x1
expect 64 "bad id" "not a handoff id"
[[ $(lt_locks_norm 1) == "$before" ]] || cl_fail "a refusal changed the locks: $(lt_locks_norm 1), was $before"

# --- 2. prepare, status, abort -------------------------------------------------------------

lt_ho 1 prepare --to h2 vm1
[[ $RC == 0 ]] || cl_fail "prepare of vm1: exit $RC: $OUT"
id=${OUT##* }
[[ $id =~ ^[0-9]+$ ]] || cl_fail "prepare did not end with the id: $OUT"
cl_log "prepare: $OUT"
for i in 1 2 3; do
	got=$(status_of "$i" "$id" '(s["state"], s["source"]["name"], s["destination"]["name"], sorted(f["path"] for f in s["files"]))')
	[[ $got == "pending h1 h2 ['vm1/disk.img', 'vm1/vm.cfg']" ]] ||
		cl_fail "h$i: status of $id is '$got', want pending h1 -> h2 with both files"
done
lt_ho 2 commit "$id"
expect 77 "commit by the destination" "only its source commits it"
lt_ho 1 abort "$id"
expect 0 "abort" "aborted"
lt_ho 1 abort "$id"
expect 0 "abort again" "aborted"
lt_ho 1 commit "$id"
expect 1 "commit after abort" "was aborted"
for i in 1 2 3; do
	[[ $(status_of "$i" "$id" 's["state"]') == aborted ]] || cl_fail "h$i: $id not aborted"
done
[[ $(lt_locks_norm 1) == "$before" ]] || cl_fail "abort changed the locks: $(lt_locks_norm 1), was $before"
lt_holding 1 disk && lt_holding 1 cfg || cl_fail "h1's holders went with the abort"

# --- 3. prepare, commit ---------------------------------------------------------------------

lt_ho 1 prepare --to h2 vm1/disk.img "$CL_DS/vm1/vm.cfg"
[[ $RC == 0 ]] || cl_fail "prepare of both files: exit $RC: $OUT"
id=${OUT##* }
t0=$(lt_now)
lt_ho 1 commit "$id"
expect 0 "commit" "committed"
cl_log "FIGURE handoff: commit of 2 files took $(lt_since "$t0") s (vmfs-handoff round trip included)"
for name in disk cfg; do
	cl_wait_for 5 test -s "$CL_DIR/$name.rc" || cl_fail "h1's $name holder still runs after the commit"
	read -r rc _ <"$CL_DIR/$name.rc"
	[[ $rc == 70 ]] || cl_fail "h1's $name holder exited $rc, want 70: $(lt_holder_out "$name")"
	grep -q "taken away" "$CL_DIR/$name.log" || cl_fail "h1's $name holder did not say why: $(lt_holder_out "$name")"
done
for i in 1 2 3; do
	cl_wait_for 5 eval '[[ $(status_of '"$i $id"' "s[\"state\"]") == committed ]]' ||
		cl_fail "h$i: $id is $(status_of "$i" "$id" 's["state"]'), not committed"
	got=$(lt_locks_canon "$i" | awk '$1 ~ /^vm1\// { print $1, $2, $4 }')
	[[ $got == $'vm1/disk.img 2 ex\nvm1/vm.cfg 2 ex' ]] || cl_fail "h$i: after the commit vm1 is held as: $got"
done
g2_disk=$(lt_locks_canon 2 | awk '$1 == "vm1/disk.img" { print $5 }')
g2_cfg=$(lt_locks_canon 2 | awk '$1 == "vm1/vm.cfg" { print $5 }')
lt_gen_gt "$g2_disk" "$g_disk" || cl_fail "disk.img generation $g2_disk is not above $g_disk"
lt_gen_gt "$g2_cfg" "$g_cfg" || cl_fail "vm.cfg generation $g2_cfg is not above $g_cfg"
cl_log "commit: generations disk $g_disk -> $g2_disk, cfg $g_cfg -> $g2_cfg"
lt_ho 1 commit "$id"
expect 0 "commit again" "committed"
lt_ho 2 abort "$id"
expect 1 "abort after commit" "is committed"

# --- 4. the destination keeps what nobody took, for handoff_timeout -------------------------

t_commit=$t0
lt_ho 2 prepare --to h1 vm1
[[ $RC == 0 ]] || cl_fail "h2 cannot hand vm1 back within handoff_timeout: exit $RC: $OUT"
id=${OUT##* }
lt_ho 2 commit "$id"
expect 0 "hand back" "committed"
t_back=$(lt_now)
got=$(lt_locks_canon 3 | awk '$1 ~ /^vm1\// { print $1, $2 }')
[[ $got == $'vm1/disk.img 1\nvm1/vm.cfg 1' ]] || cl_fail "after the hand-back vm1 is held as: $got"
cl_wait_for 15 eval '[[ -z $(lt_locks_canon 3 | awk '"'"'$1 ~ /^vm1\// { print }'"'"') ]]' ||
	cl_fail "h1 still holds vm1 15 s after it came back with no process to take it"
held=$(lt_since "$t_back")
cl_log "FIGURE handoff: h1 released what nobody took $held s after it came back (handoff_timeout $TIMEOUT_MS ms)"
lt_fle "$(awk -v t=$TIMEOUT_MS 'BEGIN { print t / 1000 - 0.5 }')" "$held" ||
	cl_fail "h1 released vm1 after $held s, before handoff_timeout"
grep -q "no process on this host took it" "$CL_DIR/h1/lockd.log" || cl_fail "h1's lockd did not log the release"
: "$t_commit"

# --- 5. a prepared handoff nobody commits ----------------------------------------------------

lt_hold 1 disk2 vm1/disk.img ex
lt_ho 1 prepare --to 2 vm1/disk.img
[[ $RC == 0 ]] || cl_fail "prepare for the timeout: exit $RC: $OUT"
id=${OUT##* }
t0=$(lt_now)
cl_wait_for 15 eval '[[ $(status_of 3 '"$id"' "s[\"state\"]") == aborted ]]' ||
	cl_fail "handoff $id not aborted 15 s after prepare (handoff_timeout $TIMEOUT_MS ms)"
cl_log "FIGURE handoff: an uncommitted handoff aborted $(lt_since "$t0") s after prepare"
lt_holding 1 disk2 || cl_fail "h1 lost vm1/disk.img to the timeout: $(lt_holder_out disk2)"
[[ $(lt_locks_canon 2 | awk '$1 == "vm1/disk.img" { print $2 }') == 1 ]] ||
	cl_fail "after the timeout vm1/disk.img is not h1's: $(lt_locks_canon 2)"

# --- 5b. a holder that cannot drain stops the commit -------------------------------------------

cl_bg 1 nodrain "$CL_DIR/nodrain.out" "$(cd "$top_builddir" && pwd)/tests/cluster/ipc_abuse" nodrain vm7/disk.img
cl_wait_for 10 grep -q "^holding" "$CL_DIR/nodrain.out" || cl_fail "the non-draining holder did not take vm7/disk.img: $(cat "$CL_DIR/nodrain.out")"
lt_ho 1 prepare --to h2 vm7/disk.img
[[ $RC == 0 ]] || cl_fail "prepare of vm7: exit $RC: $OUT"
id7=${OUT##* }
lt_ho 1 commit "$id7"
expect 75 "commit with a holder that cannot drain" "held on this host by process [0-9]+, which cannot stop its writes"
[[ $(lt_locks_canon 3 | awk '$1 == "vm7/disk.img" { print $2 }') == 1 ]] || cl_fail "vm7/disk.img moved: $(lt_locks_canon 3)"
lt_ho 1 abort "$id7"
cl_kill 1 nodrain TERM

# --- 6. after a restart of the whole cluster, the journals still tell --------------------------

for i in 1 2 3; do cl_stop "$i" lockd; done
for i in 1 2 3; do cl_start_lockd "$i"; done
lt_wait_ready "restart" 30 3 1 2 3
lt_ho 3 status "$id"
[[ $RC == 0 && $OUT == "aborted (aborted, per the journal of host "* ]] ||
	cl_fail "status of $id after the whole cluster restarted: exit $RC: $OUT"
cl_log "after a cold start: $OUT"
lt_ho 3 status 999999
[[ $RC == 66 && $OUT == unknown ]] || cl_fail "status of an id no journal names: exit $RC: $OUT"

echo "ok: check-handoff-basic"

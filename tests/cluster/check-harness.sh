#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# check-harness.sh - self-test of tests/cluster/lib.sh on 3 hosts of real corosync:
# namespaces really are per host, quorum on all 3, a cut host 3 drops to inquorate while
# 1 and 2 stay quorate, healing merges, kill -9 of corosync on host 2 is seen by 1 and 3,
# and teardown leaves no process, namespace, mount, /dev/shm file or directory behind.
# Needs no vmfs binary (lockd is stood in for by a script). Exit 77 means skipped.

set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/cluster/lib.sh
. "$here/lib.sh"

# the non-root path must skip with the documented line, before anything is built
if [[ $(id -u) == 0 ]] && command -v setpriv >/dev/null; then
	rc=0
	out=$(cd / && setpriv --reuid=65534 --regid=65534 --clear-groups \
		bash -c '. "$1"; cl_setup 3; echo "NOT SKIPPED"' skip "$here/lib.sh" 2>&1) || rc=$?
	if [[ $rc == 77 && $out == "SKIP: cluster tests need root (network and mount namespaces)" ]]; then
		echo "ok: non-root run skips (77)"
	elif [[ $out == *"Permission denied"* ]]; then
		echo "note: lib.sh not readable by nobody, non-root skip not checked"
	else
		echo "FAIL: non-root run gave rc=$rc: $out"
		exit 1
	fi
fi

# /dev/shm files of libqb naming PID (as server or client)
shm_of() {
	local f
	for f in /dev/shm/qb-"$1"-* /dev/shm/qb-*-"$1"-*; do [[ -e $f ]] && echo "$f"; done
	return 0
}

t_start=$(_cl_now_us)
cl_setup 3
pfx=$CL_PFX dir=$CL_DIR

# --- layout -----------------------------------------------------------------------------
addrs=$(cl_on 1 ip -o -4 addr show | awk '{print $2, $4}')
[[ $addrs == $'lo 127.0.0.1/8\neth0 10.99.0.1/24' ]] || cl_fail "h1 addresses: $addrs"
all=$(cl_on 1 ip -o addr show)
[[ $(grep -c '10\.99\.0\.' <<<"$all") == 1 ]] || cl_fail "h1 sees other test addresses: $all"
links=$(cl_on 1 ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort | tr '\n' ' ')
[[ $links == "eth0 lo " ]] || cl_fail "h1 links: $links"
cl_on 1 cat /proc/self/mountinfo | awk -v r="/h1/run" '$5 == "/run" && index($4, r) { f = 1 } END { exit !f }' ||
	cl_fail "h1 has no /run bind from \$CL_DIR/h1/run: $(cl_on 1 grep ' /run ' /proc/self/mountinfo)"
if grep -q '10\.99\.0\.' < <(ip -o addr show); then cl_fail "a 10.99.0.x address in the root netns"; fi
[[ $(cl_on 2 sh -c 'echo "$VMFS_CONFIG"') == "$dir/h2/vmfs.conf" ]] || cl_fail "VMFS_CONFIG not set by cl_on"
# a file under /run on one host is not seen on another, nor on the machine
cl_on 1 touch /run/vt-probe
cl_on 2 test ! -e /run/vt-probe || cl_fail "/run shared between h1 and h2"
[[ -e $dir/h1/run/vt-probe && ! -e /run/vt-probe ]] || cl_fail "/run of h1 is not \$CL_DIR/h1/run"
# a mount made by one cl_on call is seen by the next on that host only (as vmfsd's will be)
cl_on 1 mount -n -t tmpfs cltest "$CL_VMFS_1"
cl_on 1 touch "$CL_VMFS_1/m"
cl_on 1 test -e "$CL_VMFS_1/m" || cl_fail "h1 mount not kept between cl_on calls"
cl_on 2 test ! -e "$CL_VMFS_1/m" || cl_fail "h1 mount visible on h2"
[[ ! -e $CL_VMFS_1/m ]] || cl_fail "h1 mount visible in the root mount namespace"
[[ -d $CL_DS ]] || cl_fail "no datastore"
cl_on 3 touch "$CL_DS/from-h3"
cl_on 1 test -e "$CL_DS/from-h3" || cl_fail "datastore not shared"
echo "ok: namespaces, /run bind, mount namespace per host, shared datastore"

# --- configs ----------------------------------------------------------------------------
grep -qx "datastore = $CL_DS" "$dir/h2/vmfs.conf" || cl_fail "vmfs.conf: datastore"
grep -qx "mountpoint = $dir/h2/vmfs" "$dir/h2/vmfs.conf" || cl_fail "vmfs.conf: mountpoint"
grep -qx "isolation = ${CL_ISOLATION:-keep}" "$dir/h2/vmfs.conf" || cl_fail "vmfs.conf: isolation"
cl_conf_set 2 io_timeout_ms 1234
cl_conf_set 2 new_key "a/b c"
[[ $(grep -c '^io_timeout_ms' "$dir/h2/vmfs.conf") == 1 ]] &&
	grep -qx 'io_timeout_ms = 1234' "$dir/h2/vmfs.conf" &&
	grep -qx 'new_key = a/b c' "$dir/h2/vmfs.conf" || cl_fail "cl_conf_set: $(cat "$dir/h2/vmfs.conf")"
[[ $(grep -c 'ring0_addr' "$dir/h1/corosync.conf") == 3 ]] || cl_fail "corosync.conf nodelist"
echo "ok: configs"

# --- cl_wait_for ------------------------------------------------------------------------
t0=$(_cl_now_us)
if cl_wait_for 0.3 false; then cl_fail "cl_wait_for false succeeded"; fi
el=$(($(_cl_now_us) - t0))
((el >= 300000 && el < 2000000)) || cl_fail "cl_wait_for 0.3 took ${el} us"
cl_wait_for 1 true || cl_fail "cl_wait_for true failed"

# --- quorum ------------------------------------------------------------------------------
for i in 1 2 3; do cl_start_corosync "$i"; done
for i in 1 2 3; do
	cl_wait_quorate "$i" 30 || cl_fail "h$i not quorate: $(cl_quorum "$i")"
	cl_wait_members "$i" 3 30 || cl_fail "h$i does not see 3 members: $(cl_quorum "$i")"
done
for i in 1 2 3; do
	pid=$(cl_pid "$i" corosync) || cl_fail "no corosync pid on h$i"
	cl_in_host "$i" "$pid" || cl_fail "corosync of h$i runs outside the host's namespaces"
	[[ -e $dir/h$i/run/corosync.pid ]] || cl_fail "h$i corosync pid file not in \$CL_DIR/h$i/run"
done
cl_log "quorate on all 3"

# a stand-in lockd: checks the arguments and environment cl_start_lockd gives it
fake=$dir/fake-lockd
cat >"$fake" <<'EOF'
#!/bin/sh
echo "args: $*"
echo "VMFS_CONFIG=$VMFS_CONFIG"
trap 'echo "got TERM"; exit 0' TERM
while :; do sleep 0.1; done
EOF
chmod +x "$fake"
CL_LOCKD=$fake cl_start_lockd 1
lpid=$(cl_pid 1 lockd) || cl_fail "no lockd pid"
cl_in_host 1 "$lpid" || cl_fail "lockd runs outside h1's namespaces"
cl_wait_for 5 grep -qx "args: -f -c $dir/h1/vmfs.conf" "$dir/h1/lockd.log" ||
	cl_fail "lockd args: $(cat "$dir/h1/lockd.log")"
grep -qx "VMFS_CONFIG=$dir/h1/vmfs.conf" "$dir/h1/lockd.log" || cl_fail "lockd env"
cl_stop 1 lockd
if cl_alive 1 lockd; then cl_fail "lockd survived cl_stop"; fi
cl_wait_for 2 grep -qx "got TERM" "$dir/h1/lockd.log" || cl_fail "cl_stop did not send TERM first"
echo "ok: cl_start_lockd, cl_pid, cl_stop"

# --- cut host 3 -------------------------------------------------------------------------
t0=$(_cl_now_us)
cl_cut 3
cl_wait_inquorate 3 30 || cl_fail "cut h3 still quorate: $(cl_quorum 3)"
for i in 1 2; do
	cl_wait_members "$i" 2 30 || cl_fail "h$i still sees h3: $(cl_quorum "$i")"
	cl_is_quorate "$i" || cl_fail "h$i lost quorum with 2 of 3: $(cl_quorum "$i")"
done
cl_log "cut: h3 inquorate, h1+h2 quorate with 2 members after $((($(_cl_now_us) - t0) / 1000)) ms"

t0=$(_cl_now_us)
cl_heal 3
for i in 1 2 3; do
	cl_wait_members "$i" 3 30 || cl_fail "h$i: no merge after heal: $(cl_quorum "$i")"
	cl_wait_quorate "$i" 30 || cl_fail "h$i not quorate after heal: $(cl_quorum "$i")"
done
cl_log "heal: all 3 quorate after $((($(_cl_now_us) - t0) / 1000)) ms"

# --- kill -9 corosync on host 2 -----------------------------------------------------------
pid2=$(cl_pid 2 corosync)
[[ -n $(shm_of "$pid2") ]] || cl_log "note: no /dev/shm file names corosync pid $pid2"
t0=$(_cl_now_us)
cl_kill 2 corosync KILL
if cl_alive 2 corosync; then cl_fail "corosync on h2 survived SIGKILL"; fi
[[ -z $(shm_of "$pid2") ]] || cl_fail "/dev/shm leftovers of $pid2: $(shm_of "$pid2")"
for i in 1 3; do
	cl_wait_members "$i" 2 30 || cl_fail "h$i still sees h2: $(cl_quorum "$i")"
	cl_is_quorate "$i" || cl_fail "h$i inquorate with 2 of 3: $(cl_quorum "$i")"
done
cl_log "kill -9: h1+h3 see 2 members after $((($(_cl_now_us) - t0) / 1000)) ms"

# restart on the same host: the flock on /run/corosync.pid must be free again
cl_start_corosync 2
for i in 1 2 3; do cl_wait_members "$i" 3 30 || cl_fail "h$i: h2 did not rejoin: $(cl_quorum "$i")"; done
cl_log "h2 restarted and rejoined"

# a process started behind the harness's back on a host (cl_on ... &) is also torn down
cl_on 3 sleep 1000 &
stray=$!
disown "$stray"

# --- teardown ---------------------------------------------------------------------------
mapfile -t allpids < <(awk '{print $1}' "$dir/pids")
allpids+=("$stray")
cl_teardown
cl_teardown # idempotent
for p in "${allpids[@]}"; do
	if _cl_running "$p" && [[ $(readlink "/proc/$p/ns/net") != "$(readlink /proc/self/ns/net)" ]]; then
		echo "FAIL: pid $p still running after teardown"
		exit 1
	fi
done
if ip netns list | grep -q -- "^$pfx-"; then echo "FAIL: namespaces left: $(ip netns list | grep -- "^$pfx-")"; exit 1; fi
if [[ ${CL_KEEP:-0} == 1 ]]; then
	[[ -d $dir ]] || { echo "FAIL: CL_KEEP=1 but $dir removed"; exit 1; }
elif [[ -e $dir ]]; then
	echo "FAIL: $dir left behind"
	exit 1
fi
if grep -qF -- "$dir" /proc/self/mountinfo; then echo "FAIL: mounts left under $dir"; exit 1; fi
for p in "${allpids[@]}"; do
	if [[ -n $(shm_of "$p") ]]; then echo "FAIL: /dev/shm files of pid $p left: $(shm_of "$p")"; exit 1; fi
done
el=$(($(_cl_now_us) - t_start))
echo "ok: teardown left nothing behind"
echo "PASS: harness self-test in $((el / 1000000)).$((el % 1000000 / 100000)) s"

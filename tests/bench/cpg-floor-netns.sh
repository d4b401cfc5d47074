#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# cpg-floor-netns.sh - runs `vmfs-bench-floor cpg` against a private one-node corosync:
# a network namespace of its own holding a dummy (or veth) interface at 10.98.0.1/24,
# corosync (knet, token 1000) with its own /run, state and log in a temp dir, as
# shared/CLUSTER-TESTS.md describes. Prints what vmfs-bench-floor prints; everything it
# started (corosync, by PID) and created (namespace, temp dir) goes in a trap.
#
# usage: cpg-floor-netns.sh [--bin PATH] [vmfs-bench-floor cpg options...]
#   --bin PATH  the vmfs-bench-floor program (default: beside this script, then
#               $top_builddir/tests/bench/)
# Needs root, ip(8), corosync. Exit status: vmfs-bench-floor's, or 1 on setup failure.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
bin=
if [ "${1:-}" = --bin ]; then
	bin=$2
	shift 2
fi
if [ -z "$bin" ]; then
	for c in "$here/vmfs-bench-floor" "${top_builddir:-.}/tests/bench/vmfs-bench-floor"; do
		if [ -x "$c" ]; then bin=$c; break; fi
	done
fi
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
	echo "cpg-floor-netns: vmfs-bench-floor not found (build it: make -C tests bench/vmfs-bench-floor, or pass --bin)" >&2
	exit 1
fi
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
command -v corosync >/dev/null || { echo "cpg-floor-netns: corosync not installed" >&2; exit 1; }

ns="vbf-$$-$RANDOM"
tmp=$(mktemp -d /tmp/vmfs-bench-floor.XXXXXX)
cs_pid=

# shellcheck disable=SC2317 # reached through the trap
cleanup() {
	if [ -n "$cs_pid" ] && kill -0 "$cs_pid" 2>/dev/null; then
		kill -TERM "$cs_pid" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$cs_pid" 2>/dev/null || break; sleep 0.1; done
		if kill -0 "$cs_pid" 2>/dev/null; then
			kill -KILL "$cs_pid" 2>/dev/null || true
			sleep 0.2
		fi
	fi
	# What a corosync that did not end cleanly (ours, by its PID) left in /dev/shm.
	if [ -n "$cs_pid" ]; then
		rm -rf /dev/shm/qb-"$cs_pid"-* /dev/shm/qb-corosync-"$cs_pid"-* || true
	fi
	ip netns del "$ns" 2>/dev/null || true
	rm -rf "$tmp" || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$tmp/run" "$tmp/state"
cat >"$tmp/corosync.conf" <<EOF
totem {
	version: 2
	cluster_name: vmfs-bench-floor
	transport: knet
	token: 1000
	crypto_cipher: none
	crypto_hash: none
}
nodelist {
	node {
		ring0_addr: 10.98.0.1
		nodeid: 1
		name: n1
	}
}
quorum {
	provider: corosync_votequorum
}
system {
	state_dir: $tmp/state
	sched_rr: no
	move_to_root_cgroup: no
}
logging {
	to_logfile: yes
	logfile: $tmp/corosync.log
	to_syslog: no
	to_stderr: no
	timestamp: on
}
EOF

ip netns add "$ns"
ip -n "$ns" link set lo up
# A dummy interface where the kernel has the module, else a veth pair with both ends in
# the namespace (only eth0 gets the address: corosync finds its node by its address).
if ! ip -n "$ns" link add eth0 type dummy 2>/dev/null; then
	ip -n "$ns" link add eth0 type veth peer name eth1
	ip -n "$ns" link set eth1 up
fi
ip -n "$ns" addr add 10.98.0.1/24 dev eth0
ip -n "$ns" link set eth0 up

ip netns exec "$ns" sh -c "mount -n --bind '$tmp/run' /run && exec corosync -f -c '$tmp/corosync.conf'" \
	>"$tmp/corosync.out" 2>&1 &
cs_pid=$!

# Ready when the CPG service answers: corosync-cpgtool lists groups once it is up.
ready=0
for _ in $(seq 100); do
	if ! kill -0 "$cs_pid" 2>/dev/null; then break; fi
	if ip netns exec "$ns" corosync-cpgtool >/dev/null 2>&1; then ready=1; break; fi
	sleep 0.1
done
if [ "$ready" != 1 ]; then
	echo "cpg-floor-netns: corosync did not come up; its log:" >&2
	tail -n 20 "$tmp/corosync.out" "$tmp/corosync.log" >&2 2>/dev/null || true
	exit 1
fi

rc=0
ip netns exec "$ns" "$bin" cpg "$@" || rc=$?
exit "$rc"

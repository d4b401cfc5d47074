#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# sanlock-peer.sh - sanlock on the same storage as vmfs, the peer the lock benchmarks are
# compared with. Starts a private sanlock daemon (own run dir through SANLOCK_RUN_DIR, so
# a system sanlock is never touched; no watchdog, no mlockall, no SCHED_RR: -w 0 -l 0
# -h 0; as root, so it can read the private temp dirs), puts a lockspace and one resource
# lease as files in a temp dir under DIR (sanlock direct init), joins the lockspace as
# host 1 (timed), then runs vmfs-bench-sanlock (bench_sanlock.c, libsanlock_client): N
# acquire + release of the lease, each timed on its own.
#
# usage: sanlock-peer.sh DIR [--count N] [--bin PATH] [--handoff]
#   --handoff   also a second daemon (host 2 of the lockspace) and the libvirt-style
#               handoff of 4 leases between the two: release all on one, acquire all on
#               the other (sanlock_handoff_p50_ms=, _p99_ms=, sanlock_handoff_n=).
#   --bin PATH  the vmfs-bench-sanlock program. Default: beside this script, then
#               $top_builddir/tests/bench/; else it is compiled into the temp dir when
#               pkg-config finds libsanlock_client (Debian: libsanlock-dev).
# Prints key=value lines: sanlock_add_lockspace_s=, sanlock_acquire_p50_ms=,
# sanlock_acquire_p99_ms=, sanlock_release_p50_ms=, sanlock_release_p99_ms=, sanlock_n=,
# and sanlock_memlock_shim=used when the daemon needed memlock_shim.c (root without
# CAP_SYS_RESOURCE cannot raise RLIMIT_MEMLOCK/RLIMIT_RTPRIO, and sanlock exits at start
# then). Prints the one line `sanlock=skipped reason=...` and exits 0 when sanlock (or
# any way to get vmfs-bench-sanlock) is missing. Exit 1 on failure, 2 on bad usage.
#
# The daemon runs in a private mount namespace with a temp dir over /var/log, so its
# log file (always opened there) stays in the temp dir. Everything started is stopped by
# PID and every temp dir removed in a trap, on failure too.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
prog='sanlock-peer'
usage() { sed -n '12,15p' "$0" | sed 's/^# \{0,1\}//'; }

dir='' count=2000 bin='' handoff=0
while [ $# -gt 0 ]; do
	case "$1" in
	--count) count=${2:-}; shift ;;
	--handoff) handoff=1 ;;
	--bin) bin=${2:-}; shift ;;
	-h|--help) usage; exit 0 ;;
	-*) echo "$prog: unknown option $1" >&2; usage >&2; exit 2 ;;
	*) if [ -n "$dir" ]; then echo "$prog: one DIR only" >&2; exit 2; fi; dir=$1 ;;
	esac
	shift
done
if [ -z "$dir" ]; then usage >&2; exit 2; fi
case "$count" in ''|*[!0-9]*|0) echo "$prog: --count wants a positive integer" >&2; exit 2 ;; esac
if [ ! -d "$dir" ]; then echo "$prog: $dir: not a directory" >&2; exit 1; fi

skip() { echo "sanlock=skipped reason=$*"; exit 0; }
sanlock=$(command -v sanlock || true)
[ -n "$sanlock" ] || skip "sanlock binary not found (Debian package sanlock)"
[ "$(id -u)" = 0 ] || skip "needs root (the sanlock daemon opens the lease files O_DIRECT as root)"

tmp=$(mktemp -d /tmp/vmfs-sanlock-peer.XXXXXX)
data=
daemon_pid=
daemon2_pid=
export SANLOCK_RUN_DIR="$tmp/run"
LS=vmfs_bench
RES=vmfs_bench_res

# shellcheck disable=SC2317 # reached through the trap
stop_daemon() { # stop_daemon PID RUNDIR
	if [ -n "$1" ] && kill -0 "$1" 2>/dev/null; then
		# SIGTERM is ignored while a lockspace is joined; a forced shutdown is not.
		SANLOCK_RUN_DIR=$2 timeout 10 "$sanlock" client shutdown -f 1 >/dev/null 2>&1 || true
		for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
		if kill -0 "$1" 2>/dev/null; then kill -KILL "$1" 2>/dev/null || true; fi
		wait "$1" 2>/dev/null || true
	fi
}
cleanup() {
	stop_daemon "$daemon_pid" "$tmp/run"
	stop_daemon "$daemon2_pid" "$tmp/run2"
	[ -z "$data" ] || rm -rf "$data" || true
	rm -rf "$tmp" || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
	echo "$prog: $*" >&2
	if [ -s "$tmp/daemon.out" ]; then
		echo "$prog: sanlock daemon output (last lines):" >&2
		tail -n 5 "$tmp/daemon.out" >&2
	fi
	exit 1
}

# --- the benchmark program --------------------------------------------------------------
if [ -z "$bin" ]; then
	for c in "$here/vmfs-bench-sanlock" "${top_builddir:-.}/tests/bench/vmfs-bench-sanlock"; do
		if [ -x "$c" ]; then bin=$c; break; fi
	done
fi
if [ -z "$bin" ]; then
	if ! command -v cc >/dev/null || ! pkg-config --exists libsanlock_client 2>/dev/null; then
		skip "vmfs-bench-sanlock not built and libsanlock_client not found (Debian package libsanlock-dev)"
	fi
	# bench_sanlock.c includes "tests/bench/bench.h": the source tree's top is two up.
	# shellcheck disable=SC2046
	cc -O2 -I"$here/../.." $(pkg-config --cflags libsanlock_client) -o "$tmp/vmfs-bench-sanlock" \
		"$here/bench_sanlock.c" $(pkg-config --libs libsanlock_client) ||
		fail "cannot compile $here/bench_sanlock.c"
	bin=$tmp/vmfs-bench-sanlock
fi
[ -x "$bin" ] || fail "$bin: not an executable"

# --- lease files on the storage under test ----------------------------------------------
data=$(mktemp -d "$dir/.vmfs-sanlock-peer.XXXXXX") || fail "cannot create a temp dir in $dir"
truncate -s 1M "$data/ls" "$data/res"
truncate -s 4M "$data/res4"
"$sanlock" direct init -s "$LS:0:$data/ls:0" >"$tmp/init.out" 2>&1 ||
	fail "sanlock direct init -s on $dir failed (O_DIRECT not supported there?): $(tail -n 1 "$tmp/init.out")"
"$sanlock" direct init -r "$LS:$RES:$data/res:0" >"$tmp/init.out" 2>&1 ||
	fail "sanlock direct init -r on $dir failed: $(tail -n 1 "$tmp/init.out")"
for i in 0 1 2 3; do
	"$sanlock" direct init -r "$LS:${RES}_h$i:$data/res4:$((i * 1048576))" >"$tmp/init.out" 2>&1 ||
		fail "sanlock direct init -r of handoff lease $i failed: $(tail -n 1 "$tmp/init.out")"
done

# --- the daemon(s) ---------------------------------------------------------------------
mkdir -p "$tmp/run" "$tmp/log" "$tmp/run2" "$tmp/log2"
shim=
if ! (ulimit -l unlimited && ulimit -r unlimited) 2>/dev/null; then
	command -v cc >/dev/null || fail "root cannot raise RLIMIT_MEMLOCK here and cc is missing to build memlock_shim.c"
	cc -shared -fPIC -O2 -o "$tmp/memlock_shim.so" "$here/memlock_shim.c" -ldl ||
		fail "cannot compile $here/memlock_shim.c"
	shim=$tmp/memlock_shim.so
fi
# shellcheck disable=SC2016 # expanded by the sh -c below, from its own arguments
daemon_cmd='exec env ${2:+LD_PRELOAD="$2"} "$3" daemon -D -w 0 -l 0 -h 0 -U root -G root -L -1 -S -1'
start_daemon() { # start_daemon RUNDIR LOGDIR: starts one, sets STARTED to its pid
	if unshare -m --propagation private true 2>/dev/null; then
		SANLOCK_RUN_DIR=$1 unshare -m --propagation private sh -c \
			"mount -n --bind \"\$1\" /var/log && $daemon_cmd" \
			sh "$2" "$shim" "$sanlock" >>"$tmp/daemon.out" 2>&1 &
	else
		SANLOCK_RUN_DIR=$1 sh -c "$daemon_cmd" sh "$2" "$shim" "$sanlock" >>"$tmp/daemon.out" 2>&1 &
	fi
	STARTED=$!
	for _ in $(seq 100); do
		kill -0 "$STARTED" 2>/dev/null || break
		if [ -S "$1/sanlock.sock" ] && SANLOCK_RUN_DIR=$1 "$sanlock" client status >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	fail "sanlock daemon ($1) did not start"
}
start_daemon "$tmp/run" "$tmp/log"
daemon_pid=$STARTED
if [ "$handoff" = 1 ]; then
	start_daemon "$tmp/run2" "$tmp/log2"
	daemon2_pid=$STARTED
	# the second host joins meanwhile
	SANLOCK_RUN_DIR=$tmp/run2 "$sanlock" client add_lockspace -s "$LS:2:$data/ls:0" >"$tmp/add2.out" 2>&1 &
	add2=$!
fi

# --- measure ---------------------------------------------------------------------------
t0=$(date +%s%N)
"$sanlock" client add_lockspace -s "$LS:1:$data/ls:0" >"$tmp/add.out" 2>&1 ||
	fail "add_lockspace failed: $(tail -n 1 "$tmp/add.out")"
t1=$(date +%s%N)

"$bin" "$LS:$RES:$data/res:0" --count "$count" >"$tmp/bench.out" || fail "$bin failed"
echo "sanlock_add_lockspace_s=$(awk -v ns=$((t1 - t0)) 'BEGIN { printf "%.1f", ns / 1e9 }')"
cat "$tmp/bench.out"
if [ "$handoff" = 1 ]; then
	wait "$add2" || fail "add_lockspace of host 2 failed: $(tail -n 1 "$tmp/add2.out")"
	"$bin" --handoff "$tmp/run,$tmp/run2" --files 4 "$LS:${RES}_h:$data/res4:0" \
		--count "$count" >"$tmp/handoff.out" || fail "$bin --handoff failed"
	cat "$tmp/handoff.out"
fi
[ -z "$shim" ] || echo "sanlock_memlock_shim=used"
exit 0

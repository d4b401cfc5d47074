# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash disable=SC2015
#
# tests/cluster/lib.sh - several vmfs hosts, each with real corosync, on one machine.
#
# Usage (bash; safe under `set -euo pipefail`):
#
#	. "$(dirname "$0")/lib.sh"
#	cl_setup 3                      # skips (exit 77) unless root and tools present
#	for i in 1 2 3; do cl_start_corosync "$i"; done
#	for i in 1 2 3; do cl_wait_quorate "$i" || cl_fail "h$i not quorate"; done
#	cl_start_lockd 1
#	cl_on 2 vmfsadm status          # any command, run inside host 2
#	cl_cut 3; cl_wait_members 1 2 || cl_fail "h3 still seen"; cl_heal 3
#	# cl_teardown runs by itself on EXIT, INT and TERM
#
# Topology (shared/CLUSTER-TESTS.md): a network namespace <pfx>-br holding bridge br0, and
# per host i a network namespace <pfx>-n<i> whose eth0 (10.99.0.<i>/24) is a veth whose
# peer is enslaved to br0. <pfx> is unique per run (vt<pid><random>). Nothing is created
# in the root network namespace. Each host also has ONE long-lived mount namespace, owned
# by a holder process, in which $CL_DIR/h<i>/run is bound over /run (corosync's pid file
# is a hard-coded flock on /run/corosync.pid). Every command for host i runs through
# `nsenter -t <holder> -m -n`, so a FUSE mount made by one command on host i (e.g. vmfsd
# at $CL_DIR/h<i>/vmfs) is seen by the next one on host i, and by no other host.
# /dev/shm stays shared (libqb puts PIDs in its file names).
#
# State, all under one directory $CL_DIR (mktemp -d under ${TMPDIR:-/tmp}):
#	$CL_DS                   the shared datastore (the "NAS"), seen by every host
#	$CL_DIR/h<i>/            host i: corosync.conf corosync.log vmfs.conf lockd.log
#	                         state/ run/ vmfs/ (mount point) <name>.pid
#	$CL_DIR/env              CL_N CL_PFX CL_DS CL_CLUSTER as KEY=VALUE lines (for cl_attach)
# Exported: CL_DIR CL_DS CL_N CL_PFX CL_LOCKD, CL_VMFS_<i> (= $CL_DIR/h<i>/vmfs).
#
# Environment read:
#	CL_KEEP=1         keep $CL_DIR after teardown (post mortem); default: remove it
#	CL_CLUSTER        corosync cluster_name (default vmfstest)
#	CL_HB CL_DEAD CL_IO  hb_interval_ms / host_dead_ms / io_timeout_ms (1000/10000/2000)
#	CL_ISOLATION      isolation policy written to vmfs.conf (default keep)
#	CL_LOCKD          lockd binary (default ${top_builddir:-.}/lockd/vmfs-lockd, absolute)
#	CL_PERSIST=1      a cluster that outlives the shell that made it (tools/vmfs-local):
#	                  cl_setup sets no trap, and uses the caller's CL_DIR (made if missing;
#	                  refused if it already holds a cluster), CL_PFX and CL_DS when set. A
#	                  later process takes it over with cl_attach and ends it with cl_teardown,
#	                  which removes CL_DIR but not a CL_DS outside it. A cl_setup that fails
#	                  part way leaves its teardown to the caller's own trap.
#
# Rules kept by the harness: it ends only processes it started or that run inside its
# own namespaces, always by PID (after checking the PID still names the same process);
# it touches no address, interface or namespace but its own. cl_fail/cl_require exit the
# shell they run in: call them from the test's main shell, not from a $(...) subshell.

# --- internal helpers ---------------------------------------------------------------

_cl_now_us() { local t=${EPOCHREALTIME//[!0-9]/}; printf '%s' "$((10#$t))"; }

# seconds ("5", "0.3", "2.25") -> microseconds
_cl_to_us() {
	local s=$1 int frac
	int=${s%%.*}
	if [[ $s == *.* ]]; then frac=${s#*.}; else frac=; fi
	frac=${frac}000000
	frac=${frac:0:6}
	printf '%s' "$((10#${int:-0} * 1000000 + 10#$frac))"
}

# start time of a process (field 22 of /proc/PID/stat), empty if gone
_cl_starttime() {
	local stat f
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	# after "pid (comm) " field 3 comes first, so starttime (field 22) is word 19 from 0
	read -ra f <<<"$stat"
	printf '%s' "${f[19]}"
}

# true while PID runs and is not a zombie
_cl_running() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[[ ${stat:0:1} != Z && ${stat:0:1} != X ]]
}

# remember a started process: "<pid> <starttime> <host> <name>" in $CL_DIR/pids
_cl_record() {
	local pid=$1 host=$2 name=$3 st
	st=$(_cl_starttime "$pid") || st=0
	printf '%s %s %s %s\n' "$pid" "$st" "$host" "$name" >>"$CL_DIR/pids"
	printf '%s %s\n' "$pid" "$st" >"$CL_DIR/h$host/$name.pid"
}

# true if PID still is the process recorded with start time ST
_cl_same() {
	local now
	now=$(_cl_starttime "$1") || return 1
	[[ $2 == 0 || $now == "$2" ]]
}

_cl_shm_clean() {
	local pid f
	for pid in "$@"; do
		[[ $pid =~ ^[0-9]+$ ]] || continue
		for f in /dev/shm/qb-"$pid"-* /dev/shm/qb-*-"$pid"-*; do  # libqb 2 makes directories
			[[ -e $f ]] && { rm -rf -- "$f" || true; }
		done
	done
	return 0
}

_cl_holder() {
	local pid st
	read -r pid st <"$CL_DIR/h$1/holder.pid" && printf '%s' "$pid"
}

_cl_check_host() {
	[[ ${1:-} =~ ^[0-9]+$ ]] && ((${1} >= 1 && ${1} <= ${CL_N:-0})) ||
		cl_fail "no host '${1:-}' (hosts are 1..${CL_N:-0})"
}

# --- public functions ---------------------------------------------------------------

# cl_log MSG...: timestamped progress line on stderr, with seconds since cl_setup.
cl_log() {
	local now el
	now=$(_cl_now_us)
	el=$((now - ${_CL_T0:-$now}))
	printf '%s [+%d.%01ds] %s\n' "$(date +%T.%3N)" $((el / 1000000)) $((el % 1000000 / 100000)) "$*" >&2
}

# cl_skip MSG: print "SKIP: MSG" and exit 77 (automake's skip code).
cl_skip() { echo "SKIP: $*"; exit 77; }

# cl_require: exit 77 unless root and corosync, corosync-quorumtool, ip, nft, unshare, nsenter exist.
cl_require() {
	[[ $(id -u) == 0 ]] || cl_skip "cluster tests need root (network and mount namespaces)"
	local t
	for t in corosync corosync-quorumtool ip nft unshare nsenter; do
		command -v "$t" >/dev/null 2>&1 || cl_skip "cluster tests need '$t', not found in PATH"
	done
}

# cl_fail MSG: print "FAIL: MSG", dump the tail of every host's corosync.log and lockd.log, exit 1.
cl_fail() {
	echo "FAIL: $*" >&2
	local i f
	if [[ -n ${CL_DIR:-} && -d ${CL_DIR:-/nonexistent} ]]; then
		for ((i = 1; i <= ${CL_N:-0}; i++)); do
			for f in corosync.log lockd.log; do
				[[ -s $CL_DIR/h$i/$f ]] || continue
				echo "----- h$i/$f (last 30 lines) -----" >&2
				tail -n 30 "$CL_DIR/h$i/$f" >&2 || true
			done
		done
	fi
	exit 1
}

# cl_setup N: build N hosts (netns, mount ns, configs) under a fresh $CL_DIR; traps cl_teardown.
cl_setup() {
	local n=${1:?cl_setup: number of hosts}
	[[ $n =~ ^[0-9]+$ ]] && ((n >= 1 && n <= 250)) || cl_fail "cl_setup: bad host count '$n'"
	cl_require
	if [[ ${CL_PERSIST:-0} == 1 && -n ${CL_DIR:-} && -e ${CL_DIR:-}/pids ]]; then
		cl_fail "cl_setup: $CL_DIR already holds a cluster" # before teardown could touch it
	fi
	_CL_T0=$(_cl_now_us)
	_CL_TORN=0

	CL_N=$n
	CL_CLUSTER=${CL_CLUSTER:-vmfstest}
	if [[ ${CL_PERSIST:-0} == 1 ]]; then
		CL_PFX=${CL_PFX:-vt$$$(printf '%04x' $((RANDOM % 65536)))}
		CL_DIR=${CL_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/vmfs-cluster.$CL_PFX.XXXXXX")}
		mkdir -p "$CL_DIR"
		CL_DS=${CL_DS:-$CL_DIR/ds}
	else
		CL_PFX=vt$$$(printf '%04x' $((RANDOM % 65536)))
		CL_DIR=$(mktemp -d "${TMPDIR:-/tmp}/vmfs-cluster.$CL_PFX.XXXXXX")
		CL_DS=$CL_DIR/ds
		# shellcheck disable=SC2154 # _cl_rc is assigned inside the trap
		trap '_cl_rc=$?; cl_teardown; exit $_cl_rc' EXIT
		trap 'exit 130' INT
		trap 'exit 143' TERM
	fi
	export CL_N CL_PFX CL_DIR CL_DS CL_CLUSTER

	: >"$CL_DIR/pids"
	printf 'CL_N=%s\nCL_PFX=%s\nCL_DS=%s\nCL_CLUSTER=%s\n' "$CL_N" "$CL_PFX" "$CL_DS" "$CL_CLUSTER" >"$CL_DIR/env"
	printf '%s\n' "$CL_PFX-br" >"$CL_DIR/netns"
	mkdir -p "$CL_DS"
	cl_log "setup: $n hosts, prefix $CL_PFX, dir $CL_DIR"

	# bridge namespace; if namespaces cannot be made at all this is the machine, not a bug
	ip netns add "$CL_PFX-br" 2>"$CL_DIR/netns.err" ||
		cl_skip "cannot create network namespaces here: $(head -n 1 "$CL_DIR/netns.err")"
	ip -n "$CL_PFX-br" link set lo up
	ip -n "$CL_PFX-br" link add br0 type bridge stp_state 0 forward_delay 0
	ip -n "$CL_PFX-br" link set br0 up
	ip netns exec "$CL_PFX-br" nft -f - <<-EOF 2>"$CL_DIR/nft.err" || cl_skip "nftables unusable here: $(head -n 1 "$CL_DIR/nft.err")"
	add table inet cltest_probe
	delete table inet cltest_probe
	EOF

	local i j h ns nodes=
	for ((j = 1; j <= n; j++)); do
		nodes+="	node {
		ring0_addr: 10.99.0.$j
		nodeid: $j
		name: h$j
	}
"
	done
	for ((i = 1; i <= n; i++)); do
		h=$CL_DIR/h$i
		ns=$CL_PFX-n$i
		mkdir -p "$h/run" "$h/state" "$h/vmfs"
		export "CL_VMFS_$i=$h/vmfs"

		ip netns add "$ns"
		printf '%s\n' "$ns" >>"$CL_DIR/netns"
		ip -n "$ns" link set lo up
		ip -n "$CL_PFX-br" link add "v$i" type veth peer name eth0 netns "$ns"
		ip -n "$CL_PFX-br" link set "v$i" master br0
		ip -n "$CL_PFX-br" link set "v$i" up
		ip -n "$ns" addr add "10.99.0.$i/24" dev eth0
		ip -n "$ns" link set eth0 up

		cat >"$h/corosync.conf" <<EOF
# generated by tests/cluster/lib.sh for host h$i
totem {
	version: 2
	cluster_name: $CL_CLUSTER
	token: 1000
	transport: knet
	crypto_cipher: none
	crypto_hash: none
}
nodelist {
$nodes}
quorum {
	provider: corosync_votequorum
}
logging {
	to_logfile: yes
	logfile: $h/corosync.log
	to_syslog: no
	to_stderr: no
	timestamp: on
}
system {
	state_dir: $h/state
	sched_rr: no
	move_to_root_cgroup: no
}
EOF

		cat >"$h/vmfs.conf" <<-EOF
		# generated by tests/cluster/lib.sh for host h$i
		datastore = $CL_DS
		run_dir = /run/vmfs
		mountpoint = $h/vmfs
		hb_interval_ms = ${CL_HB:-1000}
		host_dead_ms = ${CL_DEAD:-10000}
		io_timeout_ms = ${CL_IO:-2000}
		isolation = ${CL_ISOLATION:-keep}
		EOF

		# the holder: one mount namespace per host, /run bound to $h/run, lives until teardown
		rm -f "$h/holder.ready"
		# shellcheck disable=SC2016 # $1 $2 are the inner sh's arguments
		ip netns exec "$ns" unshare -m --propagation private \
			sh -c 'mount -n --bind "$1" /run && : >"$2" && exec sleep infinity' \
			holder "$h/run" "$h/holder.ready" </dev/null >"$h/holder.log" 2>&1 &
		_cl_record "$!" "$i" holder
		disown "$!" # torn down by pid; no "Killed" job notices
	done
	for ((i = 1; i <= n; i++)); do
		h=$CL_DIR/h$i
		cl_wait_for 10 test -e "$h/holder.ready" ||
			cl_fail "holder of h$i did not start: $(cat "$h/holder.log" 2>/dev/null)"
	done
	cl_log "setup: done"
}

# cl_attach DIR: take over the cluster a CL_PERSIST=1 cl_setup left in DIR, from another
# process: sets and exports what cl_setup did, and no trap (cl_teardown ends it). 1 if DIR
# holds no cluster.
cl_attach() {
	local d=${1:?cl_attach: directory} k v i
	[[ -r $d/env && -r $d/pids ]] || return 1
	CL_N='' CL_PFX='' CL_DS='' CL_CLUSTER=''
	while IFS='=' read -r k v; do
		case $k in CL_N | CL_PFX | CL_DS | CL_CLUSTER) printf -v "$k" '%s' "$v" ;; esac
	done <"$d/env"
	[[ $CL_N =~ ^[0-9]+$ && -n $CL_PFX && -n $CL_DS ]] || return 1
	CL_DIR=$d
	export CL_N CL_PFX CL_DIR CL_DS CL_CLUSTER
	for ((i = 1; i <= CL_N; i++)); do export "CL_VMFS_$i=$CL_DIR/h$i/vmfs"; done
	_CL_T0=$(_cl_now_us)
	_CL_TORN=0
}

# cl_hdir I: print host I's state directory ($CL_DIR/h<I>).
cl_hdir() { _cl_check_host "$1"; printf '%s\n' "$CL_DIR/h$1"; }

# cl_vmfs I: print host I's mount point for /vmfs ($CL_DIR/h<I>/vmfs).
cl_vmfs() { _cl_check_host "$1"; printf '%s\n' "$CL_DIR/h$1/vmfs"; }

# cl_on I CMD...: run CMD (a program, not a shell function) in host I's namespaces, VMFS_CONFIG set.
cl_on() {
	local i=$1
	shift
	_cl_check_host "$i"
	nsenter -t "$(_cl_holder "$i")" -m -n -- \
		env VMFS_CONFIG="$CL_DIR/h$i/vmfs.conf" "$@"
}

# cl_bg I NAME LOG CMD...: start CMD in background on host I, output to LOG, pid recorded as NAME.
cl_bg() {
	local i=$1 name=$2 log=$3
	shift 3
	_cl_check_host "$i"
	[[ $name =~ ^[A-Za-z0-9_.-]+$ ]] || cl_fail "cl_bg: bad name '$name'"
	if cl_pid "$i" "$name" >/dev/null; then
		cl_fail "cl_bg: $name already running on h$i"
	fi
	# simple async command: bash forks once, then nsenter and env exec in place, so $! is
	# the pid of CMD itself
	nsenter -t "$(_cl_holder "$i")" -m -n -- \
		env VMFS_CONFIG="$CL_DIR/h$i/vmfs.conf" "$@" </dev/null >>"$log" 2>&1 &
	_cl_record "$!" "$i" "$name"
	disown "$!"
}

# cl_cmd I: print the command prefix that runs a program in host I's namespaces (for
# programs that start others there, e.g. vmfs-migrate --dst-start).
cl_cmd() {
	_cl_check_host "$1"
	printf 'nsenter -t %s -m -n -- env VMFS_CONFIG=%q' "$(_cl_holder "$1")" "$CL_DIR/h$1/vmfs.conf"
}

# cl_ns_pid I: print the pid of a process whose namespaces are host I's (for setns(2)).
cl_ns_pid() { _cl_check_host "$1"; _cl_holder "$1"; }

# cl_adopt I NAME PID: record PID, started on host I by other means, as NAME (teardown ends it).
cl_adopt() {
	_cl_check_host "$1"
	cl_in_host "$1" "$3" || cl_fail "cl_adopt: pid $3 does not run on h$1"
	_cl_record "$3" "$1" "$2"
}

# cl_start_corosync I: start corosync -f with host I's corosync.conf inside host I.
cl_start_corosync() {
	_cl_check_host "$1"
	cl_bg "$1" corosync "$CL_DIR/h$1/corosync.stdout" \
		corosync -f -c "$CL_DIR/h$1/corosync.conf"
	cl_log "h$1: corosync started, pid $(cl_pid "$1" corosync || echo '?')"
}

# cl_start_lockd I: start $CL_LOCKD -f -c host I's vmfs.conf inside host I, output to lockd.log.
cl_start_lockd() {
	_cl_check_host "$1"
	[[ -x $CL_LOCKD ]] || cl_fail "lockd binary $CL_LOCKD not found or not executable"
	cl_bg "$1" lockd "$CL_DIR/h$1/lockd.log" \
		"$CL_LOCKD" -f -c "$CL_DIR/h$1/vmfs.conf"
	cl_log "h$1: lockd started, pid $(cl_pid "$1" lockd || echo '?')"
}

# cl_pid I NAME: print the pid of NAME (corosync, lockd, any cl_bg name) on host I; 1 if not running.
cl_pid() {
	local f=$CL_DIR/h$1/$2.pid pid st
	[[ -r $f ]] || return 1
	read -r pid st <"$f" || return 1
	_cl_same "$pid" "$st" && _cl_running "$pid" || return 1
	printf '%s\n' "$pid"
}

# cl_kill I NAME SIGNAL: signal NAME on host I by recorded pid; for KILL wait and remove its /dev/shm/qb-*.
cl_kill() {
	local i=$1 name=$2 sig=${3:?cl_kill: signal} f=$CL_DIR/h$1/$2.pid pid st
	[[ -r $f ]] || cl_fail "cl_kill: no $name started on h$i"
	read -r pid st <"$f"
	_cl_same "$pid" "$st" || return 0 # gone (and maybe reaped) already
	kill -s "$sig" "$pid" 2>/dev/null || true
	case ${sig#SIG} in
	KILL | 9)
		cl_wait_for 10 eval '! _cl_running '"$pid" || cl_fail "h$i $name ($pid) survives SIGKILL"
		_cl_shm_clean "$pid"
		;;
	esac
}

# cl_stop I NAME: SIGTERM NAME on host I, wait up to 10 s for it to exit, then SIGKILL.
cl_stop() {
	local pid
	pid=$(cl_pid "$1" "$2") || return 0
	cl_kill "$1" "$2" TERM
	if ! cl_wait_for 10 eval '! _cl_running '"$pid"; then
		cl_log "h$1: $2 ($pid) ignored SIGTERM for 10 s, sending SIGKILL"
		cl_kill "$1" "$2" KILL
	fi
	_cl_shm_clean "$pid"
}

# cl_alive I NAME: true while NAME on host I is running.
cl_alive() { cl_pid "$1" "$2" >/dev/null; }

# cl_conf_set I KEY VALUE: set KEY = VALUE in host I's vmfs.conf (replacing, else appending).
cl_conf_set() {
	_cl_check_host "$1"
	cl_conf_edit "$CL_DIR/h$1/vmfs.conf" "$2" "$3"
}

# cl_conf_edit FILE KEY VALUE: set KEY = VALUE in the vmfs.conf FILE (replacing, else appending).
cl_conf_edit() {
	local f=$1
	CL_K=$2 CL_V=$3 awk '
		BEGIN { k = ENVIRON["CL_K"]; v = ENVIRON["CL_V"] }
		{ line = $0; sub(/^[ \t]+/, "", line) }
		line ~ /^[^#]/ { split(line, a, /[ \t]*=/); if (a[1] == k) { if (!done) print k " = " v; done = 1; next } }
		{ print }
		END { if (!done) print k " = " v }
	' "$f" >"$f.tmp" && mv -f "$f.tmp" "$f"
}

# cl_quorum I: print `corosync-quorumtool -s` of host I (exit status is the tool's).
cl_quorum() { cl_on "$1" corosync-quorumtool -s 2>&1; }

# cl_is_quorate I: true if host I's corosync answers "Quorate: Yes".
cl_is_quorate() {
	local out
	out=$(cl_on "$1" corosync-quorumtool -s 2>/dev/null) || [[ -n $out ]] || return 1
	[[ $out =~ Quorate:[[:space:]]+Yes ]]
}

# cl_is_inquorate I: true if host I's corosync answers "Quorate: No" (false if it does not answer).
cl_is_inquorate() {
	local out
	out=$(cl_on "$1" corosync-quorumtool -s 2>/dev/null) || [[ -n $out ]] || return 1
	[[ $out =~ Quorate:[[:space:]]+No ]]
}

# cl_members I: print the member count host I's corosync reports ("Nodes:"), 1 if it does not answer.
cl_members() {
	local out
	out=$(cl_on "$1" corosync-quorumtool -s 2>/dev/null) || [[ -n $out ]] || return 1
	[[ $out =~ Nodes:[[:space:]]+([0-9]+) ]] || return 1
	printf '%s\n' "${BASH_REMATCH[1]}"
}

# cl_has_members I N: true if host I's corosync reports exactly N members.
cl_has_members() { [[ $(cl_members "$1" 2>/dev/null) == "$2" ]]; }

# cl_wait_quorate I [TIMEOUT_S]: poll corosync-quorumtool -s on host I until "Quorate: Yes" (default 30 s).
cl_wait_quorate() { cl_wait_for "${2:-30}" cl_is_quorate "$1"; }

# cl_wait_inquorate I [TIMEOUT_S]: poll until host I's corosync says "Quorate: No" (default 30 s).
cl_wait_inquorate() { cl_wait_for "${2:-30}" cl_is_inquorate "$1"; }

# cl_wait_members I N [TIMEOUT_S]: poll until host I's corosync reports exactly N members (default 30 s).
cl_wait_members() { cl_wait_for "${3:-30}" cl_has_members "$1" "$2"; }

# cl_wait_for TIMEOUT_S CMD...: run CMD every 0.1 s until it succeeds (0) or TIMEOUT_S passes (1).
cl_wait_for() {
	local end
	end=$(($(_cl_now_us) + $(_cl_to_us "$1")))
	shift
	while :; do
		if "$@"; then return 0; fi
		(($(_cl_now_us) < end)) || return 1
		sleep 0.1
	done
}

# cl_cut I: drop all traffic in and out of host I's eth0 (nft table inet cltest in its netns).
cl_cut() {
	_cl_check_host "$1"
	ip netns exec "$CL_PFX-n$1" nft -f - <<-'EOF'
	table inet cltest
	delete table inet cltest
	table inet cltest {
		chain in {
			type filter hook input priority -300; policy accept;
			iifname "eth0" drop
		}
		chain out {
			type filter hook output priority -300; policy accept;
			oifname "eth0" drop
		}
	}
	EOF
	cl_log "h$1: cut"
}

# cl_heal I: remove host I's cut (delete table inet cltest; no-op if not cut).
cl_heal() {
	_cl_check_host "$1"
	ip netns exec "$CL_PFX-n$1" nft -f - <<-'EOF'
	table inet cltest
	delete table inet cltest
	EOF
	cl_log "h$1: healed"
}

# cl_in_host I PID: true if PID runs in host I's network and mount namespaces.
cl_in_host() {
	local hp
	hp=$(_cl_holder "$1")
	[[ $(readlink "/proc/$2/ns/net" 2>/dev/null) == "$(readlink "/proc/$hp/ns/net")" &&
		$(readlink "/proc/$2/ns/mnt" 2>/dev/null) == "$(readlink "/proc/$hp/ns/mnt")" ]]
}

# cl_teardown: kill all harness processes by pid, delete its netns, clean /dev/shm, unmount, rm $CL_DIR.
cl_teardown() {
	[[ -n ${CL_DIR:-} && ${_CL_TORN:-1} == 0 ]] || return 0
	_CL_TORN=1
	local - # best effort from here on: no errexit, whatever the caller set
	set +e
	local pid st host name ns pids=() victims=() p i left
	# recorded processes still being what we started
	if [[ -r $CL_DIR/pids ]]; then
		while read -r pid st host name; do
			_cl_same "$pid" "$st" && pids+=("$pid")
		done <"$CL_DIR/pids"
	fi
	# and anything else living in our own network namespaces (started through cl_on ... &)
	if [[ -r $CL_DIR/netns ]]; then
		while read -r ns; do
			[[ -e /run/netns/$ns ]] || continue
			for p in $(ip netns pids "$ns" 2>/dev/null); do pids+=("$p"); done
		done <"$CL_DIR/netns"
	fi
	for p in "${pids[@]}"; do
		[[ $p == "$$" || $p == "$BASHPID" ]] && continue
		[[ " ${victims[*]} " == *" $p "* ]] && continue
		kill -KILL "$p" 2>/dev/null && victims+=("$p")
	done
	for ((left = 50; left > 0; left--)); do
		st=0
		for p in "${victims[@]}"; do _cl_running "$p" && st=1 && break; done
		((st)) || break
		sleep 0.1
	done
	_cl_shm_clean "${victims[@]}"
	# namespaces, by name: the veths go with them
	if [[ -r $CL_DIR/netns ]]; then
		while read -r ns; do
			[[ -e /run/netns/$ns ]] && { ip netns del "$ns" 2>/dev/null || true; }
		done < <(tac "$CL_DIR/netns")
	fi
	# mounts under $CL_DIR visible here (host mounts died with their mount namespaces)
	local mnts=()
	while read -r _ _ _ _ p _; do
		p=$(printf '%b' "$p")
		[[ $p == "$CL_DIR" || $p == "$CL_DIR"/* ]] && mnts+=("$p")
	done </proc/self/mountinfo
	for ((i = ${#mnts[@]} - 1; i >= 0; i--)); do umount -l "${mnts[i]}" 2>/dev/null || true; done
	if [[ ${CL_KEEP:-0} == 1 ]]; then
		echo "cl_teardown: kept $CL_DIR" >&2
	else
		rm -rf --one-file-system -- "$CL_DIR"
	fi
	cl_log "teardown: done (${#victims[@]} processes killed)"
	return 0
}

# default lockd binary, made absolute against the directory the test was started in
CL_LOCKD=${CL_LOCKD:-${top_builddir:-.}/lockd/vmfs-lockd}
[[ $CL_LOCKD == /* ]] || CL_LOCKD=$PWD/$CL_LOCKD
export CL_LOCKD

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# check-lockd-hang.sh - host 1's vmfs-lockd stopped (SIGSTOP) while its corosync runs: the
# case corosync cannot see (the process is still a member of the CPG group). 3 hosts,
# short timing to keep it brief: hb_interval 500 ms, io_timeout 1000 ms, host_dead 5000 ms
# (corosync token 1000, 1650 ms at runtime).
#   - host 1 holds p1 EX (background `vmfsadm lock -v p1 -- CMD`);
#   - SIGSTOP of host 1's lockd only;
#   - the lowest host whose heartbeat lives evicts host 1 once its heartbeat has stood
#     still for host_dead (logged "evicting incarnation"), and host 1 is then recovered
#     like a departed host: host 2, trying every 0.2 s, gets p1 no earlier than
#     host_dead - 1.5 s after the stop (host 1's lease may be valid until then) and within
#     2 * host_dead + 4 s (eviction, then the recovery watch: it starts from what lockd
#     saw when the evicted host was the coordinator, as here, else from scratch);
#   - while host 1's lockd still hangs (evicted, but in the CPG group), host 4 joins: it
#     learns of the eviction from the others' HELLOs and has grants open with 3 members;
#   - SIGCONT: host 1's CMD gets SIGTERM and its vmfsadm lock exits 70 within 2 s; its
#     lockd logs that the incarnation stopped before any line about rejoining; it comes
#     back as a newer incarnation holding nothing, and all hosts agree on the locks.
#
# Run as root with top_builddir/top_srcdir set; exit 77 means skipped.

set -euo pipefail

: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
export CL_HB=500 CL_IO=1000 CL_DEAD=5000
# shellcheck source=tests/cluster/lib.sh
source "$top_srcdir/tests/cluster/lib.sh"
# shellcheck source=tests/cluster/lockd.sh
source "$top_srcdir/tests/cluster/lockd.sh"
lt_init
LOW=$(awk -v d="$LT_HOST_DEAD" 'BEGIN { print d - 1.5 }')
HIGH=$(awk -v d="$LT_HOST_DEAD" 'BEGIN { print 2 * d + 4 }')

cl_setup 4
lt_start_cluster 30 1 2 3
cl_log "cluster ready (host_dead ${LT_HOST_DEAD}s: p1 may move in [$LOW, $HIGH] s)"

lt_hold 1 hold p1 ex \
	sh -c 'trap "date +%s.%N >\"\$0\"; exit 143" TERM; sleep 600 & wait' "$CL_DIR/hold.term"
gen=$(lt_gen_of <"$CL_DIR/hold.log")
inc=$(lt_stq 1 's["incarnation"]')
n0=$(wc -l <"$CL_DIR/h1/lockd.log")
t_stop=$(lt_now)
cl_kill 1 lockd STOP
cl_log "h1 holds p1 (generation $gen, incarnation $inc); its lockd stopped, its corosync runs"
# an admin asks the stopped daemon: an answer within 10 s + margin, not a hang
(
	t=$(lt_now)
	rc=0
	cl_on 1 timeout 30 "$ADM" status >"$CL_DIR/status.out" 2>&1 || rc=$?
	echo "$rc $(lt_since "$t")" >"$CL_DIR/status.rc"
) &

lt_poll_lock 2 p1 "$t_stop" "$(awk -v h="$HIGH" 'BEGIN { print h + 5 }')"
[[ -n $POLL_OK ]] || cl_fail "h2 never got p1 ($POLL_SUM)"
fo=$(lt_since "$t_stop" "$POLL_OK")
cl_log "FIGURE hang: h2 got p1 $fo s after h1's lockd stopped ($POLL_SUM)"
lt_fle "$LOW" "$fo" || cl_fail "h2 got p1 $fo s after the stop, before h1's lease could have expired ($LOW s)"
lt_fle "$fo" "$HIGH" || cl_fail "h2 got p1 only $fo s after the stop (> $HIGH s)"
lt_gen_gt "$(lt_gen_of <<<"$POLL_OUT")" "$gen" || cl_fail "h2's generation is not above h1's $gen"
grep -q "heartbeat has not changed .*evicting incarnation $inc" "$CL_DIR/h2/lockd.log" ||
	grep -q "heartbeat has not changed .*evicting incarnation $inc" "$CL_DIR/h3/lockd.log" ||
	cl_fail "no host logged the eviction of h1's incarnation $inc"

cl_wait_for 15 test -s "$CL_DIR/status.rc" || cl_fail "vmfsadm status on h1 still hangs on the stopped lockd"
read -r rc el <"$CL_DIR/status.rc"
[[ $rc == 69 ]] || cl_fail "vmfsadm status on h1 with its lockd stopped exited $rc, not 69: $(cat "$CL_DIR/status.out")"
lt_fle "$el" 13 || cl_fail "vmfsadm status on h1 took $el s to give up on the stopped lockd"
grep -q "hung or stopped" "$CL_DIR/status.out" || cl_fail "vmfsadm status did not say the daemon hangs: $(cat "$CL_DIR/status.out")"
cl_log "ok: vmfsadm status on h1 gave up on the stopped lockd after $el s: $(cat "$CL_DIR/status.out")"

# a host joins while the evicted lockd is still a member of the CPG group
t=$(lt_now)
lt_start_corosync 4
cl_start_lockd 4
lt_wait_ready "h4 joining next to the evicted, hung h1" 30 3 2 3 4
cl_log "FIGURE hang: h4 joined with grants open $(lt_since "$t") s after its corosync started, h1's lockd still stopped"

t_cont=$(lt_now)
cl_kill 1 lockd CONT
cl_wait_for 5 test -s "$CL_DIR/hold.rc" || cl_fail "h1's vmfsadm lock still runs 5 s after the resume: $(lt_holder_out hold)"
read -r rc t_exit <"$CL_DIR/hold.rc"
cl_log "FIGURE hang: h1's vmfsadm lock exited $rc $(lt_since "$t_cont" "$t_exit") s after SIGCONT ($(grep -o 'lock lost.*' "$CL_DIR/hold.log" || true))"
[[ $rc == 70 ]] || cl_fail "h1's vmfsadm lock exited $rc, not 70: $(lt_holder_out hold)"
lt_fle "$(lt_since "$t_cont" "$t_exit")" 2 || cl_fail "h1's vmfsadm lock took more than 2 s to exit after the resume"
test -s "$CL_DIR/hold.term" || cl_fail "h1's CMD under p1 got no SIGTERM"

cl_wait_for 15 eval 'tail -n +"$((n0 + 1))" "$CL_DIR/h1/lockd.log" | grep -q "joined CPG group"' ||
	cl_fail "h1's lockd started no new incarnation within 15 s of the resume"
lines=$(tail -n +"$((n0 + 1))" "$CL_DIR/h1/lockd.log")
fence_at=$(grep -n -m1 -E "incarnation $inc of host 1 stops" <<<"$lines" | cut -d: -f1) || true
rejoin_at=$(grep -n -m1 -E 'joined CPG group|configuration ring' <<<"$lines" | cut -d: -f1) || true
[[ -n $fence_at ]] || cl_fail "h1's lockd never logged that incarnation $inc stopped:"$'\n'"$lines"
[[ -z $rejoin_at ]] || ((fence_at < rejoin_at)) ||
	cl_fail "h1's lockd logged about rejoining before its incarnation stopped:"$'\n'"$lines"

lt_wait_ready "after the resume" 30 4 1 2 3 4
lt_new_incarnation "after the resume" 1 "$inc"
cl_wait_for 5 lt_agree 1 2 3 4 || cl_fail "hosts disagree on the locks: h1 $A1, h2 $A2, h3 $A3, h4 $A4"
lt_lockd_alive 1 2 3 4
lt_pass check-lockd-hang
exit 0

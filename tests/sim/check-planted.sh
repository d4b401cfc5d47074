#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Proves the simulator's checker bites: with each protocol rule broken on purpose
# (tests/sim/sim_plant.c), the default number of runs must report violations.
set -u
sim="${top_builddir:-../..}/tests/sim/vmfs-sim"
fail=0
for rule in orphan persist handoff; do
	out=$("$sim" --plant "$rule" --jobs 2 2>&1)
	rc=$?
	last=$(printf '%s\n' "$out" | tail -n 1)
	first=$(printf '%s\n' "$out" | grep -m1 '^seed ' || true)
	case "$rc:$last" in
	1:runs=*violations=0) echo "FAIL: --plant $rule exited 1 without violations"; fail=1 ;;
	1:runs=*violations=*) echo "ok: --plant $rule caught: $last; $first" ;;
	*) echo "FAIL: --plant $rule was not caught (exit $rc): $last"; fail=1 ;;
	esac
done
exit "$fail"

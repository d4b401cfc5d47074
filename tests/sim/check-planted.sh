#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Proves the simulator's checker bites: with each protocol rule broken on purpose
# (tests/sim/sim_plant.c), the default number of runs must report violations of the
# invariant that rule protects, not merely of some invariant:
#   orphan  (grant next to a departed host's hold before recovery) -> 1: two writers
#   persist (use a grant before it is on disk)                     -> 5: disk shows less
#   handoff (commit moves half of the files)                       -> 3: all or none
set -u
sim="${top_builddir:-../..}/tests/sim/vmfs-sim"
fail=0
for plant in orphan:inv1 persist:inv5 handoff:inv3; do
	rule=${plant%%:*} inv=${plant#*:}
	out=$("$sim" --plant "$rule" --jobs 2 2>&1)
	rc=$?
	last=$(printf '%s\n' "$out" | tail -n 1)
	hits=$(printf '%s\n' "$out" | grep -c "^seed .* $inv:")
	first=$(printf '%s\n' "$out" | grep -m1 "^seed .* $inv:" | cut -c1-160)
	if [ "$rc" -eq 1 ] && [ "$hits" -gt 0 ]; then
		echo "ok: --plant $rule caught by invariant ${inv#inv} in $hits run(s): $last; $first"
	else
		echo "FAIL: --plant $rule not caught by invariant ${inv#inv} (exit $rc): $last"
		fail=1
	fi
done
exit "$fail"

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The simulator on SIM_RUNS seeds (2000 by default) of 3 hosts, and a tenth as many of 5
# hosts, over two workers: every invariant must hold in every run. vmfs-sim prints
# failing seeds with their replay command.
set -eu
sim="${top_builddir:-../..}/tests/sim/vmfs-sim"
runs="${SIM_RUNS:-2000}"
"$sim" --seed 1 --runs "$runs" --jobs 2
"$sim" --seed 1 --runs "$((runs / 10))" --hosts 5 --jobs 2
# Seeds that once broke an invariant, replayed while the workload draws the same events:
# 503882 (5 hosts) revived a hold of a file in a pending handoff that its commit then moved;
# 718184 revived a hold in an inquorate ring after the majority settled it from its table.
"$sim" --seed 503882 --runs 1 --hosts 5
"$sim" --seed 718184 --runs 1

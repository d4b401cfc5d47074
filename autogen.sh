#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Regenerates the build system: run once after a fresh clone, then ./configure && make.
set -e
cd "$(dirname "$0")"
autoreconf --install --force

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The README's second command: every test -- unit, preload integration, real programs,
# placement in the emulated NUMA guest, the benchmark smoke run.
#   bash scripts/test.sh [-L LABEL]   # e.g. -L unit, -L preload, -L real, -L vm
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/tiermalloc ] || bash scripts/setup.sh --no-demo
cmake --build build -j"$(nproc)" >/dev/null
cd build
ctest --output-on-failure -j2 "$@"

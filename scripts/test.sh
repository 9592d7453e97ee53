#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The README's second command: every test -- unit, preload integration, real programs,
# placement in the emulated NUMA guest, stress, fuzzing, the benchmark smoke run; then the
# unit tests under sanitizers.
#   bash scripts/test.sh [-L LABEL]   # e.g. -L unit, -L preload, -L real, -L vm
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/tiermalloc ] || bash scripts/setup.sh --no-demo
cmake --build build -j"$(nproc)" >/dev/null
cd build
ctest --output-on-failure -j2 "$@"
# The whole suite (no -L) also builds and runs the unit tests under ASan+UBSan and TSan
# (build-asan/, build-tsan/), and real programs under a Debug build of the library, with
# mimalloc's internal assertions (build-debug/; scripts/sanitize.sh).  TM_NO_SANITIZE=1 leaves
# them out.
if [ $# = 0 ] && [ -z "${TM_NO_SANITIZE:-}" ]; then
  cd .. && bash scripts/sanitize.sh asan tsan debug
fi

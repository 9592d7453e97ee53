#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Sanitizer builds and runs, each in its own build directory (build-asan, build-tsan,
# build-ubsan), instrumenting our code only (not mimalloc, not yaml-cpp or hwloc).
#   bash scripts/sanitize.sh [asan] [tsan] [ubsan]     # default: all three
#   asan   AddressSanitizer + UndefinedBehaviorSanitizer: the unit tests (policy/, topology/,
#          call-site naming), leaks included
#   tsan   ThreadSanitizer: the unit tests, among them the concurrency tests (call-site
#          naming and matching, plans, parsing from many threads)
#   ubsan  UndefinedBehaviorSanitizer on the preload library itself (interpose/ included),
#          then the preload and stress tests run with it.  (ASan and TSan cannot check a
#          preloaded allocator: they replace malloc themselves.)
# Any sanitizer report fails the run (-fno-sanitize-recover, halt_on_error).
set -euo pipefail
cd "$(dirname "$0")/.."
kinds=("$@")
[ ${#kinds[@]} -gt 0 ] || kinds=(asan tsan ubsan)
mi=()
[ -f build/_deps/mimalloc-src/src/arena.c ] && mi=(-DTIERMALLOC_MIMALLOC_SRC="$PWD/build/_deps/mimalloc-src")
jobs=${TM_JOBS:-$(nproc)}
export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
for k in "${kinds[@]}"; do
  t0=$(date +%s)
  case $k in
    # The unit tests at -O0 (Debug): they run in seconds, and build in half the time.
    asan) san=address,undefined targets=(tm_unit_tests) labels=unit type=Debug ;;
    tsan) san=thread targets=(tm_unit_tests) labels=unit type=Debug ;;
    ubsan) san=undefined targets=(all) labels='preload|stress' type=RelWithDebInfo ;;
    *) echo "sanitize.sh: unknown kind '$k' (asan, tsan, ubsan)" >&2; exit 2 ;;
  esac
  dir=build-$k
  echo "== $k: -fsanitize=$san in $dir"
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE="$type" -DTIERMALLOC_SANITIZE="$san" -DTIERMALLOC_BUILD_BENCH=OFF -DTIERMALLOC_BUILD_FUZZ=OFF \
        "${mi[@]}" >/dev/null
  cmake --build "$dir" -j"$jobs" --target "${targets[@]}" >/dev/null
  t1=$(date +%s)
  (cd "$dir" && ctest -L "$labels" -j2 --output-on-failure | tail -n 4)
  echo "== $k: built in $((t1 - t0)) s, tests ran in $(( $(date +%s) - t1 )) s"
done

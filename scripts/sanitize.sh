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
[ ${#kinds[@]} -gt 0 ] || kinds=(asan tsan ubsan debug)
mi=()
[ -f build/_deps/mimalloc-src/src/arena.c ] && mi=(-DTIERMALLOC_MIMALLOC_SRC="$PWD/build/_deps/mimalloc-src")
jobs=${TM_JOBS:-$(nproc)}
export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
# A program's stdout under the Debug build of the library against its stdout without it.
debug_run() {
  local lib=$1 policy=$2; shift 2
  local want got rc=0
  want=$("$@" 2>/dev/null) || { echo "sanitize.sh: '$*' fails without the preload" >&2; return 1; }
  got=$(TIERMALLOC_POLICY="$policy" LD_PRELOAD="$lib" "$@" 2>/tmp/tm-debug-stderr.$$) || rc=$?
  if [ $rc != 0 ] || [ "$got" != "$want" ]; then
    echo "debug: FAILED (exit $rc, output $( [ "$got" = "$want" ] && echo same || echo differs)) under $policy: ${*%%$'\n'*}" >&2
    grep -v "might not point to a valid heap region\|may still be a valid very large\|was valid after all" /tmp/tm-debug-stderr.$$ | tail -n 5 >&2
    rm -f /tmp/tm-debug-stderr.$$
    return 1
  fi
  rm -f /tmp/tm-debug-stderr.$$
  echo "debug: ok ($(basename "$policy")): ${*%%$'\n'*}"
}
for k in "${kinds[@]}"; do
  t0=$(date +%s)
  if [ "$k" = debug ]; then
    dir=build-debug
    echo "== debug: the preload library with mimalloc's assertions in $dir"
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Debug -DTIERMALLOC_BUILD_BENCH=OFF -DTIERMALLOC_BUILD_FUZZ=OFF \
          "${mi[@]}" >/dev/null
    cmake --build "$dir" -j"$jobs" --target tiermalloc >/dev/null
    t1=$(date +%s)
    lib=$PWD/$dir/libtiermalloc.so
    py='import json, sqlite3, threading
d = {str(i): list(range(i % 50)) for i in range(20000)}
s = json.dumps(d); assert json.loads(s) == d
db = sqlite3.connect(":memory:"); db.execute("create table t(k, v)")
db.executemany("insert into t values (?, ?)", ((i, "x" * (i % 700)) for i in range(20000)))
def work(n):
    b = [bytearray(n * 37 % 5000 + 1) for _ in range(3000)]
    del b[::2]
ts = [threading.Thread(target=work, args=(n,)) for n in range(4)]
[t.start() for t in ts]; [t.join() for t in ts]
print(len(s), db.execute("select count(*), sum(length(v)) from t").fetchone())'
    for policy in configs/large-to-second-tier.yaml bench/policies/suite-ten-rules.yaml bench/policies/suite-stack4.yaml; do
      debug_run "$lib" "$policy" /usr/bin/python3 -c "$py"
    done
    debug_run "$lib" bench/policies/suite-ten-rules.yaml /usr/bin/sort -k2 /etc/services /usr/include/stdio.h /usr/include/unistd.h
    debug_run "$lib" bench/policies/suite-ten-rules.yaml /usr/bin/ls -laR /usr/include
    echo "== debug: built in $((t1 - t0)) s, programs ran in $(( $(date +%s) - t1 )) s"
    continue
  fi
  case $k in
    # The unit tests at -O0 (Debug): they run in seconds, and build in half the time.
    asan) san=address,undefined targets=(tm_unit_tests) labels=unit type=Debug ;;
    tsan) san=thread targets=(tm_unit_tests) labels=unit type=Debug ;;
    ubsan) san=undefined targets=(all) labels='preload|stress' type=RelWithDebInfo ;;
    *) echo "sanitize.sh: unknown kind '$k' (asan, tsan, ubsan, debug)" >&2; exit 2 ;;
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

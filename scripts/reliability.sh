#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The long forms of the reliability suites (the README's "Reliability" section), after
# scripts/setup.sh has built build/:
#   bash scripts/reliability.sh [--long] [real] [stress] [sanitize] [fuzz]   # default: all four
#   real      CPython's regression tests (40 modules), redis under redis-benchmark (10x),
#             sqlite3 on a 180 MB database, gcc/g++ on two source trees, git (a clone of
#             this project), sort, python3, sqlite3 -- each plain and preloaded, identical
#   stress    tests/stress, each mode for 60 s ($TM_STRESS_SECONDS; --long: 1 hour each)
#   sanitize  scripts/sanitize.sh: ASan+UBSan and TSan unit tests, UBSan preload library,
#             Debug preload library (mimalloc's assertions) under real programs
#   fuzz      scripts/fuzz.sh: each target 300 s (--long: 1 hour)
# Prints every suite's figures and ends with "RELIABILITY: PASS" or exits 1.
set -uo pipefail
cd "$(dirname "$0")/.."
long=0 parts=()
for a in "$@"; do case $a in --long) long=1 ;; *) parts+=("$a") ;; esac; done
[ ${#parts[@]} -gt 0 ] || parts=(real stress sanitize fuzz)
lib=$PWD/build/libtiermalloc.so
[ -f "$lib" ] || { echo "reliability.sh: build first (bash scripts/setup.sh --no-demo)"; exit 2; }
mi=$(sed -n 's/^TIERMALLOC_MIMALLOC_SRC:PATH=//p' build/CMakeCache.txt)
failed=()
run() {  # run NAME CMD...: runs, shows its figures, remembers a failure
  local name=$1 t0=$SECONDS rc
  shift
  echo "== $name"
  "$@" >"build/reliability-$name.log" 2>&1
  rc=$?
  grep -E "^  |STRESS|PASS|SKIP|FAIL|executions|== " "build/reliability-$name.log" | grep -v "transcript:" | tail -n 40
  if [ $rc = 77 ]; then echo "-- $name: skipped"
  elif [ $rc != 0 ]; then echo "-- $name: FAILED (status $rc, build/reliability-$name.log)"; failed+=("$name")
  else echo "-- $name: passed in $((SECONDS - t0)) s"; fi
}
for part in "${parts[@]}"; do
  case $part in
    real)
      run cpython bash tests/real/cpython.sh "$lib" tests/real/policies/cpython-spread.yaml --full
      run redis bash tests/real/redis.sh "$lib" tests/real/policies/redis-values.yaml --full
      run sqlite-big bash tests/real/sqlite-big.sh "$lib" tests/real/policies/sqlite-spread.yaml
      run gcc bash tests/real/gcc.sh "$lib" configs/large-to-second-tier.yaml "$mi" . --full
      run git bash tests/real/git.sh "$lib" configs/large-to-second-tier.yaml .
      for p in python sqlite sort; do run "$p" bash "tests/real/$p.sh" "$lib" configs/large-to-second-tier.yaml; done ;;
    stress)
      secs=${TM_STRESS_SECONDS:-60}; [ $long = 1 ] && secs=${TM_STRESS_SECONDS:-3600}
      run stress env TM_STRESS_SECONDS="$secs" bash -c 'cd build && ctest -L stress -E reliability_script -V --timeout $(( '"$secs"' * 3 + 120 ))' ;;
    sanitize) run sanitize bash scripts/sanitize.sh ;;
    fuzz) run fuzz bash scripts/fuzz.sh $([ $long = 1 ] && echo 3600 || echo 300) ;;
    *) echo "reliability.sh: unknown part '$part' (real, stress, sanitize, fuzz)"; exit 2 ;;
  esac
done
[ ${#failed[@]} = 0 ] || { echo "RELIABILITY: FAILED: ${failed[*]}"; exit 1; }
echo "RELIABILITY: PASS"

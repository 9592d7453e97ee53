#!/bin/sh
# SPDX-License-Identifier: MIT
# cache_check.sh LIB PROGRAM POLICY DIR: the compiled-policy cache in a real process.
# Runs PROGRAM (10 mallocs of 2 MiB, stats_alloc.c) three times under POLICY (>= 1 MiB to
# tier "far") with TIERMALLOC_CACHE_DIR=DIR/cache and TIERMALLOC_LOG=debug: the first run must
# compile and cache the policy, the second read it back, and both place the same: "far"
# receives exactly the 10 allocations (statistics).  The third runs with TIERMALLOC_CACHE=0:
# no cache line at all.
set -u
lib=$1 prog=$2 policy=$3 dir=$4
rm -rf "$dir"
mkdir -p "$dir" || exit 1
fail() { echo "FAIL: $*" >&2; exit 1; }
far_allocs() {
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print([t["allocations"] for t in d["tiers"] if t["name"]=="far"][0])' "$1"
}
for run in 1 2; do
  LD_PRELOAD=$lib TIERMALLOC_POLICY=$policy TIERMALLOC_CACHE_DIR="$dir/cache" TIERMALLOC_LOG=debug \
    TIERMALLOC_STATS="$dir/s$run.json" "$prog" >/dev/null 2>"$dir/log$run" || fail "run $run exited $?: $(cat "$dir/log$run")"
  n=$(far_allocs "$dir/s$run.json") || fail "run $run: no statistics"
  [ "$n" = 10 ] || fail "run $run: tier far received $n allocations, expected 10"
done
grep -q "policy: compiled form cached in $dir/cache" "$dir/log1" || fail "run 1 did not cache the policy: $(cat "$dir/log1")"
grep -q "policy: compiled form read from $dir/cache/.*\.tmpc" "$dir/log2" || fail "run 2 did not read the cache: $(cat "$dir/log2")"
[ "$(ls "$dir/cache" | wc -l)" = 1 ] || fail "expected one file in $dir/cache, found: $(ls "$dir/cache")"
LD_PRELOAD=$lib TIERMALLOC_POLICY=$policy TIERMALLOC_CACHE_DIR="$dir/cache" TIERMALLOC_CACHE=0 TIERMALLOC_LOG=debug \
  "$prog" >/dev/null 2>"$dir/log3" || fail "run 3 exited $?"
grep -q "compiled form" "$dir/log3" && fail "TIERMALLOC_CACHE=0, but: $(grep 'compiled form' "$dir/log3")"
echo "cache_check: ok"

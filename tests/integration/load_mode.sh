#!/bin/sh
# SPDX-License-Identifier: MIT
# load_mode.sh LIB POLICY DIR: the policy's loading in our constructor takes its memory from
# the bootstrap buffer, given back last-in first-out (interpose/runtime.cpp, load mode;
# issue 7: the process's peak RSS).  `true` under POLICY, cache warm and with no cache (the
# YAML compiler's allocations, out of load mode, are not counted), TIERMALLOC_LOG=debug:
#   "policy loading: N allocations of T bytes in the bootstrap buffer (at most H bytes,
#    L still live), P on the plain heap"
# with N > 0, no allocation of the loading left on the plain heap (P = 0) nor live at its end
# (L = 0: every block given back), and the buffer reused while loading: H below T (without
# the give-back H would be T and more).  The policy applies afterwards (its tiers are listed
# at info).
set -u
lib=$1 policy=$2 dir=$3
fail() { echo "FAIL: $*" >&2; exit 1; }
rm -rf "$dir" && mkdir -p "$dir" || exit 1
run() {  # run NAME [VAR=VALUE...]: true under the policy, its log in $dir/NAME
  name=$1; shift
  env LD_PRELOAD="$lib" TIERMALLOC_POLICY="$policy" TIERMALLOC_CACHE_DIR="$dir/cache" TIERMALLOC_LOG=debug "$@" \
    /usr/bin/true 2>"$dir/$name" || fail "true under $policy ($name) exited $?: $(cat "$dir/$name")"
}
check() {  # check NAME: the loading's line in $dir/NAME
  f=$dir/$1
  line=$(grep 'policy loading: ' "$f") || fail "$1: no 'policy loading:' line in: $(cat "$f")"
  set -- $(echo "$line" | sed -n 's/.*policy loading: \([0-9]*\) allocations of \([0-9]*\) bytes in the bootstrap buffer (at most \([0-9]*\) bytes, \([0-9]*\) still live), \([0-9]*\) on the plain heap$/\1 \2 \3 \4 \5/p')
  [ $# = 5 ] || fail "unexpected line: $line"
  n=$1 t=$2 h=$3 l=$4 p=$5
  [ "$n" -gt 0 ] || fail "no allocation of the loading in the bootstrap buffer: $line"
  [ "$p" = 0 ] || fail "$p allocations of the loading on the plain heap (expected 0): $line"
  [ "$l" = 0 ] || fail "$l bytes of the loading still live at its end (expected 0): $line"
  [ "$h" -lt "$t" ] || fail "the buffer was not reused: at most $h of $t bytes (expected less): $line"
  grep -q "tier near: nodes" "$f" || fail "the policy's tier near is not listed: $(cat "$f")"
  echo "$line"
}
run miss TIERMALLOC_CACHE=0
a=$(check miss) || exit 1
run first
run warm
grep -q "compiled form read from" "$dir/warm" || fail "the second run did not read the cache: $(cat "$dir/warm")"
b=$(check warm) || exit 1
echo "load_mode: ok (no cache: ${a#*policy loading: }; cache: ${b#*policy loading: })"

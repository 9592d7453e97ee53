#!/bin/sh
# SPDX-License-Identifier: MIT
# lazy_arena.sh LIB PROGRAM POLICY WORKDIR: a tier's mimalloc arena is made at the first
# allocation routed to it, not at start-up (issue 7).  Under the policy (bench/policies/
# suite-ten-rules.yaml: near, warm, cold on node 0), with the debug log:
#  - a program that allocates nothing makes no tier's arena, and its statistics
#    (TIERMALLOC_STATS) still list the three tiers with their nodes and zero allocations;
#  - one allocation of 2 MiB (rule `large` -> cold) makes exactly one arena, cold's (the
#    site's small sizes go to near, whose heap is not made to arm the site);
#  - one of 16 bytes (rule `tiny` -> near) exactly one, near's.
# Prints "lazy_arena: ok" or one line naming what differed.
set -u
lib=$1 prog=$2 policy=$3 dir=$4
rm -rf "$dir" && mkdir -p "$dir" || exit 1
fail() { echo "lazy_arena.sh: $*" >&2; exit 1; }

run() {  # run NAME ARG [VAR=VALUE...]: the debug log in $dir/NAME.log
  name=$1 arg=$2
  shift 2
  out=$(env LD_PRELOAD="$lib" TIERMALLOC_POLICY="$policy" TIERMALLOC_CACHE_DIR="$dir/cache" TIERMALLOC_LOG=debug \
        "$@" "$prog" "$arg" 2>"$dir/$name.log") || fail "$prog $arg: exit status $? (expected 0)"
  [ "$out" = "lazy_arena: done" ] || fail "$prog $2: printed '$out', expected 'lazy_arena: done'"
}
arenas() { grep -c "arena made at its first allocation" "$dir/$1.log"; }

run warm none  # the first run compiles the policy and caches it; the next ones read the cache
for case in none:0: 2097152:1:cold 16:1:near; do
  arg=${case%%:*} rest=${case#*:}
  want=${rest%%:*} tier=${rest#*:}
  run "a$arg" "$arg"
  got=$(arenas "a$arg")
  [ "$got" = "$want" ] || fail "$prog $arg: $got tier arenas made (log $dir/a$arg.log), expected $want"
  if [ -n "$tier" ]; then
    grep -q "tier '$tier': arena made at its first allocation" "$dir/a$arg.log" ||
      fail "$prog $arg: the arena made is not tier '$tier''s: $(grep 'arena made' "$dir/a$arg.log")"
  fi
done
grep -q "policy: compiled form read from" "$dir/anone.log" || fail "$dir/anone.log: the policy was not read from the cache"
# A tier never used is still reported, with its nodes and zero allocations (the statistics
# thread's own start, which allocates, is not counted).
run stats none TIERMALLOC_STATS="$dir/stats.json"
python3 - "$dir/stats.json" <<'PY' || exit 1
import json, sys
st = json.load(open(sys.argv[1]))
tiers = {t["name"]: t for t in st["tiers"]}
for name in ("near", "warm", "cold"):
    t = tiers.get(name)
    if t is None:
        sys.exit(f"lazy_arena.sh: {sys.argv[1]}: tier '{name}' missing from the statistics")
    if t["nodes"] != [0] or t["allocations"] != 0 or t["bytes"] != 0:
        sys.exit(f"lazy_arena.sh: {sys.argv[1]}: tier '{name}': nodes {t['nodes']}, allocations {t['allocations']}, "
                 f"bytes {t['bytes']}; expected nodes [0], 0 and 0")
PY
echo "lazy_arena: ok"

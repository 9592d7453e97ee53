#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Fuzzes the policy parser and the environment overrides (tests/fuzz) for longer than CI does.
#   bash scripts/fuzz.sh [SECONDS] [--merge]
# SECONDS per target (default 300).  --merge adds the inputs that reach new code to the
# corpora kept in the repository (tests/fuzz/corpus, tests/fuzz/corpus-env), minimised by
# libFuzzer's -merge=1.  Prints each target's executions; a crash leaves crash-* files in
# build/tests/fuzz/ and fails.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=300 merge=0
for a in "$@"; do
  case $a in --merge) merge=1 ;; *) secs=$a ;; esac
done
cmake --build build --target policy_fuzz env_fuzz >/dev/null
for t in policy env; do
  src=tests/fuzz/corpus; [ $t = env ] && src=tests/fuzz/corpus-env
  work=build/tests/fuzz/long-$t
  rm -rf "$work" && mkdir -p "$work" && cp "$src"/* "$work"/
  (cd build/tests/fuzz && ./${t}_fuzz -max_total_time="$secs" -timeout=5 -rss_limit_mb=2048 -print_final_stats=1 \
      "long-$t" >"long-$t.log" 2>&1) || { tail -30 "build/tests/fuzz/long-$t.log"; echo "FAIL: $t fuzzing"; exit 1; }
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "build/tests/fuzz/long-$t.log" | grep -o '[0-9]*$')
  echo "$t: $execs executions in $secs s, 0 failures, corpus $(ls "$src" | wc -l) -> $(ls "$work" | wc -l) inputs"
  if [ $merge = 1 ]; then
    before=$(ls "$src" | wc -l)
    build/tests/fuzz/${t}_fuzz -merge=1 "$src" "$work" >/dev/null 2>&1
    echo "$t: corpus in the repository $before -> $(ls "$src" | wc -l) inputs"
  fi
done

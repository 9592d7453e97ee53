#!/bin/sh
# SPDX-License-Identifier: MIT
# run.sh TEST LIB DIR OUT [CLI]: runs one statistics test of tests/integration/stats in a
# fresh OUT, with DIR holding the test programs, and checks the files with check.py.
set -u
test=$1 lib=$2 dir=$3 out=$4 cli=${5:-}
here=$(cd "$(dirname "$0")" && pwd)
check="env -u LD_PRELOAD python3 $here/check.py"
rm -rf "$out" && mkdir -p "$out" || exit 1
policy=$here/policy.yaml
fail() { echo "FAIL: $*" >&2; exit 1; }
case $test in
  exact)
    LD_PRELOAD=$lib TIERMALLOC_POLICY=$policy TIERMALLOC_STRICT=1 TIERMALLOC_STATS_INTERVAL_MS=10 \
      TIERMALLOC_STATS="$out/s-%p.json" "$dir/integ_stats_exact" || fail "integ_stats_exact exited $?"
    set -- "$out"/s-*.json
    [ $# -eq 1 ] && [ -f "$1" ] || fail "expected one statistics file in $out, found: $*"
    exec $check exact "$1" ;;
  halving)
    LD_PRELOAD=$lib TIERMALLOC_POLICY=$policy TIERMALLOC_STATS_INTERVAL_MS=1 TIERMALLOC_STATS="$out/s.json" \
      "$dir/integ_stats_exact" 3000 || fail "integ_stats_exact exited $?"
    exec $check halving "$out/s.json" ;;
  variables)
    # 0: no timeline; a bad interval or signal: one warning line each, the defaults.
    LD_PRELOAD=$lib TIERMALLOC_STATS_INTERVAL_MS=0 TIERMALLOC_STATS="$out/zero.json" "$dir/integ_stats_exact" \
      || fail "integ_stats_exact exited $?"
    grep -q '"t_ms": \[\]' "$out/zero.json" || fail "TIERMALLOC_STATS_INTERVAL_MS=0: expected an empty timeline"
    err=$(LD_PRELOAD=$lib TIERMALLOC_STATS_INTERVAL_MS=10x TIERMALLOC_STATS_SIGNAL=BOGUS TIERMALLOC_STATS="$out/bad.json" \
      "$dir/integ_stats_exact" 2>&1) || fail "integ_stats_exact exited $?"
    echo "$err"
    echo "$err" | grep -q "^tiermalloc: TIERMALLOC_STATS_INTERVAL_MS: expected milliseconds" || fail "no warning for a bad interval"
    echo "$err" | grep -q "^tiermalloc: TIERMALLOC_STATS_SIGNAL: expected a signal name" || fail "no warning for a bad signal"
    grep -q '"interval_ms": 100,' "$out/bad.json" || fail "a bad interval: expected the default 100 ms"
    echo "variables: PASS" ;;
  threads|usr1)
    sig=USR2
    [ "$test" = usr1 ] && sig=USR1
    line=$(LD_PRELOAD=$lib TIERMALLOC_STATS_SIGNAL=$sig TIERMALLOC_STATS="$out/stats.json" \
      "$dir/integ_stats_signal" "$out" "$test") || fail "integ_stats_signal exited $?: $line"
    echo "$line"
    exec $check signal "$out/dump1.json" "$out/dump2.json" "$out/stats.json" 4 256 4096 ;;
  own|fork)
    stats="$out/stats.json"
    [ "$test" = fork ] && stats="$out/fork-%p.json"
    LD_PRELOAD=$lib TIERMALLOC_STATS="$stats" "$dir/integ_stats_signal" "$out" "$test" || fail "integ_stats_signal $test exited $?"
    n=$(ls "$out" | grep -c 'json$')
    if [ "$test" = own ]; then
      [ "$n" -eq 1 ] || fail "own: expected only the exit dump, found $(ls "$out")"
      grep -q '"reason": "exit"' "$out/stats.json" || fail "own: the one dump is not the exit dump"
    else
      [ "$n" -eq 2 ] || fail "fork: expected the parent's exit dump and the child's signal dump, found $(ls "$out")"
      grep -l '"reason": "signal"' "$out"/fork-*.json >/dev/null || fail "fork: no signal dump"
    fi
    echo "$test: PASS" ;;
  pthread_exit)
    LD_PRELOAD=$lib TIERMALLOC_STATS="$out/stats.json" timeout 10 "$dir/integ_stats_signal" "$out" pthread_exit
    rc=$?
    [ $rc -eq 0 ] || fail "main called pthread_exit and its last thread ended: the process should exit 0 by itself, got $rc (124: still running after 10 s)"
    grep -q '"reason": "exit"' "$out/stats.json" || fail "no exit dump"
    echo "pthread_exit: PASS" ;;
  record)
    (cd "$out" && "$cli" record -p "$policy" -- "$dir/integ_stats_exact") || fail "tiermalloc record exited $?"
    $check profile "$out/tiermalloc-profile.json" || exit 1
    # Errors: one line, status 2; a program killed by a signal: 128 + its number.
    msg=$("$cli" record -o /nonexistent-dir/p.json -- true 2>&1)
    rc=$?
    [ $rc -eq 2 ] && echo "$msg" | grep -q "^tiermalloc: record: cannot write /nonexistent-dir/p.json" \
      || fail "record -o into a missing directory: status $rc, '$msg'"
    msg=$("$cli" record -o "$out/x.json" 2>&1)
    [ $? -eq 2 ] && echo "$msg" | grep -q "^tiermalloc: record: no program given" || fail "record without a program: '$msg'"
    "$cli" record -o "$out/killed.json" -- sh -c 'kill -TERM $$' 2>/dev/null
    rc=$?
    [ $rc -eq 143 ] || fail "record of a program killed by SIGTERM: status $rc, expected 143"
    echo "record: PASS" ;;
  record-python)
    msg=$("$cli" record -o "$out/py.json" -- python3 -c \
      'import subprocess; subprocess.run(["true"]); x = [bytearray(1 << 20) for i in range(64)]' 2>&1) \
      || fail "tiermalloc record python3 exited $?: $msg"
    echo "$msg"
    echo "$msg" | grep -q "child process.* not profiled" || fail "expected the subprocess to be reported as not profiled"
    $check python "$out/py.json" || exit 1
    "$cli" record -o "$out/st.json" -- python3 -c 'import sys; sys.exit(5)'
    rc=$?
    [ $rc -eq 5 ] || fail "record of a program exiting 5: exit status $rc"
    [ -s "$out/st.json" ] || fail "record of a program exiting 5 wrote no profile"
    echo "record-python: PASS" ;;
  *) fail "unknown test $test" ;;
esac

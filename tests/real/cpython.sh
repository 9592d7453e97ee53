#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/real/cpython.sh LIBTIERMALLOC POLICY [--full] -- CPython's own regression tests
# (Debian's python3.11 and libpython3.11-testsuite), plain and under tiermalloc with POLICY
# (tests/real/policies/cpython-spread.yaml: five tiers, large blocks on a transient tier in
# a temporary directory): every test case's outcome (passed, failed, error, skipped) must be
# the same in both runs, per module, and each tier must have received allocations.
#   short form (ctest, label real): 8 modules;  --full (scripts/reliability.sh): 40 modules
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
PY=/usr/bin/python3.11
[ -x "$PY" ] || skip "$PY is not installed (apt-get install python3.11)"
[ -d /usr/lib/python3.11/test/libregrtest ] || skip "CPython's test suite is not installed (libpython3.11-testsuite)"
short=(test_list test_dict test_set test_bytes test_json test_re test_mmap test_struct)
full=("${short[@]}" test_tuple test_unicode test_int test_float test_long test_array test_collections
      test_deque test_heapq test_bisect test_itertools test_functools test_operator test_copy test_enum
      test_textwrap test_base64 test_binascii test_hashlib test_zlib test_bz2 test_lzma test_csv
      test_fractions test_random test_sort test_memoryview test_weakref test_threading test_io test_math
      test_pickle test_decimal test_gc)
mods=("${short[@]}")
[ "${3:-}" = --full ] && mods=("${full[@]}")
echo "cpython: $PY ($("$PY" --version 2>&1)), ${#mods[@]} modules, policy $TM_POLICY"
cd "$TM_TMP" || fail "cd $TM_TMP"
mkdir transient
export TIERMALLOC_TRANSIENT_PATH=$TM_TMP/transient PYTHONHASHSEED=0
# The outcome of every test case, from regrtest's JUnit XML, as "module test status" lines;
# -j2: two worker processes (each preloaded in the second run), in random order neither.
cat >outcomes.py <<'PY'
import sys, xml.etree.ElementTree as ET
rows = []
for case in ET.parse(sys.argv[1]).getroot().iter("testcase"):
    kinds = [c.tag for c in case if c.tag in ("failure", "error", "skipped")]
    name = case.get("name", "")  # test.test_list.ListTest.test_addmul
    mod = name.split(".")[1] if name.startswith("test.") else name.split(".")[0]
    rows.append(f'{mod} {name} {kinds[0] if kinds else "passed"}')
for r in sorted(rows): print(r)
PY
run_suite() {
  mkdir -p "$TM_RUN" && cd "$TM_RUN" &&
  "$PY" -m test -j2 --timeout 600 --junit-xml junit.xml "${mods[@]}" >regrtest.log 2>&1
  rc=$?
  "$PY" ../outcomes.py junit.xml >outcomes.txt || return 9
  tail -n 20 regrtest.log | grep -E "^(All [0-9]+ tests OK|[0-9]+ tests? (OK|failed|skipped)|Tests result)" >summary.txt
  return $rc
}
export -f run_suite
export PY TM_TMP
t=$(now)
TM_RUN=plain bash -c "$(declare -p mods); run_suite" </dev/null; rc_plain=$?
echo "  plain: status $rc_plain, $(wc -l <plain/outcomes.txt) test cases, $(elapsed "$t") s"
t=$(now)
env TM_RUN=tm LD_PRELOAD="$TM_LIB" TIERMALLOC_POLICY="$TM_POLICY" TIERMALLOC_STRICT=1 TIERMALLOC_LOG=error \
    TIERMALLOC_STATS="$TM_TMP/cpython.stats.%p.json" bash -c "$(declare -p mods); run_suite" </dev/null; rc_tm=$?
echo "  tiermalloc: status $rc_tm, $(wc -l <tm/outcomes.txt) test cases, $(elapsed "$t") s"
[ "$rc_plain" = "$rc_tm" ] || { tail -30 tm/regrtest.log; fail "regrtest exited $rc_plain plainly, $rc_tm under tiermalloc"; }
[ "$rc_plain" = 0 ] || { tail -30 plain/regrtest.log; fail "regrtest failed without tiermalloc too (status $rc_plain): a module missing or broken here"; }
for m in "${mods[@]}"; do grep -q "^$m " plain/outcomes.txt || fail "no test case of $m ran"; done
[ -s plain/outcomes.txt ] || fail "no test outcomes from the plain run"
if ! cmp -s plain/outcomes.txt tm/outcomes.txt; then
  diff plain/outcomes.txt tm/outcomes.txt | head -20
  fail "test outcomes differ under tiermalloc"
fi
"$PY" - plain/outcomes.txt <<'PY'
import collections, sys
per = collections.defaultdict(collections.Counter)
for line in open(sys.argv[1]):
    mod, _, st = line.split()
    per[mod][st] += 1
tot = collections.Counter()
for m in sorted(per):
    tot.update(per[m])
    print(f"  {m:18s} " + " ".join(f"{k} {per[m][k]}" for k in ("passed", "skipped", "failure", "error")))
print(f"  total: {len(per)} modules, " + ", ".join(f"{tot[k]} {k}" for k in ("passed", "skipped", "failure", "error")) + " -- identical under tiermalloc")
PY
cat tm/summary.txt | sed 's/^/  regrtest: /'
[ -z "$(ls -A transient)" ] || fail "transient files left behind: $(ls -A transient | head)"
for tier in near small libs scratch; do check_tier cpython $tier 1 | grep -F "tier $tier " || fail "tier $tier"; done
check_tier cpython far 1 mmap_count | grep -F "tier far " || fail "tier far"
echo "PASS"

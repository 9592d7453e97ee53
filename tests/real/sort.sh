#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/real/sort.sh LIBTIERMALLOC POLICY -- GNU sort on ~50 MB of deterministic input
# (plain, -n, keyed -S 200M with 2 threads, -u): identical output plain and preloaded, and
# sort's big buffers went to the second tier ("far").
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

SORT=$(command -v sort) || skip "sort is not installed"
echo "sort: $SORT ($("$SORT" --version | head -1)), policy $TM_POLICY"
cd "$TM_TMP" || fail "cd $TM_TMP"

# ~50 MB, 1.4M lines: "<number> <hex> <word> <number>", Park-Miller LCG (exact in doubles,
# so any awk gives the same bytes).
t=$(now)
awk 'BEGIN {
  x = 20240521; split("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu", w, " ")
  for (i = 0; i < 1400000; i++) {
    x = (x * 16807) % 2147483647; a = x
    x = (x * 16807) % 2147483647; b = x
    printf "%d %08x %s%d %.3f\n", a % 1000000007, b, w[1 + b % 12], i % 977, (a % 100000) / 7
  }
}' >input.txt || fail "cannot generate the input"
echo "  input: $(wc -c <input.txt) bytes, $(wc -l <input.txt) lines, $(sha256sum <input.txt | cut -c1-16), $(elapsed "$t") s"
[ "$(wc -c <input.txt)" -gt 40000000 ] || fail "input too small"

run_both sort-plain "$SORT" input.txt
run_both sort-n "$SORT" -n input.txt
run_both sort-key "$SORT" -S 200M --parallel=2 -t ' ' -k3,3 -k4,4g -k1,1n input.txt
run_both sort-unique-big "$SORT" -u -S 200M -k2,2 input.txt
check_tier sort-plain far 1
check_tier sort-key far 1
check_tier sort-unique-big far 1
echo "PASS"

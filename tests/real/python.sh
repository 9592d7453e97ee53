#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/real/python.sh LIBTIERMALLOC POLICY -- python3 running alloc_heavy.py, plain and
# preloaded: identical output, and the second tier ("far") received allocations.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

PY=$(find_python)
[ -n "$PY" ] || skip "python3 is not installed"
echo "python: $PY ($("$PY" --version 2>&1)), policy $TM_POLICY"
export PYTHONHASHSEED=0
cd "$TM_TMP" || fail "cd $TM_TMP"
run_both python "$PY" -s -B "$TM_HERE/alloc_heavy.py"   # not -I: it would ignore PYTHONHASHSEED
check_tier python far 10
echo "PASS"

#!/bin/sh
# SPDX-License-Identifier: MIT
# policy_error.sh LIB PROGRAM POLICY: a rejected policy never stops the program (it runs
# with plain allocation) and is reported on stderr as "tiermalloc: FILE:LINE:COL: ...";
# with TIERMALLOC_STRICT=1 the program does not run and the exit status is 2.
set -u
lib=$1 prog=$2 policy=$3
name=$(basename "$policy")
tmp=${TMPDIR:-/tmp}/tm-policy-error.$$
trap 'rm -f "$tmp".out "$tmp".err' EXIT
fail() { echo "FAIL: $*" >&2; echo "--- stdout"; cat "$tmp".out; echo "--- stderr"; cat "$tmp".err; exit 1; }

LD_PRELOAD=$lib TIERMALLOC_POLICY=$policy "$prog" plain >"$tmp".out 2>"$tmp".err
rc=$?
[ "$rc" -eq 0 ] || fail "without TIERMALLOC_STRICT the program exited $rc (expected 0)"
grep -q 'PASS' "$tmp".out || fail "the program did not run to its end"
grep -Eq "^tiermalloc: ([^:]*/)?$name:[0-9]+:[0-9]+: " "$tmp".err ||
  fail "stderr has no line 'tiermalloc: $name:LINE:COL: ...'"
echo "non-strict: status 0, reported as: $(grep -E "^tiermalloc: ([^:]*/)?$name:[0-9]+:[0-9]+: " "$tmp".err | head -n 1)"

LD_PRELOAD=$lib TIERMALLOC_POLICY=$policy TIERMALLOC_STRICT=1 "$prog" plain >"$tmp".out 2>"$tmp".err
rc=$?
[ "$rc" -eq 2 ] || fail "with TIERMALLOC_STRICT=1 the program exited $rc (expected 2)"
grep -q 'PASS' "$tmp".out && fail "with TIERMALLOC_STRICT=1 the program still ran"
grep -Eq "^tiermalloc: ([^:]*/)?$name:[0-9]+:[0-9]+: " "$tmp".err ||
  fail "with TIERMALLOC_STRICT=1 stderr has no line 'tiermalloc: $name:LINE:COL: ...'"
echo "strict: status 2"
echo "policy_error $name: PASS"

#!/bin/sh
# SPDX-License-Identifier: MIT
# expect_last_line.sh MARKER PROGRAM [ARGS...]: the program must exit 0 and print MARKER
# as its last line of standard output.  Prints "RESULT rc=... last=..." for CTest's
# PASS_REGULAR_EXPRESSION and exits non-zero on a mismatch.
set -u
marker=$1
shift
out=$("$@")
rc=$?
printf '%s\n' "$out"
last=$(printf '%s\n' "$out" | tail -n 1)
echo "RESULT rc=$rc last=$last"
if [ "$rc" -ne 0 ]; then
  echo "FAIL: exit status $rc (expected 0)" >&2
  exit 1
fi
if [ "$last" != "$marker" ]; then
  echo "FAIL: last line is '$last', expected '$marker'" >&2
  exit 1
fi
exit 0

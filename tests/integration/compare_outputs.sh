#!/bin/sh
# SPDX-License-Identifier: MIT
# compare_outputs.sh REFERENCE ACTUAL: the two runs of a semantics program (without and
# with the preload library) must print exactly the same lines.
set -u
ref=$1 act=$2
for f in "$ref" "$act"; do
  if [ ! -s "$f" ]; then
    echo "FAIL: $f is missing or empty (did the run that writes it fail?)" >&2
    exit 1
  fi
done
if diff -u "$ref" "$act"; then
  echo "outputs identical ($(wc -l < "$ref") lines): PASS"
  exit 0
fi
echo "FAIL: output under the preload library differs from glibc's (- glibc, + tiermalloc)" >&2
exit 1

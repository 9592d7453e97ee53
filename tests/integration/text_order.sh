#!/bin/sh
# SPDX-License-Identifier: MIT
# text_order.sh LIB LDSCRIPT: the preload library's code order (interpose/text-order.ld,
# written by scripts/text-order.py; issue 7, peak RSS).
#  1. LIB has the sections .text.tm_head and .text.tm_tail; the head ends within the first
#     64 KiB window of the code segment, the tail's code starts on a 64 KiB boundary (the
#     section begins with the padding to it) and .fini follows in the tail's last window (the
#     code between them is what a process does not run).
#  2. Every function LDSCRIPT names is a function of LIB (a renamed or removed function would
#     silently fall back among the cold code: regenerate the script), and lies in the head
#     or the tail.
#  3. malloc, free, operator new and the constructor lie in the head or the tail.
set -u
lib=$1 ld=$2
fail() { echo "FAIL: $*" >&2; exit 1; }

sec() {  # sec NAME: "address size" of section NAME, in decimal
  readelf -SW "$lib" | awk -v n="$1" '{ for (i = 1; i <= NF; i++) if ($i == n) { print $(i + 2), $(i + 4); exit } }' |
    while read -r a s; do echo "$((0x$a)) $((0x$s))"; done
}
head_sec=$(sec .text.tm_head)
tail_sec=$(sec .text.tm_tail)
fini_sec=$(sec .fini)
[ -n "$head_sec" ] || fail "$lib has no section .text.tm_head (is $ld passed to the linker?)"
[ -n "$tail_sec" ] || fail "$lib has no section .text.tm_tail"
[ -n "$fini_sec" ] || fail "$lib has no section .fini"
set -- $head_sec; head_lo=$1 head_hi=$(($1 + $2))
set -- $tail_sec; tail_lo=$1 tail_hi=$(($1 + $2))
set -- $fini_sec; fini=$1
code=$(readelf -lW "$lib" | awk '$1 == "LOAD" && / R E / { print $3; exit }')
[ -n "$code" ] || fail "$lib: no executable LOAD segment (readelf -l)"
code=$((code))
W=65536
[ $((head_hi - 1)) -lt $(((code / W + 1) * W)) ] ||
  fail "the head ($head_lo..$head_hi) runs past the code segment's first 64 KiB window (it starts at $code): fewer functions in HEAD_BYTES of scripts/text-order.py"
# The tail section begins with its padding to the next 64 KiB boundary; its code starts there.
tail_lo=$(((tail_lo + W - 1) / W * W))
[ $tail_lo -lt $tail_hi ] || fail "the tail section holds nothing past its 64 KiB boundary ($tail_lo)"
[ $((fini / W)) = $((tail_lo / W)) ] || [ $((fini / W)) = $(((tail_hi - 1) / W)) ] ||
  fail ".fini ($fini) is not in the tail's last window ($tail_lo..$tail_hi)"

# Function names in the script: the NAME of each .text.NAME pattern (its first alternative).
names=$(sed -n 's/^ *\*(\.text\.\([A-Za-z0-9_$]*\) .*/\1/p' "$ld" | sort -u)
[ -n "$names" ] || fail "$ld names no function"
nm "$lib" | awk '$2 ~ /^[tTwW]$/ { print $1, $3 }' >"${TMPDIR:-/tmp}/text_order.$$" || fail "nm $lib failed"
missing= outside= n=0
for f in $names; do
  n=$((n + 1))
  hits=$(awk -v f="$f" '{ b = $2; sub(/\..*/, "", b); if (b == f) print $1 }' "${TMPDIR:-/tmp}/text_order.$$")
  if [ -z "$hits" ]; then missing="$missing $f"; continue; fi
  for h in $hits; do
    a=$((0x$h))
    if ! { [ $a -ge $head_lo ] && [ $a -lt $head_hi ]; } && ! { [ $a -ge $tail_lo ] && [ $a -lt $tail_hi ]; }; then
      outside="$outside $f@$h"
    fi
  done
done
rm -f "${TMPDIR:-/tmp}/text_order.$$"
[ -z "$missing" ] || fail "functions named in $ld that $lib does not have (regenerate it with scripts/text-order.py):$missing"
[ -z "$outside" ] || fail "functions named in $ld outside the head and the tail:$outside"
for f in malloc free _Znwm _ZN12_GLOBAL__N_122tiermalloc_constructorEv; do
  echo "$names" | grep -qx "$f" || fail "$ld does not name $f"
done
echo "text_order: ok ($n functions; head $head_lo..$head_hi, tail $tail_lo..$tail_hi, .fini $fini)"

#!/bin/sh
# SPDX-License-Identifier: MIT
# text_order_script.sh LIB SCRIPT DIR: scripts/text-order.py on a callgrind file written here
# (two functions of LIB run, malloc heavily and free lightly, at a made-up load address):
# the list names malloc before free, the entry points and tm_fini_nop, the crtbegin pieces;
# bss-big.ld names the boot buffer; a run with no instruction of LIB is one error line.
set -u
lib=$1 script=$2 dir=$3
fail() { echo "FAIL: $*" >&2; exit 1; }
rm -rf "$dir" && mkdir -p "$dir/w" || exit 1
addr() { nm "$lib" | awk -v f="$1" '$3 == f { print $1; exit }'; }
m=$(addr malloc) f=$(addr free)
[ -n "$m" ] && [ -n "$f" ] || fail "nm $lib: no malloc or free"
load=$((0x4000000))
cat >"$dir/cg.out" <<CG
# callgrind format
events: Ir
ob=/somewhere/libtiermalloc.so
fn=malloc
$(printf '0x%x 0 900\n' $((load + 0x$m)))
$(printf '0x%x 0 900\n' $((load + 0x$m + 4)))
fn=free
$(printf '0x%x 0 5\n' $((load + 0x$f)))
CG
python3 "$script" --lib "$lib" --out "$dir/text-hot.ld" "$dir/cg.out" 2>"$dir/err" || fail "text-order.py failed: $(cat "$dir/err")"
list=$(sed -n 's/^\*(\.text\.\([A-Za-z0-9_$]*\) .*/\1/p' "$dir/text-hot.ld")
[ "$(echo "$list" | sed -n 1p)" = malloc ] || fail "malloc (run most) is not first: $(echo "$list" | head -n 3 | tr '\n' ' ')"
[ "$(echo "$list" | sed -n 2p)" = free ] || fail "free (run second most) is not second: $(echo "$list" | head -n 3 | tr '\n' ' ')"
for e in _Znwm calloc realloc tm_fini_nop; do
  echo "$list" | grep -qx "$e" || fail "the entry point $e is not listed"
done
grep -q '^\*crtbeginS.o(' "$dir/text-hot.ld" || fail "crtbeginS.o's code is not listed"
grep -q '^\*(\.bss\._ZN10tiermalloc2rt12_GLOBAL__N_110g_boot_bufE ' "$dir/bss-big.ld" || fail "bss-big.ld does not name the boot buffer"
# --first: what that run ran comes first, before the window's end line (free, run there,
# ahead of malloc, run more but only in the other run).
cat >"$dir/first.out" <<CG
# callgrind format
events: Ir
ob=/somewhere/libtiermalloc.so
fn=free
$(printf '0x%x 0 1\n' $((load + 0x$f)))
CG
python3 "$script" --lib "$lib" --out "$dir/w/text-hot.ld" --first "$dir/first.out" "$dir/cg.out" 2>"$dir/err" ||
  fail "text-order.py --first failed: $(cat "$dir/err")"
wl=$(sed -n 's/^\*(\.text\.\([A-Za-z0-9_$]*\) .*/\1/p;/end of the start-up window/p' "$dir/w/text-hot.ld" | head -n 3 | tr '\n' ' ')
[ "$wl" = "free /* end of the start-up window */ malloc " ] || fail "--first: expected free, the window's end, malloc; got: $wl"
# --first-of LIB:RUN: a start-up run of another build (here LIB itself, calloc run) joins the
# window, by name.
c=$(addr calloc)
[ -n "$c" ] || fail "nm $lib: no calloc"
cat >"$dir/other.out" <<CG
# callgrind format
events: Ir
ob=/elsewhere/libtiermalloc.so
fn=calloc
$(printf '0x%x 0 7\n' $((load + 0x$c)))
CG
python3 "$script" --lib "$lib" --out "$dir/w/text-hot.ld" --first "$dir/first.out" --first-of "$lib:$dir/other.out" \
  "$dir/cg.out" 2>"$dir/err" || fail "text-order.py --first-of failed: $(cat "$dir/err")"
wl=$(sed -n 's/^\*(\.text\.\([A-Za-z0-9_$]*\) .*/\1/p;/end of the start-up window/p' "$dir/w/text-hot.ld" | head -n 3 | tr '\n' ' ')
[ "$wl" = "calloc free /* end of the start-up window */ " ] || fail "--first-of: expected calloc, free, the window's end; got: $wl"
printf '# callgrind format\nob=/usr/lib/libc.so.6\nfn=x\n0x1000 0 1\n' >"$dir/none.out"
python3 "$script" --lib "$lib" --out "$dir/x.ld" "$dir/none.out" 2>"$dir/err2" && fail "a run without LIB's instructions was accepted"
[ "$(wc -l <"$dir/err2")" = 1 ] || fail "expected one error line, got: $(cat "$dir/err2")"
echo "text_order_script: ok ($(echo "$list" | wc -l) functions listed; $(cat "$dir/err2"))"

#!/bin/sh
# SPDX-License-Identifier: MIT
# text_order.sh LIB LIST BSSLIST [BUILD_TYPE]: the preload library's code order and load-time layout
# (issue 7, peak RSS; interpose/text-hot.ld and bss-big.ld, written by scripts/text-order.py;
# CMakeLists.txt).
#  1. The functions LIST names are functions of LIB (a renamed or removed one would silently
#     fall among the cold code: regenerate the list); fewer than a tenth may be missing (a
#     build type or compiler that inlines them: noted).
#  2. They lie together at the start of .text: from .text's first byte, spanning no more than
#     their own sizes, 16 bytes of alignment each and 8 KiB (the few start-up pieces
#     without a section of their own); malloc, free, operator new and the constructor among them.
#  3. DT_FINI, which ld.so calls at every exit, is tm_fini_nop among them (not crti's _fini,
#     the last bytes of the text).
#  4. The relative relocations are packed (DT_RELR).
#  5. The segments are 64 KiB-aligned (-z max-page-size: ld.so then maps the library at a
#     64 KiB boundary, so the kernel's 64 KiB fault-around windows fall at fixed places of the
#     text), and the functions LIST names before its line "end of the start-up window" (what
#     `true` runs: start-up and the allocation path) end within the text segment's first
#     64 KiB: one window of text resident in a program that only starts, not two.  The list
#     is made on CI's build type, RelWithDebInfo, with a Release build's start-up functions
#     too; under another build type (BUILD_TYPE, CMake's) an overflow of the window is a note.
#  6. .bss: every array BSSLIST names (those of 4 KiB or more) lies below every other variable
#     (the small ones share a few pages instead of one page each between two arrays), and
#     they are variables LIB has.
#  7. .rodata lies in the first segment, before the text (with the dynamic symbols ld.so reads
#     anyway), not in the read-only segment after it, whose unwind tables then stay on disk.
set -u
lib=$1 list=$2 bsslist=$3 btype=${4:-RelWithDebInfo}
fail() { echo "FAIL: $*" >&2; exit 1; }
tmp=${TMPDIR:-/tmp}/text_order.$$
trap 'rm -f "$tmp" "$tmp.full"' EXIT

text=$(readelf -SW "$lib" | awk '{ for (i = 1; i <= NF; i++) if ($i == ".text") { print $(i + 2); exit } }')
[ -n "$text" ] || fail "$lib has no section .text"
text=$((0x$text))
names=$(sed -n 's/^\*(\.text\.\([A-Za-z0-9_$]*\) .*/\1/p' "$list" | sort -u)
[ -n "$names" ] || fail "$list names no function"
for f in malloc free _Znwm _ZN12_GLOBAL__N_122tiermalloc_constructorEv tm_fini_nop; do
  echo "$names" | grep -qx "$f" || fail "$list does not name $f"
done
# "address size base-name" of every function of LIB, in decimal
nm -t d -S "$lib" | awk 'NF == 4 && $3 ~ /^[tTwW]$/ { b = $4; sub(/\..*/, "", b); print $1, $2, b, $4 }' >"$tmp.full" ||
  fail "nm $lib failed"
cut -d' ' -f1-3 "$tmp.full" >"$tmp"
echo "$names" | awk 'NR == FNR { want[$1] = 1; next } ($3 in want) { seen[$3] = 1 }
  END { for (w in want) if (!(w in seen)) printf " %s", w }' - "$tmp" >"$tmp.missing"
missing=$(cat "$tmp.missing"); rm -f "$tmp.missing"
# A few names may be inlined away under another build type or compiler (LTO decides): a note.
# More than a tenth of the list gone means the code changed under it: regenerate it.
nmiss=$(echo $missing | wc -w) nnames=$(echo "$names" | wc -l)
[ $((nmiss * 10)) -lt "$nnames" ] ||
  fail "$nmiss of the $nnames functions named in $list are not functions of $lib (regenerate it with scripts/text-order.py):$missing"
[ -z "$missing" ] || echo "text_order: note: not in $lib (inlined in this build?):$missing"
span=$(echo "$names" | awk -v t="$text" 'NR == FNR { want[$1] = 1; next }
  ($3 in want) { a = $1 + 0; s = $2 + 0; if (a + s > hi) hi = a + s; if (!lo || a < lo) lo = a; tot += s }
  END { printf "%d %d %d\n", lo, hi, tot }' - "$tmp" 2>/dev/null)
set -- $span
lo=${1:-0} hi=${2:-0} tot=${3:-0}
[ "$tot" -gt 0 ] || fail "could not measure the listed functions (nm -t d -S $lib)"
[ "$lo" -lt $((text + 4096)) ] || fail "the listed functions start at $lo, not at the start of .text ($text)"
nfun=$(echo "$names" | wc -l)
[ $((hi - text)) -le $((tot + 16 * nfun + 8192)) ] ||
  fail "the listed functions ($tot bytes) are spread over $((hi - text)) bytes from the start of .text ($text): is $list INCLUDEd first in .text (build/tiermalloc.lds)?"

fini=$(readelf -d "$lib" | awk '$2 == "(FINI)" { print $3 }')
[ -n "$fini" ] || fail "$lib has no DT_FINI"
nop=$(awk '$3 == "tm_fini_nop" { print $1 + 0; exit }' "$tmp")
[ -n "$nop" ] && [ $((fini)) = $((nop)) ] || fail "DT_FINI is $fini, not tm_fini_nop (${nop:-absent})"
readelf -d "$lib" | grep -q '(RELR)' || fail "$lib has no DT_RELR (-z pack-relative-relocs)"
bss=$(readelf -SW "$lib" | awk '{ for (i = 1; i <= NF; i++) if ($i == ".bss") { print $(i + 2), $(i + 4); exit } }')
[ -n "$bss" ] || fail "$lib has no section .bss"
set -- $bss
bss_lo=$((0x$1)) bss_hi=$((0x$1 + 0x$2))
bignames=$(sed -n 's/^\*(\.bss\.\([A-Za-z0-9_$]*\) .*/\1/p' "$bsslist")
[ -n "$bignames" ] || fail "$bsslist names no variable"
# A variable is "big" when BSSLIST names it (its base name: LTO's .lto_priv.N suffix off).
order=$(nm -t d -S "$lib" | awk -v lo="$bss_lo" -v hi="$bss_hi" -v names="$bignames" '
  BEGIN { n = split(names, a, "\n"); for (i = 1; i <= n; i++) big[a[i]] = 1 }
  NF == 4 && $3 ~ /^[bB]$/ && $1 + 0 >= lo && $1 + 0 < hi {
    addr = $1 + 0; b = $4; sub(/\..*/, "", b)
    if (b in big) { if (addr > bigmax) { bigmax = addr; bign = $4 } }
    else if (!smallmin || addr < smallmin) { smallmin = addr; smalln = $4 } }
  END { if (bigmax > smallmin) printf "%s at %d is above %s at %d", bign, bigmax, smalln, smallmin }')
[ -z "$order" ] || fail ".bss: a large array lies above a small variable ($order): is $bsslist INCLUDEd first in .bss?"
for v in $bignames; do
  nm "$lib" | awk -v v="$v" '{ b = $NF; sub(/\..*/, "", b) } b == v { f = 1 } END { exit !f }' ||
    fail "$bsslist names $v, which $lib does not have (regenerate it with scripts/text-order.py)"
done
segs=$(readelf -lW "$lib" | awk '$1 == "LOAD" { print $3, $NF }')
[ -n "$segs" ] || fail "readelf -l $lib: no LOAD segment"
echo "$segs" | while read -r va al; do
  [ $((al)) -ge 65536 ] || fail "a LOAD segment of $lib is aligned to $al, not 64 KiB (-Wl,-z,max-page-size=0x10000)"
done || exit 1
tseg=$(readelf -lW "$lib" | awk '$1 == "LOAD" && $(NF - 1) ~ /E/ { print $3; exit }')
[ -n "$tseg" ] && [ $((tseg % 65536)) = 0 ] || fail "the text segment of $lib is at ${tseg:-?}, not at a 64 KiB boundary"
ro=$(readelf -SW "$lib" | awk '{ for (i = 1; i <= NF; i++) if ($i == ".rodata") { print $(i + 2); exit } }')
[ -n "$ro" ] || fail "$lib has no section .rodata"
[ $((0x$ro)) -lt $((tseg)) ] ||
  fail ".rodata is at 0x$ro, after the text segment ($tseg), not in the first segment (CMakeLists.txt, build/tiermalloc.lds)"
grep -q '^/\* end of the start-up window \*/$' "$list" || fail "$list has no line 'end of the start-up window' (scripts/text-order.py --first)"
wnames=$(awk '/^\/\* end of the start-up window \*\/$/ { exit } { print }' "$list" | sed -n 's/^\*(\.text\.\([A-Za-z0-9_$]*\) .*/\1/p' | sort -u)
[ -n "$wnames" ] || fail "$list names no function before its line 'end of the start-up window'"
# Their own code, not a split cold part (NAME.cold, placed after the window unless it ran).
wend=$(echo "$wnames" | awk 'NR == FNR { want[$1] = 1; next }
  ($3 in want) && $4 !~ /\.cold/ { e = $1 + $2; if (e > hi) { hi = e; who = $4 } } END { printf "%d %s\n", hi, who }' - "$tmp.full")
set -- $wend
[ "${1:-0}" -gt 0 ] || fail "could not measure the start-up window's functions"
if [ "$1" -le $((tseg + 65536)) ]; then
  echo "text_order: start-up window: $(echo "$wnames" | wc -l) functions end $(($1 - tseg)) bytes into the text segment"
else
  msg="the start-up window's functions end at $1 (${2:-?}), past the text segment's first 64 KiB ($((tseg)) + 65536)"
  case $btype in
    RelWithDebInfo | Release) fail "$msg: regenerate $list (scripts/text-order.py --first, --first-of) or make start-up smaller" ;;
  esac
  echo "text_order: note: $msg in this $btype build (the list is made on RelWithDebInfo and Release)"
fi
echo "text_order: ok ($(echo "$names" | wc -l) functions, $tot bytes in $((hi - text)) from .text at $text; DT_FINI $fini)"

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/real/gcc.sh LIBTIERMALLOC POLICY MIMALLOC_SRC PROJECT_SRC [--full] -- gcc and g++ (the
# drivers, cc1, cc1plus, as: all preloaded in the second run) compile real source trees at
# -O2 -g: mimalloc's C sources and this project's C++ sources (policy/, topology/); the
# object files must be byte-identical plain and preloaded.  Short form: 2 C files and 2 C++
# files; --full: every file of both trees (mimalloc's as its build compiles them: not static.c,
# the override, page-queue.c (included by page.c) or region.c (unused in 2.0)).
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
MI=${3:?usage: $0 LIB POLICY MIMALLOC_SRC PROJECT_SRC [--full]}
SRC=${4:?usage: $0 LIB POLICY MIMALLOC_SRC PROJECT_SRC [--full]}
GCC=$(command -v gcc) || skip "gcc is not installed"
GXX=$(command -v g++) || skip "g++ is not installed"
[ -f "$MI/src/alloc.c" ] || skip "no mimalloc source at $MI"
MI=$(readlink -f "$MI") SRC=$(readlink -f "$SRC")
echo "gcc: $("$GCC" --version | head -1), policy $TM_POLICY"
cd "$TM_TMP" || fail "cd $TM_TMP"
csrc=(alloc.c page.c) cxxsrc=(policy/size.cpp topology/select.cpp)
if [ "${5:-}" = --full ]; then
  csrc=(); for f in "$MI"/src/*.c; do case $(basename "$f") in static.c|alloc-override*.c|page-queue.c|region.c) ;; *) csrc+=("$(basename "$f")") ;; esac; done
  cxxsrc=(); for f in "$SRC"/policy/*.cpp "$SRC"/topology/*.cpp; do cxxsrc+=("${f#"$SRC"/}"); done
fi
cat >build.sh <<'SH'
set -e
mkdir "$TM_RUN"
for f in $CSRC; do
  gcc -O2 -g -std=gnu11 -fPIC -I"$MI/include" -DMI_STATIC_LIB -c "$MI/src/$f" -o "$TM_RUN/${f%.c}.o"
done
for f in $CXXSRC; do
  g++ -O2 -g -std=c++20 -fPIC -I"$SRC" -c "$SRC/$f" -o "$TM_RUN/$(echo "${f%.cpp}" | tr / _).o"
done
cd "$TM_RUN" && for o in *.o; do echo "$o $(stat -c %s "$o") $(sha256sum <"$o" | cut -c1-16)"; done
SH
export MI SRC CSRC="${csrc[*]}" CXXSRC="${cxxsrc[*]}"
run_both gcc bash build.sh
n=$(ls tm/*.o | wc -l)
[ "$n" = $(( ${#csrc[@]} + ${#cxxsrc[@]} )) ] || fail "expected $(( ${#csrc[@]} + ${#cxxsrc[@]} )) objects, found $n"
for o in plain/*.o; do cmp -s "$o" "tm/$(basename "$o")" || fail "$(basename "$o") differs"; done
echo "  gcc: $n object files ($(cat tm/*.o | wc -c) bytes) byte-identical"
check_tier gcc far 1
echo "PASS"

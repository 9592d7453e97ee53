#!/bin/sh
# SPDX-License-Identifier: MIT
# helper_check.sh LIB HELPER POLICY DIR [SANITIZED]: what the preload library maps, and its policy
# compiler libtiermalloc-yaml.so (interpose/yaml_loader.cpp).
#  1. LIB has no DT_NEEDED on libstdc++, libm, libgcc_s or libyaml-cpp (readelf -d).
#  2. `cat /proc/self/maps` (a C program) under POLICY: the first run (empty cache) maps the
#     helper and yaml-cpp; the second (cache hit) maps neither, nor libstdc++, libm or libgcc_s
#     (libgcc is linked in statically: issue 7).
#  3. LIB alone in a directory (no helper next to it), cache off: the program runs (status 0)
#     with plain allocation, and stderr is exactly one line naming the missing helper, then
#     "policy not applied"; TIERMALLOC_STRICT=1: status 2.
#  4. LIB and HELPER copied together, the policy cached, then the helper removed: the next
#     run reads the cache and reports nothing.
#  (SANITIZED=1, a -fsanitize build: the sanitizer's runtime needs libstdc++, libm and libgcc_s,
#  so only yaml-cpp and the helper are checked in 1 and 2.)
set -u
lib=$1 helper=$2 policy=$3 dir=$4 sanitized=${5:-0}
runtime="libstdc++ libm.so libgcc_s"
[ "$sanitized" = 1 ] && runtime=
rm -rf "$dir"
mkdir -p "$dir" || exit 1
fail() { echo "FAIL: $*" >&2; exit 1; }

needed=$(readelf -d "$lib" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
[ -n "$needed" ] || fail "readelf -d $lib lists no NEEDED at all"
for bad in $runtime libyaml-cpp; do
  case " $needed" in *" $bad"*) fail "$lib needs $bad (DT_NEEDED: $needed)" ;; esac
done
echo "needed: $needed"

maps() {  # maps RUN [env...]: /proc/self/maps of cat under the library, into $dir/mapsRUN
  run=$1; shift
  env LD_PRELOAD="$lib" TIERMALLOC_POLICY="$policy" TIERMALLOC_CACHE_DIR="$dir/cache" "$@" \
    cat /proc/self/maps >"$dir/maps$run" 2>"$dir/err$run" || fail "run $run exited $?: $(cat "$dir/err$run")"
  [ -s "$dir/err$run" ] && fail "run $run wrote to stderr: $(cat "$dir/err$run")"
  grep -q "$(basename "$lib")" "$dir/maps$run" || fail "run $run: $lib is not mapped"
}
maps 1
grep -q 'libtiermalloc-yaml\.so' "$dir/maps1" || fail "cache miss: the helper was not mapped (the test could not see it)"
grep -q 'libyaml-cpp' "$dir/maps1" || fail "cache miss: libyaml-cpp was not mapped"
maps 2
for bad in libtiermalloc-yaml libyaml-cpp $runtime; do
  grep -q "$bad" "$dir/maps2" && fail "cache hit, but $bad is mapped: $(grep "$bad" "$dir/maps2" | head -n 1)"
done
echo "cache hit maps: $(awk '$6 ~ /\.so/ {print $6}' "$dir/maps2" | sort -u | xargs -n1 basename | tr '\n' ' ')"

mkdir "$dir/alone" && cp "$lib" "$dir/alone/" || exit 1
alone=$dir/alone/$(basename "$lib")
LD_PRELOAD=$alone TIERMALLOC_POLICY=$policy TIERMALLOC_CACHE=0 sh -c 'echo ran' >"$dir/out3" 2>"$dir/err3"
rc=$?
[ "$rc" = 0 ] || fail "helper missing: status $rc (expected 0): $(cat "$dir/err3")"
[ "$(cat "$dir/out3")" = ran ] || fail "helper missing: the program did not run"
[ "$(wc -l <"$dir/err3")" = 2 ] || fail "helper missing: expected 2 lines on stderr, got: $(cat "$dir/err3")"
head -n 1 "$dir/err3" | grep -Eq "^tiermalloc: cannot load the policy compiler: $dir/alone/libtiermalloc-yaml\.so: .* \(needed for $policy, whose compiled form is not cached\)$" ||
  fail "helper missing: unexpected first line: $(head -n 1 "$dir/err3")"
[ "$(sed -n 2p "$dir/err3")" = "tiermalloc: policy not applied; allocations are plain" ] ||
  fail "helper missing: unexpected second line: $(sed -n 2p "$dir/err3")"
echo "helper missing: $(head -n 1 "$dir/err3")"
LD_PRELOAD=$alone TIERMALLOC_POLICY=$policy TIERMALLOC_CACHE=0 TIERMALLOC_STRICT=1 sh -c 'echo ran' >"$dir/out4" 2>/dev/null
rc=$?
[ "$rc" = 2 ] || fail "helper missing, TIERMALLOC_STRICT=1: status $rc (expected 2)"
[ -s "$dir/out4" ] && fail "helper missing, TIERMALLOC_STRICT=1: the program ran"

mkdir "$dir/pair" && cp "$lib" "$helper" "$dir/pair/" || exit 1
pair=$dir/pair/$(basename "$lib")
for run in 5 6; do
  LD_PRELOAD=$pair TIERMALLOC_POLICY=$policy TIERMALLOC_CACHE_DIR="$dir/cache" TIERMALLOC_LOG=debug \
    /bin/true 2>"$dir/err$run" || fail "run $run exited $?"
  rm -f "$dir/pair/$(basename "$helper")"
done
grep -q "compiled form cached in" "$dir/err5" || fail "run 5 did not cache the policy: $(cat "$dir/err5")"
grep -q "compiled form read from" "$dir/err6" || fail "run 6 (helper removed) did not read the cache: $(cat "$dir/err6")"
grep -Eq "tiermalloc: (cannot|policy not applied)" "$dir/err6" && fail "run 6 (helper removed, cache hit): $(cat "$dir/err6")"
echo "helper_check: ok"

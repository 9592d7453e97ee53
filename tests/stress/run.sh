#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/stress/run.sh LIB PROG POLICY MODE [--tmpfs MIB] [ARGS...]
# Runs `PROG MODE --seconds S ARGS` under LD_PRELOAD=LIB with POLICY (TIERMALLOC_STRICT=1:
# the policy must load), a fresh directory DIR as TIERMALLOC_TRANSIENT_PATH, and statistics;
# then checks DIR is empty (transient files are unlinked) and prints the program's STRESS
# line.  S is $TM_STRESS_SECONDS (default 3; scripts/reliability.sh --long sets hours).
#   --tmpfs MIB  DIR is a private tmpfs of MIB MiB (unshare -m): the transient space runs
#                out of filesystem before its `size` budget; 77 where no namespace can be made.
#   --no-stats   no statistics (collecting them sends every allocation down the slow path:
#                this runs the hot paths, stack rules' cached walk included)
set -u
lib=$1 prog=$2 policy=$3 mode=$4
shift 4
tmpfs= nostats=
if [ "${1:-}" = --no-stats ]; then nostats=1; shift; fi
if [ "${1:-}" = --tmpfs ]; then tmpfs=$2; shift 2; fi
unset LD_PRELOAD $(compgen -e | grep '^TIERMALLOC_' || true)
fail() { echo "FAIL: $*" >&2; exit 1; }
if [ -n "$tmpfs" ] && [ -z "${TM_IN_NS:-}" ]; then
  if [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then ns=(unshare -m)
  elif unshare -rm true 2>/dev/null; then ns=(unshare -rm)
  else echo "SKIP: cannot make a private mount namespace for a tmpfs"; exit 77; fi
  TM_IN_NS=1 exec "${ns[@]}" bash "${BASH_SOURCE[0]}" "$lib" "$prog" "$policy" "$mode" ${nostats:+--no-stats} --tmpfs "$tmpfs" "$@"
fi
dir=$(mktemp -d "${TMPDIR:-/tmp}/tm-stress.XXXXXX") || fail "mktemp"
trap 'umount "$dir" 2>/dev/null; rm -rf "$dir"' EXIT
if [ -n "$tmpfs" ]; then
  mount -t tmpfs -o size="${tmpfs}m",mode=0700 tmpfs "$dir" || fail "cannot mount a tmpfs on $dir"
fi
stats=$dir.stats.json
secs=${TM_STRESS_SECONDS:-3}
statsvar=(TIERMALLOC_STATS="$stats")
[ -z "$nostats" ] || statsvar=()
env LD_PRELOAD="$lib" TIERMALLOC_POLICY="$policy" TIERMALLOC_STRICT=1 TIERMALLOC_LOG=error \
    TIERMALLOC_TRANSIENT_PATH="$dir" "${statsvar[@]}" \
    "$prog" "$mode" --seconds "$secs" "$@" >"$dir.out" 2>&1
rc=$?
cat "$dir.out"
left=$(ls -A "$dir" | grep -v '^lost+found$' || true)
[ -z "$left" ] || fail "transient files left in $dir: $left"
[ $rc = 0 ] || fail "$mode exited with status $rc"
grep -q "^STRESS mode=$mode " "$dir.out" || fail "no STRESS line from $mode"
if [ -n "$nostats" ]; then rm -f "$dir.out"; echo PASS; exit 0; fi
[ -s "$stats" ] || fail "no statistics written ($stats): was the library loaded?"
python3 - "$stats" <<'PY' || fail "statistics"
import json, sys
st = json.load(open(sys.argv[1]))
used = [t["name"] for t in st["tiers"] if t["allocations"] > 0]
print("  tiers used: " + ", ".join(f'{t["name"]}={t["allocations"]}' for t in st["tiers"] if t["allocations"]))
if len(used) < 2: sys.exit("only %s used: the policy did not spread the allocations" % used)
PY
rm -f "$stats" "$dir.out"
echo PASS

# SPDX-License-Identifier: MIT
# tests/real/common.sh -- sourced by the real-program tests.
#
#   bash tests/real/<test>.sh LIBTIERMALLOC POLICY [SOURCE_DIR]
#
# Each test runs an unmodified program twice -- plainly, then under
# LD_PRELOAD=libtiermalloc.so with POLICY -- and requires the same exit status and
# byte-identical stdout and stderr.  Exit status: 0 pass, 1 fail, 77 skip (the program,
# or the python3 that reads the statistics, is not installed).

TM_LIB=${1:?usage: $0 LIBTIERMALLOC POLICY}
TM_POLICY=${2:?usage: $0 LIBTIERMALLOC POLICY}
TM_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }

[ -f "$TM_LIB" ] || fail "no library at $TM_LIB"
[ -f "$TM_POLICY" ] || fail "no policy at $TM_POLICY"
TM_LIB=$(readlink -f "$TM_LIB")
TM_POLICY=$(readlink -f "$TM_POLICY")

# Nothing from the caller's environment may change either run: no other preload, no
# TIERMALLOC_* (TIERMALLOC_DISABLE=1 would make the comparison meaningless).
unset LD_PRELOAD $(compgen -e | grep '^TIERMALLOC_' || true)
export LC_ALL=C LANG=C TZ=UTC

TM_TMP=$(mktemp -d "${TMPDIR:-/tmp}/tm-real.XXXXXX")
trap 'rm -rf "$TM_TMP"' EXIT

# The python3 that runs test scripts and reads the statistics: the system's, if any.
find_python() {
  if [ -x /usr/bin/python3 ]; then echo /usr/bin/python3
  else command -v python3 || true; fi
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# run_both NAME CMD [ARGS...]
# Runs CMD twice, plain and preloaded, in the caller's directory, stdin /dev/null, with
# TM_RUN=plain or TM_RUN=tm in its environment (for commands that need a fresh place of
# their own: keep the path relative, so outputs cannot differ by it), and compares.
# The preloaded run writes statistics to $TM_TMP/NAME.stats.<pid>.json and a profile to
# $TM_TMP/NAME.profile.<pid>.json (so `tiermalloc record`'s mode is checked not to change the
# output either); TIERMALLOC_STRICT=1
# makes a policy that does not load stop the program (status 2) instead of running plain;
# TIERMALLOC_LOG=error keeps expected warnings (e.g. a one-node machine) off stderr.
run_both() {
  local name=$1 t rc_plain rc_tm
  shift
  t=$(now)
  TM_RUN=plain "$@" </dev/null >"$TM_TMP/$name.plain.out" 2>"$TM_TMP/$name.plain.err" && rc_plain=0 || rc_plain=$?
  echo "  $name: plain run: status $rc_plain, $(wc -c <"$TM_TMP/$name.plain.out") bytes of output, $(elapsed "$t") s"
  t=$(now)
  env TM_RUN=tm LD_PRELOAD="$TM_LIB" TIERMALLOC_POLICY="$TM_POLICY" TIERMALLOC_STRICT=1 TIERMALLOC_LOG=error \
      TIERMALLOC_STATS="$TM_TMP/$name.stats.%p.json" TIERMALLOC_PROFILE="$TM_TMP/$name.profile.%p.json" \
      "$@" </dev/null >"$TM_TMP/$name.tm.out" 2>"$TM_TMP/$name.tm.err" && rc_tm=0 || rc_tm=$?
  echo "  $name: tiermalloc run: status $rc_tm, $(wc -c <"$TM_TMP/$name.tm.out") bytes of output, $(elapsed "$t") s"
  local bad=0
  if [ "$rc_plain" != "$rc_tm" ]; then
    echo "  $name: exit status differs: plain $rc_plain, tiermalloc $rc_tm" >&2; bad=1
  fi
  if ! cmp -s "$TM_TMP/$name.plain.out" "$TM_TMP/$name.tm.out"; then
    echo "  $name: stdout differs: $(cmp "$TM_TMP/$name.plain.out" "$TM_TMP/$name.tm.out" 2>&1 | head -1)" >&2
    diff "$TM_TMP/$name.plain.out" "$TM_TMP/$name.tm.out" | head -20 >&2; bad=1
  fi
  if ! cmp -s "$TM_TMP/$name.plain.err" "$TM_TMP/$name.tm.err"; then
    echo "  $name: stderr differs" >&2
    diff "$TM_TMP/$name.plain.err" "$TM_TMP/$name.tm.err" | head -20 >&2; bad=1
  fi
  if [ "$rc_plain" != 0 ]; then
    echo "  $name: the plain run itself failed (status $rc_plain):" >&2
    head -20 "$TM_TMP/$name.plain.err" >&2; bad=1
  fi
  [ $bad = 0 ] || fail "$name: output under tiermalloc is not identical"
  echo "  $name: identical ($(sha256sum <"$TM_TMP/$name.plain.out" | cut -c1-16))"
  rm -f "$TM_TMP/$name.plain.out" "$TM_TMP/$name.tm.out"
}

# check_tier NAME TIER MIN_ALLOCATIONS
# Sums TIER's "allocations" over the statistics files of run NAME (one per process) and
# requires at least MIN_ALLOCATIONS; prints every tier's totals.
check_tier() {
  local name=$1 tier=$2 min=$3 py
  py=$(find_python)
  [ -n "$py" ] || skip "no python3 to read the statistics JSON of $name"
  compgen -G "$TM_TMP/$name.stats.*.json" >/dev/null \
    || fail "$name: no statistics file ($TM_TMP/$name.stats.<pid>.json): was libtiermalloc loaded?"
  "$py" - "$tier" "$min" "$name" "$TM_TMP"/"$name".stats.*.json <<'EOF' || fail "$name: tier check failed"
import json, sys
tier, need, name, files = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
tot = {}
for f in files:
    with open(f) as fh:
        st = json.load(fh)
    for t in st["tiers"]:
        a = tot.setdefault(t["name"], [0, 0, 0])
        a[0] += t["allocations"]; a[1] += t["bytes_allocated"]
        a[2] += sum(t.get("resident_by_node", {}).values())
for n, (a, b, r) in tot.items():
    print(f"  {name}: tier {n:8s} allocations {a:9d}  bytes_allocated {b:12d}  resident at exit {r:11d}"
          f"  ({len(files)} process(es))")
got = tot.get(tier, [0])[0]
if tier not in tot:
    print(f"  {name}: no tier named {tier!r} in the statistics", file=sys.stderr); sys.exit(1)
if got < need:
    print(f"  {name}: tier {tier!r} has {got} allocations, expected at least {need}", file=sys.stderr)
    sys.exit(1)
EOF
}

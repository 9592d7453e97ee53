#!/bin/sh
# SPDX-License-Identifier: MIT
# stats_check.sh LIB PROGRAM POLICY DIR: runs PROGRAM (10 mallocs of 2 MiB) with
# TIERMALLOC_STATS=DIR/s-%p.json under the >= 1 MiB policy, then checks that the file is
# DIR/s-<pid>.json and that tier "far" reports exactly those allocations.
set -u
lib=$1 prog=$2 policy=$3 dir=$4
rm -rf "$dir"
mkdir -p "$dir" || exit 1
out=$(LD_PRELOAD=$lib TIERMALLOC_POLICY=$policy TIERMALLOC_STATS="$dir/s-%p.json" "$prog")
rc=$?
echo "$out"
[ "$rc" -eq 0 ] || { echo "FAIL: program exited $rc" >&2; exit 1; }
pid=$(printf '%s\n' "$out" | sed -n 's/^pid \([0-9][0-9]*\)$/\1/p')
[ -n "$pid" ] || { echo "FAIL: program printed no pid" >&2; exit 1; }
exec python3 - "$dir" "$pid" <<'PY'
import json, os, sys
d, pid = sys.argv[1], int(sys.argv[2])
files = sorted(os.listdir(d))
want = "s-%d.json" % pid
def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)
if files != [want]:
    fail("expected exactly %s in %s (%%p replaced by the pid), found %s" % (want, d, files))
with open(os.path.join(d, want)) as f:
    try:
        s = json.load(f)
    except ValueError as e:
        fail("%s is not valid JSON: %s" % (want, e))
if s.get("version") != 1:
    fail("version is %r, expected 1" % s.get("version"))
if s.get("pid") != pid:
    fail("pid is %r, expected %d" % (s.get("pid"), pid))
tiers = {t.get("name"): t for t in s.get("tiers", [])}
if "far" not in tiers or "near" not in tiers:
    fail("tiers near and far expected, found %s" % sorted(tiers))
far = tiers["far"]
mib2 = 2 << 20
for key, want_v in (("allocations", 10), ("bytes_allocated", 10 * mib2), ("frees", 10)):
    if far.get(key) != want_v:
        fail("tier far: %s = %r, expected %d" % (key, far.get(key), want_v))
near = tiers["near"]
if not near.get("allocations", 0) > 0:
    fail("tier near reports no allocations (the C runtime makes some)")
print("stats: %s; far: allocations=%d bytes_allocated=%d frees=%d: PASS"
      % (want, far["allocations"], far["bytes_allocated"], far["frees"]))
PY

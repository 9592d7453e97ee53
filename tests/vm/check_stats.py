# SPDX-License-Identifier: MIT
# tests/vm/check_stats.py STATS.json TIER=NODE[,NODE] ...  [--min-resident TIER=BYTES]
# Checks tiermalloc's statistics: each named tier was built on exactly these nodes, and its
# resident pages (resident_by_node, from /proc/self/numa_maps) lie on them only.
import json
import sys

path, specs = sys.argv[1], sys.argv[2:]
with open(path) as fh:
    st = json.load(fh)
tiers = {t["name"]: t for t in st["tiers"]}
for t in st["tiers"]:
    print(f"  stats: tier {t['name']:6s} nodes {t['nodes']} available {t.get('available')} "
          f"allocations {t['allocations']} bytes_allocated {t['bytes_allocated']} "
          f"resident_by_node {t.get('resident_by_node')}")
bad = 0
min_res = {}
for s in specs:
    if s.startswith("--min-resident="):
        name, val = s.split("=", 1)[1].split("=")
        min_res[name] = int(val)
        continue
    name, nodes = s.split("=")
    want = sorted(int(n) for n in nodes.split(","))
    t = tiers.get(name)
    if t is None:
        print(f"  MISMATCH: no tier {name!r} in {path}"); bad += 1; continue
    if sorted(t["nodes"]) != want:
        print(f"  MISMATCH: tier {name} is on nodes {t['nodes']}, expected {want}"); bad += 1
    res = t.get("resident_by_node", {})
    off = {k: v for k, v in res.items() if int(k) not in want}
    if off:
        print(f"  MISMATCH: tier {name} has resident pages off its nodes: {off}"); bad += 1
    if t["allocations"] == 0:
        print(f"  MISMATCH: tier {name} received no allocations"); bad += 1
for name, need in min_res.items():
    got = sum(tiers.get(name, {}).get("resident_by_node", {}).values())
    if got < need:
        print(f"  MISMATCH: tier {name} has {got} bytes resident at exit, expected >= {need}"); bad += 1
print("  stats:", "FAILED" if bad else "OK")
sys.exit(1 if bad else 0)

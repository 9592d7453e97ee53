# SPDX-License-Identifier: MIT
# Prints a tiermalloc statistics JSON file as a table: where each tier's memory landed.
import json
import sys

s = json.load(open(sys.argv[1]))
print(f"program {s['program']}  policy {s['policy'] or '-'}")
print(f"{'tier':<8} {'nodes':<6} {'allocs':>9} {'MiB allocated':>14}  resident MiB by node (from /proc/self/numa_maps)")
for t in s["tiers"]:
    res = ", ".join(f"node {n}: {b / 2**20:.1f}" for n, b in sorted(t["resident_by_node"].items())) or "-"
    nodes = ",".join(map(str, t["nodes"])) or "-"
    print(f"{t['name']:<8} {nodes:<6} {t['allocations']:>9} {t['bytes_allocated'] / 2**20:>14.1f}  {res}")

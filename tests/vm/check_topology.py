# SPDX-License-Identifier: MIT
# tests/vm/check_topology.py TOPOLOGY.json default|kmem -- `tiermalloc topology --json` in the
# hmat-vm guest reports the HMAT figures its firmware declares (scripts/hmat-vm --help), and
# every selector picks the node a user would expect.
import json
import sys

d = json.load(open(sys.argv[1]))
shape = sys.argv[2]
declared = {  # read/write bandwidth MB/s, read/write latency ns, kind
    0: (40960, 30720, 80, 90, "dram"),
    1: (10240, 8192, 250, 300, "cxl"),
    2: (163840, 122880, 100, 110, "hbm"),
}
if shape == "kmem":
    declared[3] = (8192, 3072, 350, 500, "pmem")
nodes = {n["id"]: n for n in d["nodes"]}
bad = []
if sorted(nodes) != sorted(declared):
    bad.append(f"nodes {sorted(nodes)}, expected {sorted(declared)}")
for i, (rbw, wbw, rlat, wlat, kind) in declared.items():
    n = nodes.get(i)
    if not n:
        continue
    got = (n["read_bandwidth"], n["write_bandwidth"], n["read_latency"], n["write_latency"], n["kind"])
    print(f"node {i}: {got} from {n['figures_source']}, kind from {n['kind_source']}")
    if got != (rbw, wbw, rlat, wlat, kind):
        bad.append(f"node {i}: {got}, declared {(rbw, wbw, rlat, wlat, kind)}")
expect = {"highest_bandwidth": [2], "lowest_latency": [0], "highest_capacity": [1], "hbw": [2],
          "kind: dram": [0], "kind: hbm": [2], "kind: cxl": [1], "kind: pmem": [3] if shape == "kmem" else []}
for sel, want in expect.items():
    got = d["selectors"][sel]["nodes"]
    print(f"{sel:18} -> {got}  ({d['selectors'][sel]['why']})")
    if got != want:
        bad.append(f"{sel} picked {got}, expected {want}")
for b in bad:
    print("MISMATCH:", b)
sys.exit(1 if bad else 0)

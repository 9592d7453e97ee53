#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Transient allocation and first-touch throughput against DRAM, in the same run.
#   python3 bench/transient.py --lib build/libtiermalloc.so --bin build/bench/transient \
#       [--dir DIR]... [--mib 64] [--count 32] [--rounds 3] [--json out.json]
# For each directory (default: /dev/shm, a memory-backed filesystem, and /var/tmp, a disk's),
# the same blocks go once to a transient tier in it and once to a DRAM tier; rounds alternate
# the two and the table gives medians and the transient/DRAM ratios.
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

p = argparse.ArgumentParser(description=__doc__)
p.add_argument("--lib", required=True)
p.add_argument("--bin", required=True)
p.add_argument("--dir", action="append")
p.add_argument("--mib", type=int, default=64)
p.add_argument("--count", type=int, default=32)
p.add_argument("--rounds", type=int, default=3)
p.add_argument("--json")
a = p.parse_args()
dirs = a.dir or ["/dev/shm", "/var/tmp"]

POLICY = """version: 1
tiers:
  near: {{ select: lowest_latency }}
  scratch: {{ transient: {{ path: {path} }} }}
default: near
fallback: [near]
rules:
  - {{ name: big, match: {{ size: ">= 1MiB" }}, tier: {tier} }}
"""


def run(policy_text):
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(policy_text)
        path = f.name
    env = dict(os.environ, LD_PRELOAD=a.lib, TIERMALLOC_POLICY=path, TIERMALLOC_STRICT="1")
    try:
        out = subprocess.run([a.bin, str(a.mib), str(a.count)], env=env, capture_output=True, text=True, timeout=600)
    finally:
        os.unlink(path)
    if out.returncode != 0:
        sys.exit(f"transient bench failed: {out.stdout}{out.stderr}")
    f = out.stdout.split()
    return float(f[1]), float(f[3]), f[5], float(f[7])


results = []
print(f"transient vs DRAM: {a.count} blocks of {a.mib} MiB, allocate + first touch + free, {a.rounds} rounds")
print(f"{'directory':<12} {'tier':<10} {'alloc+free us':>14} {'first touch GB/s':>17} {'realloc grow us':>16}")
for d in dirs:
    if not os.path.isdir(d):
        print(f"{d:<12} (missing: skipped)")
        continue
    meas = {"transient": [], "dram": []}
    for r in range(a.rounds):
        for tier in (["scratch", "near"] if r % 2 == 0 else ["near", "scratch"]):
            us, gbs, ck, grow = run(POLICY.format(path=d, tier=tier))
            meas["transient" if tier == "scratch" else "dram"].append((us, gbs, ck, grow))
    if len({m[2] for v in meas.values() for m in v}) != 1:
        sys.exit("checksums differ between transient and DRAM runs")
    row = {"dir": d}
    for k, v in meas.items():
        row[k] = {"alloc_us": statistics.median(m[0] for m in v), "touch_gbs": statistics.median(m[1] for m in v),
                  "grow_us": statistics.median(m[3] for m in v)}
        print(f"{d:<12} {k:<10} {row[k]['alloc_us']:>14.1f} {row[k]['touch_gbs']:>17.2f} {row[k]['grow_us']:>16.1f}")
    row["ratio_alloc"] = row["transient"]["alloc_us"] / row["dram"]["alloc_us"]
    row["ratio_touch"] = row["transient"]["touch_gbs"] / row["dram"]["touch_gbs"]
    row["ratio_grow"] = row["transient"]["grow_us"] / row["dram"]["grow_us"]
    print(f"{d:<12} {'ratio':<10} {row['ratio_alloc']:>13.2f}x {row['ratio_touch']:>16.2f}x {row['ratio_grow']:>15.2f}x   (transient / DRAM)")
    results.append(row)
if a.json:
    json.dump({"mib": a.mib, "count": a.count, "rounds": a.rounds, "results": results}, open(a.json, "w"), indent=1)

#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# fake_sysfs.py DIR -- writes a stand-in for /sys/devices/system/node (TIERMALLOC_SYSFS_ROOT)
# describing two initiators: node 0 (CPU 0) with a local HBM node 2, and node 1 (CPU 1).
# HMAT figures are relative to the nearest initiator, as the kernel exports them:
#   node 0: DRAM, 80/90 ns, 40960/30720 MB/s, from node 0
#   node 1: CXL-like, 250/300 ns, 10240/8192 MB/s, from node 1
#   node 2: HBM, 100/110 ns, 163840/122880 MB/s, from node 0
# In the hmat-vm guest these are real node numbers (mbind works); only the CPU-to-node
# assignment is made up, so a thread on CPU 1 sees the machine from node 1.
import os
import sys

root = sys.argv[1]
nodes = {
    0: ("0", (80, 90, 40960, 30720), 0, [10, 24, 13]),
    1: ("1", (250, 300, 10240, 8192), 1, [24, 10, 30]),
    2: ("", (100, 110, 163840, 122880), 0, [13, 30, 10]),
}


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text + "\n")


write(f"{root}/has_memory", "0-2")
write(f"{root}/has_cpu", "0-1")
for n, (cpus, (rl, wl, rb, wb), ini, dist) in nodes.items():
    d = f"{root}/node{n}"
    write(f"{d}/cpulist", cpus)
    write(f"{d}/distance", " ".join(map(str, dist)))
    write(f"{d}/meminfo", f"Node {n} MemTotal:       1048576 kB\nNode {n} MemFree:         1000000 kB")
    a = f"{d}/access0/initiators"
    for k, v in (("read_latency", rl), ("write_latency", wl), ("read_bandwidth", rb), ("write_bandwidth", wb)):
        write(f"{a}/{k}", str(v))
    os.makedirs(f"{a}/node{ini}", exist_ok=True)

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The main job: an unmodified python3 run under tiermalloc in the emulated heterogeneous
# machine (scripts/hmat-vm: DRAM node 0, CXL node 1, HBM node 2, described by ACPI HMAT),
# with configs/demo-cxl.yaml sending every allocation of 1 MiB and up to CXL memory.
# The table at the end is read back from the kernel (/proc/self/numa_maps).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
py=/usr/bin/python3; [ -x "$py" ] || py=$(command -v python3)
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
cmd="cd $root && echo '== tiermalloc topology (in the guest)' && build/tiermalloc topology && echo &&
  echo '== tiermalloc run -p configs/demo-cxl.yaml -- python3 scripts/demo_workload.py' &&
  build/tiermalloc run -p configs/demo-cxl.yaml --stats $out/stats.json -- $py scripts/demo_workload.py &&
  echo '== the same program without tiermalloc' && $py scripts/demo_workload.py"
echo "== demo: booting the emulated heterogeneous-memory machine (scripts/hmat-vm, ~20 s)"
if scripts/hmat-vm --pmem 0 --rw "$out" -- bash -c "$cmd"; then
  echo "== where the memory went (guest)"
else
  rc=$?
  echo "== note: the guest could not run (status $rc); running on this machine instead"
  bash -c "$cmd"
  echo "== where the memory went (this machine)"
fi
$py scripts/stats_summary.py "$out/stats.json"

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The README's first command: install Debian 12's packages, build tiermalloc, run the demo.
#   bash scripts/setup.sh            # everything
#   bash scripts/setup.sh --no-demo  # install and build only
set -euo pipefail
cd "$(dirname "$0")/.."
sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
export DEBIAN_FRONTEND=noninteractive

pkgs=(build-essential cmake pkg-config dpkg-dev ca-certificates
      libhwloc-dev hwloc-nox libnuma-dev numactl libpmem-dev libyaml-cpp-dev libgtest-dev
      python3 sqlite3 git valgrind libmimalloc2.0 clang libclang-rt-14-dev
      libjemalloc2 libtcmalloc-minimal4 libmemkind0 patch
      qemu-system-x86 qemu-system-data kmod xz-utils ndctl e2fsprogs daxctl
      chromium fonts-dejavu-core)   # chromium: the report page's render test (~300 MB, ~40 s to install)
missing=()
for p in "${pkgs[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing: ${missing[*]}"
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

echo "== building"
scripts/fetch-mimalloc.sh build/_deps/mimalloc-src
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"

# The emulated heterogeneous-memory guest (kernel, initramfs) used by the demo and the
# placement tests: prepared once, cached in /var/tmp/hmat-vm-cache.
scripts/hmat-vm --setup >/dev/null 2>&1 || echo "== note: the hmat-vm guest could not be prepared; the demo runs on this machine only"

[ "${1:-}" = "--no-demo" ] || bash scripts/demo.sh

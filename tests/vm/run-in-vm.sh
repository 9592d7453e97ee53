#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/vm/run-in-vm.sh HMATVM LIBTIERMALLOC MODE POLICY ARGS...
# Boots scripts/hmat-vm (no NVDIMM: not needed here) and runs guest.sh MODE LIB POLICY ARGS
# in it.  Exit 0 pass, 1 fail, 77 skip: the rig cannot run on this machine (not root, its
# set-up -- qemu, kernel download -- fails, or the guest does not come up: status 125).
set -uo pipefail
hmatvm=$1 lib=$2
shift 2
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }

[ -x "$hmatvm" ] || fail "no rig at $hmatvm"
[ -f "$lib" ] || fail "no library at $lib"
[ "$(id -u)" = 0 ] || skip "scripts/hmat-vm needs root (qemu with 9p passthrough of /)"
unset LD_PRELOAD $(compgen -e | grep '^TIERMALLOC_' || true)

# One-time set-up (apt install qemu, download the Debian kernel into the cache): bounded,
# so that a machine without network skips instead of hanging.
setup_log=$(mktemp); trap 'rm -f "$setup_log"' EXIT
if ! timeout 200 "$hmatvm" --pmem 0 --setup >"$setup_log" 2>&1; then
  cat "$setup_log"
  skip "scripts/hmat-vm --setup failed (no qemu and no cache ${HMATVM_CACHE:-/var/tmp/hmat-vm-cache} or no network?)"
fi

start=$(date +%s.%N)
# TM_VM_ARGS: the guest's shape (default: no NVDIMM; e.g. "--pmem-mode kmem" for pmem as node 3).
read -r -a vmargs <<<"${TM_VM_ARGS:---pmem 0}"
"$hmatvm" "${vmargs[@]}" --timeout 240 -- bash "$HERE/guest.sh" "$1" "$(readlink -f "$lib")" "$(readlink -f "$2")" "${@:3}"
rc=$?
echo "hmat-vm: status $rc after $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
case $rc in
  0) echo PASS ;;
  77) skip "the guest could not check this" ;;
  124) fail "the guest timed out" ;;
  125) skip "scripts/hmat-vm could not boot the guest (status 125, see above)" ;;
  *) fail "placement in the guest is not as expected (status $rc)" ;;
esac

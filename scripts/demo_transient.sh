#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Transient tiers: an unmodified python3 whose temporaries (12 bytearrays of 256 MiB, 3 GiB
# live at the peak) do not fit in the machine's memory.  In the emulated machine
# (scripts/hmat-vm --dram 1024 --cxl 128 --hbm 128 --pmem 4096: 1.25 GiB of RAM in all, and
# a 4 GiB NVDIMM as fsdax, ext4 -o dax at /mnt/pmem0) it runs twice:
#   - under `tiermalloc run` with a policy that sends allocations >= 64 MiB to a transient
#     tier on /mnt/pmem0: each block an unlinked file mapped with libpmem; expected to finish
#     with the right result and little DRAM;
#   - without tiermalloc: expected to be killed (OOM) or to stop with MemoryError.
# Prints each run's peak RSS (wait4's ru_maxrss), wall time and the tier's statistics.
#
#   scripts/demo_transient.sh [--build DIR] [--lib LIBTIERMALLOC] [--cli TIERMALLOC]
#       (default: the library and the tool in build/, or in $TM_BUILD)
# Exit 0: both runs as expected; 1: not; 77: the guest cannot run here (not root, no qemu).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=${TM_BUILD:-$root/build}
lib= cli=
while [ $# -gt 1 ]; do
  case "$1" in
    --build) build=$(cd "$2" && pwd) ;;
    --lib) lib=$(readlink -f "$2") ;;
    --cli) cli=$(readlink -f "$2") ;;
    *) break ;;
  esac
  shift 2
done
py=/usr/bin/python3; [ -x "$py" ] || py=$(command -v python3)
lib=${lib:-$build/libtiermalloc.so} cli=${cli:-$build/tiermalloc}
work=$root/scripts/demo_transient_workload.py
skip() { echo "SKIP: $*"; exit 77; }
[ -f "$lib" ] && [ -x "$cli" ] || { echo "FAIL: no $lib or $cli (build first, or --build DIR)"; exit 1; }
[ "$(id -u)" = 0 ] || skip "scripts/hmat-vm needs root"
unset LD_PRELOAD $(compgen -e | grep '^TIERMALLOC_' || true)

BLOCKS=12 MIB=256
want="result: $BLOCKS blocks x $MIB MiB = $((BLOCKS * MIB)) MiB, stamp sum 100663053"
vmargs=(--dram 1024 --cxl 128 --hbm 128 --pmem 4096)
out=$(mktemp -d "${TMPDIR:-/tmp}/tm-demo-transient.XXXXXX"); trap 'rm -rf "$out"' EXIT
chmod 755 "$out"
cat >"$out/transient.yaml" <<EOF
# Large temporaries on a transient tier: unlinked files on the fsdax mount (true pmem).
version: 1
tiers:
  dram:    { select: lowest_latency }
  scratch: { transient: { path: /mnt/pmem0, size: 3840MiB } }
default: dram
fallback: [dram]
rules:
  - name: big-temporaries
    match: { size: ">= 64MiB" }
    tier: scratch
EOF
cat >"$out/guest.sh" <<EOF
cd $root
echo "== guest: \$(awk '/MemTotal/ { printf "%d MiB of RAM", \$2 / 1024 }' /proc/meminfo) (nodes 0-2), no swap; \$(df -m --output=size /mnt/pmem0 | tail -1 | tr -d ' ') MiB on /mnt/pmem0 (\$(grep ' /mnt/pmem0 ' /proc/mounts | cut -d' ' -f3,4))"
echo "== with tiermalloc: tiermalloc run -p transient.yaml -- python3 $work $BLOCKS $MIB"
$py $work --measure -- $cli run -p $out/transient.yaml --stats $out/stats.json -- $py $work $BLOCKS $MIB 2>&1 | tee $out/with.txt
echo \${PIPESTATUS[0]} >$out/with.rc
echo "   files left in /mnt/pmem0: \$(ls -A /mnt/pmem0 | grep -v lost+found | wc -l)"
echo "== without tiermalloc: python3 $work $BLOCKS $MIB"
$py $work --measure -- $py $work $BLOCKS $MIB 2>&1 | tail -n 6 | tee $out/without.txt
echo \${PIPESTATUS[0]} >$out/without.rc
dmesg | grep -iE 'out of memory|killed process' | tail -n 2 | sed 's/^/   kernel: /'
EOF
echo "== demo: booting the emulated machine: scripts/hmat-vm ${vmargs[*]} (TCG: a few minutes)"
start=$(date +%s)
scripts/hmat-vm "${vmargs[@]}" --rw "$out" --timeout 540 -- bash "$out/guest.sh"
vmrc=$?
echo "== hmat-vm: status $vmrc after $(($(date +%s) - start)) s"
[ "$vmrc" = 125 ] && skip "scripts/hmat-vm could not boot the guest"
[ -s "$out/with.rc" ] && [ -s "$out/without.rc" ] || { echo "FAIL: the guest did not finish both runs"; exit 1; }

fig() { sed -n "s/^measure: .*peak RSS \([0-9]*\) MiB; wall \([0-9.]*\) s; lowest MemAvailable \([0-9]*\) MiB.*/\\$1/p" "$2" | tail -n 1; }
with_rc=$(cat "$out/with.rc") without_rc=$(cat "$out/without.rc")
echo
echo "== summary ($BLOCKS x $MIB MiB of temporaries live at the peak; 1.25 GiB of RAM)"
printf '   %-18s %-8s %-11s %-24s %s\n' run status "peak RSS" "lowest MemAvailable" "wall time"
for r in with without; do
  printf '   %-18s %-8s %-11s %-24s %s\n' "$r tiermalloc" "$(cat "$out/$r.rc")" "$(fig 1 "$out/$r.txt") MiB" \
    "$(fig 3 "$out/$r.txt") MiB" "$(fig 2 "$out/$r.txt") s"
done
if [ -s "$out/stats.json" ]; then
  "$py" - "$out/stats.json" <<'PY'
import json, sys
for t in json.load(open(sys.argv[1]))["tiers"]:
    if t.get("kind") == "transient":
        print(f"   tier {t['name']}: path {t['path']}, is_pmem {t['is_pmem']}, allocations {t['allocations']}, "
              f"file_bytes_peak {t['file_bytes_peak'] >> 20} MiB, fallbacks {t['fallbacks']}, fallbacks_out {t['fallbacks_out']}")
PY
fi
ok=1
if [ "$with_rc" != 0 ] || ! grep -qxF "$want" "$out/with.txt"; then
  echo "FAIL: with tiermalloc the program should finish (status 0) and print: $want"; ok=0
fi
if [ "$without_rc" = 0 ]; then
  echo "FAIL: without tiermalloc the program should not fit (it exited 0)"; ok=0
fi
[ "$ok" = 1 ] && echo "PASS: with the transient tier it completes; without, it does not (status $without_rc)"
[ "$ok" = 1 ]

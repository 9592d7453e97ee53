#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/vm/guest.sh -- the part of a vm test that runs inside the hmat-vm guest.
#   guest.sh placement LIB POLICY PLACEMENT_BIN --large-node N --small-node N --large-tier T --small-tier T
#   guest.sh python    LIB POLICY SCRIPT LARGE_TIER LARGE_NODE SMALL_TIER SMALL_NODE
#   guest.sh topology  LIB - CLI default|kmem      (tiermalloc topology --json vs the firmware's HMAT)
#   guest.sh fill      LIB POLICY FILL_BIN          (a bind tier fills: fallback, no crash)
#   guest.sh perthread LIB POLICY BIN               (initiator: thread, on a made-up CPU layout)
#   guest.sh sites     LIB POLICY BIN LIBDIR        (call-site rules, each tier on its node)
#   guest.sh modes     LIB POLICY MODES_BIN CHECK [TIER=NODE[,NODE]...]
#                      (tier modes: MODES_BIN CHECK, not killed, then check_stats.py on the tiers)
#   guest.sh transient LIB POLICY BIN CHECK_STATS MODE...
#                      (a transient tier on /mnt/pmem0: `BIN MODE /mnt/pmem0` for each MODE, the
#                      directory left empty, CHECK_STATS MODE STATS /mnt/pmem0 --pmem: is_pmem)
# Exit 0 = as expected, 1 = a mismatch or failure, 77 = cannot check here.  Never 125
# (that is the rig's own failure status).
set -u
mode=$1 lib=$2 policy=$3
shift 3
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=/usr/bin/python3; [ -x "$PY" ] || PY=$(command -v python3 || true)

echo "guest: $(uname -r), $(nproc) CPUs; nodes (size, HMAT read latency/bandwidth from node 0):"
for d in /sys/devices/system/node/node[0-9]*; do
  n=${d##*node}
  mem=$(awk '/MemTotal/ {print int($4 / 1024) " MiB"}' "$d/meminfo")
  a=$d/access0/initiators
  printf '  node %s: %-9s cpus [%s]  lat %s ns  bw %s MB/s\n' "$n" "$mem" "$(cat "$d/cpulist")" \
    "$(cat "$a/read_latency" 2>/dev/null || echo -)" "$(cat "$a/read_bandwidth" 2>/dev/null || echo -)"
done
[ -d /sys/devices/system/node/node1 ] || { echo "guest: no NUMA node 1 -- not the hmat-vm topology"; exit 1; }

stats=/tmp/tm-vm-stats.json
rm -f "$stats"
run() {
  env LD_PRELOAD="$lib" TIERMALLOC_POLICY="$policy" TIERMALLOC_STRICT=1 TIERMALLOC_STATS="$stats" "$@"
}
case "$mode" in
  placement)
    bin=$1; shift
    large_node= small_node= large_tier= small_tier=
    args=("$@")
    while [ $# -gt 1 ]; do
      case "$1" in
        --large-node) large_node=$2 ;; --small-node) small_node=$2 ;;
        --large-tier) large_tier=$2 ;; --small-tier) small_tier=$2 ;;
      esac
      shift 2
    done
    echo "guest: $bin ${args[*]} under $policy"
    run "$bin" "${args[@]}"; rc=$?
    ;;
  python)
    script=$1 large_tier=$2 large_node=$3 small_tier=$4 small_node=$5
    [ -n "$PY" ] || { echo "guest: no python3"; exit 77; }
    echo "guest: $PY $script under $policy"
    run "$PY" -I "$script" "$large_tier" "$large_node" "$small_tier" "$small_node"; rc=$?
    ;;
  topology)
    cli=$1 shape=$2
    [ -n "$PY" ] || { echo "guest: no python3"; exit 77; }
    "$cli" topology
    "$cli" topology --json >/tmp/topology.json || exit 1
    "$PY" "$HERE/check_topology.py" /tmp/topology.json "$shape"
    exit $?
    ;;
  sites)
    bin=$1 libdir=$2
    echo "guest: $bin under $policy"
    env LD_PRELOAD="$lib" TIERMALLOC_POLICY="$policy" TIERMALLOC_STRICT=1 \
      TM_SITES_NODES=near=0,mainfn=1,staticfn=2,solver=1,linked=2,dl=1,alpha=2,beta=1,deep=2 "$bin" "$libdir"
    exit $?
    ;;
  perthread)
    bin=$1
    [ -n "$PY" ] || { echo "guest: no python3"; exit 77; }
    "$PY" "$HERE/../topology/fake_sysfs.py" /tmp/fakesys || exit 1
    echo "guest: $bin under $policy, with TIERMALLOC_SYSFS_ROOT=/tmp/fakesys (CPU 1 on node 1)"
    env LD_PRELOAD="$lib" TIERMALLOC_POLICY="$policy" TIERMALLOC_STRICT=1 TIERMALLOC_SYSFS_ROOT=/tmp/fakesys \
      TIERMALLOC_LOG=info "$bin"
    exit $?
    ;;
  fill)
    bin=$1
    echo "guest: $bin under $policy"
    run "$bin"; rc=$?
    echo "guest: program exit status $rc"
    [ "$rc" = 0 ] || exit 1
    "$PY" - "$stats" <<'PYEOF' || exit 1
import json, sys
t = {x["name"]: x for x in json.load(open(sys.argv[1]))["tiers"]}
print("guest: hbm fallbacks_out", t["hbm"]["fallbacks_out"], "resident", t["hbm"]["resident_by_node"],
      "near resident", t["near"]["resident_by_node"])
assert t["hbm"]["fallbacks_out"] > 0, "the bind tier never fell back"
assert set(t["hbm"]["resident_by_node"]) <= {"2"}, "hbm pages outside node 2"
PYEOF
    exit 0
    ;;
  modes)
    bin=$1 check=$2
    shift 2
    echo "guest: $bin $check under $policy"
    run "$bin" "$check"; rc=$?
    echo "guest: program exit status $rc"
    if dmesg 2>/dev/null | grep -Ei 'out of memory|oom-kill|killed process'; then
      echo "guest: the kernel killed something (above)"; exit 1
    fi
    [ "$rc" = 0 ] || exit 1
    [ $# -gt 0 ] || exit 0
    [ -s "$stats" ] || { echo "guest: no statistics written to $stats"; exit 1; }
    [ -n "$PY" ] || { echo "guest: no python3 to read the statistics: placement checked, stats not"; exit 0; }
    "$PY" "$HERE/check_stats.py" "$stats" "$@" || exit 1
    exit 0
    ;;
  transient)
    bin=$1 checker=$2
    shift 2
    dir=/mnt/pmem0
    [ -n "$PY" ] || { echo "guest: no python3 to read the statistics"; exit 77; }
    grep -q " $dir " /proc/mounts || { echo "guest: nothing mounted at $dir (run with --pmem N, fsdax)"; exit 1; }
    echo "guest: $(grep " $dir " /proc/mounts); $(df -m --output=avail "$dir" | tail -n 1 | tr -d ' ') MiB free"
    for m in "$@"; do
      rm -f "$stats"
      echo "guest: $bin $m $dir under $policy"
      run "$bin" "$m" "$dir"; rc=$?
      echo "guest: program exit status $rc"
      [ "$rc" = 0 ] || exit 1
      left=$(ls -A "$dir" | grep -vx 'lost+found')
      [ -z "$left" ] || { echo "guest: files left in $dir: $left"; exit 1; }
      [ -s "$stats" ] || { echo "guest: no statistics written to $stats"; exit 1; }
      "$PY" "$checker" "$m" "$stats" "$dir" --pmem || exit 1
    done
    exit 0
    ;;
  *) echo "guest.sh: unknown mode $mode"; exit 1 ;;
esac
echo "guest: program exit status $rc"
[ "$rc" = 0 ] || exit 1
[ -s "$stats" ] || { echo "guest: no statistics written to $stats"; exit 1; }
[ -n "$PY" ] || { echo "guest: no python3 to read the statistics: placement checked, stats not"; exit 0; }
min=
# The 6 x 8 MiB arrays (placed while live: bytearrays.py checks their pages) are freed by
# Python's finalization before the statistics are written; since freed arena memory goes back
# to the OS beyond a bound (interpose/retain.cpp, mimalloc's span purge after its delay), only
# part of it is still resident then (28 of 48 MiB seen): at least one array's worth.
[ "$mode" = python ] && min=--min-resident=$large_tier=$((8 << 20))
"$PY" "$HERE/check_stats.py" "$stats" "$large_tier=$large_node" "$small_tier=$small_node" $min || exit 1
exit 0

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/real/redis.sh LIBTIERMALLOC POLICY [--full] -- redis-server (Debian's, unchanged)
# under tiermalloc with POLICY (tests/real/policies/redis-values.yaml: values of 4..64 KiB
# on a tier of their own).  In each run -- plain, then preloaded -- a fresh server loads
# a deterministic dataset (strings of 1..16 KiB, lists, hashes, sets, sorted sets) through
# redis-cli --pipe, then is modified deterministically by a second client while
# redis-benchmark hammers database 1 with 4 KiB values; database 1 is flushed and the
# server's DEBUG DIGEST, DBSIZE and a sample of values must be identical in both runs, and
# the statistics must show the values on their tier.
#   --full: 10x the dataset and the benchmark requests.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
SERVER=$(command -v redis-server) || skip "redis-server is not installed"
CLI=$(command -v redis-cli) || skip "redis-cli is not installed (redis-tools)"
BENCH=$(command -v redis-benchmark) || skip "redis-benchmark is not installed (redis-tools)"
PY=$(find_python)
scale=1; [ "${3:-}" = --full ] && scale=10
echo "redis: $("$SERVER" --version | cut -d' ' -f3-4), scale $scale, policy $TM_POLICY"
cd "$TM_TMP" || fail "cd $TM_TMP"

# The dataset and the modifications, in Redis's protocol (deterministic: an LCG).
"$PY" - "$scale" <<'PY' || fail "cannot generate the commands"
import sys
scale = int(sys.argv[1])
x = 12345
def rnd(n):
    global x
    x = (x * 16807) % 2147483647
    return x % n
def cmd(f, *args):
    f.write(b"*%d\r\n" % len(args))
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        f.write(b"$%d\r\n%s\r\n" % (len(a), a))
def val(n, seed):
    return (b"%08d:" % seed + bytes(65 + (seed + i) % 26 for i in range(64))) * (n // 73 + 1)
with open("load.proto", "wb") as f:
    for i in range(4000 * scale):
        cmd(f, "SET", f"str:{i}", val(1024 + rnd(15 * 1024), i)[: 1024 + rnd(15 * 1024)])
    for i in range(300 * scale):
        for j in range(40):
            cmd(f, "RPUSH", f"list:{i}", val(20 + rnd(5000), j))
        cmd(f, "HSET", f"hash:{i}", *[a for k in range(20) for a in (f"f{k}", val(10 + rnd(6000), k))])
        cmd(f, "SADD", f"set:{i}", *[f"m{rnd(100000)}" for _ in range(30)])
        cmd(f, "ZADD", f"zset:{i}", *[a for k in range(30) for a in (rnd(1000000), f"z{k}")])
with open("modify.proto", "wb") as f:
    for i in range(0, 4000 * scale, 3):
        cmd(f, "APPEND", f"str:{i}", val(100 + rnd(8000), i))
    for i in range(0, 4000 * scale, 7):
        cmd(f, "DEL", f"str:{i}")
    for i in range(300 * scale):
        cmd(f, "LTRIM", f"list:{i}", 5, 30)
        cmd(f, "HDEL", f"hash:{i}", "f3", "f7")
        cmd(f, "SETRANGE", f"str:{i * 5 + 1}", rnd(2000), val(5000, i))
        cmd(f, "ZINCRBY", f"zset:{i}", 7, "z3")
PY

# redis_run NAME: a fresh server in NAME/ on a Unix socket; prints the transcript.
redis_run() {
  local d=$PWD/$1 sock pid i
  mkdir -p "$d"; sock=$d/redis.sock
  "$SERVER" --port 0 --unixsocket "$sock" --save "" --appendonly no --dir "$d" --enable-debug-command local \
            --logfile "$d/server.log" --daemonize no &
  pid=$!
  for i in $(seq 100); do env -u LD_PRELOAD "$CLI" -s "$sock" ping >/dev/null 2>&1 && break; sleep 0.1; done
  env -u LD_PRELOAD "$CLI" -s "$sock" ping >/dev/null 2>&1 || { kill $pid; echo "server did not start"; return 1; }
  env -u LD_PRELOAD "$CLI" -s "$sock" --pipe <load.proto | tail -1
  env -u LD_PRELOAD "$BENCH" -s "$sock" --dbnum 1 -q -c 8 -n $((20000 * scale)) -d 4096 -r 5000 -t set,get,lpush,lpop,sadd,hset \
      >"$d/bench.out" 2>&1 &
  local bench=$!
  env -u LD_PRELOAD "$CLI" -s "$sock" --pipe <modify.proto | tail -1
  wait $bench || echo "redis-benchmark failed: $(tail -3 "$d/bench.out")"
  grep -c 'requests per second' "$d/bench.out" | sed 's/^/benchmark tests run: /'
  env -u LD_PRELOAD "$CLI" -s "$sock" -n 1 dbsize | sed 's/^/db1 keys after the benchmark (nonzero): /' | sed 's/: [1-9][0-9]*$/: yes/'
  env -u LD_PRELOAD "$CLI" -s "$sock" -n 1 flushdb
  env -u LD_PRELOAD "$CLI" -s "$sock" dbsize
  env -u LD_PRELOAD "$CLI" -s "$sock" debug digest
  # A sample of values, read back (sorted where Redis's order depends on its random hash seed).
  local c=(env -u LD_PRELOAD "$CLI" -s "$sock")
  for i in 1 2 3 5 3001 3999; do printf 'str:%s %s\n' $i "$("${c[@]}" get str:$i | sha256sum | cut -c1-16)"; done
  for i in 5 77 299; do
    printf 'list:%s %s\n' $i "$("${c[@]}" lrange list:$i 0 -1 | sha256sum | cut -c1-16)"
    printf 'hash:%s %s\n' $i "$("${c[@]}" hgetall hash:$i | paste - - | sort | sha256sum | cut -c1-16)"
    printf 'set:%s %s\n' $i "$("${c[@]}" smembers set:$i | sort | sha256sum | cut -c1-16)"
    printf 'zset:%s %s\n' $i "$("${c[@]}" zrange zset:$i 0 -1 withscores | sha256sum | cut -c1-16)"
  done
  env -u LD_PRELOAD "$CLI" -s "$sock" shutdown nosave 2>/dev/null
  wait $pid; echo "server exit status $?"
}
export -f redis_run
export SERVER CLI BENCH scale
run_both redis bash -c 'set -o pipefail; redis_run "$TM_RUN" | tee "$TM_RUN.transcript"'
sed 's/^/  redis transcript: /' "$TM_TMP/tm.transcript"
check_tier redis values $((40000 * scale))   # the benchmark's SETs and LPUSHes of 4 KiB, and most strings
echo "PASS"

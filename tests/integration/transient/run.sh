#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/integration/transient/run.sh LIB PROG MODE [--size BUDGET] [--env-path] [--tmpfs MIB]
#                                    [--stats] [ARGS...]
# Makes a temporary directory DIR (mktemp -d), writes a policy whose tier "scratch" is
# `transient: { path: DIR, size: BUDGET }` (rule: >= 32MiB -> scratch, else near; fallback
# [near]), runs `PROG MODE DIR ARGS` under LD_PRELOAD=LIB with it, and checks DIR is empty
# afterwards.
#   --env-path   the policy names a path that does not exist; TIERMALLOC_TRANSIENT_PATH=DIR
#   --tmpfs MIB  DIR is a private tmpfs of MIB MiB (unshare -rm: a user and mount namespace),
#                so that free space figures are exact (TM_DF_SLACK_MIB=0); 77 if impossible
#   --stats      TIERMALLOC_STATS, then check_stats.py MODE STATS DIR on the result
# Only PROG runs under the library; this script's tools do not.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
lib=$1 prog=$2 mode=$3
shift 3
size= envpath=0 tmpfs= stats=0
while [ $# -gt 0 ]; do
  case "$1" in
    --size) size=$2; shift 2 ;;
    --env-path) envpath=1; shift ;;
    --tmpfs) tmpfs=$2; shift 2 ;;
    --stats) stats=1; shift ;;
    *) break ;;
  esac
done
unset LD_PRELOAD $(compgen -e | grep '^TIERMALLOC_' || true)
fail() { echo "FAIL: $*" >&2; exit 1; }

if [ -n "$tmpfs" ] && [ -z "${TM_IN_NS:-}" ]; then
  # Again, inside a private mount namespace (as "root" of a new user namespace if need be).
  if [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then ns=(unshare -m)
  elif unshare -rm true 2>/dev/null; then ns=(unshare -rm)
  else echo "SKIP: cannot make a private mount namespace (unshare -m / -rm) for a tmpfs"; exit 77; fi
  args=("$lib" "$prog" "$mode" --tmpfs "$tmpfs")
  [ -n "$size" ] && args+=(--size "$size")
  [ "$envpath" = 1 ] && args+=(--env-path)
  [ "$stats" = 1 ] && args+=(--stats)
  TM_IN_NS=1 exec "${ns[@]}" bash "${BASH_SOURCE[0]}" "${args[@]}" "$@"
fi

base=$(mktemp -d "${TMPDIR:-/tmp}/tm-transient.XXXXXX") || fail "mktemp"
dir=$base/scratch
mkdir "$dir" || fail "mkdir $dir"
cleanup() { [ -n "$tmpfs" ] && umount "$dir" 2>/dev/null; rm -rf "$base"; }
trap cleanup EXIT
if [ -n "$tmpfs" ]; then
  mount -t tmpfs -o "size=${tmpfs}m,mode=0700" tm-transient "$dir" || { echo "SKIP: cannot mount a tmpfs"; exit 77; }
  export TM_DF_SLACK_MIB=0
fi

ppath=$dir
[ "$envpath" = 1 ] && ppath=/nonexistent/tm-transient-path
{
  echo "version: 1"
  echo "tiers:"
  echo "  near: { select: lowest_latency }"
  if [ -n "$size" ]; then echo "  scratch: { transient: { path: $ppath, size: $size } }"
  else echo "  scratch: { transient: { path: $ppath } }"; fi
  echo "default: near"
  echo "fallback: [near]"
  echo "rules:"
  echo "  - name: big-to-scratch"
  echo "    match: { size: \">= 32MiB\" }"
  echo "    tier: scratch"
} >"$base/policy.yaml"

envs=(LD_PRELOAD="$lib" TIERMALLOC_POLICY="$base/policy.yaml" TIERMALLOC_STRICT=1)
[ "$envpath" = 1 ] && envs+=(TIERMALLOC_TRANSIENT_PATH="$dir")
[ "$stats" = 1 ] && envs+=(TIERMALLOC_STATS="$base/stats.json")
echo "run: $prog $mode $dir $* (transient ${size:-unbounded}${tmpfs:+, tmpfs ${tmpfs} MiB})"

avail() { stat -f -c '%a %S' "$dir" | awk '{ printf "%d", $1 * $2 / 1048576 }'; }  # MiB free
slack=${TM_DF_SLACK_MIB:-64}
# leftovers: a process holding HOLD MiB of transient blocks ends by exit(0), _exit(0) and
# SIGKILL; each time DIR must stay empty and the filesystem get all its space back.
leftovers() {
  local how hold=512 before during after pid rc out=$base/out fifo=$base/ctl i deleted
  for how in exit _exit kill; do
    rm -f "$fifo" "$out"
    mkfifo "$fifo" || fail "mkfifo"
    before=$(avail)
    env "${envs[@]}" "$prog" hold "$dir" "$hold" "$how" <"$fifo" >"$out" &
    pid=$!
    exec 3>"$fifo"
    for i in $(seq 200); do grep -q READY "$out" 2>/dev/null && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    grep -q READY "$out" || { cat "$out"; fail "$how: the holding program did not get ready"; }
    during=$(avail)
    deleted=$(grep -c "$dir/.* (deleted)" "/proc/$pid/maps")
    [ -z "$(ls -A "$dir")" ] || fail "$how: $dir not empty while blocks are held: $(ls -A "$dir")"
    [ "$deleted" = $((hold / 64)) ] || fail "$how: $deleted unlinked files of $dir mapped, expected $((hold / 64))"
    [ $((before - during + slack)) -ge "$hold" ] || fail "$how: only $((before - during)) MiB in use while holding $hold MiB"
    case $how in
      kill) kill -KILL "$pid" ;;
      *) echo go >&3 ;;
    esac
    exec 3>&-
    wait "$pid"; rc=$?
    case $how in
      kill) [ "$rc" = 137 ] || fail "kill: status $rc, expected 137" ;;
      *) [ "$rc" = 0 ] || fail "$how: status $rc" ;;
    esac
    for i in $(seq 100); do after=$(avail); [ $((after + slack)) -ge "$before" ] && break; sleep 0.1; done
    printf 'leftovers: %-5s free %6d MiB before, %6d MiB holding %d MiB (%d unlinked files), %6d MiB after (status %d)\n' \
      "$how" "$before" "$during" "$hold" "$deleted" "$after" "$rc"
    [ -z "$(ls -A "$dir")" ] || fail "$how: files left in $dir: $(ls -A "$dir")"
    [ $((after + slack)) -ge "$before" ] || fail "$how: the filesystem did not get its space back ($before -> $after MiB)"
    [ "$slack" != 0 ] || [ "$after" = "$before" ] || fail "$how: $before MiB free before, $after after"
  done
}
if [ "$mode" = leftovers ]; then
  leftovers
  rc=0
else
  env "${envs[@]}" "$prog" "$mode" "$dir" "$@"
  rc=$?
fi
[ "$rc" = 0 ] || fail "$prog $mode exited with status $rc"
left=$(ls -A "$dir")
[ -z "$left" ] || fail "files left in $dir: $left"
if [ "$stats" = 1 ]; then
  [ -s "$base/stats.json" ] || fail "no statistics written"
  python3 "$HERE/check_stats.py" "$mode" "$base/stats.json" "$dir" || exit 1
fi
echo PASS

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# files.sh LIB HOLD -- the files tiermalloc makes are safe from other users:
#  transient  blocks on a transient tier are files without a name: while 4 blocks of 64 MiB
#             are live, the tier's directory is empty, and each of the 4 mappings of it in
#             /proc/PID/maps is "(deleted)", its file mode 0600, link count 0, owned by the
#             process's user; the descriptors the blocks keep (for realloc) are of those
#             unlinked files and close-on-exec; a process of another user can open none of them.  (Run as `nobody` when root.)
#  symlinks   a symbolic link at the TIERMALLOC_STATS or TIERMALLOC_LOG_FILE path is not
#             followed: its target keeps its contents and a dangling link's target is not
#             created (statistics replace the link with their own file, renamed over it; the
#             log stays on stderr).
set -u
lib=$(readlink -f "$1") hold=$(readlink -f "$2")
unset LD_PRELOAD $(compgen -e | grep '^TIERMALLOC_' || true)
fail() { echo "FAIL: $*"; exit 1; }
d=$(mktemp -d "${TMPDIR:-/tmp}/tm-files.XXXXXX") || exit 1
trap 'kill $pid 2>/dev/null; rm -rf "$d"' EXIT
pid=
chmod 755 "$d"

# ---- transient files ---------------------------------------------------------------
mkdir "$d/scratch"
run_as=()
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
  chown nobody "$d/scratch"
  run_as=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
  cp "$hold" "$d/hold" && hold=$d/hold
  # The policy compiler the library loads from its own directory (a cache miss: transient
  # policies are never cached).
  cp "$lib" "$d/lib.so" && cp "$(dirname "$lib")/libtiermalloc-yaml.so" "$d/" && lib=$d/lib.so
fi
chmod 700 "$d/scratch"
cat >"$d/policy.yaml" <<YAML
version: 1
tiers:
  near: { select: lowest_latency }
  scratch: { transient: { path: $d/scratch } }
default: near
fallback: [near]
rules:
  - { name: big, match: { size: ">= 32MiB" }, tier: scratch }
YAML
chmod 644 "$d/policy.yaml"
coproc H { env LD_PRELOAD="$lib" TIERMALLOC_POLICY="$d/policy.yaml" TIERMALLOC_STRICT=1 "${run_as[@]}" "$hold" 4 64; }
hpid=$H_PID  # bash unsets H_PID once the coprocess has ended
read -r ready pid <&"${H[0]}" || fail "the holder did not start"
[ "$ready" = READY ] || fail "the holder printed '$ready'"
uid=$(stat -c %u /proc/$pid)
[ -z "$(ls -A "$d/scratch")" ] || fail "the transient directory lists names: $(ls -A "$d/scratch")"
maps=$(grep -F " $d/scratch/" /proc/$pid/maps)
n=$(printf '%s\n' "$maps" | grep -c .)
[ "$n" = 4 ] || fail "expected 4 mappings of $d/scratch, found $n: $maps"
while read -r range _ _ _ _ path; do
  case "$path" in *"(deleted)") ;; *) fail "mapping $range of $path is not of a deleted file" ;; esac
  st=$(stat -L -c '%a %h %u %s' "/proc/$pid/map_files/$range") || fail "stat map_files/$range"
  set -- $st
  [ "$1" = 600 ] || fail "transient file of $range has mode $1, expected 600"
  [ "$2" = 0 ] || fail "transient file of $range has $2 links, expected 0"
  [ "$3" = "$uid" ] || fail "transient file of $range is owned by uid $3, not the process's $uid"
  echo "  transient $range: no name, mode $1, links $2, owner $3, $4 bytes"
  if [ ${#run_as[@]} -gt 0 ] && command -v runuser >/dev/null; then
    runuser -u daemon -- head -c1 "/proc/$pid/map_files/$range" >/dev/null 2>&1 &&
      fail "user daemon could read the transient file of $range"
  fi
done <<<"$maps"
# A block keeps its file's descriptor (realloc resizes the file): each must be one of the
# unlinked files, close-on-exec (so no program it execs inherits it), at most one per block.
nfd=0
for fd in /proc/$pid/fd/*; do
  t=$(readlink "$fd")
  case "$t" in
    "$d/scratch"*)
      case "$t" in *" (deleted)") ;; *) fail "descriptor $fd refers to a named file $t" ;; esac
      flags=$(awk '/^flags:/ {print $2}' "/proc/$pid/fdinfo/${fd##*/}")
      [ $(( 0$flags & 02000000 )) -ne 0 ] || fail "descriptor $fd ($t) is not close-on-exec (flags $flags)"
      nfd=$((nfd + 1)) ;;
  esac
done
[ "$nfd" -le "$n" ] || fail "$nfd descriptors into the tier for $n blocks"
echo "  transient: directory empty, $n unlinked mappings, $nfd close-on-exec descriptors of unlinked files"
echo go >&"${H[1]}"
read -r done_ <&"${H[0]}"
[ "$done_" = DONE ] || fail "the holder did not verify its blocks (printed '$done_')"
wait "$hpid" 2>/dev/null
pid=

# ---- symlinks at the statistics and log paths ----------------------------------------
for var in STATS LOG_FILE; do
  echo precious >"$d/target"
  ln -sf "$d/target" "$d/link"
  rm -f "$d/absent"
  ln -sf "$d/absent" "$d/dangling"
  err=$(env LD_PRELOAD="$lib" TIERMALLOC_LOG=info TIERMALLOC_POLICY="$d/policy.yaml" "TIERMALLOC_$var=$d/link" "$hold" 1 1 <<<go 2>&1 >/dev/null)
  [ "$(cat "$d/target")" = precious ] || fail "TIERMALLOC_$var through a symlink changed its target: $(head -c 100 "$d/target")"
  # Statistics are written to a new file (O_EXCL|O_NOFOLLOW) renamed over the path: a link
  # there is replaced by our file, never followed.  The log file is opened O_NOFOLLOW: the
  # link stays and the log stays on stderr.
  if [ "$var" = STATS ]; then
    [ ! -L "$d/link" ] && [ -f "$d/link" ] && grep -q '"version": 1' "$d/link" ||
      fail "TIERMALLOC_STATS: the path does not hold our statistics ($(ls -l "$d/link"))"
    [ -L "$d/dangling" ] || [ -f "$d/dangling" ] || fail "TIERMALLOC_STATS: the dangling link vanished"
  else
    [ -L "$d/link" ] || fail "TIERMALLOC_$var: the symlink was replaced"
  fi
  env LD_PRELOAD="$lib" TIERMALLOC_LOG=info TIERMALLOC_POLICY="$d/policy.yaml" "TIERMALLOC_$var=$d/dangling" "$hold" 1 1 <<<go >/dev/null 2>&1
  [ ! -e "$d/absent" ] || fail "TIERMALLOC_$var through a dangling symlink created its target"
  case $var in
    STATS) ;;
    LOG_FILE) [[ "$err" == *"tier near"* ]] || fail "the log did not stay on stderr: $err" ;;
  esac
  echo "  TIERMALLOC_$var: a symlink at the path is not followed (target intact, dangling target not created)"
done
echo PASS

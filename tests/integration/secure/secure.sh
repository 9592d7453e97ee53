#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# secure.sh BIN POLICY BAD_POLICY -- under secure execution (a setuid program), every
# TIERMALLOC_* variable is ignored.  For each variable, a value whose effect the plain run
# shows (a policy in force, exit status 2 under STRICT, a warning or log line on stderr, a
# statistics or log file written) -- and the same binary, setuid, must show none of it: status
# 0, "secure=1 tier1=(none)", nothing on stderr, no file created.
# (TIERMALLOC_DISABLE's only effect is "no policy", which secure execution already gives: it
#  is set along with the others, but cannot be told apart on its own.)
set -u
bin=$1 policy=$2 bad=$3
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to make a setuid copy"; exit 77; }
dir=$(mktemp -d "$(dirname "$bin")/secure.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
cp "$bin" "$dir/plain" && cp "$bin" "$dir/suid" && chown nobody "$dir/suid" && chmod 4755 "$dir/suid" || exit 1
chmod 755 "$dir"
mkdir "$dir/out" && chmod 1777 "$dir/out"   # writable by the setuid program (euid nobody) too
unset LD_PRELOAD $(compgen -e | grep '^TIERMALLOC_' || true)
fails=0 cases=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# check NAME PLAIN_EFFECT VAR=VALUE...   PLAIN_EFFECT: status:N, out:TEXT, err:REGEX or file:NAME.
check() {
  local name=$1 effect=$2 rc out err
  shift 2
  cases=$((cases + 1))
  rm -rf "${dir:?}/out"/*
  out=$(env "$@" "$dir/plain" 2>"$dir/err") && rc=0 || rc=$?
  err=$(cat "$dir/err")
  case "$effect" in
    status:*) [ "$rc" = "${effect#status:}" ] || fail "$name: the plain run exited $rc, expected ${effect#status:} ($err)" ;;
    out:*) [ "$out" = "${effect#out:}" ] || fail "$name: the plain run printed '$out', expected '${effect#out:}'" ;;
    err:*) [[ "$err" =~ ${effect#err:} ]] || fail "$name: the plain run's stderr lacks /${effect#err:}/: '$err'" ;;
    file:*) compgen -G "$dir/out/${effect#file:}" >/dev/null || fail "$name: the plain run wrote no $dir/out/${effect#file:}" ;;
  esac
  rm -rf "${dir:?}/out"/*
  out=$(env "$@" "$dir/suid" 2>"$dir/err") && rc=0 || rc=$?
  err=$(cat "$dir/err")
  if [[ "$out" == secure=0* ]]; then echo "SKIP: this filesystem ignores the setuid bit (nosuid)"; exit 77; fi
  [ "$rc" = 0 ] || fail "$name: the setuid run exited $rc"
  [ "$out" = "secure=1 tier1=(none)" ] || fail "$name: the setuid run printed '$out'"
  [ -z "$err" ] || fail "$name: the setuid run wrote to stderr: $err"
  [ -z "$(ls -A "$dir/out")" ] || fail "$name: the setuid run created $(ls -A "$dir/out")"
  echo "  $name: the plain run shows it ($effect), the setuid run does not"
}

check POLICY          out:"secure=0 tier1=near" TIERMALLOC_POLICY="$policy"
check STRICT          status:2 TIERMALLOC_POLICY="$bad" TIERMALLOC_STRICT=1
check POLICY-missing  err:"cannot open policy file" TIERMALLOC_POLICY=/nonexistent/policy.yaml
check RULES           status:2 TIERMALLOC_RULES='size>=1:near' TIERMALLOC_STRICT=1
check RULES-bad       err:"TIERMALLOC_RULES" TIERMALLOC_POLICY="$policy" TIERMALLOC_RULES='size>>1:?'
check DEFAULT_TIER    err:"unknown tier 'nosuch'" TIERMALLOC_POLICY="$policy" TIERMALLOC_DEFAULT_TIER=nosuch
check TIER_FAR_LIMIT  status:2 TIERMALLOC_TIER_FAR_LIMIT=1GiB TIERMALLOC_STRICT=1
check TRANSIENT_PATH  status:2 TIERMALLOC_TRANSIENT_PATH=/tmp TIERMALLOC_STRICT=1
check HBW_THRESHOLD   err:"TIERMALLOC_HBW_THRESHOLD" TIERMALLOC_HBW_THRESHOLD=fast
check SYSFS_ROOT      err:"no memory nodes found" TIERMALLOC_POLICY="$policy" TIERMALLOC_SYSFS_ROOT=/nonexistent
check LOG             err:"TIERMALLOC_LOG: unknown level" TIERMALLOC_LOG=loud
check LOG=info        err:"tier near" TIERMALLOC_POLICY="$policy" TIERMALLOC_LOG=info
check LOG_FILE        file:log TIERMALLOC_POLICY="$policy" TIERMALLOC_LOG=info TIERMALLOC_LOG_FILE="$dir/out/log"
check STATS           file:stats.json TIERMALLOC_POLICY="$policy" TIERMALLOC_STATS="$dir/out/stats.json"
check STATS-%p        file:"s.*.json" TIERMALLOC_STATS="$dir/out/s.%p.json"
check DISABLE+all     out:"secure=0 tier1=(none)" TIERMALLOC_DISABLE=1 TIERMALLOC_POLICY="$policy" TIERMALLOC_STRICT=1 \
      TIERMALLOC_RULES='size>=1:far' TIERMALLOC_LOG=debug TIERMALLOC_LOG_FILE="$dir/out/log" TIERMALLOC_STATS="$dir/out/all.json"
[ $fails = 0 ] || { echo "FAIL: $fails of $cases case(s)"; exit 1; }
echo "PASS: $cases cases"

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# secure.sh BIN POLICY -- under secure execution (a setuid program), every TIERMALLOC_*
# variable is ignored: the same binary loads the policy when run plainly, not when setuid.
set -u
bin=$1 policy=$2
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to make a setuid copy"; exit 77; }
dir=$(mktemp -d "$(dirname "$bin")/secure.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
cp "$bin" "$dir/plain" && cp "$bin" "$dir/suid" && chown nobody "$dir/suid" && chmod 4755 "$dir/suid" || exit 1
chmod 755 "$dir"
export TIERMALLOC_POLICY=$policy TIERMALLOC_STRICT=1 TIERMALLOC_RULES='size>=1:near' TIERMALLOC_LOG=debug
plain=$("$dir/plain") || { echo "FAIL: plain run"; exit 1; }
suid=$("$dir/suid") || { echo "FAIL: setuid run"; exit 1; }
echo "plain: $plain"
echo "setuid: $suid"
[ "$plain" = "secure=0 tier1=near" ] || { echo "FAIL: the plain run should load the policy"; exit 1; }
case "$suid" in
  "secure=1 tier1=(none)") echo PASS ;;
  secure=0*) echo "SKIP: this filesystem ignores the setuid bit (nosuid)"; exit 77 ;;
  *) echo "FAIL: a setuid program must ignore TIERMALLOC_*"; exit 1 ;;
esac

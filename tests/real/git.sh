#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/real/git.sh LIBTIERMALLOC POLICY [PROJECT_SRC] -- git (and the shell tools around it, all
# preloaded in the second run) builds a repository of a few hundred generated files over
# several commits (plus a 6 MB file), then log/diff/gc/fsck/archive; the transcript must be
# byte-identical plain and preloaded (fixed dates, identities, no user or system config).
# With PROJECT_SRC (a git checkout): also a clone of its history, log -p, blame, gc
# --aggressive, fsck, archive -- identical too.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

GIT=$(command -v git) || skip "git is not installed"
SRC=${3:+$(readlink -f "$3")}
echo "git: $GIT ($("$GIT" --version)), policy $TM_POLICY"
cd "$TM_TMP" || fail "cd $TM_TMP"
mkdir home

cat >scenario.sh <<'SCENARIO'
set -eu
export HOME=$PWD/home GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
export GIT_AUTHOR_NAME="A U Thor" GIT_AUTHOR_EMAIL=author@example.com
export GIT_COMMITTER_NAME="C O Mitter" GIT_COMMITTER_EMAIL=committer@example.com
mkdir "$TM_RUN"; cd "$TM_RUN"
git init -q -b main repo; cd repo
git config pack.threads 1          # delta search order, hence pack contents, deterministic
git config gc.auto 0
gen() {  # gen ROUND: (re)writes files, deterministic content
  mkdir -p dir00 dir01 dir02 dir03 dir04 dir05 dir06 dir07 dir08 dir09 dir10 dir11 dir12 dir13 dir14 dir15 dir16
  awk -v r="$1" 'BEGIN {
    x = 12345 + r * 7
    for (f = 0; f < 300; f++) {
      if (r > 0 && (f + r) % 4 != 0) continue
      name = sprintf("dir%02d/file%03d.txt", f % 17, f)
      n = 20 + (f * 37 + r * 11) % 200
      for (l = 0; l < n; l++) {
        x = (x * 16807) % 2147483647
        printf "%s line %d of round %d: %d %08x\n", name, l, r, x % 100000, int(x / 8) > name
      }
      close(name)
    }
  }'
}
for r in 0 1 2 3 4 5; do
  gen $r
  if [ $r = 3 ]; then  # a big file: zlib and delta buffers of several MiB
    awk 'BEGIN { x = 7; for (i = 0; i < 120000; i++) { x = (x * 16807) % 2147483647; printf "%09d %s\n", x, (i % 3 ? "abcdefghij" : "0123456789abcdefghijklmnopqrstuvwxyz") } }' >big.dat
  fi
  if [ $r = 5 ]; then git rm -q -r -f dir03; sed -i 's/round 0/ROUND 0/' big.dat; fi
  git add -A
  d="2024-05-0$((r + 1))T12:00:00Z"
  GIT_AUTHOR_DATE=$d GIT_COMMITTER_DATE=$d git commit -q -m "round $r" -m "$(git status --porcelain | wc -l) paths"
  [ $r = 2 ] && GIT_COMMITTER_DATE=$d git tag -a -m "tag at round 2" v0.2
done
echo "== log"; git log --stat --format='%H %an %ad %s%n%b' --date=iso-strict
echo "== log -p"; git log -p --format=%H | sha256sum
echo "== diff"; git diff --stat v0.2 HEAD | tail -3; git diff v0.2 HEAD | sha256sum
echo "== ls-tree"; git ls-tree -r -l HEAD | sha256sum; git ls-tree -r HEAD | wc -l
echo "== blame"; git blame -s --abbrev=12 dir00/file000.txt | sha256sum
echo "== grep"; git grep -c 'round 4' HEAD -- dir01 | head -5
echo "== count before gc"; git count-objects -v | grep -v -e '^size' -e '^size-pack'
echo "== gc"; git gc -q --prune=now
git count-objects -v | grep -e '^count' -e '^in-pack' -e '^packs'
git verify-pack -v .git/objects/pack/pack-*.idx | grep -v -e '^non delta' -e '^chain length' | awk '{print $1, $2, $3}' | sort | sha256sum
echo "== fsck"; git fsck --full --strict --no-progress 2>&1; echo "fsck status $?"
echo "== rev-list"; git rev-list --objects --all | sort | sha256sum
echo "== archive"; git archive --format=tar HEAD | sha256sum
echo "== repack"; git repack -a -d -q -f --window=50 && git fsck --no-progress && echo repacked
echo "== show"; git show --format=%H:%s -s v0.2 HEAD~1
SCENARIO
run_both git bash scenario.sh
check_tier git far 1

# A real repository: this project's history (a bundle of HEAD, made plainly, so both runs
# see the same snapshot) cloned, logged, diffed, garbage-collected, checked.
if [ -n "$SRC" ] && git -C "$SRC" rev-parse HEAD >/dev/null 2>&1; then
  env -u LD_PRELOAD git -C "$SRC" bundle create -q "$TM_TMP/project.bundle" HEAD 2>/dev/null ||
    fail "cannot bundle $SRC"
  cat >clone.sh <<'SCENARIO'
set -eu
export HOME=$PWD/home GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
mkdir "$TM_RUN-clone"; cd "$TM_RUN-clone"
git clone -q ../project.bundle repo; cd repo
git config pack.threads 1; git config gc.auto 0
echo "== commits"; git rev-list --count HEAD
echo "== log"; git log --stat --format='%H %an %ad %s' | sha256sum
echo "== log -p"; git log -p --format=%H | sha256sum
echo "== blame"; git blame -s README.md | sha256sum
echo "== shortlog"; git shortlog -s -n HEAD | sha256sum
echo "== diff root..HEAD"; git diff --stat "$(git rev-list --max-parents=0 HEAD | tail -1)" HEAD | tail -1
echo "== gc"; git gc -q --prune=now --aggressive
git verify-pack -v .git/objects/pack/pack-*.idx | grep -v -e '^non delta' -e '^chain length' | awk '{print $1, $2, $3}' | sort | sha256sum
echo "== fsck"; git fsck --full --strict --no-progress 2>&1; echo "fsck status $?"
echo "== archive"; git archive --format=tar HEAD | sha256sum
SCENARIO
  run_both git-clone bash clone.sh
  check_tier git-clone near 1
fi
echo "PASS"

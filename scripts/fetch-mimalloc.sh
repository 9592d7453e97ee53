#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Fetch Debian 12's mimalloc source package into DEST (a folder of the build tree).
# tiermalloc links mimalloc statically with its malloc override switched off, so that
# libtiermalloc.so alone owns the libc symbols; Debian ships only the shared, overriding
# build, hence the source package.  Nothing fetched here is committed.
set -euo pipefail
dest=${1:?usage: fetch-mimalloc.sh DEST}
[ -f "$dest/src/arena.c" ] && exit 0
sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
if ! grep -rqs '^Types:.*deb-src\|^deb-src' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  echo "tiermalloc: adding a deb-src entry for Debian's source packages" >&2
  $sudo tee /etc/apt/sources.list.d/tiermalloc-deb-src.sources >/dev/null <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  $sudo apt-get update -qq
fi
command -v dpkg-source >/dev/null || $sudo apt-get install -y -qq dpkg-dev >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
( cd "$tmp" && apt-get source -qq mimalloc=2.0.9+ds-2 2>/dev/null || apt-get source -qq mimalloc ) >/dev/null
src=$(find "$tmp" -maxdepth 1 -type d -name 'mimalloc-*' | head -n1)
[ -n "$src" ] || { echo "tiermalloc: could not fetch mimalloc's source package" >&2; exit 1; }
mkdir -p "$(dirname "$dest")"
rm -rf "$dest"
mv "$src" "$dest"

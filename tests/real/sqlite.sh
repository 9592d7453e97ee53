#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/real/sqlite.sh LIBTIERMALLOC POLICY -- sqlite3 (the shell, unchanged) runs
# sqlite.sql on a fresh database file, plain and preloaded: identical output; then the two
# database files are dumped (plainly) and compared too.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

SQLITE=$(command -v sqlite3) || skip "sqlite3 is not installed"
echo "sqlite3: $SQLITE ($("$SQLITE" --version | cut -d' ' -f1)), policy $TM_POLICY"
cd "$TM_TMP" || fail "cd $TM_TMP"
# Each run gets its own directory ($TM_RUN) and the same relative database path.
run_both sqlite bash -c 'mkdir "$TM_RUN" && cd "$TM_RUN" && exec "$0" -batch -bail db.sqlite <"$1"' \
  "$SQLITE" "$TM_HERE/sqlite.sql"

# The databases the two runs wrote hold the same rows (dumped by a plain sqlite3).
for r in plain tm; do
  "$SQLITE" "$TM_TMP/$r/db.sqlite" 'PRAGMA integrity_check' >"$TM_TMP/check.$r" || fail "cannot open the $r database"
  [ "$(cat "$TM_TMP/check.$r")" = ok ] || fail "integrity_check of the $r database: $(head -3 "$TM_TMP/check.$r")"
  "$SQLITE" "$TM_TMP/$r/db.sqlite" .dump | sha256sum >"$TM_TMP/dump.$r" || fail "cannot dump the $r database"
done
cmp -s "$TM_TMP/dump.plain" "$TM_TMP/dump.tm" || fail "the database written under tiermalloc differs (.dump)"
echo "  sqlite: database dumps identical ($(cut -c1-16 "$TM_TMP/dump.plain")), integrity_check ok"
check_tier sqlite far 1
echo "PASS"

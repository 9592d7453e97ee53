#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/real/sqlite-big.sh LIBTIERMALLOC POLICY -- (policies/sqlite-spread.yaml) sqlite3 builds a database of more than
# 100 MB (420,000 rows, two indexes), queries it (grouping, a join, a big sort, a window
# function), updates and deletes, plain and preloaded: identical query results, and the two
# database files dump identically.  (scripts/reliability.sh; tests/real/sqlite.sh is the
# short form in the default suite.)
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
SQLITE=$(command -v sqlite3) || skip "sqlite3 is not installed"
echo "sqlite3: $SQLITE ($("$SQLITE" --version | cut -d' ' -f1)), policy $TM_POLICY"
cd "$TM_TMP" || fail "cd $TM_TMP"
run_both sqlite-big bash -c 'mkdir "$TM_RUN" && cd "$TM_RUN" && exec "$0" -batch -bail big.sqlite <"$1"' \
  "$SQLITE" "$TM_HERE/sqlite-big.sql"
for r in plain tm; do
  echo "  sqlite-big: $r database $(stat -c %s "$TM_TMP/$r/big.sqlite") bytes"
  "$SQLITE" "$TM_TMP/$r/big.sqlite" .dump | sha256sum >"$TM_TMP/dump.$r" || fail "cannot dump the $r database"
done
[ "$(stat -c %s "$TM_TMP/tm/big.sqlite")" -ge 100000000 ] || fail "the database is smaller than 100 MB"
cmp -s "$TM_TMP/dump.plain" "$TM_TMP/dump.tm" || fail "the database written under tiermalloc differs (.dump)"
echo "  sqlite-big: database dumps identical ($(cut -c1-16 "$TM_TMP/dump.plain"))"
check_tier sqlite-big pages 100000
check_tier sqlite-big far 1
echo "PASS"

-- SPDX-License-Identifier: MIT
-- tests/real/sqlite.sql -- a deterministic sqlite3 workload: 200k rows with text blobs,
-- indexes (big external sorts), joins, aggregates, updates, deletes, VACUUM.
-- A 64 MiB page cache and in-memory temp store make sqlite3 take large blocks.
PRAGMA page_size = 4096;
PRAGMA cache_size = -65536;
PRAGMA temp_store = MEMORY;
PRAGMA journal_mode = MEMORY;
PRAGMA synchronous = OFF;

CREATE TABLE t (id INTEGER PRIMARY KEY, k INTEGER, grp TEXT, name TEXT, body TEXT, blob BLOB);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000)
INSERT INTO t (id, k, grp, name, body, blob)
SELECT x,
       (x * 2654435761) % 1000003,
       'g' || ((x * 7919) % 97),
       printf('name-%08d-%s', (x * 48271) % 2147483647, substr('abcdefghijklmnopqrstuvwxyz', 1 + x % 26, 1 + x % 7)),
       replace(hex(zeroblob(20 + (x * 31) % 180)), '00', char(97 + x % 26, 98 + x % 23)),
       zeroblob(16 + x % 128)
FROM c;

SELECT 'rows', count(*), sum(length(body)), sum(length(blob)), sum(k) FROM t;

CREATE INDEX t_k ON t (k);
CREATE INDEX t_grp_name ON t (grp, name);
CREATE INDEX t_body ON t (substr(body, 1, 40), id);

SELECT 'grp', grp, count(*), sum(k), min(name), max(name), sum(length(body))
FROM t GROUP BY grp ORDER BY grp;

SELECT 'top', id, k, name FROM t ORDER BY k DESC, id LIMIT 25;
SELECT 'range', count(*), sum(id) FROM t WHERE k BETWEEN 100000 AND 200000;
SELECT 'like', count(*) FROM t WHERE name LIKE 'name-0001%';
SELECT 'join', count(*), sum(a.id % 1000 + b.id % 1000)
FROM t a JOIN t b ON a.k = b.k AND a.id < b.id;
SELECT 'distinct', count(DISTINCT substr(body, 1, 6)), count(DISTINCT grp) FROM t;
SELECT 'window', grp, id, rnk FROM (
  SELECT grp, id, rank() OVER (PARTITION BY grp ORDER BY k DESC, id) AS rnk FROM t)
WHERE rnk <= 2 ORDER BY grp, rnk;

-- a sort too big for the cache in one piece, and group_concat of megabytes
SELECT 'sorted', sum(length(s)), substr(s, 1, 60) FROM (
  SELECT group_concat(name, ',') AS s FROM (SELECT name FROM t ORDER BY body, name));

UPDATE t SET body = body || upper(substr(body, 1, 50)), k = (k * 3) % 1000003 WHERE id % 3 = 0;
DELETE FROM t WHERE id % 5 = 0;
SELECT 'after', count(*), sum(length(body)), sum(k) FROM t;
VACUUM;
PRAGMA integrity_check;
SELECT 'final', grp, count(*), sum(k), hex(substr(max(body), 1, 8)) FROM t GROUP BY grp ORDER BY grp LIMIT 10;

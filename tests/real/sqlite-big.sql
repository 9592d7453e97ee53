-- tests/real/sqlite-big.sql: a database of more than 100 MB built and queried by sqlite3
-- (deterministic contents: no random functions).  A 256 MiB page cache and in-memory
-- temporary b-trees make sqlite3 allocate large blocks.
PRAGMA page_size = 4096;
PRAGMA cache_size = -262144;
PRAGMA temp_store = MEMORY;
PRAGMA journal_mode = OFF;
PRAGMA synchronous = OFF;
CREATE TABLE item(id INTEGER PRIMARY KEY, grp INTEGER, name TEXT, payload TEXT, score REAL);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 420000)
INSERT INTO item
SELECT i, (i * 7919) % 1009, printf('item-%07d-%s', (i * 104729) % 1000003, char(65 + i % 26, 97 + i % 23)),
       replace(hex(zeroblob(100 + i % 57)), '00', char(65 + i % 26) || char(48 + i % 10)),
       ((i * 2654435761) % 1000000) / 1000.0
FROM c;
CREATE INDEX item_grp ON item(grp, score);
CREATE INDEX item_name ON item(name);
CREATE TABLE grp(id INTEGER PRIMARY KEY, label TEXT);
WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < 1008)
INSERT INTO grp SELECT i, 'group ' || i FROM c;
SELECT 'pages', page_count * page_size >= 100 * 1000 * 1000 FROM pragma_page_count(), pragma_page_size();
SELECT 'rows', count(*), sum(length(payload)), total(score) FROM item;
SELECT 'groups', grp, count(*), round(avg(score), 6), min(name), max(name) FROM item GROUP BY grp ORDER BY count(*) DESC, grp LIMIT 5;
SELECT 'join', g.label, count(*), sum(length(i.payload)) FROM item i JOIN grp g ON g.id = i.grp
  WHERE i.score BETWEEN 100 AND 120 GROUP BY g.id ORDER BY 3 DESC, 1 LIMIT 5;
SELECT 'sorted', id, name FROM item ORDER BY payload DESC, name LIMIT 3 OFFSET 200000;
SELECT 'window', id, rank FROM (SELECT id, rank() OVER (PARTITION BY grp ORDER BY score DESC, id) AS rank FROM item)
  WHERE rank = 1 ORDER BY id LIMIT 5;
SELECT 'distinct', count(DISTINCT substr(payload, 1, 30)), count(DISTINCT name) FROM item;
UPDATE item SET payload = payload || payload WHERE id % 5 = 0;
DELETE FROM item WHERE id % 11 = 0;
SELECT 'after', count(*), sum(length(payload)) FROM item;
SELECT 'check', * FROM pragma_integrity_check;

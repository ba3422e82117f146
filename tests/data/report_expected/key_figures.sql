-- key_figures.sql: the key figures of index.html, one query per group; each
-- returns one row, each column is one figure. Parameters: :run, :min (see any
-- plot's .sql for the values per series).

SELECT COUNT(*) AS "nodes" FROM nodes WHERE run_id = :run;

SELECT COUNT(*) AS "connection ends opened",
       COALESCE(SUM(closed_ns IS NULL), 0) AS "connection ends open at the end"
FROM connections WHERE run_id = :run;

WITH final AS (
  SELECT n.node, COUNT(c.node) AS degree
  FROM nodes n LEFT JOIN connections c
    ON c.run_id = n.run_id AND c.node = n.node AND c.closed_ns IS NULL
  WHERE n.run_id = :run GROUP BY n.node
), ranked AS (
  SELECT degree, ROW_NUMBER() OVER (ORDER BY degree) AS k, COUNT(*) OVER () AS n
  FROM final
)
SELECT MIN(degree) AS "final degree min",
       MIN(CASE WHEN k * 2 >= n THEN degree END) AS "final degree median",
       MAX(degree) AS "final degree max"
FROM ranked;

WITH ends AS (
  SELECT node, opened_ns AS t, +1 AS d FROM connections WHERE run_id = :run
  UNION ALL
  SELECT node, closed_ns, -1 FROM connections
  WHERE run_id = :run AND closed_ns IS NOT NULL
), degree AS (
  SELECT node, t, SUM(d) OVER (PARTITION BY node ORDER BY t, d
                               ROWS UNBOUNDED PRECEDING) AS degree
  FROM ends
), starts AS (
  SELECT node, time_ns AS s FROM events
  WHERE run_id = :run AND kind = 'node_started'
  UNION ALL
  SELECT n.node, n.created_ns FROM nodes n WHERE n.run_id = :run AND NOT EXISTS
    (SELECT 1 FROM events e WHERE e.run_id = :run AND e.kind = 'node_started'
     AND e.node = n.node)
), spans AS (
  SELECT node, s, LEAD(s) OVER (PARTITION BY node ORDER BY s) AS next_s FROM starts
), reached AS (
  SELECT sp.node, MIN(d.t) - sp.s AS t_ns
  FROM spans sp JOIN degree d ON d.node = sp.node AND d.t >= sp.s
    AND (sp.next_s IS NULL OR d.t < sp.next_s)
  WHERE d.degree >= :min GROUP BY sp.node, sp.s
), total AS (
  SELECT COUNT(*) AS n FROM spans
), ranked AS (
  SELECT t_ns, ROW_NUMBER() OVER (ORDER BY t_ns, node) AS k FROM reached
)
SELECT :min AS "min connections",
       (SELECT COUNT(*) FROM reached) AS "nodes reaching min",
       ROUND(MIN(CASE WHEN k * 100 >= total.n * 50 THEN t_ns END) / 1e9, 3)
         AS "50% of nodes at min (s)",
       ROUND(MIN(CASE WHEN k * 100 >= total.n * 90 THEN t_ns END) / 1e9, 3)
         AS "90% of nodes at min (s)",
       ROUND(MIN(CASE WHEN k >= total.n THEN t_ns END) / 1e9, 3)
         AS "all nodes at min (s)"
FROM ranked, total;

SELECT (SELECT value FROM samples WHERE run_id = :run AND metric = 'components'
        AND node IS NULL ORDER BY time_ns DESC LIMIT 1) AS "components at the end",
       (SELECT MAX(value) FROM samples WHERE run_id = :run
        AND metric = 'components' AND node IS NULL AND time_ns >=
          (SELECT MAX(created_ns) FROM nodes WHERE run_id = :run))
         AS "components max after the last node joined";

WITH ranked AS (
  SELECT delay_ns, ROW_NUMBER() OVER (ORDER BY delay_ns) AS k, COUNT(*) OVER () AS n
  FROM deliveries WHERE run_id = :run
)
SELECT (SELECT COUNT(DISTINCT message) FROM deliveries WHERE run_id = :run)
         AS "messages",
       COUNT(*) AS "deliveries",
       ROUND(MIN(CASE WHEN k * 100 >= n * 50 THEN delay_ns END) / 1e6, 3)
         AS "delivery delay p50 (ms)",
       ROUND(MIN(CASE WHEN k * 100 >= n * 99 THEN delay_ns END) / 1e6, 3)
         AS "delivery delay p99 (ms)"
FROM ranked;

WITH receivers AS (SELECT COUNT(*) - 1 AS n FROM nodes WHERE run_id = :run),
ranked AS (
  SELECT message, delay_ns,
         ROW_NUMBER() OVER (PARTITION BY message ORDER BY delay_ns) AS k
  FROM deliveries WHERE run_id = :run
), t99 AS (
  SELECT message, MIN(delay_ns) AS t99_ns
  FROM ranked, receivers WHERE k >= (receivers.n * 99 + 99) / 100
  GROUP BY message
), ordered AS (
  SELECT t99_ns, ROW_NUMBER() OVER (ORDER BY t99_ns) AS k, COUNT(*) OVER () AS n
  FROM t99
)
SELECT COUNT(*) AS "messages reaching 99% of nodes",
       ROUND(MIN(CASE WHEN k * 100 >= n * 50 THEN t99_ns END) / 1e6, 3)
         AS "time to 99% p50 (ms)",
       ROUND(MIN(CASE WHEN k * 100 >= n * 99 THEN t99_ns END) / 1e6, 3)
         AS "time to 99% p99 (ms)"
FROM ordered;

WITH b AS (
  SELECT block, 'block:' || block AS message, nodes_running AS n,
         bytes_useful, bytes_duplicate
  FROM blocks WHERE run_id = :run
), ranked AS (
  SELECT message, delay_ns,
         ROW_NUMBER() OVER (PARTITION BY message ORDER BY delay_ns) + 1 AS k
  FROM deliveries WHERE run_id = :run AND message LIKE 'block:%'
), per_block AS (
  SELECT b.block,
    CASE WHEN (b.n * 50 + 99) / 100 <= 1 THEN 0 ELSE
      MIN(CASE WHEN r.k >= (b.n * 50 + 99) / 100 THEN r.delay_ns END) / 1e6 END AS t50_ms,
    CASE WHEN (b.n * 90 + 99) / 100 <= 1 THEN 0 ELSE
      MIN(CASE WHEN r.k >= (b.n * 90 + 99) / 100 THEN r.delay_ns END) / 1e6 END AS t90_ms,
    CASE WHEN (b.n * 99 + 99) / 100 <= 1 THEN 0 ELSE
      MIN(CASE WHEN r.k >= (b.n * 99 + 99) / 100 THEN r.delay_ns END) / 1e6 END AS t99_ms,
    CASE WHEN b.n <= 1 THEN 0 ELSE
      MIN(CASE WHEN r.k >= b.n THEN r.delay_ns END) / 1e6 END AS t100_ms,
    b.bytes_useful / 1e3 AS useful_kB, b.bytes_duplicate / 1e3 AS duplicate_kB
  FROM b LEFT JOIN ranked r ON r.message = b.message
  GROUP BY b.block
)
SELECT COUNT(*) AS "blocks",
       COALESCE(SUM(t100_ms IS NOT NULL), 0) AS "blocks reaching every running node",
       ROUND(AVG(t50_ms), 1) AS "block to 50% of nodes, mean (ms)",
       ROUND(AVG(t90_ms), 1) AS "block to 90% of nodes, mean (ms)",
       ROUND(AVG(t99_ms), 1) AS "block to 99% of nodes, mean (ms)",
       ROUND(AVG(t100_ms), 1) AS "block to 100% of nodes, mean (ms)",
       ROUND(AVG(useful_kB), 1) AS "useful kB received per block",
       ROUND(AVG(duplicate_kB), 1) AS "duplicate kB received per block"
FROM per_block;

SELECT COALESCE(SUM(kind IN ('greylist_ip', 'greylist_peer')), 0) AS "greylistings",
       COALESCE(SUM(kind = 'ban'), 0) AS "bans"
FROM events WHERE run_id = :run AND kind IN ('greylist_ip', 'greylist_peer', 'ban');

SELECT COALESCE(SUM(passed = 1), 0) AS "checks passed",
       COALESCE(SUM(passed = 0), 0) AS "checks failed"
FROM assertions WHERE run_id = :run;

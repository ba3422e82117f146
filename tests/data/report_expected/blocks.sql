-- blocks.sql: block propagation: time to 50 / 90 / 99 / 100 % of the nodes
-- The query behind the plot, as run by `tidepool report` for each series.
-- Parameters per series (sqlite3 shell: -cmd ".parameter set :run 1" ...):
--   series 1 (fixture.db #1 seed 1 min_conn=2 nodes=5): :run = 1, :buckets = 20, :width = 500000000, :delay_width = 10000000, :min = 2
--   series 2 (fixture.db #2 seed 2 min_conn=1 nodes=3): :run = 2, :buckets = 20, :width = 150000000, :delay_width = 1, :min = 1

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
SELECT block, t50_ms, t90_ms, t99_ms, t100_ms, useful_kB, duplicate_kB
FROM per_block ORDER BY block;

-- and, for this plot:
-- the axis clip (the p99.9) and the times beyond it:
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
, v AS (
  SELECT t50_ms AS ms FROM per_block UNION ALL SELECT t90_ms FROM per_block
  UNION ALL SELECT t99_ms FROM per_block UNION ALL SELECT t100_ms FROM per_block
)
, vranked AS (
  SELECT ms, ROW_NUMBER() OVER (ORDER BY ms) AS k, COUNT(*) OVER () AS n
  FROM v WHERE ms IS NOT NULL
)
SELECT MIN(CASE WHEN k * 1000 >= n * 999 THEN ms END) AS p999_ms FROM vranked;
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
, v AS (
  SELECT t50_ms AS ms FROM per_block UNION ALL SELECT t90_ms FROM per_block
  UNION ALL SELECT t99_ms FROM per_block UNION ALL SELECT t100_ms FROM per_block
)
SELECT COUNT(*) AS beyond, MAX(ms) AS latest_ms FROM v WHERE ms > :clip;

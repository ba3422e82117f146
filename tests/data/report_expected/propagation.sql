-- propagation.sql: propagation delay CDF
-- The query behind the plot, as run by `tidepool report` for each series.
-- Parameters per series (sqlite3 shell: -cmd ".parameter set :run 1" ...):
--   series 1 (fixture.db #1 seed 1 min_conn=2 nodes=5): :run = 1, :buckets = 20, :width = 500000000, :delay_width = 10000000, :min = 2
--   series 2 (fixture.db #2 seed 2 min_conn=1 nodes=3): :run = 2, :buckets = 20, :width = 150000000, :delay_width = 1, :min = 1

WITH ranked AS (
  SELECT delay_ns, ROW_NUMBER() OVER (ORDER BY delay_ns) AS k,
         COUNT(*) OVER () AS n
  FROM deliveries WHERE run_id = :run
)
SELECT delay_ns / 1e6 AS delay_ms, k * 1.0 / n AS fraction_of_deliveries
FROM ranked WHERE k % MAX(1, n / :buckets) = 0 OR k = 1 OR k = n ORDER BY k;

-- and, for this plot:
-- the axis clip (the p99.9) and the deliveries beyond it:
WITH ranked AS (
  SELECT delay_ns, ROW_NUMBER() OVER (ORDER BY delay_ns) AS k,
         COUNT(*) OVER () AS n
  FROM deliveries WHERE run_id = :run
)
SELECT MIN(CASE WHEN k * 1000 >= n * 999 THEN delay_ns END) / 1e6 AS p999_ms
FROM ranked;
SELECT COUNT(*) AS beyond, MAX(delay_ns) / 1e6 AS latest_ms FROM deliveries
WHERE run_id = :run AND delay_ns / 1e6 > :clip;

-- coverage.sql: broadcast coverage over time
-- The query behind the plot, as run by `tidepool report` for each series.
-- Parameters per series (sqlite3 shell: -cmd ".parameter set :run 1" ...):
--   series 1 (fixture.db #1 seed 1 min_conn=2 nodes=5): :run = 1, :buckets = 20, :width = 500000000, :delay_width = 10000000, :min = 2
--   series 2 (fixture.db #2 seed 2 min_conn=1 nodes=3): :run = 2, :buckets = 20, :width = 150000000, :delay_width = 1, :min = 1

WITH receivers AS (SELECT MAX(1, COUNT(*) - 1) AS n FROM nodes WHERE run_id = :run),
messages AS (SELECT COUNT(DISTINCT message) AS m FROM deliveries WHERE run_id = :run),
per_bucket AS (
  SELECT MIN(:buckets - 1, delay_ns / :delay_width) AS bucket, COUNT(*) AS c
  FROM deliveries WHERE run_id = :run GROUP BY bucket
)
SELECT (bucket + 1) * :delay_width / 1e6 AS ms_since_sent,
       SUM(c) OVER (ORDER BY bucket ROWS UNBOUNDED PRECEDING) * 1.0
         / (receivers.n * messages.m) AS mean_coverage
FROM per_bucket, receivers, messages ORDER BY bucket;

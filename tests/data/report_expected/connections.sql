-- connections.sql: connections per node over time (median, p5-p95 band)
-- The query behind the plot, as run by `tidepool report` for each series.
-- Parameters per series (sqlite3 shell: -cmd ".parameter set :run 1" ...):
--   series 1 (fixture.db #1 seed 1 min_conn=2 nodes=5): :run = 1, :buckets = 20, :width = 500000000, :delay_width = 10000000, :min = 2
--   series 2 (fixture.db #2 seed 2 min_conn=1 nodes=3): :run = 2, :buckets = 20, :width = 150000000, :delay_width = 1, :min = 1

WITH ends AS (
  SELECT node, opened_ns AS t, 1 AS d FROM connections WHERE run_id = :run
  UNION ALL
  SELECT node, closed_ns, -1 FROM connections
  WHERE run_id = :run AND closed_ns IS NOT NULL
)
SELECT MIN(:buckets - 1, t / :width) AS bucket, node, SUM(d) AS degree_change
FROM ends GROUP BY bucket, node HAVING SUM(d) <> 0
ORDER BY bucket, node;

-- and, for this plot:
SELECT node, MIN(:buckets - 1, created_ns / :width) AS created_bucket
FROM nodes WHERE run_id = :run ORDER BY node;

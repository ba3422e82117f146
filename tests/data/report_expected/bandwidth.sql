-- bandwidth.sql: bandwidth in and out (all nodes)
-- The query behind the plot, as run by `tidepool report` for each series.
-- Parameters per series (sqlite3 shell: -cmd ".parameter set :run 1" ...):
--   series 1 (fixture.db #1 seed 1 min_conn=2 nodes=5): :run = 1, :buckets = 20, :width = 500000000, :delay_width = 10000000, :min = 2
--   series 2 (fixture.db #2 seed 2 min_conn=1 nodes=3): :run = 2, :buckets = 20, :width = 150000000, :delay_width = 1, :min = 1

WITH per_node AS (
  SELECT MIN(:buckets - 1, time_ns / :width) AS bucket, node, metric,
         MAX(time_ns) AS t, MAX(value) AS v
  FROM samples WHERE run_id = :run AND metric IN ('bytes_in', 'bytes_out')
  GROUP BY bucket, node, metric
), total AS (
  SELECT bucket, MAX(t) AS t,
         SUM(CASE WHEN metric = 'bytes_in' THEN v ELSE 0 END) AS b_in,
         SUM(CASE WHEN metric = 'bytes_out' THEN v ELSE 0 END) AS b_out
  FROM per_node GROUP BY bucket
)
SELECT t / 1e9 AS seconds,
       MAX(0, b_in - LAG(b_in, 1, 0) OVER w) / ((t - LAG(t, 1, 0) OVER w) / 1e9)
         AS in_bytes_per_s,
       MAX(0, b_out - LAG(b_out, 1, 0) OVER w) / ((t - LAG(t, 1, 0) OVER w) / 1e9)
         AS out_bytes_per_s
FROM total WINDOW w AS (ORDER BY bucket) ORDER BY bucket;

-- bootstrap.sql: time to bootstrap (min connections) CDF
-- The query behind the plot, as run by `tidepool report` for each series.
-- Parameters per series (sqlite3 shell: -cmd ".parameter set :run 1" ...):
--   series 1 (fixture.db #1 seed 1 min_conn=2 nodes=5): :run = 1, :buckets = 20, :width = 500000000, :delay_width = 10000000, :min = 2
--   series 2 (fixture.db #2 seed 2 min_conn=1 nodes=3): :run = 2, :buckets = 20, :width = 150000000, :delay_width = 1, :min = 1

WITH ends AS (
  SELECT node, opened_ns AS t, +1 AS d FROM connections WHERE run_id = :run
  UNION ALL
  SELECT node, closed_ns, -1 FROM connections
  WHERE run_id = :run AND closed_ns IS NOT NULL
), degree AS (
  SELECT node, t, SUM(d) OVER (PARTITION BY node ORDER BY t, d
                               ROWS UNBOUNDED PRECEDING) AS degree
  FROM ends
), reached AS (
  SELECT d.node, MIN(d.t) - n.created_ns AS t_ns
  FROM degree d JOIN nodes n ON n.run_id = :run AND n.node = d.node
  WHERE d.degree >= :min GROUP BY d.node
), cdf AS (
  SELECT t_ns, ROW_NUMBER() OVER (ORDER BY t_ns, node) AS k,
         COUNT(*) OVER () AS n
  FROM reached
)
SELECT t_ns / 1e9 AS seconds,
       k * 1.0 / (SELECT COUNT(*) FROM nodes WHERE run_id = :run) AS fraction_of_nodes
FROM cdf WHERE k % MAX(1, n / :buckets) = 0 OR k = 1 OR k = n ORDER BY k;

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
), cdf AS (
  SELECT t_ns, ROW_NUMBER() OVER (ORDER BY t_ns, node) AS k,
         COUNT(*) OVER () AS n
  FROM reached
)
SELECT t_ns / 1e9 AS seconds,
       k * 1.0 / (SELECT COUNT(*) FROM spans) AS fraction_of_nodes
FROM cdf WHERE k % MAX(1, n / :buckets) = 0 OR k = 1 OR k = n ORDER BY k;

-- degree.sql: degree histogram at the end
-- The query behind the plot, as run by `tidepool report` for each series.
-- Parameters per series (sqlite3 shell: -cmd ".parameter set :run 1" ...):
--   series 1 (fixture.db #1 seed 1 min_conn=2 nodes=5): :run = 1, :buckets = 20, :width = 500000000, :delay_width = 10000000, :min = 2
--   series 2 (fixture.db #2 seed 2 min_conn=1 nodes=3): :run = 2, :buckets = 20, :width = 150000000, :delay_width = 1, :min = 1

WITH final AS (
  SELECT n.node, COUNT(c.node) AS degree
  FROM nodes n LEFT JOIN connections c
    ON c.run_id = n.run_id AND c.node = n.node AND c.closed_ns IS NULL
  WHERE n.run_id = :run GROUP BY n.node
)
SELECT degree, COUNT(*) AS nodes,
       COUNT(*) * 1.0 / SUM(COUNT(*)) OVER () AS fraction_of_nodes
FROM final GROUP BY degree ORDER BY degree;

-- components.sql: connected components over time
-- The query behind the plot, as run by `tidepool report` for each series.
-- Parameters per series (sqlite3 shell: -cmd ".parameter set :run 1" ...):
--   series 1 (fixture.db #1 seed 1 min_conn=2 nodes=5): :run = 1, :buckets = 20, :width = 500000000, :delay_width = 10000000, :min = 2
--   series 2 (fixture.db #2 seed 2 min_conn=1 nodes=3): :run = 2, :buckets = 20, :width = 150000000, :delay_width = 1, :min = 1

SELECT MIN(time_ns) / 1e9 AS seconds, MAX(value) AS components_max,
       MIN(value) AS components_min
FROM samples WHERE run_id = :run AND metric = 'components' AND node IS NULL
GROUP BY MIN(:buckets - 1, time_ns / :width) ORDER BY 1;

-- and, for this plot:
SELECT time_ns, value FROM samples
WHERE run_id = :run AND metric = 'fault_active' AND node IS NULL
ORDER BY time_ns;

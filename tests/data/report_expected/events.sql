-- events.sql: event kinds over time
-- The query behind the plot, as run by `tidepool report` for each series.
-- Parameters per series (sqlite3 shell: -cmd ".parameter set :run 1" ...):
--   series 1 (fixture.db #1 seed 1 min_conn=2 nodes=5): :run = 1, :buckets = 20, :width = 500000000, :delay_width = 10000000, :min = 2
--   series 2 (fixture.db #2 seed 2 min_conn=1 nodes=3): :run = 2, :buckets = 20, :width = 150000000, :delay_width = 1, :min = 1

SELECT MIN(:buckets - 1, time_ns / :width) AS bucket, kind, COUNT(*) AS events
FROM events WHERE run_id = :run GROUP BY bucket, kind ORDER BY bucket, kind;

-- and, for this plot:
SELECT kind, COUNT(*) AS events FROM events WHERE run_id = :run
GROUP BY kind ORDER BY COUNT(*) DESC, kind;

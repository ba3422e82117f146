-- acl.sql: greylist and ban counts (cumulative)
-- The query behind the plot, as run by `tidepool report` for each series.
-- Parameters per series (sqlite3 shell: -cmd ".parameter set :run 1" ...):
--   series 1 (fixture.db #1 seed 1 min_conn=2 nodes=5): :run = 1, :buckets = 20, :width = 500000000, :delay_width = 10000000, :min = 2
--   series 2 (fixture.db #2 seed 2 min_conn=1 nodes=3): :run = 2, :buckets = 20, :width = 150000000, :delay_width = 1, :min = 1

WITH per_bucket AS (
  SELECT MIN(:buckets - 1, time_ns / :width) AS bucket,
         SUM(kind = 'greylist_ip') AS greylist_ip,
         SUM(kind = 'greylist_peer') AS greylist_peer, SUM(kind = 'ban') AS ban
  FROM events WHERE run_id = :run AND kind IN ('greylist_ip', 'greylist_peer', 'ban')
  GROUP BY bucket
), cumulative AS (
  SELECT bucket, SUM(greylist_ip) OVER w AS greylist_ip,
         SUM(greylist_peer) OVER w AS greylist_peer, SUM(ban) OVER w AS ban
  FROM per_bucket WINDOW w AS (ORDER BY bucket ROWS UNBOUNDED PRECEDING)
)
SELECT 0.0 AS seconds, 0 AS greylist_ip, 0 AS greylist_peer, 0 AS ban
WHERE EXISTS (SELECT 1 FROM per_bucket)
UNION ALL
SELECT (bucket + 1) * :width / 1e9, greylist_ip, greylist_peer, ban FROM cumulative
UNION ALL
SELECT :buckets * :width / 1e9, greylist_ip, greylist_peer, ban FROM cumulative
WHERE bucket = (SELECT MAX(bucket) FROM cumulative) AND bucket < :buckets - 1
ORDER BY 1;

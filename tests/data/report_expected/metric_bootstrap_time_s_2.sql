-- metric_bootstrap_time_s_2.sql: the sample() metric 'bootstrap_time_s' (summary: last)
-- Parameters: :run, :metric = 'bootstrap_time_s', :buckets = 20, :width per series (see any plot's .sql).

-- The key figure (global samples):
SELECT value FROM samples WHERE run_id = :run AND metric = :metric AND node IS NULL ORDER BY time_ns DESC, rowid DESC LIMIT 1;

-- The plot: the last value in each time bucket.
SELECT MAX(time_ns) / 1e9 AS seconds, value FROM samples
WHERE run_id = :run AND metric = :metric AND node IS NULL
GROUP BY MIN(:buckets - 1, time_ns / :width) ORDER BY 1;

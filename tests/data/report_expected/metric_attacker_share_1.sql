-- metric_attacker_share_1.sql: the sample() metric 'attacker_share' (summary: max, unit fraction)
-- Parameters: :run, :metric = 'attacker_share', :buckets = 20, :width per series (see any plot's .sql).

-- The key figure (global samples):
SELECT MAX(value) FROM samples WHERE run_id = :run AND metric = :metric AND node IS NULL;

-- The plot: the last value in each time bucket.
SELECT MAX(time_ns) / 1e9 AS seconds, value FROM samples
WHERE run_id = :run AND metric = :metric AND node IS NULL
GROUP BY MIN(:buckets - 1, time_ns / :width) ORDER BY 1;

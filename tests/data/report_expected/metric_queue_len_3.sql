-- metric_queue_len_3.sql: the sample() metric 'queue_len' (summary: time_to, threshold 3, unit msgs)
-- Parameters: :run, :metric = 'queue_len', :buckets = 20, :width per series (see any plot's .sql), :threshold.

-- The key figure (per-node samples): the median over the nodes of each
-- node's summary.
WITH per_node AS (
  SELECT s.node, MIN(CASE WHEN s.value >= :threshold THEN s.time_ns END) / 1e9 AS v FROM samples s
  WHERE s.run_id = :run AND s.metric = :metric AND s.node IS NOT NULL
  GROUP BY s.node
), ranked AS (
  SELECT v, ROW_NUMBER() OVER (ORDER BY v) AS k, COUNT(*) OVER () AS n
  FROM per_node WHERE v IS NOT NULL
)
SELECT (SELECT MIN(CASE WHEN k * 2 >= n THEN v END) FROM ranked) AS median,
       (SELECT COUNT(*) FROM ranked) AS nodes_with_value,
       (SELECT COUNT(*) FROM per_node) AS nodes;

-- The plot: per region and time bucket, the mean over the samples and
-- their min..max.
SELECT MIN(:buckets - 1, s.time_ns / :width) AS bucket, MAX(s.time_ns) / 1e9 AS seconds,
       COALESCE(g.name, 'region ' || h.region, 'no region') AS grp,
       AVG(s.value) AS mean, MIN(s.value) AS min, MAX(s.value) AS max,
       COUNT(DISTINCT s.node) AS nodes
FROM samples s
LEFT JOIN hosts h ON h.run_id = s.run_id AND h.host = s.node
LEFT JOIN regions g ON g.run_id = s.run_id AND g.region = h.region
WHERE s.run_id = :run AND s.metric = :metric AND s.node IS NOT NULL
GROUP BY grp, bucket ORDER BY grp, bucket;

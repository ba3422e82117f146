-- roles_bootstrap.sql: time to bootstrap (min connections) CDF, by role. Parameters: :run, :min, :buckets per series (see any plot's
-- .sql). A role: nodes.config "role", hostile nodes 'hostile', else 'node'.

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
), roles AS (SELECT node, COALESCE(json_extract(n.config, '$.role'), CASE WHEN n.kind LIKE 'hostile:%' THEN 'hostile' ELSE 'node' END) AS role FROM nodes n WHERE n.run_id = :run),
total AS (
  SELECT r.role, COUNT(*) AS n FROM spans sp JOIN roles r ON r.node = sp.node GROUP BY r.role
), cdf AS (
  SELECT r.role, re.t_ns,
         ROW_NUMBER() OVER (PARTITION BY r.role ORDER BY re.t_ns, re.node) AS k,
         COUNT(*) OVER (PARTITION BY r.role) AS cnt
  FROM reached re JOIN roles r ON r.node = re.node
)
SELECT cdf.role, cdf.t_ns / 1e9 AS seconds, cdf.k * 1.0 / total.n AS fraction_of_starts
FROM cdf JOIN total ON total.role = cdf.role
WHERE cdf.k % MAX(1, cdf.cnt / :buckets) = 0 OR cdf.k = 1 OR cdf.k = cdf.cnt
ORDER BY cdf.role, cdf.k;

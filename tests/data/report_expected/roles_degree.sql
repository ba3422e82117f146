-- roles_degree.sql: degree histogram at the end, by role. Parameters: :run, :min, :buckets per series (see any plot's
-- .sql). A role: nodes.config "role", hostile nodes 'hostile', else 'node'.

WITH final AS (
  SELECT n.node, COUNT(c.node) AS degree
  FROM nodes n LEFT JOIN connections c
    ON c.run_id = n.run_id AND c.node = n.node AND c.closed_ns IS NULL
  WHERE n.run_id = :run GROUP BY n.node
), roles AS (SELECT node, COALESCE(json_extract(n.config, '$.role'), CASE WHEN n.kind LIKE 'hostile:%' THEN 'hostile' ELSE 'node' END) AS role FROM nodes n WHERE n.run_id = :run)
SELECT r.role, f.degree, COUNT(*) AS nodes,
       COUNT(*) * 1.0 / SUM(COUNT(*)) OVER (PARTITION BY r.role) AS fraction_of_nodes
FROM final f JOIN roles r ON r.node = f.node GROUP BY r.role, f.degree
ORDER BY r.role, f.degree;

/* reports/queries.h — the SQL behind every plot and key figure of `tidepool report`.
 *
 * Each query is saved next to its plot (NAME.sql) so users can adapt it. Parameters,
 * bound per series (one run): :run (runs.id), :buckets (time buckets, default 200),
 * :width (bucket width in ns = ceil(run duration / :buckets)), :delay_width (bucket width
 * in ns over the largest delivery delay), :min (the bootstrap threshold). Everything is
 * reduced in SQL to at most a few hundred rows per series (buckets, ROW_NUMBER
 * thinning), so gnuplot never sees raw rows of a 10,000-node run.
 *
 * Metric and event names follow reports/README.md and lua/: samples 'components' (global,
 * sim.sample_overlay), 'bytes_in' / 'bytes_out' (cumulative bytes per node or global),
 * 'fault_active' (global, > 0 while a fault is active); events 'greylist_ip',
 * 'greylist_peer', 'ban' (core/event.h names). */
#ifndef REP_QUERIES_H
#define REP_QUERIES_H

/* Each node's degree over time from its connection ends (+1 opened, -1 closed), and the
 * (re)starts it bootstraps from: every 'node_started' event (tidepool nodes: the first
 * start, a delayed start(), each restart after a crash or stop), else the node's
 * creation (demo nodes). reached: per (re)start, the time from it until the node first
 * has :min connections before its next start (none: that start never got there). */
#define REP_SQL_REACHED_CTE                                                                \
    "WITH ends AS (\n"                                                                     \
    "  SELECT node, opened_ns AS t, +1 AS d FROM connections WHERE run_id = :run\n"        \
    "  UNION ALL\n"                                                                        \
    "  SELECT node, closed_ns, -1 FROM connections\n"                                      \
    "  WHERE run_id = :run AND closed_ns IS NOT NULL\n"                                    \
    "), degree AS (\n"                                                                     \
    "  SELECT node, t, SUM(d) OVER (PARTITION BY node ORDER BY t, d\n"                     \
    "                               ROWS UNBOUNDED PRECEDING) AS degree\n"                 \
    "  FROM ends\n"                                                                        \
    "), starts AS (\n"                                                                     \
    "  SELECT node, time_ns AS s FROM events\n"                                            \
    "  WHERE run_id = :run AND kind = 'node_started'\n"                                    \
    "  UNION ALL\n"                                                                        \
    "  SELECT n.node, n.created_ns FROM nodes n WHERE n.run_id = :run AND NOT EXISTS\n"    \
    "    (SELECT 1 FROM events e WHERE e.run_id = :run AND e.kind = 'node_started'\n"      \
    "     AND e.node = n.node)\n"                                                          \
    "), spans AS (\n"                                                                      \
    "  SELECT node, s, LEAD(s) OVER (PARTITION BY node ORDER BY s) AS next_s FROM starts\n" \
    "), reached AS (\n"                                                                    \
    "  SELECT sp.node, MIN(d.t) - sp.s AS t_ns\n"                                          \
    "  FROM spans sp JOIN degree d ON d.node = sp.node AND d.t >= sp.s\n"                  \
    "    AND (sp.next_s IS NULL OR d.t < sp.next_s)\n"                                     \
    "  WHERE d.degree >= :min GROUP BY sp.node, sp.s\n"                                    \
    ")"

#define REP_SQL_FINAL_DEGREE_CTE                                                           \
    "WITH final AS (\n"                                                                    \
    "  SELECT n.node, COUNT(c.node) AS degree\n"                                           \
    "  FROM nodes n LEFT JOIN connections c\n"                                             \
    "    ON c.run_id = n.run_id AND c.node = n.node AND c.closed_ns IS NULL\n"             \
    "  WHERE n.run_id = :run GROUP BY n.node\n"                                            \
    ")"

/* connections: per node and bucket, the net change of its degree (sparse); the report
 * replays it bucket by bucket over every created node and takes p5/p50/p95 in C. */
#define REP_SQL_CONNECTIONS                                                                \
    "WITH ends AS (\n"                                                                     \
    "  SELECT node, opened_ns AS t, 1 AS d FROM connections WHERE run_id = :run\n"         \
    "  UNION ALL\n"                                                                        \
    "  SELECT node, closed_ns, -1 FROM connections\n"                                      \
    "  WHERE run_id = :run AND closed_ns IS NOT NULL\n"                                    \
    ")\n"                                                                                  \
    "SELECT MIN(:buckets - 1, t / :width) AS bucket, node, SUM(d) AS degree_change\n"      \
    "FROM ends GROUP BY bucket, node HAVING SUM(d) <> 0\n"                                 \
    "ORDER BY bucket, node;\n"

#define REP_SQL_CONNECTIONS_NODES                                                          \
    "SELECT node, MIN(:buckets - 1, created_ns / :width) AS created_bucket\n"              \
    "FROM nodes WHERE run_id = :run ORDER BY node;\n"

#define REP_SQL_DEGREE                                                                     \
    REP_SQL_FINAL_DEGREE_CTE "\n"                                                          \
    "SELECT degree, COUNT(*) AS nodes,\n"                                                  \
    "       COUNT(*) * 1.0 / SUM(COUNT(*)) OVER () AS fraction_of_nodes\n"                 \
    "FROM final GROUP BY degree ORDER BY degree;\n"

/* bootstrap: CDF of the time from a node's (re)start until it first has :min
 * connections, over all (re)starts (those that never get there keep the curve below 1),
 * thinned to about :buckets points. */
#define REP_SQL_BOOTSTRAP                                                                  \
    REP_SQL_REACHED_CTE ", cdf AS (\n"                                                     \
    "  SELECT t_ns, ROW_NUMBER() OVER (ORDER BY t_ns, node) AS k,\n"                       \
    "         COUNT(*) OVER () AS n\n"                                                     \
    "  FROM reached\n"                                                                     \
    ")\n"                                                                                  \
    "SELECT t_ns / 1e9 AS seconds,\n"                                                      \
    "       k * 1.0 / (SELECT COUNT(*) FROM spans) AS fraction_of_nodes\n"                  \
    "FROM cdf WHERE k % MAX(1, n / :buckets) = 0 OR k = 1 OR k = n ORDER BY k;\n"

/* components: per bucket the worst (largest) count, placed at the bucket's first
 * sample so a step is drawn where the change began. */
#define REP_SQL_COMPONENTS                                                                 \
    "SELECT MIN(time_ns) / 1e9 AS seconds, MAX(value) AS components_max,\n"                \
    "       MIN(value) AS components_min\n"                                                \
    "FROM samples WHERE run_id = :run AND metric = 'components' AND node IS NULL\n"        \
    "GROUP BY MIN(:buckets - 1, time_ns / :width) ORDER BY 1;\n"

#define REP_SQL_FAULTS                                                                     \
    "SELECT time_ns, value FROM samples\n"                                                 \
    "WHERE run_id = :run AND metric = 'fault_active' AND node IS NULL\n"                   \
    "ORDER BY time_ns;\n"

/* coverage: after t, the fraction of (message, receiver) pairs delivered, receivers =
 * nodes - 1 (the origin excluded): the mean coverage of a broadcast. */
#define REP_SQL_COVERAGE                                                                   \
    "WITH receivers AS (SELECT MAX(1, COUNT(*) - 1) AS n FROM nodes WHERE run_id = :run),\n" \
    "messages AS (SELECT COUNT(DISTINCT message) AS m FROM deliveries WHERE run_id = :run),\n" \
    "per_bucket AS (\n"                                                                    \
    "  SELECT MIN(:buckets - 1, delay_ns / :delay_width) AS bucket, COUNT(*) AS c\n"       \
    "  FROM deliveries WHERE run_id = :run GROUP BY bucket\n"                              \
    ")\n"                                                                                  \
    "SELECT (bucket + 1) * :delay_width / 1e6 AS ms_since_sent,\n"                         \
    "       SUM(c) OVER (ORDER BY bucket ROWS UNBOUNDED PRECEDING) * 1.0\n"                \
    "         / (receivers.n * messages.m) AS mean_coverage\n"                             \
    "FROM per_bucket, receivers, messages ORDER BY bucket;\n"

/* blocks (the block workload, lua/chain.c): per block, the time from its production to
 * its validation by 50 / 90 / 99 / 100 % of the nodes running when it was produced (its
 * producer counts, at 0; NULL when never reached) and the payload bytes received about
 * it (useful / duplicate, blocks table). The k-th node is rank k - 1 of the deliveries
 * (the producer has no deliveries row); k = ceil(p * n). */
#define REP_SQL_BLOCKS_CTE                                                                 \
    "WITH b AS (\n"                                                                        \
    "  SELECT block, 'block:' || block AS message, nodes_running AS n,\n"                  \
    "         bytes_useful, bytes_duplicate\n"                                             \
    "  FROM blocks WHERE run_id = :run\n"                                                  \
    "), ranked AS (\n"                                                                     \
    "  SELECT message, delay_ns,\n"                                                        \
    "         ROW_NUMBER() OVER (PARTITION BY message ORDER BY delay_ns) + 1 AS k\n"       \
    "  FROM deliveries WHERE run_id = :run AND message LIKE 'block:%'\n"                   \
    "), per_block AS (\n"                                                                  \
    "  SELECT b.block,\n"                                                                  \
    "    CASE WHEN (b.n * 50 + 99) / 100 <= 1 THEN 0 ELSE\n"                               \
    "      MIN(CASE WHEN r.k >= (b.n * 50 + 99) / 100 THEN r.delay_ns END) / 1e6 END AS t50_ms,\n" \
    "    CASE WHEN (b.n * 90 + 99) / 100 <= 1 THEN 0 ELSE\n"                               \
    "      MIN(CASE WHEN r.k >= (b.n * 90 + 99) / 100 THEN r.delay_ns END) / 1e6 END AS t90_ms,\n" \
    "    CASE WHEN (b.n * 99 + 99) / 100 <= 1 THEN 0 ELSE\n"                               \
    "      MIN(CASE WHEN r.k >= (b.n * 99 + 99) / 100 THEN r.delay_ns END) / 1e6 END AS t99_ms,\n" \
    "    CASE WHEN b.n <= 1 THEN 0 ELSE\n"                                                 \
    "      MIN(CASE WHEN r.k >= b.n THEN r.delay_ns END) / 1e6 END AS t100_ms,\n"          \
    "    b.bytes_useful / 1e3 AS useful_kB, b.bytes_duplicate / 1e3 AS duplicate_kB\n"     \
    "  FROM b LEFT JOIN ranked r ON r.message = b.message\n"                               \
    "  GROUP BY b.block\n"                                                                 \
    ")\n"

#define REP_SQL_BLOCKS                                                                     \
    REP_SQL_BLOCKS_CTE                                                                     \
    "SELECT block, t50_ms, t90_ms, t99_ms, t100_ms, useful_kB, duplicate_kB\n"             \
    "FROM per_block ORDER BY block;\n"

#define REP_SQL_PROPAGATION                                                                \
    "WITH ranked AS (\n"                                                                   \
    "  SELECT delay_ns, ROW_NUMBER() OVER (ORDER BY delay_ns) AS k,\n"                     \
    "         COUNT(*) OVER () AS n\n"                                                     \
    "  FROM deliveries WHERE run_id = :run\n"                                              \
    ")\n"                                                                                  \
    "SELECT delay_ns / 1e6 AS delay_ms, k * 1.0 / n AS fraction_of_deliveries\n"           \
    "FROM ranked WHERE k % MAX(1, n / :buckets) = 0 OR k = 1 OR k = n ORDER BY k;\n"

/* The p99.9 (nearest rank) of the propagation plot's delays in ms, and the deliveries
 * beyond :clip (ms): the delay axis is clipped there (reports/README.md). */
#define REP_SQL_PROPAGATION_P999                                                           \
    "WITH ranked AS (\n"                                                                   \
    "  SELECT delay_ns, ROW_NUMBER() OVER (ORDER BY delay_ns) AS k,\n"                     \
    "         COUNT(*) OVER () AS n\n"                                                     \
    "  FROM deliveries WHERE run_id = :run\n"                                              \
    ")\n"                                                                                  \
    "SELECT MIN(CASE WHEN k * 1000 >= n * 999 THEN delay_ns END) / 1e6 AS p999_ms\n"       \
    "FROM ranked;\n"

#define REP_SQL_PROPAGATION_BEYOND                                                         \
    "SELECT COUNT(*) AS beyond, MAX(delay_ns) / 1e6 AS latest_ms FROM deliveries\n"        \
    "WHERE run_id = :run AND delay_ns / 1e6 > :clip;\n"

/* The same for the blocks plot, over every time it plots (t50 .. t100 of each block). */
#define REP_SQL_BLOCKS_VALUES                                                              \
    REP_SQL_BLOCKS_CTE                                                                     \
    ", v AS (\n"                                                                           \
    "  SELECT t50_ms AS ms FROM per_block UNION ALL SELECT t90_ms FROM per_block\n"        \
    "  UNION ALL SELECT t99_ms FROM per_block UNION ALL SELECT t100_ms FROM per_block\n"   \
    ")\n"

#define REP_SQL_BLOCKS_P999                                                                \
    REP_SQL_BLOCKS_VALUES                                                                  \
    ", vranked AS (\n"                                                                     \
    "  SELECT ms, ROW_NUMBER() OVER (ORDER BY ms) AS k, COUNT(*) OVER () AS n\n"           \
    "  FROM v WHERE ms IS NOT NULL\n"                                                      \
    ")\n"                                                                                  \
    "SELECT MIN(CASE WHEN k * 1000 >= n * 999 THEN ms END) AS p999_ms FROM vranked;\n"

#define REP_SQL_BLOCKS_BEYOND                                                              \
    REP_SQL_BLOCKS_VALUES                                                                  \
    "SELECT COUNT(*) AS beyond, MAX(ms) AS latest_ms FROM v WHERE ms > :clip;\n"

/* bandwidth: per bucket the sum over nodes of each node's latest cumulative counter,
 * then the rate between consecutive buckets' last sample times (a counter that went
 * down, e.g. reset by a restart, gives 0 for that step). */
#define REP_SQL_BANDWIDTH                                                                  \
    "WITH per_node AS (\n"                                                                 \
    "  SELECT MIN(:buckets - 1, time_ns / :width) AS bucket, node, metric,\n"              \
    "         MAX(time_ns) AS t, MAX(value) AS v\n"                                        \
    "  FROM samples WHERE run_id = :run AND metric IN ('bytes_in', 'bytes_out')\n"         \
    "  GROUP BY bucket, node, metric\n"                                                    \
    "), total AS (\n"                                                                      \
    "  SELECT bucket, MAX(t) AS t,\n"                                                      \
    "         SUM(CASE WHEN metric = 'bytes_in' THEN v ELSE 0 END) AS b_in,\n"             \
    "         SUM(CASE WHEN metric = 'bytes_out' THEN v ELSE 0 END) AS b_out\n"            \
    "  FROM per_node GROUP BY bucket\n"                                                    \
    ")\n"                                                                                  \
    "SELECT t / 1e9 AS seconds,\n"                                                         \
    "       MAX(0, b_in - LAG(b_in, 1, 0) OVER w) / ((t - LAG(t, 1, 0) OVER w) / 1e9)\n"   \
    "         AS in_bytes_per_s,\n"                                                        \
    "       MAX(0, b_out - LAG(b_out, 1, 0) OVER w) / ((t - LAG(t, 1, 0) OVER w) / 1e9)\n" \
    "         AS out_bytes_per_s\n"                                                        \
    "FROM total WINDOW w AS (ORDER BY bucket) ORDER BY bucket;\n"

/* acl: cumulative greylist and ban events at the end of each bucket, from 0 at time 0
 * to the totals at the end of the run (no rows when there are no such events). */
#define REP_SQL_BANS                                                                       \
    "WITH per_bucket AS (\n"                                                               \
    "  SELECT MIN(:buckets - 1, time_ns / :width) AS bucket,\n"                            \
    "         SUM(kind = 'greylist_ip') AS greylist_ip,\n"                                 \
    "         SUM(kind = 'greylist_peer') AS greylist_peer, SUM(kind = 'ban') AS ban\n"    \
    "  FROM events WHERE run_id = :run AND kind IN ('greylist_ip', 'greylist_peer', 'ban')\n" \
    "  GROUP BY bucket\n"                                                                  \
    "), cumulative AS (\n"                                                                 \
    "  SELECT bucket, SUM(greylist_ip) OVER w AS greylist_ip,\n"                           \
    "         SUM(greylist_peer) OVER w AS greylist_peer, SUM(ban) OVER w AS ban\n"        \
    "  FROM per_bucket WINDOW w AS (ORDER BY bucket ROWS UNBOUNDED PRECEDING)\n"           \
    ")\n"                                                                                  \
    "SELECT 0.0 AS seconds, 0 AS greylist_ip, 0 AS greylist_peer, 0 AS ban\n"              \
    "WHERE EXISTS (SELECT 1 FROM per_bucket)\n"                                            \
    "UNION ALL\n"                                                                          \
    "SELECT (bucket + 1) * :width / 1e9, greylist_ip, greylist_peer, ban FROM cumulative\n" \
    "UNION ALL\n"                                                                          \
    "SELECT :buckets * :width / 1e9, greylist_ip, greylist_peer, ban FROM cumulative\n"    \
    "WHERE bucket = (SELECT MAX(bucket) FROM cumulative) AND bucket < :buckets - 1\n"     \
    "ORDER BY 1;\n"

/* events: the kinds by count (the report keeps the 8 most frequent, the rest is
 * 'other'), then counts per bucket and kind, pivoted into columns in C. */
#define REP_SQL_EVENT_KINDS                                                                \
    "SELECT kind, COUNT(*) AS events FROM events WHERE run_id = :run\n"                    \
    "GROUP BY kind ORDER BY COUNT(*) DESC, kind;\n"

#define REP_SQL_EVENTS                                                                     \
    "SELECT MIN(:buckets - 1, time_ns / :width) AS bucket, kind, COUNT(*) AS events\n"     \
    "FROM events WHERE run_id = :run GROUP BY bucket, kind ORDER BY bucket, kind;\n"

/* Key figures: each query returns one row; each column is one figure. */
#define REP_SQL_FIG_NODES                                                                  \
    "SELECT COUNT(*) AS \"nodes\" FROM nodes WHERE run_id = :run;\n"

#define REP_SQL_FIG_CONNECTIONS                                                            \
    "SELECT COUNT(*) AS \"connection ends opened\",\n"                                     \
    "       COALESCE(SUM(closed_ns IS NULL), 0) AS \"connection ends open at the end\"\n"  \
    "FROM connections WHERE run_id = :run;\n"

#define REP_SQL_FIG_DEGREE                                                                 \
    REP_SQL_FINAL_DEGREE_CTE ", ranked AS (\n"                                             \
    "  SELECT degree, ROW_NUMBER() OVER (ORDER BY degree) AS k, COUNT(*) OVER () AS n\n"   \
    "  FROM final\n"                                                                       \
    ")\n"                                                                                  \
    "SELECT MIN(degree) AS \"final degree min\",\n"                                        \
    "       MIN(CASE WHEN k * 2 >= n THEN degree END) AS \"final degree median\",\n"       \
    "       MAX(degree) AS \"final degree max\"\n"                                         \
    "FROM ranked;\n"

#define REP_SQL_FIG_BOOTSTRAP                                                              \
    REP_SQL_REACHED_CTE ", total AS (\n"                                                   \
    "  SELECT COUNT(*) AS n FROM spans\n"                                                  \
    "), ranked AS (\n"                                                                     \
    "  SELECT t_ns, ROW_NUMBER() OVER (ORDER BY t_ns, node) AS k FROM reached\n"           \
    ")\n"                                                                                  \
    "SELECT :min AS \"min connections\",\n"                                                \
    "       (SELECT COUNT(*) FROM reached) AS \"nodes reaching min\",\n"                   \
    "       ROUND(MIN(CASE WHEN k * 100 >= total.n * 50 THEN t_ns END) / 1e9, 3)\n"        \
    "         AS \"50% of nodes at min (s)\",\n"                                           \
    "       ROUND(MIN(CASE WHEN k * 100 >= total.n * 90 THEN t_ns END) / 1e9, 3)\n"        \
    "         AS \"90% of nodes at min (s)\",\n"                                           \
    "       ROUND(MIN(CASE WHEN k >= total.n THEN t_ns END) / 1e9, 3)\n"                   \
    "         AS \"all nodes at min (s)\"\n"                                               \
    "FROM ranked, total;\n"

#define REP_SQL_FIG_COMPONENTS                                                             \
    "SELECT (SELECT value FROM samples WHERE run_id = :run AND metric = 'components'\n"    \
    "        AND node IS NULL ORDER BY time_ns DESC LIMIT 1) AS \"components at the end\",\n" \
    "       (SELECT MAX(value) FROM samples WHERE run_id = :run\n"                         \
    "        AND metric = 'components' AND node IS NULL AND time_ns >=\n"                    \
    "          (SELECT MAX(created_ns) FROM nodes WHERE run_id = :run))\n"                  \
    "         AS \"components max after the last node joined\";\n"

#define REP_SQL_FIG_DELIVERIES                                                             \
    "WITH ranked AS (\n"                                                                   \
    "  SELECT delay_ns, ROW_NUMBER() OVER (ORDER BY delay_ns) AS k, COUNT(*) OVER () AS n\n" \
    "  FROM deliveries WHERE run_id = :run\n"                                              \
    ")\n"                                                                                  \
    "SELECT (SELECT COUNT(DISTINCT message) FROM deliveries WHERE run_id = :run)\n"        \
    "         AS \"messages\",\n"                                                          \
    "       COUNT(*) AS \"deliveries\",\n"                                                 \
    "       ROUND(MIN(CASE WHEN k * 100 >= n * 50 THEN delay_ns END) / 1e6, 3)\n"          \
    "         AS \"delivery delay p50 (ms)\",\n"                                           \
    "       ROUND(MIN(CASE WHEN k * 100 >= n * 99 THEN delay_ns END) / 1e6, 3)\n"          \
    "         AS \"delivery delay p99 (ms)\"\n"                                            \
    "FROM ranked;\n"

/* reports/README.md, "Propagation percentiles". */
#define REP_SQL_FIG_T99                                                                    \
    "WITH receivers AS (SELECT COUNT(*) - 1 AS n FROM nodes WHERE run_id = :run),\n"       \
    "ranked AS (\n"                                                                        \
    "  SELECT message, delay_ns,\n"                                                        \
    "         ROW_NUMBER() OVER (PARTITION BY message ORDER BY delay_ns) AS k\n"           \
    "  FROM deliveries WHERE run_id = :run\n"                                              \
    "), t99 AS (\n"                                                                        \
    "  SELECT message, MIN(delay_ns) AS t99_ns\n"                                          \
    "  FROM ranked, receivers WHERE k >= (receivers.n * 99 + 99) / 100\n"                  \
    "  GROUP BY message\n"                                                                 \
    "), ordered AS (\n"                                                                    \
    "  SELECT t99_ns, ROW_NUMBER() OVER (ORDER BY t99_ns) AS k, COUNT(*) OVER () AS n\n"   \
    "  FROM t99\n"                                                                         \
    ")\n"                                                                                  \
    "SELECT COUNT(*) AS \"messages reaching 99% of nodes\",\n"                             \
    "       ROUND(MIN(CASE WHEN k * 100 >= n * 50 THEN t99_ns END) / 1e6, 3)\n"            \
    "         AS \"time to 99% p50 (ms)\",\n"                                              \
    "       ROUND(MIN(CASE WHEN k * 100 >= n * 99 THEN t99_ns END) / 1e6, 3)\n"            \
    "         AS \"time to 99% p99 (ms)\"\n"                                               \
    "FROM ordered;\n"

/* reports/README.md, "Per-block figures": means over the blocks that reached each
 * fraction. */
#define REP_SQL_FIG_BLOCKS                                                                 \
    REP_SQL_BLOCKS_CTE                                                                     \
    "SELECT COUNT(*) AS \"blocks\",\n"                                                     \
    "       COALESCE(SUM(t100_ms IS NOT NULL), 0) AS \"blocks reaching every running node\",\n" \
    "       ROUND(AVG(t50_ms), 1) AS \"block to 50% of nodes, mean (ms)\",\n"              \
    "       ROUND(AVG(t90_ms), 1) AS \"block to 90% of nodes, mean (ms)\",\n"              \
    "       ROUND(AVG(t99_ms), 1) AS \"block to 99% of nodes, mean (ms)\",\n"              \
    "       ROUND(AVG(t100_ms), 1) AS \"block to 100% of nodes, mean (ms)\",\n"            \
    "       ROUND(AVG(useful_kB), 1) AS \"useful kB received per block\",\n"               \
    "       ROUND(AVG(duplicate_kB), 1) AS \"duplicate kB received per block\"\n"          \
    "FROM per_block;\n"

#define REP_SQL_FIG_ACL                                                                    \
    "SELECT COALESCE(SUM(kind IN ('greylist_ip', 'greylist_peer')), 0) AS \"greylistings\",\n" \
    "       COALESCE(SUM(kind = 'ban'), 0) AS \"bans\"\n"                                  \
    "FROM events WHERE run_id = :run AND kind IN ('greylist_ip', 'greylist_peer', 'ban');\n"

#define REP_SQL_FIG_CHECKS                                                                 \
    "SELECT COALESCE(SUM(passed = 1), 0) AS \"checks passed\",\n"                          \
    "       COALESCE(SUM(passed = 0), 0) AS \"checks failed\"\n"                           \
    "FROM assertions WHERE run_id = :run;\n"

#endif

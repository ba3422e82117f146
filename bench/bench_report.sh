#!/usr/bin/env bash
# bench/bench_report.sh BUILD_DIR [NODES] — how long `tidepool report` takes on a large
# results database (issue 7: a 10,000-node result in under a minute).
#
# Generates, with the sqlite3 shell and reports/schema.sql, a synthetic but realistically
# sized run (deterministic arithmetic, no random()): NODES nodes (default 10,000) joining
# over 60 s of a 600 s run; 25 dialed connections per node (2 rows each, 20 % closed
# later); 1.1 events per connection end plus greylists and bans; 'components' and the
# other global overlay samples every second; per-node cumulative 'bytes_in' / 'bytes_out'
# every 10 s; 50 broadcast blocks delivered to every node. At 10,000 nodes that is about
# 0.5 M connection rows, 0.6 M events, 1.2 M samples and 0.5 M deliveries (~150 MB).
# The database is kept in BUILD_DIR/bench/ and reused by later runs.
#
# Then times `tidepool report DB --out DIR` three times (drawing included) and prints
# each wall time and the median. Not a test: it never fails on a slow machine.
set -euo pipefail
build=$(cd "${1:?usage: bench_report.sh BUILD_DIR [NODES]}" && pwd)
nodes=${2:-10000}
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mkdir -p "$build/bench"
db="$build/bench/report_${nodes}.db"
out="$build/bench/report_${nodes}"

if [ ! -s "$db" ]; then
  echo "bench_report: generating $db ($nodes nodes) ..."
  t0=$(date +%s.%N)
  rm -f "$db.tmp"
  sqlite3 "$db.tmp" < "$src/reports/schema.sql"
  sqlite3 "$db.tmp" > /dev/null <<SQL
PRAGMA journal_mode = OFF;
PRAGMA synchronous = OFF;
BEGIN;
INSERT INTO runs(id, scenario, seed, parameters, code_version, log_level, started_at, command,
                 trace_hash, wall_time_s, virtual_time_ns, events_executed, verdict)
VALUES (1, 'bench/bench_report.sh', 1, '{"nodes":$nodes,"min_conn":10}', 'bench', 'info',
        '2026-01-01T00:00:00Z', 'bash bench/bench_report.sh BUILD $nodes', '0000000000000000',
        0, 600000000000, 0, 'pass');
CREATE TEMP TABLE n(i INTEGER PRIMARY KEY);
WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i + 1 < $nodes)
INSERT INTO n SELECT i FROM c;
CREATE TEMP TABLE k(j INTEGER PRIMARY KEY);
WITH RECURSIVE c(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM c WHERE j + 1 < 60)
INSERT INTO k SELECT j FROM c;
INSERT INTO hosts SELECT 1, i, '10.' || (i / 65536) || '.' || (i / 256 % 256) || '.' || (i % 256),
       i % 4, 64512 + i % 4, 12500000, 12500000, 0 FROM n;
INSERT INTO nodes SELECT 1, i, 'tidepool', NULL, '10.0.0.1:9732', '{}',
       (i * 6000000) % 60000000000 FROM n;
-- 25 dialed connections per node to pseudo-random earlier-or-any peers
CREATE TEMP TABLE conn AS
SELECT a.i AS node, (a.i * 7919 + k.j * 104729 + 13) % $nodes AS peer,
       (a.i * 6000000) % 60000000000 + 200000000 + k.j * 150000000 + (a.i * 31 + k.j * 17) % 90000000 AS opened,
       CASE WHEN (a.i + k.j * 3) % 5 = 0
            THEN (a.i * 6000000) % 60000000000 + 60000000000 + (a.i * 97 + k.j * 1009) % 500000000000 END AS closed
FROM n a, k WHERE k.j < 25;
INSERT INTO connections SELECT 1, node, peer, NULL, NULL, 0, opened, closed,
       CASE WHEN closed IS NOT NULL THEN 'closed' END FROM conn;
INSERT INTO connections SELECT 1, peer, node, NULL, NULL, 1, opened, closed,
       CASE WHEN closed IS NOT NULL THEN 'closed_remote' END FROM conn;
INSERT INTO events(run_id, seq, time_ns, node, kind, peer, peer_node, point, code, detail)
SELECT 1, ROW_NUMBER() OVER (ORDER BY t, node), t, node, kind, NULL, peer, NULL, 0, NULL FROM (
  SELECT opened AS t, node, peer, 'connection_established' AS kind FROM conn
  UNION ALL SELECT opened, peer, node, 'connection_established' FROM conn
  UNION ALL SELECT closed, node, peer, 'disconnection' FROM conn WHERE closed IS NOT NULL
  UNION ALL SELECT closed, peer, node, 'disconnection' FROM conn WHERE closed IS NOT NULL
  UNION ALL SELECT opened + 1000, node, peer, 'swap_request_sent' FROM conn WHERE (node + peer) % 10 = 0
  UNION ALL SELECT closed + 1000, node, peer, 'greylist_ip' FROM conn WHERE closed IS NOT NULL AND node % 97 = 0
  UNION ALL SELECT closed + 2000, node, peer, 'ban' FROM conn WHERE closed IS NOT NULL AND node % 997 = 0
);
WITH RECURSIVE s(t) AS (SELECT 1 UNION ALL SELECT t + 1 FROM s WHERE t < 600)
INSERT INTO samples SELECT 1, t * 1000000000, NULL, m.metric,
       CASE m.metric WHEN 'components' THEN CASE WHEN t BETWEEN 300 AND 360 THEN 2 ELSE 1 END
                     WHEN 'nodes_running' THEN MIN($nodes, t * $nodes / 60)
                     ELSE 25 END
FROM s, (SELECT 'components' AS metric UNION ALL SELECT 'largest_component'
         UNION ALL SELECT 'nodes_running' UNION ALL SELECT 'connection_ends'
         UNION ALL SELECT 'degree_min' UNION ALL SELECT 'degree_max' UNION ALL SELECT 'degree_mean') m;
INSERT INTO samples VALUES (1, 300000000000, NULL, 'fault_active', 1),
                           (1, 360000000000, NULL, 'fault_active', 0);
WITH RECURSIVE s(t) AS (SELECT 10 UNION ALL SELECT t + 10 FROM s WHERE t < 600)
INSERT INTO samples SELECT 1, t * 1000000000, i, m.metric, t * (1000 + i % 500) * m.f
FROM s, n, (SELECT 'bytes_in' AS metric, 5 AS f UNION ALL SELECT 'bytes_out', 4) m;
WITH RECURSIVE b(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM b WHERE j + 1 < 50)
INSERT INTO deliveries SELECT 1, 'block:' || b.j, n.i, (b.j * 211) % $nodes,
       70000000000 + b.j * 10000000000, NULL, 20000000 + (n.i * 7 + b.j * 13) % 400 * 1000000
FROM b, n WHERE n.i <> (b.j * 211) % $nodes;
UPDATE deliveries SET received_ns = sent_ns + delay_ns;
COMMIT;
SQL
  mv "$db.tmp" "$db"
  t1=$(date +%s.%N)
  echo "bench_report: generated in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s:" \
    "$(sqlite3 "$db" "SELECT (SELECT COUNT(*) FROM connections) || ' connection rows, ' ||
       (SELECT COUNT(*) FROM events) || ' events, ' || (SELECT COUNT(*) FROM samples) ||
       ' samples, ' || (SELECT COUNT(*) FROM deliveries) || ' deliveries'")," \
    "$(du -m "$db" | cut -f1) MB"
fi

times=()
for i in 1 2 3; do
  rm -rf "$out"
  t0=$(date +%s.%N)
  "$build/tidepool" report "$db" --out "$out" > /dev/null
  t1=$(date +%s.%N)
  t=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
  times+=("$t")
  echo "bench_report: run $i: $t s"
done
median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 2p)
echo "bench_report: tidepool report on $nodes nodes: median of 3 = $median s (report in $out)"

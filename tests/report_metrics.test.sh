#!/usr/bin/env bash
# tests/report_metrics.test.sh BUILD_DIR SOURCE_DIR — every sample() metric on the run
# page (reports/metrics.c), from a real scenario (tests/data/metrics_scenario.lua):
#   - metric(name, {summary, threshold, unit}) is recorded in the `metrics` table, and
#     bad declarations are errors that name the fix;
#   - the key figures have one row per metric with its declared summary (max with its
#     unit; the median over nodes of the time to a threshold; the last value when
#     undeclared), equal to SQL computed here;
#   - each metric has a plot: global metrics one line, per-node metrics one block per
#     region in the data file; its .sql holds the queries;
#   - the bootstrap CDF counts from each node's (re)start (tests/data/restart_scenario.lua:
#     a delayed start() and a crash + restart);
#   - roles (tests/data/roles_scenario.lua): recorded in nodes.config, key figures and
#     the bootstrap CDF / degree histogram per role, --exclude-role leaves a role's nodes
#     and their connection ends out (the degree histogram equals SQL computed here);
#   - a run database without the `metrics` table (written before it existed, same
#     schema version) still merges.
set -uo pipefail
export LC_ALL=C
BUILD=$(cd "$1" && pwd)
SRC=$(cd "$2" && pwd)
TP=$BUILD/tidepool
TMP=$(mktemp -d /tmp/tp-report-metrics.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
cd "$TMP"
pass=0
fail=0
ok() { echo "ok - $1"; pass=$((pass + 1)); }
bad() { echo "FAIL - $1"; fail=$((fail + 1)); }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }

"$TP" sim "$SRC/tests/data/metrics_scenario.lua" --db m.db --quiet >sim.json 2>sim.log
check "the scenario passes" grep -q '"verdict":"pass"' sim.json
check "metric() declarations are recorded" \
  [ "$(sqlite3 m.db "SELECT metric || ':' || summary || ':' || coalesce(threshold, '') || ':' || coalesce(unit, '') FROM metrics ORDER BY metric" | paste -sd' ')" = "degree_at_2:time_to:2.0: share:max::fraction" ]

"$TP" report m.db --out r --no-plots >report.log 2>&1
check "report: exit 0" [ $? -eq 0 ]
check "key figure: share, its max with the unit" \
  grep -q '<tr><td>share: max (fraction)</td><td class="num">0.2 fraction</td></tr>' r/index.html
check "key figure: last_t undeclared, its last value" \
  grep -q '<tr><td>last_t: last value</td><td class="num">5</td></tr>' r/index.html
want=$(sqlite3 m.db "WITH t AS (SELECT node, MIN(CASE WHEN value >= 2 THEN time_ns END) / 1e9 AS v FROM samples
    WHERE metric = 'degree_at_2' GROUP BY node), r AS (SELECT v, ROW_NUMBER() OVER (ORDER BY v) k, COUNT(*) OVER () n
    FROM t WHERE v IS NOT NULL) SELECT printf('%g', MIN(CASE WHEN k * 2 >= n THEN v END)) ||
    CASE WHEN (SELECT COUNT(*) FROM r) < (SELECT COUNT(*) FROM t)
         THEN ' (' || (SELECT COUNT(*) FROM r) || ' of ' || (SELECT COUNT(*) FROM t) || ' nodes)' ELSE '' END FROM r")
check "key figure: degree_at_2, median over nodes of the time to >= 2 ($want)" \
  grep -qF "<tr><td>degree_at_2: median over nodes of the time to &gt;= 2 (s)</td><td class=\"num\">$want</td></tr>" r/index.html
check "a plot per metric" [ -s r/metric_share_3.gp -a -s r/metric_last_t_2.gp -a -s r/metric_degree_at_2_1_nodes.gp ]
check "global metric data: 5 samples, one per bucket" [ "$(grep -vc '^#' r/metric_share_3_1.dat)" -eq 5 ]
check "per-node metric: one block per region" \
  [ "$(grep '^# region' r/metric_degree_at_2_1_nodes_1.dat | paste -sd,)" = "# region east,# region west" ]
check "per-node plot: one band and one line per region" [ "$(grep -c 'index [01] using 1:2 with lines' r/metric_degree_at_2_1_nodes.gp)" -eq 2 ]
check "the .sql holds the key-figure and plot queries" \
  bash -c "grep -q 'value >= :threshold' r/metric_degree_at_2_1.sql && grep -q 'GROUP BY grp, bucket' r/metric_degree_at_2_1.sql"
check "index.html links the metrics section" grep -q '<a href="#metrics">metrics (sample())</a>' r/index.html

# Bad declarations.
for bad_decl in 'metric("x", {summary = "median"})|expected last, max, min, mean or time_to' \
                'metric("x", {summary = "time_to"})|give the threshold' \
                'metric("x", {threshold = 3})|a threshold only goes with summary' \
                'metric("x", {units = "s"})|unknown key units'; do
  code=${bad_decl%%|*}
  msg=${bad_decl#*|}
  echo "$code" >bad.lua
  "$TP" sim bad.lua --db bad.db --quiet >bad.json 2>&1
  check "bad declaration: $code -> '$msg'" grep -q "$msg" bad.json
done

# An input without the metrics table (an older writer of schema version 1) merges.
cp m.db old.db
sqlite3 old.db "DROP TABLE metrics"
"$TP" merge merged.db old.db --quiet >merge.log 2>&1
check "a database without the metrics table merges (exit 0)" [ $? -eq 0 ]
check "... with its samples" [ "$(sqlite3 merged.db 'SELECT count(*) FROM samples')" -eq "$(sqlite3 old.db 'SELECT count(*) FROM samples')" ]
"$TP" merge merged2.db m.db --quiet >merge2.log 2>&1
check "a database with it merges its declarations" [ "$(sqlite3 merged2.db 'SELECT count(*) FROM metrics')" -eq 2 ]
"$TP" report old.db --out rold --no-plots >rold.log 2>&1
check "report on a database without the metrics table: exit 0, last values" \
  grep -q '<tr><td>share: last value</td>' rold/index.html

# The bootstrap CDF counts from each (re)start: a delayed start() and a restart.
"$TP" sim "$SRC/tests/data/restart_scenario.lua" --db rs.db --quiet >rs.json 2>rs.log
check "restart scenario passes" grep -q '"verdict":"pass"' rs.json
check "restart scenario: 7 node_started events (6 nodes + 1 restart)" \
  [ "$(sqlite3 rs.db "SELECT count(*) FROM events WHERE kind = 'node_started'")" -eq 7 ]
"$TP" report rs.db --out rsr --no-plots --min 2 >rsr.log 2>&1
check "bootstrap CDF: one point per (re)start (7)" [ "$(grep -vc '^#' rsr/bootstrap_1.dat)" -eq 7 ]
# Counted from 0, the delayed start (10 s) and the restart (25 s) would be >= 10 s. Each
# (re)start bootstraps within ~0.15 s, except that with seed 1 (the causal stream model,
# issue 21) the restarted node meets four peers whose old connection to it has not yet
# met an RST ("already connected") and bootstraps at its next maintenance, 5.2 s later:
# what Octez does too, so the bound is the one that tells the two countings apart.
check "bootstrap CDF: every (re)start bootstraps within 10 s of it (the delayed start counts from 10 s, not 0)" \
  awk '!/^#/ && $1 >= 10 {bad = 1} END {exit bad}' rsr/bootstrap_1.dat
check "bootstrap CDF reaches 1 over the starts" [ "$(tail -1 rsr/bootstrap_1.dat | cut -d' ' -f2)" = 1 ]

# Roles: sim.node(h, {role = ...}), figures per role, --exclude-role.
"$TP" sim "$SRC/tests/data/roles_scenario.lua" --db ro.db --quiet >ro.json 2>ro.log
check "roles scenario passes" grep -q '"verdict":"pass"' ro.json
check "roles are recorded in nodes.config" \
  [ "$(sqlite3 ro.db "SELECT group_concat(coalesce(json_extract(config, '\$.role'), '-'), ',') FROM (SELECT config FROM nodes ORDER BY node)")" = "-,-,-,-,attacker,attacker,observer,observer" ]
"$TP" report ro.db --out ror --no-plots --min 1 >ror.log 2>&1
check "key figures per role" bash -c "grep -q '<tr><td>role attacker: nodes</td><td class=\"num\">2</td></tr>' ror/index.html && grep -q '<tr><td>role node: nodes</td><td class=\"num\">4</td></tr>' ror/index.html && grep -q '<tr><td>role observer: nodes</td><td class=\"num\">2</td></tr>' ror/index.html"
check "bootstrap and degree per role: one block per role" \
  [ "$(grep -c '^# role ' ror/roles_degree_1.dat)" -eq 3 -a "$(grep -c '^# role ' ror/roles_bootstrap_1.dat)" -eq 2 ]
"$TP" report ro.db --out rox --no-plots --min 1 --exclude-role attacker --exclude-role observer >rox.log 2>&1
check "--exclude-role: exit 0" [ $? -eq 0 ]
check "--exclude-role: the nodes figure counts the 4 honest nodes" grep -q '<tr><td>nodes</td><td class="num">4</td></tr>' rox/index.html
# The honest nodes' final degrees without their connections to attackers, from SQL here.
want=$(sqlite3 ro.db "SELECT group_concat(d || ' ' || c, ',') FROM (SELECT d, count(*) AS c FROM (
    SELECT n.node, (SELECT count(*) FROM connections x WHERE x.run_id = 1 AND x.node = n.node AND x.closed_ns IS NULL
      AND x.peer_node IN (SELECT node FROM nodes WHERE json_extract(config, '\$.role') IS NULL)) AS d
    FROM nodes n WHERE json_extract(n.config, '\$.role') IS NULL) GROUP BY d ORDER BY d)")
got=$(awk '!/^#/ && NF {printf "%s%s %s", (n++ ? "," : ""), $1, $2}' rox/degree_1.dat)
check "--exclude-role: the degree histogram has only honest nodes and honest ends ($got = $want)" [ -n "$got" -a "$got" = "$want" ]
check "--exclude-role: no role split left (one role)" [ ! -e rox/roles_degree_1.dat ]
"$TP" report ro.db --out roy --no-plots --exclude-role "a b" >roy.log 2>&1
check "--exclude-role with a bad name: exit 2" [ $? -eq 2 ]
echo 'sim.world{regions = 1}; sim.node(sim.hosts{count = 1}[1], {role = "a b"})' >badrole.lua
"$TP" sim badrole.lua --quiet >badrole.json 2>&1
check "a bad role name is an error naming the fix" grep -q "'role' expects a name of letters" badrole.json

# The topology view: the overlay at the end as Graphviz, and the region matrix.
"$TP" sim "$SRC/sweeps/ci_scenario.lua" --set nodes=24 --db topo.db --quiet >topo.json 2>&1
"$TP" report topo.db --out topo >topo.log 2>&1
check "topology: report exit 0" [ $? -eq 0 ]
want=$(sqlite3 topo.db "SELECT count(*) FROM (SELECT DISTINCT MIN(node, peer_node), MAX(node, peer_node) FROM connections WHERE closed_ns IS NULL AND peer_node IS NOT NULL)")
check "topology: one edge per open connection ($want)" [ "$(grep -c -- ' -- ' topo/topology_1.dot)" -eq "$want" ]
check "topology: one vertex per node" [ "$(grep -c '^  n[0-9]* \[label' topo/topology_1.dot)" -eq 24 ]
want=$(sqlite3 topo.db "SELECT count(*) FROM connections WHERE closed_ns IS NULL AND incoming = 0 AND peer_node IS NOT NULL")
got=$(awk -F, 'NR > 1 {for (i = 2; i <= NF; i++) s += $i} END {print s}' topo/regions_1.csv)
check "region matrix: every open connection once ($got = $want)" [ "$got" = "$want" ]
check "region matrix: west and east" grep -q '^from_region,west,east$' topo/regions_1.csv
if command -v sfdp >/dev/null; then
  check "topology: drawn by sfdp" bash -c "[ -s topo/topology_1.svg ] && grep -q '<img src=\"topology_1.svg\"' topo/index.html"
else
  check "topology: without graphviz the page says how to install it" grep -q "apt-get install graphviz" topo/index.html
fi
check "topology of a run with roles: coloured by role" grep -q '</span>attacker.*(roles)</p>' ror/index.html

# More metrics than the page shows: said so, never dropped silently.
cat >many.lua <<'LUA'
sim.world{regions = 1}
for i = 1, 70 do sample(("m%02d"):format(i), i) end
LUA
"$TP" sim many.lua --db many.db --quiet >/dev/null 2>&1
"$TP" report many.db --out many --no-plots >many.log 2>&1
check "70 metrics: 64 plots, and the page says the others are not shown" \
  bash -c "[ \$(grep -c '<h3 id=\"metric_' many/index.html) -eq 64 ] && grep -q 'These runs sample more than 64 metrics' many/index.html"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]

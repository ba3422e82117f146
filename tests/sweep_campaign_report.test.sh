#!/usr/bin/env bash
# tests/sweep_campaign_report.test.sh BUILD_DIR SOURCE_DIR — the campaign page of
# `tidepool report` (reports/campaign.c) on campaign databases made by `tidepool sweep`:
#   - a 2-axis sweep (peers_k x min_conn x 6 seeds): runs that differ only by seed are
#     one configuration (4 here); per response variable a CSV, a query and a plot with
#     one series per value of the other parameter; pass rates with Wilson intervals;
#   - known values: for a custom metric and for a key figure, the median and the 95 %
#     interval printed equal an independent computation here (awk over the per-run
#     values read with SQL: the median, and the order statistics x_(j), x_(n+1-j) for
#     the largest j with 1 - 2 P(Bin(n, 1/2) < j) >= 0.95);
#   - censoring: a key figure that never happened (every node at min_conn=40 of 12) is
#     "never happened", not a number; a metric sampled as -1 (the old sentinel) counts
#     as censored (+infinity), so the median and the upper bound are order statistics
#     of the rest and "inf", never an average with -1;
#   - with gnuplot: the PNGs are drawn and campaign.html shows them;
#   - a database with one run gets no campaign page; a campaign of more runs than one
#     report overlays (26) gets the campaign page only, and says so.
set -uo pipefail
export LC_ALL=C
BUILD=$(cd "$1" && pwd)
SRC=$(cd "$2" && pwd)
TP=$BUILD/tidepool
TMP=$(mktemp -d /tmp/tp-sweep-campaign.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
cd "$TMP"
pass=0
fail=0
ok() { echo "ok - $1"; pass=$((pass + 1)); }
bad() { echo "FAIL - $1"; fail=$((fail + 1)); }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }

# median and exact order-statistic interval of the numbers on stdin (one per line;
# "inf" = censored), printed as the CSV does: "n,censored,median,lo,hi"
stats() {
  sort -g | awk '
    function lgam(x,   s, i) { s = 0; for (i = 2; i < x; i++) s += log(i); return s }
    function lchoose(n, k) { return lgam(n + 1) - lgam(k + 1) - lgam(n - k + 1) }
    function cdf(n, k,   p, i) { p = 0; for (i = 0; i <= k; i++) p += exp(lchoose(n, i) + n * log(0.5)); return p }
    function fmt(x) { return (x == "inf") ? "inf" : sprintf("%.6g", x) }
    { v[++n] = $1; if ($1 == "inf") c++ }
    END {
      j = 1
      for (k = 2; k <= int((n + 1) / 2); k++) if (1 - 2 * cdf(n, k - 1) >= 0.95) j = k; else break
      if (n % 2) m = fmt(v[(n + 1) / 2])
      else if (v[n / 2] == "inf" || v[n / 2 + 1] == "inf") m = "inf"
      else m = fmt((v[n / 2] + v[n / 2 + 1]) / 2)
      printf "%d,%d,%s,%s,%s\n", n, c, m, fmt(v[j]), fmt(v[n + 1 - j])
    }'
}

cat >two_axes.lua <<LUA
return { scenario = "$SRC/sweeps/ci_scenario.lua", out = "two",
         params = { nodes = 12, duration = "6s", peers_k = {2, 4}, min_conn = {1, 40} },
         seeds = 6 }
LUA
"$TP" sweep two_axes.lua --jobs 2 --quiet >sweep.log 2>&1 # exit 1: min_conn=40 fails
check "2-axis sweep: 24 runs in the campaign" [ "$(sqlite3 two/campaign.db 'SELECT count(*) FROM runs')" -eq 24 ]

"$TP" report two/campaign.db --out rep --no-plots >report.log 2>&1
rc=$?
check "report --no-plots on a campaign: exit 0 (got $rc)" [ $rc -eq 0 ]
check "report names the campaign page" grep -q "rep/campaign.html (campaign: 24 runs, 2 swept parameters" report.log
check "report still writes the per-run page (24 <= 24 runs)" grep -q "rep/index.html" report.log
check "campaign.html: 4 configurations of 6 runs" grep -q "24 finished runs in 4 configurations (runs whose parameters are equal, differing only by seed: 6 runs each)" rep/campaign.html
check "campaign.html lists both swept parameters" grep -q "<b>min_conn</b>, <b>peers_k</b>" rep/campaign.html
check "campaign.html says which interval" grep -q "95 % confidence interval for the median</b>: the order statistics" rep/campaign.html
check "a query, a CSV and a plot script per response" \
  [ -s rep/campaign_pass_rate.sql -a -s rep/campaign_pass_rate.csv -a -s rep/campaign_pass_rate.gp -a -s rep/campaign_wall_time_s.csv ]
check "key figures are responses" [ -s rep/campaign_fig_90pct_nodes_at_min_s.csv -a -s rep/campaign_fig_final_degree_median.csv ]
check "custom metrics are responses" [ -s rep/campaign_metric_bootstrap_time_s_0.csv ]
check "x = min_conn (first of two equal-sized axes), one series per peers_k" \
  bash -c "head -1 rep/campaign_pass_rate_0.dat | grep -q \"series 'peers_k=2'\" && head -1 rep/campaign_pass_rate_1.dat | grep -q \"series 'peers_k=4'\" && [ ! -e rep/campaign_pass_rate_2.dat ]"
check "x labels are the parameter values" grep -q "set xtics ('1' 0, '40' 1)" rep/campaign_pass_rate.gp
# min_conn=1 passes everywhere, min_conn=40 (12 nodes) fails everywhere.
check "pass rate 1 at min_conn=1 with its Wilson interval" grep -q "^1,2,6,6,1,0.609666,1$" rep/campaign_pass_rate.csv
check "pass rate 0 at min_conn=40" grep -q "^40,4,6,0,0,0,0.390334$" rep/campaign_pass_rate.csv
check "campaign_summary.csv: every response x configuration" \
  [ "$(grep -c ',min_conn=1 peers_k=4,' rep/campaign_summary.csv)" -eq "$(ls rep/campaign_*.csv | grep -v -e summary -e curve | wc -l)" ]

# Known values: a custom metric, per run its last global sample.
want=$(sqlite3 two/campaign.db "SELECT (SELECT s.value FROM samples s WHERE s.run_id = r.id AND s.node IS NULL
    AND s.metric = 'bootstrap_time_s' ORDER BY s.time_ns DESC, s.rowid DESC LIMIT 1)
  FROM runs r WHERE json_extract(r.parameters, '\$.min_conn') = 1 AND json_extract(r.parameters, '\$.peers_k') = 4" | stats)
got=$(grep "^1,4," rep/campaign_metric_bootstrap_time_s_0.csv | cut -d, -f3-7)
check "bootstrap_time_s at min_conn=1 peers_k=4: median and interval = awk ($got = $want)" [ -n "$got" -a "$got" = "$want" ]
# A key figure: the time until 90 % of the nodes have min_conn connections, from the
# connections table (each node's first time at degree >= min_conn, from its creation).
fig90() { # min_conn peers_k
  sqlite3 two/campaign.db "SELECT r.id FROM runs r WHERE json_extract(r.parameters, '\$.min_conn') = $1
      AND json_extract(r.parameters, '\$.peers_k') = $2" | while read -r run; do
    sqlite3 two/campaign.db "WITH ends AS (SELECT node, opened_ns AS t, 1 AS d FROM connections WHERE run_id = $run
        UNION ALL SELECT node, closed_ns, -1 FROM connections WHERE run_id = $run AND closed_ns IS NOT NULL),
      deg AS (SELECT node, t, SUM(d) OVER (PARTITION BY node ORDER BY t, d ROWS UNBOUNDED PRECEDING) AS g FROM ends),
      reach AS (SELECT deg.node, MIN(t) - n.created_ns AS r FROM deg JOIN nodes n ON n.run_id = $run AND n.node = deg.node
                WHERE g >= $1 GROUP BY deg.node)
      SELECT COALESCE((SELECT printf('%.3f', r / 1e9) FROM reach ORDER BY r
        LIMIT 1 OFFSET (SELECT (COUNT(*) * 90 + 99) / 100 - 1 FROM nodes WHERE run_id = $run)
        ), 'inf')"
  done
}
want=$(fig90 1 2 | stats)
got=$(grep "^1,2," rep/campaign_fig_90pct_nodes_at_min_s.csv | cut -d, -f3-7)
check "90% of nodes at min, min_conn=1 peers_k=2: median and interval = awk ($got = $want)" [ -n "$got" -a "$got" = "$want" ]
# Censored: nobody reaches 40 connections among 12 nodes.
check "never happened: n = 6, 6 censored, no median" grep -q "^40,2,6,6,,,,$" rep/campaign_fig_all_nodes_at_min_s.csv
check "never happened: said so on the page" grep -q "never happened</td>" rep/campaign.html
check "never happened: drawn as censored runs" [ "$(grep -vc '^#' rep/campaign_fig_all_nodes_at_min_s_censored.dat)" -eq 12 ]

# The -1 sentinel: seeds 3 and 6 never see the event.
cat >sentinel.lua <<'LUA'
local x = param("x", 1)
local s = sim.seed()
sample("t_event_s", (s % 3 == 0) and -1 or s * x)
-- a declared time_to: odd seeds reach 3 at t = 3 s (x = 1) or 1 s (x = 10), even never
metric("level", {summary = "time_to", threshold = 3})
sim.world{regions = 1}
for t = 1, 4 do run_until(t); sample("level", t * x * (s % 2)) end
LUA
cat >sentinel_sweep.lua <<'LUA'
return { scenario = "sentinel.lua", out = "sent", params = { x = {1, 10} }, seeds = 6 }
LUA
"$TP" sweep sentinel_sweep.lua --jobs 2 --quiet >sent.log 2>&1
"$TP" report sent/campaign.db --out sentrep --no-plots >sentrep.log 2>&1
# x=1: 1, 2, 4, 5 observed + 2 censored: median (x_(3) + x_(4)) / 2 = 4.5, interval
# [x_(1), x_(6)] = [1, inf] with coverage 1 - 2/64 (n = 6).
check "-1 is censored: median 4.5, interval [1, inf]" grep -q "^1,6,2,4.5,1,inf,0.9688$" sentrep/campaign_metric_t_event_s_1.csv
check "-1 is censored: x=10 the same, scaled" grep -q "^10,6,2,45,10,inf,0.9688$" sentrep/campaign_metric_t_event_s_1.csv
check "-1 is censored: 4 censored runs drawn at the top" [ "$(grep -vc '^#' sentrep/campaign_metric_t_event_s_1_censored.dat)" -eq 4 ]
check "-1 is censored: the page says 'not reached'" grep -q "\[1, not reached\]" sentrep/campaign.html
# The declared summary: time to >= 3, censored where never reached (3 of 6 runs).
level_csv=$(ls sentrep/campaign_metric_level_*.csv)
check "declared time_to: the response is named so" grep -q "level: time to &gt;= 3 (s)" sentrep/campaign.html
check "declared time_to, x=1: 3 censored, median not reached, [3, inf]" grep -q "^1,6,3,inf,3,inf,0.9688$" "$level_csv"
check "declared time_to, x=10: [1, inf]" grep -q "^10,6,3,inf,1,inf,0.9688$" "$level_csv"

if command -v gnuplot >/dev/null; then
  "$TP" report two/campaign.db --out drawn >drawn.log 2>&1
  rc=$?
  check "report with gnuplot: exit 0 (got $rc)" [ $rc -eq 0 ]
  check "campaign PNGs drawn" [ -s drawn/campaign_pass_rate.png -a -s drawn/campaign_fig_90pct_nodes_at_min_s.png -a -s drawn/campaign_curve_components.png ]
  check "campaign.html shows them" grep -q '<img src="campaign_pass_rate.png"' drawn/campaign.html
  check "no gnuplot logs left (every plot drawn)" bash -c "! ls drawn/campaign_*.log 2>/dev/null | grep -q ."
else
  echo "# gnuplot not installed: drawing not checked"
fi

# A single run: no campaign page.
"$TP" merge one.db "$(ls two/tasks/*/run.db | head -1)" --quiet
"$TP" report one.db --out single --no-plots >single.log 2>&1
check "one run: no campaign page" [ ! -e single/campaign.html ]
check "one run: the usual report" [ -e single/index.html ]

# More runs than one report overlays: the campaign page only.
cat >many.lua <<LUA
return { scenario = "$SRC/sweeps/ci_scenario.lua", out = "many",
         params = { nodes = 8, duration = "4s", peers_k = {2, 3} }, seeds = 13 }
LUA
"$TP" sweep many.lua --jobs 2 --quiet >many_sweep.log 2>&1
"$TP" report many/campaign.db --out big --no-plots >big.log 2>&1
rc=$?
check "26-run campaign: exit 0 (got $rc)" [ $rc -eq 0 ]
check "26-run campaign: campaign page written" [ -s big/campaign.html ]
check "26-run campaign: says why there are no per-run plots" grep -q "no per-run plots: more than 24 runs" big.log
check "26-run campaign: 13 runs per configuration" \
  [ "$(grep -v '^peers_k' big/campaign_pass_rate.csv | cut -d, -f2 | paste -sd,)" = "13,13" ]

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]

#!/usr/bin/env bash
# tests/sweep_campaign_report.test.sh BUILD_DIR SOURCE_DIR — the campaign plot of
# `tidepool report` (reports/campaign.c) on campaign databases made by `tidepool sweep`:
#   - a 2-axis sweep (peers_k x min_conn x 3 seeds): one plot per swept parameter and
#     outcome, one series per value of the other parameter; the plotted means equal an
#     independent SQL computation over the campaign; pass rates are 1 and 0 where the
#     scenario passes and fails;
#   - with gnuplot: the PNGs are drawn and campaign.html shows them;
#   - a database with one run gets no campaign page; a campaign of more runs than one
#     report overlays (24) gets the campaign page only, and says so.
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

cat >two_axes.lua <<EOF
return { scenario = "$SRC/sweeps/ci_scenario.lua", out = "two",
         params = { nodes = 12, duration = "6s", peers_k = {2, 4}, min_conn = {1, 40} },
         seeds = 3 }
EOF
"$TP" sweep two_axes.lua --jobs 2 --quiet >sweep.log 2>&1 # exit 1: min_conn=40 fails
check "2-axis sweep: 12 runs in the campaign" [ "$(sqlite3 two/campaign.db 'SELECT count(*) FROM runs')" -eq 12 ]

"$TP" report two/campaign.db --out rep --no-plots >report.log 2>&1
rc=$?
check "report --no-plots on a campaign: exit 0 (got $rc)" [ $rc -eq 0 ]
check "report names the campaign page" grep -q "rep/campaign.html (campaign: 12 runs, 2 swept parameters" report.log
check "report still writes the per-run page (12 <= 24 runs)" grep -q "rep/index.html" report.log
check "campaign.html lists both swept parameters" grep -q "<b>min_conn</b>, <b>peers_k</b>" rep/campaign.html
check "one query per parameter and outcome" \
  [ -s rep/campaign_peers_k_pass_rate.sql -a -s rep/campaign_min_conn_pass_rate.sql -a -s rep/campaign_peers_k_wall_time_s.sql ]
check "peers_k plots: one series per min_conn value" \
  [ -s rep/campaign_peers_k_pass_rate_0.dat -a -s rep/campaign_peers_k_pass_rate_1.dat -a ! -e rep/campaign_peers_k_pass_rate_2.dat ]
check "series are labelled by the other parameter" \
  bash -c "head -1 rep/campaign_peers_k_pass_rate_0.dat | grep -q \"series 'min_conn=1'\" && head -1 rep/campaign_peers_k_pass_rate_1.dat | grep -q \"series 'min_conn=40'\""
# min_conn=1 passes everywhere, min_conn=40 (12 nodes) fails everywhere.
check "pass rate 1 at min_conn=1 for both peers_k" \
  [ "$(awk '!/^#/ {print $1, $2, $5}' rep/campaign_peers_k_pass_rate_0.dat | paste -sd,)" = "0 1 3,1 1 3" ]
check "pass rate 0 at min_conn=40 for both peers_k" \
  [ "$(awk '!/^#/ {print $1, $2, $5}' rep/campaign_peers_k_pass_rate_1.dat | paste -sd,)" = "0 0 3,1 0 3" ]
# The plotted mean of bootstrap_time_s equals an independent query of the campaign.
metric_dat=$(ls rep/campaign_peers_k_bootstrap_time_s_*_0.dat | head -1)
want=$(sqlite3 two/campaign.db "SELECT printf('%.6f %.6f', avg(CASE WHEN json_extract(r.parameters, '\$.peers_k') = 2 THEN s.value END),
  avg(CASE WHEN json_extract(r.parameters, '\$.peers_k') = 4 THEN s.value END))
  FROM runs r JOIN samples s ON s.run_id = r.id AND s.metric = 'bootstrap_time_s' AND s.node IS NULL
  WHERE json_extract(r.parameters, '\$.min_conn') = 1")
got=$(awk '!/^#/ {printf "%s%.6f", (NR > 2 ? " " : ""), $2}' "$metric_dat")
check "bootstrap_time_s means match SQL over the campaign ($got = $want)" [ -n "$got" -a "$got" = "$want" ]
check "x labels are the parameter values" grep -q "set xtics ('2' 0, '4' 1)" rep/campaign_peers_k_pass_rate.gp

if command -v gnuplot >/dev/null; then
  "$TP" report two/campaign.db --out drawn >drawn.log 2>&1
  rc=$?
  check "report with gnuplot: exit 0 (got $rc)" [ $rc -eq 0 ]
  check "campaign PNGs drawn" [ -s drawn/campaign_peers_k_pass_rate.png -a -s drawn/campaign_min_conn_wall_time_s.png ]
  check "campaign.html shows them" grep -q '<img src="campaign_peers_k_pass_rate.png"' drawn/campaign.html
else
  echo "# gnuplot not installed: drawing not checked"
fi

# A single run: no campaign page.
"$TP" merge one.db "$(ls two/tasks/*/run.db | head -1)" --quiet
"$TP" report one.db --out single --no-plots >single.log 2>&1
check "one run: no campaign page" [ ! -e single/campaign.html ]
check "one run: the usual report" [ -e single/index.html ]

# More runs than one report overlays: the campaign page only.
cat >many.lua <<EOF
return { scenario = "$SRC/sweeps/ci_scenario.lua", out = "many",
         params = { nodes = 8, duration = "4s", peers_k = {2, 3} }, seeds = 13 }
EOF
"$TP" sweep many.lua --jobs 2 --quiet >many_sweep.log 2>&1
"$TP" report many/campaign.db --out big --no-plots >big.log 2>&1
rc=$?
check "26-run campaign: exit 0 (got $rc)" [ $rc -eq 0 ]
check "26-run campaign: campaign page written" [ -s big/campaign.html ]
check "26-run campaign: says why there are no per-run plots" grep -q "no per-run plots: more than 24 runs" big.log
check "26-run campaign: pooled 13 runs per value" \
  [ "$(awk '!/^#/ {print $5}' big/campaign_peers_k_pass_rate_0.dat | paste -sd,)" = "13,13" ]

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]

#!/usr/bin/env bash
# tests/examples.test.sh BUILD_DIR SOURCE_DIR — every shipped example sweep runs, so none
# can rot again (the scenarios themselves: tests/sim_scenarios.test.sh):
#   - every sweep description in sweeps/ is listed here with small-size overrides (a new
#     one without an entry fails this test) and runs with one seed: every task passes;
#   - `tidepool sweep --help` names only example files that exist;
#   - the report's bandwidth hint (`sample("bytes_in", n:stat().bytes_in, n)`) works on
#     tidepool nodes as printed, and the report then draws the bandwidth plot.
set -uo pipefail
export LC_ALL=C
BUILD=$(cd "$1" && pwd)
SRC=$(cd "$2" && pwd)
TP=$BUILD/tidepool
TMP=$(mktemp -d /tmp/tp-examples.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
pass=0
fail=0
ok() { echo "ok - $1"; pass=$((pass + 1)); }
bad() { echo "FAIL - $1"; fail=$((fail + 1)); }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }

# Small-size overrides per sweep (--seeds 1 is added to each).
declare -A small=(
  [bootstrap_draws]="--set nodes=30 --set duration=20s --set blocks=1"
  [bootstrap_expected]="--set nodes=30 --set duration=20s --set blocks=1"
  [ci_resume]="--set nodes=20 --set duration=10s"
)
cd "$SRC"
for f in sweeps/*.lua; do
  name=$(basename "$f" .lua)
  # a sweep description returns a table with a scenario; ci_scenario.lua is a scenario
  "$TP" sweep "$f" --list >/dev/null 2>&1 || continue
  if [ -z "${small[$name]+x}" ]; then
    bad "sweeps/$name.lua has no small-size entry in tests/examples.test.sh"
    continue
  fi
  # shellcheck disable=SC2086
  "$TP" sweep "$f" --out "$TMP/$name" --seeds 1 ${small[$name]} --jobs 2 --quiet >"$TMP/$name.log" 2>&1
  rc=$?
  check "sweeps/$name.lua runs at small size, every task passes (exit $rc)" [ $rc -eq 0 ]
  [ $rc -eq 0 ] || tail -5 "$TMP/$name.log"
  check "sweeps/$name.lua: its campaign has every task" \
    [ "$(sqlite3 "$TMP/$name/campaign.db" 'SELECT count(*) FROM runs')" -eq "$(wc -l <"$TMP/$name/results.jsonl")" ]
done

"$TP" sweep --help >"$TMP/help.txt"
for f in $(grep -o 'sweeps/[a-z_]*\.lua' "$TMP/help.txt" | sort -u); do
  check "sweep --help names $f, which exists" [ -f "$f" ]
done

cd "$TMP"
"$TP" sim "$SRC/tests/data/bandwidth_hint.lua" --db bw.db --quiet >bw.json 2>bw.log
check "the bandwidth hint runs on tidepool nodes" grep -q '"verdict":"pass"' bw.json
"$TP" report bw.db --out bw --no-plots >bwr.log 2>&1
check "... and the report has bandwidth data" [ -s bw/bandwidth_1.dat ]
check "the hint in reports/README.md is the one tested" grep -q 'sample("bytes_in", n:stat().bytes_in, n)' "$SRC/reports/README.md"
check "the hint in the report code is the one tested" grep -q 'n:stat().bytes_in, n)' "$SRC/reports/report.c"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]

#!/usr/bin/env bash
# Sets up everything (Debian packages, configure, build) and runs the main job: the
# default scenario (scenarios/bootstrap.lua with its default parameters: 100 nodes
# joining from 3 bootstrap points over a 4-region latency model; seed 1) into the
# results database out/main.db,
# then `tidepool report` turns it into plots and out/report/index.html. A few seconds of
# wall time after the build. Exit status: the scenario's verdict (0 pass, 1 a check
# failed), or the report's when it could not be written.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/scripts/setup.sh"
tp="$root/build/tidepool"
out="$root/out"
mkdir -p "$out"
rm -f "$out/main.db" # one run per database: the report shows this run only
status=0
"$tp" sim "$root/scenarios/bootstrap.lua" --seed 1 --db "$out/main.db" || status=$?
if [ "$status" -gt 1 ]; then
  echo "run-main: the scenario could not run (exit $status); no report" >&2
  exit "$status"
fi
"$tp" report "$out/main.db" --out "$out/report"
echo "run-main: results database $out/main.db"
echo "run-main: report $out/report/index.html (open it in a browser; plots, data, SQL and gnuplot scripts are next to it)"
exit "$status"

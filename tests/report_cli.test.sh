#!/usr/bin/env bash
# tests/report_cli.test.sh BUILD_DIR SOURCE_DIR — `tidepool report` as a user meets it:
# exit codes (0 written, 2 usage, 3 bad database or gnuplot missing) and messages that
# name the problem and the fix. The plots themselves: tests/test_report.c and
# tests/report_golden.test.sh.
set -uo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
tp="$build/tidepool"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
fail=0
expect() { # expect CODE NEEDLE -- command...
  local code=$1 needle=$2; shift 3
  "$@" > out.txt 2> err.txt
  local got=$?
  if [ "$got" != "$code" ] || ! grep -qF -- "$needle" out.txt err.txt; then
    echo "FAIL: '$*' exited $got (expected $code), output lacks '$needle':" >&2
    cat out.txt err.txt >&2
    fail=1
  fi
}
sqlite3 fixture.db < "$src/reports/schema.sql"
sqlite3 fixture.db < "$src/tests/data/report_fixture.sql"
echo "not sqlite" > notes.db

expect 0 "usage: tidepool report" -- "$tp" report --help
expect 2 "no results database given" -- "$tp" report --out r
expect 2 "add --out DIR" -- "$tp" report fixture.db
expect 2 "unknown option '--bogus'" -- "$tp" report fixture.db --out r --bogus
expect 2 "--buckets 0: expected 1..10000" -- "$tp" report fixture.db --out r --buckets 0
expect 2 "--min expects a non-negative integer" -- "$tp" report fixture.db --out r --min -1
expect 2 "--runs expects run ids separated by commas (got '1,,2')" -- "$tp" report fixture.db --out r --runs 1,,2
expect 2 "--runs expects a non-negative integer (got 'x')" -- "$tp" report fixture.db --out r --runs x
expect 2 "--log-scale: unknown plot 'bogus' in 'degree,bogus'; plots: connections, degree, bootstrap, components, coverage, propagation, blocks, bandwidth, acl, events" -- "$tp" report fixture.db --out rl --log-scale degree,bogus
expect 2 "--log-scale expects a value" -- "$tp" report fixture.db --out rl --log-scale
[ ! -e rl ] || { echo "FAIL: a --log-scale usage error created its directory" >&2; fail=1; }
expect 0 "report: rl/index.html (2 runs; 16 plots" -- "$tp" report fixture.db --out rl --no-plots --log-scale propagation,degree
grep -q '^set logscale x$' rl/propagation.gp && grep -q '^set logscale y$' rl/degree.gp &&
  ! grep -q 'logscale' rl/connections.gp ||
  { echo "FAIL: --log-scale propagation,degree did not set exactly those plots' log axes" >&2; fail=1; }
expect 3 "holds none of the runs given with --runs" -- "$tp" report fixture.db --out r --runs 9
expect 3 "missing.db: cannot read" -- "$tp" report missing.db --out r
expect 3 "notes.db: not a tidepool results database" -- "$tp" report notes.db --out r
expect 3 "sudo apt-get install gnuplot-nox" -- "$tp" report fixture.db --out r --gnuplot no-such-gnuplot-here
[ ! -e r ] || { echo "FAIL: a failed report created its directory" >&2; fail=1; }
expect 0 "report: r/index.html (2 runs; 16 plots, 0 without data; not drawn: --no-plots)" -- \
  "$tp" report fixture.db --out r --no-plots
[ -f r/index.html ] && [ -f r/connections.gp ] || { echo "FAIL: no index.html/connections.gp" >&2; fail=1; }
expect 0 "report: r1/index.html (1 run; 15 plots, 0 without data; not drawn: --no-plots)" -- \
  "$tp" report fixture.db --out r1 --runs 1 --no-plots
# a campaign database (finished runs differing in parameters): the campaign page is
# written too (reports/campaign.h) and index.html links it
cp fixture.db camp.db
sqlite3 camp.db "UPDATE runs SET verdict = 'pass', virtual_time_ns = 3000000000 WHERE id = 2"
expect 0 "report: rc/campaign.html (campaign: 2 runs" -- "$tp" report camp.db --out rc --no-plots
grep -q 'See also <a href="campaign.html">' rc/index.html && [ -f rc/campaign.html ] ||
  { echo "FAIL: index.html does not link an existing campaign.html" >&2; fail=1; }
grep -q 'campaign.html' r/index.html && { echo "FAIL: a non-campaign report links campaign.html" >&2; fail=1; }
if command -v gnuplot >/dev/null; then
  expect 0 "report: r2/index.html (2 runs; 16 plots, 0 without data)" -- "$tp" report fixture.db --out r2
  [ -s r2/connections.png ] && [ -s r2/connections.svg ] || { echo "FAIL: no connections.png/svg" >&2; fail=1; }
else
  echo "SKIPPED the drawing check: gnuplot is not installed (sudo apt-get install gnuplot-nox)"
fi
[ "$fail" = 0 ] && echo "report_cli: ok"
exit "$fail"

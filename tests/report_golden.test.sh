#!/usr/bin/env bash
# tests/report_golden.test.sh BUILD_DIR SOURCE_DIR — golden-data test of `tidepool report`.
#
# Builds the fixed database tests/data/report_fixture.sql (2 runs; see its header), runs
# `tidepool report fixture.db --out report --buckets 20 --no-plots` (no gnuplot needed:
# the scripts are the same whether or not they are drawn) and compares every generated
# .dat, .gp and .sql file and index.html with tests/data/report_expected/, byte for byte,
# and the list of files too (a plot without data must leave no .dat/.gp behind).
#
# After a deliberate change to the report's queries, scripts or HTML, regenerate the
# expected files, review the diff, and commit them with the change:
#   TP_UPDATE_GOLDEN=1 bash tests/report_golden.test.sh BUILD_DIR .
#   git diff tests/data/report_expected/
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
expected="$src/tests/data/report_expected"
command -v sqlite3 >/dev/null || {
  echo "report_golden: the sqlite3 shell is missing (sudo apt-get install sqlite3; scripts/setup.sh installs it)" >&2
  exit 1
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
sqlite3 fixture.db < "$src/reports/schema.sql"
sqlite3 fixture.db < "$src/tests/data/report_fixture.sql"
"$build/tidepool" report fixture.db --out report --buckets 20 --no-plots > stdout.txt
grep -q '^report: report/index.html (2 runs; ' stdout.txt || {
  echo "report_golden: unexpected summary line:" >&2; cat stdout.txt >&2; exit 1; }

if [ "${TP_UPDATE_GOLDEN:-0}" = 1 ]; then
  rm -rf "$expected"
  mkdir -p "$expected"
  cp report/* "$expected/"
  echo "report_golden: expected files regenerated in $expected ($(ls "$expected" | wc -l) files); review with git diff"
  exit 0
fi

[ -d "$expected" ] || { echo "report_golden: $expected is missing; generate it with TP_UPDATE_GOLDEN=1" >&2; exit 1; }
fail=0
if ! diff <(cd "$expected" && ls | sort) <(cd report && ls | sort) > files.diff; then
  echo "report_golden: the generated files differ from the expected list (< expected, > generated):" >&2
  cat files.diff >&2
  fail=1
fi
for f in "$expected"/*; do
  name=$(basename "$f")
  [ -f "report/$name" ] || continue
  if ! diff -u "$f" "report/$name" > one.diff; then
    echo "report_golden: report/$name differs from tests/data/report_expected/$name:" >&2
    head -40 one.diff >&2
    fail=1
  fi
done
# Sanity of the expectations themselves: the fixture has data for every plot but one
# series is partial, so the files prove both paths.
for f in connections_1.dat connections_2.dat bootstrap_1.dat components.gp coverage_1.dat \
         propagation_1.dat bandwidth_1.dat acl_1.dat events_1.gp events_2.gp index.html; do
  [ -f "$expected/$f" ] || { echo "report_golden: expected file $f is missing" >&2; fail=1; }
done
for f in coverage_2.dat bandwidth_2.dat acl_2.dat; do
  [ ! -e "$expected/$f" ] || { echo "report_golden: $f should not exist (run 2 has no such data)" >&2; fail=1; }
done
[ "$fail" = 0 ] && echo "report_golden: $(ls report | wc -l) files match tests/data/report_expected/"
exit "$fail"

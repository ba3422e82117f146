#!/usr/bin/env bash
# tests/sweep_resume.test.sh BUILD_DIR SOURCE_DIR — `tidepool sweep` locally, killed and
# resumed (issue 11 acceptance):
#   1. the 20-task sweep sweeps/ci_resume.lua runs uninterrupted (reference campaign);
#   2. the same sweep is killed with SIGKILL halfway (8..19 tasks finished), resumed,
#      and its merged campaign.db equals the reference;
#   3. the same with SIGINT: exit code 130, no half-written task left, resume, equal;
#   4. rerunning a finished sweep runs nothing and rebuilds the same campaign;
#   5. `tidepool merge` by hand: same campaign from the task databases, re-merging adds
#      nothing, a mismatching schema_version and a non-database are refused;
#   6. the equality check itself fails on a campaign that differs by one row.
# "Equal" campaign databases: every table has the same rows (as a multiset: EXCEPT both
# ways and equal counts), run ids included, ignoring only the wall-clock columns
# runs.started_at and runs.wall_time_s. results.jsonl must match without wall_time_s.
set -euo pipefail
export LC_ALL=C
BUILD=$(cd "$1" && pwd)
SRC=$(cd "$2" && pwd)
TP=$BUILD/tidepool
SWEEP=$SRC/sweeps/ci_resume.lua
TMP=$(mktemp -d /tmp/tp-sweep-resume.XXXXXX)
bg=""
cleanup() {
  if [ -n "$bg" ]; then kill -9 "$bg" 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT
cd "$TMP"
pass=0
fail=0
ok() { echo "ok - $1"; pass=$((pass + 1)); }
bad() { echo "FAIL - $1"; fail=$((fail + 1)); }
check() { # check "name" command...
  local name=$1; shift
  if "$@"; then ok "$name"; else bad "$name"; fi
}

# Prints nothing and succeeds iff databases $1 and $2 are equal as defined above.
db_equal() {
  local a=$1 b=$2
  local sql="ATTACH '$a' AS a; ATTACH '$b' AS b;"
  local tables
  tables=$(sqlite3 "$a" "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
  local tb
  tb=$(sqlite3 "$b" "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
  if [ "$tables" != "$tb" ]; then echo "tables differ: $tables vs $tb"; return 1; fi
  for t in $tables; do
    local cols
    cols=$(sqlite3 "$a" "SELECT group_concat('\"' || name || '\"', ', ') FROM pragma_table_info('$t') WHERE NOT ('$t' = 'runs' AND name IN ('started_at', 'wall_time_s'))")
    sql+="SELECT '$t', (SELECT count(*) FROM a.\"$t\"), (SELECT count(*) FROM b.\"$t\"),
      (SELECT count(*) FROM (SELECT $cols FROM a.\"$t\" EXCEPT SELECT $cols FROM b.\"$t\")),
      (SELECT count(*) FROM (SELECT $cols FROM b.\"$t\" EXCEPT SELECT $cols FROM a.\"$t\"));"
  done
  local out
  out=$(sqlite3 -separator ' ' :memory: "$sql")
  local diff
  diff=$(echo "$out" | awk '$2 != $3 || $4 != 0 || $5 != 0')
  if [ -n "$diff" ]; then echo "differing tables (name rows_a rows_b only_a only_b):"; echo "$diff"; return 1; fi
  return 0
}
jsonl_equal() { # results.jsonl without wall_time_s
  diff <(sed 's/"wall_time_s":[0-9.]*,//' "$1") <(sed 's/"wall_time_s":[0-9.]*,//' "$2") >/dev/null
}
finished() { ls "$1"/tasks/*/result.json 2>/dev/null | wc -l; }

# Starts the sweep in the background and sends signal $2 once at least 8 tasks have
# finished; sets killed_at to the number finished at that moment.
run_and_kill() {
  local out=$1 sig=$2
  "$TP" sweep "$SWEEP" --out "$out" --jobs 2 >"$out.log" 2>&1 &
  bg=$!
  local waited=0
  while [ "$(finished "$out")" -lt 8 ] && [ $waited -lt 6000 ]; do
    sleep 0.01; waited=$((waited + 1))
  done
  kill "-$sig" "$bg" 2>/dev/null || true
  set +e; wait "$bg" 2>/dev/null; kill_rc=$?; set -e
  bg=""
  killed_at=$(finished "$out")
}

# ---- 1. reference ---------------------------------------------------------------
set +e
"$TP" sweep "$SWEEP" --out full --jobs 2 >full.log 2>&1
rc=$?
set -e
check "uninterrupted sweep exits 0 (all tasks pass)" [ $rc -eq 0 ]
check "uninterrupted sweep: 20 result files" [ "$(finished full)" -eq 20 ]
check "uninterrupted sweep: results.jsonl has 20 lines" [ "$(wc -l <full/results.jsonl)" -eq 20 ]
check "uninterrupted sweep: campaign.db has 20 runs" \
  [ "$(sqlite3 full/campaign.db 'SELECT count(*) FROM runs')" -eq 20 ]
check "campaign run ids follow sorted task ids" \
  [ "$(sqlite3 full/campaign.db 'SELECT group_concat(seed) FROM runs ORDER BY id')" = \
    "$(for d in full/tasks/*/; do sqlite3 "$d/run.db" 'SELECT seed FROM runs'; done | paste -sd,)" ]
check "non-TTY progress: one line per finished task" [ "$(grep -c '^sweep: \[[0-9]*/20\] task' full.log)" -eq 20 ]

# ---- 2. SIGKILL halfway, resume ------------------------------------------------
run_and_kill killed KILL
echo "# SIGKILL after $killed_at of 20 tasks"
check "SIGKILL lands halfway (8..19 tasks finished, got $killed_at)" \
  [ "$killed_at" -ge 8 -a "$killed_at" -lt 20 ]
check "no campaign.db after the kill" [ ! -e killed/campaign.db ]
sleep 0.2
no_orphans() { ! pgrep -f -- "--db killed/tas[k]s/" >/dev/null; }
check "no task process outlives the killed sweep (PR_SET_PDEATHSIG)" no_orphans
set +e
"$TP" sweep "$SWEEP" --out killed --jobs 2 >resume.log 2>&1
rc=$?
set -e
check "resumed sweep exits 0" [ $rc -eq 0 ]
check "resume skips the $killed_at finished tasks" \
  grep -q "20 tasks, $killed_at already finished, $((20 - killed_at)) to run" resume.log
check "resume ran exactly the missing tasks" \
  [ "$(grep -c '^sweep: \[[0-9]*/20\] task' resume.log)" -eq $((20 - killed_at)) ]
check "killed + resumed campaign.db equals the uninterrupted one" db_equal full/campaign.db killed/campaign.db
check "killed + resumed results.jsonl equals the uninterrupted one" jsonl_equal full/results.jsonl killed/results.jsonl

# ---- 3. SIGINT halfway, resume -------------------------------------------------
run_and_kill stopped INT
echo "# SIGINT after $killed_at of 20 tasks"
check "SIGINT: exit code 130 (got $kill_rc)" [ "$kill_rc" -eq 130 ]
check "SIGINT: says how to resume" grep -q "run the same command again to resume" stopped.log
partial=0
for d in stopped/tasks/*/; do
  if [ ! -e "$d/result.json" ] && [ -n "$(ls -A "$d")" ]; then partial=$((partial + 1)); fi
done
check "SIGINT: interrupted tasks' directories were emptied ($partial left)" [ $partial -eq 0 ]
set +e
"$TP" sweep "$SWEEP" --out stopped --jobs 2 >resume2.log 2>&1
rc=$?
set -e
check "resume after SIGINT exits 0" [ $rc -eq 0 ]
check "resume after SIGINT: campaign.db equals the uninterrupted one" db_equal full/campaign.db stopped/campaign.db

# ---- 4. nothing left to do ----------------------------------------------------
before=$(sqlite3 full/campaign.db 'SELECT group_concat(trace_hash) FROM runs ORDER BY id')
"$TP" sweep "$SWEEP" --out full --jobs 2 >again.log 2>&1
check "a finished sweep runs nothing" grep -q "20 tasks, 20 already finished, 0 to run" again.log
check "...and rebuilds the same campaign" \
  [ "$(sqlite3 full/campaign.db 'SELECT group_concat(trace_hash) FROM runs ORDER BY id')" = "$before" ]

# ---- 5. tidepool merge by hand ---------------------------------------------------
"$TP" merge manual.db full/tasks/*/run.db 2>merge1.log
check "merge: the task databases in sorted order give the same campaign" db_equal full/campaign.db manual.db
"$TP" merge manual.db full/tasks/*/run.db 2>merge2.log
check "merge: re-merging adds nothing" grep -q "0 runs added, 20 already there" merge2.log
check "merge: still 20 runs" [ "$(sqlite3 manual.db 'SELECT count(*) FROM runs')" -eq 20 ]
cp "$(ls full/tasks/*/run.db | head -1)" v2.db
sqlite3 v2.db "UPDATE meta SET value = '999' WHERE key = 'schema_version'"
set +e
"$TP" merge manual2.db v2.db 2>merge3.log
rc=$?
set -e
check "merge: schema_version mismatch refused with exit 3" [ $rc -eq 3 ]
check "merge: the refusal names the file and both versions" grep -q "v2.db: schema_version 999, but this tidepool writes version" merge3.log
echo "not a database" >junk.db
set +e
"$TP" merge manual3.db junk.db 2>merge4.log
rc=$?
set -e
check "merge: a non-database is refused with exit 3" [ $rc -eq 3 ]
check "merge: the refusal names the file" grep -q "junk.db" merge4.log
set +e
"$TP" merge manual4.db missing.db 2>merge5.log
rc=$?
set -e
check "merge: a missing input is refused (and not created)" [ $rc -eq 3 -a ! -e missing.db ]

# ---- 6. the equality check can fail ---------------------------------------------
cp full/campaign.db changed.db
sqlite3 changed.db "DELETE FROM events WHERE run_id = 1 AND seq = (SELECT max(seq) FROM events WHERE run_id = 1)"
if db_equal full/campaign.db changed.db >/dev/null; then bad "db_equal misses a deleted event row"; else ok "db_equal notices a deleted event row"; fi
cp full/campaign.db changed2.db
sqlite3 changed2.db "UPDATE runs SET trace_hash = '0000000000000000' WHERE id = 3"
if db_equal full/campaign.db changed2.db >/dev/null; then bad "db_equal misses a changed trace hash"; else ok "db_equal notices a changed trace hash"; fi
cp full/campaign.db changed3.db
sqlite3 changed3.db "UPDATE runs SET started_at = 'x', wall_time_s = 99"
check "db_equal ignores started_at and wall_time_s" db_equal full/campaign.db changed3.db

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]

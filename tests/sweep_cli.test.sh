#!/usr/bin/env bash
# tests/sweep_cli.test.sh BUILD_DIR SOURCE_DIR — `tidepool sweep` / `tidepool merge` from
# the command line, everything that needs no Slurm daemons:
#   - --list prints the tasks; usage errors exit 2, a malformed description exits 3
#     with FILE:LINE;
#   - --slurm --dry-run writes array.sh / merge.sh; running them by hand (each array
#     index with SLURM_ARRAY_TASK_ID, then the merge script) gives the same campaign as
#     a local run;
#   - --slurm with a stand-in sbatch on PATH: the array is submitted with --parsable,
#     the merge job with --dependency=afterany:<array id>, ids are printed; a failing
#     sbatch is reported with its message and exit code 3;
#   - --collect with tasks missing exits 1 and says how to run them;
#   - a failing scenario makes the sweep exit 1 and its verdict lands in results.jsonl;
#   - on a terminal the progress bar shows done/total, failures and an ETA.
set -uo pipefail
export LC_ALL=C
BUILD=$(cd "$1" && pwd)
SRC=$(cd "$2" && pwd)
TP=$BUILD/tidepool
SWEEP=$SRC/sweeps/ci_resume.lua
TMP=$(mktemp -d /tmp/tp-sweep-cli.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
cd "$TMP"
pass=0
fail=0
ok() { echo "ok - $1"; pass=$((pass + 1)); }
bad() { echo "FAIL - $1"; fail=$((fail + 1)); }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }
run() { # run OUTFILE cmd... ; sets rc
  local out=$1; shift
  "$@" >"$out" 2>&1; rc=$?
}
db_equal() { # same definition as tests/sweep_resume.test.sh
  local a=$1 b=$2
  local sql="ATTACH '$a' AS a; ATTACH '$b' AS b;" tables t cols
  tables=$(sqlite3 "$a" "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
  [ "$tables" = "$(sqlite3 "$b" "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name")" ] || return 1
  for t in $tables; do
    cols=$(sqlite3 "$a" "SELECT group_concat('\"' || name || '\"', ', ') FROM pragma_table_info('$t') WHERE NOT ('$t' = 'runs' AND name IN ('started_at', 'wall_time_s'))")
    sql+="SELECT (SELECT count(*) FROM a.\"$t\") - (SELECT count(*) FROM b.\"$t\")
      + (SELECT count(*) FROM (SELECT $cols FROM a.\"$t\" EXCEPT SELECT $cols FROM b.\"$t\"))
      + (SELECT count(*) FROM (SELECT $cols FROM b.\"$t\" EXCEPT SELECT $cols FROM a.\"$t\"));"
  done
  [ -z "$(sqlite3 :memory: "$sql" | grep -v '^0$')" ]
}

# ---- listing and usage ----------------------------------------------------------------
run list.txt "$TP" sweep "$SWEEP" --list
check "--list: exit 0" [ $rc -eq 0 ]
check "--list: header counts 2 points x 10 seeds" grep -q '^# 20 tasks: 2 grid points x 1 draws x 10 seeds' list.txt
check "--list: 20 task lines with id and parameters" \
  [ "$(grep -cE '^[0-9]+ [0-9a-f]{16} seed=[0-9]+ duration=30s nodes=60 peers_k=[24]$' list.txt)" -eq 20 ]
run u1.txt "$TP" sweep "$SWEEP" --partition x
check "Slurm options without --slurm: exit 2" [ $rc -eq 2 ]
run u2.txt "$TP" sweep
check "no description: exit 2" [ $rc -eq 2 ]
check "no description: an example" grep -q "e.g. tidepool sweep" u2.txt
run u3.txt "$TP" sweep "$SWEEP" --jobs 0
check "--jobs 0: exit 2" [ $rc -eq 2 ]
run u4.txt "$TP" sweep "$SWEEP" --list --collect
check "--list with --collect: exit 2" [ $rc -eq 2 ]
run u5.txt "$TP" merge only.db
check "merge without inputs: exit 2" [ $rc -eq 2 ]
printf 'return {\n  scenario = "x.lua",\n  params = { n = uniform(3, 1) },\n}\n' >bad.lua
run u6.txt "$TP" sweep bad.lua --list
check "malformed description: exit 3" [ $rc -eq 3 ]
check "malformed description: FILE:LINE and the call" grep -q "bad.lua:3: uniform(lo, hi): expected finite lo < hi" u6.txt
printf 'return { scenario = "x.lua" }\n' >noout.lua
run u7.txt "$TP" sweep noout.lua
check "no output directory: exit 2" [ $rc -eq 2 ]
check "no output directory: the fix" grep -q 'add out = "out/noout"' u7.txt
run help.txt "$TP" sweep --help
check "sweep --help: exit 0" [ $rc -eq 0 ]
check "sweep --help: documents --max-parallel" grep -q -- "--max-parallel K" help.txt
run help2.txt "$TP" merge --help
check "merge --help: exit 0" [ $rc -eq 0 ]

# ---- the Slurm scripts, run by hand ---------------------------------------------------
run dry.txt "$TP" sweep "$SWEEP" --slurm --dry-run --out byhand --tasks-per-job 3 --max-parallel 4 --mem 1G
check "--dry-run: exit 0" [ $rc -eq 0 ]
check "--dry-run: 7 array tasks of 3" grep -q "in 7 array tasks of 3" dry.txt
check "--dry-run: not submitted" grep -q "dry run: not submitted" dry.txt
check "array.sh: --array=0-6%4" grep -q '^#SBATCH --array=0-6%4$' byhand/slurm/array.sh
check "array.sh: --mem=1G" grep -q '^#SBATCH --mem=1G$' byhand/slurm/array.sh
check "merge.sh: --collect" grep -q -- "--collect$" byhand/slurm/merge.sh
for i in 6 0 3 1 5 2 4; do # any order, as a scheduler may run them
  SLURM_ARRAY_TASK_ID=$i bash byhand/slurm/array.sh >"batch$i.log" 2>&1 || echo "# batch $i exit $?"
done
check "array indices ran all 20 tasks" [ "$(ls byhand/tasks/*/result.json | wc -l)" -eq 20 ]
check "batch 6 ran the last 2 tasks" [ "$(grep -c '^sweep: \[[0-9]*/2\] task' batch6.log)" -eq 2 ]
run mergejob.txt bash byhand/slurm/merge.sh
check "merge.sh: exit 0" [ $rc -eq 0 ]
"$TP" sweep "$SWEEP" --out local --jobs 2 --quiet >local.txt 2>&1
check "scripts by hand give the same campaign as a local run" db_equal local/campaign.db byhand/campaign.db
run rebatch.txt bash -c "SLURM_ARRAY_TASK_ID=2 bash byhand/slurm/array.sh"
check "a resubmitted batch skips its finished tasks" grep -q "3 tasks, 3 already finished, 0 to run" rebatch.txt
run past.txt "$TP" sweep "$SWEEP" --out byhand --task-batch 7 --tasks-per-batch 3
check "--task-batch past the end: exit 2" [ $rc -eq 2 ]

# ---- submission through a stand-in sbatch -----------------------------------------------
mkdir -p fakebin
cat >fakebin/sbatch <<'EOF'
#!/bin/bash
echo "$*" >>"$FAKE_SBATCH_LOG"
n=$(wc -l <"$FAKE_SBATCH_LOG")
if [ -n "${FAKE_SBATCH_FAIL:-}" ]; then echo "sbatch: error: invalid partition specified: nope" >&2; exit 1; fi
if [ "$n" -eq 1 ]; then echo 4242; else echo "4243;cluster"; fi
EOF
chmod +x fakebin/sbatch
export FAKE_SBATCH_LOG=$TMP/sbatch.log
run submit.txt env PATH="$TMP/fakebin:$PATH" "$TP" sweep "$SWEEP" --slurm --out sub --partition short
check "submit: exit 0" [ $rc -eq 0 ]
check "submit: array first, with --parsable" [ "$(sed -n 1p sbatch.log)" = "--parsable $TMP/sub/slurm/array.sh" ]
check "submit: merge job depends on the array" \
  [ "$(sed -n 2p sbatch.log)" = "--parsable --dependency=afterany:4242 $TMP/sub/slurm/merge.sh" ]
check "submit: prints the array job id" grep -q "^array job 4242$" submit.txt
check "submit: prints the merge job id" grep -q "^merge job 4243 (afterany:4242)$" submit.txt
rm -f sbatch.log
run submit2.txt env PATH="$TMP/fakebin:$PATH" FAKE_SBATCH_FAIL=1 "$TP" sweep "$SWEEP" --slurm --out sub --partition nope
check "failing sbatch: exit 3" [ $rc -eq 3 ]
check "failing sbatch: its message is shown" grep -q "invalid partition specified: nope" submit2.txt

# ---- collect with missing tasks ---------------------------------------------------------
run coll.txt "$TP" sweep "$SWEEP" --out sub --collect
check "--collect with nothing finished: exit 1" [ $rc -eq 1 ]
check "--collect: says 20 tasks have no result and how to run them" grep -q "20 tasks have no result yet; run" coll.txt
check "--collect: still writes an empty campaign" [ "$(sqlite3 sub/campaign.db 'SELECT count(*) FROM runs')" -eq 0 ]

# ---- one sweep per output directory at a time --------------------------------------------
mkdir -p locked
exec 9>locked/.lock # the test shell holds the lock, as a running sweep would
flock -x 9
run lock1.txt "$TP" sweep "$SWEEP" --out locked --jobs 2 9>&-
check "a second sweep on a busy output directory: exit 3" [ $rc -eq 3 ]
check "...naming the lock and the fix" grep -q "another tidepool sweep is using locked (it holds locked/.lock): wait for it to end, or give another --out" lock1.txt
check "...and running nothing" [ ! -d locked/tasks ]
run lock1b.txt "$TP" sweep "$SWEEP" --out locked --task-batch 0 --tasks-per-batch 2 9>&-
check "a Slurm batch waits for no local sweep either: exit 3" [ $rc -eq 3 ]
flock -u 9
flock -s 9
run lock2.txt "$TP" sweep "$SWEEP" --out locked --task-batch 0 --tasks-per-batch 2 9>&-
check "Slurm batches share the directory (shared lock): exit 0" [ $rc -eq 0 ]
run lock3.txt "$TP" sweep "$SWEEP" --out locked --collect 9>&-
check "collecting while batches run is refused: exit 3" [ $rc -eq 3 ]
exec 9>&-

# ---- a failing scenario ------------------------------------------------------------------
cat >failing.lua <<EOF
return { scenario = "$SRC/sweeps/ci_scenario.lua", out = "failing",
         params = { nodes = 10, duration = "5s", min_conn = {2, 40} } }
EOF
run failing.txt "$TP" sweep failing.lua --jobs 2
check "a failing task makes the sweep exit 1" [ $rc -eq 1 ]
check "the failure is reported with its message" grep -q "min_conn=40 nodes=10: fail (.*every node reaches 40 connections" failing.txt
check "results.jsonl has both verdicts" \
  [ "$(grep -c '"verdict":"pass"' failing/results.jsonl)" -eq 1 -a "$(grep -c '"verdict":"fail"' failing/results.jsonl)" -eq 1 ]
run failing2.txt "$TP" sweep failing.lua --jobs 2
check "resuming a finished sweep with a failed task still exits 1" [ $rc -eq 1 ]

# ---- the progress bar on a terminal ------------------------------------------------------
script -qec "$TP sweep $SWEEP --out tty --jobs 2 --no-collect" tty.txt >/dev/null 2>&1
check "TTY: progress bar with done/total, failures and ETA" grep -qa "sweep \[#*-*\] [0-9]*/20 done  0 failed  [0-9] running  .* ETA" tty.txt
check "TTY: ends at 20/20" grep -qa "20/20 done" tty.txt
check "TTY: no per-task lines for passing tasks" bash -c "! grep -qa '^sweep: \[[0-9]*/20\] task' tty.txt"
check "--no-collect: no campaign.db" [ ! -e tty/campaign.db ]

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]

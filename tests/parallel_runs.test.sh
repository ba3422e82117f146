#!/bin/bash
# tests/parallel_runs.test.sh BUILD SRC — one simulation on several threads is the run it
# is on one (issue 21; simnet/README.md "Parallel runs"):
#  - tests/data/parallel_mix.lua (tidepool nodes with blocks, hostile peers, a partition
#    and its heal, crashes and restarts with a disk wiped, at/every/run_until callbacks,
#    samples, checks) at 1 and 4 threads,
#  - bench/standard.lua (the standard workload, 80 nodes, 90 virtual seconds) at 1, 2, 3
#    and 8 threads (more threads than this machine has cores; 8 partitions per thread,
#    the default), and at 2 threads with 2 partitions and 1 thread with 5 (T/P below),
# must give the same trace hash and the same rows in every table of the results database
# (apart from the wall-clock columns: runs.started_at, runs.wall_time_s), and each run
# must really use the threads and partitions asked for. Bad --partitions values are
# refused with a message naming the option.
set -euo pipefail
BUILD=${1:?usage: parallel_runs.test.sh BUILD SRC}
SRC=${2:?usage: parallel_runs.test.sh BUILD SRC}
TP="$BUILD/tidepool"
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT

# (to stderr: inside $(run_at ...) stdout is the captured hash)
fail() { echo "FAIL: $*" >&2; exit 1; }

# Every table, every row, in a fixed order, without the wall-clock columns.
dump() {
  local db=$1 t
  for t in $(sqlite3 "$db" "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"); do
    echo "== $t"
    if [ "$t" = runs ]; then
      sqlite3 "$db" "SELECT id, scenario, seed, parameters, log_level, command, trace_hash,
                            virtual_time_ns, events_executed, verdict, message FROM runs ORDER BY id"
    else
      # insertion order (rowid), or key order for a WITHOUT ROWID table
      sqlite3 "$db" "SELECT * FROM \"$t\" ORDER BY rowid" 2>/dev/null ||
        sqlite3 "$db" "SELECT * FROM \"$t\""
    fi
  done
}

run_at() { # script threads[/partitions] out.db [--set ...]
  local script=$1 threads=${2%/*} parts= db=$3
  [ "$2" != "$threads" ] && parts=${2#*/}
  shift 3
  local json
  json=$("$TP" sim "$script" --seed 7 --db "$db" --quiet --threads "$threads" \
           ${parts:+--partitions "$parts"} "$@") ||
    fail "$script at $threads threads did not pass: $json"
  local used
  used=$(echo "$json" | sed -n 's/.*"threads":\([0-9]*\).*/\1/p')
  [ "$used" = "$threads" ] || fail "$script asked for $threads threads and used $used: $json"
  used=$(echo "$json" | sed -n 's/.*"partitions":\([0-9]*\).*/\1/p')
  # by default 8 per thread, fewer when the world had fewer hosts at its first run
  if [ -n "$parts" ]; then
    [ "$used" = "$parts" ] || fail "$script asked for $parts partitions and used $used: $json"
  elif [ "$threads" = 1 ]; then
    [ "$used" = 1 ] || fail "$script on one thread used $used partitions: $json"
  else
    [ "$used" -ge "$threads" ] && [ "$used" -le $((threads * 8)) ] ||
      fail "$script at $threads threads used $used partitions: $json"
  fi
  echo "$json" | sed -n 's/.*"trace_hash":"\([0-9a-f]*\)".*/\1/p'
}

check_same() { # script "thread counts" [--set ...]
  local script=$1 counts=$2
  shift 2
  local ref_hash="" ref_dump=""
  for t in $counts; do
    local db="$DIR/$(basename "$script" .lua)_${t/\//_}.db"
    local h
    h=$(run_at "$script" "$t" "$db" "$@")
    dump "$db" > "$db.txt"
    local rows
    rows=$(wc -l < "$db.txt")
    if [ -z "$ref_hash" ]; then
      ref_hash=$h
      ref_dump="$db.txt"
      [ "$rows" -gt 500 ] || fail "$script wrote only $rows lines of rows: too small a check"
      echo "ok: $script at $t thread(s): trace $h, $rows lines of rows"
    else
      [ "$h" = "$ref_hash" ] || fail "$script: trace $h at $t threads, $ref_hash at the first count"
      if ! cmp -s "$ref_dump" "$db.txt"; then
        diff "$ref_dump" "$db.txt" | head -20
        fail "$script: the results database differs at $t threads"
      fi
      echo "ok: $script at $t threads: the same trace and the same $rows lines of rows"
    fi
  done
}

check_same "$SRC/tests/data/parallel_mix.lua" "1 4"
check_same "$SRC/bench/standard.lua" "1 2 3 8 2/2 1/5" --set nodes=80 --set duration=90s

for bad in 0 257 x; do
  if err=$("$TP" sim "$SRC/tests/data/parallel_mix.lua" --quiet --partitions "$bad" 2>&1 >/dev/null); then
    fail "--partitions $bad was accepted"
  fi
  echo "$err" | grep -q -- "--partitions" || fail "--partitions $bad: the error does not name the option: $err"
done
echo "ok: bad --partitions values are refused"
echo PASS

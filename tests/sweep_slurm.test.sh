#!/usr/bin/env bash
# tests/sweep_slurm.test.sh BUILD_DIR SOURCE_DIR — `tidepool sweep --slurm` end to end on
# a single-host Slurm cluster that this script brings up and tears down itself (issue 11
# acceptance):
#   - installs slurm-wlm / slurm-client / munge from Debian's packages if missing (root,
#     apt-get), writes a munge key and a minimal slurm.conf (one node: this host, CPUs
#     from nproc, one partition; proctrack/linuxproc, task/none: no cgroups, no
#     systemd), starts munged, slurmctld and slurmd in the foreground as background
#     processes with their own state, spool, socket and log files under a temp dir, on
#     random ports, and waits for the node to be idle;
#   - runs the 20-task sweeps/ci_resume.lua with --slurm --max-parallel 2, waits (at
#     most 4 minutes) for the merge job, and checks that the merged campaign equals a
#     local run of the same sweep (same definition as tests/sweep_resume.test.sh);
#   - kills exactly the daemons it started (by pid) and removes its files, in a trap.
# Where the services cannot be started (not root, no packages, a daemon that dies or a
# node that never becomes idle) it prints "SKIP: <reason>" and the closing line
# "0 passed, 0 failed, 1 skipped", and exits 0: the skip is visible in the test log.
# TP_SLURM_TEST=skip skips it on purpose (e.g. on a shared machine).
set -uo pipefail
export LC_ALL=C
BUILD=$(cd "$1" && pwd)
SRC=$(cd "$2" && pwd)
TP=$BUILD/tidepool
SWEEP=$SRC/sweeps/ci_resume.lua
WAIT_IDLE_S=60
WAIT_JOBS_S=240 # with the apt-get and start-up bounds: within ctest's 900 s

pids=()
TMP=""
teardown() {
  if [ -n "$TMP" ] && [ -e "$TMP/slurm.conf" ] && command -v scancel >/dev/null; then
    SLURM_CONF=$TMP/slurm.conf timeout 10 scancel --quiet -u root 2>/dev/null || true
  fi
  # Only the processes this script started, by pid, newest first.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill "${pids[$i]}" 2>/dev/null || true; done
  sleep 0.5
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -9 "${pids[$i]}" 2>/dev/null || true; done
  if [ -n "$TMP" ]; then rm -rf "$TMP"; fi
}
trap teardown EXIT

skip() {
  echo "SKIP: $1"
  if [ -n "$TMP" ]; then
    for f in "$TMP"/log/*.log; do
      [ -s "$f" ] && { echo "--- last lines of $(basename "$f"):"; tail -n 5 "$f"; }
    done
  fi
  echo "0 passed, 0 failed, 1 skipped"
  exit 0
}

[ "${TP_SLURM_TEST:-}" = skip ] && skip "TP_SLURM_TEST=skip"
[ "$(id -u)" -eq 0 ] || skip "needs root to start munged, slurmctld and slurmd (CI runs as root)"
[ -x "$TP" ] || { echo "FAIL - $TP missing"; echo "0 passed, 1 failed"; exit 1; }

# ---- packages ---------------------------------------------------------------------
have_all() { command -v slurmctld && command -v slurmd && command -v sbatch && command -v munged; } >/dev/null 2>&1
if ! have_all; then
  command -v apt-get >/dev/null || skip "Slurm/munge not installed and no apt-get"
  echo "# installing slurm-wlm slurm-client munge (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  if ! timeout 200 apt-get install -y -qq slurm-wlm slurm-client munge >/tmp/tp-slurm-apt.log 2>&1; then
    timeout 100 apt-get update -qq >>/tmp/tp-slurm-apt.log 2>&1
    timeout 200 apt-get install -y -qq slurm-wlm slurm-client munge >>/tmp/tp-slurm-apt.log 2>&1 ||
      skip "apt-get install slurm-wlm slurm-client munge failed (see /tmp/tp-slurm-apt.log)"
  fi
  have_all || skip "slurmctld/slurmd/sbatch/munged still missing after apt-get install"
fi
SBIN=$(dirname "$(command -v slurmctld)")

TMP=$(mktemp -d /tmp/tp-slurm.XXXXXX)
chmod 700 "$TMP"
mkdir -p "$TMP"/{munge,state,spool,log,work}
chmod 700 "$TMP/munge"

# ---- munge -------------------------------------------------------------------------
MUNGE_SOCKET=$TMP/munge/munge.socket
dd if=/dev/urandom of="$TMP/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$TMP/munge/munge.key"
munged -F --force --key-file="$TMP/munge/munge.key" --socket="$MUNGE_SOCKET" \
  --pid-file="$TMP/munge/munged.pid" --log-file="$TMP/log/munged.log" \
  --seed-file="$TMP/munge/munged.seed" >>"$TMP/log/munged.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do [ -S "$MUNGE_SOCKET" ] && break; sleep 0.1; done
[ -S "$MUNGE_SOCKET" ] || skip "munged did not start"
munge -n --socket="$MUNGE_SOCKET" | unmunge --socket="$MUNGE_SOCKET" >/dev/null 2>&1 ||
  skip "munge credentials do not round-trip through munged"

# ---- slurm.conf --------------------------------------------------------------------
NODE=$(hostname -s)
CPUS=$(nproc)
PORT=$((20000 + RANDOM % 20000))
cat >"$TMP/slurm.conf" <<EOF
# written by tests/sweep_slurm.test.sh: a single-host cluster, no cgroups, no accounting
ClusterName=tidepooltest
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
StateSaveLocation=$TMP/state
SlurmdSpoolDir=$TMP/spool
SlurmctldPidFile=$TMP/slurmctld.pid
SlurmdPidFile=$TMP/slurmd.pid
SlurmctldLogFile=$TMP/log/slurmctld.log
SlurmdLogFile=$TMP/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
MinJobAge=600
MaxArraySize=1001
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=100 State=UNKNOWN
PartitionName=tptest Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$TMP/slurm.conf

"$SBIN/slurmctld" -D -c -f "$SLURM_CONF" >>"$TMP/log/slurmctld.out" 2>&1 &
pids+=($!)
sleep 1
kill -0 "${pids[-1]}" 2>/dev/null || skip "slurmctld exited at start-up"
"$SBIN/slurmd" -D -N "$NODE" -f "$SLURM_CONF" >>"$TMP/log/slurmd.out" 2>&1 &
pids+=($!)

idle=0
for _ in $(seq $((WAIT_IDLE_S * 2))); do
  state=$(timeout 5 sinfo -h -N -n "$NODE" -o '%T' 2>/dev/null | head -1)
  case "$state" in idle*) idle=1; break ;; esac
  for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || skip "a Slurm or munge daemon died at start-up"; done
  sleep 0.5
done
[ $idle -eq 1 ] || skip "node $NODE not idle after ${WAIT_IDLE_S}s (state '${state:-none}')"
echo "# single-host Slurm up: node $NODE ($CPUS CPUs), partition tptest, ports $PORT/$((PORT + 1))"

# ---- the test ----------------------------------------------------------------------
pass=0
fail=0
ok() { echo "ok - $1"; pass=$((pass + 1)); }
bad() { echo "FAIL - $1"; fail=$((fail + 1)); }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }
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

cd "$TMP/work"
# sbatch through a wrapper that records its arguments (then runs the real one).
mkdir -p wrap
cat >wrap/sbatch <<EOF
#!/bin/bash
echo "\$*" >>"$TMP/work/sbatch.args"
exec $(command -v sbatch) "\$@"
EOF
chmod +x wrap/sbatch
if PATH="$TMP/work/wrap:$PATH" "$TP" sweep "$SWEEP" --slurm --out slurm-out --partition tptest --max-parallel 2 \
  --time 10 >submit.log 2>&1; then
  ok "tidepool sweep --slurm submits"
else
  cat submit.log
  bad "tidepool sweep --slurm submits"
fi
cat submit.log | sed 's/^/# /'
array=$(sed -n 's/^array job \([0-9]*\).*/\1/p' submit.log)
merge=$(sed -n 's/^merge job \([0-9]*\).*/\1/p' submit.log)
check "job ids printed (array '$array', merge '$merge')" [ -n "$array" -a -n "$merge" ]
check "array.sh throttles with %2 over 20 tasks" grep -q '^#SBATCH --array=0-19%2$' slurm-out/slurm/array.sh
check "merge job submitted with --dependency=afterany:$array" \
  grep -q -- "--parsable --dependency=afterany:$array .*/slurm-out/slurm/merge.sh" sbatch.args

# Wait for the merge job to end (bounded).
merge_state=""
for _ in $(seq $((WAIT_JOBS_S * 2))); do
  merge_state=$(timeout 5 scontrol show job "$merge" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' | head -1)
  case "$merge_state" in COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY) break ;; esac
  sleep 0.5
done
echo "# merge job $merge: ${merge_state:-unknown}"
check "merge job completed within ${WAIT_JOBS_S}s (state '$merge_state')" [ "$merge_state" = COMPLETED ]
array_states=$(timeout 5 scontrol show job "$array" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' | sort | uniq -c | tr '\n' ' ')
echo "# array job $array task states: $array_states"
check "every array task completed" bash -c "[ -n '$array_states' ] && ! echo '$array_states' | grep -qv COMPLETED"
check "20 task results" [ "$(ls slurm-out/tasks/*/result.json 2>/dev/null | wc -l)" -eq 20 ]
check "campaign.db from the merge job holds 20 runs" \
  [ "$(sqlite3 slurm-out/campaign.db 'SELECT count(*) FROM runs' 2>/dev/null)" = 20 ]
check "array logs written under slurm-out/slurm/logs" bash -c "ls slurm-out/slurm/logs/batch-${array}_*.log >/dev/null"

"$TP" sweep "$SWEEP" --out local --jobs 2 --quiet >local.log 2>&1
check "the Slurm campaign equals a local run of the same sweep" db_equal local/campaign.db slurm-out/campaign.db
check "results.jsonl equal without wall times" \
  diff <(sed 's/"wall_time_s":[0-9.]*,//' local/results.jsonl) <(sed 's/"wall_time_s":[0-9.]*,//' slurm-out/results.jsonl)

if [ $fail -ne 0 ]; then
  for f in "$TMP"/log/*.log slurm-out/slurm/logs/*.log; do
    [ -s "$f" ] && { echo "--- $f"; tail -n 15 "$f"; }
  done
fi
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]

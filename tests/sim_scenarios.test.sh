#!/usr/bin/env bash
# tests/sim_scenarios.test.sh BUILD_DIR SOURCE_DIR
#
# `tidepool sim` end to end: every scenario in scenarios/ runs at CI size and passes
# (attacks.lua with every hostile behaviour); the same scenario and seed twice give the same trace hash and
# identical events and connections tables; a failing run exits 1 and prints its seed
# and the exact replay command, which replays it (same trace hash); malformed scripts
# and bad options give exit 3 / 2 with file:line; the SQL documented in
# reports/README.md answers the acceptance questions on real databases.
set -u
BUILD_DIR=${1:?usage: sim_scenarios.test.sh BUILD_DIR SOURCE_DIR}
SRC=${2:?usage: sim_scenarios.test.sh BUILD_DIR SOURCE_DIR}
TP="$(cd "$BUILD_DIR" && pwd)/tidepool"
[ -x "$TP" ] || { echo "FAIL: $TP not built"; exit 1; }
command -v sqlite3 >/dev/null || { echo "FAIL: the sqlite3 shell is needed (scripts/setup.sh installs it)"; exit 1; }
work=$(mktemp -d /tmp/tp_sim_scenarios.XXXXXX)
trap 'rm -rf "$work"' EXIT
fails=0
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1"; fails=$((fails + 1)); }
run() { # expected_rc description args... ; output in $work/out, $work/err
  local want=$1 what=$2; shift 2
  (cd "$SRC" && "$TP" sim "$@") >"$work/out" 2>"$work/err"
  local rc=$?
  if [ "$rc" != "$want" ]; then
    bad "$what: exit $rc, expected $want"; tail -5 "$work/err"; cat "$work/out"
    return 1
  fi
  ok "$what"
}
has() { # file pattern description
  if grep -qF -- "$2" "$1"; then ok "$3"; else bad "$3 (no '$2')"; cat "$1"; fi
}
hash_of() { sed -n 's/.*"trace_hash":"\([0-9a-f]*\)".*/\1/p' "$1"; }

# ---- every scenario at CI size --------------------------------------------------------
db="$work/all.db"
while read -r name args; do
  [ -n "$name" ] || continue
  sets=()
  for a in $args; do sets+=(--set "$a"); done
  if run 0 "scenario $name passes" "scenarios/$name.lua" --seed 3 --db "$db" "${sets[@]}"; then
    has "$work/out" '"verdict":"pass"' "$name: JSON summary with the verdict"
    cp "$work/out" "$work/$name.json"
  fi
done <<'LIST'
bootstrap nodes=40 duration=30s
partition_heal nodes=40
churn nodes=40 duration=60s
churn nodes=40 duration=60s kind=tidepool
crash_restart nodes=40
crash_restart nodes=40 kind=demo
private_network nodes=10
bandwidth nodes=30 blocks=3
block_propagation nodes=40 blocks=5
attacks duration=30s
slot_exhaustion per_ip=2
slot_exhaustion greylist=3
LIST
for f in "$SRC"/scenarios/*.lua; do
  n=$(basename "$f" .lua)
  [ -f "$work/$n.json" ] || bad "scenario $n is not run by this test (add it to the list)"
done
run 0 "attacks: every hostile behaviour runs" scenarios/attacks.lua --seed 4 --set duration=20s
for b in stall slowloris garbage big_prefix advertise_flood swap_spam; do
  has "$work/err" "  $b " "attacks: $b reported"
done

# ---- replay -----------------------------------------------------------------------------
rdb="$work/replay.db"
run 0 "bootstrap seed 21, first run" scenarios/bootstrap.lua --seed 21 --db "$rdb" --set nodes=30 --set duration=20s --log debug
h1=$(hash_of "$work/out")
run 0 "bootstrap seed 21, second run" scenarios/bootstrap.lua --seed 21 --db "$rdb" --set nodes=30 --set duration=20s --log debug
h2=$(hash_of "$work/out")
run 0 "bootstrap seed 22" scenarios/bootstrap.lua --seed 22 --db "$rdb" --set nodes=30 --set duration=20s --log debug
h3=$(hash_of "$work/out")
[ -n "$h1" ] && [ "$h1" = "$h2" ] && ok "same seed, same trace hash ($h1)" || bad "trace hashes differ: $h1 vs $h2"
[ "$h1" != "$h3" ] && ok "another seed, another trace hash" || bad "seeds 21 and 22 gave the same hash"
ev() { sqlite3 "$rdb" "SELECT seq, time_ns, node, kind, peer, peer_node, point, code, detail FROM events WHERE run_id = $1 ORDER BY seq"; }
cn() { sqlite3 "$rdb" "SELECT node, peer_node, point, incoming, opened_ns, closed_ns, close_reason FROM connections WHERE run_id = $1 ORDER BY node, opened_ns, point"; }
ev 1 >"$work/ev1"; ev 2 >"$work/ev2"; ev 3 >"$work/ev3"; cn 1 >"$work/cn1"; cn 2 >"$work/cn2"
[ -s "$work/ev1" ] && cmp -s "$work/ev1" "$work/ev2" && ok "identical events tables ($(wc -l <"$work/ev1") rows, debug level)" || bad "events tables differ"
cmp -s "$work/cn1" "$work/cn2" && [ -s "$work/cn1" ] && ok "identical connections tables" || bad "connections tables differ"
cmp -s "$work/ev1" "$work/ev3" && bad "seeds 21 and 22 gave identical events" || ok "another seed, other events"

# ---- a failing run prints its seed and the replay command ---------------------------------
run 1 "an unreachable goal fails with exit 1" scenarios/bootstrap.lua --seed 5 --set nodes=20 --set duration=5s --set min=50
has "$work/err" "seed 5; replay with:" "failure prints the seed"
has "$work/err" "tidepool sim scenarios/bootstrap.lua --seed 5 --set nodes=20 --set duration=5s --set min=50" "failure prints the exact command"
has "$work/err" "scenarios/bootstrap.lua:" "failure names file:line"
fh=$(hash_of "$work/out")
cmd=$(grep -A1 "replay with:" "$work/err" | tail -1 | sed 's/^ *tidepool sim //')
# shellcheck disable=SC2086
run 1 "the printed command replays the failure" $cmd
[ "$(hash_of "$work/out")" = "$fh" ] && ok "replay gives the same trace hash" || bad "replay hash differs"

# ---- malformed scripts and usage ----------------------------------------------------------
printf 'sim.world{}\nlocal x = = 1\n' >"$work/syntax.lua"
run 3 "syntax error: exit 3" "$work/syntax.lua"
has "$work/err" "syntax.lua:2:" "syntax error names file:line"
printf 'sim.world{regions = 2}\n\nsim.hosts{count = 3, regoin = 1}\n' >"$work/key.lua"
run 3 "unknown key: exit 3" "$work/key.lua"
has "$work/err" "key.lua:3: sim.hosts{...}: unknown key 'regoin' (did you mean 'region'?)" "unknown key: file:line and the fix"
printf 'sim.world{}\nsim.hosts{count = "ten"}\n' >"$work/type.lua"
run 3 "wrong type: exit 3" "$work/type.lua"
has "$work/err" "type.lua:2: sim.hosts{...}: 'count' expected an integer, got string" "wrong type: what was expected"
run 2 "unknown --set key: usage error, exit 2" scenarios/private_network.lua --set nodez=3
has "$work/err" "has no parameter 'nodez'" "unknown --set names the key"
run 3 "missing script: exit 3" "$work/nope.lua"
run 2 "no script: exit 2"
run 2 "unknown option: exit 2" scenarios/bootstrap.lua --sed 3
run 2 "--set without '=': exit 2" scenarios/bootstrap.lua --set nodes
run 2 "--log with a bad level: exit 2" scenarios/bootstrap.lua --log loud
run 0 "--help: exit 0" --help
has "$work/out" "usage: tidepool sim SCRIPT.lua" "--help prints the usage"

# ---- the acceptance SQL from reports/README.md ----------------------------------------------
# The first four ```sql blocks of the README are the documented acceptance queries.
awk '/^```sql/{n++; f=1; next} /^```/{f=0} f{print > ("'"$work"'/q" n ".sql")}' "$SRC/reports/README.md"
for i in 1 2 3 4; do [ -s "$work/q$i.sql" ] || bad "reports/README.md: query $i missing"; done
boot_run=$(sqlite3 "$db" "SELECT id FROM runs WHERE scenario LIKE '%bootstrap.lua' LIMIT 1")
prop_run=$(sqlite3 "$db" "SELECT id FROM runs WHERE scenario LIKE '%block_propagation.lua' LIMIT 1")
q() { sqlite3 -cmd ".parameter set :run $1" -cmd ".parameter set :min 4" "$db" <"$work/q$2.sql"; }
n=$(q "$boot_run" 1 | wc -l); [ "$n" -ge 30 ] && ok "CDF of time to min connections: $n nodes" || bad "CDF query: $n rows"
last=$(q "$boot_run" 1 | tail -1 | cut -d'|' -f2); [ "$last" = "1.0" ] && ok "CDF reaches 1.0" || bad "CDF ends at $last"
n=$(q "$boot_run" 2 | awk -F'|' '{s += $2} END {print s}'); [ "$n" = 40 ] && ok "degree distribution covers the 40 nodes" || bad "degree distribution sums to $n"
n=$(q "$boot_run" 3 | wc -l); [ "$n" -ge 25 ] && ok "components over time: $n samples" || bad "components query: $n rows"
out=$(q "$prop_run" 4); m=$(echo "$out" | cut -d'|' -f1)
[ "$m" = 5 ] && ok "propagation percentiles over 5 blocks: $out" || bad "propagation query: '$out'"
out=$(q "$boot_run" 4); m=$(echo "$out" | cut -d'|' -f1)
[ "$m" -ge 1 ] && ok "bootstrap block propagation percentiles: $out" || bad "bootstrap propagation query: '$out'"

if [ "$fails" -ne 0 ]; then echo "$fails check(s) failed"; exit 1; fi
echo "all checks passed"

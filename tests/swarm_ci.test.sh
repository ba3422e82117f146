#!/usr/bin/env bash
# tests/swarm_ci.test.sh BUILD_DIR SOURCE_DIR — a CI-sized swarm on the normal build and
# the swarm/shrink command lines:
#   - `tidepool swarm --seeds 50 --jobs 2 --budget 60`: 50 random worlds (4-12 nodes, up
#     to 8 faults each: partitions, crashes, stops, loss, clock steps and drift,
#     bandwidth, bans, hostile peers of every kind) with every invariant checked each
#     virtual second; all 50 must run and pass (a failure here is a real bug: its
#     fail-<seed>/ directory holds the scenario and the replay command);
#   - the summary's JSON line counts them; no fail-* directory is left;
#   - a seed's scenario is replayable: the same seed twice gives the same trace hash;
#   - usage errors exit 2 with a message naming the option; an unwritable --out exits 3;
#     `tidepool shrink` of a passing scenario exits 1, of a foreign file 3.
set -uo pipefail
export LC_ALL=C
BUILD=$(cd "$1" && pwd)
SRC=$(cd "$2" && pwd)
TP=$BUILD/tidepool
TMP=$(mktemp -d /tmp/tp-swarm-ci.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
cd "$TMP"
pass=0
fail=0
ok() { echo "ok - $1"; pass=$((pass + 1)); }
bad() { echo "FAIL - $1"; fail=$((fail + 1)); }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }

"$TP" swarm --seeds 50 --jobs 2 --budget 60 --out "$TMP/out" --quiet >swarm.out 2>swarm.err
rc=$?
cat swarm.out
cat swarm.err
check "the CI swarm exits 0 (rc=$rc)" test "$rc" -eq 0
check "50 seeds run, 50 passed" grep -q '"seeds_run": 50, "passed": 50, "failed": 0' swarm.out
check "no failing seed saved" test -z "$(ls -d "$TMP"/out/fail-* 2>/dev/null)"

# replay: a seed's scenario, run twice with `tidepool sim`, gives the same trace hash
"$TP" swarm --emit 7 >seed7.lua
check "swarm --emit prints a swarm scenario" grep -q -- "-- @swarm:seed 7" seed7.lua
"$TP" sim seed7.lua --seed 7 >r1.out 2>/dev/null; rc1=$?
"$TP" sim seed7.lua --seed 7 >r2.out 2>/dev/null; rc2=$?
check "seed 7 passes under tidepool sim" test "$rc1" -eq 0 -a "$rc2" -eq 0
h1=$(sed -n 's/.*"trace_hash":"\([0-9a-f]*\)".*/\1/p' r1.out)
h2=$(sed -n 's/.*"trace_hash":"\([0-9a-f]*\)".*/\1/p' r2.out)
check "the same seed replays bit for bit (trace $h1)" test -n "$h1" -a "$h1" = "$h2"

# usage
"$TP" swarm --help >help.out
check "swarm --help" grep -q "usage: tidepool swarm --seeds N" help.out
"$TP" swarm >u1.out 2>u1.err; rc=$?
check "swarm without --seeds exits 2" test "$rc" -eq 2
check "... and names --seeds" grep -q -- "--seeds N" u1.err
"$TP" swarm --seeds 2 --jobs 0 >u2.out 2>u2.err; rc=$?
check "swarm --jobs 0 exits 2" test "$rc" -eq 2
check "... and says the range" grep -q "jobs must be in 1..64" u2.err
"$TP" swarm --seeds 2 --budget soon >u3.out 2>u3.err; rc=$?
check "swarm --budget soon exits 2" test "$rc" -eq 2
"$TP" swarm --seeds 1 --out /proc/tidepool-swarm >u4.out 2>u4.err; rc=$?
check "an unwritable --out exits 3" test "$rc" -eq 3
check "... and says what to do" grep -q "use --out DIR" u4.err
"$TP" shrink >s1.out 2>s1.err; rc=$?
check "shrink without an input exits 2" test "$rc" -eq 2
printf 'sim.world{regions = 1}\n' >foreign.lua
"$TP" shrink foreign.lua >s2.out 2>s2.err; rc=$?
check "shrink of a foreign scenario exits 3" test "$rc" -eq 3
check "... and names the markers" grep -q "is not a swarm scenario" s2.err
"$TP" shrink --help >s3.out
check "shrink --help" grep -q "usage: tidepool shrink FAILING-RUN" s3.out

echo "$pass passed, $fail failed"
test "$fail" -eq 0

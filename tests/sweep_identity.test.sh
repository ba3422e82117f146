#!/usr/bin/env bash
# tests/sweep_identity.test.sh BUILD_DIR SOURCE_DIR — a sweep never serves results of
# something else than what it would run now (sweep/README.md, "What a task ran"):
#   - a finished sweep, run again, runs nothing; after an edit to the scenario the same
#     sweep reruns its tasks and says why; a binary of another build (the same binary
#     plus one byte: same git revision, another hash) reruns them too; --keep-stale keeps
#     them instead;
#   - the summary line explains the exit code, also when nothing ran;
#   - --seeds and --set override the description (new tasks, the overridden values);
#   - the sweep stops early when its first tasks all end with the same error;
#   - --task-timeout kills a task that loops forever and records it as an error;
#   - a description that allocates without bound stops at the Lua memory limit.
set -uo pipefail
export LC_ALL=C
BUILD=$(cd "$1" && pwd)
SRC=$(cd "$2" && pwd)
TP=$BUILD/tidepool
TMP=$(mktemp -d /tmp/tp-sweep-identity.XXXXXX)
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
# mtime of every result.json, to see which tasks ran again
stamps() { for f in "$1"/tasks/*/result.json; do stat -c '%n %Y.%y' "$f"; done; }

cp "$SRC/sweeps/ci_scenario.lua" scen.lua
cat >sw.lua <<'LUA'
return { scenario = "scen.lua", params = { peers_k = {2, 3}, nodes = 16, duration = "8s" },
         seeds = 2, out = "out" }
LUA

run first.txt "$TP" sweep sw.lua --jobs 2
check "first sweep passes (exit 0)" [ "$rc" -eq 0 ]
check "first sweep: 4 results" [ "$(ls out/tasks/*/result.json | wc -l)" -eq 4 ]
check "first sweep: the summary names the exit code" grep -q "^sweep: ran 4 tasks (4 passed): exit 0$" first.txt
check "result.json records the scenario hash and the build" \
  grep -q '"scenario_hash":"[0-9a-f]\{16\}","build":"[^"]* b2:[0-9a-f]\{16\}"' out/tasks/*/result.json
hash_before=$(sed 's/.*"scenario_hash":"\([0-9a-f]*\)".*/\1/' "$(ls out/tasks/*/result.json | head -1)")

run again.txt "$TP" sweep sw.lua --jobs 2
check "unchanged: nothing runs" grep -q "4 tasks, 4 already finished, 0 to run" again.txt
check "unchanged: the summary counts the earlier tasks" \
  grep -q "^sweep: ran 0 tasks; 4 earlier tasks (4 passed): exit 0$" again.txt

# An edit to the scenario (a comment is enough: the file is what the task ran).
stamps out >before.txt
sleep 1.1
echo "-- an edit" >>scen.lua
run edited.txt "$TP" sweep sw.lua --jobs 2
check "edited scenario: the sweep says why it reruns" \
  grep -q "4 finished tasks ran something else: the scenario scen.lua changed since 4 of them ran; running them again" edited.txt
check "edited scenario: all 4 tasks ran again" grep -q "4 tasks, 0 already finished, 4 to run" edited.txt
stamps out >after.txt
check "edited scenario: every result.json was rewritten" \
  [ "$(comm -12 <(sort before.txt) <(sort after.txt) | wc -l)" -eq 0 ]
hash_after=$(sed 's/.*"scenario_hash":"\([0-9a-f]*\)".*/\1/' "$(ls out/tasks/*/result.json | head -1)")
check "edited scenario: the recorded hash changed" [ "$hash_before" != "$hash_after" ]
check "edited scenario: campaign.db has the 4 new runs" \
  [ "$(sqlite3 out/campaign.db 'SELECT count(*) FROM runs')" -eq 4 ]

# Another build: the same binary plus one byte (same git revision, another hash).
cp "$TP" tp-other && printf 'x' >>tp-other && chmod +x tp-other
run keep.txt ./tp-other sweep sw.lua --jobs 2 --keep-stale
check "other build + --keep-stale: nothing runs" grep -q "4 tasks, 4 already finished, 0 to run" keep.txt
check "other build + --keep-stale: says it keeps them" \
  grep -q "4 ran with another build of tidepool .*keeping their results (--keep-stale)" keep.txt
run collect_stale.txt ./tp-other sweep sw.lua --collect
check "other build: --collect without --keep-stale leaves stale tasks out (exit 1)" \
  bash -c "[ $rc -eq 1 ] && grep -q '4 tasks have no result yet (some ran another' collect_stale.txt"
run other.txt ./tp-other sweep sw.lua --jobs 2
check "other build: all 4 tasks ran again" grep -q "4 tasks, 0 already finished, 4 to run" other.txt
check "other build: the message names both builds" \
  grep -q "4 ran with another build of tidepool (.* b2:[0-9a-f]*; this one is .* b2:[0-9a-f]*)" other.txt
run back.txt "$TP" sweep sw.lua --jobs 2
check "and back to the first build: they run again" grep -q "4 tasks, 0 already finished, 4 to run" back.txt

# Overrides from the command line.
run list.txt "$TP" sweep sw.lua --list --seeds 3,9 --set peers_k=5 --set nodes=12
check "--seeds 3,9 --set peers_k=5: 2 tasks" grep -q "^# 2 tasks" list.txt
check "--set replaces the grid axis and the fixed value" \
  [ "$(grep -c 'seed=[39] duration=8s nodes=12 peers_k=5$' list.txt)" -eq 2 ]
run list2.txt "$TP" sweep sw.lua --list --seeds 3
check "--seeds 3: seeds 1..3 per point (6 tasks)" grep -q "^# 6 tasks" list2.txt
run badset.txt "$TP" sweep sw.lua --list --set 9x=1
check "--set with a bad name: usage error (exit 2) naming it" \
  bash -c "[ $rc -eq 2 ] && grep -q \"'9x' is not a parameter name\" badset.txt"
run badseeds.txt "$TP" sweep sw.lua --list --seeds 1,x
check "--seeds 1,x: usage error (exit 2)" bash -c "[ $rc -eq 2 ] && grep -q 'expected a count' badseeds.txt"

# A failed check from an earlier session: the summary explains exit 1 when nothing runs.
cat >checky.lua <<'LUA'
local n = param("n", 1)
if n == 2 then while true do end end
check(n ~= 3, "n is not 3")
sample("x", n)
LUA
cat >checky_sw.lua <<'LUA'
return { scenario = "checky.lua", params = { n = {1, 2, 3} }, out = "checky" }
LUA
run timeout.txt "$TP" sweep checky_sw.lua --jobs 3 --task-timeout 2
check "a looping task is killed after --task-timeout (exit 1)" \
  bash -c "[ $rc -eq 1 ] && grep -q 'n=2: error .*timed out: still running after 2 s' timeout.txt"
check "the summary counts it" \
  grep -q "^sweep: ran 3 tasks (1 passed, 1 failed their checks, 1 timed out): exit 1$" timeout.txt
check "the timed-out task is a result (verdict error)" \
  grep -q '"params":{"n":2},"verdict":"error"' checky/results.jsonl
run resumed.txt "$TP" sweep checky_sw.lua --jobs 3 --task-timeout 2
check "resumed: ran 0 tasks, and says why the exit code is 1" \
  bash -c "[ $rc -eq 1 ] && grep -q '^sweep: ran 0 tasks; 3 earlier tasks (1 passed, 1 failed their checks, 1 ended in an error): exit 1$' resumed.txt"

# The first tasks all end with the same error (a parameter the scenario lacks): stop.
cat >typo_sw.lua <<'LUA'
return { scenario = "scen.lua", params = { peers = {1, 2, 3, 4, 5, 6, 7, 8} }, seeds = 4,
         out = "typo" }
LUA
run typo.txt "$TP" sweep typo_sw.lua --jobs 1
check "same error in the first 3 tasks: exit 2" [ "$rc" -eq 2 ]
check "same error: it says so, with the error" \
  grep -q "stopped early: the first 3 tasks all ended with the same error" typo.txt
check "same error: the scenario's message is shown" grep -q "has no parameter 'peers'" typo.txt
check "same error: 29 tasks not started" grep -q "(29 tasks not started)" typo.txt
check "same error: the summary (a usage error of tidepool sim, exit 2, leaves no result: the tasks rerun once fixed)" grep -q "^sweep: ran 3 tasks (3 broke); 29 not started; 32 without a result: exit 2$" typo.txt
check "same error: only 3 task directories" [ "$(ls typo/tasks | wc -l)" -eq 3 ]

# Descriptions run under the scenarios' Lua memory limit.
cat >hog.lua <<'LUA'
local t = {}
for i = 1, 1e9 do t[i] = string.rep("x", 64) .. i end
return { scenario = "scen.lua" }
LUA
run hog.txt "$TP" sweep hog.lua --list
check "a description past the Lua memory limit is refused (exit 3)" \
  bash -c "[ $rc -eq 3 ] && grep -q 'exceeded the Lua memory limit of 1024 MiB' hog.txt"

echo "# $pass passed, $fail failed"
[ "$fail" -eq 0 ]

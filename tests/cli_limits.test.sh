#!/usr/bin/env bash
# tests/cli_limits.test.sh BUILD_DIR SOURCE_DIR — limits on every run and consistent exit
# codes (issue 20):
#   - tidepool sim --max-wall: a scenario looping forever (in its body, in a callback, or
#     running virtual time without end) stops with verdict error, exit 3, a message
#     naming the limit; --max-events stops deterministically (same trace hash twice);
#   - --set with an unknown or malformed parameter is a usage error (exit 2) that
#     suggests the nearest parameter and prints no "replay with";
#   - --db DIR/x.db creates DIR;
#   - a node method called from a Lua __gc finalizer during teardown is a clean error;
#   - unknown options and commands are usage errors (exit 2) that suggest the nearest;
#   - every command's --help has an exit-code section.
set -uo pipefail
TP=$(cd "$1" && pwd)/tidepool
SRC=$(cd "$2" && pwd)
TMP=$(mktemp -d /tmp/tp-cli-limits.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
cd "$TMP"
pass=0
fail=0
ok() { echo "ok - $1"; pass=$((pass + 1)); }
bad() { echo "FAIL - $1"; fail=$((fail + 1)); }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }

cat >body.lua <<'LUA'
sim.world{}
while true do end
LUA
cat >callback.lua <<'LUA'
sim.world{}
sim.hosts{count = 2}
at(1, function() while true do end end)
run_for(10)
LUA
cat >forever.lua <<'LUA'
sim.world{}
local hs = sim.hosts{count = 3}
for _, h in ipairs(hs) do sim.node(h, {trusted_points = {hs[1]}}) end
run_for("1000000h")
LUA
for s in body callback forever; do
  start=$(date +%s)
  "$TP" sim $s.lua --max-wall 1 --quiet >$s.json 2>$s.err
  rc=$?
  took=$(( $(date +%s) - start ))
  check "$s.lua under --max-wall 1: exit 3 (rc=$rc)" test $rc -eq 3
  check "... verdict error" test "$(jq -r .verdict $s.json)" = error
  check "... the message names the limit" grep -q "stopped after --max-wall 1 s of wall time" $s.json
  # generous bound: the point is that it ends at all (the limit is checked at least every
  # 100,000 Lua instructions and every 1024 simulator events)
  check "... and it ended (${took} s)" test "$took" -lt 60
done
"$TP" sim forever.lua --max-events 4000 --quiet >e1.json 2>/dev/null
rc=$?
"$TP" sim forever.lua --max-events 4000 --quiet >e2.json 2>/dev/null
check "--max-events: exit 3 (rc=$rc)" test $rc -eq 3
# the limit is checked where the run loop can stop: at a barrier, after each window of
# the lookahead (issue 21), so the run ends at the first barrier at or after 4000 events
ev=$(jq -r .events e1.json)
check "... 4000 events and the rest of that window ($ev)" test "$ev" -ge 4000 -a "$ev" -lt 4100
check "... the message names the limit" grep -q "stopped after --max-events 4000 simulator events" e1.json
check "... deterministic: the same trace hash twice" test "$(jq -r .trace_hash e1.json)" = "$(jq -r .trace_hash e2.json)"
check "... and the replay command keeps the limit" grep -q -- "--max-events 4000" <(jq -r .command e1.json)

# a node method called from a Lua __gc finalizer during teardown: a clean error
cat >gc.lua <<'LUA'
sim.world{}
local hs = sim.hosts{count = 2}
local n = sim.node(hs[1], {})
keep = setmetatable({}, {__gc = function() n:connect(hs[2]) end})
run_for(1)
LUA
"$TP" sim gc.lua --quiet --db gc.db >gc.json 2>gc.err
rc=$?
check "__gc calling a node method at teardown: exit 3, no abort (rc=$rc)" test $rc -eq 3
check "... the summary line is printed, verdict error" test "$(jq -r .verdict gc.json)" = error
check "... the message says what happened" grep -q "error in a __gc finalizer during teardown.*gc.lua:4: a node method was called after the run ended" gc.json
check "... and the results database agrees" test "$(sqlite3 gc.db 'SELECT verdict FROM runs')" = error
sed -i 's/n:connect(hs\[2\])/sim.hosts{count = 1}/' gc.lua
"$TP" sim gc.lua --quiet >gc2.json 2>gc2.err
rc=$?
check "__gc calling sim.hosts at teardown: exit 3 (rc=$rc)" test $rc -eq 3
check "... a simulation call after the run ended" grep -q "a simulation call was made after the run ended" gc2.json

S=$SRC/scenarios/bootstrap.lua
"$TP" sim "$S" --set nodez=3 --quiet >p.json 2>p.err
rc=$?
check "--set nodez=3: usage error, exit 2 (rc=$rc)" test $rc -eq 2
check "... suggests the nearest parameter" grep -q "did you mean 'nodes'" p.err
check "... prints no replay command" sh -c "! grep -q 'replay with' p.err"
"$TP" sim "$S" --set nodes=many --quiet >p2.json 2>p2.err
rc=$?
check "--set nodes=many: exit 2 (rc=$rc)" test $rc -eq 2
check "... says what was expected" grep -q "expected an integer" p2.err

"$TP" sim "$S" --set nodes=8 --set duration=2s --set min=1 --quiet --db "$TMP/new/sub dir/x.db" >db.json 2>db.err
rc=$?
check "--db DIR/x.db creates DIR (rc=$rc)" test -s "$TMP/new/sub dir/x.db"
touch "$TMP/afile"
"$TP" sim "$S" --quiet --db "$TMP/afile/x.db" >/dev/null 2>dbf.err
rc=$?
check "--db under a regular file: exit 3 (rc=$rc)" test $rc -eq 3
check "... naming the problem" grep -q "cannot create its directory: Not a directory" dbf.err

"$TP" sim "$S" --sed 3 >/dev/null 2>u.err
rc=$?
check "unknown option: exit 2 (rc=$rc)" test $rc -eq 2
check "... suggests the nearest" grep -q "did you mean '--seed'" u.err
"$TP" simm >/dev/null 2>c.err
rc=$?
check "unknown command: exit 2 (rc=$rc)" test $rc -eq 2
check "... suggests the nearest" grep -q "did you mean 'sim'" c.err
"$TP" sim "$S" --max-wall soon >/dev/null 2>w.err
check "--max-wall soon: exit 2" test $? -eq 2
"$TP" sim "$S" --max-events 0 >/dev/null 2>w.err
check "--max-events 0: exit 2" test $? -eq 2

# swarm without a terminal: plain progress lines, the last with the total
"$TP" swarm --seeds 3 --out "$TMP/swarm" >swarm.out 2>swarm.err
rc=$?
check "swarm --seeds 3: exit 0 (rc=$rc)" test $rc -eq 0
check "... progress lines without a terminal" grep -q "^swarm: 1/3 seeds run, 0 failed" swarm.err
check "... the last one with the total" grep -q "^swarm: 3/3 seeds run, 0 failed" swarm.err
check "... no terminal escapes in a log" sh -c "! grep -q \$'\\033' swarm.err"
"$TP" swarm --seed 3 >/dev/null 2>sw.err
rc=$?
check "swarm --seed: exit 2 (rc=$rc), suggests --seeds" sh -c "test $rc -eq 2 && grep -q \"did you mean '--seeds'\" sw.err"

for c in "" admin demo "demo sim" "demo node" identity merge node report shrink sim swarm sweep version; do
  # shellcheck disable=SC2086
  "$TP" $c --help >help.txt 2>&1
  rc=$?
  check "tidepool $c --help: exit 0 (rc=$rc) with an exit-code section" \
    sh -c "test $rc -eq 0 && grep -qi 'exit codes' help.txt"
done

echo "$pass passed, $fail failed"
test "$fail" -eq 0

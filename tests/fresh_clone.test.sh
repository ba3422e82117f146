#!/usr/bin/env bash
# tests/fresh_clone.test.sh BUILD_DIR SOURCE_DIR — the README's set-up, from a fresh clone, puts a
# working `tidepool` on PATH, and the commands it prints work as pasted (issue 20).
#   1. git clone SOURCE_DIR (its committed HEAD) into a temporary directory;
#   2. runs scripts/setup.sh there, as both quick-start commands do, with --prefix in the
#      temporary directory (the real default is /usr/local; a test does not touch it);
#   3. from another directory, with only PREFIX/bin added to PATH: `tidepool version`
#      works and names the clone's commit, clean, and the build's id;
#   4. a failing run of a scenario whose path has a space prints a replay command;
#      pasted (eval'd) from yet another directory, it fails again with the same trace
#      hash and no build mismatch.
# Takes a full build (a few minutes on 2 cores).
set -uo pipefail
SRC=$(cd "${2:?usage: fresh_clone.test.sh BUILD_DIR SOURCE_DIR}" && pwd)
TMP=$(mktemp -d /tmp/tp-fresh-clone.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
pass=0
fail=0
ok() { echo "ok - $1"; pass=$((pass + 1)); }
bad() { echo "FAIL - $1"; fail=$((fail + 1)); }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }

git clone -q "$SRC" "$TMP/clone" || { echo "FAIL - git clone $SRC"; exit 1; }
if ! bash "$TMP/clone/scripts/setup.sh" --prefix "$TMP/prefix" >"$TMP/setup.log" 2>&1; then
  tail -30 "$TMP/setup.log"
  echo "FAIL - scripts/setup.sh failed in the fresh clone"
  exit 1
fi
check "setup says tidepool is on PATH" grep -q "tidepool is on PATH: $TMP/prefix/bin/tidepool" "$TMP/setup.log"
check "PREFIX/bin/tidepool is a link to the clone's build" \
  test "$(readlink "$TMP/prefix/bin/tidepool")" = "$TMP/clone/build/tidepool"
# idempotent: a second run installs nothing, links nothing new, builds nothing
bash "$TMP/clone/scripts/setup.sh" --prefix "$TMP/prefix" >"$TMP/setup2.log" 2>&1
check "a second set-up succeeds" test $? -eq 0
check "... and relinks nothing" sh -c "! grep -q 'tidepool is on PATH' '$TMP/setup2.log'"

mkdir -p "$TMP/elsewhere" "$TMP/paste here" "$TMP/dir with space"
export PATH="$TMP/prefix/bin:$PATH"
cd "$TMP/elsewhere"
check "tidepool on PATH is the clone's" test "$(command -v tidepool)" = "$TMP/prefix/bin/tidepool"
tidepool version >version.txt 2>&1
check "tidepool version works from another directory" test $? -eq 0
HEAD=$(git -C "$TMP/clone" rev-parse HEAD)
check "version names the clone's commit" grep -q "^commit $HEAD\$" version.txt
tidepool version --json >version.json
check "the fresh clone's build is clean" test "$(jq -r .dirty version.json)" = false
ID=$(jq -r .build_id version.json)
check "the build id is 16 hex digits ($ID)" grep -Eq '^[0-9a-f]{16}$' <(echo "$ID")

cp "$TMP/clone/scenarios/bootstrap.lua" "$TMP/dir with space/boot strap.lua"
tidepool sim "$TMP/dir with space/boot strap.lua" --seed 5 --set nodes=20 --set duration=5s \
  --set min=50 >run.json 2>run.err
rc=$?
check "the run fails (rc=$rc)" test $rc -eq 1
CMD=$(grep -A1 "replay with:" run.err | tail -n 1 | sed 's/^ *//')
echo "printed: $CMD"
check "the printed command quotes the path" grep -qF "'$TMP/dir with space/boot strap.lua'" <(echo "$CMD")
check "the printed command names the build" grep -qF -- "--expect-build $ID" <(echo "$CMD")
cd "$TMP/paste here"
eval "$CMD" >replay.json 2>replay.err
rc=$?
check "the pasted command fails again (rc=$rc)" test $rc -eq 1
H1=$(jq -r .trace_hash "$TMP/elsewhere/run.json")
H2=$(jq -r .trace_hash replay.json)
check "the pasted command reproduces the trace hash ($H1 = $H2)" test -n "$H1" -a "$H1" = "$H2"
check "... with no build mismatch" test "$(jq -r .build_mismatch replay.json)" = false

echo "$pass passed, $fail failed"
test "$fail" -eq 0

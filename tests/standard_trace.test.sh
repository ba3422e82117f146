#!/usr/bin/env bash
# tests/standard_trace.test.sh BUILD_DIR SOURCE_DIR
#
# Optimisations must not change behaviour (issue 9). The standard benchmark workload
# (bench/standard.lua) at a small size — 50 nodes, 2 virtual minutes, seed 1, real
# crypto, results database at the default level — must give the trace hash recorded in
# tests/data/standard_trace_hash.txt. The trace hash mixes every executed event, its
# time, and every delivered byte (simnet/README.md), so any change of behaviour of
# simnet, core or the Lua bindings shows here; a pure speed-up does not.
#
# It also checks that `--crypto fast` keeps every protocol decision: the same events,
# segments, data callbacks and stream bytes as real crypto (only the trace hash
# differs, since it hashes the bytes, which are not enciphered).
#
# And that the simulated disk's compression (--set compress=1, sim.world's
# disk_compress) changes nothing but memory: the same trace hash, fewer bytes stored.
#
# When behaviour is MEANT to change (a protocol fix, a new default, a new event), run
#   TP_UPDATE_TRACE=1 bash tests/standard_trace.test.sh BUILD_DIR SOURCE_DIR
# which rewrites tests/data/standard_trace_hash.txt, and commit that file with a
# message that says why the behaviour changed.
set -u
BUILD_DIR=${1:?usage: standard_trace.test.sh BUILD_DIR SOURCE_DIR}
SRC=${2:?usage: standard_trace.test.sh BUILD_DIR SOURCE_DIR}
TP="$(cd "$BUILD_DIR" && pwd)/tidepool"
[ -x "$TP" ] || { echo "FAIL: $TP not built"; exit 1; }
command -v jq >/dev/null || { echo "FAIL: jq is needed (apt-get install jq)"; exit 1; }
recorded_file=$SRC/tests/data/standard_trace_hash.txt
work=$(mktemp -d /tmp/tp_standard_trace.XXXXXX)
trap 'rm -rf "$work"' EXIT
args=(sim "$SRC/bench/standard.lua" --quiet --seed 1 --set nodes=50 --set duration=2min)
# Exit 0, or exit 1 with the degree sanity check as the only failed check: at 50 nodes
# the last joiners find every other node at max connections (Nack) and stay below min
# (seeds 2, 4, 6, 7 and 8 did before issue 17 as well; seed 1 does since its block
# workload changed the run). A finding about the overlay, not about determinism; any
# other failed check (the blocks') still fails this test.
run_ok() { # rc stderr-file
  [ "$1" -eq 0 ] && return 0
  [ "$1" -eq 1 ] || return 1
  local other
  other=$(grep '^FAIL ' "$2" | grep -vc 'at least 99 % of nodes have >= 8 connections')
  [ "$other" -eq 0 ] && grep -q '^FAIL .*at least 99 % of nodes have >= 8 connections' "$2"
}

"$TP" "${args[@]}" --db "$work/real.db" >"$work/real.json" 2>"$work/real.err"
rc=$?
if ! run_ok "$rc" "$work/real.err"; then
  echo "FAIL: the standard workload (50 nodes, 2 min, seed 1) exited $rc:"
  tail -n 5 "$work/real.err"
  exit 1
fi
hash=$(tail -n 1 "$work/real.json" | jq -r .trace_hash)
echo "trace hash: $hash"

fails=0
if [ "${TP_UPDATE_TRACE:-0}" = 1 ]; then
  {
    echo "# trace hash of bench/standard.lua --seed 1 --set nodes=50 --set duration=2min"
    echo "# (real crypto); written by TP_UPDATE_TRACE=1 bash tests/standard_trace.test.sh"
    echo "$hash"
  } >"$recorded_file"
  echo "updated $recorded_file: commit it with a note of why behaviour changed"
else
  recorded=$(grep -v '^#' "$recorded_file" 2>/dev/null | head -n 1 | tr -d '[:space:]')
  if [ -z "$recorded" ]; then
    echo "FAIL: no recorded trace hash in $recorded_file"
    fails=$((fails + 1))
  elif [ "$hash" != "$recorded" ]; then
    echo "FAIL: the standard workload's trace hash changed: got $hash, recorded $recorded"
    echo "  (tests/data/standard_trace_hash.txt). An optimisation must not change behaviour:"
    echo "  find the change that did. If the behaviour change is intended, update the value"
    echo "  deliberately with"
    echo "    TP_UPDATE_TRACE=1 bash $SRC/tests/standard_trace.test.sh $BUILD_DIR $SRC"
    echo "  and commit tests/data/standard_trace_hash.txt saying why behaviour changed."
    fails=$((fails + 1))
  else
    echo "ok: trace hash matches the recorded value"
  fi
fi

# --crypto fast: same decisions, different bytes.
"$TP" "${args[@]}" --crypto fast >"$work/fast.json" 2>"$work/fast.err"
rc=$?
if ! run_ok "$rc" "$work/fast.err"; then
  echo "FAIL: --crypto fast exited $rc:"
  tail -n 5 "$work/fast.err"
  exit 1
fi
figures() { grep -o 'events=[0-9]* timers=[0-9]* segments=[0-9]* data_callbacks=[0-9]* stream_bytes=[0-9]*' "$1"; }
real_fig=$(figures "$work/real.err")
fast_fig=$(figures "$work/fast.err")
fast_hash=$(tail -n 1 "$work/fast.json" | jq -r .trace_hash)
if [ -z "$real_fig" ] || [ "$real_fig" != "$fast_fig" ]; then
  echo "FAIL: --crypto fast changed the run: real [$real_fig], fast [$fast_fig]"
  fails=$((fails + 1))
elif [ "$fast_hash" = "$hash" ]; then
  echo "FAIL: --crypto fast gave the real run's trace hash: the fast mode was not in effect"
  fails=$((fails + 1))
else
  echo "ok: --crypto fast keeps every decision ($real_fig), trace hash $fast_hash"
fi
params=$(tail -n 1 "$work/fast.json" | jq -r .command)
case "$params" in
  *"--crypto fast"*) echo "ok: the replay command names --crypto fast" ;;
  *) echo "FAIL: the replay command lacks --crypto fast: $params"; fails=$((fails + 1)) ;;
esac

# disk_compress: the same run, the files held in fewer bytes.
"$TP" "${args[@]}" --set compress=1 >"$work/z.json" 2>"$work/z.err"
rc=$?
z_hash=$(tail -n 1 "$work/z.json" | jq -r .trace_hash 2>/dev/null)
z_written=$(grep -o 'disk_written=[0-9]*' "$work/z.err" | cut -d= -f2)
z_stored=$(grep -o 'disk_stored=[0-9]*' "$work/z.err" | cut -d= -f2)
if ! run_ok "$rc" "$work/z.err"; then
  echo "FAIL: --set compress=1 exited $rc:"
  tail -n 5 "$work/z.err"
  fails=$((fails + 1))
elif [ "$z_hash" != "$hash" ]; then
  echo "FAIL: --set compress=1 changed the run: trace hash $z_hash, without it $hash"
  fails=$((fails + 1))
elif [ -z "$z_written" ] || [ -z "$z_stored" ] || [ "$z_written" -eq 0 ] ||
     [ $((z_stored * 2)) -gt "$z_written" ]; then
  echo "FAIL: --set compress=1 stored $z_stored of $z_written bytes written (expected at most half)"
  fails=$((fails + 1))
else
  echo "ok: --set compress=1 gives the same trace hash; the disks hold $z_stored of $z_written bytes"
fi
[ "$fails" -eq 0 ] || exit 1
echo "PASS"

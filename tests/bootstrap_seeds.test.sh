#!/usr/bin/env bash
# tests/bootstrap_seeds.test.sh BUILD_DIR SOURCE_DIR
#
# The default scenario passes for many seeds (issue 17). Before the block workload
# followed Octez's head-and-fetch flow, `scenarios/bootstrap.lua` failed on about 2 % of
# seeds ("block 1 reaches every node (99 of 100)"): a node that had asked the one
# announcer whose connection then closed never asked again. This runs seeds 1..200 and
# the failing seeds above 200 that were found then (211, 230, 242), at the default size
# (100 nodes, 60 s; about half a second each). Seeds 1..1000 were all checked once by
# hand (bench/RESULTS.md, "Blocks: Octez's flow"). ASan builds run 23 of them, TSan
# builds 8 (below).
set -u
BUILD_DIR=${1:?usage: bootstrap_seeds.test.sh BUILD_DIR SOURCE_DIR}
SRC=${2:?usage: bootstrap_seeds.test.sh BUILD_DIR SOURCE_DIR}
TP="$(cd "$BUILD_DIR" && pwd)/tidepool"
[ -x "$TP" ] || { echo "FAIL: $TP not built"; exit 1; }
out=$(mktemp /tmp/tp_bootstrap_seeds.XXXXXX)
trap 'rm -f "$out"' EXIT
# Under ASan (build-asan, Debug) a run costs ~10x: there the point is memory errors on
# the block flow's paths, not seed coverage, so 20 seeds plus the three found failing
# (the gcc and clang-UBSan builds of .ci/run run all 203). ThreadSanitizer (build-tsan)
# costs ~4-8x and looks for races between the simulator's threads, not for seeds: 5
# seeds plus the three (about a minute of CI's TSan step).
last=200
if grep -q '^TP_SANITIZE:BOOL=ON' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null; then last=20; fi
if grep -q '^TP_TSAN:BOOL=ON' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null; then last=5; fi
fails=0 runs=0
for seed in $(seq 1 "$last") 211 230 242; do
  runs=$((runs + 1))
  if ! "$TP" sim "$SRC/scenarios/bootstrap.lua" --quiet --seed "$seed" >"$out" 2>&1; then
    echo "FAIL: seed $seed:"
    grep 'FAIL' "$out" | head -n 5
    fails=$((fails + 1))
  fi
done
if [ "$fails" -ne 0 ]; then
  echo "FAIL: $fails of $runs seeds failed"
  exit 1
fi
echo "PASS: $runs seeds"

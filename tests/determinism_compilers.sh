#!/usr/bin/env bash
# tests/determinism_compilers.sh BUILD_A BUILD_B SOURCE_DIR — the same seed gives the
# same run whichever compiler built tidepool (.ci/run: gcc's build/ and clang's
# build-clang/). Compares the trace hashes of
#   - the standard workload (bench/standard.lua, 50 nodes, 2 virtual minutes, seed 1),
#     which must also equal tests/data/standard_trace_hash.txt, and
#   - the demo protocol on 300 hosts for seeds 1..3.
# Undefined behaviour, an uninitialised read or floating point that steers the simulation
# shows here as a different hash.
set -uo pipefail
A=$(cd "${1:?usage: determinism_compilers.sh BUILD_A BUILD_B SOURCE_DIR}" && pwd)/tidepool
B=$(cd "${2:?}" && pwd)/tidepool
SRC=$(cd "${3:?}" && pwd)
fail=0
cc_of() { sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$(dirname "$1")/CMakeCache.txt"; }
echo "A: $A ($(cc_of "$A"))"
echo "B: $B ($(cc_of "$B"))"
hash_of() { sed -n 's/.*"trace_hash":"\([0-9a-f]*\)".*/\1/p' | tail -n 1; }
recorded=$(grep -v '^#' "$SRC/tests/data/standard_trace_hash.txt" | head -n 1 | tr -d '[:space:]')
std=(sim "$SRC/bench/standard.lua" --quiet --seed 1 --set nodes=50 --set duration=2min)
a=$("$A" "${std[@]}" 2>/dev/null | hash_of)
b=$("$B" "${std[@]}" 2>/dev/null | hash_of)
echo "standard workload: A $a, B $b, recorded $recorded"
if [ -z "$a" ] || [ "$a" != "$b" ] || [ "$a" != "$recorded" ]; then
  echo "FAIL - the standard workload's trace hash differs"
  fail=1
fi
for seed in 1 2 3; do
  args=(demo sim --hosts 300 --seed "$seed" --duration-s 40 --json)
  a=$("$A" "${args[@]}" 2>/dev/null | hash_of)
  b=$("$B" "${args[@]}" 2>/dev/null | hash_of)
  echo "demo seed $seed: A $a, B $b"
  if [ -z "$a" ] || [ "$a" != "$b" ]; then echo "FAIL - demo seed $seed differs"; fail=1; fi
done
if [ $fail = 0 ]; then echo "PASS: same trace hashes from both builds"; fi
exit $fail

#!/usr/bin/env bash
# scripts/fuzz.sh [RUNS] [TARGET...] — build the libFuzzer targets (tests/fuzz/) with
# clang + ASan + UBSan in build-fuzz/ and run each for a bounded number of executions
# (default 1,000,000), printing the count per target. Exit status 1 if any target
# crashed (its reproducer is left in build-fuzz/fuzz/crashes/).
#
#   scripts/fuzz.sh                 all targets, 1,000,000 runs each
#   scripts/fuzz.sh 50000           quick smoke run
#   scripts/fuzz.sh 1000000 fuzz_ack fuzz_point
#
# Corpora persist in build-fuzz/fuzz/corpus/<target>/ and are seeded from the vectors.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build="$root/build-fuzz"
runs=${1:-1000000}
shift || true
CC=clang cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTP_FUZZ=ON >/dev/null || exit 1
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in "$root"/tests/fuzz/fuzz_*.c; do targets+=("$(basename "$f" .c)"); done
fi
cmake --build "$build" -j2 --target "${targets[@]}" >/dev/null || { echo "build failed"; exit 1; }

corpus="$build/fuzz/corpus"
crashes="$build/fuzz/crashes"
mkdir -p "$corpus" "$crashes"
seed() { # target hexstring
  mkdir -p "$corpus/$1"; echo -n "$2" | xxd -r -p >"$corpus/$1/seed_$(echo -n "$2" | md5sum | cut -c1-8)"
}
vec="$root/../shared/vectors"
if [ -d "$vec" ]; then
  mkdir -p "$corpus/fuzz_identity_json"
  cp "$vec"/tezedge/*.json "$corpus/fuzz_identity_json/" 2>/dev/null
  mkdir -p "$corpus/fuzz_point"
  while IFS= read -r l; do [ -n "$l" ] && printf '%s' "$l" >"$corpus/fuzz_point/$(printf '%s' "$l" | md5sum | cut -c1-8)"; done < <(cat "$vec/octez/points.ok" "$vec/octez/points.ko")
  hs="$vec/handshake_vectors.json"
  for h in $(grep -o '"connection_message_[AB]_framed_hex": "[0-9a-f]*"' "$hs" | cut -d'"' -f4); do seed fuzz_connection_msg "$h"; done
  for h in 00 ff 010001000000120000000e3132372e302e302e313a39383332; do seed fuzz_ack "$h"; done
  for h in 000000020001 000000020002 0000002800030000000c312e322e332e343a39373332000000125b323030313a6462383a3a315d3a39373332 \
           0000002200040000000c312e322e332e343a3937333247f5c302e9ed3c9a73279fe9f4ad99b6 000000060010616263640000; do seed fuzz_p2p_msg "$h"; done
  for h in 0000 ff00 444953434f4d41474943af4962379c6b52dbefb0385e776d196f2604; do seed fuzz_metadata "$h"; done
  seed fuzz_reassembler 0001000006000000020002000c0000000400020000000200010003000000
  seed fuzz_reassembler 0000000002ff00000100
fi

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
status=0
printf '%-22s %12s %8s %s\n' target runs seconds result
for t in "${targets[@]}"; do
  mkdir -p "$corpus/$t"
  log="$build/fuzz/$t.log"
  start=$(date +%s)
  "$build/fuzz/$t" -runs="$runs" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$crashes/$t-" "$corpus/$t" >"$log" 2>&1
  rc=$?
  secs=$(( $(date +%s) - start ))
  done_runs=$(grep -o 'Done [0-9]* runs' "$log" | awk '{print $2}' | tail -1)
  if [ $rc -eq 0 ] && [ -n "$done_runs" ]; then
    printf '%-22s %12s %8s %s\n' "$t" "$done_runs" "$secs" "ok, 0 crashes"
  else
    printf '%-22s %12s %8s %s\n' "$t" "${done_runs:-?}" "$secs" "CRASH (see $log)"
    status=1
  fi
done
exit $status

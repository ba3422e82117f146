#!/usr/bin/env bash
# bench/swarm_campaign.sh — a larger swarm campaign (issue 10): seeds run, seeds per
# hour, failures found (per invariant), and, with a planted-bug build, how soon the
# planted bug is found and how far it shrinks. Not a test: it prints figures.
#
# usage: bench/swarm_campaign.sh BUILD_DIR [SEEDS=500] [JOBS=2] [BUDGET_S=0] [PLANTED_BUILD_DIR]
#   BUILD_DIR          a build with `tidepool` (the normal build)
#   SEEDS              seeds 1..SEEDS (default 500)
#   JOBS               parallel seeds (default 2; the VM has 2 cores)
#   BUDGET_S           wall-clock budget in seconds, 0 = none
#   PLANTED_BUILD_DIR  optional: a build made with -DTP_PLANTED_BUG=SKIP_BANNED_PEER_CHECK
#                      (tests/swarm_planted_bug.test.sh leaves one in
#                      BUILD_DIR/swarm-planted); the same seeds are run with it and the
#                      first failure is shrunk.
# Failing seeds are kept in $OUT (default /tmp/tp-swarm-campaign) for replay/shrink.
set -uo pipefail
export LC_ALL=C
BUILD=$(cd "${1:?usage: bench/swarm_campaign.sh BUILD_DIR [SEEDS] [JOBS] [BUDGET_S] [PLANTED_BUILD_DIR]}" && pwd)
SEEDS=${2:-500}
JOBS=${3:-2}
BUDGET=${4:-0}
PLANTED=${5:-}
OUT=${OUT:-/tmp/tp-swarm-campaign}
rm -rf "$OUT"
mkdir -p "$OUT"
budget_args=()
[ "$BUDGET" != 0 ] && budget_args=(--budget "$BUDGET")

echo "== normal build: $BUILD/tidepool, seeds 1..$SEEDS, $JOBS jobs"
"$BUILD/tidepool" swarm --seeds "$SEEDS" --jobs "$JOBS" "${budget_args[@]}" --out "$OUT/normal" \
  --quiet >"$OUT/normal.out" 2>"$OUT/normal.err"
cat "$OUT/normal.err" "$OUT/normal.out"
for d in "$OUT"/normal/fail-*; do
  [ -d "$d" ] || continue
  echo "-- $(basename "$d"): $(sed -n 's/^message=//p' "$d/outcome.txt")"
  echo "   replay: $(head -1 "$d/replay.txt")"
done

if [ -n "$PLANTED" ]; then
  PTP=$(cd "$PLANTED" && pwd)/tidepool
  echo "== planted build: $PTP, seeds 1..$SEEDS"
  "$PTP" swarm --seeds "$SEEDS" --jobs "$JOBS" "${budget_args[@]}" --out "$OUT/planted" \
    --quiet >"$OUT/planted.out" 2>/dev/null
  cat "$OUT/planted.out"
  first=$(sed -n 's/.*"first_failing_seed": \([0-9]*\).*/\1/p' "$OUT/planted.out")
  if [ -n "$first" ]; then
    echo "first failing seed: $first"
    start=$(date +%s.%N)
    "$PTP" shrink "$OUT/planted/fail-$first" --quiet | tail -1
    echo "shrink wall time: $(echo "$(date +%s.%N) - $start" | bc) s"
  fi
fi

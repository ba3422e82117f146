#!/usr/bin/env bash
# The demo flooding protocol (demo/demo.c, the same source `tidepool demo node` runs on
# real sockets) on 1,000 simulated hosts: every host must receive every ping (exit code
# 0 of `tidepool demo sim`), and the run must be the same when replayed.
set -euo pipefail
build=$1
out1=$("$build/tidepool" demo sim --hosts 1000 --seed 7 --pings 5 --duration-s 30 --json)
echo "$out1"
out2=$("$build/tidepool" demo sim --hosts 1000 --seed 7 --pings 5 --duration-s 30 --json)
h1=$(sed -n 's/.*"trace_hash":"\([0-9a-f]*\)".*/\1/p' <<<"$out1")
h2=$(sed -n 's/.*"trace_hash":"\([0-9a-f]*\)".*/\1/p' <<<"$out2")
complete=$(sed -n 's/.*"hosts_complete":\([0-9]*\).*/\1/p' <<<"$out1")
fail=0
[ "$complete" = 999 ] || { echo "only $complete of 999 hosts got every ping"; fail=1; }
[ -n "$h1" ] && [ "$h1" = "$h2" ] || { echo "replay differs: $h1 vs $h2"; fail=1; }
# usage errors are reported with exit code 2
set +e
"$build/tidepool" demo sim --hosts 2 >/dev/null 2>&1; rc=$?
set -e
[ $rc = 2 ] || { echo "--hosts 2 should be a usage error (exit 2), got $rc"; fail=1; }
if [ $fail = 0 ]; then echo "1 passed, 0 failed"; else echo "0 passed, 1 failed"; fi
exit $fail

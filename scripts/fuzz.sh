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
seedf() { # target name < text
  mkdir -p "$corpus/$1"; cat >"$corpus/$1/$2"
}
# peers.json (core/peers_json.h, spec §5.8): every field, both timestamp forms, IPv4 and
# IPv6 addresses; the smallest file; and bare RFC 3339 timestamps
seedf fuzz_peers_json full.json <<'JSON'
[ { "peer_id": "idr7QiLwKHWFyMUJDiUdizftrirhDE", "created": "2026-01-01T00:00:01.234Z",
    "trusted": true, "peer_metadata": {},
    "events": [ { "kind": "incoming_request", "timestamp": "2026-01-01T00:00:02Z",
                  "addr": "::ffff:10.0.0.1", "port": 9732 },
                { "kind": "connection_established", "timestamp": "2026-01-01T00:00:02.5Z",
                  "addr": "::ffff:10.0.0.1", "port": 9732 },
                { "kind": "disconnection", "timestamp": "2026-01-01T00:00:07.000000007Z",
                  "addr": "2001:db8::1" } ],
    "last_established_connection": [ { "addr": "::ffff:10.0.0.1", "port": 9732 },
                                     "2026-01-01T00:00:02.5Z" ],
    "last_disconnection": [ { "addr": "2001:db8::1" }, "2026-01-01T01:00:07+01:00" ],
    "last_failed_connection": [ { "addr": "::ffff:10.0.0.2", "port": 1 }, 1767225600 ],
    "last_rejected_connection": [ { "addr": "::1", "port": 65535 }, "2026-01-01t00:00:00z" ] },
  { "peer_id": "idr8DmF1hysQvCr85ygaPkKYXmf3Aq", "created": 1700000000, "trusted": false,
    "peer_metadata": {"score": [1, 2.5, null, "x"]}, "events": [] } ]
JSON
printf '[]' | seedf fuzz_peers_json empty.json
printf '2026-01-01T00:00:00.25Z' | seedf fuzz_peers_json time.txt
printf '1969-12-31T23:59:59.999999999-12:59' | seedf fuzz_peers_json time2.txt
# config.json: the interop test's, one with every key (tests/test_config.c), the smallest
sed -n '/^cat >"$work\/config.json" <</,/^EOF$/p' "$root/tests/node_interop.test.sh" |
  sed '1d;$d' | seedf fuzz_config interop.json
seedf fuzz_config full.json <<'JSON'
{
  "data-dir": "/var/lib/tidepool",
  "log": {"output": "stderr"},
  "p2p": {
    "expected-proof-of-work": 24.5,
    "bootstrap-peers": ["127.0.0.1:19732", "[::1]:19733", "boot.example.org",
                        "10.0.0.1:9732#idssJHDL1z8fkryZaYVF9fQRMktoWg"],
    "listen-addr": "127.0.0.1:19731",
    "advertised-net-port": 29731,
    "discovery-addr": "255.255.255.255:10733",
    "private-mode": true,
    "disable_mempool": true,
    "greylisting_config": {"factor": 1.5, "initial-delay": 0.5,
                           "disconnection-delay": 30, "increase-cap": 3600},
    "limits": {
      "connection-timeout": 3, "authentication-timeout": 2.5,
      "min-connections": 2, "expected-connections": 4, "max-connections": 8,
      "backlog": 30, "max-incoming-connections": 12,
      "max-download-speed": 1024, "max-upload-speed": 2,
      "swap-linger": null, "maintenance-idle-time": 60,
      "binary-chunks-size": 8, "read-buffer-size": 4096,
      "max_known_points": [800, 600], "max_known_peer_ids": [500, 100],
      "peer_greylist_size": 100, "ip_greylist_size_in_kilobytes": 64,
      "ip_greylist_cleanup_delay": 600, "greylist-timeout": 700,
      "incoming-app-message-queue-size": 33
    }
  },
  "rpc": {"listen-addrs": ["127.0.0.1:18732"]},
  "network": {"chain_name": "TEZOS_MAINNET", "distributed_db_versions": [2],
              "p2p_versions": [0, 1]}
}
JSON
printf '{}' | seedf fuzz_config empty.json
# demo frames (demo/README.md; input byte 0 = feed step and flags, see the target):
# HELLO, POINTS (one point), PING twice (the second a duplicate) in 8-byte pieces; HELLO
# and PING byte by byte with time advancing and the host originating; a POINTS body
demo_hello=000b0122222222333333332329
demo_points=00140201""00000000000000000000ffff0a000001""2604
demo_ping=0015034444444444444444""00000001""0000000000000001
seed fuzz_demo_frame "07$demo_hello$demo_points$demo_ping$demo_ping"
seed fuzz_demo_frame "c0$demo_hello$demo_ping"
seed fuzz_demo_frame "00""0201""00000000000000000000000000000001""0001"

# block workload messages (lua/chain_msg.h; input byte 0 = tag - 0x2f): Get_current_head;
# the genesis Current_head; a first block's 200-byte Current_head; a Block_header of 16
# and one of 8192 bytes;
# Get_block_headers of 3 and Get_operations_for_blocks of 10 ids; 64 bytes of
# Operations_for_blocks; a tag that is not the workload's
z16=00000000000000000000000000000000
seed fuzz_chain_msg 01
seed fuzz_chain_msg 02ffffffffffffffff0000000000000000
seed fuzz_chain_msg "0200000000ffffffff00000001000003e8$(printf '%0368d' 0)"
seed fuzz_chain_msg 0400000005000000040000000600000000
seed fuzz_chain_msg "0400000005000000040000000600000000$(printf '%016352d' 0)"  # 8192 bytes, the largest
seed fuzz_chain_msg 03000000000000000100000002
seed fuzz_chain_msg "05$(for i in 0 1 2 3 4 5 6 7 8 9; do printf '%08x' $((i * 6553)); done)"
seed fuzz_chain_msg "0600000003$z16$z16$z16$z16$z16$z16$z16$z16"
seed fuzz_chain_msg 0000

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
status=0
printf '%-22s %12s %8s %s\n' target runs seconds result
for t in "${targets[@]}"; do
  mkdir -p "$corpus/$t"
  log="$build/fuzz/$t.log"
  start=$(date +%s)
  max_len=4096
  # a header is up to 8192 bytes (lua/chain_msg.h): room for one more, and the tag byte
  [ "$t" = fuzz_chain_msg ] && max_len=8448
  "$build/fuzz/$t" -runs="$runs" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
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

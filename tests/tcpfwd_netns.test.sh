#!/usr/bin/env bash
# tests/tcpfwd_netns.test.sh BUILD_DIR SOURCE_DIR
#
# Smoke test of bench/tcpfwd, the user-space delay/loss link of the TCP validation
# benchmark (bench/tcp_validate.sh): a correctness check of the forwarder, not a timing
# benchmark of tidepool. Two network namespaces made here, a TUN device in each, the
# forwarder between them with an asymmetric one-way delay (A->B 30 ms, B->A 10 ms):
#  - a TCP connect from A to B takes one RTT: of 5 connects none is faster than 40 ms
#    and the fastest is at most 3 ms slower (the machine is shared by several builds: the
#    probe's threads may wake late, which only adds time; the median is printed);
#  - the first byte after connect reaches B one A->B delay after the connect completed
#    (it rides with the handshake's last ACK): 30 ms, by the same rule;
#  - the forwarder's statistics: packets forwarded both ways, none lost (loss 0), none
#    overflowed, its sends on time to the millisecond at the median.
# Skipped, saying why, where namespaces or TUN devices cannot be made (not root...).
set -euo pipefail
build=$1
fwd=$build/bench/tcpfwd probe=$build/bench/tcpprobe
A="tpf$$-a" B="tpf$$-b"
work=$(mktemp -d /tmp/tp_tcpfwd.XXXXXX)
made_ns=() fwd_pid=""
skip() { echo "SKIP: $*"; exit 0; }
cleanup() {
  [ -n "$fwd_pid" ] && kill -TERM "$fwd_pid" 2>/dev/null || true
  for ns in "${made_ns[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fail() { echo "FAIL: $*" >&2; cat "$work"/*.err 2>/dev/null >&2 || true; exit 1; }

command -v ip >/dev/null || skip "the 'ip' tool (iproute2) is not installed"
command -v python3 >/dev/null || skip "python3 is not installed"
[ "$(id -u)" = 0 ] || skip "network namespaces and TUN devices need root; run as root to include this test"
[ -c /dev/net/tun ] || skip "/dev/net/tun is missing (no TUN support)"
[ -x "$fwd" ] && [ -x "$probe" ] || fail "build $fwd and $probe first (cmake --build $build)"
ip netns add "$A" 2>"$work/ns.err" || skip "cannot create a network namespace ($(cat "$work/ns.err"))"
made_ns+=("$A")
ip netns add "$B"
made_ns+=("$B")
i=0
for ns in "$A" "$B"; do
  i=$((i + 1))
  ip -n "$ns" tuntap add dev tpb0 mode tun 2>"$work/tun.err" ||
    skip "cannot create a TUN device in a namespace ($(cat "$work/tun.err"))"
  ip -n "$ns" addr add "10.77.0.$i/24" dev tpb0
  ip -n "$ns" link set lo up
  ip -n "$ns" link set tpb0 up
done

"$fwd" --ns-a "$A" --ns-b "$B" --delay-ab-us 30000 --delay-ba-us 10000 --max-seconds 60 \
  --ready-file "$work/ready" >"$work/stats.json" 2>"$work/fwd.err" &
fwd_pid=$!
for _ in $(seq 50); do [ -s "$work/ready" ] && break; sleep 0.1; done
[ -s "$work/ready" ] || fail "the forwarder did not start"

run_probe() {
  timeout 60 "$probe" --client-ns "$A" --server-ns "$B" --server-ip 10.77.0.2 --pause-ms 50 "$@" \
    2>"$work/probe.err" || fail "tcpprobe $* failed"
}
# check WHAT CONFIGURED_MS < json lines on stdin: min >= configured, min <= configured + 3
check() {
  python3 -c '
import json, statistics, sys
what, want = sys.argv[1], float(sys.argv[2])
v = [json.loads(l)["ms"] for l in sys.stdin]
print(f"{what} ({want:g} ms configured): min {min(v):.3f} ms, median {statistics.median(v):.3f} ms, max {max(v):.3f} ms")
sys.exit(0 if want <= min(v) <= want + 3 else 1)' "$1" "$2" || fail "$1: not $2 ms (+0..3 ms for the fastest of 5)"
}
run_probe --case connect --trials 5 | check "connect, RTT" 40
run_probe --case fresh --bytes 1 --trials 5 | check "first byte after connect, A->B delay" 30

kill -TERM "$fwd_pid"
wait "$fwd_pid" || fail "the forwarder did not exit cleanly on SIGTERM"
fwd_pid=""
cat "$work/stats.json"
python3 - "$work/stats.json" <<'PY' || fail "forwarder statistics"
import json, sys
d = json.loads(open(sys.argv[1]).read())
assert d["forwarded_ab"] > 0 and d["forwarded_ba"] > 0, "nothing forwarded"
assert d["lost_ab"] == 0 and d["lost_ba"] == 0, "loss without --loss-ppm"
# (queued_at_exit may be non-zero: a FIN or ACK of the last connection still in flight)
assert d["overflow"] == 0 and d["write_errors"] == 0, "overflow or write errors"
assert d["late_p50_us"] < 1000, f"median lateness {d['late_p50_us']} us"
print(f"forwarder precision: {d['sched']}, lateness p50 {d['late_p50_us']} us, "
      f"p99 {d['late_p99_us']} us, max {d['late_max_us']} us")
PY
echo PASS

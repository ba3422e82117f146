#!/usr/bin/env bash
# bench/tcp_validate.sh — simnet's TCP against the kernel's, side by side (issue 16).
#
#   bash bench/tcp_validate.sh [--quick] [--build DIR] [--json FILE] [--cases FILE]
#
# Kernel side: two network namespaces made here (tpb<pid>-a 10.77.0.1, tpb<pid>-b
# 10.77.0.2), each with a TUN device tpb0; bench/tcpfwd links them (one-way delay = RTT/2
# each way, random loss per packet in both directions, seeded); `tc tbf` on each tpb0
# limits that side's uplink to the rate. bench/tcpprobe times connects and transfers with
# the kernel's default TCP (cubic); two `tidepool node run` processes time the handshake.
# Simnet side: bench/bench_tcp_sim runs the same cases through simnet's public API with
# its default TCP settings. Prints the environment, the forwarder's precision, one
# side-by-side table and the same rows as JSON lines (also written to --json FILE).
#
# Needs root, ip, tc, python3, /dev/net/tun and network namespaces: without them it
# prints `SKIP: <reason>` and exits 0. Everything it made is removed at exit (trap); the
# run is bounded by `timeout` (20 min full, 6 min --quick). TPB_KEEP=1 keeps the work
# directory (logs, raw results). See bench/README.md.
set -euo pipefail
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$src/build
quick=0
json_out=""
cases_in=""
args=("$@")
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1 ;;
    --build) build=$2; shift ;;
    --json) json_out=$2; shift ;;
    --cases) cases_in=$(realpath "$2"); shift ;; # a matrix of your own, same format as below
    -h | --help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "tcp_validate.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done

skip() { echo "SKIP: $*"; exit 0; }
[ "$(uname -s)" = Linux ] || skip "needs Linux network namespaces"
for tool in ip tc python3 timeout; do
  command -v "$tool" >/dev/null || skip "the '$tool' tool is not installed"
done
[ "$(id -u)" = 0 ] || skip "network namespaces and TUN devices need root; run as root to include the kernel side"
[ -c /dev/net/tun ] || skip "/dev/net/tun is missing (no TUN support)"

# bounded in time: the whole run under `timeout` (its TERM runs the cleanup trap)
if [ -z "${TPB_VALIDATE_TIMED:-}" ]; then
  limit_s=1200
  [ "$quick" = 1 ] && limit_s=360
  TPB_VALIDATE_TIMED=1 exec timeout -s TERM "$limit_s" bash "${BASH_SOURCE[0]}" "${args[@]}"
fi

# build (or reuse) the tools
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$build" --target tcpfwd tcpprobe bench_tcp_sim tidepool >/dev/null
fwd=$build/bench/tcpfwd probe=$build/bench/tcpprobe sim=$build/bench/bench_tcp_sim tp=$build/tidepool

A="tpb$$-a" B="tpb$$-b" IP_A=10.77.0.1 IP_B=10.77.0.2
work=$(mktemp -d /tmp/tpb_validate.XXXXXX)
results=$work/results.jsonl
cases=$work/cases.txt
fwd_pid="" made_ns=() node_pids=()
cleanup() {
  [ -n "$fwd_pid" ] && kill -TERM "$fwd_pid" 2>/dev/null || true
  for p in "${node_pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  for ns in "${made_ns[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  if [ -n "${TPB_KEEP:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'echo "tcp_validate.sh: interrupted (or over its time limit)" >&2; exit 130' INT TERM
limit_s=1200
[ "$quick" = 1 ] && limit_s=360

ip netns add "$A" 2>"$work/err" || skip "cannot create a network namespace ($(cat "$work/err"))"
made_ns+=("$A")
ip netns add "$B"
made_ns+=("$B")
for ns in "$A" "$B"; do
  ip -n "$ns" tuntap add dev tpb0 mode tun 2>"$work/err" ||
    skip "cannot create a TUN device in a namespace ($(cat "$work/err"))"
  ip -n "$ns" link set lo up
  ip -n "$ns" link set tpb0 up
  # Linux caches ssthresh/RTT per destination (tcp_metrics) and would start each
  # trial from the previous one's state; trials must be independent, as simnet's are.
  ip netns exec "$ns" sysctl -qw net.ipv4.tcp_no_metrics_save=1
done
ip -n "$A" addr add "$IP_A/24" dev tpb0
ip -n "$B" addr add "$IP_B/24" dev tpb0
# The reference is Linux's default congestion control, cubic. A host may have chosen
# another (this machine's uses bbr, and new namespaces inherit it), and only the initial
# namespace may make a restricted algorithm the default: the route between the two
# hosts names cubic instead (every socket on it, the tidepool nodes' too, uses it;
# tcpprobe prints what its sockets got).
ip -n "$A" route replace 10.77.0.0/24 dev tpb0 proto kernel scope link src "$IP_A" congctl cubic
ip -n "$B" route replace 10.77.0.0/24 dev tpb0 proto kernel scope link src "$IP_B" congctl cubic
tc -n "$A" qdisc replace dev tpb0 root tbf rate 10mbit burst 3028 limit 125000 2>"$work/err" ||
  skip "tc tbf does not work on a TUN device here ($(cat "$work/err"))"

# The measuring processes (tcpprobe, the two nodes) run at real-time priority when
# allowed, as tcpfwd does: on a machine shared with builds, a thread that wakes a few
# ms late would be measured as network time. They sleep nearly always.
rt=()
chrt -f 5 true 2>/dev/null && rt=(chrt -f 5)

echo "== environment"
echo "kernel $(uname -r), $(nproc) CPUs, load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "measuring processes: ${rt[*]:-normal priority (chrt -f refused)}"
echo "inside the namespaces:"
ip netns exec "$A" sysctl net.ipv4.tcp_congestion_control | sed 's/$/ (the namespace default; the route below overrides it)/; s/^/  /'
ip netns exec "$A" sysctl net.ipv4.tcp_slow_start_after_idle net.ipv4.tcp_rmem \
  net.ipv4.tcp_wmem net.ipv4.tcp_no_metrics_save net.ipv4.tcp_sack net.ipv4.tcp_timestamps |
  sed 's/^/  /'
echo "  route: $(ip -n "$A" route show dev tpb0)"
initcwnd=$(ip -n "$A" route show dev tpb0 | sed -n 's/.*initcwnd \([0-9]*\).*/\1/p')
echo "  initial window: ${initcwnd:-10 segments (the kernel default: no initcwnd on the route)}"
echo "  MTU: $(ip -n "$A" link show tpb0 | sed -n 's/.* mtu \([0-9]*\).*/\1/p') (MSS 1448 with timestamps)"

# ---- the case matrix ------------------------------------------------------------------
# label | rtt_ms | rate_mbit | loss_ppm | case | bytes | kernel trials | sim seeds | check
# check: connect (+-3 %), handshake (+-3 %), transfer (+-10 %), loss (sim median inside
# the kernel's min-max), info (no acceptance: the forwarding path's own RTT at delay 0),
# flood (+-3 %, latency-dominated like connect; the overlay is random on both sides, so
# medians over 5 trials and 9 seeds; kind flood runs once for its p50 row, bytes = 50,
# and fills the p90 row, bytes = 90, too)
if [ -n "$cases_in" ]; then
  grep -v '^#' "$cases_in" >"$cases"
elif [ "$quick" = 1 ]; then
  cat >"$cases" <<'EOF'
connect RTT 50 ms, 10 Mbit/s|50|10|0|connect|0|3|2|connect
20 kB fresh, RTT 50 ms, 10 Mbit/s|50|10|0|fresh|20000|3|2|transfer
1 MiB fresh, RTT 50 ms, 10 Mbit/s|50|10|0|fresh|1048576|2|2|transfer
handshake RTT 50 ms, 10 Mbit/s|50|10|0|handshake|0|2|2|handshake
1 MiB fresh, RTT 50 ms, 10 Mbit/s, 1 % loss|50|10|10000|fresh|1048576|3|5|loss
EOF
else
  cat >"$cases" <<'EOF'
connect RTT 0 (the forwarding path's own overhead)|0|10|0|connect|0|7|1|info
connect RTT 10 ms, 10 Mbit/s|10|10|0|connect|0|7|3|connect
handshake RTT 10 ms, 10 Mbit/s|10|10|0|handshake|0|5|3|handshake
64 KiB fresh, RTT 10 ms, 10 Mbit/s|10|10|0|fresh|65536|5|3|transfer
1 MiB fresh, RTT 10 ms, 10 Mbit/s|10|10|0|fresh|1048576|5|3|transfer
connect RTT 50 ms, 10 Mbit/s|50|10|0|connect|0|7|3|connect
first byte after connect, RTT 50 ms, 10 Mbit/s|50|10|0|fresh|1|5|3|transfer
4 KiB fresh, RTT 50 ms, 10 Mbit/s|50|10|0|fresh|4096|5|3|transfer
20 kB fresh, RTT 50 ms, 10 Mbit/s|50|10|0|fresh|20000|5|3|transfer
64 KiB fresh, RTT 50 ms, 10 Mbit/s|50|10|0|fresh|65536|5|3|transfer
1 MiB fresh, RTT 50 ms, 10 Mbit/s|50|10|0|fresh|1048576|5|3|transfer
64 KiB bursts idle 2 s, RTT 50 ms, 10 Mbit/s|50|10|0|bursts|65536|5|3|transfer
handshake RTT 50 ms, 10 Mbit/s|50|10|0|handshake|0|5|3|handshake
64 KiB fresh, RTT 50 ms, 100 Mbit/s|50|100|0|fresh|65536|5|3|transfer
1 MiB fresh, RTT 50 ms, 100 Mbit/s|50|100|0|fresh|1048576|5|3|transfer
connect RTT 220 ms, 100 Mbit/s|220|100|0|connect|0|7|3|connect
64 KiB fresh, RTT 220 ms, 100 Mbit/s|220|100|0|fresh|65536|5|3|transfer
1 MiB fresh, RTT 220 ms, 100 Mbit/s|220|100|0|fresh|1048576|5|3|transfer
handshake RTT 220 ms, 100 Mbit/s|220|100|0|handshake|0|5|3|handshake
64 KiB fresh, RTT 50 ms, 10 Mbit/s, 1 % loss|50|10|10000|fresh|65536|21|31|loss
1 MiB fresh, RTT 50 ms, 10 Mbit/s, 1 % loss|50|10|10000|fresh|1048576|21|31|loss
flood p50 of per-host mean delay, 20 hosts, 3 regions|0|0|0|flood|50|5|9|flood
flood p90 of per-host mean delay, 20 hosts, 3 regions|0|0|0|flood|90|5|9|flood
EOF
fi

# ---- the kernel side ------------------------------------------------------------------
link_up() { # RTT_MS RATE_MBIT LOSS_PPM
  local rate_bytes=$(($2 * 125000)) limit
  # tbf: burst = two full packets (so the link serializes about as a wire would);
  # limit = 100 ms of the rate (at least 64 KiB): one flow never fills it (TCP small
  # queues keep a sender's own qdisc short), and an empty queue adds nothing to
  # connect and handshake times.
  limit=$((rate_bytes / 10))
  [ "$limit" -lt 65536 ] && limit=65536
  for ns in "$A" "$B"; do
    tc -n "$ns" qdisc replace dev tpb0 root tbf rate "${2}mbit" burst 3028 limit "$limit"
  done
  rm -f "$work/ready"
  "$fwd" --ns-a "$A" --ns-b "$B" --delay-ab-us $(($1 * 500)) --delay-ba-us $(($1 * 500)) \
    --loss-ppm "$3" --seed "$(($1 * 1000 + $2 + $3))" --max-seconds "$limit_s" \
    --ready-file "$work/ready" >"$work/fwd.out" 2>"$work/fwd.err" &
  fwd_pid=$!
  for _ in $(seq 50); do [ -s "$work/ready" ] && break; sleep 0.1; done
  [ -s "$work/ready" ] || { cat "$work/fwd.err" >&2; echo "tcp_validate.sh: the forwarder did not start" >&2; exit 1; }
}
link_down() { # LINK_LABEL
  kill -TERM "$fwd_pid"
  wait "$fwd_pid" || true
  fwd_pid=""
  local drops
  drops=$(for ns in "$A" "$B"; do tc -n "$ns" -s qdisc show dev tpb0 | sed -n 's/.*dropped \([0-9]*\).*/\1/p'; done | paste -sd, -)
  python3 -c 'import json,sys; d=json.loads(sys.argv[1]); d["link"]=sys.argv[2]; d["tbf_dropped_a_b"]=sys.argv[3]; print(json.dumps(d))' \
    "$(tail -n 1 "$work/fwd.out")" "$1" "$drops" >>"$results"
}

handshake_kernel() { # LABEL TRIALS
  local t d
  for t in $(seq 0 $(($2 - 1))); do
    # fresh data directories every trial: nodes that kept each other's points in
    # peers.json would dial each other at once and collide (node_netns.test.sh)
    d=$(mktemp -d "$work/hs.XXXXXX")
    ip netns exec "$B" "${rt[@]}" timeout 60 "$tp" node run --data-dir "$d/b" --net-addr "$IP_B:9732" \
      --expected-pow 0 --no-greeting 2>"$d/b.log" &
    node_pids+=($!)
    for _ in $(seq 100); do grep -q "kind=node_started" "$d/b.log" 2>/dev/null && break; sleep 0.05; done
    ip netns exec "$A" "${rt[@]}" timeout 60 "$tp" node run --data-dir "$d/a" --net-addr "$IP_A:9732" \
      --expected-pow 0 --no-greeting --peer "$IP_B:9732" 2>"$d/a.log" &
    node_pids+=($!)
    for _ in $(seq 600); do grep -q "kind=connection_established" "$d/a.log" 2>/dev/null && break; sleep 0.05; done
    for p in "${node_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${node_pids[@]}"; do wait "$p" 2>/dev/null || true; done
    node_pids=()
    python3 - "$d/a.log" "$1" "$t" "$IP_B:9732" >>"$results" <<'EOF'
import datetime, json, sys
log, label, trial, point = sys.argv[1:5]
def ts(line):
    s = line.split()[0][3:].rstrip("Z")
    return datetime.datetime.fromisoformat(s).timestamp()
# the dial that succeeded: the last one to B before the first connection_established
# (a dial made before B listened is refused and retried later)
dial = est = None
for line in open(log):
    if "kind=outgoing_connection" in line and f"point={point}" in line:
        dial = ts(line)
    if dial is not None and "kind=connection_established" in line:
        est = ts(line)
        break
if dial is None or est is None:
    tail = " / ".join(l.split(" ", 1)[-1].strip()[:80] for l in open(log).readlines()[-3:])
    print(json.dumps({"side": "kernel", "label": label, "trial": int(trial),
                      "error": f"no dial/connection_established pair in A's log within 30 s (its end: {tail})"}))
else:
    print(json.dumps({"side": "kernel", "label": label, "trial": int(trial),
                      "ms": round((est - dial) * 1000, 3)}))
EOF
    sleep 0.3
  done
}

echo "== kernel side (each link: tbf + tcpfwd; trials per case as in the table)"
links=$(awk -F'|' '$5 != "flood" && !seen[$2 "|" $3 "|" $4]++ { print $2 "|" $3 "|" $4 }' "$cases")
for link in $links; do
  IFS='|' read -r rtt rate loss <<<"$link"
  link_up "$rtt" "$rate" "$loss"
  echo "  link RTT ${rtt} ms, ${rate} Mbit/s, loss ${loss} ppm"
  while IFS='|' read -r label c_rtt c_rate c_loss kind bytes ktrials strials check; do
    [ "$c_rtt|$c_rate|$c_loss" = "$link" ] && [ "$kind" != flood ] || continue
    if [ "$kind" = handshake ]; then
      handshake_kernel "$label" "$ktrials"
      continue
    fi
    "${rt[@]}" timeout 600 "$probe" --client-ns "$A" --server-ns "$B" --server-ip "$IP_B" --case "$kind" \
      --bytes "$bytes" --trials "$ktrials" --label "$label" >>"$results" 2>"$work/probe.err" ||
      python3 -c 'import json,sys; print(json.dumps({"side":"kernel","label":sys.argv[1],"error":sys.argv[2]}))' \
        "$label" "$(tail -n 1 "$work/probe.err")" >>"$results"
  done <"$cases"
  link_down "RTT ${rtt} ms, ${rate} Mbit/s, loss ${loss} ppm"
done

# ---- the flood: `tidepool demo node` on FLOOD_HOSTS namespaces in 3 regions ------------
# Host i: namespace tpb<pid>-f<i>, 10.77.0.<i+1>, region i % 3; one tcpfwd routes between
# all of them by destination address with the one-way delay of the two regions (no
# jitter, no loss, no rate limit). Every host runs the demo flooding protocol (K = 4,
# host 0 as seed); the last host originates FLOOD_PINGS pings every 250 ms from 6 s
# after its start; each host prints its mean delivery delay (origin timestamp to
# receipt, CLOCK_MONOTONIC shared by the namespaces). Figures: p50 and p90 (nearest
# rank) over the hosts of those means; bench_tcp_sim --case flood computes the same.
FLOOD_HOSTS=20 FLOOD_PINGS=20
flood_delays=(0,0,5000 1,1,5000 2,2,5000 0,1,40000 1,0,40000 0,2,110000 2,0,110000 1,2,75000 2,1,75000)
flood_ns_made=0
flood_setup() {
  local i ns
  for i in $(seq 0 $((FLOOD_HOSTS - 1))); do
    ns="tpb$$-f$i"
    ip netns add "$ns"
    made_ns+=("$ns")
    ip -n "$ns" tuntap add dev tpb0 mode tun
    ip -n "$ns" link set lo up
    ip -n "$ns" link set tpb0 up
    ip -n "$ns" addr add "10.77.0.$((i + 1))/24" dev tpb0
    ip -n "$ns" route replace 10.77.0.0/24 dev tpb0 proto kernel scope link src "10.77.0.$((i + 1))" congctl cubic
    ip netns exec "$ns" sysctl -qw net.ipv4.tcp_no_metrics_save=1
  done
  flood_ns_made=1
}
flood_kernel() { # LABEL_P50 LABEL_P90 TRIALS
  [ "$flood_ns_made" = 1 ] || flood_setup
  local t i d args=() pids=()
  for i in $(seq 0 $((FLOOD_HOSTS - 1))); do args+=(--ns "tpb$$-f$i:$((i % 3))"); done
  for x in "${flood_delays[@]}"; do args+=(--region-delay-us "$x"); done
  for t in $(seq 0 $(($3 - 1))); do
    d=$work/flood$t
    mkdir -p "$d"
    rm -f "$work/ready"
    "$fwd" "${args[@]}" --max-seconds 120 --ready-file "$work/ready" >"$d/fwd.json" 2>"$d/fwd.err" &
    fwd_pid=$!
    for _ in $(seq 50); do [ -s "$work/ready" ] && break; sleep 0.1; done
    [ -s "$work/ready" ] || { cat "$d/fwd.err" >&2; echo "tcp_validate.sh: the flood forwarder did not start" >&2; exit 1; }
    pids=()
    for i in $(seq 0 $((FLOOD_HOSTS - 1))); do
      local extra=()
      [ "$i" -gt 0 ] && extra+=(--peer 10.77.0.1:9000)
      [ "$i" = $((FLOOD_HOSTS - 1)) ] && extra+=(--originate --pings "$FLOOD_PINGS" --ping-interval-ms 250 --ping-delay-ms 6000)
      ip netns exec "tpb$$-f$i" "${rt[@]}" timeout 60 "$tp" demo node --listen "10.77.0.$((i + 1)):9000" \
        --peers 4 --duration-s 13 "${extra[@]}" >"$d/$i.json" 2>"$d/$i.err" &
      pids+=($!)
      node_pids+=($!)
      sleep 0.1 # host i starts ~i * 100 ms after host 0, as bench_tcp_sim --case flood
    done
    for p in "${pids[@]}"; do wait "$p" || true; done
    node_pids=()
    kill -TERM "$fwd_pid"
    wait "$fwd_pid" || true
    fwd_pid=""
    python3 - "$d" "$FLOOD_HOSTS" "$FLOOD_PINGS" "$1" "$2" "$t" >>"$results" <<'EOF'
import json, math, sys
d, hosts, pings, l50, l90, trial = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], int(sys.argv[6])
means, incomplete = [], 0
for i in range(hosts - 1):  # the last host is the originator
    try:
        st = json.loads(open(f"{d}/{i}.json").read().strip().splitlines()[-1])
    except (OSError, ValueError, IndexError):
        incomplete += 1
        continue
    if st["delay_count"] < pings:
        incomplete += 1
    if st["delay_count"] > 0:
        means.append(st["delay_ns_mean"] / 1e6)
def rank(v, p):
    v = sorted(v)
    return v[max(1, math.ceil(p * len(v) / 100)) - 1]
if not means:
    for label in (l50, l90):
        print(json.dumps({"side": "kernel", "label": label, "trial": trial, "error": "no host received a ping"}))
else:
    for label, p in ((l50, 50), (l90, 90)):
        print(json.dumps({"side": "kernel", "label": label, "trial": trial, "ms": round(rank(means, p), 3),
                          "hosts_incomplete": incomplete}))
try:
    fw = json.loads(open(f"{d}/fwd.json").read().strip().splitlines()[-1])
    fw["link"] = f"flood, {hosts} namespaces, trial {trial}"
    fw["tbf_dropped_a_b"] = "no tbf"
    print(json.dumps(fw))
except (OSError, ValueError, IndexError):
    pass
EOF
    sleep 0.5
  done
}
flood_label_p90() { awk -F'|' '$5 == "flood" && $6 == 90 { print $1; exit }' "$cases"; }
if awk -F'|' '$5 == "flood" && $6 == 50 { found = 1 } END { exit !found }' "$cases"; then
  IFS='|' read -r fl_label _ _ _ _ _ fl_ktrials _ _ < <(awk -F'|' '$5 == "flood" && $6 == 50' "$cases")
  echo "  flood: $FLOOD_HOSTS namespaces in 3 regions, $fl_ktrials trials"
  flood_kernel "$fl_label" "$(flood_label_p90)" "$fl_ktrials"
fi

echo "== simnet side (bench_tcp_sim, default TCP settings)"
while IFS='|' read -r label rtt rate loss kind bytes ktrials strials check; do
  if [ "$kind" = flood ]; then
    [ "$bytes" = 50 ] || continue # one run gives both the p50 and the p90 row
    dl=()
    for x in "${flood_delays[@]}"; do dl+=(--region-delay-us "$x"); done
    "$sim" --case flood --hosts "$FLOOD_HOSTS" --regions 3 "${dl[@]}" --pings "$FLOOD_PINGS" \
      --ping-interval-ms 250 --ping-delay-ms 6000 --duration-s 13 --trials "$strials" \
      --label "$label" --label-p90 "$(flood_label_p90)" >>"$results" 2>"$work/sim.err" ||
      python3 -c 'import json,sys; print(json.dumps({"side":"sim","label":sys.argv[1],"error":sys.argv[2]}))' \
        "$label" "$(tail -n 1 "$work/sim.err")" >>"$results"
    continue
  fi
  "$sim" --case "$kind" --bytes "$bytes" --rtt-ms "$rtt" --rate-mbit "$rate" --loss-ppm "$loss" \
    --trials "$strials" --label "$label" >>"$results" 2>"$work/sim.err" ||
    python3 -c 'import json,sys; print(json.dumps({"side":"sim","label":sys.argv[1],"error":sys.argv[2]}))' \
      "$label" "$(tail -n 1 "$work/sim.err")" >>"$results"
done <"$cases"
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 "$src/bench/tcp_validate_table.py" "$cases" "$results" "${json_out:-}"

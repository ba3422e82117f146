#!/usr/bin/env bash
# bench/run_standard.sh — runs the standard workload (bench/standard.lua) R times and
# prints, per run and as medians: wall time, the virtual/real time ratio (speed-up),
# CPU seconds (user + system), events per second, peak RSS and bytes per node (peak RSS
# / nodes). See bench/README.md.
#
# usage: bench/run_standard.sh [options]
#   -b BUILD     build directory holding the tidepool binary (default: build)
#   -n NODES     number of nodes (default 1000)
#   -r RUNS      repetitions; the figures are medians (default 3)
#   -s SEED      seed of every run (default 1: the runs are the same run, so the trace
#                hashes must match, which the script checks)
#   -d DURATION  virtual duration (default 10min)
#   -c MODE      crypto mode: real (default) or fast (tidepool sim --crypto fast)
#   -l LEVEL     results-database log level: info (default, the standard), debug, none
#   -o DIR       keep the results databases and logs in DIR (default: a temporary
#                directory, removed at the end)
#   -t THREADS   simulator threads (tidepool sim --threads; default 1, as every figure
#                recorded before issue 21; bench/run_parallel.sh compares counts)
#   -x ARGS      extra arguments for tidepool sim (e.g. "--set ops_bytes=8192")
#
# Output: one line per run, then a `median` line and a JSON summary line (prefix
# `json: `). Exit code 0 when every run passed its checks and the trace hashes agree,
# 1 otherwise (the figures are still printed), 2 on usage errors.
set -u -o pipefail

build=build
nodes=1000
runs=3
seed=1
dur=10min
crypto=real
level=info
outdir=
extra=
threads=1
usage() { sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'; }
while getopts "b:n:r:s:d:c:l:o:t:x:h" opt; do
  case "$opt" in
    b) build=$OPTARG ;;
    n) nodes=$OPTARG ;;
    r) runs=$OPTARG ;;
    s) seed=$OPTARG ;;
    d) dur=$OPTARG ;;
    c) crypto=$OPTARG ;;
    l) level=$OPTARG ;;
    o) outdir=$OPTARG ;;
    t) threads=$OPTARG ;;
    x) extra=$OPTARG ;;
    h) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
src=$(cd "$(dirname "$0")/.." && pwd)
bin=$build/cmd/tidepool
[ -x "$bin" ] || bin=$build/tidepool
if [ ! -x "$bin" ]; then
  echo "run_standard.sh: no tidepool binary in $build (build it: cmake --build $build)" >&2
  exit 2
fi
if [ ! -x /usr/bin/time ]; then
  echo "run_standard.sh: /usr/bin/time is needed for the peak RSS (apt-get install time)" >&2
  exit 2
fi
case "$crypto" in real|fast) ;; *) echo "run_standard.sh: -c expects real or fast (got '$crypto')" >&2; exit 2 ;; esac
case "$runs" in ''|*[!0-9]*|0) echo "run_standard.sh: -r expects a positive integer (got '$runs')" >&2; exit 2 ;; esac
if [ -z "$outdir" ]; then
  outdir=$(mktemp -d "${TMPDIR:-/tmp}/tp_standard.XXXXXX")
  trap 'rm -rf "$outdir"' EXIT
else
  mkdir -p "$outdir"
fi

crypto_args=()
[ "$crypto" = fast ] && crypto_args=(--crypto fast)
echo "standard workload: nodes=$nodes duration=$dur crypto=$crypto log=$level seed=$seed runs=$runs threads=$threads"
echo "binary: $bin ($(git -C "$src" describe --always --dirty 2>/dev/null || echo unknown))"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'),"\
     "$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-4s %10s %9s %8s %12s %12s %11s %10s %s\n' run wall_s speedup cpu_s events events/s peak_rss_MiB B/node trace_hash

status=0
walls=() speeds=() cpus=() epss=() rsss=() bpns=() hashes=()
for i in $(seq 1 "$runs"); do
  db=$outdir/run$i.db
  rm -f "$db"
  # shellcheck disable=SC2086
  /usr/bin/time -v -o "$outdir/time$i.txt" "$bin" sim "$src/bench/standard.lua" --quiet \
    --seed "$seed" --db "$db" --log "$level" "${crypto_args[@]}" --threads "$threads" \
    --set nodes="$nodes" --set duration="$dur" $extra \
    >"$outdir/out$i.json" 2>"$outdir/err$i.txt"
  rc=$?
  json=$(tail -n 1 "$outdir/out$i.json")
  if ! jq -e . >/dev/null 2>&1 <<<"$json"; then
    echo "run $i: no result (exit $rc); stderr:" >&2
    tail -n 20 "$outdir/err$i.txt" >&2
    exit 1
  fi
  [ "$rc" -eq 0 ] || { status=1; echo "run $i: exit $rc: $(jq -r '.message // ""' <<<"$json")" >&2; }
  wall=$(jq -r .wall_time_s <<<"$json")
  vt=$(jq -r .virtual_time_s <<<"$json")
  events=$(jq -r .events <<<"$json")
  hash=$(jq -r .trace_hash <<<"$json")
  rss_kb=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$outdir/time$i.txt")
  # CPU seconds (user + system) of the process: on a shared machine the wall time
  # includes waiting for a core, the CPU time does not.
  cpu=$(awk -F: '/User time|System time/ {s += $2} END {printf "%.1f", s}' "$outdir/time$i.txt")
  speed=$(awk -v v="$vt" -v w="$wall" 'BEGIN {printf "%.2f", (w > 0 ? v / w : 0)}')
  eps=$(awk -v e="$events" -v w="$wall" 'BEGIN {printf "%.0f", (w > 0 ? e / w : 0)}')
  rss_mib=$(awk -v k="$rss_kb" 'BEGIN {printf "%.1f", k / 1024}')
  bpn=$(awk -v k="$rss_kb" -v n="$nodes" 'BEGIN {printf "%.0f", k * 1024 / n}')
  printf '%-4s %10.2f %9s %8s %12s %12s %11s %10s %s\n' "$i" "$wall" "$speed" "$cpu" "$events" "$eps" \
    "$rss_mib" "$bpn" "$hash"
  grep '^.*standard:' "$outdir/err$i.txt" | sed 's/^.*standard:/     /' | head -n 1
  walls+=("$wall") speeds+=("$speed") cpus+=("$cpu") epss+=("$eps") rsss+=("$rss_mib") bpns+=("$bpn") hashes+=("$hash")
done

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {if (NR % 2) print a[(NR + 1) / 2]; else printf "%.2f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
m_wall=$(median "${walls[@]}")
m_speed=$(median "${speeds[@]}")
m_cpu=$(median "${cpus[@]}")
m_eps=$(median "${epss[@]}")
m_rss=$(median "${rsss[@]}")
m_bpn=$(median "${bpns[@]}")
printf '%-4s %10s %9s %8s %12s %12s %11s %10s\n' median "$m_wall" "$m_speed" "$m_cpu" "" "$m_eps" "$m_rss" "$m_bpn"
distinct=$(printf '%s\n' "${hashes[@]}" | sort -u | wc -l)
if [ "$distinct" -ne 1 ]; then
  echo "run_standard.sh: the runs disagree on the trace hash (${hashes[*]}): nondeterminism" >&2
  status=1
fi
echo "json: {\"nodes\":$nodes,\"duration\":\"$dur\",\"crypto\":\"$crypto\",\"log\":\"$level\",\"seed\":$seed,\"runs\":$runs,\"median_wall_s\":$m_wall,\"median_speedup\":$m_speed,\"median_cpu_s\":$m_cpu,\"median_events_per_s\":$m_eps,\"median_peak_rss_mib\":$m_rss,\"median_bytes_per_node\":$m_bpn,\"trace_hash\":\"${hashes[0]}\"}"
exit $status

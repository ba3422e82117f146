#!/usr/bin/env bash
# bench/run_parallel.sh — one simulation on several threads (issue 21): runs the standard
# workload (bench/standard.lua) at each thread count of -T, interleaved (1, 2, 1, 2, ...
# so that a noisy neighbour hits every count alike), R times each, and prints per run and
# as medians: wall time, CPU seconds, peak RSS, and from `tidepool sim --stats` each
# thread's busy time and barrier wait; then the speed-up of each count over the first
# (median wall of the first / median wall of this one), the parallel efficiency
# (speed-up / threads) and the memory ratio. Every run must give the same trace hash.
#
# usage: bench/run_parallel.sh [options]
#   -b BUILD     build directory holding the tidepool binary (default: build)
#   -n NODES     number of nodes (default 1000)
#   -r RUNS      repetitions per thread count (default 3)
#   -T COUNTS    thread counts, first is the reference (default "1 2")
#   -P PARTS     partitions (tidepool sim --partitions; default: simnet's, 8 per thread)
#   -d DURATION  virtual duration (default 10min)
#   -c MODE      crypto mode: real (default) or fast
#   -s SEED      seed (default 1)
#   -o DIR       keep the databases and logs in DIR (default: a temporary directory)
#
# Output: one line per run, a `median` line per count, then `json: {...}`. Exit code 0
# when every run passed and the hashes agree, 1 otherwise, 2 on usage errors.
set -u -o pipefail

build=build nodes=1000 runs=3 counts="1 2" dur=10min crypto=real seed=1 outdir= parts=
usage() { sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'; }
while getopts "b:n:r:T:P:d:c:s:o:h" opt; do
  case "$opt" in
    b) build=$OPTARG ;; n) nodes=$OPTARG ;; r) runs=$OPTARG ;; T) counts=$OPTARG ;; P) parts=$OPTARG ;;
    d) dur=$OPTARG ;; c) crypto=$OPTARG ;; s) seed=$OPTARG ;; o) outdir=$OPTARG ;;
    h) usage; exit 0 ;; *) usage >&2; exit 2 ;;
  esac
done
src=$(cd "$(dirname "$0")/.." && pwd)
bin=$build/tidepool
[ -x "$bin" ] || { echo "run_parallel.sh: no tidepool binary in $build" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "run_parallel.sh: /usr/bin/time is needed (apt-get install time)" >&2; exit 2; }
case "$runs" in ''|*[!0-9]*|0) echo "run_parallel.sh: -r expects a positive integer" >&2; exit 2 ;; esac
case "$crypto" in real|fast) ;; *) echo "run_parallel.sh: -c expects real or fast" >&2; exit 2 ;; esac
for t in $counts; do
  case "$t" in ''|*[!0-9]*|0) echo "run_parallel.sh: -T expects thread counts (got '$t')" >&2; exit 2 ;; esac
done
if [ -z "$outdir" ]; then
  outdir=$(mktemp -d "${TMPDIR:-/tmp}/tp_parallel.XXXXXX")
  trap 'rm -rf "$outdir"' EXIT
else
  mkdir -p "$outdir"
fi
case "$parts" in ''|[1-9]|[1-9][0-9]|[1-9][0-9][0-9]) ;; *) echo "run_parallel.sh: -P expects a partition count" >&2; exit 2 ;; esac
sim_args=()
[ "$crypto" = fast ] && sim_args=(--crypto fast)
[ -n "$parts" ] && sim_args+=(--partitions "$parts")
echo "parallel: standard workload nodes=$nodes duration=$dur crypto=$crypto seed=$seed runs=$runs threads=($counts) partitions=${parts:-default}"
echo "binary: $bin ($(git -C "$src" describe --always --dirty 2>/dev/null || echo unknown))"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'),"\
     "load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-4s %3s %9s %8s %9s %9s %9s %9s %8s %s\n' run thr wall_s cpu_s rss_MiB busy_max_s wait_max_s serial_s windows trace_hash

status=0
declare -A walls cpus rsss busys waits serials
hashes=()
for i in $(seq 1 "$runs"); do
  for t in $counts; do
    base=$outdir/t${t}_r$i
    /usr/bin/time -v -o "$base.time" "$bin" sim "$src/bench/standard.lua" --quiet --stats \
      --seed "$seed" --threads "$t" "${sim_args[@]}" --set nodes="$nodes" --set duration="$dur" \
      >"$base.json" 2>"$base.err"
    rc=$?
    json=$(tail -n 1 "$base.json")
    if ! jq -e . >/dev/null 2>&1 <<<"$json"; then
      echo "run $i at $t threads: no result (exit $rc)" >&2; tail -n 20 "$base.err" >&2; exit 1
    fi
    [ "$rc" -eq 0 ] || { status=1; echo "run $i at $t threads: exit $rc: $(jq -r '.message // ""' <<<"$json")" >&2; }
    used=$(jq -r .threads <<<"$json")
    [ "$used" = "$t" ] || { status=1; echo "run $i: asked for $t threads, used $used: $(grep note "$base.err")" >&2; }
    wall=$(jq -r .wall_time_s <<<"$json")
    hash=$(jq -r .trace_hash <<<"$json")
    cpu=$(awk -F: '/User time|System time/ {s += $2} END {printf "%.1f", s}' "$base.time")
    rss=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); printf "%.1f", $2 / 1024}' "$base.time")
    # --stats rows: "  thread busy wait partition-windows taken"
    busy=$(awk '/^ +[0-9]+ +[0-9.]+ +[0-9.]+ +[0-9]+ +[0-9]+$/ {if ($2 > m) m = $2} END {printf "%.2f", m}' "$base.err")
    wait=$(awk '/^ +[0-9]+ +[0-9.]+ +[0-9.]+ +[0-9]+ +[0-9]+$/ {if ($3 > m) m = $3} END {printf "%.2f", m}' "$base.err")
    windows=$(sed -n 's/.* \([0-9]*\) windows.*/\1/p' "$base.err" | head -n 1)
    serial=$(sed -n 's/^  serial: \([0-9.]*\) s.*/\1/p' "$base.err" | head -n 1)
    printf '%-4s %3s %9.2f %8s %9s %9s %9s %9s %8s %s\n' "$i" "$t" "$wall" "$cpu" "$rss" "$busy" "$wait" "$serial" "$windows" "$hash"
    walls[$t]+="$wall " cpus[$t]+="$cpu " rsss[$t]+="$rss " busys[$t]+="$busy " waits[$t]+="$wait " serials[$t]+="$serial "
    hashes+=("$hash")
  done
done
median() { printf '%s\n' $1 | sort -g | awk '{a[NR] = $1} END {if (NR % 2) print a[(NR + 1) / 2]; else printf "%.2f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
ref=""
ref_rss=""
json="{\"nodes\":$nodes,\"duration\":\"$dur\",\"crypto\":\"$crypto\",\"runs\":$runs,\"counts\":["
sep=""
for t in $counts; do
  mw=$(median "${walls[$t]}") mc=$(median "${cpus[$t]}") mr=$(median "${rsss[$t]}")
  mb=$(median "${busys[$t]}") mwt=$(median "${waits[$t]}") ms=$(median "${serials[$t]}")
  [ -z "$ref" ] && ref=$mw ref_rss=$mr
  sp=$(awk -v a="$ref" -v b="$mw" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}')
  eff=$(awk -v s="$sp" -v t="$t" 'BEGIN {printf "%.0f", 100 * s / t}')
  mem=$(awk -v a="$ref_rss" -v b="$mr" 'BEGIN {printf "%.2f", (a > 0 ? b / a : 0)}')
  printf 'median %3s %9s %8s %9s %9s %9s %9s  speed-up %sx, efficiency %s %%, memory x%s\n' "$t" "$mw" "$mc" "$mr" "$mb" "$mwt" "$ms" "$sp" "$eff" "$mem"
  json+="$sep{\"threads\":$t,\"median_wall_s\":$mw,\"median_cpu_s\":$mc,\"median_rss_mib\":$mr,\"median_busy_max_s\":$mb,\"median_wait_max_s\":$mwt,\"median_serial_s\":$ms,\"speedup\":$sp,\"efficiency_pct\":$eff,\"memory_ratio\":$mem}"
  sep=","
done
distinct=$(printf '%s\n' "${hashes[@]}" | sort -u | wc -l)
if [ "$distinct" -ne 1 ]; then
  echo "run_parallel.sh: the runs disagree on the trace hash (${hashes[*]})" >&2
  status=1
fi
echo "json: $json],\"trace_hash\":\"${hashes[0]}\"}"
exit $status

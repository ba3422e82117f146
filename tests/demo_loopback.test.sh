#!/usr/bin/env bash
# tests/demo_loopback.test.sh BUILD_DIR SOURCE_DIR
#
# Five `tidepool demo node` processes on 127.0.0.1 (real sockets, realnet), one of them
# originating N pings; every process stops by itself (--duration-s). From the JSON
# summaries it checks that every other node received every ping exactly once as unique
# (pings_unique == N), that the originator sent N, and that no frame was malformed.
# This is the same demo/ protocol source that the simulator runs.
#
# Ports: five consecutive ports from a random base in 20000-59999, skipped when any of
# them is already bound (per /proc/net/tcp{,6}); if a node still cannot listen (exit 3:
# someone took the port meanwhile), the whole run is retried with a new base.
set -u
BUILD_DIR=${1:?usage: demo_loopback.test.sh BUILD_DIR SOURCE_DIR}
TIDEPOOL="$BUILD_DIR/tidepool"
NODES=5
PINGS=10
[ -x "$TIDEPOOL" ] || { echo "FAIL: $TIDEPOOL not built"; exit 1; }

# Usage errors exit 2 with a message naming the problem; --help exits 0.
expect_exit() { # expect_exit CODE TEXT-IN-STDERR ARGS...
    local want=$1 text=$2 out rc; shift 2
    out=$("$TIDEPOOL" "$@" 2>&1 >/dev/null); rc=$?
    [ "$rc" = "$want" ] || { echo "FAIL: tidepool $* exited $rc, want $want"; exit 1; }
    grep -qF -- "$text" <<<"$out" || { echo "FAIL: tidepool $*: no '$text' in: $out"; exit 1; }
}
expect_exit 2 "--listen ADDR:PORT is required" demo node
expect_exit 2 "unknown option '--bogus'" demo node --listen 127.0.0.1:9 --bogus
expect_exit 2 "'1.2.3' is not ADDR:PORT" demo node --listen 1.2.3
expect_exit 2 "--peers must be between 1 and 1000" demo node --listen 127.0.0.1:9 --peers 0
expect_exit 2 "--pings expects a value" demo node --listen 127.0.0.1:9 --pings
expect_exit 2 "unknown subcommand 'sideways'" demo sideways
"$TIDEPOOL" demo node --help | grep -q -- "--ping-interval-ms" || { echo "FAIL: demo node --help"; exit 1; }

work=$(mktemp -d /tmp/tp_demo_loopback.XXXXXX)
trap 'rm -rf "$work"' EXIT

ports_in_use() { # prints the hex local ports of every TCP socket
    cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk 'NR>1 {split($2,a,":"); print a[2]}'
}

listening_ports() { # hex local ports of listening TCP sockets (state 0A)
    cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk 'NR>1 && $4 == "0A" {split($2,a,":"); print a[2]}'
}

pick_base() {
    local used base p ok
    used=$(ports_in_use | sort -u)
    for _ in $(seq 1 50); do
        base=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
        ok=1
        for p in $(seq "$base" $((base + NODES - 1))); do
            if grep -qx "$(printf '%04X' "$p")" <<<"$used"; then ok=0; break; fi
        done
        [ "$ok" = 1 ] && { echo "$base"; return 0; }
    done
    return 1
}

run_once() { # $1 = base port; returns 0 ok, 3 port trouble, 1 failure
    local base=$1 i pids=() rc status=0
    rm -f "$work"/node*.json "$work"/node*.err
    for i in $(seq 1 $((NODES - 1))); do
        timeout 30 "$TIDEPOOL" demo node --listen "127.0.0.1:$((base + i))" \
            --peer "127.0.0.1:$base" --peers 2 --duration-s 4 \
            >"$work/node$i.json" 2>"$work/node$i.err" &
        pids+=($!)
    done
    timeout 30 "$TIDEPOOL" demo node --listen "127.0.0.1:$base" --peer "127.0.0.1:$((base + 1))" \
        --peers 2 --originate --pings "$PINGS" --ping-interval-ms 50 --ping-delay-ms 1500 \
        --duration-s 4 >"$work/node0.json" 2>"$work/node0.err" &
    pids+=($!)
    for pid in "${pids[@]}"; do
        wait "$pid"; rc=$?
        if [ "$rc" = 3 ]; then status=3; elif [ "$rc" != 0 ] && [ "$status" = 0 ]; then status=1; fi
    done
    return $status
}

field() { # field FILE NAME -> the integer value of "NAME": in the JSON line
    sed -n "s/.*\"$2\":\([0-9-]*\).*/\1/p" "$1"
}

ok=0
for attempt in 1 2 3; do
    base=$(pick_base) || { echo "FAIL: no free port range found"; exit 1; }
    echo "attempt $attempt: ports $base..$((base + NODES - 1))"
    run_once "$base"; rc=$?
    if [ "$rc" = 0 ]; then ok=1; break; fi
    if [ "$rc" != 3 ]; then
        echo "FAIL: a node exited with an error"; tail -n 5 "$work"/node*.err; exit 1
    fi
    echo "a port was taken meanwhile; retrying with another range"
done
[ "$ok" = 1 ] || { echo "FAIL: could not get free ports in 3 attempts"; exit 1; }

fail=0
for i in $(seq 0 $((NODES - 1))); do
    f="$work/node$i.json"
    cat "$f"
    [ "$(wc -l <"$f")" = 1 ] || { echo "FAIL: node $i printed no one-line summary"; fail=1; continue; }
    unique=$(field "$f" pings_unique)
    originated=$(field "$f" pings_originated)
    bad=$(field "$f" frames_bad)
    delays=$(field "$f" delay_count)
    if [ "$i" = 0 ]; then
        [ "$originated" = "$PINGS" ] || { echo "FAIL: node 0 originated $originated, want $PINGS"; fail=1; }
        [ "$unique" = 0 ] || { echo "FAIL: node 0 counted its own pings as received"; fail=1; }
    else
        [ "$unique" = "$PINGS" ] || { echo "FAIL: node $i received $unique unique pings, want $PINGS"; fail=1; }
        [ "$delays" = "$PINGS" ] || { echo "FAIL: node $i has $delays delays, want $PINGS"; fail=1; }
        [ "$originated" = 0 ] || { echo "FAIL: node $i originated pings"; fail=1; }
    fi
    [ "$bad" = 0 ] || { echo "FAIL: node $i saw $bad malformed frames"; fail=1; }
done
if [ "$fail" != 0 ]; then tail -n 5 "$work"/node*.err; exit 1; fi

# A node without --duration-s stops on SIGTERM and still prints its summary.
# (--duration-s 30 is only a safety net; the signal is sent as soon as it listens.)
"$TIDEPOOL" demo node --listen "127.0.0.1:$base" --duration-s 30 >"$work/sig.json" 2>"$work/sig.err" &
pid=$!
hex=$(printf '%04X' "$base")
for _ in $(seq 1 100); do
    listening_ports | grep -qx "$hex" && break
    sleep 0.05
done
kill -TERM "$pid"
wait "$pid"; rc=$?
[ "$rc" = 0 ] || { echo "FAIL: node stopped by SIGTERM exited with $rc"; cat "$work/sig.err"; exit 1; }
[ "$(field "$work/sig.json" signal)" = 15 ] || { echo "FAIL: no summary with signal 15"; cat "$work/sig.json"; exit 1; }
echo "PASS: $((NODES - 1)) nodes each received all $PINGS pings"

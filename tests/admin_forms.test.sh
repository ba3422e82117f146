#!/usr/bin/env bash
# tests/admin_forms.test.sh BUILD_DIR SOURCE_DIR — `tidepool admin` speaks
# octez-admin-client's forms and says what it did (issue 20). Two real nodes on
# 127.0.0.1 (A with its RPC, B dialing A):
#   connect address P, kick peer ID, ban|unban address|peer X, is address|peer X banned
#   (exit 0 banned, 1 not), rpc get|patch|delete PATH, log (readable lines by default,
#   --json for JSON), the peers table's BANNED/GREYLISTED and the points table's
#   GREYLISTED UNTIL columns, usage errors (exit 2) for a malformed address or peer and
#   an unknown command (with the nearest one); and `node run --peer` that cannot be
#   resolved is an error at start.
set -uo pipefail
TP=$(cd "$1" && pwd)/tidepool
TMP=$(mktemp -d /tmp/tp-admin-forms.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  sleep 0.5
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  rm -rf "$TMP"
}
trap cleanup EXIT
pass=0
fail=0
ok() { echo "ok - $1"; pass=$((pass + 1)); }
bad() { echo "FAIL - $1"; fail=$((fail + 1)); }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }
read -r PA PB RA < <(python3 -c '
import socket
ss = [socket.socket() for _ in range(3)]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))')
RPC=127.0.0.1:$RA
adm() { timeout 20 "$TP" admin --rpc "$RPC" "$@"; }

"$TP" node run --data-dir "$TMP/a" --net-addr 127.0.0.1:$PA --rpc-addr $RPC --expected-pow 0 \
  --connections 4 >"$TMP/a.log" 2>&1 &
pids+=($!)
sleep 1
"$TP" node run --data-dir "$TMP/b" --net-addr 127.0.0.1:$PB --expected-pow 0 --connections 4 \
  --peer 127.0.0.1:$PA >"$TMP/b.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  [ "$(adm connections --json 2>/dev/null | jq length 2>/dev/null)" = 1 ] && break
  sleep 0.2
done
check "A and B are connected" test "$(adm connections --json | jq length)" = 1
B=$("$TP" identity show --data-dir "$TMP/b" --json 2>/dev/null | jq -r .peer_id)
check "B's peer id ($B)" grep -q '^id' <(echo "$B")
check "A's log writes B's peer id in Base58" grep -q "peer=$B" "$TMP/a.log"

adm peers >peers.txt 2>&1
check "peers table has BANNED and GREYLISTED columns" grep -q "BANNED  GREYLISTED" peers.txt
adm points >points.txt 2>&1
check "points table has GREYLISTED UNTIL" grep -q "GREYLISTED UNTIL" points.txt

timeout 6 "$TP" admin --rpc "$RPC" log >"$TMP/log.txt" 2>&1 &
logpid=$!
sleep 1
adm kick peer "$B" >out.txt 2>&1
rc=$?
check "kick peer ID: exit 0 (rc=$rc)" test $rc -eq 0
check "... says so" grep -q "kicked $B" out.txt
wait $logpid
check "admin log: readable lines (time, event, peer=)" grep -Eq "^[0-9]{4}-[0-9]{2}-[0-9]{2}T.* [a-z_]+ .*peer=$B" "$TMP/log.txt"
check "... not JSON" sh -c "! grep -q '^{' '$TMP/log.txt'"

adm connect address 127.0.0.1:$PB >out.txt 2>&1
rc=$?
check "connect address P: exit 0 (rc=$rc)" test $rc -eq 0
check "... says so" grep -q "connected to 127.0.0.1:$PB" out.txt

adm is address 127.0.0.1:$PB banned >out.txt 2>&1
rc=$?
check "is address P banned, not banned: exit 1 (rc=$rc)" test $rc -eq 1
check "... says is not banned" grep -q "is not banned" out.txt
adm is peer "$B" banned >/dev/null 2>&1
check "is peer ID banned, not banned: exit 1" test $? -eq 1

adm ban address 127.0.0.1:$PB >out.txt 2>&1
rc=$?
cat out.txt
check "ban address P: exit 0 (rc=$rc)" test $rc -eq 0
check "... says it banned the IP" grep -q "banned address 127.0.0.1:$PB: the IP 127.0.0.1 (every port)" out.txt
check "... and what became of the connections" grep -Eq "closed its connections and banned their peers: $B|no connection from it was open" out.txt
adm is address 127.0.0.1:$PB banned >out.txt 2>&1
check "is address P banned, banned: exit 0" test $? -eq 0
adm unban address 127.0.0.1:$PB >out.txt 2>&1
check "unban address P says so" grep -q "unbanned address 127.0.0.1:$PB" out.txt
adm ban peer "$B" >out.txt 2>&1
check "ban peer ID says so" grep -q "banned peer $B" out.txt
adm is peer "$B" banned >/dev/null 2>&1
check "is peer ID banned, banned: exit 0" test $? -eq 0
adm unban peer "$B" >/dev/null 2>&1

adm ban address foo >/dev/null 2>err.txt
rc1=$?
adm ban peer foo >/dev/null 2>>err.txt
rc2=$?
check "ban address foo and ban peer foo: both exit 2 ($rc1, $rc2)" test $rc1 -eq 2 -a $rc2 -eq 2
check "... naming what is wrong" grep -q "'foo' is not a point" err.txt

adm rpc get /network/stat >out.txt 2>&1
check "rpc get /network/stat: the JSON" test "$(jq -r 'has("total_sent")' out.txt)" = true
adm rpc patch /network/points/127.0.0.1:$PB '{"acl": "trust"}' >/dev/null 2>&1
check "rpc patch with a body: exit 0" test $? -eq 0
check "... took effect" test "$(adm rpc get /network/points/127.0.0.1:$PB | jq -r .trusted)" = true
adm rpc get /version >/dev/null 2>&1
check "rpc outside /network: exit 2" test $? -eq 2
adm bna address 127.0.0.1:$PB >/dev/null 2>err.txt
check "unknown command: exit 2" test $? -eq 2
check "... suggests the nearest" grep -q "did you mean 'ban'" err.txt

timeout 20 "$TP" node run --data-dir "$TMP/c" --net-addr 127.0.0.1:0 --expected-pow 0 \
  --peer no-such-host.invalid:9732 >/dev/null 2>err.txt
rc=$?
check "--peer that does not resolve: exit 3 at start (rc=$rc)" test $rc -eq 3
check "... naming it" grep -q -- "--peer no-such-host.invalid:9732" err.txt
check "... no 'stopped cleanly'" sh -c "! grep -q 'stopped cleanly' err.txt"

echo "$pass passed, $fail failed"
test "$fail" -eq 0

#!/usr/bin/env bash
# tests/node_errors.test.sh BUILD_DIR SOURCE_DIR
#
# Bad input to `tidepool node run` and its RPC: each gives a clear error (what, where,
# the fix), none crashes the node, none loses peers.json.
#  1. malformed config: exit 3, the message names the file, line:column and the key
#  2. missing identity: made on first start with a message (a long search can be
#     interrupted, nothing written); corrupt identity.json or one below the required
#     proof of work: exit 3, names the problem, the file is left untouched
#  3. P2P port in use, RPC port in use: exit 3, naming the address and the option
#  4. unreachable bootstrap peer: the node keeps running, says so, and retries
#  5. RPC calls with a malformed peer id / point: 400 with a message; the node lives on
#     and saves peers.json at SIGTERM; a corrupt peers.json is kept aside, not lost
#  6. usage errors and `tidepool admin` without a node
set -euo pipefail
build=$1
tp=$build/tidepool
work=$(mktemp -d /tmp/tp_node_errors.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  if [ "${keep:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM # so that the EXIT trap cleans up on a ctest timeout too
fail() { echo "FAIL: $*" >&2; keep=1; exit 1; }
expect() { # expect RC FRAGMENT CMD... : runs CMD, checks exit code and a stderr fragment
  local want=$1 frag=$2 rc=0; shift 2
  timeout 30 "$@" >"$work/out" 2>"$work/err" || rc=$?
  [ "$rc" = "$want" ] || { cat "$work/err" >&2; fail "'$*' exited $rc, expected $want"; }
  grep -qF -- "$frag" "$work/err" || { cat "$work/err" >&2; fail "'$*': no '$frag' in stderr"; }
}
read -r -a ports < <(python3 -c '
import socket
socks = []
for _ in range(6):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))')

# ---- 1. malformed configs ---------------------------------------------------------------
printf '{\n  "p2p": {\n    "limits": {\n      "max-conections": 5\n    }\n  }\n}\n' >"$work/typo.json"
expect 3 'typo.json:4:7: unknown key "max-conections" in "p2p.limits" (did you mean "max-connections"?)' \
  "$tp" node run --config "$work/typo.json" --data-dir "$work/d1"
printf '{"p2p": {"limits": {"expected-connections": 50,\n "max-connections": 10}}}\n' >"$work/range.json"
expect 3 'range.json:2:21: "p2p.limits.max-connections" must be >= "expected-connections" (got 10 < 50)' \
  "$tp" node run --config "$work/range.json" --data-dir "$work/d1"
printf '{"p2p": {"private-mode": true,}}\n' >"$work/syntax.json"
expect 3 'syntax.json:1:' "$tp" node run --config "$work/syntax.json" --data-dir "$work/d1"
expect 3 'cannot open the config file' "$tp" node run --config "$work/nope.json" --data-dir "$work/d1"
[ ! -e "$work/d1" ] || fail "a rejected config must not create the data directory"

# ---- 2. identities --------------------------------------------------------------------
mkdir -p "$work/bad"
printf '{"public_key": "00", "secret_key": "00", "proof_of_work_stamp": "00"}\n' >"$work/bad/identity.json"
cp "$work/bad/identity.json" "$work/bad.copy"
expect 3 'bad/identity.json is not a valid identity: field "public_key"' \
  "$tp" node run --data-dir "$work/bad" --expected-pow 0 --net-addr "127.0.0.1:${ports[0]}"
cmp -s "$work/bad/identity.json" "$work/bad.copy" || fail "the corrupt identity was modified"
printf '{"public_key": ' >"$work/bad/identity.json"
expect 3 'not a valid identity' "$tp" node run --data-dir "$work/bad" --expected-pow 0 \
  --net-addr "127.0.0.1:${ports[0]}"
# a tezedge identity (PoW 26) under a stricter requirement
mkdir -p "$work/weak"
shared=${TP_SHARED_DIR:-$2/../shared}
cp "$shared/vectors/tezedge/docker_identities_identity_ocaml.json" "$work/weak/identity.json"
expect 3 'below expected-proof-of-work 40' "$tp" node run --data-dir "$work/weak" --expected-pow 40 \
  --net-addr "127.0.0.1:${ports[0]}"

# an endless proof-of-work search at first start can be interrupted; nothing is written
"$tp" node run --data-dir "$work/pow" --expected-pow 60 --net-addr "127.0.0.1:${ports[0]}" \
  2>"$work/pow.log" &
pow=$!
pids+=("$pow")
deadline=$((SECONDS + 10))
until grep -q 'generating a new one' "$work/pow.log"; do
  [ $SECONDS -lt $deadline ] || fail "no message about generating an identity"
  sleep 0.1
done
kill -INT "$pow"
rc=0
wait "$pow" || rc=$?
[ $rc = 1 ] || fail "interrupted identity generation exited $rc, expected 1"
grep -q 'interrupted during the proof-of-work search: no identity written' "$work/pow.log" ||
  fail "no message about the interruption"
[ ! -e "$work/pow/identity.json" ] || fail "an identity was written after an interruption"

# ---- 3. ports in use --------------------------------------------------------------------
python3 -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1); time.sleep(30)' "${ports[1]}" &
holder=$!
pids+=("$holder")
deadline=$((SECONDS + 20))
until python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "${ports[1]}" 2>/dev/null; do
  [ $SECONDS -lt $deadline ] || fail "the port holder did not start"
  sleep 0.1
done
expect 3 "cannot listen for peers on 127.0.0.1:${ports[1]}: address already in use" \
  "$tp" node run --data-dir "$work/p1" --expected-pow 0 --net-addr "127.0.0.1:${ports[1]}"
grep -qF -- '--net-addr' "$work/err" || fail "port in use: no fix suggested"
expect 3 "cannot listen for RPC on 127.0.0.1:${ports[1]}" \
  "$tp" node run --data-dir "$work/p1" --expected-pow 0 --net-addr "127.0.0.1:${ports[2]}" \
  --rpc-addr "127.0.0.1:${ports[1]}"
kill "$holder" 2>/dev/null || true

# ---- 4. + 5. a running node with an unreachable bootstrap peer ---------------------------
# ${ports[3]}: nobody listens there
node_log=$work/n.log
: >"$node_log"
"$tp" node run --data-dir "$work/n" --expected-pow 0 --net-addr "127.0.0.1:${ports[4]}" \
  --rpc-addr "127.0.0.1:${ports[5]}" --peer "127.0.0.1:${ports[3]}" 2>"$node_log" &
node=$!
pids+=("$node")
rpc="127.0.0.1:${ports[5]}"
deadline=$((SECONDS + 20))
until grep -q 'no connection yet: bootstrap peers unreachable so far' "$node_log"; do
  [ $SECONDS -lt $deadline ] || fail "the node did not report its unreachable bootstrap peer"
  kill -0 "$node" || fail "the node died"
  sleep 0.3
done
grep -q "127.0.0.1:${ports[3]} (next try in" "$node_log" || fail "no retry time in the report"
# it retries: at least two dials of that point within the backoff schedule (1 s, 1.2 s...)
deadline=$((SECONDS + 20))
until [ "$(grep -c "kind=outgoing_connection point=127.0.0.1:${ports[3]}" "$node_log")" -ge 2 ]; do
  [ $SECONDS -lt $deadline ] || fail "the node did not retry its bootstrap peer"
  sleep 0.3
done

status() { curl -s -o "$work/body" -w '%{http_code}' -X "$1" "http://$rpc$2" ${3:+-d "$3"}; }
[ "$(status GET /network/connections/idBAD)" = 400 ] || fail "malformed peer id: not 400"
grep -q "malformed peer id 'idBAD'" "$work/body" || fail "malformed peer id: message"
[ "$(status PATCH /network/peers/idrRoknJh9zwEePNswF3MPGFzmKaVq '{"acl":"ban"}')" = 400 ] ||
  fail "bad checksum: not 400"
grep -q "checksum" "$work/body" || fail "bad checksum: message"
[ "$(status PUT '/network/points/300.1.1.1:9732')" = 400 ] || fail "malformed point: not 400"
[ "$(status PATCH "/network/points/127.0.0.1:${ports[3]}" '{"acl":"ban"')" = 400 ] ||
  fail "truncated body: not 400"
[ "$(status GET /network/peers/idrRoknJh9zwEePNswF3MPGFzmKaVp)" = 404 ] || fail "unknown peer: not 404"
# the admin client checks the peer id itself and says what a peer id is
expect 2 "is not a peer id" "$tp" admin --rpc "$rpc" kick idBAD
# ban and unban an address through the admin client, observed through the RPC
"$tp" admin --rpc "$rpc" ban address "127.0.0.1:${ports[3]}" >/dev/null
[ "$("$tp" admin --rpc "$rpc" --json is address "127.0.0.1:${ports[3]}" banned)" = true ] ||
  fail "ban address not seen"
"$tp" admin --rpc "$rpc" unban address "127.0.0.1:${ports[3]}" >/dev/null
[ "$("$tp" admin --rpc "$rpc" --json is address "127.0.0.1:${ports[3]}" banned)" = false ] ||
  fail "unban address not seen"
kill -0 "$node" || fail "the node died under bad RPC input"
kill -TERM "$node"
rc=0
wait "$node" || rc=$?
[ $rc = 0 ] || fail "node exit $rc after SIGTERM"
grep -q 'peers.json saved' "$node_log" || fail "peers.json not saved"
python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$work/n/peers.json" || fail "peers.json is not JSON"

# a corrupt peers.json is kept aside (not lost) and the node starts
printf '[{"peer_id": ' >"$work/n/peers.json"
"$tp" node run --data-dir "$work/n" --expected-pow 0 --net-addr "127.0.0.1:${ports[4]}" \
  2>"$work/n2.log" &
node=$!
pids+=("$node")
deadline=$((SECONDS + 10))
until grep -q 'peers.json could not be used' "$work/n2.log"; do
  [ $SECONDS -lt $deadline ] || fail "no message about the corrupt peers.json"
  sleep 0.2
done
ls "$work/n"/peers.json.corrupt-* >/dev/null 2>&1 || fail "the corrupt peers.json was not kept aside"
kill -TERM "$node"
wait "$node" || fail "node exit after a corrupt peers.json"

# ---- 6. usage, and the admin client without a node ---------------------------------------
expect 2 "no data directory" "$tp" node run
expect 2 "unknown option '--bogus'" "$tp" node run --data-dir "$work/x" --bogus
expect 2 "--net-addr '1.2.3.4:70000': not a point" "$tp" node run --data-dir "$work/x" --net-addr 1.2.3.4:70000
expect 2 "unknown subcommand 'walk'" "$tp" node walk
expect 3 "cannot reach the node's RPC at 127.0.0.1:${ports[3]}" "$tp" admin --rpc "127.0.0.1:${ports[3]}" p2p stat
echo PASS

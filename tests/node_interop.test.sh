#!/usr/bin/env bash
# tests/node_interop.test.sh BUILD_DIR SOURCE_DIR
#
# Interop replay (spec §13, vectors/handshake_vectors.json): the real node, as peer B
# (tezedge's identity_ocaml.json, chain TEZOS_MAINNET, ddb 2 / p2p 1, advertised port
# 9733, disable_mempool, message nonce 65..7c), is driven over TCP by a scripted peer A
# (Python, no crypto of its own) that sends A's recorded bytes and checks every byte
# the node answers:
#   B's framed connection message, B's metadata chunk (ff00), B's Ack — byte for byte;
#   B's answer to A's Bootstrap: decrypted with the vector's channel key and the next
#   nonce (c842…a6, libsodium through ctypes) it must be an Advertise of the points the
#   node knows. (The vector's Advertise lists 1.2.3.4:9732 and [2001:db8::1]:9732, points
#   a fresh node cannot know as public, so its exact bytes are not expected here.)
# The node must report the vector's peer id for B (RPC /network/self) and list A as a
# running connection with A's peer id.
set -euo pipefail
build=$1
src=$2
tp=$build/tidepool
shared=${TP_SHARED_DIR:-$src/../shared}
vectors=$shared/vectors/handshake_vectors.json
work=$(mktemp -d /tmp/tp_node_interop.XXXXXX)
node=""
cleanup() {
  [ -n "$node" ] && kill -KILL "$node" 2>/dev/null || true
  if [ "${keep:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM # so that the EXIT trap cleans up on a ctest timeout too
fail() { echo "FAIL: $*" >&2; tail -n 30 "$work/node.log" >&2 || true; keep=1; exit 1; }

[ -r "$vectors" ] || fail "missing $vectors"
python3 -c 'import ctypes.util, sys; sys.exit(0 if ctypes.util.find_library("sodium") else 1)' ||
  { echo "SKIP: libsodium not loadable from Python (ctypes)"; exit 0; }

mkdir -p "$work/b"
cp "$shared/vectors/tezedge/docker_identities_identity_ocaml.json" "$work/b/identity.json"
read -r p2p_port rpc_port < <(python3 -c '
import socket
a = socket.socket(); a.bind(("127.0.0.1", 0)); b = socket.socket(); b.bind(("127.0.0.1", 0))
print(a.getsockname()[1], b.getsockname()[1])')
cat >"$work/config.json" <<'EOF'
{
  "p2p": {
    "advertised-net-port": 9733,
    "disable_mempool": true,
    "limits": {"maintenance-idle-time": null, "swap-linger": null}
  },
  "network": {"chain_name": "TEZOS_MAINNET", "distributed_db_versions": [0, 1, 2],
              "p2p_versions": [0, 1]}
}
EOF
nonce_b=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["connection_message_params"]["B"]["message_nonce"])' "$vectors")
"$tp" node run --config "$work/config.json" --data-dir "$work/b" \
  --net-addr "127.0.0.1:$p2p_port" --rpc-addr "127.0.0.1:$rpc_port" --no-greeting \
  --test-message-nonce "$nonce_b" 2>"$work/node.log" &
node=$!
deadline=$((SECONDS + 20))
until grep -q 'admin RPC on' "$work/node.log"; do
  [ $SECONDS -lt $deadline ] || fail "the node did not start"
  kill -0 "$node" || fail "the node exited"
  sleep 0.1
done

# the node reports the vector's peer id for B
self=$(curl -s "http://127.0.0.1:$rpc_port/network/self" | python3 -c 'import json,sys; print(json.load(sys.stdin))')
want=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["identities"]["B"]["peer_id_b58"])' "$vectors")
[ "$self" = "$want" ] || fail "node peer id $self, expected $want"

python3 - "$vectors" "$p2p_port" >"$work/peer.out" 2>&1 <<'EOF' || { cat "$work/peer.out" >&2; fail "scripted peer"; }
import ctypes, ctypes.util, json, socket, sys

v = json.load(open(sys.argv[1]))
port = int(sys.argv[2])
seq = {s["step"].split(" ")[0] + " " + s["step"].split(" ")[1]: s for s in v["handshake_sequence"]}
steps = v["handshake_sequence"]
h = bytes.fromhex

def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise SystemExit(f"connection closed after {len(buf)} of {n} bytes")
        buf += chunk
    return buf

def expect(s, want, what):
    got = recv_exact(s, len(want))
    if got != want:
        raise SystemExit(f"{what}: byte mismatch\n got  {got.hex()}\n want {want.hex()}")
    print(f"ok {what}: {len(want)} bytes identical")

s = socket.create_connection(("127.0.0.1", port), 5)
s.settimeout(10)
# Step 1: both connection messages (each side sends at once, spec §2.2)
s.sendall(h(v["connection_message_A_framed_hex"]))
expect(s, h(v["connection_message_B_framed_hex"]), "B connection message")
# Step 4: metadata chunks
s.sendall(h(steps[0]["wire_chunk"]))
expect(s, h(steps[1]["wire_chunk"]), "B metadata chunk (ff00)")
# Ack
s.sendall(h(steps[2]["wire_chunk"]))
expect(s, h(steps[3]["wire_chunk"]), "B Ack chunk")
# Bootstrap -> Advertise
s.sendall(h(steps[4]["wire_chunk"]))
n = int.from_bytes(recv_exact(s, 2), "big")
body = recv_exact(s, n)
sodium = ctypes.CDLL(ctypes.util.find_library("sodium"))
assert sodium.sodium_init() >= 0
key = h(v["channel_key_hex (crypto_box_beforenm)"])
nonce = h(steps[5]["nonce"])
plain = ctypes.create_string_buffer(n - 16)
rc = sodium.crypto_box_open_easy_afternm(plain, body, ctypes.c_ulonglong(n), nonce, key)
if rc != 0:
    raise SystemExit("B's reply to Bootstrap does not decrypt with the vector's key and nonce")
p = plain.raw
size = int.from_bytes(p[0:4], "big")
tag = int.from_bytes(p[4:6], "big")
if size != len(p) - 4 or tag != 3:
    raise SystemExit(f"expected an Advertise frame, got size {size} tag {tag}: {p.hex()}")
lst = int.from_bytes(p[6:10], "big")
if lst != len(p) - 10:
    raise SystemExit(f"Advertise list length {lst} != {len(p) - 10}")
print(f"ok Advertise in answer to Bootstrap, decrypted with nonce {nonce.hex()}: {p.hex()}")
s.close()
EOF
cat "$work/peer.out"
grep -q "kind=connection_established peer=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["identities"]["A"]["peer_id_b58"])' "$vectors")" "$work/node.log" ||
  fail "the node did not log the connection with A's peer id"
kill -TERM "$node"
rc=0
wait "$node" || rc=$?
node=""
[ $rc = 0 ] || fail "node exit $rc"
echo PASS

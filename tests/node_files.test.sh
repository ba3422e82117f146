#!/usr/bin/env bash
# tests/node_files.test.sh BUILD_DIR SOURCE_DIR — identity.json, peers.json and
# config.json that are not regular files are refused with a message, never opened in a
# way that blocks (a FIFO hung the node in open(), deaf to SIGTERM), never replaced:
#   - identity.json as a FIFO, a directory, /dev/null (a device), a dangling symbolic
#     link (an error, never silently replaced by a new identity);
#   - peers.json as a FIFO or a dangling link: refused, left in place;
#   - --config FIFO / directory; a config above the size limit states its real size;
#   - a failed start does not log "stopped cleanly";
#   - tidepool identity show on a FIFO returns at once.
# Every command runs under `timeout 20`: exit 124 would be the old hang.
set -uo pipefail
TP=$(cd "$1" && pwd)/tidepool
TMP=$(mktemp -d /tmp/tp-node-files.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
pass=0
fail=0
ok() { echo "ok - $1"; pass=$((pass + 1)); }
bad() { echo "FAIL - $1"; fail=$((fail + 1)); }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
node() { # node DIR [args...]: a node start that must fail
  local dir=$1; shift
  timeout 20 "$TP" node run --data-dir "$dir" --net-addr "127.0.0.1:$port" --expected-pow 0 "$@" \
    >"$TMP/out" 2>"$TMP/err"
}

# identity.json
for kind in fifo dir dev dangling; do
  d=$TMP/id-$kind
  mkdir -p "$d"
  case $kind in
    fifo) mkfifo "$d/identity.json"; what="not a regular file" ;;
    dir) mkdir "$d/identity.json"; what="not a regular file" ;;
    dev) ln -s /dev/null "$d/identity.json"; what="not a regular file" ;;
    dangling) ln -s "$d/gone.json" "$d/identity.json"; what="a symbolic link to a file that does not exist" ;;
  esac
  node "$d"
  rc=$?
  check "identity.json as $kind: exit 3 (rc=$rc)" test $rc -eq 3
  check "... says: $what" grep -q "identity.json: $what" "$TMP/err"
  check "... no 'stopped cleanly'" sh -c "! grep -q 'stopped cleanly' '$TMP/err'"
done
check "the dangling link is left as it was" test -L "$TMP/id-dangling/identity.json" -a ! -e "$TMP/id-dangling/gone.json"
mkfifo "$TMP/id-fifo2" 2>/dev/null; mkdir -p "$TMP/show"; mkfifo "$TMP/show/identity.json"
timeout 20 "$TP" identity show --data-dir "$TMP/show" >"$TMP/out" 2>"$TMP/err"
rc=$?
check "identity show on a FIFO: returns with exit 3 (rc=$rc)" test $rc -eq 3
check "... not a regular file" grep -q "not a regular file" "$TMP/err"

# peers.json (with a valid identity made by a first start)
d=$TMP/peers
timeout 20 "$TP" identity generate --data-dir "$d" --difficulty 0 >/dev/null 2>&1
for kind in fifo dangling; do
  rm -f "$d/peers.json"
  case $kind in
    fifo) mkfifo "$d/peers.json" ;;
    dangling) ln -s "$d/nowhere.json" "$d/peers.json" ;;
  esac
  node "$d"
  rc=$?
  check "peers.json as $kind: exit 3 (rc=$rc)" test $rc -eq 3
  check "... the message names peers.json" grep -q "peers.json: " "$TMP/err"
  check "... and it is left in place" test -L "$d/peers.json" -o -p "$d/peers.json"
  check "... no 'stopped cleanly'" sh -c "! grep -q 'stopped cleanly' '$TMP/err'"
done

# config.json
mkfifo "$TMP/config.fifo"
node "$TMP/cfg" --config "$TMP/config.fifo"
rc=$?
check "--config FIFO: exit 3 (rc=$rc)" test $rc -eq 3
check "... not a regular file (a FIFO)" grep -q "config.fifo: not a regular file (a FIFO)" "$TMP/err"
node "$TMP/cfg" --config "$TMP"
rc=$?
check "--config DIR: exit 3 (rc=$rc)" test $rc -eq 3
check "... a directory" grep -q "not a regular file (a directory)" "$TMP/err"
python3 -c 'import sys; sys.stdout.write("{\"p2p\": {}, \"x\": \"" + "a" * 2500000 + "\"}")' >"$TMP/big.json"
size=$(stat -c %s "$TMP/big.json")
node "$TMP/cfg" --config "$TMP/big.json"
rc=$?
check "a 2.5 MB config: exit 3 (rc=$rc)" test $rc -eq 3
check "... the message states its real size ($size bytes)" grep -q "the file is $size bytes" "$TMP/err"

echo "$pass passed, $fail failed"
test "$fail" -eq 0

#!/usr/bin/env bash
# tests/node_diskerr.test.sh BUILD_DIR SOURCE_DIR — a data directory that cannot be
# written is named for what it is (issue 20), never "input/output error", and nothing is
# lost. A tiny tmpfs (64 KiB) mounted in a private mount namespace (`unshare -m`, so no
# mount is seen outside this test and all vanish with it):
#   (a) full: identity.json at first start -> exit 3, "cannot write DIR/identity.json:
#       no space left on the device", no file and no temporary left behind; peers.json at
#       shutdown (a node that knows one peer, restarted on the full disk) -> "peers.json:
#       not saved: no space left on the device", exit 1 (not "stopped cleanly"), the
#       previous peers.json byte for byte;
#   (b) remounted read-only: the same two writes say "the file system is read-only";
#   (c) a directory the node's user may not write (the node run as `nobody` through
#       setpriv: root bypasses permissions): "permission denied" for both files.
# The codes: core/err.h NO_SPACE, READ_ONLY, PERMISSION; realnet/rn.c rn_errno_file.
# Skipped, saying why, when not root or where mount namespaces or tmpfs are unavailable.
# Nodes listen on 127.0.0.1 only.
set -uo pipefail
if [ "${TP_DISKERR_INNER:-}" != 1 ]; then
  skip() { echo "SKIP: $*"; exit 0; }
  [ "$(id -u)" = 0 ] || skip "mounting a tmpfs needs root; run as root to include this test"
  command -v unshare >/dev/null || skip "the 'unshare' tool (util-linux) is not installed"
  unshare -m --propagation private true 2>/dev/null ||
    skip "cannot make a mount namespace here (a container without CAP_SYS_ADMIN?)"
  exec env TP_DISKERR_INNER=1 unshare -m --propagation private bash "$0" "$@"
fi

TP=$(cd "$1" && pwd)/tidepool
TMP=$(mktemp -d /tmp/tp-node-diskerr.XXXXXX)
chmod 755 "$TMP" # (c) runs the node as nobody, which must reach the mount below
M=$TMP/disk
mkdir "$M"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  umount "$M" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if ! mount -t tmpfs -o size=64k,mode=755 tp-diskerr "$M" 2>"$TMP/err"; then
  echo "SKIP: cannot mount a tmpfs here ($(cat "$TMP/err"))"
  exit 0
fi
pass=0
fail=0
ok() { echo "ok - $1"; pass=$((pass + 1)); }
bad() { echo "FAIL - $1"; fail=$((fail + 1)); }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }
has() { grep -qF -- "$2" "$1"; }
hasnt() { ! grep -qF -- "$2" "$1"; }
read -r -a ports < <(python3 - <<'EOF'
import socket
socks = []
for _ in range(2):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
)
pa=${ports[0]}
pb=${ports[1]}
NOSPACE="no space left on the device"
ROFS="the file system is read-only"
EPERMS="permission denied"

first_start() { # first_start DIR [runner...]: a start that must fail at identity.json
  local dir=$1; shift
  timeout 20 "$@" "$TP" node run --data-dir "$dir" --net-addr "127.0.0.1:$pa" --expected-pow 0 \
    >"$TMP/out" 2>"$TMP/err"
}
run_stop() { # run_stop DIR LOG [runner...]: run until peers.json is loaded, then SIGTERM
  local dir=$1 log=$2; shift 2
  "$@" "$TP" node run --data-dir "$dir" --net-addr "127.0.0.1:$pa" --expected-pow 0 >"$log" 2>&1 &
  local p=$!
  pids+=("$p")
  for _ in $(seq 100); do grep -qE 'peers?\.json: [0-9]+ peers? loaded' "$log" && break; sleep 0.1; done
  kill -TERM "$p"
  for _ in $(seq 200); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  wait "$p"
}
fill() { dd if=/dev/zero of="$M/fill" bs=4k 2>/dev/null; sync; }
no_tmp() { ! compgen -G "$1/.tmp.*" >/dev/null; }

# the peers.json every case below must keep: node A (on the tmpfs) knows node B
A=$M/a
mkdir "$A" "$TMP/b"
timeout 20 "$TP" identity generate --data-dir "$A" --difficulty 0 >/dev/null 2>&1
timeout 20 "$TP" identity generate --data-dir "$TMP/b" --difficulty 0 >/dev/null 2>&1
"$TP" node run --data-dir "$TMP/b" --net-addr "127.0.0.1:$pb" --expected-pow 0 >"$TMP/b.log" 2>&1 &
pb_pid=$!
pids+=("$pb_pid")
"$TP" node run --data-dir "$A" --net-addr "127.0.0.1:$pa" --expected-pow 0 --peer "127.0.0.1:$pb" \
  >"$TMP/a.log" 2>&1 &
pa_pid=$!
pids+=("$pa_pid")
for _ in $(seq 200); do grep -q connection_established "$TMP/a.log" && break; sleep 0.1; done
kill -TERM "$pa_pid" "$pb_pid"
wait "$pa_pid"
wait "$pb_pid"
check "setup: node A saved peers.json" has "$TMP/a.log" "peers.json saved"
B_ID=$("$TP" identity show --data-dir "$TMP/b" --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["peer_id"])')
check "setup: A's peers.json holds B ($B_ID)" has "$A/peers.json" "$B_ID"
sums() { sha256sum "$A/identity.json" "$A/peers.json"; }
sums >"$TMP/sums"

# (a) a full disk
mkdir "$M/a-first"
fill
first_start "$M/a-first"
rc=$?
check "full disk, first start: exit 3 (rc=$rc)" test $rc -eq 3
check "... names identity.json and says: $NOSPACE" has "$TMP/err" "cannot write $M/a-first/identity.json: $NOSPACE"
check "... not 'input/output error'" hasnt "$TMP/err" "input/output"
check "... no 'stopped cleanly'" hasnt "$TMP/err" "stopped cleanly"
check "... no identity.json and no temporary file left" test -z "$(ls -A "$M/a-first")"
run_stop "$A" "$TMP/full.log"
rc=$?
check "full disk, a node that knows a peer stops with exit 1: peers.json not saved (rc=$rc)" test $rc -eq 1
check "... no 'stopped cleanly'" hasnt "$TMP/full.log" "stopped cleanly"
check "... it loaded B from peers.json" has "$TMP/full.log" "peers.json: 1 peer loaded"
check "... peers.json not saved, and says: $NOSPACE" has "$TMP/full.log" "peers.json: not saved: $NOSPACE"
check "... not 'input/output error'" hasnt "$TMP/full.log" "input/output"
check "... identity.json and peers.json as they were" sha256sum --quiet -c "$TMP/sums"
check "... no temporary file left" no_tmp "$A"
rm -f "$M/fill"

# (b) read-only
mkdir "$M/b-first"
if mount -o remount,ro "$M" 2>"$TMP/err"; then
  first_start "$M/b-first"
  rc=$?
  check "read-only, first start: exit 3 (rc=$rc)" test $rc -eq 3
  check "... names identity.json and says: $ROFS" has "$TMP/err" "cannot write $M/b-first/identity.json: $ROFS"
  check "... no 'stopped cleanly'" hasnt "$TMP/err" "stopped cleanly"
  run_stop "$A" "$TMP/ro.log"
  rc=$?
  check "read-only, a node that knows a peer stops with exit 1 (rc=$rc)" test $rc -eq 1
  check "... no 'stopped cleanly'" hasnt "$TMP/ro.log" "stopped cleanly"
  check "... peers.json not saved, and says: $ROFS" has "$TMP/ro.log" "peers.json: not saved: $ROFS"
  check "... identity.json and peers.json as they were" sha256sum --quiet -c "$TMP/sums"
  mount -o remount,rw "$M"
else
  bad "remount read-only: $(cat "$TMP/err")"
fi

# (c) permission denied: as root every access is allowed, so the node runs as nobody
if command -v setpriv >/dev/null; then
  as_nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)
  mkdir -m 755 "$M/c-first"
  first_start "$M/c-first" "${as_nobody[@]}"
  rc=$?
  check "not writable by the node's user, first start: exit 3 (rc=$rc)" test $rc -eq 3
  check "... names identity.json and says: $EPERMS" has "$TMP/err" "cannot write $M/c-first/identity.json: $EPERMS"
  chmod 644 "$A/identity.json" "$A/peers.json" # readable, in a directory nobody may not write
  run_stop "$A" "$TMP/perm.log" "${as_nobody[@]}"
  rc=$?
  check "not writable by the node's user, a node stops with exit 1 (rc=$rc)" test $rc -eq 1
  check "... no 'stopped cleanly'" hasnt "$TMP/perm.log" "stopped cleanly"
  check "... it loaded B from peers.json" has "$TMP/perm.log" "peers.json: 1 peer loaded"
  check "... peers.json not saved, and says: $EPERMS" has "$TMP/perm.log" "peers.json: not saved: $EPERMS"
  check "... identity.json and peers.json as they were" sha256sum --quiet -c "$TMP/sums"
else
  echo "skip (c): no setpriv to run the node as another user"
fi

for f in full ro perm; do
  [ "$fail" -eq 0 ] || { echo "--- $f.log"; tail -n 8 "$TMP/$f.log" 2>/dev/null; }
done
echo "$pass passed, $fail failed"
test "$fail" -eq 0

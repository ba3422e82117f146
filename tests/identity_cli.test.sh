#!/usr/bin/env bash
# tests/identity_cli.test.sh BUILD_DIR SOURCE_DIR
#
# `tidepool identity generate|show|check` end to end: a low-difficulty identity is
# generated and verified, a second generate refuses to overwrite it (exit 3), `check`
# fails with exit 1 below the required difficulty, every tezedge fixture checks at
# difficulty 26 with its expected peer id, and edited files (keys mismatch, peer-id
# mismatch, missing field) are refused with exit 3 and a message naming the problem.
set -u
BUILD_DIR=${1:?usage: identity_cli.test.sh BUILD_DIR SOURCE_DIR}
SHARED=${TP_SHARED_DIR:-$2/../shared}
TP="$BUILD_DIR/tidepool"
[ -x "$TP" ] || { echo "FAIL: $TP not built"; exit 1; }
work=$(mktemp -d /tmp/tp_identity_cli.XXXXXX)
trap 'rm -rf "$work"' EXIT
fails=0
expect_rc() { # expected_rc description command...
  local want=$1 what=$2; shift 2
  "$@" >"$work/out" 2>"$work/err"
  local rc=$?
  if [ "$rc" != "$want" ]; then
    echo "FAIL: $what: exit $rc, expected $want"; cat "$work/out" "$work/err"; fails=$((fails + 1))
  else
    echo "ok: $what"
  fi
}
expect_text() { # file pattern description
  if grep -q -- "$2" "$1"; then echo "ok: $3"; else echo "FAIL: $3 (no '$2')"; cat "$1"; fails=$((fails + 1)); fi
}

d="$work/node"
expect_rc 0 "generate difficulty 12" "$TP" identity generate --difficulty 12 --data-dir "$d" --json
expect_text "$work/out" '"peer_id":"id' "generate --json prints the peer id"
expect_text "$work/err" 'attempts expected' "generate shows the expected attempts"
[ "$(stat -c %a "$d/identity.json")" = 600 ] && echo "ok: identity.json is mode 600" || { echo "FAIL: mode"; fails=$((fails + 1)); }
cp "$d/identity.json" "$work/saved.json"
expect_rc 3 "second generate refuses to overwrite" "$TP" identity generate --difficulty 1 --data-dir "$d"
expect_text "$work/err" 'refusing to overwrite' "refusal names the problem"
cmp -s "$d/identity.json" "$work/saved.json" && echo "ok: file unchanged" || { echo "FAIL: file changed"; fails=$((fails + 1)); }
expect_rc 0 "check at difficulty 12" "$TP" identity check --difficulty 12 --data-dir "$d"
expect_rc 1 "check at difficulty 40 fails" "$TP" identity check --difficulty 40 --data-dir "$d" --json
expect_text "$work/out" '"error":"NOT_ENOUGH_POW"' "check --json names NOT_ENOUGH_POW"
expect_rc 0 "show" "$TP" identity show --data-dir "$d"
expect_text "$work/out" 'Proof of work level' "show prints the level"
if grep -q secret "$work/out"; then echo "FAIL: show printed the secret key"; fails=$((fails + 1)); fi

# the seven tezedge identities
for f in "$SHARED"/vectors/tezedge/*.json; do
  dd="$work/fx/$(basename "$f" .json)"; mkdir -p "$dd"; cp "$f" "$dd/identity.json"
  want=$(sed -n 's/.*"peer_id": *"\(id[^"]*\)".*/\1/p' "$f")
  expect_rc 0 "check $(basename "$f")" "$TP" identity check --data-dir "$dd" --json
  expect_text "$work/out" "\"peer_id\":\"$want\"" "$(basename "$f") has peer id $want"
done

# edited files
e="$work/edit"; mkdir -p "$e"
src="$SHARED/vectors/tezedge/docker_identities_identity_ocaml.json"
sed 's/213d61d6e41b443bec6bf0d00f17f59dfb4bdca409c9c03887cc5196be12502e/8b4622bc512c8621a35fa19ff252129b208c8cdffb57e2d29c7974df718c7ff2/' "$src" >"$e/identity.json"
expect_rc 3 "keys mismatch refused" "$TP" identity check --data-dir "$e" --json
expect_text "$work/out" 'IDENTITY_KEYS_MISMATCH' "keys mismatch is named"
sed 's/"peer_id": "idrRoknJh9zwEePNswF3MPGFzmKaVp"/"peer_id": "idssJHDL1z8fkryZaYVF9fQRMktoWg"/' "$src" >"$e/identity.json"
expect_rc 3 "peer id mismatch refused" "$TP" identity check --data-dir "$e" --json
expect_text "$work/out" 'IDENTITY_PEER_ID_MISMATCH' "peer id mismatch is named"
printf '{ "public_key": "%s",\n  "secret_key": "%s" }\n' \
  5fd7ba1d15650abc9a510c37a8bee566b708fe6577f0d832b903e8f13d71c94a \
  213d61d6e41b443bec6bf0d00f17f59dfb4bdca409c9c03887cc5196be12502e >"$e/identity.json"
expect_rc 3 "missing field refused" "$TP" identity show --data-dir "$e"
expect_text "$work/err" 'proof_of_work_stamp' "missing field is named"
expect_rc 3 "missing file" "$TP" identity show --data-dir "$work/none"
expect_rc 2 "bad difficulty" "$TP" identity check --difficulty nan --data-dir "$d"
expect_rc 2 "unknown option" "$TP" identity show --frobnicate

if [ "$fails" -ne 0 ]; then echo "FAILED: $fails check(s)"; exit 1; fi
echo "PASS"

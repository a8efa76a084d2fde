#!/usr/bin/env bash
# The README's first command: sets everything up, builds build/release/conet
# and runs the main job. Until the devnet exists (issue 4) the main job is a
# walk through what the foundation does: a wallet made locally, an EIP-191
# signature checked, and the Noise engine against the test vectors.
# Usage: scripts/start.sh [DIR]   (DIR holds the demo wallet; default: a new temp dir)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/install-deps.sh --no-npm
cmake --preset release >/dev/null
cmake --build --preset release

conet=build/release/conet
dir="${1:-$(mktemp -d -t conet-demo-XXXXXX)}"
mkdir -p "$dir"
password_file="$dir/password.txt"
[[ -f "$password_file" ]] || (umask 077 && echo "demo password $(date +%s%N)" >"$password_file")
keystore="$dir/wallet.json"

echo
echo "== A wallet is a key pair made locally: no registration =="
if [[ -f "$keystore" ]]; then
  echo "using existing $keystore"
  address=$("$conet" wallet show --keystore "$keystore" --password-file "$password_file")
else
  address=$("$conet" wallet new --keystore "$keystore" --password-file "$password_file")
fi
echo "address: $address   (keystore v3: $keystore, mode 0600)"

echo
echo "== Sign a statement (EIP-191 personal_sign) and verify it =="
message="I run a CONET relay"
signature=$("$conet" wallet sign --keystore "$keystore" --password-file "$password_file" --message "$message" --json)
echo "$signature"
sig=$(sed -E 's/.*"signature":"([^"]+)".*/\1/' <<<"$signature")
"$conet" wallet verify --message "$message" --signature "$sig" --address "$address" --json

echo
echo "== The Noise engine against the cacophony test vectors =="
"$conet" debug noise-vectors tests/data/noise/cacophony-subset.json

cat <<MSG

Try next:
  $conet wallet --help
  $conet wallet show --keystore $keystore --password-file $password_file --json
  scripts/test.sh            # every test
MSG

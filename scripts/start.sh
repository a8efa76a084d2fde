#!/usr/bin/env bash
# The README's first command: sets everything up, builds build/release/conet
# and runs the main job: a local CONET network on loopback — four relays in two
# regions, a demo web site, and the proxy — until Ctrl-C. (With the ledger,
# issue 4, this becomes `conet devnet`.)
# Usage: scripts/start.sh [DIR]   (DIR keeps wallets, relay dirs and logs; default: a new temp dir)
# Environment: PROXY_PORT (default 1080; 0 = any free port)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/install-deps.sh --no-npm
cmake --preset release >/dev/null
cmake --build --preset release

conet="$PWD/build/release/conet"
dir="${1:-$(mktemp -d -t conet-local-XXXXXX)}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
pw="$dir/password.txt"
[[ -f "$pw" ]] || (umask 077 && echo "local network $(date +%s%N)" >"$pw")
pids=()
cleanup() {
  trap - INT TERM EXIT
  echo
  echo "stopping..."
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_line() {  # file pattern: wait until a process reports readiness
  for _ in $(seq 1 600); do grep -qE "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "timed out waiting for '$2' in $1" >&2; cat "$1" >&2; exit 1
}

echo "== wallets and relays in $dir =="
records=()
for i in 0 1 2 3; do
  region=$([[ $i -lt 2 ]] && echo DE || echo US)
  node="$dir/relay$i"
  if [[ ! -f "$node/node.toml" ]]; then
    "$conet" wallet new --keystore "$dir/operator$i.json" --password-file "$pw" --light >/dev/null
    "$conet" node init --dir "$node" --wallet-keystore "$dir/operator$i.json" --password-file "$pw" \
      --listen "127.0.0.1:$(free_port)" --region "$region" --exit-allow 127.0.0.1/32 \
      --directory "$dir/directory.json" --metrics "127.0.0.1:$(free_port)" >/dev/null
  fi
  records+=("$("$conet" node record --dir "$node" --password-file "$pw")")
done
(IFS=,; echo "[${records[*]}]") >"$dir/directory.json"

for i in 0 1 2 3; do
  "$conet" node run --dir "$dir/relay$i" >"$dir/relay$i.out" 2>"$dir/relay$i.log" &
  pids+=($!)
done
for i in 0 1 2 3; do wait_line "$dir/relay$i.out" "relay listening"; done

mkdir -p "$dir/site"
echo "<h1>CONET demo site</h1><p>You reached this page through two relays.</p>" >"$dir/site/index.html"
site_port=$(free_port)
python3 -m http.server "$site_port" --bind 127.0.0.1 -d "$dir/site" >"$dir/site.log" 2>&1 &
pids+=($!)

"$conet" proxy --directory "$dir/directory.json" --listen "127.0.0.1:${PROXY_PORT:-1080}" \
  >"$dir/proxy.out" 2>"$dir/proxy.log" &
pids+=($!)
wait_line "$dir/proxy.out" "proxy listening"
proxy=$(sed -nE 's/proxy listening on (.*)/\1/p' "$dir/proxy.out")

cat <<MSG

CONET local network is up: 4 relays (2 in DE, 2 in US), a demo site, and the proxy at $proxy.
Try:
  curl --socks5-hostname $proxy http://127.0.0.1:$site_port/
  curl -x http://$proxy http://127.0.0.1:$site_port/
  curl http://$proxy/status        # circuits, streams, bytes
  curl http://$proxy/pac           # proxy auto-config for a browser
Relay metrics: $(for i in 0 1 2 3; do sed -nE 's/metrics on (.*)/http:\/\/\1\/metrics/p' "$dir/relay$i.out"; done | head -1) (and the other relays)
Logs: $dir/*.log.  Press Ctrl-C to stop.
MSG
wait

#!/usr/bin/env bash
# The README's first command: sets everything up, builds build/release/conet
# and runs the main job, `conet devnet`: a whole CONET network on loopback — a
# validator, four relays in two regions that register on the ledger, a demo
# web site, funded wallets, and the proxy — until Ctrl-C.
# Usage: scripts/start.sh [conet devnet options]   e.g. --dir DIR (reuse a chain), --proxy-port 1080
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/install-deps.sh --no-npm
cmake --preset release >/dev/null
cmake --build --preset release

exec build/release/conet devnet "$@"

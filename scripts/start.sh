#!/usr/bin/env bash
# The README's first command: sets everything up, builds build/release/conet
# and runs the main job, `conet devnet`: a whole CONET network on loopback — a
# validator, four relays in two regions that register on the ledger, a demo
# web site, funded wallets, and the proxy — until Ctrl-C. It prints the URLs of
# the three dashboards (you, a relay's operator, the explorer: docs/web.md).
# Usage: scripts/start.sh [conet devnet options]   e.g. --dir DIR (reuse a chain), --proxy-port 1080
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/install-deps.sh --no-npm --no-browser
cmake --preset release >/dev/null
cmake --build --preset release --target conet

exec build/release/conet devnet "$@"

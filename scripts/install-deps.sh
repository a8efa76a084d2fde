#!/usr/bin/env bash
# Installs everything CONET needs to build, test and fuzz, from Debian packages
# (DESIGN.md §3) and, for the interop tests only, npm packages into
# tests/interop/node_modules. Idempotent: a second run changes nothing.
#
# Usage: scripts/install-deps.sh [--no-npm] [--no-browser] [--bench]
#   --no-npm      skip the npm packages (interop tests only)
#   --no-browser  skip Chromium (the dashboards' browser tests only)
#   --bench   also install the benchmarks' reference peers (shadowsocks-libev;
#             tor, which ships tor-gencert, for bench/tor.py)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
with_npm=1
with_browser=1
with_bench=0
for arg in "$@"; do
  case "$arg" in
    --no-npm) with_npm=0 ;;
    --no-browser) with_browser=0 ;;
    --bench) with_bench=1 ;;
    *) echo "install-deps: unknown option $arg" >&2; exit 2 ;;
  esac
done

sudo_cmd=()
if [[ "$(id -u)" != "0" ]]; then sudo_cmd=(sudo); fi

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config ccache git
  clang-14 libclang-rt-14-dev llvm-14
  # libraries (DESIGN §3)
  libboost1.81-dev libboost-json1.81-dev
  libsecp256k1-dev libcrypto++-dev libsodium-dev libssl-dev
  librocksdb-dev libexpected-dev libspdlog-dev libfmt-dev
  libcli11-dev libtomlplusplus-dev prometheus-cpp-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev librapidcheck-dev libbenchmark-dev
  python3-pytest python3-socks python3-websocket curl
)
if ((with_browser)); then
  packages+=(chromium)  # the dashboards' browser tests: headless Chromium over the DevTools protocol
fi
if ((with_bench)); then
  packages+=(shadowsocks-libev openssl tor)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# Debian's tor package starts a system service that joins the public Tor
# network; bench/tor.py runs its own private network on loopback only. Keep
# the service from starting while it is installed, and disabled afterwards.
policy_added=0
if [[ " ${missing[*]-} " == *" tor "* && ! -e /usr/sbin/policy-rc.d ]]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo_cmd[@]}" tee /usr/sbin/policy-rc.d >/dev/null
  "${sudo_cmd[@]}" chmod +x /usr/sbin/policy-rc.d
  policy_added=1
fi

if ((${#missing[@]})); then
  echo "install-deps: installing ${#missing[@]} Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "install-deps: all ${#packages[@]} Debian packages present"
fi

if ((policy_added)); then
  "${sudo_cmd[@]}" rm -f /usr/sbin/policy-rc.d
fi
if ((with_bench)) && command -v systemctl >/dev/null 2>&1 && systemctl is-enabled tor >/dev/null 2>&1; then
  echo "install-deps: disabling the tor system service (it would join the public network)"
  "${sudo_cmd[@]}" systemctl disable --now tor >/dev/null 2>&1 || true
fi

if ((with_npm)); then
  if ! command -v npm >/dev/null 2>&1; then
    echo "install-deps: installing nodejs and npm from Debian"
    "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
  fi
  interop="$here/tests/interop"
  if [[ ! -d "$interop/node_modules/ethers" ]]; then
    echo "install-deps: installing ethers (npm) into tests/interop/node_modules"
    (cd "$interop" && npm ci --no-audit --no-fund --loglevel=error)
  else
    echo "install-deps: ethers present in tests/interop/node_modules"
  fi
fi

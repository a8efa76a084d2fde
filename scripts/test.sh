#!/usr/bin/env bash
# The README's test command: sets everything up and runs every test.
#   1. installs dependencies (Debian packages, ethers from npm)
#   2. checks the module layering
#   3. builds the release, debug (ASan+UBSan) and fuzz presets
#   4. unit tests under sanitizers and in release (ctest)
#   5. the consensus simulator: SIM_SEEDS seeded runs (faults, crashes,
#      Byzantine validators; docs/consensus.md) on the model chain and
#      SIM_LEDGER_SEEDS (default 100) on the ledger, as many again with epochs
#      (SIM_EPOCH_SEEDS, default 500: rotating sets on the model chain, sets
#      chosen by bonds on the ledger), and one seed of each kind twice for determinism
#   6. the incentive protocol's adversarial study (fails when a dishonest
#      strategy earns as much per unit of cost as honest service)
#   7. a short smoke run of every fuzz target
#   8. functional tests (pytest-3) against the real binaries, with the dashboards'
#      browser tests (headless Chromium) in the debug run (docs/web.md)
# Environment: FUZZ_SECONDS (default 6) per fuzz target; SIM_SEEDS (default
# 500) and SIM_SECONDS (default 20 simulated seconds of faults per seed);
# SKIP_DEPS=1 to skip step 1 on a machine that is already set up.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

started=$(date +%s)
step() { printf '\n==> %s (at %ss)\n' "$*" "$(( $(date +%s) - started ))"; }

if [[ "${SKIP_DEPS:-0}" != "1" ]]; then
  step "dependencies"
  scripts/install-deps.sh
fi

step "layer check"
python3 scripts/check-layers.py

for preset in release debug fuzz; do
  step "build ($preset)"
  cmake --preset "$preset" >/dev/null
  if [[ $preset == fuzz ]]; then
    cmake --build --preset fuzz --target fuzz_all  # the fuzz targets only
  elif [[ $preset == debug ]]; then
    cmake --build --preset debug --target conet conet_unit_tests  # what the sanitized runs use (no benchmarks)
  else
    cmake --build --preset "$preset"
  fi
done

step "unit tests (debug: ASan + UBSan)"
ctest --preset debug --parallel 2
step "unit tests (release)"
ctest --preset release --parallel 2

step "consensus simulator (${SIM_SEEDS:-500} seeds)"
build/release/conet sim --seed-from "${SIM_SEED_FROM:-1}" --count "${SIM_SEEDS:-500}" --seconds "${SIM_SECONDS:-20}"
build/release/conet sim --seed-from "${SIM_SEED_FROM:-1}" --count "${SIM_LEDGER_SEEDS:-100}" --seconds "${SIM_SECONDS:-20}" --ledger
build/release/conet sim --seed-from "${SIM_SEED_FROM:-1}" --count "${SIM_EPOCH_SEEDS:-500}" --seconds "${SIM_SECONDS:-20}" --epoch-blocks 3
build/release/conet sim --seed-from "${SIM_SEED_FROM:-1}" --count "${SIM_LEDGER_SEEDS:-100}" --seconds "${SIM_SECONDS:-20}" --ledger --epoch-blocks 3
build/release/conet sim --seed 424242 --check-determinism
build/release/conet sim --seed 424242 --epoch-blocks 3 --check-determinism
build/release/conet sim --seed 424242 --ledger --epoch-blocks 3 --check-determinism
# The data plane: relays, users and destinations with faults and a hostile user (about 0.3 s a seed, 2 at a time).
build/release/conet sim --dataplane --seed-from "${SIM_SEED_FROM:-1}" --count "${SIM_DATAPLANE_SEEDS:-100}" --seconds 5
build/release/conet sim --dataplane --seed 424242 --check-determinism

step "incentive study (1,000 nodes, 100 epochs: docs/incentives.md)"
build/release/conet study --nodes 1000 --epochs 100

step "fuzz smoke"
scripts/fuzz-smoke.sh "${FUZZ_SECONDS:-6}"

step "functional tests (debug binary: ASan + UBSan)"
# Time budget: the SIGKILL loop of test_consensus runs 20 s of faults here and a minute on the release
# binary; tests marked `once` (behaviour independent of the build) run only here.
CONET_CONSENSUS_FAULT_SECONDS="${CONET_CONSENSUS_FAULT_SECONDS:-20}" \
  CONET_BIN=build/debug/conet pytest-3 -q -p no:cacheprovider tests/functional
step "functional tests (release binary)"
echo "(elapsed before the last suite: $(( $(date +%s) - started ))s)"
CONET_CONSENSUS_FAULT_SECONDS="${CONET_CONSENSUS_FAULT_SECONDS:-40}" \
  CONET_BIN=build/release/conet pytest-3 -q -p no:cacheprovider -m "not once" tests/functional

#!/usr/bin/env bash
# Runs every libFuzzer target for a short time (default 20 s each).
# A crash, leak or sanitizer report fails the run; the reproducer is kept in
# build/fuzz/artifacts/. Corpora grow in build/fuzz/corpus/ across runs,
# starting from the checked-in seeds in fuzz/seeds/<target>/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds="${1:-20}"
dir=build/fuzz
mkdir -p "$dir/artifacts"
shopt -s nullglob
targets=("$dir"/fuzz/fuzz_*)
if ((${#targets[@]} == 0)); then
  echo "fuzz-smoke: no targets in $dir/fuzz (cmake --preset fuzz && cmake --build --preset fuzz)" >&2
  exit 1
fi
for target in "${targets[@]}"; do
  [[ -x "$target" && -f "$target" ]] || continue
  name=$(basename "$target")
  corpus="$dir/corpus/$name"
  mkdir -p "$corpus"
  if ! "$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=0 \
      -artifact_prefix="$dir/artifacts/$name-" "$corpus" "fuzz/seeds/$name" >"$dir/$name.log" 2>&1; then
    tail -n 40 "$dir/$name.log" >&2
    echo "fuzz-smoke: $name FAILED (log: $dir/$name.log)" >&2
    exit 1
  fi
  echo "fuzz-smoke: $name ok ($(grep -o 'Done [0-9]* runs' "$dir/$name.log" | tail -1 | cut -d' ' -f2) runs in ${seconds}s)"
done

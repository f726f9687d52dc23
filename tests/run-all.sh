#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine (as root): installs dependencies, builds the
# normal and the ASan+UBSan configurations and runs every test in both, then builds the libFuzzer
# targets with clang and runs them briefly. ctest runs and counts everything; the last line sums
# the three runs.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
phase() { echo; echo "=== $* ($((SECONDS - start)) s)"; }
failed_runs=0
run_ctest() {  # run_ctest <preset>
  set +e
  ctest --preset "$1" 2>&1 | tee "$logs/$1.log"
  local status=${PIPESTATUS[0]}
  set -e
  (( status == 0 )) || failed_runs=$((failed_runs + 1))
}

phase "dependencies"
tests/scripts/install-deps.sh

for preset in default asan; do
  phase "configure + build: $preset"
  cmake --preset "$preset" > /dev/null
  cmake --build --preset "$preset" -j "$(nproc)"
  phase "test: $preset"
  run_ctest "$preset"
done

phase "fuzz"
cmake --preset fuzz > /dev/null
cmake --build --preset fuzz -j "$(nproc)"
run_ctest fuzz

phase "done"
total=0 failed=0
for log in "$logs"/*.log; do
  line=$(grep -E "tests passed, [0-9]+ tests? failed out of [0-9]+" "$log" | tail -1 || true)
  [[ -n "$line" ]] || { failed_runs=$((failed_runs + 1)); continue; }
  f=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
  t=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<<"$line")
  total=$((total + t)) failed=$((failed + f))
done
echo "total: $((total - failed)) passed, $failed failed"
(( failed == 0 && failed_runs == 0 ))

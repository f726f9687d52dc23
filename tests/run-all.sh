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
run_ctest() {  # run_ctest <config>: tests/scripts/build.sh's tests of that configuration
  set +e
  tests/scripts/build.sh "$1" --test 2>&1 | tee "$logs/$1.log"
  local status=${PIPESTATUS[0]}
  set -e
  (( status == 0 )) || failed_runs=$((failed_runs + 1))
}

phase "dependencies"
tests/scripts/install-deps.sh

for config in default asan; do
  phase "configure + build: $config"
  tests/scripts/build.sh "$config"
  phase "test: $config"
  run_ctest "$config"
done

phase "fuzz"
tests/scripts/build.sh fuzz
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
# CI shows the end of this output: repeat what failed, with the end of each failed test's output.
for config in default asan fuzz; do
  last_log=build/$config/Testing/Temporary/LastTest.log
  failed_list=build/$config/Testing/Temporary/LastTestsFailed.log
  [[ -s $failed_list && -f $last_log ]] || continue
  grep -q "The following tests FAILED" "$logs/$config.log" 2>/dev/null || continue
  while IFS=: read -r _ name; do
    echo
    echo "=== FAILED ($config): $name — last lines of its output"
    awk -v name="$name" '
      $0 ~ "^[0-9]+/[0-9]+ Test: " && $NF == name { inside = 1; next }
      inside && /^<end of output>/ { exit }
      inside { print }' "$last_log" | tail -n 60
  done < "$failed_list"
done
echo "total: $((total - failed)) passed, $failed failed"
(( failed == 0 && failed_runs == 0 ))

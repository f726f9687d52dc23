#!/usr/bin/env bash
# Configures and builds one of the project's build configurations in build/<config>, and with
# --test runs its tests through ctest with that configuration's settings. What tests/run-all.sh,
# tests/lab.sh and a developer use, so that every one of them builds the same way.
#
#   tests/scripts/build.sh <config> [--target T]... [--test [ctest arguments...]]
#
# configs:
#   default  RelWithDebInfo, installed under /usr (what the packages ship)
#   asan     Debug with AddressSanitizer + UndefinedBehaviorSanitizer (tests: not `nosan`)
#   fuzz     clang with the libFuzzer targets (builds only `fuzzers`; tests: label `fuzz`)
#   bench    Release with the Google Benchmark targets (`--target bench` prints the figures)
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/../.."

usage() { sed -n '5,13s/^# \{0,1\}//p' "$0" >&2; exit 2; }
(($# >= 1)) || usage
config=$1
shift
case $config in
  default) cache=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr) ;;
  asan) cache=(-DCMAKE_BUILD_TYPE=Debug -DBRINDLE_SANITIZE=ON) ;;
  fuzz) cache=(-DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++
               -DBRINDLE_FUZZ=ON) ;;
  bench) cache=(-DCMAKE_BUILD_TYPE=Release -DBRINDLE_BENCH=ON) ;;
  *) echo "build.sh: unknown configuration '$config' (default, asan, fuzz, bench)" >&2; exit 2 ;;
esac

targets=()
[[ $config == fuzz ]] && targets=(--target fuzzers)
run_tests=0
while (($# > 0)); do
  case $1 in
    --target) targets+=(--target "${2:?--target needs a value}"); shift 2 ;;
    --test) run_tests=1; shift; break ;;
    *) usage ;;
  esac
done

dir=build/$config
cmake -S . -B "$dir" -G Ninja "${cache[@]}" >/dev/null
cmake --build "$dir" -j "$(nproc)" "${targets[@]}"
((run_tests)) || exit 0

ctest_args=(--test-dir "$dir" --output-on-failure -j 2)
case $config in
  default|bench) ctest_args+=(--timeout 600 -LE fuzz) ;;
  asan)
    ctest_args+=(--timeout 900 -LE 'fuzz|nosan')
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
    ;;
  fuzz) ctest_args=(--test-dir "$dir" --output-on-failure -L fuzz) ;;
esac
exec ctest "${ctest_args[@]}" "$@"

#!/usr/bin/env bash
# Proves that the ABI check catches changes to the C headers, on modified copies of the SDK:
# an inserted member, an appended member, a grown frozen struct, each without a version bump,
# fail; the same changes with the right bump and a regenerated baseline pass; update-baseline.sh
# refuses a bump of the wrong kind.
set -euo pipefail
sdk=$(cd "$1" && pwd)   # the sdk/ folder of the source tree
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0

fresh_copy() {
  rm -rf "$work/copy" && mkdir -p "$work/copy"
  cp -r "$sdk/include" "$work/copy/include"
  cp -r "$sdk/abi" "$work/copy/abi"
}
# edit <file-under-include/brindle> <perl substitution>
edit() {
  perl -0pi -e "$2" "$work/copy/include/brindle/$1"
  grep -q "abi_test_marker" "$work/copy/include/brindle/$1" || { echo "edit of $1 did not apply" >&2; exit 2; }
}
bump_minor() { perl -pi -e 's/(#define BRINDLE_ABI_VERSION_MINOR )(\d+)/$1.($2+1)/e' "$work/copy/include/brindle/abi.h"; }
check() { "$sdk/abi/check-abi.sh" "$work/copy/include" "$work/copy/abi" > "$work/out.txt" 2>&1; }
update() { "$sdk/abi/update-baseline.sh" "$work/copy/include" "$work/copy/abi" > "$work/out.txt" 2>&1; }
expect_fail() {  # expect_fail <description> <message regex> <command>
  local what=$1 pattern=$2; shift 2
  if "$@"; then echo "FAIL: $what: passed but should fail"; failures=$((failures + 1));
  elif ! grep -qE "$pattern" "$work/out.txt"; then
    echo "FAIL: $what: wrong message:"; tail -3 "$work/out.txt"; failures=$((failures + 1))
  else echo "ok: $what: $(tail -1 "$work/out.txt")"; fi
}
expect_pass() {
  local what=$1; shift
  if "$@"; then echo "ok: $what"; else echo "FAIL: $what:"; tail -5 "$work/out.txt"; failures=$((failures + 1)); fi
}

insert_middle='s/(typedef struct brindle_route \{\n  uint32_t struct_size;\n)/$1  uint32_t abi_test_marker;\n/'
append_end='s/(  brindle_str_t pool;[^\n]*\n)(\} brindle_route_t;)/$1  uint32_t abi_test_marker;\n$2/'
grow_frozen='s/(typedef struct brindle_port_range \{\n  uint16_t first;\n  uint16_t last;\n)/$1  uint16_t abi_test_marker;\n/'

fresh_copy
expect_pass "unchanged headers match the baseline" check

fresh_copy; edit routing.h "$insert_middle"
expect_fail "member inserted in the middle, no bump" "INCOMPATIBLE" check

fresh_copy; edit routing.h "$append_end"
expect_fail "member appended, no bump" "compatible ABI addition without a version bump" check

fresh_copy; edit policy.h "$grow_frozen"
expect_fail "frozen array element grown, no bump" "INCOMPATIBLE" check

fresh_copy; edit routing.h "$append_end"; bump_minor
expect_fail "bump without regenerated baseline" "regenerate it with sdk/abi/update-baseline.sh" check
expect_pass "update-baseline accepts an addition with a minor bump" update
expect_pass "regenerated baseline matches" check

fresh_copy; edit routing.h "$insert_middle"; bump_minor
expect_pass "update-baseline accepts an incompatible change with a 0.x minor bump" update
expect_pass "regenerated baseline matches after the incompatible change" check

fresh_copy; edit routing.h "$insert_middle"
expect_fail "update-baseline refuses an incompatible change without a bump" "needs a MAJOR bump" update

if (( failures > 0 )); then echo "$failures failed"; exit 1; fi
echo "all ABI change scenarios behaved"

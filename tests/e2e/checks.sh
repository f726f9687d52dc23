# Shared by the lab-based end-to-end scripts (tests/e2e/e2e.sh, tests/vm/lab_ipip_test.sh):
# timestamped PASS/FAIL lines counted in $failures, and polling with a deadline.
# Source it; EVENTUALLY_INTERVAL (seconds between polls, default 0.1) may be set before.
# shellcheck shell=bash

failures=0
t_start=$SECONDS
log() { echo "[$((SECONDS - t_start))s] $*"; }
pass() { log "PASS: $*"; }
fail() {
  log "FAIL: $*"
  failures=$((failures + 1))
}
check() {  # check <description> <cmd...>
  local what=$1
  shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}
# Polls <cmd> until it succeeds, for up to <seconds>.
eventually() {  # eventually <seconds> <cmd...>
  local deadline=$((SECONDS + $1))
  shift
  while ((SECONDS < deadline)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep "${EVENTUALLY_INTERVAL:-0.1}"
  done
  "$@" >/dev/null 2>&1
}
not() { ! "$@"; }

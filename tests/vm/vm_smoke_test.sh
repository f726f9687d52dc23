#!/usr/bin/env bash
# Smoke tests of run-in-vm: one case per VM boot.
#   vm_smoke_test.sh <run-in-vm> <case>
# Cases:
#   exit-zero       a command that succeeds: run-in-vm exits 0
#   exit-nonzero    a command that exits 7: run-in-vm exits 7, and the command's output is streamed
#   passthrough     the working directory, PATH and --env variables reach the command; / is
#                   read-only, /tmp and /run are writable tmpfs
#   stock-kernel    the guest runs the stock Debian kernel: an ipip, a gre and a dummy device can be
#                   created in a network namespace (none of which this machine's kernel can do)
#   timeout         a command that never ends: run-in-vm exits 124 within its timeout and leaves no
#                   qemu process behind
#   no-network      the VM has no network device besides loopback
# shellcheck disable=SC2016  # the single-quoted scripts run inside the VM
set -euo pipefail
run_in_vm="${1:?usage: vm_smoke_test.sh <run-in-vm> <case>}"
case_name="${2:?usage: vm_smoke_test.sh <run-in-vm> <case>}"

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
scratch="$(mktemp -d)"
trap 'rm -rf "${scratch}"' EXIT
log="${scratch}/console.log"

# run <expected status> run-in-vm-args...: runs the VM, keeps the console in ${log}.
run() {
  local expected="$1" status=0
  shift
  "${run_in_vm}" --log "${log}" "$@" || status=$?
  ((status == expected)) || fail "run-in-vm $* exited ${status}, expected ${expected}"
}

case "${case_name}" in
  exit-zero)
    run 0 -- sh -c 'echo vm-smoke-marker-$((6 * 7))'
    grep -qx "vm-smoke-marker-42" "${log}" || fail "the command's output is not in the console log"
    ;;
  exit-nonzero)
    run 7 -- sh -c 'echo about to fail >&2; exit 7'
    grep -qx "about to fail" "${log}" || fail "the command's stderr is not in the console log"
    ;;
  passthrough)
    # A directory and a PATH entry only this run knows; the VM sees the host's file system (but
    # not the host's /tmp, which the guest covers with tmpfs: hence /var/tmp).
    shared="$(mktemp -d /var/tmp/brindle-vm-smoke.XXXXXX)"
    trap 'rm -rf "${scratch}" "${shared}"' EXIT
    mkdir -p "${shared}/work dir" "${shared}/bin"
    printf '#!/bin/sh\necho "helper in $(pwd) with SMOKE_VALUE=[$SMOKE_VALUE]"\n' >"${shared}/bin/smoke-helper"
    chmod +x "${shared}/bin/smoke-helper"
    cd "${shared}/work dir"
    PATH="${shared}/bin:${PATH}" run 0 --env "SMOKE_VALUE=two words" -- sh -c '
      smoke-helper
      if touch /usr/brindle-vm-write-test 2>/dev/null; then echo "root is writable"; exit 1; fi
      echo data >/tmp/x && echo data >/run/x || exit 2
      echo "writable tmpfs ok"'
    grep -qx "helper in ${shared}/work dir with SMOKE_VALUE=\[two words\]" "${log}" ||
      fail "working directory, PATH or --env did not reach the command"
    grep -qx "writable tmpfs ok" "${log}" || fail "no 'writable tmpfs ok' line"
    ;;
  stock-kernel)
    run 0 -- sh -c '
      set -e
      ip netns add smoke
      ip -n smoke link add t0 type ipip local 198.19.0.1 remote 198.19.0.2 ttl 64
      ip -n smoke link add g0 type gre local 198.19.0.1 remote 198.19.0.3
      ip -n smoke link add d0 type dummy
      ip -n smoke -d link show t0
      ip -n smoke -br link show
      ip netns del smoke'
    grep -q "ipip any remote 198.19.0.2 local 198.19.0.1" "${log}" || fail "no ipip device t0 in the VM"
    grep -qE "^tunl0@NONE +DOWN" "${log}" || fail "the ipip module did not create tunl0 in the namespace"
    grep -qE "^d0 +DOWN" "${log}" || fail "no dummy device d0 in the VM"
    ;;
  timeout)
    # A state directory of our own (its path is on our qemu's command line, so that we find our
    # qemu and nobody else's); not under /tmp, which the guest covers.
    state="$(mktemp -d /var/tmp/brindle-vm-smoke.XXXXXX)"
    trap 'rm -rf "${scratch}" "${state}"' EXIT
    start=${SECONDS}
    BRINDLE_VM_STATE_DIR="${state}" run 124 --timeout 30 -- sh -c 'echo sleeping; exec sleep 100000'
    elapsed=$((SECONDS - start))
    ((elapsed < 50)) || fail "run-in-vm took ${elapsed} s for a 30 s timeout"
    grep -qx "sleeping" "${log}" || fail "the VM never started the command (boot too slow?)"
    ! pgrep -af "qemu-system-x86_64.*${state}" || fail "our qemu process is still running"
    [[ -z "$(ls -A "${state}/jobs")" ]] || fail "the job directory was left behind"
    ;;
  no-network)
    run 0 -- sh -c 'ls /sys/class/net; [ "$(ls /sys/class/net)" = lo ]'
    ;;
  *)
    fail "unknown case '${case_name}'"
    ;;
esac
echo "PASS: ${case_name}"

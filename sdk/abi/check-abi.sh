#!/usr/bin/env bash
# Fails when the SDK's C ABI differs from the committed baseline without a version bump and a
# regenerated baseline (update-baseline.sh). Usage: check-abi.sh [include-dir] [abi-dir]
# abidiff exit status is a bit mask: 1 error, 2 usage, 4 ABI change, 8 incompatible change.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
include_dir=${1:-$here/../include}
abi_dir=${2:-$here}
source "$here/abi-lib.sh"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

declared=$(header_version "$include_dir")
baseline_version=$(cat "$abi_dir/baseline.version")
if [[ "$declared" != "$baseline_version" ]]; then
  echo "check-abi: the headers declare ABI $declared but the baseline is for $baseline_version;" \
       "regenerate it with sdk/abi/update-baseline.sh in the same commit" >&2
  exit 1
fi

dump_abi "$include_dir" "$work/current.abi" "$work"
set +e
abidiff --suppressions "$abi_dir/suppressions.ini" "$abi_dir/baseline.abi" "$work/current.abi" \
  > "$work/report.txt"
status=$?
set -e
if (( status == 0 )); then
  echo "check-abi: ABI $declared matches the baseline"
  exit 0
fi
cat "$work/report.txt" >&2
if (( status & 3 )); then
  echo "check-abi: abidiff failed to run (status $status)" >&2
elif [[ $(classify_abi_change "$work/report.txt" "$status") == incompatible ]]; then
  echo "check-abi: INCOMPATIBLE ABI change without a version bump: bump" \
       "BRINDLE_ABI_VERSION_MAJOR (MINOR while 0.x) and run sdk/abi/update-baseline.sh" >&2
else
  echo "check-abi: compatible ABI addition without a version bump: bump" \
       "BRINDLE_ABI_VERSION_MINOR and run sdk/abi/update-baseline.sh" >&2
fi
exit 1

#!/usr/bin/env bash
# Regenerates the ABI baseline after an intended ABI change. Refuses unless the version in
# sdk/include/brindle/abi.h was bumped as the change requires:
#   incompatible change -> MAJOR (or, while the ABI is 0.x, MINOR) bumped;
#   additions only      -> MINOR bumped.
# Usage: update-baseline.sh [include-dir] [abi-dir]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
include_dir=${1:-$here/../include}
abi_dir=${2:-$here}
source "$here/abi-lib.sh"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
declared=$(header_version "$include_dir")
dump_abi "$include_dir" "$work/new.abi" "$work"

if [[ -f "$abi_dir/baseline.abi" ]]; then
  old=$(cat "$abi_dir/baseline.version")
  set +e
  abidiff --suppressions "$abi_dir/suppressions.ini" "$abi_dir/baseline.abi" "$work/new.abi" \
    > "$work/report.txt"
  status=$?
  set -e
  if (( status & 3 )); then
    echo "update-baseline: abidiff failed (status $status)" >&2
    exit 1
  fi
  old_major=${old%.*} old_minor=${old#*.} new_major=${declared%.*} new_minor=${declared#*.}
  kind=none
  if (( status & 4 )); then
    kind=$(classify_abi_change "$work/report.txt" "$status")
  fi
  if [[ $kind == incompatible ]]; then
    if ! (( new_major > old_major || (old_major == 0 && new_major == 0 && new_minor > old_minor) )); then
      cat "$work/report.txt" >&2
      echo "update-baseline: incompatible change needs a MAJOR bump (MINOR while 0.x): $old -> $declared" >&2
      exit 1
    fi
  elif [[ $kind == compatible ]]; then
    if ! (( new_major > old_major || new_minor > old_minor )); then
      cat "$work/report.txt" >&2
      echo "update-baseline: additions need a MINOR bump: $old -> $declared" >&2
      exit 1
    fi
  fi
fi
cp "$work/new.abi" "$abi_dir/baseline.abi"
echo "$declared" > "$abi_dir/baseline.version"
echo "update-baseline: baseline is now ABI $declared"

#!/usr/bin/env bash
# Every built plugin exports exactly one dynamic symbol, the entry point, and needs no symbol
# from the host (no undefined references outside system libraries).
# Usage: plugin_symbols_test.sh <plugin-dir> <plugin file names...>
set -euo pipefail
dir=$1; shift
(( $# > 0 )) || { echo "no plugins given" >&2; exit 1; }
status=0
for name in "$@"; do
  so="$dir/$name"
  [[ -f "$so" ]] || { echo "FAIL: $so missing"; status=1; continue; }
  exported=$(nm -D --defined-only "$so" | awk '{print $3}' | sort | tr '\n' ' ')
  if [[ "$exported" != "brindle_plugin_entry " ]]; then
    echo "FAIL: $name exports: $exported"; status=1
  else
    echo "ok: $name exports only brindle_plugin_entry"
  fi
  undefined=$(nm -D --undefined-only "$so" | awk '{print $2}' | grep -i brindle || true)
  if [[ -n "$undefined" ]]; then echo "FAIL: $name needs host symbols: $undefined"; status=1; fi
done
exit $status

#!/usr/bin/env bash
# Installs the SDK (the `dev` component) to a temporary prefix, builds the example plugin there
# with find_package(BrindleSDK) and with pkg-config, and loads both results in the host.
# Usage: install_example_test.sh <build-dir> <brindled>
set -euo pipefail
build=$1 brindled=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

cmake --install "$build" --component dev --prefix "$prefix" > "$work/install.log"
test -f "$prefix/include/brindle/sdk.hpp"
cp -r "$prefix/share/doc/brindle/examples/hello-encap" "$work/example"

# 1. CMake package.
cmake -S "$work/example" -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_CXX_FLAGS="-Wall -Wextra -Werror" > "$work/cmake.log"
cmake --build "$work/cmake-build" > "$work/build.log"
test -f "$work/cmake-build/brindle-encap-hello.so"

# 2. pkg-config.
pcdir=$(dirname "$(find "$prefix" -name brindle-sdk.pc)")
mkdir -p "$work/pc-build"
PKG_CONFIG_PATH=$pcdir make -C "$work/example" -f "$work/example/Makefile" \
  CXXFLAGS="-O1 -Wall -Wextra -Werror" > "$work/make.log"
mv "$work/example/brindle-encap-hello.so" "$work/pc-build/"

for dir in "$work/cmake-build" "$work/pc-build"; do
  out=$("$brindled" --list-plugins --plugin-dir "$dir" --config /dev/null 2>&1) || {
    echo "brindled --list-plugins failed for $dir:"; echo "$out"; exit 1; }
  echo "$out"
  grep -E "hello" <<<"$out" | grep -qiE "encap" || { echo "FAIL: example not listed from $dir"; exit 1; }
  nm -D --defined-only "$dir/brindle-encap-hello.so" | awk '{print $3}' | grep -qx brindle_plugin_entry
done
echo "example plugin built both ways and loaded"

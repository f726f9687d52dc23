#!/usr/bin/env bash
# Uses installed brindle and brindle-dev packages at their real paths (run inside in_root):
# brindled --version / --list-plugins / --check-config with their compiled-in defaults, the other
# programs, and the SDK example built against the installed SDK with CMake and with pkg-config,
# then loaded by the installed brindled.
# Usage: installed_use.sh <packaging-test.env> <scratch-dir> [cmake-only]
source "$(dirname "$0")/common.sh"
work=$2 mode=${3:-both}
brindled=/usr/sbin/brindled

step "brindled --version"
out=$("$brindled" --version 2>&1) || { echo "$out"; fail "brindled --version failed"; }
echo "$out"
grep -qF "$VERSION" <<<"$out" || fail "--version does not print $VERSION"

step "brindled --list-plugins (installed plugin directory, no --plugin-dir)"
out=$("$brindled" --list-plugins 2>&1) || { echo "$out"; fail "brindled --list-plugins failed"; }
echo "$out"
for plugin in $PLUGINS; do
  grep -qE " $PLUGIN_DIR/$plugin\$" <<<"$out" || fail "$plugin not listed from $PLUGIN_DIR"
done
grep -q "skipped" <<<"$out" && fail "an installed plugin could not be loaded"

if [[ -f $PACKAGED_CONFIG_SOURCE ]]; then
  step "brindled --check-config (installed default config $DEFAULT_CONFIG)"
  [[ -f $DEFAULT_CONFIG ]] || fail "$DEFAULT_CONFIG not installed"
  out=$("$brindled" --check-config 2>&1) || { echo "$out"; fail "--check-config failed"; }
  echo "$out"
fi

if [[ " $PROGRAMS " == *" brindlectl "* ]]; then
  step "brindlectl version"
  out=$(brindlectl version 2>&1) || { echo "$out"; fail "brindlectl version failed"; }
  echo "$out"
  grep -qF "$VERSION" <<<"$out" || fail "brindlectl does not print $VERSION"
fi
if [[ " $PROGRAMS " == *" brindle-cni "* ]]; then
  step "brindle-cni VERSION"
  cni=/usr/lib/cni/brindle-cni   # docs/packaging.md: why /usr/lib/cni, not /opt/cni/bin
  [[ -x $cni ]] || fail "$cni not installed"
  out=$(CNI_COMMAND=VERSION "$cni" < /dev/null 2>&1) || { echo "$out"; fail "brindle-cni VERSION failed"; }
  echo "$out"
  grep -q '"supportedVersions"' <<<"$out" || fail "brindle-cni VERSION gave no supportedVersions"
fi

step "SDK example built against the installed brindle-dev"
example=/usr/share/doc/brindle/examples/hello-encap
[[ -d $example ]] || fail "$example not installed"
cp -r "$example" "$work/example"
# CMake: no CMAKE_PREFIX_PATH, the SDK is found where the package put it.
cmake -S "$work/example" -B "$work/cmake-build" -DCMAKE_CXX_FLAGS="-Wall -Wextra -Werror" \
  > "$work/cmake.log" 2>&1 || { cat "$work/cmake.log"; fail "cmake configure of the example failed"; }
grep -qxF "BrindleSDK_DIR:PATH=$SDK_CMAKE_DIR" "$work/cmake-build/CMakeCache.txt" ||
  fail "find_package(BrindleSDK) did not use $SDK_CMAKE_DIR"
cmake --build "$work/cmake-build" > "$work/build.log" 2>&1 ||
  { cat "$work/build.log"; fail "building the example with CMake failed"; }
dirs=("$work/cmake-build")
if [[ $mode == both ]]; then
  # pkg-config: no PKG_CONFIG_PATH, the .pc file is on the default search path.
  pc=$(pkg-config --variable=pcfiledir brindle-sdk) || fail "pkg-config does not find brindle-sdk"
  [[ $pc == "$SDK_PKGCONFIG_DIR" ]] || fail "brindle-sdk.pc found in $pc, not $SDK_PKGCONFIG_DIR"
  make -C "$work/example" CXXFLAGS="-O1 -Wall -Wextra -Werror" > "$work/make.log" 2>&1 ||
    { cat "$work/make.log"; fail "building the example with pkg-config failed"; }
  mkdir "$work/pc-build"
  mv "$work/example/brindle-encap-hello.so" "$work/pc-build/"
  dirs+=("$work/pc-build")
fi
for dir in "${dirs[@]}"; do
  out=$("$brindled" --list-plugins --plugin-dir "$dir" 2>&1) ||
    { echo "$out"; fail "installed brindled cannot list $dir"; }
  echo "$out"
  grep -F "$dir/brindle-encap-hello.so" <<<"$out" | grep -qw hello ||
    fail "installed brindled did not load the example built in $dir"
done
echo "installed packages work"

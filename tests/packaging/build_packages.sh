#!/usr/bin/env bash
# Builds the .deb and .rpm packages of both components with CPack into $PACKAGES_DIR (the fixture
# the other packaging tests use), and checks that every installed file belongs to a package.
# Usage: build_packages.sh <packaging-test.env>
source "$(dirname "$0")/common.sh"
[[ $INSTALL_PREFIX == /usr ]] ||
  fail "packages need a build configured with -DCMAKE_INSTALL_PREFIX=/usr (this one: $INSTALL_PREFIX)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rm -rf "$PACKAGES_DIR"
mkdir -p "$PACKAGES_DIR"

step "cpack -G DEB;RPM"
if ! cpack -G "DEB;RPM" --config "$BUILD_DIR/CPackConfig.cmake" -B "$work/cpack" \
  > "$work/cpack.log" 2>&1; then
  cat "$work/cpack.log"
  fail "cpack failed"
fi
grep -iE "warning|error" "$work/cpack.log" && fail "cpack reported warnings (above)"
mv "$work/cpack"/*.deb "$work/cpack"/*.rpm "$PACKAGES_DIR"/
ls -l "$PACKAGES_DIR"

arch=$(dpkg --print-architecture)
machine=$(uname -m)
# brindle-dev is per architecture or architecture independent (all / noarch): see contents_test.sh.
dev_arch=$arch dev_machine=$machine
if [[ -f $PACKAGES_DIR/brindle-dev_${VERSION}-${RELEASE}_all.deb ]]; then
  dev_arch=all dev_machine=noarch
fi
expected=("brindle_${VERSION}-${RELEASE}_${arch}.deb" "brindle-dev_${VERSION}-${RELEASE}_${dev_arch}.deb"
  "brindle-${VERSION}-${RELEASE}.${machine}.rpm" "brindle-devel-${VERSION}-${RELEASE}.${dev_machine}.rpm")
actual=$(cd "$PACKAGES_DIR" && ls)
[[ $actual == "$(printf '%s\n' "${expected[@]}" | sort)" ]] ||
  fail "expected exactly ${expected[*]}, got: $actual"

step "every installed file is in a package component"
DESTDIR="$work/stray" cmake --install "$BUILD_DIR" --component Unspecified > /dev/null
stray=""
if [[ -d $work/stray ]]; then
  stray=$(cd "$work/stray" && find . \( -type f -o -type l \) | sed 's|^\.||')
fi
[[ -z $stray ]] ||
  fail "installed without COMPONENT runtime or dev, so in no package:"$'\n'"$stray"
echo "packages built: ${expected[*]}"

#!/usr/bin/env bash
# The .rpms through rpm, into a temporary root (rpm --root --nodeps; scriptlets are checked in
# contents_test.sh, they cannot run in a root without a shell): install, verify (rpm -V), use what
# was installed (installed_use.sh), erase leaving no files.
# Usage: rpm_install_test.sh <packaging-test.env>
source "$(dirname "$0")/common.sh"
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root"
# Debian's rpm warns that it is not the system package manager ("use Alien"): filtered out.
rpm_root() {
  rpm --root="$root" --dbpath=/var/lib/rpm "$@" 2> "$work/rpm.err" || { cat "$work/rpm.err"; return 1; }
  grep -v -e "use Alien instead" -e "assuming you know what you are doing" "$work/rpm.err" >&2 || true
}

step "rpm -i brindle brindle-devel"
rpm_root --initdb
rpm_root -i --nodeps --noscripts "$(rpm_of brindle)" "$(rpm_of brindle-devel)"
rpm_root -q brindle brindle-devel
step "rpm -V (digests, modes, owners of every installed file)"
rpm_root -V --nodeps brindle brindle-devel || fail "rpm -V found differences"

step "use the installed packages"
mkdir "$work/use"
in_root "$root" "$here/installed_use.sh" "$1" "$work/use" cmake-only

step "rpm -e: no file left but rpm's database"
rpm_root -e --nodeps --noscripts brindle brindle-devel
left=$(cd "$root" && find . -mindepth 1 ! -type d | grep -v '^\./var/lib/rpm/' || true)
[[ -z $left ]] || fail "files left after rpm -e:"$'\n'"$left"
echo "installed, verified, used and erased cleanly"

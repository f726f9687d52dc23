#!/usr/bin/env bash
# The .debs through dpkg, into a temporary root (dpkg --root, maintainer scripts run chrootless
# with DPKG_ROOT set): install, use what was installed (installed_use.sh), keep a locally changed
# conffile on reinstall and on remove, and purge leaving nothing but dpkg's own database.
# Usage: deb_install_test.sh <packaging-test.env>
source "$(dirname "$0")/common.sh"
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/var/log"
touch "$root/var/lib/dpkg/status"
# The root holds only these packages, not their library dependencies (those come from the machine
# through in_root), hence --force-depends.
dpkg_root() {
  dpkg --root="$root" --log=/dev/null --force-script-chrootless --force-depends "$@" \
    > "$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "dpkg $* failed"; }
  grep -E "^(Setting up|Removing|Purging)" "$work/dpkg.log" || true
}
status_of() { dpkg-query --root="$root" -W -f='${Status}' "$1" 2>/dev/null || true; }

step "dpkg -i brindle brindle-dev"
dpkg_root -i "$(deb_of brindle)" "$(deb_of brindle-dev)"
for p in brindle brindle-dev; do
  [[ $(status_of $p) == "install ok installed" ]] || fail "$p: $(status_of $p)"
done
dpkg-query --root="$root" -L brindle | grep -qxF /usr/sbin/brindled || fail "dpkg does not list brindled"

step "use the installed packages"
mkdir "$work/use"
in_root "$root" "$here/installed_use.sh" "$1" "$work/use"

if [[ -f $PACKAGED_CONFIG_SOURCE ]]; then
  conffile=$root$DEFAULT_CONFIG
  step "conffile: a local change survives reinstall and remove"
  echo "# local change by the packaging test" >> "$conffile"
  dpkg_root --force-confold -i "$(deb_of brindle)"
  grep -q "local change by the packaging test" "$conffile" || fail "reinstall replaced the changed conffile"
fi

step "dpkg -r: programs go, configuration stays"
dpkg_root -r brindle brindle-dev
[[ $(status_of brindle) == "deinstall ok config-files" ]] || fail "brindle after -r: $(status_of brindle)"
[[ ! -e $root/usr/sbin/brindled ]] || fail "brindled still installed after dpkg -r"
if [[ -f $PACKAGED_CONFIG_SOURCE ]]; then
  grep -q "local change by the packaging test" "$conffile" || fail "dpkg -r removed the changed conffile"
fi

step "dpkg -P: nothing left but dpkg's database"
dpkg_root -P brindle
[[ -z $(status_of brindle-dev) || $(status_of brindle-dev) == "unknown ok not-installed" ]] ||
  fail "brindle-dev after -r (it has no conffiles): $(status_of brindle-dev)"
[[ -z $(status_of brindle) || $(status_of brindle) == "unknown ok not-installed" ]] ||
  fail "brindle after -P: $(status_of brindle)"
left=$(cd "$root" && find . -mindepth 1 | grep -vE '^\./var(/lib(/dpkg(/.*)?)?|/log)?$' || true)
[[ -z $left ]] || fail "left after purge:"$'\n'"$left"
echo "installed, used, removed and purged cleanly"

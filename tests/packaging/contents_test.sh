#!/usr/bin/env bash
# Checks what the packages contain and declare: the .deb and the .rpm of each component hold the
# same files with the same modes; everything the build makes is there at its path; conffiles and
# %config(noreplace); computed library dependencies; Recommends/Suggests; version; stripped ELF.
# Usage: contents_test.sh <packaging-test.env>
source "$(dirname "$0")/common.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
deb_version="$VERSION-$RELEASE"

# "<mode> <path>" of every non-directory entry, sorted.
deb_files() {
  dpkg-deb -c "$1" | awk '$1 !~ /^d/ {
      mode = $1; path = $6; for (i = 7; i <= NF; i++) path = path " " $i
      sub(/^\./, "", path); sub(/ -> .*/, "", path); print mode, path }' | sort
}
rpm_files() {
  rpm -qp --qf '[%{FILEMODES:perms} %{FILENAMES}\n]' "$1" | awk '$1 !~ /^d/' | sort
}

for pair in "brindle brindle" "brindle-dev brindle-devel"; do
  read -r deb_name rpm_name <<<"$pair"
  step "$deb_name.deb and $rpm_name.rpm hold the same files"
  deb_files "$(deb_of "$deb_name")" > "$work/$deb_name.deb.list"
  rpm_files "$(rpm_of "$rpm_name")" > "$work/$deb_name.rpm.list"
  [[ -s $work/$deb_name.deb.list ]] || fail "$deb_name.deb is empty"
  diff -u "$work/$deb_name.deb.list" "$work/$deb_name.rpm.list" ||
    fail "file lists of $deb_name.deb and $rpm_name.rpm differ (above: - deb, + rpm)"
  cut -d' ' -f2- "$work/$deb_name.deb.list" | sort > "$work/$deb_name.paths"
  sed 's/^/  /' "$work/$deb_name.paths"
done

has() {  # has <package> <path>
  grep -qxF "$2" "$work/$1.paths" || fail "$1 lacks $2"
}
step "brindle holds every program, plugin and the files packaging adds"
for program in $PROGRAMS; do
  n=$(grep -cE "/$program\$" "$work/brindle.paths" || true)
  [[ $n == 1 ]] || fail "brindle must hold $program exactly once (found $n)"
done
has brindle /usr/sbin/brindled
has brindle /usr/share/man/man8/brindled.8.gz
for plugin in $PLUGINS; do has brindle "$PLUGIN_DIR/$plugin"; done
installed_plugins=$(grep -c "^$PLUGIN_DIR/" "$work/brindle.paths" || true)
[[ $installed_plugins == "$(wc -w <<<"$PLUGINS")" ]] ||
  fail "plugin directory holds $installed_plugins files, the build makes: $PLUGINS"
has brindle "$UNIT_DIR/brindled.service"
if [[ -f $SOURCE_DIR/configs/cni/10-brindle.conflist ]]; then
  has brindle /usr/share/brindle/cni/10-brindle.conflist
  dpkg-deb --fsys-tarfile "$(deb_of brindle)" | tar -xOf - ./usr/share/brindle/cni/10-brindle.conflist |
    python3 -m json.tool > /dev/null || fail "the example conflist is not valid JSON"
fi
has brindle /usr/share/doc/brindle/copyright
has brindle /usr/share/doc/brindle/changelog.Debian.gz
[[ -f $PACKAGED_CONFIG_SOURCE ]] && has brindle "$DEFAULT_CONFIG"
step "brindle-dev holds the SDK"
has brindle-dev "$INCLUDEDIR/brindle/sdk.hpp"
has brindle-dev "$SDK_CMAKE_DIR/BrindleSDKConfig.cmake"
has brindle-dev "$SDK_PKGCONFIG_DIR/brindle-sdk.pc"
has brindle-dev /usr/share/doc/brindle/examples/hello-encap/hello_encap.cpp
has brindle-dev /usr/share/doc/brindle-dev/copyright
step "brindle-dev is architecture independent exactly when nothing is under $LIBDIR"
dev_arch=$(dpkg-deb -f "$(deb_of brindle-dev)" Architecture)
devel_arch=$(rpm -qp --qf '%{ARCH}' "$(rpm_of brindle-devel)")
if grep -q "^$LIBDIR/" "$work/brindle-dev.paths"; then
  [[ $dev_arch != all && $devel_arch != noarch ]] ||
    fail "brindle-dev has files under $LIBDIR but is $dev_arch / $devel_arch"
else
  [[ $dev_arch == all && $devel_arch == noarch ]] ||
    fail "brindle-dev has nothing per architecture but is $dev_arch / $devel_arch"
fi
echo "  brindle-dev: $dev_arch, brindle-devel: $devel_arch"
step "nothing outside /usr, /etc and /lib; nothing in both packages"
grep -vE '^/(usr|etc|lib)/' "$work/brindle.paths" "$work/brindle-dev.paths" &&
  fail "files outside /usr, /etc, /lib (above)"
comm -12 "$work/brindle.paths" "$work/brindle-dev.paths" | grep . && fail "files in both packages (above)"

step "ELF files are stripped"
dpkg-deb -x "$(deb_of brindle)" "$work/root"
while read -r path; do
  info=$(file -b "$work/root$path")
  [[ $info == ELF* ]] || continue
  [[ $info == *", stripped"* ]] || fail "$path is not stripped: $info"
  echo "  $path: stripped ELF"
done < "$work/brindle.paths"

step "Debian control: version, computed Depends, Recommends, Suggests, conffiles"
field() { dpkg-deb -f "$(deb_of "$1")" "$2"; }
for p in brindle brindle-dev; do
  [[ $(field $p Version) == "$deb_version" ]] || fail "$p version $(field $p Version) != $deb_version"
done
depends=$(field brindle Depends)
echo "  Depends: $depends"
[[ $depends == *libc6* ]] || fail "brindle Depends lacks libc6: shlibdeps did not run"
[[ $depends == *libstdc++6* ]] || fail "brindle Depends lacks libstdc++6"
[[ $(field brindle Recommends) == "iptables | nftables" ]] || fail "Recommends: $(field brindle Recommends)"
[[ $(field brindle Suggests) == "bird2, etcd-client" ]] || fail "Suggests: $(field brindle Suggests)"
dpkg-deb -e "$(deb_of brindle)" "$work/control"
if [[ -f $PACKAGED_CONFIG_SOURCE ]]; then
  [[ $(cat "$work/control/conffiles") == "$DEFAULT_CONFIG" ]] ||
    fail "conffiles is not exactly $DEFAULT_CONFIG: $(cat "$work/control/conffiles")"
fi
for script in postinst prerm postrm; do
  sh -n "$work/control/$script" || fail "$script is not valid sh"
  [[ $(stat -c %a "$work/control/$script") == 755 ]] || fail "$script mode is not 0755"
done

step "RPM header: version, computed Requires, weak dependencies, %config(noreplace), scriptlets"
for p in brindle brindle-devel; do
  v=$(rpm -qp --qf '%{VERSION}-%{RELEASE}' "$(rpm_of $p)")
  [[ $v == "$deb_version" ]] || fail "$p.rpm version $v != $deb_version"
done
requires=$(rpm -qp --requires "$(rpm_of brindle)")
echo "$requires" | sed 's/^/  Requires: /'
grep -q '^libc.so.6' <<<"$requires" || fail "brindle.rpm Requires lacks libc.so.6: autoreq did not run"
[[ $(rpm -qp --recommends "$(rpm_of brindle)") == "(iptables or nftables)" ]] ||
  fail "rpm Recommends: $(rpm -qp --recommends "$(rpm_of brindle)")"
[[ $(rpm -qp --suggests "$(rpm_of brindle)" | sort | tr '\n' ' ') == "bird etcd " ]] ||
  fail "rpm Suggests: $(rpm -qp --suggests "$(rpm_of brindle)")"
if [[ -f $PACKAGED_CONFIG_SOURCE ]]; then
  # Flags: c = %config, n = noreplace (d = %doc, given by rpm to /usr/share/doc and man pages).
  configs=$(rpm -qp --qf '[%{FILEFLAGS:fflags} %{FILENAMES}\n]' "$(rpm_of brindle)" |
    grep -E '^[a-z]*c[a-z]* ' || true)
  [[ $configs == "cn $DEFAULT_CONFIG" ]] ||
    fail "expected exactly $DEFAULT_CONFIG as %config(noreplace), got: $configs"
fi
rpm -qp --scripts "$(rpm_of brindle)" > "$work/scripts"
for s in postinstall preuninstall postuninstall; do
  grep -q "^$s scriptlet" "$work/scripts" || fail "brindle.rpm has no $s scriptlet"
done
echo "contents of the .deb and .rpm packages agree and are complete"

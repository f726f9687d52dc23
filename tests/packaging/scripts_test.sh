#!/usr/bin/env bash
# The maintainer scripts of the .deb and the scriptlets of the .rpm, run as on a systemd machine:
# in a private mount namespace with /run/systemd/system present and systemctl, deb-systemd-invoke
# and deb-systemd-helper replaced by stubs that record their arguments. Checks what each package
# manager step asks of systemd: never enable or start on first install, restart on upgrade, stop
# on removal, forget the unit's state on purge.
# Usage: scripts_test.sh <packaging-test.env>
source "$(dirname "$0")/common.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/deb" "$work/rpm" "$work/stubs"
dpkg-deb -e "$(deb_of brindle)" "$work/deb"
# Each scriptlet of `rpm --scripts` output, into its own file.
rpm -qp --scripts "$(rpm_of brindle)" | awk -v dir="$work/rpm" '
  /^[a-z]+ scriptlet \(using / { file = dir "/" $1; next }
  file != "" { print > file }'
for stub in systemctl deb-systemd-invoke deb-systemd-helper; do
  printf '#!/bin/sh\necho "%s $*" >> "$CALLS"\n' "$stub" > "$work/stubs/$stub"
  chmod +x "$work/stubs/$stub"
done

# run_script <label> <script> <args...>: prints the systemd calls the script made, one per line.
run_script() {
  local script=$2
  shift 2
  : > "$work/calls"
  unshare --mount --propagation private -- sh -ec '
    mount -t tmpfs tmpfs /run
    mkdir -p /run/systemd/system
    script=$1; shift
    exec env -u DPKG_ROOT PATH="$STUBS:$PATH" CALLS="$CALLS" sh -e "$script" "$@"' \
    run "$script" "$@" || fail "$script $* failed"
  tr '\n' ';' < "$work/calls"
}
export STUBS=$work/stubs CALLS=$work/calls

expect() {  # expect <description> <actual> <expected>
  echo "  $1: ${2:-(nothing)}"
  [[ $2 == "$3" ]] || fail "$1: expected '${3:-(nothing)}'"
}
step ".deb maintainer scripts"
expect "postinst configure (first install)" "$(run_script deb "$work/deb/postinst" configure)" \
  "systemctl --system daemon-reload;"
expect "postinst configure 0.0.1 (upgrade)" "$(run_script deb "$work/deb/postinst" configure 0.0.1)" \
  "systemctl --system daemon-reload;deb-systemd-invoke try-restart brindled.service;"
expect "prerm upgrade" "$(run_script deb "$work/deb/prerm" upgrade "$VERSION-$RELEASE")" ""
expect "prerm remove" "$(run_script deb "$work/deb/prerm" remove)" \
  "deb-systemd-invoke stop brindled.service;"
expect "postrm remove" "$(run_script deb "$work/deb/postrm" remove)" "systemctl --system daemon-reload;"
expect "postrm purge" "$(run_script deb "$work/deb/postrm" purge)" \
  "systemctl --system daemon-reload;deb-systemd-helper purge brindled.service;deb-systemd-helper unmask brindled.service;"

step ".rpm scriptlets"
for s in postinstall preuninstall postuninstall; do
  [[ -s $work/rpm/$s ]] || fail "no $s scriptlet in brindle.rpm"
done
expect "%post 1 (install)" "$(run_script rpm "$work/rpm/postinstall" 1)" "systemctl daemon-reload;"
expect "%post 2 (upgrade)" "$(run_script rpm "$work/rpm/postinstall" 2)" "systemctl daemon-reload;"
expect "%preun 1 (upgrade)" "$(run_script rpm "$work/rpm/preuninstall" 1)" ""
expect "%preun 0 (erase)" "$(run_script rpm "$work/rpm/preuninstall" 0)" \
  "systemctl --no-reload disable --now brindled.service;"
expect "%postun 1 (upgrade)" "$(run_script rpm "$work/rpm/postuninstall" 1)" \
  "systemctl daemon-reload;systemctl try-restart brindled.service;"
expect "%postun 0 (erase)" "$(run_script rpm "$work/rpm/postuninstall" 0)" "systemctl daemon-reload;"
echo "maintainer scripts ask systemd for exactly what they should"

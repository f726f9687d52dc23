#!/usr/bin/env bash
# The packaged systemd unit: the settings the service relies on, `systemd-analyze verify` clean
# (unit syntax, ExecStart binary and man page present, all at their installed paths), and the
# hardening kept (systemd-analyze security exposure at most 3.0, "OK").
# Usage: unit_test.sh <packaging-test.env>
source "$(dirname "$0")/common.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dpkg-deb -x "$(deb_of brindle)" "$work/root"
unit_path=$UNIT_DIR/brindled.service
unit=$work/root$unit_path
[[ -f $unit ]] || fail "no $unit_path in the package"

step "settings"
for line in "Type=notify" "NotifyAccess=main" "Restart=on-failure" 'ExecReload=/bin/kill -HUP $MAINPID' \
  "ExecStart=/usr/sbin/brindled --config $DEFAULT_CONFIG" "RuntimeDirectory=brindle" \
  "CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE CAP_SYS_ADMIN" \
  "RestrictNamespaces=net" "SystemCallFilter=@system-service" "NoNewPrivileges=yes" \
  "WantedBy=multi-user.target"; do
  grep -qxF "$line" "$unit" || fail "unit lacks: $line"
  echo "  $line"
done

step "systemd-analyze verify"
set +e
out=$(in_root "$work/root" systemd-analyze verify "$unit_path" 2>&1)
status=$?
set -e
echo "$out"
if (( status != 0 )) || [[ -n $out ]]; then
  fail "systemd-analyze verify reported problems (status $status)"
fi

step "systemd-analyze security"
report=$(in_root "$work/root" systemd-analyze security --offline=yes "$unit_path" 2>&1) ||
  { echo "$report"; fail "systemd-analyze security failed"; }
summary=$(grep "Overall exposure level" <<<"$report")
echo "$summary"
exposure=$(sed -E 's/.*: ([0-9]+\.[0-9]+) .*/\1/' <<<"$summary")
awk -v e="$exposure" 'BEGIN { exit !(e <= 3.0) }' ||
  { echo "$report"; fail "exposure $exposure > 3.0: hardening was lost"; }
echo "unit verified, exposure $exposure"

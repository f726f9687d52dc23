#!/usr/bin/env bash
# Runs lintian on the .debs or rpmlint on the .rpms. Fails on any error, and on any warning whose
# tag is not in the allowed list (each allowed tag is justified in docs/packaging.md).
# Usage: lint_test.sh <packaging-test.env> lintian|rpmlint <allowed-tags-file>
source "$(dirname "$0")/common.sh"
tool=$2 allowed_file=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mapfile -t allowed < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$allowed_file" | grep -v '^$' || true)

case $tool in
  lintian)
    # lintian exits non-zero on errors; the parsing below decides.
    lintian --info --no-tag-display-limit "$(deb_of brindle)" "$(deb_of brindle-dev)" \
      > "$work/out" 2>&1 || true
    # "E: brindle: tag-name details"
    sed -nE 's/^([EW]): [^:]+: ([^ ]+).*/\1 \2/p' "$work/out" > "$work/tags"
    ;;
  rpmlint)
    # Released RPMs are signed with the repository key; sign copies with a throwaway key so that
    # rpmlint sees signed packages, and prove the signatures verify.
    export GNUPGHOME=$work/gnupg
    mkdir -m 0700 "$GNUPGHOME"
    trap 'gpgconf --kill all 2>/dev/null || true; rm -rf "$work"' EXIT
    key=packaging-test@brindle.invalid
    gpg --batch --quiet --pinentry-mode loopback --passphrase '' \
      --quick-gen-key "Brindle packaging test <$key>" rsa2048 sign 1d 2> "$work/gpg.log" ||
      { cat "$work/gpg.log"; fail "gpg key generation failed"; }
    cp "$(rpm_of brindle)" "$(rpm_of brindle-devel)" "$work/"
    rpms=("$work"/*.rpm)
    rpmsign --addsign --define "__gpg $(command -v gpg)" --define "_gpg_name $key" \
      "${rpms[@]}" < /dev/null > "$work/sign.log" 2>&1 || { cat "$work/sign.log"; fail "rpmsign failed"; }
    gpg --export --armor "$key" > "$work/key.asc"
    rpm --dbpath "$work/rpmdb" --initdb
    rpm --dbpath "$work/rpmdb" --import "$work/key.asc"
    for r in "${rpms[@]}"; do
      rpm --dbpath "$work/rpmdb" -K "$r" | grep -q "digests signatures OK" ||
        fail "$(basename "$r"): signature does not verify"
    done
    # rpmlint checks signatures against rpm's default database: point it (through HOME's
    # .rpmmacros) at the one that trusts the throwaway key.
    mkdir "$work/home"
    echo "%_dbpath $work/rpmdb" > "$work/home/.rpmmacros"
    HOME=$work/home rpmlint --info -c "$(dirname "$0")/rpmlint.toml" "${rpms[@]}" \
      > "$work/out" 2>&1 || true
    # "brindle.x86_64: W: tag-name details"
    sed -nE 's/^[^ ]+: ([EW]): ([^ ]+).*/\1 \2/p' "$work/out" > "$work/tags"
    grep -qE "[0-9]+ packages? and [0-9]+ specfiles? checked" "$work/out" ||
      { cat "$work/out"; fail "rpmlint did not check the packages"; }
    ;;
  *) fail "unknown linter $tool" ;;
esac
cat "$work/out"

bad=0
while read -r level tag; do
  if [[ $level == E ]]; then
    echo "error: $tag" && bad=1
  elif ! printf '%s\n' "${allowed[@]}" | grep -qxF "$tag"; then
    echo "warning not justified in docs/packaging.md (add it there and to $allowed_file or fix it): $tag"
    bad=1
  fi
done < "$work/tags"
(( bad == 0 )) || fail "$tool found problems"
# An allowed tag that no longer occurs should be dropped, so the list stays honest.
for tag in "${allowed[@]}"; do
  grep -q " $tag\$" "$work/tags" || echo "note: $tag is allowed in $allowed_file but no longer reported"
done
echo "$tool: no errors, $(wc -l < "$work/tags") justified warnings"

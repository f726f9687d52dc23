# shellcheck shell=bash
# Shared by the packaging tests: sourced with the generated packaging-test.env as $1.
set -euo pipefail
# shellcheck disable=SC1090
source "$1"
export LC_ALL=C.UTF-8
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "--- $*"; }

deb_of() { ls "$PACKAGES_DIR"/"$1"_*.deb; }          # deb_of brindle | brindle-dev
rpm_of() { ls "$PACKAGES_DIR"/"$1"-[0-9]*.rpm; }      # rpm_of brindle | brindle-devel

# in_root ROOT CMD...: runs CMD in a private mount namespace where ROOT's /usr, /etc (and /lib)
# are laid over the machine's, so installed files sit at their real paths (the compiled-in plugin
# directory and default config included) while the machine's libraries and compilers stay usable.
# Nothing is mounted outside that namespace.
in_root() {
  local root=$1
  shift
  unshare --mount --propagation private -- bash -euo pipefail -c '
    root=$1; shift
    mount -t overlay overlay -o "lowerdir=$root/usr:/usr" /usr
    if [[ -d $root/lib ]]; then   # a non-merged /lib in the package on a merged-/usr machine
      if [[ -L /lib ]]; then
        mount -t overlay overlay -o "lowerdir=$root/lib:/usr/lib" /usr/lib
      else
        mount -t overlay overlay -o "lowerdir=$root/lib:/lib" /lib
      fi
    fi
    if [[ -d $root/etc ]]; then
      mount -t overlay overlay -o "lowerdir=$root/etc:/etc" /etc
    fi
    exec "$@"' in_root "$root" "$@"
}

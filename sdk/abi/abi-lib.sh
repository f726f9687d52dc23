# Shared by check-abi.sh and update-baseline.sh: builds the ABI anchor against an include dir and
# dumps its ABI. Usage: dump_abi <include-dir> <out.abi> <workdir>
dump_abi() {
  local include_dir=$1 out=$2 work=$3 here
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  ${CC:-cc} -std=c11 -g -Og -fPIC -shared -I"$include_dir" "$here/abi_anchor.c" -o "$work/anchor.so"
  # --no-corpus-path and --no-comp-dir-path keep the dump independent of where it was built.
  abidw --no-corpus-path --no-comp-dir-path --headers-dir "$include_dir/brindle" \
    --out-file "$out" "$work/anchor.so"
}

# The "MAJOR.MINOR" the headers in <include-dir> declare.
header_version() {
  local h=$1/brindle/abi.h major minor
  major=$(sed -n 's/^#define BRINDLE_ABI_VERSION_MAJOR \([0-9]*\).*/\1/p' "$h")
  minor=$(sed -n 's/^#define BRINDLE_ABI_VERSION_MINOR \([0-9]*\).*/\1/p' "$h")
  echo "$major.$minor"
}

# Structs that are passed by value or in arrays and therefore can never grow (no struct_size).
FROZEN_STRUCTS="brindle_str brindle_error brindle_ip_prefix brindle_mac brindle_resource_key brindle_resource brindle_ipset_member brindle_port_range brindle_proto_port brindle_txn_op"

# Classifies an abidiff report (file) with its exit status: prints "incompatible" or "compatible".
# abidiff flags only some breaks with bit 8; moved or removed members, removed enumerators and a
# grown frozen struct are breaks too. Appending members to a struct_size-versioned struct, or new
# enumerators, is compatible.
classify_abi_change() {
  local report=$1 status=$2 grown
  if (( status & 8 )) || grep -qE "offset changed|deletion|[1-9][0-9]* Removed|value changed|name changed" "$report"; then
    echo incompatible
    return
  fi
  grown=$(awk "/underlying type 'struct [a-z_]+'/ { match(\$0, /struct [a-z_]+/); last = substr(\$0, RSTART + 7, RLENGTH - 7) }
               /type size changed/ { print last }" "$report" | sort -u)
  for s in $grown; do
    if [[ " $FROZEN_STRUCTS " == *" $s "* ]]; then
      echo incompatible
      return
    fi
  done
  echo compatible
}

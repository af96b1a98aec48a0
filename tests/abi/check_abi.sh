#!/usr/bin/env bash
# ABI guard (ctest abi.abidiff): compares the library just built with the
# release's ABI record abi/libws101.so.1.abi using libabigail's abidiff.
#
#   bash tests/abi/check_abi.sh LIBRARY SOURCE_DIR
#
# Passes when the only differences are additions (new functions; enumerators
# added to an enum are filtered as harmless by abidiff itself). Anything
# else fails with abidiff's report: a removed function, a changed parameter
# or return type, a renumbered enumerator.
#
# abidiff's exit status alone cannot decide this: a changed signature is
# bit 4 ("ABI change") like an added function, and only removals set bit 8
# ("incompatible"). So the decision runs abidiff with --no-added-syms, which
# leaves every change but additions, and requires status 0.
set -euo pipefail

lib="${1:?usage: check_abi.sh LIBRARY SOURCE_DIR}"
src="${2:?usage: check_abi.sh LIBRARY SOURCE_DIR}"
record="$src/abi/libws101.so.1.abi"

command -v abidiff >/dev/null || {
  echo "SKIP: abidiff not found (Debian abigail-tools)"
  exit 77
}
[ -f "$record" ] || { echo "FAIL: no ABI record $record" >&2; exit 1; }

soname="$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')"
[ "$soname" = libws101.so.1 ] || {
  echo "FAIL: SONAME is '$soname', the record is for libws101.so.1" >&2
  exit 1
}
readelf -S "$lib" | grep -q '\.debug_info' || {
  echo "FAIL: $lib has no DWARF (.debug_info): abidiff would compare" \
    "symbol names only (CMakeLists.txt compiles the library with -g)" >&2
  exit 1
}

diff_args=(--hd2 "$src/include" --drop-private-types "$record" "$lib")
rc=0
report="$(abidiff --no-added-syms "${diff_args[@]}" 2>&1)" || rc=$?
if [ "$rc" -ne 0 ]; then
  echo "$report"
  echo
  if [ $((rc & 3)) -ne 0 ]; then
    echo "FAIL: abidiff could not compare (status $rc)" >&2
  else
    echo "FAIL: the ABI of $lib differs from ${record#"$src"/} by more than" \
      "additions (abidiff status $rc: 4 = change, 8 = incompatible)." >&2
    echo "A released signature never changes: add a new function and" \
      "deprecate the old one (docs/versioning.md)." >&2
  fi
  exit 1
fi

rc=0
full="$(abidiff "${diff_args[@]}" 2>&1)" || rc=$?
if [ "$rc" -eq 0 ]; then
  echo "ok: the ABI is the recorded one ($(grep -c '<elf-symbol ' "$record") symbols)"
else
  echo "$full"
  echo "ok: compatible additions only; record them with abi/update.sh" \
    "in the same change"
fi

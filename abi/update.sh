#!/usr/bin/env bash
# Regenerates the ABI record abi/libws101.so.1.abi from a build, on purpose:
# run it in the same change that adds to the public API, so that the record
# always describes the API the tree promises (tests/abi/check_abi.sh
# compares every build against it).
#
#   bash abi/update.sh [BUILD_DIR]      (default: build)
#
# It builds the shared library in BUILD_DIR first, prints what changes in the
# record (abidiff, old record -> new library), and refuses to record a change
# that is not an addition unless WS101_ABI_BREAK=1 is set: an incompatible
# change needs a new soname (docs/versioning.md), not a new record.
# Needs abidw/abidiff (Debian abigail-tools) and a library built with -g
# (CMakeLists.txt adds it to every build type).
set -euo pipefail

src="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$src/build}"
record="$src/abi/libws101.so.1.abi"
lib="$build/libws101.so.1"

command -v abidw >/dev/null || {
  echo "abi/update.sh: abidw not found (apt-get install abigail-tools)" >&2
  exit 1
}
[ -f "$build/CMakeCache.txt" ] || {
  echo "abi/update.sh: $build is not a configured build directory" >&2
  exit 1
}
cmake --build "$build" --target ws101 -j2 >/dev/null

if [ -f "$record" ]; then
  rc=0
  abidiff --no-added-syms --hd2 "$src/include" --drop-private-types \
    "$record" "$lib" >/dev/null || rc=$?
  abidiff --hd2 "$src/include" --drop-private-types "$record" "$lib" || true
  if [ "$rc" -ne 0 ] && [ "${WS101_ABI_BREAK:-0}" != 1 ]; then
    echo "abi/update.sh: the change above is not only additions (abidiff" \
      "status $rc); not recorded. See docs/versioning.md." >&2
    exit 1
  fi
fi

# --drop-private-types with the public headers: the opaque handles are
# recorded as declarations only, so their private layout is not ABI.
# No paths, locations or DT_NEEDED: the record depends on the API only,
# not on where it was built or whether hiredis was found.
abidw --headers-dir "$src/include" --drop-private-types \
  --no-corpus-path --no-comp-dir-path --no-show-locs --no-elf-needed \
  --drop-undefined-syms --out-file "$record" "$lib"
echo "abi/update.sh: wrote ${record#"$src"/}" \
  "($(grep -c '<elf-symbol ' "$record") symbols)"

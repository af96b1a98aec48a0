#!/usr/bin/env bash
# abi.compat: a program of the 1.0 release runs unchanged on this library.
#
#   bash tests/abi/compat.sh FROZEN_INCLUDE_DIR LIBRARY WORK_DIR
#
# Compiles tests/abi/compat.c against the frozen release header only
# (FROZEN_INCLUDE_DIR/ws101.h, never include/), links it by soname to
# LIBRARY's directory, checks with ldd that it loads this build's
# libws101.so.1, and runs it there with LD_LIBRARY_PATH. Environment: CC,
# WS101_EXTRA_CFLAGS (the build's sanitizer flags).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
inc="${1:?usage: compat.sh FROZEN_INCLUDE_DIR LIBRARY WORK_DIR}"
lib="$(readlink -f "${2:?}")"
work="${3:?}"
libdir="$(dirname "$lib")"
cc="${CC:-cc}"
read -r -a extra <<<"${WS101_EXTRA_CFLAGS:-}"
mkdir -p "$work"

[ -f "$inc/ws101.h" ] || { echo "FAIL: no frozen header $inc/ws101.h" >&2; exit 1; }
# The program is linked by soname (-lws101 finds libws101.so in the build
# directory), as an application built on the release would have been.
"$cc" -std=c11 -Wall -Wextra -Werror "${extra[@]}" -I"$inc" \
  -o "$work/compat" "$here/compat.c" -L"$libdir" -lws101
needed="$(readelf -d "$work/compat" | sed -n 's/.*(NEEDED).*\[\(libws101[^]]*\)\]/\1/p')"
[ "$needed" = libws101.so.1 ] || {
  echo "FAIL: compat needs '$needed', expected libws101.so.1" >&2
  exit 1
}
loads="$(LD_LIBRARY_PATH="$libdir" ldd "$work/compat" | grep libws101 || true)"
case "$loads" in
  *"=> $libdir/libws101.so.1 "*) echo "compat loads $libdir/libws101.so.1" ;;
  *) echo "FAIL: compat does not load this build's library: $loads" >&2; exit 1 ;;
esac
LD_LIBRARY_PATH="$libdir" "$work/compat"

#!/usr/bin/env bash
# bench/peers/uws/build.sh OUT_DIR [--ssl] - builds the uWebSockets peer
# (uws_echo.cpp) from ../shared/thirdparty/uWebSockets into OUT_DIR.
#
# The third-party tree is read-only: uSockets is copied into OUT_DIR and
# built there. -march=x86-64-v3, not -march=native: valgrind (callgrind in
# bench/profile.sh) does not support AVX-512. --ssl builds the TLS variant
# (uws_echo_ssl, OpenSSL) for the wss rows. Prints the binary's path.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
tp="${WS101_THIRDPARTY:-$root/../shared/thirdparty}/uWebSockets"
out="${1:?usage: build.sh OUT_DIR [--ssl]}"
ssl=0
[ "${2:-}" = --ssl ] && ssl=1
[ -d "$tp/src" ] || { echo "uws build: no uWebSockets sources at $tp" >&2; exit 1; }
mkdir -p "$out"
out="$(cd "$out" && pwd)"
name=uws_echo
[ "$ssl" = 1 ] && name=uws_echo_ssl
us="$out/uSockets-ssl$ssl"
if [ ! -f "$us/uSockets.a" ]; then
  rm -rf "$us"
  cp -r "$tp/uSockets" "$us"
  make -s -C "$us" WITH_OPENSSL="$ssl" WITH_LTO=0 \
    CFLAGS="-O3 -march=x86-64-v3" >"$out/uSockets-ssl$ssl.log" 2>&1 ||
    { echo "uws build: uSockets failed (see $out/uSockets-ssl$ssl.log)" >&2; exit 1; }
fi
if [ ! -x "$out/$name" ] || [ "$here/uws_echo.cpp" -nt "$out/$name" ]; then
  flags=(-O3 -march=x86-64-v3 -std=c++2b -I"$us/src" -I"$tp/src")
  libs=("$us/uSockets.a" -lz)
  if [ "$ssl" = 1 ]; then
    flags+=(-DLIBUS_USE_OPENSSL -DWS101_UWS_SSL)
    libs+=(-lssl -lcrypto)
  else
    flags+=(-DLIBUS_NO_SSL)
  fi
  g++ "${flags[@]}" -o "$out/$name" "$here/uws_echo.cpp" "${libs[@]}" \
    >"$out/$name.log" 2>&1 ||
    { echo "uws build: $name failed (see $out/$name.log)" >&2; exit 1; }
fi
echo "$out/$name"

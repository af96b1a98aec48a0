#!/usr/bin/env bash
# Configures and builds libws101 with everything the tree has.
#
#   bash scripts/build.sh [--release|--debug|--asan] [-DOPTION=VALUE ...]
#
#   --release  (default) build/, CMAKE_BUILD_TYPE=Release
#   --debug    build/, CMAKE_BUILD_TYPE=Debug
#   --asan     build-asan/, Debug with WS101_SANITIZE=ON (ASan + UBSan)
#
# Other arguments go to cmake's configure step (WS101_WERROR is OFF unless
# given). WS101_BUILD_DIR overrides the build directory. Does not install
# packages: scripts/deps.sh does.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=release
cmake_args=()
for arg in "$@"; do
  case "$arg" in
    --release) mode=release ;;
    --debug) mode=debug ;;
    --asan) mode=asan ;;
    -h | --help)
      sed -n "2,12p" "$0"
      exit 0
      ;;
    -*) cmake_args+=("$arg") ;;
    *)
      echo "build.sh: unknown argument '$arg'" >&2
      exit 2
      ;;
  esac
done

case "$mode" in
  release) dir=build type=Release ;;
  debug) dir=build type=Debug ;;
  asan)
    dir=build-asan type=Debug
    cmake_args=(-DWS101_SANITIZE=ON "${cmake_args[@]}")
    ;;
esac
# -Werror only when asked (scripts/test.sh asks): a new compiler warning
# must not stop the demo. The cache would otherwise keep the last value.
case " ${cmake_args[*]} " in
  *" -DWS101_WERROR="*) ;;
  *) cmake_args=(-DWS101_WERROR=OFF "${cmake_args[@]}") ;;
esac
dir="${WS101_BUILD_DIR:-$dir}"
jobs="$(nproc 2>/dev/null || echo 2)"

echo "build.sh: $mode build in $dir/ (-j$jobs)"
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE="$type" "${cmake_args[@]}"
cmake --build "$dir" -j"$jobs"

#!/bin/sh
# lua.rockspec: `luarocks make` with the repository's rockspec, offline
# (--only-server of a nonexistent directory: nothing can be fetched), from
# a clean copy of the tree into a private rocks tree, for Lua 5.4; then
# `require "ws101"` through `luarocks path` of that tree.
# Usage: rockspec_test.sh SOURCE_DIR WORK_DIR
set -eu
src=$1
work=$2
command -v luarocks >/dev/null 2>&1 || { echo "*** SKIP: luarocks not found (apt-get install luarocks)"; exit 77; }
command -v lua5.4 >/dev/null 2>&1 || { echo "*** SKIP: lua5.4 not found"; exit 77; }
rm -rf "$work"
mkdir -p "$work/src"
# A clean copy: what a fresh clone holds (no build directories).
(cd "$src" && git ls-files -z 2>/dev/null | xargs -0 -I{} cp --parents {} "$work/src/") ||
  cp -r "$src/." "$work/src/"
rm -rf "$work/src/build" "$work/src/build-"*
cd "$work/src"
# The one rockspec, whatever version it names (lua54.version checks that
# it is the library's).
set -- bindings/lua/ws101-*.rockspec
[ $# -eq 1 ] && [ -f "$1" ] || { echo "FAIL: expected one rockspec, got: $*"; exit 1; }
luarocks --lua-version 5.4 --tree "$work/tree" --only-server="$work/no-server" \
  make "$1"
eval "$(luarocks --lua-version 5.4 --tree "$work/tree" path)"
cd /
out=$(lua5.4 -e '
  local ws101 = require "ws101"
  local so = package.searchpath("ws101.core", package.cpath)
  assert(so and so:find("/tree/", 1, true), "core.so from the rocks tree: " .. tostring(so))
  local loop = ws101.Loop()
  local t = loop:call_later(0.001, function() print("rock ok " .. ws101.VERSION) end)
  loop:run()
  loop:close()')
echo "$out"
case $out in "rock ok "*) ;; *) echo "FAIL"; exit 1 ;; esac

#!/bin/sh
# lua.install: `cmake --install` into a temporary prefix puts the module
# where lua5.4 and luajit look by default for /usr/local (lib/lua/<V>/ and
# share/lua/<V>/), so that with the interpreter's own default search path
# re-rooted at the prefix (and nothing else) `require "ws101"` serves and
# fetches.  Usage: install_test.sh BUILD_DIR LUA54_BIN LUAJIT_BIN
set -eu
build=$1
lua54=${2:-}
luajit=${3:-}
cmake=${CMAKE:-cmake}
prefix=$(mktemp -d "${TMPDIR:-/tmp}/ws101-lua-install.XXXXXX")
trap 'rm -rf "$prefix"' EXIT
"$cmake" --install "$build" --prefix "$prefix" >/dev/null

checked=0
for pair in "5.4:$lua54" "5.1:$luajit"; do
  ver=${pair%%:*}
  bin=${pair#*:}
  [ -n "$bin" ] || continue
  [ -f "$build/lua/$ver/ws101/core.so" ] || continue
  test -f "$prefix/lib/lua/$ver/ws101/core.so" || { echo "FAIL: no lib/lua/$ver/ws101/core.so"; exit 1; }
  test -f "$prefix/share/lua/$ver/ws101.lua" || { echo "FAIL: no share/lua/$ver/ws101.lua"; exit 1; }
  # The interpreter's built-in defaults (LUA_PATH/LUA_CPATH unset), with
  # /usr/local/ replaced by the prefix: what a /usr/local install sees.
  paths=$(env -u LUA_PATH -u LUA_CPATH -u LUA_PATH_5_4 -u LUA_CPATH_5_4 "$bin" -e \
    'print(package.path) print(package.cpath)')
  LUA_PATH=$(echo "$paths" | sed -n 1p | sed "s#/usr/local/#$prefix/#g")
  LUA_CPATH=$(echo "$paths" | sed -n 2p | sed "s#/usr/local/#$prefix/#g")
  export LUA_PATH LUA_CPATH
  out=$(cd / && "$bin" -e '
    local ws101 = require "ws101"
    assert(package.searchpath == nil or package.searchpath("ws101", package.path):find("/share/lua/"))
    local loop = ws101.Loop{ raise_errors = true }
    local srv = loop:server()
    srv:route("/", function(req) req:respond(200, "installed " .. ws101.VERSION) end)
    local port = assert(srv:listen("127.0.0.1", 0))
    local body
    loop:fetch_async("http://127.0.0.1:" .. port .. "/", function(r) body = r.body end)
    assert(loop:run_until(function() return body end, 20), "fetch timed out")
    srv:close()
    loop:close()
    print(body)')
  echo "$bin: $out"
  case $out in "installed "*) ;; *) echo "FAIL: $bin"; exit 1 ;; esac
  checked=$((checked + 1))
done
if [ "$checked" -eq 0 ]; then
  echo "*** SKIP: no Lua module was built"
  exit 77
fi
echo "lua.install: $checked interpreter(s) ok"

-- luarocks make bindings/lua/ws101-1.0.0-1.rockspec   (from the repository
-- root; offline: no dependency is fetched). Builds the library and the
-- SWIG module with CMake (needs cmake, swig, a C compiler and the headers
-- of libuv, OpenSSL, zlib, nghttp2) for the Lua luarocks runs with
-- (--lua-version 5.4, or 5.1 with LuaJIT's headers as LUA_INCDIR).
rockspec_format = "3.0"
package = "ws101"
version = "1.0.0-1"
source = {
  url = "git+file://.",
}
description = {
  summary = "HTTP/1.1 and WebSocket (RFC 6455 + permessage-deflate) server and client on libuv",
  detailed = [[
The Lua binding of libws101: require "ws101" gives servers with HTTP routes
and WebSocket endpoints, WebSocket and HTTP clients and timers, on ws101's
own loop or on luv's (the loop of require "luv", as in Neovim).
]],
  license = "MIT",
}
dependencies = {
  "lua >= 5.1",
}
build = {
  type = "command",
  build_command = [[
    cmake -S . -B build.luarocks -DCMAKE_BUILD_TYPE=Release \
      -DWS101_BUILD_TESTS=OFF "-DWS101_LUA_INCDIR=$(LUA_INCDIR)" \
      "-DCMAKE_C_FLAGS=$(CFLAGS)" &&
    cmake --build build.luarocks -j2 --target ws101_custom
  ]],
  install = {
    lua = { ["ws101"] = "bindings/lua/ws101.lua" },
    lib = { ["ws101.core"] = "build.luarocks/lua/custom/ws101/core.so" },
  },
}

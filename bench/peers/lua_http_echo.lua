-- Echo peer: lua-http (Debian lua-http, on cqueues), the Lua WebSocket
-- server ws101's Lua binding is compared with. Debian packages lua-http for
-- Lua 5.1-5.3 only, so it runs under LuaJIT.
--
-- usage: luajit lua_http_echo.lua PORT -- WebSocket echo at ws://127.0.0.1:PORT/ws
-- Prints "listening on http://127.0.0.1:PORT/" once ready, like ws101-demo.
local http_server = require "http.server"
local http_headers = require "http.headers"
local websocket = require "http.websocket"

local port = tonumber(arg[1]) or 8080

local server = assert(http_server.listen {
  host = "127.0.0.1",
  port = port,
  onstream = function(_, stream)
    local req = assert(stream:get_headers())
    local ws = websocket.new_from_stream(stream, req)
    if not ws then
      local res = http_headers.new()
      res:append(":status", "426")
      stream:write_headers(res, true)
      return
    end
    assert(ws:accept())
    while true do
      local data, opcode = ws:receive()
      if not data then break end
      if not ws:send(data, opcode) then break end
    end
    ws:close()
  end,
  onerror = function() end,
})
assert(server:listen())
print(("listening on http://127.0.0.1:%d/"):format(port))
io.stdout:flush()
assert(server:loop())

#!/usr/bin/env lua5.4
--[[ The echo server of echo_server.lua on luv's libuv loop: ws101 and luv
share one loop, driven by uv.run(), so luv timers, files and processes run
beside the WebSocket connections. A luv timer prints "tick N" every 100 ms.

    lua5.4 luv_server.lua [--port 8080]      (Debian: lua-luv)

Prints "listening on http://127.0.0.1:PORT/" when ready. Stop it with
Ctrl-C (a luv signal watcher closes everything and uv.run() returns).
]]
local uv = require "luv"
local ws101 = require "ws101"

local port = 8080
if arg[1] == "--port" then port = tonumber(arg[2]) end

local loop = ws101.Loop{ luv = true } -- the loop of require "luv"
local server = loop:server()
server:route("/", function(req) req:respond(200, "ws101 on luv\n") end)
server:websocket("/ws", function(ws, data, binary)
  local ok, err = ws:try_send(data, binary)
  if not ok then
    io.stderr:write("echo: send failed: " .. tostring(err) .. "\n")
    ws:close(ws101.is(err, ws101.Backpressure) and 1008 or 1011, "send failed")
  end
end)
local p = assert(server:listen("127.0.0.1", port))
print(("listening on http://127.0.0.1:%d/"):format(p))
io.stdout:flush()

local n = 0
local tick = uv.new_timer()
tick:start(100, 100, function()
  n = n + 1
  print("tick " .. n)
  io.stdout:flush()
end)

local sig = uv.new_signal()
sig:start("sigint", function()
  tick:close()
  sig:close()
  server:close() -- WebSockets get 1001; then nothing is left on the loop
end)

uv.run()
loop:close() -- after uv.run() returned (never from inside a callback)

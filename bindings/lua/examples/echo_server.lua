#!/usr/bin/env lua5.4
--[[ A ws101 echo server: serves a small page on / and echoes WebSocket
messages on /ws.

    lua5.4 echo_server.lua [--host 127.0.0.1] [--port 8080] [--quiet]
                                                  (--port 0 = a free port)

Prints "listening on http://HOST:PORT/" once it accepts connections. Stop
it with Ctrl-C. Runs under LuaJIT too.
]]
local ws101 = require "ws101"

local host, port, quiet = "127.0.0.1", 8080, false
local i = 1
while arg[i] do
  local a = arg[i]
  if a == "--host" then host, i = arg[i + 1], i + 1
  elseif a == "--port" then port, i = tonumber(arg[i + 1]), i + 1
  elseif a == "--quiet" then quiet = true
  else
    io.stderr:write("usage: echo_server.lua [--host H] [--port P] [--quiet]\n")
    os.exit(2)
  end
  i = i + 1
end
if not port then
  io.stderr:write("echo_server.lua: --port needs a number\n")
  os.exit(2)
end

local PAGE = [[<!doctype html>
<title>ws101 echo</title>
<p>WebSocket echo on <code>/ws</code>.</p>
<script>
const ws = new WebSocket(location.href.replace(/^http/, "ws") + "ws");
ws.onopen = () => ws.send("hello from the browser");
ws.onmessage = (e) => document.body.append(" echo: " + e.data);
</script>
]]

local function log(...)
  if not quiet then
    print(...)
    io.stdout:flush()
  end
end

local server = ws101.Server()

server:route("/", function(req)
  req:respond(200, PAGE, "text/html; charset=utf-8")
end)

server:websocket("/ws", {
  on_open = function(ws) log("open " .. ws.path .. " from " .. ws.remote_addr) end,
  on_message = function(ws, data, binary)
    -- Text comes back as text, binary as binary. A refused send is never
    -- dropped silently: the connection is closed with a reason instead.
    local ok, err = ws:try_send(data, binary)
    if not ok then
      io.stderr:write("echo: send failed: " .. tostring(err) .. "\n")
      ws:close(ws101.is(err, ws101.Backpressure) and 1008 or 1011,
               "send failed")
    end
  end,
  on_close = function(ws, code, reason) log("close " .. code .. " " .. reason) end,
})

local p, err = server:listen(host, port)
if not p then
  io.stderr:write(err .. "\n")
  os.exit(1)
end
print(("listening on http://%s:%d/"):format(host:find(":") and "[" .. host .. "]"
                                            or host, p))
io.stdout:flush()

local ok, e = pcall(ws101.run)
if not ok then
  if e ~= "interrupted!" then error(e, 0) end
  io.stderr:write("interrupted\n")
  server:close()
  ws101.run() -- let the connections close (1001)
end

-- A Lua server against independent clients: curl (HTTP routes, buffered
-- and streamed bodies, chunked responses, 404/426) and Python `websockets`
-- (text, binary, 1 MiB, subprotocol, permessage-deflate).
local T = require "support"
local ws101 = T.ws101
local HERE = T.env("WS101_LUA_TESTS", ".")

local loop = ws101.Loop{ raise_errors = true }
local srv = loop:server{ subprotocols = { "chat" }, max_body = 1048576 }
local done = 0 -- completed responses
local uploaded, closes = nil, {}

srv:route("/", function(req)
  req:respond(200, "hello " .. req:method() .. " " .. req:path() .. "?" ..
              req:query() .. "\n", nil, { ["X-Lua"] = T.interp })
  done = done + 1
end)
srv:route("/echo", function(req)
  req:respond(200, req:body(), req:header("content-type"))
  done = done + 1
end)
srv:route("/stream", function(req)
  req:write("one,")
  local n = 0
  loop:call_every(0.01, function(t)
    n = n + 1
    req:write(n == 3 and "three" or (n == 1 and "two," or ""))
    if n == 3 then
      t:close()
      req:finish()
      done = done + 1
    end
  end)
end)
srv:route("/upload", function(req)
  local total = 0
  req:read_body(function(r, data, last)
    total = total + #data
    if last then
      uploaded = total
      r:respond(200, "got " .. total .. "\n")
      done = done + 1
    end
  end)
end, { stream_body = true })
srv:websocket("/ws", {
  on_message = function(ws, data, binary) ws:send(data, binary) end,
  on_close = function(ws, code) closes[#closes + 1] = code end,
})
local port = assert(srv:listen("127.0.0.1", 0))
local base = "http://127.0.0.1:" .. port

-- Runs curl, waits for the server to complete `want` responses, returns
-- curl's output.
local function curl(args, want)
  local argv = { "curl", "-sS", "--max-time", "20" }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  local p = T.spawn(argv)
  T.wait(loop, function() return done >= want end, "curl " .. args[#args])
  local rc, out = T.finish(p)
  T.eq(rc, 0, "curl exit status (" .. out .. ")")
  return out
end

local cases = {
  { "curl GET, headers, query", function()
    if not T.have("curl") then T.skip("curl not found (apt-get install curl)") end
    local out = curl({ "-i", base .. "/?a=1" }, 1)
    T.check(out:find("HTTP/1.1 200", 1, true), out)
    T.check(out:find("X-Lua: " .. T.interp, 1, true), "custom header: " .. out)
    T.check(out:find("hello GET /?a=1", 1, true), out)
  end },
  { "curl POST buffered body echoed byte for byte", function()
    local body = ("x\0y"):rep(1000)
    local path = os.tmpname()
    local f = assert(io.open(path, "wb"))
    f:write(body)
    f:close()
    local out = curl({ "--data-binary", "@" .. path, "-H",
                       "Content-Type: application/octet-stream", base .. "/echo" }, 2)
    os.remove(path)
    T.eq(#out, #body, "echoed length")
    T.check(out == body, "echoed bytes")
  end },
  { "curl chunked streaming response", function()
    local out = curl({ "-i", base .. "/stream" }, 3)
    T.check(out:lower():find("transfer-encoding: chunked", 1, true), out)
    T.check(out:find("one,two,three", 1, true), out)
  end },
  { "curl streamed request body (stream_body route)", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "wb"))
    f:write(("z"):rep(300000))
    f:close()
    local out = curl({ "-T", path, "-H", "Transfer-Encoding: chunked",
                       base .. "/upload" }, 4)
    os.remove(path)
    T.eq(uploaded, 300000, "bytes streamed to read_body")
    T.check(out:find("got 300000", 1, true), out)
  end },
  { "curl plain request to a WebSocket route gets 426, unknown path 404", function()
    -- The library answers these two without a handler; the third URL is
    -- handled, and curl fetches in order, so it completing means all did.
    local out = curl({ "-o", "/dev/null", "-o", "/dev/null", "-o", "/dev/null",
                       "-w", "%{http_code} ", base .. "/ws", base .. "/nope",
                       base .. "/" }, 5)
    T.eq(out, "426 404 200 ", "status codes")
  end },
  { "python websockets: text, binary, 1 MiB, subprotocol, deflate", function()
    local py = "/usr/bin/python3"
    local r = os.execute(py .. " -c 'import websockets' 2>/dev/null")
    if not (r == true or r == 0) then
      T.skip("python3-websockets missing for " .. py)
    end
    local p = T.spawn({ py, HERE .. "/peers/ws_client.py",
                        "ws://127.0.0.1:" .. port .. "/ws", "--subprotocol", "chat" })
    T.wait(loop, function() return #closes >= 1 end, "websockets client close")
    local rc, out = T.finish(p)
    T.eq(rc, 0, "client exit status: " .. out)
    for _, w in ipairs({ "ok subprotocol chat", "ok deflate permessage-deflate",
                         "ok text", "ok binary", "ok 1MiB", "ok closed" }) do
      T.check(out:find(w, 1, true), "missing '" .. w .. "' in: " .. out)
    end
    T.eq(closes[1], 1000, "close code seen by the Lua server")
  end },
  { "server close releases every callback", function()
    local closed = false
    srv:close(function() closed = true end)
    T.wait(loop, function() return closed end, "server close")
    loop:close()
    local cbs, reqs = ws101.stats()
    T.eq(cbs, 0, "live callbacks after close")
    T.eq(reqs, 0, "live requests after close")
  end },
}

T.run(cases)

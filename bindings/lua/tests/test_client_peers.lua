-- The Lua client against independent servers: the C demo (ws101-demo:
-- WebSocket echo, server-initiated close, HTTP routes through fetch) and
-- the npm `ws` server (text, binary, subprotocol, permessage-deflate).
local T = require "support"
local ws101 = T.ws101
local HERE = T.env("WS101_LUA_TESTS", ".")
local DEMO = T.env("WS101_DEMO_BIN")

local loop = ws101.Loop{ raise_errors = true }

-- Opens `url`, sends `msgs` one after the other (each {data, binary}),
-- collects the echoes, closes with 1000. Returns the ws and the echoes.
local function echo_session(url, msgs, opts)
  local got, i = {}, 1
  local ws = assert(loop:connect(url, {
    on_open = function(ws) ws:send(msgs[1][1], msgs[1][2]) end,
    on_message = function(ws, data, binary)
      got[#got + 1] = { data, binary }
      i = i + 1
      if msgs[i] then ws:send(msgs[i][1], msgs[i][2]) else ws:close(1000, "bye") end
    end,
    on_error = function(_, e) T.fail("client error: " .. tostring(e)) end,
  }, opts))
  T.wait(loop, function() return ws.closed end, "session with " .. url)
  return ws, got
end

local function check_echoes(msgs, got)
  T.eq(#got, #msgs, "number of echoes")
  for k, m in ipairs(msgs) do
    T.check(got[k][1] == m[1], "echo " .. k .. " differs")
    T.eq(got[k][2], m[2] and true or false, "echo " .. k .. " type")
  end
end

local MSGS = {
  { "hello" }, { "ünïcödé ✓" }, { ("\0\1\2\255"):rep(64), true },
  { ("lua"):rep(100000) }, { "" },
}

local function start_demo()
  if not DEMO then T.skip("WS101_DEMO_BIN not set (ws101-demo not built)") end
  local p = T.spawn({ DEMO, "--port", "0" })
  local port = T.read_until(p, "listening on http://127.0.0.1:(%d+)/")
  return p, tonumber(port)
end

local cases = {
  { "client vs the C demo: echo of text, binary, 300 kB, empty", function()
    local p, port = start_demo()
    local ws, got = echo_session("ws://127.0.0.1:" .. port .. "/ws", MSGS)
    check_echoes(MSGS, got)
    T.eq(ws.close_code, 1000, "close code")
    T.check(ws.extensions:find("permessage-deflate", 1, true),
            "deflate negotiated: " .. tostring(ws.extensions))

    -- The server closes: "close:CODE:REASON".
    local code, reason
    local w2 = assert(loop:connect("ws://127.0.0.1:" .. port .. "/ws", {
      on_open = function(w) w:send("close:4001:from demo") end,
      on_close = function(_, c, r) code, reason = c, r end,
    }))
    T.wait(loop, function() return w2.closed end, "server-initiated close")
    T.eq(code, 4001, "close code from the demo")
    T.eq(reason, "from demo", "close reason from the demo")

    -- HTTP client against the demo's routes.
    local r1, r2
    loop:fetch_async("http://127.0.0.1:" .. port .. "/hello", function(r, e)
      r1 = r or e
    end)
    loop:fetch_async("http://127.0.0.1:" .. port .. "/echo", {
      method = "POST", body = "posted\0bytes",
      headers = { ["Content-Type"] = "application/octet-stream" },
    }, function(r, e) r2 = r or e end)
    T.wait(loop, function() return r1 and r2 end, "fetches")
    T.eq(r1.status, 200, "GET /hello status")
    T.check(#r1.body > 0, "GET /hello body")
    T.eq(r2.status, 200, "POST /echo status")
    T.eq(r2.body, "posted\0bytes", "POST /echo body")
    T.kill(p)
    T.finish(p)
  end },
  { "client errors: refused port, bad URL", function()
    -- A port nobody listens on: take a free one from a server, close it.
    local s = loop:server()
    local port = assert(s:listen("127.0.0.1", 0))
    local closed = false
    s:close(function() closed = true end)
    T.wait(loop, function() return closed end, "probe server close")
    local err, code
    local ws = assert(loop:connect("ws://127.0.0.1:" .. port .. "/", {
      on_error = function(_, e) err = e end,
      on_close = function(_, c) code = c end,
    }))
    T.wait(loop, function() return ws.closed end, "refused connect")
    T.check(ws101.is(err, ws101.ConnectionError), "typed error: " .. tostring(err))
    T.eq(err.code, ws101.core.WS101_ECONNREFUSED, "error code")
    T.eq(code, 1006, "close code after a failed connect")
    local nows, msg, rc = loop:connect("http://nope", {})
    T.eq(nows, nil, "bad URL gives nil")
    T.eq(rc, ws101.core.WS101_EURL, "bad URL code (" .. tostring(msg) .. ")")
    T.check(not pcall(ws.send, ws, "x"), "send after close raises")
    local ok, e = pcall(ws.send, ws, "x")
    T.check(not ok and ws101.is(e, ws101.Closed), "send after close: Closed")
  end },
  { "client vs node ws: echo, subprotocol, deflate", function()
    if not T.have("node") then T.skip("node not found") end
    local p = T.spawn({ "node", HERE .. "/peers/node_echo_server.js" })
    local port = T.read_until(p, "listening on ws://127.0.0.1:(%d+)/")
    local ws, got = echo_session("ws://127.0.0.1:" .. port .. "/", MSGS,
                                 { subprotocols = { "chat" } })
    check_echoes(MSGS, got)
    T.eq(ws.subprotocol, "chat", "subprotocol")
    T.check(ws.extensions:find("permessage-deflate", 1, true),
            "deflate with node ws: " .. tostring(ws.extensions))
    T.kill(p)
    T.finish(p)
  end },
  { "blocking fetch on a private loop", function()
    local p, port = start_demo()
    local r, msg = ws101.fetch("http://127.0.0.1:" .. port .. "/hello", { timeout = 20 })
    T.check(r, msg)
    T.eq(r.status, 200, "status")
    local inside
    loop:call_soon(function() inside = { pcall(ws101.fetch, "http://127.0.0.1:1/") } end)
    T.wait(loop, function() return inside end, "call_soon")
    T.eq(inside[1], false, "blocking fetch refused inside a callback")
    T.check(tostring(inside[2]):find("fetch_async", 1, true), tostring(inside[2]))
    local nr, m2, code = ws101.fetch("http://127.0.0.1:1/", { timeout = 20 })
    T.eq(nr, nil, "refused fetch")
    T.check(code and code < 0, "refused fetch code: " .. tostring(m2))
    T.kill(p)
    T.finish(p)
    loop:close()
  end },
}

T.run(cases)

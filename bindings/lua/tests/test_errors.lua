-- Errors: a Lua error inside a callback is reported with its traceback,
-- the affected connection is put right (500 / 1011) and the loop keeps
-- serving; raise_errors makes run() raise it; a refused send raises
-- ws101.Backpressure (never a silent drop) and on_drain follows.
local T = require "support"
local ws101 = T.ws101

local reported = {}
local loop = ws101.Loop{ on_error = function(msg) reported[#reported + 1] = msg end }
local srv = loop:server{ ws_max_backpressure = 65536 }
local served = 0

srv:route("/boom", function(req)
  served = served + 1
  error("boom in handler")
end)
srv:route("/boom-late", function(req)
  req:write("partial")
  error(setmetatable({}, { __tostring = function() return "table error" end }))
end)
srv:route("/ok", function(req)
  served = served + 1
  req:respond(200, "fine")
end)
srv:websocket("/ws", {
  on_message = function(ws, data)
    if data == "boom" then error("boom in on_message") end
    ws:send(data)
  end,
})
local bp = {}
srv:websocket("/flood", {
  on_open = function(ws)
    -- Messages below the limit, until the socket stops taking them and
    -- the queue reaches WS_MAX_BACKPRESSURE (bounded: 500 x 60 kB).
    local msg = ("b"):rep(60000)
    bp.accepted = 0
    for _ = 1, 500 do
      local ok, err = pcall(ws.send, ws, msg)
      if not ok then
        bp.err = err
        break
      end
      bp.accepted = bp.accepted + 1
    end
    bp.buffered = ws:buffered()
  end,
  on_drain = function(ws)
    if not bp.drained then
      bp.drained = true
      bp.after_drain = ws:send("after drain")
    end
  end,
})
local port = assert(srv:listen("127.0.0.1", 0))
local base = "http://127.0.0.1:" .. port

local function get(path)
  local res
  loop:fetch_async(base .. path, function(r, e) res = r or e end)
  T.wait(loop, function() return res end, "GET " .. path)
  return res
end

local cases = {
  { "handler error: 500, traceback reported, next request served", function()
    local r = get("/boom")
    T.eq(r.status, 500, "status after a handler error")
    T.eq(#reported, 1, "one error reported")
    T.check(reported[1]:find("boom in handler", 1, true), reported[1])
    T.check(reported[1]:find("stack traceback", 1, true), "traceback: " .. reported[1])
    T.check(reported[1]:find("test_errors.lua", 1, true), "names the file: " .. reported[1])
    T.eq(get("/ok").body, "fine", "the loop keeps serving")
  end },
  { "error after the stream started: response ended, __tostring used", function()
    local r = get("/boom-late")
    T.eq(r.status, 200, "head already sent")
    T.eq(r.body, "partial", "the stream was ended cleanly")
    T.check(reported[2] and reported[2]:find("table error", 1, true),
            "error object via __tostring: " .. tostring(reported[2]))
  end },
  { "on_message error: the client sees 1011, others unaffected", function()
    local code, echo
    local url = "ws://127.0.0.1:" .. port .. "/ws"
    local bad = assert(loop:connect(url, {
      on_open = function(ws) ws:send("boom") end,
      on_close = function(_, c) code = c end,
    }))
    local good = assert(loop:connect(url, {
      on_open = function(ws) ws:send("still here") end,
      on_message = function(ws, d) echo = d; ws:close() end,
    }))
    T.wait(loop, function() return bad.closed and good.closed end, "both closed")
    T.eq(code, 1011, "close code after a callback error")
    T.eq(echo, "still here", "the other connection was served")
    T.check(reported[3]:find("boom in on_message", 1, true), reported[3])
  end },
  { "send refused with ws101.Backpressure, then on_drain", function()
    local n, sizes = 0, {}
    local c = assert(loop:connect("ws://127.0.0.1:" .. port .. "/flood", {
      on_message = function(ws, d)
        n = n + 1
        sizes[n] = #d
        if d == "after drain" then ws:close() end
      end,
    }))
    T.wait(loop, function() return c.closed end, "flood client")
    T.check(bp.err, "no send was refused in 500 x 60 kB")
    T.check(bp.accepted >= 1, "the first send on an empty queue was accepted")
    T.check(bp.buffered > 0, "data was waiting in the queue: " .. tostring(bp.buffered))
    T.check(ws101.is(bp.err, ws101.Backpressure), "typed: " .. tostring(bp.err))
    T.check(ws101.is(bp.err, ws101.Error), "a ws101.Error")
    T.eq(bp.err.code, ws101.core.WS101_EBACKPRESSURE, "code")
    T.eq(bp.drained, true, "on_drain fired")
    T.eq(bp.after_drain, true, "send after drain accepted")
    T.eq(n, bp.accepted + 1, "every accepted message arrived, then the one after drain")
    T.eq(sizes[1], 60000, "first message intact")
  end },
  { "programming mistakes raise at the call", function()
    T.check(not pcall(srv.route, srv, "/x", "not a function"), "route needs a function")
    T.check(not pcall(ws101.Server, { no_such_option = 1 }), "unknown option")
    local ok, e = pcall(ws101.Server, { loop = loop, max_body = -5 })
    T.check(not ok and ws101.is(e, ws101.InvalidArgument), "out of range: " .. tostring(e))
    local w
    srv:route("/accept", function(req)
      w = req
      req:respond(204)
    end)
    get("/accept")
    ok, e = pcall(w.respond, w, 200, "again")
    T.check(not ok and ws101.is(e, ws101.StateError), "completed request: " .. tostring(e))
  end },
  { "raise_errors: run() raises the callback's error", function()
    local l2 = ws101.Loop{ raise_errors = true }
    l2:call_later(0, function() error("raised out of run") end)
    local ok, e = pcall(l2.run, l2)
    T.check(not ok and tostring(e):find("raised out of run", 1, true), tostring(e))
    l2:close()
  end },
  { "timer error reported, the timer keeps firing", function()
    local n = 0
    local before = #reported
    local t
    t = loop:call_every(0.005, function()
      n = n + 1
      if n == 1 then error("timer boom") end
      if n == 3 then t:close() end
    end)
    T.wait(loop, function() return n >= 3 end, "timer ticks")
    T.eq(#reported, before + 1, "one timer error")
    T.check(reported[#reported]:find("timer boom", 1, true), reported[#reported])
    local closed = false
    srv:close(function() closed = true end)
    T.wait(loop, function() return closed end, "server close")
    loop:close()
    T.eq((ws101.stats()), 0, "no callback left")
  end },
}

T.run(cases)

-- Lifetimes: Lua objects of handles collected while their connections are
-- open, requests never answered, and 1,000 WebSocket connections (plus
-- 300 HTTP requests) opened and closed with no growth of the Lua heap
-- (collectgarbage("count")), of RSS, or of the callbacks held by C.
local T = require "support"
local ws101 = T.ws101

local loop = ws101.Loop{ raise_errors = true }
local srv = loop:server()
local server_closes = 0
srv:websocket("/ws", {
  on_message = function(ws, d, b)
    collectgarbage("collect") -- collect in the middle of a callback
    ws:send(d, b)
  end,
  on_close = function() server_closes = server_closes + 1 end,
})
local pending_reqs = 0
srv:route("/never", function(req)
  pending_reqs = pending_reqs + 1 -- dropped without an answer
end)
srv:route("/hello", function(req) req:respond(200, "hi") end)
local port = assert(srv:listen("127.0.0.1", 0))
local url = "ws://127.0.0.1:" .. port .. "/ws"

-- Opens n connections that each exchange `rounds` messages and close.
-- No Lua reference to any WebSocket object is kept by the test.
local function batch(n, rounds)
  local finished = 0
  for _ = 1, n do
    local count = 0
    assert(loop:connect(url, {
      on_open = function(ws) ws:send("m0") end,
      on_message = function(ws, d)
        count = count + 1
        if count < rounds then ws:send("m" .. count) else ws:close(1000) end
      end,
      on_close = function() finished = finished + 1 end,
    }))
  end
  collectgarbage("collect")
  T.wait(loop, function()
    collectgarbage("step")
    return finished == n
  end, n .. " connections")
end

local function fetch_batch(n)
  local got = 0
  for _ = 1, n do
    loop:fetch_async("http://127.0.0.1:" .. port .. "/hello", function(r, e)
      T.check(r and r.status == 200, "fetch failed: " .. tostring(e))
      got = got + 1
    end)
  end
  T.wait(loop, function() return got == n end, n .. " fetches")
end

-- The deadline timer of the last T.wait is closed, and its callback
-- released, on the next iteration: run the ready work, then collect.
local function settle()
  for _ = 1, 3 do loop:run_once(false) end
  for _ = 1, 3 do collectgarbage("collect") end
end

local cases = {
  { "objects collected in flight: no crash, callbacks released", function()
    batch(20, 50)
    T.wait(loop, function() return server_closes == 20 end, "server-side closes")
    settle()
    local cbs = ws101.stats()
    -- Left: the two route callbacks and the /ws route's.
    T.eq(cbs, 3, "only the routes hold callbacks")
  end },
  { "a request dropped unanswered, its client gone", function()
    local err
    loop:fetch_async("http://127.0.0.1:" .. port .. "/never",
                     { response_timeout_ms = 200 }, function(r, e) err = e end)
    T.wait(loop, function() return err end, "client timeout")
    collectgarbage("collect")
    T.eq(pending_reqs, 1, "handler ran")
  end },
  { "1,000 connections and 300 requests: no growth", function()
    batch(200, 2) -- warm-up: pools, allocator, JIT
    fetch_batch(50)
    settle()
    local heap0, rss0 = collectgarbage("count"), T.rss_kb()
    local cbs0 = ws101.stats()
    for _ = 1, 16 do batch(50, 2) end -- 800 more: 1,000 in all
    fetch_batch(250)
    T.wait(loop, function() return server_closes == 20 + 1000 end, "server closes")
    settle()
    local heap1, rss1 = collectgarbage("count"), T.rss_kb()
    local cbs1 = ws101.stats()
    io.stdout:write(("   Lua heap %.0f -> %.0f KiB, RSS %d -> %d KiB, callbacks %d -> %d\n")
                    :format(heap0, heap1, rss0, rss1, cbs0, cbs1))
    T.eq(cbs1, cbs0, "callbacks held by C")
    T.check(heap1 - heap0 < 256, "Lua heap grew by " .. (heap1 - heap0) .. " KiB")
    if os.getenv("WS101_LUA_PRELOAD") then
      -- ASan quarantines freed memory: RSS says nothing there; ASan's own
      -- checks and the two counts above do.
      io.stdout:write("   (RSS not checked under ASan)\n")
    else
      T.check(rss1 - rss0 < 4096, "RSS grew by " .. (rss1 - rss0) .. " KiB")
    end
  end },
  { "loop close frees what is left", function()
    -- The server would wait for the unanswered request forever (in-flight
    -- responses are let finish): loop:close() frees it with the rest.
    T.eq((select(2, ws101.stats())), 1, "the unanswered request is alive")
    srv:close()
    loop:close()
    local cbs, reqs = ws101.stats()
    T.eq(cbs, 0, "callbacks")
    T.eq(reqs, 0, "request states (the unanswered one included)")
  end },
}

T.run(cases)

-- Pub/sub from Lua: a /chat/ROOM route subscribes each connection to ROOM
-- and publishes what it sends there (sender included). Peers: the Lua
-- ws101 client and Python `websockets` (/usr/bin/python3); counts and
-- stats checked as connections come and go; the Redis backplane between
-- two servers on a redis-server started here.
local T = require "support"
local ws101 = T.ws101
local HERE = os.getenv("WS101_LUA_TESTS") or "."

local loop = ws101.Loop{ raise_errors = true }

local function chat(srv)
  srv:websocket("/chat/*", {
    on_open = function(ws)
      ws.room = ws.path:sub(#"/chat/" + 1)
      T.eq(ws:subscribe(ws.room), true, "subscribed")
      T.eq(ws:subscribe(ws.room), false, "already subscribed")
      T.check(ws:is_subscribed(ws.room), "is_subscribed")
      T.eq(ws:subscriptions(), 1, "subscriptions")
      T.check(ws.server == srv, "ws.server")
    end,
    on_message = function(ws, data, binary)
      ws.server:publish(ws.room, data, binary)
    end,
  })
end

local function collector(url)
  local c = { got = {} }
  c.ws = assert(loop:connect(url, {
    on_message = function(_, d, binary)
      c.got[#c.got + 1] = binary and ("bin:" .. d) or d
    end,
  }))
  function c.has(...)
    for _, want in ipairs({ ... }) do
      local found = false
      for _, g in ipairs(c.got) do if g == want then found = true end end
      if not found then return false end
    end
    return true
  end
  return c
end

local srv = loop:server{}
chat(srv)
local port = assert(srv:listen("127.0.0.1", 0))
local url = "ws://127.0.0.1:" .. port .. "/chat/lobby"

T.run {
  { "chat room: Lua clients and python websockets", function()
    local a, b = collector(url), collector(url)
    local other = collector("ws://127.0.0.1:" .. port .. "/chat/other")
    T.wait(loop, function()
      return srv:subscribers("lobby") == 2 and srv:subscribers("other") == 1
             and a.ws.open and b.ws.open
    end, "three subscribers")
    local st = srv:pubsub_stats()
    T.eq(st.topics, 2, "topics")
    T.eq(st.subscriptions, 3, "subscriptions")
    T.check(st.memory > 0, "bookkeeping bytes")
    local ok, err = pcall(a.ws.subscribe, a.ws, "lobby")
    T.check(not ok and err.errname == "WS101_ENOTSUP", "client cannot subscribe")

    local py = "/usr/bin/python3"
    local r = os.execute(py .. " -c 'import websockets' 2>/dev/null")
    local want = { "from A", "from B", "bin:\0\255", "from py" }
    if r == true or r == 0 then
      local p = T.spawn({ py, HERE .. "/peers/chat_client.py", url, "from A",
                          "from B", "bytes:00ff", "from py" })
      T.wait(loop, function() return srv:subscribers("lobby") == 3 end,
             "the python peer subscribed")
      a.ws:send("from A")
      b.ws:send("from B")
      b.ws:send("\0\255", true)
      -- The peer leaves once it has all four: its subscription goes too.
      T.wait(loop, function() return srv:subscribers("lobby") == 2 end,
             "the python peer left")
      local rc, out = T.finish(p)
      T.eq(rc, 0, "peer exit status: " .. out)
      for _, w in ipairs({ "got from A", "got from B", "got bytes:00ff",
                           "got from py" }) do
        T.check(out:find(w, 1, true), "missing '" .. w .. "' in: " .. out)
      end
    else
      io.stdout:write("*** SKIP (part): python3-websockets missing for " ..
                      py .. "\n")
      a.ws:send("from A")
      b.ws:send("from B")
      b.ws:send("\0\255", true)
      want[4] = nil
    end
    for _, c in ipairs({ a, b }) do
      T.wait(loop, function() return c.has((table.unpack or unpack)(want)) end,
             "every message on each client")
    end
    T.eq(#other.got, 0, "another room got nothing")
    -- Unsubscribing on the server side stops deliveries to that client.
    local sws
    for _, w in pairs(loop._conns) do
      if w.room == "other" then sws = w end
    end
    T.eq(sws:unsubscribe("other"), true, "unsubscribed")
    T.eq(sws:unsubscribe("other"), false, "not subscribed any more")
    T.eq(sws:subscriptions(), 0, "no subscriptions")
    T.eq(srv:publish("other", "lost"), 0, "nobody in other")
    a.ws:close()
    T.wait(loop, function() return a.ws.closed and srv:subscribers("lobby") == 1 end,
           "a's subscription ended with it")
    T.eq(srv:publish("lobby", "bye"), 1, "one subscriber left")
    T.eq(srv:publish("nobody", "x"), 0, "no subscriber")
    T.eq(srv:publish("lobby", "\1", ws101.BINARY), 1, "explicit opcode")
    T.wait(loop, function() return b.has("bye", "bin:\1") end, "direct publish")
    local ok2, e2 = pcall(srv.publish, srv, "lobby", "\255")
    T.check(not ok2 and ws101.is(e2, ws101.Utf8Error), "invalid UTF-8 text")
    local ok3, e3 = pcall(srv.publish, srv, "", "x")
    T.check(not ok3 and ws101.is(e3, ws101.InvalidArgument), "empty topic")
    b.ws:close()
    other.ws:close()
    T.wait(loop, function()
      return b.ws.closed and other.ws.closed and srv:pubsub_stats().topics == 0
    end, "every subscription gone")
  end },
  { "unsubscribe, and the Redis backplane between two servers", function()
    local probe = loop:server{}
    local rport = assert(probe:listen("127.0.0.1", 0))
    probe:close()
    if not T.have("redis-server") then
      io.stdout:write("*** SKIP (part): redis-server not found\n")
      return
    end
    local s1, s2 = loop:server{}, loop:server{}
    chat(s1)
    chat(s2)
    s1:listen("127.0.0.1", 0)
    s2:listen("127.0.0.1", 0)
    local ev = { {}, {} }
    local rurl = "redis://127.0.0.1:" .. rport
    local r1, msg, code = s1:attach_redis(rurl, "luatest:", function(e)
      ev[1][#ev[1] + 1] = e end)
    if not r1 and code == ws101.core.WS101_ENOTSUP then
      io.stdout:write("*** SKIP (part): built without hiredis\n")
      return
    end
    assert(r1, msg)
    assert(s2:attach_redis(rurl, "luatest:", function(e)
      ev[2][#ev[2] + 1] = e end))
    local again, _, c2 = s1:attach_redis(rurl)
    T.check(not again and c2 == ws101.core.WS101_ESTATE, "one backplane")
    local redis = T.spawn({ "redis-server", "--port", tostring(rport),
                            "--bind", "127.0.0.1", "--save", "",
                            "--appendonly", "no" }, 60)
    T.wait(loop, function() return r1:connected() and s2.redis:connected() end,
           "both backplanes up")
    local a = collector("ws://127.0.0.1:" .. s1:port() .. "/chat/r")
    local b = collector("ws://127.0.0.1:" .. s2:port() .. "/chat/r")
    T.wait(loop, function()
      return s1:subscribers("r") == 1 and s2:subscribers("r") == 1 and
             a.ws.open and b.ws.open
    end, "one subscriber per server")
    a.ws:send("over redis")
    T.wait(loop, function() return b.has("over redis") end, "across Redis")
    T.wait(loop, function() return a.has("over redis") end, "own node")
    T.eq(#a.got, 1, "never twice to the publisher's node")
    T.eq(s2:pubsub_stats().received, 1, "received from Redis")
    T.kill(redis)
    T.wait(loop, function()
      return ev[1][#ev[1]] == "down" and ev[2][#ev[2]] == "down"
    end, "both report Redis down")
    -- Attached before Redis ran: refused first, then up, then down.
    T.eq(table.concat(ev[1], " "):match("up down$"), "up down", "events")
    T.finish(redis)
    T.check(not r1:connected(), "not connected")
    a.ws:close()
    b.ws:close()
    T.wait(loop, function() return a.ws.closed and b.ws.closed end, "closed")
    local done = 0
    s1:close(function() done = done + 1 end)
    s2:close(function() done = done + 1 end)
    T.wait(loop, function() return done == 2 end, "servers closed")
    T.check(not r1:connected(), "a closed server's backplane")
  end },
  { "closing releases every callback", function()
    local closed = false
    srv:close(function() closed = true end)
    T.wait(loop, function() return closed end, "server close")
    loop:close()
    local cbs, reqs = ws101.stats()
    T.eq(cbs, 0, "live callbacks after close")
    T.eq(reqs, 0, "live requests after close")
  end },
}

-- The rest of the feature set, client and server both in Lua: Origin
-- allow-list (403), accept_websocket with a handler-chosen subprotocol and
-- headers, pause/resume, pings and pongs, fragments, deflate off.
local T = require "support"
local ws101 = T.ws101

local loop = ws101.Loop{ raise_errors = true }
local srv = loop:server{ origins = { "http://good.example" } }
local events = {}
srv:route("/pick", function(req)
  local offered = req:ws_protocols()
  events.offered = table.concat(offered, ",")
  events.token = req:header("x-token")
  local ws = req:accept_websocket({
    on_message = function(w, d) w:send("picked " .. w.subprotocol .. " " .. d) end,
  }, offered[#offered])
  T.check(ws, "accepted")
end)
local paused_at
srv:websocket("/pause", {
  on_open = function(ws)
    ws:pause()
    paused_at = true
    loop:call_later(0.05, function()
      events.resumed = true
      ws:resume()
    end)
  end,
  on_message = function(ws, d)
    events.got_after_resume = events.resumed == true
    ws:send(d)
  end,
})
srv:websocket("/ping", {
  on_ping = function(ws, d) events.ping = d end,
  on_message = function(ws, d) ws:ping("srv-ping") end,
})
local port = assert(srv:listen("127.0.0.1", 0))
local base = "ws://127.0.0.1:" .. port

local fsrv = loop:server{ ws_stream_fragments = true, deflate = false }
local frags = {}
fsrv:websocket("/frag", {
  on_fragment = function(ws, data, binary, fin)
    frags[#frags + 1] = { data, binary, fin }
    if fin then ws:close(1000) end
  end,
})
local fport = assert(fsrv:listen("127.0.0.1", 0))

local cases = {
  { "Origin allow-list: 403 for another origin", function()
    local err
    local ws = assert(loop:connect(base .. "/pause", {
      on_error = function(w, e) err = e; events.status = w:response_status() end,
    }, { headers = { Origin = "http://evil.example" } }))
    T.wait(loop, function() return ws.closed end, "refused handshake")
    T.check(err, "an error")
    T.eq(events.status, 403, "handshake status")
  end },
  { "accept_websocket: subprotocol chosen by the handler, request headers", function()
    local reply
    local ws = assert(loop:connect(base .. "/pick", {
      on_open = function(w) w:send("x") end,
      on_message = function(w, d) reply = d; w:close() end,
    }, { subprotocols = { "a", "b" },
         headers = { Origin = "http://good.example", ["X-Token"] = "t1" } }))
    T.wait(loop, function() return ws.closed end, "pick")
    T.eq(events.offered, "a,b", "offered subprotocols")
    T.eq(events.token, "t1", "custom header")
    T.eq(reply, "picked b x", "reply")
  end },
  { "pause/resume: nothing is read while paused", function()
    local echo
    local ws = assert(loop:connect(base .. "/pause", {
      on_open = function(w) w:send("early") end,
      on_message = function(w, d) echo = d; w:close() end,
    }, { headers = { Origin = "http://good.example" } }))
    T.wait(loop, function() return ws.closed end, "pause session")
    T.check(paused_at, "paused")
    T.eq(echo, "early", "echo")
    T.eq(events.got_after_resume, true, "delivered only after resume")
  end },
  { "pings and pongs in both directions", function()
    local pong, srvping
    local ws = assert(loop:connect(base .. "/ping", {
      on_open = function(w) w:ping("cli-ping") end,
      on_pong = function(w, d) pong = d; w:send("now ping me") end,
      on_ping = function(w, d) srvping = d; w:close() end,
    }, { headers = { Origin = "http://good.example" } }))
    T.wait(loop, function() return ws.closed end, "ping session")
    T.eq(events.ping, "cli-ping", "server saw the client's ping")
    T.eq(pong, "cli-ping", "client got the pong")
    T.eq(srvping, "srv-ping", "client saw the server's ping")
  end },
  { "fragments streamed to on_fragment; deflate off", function()
    local ws
    ws = assert(loop:connect("ws://127.0.0.1:" .. fport .. "/frag", {
      on_open = function(w)
        w:send_fragment("ab", false, false)
        w:send_fragment("cd", false, false, true)
        w:send_fragment("ef", false, true, true)
      end,
    }))
    T.wait(loop, function() return ws.closed end, "fragments")
    T.eq(ws.extensions, "", "no permessage-deflate")
    local all = {}
    for _, f in ipairs(frags) do all[#all + 1] = f[1] end
    T.eq(table.concat(all), "abcdef", "fragment payloads")
    T.eq(frags[1][2], false, "text fragments")
    T.eq(frags[#frags][3], true, "last one has fin")
    srv:close()
    fsrv:close()
    loop:close()
    T.eq((ws101.stats()), 0, "callbacks released")
  end },
}

T.run(cases)

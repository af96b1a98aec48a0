-- ws101 on luv's loop: a server and a client on the libuv loop of
-- `require "luv"`, driven only by uv.run(), with luv timers firing
-- between WebSocket messages and a luv file read on the same loop.
local T = require "support"
local ws101 = T.ws101
local ok_luv, uv = pcall(require, "luv")
if not ok_luv then T.skip("luv not found (apt-get install lua-luv): " .. tostring(uv)) end

local cases = {
  { "server + client on luv's loop, luv timer between messages", function()
    local loop = ws101.Loop{ luv = true, raise_errors = false,
                             on_error = function(m) T.fail("callback error: " .. m) end }
    local log = {}
    local srv = loop:server()
    srv:websocket("/ws", function(ws, d) ws:send("echo " .. d) end)
    local port = assert(srv:listen("127.0.0.1", 0))

    local ticks, echoes, N = 0, 0, 5
    local client
    local timer = uv.new_timer()
    client = assert(loop:connect("ws://127.0.0.1:" .. port .. "/ws", {
      on_open = function()
        -- Each luv tick sends one message; echoes arrive in between.
        timer:start(10, 10, function()
          ticks = ticks + 1
          log[#log + 1] = "tick"
          if ticks <= N then client:send("m" .. ticks) end
        end)
      end,
      on_message = function(ws, d)
        echoes = echoes + 1
        log[#log + 1] = d
        if echoes == N then
          timer:stop()
          timer:close()
          ws:close(1000, "done")
        end
      end,
      on_close = function() srv:close() end,
    }))

    -- A luv file operation on the same loop.
    local read_ok
    uv.fs_open(arg[0], "r", 420, function(err, fd)
      T.check(not err, err)
      uv.fs_read(fd, 5, 0, function(e2, data)
        read_ok = (not e2) and #data == 5
        uv.fs_close(fd, function() end)
      end)
    end)

    -- The deadline is a luv timer too (unref'd: it never keeps the loop).
    local deadline = uv.new_timer()
    local timed_out = false
    deadline:start(T.DEADLINE * 1000, 0, function()
      timed_out = true
      uv.stop()
    end)
    uv.unref(deadline)

    uv.run() -- returns once nothing is left: ws101's handles included
    deadline:close()
    uv.run("nowait")
    T.check(not timed_out, "uv.run() did not return in time: " .. table.concat(log, " "))
    T.eq(echoes, N, "echoes")
    T.check(client.closed, "client closed")
    T.check(read_ok, "luv file read on the shared loop")
    -- Interleaving: a tick precedes every echo, echoes follow their tick.
    local seen_ticks, bad = 0, nil
    for _, e in ipairs(log) do
      if e == "tick" then seen_ticks = seen_ticks + 1
      elseif tonumber(e:match("^echo m(%d+)$")) > seen_ticks then bad = e end
    end
    T.check(not bad, "echo before its tick: " .. table.concat(log, " "))
    T.eq(log[1], "tick", "first a luv tick")
    loop:close()
    T.eq((ws101.stats()), 0, "callbacks released")
  end },
  { "loop:close() refused inside callbacks and while uv.run() runs", function()
    local loop = ws101.Loop{ luv = true }
    local in_ws101, in_luv
    loop:call_later(0, function() in_ws101 = { pcall(loop.close, loop) } end)
    local t = uv.new_timer()
    t:start(5, 0, function()
      in_luv = { pcall(loop.close, loop) }
      t:close()
    end)
    uv.run()
    T.eq(in_ws101[1], false, "refused in a ws101 callback")
    T.check(tostring(in_ws101[2]):find("inside a ws101 callback", 1, true), tostring(in_ws101[2]))
    T.eq(in_luv[1], false, "refused in a luv callback")
    T.check(tostring(in_luv[2]):find("while uv.run() runs", 1, true), tostring(in_luv[2]))
    loop:close() -- fine now
    T.eq((ws101.stats()), 0, "callbacks released")
  end },
  { "call_soon and ws101 timers keep uv.run() going until they ran", function()
    local loop = ws101.Loop{ luv = true }
    local order = {}
    loop:call_soon(function() order[#order + 1] = "soon" end)
    loop:call_later(0.01, function() order[#order + 1] = "later" end)
    uv.run()
    T.eq(table.concat(order, ","), "soon,later", "both ran under uv.run()")
    loop:close()
    T.eq((ws101.stats()), 0, "callbacks released")
  end },
}

T.run(cases)

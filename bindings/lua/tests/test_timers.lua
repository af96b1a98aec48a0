-- Timers (ws101_timer): call_later, call_every, stop/start, close, order,
-- their callbacks released after close, and call_soon.
local T = require "support"
local ws101 = T.ws101

local loop = ws101.Loop{ raise_errors = true }

local cases = {
  { "call_later fires once, in deadline order", function()
    local order = {}
    loop:call_later(0.03, function() order[#order + 1] = "c" end)
    loop:call_later(0.01, function() order[#order + 1] = "a" end)
    loop:call_later(0.02, function() order[#order + 1] = "b" end)
    T.wait(loop, function() return #order == 3 end, "three timers")
    T.eq(table.concat(order), "abc", "order")
    loop:run_until(function() return false end, 0.05)
    T.eq(#order, 3, "one-shot timers fire once")
  end },
  { "call_every repeats until stop; start again; close", function()
    local n = 0
    local t = loop:call_every(0.005, function() n = n + 1 end)
    T.wait(loop, function() return n >= 3 end, "three ticks")
    T.check(t:active(), "active while repeating")
    t:stop()
    T.check(not t:active(), "stopped")
    local at = n
    loop:run_until(function() return false end, 0.03)
    T.eq(n, at, "no tick after stop")
    t:start(0.001, 0.005)
    T.wait(loop, function() return n >= at + 2 end, "ticks after start")
    t:close()
    T.check(not t:active(), "closed")
    t:close() -- closing twice is harmless
    T.check(not pcall(t.start, t, 1), "start after close raises")
  end },
  { "a timer closing itself, call_soon, callbacks released", function()
    local seen, soon = 0, false
    loop:call_every(0.002, function(t)
      seen = seen + 1
      if seen == 2 then t:close() end
    end)
    loop:call_soon(function() soon = true end)
    T.wait(loop, function() return seen == 2 and soon end, "self-closing timer")
    for _ = 1, 3 do loop:run_once(false) end
    T.eq((ws101.stats()), 0, "no callback held after the timers closed")
  end },
  { "bad arguments raise", function()
    T.check(not pcall(loop.call_later, loop, -1, function() end), "negative delay")
    T.check(not pcall(loop.call_later, loop, 1, "x"), "not a function")
    T.check(not pcall(loop.call_every, loop, 0, function() end), "zero period")
  end },
  { "loop close frees timers left open", function()
    loop:call_every(10, function() end)
    loop:call_later(10, function() end)
    T.eq((ws101.stats()), 2, "two timers held")
    loop:close()
    T.eq((ws101.stats()), 0, "released by loop close")
  end },
}

T.run(cases)

-- Neovim: ws101 inside `nvim --headless` on Neovim's own loop. A Lua 5.4
-- (or LuaJIT) server here, a ws101 client in Neovim (always the LuaJIT
-- build: Neovim embeds LuaJIT) driven by vim.wait().
local T = require "support"
local ws101 = T.ws101
local HERE = T.env("WS101_LUA_TESTS", ".")
local JIT_CPATH = T.env("WS101_LUAJIT_CPATH")

local cases = {
  { "client in nvim --headless on Neovim's loop", function()
    if not T.have("nvim") then T.skip("nvim not found (apt-get install neovim)") end
    if not JIT_CPATH then T.skip("the LuaJIT build is needed for Neovim (WS101_LUA=LUAJIT or BOTH)") end
    local loop = ws101.Loop{ raise_errors = true }
    local srv = loop:server()
    local got, closes = nil, 0
    srv:websocket("/ws", {
      on_message = function(ws, d) got = d; ws:send(d) end,
      on_close = function() closes = closes + 1 end,
    })
    local port = assert(srv:listen("127.0.0.1", 0))
    local result = os.tmpname()
    local p = T.spawn(table.concat({
      "env",
      "WS101_NVIM_RESULT=" .. T.sh_quote(result),
      "WS101_NVIM_URL=" .. T.sh_quote("ws://127.0.0.1:" .. port .. "/ws"),
      "WS101_LUA_PATH=" .. T.sh_quote(T.env("WS101_LUA_LMOD", "") .. "/?.lua"),
      "WS101_LUA_CPATH=" .. T.sh_quote(JIT_CPATH .. "/?.so"),
      "nvim --headless -u NONE -i NONE -n",
      "-c " .. T.sh_quote("luafile " .. HERE .. "/nvim_client.lua"),
      "</dev/null",
    }, " "))
    T.wait(loop, function() return closes == 1 end, "the client in Neovim")
    local rc, out = T.finish(p)
    local f = assert(io.open(result, "r"))
    local res = f:read("*a")
    f:close()
    os.remove(result)
    T.eq(rc, 0, "nvim exit status (" .. out .. res .. ")")
    T.check(res:find("echo hello from LuaJIT", 1, true), res)
    T.check(res:find("close 1000", 1, true), res)
    T.check(got and got:find("LuaJIT", 1, true), "server got " .. tostring(got))
    srv:close()
    loop:close()
  end },
}

T.run(cases)

-- Runs inside `nvim --headless` (LuaJIT + luv): loads ws101 (the LuaJIT
-- build), opens a WebSocket on Neovim's own libuv loop (vim.loop), sends
-- one message, waits for the echo with vim.wait() (which runs that loop),
-- writes the outcome to $WS101_NVIM_RESULT and quits.
local out = assert(io.open(os.getenv("WS101_NVIM_RESULT"), "w"))
local ok, err = pcall(function()
  package.path = os.getenv("WS101_LUA_PATH") .. ";" .. package.path
  package.cpath = os.getenv("WS101_LUA_CPATH") .. ";" .. package.cpath
  local ws101 = require "ws101"
  local loop = ws101.Loop{ luv = true } -- Neovim's loop: vim.loop is luv
  local echo, code
  local ws = assert(loop:connect(os.getenv("WS101_NVIM_URL"), {
    on_open = function(w) w:send("hello from " .. jit.version) end,
    on_message = function(w, d) echo = d; w:close(1000, "bye") end,
    on_close = function(_, c) code = c end,
  }))
  local done = vim.wait(20000, function() return ws.closed end, 10)
  out:write("waited ", tostring(done), "\n")
  out:write("echo ", tostring(echo), "\n")
  out:write("close ", tostring(code), "\n")
  loop:close()
end)
if not ok then out:write("error ", tostring(err), "\n") end
out:close()
vim.cmd(ok and "qall!" or "cquit 1")

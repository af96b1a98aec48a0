-- The examples as a user runs them: echo_server.lua (HTTP page on /, echo
-- on /ws) with client.lua and curl, stopped by Ctrl-C (SIGINT); and
-- luv_server.lua printing its luv ticks beside the echo.
local T = require "support"
local EX = T.env("WS101_LUA_EXAMPLES", "../examples")

local function client_echo(port)
  local c = T.spawn("printf 'hello\\nwörld\\n' | " .. T.lua_cmd(EX .. "/client.lua") ..
                    " ws://127.0.0.1:" .. port .. "/ws")
  local rc, out = T.finish(c)
  T.eq(rc, 0, "client.lua exit status: " .. out)
  T.eq(out, "hello\nwörld\n", "client.lua printed the echoes")
end

local cases = {
  { "echo_server.lua + client.lua + curl, then SIGINT", function()
    local s = T.spawn(T.lua_cmd(EX .. "/echo_server.lua") .. " --port 0 </dev/null")
    local port = T.read_until(s, "^listening on http://127.0.0.1:(%d+)/$")
    client_echo(port)
    if T.have("curl") then
      local c = T.spawn({ "curl", "-sS", "--max-time", "20", "http://127.0.0.1:" .. port .. "/" })
      local rc, page = T.finish(c)
      T.eq(rc, 0, "curl")
      T.check(page:find("WebSocket echo", 1, true), page)
    end
    T.kill(s, "INT")
    local rc, out = T.finish(s)
    T.eq(rc, 0, "exit status after SIGINT: " .. out)
    T.check(out:find("interrupted", 1, true), out)
    T.check(out:find("close 1000 done", 1, true), "logged the client's close: " .. out)
  end },
  { "luv_server.lua: echo on luv's loop beside a luv timer", function()
    local r = os.execute(T.lua_cmd("-") .. " >/dev/null 2>&1 <<'EOF'\nrequire 'luv'\nEOF")
    if not (r == true or r == 0) then T.skip("luv not found (apt-get install lua-luv)") end
    local s = T.spawn(T.lua_cmd(EX .. "/luv_server.lua") .. " --port 0 </dev/null")
    local port = T.read_until(s, "^listening on http://127.0.0.1:(%d+)/$")
    client_echo(port)
    T.read_until(s, "^tick (3)$")
    T.kill(s, "INT")
    local rc, out = T.finish(s)
    T.eq(rc, 0, "exit status after SIGINT: " .. out)
  end },
}

T.run(cases)

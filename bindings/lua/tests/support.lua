--[[ support.lua - the small assertion and process kit of the Lua binding
tests (plain Lua, 5.1/LuaJIT to 5.4; no test framework needed).

Each test script is one ctest test: it exits 0 when every check passed,
1 on the first failure (with the message and a traceback), 77 with a loud
"*** SKIP" line when a peer it needs is missing.

Peers run as child processes started with io.popen; a test never sleeps to
synchronise: it runs the ws101 loop until the event it waits for happened,
with a deadline, and reads a child's output only once the child is done.
]]
local T = {}
local ws101 = require "ws101"
T.ws101 = ws101

T.DEADLINE = tonumber(os.getenv("WS101_LUA_TEST_DEADLINE") or "") or 30
-- A peer lives for a whole test file, which waits on several events: on a
-- loaded machine that is more than one event's deadline (the demo child was
-- killed by `timeout` mid-test at load average ~18 with 30 s).
T.PEER_LIFETIME = 4 * T.DEADLINE
T.interp = (jit and jit.version) or _VERSION

local failures = 0

function T.fail(msg, level)
  error("FAIL: " .. tostring(msg), (level or 1) + 1)
end

function T.check(cond, msg)
  if not cond then T.fail(msg or "check failed", 2) end
  return cond
end

local function show(v)
  if type(v) == "string" then
    if #v > 80 then v = v:sub(1, 77) .. "..." end
    return ("%q"):format(v)
  end
  return tostring(v)
end

function T.eq(got, want, msg)
  if got ~= want then
    T.fail((msg or "values differ") .. ": got " .. show(got) .. ", want " ..
           show(want), 2)
  end
end

--- Runs the named test functions of `cases` (a list of {name, fn}).
function T.run(cases)
  for _, c in ipairs(cases) do
    local name, fn = c[1], c[2]
    io.stdout:write("-- " .. name .. " (" .. T.interp .. ")\n")
    io.stdout:flush()
    local ok, err = xpcall(fn, debug.traceback)
    if ok then
      io.stdout:write("   ok\n")
    else
      failures = failures + 1
      io.stdout:write("   FAILED\n" .. tostring(err) .. "\n")
    end
    io.stdout:flush()
  end
  local live_cbs, live_reqs = ws101.stats()
  io.stdout:write(("%d case(s), %d failed; live callbacks %d, requests %d\n")
                  :format(#cases, failures, live_cbs, live_reqs))
  -- close = true: the state is closed first (no false leak under LSan).
  os.exit(failures == 0 and 0 or 1, true)
end

function T.skip(reason)
  io.stdout:write("*** SKIP (" .. T.interp .. "): " .. reason .. "\n")
  io.stdout:flush()
  os.exit(77, true)
end

--- Runs `loop` until pred() or the deadline; fails with `what` on timeout.
function T.wait(loop, pred, what, seconds)
  if not loop:run_until(pred, seconds or T.DEADLINE) then
    T.fail("timed out waiting for " .. (what or "an event"), 2)
  end
end

-- ---------------------------------------------------------------------
-- Processes
-- ---------------------------------------------------------------------

local function sh_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
T.sh_quote = sh_quote

function T.have(exe)
  local r = os.execute("command -v " .. sh_quote(exe) .. " >/dev/null 2>&1")
  return r == true or r == 0 -- 5.2+ / 5.1
end

--- Starts `argv` (a list of words, or one shell string for redirections)
--- in the background under `timeout` (seconds). stdout and stderr are
--- read by T.read_until / T.finish; proc.pid is the `timeout` process,
--- which passes T.kill's signal on to the peer.
function T.spawn(argv, timeout)
  local cmd = argv
  if type(argv) == "table" then
    local parts = {}
    for i, a in ipairs(argv) do parts[i] = sh_quote(a) end
    cmd = table.concat(parts, " ") .. " </dev/null"
  end
  -- Under ASan this interpreter runs with the sanitizer runtime preloaded;
  -- peers must not inherit it (T.lua_cmd puts it back for Lua children).
  -- --foreground: timeout passes a signal it gets to the peer once (without
  -- it, it also signals its whole process group: the peer gets two).
  -- The pid line must come first: the child prints it before it execs the
  -- peer (same pid), so the peer's own first line cannot overtake it.
  -- (`cmd & echo $!` raced: under load the peer printed "listening on"
  -- before the shell's echo, and the test read it as the pid.)
  local child = ("echo $$; exec timeout --foreground %d %s 2>&1")
                :format(timeout or T.PEER_LIFETIME, cmd)
  local wrapper = ("sh -c %s & wait $!; echo \"rc=$?\""):format(sh_quote(child))
  if os.getenv("LD_PRELOAD") then wrapper = "unset LD_PRELOAD; " .. wrapper end
  local f = assert(io.popen("sh -c " .. sh_quote(wrapper), "r"))
  local first = f:read("*l")
  local pid = tonumber(first)
  if not pid then
    f:close()
    T.fail("spawn: expected the child's pid first, got " .. tostring(first))
  end
  return { f = f, pid = pid, lines = {} }
end

--- Reads lines until one matches `pattern`; returns its captures (for
--- children that print "listening on ..." before serving).
function T.read_until(proc, pattern)
  while true do
    local line = proc.f:read("*l")
    if not line then
      T.fail("child ended before printing " .. pattern .. "; it printed:\n" ..
             table.concat(proc.lines, "\n"), 2)
    end
    proc.lines[#proc.lines + 1] = line
    -- A peer that lacks what it needs (e.g. npm `ws` not installed) says
    -- "SKIPPED: why" and exits 77: the test skips, loudly, with its reason.
    local why = line:match("^SKIPPED: (.*)")
    if why then T.skip(why) end
    local cap = { line:match(pattern) }
    if cap[1] then return (table.unpack or unpack)(cap) end
  end
end

--- Waits for the child to end; returns its exit status and whole output.
function T.finish(proc)
  local out = proc.f:read("*a") or ""
  proc.f:close()
  local rc = tonumber(out:match("rc=(%d+)%s*$"))
  out = table.concat(proc.lines, "\n") .. (#proc.lines > 0 and "\n" or "") ..
        out:gsub("rc=%d+%s*$", "")
  return rc, out
end

--- Sends SIGTERM (or `sig`, e.g. "INT") to the peer.
function T.kill(proc, sig)
  if proc.pid then
    os.execute(("kill -%s %d 2>/dev/null"):format(sig or "TERM", proc.pid))
  end
end

--- The shell words that run a Lua script with this test's interpreter and
--- module paths (and sanitizer runtime, if any).
function T.lua_cmd(script)
  local pre = os.getenv("WS101_LUA_PRELOAD")
  return "env " .. (pre and ("LD_PRELOAD=" .. sh_quote(pre) .. " ") or "") ..
         "LUA_PATH=" .. sh_quote(os.getenv("LUA_PATH") or "") ..
         " LUA_CPATH=" .. sh_quote(os.getenv("LUA_CPATH") or "") .. " " ..
         sh_quote(os.getenv("WS101_LUA_BIN") or "lua") .. " " .. sh_quote(script)
end

--- Resident set size of this process in KiB (Linux).
function T.rss_kb()
  local f = io.open("/proc/self/statm", "r")
  if not f then return nil end
  local _, res = f:read("*n", "*n")
  f:close()
  return res * 4
end

function T.env(name, default)
  local v = os.getenv(name)
  if v == nil or v == "" then return default end
  return v
end

return T

#!/usr/bin/env lua5.4
--[[ A ws101 WebSocket client: sends each line of stdin as a text message
and prints each reply; after the last reply (or on EOF) it closes.

    printf 'hello\nworld\n' | lua5.4 client.lua ws://127.0.0.1:8080/ws

Request/response style: the next line is read once the reply to the
previous one arrived. Exits 0 after a clean close, 1 on an error.
]]
local ws101 = require "ws101"

local url = arg[1]
if not url then
  io.stderr:write("usage: client.lua URL < lines\n")
  os.exit(2)
end

local failed

local function next_line(ws)
  local line = io.read("*l")
  if line then
    ws:send(line)
  else
    ws:close(1000, "done")
  end
end

local ws, err = ws101.connect(url, {
  on_open = next_line,
  on_message = function(ws, data)
    print(data)
    io.stdout:flush()
    next_line(ws)
  end,
  on_error = function(_, e) failed = e end,
  on_close = function(_, code, reason)
    if code ~= 1000 and not failed then
      failed = "closed with " .. code .. " " .. reason
    end
  end,
})
if not ws then
  io.stderr:write("error: " .. err .. "\n")
  os.exit(1)
end

ws101.default_loop():run_until(function() return ws.closed end, 30)
if failed or not ws.closed then
  io.stderr:write("error: " .. tostring(failed or "timed out") .. "\n")
  os.exit(1)
end

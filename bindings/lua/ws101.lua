--[[
ws101.lua - the idiomatic Lua layer over the SWIG module `ws101.core`.

  local ws101 = require "ws101"
  local srv = ws101.Server()
  srv:route("/", function(req) req:respond(200, "hello\n") end)
  srv:websocket("/ws", { on_message = function(ws, data, binary)
    ws:send(data, binary)
  end })
  assert(srv:listen("127.0.0.1", 8080))
  ws101.run()

Conventions
  * Programming mistakes (wrong types, unknown options, a handle used after
    its final event) raise. Failures a program must expect (listen on a
    busy port, a refused connection, a bad URL) return nil, message, code.
  * A refused send raises a typed error: ws101.Backpressure (the send queue
    is at WS101_OPT_WS_MAX_BACKPRESSURE), ws101.Closed, ws101.Utf8Error...;
    nothing is dropped silently. Test with ws101.is(err, ws101.Backpressure).
  * An error raised inside a callback is reported with its traceback (to
    stderr, or to the loop's on_error), its connection is closed cleanly
    (500 / 1011) and the loop keeps running. Loop{raise_errors = true}
    makes run() raise it instead (for tests).
  * Handles are freed by the library at their final event (WebSocket
    close, response complete, fetch done); their Lua objects then refuse
    further calls instead of touching freed memory. Callbacks are held in
    the registry exactly until that event.
  * Loops: ws101.run() runs the default loop; Loop{luv = true} shares the
    libuv loop of `require "luv"` (uv.run() then drives ws101 too).

Written for Lua 5.1 (LuaJIT) to 5.4.
]]
local core = require "ws101.core"

local M = {}
M.core = core
M.VERSION = core.ws101_version_string()

local floor = math.floor
local type, pairs, ipairs, setmetatable, error, tostring =
  type, pairs, ipairs, setmetatable, error, tostring
local concat = table.concat

-- ---------------------------------------------------------------------
-- Errors
-- ---------------------------------------------------------------------

local Error = { name = "ws101.Error" }
Error.__index = Error
Error.__tostring = function(e) return e.message end
M.Error = Error

local function subclass(parent, name)
  local cls = setmetatable({ name = name }, { __index = parent })
  cls.__index = cls
  cls.__tostring = parent.__tostring
  cls.parent = parent
  return cls
end

M.Closed = subclass(Error, "ws101.Closed")
M.Backpressure = subclass(Error, "ws101.Backpressure")
M.StateError = subclass(Error, "ws101.StateError")
M.InvalidArgument = subclass(Error, "ws101.InvalidArgument")
M.Utf8Error = subclass(Error, "ws101.Utf8Error")
M.TooBig = subclass(Error, "ws101.TooBig")
M.ConnectionError = subclass(Error, "ws101.ConnectionError")

local by_code = {
  [core.WS101_ECLOSED] = M.Closed,
  [core.WS101_EBACKPRESSURE] = M.Backpressure,
  [core.WS101_ESTATE] = M.StateError,
  [core.WS101_EINVAL] = M.InvalidArgument,
  [core.WS101_EUTF8] = M.Utf8Error,
  [core.WS101_ETOOBIG] = M.TooBig,
  [core.WS101_ECONNREFUSED] = M.ConnectionError,
  [core.WS101_ECONNRESET] = M.ConnectionError,
  [core.WS101_EDNS] = M.ConnectionError,
  [core.WS101_ETIMEDOUT] = M.ConnectionError,
  [core.WS101_EHANDSHAKE] = M.ConnectionError,
  [core.WS101_EEOF] = M.ConnectionError,
}

--- True if `err` is an instance of `cls` (or of a subclass).
function M.is(err, cls)
  if type(err) ~= "table" then return false end
  local c = getmetatable(err)
  while c do
    if c == cls then return true end
    c = c.parent
  end
  return false
end

--- Builds the error object for a negative WS101_E* code.
function M.error(code, what, detail)
  local cls = by_code[code] or Error
  local msg = core.ws101_strerror(code)
  if detail and detail ~= "" then msg = detail end
  if what then msg = what .. ": " .. msg end
  return setmetatable({ code = code, errname = core.ws101_err_name(code),
                        message = msg }, cls)
end

local function raise(code, what, level)
  error(M.error(code, what), (level or 2) + 1)
end

local function closed_error(what)
  return M.error(core.WS101_ECLOSED, what)
end

-- ---------------------------------------------------------------------
-- Options: a Lua table turned into a ws101_options (freed by the caller)
-- ---------------------------------------------------------------------

-- Keys that are not WS101_OPT_* names (used by the Lua layer itself).
local not_options = { loop = true, subprotocols = true, origins = true,
  headers = true, method = true, body = true, timeout = true,
  luv = true, raise_errors = true, on_error = true,
  tls_cert = true, tls_sni_certs = true, tls_ca_file = true,
  tls_ca_dir = true }

local symbolic = {
  ws_backpressure_policy = { refuse = core.WS101_BACKPRESSURE_REFUSE,
                             close = core.WS101_BACKPRESSURE_CLOSE },
  deflate_memory = { dedicated = core.WS101_DEFLATE_DEDICATED,
                     shared = core.WS101_DEFLATE_SHARED },
}

local function build_options(t, level)
  level = (level or 2) + 1
  if t == nil then return nil end
  if type(t) ~= "table" then error("ws101: options must be a table", level) end
  local rc, o = core.ws101_options_new()
  if rc < 0 then raise(rc, "options", level) end
  local function fail(code, what)
    core.ws101_options_free(o)
    raise(code, what, level + 1)
  end
  for k, v in pairs(t) do
    if k == "subprotocols" or k == "origins" then
      local add = k == "origins" and core.ws101_options_add_origin
                                  or core.ws101_options_add_subprotocol
      for _, p in ipairs(v) do
        rc = add(o, p)
        if rc < 0 then fail(rc, k .. " " .. tostring(p)) end
      end
    elseif k == "tls_cert" or k == "tls_sni_certs" then
      -- tls_cert = {CERT, KEY} (the default certificate, PEM files, or PEM
      -- text with pem = true); tls_sni_certs = {["host"] = {CERT, KEY}}.
      local list = k == "tls_cert" and { [false] = v } or v
      for host, c in pairs(list) do
        if type(c) ~= "table" or type(c[1]) ~= "string" or
            type(c[2]) ~= "string" then
          core.ws101_options_free(o)
          error("ws101: " .. k .. " takes {cert, key} (file names, or PEM " ..
                "text with pem = true)", level)
        end
        rc = core.ws101_options_add_tls_cert(o, host or nil, c[1], c[2],
          c.pem and core.WS101_TLS_PEM_DATA or core.WS101_TLS_PEM_FILES)
        if rc < 0 then fail(rc, k) end
      end
    elseif k == "tls_ca_file" or k == "tls_ca_dir" then
      -- handled once below, both together
    elseif k == "headers" then
      for name, value in pairs(v) do
        rc = core.ws101_options_add_header(o, name, value)
        if rc < 0 then fail(rc, "header " .. tostring(name)) end
      end
    elseif not not_options[k] then
      local id = type(k) == "string" and core["WS101_OPT_" .. k:upper()]
      if not id then
        core.ws101_options_free(o)
        error("ws101: unknown option '" .. tostring(k) .. "'", level)
      end
      if v == true then v = 1 elseif v == false then v = 0 end
      if type(v) == "string" and symbolic[k] then v = symbolic[k][v] end
      if type(v) ~= "number" then
        core.ws101_options_free(o)
        error("ws101: option '" .. k .. "' must be a number or boolean",
              level)
      end
      rc = core.ws101_options_set(o, id, v)
      if rc < 0 then fail(rc, "option " .. k .. "=" .. tostring(v)) end
    end
  end
  if t.tls_ca_file ~= nil or t.tls_ca_dir ~= nil then
    rc = core.ws101_options_set_tls_ca(o, t.tls_ca_file, t.tls_ca_dir)
    if rc < 0 then fail(rc, "tls_ca_file/tls_ca_dir") end
  end
  return o
end

local function with_options(t, level, fn)
  local o = build_options(t, (level or 2) + 1)
  local r1, r2 = fn(o)
  if o then core.ws101_options_free(o) end
  return r1, r2
end

-- ---------------------------------------------------------------------
-- Loop
-- ---------------------------------------------------------------------

local Loop = {}
Loop.__index = Loop
M.LoopClass = Loop

--- Loop{luv = true, raise_errors = false, on_error = fn}
function M.Loop(opts)
  opts = opts or {}
  local rc, h
  if opts.luv then
    rc, h = core.ws101lua_loop_new_luv()
  else
    rc, h = core.ws101_loop_new()
  end
  if rc < 0 then raise(rc, "loop") end
  local self = setmetatable({ _h = h, _conns = {}, luv = opts.luv and true
                              or false }, Loop)
  if opts.raise_errors then
    core.ws101lua_set_error_handler(h, "raise")
  elseif opts.on_error then
    core.ws101lua_set_error_handler(h, opts.on_error)
  end
  return self
end

function Loop:_handle()
  local h = self._h
  if not h then error("ws101: loop is closed", 3) end
  return h
end

--- Sets the error policy: nil (print to stderr), a function(message) or
--- "raise" (stop and raise from run()).
function Loop:on_error(handler)
  core.ws101lua_set_error_handler(self:_handle(), handler)
end

--- Runs until stop() or nothing is left to do. Ctrl-C raises
--- "interrupted!" (own loops); with raise_errors, a callback's error.
function Loop:run()
  local rc = core.ws101_loop_run(self:_handle())
  if rc < 0 then raise(rc, "run") end
end

--- Runs one iteration (waiting for an event if `block`). Returns true if
--- more work is pending.
function Loop:run_once(block)
  local rc = core.ws101_loop_run_once(self:_handle(), block and 1 or 0)
  if rc < 0 then raise(rc, "run_once") end
  return rc > 0
end

function Loop:stop() core.ws101_loop_stop(self:_handle()) end

--- Runs until pred() is true or `timeout` seconds passed (nil: no limit).
--- Returns pred()'s last value.
function Loop:run_until(pred, timeout)
  local timed_out = false
  local t
  if timeout then
    t = self:call_later(timeout, function() timed_out = true end)
  end
  local v = pred()
  while not v and not timed_out do
    if not self:run_once(true) then
      v = pred()
      break
    end
    v = pred()
  end
  if t then t:close() end
  return v
end

--- Frees the loop: servers, WebSockets and fetches still open are closed
--- (their final callbacks run). A luv loop itself is left running.
function Loop:close()
  if not self._h then return end
  local rc = core.ws101_loop_free(self._h)
  if rc < 0 then raise(rc, "close") end
  self._h = nil
end

--- Runs fn() on the loop soon (next iteration).
function Loop:call_soon(fn)
  if type(fn) ~= "function" then error("ws101: function expected", 2) end
  if self.luv then
    -- ws101's post handle never keeps libuv alive (an idle ws101 loop must
    -- return), and uv.run() knows nothing of pending posts: a 0 ms timer
    -- does keep it running until fn ran. Same order as posts.
    self:call_later(0, function() fn() end)
    return
  end
  local rc = core.ws101_loop_post(self:_handle(), fn)
  if rc < 0 then raise(rc, "call_soon") end
end

-- Timers ---------------------------------------------------------------

local Timer = {}
Timer.__index = Timer
M.TimerClass = Timer

local function ms(seconds, level)
  if type(seconds) ~= "number" or seconds < 0 then
    error("ws101: seconds must be a non-negative number", level + 1)
  end
  return floor(seconds * 1000 + 0.5)
end

local function new_timer(loop, delay, period, fn, level)
  if type(fn) ~= "function" then error("ws101: function expected", level) end
  local t = setmetatable({ loop = loop, closed = false }, Timer)
  local rc, h = core.ws101_timer_new(loop:_handle(), function()
    if period == 0 and not t.closed then
      t:close() -- one-shot: free the timer (and this callback) first
    end
    fn(t)
  end)
  if rc < 0 then raise(rc, "timer", level) end
  t._h = h
  rc = core.ws101_timer_start(h, delay, period)
  if rc < 0 then
    t:close()
    raise(rc, "timer", level)
  end
  return t
end

--- Calls fn(timer) once after `seconds`. Returns the Timer.
function Loop:call_later(seconds, fn)
  return new_timer(self, ms(seconds, 2), 0, fn, 3)
end

--- Calls fn(timer) every `seconds` (first after `first` seconds, default
--- the same period) until timer:stop() or timer:close().
function Loop:call_every(seconds, fn, first)
  local p = ms(seconds, 2)
  if p == 0 then error("ws101: period must be at least 1 ms", 2) end
  return new_timer(self, first and ms(first, 2) or p, p, fn, 3)
end

function Timer:stop()
  if self.closed then return end
  core.ws101_timer_stop(self._h)
end

--- Restarts the timer (after stop) with its delay in seconds and period.
function Timer:start(seconds, period)
  if self.closed then error("ws101: timer is closed", 2) end
  local rc = core.ws101_timer_start(self._h, ms(seconds, 2),
                                    period and ms(period, 2) or 0)
  if rc < 0 then raise(rc, "timer") end
end

function Timer:active()
  return not self.closed and core.ws101_timer_active(self._h) == 1
end

function Timer:close()
  if self.closed then return end
  self.closed = true
  core.ws101lua_timer_close(self._h)
  self._h = nil
end

-- The default loop ----------------------------------------------------

local default_loop

function M.default_loop()
  if not default_loop then default_loop = M.Loop() end
  return default_loop
end

function M.run() return M.default_loop():run() end
function M.stop() return M.default_loop():stop() end
function M.call_later(s, fn) return M.default_loop():call_later(s, fn) end
function M.call_every(s, fn, f) return M.default_loop():call_every(s, fn, f) end

local function loop_of(opts)
  local l = opts and opts.loop
  if l == nil then return M.default_loop() end
  if getmetatable(l) ~= Loop then error("ws101: loop must be a ws101.Loop", 3) end
  return l
end

-- ---------------------------------------------------------------------
-- WebSocket
-- ---------------------------------------------------------------------

local Ws = {}
Ws.__index = Ws
M.WebSocketClass = Ws

local OP_TEXT, OP_BINARY = core.WS101_OP_TEXT, core.WS101_OP_BINARY
M.TEXT, M.BINARY = OP_TEXT, OP_BINARY
local EV_OPEN, EV_TEXT, EV_BINARY, EV_FRAGMENT = core.WS101_WS_OPEN,
  core.WS101_WS_TEXT, core.WS101_WS_BINARY, core.WS101_WS_FRAGMENT
local EV_PING, EV_PONG, EV_DRAIN, EV_ERROR, EV_CLOSE = core.WS101_WS_PING,
  core.WS101_WS_PONG, core.WS101_WS_DRAIN, core.WS101_WS_ERROR,
  core.WS101_WS_CLOSE
local FRAG_TEXT, FRAG_FIN = core.WS101_FRAG_TEXT, core.WS101_FRAG_FIN
local ws_send = core.ws101_ws_send
local EBACKPRESSURE = core.WS101_EBACKPRESSURE

local function ws_handle(self, what)
  local h = self._h
  if not h then error(closed_error(what or "websocket"), 3) end
  return h
end

--- Sends a text message (valid UTF-8), or binary if `binary` is true.
--- Raises ws101.Backpressure, ws101.Closed, ws101.Utf8Error, ... if the
--- library refuses it: a refused message is never dropped silently.
function Ws:send(data, binary)
  local h = self._h
  if not h then error(closed_error("send"), 2) end
  if type(data) ~= "string" then
    error("ws101: send expects a string, got " .. type(data), 2)
  end
  local rc = ws_send(h, data, binary and OP_BINARY or OP_TEXT)
  if rc < 0 then
    if rc == EBACKPRESSURE then
      error(M.error(rc, "send", "send queue full (" .. tostring(
        core.ws101_ws_buffered(h)) .. " bytes buffered); wait for on_drain"),
        2)
    end
    raise(rc, "send")
  end
  return true
end

function Ws:send_binary(data) return self:send(data, true) end

--- Like send, but returns true, or nil, error, code instead of raising
--- when the library refuses the message (Backpressure, Closed, ...).
--- Wrong argument types still raise.
function Ws:try_send(data, binary)
  local h = self._h
  if not h then
    local e = closed_error("send")
    return nil, e, e.code
  end
  if type(data) ~= "string" then
    error("ws101: send expects a string, got " .. type(data), 2)
  end
  local rc = ws_send(h, data, binary and OP_BINARY or OP_TEXT)
  if rc == 0 then return true end
  return nil, M.error(rc, "send"), rc
end

--- Sends one fragment: first = text/binary by `binary`, then
--- continuation; `fin` ends the message.
function Ws:send_fragment(data, binary, fin, continuation)
  local h = ws_handle(self, "send_fragment")
  local op = continuation and core.WS101_OP_CONTINUATION
             or (binary and OP_BINARY or OP_TEXT)
  local rc = core.ws101_ws_send_fragment(h, data, op, fin and 1 or 0)
  if rc < 0 then raise(rc, "send_fragment") end
  return true
end

function Ws:ping(data)
  local rc = core.ws101_ws_ping(ws_handle(self, "ping"), data or "")
  if rc < 0 then raise(rc, "ping") end
  return true
end

--- Starts the close handshake. Returns true, or false if the connection
--- is already closing or closed.
function Ws:close(code, reason)
  local h = self._h
  if not h then return false end
  local rc = core.ws101_ws_close(h, code or 1000, reason)
  if rc == core.WS101_ECLOSED then return false end
  if rc < 0 then raise(rc, "close") end
  return true
end

function Ws:buffered()
  if not self._h then return 0 end
  return core.ws101_ws_buffered(self._h)
end
function Ws:pause()
  local rc = core.ws101_ws_pause(ws_handle(self, "pause"))
  if rc < 0 then raise(rc, "pause") end
end
function Ws:resume()
  local rc = core.ws101_ws_resume(ws_handle(self, "resume"))
  if rc < 0 then raise(rc, "resume") end
end
function Ws:memory() return self._h and core.ws101_ws_memory(self._h) or 0 end

--- Pub/sub (server-side connections): subscribes to `topic` (1 to 1024
--- bytes, no NUL); server:publish(topic, ...) on its server, or through
--- Redis, reaches it. Returns true if added, false if already subscribed.
--- Raises ws101.Closed once closing, ws101.Error (ENOTSUP) on a client
--- connection, ws101.InvalidArgument for a bad topic. Subscriptions end
--- with the connection.
function Ws:subscribe(topic)
  local rc = core.ws101_ws_subscribe(ws_handle(self, "subscribe"), topic)
  if rc < 0 then raise(rc, "subscribe " .. tostring(topic)) end
  return rc == 1
end

--- Ends a subscription; true if there was one.
function Ws:unsubscribe(topic)
  if not self._h then return false end
  local rc = core.ws101_ws_unsubscribe(self._h, topic)
  if rc < 0 then raise(rc, "unsubscribe " .. tostring(topic)) end
  return rc == 1
end

function Ws:is_subscribed(topic)
  return self._h ~= nil and core.ws101_ws_is_subscribed(self._h, topic) == 1
end

--- The number of topics the connection is subscribed to.
function Ws:subscriptions()
  if not self._h then return 0 end
  return core.ws101_ws_subscription_count(self._h)
end
function Ws:response_status()
  return core.ws101_ws_response_status(ws_handle(self))
end
function Ws:response_header(name)
  return core.ws101_ws_response_header(ws_handle(self), name)
end

-- Calls handlers[name](...) if present.
local function fire(hs, name, ...)
  local f = hs[name]
  if f then return f(...) end
end

-- One event of `ws` (a Ws object); `forget` runs at the final event.
local function ws_event(ws, ev, data, arg)
  local hs = ws.handlers
  if ev == EV_TEXT then
    local f = hs.on_message
    if f then f(ws, data, false) end
  elseif ev == EV_BINARY then
    local f = hs.on_message
    if f then f(ws, data, true) end
  elseif ev == EV_OPEN then
    ws.open = true
    ws.subprotocol = core.ws101_ws_subprotocol(ws._h)
    ws.extensions = core.ws101_ws_extensions(ws._h)
    ws.path = core.ws101_ws_path(ws._h)
    ws.remote_addr = core.ws101_ws_remote_addr(ws._h)
    ws.tls_peer_subject = core.ws101_ws_tls_peer_subject(ws._h)
    fire(hs, "on_open", ws)
  elseif ev == EV_DRAIN then
    fire(hs, "on_drain", ws)
  elseif ev == EV_CLOSE then
    ws.open = false
    ws.closed = true
    ws.close_code = arg
    ws.close_reason = data or ""
    ws._h = nil -- freed by the library when this event returns
    fire(hs, "on_close", ws, arg, data or "")
  elseif ev == EV_ERROR then
    ws.error = M.error(arg, "connect", data)
    fire(hs, "on_error", ws, ws.error)
  elseif ev == EV_PING then
    fire(hs, "on_ping", ws, data)
  elseif ev == EV_PONG then
    fire(hs, "on_pong", ws, data)
  elseif ev == EV_FRAGMENT then
    -- arg: FRAG_TEXT (1) or FRAG_BINARY (2), plus FRAG_FIN (4)
    fire(hs, "on_fragment", ws, data, arg % 2 ~= FRAG_TEXT, arg >= FRAG_FIN)
  end
end

local function check_handlers(hs, level)
  if type(hs) == "function" then return { on_message = hs } end
  if type(hs) ~= "table" then
    error("ws101: handlers must be a table (on_open, on_message, ...) or a "
          .. "function", level + 1)
  end
  return hs
end

local function new_ws(loop, h, hs)
  return setmetatable({ _h = h, loop = loop, handlers = hs, open = false,
                        closed = false }, Ws)
end

--- Opens a WebSocket client connection. handlers: on_open(ws),
--- on_message(ws, data, binary), on_close(ws, code, reason),
--- on_error(ws, err), on_drain(ws), on_ping/on_pong(ws, data). opts: the
--- client options (subprotocols, headers, deflate, ...) and loop.
--- Returns the WebSocket, or nil, message, code (bad URL...).
function M.connect(url, handlers, opts)
  local loop = loop_of(opts)
  local hs = check_handlers(handlers, 2)
  local ws
  local rc, h = with_options(opts, 2, function(o)
    return core.ws101_ws_connect(loop:_handle(), url, o,
      function(_, ev, data, arg) ws_event(ws, ev, data, arg) end)
  end)
  if rc < 0 then
    local e = M.error(rc, "connect " .. tostring(url))
    return nil, e.message, rc
  end
  ws = new_ws(loop, h, hs)
  return ws
end

function Loop:connect(url, handlers, opts)
  opts = opts or {}
  local o = {}
  for k, v in pairs(opts) do o[k] = v end
  o.loop = self
  return M.connect(url, handlers, o)
end

-- ---------------------------------------------------------------------
-- Requests
-- ---------------------------------------------------------------------

local Request = {}
Request.__index = Request
M.RequestClass = Request

local function req_handle(self, what)
  local h = self._h
  if not h then
    error(M.error(core.WS101_ESTATE, what or "request",
                  "request already completed"), 3)
  end
  return h
end

local function req_done(self) self._h = nil; self.completed = true end

function Request:method() return core.ws101_req_method(req_handle(self)) end
function Request:target() return core.ws101_req_target(req_handle(self)) end
function Request:path() return core.ws101_req_path(req_handle(self)) end
function Request:query() return core.ws101_req_query(req_handle(self)) end
function Request:remote_addr()
  return core.ws101_req_remote_addr(req_handle(self))
end
--- "TLSv1.3" etc., or nil over plain TCP.
function Request:tls_version()
  return core.ws101_req_tls_version(req_handle(self))
end
--- The verified client certificate's subject (mTLS), or nil.
function Request:tls_peer_subject()
  return core.ws101_req_tls_peer_subject(req_handle(self))
end
function Request:http_version()
  return core.ws101_req_http_version(req_handle(self))
end
--- The first header named `name` (case-insensitive), or nil.
function Request:header(name)
  return core.ws101_req_header(req_handle(self), name)
end
--- All headers as a list of {name, value} pairs, in order.
function Request:headers()
  local h = req_handle(self)
  local t = {}
  for i = 0, core.ws101_req_header_count(h) - 1 do
    t[#t + 1] = { core.ws101_req_header_name(h, i),
                  core.ws101_req_header_value(h, i) }
  end
  return t
end
--- The buffered body as a string ("" on a streaming route).
function Request:body() return core.ws101lua_req_body(req_handle(self)) end
function Request:is_websocket()
  return core.ws101_req_is_websocket(req_handle(self)) == 1
end
--- The offered subprotocols as a list.
function Request:ws_protocols()
  local s = core.ws101_req_ws_protocols(req_handle(self))
  local t = {}
  if s then
    for p in s:gmatch("[^,%s]+") do t[#t + 1] = p end
  end
  return t
end

function Request:set_status(status)
  local rc = core.ws101_req_set_status(req_handle(self), status)
  if rc < 0 then raise(rc, "set_status") end
end

function Request:add_header(name, value)
  local rc = core.ws101_req_add_header(req_handle(self), name, value)
  if rc < 0 then raise(rc, "add_header " .. tostring(name)) end
end

--- Sends a complete response. `body` is a string (default ""); the
--- content type defaults to text/plain; charset=utf-8. `headers` is a
--- table name -> value. Returns true, or false if the peer is gone.
function Request:respond(status, body, content_type, headers)
  local h = req_handle(self, "respond")
  body = body or ""
  if type(body) ~= "string" then
    error("ws101: body must be a string", 2)
  end
  if headers then
    for k, v in pairs(headers) do self:add_header(k, v) end
  end
  local rc = core.ws101_req_respond(h, status or 200,
    content_type or "text/plain; charset=utf-8", body)
  if rc == 0 or rc == core.WS101_ECLOSED then
    req_done(self)
    return rc == 0
  end
  raise(rc, "respond")
end

--- Streams part of the body (chunked on HTTP/1.1). Returns true, or false
--- if the peer is gone.
function Request:write(data)
  local rc = core.ws101_req_write(req_handle(self, "write"), data)
  if rc == core.WS101_ECLOSED then return false end
  if rc < 0 then raise(rc, "write") end
  return true
end

--- Ends a streamed response.
function Request:finish()
  local rc = core.ws101_req_end(req_handle(self, "finish"))
  if rc == 0 or rc == core.WS101_ECLOSED then
    req_done(self)
    return rc == 0
  end
  raise(rc, "finish")
end

--- On a stream_body route: fn(req, chunk, last) receives the body.
function Request:read_body(fn)
  local rc = core.ws101_req_read_body(req_handle(self, "read_body"),
    function(_, data, last) fn(self, data, last) end)
  if rc < 0 then raise(rc, "read_body") end
end

--- fn(req) runs if the connection is lost before the response completed.
function Request:on_abort(fn)
  local rc = core.ws101_req_on_abort(req_handle(self, "on_abort"),
    function() self.aborted = true; fn(self) end)
  if rc < 0 then raise(rc, "on_abort") end
end

--- Accepts a WebSocket upgrade with `handlers` (see ws101.connect) and an
--- optional `subprotocol` the client offered. Returns the WebSocket, or
--- nil, message, code (an invalid upgrade was answered with 400/426/403).
function Request:accept_websocket(handlers, subprotocol)
  local h = req_handle(self, "accept_websocket")
  local hs = check_handlers(handlers, 2)
  local ws
  local rc, wh = core.ws101_req_accept_websocket(h, subprotocol,
    function(_, ev, data, arg) ws_event(ws, ev, data, arg) end)
  if rc == 0 then
    req_done(self)
    ws = new_ws(self.loop, wh, hs)
    ws.server = self.server
    return ws
  end
  if rc == core.WS101_EBADUPGRADE then req_done(self) end
  if rc == core.WS101_EINVAL then raise(rc, "accept_websocket") end
  local e = M.error(rc, "accept_websocket")
  return nil, e.message, rc
end

-- ---------------------------------------------------------------------
-- Server
-- ---------------------------------------------------------------------

local Server = {}
Server.__index = Server
M.ServerClass = Server

--- Server{loop = ..., max_body = ..., subprotocols = {...}, ...}
function M.Server(opts)
  local loop = loop_of(opts)
  local rc, h = with_options(opts, 2, function(o)
    return core.ws101_server_new(loop:_handle(), o)
  end)
  if rc < 0 then raise(rc, "server") end
  return setmetatable({ _h = h, loop = loop }, Server)
end

function Loop:server(opts)
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  o.loop = self
  return M.Server(o)
end

local function srv_handle(self)
  if not self._h then error("ws101: server is closed", 3) end
  return self._h
end

--- Routes `path` ("/x" exact, "/x/*" prefix) to fn(req).
--- flags: { stream_body = true } delivers the body via req:read_body().
function Server:route(path, fn, flags)
  if type(fn) ~= "function" then error("ws101: handler must be a function", 2) end
  local loop = self.loop
  local fl = (flags and flags.stream_body) and core.WS101_ROUTE_STREAM_BODY
             or 0
  local server = self
  local rc = core.ws101_server_route(srv_handle(self), path, fl,
    function(h)
      fn(setmetatable({ _h = h, loop = loop, server = server,
                        completed = false }, Request))
    end)
  if rc < 0 then raise(rc, "route " .. tostring(path)) end
  return self
end

--- A WebSocket-only route: valid upgrades are accepted with a
--- subprotocol from the server's `subprotocols`; `handlers` as in
--- ws101.connect (a function is on_message).
function Server:websocket(path, handlers)
  local hs = check_handlers(handlers, 2)
  local loop = self.loop
  local conns = loop._conns
  local server = self
  local rc = core.ws101_server_websocket(srv_handle(self), path,
    function(h, ev, data, arg, key)
      local ws = conns[key]
      if not ws then
        ws = new_ws(loop, h, hs)
        ws.server = server
        conns[key] = ws
      end
      if ev == EV_CLOSE then conns[key] = nil end
      ws_event(ws, ev, data, arg)
    end)
  if rc < 0 then raise(rc, "websocket " .. tostring(path)) end
  return self
end

--- Listens on host (numeric address or "localhost") and port (0 picks a
--- free one). Returns the port, or nil, message, code.
function Server:listen(host, port)
  local rc = core.ws101_server_listen(srv_handle(self), host or "127.0.0.1",
                                      port or 0)
  if rc < 0 then
    local e = M.error(rc, "listen " .. tostring(host) .. ":" .. tostring(port))
    return nil, e.message, rc
  end
  return core.ws101_server_port(self._h)
end

--- Listens with TLS (https:// and wss://) on host and port, with the
--- certificates of the server's options (tls_cert, tls_sni_certs). Returns
--- the port, or nil, message, code (the OpenSSL reason in the message).
function Server:listen_tls(host, port)
  local rc = core.ws101_server_listen_tls(srv_handle(self),
                                          host or "127.0.0.1", port or 0)
  if rc < 0 then
    local msg = M.error(rc, "listen_tls " .. tostring(host) .. ":" ..
                        tostring(port)).message
    if rc == core.WS101_ETLS then
      msg = msg .. ": " .. tostring(core.ws101_tls_last_error())
    end
    return nil, msg, rc
  end
  return core.ws101_server_tls_port(self._h)
end

--- Replaces the certificates for new handshakes (open connections keep
--- theirs). Returns true, or nil, message, code.
function Server:reload_tls(opts)
  local rc = with_options(opts or {}, 2, function(o)
    return core.ws101_server_reload_tls(srv_handle(self), o)
  end)
  if rc < 0 then
    local msg = M.error(rc, "reload_tls").message
    if rc == core.WS101_ETLS then
      msg = msg .. ": " .. tostring(core.ws101_tls_last_error())
    end
    return nil, msg, rc
  end
  return true
end

function Server:port()
  local p = core.ws101_server_port(srv_handle(self))
  if p < 0 then return nil end
  return p
end

-- ---------------------------------------------------------------------
-- Pub/sub
-- ---------------------------------------------------------------------

local PUBSUB_STATS = {
  topics = core.WS101_PUBSUB_TOPICS,
  subscriptions = core.WS101_PUBSUB_SUBSCRIPTIONS,
  published = core.WS101_PUBSUB_PUBLISHED,
  delivered = core.WS101_PUBSUB_DELIVERED,
  skipped = core.WS101_PUBSUB_SKIPPED,
  dropped = core.WS101_PUBSUB_DROPPED,
  received = core.WS101_PUBSUB_RECEIVED,
  memory = core.WS101_PUBSUB_MEMORY,
}

--- Sends `data` to every connection subscribed to `topic`, framed once:
--- text (valid UTF-8) unless `binary` is true (or ws101.BINARY /
--- ws101.TEXT as an explicit opcode). A slow subscriber skips it (or is
--- closed with 1008 under ws_backpressure_policy = "close"); nobody else
--- waits. Goes through Redis too when attached. Returns how many of this
--- server's subscribers it was queued to; raises ws101.InvalidArgument
--- (bad topic), ws101.Utf8Error.
function Server:publish(topic, data, binary)
  if type(data) ~= "string" then
    error("ws101: publish expects a string, got " .. type(data), 2)
  end
  local op
  if binary == OP_BINARY or binary == OP_TEXT then op = binary
  else op = binary and OP_BINARY or OP_TEXT end
  local rc = core.ws101_server_publish(srv_handle(self), topic, data, op)
  if rc < 0 then raise(rc, "publish " .. tostring(topic)) end
  return rc
end

--- How many of this server's connections are subscribed to `topic`.
function Server:subscribers(topic)
  if not self._h then return 0 end
  return core.ws101_server_subscribers(self._h, topic)
end

--- The pub/sub counters: { topics, subscriptions, published, delivered,
--- skipped, dropped, received, memory }.
function Server:pubsub_stats()
  local t = {}
  for k, v in pairs(PUBSUB_STATS) do
    t[k] = self._h and core.ws101_server_pubsub_stat(self._h, v) or 0
  end
  return t
end

local Redis = {}
Redis.__index = Redis
M.RedisClass = Redis

--- Attaches a Redis backplane ("redis://HOST:PORT"; channels prefix ..
--- topic, prefix nil = "ws101:"). on_event("up", "", 0) and
--- on_event("down", why, retry_ms) report its state; it reconnects by
--- itself. The function is held until the server is freed. Returns the
--- backplane (redis:connected()), or nil, message, code (ENOTSUP when the
--- library was built without hiredis, ESTATE if one is attached, EURL).
function Server:attach_redis(url, prefix, on_event)
  local cb
  if on_event ~= nil then
    if type(on_event) ~= "function" then
      error("ws101: on_event must be a function", 2)
    end
    cb = function(ev, detail, arg)
      on_event(ev == core.WS101_REDIS_UP and "up" or "down", detail, arg)
    end
  end
  local rc, h = core.ws101_redis_attach(srv_handle(self), url, prefix, cb)
  if rc < 0 then
    local e = M.error(rc, "attach_redis " .. tostring(url))
    return nil, e.message, rc
  end
  self.redis = setmetatable({ _h = h, server = self }, Redis)
  return self.redis
end

function Redis:connected()
  return self.server._h ~= nil and core.ws101_redis_connected(self._h) == 1
end

--- Closes the server (WebSockets get 1001); fn() runs once every
--- connection is gone.
function Server:close(fn)
  if not self._h then return false end
  local h = self._h
  self._h = nil
  core.ws101_server_close(h, fn)
  return true
end

-- ---------------------------------------------------------------------
-- HTTP client
-- ---------------------------------------------------------------------

local F_RESPONSE, F_BODY, F_DONE, F_ERROR = core.WS101_FETCH_RESPONSE,
  core.WS101_FETCH_BODY, core.WS101_FETCH_DONE, core.WS101_FETCH_ERROR

--- Starts an HTTP request; cb(response, err) runs once:
--- response = { status =, headers = {lowercased name = value}, body = }.
--- opts: method (GET), headers (table), body (string), loop, and client
--- options (connect_timeout_ms, max_body, ...). Returns true, or nil,
--- message, code (bad URL...).
function M.fetch_async(url, opts, cb)
  if type(opts) == "function" then opts, cb = nil, opts end
  if type(cb) ~= "function" then error("ws101: callback expected", 2) end
  opts = opts or {}
  local loop = loop_of(opts)
  local resp, parts = nil, {}
  local rc, f = with_options(opts, 2, function(o)
    return core.ws101_fetch_new(loop:_handle(), opts.method or "GET", url, o,
      function(fh, ev, data, arg)
        if ev == F_RESPONSE then
          local hdrs = {}
          for i = 0, core.ws101_fetch_header_count(fh) - 1 do
            hdrs[core.ws101_fetch_header_name(fh, i):lower()] =
              core.ws101_fetch_header_value(fh, i)
          end
          -- http_version: 11, or 20 when the answer came over HTTP/2.
          resp = { status = core.ws101_fetch_status(fh), headers = hdrs,
                   http_version = core.ws101_fetch_http_version(fh) }
        elseif ev == F_BODY then
          parts[#parts + 1] = data
        elseif ev == F_DONE then
          resp.body = concat(parts)
          cb(resp, nil)
        elseif ev == F_ERROR then
          cb(nil, M.error(arg, "fetch " .. url, data))
        end
      end)
  end)
  if rc < 0 then
    local e = M.error(rc, "fetch " .. tostring(url))
    return nil, e.message, rc
  end
  if opts.headers then
    for k, v in pairs(opts.headers) do
      local hr = core.ws101_fetch_add_header(f, k, v)
      if hr < 0 then
        core.ws101_fetch_cancel(f)
        raise(hr, "fetch header " .. tostring(k))
      end
    end
  end
  rc = core.ws101_fetch_send(f, opts.body)
  if rc < 0 then
    core.ws101_fetch_cancel(f)
    raise(rc, "fetch")
  end
  return true
end

function Loop:fetch_async(url, opts, cb)
  if type(opts) == "function" then opts, cb = nil, opts end
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  o.loop = self
  return M.fetch_async(url, o, cb)
end

--- Blocking fetch on a private loop (never re-enters a running one).
--- Returns the response, or nil, message, code. opts.timeout in seconds
--- (default 30).
function M.fetch(url, opts)
  if core.ws101lua_in_callback() then
    error("ws101: fetch() blocks and cannot run inside a ws101 callback " ..
          "(it would stall the loop that called it); use " ..
          "ws101.fetch_async(url, opts, function(response, err) ... end)", 2)
  end
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  local loop = M.Loop()
  o.loop = loop
  local result, err
  local ok, e1, e2 = pcall(function()
    local started, msg, code = M.fetch_async(url, o, function(r, e)
      result, err = r, e
    end)
    if not started then return msg, code end
    loop:run_until(function() return result or err end, o.timeout or 30)
  end)
  loop:close()
  if not ok then error(e1, 2) end
  if e1 then return nil, e1, e2 end
  if result then return result end
  if err then return nil, err.message, err.code end
  return nil, "fetch " .. url .. ": timed out", core.WS101_ETIMEDOUT
end

-- ---------------------------------------------------------------------
-- Leak accounting (tests)
-- ---------------------------------------------------------------------

--- Returns the number of Lua callbacks and request states held by C.
function M.stats()
  return core.ws101lua_stats()
end

return M

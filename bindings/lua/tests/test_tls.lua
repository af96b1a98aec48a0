-- TLS from Lua: a server with tls_cert listening with listen_tls, the Lua
-- client over wss:// and https:// trusting the test certificate through
-- tls_ca_file, an untrusted certificate refused with OpenSSL's reason,
-- tls_insecure_skip_verify, SNI certificates, and reload_tls. The
-- certificates are made here with the openssl command (nothing committed).
local T = require "support"
local ws101 = T.ws101

if not T.have("openssl") then T.skip("the openssl command is not installed") end
-- Children are not ours to sanitize: under the ASan build the interpreter
-- runs with the sanitizer runtimes in LD_PRELOAD, which openssl and curl
-- must not inherit (T.spawn does the same).
local function sh(cmd)
  if os.getenv("LD_PRELOAD") then cmd = "unset LD_PRELOAD; " .. cmd end
  return os.execute(cmd)
end
local dir = os.tmpname()
os.remove(dir)
assert(sh("mkdir -p '" .. dir .. "'"))
local function mkcert(name, cn)
  local cmd = ("openssl req -x509 -newkey rsa:2048 -nodes -days 2 " ..
    "-keyout '%s/%s.key' -out '%s/%s.pem' -subj /CN=%s " ..
    "-addext subjectAltName=DNS:%s,IP:127.0.0.1 >/dev/null 2>&1")
    :format(dir, name, dir, name, cn, cn)
  assert(sh(cmd), "openssl req failed")
  return dir .. "/" .. name .. ".pem", dir .. "/" .. name .. ".key"
end
local cert, key = mkcert("a", "localhost")
local other, other_key = mkcert("b", "other.test")

local loop = ws101.Loop{ raise_errors = true }
local srv = loop:server{ tls_cert = { cert, key },
                         tls_sni_certs = { ["other.test"] = { other, other_key } } }
srv:route("/hello", function(req)
  req:respond(200, "tls " .. tostring(req:tls_version()), "text/plain")
end)
srv:route("/version", function(req)
  req:respond(200, tostring(req:http_version()), "text/plain")
end)
srv:websocket("/ws", { on_message = function(ws, d) ws:send(d) end })
local port = assert(srv:listen_tls("127.0.0.1", 0))
local plain_port = assert(srv:listen("127.0.0.1", 0))

local cases = {
  { "wss:// echo, the server's certificate trusted by tls_ca_file", function()
    local got
    local ws = assert(loop:connect("wss://localhost:" .. port .. "/ws", {
      on_open = function(w) w:send("over tls") end,
      on_message = function(w, d) got = d; w:close() end,
    }, { tls_ca_file = cert }))
    T.wait(loop, function() return ws.closed end, "wss session")
    T.eq(got, "over tls", "echo")
    T.eq(ws.close_code, 1000, "close code")
  end },
  { "https:// fetch: the request knows its TLS version", function()
    local r, e
    loop:fetch_async("https://localhost:" .. port .. "/hello",
                     { tls_ca_file = cert }, function(resp, err) r, e = resp, err end)
    T.wait(loop, function() return r or e end, "https fetch")
    T.check(r, "response: " .. tostring(e))
    T.eq(r.status, 200, "status")
    T.check(r.body:match("^tls TLSv1%.[23]$"), "body: " .. tostring(r.body))
  end },
  { "HTTP/2 from Lua: the client by prior knowledge, the server by ALPN", function()
    local r, e
    loop:fetch_async("http://127.0.0.1:" .. plain_port .. "/version",
                     { client_http2 = 1 }, function(resp, err) r, e = resp, err end)
    T.wait(loop, function() return r or e end, "h2 fetch")
    T.check(r, "response: " .. tostring(e))
    T.eq(r.body, "20", "the Lua handler answered on an HTTP/2 stream")
    T.eq(r.http_version, 20, "the Lua client saw HTTP/2")
    if T.have("curl") then
      -- curl offers h2 by ALPN. In the background, writing to a file that
      -- the wait polls, so that this loop keeps serving it meanwhile.
      local out = dir .. "/curl.out"
      assert(sh(("curl -sk --http2 --max-time 20 -o '%s' " ..
        "https://127.0.0.1:%d/version &"):format(out, port)))
      local body
      T.wait(loop, function()
        local f = io.open(out, "r")
        if f then body = f:read("*a"); f:close() end
        return body ~= nil and body ~= ""
      end, "curl over TLS")
      T.eq(body, "20", "curl over TLS got HTTP/2")
    end
  end },
  { "an untrusted certificate is refused with OpenSSL's reason", function()
    local err
    local ws = assert(loop:connect("wss://localhost:" .. port .. "/ws", {
      on_error = function(w, e) err = e end,
    }, { tls_ca_file = other }))
    T.wait(loop, function() return ws.closed end, "refused handshake")
    T.check(err and tostring(err):find("certificate verify failed", 1, true),
            "reason: " .. tostring(err))
  end },
  { "tls_insecure_skip_verify accepts it (tests only)", function()
    local got
    local ws = assert(loop:connect("wss://127.0.0.1:" .. port .. "/ws", {
      on_open = function(w) w:send("insecure") end,
      on_message = function(w, d) got = d; w:close() end,
    }, { tls_insecure_skip_verify = true }))
    T.wait(loop, function() return ws.closed end, "insecure session")
    T.eq(got, "insecure", "echo")
  end },
  { "reload_tls: new handshakes get the new certificate", function()
    -- A server of its own, on a port no client has a cached TLS session
    -- for: a resumed session (correctly) involves no certificate at all.
    local srv2 = loop:server{ tls_cert = { cert, key } }
    srv2:websocket("/ws", { on_message = function(ws, d) ws:send(d) end })
    local port2 = assert(srv2:listen_tls("127.0.0.1", 0))
    assert(srv2:reload_tls{ tls_cert = { other, other_key } })
    local err
    local ws = assert(loop:connect("wss://localhost:" .. port2 .. "/ws", {
      on_error = function(w, e) err = e end,
    }, { tls_ca_file = cert }))
    T.wait(loop, function() return ws.closed end, "old trust after reload")
    T.check(err and tostring(err):find("certificate verify failed", 1, true),
            "the old certificate is gone: " .. tostring(err))
    local got
    ws = assert(loop:connect("wss://127.0.0.1:" .. port2 .. "/ws", {
      on_open = function(w) w:send("new cert") end,
      on_message = function(w, d) got = d; w:close() end,
    }, { tls_ca_file = other }))
    T.wait(loop, function() return ws.closed end, "new trust after reload")
    T.eq(got, "new cert", "echo with the reloaded certificate")
    srv2:close()
    local nilv, msg = srv:reload_tls{ tls_cert = { dir .. "/none.pem", key } }
    T.eq(nilv, nil, "a bad reload fails")
    T.check(msg, "with a message")
    srv:close()
    loop:close()
    sh("rm -rf '" .. dir .. "'")
    T.eq((ws101.stats()), 0, "callbacks released")
  end },
}

T.run(cases)

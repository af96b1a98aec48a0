#!/usr/bin/python3
"""integ.h2_client: our HTTP/2 client against independent servers.

- https:// with ALPN h2 (WS101_OPT_CLIENT_HTTP2): `ws101 get --http2`
  and h2_fetch_seq (concurrent fetches) against nghttpd and h2o over TLS,
  asserting HTTP/2 from our side (ws101_fetch_http_version, `-v` prints
  "* HTTP/2 200") and from theirs (h2o's access log); without the option
  the same server is asked in HTTP/1.1.
- RFC 8441 fallback: `ws101 connect --http2 wss://` against servers that
  speak h2 but do not send SETTINGS_ENABLE_CONNECT_PROTOCOL. h2o proxies
  the HTTP/1.1 upgrade to our demo: the echo works over the 101 ("HTTP
  101", h2o's log says HTTP/1.1). nghttpd speaks only HTTP/2: the attempt
  fails with a message naming the missing setting (exit 4).
- Our own server over TLS (ws101-demo --tls-cert): `ws101 get --http2`
  makes /stats report http_version 20 (task: the CLI uses ALPN h2,
  asserted with the server's counters, no curl), concurrent fetches share
  one connection (the counters' delta), wss:// rides RFC 8441 (HTTP 200,
  h2_websockets counts it).
- h2c with request bodies (WS101_OPT_CLIENT_HTTP2 = 2): a request with a
  body stays HTTP/1.1 without the offer, the next bodiless one upgrades,
  and later bodies go over HTTP/2; against Hypercorn (whose ASGI app
  reports the version it served) and our demo.
- The server's zero-window stall deadline with python3-h2 as the client
  (see StallDeadline).
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import demo  # noqa: E402

DEMO_BIN = os.environ.get("WS101_DEMO_BIN") or ""
TOOL = os.environ.get("WS101_TOOL_BIN") or ""
SEQ = os.environ.get("WS101_FETCH_SEQ") or ""
FLOW = os.environ.get("WS101_FLOW_SERVER") or ""
PY = "/usr/bin/python3"
DEADLINE = 20

if not (os.access(DEMO_BIN, os.X_OK) and os.access(TOOL, os.X_OK) and
        os.access(SEQ, os.X_OK)):
    demo.skip("needs WS101_DEMO_BIN, WS101_TOOL_BIN and WS101_FETCH_SEQ")


def run(args, input=None):
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       input=input, timeout=60)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")




def seq(*args):
    """h2_fetch_seq -> (rc, [(method, status, version, body)], stderr)."""
    rc, out, err = run([SEQ] + list(args))
    rows = []
    for line in out.decode("utf-8", "replace").splitlines():
        parts = line.split(" ", 3)
        if len(parts) >= 3:
            rows.append((parts[0], int(parts[1]), int(parts[2]),
                         parts[3] if len(parts) > 3 else ""))
    return rc, rows, err


class Pki:
    dir = None

    @classmethod
    def get(cls):
        if cls.dir is None:
            if shutil.which("openssl") is None:
                raise unittest.SkipTest("the openssl command is not installed")
            cls.dir = tempfile.mkdtemp(prefix="ws101-h2cli-")
            os.chmod(cls.dir, 0o755)
            rc, out, err = run(["bash", os.path.join(HERE, "..", "tls",
                                                     "make_certs.sh"),
                                cls.dir])
            assert rc == 0, err
            for f in os.listdir(cls.dir):
                os.chmod(os.path.join(cls.dir, f), 0o644)
        return cls.dir


class Peer:
    """A server process, stopped on exit."""

    def __init__(self, args, port, cwd=None):
        self.p = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, cwd=cwd)
        try:
            demo.wait_port(port, self.p)
        except Exception:
            self.stop()
            raise

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.stop()


class TlsPeers(unittest.TestCase):
    def setUp(self):
        self.pki = Pki.get()
        self.ca = os.path.join(self.pki, "ca.pem")
        self.cert = os.path.join(self.pki, "server.pem")
        self.key = os.path.join(self.pki, "server.key")
        self.www = tempfile.mkdtemp(prefix="ws101-h2www-")
        os.chmod(self.www, 0o755)
        self.body = b"static file from %d\n" % os.getpid()
        with open(os.path.join(self.www, "f.txt"), "wb") as f:
            f.write(self.body)
        os.chmod(os.path.join(self.www, "f.txt"), 0o644)

    def tearDown(self):
        shutil.rmtree(self.www, ignore_errors=True)

    def get(self, url, *extra):
        return run([TOOL, "get", "-v", "--cafile", self.ca] + list(extra) +
                   [url])

    # -- nghttpd ----------------------------------------------------------
    def test_nghttpd_alpn_h2(self):
        exe = shutil.which("nghttpd") or "/usr/sbin/nghttpd"
        if not os.access(exe, os.X_OK):
            self.skipTest("nghttpd is not installed (Debian nghttp2-server)")
        port = demo.free_port()
        with Peer([exe, "-d", self.www, str(port), self.key, self.cert],
                  port):
            url = "https://localhost:%d" % port
            rc, out, err = self.get(url + "/f.txt", "--http2")
            self.assertEqual((rc, out), (0, self.body), err)
            self.assertIn("* HTTP/2 200", err)
            self.assertIn("server: nghttpd", err)
            # Concurrent fetches, all answered over HTTP/2.
            rc, rows, err = seq("-k", "--http2", "1", "--parallel", url,
                                *["GET:/f.txt"] * 6)
            self.assertEqual(rc, 0, err)
            self.assertEqual(len(rows), 6)
            for r in rows:
                self.assertEqual(r[1:3], (200, 20), rows)

    def test_nghttpd_wss_without_rfc8441(self):
        """nghttpd speaks HTTP/2 only and never allows extended CONNECT:
        the HTTP/1.1 upgrade we fall back to cannot work either, and the
        error says why."""
        exe = shutil.which("nghttpd") or "/usr/sbin/nghttpd"
        if not os.access(exe, os.X_OK):
            self.skipTest("nghttpd is not installed (Debian nghttp2-server)")
        port = demo.free_port()
        with Peer([exe, "-d", self.www, str(port), self.key, self.cert],
                  port):
            rc, out, err = run([TOOL, "connect", "--http2", "--cafile",
                                self.ca, "wss://localhost:%d/ws" % port],
                               input=b"hi\n")
            self.assertEqual(rc, 4, err)
            self.assertIn("SETTINGS_ENABLE_CONNECT_PROTOCOL", err)
            self.assertIn("HTTP/1.1 upgrade failed", err)

    # -- h2o ----------------------------------------------------------------
    def test_h2o_alpn_and_rfc8441_fallback(self):
        exe = shutil.which("h2o") or "/usr/bin/h2o"
        if not os.access(exe, os.X_OK):
            self.skipTest("h2o is not installed (Debian h2o)")
        with demo.Demo(DEMO_BIN) as d:
            port = demo.free_port()
            conf = os.path.join(self.www, "h2o.conf")
            log = os.path.join(self.www, "access.log")
            with open(conf, "w") as f:
                f.write(
                    "listen:\n  host: 127.0.0.1\n  port: %d\n  ssl:\n"
                    "    certificate-file: %s\n    key-file: %s\n"
                    "access-log: %s\n"
                    "hosts:\n  default:\n    paths:\n"
                    "      /ws:\n"
                    "        proxy.reverse.url: http://127.0.0.1:%d/ws\n"
                    "        proxy.websocket: ON\n"
                    "      /:\n        file.dir: %s\n" %
                    (port, self.cert, self.key, log, d.port, self.www))
            os.chmod(conf, 0o644)
            url = "https://localhost:%d" % port
            with Peer([exe, "-c", conf], port):
                rc, out, err = self.get(url + "/f.txt", "--http2")
                self.assertEqual((rc, out), (0, self.body), err)
                self.assertIn("* HTTP/2 200", err)
                rc, out, err = self.get(url + "/f.txt")
                self.assertEqual((rc, out), (0, self.body), err)
                self.assertIn("* HTTP/1.1 200", err)
                # h2o 2.2 speaks h2 without RFC 8441: the WebSocket takes
                # the HTTP/1.1 upgrade, which h2o proxies to the demo.
                rc, out, err = run([TOOL, "connect", "-v", "--http2",
                                    "--cafile", self.ca,
                                    "wss://localhost:%d/ws" % port],
                                   input=b"through h2o\n")
                self.assertEqual(rc, 0, err)
                self.assertEqual(out, b"through h2o\n")
                self.assertIn("(HTTP 101)", err)
            with open(log) as f:
                lines = f.read().splitlines()
        self.assertEqual(len(lines), 3, lines)
        self.assertIn('"GET /f.txt HTTP/2" 200', lines[0])
        self.assertIn('"GET /f.txt HTTP/1.1" 200', lines[1])
        self.assertIn('"GET /ws HTTP/1.1" 101', lines[2])

    # -- our own server -----------------------------------------------------
    def stats(self, d, *extra):
        rc, out, err = run([TOOL, "get", "-k"] + list(extra) +
                           ["%s/stats" % d.url])
        self.assertEqual(rc, 0, err)
        return json.loads(out)

    def test_our_server_over_tls(self):
        with demo.Demo(DEMO_BIN, extra_args=["--tls-cert", self.cert,
                                             "--tls-key", self.key]) as d:
            self.assertEqual(d.scheme, "https")
            # The CLI: --http2 on https:// is ALPN h2, as /stats sees it.
            s = self.stats(d, "--http2")
            self.assertEqual(s["http_version"], 20)
            self.assertEqual(s["h2_conns"], 1)
            self.assertEqual(self.stats(d)["http_version"], 11)
            # Five fetches at once (bodies both ways): one connection.
            rc, rows, err = seq("-k", "--http2", "1", "--parallel", d.url,
                                "POST:/echo=fixed", "PUT:/echo~streamed",
                                "GET:/hello", "GET:/hello", "GET:/hello")
            self.assertEqual(rc, 0, err)
            self.assertEqual([r[1:] for r in rows],
                             [(200, 20, "fixed"), (200, 20, "streamed"),
                              (200, 20, "hello from libws101"),
                              (200, 20, "hello from libws101"),
                              (200, 20, "hello from libws101")])
            s2 = self.stats(d, "--http2")
            # +1 for the fetches, +1 for this stats request itself.
            self.assertEqual(s2["h2_conns"] - s["h2_conns"], 2)
            self.assertEqual(s2["h2_streams"] - s["h2_streams"], 6)
            rc, out, err = run([TOOL, "connect", "-v", "--http2", "-k",
                                d.ws_url], input=b"one\n" + b"two" * 3000 +
                               b"\n")
            self.assertEqual(rc, 0, err)
            self.assertEqual(out, b"one\n" + b"two" * 3000 + b"\n")
            self.assertIn("(HTTP 200)", err)  # RFC 8441, not a 101
            self.assertEqual(self.stats(d, "--http2")["h2_websockets"], 1)


HYPERCORN_APP = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b""
    while True:
        m = await receive()
        body += m.get("body", b"")
        if not m.get("more_body"):
            break
    out = b"v=" + scope["http_version"].encode() + b" body=" + body
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": out})
"""


class H2cWithBodies(unittest.TestCase):
    """WS101_OPT_CLIENT_HTTP2 = 2 with request bodies (ws101.h): the
    body request goes in HTTP/1.1 without an offer, the next bodiless one
    upgrades (h2c), and everything after rides HTTP/2."""

    STEPS_ANSWERS = [(200, 11), (200, 20), (200, 20), (200, 20)]

    def test_hypercorn(self):
        r = subprocess.run([PY, "-c", "import hypercorn"],
                           stderr=subprocess.DEVNULL)
        if r.returncode != 0:
            self.skipTest("hypercorn is not installed (Debian "
                          "python3-hypercorn)")
        tmp = tempfile.mkdtemp(prefix="ws101-hc-")
        try:
            with open(os.path.join(tmp, "h2app.py"), "w") as f:
                f.write(HYPERCORN_APP)
            port = demo.free_port()
            with Peer([PY, "-m", "hypercorn", "--bind",
                       "127.0.0.1:%d" % port, "h2app:app"], port, cwd=tmp):
                rc, rows, err = seq("--http2", "2",
                                    "http://127.0.0.1:%d" % port,
                                    "POST:/=first", "GET:/",
                                    "POST:/=third", "PUT:/~fourth")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        self.assertEqual(rc, 0, err)
        self.assertEqual([r[1:] for r in rows],
                         [(200, 11, "v=1.1 body=first"),
                          (200, 20, "v=2 body="),
                          (200, 20, "v=2 body=third"),
                          (200, 20, "v=2 body=fourth")])

    def test_our_server(self):
        with demo.Demo(DEMO_BIN) as d:
            rc, rows, err = seq("--http2", "2", d.url, "POST:/echo=first",
                                "GET:/stats", "POST:/echo=third",
                                "PUT:/echo~fourth")
        self.assertEqual(rc, 0, err)
        self.assertEqual([r[1:3] for r in rows], self.STEPS_ANSWERS)
        self.assertEqual(rows[0][3], "first")
        stats = json.loads(rows[1][3])
        # The GET was the upgrade: stream 1 of the first HTTP/2 connection.
        self.assertEqual((stats["h2_conns"], stats["h2_streams"],
                          stats["http_version"]), (1, 1, 20))
        self.assertEqual((rows[2][3], rows[3][3]), ("third", "fourth"))


class FlowServer:
    """h2_flow_server, with its stdout lines as events."""

    def __init__(self, *args):
        import queue
        import threading
        self.p = subprocess.Popen([FLOW] + [str(a) for a in args],
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL)
        line = self.p.stdout.readline().decode()
        assert line.startswith("listening on http://127.0.0.1:"), line
        self.port = int(line.rsplit(":", 1)[1].strip("/\n"))
        self.lines = queue.Queue()

        def drain():
            for l in self.p.stdout:
                self.lines.put(l.decode().strip())
        threading.Thread(target=drain, daemon=True).start()

    def expect(self, prefix, deadline=DEADLINE):
        import queue
        end = time.monotonic() + deadline
        while True:
            try:
                l = self.lines.get(timeout=max(0.01, end - time.monotonic()))
            except queue.Empty:
                raise AssertionError("server never printed %r" % prefix)
            if l.startswith(prefix):
                return dict(kv.split("=", 1) for kv in l.split()[2:])

    def stop(self):
        self.p.terminate()
        self.p.wait(timeout=10)
        self.p.stdout.close()


class H2Peer:
    """A blocking python3-h2 client connection (prior knowledge) that
    decides itself which stream windows it reopens."""

    def __init__(self, port):
        import h2.config
        import h2.connection
        self.ev = __import__("h2.events").events
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.conn = h2.connection.H2Connection(
            config=h2.config.H2Configuration(client_side=True,
                                             header_encoding="utf-8"))
        self.conn.initiate_connection()
        self.flush()
        self.events = []
        self.bodies = {}
        self.starved = set()  # streams whose window we never reopen

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def get(self, path):
        sid = self.conn.get_next_available_stream_id()
        self.conn.send_headers(sid, [(":method", "GET"), (":scheme", "http"),
                                     (":authority", "127.0.0.1"),
                                     (":path", path)], end_stream=True)
        self.flush()
        self.bodies[sid] = b""
        return sid

    def pump(self, until, deadline=DEADLINE):
        end = time.monotonic() + deadline
        while not until():
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError("timed out; last events %r" %
                                     self.events[-4:])
            self.sock.settimeout(left)
            data = self.sock.recv(65536)
            if not data:
                raise AssertionError("connection closed")
            for e in self.conn.receive_data(data):
                self.events.append(e)
                if isinstance(e, self.ev.DataReceived):
                    self.bodies[e.stream_id] += e.data
                    n = e.flow_controlled_length
                    if e.stream_id in self.starved:
                        # The connection window reopens, the stream's
                        # never: only that stream stalls.
                        if n:
                            self.conn.increment_flow_control_window(n)
                    elif n:
                        self.conn.acknowledge_received_data(n, e.stream_id)
            self.flush()

    def ended(self, sid):
        return any(isinstance(e, self.ev.StreamEnded) and
                   e.stream_id == sid for e in self.events)

    def reset(self, sid):
        return [e for e in self.events if isinstance(e, self.ev.StreamReset)
                and e.stream_id == sid]


def expected_body(n):
    return bytes(ord("a") + i % 26 for i in range(n))


class ServerStreamFlow(unittest.TestCase):
    """The server's per-stream output rules over HTTP/2, with python3-h2
    as the client: the stall deadline (WS101_OPT_SEND_TIMEOUT_MS) and the
    output limit (WS101_OPT_OUTPUT_BUFFER_LIMIT) with its drain."""

    def setUp(self):
        try:
            import h2.connection  # noqa: F401
        except ImportError:
            self.skipTest("python3-h2 is not installed (Debian python3-h2)")
        if not os.access(FLOW, os.X_OK):
            self.skipTest("no h2_flow_server (WS101_FLOW_SERVER)")

    def test_stalled_stream_is_reset_others_survive(self):
        # Far more than one stream window (256 KiB), and an output limit
        # that keeps the handler writing (waiting on its drain) meanwhile.
        size = 512 * 1024
        srv = FlowServer(400, 64 * 1024, size)
        try:
            c = H2Peer(srv.port)
            stalled = c.get("/big?stalled")
            c.starved.add(stalled)
            # The stalled stream fills its window and waits; meanwhile a
            # second stream of the same size flows to its end.
            ok = c.get("/big?flowing")
            c.pump(lambda: c.ended(ok))
            self.assertEqual(c.bodies[ok], expected_body(size))
            self.assertEqual(srv.expect("done flowing")["bytes"], str(size))
            # The stalled one is reset (CANCEL) and its handler aborted.
            c.pump(lambda: c.reset(stalled))
            self.assertEqual(c.reset(stalled)[0].error_code, 8)
            got = int(srv.expect("abort stalled")["bytes"])
            self.assertLess(got, size)
            self.assertFalse(c.ended(stalled))
            # The connection is still fine for new streams.
            h = c.get("/hello")
            c.pump(lambda: c.ended(h))
            self.assertEqual(c.bodies[h], b"hello")
            c.sock.close()
        finally:
            srv.stop()

    def test_stream_writes_honour_the_output_limit(self):
        size, limit = 1 << 20, 64 * 1024
        srv = FlowServer(60000, limit, size)
        try:
            c = H2Peer(srv.port)
            sid = c.get("/big?bp")
            c.pump(lambda: c.ended(sid))
            self.assertEqual(c.bodies[sid], expected_body(size))
            done = srv.expect("done bp")
            # Writes were refused with WS101_EBACKPRESSURE and resumed
            # from the drain callback; the stream's queue never went past
            # the limit by more than one write (16 KiB).
            self.assertGreater(int(done["refused"]), 0, done)
            self.assertEqual(done["refused"], done["drains"])
            self.assertLessEqual(int(done["maxq"]), limit + 16 * 1024)
            c.sock.close()
        finally:
            srv.stop()


if __name__ == "__main__":
    try:
        unittest.main(verbosity=2)
    finally:
        if Pki.dir:
            shutil.rmtree(Pki.dir, ignore_errors=True)

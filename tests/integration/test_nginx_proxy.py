#!/usr/bin/python3
"""integ.nginx_proxy: nginx (a real reverse proxy) in front of the demo with
the reference WebSocket proxy configuration (map $http_upgrade ...,
proxy_http_version 1.1, Upgrade/Connection/Host forwarded). Plain HTTP and a
Python `websockets` client go through nginx to the demo.

Run: /usr/bin/python3 test_nginx_proxy.py --demo PATH/ws101-demo
Env: WS101_NGINX (default /usr/sbin/nginx, else nginx on PATH).
"""
import asyncio
import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import demo  # noqa: E402

DEMO_BIN = demo.find_demo()
NGINX = os.environ.get("WS101_NGINX") or (
    "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK)
    else shutil.which("nginx"))
if not NGINX or not os.access(NGINX, os.X_OK):
    demo.skip("nginx is not installed (apt-get install nginx-light)")
try:
    import websockets
    from websockets.extensions.permessage_deflate import PerMessageDeflate
except ImportError as e:
    demo.skip("python websockets is not importable: %s" % e)

TEMPLATE = os.path.join(HERE, "..", "nginx", "ws101-proxy.conf.in")
T = 15
HELLO = b"hello from libws101\n"


class Nginx:
    """nginx in the foreground, listening on a free 127.0.0.1 port."""

    READY = re.compile(r"start worker process \d+")

    def __init__(self, upstream):
        self.upstream = upstream
        self.dir = tempfile.mkdtemp(prefix="ws101-nginx-")
        os.chmod(self.dir, 0o755)
        self.proc = None
        self.port = None
        self.log = []

    def start(self):
        last = ""
        for attempt in range(3):  # free_port() can race; bounded retries
            self.port = demo.free_port()
            conf = os.path.join(self.dir, "nginx.conf")
            with open(TEMPLATE) as f:
                text = f.read()
            user = "user root;" if os.geteuid() == 0 else ""
            text = (text.replace("@PREFIX@", self.dir)
                    .replace("@LISTEN_PORT@", str(self.port))
                    .replace("@UPSTREAM@", self.upstream)
                    .replace("@USER_LINE@", user))
            with open(conf, "w") as f:
                f.write(text)
            self.proc = subprocess.Popen(
                [NGINX, "-p", self.dir + "/", "-c", conf, "-g",
                 "daemon off; master_process on; pid %s/nginx.pid; "
                 "error_log stderr notice;" % self.dir],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE)
            ok, out = self._wait_ready()
            if ok:
                threading.Thread(target=self._drain, daemon=True).start()
                return self
            last = out
            self._reap()
            self.proc.stderr.close()
            if "Address already in use" not in out:
                break
        shutil.rmtree(self.dir, ignore_errors=True)
        raise AssertionError("nginx did not start:\n%s" % last)

    def _wait_ready(self):
        """Wait (with a deadline) for the master's 'start worker process'
        notice, which comes after the listening socket is bound."""
        deadline = time.monotonic() + T
        buf = b""
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stderr, selectors.EVENT_READ)
        try:
            while time.monotonic() < deadline:
                if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
                    continue
                chunk = os.read(self.proc.stderr.fileno(), 4096)
                if not chunk:
                    return False, buf.decode("utf-8", "replace")
                buf += chunk
                text = buf.decode("utf-8", "replace")
                if self.READY.search(text):
                    self.log.append(text)
                    return True, text
            return False, buf.decode("utf-8", "replace") + "\n(timeout)"
        finally:
            sel.close()

    def _drain(self):
        fd = self.proc.stderr.fileno()
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            self.log.append(chunk.decode("utf-8", "replace"))

    def _reap(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=T)
            except subprocess.TimeoutExpired:
                pass

    def stop(self):
        """Fast shutdown (SIGTERM); nginx must exit 0 within the deadline."""
        try:
            if self.proc.poll() is not None:
                raise AssertionError("nginx died early (code %s):\n%s" %
                                     (self.proc.returncode, "".join(self.log)))
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=T)
            except subprocess.TimeoutExpired:
                self._reap()
                raise AssertionError("nginx did not exit within %ds" % T)
            if rc != 0:
                raise AssertionError("nginx exited %d:\n%s" %
                                     (rc, "".join(self.log)))
        finally:
            self.proc.stderr.close()
            shutil.rmtree(self.dir, ignore_errors=True)

    def log_text(self):
        return "".join(self.log)


class NginxProxy(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = demo.Demo(DEMO_BIN).start()
        try:
            cls.ngx = Nginx("%s:%d" % (cls.d.host, cls.d.port)).start()
        except BaseException:
            cls.d._kill()
            raise
        cls.host, cls.port = "127.0.0.1", cls.ngx.port
        cls.ws_url = "ws://127.0.0.1:%d/ws" % cls.port

    @classmethod
    def tearDownClass(cls):
        try:
            cls.ngx.stop()
        finally:
            cls.d.stop()

    def req(self, raw, method="GET"):
        resp, r = demo.request(self.host, self.port, raw, method)
        r.sock.close()
        return resp

    def test_hello_through_nginx(self):
        resp = self.req(b"GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n")
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.body, HELLO)
        self.assertTrue(resp.header("server", "").startswith("nginx"),
                        "response did not come through nginx: %r" % resp)
        self.assertTrue(resp.header("content-type").startswith("text/plain"))

    def test_hello_with_curl(self):
        curl = shutil.which("curl")
        if not curl:
            self.skipTest("no curl")
        p = subprocess.run([curl, "-sS", "--noproxy", "*", "--max-time", "10",
                            "http://127.0.0.1:%d/hello" % self.port,
                            "http://127.0.0.1:%d/nope" % self.port,
                            "-w", "%{http_code}\n"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=20)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(p.stdout.startswith(HELLO + b"200\n"), p.stdout)
        self.assertTrue(p.stdout.endswith(b"404\n"), p.stdout)

    def test_post_and_stream_through_nginx(self):
        body = os.urandom(300 * 1024)
        resp = self.req(b"POST /echo HTTP/1.1\r\nHost: localhost\r\n"
                        b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.body, body)
        resp = self.req(b"GET /stream?n=5 HTTP/1.1\r\nHost: localhost\r\n\r\n")
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.body, b"".join(b"chunk %d\n" % i
                                             for i in range(5)))

    def test_plain_get_ws_through_nginx_426(self):
        # nginx sends Connection: close and no Upgrade: the demo says 426
        resp = self.req(b"GET /ws HTTP/1.1\r\nHost: localhost\r\n\r\n")
        self.assertEqual(resp.status, 426, resp)

    def run_ws(self, coro):
        return asyncio.run(asyncio.wait_for(coro, 4 * T))

    def ws_connect(self, **kw):
        return websockets.connect(self.ws_url, max_size=16 << 20,
                                  open_timeout=T, close_timeout=T,
                                  ping_interval=None, **kw)

    async def echo(self, ws, msg):
        await ws.send(msg)
        got = await asyncio.wait_for(ws.recv(), T)
        self.assertEqual(type(got), type(msg))
        self.assertTrue(got == msg, "echo through nginx differs "
                        "(len %d vs %d)" % (len(got), len(msg)))

    def test_websocket_echo_deflate(self):
        async def go():
            async with self.ws_connect() as ws:
                self.assertTrue(any(isinstance(e, PerMessageDeflate)
                                    for e in ws.extensions),
                                "permessage-deflate not negotiated through "
                                "nginx: %r" % ws.response_headers)
                await self.echo(ws, "through nginx")
                await self.echo(ws, "h\u00e9llo \u2603")
                await self.echo(ws, b"\x00\xff" * 10)
                await self.echo(ws, os.urandom(1 << 20))
                await self.echo(ws, "zip " * 100000)
                waiter = await ws.ping(b"p")
                await asyncio.wait_for(waiter, T)
                await asyncio.wait_for(ws.close(4000, "bye"), T)
                self.assertEqual(ws.close_code, 4000)
        self.run_ws(go())

    def test_websocket_echo_plain(self):
        async def go():
            async with self.ws_connect(compression=None) as ws:
                self.assertEqual(ws.extensions, [])
                for i in range(50):
                    await self.echo(ws, "msg %d" % i)
                await ws.send("close:4001:done")
                with self.assertRaises(websockets.ConnectionClosed) as cm:
                    await asyncio.wait_for(ws.recv(), T)
                self.assertEqual(cm.exception.rcvd.code, 4001)
                self.assertEqual(cm.exception.rcvd.reason, "done")
        self.run_ws(go())


if __name__ == "__main__":
    demo.run_unittest()

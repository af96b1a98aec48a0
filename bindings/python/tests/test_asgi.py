"""ws101.asgi serving a FastAPI application (Debian python3-fastapi and
python3-starlette, so this runs under /usr/bin/python3 in a venv with
--system-site-packages: ctest python.sys_asgi), started as
`python -m ws101.asgi MODULE:APP --port 0`. Peers: curl, the `websockets`
client, the ws101.aio client, raw sockets for the handshake edge cases.
"""
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

from _support import HERE, loud_skip, ws101

import ws101.aio

APPS = os.path.join(HERE, "asgi_apps")
DEADLINE = 20


def need_fastapi(test):
    try:
        import fastapi  # noqa: F401
        import starlette  # noqa: F401
    except ImportError:
        loud_skip(test, "fastapi/starlette not importable by %s (Debian "
                  "python3-fastapi is for /usr/bin/python3: run "
                  "python.sys_asgi)" % sys.executable)


UPGRADE = (b"GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
           b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")


class AsgiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.marker = tempfile.mktemp(prefix="ws101-asgi-shutdown-")
        env = dict(os.environ, PYTHONPATH=APPS,
                   WS101_ASGI_SHUTDOWN_MARKER=cls.marker)
        cls.proc = subprocess.Popen(
            [sys.executable, "-m", "ws101.asgi", "fastapi_app:app",
             "--host", "127.0.0.1", "--port", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        line = cls.proc.stdout.readline()
        m = re.match(r"listening on http://127\.0\.0\.1:(\d+)/", line)
        if not m:
            cls.proc.kill()
            out, err = cls.proc.communicate()
            raise AssertionError("no 'listening on' line: %r %s" % (line, err))
        cls.port = int(m.group(1))
        cls.base = "http://127.0.0.1:%d" % cls.port

    @classmethod
    def tearDownClass(cls):
        if cls.proc.poll() is None:
            cls.proc.kill()
            cls.proc.communicate()
        if os.path.exists(cls.marker):
            os.unlink(cls.marker)

    def setUp(self):
        need_fastapi(self)

    def curl(self, *args):
        curl = shutil.which("curl")
        if not curl:
            loud_skip(self, "curl not found")
        r = subprocess.run([curl, "-sS", "--max-time", "10"] + list(args),
                           capture_output=True, timeout=DEADLINE)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def raw(self, request, want=b"\r\n\r\n"):
        with socket.create_connection(("127.0.0.1", self.port), 10) as s:
            s.sendall(request)
            data = b""
            while want not in data:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            return data

    # -- http -----------------------------------------------------------------
    def test_json_routes_with_curl(self):
        body = json.loads(self.curl(self.base + "/"))
        self.assertEqual(body, {"hello": "world", "started": True})
        out = self.curl("-H", "content-type: application/json",
                        "-d", '{"a": 1, "b": [2]}', self.base + "/items")
        self.assertEqual(json.loads(out), {"got": {"a": 1, "b": [2]}, "n": 2})
        # keep-alive: two requests on one connection
        out = self.curl("-v", self.base + "/", self.base + "/events")
        self.assertIn(b'"started":true', out)

    def test_streaming_response_and_upload(self):
        out = self.curl("-i", self.base + "/stream")
        self.assertIn(b"transfer-encoding: chunked", out.lower())
        self.assertTrue(out.endswith(b"".join(b"chunk%d\n" % i
                                              for i in range(5))), out)
        data = os.urandom(300000)
        r = subprocess.run(["curl", "-sS", "--max-time", "10", "-X", "POST",
                            "-H", "content-type: application/octet-stream",
                            "--data-binary", "@-", self.base + "/raw/upload"],
                           input=data, capture_output=True, timeout=DEADLINE)
        m = re.match(rb"300000 bytes in (\d+) pieces", r.stdout)
        self.assertTrue(m, r.stdout + r.stderr)

    def test_ws101_fetch_client(self):
        async def main():
            r = await ws101.aio.fetch(self.base + "/items", "POST",
                                      {"content-type": "application/json"},
                                      '{"x": "y"}')
            return r.status, r.json()
        status, body = asyncio.run(main())
        self.assertEqual((status, body), (200, {"got": {"x": "y"}, "n": 1}))

    def test_response_start_twice_is_an_error(self):
        head = self.raw(b"GET /raw/twice HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 500"), head)
        # and the server keeps serving
        self.assertEqual(json.loads(self.curl(self.base + "/"))["hello"],
                         "world")

    def test_disconnect_while_streaming(self):
        before = json.loads(self.curl(self.base + "/events"))["disconnects"]
        with socket.create_connection(("127.0.0.1", self.port), 10) as s:
            s.sendall(b"GET /raw/forever HTTP/1.1\r\nHost: x\r\n\r\n")
            got = b""
            while got.count(b"tick") < 3:
                got += s.recv(4096)
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            n = json.loads(self.curl(self.base + "/events"))["disconnects"]
            if n > before:
                break
            time.sleep(0.05)
        self.assertEqual(n, before + 1, "app never saw http.disconnect")

    # -- websocket ------------------------------------------------------------
    def test_websocket_with_websockets_client(self):
        try:
            import websockets
        except ImportError:
            loud_skip(self, "websockets not importable by %s" % sys.executable)

        async def main():
            url = "ws://127.0.0.1:%d/ws" % self.port
            async with websockets.connect(url, subprotocols=["chat"]) as w:
                self.assertEqual(w.subprotocol, "chat")
                await w.send("hi")
                self.assertEqual(await w.recv(), "echo:hi")
                await w.send(b"\x01\x02\x03")
                self.assertEqual(await w.recv(), b"\x03\x02\x01")
                await w.send("close-4000")
                with self.assertRaises(websockets.ConnectionClosed) as cm:
                    await w.recv()
                self.assertEqual(cm.exception.code, 4000)
        asyncio.run(asyncio.wait_for(main(), DEADLINE))

    def test_websocket_with_ws101_client(self):
        async def main():
            url = "ws://127.0.0.1:%d/ws" % self.port
            async with ws101.aio.connect(url) as ws:
                for i in range(20):
                    await ws.send("m%d" % i)
                for i in range(20):
                    self.assertEqual(await ws.recv(), "echo:m%d" % i)
            self.assertEqual(ws.close_code, 1000)
        asyncio.run(asyncio.wait_for(main(), DEADLINE))

    def test_close_before_accept_is_403(self):
        self.assertTrue(self.raw(UPGRADE % b"/raw/deny").startswith(
            b"HTTP/1.1 403"))
        self.assertTrue(self.raw(UPGRADE % b"/raw/noaccept").startswith(
            b"HTTP/1.1 403"))

    def test_denial_response_extension(self):
        data = self.raw(UPGRADE % b"/raw/deny-custom", want=b"go away")
        self.assertTrue(data.startswith(b"HTTP/1.1 401"), data)
        self.assertTrue(data.endswith(b"go away"), data)

    def test_zz_lifespan_shutdown_on_sigterm(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(DEADLINE)
        except subprocess.TimeoutExpired:
            self.fail("server did not stop on SIGTERM")
        self.assertEqual(self.proc.returncode, 0, self.proc.stderr.read())
        with open(self.marker) as f:
            self.assertEqual(f.read(), "shutdown\n")


if __name__ == "__main__":
    unittest.main()

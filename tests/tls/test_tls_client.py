#!/usr/bin/python3
"""tls.client: the ws101 clients (through the `ws101` tool: `get` is
ws101_fetch, `connect` is ws101_ws_connect) against independent TLS
servers: Python websockets with ssl, and nginx with TLS. Also the refusals:
an untrusted CA, a wrong host name and an expired certificate each fail
with a clear message naming the reason, and --insecure skips verification.
"""
import asyncio
import os
import shutil
import ssl
import subprocess
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tlshelp  # noqa: E402
from tlshelp import T, demo  # noqa: E402

try:
    import websockets
    import websockets.server  # noqa: F401
except ImportError as e:
    demo.skip("python websockets is not importable: %s" % e)
TOOL = os.environ.get("WS101_TOOL_BIN")
if not TOOL or not os.access(TOOL, os.X_OK):
    demo.skip("WS101_TOOL_BIN (the ws101 tool) is not built")
PKI = tlshelp.make_pki()


def p(name):
    return os.path.join(PKI, name)


def tool(*args, stdin=b""):
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    r = subprocess.run([TOOL] + list(args), input=stdin, capture_output=True,
                       timeout=T + 10, env=env)
    err = r.stderr.decode("utf-8", "replace")
    if demo.SANITIZER_RE.search(err):
        raise AssertionError("sanitizer report:\n" + err)
    return r.returncode, r.stdout.decode("utf-8", "replace"), err


class PyWssServer:
    """A Python websockets echo server with ssl, on its own thread."""

    def __init__(self, cert, key):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.ready = threading.Event()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        if not self.ready.wait(T):
            raise AssertionError("websockets server did not start")

    async def _echo(self, ws, *args):
        async for msg in ws:
            await ws.send(msg)

    def _run(self):
        asyncio.set_event_loop(self.loop)

        async def main():
            self.stop_fut = self.loop.create_future()
            async with websockets.serve(self._echo, "127.0.0.1", 0,
                                        ssl=self.ctx) as srv:
                self.port = srv.sockets[0].getsockname()[1]
                self.ready.set()
                await self.stop_fut
        self.loop.run_until_complete(main())

    def stop(self):
        self.loop.call_soon_threadsafe(self.stop_fut.set_result, None)
        self.thread.join(T)


class TestAgainstPythonWebsockets(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.good = PyWssServer(p("server.pem"), p("server.key"))
        cls.bad = {n: PyWssServer(p(n + ".pem"), p(n + ".key"))
                   for n in ("untrusted", "wronghost", "expired")}

    @classmethod
    def tearDownClass(cls):
        cls.good.stop()
        for s in cls.bad.values():
            s.stop()

    def test_wss_echo(self):
        for host in ("localhost", "127.0.0.1"):  # DNS SAN, IP SAN
            rc, out, err = tool("connect", "--cafile", p("ca.pem"),
                                "wss://%s:%d/" % (host, self.good.port),
                                stdin=b"one\ntwo\n" + b"x" * 70000 + b"\n")
            self.assertEqual(rc, 0, err)
            self.assertEqual(out.splitlines()[:2], ["one", "two"])
            self.assertEqual(out.splitlines()[2], "x" * 70000)

    def test_refusals_have_clear_messages(self):
        cases = {"untrusted": r"certificate verify failed: "
                              r"(unable to get local issuer certificate|"
                              r"self.signed)",
                 "wronghost": r"certificate verify failed: "
                              r"hostname mismatch",
                 "expired": r"certificate verify failed: "
                            r"certificate has expired"}
        for name, want in cases.items():
            rc, out, err = tool("connect", "--cafile", p("ca.pem"),
                                "wss://localhost:%d/" % self.bad[name].port,
                                stdin=b"hi\n")
            self.assertNotEqual(rc, 0, name)
            self.assertRegex(err, want, name)
            self.assertIn("WS101_ETLS", err)
        # Without --cafile the system store does not know our test CA.
        rc, out, err = tool("connect", "wss://localhost:%d/" % self.good.port,
                            stdin=b"hi\n")
        self.assertNotEqual(rc, 0)
        self.assertRegex(err, r"certificate verify failed")

    def test_insecure_skips_verification(self):
        rc, out, err = tool("connect", "--insecure",
                            "wss://localhost:%d/" % self.bad["expired"].port,
                            stdin=b"anyway\n")
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, "anyway\n")


class TestAgainstNginx(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ngx = tlshelp.Nginx(p("chain-server.pem"), p("server.key"))

    @classmethod
    def tearDownClass(cls):
        cls.ngx.stop()

    def test_https_get(self):
        rc, out, err = tool("get", "--cafile", p("ca.pem"),
                            "https://localhost:%d/x" % self.ngx.port)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, "nginx over tls\n")
        rc, out, err = tool("get", "https://localhost:%d/x" % self.ngx.port)
        self.assertNotEqual(rc, 0)
        self.assertRegex(err, r"certificate verify failed")
        # nginx saw TLS 1.2 or 1.3 for the successful request.
        self.assertTrue(any("GET /x" in l and "TLSv1." in l
                            for l in self.ngx.log()), self.ngx.log())


if __name__ == "__main__":
    try:
        demo.run_unittest()
    finally:
        shutil.rmtree(PKI, ignore_errors=True)

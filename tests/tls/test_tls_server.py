#!/usr/bin/python3
"""tls.server: the ws101 TLS server (tests/tls/tls_server.c) against real
TLS peers: curl, Python ssl and websockets, node ws, openssl s_client.

Covers https and wss, ALPN, SNI, session resumption (TLS 1.2 and 1.3),
TLS 1.1 refused, garbage / stalled / vanished handshakes closing only their
own connection, records split at every byte, mTLS with the peer subject
visible to handlers, certificates from memory, plain + TLS listeners on one
server, and a certificate reload without restart.
"""
import asyncio
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tlshelp  # noqa: E402
from tlshelp import T, demo  # noqa: E402

try:
    import websockets
except ImportError as e:
    demo.skip("python websockets is not importable: %s" % e)
CURL = tlshelp.need("curl", "apt-get install curl")
OPENSSL = tlshelp.need("openssl", "apt-get install openssl")
PKI = tlshelp.make_pki()


def p(name):
    return os.path.join(PKI, name)


def curl(*args):
    r = subprocess.run([CURL, "-sS", "--noproxy", "*", "--max-time", str(T)]
                       + list(args), capture_output=True, text=True,
                       timeout=T + 5)
    return r


def s_client(port, *args, data=b""):
    r = subprocess.run([OPENSSL, "s_client", "-connect", "127.0.0.1:%d" % port]
                       + list(args), input=data, capture_output=True,
                       timeout=T)
    return r.returncode, (r.stdout + r.stderr).decode("utf-8", "replace")


def ctx(cafile=None, cert=None, key=None):
    c = ssl.create_default_context(cafile=cafile or p("ca.pem"))
    if cert:
        c.load_cert_chain(cert, key)
    return c


def get(port, path, host="localhost", context=None):
    """One HTTPS GET over Python's ssl; returns (status line, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=T) as raw:
        with (context or ctx()).wrap_socket(raw, server_hostname=host) as s:
            s.sendall(b"GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close"
                      b"\r\n\r\n" % (path.encode(), host.encode()))
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0].decode(), body.decode()


REQ = b"GET /hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"


def subject_of(output):
    m = re.search(r"^subject=(.*)$", output, re.M)
    return m.group(1).replace(" ", "") if m else None


class Base(unittest.TestCase):
    server_args = ()
    cert = "server"

    @classmethod
    def setUpClass(cls):
        cls.srv = tlshelp.tls_server(PKI, *cls.server_args, cert=cls.cert)
        cls.port = cls.srv.ports["tls"]

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()


class TestBasics(Base):
    server_args = ("--sni", "other.test", p("other.pem"), p("other.key"),
                   "--header-timeout", "700")

    def test_curl_https_alpn(self):
        # curl offers h2 first: ALPN picks HTTP/2, and the same handler
        # answers on an HTTP/2 stream.
        r = curl("-v", "--cacert", p("ca.pem"),
                 "https://localhost:%d/hello" % self.port)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "hello\n")
        self.assertRegex(r.stderr, r"ALPN: server accepted h2|"
                         r"ALPN, server accepted to use h2")
        self.assertIn("< HTTP/2 200", r.stderr)
        # A client that offers only http/1.1 stays on HTTP/1.1.
        r = curl("-v", "--http1.1", "--cacert", p("ca.pem"),
                 "https://localhost:%d/hello" % self.port)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "hello\n")
        self.assertRegex(r.stderr, r"ALPN: server accepted http/1\.1|"
                         r"ALPN, server accepted to use http/1\.1")
        self.assertIn("< HTTP/1.1 200", r.stderr)
        # An IP-address URL is verified against the IP SAN.
        r = curl("--cacert", p("ca.pem"),
                 "https://127.0.0.1:%d/whoami" % self.port)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"^TLSv1\.[23] -\n$")

    def test_keepalive_requests_on_one_connection(self):
        urls = ["https://localhost:%d/hello" % self.port] * 5
        r = curl("--cacert", p("ca.pem"), *urls)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "hello\n" * 5)

    def test_python_ssl_alpn(self):
        c = ctx()
        for offer, want in ((["h2", "http/1.1"], "h2"),
                            (["http/1.1", "h2"], "h2"),  # server's order
                            (["http/1.1"], "http/1.1")):
            c = ctx()
            c.set_alpn_protocols(offer)
            with socket.create_connection(("127.0.0.1", self.port),
                                          timeout=T) as r:
                with c.wrap_socket(r, server_hostname="localhost") as s:
                    self.assertEqual(s.selected_alpn_protocol(), want, offer)

    def test_websockets_wss(self):
        async def run():
            async with websockets.connect(
                    "wss://localhost:%d/ws" % self.port, ssl=ctx(),
                    open_timeout=T) as ws:
                await ws.send("over tls")
                self.assertEqual(await asyncio.wait_for(ws.recv(), T),
                                 "over tls")
                big = os.urandom(300000)
                await ws.send(big)
                self.assertEqual(await asyncio.wait_for(ws.recv(), T), big)
        asyncio.run(run())

    def test_sni_selects_certificate(self):
        for name, want in (("other.test", "CN=other.test"),
                           ("localhost", "CN=localhost"),
                           ("unknown.test", "CN=localhost")):
            rc, out = s_client(self.port, "-servername", name)
            self.assertEqual(subject_of(out), want, out)
        rc, out = s_client(self.port, "-noservername")
        self.assertEqual(subject_of(out), "CN=localhost", out)
        # And a real client verifies the SNI certificate by name.
        c = ctx()
        with socket.create_connection(("127.0.0.1", self.port), timeout=T) as r:
            with c.wrap_socket(r, server_hostname="other.test") as s:
                self.assertIn(("commonName", "other.test"),
                              [x[0] for x in s.getpeercert()["subject"]])

    def test_resumption(self):
        for version in ("-tls1_2", "-tls1_3"):
            sess = os.path.join(PKI, "sess%s.pem" % version)
            # A whole request/response, so that the session ticket (sent
            # after a TLS 1.3 handshake) is read before s_client exits.
            rc, out = s_client(self.port, version, "-servername", "localhost",
                               "-sess_out", sess, "-ign_eof", data=REQ)
            self.assertIn("New,", out)
            self.assertIn("hello", out)
            rc, out = s_client(self.port, version, "-servername", "localhost",
                               "-sess_in", sess)
            self.assertIn("Reused,", out, "%s not resumed:\n%s" %
                          (version, out))

    def test_tls11_refused(self):
        rc, out = s_client(self.port, "-tls1_1", "-cipher",
                           "DEFAULT:@SECLEVEL=0")
        self.assertNotEqual(rc, 0)
        self.assertRegex(out, r"alert protocol version|unsupported protocol")
        self.assertEqual(get(self.port, "/hello")[1], "hello\n")

    def test_garbage_then_good_client(self):
        for junk in (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                     bytes(range(256)) * 4, b"\x16\x03\x01\xff\xff" + b"A" * 50):
            with socket.create_connection(("127.0.0.1", self.port),
                                          timeout=T) as s:
                s.sendall(junk)
                got = b""
                while True:  # an alert at most, then the close
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    got += chunk
                self.assertLess(len(got), 64, got)
                self.assertNotIn(b"HTTP/1.1", got)
            self.assertEqual(get(self.port, "/hello")[1], "hello\n")

    def test_stalled_and_vanished_handshakes(self):
        stalled = socket.create_connection(("127.0.0.1", self.port), timeout=T)
        stalled.sendall(b"\x16\x03\x01")  # a ClientHello that never comes
        vanished = socket.create_connection(("127.0.0.1", self.port),
                                            timeout=T)
        vanished.sendall(b"\x16\x03\x01\x02\x00\x01")
        vanished.close()
        # Others are served meanwhile...
        self.assertEqual(get(self.port, "/hello")[1], "hello\n")
        # ...and the stalled one is dropped at the header deadline (700 ms).
        t0 = time.monotonic()
        self.assertEqual(stalled.recv(100), b"")
        self.assertLess(time.monotonic() - t0, T)
        stalled.close()
        self.assertEqual(get(self.port, "/hello")[1], "hello\n")

    def test_records_split_at_every_byte(self):
        """Every byte of the handshake and of the request goes out in its
        own send() with Nagle off, so the server sees records cut at
        arbitrary points (most reads are a single byte)."""
        c = ctx()
        inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = c.wrap_bio(inc, out, server_hostname="localhost")
        s = socket.create_connection(("127.0.0.1", self.port), timeout=T)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def pump_out():
            data = out.read()
            for i in range(len(data)):
                s.sendall(data[i:i + 1])

        def pump_in():
            chunk = s.recv(65536)
            if not chunk:
                inc.write_eof()
            inc.write(chunk)

        while True:
            try:
                obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                pump_out()
                pump_in()
        pump_out()
        obj.write(b"GET /hello HTTP/1.1\r\nHost: localhost\r\n"
                  b"Connection: close\r\n\r\n")
        pump_out()
        body = b""
        while b"hello\n" not in body:
            try:
                body += obj.read(65536)
            except ssl.SSLWantReadError:
                pump_in()
            except ssl.SSLZeroReturnError:
                break
        s.close()
        self.assertIn(b"200 OK", body)
        self.assertTrue(body.endswith(b"hello\n"), body)

    def test_close_notify_sent(self):
        """Connection: close ends with our close_notify (an orderly TLS
        end), which Python reports as a clean EOF, not a truncation."""
        c = ctx()
        with socket.create_connection(("127.0.0.1", self.port), timeout=T) as r:
            with c.wrap_socket(r, server_hostname="localhost",
                               suppress_ragged_eofs=False) as s:
                s.sendall(b"GET /hello HTTP/1.1\r\nHost: localhost\r\n"
                          b"Connection: close\r\n\r\n")
                data = b""
                while True:
                    chunk = s.recv(65536)  # raises on a ragged EOF
                    if not chunk:
                        break
                    data += chunk
        self.assertTrue(data.endswith(b"hello\n"), data)


class TestNodeWss(Base):
    def test_node_ws_over_wss(self):
        node = shutil.which("node")
        mods = os.path.join(os.environ.get("WS101_NODE_DIR", ""),
                            "node_modules")
        if node is None or not os.path.isdir(os.path.join(mods, "ws")):
            self.skipTest("node or tests/node/node_modules/ws missing "
                          "(npm ci --prefix tests/node)")
        script = r"""
const WebSocket = require('ws'); const fs = require('fs');
const ws = new WebSocket(process.argv[1], {ca: fs.readFileSync(process.argv[2])});
const t = setTimeout(() => { console.log('timeout'); process.exit(1); }, %d);
ws.on('open', () => ws.send('from node'));
ws.on('message', (m) => { console.log('got ' + m); clearTimeout(t); ws.close(1000); });
ws.on('close', (code) => { console.log('close ' + code); process.exit(0); });
ws.on('error', (e) => { console.log('error ' + e.message); process.exit(1); });
""" % int(T * 1000)
        r = subprocess.run([node, "-e", script,
                            "wss://localhost:%d/ws" % self.port,
                            p("ca.pem")], capture_output=True, text=True,
                           timeout=T + 5, env=dict(os.environ,
                                                   NODE_PATH=mods))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("got from node", r.stdout)
        self.assertIn("close 1000", r.stdout)


class TestClientCertOptional(Base):
    server_args = ("--ca", p("ca.pem"), "--client-cert", "optional")

    def test_subject_visible_to_request_and_websocket(self):
        r = curl("--cacert", p("ca.pem"), "--cert", p("client.pem"), "--key",
                 p("client.key"), "https://localhost:%d/whoami" % self.port)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"^TLSv1\.[23] CN=alice,O=ws101 test\n$")
        r = curl("--cacert", p("ca.pem"),
                 "https://localhost:%d/whoami" % self.port)
        self.assertRegex(r.stdout, r"^TLSv1\.[23] -\n$")

        async def run():
            async with websockets.connect(
                    "wss://localhost:%d/ws" % self.port,
                    ssl=ctx(cert=p("client.pem"), key=p("client.key")),
                    open_timeout=T) as ws:
                await ws.send("whoami")
                return await asyncio.wait_for(ws.recv(), T)
        self.assertEqual(asyncio.run(run()), "CN=alice,O=ws101 test")

    def test_untrusted_client_cert_refused(self):
        r = curl("--cacert", p("ca.pem"), "--cert", p("untrusted.pem"),
                 "--key", p("untrusted.key"),
                 "https://localhost:%d/whoami" % self.port)
        self.assertNotEqual(r.returncode, 0, r.stdout)


class TestClientCertRequired(Base):
    server_args = ("--ca", p("ca.pem"), "--client-cert", "require")

    def test_required(self):
        r = curl("--cacert", p("ca.pem"),
                 "https://localhost:%d/whoami" % self.port)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        r = curl("--cacert", p("ca.pem"), "--cert", p("client.pem"), "--key",
                 p("client.key"), "https://localhost:%d/whoami" % self.port)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("CN=alice", r.stdout)


class TestPlainAndTlsFromMemory(Base):
    server_args = ("--plain", "--pem")

    def test_both_listeners(self):
        plain = self.srv.ports["plain"]
        self.assertNotEqual(plain, self.port)
        r = curl("http://127.0.0.1:%d/whoami" % plain)
        self.assertEqual(r.stdout, "plain -\n", r.stderr)
        r = curl("--cacert", p("ca.pem"),
                 "https://localhost:%d/whoami" % self.port)
        self.assertRegex(r.stdout, r"^TLSv1\.[23] -\n$", r.stderr)
        # TLS bytes on the plain port are just a bad request there.
        r = curl("--cacert", p("ca.pem"), "https://localhost:%d/" % plain)
        self.assertNotEqual(r.returncode, 0)


class TestReload(Base):
    server_args = ("--reload-cert", p("other.pem"), "--reload-key",
                   p("other.key"))

    def test_reload_without_restart(self):
        c = ctx()
        old = c.wrap_socket(socket.create_connection(("127.0.0.1", self.port),
                                                     timeout=T),
                            server_hostname="localhost")
        rc, out = s_client(self.port, "-servername", "x.test")
        self.assertEqual(subject_of(out), "CN=localhost", out)
        self.assertEqual(get(self.port, "/reload")[1], "reloaded\n")
        rc, out = s_client(self.port, "-servername", "x.test")
        self.assertEqual(subject_of(out), "CN=other.test", out)
        self.assertEqual(get(self.port, "/hello", host="other.test")[1],
                         "hello\n")
        # The connection opened before the reload still works.
        old.sendall(b"GET /hello HTTP/1.1\r\nHost: localhost\r\n"
                    b"Connection: close\r\n\r\n")
        data = b""
        while True:
            chunk = old.recv(65536)
            if not chunk:
                break
            data += chunk
        old.close()
        self.assertTrue(data.endswith(b"hello\n"), data)


class TestReloadFailureKeepsOld(Base):
    server_args = ("--reload-cert", "/nonexistent/cert.pem", "--reload-key",
                   "/nonexistent/key.pem")

    def test_bad_reload(self):
        status, body = get(self.port, "/reload")
        self.assertIn("500", status)
        self.assertIn("WS101_ETLS", body)
        self.assertIn("/nonexistent/cert.pem", body)
        self.assertEqual(get(self.port, "/hello")[1], "hello\n")


if __name__ == "__main__":
    try:
        demo.run_unittest()
    finally:
        shutil.rmtree(PKI, ignore_errors=True)

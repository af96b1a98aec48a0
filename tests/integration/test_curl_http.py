#!/usr/bin/python3
"""integ.curl_http: the demo's HTTP/1.1 surface as curl (a real, independent
client) sees it, plus the WebSocket handshake answers checked on raw sockets.

Run: test_curl_http.py --demo PATH/ws101-demo   (or WS101_DEMO_BIN=...)
"""
import email.utils
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import demo  # noqa: E402

DEMO_BIN = demo.find_demo()
CURL = shutil.which("curl")
if not CURL:
    demo.skip("curl is not installed")

HELLO = b"hello from libws101\n"
CURL_DEADLINE = 30


def curl(*args, input=None):
    """Run curl; returns (returncode, stdout bytes, stderr text)."""
    p = subprocess.run([CURL, "--silent", "--show-error", "--max-time", "20",
                        "--noproxy", "*"] + list(args),
                       input=input, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=CURL_DEADLINE)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def slurp(path):
    with open(path, encoding="latin-1") as f:
        return f.read()


def parse_head(text):
    """curl -D - / -i header block(s) -> list of (status, {lower: [values]})."""
    out = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        lines = [ln for ln in block.split("\n") if ln]
        if not lines or not lines[0].startswith("HTTP/"):
            continue
        status = int(lines[0].split()[1])
        h = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            h.setdefault(k.strip().lower(), []).append(v.strip())
        out.append((status, h))
    return out


class CurlHttp(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = demo.Demo(DEMO_BIN).start()
        cls.url = cls.d.url
        cls.tmp = tempfile.TemporaryDirectory(prefix="ws101-curl-")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()
        cls.d.stop()  # asserts exit 0 and a clean sanitizer log

    def hdr_file(self):
        return os.path.join(self.tmp.name, "h%d" % time.monotonic_ns())

    def test_get_hello(self):
        hf = self.hdr_file()
        rc, out, err = curl("-D", hf, self.url + "/hello")
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, HELLO)
        [(status, h)] = parse_head(slurp(hf))
        self.assertEqual(status, 200)
        self.assertTrue(h["content-type"][0].startswith("text/plain"), h)
        self.assertEqual(h.get("content-length"), [str(len(HELLO))])

    def test_index_page(self):
        hf = self.hdr_file()
        rc, out, err = curl("-D", hf, self.url + "/")
        self.assertEqual(rc, 0, err)
        [(status, h)] = parse_head(slurp(hf))
        self.assertEqual(status, 200)
        self.assertTrue(h["content-type"][0].startswith("text/html"), h)
        page = out.decode("utf-8")
        self.assertIn("ws101Echo", page)
        self.assertIn("/ws", page)
        self.assertIn("WebSocket", page)

    def test_date_header(self):
        hf = self.hdr_file()
        rc, out, err = curl("-D", hf, self.url + "/hello")
        self.assertEqual(rc, 0, err)
        [(status, h)] = parse_head(slurp(hf))
        self.assertIn("date", h, "no Date header")
        self.assertEqual(len(h["date"]), 1)
        when = email.utils.parsedate_to_datetime(h["date"][0])
        self.assertIsNotNone(when.tzinfo, h["date"])
        self.assertTrue(h["date"][0].endswith(" GMT"), h["date"])
        self.assertLess(abs(when.timestamp() - time.time()), 300,
                        "Date %r is not now" % h["date"][0])

    def test_head_hello(self):
        rc, out, err = curl("-I", self.url + "/hello")
        self.assertEqual(rc, 0, err)
        [(status, h)] = parse_head(out.decode("latin-1"))
        self.assertEqual(status, 200)
        self.assertTrue(h["content-type"][0].startswith("text/plain"))
        self.assertEqual(h.get("content-length"), [str(len(HELLO))])
        # curl -I never reads a body, so prove there is none on the wire:
        # a GET right behind the HEAD on the same connection must parse as
        # the next response.
        s = demo.connect(self.d.host, self.d.port)
        s.sendall(b"HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        r = demo.Reader(s)
        head = demo.read_response(r, "HEAD")
        self.assertEqual(head.status, 200)
        self.assertEqual(head.header("content-length"), str(len(HELLO)))
        get = demo.read_response(r, "GET")
        self.assertEqual(get.status, 200, "bytes after HEAD: %r" % get)
        self.assertEqual(get.body, HELLO)
        s.close()

    def test_keepalive_reuse(self):
        rc, out, err = curl("-v", self.url + "/hello", self.url + "/hello")
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, HELLO + HELLO)
        self.assertIn("Re-using existing connection", err)
        self.assertEqual(err.count("Connected to"), 1, err)

    def test_404(self):
        hf = self.hdr_file()
        rc, out, err = curl("-D", hf, self.url + "/no/such/path")
        self.assertEqual(rc, 0, err)
        [(status, h)] = parse_head(slurp(hf))
        self.assertEqual(status, 404)

    def test_post_echo_content_length(self):
        body = os.urandom(4096)
        hf = self.hdr_file()
        rc, out, err = curl("-D", hf, "--data-binary", "@-",
                            "-H", "Content-Type: application/octet-stream",
                            self.url + "/echo", input=body)
        self.assertEqual(rc, 0, err)
        [(status, h)] = parse_head(slurp(hf))
        self.assertEqual(status, 200)
        self.assertEqual(h["content-type"][0], "application/octet-stream")
        self.assertEqual(out, body)

    def test_chunked_upload_200k(self):
        body = os.urandom(200 * 1024)
        path = os.path.join(self.tmp.name, "up.bin")
        with open(path, "wb") as f:
            f.write(body)
        rc, out, err = curl("-v", "-H", "Transfer-Encoding: chunked",
                            "-H", "Expect:",  # plain chunked, no 100
                            "--data-binary", "@" + path, self.url + "/echo")
        self.assertEqual(rc, 0, err)
        self.assertIn("> Transfer-Encoding: chunked", err)
        self.assertIn("< HTTP/1.1 200", err)
        self.assertEqual(len(out), len(body))
        self.assertEqual(out, body)

    def test_expect_100_continue(self):
        body = os.urandom(64 * 1024)
        path = os.path.join(self.tmp.name, "up100.bin")
        with open(path, "wb") as f:
            f.write(body)
        # --expect100-timeout large: if the server never sends 100 the
        # upload stalls instead of silently going ahead after 1 s.
        t0 = time.monotonic()
        rc, out, err = curl("-v", "-H", "Expect: 100-continue",
                            "--expect100-timeout", "15",
                            "--data-binary", "@" + path, self.url + "/echo")
        self.assertEqual(rc, 0, err)
        self.assertIn("> Expect: 100-continue", err)
        self.assertIn("< HTTP/1.1 100 Continue", err)
        self.assertLess(time.monotonic() - t0, 10)
        self.assertEqual(out, body)
        # The same on a raw socket: 100 must come before any body is sent.
        s = demo.connect(self.d.host, self.d.port)
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                  b"Expect: 100-continue\r\n\r\n")
        r = demo.Reader(s)
        interim = r.read_until(b"\r\n\r\n")
        self.assertTrue(interim.startswith(b"HTTP/1.1 100"), interim)
        s.sendall(b"abcde")
        resp = demo.read_response(r)
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.body, b"abcde")
        s.close()

    def test_stream_chunked(self):
        want = b"".join(b"chunk %d\n" % i for i in range(5))
        rc, out, err = curl("-v", "--raw", self.url + "/stream?n=5")
        self.assertEqual(rc, 0, err)
        self.assertIn("< Transfer-Encoding: chunked", err)
        self.assertNotIn("< Content-Length", err)
        rc, out, err = curl(self.url + "/stream?n=5")
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, want)
        resp, r = demo.request(self.d.host, self.d.port,
                               b"GET /stream?n=5 HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(resp.status, 200)
        self.assertTrue(resp.chunked)
        self.assertEqual(resp.body, want)
        r.sock.close()

    def test_http10_closes(self):
        rc, out, err = curl("-v", "-0", self.url + "/hello")
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, HELLO)
        self.assertIn("> GET /hello HTTP/1.0", err)
        self.assertIn("Closing connection", err)
        self.assertNotIn("left intact", err)
        # raw: the server must close after answering an HTTP/1.0 request
        resp, r = demo.request(self.d.host, self.d.port,
                               b"GET /hello HTTP/1.0\r\n\r\n")
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.body, HELLO)
        r.expect_eof()
        r.sock.close()

    def test_ipv6_loopback(self):
        try:
            with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
                s.bind(("::1", 0))
        except OSError as e:
            self.skipTest("no IPv6 loopback: %s" % e)
        with demo.Demo(DEMO_BIN, host="::1") as d6:
            self.assertEqual(d6.host, "::1")
            rc, out, err = curl("-g", "http://[::1]:%d/hello" % d6.port)
            self.assertEqual(rc, 0, err)
            self.assertEqual(out, HELLO)
            # and it is not listening on 127.0.0.1 at that port as well
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.settimeout(5)
                self.assertNotEqual(s.connect_ex(("127.0.0.1", d6.port)), 0,
                                    "--host ::1 also listens on 127.0.0.1")

    # -- WebSocket handshake answers ---------------------------------------
    UPGRADE = ("GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\n%s\r\n")

    def test_upgrade_101_rfc_sample_key(self):
        # curl first: it must at least see the 101 and the accept value.
        rc, out, err = curl("-i", "-N", "--max-time", "3",
                            "-H", "Connection: Upgrade",
                            "-H", "Upgrade: websocket",
                            "-H", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                            "-H", "Sec-WebSocket-Version: 13",
                            self.url + "/ws")
        # curl waits on the upgraded stream until --max-time (28) or the
        # server closes it; either is fine, the head is what we check.
        self.assertIn(rc, (0, 18, 28, 52, 56), err)
        text = out.decode("latin-1")
        self.assertTrue(text.startswith("HTTP/1.1 101"), text[:200])
        self.assertIn("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
                      text)
        # raw socket: exact header semantics
        s = demo.connect(self.d.host, self.d.port)
        s.sendall((self.UPGRADE % ("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                   "Sec-WebSocket-Version: 13\r\n")).encode())
        r = demo.Reader(s)
        resp = demo.read_response(r)
        self.assertEqual(resp.status, 101)
        self.assertEqual(resp.header("sec-websocket-accept"),
                         "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        self.assertTrue(resp.has_token("upgrade", "websocket"), resp)
        self.assertTrue(resp.has_token("connection", "upgrade"), resp)
        self.assertIsNone(resp.header("content-length"))
        self.assertIsNone(resp.header("transfer-encoding"))
        # no extension was offered, so none may be accepted
        self.assertIsNone(resp.header("sec-websocket-extensions"))
        # a masked close frame gets a close back
        s.sendall(demo.ws_frame(8, b"\x03\xe8"))
        code, _ = demo.ws_expect_close(r)
        self.assertEqual(code, 1000)
        r.expect_eof()
        s.close()

    def test_plain_get_ws_426(self):
        hf = self.hdr_file()
        rc, out, err = curl("-D", hf, self.url + "/ws")
        self.assertEqual(rc, 0, err)
        [(status, h)] = parse_head(slurp(hf))
        self.assertEqual(status, 426)
        self.assertIn("websocket", [v.lower() for v in h.get("upgrade", [])])

    def test_wrong_version_426(self):
        resp, r = demo.request(self.d.host, self.d.port, (self.UPGRADE % (
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 8\r\n")).encode())
        r.sock.close()
        self.assertEqual(resp.status, 426)
        self.assertTrue(resp.has_token("sec-websocket-version", "13"), resp)
        # with curl too
        hf = self.hdr_file()
        rc, out, err = curl("-D", hf, "-H", "Connection: Upgrade",
                            "-H", "Upgrade: websocket",
                            "-H", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                            "-H", "Sec-WebSocket-Version: 12",
                            self.url + "/ws")
        self.assertEqual(rc, 0, err)
        [(status, h)] = parse_head(slurp(hf))
        self.assertEqual(status, 426)
        self.assertIn("13", ",".join(h.get("sec-websocket-version", [])))

    def test_missing_key_400(self):
        resp, r = demo.request(self.d.host, self.d.port, (self.UPGRADE % (
            "Sec-WebSocket-Version: 13\r\n")).encode())
        r.sock.close()
        self.assertEqual(resp.status, 400)

    def test_bad_key_400(self):
        # a key that is not 16 bytes of base64 is not a valid upgrade
        resp, r = demo.request(self.d.host, self.d.port, (self.UPGRADE % (
            "Sec-WebSocket-Key: c2hvcnQ=\r\n"
            "Sec-WebSocket-Version: 13\r\n")).encode())
        r.sock.close()
        self.assertEqual(resp.status, 400)

    def test_origin_allow_list(self):
        good = "http://good.example"
        with demo.Demo(DEMO_BIN, origins=[good]) as d2:
            req = self.UPGRADE % ("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                  "Sec-WebSocket-Version: 13\r\nOrigin: %s\r\n")
            resp, r = demo.request(d2.host, d2.port,
                                   (req % "http://evil.example").encode())
            r.sock.close()
            self.assertEqual(resp.status, 403)
            resp, r = demo.request(d2.host, d2.port, (req % good).encode())
            self.assertEqual(resp.status, 101)
            self.assertEqual(resp.header("sec-websocket-accept"),
                             "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
            r.sock.sendall(demo.ws_frame(8, b"\x03\xe8"))
            demo.ws_expect_close(r)
            r.sock.close()
            # curl with the bad origin as well
            rc, out, err = curl("-o", "/dev/null", "-w", "%{http_code}",
                                "-H", "Origin: http://evil.example",
                                "-H", "Connection: Upgrade",
                                "-H", "Upgrade: websocket",
                                "-H", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                                "-H", "Sec-WebSocket-Version: 13",
                                d2.url + "/ws")
            self.assertEqual(out, b"403", err)


if __name__ == "__main__":
    demo.run_unittest()

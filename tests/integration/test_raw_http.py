#!/usr/bin/python3
"""integ.raw_http: request smuggling / strictness cases on raw sockets.

Every bad request must get the exact status and then the connection must be
closed by the server (recv returns b'' or RST within a deadline). After all
the bad input the same server must still answer /hello on a fresh connection.

Run: test_raw_http.py --demo PATH/ws101-demo   (or WS101_DEMO_BIN=...)
"""
import os
import select
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import demo  # noqa: E402

DEMO_BIN = demo.find_demo()
HELLO = b"hello from libws101\n"
MAX_BODY = 1048576  # WS101_OPT_MAX_BODY default


class RawHttp(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = demo.Demo(DEMO_BIN).start()

    @classmethod
    def tearDownClass(cls):
        try:
            # the server survived everything above
            resp, r = demo.request(cls.d.host, cls.d.port,
                                   b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            r.sock.close()
            if resp.status != 200 or resp.body != HELLO:
                raise AssertionError("after bad input /hello gave %r" % resp)
        finally:
            cls.d.stop()

    def bad(self, raw, status):
        """Send raw, expect `status`, then expect the server to close."""
        s = demo.connect(self.d.host, self.d.port)
        try:
            try:
                s.sendall(raw)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server may answer and close before reading it all
            r = demo.Reader(s)
            resp = demo.read_response(r)
            self.assertEqual(resp.status, status,
                             "sent %r..., got %r" % (raw[:80], resp))
            r.expect_eof()
            return resp
        finally:
            s.close()

    def test_cl_and_te(self):
        self.bad(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400)
        # order reversed
        self.bad(b"POST /echo HTTP/1.1\r\nHost: x\r\n"
                 b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
                 b"0\r\n\r\n", 400)

    def test_two_content_lengths(self):
        self.bad(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                 b"Content-Length: 6\r\n\r\nabcdef", 400)
        self.bad(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n"
                 b"\r\nabcdef", 400)

    def test_bad_content_length_value(self):
        self.bad(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n"
                 b"\r\nabcde", 400)
        self.bad(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0x5\r\n"
                 b"\r\nabcde", 400)

    def test_obs_fold(self):
        self.bad(b"GET /hello HTTP/1.1\r\nHost: x\r\nX-Foo: a\r\n b\r\n\r\n",
                 400)
        self.bad(b"GET /hello HTTP/1.1\r\nHost: x\r\nX-Foo: a\r\n\tb\r\n\r\n",
                 400)

    def test_bare_cr(self):
        self.bad(b"GET /hello HTTP/1.1\r\nHost: x\r\nX-Foo: a\rb\r\n\r\n", 400)

    def test_bad_header_name_token(self):
        self.bad(b"GET /hello HTTP/1.1\r\nHost: x\r\nX@Foo: 1\r\n\r\n", 400)
        self.bad(b"GET /hello HTTP/1.1\r\nHost: x\r\nX Foo: 1\r\n\r\n", 400)
        # whitespace between name and colon (RFC 9112 5.1: MUST reject)
        self.bad(b"GET /hello HTTP/1.1\r\nHost: x\r\nX-Foo : 1\r\n\r\n", 400)

    def test_request_line_too_long(self):
        self.bad(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414)

    def test_too_many_headers(self):
        hdrs = b"".join(b"X-H%d: v\r\n" % i for i in range(200))
        self.bad(b"GET /hello HTTP/1.1\r\nHost: x\r\n" + hdrs + b"\r\n", 431)

    def test_header_section_too_large(self):
        big = b"X-Big: " + b"v" * 20000 + b"\r\n"
        self.bad(b"GET /hello HTTP/1.1\r\nHost: x\r\n" + big + b"\r\n", 431)

    def test_te_gzip_501(self):
        self.bad(b"POST /echo HTTP/1.1\r\nHost: x\r\n"
                 b"Transfer-Encoding: gzip\r\n\r\n", 501)

    def test_http2_version_505(self):
        self.bad(b"GET /hello HTTP/2.0\r\nHost: x\r\n\r\n", 505)

    def test_missing_host_11(self):
        self.bad(b"GET /hello HTTP/1.1\r\nUser-Agent: t\r\n\r\n", 400)

    def test_two_hosts(self):
        self.bad(b"GET /hello HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400)

    def test_garbage_request_line(self):
        self.bad(b"HELLO\r\n\r\n", 400)

    def test_body_too_large_content_length(self):
        # announced length above the limit: answered without the body
        self.bad(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
                 b"\r\n" % (MAX_BODY + 1), 413)

    def test_body_too_large_chunked(self):
        s = demo.connect(self.d.host, self.d.port)
        try:
            s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n")
            chunk = b"%x\r\n%s\r\n" % (65536, b"z" * 65536)
            deadline = time.monotonic() + demo.IO_DEADLINE
            sent = 0
            # send until the server answers (it must, once past the limit);
            # bounded by count and time
            for _ in range(2 * MAX_BODY // 65536 + 8):
                if time.monotonic() > deadline:
                    break
                rd, _, _ = select.select([s], [], [], 0)
                if rd:
                    break
                try:
                    s.sendall(chunk)
                    sent += 65536
                except (BrokenPipeError, ConnectionResetError):
                    break
            r = demo.Reader(s)
            resp = demo.read_response(r)
            self.assertEqual(resp.status, 413, resp)
            self.assertGreater(sent, 0)
            r.expect_eof()
        finally:
            s.close()

    def test_pipelining_three_hello(self):
        s = demo.connect(self.d.host, self.d.port)
        s.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n" * 3)
        r = demo.Reader(s)
        for i in range(3):
            resp = demo.read_response(r)
            self.assertEqual(resp.status, 200, "response %d: %r" % (i, resp))
            self.assertEqual(resp.body, HELLO)
        # connection still open and idle: nothing more arrives right away
        s.setblocking(False)
        try:
            extra = s.recv(100)
            self.fail("unexpected bytes or EOF after 3 responses: %r" % extra)
        except BlockingIOError:
            pass
        s.close()

    def test_pipelining_mixed_order(self):
        s = demo.connect(self.d.host, self.d.port)
        s.sendall(b"GET /stream?n=2 HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n"
                  b"abc"
                  b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        r = demo.Reader(s)
        a = demo.read_response(r)
        self.assertEqual((a.status, a.body), (200, b"chunk 0\nchunk 1\n"))
        b = demo.read_response(r)
        self.assertEqual((b.status, b.body), (200, b"abc"))
        c = demo.read_response(r)
        self.assertEqual(c.status, 404)
        d = demo.read_response(r)
        self.assertEqual((d.status, d.body), (200, HELLO))
        r.expect_eof()  # Connection: close honoured
        s.close()

    def test_bad_request_after_good_in_pipeline(self):
        # the good one is answered, then the bad one gets 400 and a close
        s = demo.connect(self.d.host, self.d.port)
        s.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /hello HTTP/1.1\r\nHost: x\r\nX-Foo: a\r\n b\r\n\r\n")
        r = demo.Reader(s)
        a = demo.read_response(r)
        self.assertEqual((a.status, a.body), (200, HELLO))
        b = demo.read_response(r)
        self.assertEqual(b.status, 400)
        r.expect_eof()
        s.close()

    def test_zz_server_still_alive(self):
        # also checked in tearDownClass; here it is a named test
        resp, r = demo.request(self.d.host, self.d.port,
                               b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        r.sock.close()
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.body, HELLO)


if __name__ == "__main__":
    demo.run_unittest()

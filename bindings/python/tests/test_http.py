"""HTTP: a Python server answered by curl and by ws101.fetch."""
import json
import unittest

from _support import loud_skip, need_exe, run_proc_with_loop, stats, ws101


class HttpTest(unittest.TestCase):
    def setUp(self):
        self.loop = ws101.Loop(raise_errors=True)
        self.server = ws101.Server(self.loop, max_body=1 << 16)
        s = self.server

        @s.route("/")
        def index(req):
            req.respond(200, "hello\n")

        @s.route("/echo")
        def echo(req):
            req.respond(200, json.dumps({
                "method": req.method, "path": req.path, "query": req.query,
                "body": req.body.decode("latin-1"),
                "ua": req.headers.get("user-agent"),
                "x": req.headers.get_all("X-Test"),
            }), content_type="application/json",
                headers={"X-Reply": "yes"})

        @s.route("/stream")
        def stream(req):
            req.set_status(201)
            req.add_header("X-Streamed", "1")
            for i in range(3):
                req.write("part%d\n" % i)
            req.end()

        @s.route("/later")
        def later(req):
            # Respond from a later loop iteration: the Request must stay alive.
            self.loop.call_soon(req.respond, 202, b"later")

        @s.route("/static/*")
        def static(req):
            req.respond(200, req.path)

        @s.route("/upload", stream_body=True)
        def upload(req):
            parts = []

            def on_body(r, data, last):
                parts.append(data)
                if last:
                    r.respond(200, "got %d" % len(b"".join(parts)))
            req.read_body(on_body)

        @s.route("/early", stream_body=True)
        def early(req):
            # Answer before the body has arrived; body pieces that the
            # library still delivers must not reach a dead request.
            req.read_body(lambda r, data, last: None)
            req.respond(200, "early")

        self.port = s.listen("127.0.0.1", 0)
        self.base = "http://127.0.0.1:%d" % self.port

    def tearDown(self):
        self.server.close()
        self.loop.close()
        self.assertEqual(stats(), (0, 0))

    def curl(self, *args):
        exe = need_exe(self, "curl")
        r = run_proc_with_loop(self.loop, [exe, "-sS", "-i", "--max-time",
                                           "10"] + list(args), timeout=20)
        self.assertEqual(r.returncode, 0, r.stderr)
        head, _, body = r.stdout.replace("\r\n", "\n").partition("\n\n")
        return head, body

    def test_curl_get(self):
        head, body = self.curl(self.base + "/")
        self.assertTrue(head.startswith("HTTP/1.1 200"), head)
        self.assertEqual(body, "hello\n")

    def test_curl_post_json(self):
        head, body = self.curl("-H", "X-Test: a", "-H", "X-Test: b",
                               "-d", "k=v&x=1",
                               self.base + "/echo?q=1")
        self.assertIn("X-Reply: yes", head)
        d = json.loads(body)
        self.assertEqual(d["method"], "POST")
        self.assertEqual(d["path"], "/echo")
        self.assertEqual(d["query"], "q=1")
        self.assertEqual(d["body"], "k=v&x=1")
        self.assertEqual(d["x"], ["a", "b"])
        self.assertTrue(d["ua"].startswith("curl/"))

    def test_curl_stream_and_404(self):
        head, body = self.curl(self.base + "/stream")
        self.assertTrue(head.startswith("HTTP/1.1 201"), head)
        self.assertIn("X-Streamed: 1", head)
        self.assertEqual(body, "part0\npart1\npart2\n")
        head, _ = self.curl(self.base + "/nope")
        self.assertTrue(head.startswith("HTTP/1.1 404"), head)

    def test_curl_deferred_and_prefix(self):
        head, body = self.curl(self.base + "/later")
        self.assertTrue(head.startswith("HTTP/1.1 202"), head)
        self.assertEqual(body, "later")
        _, body = self.curl(self.base + "/static/a/b.css")
        self.assertEqual(body, "/static/a/b.css")

    def test_curl_streamed_upload(self):
        _, body = self.curl("--data-binary", "x" * 100000,
                            self.base + "/upload")
        self.assertEqual(body, "got 100000")

    def test_respond_before_streamed_body(self):
        for _ in range(3):
            r = ws101.fetch(self.base + "/early", "POST", b"y" * 200000,
                            loop=self.loop, timeout=10)
            self.assertEqual((r.status, r.body), (200, b"early"))
        r = ws101.fetch(self.base + "/", loop=self.loop, timeout=10)
        self.assertEqual(r.status, 200)

    def test_fetch(self):
        r = ws101.fetch(self.base + "/echo?z=2", "PUT", b"\x00\xff",
                        {"X-Test": "f"}, loop=self.loop, timeout=10)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers["x-reply"], "yes")
        d = r.json()
        self.assertEqual((d["method"], d["query"], d["body"], d["x"]),
                         ("PUT", "z=2", "\x00\xff", ["f"]))
        self.assertEqual(r.http_version, 11)
        # The same server by HTTP/2 prior knowledge: the response says so.
        r2 = ws101.fetch(self.base + "/", loop=self.loop, timeout=10,
                         client_http2=1)
        self.assertEqual((r2.status, r2.body, r2.http_version),
                         (200, b"hello\n", 20))
        # callback style
        results = []
        ws101.fetch(self.base + "/", loop=self.loop,
                    callback=lambda resp, err: results.append((resp, err)))
        self.loop.run_until(lambda: results, 10)
        resp, err = results[0]
        self.assertIsNone(err)
        self.assertEqual(resp.body, b"hello\n")

    def test_fetch_refused(self):
        # A port nobody listens on: bind-and-close gives a free one.
        import socket
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        with self.assertRaises(ws101.ConnectionRefused) as cm:
            ws101.fetch("http://127.0.0.1:%d/" % port, loop=self.loop,
                        timeout=10)
        self.assertEqual(cm.exception.name, "WS101_ECONNREFUSED")
        self.assertIsInstance(cm.exception, ws101.Error)

    def test_bad_options(self):
        with self.assertRaises(TypeError):
            ws101.Server(self.loop, no_such_option=1)
        with self.assertRaises(ValueError):
            ws101.Server(self.loop, deflate_level=99)
        with self.assertRaises(ws101.InvalidArgument):
            ws101.Server(self.loop, subprotocols=["not a token"])
        with self.assertRaises(ValueError):
            ws101.Options(ws_backpressure_policy="sometimes")
        o = ws101.Options(ws_backpressure_policy="close", deflate=False)
        self.assertEqual(o.get("ws_backpressure_policy"), 1)
        self.assertEqual(o.get("deflate"), 0)
        with self.assertRaises(ws101.InvalidArgument):
            self.server.route("no-slash", lambda req: None)
        with self.assertRaises(ws101.InvalidURL):
            ws101.fetch("gopher://x/", loop=self.loop)


if __name__ == "__main__":
    unittest.main()

"""Exceptions raised by Python callbacks: the affected connection is closed
cleanly (WebSocket 1011, request 500); in log mode the server keeps serving
others, in raise mode the exception comes out of loop.run()."""
import logging
import unittest

from _support import stats, ws101


class Boom(Exception):
    pass


class LogModeTest(unittest.TestCase):
    def setUp(self):
        self.logged = []
        self.loop = ws101.Loop(raise_errors=False,
                               error_handler=self.logged.append)
        self.server = ws101.Server(self.loop)

        @self.server.route("/")
        def index(req):
            if req.query == "boom":
                raise Boom("request")
            req.respond(200, "fine")

        @self.server.route("/half")
        def half(req):
            req.write("started ")
            raise Boom("half")

        @self.server.route("/body", stream_body=True)
        def body(req):
            def on_body(r, data, last):
                raise Boom("body")
            req.read_body(on_body)

        class Handler:
            def on_message(self, ws, data):
                if data == "boom":
                    raise Boom("message")
                ws.send(data)

        self.server.websocket("/ws", Handler)
        self.port = self.server.listen("127.0.0.1", 0)
        self.base = "127.0.0.1:%d" % self.port

    def tearDown(self):
        self.server.close()
        self.loop.close()
        self.assertEqual(stats(), (0, 0))

    def test_request_500_and_server_goes_on(self):
        r = ws101.fetch("http://%s/?boom" % self.base, loop=self.loop,
                        timeout=10)
        self.assertEqual(r.status, 500)
        self.assertEqual(len(self.logged), 1)
        self.assertIsInstance(self.logged[0], Boom)
        self.assertIsNotNone(self.logged[0].__traceback__)
        r = ws101.fetch("http://%s/" % self.base, loop=self.loop, timeout=10)
        self.assertEqual((r.status, r.body), (200, b"fine"))
        # A streamed response is ended instead.
        r = ws101.fetch("http://%s/half" % self.base, loop=self.loop,
                        timeout=10)
        self.assertEqual(r.body, b"started ")
        self.assertEqual(len(self.logged), 2)

    def test_body_callback_raises(self):
        r = ws101.fetch("http://%s/body" % self.base, "POST", b"z" * 100000,
                        loop=self.loop, timeout=10)
        self.assertEqual(r.status, 500)
        self.assertEqual([str(e) for e in self.logged], ["body"])
        r = ws101.fetch("http://%s/" % self.base, loop=self.loop, timeout=10)
        self.assertEqual(r.status, 200)

    def test_websocket_1011_and_others_unaffected(self):
        bad_closes, good_msgs = [], []
        good = ws101.connect("ws://%s/ws" % self.base, loop=self.loop,
                             on_message=lambda ws, d: good_msgs.append(d))
        bad = ws101.connect("ws://%s/ws" % self.base, loop=self.loop,
                            on_open=lambda ws: ws.send("boom"),
                            on_close=lambda ws, c, r: bad_closes.append(c))
        self.loop.run_until(lambda: bad_closes and good.opened, 10)
        self.assertEqual(bad_closes, [1011])
        self.assertTrue(bad.closed)
        self.assertEqual(len(self.logged), 1)
        good.send("still here")
        self.loop.run_until(lambda: good_msgs, 10)
        self.assertEqual(good_msgs, ["still here"])
        good.close()
        self.loop.run_until(lambda: good.closed, 10)

    def test_default_log_mode_uses_logging(self):
        loop = ws101.Loop(raise_errors=False)
        try:
            with self.assertLogs("ws101", logging.ERROR) as cm:
                loop.call_soon(lambda: 1 / 0)
                loop.run()
            self.assertIn("ZeroDivisionError", "\n".join(cm.output))
        finally:
            loop.close()


class RaiseModeTest(unittest.TestCase):
    def test_run_reraises(self):
        with ws101.Loop(raise_errors=True) as loop:
            server = ws101.Server(loop)
            closes = []

            @server.websocket("/ws")
            def on_message(ws, data):
                raise Boom(data)
            port = server.listen("127.0.0.1", 0)
            ws = ws101.connect("ws://127.0.0.1:%d/ws" % port, loop=loop,
                               on_open=lambda ws: ws.send("x"),
                               on_close=lambda ws, c, r: closes.append(c))
            with self.assertRaises(Boom) as cm:
                loop.run()
            self.assertEqual(str(cm.exception), "x")
            # The loop is still usable: the peer sees 1011.
            loop.run_until(lambda: closes, 10)
            self.assertEqual(closes, [1011])
            server.close()
            loop.run()
        self.assertEqual(stats(), (0, 0))

    def test_client_callback_raises(self):
        with ws101.Loop(raise_errors=True) as loop:
            server = ws101.Server(loop)
            server.websocket("/ws", lambda ws, d: ws.send(d))
            port = server.listen("127.0.0.1", 0)

            def on_message(ws, data):
                raise Boom("client")
            ws = ws101.connect("ws://127.0.0.1:%d/ws" % port, loop=loop,
                               on_open=lambda ws: ws.send("x"),
                               on_message=on_message)
            with self.assertRaises(Boom):
                loop.run()
            loop.run_until(lambda: ws.closed, 10)
            self.assertEqual(ws.close_code, 1011)
            server.close()
        self.assertEqual(stats(), (0, 0))

    def test_posted_callback_raises(self):
        with ws101.Loop(raise_errors=True) as loop:
            ran = []
            loop.call_soon(lambda: 1 / 0)
            loop.call_soon(ran.append, 1)
            with self.assertRaises(ZeroDivisionError):
                loop.run()
            loop.run()
            self.assertEqual(ran, [1])


if __name__ == "__main__":
    unittest.main()

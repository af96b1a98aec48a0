"""Issue 17, Python items: timers, safer defaults, dir(ws101)."""
import logging
import socket
import threading
import unittest

from _support import stats, ws101


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class TimerTest(unittest.TestCase):
    def test_call_later_order_cancel_and_call_every(self):
        with ws101.Loop(raise_errors=True) as loop:
            order = []
            loop.call_later(0.03, order.append, "b")
            loop.call_later(0.01, order.append, "a")
            gone = loop.call_later(0.02, order.append, "never")
            gone.cancel()
            self.assertTrue(gone.cancelled())
            ticks = []
            t = loop.call_every(0.005, lambda: ticks.append(1))
            loop.run_until(lambda: len(order) == 2 and len(ticks) >= 3, 10)
            t.cancel()
            n = len(ticks)
            loop.call_later(0.03, order.append, "c")
            loop.run_until(lambda: len(order) == 3, 10)
            self.assertEqual(order, ["a", "b", "c"])
            self.assertEqual(len(ticks), n)  # cancelled: no more ticks
        self.assertEqual(stats(), (0, 0))

    def test_timer_exception_follows_policy_and_keeps_repeating(self):
        seen = []
        with ws101.Loop(error_handler=seen.append) as loop:
            ticks = []

            def tick():
                ticks.append(1)
                raise ValueError("tick %d" % len(ticks))
            t = loop.call_every(0.005, tick)
            loop.run_until(lambda: len(ticks) >= 3, 10)
            t.cancel()
        self.assertGreaterEqual(len(seen), 3)
        self.assertIsInstance(seen[0], ValueError)

    def test_pending_timer_released_when_loop_closes(self):
        loop = ws101.Loop()
        loop.call_later(3600, lambda: None)
        loop.call_every(3600, lambda: None)
        loop.close()
        self.assertEqual(stats(), (0, 0))


class DefaultsTest(unittest.TestCase):
    def test_default_loop_logs_and_keeps_serving(self):
        with ws101.Loop() as loop:
            server = ws101.Server(loop)

            @server.route("/boom")
            def boom(req):
                raise RuntimeError("handler bug")

            @server.route("/ok")
            def ok(req):
                req.respond(200, "fine")
            port = server.listen("127.0.0.1", 0)
            got = []
            with self.assertLogs("ws101", logging.ERROR) as logs:
                loop.fetch("http://127.0.0.1:%d/boom" % port,
                           callback=lambda r, e: got.append(r.status))
                loop.run_until(lambda: got, 10)
            self.assertIn("handler bug", "\n".join(logs.output))
            loop.fetch("http://127.0.0.1:%d/ok" % port,
                       callback=lambda r, e: got.append(r.status))
            loop.run_until(lambda: len(got) == 2, 10)
            self.assertEqual(got, [500, 200])

    def test_wait_open_raises_typed_errors(self):
        with ws101.Loop() as loop:
            ws = loop.connect("ws://127.0.0.1:%d/" % free_port())
            with self.assertRaises(ws101.ConnectionRefused):
                ws.wait_open(10)
            ws = loop.connect("ws://no-such-host.invalid/")
            with self.assertRaises(ws101.DNSError):
                ws.wait_open(10)
            server = ws101.Server(loop)
            server.route("/", lambda req: req.respond(404, "no"))
            port = server.listen("127.0.0.1", 0)
            ws = loop.connect("ws://127.0.0.1:%d/" % port)
            with self.assertRaises(ws101.HandshakeError):
                ws.wait_open(10)
            self.assertEqual(ws.response_status, 404)
            # run_until returns once the failed connection has closed
            ws = loop.connect("ws://127.0.0.1:%d/" % free_port())
            loop.run_until(lambda: ws.opened or ws.closed, 10)
            self.assertIsInstance(ws.error, ws101.ConnectionRefused)
            # waiting for it to open raises the error (the server keeps
            # the loop busy, so this would otherwise wait forever)
            ws = loop.connect("ws://127.0.0.1:%d/" % free_port())
            with self.assertRaises(ws101.ConnectionRefused):
                loop.run_until(lambda: ws.opened)

    def test_send_state_type_and_thread_rules(self):
        with ws101.Loop(raise_errors=True) as loop:
            server = ws101.Server(loop)
            server.websocket("/", on_message=lambda ws, d: ws.send(d))
            port = server.listen("127.0.0.1", 0)
            got = []
            ws = loop.connect("ws://127.0.0.1:%d/" % port,
                              on_message=lambda w, d: got.append(d))
            with self.assertRaises(ws101.StateError) as cm:
                ws.send("too early")
            self.assertIn("not open yet", str(cm.exception))
            ws.wait_open(10)
            with self.assertRaises(TypeError):
                ws.send(None)
            # from another thread: posted to the loop thread, not touched
            futs = []
            th = threading.Thread(target=lambda: futs.append(ws.send("hi")))
            th.start()
            th.join()
            loop.run_until(lambda: got, 10)
            self.assertEqual(got, ["hi"])
            self.assertIsNone(futs[0].result(5))
            ws.close()
            loop.run_until(lambda: ws.closed, 10)
            with self.assertRaises(ws101.Closed):
                ws.send("late")

    def test_blocking_fetch_in_callback_names_the_other_form(self):
        errors = []
        with ws101.Loop() as loop:
            def tick():
                try:
                    ws101.fetch("http://127.0.0.1:1/", loop=loop)
                except ws101.StateError as e:
                    errors.append(str(e))
            loop.call_later(0, tick)
            loop.run_until(lambda: errors, 10)
        self.assertIn("callback=", errors[0])

    def test_backpressure_is_raised(self):
        """A non-reading client: sends are refused with Backpressure at
        the limit, never dropped (issue 20)."""
        with ws101.Loop(raise_errors=True) as loop:
            server = ws101.Server(loop, ws_max_backpressure=65536)
            state = {"sent": 0}

            def on_open(ws):
                try:
                    for _ in range(20000):
                        ws.send(b"z" * 16384)
                        state["sent"] += 1
                except ws101.Backpressure as e:
                    state["refused"] = e
                ws.close()
            server.websocket("/", on_open=on_open)
            port = server.listen("127.0.0.1", 0)
            c = socket.create_connection(("127.0.0.1", port))
            c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                      b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                      b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
            loop.run_until(lambda: "refused" in state or state["sent"] >= 20000,
                           20)
            c.close()
        self.assertIn("refused", state)
        self.assertLess(state["sent"], 20000)

    def test_dir_shows_only_the_public_api(self):
        names = dir(ws101)
        for private in ("Any", "time", "threading", "logging", "weakref",
                        "Optional", "_c"):
            self.assertNotIn(private, names)
        for public in ("Loop", "Server", "connect", "fetch", "Timer",
                       "Backpressure", "ConnectionClosedOK", "aio", "asgi"):
            self.assertIn(public, names)
        for name in ws101.__all__:
            self.assertTrue(hasattr(ws101, name), name)


if __name__ == "__main__":
    unittest.main()

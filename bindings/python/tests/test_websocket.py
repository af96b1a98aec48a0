"""WebSocket: a Python server answered by the `websockets` client (Debian
python3-websockets under /usr/bin/python3), and the ws101 client against
the ws101 server in one loop."""
import textwrap
import unittest

from _support import need_system_websockets, run_proc_with_loop, stats, ws101

PEER = textwrap.dedent("""
    import asyncio, sys, websockets
    async def main(url):
        async with websockets.connect(url, subprotocols=["chat", "other"],
                                      max_size=None) as ws:
            print("proto", ws.subprotocol)
            for msg in ["hello", "ü€𝄞", b"\\x00\\x01\\xff", "x" * 300000]:
                await ws.send(msg)
                got = await ws.recv()
                assert got == msg, (type(got), len(got))
                print("ok", type(got).__name__, len(got))
            await ws.close(4001, "bye")
            print("closed", ws.close_code)
    asyncio.run(main(sys.argv[1]))
""")


class WebSocketTest(unittest.TestCase):
    def setUp(self):
        self.loop = ws101.Loop(raise_errors=True)
        self.events = []
        self.server = ws101.Server(self.loop, subprotocols=["chat"])
        events = self.events

        class Echo:
            def on_open(self, ws):
                events.append(("open", ws.subprotocol, ws.path))

            def on_message(self, ws, data):
                ws.send(data)

            def on_close(self, ws, code, reason):
                events.append(("close", code, reason))

        self.server.websocket("/ws", Echo)

        @self.server.route("/upgrade")
        def upgrade(req):
            self.assertTrue(req.is_websocket)
            proto = "chat" if "chat" in req.ws_protocols else None
            req.accept_websocket(subprotocol=proto,
                                 on_message=lambda ws, d: ws.send(d[::-1]),
                                 on_close=lambda ws, c, r: events.append(
                                     ("uclose", c, r)))
        self.port = self.server.listen("127.0.0.1", 0)

    def tearDown(self):
        self.server.close()
        self.loop.close()
        self.assertEqual(stats(), (0, 0))

    def test_websockets_client(self):
        py = need_system_websockets(self)
        r = run_proc_with_loop(self.loop, [
            py, "-c", PEER, "ws://127.0.0.1:%d/ws" % self.port], timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("proto chat", r.stdout)
        self.assertEqual(r.stdout.count("ok "), 4, r.stdout)
        self.assertIn("closed 4001", r.stdout)
        self.loop.run_until(lambda: any(e[0] == "close" for e in self.events),
                            5)
        self.assertEqual(self.events[0], ("open", "chat", "/ws"))
        self.assertEqual(self.events[-1], ("close", 4001, "bye"))

    def test_ws101_client(self):
        got = []
        ws = ws101.connect("ws://127.0.0.1:%d/ws" % self.port, loop=self.loop,
                           subprotocols=["chat"],
                           on_open=lambda ws: ws.send("one"),
                           on_message=lambda ws, d: (got.append(d),
                                                     ws.close(1000, "done")))
        self.loop.run_until(lambda: ws.closed, 10)
        self.assertEqual(got, ["one"])
        self.assertEqual(ws.subprotocol, "chat")
        self.assertEqual(ws.response_status, 101)
        self.assertEqual(ws.close_code, 1000)
        with self.assertRaises(ws101.Closed):
            ws.send("late")

    def test_accept_websocket_route(self):
        got = []
        ws = ws101.connect("ws://127.0.0.1:%d/upgrade" % self.port,
                           loop=self.loop, subprotocols=["chat"],
                           on_open=lambda ws: ws.send(b"abc"),
                           on_message=lambda ws, d: (got.append(d),
                                                     ws.close()))
        self.loop.run_until(lambda: ws.closed and any(
            e[0] == "uclose" for e in self.events), 10)
        self.assertEqual(got, [b"cba"])
        self.assertEqual(ws.subprotocol, "chat")

    def test_plain_get_on_ws_route_is_426(self):
        r = ws101.fetch("http://127.0.0.1:%d/ws" % self.port, loop=self.loop,
                        timeout=10)
        self.assertEqual(r.status, 426)

    def test_server_close_goes_away(self):
        closes = []
        ws = ws101.connect("ws://127.0.0.1:%d/ws" % self.port, loop=self.loop,
                           on_close=lambda ws, c, r: closes.append(c))
        self.loop.run_until(lambda: ws.opened, 10)
        done = []
        self.server.close(lambda: done.append(1))
        self.loop.run_until(lambda: done and closes, 10)
        self.assertEqual(closes, [1001])

    def test_connect_refused(self):
        import socket
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        errors = []
        ws = ws101.connect("ws://127.0.0.1:%d/" % port, loop=self.loop,
                           on_error=lambda ws, e: errors.append(e))
        self.loop.run_until(lambda: ws.closed, 10)
        self.assertEqual(len(errors), 1)
        self.assertIsInstance(errors[0], ws101.ConnectionRefused)
        self.assertEqual(ws.close_code, 1006)
        with self.assertRaises(ws101.InvalidURL):
            ws101.connect("http://x/", loop=self.loop)


if __name__ == "__main__":
    unittest.main()

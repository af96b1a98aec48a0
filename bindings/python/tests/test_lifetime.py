"""Object lifetime: references taken by the binding are dropped when each
handle's final event has run, so opening and closing many connections
leaves nothing behind."""
import gc
import sys
import unittest
import weakref

from _support import stats, ws101

N = 200


def live(cls):
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is cls)


class LifetimeTest(unittest.TestCase):
    def test_open_close_many_websockets(self):
        loop = ws101.Loop(raise_errors=True)
        server = ws101.Server(loop)

        class Handler:
            def on_message(self, ws, data):
                ws.send(data)

        handler = Handler()
        server.websocket("/ws", handler)
        req_handler = lambda req: req.respond(200, "ok")  # noqa: E731
        server.route("/", req_handler)
        port = server.listen("127.0.0.1", 0)
        url = "ws://127.0.0.1:%d/ws" % port

        def one_round(n):
            refs, done = [], []

            def on_message(ws, data):
                ws.close(1000)

            def on_close(ws, code, reason):
                done.append(code)
            for i in range(n):
                ws = ws101.connect(url, loop=loop,
                                   on_open=lambda ws: ws.send("x" * 10),
                                   on_message=on_message, on_close=on_close)
                refs.append(weakref.ref(ws))
                del ws
            loop.run_until(lambda: len(done) == n and
                           not server.connections, 60)
            self.assertEqual(done, [1000] * n)
            return refs

        one_round(5)  # warm up caches (keep-alive pools, interned strings)
        base_ws = live(ws101.WebSocket)
        base_objs = len(gc.get_objects())
        base_stats = stats()
        base_handler = sys.getrefcount(handler)
        base_req_handler = sys.getrefcount(req_handler)

        refs = one_round(N)
        for i in range(N):
            r = ws101.fetch("http://127.0.0.1:%d/" % port, loop=loop,
                            timeout=10)
            self.assertEqual(r.status, 200)
        del r
        gc.collect()
        self.assertEqual([r for r in refs if r() is not None], [])
        del refs
        self.assertEqual(live(ws101.WebSocket), base_ws)
        self.assertEqual(live(ws101.Request), 0)
        self.assertEqual(stats(), base_stats)
        self.assertEqual(sys.getrefcount(handler), base_handler)
        self.assertEqual(sys.getrefcount(req_handler), base_req_handler)
        # Allow a little slack for interpreter-internal caches.
        self.assertLess(len(gc.get_objects()) - base_objs, 50)

        closed = []
        server.close(lambda: closed.append(1))
        loop.run_until(lambda: closed, 10)
        loop.close()
        # Route handlers are released with the server.
        self.assertEqual(stats(), (0, 0))
        self.assertLess(sys.getrefcount(handler), base_handler)

    def test_aborted_streamed_upload_released(self):
        import socket
        with ws101.Loop(raise_errors=True) as loop:
            server = ws101.Server(loop)
            got, aborted = [], []

            @server.route("/up", stream_body=True)
            def up(req):
                req.read_body(lambda r, d, last: got.append(d))
                req.on_abort(lambda r: (aborted.append(1), r.end()))
            port = server.listen("127.0.0.1", 0)
            base = stats()
            for _ in range(20):
                s = socket.create_connection(("127.0.0.1", port))
                s.sendall(b"POST /up HTTP/1.1\r\nHost: x\r\n"
                          b"Content-Length: 100000\r\n\r\n" + b"a" * 1000)
                n = len(got)
                loop.run_until(lambda: len(got) > n, 10)
                # Abrupt disconnect (RST): the request is aborted mid-body.
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                             __import__("struct").pack("ii", 1, 0))
                s.close()
            loop.run_until(lambda: len(aborted) == 20, 10)
            self.assertEqual(stats(), base)
            server.close()

    def test_posted_callbacks_released(self):
        with ws101.Loop(raise_errors=True) as loop:
            class Token:
                pass
            tokens = [Token() for _ in range(100)]
            refs = [weakref.ref(t) for t in tokens]
            for t in tokens:
                loop.call_soon(lambda t=t: None)
            del tokens, t
            self.assertEqual(stats()[0], 100)
            loop.run()
            gc.collect()
            self.assertEqual([r for r in refs if r() is not None], [])
            self.assertEqual(stats(), (0, 0))

    def test_loop_free_releases_everything(self):
        loop = ws101.Loop(raise_errors=True)
        server = ws101.Server(loop)
        handler_calls = []

        def h(req):
            handler_calls.append(1)  # never responds
        server.route("/", h)
        server.websocket("/ws", lambda ws, d: None)
        port = server.listen("127.0.0.1", 0)
        ws = ws101.connect("ws://127.0.0.1:%d/ws" % port, loop=loop)
        loop.run_until(lambda: ws.opened, 10)
        results = []
        ws101.fetch("http://127.0.0.1:%d/" % port, loop=loop,
                    callback=lambda r, e: results.append(e))
        loop.run_until(lambda: handler_calls, 10)
        loop.call_soon(lambda: None)
        base = sys.getrefcount(h)
        loop.close()  # closes server, ws, fetch; runs the post
        self.assertTrue(ws.closed)
        self.assertEqual(len(results), 1)
        self.assertIsInstance(results[0], ws101.Error)
        self.assertEqual(sys.getrefcount(h), base - 1)
        # The never-completed request is the only thing the C glue may keep.
        self.assertEqual(stats()[0], 0)


if __name__ == "__main__":
    unittest.main()

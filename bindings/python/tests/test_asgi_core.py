"""ws101.asgi in-process with plain ASGI applications (no framework, so it
runs in every venv): the message flow, lifespan, failures, and that 200
requests and 50 WebSockets leave no C state behind."""
import asyncio
import unittest

from _support import stats, ws101

import ws101.aio
import ws101.asgi

DEADLINE = 30


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, DEADLINE))


class App:
    """A small raw ASGI app recording what it saw."""

    def __init__(self):
        self.lifespan = []
        self.scopes = []

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                self.lifespan.append(msg["type"])
                if msg["type"] == "lifespan.startup":
                    scope["state"]["token"] = "t0"
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        self.scopes.append(scope)
        if scope["type"] == "websocket":
            assert (await receive())["type"] == "websocket.connect"
            await send({"type": "websocket.accept",
                        "subprotocol": (scope["subprotocols"] or [None])[0],
                        "headers": [(b"x-accepted", b"1")]})
            while True:
                msg = await receive()
                if msg["type"] == "websocket.disconnect":
                    return
                if "text" in msg and msg["text"] is not None:
                    await send({"type": "websocket.send",
                                "text": msg["text"].upper()})
                else:
                    await send({"type": "websocket.send",
                                "bytes": msg["bytes"]})
        path = scope["path"]
        if path == "/boom":
            raise RuntimeError("app failed")
        if path == "/silent":
            return  # never answers: 500
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        if path == "/stream":
            await send({"type": "http.response.start", "status": 201,
                        "headers": [(b"x-kind", b"stream")]})
            for i in range(3):
                await send({"type": "http.response.body", "body": b"%d" % i,
                            "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            return
        out = b"%s %s %s %s %d" % (scope["method"].encode(), path.encode(),
                                    scope["query_string"],
                                    scope["state"].get("token", "-").encode(),
                                    len(body))
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain"),
                                (b"content-length", b"%d" % len(out))]})
        await send({"type": "http.response.body", "body": out})


class AsgiCoreTest(unittest.TestCase):
    def test_http_websocket_lifespan_and_no_leaks(self):
        app = App()

        async def main():
            async with ws101.asgi.serve(app, "127.0.0.1", 0) as srv:
                base = "http://127.0.0.1:%d" % srv.port
                r = await ws101.aio.fetch(base + "/a/b?x=1", "POST",
                                          body=b"z" * 100000)
                self.assertEqual((r.status, r.body),
                                 (200, b"POST /a/b x=1 t0 100000"))
                r = await ws101.aio.fetch(base + "/stream")
                self.assertEqual((r.status, r.body, r.headers["x-kind"]),
                                 (201, b"012", "stream"))
                r = await ws101.aio.fetch(base + "/boom")
                self.assertEqual(r.status, 500)
                r = await ws101.aio.fetch(base + "/silent")
                self.assertEqual(r.status, 500)
                url = "ws://127.0.0.1:%d/ws" % srv.port
                async with ws101.aio.connect(url, subprotocols=["p1"]) as ws:
                    self.assertEqual(ws.subprotocol, "p1")
                    await ws.send("abc")
                    self.assertEqual(await ws.recv(), "ABC")
                    await ws.send(b"\x00\x01")
                    self.assertEqual(await ws.recv(), b"\x00\x01")
                for _ in range(4):
                    await asyncio.gather(*[ws101.aio.fetch(base + "/x")
                                           for _ in range(50)])
                for _ in range(50):
                    async with ws101.aio.connect(url) as ws:
                        await ws.send("q")
                        await ws.recv()
        with self.assertLogs("ws101.asgi", "ERROR") as logs:
            run(main())
        self.assertIn("app failed", "\n".join(logs.output))
        self.assertEqual(app.lifespan, ["lifespan.startup",
                                        "lifespan.shutdown"])
        ws_scope = next(s for s in app.scopes if s["type"] == "websocket")
        self.assertEqual(ws_scope["subprotocols"], ["p1"])
        self.assertEqual(ws_scope["scheme"], "ws")
        http_scope = app.scopes[0]
        self.assertEqual(http_scope["client"][0], "127.0.0.1")
        self.assertIn((b"host", b"127.0.0.1:%d" % http_scope["server"][1]),
                      http_scope["headers"])
        cbs, reqs = stats()
        self.assertEqual(reqs, 0)
        self.assertLessEqual(cbs, 2, "callback contexts left: %d" % cbs)

    def test_lifespan_unsupported_and_failed(self):
        async def no_lifespan(scope, receive, send):
            if scope["type"] == "lifespan":
                raise ValueError("no lifespan here")
            await send({"type": "http.response.start", "status": 204,
                        "headers": []})
            await send({"type": "http.response.body", "body": b""})

        async def failing(scope, receive, send):
            await receive()
            await send({"type": "lifespan.startup.failed",
                        "message": "db down"})

        async def main():
            async with ws101.asgi.serve(no_lifespan, "127.0.0.1", 0) as srv:
                r = await ws101.aio.fetch("http://127.0.0.1:%d/" % srv.port)
                self.assertEqual(r.status, 204)
            with self.assertRaises(ws101.asgi.LifespanError) as cm:
                await ws101.asgi.serve(failing, "127.0.0.1", 0)
            self.assertIn("db down", str(cm.exception))
        run(main())


if __name__ == "__main__":
    unittest.main()

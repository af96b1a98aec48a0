"""ws101.asgi over HTTP/2 on the same port as HTTP/1.1: curl with
--http2-prior-knowledge and --http2 (the h2c upgrade), both checked by
curl's own %{http_version} and by the scope the app saw; and a WebSocket
over RFC 8441 from the ws101 client (client_http2=1), which the app sees
as an HTTP/2 websocket scope. A raw ASGI app, so it runs in every venv."""
import asyncio
import json
import shutil
import unittest

from _support import loud_skip, stats, ws101

import ws101.aio
import ws101.asgi

DEADLINE = 30


async def app(scope, receive, send):
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        while True:
            msg = await receive()
            if msg["type"] == "websocket.disconnect":
                return
            await send({"type": "websocket.send",
                        "text": "%s %s" % (scope["http_version"],
                                           msg.get("text"))})
    if scope["type"] != "http":
        return
    body = b""
    while True:
        msg = await receive()
        body += msg.get("body", b"")
        if not msg.get("more_body"):
            break
    out = json.dumps({"http_version": scope["http_version"],
                      "method": scope["method"], "path": scope["path"],
                      "len": len(body)}).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    # Streamed, in two pieces, to cover write/end on a stream.
    await send({"type": "http.response.body", "body": out[:5],
                "more_body": True})
    await send({"type": "http.response.body", "body": out[5:]})


class AsgiH2Test(unittest.TestCase):
    def curl(self, port, *args):
        curl = shutil.which("curl")
        if not curl:
            loud_skip(self, "curl not found")

        async def go():
            p = await asyncio.create_subprocess_exec(
                curl, "-sS", "--max-time", "10", "-w", "\n%{http_version}",
                *args, "http://127.0.0.1:%d/p?q=1" % port,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE)
            out, err = await p.communicate()
            self.assertEqual(p.returncode, 0, err)
            body, _, version = out.decode().rpartition("\n")
            return json.loads(body), version
        return go()

    def test_http2_prior_knowledge_upgrade_and_rfc8441(self):
        async def main():
            async with ws101.asgi.serve(app, "127.0.0.1", 0,
                                        lifespan="off") as srv:
                got = {}
                got["h1"] = await self.curl(srv.port, "--http1.1")
                got["prior"] = await self.curl(srv.port,
                                               "--http2-prior-knowledge")
                got["upgrade"] = await self.curl(srv.port, "--http2")
                got["prior-post"] = await self.curl(
                    srv.port, "--http2-prior-knowledge", "-d", "x" * 70000)
                url = "ws://127.0.0.1:%d/ws" % srv.port
                async with ws101.aio.connect(url, client_http2=1) as ws:
                    await ws.send("hi")
                    got["ws"] = await ws.recv()
                async with ws101.aio.connect(url) as ws:
                    await ws.send("hi")
                    got["ws1"] = await ws.recv()
            return got
        got = asyncio.run(asyncio.wait_for(main(), DEADLINE))
        want = {"http_version": "1.1", "method": "GET", "path": "/p",
                "len": 0}
        self.assertEqual(got["h1"], (want, "1.1"))
        h2 = dict(want, http_version="2")
        self.assertEqual(got["prior"], (h2, "2"))
        self.assertEqual(got["upgrade"], (h2, "2"))
        self.assertEqual(got["prior-post"],
                         (dict(h2, method="POST", len=70000), "2"))
        self.assertEqual(got["ws"], "2 hi")    # RFC 8441 extended CONNECT
        self.assertEqual(got["ws1"], "1.1 hi")  # the HTTP/1.1 upgrade
        self.assertEqual(stats()[1], 0)


if __name__ == "__main__":
    unittest.main()

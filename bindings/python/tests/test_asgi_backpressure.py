"""ws101.asgi streamed responses follow the connection's backpressure: a
client that reads slowly holds back the application's
``send(more_body=True)`` instead of the server queueing the whole body.
The app records the queued bytes (the ``ws101.buffered`` scope extension)
after every send; the peer is a raw socket with a small receive buffer,
read in small pieces on the same asyncio loop. Without backpressure the
app's sends never yield, so the whole 16 MiB body would be queued at once.
"""
import asyncio
import hashlib
import socket
import unittest

from _support import stats, ws101

import ws101.aio
import ws101.asgi
from ws101.asgi._http import HIGH_WATER

DEADLINE = 60
CHUNK = 64 * 1024
NCHUNKS = 256  # 16 MiB


def chunk(i):
    return bytes([i % 251]) * CHUNK


class StreamApp:
    def __init__(self):
        self.max_buffered = 0
        self.sent = 0
        self.error = None
        self.done = asyncio.Event()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return
        buffered = scope["extensions"]["ws101.buffered"]
        try:
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-length",
                                     b"%d" % (CHUNK * NCHUNKS))]})
            for i in range(NCHUNKS):
                await send({"type": "http.response.body", "body": chunk(i),
                            "more_body": i + 1 < NCHUNKS})
                self.sent += 1
                self.max_buffered = max(self.max_buffered, buffered())
        except OSError as e:  # ClientDisconnected
            self.error = e
        finally:
            self.done.set()


async def slow_client(port, stop_after=None):
    """Reads the response 4 KiB at a time through an 8 KiB receive buffer;
    returns (head, body length, sha256 of the body)."""
    loop = asyncio.get_running_loop()
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    s.setblocking(False)
    try:
        await loop.sock_connect(s, ("127.0.0.1", port))
        await loop.sock_sendall(s, b"GET /big HTTP/1.1\r\nHost: x\r\n"
                                   b"Connection: close\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            piece = await loop.sock_recv(s, 4096)
            if not piece:
                break
            data += piece
        head, _, body = data.partition(b"\r\n\r\n")
        h = hashlib.sha256(body)
        n = len(body)
        while stop_after is None or n < stop_after:
            piece = await loop.sock_recv(s, 4096)
            if not piece:
                break
            h.update(piece)
            n += len(piece)
        return head, n, h.hexdigest()
    finally:
        s.close()


class AsgiBackpressureTest(unittest.TestCase):
    def test_slow_reader_bounds_the_queue(self):
        app = StreamApp()
        want = hashlib.sha256()
        for i in range(NCHUNKS):
            want.update(chunk(i))

        async def main():
            async with ws101.asgi.serve(app, "127.0.0.1", 0,
                                        lifespan="off") as srv:
                head, n, digest = await slow_client(srv.port)
                await asyncio.wait_for(app.done.wait(), DEADLINE)
            return head, n, digest
        head, n, digest = asyncio.run(asyncio.wait_for(main(), DEADLINE))
        self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
        self.assertEqual((n, digest), (CHUNK * NCHUNKS, want.hexdigest()))
        self.assertIsNone(app.error)
        self.assertEqual(app.sent, NCHUNKS)
        # A send returns with at most the high-water mark queued (its own
        # chunk included); without backpressure this is megabytes.
        self.assertLessEqual(app.max_buffered, HIGH_WATER + CHUNK)
        self.assertEqual(stats()[1], 0)

    def test_client_leaving_wakes_a_blocked_send(self):
        app = StreamApp()

        async def main():
            async with ws101.asgi.serve(app, "127.0.0.1", 0,
                                        lifespan="off") as srv:
                _, n, _ = await slow_client(srv.port, stop_after=256 * 1024)
                await asyncio.wait_for(app.done.wait(), DEADLINE)
            return n
        n = asyncio.run(asyncio.wait_for(main(), DEADLINE))
        self.assertGreaterEqual(n, 256 * 1024)
        # The app was held back, then told the client left.
        self.assertIsInstance(app.error, OSError)
        self.assertLess(app.sent, NCHUNKS)
        self.assertEqual(stats()[1], 0)


if __name__ == "__main__":
    unittest.main()

"""ws101.aio: the asyncio API on the same loop.

Runs on the default asyncio loop, or on uvloop when WS101_TEST_LOOP=uvloop
(ctest python.sys_aio_uvloop, under /usr/bin/python3 with Debian's
python3-uvloop). Peers: the ws101.aio client, the `websockets` client and
server under /usr/bin/python3 (Debian python3-websockets), curl-free raw
sockets for the backpressure case.
"""
import asyncio
import os
import socket
import sys
import unittest

from _support import HERE, loud_skip, need_system_websockets, stats, ws101

import ws101.aio

DEADLINE = 20  # seconds: generous, for a loaded machine


def new_loop():
    if os.environ.get("WS101_TEST_LOOP") == "uvloop":
        import uvloop
        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def run(coro):
    loop = new_loop()
    try:
        return loop.run_until_complete(asyncio.wait_for(coro, DEADLINE))
    finally:
        loop.close()


async def echo(ws):
    async for message in ws:
        await ws.send(message)


async def run_subprocess(argv, timeout=DEADLINE):
    """Runs a peer while the asyncio loop keeps serving."""
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode, out.decode(), err.decode()


class AioTest(unittest.TestCase):
    def setUp(self):
        if os.environ.get("WS101_TEST_LOOP") == "uvloop":
            try:
                import uvloop  # noqa: F401
            except ImportError:
                loud_skip(self, "uvloop not importable by %s (Debian "
                          "python3-uvloop)" % sys.executable)

    def test_loop_kind(self):
        if os.environ.get("WS101_TEST_LOOP") == "uvloop":
            async def kind():
                return type(asyncio.get_running_loop()).__module__
            self.assertTrue(run(kind()).startswith("uvloop"))

    def test_echo_text_binary_and_attributes(self):
        seen = {}

        async def handler(ws):
            seen["path"] = ws.path
            seen["query"] = ws.query
            seen["hdr"] = ws.request_headers.get("x-test")
            seen["sub"] = ws.subprotocol
            seen["addr"] = ws.remote_address
            await echo(ws)

        async def main():
            async with ws101.aio.serve(handler, "127.0.0.1", 0,
                                       subprotocols=["chat", "v2"]) as srv:
                url = "ws://127.0.0.1:%d/room?x=1" % srv.port
                async with ws101.aio.connect(url, subprotocols=["v2"],
                                             extra_headers={"X-Test": "yes"}
                                             ) as ws:
                    self.assertEqual(ws.subprotocol, "v2")
                    await ws.send("héllo")
                    self.assertEqual(await ws.recv(), "héllo")
                    await ws.send(b"\x00\xff" * 1000)
                    self.assertEqual(await ws.recv(), b"\x00\xff" * 1000)
                    # 16 in flight, order kept
                    for i in range(16):
                        await ws.send("m%d" % i)
                    got = [await ws.recv() for _ in range(16)]
                    self.assertEqual(got, ["m%d" % i for i in range(16)])
                    pong = await ws.ping(b"p")
                    await asyncio.wait_for(pong, 5)
                    # asyncio.to_thread shares the program with ws101
                    self.assertEqual(await asyncio.to_thread(lambda: 42), 42)
                self.assertEqual(ws.close_code, 1000)
                self.assertTrue(ws.closed)
        run(main())
        self.assertEqual(seen["path"], "/room")
        self.assertEqual(seen["query"], "x=1")
        self.assertEqual(seen["hdr"], "yes")
        self.assertEqual(seen["sub"], "v2")
        self.assertEqual(seen["addr"][0], "127.0.0.1")

    def test_handler_return_closes_1000_and_exception_1011(self):
        async def short(ws):
            if ws.path == "/boom":
                raise ValueError("handler failed")
            await ws.send("bye")

        async def main():
            async with ws101.aio.serve(short, "127.0.0.1", 0) as srv:
                base = "ws://127.0.0.1:%d" % srv.port
                ws = await ws101.aio.connect(base + "/ok")
                self.assertEqual(await ws.recv(), "bye")
                with self.assertRaises(ws101.ConnectionClosedOK) as cm:
                    await ws.recv()
                self.assertEqual(cm.exception.code, 1000)
                ws = await ws101.aio.connect(base + "/boom")
                with self.assertRaises(ws101.ConnectionClosedError) as cm:
                    await ws.recv()
                self.assertEqual(cm.exception.code, 1011)
                # the server keeps serving
                async with ws101.aio.connect(base + "/ok") as ws:
                    self.assertEqual(await ws.recv(), "bye")
        with self.assertLogs("ws101.aio", "ERROR") as logs:
            run(main())
        self.assertIn("handler failed", "\n".join(logs.output))

    def test_http_route_and_fetch(self):
        async def main():
            srv = await ws101.aio.serve(echo, "127.0.0.1", 0)

            @srv.route("/hello")
            async def hello(req):
                await asyncio.sleep(0)
                return 200, "hi " + req.query, {"X-Kind": "aio"}

            @srv.route("/fail")
            async def fail(req):
                raise RuntimeError("route failed")
            base = "http://127.0.0.1:%d" % srv.port
            r = await ws101.aio.fetch(base + "/hello?q")
            self.assertEqual((r.status, r.text, r.headers["x-kind"]),
                             (200, "hi q", "aio"))
            r = await ws101.aio.fetch(base + "/other")
            self.assertEqual(r.status, 426)
            r = await ws101.aio.fetch(base + "/fail")
            self.assertEqual(r.status, 500)
            srv.close()
            await srv.wait_closed()
        with self.assertLogs("ws101.aio", "ERROR"):
            run(main())

    def test_connect_errors_are_typed(self):
        async def main():
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            s.close()  # nothing listens there now
            with self.assertRaises(ws101.ConnectionRefused):
                await ws101.aio.connect("ws://127.0.0.1:%d/" % port)
            with self.assertRaises(ws101.DNSError):
                await ws101.aio.connect("ws://no-such-host.invalid/")
            with self.assertRaises(ws101.InvalidURL):
                await ws101.aio.connect("http://x/")
            async with ws101.aio.serve(None, "127.0.0.1", 0) as srv:
                # no WebSocket handler: 426, a refused handshake
                with self.assertRaises(ws101.HandshakeError) as cm:
                    await ws101.aio.connect("ws://127.0.0.1:%d/" % srv.port)
                self.assertEqual(cm.exception.response_status, 426)
            with self.assertRaises(ws101.ConnectionRefused):
                await ws101.aio.fetch("http://127.0.0.1:%d/" % port)
        run(main())

    def test_cancelled_recv_loses_nothing(self):
        async def main():
            async def pusher(ws):
                await ws.recv()  # "go"
                await ws.send("one")
                await ws.send("two")
                await ws.wait_closed()
            async with ws101.aio.serve(pusher, "127.0.0.1", 0) as srv:
                async with ws101.aio.connect("ws://127.0.0.1:%d/" % srv.port
                                             ) as ws:
                    t = asyncio.ensure_future(ws.recv())
                    await asyncio.sleep(0.05)
                    t.cancel()
                    with self.assertRaises(asyncio.CancelledError):
                        await t
                    await ws.send("go")
                    self.assertEqual(await ws.recv(), "one")
                    self.assertEqual(await ws.recv(), "two")
        run(main())

    def test_send_awaits_above_write_limit_and_recv_pauses(self):
        """A client that never reads: send() stops returning once the
        queue is over write_limit (memory stays bounded), and cancelling
        that send is clean."""
        result = {}

        async def flood(ws):
            chunk = b"x" * 16384
            sent = 0
            try:
                while sent < 20000:
                    await asyncio.wait_for(ws.send(chunk), 1.0)
                    sent += 1
                    result["max_buffered"] = max(result.get("max_buffered", 0),
                                                 ws.buffered)
            except asyncio.TimeoutError:
                result["blocked_after"] = sent
                result["buffered"] = ws.buffered
            await ws.close()

        async def main():
            async with ws101.aio.serve(flood, "127.0.0.1", 0,
                                       write_limit=256 * 1024) as srv:
                reader, writer = await asyncio.open_connection("127.0.0.1",
                                                               srv.port)
                writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                             b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                             b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
                await writer.drain()
                head = await reader.readuntil(b"\r\n\r\n")
                self.assertIn(b" 101 ", head)
                # never read again until the server gave up sending
                for _ in range(200):
                    if "blocked_after" in result:
                        break
                    await asyncio.sleep(0.05)
                writer.close()
        run(main())
        self.assertIn("blocked_after", result, result)
        self.assertLess(result["blocked_after"], 20000)
        # bounded: write_limit plus at most one message over it
        self.assertLessEqual(result.get("max_buffered", 0),
                             256 * 1024 + 16384 + 64)

    def test_backpressure_raises_when_refused(self):
        """A send the library refuses on an empty queue is raised as
        ws101.Backpressure, never dropped (issue 20)."""
        async def main():
            got = {}

            async def big(ws):
                try:
                    await ws.send(b"y" * 4096)
                    got["sent"] = True
                except ws101.Backpressure as e:
                    got["refused"] = e
                await ws.close()
            async with ws101.aio.serve(big, "127.0.0.1", 0,
                                       ws_max_backpressure=1024) as srv:
                async with ws101.aio.connect("ws://127.0.0.1:%d/" % srv.port
                                             ) as ws:
                    try:
                        msg = await ws.recv()
                    except ws101.ConnectionClosed:
                        msg = None
            # Either the library takes it (limit counts what is queued
            # before the send) and the client got it whole, or it raised.
            if "sent" in got:
                self.assertEqual(msg, b"y" * 4096)
            else:
                self.assertIsInstance(got["refused"], ws101.Backpressure)
        run(main())

    def test_send_type_and_state_errors(self):
        async def main():
            async with ws101.aio.serve(echo, "127.0.0.1", 0) as srv:
                ws = await ws101.aio.connect("ws://127.0.0.1:%d/" % srv.port)
                with self.assertRaises(TypeError):
                    await ws.send(None)
                await ws.close()
                with self.assertRaises(ws101.ConnectionClosedOK):
                    await ws.send("late")
        run(main())

    def test_timers_on_the_asyncio_loop(self):
        async def main():
            loop = ws101.aio.get_loop()
            fired = asyncio.get_running_loop().create_future()
            ticks = []
            t = loop.call_every(0.01, lambda: ticks.append(1))
            loop.call_later(0.05, lambda: fired.set_result(len(ticks)))
            await fired
            t.cancel()
            n = len(ticks)
            await asyncio.sleep(0.05)
            self.assertEqual(len(ticks), n)
            self.assertGreaterEqual(n, 2)
        run(main())

    def test_options_by_c_and_websockets_names(self):
        async def main():
            async with ws101.aio.serve(echo, "127.0.0.1", 0,
                                       max_size=64) as srv:
                url = "ws://127.0.0.1:%d/" % srv.port
                async with ws101.aio.connect(url, compression=None) as ws:
                    self.assertEqual(ws.extensions, "")
                async with ws101.aio.connect(url, deflate=True) as ws:
                    self.assertIn("permessage-deflate", ws.extensions)
                    await ws.send("x" * 64)
                    self.assertEqual(await ws.recv(), "x" * 64)
                    await ws.send("x" * 65)  # over max_size: 1009
                    with self.assertRaises(ws101.ConnectionClosedError) as cm:
                        await ws.recv()
                    self.assertEqual(cm.exception.code, 1009)
            with self.assertRaises(TypeError):  # unknown names are refused
                await ws101.aio.serve(echo, no_such_option=1)
        run(main())

    def test_websockets_client_against_aio_server(self):
        py = need_system_websockets(self)
        script = (
            "import asyncio, sys, websockets\n"
            "async def m():\n"
            "    async with websockets.connect(sys.argv[1], subprotocols=['chat']) as w:\n"
            "        assert w.subprotocol == 'chat', w.subprotocol\n"
            "        for i in range(50):\n"
            "            await w.send('t%d' % i)\n"
            "        for i in range(50):\n"
            "            assert await w.recv() == 't%d' % i\n"
            "        await w.send(b'\\x01' * 70000)\n"
            "        assert await w.recv() == b'\\x01' * 70000\n"
            "    print('ok', w.close_code)\n"
            "asyncio.run(m())\n")

        async def main():
            async with ws101.aio.serve(echo, "127.0.0.1", 0,
                                       subprotocols=["chat"]) as srv:
                return await run_subprocess(
                    [py, "-c", script, "ws://127.0.0.1:%d/" % srv.port])
        rc, out, err = run(main())
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.strip(), "ok 1000")

    def test_aio_client_against_websockets_server(self):
        py = need_system_websockets(self)
        script = (
            "import asyncio, websockets\n"
            "async def echo(ws, path=None):\n"
            "    async for m in ws:\n"
            "        await ws.send(m)\n"
            "async def m():\n"
            "    async with websockets.serve(echo, '127.0.0.1', 0) as s:\n"
            "        print(s.sockets[0].getsockname()[1], flush=True)\n"
            "        await asyncio.sleep(30)\n"
            "asyncio.run(m())\n")

        async def main():
            proc = await asyncio.create_subprocess_exec(
                py, "-c", script, stdout=asyncio.subprocess.PIPE)
            try:
                port = int(await asyncio.wait_for(proc.stdout.readline(), 10))
                async with ws101.aio.connect("ws://127.0.0.1:%d/" % port) as ws:
                    await ws.send("ping")
                    self.assertEqual(await ws.recv(), "ping")
                    await ws.send(b"\x02" * 100000)
                    self.assertEqual(await ws.recv(), b"\x02" * 100000)
                    self.assertIn("permessage-deflate", ws.extensions)
            finally:
                proc.kill()
                await proc.wait()
        run(main())

    def test_example_aio_echo(self):
        """examples/aio_echo.py: echo, a JSON route and a ws101 timer
        ticking on the asyncio loop."""
        script = os.path.join(os.path.dirname(HERE), "examples", "aio_echo.py")

        async def main():
            proc = await asyncio.create_subprocess_exec(
                sys.executable, script, "--port", "0",
                stdout=asyncio.subprocess.PIPE)
            try:
                line = (await asyncio.wait_for(proc.stdout.readline(), 10)
                        ).decode()
                port = int(line.rsplit(":", 1)[1].strip(" /\n"))
                async with ws101.aio.connect("ws://127.0.0.1:%d/" % port) as ws:
                    await ws.send("hello")
                    got = [await ws.recv()]
                    while "tick" not in got:
                        got.append(await asyncio.wait_for(ws.recv(), 5))
                    self.assertIn("hello", got)
                    r = await ws101.aio.fetch("http://127.0.0.1:%d/status"
                                              % port)
                    self.assertEqual(r.json(), {"connections": 1})
            finally:
                proc.terminate()
                await proc.wait()
        run(main())

    def test_no_leaks_after_many_connections(self):
        async def main():
            async with ws101.aio.serve(echo, "127.0.0.1", 0) as srv:
                url = "ws://127.0.0.1:%d/" % srv.port
                for _ in range(3):
                    await asyncio.gather(*[self._one(url) for _ in range(30)])
        run(main())
        cbs, reqs = stats()
        self.assertEqual(reqs, 0)
        self.assertLessEqual(cbs, 2, "callback contexts left: %d" % cbs)

    async def _one(self, url):
        async with ws101.aio.connect(url) as ws:
            await ws.send("x")
            assert await ws.recv() == "x"


if __name__ == "__main__":
    unittest.main()

"""Pub/sub from Python: topics on a ws101.Server (callback API and
ws101.aio), ws101.Workers with a publish crossing workers, and the Redis
backplane on a redis-server started here.

Peers: the ws101 client and the `websockets` client under /usr/bin/python3
(Debian python3-websockets). A /chat/ROOM route subscribes every
connection to ROOM and publishes every message it sends there (sender
included). Every wait has a deadline; nothing sleeps to synchronise.
"""
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import unittest

from _support import loud_skip, need_system_websockets, stats, ws101

import ws101.aio

DEADLINE = 20  # seconds: generous, for a loaded machine

# A `websockets` peer: joins the room, sends "from py", prints what it got
# once it has every message in argv[2:] (its own included).
PEER = textwrap.dedent("""
    import asyncio, json, sys
    import websockets

    async def main():
        want = set(sys.argv[2:])
        got = []
        async with websockets.connect(sys.argv[1]) as ws:
            await ws.send("from py")
            while not want <= set(got):
                m = await asyncio.wait_for(ws.recv(), 20)
                got.append(m if isinstance(m, str) else "bytes:" + m.hex())
        print(json.dumps(got), flush=True)

    asyncio.run(main())
""")


def chat_routes(server, errors=None):
    """/chat/ROOM: subscribe on open, publish every message to ROOM."""
    @server.websocket("/chat/*")
    class Chat:
        def on_open(self, ws):
            self.room = ws.path[len("/chat/"):]
            assert ws.subscribe(self.room) is True
            assert ws.subscribe(self.room) is False  # already
            assert ws.is_subscribed(self.room)
            assert ws.subscriptions == 1
            assert ws.server is server

        def on_message(self, ws, data):
            ws.server.publish(self.room, data)
    return Chat


class Collector:
    """A ws101 client that records what it receives."""

    def __init__(self, loop, url):
        self.got = []
        self.ws = ws101.connect(url, loop=loop,
                                on_message=lambda ws, d: self.got.append(d))

    def has(self, *items):
        return all(i in self.got for i in items)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CallbackPubSubTest(unittest.TestCase):
    def test_chat_room_with_websockets_and_ws101_clients(self):
        py = need_system_websockets(self)
        before = stats()
        with ws101.Loop(raise_errors=True) as loop:
            server = ws101.Server(loop)
            chat_routes(server)
            port = server.listen("127.0.0.1", 0)
            url = "ws://127.0.0.1:%d/chat/lobby" % port
            a, b = Collector(loop, url), Collector(loop, url)
            other = Collector(loop, "ws://127.0.0.1:%d/chat/other" % port)
            loop.run_until(lambda: server.subscribers("lobby") == 2 and
                           server.subscribers("other") == 1 and
                           a.ws.opened and b.ws.opened, DEADLINE)
            st = server.pubsub_stats()
            self.assertEqual((st["topics"], st["subscriptions"]), (2, 3))
            self.assertGreater(st["memory"], 0)
            # Client connections cannot subscribe.
            with self.assertRaises(ws101.NotSupported):
                a.ws.subscribe("lobby")

            proc = subprocess.Popen([py, "-c", PEER, url, "from A", "from B",
                                     "bytes:00ff", "from py"],
                                    stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
            try:
                loop.run_until(lambda: server.subscribers("lobby") == 3 or
                               proc.poll() is not None, DEADLINE)
                self.assertEqual(server.subscribers("lobby"), 3, proc.poll())
                a.ws.send("from A")
                b.ws.send("from B")
                b.ws.send(b"\x00\xff")
                loop.run_until(lambda: proc.poll() is not None, DEADLINE)
            finally:
                if proc.poll() is None:
                    proc.kill()
                out, err = proc.communicate()
            self.assertEqual(proc.returncode, 0, err)
            self.assertEqual(set(json.loads(out)),
                             {"from A", "from B", "bytes:00ff", "from py"})
            # Sender included; str stays text, bytes stay binary.
            for c in (a, b):
                loop.run_until(lambda: c.has("from A", "from B", b"\x00\xff",
                                             "from py"), DEADLINE)
            self.assertEqual(other.got, [])  # another room: nothing
            # The peer left: its subscription went with it.
            loop.run_until(lambda: server.subscribers("lobby") == 2, DEADLINE)
            a.ws.close()
            loop.run_until(lambda: a.ws.closed and
                           server.subscribers("lobby") == 1, DEADLINE)
            # A publish from outside any handler, on the loop thread.
            self.assertEqual(server.publish("lobby", "bye"), 1)
            self.assertEqual(server.publish("nobody", "x"), 0)
            loop.run_until(lambda: b.has("bye"), DEADLINE)
            st = server.pubsub_stats()
            self.assertEqual(st["published"], 6)
            self.assertEqual(st["subscriptions"], 2)
            with self.assertRaises(ws101.InvalidArgument):
                server.publish("", "x")
            with self.assertRaises(ws101.InvalidUTF8):
                ws101._check(ws101._ws101.ws101_server_publish(
                    server._h, "lobby", b"\xff", ws101.TEXT))
            with self.assertRaises(TypeError):
                server.publish("lobby", None)
            b.ws.close()
            other.ws.close()
            loop.run_until(lambda: b.ws.closed and other.ws.closed and
                           server.pubsub_stats()["topics"] == 0, DEADLINE)
            server.close()
            loop.run_until(lambda: server.closed, DEADLINE)
        self.assertEqual(stats(), before)

    def test_unsubscribe_and_publish_from_thread(self):
        with ws101.Loop(raise_errors=True) as loop:
            server = ws101.Server(loop)
            socks = []

            @server.websocket("/t")
            class T:
                def on_open(self, ws):
                    ws.subscribe("a")
                    ws.subscribe("b")
                    socks.append(ws)

                def on_message(self, ws, data):
                    if data == "leave a":
                        assert ws.unsubscribe("a") is True
                        assert ws.unsubscribe("a") is False
                        ws.send("left")
            port = server.listen("127.0.0.1", 0)
            c = Collector(loop, "ws://127.0.0.1:%d/t" % port)
            loop.run_until(lambda: socks and socks[0].subscriptions == 2 and
                           c.ws.opened, DEADLINE)
            c.ws.send("leave a")
            loop.run_until(lambda: c.has("left"), DEADLINE)
            self.assertEqual(socks[0].subscriptions, 1)
            self.assertFalse(socks[0].is_subscribed("a"))
            self.assertEqual(server.subscribers("a"), 0)
            # From another thread: posted, a Future of the count.
            box = []
            t = threading.Thread(target=lambda: box.append(
                server.publish("b", "threaded")))
            t.start()
            t.join(DEADLINE)
            loop.run_until(lambda: c.has("threaded"), DEADLINE)
            self.assertEqual(box[0].result(DEADLINE), 1)
            c.ws.close()
            loop.run_until(lambda: c.ws.closed and socks[0].closed, DEADLINE)
            self.assertEqual(socks[0].subscriptions, 0)
            self.assertFalse(socks[0].unsubscribe("b"))
            with self.assertRaises(ws101.Closed):
                socks[0].subscribe("b")


class AioPubSubTest(unittest.TestCase):
    def test_aio_chat(self):
        async def main():
            async def chat(ws):
                room = ws.path[len("/chat/"):]
                self.assertTrue(ws.subscribe(room))
                self.assertIs(ws.server, server)
                async for msg in ws:
                    ws.server.publish(room, msg)

            server = await ws101.aio.serve(chat, "127.0.0.1", 0)
            try:
                url = "ws://127.0.0.1:%d/chat/r" % server.port
                async with ws101.aio.connect(url) as a, \
                        ws101.aio.connect(url) as b:
                    while server.subscribers("r") < 2:
                        await asyncio.sleep(0.01)  # polling a count, bounded by wait_for
                    conns = list(server.connections)
                    self.assertEqual([c.subscriptions for c in conns], [1, 1])
                    await a.send("hello")
                    await b.send(b"\x01")
                    for c in (a, b):
                        got = {await c.recv(), await c.recv()}
                        self.assertEqual(got, {"hello", b"\x01"})
                    self.assertEqual(server.publish("r", "direct"), 2)
                    self.assertEqual(await a.recv(), "direct")
                    self.assertEqual(await b.recv(), "direct")
                    self.assertEqual(server.pubsub_stats()["published"], 3)
                while server.subscribers("r"):
                    await asyncio.sleep(0.01)
                self.assertEqual(server.pubsub_stats()["topics"], 0)
            finally:
                server.close()
                await server.wait_closed()
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(asyncio.wait_for(main(), DEADLINE))
        finally:
            loop.close()


class WorkersTest(unittest.TestCase):
    def test_publish_crosses_workers(self):
        before = stats()
        setups = []

        def setup(server, index):
            setups.append(index)

            @server.websocket("/chat/*")
            class Chat:
                def on_open(self, ws):
                    self.room = ws.path[len("/chat/"):]
                    ws.subscribe(self.room)
                    ws.send("worker %d" % index)  # who serves this client

                def on_message(self, ws, data):
                    ws.server.publish(self.room, "%s via %d" % (data, index))

        with ws101.Workers(2, setup) as workers, ws101.Loop() as loop:
            self.assertEqual(setups, [0, 1])
            port = workers.listen("127.0.0.1", 0)
            self.assertEqual(workers.port, port)
            workers.start()
            with self.assertRaises(ws101.StateError):
                workers.servers[0].subscribers("x")  # not from this thread
            with self.assertRaises(ws101.StateError):
                workers.start()
            url = "ws://127.0.0.1:%d/chat/x" % port
            clients = {}
            # SO_REUSEPORT spreads connections by hash: open clients until
            # both workers have one (bounded).
            for _ in range(64):
                c = Collector(loop, url)
                loop.run_until(lambda: c.got, DEADLINE)
                clients.setdefault(c.got[0], []).append(c)
                if len(clients) == 2:
                    break
            self.assertEqual(sorted(clients), ["worker 0", "worker 1"])
            sender = clients["worker 0"][0]
            sender.ws.send("hi")
            everyone = [c for cs in clients.values() for c in cs]
            loop.run_until(lambda: all(c.has("hi via 0") for c in everyone),
                           DEADLINE)
            clients["worker 1"][0].ws.send("yo")
            loop.run_until(lambda: all(c.has("yo via 1") for c in everyone),
                           DEADLINE)
            # Thread-safe publish from here, through worker 0.
            fut = workers.publish("x", "from main")
            loop.run_until(lambda: all(c.has("from main") for c in everyone),
                           DEADLINE)
            self.assertEqual(fut.result(DEADLINE),
                             len(clients["worker 0"]))
            workers.stop()
            loop.run_until(lambda: all(c.ws.closed for c in everyone),
                           DEADLINE)
            self.assertTrue(all(c.ws.close_code == 1001 for c in everyone))
        self.assertTrue(workers.closed)
        with self.assertRaises(ws101.Closed):
            workers.listen("127.0.0.1", 0)
        self.assertEqual(stats(), before)

    def test_setup_exception_propagates(self):
        before = stats()

        def setup(server, index):
            server.route("/", lambda req: req.respond(200, "x"))
            if index == 1:
                raise RuntimeError("boom")
        with self.assertRaisesRegex(RuntimeError, "boom"):
            ws101.Workers(2, setup)
        with self.assertRaises(ws101.InvalidArgument):
            ws101.Workers(0, lambda s: None)
        # Closing without starting frees everything too.
        w = ws101.Workers(1, lambda s: s.route("/", lambda r: None))
        w.close()
        self.assertEqual(stats(), before)


class Redis:
    def __init__(self):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="ws101-py-redis-")
        self.proc = None

    def ping(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), 1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", self.dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.monotonic() + DEADLINE
        while not self.ping():
            if time.monotonic() > end or self.proc.poll() is not None:
                raise AssertionError("redis-server did not start")
            time.sleep(0.05)  # polling a port that is not up yet

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(DEADLINE)
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisTest(unittest.TestCase):
    def test_two_servers_through_redis(self):
        if not shutil.which("redis-server"):
            loud_skip(self, "redis-server not found (apt-get install "
                      "redis-server)")
        before = stats()
        redis = Redis()
        redis.start()
        try:
            with ws101.Loop(raise_errors=True) as loop:
                events = {0: [], 1: []}
                servers = []
                for i in (0, 1):
                    s = ws101.Server(loop)
                    chat_routes(s)
                    s.listen("127.0.0.1", 0)
                    try:
                        s.attach_redis("redis://127.0.0.1:%d" % redis.port,
                                       "pytest:",
                                       lambda ev, why, ms, i=i:
                                       events[i].append(ev))
                    except ws101.NotSupported:
                        loud_skip(self, "the extension was built without "
                                  "hiredis (libhiredis-dev)")
                    servers.append(s)
                with self.assertRaises(ws101.StateError):
                    servers[0].attach_redis("redis://127.0.0.1:1")
                loop.run_until(lambda: all(s.redis.connected
                                           for s in servers), DEADLINE)
                self.assertEqual(events, {0: ["up"], 1: ["up"]})
                a = Collector(loop, "ws://127.0.0.1:%d/chat/r" %
                              servers[0].port)
                b = Collector(loop, "ws://127.0.0.1:%d/chat/r" %
                              servers[1].port)
                loop.run_until(lambda: servers[0].subscribers("r") == 1 and
                               servers[1].subscribers("r") == 1 and
                               a.ws.opened and b.ws.opened, DEADLINE)
                a.ws.send("over redis")
                loop.run_until(lambda: b.has("over redis"), DEADLINE)
                b.ws.send(b"\x02")
                loop.run_until(lambda: a.has(b"\x02"), DEADLINE)
                # Never twice to the publisher's own node.
                self.assertEqual(a.got.count("over redis"), 1)
                self.assertEqual(servers[1].pubsub_stats()["received"], 1)
                # Redis goes away: both report it.
                redis.proc.kill()
                redis.proc.wait(DEADLINE)
                loop.run_until(lambda: "down" in events[0] and
                               "down" in events[1], DEADLINE)
                self.assertFalse(servers[0].redis.connected)
                # Back on the same port: both reconnect, delivery resumes.
                redis.start()
                loop.run_until(lambda: all(s.redis.connected
                                           for s in servers), DEADLINE)
                self.assertEqual(events[0][-1], "up")
                a.ws.send("again")
                loop.run_until(lambda: b.has("again"), DEADLINE)
                a.ws.close()
                b.ws.close()
                loop.run_until(lambda: a.ws.closed and b.ws.closed, DEADLINE)
        finally:
            redis.stop()
        # The callbacks went with their servers.
        self.assertEqual(stats(), before)

    def test_workers_node_through_redis(self):
        if not shutil.which("redis-server"):
            loud_skip(self, "redis-server not found (apt-get install "
                      "redis-server)")
        before = stats()
        redis = Redis()
        redis.start()
        url = "redis://127.0.0.1:%d" % redis.port
        try:
            with ws101.Loop(raise_errors=True) as loop:
                events = []

                def setup(server):
                    @server.websocket("/chat/*")
                    class Chat:
                        def on_open(self, ws):
                            ws.subscribe("r")
                            # A timer still pending when the workers stop:
                            # released with them.
                            ws.loop.call_later(60, lambda: None)
                            ws.send("joined")

                        def on_message(self, ws, data):
                            ws.server.publish("r", data)
                plain = ws101.Server(loop)
                chat_routes(plain)
                plain.listen("127.0.0.1", 0)
                try:
                    plain.attach_redis(url, "pyw:")
                except ws101.NotSupported:
                    loud_skip(self, "the extension was built without "
                              "hiredis (libhiredis-dev)")
                with ws101.Workers(2, setup) as workers:
                    # Events come on worker 0's thread: hand them over.
                    workers.servers[0].attach_redis(
                        url, "pyw:", lambda ev, why, ms: loop.call_soon_threadsafe(
                            events.append, ev))
                    port = workers.listen("127.0.0.1", 0)
                    workers.start()
                    loop.run_until(lambda: "up" in events and
                                   plain.redis.connected, DEADLINE)
                    a = Collector(loop, "ws://127.0.0.1:%d/chat/r" % port)
                    b = Collector(loop, "ws://127.0.0.1:%d/chat/r" %
                                  plain.port)
                    loop.run_until(lambda: a.has("joined") and b.ws.opened
                                   and plain.subscribers("r") == 1, DEADLINE)
                    a.ws.send("from workers")
                    loop.run_until(lambda: b.has("from workers"), DEADLINE)
                    b.ws.send("to workers")
                    loop.run_until(lambda: a.has("to workers"), DEADLINE)
                    self.assertEqual(a.got.count("from workers"), 1)
                    workers.stop()
                    loop.run_until(lambda: a.ws.closed, DEADLINE)
                b.ws.close()
                loop.run_until(lambda: b.ws.closed, DEADLINE)
        finally:
            redis.stop()
        self.assertEqual(stats(), before)


if __name__ == "__main__":
    unittest.main()

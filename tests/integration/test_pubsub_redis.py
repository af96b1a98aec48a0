"""Pub/sub across processes: three ws101-demo nodes (one of them with
--workers 2) on one real redis-server, behind haproxy balancing WebSocket
connections round-robin.

Checks that a message published by a client on one node reaches every
client on every node exactly once (a node never gets its own message back
from Redis), that killing Redis is reported by every node ("redis: down")
while local delivery goes on and reconnects back off (100 ms, 200 ms, ...),
and that after Redis comes back on the same
port every node reconnects ("redis: up") and cross-node delivery resumes.

Everything listens on 127.0.0.1 ports chosen free at run time; every wait
has a deadline. Skips (77) loudly without redis-server or haproxy, or when
the library was built without hiredis.
"""

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import demo  # noqa: E402

try:
    import websockets  # noqa: E402
except ImportError:
    demo.skip("python websockets is not installed")

DEADLINE = 20.0


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, deadline=DEADLINE):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)  # polling a port that is not up yet
    raise AssertionError("port %d never opened" % port)


def redis_ping(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class Redis:
    def __init__(self, port, workdir):
        self.port, self.workdir, self.proc = port, workdir, None

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", self.workdir,
             "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.monotonic() + DEADLINE
        while not redis_ping(self.port):
            if time.monotonic() > end or self.proc.poll() is not None:
                raise AssertionError("redis-server did not start")
            time.sleep(0.05)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def node_output(d):
    # The demo logs backplane state on stderr (stdout is "listening on").
    return d.stderr_text()


def wait_output(nodes, text, count=1, deadline=DEADLINE):
    """Waits until every node printed `text` at least `count` times."""
    end = time.monotonic() + deadline
    missing = [i for i, d in enumerate(nodes)
               if not d.wait_stderr(lambda t: t.count(text) >= count,
                                    max(0.0, end - time.monotonic()))]
    if missing:
        raise AssertionError("nodes %s never printed %r (x%d); outputs: %r"
                             % (missing, text, count,
                                [node_output(d) for d in nodes]))


HAPROXY_CFG = """
global
    maxconn 256
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    timeout tunnel 60s
frontend fe
    bind 127.0.0.1:{port}
    default_backend nodes
backend nodes
    balance roundrobin
    http-response set-header X-Node %s
{servers}
"""


async def recv_text(ws):
    return await asyncio.wait_for(ws.recv(), demo.IO_DEADLINE)


async def expect_nothing_but(ws, marker):
    """The next message must be `marker`: anything before it would be a
    duplicate or a leak from another room."""
    got = await recv_text(ws)
    assert got == marker, "expected %r next, got %r" % (marker, got)


async def scenario(lb_port, redis, nodes):
    url = "ws://127.0.0.1:%d/chat/lobby" % lb_port
    clients = []
    for _ in range(9):  # round-robin: three per node
        ws = await websockets.connect(url, open_timeout=demo.IO_DEADLINE)
        clients.append((ws.response_headers.get("X-Node"), ws))
    by_node = {}
    for name, ws in clients:
        by_node.setdefault(name, []).append(ws)
    assert len(by_node) == 3, "haproxy used nodes %r" % sorted(by_node)
    names = sorted(by_node)
    a, b = by_node[names[0]][0], by_node[names[1]][0]

    # A client on node A publishes: every client everywhere gets it once.
    await a.send("hello from A")
    for _, ws in clients:
        assert await recv_text(ws) == "hello from A"
    await b.send("hello from B")
    for _, ws in clients:
        await expect_nothing_but(ws, "hello from B")

    # Redis goes away: every node says so; local delivery goes on.
    redis.kill()
    wait_output(nodes, "redis: down")
    await a.send("while down")
    for ws in by_node[names[0]]:
        assert await recv_text(ws) == "while down"

    # While it is gone, reconnect attempts fail and are reported with a
    # growing delay (the second "down" is a refused reconnect).
    wait_output(nodes, "redis: down", count=2)
    assert all("retrying in 200 ms" in node_output(d) for d in nodes), \
        [node_output(d) for d in nodes]

    # Redis comes back on the same port: every node reconnects by itself.
    redis.start()
    wait_output(nodes, "redis: up", count=2)
    await b.send("after recovery")
    for name, ws in clients:
        if name == names[0]:
            # A's clients got "while down" already; nothing else came.
            await expect_nothing_but(ws, "after recovery")
        else:
            # The others never saw "while down" (Redis was gone).
            await expect_nothing_but(ws, "after recovery")
    for _, ws in clients:
        await ws.close()


def main():
    binary = demo.find_demo()
    for tool in ("redis-server", "haproxy"):
        if shutil.which(tool) is None:
            demo.skip("%s is not installed (scripts/apt-packages.txt)" % tool)
    workdir = tempfile.mkdtemp(prefix="ws101-redis-")
    redis = Redis(free_port(), workdir)
    redis.start()
    nodes, lb = [], None
    try:
        rurl = "redis://127.0.0.1:%d" % redis.port
        for extra in ([], [], ["--workers", "2"]):
            d = demo.Demo(binary, extra_args=["--redis", rurl] + extra)
            try:
                d.start()
            except demo.DemoError as e:
                if "not supported" in str(e):
                    demo.skip("libws101 was built without hiredis")
                raise
            nodes.append(d)
        wait_output(nodes, "redis: up")
        lb_port = free_port()
        servers = "\n".join("    server n%d 127.0.0.1:%d" % (i, d.port)
                            for i, d in enumerate(nodes))
        cfg = os.path.join(workdir, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write(HAPROXY_CFG.format(port=lb_port, servers=servers))
        lb = subprocess.Popen(["haproxy", "-db", "-f", cfg],
                              stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
        wait_port(lb_port)
        asyncio.run(scenario(lb_port, redis, nodes))
    finally:
        if lb is not None:
            lb.kill()
            lb.wait(timeout=10)
        for d in nodes:
            d.stop()
        redis.kill()
        shutil.rmtree(workdir, ignore_errors=True)
    print("ok: 3 nodes behind haproxy, cross-node delivery, Redis outage "
          "and recovery")


if __name__ == "__main__":
    main()

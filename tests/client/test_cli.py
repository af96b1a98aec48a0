#!/usr/bin/python3
"""test_cli.py TOOL CASE - the `ws101` CLI against real peers, one ctest
(client.cli_CASE) per case:

  help        ws101 --help, ws101 connect --help, help COMMAND, no arguments
  args        unknown commands and options named with the nearest one,
              missing values, bad durations: exit 2
  shorthand   ws101 ws://..., ws101 -c URL, ws101 -n URL, ws101 -l PORT
  push        Python `websockets` pushing to ws101 connect: < /dev/null,
              after stdin ends, -n, --wait, --max-messages, -1
  binary      --binary (one message, streamed) and --chunk N
  exit_codes  0 normal close, 3 refused / DNS, 4 handshake refused,
              5 connection lost (1006), 6 closed with 1011, 1 refused send
  verbose     -v shows the handshake, pings/pongs (--ping-interval) and
              the close code and reason
  wscat       npm `wscat` against ws101 serve (echo and broadcast)
  interactive ws101 serve -i driven through a pipe: a transcript
  exec        ws101 serve --exec CMD: a process per connection
  backpressure ws101 serve --max-backpressure: a client that never reads
              is closed with 1008 and a log line; others are served
  tls         ws101 serve --tls-cert/--tls-key with ws101 connect and get
              over wss:// and https://: --cafile, --insecure, refusals

Peers run in this process (an asyncio loop thread for `websockets`, plain
sockets for misbehaving servers); readiness is a listening socket or the
tool's "listening on" line, never a sleep. Exit 77 = a peer is missing.
"""
import asyncio
import base64
import hashlib
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

TOOL = os.path.abspath(sys.argv[1])
CASE = sys.argv[2]
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
HERE = os.path.dirname(os.path.abspath(__file__))
T = 60  # generous deadline for any one step, for a loaded machine


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def skip(msg):
    print("SKIPPED: " + msg, flush=True)
    sys.exit(77)


def run(args, stdin=b"", timeout=T):
    """Runs the tool; stdin is bytes, or a file object (e.g. /dev/null)."""
    kw = {"input": stdin} if isinstance(stdin, bytes) else {"stdin": stdin}
    try:
        return subprocess.run([TOOL] + args, capture_output=True,
                              timeout=timeout, **kw)
    except subprocess.TimeoutExpired:
        fail("ws101 %s did not finish within %ds" % (" ".join(args), timeout))


def lines(b):
    return b.decode("utf-8", "replace").splitlines()


# ------------------------------------------------------------ ws101 serve --
class Serve:
    """ws101 serve (or -l) as a child; collects its stdout and stderr lines."""

    def __init__(self, args, interactive_stdin=False):
        self.p = subprocess.Popen(
            [TOOL] + args,
            stdin=subprocess.PIPE if interactive_stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.out, self.err = [], []
        self.cv = threading.Condition()
        for stream, sink in ((self.p.stdout, self.out), (self.p.stderr, self.err)):
            threading.Thread(target=self._pump, args=(stream, sink),
                             daemon=True).start()
        line = self.wait_out(r"^listening on https?://")
        self.port = int(re.search(r":(\d+)/$", line).group(1))
        self.url = "%s://127.0.0.1:%d" % (
            "wss" if line.startswith("listening on https") else "ws", self.port)

    def _pump(self, stream, sink):
        for raw in iter(stream.readline, b""):
            with self.cv:
                sink.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self.cv.notify_all()
        with self.cv:
            sink.append(None)  # EOF marker
            self.cv.notify_all()

    def _wait(self, sink, pattern, what, timeout=T):
        rx = re.compile(pattern)
        end = time.monotonic() + timeout
        with self.cv:
            while True:
                for ln in sink:
                    if ln is not None and rx.search(ln):
                        return ln
                left = end - time.monotonic()
                if left <= 0 or (sink and sink[-1] is None):
                    fail("ws101 serve %s never showed /%s/; it has:\n%s" %
                         (what, pattern, "\n".join(l for l in sink if l)))
                self.cv.wait(left)

    def wait_out(self, pattern, timeout=T):
        return self._wait(self.out, pattern, "stdout", timeout)

    def wait_err(self, pattern, timeout=T):
        return self._wait(self.err, pattern, "stderr", timeout)

    def send_line(self, text):
        self.p.stdin.write(text.encode() + b"\n")
        self.p.stdin.flush()

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        try:
            rc = self.p.wait(timeout=T)
        except subprocess.TimeoutExpired:
            self.p.kill()
            fail("ws101 serve did not stop on SIGTERM")
        check(rc == 0, "ws101 serve exited %d after SIGTERM" % rc)


# ----------------------------------------------- Python websockets peers --
class Loop:
    """An asyncio loop in a thread, for `websockets` servers and clients."""

    def __init__(self):
        try:
            import websockets  # noqa: F401 (Debian's python3-websockets)
        except ImportError as e:
            skip("Python websockets unavailable: %s" % e)
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

    def run(self, coro, timeout=T):
        fut = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return fut.result(timeout)
        except TimeoutError:
            fail("a websockets step did not finish within %ds" % timeout)


def push_server(L):
    """A websockets server with pushing paths; returns (url, received)."""
    import websockets
    received = []

    async def handler(ws, path):
        if path == "/push":  # five messages, then a normal close
            for i in range(5):
                await ws.send("push %d" % i)
                await asyncio.sleep(0.02)
            await ws.close(1000, "done")
        elif path == "/ticker":  # waits for a subscription, then ticks
            received.append(await ws.recv())
            i = 0
            try:
                while True:
                    await ws.send("tick %d" % i)
                    i += 1
                    await asyncio.sleep(0.02)
            except websockets.ConnectionClosed:
                pass
        elif path == "/slow":  # three messages a second apart, then close
            try:
                for i in range(3):
                    await ws.send("slow %d" % i)
                    await asyncio.sleep(1.0)
                await ws.close(1000, "done")
            except websockets.ConnectionClosed:
                pass  # --wait closed first: what the test wants
        elif path == "/close1011":
            await ws.close(1011, "server broke")
        else:  # echo, recording what arrives
            try:
                async for m in ws:
                    received.append(m)
                    await ws.send(m)
            except websockets.ConnectionClosed:
                pass

    async def start():
        return await websockets.serve(handler, "127.0.0.1", 0, max_size=None)

    srv = L.run(start())
    port = srv.sockets[0].getsockname()[1]
    return "ws://127.0.0.1:%d" % port, received


# ------------------------------------------------- misbehaving raw server --
def raw_server(behaviour):
    """A thread serving one behaviour per path: /426, /drop (a 101, then the
    TCP connection ends without a close frame)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)

    def serve_one(c):
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = c.recv(4096)
            if not chunk:
                c.close()
                return
            head += chunk
        text = head.decode("latin-1")
        path = text.split(" ")[1]
        key = re.search(r"(?im)^sec-websocket-key:\s*(\S+)", text).group(1)
        accept = base64.b64encode(
            hashlib.sha1((key + GUID).encode()).digest()).decode()
        if path == "/426":
            c.sendall(b"HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version:"
                      b" 13\r\nContent-Length: 0\r\n\r\n")
        elif path == "/drop":
            c.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket"
                       "\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s"
                       "\r\n\r\n" % accept).encode() + b"\x81\x05hello")
        c.close()

    def loop():
        while True:
            c, _ = sock.accept()
            threading.Thread(target=serve_one, args=(c,), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()
    return "ws://127.0.0.1:%d" % sock.getsockname()[1]


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    return port


# ------------------------------------------------------------------ cases --
def case_help():
    r = run(["--help"])
    check(r.returncode == 0 and b"ws101 connect URL" in r.stdout, "--help")
    for cmd in ("connect", "serve", "get"):
        r = run([cmd, "--help"])
        check(r.returncode == 0, "%s --help exited %d" % (cmd, r.returncode))
        check(r.stdout.startswith(b"usage: ws101 " + cmd.encode()),
              "%s --help printed %r" % (cmd, r.stdout[:80]))
        check(run(["help", cmd]).stdout == r.stdout, "help %s" % cmd)
        check(run([cmd, "-h"]).stdout == r.stdout, "%s -h" % cmd)
    r = run(["connect", "--help"])
    for opt in (b"--no-close", b"--one-message", b"--binary", b"--origin",
                b"--ping-interval", b"--max-messages", b"--verbose",
                b"Exit status"):
        check(opt in r.stdout, "connect --help does not mention %s" % opt)
    r = run([])
    check(r.returncode == 2 and b"usage" in r.stderr, "no arguments")
    r = run(["--version"])
    check(r.returncode == 0 and r.stdout.startswith(b"ws101 "), "--version")


def case_args():
    expect = [
        (["conect", "ws://x/"], "unknown command 'conect'; did you mean 'connect'?"),
        (["serv"], "unknown command 'serv'; did you mean 'serve'?"),
        (["connect", "--protocl", "x", "ws://x/"],
         "unknown option '--protocl'; did you mean '--protocol'?"),
        (["connect", "--proto", "x", "ws://x/"],
         "unknown option '--proto'; did you mean '--protocol'?"),
        (["connect", "--no-clsoe", "ws://x/"],
         "unknown option '--no-clsoe'; did you mean '--no-close'?"),
        (["serve", "--brodcast"],
         "unknown option '--brodcast'; did you mean '--broadcast'?"),
        (["get", "--hedaer", "A: b", "http://x/"],
         "unknown option '--hedaer'; did you mean '--header'?"),
        (["connect", "--wait"], "option '--wait' needs a value"),
        (["connect", "--wait", "soon", "ws://x/"], "--wait wants a duration"),
        (["connect", "--zzzzzzzz", "ws://x/"], "unknown option '--zzzzzzzz'"),
        (["connect"], "needs a URL"),
        (["connect", "ws://a/", "ws://b/"], "more than one URL"),
        (["serve", "--port", "70000"], "--port wants a number"),
        (["connect", "-H", "novalue", "ws://x/"], "-H wants 'Name: value'"),
        (["connect", "--chunk", "10", "ws://x/"], "--chunk goes with --binary"),
        (["-x"], "'-x' before a command"),
        (["connect", "http://x/"], "cannot connect"),
    ]
    for args, msg in expect:
        r = run(args)
        err = r.stderr.decode()
        check(r.returncode == 2, "%s exited %d (want 2): %s" %
              (args, r.returncode, err))
        check(msg in err, "%s: stderr lacks %r:\n%s" % (args, msg, err))
    r = run(["connect", "--zzzzzzzz", "ws://x/"])
    check(b"did you mean" not in r.stderr, "a far-off option got a suggestion")
    r = run(["connect", "--wait=soon", "ws://x/"])
    check(r.returncode == 2, "--wait=soon")


def case_shorthand():
    s = Serve(["serve", "--port", "0"])
    url = s.url + "/ws"
    for args in ([url], ["-c", url], ["connect", url], ["-w", "0", url],
                 ["-w", "0", "-c", url], ["connect", url, "--wait=0"]):
        r = run(args, b"a\nb\n")
        check(r.returncode == 0, "%s exited %d: %s" % (args, r.returncode,
                                                       r.stderr))
        check(lines(r.stdout) == ["a", "b"], "%s printed %r" % (args, r.stdout))
    # stdin from a regular file takes the fs path of input.c.
    path = os.path.join(os.environ.get("TMPDIR", "/tmp"),
                        "ws101-cli-%d.txt" % os.getpid())
    with open(path, "wb") as f:
        f.write(b"x\r\ny\nlast-without-newline")
    with open(path, "rb") as f:
        r = run(["connect", "--no-deflate", "-w", "0", url], f)
    os.unlink(path)
    check(lines(r.stdout) == ["x", "y", "last-without-newline"],
          "file stdin gave %r" % r.stdout)
    s.stop()
    # -l PORT: the interactive server wscat users know.
    s = Serve(["-l", "0"], interactive_stdin=True)
    p = subprocess.Popen([TOOL, "-n", s.url + "/x"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdin.write(b"from client\n")
    p.stdin.flush()
    s.wait_out(r"^\[1\] from client$")
    s.send_line("from server")
    got = p.stdout.readline()
    check(got == b"from server\n", "-l: client got %r" % got)
    p.stdin.close()  # -n: stdin ending does not close the connection...
    s.stop()  # ...the server going away (1001) does, with status 0
    rc = p.wait(timeout=T)
    check(rc == 0, "client of -l exited %d: %s" % (rc, p.stderr.read()))


def case_push():
    L = Loop()
    base, received = push_server(L)
    # < /dev/null: nothing to send, everything pushed is printed.
    with open(os.devnull, "rb") as null:
        r = run(["connect", base + "/push"], null)
    check(r.returncode == 0, "/push exited %d: %s" % (r.returncode, r.stderr))
    check(lines(r.stdout) == ["push %d" % i for i in range(5)],
          "/push < /dev/null printed %r" % r.stdout)
    # One line sent, many replies: it does not stop at the first.
    r = run(["connect", base + "/ticker", "--max-messages", "6"], b"subscribe\n")
    check(r.returncode == 0, "/ticker exited %d: %s" % (r.returncode, r.stderr))
    check(lines(r.stdout) == ["tick %d" % i for i in range(6)],
          "/ticker printed %r" % r.stdout)
    check(received[-1] == "subscribe", "ticker got %r" % received)
    # -1: one message sent (the first line only), one reply printed.
    n = len(received)
    r = run(["-1", base + "/ticker"], b"subscribe\nsecond line\n")
    check(r.returncode == 0, "-1 exited %d: %s" % (r.returncode, r.stderr))
    check(lines(r.stdout) == ["tick 0"], "-1 printed %r" % r.stdout)
    check(received[n:] == ["subscribe"], "-1 sent %r" % received[n:])
    # Messages a second apart: -n prints them all until the server closes;
    # --wait 100ms closes after the first quiet spell, before the close.
    with open(os.devnull, "rb") as null:
        r = run(["connect", "-n", base + "/slow"], null)
    check(r.returncode == 0, "-n /slow exited %d" % r.returncode)
    check(lines(r.stdout) == ["slow 0", "slow 1", "slow 2"],
          "-n /slow printed %r" % r.stdout)
    check(b"server closed the connection (1000)" in r.stderr,
          "-n /slow stderr: %r" % r.stderr)
    with open(os.devnull, "rb") as null:
        r = run(["connect", "--wait", "100ms", base + "/slow"], null)
    check(r.returncode == 0, "--wait /slow exited %d" % r.returncode)
    check(len(lines(r.stdout)) < 3 and b"server closed" not in r.stderr,
          "--wait 100ms did not close first: %r %r" % (r.stdout, r.stderr))
    # stdout going away (`| head -1`) ends the session instead of looping.
    p = subprocess.Popen([TOOL, "-n", base + "/ticker"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdin.write(b"subscribe\n")
    p.stdin.flush()
    check(p.stdout.readline() == b"tick 0\n", "ticker first line")
    p.stdout.close()
    try:
        rc = p.wait(timeout=T)
    except subprocess.TimeoutExpired:
        p.kill()
        fail("connect kept running after its stdout closed")
    check(rc == 1, "closed stdout: exit %d" % rc)
    # Ctrl-C closes with 1000 and exits 0, even with -n.
    n = len(received)
    p = subprocess.Popen([TOOL, "-n", base + "/echo"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdin.write(b"before ctrl-c\n")
    p.stdin.flush()
    check(p.stdout.readline() == b"before ctrl-c\n", "echo before SIGINT")
    p.send_signal(signal.SIGINT)
    rc = p.wait(timeout=T)
    check(rc == 0, "SIGINT: exit %d: %s" % (rc, p.stderr.read()))
    check(received[n:] == ["before ctrl-c"], "SIGINT: sent %r" % received[n:])
    # The echo peer: every line is answered, nothing is lost.
    msgs = ["line %d" % i for i in range(200)]
    r = run(["connect", base + "/echo"], ("\n".join(msgs) + "\n").encode())
    check(lines(r.stdout) == msgs, "echo of 200 lines: %d back" %
          len(lines(r.stdout)))


def case_binary():
    s = Serve(["serve", "--port", "0"])
    blob = os.urandom(300000) + b"\n\x00\xff"
    r = run(["connect", "--binary", "-1", s.url + "/"], blob)
    check(r.returncode == 0, "--binary exited %d: %s" % (r.returncode, r.stderr))
    check(r.stdout == blob + b"\n", "--binary echo differs (%d bytes back)" %
          len(r.stdout))
    r = run(["connect", "--binary", "--chunk", "1000", "--max-messages", "301",
             s.url + "/"], blob)
    check(r.returncode == 0, "--chunk exited %d" % r.returncode)
    # 301 messages of 1000 bytes (the last one 3), each printed + "\n".
    check(len(r.stdout) == len(blob) + 301, "--chunk gave %d bytes" %
          len(r.stdout))
    s.stop()


def case_exit_codes():
    L = Loop()
    base, _ = push_server(L)
    raw = raw_server(None)
    with open(os.devnull, "rb") as null:
        cases = [
            (["connect", base + "/echo"], 0, ""),
            (["connect", "ws://127.0.0.1:%d/" % closed_port()], 3, "refused"),
            (["connect", "ws://ws101-no-such-host.invalid/"], 3, "EDNS"),
            (["connect", raw + "/426"], 4, "426 Upgrade Required"),
            (["connect", "-n", raw + "/drop"], 5, "1006"),
            (["connect", "-n", base + "/close1011"], 6, "1011: server broke"),
        ]
        for args, want, msg in cases:
            null.seek(0)
            r = run(args, null)
            err = r.stderr.decode()
            check(r.returncode == want, "%s exited %d, want %d: %s" %
                  (args, r.returncode, want, err))
            check(msg in err, "%s: stderr lacks %r: %s" % (args, msg, err))
    # --origin on both sides: serve's allow-list answers 403 to others.
    s = Serve(["serve", "--port", "0", "--origin", "http://good.example"])
    r = run(["connect", "-w", "0", "--origin", "http://good.example", s.url],
            b"hi\n")
    check(r.returncode == 0 and r.stdout == b"hi\n", "allowed origin: %r %r"
          % (r.returncode, r.stderr))
    r = run(["connect", "-o", "http://evil.example", s.url], b"hi\n")
    check(r.returncode == 4 and b"403" in r.stderr, "refused origin: %d %r" %
          (r.returncode, r.stderr))
    s.stop()
    # A send the library refuses (a text line that is not UTF-8) is
    # reported, the other lines still go, and the exit status says so.
    r = run(["connect", base + "/echo"], b"ok 1\nbad \xff\nok 2\n")
    check(r.returncode == 1, "refused send exited %d" % r.returncode)
    check(lines(r.stdout) == ["ok 1", "ok 2"], "refused send: %r" % r.stdout)
    check(b"send refused" in r.stderr and b"WS101_EUTF8" in r.stderr,
          "refused send not reported: %r" % r.stderr)


def case_verbose():
    L = Loop()
    base, _ = push_server(L)
    r = run(["connect", "-v", "-s", "chat", base + "/close1011"], b"")
    err = r.stderr.decode()
    for want in ("* connected to " + base + "/close1011 (HTTP 101)",
                 "* closed with 1011: server broke"):
        check(want in err, "-v lacks %r:\n%s" % (want, err))
    # Subprotocols: serve picks its first choice among those offered.
    s = Serve(["serve", "--port", "0", "-s", "superchat", "-s", "chat", "-v"])
    r = run(["connect", "-v", "-w", "0", "-s", "chat", "-s", "superchat",
             "-H", "X-Test: 1", s.url + "/p"], b"")
    check(r.returncode == 0 and b"* subprotocol: superchat" in r.stderr,
          "subprotocol: %d %r" % (r.returncode, r.stderr))
    s.wait_err(r"^ws101: \[1\] open from .* on /p, subprotocol superchat$")
    s.stop()
    # Pings, one side at a time: any frame counts as traffic for the idle
    # timer, so with both sides pinging, the faster one keeps the other
    # from ever going idle (the test then depended on scheduling jitter).
    # ws101 serve pings its idle client: -v shows the ping it answered.
    check_verbose_ping(["serve", "--port", "0", "--ping-interval", "100ms"],
                       [], b"* ping (0 bytes), pong sent")
    # Our client pings an idle server: -v shows the pong that came back.
    check_verbose_ping(["serve", "--port", "0"], ["--ping-interval", "100ms"],
                       b"* pong (0 bytes)")


def check_verbose_ping(serve_args, connect_args, want):
    s = Serve(serve_args)
    p = subprocess.Popen([TOOL, "connect", "-v", "-n"] + connect_args +
                         [s.url + "/"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen, end = b"", time.monotonic() + T
    while want not in seen and time.monotonic() < end:
        line = p.stderr.readline()
        if not line:
            break
        seen += line
    check(want in seen, "no %r in -v: %r" % (want, seen))
    p.stdin.close()
    s.stop()
    check(p.wait(timeout=T) == 0, "client exit after server stop")


def case_workers():
    """--workers N: connections spread over N SO_REUSEPORT listeners (in -v
    logs worker i's ids count from i * 1000000); --broadcast reaches the
    clients of every worker; modes with one console refuse it."""
    L = Loop()
    import websockets
    for bad in (["-i"], ["--exec", "cat"]):
        r = run(["serve", "--port", "0", "--workers", "2"] + bad)
        check(r.returncode == 2 and b"--workers goes with" in r.stderr,
              "--workers %s: %d %r" % (bad, r.returncode, r.stderr))
    s = Serve(["serve", "--port", "0", "--workers", "2", "--broadcast", "-v"])

    async def go():
        # 64 connections: the kernel hashes each to a listener, so both
        # workers get some (all on one: probability 2^-63).
        cs = [await websockets.connect(s.url + "/") for _ in range(64)]
        await cs[5].send("to everyone")
        got = [await asyncio.wait_for(c.recv(), T) for c in cs]
        for c in cs:
            await c.close()
        return got

    got = L.run(go())
    check(got == ["to everyone"] * 64, "broadcast over workers: %r" % got)
    s.wait_err(r"^ws101: \[1\] open from ")
    s.wait_err(r"^ws101: \[1000001\] open from ")
    s.stop()


def wscat_path():
    mods = os.environ.get("NODE_PATH", "")
    js = os.path.join(mods, "wscat", "bin", "wscat")
    node = shutil.which("node")
    if node is None or not os.path.exists(js):
        skip("node or npm wscat missing (NODE_PATH=%r); run scripts/deps.sh"
             % mods)
    return [node, js]


def wscat(url, messages, wait="1"):
    args = wscat_path() + ["-c", url, "-w", wait]
    for m in messages:
        args += ["-x", m]
    # wscat exits when its stdin ends: hold the pipe open until it is done.
    rfd, wfd = os.pipe()
    p = subprocess.Popen(args, stdin=rfd, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    os.close(rfd)
    try:
        out, err = p.communicate(timeout=T)
    except subprocess.TimeoutExpired:
        p.kill()
        fail("wscat did not finish")
    finally:
        os.close(wfd)
    return p.returncode, lines(out), err


def case_wscat():
    wscat_path()
    s = Serve(["serve", "--port", "0", "-v"])
    rc, out, err = wscat(s.url + "/echo", ["hello", "wörld", "x" * 70000])
    check(rc == 0, "wscat exited %d: %s" % (rc, err))
    check(out == ["hello", "wörld", "x" * 70000], "wscat got %r" %
          [o[:20] for o in out])
    s.wait_err(r"^ws101: \[1\] open from 127\.0\.0\.1:\d+ on /echo$")
    s.wait_err(r"^ws101: \[1\] closed with 1005$")
    s.stop()
    # Broadcast: a ws101 client listening, wscat talking.
    s = Serve(["serve", "--port", "0", "--broadcast", "-v"])
    p = subprocess.Popen([TOOL, "-n", s.url + "/"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    s.wait_err(r"\[1\] open from")
    rc, out, err = wscat(s.url + "/", ["to everyone"])
    check(rc == 0 and out == ["to everyone"], "wscat in broadcast: %r" % out)
    got = p.stdout.readline()
    check(got == b"to everyone\n", "broadcast listener got %r" % got)
    p.stdin.close()
    s.stop()
    check(p.wait(timeout=T) == 0, "listener exit status")


def case_interactive():
    L = Loop()
    import websockets
    s = Serve(["serve", "--port", "0", "-i"], interactive_stdin=True)

    async def scenario():
        a = await websockets.connect(s.url + "/room")
        s.wait_err(r"^ws101: \[1\] open from 127\.0\.0\.1:\d+ on /room$")
        b = await websockets.connect(s.url + "/room", subprotocols=None)
        s.wait_err(r"^ws101: \[2\] open from")
        await a.send("hello from a")
        s.wait_out(r"^\[1\] hello from a$")
        await b.send("hello from b")
        s.wait_out(r"^\[2\] hello from b$")
        s.send_line("to everyone")
        got = [await a.recv(), await b.recv()]
        check(got == ["to everyone"] * 2, "broadcast line: %r" % got)
        s.send_line("@2 only for b")
        s.send_line("@1 only for a")
        s.send_line("@@at sign for all")
        got_a = [await a.recv(), await a.recv()]
        got_b = [await b.recv(), await b.recv()]
        check(got_a == ["only for a", "@at sign for all"], "a got %r" % got_a)
        check(got_b == ["only for b", "@at sign for all"], "b got %r" % got_b)
        s.send_line("@9 nobody")
        s.wait_err(r"^ws101: no connection \[9\]; line not sent$")
        await a.close(1000, "bye")
        s.wait_err(r"^ws101: \[1\] closed with 1000: bye$")
        s.send_line("after a left")
        check(await b.recv() == "after a left", "b after a left")
        await b.close()
        s.wait_err(r"^ws101: \[2\] closed with 1000$")
        s.send_line("into the void")
        s.wait_err(r"^ws101: no client connected; line not sent$")

    L.run(scenario())
    # The transcript: exactly the messages, in order, with their ids.
    with s.cv:
        out = [l for l in s.out if l is not None]
    check(out[1:] == ["[1] hello from a", "[2] hello from b"],
          "transcript: %r" % out)
    s.stop()


def case_exec():
    L = Loop()
    import websockets
    cmd = ('echo "path=$WS101_PATH"; '
           'while read -r l; do [ "$l" = quit ] && exit 3; echo "got:$l"; done')
    s = Serve(["serve", "--port", "0", "--exec", cmd, "-v"])

    async def scenario():
        a = await websockets.connect(s.url + "/a?x=1")
        b = await websockets.connect(s.url + "/b")
        check(await a.recv() == "path=/a", "exec env WS101_PATH")
        check(await b.recv() == "path=/b", "exec env for b")
        for i in range(50):
            await a.send("m%d" % i)
        await b.send("only b")
        got = [await a.recv() for _ in range(50)]
        check(got == ["got:m%d" % i for i in range(50)], "exec a: %r" % got[:3])
        check(await b.recv() == "got:only b", "exec b")
        # The process exits 3: the connection closes with 1011 and why.
        await a.send("quit")
        try:
            extra = await a.recv()
            fail("after quit, got %r" % extra)
        except websockets.ConnectionClosed as e:
            check(e.code == 1011 and "status 3" in e.reason,
                  "exit 3 closed with %d %r" % (e.code, e.reason))
        s.wait_err(r"^ws101: \[1\] command exited with status 3; closing "
                   r"with 1011$")
        # The client leaving ends its process (stdin EOF: exit 0).
        await b.close()
        s.wait_err(r"^ws101: \[2\] closed with 1000$")

    L.run(scenario())
    s.stop()
    # A process that ignores its stdin and SIGTERM is killed; the server
    # still stops.
    s = Serve(["serve", "--port", "0", "--exec",
               "trap '' TERM; echo ready; while :; do sleep 1; done"])

    async def stubborn():
        a = await websockets.connect(s.url + "/")
        check(await a.recv() == "ready", "stubborn child ready")
        await a.close()

    L.run(stubborn())
    s.stop()
    # A command that cannot run: 1011 with the shell's status 127.
    s = Serve(["serve", "--port", "0", "--exec", "ws101-no-such-command-x"])

    async def missing():
        a = await websockets.connect(s.url + "/")
        try:
            await a.recv()
        except websockets.ConnectionClosed as e:
            check(e.code == 1011 and "127" in e.reason,
                  "missing command closed with %d %r" % (e.code, e.reason))

    L.run(missing())
    s.stop()


def ws_frame(payload, opcode=2):
    """A masked client frame."""
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + body


def case_backpressure():
    L = Loop()
    import websockets
    s = Serve(["serve", "--port", "0", "--no-deflate",
               "--max-backpressure", "64k", "-v"])
    # A raw client that sends and never reads: the echoes pile up.
    c = socket.create_connection(("127.0.0.1", s.port), timeout=T)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    key = base64.b64encode(os.urandom(16)).decode()
    c.sendall(("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n" % key).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += c.recv(1)
    check(b" 101 " in head, "raw upgrade: %r" % head)
    frame = ws_frame(os.urandom(16384))
    c.setblocking(False)
    refused = None
    end = time.monotonic() + T
    sent = 0
    rest = frame
    # Bounded: at most 64 MiB or the deadline, until the refusal shows.
    while sent < 64 << 20 and time.monotonic() < end:
        with s.cv:
            refused = next((l for l in s.err if l and "refused" in l), None)
        if refused:
            break
        try:
            n = c.send(rest)  # a partial send continues the same frame
            sent += n
            rest = rest[n:] or frame
        except BlockingIOError:
            time.sleep(0.01)  # the socket is full; poll the server's log
        except OSError:
            break
    line = s.wait_err(r"^ws101: \[1\] send of \d+ bytes refused: send buffer "
                      r"limit reached \(WS101_EBACKPRESSURE\); closing with "
                      r"1008$")
    s.wait_err(r"^ws101: \[1\] closed with")
    c.close()

    # Another client is untouched.
    async def other():
        ws = await websockets.connect(s.url + "/")
        await ws.send("still here")
        check(await ws.recv() == "still here", "second client echo")
        await ws.close()

    L.run(other())
    print("refusal logged after %d bytes: %s" % (sent, line))
    s.stop()


def case_tls():
    openssl = shutil.which("openssl")
    if openssl is None:
        skip("the openssl program is missing (Debian package openssl)")
    d = os.path.join(os.environ.get("TMPDIR", "/tmp"),
                     "ws101-cli-tls-%d" % os.getpid())
    os.makedirs(d)
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    try:
        r = subprocess.run(
            [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
             "-out", cert, "-days", "2", "-subj", "/CN=localhost", "-addext",
             "subjectAltName=DNS:localhost,IP:127.0.0.1"],
            capture_output=True, timeout=T)
        check(r.returncode == 0, "openssl req: %r" % r.stderr)
        r = run(["serve", "--tls-cert", cert])
        check(r.returncode == 2 and b"go together" in r.stderr,
              "--tls-cert alone: %d %r" % (r.returncode, r.stderr))
        s = Serve(["serve", "--port", "0", "--tls-cert", cert, "--tls-key",
                   key])
        check(s.url.startswith("wss://"), "TLS serve printed %s" % s.url)
        good = "wss://localhost:%d/tls" % s.port
        r = run(["connect", "-w", "0", "--cafile", cert, good], b"a\nb\n")
        check(r.returncode == 0 and lines(r.stdout) == ["a", "b"],
              "wss with --cafile: %d %r %r" % (r.returncode, r.stdout,
                                               r.stderr))
        r = run(["connect", "-w", "0", good], b"a\n")
        check(r.returncode == 3 and b"certificate verify failed" in r.stderr,
              "wss without our CA: %d %r" % (r.returncode, r.stderr))
        r = run(["connect", "-w", "0", "-k", "wss://127.0.0.1:%d/" % s.port],
                b"x\n")
        check(r.returncode == 0 and r.stdout == b"x\n",
              "--insecure: %d %r" % (r.returncode, r.stderr))
        r = run(["get", "--cafile", cert, "https://localhost:%d/" % s.port])
        check(r.returncode == 0 and r.stdout.startswith(b"ws101 server"),
              "https get: %d %r" % (r.returncode, r.stderr))
        r = run(["get", "https://localhost:%d/" % s.port])
        check(r.returncode == 3 and b"certificate verify failed" in r.stderr,
              "https get without our CA: %d %r" % (r.returncode, r.stderr))
        s.stop()
    finally:
        shutil.rmtree(d, ignore_errors=True)


CASES = {name[5:]: fn for name, fn in globals().items()
         if name.startswith("case_")}

if __name__ == "__main__":
    if CASE not in CASES:
        print("unknown case %r; cases: %s" % (CASE, " ".join(CASES)))
        sys.exit(2)
    CASES[CASE]()
    print("cli %s ok" % CASE)

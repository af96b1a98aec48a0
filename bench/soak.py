#!/usr/bin/env python3
"""Soak: 10,000 churning connections against ws101-demo.

    python3 bench/soak.py --demo build-asan/examples/ws101-demo [--conns 10000]

Each connection does one of (in a fixed rotation, so runs are comparable):
  - a WebSocket session: upgrade offering permessage-deflate, 3 messages
    echoed (checked), the close handshake, EOF;            (6 in 10)
  - an abandoned handshake: half the upgrade request, then close;  (1 in 10)
  - a reset: upgrade, one message, then RST (SO_LINGER 0);         (1 in 10)
  - HTTP: two keep-alive GET /hello, then close;                   (1 in 10)
  - a pipelined GET /stream?n=2000 that is never read, then RST.   (1 in 10)

Concurrency is bounded (--parallel, default 50) and so is every wait. The
server's RSS and open descriptors are sampled from /proc; at the end the
server must be back to its starting descriptor count, and under the ASan
build it is stopped with SIGTERM so LeakSanitizer reports any leak (the
exit status is then non-zero). Prints one line per checkpoint and a final
verdict; exits 1 on any failure.
"""
import argparse
import asyncio
import base64
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time

KEY = base64.b64encode(b"0123456789abcdef").decode()


def upgrade_request(path="/ws"):
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        f"Sec-WebSocket-Key: {KEY}\r\n"
        "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
    ).encode()


def frame(op, payload):
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | op, 0x80 | n)
    else:
        head = struct.pack("!BBH", 0x80 | op, 0x80 | 126, n)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + body


async def read_frame(r):
    """Returns (opcode, rsv1, payload) of one server frame."""
    b0, b1 = await r.readexactly(2)
    n = b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", await r.readexactly(2))
    elif n == 127:
        (n,) = struct.unpack("!Q", await r.readexactly(8))
    return b0 & 0x0F, bool(b0 & 0x40), await r.readexactly(n)


def inflater():
    """One per connection: the server may keep its context (takeover)."""
    import zlib

    d = zlib.decompressobj(-15)
    return lambda p: d.decompress(p + b"\x00\x00\xff\xff")


async def read_head(r):
    head = await r.readuntil(b"\r\n\r\n")
    return head.decode("latin-1")


async def ws_session(port, i):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    try:
        await ws_exchange(r, w, i)
    finally:
        w.close()


async def ws_exchange(r, w, i):
    w.write(upgrade_request())
    head = await read_head(r)
    if " 101 " not in head.split("\r\n")[0]:
        raise RuntimeError("no 101: " + head[:60])
    deflate = "permessage-deflate" in head
    inflate = inflater()
    for k in range(3):
        msg = (f"soak {i} message {k} " * (1 + k * 10)).encode()
        w.write(frame(1, msg))
        op, rsv1, p = await read_frame(r)
        if rsv1:
            if not deflate:
                raise RuntimeError("RSV1 without deflate")
            p = inflate(p)
        if op != 1 or p != msg:
            raise RuntimeError("bad echo")
    w.write(frame(8, struct.pack("!H", 1000)))
    op, _, p = await read_frame(r)
    if op != 8:
        raise RuntimeError("no close frame")
    if await r.read(1) != b"":
        raise RuntimeError("data after close")


async def abandon(port, i):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    req = upgrade_request()
    w.write(req[: len(req) // 2])
    await w.drain()
    w.close()


def rst(w):
    sock = w.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    w.close()


async def reset(port, i):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(upgrade_request())
    await read_head(r)
    w.write(frame(2, b"x" * 100))
    await w.drain()
    rst(w)


async def http(port, i):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    try:
        await http_exchange(r, w)
    finally:
        w.close()


async def http_exchange(r, w):
    for _ in range(2):
        w.write(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        head = await read_head(r)
        m = re.search(r"(?i)content-length: *(\d+)", head)
        if " 200 " not in head.split("\r\n")[0] or not m:
            raise RuntimeError("bad http answer")
        await r.readexactly(int(m.group(1)))


async def never_reads(port, i):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(b"GET /stream?n=2000 HTTP/1.1\r\nHost: x\r\n\r\n" * 20)
    await w.drain()
    await asyncio.sleep(0)  # let the server start answering
    rst(w)


ROTATION = [ws_session] * 6 + [abandon, reset, http, never_reads]


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def nfds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


async def run(port, pid, total, parallel, checkpoints):
    sem = asyncio.Semaphore(parallel)
    errors = {}
    done = 0
    samples = []

    async def one(i):
        nonlocal done
        async with sem:
            kind = ROTATION[i % len(ROTATION)]
            try:
                await asyncio.wait_for(kind(port, i), 30)
            except Exception as e:  # noqa: BLE001 - counted and reported
                key = f"{kind.__name__}: {type(e).__name__} {e}"[:100]
                errors[key] = errors.get(key, 0) + 1
            done += 1
            if done in checkpoints:
                samples.append((done, rss_kb(pid), nfds(pid)))
                print(f"soak: {done:6d} connections, server RSS "
                      f"{samples[-1][1] / 1024:.1f} MiB, {samples[-1][2]} fds",
                      flush=True)

    await asyncio.gather(*(one(i) for i in range(total)))
    return errors, samples


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--demo", required=True)
    ap.add_argument("--conns", type=int, default=10000)
    ap.add_argument("--parallel", type=int, default=50)
    a = ap.parse_args()
    env = dict(os.environ)
    # Bound ASan's quarantine so RSS can level off; leaks are still found.
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:quarantine_size_mb=16")
    p = subprocess.Popen([a.demo, "--host", "127.0.0.1", "--port", "0"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=env, text=True)
    line = p.stdout.readline()
    m = re.search(r":(\d+)/", line)
    if not m:
        print("soak: demo did not start: " + line + p.stderr.read())
        return 1
    port = int(m.group(1))
    fds0, rss0 = nfds(p.pid), rss_kb(p.pid)
    print(f"soak: demo pid {p.pid} port {port}: {fds0} fds, "
          f"RSS {rss0 / 1024:.1f} MiB at start", flush=True)
    step = max(1, a.conns // 10)
    checkpoints = set(range(step, a.conns + 1, step))
    t0 = time.time()
    errors, samples = asyncio.run(run(port, p.pid, a.conns, a.parallel,
                                      checkpoints))
    elapsed = time.time() - t0
    # Let the server finish closing what the clients left (linger, timeouts
    # of abandoned handshakes: header timeout 10 s).
    deadline = time.time() + 30
    while nfds(p.pid) > fds0 and time.time() < deadline:
        time.sleep(0.2)
    fds1, rss1 = nfds(p.pid), rss_kb(p.pid)
    p.send_signal(signal.SIGTERM)
    try:
        _, err = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
    ok = True
    print(f"soak: {a.conns} connections in {elapsed:.1f} s; "
          f"fds {fds0} -> {fds1}, RSS {rss0 / 1024:.1f} -> {rss1 / 1024:.1f} MiB")
    unexpected = {k: v for k, v in errors.items()
                  if not k.startswith(("abandon", "reset", "never_reads"))}
    for k, v in errors.items():
        print(f"soak: {v} x {k}")
    if unexpected:
        ok = False
    if fds1 != fds0:
        print("soak: FAIL: descriptors left open")
        ok = False
    # Flat: the second half of the run must not keep growing.
    half = [s for s in samples if s[0] >= a.conns // 2]
    if len(half) >= 2:
        growth = (half[-1][1] - half[0][1]) / max(half[0][1], 1)
        print(f"soak: RSS growth over the second half: {growth * 100:.1f} %")
        if growth > 0.10:
            print("soak: FAIL: RSS still growing")
            ok = False
    if "LeakSanitizer" in err or "ERROR: AddressSanitizer" in err:
        print(err[-4000:])
        ok = False
    print(f"soak: demo exit status {p.returncode}")
    if p.returncode != 0:
        ok = False
    print("soak: " + ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Shared helper for the libws101 integration tests.

Starts the demo server (ws101-demo) on 127.0.0.1 port 0, waits for its
"listening on http://HOST:PORT/" line with a deadline, and stops it with
SIGTERM, asserting a clean exit (code 0, no sanitizer report on stderr).

Used three ways:
  * imported by the Python tests (``Demo`` context manager, raw HTTP/WebSocket
    helpers),
  * as a wrapper for tests written in other languages:
        python3 demo.py run --demo BIN [--origin O]... -- CMD ARGS...
    starts the demo, runs CMD with WS101_DEMO_URL / WS101_DEMO_HOST /
    WS101_DEMO_PORT in its environment, then stops the demo. The exit code is
    CMD's when it failed or skipped (77), else the demo's shutdown verdict.
  * ``skip(why)`` prints a loud SKIPPED line and exits 77 (CTest
    SKIP_RETURN_CODE).

Synchronisation is always "wait for an event with a deadline" (process
output, socket readiness), never a bare sleep.
"""

import base64
import hashlib
import os
import re
import selectors
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

SKIP_CODE = 77
START_DEADLINE = 20.0  # seconds for the "listening on" line (ASan is slow)
STOP_DEADLINE = 15.0  # seconds for a graceful SIGTERM exit
IO_DEADLINE = 10.0  # seconds for any single network wait in the tests

LISTEN_RE = re.compile(r"^listening on (https?)://([^/\s]+):(\d+)/\s*$")
SANITIZER_RE = re.compile(
    r"(ERROR: (Address|Leak|Thread|Memory|UndefinedBehavior)Sanitizer"
    r"|runtime error:|SUMMARY: \w+Sanitizer)")
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def skip(why):
    """Print a loud skip notice and exit with CTest's skip code."""
    msg = "SKIPPED: %s" % why
    bar = "*" * min(78, max(20, len(msg)))
    sys.stdout.write("%s\n%s\n%s\n" % (bar, msg, bar))
    sys.stdout.flush()
    sys.exit(SKIP_CODE)


def find_demo(argv=None):
    """Demo binary from --demo BIN in argv (removed from it) or the
    WS101_DEMO_BIN environment variable. Exits 77 if there is none."""
    argv = sys.argv if argv is None else argv
    path = None
    if "--demo" in argv:
        i = argv.index("--demo")
        if i + 1 >= len(argv):
            raise SystemExit("--demo needs a path")
        path = argv[i + 1]
        del argv[i:i + 2]
    if not path:
        path = os.environ.get("WS101_DEMO_BIN")
    if not path:
        skip("no demo binary: pass --demo BIN or set WS101_DEMO_BIN")
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        skip("demo binary %r is missing or not executable" % path)
    os.environ["WS101_DEMO_BIN"] = path  # for nested helpers
    return path


class DemoError(AssertionError):
    pass


class Demo:
    """One running ws101-demo process.

    with Demo(bin, origins=[...]) as d:
        d.host, d.port, d.url  ('http://127.0.0.1:PORT')
    Leaving the block stops it (SIGTERM) and raises DemoError unless it
    exited 0 within STOP_DEADLINE with no sanitizer report.
    """

    def __init__(self, binary, origins=(), extra_args=(), host="127.0.0.1",
                 env=None):
        self.binary = binary
        self.args = [binary, "--host", host, "--port", "0"]
        for o in origins:
            self.args += ["--origin", o]
        self.args += list(extra_args)
        self.env = env
        self.proc = None
        self.host = None
        self.port = None
        self.scheme = "http"
        self.stdout_lines = []
        self.stderr_chunks = []
        self._threads = []
        self.returncode = None
        # Notified whenever a drain thread stores output (wait_stderr).
        self._out_cv = threading.Condition()

    # -- start -------------------------------------------------------------
    def start(self):
        env = dict(os.environ)
        if self.env:
            env.update(self.env)
        # Make sanitizer failures fail the exit code too (leaks give 23).
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        self.proc = subprocess.Popen(
            self.args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=env)
        deadline = time.monotonic() + START_DEADLINE
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        buf = b""
        # stderr is drained by a thread from the start so the demo never
        # blocks on a full pipe; it is echoed to our stderr for the log.
        self._spawn_drain(self.proc.stderr, self.stderr_chunks, sys.stderr)
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise DemoError("demo printed no 'listening on' line in "
                                    "%.0fs; stdout so far: %r" %
                                    (START_DEADLINE, buf))
                if not sel.select(timeout=left):
                    continue
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    rc = self.proc.wait(timeout=STOP_DEADLINE)
                    raise DemoError("demo exited (code %s) before listening;"
                                    " stdout %r stderr %r" %
                                    (rc, buf, self.stderr_text()))
                buf += chunk
                if b"\n" in buf:
                    line, _, rest = buf.partition(b"\n")
                    text = line.decode("utf-8", "replace")
                    self.stdout_lines.append(text)
                    m = LISTEN_RE.match(text)
                    if not m:
                        raise DemoError("first stdout line is not "
                                        "'listening on http://HOST:PORT/': "
                                        "%r" % text)
                    self.scheme = m.group(1)
                    self.host = m.group(2).strip("[]")
                    self.port = int(m.group(3))
                    if self.port <= 0:
                        raise DemoError("demo reports port %d" % self.port)
                    break
        except BaseException:
            self._kill()
            raise
        finally:
            sel.close()
        self._spawn_drain(self.proc.stdout, None, None, initial=rest)
        return self

    def _spawn_drain(self, stream, store, echo, initial=b""):
        def keep(chunk):
            with self._out_cv:
                if store is not None:
                    store.append(chunk)
                else:
                    # stdout after the listening line: kept for debugging
                    self.stdout_lines.append(chunk.decode("utf-8", "replace"))
                self._out_cv.notify_all()

        def run():
            if initial:
                keep(initial)  # read together with the "listening on" line
            fd = stream.fileno()
            while True:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                keep(chunk)
                if echo is not None:
                    try:
                        echo.write(chunk.decode("utf-8", "replace"))
                        echo.flush()
                    except Exception:
                        pass
        t = threading.Thread(target=run, daemon=True)
        t.start()
        self._threads.append(t)

    def stderr_text(self):
        with self._out_cv:
            return b"".join(self.stderr_chunks).decode("utf-8", "replace")

    def wait_stderr(self, pred, deadline):
        """Waits until pred(stderr so far) is true or `deadline` seconds
        pass; returns whether it became true. Wakes on new output."""
        end = time.monotonic() + deadline
        with self._out_cv:
            while True:
                text = b"".join(self.stderr_chunks).decode("utf-8", "replace")
                if pred(text):
                    return True
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._out_cv.wait(left)

    @property
    def url(self):
        h = self.host
        if ":" in h:
            h = "[%s]" % h
        return "%s://%s:%d" % (self.scheme, h, self.port)

    @property
    def ws_url(self):
        return ("wss" if self.scheme == "https" else "ws") + \
            self.url[len(self.scheme):] + "/ws"

    # -- stop --------------------------------------------------------------
    def _kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=STOP_DEADLINE)
            except subprocess.TimeoutExpired:
                pass
        self._close_pipes()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def wait_exit(self, deadline=STOP_DEADLINE):
        """Wait for the process to end by itself; returns its exit code."""
        try:
            self.returncode = self.proc.wait(timeout=deadline)
        except subprocess.TimeoutExpired:
            self._kill()
            raise DemoError("demo did not exit within %.0fs; killed" %
                            deadline)
        self._close_pipes()
        return self.returncode

    def _close_pipes(self):
        for t in self._threads:
            t.join(timeout=5)
        for f in (self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except Exception:
                pass

    def check_clean_exit(self, rc):
        err = self.stderr_text()
        if rc != 0:
            raise DemoError("demo exited with code %s (want 0); stderr:\n%s"
                            % (rc, err[-4000:]))
        if SANITIZER_RE.search(err):
            raise DemoError("demo exited 0 but stderr has a sanitizer "
                            "report:\n%s" % err[-8000:])

    def stop(self, sig=signal.SIGTERM):
        """Graceful stop: signal, wait with a deadline, assert exit 0."""
        if self.proc is None:
            return
        if self.proc.poll() is not None:
            rc = self.proc.returncode
            self._close_pipes()
            raise DemoError("demo died before it was stopped (code %s); "
                            "stderr:\n%s" % (rc, self.stderr_text()[-4000:]))
        self.proc.send_signal(sig)
        rc = self.wait_exit()
        self.check_clean_exit(rc)

    def __enter__(self):
        return self.start()

    def __exit__(self, et, ev, tb):
        if et is not None:
            # The test already failed: still stop cleanly but do not mask
            # the original error.
            try:
                self.stop()
            except DemoError as e:
                sys.stderr.write("also: %s\n" % e)
            return False
        self.stop()
        return False


# ---------------------------------------------------------------------------
# Raw socket helpers
# ---------------------------------------------------------------------------


def free_port():
    """A port that was free a moment ago (for peers that cannot take 0)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, proc, deadline=20):
    """Waits until `proc` accepts on `port`. Peers such as nghttpd, h2o or
    Hypercorn print nothing we could wait on, so this polls, bounded by the
    deadline, and fails at once if the peer exits."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError("peer exited with %s" % proc.returncode)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("peer never listened on %d" % port)


def connect(host, port, timeout=IO_DEADLINE):
    s = socket.create_connection((host, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


class Reader:
    """Buffered reads from a socket with an overall deadline per call."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.eof = False
        self.reset = False

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("read deadline passed; have %r" %
                               self.buf[:300])
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError("read deadline passed; have %r" %
                               self.buf[:300])
        except ConnectionResetError:
            # A server that closes with unread input may RST; what it sent
            # before is still in our receive queue and was already read.
            self.reset = True
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def read_until(self, sep, timeout=IO_DEADLINE):
        deadline = time.monotonic() + timeout
        while sep not in self.buf:
            if self.eof or not self._fill(deadline):
                raise EOFError("EOF before %r; have %r" % (sep, self.buf[:300]))
        i = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def read_exact(self, n, timeout=IO_DEADLINE):
        deadline = time.monotonic() + timeout
        while len(self.buf) < n:
            if self.eof or not self._fill(deadline):
                raise EOFError("EOF after %d of %d bytes" % (len(self.buf), n))
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_to_eof(self, timeout=IO_DEADLINE, limit=64 << 20):
        deadline = time.monotonic() + timeout
        while not self.eof:
            self._fill(deadline)
            if len(self.buf) > limit:
                raise AssertionError("more than %d bytes before EOF" % limit)
        out, self.buf = self.buf, b""
        return out

    def expect_eof(self, timeout=IO_DEADLINE):
        """Assert the peer closes (recv returns b'' or RST) with no further
        bytes, within the deadline."""
        extra = self.read_to_eof(timeout)
        if extra:
            raise AssertionError("expected the connection to close, got "
                                 "%d more bytes: %r" % (len(extra), extra[:200]))


class Response:
    def __init__(self, version, status, reason, headers, body, raw_head):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (lower-name, value)
        self.body = body
        self.raw_head = raw_head
        self.chunked = False

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k == name:
                return v
        return default

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k == name]

    def has_token(self, name, token):
        """Is `token` one of the comma-separated values of header `name`?"""
        token = token.lower()
        for v in self.header_all(name):
            for part in v.split(","):
                if part.strip().lower() == token:
                    return True
        return False

    def __repr__(self):
        return "<Response %s %d %r %r body=%r>" % (
            self.version, self.status, self.reason, self.headers,
            self.body[:100] if self.body else self.body)


def read_response(reader, method="GET", timeout=IO_DEADLINE):
    """Read one HTTP/1.x response (Content-Length, chunked, or to EOF).
    1xx interim responses other than 101 are skipped."""
    while True:
        head = reader.read_until(b"\r\n\r\n", timeout)
        lines = head[:-4].split(b"\r\n")
        m = re.match(rb"^(HTTP/\d\.\d) (\d{3})(?: (.*))?$", lines[0])
        if not m:
            raise AssertionError("bad status line %r" % lines[0])
        version = m.group(1).decode()
        status = int(m.group(2))
        reason = (m.group(3) or b"").decode("latin-1")
        headers = []
        for ln in lines[1:]:
            if b":" not in ln:
                raise AssertionError("bad header line %r" % ln)
            k, _, v = ln.partition(b":")
            headers.append((k.decode("latin-1").lower(),
                            v.strip().decode("latin-1")))
        resp = Response(version, status, reason, headers, b"", head)
        if 100 <= status < 200 and status != 101:
            continue
        break
    if method == "HEAD" or status in (101, 204, 304):
        return resp
    te = resp.header("transfer-encoding")
    cl = resp.header("content-length")
    if te is not None and te.lower() == "chunked":
        resp.chunked = True
        body = b""
        while True:
            size_line = reader.read_until(b"\r\n", timeout)
            size = int(size_line.split(b";")[0].strip(), 16)
            if size == 0:
                # trailers, if any, end with an empty line
                while reader.read_until(b"\r\n", timeout) != b"\r\n":
                    pass
                break
            body += reader.read_exact(size, timeout)
            if reader.read_exact(2, timeout) != b"\r\n":
                raise AssertionError("chunk not followed by CRLF")
        resp.body = body
    elif cl is not None:
        resp.body = reader.read_exact(int(cl), timeout)
    else:
        resp.body = reader.read_to_eof(timeout)
    return resp


def request(host, port, raw, method="GET", timeout=IO_DEADLINE):
    """Send raw bytes on a fresh connection, return (Response, Reader)."""
    s = connect(host, port, timeout)
    s.sendall(raw)
    r = Reader(s)
    return read_response(r, method, timeout), r


# ---------------------------------------------------------------------------
# Raw WebSocket helpers (for frames no well-behaved client library sends)
# ---------------------------------------------------------------------------

def ws_accept(key):
    return base64.b64encode(
        hashlib.sha1(key.encode() + WS_GUID).digest()).decode()


def ws_handshake(host, port, path="/ws", extra=b""):
    """Open a raw WebSocket; returns (sock, Reader, Response)."""
    key = base64.b64encode(os.urandom(16)).decode()
    s = connect(host, port)
    s.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
               "Sec-WebSocket-Version: 13\r\n" % (path, host, port, key)
               ).encode() + extra + b"\r\n")
    r = Reader(s)
    resp = read_response(r)
    if resp.status != 101:
        raise AssertionError("handshake got %d, want 101: %r" %
                             (resp.status, resp))
    if resp.header("sec-websocket-accept") != ws_accept(key):
        raise AssertionError("bad Sec-WebSocket-Accept %r" %
                             resp.header("sec-websocket-accept"))
    return s, r, resp


def ws_frame(opcode, payload, fin=True, mask=True, rsv=0):
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        hdr = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        hdr = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        hdr = struct.pack("!BBQ", b0, mbit | 127, n)
    if not mask:
        return hdr + payload
    key = os.urandom(4)
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return hdr + key + masked


def ws_read_frame(reader, timeout=IO_DEADLINE):
    """Read one server frame; returns (fin, opcode, payload). Asserts the
    server did not mask it."""
    b0, b1 = reader.read_exact(2, timeout)
    if b1 & 0x80:
        raise AssertionError("server frame is masked")
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", reader.read_exact(2, timeout))[0]
    elif n == 127:
        n = struct.unpack("!Q", reader.read_exact(8, timeout))[0]
    return bool(b0 & 0x80), b0 & 0x0F, reader.read_exact(n, timeout)


def ws_expect_close(reader, timeout=IO_DEADLINE):
    """Read frames until a close frame; returns (code, reason)."""
    deadline = time.monotonic() + timeout
    for _ in range(1000):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        fin, op, payload = ws_read_frame(reader, left)
        if op == 8:
            if len(payload) < 2:
                return None, ""
            return (struct.unpack("!H", payload[:2])[0],
                    payload[2:].decode("utf-8", "replace"))
    raise AssertionError("no close frame within %.0fs" % timeout)


# ---------------------------------------------------------------------------
# Misc
# ---------------------------------------------------------------------------

def free_port(host="127.0.0.1"):
    """A currently free TCP port on host (for peers that cannot take 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def run_unittest(module_name="__main__"):
    """Run the unittest tests of a module; exit 0 on success, 1 on failure."""
    import unittest
    prog = unittest.main(module=module_name, exit=False, verbosity=2)
    r = prog.result
    ok = r.wasSuccessful() and r.testsRun > 0
    failed = len(r.failures) + len(r.errors)
    print("%d passed, %d failed, %d skipped" % (
        max(0, r.testsRun - failed - len(r.skipped)), failed, len(r.skipped)))
    sys.exit(0 if ok else 1)


def _main_run(argv):
    import argparse
    ap = argparse.ArgumentParser(prog="demo.py run")
    ap.add_argument("--demo", default=os.environ.get("WS101_DEMO_BIN"))
    ap.add_argument("--origin", action="append", default=[])
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args(argv)
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    if not cmd:
        ap.error("no command given after --")
    binary = find_demo(["x", "--demo", a.demo] if a.demo else ["x"])
    d = Demo(binary, origins=a.origin).start()
    env = dict(os.environ, WS101_DEMO_URL=d.url, WS101_DEMO_HOST=d.host,
               WS101_DEMO_PORT=str(d.port), WS101_DEMO_WS_URL=d.ws_url)
    print("demo: %s (pid %d)" % (d.url, d.proc.pid), flush=True)
    try:
        rc = subprocess.call(cmd, env=env)
    except BaseException:
        d._kill()
        raise
    try:
        d.stop()
    except DemoError as e:
        print("FAIL: %s" % e, flush=True)
        return 1 if rc in (0, SKIP_CODE) else rc
    return rc


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "run":
        sys.exit(_main_run(sys.argv[2:]))
    if len(sys.argv) >= 3 and sys.argv[1] == "skip":
        skip(" ".join(sys.argv[2:]))
    sys.stderr.write(__doc__)
    sys.exit(2)

#!/usr/bin/python3
"""Independent peers for the libws101 client tests, and the driver that runs
a test program against one.

    peers.py PEER -- PROGRAM [ARGS...]

starts PEER on 127.0.0.1 with a free port, then runs PROGRAM with
WS101_TEST_PORT (and WS101_TEST_URL_BASE) in its environment, and exits with
its status. Readiness is the listening socket itself: the peer binds before
the program starts, so no sleeping is needed. PROGRAM's exit status 77 means
skipped.

Peers:
  http      an HTTP/1.1 server (http.server, keep-alive) with test routes
  ws-echo   Python `websockets` echo server with test paths
  ws-node   node `ws` echo server (node_ws_server.js) with the same paths
  ws-raw    hand-written misbehaving WebSocket servers, chosen by path
"""
import asyncio
import base64
import hashlib
import http.server
import shutil
import os
import socket
import subprocess
import sys
import threading

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def listen_socket():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    return s


# ---------------------------------------------------------------- HTTP ----
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                line = self.rfile.readline().strip()
                n = int(line.split(b";")[0], 16)
                if n == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(n)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length", "0"))
        return self.rfile.read(n)

    def _send(self, status, body, headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        if status not in (204, 304):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and status not in (204, 304):
            self.wfile.write(body)

    def _route(self):
        path = self.path
        # One id per TCP connection, so tests can see keep-alive reuse.
        conn_id = str(id(self.connection))
        if path == "/hello":
            return self._send(200, b"hello world\n",
                              [("Content-Type", "text/plain"),
                               ("X-Conn", conn_id)])
        if path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("X-Conn", conn_id)
            self.end_headers()
            for part in (b"one,", b"two,", b"three"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\nX-Trailer: yes\r\n\r\n")
            return
        if path == "/close-delimited":
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"until the end")
            self.close_connection = True
            return
        if path == "/big":
            body = bytes(range(256)) * 4096 * 4  # 4 MiB
            return self._send(200, body, [("X-Conn", conn_id)])
        if path == "/204":
            return self._send(204, b"")
        if path == "/304":
            return self._send(304, b"", [("ETag", '"x"')])
        if path == "/echo":
            body = self._body()
            te = self.headers.get("Transfer-Encoding", "")
            return self._send(200, body, [("X-Method", self.command),
                                          ("X-TE", te or "none"),
                                          ("X-UA", self.headers.get("User-Agent", "")),
                                          ("X-Custom", self.headers.get("X-Custom", "")),
                                          ("X-Opt", self.headers.get("X-Opt", ""))])
        if path == "/garbage":
            self.wfile.write(b"HTTP/1.1 2OO OK\r\n\r\n")
            self.close_connection = True
            return
        if path == "/truncated":
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")
            self.close_connection = True
            return
        if path == "/silent":
            self.rfile.read(1)  # hold the connection until the client leaves
            self.close_connection = True
            return
        return self._send(404, b"not found\n")

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _route


def run_http(sock):
    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True

        def server_bind(self):
            pass

        def server_activate(self):
            pass

        def handle_error(self, request, client_address):
            pass  # clients that cancel mid-body are part of the tests

    srv = Server(("127.0.0.1", 0), Handler, bind_and_activate=False)
    srv.socket.close()
    srv.socket = sock
    srv.server_address = sock.getsockname()
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    return lambda: srv.shutdown()


# ----------------------------------------------------------- websockets ----
def run_ws_echo(sock):
    import websockets
    from websockets.server import serve

    async def handler(ws, path):
        if path.startswith("/server-close"):
            await ws.close(4001, "bye")
            return
        if path.startswith("/fragments"):
            # One message in three frames, then echo as usual.
            await ws.send(iter(["frag", "mented", "!"]))
        if path.startswith("/subprotocol"):
            await ws.send("proto=" + (ws.subprotocol or ""))
        if path.startswith("/headers"):
            await ws.send("x-test=" + ws.request_headers.get("X-Test", ""))
        if path.startswith("/extensions"):
            await ws.send("ext=" + ws.request_headers.get(
                "Sec-WebSocket-Extensions", ""))
        try:
            async for msg in ws:
                await ws.send(msg)
        except websockets.ConnectionClosed:
            pass

    loop = asyncio.new_event_loop()
    ready = threading.Event()

    async def main():
        async with serve(handler, sock=sock, max_size=None,
                         subprotocols=["chat", "superchat"]):
            ready.set()
            await asyncio.Future()

    t = threading.Thread(target=lambda: loop.run_until_complete(main()),
                         daemon=True)
    t.start()
    ready.wait()
    return lambda: None


# ------------------------------------------------------ misbehaving raw ----
def raw_conn(conn):
    f = conn.makefile("rb")
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        line = f.readline()
        if not line:
            conn.close()
            return
        head += line
    lines = head.decode("latin-1").split("\r\n")
    path = lines[0].split(" ")[1]
    key = ""
    for ln in lines[1:]:
        if ln.lower().startswith("sec-websocket-key:"):
            key = ln.split(":", 1)[1].strip()
    accept = base64.b64encode(
        hashlib.sha1((key + GUID).encode()).digest()).decode()
    ok = ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
          "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n")
    if path == "/200":
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")
    elif path == "/426":
        conn.sendall(b"HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version:"
                     b" 13\r\nUpgrade: websocket\r\nContent-Length: 0\r\n\r\n")
    elif path == "/bad-accept":
        conn.sendall((ok % base64.b64encode(b"x" * 20).decode()).encode())
    elif path == "/mid-frame":
        # A valid 101, then half of a 10-byte text frame, then FIN.
        conn.sendall((ok % accept).encode() + b"\x81\x0aabcd")
    elif path == "/bad-extension":
        conn.sendall((ok % accept).encode()[:-2] +
                     b"Sec-WebSocket-Extensions: x-unknown\r\n\r\n")
    elif path == "/garbage":
        conn.sendall(b"SSH-2.0-OpenSSH\r\n\r\n")
    elif path == "/silent":
        f.read(1)
    try:
        conn.shutdown(socket.SHUT_WR)
        f.read()  # drain until the client closes
    except OSError:
        pass
    conn.close()


def run_ws_raw(sock):
    def accept_loop():
        while True:
            try:
                c, _ = sock.accept()
            except OSError:
                return
            threading.Thread(target=raw_conn, args=(c,), daemon=True).start()

    threading.Thread(target=accept_loop, daemon=True).start()
    return lambda: None


def run_ws_node(sock):
    # node binds its own port; ours is unused. It prints the port when ready.
    sock.close()
    node = shutil.which("node")
    mods = os.environ.get("NODE_PATH", "")
    if node is None or not os.path.isdir(os.path.join(mods, "ws")):
        raise ImportError("node or the ws module (NODE_PATH=%r) missing" % mods)
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                          "node_ws_server.js")
    proc = subprocess.Popen([node, script], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.strip().isdigit():
        proc.kill()
        raise RuntimeError("node server did not start")

    def stop():
        proc.kill()
        proc.wait()
    return int(line), stop


PEERS = {"http": run_http, "ws-echo": run_ws_echo, "ws-raw": run_ws_raw,
         "ws-node": run_ws_node}


def main():
    if len(sys.argv) < 4 or sys.argv[2] != "--" or sys.argv[1] not in PEERS:
        print(__doc__, file=sys.stderr)
        return 2
    sock = listen_socket()
    port = sock.getsockname()[1]
    try:
        stop = PEERS[sys.argv[1]](sock)
        if isinstance(stop, tuple):
            port, stop = stop
    except ImportError as e:
        print("SKIPPED: peer %s unavailable: %s" % (sys.argv[1], e))
        return 77
    env = dict(os.environ)
    env["WS101_TEST_PORT"] = str(port)
    env["WS101_TEST_HOSTPORT"] = "127.0.0.1:%d" % port
    try:
        rc = subprocess.run(sys.argv[3:], env=env, timeout=120).returncode
    except subprocess.TimeoutExpired:
        print("test program timed out", file=sys.stderr)
        rc = 1
    stop()
    return rc


if __name__ == "__main__":
    sys.exit(main())

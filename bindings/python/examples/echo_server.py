#!/usr/bin/env python3
"""A ws101 echo server: serves a small page on / and echoes WebSocket
messages on /ws.

    python3 echo_server.py [--host 127.0.0.1] [--port 8080]   (0 = free port)

Prints "listening on http://HOST:PORT/" once it accepts connections. Stop it
with Ctrl-C.
"""
import argparse
import sys

import ws101

PAGE = """<!doctype html>
<title>ws101 echo</title>
<p>WebSocket echo on <code>/ws</code>.</p>
<script>
const ws = new WebSocket(location.href.replace(/^http/, "ws") + "ws");
ws.onopen = () => ws.send("hello from the browser");
ws.onmessage = (e) => document.body.append(" echo: " + e.data);
</script>
"""


class Echo:
    """One instance per connection."""

    def on_open(self, ws):
        print("open %s from %s" % (ws.path, ws.remote_addr), flush=True)

    def on_message(self, ws, data):
        ws.send(data)  # str comes back as text, bytes as binary

    def on_close(self, ws, code, reason):
        print("close %d %s" % (code, reason), flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8080,
                    help="port to listen on (0 picks a free one)")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)

    # Log mode: an exception in a handler is logged and the server goes on.
    with ws101.Loop(raise_errors=False) as loop:
        server = ws101.Server(loop)

        @server.route("/")
        def index(req):
            req.respond(200, PAGE, content_type="text/html; charset=utf-8")

        handler = Echo
        if args.quiet:
            handler = lambda ws, data: ws.send(data)  # noqa: E731
        server.websocket("/ws", handler)

        port = server.listen(args.host, args.port)
        host = "[%s]" % args.host if ":" in args.host else args.host
        print("listening on http://%s:%d/" % (host, port), flush=True)
        try:
            loop.run()
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

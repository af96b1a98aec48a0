"""A raw ASGI app for the --workers tests: answers with the pid of the
worker that served the request and its parent's pid. ``/busy`` holds its
worker's loop for 20 ms (CPU-bound work, what worker processes are for), so
that concurrent requests spread over the workers. Lifespan shutdown writes
``$WS101_ASGI_MARKER_DIR/shutdown.<pid>``; with WS101_ASGI_FAIL_STARTUP
set the startup fails."""
import os
import time


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                if os.environ.get("WS101_ASGI_FAIL_STARTUP"):
                    await send({"type": "lifespan.startup.failed",
                                "message": "told to fail"})
                    return
                await send({"type": "lifespan.startup.complete"})
                continue
            d = os.environ.get("WS101_ASGI_MARKER_DIR")
            if d:
                with open(os.path.join(d, "shutdown.%d" % os.getpid()),
                          "w") as f:
                    f.write("shutdown\n")
            await send({"type": "lifespan.shutdown.complete"})
            return
    if scope["type"] != "http":
        return
    if scope["path"] == "/busy":
        time.sleep(0.02)
    body = b"%d %d" % (os.getpid(), os.getppid())
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"),
                            (b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})

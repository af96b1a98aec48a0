"""ws101.asgi: an ASGI 3 server on libws101 (HTTP/1.1, HTTP/2, WebSocket).

Runs any ASGI application (Starlette, FastAPI, ...)::

    python -m ws101.asgi main:app --host 127.0.0.1 --port 8000

or from Python: ``ws101.asgi.run(app, host="127.0.0.1", port=8000)``, or
inside a running asyncio program: ``server = await ws101.asgi.serve(app,
host, port)``. Supports ``http`` (streamed request and response bodies),
``websocket`` (accept with subprotocol and headers, text and bytes, close
codes, the denial-response extension) and ``lifespan``, over HTTP/1.1 and
over cleartext HTTP/2 on the same port (prior knowledge and the h2c
upgrade; WebSockets over HTTP/2 by RFC 8441; ``scope["http_version"]`` is
``"2"``; ``http2=0`` / ``h2c=0`` turn them off). ``--workers N`` serves
from N processes sharing one port. The libws101 loop
runs inside the asyncio loop (:mod:`ws101.aio`); uvloop is used by
:func:`run` when installed (``loop="uvloop"``/``"asyncio"`` chooses).
Server options are the :class:`ws101.Options` keywords (``max_body``,
``ws_max_message``, ``deflate``, ``idle_timeout_ms``, ...).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
from typing import Any, Dict, List, Optional, Set

import ws101
from ws101 import _ws101 as _c
from ws101.aio._driver import get_driver

from ._http import ClientDisconnected, HTTPCycle
from ._lifespan import Lifespan, LifespanError
from ._websocket import WebSocketCycle

__all__ = ["serve", "run", "Server", "ClientDisconnected", "LifespanError"]

log = logging.getLogger("ws101.asgi")

_ASGI = {"version": "3.0", "spec_version": "2.3"}
# ws101_req_http_version -> scope["http_version"]: HTTP/2 streams (prior
# knowledge, h2c upgrade, RFC 8441 WebSockets) are served by the same
# routes as HTTP/1.x.
_HTTP_VERSIONS = {10: "1.0", 11: "1.1", 20: "2"}


def _split_addr(addr: str) -> Optional[List[Any]]:
    host, _, port = addr.rpartition(":")
    if not port.isdigit():
        return None
    return [host.strip("[]"), int(port)]


class Server:
    """A running ASGI server (see :func:`serve`): ``port``, :meth:`close`,
    :meth:`wait_closed`, :meth:`serve_forever`."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, *,
                 lifespan: str = "auto", root_path: str = "",
                 fd: Optional[int] = None, **options: Any):
        self.app = app
        self.host = host
        self._want_port = port
        self._fd = fd
        self.port = 0
        self.root_path = root_path
        self._lifespan = Lifespan(app, lifespan)
        self._options = options
        self._tasks: Set[asyncio.Task] = set()
        self._srv: Optional[ws101.Server] = None
        self._closed: Optional[asyncio.Future] = None
        self._server_addr: List[Any] = [host, port]

    async def start(self) -> "Server":
        """Runs the lifespan startup, then listens; returns the server (``server.port`` is the bound port)."""
        await self._lifespan.startup()
        self._driver = d = get_driver()
        self._aloop = d.aloop
        self._srv = srv = ws101.Server(d.loop, **self._options)
        # WEBSOCKET: the app decides on upgrades, over HTTP/1.1 and RFC 8441.
        _c.ws101_server_route(srv._h, "*", _c.WS101_ROUTE_STREAM_BODY |
                              _c.WS101_ROUTE_WEBSOCKET,
                              self._on_request)
        if self._fd is not None:
            # An inherited listening socket (--workers): the server owns it.
            fd, self._fd = self._fd, None
            self.port = srv.listen_fd(fd)
        else:
            self.port = srv.listen(self.host, self._want_port)
        self._server_addr = [self.host, self.port]
        d.kick()
        return self

    # -- per request ---------------------------------------------------------
    def _scope(self, h: Any, kind: str) -> Dict[str, Any]:
        target = _c.ws101_req_target(h)
        raw_path, _, query = target.partition("?")
        path = _c.ws101_req_path(h)
        n = _c.ws101_req_header_count(h)
        name, value = _c.ws101_req_header_name, _c.ws101_req_header_value
        headers = [(name(h, i).lower().encode("latin-1"),
                    value(h, i).encode("latin-1")) for i in range(n)]
        scope = {
            "type": kind,
            "asgi": _ASGI,
            "http_version": _HTTP_VERSIONS.get(
                _c.ws101_req_http_version(h), "1.1"),
            "scheme": "http" if kind == "http" else "ws",
            "path": path,
            "raw_path": raw_path.encode("latin-1"),
            "query_string": query.encode("latin-1"),
            "root_path": self.root_path,
            "headers": headers,
            "client": _split_addr(_c.ws101_req_remote_addr(h) or ""),
            "server": self._server_addr,
            "state": dict(self._lifespan.state),
        }
        if kind == "http":
            scope["method"] = _c.ws101_req_method(h)
        else:
            raw = _c.ws101_req_header(h, "sec-websocket-protocol") or ""
            scope["subprotocols"] = [p.strip() for p in raw.split(",")
                                     if p.strip()]
            scope["extensions"] = {"websocket.http.response": {}}
        return scope

    def _on_request(self, h: Any) -> None:
        if _c.ws101_req_is_websocket(h):
            # The upgrade request has no body to stream.
            cycle: Any = WebSocketCycle(h, self._driver)
            scope = self._scope(h, "websocket")
        else:
            cycle = HTTPCycle(h, self._driver)
            _c.ws101_req_on_abort(h, cycle.on_abort)
            _c.ws101_req_read_body(h, cycle.on_body)
            scope = self._scope(h, "http")
            # Response bytes queued for this client (see _http.py).
            scope["extensions"] = {"ws101.buffered": cycle.buffered}
        t = self._aloop.create_task(self._run_app(scope, cycle))
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    async def _run_app(self, scope: Dict[str, Any], cycle: Any) -> None:
        failed = False
        try:
            await self.app(scope, cycle.receive, cycle.send)
        except ClientDisconnected:
            pass  # the client left; nothing to answer
        except asyncio.CancelledError:
            failed = True
            raise
        except Exception:
            failed = True
            if getattr(cycle, "disconnect_code", None) is not None:
                # Raised after the app was told of the disconnect (as
                # Starlette's WebSocketDisconnect is): not an error.
                failed = False
                log.debug("ASGI app ended with %r after disconnect",
                          sys.exc_info()[1])
                return
            log.exception("exception in ASGI application (%s %s)",
                          scope.get("method", "WEBSOCKET"), scope["path"])
        finally:
            cycle.finish(failed)

    # -- lifecycle -----------------------------------------------------------
    def close(self) -> None:
        """Stops listening, closes WebSockets with 1001, lets in-flight
        responses finish."""
        if self._srv is None or self._closed is not None:
            return
        fut = self._closed = self._aloop.create_future()

        def done() -> None:
            if not fut.done():
                fut.set_result(None)
        self._srv.close(done)

    async def wait_closed(self) -> None:
        """Waits until the connections are gone (10 s at most), the app tasks ended (5 s) and the lifespan shutdown ran."""
        if self._closed is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._closed), 10)
            except asyncio.TimeoutError:
                log.warning("connections still open after 10 s")
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)
        await self._lifespan.shutdown()

    async def serve_forever(self) -> None:
        """Serves until cancelled; then shuts down (lifespan included)."""
        try:
            await self._aloop.create_future()
        finally:
            self.close()
            await self.wait_closed()

    async def __aenter__(self) -> "Server":
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        self.close()
        await self.wait_closed()

    def __await__(self):
        return self.start().__await__()


def serve(app: Any, host: str = "127.0.0.1", port: int = 0,
          **options: Any) -> Server:
    """An ASGI server on the running asyncio loop: ``async with serve(app,
    host, port) as server`` or ``server = await serve(...)``. Port 0 picks
    a free port (``server.port``). Options: ``lifespan`` ("auto", "on",
    "off"), ``root_path``, and the :class:`ws101.Options` keywords."""
    return Server(app, host, port, **options)


def _new_loop(kind: str) -> asyncio.AbstractEventLoop:
    if kind in ("auto", "uvloop"):
        try:
            import uvloop  # type: ignore[import-not-found]
            return uvloop.new_event_loop()
        except ImportError:
            if kind == "uvloop":
                raise
    return asyncio.new_event_loop()


def _banner(host: str, port: int) -> str:
    shown = "[%s]" % host if ":" in host else host
    return "listening on http://%s:%d/" % (shown, port)


def run(app: Any, host: str = "127.0.0.1", port: int = 8000, *,
        workers: int = 1, loop: str = "auto", ready: Any = None,
        fd: Optional[int] = None, graceful_timeout: float = 30.0,
        **options: Any) -> int:
    """Serves ``app`` until SIGINT/SIGTERM (blocking). Prints
    ``listening on http://HOST:PORT/`` once ready (or calls
    ``ready(server)``).

    ``workers=N`` (N > 1) binds ``host``:``port`` once and forks N worker
    processes that serve it together, each with its own event loop (see
    ``ws101.asgi._workers``): the line is printed once all of them are
    accepting, SIGINT/SIGTERM stops them all gracefully (lifespan shutdown
    in each; a worker still running after ``graceful_timeout`` s is
    killed), and a worker that dies is reported and replaced. Call it from
    the main thread of a program that has not started an event loop yet.
    ``fd`` serves an already listening socket instead of binding (the
    server takes ownership of it). Returns the exit status: 0, or 1 when a
    worker failed."""
    if workers < 1:
        raise ValueError("workers must be >= 1, not %r" % workers)
    if workers > 1:
        from ._workers import Supervisor, bind_socket
        sock = bind_socket(host, port) if fd is None else \
            socket.socket(fileno=fd)
        try:
            bound = sock.getsockname()[1]

            def serve(wfd: int, stop_fd: int, up: Any) -> None:
                _run_one(app, host, bound, loop=loop, fd=wfd,
                         stop_fd=stop_fd, ready=lambda _server: up(),
                         **options)
            return Supervisor(serve, sock, workers, _banner(host, bound),
                              graceful_timeout).run()
        finally:
            sock.close()
    _run_one(app, host, port, loop=loop, ready=ready, fd=fd, **options)
    return 0


def _run_one(app: Any, host: str, port: int, *, loop: str, ready: Any,
             fd: Optional[int] = None, stop_fd: Optional[int] = None,
             **options: Any) -> None:
    """One server on a new event loop until SIGINT/SIGTERM (or until
    ``stop_fd`` turns readable: a worker's parent went away)."""
    import signal

    aloop = _new_loop(loop)
    asyncio.set_event_loop(aloop)

    async def main() -> None:
        # Stop requests are taken from the start, so that a signal during
        # the lifespan startup still ends in an orderly shutdown.
        stop = aloop.create_future()

        def request_stop() -> None:
            if not stop.done():
                stop.set_result(None)
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                aloop.add_signal_handler(sig, request_stop)
            except (NotImplementedError, RuntimeError):
                pass
        if stop_fd is not None:
            aloop.add_reader(stop_fd, request_stop)
        server = Server(app, host, port, fd=fd, **options)
        await server.start()
        try:
            if ready is not None:
                ready(server)
            else:
                print(_banner(host, server.port), flush=True)
            await stop
        finally:
            if stop_fd is not None:
                aloop.remove_reader(stop_fd)
            server.close()
            await server.wait_closed()
    try:
        aloop.run_until_complete(main())
    finally:
        try:
            aloop.run_until_complete(aloop.shutdown_asyncgens())
        finally:
            aloop.close()
            asyncio.set_event_loop(None)


def __dir__() -> List[str]:
    return sorted(__all__)


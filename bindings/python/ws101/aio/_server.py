"""``ws101.aio.serve``: a WebSocket (and HTTP) server on the asyncio loop,
shaped like ``websockets.serve``."""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import Any, Awaitable, Callable, Dict, Optional, Set

import ws101
from ws101 import _ws101 as _c

from . import _options
from ._connection import Connection
from ._driver import get_driver

log = logging.getLogger("ws101.aio")

Handler = Callable[..., Awaitable[Any]]
HttpHandler = Callable[[ws101.Request], Awaitable[Any]]


class ServerConnection(Connection):
    """The server side of a WebSocket: a :class:`Connection` plus the
    opening request (``path``, ``query``, ``request_headers``), its
    ``server`` (the :class:`Server`) and pub/sub: :meth:`subscribe`,
    :meth:`unsubscribe`, :meth:`is_subscribed`, ``subscriptions``."""

    query = ""
    server: Optional["Server"] = None

    def subscribe(self, topic: str) -> bool:
        """Subscribes to ``topic``: :meth:`Server.publish` (on this
        server, or through Redis) reaches this connection; messages
        arrive like any other (``recv``). True if added, False if already
        subscribed; raises ``ConnectionClosed`` once closed.
        Subscriptions end with the connection."""
        h = self._h
        if h is None:
            raise self._closed_exc()
        return ws101._check(_c.ws101_ws_subscribe(h, topic),
                            "subscribe %r" % topic) == 1

    def unsubscribe(self, topic: str) -> bool:
        """Ends a subscription; True if there was one."""
        h = self._h
        if h is None:
            return False
        return ws101._check(_c.ws101_ws_unsubscribe(h, topic),
                            "unsubscribe %r" % topic) == 1

    def is_subscribed(self, topic: str) -> bool:
        """True when this connection is subscribed to ``topic``."""
        return self._h is not None and \
            _c.ws101_ws_is_subscribed(self._h, topic) == 1

    @property
    def subscriptions(self) -> int:
        """The number of topics this connection is subscribed to."""
        return 0 if self._h is None else \
            _c.ws101_ws_subscription_count(self._h)


def _pick_subprotocol(offered: str, supported: list) -> Optional[str]:
    if not offered or not supported:
        return None
    client = [p.strip() for p in offered.split(",") if p.strip()]
    for p in supported:
        if p in client:
            return p
    return None


class Server:
    """A listening server (see :func:`serve`).

    ``port`` is the bound port; :meth:`close` + :meth:`wait_closed` stop
    it (open WebSockets are closed with 1001); :meth:`serve_forever` runs
    until cancelled. :meth:`route` adds ``async def`` HTTP handlers."""

    def __init__(self, handler: Optional[Handler], host: str, port: int,
                 **kw: Any):
        mine, rest = _options.split(dict(kw), "max_queue", "write_limit")
        self._handler = handler
        self._pass_path = False
        if handler is not None:
            try:
                self._pass_path = len(inspect.signature(handler).parameters) >= 2
            except (TypeError, ValueError):
                pass
        self._host = host
        self._want_port = port
        self._opts = _options.translate(rest)
        self._supported = list(self._opts.get("subprotocols") or [])
        if isinstance(self._opts.get("subprotocols"), str):
            self._supported = [self._opts["subprotocols"]]
        self._max_queue = mine.get("max_queue", 32)
        self._write_limit = mine.get("write_limit", 64 * 1024)
        self._routes: Dict[str, HttpHandler] = {}
        self._srv: Optional[ws101.Server] = None
        self._driver: Any = None
        self._tasks: Set[asyncio.Task] = set()
        self.connections: Set[ServerConnection] = set()
        self._closed_fut: Optional[asyncio.Future] = None
        self.port = 0

    # -- HTTP routes ---------------------------------------------------------
    def route(self, path: str) -> Callable[[HttpHandler], HttpHandler]:
        """Decorator: ``async def handler(req)`` answers requests for
        ``path`` (exact, or a prefix ending in ``*``). It may answer with
        ``req.respond(...)`` itself, or return the response: ``str`` or
        ``bytes`` (200), ``(status, body)`` or ``(status, body,
        headers)``. An exception answers 500 and is logged."""
        def register(fn: HttpHandler) -> HttpHandler:
            self._routes[path] = fn
            if self._srv is not None:
                self._srv.route(path, self._http_entry(fn))
            return fn
        return register

    def _http_entry(self, fn: HttpHandler) -> Callable[[ws101.Request], None]:
        def on_request(req: ws101.Request) -> None:
            self._spawn(self._run_http(fn, req))
        return on_request

    async def _run_http(self, fn: HttpHandler, req: ws101.Request) -> None:
        try:
            r = await fn(req)
            if req.done:
                return
            if r is None:
                raise RuntimeError("HTTP handler returned without answering")
            if isinstance(r, (str, bytes)):
                req.respond(200, r)
            else:
                status, body = r[0], r[1]
                req.respond(status, body,
                            headers=r[2] if len(r) > 2 else None)
        except Exception:
            log.exception("error in HTTP handler for %s", req.target)
            if not req.done:
                try:
                    req.respond(500, "Internal Server Error\n")
                except ws101.Error:
                    pass
        finally:
            self._driver.kick()

    # -- WebSockets ----------------------------------------------------------
    def _on_request(self, req: ws101.Request) -> None:
        if not req.is_websocket or self._handler is None:
            req.respond(426, "Upgrade Required: this is a WebSocket endpoint\n")
            return
        conn = ServerConnection(self._driver, max_queue=self._max_queue,
                                write_limit=self._write_limit)
        conn.server = self
        conn.path = req.path
        conn.query = req.query
        conn.request_headers = req.headers
        sub = _pick_subprotocol(req.headers.get("sec-websocket-protocol", ""),
                                self._supported)
        rc, h = _c.ws101_req_accept_websocket(req._h, sub, conn._event)
        if rc == 0 or rc == _c.WS101_EBADUPGRADE:
            req._complete()
        if rc < 0:
            if rc != _c.WS101_EBADUPGRADE:  # answered by the library
                req.respond(500, "cannot accept\n")
            return
        if conn._h is None:
            conn._h = h
        self._spawn(self._run_ws(conn))

    async def _run_ws(self, conn: ServerConnection) -> None:
        self.connections.add(conn)
        try:
            await conn._opened
            if self._pass_path:
                await self._handler(conn, conn.path)  # type: ignore[misc]
            else:
                await self._handler(conn)  # type: ignore[misc]
        except ws101.ConnectionClosed:
            pass  # the peer went away while the handler waited
        except asyncio.CancelledError:
            conn._abort(1001, "server shutting down")
            raise
        except Exception:
            log.exception("error in WebSocket handler for %s", conn.path)
            conn._abort(1011, "internal error")
        else:
            await conn.close(1000)
        finally:
            self.connections.discard(conn)

    def _spawn(self, coro: Awaitable[Any]) -> None:
        t = self._driver.aloop.create_task(coro)  # type: ignore[arg-type]
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    # -- pub/sub ---------------------------------------------------------------
    def _live_srv(self) -> ws101.Server:
        if self._srv is None:
            raise ws101.StateError(_c.WS101_ESTATE, "server not started")
        return self._srv

    def publish(self, topic: str, message: Any) -> int:
        """Sends ``message`` (``str`` as text, bytes-like as binary) to
        every connection subscribed to ``topic``, framed once; never waits
        (a subscriber whose queue is full skips it, see
        :meth:`ws101.Server.publish`). Returns how many of this server's
        subscribers it was queued to."""
        return self._live_srv().publish(topic, message)

    def subscribers(self, topic: str) -> int:
        """How many connections of this server are subscribed to
        ``topic``."""
        return 0 if self._srv is None else self._srv.subscribers(topic)

    def pubsub_stats(self) -> Dict[str, int]:
        """See :meth:`ws101.Server.pubsub_stats`."""
        return self._live_srv().pubsub_stats()

    def attach_redis(self, url: str, prefix: Optional[str] = None,
                     on_event: Optional[Callable[[str, str, int], Any]] = None
                     ) -> ws101.Redis:
        """Attaches a Redis backplane (see
        :meth:`ws101.Server.attach_redis`); ``on_event`` runs on the
        asyncio thread."""
        return self._live_srv().attach_redis(url, prefix, on_event)

    # -- lifecycle -----------------------------------------------------------
    async def start(self) -> "Server":
        """Listens (done by ``await serve(...)`` / ``async with``)."""
        self._driver = d = get_driver()
        self._srv = srv = ws101.Server(d.loop, **self._opts)
        for path, fn in self._routes.items():
            srv.route(path, self._http_entry(fn))
        srv.route("*", self._on_request)
        self.port = srv.listen(self._host, self._want_port)
        d.kick()
        return self

    def close(self) -> None:
        """Stops listening and closes every WebSocket with 1001; in-flight
        HTTP responses finish. :meth:`wait_closed` waits for the end."""
        if self._srv is None or self._closed_fut is not None:
            return
        fut = self._closed_fut = self._driver.aloop.create_future()

        def done() -> None:
            if not fut.done():
                fut.set_result(None)
        self._srv.close(done)
        self._driver.kick()

    async def wait_closed(self) -> None:
        """Waits until the server and its handlers have finished."""
        if self._closed_fut is not None:
            await asyncio.shield(self._closed_fut)
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def serve_forever(self) -> None:
        """Serves until the task is cancelled (then closes the server)."""
        try:
            await self._driver.aloop.create_future()
        finally:
            self.close()
            await self.wait_closed()

    def is_serving(self) -> bool:
        """True while the server listens (until :meth:`close`)."""
        return self._srv is not None and self._closed_fut is None

    async def __aenter__(self) -> "Server":
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        self.close()
        await self.wait_closed()

    def __await__(self):
        return self.start().__await__()


def serve(handler: Optional[Handler], host: str = "127.0.0.1",
          port: int = 0, **options: Any) -> Server:
    """Creates a WebSocket server: ``async with serve(handler, host, port)
    as server:`` or ``server = await serve(...)``.

    ``async def handler(ws)`` (or ``handler(ws, path)``) runs per
    connection; when it returns the connection is closed with 1000, an
    exception closes it with 1011 and is logged. Plain HTTP requests get
    426 unless an :meth:`Server.route` matches. Options: ``max_queue``
    (messages buffered before reading pauses, default 32), ``write_limit``
    (bytes queued before ``send`` waits, default 64 KiB), every
    :class:`ws101.Options` keyword (``subprotocols=[...]``,
    ``origins=[...]``, ``ws_max_message``, ``deflate``,
    ``ws_ping_interval_ms``, ...) and the ``websockets`` names
    ``max_size``, ``ping_interval``, ``ping_timeout``, ``close_timeout``,
    ``compression``. Port 0 picks a free port (``server.port``)."""
    return Server(handler, host, port, **options)

"""``ws101.aio.connect`` and ``ws101.aio.fetch``: clients on the asyncio
loop."""

from __future__ import annotations

import asyncio
from typing import Any, Generator, Iterable, Mapping, Optional, Tuple, Union

import ws101
from ws101 import _ws101 as _c

from . import _options
from ._connection import Connection
from ._driver import get_driver


class ClientConnection(Connection):
    """The client side of a WebSocket (see :func:`connect`).
    ``subprotocol`` and ``extensions`` hold what the server chose;
    ``response_status`` the handshake status of a refused connection."""


class connect:
    """Opens a WebSocket client connection:
    ``async with ws101.aio.connect(url) as ws:`` or
    ``ws = await ws101.aio.connect(url)``.

    Raises :class:`ws101.ConnectionRefused`, :class:`ws101.DNSError`,
    :class:`ws101.HandshakeError` (``.detail`` says why; the status is in
    the message), :class:`ws101.Timeout` (``open_timeout`` seconds,
    default 10, ``None`` for none) or :class:`ws101.InvalidURL`. Options as
    in :func:`ws101.aio.serve` (``subprotocols``, ``headers``/
    ``extra_headers``, ``deflate``/``compression``, ``ws_max_message``/
    ``max_size``, ``ws_ping_interval_ms``/``ping_interval``,
    ``connect_timeout_ms``, ...). Leaving the ``async with`` closes with
    1000."""

    def __init__(self, uri: str, **options: Any):
        mine, rest = _options.split(dict(options), "max_queue", "write_limit",
                                    "open_timeout")
        self.uri = uri
        self._mine = mine
        self._opts = _options.translate(rest)
        self.ws: Optional[ClientConnection] = None

    async def _connect(self) -> ClientConnection:
        d = get_driver()
        conn = ClientConnection(d, max_queue=self._mine.get("max_queue", 32),
                                write_limit=self._mine.get("write_limit",
                                                           64 * 1024))
        tmp = ws101.Options(**self._opts) if self._opts else None
        try:
            rc, h = _c.ws101_ws_connect(d.loop._h, self.uri,
                                        tmp._h if tmp else None, conn._event)
        finally:
            if tmp is not None:
                tmp.close()
        ws101._check(rc, self.uri)
        d.kick()
        timeout = self._mine.get("open_timeout", 10)
        try:
            await asyncio.wait_for(asyncio.shield(conn._opened), timeout)
        except asyncio.TimeoutError:
            if h is not None and not conn._closed.done():
                _c.ws101_ws_close(h, 1000, None)
                d.kick()
            raise ws101.Timeout(_c.WS101_ETIMEDOUT,
                                "opening %s: %gs elapsed" % (self.uri, timeout)
                                ) from None
        except asyncio.CancelledError:
            if conn._h is not None:
                conn._abort(1001, "canceled")
            raise
        return conn

    def __await__(self) -> Generator[Any, None, ClientConnection]:
        return self._connect().__await__()

    async def __aenter__(self) -> ClientConnection:
        self.ws = await self._connect()
        return self.ws

    async def __aexit__(self, *exc: Any) -> None:
        if self.ws is not None:
            await self.ws.close()


async def fetch(url: str, method: str = "GET",
                headers: Union[Mapping[str, str], Iterable[Tuple[str, str]],
                               None] = None,
                body: Union[str, bytes, None] = None, *,
                timeout: Optional[float] = None,
                **options: Any) -> ws101.Response:
    """HTTP client request on the asyncio loop; returns a
    :class:`ws101.Response` (``status``, ``headers``, ``body``, ``text``,
    ``json()``) or raises a :class:`ws101.Error` subclass
    (:class:`ws101.ConnectionRefused`, :class:`ws101.Timeout`, ...).
    Cancelling the awaiting task cancels the exchange. Options are the
    :class:`ws101.Options` keywords (``max_body``,
    ``response_timeout_ms``, ...)."""
    d = get_driver()
    fut: asyncio.Future = d.aloop.create_future()

    def done(resp: Optional[ws101.Response], err: Optional[ws101.Error]) -> None:
        if fut.done():
            return
        if err is not None:
            fut.set_exception(err)
        else:
            fut.set_result(resp)
    fx = ws101.fetch(url, method, body, headers, loop=d.loop, callback=done,
                     **options)
    d.kick()
    try:
        if timeout is None:
            return await fut
        return await asyncio.wait_for(fut, timeout)
    except asyncio.TimeoutError:
        fx.cancel()
        d.kick()
        raise ws101.Timeout(_c.WS101_ETIMEDOUT,
                            "%s %s: %gs elapsed" % (method, url, timeout)
                            ) from None
    except asyncio.CancelledError:
        fx.cancel()
        d.kick()
        raise

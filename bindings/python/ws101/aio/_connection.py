"""One WebSocket connection for asyncio, shaped like ``websockets``'
``WebSocketCommonProtocol``: ``recv``/``send``/``ping``/``close``, async
iteration, ``wait_closed``.

Events of the C connection go straight to :meth:`Connection._event` (the
connection's own callback, set with ``ws101_ws_set_handler`` or given to
accept/connect), which appends messages to a deque and wakes at most one
waiting ``recv``. Receive backpressure: once ``max_queue`` messages wait,
reading from the socket is paused until ``recv`` has taken three quarters
of them. Send backpressure: ``send`` waits for the C ``DRAIN`` event while
more than ``write_limit`` bytes are queued, and a send the library still
refuses (``ws_max_backpressure``, policy ``"refuse"``) raises
:class:`ws101.Backpressure` instead of being dropped.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any, AsyncIterator, Deque, List, Optional, Tuple, Union

import ws101
from ws101 import _ws101 as _c

from ._driver import Driver

Data = Union[str, bytes]

_TEXT = _c.WS101_WS_TEXT
_BINARY = _c.WS101_WS_BINARY
_OPEN = _c.WS101_WS_OPEN
_CLOSE = _c.WS101_WS_CLOSE
_DRAIN = _c.WS101_WS_DRAIN
_PONG = _c.WS101_WS_PONG
_ERROR = _c.WS101_WS_ERROR
_OP_TEXT = _c.WS101_OP_TEXT
_OP_BINARY = _c.WS101_OP_BINARY
_EBACKPRESSURE = _c.WS101_EBACKPRESSURE
_ECLOSED = _c.WS101_ECLOSED
_ws_send = _c.ws101_ws_send
_ws_buffered = _c.ws101_ws_buffered


class Connection:
    """A WebSocket connection (server or client side) on asyncio.

    Attributes: ``path``, ``request_headers`` (:class:`ws101.Headers`;
    server side), ``subprotocol`` (``None`` if none), ``extensions``,
    ``remote_address`` (``(host, port)``), ``open``, ``closed``,
    ``close_code``, ``close_reason``.
    """

    def __init__(self, driver: Driver, *, max_queue: Optional[int] = 32,
                 write_limit: int = 64 * 1024):
        self._driver = driver
        self._kick = driver.kick
        self._h: Any = None
        self._queue: Deque[Data] = collections.deque()
        self._waiter: Optional[asyncio.Future] = None
        self._drain: Optional[asyncio.Future] = None
        self._pongs: List[asyncio.Future] = []
        self._paused = False
        self.max_queue = max_queue or 0
        self.write_limit = write_limit
        aloop = driver.aloop
        self._new_future = aloop.create_future
        self._opened: asyncio.Future = aloop.create_future()
        self._closed: asyncio.Future = aloop.create_future()
        self.path = ""
        self.request_headers = ws101.Headers()
        self.subprotocol: Optional[str] = None
        self.extensions = ""
        self.remote_address: Optional[Tuple[str, int]] = None
        self.close_code: Optional[int] = None
        self.close_reason: Optional[str] = None
        self.error: Optional[ws101.Error] = None
        self.response_status: Optional[int] = None

    # -- state ----------------------------------------------------------------
    @property
    def open(self) -> bool:
        """True while messages can be sent."""
        return self._h is not None and self._opened.done() \
            and not self._closed.done()

    @property
    def closed(self) -> bool:
        """True once the connection has fully closed."""
        return self._closed.done()

    def _closed_exc(self) -> ws101.ConnectionClosed:
        return ws101._closed_error(self.close_code, self.close_reason)

    # -- events from C (on the asyncio thread, inside a libuv iteration) ----
    def _event(self, h: Any, event: int, data: Any, arg: int) -> None:
        if event == _TEXT or event == _BINARY:
            q = self._queue
            q.append(data)
            w = self._waiter
            if w is not None and not w.done():
                w.set_result(None)
            if self.max_queue and len(q) >= self.max_queue and \
                    not self._paused and self._h is not None:
                self._paused = True
                _c.ws101_ws_pause(self._h)
        elif event == _DRAIN:
            d = self._drain
            if d is not None and not d.done():
                d.set_result(None)
        elif event == _PONG:
            if self._pongs:
                f = self._pongs.pop(0)
                if not f.done():
                    f.set_result(None)
        elif event == _OPEN:
            self._h = h
            self._on_open(h)
            if not self._opened.done():
                self._opened.set_result(None)
        elif event == _ERROR:
            self.response_status = _c.ws101_ws_response_status(h) or None
            self.error = ws101.error_for(arg, data)
            # e.g. 403/404 of a refused handshake, on the raised error too
            self.error.response_status = self.response_status  # type: ignore[attr-defined]
        elif event == _CLOSE:
            self._h = None
            self.close_code = arg
            self.close_reason = data or ""
            exc = self._closed_exc()
            if not self._opened.done():
                self._opened.set_exception(self.error or exc)
                self._opened.exception()  # retrieved: no "never retrieved"
            for f in [self._waiter, self._drain] + self._pongs:
                if f is not None and not f.done():
                    f.set_result(None)
            self._pongs = []
            if not self._closed.done():
                self._closed.set_result(None)

    def _on_open(self, h: Any) -> None:
        self.subprotocol = _c.ws101_ws_subprotocol(h) or None
        self.extensions = _c.ws101_ws_extensions(h) or ""
        self.path = self.path or _c.ws101_ws_path(h) or ""
        addr = _c.ws101_ws_remote_addr(h) or ""
        host, _, port = addr.rpartition(":")
        self.remote_address = (host.strip("[]"), int(port)) if port.isdigit() \
            else None

    # -- receiving ------------------------------------------------------------
    async def recv(self) -> Data:
        """Returns the next message (``str`` for text, ``bytes`` for
        binary). Raises :class:`ws101.ConnectionClosedOK` or
        :class:`ws101.ConnectionClosedError` once the connection is closed
        and every received message was returned. Cancelling a task waiting
        here loses nothing: the next ``recv`` gets the message."""
        q = self._queue
        while not q:
            if self._closed.done():
                raise self._closed_exc()
            w = self._waiter = self._new_future()
            try:
                await w
            finally:
                self._waiter = None
        msg = q.popleft()
        if self._paused and len(q) <= self.max_queue // 4:
            self._paused = False
            if self._h is not None:
                _c.ws101_ws_resume(self._h)
                self._kick()
        return msg

    def __aiter__(self) -> AsyncIterator[Data]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[Data]:
        """Yields messages until a normal close; an error close raises
        :class:`ws101.ConnectionClosedError`."""
        try:
            while True:
                yield await self.recv()
        except ws101.ConnectionClosedOK:
            return

    # -- sending --------------------------------------------------------------
    async def _wait_drain(self) -> None:
        d = self._drain
        if d is None or d.done():
            d = self._drain = self._new_future()
        await d

    async def send(self, message: Union[str, bytes, bytearray, memoryview]
                   ) -> None:
        """Sends ``message``: ``str`` as text, bytes-like as binary.

        Waits while more than ``write_limit`` bytes are queued for the
        socket (backpressure: memory stays bounded by the writer's pace).
        Raises TypeError for other types, :class:`ws101.ConnectionClosed`
        (OK/Error) once closed, :class:`ws101.Backpressure` if the library
        still refuses the message after the queue drained, and
        :class:`ws101.InvalidUTF8`/:class:`ws101.TooBig` for bad messages.
        Cancelling a waiting send sends nothing."""
        if isinstance(message, str):
            op = _OP_TEXT
        elif isinstance(message, (bytes, bytearray, memoryview)):
            op = _OP_BINARY
        else:
            raise TypeError("send() takes str or bytes-like, not %s"
                            % type(message).__name__)
        h = self._h
        if h is None:
            if not self._opened.done():
                raise ws101.StateError(_c.WS101_ESTATE,
                                       "WebSocket is not open yet")
            raise self._closed_exc()
        if _ws_buffered(h) > self.write_limit:
            while self._h is not None and _ws_buffered(self._h) > self.write_limit:
                self._kick()
                await self._wait_drain()
            h = self._h
            if h is None:
                raise self._closed_exc()
        rc = _ws_send(h, message, op)
        if rc == _EBACKPRESSURE and _ws_buffered(h) > 0:
            # Over the library's hard limit: wait for the queue to empty,
            # then try once more; a second refusal is raised, not dropped.
            # (On an empty queue no DRAIN would come: raise at once.)
            self._kick()
            await self._wait_drain()
            h = self._h
            if h is None:
                raise self._closed_exc()
            rc = _ws_send(h, message, op)
        if rc < 0:
            if rc == _ECLOSED:
                await asyncio.shield(self._closed)
                raise self._closed_exc()
            raise ws101.error_for(rc, "send")
        self._kick()

    async def ping(self, data: Union[str, bytes, None] = None
                   ) -> "asyncio.Future[None]":
        """Sends a ping and returns a future that completes when the pong
        comes (``pong_waiter = await ws.ping(); await pong_waiter``)."""
        h = self._h
        if h is None:
            raise self._closed_exc()
        fut = self._driver.aloop.create_future()
        ws101._check(_c.ws101_ws_ping(h, data or b""), "ping")
        self._pongs.append(fut)
        self._kick()
        return fut

    async def pong(self, data: Union[str, bytes] = b"") -> None:
        """Pings are answered automatically; this exists for API parity
        and does nothing but check that the connection is open."""
        if self._h is None:
            raise self._closed_exc()

    # -- closing --------------------------------------------------------------
    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Starts the close handshake (queued messages go first) and waits
        until the connection has closed. Closing twice is harmless."""
        h = self._h
        if h is not None:
            rc = _c.ws101_ws_close(h, code, reason or None)
            if rc < 0 and rc != _ECLOSED:
                raise ws101.error_for(rc, "close(%r)" % code)
            self._kick()
        await asyncio.shield(self._closed)

    async def wait_closed(self) -> None:
        """Waits until the connection has closed."""
        await asyncio.shield(self._closed)

    def _abort(self, code: int = 1011, reason: str = "internal error") -> None:
        """Closes without waiting (after a handler failed)."""
        if self._h is not None:
            _c.ws101_ws_close(self._h, code, reason)
            self._kick()

    @property
    def buffered(self) -> int:
        """Bytes queued for the socket and not yet written."""
        return 0 if self._h is None else _ws_buffered(self._h)

    def __repr__(self) -> str:
        state = "closed" if self.closed else ("open" if self.open
                                              else "connecting")
        return "<ws101.aio.Connection %s %s>" % (self.path or "?", state)

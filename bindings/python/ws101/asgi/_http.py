"""One ASGI ``http`` request/response cycle over a libws101 request.

The request body is streamed (the route is ``WS101_ROUTE_STREAM_BODY``):
pieces are queued as they arrive and handed out by ``receive()`` as
``http.request`` messages. ``read_body`` is started at once, not on the
first ``receive()``, because libws101 closes a connection whose response
completed before its body was read, and most GET handlers never receive.
A lost connection turns into ``http.disconnect``; a ``send()`` after it
raises :class:`ClientDisconnected` (an OSError, as the ASGI spec asks).
A single-body response goes out with one ``ws101_req_respond`` (one
write); a streamed one with ``write``/``end`` (chunked unless the app set
Content-Length).

Streamed bodies follow the connection's backpressure: a ``send()`` with
``more_body`` that leaves more than :data:`HIGH_WATER` bytes queued for
the client (``ws101_req_buffered``) returns only once the queue drained
(``ws101_req_on_drain``), so a slow reader holds the application back
instead of making the server buffer the whole body. A write the library
refuses (``WS101_EBACKPRESSURE``, when ``output_buffer_limit`` is below
:data:`HIGH_WATER`) is retried after the drain the same way. The queued
byte count is visible to the application as the ``"ws101.buffered"``
scope extension (a callable).
"""

from __future__ import annotations

import asyncio
import collections
import logging
from typing import Any, Deque, Dict, List, Optional, Tuple

from ws101 import _ws101 as _c

log = logging.getLogger("ws101.asgi")

# Headers libws101 writes itself (and refuses from the application).
_MANAGED = frozenset((b"connection", b"transfer-encoding", b"date",
                      b"keep-alive", b"upgrade"))

_add_header = _c.ws101_req_add_header
_respond = _c.ws101_req_respond
_write = _c.ws101_req_write
_end = _c.ws101_req_end
_set_status = _c.ws101_req_set_status
_buffered = _c.ws101_req_buffered
_on_drain = _c.ws101_req_on_drain
_ECLOSED = _c.WS101_ECLOSED
_EBACKPRESSURE = _c.WS101_EBACKPRESSURE

# Queued response bytes above which a streamed send() waits for the drain.
HIGH_WATER = 64 * 1024


class ClientDisconnected(OSError):
    """``send()`` was called after the client went away."""


class HTTPCycle:
    """State of one request; ``receive``/``send`` are the ASGI callables."""

    __slots__ = ("h", "driver", "body", "more", "waiter", "disconnected",
                 "started", "finished", "status", "headers", "kick",
                 "drain_waiter", "drain_set")

    def __init__(self, h: Any, driver: Any):
        self.h = h
        self.driver = driver
        self.kick = driver.kick
        self.body: Deque[bytes] = collections.deque()
        # True: body pieces still to come; False: the last one arrived and
        # is not yet handed out; None: all of it was handed out.
        self.more: Optional[bool] = True
        self.waiter: Optional[asyncio.Future] = None
        self.disconnected = False
        self.started = False
        self.finished = False
        self.status = 200
        self.headers: List[Tuple[bytes, bytes]] = []
        self.drain_waiter: Optional[asyncio.Future] = None
        self.drain_set = False

    # -- events from C ---------------------------------------------------------
    def on_body(self, _h: Any, data: bytes, last: bool) -> None:
        if data:
            self.body.append(data)
        if last:
            self.more = False
        self._wake()

    def on_abort(self, _h: Any) -> None:
        self.disconnected = True
        self._wake()

    def on_drain(self, _h: Any) -> None:
        w = self.drain_waiter
        if w is not None and not w.done():
            w.set_result(None)

    def _wake(self) -> None:
        for w in (self.waiter, self.drain_waiter):
            if w is not None and not w.done():
                w.set_result(None)

    def buffered(self) -> int:
        """Response bytes queued for the client (the ``ws101.buffered``
        extension)."""
        h = self.h
        return 0 if h is None else _buffered(h)

    async def _wait_drain(self) -> None:
        h = self.h
        if not self.drain_set:
            self.drain_set = True
            _on_drain(h, self.on_drain)
        # The drain callback is owed once buffered() said non-zero.
        while not self.disconnected and _buffered(h) > 0:
            w = self.drain_waiter = self.driver.aloop.create_future()
            self.kick()
            try:
                await w
            finally:
                self.drain_waiter = None
        if self.disconnected:
            raise ClientDisconnected("client disconnected")

    # -- ASGI ----------------------------------------------------------------
    async def receive(self) -> Dict[str, Any]:
        while True:
            more = self.more
            if self.body or more is False:
                q = self.body
                body = q.popleft() if len(q) == 1 else b"".join(q)
                q.clear()
                if more is False:
                    self.more = None  # the final piece is delivered
                return {"type": "http.request", "body": body,
                        "more_body": bool(more)}
            if self.disconnected or self.finished:
                return {"type": "http.disconnect"}
            w = self.waiter = self.driver.aloop.create_future()
            try:
                await w
            finally:
                self.waiter = None

    async def send(self, message: Dict[str, Any]) -> None:
        t = message["type"]
        if t == "http.response.start":
            if self.started:
                raise RuntimeError("ASGI: http.response.start sent twice")
            self.started = True
            self.status = message["status"]
            self.headers = message.get("headers") or []
            return
        if t != "http.response.body":
            raise RuntimeError("ASGI: unexpected message %r in an http "
                               "cycle" % t)
        if not self.started:
            raise RuntimeError("ASGI: http.response.body before "
                               "http.response.start")
        if self.finished:
            raise RuntimeError("ASGI: http.response.body after the response "
                               "completed")
        if self.disconnected:
            raise ClientDisconnected("client disconnected")
        h = self.h
        body = message.get("body", b"")
        more = message.get("more_body", False)
        if self.headers is not None:
            status = self.status
            for name, value in self.headers:
                lname = name.lower()
                if lname in _MANAGED:
                    continue
                rc = _add_header(h, name.decode("latin-1"),
                                 value.decode("latin-1"))
                if rc < 0:
                    log.warning("dropped response header %r: %s", name,
                                _c.ws101_strerror(rc))
            self.headers = None  # type: ignore[assignment] # head is built
            if not more:
                self.finished = True
                self.h = None
                rc = _respond(h, status, None, body)
                self.kick()
                if rc < 0 and rc != _ECLOSED:
                    raise RuntimeError("ASGI: response refused: %s"
                                       % _c.ws101_strerror(rc))
                return
            _set_status(h, status)
        if body:
            rc = _write(h, body)
            if rc == _EBACKPRESSURE:
                await self._wait_drain()
                rc = _write(h, body)
            if rc == _ECLOSED:
                self.disconnected = True
                raise ClientDisconnected("client disconnected")
            if rc < 0:
                raise RuntimeError("ASGI: response body refused: %s"
                                   % _c.ws101_strerror(rc))
        if not more:
            self.finished = True
            self.h = None
            _end(h)
            self.kick()
            return
        self.kick()
        if _buffered(h) > HIGH_WATER:
            await self._wait_drain()

    # -- after the application returned or raised ---------------------------
    def finish(self, failed: bool) -> None:
        h = self.h
        if h is None:
            return
        self.h = None
        self.finished = True
        self._wake()
        if not self.started:
            _respond(h, 500, "text/plain; charset=utf-8",
                     b"Internal Server Error\n")
        elif self.headers is not None:
            # Start sent, no body: an empty response with that status.
            for name, value in self.headers:
                if name.lower() not in _MANAGED:
                    _add_header(h, name.decode("latin-1"),
                                value.decode("latin-1"))
            if failed:
                _respond(h, 500, "text/plain; charset=utf-8",
                         b"Internal Server Error\n")
            else:
                _respond(h, self.status, None, b"")
        else:
            # Mid-stream: end what was started (a failure cannot be told
            # to the client any more than by cutting the stream short).
            _end(h)
        self.kick()

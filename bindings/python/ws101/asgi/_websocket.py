"""One ASGI ``websocket`` cycle over a libws101 upgrade request.

The first ``receive()`` gives ``websocket.connect``. ``websocket.accept``
accepts the upgrade (with the chosen subprotocol and extra headers) and
from then on the socket side is a :class:`ws101.aio.Connection`, whose
messages become ``websocket.receive`` and whose end becomes
``websocket.disconnect`` (with the close code). ``websocket.close`` before
accept answers 403, as does an application that returns without
accepting; the denial-response extension (``websocket.http.response.*``)
answers with the application's own status, headers and body.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Tuple

import ws101
from ws101 import _ws101 as _c
from ws101.aio._connection import Connection

from ._http import _MANAGED, ClientDisconnected

log = logging.getLogger("ws101.asgi")


class WebSocketCycle:
    """State of one WebSocket; ``receive``/``send`` are the ASGI
    callables."""

    def __init__(self, h: Any, driver: Any):
        self.h = h  # the upgrade request until accepted or refused
        self.driver = driver
        self.conn: Optional[Connection] = None
        self.connect_sent = False
        self.refused = False
        self.closed_sent = False
        self.disconnect_code: Optional[int] = None
        self.deny_status: Optional[int] = None
        self.deny_headers: List[Tuple[bytes, bytes]] = []
        self.deny_body: List[bytes] = []

    # -- ASGI ----------------------------------------------------------------
    async def receive(self) -> Dict[str, Any]:
        conn = self.conn
        if conn is not None:  # the hot path: a message of an open socket
            try:
                data = await conn.recv()
            except ws101.ConnectionClosed:
                self.disconnect_code = conn.close_code or 1005
                return {"type": "websocket.disconnect",
                        "code": self.disconnect_code}
            if data.__class__ is str:
                return {"type": "websocket.receive", "text": data}
            return {"type": "websocket.receive", "bytes": data}
        if not self.connect_sent:
            self.connect_sent = True
            return {"type": "websocket.connect"}
        if self.refused or self.h is None:
            return {"type": "websocket.disconnect", "code": 1006}
        # Waiting for the application to accept: nothing to receive.
        raise RuntimeError("ASGI: receive() before websocket.accept")

    async def send(self, message: Dict[str, Any]) -> None:
        t = message["type"]
        conn = self.conn
        if t == "websocket.send":
            if conn is None:
                raise RuntimeError("ASGI: websocket.send before accept")
            text = message.get("text")
            data = text if text is not None else message.get("bytes")
            if data is None:
                raise TypeError("ASGI: websocket.send needs text or bytes")
            try:
                await conn.send(data)
            except ws101.ConnectionClosed:
                raise ClientDisconnected("WebSocket closed") from None
        elif t == "websocket.accept":
            self._accept(message)
        elif t == "websocket.close":
            if conn is not None:
                if not self.closed_sent:
                    self.closed_sent = True
                    await conn.close(message.get("code", 1000),
                                     message.get("reason") or "")
            elif self.h is not None:
                self._refuse(403, [], b"")
        elif t == "websocket.http.response.start":
            if conn is not None or self.h is None:
                raise RuntimeError("ASGI: denial response after accept")
            self.deny_status = message["status"]
            self.deny_headers = message.get("headers") or []
        elif t == "websocket.http.response.body":
            if self.deny_status is None:
                raise RuntimeError("ASGI: websocket.http.response.body "
                                   "before websocket.http.response.start")
            self.deny_body.append(message.get("body", b""))
            if not message.get("more_body", False):
                self._refuse(self.deny_status, self.deny_headers,
                             b"".join(self.deny_body))
        else:
            raise RuntimeError("ASGI: unexpected message %r in a websocket "
                               "cycle" % t)

    def _accept(self, message: Dict[str, Any]) -> None:
        h = self.h
        if h is None or self.conn is not None:
            raise RuntimeError("ASGI: websocket.accept twice or after close")
        for name, value in message.get("headers") or []:
            if name.lower() not in _MANAGED and \
                    not name.lower().startswith(b"sec-websocket-"):
                _c.ws101_req_add_header(h, name.decode("latin-1"),
                                        value.decode("latin-1"))
        conn = Connection(self.driver)
        conn.path = _c.ws101_req_path(h)
        rc, wsh = _c.ws101_req_accept_websocket(h, message.get("subprotocol"),
                                                conn._event)
        self.h = None
        self.driver.kick()
        if rc < 0:
            self.refused = True
            if rc != _c.WS101_EBADUPGRADE:
                self._respond_raw(h, 500, [], b"cannot accept\n")
            raise ws101.error_for(rc, "websocket.accept")
        if conn._h is None:
            conn._h = wsh
        self.conn = conn

    def _refuse(self, status: int, headers: List[Tuple[bytes, bytes]],
                body: bytes) -> None:
        h, self.h = self.h, None
        self.refused = True
        if h is not None:
            self._respond_raw(h, status, headers, body)

    def _respond_raw(self, h: Any, status: int,
                     headers: List[Tuple[bytes, bytes]], body: bytes) -> None:
        for name, value in headers:
            if name.lower() not in _MANAGED:
                _c.ws101_req_add_header(h, name.decode("latin-1"),
                                        value.decode("latin-1"))
        _c.ws101_req_respond(h, status, None, body)
        self.driver.kick()

    # -- after the application returned or raised ---------------------------
    def finish(self, failed: bool) -> None:
        if self.h is not None:
            # Never accepted: 403 as the spec says (500 if it raised).
            self._refuse(500 if failed else 403, [], b"")
        elif self.conn is not None and not self.conn.closed:
            self.conn._abort(1011 if failed else 1000,
                             "internal error" if failed else "")

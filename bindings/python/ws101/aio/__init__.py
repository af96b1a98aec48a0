"""ws101.aio: libws101 for asyncio, on the same event loop.

Shaped like ``websockets`` (``serve``, ``connect``, ``recv``/``send``,
``async for``), so moving over is an import change::

    import asyncio
    import ws101.aio

    async def echo(ws):
        async for message in ws:
            await ws.send(message)

    async def main():
        async with ws101.aio.serve(echo, "127.0.0.1", 8765) as server:
            await server.serve_forever()

    asyncio.run(main())

libws101's libuv loop runs inside the asyncio loop (see
:mod:`ws101.aio._driver`): ws101 connections, asyncio tasks, other asyncio
libraries and ``asyncio.to_thread`` share one thread. Works with the
default asyncio loop and with uvloop.

Errors: a closed connection raises :class:`ws101.ConnectionClosedOK` or
:class:`ws101.ConnectionClosedError` (``code``, ``reason``); everything
else raises the :class:`ws101.Error` subclasses. :func:`get_loop` gives the
:class:`ws101.Loop` under the running asyncio loop, for the callback API
and timers (``get_loop().call_every(1.0, tick)``).
"""

from __future__ import annotations

from typing import List

import ws101

from ws101 import (Backpressure, ConnectionClosed, ConnectionClosedError,
                   ConnectionClosedOK, Error, Response)

from ._client import ClientConnection, connect, fetch
from ._connection import Connection, Data
from ._driver import Driver, get_driver
from ._server import Server, ServerConnection, serve

__all__ = [
    "serve", "connect", "fetch", "get_loop", "Server", "Connection",
    "ServerConnection", "ClientConnection", "Data", "Response",
    "ConnectionClosed", "ConnectionClosedOK", "ConnectionClosedError",
    "Backpressure", "Error", "Driver", "get_driver",
]


def get_loop() -> "ws101.Loop":
    """The :class:`ws101.Loop` driven by the running asyncio loop (created
    on first use). Use it for :class:`ws101.Server`, timers and the
    callback API inside an asyncio program; it must not be ``run()``."""
    return get_driver().loop


def __dir__() -> List[str]:
    return sorted(__all__)

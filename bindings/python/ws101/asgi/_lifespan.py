"""The ASGI ``lifespan`` protocol: startup before listening, shutdown
after the server closed.

With ``lifespan="auto"`` (default) an application that raises before
answering the startup event is taken not to support lifespan (logged,
serving goes on), as uvicorn does; ``"on"`` makes that fatal and ``"off"``
skips the protocol."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Dict, Optional

log = logging.getLogger("ws101.asgi")


class LifespanError(RuntimeError):
    """The application reported ``lifespan.startup.failed`` (or
    ``shutdown.failed``)."""


class Lifespan:
    def __init__(self, app: Any, mode: str = "auto"):
        self.app = app
        self.mode = mode
        self.state: Dict[str, Any] = {}
        self._inbox: "asyncio.Queue[Dict[str, Any]]" = asyncio.Queue()
        self._replies: "asyncio.Queue[Dict[str, Any]]" = asyncio.Queue()
        self._task: Optional[asyncio.Task] = None
        self.supported = mode != "off"

    async def _run(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0",
                                              "spec_version": "2.0"},
                 "state": self.state}
        try:
            await self.app(scope, self._inbox.get, self._replies.put)
        except BaseException as e:  # noqa: B902 - reported, not lost
            if isinstance(e, asyncio.CancelledError):
                raise
            await self._replies.put({"type": "_raised", "exc": e})

    async def startup(self) -> None:
        if not self.supported:
            return
        self._task = asyncio.get_running_loop().create_task(self._run())
        await self._inbox.put({"type": "lifespan.startup"})
        reply = await self._replies.get()
        t = reply["type"]
        if t == "lifespan.startup.complete":
            return
        if t == "_raised" and self.mode == "auto":
            log.info("ASGI 'lifespan' protocol appears unsupported (%s)",
                     reply["exc"].__class__.__name__)
            self.supported = False
            return
        if t == "_raised":
            raise LifespanError("lifespan startup raised") from reply["exc"]
        raise LifespanError(reply.get("message") or
                            "lifespan.startup.failed")

    async def shutdown(self) -> None:
        if not self.supported or self._task is None:
            return
        await self._inbox.put({"type": "lifespan.shutdown"})
        try:
            reply = await asyncio.wait_for(self._replies.get(), 30)
        except asyncio.TimeoutError:
            log.warning("lifespan shutdown: no answer within 30 s")
            self._task.cancel()
            return
        if reply["type"] != "lifespan.shutdown.complete":
            log.error("lifespan shutdown failed: %s",
                      reply.get("message") or reply.get("exc"))
        try:
            await asyncio.wait_for(self._task, 5)
        except (asyncio.TimeoutError, Exception):
            pass

"""One event loop: libws101's libuv loop runs inside the asyncio loop.

libuv keeps its poll set in one file descriptor (epoll on Linux) that turns
readable whenever one of its sockets, its cross-thread wake-up or its
thread-pool completions has an event. The driver watches that descriptor
with ``add_reader`` and, when it is readable, runs one non-blocking libuv
iteration (``uv_run(UV_RUN_NOWAIT)``). libuv timers and deferred work do
not make the descriptor readable, so after each iteration an asyncio timer
is armed at ``uv_backend_timeout()``. Work that the Python side starts
(sends, which libws101 corks until the end of an iteration, listens,
connects, closes) is registered with libuv only by its next iteration, so
every such call ends with :meth:`Driver.kick`, which runs one soon (once
per asyncio iteration however many calls asked).

It works with any asyncio loop that implements ``add_reader`` on file
descriptors: the default selector loop and uvloop.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any, Optional

import ws101
from ws101 import _ws101 as _c

_drivers: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Driver]" = \
    weakref.WeakKeyDictionary()


class Driver:
    """Runs a :class:`ws101.Loop` on an asyncio loop (one per asyncio
    loop; see :func:`get_driver`)."""

    def __init__(self, aloop: asyncio.AbstractEventLoop):
        self.aloop = aloop
        self.loop = ws101.Loop(error_handler=self._on_error)
        self.loop._driver = self
        self._h = self.loop._h
        self._step_h = _c.ws101py_step
        self._fd = _c.ws101py_backend_fd(self._h)
        self._kicked = False
        self._timer: Optional[asyncio.TimerHandle] = None
        self._timer_at = 0.0
        self._closed = False
        aloop.add_reader(self._fd, self.step)
        self.step()

    def _on_error(self, exc: BaseException) -> None:
        # A callback of the ws101 loop raised: asyncio's exception handler
        # logs it (with its traceback), as for any callback of the loop.
        self.aloop.call_exception_handler({
            "message": "exception in a ws101 callback",
            "exception": exc,
        })

    def kick(self) -> None:
        """Asks for one libuv iteration soon (deduplicated)."""
        if not self._kicked and not self._closed:
            self._kicked = True
            self.aloop.call_soon(self._on_kick)

    def _on_kick(self) -> None:
        self._kicked = False
        self.step()

    def _on_timer(self) -> None:
        self._timer = None
        self.step()

    def step(self) -> None:
        """One non-blocking libuv iteration, then re-arm the timer."""
        if self._closed:
            return
        ms = self._step_h(self._h)
        if ms < 0:
            return
        if ms == 0:
            self.kick()
            return
        at = self.aloop.time() + ms / 1000.0
        # Keep an armed timer that fires no later than needed: an early
        # wake-up only costs one empty iteration.
        if self._timer is not None:
            if self._timer_at <= at + 0.001:
                return
            self._timer.cancel()
        self._timer_at = at
        self._timer = self.aloop.call_at(at, self._on_timer)

    def close(self) -> None:
        """Frees the ws101 loop (its connections get their final events)."""
        if self._closed:
            return
        self._closed = True
        try:
            self.aloop.remove_reader(self._fd)
        except Exception:  # the asyncio loop may already be closed
            pass
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.loop._driver = None
        self.loop.close()
        _drivers.pop(self.aloop, None)


def get_driver(aloop: Optional[asyncio.AbstractEventLoop] = None) -> Driver:
    """The :class:`Driver` of the running (or given) asyncio loop, created
    on first use and freed when that loop closes."""
    if aloop is None:
        aloop = asyncio.get_running_loop()
    d = _drivers.get(aloop)
    if d is None or d._closed:
        d = Driver(aloop)
        _drivers[aloop] = d
        _hook_close(aloop, d)
    return d


def _hook_close(aloop: asyncio.AbstractEventLoop, d: Driver) -> None:
    # Free the ws101 loop when the asyncio loop closes (asyncio.run closes
    # it), before its selector goes away.
    orig = aloop.close

    def close(*args: Any, **kw: Any) -> Any:
        try:
            d.close()
        finally:
            try:
                del aloop.close  # back to the class's method
            except AttributeError:
                pass
        return orig(*args, **kw)
    try:
        aloop.close = close  # type: ignore[method-assign]
    except (AttributeError, TypeError):
        pass  # then the ws101 loop is freed when the driver is collected

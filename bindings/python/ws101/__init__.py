"""ws101: HTTP/1.1 and WebSocket server and client on libuv (libws101).

A thin, idiomatic layer over the SWIG module ``ws101._ws101`` (the C API of
``include/ws101.h`` one to one). Everything runs on one thread, the one that
calls :meth:`Loop.run`; only :meth:`Loop.call_soon_threadsafe` may be called
from other threads.

Example::

    import ws101

    with ws101.Loop() as loop:
        server = ws101.Server(loop)

        @server.route("/")
        def index(req):
            req.respond(200, "hello\\n")

        @server.websocket("/ws")
        class Echo:
            def on_message(self, ws, data):
                ws.send(data)

        port = server.listen("127.0.0.1", 8080)
        loop.run()

Errors from the C library raise :class:`Error` subclasses (``.code`` is the
negative ``WS101_E*`` number, ``.name`` its symbolic name). An exception
raised by a callback closes the affected connection (WebSocket: close 1011;
HTTP request: 500) and then, depending on ``Loop(raise_errors=...)``, is
logged with its traceback on the ``ws101`` logger while the loop keeps
serving (the default, as ``websockets`` does) or stops the loop and is
re-raised from :meth:`Loop.run` (``raise_errors=True``, for tests).

The asyncio API is :mod:`ws101.aio`; the ASGI server is :mod:`ws101.asgi`.
"""

from __future__ import annotations

import collections.abc as _abc
import concurrent.futures as _cf
import logging as _logging
import threading as _threading
import time as _time
import weakref as _weakref
from typing import (Any, Callable, Dict, Iterable, List, Mapping, Optional,
                    Tuple, Union)

from . import _ws101 as _c

__all__ = [
    "Loop", "Server", "Request", "WebSocket", "Headers", "Response", "Fetch",
    "Timer", "Workers", "Redis", "connect", "fetch", "Options",
    "OPTION_NAMES", "version",
    "error_for", "TEXT", "BINARY",
    "Error", "InvalidArgument", "OutOfMemory", "Closed", "StateError",
    "AddressInUse", "AddressNotAvailable", "ConnectionRefused",
    "ConnectionReset", "Timeout", "DNSError", "IOError_", "ProtocolError",
    "BadUpgrade", "HandshakeError", "Backpressure", "TooBig", "InvalidURL",
    "InvalidUTF8", "Canceled", "ConnectionClosed", "NotSupported", "TLSError",
    "ConnectionClosedOK", "ConnectionClosedError",
]


def __dir__() -> List[str]:
    """Only the public API (and the submodules), not the imports."""
    return sorted(__all__ + ["aio", "asgi", "__version__"])

__version__ = _c.ws101_version_string()

log = _logging.getLogger("ws101")

TEXT = _c.WS101_OP_TEXT
BINARY = _c.WS101_OP_BINARY

_addr = _c.ws101py_addr


def version() -> str:
    """The version string of the bundled C library
    (``ws101_version_string()``, e.g. "1.0.0")."""
    return _c.ws101_version_string()


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------

class Error(Exception):
    """An error code from libws101.

    ``code`` is the negative ``WS101_E*`` value, ``name`` its symbolic name
    (``"WS101_ECONNREFUSED"``) and ``str(err)`` the C library's message,
    followed by any detail.
    """

    code: int = 0
    name: str = "WS101_UNKNOWN"

    def __init__(self, code: int = 0, detail: Optional[str] = None):
        code = code or type(self).code
        self.code = code
        self.name = _c.ws101_err_name(code)
        self.detail = detail
        msg = _c.ws101_strerror(code)
        if detail:
            msg = "%s: %s" % (msg, detail)
        super().__init__(msg)


class InvalidArgument(Error, ValueError):
    """WS101_EINVAL: an argument was rejected (also a ValueError)."""


class OutOfMemory(Error, MemoryError):
    """WS101_ENOMEM."""


class Closed(Error):
    """WS101_ECLOSED: the handle is closed or closing."""


class StateError(Error):
    """WS101_ESTATE: not valid in the current state."""


class AddressInUse(Error, OSError):
    """WS101_EADDRINUSE."""


class AddressNotAvailable(Error, OSError):
    """WS101_EADDRNOTAVAIL."""


class ConnectionRefused(Error, ConnectionError):
    """WS101_ECONNREFUSED."""


class ConnectionReset(Error, ConnectionError):
    """WS101_ECONNRESET."""


class Timeout(Error, TimeoutError):
    """WS101_ETIMEDOUT (also raised by the blocking helpers on timeout)."""


class DNSError(Error, OSError):
    """WS101_EDNS: the host name could not be resolved."""


class IOError_(Error, OSError):
    """WS101_EIO."""


class ProtocolError(Error):
    """WS101_EPROTO: the peer broke the protocol."""


class BadUpgrade(Error):
    """WS101_EBADUPGRADE: not a valid WebSocket upgrade request."""


class HandshakeError(Error):
    """WS101_EHANDSHAKE: the WebSocket opening handshake failed."""


class Backpressure(Error):
    """WS101_EBACKPRESSURE: the send buffer limit was reached."""


class TooBig(Error):
    """WS101_ETOOBIG: message or body too large."""


class InvalidURL(Error, ValueError):
    """WS101_EURL: invalid or unsupported URL."""


class InvalidUTF8(Error, ValueError):
    """WS101_EUTF8: text is not valid UTF-8."""


class Canceled(Error):
    """WS101_ECANCELED."""


class ConnectionClosed(Error, ConnectionError):
    """WS101_EEOF: the peer closed the connection."""


class NotSupported(Error):
    """WS101_ENOTSUP."""


class ConnectionClosedOK(ConnectionClosed):
    """A WebSocket ended with a normal close (1000 or 1001, or 1005 "no
    code"): raised by :mod:`ws101.aio` operations on a closed connection.
    As in ``websockets``, ``code`` and ``reason`` are the close code and
    reason (``error_code`` keeps the ``WS101_EEOF`` number)."""

    def __init__(self, code: int = 1005, reason: str = ""):
        super().__init__(ConnectionClosed.code,
                         "WebSocket closed: %d %s" % (code, reason or ""))
        self.error_code = self.code
        self.code = code
        self.reason = reason


class ConnectionClosedError(ConnectionClosed):
    """A WebSocket ended with an error close code (1002, 1006, 1011, ...).
    ``code`` and ``reason`` as in :class:`ConnectionClosedOK`."""

    def __init__(self, code: int = 1006, reason: str = ""):
        super().__init__(ConnectionClosed.code,
                         "WebSocket closed: %d %s" % (code, reason or ""))
        self.error_code = self.code
        self.code = code
        self.reason = reason


def _closed_error(code: Optional[int], reason: Optional[str]) -> ConnectionClosed:
    code = 1006 if code is None else code
    if code in (1000, 1001, 1005):
        return ConnectionClosedOK(code, reason or "")
    return ConnectionClosedError(code, reason or "")


class TLSError(Error):
    """WS101_ETLS."""


_ERRORS: Dict[int, type] = {}
for _cls, _cname in [
        (InvalidArgument, "EINVAL"), (OutOfMemory, "ENOMEM"),
        (Closed, "ECLOSED"), (StateError, "ESTATE"),
        (AddressInUse, "EADDRINUSE"), (AddressNotAvailable, "EADDRNOTAVAIL"),
        (ConnectionRefused, "ECONNREFUSED"), (ConnectionReset, "ECONNRESET"),
        (Timeout, "ETIMEDOUT"), (DNSError, "EDNS"), (IOError_, "EIO"),
        (ProtocolError, "EPROTO"), (BadUpgrade, "EBADUPGRADE"),
        (HandshakeError, "EHANDSHAKE"), (Backpressure, "EBACKPRESSURE"),
        (TooBig, "ETOOBIG"), (InvalidURL, "EURL"), (InvalidUTF8, "EUTF8"),
        (Canceled, "ECANCELED"), (ConnectionClosed, "EEOF"),
        (NotSupported, "ENOTSUP"), (TLSError, "ETLS")]:
    _cls.code = getattr(_c, "WS101_" + _cname)
    _cls.name = "WS101_" + _cname
    _ERRORS[_cls.code] = _cls
del _cls, _cname


def error_for(code: int, detail: Optional[str] = None) -> Error:
    """Returns the :class:`Error` subclass instance for a WS101_E* code."""
    return _ERRORS.get(code, Error)(code, detail)


def _kick(loop: Optional["Loop"]) -> None:
    """After a call that starts work on a loop driven by asyncio
    (ws101.aio): have libuv pick it up in its next iteration."""
    if loop is not None and loop._driver is not None:
        loop._driver.kick()


def _check(rc: int, what: str = "") -> int:
    if rc < 0:
        if rc == _c.WS101_ETLS and _c.ws101_tls_last_error():
            # OpenSSL's reason ("private key cert.pem: no such file ...").
            what = "%s: %s" % (what, _c.ws101_tls_last_error()) if what \
                else _c.ws101_tls_last_error()
        raise error_for(rc, what or None)
    return rc


# --------------------------------------------------------------------------
# Options
# --------------------------------------------------------------------------

_BACKPRESSURE = {"refuse": _c.WS101_BACKPRESSURE_REFUSE,
                 "close": _c.WS101_BACKPRESSURE_CLOSE}
_DEFLATE_MEMORY = {"dedicated": _c.WS101_DEFLATE_DEDICATED,
                   "shared": _c.WS101_DEFLATE_SHARED}
_TLS_CLIENT_CERT = {"none": _c.WS101_TLS_CLIENT_CERT_NONE,
                    "optional": _c.WS101_TLS_CLIENT_CERT_OPTIONAL,
                    "require": _c.WS101_TLS_CLIENT_CERT_REQUIRE}

#: keyword -> (WS101_OPT_*, converter for symbolic values or None)
OPTION_NAMES: Dict[str, Tuple[int, Optional[Mapping[str, int]]]] = {
    "max_request_line": (_c.WS101_OPT_MAX_REQUEST_LINE, None),
    "max_header_bytes": (_c.WS101_OPT_MAX_HEADER_BYTES, None),
    "max_headers": (_c.WS101_OPT_MAX_HEADERS, None),
    "max_body": (_c.WS101_OPT_MAX_BODY, None),
    "header_timeout_ms": (_c.WS101_OPT_HEADER_TIMEOUT_MS, None),
    "idle_timeout_ms": (_c.WS101_OPT_IDLE_TIMEOUT_MS, None),
    "max_keepalive_requests": (_c.WS101_OPT_MAX_KEEPALIVE_REQUESTS, None),
    "ws_max_message": (_c.WS101_OPT_WS_MAX_MESSAGE, None),
    "ws_max_backpressure": (_c.WS101_OPT_WS_MAX_BACKPRESSURE, None),
    "ws_backpressure_policy": (_c.WS101_OPT_WS_BACKPRESSURE_POLICY,
                               _BACKPRESSURE),
    "ws_close_timeout_ms": (_c.WS101_OPT_WS_CLOSE_TIMEOUT_MS, None),
    "ws_ping_interval_ms": (_c.WS101_OPT_WS_PING_INTERVAL_MS, None),
    "ws_pong_timeout_ms": (_c.WS101_OPT_WS_PONG_TIMEOUT_MS, None),
    "ws_stream_fragments": (_c.WS101_OPT_WS_STREAM_FRAGMENTS, None),
    "ws_handshake_timeout_ms": (_c.WS101_OPT_WS_HANDSHAKE_TIMEOUT_MS, None),
    "deflate": (_c.WS101_OPT_DEFLATE, None),
    "deflate_level": (_c.WS101_OPT_DEFLATE_LEVEL, None),
    "deflate_window_bits": (_c.WS101_OPT_DEFLATE_WINDOW_BITS, None),
    "deflate_min_size": (_c.WS101_OPT_DEFLATE_MIN_SIZE, None),
    "deflate_memory": (_c.WS101_OPT_DEFLATE_MEMORY, _DEFLATE_MEMORY),
    "deflate_mem_level": (_c.WS101_OPT_DEFLATE_MEM_LEVEL, None),
    "connect_timeout_ms": (_c.WS101_OPT_CONNECT_TIMEOUT_MS, None),
    "response_timeout_ms": (_c.WS101_OPT_RESPONSE_TIMEOUT_MS, None),
    "tls_insecure_skip_verify": (_c.WS101_OPT_TLS_INSECURE_SKIP_VERIFY, None),
    "tls_client_cert": (_c.WS101_OPT_TLS_CLIENT_CERT, _TLS_CLIENT_CERT),
    "tls_ticket_rotate_s": (_c.WS101_OPT_TLS_TICKET_ROTATE_S, None),
    "fetch_buffer_body": (_c.WS101_OPT_FETCH_BUFFER_BODY, None),
    "http2": (_c.WS101_OPT_HTTP2, None),
    "h2c": (_c.WS101_OPT_H2C, None),
    "h2_max_streams": (_c.WS101_OPT_H2_MAX_STREAMS, None),
    "h2_stream_window": (_c.WS101_OPT_H2_STREAM_WINDOW, None),
    "h2_conn_window": (_c.WS101_OPT_H2_CONN_WINDOW, None),
    "client_http2": (_c.WS101_OPT_CLIENT_HTTP2, None),
    "output_buffer_limit": (_c.WS101_OPT_OUTPUT_BUFFER_LIMIT, None),
    "send_timeout_ms": (_c.WS101_OPT_SEND_TIMEOUT_MS, None),
    "http_backpressure_policy": (_c.WS101_OPT_HTTP_BACKPRESSURE_POLICY,
                                 _BACKPRESSURE),
    "max_connections": (_c.WS101_OPT_MAX_CONNECTIONS, None),
}


class Options:
    """An owned ``ws101_options`` object built from keyword arguments.

    Integer options use the names of ``WS101_OPT_*`` in lower case without
    the prefix (``max_body=1 << 20``, ``deflate=False``,
    ``ws_backpressure_policy="close"``, ``deflate_memory="shared"``). The
    list options are ``origins=[...]``, ``subprotocols=[...]`` and
    ``headers={...}`` (or a list of pairs). TLS: ``tls_cert=(cert, key)``
    (the default certificate), ``tls_sni_certs={"host": (cert, key)}``
    (each value a PEM file path, or PEM text starting with "-----BEGIN"),
    ``tls_ca_file=`` / ``tls_ca_dir=`` (trust), and the integer options
    ``tls_insecure_skip_verify``, ``tls_client_cert`` ("none", "optional",
    "require") and ``tls_ticket_rotate_s``. An unknown name raises
    TypeError; a value the library rejects raises :class:`InvalidArgument`
    (a ValueError).
    """

    def __init__(self, **kwargs: Any):
        rc, self._h = _c.ws101_options_new()
        _check(rc, "ws101_options_new")
        try:
            self.update(**kwargs)
        except BaseException:
            self.close()
            raise

    def update(self, *, origins: Iterable[str] = (),
               subprotocols: Iterable[str] = (),
               headers: Union[Mapping[str, str],
                              Iterable[Tuple[str, str]], None] = None,
               tls_cert: Optional[Tuple[str, str]] = None,
               tls_sni_certs: Optional[Mapping[str, Tuple[str, str]]] = None,
               tls_ca_file: Optional[str] = None,
               tls_ca_dir: Optional[str] = None,
               **kwargs: Any) -> "Options":
        """Sets more options on this object (the same keywords as the constructor)."""
        for name, value in kwargs.items():
            self.set(name, value)
        if isinstance(origins, str):
            origins = [origins]
        for o in origins:
            _check(_c.ws101_options_add_origin(self._h, o), "origin %r" % o)
        if isinstance(subprotocols, str):
            subprotocols = [subprotocols]
        for p in subprotocols:
            _check(_c.ws101_options_add_subprotocol(self._h, p),
                   "subprotocol %r" % p)
        if headers:
            items = headers.items() if isinstance(headers, Mapping) else headers
            for k, v in items:
                _check(_c.ws101_options_add_header(self._h, k, v),
                       "header %r" % k)
        certs = [(None, tls_cert)] if tls_cert is not None else []
        certs += list((tls_sni_certs or {}).items())
        for host, (cert, key) in certs:
            pem = cert.lstrip().startswith("-----BEGIN")
            _check(_c.ws101_options_add_tls_cert(
                self._h, host, cert, key,
                _c.WS101_TLS_PEM_DATA if pem else _c.WS101_TLS_PEM_FILES),
                "TLS certificate for %s" % (host or "the default"))
        if tls_ca_file is not None or tls_ca_dir is not None:
            _check(_c.ws101_options_set_tls_ca(self._h, tls_ca_file,
                                               tls_ca_dir), "TLS CA")
        return self

    def set(self, name: str, value: Any) -> None:
        """Sets one integer option by keyword name."""
        try:
            opt, symbols = OPTION_NAMES[name]
        except KeyError:
            raise TypeError("unknown ws101 option %r" % name) from None
        if symbols is not None and isinstance(value, str):
            try:
                value = symbols[value]
            except KeyError:
                raise ValueError("%s must be one of %s, not %r"
                                 % (name, sorted(symbols), value)) from None
        if isinstance(value, bool):
            value = int(value)
        if not isinstance(value, int):
            raise TypeError("%s must be an int, not %s"
                            % (name, type(value).__name__))
        if not -(1 << 63) <= value < (1 << 63):
            raise InvalidArgument(_c.WS101_EINVAL, "%s=%r" % (name, value))
        _check(_c.ws101_options_set(self._h, opt, value),
               "%s=%r" % (name, value))

    def get(self, name: str) -> int:
        """Reads one integer option by keyword name."""
        try:
            opt, _ = OPTION_NAMES[name]
        except KeyError:
            raise TypeError("unknown ws101 option %r" % name) from None
        rc, value = _c.ws101_options_get(self._h, opt)
        _check(rc)
        return value

    def close(self) -> None:
        """Frees the C options object (servers and clients made from it
        keep their own copy). Idempotent."""
        if self._h is not None:
            _c.ws101_options_free(self._h)
            self._h = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


def _options_handle(options: Optional[Options], kwargs: Dict[str, Any]):
    """Returns (handle, temporary Options to close) for C calls."""
    if options is not None and kwargs:
        raise TypeError("pass either options= or keyword options, not both")
    if options is not None:
        return options._h, None
    if not kwargs:
        return None, None
    tmp = Options(**kwargs)
    return tmp._h, tmp


# --------------------------------------------------------------------------
# Loop
# --------------------------------------------------------------------------

_default_loop: Optional["Loop"] = None


class Loop:
    """An event loop (``ws101_loop``) owning a fresh libuv loop.

    ``raise_errors=False`` (default): every exception raised by a callback
    is logged with its traceback on the ``ws101`` logger (or passed to
    ``error_handler(exc)`` if given) and the loop keeps serving. With
    ``raise_errors=True`` (for tests) the first such exception stops the
    loop and is re-raised from :meth:`run`. Either way the connection whose
    callback raised is closed (1011) or answered 500. KeyboardInterrupt
    (Ctrl-C) and SystemExit always stop the loop and propagate.

    The loop belongs to the thread that created it (or runs it); from
    other threads only :meth:`call_soon_threadsafe`, :meth:`stop` and
    :meth:`WebSocket.send` (which posts) may be called.

    Use it as a context manager to free it on exit.
    """

    def __init__(self, raise_errors: bool = False,
                 error_handler: Optional[Callable[[BaseException], Any]] = None):
        rc, self._h = _c.ws101_loop_new()
        _check(rc, "ws101_loop_new")
        self._lock = _threading.Lock()
        self._closed = False
        self._thread: Optional[int] = None
        self._owner = _threading.get_ident()
        # Client connection errors no on_error handled (see run_until).
        self._unhandled: List[BaseException] = []
        # Set by ws101.aio when an asyncio loop drives this one.
        self._driver: Any = None
        self._servers: "_weakref.WeakSet[Server]" = _weakref.WeakSet()
        self.raise_errors = raise_errors
        self._error_handler = error_handler
        if error_handler is not None or not raise_errors:
            _c.ws101py_set_error_handler(self._h, self._on_error)

    # -- error policy ---------------------------------------------------
    def _on_error(self, exc: BaseException) -> None:
        if self._error_handler is not None:
            self._error_handler(exc)
        else:
            log.error("exception in ws101 callback", exc_info=exc)

    # -- running ----------------------------------------------------------
    def _handle(self):
        if self._h is None:
            raise Closed(_c.WS101_ECLOSED, "loop is closed")
        return self._h

    def _on_loop_thread(self) -> bool:
        """True on the thread that owns (or is running) the loop."""
        return (self._thread or self._owner) == _threading.get_ident()

    def _check_not_driven(self, what: str) -> None:
        if self._driver is not None:
            raise StateError(_c.WS101_ESTATE,
                             "%s: this loop is driven by asyncio "
                             "(ws101.aio); await instead" % what)

    def run(self) -> None:
        """Runs until :meth:`stop` or until nothing is left to do.

        Releases the GIL while waiting. Re-raises a callback's exception
        (raise mode) and KeyboardInterrupt on Ctrl-C.
        """
        self._check_not_driven("run()")
        h = self._handle()
        prev, self._thread = self._thread, _threading.get_ident()
        try:
            _check(_c.ws101_loop_run(h), "run")
        finally:
            self._thread = prev

    def run_once(self, block: bool = True) -> bool:
        """Runs one iteration; returns True if there is more work."""
        self._check_not_driven("run_once()")
        h = self._handle()
        prev, self._thread = self._thread, _threading.get_ident()
        try:
            return _check(_c.ws101_loop_run_once(h, 1 if block else 0)) > 0
        finally:
            self._thread = prev

    def run_until(self, predicate: Callable[[], Any],
                  timeout: Optional[float] = None) -> Any:
        """Runs iterations until ``predicate()`` is true and returns its
        value. Raises :class:`Timeout` after ``timeout`` seconds and
        RuntimeError if the loop has nothing left to do first. A client
        connection that fails meanwhile without an ``on_error`` handler
        (refused, DNS, handshake) raises its error here, unless the
        predicate became true as well."""
        deadline = None if timeout is None else _time.monotonic() + timeout
        self._unhandled.clear()
        while True:
            value = predicate()
            if value:
                return value
            if self._unhandled:
                raise self._unhandled.pop(0)
            if deadline is not None and _time.monotonic() >= deadline:
                raise Timeout(_c.WS101_ETIMEDOUT,
                              "run_until: %.3gs elapsed" % timeout)
            if not self.run_once(True):
                value = predicate()
                if value:
                    return value
                if self._unhandled:
                    raise self._unhandled.pop(0)
                raise RuntimeError("ws101 loop went idle before the "
                                   "condition became true")

    def stop(self) -> None:
        """Makes the current (or next) :meth:`run` return. Safe from any
        thread (from another thread it posts the stop)."""
        # Off the loop's thread the stop is always posted: a run() that has
        # not recorded its thread yet would reset a direct stop and never
        # return (seen as a rare python.threads hang).
        if not self._on_loop_thread():
            self.call_soon_threadsafe(self._stop_now)
        else:
            self._stop_now()

    def _stop_now(self) -> None:
        if self._h is not None:
            _c.ws101_loop_stop(self._h)

    def call_soon_threadsafe(self, fn: Callable[..., Any], *args: Any) -> None:
        """Thread-safe: runs ``fn(*args)`` on the loop thread during a
        future iteration, in posting order (``ws101_loop_post``)."""
        if args:
            target = lambda: fn(*args)  # noqa: E731
        else:
            target = fn
        with self._lock:
            if self._closed:
                raise Closed(_c.WS101_ECLOSED, "loop is closed")
            _check(_c.ws101_loop_post(self._h, target), "post")

    # alias, like asyncio
    call_soon = call_soon_threadsafe

    # -- timers -------------------------------------------------------------
    def call_later(self, delay: float, fn: Callable[..., Any],
                   *args: Any) -> "Timer":
        """Runs ``fn(*args)`` once on the loop thread after ``delay``
        seconds (a ``ws101_timer``); returns a :class:`Timer` whose
        :meth:`Timer.cancel` prevents it. Loop thread only."""
        return Timer(self, delay, 0.0, fn, args)

    def call_every(self, interval: float, fn: Callable[..., Any],
                   *args: Any, first: Optional[float] = None) -> "Timer":
        """Runs ``fn(*args)`` every ``interval`` seconds (first after
        ``first`` seconds, default ``interval``) until the returned
        :class:`Timer` is cancelled. An exception in ``fn`` follows the
        loop's error policy and does not stop the timer. Loop thread
        only."""
        if interval <= 0:
            raise ValueError("call_every: interval must be > 0")
        return Timer(self, interval if first is None else first, interval,
                     fn, args)

    # -- clients ----------------------------------------------------------
    def connect(self, url: str, handler: Any = None, **kw: Any) -> "WebSocket":
        """Opens a WebSocket client on this loop; see :func:`connect`."""
        return connect(url, handler, loop=self, **kw)

    def fetch(self, url: str, method: str = "GET", body: Any = None,
              headers: Any = None, **kw: Any) -> "Union[Response, Fetch]":
        """HTTP client on this loop; see :func:`fetch`."""
        return fetch(url, method, body, headers, loop=self, **kw)

    # -- closing ----------------------------------------------------------
    def close(self) -> None:
        """Frees the loop: open servers, WebSockets and fetches get their
        final callbacks, pending posts run. Idempotent."""
        global _default_loop
        with self._lock:
            if self._closed:
                return
            self._closed = True
        h, self._h = self._h, None
        if _default_loop is self:
            _default_loop = None
        try:
            rc = _c.ws101_loop_free(h)
        except BaseException:
            raise
        if rc == _c.WS101_ESTATE:
            self._h = h
            self._closed = False
            raise StateError(rc, "Loop.close() called from a callback")
        for s in list(self._servers):
            s._closed = True
            # Requests never completed died with the loop.
            for req in list(s._pending.values()):
                req._h = None
            s._pending.clear()
            s._sockets.clear()

    @property
    def closed(self) -> bool:
        """True once closed (or its loop was closed)."""
        return self._closed

    def __enter__(self) -> "Loop":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            if not self._closed and self._h is not None:
                self.close()
        except Exception:
            pass

    @classmethod
    def default(cls) -> "Loop":
        """The module's default loop (created on first use), used by
        :func:`connect` and :func:`fetch` when no loop is given."""
        global _default_loop
        if _default_loop is None or _default_loop.closed:
            _default_loop = cls()
        return _default_loop


class Timer:
    """A timer made by :meth:`Loop.call_later` or :meth:`Loop.call_every`
    (a ``ws101_timer``). Keeps the loop alive while it is pending."""

    def __init__(self, loop: Loop, delay: float, repeat: float,
                 fn: Callable[..., Any], args: Tuple[Any, ...]):
        if not callable(fn):
            raise TypeError("timer callback must be callable")
        if delay < 0 or repeat < 0:
            raise ValueError("timer delays must be >= 0")
        self.loop = loop
        self._fn = fn
        self._args = args
        self.repeat = repeat
        rc, self._h = _c.ws101py_timer_new(loop._handle(), self._fire)
        _check(rc, "ws101_timer_new")
        # Round up: never fire early on the millisecond clock.
        delay_ms = int(delay * 1000 + 0.999)
        repeat_ms = max(1, int(repeat * 1000 + 0.5)) if repeat else 0
        rc = _c.ws101_timer_start(self._h, delay_ms, repeat_ms)
        if rc < 0:
            self.cancel()
            _check(rc, "ws101_timer_start")
        if loop._driver is not None:
            loop._driver.kick()

    def _fire(self) -> None:
        if not self.repeat:
            self._close()
        self._fn(*self._args)

    def _close(self) -> None:
        h, self._h = self._h, None
        if h is not None and not self.loop.closed:
            _c.ws101py_timer_close(h)
            if self.loop._driver is not None:
                self.loop._driver.kick()

    def cancel(self) -> None:
        """Stops the timer for good (idempotent; loop thread only)."""
        self._close()

    def cancelled(self) -> bool:
        """True once cancelled or (one-shot) fired."""
        return self._h is None

    def __repr__(self) -> str:
        return "<ws101.Timer %s%s>" % (
            "every %gs" % self.repeat if self.repeat else "once",
            " done" if self._h is None else "")


# --------------------------------------------------------------------------
# Headers
# --------------------------------------------------------------------------

class Headers(_abc.Mapping):
    """Case-insensitive, read-only header mapping that keeps every field.

    ``h["content-type"]`` gives the first value, :meth:`get_all` every
    value, :meth:`items_raw` the (name, value) pairs as received.
    """

    def __init__(self, pairs: Iterable[Tuple[str, str]] = ()):
        self._pairs: List[Tuple[str, str]] = list(pairs)
        self._map: Dict[str, List[str]] = {}
        for k, v in self._pairs:
            self._map.setdefault(k.lower(), []).append(v)

    def __getitem__(self, key: str) -> str:
        return self._map[key.lower()][0]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._map

    def __iter__(self):
        return iter(self._map)

    def __len__(self) -> int:
        return len(self._map)

    def get_all(self, key: str) -> List[str]:
        """Every value of header ``key`` (case-insensitive), in order."""
        return list(self._map.get(key.lower(), ()))

    def items_raw(self) -> List[Tuple[str, str]]:
        """All (name, value) pairs as received, names in their original case."""
        return list(self._pairs)

    def __repr__(self) -> str:
        return "Headers(%r)" % (self._pairs,)


# --------------------------------------------------------------------------
# WebSocket
# --------------------------------------------------------------------------

_EV_OPEN = _c.WS101_WS_OPEN
_EV_TEXT = _c.WS101_WS_TEXT
_EV_BINARY = _c.WS101_WS_BINARY
_EV_FRAGMENT = _c.WS101_WS_FRAGMENT
_EV_PING = _c.WS101_WS_PING
_EV_PONG = _c.WS101_WS_PONG
_EV_DRAIN = _c.WS101_WS_DRAIN
_EV_ERROR = _c.WS101_WS_ERROR
_EV_CLOSE = _c.WS101_WS_CLOSE

_HANDLER_METHODS = ("on_open", "on_message", "on_close", "on_ping",
                    "on_pong", "on_drain", "on_error", "on_fragment")


def _resolve_handler(handler: Any, callbacks: Dict[str, Any]) -> Any:
    """Turns `handler` + on_* keyword callbacks into one handler object."""
    for k in callbacks:
        if k not in _HANDLER_METHODS:
            raise TypeError("unknown WebSocket callback %r" % k)
    if handler is None:
        return _FunctionHandler(**callbacks)
    if isinstance(handler, type):
        handler = handler()
    elif callable(handler) and not any(hasattr(handler, m)
                                        for m in _HANDLER_METHODS):
        callbacks.setdefault("on_message", handler)
        return _FunctionHandler(**callbacks)
    if callbacks:
        return _FunctionHandler(_base=handler, **callbacks)
    return handler


class _FunctionHandler:
    def __init__(self, _base: Any = None, **callbacks: Any):
        self._base = _base
        for name in _HANDLER_METHODS:
            fn = callbacks.get(name)
            if fn is None and _base is not None:
                fn = getattr(_base, name, None)
            if fn is not None:
                setattr(self, name, fn)


class WebSocket:
    """One WebSocket connection (server or client side).

    Events go to a handler object with any of these methods (all
    optional): ``on_open(ws)``, ``on_message(ws, data)`` (``str`` for text,
    ``bytes`` for binary), ``on_close(ws, code, reason)``,
    ``on_ping(ws, data)``, ``on_pong(ws, data)``, ``on_drain(ws)``,
    ``on_error(ws, error)`` (client: the connection or handshake failed;
    ``on_close`` with 1006 follows) and, with ``ws_stream_fragments=True``,
    ``on_fragment(ws, data, fin)``.

    After ``on_close`` the object is inert: ``closed`` is True and sends
    raise :class:`Closed`.
    """

    def __init__(self, h: Any, handler: Any, loop: Optional[Loop] = None):
        self._h = h
        self.handler = handler
        self.loop = loop
        self.closed = False
        self.close_code: Optional[int] = None
        self.close_reason: Optional[str] = None
        self.error: Optional[Error] = None
        self.opened = False
        self.response_status: Optional[int] = None
        self.response_headers: Dict[str, str] = {}
        # Attributes read at open time (valid for the life of the handle).
        self.subprotocol = ""
        self.extensions = ""
        self.path = ""
        self.remote_addr = ""
        self.user_data: Any = None
        # The ws101.Server that accepted it (None for a client).
        self.server: Optional["Server"] = None

    # -- dispatch (called by the trampoline through closures) -------------
    def _dispatch(self, event: int, data: Any, arg: int) -> None:
        handler = self.handler
        if event == _EV_TEXT or event == _EV_BINARY:
            fn = getattr(handler, "on_message", None)
            if fn is not None:
                fn(self, data)
        elif event == _EV_OPEN:
            self.opened = True
            self._read_attrs()
            fn = getattr(handler, "on_open", None)
            if fn is not None:
                fn(self)
        elif event == _EV_CLOSE:
            self.closed = True
            self.close_code = arg
            self.close_reason = data
            self._h = None
            fn = getattr(handler, "on_close", None)
            if fn is not None:
                fn(self, arg, data)
        elif event == _EV_PING:
            fn = getattr(handler, "on_ping", None)
            if fn is not None:
                fn(self, data)
        elif event == _EV_PONG:
            fn = getattr(handler, "on_pong", None)
            if fn is not None:
                fn(self, data)
        elif event == _EV_DRAIN:
            fn = getattr(handler, "on_drain", None)
            if fn is not None:
                fn(self)
        elif event == _EV_ERROR:
            self._read_response()
            self.error = error_for(arg, data)
            fn = getattr(handler, "on_error", None)
            if fn is not None:
                fn(self, self.error)
            elif self.loop is not None:
                # Nobody handles it: raised where the user waits
                # (run_until) and logged, never swallowed.
                self.loop._unhandled.append(self.error)
                log.warning("WebSocket client failed: %s", self.error)
        elif event == _EV_FRAGMENT:
            fn = getattr(handler, "on_fragment", None)
            if fn is not None:
                fn(self, data, bool(arg & _c.WS101_FRAG_FIN))

    def _read_attrs(self) -> None:
        h = self._h
        self.subprotocol = _c.ws101_ws_subprotocol(h) or ""
        self.extensions = _c.ws101_ws_extensions(h) or ""
        self.path = _c.ws101_ws_path(h) or ""
        self.remote_addr = _c.ws101_ws_remote_addr(h) or ""
        self.tls_peer_subject = _c.ws101_ws_tls_peer_subject(h)
        self._read_response()

    def _read_response(self) -> None:
        status = _c.ws101_ws_response_status(self._h)
        self.response_status = status or None

    def response_header(self, name: str) -> Optional[str]:
        """Client: a header of the handshake response (during on_open or
        on_error only)."""
        return _c.ws101_ws_response_header(self._live(), name)

    # -- operations -------------------------------------------------------
    def _live(self):
        if self._h is None:
            raise Closed(_c.WS101_ECLOSED, "WebSocket is closed")
        return self._h

    def wait_open(self, timeout: Optional[float] = None) -> "WebSocket":
        """Client: runs the loop until the connection is open and returns
        it, or raises why it could not open (:class:`ConnectionRefused`,
        :class:`DNSError`, :class:`HandshakeError`, :class:`Timeout`...)."""
        loop = self.loop or Loop.default()
        loop.run_until(lambda: self.opened or self.closed, timeout)
        if not self.opened:
            if self.error is not None:
                raise self.error
            raise _closed_error(self.close_code, self.close_reason)
        return self

    def send(self, data: Union[str, bytes, bytearray, memoryview],
             compress: bool = True) -> Optional["_cf.Future[None]"]:
        """Queues a message: ``str`` as text, bytes-like as binary. Never
        blocks. Raises TypeError for other types (``None`` included),
        :class:`StateError` before the connection is open, :class:`Closed`
        after it closed, and :class:`Backpressure` when the send buffer is
        over ``ws_max_backpressure`` (policy ``"refuse"``): a refused
        message is never dropped silently.

        From another thread than the loop's, the send is posted to the loop
        thread and a ``concurrent.futures.Future`` is returned that holds
        its outcome (a failure is also logged on the ``ws101`` logger)."""
        if isinstance(data, str):
            opcode = TEXT
        elif isinstance(data, (bytes, bytearray, memoryview)):
            opcode = BINARY
        else:
            raise TypeError("WebSocket.send() takes str or bytes-like, not %s"
                            % type(data).__name__)
        loop = self.loop
        if loop is not None and not loop._on_loop_thread():
            return self._send_from_thread(data, compress)
        if not self.opened and not self.closed:
            raise StateError(_c.WS101_ESTATE,
                             "WebSocket is not open yet (wait for on_open)")
        h = self._live()
        if compress:
            _check(_c.ws101_ws_send(h, data, opcode))
        else:
            _check(_c.ws101_ws_send_ex(h, data, opcode,
                                       _c.WS101_SEND_NO_COMPRESS))
        _kick(loop)
        return None

    def _send_from_thread(self, data: Any, compress: bool) -> "_cf.Future[None]":
        fut: "_cf.Future[None]" = _cf.Future()
        if isinstance(data, (bytearray, memoryview)):
            data = bytes(data)  # the caller may reuse its buffer

        def on_loop() -> None:
            if not fut.set_running_or_notify_cancel():
                return
            try:
                self.send(data, compress)
            except Exception as e:  # reported, never dropped quietly
                log.warning("send posted from another thread failed: %s", e)
                fut.set_exception(e)
            else:
                fut.set_result(None)
        assert self.loop is not None
        self.loop.call_soon_threadsafe(on_loop)
        return fut

    def send_text(self, data: Union[str, bytes]) -> None:
        """Sends text (str, or bytes holding UTF-8)."""
        _check(_c.ws101_ws_send(self._live(), data, TEXT))

    def send_binary(self, data: Union[str, bytes, bytearray, memoryview]) -> None:
        """Sends binary (a str is sent as its UTF-8 bytes)."""
        _check(_c.ws101_ws_send(self._live(), data, BINARY))

    def send_fragment(self, data: Any, opcode: int, fin: bool) -> None:
        """Queues one fragment (TEXT/BINARY first, then
        ``_ws101.WS101_OP_CONTINUATION``)."""
        _check(_c.ws101_ws_send_fragment(self._live(), data, opcode,
                                         1 if fin else 0))

    def ping(self, data: Union[str, bytes] = b"") -> None:
        """Queues a ping with up to 125 bytes of payload."""
        _check(_c.ws101_ws_ping(self._live(), data))

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Starts the close handshake; ``on_close`` follows. Closing an
        already closed connection does nothing."""
        if self._h is None:
            return
        rc = _c.ws101_ws_close(self._h, code, reason or None)
        _kick(self.loop)
        if rc == _c.WS101_ECLOSED:
            return
        _check(rc, "close(%r)" % code)

    @property
    def buffered(self) -> int:
        """Bytes queued and not yet written to the socket."""
        return 0 if self._h is None else _c.ws101_ws_buffered(self._h)

    @property
    def memory(self) -> int:
        """User-space bytes this connection holds."""
        return 0 if self._h is None else _c.ws101_ws_memory(self._h)

    # -- pub/sub ----------------------------------------------------------
    def subscribe(self, topic: str) -> bool:
        """Subscribes this (server-side) connection to ``topic`` (1 to 1024
        bytes, no NUL): :meth:`Server.publish` on its server (or any worker
        of its :class:`Workers`, or any process on the same Redis) reaches
        it. Returns True if added, False if already subscribed. Raises
        :class:`Closed` once closing, :class:`NotSupported` on a client
        connection, :class:`InvalidArgument` for a bad topic.
        Subscriptions end with the connection."""
        return _check(_c.ws101_ws_subscribe(self._live(), topic),
                      "subscribe %r" % topic) == 1

    def unsubscribe(self, topic: str) -> bool:
        """Ends a subscription; True if there was one."""
        if self._h is None:
            return False
        return _check(_c.ws101_ws_unsubscribe(self._h, topic),
                      "unsubscribe %r" % topic) == 1

    def is_subscribed(self, topic: str) -> bool:
        """True when this WebSocket is subscribed to ``topic``."""
        return self._h is not None and \
            _c.ws101_ws_is_subscribed(self._h, topic) == 1

    @property
    def subscriptions(self) -> int:
        """The number of topics this connection is subscribed to."""
        return 0 if self._h is None else _c.ws101_ws_subscription_count(self._h)

    def pause(self) -> None:
        """Stops reading from the peer (receive backpressure)."""
        _check(_c.ws101_ws_pause(self._live()))

    def resume(self) -> None:
        """Resumes reading after :meth:`pause`."""
        _check(_c.ws101_ws_resume(self._live()))

    def __repr__(self) -> str:
        state = "closed" if self.closed else ("open" if self.opened
                                              else "connecting")
        return "<ws101.WebSocket %s %s>" % (self.path or "?", state)


def _ws_closure(ws: WebSocket):
    """A per-connection trampoline target: the C side holds it until
    WS101_WS_CLOSE, so it (and the WebSocket) lives exactly that long."""
    dispatch = ws._dispatch

    def on_event(_h, event, data, arg):
        if ws._h is None and event != _EV_CLOSE:
            ws._h = _h
        dispatch(event, data, arg)
    return on_event


# --------------------------------------------------------------------------
# Server and requests
# --------------------------------------------------------------------------

class Request:
    """One HTTP request. Attributes are copied when the handler is
    called and stay readable after the response: ``method``, ``target``,
    ``path``, ``query``, ``http_version`` (10/11), ``remote_addr``,
    ``headers`` (:class:`Headers`), ``body`` (bytes; empty on streaming
    routes).

    Respond with :meth:`respond`, or :meth:`write` + :meth:`end`, or
    :meth:`accept_websocket` — at once or later (the request keeps itself
    alive until then)."""

    def __init__(self, h: Any, server: "Server"):
        self._h = h
        self.server = server
        self.method: str = _c.ws101_req_method(h)
        self.target: str = _c.ws101_req_target(h)
        self.path: str = _c.ws101_req_path(h)
        self.query: str = _c.ws101_req_query(h) or ""
        self.http_version: int = _c.ws101_req_http_version(h)
        self.remote_addr: str = _c.ws101_req_remote_addr(h) or ""
        self.tls_version: Optional[str] = _c.ws101_req_tls_version(h)
        self.tls_peer_subject: Optional[str] = \
            _c.ws101_req_tls_peer_subject(h)
        n = _c.ws101_req_header_count(h)
        self.headers = Headers((_c.ws101_req_header_name(h, i),
                                _c.ws101_req_header_value(h, i))
                               for i in range(n))
        self.body: bytes = _c.ws101_req_body_bytes(h)
        self.is_websocket: bool = bool(_c.ws101_req_is_websocket(h))
        self.aborted = False
        self.user_data: Any = None

    @property
    def done(self) -> bool:
        """True once the response is complete."""
        return self._h is None

    @property
    def ws_protocols(self) -> List[str]:
        """Subprotocols the client offered."""
        raw = self.headers.get("sec-websocket-protocol") or ""
        return [p.strip() for p in raw.split(",") if p.strip()]

    def _live(self):
        if self._h is None:
            raise StateError(_c.WS101_ESTATE, "request already completed")
        return self._h

    def _complete(self) -> None:
        self._h = None
        self.server._pending.pop(id(self), None)

    def set_status(self, status: int) -> None:
        """Sets the status of a streamed response before the head is sent."""
        _check(_c.ws101_req_set_status(self._live(), status))

    def add_header(self, name: str, value: str) -> None:
        """Adds a response header before the head is sent."""
        _check(_c.ws101_req_add_header(self._live(), name, str(value)),
               "header %r" % name)

    def respond(self, status: int = 200, body: Union[str, bytes, None] = b"",
                content_type: Optional[str] = None,
                headers: Union[Mapping[str, str], Iterable[Tuple[str, str]],
                               None] = None) -> None:
        """Sends a complete response and completes the request. A ``str``
        body is UTF-8 and defaults to ``text/plain; charset=utf-8``; bytes
        default to ``application/octet-stream``. ``content_type=""`` sends
        none."""
        h = self._live()
        if headers:
            items = headers.items() if isinstance(headers, Mapping) else headers
            for k, v in items:
                self.add_header(k, v)
        if body is None:
            body = b""
        if content_type is None:
            content_type = ("text/plain; charset=utf-8"
                            if isinstance(body, str)
                            else "application/octet-stream")
        rc = _c.ws101_req_respond(h, status, content_type or None, body)
        _kick(self.server.loop)
        if rc == 0 or rc == _c.WS101_ECLOSED:
            self._complete()
        else:
            _check(rc, "respond(%r)" % status)

    def write(self, data: Union[str, bytes]) -> None:
        """Streams part of the body (chunked unless Content-Length was
        added). Raises :class:`Closed` if the peer went away."""
        _check(_c.ws101_req_write(self._live(), data))
        _kick(self.server.loop)

    def end(self) -> None:
        """Ends a streamed response and completes the request."""
        rc = _c.ws101_req_end(self._live())
        _kick(self.server.loop)
        if rc == 0 or rc == _c.WS101_ECLOSED:
            self._complete()
        else:
            _check(rc, "end")

    def read_body(self, callback: Callable[["Request", bytes, bool], Any]) -> None:
        """On a ``stream_body=True`` route: delivers the body as
        ``callback(req, data, last)``."""
        me = self

        def on_body(_h, data, last):
            callback(me, data, last)
        _check(_c.ws101_req_read_body(self._live(), on_body))

    def on_abort(self, callback: Callable[["Request"], Any]) -> None:
        """``callback(req)`` runs if the connection is lost before the
        response completed; the request must still be ended (respond/end)."""
        me = self

        def on_abort(_h):
            me.aborted = True
            callback(me)
        _check(_c.ws101_req_on_abort(self._live(), on_abort))

    def accept_websocket(self, handler: Any = None,
                         subprotocol: Optional[str] = None,
                         **callbacks: Any) -> WebSocket:
        """Accepts the upgrade and returns the :class:`WebSocket`; events
        go to ``handler`` (object, class instantiated per connection, or a
        function taken as on_message) and/or ``on_*=`` keywords. An invalid
        upgrade is answered (400/403/426) and raises :class:`BadUpgrade`."""
        h = self._live()
        ws = WebSocket(None, _resolve_handler(handler, dict(callbacks)),
                       self.server.loop)
        ws.server = self.server
        rc, wsh = _c.ws101_req_accept_websocket(h, subprotocol,
                                                _ws_closure(ws))
        if rc == 0 or rc == _c.WS101_EBADUPGRADE:
            self._complete()
        if rc < 0:
            raise error_for(rc, "accept_websocket")
        if ws._h is None:
            ws._h = wsh
        return ws

    def __repr__(self) -> str:
        return "<ws101.Request %s %s>" % (self.method, self.target)


class Server:
    """An HTTP/WebSocket server (``ws101_server``) on ``loop``.

    Keyword options are those of :class:`Options` (``max_body=...``,
    ``origins=[...]``, ``subprotocols=[...]``, ...).
    """

    def __init__(self, loop: Loop, options: Optional[Options] = None,
                 **kwargs: Any):
        self.loop = loop
        oh, tmp = _options_handle(options, kwargs)
        try:
            rc, h = _c.ws101_server_new(loop._handle(), oh)
            _check(rc, "ws101_server_new")
        finally:
            if tmp is not None:
                tmp.close()
        self._init(h)

    @classmethod
    def _adopt(cls, loop: "Loop", h: Any) -> "Server":
        """A Server object for a C server made elsewhere (a worker's)."""
        self = cls.__new__(cls)
        self.loop = loop
        self._init(h)
        return self

    def _init(self, h: Any) -> None:
        loop = self.loop
        self._h = h
        self._redis: Optional[Redis] = None
        self._closed = False
        self._routes: Dict[str, Any] = {}
        self._pending: Dict[int, Request] = {}
        self._sockets: Dict[int, WebSocket] = {}
        loop._servers.add(self)

    def _live(self):
        if self._closed or self.loop.closed:
            raise Closed(_c.WS101_ECLOSED, "server is closed")
        return self._h

    # -- HTTP -------------------------------------------------------------
    def route(self, path: str, handler: Optional[Callable[[Request], Any]] = None,
              *, stream_body: bool = False) -> Any:
        """Routes requests for ``path`` (exact, or a prefix ending in
        ``*``) to ``handler(req)``. Usable as a decorator::

            @server.route("/hello")
            def hello(req): req.respond(200, "hi")
        """
        def register(fn: Callable[[Request], Any]):
            server = self
            pending = self._pending

            def on_request(h):
                req = Request(h, server)
                pending[id(req)] = req
                try:
                    fn(req)
                except BaseException:
                    # The C trampoline answers 500; forget the request.
                    req._h = None
                    pending.pop(id(req), None)
                    raise
            _check(_c.ws101_server_route(self._live(), path,
                                         _c.WS101_ROUTE_STREAM_BODY
                                         if stream_body else 0, on_request),
                   "route %r" % path)
            self._routes[path] = fn
            return fn
        if handler is not None:
            return register(handler)
        return register

    # -- WebSocket --------------------------------------------------------
    def websocket(self, path: str, handler: Any = None,
                  **callbacks: Any) -> Any:
        """Registers a WebSocket-only route. ``handler`` is an object with
        ``on_open``/``on_message``/``on_close``... methods (shared by all
        connections), a class (instantiated per connection), or a function
        (taken as ``on_message``); or pass ``on_message=...`` keywords.
        Usable as a decorator on a class or function."""
        def register(h: Any):
            is_class = isinstance(h, type)
            shared = None if is_class else _resolve_handler(h, dict(callbacks))
            sockets = self._sockets
            loop = self.loop
            server = self

            def on_event(wsh, event, data, arg):
                key = _addr(wsh)
                if event == _EV_OPEN:
                    handler_obj = (_resolve_handler(h, dict(callbacks))
                                   if is_class else shared)
                    ws = WebSocket(wsh, handler_obj, loop)
                    ws.server = server
                    sockets[key] = ws
                elif event == _EV_CLOSE:
                    ws = sockets.pop(key, None)
                    if ws is None:
                        return
                else:
                    ws = sockets.get(key)
                    if ws is None:
                        return
                ws._dispatch(event, data, arg)
            _check(_c.ws101_server_websocket(self._live(), path, on_event),
                   "websocket %r" % path)
            self._routes[path] = h
            return h
        if handler is not None or callbacks:
            return register(handler)
        return register

    @property
    def connections(self) -> List[WebSocket]:
        """Open WebSockets of the ``websocket()`` routes."""
        return list(self._sockets.values())

    # -- listening --------------------------------------------------------
    def listen(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listens on ``host``:``port`` (0 picks a free port); returns the
        port actually bound."""
        _check(_c.ws101_server_listen(self._live(), host, int(port)),
               "listen %s:%s" % (host, port))
        _kick(self.loop)
        return _check(_c.ws101_server_port(self._h))

    def listen_fd(self, fd: int) -> int:
        """Listens on ``fd``, a TCP socket already bound and listening
        (e.g. inherited from a parent process that bound it once for
        several worker processes); returns its port. The server owns the
        descriptor from then on, also when this raises (it is closed):
        pass ``os.dup(fd)`` to keep one. Plain (not TLS) only."""
        _check(_c.ws101_server_listen_fd(self._live(), int(fd)),
               "listen_fd %d" % fd)
        _kick(self.loop)
        return _check(_c.ws101_server_port(self._h))

    def listen_tls(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listens for https:// and wss:// on ``host``:``port`` with the
        certificates of the server's options (``tls_cert=...``); returns
        the port bound. Raises :class:`TLSError` with OpenSSL's reason."""
        _check(_c.ws101_server_listen_tls(self._live(), host, int(port)),
               "listen_tls %s:%s" % (host, port))
        return _check(_c.ws101_server_tls_port(self._h))

    def reload_tls(self, options: Optional[Options] = None,
                   **kw: Any) -> None:
        """Swaps in new certificates for new TLS handshakes (e.g. renewed
        ones), from ``options`` or keyword options (``tls_cert=...``)."""
        h, tmp = _options_handle(options, kw)
        try:
            _check(_c.ws101_server_reload_tls(self._live(), h), "reload_tls")
        finally:
            if tmp is not None:
                tmp.close()

    @property
    def port(self) -> int:
        """The port the server listens on (after ``listen(..., 0)``: the one picked)."""
        return _check(_c.ws101_server_port(self._live()))

    def close(self, callback: Optional[Callable[[], Any]] = None) -> None:
        """Stops listening, closes WebSockets with 1001 and lets in-flight
        responses finish; ``callback()`` runs when everything is gone.
        Idempotent."""
        if self._closed or self.loop.closed:
            return
        self._closed = True
        _check(_c.ws101_server_close(self._h, callback))
        _kick(self.loop)

    @property
    def closed(self) -> bool:
        """True once closed (or its loop was closed)."""
        return self._closed or self.loop.closed

    # -- pub/sub ----------------------------------------------------------
    def publish(self, topic: str,
                data: Union[str, bytes, bytearray, memoryview]) -> Any:
        """Sends ``data`` (``str`` as text, bytes-like as binary) to every
        connection subscribed to ``topic``: framed once, queued to each
        subscriber (a slow one is skipped, or dropped with 1008 under
        ``ws_backpressure_policy="close"``, never blocking the others), on
        every worker of a :class:`Workers` group and through Redis if
        attached. Returns how many of this server's subscribers it was
        queued to. From a thread other than the loop's it is posted there
        and a ``concurrent.futures.Future`` of that count is returned.
        Raises :class:`InvalidArgument` (bad topic), :class:`InvalidUTF8`,
        :class:`Closed` once the server is closed."""
        if isinstance(data, str):
            opcode = TEXT
        elif isinstance(data, (bytes, bytearray, memoryview)):
            opcode = BINARY
        else:
            raise TypeError("publish() takes str or bytes-like, not %s"
                            % type(data).__name__)
        if not self.loop._on_loop_thread():
            return self._publish_from_thread(topic, data)
        n = _check(_c.ws101_server_publish(self._live(), topic, data, opcode),
                   "publish %r" % topic)
        _kick(self.loop)
        return n

    def _publish_from_thread(self, topic: str, data: Any) -> "_cf.Future[int]":
        fut: "_cf.Future[int]" = _cf.Future()
        if isinstance(data, (bytearray, memoryview)):
            data = bytes(data)

        def on_loop() -> None:
            if not fut.set_running_or_notify_cancel():
                return
            try:
                fut.set_result(self.publish(topic, data))
            except Exception as e:
                log.warning("publish posted from another thread failed: %s", e)
                fut.set_exception(e)
        self.loop.call_soon_threadsafe(on_loop)
        return fut

    def _check_thread(self, what: str) -> None:
        """A running worker's server belongs to its thread (C rule)."""
        loop = self.loop
        if isinstance(loop, _WorkerLoop) and loop._started and \
                not loop._on_loop_thread():
            raise StateError(_c.WS101_ESTATE, "%s: a running worker's "
                             "server is only usable from its handlers"
                             % what)

    def subscribers(self, topic: str) -> int:
        """How many of this server's connections are subscribed to
        ``topic`` (other workers and nodes are not counted). On a running
        worker, only from that worker's handlers."""
        if self.closed:
            return 0
        self._check_thread("subscribers()")
        return _c.ws101_server_subscribers(self._h, topic)

    def pubsub_stats(self) -> Dict[str, int]:
        """This server's pub/sub counters: ``topics``, ``subscriptions``,
        ``published``, ``delivered``, ``skipped``, ``dropped``,
        ``received`` (from other workers or Redis), ``memory`` (bytes)."""
        if self.closed:
            return {k: 0 for k in _PUBSUB_STATS}
        self._check_thread("pubsub_stats()")
        return {k: _c.ws101_server_pubsub_stat(self._h, v)
                for k, v in _PUBSUB_STATS.items()}

    def attach_redis(self, url: str, prefix: Optional[str] = None,
                     on_event: Optional[Callable[[str, str, int], Any]] = None
                     ) -> "Redis":
        """Attaches a Redis pub/sub backplane (``"redis://HOST:PORT"``,
        an address or localhost; channels ``prefix + topic``, default
        prefix ``"ws101:"``): messages published here also go to every
        process on that Redis, and theirs reach the subscribers here. It
        reconnects with backoff by itself; ``on_event("up", "", 0)`` and
        ``on_event("down", why, retry_ms)`` report it, on the loop thread.
        The callable is kept until the server is freed. For
        :class:`Workers` call it from the setup on worker 0 (before
        start). Raises :class:`NotSupported` when the extension was built
        without hiredis, :class:`StateError` if one is attached,
        :class:`InvalidURL`."""
        cb = None
        if on_event is not None:
            names = {_c.WS101_REDIS_UP: "up", _c.WS101_REDIS_DOWN: "down"}

            def cb(event: int, detail: str, arg: int) -> None:
                on_event(names.get(event, str(event)), detail, arg)
        self._check_thread("attach_redis()")
        rc, h = _c.ws101_redis_attach(self._live(), url, prefix, cb)
        _check(rc, "attach_redis %s" % url)
        self._redis = Redis(self, h)
        _kick(self.loop)
        return self._redis

    @property
    def redis(self) -> Optional["Redis"]:
        """The attached :class:`Redis` backplane, or None."""
        return self._redis


_PUBSUB_STATS = {
    "topics": _c.WS101_PUBSUB_TOPICS,
    "subscriptions": _c.WS101_PUBSUB_SUBSCRIPTIONS,
    "published": _c.WS101_PUBSUB_PUBLISHED,
    "delivered": _c.WS101_PUBSUB_DELIVERED,
    "skipped": _c.WS101_PUBSUB_SKIPPED,
    "dropped": _c.WS101_PUBSUB_DROPPED,
    "received": _c.WS101_PUBSUB_RECEIVED,
    "memory": _c.WS101_PUBSUB_MEMORY,
}


class Redis:
    """A Redis backplane attached with :meth:`Server.attach_redis`; it
    lives as long as its server."""

    def __init__(self, server: Server, h: Any):
        self.server = server
        self._h = h

    @property
    def connected(self) -> bool:
        """True while connected and subscribed."""
        return not self.server.closed and \
            _c.ws101_redis_connected(self._h) == 1

    def __repr__(self) -> str:
        return "<ws101.Redis %s>" % ("up" if self.connected else "down")


# --------------------------------------------------------------------------
# Workers
# --------------------------------------------------------------------------

class _WorkerLoop(Loop):
    """The loop of one worker: run by its own thread (started by
    :meth:`Workers.start`), never by :meth:`run`; freed with the workers."""

    def __init__(self, h: Any, index: int):  # no super(): the loop exists
        self._h = h
        self.index = index
        self._lock = _threading.Lock()
        self._closed = False
        self._thread = None
        self._owner = None
        self._ident: Optional[int] = None
        self._started = False
        self._unhandled = []
        self._driver = None
        self._servers = _weakref.WeakSet()
        self.raise_errors = False
        self._error_handler = None
        _c.ws101py_set_error_handler(h, self._on_error)

    def _on_loop_thread(self) -> bool:
        return self._ident == _threading.get_ident()

    @property
    def closed(self) -> bool:  # type: ignore[override]
        """True once closed (or its loop was closed)."""
        # Posts stop (_closed) before the join; the loop itself is usable
        # by its handlers until it is freed.
        return self._h is None

    def _refuse(self, what: str) -> None:
        raise StateError(_c.WS101_ESTATE, "%s: a worker's loop runs on its "
                         "own thread (Workers.start/stop/close)" % what)

    def run(self) -> None:
        self._refuse("run()")

    def run_once(self, block: bool = True) -> bool:
        self._refuse("run_once()")
        return False

    def close(self) -> None:
        self._refuse("close()")

    def __del__(self) -> None:
        pass

    def __repr__(self) -> str:
        return "<ws101 worker loop %d>" % self.index


class Workers:
    """``n`` servers on ``n`` loops in ``n`` threads (``ws101_workers``),
    each accepting on its own ``SO_REUSEPORT`` socket on the same port,
    sharing topics: :meth:`Server.publish` on any worker reaches the
    subscribers of every worker.

    ``setup(server)`` or ``setup(server, index)`` runs once per worker, on
    this thread, before anything runs: register the same routes and
    handlers there (``server`` is a :class:`Server`). Then
    :meth:`listen`, :meth:`start`; :meth:`stop` (any thread) closes the
    servers gracefully and :meth:`close` waits for the threads (the GIL is
    released meanwhile) and frees everything. Use it as a context manager.

    Handlers run on their worker's thread. Python code still runs one
    thread at a time (the GIL): N workers spread the C work (parsing,
    framing, deflate, socket writes, pub/sub fan-out) over N cores, while
    the Python handlers themselves are serialised. Exceptions in handlers
    are logged (``error_handler(exc)`` if given) and close the connection
    that raised, as on a :class:`Loop` in its default mode.
    """

    def __init__(self, n: int, setup: Callable[..., Any],
                 options: Optional[Options] = None,
                 error_handler: Optional[Callable[[BaseException], Any]] = None,
                 **kwargs: Any):
        import inspect
        try:
            two = len(inspect.signature(setup).parameters) >= 2
        except (TypeError, ValueError):
            two = True
        self.servers: List[Server] = []
        self.loops: List[_WorkerLoop] = []
        self._started = False
        self._closed = False
        self._error_handler = error_handler

        def on_setup(h: Any, index: int) -> None:
            loop = _WorkerLoop(_c.ws101_server_loop(h), index)
            loop._error_handler = error_handler
            srv = Server._adopt(loop, h)
            self.loops.append(loop)
            self.servers.append(srv)
            if two:
                setup(srv, index)
            else:
                setup(srv)
        oh, tmp = _options_handle(options, kwargs)
        try:
            rc, self._h = _c.ws101py_workers_new(int(n), oh, on_setup)
        except BaseException:
            self._forget()
            raise
        finally:
            if tmp is not None:
                tmp.close()
        if rc < 0:
            self._forget()
            _check(rc, "Workers(%r)" % n)
        self.n = n

    def _forget(self) -> None:
        for loop in self.loops:
            loop._closed = True
            loop._h = None
        for srv in self.servers:
            srv._closed = True
        self._closed = True
        self._h = None

    def _live(self) -> Any:
        if self._closed:
            raise Closed(_c.WS101_ECLOSED, "workers are closed")
        return self._h

    def listen(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Every worker listens on ``host``:``port`` (0 picks a free port,
        the same for all); returns the port. Before :meth:`start`."""
        _check(_c.ws101_workers_listen(self._live(), host, int(port)),
               "listen %s:%s" % (host, port))
        return self.port

    @property
    def port(self) -> int:
        """The port the server listens on (after ``listen(..., 0)``: the one picked)."""
        return _check(_c.ws101_workers_port(self._live()))

    def start(self) -> None:
        """Starts one thread per worker."""
        h = self._live()
        if self._started:
            raise StateError(_c.WS101_ESTATE, "workers already started")
        # Each loop learns its thread from a post queued before its thread
        # starts: it runs in the loop's first iteration, before any
        # connection's handler (accepting and then reading a connection
        # takes two iterations at least), and before any later post.
        for loop in self.loops:
            def mark(loop: _WorkerLoop = loop) -> None:
                loop._ident = _threading.get_ident()
            loop.call_soon_threadsafe(mark)
        for loop in self.loops:
            loop._started = True
        rc = _c.ws101_workers_start(h)
        if rc < 0:
            for loop in self.loops:
                loop._started = False
            _check(rc, "start")
        self._started = True

    def publish(self, topic: str, data: Union[str, bytes]) -> "_cf.Future[int]":
        """Thread-safe: publishes through worker 0 (reaching every
        worker's subscribers); returns a Future of worker 0's count."""
        srv = self.servers[0]
        self._live()
        return srv._publish_from_thread(topic, data)

    def stop(self) -> None:
        """Thread-safe: closes every worker's server gracefully
        (WebSockets get 1001); the threads end when that is done."""
        if not self._closed:
            _c.ws101_workers_stop(self._h)

    def close(self) -> None:
        """Stops (if started), waits for the threads with the GIL released
        and frees the workers. Idempotent. Not from a worker thread."""
        if self._closed:
            return
        if any(loop._on_loop_thread() for loop in self.loops):
            raise StateError(_c.WS101_ESTATE,
                             "Workers.close() called from a worker thread")
        if self._started:
            _c.ws101_workers_stop(self._h)
        h, self._h = self._h, None
        self._closed = True
        for loop in self.loops:
            with loop._lock:
                loop._closed = True
        _c.ws101py_workers_free(h)
        for loop in self.loops:
            loop._h = None
        for srv in self.servers:
            srv._closed = True
            srv._pending.clear()
            srv._sockets.clear()

    @property
    def closed(self) -> bool:
        """True once closed (or its loop was closed)."""
        return self._closed

    def __enter__(self) -> "Workers":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


# --------------------------------------------------------------------------
# Clients
# --------------------------------------------------------------------------

def connect(url: str, handler: Any = None, *, loop: Optional[Loop] = None,
            options: Optional[Options] = None, **kwargs: Any) -> WebSocket:
    """Opens a WebSocket client connection to ``url`` (``ws://...``) and
    returns the :class:`WebSocket` at once (connecting). ``handler`` and
    the ``on_*=`` keywords are as in :meth:`Request.accept_websocket`;
    other keywords are :class:`Options` (``subprotocols=[...]``,
    ``headers={...}``, ``connect_timeout_ms=...``). Runs on ``loop`` (the
    default loop if None): call ``loop.run()`` or :meth:`Loop.run_until`.
    """
    loop = loop or Loop.default()
    callbacks = {k: kwargs.pop(k) for k in list(kwargs)
                 if k in _HANDLER_METHODS}
    ws = WebSocket(None, _resolve_handler(handler, callbacks), loop)
    oh, tmp = _options_handle(options, kwargs)
    try:
        rc, h = _c.ws101_ws_connect(loop._handle(), url, oh, _ws_closure(ws))
    finally:
        if tmp is not None:
            tmp.close()
    _check(rc, url)
    ws._h = h
    _kick(loop)
    return ws


class Response:
    """A complete HTTP response: ``status``, ``headers``
    (:class:`Headers`), ``body`` (bytes), ``text``, :meth:`json`, and
    ``http_version``: 11 for HTTP/1.1, 20 when it came over HTTP/2
    (``client_http2``: prior knowledge, h2c upgrade or ALPN h2)."""

    def __init__(self, status: int, headers: Headers, body: bytes,
                 http_version: int = 11):
        self.status = status
        self.headers = headers
        self.body = body
        self.http_version = http_version

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (invalid bytes replaced)."""
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body parsed as JSON."""
        import json
        return json.loads(self.body)

    def __repr__(self) -> str:
        return "<ws101.Response %d, %d bytes>" % (self.status, len(self.body))


class Fetch:
    """An HTTP client exchange in progress (see :func:`fetch`)."""

    def __init__(self, loop: Loop):
        self.loop = loop
        self._h = None
        self.status = 0
        self.http_version = 11  # 20 once the response came over HTTP/2
        self.headers = Headers()
        self._chunks: List[bytes] = []
        self.response: Optional[Response] = None
        self.error: Optional[Error] = None
        self.done = False
        self.on_done: Optional[Callable[[Optional[Response], Optional[Error]], Any]] = None
        self.on_data: Optional[Callable[[bytes], Any]] = None

    def _event(self, h, event, data, arg):
        if event == _c.WS101_FETCH_RESPONSE:
            self.status = _c.ws101_fetch_status(h)
            self.http_version = _c.ws101_fetch_http_version(h)
            n = _c.ws101_fetch_header_count(h)
            self.headers = Headers((_c.ws101_fetch_header_name(h, i),
                                    _c.ws101_fetch_header_value(h, i))
                                   for i in range(n))
        elif event == _c.WS101_FETCH_BODY:
            if self.on_data is not None:
                self.on_data(data)
            else:
                self._chunks.append(data)
        elif event == _c.WS101_FETCH_DONE:
            self._h = None
            self.done = True
            self.response = Response(self.status, self.headers,
                                     b"".join(self._chunks),
                                     self.http_version)
            self._chunks = []
            if self.on_done is not None:
                self.on_done(self.response, None)
        elif event == _c.WS101_FETCH_ERROR:
            self._h = None
            self.done = True
            self.error = error_for(arg, data)
            if self.on_done is not None:
                self.on_done(None, self.error)

    def cancel(self) -> None:
        """Cancels the exchange (the callback gets :class:`Canceled`)."""
        if self._h is not None:
            _c.ws101_fetch_cancel(self._h)

    def result(self, timeout: Optional[float] = None) -> Response:
        """Runs the loop until the exchange ends; returns the
        :class:`Response` or raises its :class:`Error`."""
        if not self.done:
            self.loop.run_until(lambda: self.done, timeout)
        if self.error is not None:
            raise self.error
        assert self.response is not None
        return self.response


def fetch(url: str, method: str = "GET",
          body: Union[str, bytes, None] = None,
          headers: Union[Mapping[str, str], Iterable[Tuple[str, str]],
                         None] = None, *,
          loop: Optional[Loop] = None,
          callback: Optional[Callable[[Optional[Response], Optional[Error]],
                                      Any]] = None,
          timeout: Optional[float] = None,
          options: Optional[Options] = None,
          **kwargs: Any) -> "Union[Response, Fetch]":
    """HTTP client request.

    Without ``callback`` it blocks: runs ``loop`` until the response is
    complete and returns a :class:`Response` (raising :class:`Error`
    subclasses such as :class:`ConnectionRefused` or :class:`Timeout`).
    Do not call it that way from inside a callback.

    With ``callback(response, error)`` it returns a :class:`Fetch` at once
    and the callback runs on the loop when the exchange ends.
    """
    loop = loop or Loop.default()
    if callback is None and (loop._driver is not None or
                             loop._thread == _threading.get_ident()):
        raise StateError(_c.WS101_ESTATE,
                         "fetch() cannot block the loop it runs on (called "
                         "from a callback or an asyncio task); pass "
                         "callback=fn(response, error), or use "
                         "'await ws101.aio.fetch(...)'")
    fx = Fetch(loop)
    fx.on_done = callback
    oh, tmp = _options_handle(options, kwargs)
    try:
        rc, h = _c.ws101_fetch_new(loop._handle(), method, url, oh, fx._event)
    finally:
        if tmp is not None:
            tmp.close()
    _check(rc, "%s %s" % (method, url))
    fx._h = h
    try:
        if headers:
            items = headers.items() if isinstance(headers, Mapping) else headers
            for k, v in items:
                _check(_c.ws101_fetch_add_header(h, k, str(v)),
                       "header %r" % k)
        if isinstance(body, str):
            body = body.encode("utf-8")
        _check(_c.ws101_fetch_send(h, body), "send")
    except BaseException:
        _c.ws101_fetch_cancel(h)
        raise
    if callback is not None:
        _kick(loop)
        return fx
    return fx.result(timeout)

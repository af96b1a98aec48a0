"""``--workers N``: N processes serving one port, each with its own asyncio
loop and libws101 loop (the GIL makes threads useless for an ASGI app).

The parent binds and listens once (so ``--port 0`` names one port for all),
then forks the workers; each adopts its inherited copy of the listening
socket with ``ws101_server_listen_fd`` and the kernel hands every new
connection to one of them. The parent only supervises:

- ``listening on http://H:P/`` is printed once, when every worker has
  finished its lifespan startup and is accepting (each writes one byte to
  a ready pipe), as a single-process server prints it after its startup;
- SIGINT/SIGTERM are passed on to the workers as SIGTERM, so each closes
  gracefully and runs its lifespan shutdown; a worker still alive after
  ``graceful_timeout`` seconds is killed;
- a worker that dies while not asked to is reported on stderr (exit code or
  signal) and replaced, unless it died before it was ready (a crash in
  the startup would only repeat): then it is not replaced, and the parent
  stops with status 1 once no worker is left;
- every worker holds the read end of a pipe whose write end only the parent
  holds: if the parent dies, even by SIGKILL, the workers see end-of-file
  and stop instead of serving on as orphans.

The parent must not have started a ws101 or asyncio loop before forking
(:func:`ws101.asgi.run` with ``workers > 1`` is meant to be a program's
main call). The application object is imported once, in the parent, and
inherited by the workers (as gunicorn's ``--preload``).
"""

from __future__ import annotations

import os
import select
import signal
import socket
import sys
import time
from typing import Callable, Dict, List, Optional

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def bind_socket(host: str, port: int, backlog: int = 511) -> socket.socket:
    """A TCP socket bound to ``host``:``port`` and listening, inheritable
    by child processes."""
    if host == "localhost":
        host = "127.0.0.1"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((host.strip("[]"), port))
        s.listen(backlog)
    except BaseException:
        s.close()
        raise
    return s


def _say(msg: str) -> None:
    sys.stderr.write("ws101.asgi: %s\n" % msg)
    sys.stderr.flush()


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        return "killed by %s" % name
    return "exit code %d" % os.waitstatus_to_exitcode(status)


class Supervisor:
    """Forks and watches the worker processes (see the module doc).

    ``serve(fd, stop_fd, ready)`` runs the server in a worker: it must
    adopt ``fd``, stop when ``stop_fd`` turns readable, and call
    ``ready()`` once accepting."""

    def __init__(self, serve: Callable[[int, int, Callable[[], None]], None],
                 sock: socket.socket, workers: int, banner: str,
                 graceful_timeout: float = 30.0):
        self.serve = serve
        self.sock = sock
        self.nworkers = workers
        self.banner = banner
        self.graceful_timeout = graceful_timeout
        self.pids: Dict[int, bool] = {}  # pid -> it reported ready
        self.stopping = False
        self.failed = False
        self.announced = False

    # -- worker side -----------------------------------------------------
    def _child(self, saved_mask: set) -> None:
        code = 1
        try:
            signal.set_wakeup_fd(-1)
            self._wake_r.close()
            self._wake_w.close()
            for fd in (self._ready_r, self._alive_w):
                os.close(fd)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_SETMASK, saved_mask)
            ready_w = self._ready_w

            def ready() -> None:
                # One short write to a pipe is atomic: lines never mix.
                os.write(ready_w, b"%d\n" % os.getpid())
                os.close(ready_w)
            # The server owns the listening descriptor it is given: a dup,
            # so that the socket object's own descriptor stays valid.
            self.serve(os.dup(self.sock.fileno()), self._alive_r, ready)
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        except KeyboardInterrupt:
            code = 0
        except BaseException:
            import traceback
            traceback.print_exc()
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)

    # -- parent side -----------------------------------------------------
    def _spawn(self) -> int:
        # Signals stay blocked across fork so that a worker never runs
        # the parent's handlers; the worker restores the mask itself.
        saved = signal.pthread_sigmask(signal.SIG_BLOCK,
                                       _STOP_SIGNALS + (signal.SIGCHLD,))
        try:
            pid = os.fork()
            if pid == 0:
                self._child(saved)  # never returns
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, saved)
        self.pids[pid] = False
        return pid

    def _reap(self) -> None:
        while self.pids:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.pids.clear()
                return
            if pid == 0:
                return
            if pid not in self.pids:
                continue
            was_ready = self.pids.pop(pid)
            clean = os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
            if self.stopping:
                if not clean:
                    self.failed = True
                    _say("worker %d ended: %s" % (pid, _describe(status)))
                continue
            _say("worker %d died: %s" % (pid, _describe(status)))
            if not was_ready:
                _say("worker %d died during startup: not replaced" % pid)
                self.failed = True
                if not self.pids:
                    self.stopping = True
                continue
            _say("started worker %d in its place" % self._spawn())

    def _read_ready(self) -> None:
        try:
            data = os.read(self._ready_r, 4096)
        except (BlockingIOError, InterruptedError):
            return
        for line in data.split():
            pid = int(line)
            if pid in self.pids:
                self.pids[pid] = True

    def _drain_wakeups(self) -> None:
        # The signal numbers themselves come through the handler.
        try:
            while self._wake_r.recv(512):
                pass
        except (BlockingIOError, InterruptedError):
            pass

    def _kill_all(self) -> None:
        for pid in list(self.pids):
            _say("worker %d still running after %.0f s: killed"
                 % (pid, self.graceful_timeout))
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.failed = True

    def _stop_workers(self) -> None:
        for pid in list(self.pids):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def run(self) -> int:
        """Serves until SIGINT/SIGTERM or until every worker failed;
        returns the exit status for the parent (0: all stopped cleanly)."""
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._ready_r, self._ready_w = os.pipe()
        self._alive_r, self._alive_w = os.pipe()
        os.set_blocking(self._ready_r, False)
        got: List[int] = []

        def on_signal(sig: int, _frame: object) -> None:
            got.append(sig)
        old = {s: signal.signal(s, on_signal)
               for s in _STOP_SIGNALS + (signal.SIGCHLD,)}
        old_wakeup = signal.set_wakeup_fd(self._wake_w.fileno())
        deadline: Optional[float] = None
        try:
            for _ in range(self.nworkers):
                self._spawn()
            while self.pids:
                if any(sig != signal.SIGCHLD for sig in got):
                    self.stopping = True
                del got[:]
                # Ready lines first: a worker that said it was ready and
                # then died was not a startup failure.
                self._read_ready()
                if not self.announced and not self.stopping and \
                        sum(self.pids.values()) >= self.nworkers:
                    self.announced = True
                    print(self.banner, flush=True)
                self._reap()
                if not self.pids:
                    break
                if self.stopping and deadline is None:
                    self._stop_workers()
                    deadline = time.monotonic() + self.graceful_timeout
                timeout: Optional[float] = None
                if deadline is not None:
                    timeout = deadline - time.monotonic()
                    if timeout <= 0:
                        self._kill_all()
                        deadline, timeout = float("inf"), None
                try:
                    select.select([self._wake_r, self._ready_r], [], [],
                                  timeout)
                except InterruptedError:
                    pass
                self._drain_wakeups()
        finally:
            signal.set_wakeup_fd(old_wakeup)
            for s, h in old.items():
                signal.signal(s, h)
            for fd in (self._ready_r, self._ready_w, self._alive_r,
                       self._alive_w):
                os.close(fd)
            self._wake_r.close()
            self._wake_w.close()
        return 1 if self.failed else 0

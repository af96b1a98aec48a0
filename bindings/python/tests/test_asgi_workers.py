"""python -m ws101.asgi APP --workers 2: two processes serving one port
(ws101_server_listen_fd on the socket the parent bound), driven
concurrently by the ws101.aio client and curl; SIGTERM stops every
process with its lifespan shutdown; a killed worker is reported and
replaced; a startup failure is not retried. A raw ASGI app
(asgi_apps/pid_app.py), so it runs in every venv."""
import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from _support import HERE, ws101

import ws101.aio

APPS = os.path.join(HERE, "asgi_apps")
DEADLINE = 30


class Proc:
    """The supervisor process; its stdout and stderr read by threads so
    that the test waits on lines with a deadline."""

    def __init__(self, *args, env=None):
        self.marker_dir = tempfile.mkdtemp(prefix="ws101-workers-")
        e = dict(os.environ, PYTHONPATH=APPS,
                 WS101_ASGI_MARKER_DIR=self.marker_dir)
        e.update(env or {})
        self.p = subprocess.Popen(
            [sys.executable, "-m", "ws101.asgi", "pid_app:app",
             "--host", "127.0.0.1", "--port", "0"] + list(args),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=e)
        self.cv = threading.Condition()
        self.out, self.err = [], []
        self.threads = [threading.Thread(target=self._pump, args=(f, lines),
                                         daemon=True)
                        for f, lines in ((self.p.stdout, self.out),
                                         (self.p.stderr, self.err))]
        for t in self.threads:
            t.start()

    def _pump(self, f, lines):
        for line in f:
            with self.cv:
                lines.append(line)
                self.cv.notify_all()
        with self.cv:
            lines.append(None)  # EOF
            self.cv.notify_all()

    def wait_line(self, lines, pattern, timeout=DEADLINE):
        """The first match of `pattern` in `lines`, or None at EOF or
        after `timeout` seconds."""
        end = time.monotonic() + timeout
        rx = re.compile(pattern)
        with self.cv:
            while True:
                for line in lines:
                    m = line is not None and rx.search(line)
                    if m:
                        return m
                if (lines and lines[-1] is None) or \
                        not self.cv.wait(end - time.monotonic()):
                    return None

    def stderr(self):
        with self.cv:
            return "".join(x for x in self.err if x)

    def close(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        for t in self.threads:
            t.join(DEADLINE)  # EOF: every process holding the pipes ended
        self.p.stdout.close()
        self.p.stderr.close()
        shutil.rmtree(self.marker_dir, ignore_errors=True)


def gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


class WorkersTest(unittest.TestCase):
    def start(self, *args, env=None):
        proc = Proc("--workers", "2", *args, env=env)
        self.addCleanup(proc.close)
        m = proc.wait_line(proc.out, r"listening on http://127\.0\.0\.1:(\d+)/")
        self.assertIsNotNone(m, proc.stderr())
        # Printed once, for both workers.
        return proc, int(m.group(1))

    async def _round(self, port, n_fetch=12, n_curl=4):
        url = "http://127.0.0.1:%d/busy" % port
        curl = shutil.which("curl")
        procs = []
        if curl:
            procs = [await asyncio.create_subprocess_exec(
                curl, "-sS", "--max-time", "10", url,
                stdout=subprocess.PIPE) for _ in range(n_curl)]
        resps = await asyncio.gather(*[ws101.aio.fetch(url)
                                       for _ in range(n_fetch)])
        bodies = [r.body for r in resps]
        for p in procs:
            out, _ = await p.communicate()
            self.assertEqual(p.returncode, 0)
            bodies.append(out)
        return [tuple(int(x) for x in b.split()) for b in bodies]

    def served_by(self, port, parent, want, timeout=DEADLINE):
        """Worker pids seen in concurrent rounds until `want(seen)` holds
        (or the deadline passes); every answer names `parent` as its
        worker's parent."""
        async def main():
            seen = set()
            end = time.monotonic() + timeout
            while not want(seen) and time.monotonic() < end:
                for pid, ppid in await self._round(port):
                    self.assertEqual(ppid, parent)
                    seen.add(pid)
            return seen
        return asyncio.run(asyncio.wait_for(main(), timeout + 15))

    def test_two_workers_share_the_port_and_sigterm_stops_all(self):
        proc, port = self.start()
        seen = self.served_by(port, proc.p.pid, lambda s: len(s) >= 2)
        self.assertEqual(len(seen), 2, "one worker served everything: %r"
                         % seen)
        proc.p.send_signal(signal.SIGTERM)
        try:
            rc = proc.p.wait(DEADLINE)
        except subprocess.TimeoutExpired:
            self.fail("supervisor still running %d s after SIGTERM"
                      % DEADLINE)
        self.assertEqual(rc, 0, proc.stderr())
        for pid in seen:  # reaped by the supervisor before it exited
            self.assertTrue(gone(pid), "worker %d outlived the supervisor"
                            % pid)
            with open(os.path.join(proc.marker_dir, "shutdown.%d" % pid)) as f:
                self.assertEqual(f.read(), "shutdown\n")  # lifespan ran
        self.assertEqual(sum(1 for x in proc.out if x and "listening" in x),
                         1)

    def test_killed_worker_is_reported_and_replaced(self):
        proc, port = self.start()
        seen = self.served_by(port, proc.p.pid, lambda s: len(s) >= 2)
        victim = min(seen)
        os.kill(victim, signal.SIGKILL)
        self.assertIsNotNone(proc.wait_line(
            proc.err, r"worker %d died: killed by SIGKILL" % victim),
            proc.stderr())
        m = proc.wait_line(proc.err, r"started worker (\d+) in its place")
        self.assertIsNotNone(m, proc.stderr())
        new = int(m.group(1))
        # The replacement serves too (the survivor meanwhile serves all).
        seen2 = self.served_by(port, proc.p.pid, lambda s: new in s)
        self.assertIn(new, seen2)
        self.assertNotIn(victim, seen2)
        proc.p.send_signal(signal.SIGINT)
        self.assertEqual(proc.p.wait(DEADLINE), 0, proc.stderr())
        for pid in seen2:
            self.assertTrue(gone(pid))

    def test_startup_failure_is_not_retried(self):
        proc = Proc("--workers", "2", "--lifespan", "on",
                    env={"WS101_ASGI_FAIL_STARTUP": "1"})
        self.addCleanup(proc.close)
        try:
            rc = proc.p.wait(DEADLINE)
        except subprocess.TimeoutExpired:
            self.fail("supervisor kept restarting failing workers")
        self.assertEqual(rc, 1)
        err = proc.stderr()
        self.assertEqual(err.count("died during startup: not replaced"), 2,
                         err)
        self.assertIsNone(proc.wait_line(proc.out, r"listening", 1), err)


if __name__ == "__main__":
    unittest.main()

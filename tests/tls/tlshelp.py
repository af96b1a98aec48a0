"""Shared helpers for the TLS tests: a throw-away PKI made with the openssl
command, and the tls_server test program run with a deadline on every wait
(never a bare sleep) and stopped with an asserted clean exit."""
import os
import selectors
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import demo  # noqa: E402  (skip(), Demo, SANITIZER_RE)

T = 20.0  # seconds for any single wait (ASan builds are slow)


def need(cmd, why):
    path = shutil.which(cmd)
    if path is None:
        demo.skip("%s is not installed (%s)" % (cmd, why))
    return path


def make_pki():
    """Creates the certificates of make_certs.sh in a new temp dir."""
    need("openssl", "apt-get install openssl")
    d = tempfile.mkdtemp(prefix="ws101-pki-")
    subprocess.run(["bash", os.path.join(HERE, "make_certs.sh"), d],
                   check=True, timeout=120)
    return d


class Proc:
    """A test server process that prints "NAME PORT" lines, then "ready"."""

    def __init__(self, args, env=None):
        e = dict(os.environ)
        e.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        if env:
            e.update(env)
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=e)
        self.ports = {}
        self.err = []
        threading.Thread(target=self._drain, daemon=True).start()
        deadline = time.monotonic() + T
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        buf = b""
        while b"ready\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                raise AssertionError("server not ready in %.0fs: %r %s" %
                                     (T, buf, self.stderr()))
            if not sel.select(timeout=left):
                continue
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            if not chunk:
                self.proc.wait(timeout=T)
                raise AssertionError("server exited early (%s): %r %s" %
                                     (self.proc.returncode, buf,
                                      self.stderr()))
            buf += chunk
        sel.close()
        for line in buf.decode().splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1].isdigit():
                self.ports[parts[0]] = int(parts[1])

    def _drain(self):
        for chunk in iter(lambda: self.proc.stderr.read1(65536), b""):
            self.err.append(chunk)

    def stderr(self):
        return b"".join(self.err).decode("utf-8", "replace")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=T)

    def stop(self):
        """Closes stdin (the server's stop signal) and asserts a clean
        exit: code 0 and no sanitizer report."""
        try:
            self.proc.stdin.close()
            rc = self.proc.wait(timeout=T)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("server did not stop in %.0fs" % T)
        text = self.stderr()
        if rc != 0 or demo.SANITIZER_RE.search(text):
            raise AssertionError("server exit %s, stderr:\n%s" % (rc, text))


def tls_server(pki, *extra, cert="server", env=None):
    binary = os.environ.get("WS101_TLS_SERVER")
    if not binary or not os.access(binary, os.X_OK):
        demo.skip("WS101_TLS_SERVER (the tls_server test program) not set")
    return Proc([binary, "--cert", os.path.join(pki, cert + ".pem"),
                 "--key", os.path.join(pki, cert + ".key")] + list(extra),
                env=env)

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


NGINX_CONF = """
%(user)s
worker_processes 1;
events { worker_connections 64; }
http {
    access_log %(dir)s/access.log;
    client_body_temp_path %(dir)s/cb;
    proxy_temp_path %(dir)s/px;
    fastcgi_temp_path %(dir)s/fc;
    uwsgi_temp_path %(dir)s/uw;
    scgi_temp_path %(dir)s/sc;
    log_format tls '$request $ssl_protocol reused=$ssl_session_reused';
    server {
        listen 127.0.0.1:%(port)d ssl;
        server_name localhost;
        ssl_certificate %(cert)s;
        ssl_certificate_key %(key)s;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_tickets on;
        access_log %(dir)s/tls.log tls;
        location / { return 200 "nginx over tls\\n"; }
    }
}
"""


class Nginx:
    """nginx with TLS on a free port, in the foreground; ready once its
    master logs 'start worker process' (after the socket is bound)."""

    def __init__(self, cert, key):
        import re
        self.bin = os.environ.get("WS101_NGINX") or (
            "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK)
            else shutil.which("nginx"))
        if not self.bin:
            demo.skip("nginx is not installed (apt-get install nginx-light)")
        self.dir = tempfile.mkdtemp(prefix="ws101-nginx-tls-")
        os.chmod(self.dir, 0o755)
        last = ""
        for _ in range(3):  # free_port() may race: bounded retries
            self.port = demo.free_port()
            conf = os.path.join(self.dir, "nginx.conf")
            with open(conf, "w") as f:
                f.write(NGINX_CONF % dict(
                    dir=self.dir, port=self.port, cert=cert, key=key,
                    user="user root;" if os.geteuid() == 0 else ""))
            self.proc = subprocess.Popen(
                [self.bin, "-p", self.dir + "/", "-c", conf, "-g",
                 "daemon off; master_process on; pid %s/nginx.pid; "
                 "error_log stderr notice;" % self.dir],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE)
            buf = b""
            deadline = time.monotonic() + T
            sel = selectors.DefaultSelector()
            sel.register(self.proc.stderr, selectors.EVENT_READ)
            ok = False
            while time.monotonic() < deadline:
                if not sel.select(timeout=max(0, deadline - time.monotonic())):
                    continue
                chunk = os.read(self.proc.stderr.fileno(), 4096)
                if not chunk:
                    break
                buf += chunk
                if re.search(rb"start worker process \d+", buf):
                    ok = True
                    break
            sel.close()
            if ok:
                threading.Thread(target=self._drain, daemon=True).start()
                return
            last = buf.decode("utf-8", "replace")
            self.stop()
            if "Address already in use" not in last:
                break
        raise AssertionError("nginx did not start:\n%s" % last)

    def _drain(self):
        for chunk in iter(lambda: self.proc.stderr.read1(65536), b""):
            pass

    def log(self):
        """Lines of the TLS access log (nginx writes them per request)."""
        path = os.path.join(self.dir, "tls.log")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return f.read().splitlines()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=T)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=T)

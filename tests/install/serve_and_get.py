#!/usr/bin/env python3
"""Starts an example server, fetches a page from it, stops it.

    serve_and_get.py PATH EXPECT_SUBSTRING -- COMMAND [ARGS...]

COMMAND must print "listening on http://HOST:PORT/" on stdout (the examples
do, with port 0 picking a free one). Waits for that line (10 s deadline, on
the pipe, no polling), GETs PATH, checks the status is 200 and the body
contains EXPECT_SUBSTRING, then stops the server with SIGTERM. Exit 0 on
success; on failure prints why and the server's output.
"""
import os
import re
import selectors
import signal
import subprocess
import sys
import time
import urllib.request


def main():
    path, expect = sys.argv[1], sys.argv[2]
    cmd = sys.argv[sys.argv.index("--") + 1:]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out, url = b"", None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + 10
    try:
        while url is None:
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                raise SystemExit("FAIL: no 'listening on' line within 10 s")
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                raise SystemExit("FAIL: exited (%s) before listening"
                                 % proc.wait())
            out += chunk
            m = re.search(rb"listening on (http://[^\s/]+)/", out)
            if m:
                url = m.group(1).decode() + path
        with urllib.request.urlopen(url, timeout=10) as r:
            body = r.read().decode("utf-8", "replace")
            if r.status != 200 or expect not in body:
                raise SystemExit("FAIL: GET %s -> %d %r" % (url, r.status,
                                                            body[:200]))
        print("    ok: GET %s -> 200, %r" % (url, body[:40]))
    except BaseException:
        print(out.decode("utf-8", "replace"), file=sys.stderr)
        raise
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Shared helpers of the ws101 binding tests (stdlib only).

Import ws101 from here: the tests must use the *installed* package, so a
source checkout (bindings/python/ws101 without a built extension) that
happens to be on sys.path is removed first.
"""
import os
import shutil
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
PYROOT = os.path.dirname(HERE)  # bindings/python


def _drop_unbuilt_source_tree():
    pkg = os.path.join(PYROOT, "ws101")
    built = any(n.startswith("_ws101") and n.endswith(".so")
                for n in os.listdir(pkg)) if os.path.isdir(pkg) else False
    if built:
        return
    for p in list(sys.path):
        if os.path.abspath(p or os.getcwd()) == PYROOT:
            sys.path.remove(p)


_drop_unbuilt_source_tree()
import ws101  # noqa: E402

SYSTEM_PYTHON = "/usr/bin/python3"


def loud_skip(test, reason):
    """Skips `test` and says so on stderr, so a skip is never silent."""
    sys.stderr.write("\n*** SKIP %s: %s\n" % (test.id(), reason))
    sys.stderr.flush()
    raise unittest.SkipTest(reason)


def need_exe(test, name):
    path = shutil.which(name)
    if not path:
        loud_skip(test, "%s not found on PATH" % name)
    return path


def need_system_websockets(test):
    if not os.path.exists(SYSTEM_PYTHON):
        loud_skip(test, "%s missing" % SYSTEM_PYTHON)
    r = subprocess.run([SYSTEM_PYTHON, "-c", "import websockets"],
                       capture_output=True)
    if r.returncode != 0:
        loud_skip(test, "python3-websockets not installed for %s "
                  "(apt-get install python3-websockets)" % SYSTEM_PYTHON)
    return SYSTEM_PYTHON


def run_proc_with_loop(loop, argv, timeout=30, **kw):
    """Starts argv, runs `loop` until it exits; returns CompletedProcess."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)
    try:
        loop.run_until(lambda: proc.poll() is not None, timeout)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    out, err = proc.communicate()
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def stats():
    """(live callback contexts, live request states) of the C glue."""
    return ws101._ws101.ws101py_stats()

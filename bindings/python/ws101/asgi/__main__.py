"""python -m ws101.asgi MODULE:APP [--host H] [--port P] [--workers N]

Imports APP from MODULE (the current directory is on the path, as with
uvicorn; ``--factory`` calls it first) and serves it with
:func:`ws101.asgi.run`. ``--workers N`` binds the port once and forks N
worker processes that share it, each with its own asyncio loop (an ASGI
app runs under the GIL, so threads would not help); the app is imported
once, before the fork. SIGINT/SIGTERM stops them all gracefully.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from typing import Any, List, Optional


def load_app(spec: str, factory: bool = False) -> Any:
    """Imports ``MODULE:ATTR`` (ATTR may be dotted)."""
    mod_name, _, attr = spec.partition(":")
    if not mod_name or not attr:
        raise SystemExit("ws101.asgi: expected MODULE:APP, got %r" % spec)
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        obj: Any = importlib.import_module(mod_name)
    except ImportError as e:
        raise SystemExit("ws101.asgi: cannot import %r: %s" % (mod_name, e))
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise SystemExit("ws101.asgi: %r has no attribute %r"
                             % (mod_name, attr)) from None
    return obj() if factory else obj


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ws101.asgi",
                                description="Serve an ASGI application "
                                "with libws101.")
    p.add_argument("app", help="MODULE:APP, e.g. main:app")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000,
                   help="0 picks a free port")
    p.add_argument("--workers", type=int, default=1,
                   help="worker processes sharing the port (default 1)")
    p.add_argument("--graceful-timeout", type=float, default=30.0,
                   help="seconds a worker may take to stop before it is "
                   "killed (with --workers)")
    p.add_argument("--loop", choices=("auto", "asyncio", "uvloop"),
                   default="auto")
    p.add_argument("--lifespan", choices=("auto", "on", "off"),
                   default="auto")
    p.add_argument("--root-path", default="")
    p.add_argument("--factory", action="store_true",
                   help="APP is a callable returning the application")
    p.add_argument("--log-level", default="info")
    a = p.parse_args(argv)
    if a.workers < 1:
        p.error("--workers must be at least 1")
    logging.basicConfig(level=a.log_level.upper(),
                        format="%(levelname)s %(name)s: %(message)s")
    app = load_app(a.app, a.factory)
    from . import run
    return run(app, a.host, a.port, workers=a.workers, loop=a.loop,
               lifespan=a.lifespan, root_path=a.root_path,
               graceful_timeout=a.graceful_timeout)


if __name__ == "__main__":
    sys.exit(main())

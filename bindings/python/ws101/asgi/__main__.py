"""python -m ws101.asgi MODULE:APP [--host H] [--port P] [--workers N]

Imports APP from MODULE (the current directory is on the path, as with
uvicorn; ``--factory`` calls it first) and serves it with
:func:`ws101.asgi.run`. ``--workers N`` other than 1 is refused with a
clear message: an ASGI app needs an asyncio loop, and :class:`ws101.Workers`
runs its worker loops on libws101's own threads, not under asyncio (see
bindings/python/README.md).
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
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--loop", choices=("auto", "asyncio", "uvloop"),
                   default="auto")
    p.add_argument("--lifespan", choices=("auto", "on", "off"),
                   default="auto")
    p.add_argument("--root-path", default="")
    p.add_argument("--factory", action="store_true",
                   help="APP is a callable returning the application")
    p.add_argument("--log-level", default="info")
    a = p.parse_args(argv)
    if a.workers != 1:
        p.error("--workers %d: only 1 worker is supported: ASGI apps need an "
                "asyncio loop, and ws101.Workers runs its loops on "
                "libws101's threads (use ws101.Workers with the callback "
                "API, or several processes behind a balancer)" % a.workers)
    logging.basicConfig(level=a.log_level.upper(),
                        format="%(levelname)s %(name)s: %(message)s")
    app = load_app(a.app, a.factory)
    from . import run
    run(app, a.host, a.port, loop=a.loop, lifespan=a.lifespan,
        root_path=a.root_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

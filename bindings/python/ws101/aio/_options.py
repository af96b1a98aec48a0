"""Keyword options of ws101.aio: the C option names (``ws_max_message``,
``ws_ping_interval_ms``, ``deflate``, ``subprotocols``, ...; see
:class:`ws101.Options`) plus the spellings ``websockets`` users bring
along, translated here so that moving over is an import change."""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple


def _ms(seconds: Optional[float]) -> int:
    # websockets: None disables; libws101: 0 disables.
    return 0 if seconds is None else max(1, int(seconds * 1000))


def translate(kw: Dict[str, Any]) -> Dict[str, Any]:
    """Returns the C option keywords for ``kw`` (websockets aliases
    translated; unknown names are left for :class:`ws101.Options` to
    reject)."""
    out = dict(kw)
    if "max_size" in out:
        v = out.pop("max_size")
        out["ws_max_message"] = (1 << 62) if v is None else int(v)
    if "ping_interval" in out:
        out["ws_ping_interval_ms"] = _ms(out.pop("ping_interval"))
    if "ping_timeout" in out:
        out["ws_pong_timeout_ms"] = _ms(out.pop("ping_timeout"))
    if "close_timeout" in out:
        out["ws_close_timeout_ms"] = _ms(out.pop("close_timeout"))
    if "compression" in out:
        v = out.pop("compression")
        if v not in (None, "deflate"):
            raise ValueError("compression must be 'deflate' or None")
        out["deflate"] = v is not None
    if "extra_headers" in out:
        v = out.pop("extra_headers")
        if v:
            out["headers"] = v
    if "origins" in out and out["origins"] is None:
        del out["origins"]
    if "subprotocols" in out and out["subprotocols"] is None:
        del out["subprotocols"]
    return out


def split(kw: Dict[str, Any], *names: str) -> Tuple[Dict[str, Any], ...]:
    """Pops the Python-side keywords ``names`` out of ``kw``; returns
    (those, the rest)."""
    mine = {n: kw.pop(n) for n in names if n in kw}
    return mine, kw

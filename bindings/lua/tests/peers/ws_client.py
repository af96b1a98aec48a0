#!/usr/bin/python3
"""Python `websockets` (an independent RFC 6455/7692 client) against a ws101
Lua server: echoes text, binary and a 1 MiB message, checks the
subprotocol and permessage-deflate, then closes with 1000.

    /usr/bin/python3 ws_client.py URL [--subprotocol P] [--expect-close CODE]

Prints one line per check ("ok text", ...); exits 0 when all passed.
"""
import asyncio
import sys

import websockets


async def main(url, subprotocol, expect_close):
    kw = {"subprotocols": [subprotocol]} if subprotocol else {}
    async with websockets.connect(url, max_size=1 << 24, **kw) as ws:
        if subprotocol:
            assert ws.subprotocol == subprotocol, ws.subprotocol
            print("ok subprotocol", ws.subprotocol)
        ext = ws.response_headers.get("Sec-WebSocket-Extensions", "")
        assert "permessage-deflate" in ext, ext
        print("ok deflate", ext)
        if expect_close:
            await ws.send("boom")
            try:
                await asyncio.wait_for(ws.recv(), 20)
            except websockets.ConnectionClosed as e:
                assert e.code == expect_close, e.code
                print("ok close", e.code, e.reason)
                return 0
            raise AssertionError("expected a close")
        await ws.send("héllo wörld")
        assert await ws.recv() == "héllo wörld"
        print("ok text")
        await ws.send(bytes(range(256)))
        assert await ws.recv() == bytes(range(256))
        print("ok binary")
        big = ("0123456789abcdef" * 65536)
        await ws.send(big)
        assert await ws.recv() == big
        print("ok 1MiB")
        await ws.close(1000, "done")
        print("ok closed")
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    url = args.pop(0)
    sub = None
    close = None
    while args:
        a = args.pop(0)
        if a == "--subprotocol":
            sub = args.pop(0)
        elif a == "--expect-close":
            close = int(args.pop(0))
    sys.exit(asyncio.run(asyncio.wait_for(main(url, sub, close), 30)))

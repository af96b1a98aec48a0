#!/usr/bin/python3
"""Echo peer: Python `websockets` (Debian python3-websockets).

usage: py_websockets_echo.py PORT  -- WebSocket echo at ws://127.0.0.1:PORT/ws
Prints "listening on http://127.0.0.1:PORT/" once ready, like ws101-demo.
permessage-deflate is on by default in websockets (negotiated when offered).
"""
import asyncio
import sys

import websockets


async def echo(ws, path=None):
    # websockets >= 10.1 passes only ws; older versions pass (ws, path)
    async for msg in ws:
        await ws.send(msg)


async def main(port):
    async with websockets.serve(echo, "127.0.0.1", port, max_size=None,
                                ping_interval=None, backlog=4096):
        print(f"listening on http://127.0.0.1:{port}/", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    try:
        asyncio.run(main(int(sys.argv[1])))
    except KeyboardInterrupt:
        pass

#!/usr/bin/python3
"""Echo peer: ws101.aio, the binding's asyncio API, written exactly as the
`websockets` peer (py_websockets_echo.py) is, so the rows compare the
libraries and not the programs.

usage: py_ws101_aio_echo.py PORT [--uvloop]
"""
import asyncio
import sys

import ws101.aio


async def echo(ws):
    async for msg in ws:
        await ws.send(msg)


async def main(port):
    async with ws101.aio.serve(echo, "127.0.0.1", port, max_size=None,
                               ping_interval=None):
        print(f"listening on http://127.0.0.1:{port}/", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    if "--uvloop" in sys.argv[2:]:
        import uvloop
        uvloop.install()
    try:
        asyncio.run(main(int(sys.argv[1])))
    except KeyboardInterrupt:
        pass

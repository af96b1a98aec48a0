#!/usr/bin/python3
"""Echo peer: Python aiohttp (Debian python3-aiohttp).

usage: py_aiohttp_echo.py PORT  -- WebSocket echo at /ws, "hello" at /hello.
Prints "listening on http://127.0.0.1:PORT/" once ready.
aiohttp negotiates permessage-deflate when offered (compress=True default).
"""
import asyncio
import sys

from aiohttp import WSMsgType, web


async def ws_echo(request):
    ws = web.WebSocketResponse(max_msg_size=0, autoping=True)
    await ws.prepare(request)
    async for msg in ws:
        if msg.type == WSMsgType.TEXT:
            await ws.send_str(msg.data)
        elif msg.type == WSMsgType.BINARY:
            await ws.send_bytes(msg.data)
    return ws


async def hello(request):
    return web.Response(text="hello")


async def main(port):
    app = web.Application()
    app.router.add_get("/ws", ws_echo)
    app.router.add_get("/hello", hello)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=4096)
    await site.start()
    print(f"listening on http://127.0.0.1:{port}/", flush=True)
    await asyncio.Future()


if __name__ == "__main__":
    try:
        asyncio.run(main(int(sys.argv[1])))
    except KeyboardInterrupt:
        pass

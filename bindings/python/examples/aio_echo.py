#!/usr/bin/env python3
"""The asyncio echo server (ws101.aio): WebSocket echo on every path, a
JSON status route on /status, and a once-a-second tick to every client
(ws101 timer on the asyncio loop).

    python3 aio_echo.py [--host 127.0.0.1] [--port 8765]   (0 = free port)

Prints "listening on http://HOST:PORT/" once it accepts connections.
"""
import argparse
import asyncio
import json

import ws101
import ws101.aio


async def echo(ws):
    async for message in ws:
        await ws.send(message)


async def main(host, port):
    async with ws101.aio.serve(echo, host, port) as server:
        @server.route("/status")
        async def status(req):
            return 200, json.dumps({"connections": len(server.connections)})

        async def send_tick(ws):
            try:
                await ws.send("tick")
            except ws101.ConnectionClosed:
                pass  # it left meanwhile

        def tick():
            for ws in list(server.connections):
                asyncio.ensure_future(send_tick(ws))
        ws101.aio.get_loop().call_every(1.0, tick)
        print("listening on http://%s:%d/" % (host, server.port), flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765)
    a = p.parse_args()
    try:
        asyncio.run(main(a.host, a.port))
    except KeyboardInterrupt:
        pass

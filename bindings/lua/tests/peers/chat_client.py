"""A `websockets` chat peer for the pub/sub tests: connects to argv[1],
sends "from py", and once every message named in argv[2:] has arrived
(its own included) prints them, one per line, and closes."""
import asyncio
import sys

import websockets


async def main():
    want = set(sys.argv[2:])
    got = []
    async with websockets.connect(sys.argv[1]) as ws:
        await ws.send("from py")
        while not want <= set(got):
            m = await asyncio.wait_for(ws.recv(), 20)
            got.append(m if isinstance(m, str) else "bytes:" + m.hex())
    for m in got:
        print("got " + m, flush=True)


asyncio.run(main())

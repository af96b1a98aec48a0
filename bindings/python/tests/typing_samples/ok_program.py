"""A user program type-checked with mypy against the installed ws101
(test_api): it must pass."""
import ws101
import ws101.aio
import ws101.asgi


async def echo(ws: ws101.aio.ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


async def main() -> int:
    async with ws101.aio.serve(echo, "127.0.0.1", 0) as server:
        port: int = server.port
        r = await ws101.aio.fetch("http://127.0.0.1:%d/" % port)
        async with ws101.aio.connect("ws://127.0.0.1:%d/" % port) as ws:
            await ws.send("hi")
            reply: ws101.aio.Data = await ws.recv()
            del reply
        status: int = r.status
        return status


version: str = ws101.__version__
asgi_server: ws101.asgi.Server = ws101.asgi.serve(echo, "127.0.0.1", 0)

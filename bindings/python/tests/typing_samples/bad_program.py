"""mypy must reject this (test_api): the port is an int."""
import ws101.aio


async def main() -> None:
    async with ws101.aio.serve(lambda ws: ws.recv(), "127.0.0.1", 0) as s:
        port: str = s.port  # line 7: the error mypy must find
        del port

"""The ASGI application every ASGI server of the bench runs (ws101.asgi,
uvicorn, hypercorn): a Starlette hello route at /hello (wrk) and a
WebSocket echo at /ws (wsload). Debian python3-starlette."""
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute


async def hello(request):
    return PlainTextResponse("Hello, World!")


async def ws_echo(websocket):
    await websocket.accept()
    while True:
        msg = await websocket.receive()
        if msg["type"] == "websocket.disconnect":
            return
        if msg.get("text") is not None:
            await websocket.send_text(msg["text"])
        else:
            await websocket.send_bytes(msg["bytes"])


app = Starlette(routes=[Route("/hello", hello), WebSocketRoute("/ws", ws_echo)])

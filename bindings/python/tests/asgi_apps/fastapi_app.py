"""The FastAPI application test_asgi.py serves with python -m ws101.asgi:
JSON routes, a streaming response, a WebSocket endpoint, and raw ASGI
routes for the spec's edge cases (mounted under /raw)."""
import asyncio
import os

from fastapi import FastAPI, WebSocket
from fastapi.responses import StreamingResponse

app = FastAPI()
events = {"disconnects": 0, "started": False}


@app.on_event("startup")
async def startup():
    events["started"] = True


@app.on_event("shutdown")
async def shutdown():
    marker = os.environ.get("WS101_ASGI_SHUTDOWN_MARKER")
    if marker:
        with open(marker, "w") as f:
            f.write("shutdown\n")


@app.get("/")
async def root():
    return {"hello": "world", "started": events["started"]}


@app.post("/items")
async def items(item: dict):
    return {"got": item, "n": len(item)}


@app.get("/stream")
async def stream():
    async def gen():
        for i in range(5):
            yield b"chunk%d\n" % i
            await asyncio.sleep(0.005)
    return StreamingResponse(gen(), media_type="text/plain")


@app.get("/events")
async def get_events():
    return events


@app.websocket("/ws")
async def ws(websocket: WebSocket):
    subs = websocket.scope.get("subprotocols") or []
    await websocket.accept(subprotocol=subs[0] if subs else None)
    while True:
        msg = await websocket.receive()
        if msg["type"] == "websocket.disconnect":
            return
        if msg.get("text") is not None:
            if msg["text"] == "close-4000":
                await websocket.close(code=4000)
                return
            await websocket.send_text("echo:" + msg["text"])
        else:
            await websocket.send_bytes(msg["bytes"][::-1])


async def raw(scope, receive, send):
    """Plain ASGI for the edge cases FastAPI would hide."""
    # Mount passes the rest of the path (older Starlette) or all of it.
    path = "/raw" + scope["path"] if not scope["path"].startswith("/raw/") \
        else scope["path"]
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        if path == "/raw/deny":
            await send({"type": "websocket.close", "code": 1000})
        elif path == "/raw/deny-custom":
            await send({"type": "websocket.http.response.start",
                        "status": 401,
                        "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "websocket.http.response.body",
                        "body": b"go away"})
        return  # /raw/noaccept: returns without accepting -> 403
    if path == "/raw/twice":
        await send({"type": "http.response.start", "status": 200,
                    "headers": []})
        await send({"type": "http.response.start", "status": 200,
                    "headers": []})
    elif path == "/raw/forever":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
        # stream until the client leaves; the server must say so
        first = await receive()
        assert first["type"] == "http.request", first
        waiter = asyncio.ensure_future(receive())
        try:
            while not waiter.done():
                await send({"type": "http.response.body", "body": b"tick\n",
                            "more_body": True})
                await asyncio.sleep(0.01)
        except OSError:
            pass  # send() after the disconnect: ClientDisconnected
        msg = await waiter
        if msg["type"] == "http.disconnect":
            events["disconnects"] += 1
    elif path == "/raw/upload":
        total, pieces = 0, 0
        while True:
            msg = await receive()
            total += len(msg.get("body", b""))
            pieces += 1
            if not msg.get("more_body"):
                break
        body = b"%d bytes in %d pieces" % (total, pieces)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"%d" % len(body))]})
        await send({"type": "http.response.body", "body": body})


app.mount("/raw", raw)

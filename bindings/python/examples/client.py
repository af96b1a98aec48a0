#!/usr/bin/env python3
"""A ws101 WebSocket client: sends each word, prints each echo, closes.

    python3 client.py ws://127.0.0.1:8080/ws hello world

Exits 0 when every word came back, 1 otherwise.
"""
import sys

import ws101


def main(argv):
    if len(argv) < 2:
        print("usage: client.py URL [WORD...]", file=sys.stderr)
        return 2
    url, words = argv[1], argv[2:]
    echoes = []
    state = {}

    def on_open(ws):
        if words:
            ws.send(words[0])
        else:
            ws.close(1000, "done")

    def on_message(ws, data):
        echoes.append(data)
        print(data if isinstance(data, str) else data.decode("utf-8", "replace"),
              flush=True)
        if len(echoes) < len(words):
            ws.send(words[len(echoes)])
        else:
            ws.close(1000, "done")

    def on_error(ws, err):
        state["error"] = err

    with ws101.Loop() as loop:
        ws = ws101.connect(url, loop=loop, on_open=on_open,
                           on_message=on_message, on_error=on_error)
        loop.run_until(lambda: ws.closed, timeout=30)
    if "error" in state:
        print("error: %s (%s)" % (state["error"], state["error"].name),
              file=sys.stderr)
        return 1
    return 0 if echoes == words else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))

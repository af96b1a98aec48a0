/* fuzz_ws_client.c - libFuzzer target for the WebSocket client's opening
 * handshake and what follows it: the real ws101_ws_connect code reads the
 * input as the server's answer (status line, Upgrade / Connection /
 * Sec-WebSocket-Accept / -Protocol / -Extensions checks, the
 * permessage-deflate response negotiation) and then, after a 101 it
 * accepts, as frames for the client engine. The fuzzer cannot know the
 * random key, so every "@ACCEPT@" in the input is replaced by the accept
 * value of the key the client really sent: valid handshakes are reachable
 * and the engine behind them gets fuzzed too. Invariants: events in order
 * (OPEN at most once and first, ERROR only without OPEN, exactly one CLOSE,
 * last, with a valid code), nothing leaked.
 *
 * Input: byte 0 = mode (bits 0-2 read split, bit 3 no deflate offer, bit 4
 * offer subprotocols "chat, superchat"), then the server's bytes. */
#include <poll.h>

#include "fuzz_client_peer.h"
#include "proto/ws_handshake.h"

typedef struct state {
  int open, error, close, msgs;
} state;

static void on_ws(ws101_ws *ws, int ev, const char *data, size_t len, int arg,
                  void *ud) {
  state *s = ud;
  CHECK(!s->close);
  switch (ev) {
  case WS101_WS_OPEN:
    CHECK(!s->open && !s->error);
    s->open = 1;
    CHECK(ws101_ws_response_status(ws) == 101);
    (void)ws101_ws_subprotocol(ws);
    (void)ws101_ws_extensions(ws);
    /* Exercise the client's masking and compression on the way out. */
    ws101_ws_send(ws, "hello hello hello hello hello hello hello hello hello "
                      "hello hello",
                  65, WS101_OP_TEXT);
    break;
  case WS101_WS_TEXT:
  case WS101_WS_BINARY:
  case WS101_WS_FRAGMENT:
  case WS101_WS_PING:
  case WS101_WS_PONG:
    CHECK(s->open);
    CHECK(data != NULL || len == 0);
    if (++s->msgs == 3) ws101_ws_close(ws, 1000, "enough");
    break;
  case WS101_WS_ERROR:
    CHECK(!s->open && !s->error);
    CHECK(arg < 0 && data != NULL);
    s->error = 1;
    break;
  case WS101_WS_CLOSE:
    CHECK(arg >= 1000 && arg <= 4999);
    s->close = 1;
    break;
  default:
    break;
  }
}

/* The request the client sent, read from our end of the pair. */
static size_t read_request(ws101_loop *loop, char *buf, size_t cap) {
  struct pollfd p;
  int i;
  size_t n = 0;
  for (i = 0; i < 1000; i++) {
    ssize_t r;
    p.fd = peer_fd[1];
    p.events = POLLIN;
    p.revents = 0;
    if (poll(&p, 1, 0) == 1) {
      r = read(peer_fd[1], buf + n, cap - 1 - n);
      if (r <= 0) break;
      n += (size_t)r;
      buf[n] = '\0';
      if (strstr(buf, "\r\n\r\n") != NULL) break;
      continue;
    }
    if (ws101_loop_run_once(loop, 1) == 0) break;
  }
  buf[n] = '\0';
  return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char mark[] = "@ACCEPT@";
  ws101_loop *loop;
  ws101_options *o;
  state s;
  char req[8192], accept[29] = "";
  const char *k;
  uint8_t *out;
  size_t i, n = 0;
  if (size < 1 || size > 65536) return 0;
  memset(&s, 0, sizeof(s));
  peer_open();
  peer_splits(data[0]);
  loop = shared_loop();
  CHECK(ws101_options_new(&o) == 0);
  ws101_options_set(o, WS101_OPT_DEFLATE, (data[0] & 8) ? 0 : 1);
  if (data[0] & 16) {
    ws101_options_add_subprotocol(o, "chat");
    ws101_options_add_subprotocol(o, "superchat");
  }
  ws101_options_set(o, WS101_OPT_WS_MAX_MESSAGE, 65536);
  ws101_options_set(o, WS101_OPT_WS_HANDSHAKE_TIMEOUT_MS, 2000);
  ws101_options_set(o, WS101_OPT_WS_CLOSE_TIMEOUT_MS, 200);
  CHECK(ws101_ws_connect(loop, "ws://127.0.0.1:9/chat", o, on_ws, &s, NULL) ==
        0);
  ws101_options_free(o);
  read_request(loop, req, sizeof(req));
  k = strstr(req, "Sec-WebSocket-Key: ");
  if (k != NULL) {
    const char *e;
    k += 19;
    e = strstr(k, "\r\n");
    if (e != NULL) ws101__ws_accept_key(k, (size_t)(e - k), accept);
  }
  /* The input with each mark replaced by the real accept value. */
  out = malloc(size / (sizeof(mark) - 1) * 28 + size + 1);
  CHECK(out != NULL);
  for (i = 1; i < size;) {
    if (accept[0] && size - i >= sizeof(mark) - 1 &&
        memcmp(data + i, mark, sizeof(mark) - 1) == 0) {
      memcpy(out + n, accept, 28);
      n += 28;
      i += sizeof(mark) - 1;
    } else {
      out[n++] = data[i++];
    }
  }
  peer_send(out, n);
  free(out);
  CHECK(ws101_loop_run(loop) == 0);
  CHECK(s.close == 1);
  settle(loop);
  peer_close();
  return 0;
}

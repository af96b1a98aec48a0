/* fuzz_http1_client.c - libFuzzer target for the HTTP/1.1 client's
 * response handling: the real ws101_fetch code (head parsing, interim 1xx,
 * 101 refusal, HEAD/204/304 and chunked / Content-Length / close-delimited
 * bodies, buffered bodies under WS101_OPT_MAX_BODY, keep-alive decisions)
 * reads the input as the server's answer to one GET or HEAD. Invariants:
 * exactly one final event (DONE or ERROR), body only after the head, a
 * buffered body within its limit, nothing leaked (ASan/LSan).
 *
 * Input: byte 0 = mode (bits 0-2 read split, bit 3 buffered body, bit 4
 * HEAD, bit 5 keep-alive), then the response bytes. */
#include "fuzz_client_peer.h"

typedef struct state {
  int response, done, error, buffered;
  size_t body;
} state;

static void on_fetch(ws101_fetch *f, int ev, const char *data, size_t len,
                     int arg, void *ud) {
  state *s = ud;
  size_t i, n;
  switch (ev) {
  case WS101_FETCH_RESPONSE:
    CHECK(!s->response && !s->done && !s->error);
    s->response = 1;
    CHECK(ws101_fetch_status(f) >= 100 && ws101_fetch_status(f) <= 999);
    n = ws101_fetch_header_count(f);
    for (i = 0; i < n; i++) {
      CHECK(ws101_fetch_header_name(f, i) != NULL);
      CHECK(ws101_fetch_header_value(f, i) != NULL);
    }
    CHECK(ws101_fetch_header_name(f, n) == NULL);
    (void)ws101_fetch_header(f, "content-length");
    break;
  case WS101_FETCH_BODY:
    CHECK(s->response && !s->done && !s->error);
    CHECK(data != NULL || len == 0);
    s->body += len;
    if (s->buffered) CHECK(s->body <= 4096);
    break;
  case WS101_FETCH_DONE:
    CHECK(s->response && !s->done && !s->error);
    s->done = 1;
    break;
  case WS101_FETCH_ERROR:
    CHECK(!s->done && !s->error);
    CHECK(arg < 0 && data != NULL);
    s->error = 1;
    break;
  default:
    break;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ws101_loop *loop;
  ws101_options *o;
  ws101_fetch *f;
  state s;
  if (size < 1 || size > 65536) return 0;
  memset(&s, 0, sizeof(s));
  s.buffered = (data[0] & 8) != 0;
  peer_open();
  peer_splits(data[0]);
  loop = shared_loop();
  CHECK(ws101_options_new(&o) == 0);
  ws101_options_set(o, WS101_OPT_FETCH_BUFFER_BODY, s.buffered);
  ws101_options_set(o, WS101_OPT_MAX_BODY, 4096);
  ws101_options_set(o, WS101_OPT_MAX_HEADER_BYTES, 4096);
  ws101_options_set(o, WS101_OPT_RESPONSE_TIMEOUT_MS, 2000);
  CHECK(ws101_fetch_new(loop, (data[0] & 16) ? "HEAD" : "GET",
                        "http://127.0.0.1:9/fuzz", o, on_fetch, &s, &f) == 0);
  ws101_options_free(o);
  /* Bit 5: keep-alive allowed (the connection then goes to the pool and
   * ws101_loop_free closes it). */
  if (!(data[0] & 32)) CHECK(ws101_fetch_add_header(f, "Connection", "close") == 0);
  CHECK(ws101_fetch_send(f, NULL, 0) == 0);
  peer_send(data + 1, size - 1);
  CHECK(ws101_loop_run(loop) == 0);
  CHECK(s.done + s.error == 1);
  settle(loop);
  peer_close();
  return 0;
}

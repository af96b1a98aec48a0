/* h2_flow_server - a server for test_h2_client_interop.py's StallDeadline
 * and StreamBackpressure cases, driven by python3-h2.
 *
 *   h2_flow_server SEND_TIMEOUT_MS OUTPUT_LIMIT BODY_BYTES
 *
 * Prints "listening on http://127.0.0.1:PORT/" first. Routes:
 *   /big?ID   streams BODY_BYTES (byte i is 'a' + i % 26) in 16 KiB
 *             writes: it writes until ws101_req_write says
 *             WS101_EBACKPRESSURE and continues from the drain callback.
 *             Prints "done ID bytes=N refused=R drains=D maxq=Q" at the
 *             end (Q: the largest ws101_req_buffered seen), or
 *             "abort ID bytes=N" when the stream is reset first.
 *   /hello    "hello".
 * Lines are flushed at once; the test reads them as events. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ws101.h"

#define CHUNK (16 * 1024)

static size_t body_bytes;

typedef struct big {
  char id[32];
  size_t sent, maxq;
  int refused, drains;
} big;

static void say(const char *fmt, const char *id, const big *b) {
  printf(fmt, id, b->sent, b->refused, b->drains, b->maxq);
  fflush(stdout);
}

static void pour(ws101_req *req, big *b) {
  char chunk[CHUNK];
  while (b->sent < body_bytes) {
    size_t n = body_bytes - b->sent, i, q;
    int rc;
    if (n > CHUNK) n = CHUNK;
    for (i = 0; i < n; i++) chunk[i] = (char)('a' + (b->sent + i) % 26);
    rc = ws101_req_write(req, chunk, n);
    if (rc == WS101_EBACKPRESSURE) {
      b->refused++;
      return; /* the drain callback continues */
    }
    if (rc != 0) return; /* ECLOSED: the abort callback reports */
    b->sent += n;
    q = ws101_req_buffered(req);
    if (q > b->maxq) b->maxq = q;
  }
  say("done %s bytes=%zu refused=%d drains=%d maxq=%zu\n", b->id, b);
  ws101_req_end(req);
  free(b);
}

static void on_drain(ws101_req *req, void *ud) {
  big *b = ud;
  b->drains++;
  pour(req, b);
}

static void on_abort(ws101_req *req, void *ud) {
  big *b = ud;
  printf("abort %s bytes=%zu\n", b->id, b->sent);
  fflush(stdout);
  free(b);
  ws101_req_end(req); /* an aborted request is still ours to end */
}

static void h_big(ws101_req *req, void *ud) {
  big *b = calloc(1, sizeof(*b));
  const char *q = ws101_req_query(req);
  (void)ud;
  snprintf(b->id, sizeof b->id, "%s", q != NULL ? q : "-");
  ws101_req_on_abort(req, on_abort, b);
  ws101_req_on_drain(req, on_drain, b);
  ws101_req_set_status(req, 200);
  pour(req, b);
}

static void h_hello(ws101_req *req, void *ud) {
  (void)ud;
  ws101_req_respond(req, 200, "text/plain", "hello", 5);
}

int main(int argc, char **argv) {
  ws101_loop *loop;
  ws101_options *o;
  ws101_server *srv;
  if (argc != 4) {
    fprintf(stderr, "usage: h2_flow_server SEND_TIMEOUT_MS OUTPUT_LIMIT "
                    "BODY_BYTES\n");
    return 2;
  }
  body_bytes = (size_t)strtoull(argv[3], NULL, 10);
  ws101_loop_new(&loop);
  ws101_options_new(&o);
  if (ws101_options_set(o, WS101_OPT_SEND_TIMEOUT_MS, atoi(argv[1])) != 0 ||
      ws101_options_set(o, WS101_OPT_OUTPUT_BUFFER_LIMIT, atoi(argv[2])) != 0)
    return 2;
  ws101_server_new(loop, o, &srv);
  ws101_options_free(o);
  ws101_server_route(srv, "/big", 0, h_big, NULL);
  ws101_server_route(srv, "/hello", 0, h_hello, NULL);
  if (ws101_server_listen(srv, "127.0.0.1", 0) != 0) return 1;
  printf("listening on http://127.0.0.1:%d/\n", ws101_server_port(srv));
  fflush(stdout);
  ws101_loop_run(loop);
  ws101_loop_free(loop);
  return 0;
}

/* test_h2_stream_backpressure.c - WS101_OPT_OUTPUT_BUFFER_LIMIT on HTTP/2
 * streams with WS101_BACKPRESSURE_CLOSE: a handler that writes past the
 * limit in one go gets WS101_EBACKPRESSURE, only its stream is reset
 * (the client's fetch fails, the handler's abort callback runs), and the
 * next fetch on the same connection is answered. Our client and server on
 * one loop, HTTP/2 by prior knowledge. (Refuse-and-drain with a slow
 * independent reader is integ.h2_client's ServerStreamFlow.) */
#include "test.h"
#include "ws101.h"

#include <string.h>

static struct {
  ws101_loop *loop;
  ws101_server *srv;
  ws101_options *co;
  char url[96];
  int write_rc, aborted, first_err, second_status, second_done;
  size_t written;
  uint64_t conns;
} T;

static void on_abort(ws101_req *req, void *ud) {
  (void)ud;
  T.aborted++;
  ws101_req_end(req); /* the request stays ours until ended */
}

static void h_flood(ws101_req *req, void *ud) {
  static char chunk[16384];
  int rc;
  (void)ud;
  memset(chunk, 'x', sizeof chunk);
  ws101_req_on_abort(req, on_abort, NULL);
  /* Far beyond the stream window (256 KiB) and the 64 KiB limit. */
  while ((rc = ws101_req_write(req, chunk, sizeof chunk)) == 0 &&
         T.written < (8u << 20))
    T.written += sizeof chunk;
  T.write_rc = rc;
}

static void h_hello(ws101_req *req, void *ud) {
  (void)ud;
  ws101_req_respond(req, 200, "text/plain", "hello", 5);
}

static void second(ws101_fetch *f, int ev, const char *d, size_t n, int arg,
                   void *ud) {
  (void)d, (void)n, (void)arg, (void)ud;
  if (ev == WS101_FETCH_RESPONSE) T.second_status = ws101_fetch_status(f);
  if (ev == WS101_FETCH_DONE || ev == WS101_FETCH_ERROR) {
    T.second_done = ev == WS101_FETCH_DONE;
    ASSERT_EQ(ws101_server_h2_stats(T.srv, &T.conns, NULL, NULL), 0);
    ws101_server_close(T.srv, NULL, NULL);
  }
}

static void first(ws101_fetch *f, int ev, const char *d, size_t n, int arg,
                  void *ud) {
  ws101_fetch *g;
  (void)f, (void)d, (void)n, (void)ud;
  if (ev == WS101_FETCH_DONE) FAILF("the flooding stream was not reset");
  if (ev != WS101_FETCH_ERROR) return;
  T.first_err = arg;
  snprintf(T.url + strlen(T.url) - 6, 7, "/hello");
  ASSERT_EQ(ws101_fetch_new(T.loop, "GET", T.url, T.co, second, NULL, &g), 0);
  ASSERT_EQ(ws101_fetch_send(g, NULL, 0), 0);
}

static void test_close_policy_resets_only_the_stream(void) {
  ws101_options *so;
  ws101_fetch *f;
  memset(&T, 0, sizeof T);
  ASSERT_EQ(ws101_loop_new(&T.loop), 0);
  ASSERT_EQ(ws101_options_new(&so), 0);
  ASSERT_EQ(ws101_options_set(so, WS101_OPT_OUTPUT_BUFFER_LIMIT, 65536), 0);
  ASSERT_EQ(ws101_options_set(so, WS101_OPT_HTTP_BACKPRESSURE_POLICY,
                              WS101_BACKPRESSURE_CLOSE),
            0);
  ASSERT_EQ(ws101_server_new(T.loop, so, &T.srv), 0);
  ws101_options_free(so);
  ASSERT_EQ(ws101_server_route(T.srv, "/flood", 0, h_flood, NULL), 0);
  ASSERT_EQ(ws101_server_route(T.srv, "/hello", 0, h_hello, NULL), 0);
  ASSERT_EQ(ws101_server_listen(T.srv, "127.0.0.1", 0), 0);
  snprintf(T.url, sizeof T.url, "http://127.0.0.1:%d/flood",
           ws101_server_port(T.srv));
  ASSERT_EQ(ws101_options_new(&T.co), 0);
  ASSERT_EQ(ws101_options_set(T.co, WS101_OPT_CLIENT_HTTP2, 1), 0);
  ASSERT_EQ(ws101_fetch_new(T.loop, "GET", T.url, T.co, first, NULL, &f), 0);
  ASSERT_EQ(ws101_fetch_send(f, NULL, 0), 0);
  ASSERT_EQ(ws101_loop_run(T.loop), 0);
  ws101_options_free(T.co);
  ASSERT_EQ(ws101_loop_free(T.loop), 0);
  ASSERT_EQ(T.write_rc, WS101_EBACKPRESSURE);
  /* Refused once the stream's queue reached the limit: what was taken is
   * one window plus at most the limit and one write. */
  ASSERT_LE(T.written, 262144 + 65536 + 16384);
  ASSERT_EQ(T.aborted, 1);
  ASSERT_EQ(T.first_err, WS101_ECONNRESET);
  ASSERT_EQ(T.second_done, 1);
  ASSERT_EQ(T.second_status, 200);
  ASSERT_EQ(T.conns, 1); /* the connection survived the reset */
}

int main(void) {
  RUN(test_close_policy_resets_only_the_stream);
  TEST_DONE();
}

/* test_http_server_body.c - request and response bodies through the
 * public API and real sockets: 100-continue and 417, MAX_BODY (413 for
 * Content-Length and chunked bodies), streaming routes, streamed chunked
 * responses and handler-set Content-Length. */
#include "http_harness.h"

static struct {
  int handled;
  int pieces; /* body callbacks with data */
  int lasts;  /* body callbacks with last=1 */
  char body[4096];
  size_t len;
} T;

static const hh_opt k_opts[] = {{WS101_OPT_MAX_BODY, 1000}, {0, 0}};

static void h_echo(ws101_req *req, void *ud) {
  (void)ud;
  hh_add(&T.handled, 1);
  ASSERT_EQ(ws101_req_respond(req, 200, "application/octet-stream",
                              ws101_req_body(req), ws101_req_body_len(req)),
            0);
}

static void start(hh_server *s) {
  memset(&T, 0, sizeof(T));
  hh_init(s, k_opts);
  ASSERT_EQ(ws101_server_route(s->srv, "/echo", 0, h_echo, NULL), 0);
}

static void test_expect_continue(void) {
  hh_server s;
  hh_cli *c;
  hh_resp r;
  start(&s);
  hh_run(&s);
  c = hh_connect(s.port);
  hh_send(c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
             "Expect: 100-continue\r\n\r\n");
  /* The client waits for the interim response before sending the body. */
  ASSERT_EQ(hh_until(c, "\r\n\r\n"), 21);
  ASSERT_MEM_EQ(c->buf, "HTTP/1.1 100 Continue\r\n", 23);
  hh_read(c, &r, 0);
  ASSERT_EQ(r.status, 100);
  hh_resp_free(&r);
  hh_send(c, "hello");
  hh_expect(c, 200, "hello");
  /* Case-insensitive token; a request without a body skips the 100. */
  hh_send(c, "GET /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\n\r\n");
  hh_expect(c, 200, "");
  /* Any other expectation: 417, and the connection closes. */
  hh_send(c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
             "Expect: something-else\r\n\r\n");
  hh_expect_close(c, 417);
  hh_close(c);
  ASSERT_EQ(hh_get(&T.handled), 2);
  hh_stop(&s);
}

static void test_max_body_content_length(void) {
  hh_server s;
  hh_cli *c;
  char big[1000];
  start(&s);
  hh_run(&s);
  /* Exactly the limit is fine. */
  memset(big, 'b', sizeof(big));
  c = hh_connect(s.port);
  hh_send(c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n");
  hh_sendn(c, big, sizeof(big));
  hh_expect(c, 200, NULL);
  /* Over it: 413 from the head alone, without waiting for the body. */
  hh_send(c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n");
  hh_expect_close(c, 413);
  hh_close(c);
  /* With Expect: the 413 replaces the 100. */
  c = hh_connect(s.port);
  hh_send(c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n"
             "Expect: 100-continue\r\n\r\n");
  hh_expect_close(c, 413);
  hh_close(c);
  ASSERT_EQ(hh_get(&T.handled), 1);
  hh_stop(&s);
}

static void test_max_body_chunked(void) {
  hh_server s;
  hh_cli *c;
  char big[1001];
  start(&s);
  hh_run(&s);
  memset(big, 'c', sizeof(big));
  /* A chunked body within the limit is reassembled. */
  c = hh_connect(s.port);
  hh_send(c, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked"
             "\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nTrailer: x\r\n\r\n");
  hh_expect(c, 200, "abcde");
  /* Over it, as one chunk... */
  hh_send(c, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked"
             "\r\n\r\n3e9\r\n");
  hh_sendn(c, big, sizeof(big));
  hh_send(c, "\r\n0\r\n\r\n");
  hh_expect_close(c, 413);
  hh_close(c);
  /* ...and as many small chunks. */
  c = hh_connect(s.port);
  hh_send(c, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked"
             "\r\n\r\n");
  for (int i = 0; i < 11; i++) {
    hh_send(c, "64\r\n");
    hh_sendn(c, big, 100);
    hh_send(c, "\r\n");
  }
  hh_expect_close(c, 413);
  hh_close(c);
  ASSERT_EQ(hh_get(&T.handled), 1);
  hh_stop(&s);
}

/* ---- streaming request bodies -------------------------------------------- */

static void on_body(ws101_req *req, const char *data, size_t len, int last,
                    void *ud) {
  char out[4200];
  int n;
  ASSERT(ud == &T);
  ASSERT_EQ(T.lasts, 0); /* nothing after last=1 */
  if (len > 0) {
    ASSERT_LE(T.len + len, sizeof(T.body));
    memcpy(T.body + T.len, data, len);
    T.len += len;
    hh_add(&T.pieces, 1);
  }
  if (!last) {
    ASSERT_GT(len, 0);
    return;
  }
  n = snprintf(out, sizeof(out), "%.*s|%d", (int)T.len, T.body, T.pieces);
  hh_add(&T.lasts, 1);
  ASSERT_EQ(ws101_req_respond(req, 200, "text/plain", out, (size_t)n), 0);
}

static void h_stream(ws101_req *req, void *ud) {
  (void)ud;
  hh_add(&T.handled, 1);
  ASSERT(ws101_req_body(req) == NULL);
  ASSERT_EQ(ws101_req_read_body(req, on_body, &T), 0);
}

static void h_stream_twice(ws101_req *req, void *ud) {
  (void)ud;
  /* Not a streaming route. */
  ASSERT_EQ(ws101_req_read_body(req, on_body, &T), WS101_ESTATE);
  ASSERT_EQ(ws101_req_respond(req, 204, NULL, NULL, 0), 0);
}

static void reset_stream(void) {
  pthread_mutex_lock(&hh_mu);
  T.pieces = T.lasts = 0;
  T.len = 0;
  pthread_mutex_unlock(&hh_mu);
}

static void test_streaming_route(void) {
  hh_server s;
  hh_cli *c;
  hh_resp r;
  char big[3000];
  start(&s);
  ASSERT_EQ(
      ws101_server_route(s.srv, "/up", WS101_ROUTE_STREAM_BODY, h_stream, NULL),
      0);
  ASSERT_EQ(ws101_server_route(s.srv, "/plain", 0, h_stream_twice, NULL), 0);
  hh_run(&s);
  c = hh_connect(s.port);
  /* Chunked, in several sends, each delivered before the next is sent. */
  hh_send(c, "POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
             "Expect: 100-continue\r\n\r\n");
  hh_read(c, &r, 0);
  ASSERT_EQ(r.status, 100);
  hh_resp_free(&r);
  ASSERT_EQ(hh_get(&T.handled), 1); /* dispatched on the head */
  hh_send(c, "5\r\nhello\r\n");
  ASSERT_EQ(hh_wait(&T.pieces, 1, HH_MS), 1);
  hh_send(c, "6\r\n world\r\n");
  ASSERT_EQ(hh_wait(&T.pieces, 2, HH_MS), 2);
  ASSERT_EQ(hh_get(&T.lasts), 0);
  hh_send(c, "0\r\n\r\n");
  hh_expect(c, 200, "hello world|2");
  /* Streaming routes are not limited by MAX_BODY, and keep-alive holds. */
  reset_stream();
  memset(big, 'z', sizeof(big));
  hh_send(c, "PUT /up HTTP/1.1\r\nHost: x\r\nContent-Length: 3000\r\n\r\n");
  hh_sendn(c, big, 1500);
  ASSERT_GE(hh_wait(&T.pieces, 1, HH_MS), 1);
  hh_sendn(c, big, 1500);
  hh_read(c, &r, 0);
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(r.body_len, 3000 + 2);
  hh_resp_free(&r);
  /* No body at all: the handler still gets its last=1 call. */
  reset_stream();
  hh_send(c, "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  hh_expect(c, 200, "|0");
  reset_stream();
  hh_send(c, "GET /up HTTP/1.1\r\nHost: x\r\n\r\n");
  hh_expect(c, 200, "|0");
  hh_send(c, "GET /plain HTTP/1.1\r\nHost: x\r\n\r\n");
  hh_expect(c, 204, NULL);
  hh_close(c);
  hh_stop(&s);
}

/* A handler that starts reading the body only later (here: from a posted
 * callback) must still get every byte, even those that arrived with the
 * head in the same segment. */
static void later_read(ws101_loop *loop, void *ud) {
  (void)loop;
  ASSERT_EQ(ws101_req_read_body((ws101_req *)ud, on_body, &T), 0);
}

static void h_stream_later(ws101_req *req, void *ud) {
  ws101_server *srv = ud;
  hh_add(&T.handled, 1);
  ASSERT_EQ(ws101_loop_post(ws101_server_loop(srv), later_read, req), 0);
}

static void test_streaming_read_later(void) {
  hh_server s;
  hh_cli *c;
  start(&s);
  ASSERT_EQ(ws101_server_route(s.srv, "/later", WS101_ROUTE_STREAM_BODY,
                               h_stream_later, s.srv),
            0);
  hh_run(&s);
  c = hh_connect(s.port);
  reset_stream();
  hh_send(c, "POST /later HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n"
             "hello world");
  hh_expect(c, 200, "hello world|1");
  reset_stream();
  hh_send(c, "POST /later HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked"
             "\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
  hh_expect(c, 200, "hello|1");
  hh_close(c);
  hh_stop(&s);
}

/* ---- streamed responses ------------------------------------------------- */

static void h_chunks(ws101_req *req, void *ud) {
  (void)ud;
  ASSERT_EQ(ws101_req_add_header(req, "Content-Type", "text/plain"), 0);
  ASSERT_EQ(ws101_req_write(req, "ab", 2), 0);
  ASSERT_EQ(ws101_req_write(req, NULL, 0), 0); /* no empty chunk = no end */
  ASSERT_EQ(ws101_req_write(req, "cde", 3), 0);
  ASSERT_EQ(ws101_req_end(req), 0);
}

static void h_fixed(ws101_req *req, void *ud) {
  (void)ud;
  ASSERT_EQ(ws101_req_add_header(req, "Content-Length", "10"), 0);
  ASSERT_EQ(ws101_req_add_header(req, "Content-Length", "10"), WS101_EINVAL);
  ASSERT_EQ(ws101_req_write(req, "0123", 4), 0);
  ASSERT_EQ(ws101_req_write(req, "4567890", 7), WS101_ETOOBIG);
  ASSERT_EQ(ws101_req_write(req, "456789", 6), 0);
  ASSERT_EQ(ws101_req_end(req), 0);
}

static void h_fixed_respond(ws101_req *req, void *ud) {
  (void)ud;
  ASSERT_EQ(ws101_req_add_header(req, "content-length", "5"), 0);
  ASSERT_EQ(ws101_req_respond(req, 200, NULL, "hello!", 6), WS101_EINVAL);
  ASSERT_EQ(ws101_req_respond(req, 200, NULL, "hello", 5), 0);
}

/* A 204 has no body and so no framing, even when streamed. */
static void h_no_content(ws101_req *req, void *ud) {
  (void)ud;
  ASSERT_EQ(ws101_req_set_status(req, 204), 0);
  ASSERT_EQ(ws101_req_write(req, "ignored", 7), 0);
  ASSERT_EQ(ws101_req_end(req), 0);
}

static void test_streamed_response(void) {
  hh_server s;
  hh_cli *c;
  hh_resp r;
  size_t at;
  start(&s);
  ASSERT_EQ(ws101_server_route(s.srv, "/chunks", 0, h_chunks, NULL), 0);
  ASSERT_EQ(ws101_server_route(s.srv, "/fixed", 0, h_fixed, NULL), 0);
  ASSERT_EQ(ws101_server_route(s.srv, "/fixed2", 0, h_fixed_respond, NULL), 0);
  ASSERT_EQ(ws101_server_route(s.srv, "/204", 0, h_no_content, NULL), 0);
  hh_run(&s);
  c = hh_connect(s.port);
  /* The exact chunked framing. */
  hh_send(c, "GET /chunks HTTP/1.1\r\nHost: x\r\n\r\n");
  at = hh_until(c, "\r\n0\r\n\r\n");
  ASSERT_EQ(hh_find(c, "\r\n\r\n2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n", 0) + 17, at);
  ASSERT_EQ(at + 7, c->len);
  hh_read(c, &r, 0);
  ASSERT_STR_EQ(hh_hdr(&r, "Transfer-Encoding"), "chunked");
  ASSERT(hh_hdr(&r, "Content-Length") == NULL);
  ASSERT_STR_EQ(r.body, "abcde");
  hh_resp_free(&r);
  /* HEAD of a streamed response: head only, no terminating chunk. */
  hh_send(c, "HEAD /chunks HTTP/1.1\r\nHost: x\r\n\r\n");
  hh_read(c, &r, HH_HEAD_ONLY);
  ASSERT_EQ(r.status, 200);
  hh_resp_free(&r);
  /* Handler-set Content-Length, written in pieces. */
  hh_send(c, "GET /fixed HTTP/1.1\r\nHost: x\r\n\r\n");
  hh_read(c, &r, 0);
  ASSERT_STR_EQ(hh_hdr(&r, "Content-Length"), "10");
  ASSERT(hh_hdr(&r, "Transfer-Encoding") == NULL);
  ASSERT(hh_hdr(&r, "Connection") == NULL);
  ASSERT_STR_EQ(r.body, "0123456789");
  hh_resp_free(&r);
  /* Handler-set Content-Length with ws101_req_respond: still keep-alive. */
  hh_send(c, "GET /fixed2 HTTP/1.1\r\nHost: x\r\n\r\n");
  hh_read(c, &r, 0);
  ASSERT_STR_EQ(hh_hdr(&r, "Content-Length"), "5");
  ASSERT(hh_hdr(&r, "Connection") == NULL);
  ASSERT_STR_EQ(r.body, "hello");
  hh_resp_free(&r);
  hh_send(c, "GET /fixed HTTP/1.1\r\nHost: x\r\n\r\n");
  hh_expect(c, 200, "0123456789");
  /* 204 streamed: no Transfer-Encoding, no chunk bytes; the next response
   * on the connection parses right after its head. */
  hh_send(c, "GET /204 HTTP/1.1\r\nHost: x\r\n\r\n");
  hh_read(c, &r, HH_HEAD_ONLY);
  ASSERT_EQ(r.status, 204);
  ASSERT(hh_hdr(&r, "Transfer-Encoding") == NULL);
  ASSERT(hh_hdr(&r, "Content-Length") == NULL);
  hh_resp_free(&r);
  hh_send(c, "GET /fixed HTTP/1.1\r\nHost: x\r\n\r\n");
  hh_expect(c, 200, "0123456789");
  hh_close(c);
  /* HTTP/1.0 has no chunks: the close delimits the body. */
  c = hh_connect(s.port);
  hh_send(c, "GET /chunks HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  hh_read(c, &r, 0);
  ASSERT_EQ(r.status, 200);
  ASSERT(hh_hdr(&r, "Transfer-Encoding") == NULL);
  ASSERT_STR_EQ(hh_hdr(&r, "Connection"), "close");
  ASSERT_STR_EQ(r.body, "abcde");
  hh_resp_free(&r);
  hh_close(c);
  hh_stop(&s);
}

int main(void) {
  RUN(test_expect_continue);
  RUN(test_max_body_content_length);
  RUN(test_max_body_chunked);
  RUN(test_streaming_route);
  RUN(test_streaming_read_later);
  RUN(test_streamed_response);
  TEST_DONE();
}

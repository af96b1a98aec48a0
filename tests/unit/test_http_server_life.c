/* test_http_server_life.c - connection lifecycle of the HTTP/1.1 server
 * through the public API and real sockets: abort of an asynchronous
 * request (answered late, or never), header and idle timeouts,
 * MAX_KEEPALIVE_REQUESTS, the graceful ws101_server_close with a request
 * in flight, and malformed (smuggling) requests. */
#include "http_harness.h"

static struct {
  ws101_req *held;
  int nheld;
  int aborts;
  int abort_rc; /* ws101_req_respond after the abort */
  int done;     /* respond_held ran */
  int respond_rc;
  char addr[64];
} T;

static void on_abort(ws101_req *req, void *ud) {
  ASSERT(ud == &T);
  ASSERT(req == T.held);
  hh_add(&T.aborts, 1);
}

static void h_hold(ws101_req *req, void *ud) {
  (void)ud;
  T.held = req;
  snprintf(T.addr, sizeof(T.addr), "%s", ws101_req_remote_addr(req));
  ASSERT_EQ(ws101_req_on_abort(req, on_abort, &T), 0);
  hh_add(&T.nheld, 1);
}

static void respond_held(ws101_loop *loop, void *ud) {
  (void)loop;
  (void)ud;
  ASSERT(T.held != NULL);
  /* Accessors stay valid until the response completes. */
  ASSERT_STR_EQ(ws101_req_path(T.held), "/hold");
  T.respond_rc = ws101_req_respond(T.held, 200, "text/plain", "late", 4);
  T.held = NULL;
  hh_add(&T.done, 1);
}

static void test_abort_then_respond(void) {
  hh_server s;
  hh_cli *c;
  char local[64];
  memset(&T, 0, sizeof(T));
  hh_init(&s, NULL);
  ASSERT_EQ(ws101_server_route(s.srv, "/hold", 0, h_hold, NULL), 0);
  hh_run(&s);
  c = hh_connect(s.port);
  hh_local_addr(c, local, sizeof(local));
  hh_send(c, "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_EQ(hh_wait(&T.nheld, 1, HH_MS), 1);
  pthread_mutex_lock(&hh_mu);
  ASSERT_STR_EQ(T.addr, local);
  pthread_mutex_unlock(&hh_mu);
  hh_reset(c); /* the client vanishes */
  ASSERT_EQ(hh_wait(&T.aborts, 1, HH_MS), 1);
  ASSERT_EQ(ws101_loop_post(s.loop, respond_held, NULL), 0);
  ASSERT_EQ(hh_wait(&T.done, 1, HH_MS), 1);
  pthread_mutex_lock(&hh_mu);
  ASSERT_EQ(T.respond_rc, WS101_ECLOSED);
  pthread_mutex_unlock(&hh_mu);
  ASSERT_EQ(hh_get(&T.aborts), 1);
  /* The server is unaffected. */
  c = hh_connect(s.port);
  hh_send(c, "GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n");
  hh_expect(c, 404, NULL);
  hh_close(c);
  hh_stop(&s);
}

/* The client vanishes and the handler never answers: the request is
 * freed with the server (LSan; before, it leaked until exit). */
static void test_abort_never_answered(void) {
  hh_server s;
  hh_cli *c;
  memset(&T, 0, sizeof(T));
  hh_init(&s, NULL);
  ASSERT_EQ(ws101_server_route(s.srv, "/hold", 0, h_hold, NULL), 0);
  hh_run(&s);
  c = hh_connect(s.port);
  hh_send(c, "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_EQ(hh_wait(&T.nheld, 1, HH_MS), 1);
  hh_reset(c);
  ASSERT_EQ(hh_wait(&T.aborts, 1, HH_MS), 1);
  hh_stop(&s);
  ASSERT_EQ(hh_get(&T.aborts), 1);
}

static void ws_unused(ws101_ws *ws, int ev, const char *d, size_t n, int arg,
                      void *ud) {
  (void)ws, (void)ev, (void)d, (void)n, (void)arg, (void)ud;
  FAILF("a WebSocket on a dead connection");
}

/* The answer comes after the server closed (its callback ran): the
 * handle is still good, the answer says WS101_ECLOSED and frees it (ASan:
 * the WebSocket acceptance no longer reads the freed server's options). */
static void test_answer_after_server_closed(void) {
  hh_server s;
  hh_cli *c;
  ws101_ws *ws = NULL;
  memset(&T, 0, sizeof(T));
  hh_init(&s, NULL);
  ASSERT_EQ(ws101_server_route(s.srv, "/hold", 0, h_hold, NULL), 0);
  hh_run(&s);
  c = hh_connect(s.port);
  hh_send(c, "GET /hold HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
             "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
  ASSERT_EQ(hh_wait(&T.nheld, 1, HH_MS), 1);
  hh_reset(c);
  ASSERT_EQ(hh_wait(&T.aborts, 1, HH_MS), 1);
  hh_post_close(&s);
  ASSERT_EQ(hh_wait(&s.closed, 1, HH_MS), 1);
  ASSERT_EQ(pthread_join(s.th, NULL), 0); /* the loop ran out of work */
  /* The loop thread is gone: the test thread owns the loop now. */
  ASSERT_STR_EQ(ws101_req_path(T.held), "/hold");
  ASSERT_EQ(ws101_req_is_websocket(T.held), 1);
  ASSERT_EQ(ws101_req_accept_websocket(T.held, NULL, ws_unused, NULL, &ws),
            WS101_ECLOSED);
  ASSERT(ws == NULL);
  ASSERT_EQ(ws101_loop_free(s.loop), 0);
}

/* A client that half-closes (FIN) after its request still gets the answer:
 * HTTP/1.1 allows it, so this is not an abort. */
static void test_half_close_gets_response(void) {
  hh_server s;
  hh_cli *c;
  memset(&T, 0, sizeof(T));
  hh_init(&s, NULL);
  ASSERT_EQ(ws101_server_route(s.srv, "/hold", 0, h_hold, NULL), 0);
  hh_run(&s);
  c = hh_connect(s.port);
  hh_send(c, "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_EQ(hh_wait(&T.nheld, 1, HH_MS), 1);
  ASSERT_EQ(shutdown(c->fd, SHUT_WR), 0);
  ASSERT_EQ(ws101_loop_post(s.loop, respond_held, NULL), 0);
  hh_expect_close(c, 200);
  ASSERT_EQ(hh_wait(&T.done, 1, HH_MS), 1);
  pthread_mutex_lock(&hh_mu);
  ASSERT_EQ(T.respond_rc, 0);
  pthread_mutex_unlock(&hh_mu);
  ASSERT_EQ(hh_get(&T.aborts), 0);
  hh_close(c);
  hh_stop(&s);
}

static const hh_opt k_short[] = {{WS101_OPT_HEADER_TIMEOUT_MS, 300},
                                 {WS101_OPT_IDLE_TIMEOUT_MS, 300},
                                 {0, 0}};

static void test_header_timeout(void) {
  hh_server s;
  hh_cli *c;
  hh_init(&s, k_short);
  ASSERT_EQ(ws101_server_route(s.srv, "/hello", 0, hh_say, "hi"), 0);
  hh_run(&s);
  /* Half a head: 408, then the close, well within a second. */
  c = hh_connect(s.port);
  hh_send(c, "GET /hello HTTP/1.1\r\nHost: x\r\n");
  ASSERT_EQ(hh_fill(c, 1000) > 0, 1);
  hh_expect_close(c, 408);
  hh_close(c);
  /* Half a second head after a served request on the same connection. */
  c = hh_connect(s.port);
  hh_send(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /hel");
  hh_expect(c, 200, "hi");
  ASSERT_EQ(hh_fill(c, 1000) > 0, 1);
  hh_expect_close(c, 408);
  hh_close(c);
  /* A buffered body that stops arriving also ends in 408. */
  c = hh_connect(s.port);
  hh_send(c, "POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\nab");
  ASSERT_EQ(hh_fill(c, 1000) > 0, 1);
  hh_expect_close(c, 408);
  hh_close(c);
  /* A connection that never sends a byte is closed without an answer. */
  c = hh_connect(s.port);
  ASSERT_EQ(hh_eof(c, 1000), 1);
  hh_close(c);
  hh_stop(&s);
}

static void test_idle_timeout(void) {
  hh_server s;
  hh_cli *c;
  hh_init(&s, k_short);
  ASSERT_EQ(ws101_server_route(s.srv, "/hello", 0, hh_say, "hi"), 0);
  hh_run(&s);
  c = hh_connect(s.port);
  hh_send(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  hh_expect(c, 200, "hi");
  ASSERT_EQ(hh_eof(c, 1000), 1); /* silently, after ~300 ms */
  hh_close(c);
  hh_stop(&s);
}

static void test_max_keepalive_requests(void) {
  static const hh_opt o[] = {{WS101_OPT_MAX_KEEPALIVE_REQUESTS, 2}, {0, 0}};
  hh_server s;
  hh_cli *c;
  hh_resp r;
  hh_init(&s, o);
  ASSERT_EQ(ws101_server_route(s.srv, "/hello", 0, hh_say, "hi"), 0);
  hh_run(&s);
  c = hh_connect(s.port);
  hh_send(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  hh_read(c, &r, 0);
  ASSERT(hh_hdr(&r, "Connection") == NULL);
  hh_resp_free(&r);
  /* The second is the last one, and says so. Pipeline a third: unanswered. */
  hh_send(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
             "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  hh_expect_close(c, 200);
  hh_close(c);
  hh_stop(&s);
}

static void post_close(ws101_loop *loop, void *ud) {
  hh_server *s = ud;
  (void)loop;
  ASSERT_EQ(ws101_server_close(s->srv, hh_on_closed, s), 0);
  hh_add(&T.nheld, 1);
}

static void test_close_with_request_in_flight(void) {
  hh_server s;
  hh_cli *c, *idle;
  struct sockaddr_in a;
  int fd;
  memset(&T, 0, sizeof(T));
  hh_init(&s, NULL);
  ASSERT_EQ(ws101_server_route(s.srv, "/hold", 0, h_hold, NULL), 0);
  ASSERT_EQ(ws101_server_route(s.srv, "/hello", 0, hh_say, "hi"), 0);
  hh_run(&s);
  idle = hh_connect(s.port);
  hh_send(idle, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  hh_expect(idle, 200, "hi");
  c = hh_connect(s.port);
  hh_send(c, "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_EQ(hh_wait(&T.nheld, 1, HH_MS), 1);
  s.close_posted = 1;
  ASSERT_EQ(ws101_loop_post(s.loop, post_close, &s), 0);
  ASSERT_EQ(hh_wait(&T.nheld, 2, HH_MS), 2);
  /* The idle connection goes at once; the busy one waits. */
  ASSERT_EQ(hh_eof(idle, HH_MS), 1);
  hh_close(idle);
  ASSERT(hh_quiet(c, 50));
  ASSERT_EQ(hh_get(&s.closed), 0);
  /* No new connections. */
  fd = socket(AF_INET, SOCK_STREAM, 0);
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)s.port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, (struct sockaddr *)&a, sizeof(a)), -1);
  close(fd);
  /* The response completes, then the connection and the server close. */
  ASSERT_EQ(ws101_loop_post(s.loop, respond_held, NULL), 0);
  hh_expect_close(c, 200);
  ASSERT_EQ(hh_get(&T.respond_rc), 0);
  hh_close(c);
  hh_stop(&s);
}

/* ---- malformed requests ------------------------------------------------- */

static void test_bad_requests(void) {
  static const struct {
    const char *req;
    int status;
  } cases[] = {
      /* CL + TE: the classic request smuggling vector. */
      {"POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
       "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
       400},
      {"POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
       "Content-Length: 5\r\n\r\nabcde",
       400},
      {"POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: +4\r\n\r\nabcd",
       400},
      {"POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length : 4\r\n\r\nabcd",
       400},
      {"POST /hello HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, "
       "identity\r\n\r\n0\r\n\r\n",
       400},
      {"POST /hello HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
       501},
      {"GET /hello HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n", 400},
      {"GET /hello HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400},
      {"GET /hello HTTP/1.1\r\n\r\n", 400},
      {"GET /hello HTTP/1.1\nHost: x\n\n", 400},
      {"GET /hello HTTP/2.0\r\nHost: x\r\n\r\n", 505},
      /* Bad chunk size: the head was fine, the body is not. */
      {"POST /hello HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
       "zz\r\nab\r\n0\r\n\r\n",
       400},
  };
  hh_server s;
  hh_cli *c;
  size_t i;
  hh_init(&s, NULL);
  ASSERT_EQ(ws101_server_route(s.srv, "/hello", 0, hh_say, "hi"), 0);
  hh_run(&s);
  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    fprintf(stderr, "    case %zu\n", i);
    c = hh_connect(s.port);
    hh_send(c, cases[i].req);
    hh_expect_close(c, cases[i].status);
    hh_close(c);
  }
  /* A bad request after a good one on the same connection. */
  c = hh_connect(s.port);
  hh_send(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
             "GET /hello HTTP/1.1\r\nHost: x\r\nHost: x\r\n\r\n");
  hh_expect(c, 200, "hi");
  hh_expect_close(c, 400);
  hh_close(c);
  /* Still serving. */
  c = hh_connect(s.port);
  hh_send(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  hh_expect(c, 200, "hi");
  hh_close(c);
  hh_stop(&s);
}

int main(void) {
  RUN(test_abort_then_respond);
  RUN(test_abort_never_answered);
  RUN(test_answer_after_server_closed);
  RUN(test_half_close_gets_response);
  RUN(test_header_timeout);
  RUN(test_idle_timeout);
  RUN(test_max_keepalive_requests);
  RUN(test_close_with_request_in_flight);
  RUN(test_bad_requests);
  TEST_DONE();
}

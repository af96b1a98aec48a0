/* test_http_server.c - the HTTP/1.1 server through the public API and real
 * sockets: keep-alive, HEAD, HTTP/1.0, pipelining (also behind an
 * asynchronous response), routing, request accessors, the Date header and
 * the response-building checks. Bodies and lifecycle are in
 * test_http_server_body.c and test_http_server_life.c. */
#include "http_harness.h"

/* State shared with the handlers (loop thread); read through hh_get. */
static struct {
  ws101_req *held;
  int nheld;
  int dispatched;
  int responded;
} T;

static void h_target(ws101_req *req, void *ud) {
  const char *t = ws101_req_target(req);
  (void)ud;
  hh_add(&T.dispatched, 1);
  ASSERT_EQ(ws101_req_respond(req, 200, "text/plain", t, strlen(t)), 0);
}

static void test_keepalive_get(void) {
  hh_server s;
  hh_cli *c;
  hh_resp r;
  hh_init(&s, NULL);
  ASSERT_EQ(ws101_server_route(s.srv, "/hello", 0, hh_say, "hello world"), 0);
  hh_run(&s);
  c = hh_connect(s.port);
  hh_send(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  hh_read(c, &r, 0);
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(r.minor, 1);
  ASSERT_STR_EQ(r.body, "hello world");
  ASSERT_STR_EQ(hh_hdr(&r, "Content-Length"), "11");
  ASSERT_STR_EQ(hh_hdr(&r, "Content-Type"), "text/plain");
  ASSERT(hh_hdr(&r, "Connection") == NULL);
  hh_resp_free(&r);
  /* Same socket, second request. */
  hh_send(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  hh_expect(c, 200, "hello world");
  /* Connection: close from the client is honoured. */
  hh_send(c, "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  hh_expect_close(c, 200);
  hh_close(c);
  hh_stop(&s);
}

static void test_head(void) {
  hh_server s;
  hh_cli *c;
  hh_resp r;
  hh_init(&s, NULL);
  ASSERT_EQ(ws101_server_route(s.srv, "/hello", 0, hh_say, "hello world"), 0);
  hh_run(&s);
  c = hh_connect(s.port);
  hh_send(c, "HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  hh_read(c, &r, HH_HEAD_ONLY);
  ASSERT_EQ(r.status, 200);
  ASSERT_STR_EQ(hh_hdr(&r, "Content-Length"), "11");
  hh_resp_free(&r);
  /* Had a body been sent, it would precede this response. */
  hh_send(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  hh_expect(c, 200, "hello world");
  hh_close(c);
  hh_stop(&s);
}

static void test_http10(void) {
  hh_server s;
  hh_cli *c;
  hh_resp r;
  hh_init(&s, NULL);
  ASSERT_EQ(ws101_server_route(s.srv, "/hello", 0, hh_say, "hello world"), 0);
  hh_run(&s);
  /* Plain 1.0: one response, then the server closes. */
  c = hh_connect(s.port);
  hh_send(c, "GET /hello HTTP/1.0\r\n\r\n");
  hh_read(c, &r, 0);
  ASSERT_EQ(r.status, 200);
  ASSERT_STR_EQ(r.body, "hello world");
  ASSERT_STR_EQ(hh_hdr(&r, "Connection"), "close");
  hh_resp_free(&r);
  ASSERT_EQ(hh_eof(c, HH_MS), 1);
  hh_close(c);
  /* 1.0 with keep-alive: kept open and said so. */
  c = hh_connect(s.port);
  hh_send(c, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  hh_read(c, &r, 0);
  ASSERT_EQ(r.status, 200);
  ASSERT_STR_EQ(hh_hdr(&r, "Connection"), "keep-alive");
  hh_resp_free(&r);
  hh_send(c, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  hh_expect(c, 200, "hello world");
  hh_send(c, "GET /hello HTTP/1.0\r\n\r\n");
  hh_expect_close(c, 200);
  hh_close(c);
  hh_stop(&s);
}

static void test_pipelining(void) {
  hh_server s;
  hh_cli *c;
  memset(&T, 0, sizeof(T));
  hh_init(&s, NULL);
  ASSERT_EQ(ws101_server_route(s.srv, "/*", 0, h_target, NULL), 0);
  hh_run(&s);
  c = hh_connect(s.port);
  hh_send(c, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
             "GET /b?x=1 HTTP/1.1\r\nHost: x\r\n\r\n"
             "GET /c HTTP/1.1\r\nHost: x\r\n\r\n");
  hh_expect(c, 200, "/a");
  hh_expect(c, 200, "/b?x=1");
  hh_expect(c, 200, "/c");
  ASSERT(hh_quiet(c, 50));
  hh_close(c);
  hh_stop(&s);
}

/* ---- pipelining behind an asynchronous response ------------------------ */

static void h_hold(ws101_req *req, void *ud) {
  (void)ud;
  hh_add(&T.dispatched, 1);
  T.held = req;
  hh_add(&T.nheld, 1);
}

static void respond_held(ws101_loop *loop, void *ud) {
  char body[64];
  int n;
  (void)loop;
  (void)ud;
  ASSERT(T.held != NULL);
  /* Only the held request may have been dispatched so far. */
  n = snprintf(body, sizeof(body), "async dispatched=%d", T.dispatched);
  ASSERT_EQ(ws101_req_respond(T.held, 200, "text/plain", body, (size_t)n), 0);
  T.held = NULL;
  hh_add(&T.responded, 1);
}

static void test_pipelining_async_first(void) {
  hh_server s;
  hh_cli *c;
  memset(&T, 0, sizeof(T));
  hh_init(&s, NULL);
  ASSERT_EQ(ws101_server_route(s.srv, "/slow", 0, h_hold, NULL), 0);
  ASSERT_EQ(ws101_server_route(s.srv, "/*", 0, h_target, NULL), 0);
  hh_run(&s);
  c = hh_connect(s.port);
  hh_send(c, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"
             "GET /two HTTP/1.1\r\nHost: x\r\n\r\n"
             "GET /three HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_EQ(hh_wait(&T.nheld, 1, HH_MS), 1);
  /* Nothing may overtake the pending response. */
  ASSERT(hh_quiet(c, 100));
  ASSERT_EQ(hh_get(&T.dispatched), 1);
  ASSERT_EQ(ws101_loop_post(s.loop, respond_held, NULL), 0);
  hh_expect(c, 200, "async dispatched=1");
  hh_expect(c, 200, "/two");
  hh_expect(c, 200, "/three");
  ASSERT_EQ(hh_get(&T.dispatched), 3);
  /* The connection still serves, asynchronously again. */
  hh_send(c, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_EQ(hh_wait(&T.nheld, 2, HH_MS), 2);
  ASSERT_EQ(ws101_loop_post(s.loop, respond_held, NULL), 0);
  hh_expect(c, 200, "async dispatched=4");
  hh_close(c);
  hh_stop(&s);
}

/* ---- routing ------------------------------------------------------------ */

static void test_routes(void) {
  hh_server s;
  hh_cli *c;
  hh_init(&s, NULL);
  ASSERT_EQ(ws101_server_route(s.srv, "/static/*", 0, hh_say, "static"), 0);
  ASSERT_EQ(ws101_server_route(s.srv, "/static/img/*", 0, hh_say, "img"), 0);
  ASSERT_EQ(
      ws101_server_route(s.srv, "/static/img/logo.png", 0, hh_say, "exact"), 0);
  ASSERT_EQ(ws101_server_route(s.srv, "/", 0, hh_say, "root"), 0);
  /* Route registration errors. */
  ASSERT_EQ(ws101_server_route(s.srv, "/static/*", 0, hh_say, "dup"),
            WS101_EINVAL);
  ASSERT_EQ(ws101_server_route(s.srv, "nope", 0, hh_say, "x"), WS101_EINVAL);
  ASSERT_EQ(ws101_server_route(s.srv, "/cb", 0, NULL, NULL), WS101_EINVAL);
  ASSERT_EQ(ws101_server_route(s.srv, "/fl", 99, hh_say, "x"), WS101_EINVAL);
  hh_run(&s);
  c = hh_connect(s.port);
  hh_send(c, "GET /static/a.css HTTP/1.1\r\nHost: x\r\n\r\n");
  hh_expect(c, 200, "static");
  hh_send(c, "GET /static/img/x.png?v=2 HTTP/1.1\r\nHost: x\r\n\r\n");
  hh_expect(c, 200, "img");
  hh_send(c, "GET /static/img/ HTTP/1.1\r\nHost: x\r\n\r\n");
  hh_expect(c, 200, "img");
  hh_send(c, "GET /static/img/logo.png HTTP/1.1\r\nHost: x\r\n\r\n");
  hh_expect(c, 200, "exact");
  hh_send(c, "GET /static/img/logo.png2 HTTP/1.1\r\nHost: x\r\n\r\n");
  hh_expect(c, 200, "img");
  hh_send(c, "GET /?q HTTP/1.1\r\nHost: x\r\n\r\n");
  hh_expect(c, 200, "root");
  /* "/static" lacks the slash of the prefix: not matched. 404 keeps the
   * connection alive. */
  hh_send(c, "GET /static HTTP/1.1\r\nHost: x\r\n\r\n");
  hh_expect(c, 404, NULL);
  hh_send(c, "GET /unknown HTTP/1.1\r\nHost: x\r\n\r\n");
  hh_expect(c, 404, "Not Found\n");
  hh_send(c, "GET /static/ HTTP/1.1\r\nHost: x\r\n\r\n");
  hh_expect(c, 200, "static");
  hh_close(c);
  hh_stop(&s);
}

/* ---- request accessors -------------------------------------------------- */

static void h_info(ws101_req *req, void *ud) {
  char body[2048];
  size_t i, n;
  const char *missing = ws101_req_header(req, "X-Missing");
  (void)ud;
  n = (size_t)snprintf(
      body, sizeof(body), "%s|%s|%s|%s|%d|%s|%s|%s|%s|%zu\n",
      ws101_req_method(req), ws101_req_target(req), ws101_req_path(req),
      ws101_req_query(req), ws101_req_http_version(req),
      ws101_req_remote_addr(req), ws101_req_header(req, "x-custom"),
      ws101_req_header(req, "X-CUSTOM"), missing ? missing : "(null)",
      ws101_req_header_count(req));
  for (i = 0; i < ws101_req_header_count(req); i++)
    n += (size_t)snprintf(body + n, sizeof(body) - n, "%s=%s\n",
                          ws101_req_header_name(req, i),
                          ws101_req_header_value(req, i));
  ASSERT(ws101_req_header_name(req, i) == NULL);
  ASSERT(ws101_req_header_value(req, i) == NULL);
  ASSERT(ws101_req_body(req) == NULL || ws101_req_body_len(req) > 0);
  ASSERT_EQ(ws101_req_is_websocket(req), 0);
  ASSERT(ws101_req_get_user_data(req) == NULL);
  ws101_req_set_user_data(req, body);
  ASSERT(ws101_req_get_user_data(req) == body);
  ASSERT_EQ(ws101_req_respond(req, 200, "text/plain", body, n), 0);
}

static void test_accessors(void) {
  hh_server s;
  hh_cli *c;
  char expect[1024], local[64];
  hh_init(&s, NULL);
  ASSERT_EQ(ws101_server_route(s.srv, "/info/*", 0, h_info, NULL), 0);
  hh_run(&s);
  c = hh_connect(s.port);
  hh_local_addr(c, local, sizeof(local));
  hh_send(c, "POST /info/a%20b?x=1&y=2 HTTP/1.1\r\nHost: example\r\n"
             "X-Custom:   spaced value \t\r\nContent-Length: 0\r\n\r\n");
  snprintf(expect, sizeof(expect),
           "POST|/info/a%%20b?x=1&y=2|/info/a%%20b|x=1&y=2|11|%s|spaced "
           "value|spaced value|(null)|3\nHost=example\nX-Custom=spaced "
           "value\nContent-Length=0\n",
           local);
  hh_expect(c, 200, expect);
  /* HTTP/1.0, no query, no headers. */
  hh_send(c, "GET /info/ HTTP/1.0\r\n\r\n");
  snprintf(expect, sizeof(expect),
           "GET|/info/|/info/||10|%s|(null)|(null)|"
           "(null)|0\n",
           local);
  hh_expect(c, 200, expect);
  hh_close(c);
  hh_stop(&s);
}

/* "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110 IMF-fixdate). */
static void check_date(const char *d) {
  static const char *const days[] = {"Mon", "Tue", "Wed", "Thu",
                                     "Fri", "Sat", "Sun"};
  static const char *const mons[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char wd[4], mon[4], gmt[4];
  int day, year, hh, mm, ss, i, ok = 0;
  ASSERT(d != NULL);
  ASSERT_EQ(strlen(d), 29);
  ASSERT_EQ(sscanf(d, "%3s, %2d %3s %4d %2d:%2d:%2d %3s", wd, &day, mon, &year,
                   &hh, &mm, &ss, gmt),
            8);
  ASSERT(d[3] == ',' && d[4] == ' ' && d[7] == ' ' && d[11] == ' ');
  ASSERT(d[16] == ' ' && d[19] == ':' && d[22] == ':' && d[25] == ' ');
  for (i = 0; i < 7; i++)
    ok |= strcmp(wd, days[i]) == 0;
  ASSERT(ok);
  for (ok = 0, i = 0; i < 12; i++)
    ok |= strcmp(mon, mons[i]) == 0;
  ASSERT(ok);
  ASSERT_STR_EQ(gmt, "GMT");
  ASSERT(day >= 1 && day <= 31 && year >= 2024 && hh < 24 && mm < 60 &&
         ss < 61);
}

static void test_date_header(void) {
  hh_server s;
  hh_cli *c;
  hh_resp r;
  hh_init(&s, NULL);
  ASSERT_EQ(ws101_server_route(s.srv, "/hello", 0, hh_say, "hi"), 0);
  hh_run(&s);
  c = hh_connect(s.port);
  hh_send(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  hh_read(c, &r, 0);
  check_date(hh_hdr(&r, "Date"));
  hh_resp_free(&r);
  hh_send(c, "GET /missing HTTP/1.1\r\nHost: x\r\n\r\n");
  hh_read(c, &r, 0);
  ASSERT_EQ(r.status, 404);
  check_date(hh_hdr(&r, "Date"));
  hh_resp_free(&r);
  hh_close(c);
  hh_stop(&s);
}

/* ---- response-building checks ------------------------------------------- */

static void h_checks(ws101_req *req, void *ud) {
  char body[512];
  int n;
  (void)ud;
  /* Values longer than 8 bytes are checked a word at a time: a bad byte
   * in any lane of any word, and a good tab or obs-text byte in one. */
  ASSERT_EQ(ws101_req_add_header(req, "X-L", "0123456789abcde\x7f"),
            WS101_EINVAL);
  ASSERT_EQ(ws101_req_add_header(req, "X-L", "01234567\x01""abcdefgh"),
            WS101_EINVAL);
  ASSERT_EQ(ws101_req_add_header(req, "X-L", "0123456789abcdefg\n"),
            WS101_EINVAL);
  ASSERT_EQ(ws101_req_add_header(req, "X-L", "\x1f""123456789"), WS101_EINVAL);
  ASSERT_EQ(ws101_req_add_header(req, "X-L", "abcdefgh\rijklmnop"),
            WS101_EINVAL);
  ASSERT_EQ(ws101_req_add_header(req, "X-Long",
                                 "0123456\t89ab \xc3\xa9""fghijklmn~"),
            0);
  n = snprintf(body, sizeof(body), "%d %d %d %d %d %d %d %d %d %d %d %d %d %d",
               ws101_req_add_header(req, "Connection", "keep-alive"),
               ws101_req_add_header(req, "transfer-encoding", "chunked"),
               ws101_req_add_header(req, "Date", "x"),
               ws101_req_add_header(req, "Upgrade", "websocket"),
               ws101_req_add_header(req, "X-A", "a\r\nInjected: 1"),
               ws101_req_add_header(req, "X-A", "a\nb"),
               ws101_req_add_header(req, "X A", "a"),
               ws101_req_add_header(req, "X-B:", "a"),
               ws101_req_add_header(req, "", "a"),
               ws101_req_set_status(req, 99), ws101_req_set_status(req, 1000),
               ws101_req_set_status(req, -200), ws101_req_set_status(req, 201),
               ws101_req_add_header(req, "X-Ok", "fine\tvalue"));
  ASSERT_EQ(ws101_req_respond(req, 1000, NULL, NULL, 0), WS101_EINVAL);
  ASSERT_EQ(ws101_req_respond(req, 200, NULL, NULL, 5), WS101_EINVAL);
  /* The head goes out with the first write: after that, no changes. */
  ASSERT_EQ(ws101_req_write(req, body, (size_t)n), 0);
  ASSERT_EQ(ws101_req_set_status(req, 500), WS101_ESTATE);
  ASSERT_EQ(ws101_req_add_header(req, "X-Late", "1"), WS101_ESTATE);
  ASSERT_EQ(ws101_req_respond(req, 200, NULL, NULL, 0), WS101_ESTATE);
  ASSERT_EQ(ws101_req_read_body(req, NULL, NULL), WS101_EINVAL);
  ASSERT_EQ(ws101_req_end(req), 0);
}

static void test_response_checks(void) {
  hh_server s;
  hh_cli *c;
  hh_resp r;
  char expect[128];
  hh_init(&s, NULL);
  ASSERT_EQ(ws101_server_route(s.srv, "/checks", 0, h_checks, NULL), 0);
  hh_run(&s);
  c = hh_connect(s.port);
  hh_send(c, "GET /checks HTTP/1.1\r\nHost: x\r\n\r\n");
  hh_read(c, &r, 0);
  snprintf(expect, sizeof(expect), "%d %d %d %d %d %d %d %d %d %d %d %d 0 0",
           WS101_EINVAL, WS101_EINVAL, WS101_EINVAL, WS101_EINVAL, WS101_EINVAL,
           WS101_EINVAL, WS101_EINVAL, WS101_EINVAL, WS101_EINVAL, WS101_EINVAL,
           WS101_EINVAL, WS101_EINVAL);
  ASSERT_STR_EQ(r.body, expect);
  ASSERT_EQ(r.status, 201);
  ASSERT_STR_EQ(hh_hdr(&r, "X-Ok"), "fine\tvalue");
  ASSERT_STR_EQ(hh_hdr(&r, "X-Long"), "0123456\t89ab \xc3\xa9""fghijklmn~");
  ASSERT(hh_hdr(&r, "X-L") == NULL);
  ASSERT(hh_hdr(&r, "Injected") == NULL);
  ASSERT(hh_hdr(&r, "Upgrade") == NULL);
  ASSERT_STR_EQ(hh_hdr(&r, "Transfer-Encoding"), "chunked");
  ASSERT(hh_hdr(&r, "Connection") == NULL);
  hh_resp_free(&r);
  hh_close(c);
  hh_stop(&s);
}

int main(void) {
  RUN(test_keepalive_get);
  RUN(test_head);
  RUN(test_http10);
  RUN(test_pipelining);
  RUN(test_pipelining_async_first);
  RUN(test_routes);
  RUN(test_accessors);
  RUN(test_date_header);
  RUN(test_response_checks);
  TEST_DONE();
}

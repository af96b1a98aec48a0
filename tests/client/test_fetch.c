/* test_fetch.c - the HTTP client (ws101_fetch_*) against an independent
 * HTTP/1.1 server (peers.py http: Python's http.server), plus failures. */
#include "client_test.h"

typedef struct result {
  int status;
  int events_response, events_done, events_error;
  int err;
  char errmsg[256];
  char *body;
  size_t body_len;
  char conn[64]; /* X-Conn: which server-side connection answered */
  char hdr[256]; /* a header the case asked to keep */
  const char *want_header;
} result;

static void on_fetch(ws101_fetch *f, int event, const char *data, size_t len,
                     int arg, void *ud) {
  result *r = ud;
  const char *v;
  switch (event) {
    case WS101_FETCH_RESPONSE:
      ASSERT_EQ(r->events_response, 0);
      r->events_response++;
      r->status = ws101_fetch_status(f);
      v = ws101_fetch_header(f, "x-conn");
      if (v) snprintf(r->conn, sizeof(r->conn), "%s", v);
      if (r->want_header) {
        v = ws101_fetch_header(f, r->want_header);
        snprintf(r->hdr, sizeof(r->hdr), "%s", v ? v : "(none)");
      }
      ASSERT(ws101_fetch_header_count(f) > 0);
      ASSERT(ws101_fetch_header_name(f, 0) != NULL);
      ASSERT(ws101_fetch_header_name(f, 1000) == NULL);
      break;
    case WS101_FETCH_BODY:
      ASSERT_EQ(r->events_response, 1);
      r->body = realloc(r->body, r->body_len + len + 1);
      memcpy(r->body + r->body_len, data, len);
      r->body_len += len;
      r->body[r->body_len] = '\0';
      break;
    case WS101_FETCH_DONE:
      r->events_done++;
      ASSERT_EQ(ws101_fetch_get_user_data(f), (void *)r);
      break;
    case WS101_FETCH_ERROR:
      r->events_error++;
      r->err = arg;
      snprintf(r->errmsg, sizeof(r->errmsg), "%.*s", (int)len, data);
      break;
  }
}

static ws101_fetch *start(ws101_loop *loop, const char *method,
                          const char *url, result *r) {
  ws101_fetch *f = NULL;
  memset(r, 0, sizeof(*r));
  ASSERT_EQ(ws101_fetch_new(loop, method, url, NULL, on_fetch, r, &f), 0);
  ws101_fetch_set_user_data(f, r);
  return f;
}

static void expect_ok(result *r, int status) {
  if (r->events_error) FAILF("unexpected error %d: %s", r->err, r->errmsg);
  ASSERT_EQ(r->events_done, 1);
  ASSERT_EQ(r->status, status);
}

static void test_get(void) {
  ws101_loop *loop;
  result r;
  ASSERT_EQ(ws101_loop_new(&loop), 0);
  r.want_header = NULL;
  ws101_fetch *f = start(loop, "GET", ct_url("http", "/hello"), &r);
  r.want_header = "content-type";
  ASSERT_EQ(ws101_fetch_send(f, NULL, 0), 0);
  ASSERT_EQ(ws101_fetch_send(f, NULL, 0), WS101_ESTATE);
  ct_run(loop, 10000);
  expect_ok(&r, 200);
  ASSERT_STR_EQ(r.body, "hello world\n");
  ASSERT_STR_EQ(r.hdr, "text/plain");
  free(r.body);
  ASSERT_EQ(ws101_loop_free(loop), 0);
}

static void test_chunked(void) {
  ws101_loop *loop;
  result r;
  ASSERT_EQ(ws101_loop_new(&loop), 0);
  ASSERT_EQ(ws101_fetch_send(start(loop, "GET", ct_url("http", "/chunked"), &r),
                             NULL, 0), 0);
  ct_run(loop, 10000);
  expect_ok(&r, 200);
  ASSERT_STR_EQ(r.body, "one,two,three");
  free(r.body);
  ASSERT_EQ(ws101_loop_free(loop), 0);
}

static void test_close_delimited(void) {
  ws101_loop *loop;
  result r;
  ASSERT_EQ(ws101_loop_new(&loop), 0);
  ASSERT_EQ(ws101_fetch_send(start(loop, "GET",
                                   ct_url("http", "/close-delimited"), &r),
                             NULL, 0), 0);
  ct_run(loop, 10000);
  expect_ok(&r, 200);
  ASSERT_STR_EQ(r.body, "until the end");
  free(r.body);
  ASSERT_EQ(ws101_loop_free(loop), 0);
}

static void test_big(void) {
  ws101_loop *loop;
  result r;
  size_t i;
  ASSERT_EQ(ws101_loop_new(&loop), 0);
  ASSERT_EQ(ws101_fetch_send(start(loop, "GET", ct_url("http", "/big"), &r),
                             NULL, 0), 0);
  ct_run(loop, 30000);
  expect_ok(&r, 200);
  ASSERT_EQ(r.body_len, 4u << 20);
  for (i = 0; i < r.body_len; i++)
    if ((unsigned char)r.body[i] != (i & 255)) FAILF("byte %zu differs", i);
  free(r.body);
  ASSERT_EQ(ws101_loop_free(loop), 0);
}

/* WS101_OPT_FETCH_BUFFER_BODY: one BODY event with everything, and the
 * WS101_OPT_MAX_BODY limit enforced. */
typedef struct buffered {
  int bodies, done, error, err;
  size_t len;
  int ok;
} buffered;

static void on_buffered(ws101_fetch *f, int event, const char *data,
                        size_t len, int arg, void *ud) {
  buffered *b = ud;
  size_t i;
  (void)f;
  if (event == WS101_FETCH_BODY) {
    b->bodies++;
    b->len = len;
    b->ok = 1;
    for (i = 0; i < len; i++)
      if ((unsigned char)data[i] != (i & 255)) b->ok = 0;
  } else if (event == WS101_FETCH_DONE) {
    b->done++;
  } else if (event == WS101_FETCH_ERROR) {
    b->error++;
    b->err = arg;
  }
}

static void test_buffered(void) {
  ws101_loop *loop;
  ws101_options *o;
  ws101_fetch *f;
  buffered b;
  ASSERT_EQ(ws101_loop_new(&loop), 0);
  ASSERT_EQ(ws101_options_new(&o), 0);
  ASSERT_EQ(ws101_options_set(o, WS101_OPT_FETCH_BUFFER_BODY, 1), 0);
  ASSERT_EQ(ws101_options_set(o, WS101_OPT_MAX_BODY, 8u << 20), 0);
  memset(&b, 0, sizeof(b));
  ASSERT_EQ(ws101_fetch_new(loop, "GET", ct_url("http", "/big"), o,
                            on_buffered, &b, &f), 0);
  ASSERT_EQ(ws101_fetch_send(f, NULL, 0), 0);
  ct_run(loop, 30000);
  ASSERT_EQ(b.error, 0);
  ASSERT_EQ(b.done, 1);
  ASSERT_EQ(b.bodies, 1); /* the 4 MiB body in one piece */
  ASSERT_EQ(b.len, 4u << 20);
  ASSERT_EQ(b.ok, 1);
  /* Over the limit: an error, not a truncated body. */
  ASSERT_EQ(ws101_options_set(o, WS101_OPT_MAX_BODY, 1u << 20), 0);
  memset(&b, 0, sizeof(b));
  ASSERT_EQ(ws101_fetch_new(loop, "GET", ct_url("http", "/big"), o,
                            on_buffered, &b, &f), 0);
  ASSERT_EQ(ws101_fetch_send(f, NULL, 0), 0);
  ct_run(loop, 30000);
  ASSERT_EQ(b.bodies, 0);
  ASSERT_EQ(b.done, 0);
  ASSERT_EQ(b.error, 1);
  ASSERT_EQ(b.err, WS101_ETOOBIG);
  ws101_options_free(o);
  ASSERT_EQ(ws101_loop_free(loop), 0);
}

static void test_no_body(void) {
  static const char *const cases[][2] = {
      {"HEAD", "/hello"}, {"GET", "/204"}, {"GET", "/304"}};
  size_t i;
  for (i = 0; i < 3; i++) {
    ws101_loop *loop;
    result r;
    ASSERT_EQ(ws101_loop_new(&loop), 0);
    ASSERT_EQ(ws101_fetch_send(start(loop, cases[i][0],
                                     ct_url("http", cases[i][1]), &r),
                               NULL, 0), 0);
    ct_run(loop, 10000);
    expect_ok(&r, i == 0 ? 200 : i == 1 ? 204 : 304);
    ASSERT_EQ(r.body_len, 0);
    ASSERT_EQ(ws101_loop_free(loop), 0);
  }
}

static void test_post(void) {
  ws101_loop *loop;
  ws101_options *o;
  result r;
  ws101_fetch *f = NULL;
  ASSERT_EQ(ws101_loop_new(&loop), 0);
  ASSERT_EQ(ws101_options_new(&o), 0);
  ASSERT_EQ(ws101_options_add_header(o, "X-Opt", "from-options"), 0);
  memset(&r, 0, sizeof(r));
  r.want_header = "x-te";
  ASSERT_EQ(ws101_fetch_new(loop, "POST", ct_url("http", "/echo"), o,
                            on_fetch, &r, &f), 0);
  ws101_options_free(o); /* copied */
  ASSERT_EQ(ws101_fetch_add_header(f, "X-Custom", "yes"), 0);
  ASSERT_EQ(ws101_fetch_add_header(f, "Bad Name", "x"), WS101_EINVAL);
  ASSERT_EQ(ws101_fetch_add_header(f, "X-Inject", "a\r\nb: c"), WS101_EINVAL);
  ASSERT_EQ(ws101_fetch_add_header(f, "Transfer-Encoding", "chunked"),
            WS101_EINVAL);
  ws101_fetch_set_user_data(f, &r);
  ASSERT_EQ(ws101_fetch_send(f, "posted body", 11), 0);
  ASSERT_EQ(ws101_fetch_add_header(f, "X-Late", "no"), WS101_ESTATE);
  ct_run(loop, 10000);
  expect_ok(&r, 200);
  ASSERT_STR_EQ(r.body, "posted body");
  ASSERT_STR_EQ(r.hdr, "none");
  free(r.body);
  ASSERT_EQ(ws101_loop_free(loop), 0);
}

/* Checks the request the server saw: method, UA, both header sources. */
static void on_echo_headers(ws101_fetch *f, int event, const char *data,
                            size_t len, int arg, void *ud) {
  if (event == WS101_FETCH_RESPONSE) {
    ASSERT_STR_EQ(ws101_fetch_header(f, "X-Method"), "PUT");
    ASSERT_STR_EQ(ws101_fetch_header(f, "X-TE"), "chunked");
    ASSERT(strncmp(ws101_fetch_header(f, "X-UA"), "libws101/", 9) == 0);
    ASSERT_STR_EQ(ws101_fetch_header(f, "X-Custom"), "yes");
  }
  on_fetch(f, event, data, len, arg, ud);
}

static void test_streamed_chunked(void) {
  ws101_loop *loop;
  result r;
  ws101_fetch *f = NULL;
  int i;
  ASSERT_EQ(ws101_loop_new(&loop), 0);
  memset(&r, 0, sizeof(r));
  ASSERT_EQ(ws101_fetch_new(loop, "PUT", ct_url("http", "/echo"), NULL,
                            on_echo_headers, &r, &f), 0);
  ws101_fetch_set_user_data(f, &r);
  ASSERT_EQ(ws101_fetch_add_header(f, "X-Custom", "yes"), 0);
  for (i = 0; i < 100; i++) ASSERT_EQ(ws101_fetch_write(f, "0123456789", 10), 0);
  ASSERT_EQ(ws101_fetch_write(f, "", 0), 0);
  ASSERT_EQ(ws101_fetch_end(f), 0);
  ASSERT_EQ(ws101_fetch_end(f), WS101_ESTATE);
  ASSERT_EQ(ws101_fetch_write(f, "x", 1), WS101_ESTATE);
  ct_run(loop, 10000);
  expect_ok(&r, 200);
  ASSERT_EQ(r.body_len, 1000);
  ASSERT_MEM_EQ(r.body + 990, "0123456789", 10);
  free(r.body);
  ASSERT_EQ(ws101_loop_free(loop), 0);
}

/* Two fetches in sequence reuse one connection; a third after the pool was
 * bypassed (different path, same origin) too. */
typedef struct seq {
  ws101_loop *loop;
  result r[3];
  int n;
} seq;

static void on_seq(ws101_fetch *f, int event, const char *data, size_t len,
                   int arg, void *ud) {
  seq *s = ud;
  on_fetch(f, event, data, len, arg, &s->r[s->n]);
  if (event == WS101_FETCH_DONE && ++s->n < 3) {
    ws101_fetch *g = NULL;
    ASSERT_EQ(ws101_fetch_new(s->loop, "GET",
                              ct_url("http", s->n == 1 ? "/chunked" : "/hello"),
                              NULL, on_seq, s, &g), 0);
    ws101_fetch_set_user_data(g, &s->r[s->n]);
    ASSERT_EQ(ws101_fetch_send(g, NULL, 0), 0);
  }
}

static void test_keepalive(void) {
  seq s;
  ws101_fetch *f = NULL;
  int i;
  memset(&s, 0, sizeof(s));
  ASSERT_EQ(ws101_loop_new(&s.loop), 0);
  ASSERT_EQ(ws101_fetch_new(s.loop, "GET", ct_url("http", "/hello"), NULL,
                            on_seq, &s, &f), 0);
  ws101_fetch_set_user_data(f, &s.r[0]);
  ASSERT_EQ(ws101_fetch_send(f, NULL, 0), 0);
  /* The pooled connection must not keep the loop alive after the last. */
  ct_run(s.loop, 10000);
  ASSERT_EQ(s.n, 3);
  for (i = 0; i < 3; i++) {
    expect_ok(&s.r[i], 200);
    ASSERT(s.r[i].conn[0] != '\0');
    ASSERT_STR_EQ(s.r[i].conn, s.r[0].conn);
    free(s.r[i].body);
  }
  ASSERT_EQ(ws101_loop_free(s.loop), 0);
}

static void expect_error(const char *method, const char *url, int err,
                         const char *msg_part, uint32_t timeout_ms) {
  ws101_loop *loop;
  ws101_options *o;
  result r;
  ws101_fetch *f = NULL;
  ASSERT_EQ(ws101_loop_new(&loop), 0);
  ASSERT_EQ(ws101_options_new(&o), 0);
  if (timeout_ms)
    ASSERT_EQ(ws101_options_set(o, WS101_OPT_RESPONSE_TIMEOUT_MS, timeout_ms),
              0);
  memset(&r, 0, sizeof(r));
  ASSERT_EQ(ws101_fetch_new(loop, method, url, o, on_fetch, &r, &f), 0);
  ws101_options_free(o);
  ASSERT_EQ(ws101_fetch_send(f, NULL, 0), 0);
  ct_run(loop, 20000);
  ASSERT_EQ(r.events_done, 0);
  ASSERT_EQ(r.events_error, 1);
  if (r.err != err)
    FAILF("error %s (%s), want %s", ws101_err_name(r.err), r.errmsg,
          ws101_err_name(err));
  if (strstr(r.errmsg, msg_part) == NULL)
    FAILF("message \"%s\" lacks \"%s\"", r.errmsg, msg_part);
  fprintf(stderr, "    got %s: %s\n", ws101_err_name(r.err), r.errmsg);
  free(r.body);
  ASSERT_EQ(ws101_loop_free(loop), 0);
}

static void test_malformed(void) {
  expect_error("GET", ct_url("http", "/garbage"), WS101_EPROTO, "malformed", 0);
  expect_error("GET", ct_url("http", "/truncated"), WS101_EPROTO,
               "before the response body", 0);
}

static void test_timeout(void) {
  expect_error("GET", ct_url("http", "/silent"), WS101_ETIMEDOUT,
               "no response data", 300);
}

static void test_refused(void) {
  /* Port 1 on loopback: nothing listens there in a test environment. */
  expect_error("GET", "http://127.0.0.1:1/", WS101_ECONNREFUSED, "127.0.0.1",
               0);
}

static void test_dns(void) {
  expect_error("GET", "http://no-such-host.invalid/", WS101_EDNS,
               "no-such-host.invalid", 0);
}

/* https:// to a plain HTTP peer: the handshake fails with OpenSSL's
 * reason, not a hang or a garbled response. */
static void test_https_plain_peer(void) {
  expect_error("GET", ct_url("https", "/hello"), WS101_ETLS,
               "TLS handshake failed", 0);
}

static void test_bad_args(void) {
  ws101_loop *loop;
  ws101_fetch *f = (ws101_fetch *)1;
  result r;
  ASSERT_EQ(ws101_loop_new(&loop), 0);
  ASSERT_EQ(ws101_fetch_new(loop, "GET", "ws://h/", NULL, on_fetch, &r, &f),
            WS101_EURL);
  ASSERT(f == NULL);
  ASSERT_EQ(ws101_fetch_new(loop, "GET", "http://u@h/", NULL, on_fetch, &r,
                            &f), WS101_EURL);
  ASSERT_EQ(ws101_fetch_new(loop, "G T", "http://h/", NULL, on_fetch, &r, &f),
            WS101_EINVAL);
  ASSERT_EQ(ws101_fetch_new(loop, "GET", "http://h/", NULL, NULL, &r, &f),
            WS101_EINVAL);
  ASSERT_EQ(ws101_loop_free(loop), 0);
}

/* Cancel from inside a callback, and a fetch still pending (resolving) when
 * the loop is freed: both end with exactly one ERROR. */
static void on_cancel_in_body(ws101_fetch *f, int event, const char *data,
                              size_t len, int arg, void *ud) {
  on_fetch(f, event, data, len, arg, ud);
  if (event == WS101_FETCH_RESPONSE) ASSERT_EQ(ws101_fetch_cancel(f), 0);
}

static void test_cancel(void) {
  ws101_loop *loop;
  result r, r2, r3;
  ws101_fetch *f = NULL;
  ASSERT_EQ(ws101_loop_new(&loop), 0);
  memset(&r, 0, sizeof(r));
  ASSERT_EQ(ws101_fetch_new(loop, "GET", ct_url("http", "/big"), NULL,
                            on_cancel_in_body, &r, &f), 0);
  ASSERT_EQ(ws101_fetch_send(f, NULL, 0), 0);
  ct_run(loop, 10000);
  ASSERT_EQ(r.events_error, 1);
  ASSERT_EQ(r.err, WS101_ECANCELED);
  ASSERT_EQ(r.body_len, 0);
  /* Cancel outside any callback, before the connection is up. */
  f = start(loop, "GET", ct_url("http", "/hello"), &r2);
  ASSERT_EQ(ws101_fetch_send(f, NULL, 0), 0);
  ASSERT_EQ(ws101_fetch_cancel(f), 0);
  ASSERT_EQ(r2.events_error, 1);
  ASSERT_EQ(r2.err, WS101_ECANCELED);
  /* Left pending at ws101_loop_free. */
  f = start(loop, "GET", ct_url("http", "/hello"), &r3);
  ASSERT_EQ(ws101_fetch_send(f, NULL, 0), 0);
  ct_run(loop, 5000); /* let r2's resources go */
  ASSERT_EQ(ws101_loop_free(loop), 0);
  ASSERT_EQ(r3.events_error + r3.events_done, 1);
  free(r3.body);
}

static void test_abandoned(void) {
  ws101_loop *loop;
  result r1, r2;
  ASSERT_EQ(ws101_loop_new(&loop), 0);
  /* Never sent, and resolving: both end at ws101_loop_free. */
  start(loop, "GET", ct_url("http", "/hello"), &r1);
  ASSERT_EQ(ws101_fetch_send(start(loop, "GET", "http://localhost:1/", &r2),
                             NULL, 0), 0);
  ASSERT_EQ(ws101_loop_free(loop), 0);
  ASSERT_EQ(r1.events_error, 1);
  ASSERT_EQ(r1.err, WS101_ECANCELED);
  ASSERT_EQ(r2.events_error, 1);
  ASSERT_EQ(r2.err, WS101_ECANCELED);
}

static const ct_case cases[] = {
    {"get", test_get},
    {"chunked", test_chunked},
    {"close_delimited", test_close_delimited},
    {"big", test_big},
    {"buffered", test_buffered},
    {"no_body", test_no_body},
    {"post", test_post},
    {"streamed_chunked", test_streamed_chunked},
    {"keepalive", test_keepalive},
    {"malformed", test_malformed},
    {"timeout", test_timeout},
    {"refused", test_refused},
    {"dns", test_dns},
    {"https_plain_peer", test_https_plain_peer},
    {"bad_args", test_bad_args},
    {"cancel", test_cancel},
    {"abandoned", test_abandoned},
    {NULL, NULL}};

int main(int argc, char **argv) { return ct_main(argc, argv, cases); }

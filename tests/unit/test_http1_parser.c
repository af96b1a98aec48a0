/* test_http1_parser.c - the HTTP/1.1 head parser and body decoder.
 *
 * Every good request is fed at every split point, each prefix in its own
 * exact-size allocation so ASan catches any read past `len`, and its body is
 * decoded from 2 and 3 separately allocated pieces at every split. */
#include "proto/http1_parser.h"
#include "test.h"

#define MAXH 32

static const ws101__h1_limits default_limits = {8192, 16384, 100};

typedef struct good_case {
  const char *text; /* head + body + tail */
  const char *tail; /* what follows the body (a pipelined request) or "" */
  const char *method, *target;
  int version;
  size_t nheaders;
  unsigned flags;
  uint64_t content_length;
  const char *hname, *hvalue; /* one header to look up, or NULL */
  const char *body;           /* decoded body */
} good_case;

#define KA WS101__H1_KEEPALIVE

static const good_case good[] = {
    {"GET /index.html?x=1 HTTP/1.1\r\nHost: example.com\r\n"
     "User-Agent:  test/1.0 \t\r\nAccept: */*\r\n\r\n",
     "", "GET", "/index.html?x=1", 11, 3, KA, 0, "user-agent", "test/1.0", ""},
    {"POST /submit HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n"
     "Content-Type: text/plain\r\n\r\nhello world",
     "", "POST", "/submit", 11, 3, KA | WS101__H1_HAS_CL, 11, "content-type",
     "text/plain", "hello world"},
    {"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
     "5;name=val\r\nhello\r\n6 ; a=\"q\\\"s\" ;b\r\n world\r\n"
     "A\r\n0123456789\r\n0\r\nX-Trailer: yes\r\nX-Other:1\r\n\r\n",
     "", "POST", "/up", 11, 2, KA | WS101__H1_CHUNKED, 0, "transfer-encoding",
     "chunked", "hello world0123456789"},
    {"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\n\r\n"
     "0\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n",
     "GET /next HTTP/1.1\r\nHost: a\r\n\r\n", "POST", "/c", 11, 2,
     KA | WS101__H1_CHUNKED, 0, NULL, NULL, ""},
    {"GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n",
     "GET /b HTTP/1.1\r\nHost: a\r\n\r\n", "GET", "/a", 11, 1, KA, 0, "HOST",
     "a", ""},
    {"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n"
     "abcPOST /q HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nz",
     "POST /q HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nz", "POST", "/p",
     11, 2, KA | WS101__H1_HAS_CL, 3, NULL, NULL, "abc"},
    {"GET / HTTP/1.0\r\n\r\n", "", "GET", "/", 10, 0, 0, 0, NULL, NULL, ""},
    {"GET /k HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", "", "GET", "/k", 10,
     1, KA, 0, "connection", "Keep-Alive", ""},
    {"HEAD /x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", "", "HEAD",
     "/x", 11, 2, WS101__H1_CONN_CLOSE, 0, NULL, NULL, ""},
    {"PUT /f HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
     "Content-Length: 4\r\n\r\ndata",
     "", "PUT", "/f", 11, 3, KA | WS101__H1_HAS_CL | WS101__H1_EXPECT_CONTINUE,
     4, "expect", "100-continue", "data"},
    {"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"
     "Connection: keep-alive, Upgrade\r\n"
     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
     "Sec-WebSocket-Version: 13\r\n\r\n",
     "", "GET", "/chat", 11, 5,
     KA | WS101__H1_CONN_UPGRADE | WS101__H1_HAS_UPGRADE, 0,
     "sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==", ""},
    {"\r\n\r\nGET /lead HTTP/1.1\r\nHost: h\r\nX-Empty:\r\nX-Blank: \t \r\n"
     "Content-Length: 0\r\n\r\n",
     "", "GET", "/lead", 11, 4, KA | WS101__H1_HAS_CL, 0, "x-blank", "", ""},
    {"OPTIONS * HTTP/1.1\r\nHost: h\r\nContent-Length: 2, 2\r\n"
     "content-length: 2\r\n\r\nok",
     "", "OPTIONS", "*", 11, 3, KA | WS101__H1_HAS_CL, 2, NULL, NULL, "ok"},
    {"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", "",
     "CONNECT", "example.com:443", 11, 1, KA, 0, NULL, NULL, ""},
    {"GET http://example.com/x HTTP/1.1\r\nHost: example.com\r\n"
     "X-Obs: caf\xc3\xa9\r\n\r\n",
     "", "GET", "http://example.com/x", 11, 2, KA, 0, "x-obs", "caf\xc3\xa9",
     ""},
};

static void check_head(const good_case *c, const ws101__h1_head *h) {
  ASSERT_STR_EQ(h->method, c->method);
  ASSERT_EQ(h->method_len, strlen(c->method));
  ASSERT_STR_EQ(h->target, c->target);
  ASSERT_EQ(h->target_len, strlen(c->target));
  ASSERT_EQ(h->version, c->version);
  ASSERT_EQ(h->nheaders, c->nheaders);
  ASSERT_EQ(h->flags, c->flags);
  ASSERT_EQ(h->content_length, c->content_length);
  ASSERT(h->status == 0 && h->reason == NULL);
  if (c->hname)
    ASSERT_STR_EQ(ws101__h1_find_header(h, c->hname), c->hvalue);
  for (size_t i = 0; i < h->nheaders; i++) {
    ASSERT_EQ(strlen(h->headers[i].name), h->headers[i].name_len);
    ASSERT_EQ(strlen(h->headers[i].value), h->headers[i].value_len);
  }
  if (c->version == 11)
    ASSERT(h->host != NULL);
}

static char *dup_n(const char *s, size_t n) {
  char *p = malloc(n ? n : 1);
  ASSERT(p != NULL);
  memcpy(p, s, n);
  return p;
}

static int parse_req(const char *text, size_t n, size_t *scanned,
                     const ws101__h1_limits *lim, ws101__h1_head *h,
                     ws101__h1_header *hs, size_t cap, char **keep) {
  char *buf = dup_n(text, n);
  int r;
  h->headers = hs;
  h->max_headers_cap = cap;
  r = ws101__h1_parse_request(buf, n, scanned, lim, h);
  if (keep)
    *keep = buf;
  else
    free(buf);
  return r;
}

/* Decodes body[0..blen) cut at cuts[0..ncuts) into separately allocated
 * pieces; checks the data and how much was consumed. */
static void decode_pieces(const ws101__h1_head *h, const char *body,
                          size_t blen, const size_t *cuts, int ncuts,
                          const char *want, size_t want_consumed) {
  ws101__h1_body b;
  char out[256];
  size_t outlen = 0, total = 0, from = 0;
  int done = 0;
  ws101__h1_body_init_request(&b, h);
  for (int p = 0; p <= ncuts && !done; p++) {
    size_t to = p < ncuts ? cuts[p] : blen, plen = to - from, off = 0;
    char *piece = dup_n(body + from, plen);
    for (;;) {
      const char *d;
      size_t dl, cons;
      int r = ws101__h1_body_next(&b, piece + off, plen - off, &cons, &d, &dl);
      ASSERT_LE(cons, plen - off);
      off += cons;
      total += cons;
      if (r == WS101__H1_BODY_DATA) {
        ASSERT(dl > 0 && d >= piece && d + dl <= piece + plen);
        ASSERT_LE(outlen + dl, sizeof(out));
        memcpy(out + outlen, d, dl);
        outlen += dl;
      } else if (r == WS101__H1_BODY_DONE) {
        done = 1;
        ASSERT(ws101__h1_body_done(&b));
        break;
      } else {
        ASSERT_EQ(r, WS101__H1_BODY_MORE);
        ASSERT_EQ(off, plen);
        ASSERT(!ws101__h1_body_done(&b));
        break;
      }
    }
    free(piece);
    from = to;
  }
  ASSERT(done);
  ASSERT_EQ(total, want_consumed);
  ASSERT_EQ(outlen, strlen(want));
  ASSERT_MEM_EQ(out, want, outlen);
}

static void run_good(const good_case *c) {
  size_t n = strlen(c->text), scanned = 0, carried = 0, k;
  ws101__h1_header hs[MAXH];
  ws101__h1_head h;
  char *buf;
  int H = parse_req(c->text, n, &scanned, &default_limits, &h, hs, MAXH, &buf);
  ASSERT_GT(H, 0);
  check_head(c, &h);
  free(buf);

  /* Every prefix: incomplete (0) until H bytes, then identical results;
   * once with a fresh resume offset, once carrying it as a server does. */
  for (k = 1; k <= n; k++) {
    size_t fresh = 0;
    int r = parse_req(c->text, k, &fresh, &default_limits, &h, hs, MAXH, &buf);
    if (k < (size_t)H) {
      ASSERT_EQ(r, 0);
      r = parse_req(c->text, k, &carried, &default_limits, &h, hs, MAXH, NULL);
      ASSERT_EQ(r, 0);
      ASSERT_LE(carried, k);
    } else {
      ASSERT_EQ(r, H);
      check_head(c, &h);
      if (k == (size_t)H) {
        free(buf);
        r = parse_req(c->text, k, &carried, &default_limits, &h, hs, MAXH,
                      &buf);
        ASSERT_EQ(r, H);
        check_head(c, &h);
      }
    }
    free(buf);
  }

  /* Body: 1, 2 and 3 pieces at every split point. */
  {
    const char *body = c->text + H;
    size_t blen = n - (size_t)H, want = blen - strlen(c->tail),
           cuts[2] = {0, 0};
    decode_pieces(&h, body, blen, cuts, 0, c->body, want);
    for (cuts[0] = 0; cuts[0] <= blen; cuts[0]++) {
      decode_pieces(&h, body, blen, cuts, 1, c->body, want);
      for (cuts[1] = cuts[0]; cuts[1] <= blen; cuts[1]++)
        decode_pieces(&h, body, blen, cuts, 2, c->body, want);
    }
  }
}

static void test_good_requests(void) {
  for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
    fprintf(stderr, "    good[%zu]\n", i);
    run_good(&good[i]);
  }
}

/* A pipeline is parsed request by request from the remaining bytes. */
static void test_pipeline(void) {
  char buf[] = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
               "POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi"
               "GET /3 HTTP/1.0\r\n\r\n";
  const char *want[] = {"/1", "/2", "/3"};
  size_t off = 0, len = sizeof(buf) - 1;
  ws101__h1_header hs[8];
  for (int i = 0; i < 3; i++) {
    ws101__h1_head h;
    ws101__h1_body b;
    size_t scanned = 0, cons, dl;
    const char *d;
    int n, r;
    h.headers = hs;
    h.max_headers_cap = 8;
    n = ws101__h1_parse_request(buf + off, len - off, &scanned, &default_limits,
                                &h);
    ASSERT_GT(n, 0);
    ASSERT_STR_EQ(h.target, want[i]);
    off += (size_t)n;
    ws101__h1_body_init_request(&b, &h);
    while ((r = ws101__h1_body_next(&b, buf + off, len - off, &cons, &d,
                                    &dl)) == WS101__H1_BODY_DATA)
      off += cons;
    ASSERT_EQ(r, WS101__H1_BODY_DONE);
    off += cons;
  }
  ASSERT_EQ(off, len);
}

typedef struct bad_case {
  const char *text;
  size_t len; /* 0: strlen */
  int status;
  ws101__h1_limits lim; /* all 0: defaults */
} bad_case;

#define DEFL                                                                   \
  { 0, 0, 0 }
#define H11 "GET / HTTP/1.1\r\nHost: a\r\n"
static const bad_case bad[] = {
    /* smuggling: framing */
    {H11 "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 0, 400,
     DEFL},
    {H11 "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 0, 400,
     DEFL},
    {H11 "Transfer-Encoding: gzip\r\n\r\n", 0, 501, DEFL},
    {H11 "Transfer-Encoding: gzip, chunked\r\n\r\n", 0, 501, DEFL},
    {H11 "Transfer-Encoding: identity\r\n\r\n", 0, 501, DEFL},
    {H11 "Transfer-Encoding: chunked, gzip\r\n\r\n", 0, 400, DEFL},
    {H11 "Transfer-Encoding: chunked, chunked\r\n\r\n", 0, 400, DEFL},
    {H11 "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 0,
     400, DEFL},
    {H11 "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n", 0,
     400, DEFL},
    {H11 "Transfer-Encoding: chunked;q=1\r\n\r\n", 0, 400, DEFL},
    {H11 "Transfer-Encoding:\r\n\r\n", 0, 400, DEFL},
    {H11 "Transfer-Encoding: chun ked\r\n\r\n", 0, 400, DEFL},
    {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 0, 400, DEFL},
    {H11 "Content-Length: abc\r\n\r\n", 0, 400, DEFL},
    {H11 "Content-Length: -5\r\n\r\n", 0, 400, DEFL},
    {H11 "Content-Length: +5\r\n\r\n", 0, 400, DEFL},
    {H11 "Content-Length: \r\n\r\n", 0, 400, DEFL},
    {H11 "Content-Length: 0x10\r\n\r\n", 0, 400, DEFL},
    {H11 "Content-Length: 5 5\r\n\r\n", 0, 400, DEFL},
    {H11 "Content-Length: 99999999999999999999999\r\n\r\n", 0, 400, DEFL},
    {H11 "Content-Length: 18446744073709551616\r\n\r\n", 0, 400, DEFL},
    {H11 "Content-Length: 5, 6\r\n\r\n", 0, 400, DEFL},
    {H11 "Content-Length: ,5\r\n\r\n", 0, 400, DEFL},
    {H11 "Content-Length: 5,\r\n\r\n", 0, 400, DEFL},
    {H11 "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", 0, 400, DEFL},
    /* line structure */
    {H11 "X-A: a\r\n b\r\n\r\n", 0, 400, DEFL},
    {"GET / HTTP/1.1\r\n Host: a\r\n\r\n", 0, 400, DEFL},
    {"GET / HTTP/1.1\r\n\tHost: a\r\n\r\n", 0, 400, DEFL},
    {H11 "X-A: a\rb\r\n\r\n", 0, 400, DEFL},
    {"GET / HTTP/1.1\r\nHost: a\n\r\n", 0, 400, DEFL},
    {"GET / HTTP/1.1\nHost: a\n\n", 0, 400, DEFL},
    {"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400, DEFL},
    {"\r\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400, DEFL},
    {H11 "X-A: a\0b\r\n\r\n", sizeof(H11 "X-A: a\0b\r\n\r\n") - 1, 400, DEFL},
    {H11 "X-A: a\x01"
         "b\r\n\r\n",
     0, 400, DEFL},
    {H11 "X-A: a\x7f\r\n\r\n", 0, 400, DEFL},
    {H11 "X\x01: a\r\n\r\n", 0, 400, DEFL},
    {H11 "X-A : a\r\n\r\n", 0, 400, DEFL},
    {H11 ": a\r\n\r\n", 0, 400, DEFL},
    {H11 "X(A): a\r\n\r\n", 0, 400, DEFL},
    {H11 "NoColon\r\n\r\n", 0, 400, DEFL},
    /* request line */
    {"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400, DEFL},
    {"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400, DEFL},
    {"GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400, DEFL},
    {"GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400, DEFL},
    {" GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400, DEFL},
    {"GET /\r\nHost: a\r\n\r\n", 0, 400, DEFL},
    {"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 0, 505, DEFL},
    {"GET / HTTP/1.2\r\nHost: a\r\n\r\n", 0, 505, DEFL},
    {"GET / HTTP/0.9\r\nHost: a\r\n\r\n", 0, 505, DEFL},
    {"GET / HTTP/1.10\r\nHost: a\r\n\r\n", 0, 400, DEFL},
    {"GET / http/1.1\r\nHost: a\r\n\r\n", 0, 400, DEFL},
    {"GET / HTTP/1\r\nHost: a\r\n\r\n", 0, 400, DEFL},
    {"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 0, 400, DEFL},
    {"GET / HTTP/x.1\r\nHost: a\r\n\r\n", 0, 400, DEFL},
    /* Host */
    {"GET / HTTP/1.1\r\n\r\n", 0, 400, DEFL},
    {H11 "Host: b\r\n\r\n", 0, 400, DEFL},
    {"GET / HTTP/1.0\r\nHost: a\r\nhost: a\r\n\r\n", 0, 400, DEFL},
    /* request-target forms */
    {"GET index.html HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400, DEFL},
    {"GET * HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400, DEFL},
    {"CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400, DEFL},
    {"CONNECT a.com HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400, DEFL},
    {"GET a.com:443 HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400, DEFL},
    {"GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400, DEFL},
    /* limits */
    {"GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\nHost: a\r\n\r\n",
     0,
     414,
     {32, 16384, 100}},
    {"GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0, 414, {32, 16384, 100}},
    {H11 "X-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
     0,
     431,
     {8192, 64, 100}},
    {H11 "A: 1\r\nB: 2\r\n\r\n", 0, 431, {8192, 16384, 2}},
    {"\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n", 0, 431, {8192, 16, 100}},
};

static void test_bad_requests(void) {
  ws101__h1_header hs[MAXH];
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    const bad_case *c = &bad[i];
    const ws101__h1_limits *lim =
        c->lim.max_header_bytes ? &c->lim : &default_limits;
    size_t n = c->len ? c->len : strlen(c->text), scanned = 0, k;
    ws101__h1_head h;
    int r = parse_req(c->text, n, &scanned, lim, &h, hs, MAXH, NULL);
    if (r != -c->status)
      FAILF("bad[%zu]: got %d, want %d", i, r, -c->status);
    /* Fed incrementally the same error appears, never another one. */
    scanned = 0;
    for (k = 1; k <= n; k++) {
      r = parse_req(c->text, k, &scanned, lim, &h, hs, MAXH, NULL);
      if (r != 0 && r != -c->status)
        FAILF("bad[%zu] prefix %zu: got %d, want %d", i, k, r, -c->status);
      if (r != 0)
        break;
    }
    ASSERT_EQ(r, -c->status);
  }
}

/* The caller's array is a limit too. */
static void test_header_array_cap(void) {
  ws101__h1_header hs[2];
  ws101__h1_head h;
  size_t scanned = 0;
  const char *t = H11 "A: 1\r\n\r\n";
  ASSERT_EQ(parse_req(t, strlen(t), &scanned, &default_limits, &h, hs, 2, NULL),
            (int)strlen(t));
  t = H11 "A: 1\r\nB: 2\r\n\r\n";
  scanned = 0;
  ASSERT_EQ(parse_req(t, strlen(t), &scanned, &default_limits, &h, hs, 2, NULL),
            -431);
}

static int decode_all(const char *head_and_body, const char **err_ctx) {
  ws101__h1_header hs[MAXH];
  ws101__h1_head h;
  ws101__h1_body b;
  size_t scanned = 0, n = strlen(head_and_body), cons, dl, off;
  const char *d;
  char *buf;
  int H, r;
  (void)err_ctx;
  H = parse_req(head_and_body, n, &scanned, &default_limits, &h, hs, MAXH,
                &buf);
  ASSERT_GT(H, 0);
  ws101__h1_body_init_request(&b, &h);
  off = (size_t)H;
  while ((r = ws101__h1_body_next(&b, buf + off, n - off, &cons, &d, &dl)) ==
         WS101__H1_BODY_DATA)
    off += cons;
  if (r < 0) {
    /* A failed decoder stays failed. */
    ASSERT_EQ(ws101__h1_body_next(&b, "0\r\n\r\n", 5, &cons, &d, &dl), r);
    ASSERT(!ws101__h1_body_done(&b));
  }
  free(buf);
  return r;
}

#define CH "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
static void test_bad_chunked(void) {
  static char big_ext[6000], big_trailer[9000];
  static const struct {
    const char *body;
    int want;
  } t[] = {
      {"zz\r\n", -400},
      {"\r\n", -400},
      {"5\r\nhelloX\r\n0\r\n\r\n", -400},
      {"5\r\nhello\r\r0\r\n\r\n", -400},
      {"5\nhello\r\n0\r\n\r\n", -400},
      {"11111111111111111\r\n", -400},
      {"5;=x\r\n", -400},
      {"5;a=\"x\r\n", -400},
      {"5;a=\r\n", -400},
      {"5 \r\nhello\r\n0\r\n\r\n", -400},
      {"5;a b\r\n", -400},
      {"5;a=b c\r\n", -400},
      {"-5\r\n", -400},
      {"0\r\n x: y\r\n\r\n", -400},
      {"0\r\nx y: z\r\n\r\n", -400},
      {"0\r\nx: \x01\r\n\r\n", -400},
      {"0\r\nx: y\n\r\n", -400},
      {"0\r\n\r\r", -400},
      {NULL, -400},
      {NULL, -431},
      {"5;a=\"q\"\r\nhello\r\n0 ; x = y\r\nT: 1\r\n\r\n", WS101__H1_BODY_DONE},
      {"ffffffffffffffff\r\n", WS101__H1_BODY_MORE},
  };
  char buf[16000];
  memset(big_ext, 'a', sizeof(big_ext) - 1);
  memcpy(big_ext, "1;", 2);
  memset(big_trailer, 'b', sizeof(big_trailer) - 1);
  memcpy(big_trailer, "0\r\nX:", 5);
  for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
    const char *body = t[i].body;
    if (body == NULL)
      body = t[i].want == -431 ? big_trailer : big_ext;
    snprintf(buf, sizeof(buf), "%s%s", CH, body);
    int r = decode_all(buf, NULL);
    if (r != t[i].want)
      FAILF("chunked[%zu]: got %d, want %d", i, r, t[i].want);
  }
}

static int parse_resp(const char *text, ws101__h1_head *h, ws101__h1_header *hs,
                      char **keep) {
  size_t scanned = 0, n = strlen(text);
  char *buf = dup_n(text, n);
  int r;
  h->headers = hs;
  h->max_headers_cap = MAXH;
  r = ws101__h1_parse_response(buf, n, &scanned, &default_limits, h);
  *keep = buf;
  return r;
}

static void test_responses(void) {
  ws101__h1_header hs[MAXH];
  ws101__h1_head h;
  ws101__h1_body b;
  const char *d;
  size_t cons, dl;
  char *buf;
  const char *t = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\n\r\n";
  size_t n = strlen(t);

  /* every prefix of a 101 */
  for (size_t k = 1; k <= n; k++) {
    size_t scanned = 0;
    char *p = dup_n(t, k);
    h.headers = hs;
    h.max_headers_cap = MAXH;
    int r = ws101__h1_parse_response(p, k, &scanned, &default_limits, &h);
    ASSERT_EQ(r, k < n ? 0 : (int)n);
    free(p);
  }
  ASSERT_EQ(parse_resp(t, &h, hs, &buf), (int)n);
  ASSERT_EQ(h.status, 101);
  ASSERT_STR_EQ(h.reason, "Switching Protocols");
  ASSERT(h.method == NULL && h.target == NULL);
  ASSERT_EQ(h.flags, KA | WS101__H1_CONN_UPGRADE | WS101__H1_HAS_UPGRADE);
  ASSERT_STR_EQ(h.upgrade, "websocket");
  ws101__h1_body_init_response(&b, &h, 0);
  ASSERT(ws101__h1_body_done(&b));
  free(buf);

  /* no reason phrase, no framing: body until close */
  t = "HTTP/1.0 200\r\n\r\nabc";
  ASSERT_EQ(parse_resp(t, &h, hs, &buf), 16);
  ASSERT_EQ(h.status, 200);
  ASSERT_STR_EQ(h.reason, "");
  ASSERT_EQ(h.version, 10);
  ws101__h1_body_init_response(&b, &h, 0);
  ASSERT_EQ(ws101__h1_body_next(&b, buf + 16, 3, &cons, &d, &dl),
            WS101__H1_BODY_DATA);
  ASSERT_EQ(dl, 3);
  ASSERT_EQ(ws101__h1_body_next(&b, buf + 19, 0, &cons, &d, &dl),
            WS101__H1_BODY_MORE);
  ASSERT(!ws101__h1_body_done(&b));
  free(buf);

  /* chunked response; same head to a HEAD request has no body */
  t = "HTTP/1.1 200 OK\r\nTransfer-Encoding: "
      "chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
  int H = parse_resp(t, &h, hs, &buf);
  ASSERT_GT(H, 0);
  ASSERT(h.flags & WS101__H1_CHUNKED);
  ws101__h1_body_init_response(&b, &h, 1);
  ASSERT_EQ(
      ws101__h1_body_next(&b, buf + H, strlen(t) - (size_t)H, &cons, &d, &dl),
      WS101__H1_BODY_DONE);
  ASSERT_EQ(cons, 0);
  ws101__h1_body_init_response(&b, &h, 0);
  ASSERT_EQ(
      ws101__h1_body_next(&b, buf + H, strlen(t) - (size_t)H, &cons, &d, &dl),
      WS101__H1_BODY_DATA);
  ASSERT_EQ(dl, 3);
  ASSERT_MEM_EQ(d, "abc", 3);
  free(buf);

  /* 204 and 304 with a Content-Length still have no body */
  t = "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n";
  ASSERT_GT(parse_resp(t, &h, hs, &buf), 0);
  ws101__h1_body_init_response(&b, &h, 0);
  ASSERT(ws101__h1_body_done(&b));
  free(buf);

  /* errors */
  static const char *const bad_resp[] = {
      "HTTP/1.1 20 OK\r\n\r\n",
      "HTTP/1.1 2000 OK\r\n\r\n",
      "HTTP/1.1 099 X\r\n\r\n",
      "HTTP/2.0 200 OK\r\n\r\n",
      "HTTP/1.1  200 OK\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: "
      "chunked\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
      "HTTP/1.1 200 OK\nX: y\n\n",
      "HTTP/1.1 200 O\x01K\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
  };
  for (size_t i = 0; i < sizeof(bad_resp) / sizeof(bad_resp[0]); i++) {
    int r = parse_resp(bad_resp[i], &h, hs, &buf);
    if (r != -502)
      FAILF("bad_resp[%zu]: got %d", i, r);
    free(buf);
  }
}

static void test_helpers(void) {
  ASSERT(ws101__h1_token_list_has("keep-alive, Upgrade", "upgrade"));
  ASSERT(ws101__h1_token_list_has("Upgrade", "UPGRADE"));
  ASSERT(ws101__h1_token_list_has(" ,\tupgrade\t, ", "upgrade"));
  ASSERT(!ws101__h1_token_list_has("upgrades", "upgrade"));
  ASSERT(!ws101__h1_token_list_has("up grade", "upgrade"));
  ASSERT(!ws101__h1_token_list_has("", "upgrade"));
  ASSERT(!ws101__h1_token_list_has(NULL, "upgrade"));
  ASSERT_STR_EQ(ws101__h1_status_reason(200), "OK");
  ASSERT_STR_EQ(ws101__h1_status_reason(101), "Switching Protocols");
  ASSERT_STR_EQ(ws101__h1_status_reason(426), "Upgrade Required");
  ASSERT_STR_EQ(ws101__h1_status_reason(431),
                "Request Header Fields Too Large");
  ASSERT_STR_EQ(ws101__h1_status_reason(799), "");
}

/* A drip-fed head is scanned once: the resume offset only moves forward
 * and never passes the data. */
static void test_resume_offset(void) {
  const char *t = "GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n\r\n";
  size_t n = strlen(t), scanned = 0, prev = 0;
  ws101__h1_header hs[4];
  ws101__h1_head h;
  for (size_t k = 1; k < n; k++) {
    ASSERT_EQ(parse_req(t, k, &scanned, &default_limits, &h, hs, 4, NULL), 0);
    ASSERT_GE(scanned, prev);
    ASSERT_LE(scanned, k);
    prev = scanned;
  }
}

int main(void) {
  RUN(test_good_requests);
  RUN(test_pipeline);
  RUN(test_bad_requests);
  RUN(test_header_array_cap);
  RUN(test_bad_chunked);
  RUN(test_responses);
  RUN(test_helpers);
  RUN(test_resume_offset);
  TEST_DONE();
}

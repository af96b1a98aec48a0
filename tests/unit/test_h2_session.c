/* test_h2_session.c - the sans-I/O HTTP/2 adapter against a real nghttp2
 * client session as the peer: requests split at every byte, limits,
 * floods, flow control, h2c settings and upgrade. */
#include <nghttp2/nghttp2.h>

#include "proto/h2_session.h"
#include "test.h"
#include "ws101.h"

/* ---- the server side under test ---------------------------------------- */

typedef struct srv_state {
  ws101__h2 *h;
  int heads, ends, closes, status431;
  char method[16], path[64], host[64], protocol[32];
  size_t body_len;    /* request body bytes seen */
  int consume;        /* consume body bytes as they arrive */
  const char *resp;   /* response body, or NULL for none */
  size_t resp_off;
  int respond_on_end;
} srv_state;

static int s_on_head(void *ud, ws101__h2_stream *st) {
  srv_state *s = ud;
  s->heads++;
  if (st->head_status == 431) {
    s->status431++;
    return 0;
  }
  snprintf(s->method, sizeof s->method, "%s", st->head.method);
  snprintf(s->path, sizeof s->path, "%s", st->head.target);
  snprintf(s->host, sizeof s->host, "%s",
           ws101__h1_find_header(&st->head, "host"));
  snprintf(s->protocol, sizeof s->protocol, "%s",
           st->protocol ? st->protocol : "");
  return 0;
}

static void s_on_data(void *ud, ws101__h2_stream *st, const char *d,
                      size_t n) {
  srv_state *s = ud;
  (void)d;
  s->body_len += n;
  if (s->consume) ws101__h2_consume(s->h, st, n);
}

static void respond(srv_state *s, ws101__h2_stream *st) {
  ws101__h2_field f[1] = {{"content-type", 12, "text/plain", 10}};
  ASSERT_EQ(ws101__h2_respond(s->h, st, 200, f, 1, s->resp != NULL), 0);
}

static void s_on_end(void *ud, ws101__h2_stream *st) {
  srv_state *s = ud;
  s->ends++;
  if (s->respond_on_end) respond(s, st);
}

static void s_on_close(void *ud, ws101__h2_stream *st, uint32_t err) {
  srv_state *s = ud;
  (void)st;
  (void)err;
  s->closes++;
}

static ssize_t s_read_body(void *ud, ws101__h2_stream *st, char *buf,
                           size_t max, int *eof) {
  srv_state *s = ud;
  size_t left = strlen(s->resp) - s->resp_off;
  (void)st;
  if (left > max) left = max;
  memcpy(buf, s->resp + s->resp_off, left);
  s->resp_off += left;
  *eof = s->resp_off == strlen(s->resp);
  return (ssize_t)left;
}

static const ws101__h2_cbs srv_cbs = {s_on_head, s_on_data, s_on_end,
                                      s_on_close, s_read_body};

static void srv_init(srv_state *s, const ws101__h2_settings *set) {
  memset(s, 0, sizeof(*s));
  s->consume = 1;
  s->respond_on_end = 1;
  ASSERT_EQ(ws101__h2_new(&s->h, 1, set, &srv_cbs, s), 0);
}

/* ---- the peer: an nghttp2 client --------------------------------------- */

typedef struct cli_state {
  nghttp2_session *s;
  int status;
  char body[4096];
  size_t body_len;
  int closed;
  int goaway;
  uint32_t goaway_code;
  int32_t goaway_last;
  int rst;
  int connect_protocol;
} cli_state;

static int c_on_header(nghttp2_session *s, const nghttp2_frame *f,
                       const uint8_t *n, size_t nl, const uint8_t *v,
                       size_t vl, uint8_t flags, void *ud) {
  cli_state *c = ud;
  (void)s, (void)f, (void)flags;
  if (nl == 7 && memcmp(n, ":status", 7) == 0) c->status = atoi((char *)v);
  (void)vl;
  return 0;
}

static int c_on_data(nghttp2_session *s, uint8_t flags, int32_t id,
                     const uint8_t *d, size_t n, void *ud) {
  cli_state *c = ud;
  (void)s, (void)flags, (void)id;
  if (c->body_len + n <= sizeof c->body) memcpy(c->body + c->body_len, d, n);
  c->body_len += n;
  return 0;
}

static int c_on_frame(nghttp2_session *s, const nghttp2_frame *f, void *ud) {
  cli_state *c = ud;
  if (f->hd.type == NGHTTP2_GOAWAY) {
    c->goaway++;
    c->goaway_code = f->goaway.error_code;
    c->goaway_last = f->goaway.last_stream_id;
  }
  if (f->hd.type == NGHTTP2_RST_STREAM) c->rst++;
  if (f->hd.type == NGHTTP2_SETTINGS && !(f->hd.flags & NGHTTP2_FLAG_ACK))
    c->connect_protocol = nghttp2_session_get_remote_settings(
        s, NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL);
  return 0;
}

static int c_on_close(nghttp2_session *s, int32_t id, uint32_t e, void *ud) {
  cli_state *c = ud;
  (void)s, (void)id, (void)e;
  c->closed++;
  return 0;
}

static void cli_init(cli_state *c) {
  nghttp2_session_callbacks *cb;
  memset(c, 0, sizeof(*c));
  nghttp2_session_callbacks_new(&cb);
  nghttp2_session_callbacks_set_on_header_callback(cb, c_on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, c_on_data);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, c_on_frame);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, c_on_close);
  ASSERT_EQ(nghttp2_session_client_new(&c->s, cb, c), 0);
  nghttp2_session_callbacks_del(cb);
  ASSERT_EQ(nghttp2_submit_settings(c->s, NGHTTP2_FLAG_NONE, NULL, 0), 0);
}

#define NV(n, v)                                                           \
  {(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, sizeof(v) - 1,          \
   NGHTTP2_NV_FLAG_NONE}

/* Everything the client has to send, concatenated. */
static size_t cli_out(cli_state *c, char *buf, size_t cap) {
  const uint8_t *p;
  ssize_t n;
  size_t len = 0;
  while ((n = nghttp2_session_mem_send(c->s, &p)) > 0) {
    ASSERT(len + (size_t)n <= cap);
    memcpy(buf + len, p, (size_t)n);
    len += (size_t)n;
  }
  ASSERT_GE(n, 0);
  return len;
}

/* Server output into the client. */
static void srv_to_cli(srv_state *s, cli_state *c) {
  const char *p;
  ssize_t n;
  while ((n = ws101__h2_send(s->h, &p)) > 0)
    ASSERT_EQ(nghttp2_session_mem_recv(c->s, (const uint8_t *)p, (size_t)n),
              n);
  ASSERT_GE(n, 0);
}

/* A full exchange until neither side has anything to say. */
static void exchange(srv_state *s, cli_state *c) {
  static char buf[1 << 20];
  int i;
  for (i = 0; i < 20; i++) {
    size_t n = cli_out(c, buf, sizeof buf);
    if (n > 0) ASSERT_EQ(ws101__h2_recv(s->h, buf, n, 0), 0);
    srv_to_cli(s, c);
    if (n == 0 && !nghttp2_session_want_write(c->s)) break;
  }
}

static const nghttp2_nv get_nv[] = {
    NV(":method", "GET"), NV(":scheme", "http"), NV(":authority", "a.test"),
    NV(":path", "/hello?x=1"), NV("user-agent", "t")};

/* ---- tests -------------------------------------------------------------- */

static void test_get_every_split(void) {
  static char buf[4096];
  size_t n, cut;
  cli_state c0;
  cli_init(&c0);
  ASSERT_GT(nghttp2_submit_request(c0.s, NULL, get_nv, 5, NULL, NULL), 0);
  n = cli_out(&c0, buf, sizeof buf);
  nghttp2_session_del(c0.s);
  ASSERT_GT(n, WS101__H2_PREFACE_LEN);
  for (cut = 0; cut <= n; cut++) {
    srv_state s;
    cli_state c;
    srv_init(&s, NULL);
    s.resp = "hello\n";
    /* The same bytes, split at `cut`, then at every byte for cut == 0. */
    if (cut == 0) {
      size_t i;
      for (i = 0; i < n; i++) ASSERT_EQ(ws101__h2_recv(s.h, buf + i, 1, 0), 0);
    } else {
      ASSERT_EQ(ws101__h2_recv(s.h, buf, cut, 0), 0);
      ASSERT_EQ(ws101__h2_recv(s.h, buf + cut, n - cut, 0), 0);
    }
    ASSERT_EQ(s.heads, 1);
    ASSERT_EQ(s.ends, 1);
    ASSERT_STR_EQ(s.method, "GET");
    ASSERT_STR_EQ(s.path, "/hello?x=1");
    ASSERT_STR_EQ(s.host, "a.test");
    /* The client session did not send these bytes itself: replay them in
     * a fresh client that made the same request, for the answer. */
    cli_init(&c);
    ASSERT_GT(nghttp2_submit_request(c.s, NULL, get_nv, 5, NULL, NULL), 0);
    cli_out(&c, buf + n, sizeof buf - n); /* same bytes again, discarded */
    srv_to_cli(&s, &c);
    ASSERT_EQ(c.status, 200);
    ASSERT_EQ(c.body_len, 6);
    ASSERT_MEM_EQ(c.body, "hello\n", 6);
    ASSERT_EQ(c.closed, 1);
    ASSERT_EQ(s.closes, 1); /* closed when its END_STREAM went out */
    ws101__h2_free(s.h);
    ASSERT_EQ(s.closes, 1);
    nghttp2_session_del(c.s);
  }
}

static void test_settings_sent(void) {
  srv_state s;
  cli_state c;
  ws101__h2_settings set;
  ws101__h2_settings_defaults(&set);
  set.enable_connect_protocol = 1;
  srv_init(&s, &set);
  cli_init(&c);
  exchange(&s, &c);
  ASSERT_EQ(c.connect_protocol, 1);
  ASSERT_EQ(nghttp2_session_get_remote_settings(
                c.s, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS),
            100);
  ASSERT_EQ(nghttp2_session_get_remote_settings(
                c.s, NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE),
            256 * 1024);
  ASSERT_EQ(nghttp2_session_get_remote_settings(
                c.s, NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE),
            16384);
  /* The connection window was opened to 1 MiB. */
  ASSERT_EQ(nghttp2_session_get_remote_window_size(c.s), 1024 * 1024);
  ws101__h2_free(s.h);
  nghttp2_session_del(c.s);
}

static void test_header_list_limit_and_hpack_bomb(void) {
  static char big[4001];
  srv_state s;
  cli_state c;
  nghttp2_nv nv[10];
  int i;
  memset(big, 'x', 4000);
  srv_init(&s, NULL);
  cli_init(&c);
  memcpy(nv, get_nv, 4 * sizeof(nv[0]));
  /* The same 4000-byte field six times: HPACK sends it once and then
   * indexes it (a few bytes each), decoded it is 24 KB > 16 KiB. */
  for (i = 4; i < 10; i++) {
    nv[i].name = (uint8_t *)"x-big";
    nv[i].namelen = 5;
    nv[i].value = (uint8_t *)big;
    nv[i].valuelen = 4000;
    nv[i].flags = NGHTTP2_NV_FLAG_NONE;
  }
  ASSERT_GT(nghttp2_submit_request(c.s, NULL, nv, 10, NULL, NULL), 0);
  exchange(&s, &c);
  ASSERT_EQ(s.heads, 1);
  ASSERT_EQ(s.status431, 1);
  /* The connection is still fine: a normal request after it works. */
  s.resp = "ok";
  ASSERT_GT(nghttp2_submit_request(c.s, NULL, get_nv, 5, NULL, NULL), 0);
  exchange(&s, &c);
  ASSERT_EQ(s.heads, 2);
  ASSERT_STR_EQ(s.path, "/hello?x=1");
  ASSERT_EQ(c.goaway, 0);
  ws101__h2_free(s.h);
  nghttp2_session_del(c.s);
}

static void test_too_many_fields(void) {
  srv_state s;
  cli_state c;
  nghttp2_nv nv[120];
  char names[120][8];
  int i;
  srv_init(&s, NULL);
  cli_init(&c);
  memcpy(nv, get_nv, 4 * sizeof(nv[0]));
  for (i = 4; i < 120; i++) {
    snprintf(names[i], sizeof names[i], "h%d", i);
    nv[i].name = (uint8_t *)names[i];
    nv[i].namelen = strlen(names[i]);
    nv[i].value = (uint8_t *)"v";
    nv[i].valuelen = 1;
    nv[i].flags = NGHTTP2_NV_FLAG_NONE;
  }
  ASSERT_GT(nghttp2_submit_request(c.s, NULL, nv, 120, NULL, NULL), 0);
  exchange(&s, &c);
  ASSERT_EQ(s.status431, 1);
  ws101__h2_free(s.h);
  nghttp2_session_del(c.s);
}

static void flood(int kind) {
  static char buf[1 << 20];
  srv_state s;
  cli_state c;
  size_t n = 0;
  int i, rc = 0;
  srv_init(&s, NULL);
  cli_init(&c);
  exchange(&s, &c);
  for (i = 0; i < 2000 && rc == 0; i++) {
    if (kind == 0) {
      nghttp2_submit_ping(c.s, NGHTTP2_FLAG_NONE, NULL);
    } else if (kind == 1) {
      nghttp2_submit_settings(c.s, NGHTTP2_FLAG_NONE, NULL, 0);
    } else {
      /* Rapid reset: open a stream, send it, cancel it at once. */
      int32_t id = nghttp2_submit_request(c.s, NULL, get_nv, 5, NULL, NULL);
      ASSERT_GT(id, 0);
      n += cli_out(&c, buf + n, sizeof buf - n);
      nghttp2_submit_rst_stream(c.s, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
    }
    n += cli_out(&c, buf + n, sizeof buf - n);
    /* Deliver in batches, as a real attacker's writes would arrive. */
    if (i % 100 == 99) {
      rc = ws101__h2_recv(s.h, buf, n, 0);
      n = 0;
      srv_to_cli(&s, &c);
    }
  }
  ASSERT_EQ(rc, WS101_EPROTO);
  ASSERT_EQ(c.goaway, 1);
  ASSERT_EQ(c.goaway_code, NGHTTP2_ENHANCE_YOUR_CALM);
  ASSERT_LT(i, 2000);
  ASSERT_EQ(ws101__h2_alive(s.h), 0);
  ws101__h2_free(s.h);
  nghttp2_session_del(c.s);
}

static void test_ping_flood(void) { flood(0); }
static void test_settings_flood(void) { flood(1); }
static void test_rapid_reset(void) { flood(2); }

static void test_flood_bucket_refills(void) {
  static char buf[1 << 16];
  srv_state s;
  cli_state c;
  size_t n;
  int round, i;
  srv_init(&s, NULL);
  cli_init(&c);
  exchange(&s, &c);
  /* 800 pings each 10 s apart: well under 1000 + 100/s. */
  for (round = 0; round < 5; round++) {
    for (i = 0; i < 800; i++) nghttp2_submit_ping(c.s, NGHTTP2_FLAG_NONE, NULL);
    n = cli_out(&c, buf, sizeof buf);
    ASSERT_EQ(ws101__h2_recv(s.h, buf, n, (uint64_t)round * 10000), 0);
    srv_to_cli(&s, &c);
  }
  ASSERT_EQ(c.goaway, 0);
  ws101__h2_free(s.h);
  nghttp2_session_del(c.s);
}

/* Raw frames, for what no well-behaved client session would send. */
static size_t frame(char *p, size_t len, int type, int flags, int32_t id) {
  p[0] = (char)(len >> 16);
  p[1] = (char)(len >> 8);
  p[2] = (char)len;
  p[3] = (char)type;
  p[4] = (char)flags;
  p[5] = (char)(id >> 24);
  p[6] = (char)(id >> 16);
  p[7] = (char)(id >> 8);
  p[8] = (char)id;
  return 9 + len;
}

static void test_continuation_flood(void) {
  static char buf[1 << 16];
  srv_state s;
  size_t n = 0;
  int i, rc;
  srv_init(&s, NULL);
  memcpy(buf, WS101__H2_PREFACE, WS101__H2_PREFACE_LEN);
  n += WS101__H2_PREFACE_LEN;
  n += frame(buf + n, 0, 0x4, 0, 0); /* SETTINGS */
  /* HEADERS (END_STREAM, no END_HEADERS) with ":method: GET" (index 2). */
  buf[n + 9] = (char)0x82;
  n += frame(buf + n, 1, 0x1, 0x1, 1);
  /* Then CONTINUATION frames each with one literal field, never ending. */
  for (i = 0; i < 1000; i++) {
    char *p = buf + n + 9;
    p[0] = 0x00; /* literal without indexing, new name */
    p[1] = 1;
    p[2] = 'a';
    p[3] = 1;
    p[4] = 'b';
    n += frame(buf + n, 5, 0x9, 0, 1);
  }
  rc = ws101__h2_recv(s.h, buf, n, 0);
  ASSERT_EQ(rc, WS101_EPROTO);
  ASSERT_EQ(s.heads, 0);
  ws101__h2_free(s.h);
}

/* RFC 9113 5.1.1: stream 3 after stream 5 is a connection error (nghttp2
 * 1.52 ignores it; the adapter tracks skipped ids). */
static void test_smaller_stream_id(void) {
  static const char block[] = {(char)0x82, (char)0x86, (char)0x84, 0x41, 1,
                               'a'};
  char buf[256];
  size_t n = 0;
  srv_state s;
  srv_init(&s, NULL);
  memcpy(buf, WS101__H2_PREFACE, WS101__H2_PREFACE_LEN);
  n += WS101__H2_PREFACE_LEN;
  n += frame(buf + n, 0, 0x4, 0, 0);
  memcpy(buf + n + 9, block, sizeof block);
  n += frame(buf + n, sizeof block, 0x1, 0x5, 5);
  ASSERT_EQ(ws101__h2_recv(s.h, buf, n, 0), 0);
  ASSERT_EQ(s.heads, 1);
  /* Stream 7 is fine (no gap below it)... */
  n = 0;
  memcpy(buf + n + 9, block, sizeof block);
  n += frame(buf + n, sizeof block, 0x1, 0x5, 7);
  ASSERT_EQ(ws101__h2_recv(s.h, buf, n, 0), 0);
  ASSERT_EQ(s.heads, 2);
  /* ...stream 3, skipped when 5 opened, is not. */
  n = 0;
  memcpy(buf + n + 9, block, sizeof block);
  n += frame(buf + n, sizeof block, 0x1, 0x5, 3);
  ASSERT_EQ(ws101__h2_recv(s.h, buf, n, 0), WS101_EPROTO);
  ASSERT_EQ(s.heads, 2);
  ws101__h2_free(s.h);
}

static void test_bad_preface(void) {
  srv_state s;
  srv_init(&s, NULL);
  ASSERT_EQ(ws101__h2_recv(s.h, "GET / HTTP/1.1\r\n\r\n", 18, 0),
            WS101_EPROTO);
  ws101__h2_free(s.h);
}

static ssize_t big_body_read(nghttp2_session *s, int32_t id, uint8_t *buf,
                             size_t len, uint32_t *flags,
                             nghttp2_data_source *src, void *ud) {
  size_t *left = src->ptr;
  (void)s, (void)id, (void)ud;
  if (len > *left) len = *left;
  memset(buf, 'b', len);
  *left -= len;
  if (*left == 0) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return (ssize_t)len;
}

static void test_window_backpressure(void) {
  srv_state s;
  cli_state c;
  nghttp2_nv nv[4];
  nghttp2_data_provider prd;
  size_t left = 300 * 1024;
  int32_t id, id2;
  memcpy(nv, get_nv, sizeof nv);
  nv[0].value = (uint8_t *)"POST";
  nv[0].valuelen = 4;
  srv_init(&s, NULL);
  s.consume = 0;
  cli_init(&c);
  prd.source.ptr = &left;
  prd.read_callback = big_body_read;
  id = nghttp2_submit_request(c.s, NULL, nv, 4, &prd, NULL);
  ASSERT_GT(id, 0);
  exchange(&s, &c);
  /* The server took exactly one stream window and no more. */
  ASSERT_EQ(s.body_len, 256 * 1024);
  ASSERT_EQ(nghttp2_session_get_stream_remote_window_size(c.s, id), 0);
  ASSERT_EQ(s.ends, 0);
  /* Another stream on the same connection still gets through. */
  s.resp = "ok";
  id2 = nghttp2_submit_request(c.s, NULL, get_nv, 5, NULL, NULL);
  exchange(&s, &c);
  ASSERT_EQ(s.heads, 2);
  ASSERT_EQ(s.ends, 1);
  ASSERT_EQ(c.status, 200);
  (void)id2;
  /* Consuming reopens the window and the rest arrives. */
  s.consume = 1;
  ws101__h2_consume(s.h, ws101__h2_find(s.h, id), s.body_len);
  exchange(&s, &c);
  ASSERT_EQ(s.body_len, 300 * 1024);
  ASSERT_EQ(s.ends, 2);
  ws101__h2_free(s.h);
  nghttp2_session_del(c.s);
}

/* Frames in one ws101__h2_send chunk; the chunk must end on a frame
 * boundary. *big is set when a frame's payload is 16 KiB. */
static int count_frames(const char *p, size_t n, int *big) {
  size_t off = 0;
  int frames = 0;
  while (off + 9 <= n) {
    const unsigned char *h = (const unsigned char *)p + off;
    size_t len = ((size_t)h[0] << 16) | ((size_t)h[1] << 8) | h[2];
    if (len == 16384 && h[3] == NGHTTP2_DATA) *big = 1;
    off += 9 + len;
    frames++;
  }
  ASSERT_EQ(off, n);
  return frames;
}

/* Small frames leave ws101__h2_send several at once (one write per
 * response instead of one per frame); a full-size DATA frame still goes
 * alone, after the small ones before it, and nothing is lost or reordered
 * (the client session would reject a broken stream of frames). */
static void test_send_gathers_small_frames(void) {
  static char body[20001];
  char buf[4096];
  srv_state s;
  cli_state c;
  const char *p;
  ssize_t n;
  int i, calls = 0, frames = 0, big = 0;
  size_t len;
  srv_init(&s, NULL);
  cli_init(&c);
  s.resp = "hello\n";
  for (i = 0; i < 3; i++)
    ASSERT_GT(nghttp2_submit_request(c.s, NULL, get_nv, 5, NULL, NULL), 0);
  len = cli_out(&c, buf, sizeof buf);
  ASSERT_EQ(ws101__h2_recv(s.h, buf, len, 0), 0);
  while ((n = ws101__h2_send(s.h, &p)) > 0) {
    calls++;
    frames += count_frames(p, (size_t)n, &big);
    ASSERT_EQ(nghttp2_session_mem_recv(c.s, (const uint8_t *)p, (size_t)n), n);
  }
  ASSERT_EQ(n, 0);
  /* SETTINGS, its ACK, then HEADERS and DATA of three responses. */
  ASSERT_GE(frames, 8);
  ASSERT_EQ(calls, 1);
  ASSERT_EQ(c.closed, 3);
  /* s_read_body serves its bytes once: the first stream gets them, the
   * others an empty DATA frame with END_STREAM. */
  ASSERT_EQ(c.body_len, 6);

  memset(body, 'x', sizeof body - 1);
  s.resp = body;
  s.resp_off = 0;
  c.body_len = 0;
  ASSERT_GT(nghttp2_submit_request(c.s, NULL, get_nv, 5, NULL, NULL), 0);
  len = cli_out(&c, buf, sizeof buf);
  ASSERT_EQ(ws101__h2_recv(s.h, buf, len, 0), 0);
  calls = 0;
  while ((n = ws101__h2_send(s.h, &p)) > 0) {
    int f, b = 0;
    calls++;
    f = count_frames(p, (size_t)n, &b);
    if (b) ASSERT_EQ(f, 1); /* the full-size frame is not copied */
    big |= b;
    ASSERT_EQ(nghttp2_session_mem_recv(c.s, (const uint8_t *)p, (size_t)n), n);
  }
  ASSERT_EQ(n, 0);
  ASSERT_EQ(big, 1);
  ASSERT_GE(calls, 3); /* WINDOW_UPDATE/HEADERS, 16 KiB DATA, the rest */
  ASSERT_EQ(c.body_len, 20000);
  ASSERT_EQ(c.closed, 4);
  ws101__h2_free(s.h);
  nghttp2_session_del(c.s);
}

static void test_extended_connect(void) {
  static const nghttp2_nv nv[] = {
      NV(":method", "CONNECT"), NV(":protocol", "websocket"),
      NV(":scheme", "http"), NV(":authority", "a.test"), NV(":path", "/ws"),
      NV("sec-websocket-version", "13")};
  srv_state s;
  cli_state c;
  ws101__h2_settings set;
  ws101__h2_settings_defaults(&set);
  set.enable_connect_protocol = 1;
  srv_init(&s, &set);
  s.respond_on_end = 0;
  cli_init(&c);
  exchange(&s, &c); /* the client learns ENABLE_CONNECT_PROTOCOL */
  ASSERT_GT(nghttp2_submit_request(c.s, NULL, nv, 6, NULL, NULL), 0);
  exchange(&s, &c);
  ASSERT_EQ(s.heads, 1);
  ASSERT_STR_EQ(s.method, "CONNECT");
  ASSERT_STR_EQ(s.protocol, "websocket");
  ASSERT_STR_EQ(s.path, "/ws");
  ASSERT_EQ(c.rst, 0);
  ws101__h2_free(s.h);
  nghttp2_session_del(c.s);
}

static void test_decode_settings(void) {
  uint8_t out[64];
  char hdr[64];
  uint8_t payload[64];
  size_t plen = sizeof payload;
  ws101__h2_settings set;
  int n;
  /* SETTINGS_MAX_CONCURRENT_STREAMS = 100, INITIAL_WINDOW_SIZE = 65535 */
  ASSERT_EQ(ws101__h2_decode_settings("AAMAAABkAAQAAP__", 16, out, 64), 12);
  ASSERT_EQ(out[1], 3);
  ASSERT_EQ(out[5], 100);
  ASSERT_EQ(ws101__h2_decode_settings("", 0, out, 64), 0);
  ASSERT_EQ(ws101__h2_decode_settings("AAMAAABk!", 9, out, 64), -1);
  ASSERT_EQ(ws101__h2_decode_settings("AAMAAA", 6, out, 64), -1); /* 4 B */
  /* ENABLE_PUSH = 2 is invalid */
  ASSERT_EQ(ws101__h2_decode_settings("AAIAAAAC", 8, out, 64), -1);
  ws101__h2_settings_defaults(&set);
  n = ws101__h2_settings_header(&set, hdr, sizeof hdr, payload, &plen);
  ASSERT_GT(n, 0);
  ASSERT_EQ(plen, 24);
  ASSERT_EQ(ws101__h2_decode_settings(hdr, (size_t)n, out, 64), 24);
  ASSERT_MEM_EQ(out, payload, 24);
}

static void test_upgrade_stream1(void) {
  srv_state s;
  ws101__h2_stream *st;
  ws101__h1_header f[4] = {
      {(char *)"Host", 4, (char *)"a.test", 6},
      {(char *)"Connection", 10, (char *)"Upgrade, HTTP2-Settings", 23},
      {(char *)"Upgrade", 7, (char *)"h2c", 3},
      {(char *)"X-Thing", 7, (char *)"1", 1}};
  ws101__h1_head head;
  uint8_t payload[6] = {0, 3, 0, 0, 0, 10};
  memset(&head, 0, sizeof head);
  head.method = (char *)"GET";
  head.method_len = 3;
  head.target = (char *)"/up";
  head.target_len = 3;
  head.headers = f;
  head.nheaders = 4;
  srv_init(&s, NULL);
  ASSERT_EQ(ws101__h2_upgrade(s.h, payload, 6, &head, &st), 0);
  ASSERT_EQ(st->id, 1);
  ASSERT_STR_EQ(st->head.method, "GET");
  ASSERT_STR_EQ(st->head.target, "/up");
  ASSERT_STR_EQ(ws101__h1_find_header(&st->head, "host"), "a.test");
  ASSERT_STR_EQ(ws101__h1_find_header(&st->head, "x-thing"), "1");
  ASSERT(ws101__h1_find_header(&st->head, "upgrade") == NULL);
  ASSERT(ws101__h1_find_header(&st->head, "connection") == NULL);
  ASSERT_EQ(st->head.version, 20);
  ws101__h2_free(s.h);
}

static void test_is_preface(void) {
  ASSERT_EQ(ws101__h2_is_preface("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\nxx", 26), 1);
  ASSERT_EQ(ws101__h2_is_preface("PRI * HT", 8), 0);
  ASSERT_EQ(ws101__h2_is_preface("GET / HTTP/1.1", 14), -1);
  ASSERT_EQ(ws101__h2_is_preface("", 0), 0);
}

int main(void) {
  RUN(test_get_every_split);
  RUN(test_settings_sent);
  RUN(test_header_list_limit_and_hpack_bomb);
  RUN(test_too_many_fields);
  RUN(test_ping_flood);
  RUN(test_settings_flood);
  RUN(test_rapid_reset);
  RUN(test_flood_bucket_refills);
  RUN(test_continuation_flood);
  RUN(test_smaller_stream_id);
  RUN(test_bad_preface);
  RUN(test_window_backpressure);
  RUN(test_send_gathers_small_frames);
  RUN(test_extended_connect);
  RUN(test_decode_settings);
  RUN(test_upgrade_stream1);
  RUN(test_is_preface);
  TEST_DONE();
}

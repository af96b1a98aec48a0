/* test_h2_server.c - the HTTP/2 server on a real socket, against an
 * nghttp2 client session driven by the test thread: the request says its
 * version, h2c and HTTP/2 can be turned off, a streaming handler that does
 * not read holds back only its own stream, an aborted stream calls the
 * abort callback, and a closing server sends GOAWAY and still finishes
 * the request in flight. A request the handler keeps after its stream
 * ended (reset, connection gone, loop freed) may be answered late, which
 * only frees it, or never, and is then freed with the server. */
#include <nghttp2/nghttp2.h>

#include "http_harness.h"
#include "server/server.h" /* ws101__h2_server_live */

#define WS101__TEST_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

/* ---- an nghttp2 client on the harness socket ----------------------------- */

typedef struct h2cli {
  hh_cli *sock;
  nghttp2_session *s;
  int status[64];
  char body[64][256];
  size_t body_len[64];
  int closed[64];
  char ctype[64][32];
  uint32_t close_err[64];
  int goaway;
  int32_t goaway_last;
  int eof;
} h2cli;

static int slot(int32_t id) { return (id / 2) % 64; }

static int c_hdr(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *n,
                 size_t nl, const uint8_t *v, size_t vl, uint8_t fl,
                 void *ud) {
  h2cli *c = ud;
  (void)s, (void)fl, (void)vl;
  if (nl == 7 && memcmp(n, ":status", 7) == 0)
    c->status[slot(f->hd.stream_id)] = atoi((const char *)v);
  if (nl == 12 && memcmp(n, "content-type", 12) == 0 && vl < 32)
    memcpy(c->ctype[slot(f->hd.stream_id)], v, vl + 1);
  return 0;
}

static int c_data(nghttp2_session *s, uint8_t fl, int32_t id, const uint8_t *d,
                  size_t n, void *ud) {
  h2cli *c = ud;
  int k = slot(id);
  (void)s, (void)fl;
  if (c->body_len[k] + n < sizeof c->body[k])
    memcpy(c->body[k] + c->body_len[k], d, n);
  c->body_len[k] += n;
  return 0;
}

static int c_frame(nghttp2_session *s, const nghttp2_frame *f, void *ud) {
  h2cli *c = ud;
  (void)s;
  if (f->hd.type == NGHTTP2_GOAWAY) {
    c->goaway++;
    c->goaway_last = f->goaway.last_stream_id;
  }
  return 0;
}

static int c_close(nghttp2_session *s, int32_t id, uint32_t e, void *ud) {
  h2cli *c = ud;
  (void)s;
  c->closed[slot(id)] = 1;
  c->close_err[slot(id)] = e;
  return 0;
}

static h2cli *h2_connect(int port) {
  nghttp2_session_callbacks *cb;
  h2cli *c = calloc(1, sizeof(*c));
  ASSERT(c != NULL);
  c->sock = hh_connect(port);
  nghttp2_session_callbacks_new(&cb);
  nghttp2_session_callbacks_set_on_header_callback(cb, c_hdr);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, c_data);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, c_frame);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, c_close);
  ASSERT_EQ(nghttp2_session_client_new(&c->s, cb, c), 0);
  nghttp2_session_callbacks_del(cb);
  ASSERT_EQ(nghttp2_submit_settings(c->s, NGHTTP2_FLAG_NONE, NULL, 0), 0);
  return c;
}

static void h2_flush(h2cli *c) {
  const uint8_t *p;
  ssize_t n;
  while ((n = nghttp2_session_mem_send(c->s, &p)) > 0)
    hh_sendn(c->sock, (const char *)p, (size_t)n);
  ASSERT_GE(n, 0);
}

/* Reads until done(c) or the deadline; returns done(c). */
static int h2_until(h2cli *c, int (*done)(h2cli *, int32_t), int32_t arg,
                    int ms) {
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  h2_flush(c);
  while (!done(c, arg)) {
    int r, left;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    left = ms - (int)((t1.tv_sec - t0.tv_sec) * 1000 +
                      (t1.tv_nsec - t0.tv_nsec) / 1000000);
    if (left <= 0 || c->eof) return done(c, arg);
    r = hh_fill(c->sock, left);
    if (r == 0 || r == -2) {
      c->eof = 1;
      continue;
    }
    if (r < 0) continue;
    ASSERT_EQ(nghttp2_session_mem_recv(c->s, (const uint8_t *)c->sock->buf,
                                       c->sock->len),
              (ssize_t)c->sock->len);
    c->sock->len = 0;
    h2_flush(c);
  }
  return 1;
}

static int is_closed(h2cli *c, int32_t id) { return c->closed[slot(id)]; }
static int got_goaway(h2cli *c, int32_t id) {
  (void)id;
  return c->goaway > 0;
}
static int got_eof(h2cli *c, int32_t id) {
  (void)id;
  return c->eof;
}

static void h2_free(h2cli *c) {
  nghttp2_session_del(c->s);
  hh_close(c->sock);
  free(c);
}

#define NV(n, v)                                                           \
  {(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, sizeof(v) - 1,          \
   NGHTTP2_NV_FLAG_NONE}

static int32_t h2_get(h2cli *c, const char *path) {
  nghttp2_nv nv[4] = {NV(":method", "GET"), NV(":scheme", "http"),
                      NV(":authority", "x"), NV(":path", "/")};
  int32_t id;
  nv[3].value = (uint8_t *)path;
  nv[3].valuelen = strlen(path);
  id = nghttp2_submit_request(c->s, NULL, nv, 4, NULL, NULL);
  ASSERT_GT(id, 0);
  h2_flush(c);
  return id;
}

/* ---- handlers ------------------------------------------------------------- */

static struct {
  int aborted, body_total, body_last;
  ws101_req *held;
  int64_t read;
} T;

static void h_version(ws101_req *req, void *ud) {
  char b[16];
  int n = snprintf(b, sizeof b, "%d", ws101_req_http_version(req));
  (void)ud;
  ws101_req_respond(req, 200, "text/plain", b, (size_t)n);
}

static void h_abort(ws101_req *req, void *ud) {
  (void)req, (void)ud;
  hh_add(&T.aborted, 1);
}

static void h_hold(ws101_req *req, void *ud) {
  (void)ud;
  ws101_req_on_abort(req, h_abort, NULL);
  T.held = req;
  hh_add(&T.body_last, 1);
}

static void on_body(ws101_req *req, const char *d, size_t n, int last,
                    void *ud) {
  (void)d, (void)ud;
  T.read += (int64_t)n;
  if (last) {
    char b[32];
    int k = snprintf(b, sizeof b, "%lld", (long long)T.read);
    ws101_req_respond(req, 200, "text/plain", b, (size_t)k);
    hh_add(&T.body_total, 1);
  }
}

static void post_read(ws101_loop *loop, void *ud) {
  (void)loop, (void)ud;
  ASSERT_EQ(ws101_req_read_body(T.held, on_body, NULL), 0);
}

static void post_respond(ws101_loop *loop, void *ud) {
  (void)loop;
  ASSERT_EQ(ws101_req_respond(T.held, 200, "text/plain", "late", 4),
            ud == NULL ? 0 : WS101_ECLOSED);
}

static struct {
  ws101_server *srv;
  uint64_t conns, streams, ws;
  int done;
} S;

static void post_stats(ws101_loop *loop, void *ud) {
  (void)loop, (void)ud;
  ASSERT_EQ(ws101_server_h2_stats(S.srv, &S.conns, &S.streams, &S.ws), 0);
  hh_add(&S.done, 1);
}

/* Echoes what the request head became: path|query|target|host|x-a. */
static void h_echo_head(ws101_req *req, void *ud) {
  char b[256];
  const char *xa = ws101_req_header(req, "x-a");
  int n = snprintf(b, sizeof b, "%s|%s|%s|%s|%s", ws101_req_path(req),
                   ws101_req_query(req), ws101_req_target(req),
                   ws101_req_header(req, "host"), xa ? xa : "-");
  (void)ud;
  ws101_req_respond(req, 200, "text/plain", b, (size_t)n);
}

/* ws101_req_respond's content type goes out as a field of its own on
 * HTTP/2 (not through resp_hdrs): a bad one is refused and the request
 * is still answerable. */
static int g_bad_ct_rc;
static void h_ct(ws101_req *req, void *ud) {
  (void)ud;
  g_bad_ct_rc = ws101_req_respond(req, 200, "a/b\x01", "x", 1);
  ws101_req_respond(req, 200, "a/b", "x", 1);
}

/* ---- tests ----------------------------------------------------------------- */

static void test_version_both_protocols(void) {
  hh_server s;
  hh_cli *c;
  h2cli *h;
  int32_t id;
  hh_init(&s, NULL);
  ASSERT_EQ(ws101_server_route(s.srv, "/v", 0, h_version, NULL), 0);
  hh_run(&s);
  c = hh_connect(s.port);
  hh_send(c, "GET /v HTTP/1.1\r\nHost: x\r\n\r\n");
  hh_expect(c, 200, "11");
  hh_close(c);
  h = h2_connect(s.port);
  id = h2_get(h, "/v");
  ASSERT(h2_until(h, is_closed, id, HH_MS));
  ASSERT_EQ(h->status[slot(id)], 200);
  ASSERT_EQ(h->body_len[slot(id)], 2);
  ASSERT_MEM_EQ(h->body[slot(id)], "20", 2);
  /* The counters saw one HTTP/2 connection with one stream. */
  S.srv = s.srv;
  ASSERT_EQ(ws101_loop_post(s.loop, post_stats, NULL), 0);
  ASSERT_EQ(hh_wait(&S.done, 1, HH_MS), 1);
  ASSERT_EQ(S.conns, 1);
  ASSERT_EQ(S.streams, 1);
  ASSERT_EQ(S.ws, 0);
  ASSERT_EQ(ws101_server_h2_stats(NULL, NULL, NULL, NULL), WS101_EINVAL);
  h2_free(h);
  hh_stop(&s);
}

static const char h2c_req[] =
    "GET /v HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
    "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n";

static void test_h2c_upgrade_and_off(void) {
  hh_server s;
  hh_cli *c;
  hh_opt off[] = {{WS101_OPT_H2C, 0}, {0, 0}};
  hh_opt none[] = {{WS101_OPT_HTTP2, 0}, {0, 0}};
  /* On (the default): 101 then HTTP/2 frames. */
  hh_init(&s, NULL);
  ASSERT_EQ(ws101_server_route(s.srv, "/v", 0, h_version, NULL), 0);
  hh_run(&s);
  c = hh_connect(s.port);
  hh_send(c, h2c_req);
  hh_until(c, "\r\n\r\n");
  ASSERT(strncmp(c->buf, "HTTP/1.1 101 Switching Protocols\r\n", 34) == 0);
  ASSERT(strstr(c->buf, "Upgrade: h2c\r\n") != NULL);
  hh_close(c);
  hh_stop(&s);
  /* Off: the same request is answered in HTTP/1.1. */
  hh_init(&s, off);
  ASSERT_EQ(ws101_server_route(s.srv, "/v", 0, h_version, NULL), 0);
  hh_run(&s);
  c = hh_connect(s.port);
  hh_send(c, h2c_req);
  hh_expect(c, 200, "11");
  hh_close(c);
  hh_stop(&s);
  /* HTTP/2 off altogether: no h2c, and the preface is not HTTP/1.1. */
  hh_init(&s, none);
  ASSERT_EQ(ws101_server_route(s.srv, "/v", 0, h_version, NULL), 0);
  hh_run(&s);
  c = hh_connect(s.port);
  hh_send(c, h2c_req);
  hh_expect(c, 200, "11");
  hh_close(c);
  c = hh_connect(s.port);
  hh_send(c, WS101__TEST_PREFACE);
  hh_expect_close(c, 505);
  hh_close(c);
  hh_stop(&s);
}

static int got_settings(h2cli *c, int32_t id) {
  (void)id;
  return nghttp2_session_get_remote_settings(
             c->s, NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE) == 256 * 1024;
}

static int window_shut(h2cli *c, int32_t id) {
  return nghttp2_session_get_stream_remote_window_size(c->s, id) == 0;
}

static ssize_t src_read(nghttp2_session *s, int32_t id, uint8_t *buf,
                        size_t len, uint32_t *flags, nghttp2_data_source *src,
                        void *ud) {
  size_t *left = src->ptr;
  (void)s, (void)id, (void)ud;
  if (len > *left) len = *left;
  memset(buf, 'u', len);
  *left -= len;
  if (*left == 0) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return (ssize_t)len;
}

static void test_stream_body_backpressure(void) {
  hh_server s;
  h2cli *h;
  nghttp2_nv nv[4] = {NV(":method", "POST"), NV(":scheme", "http"),
                      NV(":authority", "x"), NV(":path", "/up")};
  nghttp2_data_provider prd;
  size_t left = 600 * 1024;
  int32_t id, id2;
  memset(&T, 0, sizeof T);
  hh_init(&s, NULL);
  ASSERT_EQ(ws101_server_route(s.srv, "/up", WS101_ROUTE_STREAM_BODY, h_hold,
                               NULL),
            0);
  ASSERT_EQ(ws101_server_route(s.srv, "/v", 0, h_version, NULL), 0);
  hh_run(&s);
  h = h2_connect(s.port);
  ASSERT(h2_until(h, got_settings, 0, HH_MS));
  prd.source.ptr = &left;
  prd.read_callback = src_read;
  id = nghttp2_submit_request(h->s, NULL, nv, 4, &prd, NULL);
  ASSERT_GT(id, 0);
  /* The handler holds the request without reading: exactly one stream
   * window (256 KiB) goes out, then the sender is stopped. */
  ASSERT(h2_until(h, window_shut, id, HH_MS));
  ASSERT_EQ(hh_wait(&T.body_last, 1, HH_MS), 1);
  ASSERT_EQ(left, 600 * 1024 - 256 * 1024);
  /* ...but not the connection: another stream is answered meanwhile. */
  id2 = h2_get(h, "/v");
  ASSERT(h2_until(h, is_closed, id2, HH_MS));
  ASSERT_EQ(h->status[slot(id2)], 200);
  ASSERT(!is_closed(h, id));
  /* The handler starts reading: the rest flows and it answers. */
  ASSERT_EQ(ws101_loop_post(s.loop, post_read, NULL), 0);
  ASSERT(h2_until(h, is_closed, id, HH_MS * 2));
  ASSERT_EQ(hh_get(&T.body_total), 1);
  ASSERT_EQ(h->status[slot(id)], 200);
  ASSERT_EQ(h->body_len[slot(id)], 6);
  ASSERT_MEM_EQ(h->body[slot(id)], "614400", 6);
  h2_free(h);
  hh_stop(&s);
}

static void test_abort_then_late_respond(void) {
  hh_server s;
  h2cli *h;
  int32_t id;
  memset(&T, 0, sizeof T);
  hh_init(&s, NULL);
  ASSERT_EQ(ws101_server_route(s.srv, "/hold", 0, h_hold, NULL), 0);
  hh_run(&s);
  h = h2_connect(s.port);
  id = h2_get(h, "/hold");
  ASSERT_EQ(hh_wait(&T.body_last, 1, HH_MS), 1);
  nghttp2_submit_rst_stream(h->s, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
  h2_flush(h);
  ASSERT_EQ(hh_wait(&T.aborted, 1, HH_MS), 1);
  /* Completing an aborted request says so, and frees it (LSan). */
  ASSERT_EQ(ws101_loop_post(s.loop, post_respond, "aborted"), 0);
  id = h2_get(h, "/nope");
  ASSERT(h2_until(h, is_closed, id, HH_MS));
  ASSERT_EQ(h->status[slot(id)], 404);
  h2_free(h);
  hh_stop(&s);
}

static void test_goaway_finishes_in_flight(void) {
  hh_server s;
  h2cli *h;
  int32_t id;
  memset(&T, 0, sizeof T);
  hh_init(&s, NULL);
  ASSERT_EQ(ws101_server_route(s.srv, "/hold", 0, h_hold, NULL), 0);
  hh_run(&s);
  h = h2_connect(s.port);
  id = h2_get(h, "/hold");
  ASSERT_EQ(hh_wait(&T.body_last, 1, HH_MS), 1);
  hh_post_close(&s);
  ASSERT(h2_until(h, got_goaway, 0, HH_MS));
  ASSERT_EQ(h->goaway_last, id);
  ASSERT(!is_closed(h, id));
  ASSERT_EQ(ws101_loop_post(s.loop, post_respond, NULL), 0);
  ASSERT(h2_until(h, is_closed, id, HH_MS));
  ASSERT_EQ(h->status[slot(id)], 200);
  ASSERT_MEM_EQ(h->body[slot(id)], "late", 4);
  ASSERT(h2_until(h, got_eof, 0, HH_MS));
  ASSERT_EQ(hh_wait(&s.closed, 1, HH_MS), 1);
  h2_free(h);
  hh_stop(&s);
}

/* ---- held requests whose stream ended ----------------------------------- */

static struct {
  int rc, done;
  const char *tls;
} L;

/* Late answer on the loop thread, after the connection itself is gone:
 * the handle is still good (no TLS details any more, nothing sent). */
static void post_late_checks(ws101_loop *loop, void *ud) {
  (void)loop, (void)ud;
  L.tls = ws101_req_tls_version(T.held);
  ASSERT_STR_EQ(ws101_req_path(T.held), "/hold");
  ASSERT_EQ(ws101_req_write(T.held, "x", 1), WS101_ECLOSED);
  L.rc = ws101_req_respond(T.held, 200, "text/plain", "late", 4);
  T.held = NULL;
  hh_add(&L.done, 1);
}

/* The client resets the stream, the handler never answers: the server
 * frees the request with itself (before: it leaked until exit). */
static void test_reset_never_answered(void) {
  hh_server s;
  h2cli *h;
  int32_t id;
  memset(&T, 0, sizeof T);
  ASSERT_EQ(ws101__h2_server_live(), 0);
  hh_init(&s, NULL);
  ASSERT_EQ(ws101_server_route(s.srv, "/hold", 0, h_hold, NULL), 0);
  hh_run(&s);
  h = h2_connect(s.port);
  id = h2_get(h, "/hold");
  ASSERT_EQ(hh_wait(&T.body_last, 1, HH_MS), 1);
  nghttp2_submit_rst_stream(h->s, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
  h2_flush(h);
  ASSERT_EQ(hh_wait(&T.aborted, 1, HH_MS), 1);
  /* The connection goes on meanwhile. */
  id = h2_get(h, "/nope");
  ASSERT(h2_until(h, is_closed, id, HH_MS));
  ASSERT_EQ(h->status[slot(id)], 404);
  h2_free(h);
  hh_stop(&s);
  ASSERT_EQ(hh_get(&T.aborted), 1);
  ASSERT_EQ(ws101__h2_server_live(), 0);
}

/* The whole connection goes while the handler holds a stream; its answer
 * comes after the transport was freed (ASan: no use after free). */
static void test_conn_gone_then_late_answer(void) {
  hh_server s;
  h2cli *h;
  memset(&T, 0, sizeof T);
  memset(&L, 0, sizeof L);
  hh_init(&s, NULL);
  ASSERT_EQ(ws101_server_route(s.srv, "/hold", 0, h_hold, NULL), 0);
  hh_run(&s);
  h = h2_connect(s.port);
  h2_get(h, "/hold");
  ASSERT_EQ(hh_wait(&T.body_last, 1, HH_MS), 1);
  h2_free(h); /* TCP close: no RST_STREAM, no GOAWAY */
  ASSERT_EQ(hh_wait(&T.aborted, 1, HH_MS), 1);
  ASSERT_EQ(ws101_loop_post(s.loop, post_late_checks, NULL), 0);
  ASSERT_EQ(hh_wait(&L.done, 1, HH_MS), 1);
  pthread_mutex_lock(&hh_mu);
  ASSERT_EQ(L.rc, WS101_ECLOSED);
  ASSERT(L.tls == NULL);
  pthread_mutex_unlock(&hh_mu);
  hh_stop(&s);
  ASSERT_EQ(hh_get(&T.aborted), 1);
  ASSERT_EQ(ws101__h2_server_live(), 0);
}

/* The stream is reset, the server closes (its callback runs), and only
 * then does the application answer: still a valid handle, WS101_ECLOSED,
 * freed at once. */
static void test_answer_after_server_closed(void) {
  hh_server s;
  h2cli *h;
  int32_t id;
  memset(&T, 0, sizeof T);
  hh_init(&s, NULL);
  ASSERT_EQ(ws101_server_route(s.srv, "/hold", 0, h_hold, NULL), 0);
  hh_run(&s);
  h = h2_connect(s.port);
  id = h2_get(h, "/hold");
  ASSERT_EQ(hh_wait(&T.body_last, 1, HH_MS), 1);
  nghttp2_submit_rst_stream(h->s, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
  h2_flush(h);
  ASSERT_EQ(hh_wait(&T.aborted, 1, HH_MS), 1);
  h2_free(h);
  hh_post_close(&s);
  ASSERT_EQ(hh_wait(&s.closed, 1, HH_MS), 1);
  ASSERT_EQ(pthread_join(s.th, NULL), 0); /* the loop ran out of work */
  /* The loop thread is gone: the test thread owns the loop now. */
  ASSERT_EQ(ws101__h2_server_live(), 1);
  ASSERT_STR_EQ(ws101_req_path(T.held), "/hold");
  ASSERT_EQ(ws101_req_respond(T.held, 200, "text/plain", "late", 4),
            WS101_ECLOSED);
  ASSERT_EQ(ws101__h2_server_live(), 0);
  ASSERT_EQ(ws101_loop_free(s.loop), 0);
}

static void post_stop(ws101_loop *loop, void *ud) {
  (void)ud;
  ws101_loop_stop(loop);
}

/* The application frees the loop (and so the server) with a stream still
 * open and never answered: the stream is aborted and its request freed
 * with the server. */
static void test_loop_freed_with_held_stream(void) {
  hh_server s;
  h2cli *h;
  memset(&T, 0, sizeof T);
  hh_init(&s, NULL);
  ASSERT_EQ(ws101_server_route(s.srv, "/hold", 0, h_hold, NULL), 0);
  hh_run(&s);
  h = h2_connect(s.port);
  h2_get(h, "/hold");
  ASSERT_EQ(hh_wait(&T.body_last, 1, HH_MS), 1);
  ASSERT_EQ(ws101_loop_post(s.loop, post_stop, NULL), 0);
  ASSERT_EQ(pthread_join(s.th, NULL), 0);
  ASSERT_EQ(ws101_loop_free(s.loop), 0);
  ASSERT_EQ(T.aborted, 1);
  ASSERT_EQ(ws101__h2_server_live(), 0);
  ASSERT(h2_until(h, got_eof, 0, HH_MS));
  h2_free(h);
}

/* The request takes the stream's head buffer instead of a copy
 * (ws101__req_adopt_head): path and query split right, with and without
 * a query, buffers passed back and forth over many streams of one
 * connection, heads of different sizes in turn. */
static void test_head_handed_over(void) {
  static const char *paths[] = {"/e", "/e?a=1&b=2", "/e?", "/e/x?q"};
  static const char *want[] = {"/e||/e|x|", "/e|a=1&b=2|/e?a=1&b=2|x|",
                               "/e||/e?|x|", "/e/x|q|/e/x?q|x|"};
  char xa[200];
  hh_server s;
  h2cli *c;
  int i;
  memset(xa, 'v', sizeof xa - 1);
  xa[sizeof xa - 1] = '\0';
  hh_init(&s, NULL);
  ASSERT_EQ(ws101_server_route(s.srv, "/e", 0, h_echo_head, NULL), 0);
  ASSERT_EQ(ws101_server_route(s.srv, "/e/*", 0, h_echo_head, NULL), 0);
  ASSERT_EQ(ws101_server_route(s.srv, "/ct", 0, h_ct, NULL), 0);
  hh_run(&s);
  c = h2_connect(s.port);
  for (i = 0; i < 40; i++) {
    const char *path = paths[i % 4];
    nghttp2_nv nv[5] = {NV(":method", "GET"), NV(":scheme", "http"),
                        NV(":authority", "x"), NV(":path", "/"),
                        NV("x-a", "")};
    char expect[512];
    int32_t id;
    size_t nx = (size_t)(i % 3) * 90; /* 0, 90, 180 bytes of x-a */
    nv[3].value = (uint8_t *)path;
    nv[3].valuelen = strlen(path);
    nv[4].value = (uint8_t *)xa;
    nv[4].valuelen = nx;
    id = nghttp2_submit_request(c->s, NULL, nv, nx ? 5 : 4, NULL, NULL);
    ASSERT_GT(id, 0);
    ASSERT(h2_until(c, is_closed, id, HH_MS));
    ASSERT_EQ(c->status[slot(id)], 200);
    snprintf(expect, sizeof expect, "%s%.*s", want[i % 4], (int)(nx ? nx : 1),
             nx ? xa : "-");
    ASSERT_EQ(c->body_len[slot(id)], strlen(expect));
    ASSERT_MEM_EQ(c->body[slot(id)], expect, strlen(expect));
    ASSERT_STR_EQ(c->ctype[slot(id)], "text/plain");
  }
  {
    int32_t id = h2_get(c, "/ct");
    ASSERT(h2_until(c, is_closed, id, HH_MS));
    ASSERT_EQ(c->status[slot(id)], 200);
    ASSERT_STR_EQ(c->ctype[slot(id)], "a/b");
    ASSERT_EQ(g_bad_ct_rc, WS101_EINVAL);
  }
  h2_free(c);
  hh_stop(&s);
}

int main(void) {
  RUN(test_version_both_protocols);
  RUN(test_head_handed_over);
  RUN(test_h2c_upgrade_and_off);
  RUN(test_stream_body_backpressure);
  RUN(test_abort_then_late_respond);
  RUN(test_goaway_finishes_in_flight);
  RUN(test_reset_never_answered);
  RUN(test_conn_gone_then_late_answer);
  RUN(test_loop_freed_with_held_stream);
  RUN(test_answer_after_server_closed);
  TEST_DONE();
}

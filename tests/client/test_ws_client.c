/* test_ws_client.c - ws101_ws_connect against independent WebSocket servers
 * (Python `websockets`, node `ws`: peers.py ws-echo / ws-node) and against
 * hand-written misbehaving ones (peers.py ws-raw). */
#include "client_test.h"

typedef struct rec {
  ws101_loop *loop;
  int open, error, close, texts, binaries, pongs;
  int err, close_code;
  char errmsg[256], close_reason[128];
  int status_at_error, status_at_open;
  char hdr_at_error[128]; /* the header named by want_header */
  const char *want_header;
  char *msg; /* last message */
  size_t msg_len;
  int msg_count;
  /* What the case does on OPEN / after each message. */
  void (*on_open)(ws101_ws *ws, struct rec *r);
  void (*on_msg)(ws101_ws *ws, struct rec *r);
} rec;

static void on_ws(ws101_ws *ws, int event, const char *data, size_t len,
                  int arg, void *ud) {
  rec *r = ud;
  const char *h;
  switch (event) {
    case WS101_WS_OPEN:
      ASSERT_EQ(r->open + r->error + r->close, 0);
      r->open++;
      r->status_at_open = ws101_ws_response_status(ws);
      ASSERT(ws101_ws_response_header(ws, "upgrade") != NULL);
      ASSERT(ws101_ws_remote_addr(ws)[0] != '\0');
      ASSERT_EQ(ws101_ws_loop(ws), r->loop);
      if (r->on_open) r->on_open(ws, r);
      break;
    case WS101_WS_TEXT:
    case WS101_WS_BINARY:
      ASSERT_EQ(r->open, 1);
      if (event == WS101_WS_TEXT) r->texts++;
      else r->binaries++;
      free(r->msg);
      r->msg = malloc(len + 1);
      memcpy(r->msg, data, len);
      r->msg[len] = '\0';
      r->msg_len = len;
      r->msg_count++;
      if (r->on_msg) r->on_msg(ws, r);
      break;
    case WS101_WS_PONG:
      r->pongs++;
      ASSERT_EQ(ws101_ws_close(ws, 1000, NULL), 0);
      break;
    case WS101_WS_ERROR:
      ASSERT_EQ(r->error + r->close, 0);
      r->error++;
      r->err = arg;
      snprintf(r->errmsg, sizeof(r->errmsg), "%.*s", (int)len, data);
      r->status_at_error = ws101_ws_response_status(ws);
      if (r->want_header) {
        h = ws101_ws_response_header(ws, r->want_header);
        snprintf(r->hdr_at_error, sizeof(r->hdr_at_error), "%s",
                 h ? h : "(none)");
      }
      break;
    case WS101_WS_CLOSE:
      ASSERT_EQ(r->close, 0);
      r->close++;
      r->close_code = arg;
      snprintf(r->close_reason, sizeof(r->close_reason), "%.*s", (int)len,
               data);
      break;
  }
}

static ws101_ws *connect_to(rec *r, const char *url, ws101_options *o) {
  ws101_ws *ws = NULL;
  ASSERT_EQ(ws101_loop_new(&r->loop), 0);
  ASSERT_EQ(ws101_ws_connect(r->loop, url, o, on_ws, r, &ws), 0);
  ASSERT(ws != NULL);
  ASSERT_EQ(ws101_ws_response_status(ws), 0);
  return ws;
}

static void finish(rec *r) {
  ASSERT_EQ(ws101_loop_free(r->loop), 0);
  free(r->msg);
}

static void expect_clean_close(rec *r, int code) {
  if (r->error) FAILF("unexpected error %s: %s", ws101_err_name(r->err),
                      r->errmsg);
  ASSERT_EQ(r->open, 1);
  ASSERT_EQ(r->status_at_open, 101);
  ASSERT_EQ(r->close, 1);
  ASSERT_EQ(r->close_code, code);
}

static void run_case(rec *r, const char *path, ws101_options *o) {
  connect_to(r, ct_url("ws", path), o);
  ct_run(r->loop, 60000);
}

/* --- echo cases ---------------------------------------------------------- */

static void close_after_one(ws101_ws *ws, rec *r) {
  (void)r;
  ASSERT_EQ(ws101_ws_close(ws, 1000, "done"), 0);
}

static void send_hello(ws101_ws *ws, rec *r) {
  (void)r;
  ASSERT_EQ(ws101_ws_send(ws, "hello", 5, WS101_OP_TEXT), 0);
  ASSERT_EQ(ws101_ws_send(ws, "\xff", 1, WS101_OP_TEXT), WS101_EUTF8);
}

static void test_text(void) {
  rec r = {0};
  r.on_open = send_hello;
  r.on_msg = close_after_one;
  run_case(&r, "/echo", NULL);
  expect_clean_close(&r, 1000);
  ASSERT_EQ(r.texts, 1);
  ASSERT_STR_EQ(r.msg, "hello");
  finish(&r);
}

static void send_binary(ws101_ws *ws, rec *r) {
  char b[256];
  int i;
  (void)r;
  for (i = 0; i < 256; i++) b[i] = (char)i;
  ASSERT_EQ(ws101_ws_send(ws, b, sizeof(b), WS101_OP_BINARY), 0);
}

static void test_binary(void) {
  rec r = {0};
  int i;
  r.on_open = send_binary;
  r.on_msg = close_after_one;
  run_case(&r, "/echo", NULL);
  expect_clean_close(&r, 1000);
  ASSERT_EQ(r.binaries, 1);
  ASSERT_EQ(r.msg_len, 256);
  for (i = 0; i < 256; i++) ASSERT_EQ((unsigned char)r.msg[i], i);
  finish(&r);
}

#define LARGE (4u << 20)

static void send_large(ws101_ws *ws, rec *r) {
  char *b = malloc(LARGE);
  size_t i;
  (void)r;
  for (i = 0; i < LARGE; i++) b[i] = (char)(i * 7 + (i >> 12));
  ASSERT_EQ(ws101_ws_send(ws, b, LARGE, WS101_OP_BINARY), 0);
  free(b);
}

static void test_large(void) {
  rec r = {0};
  size_t i;
  ws101_options *o;
  ASSERT_EQ(ws101_options_new(&o), 0);
  /* Random-ish data: exercise the uncompressed path for the big one. */
  ASSERT_EQ(ws101_options_set(o, WS101_OPT_DEFLATE, 0), 0);
  r.on_open = send_large;
  r.on_msg = close_after_one;
  run_case(&r, "/echo", o);
  ws101_options_free(o);
  expect_clean_close(&r, 1000);
  ASSERT_EQ(r.msg_len, LARGE);
  for (i = 0; i < LARGE; i++)
    if (r.msg[i] != (char)(i * 7 + (i >> 12))) FAILF("byte %zu differs", i);
  finish(&r);
}

static void send_fragments(ws101_ws *ws, rec *r) {
  (void)r;
  ASSERT_EQ(ws101_ws_send_fragment(ws, "ab", 2, WS101_OP_TEXT, 0), 0);
  ASSERT_EQ(ws101_ws_send_fragment(ws, "cd", 2, WS101_OP_CONTINUATION, 0), 0);
  ASSERT_EQ(ws101_ws_send_fragment(ws, "ef", 2, WS101_OP_CONTINUATION, 1), 0);
}

static void close_after_two(ws101_ws *ws, rec *r) {
  if (r->msg_count == 1) ASSERT_STR_EQ(r->msg, "fragmented!");
  if (r->msg_count == 2) ASSERT_EQ(ws101_ws_close(ws, 1000, NULL), 0);
}

static void test_fragmented(void) {
  rec r = {0};
  /* The server sends "frag"+"mented"+"!" as three frames, then echoes our
   * three-frame "ab"+"cd"+"ef". */
  r.on_open = send_fragments;
  r.on_msg = close_after_two;
  run_case(&r, "/fragments", NULL);
  expect_clean_close(&r, 1000);
  ASSERT_EQ(r.msg_count, 2);
  ASSERT_STR_EQ(r.msg, "abcdef");
  finish(&r);
}

#define ZLEN 100000

static void send_compressible(ws101_ws *ws, rec *r) {
  char *b = malloc(ZLEN);
  size_t i;
  (void)r;
  ASSERT(strstr(ws101_ws_extensions(ws), "permessage-deflate") != NULL);
  for (i = 0; i < ZLEN; i++) b[i] = "abcdefgh"[i % 8];
  ASSERT_EQ(ws101_ws_send(ws, b, ZLEN, WS101_OP_TEXT), 0);
  ASSERT_EQ(ws101_ws_send(ws, "tiny", 4, WS101_OP_TEXT), 0);
  free(b);
}

static void deflate_msgs(ws101_ws *ws, rec *r) {
  size_t i;
  if (r->msg_count == 1) {
    ASSERT_EQ(r->msg_len, ZLEN);
    for (i = 0; i < ZLEN; i++) ASSERT_EQ(r->msg[i], "abcdefgh"[i % 8]);
  } else {
    ASSERT_STR_EQ(r->msg, "tiny");
    ASSERT_EQ(ws101_ws_close(ws, 1000, NULL), 0);
  }
}

static void test_deflate(void) {
  rec r = {0};
  r.on_open = send_compressible;
  r.on_msg = deflate_msgs;
  run_case(&r, "/echo", NULL);
  expect_clean_close(&r, 1000);
  ASSERT_EQ(r.msg_count, 2);
  finish(&r);
}

static void check_no_ext(ws101_ws *ws, rec *r) {
  ASSERT_STR_EQ(ws101_ws_extensions(ws), "");
  ASSERT(ws101_ws_response_header(ws, "sec-websocket-extensions") == NULL);
  send_hello(ws, r);
}

static void test_no_deflate(void) {
  rec r = {0};
  ws101_options *o;
  ASSERT_EQ(ws101_options_new(&o), 0);
  ASSERT_EQ(ws101_options_set(o, WS101_OPT_DEFLATE, 0), 0);
  r.on_open = check_no_ext;
  r.on_msg = close_after_one;
  run_case(&r, "/echo", o);
  ws101_options_free(o);
  expect_clean_close(&r, 1000);
  ASSERT_STR_EQ(r.msg, "hello");
  finish(&r);
}

static void check_subprotocol(ws101_ws *ws, rec *r) {
  (void)r;
  ASSERT_STR_EQ(ws101_ws_subprotocol(ws), "superchat");
}

static void test_subprotocol(void) {
  rec r = {0};
  ws101_options *o;
  ASSERT_EQ(ws101_options_new(&o), 0);
  ASSERT_EQ(ws101_options_add_subprotocol(o, "superchat"), 0);
  ASSERT_EQ(ws101_options_add_subprotocol(o, "other"), 0);
  r.on_open = check_subprotocol;
  r.on_msg = close_after_one;
  run_case(&r, "/subprotocol", o);
  ws101_options_free(o);
  expect_clean_close(&r, 1000);
  ASSERT_STR_EQ(r.msg, "proto=superchat");
  finish(&r);
}

static void test_headers(void) {
  rec r = {0};
  ws101_options *o;
  ASSERT_EQ(ws101_options_new(&o), 0);
  ASSERT_EQ(ws101_options_add_header(o, "X-Test", "42"), 0);
  r.on_msg = close_after_one;
  run_case(&r, "/headers", o);
  ws101_options_free(o);
  expect_clean_close(&r, 1000);
  ASSERT_STR_EQ(r.msg, "x-test=42");
  finish(&r);
}

static void close_4000(ws101_ws *ws, rec *r) {
  (void)r;
  ASSERT_EQ(ws101_ws_close(ws, 1005, NULL), WS101_EINVAL);
  ASSERT_EQ(ws101_ws_close(ws, 4000, "custom"), 0);
  ASSERT_EQ(ws101_ws_send(ws, "late", 4, WS101_OP_TEXT), WS101_ECLOSED);
}

static void test_close_code(void) {
  rec r = {0};
  r.on_open = close_4000;
  run_case(&r, "/echo", NULL);
  expect_clean_close(&r, 4000); /* the server echoes our code */
  finish(&r);
}

static void test_server_close(void) {
  rec r = {0};
  run_case(&r, "/server-close", NULL);
  expect_clean_close(&r, 4001);
  ASSERT_STR_EQ(r.close_reason, "bye");
  finish(&r);
}

static void send_ping(ws101_ws *ws, rec *r) {
  (void)r;
  ASSERT_EQ(ws101_ws_ping(ws, "p", 1), 0);
}

static void test_ping(void) {
  rec r = {0};
  r.on_open = send_ping;
  run_case(&r, "/echo", NULL);
  expect_clean_close(&r, 1000);
  ASSERT_EQ(r.pongs, 1);
  finish(&r);
}

/* --- failures ------------------------------------------------------------- */

static void expect_failure(const char *url, ws101_options *o, int err,
                           const char *msg_part, int status,
                           const char *header, const char *header_value) {
  rec r = {0};
  r.want_header = header;
  connect_to(&r, url, o);
  ct_run(r.loop, 30000);
  ASSERT_EQ(r.open, 0);
  ASSERT_EQ(r.error, 1);
  ASSERT_EQ(r.close, 1);
  ASSERT_EQ(r.close_code, 1006);
  if (r.err != err)
    FAILF("error %s (%s), want %s", ws101_err_name(r.err), r.errmsg,
          ws101_err_name(err));
  if (strstr(r.errmsg, msg_part) == NULL)
    FAILF("message \"%s\" lacks \"%s\"", r.errmsg, msg_part);
  ASSERT_EQ(r.status_at_error, status);
  if (header) ASSERT_STR_EQ(r.hdr_at_error, header_value);
  fprintf(stderr, "    got %s: %s\n", ws101_err_name(r.err), r.errmsg);
  finish(&r);
}

static void test_answer_200(void) {
  expect_failure(ct_url("ws", "/200"), NULL, WS101_EHANDSHAKE,
                 "server answered 200 OK", 200, "Content-Length", "2");
}

static void test_answer_426(void) {
  expect_failure(ct_url("ws", "/426"), NULL, WS101_EHANDSHAKE,
                 "server answered 426 Upgrade Required", 426,
                 "sec-websocket-version", "13");
}

static void test_bad_accept(void) {
  expect_failure(ct_url("ws", "/bad-accept"), NULL, WS101_EHANDSHAKE,
                 "invalid 101 response", 101, NULL, NULL);
}

static void test_bad_extension(void) {
  expect_failure(ct_url("ws", "/bad-extension"), NULL, WS101_EHANDSHAKE,
                 "Sec-WebSocket-Extensions", 101, NULL, NULL);
}

static void test_garbage(void) {
  expect_failure(ct_url("ws", "/garbage"), NULL, WS101_EHANDSHAKE,
                 "malformed", 0, NULL, NULL);
}

static void test_handshake_timeout(void) {
  ws101_options *o;
  ASSERT_EQ(ws101_options_new(&o), 0);
  ASSERT_EQ(ws101_options_set(o, WS101_OPT_WS_HANDSHAKE_TIMEOUT_MS, 300), 0);
  expect_failure(ct_url("ws", "/silent"), o, WS101_ETIMEDOUT, "300 ms", 0,
                 NULL, NULL);
  ws101_options_free(o);
}

static void test_mid_frame(void) {
  rec r = {0};
  run_case(&r, "/mid-frame", NULL);
  ASSERT_EQ(r.open, 1);
  ASSERT_EQ(r.error, 0);
  ASSERT_EQ(r.msg_count, 0);
  ASSERT_EQ(r.close, 1);
  ASSERT_EQ(r.close_code, 1006);
  finish(&r);
}

static void test_refused(void) {
  expect_failure("ws://127.0.0.1:1/", NULL, WS101_ECONNREFUSED, "refused", 0,
                 NULL, NULL);
}

static void test_dns(void) {
  expect_failure("ws://no-such-host.invalid/", NULL, WS101_EDNS,
                 "no-such-host.invalid", 0, NULL, NULL);
}

/* wss:// to a plain WebSocket peer fails the TLS handshake clearly. */
static void test_wss_plain_peer(void) {
  expect_failure(ct_url("wss", "/"), NULL, WS101_ETLS,
                 "TLS handshake failed", 0, NULL, NULL);
}

static void test_bad_url(void) {
  ws101_loop *loop;
  ws101_ws *ws = (ws101_ws *)1;
  rec r = {0};
  ASSERT_EQ(ws101_loop_new(&loop), 0);
  ASSERT_EQ(ws101_ws_connect(loop, "http://h/", NULL, on_ws, &r, &ws),
            WS101_EURL);
  ASSERT(ws == NULL);
  ASSERT_EQ(ws101_ws_connect(loop, "ws://h/#x", NULL, on_ws, &r, &ws),
            WS101_EURL);
  ASSERT_EQ(ws101_ws_connect(loop, "ws://h:99999/", NULL, on_ws, &r, &ws),
            WS101_EURL);
  ASSERT_EQ(ws101_ws_connect(loop, NULL, NULL, on_ws, &r, &ws), WS101_EINVAL);
  ASSERT_EQ(ws101_loop_free(loop), 0);
  ASSERT_EQ(r.open + r.error + r.close, 0);
}

static void test_close_while_connecting(void) {
  rec r = {0};
  ws101_ws *ws = connect_to(&r, ct_url("ws", "/echo"), NULL);
  ASSERT_EQ(ws101_ws_close(ws, 1000, NULL), 0);
  ASSERT_EQ(r.close, 0); /* never from inside ws101_ws_close */
  ct_run(r.loop, 10000);
  ASSERT_EQ(r.open, 0);
  ASSERT_EQ(r.error, 1);
  ASSERT_EQ(r.err, WS101_ECANCELED);
  ASSERT_EQ(r.close, 1);
  finish(&r);
}

static void test_abandoned(void) {
  rec r1 = {0}, r2 = {0};
  connect_to(&r1, ct_url("ws", "/echo"), NULL);
  ASSERT_EQ(ws101_ws_connect(r1.loop, "ws://localhost:1/", NULL, on_ws, &r2,
                             NULL), 0);
  r2.loop = r1.loop;
  ASSERT_EQ(ws101_loop_free(r1.loop), 0);
  ASSERT_EQ(r1.error, 1);
  ASSERT_EQ(r1.close, 1);
  ASSERT_EQ(r2.error, 1);
  ASSERT_EQ(r2.close, 1);
}

static const ct_case cases[] = {
    {"text", test_text},
    {"binary", test_binary},
    {"large", test_large},
    {"fragmented", test_fragmented},
    {"deflate", test_deflate},
    {"no_deflate", test_no_deflate},
    {"subprotocol", test_subprotocol},
    {"headers", test_headers},
    {"close_code", test_close_code},
    {"server_close", test_server_close},
    {"ping", test_ping},
    {"answer_200", test_answer_200},
    {"answer_426", test_answer_426},
    {"bad_accept", test_bad_accept},
    {"bad_extension", test_bad_extension},
    {"garbage", test_garbage},
    {"handshake_timeout", test_handshake_timeout},
    {"mid_frame", test_mid_frame},
    {"refused", test_refused},
    {"dns", test_dns},
    {"wss_plain_peer", test_wss_plain_peer},
    {"bad_url", test_bad_url},
    {"close_while_connecting", test_close_while_connecting},
    {"abandoned", test_abandoned},
    {NULL, NULL}};

int main(int argc, char **argv) { return ct_main(argc, argv, cases); }

/* test_ws_limits.c - defaults that fit together (issue 20): with default
 * options on both sides, an echo of any message the server accepts comes
 * back whole, at the message-size boundary (WS_MAX_MESSAGE - 1 and
 * WS_MAX_MESSAGE are echoed, WS_MAX_MESSAGE + 1 fails with 1009), for text
 * and binary, with and without permessage-deflate.
 *
 * Before issue 20 the backpressure check counted the message being sent,
 * so the echo of a WS_MAX_MESSAGE-sized message was refused with
 * WS101_EBACKPRESSURE on an empty queue (WS_MAX_BACKPRESSURE has the same
 * default) and never arrived.
 *
 * One loop runs a ws101 server (NULL options) and a ws101 client; every
 * step is driven by events, and a loop timer fails the test if they stop. */
#include "test.h"
#include "ws101.h"

#include <signal.h>

#define DEADLINE_MS 120000

typedef struct run {
  ws101_loop *loop;
  ws101_server *srv;
  ws101_timer *deadline;
  char *msg;     /* what the client sends */
  size_t len;
  int opcode;
  int echo_rc;   /* the server's ws101_ws_send of the echo */
  int echoes;    /* server: messages echoed */
  int got;       /* client: messages received */
  int got_ok;    /* client: the message came back identical */
  int close_code; /* client: WS101_WS_CLOSE arg */
  int error;     /* client: WS101_WS_ERROR arg */
  char ext[128]; /* client: negotiated extensions */
} run;

/* The server echoes like ws101-demo does: a send it cannot make closes the
 * connection with 1011, so a refusal is visible to the client. */
static void server_ws(ws101_ws *ws, int event, const char *data, size_t len,
                      int arg, void *ud) {
  run *r = ud;
  (void)arg;
  if (event != WS101_WS_TEXT && event != WS101_WS_BINARY) return;
  r->echo_rc = ws101_ws_send(ws, data, len,
                             event == WS101_WS_TEXT ? WS101_OP_TEXT
                                                    : WS101_OP_BINARY);
  if (r->echo_rc != 0) ws101_ws_close(ws, 1011, "echo refused");
  else r->echoes++;
}

static void server_closed(ws101_server *s, void *ud) {
  run *r = ud;
  (void)s;
  ws101_timer_close(r->deadline, NULL, NULL);
}

static void client_ws(ws101_ws *ws, int event, const char *data, size_t len,
                      int arg, void *ud) {
  run *r = ud;
  switch (event) {
    case WS101_WS_OPEN:
      snprintf(r->ext, sizeof r->ext, "%s", ws101_ws_extensions(ws));
      ASSERT_EQ(ws101_ws_send(ws, r->msg, r->len, r->opcode), 0);
      break;
    case WS101_WS_TEXT:
    case WS101_WS_BINARY:
      r->got++;
      r->got_ok = len == r->len &&
                  event == (r->opcode == WS101_OP_TEXT ? WS101_WS_TEXT
                                                       : WS101_WS_BINARY) &&
                  memcmp(data, r->msg, len) == 0;
      ASSERT_EQ(ws101_ws_close(ws, 1000, NULL), 0);
      break;
    case WS101_WS_ERROR:
      r->error = arg;
      break;
    case WS101_WS_CLOSE:
      r->close_code = arg;
      ASSERT_EQ(ws101_server_close(r->srv, server_closed, r), 0);
      break;
    default:
      break;
  }
}

static void on_deadline(ws101_timer *t, void *ud) {
  run *r = ud;
  (void)t;
  FAILF("no end after %d ms: %zu bytes op %d, server echoes %d rc %d, "
        "client got %d", DEADLINE_MS, r->len, r->opcode, r->echoes,
        r->echo_rc, r->got);
}

/* Printable ASCII (valid UTF-8 for text) that deflate does not shrink to
 * nothing: a slowly varying pattern. */
static void fill(char *p, size_t n) {
  uint32_t x = 12345;
  size_t i;
  for (i = 0; i < n; i++) {
    if ((i & 63) == 0) x = x * 1103515245u + 12345u;
    p[i] = (char)('a' + ((x >> 16) + i / 64) % 26);
  }
}

/* One connection with default server options; the client has default
 * options too, except WS101_OPT_DEFLATE = 0 when `deflate` is 0. */
static void one(size_t len, int opcode, int deflate, const char *all) {
  run r;
  ws101_options *copts = NULL;
  char url[64];
  memset(&r, 0, sizeof r);
  r.len = len;
  r.opcode = opcode;
  r.msg = malloc(len);
  ASSERT(r.msg != NULL);
  memcpy(r.msg, all, len);
  ASSERT_EQ(ws101_loop_new(&r.loop), 0);
  ASSERT_EQ(ws101_server_new(r.loop, NULL, &r.srv), 0);
  ASSERT_EQ(ws101_server_websocket(r.srv, "/ws", server_ws, &r), 0);
  ASSERT_EQ(ws101_server_listen(r.srv, "127.0.0.1", 0), 0);
  ASSERT_EQ(ws101_timer_new(r.loop, on_deadline, &r, &r.deadline), 0);
  ASSERT_EQ(ws101_timer_start(r.deadline, DEADLINE_MS, 0), 0);
  if (!deflate) {
    ASSERT_EQ(ws101_options_new(&copts), 0);
    ASSERT_EQ(ws101_options_set(copts, WS101_OPT_DEFLATE, 0), 0);
  }
  snprintf(url, sizeof url, "ws://127.0.0.1:%d/ws", ws101_server_port(r.srv));
  ASSERT_EQ(ws101_ws_connect(r.loop, url, copts, client_ws, &r, NULL), 0);
  ws101_options_free(copts);
  ASSERT_EQ(ws101_loop_run(r.loop), 0);
  ASSERT_EQ(ws101_loop_free(r.loop), 0);
  fprintf(stderr, "    %9zu bytes %-6s %-18s -> echoed %d, close %d\n", len,
          opcode == WS101_OP_TEXT ? "text" : "binary",
          r.ext[0] ? "permessage-deflate" : "no extension", r.got,
          r.close_code);
  ASSERT_EQ(r.error, 0);
  if (deflate)
    ASSERT(strncmp(r.ext, "permessage-deflate", 18) == 0);
  else
    ASSERT_STR_EQ(r.ext, "");
  free(r.msg);
  ASSERT_EQ(r.echo_rc, 0);
  if (len <= 16777216) {
    /* Accepted: the echo came back whole, then our close went through. */
    ASSERT_EQ(r.echoes, 1);
    ASSERT_EQ(r.got, 1);
    ASSERT(r.got_ok);
    ASSERT_EQ(r.close_code, 1000);
  } else {
    /* Too big: refused by the server with 1009, nothing echoed. */
    ASSERT_EQ(r.echoes, 0);
    ASSERT_EQ(r.got, 0);
    ASSERT_EQ(r.close_code, 1009);
  }
}

static void test_defaults_agree(void) {
  ws101_options *o;
  int64_t max_msg = 0, max_bp = 0;
  ASSERT_EQ(ws101_options_new(&o), 0);
  ASSERT_EQ(ws101_options_get(o, WS101_OPT_WS_MAX_MESSAGE, &max_msg), 0);
  ASSERT_EQ(ws101_options_get(o, WS101_OPT_WS_MAX_BACKPRESSURE, &max_bp), 0);
  ws101_options_free(o);
  /* one() hard-codes the boundary; make sure it is the default. */
  ASSERT_EQ(max_msg, 16777216);
  ASSERT_GT(max_bp, 0);
}

static void test_echo_at_message_limit(void) {
  const size_t limit = 16777216;
  const size_t sizes[3] = {limit - 1, limit, limit + 1};
  char *all = malloc(limit + 1);
  int i, op, deflate;
  ASSERT(all != NULL);
  fill(all, limit + 1);
  for (deflate = 0; deflate < 2; deflate++)
    for (op = WS101_OP_TEXT; op <= WS101_OP_BINARY; op++)
      for (i = 0; i < 3; i++) one(sizes[i], op, deflate, all);
  free(all);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  RUN(test_defaults_agree);
  RUN(test_echo_at_message_limit);
  TEST_DONE();
}

/* test_ws_live_flow.c - WebSocket flow control through real sockets: send
 * backpressure with both policies and the DRAIN event, pongs to a peer
 * that does not read, and receive-side pause/resume. */
#include "ws_live.h"

#define MSG (20 * 1000)
#define LIMIT (256 * 1024)

typedef struct fill {
  int sent, rc, again_rc, grew, drains;
  size_t at_refusal;
} fill;

/* On the loop thread: sends MSG-byte binary messages until one is
 * refused (the client is not reading, so the kernel fills up first). */
static void do_fill(live *L, void *arg) {
  fill *f = arg;
  ws101_ws *ws = L->ws;
  char *m = malloc(MSG);
  size_t before = ws101_ws_buffered(ws), after;
  int i;
  ASSERT(m != NULL);
  memset(f, 0, sizeof(*f));
  for (i = 0; i < 100000; i++) {
    memset(m, 'a' + i % 26, MSG);
    f->rc = ws101_ws_send(ws, m, MSG, WS101_OP_BINARY);
    if (f->rc != 0) break;
    f->sent++;
    after = ws101_ws_buffered(ws);
    if (after > before) f->grew++;
    before = after;
  }
  f->at_refusal = ws101_ws_buffered(ws);
  f->again_rc = ws101_ws_send(ws, m, MSG, WS101_OP_BINARY);
  f->drains = live_count(L, WS101_WS_DRAIN);
  free(m);
}

static void read_filled(cli *c, int n) {
  int i, op;
  char *p;
  size_t len;
  for (i = 0; i < n; i++) {
    if (cli_read_frame(c, &op, &p, &len) != 0) FAILF("message %d missing", i);
    ASSERT_EQ(op, 2);
    ASSERT_EQ(len, MSG);
    ASSERT_EQ(p[0], 'a' + i % 26);
    ASSERT_EQ(p[MSG - 1], 'a' + i % 26);
    free(p);
  }
}

static ws101_options *bp_opts(int policy) {
  ws101_options *o;
  ASSERT_EQ(ws101_options_new(&o), 0);
  ASSERT_EQ(ws101_options_set(o, WS101_OPT_WS_MAX_BACKPRESSURE, LIMIT), 0);
  ASSERT_EQ(ws101_options_set(o, WS101_OPT_WS_BACKPRESSURE_POLICY, policy), 0);
  return o;
}

static int g_rc;
static void send_after(live *L, void *arg) {
  (void)arg;
  g_rc = ws101_ws_send(L->ws, "after", 5, WS101_OP_TEXT);
}

static void test_backpressure_refuse(void) {
  live L;
  ws101_options *o = bp_opts(WS101_BACKPRESSURE_REFUSE);
  cli *c;
  fill f;
  live_ev e;
  live_start(&L, o);
  ws101_options_free(o);
  c = cli_connect(L.port, 4096);
  ASSERT_EQ(cli_upgrade(c, "/ws", NULL, NULL, 0, NULL, 0), 101);
  live_wait(&L, WS101_WS_OPEN, 1);
  live_on_loop(&L, do_fill, &f);
  fprintf(stderr, "    %d messages accepted, %zu bytes queued at refusal\n",
          f.sent, f.at_refusal);
  ASSERT_EQ(f.rc, WS101_EBACKPRESSURE);
  ASSERT_EQ(f.again_rc, WS101_EBACKPRESSURE); /* refused, not closed */
  ASSERT_GT(f.sent, 0);
  ASSERT_GT(f.grew, 0);
  /* Only what is queued counts: refused at or above the limit, and the
   * last accepted send started below it. */
  ASSERT_GE(f.at_refusal, LIMIT);
  ASSERT_LT(f.at_refusal, LIMIT + MSG + 14);
  ASSERT_EQ(f.drains, 0);
  /* No DRAIN while the client does not read (checked again after a loop
   * round trip: nothing can have been written meanwhile). */
  live_on_loop(&L, live_nop, NULL);
  ASSERT_EQ(live_count(&L, WS101_WS_DRAIN), 0);
  read_filled(c, f.sent);
  e = live_wait(&L, WS101_WS_DRAIN, 1);
  ASSERT_EQ(e.buffered, 0);
  live_on_loop(&L, send_after, NULL);
  ASSERT_EQ(g_rc, 0);
  cli_expect(c, 1, "after");
  cli_close_handshake(c);
  live_wait(&L, WS101_WS_CLOSE, 1);
  /* Exactly one DRAIN for the one refusal. */
  ASSERT_EQ(live_count(&L, WS101_WS_DRAIN), 1);
  cli_free(c);
  live_stop(&L);
}

static void test_backpressure_close(void) {
  live L;
  ws101_options *o = bp_opts(WS101_BACKPRESSURE_CLOSE);
  cli *c;
  fill f;
  live_start(&L, o);
  ws101_options_free(o);
  c = cli_connect(L.port, 4096);
  ASSERT_EQ(cli_upgrade(c, "/ws", NULL, NULL, 0, NULL, 0), 101);
  live_wait(&L, WS101_WS_OPEN, 1);
  live_on_loop(&L, do_fill, &f);
  ASSERT_EQ(f.rc, WS101_EBACKPRESSURE);
  ASSERT_EQ(f.again_rc, WS101_ECLOSED); /* the close has begun */
  ASSERT_GT(f.sent, 0);
  /* Everything accepted arrives, then the close frame. */
  read_filled(c, f.sent);
  ASSERT_EQ(cli_expect_close(c), 1008);
  cli_send_close(c, 1008);
  cli_expect_eof(c);
  ASSERT_EQ(live_wait(&L, WS101_WS_CLOSE, 1).arg, 1008);
  cli_free(c);
  live_stop(&L);
}

/* A send posted from another thread has nobody to return its error to:
 * invalid text is refused at once, and a refusal on the loop (the queue
 * is full) closes the connection with 1008 instead of losing the message
 * unseen. */
static void test_post_send_refused(void) {
  live L;
  ws101_options *o = bp_opts(WS101_BACKPRESSURE_REFUSE);
  cli *c;
  fill f;
  ws101_ws *ws;
  live_start(&L, o);
  ws101_options_free(o);
  c = cli_connect(L.port, 4096);
  ASSERT_EQ(cli_upgrade(c, "/ref", NULL, NULL, 0, NULL, 0), 101);
  live_wait(&L, WS101_WS_OPEN, 1);
  pthread_mutex_lock(&L.mu);
  ws = L.held; /* referenced on OPEN: safe to use from this thread */
  pthread_mutex_unlock(&L.mu);
  ASSERT(ws != NULL);
  ASSERT_EQ(ws101_ws_post_send(ws, "\xff", 1, WS101_OP_TEXT), WS101_EUTF8);
  live_on_loop(&L, do_fill, &f);
  ASSERT_EQ(f.rc, WS101_EBACKPRESSURE);
  ASSERT_EQ(ws101_ws_post_send(ws, "lost?", 5, WS101_OP_TEXT), 0);
  read_filled(c, f.sent);
  ASSERT_EQ(cli_expect_close(c), 1008);
  cli_send_close(c, 1008);
  cli_expect_eof(c);
  ASSERT_EQ(live_wait(&L, WS101_WS_CLOSE, 1).arg, 1008);
  ASSERT_EQ(live_count(&L, WS101_WS_TEXT), 0);
  ws101_ws_unref(ws);
  cli_free(c);
  live_stop(&L);
}

#define NPING 300

static size_t g_buffered;
static void get_buffered(live *L, void *arg) {
  (void)arg;
  g_buffered = ws101_ws_buffered(L->ws);
}

static size_t ping_payload(char *p, int i) {
  memset(p, 'x', 125);
  p[snprintf(p, 125, "ping %d", i)] = 'x';
  return 125;
}

/* A peer that pings but does not read must not grow the send queue
 * without bound (pongs are owed whatever the queue holds): once a pong
 * finds the queue at the limit, the server stops reading until it drains,
 * then answers every ping it held, in order. */
static void test_ping_flood_while_full(void) {
  live L;
  ws101_options *o = bp_opts(WS101_BACKPRESSURE_REFUSE);
  cli *c;
  fill f;
  uint8_t *pings = malloc(NPING * 131);
  char pl[125], *p;
  size_t n = 0, len;
  int i, op;
  ASSERT(pings != NULL);
  live_start(&L, o);
  ws101_options_free(o);
  c = cli_connect(L.port, 4096);
  ASSERT_EQ(cli_upgrade(c, "/ws", NULL, NULL, 0, NULL, 0), 101);
  live_wait(&L, WS101_WS_OPEN, 1);
  live_on_loop(&L, do_fill, &f);
  ASSERT_EQ(f.rc, WS101_EBACKPRESSURE);
  ASSERT_GE(f.at_refusal, LIMIT);
  for (i = 0; i < NPING; i++)
    n += frame_build(pings + n, 9, 1, pl, ping_payload(pl, i));
  cli_send_raw(c, pings, n); /* ~39 KB: the server's socket takes it all */
  free(pings);
  live_wait(&L, WS101_WS_PING, 1);
  live_on_loop(&L, live_nop, NULL);
  live_on_loop(&L, get_buffered, NULL);
  fprintf(stderr, "    %d of %d pings read while full, %zu bytes queued\n",
          live_count(&L, WS101_WS_PING), NPING, g_buffered);
  /* One pong joined the full queue; the other pings wait unread. */
  ASSERT_EQ(live_count(&L, WS101_WS_PING), 1);
  ASSERT_LE(g_buffered, f.at_refusal + 127);
  /* Reading everything drains the queue: every ping is then answered. */
  read_filled(c, f.sent);
  for (i = 0; i < NPING; i++) {
    if (cli_read_frame(c, &op, &p, &len) != 0) FAILF("pong %d missing", i);
    ASSERT_EQ(op, 10);
    ASSERT_EQ(len, ping_payload(pl, i));
    ASSERT_MEM_EQ(p, pl, len);
    free(p);
  }
  live_wait(&L, WS101_WS_PING, NPING);
  cli_send_text(c, "after");
  cli_expect(c, 1, "after");
  cli_close_handshake(c);
  live_wait(&L, WS101_WS_CLOSE, 1);
  cli_free(c);
  live_stop(&L);
}

static void do_resume(live *L, void *arg) {
  (void)arg;
  ASSERT_EQ(ws101_ws_resume(L->ws), 0);
}

static int g_texts;
static void count_texts(live *L, void *arg) {
  (void)arg;
  g_texts = live_count(L, WS101_WS_TEXT);
}

/* Messages after a pause are held, then delivered in order on resume,
 * including a second pause met while replaying held input. */
static void test_pause_resume(void) {
  static const char *seq[] = {"pause", "m1", "m2", "pause", "m3", "m4"};
  static const char *order[] = {"pause", "m1", "m2", "pause", "m3", "m4",
                                "m5", "m6"};
  live L;
  cli *c;
  uint8_t tail[256];
  size_t n = 0;
  unsigned i;
  int k;
  live_start(&L, NULL);
  c = cli_open(&L, "/ws");
  live_wait(&L, WS101_WS_OPEN, 1);
  /* One segment: the pause happens in the middle of a read. */
  for (i = 0; i < sizeof seq / sizeof *seq; i++)
    n += frame_build(tail + n, 1, 1, seq[i], strlen(seq[i]));
  cli_send_raw(c, tail, n);
  live_wait(&L, WS101_WS_TEXT, 1);
  live_on_loop(&L, count_texts, NULL);
  ASSERT_EQ(g_texts, 1);
  /* Later bytes stay in the kernel while paused. */
  cli_send_text(c, "m5");
  live_on_loop(&L, count_texts, NULL);
  ASSERT_EQ(g_texts, 1);
  live_on_loop(&L, do_resume, NULL);
  cli_expect(c, 1, "m1");
  cli_expect(c, 1, "m2");
  live_wait(&L, WS101_WS_TEXT, 4); /* the second pause */
  live_on_loop(&L, count_texts, NULL);
  ASSERT_EQ(g_texts, 4);
  live_on_loop(&L, do_resume, NULL);
  cli_send_text(c, "m6");
  cli_expect(c, 1, "m3");
  cli_expect(c, 1, "m4");
  cli_expect(c, 1, "m5");
  cli_expect(c, 1, "m6");
  pthread_mutex_lock(&L.mu);
  for (i = 0, k = 0; k < L.nev; k++) {
    if (L.ev[k].event != WS101_WS_TEXT) continue;
    ASSERT(i < sizeof order / sizeof *order);
    ASSERT_STR_EQ(L.ev[k].data, order[i]);
    i++;
  }
  ASSERT_EQ(i, sizeof order / sizeof *order);
  pthread_mutex_unlock(&L.mu);
  cli_close_handshake(c);
  live_wait(&L, WS101_WS_CLOSE, 1);
  cli_free(c);
  live_stop(&L);
}

/* Paused with a close frame held: the close handshake waits for resume,
 * and pausing keeps the connection alive. */
static void test_pause_holds_close(void) {
  live L;
  cli *c;
  uint8_t tail[64];
  uint8_t cl[2] = {0x03, 0xe8};
  size_t n;
  live_start(&L, NULL);
  c = cli_open(&L, "/ws");
  live_wait(&L, WS101_WS_OPEN, 1);
  n = frame_build(tail, 1, 1, "pause", 5);
  n += frame_build(tail + n, 8, 1, cl, 2);
  cli_send_raw(c, tail, n);
  live_wait(&L, WS101_WS_TEXT, 1);
  live_on_loop(&L, live_nop, NULL);
  ASSERT_EQ(live_count(&L, WS101_WS_CLOSE), 0);
  live_on_loop(&L, do_resume, NULL);
  ASSERT_EQ(cli_expect_close(c), 1000);
  cli_expect_eof(c);
  ASSERT_EQ(live_wait(&L, WS101_WS_CLOSE, 1).arg, 1000);
  cli_free(c);
  live_stop(&L);
}

static void do_close(live *L, void *arg) {
  (void)arg;
  ASSERT_EQ(ws101_ws_close(L->ws, 1000, "closing while paused"), 0);
}

static void send_pause(live *L, cli *c) {
  cli_send_text(c, "pause");
  live_wait(L, WS101_WS_TEXT, 1);
}

/* Closing while paused must still read the peer's answer, or every close
 * of a paused connection would end in the close timeout with 1006. */
static void test_close_while_paused(void) {
  live L;
  ws101_options *o;
  cli *c;
  ASSERT_EQ(ws101_options_new(&o), 0);
  ASSERT_EQ(ws101_options_set(o, WS101_OPT_WS_CLOSE_TIMEOUT_MS, 4000), 0);
  live_start(&L, o);
  ws101_options_free(o);
  c = cli_open(&L, "/ws");
  send_pause(&L, c);
  cli_send_text(c, "held");
  live_on_loop(&L, do_close, NULL);
  ASSERT_EQ(cli_expect_close(c), 1000);
  cli_send_close(c, 1000);
  cli_expect_eof(c);
  ASSERT_EQ(live_wait(&L, WS101_WS_CLOSE, 1).arg, 1000);
  /* The held message was still delivered, before CLOSE. */
  ASSERT_EQ(live_count(&L, WS101_WS_TEXT), 2);
  ASSERT_STR_EQ(live_wait(&L, WS101_WS_TEXT, 2).data, "held");
  cli_free(c);
  live_stop(&L);
}

/* Server shutdown of a paused connection completes the handshake too. */
static void test_shutdown_while_paused(void) {
  live L;
  ws101_options *o;
  cli *c;
  ASSERT_EQ(ws101_options_new(&o), 0);
  ASSERT_EQ(ws101_options_set(o, WS101_OPT_WS_CLOSE_TIMEOUT_MS, 4000), 0);
  live_start(&L, o);
  ws101_options_free(o);
  c = cli_open(&L, "/ws");
  send_pause(&L, c);
  live_shutdown(&L);
  ASSERT_EQ(cli_expect_close(c), 1001);
  cli_send_close(c, 1001);
  cli_expect_eof(c);
  live_join(&L);
  ASSERT_EQ(L.ev[L.nev - 1].event, WS101_WS_CLOSE);
  ASSERT_EQ(L.ev[L.nev - 1].arg, 1001);
  cli_free(c);
}

/* Keep-alive must not drop a connection the application paused: the
 * peer's pong cannot be read until it resumes. */
static void test_paused_keepalive(void) {
  live L;
  ws101_options *o;
  cli *c;
  int op;
  char *p;
  size_t n;
  ASSERT_EQ(ws101_options_new(&o), 0);
  ASSERT_EQ(ws101_options_set(o, WS101_OPT_WS_PING_INTERVAL_MS, 200), 0);
  ASSERT_EQ(ws101_options_set(o, WS101_OPT_WS_PONG_TIMEOUT_MS, 200), 0);
  live_start(&L, o);
  ws101_options_free(o);
  c = cli_open(&L, "/ws");
  send_pause(&L, c);
  /* Well past interval + pong timeout; answer any ping (unread). */
  cli_timeout(c, 1000);
  while (cli_read_frame(c, &op, &p, &n) == 0) {
    ASSERT_EQ(op, 9);
    cli_send_frame(c, 10, p, n);
    free(p);
  }
  ASSERT(errno == EAGAIN || errno == EWOULDBLOCK);
  cli_timeout(c, LIVE_TIMEOUT_MS);
  ASSERT_EQ(live_count(&L, WS101_WS_CLOSE), 0);
  live_on_loop(&L, do_resume, NULL);
  cli_send_text(c, "alive");
  for (;;) { /* pings may still come first */
    ASSERT_EQ(cli_read_frame(c, &op, &p, &n), 0);
    if (op == 9) {
      cli_send_frame(c, 10, p, n);
      free(p);
      continue;
    }
    ASSERT_EQ(op, 1);
    ASSERT_STR_EQ(p, "alive");
    free(p);
    break;
  }
  cli_send_close(c, 1000);
  for (;;) {
    ASSERT_EQ(cli_read_frame(c, &op, &p, &n), 0);
    free(p);
    if (op == 8) break;
  }
  cli_expect_eof(c);
  ASSERT_EQ(live_wait(&L, WS101_WS_CLOSE, 1).arg, 1000);
  cli_free(c);
  live_stop(&L);
}

int main(void) {
  live_init_process();
  RUN(test_backpressure_refuse);
  RUN(test_backpressure_close);
  RUN(test_ping_flood_while_full);
  RUN(test_post_send_refused);
  RUN(test_pause_resume);
  RUN(test_pause_holds_close);
  RUN(test_close_while_paused);
  RUN(test_shutdown_while_paused);
  RUN(test_paused_keepalive);
  TEST_DONE();
}

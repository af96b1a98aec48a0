/* test_ws_live_timers.c - the WebSocket deadlines through real sockets:
 * keep-alive pings, the pong timeout, and the close-handshake timeout.
 * Durations are asserted loosely (the loop sweeps deadlines every 100 ms);
 * every wait is on an event or a socket read with a deadline. */
#include "ws_live.h"

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static ws101_options *timer_opts(int ping, int pong, int close_ms) {
  ws101_options *o;
  ASSERT_EQ(ws101_options_new(&o), 0);
  if (ping) ASSERT_EQ(ws101_options_set(o, WS101_OPT_WS_PING_INTERVAL_MS, ping), 0);
  if (pong) ASSERT_EQ(ws101_options_set(o, WS101_OPT_WS_PONG_TIMEOUT_MS, pong), 0);
  if (close_ms)
    ASSERT_EQ(ws101_options_set(o, WS101_OPT_WS_CLOSE_TIMEOUT_MS, close_ms), 0);
  return o;
}

/* Reads the next frame, which must be a ping; returns its payload. */
static char *expect_ping(cli *c, size_t *n) {
  int op;
  char *p;
  if (cli_read_frame(c, &op, &p, n) != 0) FAILF("no ping");
  ASSERT_EQ(op, 9);
  return p;
}

/* Answering pings keeps an otherwise silent connection open; a ping left
 * unanswered drops it after the pong timeout, with CLOSE 1006. */
static void test_keepalive_ping(void) {
  live L;
  ws101_options *o = timer_opts(200, 200, 0);
  cli *c;
  char *p;
  size_t n;
  int i;
  uint64_t t0;
  live_ev e;
  live_start(&L, o);
  ws101_options_free(o);
  c = cli_open(&L, "/ws");
  t0 = now_ms();
  for (i = 0; i < 3; i++) {
    p = expect_ping(c, &n);
    cli_send_frame(c, 10, p, n); /* pong with the same payload */
    free(p);
  }
  /* Three intervals of silence from us except pongs: at least ~600 ms. */
  ASSERT_GE(now_ms() - t0, 500);
  live_wait(&L, WS101_WS_PONG, 3);
  cli_send_text(c, "still here");
  cli_expect(c, 1, "still here");
  /* Now stay silent. */
  p = expect_ping(c, &n);
  free(p);
  t0 = now_ms();
  cli_expect_eof(c);
  ASSERT_GE(now_ms() - t0, 150);
  e = live_wait(&L, WS101_WS_CLOSE, 1);
  ASSERT_EQ(e.arg, 1006);
  ASSERT_EQ(live_count(&L, WS101_WS_PONG), 3);
  cli_free(c);
  live_stop(&L);
}

/* Traffic from the peer postpones the ping: a client that keeps talking
 * more often than the interval sees no ping at all. */
static void test_ping_postponed_by_traffic(void) {
  live L;
  ws101_options *o = timer_opts(400, 200, 0);
  cli *c;
  int i;
  live_start(&L, o);
  ws101_options_free(o);
  c = cli_open(&L, "/ws");
  /* Each echo takes far less than the interval; 12 round trips with a
   * pause of ~50 ms (a read that times out) between them. */
  cli_timeout(c, 50);
  for (i = 0; i < 12; i++) {
    char b[1];
    ASSERT_EQ(recv(c->fd, b, 1, MSG_PEEK), -1); /* nothing: no ping */
    cli_send_text(c, "tick");
    cli_timeout(c, LIVE_TIMEOUT_MS);
    cli_expect(c, 1, "tick");
    cli_timeout(c, 50);
  }
  cli_timeout(c, LIVE_TIMEOUT_MS);
  cli_close_handshake(c);
  live_wait(&L, WS101_WS_CLOSE, 1);
  ASSERT_EQ(live_count(&L, WS101_WS_PONG), 0);
  cli_free(c);
  live_stop(&L);
}

/* The server closes; the client never answers: TCP is dropped after the
 * close timeout. */
static void test_close_timeout(void) {
  live L;
  ws101_options *o = timer_opts(0, 0, 300);
  cli *c;
  uint64_t t0, dt;
  live_start(&L, o);
  ws101_options_free(o);
  c = cli_open(&L, "/ws");
  cli_send_text(c, "bye");
  ASSERT_EQ(cli_expect_close(c), 1000);
  t0 = now_ms();
  cli_expect_eof(c);
  dt = now_ms() - t0;
  fprintf(stderr, "    dropped %u ms after the close frame\n", (unsigned)dt);
  ASSERT_GE(dt, 250);
  ASSERT_LT(dt, 2000);
  ASSERT_EQ(live_wait(&L, WS101_WS_CLOSE, 1).arg, 1006);
  cli_free(c);
  live_stop(&L);
}

/* The peer echoes the close but never ends TCP: the server's FIN is sent
 * and the connection is dropped after the linger (close timeout). */
static void test_close_linger(void) {
  live L;
  ws101_options *o = timer_opts(0, 0, 300);
  cli *c;
  uint64_t t0, dt;
  live_start(&L, o);
  ws101_options_free(o);
  c = cli_open(&L, "/ws");
  cli_send_close(c, 1000);
  ASSERT_EQ(cli_expect_close(c), 1000);
  /* Read the FIN but do not answer it. */
  ASSERT_EQ(cli_fill(c), 0);
  t0 = now_ms();
  ASSERT_EQ(live_wait(&L, WS101_WS_CLOSE, 1).arg, 1000);
  dt = now_ms() - t0;
  ASSERT_LT(dt, 2000);
  cli_free(c);
  live_stop(&L);
}

int main(void) {
  live_init_process();
  RUN(test_keepalive_ping);
  RUN(test_ping_postponed_by_traffic);
  RUN(test_close_timeout);
  RUN(test_close_linger);
  TEST_DONE();
}

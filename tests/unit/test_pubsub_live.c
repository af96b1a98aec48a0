/* test_pubsub_live.c - pub/sub on live servers with real sockets: many
 * subscribers, topics kept apart, counts, subscriptions ending with the
 * connection, a slow subscriber skipped or dropped by policy while the
 * others get every message, shared-deflate bytes compressed once and
 * identical for every subscriber, and worker threads: a publish on one
 * worker reaches subscribers on the other.
 *
 * Clients are the blocking RFC 6455 clients of ws_live.h (in the main
 * thread); servers run in their own threads; waits are on events with
 * deadlines. */
#include "ws_live.h"

#include <zlib.h>

/* ------------------------------------------------------------------------ */
/* Server: /sub/TOPIC subscribes on OPEN; text "pub:TOPIC:DATA" publishes
 * DATA to TOPIC through the connection's server; "who" answers the worker
 * index. */

typedef struct ps_env {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int opens, closes;
} ps_env;

static ps_env env = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0,
                     0};

static void bump(int *what) {
  pthread_mutex_lock(&env.mu);
  (*what)++;
  pthread_cond_broadcast(&env.cv);
  pthread_mutex_unlock(&env.mu);
}

static void wait_count(int *what, int n) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += 20;
  pthread_mutex_lock(&env.mu);
  while (*what < n)
    if (pthread_cond_timedwait(&env.cv, &env.mu, &ts) != 0)
      FAILF("timed out waiting for %d (have %d)", n, *what);
  pthread_mutex_unlock(&env.mu);
}

static void on_sub(ws101_ws *ws, int event, const char *data, size_t len,
                   int arg, void *ud) {
  const char *topic = ws101_ws_path(ws) + 5;
  (void)arg;
  if (event == WS101_WS_OPEN) {
    ASSERT_EQ(ws101_ws_subscribe(ws, topic), 1);
    ASSERT_EQ(ws101_ws_subscribe(ws, topic), 0);
    ASSERT_EQ(ws101_ws_is_subscribed(ws, topic), 1);
    ASSERT_EQ(ws101_ws_subscription_count(ws), 1);
    ASSERT(ws101_ws_server(ws) != NULL);
    bump(&env.opens);
  } else if (event == WS101_WS_TEXT && len == 3 && memcmp(data, "who", 3) == 0) {
    char b[16];
    int n = snprintf(b, sizeof b, "%d", (int)(intptr_t)ud);
    ws101_ws_send(ws, b, (size_t)n, WS101_OP_TEXT);
  } else if (event == WS101_WS_TEXT && len > 4 && memcmp(data, "pub:", 4) == 0) {
    char t[64];
    const char *c = memchr(data + 4, ':', len - 4);
    size_t tl;
    ASSERT(c != NULL);
    tl = (size_t)(c - data - 4);
    memcpy(t, data + 4, tl);
    t[tl] = '\0';
    ASSERT_GE(ws101_server_publish(ws101_ws_server(ws), t, c + 1,
                                   len - (size_t)(c + 1 - data), WS101_OP_TEXT),
              0);
  } else if (event == WS101_WS_CLOSE) {
    /* Subscriptions ended just before this event. */
    ASSERT_EQ(ws101_ws_subscription_count(ws), 0);
    bump(&env.closes);
  }
}

typedef struct srv_t {
  ws101_loop *loop;
  ws101_server *srv;
  pthread_t th;
  int port;
} srv_t;

static void *run_loop(void *arg) {
  ws101_loop_run(((srv_t *)arg)->loop);
  return NULL;
}

static void srv_start(srv_t *s, ws101_options *o) {
  memset(s, 0, sizeof(*s));
  ASSERT_EQ(ws101_loop_new(&s->loop), 0);
  ASSERT_EQ(ws101_server_new(s->loop, o, &s->srv), 0);
  ASSERT_EQ(ws101_server_websocket(s->srv, "/sub/*", on_sub, NULL), 0);
  ASSERT_EQ(ws101_server_listen(s->srv, "127.0.0.1", 0), 0);
  s->port = ws101_server_port(s->srv);
  ASSERT_EQ(pthread_create(&s->th, NULL, run_loop, s), 0);
}

/* Runs fn(srv, arg) on the loop thread and waits for it. */
typedef struct call {
  srv_t *s;
  void (*fn)(srv_t *s, void *arg);
  void *arg;
  int done;
} call;

static void call_cb(ws101_loop *loop, void *ud) {
  call *c = ud;
  (void)loop;
  c->fn(c->s, c->arg);
  pthread_mutex_lock(&env.mu);
  c->done = 1;
  pthread_cond_broadcast(&env.cv);
  pthread_mutex_unlock(&env.mu);
}

static void on_loop(srv_t *s, void (*fn)(srv_t *, void *), void *arg) {
  call c = {s, fn, arg, 0};
  ASSERT_EQ(ws101_loop_post(s->loop, call_cb, &c), 0);
  wait_count(&c.done, 1);
}

typedef struct stat_q {
  const char *topic;
  uint64_t subs, stat[10];
} stat_q;

static void query(srv_t *s, void *arg) {
  stat_q *q = arg;
  int i;
  q->subs = ws101_server_subscribers(s->srv, q->topic);
  for (i = 1; i < 10; i++) q->stat[i] = ws101_server_pubsub_stat(s->srv, i);
}

static stat_q stats(srv_t *s, const char *topic) {
  stat_q q;
  memset(&q, 0, sizeof q);
  q.topic = topic;
  on_loop(s, query, &q);
  return q;
}

static void close_srv(srv_t *s, void *arg) {
  (void)arg;
  ws101_server_close(s->srv, NULL, NULL);
}

static void srv_stop(srv_t *s) {
  on_loop(s, close_srv, NULL);
  ASSERT_EQ(pthread_join(s->th, NULL), 0);
  ASSERT_EQ(ws101_loop_free(s->loop), 0);
}

static void reset_env(void) {
  pthread_mutex_lock(&env.mu);
  env.opens = env.closes = 0;
  pthread_mutex_unlock(&env.mu);
}

static cli *sub_open(int port, const char *path, int rcvbuf,
                     const char *extra) {
  cli *c = cli_connect(port, rcvbuf);
  ASSERT_EQ(cli_upgrade(c, path, extra, NULL, 0, NULL, 0), 101);
  return c;
}

/* ------------------------------------------------------------------------ */

#define MANY 120

static void many_subscribers(void) {
  static cli *a[MANY];
  cli *b[3];
  srv_t s;
  stat_q q;
  int i;
  reset_env();
  srv_start(&s, NULL);
  for (i = 0; i < MANY; i++) a[i] = sub_open(s.port, "/sub/a", 0, NULL);
  for (i = 0; i < 3; i++) b[i] = sub_open(s.port, "/sub/b", 0, NULL);
  wait_count(&env.opens, MANY + 3);
  q = stats(&s, "a");
  ASSERT_EQ(q.subs, MANY);
  ASSERT_EQ(q.stat[WS101_PUBSUB_TOPICS], 2);
  ASSERT_EQ(q.stat[WS101_PUBSUB_SUBSCRIPTIONS], MANY + 3);
  ASSERT_GT(q.stat[WS101_PUBSUB_MEMORY], 0);
  /* Bookkeeping stays small per subscription (tables, arrays, the hub). */
  ASSERT_LT(q.stat[WS101_PUBSUB_MEMORY], 4096 + 160 * (MANY + 3));
  fprintf(stderr, "    pub/sub bookkeeping: %llu bytes for %d subscriptions\n",
          (unsigned long long)q.stat[WS101_PUBSUB_MEMORY], MANY + 3);
  /* The sender is subscribed too and gets its own message. */
  cli_send_text(a[7], "pub:a:hello room a");
  for (i = 0; i < MANY; i++) cli_expect(a[i], 1, "hello room a");
  cli_send_text(b[0], "pub:b:only b");
  for (i = 0; i < 3; i++) cli_expect(b[i], 1, "only b"); /* not room a's */
  cli_send_text(a[0], "pub:nobody:x"); /* no subscriber: nothing, no error */
  cli_send_text(a[0], "pub:a:second");
  for (i = 0; i < MANY; i++) cli_expect(a[i], 1, "second");
  q = stats(&s, "a");
  ASSERT_EQ(q.stat[WS101_PUBSUB_PUBLISHED], 4);
  ASSERT_EQ(q.stat[WS101_PUBSUB_DELIVERED], 2 * MANY + 3);
  ASSERT_EQ(q.stat[WS101_PUBSUB_SKIPPED], 0);
  /* Subscriptions end with their connections. */
  for (i = 0; i < MANY / 2; i++) {
    cli_close_handshake(a[i]);
    cli_free(a[i]);
  }
  wait_count(&env.closes, MANY / 2);
  q = stats(&s, "a");
  ASSERT_EQ(q.subs, MANY - MANY / 2);
  ASSERT_EQ(q.stat[WS101_PUBSUB_SUBSCRIPTIONS], MANY - MANY / 2 + 3);
  for (i = 0; i < 3; i++) {
    cli_close_handshake(b[i]);
    cli_free(b[i]);
  }
  wait_count(&env.closes, MANY / 2 + 3);
  q = stats(&s, "b");
  ASSERT_EQ(q.subs, 0);
  ASSERT_EQ(q.stat[WS101_PUBSUB_TOPICS], 1); /* "b" is gone */
  for (i = MANY / 2; i < MANY; i++) {
    cli_close_handshake(a[i]);
    cli_free(a[i]);
  }
  srv_stop(&s);
}

/* ------------------------------------------------------------------------ */
/* Slow subscribers                                                          */

#define NFAST 4
#define MSG 8192
#define PER_ROUND 6 /* 48 KiB a round: within the 64 KiB limit */

typedef struct round_arg {
  uint32_t round;
} round_arg;

static void publish_round(srv_t *s, void *arg) {
  static char m[MSG];
  round_arg *r = arg;
  int k;
  for (k = 0; k < PER_ROUND; k++) {
    uint32_t seq = r->round * PER_ROUND + (uint32_t)k;
    memset(m, 'a' + (int)(seq % 26), sizeof m);
    memcpy(m, &seq, sizeof seq);
    ASSERT_GE(ws101_server_publish(s->srv, "feed", m, sizeof m,
                                   WS101_OP_BINARY), 0);
  }
}

static void read_round(cli *c, uint32_t round) {
  int k;
  for (k = 0; k < PER_ROUND; k++) {
    uint32_t seq = round * PER_ROUND + (uint32_t)k, got;
    int op;
    char *p;
    size_t n;
    if (cli_read_frame(c, &op, &p, &n) != 0) FAILF("fast subscriber starved");
    ASSERT_EQ(op, 2);
    ASSERT_EQ(n, MSG);
    memcpy(&got, p, sizeof got);
    ASSERT_EQ(got, seq); /* every message, in order */
    ASSERT_EQ(p[MSG - 1], 'a' + (int)(seq % 26));
    free(p);
  }
}

static void slow_subscriber(int policy) {
  ws101_options *o;
  cli *fast[NFAST], *slow;
  srv_t s;
  stat_q q;
  uint32_t round = 0, extra = 0;
  int i;
  reset_env();
  ASSERT_EQ(ws101_options_new(&o), 0);
  ASSERT_EQ(ws101_options_set(o, WS101_OPT_WS_MAX_BACKPRESSURE, 64 * 1024), 0);
  ASSERT_EQ(ws101_options_set(o, WS101_OPT_WS_BACKPRESSURE_POLICY, policy), 0);
  ASSERT_EQ(ws101_options_set(o, WS101_OPT_WS_CLOSE_TIMEOUT_MS, 300), 0);
  srv_start(&s, o);
  ws101_options_free(o);
  for (i = 0; i < NFAST; i++) fast[i] = sub_open(s.port, "/sub/feed", 0, NULL);
  /* Never reads, with a small window: the kernel soon stops taking its
   * bytes and its own queue fills. */
  slow = sub_open(s.port, "/sub/feed", 4096, NULL);
  wait_count(&env.opens, NFAST + 1);
  /* Until the policy has struck the slow one (bounded), then a few rounds
   * more: the fast ones get every message throughout. */
  for (;;) {
    round_arg r = {round};
    on_loop(&s, publish_round, &r);
    for (i = 0; i < NFAST; i++) read_round(fast[i], round);
    round++;
    q = stats(&s, "feed");
    if (q.stat[WS101_PUBSUB_SKIPPED] + q.stat[WS101_PUBSUB_DROPPED] > 0 &&
        ++extra > 5)
      break;
    if (round > 3000) FAILF("the slow subscriber was never held back");
  }
  fprintf(stderr, "    policy %d: struck after %u rounds of %d KiB\n", policy,
          round - extra, PER_ROUND * MSG / 1024);
  if (policy == WS101_BACKPRESSURE_CLOSE) {
    ASSERT_GE(q.stat[WS101_PUBSUB_DROPPED], 1);
    ASSERT_EQ(q.stat[WS101_PUBSUB_SKIPPED], 0);
    /* Dropped: its close handshake times out and it leaves the topic. */
    wait_count(&env.closes, 1);
    ASSERT_EQ(stats(&s, "feed").subs, NFAST);
  } else {
    ASSERT_GE(q.stat[WS101_PUBSUB_SKIPPED], 1);
    ASSERT_EQ(q.stat[WS101_PUBSUB_DROPPED], 0);
    ASSERT_EQ(q.subs, NFAST + 1); /* skipped, still subscribed */
  }
  for (i = 0; i < NFAST; i++) {
    cli_close_handshake(fast[i]);
    cli_free(fast[i]);
  }
  cli_free(slow);
  srv_stop(&s);
}

static void slow_skipped(void) { slow_subscriber(WS101_BACKPRESSURE_REFUSE); }
static void slow_dropped(void) { slow_subscriber(WS101_BACKPRESSURE_CLOSE); }

/* ------------------------------------------------------------------------ */
/* Shared deflate: compressed once, the same bytes to every subscriber      */

/* Reads one frame with its first header byte. */
static char *read_raw(cli *c, int *b0, size_t *n) {
  int op;
  char *p;
  ASSERT_EQ(cli_need(c, 1), 0);
  *b0 = (uint8_t)c->buf[c->off];
  ASSERT_EQ(cli_read_frame(c, &op, &p, n), 0);
  return p;
}

static void shared_deflate(void) {
  static const char offer[] =
      "Sec-WebSocket-Extensions: permessage-deflate; "
      "server_no_context_takeover; client_no_context_takeover\r\n";
  ws101_options *o;
  cli *z1, *z2, *plain;
  srv_t s;
  char msg[1024], *p1, *p2, *p3, out[2048];
  size_t n1, n2, n3, i;
  int b1, b2, b3;
  z_stream zs;
  reset_env();
  ASSERT_EQ(ws101_options_new(&o), 0);
  ASSERT_EQ(ws101_options_set(o, WS101_OPT_DEFLATE_MEMORY,
                              WS101_DEFLATE_SHARED), 0);
  srv_start(&s, o);
  ws101_options_free(o);
  z1 = sub_open(s.port, "/sub/z", 0, offer);
  z2 = sub_open(s.port, "/sub/z", 0, offer);
  plain = sub_open(s.port, "/sub/z", 0, NULL);
  wait_count(&env.opens, 3);
  for (i = 0; i < sizeof msg; i++) msg[i] = "the quick brown fox "[i % 20];
  memcpy(msg, "pub:z:", 6);
  cli_send_frame(plain, 1, msg, sizeof msg);
  p1 = read_raw(z1, &b1, &n1);
  p2 = read_raw(z2, &b2, &n2);
  p3 = read_raw(plain, &b3, &n3);
  ASSERT_EQ(b1, 0x80 | 0x40 | 1); /* FIN, RSV1 (compressed), text */
  ASSERT_EQ(b2, b1);
  ASSERT_EQ(b3, 0x80 | 1); /* the non-deflate peer gets it plain */
  ASSERT_EQ(n3, sizeof msg - 6);
  ASSERT_MEM_EQ(p3, msg + 6, n3);
  ASSERT_LT(n1, n3 / 4);
  ASSERT_EQ(n1, n2);
  ASSERT_MEM_EQ(p1, p2, n1); /* the same bytes */
  /* And they inflate to the message (RFC 7692 7.2.2: add 00 00 ff ff). */
  memset(&zs, 0, sizeof zs);
  ASSERT_EQ(inflateInit2(&zs, -15), Z_OK);
  p1 = realloc(p1, n1 + 4);
  memcpy(p1 + n1, "\x00\x00\xff\xff", 4);
  zs.next_in = (Bytef *)p1;
  zs.avail_in = (uInt)(n1 + 4);
  zs.next_out = (Bytef *)out;
  zs.avail_out = sizeof out;
  ASSERT(inflate(&zs, Z_SYNC_FLUSH) >= 0);
  ASSERT_EQ(sizeof out - zs.avail_out, n3);
  ASSERT_MEM_EQ(out, msg + 6, n3);
  inflateEnd(&zs);
  free(p1);
  free(p2);
  free(p3);
  cli_close_handshake(z1);
  cli_close_handshake(z2);
  cli_close_handshake(plain);
  cli_free(z1);
  cli_free(z2);
  cli_free(plain);
  srv_stop(&s);
}

/* ------------------------------------------------------------------------ */
/* Workers                                                                   */

static int setup(ws101_server *srv, int index, void *ud) {
  (void)ud;
  return ws101_server_websocket(srv, "/sub/*", on_sub,
                                (void *)(intptr_t)index);
}

#define WMAX 64

static void workers(void) {
  static cli *c[WMAX];
  ws101_workers *w;
  int on[WMAX], n = 0, seen[2] = {0, 0}, i, k, from[2] = {-1, -1};
  reset_env();
  ASSERT_EQ(ws101_workers_new(2, NULL, setup, NULL, &w), 0);
  ASSERT_EQ(ws101_workers_count(w), 2);
  ASSERT_EQ(ws101_workers_listen(w, "127.0.0.1", 0), 0);
  ASSERT_GT(ws101_workers_port(w), 0);
  ASSERT_EQ(ws101_workers_start(w), 0);
  /* The kernel spreads connections over both listeners; keep connecting
   * (bounded) until both workers have some. */
  while (n < WMAX && (n < 8 || !seen[0] || !seen[1])) {
    char *p;
    int op;
    size_t len;
    c[n] = sub_open(ws101_workers_port(w), "/sub/w", 0, NULL);
    cli_send_text(c[n], "who");
    ASSERT_EQ(cli_read_frame(c[n], &op, &p, &len), 0);
    on[n] = atoi(p);
    ASSERT(on[n] == 0 || on[n] == 1);
    free(p);
    seen[on[n]]++;
    if (from[on[n]] < 0) from[on[n]] = n;
    n++;
  }
  fprintf(stderr, "    %d connections: %d on worker 0, %d on worker 1\n", n,
          seen[0], seen[1]);
  ASSERT(seen[0] > 0 && seen[1] > 0);
  wait_count(&env.opens, n);
  /* A publish from each worker reaches the subscribers of both. */
  for (k = 0; k < 2; k++) {
    char m[32];
    snprintf(m, sizeof m, "pub:w:from worker %d", k);
    cli_send_text(c[from[k]], m);
    for (i = 0; i < n; i++) cli_expect(c[i], 1, m + 6);
  }
  for (i = 0; i < n; i++) {
    cli_close_handshake(c[i]);
    cli_free(c[i]);
  }
  wait_count(&env.closes, n);
  ASSERT_EQ(ws101_workers_stop(w), 0);
  ASSERT_EQ(ws101_workers_free(w), 0);
}

int main(void) {
  live_init_process();
  RUN(many_subscribers);
  RUN(slow_skipped);
  RUN(slow_dropped);
  RUN(shared_deflate);
  RUN(workers);
  TEST_DONE();
}

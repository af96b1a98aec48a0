/* ws_live.h - shared harness of the test_ws_live_*.c tests: a ws101
 * server on 127.0.0.1 (port 0) running its loop in a second thread, and a
 * hand-written blocking-socket WebSocket client in the main thread.
 *
 * Synchronisation is by events only: the server's callbacks append to an
 * event log under a mutex and signal a condition variable; the main thread
 * waits on it with a deadline. Work that must run on the loop thread goes
 * through ws101_loop_post and the main thread waits until it has run.
 * Socket reads have SO_RCVTIMEO deadlines so a hang fails instead of
 * blocking ctest. The client is written from RFC 6455 alone and shares no
 * code with the library, so it is an independent oracle. */
#ifndef WS101_WS_LIVE_H
#define WS101_WS_LIVE_H

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "test.h"
#include "ws101.h"

/* ------------------------------------------------------------------------ */
/* Server side                                                              */

#define LIVE_MAX_EVENTS 512
#define LIVE_TIMEOUT_MS 5000

typedef struct live_ev {
  int event, arg;
  size_t len;     /* full payload length */
  char data[64];  /* first bytes, NUL-terminated */
  size_t buffered; /* DRAIN only: ws101_ws_buffered() during it */
} live_ev;

typedef struct live {
  ws101_loop *loop;
  ws101_server *srv;
  int port;
  pthread_t th;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  live_ev ev[LIVE_MAX_EVENTS];
  int nev;
  /* Set on the loop thread, read under mu. */
  ws101_ws *ws;      /* the last connection opened */
  ws101_ws *held;    /* referenced with ws101_ws_ref on OPEN ("/ref") */
  size_t mem_open;   /* ws101_ws_memory during OPEN */
  char subproto[32]; /* ws101_ws_subprotocol during OPEN */
  int accept_bad_rc, accept_rc; /* "/proto": the two accept calls */
  ws101_req *later;  /* "/later": request accepted from a post */
  int no_echo;
} live;

static inline void live_record(live *L, ws101_ws *ws, int event, const char *data,
                        size_t len, int arg) {
  live_ev *e;
  pthread_mutex_lock(&L->mu);
  if (L->nev >= LIVE_MAX_EVENTS) FAILF("event log full");
  e = &L->ev[L->nev++];
  e->event = event;
  e->arg = arg;
  e->len = len;
  if (len > sizeof(e->data) - 1) len = sizeof(e->data) - 1;
  memcpy(e->data, data, len);
  e->data[len] = '\0';
  /* Only for DRAIN: asking at other times would itself owe a DRAIN. */
  e->buffered = event == WS101_WS_DRAIN ? ws101_ws_buffered(ws) : 0;
  pthread_cond_broadcast(&L->cv);
  pthread_mutex_unlock(&L->mu);
}

/* The one event handler: records every event, echoes messages, and obeys
 * a few commands sent as text ("pause", "bye") or implied by the path. */
static inline void live_ws_cb(ws101_ws *ws, int event, const char *data, size_t len,
                       int arg, void *ud) {
  live *L = ud;
  const char *path = ws101_ws_path(ws);
  if (event == WS101_WS_OPEN) {
    pthread_mutex_lock(&L->mu);
    L->ws = ws;
    L->mem_open = ws101_ws_memory(ws);
    snprintf(L->subproto, sizeof L->subproto, "%s", ws101_ws_subprotocol(ws));
    if (strcmp(path, "/ref") == 0) {
      ws101_ws_ref(ws);
      L->held = ws;
    }
    pthread_mutex_unlock(&L->mu);
  }
  live_record(L, ws, event, data, len, arg);
  if (event == WS101_WS_OPEN && strcmp(path, "/closeonopen") == 0) {
    ASSERT_EQ(ws101_ws_close(ws, 4000, "bye"), 0);
    /* Closing twice is refused, not fatal. */
    ASSERT_EQ(ws101_ws_close(ws, 4000, "again"), WS101_ECLOSED);
    ASSERT_EQ(ws101_ws_send(ws, "x", 1, WS101_OP_TEXT), WS101_ECLOSED);
    return;
  }
  if (event == WS101_WS_CLOSE) {
    pthread_mutex_lock(&L->mu);
    if (L->ws == ws) L->ws = NULL;
    pthread_mutex_unlock(&L->mu);
    return;
  }
  if (event != WS101_WS_TEXT && event != WS101_WS_BINARY) return;
  if (event == WS101_WS_TEXT && len == 5 && memcmp(data, "pause", 5) == 0) {
    ASSERT_EQ(ws101_ws_pause(ws), 0);
    return;
  }
  if (event == WS101_WS_TEXT && len > 4 && memcmp(data, "cut:", 4) == 0) {
    /* The received text itself, one byte short (same pointer, other
     * length): validated again, so a cut code point is refused. The
     * result goes back as "rc=N", then the whole message is echoed. */
    char rc[32];
    snprintf(rc, sizeof rc, "rc=%d",
             ws101_ws_send(ws, data, len - 1, WS101_OP_TEXT));
    ASSERT_EQ(ws101_ws_send(ws, rc, strlen(rc), WS101_OP_TEXT), 0);
  }
  if (event == WS101_WS_TEXT && len == 3 && memcmp(data, "bye", 3) == 0) {
    ASSERT_EQ(ws101_ws_close(ws, 1000, "done"), 0);
    /* Messages after our close frame are refused. */
    ASSERT_EQ(ws101_ws_send(ws, "x", 1, WS101_OP_TEXT), WS101_ECLOSED);
    return;
  }
  if (!L->no_echo) {
    int rc = ws101_ws_send(ws, data, len,
                           event == WS101_WS_TEXT ? WS101_OP_TEXT
                                                  : WS101_OP_BINARY);
    /* Messages may still arrive after our close frame went out. */
    if (rc != 0) ASSERT_EQ(rc, WS101_ECLOSED);
  }
}

/* "/proto": an ordinary route that accepts the upgrade itself, first with
 * a subprotocol the client did not offer (refused), then one it did. */
static inline void live_proto_route(ws101_req *req, void *ud) {
  live *L = ud;
  ws101_ws *ws = NULL;
  int bad = ws101_req_accept_websocket(req, "nope", live_ws_cb, L, NULL);
  int ok = ws101_req_accept_websocket(req, "chat", live_ws_cb, L, &ws);
  pthread_mutex_lock(&L->mu);
  L->accept_bad_rc = bad;
  L->accept_rc = ok;
  pthread_mutex_unlock(&L->mu);
  if (ok == 0) ASSERT(ws != NULL);
}

static inline void live_later_cb(ws101_loop *loop, void *ud) {
  live *L = ud;
  (void)loop;
  ASSERT_EQ(ws101_req_accept_websocket(L->later, NULL, live_ws_cb, L, NULL),
            0);
  L->later = NULL;
}

/* "/later": the handler keeps the request and accepts on a later loop
 * iteration, so bytes pipelined after the head wait in the HTTP layer. */
static inline void live_later_route(ws101_req *req, void *ud) {
  live *L = ud;
  L->later = req;
  ASSERT_EQ(ws101_loop_post(ws101_server_loop(L->srv), live_later_cb, L), 0);
}

static inline void *live_thread(void *arg) {
  live *L = arg;
  ASSERT_EQ(ws101_loop_run(L->loop), 0);
  return NULL;
}

static inline void live_start(live *L, ws101_options *opts) {
  memset(L, 0, sizeof(*L));
  pthread_mutex_init(&L->mu, NULL);
  pthread_cond_init(&L->cv, NULL);
  ASSERT_EQ(ws101_loop_new(&L->loop), 0);
  ASSERT_EQ(ws101_server_new(L->loop, opts, &L->srv), 0);
  ASSERT_EQ(ws101_server_websocket(L->srv, "/ws", live_ws_cb, L), 0);
  ASSERT_EQ(ws101_server_websocket(L->srv, "/ref", live_ws_cb, L), 0);
  ASSERT_EQ(ws101_server_websocket(L->srv, "/closeonopen", live_ws_cb, L), 0);
  ASSERT_EQ(ws101_server_route(L->srv, "/proto", 0, live_proto_route, L), 0);
  ASSERT_EQ(ws101_server_route(L->srv, "/later", 0, live_later_route, L), 0);
  ASSERT_EQ(ws101_server_listen(L->srv, "127.0.0.1", 0), 0);
  L->port = ws101_server_port(L->srv);
  ASSERT_GT(L->port, 0);
  ASSERT_EQ(pthread_create(&L->th, NULL, live_thread, L), 0);
}

static inline void live_close_cb(ws101_loop *loop, void *ud) {
  live *L = ud;
  (void)loop;
  ASSERT_EQ(ws101_server_close(L->srv, NULL, NULL), 0);
}

/* Starts the server's close from the main thread; the loop ends when the
 * last connection is gone. */
static inline void live_shutdown(live *L) {
  ASSERT_EQ(ws101_loop_post(L->loop, live_close_cb, L), 0);
}

/* Waits for the loop to end and frees everything (LSan checks the rest). */
static inline void live_join(live *L) {
  ASSERT_EQ(pthread_join(L->th, NULL), 0);
  ASSERT_EQ(ws101_loop_free(L->loop), 0);
  pthread_cond_destroy(&L->cv);
  pthread_mutex_destroy(&L->mu);
}

static inline void live_stop(live *L) {
  live_shutdown(L);
  live_join(L);
}

static inline void deadline_in(struct timespec *ts, int ms) {
  clock_gettime(CLOCK_REALTIME, ts);
  ts->tv_sec += ms / 1000;
  ts->tv_nsec += (long)(ms % 1000) * 1000000L;
  if (ts->tv_nsec >= 1000000000L) {
    ts->tv_sec++;
    ts->tv_nsec -= 1000000000L;
  }
}

static inline int live_count_locked(live *L, int event) {
  int i, n = 0;
  for (i = 0; i < L->nev; i++)
    if (L->ev[i].event == event) n++;
  return n;
}

static inline int live_count(live *L, int event) {
  int n;
  pthread_mutex_lock(&L->mu);
  n = live_count_locked(L, event);
  pthread_mutex_unlock(&L->mu);
  return n;
}

static inline void live_dump(live *L) {
  int i;
  pthread_mutex_lock(&L->mu);
  for (i = 0; i < L->nev; i++)
    fprintf(stderr, "    ev %d: event %d arg %d len %zu buffered %zu \"%s\"\n",
            i, L->ev[i].event, L->ev[i].arg, L->ev[i].len, L->ev[i].buffered,
            L->ev[i].data);
  pthread_mutex_unlock(&L->mu);
}

/* Waits until the n-th (1-based) event of type `event` was recorded and
 * returns a copy of it. Fails the test after LIVE_TIMEOUT_MS. */
static inline live_ev live_wait(live *L, int event, int n) {
  struct timespec ts;
  live_ev out;
  int i, seen;
  deadline_in(&ts, LIVE_TIMEOUT_MS);
  pthread_mutex_lock(&L->mu);
  for (;;) {
    for (i = 0, seen = 0; i < L->nev; i++) {
      if (L->ev[i].event == event && ++seen == n) {
        out = L->ev[i];
        pthread_mutex_unlock(&L->mu);
        return out;
      }
    }
    if (pthread_cond_timedwait(&L->cv, &L->mu, &ts) == ETIMEDOUT) {
      pthread_mutex_unlock(&L->mu);
      live_dump(L);
      FAILF("timed out waiting for event %d #%d", event, n);
    }
  }
}

/* Runs fn(arg) on the loop thread and waits for it to finish. */
typedef struct live_call {
  live *L;
  void (*fn)(live *L, void *arg);
  void *arg;
  int done;
} live_call;

static inline void live_call_cb(ws101_loop *loop, void *ud) {
  live_call *c = ud;
  (void)loop;
  c->fn(c->L, c->arg);
  pthread_mutex_lock(&c->L->mu);
  c->done = 1;
  pthread_cond_broadcast(&c->L->cv);
  pthread_mutex_unlock(&c->L->mu);
}

static inline void live_on_loop(live *L, void (*fn)(live *L, void *arg), void *arg) {
  live_call c = {L, fn, arg, 0};
  struct timespec ts;
  deadline_in(&ts, LIVE_TIMEOUT_MS);
  ASSERT_EQ(ws101_loop_post(L->loop, live_call_cb, &c), 0);
  pthread_mutex_lock(&L->mu);
  while (!c.done)
    if (pthread_cond_timedwait(&L->cv, &L->mu, &ts) == ETIMEDOUT)
      FAILF("timed out waiting for a loop call");
  pthread_mutex_unlock(&L->mu);
}

static inline void live_nop(live *L, void *arg) {
  (void)L;
  (void)arg;
}

static inline ws101_ws *live_current(live *L) {
  ws101_ws *ws;
  pthread_mutex_lock(&L->mu);
  ws = L->ws;
  pthread_mutex_unlock(&L->mu);
  return ws;
}

/* ------------------------------------------------------------------------ */
/* Client side                                                              */

typedef struct cli {
  int fd;
  char buf[256 * 1024];
  size_t off, len;
} cli;

static inline void cli_timeout(cli *c, int ms) {
  struct timeval tv;
  tv.tv_sec = ms / 1000;
  tv.tv_usec = (ms % 1000) * 1000;
  ASSERT_EQ(setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
}

/* rcvbuf > 0 shrinks the receive buffer (before connect, so the window
 * is small from the start). */
static inline cli *cli_connect(int port, int rcvbuf) {
  struct sockaddr_in a;
  int one = 1;
  cli *c = calloc(1, sizeof(*c));
  ASSERT(c != NULL);
  c->fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(c->fd, 0);
  if (rcvbuf > 0)
    ASSERT_EQ(setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf),
              0);
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(c->fd, (struct sockaddr *)&a, sizeof a), 0);
  cli_timeout(c, LIVE_TIMEOUT_MS);
  return c;
}

static inline void cli_free(cli *c) {
  if (c->fd >= 0) close(c->fd);
  free(c);
}

static inline void cli_send_raw(cli *c, const void *p, size_t n) {
  const char *s = p;
  while (n > 0) {
    ssize_t w = send(c->fd, s, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) FAILF("send: %s", strerror(errno));
    s += w;
    n -= (size_t)w;
  }
}

/* Reads more bytes; returns 0 on EOF, -1 on error/timeout, else > 0. */
static inline ssize_t cli_fill(cli *c) {
  ssize_t r;
  if (c->off > 0) {
    memmove(c->buf, c->buf + c->off, c->len - c->off);
    c->len -= c->off;
    c->off = 0;
  }
  if (c->len == sizeof(c->buf)) FAILF("client buffer full");
  do {
    r = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
  } while (r < 0 && errno == EINTR);
  if (r > 0) c->len += (size_t)r;
  return r;
}

/* Ensures n bytes are buffered; returns 0, or -1 on EOF/error/timeout. */
static inline int cli_need(cli *c, size_t n) {
  while (c->len - c->off < n)
    if (cli_fill(c) <= 0) return -1;
  return 0;
}

/* Builds a masked client frame (RFC 6455 5.2) into out; returns its size. */
static inline size_t frame_build(uint8_t *out, int op, int fin, const void *data,
                          size_t len) {
  static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
  const uint8_t *d = data;
  size_t n = 0, i;
  out[n++] = (uint8_t)((fin ? 0x80 : 0) | op);
  if (len < 126) {
    out[n++] = (uint8_t)(0x80 | len);
  } else if (len < 65536) {
    out[n++] = 0x80 | 126;
    out[n++] = (uint8_t)(len >> 8);
    out[n++] = (uint8_t)len;
  } else {
    out[n++] = 0x80 | 127;
    for (i = 0; i < 8; i++) out[n++] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
  }
  memcpy(out + n, key, 4);
  n += 4;
  for (i = 0; i < len; i++) out[n + i] = d[i] ^ key[i & 3];
  return n + len;
}

static inline void cli_send_frame(cli *c, int op, const void *data, size_t len) {
  uint8_t *f = malloc(len + 14);
  ASSERT(f != NULL);
  cli_send_raw(c, f, frame_build(f, op, 1, data, len));
  free(f);
}

static inline void cli_send_text(cli *c, const char *s) {
  cli_send_frame(c, 1, s, strlen(s));
}

static inline void cli_send_close(cli *c, int code) {
  uint8_t p[2] = {(uint8_t)(code >> 8), (uint8_t)code};
  cli_send_frame(c, 8, p, 2);
}

/* Reads one server frame (unmasked, unfragmented). The payload is
 * malloc'd and NUL-terminated. Returns 0, or -1 on EOF/error/timeout. */
static inline int cli_read_frame(cli *c, int *op, char **payload, size_t *plen) {
  const uint8_t *h;
  size_t hl = 2, len, i;
  if (cli_need(c, 2) != 0) return -1;
  h = (const uint8_t *)c->buf + c->off;
  if (h[1] & 0x80) FAILF("server frame is masked");
  if (!(h[0] & 0x80)) FAILF("unexpected fragmented server frame");
  len = h[1] & 0x7f;
  if (len == 126) hl = 4;
  if (len == 127) hl = 10;
  if (cli_need(c, hl) != 0) return -1;
  h = (const uint8_t *)c->buf + c->off;
  if (len == 126) len = ((size_t)h[2] << 8) | h[3];
  if (len == 127)
    for (len = 0, i = 0; i < 8; i++) len = (len << 8) | h[2 + i];
  if (hl + len > sizeof(c->buf)) FAILF("frame too large for the test: %zu", len);
  if (cli_need(c, hl + len) != 0) return -1;
  h = (const uint8_t *)c->buf + c->off;
  *op = h[0] & 0x0f;
  *payload = malloc(len + 1);
  ASSERT(*payload != NULL);
  memcpy(*payload, h + hl, len);
  (*payload)[len] = '\0';
  *plen = len;
  c->off += hl + len;
  return 0;
}

/* Reads a frame that must be `op` with exactly `text` as payload. */
static inline void cli_expect(cli *c, int op, const char *text) {
  int got;
  char *p;
  size_t n;
  if (cli_read_frame(c, &got, &p, &n) != 0)
    FAILF("no frame (expected op %d \"%s\"): %s", op, text, strerror(errno));
  ASSERT_EQ(got, op);
  ASSERT_EQ(n, strlen(text));
  ASSERT_MEM_EQ(p, text, n);
  free(p);
}

/* Reads a close frame; returns its code (1005 if none). */
static inline int cli_expect_close(cli *c) {
  int op, code = 1005;
  char *p;
  size_t n;
  if (cli_read_frame(c, &op, &p, &n) != 0) FAILF("no close frame");
  ASSERT_EQ(op, 8);
  if (n >= 2) code = ((uint8_t)p[0] << 8) | (uint8_t)p[1];
  free(p);
  return code;
}

/* Expects the server to end TCP (FIN or reset) with nothing else sent. */
static inline void cli_expect_eof(cli *c) {
  ssize_t r;
  ASSERT_EQ(c->len - c->off, 0);
  r = cli_fill(c);
  if (r > 0) FAILF("expected EOF, got %zd more bytes", r);
  if (r < 0 && errno != ECONNRESET) FAILF("expected EOF: %s", strerror(errno));
  /* Like any client: once the server ended TCP, end ours. */
  shutdown(c->fd, SHUT_WR);
}

/* Sends the upgrade request for `path` (plus `extra` header lines and
 * `tail` bytes in the same write) and reads the response head. Returns
 * the status; the head is copied to `head` if not NULL. */
static inline int cli_upgrade(cli *c, const char *path, const char *extra,
                       const void *tail, size_t tail_len, char *head,
                       size_t head_size) {
  char req[2048];
  char *end;
  int n = snprintf(req, sizeof req,
                   "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket"
                   "\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "
                   "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                   "%s\r\n",
                   path, extra ? extra : "");
  size_t hl, total = (size_t)n + tail_len;
  char *all = malloc(total);
  int status = 0;
  ASSERT(all != NULL);
  memcpy(all, req, (size_t)n);
  if (tail_len) memcpy(all + n, tail, tail_len);
  cli_send_raw(c, all, total); /* one write: one segment on loopback */
  free(all);
  for (;;) {
    c->buf[c->len] = '\0';
    end = strstr(c->buf + c->off, "\r\n\r\n");
    if (end != NULL) break;
    if (cli_fill(c) <= 0) FAILF("no response head");
  }
  hl = (size_t)(end + 4 - (c->buf + c->off));
  ASSERT_EQ(sscanf(c->buf + c->off, "HTTP/1.1 %d", &status), 1);
  if (head != NULL) {
    size_t k = hl < head_size ? hl : head_size - 1;
    memcpy(head, c->buf + c->off, k);
    head[k] = '\0';
  }
  if (status == 101)
    ASSERT(strstr(c->buf + c->off,
                  "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n") !=
           NULL);
  c->off += hl;
  return status;
}

static inline cli *cli_open(live *L, const char *path) {
  cli *c = cli_connect(L->port, 0);
  ASSERT_EQ(cli_upgrade(c, path, NULL, NULL, 0, NULL, 0), 101);
  return c;
}

/* The client's half of a close handshake it starts: close 1000, read the
 * echo, see TCP end. */
static inline void cli_close_handshake(cli *c) {
  cli_send_close(c, 1000);
  ASSERT_EQ(cli_expect_close(c), 1000);
  cli_expect_eof(c);
}

static inline void live_init_process(void) {
  /* Applications own SIGPIPE policy (the library does not touch signal
   * dispositions); the demo ignores it too. */
  signal(SIGPIPE, SIG_IGN);
}

#endif

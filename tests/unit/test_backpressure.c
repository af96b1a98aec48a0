/* test_backpressure.c - the memory promise of ws101.h ("Memory per
 * connection") against peers that send and never read:
 *
 *  - the attack: 4 KB of pipelined `GET /stream?n=100000` and no
 *    reading. Only the first request is dispatched, the library's output
 *    queue (sampled on the loop thread) stays within the output limit plus
 *    one write, streamed writes are refused and resumed on drain, and the
 *    send timeout closes the connection;
 *  - a handler that ignores backpressure gets its writes refused, not
 *    queued;
 *  - a reader that reads slowly gets the whole body, byte for byte (the
 *    drain callback resumes the handler);
 *  - an upgraded WebSocket whose peer sends and never reads: reading stops
 *    at the same limit and the send timeout closes it (one mechanism);
 *  - WS101_OPT_MAX_CONNECTIONS: past it nothing is accepted, and the next
 *    connection is served as soon as one closes;
 *  - EMFILE: in a child with a low RLIMIT_NOFILE, a flood of connections
 *    neither spins the loop nor stops the server for good;
 *  - a bad chunk size on an unanswered streaming route gets a 400.
 */
#define _GNU_SOURCE /* memmem */
#include "http_harness.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "io/conn.h"
#include "io/loop.h"
#include "server/server.h"

#define LIMIT (256 * 1024)
#define SEND_TIMEOUT 400

/* Loop-thread state, read by the test thread through hh_get. */
static struct {
  int dispatched, aborted, refused, drains, done;
  int max_req_buffered;  /* largest ws101_req_buffered seen by a handler */
  int max_conn_buffered; /* largest queue of any connection, sampled */
  int conns;             /* connections open at the last sample */
  int seen_conn, all_gone; /* a connection was seen; then none was left */
  int ws_closed, ws_close_code;
} T;

/* ---- sampling the library's own queues on the loop thread --------------- */

static void sample_conn(ws101__conn *c, void *arg) {
  size_t b = ws101__conn_buffered(c);
  if ((int)b > T.max_conn_buffered) hh_add(&T.max_conn_buffered, (int)b - T.max_conn_buffered);
  (*(int *)arg)++;
}

static void sample(ws101_timer *t, void *ud) {
  ws101_loop *loop = ud;
  int n = 0;
  (void)t;
  ws101__conn_foreach(loop, sample_conn, &n);
  hh_add(&T.conns, n - T.conns);
  if (n > 0 && !T.seen_conn) hh_add(&T.seen_conn, 1);
  if (n == 0 && T.seen_conn && !T.all_gone) hh_add(&T.all_gone, 1);
}

static ws101_timer *sampler;

static void start_sampler(hh_server *s) {
  ASSERT_EQ(ws101_timer_new(s->loop, sample, s->loop, &sampler), 0);
  ASSERT_EQ(ws101_timer_start(sampler, 1, 5), 0);
}

static void close_sampler_post(ws101_loop *loop, void *ud) {
  (void)loop;
  (void)ud;
  ASSERT_EQ(ws101_timer_close(sampler, NULL, NULL), 0);
  sampler = NULL;
}

/* The repeating sampler would keep the loop running: close it first. */
static void stop(hh_server *s) {
  if (sampler != NULL)
    ASSERT_EQ(ws101_loop_post(s->loop, close_sampler_post, NULL), 0);
  hh_stop(s);
}

/* ---- a streaming handler that honours backpressure ---------------------- */

typedef struct streamer {
  long i, n;
} streamer;

static void note_buffered(ws101_req *req) {
  int b = (int)ws101_req_buffered(req);
  if (b > T.max_req_buffered) hh_add(&T.max_req_buffered, b - T.max_req_buffered);
}

static void stream_on(ws101_req *req, void *ud) {
  streamer *st = ud;
  char line[32];
  while (st->i < st->n) {
    int len = snprintf(line, sizeof(line), "chunk %ld\n", st->i);
    int rc = ws101_req_write(req, line, (size_t)len);
    note_buffered(req);
    if (rc == WS101_EBACKPRESSURE) {
      hh_add(&T.refused, 1);
      return; /* stream_drain continues */
    }
    ASSERT_EQ(rc, 0);
    st->i++;
  }
  ASSERT_EQ(ws101_req_end(req), 0);
  hh_add(&T.done, 1);
  free(st);
}

static void stream_drain(ws101_req *req, void *ud) {
  hh_add(&T.drains, 1);
  stream_on(req, ud);
}

static void stream_abort(ws101_req *req, void *ud) {
  hh_add(&T.aborted, 1);
  /* Completing an aborted request is still the handler's job. */
  ASSERT_EQ(ws101_req_end(req), WS101_ECLOSED);
  free(ud);
}

static void h_stream(ws101_req *req, void *ud) {
  streamer *st = calloc(1, sizeof(*st));
  const char *q = ws101_req_query(req);
  (void)ud;
  hh_add(&T.dispatched, 1);
  ASSERT(st != NULL);
  st->n = strncmp(q, "n=", 2) == 0 ? strtol(q + 2, NULL, 10) : 3;
  ASSERT_EQ(ws101_req_on_drain(req, stream_drain, st), 0);
  ASSERT_EQ(ws101_req_on_abort(req, stream_abort, st), 0);
  stream_on(req, st);
}

/* ---- a handler that ignores backpressure -------------------------------- */

static void naive_abort(ws101_req *req, void *ud) {
  (void)ud;
  (void)req;
  hh_add(&T.aborted, 1);
}

static void h_naive(ws101_req *req, void *ud) {
  char line[32];
  long i;
  (void)ud;
  hh_add(&T.dispatched, 1);
  ASSERT_EQ(ws101_req_on_abort(req, naive_abort, NULL), 0);
  for (i = 0; i < 100000; i++) {
    int len = snprintf(line, sizeof(line), "chunk %ld\n", i);
    int rc = ws101_req_write(req, line, (size_t)len);
    note_buffered(req);
    if (rc == WS101_EBACKPRESSURE) hh_add(&T.refused, 1);
  }
  ws101_req_end(req); /* the peer never reads: the request completes */
  hh_add(&T.done, 1);
}

static const hh_opt flow_opts[] = {{WS101_OPT_OUTPUT_BUFFER_LIMIT, LIMIT},
                                   {WS101_OPT_SEND_TIMEOUT_MS, SEND_TIMEOUT},
                                   {0, 0}};

/* A client socket with a small receive buffer, so the kernel holds little
 * of what the server sends and the server's own queue does the rest. */
static hh_cli *small_connect(int port) {
  struct sockaddr_in a;
  int rcv = 4096;
  hh_cli *c = calloc(1, sizeof(*c));
  ASSERT(c != NULL);
  c->fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT(c->fd >= 0);
  ASSERT_EQ(setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv)), 0);
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(c->fd, (struct sockaddr *)&a, sizeof(a)), 0);
  return c;
}

static int npipelined;

static void send_pipelined(hh_cli *c, const char *path) {
  char req[4096 + 128];
  size_t n = 0;
  npipelined = 0;
  while (n < 4096) {
    n += (size_t)snprintf(req + n, sizeof(req) - n,
                          "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
    npipelined++;
  }
  hh_sendn(c, req, n);
}

static void test_pipelined_stream_attack(void) {
  hh_server s;
  hh_cli *c;
  memset(&T, 0, sizeof(T));
  hh_init(&s, flow_opts);
  ASSERT_EQ(ws101_server_route(s.srv, "/stream", 0, h_stream, NULL), 0);
  start_sampler(&s);
  hh_run(&s);
  c = small_connect(s.port);
  send_pipelined(c, "/stream?n=100000");
  /* Never read. The send timeout must end it, well before the 60 s
   * default; the deadline here only guards against a hang. */
  ASSERT_EQ(hh_wait(&T.aborted, 1, 20000), 1);
  /* The kernel's socket buffers (several MB on loopback) absorb the first
   * 1.2 MB responses; after that one response is stuck and no further
   * pipelined request is dispatched. */
  fprintf(stderr, "    dispatched %d of %d, completed %d, max queue %d\n",
          hh_get(&T.dispatched), npipelined, hh_get(&T.done),
          hh_get(&T.max_conn_buffered));
  ASSERT_LT(hh_get(&T.dispatched), npipelined / 4);
  ASSERT_EQ(hh_get(&T.done), hh_get(&T.dispatched) - 1);
  ASSERT_GE(hh_get(&T.refused), 1);
  /* Bounded: the limit plus the one write that crossed it. */
  ASSERT_LE(hh_get(&T.max_req_buffered), LIMIT + 64);
  ASSERT_LE(hh_get(&T.max_conn_buffered), LIMIT + 64);
  ASSERT_GE(hh_get(&T.max_conn_buffered), LIMIT / 2); /* it did fill */
  /* The connection is gone on the server side; the client sees the end
   * after the bytes that made it into its buffers. */
  for (;;) {
    int r;
    c->len = 0;
    r = hh_fill(c, HH_MS);
    ASSERT_NE(r, -1);
    if (r <= 0) break;
  }
  hh_close(c);
  stop(&s);
}

static void test_naive_handler_refused(void) {
  hh_server s;
  hh_cli *c;
  memset(&T, 0, sizeof(T));
  hh_init(&s, flow_opts);
  ASSERT_EQ(ws101_server_route(s.srv, "/naive", 0, h_naive, NULL), 0);
  start_sampler(&s);
  hh_run(&s);
  c = small_connect(s.port);
  send_pipelined(c, "/naive");
  ASSERT_EQ(hh_wait(&T.done, 1, HH_MS), 1);
  /* ~1.1 MB of writes against a 256 KiB limit: most were refused. */
  ASSERT_GE(hh_get(&T.refused), 50000);
  ASSERT_LE(hh_get(&T.max_req_buffered), LIMIT + 64);
  /* The send timeout ends the connection. */
  ASSERT_EQ(hh_wait(&T.all_gone, 1, 20000), 1);
  /* Each refused response still left LIMIT bytes queued; the next request
   * waits for them to drain into the kernel's buffers, which fill up long
   * before the 90 requests sent are all answered. */
  fprintf(stderr, "    dispatched %d of %d, refused %d, max queue %d\n",
          hh_get(&T.dispatched), npipelined, hh_get(&T.refused),
          hh_get(&T.max_conn_buffered));
  ASSERT_LT(hh_get(&T.dispatched), npipelined);
  ASSERT_LE(hh_get(&T.max_conn_buffered), LIMIT + 64);
  hh_close(c);
  stop(&s);
}

/* A slow reader gets everything, in order: backpressure loses nothing. */
static void test_slow_reader_gets_all(void) {
  hh_server s;
  hh_cli *c;
  hh_resp r;
  long i;
  char want[32];
  const char *p;
  static const hh_opt o[] = {{WS101_OPT_OUTPUT_BUFFER_LIMIT, 4096},
                             {0, 0}};
  memset(&T, 0, sizeof(T));
  hh_init(&s, o);
  ASSERT_EQ(ws101_server_route(s.srv, "/stream", 0, h_stream, NULL), 0);
  hh_run(&s);
  c = small_connect(s.port);
  /* ~50 KB of 10-byte chunks against a 4 KiB limit: many drains. (The
   * harness's reader is quadratic in the chunk count: keep it modest.) */
  hh_send(c, "GET /stream?n=4000 HTTP/1.1\r\nHost: x\r\n\r\n"
             "GET /stream?n=2 HTTP/1.1\r\nHost: x\r\n\r\n");
  hh_read(c, &r, 0);
  ASSERT_EQ(r.status, 200);
  for (i = 0, p = r.body; i < 4000; i++) {
    size_t n = (size_t)snprintf(want, sizeof(want), "chunk %ld\n", i);
    ASSERT_MEM_EQ(p, want, n);
    p += n;
  }
  ASSERT_EQ((size_t)(p - r.body), r.body_len);
  hh_resp_free(&r);
  hh_expect(c, 200, "chunk 0\nchunk 1\n");
  ASSERT_GE(hh_get(&T.drains), 1);
  ASSERT_EQ(hh_get(&T.done), 2);
  hh_close(c);
  stop(&s);
}

/* ---- the upgraded path shares the mechanism ----------------------------- */

static void ws_echo(ws101_ws *ws, int ev, const char *data, size_t len,
                    int arg, void *ud) {
  (void)ud;
  if (ev == WS101_WS_BINARY || ev == WS101_WS_TEXT) {
    int rc = ws101_ws_send(ws, data, len, ev == WS101_WS_TEXT ? WS101_OP_TEXT
                                                              : WS101_OP_BINARY);
    ASSERT(rc == 0 || rc == WS101_EBACKPRESSURE || rc == WS101_ECLOSED);
  } else if (ev == WS101_WS_CLOSE) {
    T.ws_close_code = arg;
    hh_add(&T.ws_closed, 1);
  }
}

static void test_ws_peer_never_reads(void) {
  hh_server s;
  hh_cli *c;
  size_t i, sent = 0;
  static char frame[8 + 16384];
  memset(&T, 0, sizeof(T));
  hh_init(&s, flow_opts);
  ASSERT_EQ(ws101_server_websocket(s.srv, "/echo", ws_echo, NULL), 0);
  start_sampler(&s);
  hh_run(&s);
  c = small_connect(s.port);
  hh_send(c, "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
             "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
  hh_until(c, "\r\n\r\n");
  /* Masked binary frames of 16 KiB (key 0: the payload goes as is). */
  frame[0] = (char)0x82;
  frame[1] = (char)(0x80 | 126);
  frame[2] = (char)(16384 >> 8);
  frame[3] = 0;
  memset(frame + 4, 0, 4);
  for (i = 8; i < sizeof(frame); i++) frame[i] = (char)i;
  /* Send until the kernel refuses more (the server stopped reading) or
   * 64 MiB went, never reading the echoes. */
  {
    struct timeval tv = {0, 200000};
    ASSERT_EQ(setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)), 0);
  }
  while (sent < 64u * 1024 * 1024) {
    ssize_t w = send(c->fd, frame, sizeof(frame), MSG_NOSIGNAL);
    if (w <= 0) break;
    sent += (size_t)w;
  }
  ASSERT_LT(sent, 64u * 1024 * 1024); /* the server stopped reading */
  ASSERT_EQ(hh_wait(&T.ws_closed, 1, 20000), 1);
  ASSERT_EQ(T.ws_close_code, 1006); /* closed by the send timeout */
  /* The limit plus what one read (64 KiB of frames) made the echo send. */
  ASSERT_LE(hh_get(&T.max_conn_buffered), LIMIT + 64 * 1024 + 4 * 64);
  hh_close(c);
  stop(&s);
}

/* ---- connection limit ---------------------------------------------------- */

static void test_max_connections(void) {
  hh_server s;
  hh_cli *a, *b, *c;
  static const hh_opt o[] = {{WS101_OPT_MAX_CONNECTIONS, 2}, {0, 0}};
  hh_init(&s, o);
  ASSERT_EQ(ws101_server_route(s.srv, "/hello", 0, hh_say, "hi"), 0);
  hh_run(&s);
  a = hh_connect(s.port);
  hh_send(a, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  hh_expect(a, 200, "hi");
  b = hh_connect(s.port);
  hh_send(b, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  hh_expect(b, 200, "hi");
  /* The kernel completes the third handshake (backlog); the server does
   * not accept it, so its request gets no answer while a and b live. */
  c = hh_connect(s.port);
  hh_send(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT(hh_quiet(c, 300));
  hh_close(a);
  hh_expect(c, 200, "hi"); /* accepted once a slot freed */
  hh_close(b);
  hh_close(c);
  stop(&s);
}

/* ---- EMFILE -------------------------------------------------------------- */

static void h_errors(ws101_req *req, void *ud) {
  hh_server *s = ud;
  char buf[32];
  int n = snprintf(buf, sizeof(buf), "%zu", s->srv->accept_errors);
  ws101_req_respond(req, 200, "text/plain", buf, (size_t)n);
}

/* The child: a server whose descriptor table is nearly full. */
static void emfile_child(int wfd) {
  hh_server s;
  struct rlimit rl;
  int fd, highest = 0;
  hh_init(&s, NULL);
  ASSERT_EQ(ws101_server_route(s.srv, "/hello", 0, hh_say, "hi"), 0);
  ASSERT_EQ(ws101_server_route(s.srv, "/errors", 0, h_errors, &s), 0);
  hh_run(&s);
  /* Room for a handful of connections above what is open now. */
  fd = dup(0);
  ASSERT(fd >= 0);
  highest = fd;
  close(fd);
  rl.rlim_cur = rl.rlim_max = (rlim_t)highest + 4;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
  ASSERT_EQ(write(wfd, &s.port, sizeof(s.port)), (ssize_t)sizeof(s.port));
  close(wfd);
  /* Served until the parent kills us. */
  pthread_join(s.th, NULL);
  _exit(0);
}

static long cpu_ms(pid_t pid) {
  char path[64], buf[1024], *p;
  unsigned long ut = 0, st = 0;
  FILE *f;
  snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
  f = fopen(path, "r");
  ASSERT(f != NULL);
  ASSERT(fgets(buf, sizeof(buf), f) != NULL);
  fclose(f);
  p = strrchr(buf, ')');
  ASSERT(p != NULL);
  /* Fields after ")": state(3) ... utime(14) stime(15). */
  ASSERT_EQ(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
                   &ut, &st),
            2);
  return (long)((ut + st) * 1000 / (unsigned long)sysconf(_SC_CLK_TCK));
}

static void test_emfile_does_not_spin(void) {
  int pfd[2], port = 0, i, served = 0;
  pid_t pid;
  hh_cli *flood[24];
  hh_cli *c;
  hh_resp r;
  long cpu0, cpu1;
  ASSERT_EQ(pipe(pfd), 0);
  pid = fork();
  ASSERT(pid >= 0);
  if (pid == 0) {
    close(pfd[0]);
    emfile_child(pfd[1]);
  }
  close(pfd[1]);
  ASSERT_EQ(read(pfd[0], &port, sizeof(port)), (ssize_t)sizeof(port));
  close(pfd[0]);
  /* More connections than the child has descriptors for. */
  for (i = 0; i < 24; i++) {
    flood[i] = hh_connect(port);
    hh_send(flood[i], "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  }
  for (i = 0; i < 24; i++) {
    int got = hh_fill(flood[i], 2000);
    if (got > 0) served++;
  }
  ASSERT_GE(served, 1);
  ASSERT_LT(served, 24); /* some hit EMFILE */
  /* With every descriptor in use and connections still arriving, the
   * loop must sleep: a spinning accept would burn a CPU here. */
  cpu0 = cpu_ms(pid);
  c = hh_connect(port); /* one more, while full */
  {
    /* A window of 500 ms in which the child has nothing to do. */
    struct pollfd p = {-1, 0, 0};
    poll(&p, 0, 500);
  }
  cpu1 = cpu_ms(pid);
  ASSERT_LT(cpu1 - cpu0, 250);
  hh_close(c);
  /* Free the descriptors: the server serves again. */
  for (i = 0; i < 24; i++) hh_close(flood[i]);
  {
    int ok = 0, tries;
    for (tries = 0; tries < 50 && !ok; tries++) {
      c = hh_connect(port);
      hh_send(c, "GET /errors HTTP/1.1\r\nHost: x\r\n\r\n");
      if (hh_fill(c, 1000) > 0) {
        /* The descriptors are back; a full response follows. */
        while (hh_find(c, "\r\n\r\n", 0) == (size_t)-1) ASSERT_GT(hh_fill(c, HH_MS), 0);
        hh_read(c, &r, 0);
        ASSERT_EQ(r.status, 200);
        /* Each EMFILE is reported once per failed accept, not per loop
         * iteration. */
        ASSERT_LT(atoi(r.body), 200);
        hh_resp_free(&r);
        ok = 1;
      }
      hh_close(c);
    }
    ASSERT(ok);
  }
  kill(pid, SIGKILL);
  ASSERT_EQ(waitpid(pid, NULL, 0), pid);
}

/* ---- 400 for a bad chunk on an unanswered streaming route --------------- */

static void up_body(ws101_req *req, const char *d, size_t n, int last,
                    void *ud) {
  (void)req;
  (void)d;
  (void)n;
  (void)last;
  (void)ud;
}

static void up_abort(ws101_req *req, void *ud) {
  (void)ud;
  hh_add(&T.aborted, 1);
  ASSERT_EQ(ws101_req_respond(req, 200, "text/plain", "late", 4),
            WS101_ECLOSED);
}

static void h_upload(ws101_req *req, void *ud) {
  (void)ud;
  ASSERT_EQ(ws101_req_on_abort(req, up_abort, NULL), 0);
  ASSERT_EQ(ws101_req_read_body(req, up_body, NULL), 0);
}

static void test_bad_chunk_streaming_400(void) {
  hh_server s;
  hh_cli *c;
  memset(&T, 0, sizeof(T));
  hh_init(&s, NULL);
  ASSERT_EQ(ws101_server_route(s.srv, "/up", WS101_ROUTE_STREAM_BODY,
                               h_upload, NULL),
            0);
  hh_run(&s);
  c = hh_connect(s.port);
  hh_send(c, "POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
             "\r\n5\r\nhello\r\nzz\r\n");
  hh_expect_close(c, 400);
  ASSERT_EQ(hh_wait(&T.aborted, 1, HH_MS), 1);
  hh_close(c);
  stop(&s);
}

/* ---- HTTP client uploads ------------------------------------------------ */

/* The client runs on its own loop thread; the test thread is a raw server
 * that reads nothing at first, then everything. */
#define UP_CHUNK 16384
#define UP_TOTAL (8 * 1024 * 1024)

static struct {
  ws101_loop *loop;
  ws101_fetch *f;
  int port;
  size_t written;
  int refused, drains, max_buffered, status, done, error, ended;
} U;

static void up_pump(void) {
  static char chunk[UP_CHUNK];
  while (U.written < UP_TOTAL) {
    int rc = ws101_fetch_write(U.f, chunk, sizeof(chunk));
    int b = (int)ws101_fetch_buffered(U.f);
    if (b > U.max_buffered) U.max_buffered = b;
    if (rc == WS101_EBACKPRESSURE) {
      hh_add(&U.refused, 1);
      return;
    }
    ASSERT_EQ(rc, 0);
    U.written += sizeof(chunk);
  }
  if (!U.ended) {
    U.ended = 1;
    ASSERT_EQ(ws101_fetch_end(U.f), 0);
  }
}

static void up_fetch(ws101_fetch *f, int ev, const char *data, size_t len,
                     int arg, void *ud) {
  (void)data;
  (void)len;
  (void)ud;
  if (ev == WS101_FETCH_DRAIN) {
    hh_add(&U.drains, 1);
    up_pump();
  } else if (ev == WS101_FETCH_RESPONSE) {
    U.status = ws101_fetch_status(f);
  } else if (ev == WS101_FETCH_DONE) {
    hh_add(&U.done, 1);
  } else if (ev == WS101_FETCH_ERROR) {
    U.error = arg;
    hh_add(&U.done, 1);
  }
}

static void up_start(ws101_loop *loop, void *ud) {
  ws101_options *o;
  char url[64];
  (void)ud;
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/up", U.port);
  ASSERT_EQ(ws101_options_new(&o), 0);
  ASSERT_EQ(ws101_options_set(o, WS101_OPT_OUTPUT_BUFFER_LIMIT, LIMIT), 0);
  ASSERT_EQ(ws101_fetch_new(loop, "POST", url, o, up_fetch, NULL, &U.f), 0);
  ws101_options_free(o);
  up_pump(); /* first writes wait for the connection: refused at LIMIT */
}

static void *up_thread(void *arg) {
  (void)arg;
  ASSERT_EQ(ws101_loop_run(U.loop), 0);
  return NULL;
}

static void test_fetch_upload_backpressure(void) {
  struct sockaddr_in a;
  socklen_t al = sizeof(a);
  int ls, fd, rcv = 4096;
  pthread_t th;
  size_t got = 0, body_start;
  static char buf[65536];
  char *hdr = NULL;
  memset(&U, 0, sizeof(U));
  ls = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT(ls >= 0);
  ASSERT_EQ(setsockopt(ls, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv)), 0);
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(ls, (struct sockaddr *)&a, sizeof(a)), 0);
  ASSERT_EQ(listen(ls, 1), 0);
  ASSERT_EQ(getsockname(ls, (struct sockaddr *)&a, &al), 0);
  U.port = ntohs(a.sin_port);
  ASSERT_EQ(ws101_loop_new(&U.loop), 0);
  ASSERT_EQ(ws101_loop_post(U.loop, up_start, NULL), 0);
  ASSERT_EQ(pthread_create(&th, NULL, up_thread, NULL), 0);
  fd = accept(ls, NULL, NULL);
  ASSERT(fd >= 0);
  /* Not reading: the client must stop at its limit, not buffer 8 MiB. */
  ASSERT_GE(hh_wait(&U.refused, 1, HH_MS), 1);
  /* Now read everything (a chunked body of UP_TOTAL bytes). */
  for (;;) {
    struct pollfd p = {fd, POLLIN, 0};
    ssize_t r;
    ASSERT_EQ(poll(&p, 1, HH_MS), 1);
    r = recv(fd, buf, sizeof(buf), 0);
    ASSERT_GT(r, 0);
    if (hdr == NULL) {
      /* The head is small and arrives first. */
      hdr = memmem(buf, (size_t)r, "\r\n\r\n", 4);
      ASSERT(hdr != NULL);
      body_start = (size_t)(hdr - buf) + 4;
      got += (size_t)r - body_start;
    } else {
      got += (size_t)r;
    }
    if (got >= 5 && memcmp(buf + r - 5, "0\r\n\r\n", 5) == 0) break;
  }
  {
    static const char resp[] =
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    ASSERT_EQ(send(fd, resp, sizeof(resp) - 1, MSG_NOSIGNAL),
              (ssize_t)sizeof(resp) - 1);
  }
  ASSERT_EQ(hh_wait(&U.done, 1, HH_MS), 1);
  close(fd);
  close(ls);
  ASSERT_EQ(pthread_join(th, NULL), 0);
  ASSERT_EQ(U.error, 0);
  ASSERT_EQ(U.status, 200);
  ASSERT_EQ(U.written, UP_TOTAL);
  ASSERT_GE(U.drains, 1);
  /* Chunk framing: "4000\r\n" + data + "\r\n" per chunk, then the end. */
  ASSERT_EQ(got, (size_t)UP_TOTAL + (UP_TOTAL / UP_CHUNK) * 8 + 5);
  ASSERT_LE(U.max_buffered, LIMIT + UP_CHUNK + 64);
  ASSERT_EQ(ws101_loop_free(U.loop), 0);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  RUN(test_pipelined_stream_attack);
  RUN(test_naive_handler_refused);
  RUN(test_slow_reader_gets_all);
  RUN(test_ws_peer_never_reads);
  RUN(test_max_connections);
  RUN(test_emfile_does_not_spin);
  RUN(test_bad_chunk_streaming_400);
  RUN(test_fetch_upload_backpressure);
  return 0;
}

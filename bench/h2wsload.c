/* h2wsload.c - HTTP/2 load client for two rows of bench/h2.sh:
 *
 *   WebSocket echo over RFC 8441: each connection opens one extended
 *   CONNECT stream (:protocol websocket) and keeps P text messages of S
 *   bytes in flight on it, sending one more when an echo returns (as
 *   bench/wsload.c does over the HTTP/1.1 upgrade).
 *
 *   Idle connections (--idle N): N HTTP/2 connections that exchange
 *   SETTINGS both ways (ours acknowledged by the server) and then stay
 *   silent, for the server's memory per idle connection.
 *
 * nghttp2 does the HTTP/2 framing and OpenSSL the TLS (--tls: ALPN h2, no
 * certificate check: the server is ours on 127.0.0.1); the WebSocket
 * framing is this file's own, sharing no code with libws101. One thread,
 * epoll, non-blocking sockets; every loop is bounded by the deadline.
 *
 *   h2wsload --port P [--host H] [--tls] [--path /ws] --connections C
 *            --pipeline P --size S --duration D [--warmup W] [--json]
 *   h2wsload --port P [--tls] --idle N --hold S [--concurrency K]
 *
 * Echo mode prints one JSON line (msgs_per_s, mb_per_s, errors, ...);
 * idle mode prints "READY open=N failed=F" on stderr once all are set up
 * (or failed), then holds them. Exit status 1 when any error occurred. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { ST_CONNECTING, ST_TLS, ST_H2, ST_DEAD };

typedef struct conn {
  int fd, state, idx;
  SSL *ssl;
  nghttp2_session *s;
  int32_t sid;
  int ws_open;        /* 200 to the CONNECT arrived */
  int settings_acked; /* the server acknowledged our SETTINGS */
  int ready_counted;
  int stream_closed;  /* the WebSocket's stream ended */
  uint64_t *doom;     /* set inside nghttp2 callbacks: kill after mem_recv */
  /* outbound WebSocket frames waiting for the data provider */
  unsigned queued;
  size_t frame_off;   /* bytes of the current frame already framed */
  /* bytes nghttp2 produced that the socket did not take yet */
  uint8_t *wpend;
  size_t wlen, woff, wcap;
  int want_out;
  /* inbound WebSocket parser */
  uint8_t hdr[10];
  size_t hdr_have, hdr_need;
  uint64_t payload_left;
  int opcode;
} conn;

static struct {
  const char *host, *path;
  int port, tls, nconns, pipeline, size, json, idle, concurrency;
  double duration, warmup, hold;
} cfg = {"127.0.0.1", "/ws", 0, 0, 100, 1, 32, 0, 0, 256, 5, 1, 10};

static int ep;
static SSL_CTX *ctx;
static conn *conns;
static uint8_t *frame; /* one prebuilt masked text frame */
static size_t frame_len;
static int measuring;
static uint64_t echoes, bytes_in;
static struct {
  uint64_t connect, handshake, protocol, size, closed, io;
} err;
static int nready, nfailed;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *m) {
  fprintf(stderr, "h2wsload: %s\n", m);
  exit(2);
}

static void set_events(conn *c) {
  struct epoll_event ev;
  memset(&ev, 0, sizeof(ev));
  ev.events = EPOLLIN | (c->want_out ? EPOLLOUT : 0);
  ev.data.ptr = c;
  epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void kill_conn(conn *c, uint64_t *counter) {
  if (c->state == ST_DEAD) return;
  if (counter != NULL) (*counter)++;
  if (!c->ready_counted) {
    c->ready_counted = 1;
    nfailed++;
  }
  c->state = ST_DEAD;
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  if (c->ssl != NULL) SSL_free(c->ssl);
  c->ssl = NULL;
  if (c->s != NULL) nghttp2_session_del(c->s);
  c->s = NULL;
}

/* ---- transport ------------------------------------------------------- */

/* Writes what it can; returns bytes taken, 0 when the socket is full, -1
 * on error. */
static ssize_t raw_write(conn *c, const uint8_t *p, size_t n) {
  if (c->ssl != NULL) {
    int r = SSL_write(c->ssl, p, (int)n);
    if (r > 0) return r;
    r = SSL_get_error(c->ssl, r);
    return r == SSL_ERROR_WANT_WRITE || r == SSL_ERROR_WANT_READ ? 0 : -1;
  } else {
    ssize_t r = send(c->fd, p, n, MSG_NOSIGNAL);
    if (r >= 0) return r;
    return errno == EAGAIN || errno == EINTR ? 0 : -1;
  }
}

static int pend(conn *c, const uint8_t *p, size_t n) {
  if (c->woff > 0 && c->woff == c->wlen) c->woff = c->wlen = 0;
  if (c->wlen + n > c->wcap) {
    size_t cap = c->wcap ? c->wcap * 2 : 16384;
    while (cap < c->wlen + n) cap *= 2;
    c->wpend = realloc(c->wpend, cap);
    if (c->wpend == NULL) die("out of memory");
    c->wcap = cap;
  }
  memcpy(c->wpend + c->wlen, p, n);
  c->wlen += n;
  return 0;
}

/* Sends nghttp2's output; what the socket refuses waits in wpend. */
static void flush(conn *c) {
  int was = c->want_out;
  if (c->state != ST_H2) return;
  while (c->woff < c->wlen) {
    ssize_t r = raw_write(c, c->wpend + c->woff, c->wlen - c->woff);
    if (r < 0) {
      kill_conn(c, &err.io);
      return;
    }
    if (r == 0) goto full;
    c->woff += (size_t)r;
  }
  c->woff = c->wlen = 0;
  for (;;) {
    const uint8_t *p;
    ssize_t n = nghttp2_session_mem_send(c->s, &p), off = 0;
    if (n < 0) {
      kill_conn(c, &err.protocol);
      return;
    }
    if (n == 0) break;
    while (off < n) {
      ssize_t r = raw_write(c, p + off, (size_t)(n - off));
      if (r < 0) {
        kill_conn(c, &err.io);
        return;
      }
      if (r == 0) {
        pend(c, p + off, (size_t)(n - off));
        goto full;
      }
      off += r;
    }
  }
  c->want_out = 0;
  if (was) set_events(c);
  return;
full:
  c->want_out = 1;
  if (!was) set_events(c);
}

/* ---- WebSocket over the stream ---------------------------------------- */

static void queue_message(conn *c) {
  c->queued++;
  if (c->queued == 1) nghttp2_session_resume_data(c->s, c->sid);
}

static ssize_t ws_source(nghttp2_session *s, int32_t id, uint8_t *buf,
                         size_t len, uint32_t *flags, nghttp2_data_source *src,
                         void *ud) {
  conn *c = ud;
  size_t n = 0;
  (void)s;
  (void)id;
  (void)flags;
  (void)src;
  while (c->queued > 0 && n < len) {
    size_t k = frame_len - c->frame_off;
    if (k > len - n) k = len - n;
    memcpy(buf + n, frame + c->frame_off, k);
    n += k;
    c->frame_off += k;
    if (c->frame_off == frame_len) {
      c->frame_off = 0;
      c->queued--;
    }
  }
  return n == 0 ? NGHTTP2_ERR_DEFERRED : (ssize_t)n;
}

/* One whole server frame arrived (header parsed, payload skipped). */
static void frame_done(conn *c, uint64_t len) {
  if (c->opcode != 1 || len != (uint64_t)cfg.size) {
    c->doom = c->opcode == 8 ? &err.closed : &err.size;
    return;
  }
  if (measuring) {
    echoes++;
    bytes_in += len;
  }
  queue_message(c);
}

static void ws_parse(conn *c, const uint8_t *p, size_t n) {
  while (n > 0 && c->doom == NULL) {
    if (c->payload_left > 0) {
      size_t k = c->payload_left < n ? (size_t)c->payload_left : n;
      c->payload_left -= k;
      p += k;
      n -= k;
      if (c->payload_left == 0) frame_done(c, (uint64_t)cfg.size);
      continue;
    }
    c->hdr[c->hdr_have++] = *p++;
    n--;
    if (c->hdr_have == 2) {
      int l7 = c->hdr[1] & 0x7f;
      if (c->hdr[1] & 0x80 || !(c->hdr[0] & 0x80)) { /* masked, fragmented */
        c->doom = &err.protocol;
        return;
      }
      c->opcode = c->hdr[0] & 0x0f;
      c->hdr_need = l7 == 126 ? 4 : l7 == 127 ? 10 : 2;
    }
    if (c->hdr_have >= 2 && c->hdr_have == c->hdr_need) {
      uint64_t len = c->hdr[1] & 0x7f;
      size_t i;
      if (len == 126) len = (uint64_t)c->hdr[2] << 8 | c->hdr[3];
      if (len == 127)
        for (len = 0, i = 2; i < 10; i++) len = len << 8 | c->hdr[i];
      c->hdr_have = 0;
      c->hdr_need = 2;
      if (len == 0)
        frame_done(c, 0);
      else
        c->payload_left = len;
    }
  }
}

/* ---- nghttp2 callbacks ------------------------------------------------- */

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f,
                         void *ud) {
  conn *c = ud;
  int i;
  (void)s;
  if (f->hd.type == NGHTTP2_SETTINGS && (f->hd.flags & NGHTTP2_FLAG_ACK)) {
    c->settings_acked = 1;
    if (cfg.idle && !c->ready_counted) {
      c->ready_counted = 1;
      nready++;
    }
  }
  if (f->hd.type == NGHTTP2_HEADERS && f->hd.stream_id == c->sid &&
      c->ws_open == 1) {
    c->ws_open = 2;
    if (!c->ready_counted) {
      c->ready_counted = 1;
      nready++;
    }
    for (i = 0; i < cfg.pipeline; i++) queue_message(c);
  }
  return 0;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f,
                     const uint8_t *name, size_t nl, const uint8_t *value,
                     size_t vl, uint8_t flags, void *ud) {
  conn *c = ud;
  (void)s;
  (void)flags;
  if (f->hd.type == NGHTTP2_HEADERS && f->hd.stream_id == c->sid &&
      nl == 7 && memcmp(name, ":status", 7) == 0)
    c->ws_open = vl == 3 && memcmp(value, "200", 3) == 0 ? 1 : -1;
  return 0;
}

static int on_data(nghttp2_session *s, uint8_t flags, int32_t id,
                   const uint8_t *data, size_t len, void *ud) {
  conn *c = ud;
  (void)s;
  (void)flags;
  if (id == c->sid) ws_parse(c, data, len);
  return c->doom != NULL ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
}

static int on_close(nghttp2_session *s, int32_t id, uint32_t code, void *ud) {
  conn *c = ud;
  (void)s;
  (void)code;
  if (id == c->sid) c->stream_closed = 1; /* handled after mem_recv */
  return 0;
}

static nghttp2_session_callbacks *cbs;

static void start_h2(conn *c) {
  nghttp2_settings_entry iv[2] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
                                  {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE,
                                   1 << 20}};
  c->state = ST_H2;
  if (nghttp2_session_client_new(&c->s, cbs, c) != 0) die("nghttp2");
  nghttp2_submit_settings(c->s, NGHTTP2_FLAG_NONE, iv, 2);
  nghttp2_session_set_local_window_size(c->s, NGHTTP2_FLAG_NONE, 0, 1 << 24);
  if (!cfg.idle) {
    char auth[64];
    nghttp2_data_provider prd;
    nghttp2_nv nv[6];
    int k = 0;
    snprintf(auth, sizeof auth, "%s:%d", cfg.host, cfg.port);
#define NV(n, v)                                                               \
  nv[k].name = (uint8_t *)(n), nv[k].namelen = strlen(n),                      \
  nv[k].value = (uint8_t *)(v), nv[k].valuelen = strlen(v),                    \
  nv[k++].flags = NGHTTP2_NV_FLAG_NONE
    NV(":method", "CONNECT");
    NV(":protocol", "websocket");
    NV(":scheme", cfg.tls ? "https" : "http");
    NV(":path", cfg.path);
    NV(":authority", auth);
    NV("sec-websocket-version", "13");
#undef NV
    memset(&prd, 0, sizeof(prd));
    prd.read_callback = ws_source;
    c->sid = nghttp2_submit_request(c->s, NULL, nv, (size_t)k, &prd, c);
    if (c->sid < 0) {
      kill_conn(c, &err.handshake);
      return;
    }
  }
  c->hdr_need = 2;
  flush(c);
}

/* ---- events ------------------------------------------------------------ */

static void on_readable(conn *c) {
  uint8_t buf[65536];
  for (;;) {
    ssize_t n;
    if (c->ssl != NULL) {
      int r = SSL_read(c->ssl, buf, sizeof buf);
      if (r <= 0) {
        r = SSL_get_error(c->ssl, r);
        if (r == SSL_ERROR_WANT_READ || r == SSL_ERROR_WANT_WRITE) break;
        kill_conn(c, &err.closed);
        return;
      }
      n = r;
    } else {
      n = recv(c->fd, buf, sizeof buf, 0);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) break;
      if (n <= 0) {
        kill_conn(c, n == 0 ? &err.closed : &err.io);
        return;
      }
    }
    if (nghttp2_session_mem_recv(c->s, buf, (size_t)n) < 0) {
      kill_conn(c, c->doom != NULL ? c->doom : &err.protocol);
      return;
    }
    if (c->state != ST_H2 || c->stream_closed) break;
  }
  if (c->state != ST_H2) return;
  if (!cfg.idle && (c->stream_closed || c->ws_open < 0)) {
    kill_conn(c, c->ws_open < 0 ? &err.handshake : &err.closed);
    return;
  }
  flush(c);
}

static void tls_step(conn *c) {
  int r = SSL_do_handshake(c->ssl);
  const unsigned char *alpn = NULL;
  unsigned alen = 0;
  if (r == 1) {
    SSL_get0_alpn_selected(c->ssl, &alpn, &alen);
    if (alen != 2 || memcmp(alpn, "h2", 2) != 0) {
      kill_conn(c, &err.handshake);
      return;
    }
    start_h2(c);
    return;
  }
  r = SSL_get_error(c->ssl, r);
  if (r == SSL_ERROR_WANT_READ || r == SSL_ERROR_WANT_WRITE) {
    c->want_out = r == SSL_ERROR_WANT_WRITE;
    set_events(c);
    return;
  }
  kill_conn(c, &err.handshake);
}

static void on_event(conn *c, uint32_t ev) {
  if (c->state == ST_CONNECTING) {
    int e = 0;
    socklen_t l = sizeof e;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &l);
    if (e != 0) {
      kill_conn(c, &err.connect);
      return;
    }
    c->want_out = 0;
    set_events(c);
    if (cfg.tls) {
      c->state = ST_TLS;
      c->ssl = SSL_new(ctx);
      SSL_set_fd(c->ssl, c->fd);
      SSL_set_connect_state(c->ssl);
      SSL_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE |
                               SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
      tls_step(c);
    } else {
      start_h2(c);
    }
    return;
  }
  if (c->state == ST_TLS) {
    tls_step(c);
    return;
  }
  if (c->state != ST_H2) return;
  if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(c);
  if (c->state == ST_H2 && (ev & EPOLLOUT)) flush(c);
}

static void open_conn(conn *c) {
  struct sockaddr_in a;
  struct epoll_event ev;
  int one = 1;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)cfg.port);
  inet_pton(AF_INET, cfg.host, &a.sin_addr);
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (c->fd < 0) die("socket (raise the descriptor limit?)");
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c->state = ST_CONNECTING;
  c->want_out = 1;
  memset(&ev, 0, sizeof ev);
  ev.events = EPOLLOUT | EPOLLIN;
  ev.data.ptr = c;
  epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
  if (connect(c->fd, (struct sockaddr *)&a, sizeof a) != 0 &&
      errno != EINPROGRESS)
    kill_conn(c, &err.connect);
}

static void run_until(double deadline, int (*done)(void)) {
  struct epoll_event evs[256];
  while (now_s() < deadline && (done == NULL || !done())) {
    int ms = (int)((deadline - now_s()) * 1000) + 1, i, n;
    n = epoll_wait(ep, evs, 256, ms > 100 ? 100 : ms);
    for (i = 0; i < n; i++) on_event(evs[i].data.ptr, evs[i].events);
  }
}

static int opened;
static int all_settled(void) { return nready + nfailed >= opened; }

static void usage(void) {
  fprintf(stderr,
          "usage: h2wsload --port P [--host H] [--tls] [--path /ws] "
          "[--connections C --pipeline P --size S --duration D --warmup W "
          "--json] | [--idle N --hold S --concurrency K]\n");
  exit(2);
}

int main(int argc, char **argv) {
  int i, total;
  double t0, t1, elapsed;
  uint64_t errors;
  signal(SIGPIPE, SIG_IGN);
  for (i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--tls")) { cfg.tls = 1; continue; }
    if (!strcmp(a, "--json")) { cfg.json = 1; continue; }
    if (v == NULL) usage();
    i++;
    if (!strcmp(a, "--host")) cfg.host = v;
    else if (!strcmp(a, "--port")) cfg.port = atoi(v);
    else if (!strcmp(a, "--path")) cfg.path = v;
    else if (!strcmp(a, "--connections")) cfg.nconns = atoi(v);
    else if (!strcmp(a, "--pipeline")) cfg.pipeline = atoi(v);
    else if (!strcmp(a, "--size")) cfg.size = atoi(v);
    else if (!strcmp(a, "--duration")) cfg.duration = atof(v);
    else if (!strcmp(a, "--warmup")) cfg.warmup = atof(v);
    else if (!strcmp(a, "--idle")) cfg.idle = atoi(v);
    else if (!strcmp(a, "--hold")) cfg.hold = atof(v);
    else if (!strcmp(a, "--concurrency")) cfg.concurrency = atoi(v);
    else usage();
  }
  if (cfg.port <= 0 || cfg.nconns <= 0 || cfg.pipeline <= 0 || cfg.size < 0 ||
      cfg.concurrency <= 0)
    usage();
  total = cfg.idle ? cfg.idle : cfg.nconns;
  conns = calloc((size_t)total, sizeof(*conns));
  ep = epoll_create1(0);
  if (conns == NULL || ep < 0) die("setup");
  if (cfg.tls) {
    static const unsigned char alpn[] = "\x02h2";
    ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) die("SSL_CTX_new");
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_alpn_protos(ctx, alpn, 3);
  }
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
  nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_close);
  /* The client's frame: FIN + text, masked, 16- or 64-bit length as needed;
   * the payload is 'x' under a fixed non-zero mask. */
  {
    size_t hl = cfg.size < 126 ? 2 : cfg.size < 65536 ? 4 : 10, j;
    static const uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};
    frame_len = hl + 4 + (size_t)cfg.size;
    frame = malloc(frame_len);
    if (frame == NULL) die("out of memory");
    frame[0] = 0x81;
    if (hl == 2) {
      frame[1] = (uint8_t)(0x80 | cfg.size);
    } else if (hl == 4) {
      frame[1] = 0x80 | 126;
      frame[2] = (uint8_t)(cfg.size >> 8);
      frame[3] = (uint8_t)cfg.size;
    } else {
      frame[1] = 0x80 | 127;
      for (j = 0; j < 8; j++)
        frame[2 + j] = (uint8_t)((uint64_t)cfg.size >> (56 - 8 * j));
    }
    memcpy(frame + hl, mask, 4);
    for (j = 0; j < (size_t)cfg.size; j++)
      frame[hl + 4 + j] = (uint8_t)('x' ^ mask[j % 4]);
  }
  /* Open K at a time until all are set up or failed (bounded: 60 s). */
  t0 = now_s();
  for (i = 0; i < total; i++) conns[i].idx = i;
  while (opened < total && now_s() < t0 + 60) {
    while (opened < total && opened - (nready + nfailed) < cfg.concurrency)
      open_conn(&conns[opened++]);
    run_until(now_s() + 0.05, all_settled);
  }
  run_until(t0 + 60, all_settled);
  if (cfg.idle) {
    fprintf(stderr, "READY open=%d failed=%d\n", nready, total - nready);
    run_until(now_s() + cfg.hold, NULL);
    printf("{\"open\": %d, \"failed\": %d}\n", nready, total - nready);
    return nready == total ? 0 : 1;
  }
  run_until(now_s() + cfg.warmup, NULL);
  measuring = 1;
  t1 = now_s();
  run_until(t1 + cfg.duration, NULL);
  measuring = 0;
  elapsed = now_s() - t1;
  errors = err.connect + err.handshake + err.protocol + err.size + err.closed +
           err.io;
  if (cfg.json)
    printf("{\"msgs_per_s\": %.1f, \"mb_per_s\": %.3f, \"p50_us\": null, "
           "\"p99_us\": null, \"errors\": %llu, \"connections\": %d, "
           "\"open\": %d, \"err_connect\": %llu, \"err_handshake\": %llu, "
           "\"err_protocol\": %llu, \"err_size\": %llu, \"err_closed\": %llu, "
           "\"err_io\": %llu}\n",
           echoes / elapsed, bytes_in / elapsed / 1e6,
           (unsigned long long)errors, total, nready,
           (unsigned long long)err.connect, (unsigned long long)err.handshake,
           (unsigned long long)err.protocol, (unsigned long long)err.size,
           (unsigned long long)err.closed, (unsigned long long)err.io);
  else
    printf("%.1f msg/s, %.3f MB/s, %d/%d streams open, %llu errors\n",
           echoes / elapsed, bytes_in / elapsed / 1e6, nready, total,
           (unsigned long long)errors);
  return errors == 0 ? 0 : 1;
}

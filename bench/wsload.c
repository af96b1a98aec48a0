/*
 * wsload - a WebSocket load generator for the libws101 benchmarks.
 *
 * Deliberately independent of libws101: it has its own client handshake,
 * SHA-1, base64 and frame code, so a bug shared by the library and its
 * measuring tool cannot hide itself. One thread, epoll, non-blocking sockets.
 *
 * Modes:
 *   echo (default)  N connections, P messages in flight on each; a new one is
 *                   sent as soon as an echo returns. Reports messages/s, MB/s
 *                   (echoed payload bytes received per second), latency
 *                   percentiles from a log-linear histogram, and errors.
 *   --handshakes    N concurrent loops of connect, upgrade, close; reports
 *                   completed upgrades per second.
 *   --idle N        opens N connections, prints "READY" on stderr when they
 *                   are all open, holds them --hold seconds, then exits.
 *
 * Hot-path rules: no allocation per message. Each connection owns one
 * prebuilt masked frame (its mask is fixed, so every message is the same
 * bytes) and sends P copies with writev() pointing at that one buffer.
 * Received frames are parsed in place from one shared read buffer; only a
 * partial frame header or handshake response is carried per connection.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define CARRY_MAX 2048      /* partial handshake response / frame header */
#define READ_BUF (256 * 1024)
#define MAX_IOV 64
#define HIST_BUCKETS 5120

/* ------------------------------------------------------------------------ */
/* Options and global state                                                 */
/* ------------------------------------------------------------------------ */

enum mode { MODE_ECHO, MODE_HANDSHAKES, MODE_IDLE };

static struct {
  char host[300];
  char port[16];
  char path[1024];
  char hostheader[300];
  int connections;
  int pipeline;
  size_t size;
  double duration;
  double warmup;
  double hold;
  int deflate;
  int binary;
  int json;
  enum mode mode;
  int idle_n;
  int concurrency; /* idle mode: handshakes in progress at once */
} opt = {.connections = 10,
         .pipeline = 1,
         .size = 32,
         .duration = 5,
         .warmup = 1,
         .hold = 5,
         .concurrency = 256};

static struct sockaddr_storage g_addr;
static socklen_t g_addrlen;
static int g_ep = -1;
static unsigned char *g_payload;       /* the message, uncompressed */
static unsigned char *g_zpayload[16];  /* deflated payload per window bits */
static size_t g_zlen[16];
static unsigned char g_rbuf[READ_BUF + CARRY_MAX];
static unsigned char g_scratch[64 * 1024]; /* inflate output, discarded */
static uint64_t g_now;                     /* ns, refreshed per loop turn */

static struct stats {
  uint64_t messages;
  uint64_t bytes;
  uint64_t handshakes;
  uint64_t hist[HIST_BUCKETS];
  uint64_t lat_max;
  uint64_t err_connect, err_handshake, err_protocol, err_size, err_closed,
      err_io, pings, deflate_negotiated, compressed_echoes;
} st;
static int g_measuring;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------------------ */
/* Latency histogram: exact below 256 ns, then 128 sub-buckets per octave   */
/* (under 0.8% error), fixed size, no allocation.                           */
/* ------------------------------------------------------------------------ */

static int hist_idx(uint64_t v) {
  if (v < 256) return (int)v;
  int msb = 63 - __builtin_clzll(v);
  int shift = msb - 7;
  int idx = 256 + (shift - 1) * 128 + (int)((v >> shift) - 128);
  return idx < HIST_BUCKETS ? idx : HIST_BUCKETS - 1;
}

static uint64_t hist_value(int idx) {
  if (idx < 256) return (uint64_t)idx;
  int shift = (idx - 256) / 128 + 1;
  uint64_t sub = (uint64_t)((idx - 256) % 128) + 128;
  return (sub << shift) + ((1ull << shift) >> 1); /* bucket midpoint */
}

static void hist_add(uint64_t v) {
  st.hist[hist_idx(v)]++;
  if (v > st.lat_max) st.lat_max = v;
}

static double hist_pct(double p) {
  uint64_t total = 0;
  for (int i = 0; i < HIST_BUCKETS; i++) total += st.hist[i];
  if (total == 0) return 0;
  uint64_t want = (uint64_t)(p / 100.0 * (double)total);
  if (want >= total) want = total - 1;
  uint64_t seen = 0;
  for (int i = 0; i < HIST_BUCKETS; i++) {
    seen += st.hist[i];
    if (seen > want) return (double)hist_value(i);
  }
  return (double)st.lat_max;
}

/* ------------------------------------------------------------------------ */
/* SHA-1 and base64, only for Sec-WebSocket-Accept                          */
/* ------------------------------------------------------------------------ */

static uint32_t rol(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

static void sha1(const unsigned char *msg, size_t len, unsigned char out[20]) {
  uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
  unsigned char block[64];
  uint64_t bits = (uint64_t)len * 8;
  size_t total = ((len + 8) / 64 + 1) * 64;
  for (size_t off = 0; off < total; off += 64) {
    for (size_t i = 0; i < 64; i++) {
      size_t p = off + i;
      if (p < len)
        block[i] = msg[p];
      else if (p == len)
        block[i] = 0x80;
      else if (p >= total - 8)
        block[i] = (unsigned char)(bits >> (8 * (total - 1 - p)));
      else
        block[i] = 0;
    }
    uint32_t w[80];
    for (int i = 0; i < 16; i++)
      w[i] = (uint32_t)block[4 * i] << 24 | (uint32_t)block[4 * i + 1] << 16 |
             (uint32_t)block[4 * i + 2] << 8 | block[4 * i + 3];
    for (int i = 16; i < 80; i++)
      w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; i++) {
      uint32_t f, k;
      if (i < 20) {
        f = (b & c) | (~b & d);
        k = 0x5A827999;
      } else if (i < 40) {
        f = b ^ c ^ d;
        k = 0x6ED9EBA1;
      } else if (i < 60) {
        f = (b & c) | (b & d) | (c & d);
        k = 0x8F1BBCDC;
      } else {
        f = b ^ c ^ d;
        k = 0xCA62C1D6;
      }
      uint32_t t = rol(a, 5) + f + e + k + w[i];
      e = d;
      d = c;
      c = rol(b, 30);
      b = a;
      a = t;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
  }
  for (int i = 0; i < 5; i++) {
    out[4 * i] = (unsigned char)(h[i] >> 24);
    out[4 * i + 1] = (unsigned char)(h[i] >> 16);
    out[4 * i + 2] = (unsigned char)(h[i] >> 8);
    out[4 * i + 3] = (unsigned char)h[i];
  }
}

static void base64(const unsigned char *in, size_t len, char *out) {
  static const char tbl[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t o = 0;
  for (size_t i = 0; i < len; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16;
    if (i + 1 < len) v |= (uint32_t)in[i + 1] << 8;
    if (i + 2 < len) v |= in[i + 2];
    out[o++] = tbl[(v >> 18) & 63];
    out[o++] = tbl[(v >> 12) & 63];
    out[o++] = i + 1 < len ? tbl[(v >> 6) & 63] : '=';
    out[o++] = i + 2 < len ? tbl[v & 63] : '=';
  }
  out[o] = 0;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

/* ------------------------------------------------------------------------ */
/* Connections                                                              */
/* ------------------------------------------------------------------------ */

/* C_CLOSING: our close frame is queued; C_CLOSE_WAIT: the server answered
 * it and we wait for it to end TCP (RFC 6455 7.1.1: the server closes first). */
enum cstate {
  C_IDLE,
  C_CONNECTING,
  C_HANDSHAKE,
  C_OPEN,
  C_CLOSING,
  C_CLOSE_WAIT,
  C_DEAD
};

struct conn {
  int fd;
  enum cstate state;
  int want_out; /* EPOLLOUT registered */
  int deflate;  /* permessage-deflate negotiated */
  int zbits;    /* client_max_window_bits to compress with */
  char key[32]; /* Sec-WebSocket-Key */
  uint64_t t_connect;
  uint64_t t_close;
  /* output: control bytes (handshake request, close) then data frames */
  char ctl[1024];
  size_t ctl_len, ctl_off;
  unsigned char *frame; /* this connection's masked frame */
  size_t frame_len;
  uint32_t queued; /* frames waiting to be written */
  size_t first_off;
  /* input */
  unsigned char carry[CARRY_MAX];
  size_t carry_len;
  uint64_t frame_left; /* payload bytes left in the current frame */
  int frame_fin, frame_compressed;
  int msg_opcode;
  int msg_compressed;
  uint64_t msg_bytes;
  z_stream inf;
  int inf_init;
  /* per-message send timestamps, FIFO of `pipeline` slots */
  uint64_t *ts;
  uint32_t ts_head, ts_count;
  uint32_t inflight;
};

static struct conn *conns;
static int nconns;
static int g_sending = 1;

static void conn_fail(struct conn *c, uint64_t *counter);

static void ep_set(struct conn *c, int out) {
  struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0),
                           .data.ptr = c};
  if (epoll_ctl(g_ep, EPOLL_CTL_MOD, c->fd, &ev) == 0) c->want_out = out;
}

static void conn_closefd(struct conn *c) {
  if (c->fd >= 0) {
    epoll_ctl(g_ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
  }
  c->fd = -1;
  if (c->inf_init) {
    inflateEnd(&c->inf);
    c->inf_init = 0;
  }
}

static int conn_start(struct conn *c) {
  c->fd = socket(g_addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                 0);
  if (c->fd < 0) {
    st.err_connect++;
    c->state = C_DEAD;
    return -1;
  }
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c->t_connect = g_now;
  c->carry_len = 0;
  c->frame_left = 0;
  c->msg_opcode = 0;
  c->queued = 0;
  c->first_off = 0;
  c->ts_head = c->ts_count = 0;
  c->inflight = 0;
  c->deflate = 0;
  c->want_out = 1;
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
  epoll_ctl(g_ep, EPOLL_CTL_ADD, c->fd, &ev);
  int r = connect(c->fd, (struct sockaddr *)&g_addr, g_addrlen);
  if (r < 0 && errno != EINPROGRESS) {
    conn_fail(c, &st.err_connect);
    return -1;
  }
  c->state = C_CONNECTING;
  /* the upgrade request, queued now and written once connected */
  unsigned char raw[16];
  for (int i = 0; i < 16; i++) raw[i] = (unsigned char)rnd();
  base64(raw, 16, c->key);
  c->ctl_off = 0;
  c->ctl_len = (size_t)snprintf(
      c->ctl, sizeof c->ctl,
      "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
      "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
      "Sec-WebSocket-Version: 13\r\n%s\r\n",
      opt.path, opt.hostheader, c->key,
      opt.deflate ? "Sec-WebSocket-Extensions: permessage-deflate; "
                    "client_no_context_takeover; client_max_window_bits\r\n"
                  : "");
  return 0;
}

static void conn_fail(struct conn *c, uint64_t *counter) {
  if (counter) (*counter)++;
  conn_closefd(c);
  c->state = C_DEAD;
  /* handshake loops go on after a failure, up to a bounded error count */
  if (opt.mode == MODE_HANDSHAKES && g_sending && st.err_connect +
      st.err_handshake + st.err_protocol + st.err_closed + st.err_io < 10000)
    conn_start(c);
}

/* Builds this connection's masked data frame (payload compressed when
 * deflate was negotiated). */
static int conn_build_frame(struct conn *c) {
  const unsigned char *p = g_payload;
  size_t n = opt.size;
  int rsv1 = 0;
  if (c->deflate) {
    p = g_zpayload[c->zbits];
    n = g_zlen[c->zbits];
    rsv1 = 0x40;
  }
  size_t hl = 2 + (n >= 126 ? (n > 65535 ? 8 : 2) : 0) + 4;
  if (!c->frame || c->frame_len != hl + n) {
    free(c->frame);
    c->frame = malloc(hl + n);
    if (!c->frame) return -1;
  }
  unsigned char *f = c->frame;
  f[0] = (unsigned char)(0x80 | rsv1 | (opt.binary ? 2 : 1));
  size_t o = 2;
  if (n < 126) {
    f[1] = (unsigned char)(0x80 | n);
  } else if (n <= 65535) {
    f[1] = 0x80 | 126;
    f[2] = (unsigned char)(n >> 8);
    f[3] = (unsigned char)n;
    o = 4;
  } else {
    f[1] = 0x80 | 127;
    for (int i = 0; i < 8; i++) f[2 + i] = (unsigned char)(n >> (56 - 8 * i));
    o = 10;
  }
  uint32_t m = (uint32_t)rnd() | 1; /* non-zero so the server really XORs */
  unsigned char mk[4] = {(unsigned char)(m >> 24), (unsigned char)(m >> 16),
                         (unsigned char)(m >> 8), (unsigned char)m};
  memcpy(f + o, mk, 4);
  o += 4;
  for (size_t i = 0; i < n; i++) f[o + i] = p[i] ^ mk[i & 3];
  c->frame_len = o + n;
  return 0;
}

static void queue_messages(struct conn *c, uint32_t k) {
  for (uint32_t i = 0; i < k; i++) {
    uint32_t slot = (c->ts_head + c->ts_count) % (uint32_t)opt.pipeline;
    c->ts[slot] = g_now;
    c->ts_count++;
  }
  c->queued += k;
  c->inflight += k;
}

static void queue_close(struct conn *c) {
  /* frames not yet started must not follow the close frame */
  c->queued = c->queued > 0 && c->first_off > 0 ? 1 : 0;
  /* masked close frame, code 1000, mask 0x01020304 */
  static const unsigned char cf[] = {0x88, 0x82, 1, 2, 3, 4, 0x03 ^ 1,
                                     0xe8 ^ 2};
  if (c->ctl_len - c->ctl_off + sizeof cf > sizeof c->ctl) return;
  if (c->ctl_off == c->ctl_len) c->ctl_off = c->ctl_len = 0;
  memcpy(c->ctl + c->ctl_len, cf, sizeof cf);
  c->ctl_len += sizeof cf;
}

/* Writes what is pending: the rest of a partly written frame, control
 * bytes, then queued frames, all with one writev per call. */
static void conn_flush(struct conn *c) {
  while (c->fd >= 0 && (c->ctl_off < c->ctl_len || c->queued > 0)) {
    struct iovec iov[MAX_IOV];
    int n = 0;
    uint32_t fi = 0;
    int partial = c->queued > 0 && c->first_off > 0;
    if (partial) {
      iov[n].iov_base = c->frame + c->first_off;
      iov[n++].iov_len = c->frame_len - c->first_off;
      fi = 1;
    }
    if (c->ctl_off < c->ctl_len) {
      iov[n].iov_base = c->ctl + c->ctl_off;
      iov[n++].iov_len = c->ctl_len - c->ctl_off;
    }
    for (; fi < c->queued && n < MAX_IOV; fi++) {
      iov[n].iov_base = c->frame;
      iov[n++].iov_len = c->frame_len;
    }
    ssize_t w = writev(c->fd, iov, n);
    if (w < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      conn_fail(c, &st.err_io);
      return;
    }
    size_t left = (size_t)w;
    if (partial) {
      size_t r = c->frame_len - c->first_off;
      if (left < r) {
        c->first_off += left;
        left = 0;
      } else {
        left -= r;
        c->first_off = 0;
        c->queued--;
      }
    }
    if (left > 0 && c->ctl_off < c->ctl_len) {
      size_t r = c->ctl_len - c->ctl_off;
      size_t take = left < r ? left : r;
      c->ctl_off += take;
      left -= take;
    }
    if (left > 0 && c->queued > 0) {
      uint64_t whole = left / c->frame_len;
      c->queued -= (uint32_t)whole;
      c->first_off = left % c->frame_len;
    }
    if ((size_t)w == 0) break;
  }
  if (c->fd < 0) return;
  int need = c->ctl_off < c->ctl_len || c->queued > 0;
  if (need != c->want_out) ep_set(c, need);
}

/* ------------------------------------------------------------------------ */
/* Input                                                                    */
/* ------------------------------------------------------------------------ */

static void on_open(struct conn *c) {
  c->state = C_OPEN;
  if (g_measuring || opt.mode != MODE_ECHO) {
    if (g_measuring) st.handshakes++;
    hist_add(g_now - c->t_connect);
  }
  if (opt.mode == MODE_HANDSHAKES) {
    queue_close(c);
    c->state = C_CLOSING;
    c->t_close = g_now;
    return;
  }
  if (opt.mode == MODE_ECHO) {
    if (conn_build_frame(c) < 0) {
      conn_fail(c, &st.err_io);
      return;
    }
  }
}

/* Parses the 101 response; returns bytes consumed, 0 if incomplete, -1 on
 * error. */
static ssize_t parse_handshake(struct conn *c, unsigned char *b, size_t n) {
  unsigned char *end = memmem(b, n, "\r\n\r\n", 4);
  if (!end) {
    if (n >= CARRY_MAX) return -1;
    return 0;
  }
  size_t hlen = (size_t)(end - b) + 4;
  if (hlen < 12 || memcmp(b, "HTTP/1.1 101", 12) != 0) return -1;
  char want[64], cat[128];
  unsigned char dig[20];
  int kl = snprintf(cat, sizeof cat, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11",
                    c->key);
  sha1((unsigned char *)cat, (size_t)kl, dig);
  base64(dig, 20, want);
  int accept_ok = 0;
  c->deflate = 0;
  c->zbits = 15;
  /* walk header lines */
  unsigned char *line = memchr(b, '\n', hlen) + 1;
  while (line < b + hlen - 2) {
    unsigned char *eol = memchr(line, '\n', (size_t)(b + hlen - line));
    if (!eol) break;
    size_t ll = (size_t)(eol - line);
    if (ll && line[ll - 1] == '\r') ll--;
    char *colon = memchr(line, ':', ll);
    if (colon) {
      size_t nl = (size_t)((unsigned char *)colon - line);
      char *v = colon + 1;
      size_t vl = ll - nl - 1;
      while (vl && (*v == ' ' || *v == '\t')) v++, vl--;
      while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t')) vl--;
      if (nl == 20 && !strncasecmp((char *)line, "Sec-WebSocket-Accept", 20)) {
        accept_ok = vl == strlen(want) && !memcmp(v, want, vl);
      } else if (nl == 24 &&
                 !strncasecmp((char *)line, "Sec-WebSocket-Extensions", 24)) {
        char ext[512];
        size_t el = vl < sizeof ext - 1 ? vl : sizeof ext - 1;
        memcpy(ext, v, el);
        ext[el] = 0;
        if (!opt.deflate || !strstr(ext, "permessage-deflate")) return -1;
        c->deflate = 1;
        char *cb = strstr(ext, "client_max_window_bits");
        if (cb && cb[22] == '=') {
          int bits = atoi(cb + 23 + (cb[23] == '"'));
          if (bits < 8 || bits > 15) return -1;
          c->zbits = bits < 9 ? 9 : bits;
        }
      }
    }
    line = eol + 1;
  }
  if (!accept_ok) return -1;
  if (c->deflate) {
    memset(&c->inf, 0, sizeof c->inf);
    if (inflateInit2(&c->inf, -15) != Z_OK) return -1;
    c->inf_init = 1;
    if (g_measuring || opt.mode == MODE_ECHO) st.deflate_negotiated++;
  }
  return (ssize_t)hlen;
}

static int inflate_some(struct conn *c, const unsigned char *p, size_t n) {
  c->inf.next_in = (unsigned char *)p;
  c->inf.avail_in = (uInt)n;
  do {
    c->inf.next_out = g_scratch;
    c->inf.avail_out = sizeof g_scratch;
    int r = inflate(&c->inf, Z_SYNC_FLUSH);
    if (r == Z_STREAM_END) { /* a final block; the next message starts anew */
      c->msg_bytes += sizeof g_scratch - c->inf.avail_out;
      inflateReset(&c->inf);
      continue;
    }
    if (r != Z_OK && r != Z_BUF_ERROR) return -1;
    c->msg_bytes += sizeof g_scratch - c->inf.avail_out;
    if (r == Z_BUF_ERROR && c->inf.avail_in == 0) break;
  } while (c->inf.avail_in > 0 || c->inf.avail_out == 0);
  return 0;
}

static void on_message(struct conn *c) {
  int want_op = opt.binary ? 2 : 1;
  if (c->msg_opcode != want_op || c->msg_bytes != opt.size) {
    conn_fail(c, &st.err_size);
    return;
  }
  if (c->ts_count == 0) {
    conn_fail(c, &st.err_protocol); /* an echo we never asked for */
    return;
  }
  uint64_t sent = c->ts[c->ts_head];
  c->ts_head = (c->ts_head + 1) % (uint32_t)opt.pipeline;
  c->ts_count--;
  c->inflight--;
  if (c->msg_compressed) st.compressed_echoes++;
  if (g_measuring) {
    st.messages++;
    st.bytes += opt.size;
    hist_add(g_now - sent);
  }
  if (g_sending) queue_messages(c, 1);
}

/* Parses frames; returns bytes consumed or -1 (connection already failed). */
static ssize_t parse_frames(struct conn *c, unsigned char *b, size_t n) {
  size_t o = 0;
  while (o < n && c->fd >= 0) {
    if (c->frame_left > 0) {
      size_t take = n - o;
      if (take > c->frame_left) take = (size_t)c->frame_left;
      if (c->msg_compressed) {
        if (inflate_some(c, b + o, take) < 0) {
          conn_fail(c, &st.err_protocol);
          return -1;
        }
      } else {
        c->msg_bytes += take;
      }
      o += take;
      c->frame_left -= take;
      if (c->frame_left > 0) break;
      if (c->frame_fin) {
        if (c->msg_compressed) {
          static const unsigned char tail[4] = {0, 0, 0xff, 0xff};
          if (inflate_some(c, tail, 4) < 0) {
            conn_fail(c, &st.err_protocol);
            return -1;
          }
        }
        on_message(c);
        c->msg_opcode = 0;
      }
      continue;
    }
    /* frame header */
    size_t avail = n - o;
    if (avail < 2) break;
    unsigned char b0 = b[o], b1 = b[o + 1];
    if (b1 & 0x80) { /* servers must not mask */
      conn_fail(c, &st.err_protocol);
      return -1;
    }
    size_t hl = 2;
    uint64_t len = b1 & 0x7f;
    if (len == 126) hl = 4;
    if (len == 127) hl = 10;
    if (avail < hl) break;
    if (len == 126) len = (uint64_t)b[o + 2] << 8 | b[o + 3];
    if (len == 127) {
      len = 0;
      for (int i = 0; i < 8; i++) len = len << 8 | b[o + 2 + i];
    }
    int op = b0 & 0x0f, fin = b0 >> 7, rsv1 = (b0 >> 6) & 1;
    if (op >= 8) { /* control frame: wait until it is all here */
      if (len > 125 || !fin) {
        conn_fail(c, &st.err_protocol);
        return -1;
      }
      if (avail < hl + len) break;
      o += hl + (size_t)len;
      if (op == 8) {
        if (c->state == C_CLOSING) {
          /* our close was answered; wait for the server to end TCP */
          c->state = C_CLOSE_WAIT;
          continue;
        }
        conn_fail(c, &st.err_closed);
        return -1;
      }
      if (op == 9) st.pings++; /* load tests do not expect pings */
      continue;
    }
    if (op == 0) {
      if (c->msg_opcode == 0) {
        conn_fail(c, &st.err_protocol);
        return -1;
      }
    } else if (op == 1 || op == 2) {
      if (c->msg_opcode != 0) {
        conn_fail(c, &st.err_protocol);
        return -1;
      }
      c->msg_opcode = op;
      c->msg_compressed = rsv1;
      c->msg_bytes = 0;
      if (rsv1 && !c->deflate) {
        conn_fail(c, &st.err_protocol);
        return -1;
      }
    } else {
      conn_fail(c, &st.err_protocol);
      return -1;
    }
    o += hl;
    c->frame_fin = fin;
    c->frame_left = len;
    if (len == 0 && fin) {
      if (c->msg_compressed) {
        static const unsigned char tail[4] = {0, 0, 0xff, 0xff};
        if (inflate_some(c, tail, 4) < 0) {
          conn_fail(c, &st.err_protocol);
          return -1;
        }
      }
      on_message(c);
      c->msg_opcode = 0;
    }
  }
  return (ssize_t)o;
}

static void conn_after_close(struct conn *c);

static void conn_readable(struct conn *c) {
  for (int rounds = 0; rounds < 4 && c->fd >= 0; rounds++) {
    memcpy(g_rbuf, c->carry, c->carry_len);
    size_t have = c->carry_len;
    ssize_t r = read(c->fd, g_rbuf + have, READ_BUF);
    if (r < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EINTR) continue;
      if (c->state == C_CLOSING || c->state == C_CLOSE_WAIT) {
        conn_after_close(c);
        return;
      }
      conn_fail(c, &st.err_io);
      return;
    }
    if (r == 0) {
      if (c->state == C_CLOSING || c->state == C_CLOSE_WAIT) {
        conn_after_close(c);
        return;
      }
      conn_fail(c, c->state == C_HANDSHAKE ? &st.err_handshake
                                            : &st.err_closed);
      return;
    }
    have += (size_t)r;
    size_t o = 0;
    if (c->state == C_HANDSHAKE) {
      ssize_t h = parse_handshake(c, g_rbuf, have);
      if (h < 0) {
        conn_fail(c, &st.err_handshake);
        return;
      }
      if (h == 0) {
        memcpy(c->carry, g_rbuf, have);
        c->carry_len = have;
        continue;
      }
      o = (size_t)h;
      on_open(c);
      if (c->fd < 0) return;
    }
    if (o < have) {
      ssize_t p = parse_frames(c, g_rbuf + o, have - o);
      if (p < 0) return;
      o += (size_t)p;
    }
    c->carry_len = have - o;
    if (c->carry_len > CARRY_MAX) {
      conn_fail(c, &st.err_protocol);
      return;
    }
    memcpy(c->carry, g_rbuf + o, c->carry_len);
    if ((size_t)r < READ_BUF) return;
  }
}

/* Handshake mode: one cycle is over, start the next. */
static void conn_after_close(struct conn *c) {
  conn_closefd(c);
  c->state = C_IDLE;
  if (opt.mode == MODE_HANDSHAKES && g_sending) conn_start(c);
}

static void conn_event(struct conn *c, uint32_t ev) {
  if (c->state == C_CONNECTING) {
    int err = 0;
    socklen_t el = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
    if (err != 0) {
      conn_fail(c, &st.err_connect);
      return;
    }
    if (!(ev & (EPOLLOUT | EPOLLIN))) return;
    c->state = C_HANDSHAKE;
  }
  if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) conn_readable(c);
  if (c->fd >= 0) conn_flush(c);
}

/* ------------------------------------------------------------------------ */
/* Setup and main loop                                                      */
/* ------------------------------------------------------------------------ */

static void usage(void) {
  fprintf(stderr,
          "usage: wsload --url ws://HOST:PORT/PATH [--connections N] "
          "[--pipeline P]\n"
          "              [--size BYTES] [--duration S] [--warmup S] "
          "[--deflate] [--binary]\n"
          "              [--handshakes] [--idle N --hold S] [--json]\n");
  exit(2);
}

static int parse_url(const char *url) {
  if (strncmp(url, "ws://", 5) != 0) return -1;
  const char *h = url + 5;
  const char *slash = strchr(h, '/');
  size_t hp = slash ? (size_t)(slash - h) : strlen(h);
  char hostport[300];
  if (hp == 0 || hp >= sizeof hostport) return -1;
  memcpy(hostport, h, hp);
  hostport[hp] = 0;
  snprintf(opt.hostheader, sizeof opt.hostheader, "%s", hostport);
  snprintf(opt.path, sizeof opt.path, "%s", slash ? slash : "/");
  char *colon = strrchr(hostport, ':');
  if (colon && !strchr(colon, ']')) {
    *colon = 0;
    snprintf(opt.port, sizeof opt.port, "%s", colon + 1);
  } else {
    snprintf(opt.port, sizeof opt.port, "80");
  }
  char *host = hostport;
  if (host[0] == '[') {
    host++;
    char *rb = strchr(host, ']');
    if (rb) *rb = 0;
  }
  snprintf(opt.host, sizeof opt.host, "%s", host);
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
  if (getaddrinfo(opt.host, opt.port, &hints, &res) != 0) return -1;
  memcpy(&g_addr, res->ai_addr, res->ai_addrlen);
  g_addrlen = res->ai_addrlen;
  freeaddrinfo(res);
  return 0;
}

static void make_payload(void) {
  static const char text[] =
      "The quick brown fox jumps over the lazy dog; websocket echo bench. ";
  g_payload = malloc(opt.size ? opt.size : 1);
  for (size_t i = 0; i < opt.size; i++)
    g_payload[i] = (unsigned char)text[i % (sizeof text - 1)];
  if (!opt.deflate) return;
  for (int bits = 9; bits <= 15; bits++) {
    z_stream z = {0};
    /* client_no_context_takeover: every message compresses alone, so one
     * deflate per window size serves every message of the run */
    deflateInit2(&z, 6, Z_DEFLATED, -bits, 8, Z_DEFAULT_STRATEGY);
    size_t cap = deflateBound(&z, opt.size) + 16;
    g_zpayload[bits] = malloc(cap);
    z.next_in = g_payload;
    z.avail_in = (uInt)opt.size;
    z.next_out = g_zpayload[bits];
    z.avail_out = (uInt)cap;
    deflate(&z, Z_SYNC_FLUSH);
    g_zlen[bits] = cap - z.avail_out;
    /* RFC 7692 7.2.1: drop the 00 00 ff ff tail of the sync flush */
    if (g_zlen[bits] >= 4 &&
        !memcmp(g_zpayload[bits] + g_zlen[bits] - 4, "\0\0\xff\xff", 4))
      g_zlen[bits] -= 4;
    deflateEnd(&z);
  }
}

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) {
  (void)sig;
  g_stop = 1;
}

static int count_state(enum cstate s) {
  int k = 0;
  for (int i = 0; i < nconns; i++) k += conns[i].state == s;
  return k;
}

static void conn_after_close(struct conn *c);

/* Ends closes the server never finished (bounded wait of 2 s). */
static void sweep_closing(void) {
  for (int i = 0; i < nconns; i++) {
    struct conn *c = &conns[i];
    if ((c->state == C_CLOSING || c->state == C_CLOSE_WAIT) &&
        g_now - c->t_close > 2000000000ull) {
      st.err_closed++;
      conn_after_close(c);
    }
  }
}

static void loop_until(uint64_t deadline, int (*done)(void)) {
  struct epoll_event evs[512];
  uint64_t next_sweep = 0;
  while (!g_stop) {
    g_now = now_ns();
    if (g_now >= next_sweep) {
      sweep_closing();
      next_sweep = g_now + 100000000ull;
    }
    if (g_now >= deadline) break;
    if (done && done()) break;
    uint64_t left_ms = (deadline - g_now) / 1000000 + 1;
    int to = left_ms > 100 ? 100 : (int)left_ms;
    int n = epoll_wait(g_ep, evs, 512, to);
    g_now = now_ns();
    for (int i = 0; i < n; i++) conn_event(evs[i].data.ptr, evs[i].events);
  }
}

static int g_idle_next, g_idle_target;
static int idle_pending(void) {
  int inprog = 0;
  for (int i = 0; i < g_idle_next; i++)
    inprog += conns[i].state == C_CONNECTING || conns[i].state == C_HANDSHAKE;
  while (g_idle_next < g_idle_target && inprog < opt.concurrency) {
    conn_start(&conns[g_idle_next++]);
    inprog++;
  }
  return g_idle_next >= g_idle_target && inprog == 0;
}

static int all_settled(void) {
  for (int i = 0; i < nconns; i++)
    if (conns[i].state == C_CONNECTING || conns[i].state == C_HANDSHAKE)
      return 0;
  return 1;
}

static int all_drained(void) {
  for (int i = 0; i < nconns; i++)
    if (conns[i].fd >= 0) return 0;
  return 1;
}

static void report(const char *mode, double secs, int open_conns) {
  double p50 = hist_pct(50) / 1000.0, p99 = hist_pct(99) / 1000.0,
         p999 = hist_pct(99.9) / 1000.0, mx = (double)st.lat_max / 1000.0;
  double mps = secs > 0 ? (double)st.messages / secs : 0;
  double mbs = secs > 0 ? (double)st.bytes / secs / 1e6 : 0;
  double hps = secs > 0 ? (double)st.handshakes / secs : 0;
  uint64_t errors = st.err_connect + st.err_handshake + st.err_protocol +
                    st.err_size + st.err_closed + st.err_io;
  if (opt.json) {
    printf("{\"mode\":\"%s\",\"url\":\"ws://%s%s\",\"connections\":%d,"
           "\"pipeline\":%d,\"size\":%zu,\"deflate\":%s,\"binary\":%s,"
           "\"seconds\":%.3f,\"messages\":%llu,\"msgs_per_s\":%.1f,"
           "\"mb_per_s\":%.3f,\"handshakes\":%llu,\"handshakes_per_s\":%.1f,"
           "\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f,"
           "\"open\":%d,\"deflate_negotiated\":%llu,\"compressed_echoes\":%llu,"
           "\"errors\":%llu,\"err_connect\":%llu,\"err_handshake\":%llu,"
           "\"err_protocol\":%llu,\"err_size\":%llu,\"err_closed\":%llu,"
           "\"err_io\":%llu}\n",
           mode, opt.hostheader, opt.path, opt.mode == MODE_IDLE ? opt.idle_n
                                                               : opt.connections,
           opt.pipeline, opt.size, opt.deflate ? "true" : "false",
           opt.binary ? "true" : "false", secs,
           (unsigned long long)st.messages, mps, mbs,
           (unsigned long long)st.handshakes, hps, p50, p99, p999, mx,
           open_conns, (unsigned long long)st.deflate_negotiated,
           (unsigned long long)st.compressed_echoes,
           (unsigned long long)errors, (unsigned long long)st.err_connect,
           (unsigned long long)st.err_handshake,
           (unsigned long long)st.err_protocol,
           (unsigned long long)st.err_size, (unsigned long long)st.err_closed,
           (unsigned long long)st.err_io);
  } else {
    printf("wsload %s ws://%s%s  conns=%d pipeline=%d size=%zu%s%s  %.2fs\n",
           mode, opt.hostheader, opt.path,
           opt.mode == MODE_IDLE ? opt.idle_n : opt.connections, opt.pipeline,
           opt.size, opt.deflate ? " deflate" : "",
           opt.binary ? " binary" : " text", secs);
    if (opt.mode == MODE_ECHO)
      printf("  %.0f msg/s  %.2f MB/s (echoed payload)  messages=%llu\n", mps,
             mbs, (unsigned long long)st.messages);
    else
      printf("  %.0f handshakes/s  handshakes=%llu  open=%d\n", hps,
             (unsigned long long)st.handshakes, open_conns);
    printf("  latency p50=%.1fus p99=%.1fus p99.9=%.1fus max=%.1fus\n", p50,
           p99, p999, mx);
    if (opt.deflate)
      printf("  deflate negotiated on %llu connections, %llu compressed "
             "echoes\n",
             (unsigned long long)st.deflate_negotiated,
             (unsigned long long)st.compressed_echoes);
    printf("  errors=%llu (connect=%llu handshake=%llu protocol=%llu "
           "size=%llu closed=%llu io=%llu)\n",
           (unsigned long long)errors, (unsigned long long)st.err_connect,
           (unsigned long long)st.err_handshake,
           (unsigned long long)st.err_protocol,
           (unsigned long long)st.err_size, (unsigned long long)st.err_closed,
           (unsigned long long)st.err_io);
  }
  fflush(stdout);
}

int main(int argc, char **argv) {
  const char *url = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEEDV() \
  do {          \
    if (!v) usage(); \
    i++;        \
  } while (0)
    if (!strcmp(a, "--url")) { NEEDV(); url = v; }
    else if (!strcmp(a, "--connections")) { NEEDV(); opt.connections = atoi(v); }
    else if (!strcmp(a, "--pipeline")) { NEEDV(); opt.pipeline = atoi(v); }
    else if (!strcmp(a, "--size")) { NEEDV(); opt.size = (size_t)strtoull(v, NULL, 10); }
    else if (!strcmp(a, "--duration")) { NEEDV(); opt.duration = atof(v); }
    else if (!strcmp(a, "--warmup")) { NEEDV(); opt.warmup = atof(v); }
    else if (!strcmp(a, "--hold")) { NEEDV(); opt.hold = atof(v); }
    else if (!strcmp(a, "--idle")) { NEEDV(); opt.mode = MODE_IDLE; opt.idle_n = atoi(v); }
    else if (!strcmp(a, "--concurrency")) { NEEDV(); opt.concurrency = atoi(v); }
    else if (!strcmp(a, "--deflate")) opt.deflate = 1;
    else if (!strcmp(a, "--binary")) opt.binary = 1;
    else if (!strcmp(a, "--handshakes")) opt.mode = MODE_HANDSHAKES;
    else if (!strcmp(a, "--json")) opt.json = 1;
    else usage();
#undef NEEDV
  }
  if (!url || parse_url(url) < 0) {
    fprintf(stderr, "wsload: need --url ws://HOST:PORT/PATH\n");
    usage();
  }
  /* every loop here is bounded in time */
  if (opt.connections < 1 || opt.connections > 100000 || opt.pipeline < 1 ||
      opt.pipeline > 4096 || opt.duration <= 0 || opt.duration > 600 ||
      opt.warmup < 0 || opt.warmup > 60 || opt.hold < 0 || opt.hold > 600 ||
      opt.size > (64u << 20) || opt.concurrency < 1 ||
      (opt.mode == MODE_IDLE && (opt.idle_n < 1 || opt.idle_n > 100000))) {
    fprintf(stderr, "wsload: option out of range\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  rng_state ^= (uint64_t)getpid() << 32 ^ now_ns();
  make_payload();

  nconns = opt.mode == MODE_IDLE ? opt.idle_n : opt.connections;
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
      rl.rlim_cur < (rlim_t)nconns + 64) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < (rlim_t)nconns + 64)
      fprintf(stderr, "wsload: RLIMIT_NOFILE %llu is below %d connections\n",
              (unsigned long long)rl.rlim_cur, nconns);
  }
  conns = calloc((size_t)nconns, sizeof *conns);
  g_ep = epoll_create1(EPOLL_CLOEXEC);
  if (!conns || g_ep < 0) return 1;
  for (int i = 0; i < nconns; i++) {
    conns[i].fd = -1;
    if (opt.mode == MODE_ECHO) {
      conns[i].ts = calloc((size_t)opt.pipeline, sizeof(uint64_t));
      if (!conns[i].ts) return 1;
    }
  }
  g_now = now_ns();

  if (opt.mode == MODE_IDLE) {
    g_idle_target = nconns;
    uint64_t t0 = g_now;
    loop_until(g_now + 60ull * 1000000000ull, idle_pending);
    int open = count_state(C_OPEN);
    double secs = (double)(g_now - t0) / 1e9;
    st.handshakes = (uint64_t)open;
    fprintf(stderr, "READY open=%d failed=%d in %.2fs\n", open, nconns - open,
            secs);
    fflush(stderr);
    loop_until(now_ns() + (uint64_t)(opt.hold * 1e9), NULL);
    open = count_state(C_OPEN);
    report("idle", secs, open);
    return open == nconns ? 0 : 1;
  }

  if (opt.mode == MODE_HANDSHAKES) {
    uint64_t t0 = g_now, tm = t0 + (uint64_t)(opt.warmup * 1e9);
    uint64_t tend = tm + (uint64_t)(opt.duration * 1e9);
    for (int i = 0; i < nconns; i++) conn_start(&conns[i]);
    loop_until(tm, NULL);
    memset(&st, 0, sizeof st);
    g_measuring = 1;
    uint64_t ms = now_ns();
    loop_until(tend, NULL);
    g_measuring = 0;
    g_sending = 0;
    double secs = (double)(now_ns() - ms) / 1e9;
    loop_until(now_ns() + 2000000000ull, all_drained);
    report("handshakes", secs, 0);
    return 0;
  }

  /* echo: connect everything first, then warm up, then measure */
  for (int i = 0; i < nconns; i++) conn_start(&conns[i]);
  loop_until(g_now + 10ull * 1000000000ull, all_settled);
  int open = count_state(C_OPEN);
  if (open == 0) {
    fprintf(stderr, "wsload: no connection opened\n");
    report("echo", 0, 0);
    return 1;
  }
  for (int i = 0; i < nconns; i++)
    if (conns[i].state == C_OPEN) {
      queue_messages(&conns[i], (uint32_t)opt.pipeline);
      conn_flush(&conns[i]);
    }
  loop_until(now_ns() + (uint64_t)(opt.warmup * 1e9), NULL);
  uint64_t keep_neg = st.deflate_negotiated;
  uint64_t keep_connect = st.err_connect, keep_hs = st.err_handshake;
  memset(&st, 0, sizeof st);
  st.deflate_negotiated = keep_neg;
  st.err_connect = keep_connect;
  st.err_handshake = keep_hs;
  g_measuring = 1;
  uint64_t ms = now_ns();
  loop_until(ms + (uint64_t)(opt.duration * 1e9), NULL);
  g_measuring = 0;
  g_sending = 0;
  double secs = (double)(now_ns() - ms) / 1e9;
  open = count_state(C_OPEN);
  report("echo", secs, open);
  /* polite close: close frame, then up to 1 s for the server to end TCP */
  for (int i = 0; i < nconns; i++)
    if (conns[i].state == C_OPEN) {
      conns[i].state = C_CLOSING;
      conns[i].t_close = now_ns();
      queue_close(&conns[i]);
      conn_flush(&conns[i]);
    }
  loop_until(now_ns() + 1000000000ull, all_drained);
  uint64_t errors = st.err_connect + st.err_handshake + st.err_protocol +
                    st.err_size + st.err_closed + st.err_io;
  return errors ? 1 : 0;
}

/* conn.c - the TCP transport under every connection: reading into the
 * loop's shared buffer, corked and zero-copy writes, graceful ends,
 * deadlines. Protocols see only the ws101__proto callbacks.
 *
 * The socket is watched by a uv_poll_t and read, written and shut down
 * with our own syscalls (libuv's uv_tcp_t costs 88 bytes more per
 * connection, for a write-request queue we keep ourselves anyway): recv
 * on UV_READABLE, send at once and UV_WRITABLE only for what the kernel
 * refused, shutdown(SHUT_WR) once the queue is empty. */
#include "io/conn.h"
#include "io/tls.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

/* Writes at least this big skip the cork buffer when the queue is empty:
 * the kernel usually takes them whole, so copying would be pure cost. */
#define ZERO_COPY_MIN (16 * 1024)
/* A cork buffer this full is flushed at once rather than at the end of
 * the iteration, bounding memory per connection during bursts. */
#define CORK_FLUSH_AT (64 * 1024)

/* The cache's block: a pending-write state, or a link while cached. */
typedef union ws101__req_block {
  ws101__conn_x x;
  void *next;
} ws101__req_block;
#define REQ_CACHE_MAX 64

static void *req_get(ws101_loop *loop) {
  ws101__req_block *b = loop->req_cache;
  if (b != NULL) {
    loop->req_cache = b->next;
    loop->req_cache_len--;
    return b;
  }
  return malloc(sizeof(ws101__req_block));
}

static void req_put(ws101_loop *loop, void *p) {
  ws101__req_block *b = p;
  if (loop->req_cache_len >= REQ_CACHE_MAX) {
    free(b);
    return;
  }
  b->next = loop->req_cache;
  loop->req_cache = b;
  loop->req_cache_len++;
}

void ws101__conn_cache_free(ws101_loop *loop) {
  while (loop->req_cache != NULL) {
    ws101__req_block *b = loop->req_cache;
    loop->req_cache = b->next;
    free(b);
  }
  loop->req_cache_len = 0;
}

/* The pending-write state, created when a write or shutdown must wait. */
__attribute__((noinline)) static ws101__conn_x *x_new(ws101__conn *c) {
  c->x = req_get(c->loop);
  if (c->x != NULL) memset(c->x, 0, sizeof(*c->x));
  return c->x;
}

/* Inlined where every write passes: the check, not the allocation. */
static inline ws101__conn_x *x_get(ws101__conn *c) {
  return c->x != NULL ? c->x : x_new(c);
}

/* Releases it once nothing is pending any more: no write waiting, no
 * send timeout running, no buffer in flight. */
static void x_drop(ws101__conn *c) {
  ws101__conn_x *x = c->x;
  if (x == NULL || (c->flags & WS101__CONN_WRITING) ||
      x->send_deadline != 0 || x->inflight.data != NULL ||
      x->out.data != NULL)
    return;
  c->x = NULL;
  req_put(c->loop, x);
}

size_t ws101__malloc_chunk(size_t n) {
  size_t c = (n + sizeof(size_t) + 15) & ~(size_t)15;
  return c < 32 ? 32 : c;
}

size_t ws101__conn_memory(const ws101__conn *c) {
  size_t n = ws101__malloc_chunk(WS101__CONN_ROOM_OFF + c->room);
  if (c->x != NULL)
    n += ws101__malloc_chunk(sizeof(ws101__req_block)) + c->x->out.cap +
         c->x->inflight.cap;
  return n;
}

size_t ws101__conn_room_memory(const void *room) {
  const ws101__conn *c =
      (const ws101__conn *)(const void *)((const char *)room -
                                          WS101__CONN_ROOM_OFF);
  return ws101__malloc_chunk(WS101__CONN_ROOM_OFF + c->room);
}

/* A connection's handle carries this address in its data field: that is
 * how a walk over the libuv loop's handles (which an application may
 * share with handles of its own) recognises ours. The callbacks find the
 * connection from the handle itself, its first member. Using libuv's own
 * handle queue as the list of connections saves two links per
 * connection. */
static const char conn_tag;

typedef struct walk_arg {
  ws101_loop *loop;
  void (*fn)(ws101__conn *c, void *arg);
  void *arg;
} walk_arg;

static void walk_cb(uv_handle_t *h, void *arg) {
  walk_arg *w = arg;
  ws101__conn *c = (ws101__conn *)(void *)h;
  if (h->data == &conn_tag && c->loop == w->loop) w->fn(c, w->arg);
}

void ws101__conn_foreach(ws101_loop *loop,
                         void (*fn)(ws101__conn *c, void *arg), void *arg) {
  walk_arg w;
  w.loop = loop;
  w.fn = fn;
  w.arg = arg;
  uv_walk(loop->uv, walk_cb, &w);
}

/* A connection is on the deadline list while either of its deadlines (the
 * protocol's, the transport's send timeout) is set. */
void ws101__conn_timed_update(ws101__conn *c) {
  ws101_loop *loop = c->loop;
  int want = (c->deadline != 0 ||
              (c->x != NULL && c->x->send_deadline != 0)) &&
             !(c->flags & WS101__CONN_CLOSING);
  if (want == !!(c->flags & WS101__CONN_TIMED)) return;
  if (want) {
    c->tprev = NULL;
    c->tnext = loop->timed;
    if (loop->timed != NULL) loop->timed->tprev = c;
    loop->timed = c;
    c->flags |= WS101__CONN_TIMED;
    ws101__loop_arm_sweep(loop);
    return;
  }
  if (c->tprev != NULL)
    c->tprev->tnext = c->tnext;
  else
    loop->timed = c->tnext;
  if (c->tnext != NULL) c->tnext->tprev = c->tprev;
  c->tprev = c->tnext = NULL;
  c->flags &= ~WS101__CONN_TIMED;
}

static void untime(ws101__conn *c) {
  c->deadline = 0;
  if (c->x != NULL) c->x->send_deadline = 0;
  ws101__conn_timed_update(c);
}

ws101__conn *ws101__conn_new(ws101_loop *loop, const ws101__proto *proto,
                             void *proto_data, int fd) {
  return ws101__conn_new_room(loop, proto, proto_data, 0, fd);
}

ws101__conn *ws101__conn_new_room(ws101_loop *loop, const ws101__proto *proto,
                                  void *proto_data, size_t room, int fd) {
  ws101__conn *c;
  int rc;
  if (room > UINT16_MAX) return NULL;
  /* Only the struct is zeroed: the room is its new user's to initialise. */
  c = malloc(room ? WS101__CONN_ROOM_OFF + room : sizeof(*c));
  if (c == NULL) return NULL;
  memset(c, 0, sizeof(*c));
  c->room = (uint16_t)room;
  rc = fd >= 0 ? uv_poll_init_socket(loop->uv, &c->io.poll, fd)
               : uv_timer_init(loop->uv, &c->io.timer);
  if (rc != 0) {
    free(c);
    return NULL;
  }
  uv_handle_set_data((uv_handle_t *)(void *)&c->io, (void *)&conn_tag);
  c->loop = loop;
  c->proto = proto;
  c->proto_data = proto_data;
  loop->nconns++;
  return c;
}

/* Taken once at most: a room given back is not handed out again (the
 * connection's own reference is then its last). */
void *ws101__conn_room_take(ws101__conn *c, size_t n) {
  if (c->room < n || atomic_load(&c->room_refs) != 0 ||
      (c->flags & WS101__CONN_CLOSING))
    return NULL;
  atomic_store(&c->room_refs, 2);
  return (char *)c + WS101__CONN_ROOM_OFF;
}

/* The block's last owner frees it. */
static void room_unref(ws101__conn *c) {
  if (atomic_fetch_sub(&c->room_refs, 1) == 1) free(c);
}

void ws101__conn_room_release(void *room) {
  room_unref((ws101__conn *)(void *)((char *)room - WS101__CONN_ROOM_OFF));
}

/* The descriptor of a socket connection (not for stream transports). */
#define CONN_FD(c) ((c)->io.poll.io_watcher.fd)

static void io_cb(uv_poll_t *h, int status, int events);

/* Makes the watcher watch what the flags want: readable while reading,
 * writable while a write waits or a connect is pending. Only a change
 * reaches libuv (and the kernel's epoll set at the next poll). */
static void poll_update(ws101__conn *c) {
  uint32_t want = 0, have;
  if (c->flags & WS101__CONN_CLOSING) return;
  if (c->flags & WS101__CONN_READING) want |= UV_READABLE;
  if (c->flags & (WS101__CONN_WRITING | WS101__CONN_CONNECTING))
    want |= UV_WRITABLE;
  have = (c->flags >> WS101__CONN_POLL_SHIFT) & 3u;
  if (want == have) return;
  if (want != 0)
    uv_poll_start(&c->io.poll, (int)want, io_cb);
  else
    uv_poll_stop(&c->io.poll);
  c->flags = (c->flags & ~(WS101__CONN_POLL_R | WS101__CONN_POLL_W)) |
             (want << WS101__CONN_POLL_SHIFT);
}

static void finish_end(ws101__conn *c);
static void flush(ws101__conn *c, int may_drain);

/* The peer's stream ended: a FIN, a read error, or (TLS) close_notify. */
void ws101__conn_peer_ended(ws101__conn *c, int err) {
  c->flags &= ~WS101__CONN_READING;
  if (c->vt == NULL) poll_update(c);
  c->flags |= WS101__CONN_READ_EOF;
  if (c->flags & WS101__CONN_ENDING) {
    /* We already said goodbye; the peer's FIN completes it. */
    if (!(c->flags & (WS101__CONN_WRITING)) || err != WS101_EEOF)
      ws101__conn_close(c, 0);
    return;
  }
  c->proto->on_read_end(c, err);
}

/* Bytes from the socket, in the loop's read buffer. */
static void got_bytes(ws101__conn *c, char *data, size_t n) {
  if (c->flags & WS101__CONN_ENDING) return; /* discard after our end */
  if (c->tls != NULL) {
    ws101__tls_input(c, data, n);
  } else {
    c->flags |= WS101__CONN_IN_READ;
    c->proto->on_read(c, data, n);
    c->flags &= ~WS101__CONN_IN_READ;
  }
  if (!(c->flags & WS101__CONN_CLOSING)) flush(c, 1);
}

static void got_end(ws101__conn *c, int err) {
  /* Over TLS a FIN without close_notify may be an attacker cutting the
   * stream short: say so instead of passing it off as an orderly end. */
  if (c->tls != NULL && err == WS101_EEOF &&
      ws101__tls_handshake_done(c->tls) && !ws101__tls_peer_notified(c->tls))
    err = WS101_ETLS;
  ws101__conn_peer_ended(c, err);
}

/* UV_READABLE: read until the kernel has no more (a short read says so)
 * or 32 full buffers went by (fairness with the other connections: the
 * poll is level-triggered and comes back), as libuv's own stream does.
 * libuv dispatches one handle at a time, so one buffer per loop serves
 * every connection. */
static void read_ready(ws101__conn *c) {
  char *buf = c->loop->rbuf;
  size_t want = ws101__read_size(WS101__READ_BUF_SIZE);
  int fd = CONN_FD(c), count = 32;
  while (count-- > 0 && (c->flags & WS101__CONN_READING) &&
         !(c->flags & WS101__CONN_CLOSING)) {
    ssize_t n;
    do n = recv(fd, buf, want, 0);
    while (n < 0 && errno == EINTR);
    if (n > 0) {
      got_bytes(c, buf, (size_t)n);
      if ((size_t)n < want) return;
      continue;
    }
    if (n == 0) {
      got_end(c, WS101_EEOF);
      return;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    got_end(c, ws101__uv_err(-errno));
    return;
  }
}

static void write_ready(ws101__conn *c);
static void connect_ready(ws101__conn *c);

/* status < 0 is libuv seeing POLLERR: it has stopped the watcher. What
 * the socket holds is read first (data before a reset, as recv gives
 * them), then the pending error ends what still waits on it. */
static void io_error(ws101__conn *c) {
  int err = 0;
  socklen_t len = sizeof(err);
  c->flags &= ~(WS101__CONN_POLL_R | WS101__CONN_POLL_W);
  if (c->flags & WS101__CONN_CONNECTING) {
    connect_ready(c);
    return;
  }
  if (c->flags & WS101__CONN_READING) read_ready(c);
  if (c->flags & WS101__CONN_CLOSING) return;
  if (getsockopt(CONN_FD(c), SOL_SOCKET, SO_ERROR, &err, &len) != 0 ||
      err == 0)
    err = EPIPE;
  if (c->flags & WS101__CONN_READING) {
    got_end(c, ws101__uv_err(-err));
    if (c->flags & WS101__CONN_CLOSING) return;
  }
  if (c->flags & WS101__CONN_WRITING) {
    ws101__conn_close(c, ws101__uv_err(-err));
    return;
  }
  poll_update(c);
}

static void io_cb(uv_poll_t *h, int status, int events) {
  ws101__conn *c = (ws101__conn *)(void *)h;
  if (status < 0) {
    io_error(c);
    return;
  }
  if (c->flags & WS101__CONN_CONNECTING) {
    if (events & UV_WRITABLE) connect_ready(c);
    return;
  }
  if ((events & UV_READABLE) && (c->flags & WS101__CONN_READING)) {
    read_ready(c);
    if (c->flags & WS101__CONN_CLOSING) return;
  }
  if ((events & UV_WRITABLE) && (c->flags & WS101__CONN_WRITING))
    write_ready(c);
}

int ws101__conn_start(ws101__conn *c) {
  if (c->flags & (WS101__CONN_CLOSING | WS101__CONN_READING)) return 0;
  if (c->flags & (WS101__CONN_PAUSED | WS101__CONN_READ_EOF)) return 0;
  if (c->flags & WS101__CONN_OUT_FULL) return 0; /* conn_flow.c resumes */
  c->flags |= WS101__CONN_READING;
  if (c->vt != NULL) {
    c->vt->read_ctl(c, 1);
    return 0;
  }
  poll_update(c);
  return 0;
}

/* Reading stops (pause, output over the limit). */
void ws101__conn_read_stop(ws101__conn *c) {
  c->flags &= ~WS101__CONN_READING;
  if (c->vt == NULL) poll_update(c);
}

void ws101__conn_set_proto(ws101__conn *c, const ws101__proto *proto,
                           void *proto_data) {
  c->proto = proto;
  c->proto_data = proto_data;
}

/* Output buffers of this size are lent from a per-loop pool and returned
 * as soon as they empty, so an idle connection holds no output memory and
 * a busy one does not call malloc per flush. Bigger ones are plain heap. */
#define OUT_UNIT (16 * 1024)
#define OUT_POOL_MAX 64

static char *pool_get(ws101_loop *loop) {
  char *b = loop->out_pool;
  if (b == NULL) return malloc(OUT_UNIT);
  memcpy(&loop->out_pool, b, sizeof(char *));
  loop->out_pool_len--;
  return b;
}

static void pool_put(ws101_loop *loop, char *b) {
  if (loop->out_pool_len >= OUT_POOL_MAX) {
    free(b);
    return;
  }
  memcpy(b, &loop->out_pool, sizeof(char *));
  loop->out_pool = b;
  loop->out_pool_len++;
}

void ws101__conn_pool_free(ws101_loop *loop) {
  while (loop->out_pool != NULL) {
    char *b = loop->out_pool;
    memcpy(&loop->out_pool, b, sizeof(char *));
    free(b);
  }
  loop->out_pool_len = 0;
}

/* The slow half of out_room: reclaims consumed space or grows. */
static int out_grow(ws101_loop *loop, ws101__outbuf *o, size_t n) {
  /* Usual: the buffer was released when it emptied; take a pooled one. */
  if (o->data == NULL && n <= OUT_UNIT) {
    o->data = pool_get(loop);
    if (o->data == NULL) return WS101_ENOMEM;
    o->cap = OUT_UNIT;
    o->off = o->len = 0;
    return 0;
  }
  if (o->off > 0 && o->off == o->len) o->off = o->len = 0;
  if (n > o->cap - o->len) {
    size_t live = o->len - o->off, cap;
    char *d;
    /* Reclaim consumed space first: cheaper than growing. */
    if (o->off > 0 && n <= o->cap - live) {
      memmove(o->data, o->data + o->off, live);
      o->off = 0;
      o->len = live;
    } else {
      cap = o->cap ? o->cap * 2 : OUT_UNIT;
      while (cap - live < n) cap *= 2;
      d = cap == OUT_UNIT ? pool_get(loop) : malloc(cap);
      if (d == NULL) return WS101_ENOMEM;
      if (live) memcpy(d, o->data + o->off, live);
      if (o->data != NULL) {
        if (o->cap == OUT_UNIT)
          pool_put(loop, o->data);
        else
          free(o->data);
      }
      o->data = d;
      o->cap = cap;
      o->off = 0;
      o->len = live;
    }
  }
  return 0;
}

/* Makes room for `n` more bytes at o->data + o->len. The common case, room
 * left, is one compare (bytes already sent before o->off stay until the
 * buffer empties, which releases it anyway). */
static int out_room(ws101_loop *loop, ws101__outbuf *o, size_t n) {
  if (n <= o->cap - o->len) return 0;
  return out_grow(loop, o, n);
}

static int out_append(ws101_loop *loop, ws101__outbuf *o, const char *p,
                      size_t n) {
  if (out_room(loop, o, n) != 0) return WS101_ENOMEM;
  memcpy(o->data + o->len, p, n);
  o->len += n;
  return 0;
}

int ws101__outbuf_append(ws101_loop *loop, ws101__outbuf *o, const char *p,
                         size_t n) {
  return out_append(loop, o, p, n);
}

static void out_release(ws101_loop *loop, ws101__outbuf *o) {
  o->off = o->len = 0;
  if (o->data == NULL) return;
  if (o->cap == OUT_UNIT)
    pool_put(loop, o->data);
  else
    free(o->data);
  o->data = NULL;
  o->cap = 0;
}

void ws101__outbuf_release(ws101_loop *loop, ws101__outbuf *o) {
  out_release(loop, o);
}

int ws101__outbuf_reserve(ws101_loop *loop, ws101__outbuf *o, size_t n) {
  return out_room(loop, o, n);
}

static void mark_dirty(ws101__conn *c) {
  if (c->flags & WS101__CONN_DIRTY) return;
  c->flags |= WS101__CONN_DIRTY;
  c->next_dirty = c->loop->dirty;
  c->loop->dirty = c;
}

/* Both run for every message (backpressure and out_limit checks): inlined,
 * they cost a few loads, not a call. */
__attribute__((always_inline)) static inline size_t
corked(const ws101__conn *c) {
  return c->x != NULL ? c->x->out.len - c->x->out.off : 0;
}

__attribute__((always_inline)) static inline size_t
buffered(const ws101__conn *c) {
  size_t n = 0;
  if (c->x != NULL) {
    n = c->x->out.len - c->x->out.off;
    /* inflight holds bytes only while WRITING (flush sets both). */
    if (c->flags & WS101__CONN_WRITING)
      n += c->x->inflight.len - c->x->inflight.off;
  }
  if (c->tls != NULL) {
    const ws101__outbuf *o = ws101__tls_cipher(c->tls);
    n += o->len - o->off;
  }
  return n;
}

/* New bytes are in `out`: flush now if the cork is full, else at the end
 * of the read being dispatched or of the iteration. A TCP or TLS
 * connection inside its own on_read is flushed by its reader right after
 * (read_cb, ws101__conn_flush_from_loop), so it need not also go on the
 * loop's list, whose walk would only find it empty again. */
static void queued(ws101__conn *c) {
  if (c->flags & WS101__CONN_IN_READ) {
    if (c->vt != NULL) mark_dirty(c);
  } else if (corked(c) >= CORK_FLUSH_AT) {
    ws101__conn_flush(c);
  } else {
    mark_dirty(c);
  }
  /* ws101__flow_queued's own first checks, here to spare the call. */
  if (!(c->flags & (WS101__CONN_CLOSING | WS101__CONN_OUT_FULL)) &&
      c->out_limit != 0 && buffered(c) > c->out_limit)
    ws101__flow_queued(c);
}

/* send(2) results as libuv codes. MSG_NOSIGNAL: a reset peer cannot
 * raise SIGPIPE. */
static int sent(ssize_t w) {
  if (w >= 0) return w > INT32_MAX ? INT32_MAX : (int)w;
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
    return UV_EAGAIN;
  return -errno; /* libuv's codes on Unix are negated errno values */
}

/* Several buffers (a frame header and its payload) in one sendmsg. Apart
 * from ws101__sock_send, whose one-buffer case then needs no stack frame. */
static int send_iov(int fd, const uv_buf_t *bufs, unsigned n) {
  struct iovec iov[8];
  struct msghdr m;
  ssize_t w;
  unsigned i;
  if (n > 8) n = 8; /* the rest goes with the next write */
  memset(&m, 0, sizeof m);
  for (i = 0; i < n; i++) {
    iov[i].iov_base = bufs[i].base;
    iov[i].iov_len = bufs[i].len;
  }
  m.msg_iov = iov;
  m.msg_iovlen = n;
  do w = sendmsg(fd, &m, MSG_NOSIGNAL);
  while (w < 0 && errno == EINTR);
  return sent(w);
}

int ws101__sock_send(int fd, const uv_buf_t *bufs, unsigned n) {
  ssize_t w;
  if (n != 1) return send_iov(fd, bufs, n);
  do w = send(fd, bufs[0].base, bufs[0].len, MSG_NOSIGNAL);
  while (w < 0 && errno == EINTR);
  return sent(w);
}

/* Returns bytes written, UV_EAGAIN or a negative libuv error. */
static int sock_try_write(ws101__conn *c, const uv_buf_t *bufs, unsigned n) {
  if (ws101__faults.write_max != 0)
    return ws101__try_write(CONN_FD(c), bufs, n);
  return ws101__sock_send(CONN_FD(c), bufs, n);
}

void ws101__conn_write_now(ws101__conn *c, const char *p, size_t n) {
  uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
  /* Not behind bytes already waiting: they would be overtaken. */
  if (c->vt != NULL || (c->flags & (WS101__CONN_CLOSING | WS101__CONN_WRITING |
                                    WS101__CONN_CONNECTING)))
    return;
  (void)sock_try_write(c, &b, 1);
}

int ws101__conn_write(ws101__conn *c, const uv_buf_t *bufs, unsigned n) {
  size_t total = 0, skip = 0;
  unsigned i;
  int rc;
  if (c->flags & (WS101__CONN_CLOSING | WS101__CONN_SHUTDOWN))
    return WS101_ECLOSED;
  for (i = 0; i < n; i++) total += bufs[i].len;
  if (total == 0) return 0;
  if (total >= ZERO_COPY_MIN && c->vt == NULL && c->tls == NULL &&
      !(c->flags & (WS101__CONN_WRITING | WS101__CONN_CONNECTING)) &&
      corked(c) == 0) {
    int w = sock_try_write(c, bufs, n);
    if (w > 0) skip = (size_t)w;
    else if (w != UV_EAGAIN && w != UV_ENOSYS) {
      ws101__conn_close(c, ws101__uv_err(w));
      return WS101_ECLOSED;
    }
    if (skip == total) return 0;
  }
  if (total >= ZERO_COPY_MIN && c->tls != NULL && c->vt == NULL) {
    /* TLS: encrypted straight from the caller's bytes (no cork copy). */
    rc = ws101__tls_write_direct(c, bufs, n);
    if (rc < 0) return rc == WS101_ENOMEM ? rc : WS101_ECLOSED;
    if (rc > 0) {
      queued(c);
      return 0;
    }
  }
  if (x_get(c) == NULL) {
    ws101__conn_close(c, WS101_ENOMEM);
    return WS101_ENOMEM;
  }
  for (i = 0; i < n; i++) {
    size_t len = bufs[i].len;
    if (skip >= len) {
      skip -= len;
      continue;
    }
    rc = out_append(c->loop, &c->x->out, bufs[i].base + skip, len - skip);
    skip = 0;
    if (rc != 0) {
      ws101__conn_close(c, rc);
      return rc;
    }
  }
  queued(c);
  return 0;
}

/* Space is handed out only in the cork buffer: never zero-copy, because
 * the caller builds the bytes there (masking) instead of copying them. */
char *ws101__conn_reserve(ws101__conn *c, size_t n) {
  int rc;
  if (c->flags & (WS101__CONN_CLOSING | WS101__CONN_SHUTDOWN)) return NULL;
  rc = x_get(c) != NULL ? out_room(c->loop, &c->x->out, n) : WS101_ENOMEM;
  if (rc != 0) {
    ws101__conn_close(c, rc);
    return NULL;
  }
  return c->x->out.data + c->x->out.len;
}

int ws101__conn_write_small(ws101__conn *c, const char *hdr, size_t hn,
                            const char *data, size_t len) {
  ws101__conn_x *x;
  char *p;
  size_t i;
  int rc;
  if (c->flags & (WS101__CONN_CLOSING | WS101__CONN_SHUTDOWN))
    return WS101_ECLOSED;
  x = x_get(c);
  rc = x != NULL ? out_room(c->loop, &x->out, hn + len) : WS101_ENOMEM;
  if (rc != 0) {
    ws101__conn_close(c, rc);
    return rc;
  }
  p = x->out.data + x->out.len;
  if (hn == 2) { /* a server frame up to 125 bytes: the usual */
    p[0] = hdr[0];
    p[1] = hdr[1];
  } else {
    for (i = 0; i < hn; i++) p[i] = hdr[i]; /* up to 14: no memcpy call */
  }
  if (len) memcpy(p + hn, data, len);
  x->out.len += hn + len;
  queued(c);
  return 0;
}

void ws101__conn_commit(ws101__conn *c, size_t n) {
  if (n == 0 || (c->flags & (WS101__CONN_CLOSING | WS101__CONN_SHUTDOWN)))
    return;
  c->x->out.len += n; /* reserve created c->x */
  queued(c);
}

void ws101__conn_flush(ws101__conn *c) { flush(c, 0); }

/* The loop's per-iteration flush: the one place where a queue that empties
 * synchronously reports drain, outside any application call. */
void ws101__conn_flush_from_loop(ws101__conn *c) {
  /* Ciphertext kept while reading was paused is decrypted here, in loop
   * context, once the protocol resumed (never inside ws101__conn_resume,
   * which applications call). */
  if (c->tls != NULL && ws101__tls_has_input(c->tls) &&
      !(c->flags & (WS101__CONN_PAUSED | WS101__CONN_ENDING))) {
    ws101__tls_input(c, NULL, 0);
    if (c->flags & WS101__CONN_CLOSING) return;
  }
  flush(c, 1);
}

static void flush_out(ws101__conn *c, int may_drain);

/* Whatever the flush did, an idle transport gives its pending-write
 * state back (x_drop keeps it while anything is queued or waiting). */
static void flush(ws101__conn *c, int may_drain) {
  if (c->flags & (WS101__CONN_CLOSING | WS101__CONN_WRITING |
                  WS101__CONN_CONNECTING))
    return;
  flush_out(c, may_drain);
  if (c->x != NULL && !(c->flags & WS101__CONN_CLOSING)) x_drop(c);
}

static ws101__outbuf no_output; /* an empty cork buffer while c->x is NULL */

static void flush_out(ws101__conn *c, int may_drain) {
  uv_buf_t b;
  int w;
  ws101__outbuf tmp, *o = c->x != NULL ? &c->x->out : &no_output;
  if (c->vt != NULL) {
    if (o->len == o->off) {
      if (c->flags & WS101__CONN_ENDING)
        finish_end(c);
      else if (may_drain && c->proto->on_drain != NULL)
        c->proto->on_drain(c); /* the stream took everything (take) */
      return;
    }
    c->vt->flush(c); /* the stream pulls with ws101__conn_take */
    return;
  }
  if (c->tls != NULL) {
    /* The cork buffer becomes records in `cipher`, which is what the
     * socket gets; with TLS `out` only ever holds plaintext. */
    if (ws101__tls_encrypt(c, (c->flags & WS101__CONN_ENDING) != 0) != 0)
      return;
    o = ws101__tls_cipher(c->tls);
  }
  if (o->len == o->off) {
    if (c->flags & WS101__CONN_ENDING)
      finish_end(c);
    else if (may_drain && (c->flags & WS101__CONN_DRAIN_OWED) &&
             corked(c) == 0) {
      c->flags &= ~WS101__CONN_DRAIN_OWED;
      if (c->proto->on_drain != NULL) c->proto->on_drain(c);
    }
    return;
  }
  b.base = o->data + o->off;
  b.len = o->len - o->off;
  w = sock_try_write(c, &b, 1);
  if (w < 0 && w != UV_EAGAIN && w != UV_ENOSYS) {
    ws101__conn_close(c, ws101__uv_err(w));
    return;
  }
  if (w > 0) o->off += (size_t)w;
  if (o->off == o->len) {
    out_release(c->loop, o);
    /* Plaintext held back until the handshake completes is not drained. */
    if (corked(c) != 0) return;
    /* (ws101__flow_emptied has nothing to do without a send deadline or
     * a stop of reading: spare the call.) */
    if (((c->x != NULL && c->x->send_deadline != 0) ||
         (c->flags & WS101__CONN_OUT_FULL)) &&
        ws101__flow_emptied(c) && !may_drain) {
      /* Reading resumed where the protocol cannot be called back: the
       * loop's flush owes it the drain. */
      c->flags |= WS101__CONN_DRAIN_OWED;
      mark_dirty(c);
    }
    if (c->flags & WS101__CONN_ENDING)
      finish_end(c);
    else if (may_drain && c->proto->on_drain != NULL)
      c->proto->on_drain(c);
    return;
  }
  /* The kernel is full: keep the rest for UV_WRITABLE and collect new
   * writes in the other buffer meanwhile (double buffering, no copy). */
  if (x_get(c) == NULL) {
    ws101__conn_close(c, WS101_ENOMEM);
    return;
  }
  tmp = c->x->inflight;
  c->x->inflight = *o;
  *o = tmp;
  o->off = o->len = 0;
  c->flags |= WS101__CONN_WRITING;
  poll_update(c);
  ws101__flow_waiting(c);
}

static void write_done(ws101__conn *c, int status);

/* UV_WRITABLE while bytes wait: as much as the kernel takes now. */
static void write_ready(ws101__conn *c) {
  ws101__outbuf *in = &c->x->inflight;
  uv_buf_t b = uv_buf_init(in->data + in->off, (unsigned)(in->len - in->off));
  int w = sock_try_write(c, &b, 1);
  if (w == UV_EAGAIN) return;
  if (w < 0) {
    write_done(c, w);
    return;
  }
  in->off += (size_t)w;
  if (in->off == in->len) write_done(c, 0);
}

/* Everything that waited was written (status 0) or the socket failed. */
static void write_done(ws101__conn *c, int status) {
  c->flags &= ~WS101__CONN_WRITING;
  out_release(c->loop, &c->x->inflight);
  if (status < 0) {
    ws101__conn_close(c, ws101__uv_err(status));
    return;
  }
  ws101__flow_written(c);
  x_drop(c);
  if (ws101__conn_buffered(c) > 0) {
    ws101__conn_flush(c);
    if (c->flags & (WS101__CONN_WRITING | WS101__CONN_CLOSING)) return;
  }
  poll_update(c); /* nothing waits: stop watching for writable */
  ws101__flow_emptied(c);
  c->flags &= ~WS101__CONN_DRAIN_OWED;
  if (c->flags & WS101__CONN_ENDING) {
    finish_end(c);
    return;
  }
  if (c->proto->on_drain != NULL) c->proto->on_drain(c);
}

void ws101__conn_want_drain(ws101__conn *c) {
  if (c->flags & WS101__CONN_CLOSING) return;
  if (ws101__conn_buffered(c) > 0) return; /* the queue's end reports it */
  c->flags |= WS101__CONN_DRAIN_OWED;
  mark_dirty(c);
}

size_t ws101__conn_buffered(const ws101__conn *c) { return buffered(c); }
size_t ws101__conn_corked(const ws101__conn *c) { return corked(c); }

ws101__outbuf *ws101__conn_cork(ws101__conn *c) {
  return x_get(c) != NULL ? &c->x->out : NULL;
}

void ws101__conn_pause(ws101__conn *c) {
  c->flags |= WS101__CONN_PAUSED;
  if (c->vt != NULL) {
    c->flags &= ~WS101__CONN_READING;
    return;
  }
  ws101__conn_read_stop(c);
}

void ws101__conn_resume(ws101__conn *c) {
  c->flags &= ~WS101__CONN_PAUSED;
  if (c->flags & WS101__CONN_CLOSING) return;
  if (c->tls != NULL && ws101__tls_has_input(c->tls)) mark_dirty(c);
  ws101__conn_start(c);
}

void ws101__conn_set_deadline(ws101__conn *c, uint64_t ms) {
  c->deadline = 0;
  if (ms != 0 && !(c->flags & WS101__CONN_CLOSING))
    c->deadline = uv_now(c->loop->uv) + ms;
  ws101__conn_timed_update(c);
}

/* Runs from the loop's sweep timer. Expired connections are collected
 * first (on their own link, so that a handler re-arming any connection
 * cannot break the walk) because a timeout handler may close or re-arm
 * any connection. */
static uint64_t send_deadline(const ws101__conn *c) {
  return c->x != NULL ? c->x->send_deadline : 0;
}

void ws101__conn_sweep(ws101_loop *loop) {
  uint64_t now = uv_now(loop->uv);
  ws101__conn *c;
  size_t n = 0, i;
  for (c = loop->timed; c != NULL; c = c->tnext) {
    if ((c->deadline != 0 && c->deadline <= now) ||
        (send_deadline(c) != 0 && send_deadline(c) <= now)) {
      if (n == loop->texp_cap) {
        /* Out of memory: the rest waits for the next sweep. */
        size_t cap = n ? n * 2 : 64;
        ws101__conn **a = realloc(loop->texp, cap * sizeof(*a));
        if (a == NULL) break;
        loop->texp = a;
        loop->texp_cap = cap;
      }
      loop->texp[n++] = c;
    }
  }
  for (i = 0; i < n; i++) {
    int send_exp, proto_exp;
    c = loop->texp[i];
    if (c->flags & WS101__CONN_CLOSING) continue;
    send_exp = send_deadline(c) != 0 && send_deadline(c) <= now;
    proto_exp = c->deadline != 0 && c->deadline <= now;
    if (send_exp) {
      ws101__flow_send_expired(c, now);
      if (c->flags & WS101__CONN_CLOSING) continue;
      x_drop(c);
    }
    if (!proto_exp) continue; /* re-armed by an earlier handler */
    c->deadline = 0;
    ws101__conn_timed_update(c);
    if (c->flags & WS101__CONN_ENDING)
      ws101__conn_close(c, 0);
    else if (c->tls != NULL && !ws101__tls_handshake_done(c->tls) &&
             !(c->flags & WS101__CONN_CLIENT))
      ws101__conn_close(c, WS101_ETIMEDOUT); /* a stalled handshake */
    else if (c->proto->on_timeout != NULL)
      c->proto->on_timeout(c);
    else
      ws101__conn_close(c, WS101_ETIMEDOUT);
  }
}

/* Everything queued is written: send FIN and keep reading (discarding)
 * until the peer's FIN, so the kernel does not answer its late bytes with
 * a reset that would destroy our last response in flight. */
static void finish_end(ws101__conn *c) {
  if (c->flags & WS101__CONN_SHUTDOWN) return;
  c->flags |= WS101__CONN_SHUTDOWN;
  if (c->vt != NULL) {
    c->vt->end(c);
    return;
  }
  /* Close at once if the peer's FIN already came or the shutdown failed;
   * else when it arrives (ws101__conn_peer_ended), and the linger deadline
   * covers silent peers. */
  if ((c->flags & WS101__CONN_READ_EOF) || shutdown(CONN_FD(c), SHUT_WR) != 0) {
    ws101__conn_close(c, 0);
    return;
  }
  c->flags &= ~WS101__CONN_PAUSED;
  if (!(c->flags & WS101__CONN_READ_EOF)) ws101__conn_start(c);
}

void ws101__conn_end(ws101__conn *c, uint64_t linger_ms) {
  if (c->flags & (WS101__CONN_CLOSING | WS101__CONN_ENDING)) return;
  c->flags |= WS101__CONN_ENDING;
  ws101__conn_set_deadline(c, linger_ms ? linger_ms : 5000);
  if (!(c->flags & WS101__CONN_WRITING)) ws101__conn_flush(c);
}

static void close_cb(uv_handle_t *h) {
  ws101__conn *c = (ws101__conn *)(void *)h;
  ws101__conn_owner *owner = c->owner;
  ws101_loop *loop = c->loop;
  if (c->flags & WS101__CONN_DIRTY) {
    ws101__conn **pp = &loop->dirty;
    while (*pp != NULL && *pp != c) pp = &(*pp)->next_dirty;
    if (*pp == c) *pp = c->next_dirty;
  }
  loop->nconns--;
  if (c->proto != NULL && c->proto->on_close != NULL)
    c->proto->on_close(c, c->close_err);
  if (c->x != NULL) {
    out_release(loop, &c->x->out);
    out_release(loop, &c->x->inflight);
    req_put(loop, c->x);
    c->x = NULL;
  }
  ws101__tls_free(loop, c->tls);
  c->tls = NULL;
  /* A handle in the room that is still referenced keeps the block, and
   * frees it with its last reference (ws101__conn_room_release). */
  if (atomic_load(&c->room_refs) != 0)
    room_unref(c);
  else
    free(c);
  if (owner != NULL && owner->closed != NULL) owner->closed(owner);
}

void ws101__conn_close(ws101__conn *c, int err) {
  if (c->flags & WS101__CONN_CLOSING) return;
  c->flags |= WS101__CONN_CLOSING;
  c->flags &= ~WS101__CONN_READING;
  c->close_err = err;
  untime(c);
  if (c->vt != NULL) c->vt->close(c, err);
  if (uv_handle_get_type((uv_handle_t *)&c->io) == UV_POLL) {
    /* uv_close takes the descriptor out of the epoll set at once, so it
     * may go now (as a uv_tcp_t's would): the peer sees the end without
     * waiting for the close callback. */
    int fd = CONN_FD(c);
    uv_close((uv_handle_t *)&c->io, close_cb);
    close(fd);
  } else {
    uv_close((uv_handle_t *)&c->io, close_cb);
  }
}

void ws101__conn_keep_loop_alive(ws101__conn *c, int on) {
  if (on)
    uv_ref((uv_handle_t *)&c->io);
  else
    uv_unref((uv_handle_t *)&c->io);
}

void ws101__conn_peer(const ws101__conn *c, char *buf, size_t size) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  char ip[64];
  buf[0] = '\0';
  if (c->vt != NULL) {
    c->vt->peer(c, buf, size);
    return;
  }
  if (getpeername(CONN_FD(c), (struct sockaddr *)&ss, &len) != 0) return;
  if (ss.ss_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
    uv_ip6_name(a, ip, sizeof(ip));
    snprintf(buf, size, "[%s]:%u", ip, (unsigned)ntohs(a->sin6_port));
  } else {
    const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
    uv_ip4_name(a, ip, sizeof(ip));
    snprintf(buf, size, "%s:%u", ip, (unsigned)ntohs(a->sin_port));
  }
}

/* ---- stream transports (conn.h) ----------------------------------------- */

ws101__conn *ws101__conn_new_stream(ws101_loop *loop, const ws101__conn_vt *vt,
                                    void *vt_data) {
  ws101__conn *c = ws101__conn_new(loop, NULL, NULL, -1);
  if (c == NULL) return NULL;
  c->vt = vt;
  c->vt_data = vt_data;
  return c;
}

size_t ws101__conn_take(ws101__conn *c, char *buf, size_t max) {
  ws101__outbuf *o = c->x != NULL ? &c->x->out : &no_output;
  size_t n = o->len - o->off;
  if (n > max) n = max;
  if (n == 0) return 0;
  memcpy(buf, o->data + o->off, n);
  o->off += n;
  if (o->off == o->len) {
    out_release(c->loop, o);
    x_drop(c);
    /* Ending: this was the last output, the stream may end with it. */
    if (c->flags & WS101__CONN_ENDING)
      c->flags |= WS101__CONN_SHUTDOWN;
    else
      mark_dirty(c); /* the loop reports drain, outside the HTTP/2 call */
  }
  return n;
}

void ws101__conn_deliver(ws101__conn *c, char *data, size_t len) {
  if (c->flags & (WS101__CONN_ENDING | WS101__CONN_CLOSING)) return;
  c->flags |= WS101__CONN_IN_READ;
  c->proto->on_read(c, data, len);
  c->flags &= ~WS101__CONN_IN_READ;
  if (!(c->flags & WS101__CONN_CLOSING)) flush(c, 1);
}

void ws101__conn_deliver_eof(ws101__conn *c) {
  if (c->flags & (WS101__CONN_CLOSING | WS101__CONN_READ_EOF)) return;
  c->flags &= ~WS101__CONN_READING;
  c->flags |= WS101__CONN_READ_EOF;
  if (c->flags & WS101__CONN_ENDING) {
    ws101__conn_close(c, 0);
    return;
  }
  c->proto->on_read_end(c, WS101_EEOF);
}

/* ---- client connect ------------------------------------------------------ */

int ws101__conn_connect(ws101_loop *loop, const ws101__proto *proto,
                        void *proto_data, const struct sockaddr *sa,
                        ws101__conn **out) {
  socklen_t len = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                            : sizeof(struct sockaddr_in);
  ws101__conn *c;
  int fd, rc;
  *out = NULL;
  fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  do rc = connect(fd, sa, len);
  while (rc != 0 && errno == EINTR);
  if (rc != 0 && errno != EINPROGRESS) {
    rc = -errno;
    close(fd);
    return rc;
  }
  c = ws101__conn_new(loop, proto, proto_data, fd);
  if (c == NULL) {
    close(fd);
    return UV_ENOMEM;
  }
  /* Writable means connected or failed (SO_ERROR says which); an
   * immediate success goes the same way, so the callback is never
   * re-entrant. */
  c->flags |= WS101__CONN_CLIENT | WS101__CONN_CONNECTING;
  poll_update(c);
  *out = c;
  return 0;
}

static void connect_ready(ws101__conn *c) {
  int err = 0;
  socklen_t len = sizeof(err);
  if (getsockopt(CONN_FD(c), SOL_SOCKET, SO_ERROR, &err, &len) != 0)
    err = errno;
  if (err == EINPROGRESS || err == EALREADY) { /* not yet */
    poll_update(c);
    return;
  }
  c->flags &= ~WS101__CONN_CONNECTING;
  poll_update(c);
  ws101__connect_done(c, err ? -err : 0);
}

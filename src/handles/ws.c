/* ws.c - WebSocket glue: the engine on a connection, the close handshake,
 * keep-alive, sending, and the public ws101_ws_* functions.
 *
 * Close handshake (RFC 6455 7.1): whoever closes first sends a close frame
 * and waits for the echo. The server ends TCP once both close frames have
 * passed; the client waits for the server to end it. Every wait is bounded
 * by ws_close_timeout_ms. The CLOSE event comes from the connection's
 * on_close, so it is delivered exactly once and always last. */
#include "handles/ws.h"

#include "core/random.h"
#include "proto/utf8.h"
#include "proto/ws_frame.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* A handle may live in a connection's room (ws101__ws_new). */
_Static_assert(_Alignof(ws101_ws) <= WS101__CONN_ROOM_ALIGN,
               "ws101_ws needs more alignment than a connection's room has");

/* The single connection deadline is multiplexed between these. */
enum { T_NONE = 0, T_PING, T_PONG, T_CLOSE };

/* Compression output above this size is not kept between messages. */
#define SCRATCH_KEEP (256 * 1024)

/* This file's per-loop state (the loop's ws_scratch slot). Compressed
 * messages are produced in `scratch`: write_frame copies (or masks) them
 * into the connection before returning, so one buffer per loop serves
 * every connection. `eng` is the engines' context: the cache of receive
 * state blocks that connections hold only mid-frame or mid-message, and
 * the loop's shared deflate pair. (Per loop, not per thread: a
 * thread-local buffer leaks when the thread that ran the loop exits.) */
typedef struct loop_ws {
  ws101__wse_ctx eng; /* first: the read path casts the slot (loop_eng) */
  ws101__buf scratch;
} loop_ws;
_Static_assert(offsetof(loop_ws, eng) == 0, "loop_eng casts the slot");

static void free_loop_ws(void *p) {
  loop_ws *l = (loop_ws *)p;
  ws101__buf_free(&l->scratch);
  ws101__wse_ctx_clear(&l->eng);
  free(l);
}

static loop_ws *loop_ws_of(ws101_loop *loop) {
  if (loop->ws_scratch == NULL) {
    loop->ws_scratch = calloc(1, sizeof(loop_ws));
    if (loop->ws_scratch == NULL) return NULL;
    loop->ws_scratch_free = free_loop_ws;
  }
  return (loop_ws *)loop->ws_scratch;
}

/* The engines' context of a loop (attach made it; NULL only without
 * memory, which the engine copes with). Two loads on every read. */
static inline ws101__wse_ctx *loop_eng(const ws101_loop *loop) {
  return (ws101__wse_ctx *)loop->ws_scratch;
}

static ws101__wse_ctx *eng_ctx(const ws101_ws *ws) {
  return ws->loop != NULL ? loop_eng(ws->loop) : NULL;
}

static ws101__buf *loop_scratch(ws101_loop *loop) {
  loop_ws *l = loop_ws_of(loop);
  return l != NULL ? &l->scratch : NULL;
}

/* The handle's occasional state, created on first use (NULL: no memory). */
static ws101__ws_rare *rare(ws101_ws *ws) {
  if (ws->rare == NULL) ws->rare = calloc(1, sizeof(*ws->rare));
  return ws->rare;
}

static size_t pend_len(const ws101_ws *ws) {
  return ws->rare != NULL ? ws->rare->pend_len : 0;
}

static int writable(const ws101_ws *ws) {
  return ws->conn != NULL && !ws->close_sent &&
         !(ws->conn->flags & (WS101__CONN_CLOSING | WS101__CONN_ENDING |
                              WS101__CONN_SHUTDOWN));
}

static void deliver(ws101_ws *ws, int ev, const char *data, size_t len,
                    int arg) {
  if (ws->cb != NULL) ws->cb(ws, ev, data, len, arg, ws->cb_data);
}

static void arm(ws101_ws *ws, int kind, uint64_t ms) {
  ws->timer = (uint8_t)kind;
  if (ws->conn != NULL) ws101__conn_set_deadline(ws->conn, ms);
}

/* ------------------------------------------------------------------------ */
/* Frame output                                                             */

/* Payloads from this size on leave as {header, payload} through
 * ws101__conn_write, which sends them straight from the caller's bytes
 * when the socket takes them at once (its zero-copy threshold). */
#define WS_ZERO_COPY_MIN (16 * 1024)

/* Queues one frame. Small server frames are copied with their header into
 * the connection's cork buffer (one call, one room check); large ones go
 * zero-copy as {header, payload}. Clients mask the payload straight into
 * the cork buffer: one pass, one copy, whatever the size. */
static int write_frame(ws101_ws *ws, int opcode, int fin, int rsv1,
                       const char *data, size_t len) {
  ws101__conn *c = ws->conn;
  uint8_t hdr[WS101__WS_MAX_HDR], key[4];
  size_t hn;
  char *p;
  if (!ws->eng.is_client) {
    hn = ws101__ws_hdr_server(hdr, fin, rsv1, opcode, len);
    if (len >= WS_ZERO_COPY_MIN) {
      uv_buf_t b[2];
      b[0].base = (char *)hdr;
      b[0].len = hn;
      b[1].base = (char *)data;
      b[1].len = len;
      return ws101__conn_write(c, b, 2);
    }
    return ws101__conn_write_small(c, (const char *)hdr, hn, data, len);
  }
  if (c->flags & (WS101__CONN_CLOSING | WS101__CONN_SHUTDOWN))
    return WS101_ECLOSED;
  if (ws101__random_bytes(key, 4) != 0) return WS101_EIO;
  hn = ws101__ws_hdr_len(len, 1);
  /* NULL on an open connection: out of memory, and it is now closed. */
  p = ws101__conn_reserve(c, hn + len);
  if (p == NULL) return WS101_ENOMEM;
  ws101__ws_hdr_encode((uint8_t *)p, fin, rsv1, opcode, len, key);
  ws101__ws_mask_copy((uint8_t *)p + hn, (const uint8_t *)data, len, key);
  ws101__conn_commit(c, hn + len);
  return 0;
}

/* Sends a close frame (code 0 = no payload) and enters the closing state. */
static int send_close(ws101_ws *ws, unsigned code, const char *reason,
                      size_t rlen) {
  char p[125];
  size_t n = 0;
  int rc;
  if (code != 0) {
    if (rlen > 123) rlen = 123;
    p[0] = (char)(code >> 8);
    p[1] = (char)code;
    if (rlen) memcpy(p + 2, reason, rlen);
    n = 2 + rlen;
  }
  rc = write_frame(ws, WS101__WS_OP_CLOSE, 1, 0, p, n);
  ws->close_sent = 1;
  return rc;
}

/* Starts our side of the close handshake (application, shutdown, policy). */
static void start_close(ws101_ws *ws, unsigned code, const char *reason,
                        size_t rlen) {
  send_close(ws, code, reason, rlen);
  if (ws->conn != NULL && !(ws->conn->flags & WS101__CONN_CLOSING)) {
    arm(ws, T_CLOSE, ws->eng.opts->ws_close_timeout_ms);
    /* The handshake needs the peer's answer: a paused connection would
     * otherwise always end in the close timeout with 1006. */
    if (ws->paused) ws101_ws_resume(ws);
  }
}

static void set_reason(ws101_ws *ws, const char *r, size_t n, int copy) {
  ws101__ws_rare *x = ws->rare;
  if (x != NULL) {
    if (x->reason_owned) free(x->reason);
    x->reason = NULL;
    x->reason_len = 0;
    x->reason_owned = 0;
  }
  if (n == 0) return;
  /* The reason is informative only: without memory it is left out. */
  if ((x = rare(ws)) == NULL) return;
  if (n > 123) n = 123;
  if (copy) {
    x->reason = malloc(n);
    if (x->reason == NULL) return;
    memcpy(x->reason, r, n);
    x->reason_owned = 1;
  } else {
    x->reason = (char *)r;
  }
  x->reason_len = (uint8_t)n;
}

/* ------------------------------------------------------------------------ */
/* Engine events                                                            */

static void peer_closed(ws101_ws *ws, int code, const char *r, size_t n) {
  ws->close_rcvd = 1;
  if (!ws->failed) {
    ws->close_code = (uint16_t)code;
    set_reason(ws, r, n, 1);
  }
  /* Echo the peer's code (none if it sent none), without a reason. */
  if (!ws->close_sent) send_close(ws, code == 1005 ? 0 : (unsigned)code, NULL, 0);
  if (ws->conn == NULL || (ws->conn->flags & WS101__CONN_CLOSING)) return;
  if (!ws->eng.is_client) {
    ws->timer = T_NONE;
    ws101__conn_end(ws->conn, ws->eng.opts->ws_close_timeout_ms);
  } else {
    /* RFC 6455 7.1.1: the server closes TCP first, so its TIME_WAIT
     * lands on the server; we wait for that, bounded. */
    arm(ws, T_CLOSE, ws->eng.opts->ws_close_timeout_ms);
  }
}

static void failed(ws101_ws *ws, int code, const char *why, size_t n) {
  ws->failed = 1;
  ws->close_code = (uint16_t)code;
  set_reason(ws, why, n, 0); /* engine reasons are static strings */
  if (!ws->close_sent) send_close(ws, (unsigned)code, why, n);
  if (ws->conn == NULL || (ws->conn->flags & WS101__CONN_CLOSING)) return;
  ws->timer = T_NONE;
  ws101__conn_end(ws->conn, ws->eng.opts->ws_close_timeout_ms);
}

/* Pongs are owed whatever the queue holds (RFC 6455 5.5.2), so a peer that
 * sends pings but never reads could grow our send queue without bound.
 * Once a pong finds the queue at WS_MAX_BACKPRESSURE, reading stops until
 * the queue drains (ws_on_drain): the peer's pings then wait in its own
 * socket, and the queue stays below the limit + one pong. */
static void hold_reading(ws101_ws *ws) {
  if (ws->conn == NULL || ws->bp_paused ||
      ws101__conn_buffered(ws->conn) < ws->eng.opts->ws_max_backpressure)
    return;
  ws->bp_paused = 1;
  ws101__conn_pause(ws->conn);
}

static int on_event(void *ud, int ev, char *data, size_t len, int arg) {
  ws101_ws *ws = (ws101_ws *)ud;
  switch (ev) {
  case WS101_WS_PING:
    if (writable(ws)) {
      write_frame(ws, WS101__WS_OP_PONG, 1, 0, data, len);
      hold_reading(ws);
    }
    deliver(ws, ev, data, len, 0);
    break;
  case WS101_WS_PONG:
    if (ws->timer == T_PONG)
      arm(ws, T_PING, ws->eng.opts->ws_ping_interval_ms);
    deliver(ws, ev, data, len, 0);
    break;
  case WS101__WSE_CLOSE:
    peer_closed(ws, arg, data, len);
    break;
  case WS101__WSE_FAIL:
    failed(ws, arg, data, len);
    break;
  case WS101_WS_TEXT:
    /* The engine validated these bytes: an echo of exactly them (same
     * pointer, same length, during this callback) need not be validated
     * again by ws101_ws_send. */
    {
      /* Kept in the loop, not the handle: idle connections pay nothing,
       * and one callback runs at a time per loop (saved for nesting). */
      ws101_loop *l = ws->loop;
      const char *prev = l->rx_text;
      size_t prev_len = l->rx_text_len;
      l->rx_text = data;
      l->rx_text_len = len;
      deliver(ws, ev, data, len, arg);
      l->rx_text = prev;
      l->rx_text_len = prev_len;
    }
    break;
  default:
    deliver(ws, ev, data, len, arg);
    break;
  }
  /* Stop feeding once paused: the rest waits in `pend` for resume. */
  return ws->paused || ws->bp_paused || ws->conn == NULL ||
         (ws->conn->flags & WS101__CONN_CLOSING);
}

static int stash(ws101_ws *ws, const char *data, size_t len) {
  ws101__ws_rare *x = rare(ws);
  char *p;
  if (x == NULL) return -1;
  p = realloc(x->pend, x->pend_len + len);
  if (p == NULL) return -1;
  memcpy(p + x->pend_len, data, len);
  x->pend = p;
  x->pend_len += len;
  return 0;
}

/* Inlined: every read of a WebSocket comes through here. */
#if defined(__GNUC__)
__attribute__((always_inline))
#endif
static inline void feed(ws101_ws *ws, char *data, size_t len) {
  size_t n;
  if (ws->paused || ws->bp_paused || pend_len(ws)) {
    if (stash(ws, data, len) != 0) ws101__conn_close(ws->conn, WS101_ENOMEM);
    return;
  }
  ws->in_feed = 1;
  n = ws101__wse_feed(&ws->eng, loop_eng(ws->loop), data, len, on_event, ws);
  ws->in_feed = 0;
  if (n < len && (ws->paused || ws->bp_paused) && ws->conn != NULL &&
      !(ws->conn->flags & WS101__CONN_CLOSING)) {
    if (stash(ws, data + n, len - n) != 0)
      ws101__conn_close(ws->conn, WS101_ENOMEM);
  }
}

/* ------------------------------------------------------------------------ */
/* Connection protocol                                                      */

static void ws_on_read(ws101__conn *c, char *data, size_t len) {
  ws101_ws *ws = (ws101_ws *)c->proto_data;
  ws->last_rx = (uint32_t)uv_now(c->loop->uv);
  feed(ws, data, len);
}

static void ws_on_read_end(ws101__conn *c, int err) {
  ws101_ws *ws = (ws101_ws *)c->proto_data;
  if (ws->close_rcvd) {
    /* Handshake done and the server ended TCP, as expected: finish
     * gracefully so our echo still leaves. */
    ws->timer = T_NONE;
    ws101__conn_end(c, ws->eng.opts->ws_close_timeout_ms);
    return;
  }
  /* TCP ended without a close handshake: the CLOSE event says 1006. */
  ws101__conn_close(c, err == WS101_EEOF ? 0 : err);
}

static int resume_reading(ws101_ws *ws);

static void ws_on_drain(ws101__conn *c) {
  ws101_ws *ws = (ws101_ws *)c->proto_data;
  if (ws->finished) return;
  if (ws->bp_paused) { /* hold_reading: the queue is empty again */
    ws->bp_paused = 0;
    if (!ws->paused && resume_reading(ws) != 0) {
      ws101__conn_close(c, WS101_ENOMEM);
      return;
    }
  }
  if (!ws->want_drain || ws->conn == NULL) return;
  ws->want_drain = 0;
  deliver(ws, WS101_WS_DRAIN, "", 0, 0);
}

static void ws_on_timeout(ws101__conn *c) {
  ws101_ws *ws = (ws101_ws *)c->proto_data;
  const struct ws101_options *o = ws->eng.opts;
  int kind = ws->timer;
  ws->timer = T_NONE;
  if (ws->paused && (kind == T_PING || kind == T_PONG)) {
    /* A pong cannot be read while the application holds reading:
     * keep-alive waits until it resumes. */
    arm(ws, T_PING, o->ws_ping_interval_ms);
    return;
  }
  if (kind == T_PING) {
    uint32_t idle = (uint32_t)uv_now(c->loop->uv) - ws->last_rx;
    if (idle < o->ws_ping_interval_ms) {
      arm(ws, T_PING, o->ws_ping_interval_ms - idle);
      return;
    }
    if (writable(ws) && write_frame(ws, WS101__WS_OP_PING, 1, 0, "", 0) == 0)
      arm(ws, T_PONG, o->ws_pong_timeout_ms);
    return;
  }
  /* No pong, or no close handshake in time: drop (CLOSE says 1006 unless
   * a code is already known). */
  ws101__conn_close(c, WS101_ETIMEDOUT);
}

static void ws_on_shutdown(ws101__conn *c) {
  ws101_ws *ws = (ws101_ws *)c->proto_data;
  static const char why[] = "server shutting down";
  if (writable(ws)) start_close(ws, 1001, why, sizeof why - 1);
}

static void destroy(ws101_ws *ws) {
  if (ws101__ws_client_hooks(ws) != NULL && ws->rare->client_ops->free != NULL)
    ws->rare->client_ops->free(ws);
  ws101__wse_free(&ws->eng, NULL); /* any thread; finish() freed the rest */
  if (ws->rare != NULL) {
    if (ws->rare->reason_owned) free(ws->rare->reason);
    free(ws->rare->pend);
    free(ws->rare->tls_subject);
    free(ws->rare->strs);
    free(ws->rare);
  }
  if (ws->embedded)
    ws101__conn_room_release(ws); /* frees the connection's block if gone */
  else
    free(ws);
}

/* Delivers the final event, releases what only a live connection needs,
 * and drops the library's reference. */
static void finish(ws101_ws *ws) {
  if (ws->finished) return;
  ws->finished = 1;
  /* Pub/sub: subscriptions end with the connection, before the CLOSE event
   * so that a handler counting subscribers there sees it gone. */
  if (ws->subscribed) ws101__pubsub_ws_gone(ws);
  ws->conn = NULL;
  ws->timer = T_NONE;
  deliver(ws, WS101_WS_CLOSE,
          ws->rare != NULL && ws->rare->reason ? ws->rare->reason : "",
          ws->rare != NULL ? ws->rare->reason_len : 0, ws->close_code);
  ws101__wse_free(&ws->eng, eng_ctx(ws));
  if (ws->rare != NULL) {
    free(ws->rare->pend);
    ws->rare->pend = NULL;
    ws->rare->pend_len = 0;
  }
  ws101_ws_unref(ws);
}

static void ws_on_close(ws101__conn *c, int err) {
  (void)err;
  finish((ws101_ws *)c->proto_data);
}

const ws101__proto ws101__ws_proto = {
  "websocket",    ws_on_read,    ws_on_read_end, ws_on_drain,
  ws_on_timeout,  ws_on_shutdown, ws_on_close
};

/* ------------------------------------------------------------------------ */
/* Creation                                                                 */

/* The handle's strings: path, subprotocol, extensions, remote address,
 * NUL-separated, in the bytes after the struct (strs_cap of them) or, when
 * they do not fit there, in a block of their own kept in ws->rare (so an
 * embedded handle carries no pointer to them). "" before they are set. */
static const char *strs(const ws101_ws *ws) {
  if (ws->strs_cap != 0) return (const char *)(ws + 1);
  return ws->rare != NULL && ws->rare->strs != NULL ? ws->rare->strs
                                                    : "\0\0\0";
}

/* The i-th string (0 path, 1 subprotocol, 2 extensions, 3 remote
 * address). Found by walking rather than kept as offsets: the accessors
 * are rare, the bytes are in every handle. */
static const char *str_at(const ws101_ws *ws, int i) {
  const char *p = strs(ws);
  for (; i > 0; i--) p += strlen(p) + 1;
  return p;
}

static size_t addr_off(const ws101_ws *ws) {
  return (size_t)(str_at(ws, 3) - strs(ws));
}

/* Lays out the strings as path, subprotocol, extensions, then an empty
 * remote address that attach fills in: one allocation for every string a
 * handle reports. `first` (ws101__ws_new only) may use the inline bytes;
 * a replacement may be built from strings that live there, so it goes to
 * a block, and the old block is freed only once the new one is built.
 * Returns 0 or WS101_ENOMEM (ws unchanged). */
static int set_strs(ws101_ws *ws, int first, const char *path,
                    const char *sub, const char *ext) {
  size_t lp = strlen(path), ls = strlen(sub), lx = strlen(ext);
  char *s;
  if (lp + ls + lx > (size_t)UINT32_MAX - 3) return WS101_ENOMEM;
  if (first && ws->strs_cap >= lp + ls + lx + 4)
    s = (char *)(ws + 1);
  else if (rare(ws) == NULL || (s = malloc(lp + ls + lx + 4)) == NULL)
    return WS101_ENOMEM;
  memcpy(s, path, lp + 1);
  memcpy(s + lp + 1, sub, ls + 1);
  memcpy(s + lp + 1 + ls + 1, ext, lx + 1);
  s[lp + ls + lx + 3] = '\0';
  if (s != (char *)(ws + 1)) {
    free(ws->rare->strs);
    ws->rare->strs = s;
    ws->strs_cap = 0; /* the strings are in that block now */
  }
  return 0;
}

ws101_ws *ws101__ws_new(const ws101__ws_init *init) {
  ws101_ws *ws = NULL;
  if (init->opts == NULL) return NULL;
  /* In the connection's room when there is one: connection and handle are
   * then a single allocation, with the strings inside it as well. */
  if (init->room != NULL)
    ws = ws101__conn_room_take(init->room, WS101__WS_ROOM);
  if (ws != NULL) {
    memset(ws, 0, sizeof(*ws));
    ws->embedded = 1;
    ws->strs_cap = WS101__WS_INLINE_STRS;
  } else {
    ws = calloc(1, sizeof(*ws));
    if (ws == NULL) return NULL;
  }
  if (init->client != NULL && rare(ws) != NULL) {
    ws->rare->client = init->client;
    ws->rare->client_ops = init->client_ops;
  }
  if ((init->client != NULL && ws->rare == NULL) ||
      set_strs(ws, 1, init->path ? init->path : "",
               init->subprotocol ? init->subprotocol : "",
               init->extensions ? init->extensions : "") != 0) {
    free(ws->rare);
    if (ws->embedded)
      ws101__conn_room_release(ws);
    else
      free(ws);
    return NULL;
  }
  ws101__wse_init(&ws->eng, init->opts, init->is_client, init->pmd);
  ws->cb = init->cb;
  ws->cb_data = init->user_data;
  ws->loop = init->loop;
  ws->close_code = 1006;
  atomic_init(&ws->refs, 1);
  return ws;
}

/* Before attach the engine has seen no byte, so starting it afresh with the
 * negotiated deflate parameters loses nothing. Its shared deflate streams
 * are chosen by attach, as for a handle created with them. */
int ws101__ws_set_negotiated(ws101_ws *ws, const char *subprotocol,
                             const char *extensions,
                             const ws101__pmd_params *pmd) {
  int rc = set_strs(ws, 0, strs(ws), subprotocol ? subprotocol : "",
                    extensions ? extensions : "");
  if (rc != 0) return rc;
  ws101__wse_free(&ws->eng, NULL); /* before attach: no part block */
  ws101__wse_init(&ws->eng, ws->eng.opts, ws->eng.is_client, pmd);
  return 0;
}

static void free_shared(void *p) {
  ws101__pmd_shared_free((ws101__pmd_shared *)p);
}

void ws101__ws_attach(ws101_ws *ws, ws101__conn *c, char *leftover,
                      size_t len) {
  const struct ws101_options *o = ws->eng.opts;
  char addr[64];
  char *s;
  size_t alen, aoff;
  loop_ws *l = loop_ws_of(c->loop);
  ws->conn = c;
  ws->loop = c->loop;
  /* Directions without context takeover can share the loop's streams
   * instead of holding ~300 KiB of zlib state per connection (the pair
   * is used only for those: ws101__pmd_new). */
  if (l != NULL && ws->eng.has_pmd &&
      (ws->eng.pmdp.server_no_context_takeover ||
       ws->eng.pmdp.client_no_context_takeover)) {
    if (c->loop->deflate_shared == NULL) {
      c->loop->deflate_shared = ws101__pmd_shared_new(o);
      if (c->loop->deflate_shared != NULL)
        c->loop->deflate_shared_free = free_shared;
    }
    l->eng.pmd_shared = (ws101__pmd_shared *)c->loop->deflate_shared;
  }
  ws101__conn_peer(c, addr, sizeof addr);
  alen = strlen(addr);
  aoff = addr_off(ws);
  if (ws->strs_cap >= aoff + alen + 1) {
    memcpy((char *)(ws + 1) + aoff, addr, alen + 1);
  } else if (rare(ws) != NULL) { /* without memory the address stays "" */
    if (ws->strs_cap != 0) { /* outgrows the inline bytes: move out */
      s = malloc(aoff + alen + 1);
      if (s != NULL) memcpy(s, ws + 1, aoff);
    } else {
      s = realloc(ws->rare->strs, aoff + alen + 1);
    }
    if (s != NULL) {
      ws->rare->strs = s;
      ws->strs_cap = 0;
      memcpy(s + aoff, addr, alen + 1);
    }
  }
  if (ws101__conn_tls_peer_subject(c) != NULL && !ws->eng.is_client &&
      rare(ws) != NULL)
    ws->rare->tls_subject = strdup(ws101__conn_tls_peer_subject(c));
  ws101__conn_set_proto(c, &ws101__ws_proto, ws);
  ws->last_rx = (uint32_t)uv_now(c->loop->uv);
  if (o->ws_ping_interval_ms) arm(ws, T_PING, o->ws_ping_interval_ms);
  else arm(ws, T_NONE, 0);
  deliver(ws, WS101_WS_OPEN, "", 0, 0);
  if (len > 0 && ws->conn != NULL && !(c->flags & WS101__CONN_CLOSING))
    feed(ws, leftover, len);
}

void ws101__ws_fail(ws101_ws *ws, int err, const char *msg) {
  if (msg == NULL) msg = "";
  deliver(ws, WS101_WS_ERROR, msg, strlen(msg), err);
  ws->close_code = 1006;
  finish(ws);
}

/* ------------------------------------------------------------------------ */
/* Sending                                                                  */

/* Applies WS101_OPT_WS_MAX_BACKPRESSURE before a send. Only what is
 * already queued counts, not the message about to be sent (uWebSockets'
 * maxBackpressure and the browser's bufferedAmount work the same way): a
 * send on a queue below the limit is accepted whatever its size, so any
 * message the peer may send us (up to WS_MAX_MESSAGE) can be echoed with
 * default options, whereas counting the new frame refused an echo of a
 * WS_MAX_MESSAGE-sized message even on an empty queue. The queue thus
 * peaks below limit + the largest single send + its header. */
static int backpressure(ws101_ws *ws) {
  const struct ws101_options *o = ws->eng.opts;
  static const char why[] = "send buffer limit reached";
  if (ws101__conn_buffered(ws->conn) < o->ws_max_backpressure) return 0;
  ws->want_drain = 1; /* the application will want to know when to retry */
  if (o->ws_backpressure_policy == WS101_BACKPRESSURE_CLOSE)
    start_close(ws, 1008, why, sizeof why - 1);
  return WS101_EBACKPRESSURE;
}

/* DRAIN is owed only when output had to wait for the socket: a refused
 * send (backpressure()), a send that found a write already in flight, or
 * the application seeing bytes queued (ws101_ws_buffered). Output that is
 * merely corked and leaves in the same iteration owes nothing, otherwise
 * every send would be followed by a DRAIN (the loop's flush reports every
 * queue that empties). */
static int after_write(ws101_ws *ws, int rc) {
  if (rc == 0 && ws->conn != NULL && (ws->conn->flags & WS101__CONN_WRITING))
    ws->want_drain = 1;
  return rc;
}

int ws101_ws_send_ex(ws101_ws *ws, const char *data, size_t len, int opcode,
                     int flags) {
  const struct ws101_options *o;
  int rc;
  if (ws == NULL || (data == NULL && len > 0) ||
      (opcode != WS101_OP_TEXT && opcode != WS101_OP_BINARY))
    return WS101_EINVAL;
  if (!writable(ws)) return WS101_ECLOSED;
  if (ws->send_frag) return WS101_ESTATE;
  if (opcode == WS101_OP_TEXT &&
      !(data == ws->loop->rx_text && len == ws->loop->rx_text_len) &&
      !ws101__utf8_valid(data, len))
    return WS101_EUTF8;
  o = ws->eng.opts;
  /* Checked before compressing: a refused message must not enter a
   * context-takeover compressor the peer will never see. */
  rc = backpressure(ws);
  if (rc != 0) return rc;
  if (ws->eng.has_pmd && !(flags & WS101_SEND_NO_COMPRESS) &&
      len >= o->deflate_min_size) {
    ws101__pmd *pmd = ws101__wse_pmd(&ws->eng, eng_ctx(ws));
    ws101__buf *scratch = loop_scratch(ws->loop);
    if (pmd == NULL || scratch == NULL) return WS101_ENOMEM;
    scratch->len = 0;
    rc = ws101__pmd_deflate(pmd, data ? data : "", len, scratch);
    if (rc == 0) rc = write_frame(ws, opcode, 1, 1, scratch->data, scratch->len);
    ws101__buf_reset(scratch, SCRATCH_KEEP);
    if (rc != 0) return rc;
  } else {
    rc = write_frame(ws, opcode, 1, 0, data, len);
  }
  return after_write(ws, rc);
}

/* conn.c lends output buffers in 16 KiB units. */
#define WS101__PS_CORK_MAX (16 * 1024)

/* Pub/sub (see ws.h): the same pre-framed bytes for every subscriber; only
 * a connection with its own context-takeover compressor encodes the
 * payload itself, because its stream state is its alone. */
int ws101__ws_send_prepared(ws101_ws *ws, const ws101__ws_prepared *m) {
  const struct ws101_options *o = ws->eng.opts;
  const char *frame = m->plain;
  size_t flen = m->plain_len;
  int rc;
  if (!writable(ws)) return WS101_ECLOSED;
  if (ws->send_frag) return WS101_ESTATE;
  if (ws->eng.has_pmd && m->payload_len >= o->deflate_min_size) {
    ws101__pmd *pmd = ws101__wse_pmd(&ws->eng, eng_ctx(ws));
    if (pmd == NULL) return WS101_ENOMEM;
    if (ws101__pmd_deflates_shared(pmd)) {
      if (m->z == NULL) return WS101__WS_NEED_Z;
      frame = m->z;
      flen = m->z_len;
    } else {
      ws101__buf *scratch;
      if (ws101__conn_buffered(ws->conn) + m->payload_len + WS101__WS_MAX_HDR >
          o->ws_max_backpressure) {
        ws->want_drain = 1;
        return WS101_EBACKPRESSURE;
      }
      scratch = loop_scratch(ws->loop);
      if (scratch == NULL) return WS101_ENOMEM;
      scratch->len = 0;
      rc = ws101__pmd_deflate(pmd, m->payload, m->payload_len, scratch);
      if (rc == 0)
        rc = write_frame(ws, m->opcode, 1, 1, scratch->data, scratch->len);
      ws101__buf_reset(scratch, SCRATCH_KEEP);
      return after_write(ws, rc);
    }
  }
  if (ws101__conn_buffered(ws->conn) + flen > o->ws_max_backpressure) {
    ws->want_drain = 1;
    return WS101_EBACKPRESSURE;
  }
  {
    ws101__conn *c = ws->conn;
    size_t corked = ws101__conn_corked(c);
    uv_buf_t b;
    /* A subscriber gets many published frames per iteration. Hand its
     * corked bytes to the kernel before they outgrow one pooled output
     * unit, instead of letting its buffer be reallocated and copied. */
    if (corked > 0 && corked + flen > WS101__PS_CORK_MAX &&
        !(c->flags & WS101__CONN_WRITING))
      ws101__conn_flush(c);
    b.base = (char *)frame;
    b.len = flen;
    rc = ws101__conn_write(c, &b, 1);
  }
  return after_write(ws, rc);
}

int ws101_ws_send(ws101_ws *ws, const char *data, size_t len, int opcode) {
  return ws101_ws_send_ex(ws, data, len, opcode, 0);
}

int ws101_ws_send_fragment(ws101_ws *ws, const char *data, size_t len,
                           int opcode, int fin) {
  uint8_t st;
  int text, rc;
  if (ws == NULL || (data == NULL && len > 0) ||
      (opcode != WS101_OP_TEXT && opcode != WS101_OP_BINARY &&
       opcode != WS101_OP_CONTINUATION))
    return WS101_EINVAL;
  if (!writable(ws)) return WS101_ECLOSED;
  if ((ws->send_frag == 0) != (opcode != WS101_OP_CONTINUATION))
    return WS101_ESTATE;
  text = opcode == WS101_OP_TEXT || ws->send_frag == WS101_OP_TEXT;
  st = opcode == WS101_OP_CONTINUATION ? ws->send_utf8 : WS101__UTF8_ACCEPT;
  /* Code points may straddle fragments: validate across them, and only
   * commit the state once the fragment is accepted. */
  if (text && (ws101__utf8_validate(&st, data, len) != len ||
               (fin && st != WS101__UTF8_ACCEPT)))
    return WS101_EUTF8;
  rc = backpressure(ws);
  if (rc != 0) return rc;
  rc = write_frame(ws, opcode, fin, 0, data, len);
  if (rc != 0) return rc;
  ws->send_utf8 = st;
  if (fin) ws->send_frag = 0;
  else if (opcode != WS101_OP_CONTINUATION) ws->send_frag = (uint8_t)opcode;
  return after_write(ws, rc);
}

int ws101_ws_ping(ws101_ws *ws, const char *data, size_t len) {
  if (ws == NULL || len > 125 || (data == NULL && len > 0)) return WS101_EINVAL;
  if (!writable(ws)) return WS101_ECLOSED;
  return after_write(ws, write_frame(ws, WS101__WS_OP_PING, 1, 0,
                                     data ? data : "", len));
}

int ws101_ws_close(ws101_ws *ws, int code, const char *reason) {
  size_t rlen = reason ? strlen(reason) : 0;
  if (ws == NULL) return WS101_EINVAL;
  /* 1002 is for protocol failures the engine detects; 1005/1006/1015 are
   * never sent; 1004 and 1016-2999 are reserved. */
  if (!(code == 1000 || code == 1001 || code == 1003 ||
        (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999)))
    return WS101_EINVAL;
  if (rlen > 123 || !ws101__utf8_valid(reason ? reason : "", rlen))
    return WS101_EINVAL;
  if (ws->conn == NULL && !ws->finished && ws101__ws_client_hooks(ws) != NULL &&
      ws->rare->client_ops->close != NULL)
    return ws->rare->client_ops->close(ws, code, reason);
  if (!writable(ws)) return WS101_ECLOSED;
  start_close(ws, (unsigned)code, reason, rlen);
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Flow control, accessors, references                                      */

size_t ws101_ws_buffered(const ws101_ws *ws) {
  size_t n = ws != NULL && ws->conn != NULL ? ws101__conn_buffered(ws->conn) : 0;
  /* Whoever saw bytes queued may wait for them to leave: owe a DRAIN.
   * (The handle is never const in fact; the flag is bookkeeping.) */
  if (n > 0) ((ws101_ws *)ws)->want_drain = 1;
  return n;
}

int ws101_ws_pause(ws101_ws *ws) {
  if (ws == NULL || ws->conn == NULL) return WS101_ECLOSED;
  ws->paused = 1;
  ws101__conn_pause(ws->conn);
  return 0;
}

/* Replays input stashed by a pause before reading anything new, so events
 * stay in order; deferred to the loop so that resume never re-enters the
 * application from inside its own call. */
static void resume_cb(ws101_loop *loop, void *arg) {
  ws101_ws *ws = (ws101_ws *)arg;
  (void)loop;
  ws->resume_posted = 0;
  if (ws->conn != NULL && !ws->paused && !ws->bp_paused &&
      !(ws->conn->flags & WS101__CONN_CLOSING)) {
    char *p = ws->rare != NULL ? ws->rare->pend : NULL;
    size_t n = pend_len(ws);
    if (ws->rare != NULL) {
      ws->rare->pend = NULL;
      ws->rare->pend_len = 0;
    }
    if (n > 0) feed(ws, p, n);
    free(p);
    if (ws->conn != NULL && !ws->paused && !ws->bp_paused &&
        pend_len(ws) == 0)
      ws101__conn_resume(ws->conn);
  }
  ws101_ws_unref(ws);
}

int ws101_ws_resume(ws101_ws *ws) {
  if (ws == NULL || ws->conn == NULL) return WS101_ECLOSED;
  ws->paused = 0;
  /* Held for a full send queue: ws_on_drain resumes. */
  if (ws->bp_paused) return 0;
  return resume_reading(ws);
}

/* Restarts reading, stashed input first (both pauses are lifted). */
static int resume_reading(ws101_ws *ws) {
  if (pend_len(ws) == 0 || ws->in_feed) {
    ws101__conn_resume(ws->conn);
    return 0;
  }
  if (ws->resume_posted) return 0;
  atomic_fetch_add(&ws->refs, 1);
  if (ws101_loop_post(ws->loop, resume_cb, ws) != 0) {
    atomic_fetch_sub(&ws->refs, 1);
    return WS101_ENOMEM;
  }
  ws->resume_posted = 1;
  return 0;
}

int ws101_ws_set_handler(ws101_ws *ws, ws101_ws_cb cb, void *user_data) {
  if (ws == NULL || cb == NULL) return WS101_EINVAL;
  ws->cb = cb;
  ws->cb_data = user_data;
  return 0;
}

void ws101_ws_set_user_data(ws101_ws *ws, void *user_data) {
  if (ws != NULL) ws->user_data = user_data;
}

void *ws101_ws_get_user_data(const ws101_ws *ws) {
  return ws != NULL ? ws->user_data : NULL;
}

const char *ws101_ws_subprotocol(const ws101_ws *ws) {
  return str_at(ws, 1);
}

const char *ws101_ws_extensions(const ws101_ws *ws) {
  return str_at(ws, 2);
}

const char *ws101_ws_path(const ws101_ws *ws) { return strs(ws); }

const char *ws101_ws_remote_addr(const ws101_ws *ws) {
  return str_at(ws, 3);
}

ws101_loop *ws101_ws_loop(const ws101_ws *ws) { return ws->loop; }

/* Counted as glibc malloc does (chunk headers and rounding included), so
 * that the figure for N idle connections agrees with the process's RSS
 * growth: the connection's block (with this handle and its strings in the
 * room when embedded), the handle's own blocks otherwise, what is queued
 * or stashed, the engine's buffers and deflate state, and the descriptor's
 * slot in libuv's watcher array (one pointer per fd). */
size_t ws101_ws_memory(const ws101_ws *ws) {
  size_t n;
  if (ws == NULL) return 0;
  n = ws->eng.pmd != NULL ? ws101__pmd_memory(ws->eng.pmd) : 0;
  if (ws->eng.part != NULL) { /* only mid-frame or mid-message */
    n += ws101__malloc_chunk(sizeof(*ws->eng.part));
    if (ws->eng.part->msg.cap)
      n += ws101__malloc_chunk(ws->eng.part->msg.cap);
  }
  if (!ws->embedded) n += ws101__malloc_chunk(sizeof(*ws));
  if (ws->strs_cap == 0 && ws->rare != NULL && ws->rare->strs != NULL)
    n += ws101__malloc_chunk(addr_off(ws) + strlen(str_at(ws, 3)) + 1);
  if (ws->rare != NULL) {
    n += ws101__malloc_chunk(sizeof(*ws->rare));
    if (ws->rare->pend != NULL) n += ws101__malloc_chunk(ws->rare->pend_len);
    if (ws->rare->reason_owned) n += ws101__malloc_chunk(ws->rare->reason_len);
    if (ws->rare->tls_subject != NULL)
      n += ws101__malloc_chunk(strlen(ws->rare->tls_subject) + 1);
  }
  if (ws->conn != NULL) {
    n += ws101__conn_memory(ws->conn);
    if (ws->conn->vt == NULL) n += sizeof(void *);
  } else if (ws->embedded) {
    n += ws101__conn_room_memory(ws);
  }
  return n;
}

void ws101_ws_ref(ws101_ws *ws) {
  if (ws != NULL) atomic_fetch_add(&ws->refs, 1);
}

void ws101_ws_unref(ws101_ws *ws) {
  if (ws != NULL && atomic_fetch_sub(&ws->refs, 1) == 1) destroy(ws);
}

typedef struct post_msg {
  ws101_ws *ws;
  size_t len;
  int opcode;
  char data[];
} post_msg;

static void post_cb(ws101_loop *loop, void *arg) {
  post_msg *m = (post_msg *)arg;
  ws101_ws *ws = m->ws;
  int rc;
  (void)loop;
  /* Nobody is left to hear this send's error, so a refusal must not lose
   * the message unseen: a connection that is gone or closing already gets
   * its CLOSE event; any other refusal (backpressure, a fragmented send
   * still open, no memory, a client not open yet) closes the connection,
   * so the application and the peer both learn that a message was lost. */
  if (!ws->finished) {
    rc = ws101_ws_send(ws, m->data, m->len, m->opcode);
    if (rc != 0 && writable(ws)) {
      static const char bp[] = "send buffer limit reached";
      static const char other[] = "posted send failed";
      if (rc == WS101_EBACKPRESSURE) start_close(ws, 1008, bp, sizeof bp - 1);
      else start_close(ws, 1011, other, sizeof other - 1);
    } else if (rc != 0 && ws->conn == NULL &&
               ws101__ws_client_hooks(ws) != NULL &&
               ws->rare->client_ops->close != NULL) {
      /* A client still connecting: the attempt ends with ERROR, CLOSE. */
      ws->rare->client_ops->close(ws, 1011, "send posted before open");
    }
  }
  ws101_ws_unref(ws);
  free(m);
}

int ws101_ws_post_send(ws101_ws *ws, const char *data, size_t len,
                       int opcode) {
  post_msg *m;
  int rc;
  if (ws == NULL || ws->loop == NULL || (data == NULL && len > 0) ||
      (opcode != WS101_OP_TEXT && opcode != WS101_OP_BINARY))
    return WS101_EINVAL;
  /* Checked here, where the caller still hears about it. */
  if (opcode == WS101_OP_TEXT && !ws101__utf8_valid(data ? data : "", len))
    return WS101_EUTF8;
  if (len > SIZE_MAX - sizeof(*m)) return WS101_ENOMEM;
  m = malloc(sizeof(*m) + len);
  if (m == NULL) return WS101_ENOMEM;
  m->ws = ws;
  m->len = len;
  m->opcode = opcode;
  if (len) memcpy(m->data, data, len);
  /* The message holds its own reference until it ran on the loop. */
  atomic_fetch_add(&ws->refs, 1);
  rc = ws101_loop_post(ws->loop, post_cb, m);
  if (rc != 0) {
    atomic_fetch_sub(&ws->refs, 1);
    free(m);
  }
  return rc;
}

const char *ws101_ws_tls_peer_subject(const ws101_ws *ws) {
  return ws != NULL && ws->rare != NULL ? ws->rare->tls_subject : NULL;
}

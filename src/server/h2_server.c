/* h2_server.c - the HTTP/2 server protocol on a connection: the sans-I/O
 * session (proto/h2_session.h) fed from the transport, each stream a
 * ws101_req behind the same ops table HTTP/1.1 implements, response
 * bodies framed by nghttp2 under flow control, extended CONNECT
 * (RFC 8441) handed to the WebSocket engine on a stream transport.
 *
 * Three ways in, one protocol: prior knowledge (http1_server.c sees the
 * preface and calls ws101__h2_server_attach), h2c (http1_server.c sends
 * the 101 and calls ws101__h2_server_upgrade with the request, which
 * becomes stream 1), and ALPN "h2" over TLS (the server calls attach
 * after the handshake).
 *
 * Output: the session's frames are pulled (pump) after every read and
 * every application call, written to the connection's cork buffer, and
 * flushed once per loop iteration; pulling stops while the transport
 * holds PUMP_LIMIT bytes and resumes on drain, so a client that does not
 * read cannot make us buffer more than that plus its stream windows. */
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "handles/request.h"
#include "handles/ws.h"
#include "io/conn.h"
#include "proto/h2_session.h"
#include "proto/http1_chars.h"
#include "proto/ws_handshake.h"
#include "server/server.h"

#define PUMP_LIMIT (256 * 1024)

typedef struct h2c h2c;

/* One stream carrying a request. */
typedef struct h2r {
  ws101_req req;         /* first: the request is the stream's public face */
  h2c *c;                /* NULL once the connection is gone */
  ws101__h2_stream *st;  /* NULL once the stream is closed */
  ws101__buf out;        /* response body not yet framed */
  size_t out_off;
  ws101__buf in;         /* streamed body waiting for ws101_req_read_body */
  int dispatched;        /* the handler has it */
  int done;              /* the response is complete */
  int ended;             /* finish: EOF once `out` is framed */
  int in_ended;          /* the peer's END_STREAM */
  int stream_route;
  int discard;           /* the request body is no longer wanted */
  ws101__conn *vc;       /* RFC 8441: the WebSocket's stream transport */
  /* Response bytes wait in `out` (h2_stall.c below): since when without
   * a byte framed, for the stall deadline; and the drain owed once it
   * empties (WS101_OPT_OUTPUT_BUFFER_LIMIT). */
  int pending;
  int drain_due;
  uint64_t pend_since;
  struct h2r *prev, *next;
} h2r;

/* Finished streams keep their buffers for the next one: most of a
 * request's allocations, gone (callgrind: malloc and free were a fifth of
 * the instructions per h2load request). The spares belong to the thread,
 * not the connection, so that 100 streams closing at once on one
 * connection serve the next connection's 100 (16 per connection covered
 * h2load -m 10 only, -m 100 allocated 7 streams in 8), and idle
 * connections hold none. The last connection of the thread frees them.
 * Connections are made and closed on their loop's thread. */
#define SPARE_MAX 256

typedef struct h2r_cache {
  h2r *spare; /* next links */
  int nspare;
  size_t conns;
} h2r_cache;

static _Thread_local h2r_cache *thread_cache;

/* Stream objects allocated and not yet destroyed, spares included, over
 * all threads: a test's leak check that holds without LeakSanitizer
 * (ws101__h2_server_live, server.h). */
static atomic_size_t nlive;

size_t ws101__h2_server_live(void) { return atomic_load(&nlive); }

static void r_destroy(h2r *r) {
  ws101__req_free(&r->req);
  ws101__buf_free(&r->out);
  ws101__buf_free(&r->in);
  free(r);
  atomic_fetch_sub(&nlive, 1);
}

/* ws101_loop_free's release of a held stream nobody answered. */
static void r_release(ws101__orphan *o) {
  r_destroy((h2r *)(void *)((char *)o - offsetof(h2r, req.orphan)));
}

static h2r_cache *cache_acquire(void) {
  h2r_cache *k = thread_cache;
  if (k == NULL) {
    k = calloc(1, sizeof(*k));
    if (k == NULL) return NULL;
    thread_cache = k;
  }
  k->conns++;
  return k;
}

static void cache_release(h2r_cache *k) {
  if (k == NULL || --k->conns > 0) return;
  while (k->spare != NULL) {
    h2r *r = k->spare;
    k->spare = r->next;
    r_destroy(r);
  }
  if (thread_cache == k) thread_cache = NULL;
  free(k);
}

struct h2c {
  ws101__conn *conn;   /* NULL once the transport is gone */
  ws101_server *srv;
  ws101__h2 *h;
  h2r *reqs;           /* streams with a request */
  h2r_cache *cache;    /* the thread's freed streams, for reuse */
  int in_recv;         /* inside ws101__h2_recv: pump later */
  int pumping;
  int shutting;        /* server closing: GOAWAY sent */
  int npending;        /* streams with response bytes waiting in `out` */
  int ndrains;         /* streams whose drain callback is due */
  int stall_armed;     /* the connection deadline is the stall check */
};

static const ws101__req_ops h2_ops;
static void pump(h2c *c);
/* Output accounting, the stall deadline and drains (after h2_ops). */
static void out_queued(h2r *r);
static void out_framed(h2r *r, size_t n);
static void out_forget(h2r *r);
static uint64_t stall_tick(const h2c *c);
static void run_drains(h2c *c);
static void stall_check(h2c *c);
/* RFC 8441 streams (end of file). */
static void ws_data(ws101__conn *vc, const char *data, size_t len);
static void ws_eof(ws101__conn *vc);
static void ws_gone(ws101__conn *vc, uint32_t err);
static ssize_t ws_read(ws101__conn *vc, char *buf, size_t max, int *eof);
static int accept_ws(ws101_req *req, const char *subprotocol,
                     const char *extensions, const void *pmd, ws101_ws_cb cb,
                     void *user_data, ws101_ws **out);

/* ---- stream lifetimes ---------------------------------------------------- */

static void r_unlink(h2r *r) {
  if (r->c == NULL) return;
  if (r->prev != NULL)
    r->prev->next = r->next;
  else
    r->c->reqs = r->next;
  if (r->next != NULL) r->next->prev = r->prev;
  r->prev = r->next = NULL;
}

static void r_free(h2r *r) {
  h2c *c = r->c;
  ws101__loop_remove_orphan(&r->req.orphan);
  out_forget(r);
  r_unlink(r);
  if (c != NULL && c->cache->nspare < SPARE_MAX && r->vc == NULL) {
    r->next = c->cache->spare;
    c->cache->spare = r;
    c->cache->nspare++;
    return;
  }
  r_destroy(r);
}

static h2r *r_new(h2c *c, ws101__h2_stream *st) {
  h2r *r = c->cache->spare;
  if (r != NULL) {
    /* Keep only the buffers (emptied, capacity bounded by req_reset),
     * saved one by one: a copy of the whole request was ~70 instructions. */
    ws101__h1_header *hdrs = r->req.hdrs;
    size_t hdr_cap = r->req.hdr_cap;
    ws101__buf headbuf = r->req.headbuf, body = r->req.body,
               resp_hdrs = r->req.resp_hdrs;
    ws101__buf out = r->out, in = r->in;
    c->cache->spare = r->next;
    c->cache->nspare--;
    memset(r, 0, sizeof(*r));
    r->req.hdrs = hdrs;
    r->req.hdr_cap = hdr_cap;
    r->req.headbuf = headbuf;
    r->req.body = body;
    r->req.resp_hdrs = resp_hdrs;
    out.len = 0;
    in.len = 0;
    ws101__buf_reset(&out, 64 * 1024);
    ws101__buf_reset(&in, 0);
    r->out = out;
    r->in = in;
  } else {
    r = calloc(1, sizeof(*r));
    if (r != NULL) atomic_fetch_add(&nlive, 1);
  }
  if (r == NULL) return NULL;
  r->c = c;
  r->st = st;
  r->req.ops = &h2_ops;
  r->req.proto = r;
  r->req.server = c->srv;
  c->srv->h2_streams++;
  ws101__req_reset(&r->req);
  /* handles/ reads these instead of reaching into server/ (request.h). */
  r->req.opts = &c->srv->opts;
  r->req.conn = c->conn;
  r->next = c->reqs;
  if (c->reqs != NULL) c->reqs->prev = r;
  c->reqs = r;
  st->user = r;
  return r;
}

/* ---- response ops -------------------------------------------------------- */

/* Hop-by-hop names by length first: every response header passes here. */
static int is_hop_by_hop(const char *n, size_t len) {
  switch (len) {
  case 7:
    return ws101__h1_ieq_n(n, len, "upgrade");
  case 10:
    return ws101__h1_ieq_n(n, len, "connection") ||
           ws101__h1_ieq_n(n, len, "keep-alive");
  case 16:
    return ws101__h1_ieq_n(n, len, "proxy-connection");
  case 17:
    return ws101__h1_ieq_n(n, len, "transfer-encoding");
  default:
    return 0;
  }
}

/* Turns req->resp_hdrs ("Name: value\r\n" lines), then req->resp_ct,
 * into fields after the `n` already in `f`; names are lowercased in place (HTTP/2 wants them
 * so, and the buffer is ours until the response is done). */
static size_t collect_fields(ws101_req *req, ws101__h2_field *f, size_t n,
                             size_t cap) {
  char *p = req->resp_hdrs.data, *end = p + req->resp_hdrs.len;
  while (p < end && n < cap) {
    char *colon = memchr(p, ':', (size_t)(end - p));
    char *eol, *q;
    if (colon == NULL) break;
    eol = memchr(colon, '\r', (size_t)(end - colon));
    if (eol == NULL) break;
    for (q = p; q < colon; q++)
      if (*q >= 'A' && *q <= 'Z') *q = (char)(*q + 32);
    if (!is_hop_by_hop(p, (size_t)(colon - p))) {
      f[n].name = p;
      f[n].name_len = (size_t)(colon - p);
      f[n].value = colon + 2;
      f[n].value_len = (size_t)(eol - colon - 2);
      n++;
    }
    p = eol + 2;
  }
  if (req->resp_ct != NULL && n < cap) { /* ws101_req_respond's, last */
    f[n].name = "content-type";
    f[n].name_len = 12;
    f[n].value = req->resp_ct;
    f[n].value_len = req->resp_ct_len;
    n++;
  }
  return n;
}

static int r_body_allowed(const ws101_req *req) {
  return !req->is_head && req->status != 204 && req->status != 304;
}

static int h2_send_head(ws101_req *req, int64_t body_len) {
  h2r *r = req->proto;
  ws101__h2_field f[128];
  char cl[24];
  size_t n = 0;
  int rc, has_body;
  if (r->c == NULL || r->st == NULL) return WS101_ECLOSED;
  f[n].name = "date";
  f[n].name_len = 4;
  f[n].value = ws101__loop_date(r->c->srv->loop);
  f[n].value_len = strlen(f[n].value);
  n++;
  if (body_len >= 0 && req->status != 204 &&
      !(req->status == 304 && !req->has_cl)) {
    /* Digits from the end of cl: snprintf was ~700 instructions of
     * every request. */
    char *d = cl + sizeof cl;
    uint64_t v = (uint64_t)body_len;
    do {
      *--d = (char)('0' + v % 10);
      v /= 10;
    } while (v > 0);
    f[n].name = "content-length";
    f[n].name_len = 14;
    f[n].value = d;
    f[n].value_len = (size_t)(cl + sizeof cl - d);
    n++;
  }
  n = collect_fields(req, f, n, sizeof(f) / sizeof(f[0]));
  has_body = body_len != 0 && r_body_allowed(req);
  rc = ws101__h2_respond(r->c->h, r->st, req->status, f, n, has_body);
  pump(r->c);
  return rc;
}

static int h2_send_body(ws101_req *req, const char *data, size_t len) {
  h2r *r = req->proto;
  if (r->c == NULL || r->st == NULL) return WS101_ECLOSED;
  if (ws101__buf_append(&r->out, data, len) != 0) return WS101_ENOMEM;
  out_queued(r);
  ws101__h2_resume(r->c->h, r->st);
  pump(r->c);
  return 0;
}

static int h2_finish(ws101_req *req) {
  h2r *r = req->proto;
  req->resp_state = WS101__RESP_DONE;
  req->body_cb = NULL;
  req->abort_cb = NULL;
  r->done = 1;
  r->ended = 1;
  if (r->st == NULL) {
    r_free(r);
    return WS101_ECLOSED;
  }
  /* Body bytes the handler never read must not hold the windows shut. */
  r->discard = 1;
  if (r->in.len > 0) {
    ws101__h2_consume(r->c->h, r->st, r->in.len);
    ws101__buf_free(&r->in);
  }
  ws101__h2_resume(r->c->h, r->st);
  pump(r->c);
  return 0;
}

static void h2_peer(ws101_req *req, char *buf, size_t size) {
  h2r *r = req->proto;
  if (r->c != NULL && r->c->conn != NULL)
    ws101__conn_peer(r->c->conn, buf, size);
}

static int h2_read_body(ws101_req *req) {
  h2r *r = req->proto;
  if (r->c == NULL) return WS101_ECLOSED;
  if (r->in.len > 0) {
    size_t n = r->in.len;
    req->body_cb(req, r->in.data, n, 0, req->body_user);
    if (r->st != NULL && r->c != NULL) ws101__h2_consume(r->c->h, r->st, n);
    r->in.len = 0;
    ws101__buf_reset(&r->in, 0);
    pump(r->c);
  }
  if (r->in_ended && req->body_cb != NULL)
    req->body_cb(req, NULL, 0, 1, req->body_user);
  return 0;
}

/* WS101_OPT_OUTPUT_BUFFER_LIMIT per stream: the bytes a stream has
 * not framed yet (its flow-control window, or the connection's output
 * limit, holds them); they wait on the peer while any remain. */
static size_t h2_queued(const ws101_req *req, int *waiting) {
  const h2r *r = req->proto;
  size_t n = r->out.len - r->out_off;
  *waiting = n > 0;
  return n;
}

/* WS101_BACKPRESSURE_CLOSE: only this stream goes (RST_STREAM CANCEL;
 * the abort callback follows from on_close), never the connection. */
static void h2_drop(ws101_req *req, int err) {
  h2r *r = req->proto;
  (void)err;
  if (r->c == NULL || r->st == NULL) return;
  ws101__h2_reset(r->c->h, r->st, 0x8 /* CANCEL */);
  pump(r->c);
}

static const ws101__req_ops h2_ops = {h2_send_head, h2_send_body, h2_finish,
                                      accept_ws,    h2_peer,      h2_read_body,
                                      h2_queued,    h2_drop};

/* ---- session events ------------------------------------------------------ */

/* Answers a stream that never becomes a request (431, bad head). */
static void refuse(h2c *c, ws101__h2_stream *st, int status) {
  static const ws101__h2_field f[1] = {{"content-length", 14, "0", 1}};
  ws101__h2_respond(c->h, st, status, f, 1, 0);
}

static void dispatch(h2r *r) {
  r->dispatched = 1;
  ws101__server_dispatch(&r->req);
}

/* The head of `st` becomes r's request; returns 0 or an HTTP status. */
static int take_head(h2r *r, ws101__h2_stream *st) {
  const ws101__route *rt;
  if (st->head.method == NULL || st->head.target == NULL) return 400;
  if (ws101__req_adopt_head(&r->req, &st->hbuf, &st->fields, &st->fields_cap,
                            &st->head) != 0)
    return 503;
  r->req.version = 20;
  rt = ws101__server_match(r->c->srv, r->req.path, strlen(r->req.path));
  r->req.route = rt;
  r->req.route_flags = rt != NULL ? rt->flags : 0;
  r->stream_route = rt != NULL && !rt->websocket &&
                    (rt->flags & WS101_ROUTE_STREAM_BODY);
  if (!r->stream_route && (st->head.flags & WS101__H1_HAS_CL) &&
      st->head.content_length > r->c->srv->opts.max_body)
    return 413;
  return 0;
}

static int on_head(void *ud, ws101__h2_stream *st) {
  h2c *c = ud;
  h2r *r;
  int status;
  if (st->head_status != 0) {
    refuse(c, st, st->head_status);
    return 0;
  }
  r = r_new(c, st);
  if (r == NULL) return -1;
  status = take_head(r, st);
  if (status != 0) {
    r->discard = 1;
    r->dispatched = 1;
    ws101_req_respond(&r->req, status, "text/plain; charset=utf-8",
                      ws101__h1_status_reason(status),
                      strlen(ws101__h1_status_reason(status)));
    return 0;
  }
  /* A WebSocket CONNECT, a streaming route and a bodiless request go to
   * the handler now; a buffered body first arrives whole (on_end). */
  if (st->ended || r->stream_route || st->protocol != NULL) dispatch(r);
  return 0;
}

static void on_data(void *ud, ws101__h2_stream *st, const char *data,
                    size_t len) {
  h2c *c = ud;
  h2r *r = st->user;
  if (r == NULL || r->discard) {
    ws101__h2_consume(c->h, st, len);
    return;
  }
  if (r->vc != NULL) {
    ws_data(r->vc, data, len);
    return;
  }
  if (r->stream_route) {
    if (r->req.body_cb != NULL && r->in.len == 0) {
      r->req.body_cb(&r->req, data, len, 0, r->req.body_user);
      if (r->st != NULL) ws101__h2_consume(c->h, st, len);
    } else if (ws101__buf_append(&r->in, data, len) != 0) {
      ws101__h2_reset(c->h, st, 0x2 /* INTERNAL_ERROR */);
    }
    /* Left unconsumed: the stream window closes and the peer waits. */
    return;
  }
  ws101__h2_consume(c->h, st, len);
  if (r->req.body.len + len > c->srv->opts.max_body) {
    static const char body[] = "Payload Too Large\n";
    r->discard = 1;
    r->dispatched = 1;
    ws101_req_respond(&r->req, 413, "text/plain; charset=utf-8", body,
                      sizeof(body) - 1);
    return;
  }
  if (ws101__buf_append(&r->req.body, data, len) != 0)
    ws101__h2_reset(c->h, st, 0x2);
}

static void on_end(void *ud, ws101__h2_stream *st) {
  h2r *r = st->user;
  (void)ud;
  if (r == NULL) return;
  r->in_ended = 1;
  if (r->vc != NULL) {
    ws_eof(r->vc);
    return;
  }
  if (!r->dispatched) {
    dispatch(r);
    return;
  }
  if (r->stream_route && !r->done && r->req.body_cb != NULL &&
      r->in.len == 0)
    r->req.body_cb(&r->req, NULL, 0, 1, r->req.body_user);
}

static void on_close(void *ud, ws101__h2_stream *st, uint32_t err) {
  h2r *r = st->user;
  (void)ud;
  (void)err;
  if (r == NULL) return;
  r->st = NULL;
  st->user = NULL;
  if (r->vc != NULL) {
    ws_gone(r->vc, err);
    r->vc = NULL;
  }
  if (r->dispatched && !r->done) {
    /* The application still holds the request (reset by the peer or by
     * us, GOAWAY, the connection closing, the server stopping: every end
     * of a stream comes here). It is detached from the connection, which
     * may go before the answer does: its answer only frees it (h2_finish,
     * WS101_ECLOSED), and ws101_loop_free frees it if none ever comes. */
    r->req.aborted = 1;
    out_forget(r);
    r_unlink(r);
    r->c = NULL;
    r->req.conn = NULL; /* no TLS details from a transport that may go */
    r->req.orphan.release = r_release;
    ws101__loop_add_orphan(r->req.server->loop, &r->req.orphan);
    if (r->req.abort_cb != NULL) r->req.abort_cb(&r->req, r->req.abort_user);
    return;
  }
  r_free(r);
}

static ssize_t read_body(void *ud, ws101__h2_stream *st, char *buf,
                         size_t max, int *eof) {
  h2r *r = st->user;
  size_t n;
  (void)ud;
  if (r == NULL) {
    *eof = 1;
    return 0;
  }
  if (r->vc != NULL) return ws_read(r->vc, buf, max, eof);
  n = r->out.len - r->out_off;
  if (n > max) n = max;
  if (n > 0) memcpy(buf, r->out.data + r->out_off, n);
  r->out_off += n;
  if (n > 0) out_framed(r, n);
  if (r->out_off == r->out.len) {
    r->out_off = 0;
    ws101__buf_reset(&r->out, 64 * 1024);
    if (r->ended) {
      *eof = 1;
      return (ssize_t)n;
    }
    if (n == 0) return WS101__H2_DEFER;
  }
  return (ssize_t)n;
}

static const ws101__h2_cbs cbs = {on_head, on_data, on_end, on_close,
                                  read_body};

/* ---- the connection ------------------------------------------------------ */

static void pump(h2c *c) {
  ssize_t n = 0;
  if (c == NULL || c->in_recv || c->pumping || c->conn == NULL) return;
  if (c->conn->flags & (WS101__CONN_CLOSING | WS101__CONN_ENDING)) return;
  c->pumping = 1;
  while (ws101__conn_buffered(c->conn) < PUMP_LIMIT) {
    const char *p;
    uv_buf_t b;
    n = ws101__h2_send(c->h, &p);
    if (n <= 0) break;
    b = uv_buf_init((char *)p, (unsigned)n);
    if (ws101__conn_write(c->conn, &b, 1) != 0) break;
  }
  c->pumping = 0;
  if (c->conn == NULL || (c->conn->flags & WS101__CONN_CLOSING)) return;
  if (n < 0 || !ws101__h2_alive(c->h) ||
      (c->shutting && ws101__h2_nstreams(c->h) == 0)) {
    ws101__conn_end(c->conn, 2000);
    return;
  }
  /* An idle HTTP/2 connection is closed like an idle keep-alive one; a
   * busy one with response bytes waiting checks its streams for stalls
   * (armed once, so other streams' traffic does not push it back). */
  if (ws101__h2_nstreams(c->h) == 0 || c->npending == 0) {
    c->stall_armed = 0;
    ws101__conn_set_deadline(c->conn, ws101__h2_nstreams(c->h) == 0
                                          ? c->srv->opts.idle_timeout_ms
                                          : 0);
  } else if (!c->stall_armed) {
    c->stall_armed = 1;
    ws101__conn_set_deadline(c->conn, stall_tick(c));
  }
  if (c->ndrains > 0) run_drains(c);
}

static void h2_on_read(ws101__conn *conn, char *data, size_t len) {
  h2c *c = conn->proto_data;
  int rc;
  c->in_recv = 1;
  rc = ws101__h2_recv(c->h, data, len, uv_now(conn->loop->uv));
  c->in_recv = 0;
  pump(c);
  if (rc != 0 && c->conn != NULL) ws101__conn_end(conn, 2000);
}

static void h2_on_read_end(ws101__conn *conn, int err) {
  /* No more frames can come (not even WINDOW_UPDATE): what is queued
   * goes out, then the connection closes and open requests abort. */
  if (err != WS101_EEOF)
    ws101__conn_close(conn, err);
  else
    ws101__conn_end(conn, 1000);
}

static void h2_on_drain(ws101__conn *conn) { pump(conn->proto_data); }

static void h2_on_timeout(ws101__conn *conn) {
  h2c *c = conn->proto_data;
  if (c->stall_armed) {
    c->stall_armed = 0; /* pump re-arms it while bytes still wait */
    stall_check(c); /* the deadline was the stall check's, not idleness */
    pump(c);
    return;
  }
  ws101__h2_goaway(c->h);
  c->shutting = 1;
  pump(c);
  if (!(conn->flags & (WS101__CONN_ENDING | WS101__CONN_CLOSING)))
    ws101__conn_end(conn, 1000);
}

static void h2_on_shutdown(ws101__conn *conn) {
  h2c *c = conn->proto_data;
  h2r *r, *next;
  c->shutting = 1;
  ws101__h2_goaway(c->h);
  /* WebSockets on streams close with 1001 like their HTTP/1.1 peers. */
  for (r = c->reqs; r != NULL; r = next) {
    next = r->next;
    if (r->vc != NULL && r->vc->proto->on_shutdown != NULL)
      r->vc->proto->on_shutdown(r->vc);
  }
  pump(c);
}

static void h2_on_close(ws101__conn *conn, int err) {
  h2c *c = conn->proto_data;
  h2r *r;
  (void)err;
  c->conn = NULL;
  ws101__h2_free(c->h); /* on_close for every stream: aborts, frees */
  for (r = c->reqs; r != NULL; r = r->next) {
    r->c = NULL;
    r->req.conn = NULL; /* its TLS details went with the transport */
  }
  cache_release(c->cache);
  free(c);
}

const ws101__proto ws101__h2_server_proto = {
    "h2", h2_on_read, h2_on_read_end, h2_on_drain, h2_on_timeout,
    h2_on_shutdown, h2_on_close};

static h2c *h2c_new(ws101__conn *conn, ws101_server *srv) {
  const struct ws101_options *o = &srv->opts;
  ws101__h2_settings set;
  h2c *c = calloc(1, sizeof(*c));
  size_t i;
  if (c == NULL) return NULL;
  ws101__h2_settings_defaults(&set);
  set.max_concurrent_streams = o->h2_max_streams;
  set.stream_window = o->h2_stream_window;
  set.conn_window = o->h2_conn_window;
  set.max_header_list = o->max_header_bytes;
  set.max_headers = o->max_headers;
  /* RFC 8441 is announced when some route can take a WebSocket. */
  for (i = 0; i < srv->nroutes; i++)
    if (srv->routes[i].websocket ||
        (srv->routes[i].flags & WS101_ROUTE_WEBSOCKET))
      set.enable_connect_protocol = 1;
  c->cache = cache_acquire();
  if (c->cache == NULL || ws101__h2_new(&c->h, 1, &set, &cbs, c) != 0) {
    cache_release(c->cache);
    free(c);
    return NULL;
  }
  c->conn = conn;
  c->srv = srv;
  srv->h2_conns++;
  ws101__conn_set_proto(conn, &ws101__h2_server_proto, c);
  ws101__conn_set_deadline(conn, 0);
  return c;
}

int ws101__h2_server_attach(ws101__conn *conn, ws101_server *srv, char *data,
                            size_t len) {
  h2c *c = h2c_new(conn, srv);
  if (c == NULL) return WS101_ENOMEM;
  if (len > 0)
    h2_on_read(conn, data, len);
  else
    pump(c);
  return 0;
}

int ws101__h2_server_upgrade(ws101__conn *conn, ws101_server *srv,
                             const uint8_t *settings, size_t slen,
                             ws101_req *h1req, char *rest, size_t n) {
  h2c *c = h2c_new(conn, srv);
  ws101__h2_stream *st;
  h2r *r;
  int status;
  if (c == NULL) return WS101_ENOMEM;
  if (ws101__h2_upgrade(c->h, settings, slen, &h1req->head, &st) != 0) {
    ws101__conn_close(conn, WS101_EPROTO);
    return WS101_EPROTO;
  }
  r = r_new(c, st);
  if (r == NULL) {
    ws101__conn_close(conn, WS101_ENOMEM);
    return WS101_ENOMEM;
  }
  r->in_ended = 1;
  status = take_head(r, st);
  if (status == 0 && h1req->body.len > 0) {
    if (r->stream_route) {
      ws101__buf_append(&r->in, h1req->body.data, h1req->body.len);
    } else {
      r->req.body = h1req->body; /* moved: the HTTP/1.1 state goes now */
      memset(&h1req->body, 0, sizeof(h1req->body));
    }
  }
  if (status != 0) {
    r->dispatched = 1;
    ws101_req_respond(&r->req, status, "text/plain; charset=utf-8",
                      ws101__h1_status_reason(status),
                      strlen(ws101__h1_status_reason(status)));
  } else {
    dispatch(r);
  }
  /* The bytes after the upgrade request start with the client preface. */
  if (n > 0 && c->conn != NULL && !(conn->flags & WS101__CONN_CLOSING))
    h2_on_read(conn, rest, n);
  else
    pump(c);
  return 0;
}

/* ---- output accounting: stall deadline and drains ------------------------
 *
 * A stream whose peer never opens its window (no WINDOW_UPDATE) keeps its
 * response in `out` forever while the connection stays busy with other
 * streams, so neither the idle timeout nor the transport's send timeout
 * (conn_flow.c: the socket is still writable) ever fires. Each stream
 * with bytes waiting therefore carries the time of its last progress;
 * while any such stream exists the connection deadline is a periodic
 * check, and a stream without a framed byte for WS101_OPT_SEND_TIMEOUT_MS
 * is reset (RST_STREAM CANCEL, then the handler's abort callback). When
 * the transport itself is full, the connection's own send timeout is the
 * one that applies, so streams are not blamed for it. */

static uint64_t now_ms(const h2c *c) { return uv_now(c->srv->loop->uv); }

static void out_queued(h2r *r) {
  if (r->pending || r->out.len == r->out_off) return;
  r->pending = 1;
  r->pend_since = now_ms(r->c);
  r->c->npending++;
}

static void out_framed(h2r *r, size_t n) {
  (void)n;
  if (!r->pending) return;
  r->pend_since = now_ms(r->c);
  if (r->out_off < r->out.len) return;
  r->pending = 0;
  r->c->npending--;
  /* A drain is owed only to a writer that was told to wait. */
  if (r->req.want_drain && !r->drain_due) {
    r->drain_due = 1;
    r->c->ndrains++;
  }
}

static void out_forget(h2r *r) {
  if (r->c == NULL) return;
  if (r->pending) r->c->npending--;
  if (r->drain_due) r->c->ndrains--;
  r->pending = r->drain_due = 0;
}

/* How often the stall check runs: a quarter of the timeout, within the
 * loop's 100 ms deadline sweep and a second. */
static uint64_t stall_tick(const h2c *c) {
  uint64_t t = c->srv->opts.send_timeout_ms / 4;
  if (c->srv->opts.send_timeout_ms == 0) return 0;
  return t < WS101__SWEEP_MS ? WS101__SWEEP_MS : t > 1000 ? 1000 : t;
}

static void stall_check(h2c *c) {
  uint64_t now = now_ms(c), limit = c->srv->opts.send_timeout_ms;
  int transport_full = ws101__conn_buffered(c->conn) >= PUMP_LIMIT;
  h2r *r;
  if (limit == 0) return;
  for (r = c->reqs; r != NULL; r = r->next) {
    if (!r->pending || r->st == NULL) continue;
    if (transport_full) {
      r->pend_since = now;
      continue;
    }
    if (now - r->pend_since < limit) continue;
    out_forget(r);
    ws101__h2_reset(c->h, r->st, 0x8 /* CANCEL */);
  }
}

/* Called after a pump framed the last waiting bytes of some streams:
 * their drain callbacks run here, outside nghttp2's send, where they may
 * write again (and pump). */
static void run_drains(h2c *c) {
  /* From the head each time: a callback may write, pump and close (and
   * free) any other stream of the list. */
  while (c->ndrains > 0 && c->conn != NULL) {
    h2r *r = c->reqs;
    while (r != NULL && !r->drain_due) r = r->next;
    if (r == NULL) {
      c->ndrains = 0;
      return;
    }
    r->drain_due = 0;
    c->ndrains--;
    ws101__req_drained(&r->req);
  }
}

/* ---- RFC 8441: a WebSocket on a stream ----------------------------------- */

/* The stream transport (conn.h, "stream transports") of an accepted
 * extended CONNECT: the WebSocket engine writes frames into vc's cork
 * buffer as on TCP; this side frames them as DATA under the stream's
 * flow control and feeds the peer's DATA back as reads. */

static h2r *VR(ws101__conn *vc) { return vc->vt_data; }

static void vt_flush(ws101__conn *vc) {
  h2r *r = VR(vc);
  if (r == NULL || r->c == NULL || r->st == NULL) return;
  ws101__h2_resume(r->c->h, r->st);
  pump(r->c);
}

static void vt_read_ctl(ws101__conn *vc, int on) {
  h2r *r = VR(vc);
  if (!on || r == NULL) return;
  /* Reading resumed: deliver what waited, then reopen that window. */
  if (r->in.len > 0) {
    ws101__buf pend = r->in;
    memset(&r->in, 0, sizeof(r->in));
    ws101__conn_deliver(vc, pend.data, pend.len);
    if (VR(vc) != NULL && r->c != NULL && r->st != NULL)
      ws101__h2_consume(r->c->h, r->st, pend.len);
    ws101__buf_free(&pend);
    if (VR(vc) != NULL && r->c != NULL) pump(r->c);
  }
  if (VR(vc) != NULL && r->in_ended && r->in.len == 0)
    ws101__conn_deliver_eof(vc);
}

static void vt_end(ws101__conn *vc) {
  /* Output is all framed once read_body meets SHUTDOWN with an empty
   * cork buffer: it then ends the stream. */
  vt_flush(vc);
}

static void vt_close(ws101__conn *vc, int err) {
  h2r *r = VR(vc);
  vc->vt_data = NULL;
  if (r == NULL) return;
  r->vc = NULL;
  if (r->c != NULL && r->st != NULL) {
    /* Abrupt close: the stream goes with it. After a clean end of both
     * sides nghttp2 has closed the stream already (st == NULL). */
    ws101__h2_reset(r->c->h, r->st, err == 0 ? 0x0 : 0x8 /* CANCEL */);
    pump(r->c);
  }
  r->done = 1;
  if (r->st == NULL) r_free(r);
}

static void vt_peer(const ws101__conn *vc, char *buf, size_t size) {
  h2r *r = vc->vt_data;
  buf[0] = '\0';
  if (r != NULL && r->c != NULL && r->c->conn != NULL)
    ws101__conn_peer(r->c->conn, buf, size);
}

static const ws101__conn_vt h2_stream_vt = {vt_flush, vt_read_ctl, vt_end,
                                            vt_close, vt_peer};

static void ws_data(ws101__conn *vc, const char *data, size_t len) {
  h2r *r = VR(vc);
  /* Copied once: nghttp2's bytes are const and the engine unmasks in
   * place; while the application pauses reading they wait here and the
   * stream window, not the connection, stops the peer. */
  if (ws101__buf_append(&r->in, data, len) != 0) {
    ws101__conn_close(vc, WS101_ENOMEM);
    return;
  }
  if (!(vc->flags & WS101__CONN_PAUSED)) vt_read_ctl(vc, 1);
}

static void ws_eof(ws101__conn *vc) {
  h2r *r = VR(vc);
  if (r->in.len == 0 && !(vc->flags & WS101__CONN_PAUSED))
    ws101__conn_deliver_eof(vc);
}

static void ws_gone(ws101__conn *vc, uint32_t err) {
  h2r *r = VR(vc);
  (void)err;
  vc->vt_data = NULL;
  if (r != NULL) {
    r->vc = NULL;
    r->done = 1;
  }
  /* The stream is closed (both ends, or a reset): so is the socket. */
  ws101__conn_close(vc, err == 0 ? 0 : WS101_ECONNRESET);
}

static ssize_t ws_read(ws101__conn *vc, char *buf, size_t max, int *eof) {
  size_t n = ws101__conn_take(vc, buf, max);
  if (n == 0 && (vc->flags & WS101__CONN_SHUTDOWN)) {
    *eof = 1;
    return 0;
  }
  if (n == 0) return WS101__H2_DEFER;
  if ((vc->flags & WS101__CONN_SHUTDOWN) && ws101__conn_buffered(vc) == 0)
    *eof = 1;
  return (ssize_t)n;
}

static int accept_ws(ws101_req *req, const char *subprotocol,
                     const char *extensions, const void *pmd, ws101_ws_cb cb,
                     void *user_data, ws101_ws **out) {
  h2r *r = req->proto;
  ws101__h2_field f[130];
  size_t n = 0;
  ws101__ws_init init;
  ws101_ws *ws;
  ws101__conn *vc;
  if (r->c == NULL || r->st == NULL) return WS101_ECLOSED;
  memset(&init, 0, sizeof(init));
  init.opts = &r->c->srv->opts;
  init.path = req->path;
  init.subprotocol = subprotocol;
  init.extensions = extensions;
  init.pmd = pmd;
  init.cb = cb;
  init.user_data = user_data;
  ws = ws101__ws_new(&init);
  if (ws == NULL) return WS101_ENOMEM;
  vc = ws101__conn_new_stream(r->c->srv->loop, &h2_stream_vt, r);
  if (vc == NULL) {
    ws101_ws_unref(ws);
    return WS101_ENOMEM;
  }
  if (subprotocol != NULL && *subprotocol != '\0') {
    f[n].name = "sec-websocket-protocol";
    f[n].name_len = 22;
    f[n].value = subprotocol;
    f[n].value_len = strlen(subprotocol);
    n++;
  }
  if (extensions != NULL) {
    f[n].name = "sec-websocket-extensions";
    f[n].name_len = 24;
    f[n].value = extensions;
    f[n].value_len = strlen(extensions);
    n++;
  }
  n = collect_fields(req, f, n, sizeof(f) / sizeof(f[0]));
  req->status = 200;
  if (ws101__h2_respond(r->c->h, r->st, 200, f, n, 1) != 0) {
    ws101_ws_unref(ws);
    vc->vt_data = NULL;
    ws101__conn_close(vc, WS101_ECLOSED);
    return WS101_ECLOSED;
  }
  req->resp_state = WS101__RESP_DONE;
  r->vc = vc;
  r->c->srv->h2_websockets++;
  if (out != NULL) *out = ws;
  ws101__ws_attach(ws, vc, NULL, 0);
  ws101__conn_start(vc);
  pump(r->c);
  return 0;
}

int ws101_server_h2_stats(const ws101_server *server, uint64_t *conns,
                          uint64_t *streams, uint64_t *websockets) {
  if (server == NULL) return WS101_EINVAL;
  if (conns != NULL) *conns = server->h2_conns;
  if (streams != NULL) *streams = server->h2_streams;
  if (websockets != NULL) *websockets = server->h2_websockets;
  return 0;
}

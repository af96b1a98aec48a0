/* client_h2.c - HTTP/2 client connections: one per origin (per loop),
 * shared by every exchange to it as concurrent streams (nghttp2 queues
 * what exceeds the server's MAX_CONCURRENT_STREAMS). An idle connection
 * stays for WS101_OPT_IDLE_TIMEOUT_MS without keeping the loop alive; a
 * GOAWAY retires it for new requests.
 *
 * http:// speaks HTTP/2 from the first byte (prior knowledge) or arrives
 * here upgraded (h2c, ws101__h2cli_adopt). https:// offers ALPN "h2" and
 * "http/1.1": requests wait for the handshake, and when the server picks
 * HTTP/1.1 they all fall back (on_fallback): the first one gets the
 * connection, the origin is remembered as HTTP/1.1-only so later
 * requests go straight to the HTTP/1.1 client. */
#include "client/client_h2.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/client_connect.h"
#include "io/conn.h"
#include "io/loop.h"
#include "io/tls.h"

#define PUMP_LIMIT (256 * 1024)
#define IDLE_MS 60000
/* Origins whose server answered ALPN with HTTP/1.1, remembered per loop
 * (the oldest is forgotten first) for ws101__h2cli_h1_memo_ms: long
 * enough that requests do not offer h2 in every handshake, short enough
 * that a server which turns HTTP/2 on is asked again. */
#define H1_MEMO 16
uint64_t ws101__h2cli_h1_memo_ms = 5 * 60 * 1000;

typedef struct h2conn h2conn;

struct ws101__h2cli_req {
  h2conn *hc;
  ws101__h2_stream *st;
  ws101__h2cli_cbs cbs;
  void *ud;
  ws101__buf fields; /* "name\0value\0"... until submitted */
  size_t nfields;
  ws101__buf out;    /* body not yet framed */
  size_t off;
  int has_body, ended, submitted;
  /* RFC 8441: an extended CONNECT waits for the server's SETTINGS; once
   * accepted the stream is the transport `vc` of a WebSocket. */
  int is_ws, attached;
  ws101__conn *vc;
  ws101__buf in;   /* peer bytes while the WebSocket is paused */
  int in_ended;
  /* A stream's own deadline (loop ms, 0 = none): RESPONSE_TIMEOUT_MS
   * between response bytes for a fetch, WS_HANDSHAKE_TIMEOUT_MS until the
   * answer for an extended CONNECT. The connection carries the earliest
   * (idle_or_busy), so a silent stream fails alone. */
  uint64_t deadline;
  uint32_t timeout_ms;
  ws101__h2cli_req *prev, *next;
};

struct h2conn {
  ws101_loop *loop;
  ws101__conn *c;      /* NULL until connected and after close */
  ws101__connect *creq;
  ws101__h2 *h;        /* NULL until the transport is ready */
  ws101__h2cli_req *reqs;
  int in_recv, pumping, retired;
  /* https://: the loop's client context (borrowed), and what TLS needs:
   * the host to verify and the session-cache origin. */
  ws101__tls_ctx *tls;
  char *host, *url_origin;
  h2conn *prev, *next;
  char origin[];
};

typedef struct h1_memo {
  char *key;      /* a pool key (origin_key) */
  uint64_t until; /* loop ms: forgotten from then on */
} h1_memo;

typedef struct h2pool {
  h2conn *conns;
  h1_memo h1_only[H1_MEMO]; /* a ring */
  unsigned h1_next;
} h2pool;

static void hc_free(h2conn *hc) {
  free(hc->host);
  free(hc->url_origin);
  free(hc);
}

static void pump(h2conn *hc);
static const ws101__proto h2_client_proto;

/* ---- requests ------------------------------------------------------------ */

static void req_unlink(ws101__h2cli_req *r) {
  h2conn *hc = r->hc;
  if (hc == NULL) return;
  if (r->prev != NULL)
    r->prev->next = r->next;
  else
    hc->reqs = r->next;
  if (r->next != NULL) r->next->prev = r->prev;
  r->prev = r->next = NULL;
  r->hc = NULL;
}

static void req_free(ws101__h2cli_req *r) {
  req_unlink(r);
  if (r->st != NULL) r->st->user = NULL;
  if (r->vc != NULL) {
    ws101__conn *vc = r->vc;
    r->vc = NULL;
    vc->vt_data = NULL;
    ws101__conn_close(vc, WS101_ECONNRESET);
  }
  ws101__buf_free(&r->in);
  ws101__buf_free(&r->fields);
  ws101__buf_free(&r->out);
  free(r);
}

static void req_fail(ws101__h2cli_req *r, int err, const char *msg) {
  ws101__h2cli_cbs cbs = r->cbs;
  void *ud = r->ud;
  int attached = r->attached;
  req_free(r);
  /* An attached WebSocket learns it from its transport's close. */
  if (!attached) cbs.on_error(ud, err, msg);
}

static int submit(h2conn *hc, ws101__h2cli_req *r) {
  ws101__h2_field *f = malloc((r->nfields ? r->nfields : 1) * sizeof(*f));
  const char *p = r->fields.data;
  size_t i;
  int rc;
  if (f == NULL) return WS101_ENOMEM;
  for (i = 0; i < r->nfields; i++) {
    f[i].name = p;
    f[i].name_len = strlen(p);
    p += f[i].name_len + 1;
    f[i].value = p;
    f[i].value_len = strlen(p);
    p += f[i].value_len + 1;
  }
  rc = ws101__h2_request(hc->h, f, r->nfields, r->has_body, r, &r->st);
  free(f);
  if (rc == 0) {
    r->submitted = 1;
    ws101__buf_free(&r->fields);
    /* A fetch's silence is counted from its request on (the set-up
     * before it had the same allowance, from ws101__h2cli_request); an
     * extended CONNECT's handshake time runs on from its creation, as
     * over HTTP/1.1. */
    if (!r->is_ws && r->timeout_ms != 0)
      r->deadline = uv_now(hc->loop->uv) + r->timeout_ms;
  }
  return rc;
}

/* ---- session events -------------------------------------------------------- */

static void vt_read_ctl(ws101__conn *vc, int on);

/* The peer said something on r's stream: its silence clock restarts (a
 * WebSocket's handshake is over once its head came). */
static void req_heard(ws101__h2cli_req *r, int head) {
  if (r->timeout_ms == 0 || r->hc == NULL) return;
  r->deadline = (head && r->is_ws)
                    ? 0
                    : uv_now(r->hc->loop->uv) + r->timeout_ms;
}

static int on_head(void *ud, ws101__h2_stream *st) {
  ws101__h2cli_req *r = st->user;
  (void)ud;
  if (r != NULL) {
    req_heard(r, 1);
    r->cbs.on_head(r->ud, &st->head);
  }
  return 0;
}

static void on_data(void *ud, ws101__h2_stream *st, const char *d, size_t n) {
  h2conn *hc = ud;
  ws101__h2cli_req *r = st->user;
  /* The application takes bytes as they come (no pause in ws101_fetch):
   * reopen the window at once. */
  if (r != NULL && r->vc != NULL) {
    /* Copied once (the engine unmasks in place; nghttp2's bytes are
     * const), consumed when the WebSocket takes them: a paused WebSocket
     * closes its own stream window only. */
    if (ws101__buf_append(&r->in, d, n) != 0) {
      ws101__conn_close(r->vc, WS101_ENOMEM);
      return;
    }
    if (!(r->vc->flags & WS101__CONN_PAUSED)) vt_read_ctl(r->vc, 1);
    return;
  }
  ws101__h2_consume(hc->h, st, n);
  if (r != NULL) {
    req_heard(r, 0);
    r->cbs.on_data(r->ud, d, n);
  }
}

static void on_end(void *ud, ws101__h2_stream *st) {
  ws101__h2cli_req *r = st->user;
  ws101__h2cli_cbs cbs;
  void *cud;
  (void)ud;
  if (r == NULL) return;
  if (r->vc != NULL) {
    r->in_ended = 1;
    if (r->in.len == 0 && !(r->vc->flags & WS101__CONN_PAUSED))
      ws101__conn_deliver_eof(r->vc);
    return;
  }
  cbs = r->cbs;
  cud = r->ud;
  req_free(r); /* the stream may linger half-closed; nobody needs r */
  cbs.on_done(cud);
}

static void on_close(void *ud, ws101__h2_stream *st, uint32_t err) {
  ws101__h2cli_req *r = st->user;
  (void)ud;
  if (r == NULL) return;
  r->st = NULL;
  st->user = NULL;
  if (r->vc != NULL) {
    /* The WebSocket's stream is gone (both ends, or a reset): so is its
     * transport; its close event follows. */
    ws101__conn *vc = r->vc;
    r->vc = NULL;
    vc->vt_data = NULL;
    req_free(r);
    ws101__conn_close(vc, err == 0 ? 0 : WS101_ECONNRESET);
    return;
  }
  req_fail(r, err == 0 ? WS101_EPROTO : WS101_ECONNRESET,
           err == 0x7 ? "stream refused by the server (REFUSED_STREAM)"
                      : "stream reset by the server");
}

static ssize_t read_body(void *ud, ws101__h2_stream *st, char *buf, size_t max,
                         int *eof) {
  ws101__h2cli_req *r = st->user;
  size_t n;
  (void)ud;
  if (r == NULL) {
    *eof = 1;
    return 0;
  }
  if (r->vc != NULL) {
    n = ws101__conn_take(r->vc, buf, max);
    if (r->vc->flags & WS101__CONN_SHUTDOWN && ws101__conn_buffered(r->vc) == 0)
      *eof = 1;
    else if (n == 0)
      return WS101__H2_DEFER;
    return (ssize_t)n;
  }
  if (r->is_ws) return WS101__H2_DEFER; /* not attached yet */
  n = r->out.len - r->off;
  if (n > max) n = max;
  if (n > 0) memcpy(buf, r->out.data + r->off, n);
  r->off += n;
  if (r->off == r->out.len) {
    r->off = 0;
    r->out.len = 0;
    if (r->ended) {
      *eof = 1;
      return (ssize_t)n;
    }
    if (n == 0) return WS101__H2_DEFER;
  }
  return (ssize_t)n;
}

static const ws101__h2_cbs sess_cbs = {on_head, on_data, on_end, on_close,
                                       read_body};

/* ---- the connection ------------------------------------------------------- */

static h2pool *pool_of(ws101_loop *loop);

static void hc_unlink(h2conn *hc) {
  h2pool *p = pool_of(hc->loop);
  if (p == NULL) return;
  if (hc->prev != NULL)
    hc->prev->next = hc->next;
  else if (p->conns == hc)
    p->conns = hc->next;
  if (hc->next != NULL) hc->next->prev = hc->prev;
  hc->prev = hc->next = NULL;
}

/* Every request still on hc fails with err. */
static void fail_all(h2conn *hc, int err, const char *msg) {
  while (hc->reqs != NULL) {
    ws101__h2cli_req *r = hc->reqs;
    if (r->st != NULL) {
      r->st->user = NULL;
      r->st = NULL;
    }
    req_fail(r, err, msg);
  }
}

static void idle_or_busy(h2conn *hc) {
  int busy = hc->reqs != NULL;
  uint64_t next = 0, now;
  const ws101__h2cli_req *r;
  ws101__conn_keep_loop_alive(hc->c, busy);
  if (!busy) {
    ws101__conn_set_deadline(hc->c, IDLE_MS);
    return;
  }
  for (r = hc->reqs; r != NULL; r = r->next)
    if (r->deadline != 0 && (next == 0 || r->deadline < next))
      next = r->deadline;
  now = uv_now(hc->loop->uv);
  ws101__conn_set_deadline(hc->c,
                           next == 0 ? 0 : next > now ? next - now : 1);
}

/* The connection's deadline while streams are open: fail the streams
 * whose own deadline passed (reset, WS101_ETIMEDOUT), keep the others. A
 * callback may free any request, so the walk restarts after each. */
static void expire_streams(h2conn *hc) {
  ws101__h2cli_req *r;
  char msg[96];
  uint64_t now = uv_now(hc->loop->uv);
  for (;;) {
    for (r = hc->reqs; r != NULL; r = r->next)
      if (r->deadline != 0 && r->deadline <= now) break;
    if (r == NULL) break;
    if (r->is_ws)
      snprintf(msg, sizeof(msg),
               "no WebSocket handshake response within %u ms",
               (unsigned)r->timeout_ms);
    else
      snprintf(msg, sizeof(msg), "no response data from the server for %u ms",
               (unsigned)r->timeout_ms);
    if (r->st != NULL && hc->h != NULL)
      ws101__h2_reset(hc->h, r->st, 0x8 /* CANCEL */);
    req_fail(r, WS101_ETIMEDOUT, msg);
    if (hc->c == NULL) return;
  }
  if (hc->h != NULL) {
    pump(hc);
  } else if (hc->reqs == NULL) {
    /* Nobody waits for the TLS handshake that never finished. */
    hc->retired = 1;
    ws101__conn_close(hc->c, WS101_ETIMEDOUT);
  } else {
    idle_or_busy(hc);
  }
}

static void pump(h2conn *hc) {
  ssize_t n = 0;
  /* No session yet while TLS still decides the protocol (a drain of the
   * handshake's own output can come first). */
  if (hc->c == NULL || hc->h == NULL || hc->in_recv || hc->pumping) return;
  if (hc->c->flags & (WS101__CONN_CLOSING | WS101__CONN_ENDING)) return;
  hc->pumping = 1;
  while (ws101__conn_buffered(hc->c) < PUMP_LIMIT) {
    const char *p;
    uv_buf_t b;
    n = ws101__h2_send(hc->h, &p);
    if (n <= 0) break;
    b = uv_buf_init((char *)p, (unsigned)n);
    if (ws101__conn_write(hc->c, &b, 1) != 0) break;
  }
  hc->pumping = 0;
  if (hc->c == NULL || (hc->c->flags & WS101__CONN_CLOSING)) return;
  if (n < 0 || !ws101__h2_alive(hc->h)) {
    hc->retired = 1;
    ws101__conn_end(hc->c, 1000);
    return;
  }
  idle_or_busy(hc);
}

/* Submits what waited: everything once connected, extended CONNECTs once
 * the server's SETTINGS said whether it allows them (RFC 8441 3). */
static void submit_pending(h2conn *hc) {
  ws101__h2cli_req *r, *next;
  for (r = hc->reqs; r != NULL; r = next) {
    next = r->next;
    if (r->submitted) continue;
    if (r->is_ws) {
      if (!ws101__h2_peer_settings_seen(hc->h)) continue;
      if (!ws101__h2_peer_connect_protocol(hc->h)) {
        req_fail(r, WS101_ENOTSUP,
                 "the server does not allow WebSockets over HTTP/2");
        continue;
      }
    }
    if (submit(hc, r) != 0) req_fail(r, WS101_ENOMEM, "cannot submit");
  }
}

static void c_on_read(ws101__conn *c, char *data, size_t len) {
  h2conn *hc = c->proto_data;
  int rc;
  hc->in_recv = 1;
  rc = ws101__h2_recv(hc->h, data, len, uv_now(c->loop->uv));
  hc->in_recv = 0;
  if (rc == 0 && hc->c != NULL) submit_pending(hc);
  if (rc != 0) hc->retired = 1;
  pump(hc);
  if (rc != 0 && hc->c != NULL) ws101__conn_end(c, 1000);
}

static void c_on_read_end(ws101__conn *c, int err) {
  h2conn *hc = c->proto_data;
  hc->retired = 1;
  ws101__conn_close(c, err == WS101_EEOF ? 0 : err);
}

static void c_on_drain(ws101__conn *c) { pump(c->proto_data); }

static void c_on_timeout(ws101__conn *c) {
  h2conn *hc = c->proto_data;
  if (hc->reqs != NULL) {
    expire_streams(hc);
    return;
  }
  hc->retired = 1;
  if (hc->h == NULL) {
    /* Every request gave up during the TLS handshake. */
    ws101__conn_close(c, WS101_ETIMEDOUT);
    return;
  }
  ws101__h2_goaway(hc->h);
  pump(hc);
  ws101__conn_end(c, 1000);
}

static void c_on_close(ws101__conn *c, int err) {
  h2conn *hc = c->proto_data;
  const char *why = "connection lost";
  char msg[256];
  hc->c = NULL;
  hc_unlink(hc);
  if (err == WS101_ETLS) {
    const char *t = ws101__conn_tls_error(c);
    snprintf(msg, sizeof msg, "%s", *t ? t : ws101_tls_last_error());
    why = msg;
  } else {
    err = WS101_ECONNRESET;
  }
  /* Streams still open lose their connection. */
  while (hc->reqs != NULL) {
    ws101__h2cli_req *r = hc->reqs;
    if (r->st != NULL) r->st->user = NULL;
    r->st = NULL;
    req_fail(r, err, why);
  }
  ws101__h2_free(hc->h);
  hc_free(hc);
}

static const ws101__proto h2_client_proto = {
    "h2-client", c_on_read, c_on_read_end, c_on_drain, c_on_timeout, NULL,
    c_on_close};

/* The transport is ready for HTTP/2: our preface and SETTINGS, then the
 * requests that waited (extended CONNECTs wait on for the server's). */
static int start_session(h2conn *hc) {
  ws101__h2_settings set;
  ws101__h2_settings_defaults(&set);
  if (ws101__h2_new(&hc->h, 0, &set, &sess_cbs, hc) != 0) {
    hc->retired = 1;
    fail_all(hc, WS101_ENOMEM, "out of memory starting HTTP/2");
    ws101__conn_close(hc->c, WS101_ENOMEM);
    return WS101_ENOMEM;
  }
  submit_pending(hc);
  return 0;
}

static void remember_h1(h2pool *p, const char *key, uint64_t now);

/* ALPN chose HTTP/1.1 (or nothing): every waiting request goes back to
 * its owner as HTTP/1.1, the first with this connection. */
static void fall_back(h2conn *hc, ws101__conn *c) {
  h2pool *p = pool_of(hc->loop);
  if (p != NULL) remember_h1(p, hc->origin, uv_now(hc->loop->uv));
  hc->retired = 1;
  hc_unlink(hc);
  hc->c = NULL;
  while (hc->reqs != NULL) {
    ws101__h2cli_req *r = hc->reqs;
    ws101__h2cli_cbs cbs = r->cbs;
    void *ud = r->ud;
    ws101__buf body = r->out;
    size_t off = r->off;
    int ended = r->ended;
    req_unlink(r);
    memset(&r->out, 0, sizeof(r->out));
    req_free(r);
    /* The owner takes the connection (1) or opens its own (0). */
    if (cbs.on_fallback(ud, c,
                        body.data + off, body.len - off, ended) == 1)
      c = NULL;
    ws101__buf_free(&body);
  }
  if (c != NULL) {
    ws101__conn_set_proto(c, &ws101__client_detached_proto, NULL);
    ws101__conn_end(c, 1000);
  }
  hc_free(hc);
}

static void on_tls_ready(ws101__conn *c) {
  h2conn *hc = c->proto_data;
  const char *alpn = ws101__conn_alpn(c);
  if (alpn != NULL && strcmp(alpn, "h2") == 0) {
    if (start_session(hc) == 0) pump(hc);
    return;
  }
  fall_back(hc, c);
}

static void on_connected(ws101__conn *c, int err, const char *msg, void *ud) {
  h2conn *hc = ud;
  hc->creq = NULL;
  if (err != 0) {
    hc_unlink(hc);
    fail_all(hc, err, msg);
    hc_free(hc);
    return;
  }
  hc->c = c;
  if (hc->tls != NULL) {
    /* The session starts once ALPN has said h2 (on_tls_ready). */
    if (ws101__conn_tls_client_h2(c, hc->tls, hc->host, hc->url_origin,
                                  on_tls_ready) != 0) {
      hc->retired = 1;
      ws101__conn_close(c, WS101_ETLS); /* c_on_close fails the requests */
      return;
    }
  } else if (start_session(hc) != 0) {
    return;
  }
  if (ws101__conn_start(c) != 0) {
    ws101__conn_close(c, WS101_EIO);
    return;
  }
  /* While TLS negotiates, the streams' deadlines bound the handshake
   * (a server that never finishes it must not hold them forever). */
  if (hc->h != NULL)
    pump(hc);
  else
    idle_or_busy(hc);
}

/* ---- the pool ---------------------------------------------------------------- */

static void pool_free(void *ptr) {
  h2pool *p = ptr;
  unsigned i;
  /* ws101_loop_free closes every connection (on_close fails their
   * streams); connections still connecting are canceled here. */
  while (p->conns != NULL) {
    h2conn *hc = p->conns;
    p->conns = hc->next;
    hc->prev = hc->next = NULL;
    if (hc->creq != NULL) {
      ws101__connect_cancel(hc->creq);
      hc->creq = NULL;
      fail_all(hc, WS101_ECANCELED, "the loop is being freed");
      hc_free(hc);
    } else if (hc->c != NULL) {
      hc->loop = NULL; /* the pool is gone: nothing to unlink from */
    }
  }
  for (i = 0; i < H1_MEMO; i++) free(p->h1_only[i].key);
  free(p);
}

static h2pool *pool_of(ws101_loop *loop) {
  ws101__clients *cl;
  if (loop == NULL) return NULL;
  cl = ws101__clients_of(loop);
  if (cl == NULL) return NULL;
  if (cl->h2_pool == NULL) {
    cl->h2_pool = calloc(1, sizeof(h2pool));
    if (cl->h2_pool != NULL) cl->h2_pool_free = pool_free;
  }
  return cl->h2_pool;
}

static void origin_key(const ws101__url *url, char *key, size_t cap) {
  /* Host, port and TLS, so ws:// and http:// to one server share the
   * connection. */
  snprintf(key, cap, "%s:%u:%d", url->host, (unsigned)url->port, url->tls);
}

static void remember_h1(h2pool *p, const char *key, uint64_t now) {
  unsigned i;
  char *k;
  for (i = 0; i < H1_MEMO; i++)
    if (p->h1_only[i].key != NULL && strcmp(p->h1_only[i].key, key) == 0) {
      p->h1_only[i].until = now + ws101__h2cli_h1_memo_ms;
      return;
    }
  k = strdup(key);
  if (k == NULL) return; /* only a memo: the next request asks again */
  free(p->h1_only[p->h1_next].key);
  p->h1_only[p->h1_next].key = k;
  p->h1_only[p->h1_next].until = now + ws101__h2cli_h1_memo_ms;
  p->h1_next = (p->h1_next + 1) % H1_MEMO;
}

static h2conn *conn_for(ws101_loop *loop, const ws101__url *url,
                        const struct ws101_options *o, int *err) {
  h2pool *p = pool_of(loop);
  ws101__tls_ctx *tls = NULL;
  h2conn *hc;
  size_t olen;
  char key[300];
  *err = WS101_ENOMEM;
  if (p == NULL) return NULL;
  if (url->tls) {
    /* Resolved now: the options belong to the request, which may be gone
     * by the time the connection is up; the context lives with the loop.
     * It is also the pool's key beside the origin: one context per set
     * of client TLS settings (CA, verification), so a request that
     * verifies never rides a connection opened without verifying, or
     * verified against other CAs. */
    tls = ws101__tls_client_ctx(loop, o);
    if (tls == NULL) {
      *err = WS101_ETLS;
      return NULL;
    }
  }
  origin_key(url, key, sizeof key);
  for (hc = p->conns; hc != NULL; hc = hc->next)
    if (!hc->retired && hc->tls == tls && strcmp(hc->origin, key) == 0)
      return hc;
  olen = strlen(key);
  hc = calloc(1, sizeof(*hc) + olen + 1);
  if (hc == NULL) return NULL;
  memcpy(hc->origin, key, olen + 1);
  hc->loop = loop;
  if (url->tls) {
    hc->tls = tls;
    hc->host = strdup(url->host);
    hc->url_origin = strdup(url->origin);
    if (hc->host == NULL || hc->url_origin == NULL) {
      hc_free(hc);
      return NULL;
    }
  }
  *err = ws101__connect_start(loop, url->host, url->port,
                              o->connect_timeout_ms, &h2_client_proto, hc,
                              on_connected, hc, &hc->creq);
  if (*err != 0) {
    hc_free(hc);
    return NULL;
  }
  hc->next = p->conns;
  if (p->conns != NULL) p->conns->prev = hc;
  p->conns = hc;
  return hc;
}

/* ---- API ----------------------------------------------------------------------- */

static int add_field(ws101__buf *b, const char *n, size_t nl, const char *v,
                     size_t vl) {
  if (ws101__buf_reserve(b, nl + vl + 2) != 0) return WS101_ENOMEM;
  ws101__buf_append(b, n, nl);
  ws101__buf_append(b, "", 1);
  ws101__buf_append(b, v, vl);
  ws101__buf_append(b, "", 1);
  return 0;
}

int ws101__h2cli_request(ws101_loop *loop, const ws101__url *url,
                         const char *method, const ws101__h2_field *fields,
                         size_t n, int has_body,
                         const struct ws101_options *o,
                         const ws101__h2cli_cbs *cbs, void *ud,
                         ws101__h2cli_req **out) {
  ws101__h2cli_req *r;
  h2conn *hc;
  size_t i;
  int rc = 0;
  *out = NULL;
  r = calloc(1, sizeof(*r));
  if (r == NULL) return WS101_ENOMEM;
  r->cbs = *cbs;
  r->ud = ud;
  r->has_body = has_body;
  r->is_ws = strcmp(method, "CONNECT") == 0;
  r->timeout_ms =
      r->is_ws ? o->ws_handshake_timeout_ms : o->response_timeout_ms;
  if (r->timeout_ms != 0) r->deadline = uv_now(loop->uv) + r->timeout_ms;
  rc |= add_field(&r->fields, ":method", 7, method, strlen(method));
  rc |= add_field(&r->fields, ":scheme", 7, url->tls ? "https" : "http",
                  url->tls ? 5 : 4);
  rc |= add_field(&r->fields, ":authority", 10, url->authority,
                  strlen(url->authority));
  rc |= add_field(&r->fields, ":path", 5, url->target, strlen(url->target));
  if (r->is_ws) rc |= add_field(&r->fields, ":protocol", 9, "websocket", 9);
  for (i = 0; i < n; i++)
    rc |= add_field(&r->fields, fields[i].name, fields[i].name_len,
                    fields[i].value, fields[i].value_len);
  r->nfields = n + 4 + (size_t)r->is_ws;
  if (rc != 0) {
    req_free(r);
    return WS101_ENOMEM;
  }
  hc = conn_for(loop, url, o, &rc);
  if (hc == NULL) {
    req_free(r);
    return rc;
  }
  r->hc = hc;
  r->next = hc->reqs;
  if (hc->reqs != NULL) hc->reqs->prev = r;
  hc->reqs = r;
  if (hc->h != NULL && (!r->is_ws || ws101__h2_peer_settings_seen(hc->h))) {
    if (r->is_ws && !ws101__h2_peer_connect_protocol(hc->h)) {
      req_free(r);
      return WS101_ENOTSUP;
    }
    rc = submit(hc, r);
    if (rc != 0) {
      req_free(r);
      return rc;
    }
    pump(hc);
  } else if (hc->c != NULL) {
    /* Joins a connection still in its TLS handshake, or an extended
     * CONNECT waiting for SETTINGS: its deadline counts from now on. */
    idle_or_busy(hc);
  }
  *out = r;
  return 0;
}

int ws101__h2cli_write(ws101__h2cli_req *r, const char *data, size_t len) {
  if (r->hc == NULL || r->ended) return WS101_ECLOSED;
  if (ws101__buf_append(&r->out, data, len) != 0) return WS101_ENOMEM;
  if (r->st != NULL) {
    ws101__h2_resume(r->hc->h, r->st);
    pump(r->hc);
  }
  return 0;
}

int ws101__h2cli_end(ws101__h2cli_req *r) {
  if (r->hc == NULL) return WS101_ECLOSED;
  r->ended = 1;
  if (r->st != NULL) {
    ws101__h2_resume(r->hc->h, r->st);
    pump(r->hc);
  }
  return 0;
}

void ws101__h2cli_cancel(ws101__h2cli_req *r) {
  h2conn *hc = r->hc;
  if (hc != NULL && r->st != NULL && hc->h != NULL) {
    ws101__h2_reset(hc->h, r->st, 0x8 /* CANCEL */);
    req_free(r);
    pump(hc);
    return;
  }
  req_free(r);
}

/* ---- RFC 8441: the stream transport of a client WebSocket -------------------- */

static void vt_flush(ws101__conn *vc) {
  ws101__h2cli_req *r = vc->vt_data;
  if (r == NULL || r->hc == NULL || r->st == NULL) return;
  ws101__h2_resume(r->hc->h, r->st);
  pump(r->hc);
}

static void vt_read_ctl(ws101__conn *vc, int on) {
  ws101__h2cli_req *r = vc->vt_data;
  if (!on || r == NULL) return;
  if (r->in.len > 0) {
    ws101__buf pend = r->in;
    h2conn *hc = r->hc;
    memset(&r->in, 0, sizeof(r->in));
    ws101__conn_deliver(vc, pend.data, pend.len);
    /* r may be gone if delivering closed the WebSocket. */
    r = vc->vt_data;
    if (r != NULL && r->st != NULL && hc != NULL && hc->h != NULL) {
      ws101__h2_consume(hc->h, r->st, pend.len);
      pump(hc);
    }
    ws101__buf_free(&pend);
  }
  r = vc->vt_data;
  if (r != NULL && r->in_ended && r->in.len == 0)
    ws101__conn_deliver_eof(vc);
}

static void vt_end(ws101__conn *vc) { vt_flush(vc); }

static void vt_close(ws101__conn *vc, int err) {
  ws101__h2cli_req *r = vc->vt_data;
  h2conn *hc;
  vc->vt_data = NULL;
  if (r == NULL) return;
  r->vc = NULL;
  hc = r->hc;
  if (hc != NULL && r->st != NULL && hc->h != NULL)
    ws101__h2_reset(hc->h, r->st, err == 0 ? 0x0 : 0x8);
  req_free(r);
  if (hc != NULL) pump(hc);
}

static void vt_peer(const ws101__conn *vc, char *buf, size_t size) {
  const ws101__h2cli_req *r = vc->vt_data;
  buf[0] = '\0';
  if (r != NULL && r->hc != NULL && r->hc->c != NULL)
    ws101__conn_peer(r->hc->c, buf, size);
}

static const ws101__conn_vt cli_stream_vt = {vt_flush, vt_read_ctl, vt_end,
                                             vt_close, vt_peer};

ws101__conn *ws101__h2cli_ws_attach(ws101__h2cli_req *r) {
  ws101__conn *vc;
  if (r->hc == NULL || r->st == NULL) return NULL;
  vc = ws101__conn_new_stream(r->hc->loop, &cli_stream_vt, r);
  if (vc == NULL) return NULL;
  r->vc = vc;
  r->attached = 1;
  return vc;
}

/* ---- h2c: a connection upgraded by our HTTP/1.1 request -------------------- */

int ws101__h2cli_adopt(ws101_loop *loop, const ws101__url *url,
                       ws101__conn *c, const uint8_t *settings, size_t slen,
                       int head_request, uint32_t timeout_ms,
                       const ws101__h2cli_cbs *cbs, void *ud,
                       ws101__h2cli_req **out, char *rest, size_t n) {
  h2pool *p = pool_of(loop);
  ws101__h2_settings set;
  ws101__h2cli_req *r;
  h2conn *hc;
  char key[300];
  size_t olen;
  *out = NULL;
  if (p == NULL) return WS101_ENOMEM;
  snprintf(key, sizeof key, "%s:%u:%d", url->host, (unsigned)url->port,
           url->tls);
  olen = strlen(key);
  hc = calloc(1, sizeof(*hc) + olen + 1);
  r = calloc(1, sizeof(*r));
  if (hc == NULL || r == NULL) {
    free(hc);
    free(r);
    return WS101_ENOMEM;
  }
  memcpy(hc->origin, key, olen + 1);
  hc->loop = loop;
  ws101__h2_settings_defaults(&set);
  if (ws101__h2_new(&hc->h, 0, &set, &sess_cbs, hc) != 0 ||
      ws101__h2_upgrade_client(hc->h, settings, slen, head_request, r,
                               &r->st) != 0) {
    if (hc->h != NULL) ws101__h2_free(hc->h);
    free(hc);
    free(r);
    return WS101_EPROTO;
  }
  r->cbs = *cbs;
  r->ud = ud;
  r->submitted = 1;
  r->ended = 1;
  r->timeout_ms = timeout_ms;
  if (timeout_ms != 0) r->deadline = uv_now(loop->uv) + timeout_ms;
  r->hc = hc;
  hc->reqs = r;
  hc->c = c;
  hc->next = p->conns;
  if (p->conns != NULL) p->conns->prev = hc;
  p->conns = hc;
  ws101__conn_set_proto(c, &h2_client_proto, hc);
  *out = r;
  if (n > 0)
    c_on_read(c, rest, n);
  else
    pump(hc);
  return 0;
}

int ws101__h2cli_has(ws101_loop *loop, const ws101__url *url) {
  h2pool *p = pool_of(loop);
  h2conn *hc;
  char key[300];
  if (p == NULL) return 0;
  origin_key(url, key, sizeof key);
  for (hc = p->conns; hc != NULL; hc = hc->next)
    if (!hc->retired && strcmp(hc->origin, key) == 0) return 1;
  return 0;
}

int ws101__h2cli_h1_only(ws101_loop *loop, const ws101__url *url) {
  h2pool *p = pool_of(loop);
  char key[300];
  unsigned i;
  if (p == NULL) return 0;
  origin_key(url, key, sizeof key);
  for (i = 0; i < H1_MEMO; i++) {
    h1_memo *m = &p->h1_only[i];
    if (m->key == NULL || strcmp(m->key, key) != 0) continue;
    if (uv_now(loop->uv) < m->until) return 1;
    free(m->key); /* expired: offer h2 again */
    m->key = NULL;
    return 0;
  }
  return 0;
}

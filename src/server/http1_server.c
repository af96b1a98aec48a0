/* http1_server.c - the HTTP/1.1 server protocol on a connection: feeds
 * bytes to the sans-I/O parser, routes requests, frames responses,
 * handles keep-alive, pipelining, 100-continue, timeouts and the hand-off
 * of an upgraded connection to the WebSocket engine. */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/conn.h"
#include "proto/http1_chars.h"
#include "proto/http1_parser.h"
#include "handles/request.h"
#include "server/server.h"
#include "handles/ws.h"
#include "proto/ws_handshake.h"
#include "proto/h2_session.h"

enum { ST_HEAD = 0, ST_BODY = 1 };

typedef struct h1s {
  ws101_req req; /* first: the request is the protocol's public face */
  ws101__conn *conn; /* NULL once the transport is gone */
  ws101_server *srv;
  ws101__buf in;     /* unconsumed input: partial head, pipelined bytes */
  size_t scanned;    /* parser resume offset into `in` */
  ws101__h1_body bodyd;
  int state;
  int active;        /* dispatched, response not complete */
  int body_done;     /* request body fully consumed */
  int keepalive;     /* decided per request */
  int chunked_out;   /* response uses chunked framing */
  int in_feed;       /* inside feed(): completions must not re-enter it */
  int head_started;  /* bytes of the next head have arrived */
  int shutting;      /* server is closing: no keep-alive */
  int stream_route;  /* handler got the request before its body */
  unsigned nreq;
  ws101_ws *upgrade_ws; /* accepted during feed: attach after it */
  /* h2c: the request offered a valid upgrade (settings decoded), and
   * then the 101 went out during feed: hand over after it. */
  uint8_t *h2_settings;
  size_t h2_settings_len;
  int h2c_pending, upgrade_h2;
} h1s;

static const ws101__req_ops h1_ops;
static void h1_feed_stash(h1s *h);

/* The request lost its peer (or its body): tell the handler once. Its
 * later answer completes the request with WS101_ECLOSED. */
static void abort_request(h1s *h) {
  ws101_abort_cb cb = h->req.abort_cb;
  if (h->req.aborted) return;
  h->req.aborted = 1;
  h->req.body_cb = NULL;
  h->req.abort_cb = NULL;
  if (cb != NULL) cb(&h->req, h->req.abort_user);
}

static h1s *H(ws101__conn *c) { return c->proto_data; }

/* States are kept for reuse up to this many per server (~38 KiB). */
#define H1_CACHE_MAX 64

static void h1_release_parts(h1s *h) {
  free(h->h2_settings);
  ws101__req_free(&h->req);
  ws101__buf_free(&h->in);
}

/* A state whose connection is gone (a request the application held past
 * it) may outlive its server, so it never goes back to the server's
 * cache. */
static void h1_free_orphan(h1s *h) {
  h1_release_parts(h);
  free(h);
}

static void h1_free(h1s *h) {
  ws101_server *srv = h->srv;
  h1_release_parts(h);
  if (srv->h1_cache_len < H1_CACHE_MAX) {
    memcpy(h, &srv->h1_cache, sizeof(void *));
    srv->h1_cache = h;
    srv->h1_cache_len++;
    return;
  }
  free(h);
}

void ws101__h1_cache_free(ws101_server *srv) {
  while (srv->h1_cache != NULL) {
    void *h = srv->h1_cache;
    memcpy(&srv->h1_cache, h, sizeof(void *));
    free(h);
  }
  srv->h1_cache_len = 0;
}

/* How much to allocate for a state on `c`. A connection with room for a
 * WebSocket is one block that outlives its HTTP/1.1 state: a state freed
 * at the upgrade leaves a hole, and a hole that is not a whole number of
 * those blocks is split by the next block, leaving a remainder nothing of
 * that size reuses (~40 bytes of RSS per idle WebSocket when the state is
 * a bit larger than a block). So the state is rounded up to a whole
 * number of block chunks: its holes take blocks without remainder. */
static size_t h1_alloc_size(const ws101__conn *c) {
  size_t blk, st;
  if (c->room == 0) return sizeof(h1s);
  blk = ws101__malloc_chunk(WS101__CONN_ROOM_OFF + c->room);
  st = ws101__malloc_chunk(sizeof(h1s));
  return (st + blk - 1) / blk * blk - sizeof(size_t);
}

/* ws101_loop_free's release of a held request nobody answered. */
static void h1_release(ws101__orphan *o) {
  h1_free_orphan((h1s *)(void *)((char *)o - offsetof(h1s, req.orphan)));
}

int ws101__h1_server_attach(ws101__conn *c, ws101_server *srv) {
  h1s *h = srv->h1_cache;
  if (h != NULL) {
    memcpy(&srv->h1_cache, h, sizeof(void *));
    srv->h1_cache_len--;
    memset(h, 0, sizeof(*h));
  } else if ((h = calloc(1, h1_alloc_size(c))) == NULL) {
    return WS101_ENOMEM;
  }
  h->conn = c;
  h->srv = srv;
  h->req.ops = &h1_ops;
  h->req.proto = h;
  h->req.server = srv;
  h->req.opts = &srv->opts;
  h->req.conn = c;
  ws101__req_reset(&h->req);
  ws101__conn_set_proto(c, &ws101__h1_server_proto, h);
  ws101__conn_set_deadline(c, srv->opts.header_timeout_ms);
  return 0;
}

/* ---- writing ------------------------------------------------------------ */

static int put(h1s *h, const char *p, size_t n) {
  uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
  if (h->conn == NULL) return WS101_ECLOSED;
  return ws101__conn_write(h->conn, &b, 1);
}

/* An error answer for a request we could not even route: always closes,
 * because after a framing error the byte stream cannot be trusted. */
static void send_error(h1s *h, int status, const char *extra) {
  char buf[512];
  const char *reason = ws101__h1_status_reason(status);
  int n = snprintf(buf, sizeof(buf),
                   "HTTP/1.1 %d %s\r\nDate: %s\r\nContent-Type: text/plain; "
                   "charset=utf-8\r\nContent-Length: %zu\r\n%sConnection: "
                   "close\r\n\r\n%s\n",
                   status, reason, ws101__loop_date(h->conn->loop),
                   strlen(reason) + 1, extra ? extra : "", reason);
  put(h, buf, (size_t)n);
  h->state = ST_HEAD;
  h->keepalive = 0;
  ws101__conn_end(h->conn, 2000);
}

/* Head building without stdio: each helper returns the new end. `line`
 * below has room for the longest head these can produce (about 220
 * bytes: a 64-byte reason cap, a 40-byte date cap, fixed literals). */
#define lit(p, s) (memcpy((p), (s), sizeof(s) - 1), (p) + sizeof(s) - 1)

static char *str(char *p, const char *s, size_t cap) {
  size_t n = strlen(s);
  if (n > cap) n = cap;
  memcpy(p, s, n);
  return p + n;
}

static char *put_u64(char *p, uint64_t v) {
  char tmp[20];
  int i = 0;
  do {
    tmp[i++] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (i > 0) *p++ = tmp[--i];
  return p;
}

static int h1_send_head(ws101_req *req, int64_t body_len) {
  h1s *h = req->proto;
  char line[384], *p;
  const char *reason;
  int n, close_after;
  uv_buf_t b[5];
  unsigned nb = 2;
  if (h->conn == NULL) return WS101_ECLOSED;
  h->chunked_out = 0;
  /* 204 and 304 carry no body, so no framing either (RFC 9110 6.4.1). */
  if (body_len < 0 && req->status != 204 && req->status != 304) {
    if (req->version >= 11)
      h->chunked_out = 1;
    else
      h->keepalive = 0; /* HTTP/1.0: the close delimits the body */
  }
  /* An unread request body cannot be skipped safely unless it is small and
   * framed; simpler and safe: close after this response. */
  if (!h->body_done) h->keepalive = 0;
  if (h->shutting) h->keepalive = 0;
  /* The last request MAX_KEEPALIVE_REQUESTS allows must announce the close
   * in its head; h1_finish counting it afterwards was too late to say so. */
  if (h->srv->opts.max_keepalive_requests &&
      h->nreq + 1 >= h->srv->opts.max_keepalive_requests)
    h->keepalive = 0;
  close_after = !h->keepalive;
  /* Built by hand: snprintf was a third of the instructions per request. */
  reason = ws101__h1_status_reason(req->status);
  p = lit(line, "HTTP/1.1 ");
  p = put_u64(p, (uint64_t)req->status);
  *p++ = ' ';
  p = str(p, reason, 64);
  p = lit(p, "\r\nDate: ");
  p = str(p, ws101__loop_date(h->conn->loop), 40);
  p = lit(p, "\r\n");
  if (h->chunked_out) {
    p = lit(p, "Transfer-Encoding: chunked\r\n");
  } else if (body_len >= 0 && req->status != 204 &&
             !(req->status == 304 && !req->has_cl)) {
    p = lit(p, "Content-Length: ");
    p = put_u64(p, (uint64_t)body_len);
    p = lit(p, "\r\n");
  }
  if (close_after)
    p = lit(p, "Connection: close\r\n");
  else if (req->version == 10)
    p = lit(p, "Connection: keep-alive\r\n");
  n = (int)(p - line);
  b[0] = uv_buf_init(line, (unsigned)n);
  b[1] = uv_buf_init(req->resp_hdrs.data, (unsigned)req->resp_hdrs.len);
  if (req->resp_ct != NULL) { /* ws101_req_respond's, after the app's */
    b[nb++] = uv_buf_init("Content-Type: ", 14);
    b[nb++] = uv_buf_init((char *)req->resp_ct, (unsigned)req->resp_ct_len);
  }
  b[nb++] = uv_buf_init(req->resp_ct != NULL ? "\r\n\r\n" : "\r\n",
                        req->resp_ct != NULL ? 4 : 2);
  return ws101__conn_write(h->conn, b, nb);
}

static int h1_send_body(ws101_req *req, const char *data, size_t len) {
  h1s *h = req->proto;
  if (h->conn == NULL) return WS101_ECLOSED;
  if (h->chunked_out) {
    static const char hex[] = "0123456789abcdef";
    char sz[24], *q = sz + sizeof(sz);
    uv_buf_t b[3];
    size_t v = len;
    *--q = '\n';
    *--q = '\r';
    do {
      *--q = hex[v & 15];
      v >>= 4;
    } while (v != 0);
    b[0] = uv_buf_init(q, (unsigned)(sz + sizeof(sz) - q));
    b[1] = uv_buf_init((char *)data, (unsigned)len);
    b[2] = uv_buf_init("\r\n", 2);
    return ws101__conn_write(h->conn, b, 3);
  }
  return put(h, data, len);
}

/* The request is complete: either serve the next one on this connection or
 * end it. A request completed after its transport died frees the state. */
static int h1_finish(ws101_req *req) {
  h1s *h = req->proto;
  int rc = 0;
  req->resp_state = WS101__RESP_DONE;
  /* The request is complete: its callbacks must never run again, even if
   * body bytes that were already read are still being consumed. */
  req->body_cb = NULL;
  req->abort_cb = NULL;
  if (h->conn == NULL) {
    ws101__loop_remove_orphan(&req->orphan);
    h1_free_orphan(h);
    return WS101_ECLOSED;
  }
  if (h->chunked_out && !req->is_head) rc = put(h, "0\r\n\r\n", 5);
  if (req->has_cl && req->cl_left > 0 && !req->is_head &&
      req->status != 204 && req->status != 304)
    h->keepalive = 0; /* a short body: the peer would wait forever */
  h->active = 0;
  h->nreq++;
  if (h->srv->opts.max_keepalive_requests &&
      h->nreq >= h->srv->opts.max_keepalive_requests)
    h->keepalive = 0;
  if (!h->keepalive || !h->body_done || h->shutting) {
    ws101__conn_end(h->conn, 2000);
    return rc;
  }
  ws101__req_reset(req);
  h->state = ST_HEAD;
  h->head_started = h->in.len > 0;
  ws101__conn_set_deadline(h->conn, h->head_started
                                        ? h->srv->opts.header_timeout_ms
                                        : h->srv->opts.idle_timeout_ms);
  if (!h->in_feed) {
    ws101__conn_resume(h->conn);
    if (h->in.len > 0) h1_feed_stash(h);
  }
  return rc;
}

static void h1_peer(ws101_req *req, char *buf, size_t size) {
  h1s *h = req->proto;
  if (h->conn != NULL) ws101__conn_peer(h->conn, buf, size);
}

static void deliver_body_end(h1s *h) {
  if (h->req.body_cb != NULL)
    h->req.body_cb(&h->req, NULL, 0, 1, h->req.body_user);
}

static int h1_read_body(ws101_req *req) {
  h1s *h = req->proto;
  if (h->conn == NULL) return WS101_ECLOSED;
  if (h->req.head.flags & WS101__H1_EXPECT_CONTINUE && !h->body_done)
    put(h, "HTTP/1.1 100 Continue\r\n\r\n", 25);
  if (h->body_done && !h->in_feed) deliver_body_end(h);
  if (!h->in_feed && !h->body_done) {
    /* Called after the handler returned: deliver what waited meanwhile. */
    ws101__conn_resume(h->conn);
    if (h->in.len > 0) h1_feed_stash(h);
  }
  return 0;
}

static void h1_attach_ws(h1s *h, ws101_ws *ws, char *rest, size_t n) {
  ws101__conn *c = h->conn;
  h->conn = NULL;
  ws101__conn_set_deadline(c, 0);
  ws101__ws_attach(ws, c, rest, n);
  ws101__conn_resume(c);
}

static int h1_accept_ws(ws101_req *req, const char *subprotocol,
                        const char *extensions, const void *pmd,
                        ws101_ws_cb cb, void *user_data, ws101_ws **out) {
  h1s *h = req->proto;
  char head[512], accept[29];
  const char *key = ws101_req_header(req, "Sec-WebSocket-Key");
  ws101__ws_init init;
  ws101_ws *ws;
  uv_buf_t b[3];
  int n;
  memset(&init, 0, sizeof(init));
  init.is_client = 0;
  init.opts = &h->srv->opts;
  init.path = req->path;
  init.subprotocol = subprotocol;
  init.extensions = extensions;
  init.pmd = pmd;
  init.cb = cb;
  init.user_data = user_data;
  init.room = h->conn; /* the connection's room holds the handle */
  ws = ws101__ws_new(&init);
  if (ws == NULL) return WS101_ENOMEM;
  ws101__ws_accept_key(key, strlen(key), accept);
  n = snprintf(head, sizeof(head),
               "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n",
               accept);
  if (subprotocol != NULL && *subprotocol != '\0')
    n += snprintf(head + n, sizeof(head) - (size_t)n,
                  "Sec-WebSocket-Protocol: %s\r\n", subprotocol);
  if (extensions != NULL)
    n += snprintf(head + n, sizeof(head) - (size_t)n,
                  "Sec-WebSocket-Extensions: %s\r\n", extensions);
  if (n < 0 || (size_t)n >= sizeof(head)) {
    /* request.c bounds the subprotocol and extensions; never send a
     * truncated head. */
    ws101_ws_unref(ws);
    return WS101_EINVAL;
  }
  b[0] = uv_buf_init(head, (unsigned)n);
  b[1] = uv_buf_init(req->resp_hdrs.data, (unsigned)req->resp_hdrs.len);
  b[2] = uv_buf_init("\r\n", 2);
  ws101__conn_write(h->conn, b, 3);
  req->resp_state = WS101__RESP_DONE;
  h->active = 0;
  if (out != NULL) *out = ws;
  if (h->in_feed) {
    h->upgrade_ws = ws; /* feed stops; on_read attaches with the rest */
  } else {
    ws101__conn *c = h->conn;
    ws101__buf rest = h->in;
    h->in.data = NULL;
    h->in.len = h->in.cap = 0;
    h1_attach_ws(h, ws, rest.data, rest.len);
    (void)c;
    ws101__buf_free(&rest);
    h1_free(h);
  }
  return 0;
}

static size_t h1_queued(const ws101_req *req, int *waiting) {
  const h1s *h = req->proto;
  if (h->conn == NULL) return 0;
  *waiting = (h->conn->flags & WS101__CONN_WRITING) != 0;
  return ws101__conn_buffered(h->conn);
}

static void h1_drop(ws101_req *req, int err) {
  h1s *h = req->proto;
  if (h->conn != NULL) ws101__conn_close(h->conn, err);
}

static const ws101__req_ops h1_ops = {h1_send_head, h1_send_body, h1_finish,
                                      h1_accept_ws, h1_peer, h1_read_body,
                                      h1_queued,    h1_drop};

/* ---- reading ------------------------------------------------------------ */

/* h2c: the body of the upgrading request is read; answer 101 and stop
 * feeding, the caller of feed hands the connection to HTTP/2. */
static void switch_to_h2c(h1s *h) {
  static const char head[] = "HTTP/1.1 101 Switching Protocols\r\n"
                             "Connection: Upgrade\r\nUpgrade: h2c\r\n\r\n";
  put(h, head, sizeof(head) - 1);
  h->upgrade_h2 = 1;
}

static void dispatch(h1s *h) {
  if (h->h2c_pending) {
    switch_to_h2c(h);
    return;
  }
  h->active = 1;
  ws101__server_dispatch(&h->req);
}

/* h2c (RFC 7540 3.2): Upgrade lists h2c, Connection lists Upgrade and
 * HTTP2-Settings, and exactly one HTTP2-Settings header decodes. The rule
 * when Upgrade lists websocket as well: the WebSocket wins, the request
 * stays HTTP/1.1 (a client asking for a WebSocket wants one, and its 101
 * is the only answer it can use). Returns 1 to upgrade, 0 to serve the
 * request in HTTP/1.1 (no offer, or h2c turned off), -1 for a 400. */
static int check_h2c(h1s *h) {
  const ws101__h1_head *hd = &h->req.head;
  const struct ws101_options *o = &h->srv->opts;
  const char *v = NULL;
  size_t i, count = 0;
  int n;
  if (!o->http2 || !o->h2c || hd->version != 11 || hd->upgrade == NULL ||
      !ws101__h1_token_list_has(hd->upgrade, "h2c") ||
      ws101__h1_token_list_has(hd->upgrade, "websocket") ||
      !ws101__h1_token_list_has(hd->connection, "upgrade") ||
      !ws101__h1_token_list_has(hd->connection, "http2-settings"))
    return 0;
  for (i = 0; i < hd->nheaders; i++)
    if (ws101__h1_ieq(hd->headers[i].name, "http2-settings")) {
      v = hd->headers[i].value;
      count++;
    }
  if (count != 1) return -1;
  h->h2_settings_len = 0;
  free(h->h2_settings);
  h->h2_settings = malloc(strlen(v) + 1);
  if (h->h2_settings == NULL) return -1;
  n = ws101__h2_decode_settings(v, strlen(v), h->h2_settings, strlen(v) + 1);
  if (n < 0) return -1;
  h->h2_settings_len = (size_t)n;
  return 1;
}

/* A head is complete: take it, set up the body, and dispatch now (streaming
 * routes and bodiless requests) or after the body (buffered). */
static int start_request(h1s *h, const char *raw, size_t n,
                         const ws101__h1_head *parsed) {
  const struct ws101_options *o = &h->srv->opts;
  const char *expect;
  if (ws101__req_take_head(&h->req, raw, n, parsed) != 0) {
    send_error(h, 503, NULL);
    return -1;
  }
  h->keepalive = (parsed->flags & WS101__H1_KEEPALIVE) != 0;
  h->head_started = 0;
  ws101__conn_set_deadline(h->conn, 0);
  ws101__h1_body_init_request(&h->bodyd, &h->req.head);
  h->body_done = ws101__h1_body_done(&h->bodyd);
  h->req.route = ws101__server_match(h->srv, h->req.path, strlen(h->req.path));
  h->req.route_flags = h->req.route != NULL ? h->req.route->flags : 0;
  h->stream_route = h->req.route != NULL && !h->req.route->websocket &&
                    (h->req.route->flags & WS101_ROUTE_STREAM_BODY);
  switch (check_h2c(h)) {
  case -1:
    send_error(h, 400, NULL);
    return -1;
  case 1:
    /* Stream 1 gets the whole body: read it here first (RFC 7540 3.2). */
    h->h2c_pending = 1;
    h->stream_route = 0;
    break;
  default:
    break;
  }
  expect = ws101_req_header(&h->req, "Expect");
  if (expect != NULL && !ws101__h1_ieq(expect, "100-continue")) {
    send_error(h, 417, NULL);
    return -1;
  }
  if (!h->stream_route && (parsed->flags & WS101__H1_HAS_CL) &&
      parsed->content_length > o->max_body) {
    send_error(h, 413, NULL);
    return -1;
  }
  if (h->body_done || h->stream_route) {
    h->state = h->body_done ? ST_HEAD : ST_BODY;
    dispatch(h);
    /* A streaming route with no body (GET, Content-Length: 0): the handler
     * called ws101_req_read_body inside feed(), which defers the final
     * last=1 call to us; without this it never came. */
    if (h->stream_route && h->body_done && h->active &&
        h->req.body_cb != NULL)
      deliver_body_end(h);
    return 0;
  }
  if (parsed->flags & WS101__H1_EXPECT_CONTINUE)
    put(h, "HTTP/1.1 100 Continue\r\n\r\n", 25);
  h->state = ST_BODY;
  ws101__conn_set_deadline(h->conn, o->idle_timeout_ms);
  return 0;
}

/* Consumes as much of data[0..len) as possible; returns how much. Stops
 * early while a response is pending (pipelining), after an upgrade, or on
 * an error. */
static size_t feed(h1s *h, char *data, size_t len) {
  const struct ws101_options *o = &h->srv->opts;
  size_t pos = 0;
  h->in_feed = 1;
  while (pos < len && h->conn != NULL && h->upgrade_ws == NULL &&
         !h->upgrade_h2 &&
         !(h->conn->flags & (WS101__CONN_CLOSING | WS101__CONN_ENDING))) {
    if (h->state == ST_HEAD) {
      ws101__h1_head head;
      int n;
      if (h->active) break; /* pipelined: wait for the response */
      /* Output backpressure: the answers already queued have not left, so
       * the next request waits (in `in`, reading stopped) until on_drain. */
      if (ws101__conn_out_full(h->conn)) break;
      memset(&head, 0, sizeof(head));
      /* Parsing is synchronous on the loop thread, so the server's one
       * scratch array serves every connection; start_request copies the
       * fields it keeps. */
      head.headers = h->srv->hdr_scratch;
      head.max_headers_cap = o->max_headers;
      n = ws101__h1_parse_request(data + pos, len - pos, &h->scanned,
                                  &h->srv->limits, &head);
      if (n > 0) {
        int rc;
        h->scanned = 0;
        rc = start_request(h, data + pos, (size_t)n, &head);
        pos += (size_t)n;
        if (rc != 0) break;
        continue;
      }
      if (n < 0) {
        send_error(h, -n, NULL);
        pos = len;
        break;
      }
      if (!h->head_started) {
        h->head_started = 1;
        ws101__conn_set_deadline(h->conn, o->header_timeout_ms);
      }
      break; /* incomplete head: keep the rest */
    } else {
      const char *d;
      size_t used = 0, dl = 0;
      int r;
      /* A streaming handler that has not called ws101_req_read_body yet
       * keeps its body bytes: they wait here (reading paused) rather than
       * being dropped. */
      if (h->stream_route && h->active && h->req.body_cb == NULL) break;
      r = ws101__h1_body_next(&h->bodyd, data + pos, len - pos, &used, &d,
                                  &dl);
      pos += used;
      if (r < 0) {
        if (h->active && h->req.resp_state != WS101__RESP_IDLE) {
          /* The handler already answers: no status can be sent now. */
          ws101__conn_close(h->conn, WS101_EPROTO);
          break;
        }
        if (h->active) {
          /* A streaming handler that has not answered yet: the client
           * learns why (400, 413, ...), the handler that its body was cut
           * off, and its own answer later finds the request aborted. */
          send_error(h, -r, NULL);
          abort_request(h);
          pos = len;
          break;
        }
        send_error(h, -r, NULL);
        pos = len;
        break;
      }
      if (r == WS101__H1_BODY_DATA) {
        if (h->stream_route) {
          if (h->req.body_cb != NULL)
            h->req.body_cb(&h->req, d, dl, 0, h->req.body_user);
        } else if (h->req.body.len + dl > o->max_body) {
          send_error(h, 413, NULL);
          pos = len;
          break;
        } else if (ws101__buf_append(&h->req.body, d, dl) != 0) {
          send_error(h, 503, NULL);
          pos = len;
          break;
        }
        /* A Content-Length body ends with its last byte: do not wait for
         * more input to learn that. */
        if (!ws101__h1_body_done(&h->bodyd)) continue;
        r = WS101__H1_BODY_DONE;
      }
      if (r == WS101__H1_BODY_DONE) {
        h->body_done = 1;
        h->state = ST_HEAD;
        if (h->stream_route) {
          deliver_body_end(h);
        } else {
          dispatch(h);
        }
        continue;
      }
      ws101__conn_set_deadline(h->conn, o->idle_timeout_ms);
      break; /* MORE: all consumed */
    }
  }
  h->in_feed = 0;
  return pos;
}

/* Hands over to HTTP/2 after the 101 of an h2c upgrade; `rest` starts
 * with the client preface. */
static void finish_h2c(h1s *h, char *rest, size_t n) {
  ws101__conn *c = h->conn;
  h->conn = NULL;
  ws101__conn_set_deadline(c, 0);
  ws101__h2_server_upgrade(c, h->srv, h->h2_settings, h->h2_settings_len,
                           &h->req, rest, n);
  ws101__conn_resume(c);
}

/* HTTP/2 by prior knowledge: a connection whose first bytes are the
 * client preface. Returns 1 when handed over, 2 when the bytes so far are
 * a prefix of the preface (keep them, unparsed), 0 for HTTP/1.1. */
static int sniff_h2(h1s *h, char *data, size_t len) {
  ws101__conn *c = h->conn;
  int r;
  if (!h->srv->opts.http2 || h->nreq != 0 || h->active ||
      h->state != ST_HEAD || h->head_started)
    return 0;
  r = ws101__h2_is_preface(data, len);
  if (r < 0) return 0;
  if (r == 0) return 2;
  h->conn = NULL;
  if (ws101__h2_server_attach(c, h->srv, data, len) != 0) {
    c->proto = NULL; /* the HTTP/1.1 state goes with our caller's h1_free */
    ws101__conn_close(c, WS101_ENOMEM);
  }
  return 1;
}

int ws101__h1_server_switch_h2(ws101__conn *c) {
  h1s *h = H(c);
  int rc;
  h->conn = NULL;
  rc = ws101__h2_server_attach(c, h->srv, NULL, 0);
  if (rc != 0) {
    c->proto = NULL;
    ws101__conn_close(c, rc);
  }
  h1_free(h);
  return rc;
}

/* Hands over to the WebSocket engine after a synchronous accept. */
static void finish_upgrade(h1s *h, char *rest, size_t n) {
  ws101_ws *ws = h->upgrade_ws;
  h->upgrade_ws = NULL;
  h1_attach_ws(h, ws, rest, n);
}

static void h1_feed_stash(h1s *h) {
  size_t used = feed(h, h->in.data, h->in.len);
  if (h->upgrade_h2) {
    finish_h2c(h, h->in.data + used, h->in.len - used);
    h1_free(h);
    return;
  }
  if (h->upgrade_ws != NULL) {
    ws101__buf rest = h->in;
    memset(&h->in, 0, sizeof(h->in));
    finish_upgrade(h, rest.data + used, rest.len - used);
    ws101__buf_free(&rest);
    h1_free(h);
    return;
  }
  if (h->conn == NULL) return;
  memmove(h->in.data, h->in.data + used, h->in.len - used);
  h->in.len -= used;
  if (h->in.len == 0) ws101__buf_reset(&h->in, 4096);
  if (h->active && h->in.len > 0) ws101__conn_pause(h->conn);
  /* Bytes may have finished a response synchronously and left a complete
   * pipelined request: the loop in feed() already handled it. */
}

static void h1_on_read(ws101__conn *c, char *data, size_t len) {
  h1s *h = H(c);
  size_t used;
  if (h->in.len > 0) {
    if (ws101__buf_append(&h->in, data, len) != 0) {
      ws101__conn_close(c, WS101_ENOMEM);
      return;
    }
    switch (sniff_h2(h, h->in.data, h->in.len)) {
    case 1:
      h1_free(h);
      return;
    case 2:
      return;
    default:
      break;
    }
    h1_feed_stash(h);
    return;
  }
  switch (sniff_h2(h, data, len)) {
  case 1:
    h1_free(h);
    return;
  case 2:
    if (ws101__buf_append(&h->in, data, len) != 0)
      ws101__conn_close(c, WS101_ENOMEM);
    return;
  default:
    break;
  }
  used = feed(h, data, len);
  if (h->upgrade_h2) {
    finish_h2c(h, data + used, len - used);
    h1_free(h);
    return;
  }
  if (h->upgrade_ws != NULL) {
    finish_upgrade(h, data + used, len - used);
    h1_free(h);
    return;
  }
  if (used < len && !(c->flags & (WS101__CONN_CLOSING | WS101__CONN_ENDING))) {
    if (ws101__buf_append(&h->in, data + used, len - used) != 0) {
      ws101__conn_close(c, WS101_ENOMEM);
      return;
    }
    if (h->active) ws101__conn_pause(c);
  }
}

static void h1_on_read_end(ws101__conn *c, int err) {
  h1s *h = H(c);
  (void)err;
  if (h->active) {
    if (h->state == ST_BODY && !h->body_done) {
      /* FIN in the middle of a streamed body: the request is truncated,
       * which the handler learns through its abort callback. */
      ws101__conn_close(c, WS101_EPROTO);
      return;
    }
    /* The peer half-closed while we answer: finish writing, then close. */
    h->keepalive = 0;
    if (err != WS101_EEOF) ws101__conn_close(c, err);
    return;
  }
  if (h->head_started || h->state == ST_BODY)
    ws101__conn_close(c, WS101_EPROTO); /* truncated request */
  else
    ws101__conn_end(c, 1000);
}

static void h1_on_timeout(ws101__conn *c) {
  h1s *h = H(c);
  if (!h->active && h->state == ST_HEAD && ws101__conn_out_full(c)) {
    /* A pipelined head waits for our own output to drain, not for the
     * peer: the send timeout (conn_flow.c) bounds that wait instead. */
    ws101__conn_set_deadline(c, h->srv->opts.header_timeout_ms);
    return;
  }
  if (h->active) {
    /* A streamed body that stalls is dropped (the handler gets its abort
     * callback); a handler taking its time to answer is never timed out. */
    if (h->state == ST_BODY && !h->body_done)
      ws101__conn_close(c, WS101_ETIMEDOUT);
    return;
  }
  if (h->head_started || h->state == ST_BODY)
    send_error(h, 408, NULL);
  else
    ws101__conn_close(c, 0); /* idle keep-alive connection */
}

static void h1_on_shutdown(ws101__conn *c) {
  h1s *h = H(c);
  h->shutting = 1;
  if (!h->active) ws101__conn_end(c, 1000);
}

static void h1_on_close(ws101__conn *c, int err) {
  h1s *h = H(c);
  (void)err;
  h->conn = NULL;
  h->req.conn = NULL;
  if (h->active) {
    /* The application still holds the request: it is freed when the
     * application completes it, or by ws101_loop_free if it never does. */
    h->req.orphan.release = h1_release;
    ws101__loop_add_orphan(h->srv->loop, &h->req.orphan);
    abort_request(h);
    return;
  }
  h1_free(h);
}

/* The output queue emptied (and reading resumed, conn_flow.c): a streamed
 * response may write again, and pipelined requests held back by the
 * output limit are served. */
static void h1_on_drain(ws101__conn *c) {
  h1s *h = H(c);
  if (h->active) {
    ws101__req_drained(&h->req);
    return;
  }
  if (h->in.len > 0 && !h->in_feed && h->state == ST_HEAD)
    h1_feed_stash(h);
}

const ws101__proto ws101__h1_server_proto = {
    "http/1.1",   h1_on_read,    h1_on_read_end, h1_on_drain,
    h1_on_timeout, h1_on_shutdown, h1_on_close};

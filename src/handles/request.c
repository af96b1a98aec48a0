/* request.c - the protocol-neutral ws101_req_* functions: request
 * accessors, response building and WebSocket acceptance. Protocol details
 * (HTTP/1.1 framing today, HTTP/2 streams later) sit behind req->ops. */
#include "handles/request.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/conn.h"
#include "proto/http1_chars.h"
#include "proto/ws_deflate.h"
#include "proto/ws_handshake.h"

void ws101__req_reset(ws101_req *req) {
  req->route = NULL;
  req->route_flags = 0;
  req->head.nheaders = 0;
  req->path = req->query = NULL;
  req->headbuf.len = 0;
  ws101__buf_reset(&req->body, 64 * 1024);
  ws101__buf_reset(&req->resp_hdrs, 4096);
  req->status = 200;
  req->resp_state = WS101__RESP_IDLE;
  req->resp_ct = NULL;
  req->has_cl = 0;
  req->cl_value = req->cl_left = 0;
  req->is_head = 0;
  req->aborted = 0;
  req->abort_cb = NULL;
  req->abort_user = NULL;
  req->body_cb = NULL;
  req->body_user = NULL;
  req->drain_cb = NULL;
  req->drain_user = NULL;
  req->want_drain = 0;
  req->user_data = NULL;
}

void ws101__req_free(ws101_req *req) {
  free(req->hdrs);
  req->hdrs = NULL;
  req->hdr_cap = 0;
  ws101__buf_free(&req->headbuf);
  ws101__buf_free(&req->body);
  ws101__buf_free(&req->resp_hdrs);
}

static char *rebase(char *p, const char *from, char *to) {
  return p ? to + (p - from) : NULL;
}

/* What both ways of taking a head end with: path and query from the
 * target (NUL-terminated where it lies, so without a query the path is
 * the target itself; with one, the part before '?' is copied, NUL-ended,
 * to the end of headbuf, which the caller left room for), the version,
 * and whether it is a HEAD request. */
static void head_taken(ws101_req *req) {
  const char *t = req->head.target;
  const char *q = memchr(t, '?', req->head.target_len);
  if (q == NULL) {
    req->path = t;
    req->query = "";
  } else {
    size_t plen = (size_t)(q - t);
    char *p = req->headbuf.data + req->headbuf.len;
    memcpy(p, t, plen);
    p[plen] = '\0';
    req->headbuf.len += plen + 1;
    req->path = p;
    req->query = q + 1;
  }
  req->version = req->head.version;
  req->is_head =
      req->head.method_len == 4 && memcmp(req->head.method, "HEAD", 4) == 0;
}

int ws101__req_take_head(ws101_req *req, const char *raw, size_t head_len,
                         const ws101__h1_head *parsed) {
  size_t i;
  char *base;
  req->headbuf.len = 0;
  if (ws101__buf_reserve(&req->headbuf, head_len + parsed->target_len + 1))
    return WS101_ENOMEM;
  if (parsed->nheaders > req->hdr_cap) {
    ws101__h1_header *h = realloc(req->hdrs, parsed->nheaders * sizeof(*h));
    if (h == NULL) return WS101_ENOMEM;
    req->hdrs = h;
    req->hdr_cap = parsed->nheaders;
  }
  base = req->headbuf.data;
  memcpy(base, raw, head_len);
  req->headbuf.len = head_len;
  req->head = *parsed;
  req->head.headers = req->hdrs;
  req->head.max_headers_cap = req->hdr_cap;
  req->head.method = rebase(parsed->method, raw, base);
  req->head.target = rebase(parsed->target, raw, base);
  req->head.reason = rebase(parsed->reason, raw, base);
  req->head.host = rebase(parsed->host, raw, base);
  req->head.upgrade = rebase(parsed->upgrade, raw, base);
  req->head.connection = rebase(parsed->connection, raw, base);
  for (i = 0; i < parsed->nheaders; i++) {
    req->hdrs[i] = parsed->headers[i];
    req->hdrs[i].name = rebase(parsed->headers[i].name, raw, base);
    req->hdrs[i].value = rebase(parsed->headers[i].value, raw, base);
  }
  head_taken(req);
  return 0;
}

int ws101__req_adopt_head(ws101_req *req, ws101__buf *buf,
                          ws101__h1_header **fields, size_t *cap,
                          const ws101__h1_head *parsed) {
  ws101__buf mine = req->headbuf;
  ws101__h1_header *my_fields = req->hdrs;
  size_t my_cap = req->hdr_cap;
  if (buf->cap - buf->len < parsed->target_len + 1)
    return ws101__req_take_head(req, buf->data, buf->len, parsed);
  req->headbuf = *buf;
  req->hdrs = *fields;
  req->hdr_cap = *cap;
  mine.len = 0;
  *buf = mine;
  *fields = my_fields;
  *cap = my_cap;
  req->head = *parsed;
  req->head.headers = req->hdrs;
  req->head.max_headers_cap = req->hdr_cap;
  head_taken(req);
  return 0;
}

/* ---- accessors ---------------------------------------------------------- */

const char *ws101_req_method(const ws101_req *req) { return req->head.method; }
const char *ws101_req_target(const ws101_req *req) { return req->head.target; }
const char *ws101_req_path(const ws101_req *req) { return req->path; }
const char *ws101_req_query(const ws101_req *req) { return req->query; }
int ws101_req_http_version(const ws101_req *req) { return req->version; }

const char *ws101_req_remote_addr(const ws101_req *req) {
  ws101_req *r = (ws101_req *)req; /* lazily cached: a logical const */
  if (r->peer[0] == '\0' && !r->aborted && r->ops->peer != NULL)
    r->ops->peer(r, r->peer, sizeof(r->peer));
  return r->peer;
}

const char *ws101_req_header(const ws101_req *req, const char *name) {
  if (name == NULL) return NULL;
  return ws101__h1_find_header(&req->head, name);
}

size_t ws101_req_header_count(const ws101_req *req) {
  return req->head.nheaders;
}

const char *ws101_req_header_name(const ws101_req *req, size_t i) {
  return i < req->head.nheaders ? req->head.headers[i].name : NULL;
}

const char *ws101_req_header_value(const ws101_req *req, size_t i) {
  return i < req->head.nheaders ? req->head.headers[i].value : NULL;
}

const char *ws101_req_body(const ws101_req *req) {
  return req->body.len ? req->body.data : NULL;
}

size_t ws101_req_body_len(const ws101_req *req) { return req->body.len; }

int ws101_req_is_websocket(const ws101_req *req) {
  return req->head.upgrade != NULL &&
         ws101__h1_token_list_has(req->head.upgrade, "websocket");
}

const char *ws101_req_ws_protocols(const ws101_req *req) {
  return ws101__h1_find_header(&req->head, "Sec-WebSocket-Protocol");
}

int ws101_req_read_body(ws101_req *req, ws101_body_cb cb, void *user_data) {
  if (req == NULL || cb == NULL) return WS101_EINVAL;
  if (req->route == NULL || !(req->route_flags & WS101_ROUTE_STREAM_BODY) ||
      req->body_cb != NULL)
    return WS101_ESTATE;
  req->body_cb = cb;
  req->body_user = user_data;
  return req->ops->read_body(req);
}

int ws101_req_on_abort(ws101_req *req, ws101_abort_cb cb, void *user_data) {
  if (req == NULL) return WS101_EINVAL;
  req->abort_cb = cb;
  req->abort_user = user_data;
  return 0;
}

void ws101_req_set_user_data(ws101_req *req, void *user_data) {
  req->user_data = user_data;
}

void *ws101_req_get_user_data(const ws101_req *req) { return req->user_data; }

/* ---- response ----------------------------------------------------------- */

int ws101_req_set_status(ws101_req *req, int status) {
  if (req == NULL || status < 200 || status > 999) return WS101_EINVAL;
  if (req->resp_state != WS101__RESP_IDLE) return WS101_ESTATE;
  req->status = status;
  return 0;
}

/* The length of a NUL-terminated token, 0 when it is empty or holds a
 * byte that is not a tchar: one pass that both checks and measures. */
static size_t token_len(const char *s) {
  const char *p = s;
  while (ws101__h1_is_tchar((unsigned char)*p)) p++;
  return *p == '\0' ? (size_t)(p - s) : 0;
}

int ws101_req_add_header(ws101_req *req, const char *name, const char *value) {
  const char *p;
  size_t nl, vl;
  if (req == NULL || name == NULL || value == NULL) return WS101_EINVAL;
  nl = token_len(name);
  vl = strlen(value);
  if (nl == 0 || !ws101__h1_is_field_value_n(value, vl)) return WS101_EINVAL;
  if (req->resp_state != WS101__RESP_IDLE) return WS101_ESTATE;
  /* Headers the library writes itself; compared only at their lengths,
   * since every response adds a header or two. */
  switch (nl) {
  case 4:
    if (ws101__h1_ieq(name, "date")) return WS101_EINVAL;
    break;
  case 7:
    if (ws101__h1_ieq(name, "upgrade")) return WS101_EINVAL;
    break;
  case 10:
    if (ws101__h1_ieq(name, "connection") ||
        ws101__h1_ieq(name, "keep-alive"))
      return WS101_EINVAL;
    break;
  case 17:
    if (ws101__h1_ieq(name, "transfer-encoding")) return WS101_EINVAL;
    break;
  default:
    break;
  }
  if (nl == 14 && ws101__h1_ieq(name, "content-length")) {
    uint64_t v = 0;
    if (req->has_cl || *value == '\0') return WS101_EINVAL;
    for (p = value; *p; p++) {
      if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10)
        return WS101_EINVAL;
      v = v * 10 + (uint64_t)(*p - '0');
    }
    req->has_cl = 1;
    req->cl_value = req->cl_left = v;
    return 0; /* emitted by send_head, which knows about HEAD and 304 */
  }
  if (ws101__buf_reserve(&req->resp_hdrs, nl + vl + 4)) return WS101_ENOMEM;
  ws101__buf_append(&req->resp_hdrs, name, nl);
  ws101__buf_append(&req->resp_hdrs, ": ", 2);
  ws101__buf_append(&req->resp_hdrs, value, vl);
  ws101__buf_append(&req->resp_hdrs, "\r\n", 2);
  return 0;
}

static int complete(ws101_req *req, int rc) {
  int frc = req->ops->finish(req);
  return rc ? rc : frc;
}

static int body_allowed(const ws101_req *req) {
  return !req->is_head && req->status != 204 && req->status != 304;
}

int ws101_req_respond(ws101_req *req, int status, const char *content_type,
                      const char *body, size_t len) {
  int rc;
  if (req == NULL || (body == NULL && len > 0)) return WS101_EINVAL;
  if (req->resp_state != WS101__RESP_IDLE) return WS101_ESTATE;
  if (status < 200 || status > 999) return WS101_EINVAL;
  if (req->has_cl && req->cl_value != len) return WS101_EINVAL;
  if (content_type != NULL) {
    /* Not through resp_hdrs: send_head puts it out itself (a line on
     * HTTP/1.1, a field on HTTP/2), so it is checked here as
     * ws101_req_add_header would. */
    size_t n = strlen(content_type);
    if (!ws101__h1_is_field_value_n(content_type, n)) return WS101_EINVAL;
    req->resp_ct = content_type;
    req->resp_ct_len = n;
  }
  req->status = status;
  req->resp_state = WS101__RESP_STREAMING;
  /* The whole body goes out here: nothing of a handler-set Content-Length
   * is left owing. Without this, finish() saw cl_left > 0 and closed the
   * connection after a response whose head promised keep-alive. */
  req->cl_left = 0;
  if (req->aborted) {
    req->resp_ct = NULL;
    return complete(req, WS101_ECLOSED);
  }
  rc = req->ops->send_head(req, (int64_t)len);
  req->resp_ct = NULL;
  if (rc == 0 && len > 0 && body_allowed(req))
    rc = req->ops->send_body(req, body, len);
  return complete(req, rc);
}

int ws101__req_respond_extra(ws101_req *req, int status, const char *extra,
                             const char *body, size_t len) {
  if (extra != NULL)
    ws101__buf_append(&req->resp_hdrs, extra, strlen(extra));
  return ws101_req_respond(req, status, "text/plain; charset=utf-8", body,
                           len);
}

/* Applies WS101_OPT_OUTPUT_BUFFER_LIMIT to a streamed write, counting what
 * is already queued (as ws101_ws_send does): a queue below the limit takes
 * the write whatever its size. */
static int backpressure(ws101_req *req) {
  const struct ws101_options *o = req->opts;
  int waiting = 0;
  size_t q;
  if (o->output_buffer_limit == 0 || req->ops->queued == NULL) return 0;
  q = req->ops->queued(req, &waiting);
  if (q < o->output_buffer_limit) return 0;
  req->want_drain = 1;
  if (o->http_backpressure_policy == WS101_BACKPRESSURE_CLOSE &&
      req->ops->drop != NULL)
    req->ops->drop(req, WS101_EBACKPRESSURE);
  return WS101_EBACKPRESSURE;
}

/* A drain is owed only when output had to wait for the socket (see
 * ws.c's after_write): corked bytes that leave this iteration owe none. */
static int after_write(ws101_req *req, int rc) {
  int waiting = 0;
  if (rc == 0 && req->ops->queued != NULL) {
    req->ops->queued(req, &waiting);
    if (waiting) req->want_drain = 1;
  }
  return rc;
}

size_t ws101_req_buffered(const ws101_req *req) {
  int waiting = 0;
  size_t n;
  if (req == NULL || req->aborted || req->resp_state == WS101__RESP_DONE ||
      req->ops->queued == NULL)
    return 0;
  n = req->ops->queued(req, &waiting);
  /* Whoever saw bytes queued may wait for them to leave: owe a drain. */
  if (n > 0) ((ws101_req *)req)->want_drain = 1;
  return n;
}

int ws101_req_on_drain(ws101_req *req, ws101_req_drain_cb cb,
                       void *user_data) {
  if (req == NULL) return WS101_EINVAL;
  if (req->resp_state == WS101__RESP_DONE) return WS101_ESTATE;
  req->drain_cb = cb;
  req->drain_user = user_data;
  return 0;
}

void ws101__req_drained(ws101_req *req) {
  if (!req->want_drain || req->aborted ||
      req->resp_state == WS101__RESP_DONE)
    return;
  req->want_drain = 0;
  if (req->drain_cb != NULL) req->drain_cb(req, req->drain_user);
}

int ws101_req_write(ws101_req *req, const char *data, size_t len) {
  int rc;
  if (req == NULL || (data == NULL && len > 0)) return WS101_EINVAL;
  if (req->resp_state == WS101__RESP_DONE) return WS101_ESTATE;
  if (req->aborted) return WS101_ECLOSED;
  if (len > 0 && req->resp_state != WS101__RESP_IDLE) {
    rc = backpressure(req);
    if (rc != 0) return rc;
  }
  if (req->resp_state == WS101__RESP_IDLE) {
    req->resp_state = WS101__RESP_STREAMING;
    rc = req->ops->send_head(req, req->has_cl ? (int64_t)req->cl_value : -1);
    if (rc != 0) return rc;
  }
  if (len == 0 || !body_allowed(req)) return 0;
  if (req->has_cl) {
    if (len > req->cl_left) return WS101_ETOOBIG;
    req->cl_left -= len;
  }
  return after_write(req, req->ops->send_body(req, data, len));
}

int ws101_req_end(ws101_req *req) {
  int rc = 0;
  if (req == NULL) return WS101_EINVAL;
  if (req->resp_state == WS101__RESP_DONE) return WS101_ESTATE;
  if (req->resp_state == WS101__RESP_IDLE && !req->aborted) {
    req->resp_state = WS101__RESP_STREAMING;
    rc = req->ops->send_head(req, req->has_cl ? (int64_t)req->cl_value : 0);
  }
  req->resp_state = WS101__RESP_STREAMING;
  return complete(req, req->aborted ? WS101_ECLOSED : rc);
}

/* ---- WebSocket ---------------------------------------------------------- */

static int refuse_upgrade(ws101_req *req, int status, const char *why) {
  char body[160];
  int n = snprintf(body, sizeof(body), "%s\n", why);
  ws101__req_respond_extra(req,
                           status,
                           status == 426 ? "Sec-WebSocket-Version: 13\r\n"
                                           "Upgrade: websocket\r\n"
                                         : NULL,
                           body, (size_t)n);
  return WS101_EBADUPGRADE;
}

int ws101_req_accept_websocket(ws101_req *req, const char *subprotocol,
                               ws101_ws_cb cb, void *user_data,
                               ws101_ws **out) {
  const struct ws101_options *opts;
  const char *why = NULL, *offers;
  char ext[WS101__PMD_RESP_MAX];
  ws101__pmd_params pmd;
  int st, neg;
  if (out != NULL) *out = NULL;
  if (req == NULL || cb == NULL) return WS101_EINVAL;
  if (req->resp_state != WS101__RESP_IDLE) return WS101_ESTATE;
  if (req->aborted) {
    /* Nothing to upgrade any more, and the server (whose options these
     * are) may be gone: a held request outlives it (io/loop.h). */
    req->resp_state = WS101__RESP_STREAMING;
    return complete(req, WS101_ECLOSED);
  }
  opts = req->opts;
  st = req->version == 20 ? ws101__ws_check_request_h2(&req->head, &why)
                          : ws101__ws_check_request(&req->head, &why);
  if (st != 0) return refuse_upgrade(req, st, why ? why : "bad upgrade");
  if (!ws101__ws_origin_allowed(&opts->origins,
                                ws101_req_header(req, "Origin")))
    return refuse_upgrade(req, 403, "origin not allowed");
  /* The 101 head has room for a subprotocol of this size; longer ones are
   * not real protocol names. */
  if (subprotocol != NULL && *subprotocol != '\0' &&
      (strlen(subprotocol) > 128 ||
       !ws101__ws_offered_subprotocol(ws101_req_ws_protocols(req),
                                      subprotocol)))
    return WS101_EINVAL;
  offers = ws101_req_header(req, "Sec-WebSocket-Extensions");
  neg = ws101__pmd_server_negotiate(offers, opts, &pmd, ext, sizeof(ext));
  if (neg < 0)
    return refuse_upgrade(req, 400, "malformed Sec-WebSocket-Extensions");
  return req->ops->accept_ws(req, subprotocol, neg == 1 ? ext : NULL,
                             neg == 1 ? &pmd : NULL, cb, user_data, out);
}

/* ---- TLS ------------------------------------------------------------------ */

const char *ws101_req_tls_version(const ws101_req *req) {
  if (req == NULL || req->conn == NULL) return NULL;
  return ws101__conn_tls_version(req->conn);
}

const char *ws101_req_tls_peer_subject(const ws101_req *req) {
  if (req == NULL || req->conn == NULL) return NULL;
  return ws101__conn_tls_peer_subject(req->conn);
}

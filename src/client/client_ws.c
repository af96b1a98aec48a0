/* client_ws.c - ws101_ws_connect: the client side of the WebSocket opening
 * handshake, from a URL to a ws101_ws handed to the engine (ws.c).
 *
 * The ws101_ws handle exists from the start so the application has one
 * handle for the whole life (errors while connecting arrive on it), but
 * the engine only gets the connection once the 101 has been verified.
 * Until then the connection speaks `hs_proto`, defined here, and the
 * handshake state lives in ws->rare->client (freed through ws->client_ops when
 * the handle's memory goes, so status and headers stay readable during the
 * ERROR and OPEN events). */
#include "proto/buf.h"
#include "io/client_connect.h"
#include "io/tls.h"
#include "proto/http1_parser.h"
#include "core/options.h"
#include "proto/url.h"
#include "handles/ws.h"
#include "proto/ws_deflate.h"
#include "proto/ws_handshake.h"
#include "client/client_h2.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Header fields kept from a handshake response: the array is allocated per
 * connection attempt, so bound it whatever max_headers says. */
#define HS_HEADERS_CAP 128

typedef struct wsc {
  ws101__client_link link; /* first: the registry hands us back this */
  int linked;
  ws101_ws *ws;
  ws101_loop *loop;
  struct ws101_options opts; /* the engine points at it: lives with ws */
  ws101__url url;
  ws101__connect *creq;
  ws101__conn *conn; /* during the handshake only */
  uint64_t started;  /* uv_now() at ws101_ws_connect */
  char key[25];
  char *offered; /* our Sec-WebSocket-Protocol value, or NULL */
  /* The response. */
  ws101__buf rbuf;
  size_t scanned;
  ws101__h1_head head;
  ws101__h1_header *headers;
  int headers_valid; /* during ERROR/OPEN (head parsed, not yet released) */
  int status;
  int done;          /* failed or attached: no more handshake work */
  int post_pending;  /* a deferred failure is queued */
  int deferred_err;
  const char *deferred_msg;
  /* RFC 8441 (WS101_OPT_CLIENT_HTTP2): the extended CONNECT stream. */
  ws101__h2cli_req *h2r;
  int h2_refused; /* the server's h2 SETTINGS did not allow RFC 8441 */
} wsc;

/* Stops the connect attempt and drops the connection, if any; their close
 * completes later, with nothing calling back into us. */
static void wsc_drop_transport(wsc *w) {
  if (w->h2r != NULL) {
    ws101__h2cli_req *r = w->h2r;
    w->h2r = NULL;
    ws101__h2cli_cancel(r);
  }
  if (w->creq != NULL) {
    ws101__connect_cancel(w->creq);
    w->creq = NULL;
  }
  if (w->conn != NULL) {
    ws101__conn_set_proto(w->conn, &ws101__client_detached_proto, NULL);
    ws101__conn_close(w->conn, WS101_ECANCELED);
    w->conn = NULL;
  }
}

static void wsc_detach(wsc *w) {
  wsc_drop_transport(w);
  if (w->linked) {
    ws101__client_link_remove(w->loop, &w->link);
    w->linked = 0;
  }
}

/* Ends the attempt: ERROR then CLOSE(1006). The handle (and `w`) may be
 * freed on return. */
static void wsc_fail(wsc *w, int err, const char *msg) {
  char why[400];
  if (w->done) return;
  w->done = 1;
  wsc_detach(w);
  if (w->h2_refused && err != WS101_ECANCELED) {
    /* Say why HTTP/1.1 was tried at all: an HTTP/2-only server without
     * RFC 8441 (nghttpd) cannot take a WebSocket either way. */
    snprintf(why, sizeof why,
             "the server speaks HTTP/2 without WebSockets over it (no "
             "SETTINGS_ENABLE_CONNECT_PROTOCOL), and the HTTP/1.1 upgrade "
             "failed: %s",
             msg != NULL ? msg : ws101_strerror(err));
    msg = why;
  }
  ws101__ws_fail(w->ws, err, msg);
}

static void deferred_fail(ws101_loop *loop, void *ud) {
  ws101_ws *ws = (ws101_ws *)ud;
  wsc *w = (wsc *)ws101__ws_client(ws);
  (void)loop;
  w->post_pending = 0;
  wsc_fail(w, w->deferred_err, w->deferred_msg);
  ws101_ws_unref(ws); /* the reference the post held */
}

/* Fails from a context where the application must not be called yet (inside
 * ws101_ws_connect or ws101_ws_close). Returns 0 or WS101_ENOMEM. */
static int fail_later(wsc *w, int err, const char *msg) {
  if (w->post_pending) return 0;
  w->deferred_err = err;
  w->deferred_msg = msg;
  ws101_ws_ref(w->ws);
  if (ws101_loop_post(w->loop, deferred_fail, w->ws) != 0) {
    ws101_ws_unref(w->ws);
    return WS101_ENOMEM;
  }
  w->post_pending = 1;
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Success: hand the connection to the engine                               */
/* ------------------------------------------------------------------------ */

/* The head is in w->rbuf[0..n): verify it and attach, or fail. */
static void on_head(wsc *w, size_t n) {
  ws101_ws *ws = w->ws;
  ws101__conn *c = w->conn;
  const char *why = NULL, *ext, *sub;
  ws101__pmd_params pmd;
  char msg[256];
  int rc;

  w->status = w->head.status;
  w->headers_valid = 1;
  if (w->head.status != 101) {
    const char *reason = w->head.reason && w->head.reason[0]
                             ? w->head.reason
                             : ws101__h1_status_reason(w->head.status);
    snprintf(msg, sizeof(msg), "server answered %d%s%s instead of 101",
             w->head.status, reason[0] ? " " : "", reason);
    wsc_fail(w, WS101_EHANDSHAKE, msg);
    return;
  }
  if (ws101__ws_check_response(&w->head, w->key, w->offered, &why) != 0) {
    snprintf(msg, sizeof(msg), "invalid 101 response: %s",
             why ? why : "handshake check failed");
    wsc_fail(w, WS101_EHANDSHAKE, msg);
    return;
  }
  ext = ws101__h1_find_header(&w->head, "Sec-WebSocket-Extensions");
  memset(&pmd, 0, sizeof(pmd));
  rc = ws101__pmd_client_accept(ext, &w->opts, &pmd);
  if (rc < 0) {
    snprintf(msg, sizeof(msg),
             "invalid 101 response: unacceptable Sec-WebSocket-Extensions "
             "\"%.120s\"",
             ext);
    wsc_fail(w, WS101_EHANDSHAKE, msg);
    return;
  }
  sub = ws101__h1_find_header(&w->head, "Sec-WebSocket-Protocol");
  /* Known only now: the handle was created before the offer was answered. */
  if (ws101__ws_set_negotiated(ws, sub, rc == 1 ? ext : NULL,
                               rc == 1 ? &pmd : NULL) != 0) {
    wsc_fail(w, WS101_ENOMEM, "out of memory completing the handshake");
    return;
  }
  /* From here the engine owns the connection and ws101_loop_free reaches
   * it through the connection list, not our registry. */
  w->done = 1;
  w->conn = NULL;
  if (w->linked) {
    ws101__client_link_remove(w->loop, &w->link);
    w->linked = 0;
  }
  ws101__conn_set_deadline(c, 0);
  ws101_ws_ref(ws); /* OPEN may close; keep w valid until we are done */
  ws101__ws_attach(ws, c, w->rbuf.data + n, w->rbuf.len - n);
  /* Headers are documented valid during OPEN only: release them now. */
  w->headers_valid = 0;
  ws101__buf_free(&w->rbuf);
  free(w->headers);
  w->headers = NULL;
  ws101_ws_unref(ws);
}

/* ------------------------------------------------------------------------ */
/* The handshake protocol on the connection                                 */
/* ------------------------------------------------------------------------ */

static void hs_on_read(ws101__conn *c, char *data, size_t len) {
  wsc *w = (wsc *)c->proto_data;
  ws101__h1_limits lim;
  int n;
  if (ws101__buf_append(&w->rbuf, data, len) != 0) {
    wsc_fail(w, WS101_ENOMEM, "out of memory reading the handshake");
    return;
  }
  lim.max_request_line = w->opts.max_request_line;
  lim.max_header_bytes = w->opts.max_header_bytes;
  lim.max_headers = w->opts.max_headers;
  memset(&w->head, 0, sizeof(w->head));
  w->head.headers = w->headers;
  w->head.max_headers_cap = HS_HEADERS_CAP;
  n = ws101__h1_parse_response(w->rbuf.data, w->rbuf.len, &w->scanned, &lim,
                               &w->head);
  if (n == 0) return;
  if (n < 0) {
    wsc_fail(w, WS101_EHANDSHAKE,
             n == -431 ? "handshake response head too large"
                       : "malformed HTTP response to the upgrade request");
    return;
  }
  on_head(w, (size_t)n);
}

static void hs_on_read_end(ws101__conn *c, int err) {
  wsc *w = (wsc *)c->proto_data;
  wsc_fail(w, err == WS101_EEOF ? WS101_EHANDSHAKE : err,
           w->rbuf.len ? "connection closed in the middle of the handshake "
                         "response"
                       : "server closed the connection without answering "
                         "the upgrade request");
}

static void hs_on_timeout(ws101__conn *c) {
  wsc *w = (wsc *)c->proto_data;
  char msg[96];
  snprintf(msg, sizeof(msg), "no WebSocket handshake response within %u ms",
           (unsigned)w->opts.ws_handshake_timeout_ms);
  wsc_fail(w, WS101_ETIMEDOUT, msg);
}

static void hs_on_close(ws101__conn *c, int err) {
  wsc *w = (wsc *)c->proto_data;
  const char *tls_why = ws101__conn_tls_error(c);
  w->conn = NULL;
  if (err == WS101_ETLS)
    wsc_fail(w, err, *tls_why ? tls_why : ws101_tls_last_error());
  else
    wsc_fail(w, err ? err : WS101_ECONNRESET,
             "connection lost during the handshake");
}

static const ws101__proto hs_proto = {
    "ws-client-handshake", hs_on_read, hs_on_read_end, NULL, hs_on_timeout,
    NULL, hs_on_close};

static int append_str(ws101__buf *b, const char *s) {
  return ws101__buf_append(b, s, strlen(s));
}

static int append_header(ws101__buf *b, const char *name, const char *value) {
  return append_str(b, name) || append_str(b, ": ") || append_str(b, value) ||
         append_str(b, "\r\n");
}

/* Writes the upgrade request (RFC 6455 section 4.1). */
static int send_request(wsc *w) {
  ws101__buf b = {NULL, 0, 0};
  char offer[WS101__PMD_RESP_MAX], ua[48];
  uv_buf_t ub;
  size_t i;
  int bad, rc;
  ws101__ws_client_key(w->key);
  snprintf(ua, sizeof(ua), "libws101/%s", ws101_version_string());
  bad = append_str(&b, "GET ") || append_str(&b, w->url.target) ||
        append_str(&b, " HTTP/1.1\r\n") ||
        append_header(&b, "Host", w->url.authority) ||
        append_header(&b, "Upgrade", "websocket") ||
        append_header(&b, "Connection", "Upgrade") ||
        append_header(&b, "Sec-WebSocket-Key", w->key) ||
        append_header(&b, "Sec-WebSocket-Version", "13") ||
        append_header(&b, "User-Agent", ua);
  if (!bad && w->offered != NULL)
    bad = append_header(&b, "Sec-WebSocket-Protocol", w->offered);
  if (!bad && ws101__pmd_client_offer(&w->opts, offer, sizeof(offer)) > 0)
    bad = append_header(&b, "Sec-WebSocket-Extensions", offer);
  for (i = 0; !bad && i + 1 < w->opts.headers.count; i += 2)
    bad = append_header(&b, w->opts.headers.items[i],
                        w->opts.headers.items[i + 1]);
  if (!bad) bad = append_str(&b, "\r\n");
  if (bad) {
    ws101__buf_free(&b);
    return WS101_ENOMEM;
  }
  ub = uv_buf_init(b.data, (unsigned)b.len);
  rc = ws101__conn_write(w->conn, &ub, 1);
  ws101__buf_free(&b);
  return rc;
}

/* Sends the upgrade request on `c`: a fresh connection (TLS is started
 * here and reading too), or one whose TLS handshake already chose
 * HTTP/1.1 by ALPN (fresh = 0). */
static void begin_upgrade(wsc *w, ws101__conn *c, int fresh) {
  uint64_t elapsed, left = 0;
  w->conn = c;
  ws101__conn_set_flow(c, (size_t)w->opts.output_buffer_limit,
                       w->opts.send_timeout_ms);
  if (fresh && w->url.tls) {
    /* TLS under the upgrade: the request below waits in the cork buffer
     * until the handshake is done. */
    ws101__tls_ctx *ctx = ws101__tls_client_ctx(w->loop, &w->opts);
    if (ctx == NULL ||
        ws101__conn_tls_client(c, ctx, w->url.host, w->url.origin) != 0) {
      ws101__conn_close(c, WS101_ETLS); /* hs_on_close reports */
      return;
    }
  }
  if (send_request(w) != 0 || (fresh && ws101__conn_start(c) != 0)) {
    if (w->conn != NULL) /* not already closed by a write error */
      wsc_fail(w, WS101_EIO, "cannot send the upgrade request");
    return;
  }
  /* One budget for the whole opening handshake, connect time included. */
  if (w->opts.ws_handshake_timeout_ms > 0) {
    elapsed = uv_now(w->loop->uv) - w->started;
    left = elapsed < w->opts.ws_handshake_timeout_ms
               ? w->opts.ws_handshake_timeout_ms - elapsed
               : 1;
  }
  ws101__conn_set_deadline(c, left);
}

static void on_connected(ws101__conn *c, int err, const char *msg, void *ud) {
  wsc *w = (wsc *)ud;
  w->creq = NULL;
  if (err != 0) {
    wsc_fail(w, err, msg);
    return;
  }
  begin_upgrade(w, c, 1);
}

/* ------------------------------------------------------------------------ */
/* RFC 8441: the handshake as an extended CONNECT on an HTTP/2 stream      */
/* ------------------------------------------------------------------------ */

static int start_h1(wsc *w);

/* The server's answer on the stream: 2xx accepts (no key, no Accept:
 * the stream is the proof), then the same extension and subprotocol
 * checks as after a 101. */
static void h2ws_on_head(void *ud, const ws101__h1_head *head) {
  wsc *w = ud;
  ws101_ws *ws = w->ws;
  const char *ext, *sub;
  ws101__pmd_params pmd;
  ws101__conn *vc;
  char msg[256];
  int rc;
  w->status = head->status;
  w->head = *head;
  w->headers_valid = 1;
  if (head->status < 200 || head->status > 299) {
    snprintf(msg, sizeof(msg), "server answered %d instead of 200 to the "
             "extended CONNECT", head->status);
    wsc_fail(w, WS101_EHANDSHAKE, msg);
    return;
  }
  sub = ws101__h1_find_header(head, "sec-websocket-protocol");
  if (sub != NULL && (w->offered == NULL ||
                      !ws101__ws_offered_subprotocol(w->offered, sub))) {
    wsc_fail(w, WS101_EHANDSHAKE, "the server chose a subprotocol we did "
                                  "not offer");
    return;
  }
  ext = ws101__h1_find_header(head, "sec-websocket-extensions");
  memset(&pmd, 0, sizeof(pmd));
  rc = ws101__pmd_client_accept(ext, &w->opts, &pmd);
  if (rc < 0) {
    wsc_fail(w, WS101_EHANDSHAKE, "unacceptable Sec-WebSocket-Extensions");
    return;
  }
  if (ws101__ws_set_negotiated(ws, sub, rc == 1 ? ext : NULL,
                               rc == 1 ? &pmd : NULL) != 0 ||
      (vc = ws101__h2cli_ws_attach(w->h2r)) == NULL) {
    wsc_fail(w, WS101_ENOMEM, "out of memory completing the handshake");
    return;
  }
  w->h2r = NULL;
  w->done = 1;
  if (w->linked) {
    ws101__client_link_remove(w->loop, &w->link);
    w->linked = 0;
  }
  ws101_ws_ref(ws);
  ws101__ws_attach(ws, vc, NULL, 0);
  w->headers_valid = 0;
  ws101__conn_start(vc);
  ws101_ws_unref(ws);
}

static void h2ws_on_data(void *ud, const char *d, size_t n) {
  (void)ud, (void)d, (void)n; /* only after a refusal, which failed */
}

static void h2ws_on_done(void *ud) {
  wsc *w = ud;
  w->h2r = NULL;
  wsc_fail(w, WS101_EHANDSHAKE, "the server ended the stream");
}

static void h2ws_on_error(void *ud, int err, const char *msg) {
  wsc *w = ud;
  w->h2r = NULL;
  if (err == WS101_ENOTSUP) {
    /* No RFC 8441 on this server: the HTTP/1.1 upgrade, transparently. */
    w->h2_refused = 1;
    if (start_h1(w) != 0) wsc_fail(w, WS101_ENOMEM, "out of memory");
    return;
  }
  wsc_fail(w, err, msg);
}

/* wss://: ALPN chose HTTP/1.1, so the HTTP/1.1 upgrade goes on the very
 * connection that was opened for HTTP/2. */
static int h2ws_on_fallback(void *ud, ws101__conn *c, const char *body,
                            size_t len, int ended) {
  wsc *w = ud;
  (void)body, (void)len, (void)ended;
  w->h2r = NULL;
  if (c == NULL) {
    if (start_h1(w) != 0) wsc_fail(w, WS101_ENOMEM, "out of memory");
    return 0;
  }
  ws101__conn_set_proto(c, &hs_proto, w);
  begin_upgrade(w, c, 0);
  return 1;
}

static const ws101__h2cli_cbs h2ws_cbs = {h2ws_on_head, h2ws_on_data,
                                          h2ws_on_done, h2ws_on_error,
                                          h2ws_on_fallback};

static int start_h2(wsc *w) {
  ws101__h2_field f[64];
  char offer[WS101__PMD_RESP_MAX], ua[48];
  size_t n = 0, i;
  snprintf(ua, sizeof(ua), "libws101/%s", ws101_version_string());
  f[n++] = (ws101__h2_field){"sec-websocket-version", 21, "13", 2};
  f[n++] = (ws101__h2_field){"user-agent", 10, ua, strlen(ua)};
  if (w->offered != NULL)
    f[n++] = (ws101__h2_field){"sec-websocket-protocol", 22, w->offered,
                               strlen(w->offered)};
  if (ws101__pmd_client_offer(&w->opts, offer, sizeof(offer)) > 0)
    f[n++] = (ws101__h2_field){"sec-websocket-extensions", 24, offer,
                               strlen(offer)};
  for (i = 0; i + 1 < w->opts.headers.count && n < 64; i += 2) {
    char *nm = w->opts.headers.items[i];
    for (; *nm; nm++)
      if (*nm >= 'A' && *nm <= 'Z') *nm = (char)(*nm + 32);
    f[n].name = w->opts.headers.items[i];
    f[n].name_len = strlen(f[n].name);
    f[n].value = w->opts.headers.items[i + 1];
    f[n].value_len = strlen(f[n].value);
    n++;
  }
  return ws101__h2cli_request(w->loop, &w->url, "CONNECT", f, n, 1,
                              &w->opts, &h2ws_cbs, w, &w->h2r);
}

/* ------------------------------------------------------------------------ */
/* Handle hooks and registry                                                */
/* ------------------------------------------------------------------------ */

static int client_close(ws101_ws *ws, int code, const char *reason) {
  wsc *w = (wsc *)ws101__ws_client(ws);
  (void)code;
  (void)reason;
  if (w->done) return WS101_ECLOSED;
  /* Stop the attempt now; ERROR + CLOSE follow from the loop, never from
   * inside ws101_ws_close. */
  wsc_drop_transport(w);
  return fail_later(w, WS101_ECANCELED,
                    "closed by the application before the handshake "
                    "completed");
}

static void wsc_free(wsc *w) {
  ws101__url_free(&w->url);
  ws101__options_clear(&w->opts);
  ws101__buf_free(&w->rbuf);
  free(w->headers);
  free(w->offered);
  free(w);
}

static void client_free(ws101_ws *ws) {
  wsc *w = (wsc *)ws101__ws_client(ws);
  if (w == NULL) return;
  ws->rare->client = NULL;
  wsc_free(w);
}

static const ws101__ws_client_ops client_ops = {client_close, client_free};

static void wsc_abort(ws101__client_link *l) {
  wsc *w = (wsc *)l;
  if (w->post_pending) {
    /* The queued failure runs inside ws101_loop_free, after the registry
     * is gone: just leave it. */
    ws101__client_link_remove(w->loop, l);
    w->linked = 0;
    return;
  }
  wsc_fail(w, WS101_ECANCELED, "the loop is being freed");
}

/* Joins the offered subprotocols as one Sec-WebSocket-Protocol value. */
static int join_protocols(const ws101__strlist *l, char **out) {
  size_t i, n = 0;
  char *s;
  *out = NULL;
  if (l->count == 0) return 0;
  for (i = 0; i < l->count; i++) n += strlen(l->items[i]) + 2;
  s = (char *)malloc(n + 1);
  if (s == NULL) return WS101_ENOMEM;
  s[0] = '\0';
  for (i = 0; i < l->count; i++) {
    if (i > 0) strcat(s, ", ");
    strcat(s, l->items[i]);
  }
  *out = s;
  return 0;
}

/* The HTTP/1.1 upgrade on a new connection. */
static int start_h1(wsc *w) {
  /* The connect phase gets the smaller of both budgets. */
  uint64_t ct = w->opts.connect_timeout_ms;
  if (w->opts.ws_handshake_timeout_ms > 0 &&
      (ct == 0 || w->opts.ws_handshake_timeout_ms < ct))
    ct = w->opts.ws_handshake_timeout_ms;
  return ws101__connect_start(w->loop, w->url.host, w->url.port, ct,
                              &hs_proto, w, on_connected, w, &w->creq);
}

int ws101_ws_connect(ws101_loop *loop, const char *url,
                     const ws101_options *opts, ws101_ws_cb cb,
                     void *user_data, ws101_ws **out) {
  wsc *w;
  ws101__ws_init init;
  int rc;
  if (out != NULL) *out = NULL;
  if (loop == NULL || url == NULL || cb == NULL) return WS101_EINVAL;
  if (ws101__clients_of(loop) == NULL)
    return loop->freeing ? WS101_EINVAL : WS101_ENOMEM;
  w = (wsc *)calloc(1, sizeof(*w));
  if (w == NULL) return WS101_ENOMEM;
  w->loop = loop;
  rc = ws101__url_parse(url, &w->url, NULL);
  if (rc == 0 && w->url.scheme != WS101__URL_WS &&
      w->url.scheme != WS101__URL_WSS)
    rc = WS101_EURL;
  if (rc == 0) rc = ws101__options_copy(&w->opts, opts);
  if (rc == 0) rc = join_protocols(&w->opts.subprotocols, &w->offered);
  if (rc == 0) {
    w->headers = (ws101__h1_header *)calloc(HS_HEADERS_CAP,
                                            sizeof(ws101__h1_header));
    if (w->headers == NULL) rc = WS101_ENOMEM;
  }
  if (rc == 0) {
    memset(&init, 0, sizeof(init));
    init.is_client = 1;
    init.opts = &w->opts;
    init.path = w->url.target;
    init.cb = cb;
    init.user_data = user_data;
    init.loop = loop;
    init.client = w;
    init.client_ops = &client_ops;
    w->ws = ws101__ws_new(&init);
    if (w->ws == NULL) rc = WS101_ENOMEM;
  }
  if (rc != 0) {
    ws101_ws *ws = w->ws;
    w->ws = NULL;
    if (ws != NULL) {
      ws101_ws_unref(ws); /* frees w through client_free */
    } else {
      wsc_free(w);
    }
    return rc;
  }
  w->started = uv_now(loop->uv);

  /* HTTP/2 (RFC 8441 on the origin's shared h2 connection: prior
   * knowledge on ws://, ALPN h2 on wss://) unless the server is known to
   * take only HTTP/1.1; no extended CONNECT falls back to the upgrade. */
  if (w->opts.client_http2 &&
      !(w->url.tls && ws101__h2cli_h1_only(loop, &w->url))) {
    rc = start_h2(w);
    if (rc == WS101_ENOTSUP) { /* known: no RFC 8441 */
      w->h2_refused = 1;
      rc = start_h1(w);
    }
  } else {
    rc = start_h1(w);
  }
  if (rc != 0) {
    w->done = 1;
    ws101_ws_unref(w->ws);
    return rc;
  }
  w->link.abort = wsc_abort;
  ws101__client_link_add(loop, &w->link);
  w->linked = 1;
  if (out != NULL) *out = w->ws;
  return 0;
}

int ws101_ws_response_status(const ws101_ws *ws) {
  const wsc *w = ws != NULL ? (const wsc *)ws101__ws_client(ws) : NULL;
  return w != NULL ? w->status : 0;
}

const char *ws101_ws_response_header(const ws101_ws *ws, const char *name) {
  const wsc *w = ws != NULL ? (const wsc *)ws101__ws_client(ws) : NULL;
  if (w == NULL || name == NULL || !w->headers_valid) return NULL;
  return ws101__h1_find_header(&w->head, name);
}

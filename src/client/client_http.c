/* client_http.c - the HTTP/1.1 client (ws101_fetch_*) and its keep-alive
 * pool.
 *
 * A connection made for a fetch carries a small `hconn` for its whole life
 * (the protocol data of the ws101__conn): it names the origin and points to
 * the exchange in progress, or to none while the connection waits in the
 * pool. Pooling a connection is therefore relinking, never allocating.
 *
 * Response bytes are copied only until the head is complete (its strings
 * must outlive the read callback, for ws101_fetch_header); body bytes go
 * from the loop's read buffer to the application without a copy. */
#include "proto/buf.h"
#include "io/client_connect.h"
#include "io/tls.h"
#include "proto/http1_chars.h"
#include "proto/http1_parser.h"
#include "core/options.h"
#include "proto/url.h"
#include "client/client_h2.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Idle connections kept per loop, all origins together: enough for a
 * client talking to a handful of services without hoarding sockets. */
#define POOL_MAX 32
/* Most header fields we keep from a response, whatever max_headers says:
 * the array is allocated per fetch, so bound it. */
#define RESP_HEADERS_CAP 256
/* A fixed request body larger than this is not kept for a retry on a
 * stale pooled connection; the request is failed instead. */
#define RETRY_KEEP_MAX (64 * 1024)

typedef struct hconn hconn;

enum {
  F_NEW = 0,   /* headers may still be added */
  F_STREAMING, /* head sent or queued, body being written */
  F_SENT,      /* the whole request is sent or queued */
};

struct ws101_fetch {
  ws101__client_link link; /* first: the registry hands us back this */
  ws101_loop *loop;
  struct ws101_options opts;
  ws101__url url;
  ws101_fetch_cb cb;
  void *cb_data;
  void *app_data;
  char *method;
  int is_head;
  int idempotent;
  int state; /* F_* */
  /* Request: caller's header lines; then the full request until sent. */
  ws101__buf hdrs;
  ws101__buf out; /* queued before the connection is ready / kept to retry */
  int out_keep;   /* `out` still holds the whole request (retry possible) */
  int user_cl, user_host, user_ua, user_close;
  uint64_t user_cl_value;
  int chunked;
  /* Connection. */
  ws101__connect *creq;
  hconn *new_hc; /* allocated for the connection being opened */
  hconn *hc;
  int reused, retried;
  /* Response. */
  ws101__buf rbuf;
  size_t scanned;
  ws101__h1_head head;
  ws101__h1_header *resp_headers;
  int have_head;
  int got_bytes;
  ws101__h1_body body;
  ws101__buf bodybuf; /* WS101_OPT_FETCH_BUFFER_BODY */
  /* Event bookkeeping. */
  int in_cb;
  int cancel_requested;
  int finished;
  int post_pending; /* a deferred error is queued with ws101_loop_post */
  int deferred_err;
  /* HTTP/2 (WS101_OPT_CLIENT_HTTP2): the stream, instead of hc. */
  ws101__h2cli_req *h2r;
  int h2c_offered; /* the request carries Upgrade: h2c */
  int h2_streamed; /* started by ws101_fetch_write (for an ALPN fallback) */
  int want_drain;   /* upload output had to wait: WS101_FETCH_DRAIN owed */
};

static const ws101__h2cli_cbs h2_cbs;

/* Our HTTP2-Settings payload, the same SETTINGS client_h2.c then sends. */
static int h2c_settings(char *b64, size_t cap, uint8_t *payload,
                        size_t *plen) {
  ws101__h2_settings set;
  ws101__h2_settings_defaults(&set);
  return ws101__h2_settings_header(&set, b64, cap, payload, plen);
}

struct hconn {
  ws101__conn *c;
  ws101_fetch *f;     /* exchange in progress, NULL while pooled */
  hconn *prev, *next; /* pool list */
  int pooled;
  /* https://: the client TLS context (per CA and verification settings,
   * borrowed from the loop) the connection was verified with; part of
   * the pool key, so a fetch never reuses a connection that was checked
   * less strictly, or against other CAs, than it asks for. */
  const ws101__tls_ctx *tls;
  char origin[]; /* the pool key, "http://host:port" */
};

typedef struct pool {
  hconn *idle;
  size_t count;
} pool;

static const ws101__proto h1_client_proto;

/* ------------------------------------------------------------------------ */
/* Keep-alive pool                                                          */
/* ------------------------------------------------------------------------ */

static void pool_unlink(pool *p, hconn *hc) {
  if (hc->prev != NULL)
    hc->prev->next = hc->next;
  else
    p->idle = hc->next;
  if (hc->next != NULL)
    hc->next->prev = hc->prev;
  hc->prev = hc->next = NULL;
  hc->pooled = 0;
  p->count--;
}

static void pool_free(void *ptr) {
  pool *p = (pool *)ptr;
  /* Runs from ws101_loop_free after every connection was told to close;
   * their on_close will come later, so cut them loose from hconn first. */
  while (p->idle != NULL) {
    hconn *hc = p->idle;
    pool_unlink(p, hc);
    ws101__conn_set_proto(hc->c, &ws101__client_detached_proto, NULL);
    ws101__conn_close(hc->c, WS101_ECANCELED);
    free(hc);
  }
  free(p);
}

static pool *pool_of(ws101_loop *loop) {
  ws101__clients *cl = ws101__clients_of(loop);
  if (cl == NULL)
    return NULL;
  if (cl->http_pool == NULL) {
    cl->http_pool = calloc(1, sizeof(pool));
    if (cl->http_pool != NULL)
      cl->http_pool_free = pool_free;
  }
  return (pool *)cl->http_pool;
}

/* Takes an idle connection to `origin`, or NULL. The newest is preferred:
 * it is the least likely to have been closed by the server meanwhile. */
static hconn *pool_take(ws101_loop *loop, const char *origin,
                        const ws101__tls_ctx *tls) {
  pool *p = pool_of(loop);
  hconn *hc;
  if (p == NULL)
    return NULL;
  for (hc = p->idle; hc != NULL; hc = hc->next) {
    if (hc->tls != tls || strcmp(hc->origin, origin) != 0)
      continue;
    pool_unlink(p, hc);
    /* A pooled connection does not keep the loop alive; a busy one does. */
    ws101__conn_keep_loop_alive(hc->c, 1);
    ws101__conn_set_deadline(hc->c, 0);
    return hc;
  }
  return NULL;
}

static void hconn_close(hconn *hc, int err) {
  ws101__conn_close(hc->c, err); /* on_close frees hc */
}

/* Parks a connection whose exchange ended cleanly. Returns 0, or -1 if it
 * could not be pooled (the caller closes it). */
static int pool_put(ws101_loop *loop, hconn *hc, uint32_t idle_ms) {
  pool *p = pool_of(loop);
  if (p == NULL || idle_ms == 0)
    return -1;
  if (p->count >= POOL_MAX) {
    /* Evict the oldest (the tail), which is the likeliest to be stale. */
    hconn *old = p->idle;
    while (old->next != NULL)
      old = old->next;
    pool_unlink(p, old);
    hconn_close(old, 0);
  }
  hc->f = NULL;
  hc->prev = NULL;
  hc->next = p->idle;
  if (p->idle != NULL)
    p->idle->prev = hc;
  p->idle = hc;
  hc->pooled = 1;
  p->count++;
  ws101__conn_keep_loop_alive(hc->c, 0);
  ws101__conn_set_deadline(hc->c, idle_ms);
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Ending an exchange                                                       */
/* ------------------------------------------------------------------------ */

static void fetch_destroy(ws101_fetch *f) {
  ws101__client_link_remove(f->loop, &f->link);
  ws101__url_free(&f->url);
  ws101__options_clear(&f->opts);
  ws101__buf_free(&f->hdrs);
  ws101__buf_free(&f->out);
  ws101__buf_free(&f->rbuf);
  ws101__buf_free(&f->bodybuf);
  free(f->resp_headers);
  free(f->method);
  free(f);
}

/* Cuts the exchange loose from its connection and connect attempt, so
 * nothing calls back into it once it is freed. */
static void detach(ws101_fetch *f, int close_err) {
  if (f->h2r != NULL) {
    ws101__h2cli_req *r = f->h2r;
    f->h2r = NULL;
    ws101__h2cli_cancel(r);
  }
  if (f->creq != NULL) {
    ws101__connect_cancel(f->creq);
    f->creq = NULL;
    free(f->new_hc); /* never reached a connection */
    f->new_hc = NULL;
  }
  if (f->hc != NULL) {
    hconn *hc = f->hc;
    f->hc = NULL;
    hc->f = NULL;
    hconn_close(hc, close_err);
  }
}

static void fetch_fail(ws101_fetch *f, int err, const char *msg) {
  if (f->finished)
    return;
  f->finished = 1;
  detach(f, err);
  f->in_cb++;
  f->cb(f, WS101_FETCH_ERROR, msg, msg ? strlen(msg) : 0, err, f->cb_data);
  f->in_cb--;
  if (f->post_pending)
    return; /* the deferred callback frees it */
  fetch_destroy(f);
}

/* Calls the application; returns 1 if the exchange must stop (it asked to
 * cancel during the callback, which we turn into the ERROR event now). */
static int emit(ws101_fetch *f, int event, const char *data, size_t len) {
  f->in_cb++;
  f->cb(f, event, data, len, 0, f->cb_data);
  f->in_cb--;
  if (f->cancel_requested) {
    fetch_fail(f, WS101_ECANCELED, "request canceled");
    return 1;
  }
  return 0;
}

/* The response is complete: pool or close the connection, then DONE.
 * `leftover` is how many bytes followed the response in the last read. */
static void fetch_done(ws101_fetch *f, size_t leftover) {
  hconn *hc = f->hc;
  int reuse;
  if (f->opts.fetch_buffer_body && f->bodybuf.len > 0 &&
      emit(f, WS101_FETCH_BODY, f->bodybuf.data, f->bodybuf.len))
    return;
  f->finished = 1;
  f->hc = NULL;
  if (hc != NULL) {
    hc->f = NULL;
    /* Bytes beyond the response, an unfinished request body or a
     * close-delimited body all leave the connection in a state the next
     * exchange could not trust. */
    reuse = (f->head.flags & WS101__H1_KEEPALIVE) && !f->user_close &&
            f->body.mode != WS101__H1_BODY_UNTIL_CLOSE && leftover == 0 &&
            f->state == F_SENT &&
            !(hc->c->flags & (WS101__CONN_READ_EOF | WS101__CONN_CLOSING));
    if (!reuse || pool_put(f->loop, hc, f->opts.idle_timeout_ms) != 0)
      ws101__conn_end(hc->c, 1000);
  }
  f->in_cb++;
  f->cb(f, WS101_FETCH_DONE, NULL, 0, 0, f->cb_data);
  f->in_cb--;
  if (!f->post_pending)
    fetch_destroy(f);
}

/* ------------------------------------------------------------------------ */
/* Response                                                                 */
/* ------------------------------------------------------------------------ */

/* Feeds body bytes. Returns 1 if the exchange ended (f may be freed). */
static int feed_body(ws101_fetch *f, const char *in, size_t len) {
  while (1) {
    size_t used = 0, dlen = 0;
    const char *data = NULL;
    int rc = ws101__h1_body_next(&f->body, in, len, &used, &data, &dlen);
    in += used;
    len -= used;
    if (rc == WS101__H1_BODY_DATA) {
      if (f->opts.fetch_buffer_body) {
        if (f->bodybuf.len + dlen > f->opts.max_body) {
          fetch_fail(f, WS101_ETOOBIG,
                     "response body larger than WS101_OPT_MAX_BODY");
          return 1;
        }
        if (ws101__buf_append(&f->bodybuf, data, dlen) != 0) {
          fetch_fail(f, WS101_ENOMEM, "out of memory buffering the body");
          return 1;
        }
        continue;
      }
      if (emit(f, WS101_FETCH_BODY, data, dlen))
        return 1;
      continue;
    }
    if (rc == WS101__H1_BODY_DONE) {
      fetch_done(f, len);
      return 1;
    }
    if (rc == WS101__H1_BODY_MORE)
      return 0;
    fetch_fail(f, WS101_EPROTO,
               rc == -431 ? "response trailers too large"
                          : "malformed chunked response body");
    return 1;
  }
}

/* Parses the head out of f->rbuf. Returns 1 if the exchange ended. */
static int parse_head(ws101_fetch *f) {
  ws101__h1_limits lim;
  int n;
  size_t rest;
  lim.max_request_line = f->opts.max_request_line;
  lim.max_header_bytes = f->opts.max_header_bytes;
  lim.max_headers = f->opts.max_headers;
  while (1) {
    memset(&f->head, 0, sizeof(f->head));
    f->head.headers = f->resp_headers;
    f->head.max_headers_cap = RESP_HEADERS_CAP;
    n = ws101__h1_parse_response(f->rbuf.data, f->rbuf.len, &f->scanned, &lim,
                                 &f->head);
    if (n == 0)
      return 0;
    if (n < 0) {
      fetch_fail(f, WS101_EPROTO,
                 n == -431 ? "response head too large"
                           : "malformed HTTP response head");
      return 1;
    }
    if (f->head.status == 101 && f->h2c_offered &&
        ws101__h1_token_list_has(f->head.upgrade, "h2c")) {
      /* h2c accepted: the connection and this request go to HTTP/2. */
      hconn *hc = f->hc;
      ws101__conn *c = hc->c;
      char b64[64];
      uint8_t payload[64];
      size_t plen = sizeof(payload);
      int rc;
      h2c_settings(b64, sizeof(b64), payload, &plen);
      f->hc = NULL;
      hc->f = NULL;
      free(hc);
      f->have_head = 0;
      rc = ws101__h2cli_adopt(f->loop, &f->url, c, payload, plen, f->is_head,
                              f->opts.response_timeout_ms, &h2_cbs, f,
                              &f->h2r, f->rbuf.data + n,
                              f->rbuf.len - (size_t)n);
      if (rc != 0) {
        ws101__conn_set_proto(c, &ws101__client_detached_proto, NULL);
        ws101__conn_close(c, rc);
        fetch_fail(f, rc, "cannot continue in HTTP/2 after 101");
      }
      return 1;
    }
    if (f->head.status == 101) {
      fetch_fail(f, WS101_EPROTO, "unexpected 101 Switching Protocols");
      return 1;
    }
    if (f->head.status >= 100 && f->head.status < 200) {
      /* Interim response (100 Continue, 103 Early Hints): skip it. */
      memmove(f->rbuf.data, f->rbuf.data + n, f->rbuf.len - (size_t)n);
      f->rbuf.len -= (size_t)n;
      f->scanned = 0;
      continue;
    }
    break;
  }
  f->have_head = 1;
  ws101__h1_body_init_response(&f->body, &f->head, f->is_head);
  rest = f->rbuf.len - (size_t)n;
  if (emit(f, WS101_FETCH_RESPONSE, NULL, 0))
    return 1;
  return feed_body(f, f->rbuf.data + n, rest);
}

static void on_read(ws101__conn *c, char *data, size_t len) {
  hconn *hc = (hconn *)c->proto_data;
  ws101_fetch *f = hc->f;
  if (f == NULL) {
    /* A pooled connection must be silent: anything here is garbage. */
    ws101__conn_close(c, WS101_EPROTO);
    return;
  }
  f->got_bytes = 1;
  if (f->out_keep) {
    /* The server answered: no retry will be needed. */
    ws101__buf_free(&f->out);
    f->out_keep = 0;
  }
  ws101__conn_set_deadline(c, f->opts.response_timeout_ms);
  if (f->have_head) {
    feed_body(f, data, len);
    return;
  }
  if (ws101__buf_append(&f->rbuf, data, len) != 0) {
    fetch_fail(f, WS101_ENOMEM, "out of memory reading the response");
    return;
  }
  parse_head(f);
}

static int start_connect(ws101_fetch *f);

static void on_read_end(ws101__conn *c, int err) {
  hconn *hc = (hconn *)c->proto_data;
  ws101_fetch *f = hc->f;
  if (f == NULL) {
    /* The server closed an idle connection: forget it. */
    ws101__conn_close(c, 0);
    return;
  }
  if (f->have_head && f->body.mode == WS101__H1_BODY_UNTIL_CLOSE &&
      err == WS101_EEOF) {
    fetch_done(f, 0);
    return;
  }
  if (!f->got_bytes && f->reused && !f->retried && f->out_keep) {
    /* A pooled connection the server had closed as we reused it: the
     * request never reached it, so sending it again is safe. */
    f->retried = 1;
    f->reused = 0;
    f->out_keep = 0;
    f->hc = NULL;
    hc->f = NULL;
    ws101__conn_close(c, 0);
    if (start_connect(f) != 0)
      fetch_fail(f, WS101_ENOMEM, "out of memory reconnecting");
    return;
  }
  if (!f->got_bytes)
    fetch_fail(f, err == WS101_EEOF ? WS101_EEOF : err,
               "server closed the connection without responding");
  else if (!f->have_head)
    fetch_fail(f, WS101_EPROTO,
               "connection closed in the middle of the response head");
  else
    fetch_fail(f, err == WS101_EEOF ? WS101_EPROTO : err,
               "connection closed before the response body was complete");
}

static void on_timeout(ws101__conn *c) {
  hconn *hc = (hconn *)c->proto_data;
  ws101_fetch *f = hc->f;
  char msg[96];
  if (f == NULL) {
    /* Idle too long in the pool (on_close unlinks it). */
    ws101__conn_close(c, 0);
    return;
  }
  snprintf(msg, sizeof(msg), "no response data from the server for %u ms",
           (unsigned)f->opts.response_timeout_ms);
  fetch_fail(f, WS101_ETIMEDOUT, msg);
}

static void on_close(ws101__conn *c, int err) {
  hconn *hc = (hconn *)c->proto_data;
  ws101_fetch *f = hc->f;
  if (hc->pooled) {
    /* The pool exists: a pooled hconn is in it (pool_free detaches all). */
    pool_unlink(pool_of(c->loop), hc);
  }
  if (f != NULL) {
    const char *tls_why = ws101__conn_tls_error(c);
    f->hc = NULL;
    if (err == WS101_ETLS)
      fetch_fail(f, err, *tls_why ? tls_why : ws101_tls_last_error());
    else
      fetch_fail(f, err ? err : WS101_ECONNRESET, "connection lost");
  }
  free(hc);
}

/* The upload's output left: a streamed body may continue. */
static void on_drain(ws101__conn *c) {
  hconn *hc = (hconn *)c->proto_data;
  ws101_fetch *f = hc->f;
  if (f == NULL || !f->want_drain || f->finished || f->in_cb) return;
  f->want_drain = 0;
  if (f->state == F_STREAMING) emit(f, WS101_FETCH_DRAIN, NULL, 0);
}

static const ws101__proto h1_client_proto = {
    "http1-client", on_read, on_read_end, on_drain, on_timeout, NULL,
    on_close};

/* ------------------------------------------------------------------------ */
/* Request                                                                  */
/* ------------------------------------------------------------------------ */

static int append_str(ws101__buf *b, const char *s) {
  return ws101__buf_append(b, s, strlen(s));
}

static int append_header(ws101__buf *b, const char *name, const char *value) {
  if (append_str(b, name) || append_str(b, ": ") || append_str(b, value) ||
      append_str(b, "\r\n"))
    return WS101_ENOMEM;
  return 0;
}

/* Records what a caller-supplied header means for the framing we add. */
static int note_header(ws101_fetch *f, const char *name, const char *value) {
  if (ws101__h1_ieq(name, "Transfer-Encoding") ||
      ws101__h1_ieq(name, "Upgrade") || ws101__h1_ieq(name, "TE"))
    return WS101_EINVAL; /* framing and protocol switches are ours */
  if (ws101__h1_ieq(name, "Content-Length")) {
    const char *p = value;
    uint64_t v = 0;
    if (f->user_cl || *p == '\0')
      return WS101_EINVAL;
    for (; *p; p++) {
      if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10)
        return WS101_EINVAL;
      v = v * 10 + (uint64_t)(*p - '0');
    }
    f->user_cl = 1;
    f->user_cl_value = v;
  } else if (ws101__h1_ieq(name, "Host")) {
    if (f->user_host)
      return WS101_EINVAL;
    f->user_host = 1;
  } else if (ws101__h1_ieq(name, "User-Agent")) {
    f->user_ua = 1;
  } else if (ws101__h1_ieq(name, "Connection")) {
    f->user_close = ws101__h1_token_list_has(value, "close");
  }
  return 0;
}

int ws101_fetch_add_header(ws101_fetch *f, const char *name,
                           const char *value) {
  int rc;
  if (f == NULL || !ws101__h1_is_token(name) ||
      !ws101__h1_is_field_value(value))
    return WS101_EINVAL;
  if (f->state != F_NEW || f->finished)
    return WS101_ESTATE;
  rc = note_header(f, name, value);
  if (rc != 0)
    return rc;
  return append_header(&f->hdrs, name, value);
}

/* Writes bytes toward the server: straight to the connection once it is
 * up, otherwise into `out` until it is. */
static int send_bytes(ws101_fetch *f, const uv_buf_t *bufs, unsigned n) {
  unsigned i;
  if (f->hc != NULL && !f->out_keep)
    return ws101__conn_write(f->hc->c, bufs, n);
  for (i = 0; i < n; i++)
    if (ws101__buf_append(&f->out, bufs[i].base, bufs[i].len) != 0)
      return WS101_ENOMEM;
  if (f->hc != NULL) {
    /* Connected but keeping a retry copy: write what was just added. */
    size_t total = 0;
    uv_buf_t b;
    for (i = 0; i < n; i++)
      total += bufs[i].len;
    b = uv_buf_init(f->out.data + f->out.len - total, (unsigned)total);
    return ws101__conn_write(f->hc->c, &b, 1);
  }
  return 0;
}

/* The connection is ready: hand it what was queued. */
static void connection_ready(ws101_fetch *f, hconn *hc) {
  uv_buf_t b;
  f->hc = hc;
  hc->f = f;
  /* Per exchange: a pooled connection serves fetches with other options. */
  ws101__conn_set_flow(hc->c, (size_t)f->opts.output_buffer_limit,
                       f->opts.send_timeout_ms);
  ws101__conn_set_deadline(hc->c, f->opts.response_timeout_ms);
  if (f->out.len > 0) {
    b = uv_buf_init(f->out.data, (unsigned)f->out.len);
    if (ws101__conn_write(hc->c, &b, 1) != 0)
      return; /* on_close reports */
    /* Writes refused while connecting are owed a drain, even if the
     * socket took everything at once. */
    if (f->want_drain) ws101__conn_want_drain(hc->c);
    /* Keep the bytes only if a retry could need them. */
    if (!(f->reused && !f->retried && f->idempotent && f->state == F_SENT &&
          f->out.len <= RETRY_KEEP_MAX)) {
      ws101__buf_free(&f->out);
      f->out_keep = 0;
    } else {
      f->out_keep = 1;
    }
  }
}

static void on_connected(ws101__conn *c, int err, const char *msg,
                         void *user_data) {
  ws101_fetch *f = (ws101_fetch *)user_data;
  hconn *hc;
  f->creq = NULL;
  hc = f->new_hc;
  f->new_hc = NULL;
  if (err != 0) {
    free(hc);
    fetch_fail(f, err, msg);
    return;
  }
  hc->c = c;
  if (f->url.tls) {
    /* The request waits in the cork buffer until the handshake is done. */
    ws101__tls_ctx *ctx = ws101__tls_client_ctx(f->loop, &f->opts);
    if (ctx == NULL ||
        ws101__conn_tls_client(c, ctx, f->url.host, f->url.origin) != 0) {
      f->hc = hc;
      hc->f = f;
      ws101__conn_close(c, WS101_ETLS); /* on_close reports */
      return;
    }
  }
  connection_ready(f, hc);
  if (ws101__conn_start(c) != 0 && f->hc == hc)
    fetch_fail(f, WS101_EIO, "cannot read from the connection");
}

/* Gets a connection: an idle one from the pool, or a new one. Returns 0 or
 * WS101_ENOMEM. */
static int start_connect(ws101_fetch *f) {
  const ws101__tls_ctx *tls = NULL;
  hconn *hc;
  size_t olen;
  int rc;
  /* NULL on failure: nothing pooled matches, and on_connected reports
   * the TLS error as before. */
  if (f->url.tls)
    tls = ws101__tls_client_ctx(f->loop, &f->opts);
  if (!f->retried) {
    hc = pool_take(f->loop, f->url.origin, tls);
    if (hc != NULL) {
      f->reused = 1;
      connection_ready(f, hc);
      return 0;
    }
  }
  olen = strlen(f->url.origin);
  hc = (hconn *)calloc(1, sizeof(*hc) + olen + 1);
  if (hc == NULL)
    return WS101_ENOMEM;
  memcpy(hc->origin, f->url.origin, olen + 1);
  hc->tls = tls;
  rc = ws101__connect_start(f->loop, f->url.host, f->url.port,
                            f->opts.connect_timeout_ms, &h1_client_proto, hc,
                            on_connected, f, &f->creq);
  if (rc != 0) {
    free(hc);
    return rc;
  }
  /* Until it connects, hc is ours (a failed attempt is closed under the
   * connect layer's own proto); after, on_close frees it. */
  f->new_hc = hc;
  return 0;
}

/* Builds the request head into f->out. `body_len` is the fixed body length
 * (ignored when chunked). */
static int build_head(ws101_fetch *f, int chunked, uint64_t body_len,
                      int has_body) {
  char num[32], ua[48];
  ws101__buf *b = &f->out;
  size_t i;
  snprintf(ua, sizeof(ua), "libws101/%s", ws101_version_string());
  if (append_str(b, f->method) || append_str(b, " ") ||
      append_str(b, f->url.target) || append_str(b, " HTTP/1.1\r\n"))
    return WS101_ENOMEM;
  if (!f->user_host && append_header(b, "Host", f->url.authority))
    return WS101_ENOMEM;
  if (!f->user_ua && append_header(b, "User-Agent", ua))
    return WS101_ENOMEM;
  for (i = 0; i + 1 < f->opts.headers.count; i += 2)
    if (append_header(b, f->opts.headers.items[i],
                      f->opts.headers.items[i + 1]))
      return WS101_ENOMEM;
  if (ws101__buf_append(b, f->hdrs.data, f->hdrs.len))
    return WS101_ENOMEM;
  if (chunked) {
    if (append_header(b, "Transfer-Encoding", "chunked"))
      return WS101_ENOMEM;
  } else if (!f->user_cl && has_body) {
    snprintf(num, sizeof(num), "%llu", (unsigned long long)body_len);
    if (append_header(b, "Content-Length", num))
      return WS101_ENOMEM;
  }
  /* h2c offer (WS101_OPT_CLIENT_HTTP2 = 2) on bodiless requests: a 101
   * moves to HTTP/2, any other answer is plain HTTP/1.1 (the fallback). */
  if (f->opts.client_http2 == 2 && !has_body && !chunked && !f->url.tls) {
    char b64[64];
    uint8_t payload[64];
    size_t plen = sizeof(payload);
    if (h2c_settings(b64, sizeof(b64), payload, &plen) > 0) {
      if (append_header(b, "Connection", "Upgrade, HTTP2-Settings") ||
          append_header(b, "Upgrade", "h2c") ||
          append_header(b, "HTTP2-Settings", b64))
        return WS101_ENOMEM;
      f->h2c_offered = 1;
    }
  }
  if (append_str(b, "\r\n"))
    return WS101_ENOMEM;
  ws101__buf_free(&f->hdrs);
  return 0;
}

/* Methods whose request carries a body by convention: they get
 * "Content-Length: 0" even when empty, which some servers require. */
static int expects_body(const char *m) {
  return strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0 ||
         strcmp(m, "PATCH") == 0;
}

/* ---- HTTP/2 (client_h2.c carries it; events come back here) ---------- */

static int use_h2(const ws101_fetch *f) {
  /* https:// offers ALPN h2 (both modes) unless the server already
   * answered HTTP/1.1 on this loop. */
  if (f->url.tls)
    return f->opts.client_http2 != 0 &&
           !ws101__h2cli_h1_only(f->loop, &f->url);
  /* h2c mode goes straight to an HTTP/2 connection once one exists. */
  return f->opts.client_http2 == 1 ||
         (f->opts.client_http2 == 2 && ws101__h2cli_has(f->loop, &f->url));
}

/* The response head: copied into f->rbuf so it lives like an HTTP/1.1 one
 * (ws101_fetch_header works until the fetch is gone). */
static void h2_on_head(void *ud, const ws101__h1_head *h) {
  ws101_fetch *f = ud;
  size_t i, n = h->nheaders < RESP_HEADERS_CAP ? h->nheaders : RESP_HEADERS_CAP;
  size_t need = 0;
  char *p;
  for (i = 0; i < n; i++)
    need += h->headers[i].name_len + h->headers[i].value_len + 2;
  f->rbuf.len = 0;
  if (ws101__buf_reserve(&f->rbuf, need + 1) != 0) {
    fetch_fail(f, WS101_ENOMEM, "out of memory reading the response");
    return;
  }
  p = f->rbuf.data;
  memset(&f->head, 0, sizeof(f->head));
  f->head.headers = f->resp_headers;
  f->head.max_headers_cap = RESP_HEADERS_CAP;
  for (i = 0; i < n; i++) {
    ws101__h1_header *d = &f->resp_headers[i];
    const ws101__h1_header *src = &h->headers[i];
    d->name = p;
    d->name_len = src->name_len;
    memcpy(p, src->name, src->name_len + 1);
    p += src->name_len + 1;
    d->value = p;
    d->value_len = src->value_len;
    memcpy(p, src->value, src->value_len + 1);
    p += src->value_len + 1;
  }
  f->rbuf.len = (size_t)(p - f->rbuf.data);
  f->head.nheaders = n;
  f->head.status = h->status;
  f->head.version = 20;
  f->head.reason = (char *)"";
  f->have_head = 1;
  f->got_bytes = 1;
  emit(f, WS101_FETCH_RESPONSE, NULL, 0);
}

static void h2_on_data(void *ud, const char *data, size_t len) {
  ws101_fetch *f = ud;
  if (f->opts.fetch_buffer_body) {
    if (f->bodybuf.len + len > f->opts.max_body) {
      fetch_fail(f, WS101_ETOOBIG,
                 "response body larger than WS101_OPT_MAX_BODY");
      return;
    }
    if (ws101__buf_append(&f->bodybuf, data, len) != 0)
      fetch_fail(f, WS101_ENOMEM, "out of memory buffering the body");
    return;
  }
  emit(f, WS101_FETCH_BODY, data, len);
}

static void h2_on_done(void *ud) {
  ws101_fetch *f = ud;
  f->h2r = NULL;
  fetch_done(f, 0);
}

static void h2_on_error(void *ud, int err, const char *msg) {
  ws101_fetch *f = ud;
  f->h2r = NULL;
  fetch_fail(f, err, msg);
}


/* ALPN said HTTP/1.1: the request was never sent, so it is built again
 * as HTTP/1.1 (f->hdrs was kept for this) with the body given so far,
 * and goes on `c` when offered, else on a connection of its own. */
static int h2_on_fallback(void *ud, ws101__conn *c, const char *body,
                          size_t len, int ended) {
  ws101_fetch *f = ud;
  size_t olen = strlen(f->url.origin);
  hconn *hc;
  int rc;
  f->h2r = NULL;
  ws101__buf_free(&f->out);
  if (!f->h2_streamed) {
    rc = build_head(f, 0, len, len > 0 || expects_body(f->method));
    if (rc == 0 && len > 0 && ws101__buf_append(&f->out, body, len) != 0)
      rc = WS101_ENOMEM;
  } else {
    char size_line[24];
    f->chunked = !f->user_cl;
    rc = build_head(f, f->chunked, 0, 1);
    if (rc == 0 && f->chunked && len > 0) {
      snprintf(size_line, sizeof(size_line), "%zx\r\n", len);
      rc = append_str(&f->out, size_line);
    }
    if (rc == 0 && len > 0 && ws101__buf_append(&f->out, body, len) != 0)
      rc = WS101_ENOMEM;
    if (rc == 0 && f->chunked && len > 0) rc = append_str(&f->out, "\r\n");
    if (rc == 0 && f->chunked && ended) rc = append_str(&f->out, "0\r\n\r\n");
  }
  if (rc != 0) {
    fetch_fail(f, WS101_ENOMEM, "out of memory falling back to HTTP/1.1");
    return 0;
  }
  if (c == NULL) {
    if (start_connect(f) != 0)
      fetch_fail(f, WS101_ENOMEM, "out of memory connecting");
    return 0;
  }
  hc = (hconn *)calloc(1, sizeof(*hc) + olen + 1);
  if (hc == NULL) {
    fetch_fail(f, WS101_ENOMEM, "out of memory falling back to HTTP/1.1");
    return 0;
  }
  memcpy(hc->origin, f->url.origin, olen + 1);
  /* Opened by the HTTP/2 pool with the context of this fetch's options
   * (client_h2.c keys its connections by it too). */
  if (f->url.tls)
    hc->tls = ws101__tls_client_ctx(f->loop, &f->opts);
  hc->c = c;
  ws101__conn_set_proto(c, &h1_client_proto, hc);
  connection_ready(f, hc);
  return 1;
}

static const ws101__h2cli_cbs h2_cbs = {h2_on_head, h2_on_data, h2_on_done,
                                        h2_on_error, h2_on_fallback};

/* Opens the stream: the caller's and the options' headers as HTTP/2
 * fields (lowercase; Host becomes :authority, hop-by-hop ones go). */
static int h2_start(ws101_fetch *f, int has_body, uint64_t body_len) {
  ws101__h2_field fl[RESP_HEADERS_CAP];
  ws101__buf names = {NULL, 0, 0};
  char ua[48], num[24];
  size_t n = 0, i;
  char *p, *end;
  int rc;
  if (ws101__buf_append(&names, f->hdrs.data, f->hdrs.len) != 0)
    return WS101_ENOMEM;
  for (p = names.data, end = p + names.len; p < end && n < RESP_HEADERS_CAP;) {
    char *colon = memchr(p, ':', (size_t)(end - p)), *eol, *q;
    if (colon == NULL || (eol = memchr(colon, '\r', (size_t)(end - colon))) == NULL)
      break;
    for (q = p; q < colon; q++) *q = (char)ws101__h1_lower((unsigned char)*q);
    if (!ws101__h1_ieq_n(p, (size_t)(colon - p), "host") &&
        !ws101__h1_ieq_n(p, (size_t)(colon - p), "connection") &&
        !ws101__h1_ieq_n(p, (size_t)(colon - p), "keep-alive")) {
      fl[n].name = p;
      fl[n].name_len = (size_t)(colon - p);
      fl[n].value = colon + 2;
      fl[n].value_len = (size_t)(eol - colon - 2);
      n++;
    }
    p = eol + 2;
  }
  for (i = 0; i + 1 < f->opts.headers.count && n < RESP_HEADERS_CAP; i += 2) {
    /* Option headers are "Name", "value": lowercase the name in place. */
    char *nm = f->opts.headers.items[i];
    for (; *nm; nm++) *nm = (char)ws101__h1_lower((unsigned char)*nm);
    fl[n].name = f->opts.headers.items[i];
    fl[n].name_len = strlen(fl[n].name);
    fl[n].value = f->opts.headers.items[i + 1];
    fl[n].value_len = strlen(fl[n].value);
    n++;
  }
  if (!f->user_ua && n < RESP_HEADERS_CAP) {
    snprintf(ua, sizeof(ua), "libws101/%s", ws101_version_string());
    fl[n].name = "user-agent";
    fl[n].name_len = 10;
    fl[n].value = ua;
    fl[n].value_len = strlen(ua);
    n++;
  }
  if (has_body && !f->user_cl && body_len != UINT64_MAX &&
      n < RESP_HEADERS_CAP) {
    snprintf(num, sizeof(num), "%llu", (unsigned long long)body_len);
    fl[n].name = "content-length";
    fl[n].name_len = 14;
    fl[n].value = num;
    fl[n].value_len = strlen(num);
    n++;
  }
  rc = ws101__h2cli_request(f->loop, &f->url, f->method, fl, n, has_body,
                            &f->opts, &h2_cbs, f, &f->h2r);
  ws101__buf_free(&names);
  /* f->hdrs stays: over TLS, ALPN may still send us back to HTTP/1.1. */
  return rc;
}

int ws101_fetch_send(ws101_fetch *f, const char *body, size_t len) {
  int rc;
  if (f == NULL || (body == NULL && len > 0))
    return WS101_EINVAL;
  if (f->state != F_NEW || f->finished)
    return WS101_ESTATE;
  if (f->user_cl && f->user_cl_value != len)
    return WS101_EINVAL;
  if (use_h2(f)) {
    rc = h2_start(f, len > 0, len);
    if (rc == 0 && len > 0) rc = ws101__h2cli_write(f->h2r, body, len);
    if (rc == 0 && len > 0) rc = ws101__h2cli_end(f->h2r);
    if (rc != 0) {
      if (f->h2r != NULL) ws101__h2cli_cancel(f->h2r);
      f->h2r = NULL;
      return rc;
    }
    f->state = F_SENT;
    return 0;
  }
  rc = build_head(f, 0, len, len > 0 || expects_body(f->method));
  if (rc == 0 && len > 0 && ws101__buf_append(&f->out, body, len) != 0)
    rc = WS101_ENOMEM;
  if (rc != 0) {
    ws101__buf_free(&f->out);
    return rc;
  }
  f->state = F_SENT;
  rc = start_connect(f);
  if (rc != 0) {
    f->state = F_NEW;
    ws101__buf_free(&f->out);
  }
  return rc;
}

/* Request bytes not yet taken by the socket: in the connection's queue,
 * or held in `out` until the connection opens. */
static size_t fetch_queued(const ws101_fetch *f) {
  if (f->hc != NULL) return ws101__conn_buffered(f->hc->c);
  return f->out.len;
}

int ws101_fetch_write(ws101_fetch *f, const char *data, size_t len) {
  uv_buf_t b[3];
  char size_line[24];
  unsigned n = 0;
  int rc;
  if (f == NULL || (data == NULL && len > 0))
    return WS101_EINVAL;
  if (f->finished || f->state == F_SENT)
    return WS101_ESTATE;
  if (f->state == F_NEW && use_h2(f)) {
    rc = h2_start(f, 1, f->user_cl ? f->user_cl_value : UINT64_MAX);
    if (rc != 0) return rc;
    f->state = F_STREAMING;
    f->h2_streamed = 1;
  }
  if (f->h2r != NULL) {
    if (len == 0) return 0;
    rc = ws101__h2cli_write(f->h2r, data, len);
    return rc == WS101_ECLOSED ? 0 : rc;
  }
  if (f->state == F_NEW) {
    f->chunked = !f->user_cl;
    rc = build_head(f, f->chunked, 0, 1);
    if (rc == 0)
      rc = start_connect(f);
    if (rc != 0) {
      ws101__buf_free(&f->out);
      return rc;
    }
    f->state = F_STREAMING;
  }
  if (len == 0)
    return 0; /* an empty chunk would end a chunked body */
  /* The output limit counts what is already queued, connected or not. */
  if (f->opts.output_buffer_limit != 0 &&
      fetch_queued(f) >= f->opts.output_buffer_limit) {
    f->want_drain = 1;
    if (f->opts.http_backpressure_policy == WS101_BACKPRESSURE_CLOSE &&
        f->hc != NULL)
      ws101__conn_close(f->hc->c, WS101_EBACKPRESSURE);
    return WS101_EBACKPRESSURE;
  }
  if (f->chunked) {
    snprintf(size_line, sizeof(size_line), "%zx\r\n", len);
    b[n++] = uv_buf_init(size_line, (unsigned)strlen(size_line));
  }
  b[n++] = uv_buf_init((char *)data, (unsigned)len);
  if (f->chunked)
    b[n++] = uv_buf_init("\r\n", 2);
  rc = send_bytes(f, b, n);
  if (rc == 0 && (f->hc == NULL ||
                  (f->hc->c->flags & WS101__CONN_WRITING)))
    f->want_drain = 1; /* waits for the connection or the socket */
  return rc == WS101_ECLOSED ? 0 : rc; /* a lost connection is an event */
}

size_t ws101_fetch_buffered(const ws101_fetch *f) {
  size_t n;
  if (f == NULL || f->finished) return 0;
  n = fetch_queued(f);
  if (n > 0) ((ws101_fetch *)f)->want_drain = 1;
  return n;
}

int ws101_fetch_end(ws101_fetch *f) {
  int rc = 0;
  if (f == NULL)
    return WS101_EINVAL;
  if (f->state == F_NEW && !f->finished) {
    rc = ws101_fetch_write(f, NULL, 0);
    if (rc != 0)
      return rc;
  }
  if (f->finished || f->state != F_STREAMING)
    return WS101_ESTATE;
  if (f->h2r != NULL) {
    rc = ws101__h2cli_end(f->h2r);
    f->state = F_SENT;
    return rc == WS101_ECLOSED ? 0 : rc;
  }
  if (f->chunked) {
    uv_buf_t b = uv_buf_init("0\r\n\r\n", 5);
    rc = send_bytes(f, &b, 1);
    if (rc == WS101_ECLOSED)
      rc = 0;
  }
  if (rc == 0)
    f->state = F_SENT;
  return rc;
}

int ws101_fetch_cancel(ws101_fetch *f) {
  if (f == NULL)
    return WS101_EINVAL;
  if (f->finished || f->cancel_requested)
    return WS101_ECLOSED;
  if (f->in_cb) {
    /* Delivered right after the current callback returns. */
    f->cancel_requested = 1;
    return 0;
  }
  fetch_fail(f, WS101_ECANCELED, "request canceled");
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Creation and accessors                                                   */
/* ------------------------------------------------------------------------ */

static void fetch_abort(ws101__client_link *l) {
  ws101_fetch *f = (ws101_fetch *)l;
  if (f->finished) {
    /* Waiting only for its deferred post, which ws101_loop_free runs. */
    ws101__client_link_remove(f->loop, l);
    return;
  }
  if (f->post_pending) {
    /* fetch_fail will leave the memory to the deferred callback, which
     * ws101_loop_free runs after the registry is gone: unlink now. */
    ws101__client_link_remove(f->loop, l);
  }
  fetch_fail(f, WS101_ECANCELED, "the loop is being freed");
}

int ws101_fetch_new(ws101_loop *loop, const char *method, const char *url,
                    const ws101_options *opts, ws101_fetch_cb cb,
                    void *user_data, ws101_fetch **out) {
  ws101_fetch *f;
  int rc;
  if (out != NULL)
    *out = NULL;
  if (loop == NULL || url == NULL || cb == NULL || !ws101__h1_is_token(method))
    return WS101_EINVAL;
  if (ws101__clients_of(loop) == NULL)
    return loop->freeing ? WS101_EINVAL : WS101_ENOMEM;
  f = (ws101_fetch *)calloc(1, sizeof(*f));
  if (f == NULL)
    return WS101_ENOMEM;
  f->loop = loop;
  f->cb = cb;
  f->cb_data = user_data;
  rc = ws101__url_parse(url, &f->url, NULL);
  if (rc == 0 && f->url.scheme != WS101__URL_HTTP &&
      f->url.scheme != WS101__URL_HTTPS)
    rc = WS101_EURL;
  if (rc == 0)
    rc = ws101__options_copy(&f->opts, opts);
  if (rc == 0) {
    f->method = strdup(method);
    f->resp_headers =
        (ws101__h1_header *)calloc(RESP_HEADERS_CAP, sizeof(ws101__h1_header));
    if (f->method == NULL || f->resp_headers == NULL)
      rc = WS101_ENOMEM;
  }
  if (rc != 0) {
    ws101__url_free(&f->url);
    ws101__options_clear(&f->opts);
    free(f->method);
    free(f->resp_headers);
    free(f);
    return rc;
  }
  f->is_head = strcmp(method, "HEAD") == 0;
  f->idempotent = f->is_head || strcmp(method, "GET") == 0 ||
                  strcmp(method, "OPTIONS") == 0 ||
                  strcmp(method, "PUT") == 0 || strcmp(method, "DELETE") == 0;
  f->link.abort = fetch_abort;
  ws101__client_link_add(loop, &f->link);
  if (out != NULL)
    *out = f;
  return 0;
}

int ws101_fetch_status(const ws101_fetch *f) {
  return f != NULL && f->have_head ? f->head.status : 0;
}

int ws101_fetch_http_version(const ws101_fetch *f) {
  return f != NULL && f->have_head ? f->head.version : 0;
}

const char *ws101_fetch_header(const ws101_fetch *f, const char *name) {
  if (f == NULL || name == NULL || !f->have_head)
    return NULL;
  return ws101__h1_find_header(&f->head, name);
}

size_t ws101_fetch_header_count(const ws101_fetch *f) {
  return f != NULL && f->have_head ? f->head.nheaders : 0;
}

const char *ws101_fetch_header_name(const ws101_fetch *f, size_t i) {
  if (f == NULL || !f->have_head || i >= f->head.nheaders)
    return NULL;
  return f->head.headers[i].name;
}

const char *ws101_fetch_header_value(const ws101_fetch *f, size_t i) {
  if (f == NULL || !f->have_head || i >= f->head.nheaders)
    return NULL;
  return f->head.headers[i].value;
}

void ws101_fetch_set_user_data(ws101_fetch *f, void *user_data) {
  if (f != NULL)
    f->app_data = user_data;
}

void *ws101_fetch_get_user_data(const ws101_fetch *f) {
  return f != NULL ? f->app_data : NULL;
}

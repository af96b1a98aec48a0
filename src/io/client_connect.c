/* client_connect.c - see client_connect.h.
 *
 * Lifetime: the request owns up to three asynchronous things (its timer, a
 * pending getaddrinfo, and the connection being tried, whose non-blocking
 * connect conn.c watches) and each holds a reference. The user callback runs once (`done`), but the
 * memory goes only when the last reference drops, because libuv still
 * writes into the embedded requests until their callbacks have run. */
#include "io/client_connect.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct ws101__connect {
  ws101_loop *loop;
  ws101__connect_cb cb;
  void *user_data;
  const ws101__proto *proto;
  void *proto_data;
  uint64_t timeout_ms;
  uint16_t port;
  int refs;
  int done;       /* the user callback ran or the attempt was canceled */
  int gai_active; /* uv_getaddrinfo in flight */
  int first_err;  /* most telling connect error seen (refused wins) */
  uv_timer_t timer;
  uv_getaddrinfo_t gai;
  struct addrinfo *res, *next; /* resolver answer and the next to try */
  ws101__conn *cur; /* the connection being tried */
  char host[256];
};

static void unref(ws101__connect *r) {
  if (--r->refs > 0) return;
  if (r->res) uv_freeaddrinfo(r->res);
  free(r);
}

static void on_timer_close(uv_handle_t *h) {
  unref((ws101__connect *)h->data);
}

/* Failed attempts are closed while still under this proto; only its
 * on_close matters: it releases the reference the connection held. */
static void attempt_on_read(ws101__conn *c, char *data, size_t len) {
  (void)data;
  (void)len;
  ws101__conn_close(c, WS101_EPROTO); /* not reading yet: cannot happen */
}

static void attempt_on_read_end(ws101__conn *c, int err) {
  ws101__conn_close(c, err);
}

static void finish(ws101__connect *r, int err, const char *msg);

static void attempt_on_close(ws101__conn *c, int err) {
  ws101__connect *r = (ws101__connect *)c->proto_data;
  if (r->cur == c) {
    /* Closed from outside (the loop is being freed) before it connected. */
    r->cur = NULL;
    if (!r->done)
      finish(r, err ? err : WS101_ECANCELED, "connection closed while connecting");
  }
  unref(r);
}

static const ws101__proto attempt_proto = {
    "client-connect", attempt_on_read, attempt_on_read_end, NULL, NULL, NULL,
    attempt_on_close};

/* Tears down everything still pending and runs the callback once. */
static void finish(ws101__connect *r, int err, const char *msg) {
  ws101__connect_cb cb = r->cb;
  if (r->done) return;
  r->done = 1;
  r->refs++; /* hold the struct (and r->host in msg) across the callback */
  if (!uv_is_closing((uv_handle_t *)&r->timer))
    uv_close((uv_handle_t *)&r->timer, on_timer_close);
  if (r->gai_active) uv_cancel((uv_req_t *)&r->gai); /* callback still runs */
  if (r->cur) {
    ws101__conn *c = r->cur;
    r->cur = NULL;
    ws101__conn_close(c, WS101_ECANCELED);
  }
  if (cb) cb(NULL, err, msg, r->user_data);
  unref(r);
}

static void fail_connect(ws101__connect *r, int uverr) {
  char msg[400];
  int err = ws101__uv_err(uverr);
  if (uverr == UV_ECONNREFUSED) err = WS101_ECONNREFUSED;
  if (uverr == UV_ETIMEDOUT) err = WS101_ETIMEDOUT;
  snprintf(msg, sizeof(msg), "cannot connect to %s port %u: %s", r->host,
           (unsigned)r->port, uv_strerror(uverr));
  finish(r, err, msg);
}

static void try_next(ws101__connect *r);
static void on_timeout(uv_timer_t *t);

int (*ws101__connect_fd_hook)(const char *host, uint16_t port);

/* `c` is connected: hand it over. Drops the connection's reference (after
 * the callback, which may use r->host). */
static void connected(ws101__connect *r, ws101__conn *c) {
  r->cur = NULL;
  r->done = 1;
  if (!uv_is_closing((uv_handle_t *)&r->timer))
    uv_close((uv_handle_t *)&r->timer, on_timer_close);
  /* The connection leaves our care: its on_close will be the caller's. */
  ws101__conn_set_proto(c, r->proto, r->proto_data);
  r->cb(c, 0, NULL, r->user_data);
  unref(r);
}

/* conn.c: the non-blocking connect of `c` completed (status 0) or failed.
 * A closing connection is never reported, so `c` is still ours. */
void ws101__connect_done(ws101__conn *c, int status) {
  ws101__connect *r = (ws101__connect *)c->proto_data;
  if (r->done || c != r->cur) {
    /* Canceled or timed out: should have been closed; be sure. */
    ws101__conn_close(c, WS101_ECANCELED);
    return;
  }
  if (status == 0) {
    connected(r, c);
    return;
  }
  /* Remember a refusal over later, less telling errors (an unreachable
   * IPv6 route after 127.0.0.1 refused says less about the server). */
  if (r->first_err == 0 || status == UV_ECONNREFUSED) r->first_err = status;
  r->cur = NULL;
  ws101__conn_close(c, ws101__uv_err(status));
  try_next(r); /* r lives on: the closing connection holds a reference */
}

/* Starts the next address, or fails with the best error seen. */
static void try_next(ws101__connect *r) {
  while (!r->done) {
    const struct sockaddr *sa = NULL;
    ws101__conn *c;
    int rc;
    if (ws101__connect_fd_hook != NULL) {
      /* no address: the hook below stands in for the network */
    } else if (r->next) {
      sa = r->next->ai_addr;
      r->next = r->next->ai_next;
    } else {
      fail_connect(r, r->first_err ? r->first_err : UV_EADDRNOTAVAIL);
      return;
    }
    if (ws101__connect_fd_hook != NULL) {
      /* Fuzzers: an already connected socket instead of the network. */
      int fd = ws101__connect_fd_hook(r->host, r->port);
      c = NULL;
      if (fd >= 0) /* (uv_poll_init makes it non-blocking) */
        c = ws101__conn_new(r->loop, &attempt_proto, r, fd);
      if (c == NULL) {
        if (fd >= 0) close(fd);
        fail_connect(r, UV_ECONNREFUSED); /* one address only */
        return;
      }
      c->flags |= WS101__CONN_CLIENT;
      r->refs++; /* released by attempt_on_close or handed over */
      connected(r, c);
      return;
    }
    rc = ws101__conn_connect(r->loop, &attempt_proto, r, sa, &c);
    if (rc == 0) {
      r->cur = c;
      r->refs++; /* released by attempt_on_close or handed over */
      return;
    }
    if (rc == UV_ENOMEM) {
      finish(r, WS101_ENOMEM, "out of memory creating a connection");
      return;
    }
    /* e.g. EAFNOSUPPORT on a host without IPv6: try the next address. */
    if (r->first_err == 0 || rc == UV_ECONNREFUSED) r->first_err = rc;
  }
}

static void on_gai(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  ws101__connect *r = (ws101__connect *)req->data;
  r->gai_active = 0;
  r->res = res; /* freed with the request, whatever happens */
  if (!r->done) {
    if (status < 0) {
      char msg[400];
      snprintf(msg, sizeof(msg), "cannot resolve host name '%s': %s", r->host,
               uv_strerror(status));
      finish(r, WS101_EDNS, msg);
    } else {
      r->next = res;
      try_next(r);
    }
  }
  unref(r);
}

/* Fuzzers: skip the resolver (a thread pool round trip per input). */
static void on_hooked(uv_timer_t *t) {
  ws101__connect *r = (ws101__connect *)t->data;
  if (r->timeout_ms > 0) uv_timer_start(&r->timer, on_timeout, r->timeout_ms, 0);
  try_next(r);
  unref(r); /* the reference the resolver would have held */
}

static void on_timeout(uv_timer_t *t) {
  ws101__connect *r = (ws101__connect *)t->data;
  char msg[400];
  snprintf(msg, sizeof(msg), "connecting to %s port %u timed out after %llu ms",
           r->host, (unsigned)r->port, (unsigned long long)r->timeout_ms);
  finish(r, WS101_ETIMEDOUT, msg);
}

int ws101__connect_start(ws101_loop *loop, const char *host, uint16_t port,
                         uint64_t timeout_ms, const ws101__proto *proto,
                         void *proto_data, ws101__connect_cb cb,
                         void *user_data, ws101__connect **out) {
  ws101__connect *r;
  struct addrinfo hints;
  char portstr[8];
  unsigned char abuf[16];
  int rc;
  if (out) *out = NULL;
  if (loop == NULL || host == NULL || proto == NULL || cb == NULL ||
      strlen(host) >= sizeof(r->host) || port == 0)
    return WS101_EINVAL;
  r = (ws101__connect *)calloc(1, sizeof(*r));
  if (r == NULL) return WS101_ENOMEM;
  r->loop = loop;
  r->cb = cb;
  r->user_data = user_data;
  r->proto = proto;
  r->proto_data = proto_data;
  r->timeout_ms = timeout_ms;
  r->port = port;
  strcpy(r->host, host);
  r->gai.data = r;

  uv_timer_init(loop->uv, &r->timer);
  r->timer.data = r;
  r->refs = 1; /* the timer handle, released in on_timer_close */
  if (ws101__connect_fd_hook != NULL) {
    r->refs++;
    uv_timer_start(&r->timer, on_hooked, 0, 0);
    if (out) *out = r;
    return 0;
  }

  /* Numeric hosts go through getaddrinfo too, with AI_NUMERICHOST (no DNS
   * query, no delay): one path, and the callback is always asynchronous
   * even when the only address fails at once. */
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  if (uv_inet_pton(AF_INET, host, abuf) == 0 ||
      uv_inet_pton(AF_INET6, host, abuf) == 0)
    hints.ai_flags = AI_NUMERICHOST;
  snprintf(portstr, sizeof(portstr), "%u", (unsigned)port);
  rc = uv_getaddrinfo(loop->uv, &r->gai, on_gai, host, portstr, &hints);
  if (rc != 0) {
    r->cb = NULL; /* a start failure is a return code, not a callback */
    r->done = 1;
    uv_close((uv_handle_t *)&r->timer, on_timer_close);
    return rc == UV_ENOMEM ? WS101_ENOMEM : WS101_EINVAL;
  }
  r->gai_active = 1;
  r->refs++;
  if (timeout_ms > 0) uv_timer_start(&r->timer, on_timeout, timeout_ms, 0);
  if (out) *out = r;
  return 0;
}

void ws101__connect_cancel(ws101__connect *req) {
  if (req == NULL || req->done) return;
  req->cb = NULL;
  finish(req, WS101_ECANCELED, NULL);
}

/* ------------------------------------------------------------------------ */
/* Registry                                                                 */
/* ------------------------------------------------------------------------ */

static void clients_free(void *p) {
  ws101__clients *cl = (ws101__clients *)p;
  /* Each abort unlinks its handle; the bound guards against a handle whose
   * final callback starts new work (ws101__clients_of refuses it anyway). */
  int guard = 1000000;
  while (cl->live != NULL && guard-- > 0) cl->live->abort(cl->live);
  if (cl->http_pool_free != NULL && cl->http_pool != NULL)
    cl->http_pool_free(cl->http_pool);
  if (cl->h2_pool_free != NULL && cl->h2_pool != NULL)
    cl->h2_pool_free(cl->h2_pool);
  free(cl);
}

ws101__clients *ws101__clients_of(ws101_loop *loop) {
  ws101__clients *cl;
  if (loop->freeing) return NULL;
  if (loop->client_pool != NULL) return (ws101__clients *)loop->client_pool;
  cl = (ws101__clients *)calloc(1, sizeof(*cl));
  if (cl == NULL) return NULL;
  loop->client_pool = cl;
  loop->client_pool_free = clients_free;
  return cl;
}

void ws101__client_link_add(ws101_loop *loop, ws101__client_link *l) {
  ws101__clients *cl = (ws101__clients *)loop->client_pool;
  l->prev = NULL;
  l->next = cl->live;
  if (cl->live != NULL) cl->live->prev = l;
  cl->live = l;
}

void ws101__client_link_remove(ws101_loop *loop, ws101__client_link *l) {
  ws101__clients *cl = (ws101__clients *)loop->client_pool;
  /* During ws101_loop_free the loop has already dropped its pointer; the
   * registry is still reachable through the links themselves. */
  if (l->prev != NULL)
    l->prev->next = l->next;
  else if (cl != NULL && cl->live == l)
    cl->live = l->next;
  if (l->next != NULL) l->next->prev = l->prev;
  l->prev = l->next = NULL;
}

static void detached_on_read(ws101__conn *c, char *data, size_t len) {
  (void)data;
  (void)len;
  ws101__conn_close(c, WS101_ECANCELED);
}

static void detached_on_read_end(ws101__conn *c, int err) {
  ws101__conn_close(c, err);
}

static void detached_on_close(ws101__conn *c, int err) {
  (void)c;
  (void)err;
}

const ws101__proto ws101__client_detached_proto = {
    "client-detached", detached_on_read, detached_on_read_end, NULL, NULL,
    NULL, detached_on_close};

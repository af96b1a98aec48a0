/* server.c - ws101_server: listeners, the route table, accepting
 * connections and the graceful close of everything a server owns. */
/* accept4 and SOCK_NONBLOCK (Linux; glibc declares them under _GNU_SOURCE). */
#define _GNU_SOURCE
#include "server/server.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io/conn.h"
#include "io/loop.h"
#include "server/pubsub.h"
#include "io/tls.h"
#include "handles/request.h"
#include "handles/ws.h"
#include "proto/ws_handshake.h"

static void conn_closed(ws101__conn_owner *owner);

/* ALPN, in the server's order of preference: the first one the client also
 * offers is chosen, and tls_ready() attaches its protocol. With HTTP/2 on,
 * "h2" comes first. */
static const char *const server_alpn_h2[] = {"h2", "http/1.1", NULL};
static const char *const server_alpn_h1[] = {"http/1.1", NULL};

static const char *const *server_alpn(const ws101_options *opts) {
  return opts->http2 ? server_alpn_h2 : server_alpn_h1;
}

static void close_from_loop(ws101__closable *self);

int ws101_server_new(ws101_loop *loop, const ws101_options *opts,
                     ws101_server **out) {
  ws101_server *srv;
  if (out == NULL) return WS101_EINVAL;
  *out = NULL;
  if (loop == NULL || loop->freeing) return WS101_EINVAL;
  srv = calloc(1, sizeof(*srv));
  if (srv == NULL) return WS101_ENOMEM;
  if (ws101__options_copy(&srv->opts, opts) != 0) {
    free(srv);
    return WS101_ENOMEM;
  }
  srv->hdr_scratch = malloc(srv->opts.max_headers * sizeof(ws101__h1_header));
  if (srv->hdr_scratch == NULL) {
    ws101__options_clear(&srv->opts);
    free(srv);
    return WS101_ENOMEM;
  }
  srv->limits.max_request_line = srv->opts.max_request_line;
  srv->limits.max_header_bytes = srv->opts.max_header_bytes;
  srv->limits.max_headers = srv->opts.max_headers;
  srv->loop = loop;
  srv->conn_owner.closed = conn_closed;
  srv->closable.close = close_from_loop;
  ws101__loop_add_closable(loop, &srv->closable);
  *out = srv;
  return 0;
}

ws101_loop *ws101_server_loop(const ws101_server *server) {
  return server->loop;
}

static int add_route(ws101_server *srv, const char *path, int flags,
                     ws101_request_cb cb, ws101_ws_cb ws_cb, void *user) {
  ws101__route *routes, *r;
  size_t len, i;
  int prefix;
  if (srv == NULL || path == NULL || srv->closing) return WS101_EINVAL;
  if (path[0] != '/' && strcmp(path, "*") != 0) return WS101_EINVAL;
  if (flags & ~(WS101_ROUTE_STREAM_BODY | WS101_ROUTE_WEBSOCKET))
    return WS101_EINVAL;
  len = strlen(path);
  prefix = len > 0 && path[len - 1] == '*';
  if (prefix) len--;
  for (i = 0; i < srv->nroutes; i++)
    if (srv->routes[i].prefix == prefix && srv->routes[i].path_len == len &&
        memcmp(srv->routes[i].path, path, len) == 0)
      return WS101_EINVAL;
  routes = realloc(srv->routes, (srv->nroutes + 1) * sizeof(*routes));
  if (routes == NULL) return WS101_ENOMEM;
  srv->routes = routes;
  r = &routes[srv->nroutes];
  memset(r, 0, sizeof(*r));
  r->path = malloc(len + 1);
  if (r->path == NULL) return WS101_ENOMEM;
  memcpy(r->path, path, len);
  r->path[len] = '\0';
  r->path_len = len;
  r->prefix = prefix;
  r->flags = flags;
  r->cb = cb;
  r->ws_cb = ws_cb;
  r->websocket = ws_cb != NULL;
  r->user_data = user;
  srv->nroutes++;
  return 0;
}

int ws101_server_route(ws101_server *server, const char *path, int flags,
                       ws101_request_cb cb, void *user_data) {
  if (cb == NULL) return WS101_EINVAL;
  return add_route(server, path, flags, cb, NULL, user_data);
}

int ws101_server_websocket(ws101_server *server, const char *path,
                           ws101_ws_cb cb, void *user_data) {
  if (cb == NULL) return WS101_EINVAL;
  return add_route(server, path, 0, NULL, cb, user_data);
}

const ws101__route *ws101__server_match(const ws101_server *srv,
                                        const char *path, size_t len) {
  const ws101__route *best = NULL;
  size_t i;
  for (i = 0; i < srv->nroutes; i++) {
    const ws101__route *r = &srv->routes[i];
    if (r->prefix) {
      if (r->path_len > len || memcmp(r->path, path, r->path_len) != 0)
        continue;
      if (best == NULL || (best->prefix && r->path_len > best->path_len))
        best = r;
    } else if (r->path_len == len && memcmp(r->path, path, len) == 0) {
      return r; /* an exact match beats every prefix */
    }
  }
  return best;
}


/* The TLS handshake of an accepted connection is done, before any request
 * byte is read. HTTP/1.1 was attached at accept; when ALPN chose "h2" the
 * connection is HTTP/2 from its first byte instead. */
static void tls_ready(ws101__conn *c) {
  const char *alpn = ws101__conn_alpn(c);
  if (alpn != NULL && strcmp(alpn, "h2") == 0) ws101__h1_server_switch_h2(c);
}

static int has_ws_route(const ws101_server *srv) {
  size_t i;
  for (i = 0; i < srv->nroutes; i++)
    if (srv->routes[i].websocket) return 1;
  return 0;
}

/* Serves the accepted socket `fd` (non-blocking). Without memory for a
 * connection it is closed at once: the peer sees a reset, the listener
 * goes on. */
static void serve(ws101__listener *l, int fd) {
  ws101_server *srv = l->server;
  ws101__conn *c;
  int one = 1;
  /* With WebSocket routes, each connection comes with room for the handle
   * an upgrade creates: one allocation per WebSocket, none freed after the
   * 101 to leave a hole in the heap. (A handler upgrading on a plain route
   * with ws101_req_accept_websocket gets a handle of its own instead.) */
  c = ws101__conn_new_room(srv->loop, &ws101__h1_server_proto, NULL,
                           has_ws_route(srv) ? WS101__WS_ROOM : 0, fd);
  if (c == NULL) {
    close(fd);
    return;
  }
  c->owner = &srv->conn_owner;
  srv->nconns++;
  ws101__conn_set_flow(c, (size_t)srv->opts.output_buffer_limit,
                       srv->opts.send_timeout_ms);
  /* Small request/response exchanges must not wait for Nagle. (A Unix
   * socket handed over by a test refuses: harmless.) */
  (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (ws101__h1_server_attach(c, srv) != 0 ||
      (l->tls && ws101__conn_tls_server(c, srv->tls, tls_ready) != 0)) {
    c->proto = NULL; /* nothing protocol-side to release */
    ws101__conn_close(c, WS101_EIO);
    return;
  }
  if (ws101__conn_start(c) != 0) ws101__conn_close(c, WS101_EIO);
}

static void on_listen_io(uv_poll_t *h, int status, int events);

/* Stops watching the listener until a connection closes. */
static void listener_wait(ws101__listener *l) {
  l->waiting = 1;
  uv_poll_stop(&l->poll);
}

/* EMFILE/ENFILE: accept and close what waits, with the spare descriptor
 * freed for it (libuv's remedy), so the poll does not fire again at once.
 * Returns 0 if that was possible. */
static int drop_waiting(ws101__listener *l) {
  int fd;
  if (l->spare_fd < 0) return -1;
  close(l->spare_fd);
  l->spare_fd = -1;
  for (;;) {
    fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0)
      close(fd);
    else if (errno != EINTR)
      break;
  }
  l->spare_fd = open("/", O_RDONLY | O_CLOEXEC);
  return 0;
}

/* Accepts until the kernel has no more or the server is full. */
static void accept_all(ws101__listener *l) {
  ws101_server *srv = l->server;
  for (;;) {
    int fd;
    if (srv->closing) return;
    if (srv->opts.max_connections != 0 &&
        srv->nconns >= srv->opts.max_connections) {
      /* The kernel backlog holds the rest; conn_closed resumes. */
      listener_wait(l);
      return;
    }
    fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      serve(l, fd);
      continue;
    }
    switch (errno) {
    case EINTR:
    case ECONNABORTED: /* gone before we took it */
      continue;
    case EAGAIN:
#if EWOULDBLOCK != EAGAIN
    case EWOULDBLOCK:
#endif
      return;
    case EMFILE:
    case ENFILE:
      srv->accept_errors++;
      if (drop_waiting(l) != 0) listener_wait(l);
      return;
    default: /* ENOBUFS, ENOMEM...: try again at the next readiness */
      srv->accept_errors++;
      return;
    }
  }
}

static void on_listen_io(uv_poll_t *h, int status, int events) {
  ws101__listener *l = h->data;
  (void)events;
  if (status < 0) {
    /* libuv stopped the watcher on POLLERR: count it, watch again. */
    l->server->accept_errors++;
    if (!l->server->closing) uv_poll_start(&l->poll, UV_READABLE, on_listen_io);
    return;
  }
  accept_all(l);
}

/* Listens on the bound socket `fd` (owned from here on, closed on
 * failure). */
static int listener_open(ws101_server *srv, int fd, int tls) {
  ws101__listener *l;
  int rc;
  if (listen(fd, 511) != 0) {
    rc = -errno;
    close(fd);
    return ws101__uv_err(rc);
  }
  l = calloc(1, sizeof(*l));
  if (l == NULL) {
    close(fd);
    return WS101_ENOMEM;
  }
  rc = uv_poll_init_socket(srv->loop->uv, &l->poll, fd);
  if (rc != 0) {
    close(fd);
    free(l);
    return ws101__uv_err(rc);
  }
  l->poll.data = l;
  l->fd = fd;
  l->spare_fd = open("/", O_RDONLY | O_CLOEXEC);
  l->server = srv;
  l->tls = tls;
  l->next = srv->listeners;
  srv->listeners = l;
  srv->nlisteners_open++;
  uv_poll_start(&l->poll, UV_READABLE, on_listen_io);
  return 0;
}

static int listen_on(ws101_server *server, const char *host, int port,
                     int tls) {
  struct sockaddr_storage ss;
  int fd, rc, one = 1;
  if (server == NULL || host == NULL || port < 0 || port > 65535 ||
      server->closing)
    return WS101_EINVAL;
  if (strcmp(host, "localhost") == 0) host = "127.0.0.1";
  if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
      uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0)
    return WS101_EINVAL;
  /* What uv_tcp_bind did: SO_REUSEADDR (a restarted server rebinds over
   * TIME_WAIT), IPv6 sockets for IPv6 only. */
  fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ws101__uv_err(-errno);
  (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (ss.ss_family == AF_INET6)
    (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  if (bind(fd, (const struct sockaddr *)&ss,
           ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                    : sizeof(struct sockaddr_in)) != 0) {
    rc = -errno;
    close(fd);
    return ws101__uv_err(rc);
  }
  return listener_open(server, fd, tls);
}

int ws101__server_listen_fd(ws101_server *srv, int fd) {
  int fl;
  if (srv->closing) {
    close(fd);
    return WS101_ESTATE;
  }
  /* accept_all relies on EAGAIN: the descriptor must not block. */
  fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) {
    close(fd);
    return WS101_EINVAL;
  }
  return listener_open(srv, fd, 0);
}

/* Public form of ws101__server_listen_fd (used by ws101_workers): the same
 * ownership rule, plus the argument checks an outside caller needs. */
int ws101_server_listen_fd(ws101_server *server, int fd) {
  if (fd < 0) return WS101_EINVAL;
  if (server == NULL) {
    close(fd);
    return WS101_EINVAL;
  }
  return ws101__server_listen_fd(server, fd);
}

int ws101_server_listen(ws101_server *server, const char *host, int port) {
  return listen_on(server, host, port, 0);
}

int ws101_server_listen_tls(ws101_server *server, const char *host,
                            int port) {
  int rc;
  if (server == NULL || server->closing) return WS101_EINVAL;
  if (server->tls == NULL) {
    rc = ws101__tls_server_ctx_new(&server->opts, server_alpn(&server->opts), NULL,
                                   &server->tls);
    if (rc != 0) return rc;
  }
  return listen_on(server, host, port, 1);
}

int ws101_server_reload_tls(ws101_server *server, const ws101_options *opts) {
  ws101__tls_ctx *ctx;
  int rc;
  if (server == NULL || opts == NULL || server->closing) return WS101_EINVAL;
  rc = ws101__tls_server_ctx_new(opts, server_alpn(&server->opts), server->tls,
                                 &ctx);
  if (rc != 0) return rc;
  /* Open connections hold their own reference to the old context. */
  ws101__tls_ctx_free(server->tls);
  server->tls = ctx;
  return 0;
}

static int port_of(const ws101_server *server, int tls_only) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  const ws101__listener *l, *first = NULL;
  if (server == NULL) return WS101_EINVAL;
  /* The list is newest first; the first listener is at its end. Without
   * tls_only the first plain listener wins, so that ws101_server_port and
   * ws101_server_tls_port name one each when a server has both. */
  for (l = server->listeners; l != NULL; l = l->next)
    if (tls_only ? l->tls : !l->tls) first = l;
  if (first == NULL && !tls_only)
    for (l = server->listeners; l != NULL; l = l->next) first = l;
  l = first;
  if (l == NULL || getsockname(l->fd, (struct sockaddr *)&ss, &len) != 0)
    return WS101_ESTATE;
  if (ss.ss_family == AF_INET6)
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

int ws101_server_port(const ws101_server *server) {
  return port_of(server, 0);
}

int ws101_server_tls_port(const ws101_server *server) {
  return port_of(server, 1);
}

static void server_free(ws101_server *srv) {
  size_t i;
  ws101__loop_remove_closable(srv->loop, &srv->closable);
  ws101__pubsub_server_gone(srv); /* every connection is gone by now */
  for (i = 0; i < srv->nroutes; i++) free(srv->routes[i].path);
  free(srv->routes);
  free(srv->hdr_scratch);
  ws101__h1_cache_free(srv);
  ws101__tls_ctx_free(srv->tls);
  ws101__options_clear(&srv->opts);
  free(srv);
}

static void maybe_done(ws101_server *srv) {
  if (!srv->closing || srv->nlisteners_open > 0 || srv->nconns > 0) return;
  srv->nlisteners_open = (size_t)-1; /* guard against a second call */
  if (srv->close_cb != NULL) srv->close_cb(srv, srv->close_user);
  server_free(srv);
}

static void listener_closed(uv_handle_t *h) {
  ws101__listener *l = h->data;
  ws101_server *srv = l->server;
  free(l);
  srv->nlisteners_open--;
  maybe_done(srv);
}

void ws101__server_dispatch(ws101_req *req) {
  const ws101__route *rt = req->route;
  if (rt == NULL) {
    static const char body[] = "Not Found\n";
    ws101_req_respond(req, 404, "text/plain; charset=utf-8", body,
                      sizeof(body) - 1);
    return;
  }
  if (!rt->websocket) {
    rt->cb(req, rt->user_data);
    return;
  }
  if (!ws101_req_is_websocket(req)) {
    /* HTTP/2 drops the connection-specific Upgrade header itself. */
    static const char body[] = "Upgrade Required: this is a WebSocket "
                               "endpoint\n";
    ws101__req_respond_extra(req, 426, "Upgrade: websocket\r\n", body,
                             sizeof(body) - 1);
    return;
  }
  if (ws101_req_accept_websocket(
          req,
          ws101__ws_pick_subprotocol(ws101_req_ws_protocols(req),
                                     &req->opts->subprotocols),
          rt->ws_cb, rt->user_data, NULL) != 0 &&
      req->resp_state == WS101__RESP_IDLE) {
    /* Refusals were answered already; anything else (no memory) must
     * still complete the request. */
    static const char body[] = "Internal Server Error\n";
    ws101_req_respond(req, 500, "text/plain; charset=utf-8", body,
                      sizeof(body) - 1);
  }
}

/* A connection this server accepted is gone (conn.c, after on_close). */
_Static_assert(offsetof(ws101_server, conn_owner) == 0,
               "a connection's owner must be its server's address");

static void conn_closed(ws101__conn_owner *owner) {
  ws101_server *srv = (ws101_server *)(void *)owner; /* its first member */
  ws101__listener *l;
  srv->nconns--;
  /* A slot is free: watch the waiting listeners again (the loop calls
   * accept_all, never from inside this close callback). */
  for (l = srv->listeners; l != NULL && !srv->closing; l = l->next)
    if (l->waiting) {
      l->waiting = 0;
      uv_poll_start(&l->poll, UV_READABLE, on_listen_io);
    }
  maybe_done(srv);
}

static void deferred_done(uv_timer_t *t) {
  ws101_server *srv = t->data;
  uv_close((uv_handle_t *)t, (uv_close_cb)free);
  maybe_done(srv);
}

static void shutdown_conn(ws101__conn *c, void *arg) {
  if (c->owner != &((ws101_server *)arg)->conn_owner ||
      (c->flags & WS101__CONN_CLOSING))
    return;
  if (c->proto != NULL && c->proto->on_shutdown != NULL)
    c->proto->on_shutdown(c);
  else
    ws101__conn_close(c, 0);
}

int ws101_server_close(ws101_server *server, ws101_server_close_cb cb,
                       void *user_data) {
  ws101__listener *l, *next;
  if (server == NULL) return WS101_EINVAL;
  if (server->closing) return WS101_ECLOSED;
  server->closing = 1;
  server->close_cb = cb;
  server->close_user = user_data;
  for (l = server->listeners; l != NULL; l = next) {
    next = l->next;
    /* uv_close takes the descriptor out of the epoll set at once. */
    uv_close((uv_handle_t *)&l->poll, listener_closed);
    close(l->fd);
    if (l->spare_fd >= 0) close(l->spare_fd);
  }
  server->listeners = NULL;
  ws101__conn_foreach(server->loop, shutdown_conn, server);
  /* With no listener and no connection left, finish on the next iteration
   * so the callback never runs inside this call. */
  if (server->nlisteners_open == 0 && server->nconns == 0) {
    uv_timer_t *t = malloc(sizeof(*t));
    if (t == NULL) {
      maybe_done(server);
      return 0;
    }
    uv_timer_init(server->loop->uv, t);
    t->data = server;
    uv_timer_start(t, deferred_done, 0, 0);
  }
  return 0;
}

/* ws101_loop_free closes servers the application left open. */
static void close_from_loop(ws101__closable *self) {
  ws101_server *srv =
      (ws101_server *)((char *)self - offsetof(ws101_server, closable));
  if (!srv->closing) ws101_server_close(srv, NULL, NULL);
}

/* server.h - internal parts of ws101_server shared with the HTTP/1.1
 * protocol and the connection layer. */
#ifndef WS101_SERVER_H
#define WS101_SERVER_H

#include "proto/http1_parser.h"
#include "core/options.h"
#include "io/conn.h"
#include "io/loop.h"
#include "ws101.h"

#include <uv.h>

typedef struct ws101__route {
  char *path;      /* without the trailing star for prefix routes */
  size_t path_len;
  int prefix;      /* path ended in a star */
  int websocket;   /* WebSocket-only route */
  int flags;       /* WS101_ROUTE_* */
  ws101_request_cb cb;
  ws101_ws_cb ws_cb;
  void *user_data;
} ws101__route;

typedef struct ws101__listener {
  /* Watches the listening socket `fd`; server.c accepts with accept4. */
  uv_poll_t poll;
  int fd;
  /* A descriptor held in reserve: when the table is full (EMFILE), it is
   * closed to accept and close the waiting connections, then reopened, so
   * a full table never makes the level-triggered poll spin. */
  int spare_fd;
  struct ws101_server *server;
  int tls; /* accepts TLS with server->tls */
  struct ws101__listener *next;
  /* max_connections reached (or EMFILE without a spare): the listener is
   * not watched until a connection closes (the kernel backlog waits). */
  int waiting;
} ws101__listener;

struct ws101_server {
  /* First, so that a connection's owner is the server's address
   * (server/pubsub.c finds the server of a connection that way). */
  ws101__conn_owner conn_owner;
  ws101_loop *loop;
  struct ws101_options opts;
  /* Derived once from opts for the HTTP/1.1 parser: its limits, and room
   * for opts.max_headers fields while a head is parsed. */
  ws101__h1_limits limits;
  ws101__h1_header *hdr_scratch;
  ws101__route *routes;
  size_t nroutes;
  ws101__listener *listeners;
  size_t nlisteners_open;
  size_t nconns;
  size_t accept_errors; /* failed accepts (EMFILE...), for tests */
  int closing;
  ws101_server_close_cb close_cb;
  void *close_user;
  struct ws101_server *next; /* loop's list of servers */
  /* HTTP/2 counters (ws101_server_h2_stats). */
  uint64_t h2_conns, h2_streams, h2_websockets;
  /* Pub/sub hub (server/pubsub.c), created by the first subscribe or
   * publish; freed with the server. */
  struct ws101__pubsub *pubsub;
  ws101__closable closable; /* on the loop's list: ws101_loop_free closes */
  /* The TLS context of the TLS listeners (NULL until the first one opens);
   * a reload replaces it, connections keep the one they started with. */
  struct ws101__tls_ctx *tls;
  /* HTTP/1.1 connection states given back (http1_server.c), reused by the
   * next connections: a state freed at an upgrade would otherwise leave a
   * hole that the next, smaller connection block splits, wasting the rest
   * (about 80 bytes per idle WebSocket, bench/RESULTS.md). */
  void *h1_cache;
  unsigned h1_cache_len;
};

/* Answers a routed request the same way whatever the protocol: 404
 * without a route, 426 for a plain request to a WebSocket route, the
 * upgrade (or 500 if it fails unanswered) on one, else the route's
 * handler. req->route and req->opts are set by the protocol. */
void ws101__server_dispatch(ws101_req *req);

/* The route for `path` (longest match), or NULL. */
const ws101__route *ws101__server_match(const ws101_server *srv,
                                        const char *path, size_t len);

/* Listens on an already bound socket `fd` (workers: an SO_REUSEPORT
 * socket each). The server owns fd from then on, even on error. Returns 0
 * or a WS101_E* code. */
int ws101__server_listen_fd(ws101_server *srv, int fd);

/* The HTTP/1.1 server protocol (http1_server.c). */
struct ws101__proto;
extern const struct ws101__proto ws101__h1_server_proto;
/* Sets up HTTP/1.1 state on a freshly accepted connection. */
struct ws101__conn;
int ws101__h1_server_attach(struct ws101__conn *c, ws101_server *srv);
/* Frees the server's cache of HTTP/1.1 states (server_free). */
void ws101__h1_cache_free(ws101_server *srv);
/* ALPN chose "h2" on a connection ws101__h1_server_attach set up and that
 * has read nothing yet: it becomes HTTP/2 from its first byte (an invalid
 * preface then gets GOAWAY, not a 400). Returns 0, or an error code with
 * the connection closed. */
int ws101__h1_server_switch_h2(struct ws101__conn *c);

/* The HTTP/2 server protocol (h2_server.c). attach: the connection is
 * HTTP/2 from its first byte (prior knowledge, ALPN h2); `data` holds
 * bytes already read (the preface...). upgrade: h2c, after our 101:
 * `h1req` (head and buffered body) becomes stream 1, `settings` is the
 * decoded HTTP2-Settings, `rest` the bytes read after the request. Both
 * take the connection over (0) or close it (an error code). */
extern const struct ws101__proto ws101__h2_server_proto;
int ws101__h2_server_attach(struct ws101__conn *c, ws101_server *srv,
                            char *data, size_t len);
int ws101__h2_server_upgrade(struct ws101__conn *c, ws101_server *srv,
                             const uint8_t *settings, size_t slen,
                             ws101_req *h1req, char *rest, size_t n);

/* HTTP/2 stream objects alive in the process (spares included), for the
 * leak tests: 0 once every server and connection is gone. */
size_t ws101__h2_server_live(void);

#endif

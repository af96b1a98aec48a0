/* client_connect.h - resolve a host name and open an outgoing TCP
 * connection, for the HTTP and WebSocket clients.
 *
 * Names resolve asynchronously with uv_getaddrinfo (numeric hosts with
 * AI_NUMERICHOST, so no query); every address is tried in the resolver's
 * order (IPv6 and IPv4 as the system ranks them) until one connects. One timeout bounds the
 * whole operation, resolution included. Failures become WS101_EDNS,
 * WS101_ECONNREFUSED, WS101_ETIMEDOUT (or another mapped libuv error) with
 * a message naming the host, so a user sees *what* failed, not just a code. */
#ifndef WS101_CLIENT_CONNECT_H
#define WS101_CLIENT_CONNECT_H

#include "io/conn.h"

#include <stdint.h>

typedef struct ws101__connect ws101__connect;

/* Called exactly once unless the attempt is canceled first.
 * Success: err == 0 and `c` is a connected ws101__conn (flag
 * WS101__CONN_CLIENT) already handed to the `proto`/`proto_data` given to
 * ws101__connect_start; the callee owns it and must start reading
 * (ws101__conn_start) or close it. Failure: c == NULL, err < 0 and `msg` a
 * human-readable explanation valid during the call. The request is freed
 * right after the callback returns: drop any pointer to it. */
typedef void (*ws101__connect_cb)(ws101__conn *c, int err, const char *msg,
                                  void *user_data);

/* Starts connecting to `host` (a name or numeric IPv4/IPv6 address without
 * brackets) and `port`. `timeout_ms` 0 means no limit. The callback never
 * runs before this function returns. Returns 0 (and *out, which may be
 * NULL, is the handle for ws101__connect_cancel until the callback runs),
 * WS101_EINVAL or WS101_ENOMEM (then `cb` is never called). */
int ws101__connect_start(ws101_loop *loop, const char *host, uint16_t port,
                         uint64_t timeout_ms, const ws101__proto *proto,
                         void *proto_data, ws101__connect_cb cb,
                         void *user_data, ws101__connect **out);

/* Test seam for the client fuzzers, NULL otherwise: when set, each attempt
 * "connects" by taking the stream socket this returns (one end of a
 * socketpair holding a scripted server's bytes) instead of the network. */
extern int (*ws101__connect_fd_hook)(const char *host, uint16_t port);

/* Abandons a pending attempt: the callback will not be called. Resources
 * are released asynchronously. Must not be called after the callback ran. */
void ws101__connect_cancel(ws101__connect *req);

/* ------------------------------------------------------------------------ */
/* Per-loop client registry                                                  */
/* ------------------------------------------------------------------------ */
/* ws101_loop_free must end every client handle with its final callback,
 * including ones that hold no connection (resolving, or not yet sent).
 * Each live fetch / connecting WebSocket links itself here; the registry is
 * what loop->client_pool points to, and it also carries the HTTP
 * keep-alive pool so both go away together. */
typedef struct ws101__client_link {
  struct ws101__client_link *prev, *next;
  /* The loop is being freed: end with WS101_ECANCELED (final callback),
   * detach from any connection and unlink. */
  void (*abort)(struct ws101__client_link *l);
} ws101__client_link;

typedef struct ws101__clients {
  ws101__client_link *live;
  void *http_pool; /* client_http.c's idle connections */
  void (*http_pool_free)(void *);
  void *h2_pool; /* client_h2.c's HTTP/2 connections */
  void (*h2_pool_free)(void *);
} ws101__clients;

/* The loop's registry, created on first use (NULL on OOM or while the loop
 * is being freed). */
ws101__clients *ws101__clients_of(ws101_loop *loop);
/* Links / unlinks a live handle. `add` needs ws101__clients_of() to have
 * succeeded for this loop. */
void ws101__client_link_add(ws101_loop *loop, ws101__client_link *l);
void ws101__client_link_remove(ws101_loop *loop, ws101__client_link *l);

/* A protocol for a connection whose owner went away while libuv was still
 * closing it: ignores everything and closes on input. */
extern const ws101__proto ws101__client_detached_proto;

#endif

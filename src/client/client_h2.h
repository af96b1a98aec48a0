/* client_h2.h - HTTP/2 client connections (prior knowledge, h2c, ALPN h2
 * over TLS): one per origin and loop, every exchange to that origin a
 * stream on it.
 *
 * client_http.c keeps the ws101_fetch API and hands a fetch here when
 * WS101_OPT_CLIENT_HTTP2 asks for HTTP/2; this file owns the connection,
 * the session (proto/h2_session.h) and the streams, and reports back
 * through ws101__h2cli_cbs. */
#ifndef WS101_CLIENT_H2_H
#define WS101_CLIENT_H2_H

#include "core/options.h"
#include "proto/h2_session.h"
#include "proto/url.h"
#include "ws101.h"

struct ws101__conn;
typedef struct ws101__h2cli_req ws101__h2cli_req;

typedef struct ws101__h2cli_cbs {
  /* The response head; its strings live until on_done/on_error returns. */
  void (*on_head)(void *ud, const ws101__h1_head *head);
  /* Body bytes, valid during the call. */
  void (*on_data)(void *ud, const char *data, size_t len);
  /* The response is complete. The request handle is gone after this. */
  void (*on_done)(void *ud);
  /* The exchange failed; the request handle is gone after this. */
  void (*on_error)(void *ud, int err, const char *msg);
  /* https:// only: the server chose HTTP/1.1 by ALPN before the request
   * was sent. `body` holds the request body given so far (valid during
   * the call), `ended` whether ws101__h2cli_end was called. `c`, when not
   * NULL, is the connected TLS connection, already reading: return 1 to
   * take it (set its protocol), 0 to leave it (then open your own). The
   * request handle is gone when this is called. */
  int (*on_fallback)(void *ud, struct ws101__conn *c, const char *body,
                     size_t len, int ended);
} ws101__h2cli_cbs;

/* Starts `method` to `url` with extra `fields` (lowercase names, no
 * pseudo-headers) on the origin's HTTP/2 connection, opening it if there
 * is none (with the connect timeout and, for https://, the trust settings
 * of `o`, read during this call only). The body is what
 * ws101__h2cli_write gives, ended by ws101__h2cli_end (`has_body` 0:
 * none, the HEADERS end the stream). Returns 0 (*out set; every outcome
 * is then a callback) or an error (WS101_ETLS: no client TLS context). */
int ws101__h2cli_request(ws101_loop *loop, const ws101__url *url,
                         const char *method, const ws101__h2_field *fields,
                         size_t n, int has_body,
                         const struct ws101_options *o,
                         const ws101__h2cli_cbs *cbs, void *ud,
                         ws101__h2cli_req **out);
/* Queues body bytes (copied); 0, WS101_ENOMEM or WS101_ECLOSED. */
int ws101__h2cli_write(ws101__h2cli_req *r, const char *data, size_t len);
/* Ends the request body. */
int ws101__h2cli_end(ws101__h2cli_req *r);
/* RFC 8441: a request with method "CONNECT" is an extended CONNECT for a
 * WebSocket (":protocol: websocket" is added): it waits for the server's
 * SETTINGS and fails with WS101_ENOTSUP (on_error) when the server does
 * not allow it, so the caller can fall back to HTTP/1.1. After a 2xx
 * head, this turns the stream into a stream transport (conn.h) for
 * ws101__ws_attach; the callbacks are not used after that. NULL on
 * ENOMEM or when the stream is gone. */
struct ws101__conn *ws101__h2cli_ws_attach(ws101__h2cli_req *r);
/* h2c (RFC 7540 3.2): the server answered our HTTP/1.1 request `c` with
 * 101. The connection becomes the origin's HTTP/2 connection and the
 * request its stream 1 (*out); `settings` is the payload we sent as
 * HTTP2-Settings, `rest` the bytes after the 101, `timeout_ms` the
 * request's RESPONSE_TIMEOUT_MS, which goes on holding for stream 1. */
int ws101__h2cli_adopt(ws101_loop *loop, const ws101__url *url,
                       struct ws101__conn *c, const uint8_t *settings,
                       size_t slen, int head_request, uint32_t timeout_ms,
                       const ws101__h2cli_cbs *cbs, void *ud,
                       ws101__h2cli_req **out, char *rest, size_t n);
/* 1 when an HTTP/2 connection to url's origin is open (reuse it). */
int ws101__h2cli_has(ws101_loop *loop, const ws101__url *url);
/* 1 when url's server answered ALPN with HTTP/1.1 earlier on this loop:
 * go to HTTP/1.1 directly. */
int ws101__h2cli_h1_only(ws101_loop *loop, const ws101__url *url);
/* How long that memo holds, in ms (5 minutes; tests shorten it). */
extern uint64_t ws101__h2cli_h1_memo_ms;
/* Abandons the exchange (RST_STREAM CANCEL); no callback follows. */
void ws101__h2cli_cancel(ws101__h2cli_req *r);

#endif

/* request.h - struct ws101_req: one request and its response.
 *
 * The request does not know which protocol carries it: reading accessors
 * use the parsed head, and the response goes through `ops`, implemented
 * today by HTTP/1.1 (http1_server.c) and later by HTTP/2 streams. */
#ifndef WS101_REQUEST_H
#define WS101_REQUEST_H

#include "io/loop.h"
#include "proto/buf.h"
#include "proto/http1_parser.h"
#include "ws101.h"

struct ws101_server;
struct ws101__route;

/* Response progress. */
enum { WS101__RESP_IDLE = 0, WS101__RESP_STREAMING = 1, WS101__RESP_DONE = 2 };

typedef struct ws101__req_ops {
  /* Sends the head: status, managed headers, req->resp_hdrs, then
   * req->resp_ct when set (ws101_req_respond's content type, a field of
   * its own: on HTTP/2, formatting it into resp_hdrs only to parse it back
   * out was a tenth of our own instructions per request). `body_len` is
   * the exact body length, or -1 for a streamed body of unknown length. */
  int (*send_head)(ws101_req *req, int64_t body_len);
  /* Sends body bytes (framing such as chunking is the protocol's job). */
  int (*send_body)(ws101_req *req, const char *data, size_t len);
  /* Ends the response; the request is complete after this. */
  int (*finish)(ws101_req *req);
  /* Switches to WebSocket (validation and 101 are done by request.c). */
  int (*accept_ws)(ws101_req *req, const char *subprotocol,
                   const char *extensions, const void *pmd_params,
                   ws101_ws_cb cb, void *user_data, ws101_ws **out);
  /* Fills the peer address. */
  void (*peer)(ws101_req *req, char *buf, size_t size);
  /* Starts body delivery on a streaming route (sending 100 Continue). */
  int (*read_body)(ws101_req *req);
  /* Output backpressure: bytes queued for the peer, and whether a socket
   * write is waiting on it (*waiting = 1); NULL = never any. */
  size_t (*queued)(const ws101_req *req, int *waiting);
  /* Closes the carrying connection (stream) at once with `err`. */
  void (*drop)(ws101_req *req, int err);
} ws101__req_ops;

struct ws101_req {
  const ws101__req_ops *ops;
  void *proto; /* the protocol state that owns this request */
  struct ws101_server *server;
  /* The options the request is served with (the server's), set by the
   * protocol that creates the request: handles/ must not reach into
   * server/ to find them. */
  const struct ws101_options *opts;
  /* The transport the request arrived on, for its TLS details; set by the
   * protocol, NULL once the connection is gone. */
  struct ws101__conn *conn;
  const struct ws101__route *route; /* opaque here: server/ owns routes */
  int route_flags; /* WS101_ROUTE_* of `route`, set with it by the protocol */
  /* Request. */
  ws101__h1_head head;
  ws101__h1_header *hdrs; /* capacity hdr_cap, reused across requests */
  size_t hdr_cap;
  ws101__buf headbuf; /* the head bytes the strings point into, then path */
  const char *path, *query;
  ws101__buf body;    /* buffered body */
  int version;        /* 10, 11, 20 */
  /* Response. */
  int status;
  int resp_state;
  int has_cl;
  uint64_t cl_value;
  uint64_t cl_left;
  ws101__buf resp_hdrs; /* "Name: value\r\n" lines added by the app */
  /* ws101_req_respond's content type, checked, for send_head; the
   * caller's memory, so set only during that call. */
  const char *resp_ct;
  size_t resp_ct_len;
  int is_head;
  int aborted; /* the transport is gone */
  ws101_abort_cb abort_cb;
  void *abort_user;
  ws101_body_cb body_cb;
  void *body_user;
  ws101_req_drain_cb drain_cb;
  void *drain_user;
  int want_drain; /* output had to wait: a drain callback is owed */
  void *user_data;
  char peer[64]; /* remote address, filled on first use */
  /* On the loop's orphan list while the application holds it after its
   * connection or stream went (io/loop.h); left alone by
   * ws101__req_reset. The protocol sets the release. */
  ws101__orphan orphan;
};

/* Resets the per-request fields (keeps buffer capacity). */
void ws101__req_reset(ws101_req *req);
/* Releases the buffers of a request. */
void ws101__req_free(ws101_req *req);
/* Copies the parsed head (pointing into `raw`, `head_len` bytes) into the
 * request's own storage, so the strings outlive the read buffer. */
int ws101__req_take_head(ws101_req *req, const char *raw, size_t head_len,
                         const ws101__h1_head *parsed);
/* HTTP/2: what ws101__req_take_head does without copying. The request
 * takes the stream's head buffer and field array themselves (the strings
 * of `parsed` point into *buf), and its own emptied ones go back in their
 * place for the stream's next head. A target with a query needs room for
 * the path's copy in *buf (else the head is copied after all). */
int ws101__req_adopt_head(ws101_req *req, ws101__buf *buf,
                          ws101__h1_header **fields, size_t *cap,
                          const ws101__h1_head *parsed);
/* The protocol's output queue emptied: calls the drain callback if one
 * is owed. */
void ws101__req_drained(ws101_req *req);
/* Sends a complete response with `extra` pre-formatted header lines (may
 * be NULL), used for errors and 426/403 answers. */
int ws101__req_respond_extra(ws101_req *req, int status, const char *extra,
                             const char *body, size_t len);

#endif

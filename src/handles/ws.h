/* ws.h - struct ws101_ws: a WebSocket engine on a ws101__conn.
 *
 * The HTTP server (after a 101) and the WebSocket client (after a valid
 * 101) create one with ws101__ws_new and hand it the live connection and
 * any bytes already read with ws101__ws_attach. From then on the
 * connection's protocol is ws101__ws_proto. */
#ifndef WS101_WS_H
#define WS101_WS_H

#include "io/conn.h"
#include "core/options.h"
#include "proto/ws_deflate.h"
#include "proto/ws_engine.h"
#include "ws101.h"

#include <stdatomic.h>
#include <stdint.h>

typedef struct ws101__ws_init {
  int is_client;
  /* NOT copied: the owner (server or client) keeps it alive longer than
   * the ws. */
  const struct ws101_options *opts;
  /* Copied (one small allocation); NULL = "". */
  const char *path, *subprotocol, *extensions;
  const ws101__pmd_params *pmd; /* NULL = no deflate */
  ws101_ws_cb cb;
  void *user_data;
  /* Optional before attach (clients): makes ws101_ws_loop and
   * ws101_ws_post_send usable while connecting. Attach sets it anyway. */
  ws101_loop *loop;
} ws101__ws_init;

/* Hooks of the client helper, which keeps its own state in ws->client. */
typedef struct ws101__ws_client_ops {
  /* ws101_ws_close before attach (still connecting): cancel the attempt;
   * it must end in ws101__ws_fail (possibly later). Returns 0 or a code. */
  int (*close)(ws101_ws *ws, int code, const char *reason);
  /* The handle's memory is being released (last reference gone). */
  void (*free)(ws101_ws *ws);
} ws101__ws_client_ops;

struct ws101_ws {
  ws101__wse eng;
  ws101__conn *conn; /* NULL before attach and once closed */
  ws101_loop *loop;
  ws101_ws_cb cb;
  void *cb_data;
  void *user_data;   /* ws101_ws_set_user_data */
  void *client;      /* the client helper's state */
  const ws101__ws_client_ops *client_ops;
  char *strs;        /* path, subprotocol, extensions, remote addr */
  char *reason;      /* reason of the CLOSE event */
  char *pend;        /* input left unread by ws101_ws_pause */
  char *tls_subject; /* server side: the verified client certificate's */
  size_t pend_len;
  atomic_uint refs;
  uint32_t last_rx;  /* uv_now() of the last read (truncated), keep-alive */
  uint32_t sub_off, ext_off, addr_off; /* offsets into strs */
  uint16_t close_code; /* for the CLOSE event; 1006 until known */
  uint8_t reason_len, reason_owned;
  uint8_t timer;     /* which deadline is armed (ws.c) */
  uint8_t send_frag; /* fragmented send open: TEXT/BINARY, or 0 */
  uint8_t send_utf8; /* validator state of a fragmented text send */
  uint8_t close_sent, close_rcvd, failed, finished;
  uint8_t paused, in_feed, want_drain, resume_posted;
  /* Pub/sub: 1 once the connection has subscribed to a topic. The topic
   * lists themselves live in the server's table (server/pubsub.c), keyed by
   * this handle, so that a connection that never subscribes carries nothing
   * but this byte, which sits in what was tail padding. */
  uint8_t subscribed;
  uint8_t bp_paused; /* reading held until the send queue drains (ws.c) */
  /* The TEXT message being delivered (NULL outside its callback): the
   * engine validated it, so ws101_ws_send skips UTF-8 for exactly it. */
  const char *rx_text;
  size_t rx_text_len;
};

ws101_ws *ws101__ws_new(const ws101__ws_init *init);

/* Before attach only (a client learns these from the 101): replaces the
 * subprotocol and extensions the handle reports (NULL = "") and restarts
 * the engine with deflate parameters `pmd` (NULL = no deflate). The path
 * is kept. Returns 0, or WS101_ENOMEM with the handle unchanged. */
int ws101__ws_set_negotiated(ws101_ws *ws, const char *subprotocol,
                             const char *extensions,
                             const ws101__pmd_params *pmd);

/* Sets c's proto to the WebSocket proto, records the remote address,
 * emits WS101_WS_OPEN, then processes `leftover` (bytes read after the
 * handshake; mutable, unmasked in place). */
void ws101__ws_attach(ws101_ws *ws, ws101__conn *c, char *leftover,
                      size_t len);

/* Client, before/without attach: emits WS101_WS_ERROR (arg = err, data =
 * msg), then WS101_WS_CLOSE (1006), then drops the library's reference. */
void ws101__ws_fail(ws101_ws *ws, int err, const char *msg);

extern const ws101__proto ws101__ws_proto;

/* ------------------------------------------------------------------------ */
/* Pub/sub hook (server/pubsub.c)                                          */

/* One published message, framed once for every subscriber. */
typedef struct ws101__ws_prepared {
  const char *plain; /* server frame, RSV1 clear: header + payload */
  size_t plain_len;
  const char *z;     /* the same, deflated with a no-context-takeover
                        stream, RSV1 set; NULL if not made (yet) */
  size_t z_len;
  const char *payload; /* the bare payload, for a connection whose own
                          compressor (context takeover) must encode it */
  size_t payload_len;
  int opcode;
} ws101__ws_prepared;

/* ws101__ws_send_prepared returns this when the connection needs `z` and it
 * is NULL: the caller deflates once and calls again. */
#define WS101__WS_NEED_Z 1

/* Queues `m` on a server connection: the bytes of `z` for a connection
 * that deflates with the loop's shared stream (and the message is at least
 * WS101_OPT_DEFLATE_MIN_SIZE long), its own compression for one with
 * context takeover, `plain` otherwise. Checks the connection's
 * WS101_OPT_WS_MAX_BACKPRESSURE on its own, without applying the policy:
 * the caller decides between skipping and dropping. Returns 0,
 * WS101__WS_NEED_Z, WS101_ECLOSED, WS101_ESTATE (a fragmented send is
 * open: a data frame cannot go in between), WS101_EBACKPRESSURE (nothing
 * queued) or WS101_ENOMEM. */
int ws101__ws_send_prepared(ws101_ws *ws, const ws101__ws_prepared *m);

/* Called by finish() for a connection with `subscribed` set, while
 * ws->conn (and so its server) is still known: its subscriptions end. */
void ws101__pubsub_ws_gone(ws101_ws *ws);

#endif

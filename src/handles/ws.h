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
  /* Optional: the connection the handle will be attached to. If its room
   * (io/conn.h) is free and big enough, the handle lives there. */
  ws101__conn *room;
  /* Clients: the helper's state and hooks (kept in ws->rare). */
  void *client;
  const struct ws101__ws_client_ops *client_ops;
} ws101__ws_init;

/* Hooks of the client helper, which keeps its own state in ws->client. */
typedef struct ws101__ws_client_ops {
  /* ws101_ws_close before attach (still connecting): cancel the attempt;
   * it must end in ws101__ws_fail (possibly later). Returns 0 or a code. */
  int (*close)(ws101_ws *ws, int code, const char *reason);
  /* The handle's memory is being released (last reference gone). */
  void (*free)(ws101_ws *ws);
} ws101__ws_client_ops;

/* What a handle needs only once in a while: the reason of its CLOSE event,
 * input stashed while reading is paused, the TLS client's certificate
 * subject, strings too long for the inline bytes (or a handle without
 * them: clients, HTTP/2 streams). Allocated on first use, so an idle plain
 * connection has none. */
typedef struct ws101__ws_rare {
  void *client;      /* the client helper's state */
  const ws101__ws_client_ops *client_ops;
  char *reason;      /* reason of the CLOSE event */
  char *pend;        /* input left unread by ws101_ws_pause */
  size_t pend_len;
  char *tls_subject; /* server side: the verified client certificate's */
  char *strs;        /* the handle's strings when not inline (ws.c) */
  uint8_t reason_len, reason_owned;
} ws101__ws_rare;

/* Bytes of strings (path, subprotocol, extensions, remote address) a
 * handle keeps inside its own allocation when it lives in a connection's
 * room; longer ones get a block of their own. At least 48, rounded up so
 * that a server connection with its room fills its malloc chunk exactly
 * (glibc: 8 bytes of header, 16-byte granules; ws101__malloc_chunk). */
#define WS101__WS_INLINE_STRS                                                 \
  (48 + (16 - (WS101__CONN_ROOM_OFF + sizeof(struct ws101_ws) + 48 + 8) % 16) \
            % 16)
/* The room a server connection reserves for its WebSocket (io/conn.h). */
#define WS101__WS_ROOM (sizeof(struct ws101_ws) + WS101__WS_INLINE_STRS)

/* Layout: the engine, pointers, then 32-bit and smaller fields, flags as
 * bits; bench/RESULTS.md has the table. */
struct ws101_ws {
  ws101__wse eng;
  ws101__conn *conn; /* NULL before attach and once closed */
  ws101_loop *loop;
  ws101_ws_cb cb;
  void *cb_data;
  void *user_data;   /* ws101_ws_set_user_data */
  ws101__ws_rare *rare; /* NULL until needed */
  atomic_uint refs;
  uint32_t last_rx;  /* uv_now() of the last read (truncated), keep-alive */
  uint16_t close_code; /* for the CLOSE event; 1006 until known */
  uint8_t timer;     /* which deadline is armed (ws.c) */
  uint8_t send_frag; /* fragmented send open: TEXT/BINARY, or 0 */
  uint8_t send_utf8; /* validator state of a fragmented text send */
  uint8_t strs_cap;  /* inline string bytes after the struct, 0 = none
                        (then in rare->strs) */
  unsigned close_sent : 1, close_rcvd : 1, failed : 1, finished : 1;
  unsigned paused : 1, in_feed : 1, want_drain : 1, resume_posted : 1;
  /* Pub/sub: 1 once the connection has subscribed to a topic. The topic
   * lists themselves live in the server's table (server/pubsub.c), keyed by
   * this handle, so that a connection that never subscribes carries nothing
   * but this bit. */
  unsigned subscribed : 1;
  unsigned bp_paused : 1; /* reading held until the send queue drains */
  unsigned embedded : 1;  /* lives in its connection's room (io/conn.h) */
};

ws101_ws *ws101__ws_new(const ws101__ws_init *init);

/* The client helper's state (init.client), or NULL. */
static inline void *ws101__ws_client(const ws101_ws *ws) {
  return ws->rare != NULL ? ws->rare->client : NULL;
}
static inline const ws101__ws_client_ops *
ws101__ws_client_hooks(const ws101_ws *ws) {
  return ws->rare != NULL ? ws->rare->client_ops : NULL;
}

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

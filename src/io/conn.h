/* conn.h - one live byte pipe to a peer, and the protocol that owns it.
 *
 * A connection is a transport (plain TCP today; TLS and an HTTP/2 stream
 * later) plus an output queue, plus a pointer to the protocol currently
 * speaking on it (HTTP/1.1 server, WebSocket, HTTP client...). Upgrades are
 * hand-offs: the old protocol calls ws101__conn_set_proto() and passes any
 * bytes it already read to the new protocol's on_read itself.
 *
 * Protocols use only the ws101__conn_* functions, never the uv handle:
 * this is the seam where TLS becomes a filter inside conn.c (decrypt before
 * on_read, encrypt in flush) and where an HTTP/2 stream can later stand in
 * for a TCP connection under the WebSocket engine (RFC 8441).
 *
 * Output is corked: ws101__conn_write() appends to the queue and the loop
 * flushes every dirty connection once per iteration (and at the end of each
 * read callback), so a burst of small messages leaves in one write. A large
 * write on an idle queue goes straight to the socket without a copy.
 */
#ifndef WS101_CONN_H
#define WS101_CONN_H

#include "io/loop.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct ws101__conn ws101__conn;
typedef struct ws101__conn_vt ws101__conn_vt;
struct ws101__tls;
struct ws101__tls_ctx;

/* What a protocol implements. Every call runs on the loop thread. */
typedef struct ws101__proto {
  const char *name;
  /* Bytes from the peer. `data` lives in the loop's shared read buffer: it
   * is mutable (unmask in place) and valid only during the call; keep what
   * you need by copying. May call anything on `c`, including close. */
  void (*on_read)(ws101__conn *c, char *data, size_t len);
  /* The peer ended its side (err == WS101_EEOF; over TLS its close_notify)
   * or reading failed (WS101_ECONNRESET, WS101_EIO; WS101_ETLS when a TLS
   * stream was cut without close_notify). Reading has stopped. */
  void (*on_read_end)(ws101__conn *c, int err);
  /* The output queue is empty after a flush or a completed write. Called
   * only from loop context (never inside ws101__conn_write), possibly when
   * nothing was waiting: protocols filter. May be NULL. */
  void (*on_drain)(ws101__conn *c);
  /* The deadline set with ws101__conn_set_deadline passed. May be NULL. */
  void (*on_timeout)(ws101__conn *c);
  /* The server that owns this connection is shutting down: finish what is
   * in flight and close (HTTP: close when idle; WebSocket: close 1001).
   * May be NULL (then the connection is closed at once). */
  void (*on_shutdown)(ws101__conn *c);
  /* The connection is closed (socket closed, memory about to go).
   * Release protocol state. `err` is 0 for an orderly close. Last call. */
  void (*on_close)(ws101__conn *c, int err);
} ws101__proto;

enum {
  WS101__CONN_READING = 1u << 0,   /* reading wanted (UV_READABLE) */
  WS101__CONN_PAUSED = 1u << 1,    /* application paused reading */
  WS101__CONN_IN_READ = 1u << 2,   /* inside on_read dispatch */
  WS101__CONN_DIRTY = 1u << 3,     /* on the loop's flush list */
  WS101__CONN_WRITING = 1u << 4,   /* x->inflight waits for UV_WRITABLE */
  WS101__CONN_ENDING = 1u << 5,    /* flush, shutdown, then close */
  WS101__CONN_CLOSING = 1u << 6,   /* uv_close called */
  WS101__CONN_SHUTDOWN = 1u << 7,  /* shutdown(SHUT_WR) done */
  WS101__CONN_CLIENT = 1u << 8,    /* we connected out */
  WS101__CONN_READ_EOF = 1u << 9,  /* peer sent FIN */
  WS101__CONN_TIMED = 1u << 10,    /* on the loop's deadline list */
  WS101__CONN_OUT_FULL = 1u << 11, /* output over out_limit: not reading */
  WS101__CONN_DRAIN_OWED = 1u << 12, /* OUT_FULL ended outside the loop */
  /* What the uv_poll_t watches now (UV_READABLE, UV_WRITABLE << shift):
   * conn.c's poll_update changes it only when the wanted set differs. */
  WS101__CONN_POLL_R = 1u << 13,
  WS101__CONN_POLL_W = 1u << 14,
  WS101__CONN_CONNECTING = 1u << 15 /* non-blocking connect() pending */
};
#define WS101__CONN_POLL_SHIFT 13

/* Output bytes: `data[off..len)` not yet handed to the socket. */
typedef struct ws101__outbuf {
  char *data;
  size_t off, len, cap;
} ws101__outbuf;

/* What a connection needs only while it has output (corked, or waiting
 * for the socket to become writable) or the send timeout runs: allocated
 * then (from the loop's request cache) and released when the transport is
 * idle again, so that an idle connection carries one pointer instead of
 * these fields. */
typedef struct ws101__conn_x {
  /* `out` collects writes (the cork buffer); its buffer is lent from the
   * loop's pool only while it holds bytes. */
  ws101__outbuf out;
  ws101__outbuf inflight; /* what the kernel refused, sent on UV_WRITABLE */
  uint64_t send_deadline; /* uv_now() ms; 0 = not waiting on the peer */
  size_t send_mark;       /* inflight bytes left at the last check */
} ws101__conn_x;

/* Who accepted a connection (a server embeds one): told when each of its
 * connections is gone, after proto->on_close. That is how a closing server
 * learns its last connection left, without io/ knowing what a server is. */
typedef struct ws101__conn_owner {
  void (*closed)(struct ws101__conn_owner *self);
} ws101__conn_owner;

/* Field order keeps the pointers together and the 32-bit fields at the
 * end, so the struct has no padding (see bench/RESULTS.md, layout). */
struct ws101__conn {
  /* The socket's watcher: a uv_poll_t (160 bytes, against a uv_tcp_t's
   * 248) with our own recv/send/shutdown on its descriptor. A stream
   * transport (no socket) has a timer there instead, never started: its
   * uv_close gives the same deferred close callback. First member: the
   * callbacks find the connection from the handle. */
  union {
    uv_poll_t poll;
    uv_timer_t timer;
  } io;
  ws101_loop *loop;
  const ws101__proto *proto;
  void *proto_data;
  ws101__conn_x *x; /* NULL while no output is queued or waiting */
  uint64_t deadline; /* uv_now() ms; 0 = none */
  /* Output flow control (conn_flow.c): the limit above which reading
   * stops; the send timeout is send_timeout_ms below. */
  size_t out_limit;          /* 0 = none */
  /* Intrusive links: the loop's flush list and its list of connections
   * with a deadline (the sweep collects the expired ones in a per-loop
   * array). The list of all connections is libuv's handle queue
   * (ws101__conn_foreach). */
  ws101__conn *next_dirty;
  ws101__conn *tprev, *tnext;
  /* Who accepted it (a ws101_server), or NULL (client connections). */
  ws101__conn_owner *owner;
  /* Stream transports only (see below); NULL for TCP. */
  const ws101__conn_vt *vt;
  void *vt_data;
  struct ws101__tls *tls; /* NULL: plain TCP (see io/tls.h) */
  uint32_t flags;
  int close_err;
  uint32_t send_timeout_ms;  /* 0 = none */
  /* Bytes allocated after the struct (at WS101__CONN_ROOM_OFF) for the
   * protocol that takes the connection over: an upgraded WebSocket lives
   * there, so connection and handle are one allocation. room_refs counts
   * the block's owners once the room is taken (the connection until its
   * close callback, the handle until its last reference, which another
   * thread may drop): whoever takes it to 0 frees the block. */
  uint16_t room;
  _Atomic uint16_t room_refs;
};

/* Where the room starts: right after the struct, 8-byte aligned, which
 * is enough for what lives there (structs of pointers and integers of at
 * most 64 bits); max_align_t's 16 would waste 8 bytes per connection. */
#define WS101__CONN_ROOM_ALIGN 8
#define WS101__CONN_ROOM_OFF                                                  \
  ((sizeof(ws101__conn) + WS101__CONN_ROOM_ALIGN - 1) &                       \
   ~(size_t)(WS101__CONN_ROOM_ALIGN - 1))

/* Allocates a connection for the connected, non-blocking socket `fd`
 * (accepted, or a client's) on `loop` and links it into the loop; the
 * connection owns `fd` from then on (closed with it). fd < 0: a stream
 * transport without a socket (ws101__conn_new_stream). conn.c frees it
 * after proto->on_close has returned. Returns NULL on failure, and then
 * `fd` is still the caller's. */
ws101__conn *ws101__conn_new(ws101_loop *loop, const ws101__proto *proto,
                             void *proto_data, int fd);
/* The same with `room` bytes after the struct that a later protocol may
 * take over with ws101__conn_room_take (a server that has WebSocket routes
 * allocates every connection this way: one block for the connection and
 * the handle an upgrade creates, no separate allocation left behind). */
ws101__conn *ws101__conn_new_room(ws101_loop *loop, const ws101__proto *proto,
                                  void *proto_data, size_t room, int fd);

/* Starts a non-blocking connect() to `sa` on a new socket and returns the
 * connection (flag WS101__CONN_CLIENT) in *out: once the socket is
 * writable, conn.c calls ws101__connect_done(c, status) (client_connect.c)
 * with 0 or a negative libuv error. Returns 0 or a negative libuv error
 * (nothing created). */
int ws101__conn_connect(ws101_loop *loop, const ws101__proto *proto,
                        void *proto_data, const struct sockaddr *sa,
                        ws101__conn **out);
void ws101__connect_done(ws101__conn *c, int status);

/* Hands the room (at least `n` bytes, 8-byte aligned) to the caller,
 * or returns NULL if there is none, too small, or it is already taken.
 * The memory then stays until ws101__conn_room_release, even after the
 * connection closed: the block is freed by whichever of the two ends
 * last (a handle may be referenced after its connection is gone). */
void *ws101__conn_room_take(ws101__conn *c, size_t n);
/* The user of the room is done with it (`room` as returned above). */
void ws101__conn_room_release(void *room);

/* Heap bytes this connection holds as glibc malloc counts them (chunk
 * headers and rounding included): the block with its room, the pending
 * write state, output buffers. */
size_t ws101__conn_memory(const ws101__conn *c);
/* The same for the block behind a room once its connection is gone. */
size_t ws101__conn_room_memory(const void *room);
/* The size of the malloc chunk behind a request of `n` bytes (glibc:
 * 8 bytes of header, 16-byte granules, 32 bytes at least). */
size_t ws101__malloc_chunk(size_t n);

/* Calls fn for every connection of `loop` (closing ones included, until
 * their close callback), in no particular order. fn may close connections (closing is deferred);
 * connections created meanwhile are not visited. */
void ws101__conn_foreach(ws101_loop *loop,
                         void (*fn)(ws101__conn *c, void *arg), void *arg);

/* Starts reading (after accept/connect). Returns 0 or a WS101_E* code. */
int ws101__conn_start(ws101__conn *c);

/* Hands the connection to another protocol. Bytes already read that belong
 * to the new protocol must be passed to proto->on_read by the caller. */
void ws101__conn_set_proto(ws101__conn *c, const ws101__proto *proto,
                           void *proto_data);

/* Queues `n` buffers for the peer; never blocks, never fails except
 * WS101_ENOMEM or WS101_ECLOSED. Bytes are copied unless written at once. */
int ws101__conn_write(ws101__conn *c, const uv_buf_t *bufs, unsigned n);

/* Appends in place: returns space for `n` > 0 bytes at the end of the cork
 * buffer (valid until the next call on `c`), to be filled and then marked
 * written with ws101__conn_commit(c, k), k <= n. Saves a copy when output
 * must be built anyway (client masking). Returns NULL if the connection is
 * closed or ending, or on ENOMEM (the connection is then closed). */
char *ws101__conn_reserve(ws101__conn *c, size_t n);
void ws101__conn_commit(ws101__conn *c, size_t n);
/* Queues a small frame, `hn` header bytes then `len` payload bytes, in the
 * cork buffer (always copied): ws101__conn_write's job in one call and one
 * room check. Returns 0, WS101_ECLOSED or WS101_ENOMEM (then closed). */
int ws101__conn_write_small(ws101__conn *c, const char *hdr, size_t hn,
                            const char *data, size_t len);

/* Flushes queued output now (normally the loop does it). Never calls the
 * protocol back, so it is safe inside application calls. */
void ws101__conn_flush(ws101__conn *c);
/* The loop's flush: may call proto->on_drain when the queue empties. */
void ws101__conn_flush_from_loop(ws101__conn *c);

/* Asks for proto->on_drain from loop context once the queue is empty
 * (at once if it is already: bytes that a protocol held itself left in a
 * synchronous write that owed its application a drain). */
void ws101__conn_want_drain(ws101__conn *c);

/* Bytes queued and not yet accepted by the kernel. */
size_t ws101__conn_buffered(const ws101__conn *c);
/* Of those, the bytes in the cork buffer (not yet flushed). */
size_t ws101__conn_corked(const ws101__conn *c);
/* The cork buffer, created if need be (io/tls.c); NULL on ENOMEM. */
ws101__outbuf *ws101__conn_cork(ws101__conn *c);

/* Receive-side backpressure. */
void ws101__conn_pause(ws101__conn *c);
/* Stops reading without the application's pause (conn_flow.c). */
void ws101__conn_read_stop(ws101__conn *c);
void ws101__conn_resume(ws101__conn *c);

/* Sets when on_timeout fires, `ms` from now (0 clears). Timers are swept by
 * the loop every WS101__SWEEP_MS, so expect that much lateness. */
void ws101__conn_set_deadline(ws101__conn *c, uint64_t ms);
#define WS101__SWEEP_MS 100

/* Graceful end: flush output, send FIN, then close when the peer ends or
 * after `linger_ms`. on_close follows. */
void ws101__conn_end(ws101__conn *c, uint64_t linger_ms);

/* Immediate close; pending output is dropped. on_close follows (from the
 * libuv close callback, never re-entrantly). */
void ws101__conn_close(ws101__conn *c, int err);

/* Whether this connection alone keeps ws101_loop_run from returning
 * (pooled idle client connections do not). On by default. */
void ws101__conn_keep_loop_alive(ws101__conn *c, int on);

/* ---- output flow control (conn_flow.c) ----------------------------------
 * One mechanism for every protocol on a transport (HTTP/1.1 pipelining,
 * streamed responses, upgraded WebSockets, client uploads): while more
 * than `out_limit` bytes are queued for the peer, the connection stops
 * reading, so a peer that does not read cannot make us produce more; the
 * protocol sees ws101__conn_out_full() and holds back pipelined work.
 * Reading resumes when the queue empties, right before proto->on_drain.
 * A peer that accepts no byte for `send_timeout_ms` while output waits is
 * closed with WS101_ETIMEDOUT (nginx's send_timeout). */
void ws101__conn_set_flow(ws101__conn *c, size_t out_limit,
                          uint32_t send_timeout_ms);
/* Whether queued output is over the limit (reading is then stopped). */
int ws101__conn_out_full(const ws101__conn *c);
/* Hooks conn.c calls; nothing else should. */
void ws101__flow_queued(ws101__conn *c);      /* bytes were queued */
int ws101__flow_emptied(ws101__conn *c);      /* queue empty; 1 = resumed */
void ws101__flow_waiting(ws101__conn *c);     /* output waits for writable */
void ws101__flow_written(ws101__conn *c);     /* that output is all written */
void ws101__flow_send_expired(ws101__conn *c, uint64_t now);
/* Links or unlinks `c` on the loop's deadline list after a change of
 * c->deadline or c->send_deadline (conn.c). */
void ws101__conn_timed_update(ws101__conn *c);

/* ---- test-only I/O fault injection (io_fault.c) -------------------------
 * Off unless a test turns it on: reads of at most `read_max` bytes, and a
 * write path where every other try_write says EAGAIN and the others take
 * at most `write_max` bytes. Output must be byte-identical either way. */
typedef struct ws101__io_faults {
  size_t read_max;  /* 0 = off */
  size_t write_max; /* 0 = off */
  unsigned counter;
} ws101__io_faults;
extern ws101__io_faults ws101__faults;
int ws101__try_write(int fd, const uv_buf_t *bufs, unsigned n);
/* One send(2)/sendmsg(2) of `bufs` on `fd` (MSG_NOSIGNAL): bytes written,
 * UV_EAGAIN, or a negative libuv error. */
int ws101__sock_send(int fd, const uv_buf_t *bufs, unsigned n);
/* Best-effort write of `n` bytes straight to the connection's socket,
 * ignoring what is queued (TLS: the alert before a failed close). */
void ws101__conn_write_now(ws101__conn *c, const char *p, size_t n);
size_t ws101__read_size(size_t want);

/* "ip:port" / "[ip6]:port" of the peer into buf (>= 56 bytes). */
void ws101__conn_peer(const ws101__conn *c, char *buf, size_t size);

/* ---- Stream transports (RFC 8441) ----------------------------------------
 *
 * A WebSocket over HTTP/2 lives on one stream of an HTTP/2 connection, and
 * the engine (handles/ws.c) must not know: it keeps calling the same
 * ws101__conn_* functions. A stream transport is a ws101__conn without a
 * socket whose bytes go through `vt` instead of libuv:
 *
 * - Output still collects in the cork buffer `out` (so ws101__conn_buffered
 *   is the WebSocket's backpressure as on TCP). Flushing calls vt->flush,
 *   and the HTTP/2 side pulls the bytes into DATA frames with
 *   ws101__conn_take as the stream's flow-control window allows: a peer
 *   that does not read fills `out`, not the HTTP/2 connection.
 * - Input arrives by ws101__conn_deliver / ws101__conn_deliver_eof (END_
 *   STREAM), which do what the TCP read callback does. Pausing sets the
 *   flag only; the HTTP/2 side holds the bytes, unconsumed, meanwhile, and
 *   vt->read_ctl(c, 1) on resume asks for them.
 * - Ending (ws101__conn_end) flushes, then vt->end: the stream's END_STREAM
 *   once `out` is taken. Closing calls vt->close (reset the stream if it is
 *   still open) before the usual asynchronous on_close.
 * Its handle is a timer that is never started: uv_close on it gives the
 * same deferred close callback as a socket, so lifetimes do not change. */
struct ws101__conn_vt {
  void (*flush)(ws101__conn *c);
  void (*read_ctl)(ws101__conn *c, int on);
  void (*end)(ws101__conn *c);
  void (*close)(ws101__conn *c, int err);
  void (*peer)(const ws101__conn *c, char *buf, size_t size);
};

/* A stream transport on `loop` with `vt`; the protocol is set later
 * (ws101__ws_attach). Not owned by a server. Returns NULL on ENOMEM. */
ws101__conn *ws101__conn_new_stream(ws101_loop *loop, const ws101__conn_vt *vt,
                                    void *vt_data);
/* Copies up to `max` queued output bytes into `buf` and drops them from
 * the queue; returns how many. Stream transports only. */
size_t ws101__conn_take(ws101__conn *c, char *buf, size_t max);
/* Input for a stream transport, as the TCP read callback delivers it:
 * `data` must be mutable and is valid during the call only. */
void ws101__conn_deliver(ws101__conn *c, char *data, size_t len);
/* The peer ended its side (END_STREAM). */
void ws101__conn_deliver_eof(ws101__conn *c);
/* ---- TLS ----------------------------------------------------------------
 * TLS is a filter inside the connection (io/tls.h): protocols keep writing
 * and reading plaintext through the functions above and never learn
 * whether bytes were encrypted. Only the code that creates a connection
 * (server accept, client connect) and code that reports on it looks here.
 */

/* Called once, when the TLS handshake has completed and before the first
 * application byte reaches proto->on_read. This is the hook where a server
 * picks the protocol from ws101__conn_alpn(): HTTP/1.1 is attached at
 * accept, and an HTTP/2 server protocol replaces it here with
 * ws101__conn_set_proto when ALPN chose "h2". May close `c`. */
typedef void (*ws101__conn_tls_ready_cb)(ws101__conn *c);

/* Makes an accepted connection a TLS server connection, before
 * ws101__conn_start. `on_ready` may be NULL. The handshake runs under the
 * connection's deadline (a server's WS101_OPT_HEADER_TIMEOUT_MS): if it
 * expires first, the connection is closed with WS101_ETIMEDOUT. Returns 0
 * or WS101_ENOMEM / WS101_ETLS. */
int ws101__conn_tls_server(ws101__conn *c, struct ws101__tls_ctx *ctx,
                           ws101__conn_tls_ready_cb on_ready);

/* Makes a connected client connection TLS and starts the handshake: SNI
 * and certificate verification for `host` (a DNS name, or an IP literal
 * checked against IP SANs), a TLS session from an earlier connection to
 * `origin` offered for resumption. Plaintext written before the handshake
 * completes waits in the cork buffer. Returns 0 or WS101_ENOMEM /
 * WS101_ETLS. */
int ws101__conn_tls_client(ws101__conn *c, struct ws101__tls_ctx *ctx,
                           const char *host, const char *origin);
/* The same, offering ALPN "h2" before "http/1.1" (WS101_OPT_CLIENT_HTTP2
 * on https:// and wss://): `on_ready` runs once the handshake is done and
 * before the first byte reaches proto->on_read, so the caller reads
 * ws101__conn_alpn() there and picks HTTP/2 or HTTP/1.1 for the
 * connection. `on_ready` must not be NULL. */
int ws101__conn_tls_client_h2(ws101__conn *c, struct ws101__tls_ctx *ctx,
                              const char *host, const char *origin,
                              ws101__conn_tls_ready_cb on_ready);

/* The protocol ALPN selected ("http/1.1", "h2"), or NULL (plain TCP, or
 * the peer sent no ALPN). */
const char *ws101__conn_alpn(const ws101__conn *c);
/* "TLSv1.3" etc., or NULL for plain TCP. */
const char *ws101__conn_tls_version(const ws101__conn *c);
/* Subject of the peer's verified certificate (RFC 2253), or NULL. */
const char *ws101__conn_tls_peer_subject(const ws101__conn *c);
/* Whether the last handshake resumed a session. */
int ws101__conn_tls_resumed(const ws101__conn *c);
/* Why the connection was closed with WS101_ETLS ("" otherwise). Valid
 * until the connection's memory goes (after on_close). */
const char *ws101__conn_tls_error(const ws101__conn *c);

/* For io/tls.c: the connection's output buffers, and the end of the
 * peer's stream (FIN or close_notify) as the read path reports it. */
int ws101__outbuf_append(ws101_loop *loop, ws101__outbuf *o, const char *p,
                         size_t n);
void ws101__outbuf_release(ws101_loop *loop, ws101__outbuf *o);
/* Makes room for `n` more bytes; 0 or WS101_ENOMEM. */
int ws101__outbuf_reserve(ws101_loop *loop, ws101__outbuf *o, size_t n);
void ws101__conn_peer_ended(ws101__conn *c, int err);

/* For the loop (loop.c): the deadline sweep, and freeing the per-loop
 * request cache and output-buffer pool at ws101_loop_free. */
void ws101__conn_sweep(ws101_loop *loop);
void ws101__conn_cache_free(ws101_loop *loop);
void ws101__conn_pool_free(ws101_loop *loop);

#endif

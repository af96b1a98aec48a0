/**
 * @file ws101.h
 * @brief The public C API of libws101 (the only header).
 *
 * libws101 serves HTTP and the protocols HTTP 101 Switching Protocols opens
 * (WebSocket, RFC 6455 + RFC 7692), as a server and as a client, on libuv.
 *
 * Conventions that hold for every function below:
 *
 *  - Handles are opaque. Nothing here exposes a struct layout, so the ABI
 *    survives new fields. Options are opaque objects with setters.
 *  - Errors are negative ints from WS101_ERRNO_MAP; ws101_strerror() and
 *    ws101_err_name() describe them. Success is 0 (or a non-negative count).
 *  - When a function that takes a callback returns an error, that callback
 *    is never called for that call.
 *  - Every callback runs on the loop thread and ends with `void *user_data`;
 *    at registration the function pointer and its user data are adjacent.
 *  - Unless a function says "thread-safe", call it only on the loop thread
 *    (inside a callback, or before/between ws101_loop_run calls).
 *  - Inbound data (request bodies, WebSocket payloads, header strings passed
 *    to a callback) is valid only during the callback unless stated otherwise.
 *    Strings passed *to* the library are copied before the call returns.
 *  - Closing is asynchronous: memory is freed after the final callback
 *    (WS101_WS_CLOSE, the server close callback, ...), and a callback may
 *    close its own handle.
 */
#ifndef WS101_H
#define WS101_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Export and version                                                       */
/* ------------------------------------------------------------------------ */

/**
 * Marks a public function: default visibility, while the library itself is
 * built with -fvisibility=hidden and exports through the version script
 * (every symbol at version node WS101_1.0).
 */
#if defined(_WIN32)
#define WS101_EXTERN __declspec(dllexport)
#elif defined(__GNUC__) || defined(__clang__)
#define WS101_EXTERN __attribute__((visibility("default")))
#else
#define WS101_EXTERN
#endif

/** Major version of this header: the soname's number (libws101.so.1); it
 *  changes only with an incompatible change, which we intend never to make
 *  (see @ref versioning). */
#define WS101_VERSION_MAJOR 1
/** Minor version of this header: a release that adds to the API. */
#define WS101_VERSION_MINOR 0
/** Patch version of this header: a release that only fixes. */
#define WS101_VERSION_PATCH 0
/** The version as 0xMMmmpp, e.g. 0x010000 for 1.0.0. */
#define WS101_VERSION_HEX                                                  \
  ((WS101_VERSION_MAJOR << 16) | (WS101_VERSION_MINOR << 8) |             \
   WS101_VERSION_PATCH)

/**
 * Returns the version of the library actually loaded, in the same form as
 * WS101_VERSION_HEX. Compare with the macro to detect header/library skew.
 */
WS101_EXTERN unsigned ws101_version(void);

/** Returns the version of the loaded library as a static "M.m.p" string. */
WS101_EXTERN const char *ws101_version_string(void);

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */
/* ------------------------------------------------------------------------ */

/**
 * The error codes as an X-macro: XX(name, value, message) for each, giving
 * the enumerator WS101_<name> = value and the ws101_strerror() text.
 * Numbers are fixed forever; new ones are added at the end.
 */
#define WS101_ERRNO_MAP(XX)                                                 \
  XX(EINVAL, -1, "invalid argument")                                       \
  XX(ENOMEM, -2, "out of memory")                                          \
  XX(ECLOSED, -3, "handle is closed or closing")                           \
  XX(ESTATE, -4, "operation not valid in the current state")               \
  XX(EADDRINUSE, -5, "address already in use")                             \
  XX(EADDRNOTAVAIL, -6, "address not available")                           \
  XX(ECONNREFUSED, -7, "connection refused")                               \
  XX(ECONNRESET, -8, "connection reset by peer")                           \
  XX(ETIMEDOUT, -9, "operation timed out")                                 \
  XX(EDNS, -10, "host name could not be resolved")                         \
  XX(EIO, -11, "input/output error")                                       \
  XX(EPROTO, -12, "protocol error from peer")                              \
  XX(EBADUPGRADE, -13, "not a valid WebSocket upgrade request")            \
  XX(EHANDSHAKE, -14, "WebSocket handshake failed")                        \
  XX(EBACKPRESSURE, -15, "send buffer limit reached")                      \
  XX(ETOOBIG, -16, "message or body too large")                            \
  XX(EURL, -17, "invalid or unsupported URL")                              \
  XX(EUTF8, -18, "invalid UTF-8 in text")                                  \
  XX(ECANCELED, -19, "operation canceled")                                 \
  XX(EEOF, -20, "connection closed by peer")                               \
  XX(ENOTSUP, -21, "not supported")                                        \
  XX(ETLS, -22, "TLS error")

/** The error codes WS101_EINVAL ... WS101_ETLS of WS101_ERRNO_MAP, and
 *  WS101_OK (0). Every failing call returns one of them. */
enum {
#define WS101__ERR_ENUM(name, val, msg) WS101_##name = (val),
  WS101_ERRNO_MAP(WS101__ERR_ENUM)
#undef WS101__ERR_ENUM
  WS101_OK = 0
};

/**
 * Returns a static, human-readable message for an error code.
 * Unknown codes give "unknown error". Never returns NULL.
 */
WS101_EXTERN const char *ws101_strerror(int err);

/**
 * Returns the static symbolic name of an error code ("WS101_EINVAL"), or
 * "WS101_UNKNOWN". Never returns NULL.
 */
WS101_EXTERN const char *ws101_err_name(int err);

/* ------------------------------------------------------------------------ */
/* Handles                                                                  */
/* ------------------------------------------------------------------------ */

/** An event loop; wraps a libuv loop (its own or the caller's). */
typedef struct ws101_loop ws101_loop;
/** Options shared by servers, WebSocket connections and clients. */
typedef struct ws101_options ws101_options;
/** An HTTP server: listeners, routes and their connections. */
typedef struct ws101_server ws101_server;
/**
 * One HTTP request and its response, whatever the protocol carrying it
 * (HTTP/1.0, HTTP/1.1, and later HTTP/2 streams and TLS): the protocol is a
 * property of the request, not a separate API.
 */
typedef struct ws101_req ws101_req;
/** One WebSocket connection, server or client side. */
typedef struct ws101_ws ws101_ws;
/** One HTTP client exchange (request sent, response received). */
typedef struct ws101_fetch ws101_fetch;

/** libuv's loop type, forward-declared so this header never includes uv.h. */
struct uv_loop_s;

/* ------------------------------------------------------------------------ */
/* Loop                                                                     */
/* ------------------------------------------------------------------------ */

/** Callback posted with ws101_loop_post(); runs on the loop thread. */
typedef void (*ws101_post_cb)(ws101_loop *loop, void *user_data);

/**
 * Creates a loop that owns a fresh libuv loop. If SIGPIPE is at its
 * default disposition it is set to ignored (process-wide), because a peer
 * that vanishes mid-write must give an error, not kill the process; an
 * application that installed its own handler keeps it.
 * Returns 0 and stores the handle in *out, or WS101_EINVAL / WS101_ENOMEM /
 * WS101_EIO.
 */
WS101_EXTERN int ws101_loop_new(ws101_loop **out);

/**
 * Creates a loop that runs on the caller's libuv loop `uv`. The caller keeps
 * owning `uv`: it must outlive this handle and the caller runs it (with
 * uv_run or ws101_loop_run). SIGPIPE is handled as in ws101_loop_new.
 * Returns 0, WS101_EINVAL or WS101_ENOMEM.
 */
WS101_EXTERN int ws101_loop_new_uv(struct uv_loop_s *uv, ws101_loop **out);

/** Returns the libuv loop under `loop` (never NULL). */
WS101_EXTERN struct uv_loop_s *ws101_loop_uv(ws101_loop *loop);

/**
 * Runs the loop until ws101_loop_stop() is called or nothing is left to do
 * (no listener, connection, timer or pending post). Returns 0, or
 * WS101_ESTATE if called re-entrantly from a callback.
 */
WS101_EXTERN int ws101_loop_run(ws101_loop *loop);

/**
 * Runs one iteration of the loop. If `block` is non-zero it waits for at
 * least one event; otherwise it only handles what is ready. Returns 1 if
 * there is more work, 0 if the loop is idle, or WS101_ESTATE if re-entrant.
 */
WS101_EXTERN int ws101_loop_run_once(ws101_loop *loop, int block);

/**
 * Makes the current or next ws101_loop_run() return after the iteration in
 * progress. Loop thread only; from other threads post a callback that calls
 * it.
 */
WS101_EXTERN void ws101_loop_stop(ws101_loop *loop);

/**
 * Thread-safe. Queues `cb(loop, user_data)` to run on the loop thread during
 * a future iteration and wakes the loop. Callbacks run in posting order.
 * Every successfully posted callback runs exactly once: if the loop is freed
 * first, it runs inside ws101_loop_free(). Returns 0, WS101_EINVAL,
 * WS101_ENOMEM or WS101_ECLOSED (loop being freed).
 */
WS101_EXTERN int ws101_loop_post(ws101_loop *loop, ws101_post_cb cb,
                                 void *user_data);

/**
 * Frees the loop. Servers, WebSockets and fetches still open are closed
 * first (their final callbacks run), pending posts run, then memory is
 * released. A libuv loop owned by ws101 is closed; a caller's is left
 * running with no ws101 handles on it. Returns 0 or WS101_ESTATE if called
 * from inside a callback of this loop.
 */
WS101_EXTERN int ws101_loop_free(ws101_loop *loop);

/* ------------------------------------------------------------------------ */
/* Timers                                                                   */
/* ------------------------------------------------------------------------ */

/** A one-shot or repeating timer on a loop (a libuv timer underneath). */
typedef struct ws101_timer ws101_timer;

/** Called on the loop thread each time the timer fires. It may stop, restart
 *  or close its own timer. */
typedef void (*ws101_timer_cb)(ws101_timer *timer, void *user_data);

/** Called once, on the loop thread, when a closed timer's memory is about to
 *  be released: the place to drop what user_data holds. */
typedef void (*ws101_timer_close_cb)(ws101_timer *timer, void *user_data);

/**
 * Creates a stopped timer that calls `cb(timer, user_data)` when it fires.
 * Stores it in `*out`. Returns 0, WS101_EINVAL (NULL loop, cb or out),
 * WS101_ENOMEM, or WS101_ECLOSED (the loop is being freed).
 */
WS101_EXTERN int ws101_timer_new(ws101_loop *loop, ws101_timer_cb cb,
                                 void *user_data, ws101_timer **out);

/**
 * Starts (or restarts) the timer: it fires after `timeout_ms`, then every
 * `repeat_ms` if that is non-zero. Times are measured on the loop's clock,
 * which libuv updates once per iteration. Returns 0, WS101_EINVAL or
 * WS101_ECLOSED (the timer is closing).
 */
WS101_EXTERN int ws101_timer_start(ws101_timer *timer, uint64_t timeout_ms,
                                   uint64_t repeat_ms);

/**
 * Stops the timer; it can be started again. Stopping a stopped timer is not
 * an error. Returns 0, WS101_EINVAL or WS101_ECLOSED.
 */
WS101_EXTERN int ws101_timer_stop(ws101_timer *timer);

/** Returns 1 if the timer is started and will fire, 0 otherwise. */
WS101_EXTERN int ws101_timer_active(const ws101_timer *timer);

/**
 * Stops and closes the timer. Its callback is never called again; `close_cb`
 * (may be NULL) runs once from a later loop iteration, and then the memory
 * is freed. ws101_loop_free() closes timers still open. Returns 0,
 * WS101_EINVAL, or WS101_ECLOSED (already closing).
 */
WS101_EXTERN int ws101_timer_close(ws101_timer *timer,
                                   ws101_timer_close_cb close_cb,
                                   void *user_data);

/* ------------------------------------------------------------------------ */
/* Options                                                                  */
/* ------------------------------------------------------------------------ */

/** Integer options for ws101_options_set(). Defaults are in brackets. */
typedef enum ws101_opt {
  /* --- HTTP/1.1 limits (server and client) --- */
  /** Longest request line (method, target, version) in bytes; longer gets
   *  414 URI Too Long. [8192] */
  WS101_OPT_MAX_REQUEST_LINE = 1,
  /** Largest header section in bytes, request line included; larger gets
   *  431. [16384] */
  WS101_OPT_MAX_HEADER_BYTES = 2,
  /** Most header fields in one message; more gets 431. [100] */
  WS101_OPT_MAX_HEADERS = 3,
  /** Largest request body buffered for a handler; larger gets 413.
   *  Streaming routes are not limited by it. [1048576] */
  WS101_OPT_MAX_BODY = 4,
  /** Milliseconds allowed to receive a complete request head, from its first
   *  byte; on expiry the connection is closed (408 if nothing was answered
   *  yet). [10000] */
  WS101_OPT_HEADER_TIMEOUT_MS = 5,
  /** Milliseconds an idle keep-alive connection is kept. [60000] */
  WS101_OPT_IDLE_TIMEOUT_MS = 6,
  /** Most requests served on one HTTP/1.1 connection (0 = unlimited); the
   *  last response says "Connection: close". [1000] */
  WS101_OPT_MAX_KEEPALIVE_REQUESTS = 7,

  /* --- WebSocket --- */
  /** Largest message in bytes (after inflation); larger fails the
   *  connection with 1009. [16777216] */
  WS101_OPT_WS_MAX_MESSAGE = 20,
  /** Send-queue limit of one WebSocket, in bytes. Only what is already
   *  queued (ws101_ws_buffered) counts, not the message being sent, as in
   *  uWebSockets and the browser's bufferedAmount: a send on a queue below
   *  the limit is accepted whatever its size, a send on a queue at or above
   *  it follows WS_BACKPRESSURE_POLICY. So an echo of any message the peer
   *  may send (up to WS_MAX_MESSAGE) is accepted on an idle connection
   *  whatever the two values. Worst case per connection: the queue peaks
   *  below this limit + the largest single send + 14 bytes of frame header
   *  (a compressed message can exceed its input by ~0.03 % + a few bytes);
   *  for an echo server with the defaults that is under 32 MiB, on top of
   *  the WS_MAX_MESSAGE being received. Pongs are owed whatever the queue
   *  holds, so once one finds the queue at the limit, reading from the
   *  peer stops until the queue has drained: pings from a peer that does
   *  not read add at most one pong (131 bytes). [16777216] */
  WS101_OPT_WS_MAX_BACKPRESSURE = 21,
  /** What happens to a send on a queue at or above WS_MAX_BACKPRESSURE:
   *  WS101_BACKPRESSURE_CLOSE closes with 1008 (after the send fails),
   *  WS101_BACKPRESSURE_REFUSE refuses the send with WS101_EBACKPRESSURE.
   *  Either way the send is not queued: the caller must handle the code.
   *  [WS101_BACKPRESSURE_REFUSE] */
  WS101_OPT_WS_BACKPRESSURE_POLICY = 22,
  /** Milliseconds to wait for the peer's close frame, and then for TCP to
   *  end, before dropping the connection. [5000] */
  WS101_OPT_WS_CLOSE_TIMEOUT_MS = 23,
  /** Send a ping after this many idle milliseconds (0 = never). [0] */
  WS101_OPT_WS_PING_INTERVAL_MS = 24,
  /** Drop the connection (1006 locally) if a keep-alive ping gets no pong
   *  within this many milliseconds. [30000] */
  WS101_OPT_WS_PONG_TIMEOUT_MS = 25,
  /** 1 delivers data frames as WS101_WS_FRAGMENT events as they arrive
   *  instead of reassembled messages. [0] */
  WS101_OPT_WS_STREAM_FRAGMENTS = 26,
  /** Milliseconds allowed for a client's opening handshake (the HTTP/1.1
   *  upgrade, or the extended CONNECT stream over HTTP/2). [10000] */
  WS101_OPT_WS_HANDSHAKE_TIMEOUT_MS = 27,

  /* --- permessage-deflate (RFC 7692) --- */
  /** 1 negotiates permessage-deflate when offered (server) or offers it
   *  (client); 0 never does. [1] */
  WS101_OPT_DEFLATE = 40,
  /** zlib compression level 0..9. [1] */
  WS101_OPT_DEFLATE_LEVEL = 41,
  /** Our compressor's LZ77 window, 8..15 bits. [15] */
  WS101_OPT_DEFLATE_WINDOW_BITS = 42,
  /** Messages shorter than this many bytes are sent uncompressed. [64] */
  WS101_OPT_DEFLATE_MIN_SIZE = 43,
  /** Memory model: WS101_DEFLATE_DEDICATED keeps a compressor per
   *  connection (context takeover, best ratio); WS101_DEFLATE_SHARED uses
   *  one compressor per loop and negotiates server_no_context_takeover
   *  (tiny memory per connection). [WS101_DEFLATE_DEDICATED] */
  WS101_OPT_DEFLATE_MEMORY = 44,
  /** zlib memLevel 1..9 for our compressor. [8] */
  WS101_OPT_DEFLATE_MEM_LEVEL = 45,

  /* --- client --- */
  /** Milliseconds allowed for DNS + TCP connect. [10000] */
  WS101_OPT_CONNECT_TIMEOUT_MS = 60,
  /** Milliseconds allowed between bytes of a client response. [30000]
   *  Over HTTP/2 it holds per stream: a silent stream is reset and fails
   *  with WS101_ETIMEDOUT, the connection and its other streams go on. */
  WS101_OPT_RESPONSE_TIMEOUT_MS = 61,
  /** 1 buffers a client response body and delivers it as one
   *  WS101_FETCH_BODY event right before WS101_FETCH_DONE; a body larger
   *  than WS101_OPT_MAX_BODY fails with WS101_ETOOBIG. 0 streams it in
   *  pieces as it arrives. [0] */
  WS101_OPT_FETCH_BUFFER_BODY = 62,

  /* --- HTTP/2 (see the "HTTP/2" section) --- */
  /** Server: 1 speaks HTTP/2 to clients that ask for it (a connection
   *  that starts with the HTTP/2 preface, and `Upgrade: h2c` when
   *  WS101_OPT_H2C is 1); 0 keeps every connection on HTTP/1.1. [1] */
  WS101_OPT_HTTP2 = 80,
  /** Server: 1 answers an HTTP/1.1 request carrying `Upgrade: h2c` and a
   *  valid `HTTP2-Settings` with 101 and continues in HTTP/2; 0 ignores
   *  the offer and answers in HTTP/1.1. [1] */
  WS101_OPT_H2C = 81,
  /** Most concurrent streams a peer may open on one HTTP/2 connection
   *  (SETTINGS_MAX_CONCURRENT_STREAMS), 1..10000. [100] */
  WS101_OPT_H2_MAX_STREAMS = 82,
  /** Receive window of each HTTP/2 stream in bytes
   *  (SETTINGS_INITIAL_WINDOW_SIZE), 65535..2^31-1: how much a peer may
   *  send on a stream the application is not reading. [262144] */
  WS101_OPT_H2_STREAM_WINDOW = 83,
  /** Receive window of a whole HTTP/2 connection in bytes,
   *  65535..2^31-1. [1048576] */
  WS101_OPT_H2_CONN_WINDOW = 84,
  /** Client HTTP/2. 0 is HTTP/1.1 (keep-alive, 101 for WebSockets).
   *  On http:// and ws://, 1 speaks HTTP/2 by prior knowledge and 2 offers
   *  h2c: `Upgrade: h2c` goes on bodiless requests only (a 101 continues
   *  in HTTP/2, any other answer is used as the HTTP/1.1 response it is);
   *  a request with a body is sent in HTTP/1.1 without the offer, and the
   *  next bodiless request to that origin (often on the same keep-alive
   *  connection) makes it. On https:// and wss://, 1 and 2 both offer ALPN
   *  "h2" then "http/1.1": requests wait for the handshake, and if the
   *  server picks HTTP/1.1 they are sent in HTTP/1.1 (the first on that
   *  connection) and the origin is remembered for the loop's life, so later
   *  requests go to HTTP/1.1 at once. Over HTTP/2 every fetch to an origin
   *  is a stream on one shared connection (ws101_fetch_http_version says
   *  20), and ws101_ws_connect uses RFC 8441 when the server's SETTINGS
   *  allow it (ws101_ws_response_status is then 200), else the HTTP/1.1
   *  upgrade on a new connection (status 101); a server that speaks only
   *  HTTP/2 and does not allow RFC 8441 then fails the attempt with
   *  WS101_EHANDSHAKE. [0] */
  WS101_OPT_CLIENT_HTTP2 = 85,
  /* --- TLS (see the "TLS" section) --- */
  /** Client: 1 skips verifying the server's certificate chain and host
   *  name, so ANY server (or attacker in between) is accepted. For tests
   *  against self-signed servers only; never in production. [0] */
  WS101_OPT_TLS_INSECURE_SKIP_VERIFY = 86,
  /** Server: client certificates (mTLS). WS101_TLS_CLIENT_CERT_NONE never
   *  asks; _OPTIONAL asks and verifies one if sent; _REQUIRE refuses the
   *  handshake without a valid one. Trust comes from ws101_options_set_tls_ca.
   *  [WS101_TLS_CLIENT_CERT_NONE] */
  WS101_OPT_TLS_CLIENT_CERT = 87,
  /** Server: seconds between session-ticket key rotations (the previous key
   *  still decrypts tickets for one more period); 0 disables session
   *  tickets. [3600] */
  WS101_OPT_TLS_TICKET_ROTATE_S = 88,

  /* --- connection limits and output backpressure (all protocols) --- */
  /** Output buffer limit of one connection, in bytes: while more than this
   *  is queued for the peer (HTTP responses, WebSocket frames, client
   *  request bodies), the library stops reading from that connection and
   *  dispatches no pipelined request; reading resumes when the queue has
   *  drained. ws101_req_write and ws101_fetch_write on a queue at or above
   *  it follow WS101_OPT_HTTP_BACKPRESSURE_POLICY. See "Memory per
   *  connection" below. 0 = no limit. [1048576] */
  WS101_OPT_OUTPUT_BUFFER_LIMIT = 90,
  /** Milliseconds a peer may accept no byte of our pending output before
   *  the connection is closed (WS101_ETIMEDOUT; a WebSocket closes with
   *  1006), like nginx's send_timeout. 0 = never. [60000] */
  WS101_OPT_SEND_TIMEOUT_MS = 91,
  /** What ws101_req_write / ws101_fetch_write do on a queue at or above
   *  WS101_OPT_OUTPUT_BUFFER_LIMIT: WS101_BACKPRESSURE_REFUSE refuses the
   *  write with WS101_EBACKPRESSURE (retry on the drain callback);
   *  WS101_BACKPRESSURE_CLOSE also closes the connection.
   *  [WS101_BACKPRESSURE_REFUSE] */
  WS101_OPT_HTTP_BACKPRESSURE_POLICY = 92,
  /** Server: most connections open at once (0 = no limit). Past it the
   *  server stops accepting (the kernel's listen backlog holds the rest)
   *  and resumes as connections close, like nginx's worker_connections.
   *  [0] */
  WS101_OPT_MAX_CONNECTIONS = 93
} ws101_opt;

/*
 * Memory per connection: the promise.
 *
 * No input from a peer, and no failure of a peer to read, makes the library
 * hold more memory for one connection than these options allow (figures are
 * the defaults):
 *
 *  - request or response head: WS101_OPT_MAX_HEADER_BYTES (16 KiB), plus at
 *    most one read (64 KiB, the loop's read buffer) of pipelined bytes
 *    waiting behind a request in progress; reading stops meanwhile;
 *  - buffered request body: WS101_OPT_MAX_BODY (1 MiB); streamed bodies
 *    are handed over as they arrive and held only while the handler has not
 *    called ws101_req_read_body: at most one read (64 KiB), reading stops
 *    meanwhile;
 *  - WebSocket message: WS101_OPT_WS_MAX_MESSAGE (16 MiB) after inflation,
 *    plus the zlib streams (about 300 KiB with context takeover, about
 *    1 KiB with WS101_DEFLATE_SHARED);
 *  - output: WS101_OPT_OUTPUT_BUFFER_LIMIT (1 MiB) plus what the input of
 *    the read that crossed it produces: one response write for HTTP/1.1
 *    (pipelined requests wait), the answers to at most one read (64 KiB)
 *    of WebSocket frames. Past the limit reading stops, so a peer that
 *    sends requests, pings or messages without reading the answers gets no
 *    more answers produced; streamed writes are refused
 *    (WS101_EBACKPRESSURE) instead of queued; and a peer that reads nothing
 *    for WS101_OPT_SEND_TIMEOUT_MS (60 s) is closed. The WebSocket send
 *    policy (WS101_OPT_WS_MAX_BACKPRESSURE) applies on top of this queue.
 *
 * What the application itself passes in one call (a ws101_req_respond body,
 * one ws101_ws_send message) is the application's memory and is queued
 * whole. tests/unit/test_backpressure.c checks these bounds against a peer
 * that pipelines `GET /stream?n=100000` requests and never reads.
 */

/** Values of WS101_OPT_WS_BACKPRESSURE_POLICY. */
enum { WS101_BACKPRESSURE_REFUSE = 0, WS101_BACKPRESSURE_CLOSE = 1 };
/** Values of WS101_OPT_DEFLATE_MEMORY. */
enum { WS101_DEFLATE_DEDICATED = 0, WS101_DEFLATE_SHARED = 1 };
/** Values of WS101_OPT_TLS_CLIENT_CERT. */
enum {
  WS101_TLS_CLIENT_CERT_NONE = 0,
  WS101_TLS_CLIENT_CERT_OPTIONAL = 1,
  WS101_TLS_CLIENT_CERT_REQUIRE = 2
};

/**
 * Creates an options object holding every default. Returns 0,
 * WS101_EINVAL or WS101_ENOMEM. Objects that take options copy them, so
 * one options object can configure many servers and clients and be freed
 * right after.
 */
WS101_EXTERN int ws101_options_new(ws101_options **out);

/** Frees an options object. NULL is ignored. */
WS101_EXTERN void ws101_options_free(ws101_options *opts);

/**
 * Sets an integer option. Returns 0, or WS101_EINVAL if the option is
 * unknown or the value out of its range (values are never clamped).
 */
WS101_EXTERN int ws101_options_set(ws101_options *opts, ws101_opt opt,
                                   int64_t value);

/**
 * Reads an integer option into *value. Returns 0 or WS101_EINVAL.
 */
WS101_EXTERN int ws101_options_get(const ws101_options *opts, ws101_opt opt,
                                   int64_t *value);

/**
 * Server: adds an allowed Origin (exact, case-insensitive match such as
 * "https://app.example.com"). Once any is added, WebSocket upgrades whose
 * Origin is missing or not listed are answered 403. Returns 0,
 * WS101_EINVAL or WS101_ENOMEM.
 */
WS101_EXTERN int ws101_options_add_origin(ws101_options *opts,
                                          const char *origin);

/**
 * Server: adds a subprotocol that WebSocket-only routes accept, in order of
 * preference; the first one the client also offers is picked. Client:
 * adds a subprotocol to offer in Sec-WebSocket-Protocol. Returns 0,
 * WS101_EINVAL (not a token, or longer than 128 bytes) or WS101_ENOMEM.
 */
WS101_EXTERN int ws101_options_add_subprotocol(ws101_options *opts,
                                               const char *protocol);

/**
 * Client: adds a header sent with every request made with these options
 * (e.g. Origin, Authorization). Returns 0, WS101_EINVAL (bad name or CR/LF
 * in the value) or WS101_ENOMEM.
 */
WS101_EXTERN int ws101_options_add_header(ws101_options *opts,
                                          const char *name, const char *value);

/* ------------------------------------------------------------------------ */
/* Server                                                                   */
/* ------------------------------------------------------------------------ */

/** Called once per request routed to a handler; see ws101_req_*. */
typedef void (*ws101_request_cb)(ws101_req *req, void *user_data);

/** Called once when ws101_server_close() has finished. */
typedef void (*ws101_server_close_cb)(ws101_server *server, void *user_data);

/** Route flags for ws101_server_route(). */
enum {
  /** Call the handler as soon as the head has arrived; the body is then
   *  delivered through ws101_req_read_body() instead of being buffered. */
  WS101_ROUTE_STREAM_BODY = 1,
  /** The handler may accept WebSocket upgrades itself
   *  (ws101_req_accept_websocket), so the server announces RFC 8441
   *  (SETTINGS_ENABLE_CONNECT_PROTOCOL) on HTTP/2 connections for it, as
   *  it does for ws101_server_websocket routes; an extended CONNECT then
   *  reaches the handler with ws101_req_is_websocket() = 1. Without it
   *  only HTTP/1.1 upgrades reach a handler route. */
  WS101_ROUTE_WEBSOCKET = 2
};

/**
 * Creates a server on `loop`. `opts` may be NULL for defaults; it is copied.
 * Returns 0, WS101_EINVAL or WS101_ENOMEM.
 */
WS101_EXTERN int ws101_server_new(ws101_loop *loop, const ws101_options *opts,
                                  ws101_server **out);

/**
 * Routes requests whose path matches `path` to `cb`. A path ending in a
 * star matches by prefix ("/static/" plus a star, or a lone star for
 * everything); otherwise the match is exact. The longest matching route wins; an unmatched path gets
 * 404. The handler may respond at once or later (keep the ws101_req), and
 * may accept a WebSocket upgrade with ws101_req_accept_websocket().
 * `flags` is 0 or WS101_ROUTE_STREAM_BODY and/or WS101_ROUTE_WEBSOCKET.
 * Returns 0, WS101_EINVAL
 * (path not starting with "/" or "*", or already routed) or WS101_ENOMEM.
 */
WS101_EXTERN int ws101_server_route(ws101_server *server, const char *path,
                                    int flags, ws101_request_cb cb,
                                    void *user_data);

/** WebSocket events, passed as `event` to ws101_ws_cb. */
typedef enum ws101_ws_event {
  /** The connection is open (server: after the 101 was queued; client:
   *  after a valid 101). data/len are empty, arg is 0. */
  WS101_WS_OPEN = 1,
  /** A complete text message, validated UTF-8. arg is 0. */
  WS101_WS_TEXT = 2,
  /** A complete binary message. arg is 0. */
  WS101_WS_BINARY = 3,
  /** With WS101_OPT_WS_STREAM_FRAGMENTS: part of a message. arg holds
   *  WS101_FRAG_TEXT or WS101_FRAG_BINARY, plus WS101_FRAG_FIN on the last
   *  part. Text parts are validated UTF-8 up to a code point boundary. */
  WS101_WS_FRAGMENT = 4,
  /** A ping arrived (the pong was already queued). */
  WS101_WS_PING = 5,
  /** A pong arrived. */
  WS101_WS_PONG = 6,
  /** The send queue became empty after data had to wait for the socket:
   *  a send was refused with WS101_EBACKPRESSURE, a send found a write
   *  still in progress, or ws101_ws_buffered() returned non-zero. Output
   *  that leaves within the same loop iteration raises no DRAIN. */
  WS101_WS_DRAIN = 7,
  /** Client only: the connection or handshake failed. arg is a negative
   *  WS101_E* code and data a human-readable message; the handshake
   *  response, if any, is readable with ws101_ws_response_status() and
   *  ws101_ws_response_header() during this event. WS101_WS_CLOSE (1006)
   *  follows. */
  WS101_WS_ERROR = 8,
  /** Always the last event. arg is the close code: the peer's (1005 if its
   *  close frame had none), ours when we failed the connection (1002,
   *  1007, 1009, ...), or 1006 when TCP ended without a close handshake.
   *  data/len hold the reason. The handle is freed when the callback
   *  returns. */
  WS101_WS_CLOSE = 9
} ws101_ws_event;

/** Bits of `arg` for WS101_WS_FRAGMENT. */
enum { WS101_FRAG_TEXT = 1, WS101_FRAG_BINARY = 2, WS101_FRAG_FIN = 4 };

/**
 * Receives every event of a WebSocket. `data`/`len` are valid only during
 * the call; `arg` depends on `event` (see ws101_ws_event).
 */
typedef void (*ws101_ws_cb)(ws101_ws *ws, int event, const char *data,
                            size_t len, int arg, void *user_data);

/**
 * Registers a WebSocket-only route at `path` (same matching as
 * ws101_server_route). Valid upgrades are accepted automatically (picking
 * a subprotocol from ws101_options_add_subprotocol, and checking the
 * Origin allow-list); a plain request gets 426 Upgrade Required with
 * "Upgrade: websocket". Events of every accepted connection go to `cb`.
 * Returns 0, WS101_EINVAL or WS101_ENOMEM.
 */
WS101_EXTERN int ws101_server_websocket(ws101_server *server, const char *path,
                                        ws101_ws_cb cb, void *user_data);

/**
 * Starts listening on `host` (a numeric IPv4/IPv6 address such as
 * "127.0.0.1" or "::1", or "localhost") and `port` (0 picks a free port).
 * May be called several times for several addresses. Returns 0,
 * WS101_EINVAL, WS101_EADDRINUSE, WS101_EADDRNOTAVAIL or WS101_EIO.
 */
WS101_EXTERN int ws101_server_listen(ws101_server *server, const char *host,
                                     int port);

/**
 * Starts listening (plain, not TLS) on `fd`, a TCP socket the caller has
 * already bound and put into the listening state (socket(), bind(),
 * listen()): for a process that inherited a listening socket from a
 * parent, e.g. several worker processes sharing one port, each running its
 * own loop on its own copy of the descriptor. The server takes ownership of
 * `fd` in every case: on success it is closed when the server closes, on
 * failure it has been closed before the call returns (so pass a dup() to
 * keep one). The descriptor is made non-blocking. Returns 0, WS101_EINVAL
 * (server NULL or fd < 0), WS101_ESTATE (the server is closing) or the
 * error libuv reports for the descriptor (e.g. WS101_EIO).
 */
WS101_EXTERN int ws101_server_listen_fd(ws101_server *server, int fd);

/**
 * Returns the local port of the first plain (non-TLS) listener, or of the
 * first TLS one if there is no plain listener (useful after listening on
 * port 0), or WS101_ESTATE if not listening. ws101_server_tls_port gives
 * the TLS one.
 */
WS101_EXTERN int ws101_server_port(const ws101_server *server);

/**
 * Closes the server: stops listening, closes every WebSocket with 1001
 * (Going Away), lets in-flight HTTP responses finish and closes idle
 * connections. `cb` (may be NULL) runs once all connections are gone; the
 * server is freed after it returns. Calling it again returns WS101_ECLOSED.
 * Returns 0.
 */
WS101_EXTERN int ws101_server_close(ws101_server *server,
                                    ws101_server_close_cb cb, void *user_data);

/** Returns the loop of a server. */
WS101_EXTERN ws101_loop *ws101_server_loop(const ws101_server *server);

/* ------------------------------------------------------------------------ */
/* Requests and responses                                                   */
/* ------------------------------------------------------------------------ */
/*
 * Strings returned by ws101_req_* getters are NUL-terminated and stay valid
 * until the response is complete (ws101_req_respond, ws101_req_end or
 * ws101_req_accept_websocket returned). The request handle itself stays
 * valid until then too, even if the peer disconnects first: writes then
 * fail with WS101_ECLOSED and the abort callback tells you, and
 * completing it (ws101_req_respond, ws101_req_end...) returns
 * WS101_ECLOSED and frees it, even after its server was closed. A request
 * the application never completes is freed by ws101_loop_free; the handle
 * must not be used after that.
 */

/** Returns the method ("GET", "POST", ...). */
WS101_EXTERN const char *ws101_req_method(const ws101_req *req);
/** Returns the request-target as sent ("/a/b?x=1"). */
WS101_EXTERN const char *ws101_req_target(const ws101_req *req);
/** Returns the path part of the target, without the query ("/a/b"). */
WS101_EXTERN const char *ws101_req_path(const ws101_req *req);
/** Returns the query without "?" ("x=1"), or "" if there is none. */
WS101_EXTERN const char *ws101_req_query(const ws101_req *req);
/** Returns the HTTP version: 10, 11 or 20 (HTTP/2, see "HTTP/2"). */
WS101_EXTERN int ws101_req_http_version(const ws101_req *req);
/** Returns the peer address as "ip:port" ("[ip6]:port" for IPv6). */
WS101_EXTERN const char *ws101_req_remote_addr(const ws101_req *req);
/**
 * Returns the value of the first header named `name` (case-insensitive),
 * with surrounding whitespace removed, or NULL if absent.
 */
WS101_EXTERN const char *ws101_req_header(const ws101_req *req,
                                          const char *name);
/** Returns the number of request header fields. */
WS101_EXTERN size_t ws101_req_header_count(const ws101_req *req);
/** Returns the name of header `i` as received, or NULL if out of range. */
WS101_EXTERN const char *ws101_req_header_name(const ws101_req *req, size_t i);
/** Returns the value of header `i`, or NULL if out of range. */
WS101_EXTERN const char *ws101_req_header_value(const ws101_req *req,
                                                size_t i);
/**
 * Returns the buffered body (NULL if empty or on a streaming route). Valid
 * until the response is complete. Its length is ws101_req_body_len().
 */
WS101_EXTERN const char *ws101_req_body(const ws101_req *req);
/** Returns the length of the buffered body. */
WS101_EXTERN size_t ws101_req_body_len(const ws101_req *req);
/**
 * Returns 1 if the request asks for a WebSocket upgrade (an Upgrade header
 * naming "websocket"), 0 otherwise. It may still be malformed; see
 * ws101_req_accept_websocket().
 */
WS101_EXTERN int ws101_req_is_websocket(const ws101_req *req);

/** Receives streamed body bytes; `last` is 1 on the final call (len may be
 *  0), after which no more calls come. */
typedef void (*ws101_body_cb)(ws101_req *req, const char *data, size_t len,
                              int last, void *user_data);

/**
 * On a WS101_ROUTE_STREAM_BODY route, starts delivering the body to `cb`
 * (sending "100 Continue" first if the client asked for it). Call it from
 * the handler or later: body bytes that arrive before it wait, with reading
 * paused, and are delivered then. If the response completes before the
 * body was read, `cb` is not called again and the connection closes after
 * the response. If the body is cut off (FIN, reset or a stall longer than
 * WS101_OPT_IDLE_TIMEOUT_MS), the abort callback fires instead of the
 * final call. Returns 0, WS101_EINVAL or WS101_ESTATE (not a streaming
 * route, or called twice).
 */
WS101_EXTERN int ws101_req_read_body(ws101_req *req, ws101_body_cb cb,
                                     void *user_data);

/** Called at most once if the connection is lost before the response
 *  completes. The request stays valid until the application ends it. */
typedef void (*ws101_abort_cb)(ws101_req *req, void *user_data);

/** Registers the abort callback. Returns 0 or WS101_EINVAL. */
WS101_EXTERN int ws101_req_on_abort(ws101_req *req, ws101_abort_cb cb,
                                    void *user_data);

/** Attaches an application pointer to the request. */
WS101_EXTERN void ws101_req_set_user_data(ws101_req *req, void *user_data);
/** Returns the pointer set with ws101_req_set_user_data (NULL by default). */
WS101_EXTERN void *ws101_req_get_user_data(const ws101_req *req);

/**
 * Sets the final response status (200..999, default 200) before anything
 * was sent; interim 1xx answers are the library's (100 Continue, 101).
 * Returns 0, WS101_EINVAL or WS101_ESTATE (head already sent).
 */
WS101_EXTERN int ws101_req_set_status(ws101_req *req, int status);

/**
 * Adds a response header before the head is sent. Setting Content-Length
 * makes ws101_req_write send a fixed-length body instead of chunks.
 * Connection, Transfer-Encoding, Date and Upgrade are managed by the
 * library and refused. Returns 0, WS101_EINVAL (invalid name or value, or
 * a managed header), WS101_ESTATE or WS101_ENOMEM.
 */
WS101_EXTERN int ws101_req_add_header(ws101_req *req, const char *name,
                                      const char *value);

/**
 * Sends a complete response: status, Content-Type (if not NULL), any headers
 * added, and `len` bytes of `body` (copied or written before return; HEAD
 * requests get the headers only). Completes the request. Returns 0,
 * WS101_ESTATE (already responding), WS101_EINVAL, WS101_ECLOSED (peer
 * gone; the request is still completed) or WS101_ENOMEM (the request is
 * completed with a bare 500 instead).
 */
WS101_EXTERN int ws101_req_respond(ws101_req *req, int status,
                                   const char *content_type, const char *body,
                                   size_t len);

/**
 * Streams part of the body, sending the head first if needed: chunked on
 * HTTP/1.1 without Content-Length, close-delimited on HTTP/1.0. Never blocks.
 * A write on a queue already at or above WS101_OPT_OUTPUT_BUFFER_LIMIT is
 * not queued (see "Response and upload backpressure"). Returns 0,
 * WS101_ESTATE (ended), WS101_ETOOBIG (exceeds Content-Length),
 * WS101_EBACKPRESSURE (nothing was written; retry from the drain callback)
 * or WS101_ECLOSED.
 */
WS101_EXTERN int ws101_req_write(ws101_req *req, const char *data, size_t len);

/**
 * Ends a streamed response and completes the request. Returns 0,
 * WS101_ESTATE or WS101_ECLOSED (the request is still completed).
 */
WS101_EXTERN int ws101_req_end(ws101_req *req);

/**
 * Accepts a WebSocket upgrade: validates the request (RFC 6455 section 4.2:
 * GET, HTTP/1.1, Host, Upgrade, Connection, a 16-byte Sec-WebSocket-Key,
 * version 13, the Origin allow-list), negotiates permessage-deflate per the
 * options, answers 101 with `subprotocol` (NULL for none; it must be one the
 * client offered) and hands the connection to the WebSocket engine, whose
 * events go to `cb`. Completes the request.
 * On an invalid request the proper answer is sent instead (400; 426 with
 * Sec-WebSocket-Version: 13 for a wrong version; 403 for a refused Origin),
 * the request is completed, and WS101_EBADUPGRADE is returned; `cb` is then
 * never called. Also returns WS101_ESTATE (already responding) or
 * WS101_EINVAL (a subprotocol the client did not offer, or longer than 128
 * bytes), leaving the request to be answered otherwise. `out` may be NULL.
 */
WS101_EXTERN int ws101_req_accept_websocket(ws101_req *req,
                                            const char *subprotocol,
                                            ws101_ws_cb cb, void *user_data,
                                            ws101_ws **out);

/**
 * Returns the subprotocols the client offered, as the raw comma-separated
 * Sec-WebSocket-Protocol value, or NULL. Same as reading the header.
 */
WS101_EXTERN const char *ws101_req_ws_protocols(const ws101_req *req);

/* ------------------------------------------------------------------------ */
/* Response and upload backpressure                                         */
/* ------------------------------------------------------------------------ */
/*
 * A streamed response (ws101_req_write) or upload (ws101_fetch_write) goes
 * out as fast as the peer reads, never faster than the application can be
 * told, and never into unbounded memory: it works the way ws101_ws_send
 * does. ws101_req_buffered() tells how much is queued; a write on a queue at
 * or above WS101_OPT_OUTPUT_BUFFER_LIMIT is refused with
 * WS101_EBACKPRESSURE (and, with WS101_OPT_HTTP_BACKPRESSURE_POLICY =
 * WS101_BACKPRESSURE_CLOSE, the connection is closed); the drain callback
 * then says when to write again. A write on a queue below the limit is
 * accepted whatever its size. A handler that writes a large body in
 * pieces therefore writes until a write is refused (or, to keep its queue
 * shorter, until ws101_req_buffered() passes a threshold of its own) and
 * continues from the drain callback.
 */

/** Called when the output queue of a request's connection has emptied. */
typedef void (*ws101_req_drain_cb)(ws101_req *req, void *user_data);

/**
 * Returns the number of response bytes queued on the request's connection
 * and not yet accepted by the socket (0 once the request is complete or
 * its peer gone). A non-zero answer owes a drain callback.
 */
WS101_EXTERN size_t ws101_req_buffered(const ws101_req *req);

/**
 * Registers `cb` (NULL to remove) to be called, on the loop thread and
 * never inside a ws101_req_* call, each time the output queue empties
 * after data had to wait: a write was refused with WS101_EBACKPRESSURE,
 * a write found the socket busy, or ws101_req_buffered() returned
 * non-zero. Output that leaves within the same loop iteration raises no
 * callback. It is not called after the request is complete or aborted.
 * Returns 0, WS101_EINVAL (req is NULL) or WS101_ESTATE (complete).
 */
WS101_EXTERN int ws101_req_on_drain(ws101_req *req, ws101_req_drain_cb cb,
                                    void *user_data);

/**
 * Returns the number of request bytes of `f` queued and not yet accepted by
 * the socket, including what waits for the connection to open. A non-zero
 * answer owes a WS101_FETCH_DRAIN event. ws101_fetch_write follows the same
 * rules as ws101_req_write.
 */
WS101_EXTERN size_t ws101_fetch_buffered(const ws101_fetch *f);

/* ------------------------------------------------------------------------ */
/* WebSocket                                                                */
/* ------------------------------------------------------------------------ */

/** Opcodes for ws101_ws_send / ws101_ws_send_fragment. */
enum {
  WS101_OP_CONTINUATION = 0,
  WS101_OP_TEXT = 1,
  WS101_OP_BINARY = 2
};

/** Flags for ws101_ws_send_ex. */
enum {
  /** Send this message uncompressed even if deflate was negotiated. */
  WS101_SEND_NO_COMPRESS = 1
};

/**
 * Queues a complete message (WS101_OP_TEXT or WS101_OP_BINARY); never
 * blocks. Text must be valid UTF-8. The bytes are written at once when the
 * socket takes them, otherwise copied into the send queue. Returns 0,
 * WS101_EINVAL, WS101_EUTF8, WS101_ECLOSED (closing or closed),
 * WS101_ESTATE (a fragmented send is still open) or WS101_EBACKPRESSURE
 * (see WS101_OPT_WS_BACKPRESSURE_POLICY).
 */
WS101_EXTERN int ws101_ws_send(ws101_ws *ws, const char *data, size_t len,
                               int opcode);

/** Like ws101_ws_send with WS101_SEND_* `flags`. Same return codes. */
WS101_EXTERN int ws101_ws_send_ex(ws101_ws *ws, const char *data, size_t len,
                                  int opcode, int flags);

/**
 * Queues one fragment of a message: the first has opcode TEXT or BINARY,
 * the following ones WS101_OP_CONTINUATION; `fin` non-zero ends the message.
 * Fragmented messages are never compressed. Returns the codes of
 * ws101_ws_send, and WS101_ESTATE for a wrong opcode sequence.
 */
WS101_EXTERN int ws101_ws_send_fragment(ws101_ws *ws, const char *data,
                                        size_t len, int opcode, int fin);

/** Queues a ping with up to 125 bytes of payload. Returns 0, WS101_EINVAL
 *  or WS101_ECLOSED. */
WS101_EXTERN int ws101_ws_ping(ws101_ws *ws, const char *data, size_t len);

/**
 * Starts the close handshake with `code` (1000, 1001, 1003, 1007..1014 or
 * 3000..4999) and a UTF-8 `reason` of at most 123 bytes (NULL for none).
 * Queued messages are sent first. WS101_WS_CLOSE follows once the handshake
 * ends or times out. Returns 0, WS101_EINVAL or WS101_ECLOSED.
 */
WS101_EXTERN int ws101_ws_close(ws101_ws *ws, int code, const char *reason);

/** Returns the number of bytes queued and not yet written to the socket. */
WS101_EXTERN size_t ws101_ws_buffered(const ws101_ws *ws);

/** Stops reading from the peer (receive-side backpressure). Returns 0 or
 *  WS101_ECLOSED. */
WS101_EXTERN int ws101_ws_pause(ws101_ws *ws);
/** Resumes reading after ws101_ws_pause. Returns 0 or WS101_ECLOSED. */
WS101_EXTERN int ws101_ws_resume(ws101_ws *ws);

/** Replaces the event callback of this connection. Returns 0 or
 *  WS101_EINVAL. */
WS101_EXTERN int ws101_ws_set_handler(ws101_ws *ws, ws101_ws_cb cb,
                                      void *user_data);
/** Attaches an application pointer to the connection. */
WS101_EXTERN void ws101_ws_set_user_data(ws101_ws *ws, void *user_data);
/** Returns the pointer set with ws101_ws_set_user_data (NULL by default). */
WS101_EXTERN void *ws101_ws_get_user_data(const ws101_ws *ws);
/** Returns the negotiated subprotocol, or "" if none. Valid for the life of
 *  the handle. */
WS101_EXTERN const char *ws101_ws_subprotocol(const ws101_ws *ws);
/** Returns the negotiated Sec-WebSocket-Extensions value, or "". */
WS101_EXTERN const char *ws101_ws_extensions(const ws101_ws *ws);
/** Returns the request path the connection was opened on. */
WS101_EXTERN const char *ws101_ws_path(const ws101_ws *ws);
/** Returns the peer address ("ip:port"). */
WS101_EXTERN const char *ws101_ws_remote_addr(const ws101_ws *ws);
/** Returns the loop of the connection. */
WS101_EXTERN ws101_loop *ws101_ws_loop(const ws101_ws *ws);
/** Returns the user-space bytes this connection holds (state, queues,
 *  compression streams) for memory accounting. */
WS101_EXTERN size_t ws101_ws_memory(const ws101_ws *ws);

/**
 * Takes a reference so the handle outlives its WS101_WS_CLOSE event, for
 * use with ws101_ws_post_send from other threads. Loop thread only.
 */
WS101_EXTERN void ws101_ws_ref(ws101_ws *ws);
/** Thread-safe. Drops a reference taken with ws101_ws_ref. */
WS101_EXTERN void ws101_ws_unref(ws101_ws *ws);

/**
 * Thread-safe. Copies `data` and queues a ws101_ws_send of it on the loop
 * thread. The caller must hold a reference (ws101_ws_ref) or otherwise know
 * the handle is alive. Returns 0, WS101_EINVAL, WS101_EUTF8 (invalid text)
 * or WS101_ENOMEM. A send that later fails on the loop is never lost
 * unseen: if the connection is already closing or closed it is dropped (the
 * WS101_WS_CLOSE event tells), otherwise the connection is closed, with
 * 1008 when the send was refused with WS101_EBACKPRESSURE and 1011 for any
 * other refusal (such as a fragmented send still open); a client still
 * connecting gives up the attempt (WS101_WS_ERROR, then WS101_WS_CLOSE).
 */
WS101_EXTERN int ws101_ws_post_send(ws101_ws *ws, const char *data,
                                    size_t len, int opcode);

/* ------------------------------------------------------------------------ */
/* HTTP/2                                                                   */
/* ------------------------------------------------------------------------ */

/*
 * A server speaks HTTP/2 (RFC 9113, through libnghttp2) besides HTTP/1.1 on
 * the same port, with the same routes and handlers; ws101_req_http_version
 * returns 20 on an HTTP/2 stream. The ways in (WS101_OPT_HTTP2 turns them
 * all off):
 *
 * - Prior knowledge: a connection whose first bytes are the HTTP/2 client
 *   preface is HTTP/2 from its first byte.
 * - h2c upgrade (RFC 7540 3.2, WS101_OPT_H2C): an HTTP/1.1 request with
 *   `Upgrade: h2c`, `Connection: Upgrade, HTTP2-Settings` and one valid
 *   `HTTP2-Settings` gets `101 Switching Protocols`; the request (with its
 *   body, read first within WS101_OPT_MAX_BODY) is then stream 1 and is
 *   answered over HTTP/2. A malformed HTTP2-Settings gets 400. When Upgrade
 *   lists `websocket` too, the WebSocket wins: the request stays HTTP/1.1.
 * - WebSockets over HTTP/2 (RFC 8441): a server with a WebSocket route
 *   announces SETTINGS_ENABLE_CONNECT_PROTOCOL; an extended CONNECT with
 *   `:protocol websocket` is a WebSocket upgrade (ws101_req_is_websocket
 *   is 1, ws101_req_accept_websocket answers 200 on the stream), and the
 *   resulting ws101_ws behaves exactly as one from a 101, permessage-deflate
 *   included. Each stream's flow-control window is its backpressure: a
 *   WebSocket that pauses, or a streaming handler that does not read yet,
 *   stops its own sender, never the connection's other streams.
 *
 * Each stream is its own output queue: ws101_req_write on a stream whose
 * unsent body (held back by the stream's flow-control window or the
 * connection's output) is at or above WS101_OPT_OUTPUT_BUFFER_LIMIT
 * returns WS101_EBACKPRESSURE, and ws101_req_on_drain's callback fires
 * once that stream's queue has left, as on HTTP/1.1; with
 * WS101_BACKPRESSURE_CLOSE only that stream is reset (RST_STREAM CANCEL),
 * not the connection. A stream whose queued body makes no progress for
 * WS101_OPT_SEND_TIMEOUT_MS while the connection itself can still send
 * (a peer that never sends WINDOW_UPDATE for it) is reset with CANCEL and
 * its handler gets the abort callback; the connection and its other
 * streams go on.
 *
 * Response headers are sent lowercase; the connection-specific ones
 * (Connection, Upgrade, Keep-Alive, Transfer-Encoding) are dropped. Limits
 * are the HTTP/1.1 ones where they apply (WS101_OPT_MAX_HEADER_BYTES is
 * SETTINGS_MAX_HEADER_LIST_SIZE and is counted on decoded fields, more gets
 * 431; WS101_OPT_MAX_BODY gives 413) plus WS101_OPT_H2_*. Floods (PING,
 * SETTINGS, RST_STREAM/rapid reset, CONTINUATION, empty frames) end the
 * offending connection with GOAWAY, others untouched. ws101_server_close
 * sends GOAWAY with the last stream id and lets open streams finish.
 */

/** Counts HTTP/2 activity on `server` since it was created: connections
 *  that became HTTP/2 (`conns`), request streams (`streams`) and, among
 *  them, WebSockets over HTTP/2 (`websockets`). Any pointer may be NULL.
 *  Returns 0, or WS101_EINVAL if server is NULL. */
WS101_EXTERN int ws101_server_h2_stats(const ws101_server *server,
                                       uint64_t *conns, uint64_t *streams,
                                       uint64_t *websockets);

/* ------------------------------------------------------------------------ */
/* Pub/sub: topics, worker threads, the Redis backplane                     */
/* ------------------------------------------------------------------------ */

/*
 * A server connection subscribes to named topics; ws101_server_publish()
 * sends a message to every connection subscribed to a topic. The message is
 * framed once (and, for connections in WS101_DEFLATE_SHARED mode, deflated
 * once), and the same bytes are queued to each subscriber. A connection
 * with its own context-takeover compressor (WS101_DEFLATE_DEDICATED) still
 * has its copy compressed by its own stream, since that stream's state is
 * its alone.
 *
 * Each subscriber has its own output queue, so a slow subscriber never
 * holds up the others: when a published message would take its queue past
 * WS101_OPT_WS_MAX_BACKPRESSURE, its WS101_OPT_WS_BACKPRESSURE_POLICY
 * decides. WS101_BACKPRESSURE_CLOSE drops the subscriber (close 1008,
 * counted as WS101_PUBSUB_DROPPED); any other policy skips this message
 * for it alone (WS101_PUBSUB_SKIPPED) and it receives later messages once
 * its queue has room. A subscriber in the middle of a fragmented send
 * (ws101_ws_send_fragment) skips the message too: a data frame cannot go
 * between fragments.
 *
 * Topics are scoped to a server, or to the group of servers made by
 * ws101_workers_new(), where a publish on any worker reaches subscribers
 * on every worker, and with ws101_redis_attach() to every process attached
 * to the same Redis. Subscriptions end with the connection (before its
 * WS101_WS_CLOSE event). Topic names are 1 to 1024 bytes of any value but
 * NUL; they are compared byte for byte.
 */

/**
 * Subscribes a server-side connection to `topic`. Returns 1 if it was
 * added, 0 if the connection was already subscribed, WS101_EINVAL (NULL,
 * empty or longer than 1024 bytes), WS101_ENOTSUP (a client connection),
 * WS101_ECLOSED (the connection is closing or closed) or WS101_ENOMEM.
 */
WS101_EXTERN int ws101_ws_subscribe(ws101_ws *ws, const char *topic);

/**
 * Ends a subscription. Returns 1 if the connection was subscribed to
 * `topic`, 0 if it was not, or WS101_EINVAL.
 */
WS101_EXTERN int ws101_ws_unsubscribe(ws101_ws *ws, const char *topic);

/** Returns 1 if the connection is subscribed to `topic`, 0 otherwise. */
WS101_EXTERN int ws101_ws_is_subscribed(const ws101_ws *ws,
                                        const char *topic);

/** Returns the number of topics the connection is subscribed to. */
WS101_EXTERN size_t ws101_ws_subscription_count(const ws101_ws *ws);

/**
 * Returns the server that accepted this connection, or NULL for a client
 * connection and once the connection is closed: the server to publish to
 * from a WebSocket handler, whichever worker it runs on.
 */
WS101_EXTERN ws101_server *ws101_ws_server(const ws101_ws *ws);

/**
 * Publishes a message (WS101_OP_TEXT, valid UTF-8, or WS101_OP_BINARY) to
 * every connection subscribed to `topic`: at once to this server's
 * subscribers, and through ws101_loop_post() to the other workers' if the
 * server belongs to a ws101_workers group, and to Redis if a backplane is
 * attached (never back to this process from there). `data` is not kept.
 * The publisher's own connection receives the message too if it is
 * subscribed. Returns the number of this server's subscribers the message
 * was queued to (0 or more; skipped and dropped ones are not counted), or
 * WS101_EINVAL (bad topic, opcode or arguments), WS101_EUTF8 or
 * WS101_ENOMEM.
 */
WS101_EXTERN int ws101_server_publish(ws101_server *server, const char *topic,
                                      const char *data, size_t len,
                                      int opcode);

/** Returns the number of this server's connections subscribed to `topic`
 *  (other workers and nodes are not counted). */
WS101_EXTERN size_t ws101_server_subscribers(const ws101_server *server,
                                             const char *topic);

/** Counters for ws101_server_pubsub_stat(). */
typedef enum ws101_pubsub_stat {
  /** Topics with at least one subscriber on this server. */
  WS101_PUBSUB_TOPICS = 1,
  /** Subscriptions (connection, topic pairs) on this server. */
  WS101_PUBSUB_SUBSCRIPTIONS = 2,
  /** Messages published with ws101_server_publish on this server. */
  WS101_PUBSUB_PUBLISHED = 3,
  /** Messages queued to this server's subscribers (one per subscriber). */
  WS101_PUBSUB_DELIVERED = 4,
  /** Deliveries skipped because the subscriber's queue was full or a
   *  fragmented send was open. */
  WS101_PUBSUB_SKIPPED = 5,
  /** Subscribers closed (1008) by WS101_BACKPRESSURE_CLOSE. */
  WS101_PUBSUB_DROPPED = 6,
  /** Messages that arrived from other workers or from Redis. */
  WS101_PUBSUB_RECEIVED = 7,
  /** Bytes of pub/sub bookkeeping (topic and subscriber tables). */
  WS101_PUBSUB_MEMORY = 8
} ws101_pubsub_stat;

/** Returns a counter of this server's pub/sub (0 for an unknown `which`). */
WS101_EXTERN uint64_t ws101_server_pubsub_stat(const ws101_server *server,
                                               int which);

/** N servers on N loops in N threads, sharing topics. */
typedef struct ws101_workers ws101_workers;

/**
 * Called once per worker, on the thread calling ws101_workers_new(), to
 * set the worker's server up (routes, handlers) before it runs. Returns 0,
 * or a negative code that makes ws101_workers_new() fail with it.
 */
typedef int (*ws101_workers_setup_cb)(ws101_server *server, int index,
                                      void *user_data);

/**
 * Creates `n` workers (1..256), each a loop and a server with options
 * `opts` (may be NULL), and calls `setup` for each so that every worker
 * has the same routes and handlers. Nothing runs until
 * ws101_workers_start(). Returns 0, WS101_EINVAL, WS101_ENOMEM or the
 * first error `setup` returned (then everything is freed).
 */
WS101_EXTERN int ws101_workers_new(int n, const ws101_options *opts,
                                   ws101_workers_setup_cb setup,
                                   void *user_data, ws101_workers **out);

/**
 * Makes every worker listen on `host`:`port` (0 picks a free port, the
 * same for all) with its own SO_REUSEPORT socket, so the kernel spreads
 * connections over the workers. Where SO_REUSEPORT is refused, the workers
 * share one listening socket instead. Call before ws101_workers_start().
 * Returns 0, WS101_EINVAL, WS101_ESTATE (already started),
 * WS101_EADDRINUSE, WS101_EADDRNOTAVAIL or WS101_EIO.
 */
WS101_EXTERN int ws101_workers_listen(ws101_workers *w, const char *host,
                                      int port);

/** Returns the port the workers listen on, or WS101_ESTATE if none. */
WS101_EXTERN int ws101_workers_port(const ws101_workers *w);

/** Returns the number of workers. */
WS101_EXTERN int ws101_workers_count(const ws101_workers *w);

/** Returns worker `index`'s server (NULL if out of range). Before
 *  ws101_workers_start() it may be used from the creating thread; after,
 *  only from that worker's own callbacks. */
WS101_EXTERN ws101_server *ws101_workers_server(ws101_workers *w, int index);

/** Returns worker `index`'s loop (NULL if out of range); ws101_loop_post()
 *  to it is the way to reach a running worker from another thread. */
WS101_EXTERN ws101_loop *ws101_workers_loop(ws101_workers *w, int index);

/**
 * Starts one thread per worker, each running its loop. Returns 0,
 * WS101_ESTATE (already started) or WS101_EIO (a thread could not start;
 * the started ones are stopped and joined).
 */
WS101_EXTERN int ws101_workers_start(ws101_workers *w);

/**
 * Thread-safe. Asks every worker to close its server gracefully (WebSockets
 * get 1001); each worker's thread ends when its server is closed. Returns
 * 0 or WS101_EINVAL. Calling it again is harmless.
 */
WS101_EXTERN int ws101_workers_stop(ws101_workers *w);

/**
 * Waits for every worker thread to end (after ws101_workers_stop(), or
 * when a worker has nothing left to do), then frees the loops, servers and
 * the backplane. Not from a worker thread. Returns 0 or WS101_EINVAL.
 */
WS101_EXTERN int ws101_workers_free(ws101_workers *w);

/** A Redis backplane attached with ws101_redis_attach(). */
typedef struct ws101_redis ws101_redis;

/** Events of a Redis backplane, passed as `event` to ws101_redis_cb. */
typedef enum ws101_redis_event {
  /** Connected and subscribed: messages flow both ways from now on. */
  WS101_REDIS_UP = 1,
  /** The connection was lost or could not be made (`data` says why); a
   *  reconnect is scheduled in `arg` milliseconds. Messages published
   *  meanwhile reach this process only. */
  WS101_REDIS_DOWN = 2
} ws101_redis_event;

/** Receives backplane events on the loop thread of the server it was
 *  attached to. `data` (NUL-terminated) is valid during the call only. */
typedef void (*ws101_redis_cb)(ws101_redis *r, int event, const char *data,
                               int arg, void *user_data);

/**
 * Attaches a Redis pub/sub backplane to `server` and, if it is a worker,
 * to its whole group: then every message published here is also sent to
 * Redis (once per message), and every message another process publishes
 * through the same Redis and `channel_prefix` (NULL for "ws101:") reaches
 * the subscribers here. Messages are tagged with a random node id, so a
 * process never delivers its own message twice. The connection runs on
 * the server's loop and never keeps it alive by itself; when Redis goes
 * away it reconnects with exponential backoff (100 ms doubling to 5 s; an
 * attempt not answered within 3 s counts as failed), reporting each
 * failure as WS101_REDIS_DOWN and the recovery as WS101_REDIS_UP through
 * `cb` (may be NULL). `url` is "redis://HOST:PORT" (an IP address or "localhost";
 * the port defaults to 6379). Call on the server's loop thread, or for
 * workers before ws101_workers_start(). The backplane lives as long as the
 * server (or the workers). `out` may be NULL. Returns 0, WS101_EINVAL
 * (bad arguments), WS101_EURL, WS101_ESTATE (one is already attached),
 * WS101_ENOMEM, or WS101_ENOTSUP when the library was built without
 * hiredis.
 */
WS101_EXTERN int ws101_redis_attach(ws101_server *server, const char *url,
                                    const char *channel_prefix,
                                    ws101_redis_cb cb, void *user_data,
                                    ws101_redis **out);

/** Returns 1 while the backplane is connected and subscribed, else 0. */
WS101_EXTERN int ws101_redis_connected(const ws101_redis *r);

/* ------------------------------------------------------------------------ */
/* Clients                                                                  */
/* ------------------------------------------------------------------------ */

/**
 * Opens a WebSocket client connection to `url` ("ws://host[:port]/path?q").
 * Resolves the name asynchronously, connects, sends the upgrade with a fresh
 * random key, offers the subprotocols, headers and permessage-deflate from
 * `opts` (may be NULL), and verifies the 101. Events go to `cb`: OPEN, then
 * messages; or ERROR then CLOSE on failure. Returns 0, WS101_EINVAL,
 * WS101_EURL or WS101_ENOMEM (then `cb` is never called). `out` may be NULL.
 */
WS101_EXTERN int ws101_ws_connect(ws101_loop *loop, const char *url,
                                  const ws101_options *opts, ws101_ws_cb cb,
                                  void *user_data, ws101_ws **out);

/** Client: the HTTP status of the handshake response (101 on success), or 0
 *  if none was received. */
WS101_EXTERN int ws101_ws_response_status(const ws101_ws *ws);
/** Client: a header of the handshake response, or NULL. Valid during the
 *  OPEN or ERROR event. */
WS101_EXTERN const char *ws101_ws_response_header(const ws101_ws *ws,
                                                  const char *name);

/** HTTP client events, passed as `event` to ws101_fetch_cb. */
typedef enum ws101_fetch_event {
  /** The response head arrived: read it with ws101_fetch_status / _header. */
  WS101_FETCH_RESPONSE = 1,
  /** A piece of the response body. */
  WS101_FETCH_BODY = 2,
  /** The response is complete. Last event; the handle is freed after it. */
  WS101_FETCH_DONE = 3,
  /** The exchange failed: arg is a negative WS101_E* code, data a message.
   *  Last event; the handle is freed after it. */
  WS101_FETCH_ERROR = 4,
  /** The request's output queue emptied after data had to wait (see
   *  ws101_fetch_buffered): write more of a streamed body now. */
  WS101_FETCH_DRAIN = 5
} ws101_fetch_event;

/** Receives the events of an HTTP client exchange. */
typedef void (*ws101_fetch_cb)(ws101_fetch *f, int event, const char *data,
                               size_t len, int arg, void *user_data);

/**
 * Prepares an HTTP request `method` `url` ("http://host[:port]/path?q").
 * Add headers with ws101_fetch_add_header, then send with ws101_fetch_send
 * (whole body) or ws101_fetch_write + ws101_fetch_end (streamed, chunked
 * unless a Content-Length header was added). Connections to the same origin
 * are kept alive and reused. Returns 0, WS101_EINVAL, WS101_EURL or
 * WS101_ENOMEM (then `cb` is never called).
 */
WS101_EXTERN int ws101_fetch_new(ws101_loop *loop, const char *method,
                                 const char *url, const ws101_options *opts,
                                 ws101_fetch_cb cb, void *user_data,
                                 ws101_fetch **out);
/** Adds a request header. Returns 0, WS101_EINVAL, WS101_ESTATE (already
 *  sending) or WS101_ENOMEM. */
WS101_EXTERN int ws101_fetch_add_header(ws101_fetch *f, const char *name,
                                        const char *value);
/** Sends the request with a complete body (`body` may be NULL with len 0).
 *  Returns 0, WS101_ESTATE or WS101_ENOMEM. */
WS101_EXTERN int ws101_fetch_send(ws101_fetch *f, const char *body,
                                  size_t len);
/** Streams part of the request body (starting the request). A write on a
 *  queue at or above WS101_OPT_OUTPUT_BUFFER_LIMIT is not queued. Returns
 *  0, WS101_ESTATE, WS101_ENOMEM or WS101_EBACKPRESSURE (retry on
 *  WS101_FETCH_DRAIN). */
WS101_EXTERN int ws101_fetch_write(ws101_fetch *f, const char *data,
                                   size_t len);
/** Ends a streamed request body. Returns 0 or WS101_ESTATE. */
WS101_EXTERN int ws101_fetch_end(ws101_fetch *f);
/** Cancels the exchange: WS101_FETCH_ERROR with WS101_ECANCELED follows.
 *  Returns 0 or WS101_ECLOSED. */
WS101_EXTERN int ws101_fetch_cancel(ws101_fetch *f);
/** Returns the response status, or 0 before WS101_FETCH_RESPONSE. */
WS101_EXTERN int ws101_fetch_status(const ws101_fetch *f);
/** Returns the HTTP version the response came in: 10 or 11 (HTTP/1.x),
 *  20 (HTTP/2: prior knowledge, an accepted h2c upgrade, or ALPN h2 on
 *  https://), or 0 before WS101_FETCH_RESPONSE or if f is NULL. */
WS101_EXTERN int ws101_fetch_http_version(const ws101_fetch *f);
/** Returns a response header (case-insensitive) or NULL; valid until the
 *  last event. */
WS101_EXTERN const char *ws101_fetch_header(const ws101_fetch *f,
                                            const char *name);
/** Returns the number of response headers. */
WS101_EXTERN size_t ws101_fetch_header_count(const ws101_fetch *f);
/** Returns the name of response header `i`, or NULL. */
WS101_EXTERN const char *ws101_fetch_header_name(const ws101_fetch *f,
                                                 size_t i);
/** Returns the value of response header `i`, or NULL. */
WS101_EXTERN const char *ws101_fetch_header_value(const ws101_fetch *f,
                                                  size_t i);
/** Attaches an application pointer to the exchange. */
WS101_EXTERN void ws101_fetch_set_user_data(ws101_fetch *f, void *user_data);
/** Returns the pointer set with ws101_fetch_set_user_data. */
WS101_EXTERN void *ws101_fetch_get_user_data(const ws101_fetch *f);

/* ------------------------------------------------------------------------ */
/* TLS                                                                      */
/* ------------------------------------------------------------------------ */
/*
 * TLS (OpenSSL, TLS 1.2 minimum, OpenSSL's default cipher suites) is a layer
 * of the transport: HTTP/1.1 and WebSocket behave the same over it. A
 * server serves https:// and wss:// on the ports opened with
 * ws101_server_listen_tls, using the certificates of its options; clients
 * speak TLS for https:// and wss:// URLs, verifying the server against the
 * system's CA store (or ws101_options_set_tls_ca) and the URL's host name
 * (IP-address URLs against IP SANs). ALPN offers "http/1.1".
 *
 * Calls that fail because of OpenSSL return WS101_ETLS; the reason (for
 * instance "certificate verify failed: unable to get local issuer
 * certificate" or "no such file: cert.pem") is then available from
 * ws101_tls_last_error(). Client handshake failures carry the same text as
 * the message of WS101_FETCH_ERROR / WS101_WS_ERROR.
 *
 * Client connections (HTTP/1.1 keep-alive and HTTP/2 alike) are reused
 * only by requests to the same origin with the same TLS settings (CA file
 * and directory, WS101_OPT_TLS_INSECURE_SKIP_VERIFY): a request that
 * verifies never rides a connection that was opened without verifying or
 * verified against other CAs.
 */

/** Values of `flags` for ws101_options_add_tls_cert. */
enum {
  /** `cert` and `key` are paths of PEM files. */
  WS101_TLS_PEM_FILES = 0,
  /** `cert` and `key` are PEM text in memory (NUL-terminated). */
  WS101_TLS_PEM_DATA = 1
};

/**
 * Server: adds a certificate chain (leaf first, then intermediates) and its
 * private key. With `host_name` NULL it is the default certificate, sent
 * when the client names no host or one without its own entry; with a name
 * ("example.com", or "*.example.com" for any one label) it is chosen when
 * the client's SNI matches (case-insensitive). Adding the default or the
 * same name twice replaces the earlier entry. The files or text are read
 * when a TLS listener opens (ws101_server_listen_tls) or reloads
 * (ws101_server_reload_tls), not here. Returns 0, WS101_EINVAL (NULL
 * cert or key, bad flags, empty or non-ASCII host name) or WS101_ENOMEM.
 */
WS101_EXTERN int ws101_options_add_tls_cert(ws101_options *opts,
                                            const char *host_name,
                                            const char *cert, const char *key,
                                            int flags);

/**
 * Sets the certificates trusted for verifying the peer: a PEM file of CA
 * certificates and/or a directory in OpenSSL's hashed format (either may be
 * NULL; both NULL restores the default). Client default: the system's CA
 * store. Server: the CAs client certificates must chain to (see
 * WS101_OPT_TLS_CLIENT_CERT). Read when a connection or listener needs
 * them. Returns 0, WS101_EINVAL or WS101_ENOMEM.
 */
WS101_EXTERN int ws101_options_set_tls_ca(ws101_options *opts,
                                          const char *ca_file,
                                          const char *ca_dir);

/**
 * Opens a TLS listener on `host`:`port` (0 picks a free port), serving the
 * server's routes over https:// and wss:// with the certificates of the
 * options the server was created with. One server may have plain and TLS
 * listeners side by side. The handshake counts against
 * WS101_OPT_HEADER_TIMEOUT_MS. Returns 0, WS101_EINVAL, WS101_ETLS (no
 * certificate, unreadable or mismatched certificate and key: see
 * ws101_tls_last_error), WS101_EADDRINUSE, WS101_EADDRNOTAVAIL or
 * WS101_ENOMEM.
 */
WS101_EXTERN int ws101_server_listen_tls(ws101_server *server,
                                         const char *host, int port);

/**
 * Returns the local port of the first TLS listener opened (what port 0
 * picked), or WS101_ESTATE if there is none, or WS101_EINVAL.
 */
WS101_EXTERN int ws101_server_tls_port(const ws101_server *server);

/**
 * Replaces the TLS configuration of every TLS listener of `server` with the
 * certificates, CA and WS101_OPT_TLS_* values of `opts`, without closing
 * anything: handshakes that start afterwards use the new certificates,
 * connections already open keep theirs. This is how renewed (e.g. ACME)
 * certificates are rotated in. If anything fails the old configuration
 * stays. Returns 0, WS101_EINVAL, WS101_ETLS (see ws101_tls_last_error) or
 * WS101_ENOMEM.
 */
WS101_EXTERN int ws101_server_reload_tls(ws101_server *server,
                                         const ws101_options *opts);

/**
 * Returns the reason of the last WS101_ETLS returned by a ws101 call on
 * this thread (OpenSSL's reason string, with context), or "" if none. The
 * string is per thread and valid until the next failing call. Never NULL.
 */
WS101_EXTERN const char *ws101_tls_last_error(void);

/**
 * Returns the TLS version of the connection the request came on
 * ("TLSv1.2", "TLSv1.3"), or NULL if it is plain TCP.
 */
WS101_EXTERN const char *ws101_req_tls_version(const ws101_req *req);

/**
 * Returns the subject of the client certificate the peer presented and
 * that was verified (RFC 2253 form, e.g. "CN=alice,O=Example"), or NULL if
 * there is none (plain TCP, no client certificate, or the connection is
 * already gone). Valid while the request's connection is open.
 */
WS101_EXTERN const char *ws101_req_tls_peer_subject(const ws101_req *req);

/**
 * Like ws101_req_tls_peer_subject for a server-side WebSocket; NULL on
 * client connections and without a verified client certificate. Valid for
 * the life of the handle.
 */
WS101_EXTERN const char *ws101_ws_tls_peer_subject(const ws101_ws *ws);

#ifdef __cplusplus
}
#endif
#endif /* WS101_H */

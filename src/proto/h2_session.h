/* h2_session.h - sans-I/O HTTP/2 connection over libnghttp2.
 *
 * nghttp2 does the framing, HPACK, flow control and stream states; this
 * adapter gives it our shape: bytes in (ws101__h2_recv), bytes out
 * (ws101__h2_send), and a few events per stream with its head already
 * turned into the ws101__h1_head that requests and responses use for
 * HTTP/1.1. It never does I/O and never reads a clock (the caller passes
 * the time), so it is tested byte by byte and fuzzed.
 *
 * What it adds to nghttp2, and why:
 * - SETTINGS defaults (concurrent streams, windows, header list size,
 *   ENABLE_CONNECT_PROTOCOL for RFC 8441) from one settings struct.
 * - Header limits counted on the *decoded* fields (RFC 7541 size: name +
 *   value + 32), so an HPACK bomb (a few bytes that index a big dynamic
 *   table entry many times) is bounded like a plain oversized head. An
 *   over-limit head is still decoded (HPACK state must stay in sync) but
 *   not stored, and reported as status 431.
 * - Flood limits nghttp2 1.52 does not have: a leaky bucket over the
 *   frames that cost us work without carrying a request (PING, SETTINGS,
 *   PRIORITY, WINDOW_UPDATE, empty DATA, RST_STREAM); exceeding it ends
 *   the connection with GOAWAY ENHANCE_YOUR_CALM.
 * - What Debian's libnghttp2 1.52.0-1+deb12u3 already mitigates is turned
 *   on explicitly so a different build cannot silently drop it: rapid
 *   reset (CVE-2023-44487, stream_reset_rate_limit), CONTINUATION flood
 *   (CVE-2024-28182, max_continuations), unanswered PING/SETTINGS ACK
 *   queues (max_outbound_ack), oversized SETTINGS (max_settings).
 * - Receive windows are consumed by the caller (ws101__h2_consume) when it
 *   has really taken the bytes, so a slow reader stops its own stream's
 *   sender and not the connection.
 */
#ifndef WS101_H2_SESSION_H
#define WS101_H2_SESSION_H

#include "proto/buf.h"
#include "proto/h2_check.h"
#include "proto/http1_parser.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct ws101__h2 ws101__h2;
typedef struct ws101__h2_stream ws101__h2_stream;

/* The client connection preface, sent before any frame. */
#define WS101__H2_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define WS101__H2_PREFACE_LEN 24

typedef struct ws101__h2_settings {
  uint32_t max_concurrent_streams; /* SETTINGS_MAX_CONCURRENT_STREAMS */
  uint32_t stream_window;          /* SETTINGS_INITIAL_WINDOW_SIZE */
  uint32_t conn_window;            /* connection receive window */
  uint32_t max_header_list;        /* SETTINGS_MAX_HEADER_LIST_SIZE */
  uint32_t max_headers;            /* most fields in one head */
  int enable_connect_protocol;     /* RFC 8441 (server) */
  /* Flood bucket: `flood_burst` cheap frames at once, refilled at
   * `flood_rate` per second. */
  uint32_t flood_burst, flood_rate;
} ws101__h2_settings;

/* Fills `s` with the defaults: 100 streams, 256 KiB stream window, 1 MiB
 * connection window, 16 KiB header list, 100 fields, no extended CONNECT,
 * a flood bucket of 1000 frames refilled at 100/s. */
void ws101__h2_settings_defaults(ws101__h2_settings *s);

/* One stream as the adapter keeps it. The caller may use `user`. */
struct ws101__h2_stream {
  int32_t id;
  void *user;
  /* The received head: strings point into `hbuf`, valid until the stream
   * is closed (on_close returns). */
  ws101__h1_head head;
  ws101__buf hbuf;
  ws101__h1_header *fields;
  size_t nfields, fields_cap;
  size_t list_size;     /* RFC 7541 size of the head so far */
  int head_status;      /* 0, or 431 when a limit was passed */
  int ended;            /* peer sent END_STREAM */
  int has_source;       /* we submitted a body with a data source */
  int in_list;          /* linked in the session's list */
  const char *protocol; /* ":protocol" of an extended CONNECT, or NULL */
  /* While the head arrives: where the pseudo-headers' values are in hbuf
   * (offset + 1; 0 = not seen), by WS101__H2K_METHOD.. STATUS, and which
   * fields are Host, Content-Length and Expect (index + 1), as h2_check
   * found them, so finish_head compares no name again. */
  uint32_t pv_at[5], pv_len[5];
  uint32_t host_ix, cl_ix, expect_ix;
  /* Server: our RFC 9113 checks of the request (nghttp2's are off), and
   * whether they reset the stream (it is then ignored until it closes). */
  ws101__h2_check chk;
  int rejected;
  ws101__h2_stream *prev, *next;
};

/* Events. Every callback runs inside ws101__h2_recv or ws101__h2_send. */
typedef struct ws101__h2_cbs {
  /* A head (request on a server, response on a client) is complete;
   * `st->head_status` is 431 when it was too big (fields then empty).
   * Trailers are not reported. Return nonzero to reset the stream. */
  int (*on_head)(void *ud, ws101__h2_stream *st);
  /* Body bytes of `st`. Call ws101__h2_consume once they are taken. */
  void (*on_data)(void *ud, ws101__h2_stream *st, const char *data,
                  size_t len);
  /* The peer ended its side of `st` (END_STREAM). */
  void (*on_end)(void *ud, ws101__h2_stream *st);
  /* `st` is closed (`err` is the HTTP/2 error code, 0 = NO_ERROR). The
   * stream memory goes after this returns. */
  void (*on_close)(void *ud, ws101__h2_stream *st, uint32_t err);
  /* Outbound body of `st`: copy up to `max` bytes into `buf`, return how
   * many, and set *eof when the body ends after them; return
   * WS101__H2_DEFER when nothing is ready (then ws101__h2_resume). */
  ssize_t (*read_body)(void *ud, ws101__h2_stream *st, char *buf, size_t max,
                       int *eof);
} ws101__h2_cbs;

#define WS101__H2_DEFER (-1)

/* A name/value pair to send; lengths exclude any NUL. Names lowercase. */
typedef struct ws101__h2_field {
  const char *name;
  size_t name_len;
  const char *value;
  size_t value_len;
} ws101__h2_field;

/* Creates a server (is_server = 1) or client session and queues our
 * SETTINGS. Returns 0, WS101_ENOMEM or WS101_EINVAL. */
int ws101__h2_new(ws101__h2 **out, int is_server, const ws101__h2_settings *s,
                  const ws101__h2_cbs *cbs, void *ud);
/* Frees the session; on_close is called for every open stream first. */
void ws101__h2_free(ws101__h2 *h);

/* Feeds bytes from the peer at time `now_ms` (any monotonic clock).
 * Returns 0, or WS101_EPROTO when the connection must end: a GOAWAY is
 * then queued, so drain ws101__h2_send before closing. */
int ws101__h2_recv(ws101__h2 *h, const char *data, size_t len,
                   uint64_t now_ms);

/* Returns the next bytes to send in *out and their length; 0 when there
 * is nothing to send; WS101_EPROTO on a fatal session error. Small frames
 * come several at once, from a buffer of the thread: *out is valid until
 * the next ws101__h2_send of any session of this thread, so copy it (or
 * write it) before calling again. Call until it returns 0. */
ssize_t ws101__h2_send(ws101__h2 *h, const char **out);

/* 1 while the session still wants to read or write, 0 when it is done
 * (both sides sent GOAWAY, or a fatal error, with no streams left). */
int ws101__h2_alive(const ws101__h2 *h);
/* Open streams. */
size_t ws101__h2_nstreams(const ws101__h2 *h);

/* Server: answers `st` with `status` and `fields`; `has_body` attaches
 * the read_body source, else the HEADERS frame ends the stream. Values
 * are copied; names are not (NGHTTP2_NV_FLAG_NO_COPY_NAME, one copy less
 * per header): they must stay valid until `st` is closed (on_close),
 * which constants and the request's response-header buffer do. */
int ws101__h2_respond(ws101__h2 *h, ws101__h2_stream *st, int status,
                      const ws101__h2_field *fields, size_t n, int has_body);
/* Client: opens a stream with the request `fields` (pseudo-headers
 * first); *out receives it. `user` is stored in it before any event. */
int ws101__h2_request(ws101__h2 *h, const ws101__h2_field *fields, size_t n,
                      int has_body, void *user, ws101__h2_stream **out);
/* The read_body source of `st` has data again. */
void ws101__h2_resume(ws101__h2 *h, ws101__h2_stream *st);
/* `n` received body bytes of `st` are taken: reopen that much window. */
void ws101__h2_consume(ws101__h2 *h, ws101__h2_stream *st, size_t n);
/* Resets `st` with the HTTP/2 error code `err` (on_close follows). */
void ws101__h2_reset(ws101__h2 *h, ws101__h2_stream *st, uint32_t err);
/* Graceful end: GOAWAY(NO_ERROR) with the last stream id we processed;
 * streams already open finish. */
void ws101__h2_goaway(ws101__h2 *h);
/* The stream with this id, or NULL. */
ws101__h2_stream *ws101__h2_find(ws101__h2 *h, int32_t id);
/* Peer's SETTINGS_ENABLE_CONNECT_PROTOCOL (client side), meaningful once
 * ws101__h2_peer_settings_seen says its first SETTINGS arrived. */
int ws101__h2_peer_connect_protocol(const ws101__h2 *h);
int ws101__h2_peer_settings_seen(const ws101__h2 *h);

/* h2c (RFC 7540 3.2). Decodes an HTTP2-Settings value (base64url, no
 * padding) into `out` (capacity `cap`). Returns the payload length, or -1
 * when the value is not base64url, not a whole number of 6-byte settings,
 * or holds an invalid setting value (a 400). */
int ws101__h2_decode_settings(const char *b64, size_t len, uint8_t *out,
                              size_t cap);
/* Server: takes the upgrading request as stream 1, its head copied from
 * `head` (method, target, Host, fields) and half-closed on the client
 * side. `payload` is the decoded HTTP2-Settings. *out = stream 1. */
int ws101__h2_upgrade(ws101__h2 *h, const uint8_t *payload, size_t len,
                      const ws101__h1_head *head, ws101__h2_stream **out);
/* Client: stream 1 after our 101 was accepted. */
int ws101__h2_upgrade_client(ws101__h2 *h, const uint8_t *payload, size_t len,
                             int head_request, void *user,
                             ws101__h2_stream **out);
/* Encodes our SETTINGS as an HTTP2-Settings value (NUL-terminated) into
 * buf; fills payload/plen with the raw bytes for upgrade_client. Returns
 * the value length or -1 if `cap` is too small. */
int ws101__h2_settings_header(const ws101__h2_settings *s, char *buf,
                              size_t cap, uint8_t *payload, size_t *plen);

/* Whether data[0..len) starts with the client preface: 1 yes, 0 it is a
 * prefix of it so far (need more bytes), -1 no. */
int ws101__h2_is_preface(const char *data, size_t len);

#endif

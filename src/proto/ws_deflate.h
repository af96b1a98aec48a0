/* ws_deflate.h - permessage-deflate (RFC 7692): negotiation and the
 * per-message compressor/decompressor.
 *
 * Sans-I/O: the frame engine hands us payload bytes and caller-owned output
 * buffers; nothing here knows about sockets or the loop.
 *
 * Memory models (WS101_OPT_DEFLATE_MEMORY):
 *  - DEDICATED: each connection owns its zlib streams (created lazily on first
 *    use), so context takeover works and compression is best.
 *  - SHARED: the server answers server_no_context_takeover and
 *    client_no_context_takeover (the client offers both), so every message
 *    starts from an empty window and one deflate + one inflate stream per
 *    loop (ws101__pmd_shared) can serve every connection, reset per message.
 *    A connection then holds only its small ws101__pmd struct.
 *
 * Window bits: zlib refuses windowBits 8 for raw deflate streams, so when 8
 * is agreed for our compressor we use 9. That is still correct for a peer
 * whose inflater has a 256-byte window: zlib never emits a distance above
 * window size - 262 (MIN_LOOKAHEAD), i.e. 250 with a 512-byte window.
 */
#ifndef WS101_WS_DEFLATE_H
#define WS101_WS_DEFLATE_H

#include "proto/buf.h"
#include "core/options.h"

#include <stddef.h>
#include <stdint.h>

/* The longest response value ws101__pmd_server_negotiate can write, NUL
 * included: a resp buffer of this size never makes it decline. */
#define WS101__PMD_RESP_MAX 160

typedef struct ws101__pmd_params {
  uint8_t server_no_context_takeover, client_no_context_takeover;
  /* 8..15 as agreed; 15 when not limited. */
  uint8_t server_max_window_bits, client_max_window_bits;
} ws101__pmd_params;

/* Server: parses the client's Sec-WebSocket-Extensions value(s) (`offers`
 * may be NULL; several header lines must be joined with ", ") and accepts
 * the FIRST acceptable permessage-deflate offer.
 *
 * Returns 1 if accepted (fills *out and writes the response value into
 * resp), 0 if declined or none offered, -1 if the header is syntactically
 * malformed (the caller answers 400).
 *
 * Policy:
 *  - opts->deflate == 0: returns 0 without looking at the header (a server
 *    that ignores extensions should not reject odd extension headers).
 *  - An offer with an unknown or duplicated parameter, or an invalid value
 *    (window bits must be exactly "8".."15"), is skipped (RFC 7692 §5).
 *  - Names are compared case-insensitively; values may be quoted.
 *  - server_no_context_takeover offered: echoed. client_no_context_takeover
 *    offered: echoed.
 *  - server_max_window_bits=N offered: answered with
 *    min(N, opts->deflate_window_bits), which bounds our compressor.
 *  - client_max_window_bits offered (with or without value V): answered
 *    with min(V or 15, opts->deflate_window_bits). The option is "our
 *    window", and limiting the peer to it too keeps both inflate windows
 *    equally small; with the default 15 browsers get client_max_window_bits=15.
 *  - SHARED memory mode: both *_no_context_takeover are always answered
 *    (RFC 7692 §7.1.1.2 lets the server add client_no_context_takeover).
 *  - Order in the response: server_no_context_takeover,
 *    client_no_context_takeover, server_max_window_bits,
 *    client_max_window_bits.
 *  - If the response does not fit resp_size the offer is declined (0); a
 *    buffer of WS101__PMD_RESP_MAX always fits. */
int ws101__pmd_server_negotiate(const char *offers,
                                const struct ws101_options *opts,
                                ws101__pmd_params *out, char *resp,
                                size_t resp_size);

/* Client: writes the offer value we send, NUL-terminated:
 * "permessage-deflate; client_max_window_bits", plus
 * "; server_no_context_takeover; client_no_context_takeover" in SHARED mode.
 * Returns its length, 0 (and "") if opts->deflate == 0, or -1 if it does not
 * fit in `size`. */
int ws101__pmd_client_offer(const struct ws101_options *opts, char *buf,
                            size_t size);

/* Client: validates the server's response value (NULL or empty = not
 * accepted). Returns 1 accepted (fills *out), 0 none, -1 invalid (syntax,
 * several extensions, an extension we did not offer, unknown or duplicated
 * params, bad values, server_max_window_bits which we never offer,
 * client_max_window_bits without a value): the client fails the connection.
 * In SHARED mode out->client_no_context_takeover is 1 even if the server did
 * not echo it, because our offer promised it (RFC 7692 §7.1.1.2). */
int ws101__pmd_client_accept(const char *response,
                             const struct ws101_options *opts,
                             ws101__pmd_params *out);

/* One per loop: a deflate + inflate stream pair used by every connection
 * whose direction has no context takeover, reset after each message. The
 * deflater uses opts' level, memLevel and window; the inflater a 15-bit
 * window so it can read any peer. Streams are created on first use.
 * Returns NULL on OOM. */
typedef struct ws101__pmd_shared ws101__pmd_shared;
ws101__pmd_shared *ws101__pmd_shared_new(const struct ws101_options *opts);
void ws101__pmd_shared_free(ws101__pmd_shared *s);
/* Bytes held by the shared pair (struct + zlib state). */
size_t ws101__pmd_shared_memory(const ws101__pmd_shared *s);

/* Per connection. `is_server` selects which direction's params apply to
 * our compressor/decompressor. `shared` may be NULL. A direction uses the
 * shared stream when its no_context_takeover applies (this covers the
 * "both flags" SHARED-mode case and is safe per direction); our compressor
 * uses it only if the agreed window is not smaller than the shared
 * deflater's (otherwise a dedicated stream with the agreed window is made).
 * zlib streams are created lazily on first use. Returns NULL on OOM. */
typedef struct ws101__pmd ws101__pmd;
ws101__pmd *ws101__pmd_new(const ws101__pmd_params *p, int is_server,
                           const struct ws101_options *opts,
                           ws101__pmd_shared *shared);
void ws101__pmd_free(ws101__pmd *p);

/* Inflates one fragment of a compressed message, APPENDING to out. `fin`
 * marks the last fragment: the 00 00 ff ff tail is appended, the message
 * finished, and the stream reset when the peer's no_context_takeover
 * applies. Returns 0, WS101_ETOOBIG if out->len would exceed max_total
 * (inflation stops there; out never grows beyond max_total + 1 bytes of
 * capacity), WS101_EPROTO on corrupt data, or WS101_ENOMEM. After an error
 * the connection must be failed (the stream state is undefined; shared
 * streams are reset so other connections are unaffected).
 *
 * With a shared inflater a message split over several frames is buffered
 * compressed until `fin` (the shared stream cannot hold one connection's
 * half-message while others use it); that buffer is limited to
 * max_total + max_total/8 + 4096 bytes (more gives WS101_ETOOBIG), and is
 * released after a message if it grew beyond 16 KiB. */
int ws101__pmd_inflate(ws101__pmd *p, const char *in, size_t len, int fin,
                       ws101__buf *out, size_t max_total);

/* Compresses a whole message into out (out->len reset to 0 first) with
 * Z_SYNC_FLUSH and the trailing 00 00 ff ff removed; resets when our
 * no_context_takeover applies. An empty message becomes the single byte
 * 0x00 (RFC 7692 §7.2.3.6). Returns 0 or WS101_ENOMEM. */
int ws101__pmd_deflate(ws101__pmd *p, const char *in, size_t len,
                       ws101__buf *out);

/* 1 if this connection's compressor is the loop's shared deflater (no
 * context takeover, window not below the shared one): its output for a
 * message is then the same bytes for every such connection, which lets
 * pub/sub compress a published message once. */
int ws101__pmd_deflates_shared(const ws101__pmd *p);

/* Bytes currently held by this connection: the struct, its dedicated zlib
 * streams (counted through zalloc/zfree) and its fragment buffer. Shared
 * streams are not included (see ws101__pmd_shared_memory). */
size_t ws101__pmd_memory(const ws101__pmd *p);

#endif

/* ws_handshake.h - the WebSocket opening handshake (RFC 6455 §4), sans-I/O:
 * checks a parsed upgrade request or 101 response and computes keys. The
 * HTTP glue writes the actual response/request bytes. */
#ifndef WS101_WS_HANDSHAKE_H
#define WS101_WS_HANDSHAKE_H

#include "proto/http1_parser.h"
#include "core/options.h"

#include <stddef.h>

#define WS101__WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* Writes base64(SHA-1(key + GUID)) to out, NUL-terminated (28 chars). */
void ws101__ws_accept_key(const char *key, size_t key_len, char out[29]);

/* Validates a server-side upgrade request (RFC 6455 §4.2.1): GET, HTTP/1.1,
 * Host present, Upgrade lists "websocket", Connection lists "upgrade",
 * exactly one Sec-WebSocket-Key decoding to 16 bytes, and exactly one
 * Sec-WebSocket-Version equal to "13". Returns 0 if valid; 426 if the
 * version is missing or not 13 (the caller answers with
 * "Sec-WebSocket-Version: 13"); 400 for anything else. *why (may be NULL)
 * gets a static human-readable reason, "" on success. The version is
 * checked after method/Upgrade/Connection and before the key. */
int ws101__ws_check_request(const ws101__h1_head *h, const char **why);
/* The same for RFC 8441's extended CONNECT on an HTTP/2 stream (the
 * head's `upgrade` holds ":protocol"): CONNECT, :protocol websocket, an
 * :authority, Sec-WebSocket-Version 13; no key (the stream is the proof). */
int ws101__ws_check_request_h2(const ws101__h1_head *h, const char **why);

/* Returns 1 if `origin` may connect: always when `allowed` is NULL or
 * empty; otherwise only on an exact ASCII case-insensitive match (a NULL
 * origin then fails). */
int ws101__ws_origin_allowed(const ws101__strlist *allowed, const char *origin);

/* Returns the first item of `accepted` (preference order) present in the
 * comma-separated Sec-WebSocket-Protocol value `offered`, or NULL (also if
 * either is NULL). The pointer is the item of `accepted`. Subprotocol names
 * are compared case-sensitively (RFC 6455 §4.1: they are tokens matched
 * exactly). */
const char *ws101__ws_pick_subprotocol(const char *offered,
                                       const ws101__strlist *accepted);

/* Returns 1 if `proto` is an element of the comma-separated `offered`
 * (OWS-tolerant, case-sensitive), else 0. */
int ws101__ws_offered_subprotocol(const char *offered, const char *proto);

/* Writes a fresh client key: 16 bytes from RAND_bytes, base64, 24 chars +
 * NUL. If the CSPRNG fails (it should not once seeded) it aborts rather
 * than send a predictable key. */
void ws101__ws_client_key(char out[25]);

/* Client: verifies the handshake response for the request sent with
 * Sec-WebSocket-Key `key`: status 101, Upgrade lists "websocket",
 * Connection lists "upgrade", exactly one Sec-WebSocket-Accept equal to
 * accept_key(key), and at most one Sec-WebSocket-Protocol that is one of
 * `offered_protocols` (comma-separated, may be NULL = none offered).
 * Returns 0 or WS101_EHANDSHAKE with *why (may be NULL) set. */
int ws101__ws_check_response(const ws101__h1_head *h, const char *key,
                             const char *offered_protocols, const char **why);

#endif

/* http1_parser.h - sans-I/O HTTP/1.1 message heads (requests and
 * responses). The body decoder that follows a head is in http1_body.h,
 * included here so that one include serves every HTTP/1.1 user.
 *
 * The parser works in place on the caller's receive buffer: no copies, no
 * allocation. It is strict in the ways RFC 9112 asks for to prevent request
 * smuggling (CL+TE, bare LF/CR, obs-fold, duplicate lengths...), because a
 * lenient parser in front of or behind another parser is how smuggling
 * happens. */
#ifndef WS101_HTTP1_PARSER_H
#define WS101_HTTP1_PARSER_H

#include "proto/http1_body.h"

#include <stddef.h>
#include <stdint.h>

typedef struct ws101__h1_header {
  char *name;
  size_t name_len;
  char *value; /* trimmed of surrounding SP/HTAB */
  size_t value_len;
} ws101__h1_header;

typedef struct ws101__h1_limits {
  uint32_t max_request_line; /* request or status line, CRLF excluded */
  uint32_t max_header_bytes; /* whole head incl. leading CRLFs + final CRLF */
  uint32_t max_headers;
} ws101__h1_limits;

/* ws101__h1_head.flags */
enum {
  WS101__H1_HAS_CL = 1,
  WS101__H1_CHUNKED = 2,
  WS101__H1_KEEPALIVE = 4,
  WS101__H1_CONN_UPGRADE = 8, /* a Connection header lists "upgrade" */
  WS101__H1_CONN_CLOSE = 16,
  WS101__H1_EXPECT_CONTINUE = 32, /* HTTP/1.1 request only */
  WS101__H1_HAS_UPGRADE = 64      /* an Upgrade header is present */
};

typedef struct ws101__h1_head {
  char *method; /* requests; NULL for responses */
  size_t method_len;
  char *target; /* requests; NULL for responses */
  size_t target_len;
  int version;  /* 10 or 11 */
  int status;   /* responses; 0 for requests */
  char *reason; /* responses ("" if absent); NULL for requests */
  /* The caller supplies `headers` with room for `max_headers_cap` entries;
   * the parser fills `nheaders`. */
  ws101__h1_header *headers;
  size_t nheaders;
  size_t max_headers_cap;
  uint64_t content_length; /* valid with WS101__H1_HAS_CL */
  unsigned flags;
  /* Values of the first Host / Upgrade / Connection header, or NULL. */
  char *host, *upgrade, *connection;
} ws101__h1_head;

/* Parses a request head from the start of buf[0..len).
 *
 * `*scanned` is a resume offset owned by the caller: set it to 0 for a new
 * message and pass it back unchanged on each call as more bytes arrive
 * (buf may move, offsets stay valid). It makes re-scanning O(new bytes).
 *
 * Returns the head length (> 0, leading empty lines and the final CRLF
 * included) when complete; 0 when more bytes are needed; or a negative HTTP
 * status when the request must be rejected:
 *   -400 malformed (bad syntax, bare CR/LF, obs-fold, control chars, CL+TE,
 *        bad/duplicate Content-Length, misplaced "chunked", missing or
 *        duplicate Host on HTTP/1.1, bad request-target form);
 *   -414 request line longer than lim->max_request_line (detected as soon
 *        as that many bytes arrive without its CRLF);
 *   -431 head longer than lim->max_header_bytes (detected while still
 *        incomplete) or more than min(lim->max_headers,
 *        head->max_headers_cap) fields;
 *   -501 a transfer coding other than "chunked";
 *   -505 a well-formed HTTP/x.y version other than 1.0 and 1.1.
 * On success method, target, header names and values are NUL-terminated in
 * place. buf is never written while the result is 0, so an incomplete head
 * can be re-offered as is; after an error, buf and `head` are unspecified.
 * `head->headers` and `head->max_headers_cap` must be set by the caller. */
int ws101__h1_parse_request(char *buf, size_t len, size_t *scanned,
                            const ws101__h1_limits *lim, ws101__h1_head *head);

/* Same for a response head ("HTTP/1.1 101 Switching Protocols").
 * Fills status, reason and version; method/target are NULL. Errors:
 *   -431 status line or head too long, or too many fields (same limits);
 *   -502 anything malformed, including a version other than HTTP/1.0 or
 *        1.1, a status outside 100..999, CL+TE, a bad Content-Length, or a
 *        transfer coding other than a single final "chunked" (we could not
 *        decode it). Host is not required. */
int ws101__h1_parse_response(char *buf, size_t len, size_t *scanned,
                             const ws101__h1_limits *lim, ws101__h1_head *head);

/* Returns the value of the first header named `name` (ASCII
 * case-insensitive), or NULL. */
const char *ws101__h1_find_header(const ws101__h1_head *h, const char *name);

/* Returns 1 if the comma-separated list `list` (may be NULL) has an element
 * equal to `token` ignoring ASCII case and surrounding SP/HTAB, else 0:
 * "keep-alive, Upgrade" has "upgrade". */
int ws101__h1_token_list_has(const char *list, const char *token);

/* Returns the standard reason phrase of `status` ("OK", "Switching
 * Protocols", ...), or "" for codes without one. Never NULL. */
const char *ws101__h1_status_reason(int status);

#endif

/* h2_check.h - RFC 9113 §8 field and message checks of a received request.
 *
 * The server session runs nghttp2 with no_http_messaging (its per-field
 * checks were ~500 instructions per request) and asks this module instead:
 * one table lookup per byte and a switch on the name length. The rules
 * are nghttp2 1.52's (lib/nghttp2_http.c), so peers see the same answers:
 * - a bad pseudo-header, an uppercase name, a pseudo-header after a
 *   regular field or in trailers, a duplicate or unknown pseudo-header,
 *   a connection-specific field, "te" other than "trailers", a second or
 *   non-numeric content-length: the stream is reset (PROTOCOL_ERROR);
 * - a regular field with other bad bytes (or, RFC 9113 §8.2.1, a value
 *   with leading or trailing SP/HTAB) is dropped, as nghttp2 does, since
 *   real peers send such fields;
 * - at the end of the head, the required pseudo-headers (§8.3.1, §8.5,
 *   RFC 8441 §4), and at END_STREAM the DATA total against content-length.
 * Sans-I/O: bytes in, a verdict out. */
#ifndef WS101_H2_CHECK_H
#define WS101_H2_CHECK_H

#include <stddef.h>
#include <stdint.h>

/* What a field that passed is, so that the caller assembles the head
 * without comparing the name again. Pseudo-headers are not fields of
 * the head; the three regular names listed have a role in it. */
enum {
  WS101__H2K_FIELD = 0, /* any other regular field */
  WS101__H2K_HOST,
  WS101__H2K_CONTENT_LENGTH,
  WS101__H2K_EXPECT,
  WS101__H2K_METHOD, /* the pseudo-headers from here on */
  WS101__H2K_PATH,
  WS101__H2K_AUTHORITY,
  WS101__H2K_PROTOCOL,
  WS101__H2K_STATUS, /* a response's; ws101__h2_field_kind only */
  WS101__H2K_SCHEME,
  WS101__H2K_OTHER_PSEUDO /* ws101__h2_field_kind only */
};

/* What the stream has shown so far; all zero is the initial state. */
typedef struct ws101__h2_check {
  uint32_t flags;          /* WS101__H2C_F_* (h2_check.c) */
  uint8_t kind;            /* WS101__H2K_* of the last field that passed */
  uint64_t content_length; /* valid with the content-length flag */
  uint64_t received;       /* DATA payload bytes so far */
} ws101__h2_check;

#define WS101__H2C_OK 0
#define WS101__H2C_IGNORE 1 /* drop the field, the stream goes on */
#define WS101__H2C_BAD (-1) /* reset the stream with PROTOCOL_ERROR */

/* One received field of a request head (`trailer` = 0) or of its trailers.
 * `connect_protocol`: we advertised SETTINGS_ENABLE_CONNECT_PROTOCOL.
 * On WS101__H2C_OK, c->kind says which field it was. */
int ws101__h2_check_field(ws101__h2_check *c, const uint8_t *name, size_t nl,
                          const uint8_t *value, size_t vl, int trailer,
                          int connect_protocol);
/* The kind of a field by its name alone, for a head nobody checked here
 * (a client's response: nghttp2 checks those). */
int ws101__h2_field_kind(const uint8_t *name, size_t nl);
/* The request head is complete: 0, or WS101__H2C_BAD. */
int ws101__h2_check_head(ws101__h2_check *c);
/* `n` DATA payload bytes arrived: 0, or WS101__H2C_BAD past content-length. */
int ws101__h2_check_data(ws101__h2_check *c, size_t n);
/* The peer ended the stream: 0, or WS101__H2C_BAD when the DATA total
 * differs from content-length. */
int ws101__h2_check_end(const ws101__h2_check *c);

#endif

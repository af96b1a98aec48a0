/* http1_body.h - the incremental HTTP/1.1 body decoder (Content-Length,
 * chunked, read-until-close), sans-I/O: it frames the bytes after a head
 * parsed by http1_parser.h and hands back slices of the caller's input. */
#ifndef WS101_HTTP1_BODY_H
#define WS101_HTTP1_BODY_H

#include <stddef.h>
#include <stdint.h>

/* http1_parser.h includes this header for its callers, so the head type is
 * only named here, not included back. */
struct ws101__h1_head;

enum {
  WS101__H1_BODY_NONE = 0,
  WS101__H1_BODY_LENGTH = 1,
  WS101__H1_BODY_CHUNKED = 2,
  WS101__H1_BODY_UNTIL_CLOSE = 3
};

/* Largest trailer section accepted (bytes, final CRLF included). */
#define WS101__H1_MAX_TRAILER_BYTES 8192u
/* Longest chunk-size line (size + extensions), CRLF excluded. */
#define WS101__H1_MAX_CHUNK_LINE 4096u

typedef struct ws101__h1_body {
  int mode;           /* WS101__H1_BODY_* */
  int state;          /* chunked sub-state (private) */
  uint64_t remaining; /* LENGTH: body left; CHUNKED: current chunk left */
  uint32_t line_len;  /* bytes of the current chunk-size / trailer line */
  uint32_t trailer_bytes;
  uint32_t ndigits; /* hex digits of the current chunk size */
} ws101__h1_body;

/* Sets up decoding of the body of a successfully parsed request: chunked,
 * Content-Length (possibly 0), or none. */
void ws101__h1_body_init_request(ws101__h1_body *b,
                                 const struct ws101__h1_head *h);

/* Same for a response to a request whose method was HEAD iff
 * `request_was_head`: 1xx/204/304/HEAD have no body; otherwise chunked,
 * Content-Length, or (neither) until the connection closes. */
void ws101__h1_body_init_response(ws101__h1_body *b,
                                  const struct ws101__h1_head *h,
                                  int request_was_head);

enum {
  WS101__H1_BODY_MORE = 0,
  WS101__H1_BODY_DATA = 1,
  WS101__H1_BODY_DONE = 2
};

/* Consumes bytes from in[0..len) and sets *consumed. Returns:
 *   DATA  (*data, *data_len) is a non-empty slice of `in` holding body
 *         bytes; call again with in + *consumed for the rest;
 *   MORE  all input was consumed (framing, extensions...) without ending;
 *   DONE  the body ended; bytes after it (a pipelined message) are not
 *         consumed. Further calls keep returning DONE with *consumed 0;
 *   -400  malformed chunked framing (size, extension, missing CRLF after
 *         data, bad trailer field) or a chunk-size line longer than
 *         WS101__H1_MAX_CHUNK_LINE;
 *   -431  trailers longer than WS101__H1_MAX_TRAILER_BYTES.
 * Trailers are validated like header fields and discarded. UNTIL_CLOSE
 * returns everything as DATA; the caller ends it on EOF. */
int ws101__h1_body_next(ws101__h1_body *b, const char *in, size_t len,
                        size_t *consumed, const char **data, size_t *data_len);

/* Returns 1 once the body is complete (NONE, LENGTH with nothing left, or
 * chunked after its trailers); 0 otherwise, always for UNTIL_CLOSE. */
int ws101__h1_body_done(const ws101__h1_body *b);

#endif

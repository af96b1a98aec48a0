/* http1_body.c - the incremental HTTP/1.1 body decoder: Content-Length,
 * chunked (extensions validated, trailers validated and dropped) and
 * read-until-close. Sans-I/O and copy-free: body bytes come back as slices
 * of the caller's input. Strict about chunked framing for the same reason
 * the head parser is strict: a byte two parsers read differently is a
 * smuggling vector. */
#include "proto/http1_body.h"

#include "proto/http1_chars.h"
#include "proto/http1_parser.h" /* the head the body follows */

#include <string.h>

/* Chunked states. chunk = size [ext] CRLF data CRLF; after the 0 chunk,
 * trailer fields then CRLF (RFC 9112 §7.1). Extensions are
 * *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] ). */
enum {
  CS_SIZE,
  CS_BWS_SEMI, /* after size/name/value + whitespace: only ";" may come */
  CS_NAME_PRE, /* after ";" */
  CS_NAME,
  CS_NAME_WS, /* after name + whitespace: "=" or ";" */
  CS_VAL_PRE, /* after "=" */
  CS_VAL,
  CS_QS,
  CS_QS_ESC,
  CS_AFTER_QS,
  CS_SIZE_LF,
  CS_DATA,
  CS_DATA_CR,
  CS_DATA_LF,
  CS_TR_START,
  CS_TR_NAME,
  CS_TR_VALUE,
  CS_TR_LF,
  CS_END_LF,
  CS_DONE
};

void ws101__h1_body_init_request(ws101__h1_body *b, const ws101__h1_head *h) {
  memset(b, 0, sizeof(*b));
  if (h->flags & WS101__H1_CHUNKED) {
    b->mode = WS101__H1_BODY_CHUNKED;
  } else if (h->flags & WS101__H1_HAS_CL) {
    b->mode = WS101__H1_BODY_LENGTH;
    b->remaining = h->content_length;
  } else {
    b->mode = WS101__H1_BODY_NONE;
  }
  b->state = CS_SIZE;
}

void ws101__h1_body_init_response(ws101__h1_body *b, const ws101__h1_head *h,
                                  int request_was_head) {
  ws101__h1_body_init_request(b, h);
  if (request_was_head || h->status < 200 || h->status == 204 ||
      h->status == 304)
    b->mode = WS101__H1_BODY_NONE;
  else if (b->mode == WS101__H1_BODY_NONE)
    b->mode = WS101__H1_BODY_UNTIL_CLOSE;
}

int ws101__h1_body_done(const ws101__h1_body *b) {
  switch (b->mode) {
  case WS101__H1_BODY_NONE:
    return 1;
  case WS101__H1_BODY_LENGTH:
    return b->remaining == 0;
  case WS101__H1_BODY_CHUNKED:
    return b->state == CS_DONE;
  default:
    return 0;
  }
}

static int hexval(unsigned char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  c = (unsigned char)ws101__h1_lower(c);
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

/* Where an extension element may end: whitespace, ";" or the CRLF. */
static int ext_end(int c, int *state) {
  if (ws101__h1_is_ows((unsigned char)c))
    *state = CS_BWS_SEMI;
  else if (c == ';')
    *state = CS_NAME_PRE;
  else if (c == '\r')
    *state = CS_SIZE_LF;
  else
    return -1;
  return 0;
}

/* One framing byte (anything but chunk data). Returns 0, or an error. */
static int chunk_byte(ws101__h1_body *b, unsigned char c) {
  int s = b->state, d;
  if (s < CS_SIZE_LF) {
    /* The chunk line is the only unbounded-looking part; bound it. */
    if (++b->line_len > WS101__H1_MAX_CHUNK_LINE)
      return -400;
  } else if (s >= CS_TR_START) {
    if (++b->trailer_bytes > WS101__H1_MAX_TRAILER_BYTES)
      return -431;
  }
  switch (s) {
  case CS_SIZE:
    if ((d = hexval(c)) >= 0) {
      if (b->remaining > (UINT64_MAX >> 4))
        return -400;
      b->remaining = (b->remaining << 4) | (uint64_t)d;
      b->ndigits++;
      return 0;
    }
    if (b->ndigits == 0)
      return -400;
    return ext_end(c, &b->state) < 0 ? -400 : 0;
  case CS_BWS_SEMI:
    /* Whitespace that leads nowhere ("5 \r\n") is not in the grammar. */
    if (ws101__h1_is_ows(c))
      return 0;
    if (c == ';') {
      b->state = CS_NAME_PRE;
      return 0;
    }
    return -400;
  case CS_NAME_PRE:
    if (ws101__h1_is_ows(c))
      return 0;
    if (ws101__h1_is_tchar(c)) {
      b->state = CS_NAME;
      return 0;
    }
    return -400;
  case CS_NAME:
    if (ws101__h1_is_tchar(c))
      return 0;
    if (ws101__h1_is_ows(c)) {
      b->state = CS_NAME_WS;
      return 0;
    }
    if (c == '=') {
      b->state = CS_VAL_PRE;
      return 0;
    }
    return ext_end(c, &b->state) < 0 ? -400 : 0;
  case CS_NAME_WS:
    if (ws101__h1_is_ows(c))
      return 0;
    if (c == '=') {
      b->state = CS_VAL_PRE;
      return 0;
    }
    if (c == ';') {
      b->state = CS_NAME_PRE;
      return 0;
    }
    return -400;
  case CS_VAL_PRE:
    if (ws101__h1_is_ows(c))
      return 0;
    if (c == '"') {
      b->state = CS_QS;
      return 0;
    }
    if (ws101__h1_is_tchar(c)) {
      b->state = CS_VAL;
      return 0;
    }
    return -400;
  case CS_VAL:
    if (ws101__h1_is_tchar(c))
      return 0;
    return ext_end(c, &b->state) < 0 ? -400 : 0;
  case CS_QS:
    if (c == '"') {
      b->state = CS_AFTER_QS;
      return 0;
    }
    if (c == '\\') {
      b->state = CS_QS_ESC;
      return 0;
    }
    return (c == '\t' || (c >= 0x20 && c != 0x7f)) ? 0 : -400;
  case CS_QS_ESC:
    if (c == '\t' || (c >= 0x20 && c != 0x7f)) {
      b->state = CS_QS;
      return 0;
    }
    return -400;
  case CS_AFTER_QS:
    return ext_end(c, &b->state) < 0 ? -400 : 0;
  case CS_SIZE_LF:
    if (c != '\n')
      return -400;
    b->line_len = 0;
    b->ndigits = 0;
    b->state = b->remaining ? CS_DATA : CS_TR_START;
    return 0;
  case CS_DATA_CR:
    if (c != '\r')
      return -400;
    b->state = CS_DATA_LF;
    return 0;
  case CS_DATA_LF:
    if (c != '\n')
      return -400;
    b->state = CS_SIZE;
    return 0;
  case CS_TR_START:
    if (c == '\r') {
      b->state = CS_END_LF;
      return 0;
    }
    if (ws101__h1_is_tchar(c)) {
      b->state = CS_TR_NAME;
      return 0;
    }
    return -400; /* includes obs-fold */
  case CS_TR_NAME:
    if (ws101__h1_is_tchar(c))
      return 0;
    if (c == ':') {
      b->state = CS_TR_VALUE;
      return 0;
    }
    return -400;
  case CS_TR_VALUE:
    if (c == '\r') {
      b->state = CS_TR_LF;
      return 0;
    }
    return ws101__h1_is_field_byte(c) ? 0 : -400;
  case CS_TR_LF:
    if (c != '\n')
      return -400;
    b->state = CS_TR_START;
    return 0;
  case CS_END_LF:
    if (c != '\n')
      return -400;
    b->state = CS_DONE;
    return 0;
  default:
    return -400;
  }
}

int ws101__h1_body_next(ws101__h1_body *b, const char *in, size_t len,
                        size_t *consumed, const char **data, size_t *data_len) {
  size_t i = 0, n;
  int r;
  *data = NULL;
  *data_len = 0;
  *consumed = 0;
  switch (b->mode) {
  case WS101__H1_BODY_NONE:
    return WS101__H1_BODY_DONE;
  case WS101__H1_BODY_UNTIL_CLOSE:
    if (len == 0)
      return WS101__H1_BODY_MORE;
    *data = in;
    *data_len = *consumed = len;
    return WS101__H1_BODY_DATA;
  case WS101__H1_BODY_LENGTH:
    if (b->remaining == 0)
      return WS101__H1_BODY_DONE;
    if (len == 0)
      return WS101__H1_BODY_MORE;
    n = b->remaining < len ? (size_t)b->remaining : len;
    b->remaining -= n;
    *data = in;
    *data_len = *consumed = n;
    return WS101__H1_BODY_DATA;
  default:
    break;
  }
  /* A failed decoder stays failed: its state holds the error. */
  if (b->state < 0)
    return b->state;
  while (i < len && b->state != CS_DONE) {
    if (b->state == CS_DATA) {
      n = b->remaining < len - i ? (size_t)b->remaining : len - i;
      b->remaining -= n;
      if (b->remaining == 0)
        b->state = CS_DATA_CR;
      *data = in + i;
      *data_len = n;
      *consumed = i + n;
      return WS101__H1_BODY_DATA;
    }
    if ((r = chunk_byte(b, (unsigned char)in[i++])) < 0) {
      b->state = r;
      *consumed = i;
      return r;
    }
  }
  *consumed = i;
  return b->state == CS_DONE ? WS101__H1_BODY_DONE : WS101__H1_BODY_MORE;
}

/* h2_check.c - RFC 9113 §8 request checks (see the header). */
#include "proto/h2_check.h"

#include <string.h>

#include "proto/http1_chars.h"

enum {
  F_METHOD = 1u << 0,
  F_PATH = 1u << 1,
  F_SCHEME = 1u << 2,
  F_AUTHORITY = 1u << 3,
  F_PROTOCOL = 1u << 4,
  F_HOST = 1u << 5,
  F_CL = 1u << 6,
  F_CONNECT = 1u << 7,
  F_OPTIONS = 1u << 8,
  F_PATH_SLASH = 1u << 9,
  F_PATH_STAR = 1u << 10,
  F_SCHEME_HTTP = 1u << 11,
  F_REGULAR_SEEN = 1u << 12 /* no pseudo-header may follow */
};

/* The byte loops are inlined into their one caller each: as calls, their
 * setup cost more than the few bytes of a typical name. */
#if defined(__GNUC__)
#define INLINE static inline __attribute__((always_inline))
#else
#define INLINE static inline
#endif

/* Byte classes, one bit each, so every check is one load per byte. */
#define C_NAME 1   /* lowercase tchar: a field name (RFC 9113 §8.2.1) */
#define C_VALUE 2  /* field-value byte: no NUL, CR, LF, other CTL, DEL */
#define C_TOKEN 4  /* tchar, any case: a method */
#define C_PATH 8   /* VCHAR and obs-text: a :path */
#define C_AUTH 16  /* unreserved, sub-delims, ":@[]%": an authority */

static const uint8_t cls[256] = {
     0,  0,  0,  0,  0,  0,  0,  0,  0,  2,  0,  0,  0,  0,  0,  0,  /* 0x00 */
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  /* 0x10 */
     2, 31, 10, 15, 31, 31, 31, 31, 26, 26, 31, 31, 26, 31, 31, 10,  /* 0x20 */
    31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 26, 26, 10, 26, 10, 10,  /* 0x30 */
    26, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30,  /* 0x40 */
    30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 26, 10, 26, 15, 31,  /* 0x50 */
    15, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31,  /* 0x60 */
    31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 10, 15, 10, 31,  0,  /* 0x70 */
    10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10,  /* 0x80 */
    10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10,  /* 0x90 */
    10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10,  /* 0xa0 */
    10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10,  /* 0xb0 */
    10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10,  /* 0xc0 */
    10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10,  /* 0xd0 */
    10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10,  /* 0xe0 */
    10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10,  /* 0xf0 */
};

/* Every byte of p[0..n) has class `bit`. No branch per byte: the classes
 * are ANDed four at a time (this runs over every name of every request). */
INLINE int all_of(const uint8_t *p, size_t n, unsigned bit) {
  unsigned acc = bit;
  size_t i = 0;
  for (; i + 4 <= n; i += 4)
    acc &= (unsigned)(cls[p[i]] & cls[p[i + 1]] & cls[p[i + 2]] &
                      cls[p[i + 3]]);
  for (; i < n; i++) acc &= cls[p[i]];
  return (acc & bit) != 0;
}

static int is_alpha(uint8_t c) { return (uint8_t)((c | 32) - 'a') < 26; }

static int scheme_ok(const uint8_t *p, size_t n) {
  size_t i;
  if (n == 0 || !is_alpha(p[0])) return 0;
  for (i = 1; i < n; i++)
    if (!is_alpha(p[i]) && !(p[i] >= '0' && p[i] <= '9') && p[i] != '+' &&
        p[i] != '-' && p[i] != '.')
      return 0;
  return 1;
}

/* RFC 9113 §8.2.1: no leading or trailing SP/HTAB, and field bytes only. */
static int value_ok(const uint8_t *v, size_t n) {
  if (n == 0) return 1;
  if (v[0] == ' ' || v[0] == '\t' || v[n - 1] == ' ' || v[n - 1] == '\t')
    return 0;
  return ws101__h1_is_field_value_n(v, n);
}

static int eq(const uint8_t *p, size_t n, const char *s, size_t sn) {
  return n == sn && memcmp(p, s, sn) == 0;
}

/* A decimal number, digits only, that fits in 63 bits; -1 otherwise. */
static int parse_length(const uint8_t *p, size_t n, uint64_t *out) {
  uint64_t v = 0;
  size_t i;
  if (n == 0 || n > 19) return -1;
  for (i = 0; i < n; i++) {
    if (p[i] < '0' || p[i] > '9') return -1;
    v = v * 10 + (uint64_t)(p[i] - '0');
  }
  if (v > (uint64_t)INT64_MAX) return -1;
  *out = v;
  return 0;
}

/* Sets `flag` once; a second one (or an empty value) is a bad request. */
static int once(ws101__h2_check *c, uint32_t flag, size_t vl) {
  if ((c->flags & flag) || vl == 0) return WS101__H2C_BAD;
  c->flags |= flag;
  return WS101__H2C_OK;
}

static int pseudo(ws101__h2_check *c, const uint8_t *n, size_t nl,
                  const uint8_t *v, size_t vl, int connect_protocol) {
  switch (nl) {
  case 5: /* :path */
    if (!eq(n, nl, ":path", 5) || !all_of(v, vl, C_PATH) ||
        once(c, F_PATH, vl) != 0)
      return WS101__H2C_BAD;
    if (v[0] == '/')
      c->flags |= F_PATH_SLASH;
    else if (vl == 1 && v[0] == '*')
      c->flags |= F_PATH_STAR;
    c->kind = WS101__H2K_PATH;
    return WS101__H2C_OK;
  case 7: /* :method, :scheme */
    if (eq(n, nl, ":method", 7)) {
      if (!all_of(v, vl, C_TOKEN) || once(c, F_METHOD, vl) != 0)
        return WS101__H2C_BAD;
      if (eq(v, vl, "CONNECT", 7)) c->flags |= F_CONNECT;
      if (eq(v, vl, "OPTIONS", 7)) c->flags |= F_OPTIONS;
      c->kind = WS101__H2K_METHOD;
      return WS101__H2C_OK;
    }
    if (eq(n, nl, ":scheme", 7)) {
      if (!scheme_ok(v, vl) || once(c, F_SCHEME, vl) != 0)
        return WS101__H2C_BAD;
      if (ws101__h1_ieq_n((const char *)v, vl, "http") ||
          ws101__h1_ieq_n((const char *)v, vl, "https"))
        c->flags |= F_SCHEME_HTTP;
      c->kind = WS101__H2K_SCHEME;
      return WS101__H2C_OK;
    }
    return WS101__H2C_BAD;
  case 9: /* :protocol (RFC 8441), only when we offered it */
    if (!eq(n, nl, ":protocol", 9) || !connect_protocol ||
        !value_ok(v, vl))
      return WS101__H2C_BAD;
    c->kind = WS101__H2K_PROTOCOL;
    return once(c, F_PROTOCOL, vl);
  case 10: /* :authority */
    if (!eq(n, nl, ":authority", 10) || !all_of(v, vl, C_AUTH))
      return WS101__H2C_BAD;
    c->kind = WS101__H2K_AUTHORITY;
    return once(c, F_AUTHORITY, vl);
  default: /* unknown, or :status in a request */
    return WS101__H2C_BAD;
  }
}

/* The regular fields with a rule (or a role in the head) of their own;
 * the others pass. */
static int regular(ws101__h2_check *c, const uint8_t *n, size_t nl,
                   const uint8_t *v, size_t vl) {
  c->kind = WS101__H2K_FIELD;
  switch (nl) {
  case 2:
    if (eq(n, nl, "te", 2) &&
        !ws101__h1_ieq_n((const char *)v, vl, "trailers"))
      return WS101__H2C_BAD;
    break;
  case 6:
    if (eq(n, nl, "expect", 6)) c->kind = WS101__H2K_EXPECT;
    break;
  case 7:
    if (eq(n, nl, "upgrade", 7)) return WS101__H2C_BAD;
    break;
  case 10:
    if (eq(n, nl, "connection", 10) || eq(n, nl, "keep-alive", 10))
      return WS101__H2C_BAD;
    break;
  case 14:
    if (eq(n, nl, "content-length", 14)) {
      if ((c->flags & F_CL) || parse_length(v, vl, &c->content_length) != 0)
        return WS101__H2C_BAD;
      c->flags |= F_CL;
      c->kind = WS101__H2K_CONTENT_LENGTH;
    }
    break;
  case 16:
    if (eq(n, nl, "proxy-connection", 16)) return WS101__H2C_BAD;
    break;
  case 17:
    if (eq(n, nl, "transfer-encoding", 17)) return WS101__H2C_BAD;
    break;
  default:
    break;
  }
  return WS101__H2C_OK;
}

int ws101__h2_check_field(ws101__h2_check *c, const uint8_t *name, size_t nl,
                          const uint8_t *value, size_t vl, int trailer,
                          int connect_protocol) {
  size_t i;
  if (nl == 0) return WS101__H2C_BAD;
  if (name[0] == ':') {
    /* No byte check of the name: pseudo() accepts only the exact names
     * it compares against, and anything else is as bad as a bad byte. */
    if (trailer || (c->flags & F_REGULAR_SEEN)) return WS101__H2C_BAD;
    return pseudo(c, name, nl, value, vl, connect_protocol);
  }
  /* From here on a pseudo-header is out of place, even if this field is
   * dropped. */
  c->flags |= F_REGULAR_SEEN;
  if (!all_of(name, nl, C_NAME)) {
    for (i = 0; i < nl; i++) /* names are lowercase without exception */
      if (name[i] >= 'A' && name[i] <= 'Z') return WS101__H2C_BAD;
    return WS101__H2C_IGNORE;
  }
  /* host is an authority (a bad one is dropped), and only one. */
  if (eq(name, nl, "host", 4)) {
    c->kind = WS101__H2K_HOST;
    return all_of(value, vl, C_AUTH) ? once(c, F_HOST, vl)
                                     : WS101__H2C_IGNORE;
  }
  if (!value_ok(value, vl)) return WS101__H2C_IGNORE;
  return regular(c, name, nl, value, vl);
}

int ws101__h2_field_kind(const uint8_t *n, size_t nl) {
  switch (nl) {
  case 4:
    if (eq(n, nl, "host", 4)) return WS101__H2K_HOST;
    break;
  case 5:
    if (eq(n, nl, ":path", 5)) return WS101__H2K_PATH;
    break;
  case 6:
    if (eq(n, nl, "expect", 6)) return WS101__H2K_EXPECT;
    break;
  case 7:
    if (eq(n, nl, ":status", 7)) return WS101__H2K_STATUS;
    if (eq(n, nl, ":method", 7)) return WS101__H2K_METHOD;
    break;
  case 9:
    if (eq(n, nl, ":protocol", 9)) return WS101__H2K_PROTOCOL;
    break;
  case 10:
    if (eq(n, nl, ":authority", 10)) return WS101__H2K_AUTHORITY;
    break;
  case 14:
    if (eq(n, nl, "content-length", 14)) return WS101__H2K_CONTENT_LENGTH;
    break;
  default:
    break;
  }
  return nl > 0 && n[0] == ':' ? WS101__H2K_OTHER_PSEUDO : WS101__H2K_FIELD;
}

int ws101__h2_check_head(ws101__h2_check *c) {
  uint32_t f = c->flags;
  if ((f & F_CONNECT) && !(f & F_PROTOCOL)) {
    /* Plain CONNECT (§8.5): only :method and :authority; its DATA is a
     * tunnel, so no content-length applies. */
    if ((f & (F_SCHEME | F_PATH)) || !(f & F_AUTHORITY)) return WS101__H2C_BAD;
    c->flags &= ~(uint32_t)F_CL;
    return WS101__H2C_OK;
  }
  if ((f & (F_METHOD | F_PATH | F_SCHEME)) != (F_METHOD | F_PATH | F_SCHEME) ||
      !(f & (F_AUTHORITY | F_HOST)))
    return WS101__H2C_BAD;
  /* Extended CONNECT (RFC 8441 §4) needs the method and an authority. */
  if ((f & F_PROTOCOL) && (!(f & F_CONNECT) || !(f & F_AUTHORITY)))
    return WS101__H2C_BAD;
  /* http(s) targets are origin-form, or "*" for OPTIONS (§8.3.1). */
  if ((f & F_SCHEME_HTTP) && !(f & F_PATH_SLASH) &&
      !((f & F_OPTIONS) && (f & F_PATH_STAR)))
    return WS101__H2C_BAD;
  return WS101__H2C_OK;
}

int ws101__h2_check_data(ws101__h2_check *c, size_t n) {
  c->received += n;
  if ((c->flags & F_CL) && c->received > c->content_length)
    return WS101__H2C_BAD;
  return WS101__H2C_OK;
}

int ws101__h2_check_end(const ws101__h2_check *c) {
  if ((c->flags & F_CL) && c->received != c->content_length)
    return WS101__H2C_BAD;
  return WS101__H2C_OK;
}

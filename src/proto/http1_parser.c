/* http1_parser.c - HTTP/1.1 message heads, sans-I/O, in place (bodies are
 * http1_body.c).
 *
 * A head is parsed in two passes. The first (scan_head) runs on every call
 * and only looks at bytes it has not seen before: it finds the blank line
 * that ends the head and rejects bare CR / bare LF as they arrive, so a
 * slow-drip client costs O(bytes) overall. The second (parse_head) runs once,
 * on a complete head, and does all the syntax and semantics; it is the only
 * code that writes into the buffer, so an incomplete head is never touched
 * and can simply be re-offered with more bytes. */
#include "proto/http1_parser.h"

#include "proto/http1_chars.h"

#include <string.h>

/* Calls `fn` on each non-empty, OWS-trimmed element of a comma-separated
 * list; stops at the first non-zero return and passes it back. Empty
 * elements are skipped as RFC 9110 §5.6.1 requires of recipients. */
typedef int (*list_fn)(const char *el, size_t n, void *ctx);

static int list_each(const char *list, list_fn fn, void *ctx) {
  const char *p = list, *e;
  int r;
  for (;;) {
    const char *s = p;
    while (*p != '\0' && *p != ',')
      p++;
    e = p;
    while (s < e && ws101__h1_is_ows((unsigned char)*s))
      s++;
    while (e > s && ws101__h1_is_ows((unsigned char)e[-1]))
      e--;
    if (e > s && (r = fn(s, (size_t)(e - s), ctx)) != 0)
      return r;
    if (*p == '\0')
      return 0;
    p++;
  }
}

static int has_token_cb(const char *el, size_t n, void *ctx) {
  return ws101__h1_ieq_n(el, n, (const char *)ctx);
}

int ws101__h1_token_list_has(const char *list, const char *token) {
  if (list == NULL || token == NULL)
    return 0;
  return list_each(list, has_token_cb, (void *)token);
}

const char *ws101__h1_find_header(const ws101__h1_head *h, const char *name) {
  size_t i, n = strlen(name);
  for (i = 0; i < h->nheaders; i++)
    if (h->headers[i].name_len == n && ws101__h1_ieq_n(h->headers[i].name, n, name))
      return h->headers[i].value;
  return NULL;
}

/* ------------------------------------------------------------------------ */
/* Pass 1: find the end of the head                                         */
/* ------------------------------------------------------------------------ */

/* Returns the head length, 0 for more, or -400/-414/-431. `*start` gets the
 * offset of the start line (after skipped empty lines). */
static int scan_head(const char *buf, size_t len, size_t *scanned,
                     const ws101__h1_limits *lim, size_t *start_out) {
  size_t start = 0, i, stop, max_line = lim->max_request_line,
         max_head = lim->max_header_bytes;

  /* RFC 9112 §2.2: ignore empty lines before the start line (some clients
   * send a CRLF after a POST body). They count towards the head size. */
  while (start < len && buf[start] == '\r') {
    if (start + 1 == len)
      break;
    if (buf[start + 1] != '\n')
      return -400;
    start += 2;
  }
  if (start < len && buf[start] == '\n')
    return -400;
  if (start >= max_head)
    return -431;
  if (start >= len || buf[start] == '\r')
    return 0;
  *start_out = start;

  /* The start line limit is checked exactly once, when its last allowed
   * byte arrives, so that a long URL fails fast without rescans. CR or LF
   * both end the search: a bare LF is then reported as -400 below, as it
   * would be had the bytes come one by one. */
  if (len > start + max_line && *scanned <= start + max_line) {
    for (i = start; i <= start + max_line; i++)
      if (buf[i] == '\r' || buf[i] == '\n')
        break;
    if (i > start + max_line)
      return -414;
  }

  i = *scanned > start ? *scanned : start;
  stop = len < max_head ? len : max_head;
  for (; i < stop; i++) {
    char c = buf[i];
    if (c == '\n') {
      /* Strict: every line ends in CRLF (RFC 9112 §2.2 lets us reject). */
      if (i == start || buf[i - 1] != '\r')
        return -400;
      if (i >= start + 3 && buf[i - 2] == '\n' && buf[i - 3] == '\r') {
        *scanned = i + 1;
        return (int)(i + 1);
      }
    } else if (i > start && buf[i - 1] == '\r') {
      return -400; /* bare CR */
    }
  }
  *scanned = i;
  if (len > max_head)
    return -431;
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Pass 2: the complete head                                                */
/* ------------------------------------------------------------------------ */

typedef struct parse_state {
  int is_req;
  unsigned hosts;
  int te_seen, te_chunked, te_other, te_count;
} parse_state;

/* Content-Length = 1*DIGIT, possibly as a list of identical values
 * ("5, 5") from a merging intermediary (RFC 9110 §8.6). */
typedef struct cl_ctx {
  uint64_t v;
  int seen;
} cl_ctx;

static int cl_cb(const char *el, size_t n, void *ctx) {
  cl_ctx *c = (cl_ctx *)ctx;
  uint64_t v = 0;
  size_t i;
  for (i = 0; i < n; i++) {
    unsigned d = (unsigned)(unsigned char)el[i] - '0';
    if (d > 9)
      return -400;
    if (v > (UINT64_MAX - d) / 10)
      return -400;
    v = v * 10 + d;
  }
  if (c->seen && c->v != v)
    return -400;
  c->v = v;
  c->seen = 1;
  return 0;
}

static int parse_content_length(const char *value, ws101__h1_head *h) {
  cl_ctx c;
  const char *p;
  int r;
  /* Reject empty elements here: list_each would skip them, but ", 5" or
   * "" is a framing ambiguity, not a list. */
  for (p = value; *p; p++)
    if (*p == ',') {
      const char *q = p + 1;
      while (ws101__h1_is_ows((unsigned char)*q))
        q++;
      if (*q == ',' || *q == '\0')
        return -400;
    }
  p = value;
  while (ws101__h1_is_ows((unsigned char)*p))
    p++;
  if (*p == '\0' || *p == ',')
    return -400;
  c.seen = (h->flags & WS101__H1_HAS_CL) != 0;
  c.v = h->content_length;
  if ((r = list_each(value, cl_cb, &c)) != 0)
    return r;
  h->content_length = c.v;
  h->flags |= WS101__H1_HAS_CL;
  return 0;
}

/* transfer-coding = token *( OWS ";" OWS transfer-parameter ). "chunked"
 * must be last and appear once (RFC 9112 §6.1); anything else is a coding
 * we do not implement. */
static int te_cb(const char *el, size_t n, void *ctx) {
  parse_state *ps = (parse_state *)ctx;
  size_t i = 0;
  while (i < n && ws101__h1_is_tchar((unsigned char)el[i]))
    i++;
  if (i == 0)
    return -400;
  if (i < n) {
    size_t j = i;
    while (j < n && ws101__h1_is_ows((unsigned char)el[j]))
      j++;
    if (j == n || el[j] != ';')
      return -400;
  }
  ps->te_count++;
  if (ps->te_chunked)
    return -400; /* something after "chunked" */
  if (i == n && ws101__h1_ieq_n(el, n, "chunked"))
    ps->te_chunked = 1;
  else if (ws101__h1_ieq_n(el, i, "chunked"))
    return -400; /* chunked takes no parameters */
  else
    ps->te_other = 1;
  return 0;
}

typedef struct conn_ctx {
  unsigned flags;
} conn_ctx;

static int conn_cb(const char *el, size_t n, void *ctx) {
  conn_ctx *c = (conn_ctx *)ctx;
  if (ws101__h1_ieq_n(el, n, "close"))
    c->flags |= WS101__H1_CONN_CLOSE;
  else if (ws101__h1_ieq_n(el, n, "keep-alive"))
    c->flags |= WS101__H1_KEEPALIVE;
  else if (ws101__h1_ieq_n(el, n, "upgrade"))
    c->flags |= WS101__H1_CONN_UPGRADE;
  return 0;
}

/* Records what the framing and connection logic needs from one field. */
static int on_field(parse_state *ps, ws101__h1_head *h, const char *name,
                    size_t nlen, char *value, unsigned *conn_flags) {
  int r;
  switch (nlen) {
  case 4:
    if (ws101__h1_ieq_n(name, nlen, "host")) {
      if (ps->hosts++ == 0)
        h->host = value;
    }
    break;
  case 6:
    if (ws101__h1_ieq_n(name, nlen, "expect") &&
        ws101__h1_token_list_has(value, "100-continue"))
      h->flags |= WS101__H1_EXPECT_CONTINUE;
    break;
  case 7:
    if (ws101__h1_ieq_n(name, nlen, "upgrade")) {
      h->flags |= WS101__H1_HAS_UPGRADE;
      if (h->upgrade == NULL)
        h->upgrade = value;
    }
    break;
  case 10:
    if (ws101__h1_ieq_n(name, nlen, "connection")) {
      conn_ctx c = {0};
      list_each(value, conn_cb, &c);
      *conn_flags |= c.flags;
      if (h->connection == NULL)
        h->connection = value;
    }
    break;
  case 14:
    if (ws101__h1_ieq_n(name, nlen, "content-length"))
      if ((r = parse_content_length(value, h)) != 0)
        return r;
    break;
  case 17:
    if (ws101__h1_ieq_n(name, nlen, "transfer-encoding")) {
      int before = ps->te_count;
      ps->te_seen = 1;
      if ((r = list_each(value, te_cb, ps)) != 0)
        return r;
      if (ps->te_count == before)
        return -400; /* empty */
    }
    break;
  default:
    break;
  }
  return 0;
}

/* "HTTP/x.y" at p[0..n): 10/11, -505 for other digits, -400 otherwise. */
static int parse_version(const char *p, size_t n) {
  if (n != 8 || memcmp(p, "HTTP/", 5) != 0 || p[6] != '.' ||
      (unsigned)(p[5] - '0') > 9 || (unsigned)(p[7] - '0') > 9)
    return -400;
  if (p[5] == '1' && (p[7] == '0' || p[7] == '1'))
    return 10 + (p[7] - '0');
  return -505;
}

/* Validates the request-target form against the method (RFC 9112 §3.2). */
static int check_target(const ws101__h1_head *h) {
  const char *t = h->target;
  size_t i;
  int connect = h->method_len == 7 && memcmp(h->method, "CONNECT", 7) == 0;
  if (connect) {
    /* authority-form: host:port, nothing else. */
    const char *colon = NULL;
    for (i = 0; i < h->target_len; i++) {
      if (t[i] == '/' || t[i] == '?' || t[i] == '#' || t[i] == '@')
        return -400;
      if (t[i] == ':')
        colon = t + i;
    }
    if (colon == NULL || colon == t || colon[1] == '\0')
      return -400;
    return 0;
  }
  if (t[0] == '/')
    return 0;
  if (h->target_len == 1 && t[0] == '*')
    return (h->method_len == 7 && memcmp(h->method, "OPTIONS", 7) == 0) ? 0
                                                                        : -400;
  if ((h->target_len > 7 && ws101__h1_ieq_n(t, 7, "http://")) ||
      (h->target_len > 8 && ws101__h1_ieq_n(t, 8, "https://")))
    return 0;
  return -400;
}

/* Request line: method SP request-target SP HTTP-version. */
static int parse_request_line(char *buf, size_t p, size_t e,
                              ws101__h1_head *h) {
  size_t q = p, t;
  int v;
  while (q < e && ws101__h1_is_tchar((unsigned char)buf[q]))
    q++;
  if (q == p || q == e || buf[q] != ' ')
    return -400;
  t = ++q;
  while (q < e && (unsigned char)buf[q] > 0x20 && (unsigned char)buf[q] < 0x7f)
    q++;
  if (q == t || q == e || buf[q] != ' ')
    return -400;
  if ((v = parse_version(buf + q + 1, e - q - 1)) < 0)
    return v;
  h->method = buf + p;
  h->method_len = t - 1 - p;
  h->target = buf + t;
  h->target_len = q - t;
  h->version = v;
  buf[t - 1] = '\0';
  buf[q] = '\0';
  buf[e] = '\0';
  return check_target(h);
}

/* Status line: HTTP-version SP 3DIGIT [SP reason-phrase]. A missing SP
 * before an empty reason is tolerated: it is unambiguous and common. */
static int parse_status_line(char *buf, size_t p, size_t e, ws101__h1_head *h) {
  size_t q;
  int v;
  if (e - p < 12 || buf[p + 8] != ' ')
    return -400;
  if ((v = parse_version(buf + p, 8)) < 0)
    return v;
  for (q = p + 9; q < p + 12; q++)
    if ((unsigned)(buf[q] - '0') > 9)
      return -400;
  h->status =
      (buf[p + 9] - '0') * 100 + (buf[p + 10] - '0') * 10 + (buf[p + 11] - '0');
  if (h->status < 100)
    return -400;
  q = p + 12;
  if (q < e) {
    if (buf[q] != ' ')
      return -400;
    for (q++; q < e; q++)
      if (!ws101__h1_is_field_byte((unsigned char)buf[q]))
        return -400;
    h->reason = buf + p + 13;
  } else {
    h->reason = buf + e;
  }
  h->version = v;
  buf[p + 8] = '\0';
  buf[e] = '\0';
  return 0;
}

/* Parses the complete head buf[start..end), end just past the final CRLF. */
static int parse_head(char *buf, size_t start, size_t end,
                      const ws101__h1_limits *lim, ws101__h1_head *h,
                      int is_req) {
  parse_state ps;
  size_t p, e, cap = h->max_headers_cap;
  unsigned conn_flags = 0;
  int r;

  memset(&ps, 0, sizeof(ps));
  ps.is_req = is_req;
  h->method = h->target = h->reason = NULL;
  h->method_len = h->target_len = 0;
  h->host = h->upgrade = h->connection = NULL;
  h->nheaders = 0;
  h->content_length = 0;
  h->flags = 0;
  h->status = 0;
  if (lim->max_headers < cap)
    cap = lim->max_headers;

  e = (size_t)((const char *)memchr(buf + start, '\r', end - start) - buf);
  if (e - start > lim->max_request_line)
    return -414;
  r = is_req ? parse_request_line(buf, start, e, h)
             : parse_status_line(buf, start, e, h);
  if (r < 0)
    return r;

  for (p = e + 2; p < end - 2; p = e + 2) {
    size_t q, v, ve, k;
    ws101__h1_header *f;
    e = (size_t)((const char *)memchr(buf + p, '\r', end - p) - buf);
    /* A line starting with whitespace is obs-fold (or a space before the
     * first field name): both are smuggling vectors, RFC 9112 §5.2. */
    q = p;
    while (q < e && ws101__h1_is_tchar((unsigned char)buf[q]))
      q++;
    if (q == p || q == e || buf[q] != ':')
      return -400;
    v = q + 1;
    while (v < e && ws101__h1_is_ows((unsigned char)buf[v]))
      v++;
    ve = e;
    while (ve > v && ws101__h1_is_ows((unsigned char)buf[ve - 1]))
      ve--;
    for (k = v; k < ve; k++)
      if (!ws101__h1_is_field_byte((unsigned char)buf[k]))
        return -400;
    if (h->nheaders >= cap)
      return -431;
    f = &h->headers[h->nheaders++];
    f->name = buf + p;
    f->name_len = q - p;
    f->value = buf + v;
    f->value_len = ve - v;
    buf[q] = '\0';
    buf[ve] = '\0'; /* ve <= e, the CR: never past the line */
    if ((r = on_field(&ps, h, f->name, f->name_len, f->value, &conn_flags)) < 0)
      return r;
  }

  h->flags |= conn_flags & (WS101__H1_CONN_CLOSE | WS101__H1_CONN_UPGRADE);
  if (ps.te_seen) {
    /* CL with TE is the classic smuggling pair: refuse, don't guess. */
    if (h->flags & WS101__H1_HAS_CL)
      return -400;
    /* HTTP/1.0 has no chunked framing (RFC 9112 §6.1). */
    if (h->version == 10)
      return -400;
    if (!ps.te_chunked || ps.te_other)
      return -501;
    h->flags |= WS101__H1_CHUNKED;
  }
  if (is_req) {
    if (ps.hosts > 1 || (h->version == 11 && ps.hosts == 0))
      return -400;
    if (h->version == 10)
      h->flags &= ~(unsigned)WS101__H1_EXPECT_CONTINUE;
  } else {
    h->flags &= ~(unsigned)WS101__H1_EXPECT_CONTINUE;
  }
  if (!(conn_flags & WS101__H1_CONN_CLOSE) &&
      (h->version == 11 || (conn_flags & WS101__H1_KEEPALIVE)))
    h->flags |= WS101__H1_KEEPALIVE;
  return 0;
}

static int parse_any(char *buf, size_t len, size_t *scanned,
                     const ws101__h1_limits *lim, ws101__h1_head *h,
                     int is_req) {
  size_t start = 0;
  int n, r;
  /* Heads are bounded by an int-sized limit; refuse silly limits rather
   * than overflow the int return. */
  if (lim->max_header_bytes > 0x7fffffffu)
    return -431;
  n = scan_head(buf, len, scanned, lim, &start);
  if (n <= 0)
    return n;
  r = parse_head(buf, start, (size_t)n, lim, h, is_req);
  return r < 0 ? r : n;
}

int ws101__h1_parse_request(char *buf, size_t len, size_t *scanned,
                            const ws101__h1_limits *lim, ws101__h1_head *head) {
  return parse_any(buf, len, scanned, lim, head, 1);
}

int ws101__h1_parse_response(char *buf, size_t len, size_t *scanned,
                             const ws101__h1_limits *lim,
                             ws101__h1_head *head) {
  int r = parse_any(buf, len, scanned, lim, head, 0);
  /* A client only needs "too big" vs "garbage from upstream". */
  if (r == -414 || r == -431)
    return -431;
  return r < 0 ? -502 : r;
}

const char *ws101__h1_status_reason(int status) {
  switch (status) {
  case 100:
    return "Continue";
  case 101:
    return "Switching Protocols";
  case 200:
    return "OK";
  case 201:
    return "Created";
  case 202:
    return "Accepted";
  case 203:
    return "Non-Authoritative Information";
  case 204:
    return "No Content";
  case 205:
    return "Reset Content";
  case 206:
    return "Partial Content";
  case 300:
    return "Multiple Choices";
  case 301:
    return "Moved Permanently";
  case 302:
    return "Found";
  case 303:
    return "See Other";
  case 304:
    return "Not Modified";
  case 307:
    return "Temporary Redirect";
  case 308:
    return "Permanent Redirect";
  case 400:
    return "Bad Request";
  case 401:
    return "Unauthorized";
  case 402:
    return "Payment Required";
  case 403:
    return "Forbidden";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 406:
    return "Not Acceptable";
  case 407:
    return "Proxy Authentication Required";
  case 408:
    return "Request Timeout";
  case 409:
    return "Conflict";
  case 410:
    return "Gone";
  case 411:
    return "Length Required";
  case 412:
    return "Precondition Failed";
  case 413:
    return "Content Too Large";
  case 414:
    return "URI Too Long";
  case 415:
    return "Unsupported Media Type";
  case 416:
    return "Range Not Satisfiable";
  case 417:
    return "Expectation Failed";
  case 421:
    return "Misdirected Request";
  case 422:
    return "Unprocessable Content";
  case 426:
    return "Upgrade Required";
  case 428:
    return "Precondition Required";
  case 429:
    return "Too Many Requests";
  case 431:
    return "Request Header Fields Too Large";
  case 500:
    return "Internal Server Error";
  case 501:
    return "Not Implemented";
  case 502:
    return "Bad Gateway";
  case 503:
    return "Service Unavailable";
  case 504:
    return "Gateway Timeout";
  case 505:
    return "HTTP Version Not Supported";
  default:
    return "";
  }
}

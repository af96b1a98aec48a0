/* url.c - see url.h. */
#include "proto/url.h"

#include "proto/http1_chars.h"

#include "ws101.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* DNS limits a name to 253 characters; anything longer cannot resolve, so
 * refuse it here with a clear reason instead of an opaque EDNS later. */
#define MAX_HOST 253

static const struct {
  const char *name;
  int scheme;
  uint16_t port;
  int tls;
} schemes[] = {
    {"http", WS101__URL_HTTP, 80, 0},
    {"https", WS101__URL_HTTPS, 443, 1},
    {"ws", WS101__URL_WS, 80, 0},
    {"wss", WS101__URL_WSS, 443, 1},
};


static int is_hex(int c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
         (c >= 'A' && c <= 'F');
}

static int is_alnum(int c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
         (c >= 'A' && c <= 'Z');
}

/* Validates an IPv4 dotted quad (exactly four decimal parts 0..255, no
 * leading zeros, which some resolvers would read as octal). */
static int valid_ip4(const char *s, size_t n) {
  size_t i = 0;
  int parts = 0;
  while (parts < 4) {
    size_t start = i;
    unsigned v = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9' && i - start < 3)
      v = v * 10 + (unsigned)(s[i++] - '0');
    if (i == start || v > 255 || (s[start] == '0' && i - start > 1)) return 0;
    parts++;
    if (parts < 4) {
      if (i >= n || s[i] != '.') return 0;
      i++;
    }
  }
  return i == n;
}

/* Validates the text between brackets as an RFC 4291 address: up to eight
 * 16-bit hex groups, at most one "::", optionally ending in a dotted quad.
 * Zone identifiers are not supported (they are meaningless off-host). */
static int valid_ip6(const char *s, size_t n) {
  size_t i = 0;
  int groups = 0, gap = 0;
  if (n < 2) return 0;
  if (s[0] == ':') {
    if (s[1] != ':') return 0;
    gap = 1;
    i = 2;
    if (i == n) return 1; /* "::" */
  }
  while (i < n) {
    size_t start = i, j = i;
    while (j < n && is_hex((unsigned char)s[j])) j++;
    if (j < n && s[j] == '.') {
      /* Embedded IPv4 must be last and counts as two groups. */
      if (!valid_ip4(s + start, n - start)) return 0;
      groups += 2;
      i = n;
      break;
    }
    if (j == start || j - start > 4) return 0;
    groups++;
    i = j;
    if (i == n) break;
    if (s[i] != ':') return 0;
    i++;
    if (i < n && s[i] == ':') {
      if (gap) return 0;
      gap = 1;
      i++;
      if (i == n) break;
    } else if (i == n) {
      return 0; /* trailing single ':' */
    }
  }
  return gap ? groups <= 7 : groups == 8;
}

/* reg-name restricted to what DNS names and our Host header can carry
 * unescaped. Percent-encoded and IDN names must be converted by the
 * caller (punycode), since we cannot know the resolver's expectations. */
static int valid_regname(const char *s, size_t n) {
  size_t i;
  if (n == 0 || n > MAX_HOST) return 0;
  for (i = 0; i < n; i++) {
    int c = (unsigned char)s[i];
    if (!is_alnum(c) && c != '-' && c != '.' && c != '_') return 0;
  }
  return 1;
}

/* The request-target is sent verbatim, so it may only hold bytes that are
 * legal in an HTTP request line: visible ASCII, with well-formed %XX. */
static int valid_target(const char *s, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) {
    int c = (unsigned char)s[i];
    if (c <= 0x20 || c >= 0x7f) return 0;
    if (c == '%' &&
        (i + 2 >= n || !is_hex((unsigned char)s[i + 1]) ||
         !is_hex((unsigned char)s[i + 2])))
      return 0;
  }
  return 1;
}

static int fail(const char **why, const char *msg) {
  if (why) *why = msg;
  return WS101_EURL;
}

int ws101__url_parse(const char *s, ws101__url *u, const char **why) {
  size_t i, n, slen, auth_len, host_len, target_len, plen;
  const char *auth, *host, *rest, *p;
  int si = -1, ip6 = 0, explicit_port = 0;
  unsigned long port;
  char portbuf[8];
  size_t total;
  char *mem, *w;

  if (why) *why = NULL;
  if (u == NULL) return WS101_EINVAL;
  memset(u, 0, sizeof(*u));
  if (s == NULL) return WS101_EINVAL;

  /* Scheme, case-insensitively (RFC 3986 section 3.1). */
  p = strstr(s, "://");
  if (p == NULL) return fail(why, "missing scheme (expected ws://, http://...)");
  slen = (size_t)(p - s);
  for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
    const char *name = schemes[i].name;
    size_t k;
    if (strlen(name) != slen) continue;
    for (k = 0; k < slen && ws101__h1_lower((unsigned char)s[k]) == name[k]; k++) {
    }
    if (k == slen) {
      si = (int)i;
      break;
    }
  }
  if (si < 0) return fail(why, "unsupported scheme");

  /* RFC 6455 section 3 forbids fragments in WebSocket URIs, and an HTTP
   * fragment is never sent; refusing one everywhere keeps one rule. */
  if (strchr(s, '#') != NULL) return fail(why, "fragments are not allowed");

  auth = p + 3;
  auth_len = strcspn(auth, "/?");
  rest = auth + auth_len;
  if (memchr(auth, '@', auth_len) != NULL)
    return fail(why, "userinfo (user@host) is not allowed");
  if (auth_len == 0) return fail(why, "missing host");

  /* Host: a bracketed IPv6 literal or a reg-name/IPv4, then ":port". */
  if (auth[0] == '[') {
    const char *close = memchr(auth, ']', auth_len);
    if (close == NULL) return fail(why, "unterminated [IPv6] literal");
    host = auth + 1;
    host_len = (size_t)(close - host);
    if (!valid_ip6(host, host_len)) return fail(why, "invalid IPv6 literal");
    ip6 = 1;
    p = close + 1;
  } else {
    host = auth;
    host_len = strcspn(auth, ":/?");
    if (host_len > auth_len) host_len = auth_len;
    if (!valid_regname(host, host_len)) return fail(why, "invalid host name");
    p = auth + host_len;
  }

  port = schemes[si].port;
  if (p < rest) {
    if (*p != ':') return fail(why, "unexpected characters after host");
    p++;
    plen = (size_t)(rest - p);
    if (plen == 0 || plen > 5) return fail(why, "invalid port");
    port = 0;
    for (i = 0; i < plen; i++) {
      if (p[i] < '0' || p[i] > '9') return fail(why, "invalid port");
      port = port * 10 + (unsigned long)(p[i] - '0');
    }
    if (port == 0 || port > 65535) return fail(why, "port out of range");
    explicit_port = port != schemes[si].port;
  }

  /* "http://h?x" means "/?x": the path is never empty on the wire. */
  target_len = strlen(rest);
  if (!valid_target(rest, target_len))
    return fail(why, "invalid character in path or query");

  n = (size_t)snprintf(portbuf, sizeof(portbuf), "%lu", port);
  /* host NUL, target NUL ("/" maybe prepended), authority NUL, origin NUL */
  total = host_len + 1 + target_len + 2 + (host_len + 2 + 1 + n + 1) +
          (slen + 3 + host_len + 2 + 1 + n + 1);
  mem = malloc(total);
  if (mem == NULL) return WS101_ENOMEM;
  w = mem;

  u->host = w;
  for (i = 0; i < host_len; i++) *w++ = (char)ws101__h1_lower((unsigned char)host[i]);
  *w++ = '\0';

  u->target = w;
  if (target_len == 0 || rest[0] != '/') *w++ = '/';
  memcpy(w, rest, target_len);
  w += target_len;
  *w++ = '\0';

  u->authority = w;
  w += sprintf(w, ip6 ? "[%s]" : "%s", u->host);
  if (explicit_port) w += sprintf(w, ":%s", portbuf);
  *w++ = '\0';

  u->origin = w;
  w += sprintf(w, ip6 ? "%s://[%s]:%s" : "%s://%s:%s", schemes[si].name,
               u->host, portbuf);
  *w++ = '\0';

  u->scheme = schemes[si].scheme;
  u->tls = schemes[si].tls;
  u->host_is_ip6 = ip6;
  u->port = (uint16_t)port;
  return 0;
}

void ws101__url_free(ws101__url *u) {
  if (u == NULL) return;
  free(u->host); /* the one allocation holding every string */
  memset(u, 0, sizeof(*u));
}

const char *ws101__url_scheme_name(int scheme) {
  size_t i;
  for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
    if (schemes[i].scheme == scheme) return schemes[i].name;
  return "";
}

/* url.h - parsing the absolute URLs the clients accept (sans-I/O).
 *
 * Only what a client needs to open a connection and write a request line:
 * scheme, host, port and request-target. Anything we could not send
 * faithfully (userinfo, fragments, spaces, non-ASCII bytes, odd ports) is
 * refused with WS101_EURL rather than silently rewritten, so a caller never
 * talks to a different resource than the one it named. */
#ifndef WS101_URL_H
#define WS101_URL_H

#include <stddef.h>
#include <stdint.h>

enum {
  WS101__URL_HTTP = 1,
  WS101__URL_HTTPS = 2,
  WS101__URL_WS = 3,
  WS101__URL_WSS = 4
};

typedef struct ws101__url {
  int scheme;       /* WS101__URL_* */
  int tls;          /* https or wss */
  int host_is_ip6;  /* host was a [bracketed] literal */
  uint16_t port;    /* explicit or the scheme's default */
  /* All strings below are NUL-terminated and live in one allocation owned
   * by the struct (freed by ws101__url_free). */
  char *host;       /* lower-cased; IPv6 literals without brackets */
  char *target;     /* path + query, never empty ("/" by default) */
  char *authority;  /* the Host header value: port only when not default */
  char *origin;     /* "scheme://host:port", the keep-alive pool key */
} ws101__url;

/* Parses `s`. On success returns 0 and fills *u (free with
 * ws101__url_free). Otherwise returns WS101_EURL (malformed or unsupported
 * scheme), WS101_EINVAL (NULL argument) or WS101_ENOMEM, leaves *u zeroed,
 * and if `why` is not NULL points it to a static explanation. */
int ws101__url_parse(const char *s, ws101__url *u, const char **why);

/* Releases the strings of a parsed URL; *u becomes zeroed. Idempotent. */
void ws101__url_free(ws101__url *u);

/* Returns the scheme name ("http", "wss", ...) of a WS101__URL_* value. */
const char *ws101__url_scheme_name(int scheme);

#endif

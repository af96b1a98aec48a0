/* ws_handshake.c - see ws_handshake.h. */
#include "proto/ws_handshake.h"

#include "proto/http1_chars.h"

#include "proto/base64.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

void ws101__ws_accept_key(const char *key, size_t key_len, char out[29]) {
  static const char guid[] = WS101__WS_GUID;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int dlen = 0;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  /* Two updates instead of a concatenation buffer: no size limit on the
   * key. If OpenSSL fails we write "", which matches no accept value, so a
   * failure can only refuse a handshake, never approve one. */
  out[0] = '\0';
  if (ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) == 1 &&
      EVP_DigestUpdate(ctx, key, key_len) == 1 &&
      EVP_DigestUpdate(ctx, guid, sizeof(guid) - 1) == 1 &&
      EVP_DigestFinal_ex(ctx, digest, &dlen) == 1 && dlen == 20)
    ws101__base64_encode(digest, dlen, out);
  EVP_MD_CTX_free(ctx);
}

/* Counts fields named `name` and returns the first value (or NULL). */
static const char *find_counted(const ws101__h1_head *h, const char *name,
                                size_t *count) {
  const char *first = NULL;
  size_t i;
  *count = 0;
  for (i = 0; i < h->nheaders; i++)
    if (ws101__h1_ieq(h->headers[i].name, name)) {
      if ((*count)++ == 0)
        first = h->headers[i].value;
    }
  return first;
}

/* Upgrade may legitimately appear more than once; any listing counts. */
static int upgrade_has_websocket(const ws101__h1_head *h) {
  size_t i;
  for (i = 0; i < h->nheaders; i++)
    if (ws101__h1_ieq(h->headers[i].name, "upgrade") &&
        ws101__h1_token_list_has(h->headers[i].value, "websocket"))
      return 1;
  return 0;
}

static int fail(const char **why, const char *msg, int code) {
  if (why)
    *why = msg;
  return code;
}

int ws101__ws_check_request(const ws101__h1_head *h, const char **why) {
  const char *key, *ver;
  unsigned char raw[18];
  size_t n;
  if (h->method == NULL || strcmp(h->method, "GET") != 0)
    return fail(why, "WebSocket upgrade must use GET", 400);
  if (h->version != 11)
    return fail(why, "WebSocket upgrade requires HTTP/1.1", 400);
  if (h->host == NULL)
    return fail(why, "missing Host header", 400);
  if (!upgrade_has_websocket(h))
    return fail(why, "Upgrade header does not list websocket", 400);
  if (!(h->flags & WS101__H1_CONN_UPGRADE))
    return fail(why, "Connection header does not list upgrade", 400);
  ver = find_counted(h, "sec-websocket-version", &n);
  if (n > 1)
    return fail(why, "duplicate Sec-WebSocket-Version", 400);
  if (ver == NULL || strcmp(ver, "13") != 0)
    return fail(why, "unsupported Sec-WebSocket-Version (need 13)", 426);
  key = find_counted(h, "sec-websocket-key", &n);
  if (n == 0)
    return fail(why, "missing Sec-WebSocket-Key", 400);
  if (n > 1)
    return fail(why, "duplicate Sec-WebSocket-Key", 400);
  /* raw has room for 18 so a 24-char key with one '=' (17 bytes) is
   * measured, not truncated into a false 16. */
  if (ws101__base64_decode(key, strlen(key), raw, sizeof(raw)) != 16)
    return fail(why, "Sec-WebSocket-Key is not 16 bytes of base64", 400);
  return fail(why, "", 0);
}

int ws101__ws_check_request_h2(const ws101__h1_head *h, const char **why) {
  const char *ver;
  size_t n;
  if (h->method == NULL || strcmp(h->method, "CONNECT") != 0)
    return fail(why, "WebSocket over HTTP/2 must use CONNECT", 400);
  if (h->upgrade == NULL || strcmp(h->upgrade, "websocket") != 0)
    return fail(why, ":protocol is not websocket", 400);
  if (h->host == NULL)
    return fail(why, "missing :authority", 400);
  ver = find_counted(h, "sec-websocket-version", &n);
  if (n > 1)
    return fail(why, "duplicate Sec-WebSocket-Version", 400);
  if (ver == NULL || strcmp(ver, "13") != 0)
    return fail(why, "unsupported Sec-WebSocket-Version (need 13)", 426);
  return fail(why, "", 0);
}

int ws101__ws_origin_allowed(const ws101__strlist *allowed,
                             const char *origin) {
  size_t i;
  if (allowed == NULL || allowed->count == 0)
    return 1;
  if (origin == NULL)
    return 0;
  for (i = 0; i < allowed->count; i++)
    if (ws101__h1_ieq(allowed->items[i], origin))
      return 1;
  return 0;
}

int ws101__ws_offered_subprotocol(const char *offered, const char *proto) {
  const char *p = offered;
  size_t plen;
  if (offered == NULL || proto == NULL)
    return 0;
  plen = strlen(proto);
  for (;;) {
    const char *s = p, *e;
    while (*p != '\0' && *p != ',')
      p++;
    e = p;
    while (s < e && (*s == ' ' || *s == '\t'))
      s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
      e--;
    if ((size_t)(e - s) == plen && plen > 0 && memcmp(s, proto, plen) == 0)
      return 1;
    if (*p == '\0')
      return 0;
    p++;
  }
}

const char *ws101__ws_pick_subprotocol(const char *offered,
                                       const ws101__strlist *accepted) {
  size_t i;
  if (offered == NULL || accepted == NULL)
    return NULL;
  for (i = 0; i < accepted->count; i++)
    if (ws101__ws_offered_subprotocol(offered, accepted->items[i]))
      return accepted->items[i];
  return NULL;
}

void ws101__ws_client_key(char out[25]) {
  unsigned char raw[16];
  /* A predictable key defeats the handshake's purpose; there is no sane
   * fallback, and the caller's API has no error path for it. */
  if (RAND_bytes(raw, (int)sizeof(raw)) != 1)
    abort();
  ws101__base64_encode(raw, sizeof(raw), out);
}

int ws101__ws_check_response(const ws101__h1_head *h, const char *key,
                             const char *offered_protocols, const char **why) {
  char expect[29];
  const char *accept, *proto;
  size_t n;
  if (h->status == 426)
    return fail(why, "server requires another WebSocket version (426)",
                WS101_EHANDSHAKE);
  if (h->status != 101)
    return fail(why, "server did not answer 101 Switching Protocols",
                WS101_EHANDSHAKE);
  if (!upgrade_has_websocket(h))
    return fail(why, "response Upgrade header does not list websocket",
                WS101_EHANDSHAKE);
  if (!(h->flags & WS101__H1_CONN_UPGRADE))
    return fail(why, "response Connection header does not list upgrade",
                WS101_EHANDSHAKE);
  accept = find_counted(h, "sec-websocket-accept", &n);
  if (n != 1 || key == NULL)
    return fail(why, "missing or duplicate Sec-WebSocket-Accept",
                WS101_EHANDSHAKE);
  ws101__ws_accept_key(key, strlen(key), expect);
  if (expect[0] == '\0' || strcmp(accept, expect) != 0)
    return fail(why, "Sec-WebSocket-Accept does not match the key",
                WS101_EHANDSHAKE);
  proto = find_counted(h, "sec-websocket-protocol", &n);
  if (n > 1)
    return fail(why, "duplicate Sec-WebSocket-Protocol", WS101_EHANDSHAKE);
  if (n == 1 && (strchr(proto, ',') != NULL ||
                 !ws101__ws_offered_subprotocol(offered_protocols, proto)))
    return fail(why, "server picked a subprotocol we did not offer",
                WS101_EHANDSHAKE);
  return fail(why, "", 0);
}

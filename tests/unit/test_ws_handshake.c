/* test_ws_handshake.c - WebSocket opening handshake checks and keys. */
#include "proto/base64.h"
#include "proto/http1_parser.h"
#include "test.h"
#include "proto/ws_handshake.h"

static const ws101__h1_limits lim = {8192, 16384, 100};

typedef struct parsed {
  char buf[2048];
  ws101__h1_header hs[32];
  ws101__h1_head h;
} parsed;

static void parse(parsed *p, const char *text, int response) {
  size_t n = strlen(text), scanned = 0;
  int r;
  ASSERT_LT(n, sizeof(p->buf));
  memcpy(p->buf, text, n);
  p->h.headers = p->hs;
  p->h.max_headers_cap = 32;
  r = response ? ws101__h1_parse_response(p->buf, n, &scanned, &lim, &p->h)
               : ws101__h1_parse_request(p->buf, n, &scanned, &lim, &p->h);
  ASSERT_EQ(r, (int)n);
}

static void test_accept_key(void) {
  char out[29];
  ws101__ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, out);
  ASSERT_STR_EQ(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  ws101__ws_accept_key("x3JJHMbDL1EzLkh9GBhXDw==", 24, out);
  ASSERT_STR_EQ(out, "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
}

static void test_base64(void) {
  static const struct {
    const char *raw, *enc;
  } v[] = {{"", ""},
           {"f", "Zg=="},
           {"fo", "Zm8="},
           {"foo", "Zm9v"},
           {"foob", "Zm9vYg=="},
           {"fooba", "Zm9vYmE="},
           {"foobar", "Zm9vYmFy"}};
  char enc[16], dec[16];
  for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
    size_t n = strlen(v[i].raw);
    ASSERT_EQ(ws101__base64_encode(v[i].raw, n, enc), strlen(v[i].enc));
    ASSERT_STR_EQ(enc, v[i].enc);
    ASSERT_EQ(
        ws101__base64_decode(v[i].enc, strlen(v[i].enc), dec, sizeof(dec)),
        (int)n);
    ASSERT_MEM_EQ(dec, v[i].raw, n);
  }
  /* strictness */
  ASSERT_EQ(ws101__base64_decode("Zg=", 3, dec, 16), -1);
  ASSERT_EQ(ws101__base64_decode("Zh==", 4, dec, 16), -1); /* dirty bits */
  ASSERT_EQ(ws101__base64_decode("Zm9=", 4, dec, 16), -1);
  ASSERT_EQ(ws101__base64_decode("Z===", 4, dec, 16), -1);
  ASSERT_EQ(ws101__base64_decode("====", 4, dec, 16), -1);
  ASSERT_EQ(ws101__base64_decode("Zg==Zg==", 8, dec, 16), -1);
  ASSERT_EQ(ws101__base64_decode("Zm9v YmFy", 9, dec, 16), -1);
  ASSERT_EQ(ws101__base64_decode("Zm-v", 4, dec, 16), -1);
  ASSERT_EQ(ws101__base64_decode("Zm9vYmFy", 8, dec, 5), -1); /* no room */
  ASSERT_EQ(ws101__base64_decode("Zm9vYmFy", 8, dec, 6), 6);
}

static const char good_req[] =
    "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"
    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n"
    "Sec-WebSocket-Version: 13\r\n\r\n";

static void test_check_request(void) {
  static const struct {
    const char *text;
    int want;
  } t[] = {
      {good_req, 0},
      {"GET /c HTTP/1.1\r\nHost: h\r\nUpgrade: WebSocket\r\n"
       "Connection: keep-alive, upgrade\r\n"
       "Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n"
       "Sec-WebSocket-Version: 13\r\n\r\n",
       0},
      /* method */
      {"POST /c HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
       "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
       "Sec-WebSocket-Version: 13\r\n\r\n",
       400},
      /* HTTP/1.0 */
      {"GET /c HTTP/1.0\r\nHost: h\r\nUpgrade: websocket\r\n"
       "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
       "Sec-WebSocket-Version: 13\r\n\r\n",
       400},
      /* no Host (only parseable on 1.0, so 1.0 fails first: still 400) */
      {"GET /c HTTP/1.0\r\nUpgrade: websocket\r\n"
       "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
       "Sec-WebSocket-Version: 13\r\n\r\n",
       400},
      /* Upgrade missing / wrong */
      {"GET /c HTTP/1.1\r\nHost: h\r\n"
       "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
       "Sec-WebSocket-Version: 13\r\n\r\n",
       400},
      {"GET /c HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\n"
       "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
       "Sec-WebSocket-Version: 13\r\n\r\n",
       400},
      /* Connection without upgrade */
      {"GET /c HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
       "Connection: keep-alive\r\n"
       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
       "Sec-WebSocket-Version: 13\r\n\r\n",
       400},
      /* key missing, duplicated, wrong length, not base64 */
      {"GET /c HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
       "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n",
       400},
      {"GET /c HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
       "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
       "Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n"
       "Sec-WebSocket-Version: 13\r\n\r\n",
       400},
      {"GET /c HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
       "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZQ==\r\n"
       "Sec-WebSocket-Version: 13\r\n\r\n",
       400},
      {"GET /c HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
       "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=a\r\n"
       "Sec-WebSocket-Version: 13\r\n\r\n",
       400},
      {"GET /c HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
       "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ\r\n"
       "Sec-WebSocket-Version: 13\r\n\r\n",
       400},
      /* version missing / unsupported: 426 */
      {"GET /c HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
       "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
       "\r\n",
       426},
      {"GET /c HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
       "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
       "Sec-WebSocket-Version: 8\r\n\r\n",
       426},
      {"GET /c HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
       "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
       "Sec-WebSocket-Version: 13, 8\r\n\r\n",
       426},
  };
  for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
    parsed p;
    const char *why = NULL;
    int r;
    parse(&p, t[i].text, 0);
    r = ws101__ws_check_request(&p.h, &why);
    if (r != t[i].want)
      FAILF("req[%zu]: got %d (%s)", i, r, why);
    ASSERT(why != NULL);
    ASSERT_EQ(why[0] == '\0', r == 0);
  }
}

static void test_check_request_no_host(void) {
  /* An HTTP/1.1 request without Host never parses; a hand-built head
   * exercises the check anyway. */
  parsed p;
  const char *why;
  parse(&p, good_req, 0);
  p.h.host = NULL;
  ASSERT_EQ(ws101__ws_check_request(&p.h, &why), 400);
  ASSERT_STR_EQ(why, "missing Host header");
}

static void test_origin(void) {
  char a[] = "https://app.example.com", b[] = "http://localhost:8080";
  char *items[] = {a, b};
  ws101__strlist empty = {NULL, 0}, list = {items, 2};
  ASSERT_EQ(ws101__ws_origin_allowed(&empty, NULL), 1);
  ASSERT_EQ(ws101__ws_origin_allowed(&empty, "http://evil"), 1);
  ASSERT_EQ(ws101__ws_origin_allowed(NULL, "http://evil"), 1);
  ASSERT_EQ(ws101__ws_origin_allowed(&list, "https://app.example.com"), 1);
  ASSERT_EQ(ws101__ws_origin_allowed(&list, "HTTPS://APP.example.COM"), 1);
  ASSERT_EQ(ws101__ws_origin_allowed(&list, "http://localhost:8080"), 1);
  ASSERT_EQ(ws101__ws_origin_allowed(&list, "https://app.example.com.evil"), 0);
  ASSERT_EQ(ws101__ws_origin_allowed(&list, "https://app.example.co"), 0);
  ASSERT_EQ(ws101__ws_origin_allowed(&list, "null"), 0);
  ASSERT_EQ(ws101__ws_origin_allowed(&list, NULL), 0);
}

static void test_subprotocols(void) {
  char a[] = "superchat", b[] = "chat";
  char *items[] = {a, b};
  ws101__strlist acc = {items, 2}, none = {NULL, 0};
  ASSERT_STR_EQ(ws101__ws_pick_subprotocol("chat, superchat", &acc),
                "superchat");
  ASSERT_STR_EQ(ws101__ws_pick_subprotocol("chat", &acc), "chat");
  ASSERT_STR_EQ(ws101__ws_pick_subprotocol(" x ,\tchat ", &acc), "chat");
  ASSERT(ws101__ws_pick_subprotocol("mqtt, soap", &acc) == NULL);
  ASSERT(ws101__ws_pick_subprotocol("superchatx, chatty", &acc) == NULL);
  ASSERT(ws101__ws_pick_subprotocol(NULL, &acc) == NULL);
  ASSERT(ws101__ws_pick_subprotocol("chat", &none) == NULL);
  ASSERT(ws101__ws_pick_subprotocol("chat", NULL) == NULL);
  ASSERT_EQ(ws101__ws_offered_subprotocol("a, b,c", "b"), 1);
  ASSERT_EQ(ws101__ws_offered_subprotocol("a, b,c", "c"), 1);
  ASSERT_EQ(ws101__ws_offered_subprotocol("a, b,c", "d"), 0);
  ASSERT_EQ(ws101__ws_offered_subprotocol("a, b,c", ""), 0);
  ASSERT_EQ(ws101__ws_offered_subprotocol(NULL, "a"), 0);
}

static void test_client_key(void) {
  char k1[25], k2[25];
  unsigned char raw[18];
  ws101__ws_client_key(k1);
  ws101__ws_client_key(k2);
  ASSERT_EQ(strlen(k1), 24);
  ASSERT_EQ(strlen(k2), 24);
  ASSERT_EQ(ws101__base64_decode(k1, 24, raw, sizeof(raw)), 16);
  ASSERT_EQ(ws101__base64_decode(k2, 24, raw, sizeof(raw)), 16);
  ASSERT(strcmp(k1, k2) != 0);
}

#define RESP_OK                                                                \
  "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"                 \
  "Connection: Upgrade\r\nSec-WebSocket-Accept: "                              \
  "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"

static void test_check_response(void) {
  static const char key[] = "dGhlIHNhbXBsZSBub25jZQ==";
  static const struct {
    const char *text, *offered;
    int want;
  } t[] = {
      {RESP_OK "\r\n", NULL, 0},
      {RESP_OK "Sec-WebSocket-Protocol: chat\r\n\r\n", "superchat, chat", 0},
      /* wrong accept */
      {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
       "Connection: Upgrade\r\n"
       "Sec-WebSocket-Accept: HSmrc0sMlYUkAGmm5OPpG2HaGWk=\r\n\r\n",
       NULL, WS101_EHANDSHAKE},
      /* empty / missing / duplicated accept */
      {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
       "Connection: Upgrade\r\nSec-WebSocket-Accept:\r\n\r\n",
       NULL, WS101_EHANDSHAKE},
      {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
       "Connection: Upgrade\r\n\r\n",
       NULL, WS101_EHANDSHAKE},
      {RESP_OK "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
       NULL, WS101_EHANDSHAKE},
      /* missing Upgrade, missing Connection */
      {"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
       "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
       NULL, WS101_EHANDSHAKE},
      {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
       "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
       NULL, WS101_EHANDSHAKE},
      /* not 101 */
      {"HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\n"
       "Content-Length: 0\r\n\r\n",
       NULL, WS101_EHANDSHAKE},
      {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", NULL, WS101_EHANDSHAKE},
      /* subprotocol not offered, none offered, or a list */
      {RESP_OK "Sec-WebSocket-Protocol: mqtt\r\n\r\n", "chat",
       WS101_EHANDSHAKE},
      {RESP_OK "Sec-WebSocket-Protocol: chat\r\n\r\n", NULL, WS101_EHANDSHAKE},
      {RESP_OK "Sec-WebSocket-Protocol: chat, superchat\r\n\r\n",
       "chat, superchat", WS101_EHANDSHAKE},
  };
  for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
    parsed p;
    const char *why = NULL;
    int r;
    parse(&p, t[i].text, 1);
    r = ws101__ws_check_response(&p.h, key, t[i].offered, &why);
    if (r != t[i].want)
      FAILF("resp[%zu]: got %d (%s)", i, r, why);
    ASSERT(why != NULL);
    if (i == 8)
      ASSERT(strstr(why, "426") != NULL);
  }
}

int main(void) {
  RUN(test_accept_key);
  RUN(test_base64);
  RUN(test_check_request);
  RUN(test_check_request_no_host);
  RUN(test_origin);
  RUN(test_subprotocols);
  RUN(test_client_key);
  RUN(test_check_response);
  TEST_DONE();
}

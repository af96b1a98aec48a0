/* test_h2_check.c - the RFC 9113 §8 request checks the server session
 * runs instead of nghttp2's: each rule on a good head and a bad one. */
#include "test.h"
#include "proto/h2_check.h"

#include <string.h>

typedef struct {
  const char *n, *v;
} nv;

/* Feeds `f` (NULL-terminated) as a head; returns the first non-OK field
 * verdict, else the head verdict. */
static int head_of(ws101__h2_check *c, const nv *f, int cp) {
  size_t i;
  memset(c, 0, sizeof(*c));
  for (i = 0; f[i].n != NULL; i++) {
    int rc = ws101__h2_check_field(c, (const uint8_t *)f[i].n, strlen(f[i].n),
                                   (const uint8_t *)f[i].v, strlen(f[i].v), 0,
                                   cp);
    if (rc != WS101__H2C_OK) return rc;
  }
  return ws101__h2_check_head(c);
}

static int field(ws101__h2_check *c, const char *n, const char *v, int tr) {
  return ws101__h2_check_field(c, (const uint8_t *)n, strlen(n),
                               (const uint8_t *)v, strlen(v), tr, 0);
}

#define GET                                                                \
  {":method", "GET"}, {":scheme", "https"}, {":path", "/"},               \
  {                                                                        \
    ":authority", "example.com"                                            \
  }
#define END {NULL, NULL}

static void test_good_heads(void) {
  ws101__h2_check c;
  nv get[] = {GET, {"accept", "*/*"}, {"te", "trailers"}, END};
  nv host[] = {{":method", "GET"}, {":scheme", "http"}, {":path", "/x"},
               {"host", "h:80"}, END};
  nv opt[] = {{":method", "OPTIONS"}, {":scheme", "https"}, {":path", "*"},
              {":authority", "h"}, END};
  nv conn[] = {{":method", "CONNECT"}, {":authority", "h:443"}, END};
  nv ws[] = {{":method", "CONNECT"}, {":protocol", "websocket"},
             {":scheme", "https"}, {":path", "/chat"}, {":authority", "h"},
             END};
  nv other[] = {{":method", "GET"}, {":scheme", "foo+bar"}, {":path", "x"},
                {":authority", "h"}, END};
  nv empty_value[] = {GET, {"x-empty", ""}, END};
  ASSERT_EQ(head_of(&c, get, 0), WS101__H2C_OK);
  ASSERT_EQ(head_of(&c, host, 0), WS101__H2C_OK);
  ASSERT_EQ(head_of(&c, opt, 0), WS101__H2C_OK);
  ASSERT_EQ(head_of(&c, conn, 0), WS101__H2C_OK);
  ASSERT_EQ(head_of(&c, ws, 1), WS101__H2C_OK);
  ASSERT_EQ(head_of(&c, other, 0), WS101__H2C_OK); /* not http(s) */
  ASSERT_EQ(head_of(&c, empty_value, 0), WS101__H2C_OK);
}

static void test_pseudo_rules(void) {
  ws101__h2_check c;
  nv after[] = {{":method", "GET"}, {"accept", "*/*"}, {":scheme", "https"},
                {":path", "/"}, {":authority", "h"}, END};
  nv dup[] = {GET, END, END};
  nv unknown[] = {GET, END, END};
  nv status[] = {GET, END, END};
  nv no_method[] = {{":scheme", "https"}, {":path", "/"},
                    {":authority", "h"}, END};
  nv no_scheme[] = {{":method", "GET"}, {":path", "/"}, {":authority", "h"},
                    END};
  nv no_path[] = {{":method", "GET"}, {":scheme", "https"},
                  {":authority", "h"}, END};
  nv no_auth[] = {{":method", "GET"}, {":scheme", "https"}, {":path", "/"},
                  END};
  nv empty_path[] = {{":method", "GET"}, {":scheme", "https"}, {":path", ""},
                     {":authority", "h"}, END};
  nv rel_path[] = {{":method", "GET"}, {":scheme", "https"}, {":path", "x"},
                   {":authority", "h"}, END};
  nv star_get[] = {{":method", "GET"}, {":scheme", "https"}, {":path", "*"},
                   {":authority", "h"}, END};
  nv bad_method[] = {{":method", "G T"}, {":scheme", "https"},
                     {":path", "/"}, {":authority", "h"}, END};
  nv bad_scheme[] = {{":method", "GET"}, {":scheme", "1ttp"},
                     {":path", "/"}, {":authority", "h"}, END};
  nv bad_auth[] = {{":method", "GET"}, {":scheme", "https"}, {":path", "/"},
                   {":authority", "a b"}, END};
  nv bad_path[] = {{":method", "GET"}, {":scheme", "https"},
                   {":path", "/a b"}, {":authority", "h"}, END};
  dup[4].n = ":path";
  dup[4].v = "/again";
  unknown[4].n = ":foo";
  unknown[4].v = "x";
  status[4].n = ":status";
  status[4].v = "200";
  ASSERT_EQ(head_of(&c, after, 0), WS101__H2C_BAD);
  ASSERT_EQ(head_of(&c, dup, 0), WS101__H2C_BAD);
  ASSERT_EQ(head_of(&c, unknown, 0), WS101__H2C_BAD);
  ASSERT_EQ(head_of(&c, status, 0), WS101__H2C_BAD);
  ASSERT_EQ(head_of(&c, no_method, 0), WS101__H2C_BAD);
  ASSERT_EQ(head_of(&c, no_scheme, 0), WS101__H2C_BAD);
  ASSERT_EQ(head_of(&c, no_path, 0), WS101__H2C_BAD);
  ASSERT_EQ(head_of(&c, no_auth, 0), WS101__H2C_BAD);
  ASSERT_EQ(head_of(&c, empty_path, 0), WS101__H2C_BAD);
  ASSERT_EQ(head_of(&c, rel_path, 0), WS101__H2C_BAD);
  ASSERT_EQ(head_of(&c, star_get, 0), WS101__H2C_BAD);
  ASSERT_EQ(head_of(&c, bad_method, 0), WS101__H2C_BAD);
  ASSERT_EQ(head_of(&c, bad_scheme, 0), WS101__H2C_BAD);
  ASSERT_EQ(head_of(&c, bad_auth, 0), WS101__H2C_BAD);
  ASSERT_EQ(head_of(&c, bad_path, 0), WS101__H2C_BAD);
}

static void test_connect(void) {
  ws101__h2_check c;
  nv no_auth[] = {{":method", "CONNECT"}, END};
  nv with_path[] = {{":method", "CONNECT"}, {":authority", "h:443"},
                    {":path", "/"}, END};
  nv with_scheme[] = {{":method", "CONNECT"}, {":authority", "h:443"},
                      {":scheme", "https"}, END};
  nv ws[] = {{":method", "CONNECT"}, {":protocol", "websocket"},
             {":scheme", "https"}, {":path", "/chat"}, {":authority", "h"},
             END};
  nv proto_get[] = {{":method", "GET"}, {":protocol", "websocket"},
                    {":scheme", "https"}, {":path", "/"},
                    {":authority", "h"}, END};
  nv ws_no_auth[] = {{":method", "CONNECT"}, {":protocol", "websocket"},
                     {":scheme", "https"}, {":path", "/chat"},
                     {"host", "h"}, END};
  nv tunnel_cl[] = {{":method", "CONNECT"}, {":authority", "h:443"},
                    {"content-length", "0"}, END};
  ASSERT_EQ(head_of(&c, no_auth, 0), WS101__H2C_BAD);
  ASSERT_EQ(head_of(&c, with_path, 0), WS101__H2C_BAD);
  ASSERT_EQ(head_of(&c, with_scheme, 0), WS101__H2C_BAD);
  /* :protocol only when we advertised SETTINGS_ENABLE_CONNECT_PROTOCOL */
  ASSERT_EQ(head_of(&c, ws, 0), WS101__H2C_BAD);
  ASSERT_EQ(head_of(&c, ws, 1), WS101__H2C_OK);
  ASSERT_EQ(head_of(&c, proto_get, 1), WS101__H2C_BAD);
  ASSERT_EQ(head_of(&c, ws_no_auth, 1), WS101__H2C_BAD);
  /* A plain CONNECT's DATA is a tunnel: content-length does not apply. */
  ASSERT_EQ(head_of(&c, tunnel_cl, 0), WS101__H2C_OK);
  ASSERT_EQ(ws101__h2_check_data(&c, 100), 0);
  ASSERT_EQ(ws101__h2_check_end(&c), 0);
}

static void test_regular_fields(void) {
  static const char *conn_specific[] = {"connection", "keep-alive",
                                        "proxy-connection",
                                        "transfer-encoding", "upgrade"};
  ws101__h2_check c;
  size_t i;
  for (i = 0; i < sizeof(conn_specific) / sizeof(conn_specific[0]); i++) {
    nv f[] = {GET, {conn_specific[i], "x"}, END};
    ASSERT_EQ(head_of(&c, f, 0), WS101__H2C_BAD);
  }
  {
    nv te_gzip[] = {GET, {"te", "gzip"}, END};
    nv te_up[] = {GET, {"te", "Trailers"}, END};
    nv upper[] = {GET, {"Accept", "*/*"}, END};
    nv upper_pseudo[] = {{":Method", "GET"}, END};
    nv empty_name[] = {GET, {"", "x"}, END};
    nv dup_host[] = {GET, {"host", "a"}, {"host", "b"}, END};
    nv empty_host[] = {GET, {"host", ""}, END};
    ASSERT_EQ(head_of(&c, te_gzip, 0), WS101__H2C_BAD);
    ASSERT_EQ(head_of(&c, te_up, 0), WS101__H2C_OK);
    ASSERT_EQ(head_of(&c, upper, 0), WS101__H2C_BAD);
    ASSERT_EQ(head_of(&c, upper_pseudo, 0), WS101__H2C_BAD);
    ASSERT_EQ(head_of(&c, empty_name, 0), WS101__H2C_BAD);
    ASSERT_EQ(head_of(&c, dup_host, 0), WS101__H2C_BAD);
    ASSERT_EQ(head_of(&c, empty_host, 0), WS101__H2C_BAD);
  }
  /* Other bad bytes in a regular field drop it, as nghttp2 does. */
  memset(&c, 0, sizeof(c));
  ASSERT_EQ(field(&c, "x a", "1", 0), WS101__H2C_IGNORE);
  ASSERT_EQ(field(&c, "x", " lead", 0), WS101__H2C_IGNORE);
  ASSERT_EQ(field(&c, "x", "trail\t", 0), WS101__H2C_IGNORE);
  ASSERT_EQ(field(&c, "x", "in side", 0), WS101__H2C_OK);
  ASSERT_EQ(field(&c, "x", "caf\xc3\xa9", 0), WS101__H2C_OK);
  ASSERT_EQ(field(&c, "host", "a b", 0), WS101__H2C_IGNORE);
  {
    static const char bad[] = {'\0', '\r', '\n', 0x7f, 0x01};
    for (i = 0; i < sizeof(bad); i++) {
      uint8_t v[3] = {'a', (uint8_t)bad[i], 'b'};
      ASSERT_EQ(ws101__h2_check_field(&c, (const uint8_t *)"x", 1, v, 3, 0, 0),
                WS101__H2C_IGNORE);
    }
  }
  /* A bad byte at every position of a long value (the word-at-a-time
   * path and its tail), and a long value with HTAB and obs-text inside. */
  {
    static const uint8_t bad[] = {'\0', '\r', '\n', 0x7f, 0x1f};
    uint8_t v[37];
    size_t pos, k;
    for (k = 0; k < sizeof(bad); k++)
      for (pos = 1; pos + 1 < sizeof(v); pos++) {
        memset(v, 'a', sizeof(v));
        v[pos] = bad[k];
        ASSERT_EQ(ws101__h2_check_field(&c, (const uint8_t *)"x", 1, v,
                                        sizeof(v), 0, 0),
                  WS101__H2C_IGNORE);
      }
    memset(v, 'a', sizeof(v));
    v[5] = '\t';
    v[12] = 0x80;
    v[20] = 0xff;
    v[30] = ' ';
    ASSERT_EQ(ws101__h2_check_field(&c, (const uint8_t *)"x", 1, v,
                                    sizeof(v), 0, 0),
              WS101__H2C_OK);
  }
  /* ...but a pseudo-header still may not follow a dropped field. */
  ASSERT_EQ(field(&c, ":path", "/", 0), WS101__H2C_BAD);
}

static void test_content_length(void) {
  ws101__h2_check c;
  nv cl[] = {GET, {"content-length", "10"}, END};
  nv dup[] = {GET, {"content-length", "1"}, {"content-length", "1"}, END};
  nv sign[] = {GET, {"content-length", "+1"}, END};
  nv empty[] = {GET, {"content-length", ""}, END};
  nv huge[] = {GET, {"content-length", "99999999999999999999"}, END};
  ASSERT_EQ(head_of(&c, dup, 0), WS101__H2C_BAD); /* nghttp2: any second */
  ASSERT_EQ(head_of(&c, sign, 0), WS101__H2C_BAD);
  ASSERT_EQ(head_of(&c, empty, 0), WS101__H2C_BAD);
  ASSERT_EQ(head_of(&c, huge, 0), WS101__H2C_BAD);
  /* The body split anywhere: the sum counts, midway and at the end. */
  ASSERT_EQ(head_of(&c, cl, 0), WS101__H2C_OK);
  ASSERT_EQ(ws101__h2_check_end(&c), WS101__H2C_BAD); /* END_STREAM at 0 */
  ASSERT_EQ(ws101__h2_check_data(&c, 3), 0);
  ASSERT_EQ(ws101__h2_check_data(&c, 0), 0);
  ASSERT_EQ(ws101__h2_check_end(&c), WS101__H2C_BAD);
  ASSERT_EQ(ws101__h2_check_data(&c, 7), 0);
  ASSERT_EQ(ws101__h2_check_end(&c), 0);
  ASSERT_EQ(ws101__h2_check_data(&c, 1), WS101__H2C_BAD); /* past it */
  ASSERT_EQ(head_of(&c, cl, 0), WS101__H2C_OK);
  ASSERT_EQ(ws101__h2_check_data(&c, 11), WS101__H2C_BAD);
  /* No content-length: any body. */
  {
    nv get[] = {GET, END};
    ASSERT_EQ(head_of(&c, get, 0), WS101__H2C_OK);
    ASSERT_EQ(ws101__h2_check_data(&c, 12345), 0);
    ASSERT_EQ(ws101__h2_check_end(&c), 0);
  }
}

static void test_trailers(void) {
  ws101__h2_check c;
  nv get[] = {GET, END};
  ASSERT_EQ(head_of(&c, get, 0), WS101__H2C_OK);
  ASSERT_EQ(field(&c, "x-checksum", "abc", 1), WS101__H2C_OK);
  ASSERT_EQ(field(&c, ":path", "/", 1), WS101__H2C_BAD);
  ASSERT_EQ(head_of(&c, get, 0), WS101__H2C_OK);
  ASSERT_EQ(field(&c, ":status", "200", 1), WS101__H2C_BAD);
  ASSERT_EQ(field(&c, "connection", "close", 1), WS101__H2C_BAD);
}

/* What each passing field is, by the check and by name alone: the head
 * is assembled from these without comparing names again. */
static void test_kinds(void) {
  static const struct {
    const char *n, *v;
    int kind;
  } k[] = {{":method", "GET", WS101__H2K_METHOD},
           {":scheme", "http", WS101__H2K_SCHEME},
           {":path", "/", WS101__H2K_PATH},
           {":authority", "a", WS101__H2K_AUTHORITY},
           {"host", "a", WS101__H2K_HOST},
           {"content-length", "0", WS101__H2K_CONTENT_LENGTH},
           {"expect", "100-continue", WS101__H2K_EXPECT},
           {"accept", "*/*", WS101__H2K_FIELD},
           {"hostx", "a", WS101__H2K_FIELD},
           {"expects", "a", WS101__H2K_FIELD}};
  ws101__h2_check c;
  size_t i;
  memset(&c, 0, sizeof c);
  for (i = 0; i < sizeof k / sizeof k[0]; i++) {
    const uint8_t *n = (const uint8_t *)k[i].n;
    ASSERT_EQ(field(&c, k[i].n, k[i].v, 0), WS101__H2C_OK);
    ASSERT_EQ(c.kind, k[i].kind);
    if (k[i].kind != WS101__H2K_SCHEME)
      ASSERT_EQ(ws101__h2_field_kind(n, strlen(k[i].n)), k[i].kind);
  }
  memset(&c, 0, sizeof c);
  ASSERT_EQ(field(&c, ":protocol", "websocket", 0), WS101__H2C_BAD);
  ASSERT_EQ(ws101__h2_check_field(&c, (const uint8_t *)":protocol", 9,
                                  (const uint8_t *)"websocket", 9, 0, 1),
            WS101__H2C_OK);
  ASSERT_EQ(c.kind, WS101__H2K_PROTOCOL);
  ASSERT_EQ(ws101__h2_field_kind((const uint8_t *)":status", 7),
            WS101__H2K_STATUS);
  ASSERT_EQ(ws101__h2_field_kind((const uint8_t *)":protocol", 9),
            WS101__H2K_PROTOCOL);
  ASSERT_EQ(ws101__h2_field_kind((const uint8_t *)":scheme", 7),
            WS101__H2K_OTHER_PSEUDO);
  ASSERT_EQ(ws101__h2_field_kind((const uint8_t *)":pat", 4),
            WS101__H2K_OTHER_PSEUDO);
  ASSERT_EQ(ws101__h2_field_kind((const uint8_t *)"te", 2), WS101__H2K_FIELD);
}

int main(void) {
  RUN(test_good_heads);
  RUN(test_pseudo_rules);
  RUN(test_connect);
  RUN(test_regular_fields);
  RUN(test_content_length);
  RUN(test_trailers);
  RUN(test_kinds);
  TEST_DONE();
}

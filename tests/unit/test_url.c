/* test_url.c - the client URL parser. */
#include "test.h"
#include "proto/url.h"
#include "ws101.h"

static void expect_ok(const char *s, int scheme, const char *host, int port,
                      const char *target, const char *authority,
                      const char *origin) {
  ws101__url u;
  const char *why = "unset";
  int rc = ws101__url_parse(s, &u, &why);
  if (rc != 0) FAILF("parse(%s) = %d (%s)", s, rc, why ? why : "?");
  ASSERT(why == NULL);
  ASSERT_EQ(u.scheme, scheme);
  ASSERT_STR_EQ(u.host, host);
  ASSERT_EQ(u.port, port);
  ASSERT_STR_EQ(u.target, target);
  ASSERT_STR_EQ(u.authority, authority);
  ASSERT_STR_EQ(u.origin, origin);
  ws101__url_free(&u);
  ASSERT(u.host == NULL);
  ws101__url_free(&u); /* idempotent */
}

static void expect_bad(const char *s) {
  ws101__url u;
  const char *why = NULL;
  int rc = ws101__url_parse(s, &u, &why);
  if (rc != WS101_EURL) FAILF("parse(%s) = %d, want WS101_EURL", s, rc);
  ASSERT(why != NULL && why[0] != '\0');
  ASSERT(u.host == NULL);
}

static void test_schemes_and_defaults(void) {
  expect_ok("http://example.com", WS101__URL_HTTP, "example.com", 80, "/",
            "example.com", "http://example.com:80");
  expect_ok("https://example.com/", WS101__URL_HTTPS, "example.com", 443,
            "/", "example.com", "https://example.com:443");
  expect_ok("ws://h/chat", WS101__URL_WS, "h", 80, "/chat", "h",
            "ws://h:80");
  expect_ok("wss://h/a/b?x=1&y", WS101__URL_WSS, "h", 443, "/a/b?x=1&y", "h",
            "wss://h:443");
  /* Scheme and host are case-insensitive; the path is not. */
  expect_ok("WS://Example.COM/Path", WS101__URL_WS, "example.com", 80,
            "/Path", "example.com", "ws://example.com:80");
}

static void test_ports(void) {
  expect_ok("ws://127.0.0.1:9001/ws", WS101__URL_WS, "127.0.0.1", 9001,
            "/ws", "127.0.0.1:9001", "ws://127.0.0.1:9001");
  /* An explicit default port is left out of Host, as browsers do. */
  expect_ok("http://h:80/", WS101__URL_HTTP, "h", 80, "/", "h",
            "http://h:80");
  expect_ok("http://h:65535", WS101__URL_HTTP, "h", 65535, "/", "h:65535",
            "http://h:65535");
  expect_ok("http://h:1?q", WS101__URL_HTTP, "h", 1, "/?q", "h:1",
            "http://h:1");
  expect_bad("http://h:0/");
  expect_bad("http://h:65536/");
  expect_bad("http://h:123456/");
  expect_bad("http://h:/");
  expect_bad("http://h:8x/");
  expect_bad("http://h:-1/");
  expect_bad("http://h:+80/");
}

static void test_ipv6(void) {
  expect_ok("ws://[::1]:8080/x", WS101__URL_WS, "::1", 8080, "/x",
            "[::1]:8080", "ws://[::1]:8080");
  expect_ok("http://[2001:DB8::1]", WS101__URL_HTTP, "2001:db8::1", 80, "/",
            "[2001:db8::1]", "http://[2001:db8::1]:80");
  expect_ok("http://[::ffff:192.0.2.1]/", WS101__URL_HTTP, "::ffff:192.0.2.1",
            80, "/", "[::ffff:192.0.2.1]", "http://[::ffff:192.0.2.1]:80");
  expect_ok("http://[1:2:3:4:5:6:7:8]/", WS101__URL_HTTP, "1:2:3:4:5:6:7:8",
            80, "/", "[1:2:3:4:5:6:7:8]", "http://[1:2:3:4:5:6:7:8]:80");
  expect_ok("http://[::]/", WS101__URL_HTTP, "::", 80, "/", "[::]",
            "http://[::]:80");
  expect_bad("http://[::1/");
  expect_bad("http://[]/");
  expect_bad("http://[1:2:3:4:5:6:7:8:9]/");
  expect_bad("http://[1:2:3]/");
  expect_bad("http://[1::2::3]/");
  expect_bad("http://[12345::1]/");
  expect_bad("http://[::1%25eth0]/");
  expect_bad("http://[::1]x/");
  expect_bad("http://[::1.2.3]/");
  expect_bad("http://::1/");
}

static void test_rejects(void) {
  expect_bad("");
  expect_bad("example.com/");
  expect_bad("ftp://example.com/");
  expect_bad("wsx://example.com/");
  expect_bad("http:/example.com/");
  expect_bad("http://");
  expect_bad("http:///path");
  expect_bad("http://user@example.com/");
  expect_bad("http://user:pw@example.com/");
  expect_bad("ws://example.com/#frag");
  expect_bad("ws://example.com/a#");
  expect_bad("http://exa mple.com/");
  expect_bad("http://example.com/a b");
  expect_bad("http://example.com/a\r\nX: y");
  expect_bad("http://example.com/\x7f");
  expect_bad("http://example.com/\xc3\xa9");
  expect_bad("http://example.com/%zz");
  expect_bad("http://example.com/%4");
  expect_bad("http://ex%41mple.com/");
}

static void test_misc(void) {
  ws101__url u;
  char longhost[300];
  const char *why;
  ASSERT_EQ(ws101__url_parse(NULL, &u, NULL), WS101_EINVAL);
  ASSERT_EQ(ws101__url_parse("http://h/", NULL, NULL), WS101_EINVAL);
  memset(longhost, 'a', sizeof(longhost));
  memcpy(longhost, "http://", 7);
  longhost[sizeof(longhost) - 1] = '\0';
  ASSERT_EQ(ws101__url_parse(longhost, &u, &why), WS101_EURL);
  ASSERT_STR_EQ(ws101__url_scheme_name(WS101__URL_WSS), "wss");
  ASSERT_STR_EQ(ws101__url_scheme_name(99), "");
  /* Percent-escapes and sub-delims in the path pass through untouched. */
  expect_ok("http://h/a%20b/c;d=e,f?q=%2F&x=[y]", WS101__URL_HTTP, "h", 80,
            "/a%20b/c;d=e,f?q=%2F&x=[y]", "h", "http://h:80");
  expect_ok("http://under_score.local-host./", WS101__URL_HTTP,
            "under_score.local-host.", 80, "/", "under_score.local-host.",
            "http://under_score.local-host.:80");
}

int main(void) {
  RUN(test_schemes_and_defaults);
  RUN(test_ports);
  RUN(test_ipv6);
  RUN(test_rejects);
  RUN(test_misc);
  TEST_DONE();
}

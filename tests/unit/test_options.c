/* test_options.c - option ranges, error strings, versions. */
#include "test.h"
#include "ws101.h"

static void test_defaults_and_ranges(void) {
  ws101_options *o;
  int64_t v;
  ASSERT_EQ(ws101_options_new(&o), 0);
  ASSERT_EQ(ws101_options_get(o, WS101_OPT_MAX_HEADER_BYTES, &v), 0);
  ASSERT_EQ(v, 16384);
  ASSERT_EQ(ws101_options_get(o, WS101_OPT_DEFLATE, &v), 0);
  ASSERT_EQ(v, 1);
  ASSERT_EQ(ws101_options_set(o, WS101_OPT_DEFLATE_LEVEL, 9), 0);
  ASSERT_EQ(ws101_options_get(o, WS101_OPT_DEFLATE_LEVEL, &v), 0);
  ASSERT_EQ(v, 9);
  /* Out of range is an error, never a clamp. */
  ASSERT_EQ(ws101_options_set(o, WS101_OPT_DEFLATE_LEVEL, 10), WS101_EINVAL);
  ASSERT_EQ(ws101_options_set(o, WS101_OPT_DEFLATE_WINDOW_BITS, 7),
            WS101_EINVAL);
  ASSERT_EQ(ws101_options_set(o, WS101_OPT_MAX_HEADERS, 0), WS101_EINVAL);
  ASSERT_EQ(ws101_options_set(o, (ws101_opt)9999, 1), WS101_EINVAL);
  ASSERT_EQ(ws101_options_get(o, WS101_OPT_DEFLATE_LEVEL, &v), 0);
  ASSERT_EQ(v, 9);
  ASSERT_EQ(ws101_options_set(o, WS101_OPT_WS_MAX_MESSAGE, 1 << 20), 0);
  ASSERT_EQ(ws101_options_get(o, WS101_OPT_WS_MAX_MESSAGE, &v), 0);
  ASSERT_EQ(v, 1 << 20);
  ws101_options_free(o);
}

static void test_lists(void) {
  ws101_options *o;
  ASSERT_EQ(ws101_options_new(&o), 0);
  ASSERT_EQ(ws101_options_add_origin(o, "https://a.example"), 0);
  ASSERT_EQ(ws101_options_add_origin(o, ""), WS101_EINVAL);
  ASSERT_EQ(ws101_options_add_origin(o, "x\r\ny"), WS101_EINVAL);
  ASSERT_EQ(ws101_options_add_subprotocol(o, "chat.v2"), 0);
  ASSERT_EQ(ws101_options_add_subprotocol(o, "bad proto"), WS101_EINVAL);
  {
    char longp[200];
    memset(longp, 'p', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = '\0';
    ASSERT_EQ(ws101_options_add_subprotocol(o, longp), WS101_EINVAL);
  }
  ASSERT_EQ(ws101_options_add_header(o, "Authorization", "Bearer x"), 0);
  ASSERT_EQ(ws101_options_add_header(o, "Bad:Name", "v"), WS101_EINVAL);
  ASSERT_EQ(ws101_options_add_header(o, "X", "a\nb"), WS101_EINVAL);
  ws101_options_free(o);
  ws101_options_free(NULL);
}

static void test_errors(void) {
  ASSERT_STR_EQ(ws101_strerror(WS101_EINVAL), "invalid argument");
  ASSERT_STR_EQ(ws101_err_name(WS101_EADDRINUSE), "WS101_EADDRINUSE");
  ASSERT_STR_EQ(ws101_strerror(-9999), "unknown error");
  ASSERT_STR_EQ(ws101_err_name(-9999), "WS101_UNKNOWN");
  ASSERT_STR_EQ(ws101_strerror(0), "success");
#define CHECK(name, val, msg)                                              \
  ASSERT_STR_EQ(ws101_strerror(val), msg);                                 \
  ASSERT_STR_EQ(ws101_err_name(val), "WS101_" #name);
  WS101_ERRNO_MAP(CHECK)
#undef CHECK
}

static void test_version(void) {
  ASSERT_EQ(ws101_version(), WS101_VERSION_HEX);
  ASSERT_STR_EQ(ws101_version_string(), "1.0.0");
}

int main(void) {
  RUN(test_defaults_and_ranges);
  RUN(test_lists);
  RUN(test_errors);
  RUN(test_version);
  TEST_DONE();
}

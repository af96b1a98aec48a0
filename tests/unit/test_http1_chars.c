/* test_http1_chars.c - the character-class tables against the RFC 9110
 * definitions written out plainly. */
#include <string.h>

#include "proto/http1_chars.h"
#include "test.h"

static int ref_tchar(int c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
         (c >= 'A' && c <= 'Z') ||
         (c != 0 && c < 128 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static void test_tchar_table(void) {
  int c;
  for (c = 0; c < 256; c++)
    if (ws101__h1_is_tchar((unsigned char)c) != ref_tchar(c))
      FAILF("byte %d: table %d, RFC %d", c, ws101__h1_is_tchar((unsigned char)c),
            ref_tchar(c));
}

static void test_strings(void) {
  ASSERT_EQ(ws101__h1_is_token("Content-Type"), 1);
  ASSERT_EQ(ws101__h1_is_token(""), 0);
  ASSERT_EQ(ws101__h1_is_token("a b"), 0);
  ASSERT_EQ(ws101__h1_is_token("a:b"), 0);
  ASSERT_EQ(ws101__h1_is_field_value("text/plain; q=1\t x"), 1);
  ASSERT_EQ(ws101__h1_is_field_value("a\r\nInjected: 1"), 0);
  ASSERT_EQ(ws101__h1_is_field_value("del\x7f"), 0);
  ASSERT_EQ(ws101__h1_is_field_value("caf\xc3\xa9"), 1); /* obs-text */
}

int main(void) {
  RUN(test_tchar_table);
  RUN(test_strings);
  TEST_DONE();
}

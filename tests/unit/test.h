/* test.h - a tiny libuv-style test harness for unit tests.
 *
 * Each test file is one executable with a main() that calls RUN(fn) for each
 * test. Assertions print both sides and the location, then abort, so ctest
 * reports the failing executable. Keep tests deterministic: no sleeps, no
 * wall-clock timing. */
#ifndef WS101_TEST_H
#define WS101_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAILF(...)                                                         \
  do {                                                                     \
    fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                        \
    fprintf(stderr, __VA_ARGS__);                                          \
    fputc('\n', stderr);                                                   \
    abort();                                                               \
  } while (0)

#define ASSERT(expr)                                                       \
  do {                                                                     \
    if (!(expr)) FAILF("assertion failed: %s", #expr);                     \
  } while (0)

#define ASSERT_INT_OP(a, op, b)                                            \
  do {                                                                     \
    long long a_ = (long long)(a), b_ = (long long)(b);                    \
    if (!(a_ op b_))                                                       \
      FAILF("%s %s %s failed: %lld vs %lld", #a, #op, #b, a_, b_);         \
  } while (0)

#define ASSERT_EQ(a, b) ASSERT_INT_OP(a, ==, b)
#define ASSERT_NE(a, b) ASSERT_INT_OP(a, !=, b)
#define ASSERT_LT(a, b) ASSERT_INT_OP(a, <, b)
#define ASSERT_LE(a, b) ASSERT_INT_OP(a, <=, b)
#define ASSERT_GT(a, b) ASSERT_INT_OP(a, >, b)
#define ASSERT_GE(a, b) ASSERT_INT_OP(a, >=, b)

#define ASSERT_STR_EQ(a, b)                                                \
  do {                                                                     \
    const char *a_ = (a), *b_ = (b);                                       \
    if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0)                   \
      FAILF("%s == %s failed: \"%s\" vs \"%s\"", #a, #b,                   \
            a_ ? a_ : "(null)", b_ ? b_ : "(null)");                       \
  } while (0)

#define ASSERT_MEM_EQ(a, b, n)                                             \
  do {                                                                     \
    if (memcmp((a), (b), (n)) != 0)                                        \
      FAILF("memcmp(%s, %s, %zu) != 0", #a, #b, (size_t)(n));              \
  } while (0)

static int test__count;
#define RUN(fn)                                                            \
  do {                                                                     \
    fprintf(stderr, "  %s ...\n", #fn);                                    \
    fn();                                                                  \
    test__count++;                                                         \
  } while (0)

#define TEST_DONE()                                                        \
  do {                                                                     \
    fprintf(stderr, "%d tests passed\n", test__count);                     \
    return 0;                                                              \
  } while (0)

#endif

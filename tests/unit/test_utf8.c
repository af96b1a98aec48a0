/* test_utf8.c - the incremental UTF-8 validator. */
#include "test.h"
#include "proto/utf8.h"

typedef struct vec {
  const char *s;
  size_t len;
  long fail_at; /* -1: valid; else index of the first invalid byte;
                   -2: valid bytes but truncated at the end */
} vec;

#define V(lit, at) {lit, sizeof(lit) - 1, at}

static const vec vecs[] = {
  V("", -1),
  V("hello, world", -1),
  V("\x7f", -1),
  V("\xc2\x80", -1),                 /* U+0080 */
  V("\xdf\xbf", -1),                 /* U+07FF */
  V("\xe0\xa0\x80", -1),             /* U+0800 */
  V("\xed\x9f\xbf", -1),             /* U+D7FF */
  V("\xee\x80\x80", -1),             /* U+E000 */
  V("\xef\xbf\xbf", -1),             /* U+FFFF */
  V("\xf0\x90\x80\x80", -1),         /* U+10000 */
  V("\xf4\x8f\xbf\xbf", -1),         /* U+10FFFF */
  V("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", -1), /* kosme */
  V("ascii run longer than 8 \xe2\x82\xac and more ascii text", -1),
  /* overlong 2/3/4-byte forms */
  V("\xc0\x80", 0),
  V("\xc1\xbf", 0),
  V("\xe0\x80\x80", 1),
  V("\xe0\x9f\xbf", 1),
  V("\xf0\x80\x80\x80", 1),
  V("\xf0\x8f\xbf\xbf", 1),
  /* surrogates */
  V("\xed\xa0\x80", 1),
  V("\xed\xbf\xbf", 1),
  V("ab\xed\xb0\x80", 3),
  /* above U+10FFFF */
  V("\xf4\x90\x80\x80", 1),
  V("\xf5\x80\x80\x80", 0),
  V("\xff", 0),
  /* stray continuation, missing continuation */
  V("abc\x80", 3),
  V("\xc2\x41", 1),
  V("\xe1\x80\x41", 2),
  V("0123456789\xf0\x9f\x98", -2),   /* truncated 4-byte at end */
  V("\xe2\x82", -2),
  V("\xc2", -2),
  V("12345678901234567890\xfe", 20),
};

static void check_whole(void) {
  size_t i;
  for (i = 0; i < sizeof vecs / sizeof vecs[0]; i++) {
    const vec *v = &vecs[i];
    uint8_t st = WS101__UTF8_ACCEPT;
    size_t r = ws101__utf8_validate(&st, v->s, v->len);
    if (v->fail_at >= 0) {
      ASSERT_EQ(r, v->fail_at);
      ASSERT_EQ(st, WS101__UTF8_REJECT);
      ASSERT_EQ(ws101__utf8_valid(v->s, v->len), 0);
    } else {
      ASSERT_EQ(r, v->len);
      ASSERT_EQ(st == WS101__UTF8_ACCEPT, v->fail_at == -1);
      ASSERT_EQ(ws101__utf8_valid(v->s, v->len), v->fail_at == -1);
    }
  }
}

/* Feeding in two pieces split at every byte gives the same verdict and the
 * same absolute failure position. */
static void check_split(void) {
  size_t i, cut;
  for (i = 0; i < sizeof vecs / sizeof vecs[0]; i++) {
    const vec *v = &vecs[i];
    for (cut = 0; cut <= v->len; cut++) {
      uint8_t st = WS101__UTF8_ACCEPT;
      size_t r = ws101__utf8_validate(&st, v->s, cut);
      long at = -1;
      if (r < cut) {
        at = (long)r;
      } else {
        r = ws101__utf8_validate(&st, v->s + cut, v->len - cut);
        if (r < v->len - cut) at = (long)(cut + r);
      }
      if (v->fail_at >= 0) {
        ASSERT_EQ(at, v->fail_at);
      } else {
        ASSERT_EQ(at, -1);
        ASSERT_EQ(st == WS101__UTF8_ACCEPT, v->fail_at == -1);
      }
    }
  }
}

/* Byte at a time, as the worst TCP segmentation would feed it. */
static void check_bytewise(void) {
  size_t i, j;
  for (i = 0; i < sizeof vecs / sizeof vecs[0]; i++) {
    const vec *v = &vecs[i];
    uint8_t st = WS101__UTF8_ACCEPT;
    long at = -1;
    for (j = 0; j < v->len; j++) {
      if (ws101__utf8_validate(&st, v->s + j, 1) != 1) {
        at = (long)j;
        break;
      }
    }
    if (v->fail_at >= 0) ASSERT_EQ(at, v->fail_at);
    else ASSERT_EQ(st == WS101__UTF8_ACCEPT, v->fail_at == -1);
  }
}

/* Every code point round-trips through a reference encoder; every
 * surrogate is refused. */
static void check_all_code_points(void) {
  uint32_t cp;
  for (cp = 0; cp <= 0x10FFFF; cp++) {
    char b[4];
    size_t n;
    if (cp < 0x80) {
      b[0] = (char)cp;
      n = 1;
    } else if (cp < 0x800) {
      b[0] = (char)(0xC0 | cp >> 6);
      b[1] = (char)(0x80 | (cp & 0x3F));
      n = 2;
    } else if (cp < 0x10000) {
      b[0] = (char)(0xE0 | cp >> 12);
      b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
      b[2] = (char)(0x80 | (cp & 0x3F));
      n = 3;
    } else {
      b[0] = (char)(0xF0 | cp >> 18);
      b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
      b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
      b[3] = (char)(0x80 | (cp & 0x3F));
      n = 4;
    }
    ASSERT_EQ(ws101__utf8_valid(b, n), !(cp >= 0xD800 && cp <= 0xDFFF));
    ASSERT_EQ(ws101__utf8_seq_len((uint8_t)b[0]), n);
  }
}

static void check_tail(void) {
  ASSERT_EQ(ws101__utf8_tail("ab\xe2\x82", 4), 2);
  ASSERT_EQ(ws101__utf8_tail("ab\xf0", 3), 1);
  ASSERT_EQ(ws101__utf8_tail("\xf0\x9f\x98", 3), 3);
  ASSERT_EQ(ws101__utf8_tail("\x98", 1), 1);
}

/* Byte at a time: the reference for the word-at-a-time ASCII path. */
static long ref_fail_at(const char *s, size_t n, uint8_t *st) {
  size_t j;
  *st = WS101__UTF8_ACCEPT;
  for (j = 0; j < n; j++)
    if (ws101__utf8_validate(st, s + j, 1) != 1) return (long)j;
  return -1;
}

/* ASCII buffers of every length 0..64 and alignment with one non-ASCII
 * sequence (valid, invalid, or cut short) at every position: the fast
 * path hands over to the automaton at exactly the right byte, including
 * in the overlapping last word, and after it resumes skipping ASCII. */
static void check_ascii_fast_path(void) {
  static const char *const ins[] = {"\xc3\xa9", "\xe2\x82\xac",
                                    "\xf0\x9f\x98\x80", "\xff", "\x80",
                                    "\xc3", "\xe2\x82", "\xed\xa0\x80"};
  char buf[80];
  size_t align, len, pos, k, i;
  for (align = 0; align < 8; align++) {
    char *b = buf + align;
    for (len = 0; len <= 64; len++) {
      uint8_t st, ref;
      long want;
      for (i = 0; i < len; i++) b[i] = (char)('a' + i % 26);
      want = ref_fail_at(b, len, &ref);
      ASSERT_EQ(want, -1);
      st = WS101__UTF8_ACCEPT;
      ASSERT_EQ(ws101__utf8_validate(&st, b, len), len);
      ASSERT_EQ(st, WS101__UTF8_ACCEPT);
      ASSERT_EQ(ws101__utf8_valid(b, len), 1);
      for (k = 0; k < sizeof ins / sizeof ins[0]; k++) {
        size_t il = strlen(ins[k]);
        for (pos = 0; pos + il <= len; pos++) {
          size_t got;
          for (i = 0; i < len; i++) b[i] = (char)('a' + i % 26);
          memcpy(b + pos, ins[k], il);
          want = ref_fail_at(b, len, &ref);
          st = WS101__UTF8_ACCEPT;
          got = ws101__utf8_validate(&st, b, len);
          if (want >= 0) {
            ASSERT_EQ(got, (size_t)want);
            ASSERT_EQ(st, WS101__UTF8_REJECT);
          } else {
            ASSERT_EQ(got, len);
            ASSERT_EQ(st, ref);
          }
          ASSERT_EQ(ws101__utf8_valid(b, len),
                    want < 0 && ref == WS101__UTF8_ACCEPT);
          /* Valid sequences are valid wherever they sit; broken ones fail
           * at their first bad byte or leave the state mid-sequence. */
          if (k < 3) ASSERT_EQ(ws101__utf8_valid(b, len), 1);
          if (k == 3 || k == 4) ASSERT_EQ(want, (long)pos);
        }
      }
    }
  }
}

int main(void) {
  RUN(check_whole);
  RUN(check_split);
  RUN(check_bytewise);
  RUN(check_all_code_points);
  RUN(check_tail);
  RUN(check_ascii_fast_path);
  TEST_DONE();
}

/* utf8.c - table-driven UTF-8 validator.
 *
 * Bytes fall into 12 classes; a 9-state automaton over those classes
 * accepts exactly the well-formed sequences of RFC 3629 table 3-7. The
 * narrowed second-byte ranges after E0/ED/F0/F4 are what exclude overlong
 * 3/4-byte forms, surrogates and values above U+10FFFF; C0, C1 and F5..FF
 * can never start a valid sequence (overlong 2-byte forms, too large). */
#include "utf8.h"

#include <string.h>

enum { ACC = 0, C1 = 1, C2 = 2, C3 = 3, E0 = 4, ED = 5, F0 = 6, F4 = 7,
       REJ = 8 };

/* Byte classes: 0 ASCII, 1 80..8F, 2 90..9F, 3 A0..BF, 4 never valid,
 * 5 C2..DF, 6 E0, 7 E1..EC/EE..EF, 8 ED, 9 F0, 10 F1..F3, 11 F4. */
static const uint8_t cls[256] = {
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 00 */
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 10 */
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 20 */
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 30 */
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 40 */
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 50 */
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 60 */
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 70 */
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 80 */
  2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 90 */
  3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* A0 */
  3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* B0 */
  4, 4, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, /* C0 */
  5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, /* D0 */
  6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 7, /* E0 */
  9, 10, 10, 10, 11, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4 /* F0 */
};

/* next[state][class] */
static const uint8_t next[9][12] = {
  /*        0    1    2    3    4    5    6    7    8    9    10   11 */
  /*ACC*/ {ACC, REJ, REJ, REJ, REJ, C1, E0, C2, ED, F0, C3, F4},
  /*C1 */ {REJ, ACC, ACC, ACC, REJ, REJ, REJ, REJ, REJ, REJ, REJ, REJ},
  /*C2 */ {REJ, C1, C1, C1, REJ, REJ, REJ, REJ, REJ, REJ, REJ, REJ},
  /*C3 */ {REJ, C2, C2, C2, REJ, REJ, REJ, REJ, REJ, REJ, REJ, REJ},
  /*E0 */ {REJ, REJ, REJ, C1, REJ, REJ, REJ, REJ, REJ, REJ, REJ, REJ},
  /*ED */ {REJ, C1, C1, REJ, REJ, REJ, REJ, REJ, REJ, REJ, REJ, REJ},
  /*F0 */ {REJ, REJ, C2, C2, REJ, REJ, REJ, REJ, REJ, REJ, REJ, REJ},
  /*F4 */ {REJ, C2, REJ, REJ, REJ, REJ, REJ, REJ, REJ, REJ, REJ, REJ},
  /*REJ*/ {REJ, REJ, REJ, REJ, REJ, REJ, REJ, REJ, REJ, REJ, REJ, REJ},
};

size_t ws101__utf8_validate(uint8_t *state, const char *s, size_t n) {
  const uint8_t *p = (const uint8_t *)s;
  uint8_t st = *state;
  size_t i = 0;
  if (st == REJ) return 0;
  while (i < n) {
    /* Most text is ASCII: skip it eight bytes at a time while on a code
     * point boundary. */
    if (st == ACC) {
      while (n - i >= 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if (w & UINT64_C(0x8080808080808080)) break;
        i += 8;
      }
      if (i == n) break;
    }
    st = next[st][cls[p[i]]];
    if (st == REJ) {
      *state = REJ;
      return i;
    }
    i++;
  }
  *state = st;
  return n;
}

int ws101__utf8_valid(const char *s, size_t n) {
  uint8_t st = ACC;
  return ws101__utf8_validate(&st, s, n) == n && st == ACC;
}

size_t ws101__utf8_tail(const char *s, size_t n) {
  const uint8_t *p = (const uint8_t *)s;
  size_t k = 0;
  /* An unfinished sequence is a lead byte plus at most two continuation
   * bytes, so the lead, if it is in s at all, is within the last three. */
  while (k < n && k < 3) {
    k++;
    if ((p[n - k] & 0xC0) != 0x80) return k;
  }
  return n < 3 ? n : 3;
}

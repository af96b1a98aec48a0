/* utf8.c - table-driven UTF-8 validator.
 *
 * Bytes fall into 12 classes; a 9-state automaton over those classes
 * accepts exactly the well-formed sequences of RFC 3629 table 3-7. The
 * narrowed second-byte ranges after E0/ED/F0/F4 are what exclude overlong
 * 3/4-byte forms, surrogates and values above U+10FFFF; C0, C1 and F5..FF
 * can never start a valid sequence (overlong 2-byte forms, too large). */
#include "proto/utf8.h"

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

#define HIGH UINT64_C(0x8080808080808080)

static uint64_t load64(const uint8_t *p) {
  uint64_t w;
  memcpy(&w, p, 8);
  return w;
}

/* The length of the all-ASCII prefix of p[0..n), to a multiple of 8 bytes
 * unless it is all of p: 32 bytes per test, then 8, and the last < 8 bytes
 * with one word overlapping bytes already seen (only high bits are tested,
 * so rereading them is harmless). */
static size_t ascii_prefix(const uint8_t *p, size_t n) {
  size_t i = 0;
  for (; n - i >= 32; i += 32)
    if ((load64(p + i) | load64(p + i + 8) | load64(p + i + 16) |
         load64(p + i + 24)) & HIGH)
      break;
  for (; n - i >= 8; i += 8)
    if (load64(p + i) & HIGH) return i;
  if (i == n) return n;
  if (n >= 8) return (load64(p + n - 8) & HIGH) ? i : n;
  for (; i < n; i++)
    if (p[i] & 0x80) return i;
  return n;
}

size_t ws101__utf8_validate(uint8_t *state, const char *s, size_t n) {
  const uint8_t *p = (const uint8_t *)s;
  uint8_t st = *state;
  size_t i = 0;
  if (st == REJ) return 0;
  while (i < n) {
    /* Most text is ASCII: skip it a word at a time while on a code point
     * boundary; the automaton only sees the bytes around non-ASCII. */
    if (st == ACC) {
      i += ascii_prefix(p + i, n - i);
      if (i == n) break;
    }
    /* Each byte here is non-ASCII or inside a sequence: finish the code
     * point (and any that directly follow) before looking for ASCII. */
    do {
      st = next[st][cls[p[i]]];
      if (st == REJ) {
        *state = REJ;
        return i;
      }
      i++;
    } while (i < n && (st != ACC || p[i] >= 0x80));
  }
  *state = st;
  return n;
}

int ws101__utf8_valid(const char *s, size_t n) {
  uint8_t st = ACC;
  /* The common case, pure ASCII, never reaches the automaton. */
  size_t k = ascii_prefix((const uint8_t *)s, n);
  if (k == n) return 1;
  return ws101__utf8_validate(&st, s + k, n - k) == n - k && st == ACC;
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

/* ws_frame.c - frame header codec and word-at-a-time masking. */
#include "ws_frame.h"

#include <string.h>

int ws101__ws_hdr_parse(ws101__ws_hdr *h, const uint8_t *p, size_t n) {
  size_t need, i = 2;
  uint64_t len;
  if (n < 2) return 0;
  need = ws101__ws_hdr_size(p[0], p[1]);
  if (n < need) return 0;
  h->fin = p[0] >> 7;
  h->rsv = p[0] & 0x70;
  h->opcode = p[0] & 0x0F;
  h->masked = p[1] >> 7;
  len = p[1] & 0x7F;
  if (len == 126) {
    len = (uint64_t)p[2] << 8 | p[3];
    i = 4;
  } else if (len == 127) {
    if (p[2] & 0x80) return -1;
    len = 0;
    for (i = 2; i < 10; i++) len = len << 8 | p[i];
  }
  h->len = len;
  if (h->masked) memcpy(h->key, p + i, 4);
  return (int)need;
}

size_t ws101__ws_hdr_encode(uint8_t *out, int fin, int rsv1, int opcode,
                            uint64_t len, const uint8_t *key) {
  size_t i;
  out[0] = (uint8_t)((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | (opcode & 0x0F));
  if (len < 126) {
    out[1] = (uint8_t)len;
    i = 2;
  } else if (len <= 0xFFFF) {
    out[1] = 126;
    out[2] = (uint8_t)(len >> 8);
    out[3] = (uint8_t)len;
    i = 4;
  } else {
    int s;
    out[1] = 127;
    for (s = 0; s < 8; s++) out[2 + s] = (uint8_t)(len >> (56 - 8 * s));
    i = 10;
  }
  if (key != NULL) {
    out[1] |= 0x80;
    memcpy(out + i, key, 4);
    i += 4;
  }
  return i;
}

/* The key repeated to 8 bytes, rotated so that byte 0 of the word lines up
 * with key[off]; memcpy keeps the word loads/stores alignment-agnostic and
 * compiles to plain unaligned moves where the CPU allows them. */
static uint64_t key_word(const uint8_t key[4], unsigned off) {
  uint8_t k[8];
  uint64_t w;
  unsigned i;
  for (i = 0; i < 8; i++) k[i] = key[(off + i) & 3];
  memcpy(&w, k, 8);
  return w;
}

unsigned ws101__ws_mask(uint8_t *p, size_t n, const uint8_t key[4],
                        unsigned off) {
  size_t i = 0;
  off &= 3;
  if (n >= 16) {
    uint64_t kw = key_word(key, off);
    /* Whole words keep the key phase, since 8 is a multiple of 4. */
    for (; n - i >= 8; i += 8) {
      uint64_t w;
      memcpy(&w, p + i, 8);
      w ^= kw;
      memcpy(p + i, &w, 8);
    }
  }
  for (; i < n; i++) p[i] ^= key[(off + i) & 3];
  return (unsigned)((off + n) & 3);
}

void ws101__ws_mask_copy(uint8_t *dst, const uint8_t *src, size_t n,
                         const uint8_t key[4]) {
  size_t i = 0;
  if (n >= 16) {
    uint64_t kw = key_word(key, 0);
    for (; n - i >= 8; i += 8) {
      uint64_t w;
      memcpy(&w, src + i, 8);
      w ^= kw;
      memcpy(dst + i, &w, 8);
    }
  }
  for (; i < n; i++) dst[i] = src[i] ^ key[i & 3];
}

/* ws_frame.c - frame header codec and word-at-a-time masking. */
#include "proto/ws_frame.h"

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

/* The 4-byte key as a word in memory order, rotated so that its first byte
 * in memory is key[off]: one load and a rotate instead of a byte loop.
 * memcpy keeps loads and stores alignment-agnostic; compilers turn it into
 * plain unaligned moves where the CPU allows them. */
static uint32_t key_word(const uint8_t key[4], unsigned off) {
  static const union {
    uint16_t u;
    uint8_t b[2];
  } one = {1};
  unsigned s = 8 * (off & 3);
  uint32_t k;
  memcpy(&k, key, 4);
  /* Little endian: the first byte is the low one, so rotate right. */
  if (one.b[0])
    return (k >> s) | (k << ((32 - s) & 31));
  return (k << s) | (k >> ((32 - s) & 31));
}

#if defined(__GNUC__)
/* 16 bytes per operation: SSE2/NEON where the target has them, plain
 * words elsewhere (the compiler lowers generic vectors to what exists). */
typedef uint8_t mask_vec __attribute__((vector_size(16)));
#endif

/* dst[i] = src[i] ^ key phase; dst may be src (in place), never a partial
 * overlap. k32 is key_word() for the starting phase: every whole word and
 * vector keeps that phase, since 4 divides their sizes. */
static void mask_run(uint8_t *dst, const uint8_t *src, size_t n,
                     uint32_t k32) {
  uint64_t k64 = (uint64_t)k32 << 32 | k32;
  uint8_t kb[4];
  size_t i = 0;
#if defined(__GNUC__)
  if (n >= 16) {
    mask_vec kv, a, b, c, d;
    memcpy(&kv, &k64, 8);
    memcpy((uint8_t *)&kv + 8, &k64, 8);
    for (; n - i >= 64; i += 64) {
      memcpy(&a, src + i, 16);
      memcpy(&b, src + i + 16, 16);
      memcpy(&c, src + i + 32, 16);
      memcpy(&d, src + i + 48, 16);
      a ^= kv;
      b ^= kv;
      c ^= kv;
      d ^= kv;
      memcpy(dst + i, &a, 16);
      memcpy(dst + i + 16, &b, 16);
      memcpy(dst + i + 32, &c, 16);
      memcpy(dst + i + 48, &d, 16);
    }
    for (; n - i >= 16; i += 16) {
      memcpy(&a, src + i, 16);
      a ^= kv;
      memcpy(dst + i, &a, 16);
    }
  }
#else
  for (; n - i >= 32; i += 32) {
    uint64_t a, b, c, d;
    memcpy(&a, src + i, 8);
    memcpy(&b, src + i + 8, 8);
    memcpy(&c, src + i + 16, 8);
    memcpy(&d, src + i + 24, 8);
    a ^= k64;
    b ^= k64;
    c ^= k64;
    d ^= k64;
    memcpy(dst + i, &a, 8);
    memcpy(dst + i + 8, &b, 8);
    memcpy(dst + i + 16, &c, 8);
    memcpy(dst + i + 24, &d, 8);
  }
#endif
  /* The tail (and small payloads): words, a half word, up to 3 bytes. */
  for (; n - i >= 8; i += 8) {
    uint64_t w;
    memcpy(&w, src + i, 8);
    w ^= k64;
    memcpy(dst + i, &w, 8);
  }
  if (n - i >= 4) {
    uint32_t w;
    memcpy(&w, src + i, 4);
    w ^= k32;
    memcpy(dst + i, &w, 4);
    i += 4;
  }
  if (i < n) {
    memcpy(kb, &k32, 4);
    dst[i] = src[i] ^ kb[0];
    if (++i < n) {
      dst[i] = src[i] ^ kb[1];
      if (++i < n) dst[i] = src[i] ^ kb[2];
    }
  }
}

unsigned ws101__ws_mask(uint8_t *p, size_t n, const uint8_t key[4],
                        unsigned off) {
  mask_run(p, p, n, key_word(key, off));
  return (unsigned)((off + n) & 3);
}

unsigned ws101__ws_mask_copy_at(uint8_t *dst, const uint8_t *src, size_t n,
                                const uint8_t key[4], unsigned off) {
  mask_run(dst, src, n, key_word(key, off));
  return (unsigned)((off + n) & 3);
}

void ws101__ws_mask_copy(uint8_t *dst, const uint8_t *src, size_t n,
                         const uint8_t key[4]) {
  mask_run(dst, src, n, key_word(key, 0));
}

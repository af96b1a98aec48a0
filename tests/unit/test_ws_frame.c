/* test_ws_frame.c - frame header codec and masking. */
#include "test.h"
#include "proto/ws_frame.h"

static void roundtrip(uint64_t len, size_t want_size, int masked) {
  static const uint8_t key[4] = {0x11, 0x22, 0x33, 0x44};
  uint8_t b[WS101__WS_MAX_HDR];
  ws101__ws_hdr h;
  size_t n, i;
  n = ws101__ws_hdr_encode(b, 1, 1, WS101__WS_OP_BINARY, len,
                           masked ? key : NULL);
  ASSERT_EQ(n, want_size + (masked ? 4 : 0));
  ASSERT_EQ(ws101__ws_hdr_size(b[0], b[1]), n);
  /* Every prefix is "need more". */
  for (i = 0; i < n; i++) ASSERT_EQ(ws101__ws_hdr_parse(&h, b, i), 0);
  ASSERT_EQ(ws101__ws_hdr_parse(&h, b, n), n);
  ASSERT_EQ(h.len, len);
  ASSERT_EQ(h.fin, 1);
  ASSERT_EQ(h.rsv, 0x40);
  ASSERT_EQ(h.opcode, WS101__WS_OP_BINARY);
  ASSERT_EQ(h.masked, masked);
  if (masked) ASSERT_MEM_EQ(h.key, key, 4);
}

static void header_lengths(void) {
  static const struct { uint64_t len; size_t size; } t[] = {
    {0, 2}, {1, 2}, {125, 2}, {126, 4}, {127, 4}, {65535, 4},
    {65536, 10}, {UINT64_C(0x7FFFFFFFFFFFFFFF), 10}, {UINT64_C(1) << 32, 10}};
  size_t i;
  for (i = 0; i < sizeof t / sizeof t[0]; i++) {
    roundtrip(t[i].len, t[i].size, 0);
    roundtrip(t[i].len, t[i].size, 1);
  }
}

static void header_fields(void) {
  const uint8_t b[] = {0x0A | 0x70, 0x80 | 3, 1, 2, 3, 4};
  ws101__ws_hdr h;
  ASSERT_EQ(ws101__ws_hdr_parse(&h, b, sizeof b), 6);
  ASSERT_EQ(h.fin, 0);
  ASSERT_EQ(h.rsv, 0x70);
  ASSERT_EQ(h.opcode, 0xA);
  ASSERT_EQ(h.masked, 1);
  ASSERT_EQ(h.len, 3);
  ASSERT_EQ(h.key[3], 4);
}

static void header_msb_and_nonminimal(void) {
  uint8_t big[10] = {0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1};
  uint8_t nm16[4] = {0x82, 126, 0, 5};
  uint8_t nm64[10] = {0x82, 127, 0, 0, 0, 0, 0, 0, 0, 7};
  ws101__ws_hdr h;
  ASSERT_EQ(ws101__ws_hdr_parse(&h, big, sizeof big), -1);
  /* Non-minimal encodings are legal to receive. */
  ASSERT_EQ(ws101__ws_hdr_parse(&h, nm16, sizeof nm16), 4);
  ASSERT_EQ(h.len, 5);
  ASSERT_EQ(ws101__ws_hdr_parse(&h, nm64, sizeof nm64), 10);
  ASSERT_EQ(h.len, 7);
}

/* The word/vector-at-a-time masking matches a byte-wise reference for
 * every alignment, length 0..136 (past several 32-byte blocks) and
 * starting key phase, in place and copying. */
static void masking(void) {
  static const uint8_t key[4] = {0xA5, 0x3C, 0x0F, 0xF0};
  uint8_t src[160], buf[160], ref[160], dst[160];
  size_t align, len, i;
  unsigned off;
  for (i = 0; i < sizeof src; i++) src[i] = (uint8_t)(i * 7 + 3);
  for (align = 0; align < 8; align++) {
    for (len = 0; len <= 136; len++) {
      for (off = 0; off < 4; off++) {
        unsigned next;
        memcpy(buf + align, src, len);
        buf[align + len] = 0x5A; /* must survive: no write past the end */
        for (i = 0; i < len; i++) ref[i] = src[i] ^ key[(off + i) & 3];
        next = ws101__ws_mask(buf + align, len, key, off);
        ASSERT_EQ(next, (off + len) & 3);
        ASSERT_MEM_EQ(buf + align, ref, len);
        ASSERT_EQ(buf[align + len], 0x5A);
        dst[align + len] = 0x5A;
        next = ws101__ws_mask_copy_at(dst + align, src + (7 - align), len,
                                      key, off);
        ASSERT_EQ(next, (off + len) & 3);
        for (i = 0; i < len; i++)
          ref[i] = src[7 - align + i] ^ key[(off + i) & 3];
        ASSERT_MEM_EQ(dst + align, ref, len);
        ASSERT_EQ(dst[align + len], 0x5A);
      }
      ws101__ws_mask_copy(dst + align, src + (7 - align), len, key);
      for (i = 0; i < len; i++) ref[i] = src[7 - align + i] ^ key[i & 3];
      ASSERT_MEM_EQ(dst + align, ref, len);
    }
  }
}

/* Unmasking in pieces (as reads split a payload) equals one pass. */
static void masking_piecewise(void) {
  static const uint8_t key[4] = {1, 2, 3, 4};
  uint8_t a[100], b[100];
  size_t cut;
  for (cut = 0; cut <= 100; cut++) {
    unsigned off;
    size_t i;
    for (i = 0; i < 100; i++) a[i] = b[i] = (uint8_t)i;
    ws101__ws_mask(a, 100, key, 0);
    off = ws101__ws_mask(b, cut, key, 0);
    ws101__ws_mask(b + cut, 100 - cut, key, off);
    ASSERT_MEM_EQ(a, b, 100);
  }
}

int main(void) {
  RUN(header_lengths);
  RUN(header_fields);
  RUN(header_msb_and_nonminimal);
  RUN(masking);
  RUN(masking_piecewise);
  TEST_DONE();
}

/* ws_frame.h - RFC 6455 section 5.2 frame headers and masking.
 *
 * Pure functions over bytes: no state, no allocation. The engine uses the
 * parser on headers it has gathered; senders use the encoder and the
 * masking copy. */
#ifndef WS101_WS_FRAME_H
#define WS101_WS_FRAME_H

#include <stddef.h>
#include <stdint.h>

enum {
  WS101__WS_OP_CONT = 0x0,
  WS101__WS_OP_TEXT = 0x1,
  WS101__WS_OP_BINARY = 0x2,
  WS101__WS_OP_CLOSE = 0x8,
  WS101__WS_OP_PING = 0x9,
  WS101__WS_OP_PONG = 0xA
};

/* The largest frame header: 2 + 8 (64-bit length) + 4 (mask key). */
#define WS101__WS_MAX_HDR 14

typedef struct ws101__ws_hdr {
  uint64_t len;     /* payload length */
  uint8_t fin;      /* 0/1 */
  uint8_t rsv;      /* RSV1..3 as bits 4..6 of byte 0 (0x40, 0x20, 0x10) */
  uint8_t opcode;   /* 0..15 */
  uint8_t masked;   /* 0/1 */
  uint8_t key[4];   /* valid if masked */
} ws101__ws_hdr;

/* The total header size implied by its first two bytes (2..14). */
static inline size_t ws101__ws_hdr_size(uint8_t b0, uint8_t b1) {
  size_t n = 2;
  (void)b0;
  if ((b1 & 0x7F) == 126) n += 2;
  else if ((b1 & 0x7F) == 127) n += 8;
  if (b1 & 0x80) n += 4;
  return n;
}

/* Parses a header from p[0..n). Returns its size (2..14) when complete,
 * 0 if more bytes are needed, or -1 if a 64-bit length has its most
 * significant bit set (RFC 6455 5.2: it MUST be 0). Non-minimal length
 * encodings are accepted, as the RFC does not forbid them to receivers. */
int ws101__ws_hdr_parse(ws101__ws_hdr *h, const uint8_t *p, size_t n);

/* The size of the header ws101__ws_hdr_encode writes for a payload of
 * `len` bytes (2..14). */
static inline size_t ws101__ws_hdr_len(uint64_t len, int masked) {
  return (len < 126 ? 2 : len <= 0xFFFF ? 4 : 10) + (masked ? 4 : 0);
}

/* Encodes a header with the minimal length form into out, which has room
 * for ws101__ws_hdr_len(len, key != NULL) bytes. `rsv1` sets the
 * permessage-deflate bit; `key` (NULL = unmasked) is the masking key.
 * Returns the header size. */
size_t ws101__ws_hdr_encode(uint8_t *out, int fin, int rsv1, int opcode,
                            uint64_t len, const uint8_t *key);

/* ws101__ws_hdr_encode for an unmasked (server) frame, inline: the send
 * path of every server message, where the general encoder's call and
 * branches cost more than the two bytes it usually writes. `out` has room
 * for 10 bytes. Returns the header size (2, 4 or 10). */
static inline size_t ws101__ws_hdr_server(uint8_t *out, int fin, int rsv1,
                                          int opcode, uint64_t len) {
  int i;
  out[0] = (uint8_t)((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | (opcode & 0x0F));
  if (len < 126) {
    out[1] = (uint8_t)len;
    return 2;
  }
  if (len <= 0xFFFF) {
    out[1] = 126;
    out[2] = (uint8_t)(len >> 8);
    out[3] = (uint8_t)len;
    return 4;
  }
  out[1] = 127;
  for (i = 0; i < 8; i++) out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
  return 10;
}

/* XORs p[0..n) in place with `key`, starting at key byte `off` (0..3), so
 * a payload can be unmasked piecewise as it arrives. Returns the key
 * offset for the byte after p[n-1]. */
unsigned ws101__ws_mask(uint8_t *p, size_t n, const uint8_t key[4],
                        unsigned off);

/* Writes src[0..n) XOR key to dst, starting at key byte `off` (0..3):
 * unmasking fused with the copy into a reassembly buffer. dst and src must
 * not overlap. Returns the key offset for the byte after src[n-1]. */
unsigned ws101__ws_mask_copy_at(uint8_t *dst, const uint8_t *src, size_t n,
                                const uint8_t key[4], unsigned off);

/* Writes src[0..n) XOR key to dst (a client's outgoing payload). */
void ws101__ws_mask_copy(uint8_t *dst, const uint8_t *src, size_t n,
                         const uint8_t key[4]);

#endif

/* base64.c - see base64.h. */
#include "proto/base64.h"

#include <limits.h>

static const char enc_table[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t ws101__base64_encode(const void *src, size_t len, char *dst) {
  const unsigned char *s = (const unsigned char *)src;
  size_t i, o = 0;
  for (i = 0; i + 2 < len; i += 3) {
    unsigned long v =
        ((unsigned long)s[i] << 16) | ((unsigned long)s[i + 1] << 8) | s[i + 2];
    dst[o++] = enc_table[(v >> 18) & 63];
    dst[o++] = enc_table[(v >> 12) & 63];
    dst[o++] = enc_table[(v >> 6) & 63];
    dst[o++] = enc_table[v & 63];
  }
  if (i < len) {
    unsigned long v = (unsigned long)s[i] << 16;
    if (i + 1 < len)
      v |= (unsigned long)s[i + 1] << 8;
    dst[o++] = enc_table[(v >> 18) & 63];
    dst[o++] = enc_table[(v >> 12) & 63];
    dst[o++] = i + 1 < len ? enc_table[(v >> 6) & 63] : '=';
    dst[o++] = '=';
  }
  dst[o] = '\0';
  return o;
}

/* Returns the 6-bit value of a symbol, or -1. A switch-free range test
 * keeps this table-less and obviously correct. */
static int dec_sym(unsigned char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

int ws101__base64_decode(const char *src, size_t len, void *dst,
                         size_t dst_cap) {
  const unsigned char *s = (const unsigned char *)src;
  unsigned char *d = (unsigned char *)dst;
  size_t i, o = 0, pad = 0, out_len;
  if (len % 4 != 0 || len / 4 > (size_t)INT_MAX / 3)
    return -1;
  if (len > 0 && s[len - 1] == '=')
    pad = (len > 1 && s[len - 2] == '=') ? 2 : 1;
  out_len = len / 4 * 3 - pad;
  if (out_len > dst_cap)
    return -1;
  for (i = 0; i < len; i += 4) {
    int last = i + 4 == len;
    int a = dec_sym(s[i]), b = dec_sym(s[i + 1]);
    int c = (last && pad == 2) ? 0 : dec_sym(s[i + 2]);
    int e = (last && pad >= 1) ? 0 : dec_sym(s[i + 3]);
    unsigned long v;
    if (a < 0 || b < 0 || c < 0 || e < 0)
      return -1;
    /* Non-canonical encodings ("QR==" for "A") hide data in unused bits. */
    if (last && pad == 2 && (b & 15) != 0)
      return -1;
    if (last && pad == 1 && (c & 3) != 0)
      return -1;
    v = ((unsigned long)a << 18) | ((unsigned long)b << 12) |
        ((unsigned long)c << 6) | (unsigned long)e;
    d[o++] = (unsigned char)(v >> 16);
    if (!(last && pad == 2))
      d[o++] = (unsigned char)(v >> 8);
    if (!(last && pad >= 1))
      d[o++] = (unsigned char)v;
  }
  return (int)o;
}

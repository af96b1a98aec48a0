/* base64.h - RFC 4648 base64 (standard alphabet, padded), as WebSocket
 * keys and accept values use it. Decoding is strict so that a key that
 * "almost" decodes to 16 bytes is refused rather than guessed at. */
#ifndef WS101_BASE64_H
#define WS101_BASE64_H

#include <stddef.h>

/* Characters ws101__base64_encode writes for `n` input bytes (no NUL). */
#define WS101__BASE64_ENCODED_LEN(n) ((((n) + 2) / 3) * 4)

/* Encodes src[0..len) into dst, which must hold
 * WS101__BASE64_ENCODED_LEN(len) + 1 bytes; NUL-terminates. Returns the
 * number of characters written, NUL excluded. */
size_t ws101__base64_encode(const void *src, size_t len, char *dst);

/* Decodes src[0..len) into dst[0..dst_cap). Strict: len must be a multiple
 * of 4, only the standard alphabet, "=" only as final padding, and unused
 * bits of the last symbol must be zero (so each byte string has exactly one
 * accepted encoding). Returns the decoded length, or -1 if the input is
 * invalid or the result does not fit in dst_cap. */
int ws101__base64_decode(const char *src, size_t len, void *dst,
                         size_t dst_cap);

#endif

/* random.h - fast unpredictable bytes for WebSocket client masking keys.
 *
 * RFC 6455 10.3 wants masking keys an attacker cannot predict, one per
 * frame. Calling RAND_bytes for every 4-byte key costs a DRBG step per
 * frame, so each thread takes OpenSSL RAND_bytes output in batches (see
 * random.c). */
#ifndef WS101_RANDOM_H
#define WS101_RANDOM_H

#include <stddef.h>

/* Fills out[0..n) with random bytes. Thread-safe (per-thread state).
 * Returns 0, or -1 if OpenSSL could not provide a seed. */
int ws101__random_bytes(void *out, size_t n);

#endif

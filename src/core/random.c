/* random.c - a ChaCha20 keystream generator seeded from OpenSSL.
 *
 * Why ChaCha20 and not xoshiro: masking keys must be unpredictable to a
 * script that sees earlier keys (RFC 6455 10.3), and xoshiro's state is
 * recoverable from its output. ChaCha20 (RFC 8439 block function) is a
 * CSPRNG when its key is secret, and at ~1 cycle/byte one 64-byte block
 * yields 16 keys.
 *
 * Construction ("fast key erasure"): each refill computes four blocks; the
 * first 32 bytes replace the key immediately and the other 224 are handed
 * out and wiped as they go, so a memory dump never reveals past output. The
 * key is re-drawn from RAND_bytes every WS101__RESEED_BYTES of output, and
 * after fork() (a generation counter bumped in the child), so a forked
 * child never replays its parent's stream. State is per thread: no lock. */
#include "core/random.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#define WS101__RESEED_BYTES (1u << 20)
#define BATCH 256

typedef struct rng {
  uint32_t key[8];
  uint64_t counter;
  uint8_t out[BATCH];
  size_t pos;      /* next unused byte of out; BATCH = empty */
  size_t produced; /* bytes since the last seed */
  unsigned gen;    /* fork generation this state was seeded in */
  int seeded;
} rng;

static _Thread_local rng tls;
static atomic_uint fork_gen;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void on_fork_child(void) {
  atomic_fetch_add(&fork_gen, 1);
}

static void register_atfork(void) {
  pthread_atfork(NULL, NULL, on_fork_child);
}

#define ROTL(v, n) (((v) << (n)) | ((v) >> (32 - (n))))
#define QR(a, b, c, d)                                                     \
  a += b; d ^= a; d = ROTL(d, 16);                                         \
  c += d; b ^= c; b = ROTL(b, 12);                                         \
  a += b; d ^= a; d = ROTL(d, 8);                                          \
  c += d; b ^= c; b = ROTL(b, 7)

static void chacha_block(const uint32_t key[8], uint64_t counter,
                         uint8_t out[64]) {
  uint32_t in[16], x[16];
  int i;
  in[0] = 0x61707865; /* "expand 32-byte k" */
  in[1] = 0x3320646e;
  in[2] = 0x79622d32;
  in[3] = 0x6b206574;
  for (i = 0; i < 8; i++) in[4 + i] = key[i];
  in[12] = (uint32_t)counter;
  in[13] = (uint32_t)(counter >> 32);
  in[14] = 0;
  in[15] = 0;
  memcpy(x, in, sizeof x);
  for (i = 0; i < 10; i++) {
    QR(x[0], x[4], x[8], x[12]);
    QR(x[1], x[5], x[9], x[13]);
    QR(x[2], x[6], x[10], x[14]);
    QR(x[3], x[7], x[11], x[15]);
    QR(x[0], x[5], x[10], x[15]);
    QR(x[1], x[6], x[11], x[12]);
    QR(x[2], x[7], x[8], x[13]);
    QR(x[3], x[4], x[9], x[14]);
  }
  for (i = 0; i < 16; i++) {
    uint32_t v = x[i] + in[i];
    out[4 * i] = (uint8_t)v;
    out[4 * i + 1] = (uint8_t)(v >> 8);
    out[4 * i + 2] = (uint8_t)(v >> 16);
    out[4 * i + 3] = (uint8_t)(v >> 24);
  }
}

static int reseed(rng *r) {
  pthread_once(&atfork_once, register_atfork);
  if (RAND_bytes((unsigned char *)r->key, sizeof r->key) != 1) return -1;
  r->counter = 0;
  r->produced = 0;
  r->pos = BATCH;
  r->gen = atomic_load(&fork_gen);
  r->seeded = 1;
  return 0;
}

static void refill(rng *r) {
  int i;
  for (i = 0; i < BATCH / 64; i++)
    chacha_block(r->key, r->counter++, r->out + 64 * i);
  memcpy(r->key, r->out, 32);
  memset(r->out, 0, 32);
  r->pos = 32;
}

int ws101__random_bytes(void *out, size_t n) {
  rng *r = &tls;
  uint8_t *o = (uint8_t *)out;
  if (!r->seeded || r->produced >= WS101__RESEED_BYTES ||
      r->gen != atomic_load_explicit(&fork_gen, memory_order_relaxed)) {
    if (reseed(r) != 0) return -1;
  }
  r->produced += n;
  while (n > 0) {
    size_t take;
    if (r->pos == BATCH) refill(r);
    take = BATCH - r->pos;
    if (take > n) take = n;
    memcpy(o, r->out + r->pos, take);
    memset(r->out + r->pos, 0, take);
    r->pos += take;
    o += take;
    n -= take;
  }
  return 0;
}

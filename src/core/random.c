/* random.c - unpredictable bytes for WebSocket masking keys, from OpenSSL.
 *
 * RFC 6455 10.3 wants a fresh key per client frame that a script seeing
 * earlier keys cannot predict. OpenSSL's DRBG (RAND_bytes) provides that,
 * but calling it for every 4-byte key costs a DRBG step per frame. So each
 * thread draws BATCH bytes at once and hands them out, wiping every byte as
 * it goes: a memory dump never shows keys already used, and the bytes not
 * yet used are as secret as the DRBG's own state. No cryptographic
 * primitive is written here.
 *
 * After fork() the child must not hand out the parent's remaining batch
 * (both processes would mask with the same keys): a generation counter
 * bumped by pthread_atfork in the child makes the next call discard it.
 * OpenSSL reseeds its own DRBG after fork itself. State is per thread: no
 * lock, and nothing to free when a thread exits. */
#include "core/random.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

/* 256 masking keys per RAND_bytes call: the call's fixed cost (parameter
 * lookup, locking the DRBG) then amortises to a few instructions per key
 * (bench/RESULTS.md, "Masking keys"). */
#define BATCH 1024

typedef struct rng {
  uint8_t out[BATCH];
  size_t pos;   /* next unused byte of out; BATCH = empty */
  unsigned gen; /* fork generation the batch was drawn in */
  int seeded;
} rng;

static _Thread_local rng tls;
static atomic_uint fork_gen;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void on_fork_child(void) { atomic_fetch_add(&fork_gen, 1); }

static void register_atfork(void) {
  pthread_atfork(NULL, NULL, on_fork_child);
}

static int refill(rng *r) {
  if (RAND_bytes(r->out, BATCH) != 1) {
    r->pos = BATCH;
    return -1;
  }
  r->pos = 0;
  return 0;
}

int ws101__random_bytes(void *out, size_t n) {
  rng *r = &tls;
  uint8_t *o = (uint8_t *)out;
  unsigned gen = atomic_load_explicit(&fork_gen, memory_order_relaxed);
  /* The per-frame case: a masking key from the current batch. */
  if (n == 4 && r->gen == gen && r->seeded && BATCH - r->pos >= 4) {
    memcpy(o, r->out + r->pos, 4); /* fixed sizes: inlined moves */
    memset(r->out + r->pos, 0, 4);
    r->pos += 4;
    return 0;
  }
  if (!r->seeded || r->gen != gen) {
    pthread_once(&atfork_once, register_atfork);
    memset(r->out, 0, BATCH);
    r->pos = BATCH;
    r->gen = atomic_load(&fork_gen);
    r->seeded = 1;
  }
  /* Large requests need no buffering. */
  if (n >= BATCH) return RAND_bytes(o, (int)n) == 1 ? 0 : -1;
  while (n > 0) {
    size_t take;
    if (r->pos == BATCH && refill(r) != 0) return -1;
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

/* fuzz_ws_frame.c - libFuzzer target for the WebSocket receive engine.
 *
 * Input: byte 0 picks the configuration (bit 0 client, bit 1 streaming
 * fragments, bit 2 permessage-deflate negotiated, bit 3 a small message
 * limit, bit 4 no per-loop context: blocks are malloc'd and freed), byte 1
 * the read size (1..256), the rest is peer bytes fed in reads of that
 * size. Besides memory errors it checks the engine's promises: delivered
 * text is valid UTF-8 (streamed text parts on their own), nothing follows
 * a close or failure, every read is consumed, and the context's count of
 * part blocks taken agrees with the engine after every read.
 *
 * Build: clang -g -fsanitize=fuzzer,address -Iinclude -Isrc
 *        fuzz/fuzz_ws_frame.c src/proto/ws_engine.c src/proto/ws_frame.c
 *        src/proto/utf8.c src/proto/ws_deflate.c src/core/options.c -lz */
#include "core/options.h"
#include "proto/utf8.h"
#include "proto/ws_engine.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct state {
  int done;
  uint8_t sink;
} state;

static int on_ev(void *ud, int ev, char *data, size_t len, int arg) {
  state *s = (state *)ud;
  size_t i;
  if (s->done) abort(); /* nothing after CLOSE/FAIL */
  for (i = 0; i < len; i++) s->sink ^= (uint8_t)data[i];
  if (ev == WS101_WS_TEXT && !ws101__utf8_valid(data, len)) abort();
  if (ev == WS101_WS_FRAGMENT && (arg & WS101_FRAG_TEXT) &&
      !ws101__utf8_valid(data, len))
    abort();
  if (ev == WS101__WSE_CLOSE || ev == WS101__WSE_FAIL) s->done = 1;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const ws101__pmd_params pmd = {0, 0, 15, 15};
  struct ws101_options o;
  ws101__wse e;
  ws101__wse_ctx ctx;
  int use_ctx;
  state s = {0, 0};
  char *buf;
  size_t chunk, at = 0;
  if (size < 2) return 0;
  ws101__options_defaults(&o);
  o.ws_stream_fragments = (data[0] >> 1) & 1;
  if (data[0] & 8) o.ws_max_message = 300;
  chunk = (size_t)data[1] + 1;
  data += 2;
  size -= 2;
  /* A private copy: the engine unmasks in place. */
  buf = malloc(size ? size : 1);
  if (buf == NULL) return 0;
  memcpy(buf, data, size);
  memset(&ctx, 0, sizeof ctx);
  use_ctx = !(data[-2] & 16);
  ws101__wse_init(&e, &o, data[-2] & 1, (data[-2] & 4) ? &pmd : NULL);
  while (at < size) {
    size_t n = size - at < chunk ? size - at : chunk;
    if (ws101__wse_feed(&e, use_ctx ? &ctx : NULL, buf + at, n, on_ev, &s) !=
        n)
      abort();
    if (use_ctx && ctx.taken != (e.part != NULL ? 1u : 0u)) abort();
    if (s.done && e.part != NULL) abort(); /* a stopped engine holds none */
    at += n;
  }
  ws101__wse_free(&e, use_ctx ? &ctx : NULL);
  if (ctx.taken != 0) abort();
  ws101__wse_ctx_clear(&ctx);
  free(buf);
  return 0;
}

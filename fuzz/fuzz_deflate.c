/* fuzz_deflate.c - libFuzzer target for permessage-deflate.
 *
 * The input is used twice: as a Sec-WebSocket-Extensions header for both
 * sides of negotiation, and as compressed message fragments for inflate.
 * Byte 0 picks the mode (shared/dedicated, no_context_takeover flags,
 * window bits, direction), byte 1 the fragment size and where messages end.
 * Every message that inflates is then compressed and inflated again by a
 * fresh pair with the same parameters and must come back identical.
 *
 *   clang -g -fsanitize=fuzzer,address -Iinclude -Isrc fuzz/fuzz_deflate.c \
 *     src/ws_deflate*.c -lz -o build-c/fz && build-c/fz fuzz/corpus/deflate */
#include "proto/ws_deflate.h"

#include <stdlib.h>
#include <string.h>

#define MAX_MESSAGE ((size_t)1 << 20)

static void opts_init(struct ws101_options *o, int memory, int bits) {
  memset(o, 0, sizeof(*o));
  o->deflate = 1;
  o->deflate_level = 1;
  o->deflate_window_bits = bits;
  o->deflate_memory = memory;
  o->deflate_mem_level = 8;
}

static void check_negotiation(const uint8_t *data, size_t size) {
  struct ws101_options o;
  ws101__pmd_params prm, prm2;
  char hdr[512], resp[WS101__PMD_RESP_MAX], resp2[WS101__PMD_RESP_MAX];
  size_t n = size < sizeof(hdr) - 1 ? size : sizeof(hdr) - 1;
  int mem, rc;
  memcpy(hdr, data, n);
  hdr[n] = '\0';
  for (mem = 0; mem <= 1; mem++) {
    opts_init(&o, mem, 15);
    rc = ws101__pmd_server_negotiate(hdr, &o, &prm, resp, sizeof(resp));
    if (rc == 1) {
      /* Our answer is itself a well-formed, acceptable offer. */
      if (ws101__pmd_server_negotiate(resp, &o, &prm2, resp2, sizeof(resp2)) !=
          1)
        abort();
    } else if (resp[0] != '\0') {
      abort();
    }
    (void)ws101__pmd_client_accept(hdr, &o, &prm);
  }
}

static void check_roundtrip(const ws101__pmd_params *prm, int is_server,
                            const struct ws101_options *o, const char *msg,
                            size_t len) {
  ws101__pmd *tx = ws101__pmd_new(prm, !is_server, o, NULL);
  ws101__pmd *rx = ws101__pmd_new(prm, is_server, o, NULL);
  ws101__buf wire = {0}, back = {0};
  if (tx && rx) {
    if (ws101__pmd_deflate(tx, msg, len, &wire) != 0)
      abort();
    if (ws101__pmd_inflate(rx, wire.data, wire.len, 1, &back, len) != 0)
      abort();
    if (back.len != len || (len && memcmp(back.data, msg, len) != 0))
      abort();
  }
  ws101__pmd_free(tx);
  ws101__pmd_free(rx);
  ws101__buf_free(&wire);
  ws101__buf_free(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct ws101_options o;
  ws101__pmd_params prm;
  ws101__pmd_shared *sh = NULL;
  ws101__pmd *p;
  ws101__buf out = {0};
  size_t off, frag;
  int mode, is_server, idx = 0;
  check_negotiation(data, size);
  if (size < 2)
    return 0;
  mode = data[0];
  frag = (size_t)(data[1] % 64) + 1;
  is_server = (mode >> 6) & 1;
  opts_init(&o, mode & 1, 8 + ((mode >> 3) & 7));
  prm.server_no_context_takeover = (uint8_t)((mode >> 1) & 1);
  prm.client_no_context_takeover = (uint8_t)((mode >> 2) & 1);
  prm.server_max_window_bits = (uint8_t)(8 + ((mode >> 3) & 7));
  prm.client_max_window_bits = prm.server_max_window_bits;
  if (mode & 1)
    sh = ws101__pmd_shared_new(&o);
  p = ws101__pmd_new(&prm, is_server, &o, sh);
  if (p == NULL)
    goto done;
  data += 2;
  size -= 2;
  for (off = 0; off < size; idx++) {
    size_t n = size - off < frag ? size - off : frag;
    int fin = off + n == size || (idx + data[-1]) % 4 == 3;
    int rc = ws101__pmd_inflate(p, (const char *)data + off, n, fin, &out,
                                MAX_MESSAGE);
    if (out.len > MAX_MESSAGE + 1 || out.cap > MAX_MESSAGE + 1)
      abort();
    if (rc != 0)
      break; /* the connection would be failed */
    off += n;
    if (fin) {
      check_roundtrip(&prm, is_server, &o, out.data, out.len);
      out.len = 0;
    }
  }
  ws101__pmd_free(p);
done:
  ws101__pmd_shared_free(sh);
  ws101__buf_free(&out);
  return 0;
}

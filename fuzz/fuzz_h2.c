/* fuzz_h2.c - libFuzzer target for the sans-I/O HTTP/2 server adapter.
 *
 * Input: byte 0 = read size (1..256), byte 1 bit 0 = consume body bytes
 * (else windows stay closed), bit 1 = answer heads with a body; the rest
 * is what a client sends after the preface (the target prepends it, so
 * the fuzzer spends its time on frames). Every head is answered, output
 * is drained after each read. It looks for memory errors, leaks
 * and crashes in the adapter's head assembly, limits and flood bucket. */
#include "proto/h2_session.h"
#include "ws101.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct state {
  ws101__h2 *h;
  int consume, body;
  long heads, closes;
  uint8_t sink;
} state;

static int on_head(void *ud, ws101__h2_stream *st) {
  state *s = ud;
  static const ws101__h2_field f[1] = {{"x", 1, "y", 1}};
  s->heads++;
  ws101__h2_respond(s->h, st, st->head_status ? st->head_status : 200, f, 1,
                    s->body);
  return 0;
}

static void on_data(void *ud, ws101__h2_stream *st, const char *d, size_t n) {
  state *s = ud;
  size_t i;
  for (i = 0; i < n; i++) s->sink ^= (uint8_t)d[i];
  if (s->consume) ws101__h2_consume(s->h, st, n);
}

static void on_end(void *ud, ws101__h2_stream *st) {
  (void)ud;
  (void)st;
}

static void on_close(void *ud, ws101__h2_stream *st, uint32_t err) {
  state *s = ud;
  (void)st;
  (void)err;
  s->closes++;
}

static ssize_t read_body(void *ud, ws101__h2_stream *st, char *buf,
                         size_t max, int *eof) {
  (void)ud;
  (void)st;
  if (max > 100) max = 100;
  memset(buf, 'b', max);
  *eof = 1;
  return (ssize_t)max;
}

static const ws101__h2_cbs cbs = {on_head, on_data, on_end, on_close,
                                  read_body};

static void drain(state *s) {
  const char *p;
  ssize_t n;
  while ((n = ws101__h2_send(s->h, &p)) > 0) s->sink ^= (uint8_t)p[0];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  state s;
  ws101__h2_settings set;
  size_t step, off = 2;
  uint64_t now = 0;
  if (size < 2) return 0;
  memset(&s, 0, sizeof(s));
  step = (size_t)data[0] % 256 + 1;
  s.consume = data[1] & 1;
  s.body = (data[1] >> 1) & 1;
  ws101__h2_settings_defaults(&set);
  set.enable_connect_protocol = 1;
  set.flood_burst = 50; /* reachable by the fuzzer */
  if (ws101__h2_new(&s.h, 1, &set, &cbs, &s) != 0) return 0;
  if (ws101__h2_recv(s.h, WS101__H2_PREFACE, WS101__H2_PREFACE_LEN, now) ==
      0) {
    while (off < size) {
      size_t n = size - off < step ? size - off : step;
      int rc = ws101__h2_recv(s.h, (const char *)data + off, n, now += 7);
      off += n;
      drain(&s);
      if (rc != 0) break;
    }
  }
  drain(&s);
  ws101__h2_free(s.h);
  return 0;
}

/* fuzz_http1.c - libFuzzer target for the HTTP/1.1 head parser and body
 * decoder. Each input is parsed as a request and as a response under a few
 * limit settings, in one piece and drip-fed; bodies are decoded whole and in
 * two pieces. Invariants are checked with abort() so the fuzzer reports
 * them as crashes. */
#include "proto/http1_parser.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(x)                                                               \
  do {                                                                         \
    if (!(x))                                                                  \
      abort();                                                                 \
  } while (0)

static const ws101__h1_limits limits[] = {
    {8192, 16384, 100}, {16, 64, 2}, {64, 256, 8}};

static void check_head(const ws101__h1_head *h, const char *buf, size_t n) {
  size_t i;
  CHECK(h->version == 10 || h->version == 11);
  CHECK(h->nheaders <= h->max_headers_cap);
  for (i = 0; i < h->nheaders; i++) {
    const ws101__h1_header *f = &h->headers[i];
    CHECK(f->name >= buf && f->name + f->name_len < buf + n);
    CHECK(f->value >= buf && f->value + f->value_len < buf + n);
    CHECK(f->name_len > 0 && strlen(f->name) == f->name_len);
    CHECK(strlen(f->value) == f->value_len);
  }
  CHECK(!((h->flags & WS101__H1_HAS_CL) && (h->flags & WS101__H1_CHUNKED)));
}

/* Decodes in[0..len) fed as two pieces cut at `cut`; returns the bytes
 * consumed and stores the last result in *result. */
static size_t decode(const ws101__h1_head *h, int response, const char *in,
                     size_t len, size_t cut, int *result) {
  ws101__h1_body b;
  size_t total = 0, start = 0, end;
  int r = WS101__H1_BODY_MORE, piece;
  if (response)
    ws101__h1_body_init_response(&b, h, 0);
  else
    ws101__h1_body_init_request(&b, h);
  for (piece = 0; piece < 2; piece++) {
    end = piece == 0 ? cut : len;
    while (start <= end) {
      const char *d;
      size_t dl, cons;
      r = ws101__h1_body_next(&b, in + start, end - start, &cons, &d, &dl);
      CHECK(cons <= end - start);
      start += cons;
      total += cons;
      if (r == WS101__H1_BODY_DATA) {
        CHECK(dl > 0 && dl <= cons && d >= in && d + dl <= in + len);
        continue;
      }
      if (r == WS101__H1_BODY_MORE)
        CHECK(start == end);
      if (r == WS101__H1_BODY_DONE)
        CHECK(ws101__h1_body_done(&b));
      break;
    }
    if (r != WS101__H1_BODY_MORE)
      break;
  }
  *result = r;
  return total;
}

static void one(const uint8_t *data, size_t size, const ws101__h1_limits *lim,
                int response) {
  ws101__h1_header hs[16];
  ws101__h1_head h;
  size_t scanned = 0, k;
  char *buf = malloc(size ? size : 1), *drip;
  int n, n2 = 0;
  if (buf == NULL)
    return;
  memcpy(buf, data, size);
  h.headers = hs;
  h.max_headers_cap = 16;
  n = response ? ws101__h1_parse_response(buf, size, &scanned, lim, &h)
               : ws101__h1_parse_request(buf, size, &scanned, lim, &h);
  CHECK(n <= 0 || (size_t)n <= size);
  CHECK(scanned <= size);

  /* Drip-fed in growing prefixes with the resume offset carried, the
   * outcome must be the same (a few prefix steps keep it fast). */
  drip = malloc(size ? size : 1);
  if (drip != NULL) {
    size_t step = size / 7 + 1;
    scanned = 0;
    for (k = step < size ? step : size;;
         k = k + step < size ? k + step : size) {
      ws101__h1_head h2;
      ws101__h1_header hs2[16];
      memcpy(drip, data, k);
      h2.headers = hs2;
      h2.max_headers_cap = 16;
      n2 = response ? ws101__h1_parse_response(drip, k, &scanned, lim, &h2)
                    : ws101__h1_parse_request(drip, k, &scanned, lim, &h2);
      CHECK(scanned <= k);
      if (n2 != 0 || k == size)
        break;
    }
    CHECK(n2 == n);
    free(drip);
  }

  if (n > 0) {
    size_t blen = size - (size_t)n, c1, c2;
    int r1, r2;
    check_head(&h, buf, (size_t)n);
    c1 = decode(&h, response, buf + n, blen, blen, &r1);
    c2 = decode(&h, response, buf + n, blen, blen / 2, &r2);
    CHECK(c1 <= blen && c2 <= blen);
    /* Splitting never changes whether, or where, a body ends. */
    CHECK(r1 == r2);
    if (r1 == WS101__H1_BODY_DONE)
      CHECK(c1 == c2);
  }
  free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t i;
  for (i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
    one(data, size, &limits[i], 0);
    one(data, size, &limits[i], 1);
  }
  {
    const char *a = (const char *)data;
    char *z = malloc(size + 1);
    if (z != NULL) {
      memcpy(z, a, size);
      z[size] = '\0';
      /* list helpers on arbitrary NUL-terminated text */
      (void)ws101__h1_token_list_has(z, "upgrade");
      free(z);
    }
  }
  return 0;
}

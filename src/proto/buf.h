/* buf.h - a growable byte buffer, the one owned-bytes type inside ws101.
 * Used where bytes must outlive a read callback (partial heads, message
 * reassembly, inflate output). Grows geometrically; never shrinks unless
 * asked, so steady-state traffic does not allocate. */
#ifndef WS101_BUF_H
#define WS101_BUF_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef struct ws101__buf {
  char *data;
  size_t len, cap;
} ws101__buf;

/* Makes room for `extra` more bytes. Returns 0 or -1 on allocation failure
 * (the buffer is unchanged). */
static inline int ws101__buf_reserve(ws101__buf *b, size_t extra) {
  size_t need, cap;
  char *p;
  if (extra <= b->cap - b->len) return 0;
  if (extra > (size_t)-1 / 2 - b->len) return -1;
  need = b->len + extra;
  cap = b->cap ? b->cap : 256;
  while (cap < need) cap *= 2;
  p = (char *)realloc(b->data, cap);
  if (p == NULL) return -1;
  b->data = p;
  b->cap = cap;
  return 0;
}

/* Appends `n` bytes. Returns 0 or -1. */
static inline int ws101__buf_append(ws101__buf *b, const void *src, size_t n) {
  if (n == 0) return 0;
  if (ws101__buf_reserve(b, n) != 0) return -1;
  memcpy(b->data + b->len, src, n);
  b->len += n;
  return 0;
}

/* Releases the memory (the buffer is then empty and reusable). */
static inline void ws101__buf_free(ws101__buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

/* Empties the buffer; frees it if it grew beyond `keep` bytes so that one
 * large message does not pin memory on an idle connection. */
static inline void ws101__buf_reset(ws101__buf *b, size_t keep) {
  b->len = 0;
  if (b->cap > keep) ws101__buf_free(b);
}

#endif

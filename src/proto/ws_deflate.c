/* ws_deflate.c - permessage-deflate compression and decompression
 * (RFC 7692 §7.2) on zlib raw streams.
 *
 * Every zlib allocation goes through count_alloc/count_free so a connection
 * can report exactly what it holds (ws101__pmd_memory). Streams are created
 * on first use. A stream with context takeover is kept for the life of the
 * connection (its window is state the peer relies on), so such a message
 * costs no allocation unless a caller-owned output buffer must grow.
 * Without context takeover nothing survives a message: those directions
 * use the loop's shared pair, or (a dedicated deflater with a window below
 * the shared one's) a stream released after each message, so idle
 * connections hold no zlib state then. */
#include "proto/ws_deflate.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* zlib's avail_in/avail_out are uInt; larger spans are fed in pieces. */
#define ZCHUNK_MAX ((size_t)1 << 30)
/* A fragment buffer (shared-inflate mode) bigger than this is released
 * after its message, so one large message does not pin memory. */
#define PEND_KEEP 16384
/* A legitimate message seldom has more than one BFINAL block; each costs a
 * window copy (and a temporary allocation), so cap them per inflate call to
 * keep crafted input of tiny final blocks from burning CPU. */
#define MAX_FINAL_BLOCKS 64

/* ------------------------------------------------------------------------ */
/* Counting allocator                                                       */
/* ------------------------------------------------------------------------ */

/* The size is kept in front of each block so zfree can subtract it. */
typedef union alloc_hdr {
  size_t size;
  max_align_t align;
} alloc_hdr;

static voidpf count_alloc(voidpf opaque, uInt items, uInt size) {
  size_t *counter = (size_t *)opaque;
  size_t n;
  alloc_hdr *h;
  if (size != 0 && items > (SIZE_MAX - sizeof(alloc_hdr)) / size)
    return Z_NULL;
  n = (size_t)items * size;
  h = (alloc_hdr *)malloc(sizeof(alloc_hdr) + n);
  if (h == NULL)
    return Z_NULL;
  h->size = sizeof(alloc_hdr) + n;
  *counter += h->size;
  return (voidpf)(h + 1);
}

static void count_free(voidpf opaque, voidpf addr) {
  size_t *counter = (size_t *)opaque;
  alloc_hdr *h;
  if (addr == Z_NULL)
    return;
  h = (alloc_hdr *)addr - 1;
  *counter -= h->size;
  free(h);
}

/* zlib refuses windowBits 8 for raw deflate; 9 is safe for an 8-bit peer
 * (see ws_deflate.h). */
static int deflate_bits(int bits) {
  if (bits < 9)
    return 9;
  return bits > 15 ? 15 : bits;
}

/* Creates a raw deflate stream; the z_stream itself is allocated through
 * the counter too, so a connection that never sends holds nothing. */
/* A zeroed z_stream whose own memory and zlib's go through `counter`. */
static z_stream *stream_new(size_t *counter) {
  z_stream *zs = (z_stream *)count_alloc(counter, 1, sizeof(z_stream));
  if (zs == NULL)
    return NULL;
  memset(zs, 0, sizeof(*zs));
  zs->zalloc = count_alloc;
  zs->zfree = count_free;
  zs->opaque = counter;
  return zs;
}

static int def_open(z_stream **zsp, size_t *counter, int bits, int level,
                    int mem_level) {
  z_stream *zs = stream_new(counter);
  if (zs == NULL)
    return WS101_ENOMEM;
  if (level < 0 || level > 9)
    level = 1;
  if (mem_level < 1 || mem_level > 9)
    mem_level = 8;
  if (deflateInit2(zs, level, Z_DEFLATED, -deflate_bits(bits), mem_level,
                   Z_DEFAULT_STRATEGY) != Z_OK) {
    count_free(counter, zs);
    return WS101_ENOMEM;
  }
  *zsp = zs;
  return 0;
}

static int inf_open(z_stream **zsp, size_t *counter, int bits) {
  z_stream *zs = stream_new(counter);
  if (zs == NULL)
    return WS101_ENOMEM;
  if (bits < 8 || bits > 15)
    bits = 15;
  if (inflateInit2(zs, -bits) != Z_OK) {
    count_free(counter, zs);
    return WS101_ENOMEM;
  }
  *zsp = zs;
  return 0;
}

static void def_close(z_stream **zsp) {
  z_stream *zs = *zsp;
  if (zs == NULL)
    return;
  deflateEnd(zs);
  count_free(zs->opaque, zs);
  *zsp = NULL;
}

static void inf_close(z_stream **zsp) {
  z_stream *zs = *zsp;
  if (zs == NULL)
    return;
  inflateEnd(zs);
  count_free(zs->opaque, zs);
  *zsp = NULL;
}

/* ------------------------------------------------------------------------ */
/* Objects                                                                  */
/* ------------------------------------------------------------------------ */

struct ws101__pmd_shared {
  z_stream *def, *inf;
  int def_bits, level, mem_level;
  size_t zmem; /* zlib bytes, counted by the hooks */
};

struct ws101__pmd {
  z_stream *def, *inf; /* dedicated streams, NULL until first use */
  ws101__pmd_shared *shared;
  ws101__buf pend;    /* compressed fragments awaiting fin (shared inflate) */
  size_t zmem;        /* bytes of the dedicated streams */
  uint8_t def_reset;  /* our no_context_takeover: reset after each message */
  uint8_t inf_reset;  /* the peer's */
  uint8_t def_shared; /* compress with shared->def */
  uint8_t inf_shared; /* decompress with shared->inf */
  uint8_t inf_ended;  /* the peer data so far ended with a BFINAL block */
  uint8_t def_bits, inf_bits, level, mem_level;
};

ws101__pmd_shared *ws101__pmd_shared_new(const struct ws101_options *opts) {
  ws101__pmd_shared *s = (ws101__pmd_shared *)calloc(1, sizeof(*s));
  if (s == NULL)
    return NULL;
  s->def_bits = deflate_bits(opts ? opts->deflate_window_bits : 15);
  s->level = opts ? opts->deflate_level : 1;
  s->mem_level = opts ? opts->deflate_mem_level : 8;
  return s;
}

void ws101__pmd_shared_free(ws101__pmd_shared *s) {
  if (s == NULL)
    return;
  def_close(&s->def);
  inf_close(&s->inf);
  free(s);
}

size_t ws101__pmd_shared_memory(const ws101__pmd_shared *s) {
  return s ? sizeof(*s) + s->zmem : 0;
}

ws101__pmd *ws101__pmd_new(const ws101__pmd_params *prm, int is_server,
                           const struct ws101_options *opts,
                           ws101__pmd_shared *shared) {
  ws101__pmd *p;
  int our_nct, peer_nct, our_max, peer_max, want;
  if (prm == NULL)
    return NULL;
  p = (ws101__pmd *)calloc(1, sizeof(*p));
  if (p == NULL)
    return NULL;
  our_nct = is_server ? prm->server_no_context_takeover
                      : prm->client_no_context_takeover;
  peer_nct = is_server ? prm->client_no_context_takeover
                       : prm->server_no_context_takeover;
  our_max =
      is_server ? prm->server_max_window_bits : prm->client_max_window_bits;
  peer_max =
      is_server ? prm->client_max_window_bits : prm->server_max_window_bits;
  want = opts ? opts->deflate_window_bits : 15;
  if (our_max < 8 || our_max > 15)
    our_max = 15;
  if (peer_max < 8 || peer_max > 15)
    peer_max = 15;
  p->def_bits = (uint8_t)deflate_bits(want < our_max ? want : our_max);
  /* The peer's compressor stays within peer_max, so an inflate window of
   * that size is enough and smaller than the default 32 KiB. */
  p->inf_bits = (uint8_t)peer_max;
  p->level = (uint8_t)(opts ? opts->deflate_level : 1);
  p->mem_level = (uint8_t)(opts ? opts->deflate_mem_level : 8);
  p->def_reset = (uint8_t)(our_nct != 0);
  p->inf_reset = (uint8_t)(peer_nct != 0);
  p->shared = shared;
  /* The shared deflater's window must not exceed what the peer agreed to
   * read; its inflater has 15 bits and reads anything. */
  p->def_shared = (uint8_t)(shared != NULL && our_nct &&
                            shared->def_bits <= deflate_bits(our_max));
  p->inf_shared = (uint8_t)(shared != NULL && peer_nct);
  return p;
}

void ws101__pmd_free(ws101__pmd *p) {
  if (p == NULL)
    return;
  def_close(&p->def);
  inf_close(&p->inf);
  ws101__buf_free(&p->pend);
  free(p);
}

int ws101__pmd_deflates_shared(const ws101__pmd *p) {
  return p != NULL && p->def_shared;
}

size_t ws101__pmd_memory(const ws101__pmd *p) {
  return p ? sizeof(*p) + p->zmem + p->pend.cap : 0;
}

/* ------------------------------------------------------------------------ */
/* Inflate                                                                  */
/* ------------------------------------------------------------------------ */

/* Grows out so that at least one more byte fits, never beyond `limit`
 * bytes of capacity: buf.h's doubling could otherwise allocate up to twice
 * the message limit for a bomb. */
static int out_grow(ws101__buf *out, size_t limit) {
  size_t cap;
  char *d;
  if (out->cap > out->len)
    return 0;
  cap = out->cap < 4096 ? 4096 : out->cap;
  while (cap <= out->len && cap <= SIZE_MAX / 2)
    cap *= 2;
  if (cap <= out->len)
    cap = SIZE_MAX;
  if (cap > limit)
    cap = limit;
  if (cap <= out->len)
    return WS101_ETOOBIG;
  d = (char *)realloc(out->data, cap);
  if (d == NULL)
    return WS101_ENOMEM;
  out->data = d;
  out->cap = cap;
  return 0;
}

/* A BFINAL block ended the deflate stream, but RFC 7692 §7.2.1 lets more
 * blocks follow in the same message and, with context takeover, later
 * messages may refer back to the window. zlib cannot continue a finished
 * stream, so restart it with the old window as dictionary. */
static int inf_restart(z_stream *zs) {
  Bytef *dict;
  uInt n = 0;
  int rc = 0;
  if (inflateGetDictionary(zs, Z_NULL, &n) != Z_OK)
    return WS101_EPROTO;
  dict = (Bytef *)malloc(n ? n : 1);
  if (dict == NULL)
    return WS101_ENOMEM;
  if (inflateGetDictionary(zs, dict, &n) != Z_OK || inflateReset(zs) != Z_OK ||
      (n > 0 && inflateSetDictionary(zs, dict, n) != Z_OK))
    rc = WS101_EPROTO;
  free(dict);
  return rc;
}

/* Per-call decoding state. `ended` is 1 when the last input consumed
 * finished a BFINAL block: then the message needs no 00 00 ff ff tail
 * (a sender flushing with Z_FINISH, RFC 7692 §7.2.3.4 without its trailing
 * empty-block byte), and appending one would leave the inflater inside a
 * half-read stored block. */
typedef struct inf_state {
  int finals;
  uint8_t *ended;
} inf_state;

/* Feeds `len` bytes to the inflater, appending output to out. */
static int inf_feed(z_stream *zs, const unsigned char *in, size_t len,
                    int flush, ws101__buf *out, size_t max_total,
                    inf_state *st) {
  size_t limit = max_total == SIZE_MAX ? SIZE_MAX : max_total + 1;
  int more_out = 0;
  zs->avail_in = 0;
  for (;;) {
    size_t room;
    uInt in_before;
    int ret, rc;
    if (zs->avail_in == 0 && len > 0) {
      size_t n = len < ZCHUNK_MAX ? len : ZCHUNK_MAX;
      zs->next_in = (Bytef *)(uintptr_t)in;
      zs->avail_in = (uInt)n;
      in += n;
      len -= n;
    }
    if (zs->avail_in == 0 && !more_out)
      return 0;
    if ((rc = out_grow(out, limit)) != 0)
      return rc;
    room = out->cap - out->len;
    if (room > limit - out->len)
      room = limit - out->len;
    if (room > ZCHUNK_MAX)
      room = ZCHUNK_MAX;
    zs->next_out = (Bytef *)out->data + out->len;
    zs->avail_out = (uInt)room;
    in_before = zs->avail_in;
    ret = inflate(zs, flush);
    out->len += room - zs->avail_out;
    /* Stop as soon as the limit is passed: the rest is never inflated. */
    if (out->len > max_total)
      return WS101_ETOOBIG;
    if (ret != Z_STREAM_END && zs->avail_in != in_before)
      *st->ended = 0;
    switch (ret) {
    case Z_OK:
      more_out = zs->avail_out == 0;
      break;
    case Z_BUF_ERROR: /* no progress possible: input used up */
      more_out = 0;
      if (zs->avail_in != 0)
        return WS101_EPROTO;
      break;
    case Z_STREAM_END:
      if (++st->finals > MAX_FINAL_BLOCKS)
        return WS101_EPROTO;
      if ((rc = inf_restart(zs)) != 0)
        return rc;
      *st->ended = 1;
      more_out = 0;
      break;
    case Z_MEM_ERROR:
      return WS101_ENOMEM;
    default: /* Z_DATA_ERROR, Z_NEED_DICT, Z_STREAM_ERROR */
      return WS101_EPROTO;
    }
  }
}

static const unsigned char k_tail[4] = {0x00, 0x00, 0xff, 0xff};

/* Inflates a message (or part of one) on zs; on fin appends the tail. */
static int inf_run(z_stream *zs, const char *in, size_t len, int fin,
                   ws101__buf *out, size_t max_total, uint8_t *ended) {
  inf_state st;
  int rc;
  st.finals = 0;
  st.ended = ended;
  rc = inf_feed(zs, (const unsigned char *)in, len, Z_NO_FLUSH, out, max_total,
                &st);
  if (rc != 0 || !fin)
    return rc;
  if (*ended) {
    *ended = 0;
    return 0;
  }
  /* Z_BLOCK stops at the block boundary the tail must complete; anything
   * else means the message ended inside a block (truncated or corrupt),
   * which would silently garble every later message. */
  rc = inf_feed(zs, k_tail, sizeof(k_tail), Z_BLOCK, out, max_total, &st);
  if (rc == 0 && *ended) {
    *ended = 0; /* the tail itself held a final block: still a boundary */
    return 0;
  }
  if (rc == 0 && !(zs->data_type & 128))
    rc = WS101_EPROTO;
  return rc;
}

int ws101__pmd_inflate(ws101__pmd *p, const char *in, size_t len, int fin,
                       ws101__buf *out, size_t max_total) {
  int rc;
  if (p == NULL || out == NULL || (in == NULL && len > 0))
    return WS101_EINVAL;
  if (p->inf_shared) {
    ws101__pmd_shared *s = p->shared;
    size_t pend_max = max_total / 8 + 4096;
    pend_max =
        max_total > SIZE_MAX - pend_max ? SIZE_MAX : max_total + pend_max;
    if (!fin || p->pend.len > 0) {
      /* Hold compressed fragments until the message is complete: the shared
       * stream must be free again when we return. */
      if (len > pend_max - p->pend.len) {
        ws101__buf_reset(&p->pend, PEND_KEEP);
        return WS101_ETOOBIG;
      }
      if (ws101__buf_append(&p->pend, in, len) != 0)
        return WS101_ENOMEM;
      if (!fin)
        return 0;
      in = p->pend.data;
      len = p->pend.len;
    }
    if (s->inf == NULL && (rc = inf_open(&s->inf, &s->zmem, 15)) != 0) {
      ws101__buf_reset(&p->pend, PEND_KEEP);
      return rc;
    }
    rc = inf_run(s->inf, in, len, 1, out, max_total, &p->inf_ended);
    p->inf_ended = 0;
    /* Reset even after an error, so the next connection starts clean. */
    inflateReset(s->inf);
    ws101__buf_reset(&p->pend, PEND_KEEP);
    return rc;
  }
  if (p->inf == NULL && (rc = inf_open(&p->inf, &p->zmem, p->inf_bits)) != 0)
    return rc;
  rc = inf_run(p->inf, in, len, fin, out, max_total, &p->inf_ended);
  if (rc != 0 || (fin && p->inf_reset)) {
    inflateReset(p->inf);
    p->inf_ended = 0;
  }
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Deflate                                                                  */
/* ------------------------------------------------------------------------ */

static int def_run(z_stream *zs, const char *in, size_t len, ws101__buf *out) {
  const unsigned char *src = (const unsigned char *)in;
  /* Stored blocks cost 5 bytes per 16 KiB at worst, plus the flush: one
   * reserve usually suffices even for incompressible data. */
  size_t guess = len + len / 1024 + 64;
  if (ws101__buf_reserve(out, guess) != 0)
    return WS101_ENOMEM;
  zs->avail_in = 0;
  for (;;) {
    size_t room;
    int flush;
    if (zs->avail_in == 0 && len > 0) {
      size_t n = len < ZCHUNK_MAX ? len : ZCHUNK_MAX;
      zs->next_in = (Bytef *)(uintptr_t)src;
      zs->avail_in = (uInt)n;
      src += n;
      len -= n;
    }
    if (out->cap - out->len < 64 &&
        ws101__buf_reserve(out, out->cap / 2 + 64) != 0)
      return WS101_ENOMEM;
    room = out->cap - out->len;
    if (room > ZCHUNK_MAX)
      room = ZCHUNK_MAX;
    zs->next_out = (Bytef *)out->data + out->len;
    zs->avail_out = (uInt)room;
    flush = len > 0 ? Z_NO_FLUSH : Z_SYNC_FLUSH;
    if (deflate(zs, flush) == Z_STREAM_ERROR)
      return WS101_EINVAL;
    out->len += room - zs->avail_out;
    /* With Z_SYNC_FLUSH, spare output space means the flush completed. */
    if (flush == Z_SYNC_FLUSH && zs->avail_in == 0 && zs->avail_out != 0)
      break;
  }
  if (out->len < 4 || memcmp(out->data + out->len - 4, k_tail, 4) != 0)
    return WS101_EINVAL; /* cannot happen with a sane zlib */
  out->len -= 4;
  return 0;
}

int ws101__pmd_deflate(ws101__pmd *p, const char *in, size_t len,
                       ws101__buf *out) {
  z_stream *zs;
  int rc, reset;
  if (p == NULL || out == NULL || (in == NULL && len > 0))
    return WS101_EINVAL;
  out->len = 0;
  if (len == 0) {
    /* zlib emits nothing for a second consecutive flush, so write the
     * empty stored block's first byte ourselves; with the receiver's tail
     * it is a complete empty block and leaves both windows unchanged. */
    if (ws101__buf_reserve(out, 1) != 0)
      return WS101_ENOMEM;
    out->data[0] = 0;
    out->len = 1;
    return 0;
  }
  if (p->def_shared) {
    ws101__pmd_shared *s = p->shared;
    if (s->def == NULL && (rc = def_open(&s->def, &s->zmem, s->def_bits,
                                         s->level, s->mem_level)) != 0)
      return rc;
    zs = s->def;
    reset = 1;
  } else {
    if (p->def == NULL && (rc = def_open(&p->def, &p->zmem, p->def_bits,
                                         p->level, p->mem_level)) != 0)
      return rc;
    zs = p->def;
    reset = p->def_reset;
  }
  rc = def_run(zs, in, len, out);
  /* A dedicated stream without context takeover (the agreed window is
   * smaller than the shared deflater's) keeps nothing the next message
   * needs: it is released rather than reset, so an idle connection does
   * not hold ~130 KiB of zlib state (window, hash chains, pending buffer)
   * between messages. That costs little more than the reset it replaces:
   * deflateReset clears the hash table too; the difference is a few
   * malloc/free pairs per message. */
  if (reset && zs == p->def) {
    def_close(&p->def);
  } else if (reset || rc != 0) {
    /* After a failure part of the input may be in the window but not on
     * the wire; a reset is always safe (the peer never needs our window). */
    deflateReset(zs);
  }
  if (rc != 0)
    out->len = 0;
  return rc;
}

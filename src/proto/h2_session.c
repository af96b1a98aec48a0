/* h2_session.c - the sans-I/O HTTP/2 adapter over nghttp2 (see the
 * header for what it adds and why). */
#include "proto/h2_session.h"

#include <nghttp2/nghttp2.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http1_chars.h"
#include "ws101.h"

struct ws101__h2 {
  nghttp2_session *s;
  ws101__h2_cbs cbs;
  void *ud;
  ws101__h2_settings set;
  ws101__h2_stream *streams; /* every stream we know, for free/find */
  size_t nstreams;
  struct h2_pool *pool;      /* nghttp2's allocator (see below) */
  /* The stream whose frame is being received: a head's fields arrive one
   * callback each, and a map lookup per field was ~100 instructions. */
  ws101__h2_stream *cur;
  int is_server;
  int fatal; /* a callback asked to end the connection */
  int peer_settings; /* the peer's first SETTINGS arrived */
  /* Client stream ids skipped so far (the newest ranges): a HEADERS on
   * one of them is on a stream the peer itself closed by opening a higher
   * one (RFC 9113 5.1.1), a connection error nghttp2 1.52 lets pass. */
  int32_t max_peer_id;
  struct { int32_t lo, hi; } gaps[16];
  int ngaps;
  /* Flood bucket, in thousandths of a frame so the refill is exact. */
  uint64_t tokens_milli, last_ms;
  int have_time;
  /* A frame nghttp2 gave us that did not fit the gathered write: it is
   * the next call's output (nghttp2 keeps it valid until its next
   * mem_send), and an error met after gathered bytes waits the same way. */
  const uint8_t *held;
  size_t held_len;
  int send_err;
};

void ws101__h2_settings_defaults(ws101__h2_settings *s) {
  memset(s, 0, sizeof(*s));
  s->max_concurrent_streams = 100;
  s->stream_window = 256 * 1024;
  s->conn_window = 1024 * 1024;
  s->max_header_list = 16384;
  s->max_headers = 100;
  s->enable_connect_protocol = 0;
  s->flood_burst = 1000;
  s->flood_rate = 100;
}

/* ---- nghttp2's allocations ------------------------------------------------ */

/* nghttp2 allocates a handful of small blocks per request (the stream,
 * outbound items, the copied response fields, header buffers) and frees
 * them when the stream closes: under h2load that was ~5 malloc/free pairs
 * per request, ~1,000 instructions. Sessions of one thread share a pool
 * of freed blocks by size class (bounded), so a steady request rate
 * recycles them instead. The pool lives while a session of its thread
 * does: the last one to go frees it, so nothing stays behind when a
 * thread ends. Sessions are made and freed on their loop's thread. */
#define POOL_CLASSES 5 /* 64, 128, 256, 512, 1024 bytes */
#define POOL_KEEP 256  /* free blocks kept per class */
/* Under AddressSanitizer a kept block is poisoned past its free-list link,
 * so a use after free inside nghttp2's blocks is still reported. */
#if defined(__SANITIZE_ADDRESS__)
#define POOL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define POOL_ASAN 1
#endif
#endif
#ifdef POOL_ASAN
#include <sanitizer/asan_interface.h>
#define POOL_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define POOL_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define POOL_POISON(p, n) ((void)0)
#define POOL_UNPOISON(p, n) ((void)0)
#endif
#define POOL_BIG 0xff  /* class of a block that is plain malloc */

/* 16 bytes, so the block after it keeps malloc's 16-byte alignment. */
typedef struct pool_hdr {
  struct {
    size_t cls;
    size_t size; /* what was asked for (realloc copies this much) */
  } h;
} pool_hdr;

typedef struct pool_free {
  struct pool_free *next;
} pool_free;

typedef struct h2_pool {
  pool_free *free[POOL_CLASSES];
  int nfree[POOL_CLASSES];
  size_t sessions;
  /* Closed streams kept with their buffers, for any session of the
   * thread: a connection with 100 streams in flight closes 100 at once
   * and the next one reuses them (16 per session covered -m 10 only). */
  ws101__h2_stream *spare;
  int nspare;
  /* Small frames of one ws101__h2_send gathered into one write (see
   * there); per thread, because the caller copies them out at once. */
  char gather[4096];
} h2_pool;

static _Thread_local h2_pool *thread_pool;

static int pool_class(size_t size) {
  int c = 0;
  size_t cap = 64;
  while (cap < size) {
    if (++c == POOL_CLASSES) return POOL_BIG;
    cap <<= 1;
  }
  return c;
}

static void *pool_malloc(size_t size, void *ud) {
  h2_pool *p = ud;
  int c = pool_class(size);
  pool_hdr *b;
  if (c != POOL_BIG && p->free[c] != NULL) {
    pool_free *f = p->free[c];
    POOL_UNPOISON(f, (size_t)64 << c);
    p->free[c] = f->next;
    p->nfree[c]--;
    b = (pool_hdr *)f - 1;
  } else {
    b = malloc(sizeof(*b) + (c == POOL_BIG ? size : (size_t)64 << c));
    if (b == NULL) return NULL;
    b->h.cls = (size_t)c;
  }
  b->h.size = size;
  return b + 1;
}

static void pool_put(h2_pool *p, pool_hdr *b) {
  int c = (int)b->h.cls;
  pool_free *f = (pool_free *)(b + 1);
  if (c == POOL_BIG || p->nfree[c] >= POOL_KEEP) {
    free(b);
    return;
  }
  f->next = p->free[c];
  p->free[c] = f;
  p->nfree[c]++;
  POOL_POISON(f + 1, ((size_t)64 << c) - sizeof(*f));
}

static void pool_free_cb(void *ptr, void *ud) {
  if (ptr != NULL) pool_put(ud, (pool_hdr *)ptr - 1);
}

static void *pool_calloc(size_t n, size_t size, void *ud) {
  void *q;
  if (size != 0 && n > (size_t)-1 / size) return NULL;
  q = pool_malloc(n * size, ud);
  if (q != NULL) memset(q, 0, n * size);
  return q;
}

static void *pool_realloc(void *ptr, size_t size, void *ud) {
  pool_hdr *b;
  void *q;
  size_t have;
  if (ptr == NULL) return pool_malloc(size, ud);
  b = (pool_hdr *)ptr - 1;
  have = b->h.cls == POOL_BIG ? b->h.size : (size_t)64 << b->h.cls;
  if (size <= have && b->h.cls != POOL_BIG) {
    b->h.size = size;
    return ptr;
  }
  if (b->h.cls == POOL_BIG && pool_class(size) == POOL_BIG) {
    pool_hdr *nb = realloc(b, sizeof(*b) + size);
    if (nb == NULL) return NULL;
    nb->h.size = size;
    return nb + 1;
  }
  q = pool_malloc(size, ud);
  if (q == NULL) return NULL;
  memcpy(q, ptr, b->h.size < size ? b->h.size : size);
  pool_put(ud, b);
  return q;
}

static h2_pool *pool_acquire(void) {
  h2_pool *p = thread_pool;
  if (p == NULL) {
    p = calloc(1, sizeof(*p));
    if (p == NULL) return NULL;
    thread_pool = p;
  }
  p->sessions++;
  return p;
}

static void pool_release(h2_pool *p) {
  int c;
  if (p == NULL || --p->sessions > 0) return;
  for (c = 0; c < POOL_CLASSES; c++)
    while (p->free[c] != NULL) {
      pool_free *f = p->free[c];
      POOL_UNPOISON(f, (size_t)64 << c);
      p->free[c] = f->next;
      free((pool_hdr *)f - 1);
    }
  while (p->spare != NULL) {
    ws101__h2_stream *st = p->spare;
    p->spare = st->next;
    ws101__buf_free(&st->hbuf);
    free(st->fields);
    free(st);
  }
  if (thread_pool == p) thread_pool = NULL;
  free(p);
}

/* ---- streams ------------------------------------------------------------ */

/* Closed streams keep their head buffers for the next one (bounded, per
 * thread: h2_pool), so a steady request rate does not allocate for heads. */
#define SPARE_MAX 256

static ws101__h2_stream *stream_new(ws101__h2 *h, int32_t id) {
  ws101__h2_stream *st = h->pool->spare;
  if (st != NULL) {
    ws101__buf hbuf = st->hbuf;
    ws101__h1_header *fields = st->fields;
    size_t cap = st->fields_cap;
    h->pool->spare = st->next;
    h->pool->nspare--;
    memset(st, 0, sizeof(*st));
    hbuf.len = 0;
    st->hbuf = hbuf;
    st->fields = fields;
    st->fields_cap = cap;
  } else {
    st = calloc(1, sizeof(*st));
  }
  if (st == NULL) return NULL;
  st->id = id;
  st->next = h->streams;
  if (h->streams != NULL) h->streams->prev = st;
  h->streams = st;
  st->in_list = 1;
  h->nstreams++;
  return st;
}

static void stream_free(ws101__h2 *h, ws101__h2_stream *st) {
  if (h->cur == st) h->cur = NULL;
  if (st->in_list) {
    if (st->prev != NULL)
      st->prev->next = st->next;
    else
      h->streams = st->next;
    if (st->next != NULL) st->next->prev = st->prev;
    h->nstreams--;
    st->in_list = 0;
  }
  if (h->pool->nspare < SPARE_MAX && st->hbuf.cap <= 16384) {
    st->next = h->pool->spare;
    h->pool->spare = st;
    h->pool->nspare++;
    return;
  }
  ws101__buf_free(&st->hbuf);
  free(st->fields);
  free(st);
}

ws101__h2_stream *ws101__h2_find(ws101__h2 *h, int32_t id) {
  return nghttp2_session_get_stream_user_data(h->s, id);
}

/* The stream of `id` (its user data), from the one-entry cache when it
 * is the stream being received. */
static ws101__h2_stream *stream_of(ws101__h2 *h, int32_t id) {
  ws101__h2_stream *st = h->cur;
  if (st != NULL && st->id == id) return st;
  st = nghttp2_session_get_stream_user_data(h->s, id);
  if (st != NULL) h->cur = st;
  return st;
}

size_t ws101__h2_nstreams(const ws101__h2 *h) { return h->nstreams; }

/* ---- flood bucket ------------------------------------------------------- */

/* Takes one token for a frame that does no useful work; 0 when the
 * bucket is empty (the peer is flooding). */
static int flood_take(ws101__h2 *h) {
  if (h->set.flood_burst == 0) return 1;
  if (h->tokens_milli < 1000) return 0;
  h->tokens_milli -= 1000;
  return 1;
}

static void flood_refill(ws101__h2 *h, uint64_t now) {
  uint64_t cap = (uint64_t)h->set.flood_burst * 1000;
  if (!h->have_time) {
    h->have_time = 1;
    h->last_ms = now;
    return;
  }
  if (now > h->last_ms) {
    /* rate frames per second = rate milli-frames per millisecond */
    uint64_t add = (now - h->last_ms) * h->set.flood_rate;
    h->tokens_milli = h->tokens_milli + add > cap ? cap : h->tokens_milli + add;
    h->last_ms = now;
  }
}

/* ---- head assembly ------------------------------------------------------ */

/* Index of pseudo-header kind `k` in pv_at / pv_len. */
#define PV(k) ((k) - WS101__H2K_METHOD)

/* Room for one more field in st->fields: 0, or -1 out of memory. */
static int fields_room(ws101__h2_stream *st) {
  size_t cap;
  ws101__h1_header *f;
  if (st->nfields < st->fields_cap) return 0;
  cap = st->fields_cap ? st->fields_cap * 2 : 16;
  f = realloc(st->fields, cap * sizeof(*f));
  if (f == NULL) return -1;
  st->fields = f;
  st->fields_cap = cap;
  return 0;
}

/* Fields are stored as "name\0value\0" in hbuf; offsets go in `fields`
 * (as integers cast into the pointer slots) until the head is complete,
 * because hbuf may move while it grows. A pseudo-header keeps only its
 * value ("value\0"), found by pv_at: it is part of the head, not a field.
 * `kind` is WS101__H2K_*. */
static int add_field(ws101__h2 *h, ws101__h2_stream *st, int kind,
                     const uint8_t *n, size_t nl, const uint8_t *v,
                     size_t vl) {
  size_t off = st->hbuf.len;
  char *d;
  ws101__h1_header *f;
  if (kind >= WS101__H2K_METHOD) {
    int i = PV(kind);
    /* :scheme has no role in the head; a repeated one (a server has
     * reset such a stream already) keeps the first. */
    if (kind > WS101__H2K_STATUS || st->pv_at[i] != 0) return 0;
    if (ws101__buf_reserve(&st->hbuf, vl + 1) != 0) return -2;
    d = st->hbuf.data + off;
    memcpy(d, v, vl);
    d[vl] = '\0';
    st->hbuf.len = off + vl + 1;
    st->pv_at[i] = (uint32_t)off + 1;
    st->pv_len[i] = (uint32_t)vl;
    return 0;
  }
  if (st->nfields >= h->set.max_headers) return -1;
  if (fields_room(st) != 0) return -2;
  /* One reserve and two copies per field: this runs for every header of
   * every request. */
  if (ws101__buf_reserve(&st->hbuf, nl + vl + 2) != 0) return -2;
  d = st->hbuf.data + off;
  memcpy(d, n, nl);
  d[nl] = '\0';
  memcpy(d + nl + 1, v, vl);
  d[nl + 1 + vl] = '\0';
  st->hbuf.len = off + nl + vl + 2;
  f = &st->fields[st->nfields++];
  f->name = (char *)(uintptr_t)off;
  f->name_len = nl;
  f->value = (char *)(uintptr_t)(off + nl + 1);
  f->value_len = vl;
  if (kind == WS101__H2K_HOST && st->host_ix == 0)
    st->host_ix = (uint32_t)st->nfields;
  else if (kind == WS101__H2K_CONTENT_LENGTH && st->cl_ix == 0)
    st->cl_ix = (uint32_t)st->nfields;
  else if (kind == WS101__H2K_EXPECT && st->expect_ix == 0)
    st->expect_ix = (uint32_t)st->nfields;
  return 0;
}

/* Forgets the head received so far (too big, or a client's 1xx). */
static void head_clear(ws101__h2_stream *st) {
  st->nfields = 0;
  st->hbuf.len = 0;
  memset(st->pv_at, 0, sizeof st->pv_at);
  st->host_ix = st->cl_ix = st->expect_ix = 0;
}

/* The value of pseudo-header `kind` in the finished buffer, or NULL. */
static char *pseudo_at(const ws101__h2_stream *st, char *base, int kind,
                       size_t *len) {
  uint32_t at = st->pv_at[PV(kind)];
  *len = st->pv_len[PV(kind)];
  return at != 0 ? base + at - 1 : NULL;
}

/* Turns the stored fields into head: pseudo-headers fill method, target,
 * host and status; the rest stay as fields. ":authority" becomes a Host
 * field when there is none, so handlers read Host whatever the version. */
static int finish_head(ws101__h2_stream *st) {
  ws101__h1_head *hd = &st->head;
  size_t i, host_off = st->hbuf.len, alen, plen, slen, mlen, prlen;
  char *base, *authority, *path, *status, *method, *protocol;
  /* The name of a Host field made from :authority lives in hbuf too, so
   * that every string of the head is inside one buffer (requests copy
   * the head by rebasing pointers into it). */
  if (st->host_ix == 0 && st->pv_at[PV(WS101__H2K_AUTHORITY)] &&
      (ws101__buf_append(&st->hbuf, "host", 5) != 0 || fields_room(st) != 0))
    return -1;
  /* Room after the head for a NUL-terminated copy of the path (the
   * target: :path, or :authority for a CONNECT), so that the request can
   * take this buffer as it is (ws101__req_adopt_head). */
  if (ws101__buf_reserve(&st->hbuf, (st->pv_at[PV(WS101__H2K_PATH)]
                                         ? st->pv_len[PV(WS101__H2K_PATH)]
                                         : st->pv_len[PV(WS101__H2K_AUTHORITY)]) +
                                        1))
    return -1;
  base = st->hbuf.data;
  memset(hd, 0, sizeof(*hd));
  hd->version = 20;
  for (i = 0; i < st->nfields; i++) {
    st->fields[i].name = base + (uintptr_t)st->fields[i].name;
    st->fields[i].value = base + (uintptr_t)st->fields[i].value;
  }
  method = pseudo_at(st, base, WS101__H2K_METHOD, &mlen);
  path = pseudo_at(st, base, WS101__H2K_PATH, &plen);
  authority = pseudo_at(st, base, WS101__H2K_AUTHORITY, &alen);
  status = pseudo_at(st, base, WS101__H2K_STATUS, &slen);
  protocol = pseudo_at(st, base, WS101__H2K_PROTOCOL, &prlen);
  hd->method = method;
  hd->method_len = method != NULL ? mlen : 0;
  if (status != NULL) {
    int v = 0;
    for (i = 0; i < slen && i < 3; i++) v = v * 10 + (status[i] - '0');
    hd->status = v;
    hd->reason = (char *)"";
  }
  st->protocol = protocol;
  if (st->host_ix != 0) hd->host = st->fields[st->host_ix - 1].value;
  if (st->cl_ix != 0) {
    const ws101__h1_header *f = &st->fields[st->cl_ix - 1];
    uint64_t v = 0;
    for (i = 0; i < f->value_len; i++) v = v * 10 + (uint64_t)(f->value[i] - '0');
    hd->flags |= WS101__H1_HAS_CL;
    hd->content_length = v;
  }
  if (st->expect_ix != 0 &&
      ws101__h1_ieq(st->fields[st->expect_ix - 1].value, "100-continue"))
    hd->flags |= WS101__H1_EXPECT_CONTINUE;
  if (st->host_ix == 0 && authority != NULL) {
    ws101__h1_header *f = &st->fields[st->nfields++];
    f->name = base + host_off;
    f->name_len = 4;
    f->value = authority;
    f->value_len = alen;
    hd->host = authority;
  }
  /* A CONNECT without :protocol targets the authority (RFC 9113 8.5). */
  if (path != NULL) {
    hd->target = path;
    hd->target_len = plen;
  } else if (authority != NULL && hd->method != NULL) {
    hd->target = authority;
    hd->target_len = alen;
  }
  /* RFC 8441: ":protocol" takes the role of Upgrade, so the same checks
   * (ws101_req_is_websocket) work on both versions. */
  if (st->protocol != NULL) {
    hd->upgrade = (char *)st->protocol;
    hd->flags |= WS101__H1_HAS_UPGRADE;
  }
  hd->flags |= WS101__H1_KEEPALIVE;
  hd->headers = st->fields;
  hd->nheaders = st->nfields;
  hd->max_headers_cap = st->fields_cap;
  return 0;
}

/* ---- nghttp2 callbacks -------------------------------------------------- */

static int in_gap(const ws101__h2 *h, int32_t id) {
  int i;
  for (i = 0; i < h->ngaps; i++)
    if (id >= h->gaps[i].lo && id <= h->gaps[i].hi) return 1;
  return 0;
}

/* A request broke an RFC 9113 §8 rule: reset its stream with
 * PROTOCOL_ERROR, as nghttp2's own HTTP checks did, and ignore what
 * else arrives on it. The connection and other streams go on. */
static void reject(ws101__h2 *h, ws101__h2_stream *st) {
  if (st->rejected) return;
  st->rejected = 1;
  nghttp2_submit_rst_stream(h->s, NGHTTP2_FLAG_NONE, st->id,
                            NGHTTP2_PROTOCOL_ERROR);
}

static int on_begin_frame(nghttp2_session *s, const nghttp2_frame_hd *hd,
                          void *ud) {
  ws101__h2 *h = ud;
  int32_t id = hd->stream_id;
  if (!h->is_server || hd->type != NGHTTP2_HEADERS || !(id & 1)) return 0;
  if (id > h->max_peer_id) {
    if (id > h->max_peer_id + 2) {
      if (h->ngaps == 16) {
        memmove(h->gaps, h->gaps + 1, 15 * sizeof(h->gaps[0]));
        h->ngaps--;
      }
      h->gaps[h->ngaps].lo = h->max_peer_id + 2;
      h->gaps[h->ngaps].hi = id - 2;
      h->ngaps++;
    }
    h->max_peer_id = id;
  } else if (in_gap(h, id)) {
    nghttp2_session_terminate_session(s, NGHTTP2_PROTOCOL_ERROR);
    h->fatal = 1;
  }
  return 0;
}

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *f,
                            void *ud) {
  ws101__h2 *h = ud;
  ws101__h2_stream *st;
  if (f->hd.type != NGHTTP2_HEADERS) return 0;
  st = stream_of(h, f->hd.stream_id);
  if (st != NULL) return 0; /* trailers, or the response on our stream */
  if (!h->is_server) return 0;
  st = stream_new(h, f->hd.stream_id);
  if (st == NULL) return NGHTTP2_ERR_CALLBACK_FAILURE;
  nghttp2_session_set_stream_user_data(s, f->hd.stream_id, st);
  h->cur = st;
  return 0;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f,
                     const uint8_t *name, size_t nl, const uint8_t *value,
                     size_t vl, uint8_t flags, void *ud) {
  ws101__h2 *h = ud;
  ws101__h2_stream *st;
  int rc, kind = WS101__H2K_FIELD;
  (void)s;
  (void)flags;
  if (f->hd.type != NGHTTP2_HEADERS) return 0;
  st = stream_of(h, f->hd.stream_id);
  if (st == NULL) return 0;
  if (h->is_server) {
    /* Every field is checked, also past the 431 limit and in trailers,
     * as nghttp2 did; a dropped one does not count towards the limit. */
    if (st->rejected) return 0;
    rc = ws101__h2_check_field(&st->chk, name, nl, value, vl,
                               st->head.version == 20,
                               h->set.enable_connect_protocol);
    if (rc == WS101__H2C_BAD) reject(h, st);
    if (rc != WS101__H2C_OK) return 0;
    kind = st->chk.kind;
  }
  /* Trailers after the head, and the rest of a head over the limit (it
   * is still decoded, to keep HPACK in sync), are not stored. */
  if (st->head.version == 20 || st->head_status != 0) return 0;
  st->list_size += nl + vl + 32;
  if (st->list_size > h->set.max_header_list) {
    st->head_status = 431;
    return 0;
  }
  if (!h->is_server) kind = ws101__h2_field_kind(name, nl);
  rc = add_field(h, st, kind, name, nl, value, vl);
  if (rc == -1) st->head_status = 431;
  if (rc == -2) return NGHTTP2_ERR_CALLBACK_FAILURE;
  return 0;
}

/* The message rules of a whole HEADERS or DATA frame of a request
 * (RFC 9113 §8.1): a complete head, trailers that end the stream, and a
 * body that matches content-length. 0 when the stream was reset. */
static int request_frame_ok(ws101__h2 *h, ws101__h2_stream *st,
                            const nghttp2_frame *f) {
  if (st->rejected) return 0;
  if (f->hd.type == NGHTTP2_HEADERS) {
    int bad = st->head.version != 20
                  ? ws101__h2_check_head(&st->chk) != 0
                  : !(f->hd.flags & NGHTTP2_FLAG_END_STREAM);
    if (bad) {
      reject(h, st);
      return 0;
    }
  }
  if ((f->hd.flags & NGHTTP2_FLAG_END_STREAM) &&
      ws101__h2_check_end(&st->chk) != 0) {
    reject(h, st);
    return 0;
  }
  return 1;
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f,
                         void *ud) {
  ws101__h2 *h = ud;
  ws101__h2_stream *st;
  int cheap = 0;
  switch (f->hd.type) {
  case NGHTTP2_PING:
    cheap = !(f->hd.flags & NGHTTP2_FLAG_ACK);
    break;
  case NGHTTP2_SETTINGS:
    cheap = !(f->hd.flags & NGHTTP2_FLAG_ACK);
    if (cheap) h->peer_settings = 1;
    break;
  case NGHTTP2_PRIORITY:
  case NGHTTP2_WINDOW_UPDATE:
  case NGHTTP2_RST_STREAM:
    cheap = 1;
    break;
  case NGHTTP2_DATA:
    cheap = f->hd.length == 0 && !(f->hd.flags & NGHTTP2_FLAG_END_STREAM);
    break;
  default:
    break;
  }
  if (cheap && !flood_take(h)) {
    nghttp2_session_terminate_session(s, NGHTTP2_ENHANCE_YOUR_CALM);
    h->fatal = 1;
    return 0;
  }
  if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) return 0;
  st = stream_of(h, f->hd.stream_id);
  if (st == NULL) return 0;
  if (h->is_server && !request_frame_ok(h, st, f)) return 0;
  if (f->hd.type == NGHTTP2_HEADERS) {
    /* The first HEADERS is the head; later ones are trailers. */
    if (st->head.version != 20) {
      if (st->head_status != 0) head_clear(st);
      if (finish_head(st) != 0) return NGHTTP2_ERR_CALLBACK_FAILURE;
      /* A client skips interim (1xx) heads: the final one follows. */
      if (!h->is_server && st->head.status >= 100 && st->head.status < 200) {
        st->head.version = 0;
        head_clear(st);
        st->list_size = 0;
        return 0;
      }
      if (h->cbs.on_head != NULL && h->cbs.on_head(h->ud, st) != 0) {
        nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, st->id,
                                  NGHTTP2_INTERNAL_ERROR);
        return 0;
      }
    }
  }
  if ((f->hd.flags & NGHTTP2_FLAG_END_STREAM) && !st->ended) {
    st->ended = 1;
    if (h->cbs.on_end != NULL) h->cbs.on_end(h->ud, st);
  }
  return 0;
}

static int on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t id,
                         const uint8_t *data, size_t len, void *ud) {
  ws101__h2 *h = ud;
  ws101__h2_stream *st = stream_of(h, id);
  (void)flags;
  if (st != NULL && h->is_server && !st->rejected &&
      ws101__h2_check_data(&st->chk, len) != 0)
    reject(h, st);
  if (st == NULL || st->head.version != 20 || st->rejected) {
    /* No one takes these bytes: give the window back at once. */
    nghttp2_session_consume(s, id, len);
    return 0;
  }
  if (h->cbs.on_data != NULL)
    h->cbs.on_data(h->ud, st, (const char *)data, len);
  else
    nghttp2_session_consume(s, id, len);
  return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t id, uint32_t err,
                           void *ud) {
  ws101__h2 *h = ud;
  ws101__h2_stream *st = nghttp2_session_get_stream_user_data(s, id);
  if (st == NULL) return 0;
  nghttp2_session_set_stream_user_data(s, id, NULL);
  if (h->cbs.on_close != NULL) h->cbs.on_close(h->ud, st, err);
  stream_free(h, st);
  return 0;
}

static ssize_t read_source(nghttp2_session *s, int32_t id, uint8_t *buf,
                           size_t len, uint32_t *flags,
                           nghttp2_data_source *src, void *ud) {
  ws101__h2 *h = ud;
  ws101__h2_stream *st = src->ptr;
  int eof = 0;
  ssize_t n;
  (void)s;
  (void)id;
  if (h->cbs.read_body == NULL) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    return 0;
  }
  n = h->cbs.read_body(h->ud, st, (char *)buf, len, &eof);
  if (n == WS101__H2_DEFER) return NGHTTP2_ERR_DEFERRED;
  if (n < 0) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  if (eof) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return n;
}

/* ---- session ------------------------------------------------------------ */

int ws101__h2_new(ws101__h2 **out, int is_server, const ws101__h2_settings *s,
                  const ws101__h2_cbs *cbs, void *ud) {
  nghttp2_session_callbacks *cb;
  nghttp2_option *opt;
  nghttp2_settings_entry iv[5];
  size_t niv = 0;
  ws101__h2 *h;
  int rc;
  *out = NULL;
  h = calloc(1, sizeof(*h));
  if (h == NULL) return WS101_ENOMEM;
  if (s != NULL)
    h->set = *s;
  else
    ws101__h2_settings_defaults(&h->set);
  h->cbs = *cbs;
  h->ud = ud;
  h->is_server = is_server;
  h->tokens_milli = (uint64_t)h->set.flood_burst * 1000;
  h->max_peer_id = -1; /* so that a gap can start at stream 1 */
  if (nghttp2_session_callbacks_new(&cb) != 0) {
    free(h);
    return WS101_ENOMEM;
  }
  nghttp2_session_callbacks_set_on_begin_frame_callback(cb, on_begin_frame);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
  if (nghttp2_option_new(&opt) != 0) {
    nghttp2_session_callbacks_del(cb);
    free(h);
    return WS101_ENOMEM;
  }
  /* Windows reopen when the application has taken the bytes. */
  nghttp2_option_set_no_auto_window_update(opt, 1);
  /* A server checks requests itself (h2_check.c, the same rules for a
   * fraction of the cost); a client keeps nghttp2's response checks. */
  if (is_server) nghttp2_option_set_no_http_messaging(opt, 1);
  /* The Debian 1.52 security backports, set explicitly (see header). */
  nghttp2_option_set_stream_reset_rate_limit(opt, 1000, 33);
  nghttp2_option_set_max_continuations(opt, 8);
  nghttp2_option_set_max_outbound_ack(opt, 1000);
  nghttp2_option_set_max_settings(opt, 32);
  nghttp2_option_set_max_deflate_dynamic_table_size(opt, 4096);
  /* Until the peer's SETTINGS arrive, assume its limit is ours. */
  nghttp2_option_set_peer_max_concurrent_streams(opt,
                                                 h->set.max_concurrent_streams);
  h->pool = pool_acquire();
  if (h->pool != NULL) {
    nghttp2_mem mem = {h->pool, pool_malloc, pool_free_cb, pool_calloc,
                       pool_realloc};
    rc = is_server ? nghttp2_session_server_new3(&h->s, cb, h, opt, &mem)
                   : nghttp2_session_client_new3(&h->s, cb, h, opt, &mem);
  } else {
    rc = NGHTTP2_ERR_NOMEM;
  }
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cb);
  if (rc != 0) {
    pool_release(h->pool);
    free(h);
    return WS101_ENOMEM;
  }
  iv[niv].settings_id = NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS;
  iv[niv++].value = h->set.max_concurrent_streams;
  iv[niv].settings_id = NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE;
  iv[niv++].value = h->set.stream_window;
  iv[niv].settings_id = NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE;
  iv[niv++].value = h->set.max_header_list;
  if (is_server && h->set.enable_connect_protocol) {
    iv[niv].settings_id = NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL;
    iv[niv++].value = 1;
  }
  if (!is_server) {
    iv[niv].settings_id = NGHTTP2_SETTINGS_ENABLE_PUSH;
    iv[niv++].value = 0;
  }
  if (nghttp2_submit_settings(h->s, NGHTTP2_FLAG_NONE, iv, niv) != 0 ||
      (h->set.conn_window > 65535 &&
       nghttp2_session_set_local_window_size(h->s, NGHTTP2_FLAG_NONE, 0,
                                             (int32_t)h->set.conn_window) !=
           0)) {
    ws101__h2_free(h);
    return WS101_EINVAL;
  }
  *out = h;
  return 0;
}

void ws101__h2_free(ws101__h2 *h) {
  if (h == NULL) return;
  while (h->streams != NULL) {
    ws101__h2_stream *st = h->streams;
    nghttp2_session_set_stream_user_data(h->s, st->id, NULL);
    if (h->cbs.on_close != NULL) h->cbs.on_close(h->ud, st, NGHTTP2_CANCEL);
    stream_free(h, st);
  }
  nghttp2_session_del(h->s);
  pool_release(h->pool); /* the last session of the thread frees spares */
  free(h);
}

int ws101__h2_recv(ws101__h2 *h, const char *data, size_t len,
                   uint64_t now_ms) {
  ssize_t n;
  flood_refill(h, now_ms);
  n = nghttp2_session_mem_recv(h->s, (const uint8_t *)data, len);
  if (n < 0) {
    /* Bad preface, flooding, a broken header block...: nghttp2 queued a
     * GOAWAY where the protocol wants one; make sure one goes out. */
    if (n != NGHTTP2_ERR_BAD_CLIENT_MAGIC)
      nghttp2_session_terminate_session(
          h->s, n == NGHTTP2_ERR_FLOODED ? NGHTTP2_ENHANCE_YOUR_CALM
                                         : NGHTTP2_PROTOCOL_ERROR);
    h->fatal = 1;
  }
  return h->fatal ? WS101_EPROTO : 0;
}

/* nghttp2_session_mem_send returns one frame per call, and a response is
 * two (HEADERS, DATA): writing each was ~250 instructions per request in
 * the caller's write path. Frames under GATHER_SMALL are copied together
 * (a second copy of a few dozen bytes); a bigger one goes out as
 * nghttp2 made it, alone, so bodies are still copied once. */
#define GATHER_SMALL 1024

ssize_t ws101__h2_send(ws101__h2 *h, const char **out) {
  char *g = h->pool->gather;
  size_t len = 0;
  if (h->held != NULL) {
    *out = (const char *)h->held;
    h->held = NULL;
    return (ssize_t)h->held_len;
  }
  if (h->send_err) {
    h->fatal = 1;
    return WS101_EPROTO;
  }
  for (;;) {
    const uint8_t *p = NULL;
    ssize_t n = nghttp2_session_mem_send(h->s, &p);
    if (n < 0) {
      h->send_err = 1;
      break;
    }
    if (n == 0) break;
    if (len == 0 && n >= GATHER_SMALL) {
      *out = (const char *)p;
      return n;
    }
    if (n >= GATHER_SMALL || len + (size_t)n > sizeof h->pool->gather) {
      h->held = p;
      h->held_len = (size_t)n;
      break;
    }
    memcpy(g + len, p, (size_t)n);
    len += (size_t)n;
  }
  if (len == 0 && h->send_err) {
    h->fatal = 1;
    return WS101_EPROTO;
  }
  *out = g;
  return (ssize_t)len;
}

int ws101__h2_alive(const ws101__h2 *h) {
  return h->held != NULL || nghttp2_session_want_read(h->s) ||
         nghttp2_session_want_write(h->s);
}

static int submit_nv(const ws101__h2_field *fields, size_t n, nghttp2_nv *nv,
                     size_t cap, uint8_t flags) {
  size_t i;
  if (n > cap) return -1;
  for (i = 0; i < n; i++) {
    nv[i].name = (uint8_t *)fields[i].name;
    nv[i].namelen = fields[i].name_len;
    nv[i].value = (uint8_t *)fields[i].value;
    nv[i].valuelen = fields[i].value_len;
    nv[i].flags = flags;
  }
  return 0;
}

#define MAX_SEND_FIELDS 128

int ws101__h2_respond(ws101__h2 *h, ws101__h2_stream *st, int status,
                      const ws101__h2_field *fields, size_t n, int has_body) {
  nghttp2_nv nv[MAX_SEND_FIELDS + 1];
  char sv[4];
  nghttp2_data_provider prd;
  if (status < 100 || status > 999 ||
      submit_nv(fields, n, nv + 1, MAX_SEND_FIELDS,
                NGHTTP2_NV_FLAG_NO_COPY_NAME) != 0)
    return WS101_EINVAL;
  sv[0] = (char)('0' + status / 100);
  sv[1] = (char)('0' + status / 10 % 10);
  sv[2] = (char)('0' + status % 10);
  sv[3] = '\0';
  nv[0].name = (uint8_t *)":status";
  nv[0].namelen = 7;
  nv[0].value = (uint8_t *)sv;
  nv[0].valuelen = 3;
  nv[0].flags = NGHTTP2_NV_FLAG_NO_COPY_NAME;
  prd.source.ptr = st;
  prd.read_callback = read_source;
  st->has_source = has_body;
  if (nghttp2_submit_response(h->s, st->id, nv, n + 1,
                              has_body ? &prd : NULL) != 0)
    return WS101_ECLOSED;
  return 0;
}

int ws101__h2_request(ws101__h2 *h, const ws101__h2_field *fields, size_t n,
                      int has_body, void *user, ws101__h2_stream **out) {
  nghttp2_nv nv[MAX_SEND_FIELDS];
  nghttp2_data_provider prd;
  ws101__h2_stream *st;
  int32_t id;
  *out = NULL;
  if (submit_nv(fields, n, nv, MAX_SEND_FIELDS, NGHTTP2_NV_FLAG_NONE) != 0)
    return WS101_EINVAL;
  st = stream_new(h, 0);
  if (st == NULL) return WS101_ENOMEM;
  st->user = user;
  st->has_source = has_body;
  prd.source.ptr = st;
  prd.read_callback = read_source;
  id = nghttp2_submit_request(h->s, NULL, nv, n, has_body ? &prd : NULL, st);
  if (id < 0) {
    stream_free(h, st);
    return id == NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE ? WS101_ECLOSED
                                                     : WS101_EINVAL;
  }
  st->id = id;
  *out = st;
  return 0;
}

void ws101__h2_resume(ws101__h2 *h, ws101__h2_stream *st) {
  if (st->has_source) nghttp2_session_resume_data(h->s, st->id);
}

void ws101__h2_consume(ws101__h2 *h, ws101__h2_stream *st, size_t n) {
  if (n > 0) nghttp2_session_consume(h->s, st->id, n);
}

void ws101__h2_reset(ws101__h2 *h, ws101__h2_stream *st, uint32_t err) {
  nghttp2_submit_rst_stream(h->s, NGHTTP2_FLAG_NONE, st->id, err);
}

void ws101__h2_goaway(ws101__h2 *h) {
  nghttp2_submit_goaway(h->s, NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(h->s),
                        NGHTTP2_NO_ERROR, NULL, 0);
}

int ws101__h2_peer_settings_seen(const ws101__h2 *h) {
  return h->peer_settings;
}

int ws101__h2_peer_connect_protocol(const ws101__h2 *h) {
  return nghttp2_session_get_remote_settings(
             h->s, NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL) == 1;
}

/* ---- h2c ---------------------------------------------------------------- */

static int b64url_val(int c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

int ws101__h2_decode_settings(const char *b64, size_t len, uint8_t *out,
                              size_t cap) {
  uint32_t acc = 0;
  size_t i, n = 0;
  int bits = 0;
  /* RFC 7540 3.2.1: base64url without padding; tolerate trailing '='
   * as some clients add it. */
  while (len > 0 && b64[len - 1] == '=') len--;
  if (len % 4 == 1) return -1;
  for (i = 0; i < len; i++) {
    int v = b64url_val((unsigned char)b64[i]);
    if (v < 0) return -1;
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (n >= cap) return -1;
      out[n++] = (uint8_t)(acc >> bits);
    }
  }
  if (n % 6 != 0) return -1;
  for (i = 0; i < n; i += 6) {
    uint16_t id = (uint16_t)(out[i] << 8 | out[i + 1]);
    uint32_t v = (uint32_t)out[i + 2] << 24 | (uint32_t)out[i + 3] << 16 |
                 (uint32_t)out[i + 4] << 8 | out[i + 5];
    if ((id == NGHTTP2_SETTINGS_ENABLE_PUSH && v > 1) ||
        (id == NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE && v > 0x7fffffffu) ||
        (id == NGHTTP2_SETTINGS_MAX_FRAME_SIZE &&
         (v < 16384 || v > 16777215)) ||
        (id == NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL && v > 1))
      return -1;
  }
  return (int)n;
}

int ws101__h2_upgrade(ws101__h2 *h, const uint8_t *payload, size_t len,
                      const ws101__h1_head *head, ws101__h2_stream **out) {
  ws101__h2_stream *st;
  size_t i;
  int head_req;
  *out = NULL;
  st = stream_new(h, 1);
  if (st == NULL) return WS101_ENOMEM;
  head_req = head->method_len == 4 && memcmp(head->method, "HEAD", 4) == 0;
  if (nghttp2_session_upgrade2(h->s, payload, len, head_req, st) != 0) {
    stream_free(h, st);
    return WS101_EINVAL;
  }
  h->max_peer_id = 1;
  /* Stream 1's head is the HTTP/1.1 request's, minus the hop-by-hop
   * fields that belonged to the upgrade. */
  if (add_field(h, st, WS101__H2K_METHOD, (const uint8_t *)":method", 7,
                (const uint8_t *)head->method, head->method_len) != 0 ||
      add_field(h, st, WS101__H2K_PATH, (const uint8_t *)":path", 5,
                (const uint8_t *)head->target, head->target_len) != 0)
    return WS101_ENOMEM;
  for (i = 0; i < head->nheaders; i++) {
    const ws101__h1_header *f = &head->headers[i];
    char lname[256];
    size_t j;
    if (f->name_len >= sizeof(lname)) continue;
    for (j = 0; j < f->name_len; j++) {
      char c = f->name[j];
      lname[j] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    lname[j] = '\0';
    if (!strcmp(lname, "connection") || !strcmp(lname, "upgrade") ||
        !strcmp(lname, "http2-settings") || !strcmp(lname, "keep-alive") ||
        !strcmp(lname, "transfer-encoding") || !strcmp(lname, "te") ||
        !strcmp(lname, "proxy-connection"))
      continue;
    if (add_field(h, st, ws101__h2_field_kind((const uint8_t *)lname,
                                              f->name_len),
                  (const uint8_t *)lname, f->name_len,
                  (const uint8_t *)f->value, f->value_len) == -2)
      return WS101_ENOMEM;
  }
  if (finish_head(st) != 0) return WS101_ENOMEM;
  st->ended = 1;
  *out = st;
  return 0;
}

int ws101__h2_upgrade_client(ws101__h2 *h, const uint8_t *payload, size_t len,
                             int head_request, void *user,
                             ws101__h2_stream **out) {
  ws101__h2_stream *st;
  *out = NULL;
  st = stream_new(h, 1);
  if (st == NULL) return WS101_ENOMEM;
  st->user = user;
  if (nghttp2_session_upgrade2(h->s, payload, len, head_request, st) != 0) {
    stream_free(h, st);
    return WS101_EINVAL;
  }
  *out = st;
  return 0;
}

int ws101__h2_settings_header(const ws101__h2_settings *s, char *buf,
                              size_t cap, uint8_t *payload, size_t *plen) {
  static const char tab[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  nghttp2_settings_entry iv[4];
  ssize_t n;
  size_t i, o = 0;
  iv[0].settings_id = NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS;
  iv[0].value = s->max_concurrent_streams;
  iv[1].settings_id = NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE;
  iv[1].value = s->stream_window;
  iv[2].settings_id = NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE;
  iv[2].value = s->max_header_list;
  iv[3].settings_id = NGHTTP2_SETTINGS_ENABLE_PUSH;
  iv[3].value = 0;
  n = nghttp2_pack_settings_payload(payload, *plen, iv, 4);
  if (n < 0) return -1;
  *plen = (size_t)n;
  for (i = 0; i < (size_t)n; i += 3) {
    uint32_t v = (uint32_t)payload[i] << 16;
    size_t k = (size_t)n - i;
    if (k > 1) v |= (uint32_t)payload[i + 1] << 8;
    if (k > 2) v |= payload[i + 2];
    if (o + 5 > cap) return -1;
    buf[o++] = tab[v >> 18 & 63];
    buf[o++] = tab[v >> 12 & 63];
    if (k > 1) buf[o++] = tab[v >> 6 & 63];
    if (k > 2) buf[o++] = tab[v & 63];
  }
  buf[o] = '\0';
  return (int)o;
}

int ws101__h2_is_preface(const char *data, size_t len) {
  size_t n = len < WS101__H2_PREFACE_LEN ? len : WS101__H2_PREFACE_LEN;
  if (memcmp(data, WS101__H2_PREFACE, n) != 0) return -1;
  return len >= WS101__H2_PREFACE_LEN ? 1 : 0;
}

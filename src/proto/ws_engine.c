/* ws_engine.c - the WebSocket receive state machine. */
#include "proto/ws_engine.h"

#include "proto/utf8.h"
#include "proto/ws_frame.h"

/* Most bytes reserved ahead of what a peer has actually sent. */
#define WS101__WSE_AHEAD ((size_t)256 * 1024)

#include <string.h>

enum {
  S_HDR = 0,      /* gathering a frame header */
  S_PAYLOAD = 1,  /* header done, no payload byte consumed yet */
  S_MORE = 2,     /* part of the payload was consumed in an earlier call */
  S_DONE = 3      /* close received or connection failed: ignore input */
};

/* The call context of one ws101__wse_feed. `s` is the receive state in
 * use: the engine's part block, or `local` while the connection has none. */
typedef struct feed {
  ws101__wse *e;
  ws101__wse_ctx *ctx;
  ws101__wse_part *s;
  ws101__wse_emit emit;
  void *ud;
  int stop;
  ws101__wse_part local;
} feed;

static void emit(feed *f, int ev, char *data, size_t len, int arg) {
  if (f->emit(f->ud, ev, data, len, arg)) f->stop = 1;
}

/* Always returns -1 so callers can `return fail(...)`. */
static int fail(feed *f, int code, const char *why) {
  f->e->state = S_DONE;
  emit(f, WS101__WSE_FAIL, (char *)why, strlen(why), code);
  return -1;
}

void ws101__wse_init(ws101__wse *e, const struct ws101_options *opts,
                     int is_client, const ws101__pmd_params *pmd) {
  memset(e, 0, sizeof *e);
  e->opts = opts;
  e->is_client = (uint8_t)(is_client != 0);
  if (pmd != NULL) {
    e->has_pmd = 1;
    e->pmdp = *pmd;
  }
}

static void part_free(ws101__wse_part *p) {
  ws101__buf_free(&p->msg);
  free(p);
}

/* A part block from the cache, or a new one (its msg empty). */
static ws101__wse_part *part_get(ws101__wse_ctx *ctx) {
  ws101__wse_part *p = ctx != NULL ? ctx->free : NULL;
  if (p != NULL) {
    ctx->free = p->next;
    ctx->nfree--;
  } else {
    p = (ws101__wse_part *)malloc(sizeof *p);
    if (p == NULL) return NULL;
    p->msg.data = NULL;
    p->msg.len = p->msg.cap = 0;
  }
  if (ctx != NULL) ctx->taken++;
  return p;
}

/* Back to the cache, keeping a reassembly buffer of up to WSE_KEEP. */
static void part_put(ws101__wse_ctx *ctx, ws101__wse_part *p) {
  if (ctx == NULL) {
    part_free(p);
    return;
  }
  /* Guarded: a block taken without the context (its loop had none yet,
   * out of memory) may come back through it. */
  if (ctx->taken) ctx->taken--;
  if (ctx->nfree >= WS101__WSE_CACHE) {
    part_free(p);
    return;
  }
  ws101__buf_reset(&p->msg, WS101__WSE_KEEP);
  p->next = ctx->free;
  ctx->free = p;
  ctx->nfree++;
}

void ws101__wse_ctx_clear(ws101__wse_ctx *ctx) {
  while (ctx->free != NULL) {
    ws101__wse_part *p = ctx->free;
    ctx->free = p->next;
    part_free(p);
  }
  ctx->nfree = 0;
}

void ws101__wse_free(ws101__wse *e, ws101__wse_ctx *ctx) {
  if (e->feeding) {
    e->state = S_DONE; /* the feed releases the block on its way out */
  } else if (e->part != NULL) {
    if (ctx != NULL && ctx->taken) ctx->taken--;
    part_free(e->part);
    e->part = NULL;
  }
  if (e->pmd != NULL) ws101__pmd_free(e->pmd);
  e->pmd = NULL;
}

ws101__pmd *ws101__wse_pmd(ws101__wse *e, ws101__wse_ctx *ctx) {
  if (e->has_pmd && e->pmd == NULL)
    e->pmd = ws101__pmd_new(&e->pmdp, !e->is_client, e->opts,
                            ctx != NULL ? ctx->pmd_shared : NULL);
  return e->pmd;
}

int ws101__wse_close_code_ok(unsigned code) {
  /* 1004 is reserved, 1005/1006/1015 must never be on the wire, the rest
   * of 1000-2999 is unassigned; 3000-4999 belong to apps/frameworks. */
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
         (code >= 3000 && code <= 4999);
}

size_t ws101__wse_memory(const ws101__wse *e) {
  size_t n = e->pmd != NULL ? ws101__pmd_memory(e->pmd) : 0;
  if (e->part != NULL) n += sizeof *e->part + e->part->msg.cap;
  return n;
}

/* Moves the state from the stack into a part block of the engine's own
 * (no-op if it has one). Returns 0 or -1 (failed: out of memory). */
static int own(feed *f) {
  ws101__wse_part *p;
  ws101__buf msg;
  if (f->s != &f->local) return 0;
  p = part_get(f->ctx);
  if (p == NULL) return fail(f, 1011, "out of memory");
  msg = p->msg; /* the cached buffer; local's is always empty */
  *p = f->local;
  p->msg = msg;
  f->e->part = p;
  f->s = p;
  return 0;
}

/* At the end of a feed: keeps the state in a block only if the connection
 * is inside a frame or a message, and gives the block back otherwise. */
static void settle(feed *f) {
  ws101__wse *e = f->e;
  ws101__wse_part *s = f->s;
  int idle = e->state == S_DONE ||
             (e->state == S_HDR && s->hdr_len == 0 && s->msg_op == 0);
  e->feeding = 0;
  if (s != &f->local) {
    if (idle) {
      e->part = NULL;
      part_put(f->ctx, s);
    }
  } else if (!idle) {
    (void)own(f); /* on failure the engine is stopped (S_DONE) */
  }
}

/* Checks a new frame header against the connection state and starts it.
 * Returns 0 or -1 (failed). */
static int start_frame(feed *f, const ws101__ws_hdr *h) {
  ws101__wse *e = f->e;
  ws101__wse_part *s = f->s;
  if (h->rsv & 0x30) return fail(f, 1002, "reserved bits set");
  if (h->masked == e->is_client)
    return fail(f, 1002, e->is_client ? "masked frame from server"
                                      : "unmasked frame from client");
  if (h->opcode >= 8) {
    if (h->opcode != WS101__WS_OP_CLOSE && h->opcode != WS101__WS_OP_PING &&
        h->opcode != WS101__WS_OP_PONG)
      return fail(f, 1002, "unknown opcode");
    if (!h->fin) return fail(f, 1002, "fragmented control frame");
    if (h->len > 125) return fail(f, 1002, "control frame too long");
    if (h->rsv) return fail(f, 1002, "RSV1 on a control frame");
    s->ctl_off = s->msg.len;
  } else {
    if (h->opcode == WS101__WS_OP_CONT) {
      if (!s->msg_op) return fail(f, 1002, "continuation without a message");
      if (h->rsv) return fail(f, 1002, "RSV1 on a continuation frame");
    } else if (h->opcode == WS101__WS_OP_TEXT ||
               h->opcode == WS101__WS_OP_BINARY) {
      if (s->msg_op) return fail(f, 1002, "new message inside a fragmented one");
      if (h->rsv && !e->has_pmd) return fail(f, 1002, "RSV1 without deflate");
      if (h->rsv && ws101__wse_pmd(e, f->ctx) == NULL)
        return fail(f, 1011, "out of memory");
      s->msg_op = h->opcode;
      s->msg_z = h->rsv ? 1 : 0;
      s->msg_len = 0;
      s->utf8 = WS101__UTF8_ACCEPT;
      s->carry_len = 0;
    } else {
      return fail(f, 1002, "unknown opcode");
    }
    /* Compressed lengths say nothing about the inflated size: those are
     * bounded while inflating instead. */
    if (!s->msg_z && h->len > e->opts->ws_max_message - s->msg_len)
      return fail(f, 1009, "message too big");
  }
  s->op = h->opcode;
  s->fin = h->fin;
  s->masked = h->masked;
  memcpy(s->key, h->key, 4);
  s->key_off = 0;
  s->remaining = h->len;
  e->state = S_PAYLOAD;
  return 0;
}

/* Gathers and starts the next frame header from d[*p..len). Returns 1 when
 * a frame started, 0 when more bytes are needed (all consumed), -1 failed. */
static int take_header(feed *f, const uint8_t *d, size_t len, size_t *p) {
  ws101__wse_part *e = f->s;
  ws101__ws_hdr h;
  int r;
  /* Usual case: the whole header is in this read; parse it in place. */
  if (e->hdr_len == 0) {
    r = ws101__ws_hdr_parse(&h, d + *p, len - *p);
    if (r < 0) return fail(f, 1002, "64-bit length with MSB set");
    if (r > 0) {
      *p += (size_t)r;
      return start_frame(f, &h) == 0 ? 1 : -1;
    }
  }
  while (*p < len) {
    size_t need = e->hdr_len < 2 ? 2 : ws101__ws_hdr_size(e->hdr[0], e->hdr[1]);
    size_t take = need - e->hdr_len;
    if (take > len - *p) take = len - *p;
    memcpy(e->hdr + e->hdr_len, d + *p, take);
    e->hdr_len = (uint8_t)(e->hdr_len + take);
    *p += take;
    if (e->hdr_len >= 2 &&
        e->hdr_len == ws101__ws_hdr_size(e->hdr[0], e->hdr[1])) {
      r = ws101__ws_hdr_parse(&h, e->hdr, e->hdr_len);
      e->hdr_len = 0;
      if (r < 0) return fail(f, 1002, "64-bit length with MSB set");
      return start_frame(f, &h) == 0 ? 1 : -1;
    }
  }
  return 0;
}

static int handle_control(feed *f, char *data, size_t n) {
  ws101__wse *e = f->e;
  unsigned code;
  if (f->s->op == WS101__WS_OP_PING) {
    emit(f, WS101_WS_PING, data, n, 0);
    return 0;
  }
  if (f->s->op == WS101__WS_OP_PONG) {
    emit(f, WS101_WS_PONG, data, n, 0);
    return 0;
  }
  if (n == 0) {
    e->state = S_DONE;
    emit(f, WS101__WSE_CLOSE, data, 0, 1005);
    return 0;
  }
  if (n == 1) return fail(f, 1002, "1-byte close payload");
  code = (unsigned)(uint8_t)data[0] << 8 | (uint8_t)data[1];
  if (!ws101__wse_close_code_ok(code)) return fail(f, 1002, "bad close code");
  if (!ws101__utf8_valid(data + 2, n - 2))
    return fail(f, 1007, "invalid UTF-8 in close reason");
  e->state = S_DONE;
  emit(f, WS101__WSE_CLOSE, data + 2, n - 2, (int)code);
  return 0;
}

/* Streaming mode: delivers validated bytes of the open message. Text parts
 * end on a code point boundary: an unfinished sequence is held back in
 * `carry` (<= 3 bytes) and sent, completed, as its own small part, so the
 * bulk still goes out without a copy. */
static void deliver_part(feed *f, char *data, size_t n, int end) {
  ws101__wse_part *e = f->s;
  int fl = (e->msg_op == WS101__WS_OP_TEXT ? WS101_FRAG_TEXT
                                           : WS101_FRAG_BINARY);
  if (e->msg_op == WS101__WS_OP_TEXT) {
    if (e->carry_len) {
      size_t need = ws101__utf8_seq_len(e->carry[0]) - e->carry_len;
      size_t take = need < n ? need : n;
      memcpy(e->carry + e->carry_len, data, take);
      e->carry_len = (uint8_t)(e->carry_len + take);
      data += take;
      n -= take;
      if (take < need) return; /* still unfinished; cannot be `end` */
      emit(f, WS101_WS_FRAGMENT, (char *)e->carry, e->carry_len,
           fl | (end && n == 0 ? WS101_FRAG_FIN : 0));
      e->carry_len = 0;
      if (n == 0) return;
    }
    if (e->utf8 != WS101__UTF8_ACCEPT) {
      size_t t = ws101__utf8_tail(data, n);
      memcpy(e->carry, data + n - t, t);
      e->carry_len = (uint8_t)t;
      n -= t;
    }
  }
  if (n > 0 || end)
    emit(f, WS101_WS_FRAGMENT, data, n, fl | (end ? WS101_FRAG_FIN : 0));
}

/* Validates text bytes of the open message; fails with 1007 at once. */
static int check_text(feed *f, const char *data, size_t n, int end) {
  ws101__wse_part *e = f->s;
  if (e->msg_op != WS101__WS_OP_TEXT) return 0;
  if (ws101__utf8_validate(&e->utf8, data, n) != n)
    return fail(f, 1007, "invalid UTF-8 in text message");
  if (end && e->utf8 != WS101__UTF8_ACCEPT)
    return fail(f, 1007, "truncated UTF-8 at end of text message");
  return 0;
}

static void end_message(ws101__wse_part *e) {
  e->msg_op = 0;
  e->msg_z = 0;
  e->msg_len = 0;
  e->carry_len = 0;
  ws101__buf_reset(&e->msg, WS101__WSE_KEEP);
}

/* Delivers a complete message as TEXT or BINARY; `reassembled` says it sat
 * in the message buffer, which is then reset. */
static void emit_message(feed *f, char *data, size_t len, int reassembled) {
  ws101__wse_part *e = f->s;
  int ev = e->msg_op == WS101__WS_OP_TEXT ? WS101_WS_TEXT : WS101_WS_BINARY;
  e->msg_op = 0;
  emit(f, ev, data, len, 0);
  if (reassembled) end_message(e);
}

static int inflate_part(feed *f, char *data, size_t n, int end) {
  const struct ws101_options *o = f->e->opts;
  ws101__wse_part *e;
  size_t before, max_total, got;
  uint64_t budget;
  int r;
  if (n == 0 && !end) return 0;
  if (own(f) < 0) return -1;
  e = f->s;
  before = e->msg.len;
  budget = o->ws_max_message - e->msg_len;
  max_total = budget > (uint64_t)(SIZE_MAX - before) ? SIZE_MAX
                                                      : before + (size_t)budget;
  r = ws101__pmd_inflate(f->e->pmd, data, n, end, &e->msg, max_total);
  if (r == WS101_ETOOBIG) return fail(f, 1009, "message too big");
  if (r == WS101_ENOMEM) return fail(f, 1011, "out of memory");
  if (r != 0) return fail(f, 1007, "invalid compressed data");
  got = e->msg.len - before;
  e->msg_len += got;
  if (check_text(f, e->msg.data + before, got, end) < 0) return -1;
  if (o->ws_stream_fragments) {
    deliver_part(f, e->msg.data + before, got, end);
    e->msg.len = before;
    if (end) end_message(e);
    return 0;
  }
  if (end) emit_message(f, e->msg.data, e->msg.len, 1);
  return 0;
}

/* Appends n payload bytes of the open message to `msg`, unmasking them on
 * the way (one pass over the bytes instead of unmask, then copy), and
 * emits the message once it is complete. Returns 0 or -1 (failed). */
static int reassemble(feed *f, const char *data, size_t n, int end) {
  ws101__wse_part *e;
  char *dst;
  if (own(f) < 0) return -1;
  e = f->s;
  /* The frame header announced the rest of this frame: one allocation for
   * (up to 256 KiB of) it instead of a doubling chain of reallocs and
   * copies. The cap keeps a peer that announces a huge frame and then
   * trickles bytes from making us allocate memory it never sends. */
  if (ws101__buf_reserve(&e->msg, n + (e->remaining < WS101__WSE_AHEAD
                                           ? (size_t)e->remaining
                                           : WS101__WSE_AHEAD)) != 0)
    return fail(f, 1011, "out of memory");
  dst = n ? e->msg.data + e->msg.len : (char *)data;
  if (n && e->masked)
    e->key_off = (uint8_t)ws101__ws_mask_copy_at(
        (uint8_t *)dst, (const uint8_t *)data, n, e->key, e->key_off);
  else if (n)
    memcpy(dst, data, n);
  if (check_text(f, dst, n, end) < 0) return -1;
  e->msg.len += n;
  e->msg_len += n;
  if (end) emit_message(f, e->msg.data, e->msg.len, 1);
  return 0;
}

/* Consumes n payload bytes of the current frame (n may be 0 only when the
 * frame is complete). Returns 0 or -1 (failed). */
static int payload(feed *f, char *data, size_t n) {
  ws101__wse *en = f->e;
  ws101__wse_part *e = f->s;
  int whole = en->state == S_PAYLOAD && n == e->remaining;
  int end;
  e->remaining -= n;
  en->state = e->remaining ? S_MORE : S_HDR;
  end = e->remaining == 0 && e->fin;
  /* A data message that is not complete in this read goes to `msg`. */
  if (e->op < 8 && !e->msg_z && !en->opts->ws_stream_fragments &&
      !(whole && end && e->op != WS101__WS_OP_CONT))
    return reassemble(f, data, n, end);
  if (e->masked && n)
    e->key_off = (uint8_t)ws101__ws_mask((uint8_t *)data, n, e->key, e->key_off);

  if (e->op >= 8) {
    if (whole) return handle_control(f, data, n);
    if (own(f) < 0) return -1;
    e = f->s;
    if (ws101__buf_append(&e->msg, data, n) != 0)
      return fail(f, 1011, "out of memory");
    if (e->remaining) return 0;
    /* The control payload sits after any message being reassembled; it is
     * dropped again once handled, so that message continues intact. */
    n = e->msg.len - e->ctl_off;
    e->msg.len = e->ctl_off;
    return handle_control(f, e->msg.data + e->ctl_off, n);
  }

  if (e->msg_z) return inflate_part(f, data, n, end);
  if (check_text(f, data, n, end) < 0) return -1;
  e->msg_len += n;
  if (en->opts->ws_stream_fragments) {
    deliver_part(f, data, n, end);
    if (end) end_message(e);
    return 0;
  }
  /* The whole message is in the caller's buffer: no copy at all. */
  emit_message(f, data, n, 0);
  e->msg_len = 0;
  return 0;
}

/* Unmasks p[0..n), n <= 125, in place, a word at a time, and returns the
 * OR of the high bits of the unmasked bytes: 0 means all ASCII. Small
 * enough for the compiler to keep in registers, unlike the general
 * vectorised masking, whose set-up costs more than a short payload. */
static uint64_t unmask_small(uint8_t *p, size_t n, const uint8_t key[4]) {
  uint32_t k32;
  uint64_t k64, w, acc = 0;
  size_t i = 0;
  memcpy(&k32, key, 4);
  k64 = (uint64_t)k32 << 32 | k32;
  for (; n - i >= 8; i += 8) {
    memcpy(&w, p + i, 8);
    w ^= k64;
    memcpy(p + i, &w, 8);
    acc |= w;
  }
  /* Key bytes repeat every 4, and i is a multiple of 8: the tail starts
   * at key byte 0 again. */
  for (; i < n; i++) {
    p[i] ^= key[i & 3];
    acc |= p[i];
  }
  return acc & UINT64_C(0x8080808080808080);
}

/* The frame a server sees most: a complete, masked, unfragmented TEXT or
 * BINARY frame of at most 125 bytes, no RSV bit, wholly inside this read,
 * with no fragmented message open. Decided from two bytes and handled
 * without the general header/payload machinery (which it matches exactly:
 * same checks, same events). Returns the bytes consumed, or 0 when the
 * frame is not of that kind and the general path must take it. */
static size_t small_frame(feed *f, char *d, size_t avail) {
  ws101__wse *e = f->e;
  uint8_t b0, b1, op, key[4];
  size_t n;
  char *pl;
  if (avail < 6) return 0;
  b0 = (uint8_t)d[0];
  b1 = (uint8_t)d[1];
  /* FIN, no RSV, opcode 1 or 2; MASK with a 7-bit length. */
  if ((b0 & 0xF0) != 0x80 || (uint8_t)((b0 & 0x0F) - 1) > 1 ||
      (b1 & 0x80) == 0 || (b1 & 0x7F) > 125)
    return 0;
  n = b1 & 0x7F;
  if (avail - 6 < n || n > e->opts->ws_max_message) return 0;
  memcpy(key, d + 2, 4);
  pl = d + 6;
  op = b0 & 0x0F;
  /* One pass unmasks and tells whether any byte is non-ASCII; only then
   * does a text message need the UTF-8 automaton. */
  if (unmask_small((uint8_t *)pl, n, key) && op == WS101__WS_OP_TEXT &&
      !ws101__utf8_valid(pl, n)) {
    fail(f, 1007, "invalid UTF-8 in text message");
    return 6 + n;
  }
  emit(f, op == WS101__WS_OP_TEXT ? WS101_WS_TEXT : WS101_WS_BINARY, pl, n,
       0);
  return 6 + n;
}

/* Sets up `local` for the general path: the state of a connection at a
 * frame boundary with no message open. The rest of it is set by
 * start_frame before it is read. */
static void start_local(feed *f) {
  f->s = &f->local;
  f->local.msg.data = NULL;
  f->local.msg.len = f->local.msg.cap = 0;
  f->local.hdr_len = 0;
  f->local.msg_op = 0;
  f->local.msg_z = 0;
  f->local.msg_len = 0;
  f->local.carry_len = 0;
  f->e->feeding = 1;
}

size_t ws101__wse_feed(ws101__wse *e, ws101__wse_ctx *ctx, char *data,
                       size_t len, ws101__wse_emit emitfn, void *ud) {
  feed f;
  size_t p = 0;
  /* Only a server's engine between messages, outside streaming mode, may
   * take the small-frame shortcut; anything else goes the general way. */
  int fast = !e->is_client && !e->opts->ws_stream_fragments;
  f.e = e;
  f.ctx = ctx;
  f.emit = emitfn;
  f.ud = ud;
  f.stop = 0;
  /* NULL while idle and only whole small frames came: those need no
   * receive state at all, so nothing is set up (or settled) for them. */
  f.s = e->part;
  if (f.s != NULL) e->feeding = 1;
  while (!f.stop) {
    if (e->state == S_DONE) {
      p = len;
      break;
    }
    if (e->state == S_HDR) {
      int r;
      if (p == len) break;
      if (fast && (f.s == NULL || (f.s->hdr_len == 0 && !f.s->msg_op))) {
        size_t k = small_frame(&f, data + p, len - p);
        if (k) {
          p += k;
          continue;
        }
      }
      if (f.s == NULL) start_local(&f);
      r = take_header(&f, (const uint8_t *)data, len, &p);
      if (r < 0) {
        p = len;
        break;
      }
      if (r == 0) break;
    } else { /* inside a frame: f.s is set (start_frame ran) */
      size_t n = len - p;
      if (n > f.s->remaining) n = (size_t)f.s->remaining;
      if (n == 0 && f.s->remaining > 0) break;
      if (payload(&f, data + p, n) < 0) {
        p = len;
        break;
      }
      p += n;
    }
  }
  if (f.s != NULL) settle(&f);
  return p;
}

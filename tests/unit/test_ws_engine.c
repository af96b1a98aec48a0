/* test_ws_engine.c - the sans-I/O WebSocket receiver, driven directly:
 * every input is also fed split at every byte, and the events must not
 * change. */
#include "test.h"
#include "proto/ws_engine.h"
#include "proto/ws_frame.h"
#include "proto/utf8.h"
#include <stddef.h>

#include <stdarg.h>

static struct ws101_options opts;

/* ---- building input ---------------------------------------------------- */

typedef struct wire {
  uint8_t b[1 << 18];
  size_t n;
} wire;

static wire W; /* scratch input of the current test */

/* Appends a frame; `b0` holds FIN/RSV/opcode verbatim so that invalid
 * combinations can be built. Masked with a fixed key when `mask`. */
static void frame_raw(wire *w, uint8_t b0, const void *p, size_t len,
                      int mask) {
  static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
  size_t h = ws101__ws_hdr_encode(w->b + w->n, 0, 0, 0, len, mask ? key : NULL);
  w->b[w->n] = b0;
  w->n += h;
  if (mask) ws101__ws_mask_copy(w->b + w->n, p, len, key);
  else if (len) memcpy(w->b + w->n, p, len);
  w->n += len;
}

static void frame(wire *w, int fin, int op, const char *s, size_t len) {
  frame_raw(w, (uint8_t)((fin ? 0x80 : 0) | op), s, len, 1);
}

#define FR(fin, op, lit) frame(&W, fin, op, lit, sizeof(lit) - 1)

/* ---- recording events -------------------------------------------------- */

typedef struct rec {
  char log[4096];
  size_t n;
  const char *base; /* the fed buffer, to observe zero-copy delivery */
  size_t base_len;
  int zero_copy;    /* messages delivered from the fed buffer */
  int stop_every;   /* ask the engine to stop after each event */
  ws101__buf frag;  /* streaming: concatenated parts */
  int frag_fin;
} rec;

static void logf_(rec *r, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  r->n += (size_t)vsnprintf(r->log + r->n, sizeof r->log - r->n, fmt, ap);
  va_end(ap);
  ASSERT(r->n < sizeof r->log);
}

static int on_ev(void *ud, int ev, char *data, size_t len, int arg) {
  rec *r = ud;
  size_t i;
  unsigned sum = 0;
  if ((ev == WS101_WS_TEXT || ev == WS101_WS_BINARY) && r->base != NULL &&
      data >= r->base && data < r->base + r->base_len)
    r->zero_copy++;
  if (ev == WS101_WS_FRAGMENT) {
    /* Text parts must be valid UTF-8 by themselves. */
    if (arg & WS101_FRAG_TEXT) {
      uint8_t st = 0;
      ASSERT_EQ(ws101__utf8_validate(&st, data, len), len);
      ASSERT_EQ(st, 0);
    }
    ASSERT_EQ(r->frag_fin, 0);
    ASSERT_EQ(ws101__buf_append(&r->frag, data, len), 0);
    if (arg & WS101_FRAG_FIN) {
      if (r->frag.len <= 64) {
        logf_(r, "F%d:%.*s|", arg & 3, (int)r->frag.len, r->frag.data);
      } else {
        for (i = 0; i < r->frag.len; i++)
          sum = sum * 31 + (uint8_t)r->frag.data[i];
        logf_(r, "F%d:len=%zu,sum=%08x|", arg & 3, r->frag.len, sum);
      }
      r->frag.len = 0;
    }
    return r->stop_every;
  }
  if (len <= 64) {
    logf_(r, "%d/%d:", ev, arg);
    for (i = 0; i < len; i++)
      logf_(r, (data[i] >= 32 && data[i] < 127) ? "%c" : "\\%02x",
            (uint8_t)data[i]);
    logf_(r, "|");
  } else {
    for (i = 0; i < len; i++) sum = sum * 31 + (uint8_t)data[i];
    logf_(r, "%d/%d:len=%zu,sum=%08x|", ev, arg, len, sum);
  }
  return r->stop_every;
}

/* run() feeds through a loop-style context unless this is cleared. */
static int use_ctx = 1;

/* The part block is held exactly while the engine is inside a frame or a
 * message: after every feed the context's count agrees with the engine,
 * and the engine's memory counts the block only while it is held. */
static void check_part(const ws101__wse *e, const ws101__wse_ctx *ctx) {
  if (ctx != NULL) ASSERT_EQ(ctx->taken, e->part != NULL ? 1u : 0u);
  if (ctx != NULL) ASSERT_LE(ctx->nfree, WS101__WSE_CACHE);
  if (e->part != NULL)
    ASSERT_GE(ws101__wse_memory(e), sizeof *e->part + e->part->msg.cap);
  else if (e->pmd == NULL)
    ASSERT_EQ(ws101__wse_memory(e), 0);
}

/* Feeds W (copied: the engine unmasks in place) cut at the given offsets.
 * Consumption must be complete unless stopping was requested. Every input
 * of these tests ends at a frame boundary with no message open (or fails
 * the connection), so the block must be back in the cache at the end. */
static void run(rec *r, int is_client, const ws101__pmd_params *pmd,
                const size_t *cuts, size_t ncuts) {
  static uint8_t buf[sizeof W.b];
  ws101__wse e;
  ws101__wse_ctx ctx;
  size_t i, at = 0;
  memset(r, 0, offsetof(rec, frag));
  memset(&ctx, 0, sizeof ctx);
  r->frag.len = 0;
  r->frag_fin = 0;
  ws101__wse_init(&e, &opts, is_client, pmd);
  memcpy(buf, W.b, W.n);
  for (i = 0; i <= ncuts; i++) {
    size_t end = i < ncuts ? cuts[i] : W.n;
    r->base = (const char *)buf + at;
    r->base_len = end - at;
    ASSERT_EQ(ws101__wse_feed(&e, use_ctx ? &ctx : NULL, (char *)buf + at,
                              end - at, on_ev, r),
              end - at);
    check_part(&e, use_ctx ? &ctx : NULL);
    at = end;
  }
  ASSERT(e.part == NULL);
  ws101__wse_free(&e, use_ctx ? &ctx : NULL);
  ws101__wse_ctx_clear(&ctx);
}

static void run_whole(rec *r, int is_client) { run(r, is_client, NULL, NULL, 0); }

/* Runs W whole, then split in two at every byte, then byte by byte, and
 * checks that every run logs `want`. */
static void check_all_splits(int is_client, const ws101__pmd_params *pmd,
                             const char *want) {
  static size_t cuts[sizeof W.b];
  rec r;
  memset(&r, 0, sizeof r);
  size_t i;
  memset(&r, 0, sizeof r);
  run(&r, is_client, pmd, NULL, 0);
  if (strcmp(r.log, want) != 0) FAILF("whole: got %s\nwant %s", r.log, want);
  use_ctx = 0; /* without a cache the engine mallocs its blocks itself */
  run(&r, is_client, pmd, NULL, 0);
  use_ctx = 1;
  if (strcmp(r.log, want) != 0) FAILF("no ctx: got %s\nwant %s", r.log, want);
  for (i = 0; i <= W.n; i++) {
    run(&r, is_client, pmd, &i, 1);
    if (strcmp(r.log, want) != 0)
      FAILF("cut at %zu: got %s\nwant %s", i, r.log, want);
  }
  for (i = 0; i + 1 < W.n; i++) cuts[i] = i + 1;
  run(&r, is_client, pmd, cuts, W.n ? W.n - 1 : 0);
  if (strcmp(r.log, want) != 0) FAILF("bytewise: got %s\nwant %s", r.log, want);
  ws101__buf_free(&r.frag);
}

/* ---- tests ------------------------------------------------------------- */

static void messages_table(void) {
  W.n = 0;
  FR(1, 1, "hello");
  FR(1, 2, "");
  FR(1, 1, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5");
  FR(0, 1, "Hel");
  FR(1, 9, "p1");           /* ping between fragments */
  FR(0, 0, "lo \xe2\x82");  /* code point split across fragments */
  FR(1, 0xA, "");           /* pong between fragments */
  FR(1, 0, "\xac!");
  FR(0, 2, "");
  FR(0, 0, "");
  FR(1, 0, "\x01\x02");
  FR(1, 9, "");
  FR(1, 8, "\x03\xe8" "bye");
  check_all_splits(0, NULL,
                   "2/0:hello|3/0:|2/0:\\ce\\ba\\e1\\bd\\b9\\cf\\83\\ce\\bc\\ce\\b5|"
                   "5/0:p1|6/0:|2/0:Hello \\e2\\82\\ac!|3/0:\\01\\02|5/0:|"
                   "100/1000:bye|");
}

static void length_classes(void) {
  static char big[70000];
  rec r;
  memset(&r, 0, sizeof r);
  size_t i, cuts[] = {1, 2, 3, 7, 9, 10, 11, 14, 200, 65536, 69999};
  for (i = 0; i < sizeof big; i++) big[i] = (char)('a' + i % 26);
  W.n = 0;
  frame(&W, 1, 2, big, 125);
  frame(&W, 1, 2, big, 126);
  frame(&W, 1, 2, big, 65535);
  frame(&W, 1, 1, big, 70000);
  /* A non-minimal 64-bit length is accepted. */
  {
    uint8_t nm[] = {0x82, 0xff, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 1, 2, 3};
    memcpy(W.b + W.n, nm, sizeof nm);
    W.n += sizeof nm;
  }
  run_whole(&r, 0);
  ASSERT_EQ(r.zero_copy, 5);
  ASSERT(strstr(r.log, "3/0:len=125,") && strstr(r.log, "3/0:len=126,") &&
         strstr(r.log, "3/0:len=65535,") && strstr(r.log, "2/0:len=70000,") &&
         strstr(r.log, "3/0:\\01\\02\\03|"));
  {
    char want[sizeof r.log];
    strcpy(want, r.log);
    for (i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
      run(&r, 0, NULL, &cuts[i], 1);
      ASSERT_STR_EQ(r.log, want);
    }
    run(&r, 0, NULL, cuts, sizeof cuts / sizeof cuts[0]);
    ASSERT_STR_EQ(r.log, want);
  }
}

typedef struct bad {
  const char *name;
  uint8_t b0;
  const char *payload;
  size_t len;
  int mask;
  int code;
} bad;

static void failures_table(void) {
  static const bad t[] = {
    {"rsv1 without deflate", 0xC1, "x", 1, 1, 1002},
    {"rsv2", 0xA1, "x", 1, 1, 1002},
    {"rsv3", 0x91, "x", 1, 1, 1002},
    {"opcode 3", 0x83, "", 0, 1, 1002},
    {"opcode 7", 0x87, "", 0, 1, 1002},
    {"opcode 11", 0x8B, "", 0, 1, 1002},
    {"opcode 15", 0x8F, "", 0, 1, 1002},
    {"continuation first", 0x80, "x", 1, 1, 1002},
    {"fragmented ping", 0x09, "", 0, 1, 1002},
    {"unmasked from client", 0x81, "x", 1, 0, 1002},
    {"bad utf8", 0x81, "a\xff", 2, 1, 1007},
    {"surrogate", 0x81, "\xed\xa0\x80", 3, 1, 1007},
    {"truncated utf8", 0x81, "a\xe2\x82", 3, 1, 1007},
    {"1-byte close", 0x88, "\x03", 1, 1, 1002},
    {"close reason utf8", 0x88, "\x03\xe8\xc0\xaf", 4, 1, 1007},
  };
  size_t i;
  for (i = 0; i < sizeof t / sizeof t[0]; i++) {
    char want[64];
    fprintf(stderr, "    %s\n", t[i].name);
    W.n = 0;
    frame_raw(&W, t[i].b0, t[i].payload, t[i].len, t[i].mask);
    FR(1, 1, "after"); /* never delivered */
    snprintf(want, sizeof want, "101/%d:", t[i].code);
    {
      rec r;
      memset(&r, 0, sizeof r);
      run_whole(&r, 0);
      if (strncmp(r.log, want, strlen(want)) != 0 ||
          strstr(r.log, "after") != NULL)
        FAILF("%s: got %s", t[i].name, r.log);
    }
  }
}

static void failures_sequences(void) {
  rec r;
  memset(&r, 0, sizeof r);
  /* New data frame while a fragmented message is open. */
  W.n = 0;
  FR(0, 1, "a");
  FR(1, 1, "b");
  run_whole(&r, 0);
  ASSERT(strncmp(r.log, "101/1002:", 9) == 0);
  /* Control frame over 125 bytes. */
  {
    char p[126] = {0};
    W.n = 0;
    frame(&W, 1, 9, p, 126);
    run_whole(&r, 0);
    ASSERT(strncmp(r.log, "101/1002:", 9) == 0);
  }
  /* RSV1 on a continuation even with deflate negotiated. */
  {
    ws101__pmd_params pp = {0, 0, 15, 15};
    W.n = 0;
    frame_raw(&W, 0x01, "a", 1, 1);
    frame_raw(&W, 0xC0, "b", 1, 1);
    run(&r, 0, &pp, NULL, 0);
    ASSERT(strncmp(r.log, "101/1002:", 9) == 0);
  }
  /* 64-bit length with the MSB set. */
  {
    uint8_t h[] = {0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4};
    memcpy(W.b, h, sizeof h);
    W.n = sizeof h;
    run_whole(&r, 0);
    ASSERT(strncmp(r.log, "101/1002:", 9) == 0);
  }
}

/* Invalid UTF-8 fails as soon as the bad byte arrives, mid-frame. */
static void utf8_fails_fast(void) {
  static char p[1000];
  rec r;
  memset(&r, 0, sizeof r);
  size_t cut = 2 + 2 + 4 + 12; /* header (16-bit length, key), 12 bytes */
  memset(p, 'a', sizeof p);
  p[10] = (char)0xC0;
  W.n = 0;
  frame(&W, 1, 1, p, sizeof p);
  {
    ws101__wse e;
    static uint8_t buf[sizeof W.b];
    memset(&r, 0, sizeof r);
    ws101__wse_init(&e, &opts, 0, NULL);
    memcpy(buf, W.b, W.n);
    ws101__wse_feed(&e, NULL, (char *)buf, cut, on_ev, &r);
    ASSERT(strncmp(r.log, "101/1007:", 9) == 0);
    ws101__wse_free(&e, NULL);
  }
}

/* Too big is detected from the declared length, before any payload. */
static void too_big(void) {
  rec r;
  memset(&r, 0, sizeof r);
  uint64_t saved = opts.ws_max_message;
  opts.ws_max_message = 10;
  W.n = 0;
  FR(1, 2, "0123456789");
  FR(0, 2, "012345");
  FR(1, 0, "01234");
  run_whole(&r, 0);
  ASSERT_STR_EQ(r.log, "3/0:0123456789|101/1009:message too big|");
  {
    ws101__wse e;
    static uint8_t buf[sizeof W.b];
    W.n = 0;
    FR(1, 2, "01234567890");
    memset(&r, 0, sizeof r);
    ws101__wse_init(&e, &opts, 0, NULL);
    memcpy(buf, W.b, W.n);
    ws101__wse_feed(&e, NULL, (char *)buf, 6, on_ev, &r); /* header only */
    ASSERT_STR_EQ(r.log, "101/1009:message too big|");
    ws101__wse_free(&e, NULL);
  }
  opts.ws_max_message = saved;
}

static void close_codes(void) {
  static const struct { unsigned code; int ok; } t[] = {
    {0, 0}, {999, 0}, {1000, 1}, {1001, 1}, {1002, 1}, {1003, 1},
    {1004, 0}, {1005, 0}, {1006, 0}, {1007, 1}, {1010, 1}, {1011, 1},
    {1014, 1}, {1015, 0}, {1016, 0}, {2000, 0}, {2999, 0}, {3000, 1},
    {4000, 1}, {4999, 1}, {5000, 0}, {65535, 0}};
  size_t i;
  rec r;
  memset(&r, 0, sizeof r);
  for (i = 0; i < sizeof t / sizeof t[0]; i++) {
    char p[2] = {(char)(t[i].code >> 8), (char)t[i].code};
    char want[32];
    W.n = 0;
    frame(&W, 1, 8, p, 2);
    run_whole(&r, 0);
    if (t[i].ok) snprintf(want, sizeof want, "100/%u:|", t[i].code);
    else snprintf(want, sizeof want, "101/1002:bad close code|");
    ASSERT_STR_EQ(r.log, want);
  }
  /* No payload: 1005. Input after the close is ignored. */
  W.n = 0;
  FR(1, 8, "");
  FR(1, 1, "ignored");
  run_whole(&r, 0);
  ASSERT_STR_EQ(r.log, "100/1005:|");
}

static void client_mode(void) {
  rec r;
  memset(&r, 0, sizeof r);
  W.n = 0;
  frame_raw(&W, 0x81, "hi", 2, 0);
  frame_raw(&W, 0x89, "p", 1, 0);
  check_all_splits(1, NULL, "2/0:hi|5/0:p|");
  W.n = 0;
  frame_raw(&W, 0x81, "hi", 2, 1);
  run_whole(&r, 1);
  ASSERT_STR_EQ(r.log, "101/1002:masked frame from server|");
}

static void streaming(void) {
  opts.ws_stream_fragments = 1;
  W.n = 0;
  FR(0, 1, "ab\xe2");
  FR(1, 9, "x");
  FR(0, 0, "\x82\xac" "cd\xf0\x9f");
  FR(1, 0, "\x98\x80");
  FR(1, 2, "bin");
  FR(1, 1, "");
  check_all_splits(0, NULL,
                   "5/0:x|F1:ab\xe2\x82\xac" "cd\xf0\x9f\x98\x80|F2:bin|F1:|");
  opts.ws_stream_fragments = 0;
}

/* Stopping after an event leaves the rest unconsumed, resumable. */
static void stop_and_continue(void) {
  static uint8_t buf[sizeof W.b];
  ws101__wse e;
  rec r;
  memset(&r, 0, sizeof r);
  size_t n, total = 0;
  int calls = 0;
  W.n = 0;
  FR(1, 1, "one");
  FR(1, 1, "two");
  FR(1, 9, "");
  memcpy(buf, W.b, W.n);
  memset(&r, 0, sizeof r);
  r.stop_every = 1;
  ws101__wse_init(&e, &opts, 0, NULL);
  while (total < W.n) {
    n = ws101__wse_feed(&e, NULL, (char *)buf + total, W.n - total, on_ev,
                        &r);
    ASSERT_GT(n, 0);
    total += n;
    calls++;
  }
  ASSERT_EQ(calls, 3);
  ASSERT_STR_EQ(r.log, "2/0:one|2/0:two|5/0:|");
  ws101__wse_free(&e, NULL);
}

static void deflate_roundtrip(void) {
  ws101__pmd_params pp = {0, 0, 15, 15};
  ws101__pmd *client = ws101__pmd_new(&pp, 0, &opts, NULL);
  ws101__buf z = {0};
  static char text[3000];
  size_t i, half;
  char want[256];
  for (i = 0; i < sizeof text; i++) text[i] = "abc \xce\xba"[i % 6];
  ASSERT(client != NULL);
  /* One compressed text message (context takeover across messages). */
  W.n = 0;
  ASSERT_EQ(ws101__pmd_deflate(client, text, sizeof text, &z), 0);
  frame_raw(&W, 0xC1, z.data, z.len, 1);
  /* The same, split over three frames with a ping inside. */
  ASSERT_EQ(ws101__pmd_deflate(client, text, sizeof text, &z), 0);
  half = z.len / 2;
  frame_raw(&W, 0x41, z.data, half, 1);
  FR(1, 9, "p");
  frame_raw(&W, 0x00, z.data + half, z.len - half - 1, 1);
  frame_raw(&W, 0x80, z.data + z.len - 1, 1, 1);
  /* An uncompressed message in between is fine. */
  FR(1, 2, "raw");
  {
    rec r;
    memset(&r, 0, sizeof r);
    unsigned sum = 0;
    for (i = 0; i < sizeof text; i++) sum = sum * 31 + (uint8_t)text[i];
    snprintf(want, sizeof want,
             "2/0:len=3000,sum=%08x|5/0:p|2/0:len=3000,sum=%08x|3/0:raw|",
             sum, sum);
    run(&r, 0, &pp, NULL, 0);
    ASSERT_STR_EQ(r.log, want);
  }
  check_all_splits(0, &pp, want);
  /* Inflated size is bounded by ws_max_message. */
  {
    rec r;
    memset(&r, 0, sizeof r);
    uint64_t saved = opts.ws_max_message;
    opts.ws_max_message = 1000;
    run(&r, 0, &pp, NULL, 0);
    ASSERT_STR_EQ(r.log, "101/1009:message too big|");
    opts.ws_max_message = saved;
  }
  /* Streaming mode delivers inflated parts. */
  opts.ws_stream_fragments = 1;
  {
    rec r;
    memset(&r, 0, sizeof r);
    run(&r, 0, &pp, NULL, 0);
    ASSERT(strncmp(r.log, "F1:len=3000,", 12) == 0);
    ws101__buf_free(&r.frag);
  }
  opts.ws_stream_fragments = 0;
  ws101__buf_free(&z);
  ws101__pmd_free(client);
}

/* Reassembly memory is released after a big message. */
static void keep_limit(void) {
  static char big[100000];
  static uint8_t buf[sizeof W.b];
  ws101__wse e;
  rec r;
  memset(&r, 0, sizeof r);
  W.n = 0;
  frame(&W, 0, 2, big, 50000);
  frame(&W, 1, 0, big, 50000);
  memcpy(buf, W.b, W.n);
  memset(&r, 0, sizeof r);
  ws101__wse_init(&e, &opts, 0, NULL);
  ASSERT_EQ(ws101__wse_feed(&e, NULL, (char *)buf, W.n, on_ev, &r), W.n);
  ASSERT(strstr(r.log, "3/0:len=100000") != NULL);
  /* Back at a boundary: the part block (and its big buffer) is gone. */
  ASSERT(e.part == NULL);
  ASSERT_EQ(ws101__wse_memory(&e), 0);
  ws101__wse_free(&e, NULL);
}

/* Complete small frames take the engine's shortcut when fed whole and the
 * general path when the header is split: both must log the same, at every
 * payload length the shortcut covers (word-wise unmasking, the key phase
 * of the tail), for binary, ASCII text, UTF-8 text and invalid text. */
static void small_frames_every_length(void) {
  static char p[126];
  static char want[sizeof(((rec *)0)->log)];
  rec r;
  size_t n, cut = 1;
  int kind;
  memset(&r, 0, sizeof r);
  for (kind = 0; kind < 4; kind++) {
    for (n = 0; n <= 125; n++) {
      size_t i;
      for (i = 0; i < n; i++)
        p[i] = kind == 0 ? (char)(i * 37 + 5) : (char)('a' + i % 26);
      if (kind == 2 && n >= 2) { /* U+00E9 at the end */
        p[n - 2] = (char)0xC3;
        p[n - 1] = (char)0xA9;
      }
      if (kind == 3 && n >= 1) p[n / 2] = (char)0xFF; /* never valid */
      W.n = 0;
      frame(&W, 1, kind == 0 ? 2 : 1, p, n);
      FR(1, 1, "next");
      run_whole(&r, 0);
      strcpy(want, r.log);
      run(&r, 0, NULL, &cut, 1);
      if (strcmp(r.log, want) != 0)
        FAILF("kind %d len %zu: whole %s, split %s", kind, n, want, r.log);
      if (kind == 3 && n >= 1)
        ASSERT(strncmp(want, "101/1007:", 9) == 0);
      else
        ASSERT(strstr(want, "2/0:next|") != NULL);
    }
  }
}

/* Feeds W[from..to) to e (buf holds W's bytes, unmasked in place). */
static void feed_range(ws101__wse *e, ws101__wse_ctx *ctx, uint8_t *buf,
                       size_t from, size_t to, rec *r) {
  ASSERT_EQ(ws101__wse_feed(e, ctx, (char *)buf + from, to - from, on_ev, r),
            to - from);
}

/* The receive state block: never taken for whole frames (small, 16-bit
 * length, control, client-side), taken from the loop's cache when a frame
 * or a message spans reads, given back at the next frame boundary with no
 * message open, and reused from the cache without another malloc. */
static void part_block_lifecycle(void) {
  static uint8_t buf[sizeof W.b];
  static char mid[300];
  ws101__wse e;
  ws101__wse_ctx ctx;
  ws101__wse_part *first;
  rec r;
  size_t a, b, c, d;
  memset(&r, 0, sizeof r);
  memset(&ctx, 0, sizeof ctx);
  memset(mid, 'm', sizeof mid);
  ws101__wse_init(&e, &opts, 0, NULL);
  /* Whole frames of every path: no block was ever made. */
  W.n = 0;
  FR(1, 1, "small");
  frame(&W, 1, 2, mid, sizeof mid); /* 16-bit length: the general path */
  FR(1, 9, "ping");
  memcpy(buf, W.b, W.n);
  feed_range(&e, &ctx, buf, 0, W.n, &r);
  ASSERT(e.part == NULL);
  ASSERT(ctx.free == NULL && ctx.taken == 0);
  ASSERT_EQ(ws101__wse_memory(&e), 0);
  ASSERT(strstr(r.log, "2/0:small|3/0:len=300,") != NULL);
  ASSERT(strstr(r.log, "|5/0:ping|") != NULL);
  /* A header split across reads takes the block; the rest of the frame
   * gives it back. */
  memset(&r, 0, sizeof r);
  W.n = 0;
  FR(1, 1, "split");
  memcpy(buf, W.b, W.n);
  feed_range(&e, &ctx, buf, 0, 1, &r);
  ASSERT(e.part != NULL && ctx.taken == 1);
  ASSERT_EQ(ws101__wse_memory(&e), sizeof *e.part);
  first = e.part;
  feed_range(&e, &ctx, buf, 1, W.n, &r);
  ASSERT_STR_EQ(r.log, "2/0:split|");
  ASSERT(e.part == NULL && ctx.taken == 0 && ctx.nfree == 1);
  /* A fragmented message with control frames inside it, one whole and
   * one split: the block stays taken (the same one, from the cache) until
   * the final fragment, and the message arrives intact. */
  memset(&r, 0, sizeof r);
  W.n = 0;
  FR(0, 1, "frag");
  a = W.n;
  FR(1, 9, "in");   /* whole ping inside the message */
  FR(0, 0, "men");
  b = W.n;
  FR(1, 0xA, "pong"); /* split pong inside the message */
  c = W.n;
  FR(1, 0, "ted");
  d = W.n;
  FR(1, 1, "after");
  memcpy(buf, W.b, W.n);
  feed_range(&e, &ctx, buf, 0, a, &r);
  ASSERT(e.part == first && ctx.taken == 1 && ctx.nfree == 0);
  ASSERT_GE(ws101__wse_memory(&e), sizeof *e.part + 4);
  feed_range(&e, &ctx, buf, a, b + 3, &r);
  ASSERT(e.part == first);
  feed_range(&e, &ctx, buf, b + 3, c, &r);
  ASSERT(e.part == first);
  ASSERT_STR_EQ(r.log, "5/0:in|6/0:pong|");
  feed_range(&e, &ctx, buf, c, d, &r);
  ASSERT_STR_EQ(r.log, "5/0:in|6/0:pong|2/0:fragmented|");
  ASSERT(e.part == NULL && ctx.taken == 0 && ctx.nfree == 1);
  ASSERT_EQ(ws101__wse_memory(&e), 0);
  /* The cached block kept its (small) reassembly buffer for the next. */
  ASSERT(ctx.free == first && first->msg.cap > 0 && first->msg.len == 0);
  feed_range(&e, &ctx, buf, d, W.n, &r);
  ASSERT(e.part == NULL && ctx.free == first);
  /* A payload split mid-frame: taken, then back. */
  memset(&r, 0, sizeof r);
  W.n = 0;
  frame(&W, 1, 2, mid, sizeof mid);
  memcpy(buf, W.b, W.n);
  feed_range(&e, &ctx, buf, 0, 100, &r);
  ASSERT(e.part == first && ctx.taken == 1);
  feed_range(&e, &ctx, buf, 100, W.n, &r);
  ASSERT(e.part == NULL && ctx.taken == 0 && ctx.nfree == 1);
  ASSERT(strstr(r.log, "3/0:len=300,") != NULL);
  /* Closing mid-message frees the block (not cached: may be another
   * thread); a failed connection gives it back at once. */
  W.n = 0;
  FR(0, 2, "open");
  memcpy(buf, W.b, W.n);
  feed_range(&e, &ctx, buf, 0, W.n, &r);
  ASSERT(e.part != NULL && ctx.taken == 1);
  ws101__wse_free(&e, &ctx);
  ASSERT(e.part == NULL && ctx.taken == 0 && ctx.nfree == 0);
  ws101__wse_init(&e, &opts, 0, NULL);
  memset(&r, 0, sizeof r);
  W.n = 0;
  FR(0, 2, "open");
  FR(1, 1, "new message inside");
  memcpy(buf, W.b, W.n);
  feed_range(&e, &ctx, buf, 0, 8, &r);
  ASSERT(e.part != NULL);
  feed_range(&e, &ctx, buf, 8, W.n, &r);
  ASSERT(strncmp(r.log, "101/1002:", 9) == 0);
  ASSERT(e.part == NULL && ctx.taken == 0 && ctx.nfree == 1);
  ws101__wse_free(&e, &ctx);
  ws101__wse_ctx_clear(&ctx);
  ASSERT(ctx.free == NULL && ctx.nfree == 0);
}

/* The cache keeps at most WS101__WSE_CACHE blocks, however many engines
 * were mid-message at once. */
static void part_cache_bound(void) {
  static ws101__wse es[WS101__WSE_CACHE + 3];
  static uint8_t buf[64];
  ws101__wse_ctx ctx;
  rec r;
  size_t i, n = sizeof es / sizeof es[0];
  memset(&ctx, 0, sizeof ctx);
  for (i = 0; i < n; i++) {
    ws101__wse_init(&es[i], &opts, 0, NULL);
    memset(&r, 0, sizeof r);
    W.n = 0;
    FR(0, 2, "a");
    memcpy(buf, W.b, W.n);
    feed_range(&es[i], &ctx, buf, 0, W.n, &r);
  }
  ASSERT_EQ(ctx.taken, n);
  for (i = 0; i < n; i++) {
    memset(&r, 0, sizeof r);
    W.n = 0;
    FR(1, 0, "b");
    memcpy(buf, W.b, W.n);
    feed_range(&es[i], &ctx, buf, 0, W.n, &r);
    ASSERT_STR_EQ(r.log, "3/0:ab|");
    ws101__wse_free(&es[i], &ctx);
  }
  ASSERT_EQ(ctx.taken, 0);
  ASSERT_EQ(ctx.nfree, WS101__WSE_CACHE);
  ws101__wse_ctx_clear(&ctx);
}

int main(void) {
  ws101__options_defaults(&opts);
  RUN(messages_table);
  RUN(length_classes);
  RUN(failures_table);
  RUN(failures_sequences);
  RUN(utf8_fails_fast);
  RUN(too_big);
  RUN(close_codes);
  RUN(client_mode);
  RUN(streaming);
  RUN(stop_and_continue);
  RUN(deflate_roundtrip);
  RUN(keep_limit);
  RUN(small_frames_every_length);
  RUN(part_block_lifecycle);
  RUN(part_cache_bound);
  TEST_DONE();
}

/* test_fault_io.c - framing never depends on how the kernel splits the
 * byte stream: a scripted exchange (pipelined GETs, chunked and
 * Content-Length POSTs, a streamed response under backpressure, a
 * WebSocket upgrade with permessage-deflate, text, a 64-bit-length binary
 * message, a fragmented message, a ping, the close handshake) is run once
 * normally and once with the transport's fault injection on (1-byte reads;
 * every other write refused with EAGAIN, the others cut to 7 bytes). What
 * the client receives must be byte-identical (Date headers aside). */
#include "http_harness.h"

#include "io/conn.h"

/* ---- server -------------------------------------------------------------- */

static void h_echo(ws101_req *req, void *ud) {
  (void)ud;
  ASSERT_EQ(ws101_req_respond(req, 200, "application/octet-stream",
                              ws101_req_body(req), ws101_req_body_len(req)),
            0);
}

typedef struct streamer {
  long i, n;
} streamer;

static void stream_more(ws101_req *req, void *ud) {
  streamer *st = ud;
  char line[32];
  while (st->i < st->n) {
    int len = snprintf(line, sizeof(line), "line %ld\n", st->i);
    int rc = ws101_req_write(req, line, (size_t)len);
    if (rc == WS101_EBACKPRESSURE) return;
    ASSERT_EQ(rc, 0);
    st->i++;
  }
  ASSERT_EQ(ws101_req_end(req), 0);
  free(st);
}

static void h_stream(ws101_req *req, void *ud) {
  streamer *st = calloc(1, sizeof(*st));
  (void)ud;
  ASSERT(st != NULL);
  st->n = 3000;
  ASSERT_EQ(ws101_req_on_drain(req, stream_more, st), 0);
  stream_more(req, st);
}

static void ws_echo(ws101_ws *ws, int ev, const char *data, size_t len,
                    int arg, void *ud) {
  (void)arg;
  (void)ud;
  if (ev == WS101_WS_TEXT || ev == WS101_WS_BINARY)
    ASSERT_EQ(ws101_ws_send(ws, data, len,
                            ev == WS101_WS_TEXT ? WS101_OP_TEXT
                                                : WS101_OP_BINARY),
              0);
}

/* ---- the script ---------------------------------------------------------- */

typedef struct bytes {
  char *p;
  size_t n;
} bytes;

static void add(bytes *b, const void *p, size_t n) {
  b->p = realloc(b->p, b->n + n);
  ASSERT(b->p != NULL);
  memcpy(b->p + b->n, p, n);
  b->n += n;
}

static void adds(bytes *b, const char *s) { add(b, s, strlen(s)); }

/* A masked client frame. */
static void frame(bytes *b, int first, const char *payload, size_t n) {
  static const unsigned char key[4] = {0x11, 0x22, 0x33, 0x44};
  unsigned char h[14];
  size_t hl = 0, i;
  h[hl++] = (unsigned char)first;
  if (n < 126) {
    h[hl++] = (unsigned char)(0x80 | n);
  } else if (n < 65536) {
    h[hl++] = 0x80 | 126;
    h[hl++] = (unsigned char)(n >> 8);
    h[hl++] = (unsigned char)n;
  } else {
    h[hl++] = 0x80 | 127;
    for (i = 0; i < 8; i++) h[hl++] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
  }
  memcpy(h + hl, key, 4);
  hl += 4;
  add(b, h, hl);
  for (i = 0; i < n; i++) {
    char c = (char)(payload[i] ^ key[i % 4]);
    add(b, &c, 1);
  }
}

static bytes script(void) {
  bytes b = {NULL, 0};
  static char body[2000], text[300], bin[70000];
  size_t i;
  for (i = 0; i < sizeof(body); i++) body[i] = (char)('a' + i % 26);
  for (i = 0; i < sizeof(text); i++) text[i] = "deflate this text "[i % 18];
  for (i = 0; i < sizeof(bin); i++) bin[i] = (char)((i * 31) ^ (i >> 7));
  adds(&b, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
           "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
           "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
           "\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
           "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n");
  add(&b, body, sizeof(body));
  adds(&b, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"
           "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n");
  frame(&b, 0x81, text, sizeof(text));
  frame(&b, 0x82, bin, sizeof(bin));
  frame(&b, 0x01, "frag", 4);
  frame(&b, 0x80, "mented", 6);
  frame(&b, 0x89, "p", 1);
  frame(&b, 0x88, "\x03\xe8" "bye", 5);
  return b;
}

/* Runs the script; returns everything received until EOF, Date lines
 * removed. */
static bytes run(int faults) {
  static const hh_opt o[] = {{WS101_OPT_OUTPUT_BUFFER_LIMIT, 8192}, {0, 0}};
  hh_server s;
  hh_cli *c;
  bytes in = script(), out = {NULL, 0};
  size_t i, cut = 0;
  memset(&ws101__faults, 0, sizeof(ws101__faults));
  if (faults) {
    ws101__faults.read_max = 1;
    ws101__faults.write_max = 7;
  }
  hh_init(&s, o);
  ASSERT_EQ(ws101_server_route(s.srv, "/hello", 0, hh_say, "hello"), 0);
  ASSERT_EQ(ws101_server_route(s.srv, "/echo", 0, h_echo, NULL), 0);
  ASSERT_EQ(ws101_server_route(s.srv, "/stream", 0, h_stream, NULL), 0);
  ASSERT_EQ(ws101_server_websocket(s.srv, "/ws", ws_echo, NULL), 0);
  hh_run(&s);
  c = hh_connect(s.port);
  hh_sendn(c, in.p, in.n);
  for (;;) {
    int r = hh_fill(c, 20000);
    ASSERT_NE(r, -1); /* a stall would be a bug */
    if (r <= 0) break;
    add(&out, c->buf, c->len);
    c->len = 0;
  }
  hh_close(c);
  hh_stop(&s);
  /* The faulty run really went through the injected write path: every
   * send of ours (the first try and those on UV_WRITABLE) was cut or
   * refused in turn. */
  if (faults) ASSERT_GT(ws101__faults.counter, 10);
  memset(&ws101__faults, 0, sizeof(ws101__faults));
  free(in.p);
  /* Drop "Date: ...\r\n" lines: the only part that depends on the clock. */
  for (i = 0; i < out.n;) {
    if (out.n - i >= 8 && memcmp(out.p + i, "\r\nDate: ", 8) == 0) {
      size_t j = i + 2;
      while (j + 1 < out.n && memcmp(out.p + j, "\r\n", 2) != 0) j++;
      memmove(out.p + i, out.p + j, out.n - j);
      out.n -= j - i;
      continue;
    }
    out.p[cut++] = out.p[i++];
  }
  out.n = cut;
  return out;
}

static size_t count(const bytes *b, const char *pat) {
  size_t n = 0, i, l = strlen(pat);
  for (i = 0; i + l <= b->n; i++)
    if (memcmp(b->p + i, pat, l) == 0) n++;
  return n;
}

static void test_short_reads_and_writes_change_nothing(void) {
  bytes normal = run(0), faulty = run(1);
  size_t i;
  fprintf(stderr, "    %zu bytes received normally, %zu with faults\n",
          normal.n, faulty.n);
  /* The script was served in full. */
  ASSERT_EQ(count(&normal, "HTTP/1.1 200 OK"), 5);
  ASSERT_EQ(count(&normal, "HTTP/1.1 101 "), 1);
  ASSERT_EQ(count(&normal, "permessage-deflate"), 1);
  ASSERT_EQ(count(&normal, "line 2999\n"), 1);
  ASSERT_GT(normal.n, 70000 / 4);
  for (i = 0; i < normal.n && i < faulty.n; i++)
    if (normal.p[i] != faulty.p[i])
      FAILF("first difference at byte %zu of %zu", i, normal.n);
  ASSERT_EQ(faulty.n, normal.n);
  free(normal.p);
  free(faulty.p);
}

int main(void) {
  RUN(test_short_reads_and_writes_change_nothing);
  return 0;
}

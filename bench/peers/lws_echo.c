/*
 * lws_echo - the libwebsockets peer for the libws101 benchmarks.
 *
 * usage: lws_echo PORT
 * WebSocket echo on ws://127.0.0.1:PORT/ws (text->text, binary->binary),
 * permessage-deflate offered through lws' pm_deflate extension. Prints
 * "listening on http://127.0.0.1:PORT/" once ready, like ws101-demo.
 *
 * Messages are reassembled from lws' fragments, queued per connection in one
 * growable byte FIFO (records of len|binary|payload, so pipelined messages
 * are answered in order) and written one per WRITEABLE callback, as lws
 * requires.
 */
#include <libwebsockets.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fifo {
  unsigned char *buf;
  size_t head, len, cap;
};

struct session {
  struct fifo out;        /* queued echoes */
  unsigned char *msg;     /* message being reassembled (after LWS_PRE) */
  size_t msg_len, msg_cap;
  int msg_binary;
};

static unsigned char *wbuf; /* LWS_PRE + largest message */
static size_t wbuf_cap;
static volatile int interrupted;

static int grow(unsigned char **p, size_t *cap, size_t need) {
  if (need <= *cap) return 0;
  size_t n = *cap ? *cap : 4096;
  while (n < need) n *= 2;
  unsigned char *q = realloc(*p, n);
  if (!q) return -1;
  *p = q;
  *cap = n;
  return 0;
}

static int fifo_push(struct fifo *f, const unsigned char *d, size_t n,
                     int binary) {
  if (f->head > 0 && f->head == f->len) f->head = f->len = 0;
  if (f->head > f->cap / 2) { /* compact */
    memmove(f->buf, f->buf + f->head, f->len - f->head);
    f->len -= f->head;
    f->head = 0;
  }
  if (grow(&f->buf, &f->cap, f->len + n + 5) < 0) return -1;
  uint32_t l = (uint32_t)n;
  memcpy(f->buf + f->len, &l, 4);
  f->buf[f->len + 4] = (unsigned char)binary;
  memcpy(f->buf + f->len + 5, d, n);
  f->len += n + 5;
  return 0;
}

static int callback_echo(struct lws *wsi, enum lws_callback_reasons reason,
                         void *user, void *in, size_t len) {
  struct session *s = user;
  switch (reason) {
  case LWS_CALLBACK_ESTABLISHED:
    memset(s, 0, sizeof *s);
    break;
  case LWS_CALLBACK_RECEIVE:
    if (lws_is_first_fragment(wsi)) {
      s->msg_len = 0;
      s->msg_binary = lws_frame_is_binary(wsi);
    }
    if (grow(&s->msg, &s->msg_cap, s->msg_len + len) < 0) return -1;
    memcpy(s->msg + s->msg_len, in, len);
    s->msg_len += len;
    if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi)) {
      if (fifo_push(&s->out, s->msg, s->msg_len, s->msg_binary) < 0) return -1;
      lws_callback_on_writable(wsi);
    }
    break;
  case LWS_CALLBACK_SERVER_WRITEABLE: {
    struct fifo *f = &s->out;
    if (f->head == f->len) break;
    uint32_t l;
    memcpy(&l, f->buf + f->head, 4);
    int binary = f->buf[f->head + 4];
    if (grow(&wbuf, &wbuf_cap, LWS_PRE + l) < 0) return -1;
    memcpy(wbuf + LWS_PRE, f->buf + f->head + 5, l);
    f->head += 5 + (size_t)l;
    int w = lws_write(wsi, wbuf + LWS_PRE, l,
                      binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
    if (w < (int)l) return -1;
    if (f->head < f->len) lws_callback_on_writable(wsi);
    break;
  }
  case LWS_CALLBACK_CLOSED:
    free(s->out.buf);
    free(s->msg);
    memset(s, 0, sizeof *s);
    break;
  default:
    break;
  }
  return 0;
}

static const struct lws_protocols protocols[] = {
    {"echo", callback_echo, sizeof(struct session), 65536, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0}};

static const struct lws_extension extensions[] = {
    {"permessage-deflate", lws_extension_callback_pm_deflate,
     "permessage-deflate; client_no_context_takeover; "
     "client_max_window_bits"},
    {NULL, NULL, NULL}};

static void on_sig(int sig) {
  (void)sig;
  interrupted = 1;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: lws_echo PORT\n");
    return 2;
  }
  signal(SIGINT, on_sig);
  signal(SIGTERM, on_sig);
  lws_set_log_level(LLL_ERR, NULL);
  struct lws_context_creation_info info;
  memset(&info, 0, sizeof info);
  info.port = atoi(argv[1]);
  info.iface = "127.0.0.1";
  info.protocols = protocols;
  info.extensions = extensions;
  info.options = LWS_SERVER_OPTION_VALIDATE_UTF8;
  info.pt_serv_buf_size = 128 * 1024;
  struct lws_context *ctx = lws_create_context(&info);
  if (!ctx) {
    fprintf(stderr, "lws_echo: lws_create_context failed\n");
    return 1;
  }
  printf("listening on http://127.0.0.1:%d/\n", info.port);
  fflush(stdout);
  while (!interrupted && lws_service(ctx, 0) >= 0) {
  }
  lws_context_destroy(ctx);
  return 0;
}

/* tls_idle.c - holds N idle WebSocket connections open (ws:// or wss://)
 * for bench/tls.sh, which reads the server's RSS before and after.
 *
 *   tls_idle URL N        (wss:// is not verified: a benchmark, not a test)
 *
 * Prints "open N" once every connection is open (or "failed K" and exits
 * 1), then waits for stdin to close and exits. Built against libws101. */
#include "ws101.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <uv.h>

/* Connections are opened BATCH at a time, so that the server's transient
 * handshake memory (a few tens of KiB each while it runs) is not
 * multiplied by N and mistaken for what an idle connection holds. */
#define BATCH 50

static int want, started, opened, failed;
static const char *url;
static ws101_options *o;
static ws101_loop *loop;

static void on_ws(ws101_ws *ws, int ev, const char *d, size_t n, int arg,
                  void *ud);

static void start_batch(void) {
  int i;
  for (i = 0; i < BATCH && started < want; i++, started++)
    if (ws101_ws_connect(loop, url, o, on_ws, NULL, NULL) != 0) failed++;
}

static void on_ws(ws101_ws *ws, int ev, const char *d, size_t n, int arg,
                  void *ud) {
  (void)ws; (void)d; (void)n; (void)arg; (void)ud;
  if (ev == WS101_WS_OPEN) opened++;
  if (ev == WS101_WS_ERROR) failed++;
  if (opened + failed == want) ws101_loop_stop(loop);
  else if ((ev == WS101_WS_OPEN || ev == WS101_WS_ERROR) &&
           opened + failed == started)
    start_batch();
}

static uv_pipe_t in;
static void alloc_cb(uv_handle_t *h, size_t s, uv_buf_t *b) {
  static char buf[256];
  (void)h; (void)s;
  *b = uv_buf_init(buf, sizeof(buf));
}
static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  (void)b;
  if (n < 0) { uv_read_stop(s); ws101_loop_stop(loop); }
}

int main(int argc, char **argv) {
  if (argc != 3) { fprintf(stderr, "usage: tls_idle URL N\n"); return 2; }
  want = atoi(argv[2]);
  ws101_loop_new(&loop);
  ws101_options_new(&o);
  ws101_options_set(o, WS101_OPT_TLS_INSECURE_SKIP_VERIFY, 1);
  ws101_options_set(o, WS101_OPT_DEFLATE, 0);
  ws101_options_set(o, WS101_OPT_CONNECT_TIMEOUT_MS, 60000);
  ws101_options_set(o, WS101_OPT_WS_HANDSHAKE_TIMEOUT_MS, 60000);
  url = argv[1];
  start_batch();
  ws101_loop_run(loop);
  if (failed) { printf("failed %d\n", failed); return 1; }
  printf("open %d\n", opened);
  fflush(stdout);
  uv_pipe_init(ws101_loop_uv(loop), &in, 0);
  uv_pipe_open(&in, 0);
  uv_read_start((uv_stream_t *)&in, alloc_cb, read_cb);
  ws101_loop_run(loop);
  _exit(0);
}

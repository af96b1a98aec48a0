/* test_h2_client_tls.c - the client on https:// and wss:// with
 * WS101_OPT_CLIENT_HTTP2 against our own TLS server on the same loop.
 *
 * - The server speaks h2 (ALPN picks it): every fetch is HTTP/2
 *   (ws101_fetch_http_version 20), all of them streams on ONE connection
 *   (the server's counters), bodies both ways; wss:// rides RFC 8441
 *   (status 200, the server counts one WebSocket over HTTP/2).
 * - The server has HTTP/2 off (ALPN picks http/1.1): the same fetches,
 *   fixed and streamed bodies included, fall back to HTTP/1.1 (version
 *   11, no HTTP/2 connection counted) and wss:// takes the 101 upgrade.
 * - Connections are shared only by requests with the same TLS settings
 *   (HTTP/2 and HTTP/1.1 pools alike): a fetch that verifies never
 *   rides a connection opened without verifying or with other CAs.
 * - "This origin answered HTTP/1.1" is remembered for a while only: once
 *   it expires, the next request offers h2 again.
 * Certificates come from tests/tls/make_certs.sh. */
#include "client/client_h2.h" /* the HTTP/1.1-only memo */
#include "proto/url.h"
#include "test.h"
#include "ws101.h"

#include <stdlib.h>
#include <string.h>
#include <uv.h>

static char pki[256];

static void make_pki(void) {
  char cmd[2048], dir[512];
  const char *src = __FILE__;
  const char *slash = strrchr(src, '/');
  ASSERT(slash != NULL);
  snprintf(dir, sizeof(dir), "%.*s/../tls", (int)(slash - src), src);
  snprintf(pki, sizeof(pki), "/tmp/ws101-h2tls-unit-XXXXXX");
  ASSERT(mkdtemp(pki) != NULL);
  snprintf(cmd, sizeof(cmd), "bash '%s/make_certs.sh' '%s' >/dev/null", dir,
           pki);
  ASSERT_EQ(system(cmd), 0);
}

static const char *path(const char *name) {
  static char buf[4][512];
  static int n;
  char *b = buf[n++ % 4];
  snprintf(b, sizeof(buf[0]), "%s/%s", pki, name);
  return b;
}

#define NGET 10

typedef struct ex {
  int status, version, done, errors;
  char body[256];
  size_t len;
} ex;

static struct {
  ws101_loop *loop;
  ws101_server *srv;
  ex gets[NGET], post, put;
  int remaining;
  int ws_open, ws_msgs, ws_closed, ws_status;
  uint64_t conns, streams, websockets;
} T;

static void finish_one(void) {
  if (--T.remaining == 0) {
    ASSERT_EQ(ws101_server_h2_stats(T.srv, &T.conns, &T.streams,
                                    &T.websockets),
              0);
    ws101_server_close(T.srv, NULL, NULL);
  }
}

static void on_fetch(ws101_fetch *f, int ev, const char *d, size_t n,
                     int arg, void *ud) {
  ex *e = ud;
  (void)arg;
  switch (ev) {
  case WS101_FETCH_RESPONSE:
    e->status = ws101_fetch_status(f);
    e->version = ws101_fetch_http_version(f);
    break;
  case WS101_FETCH_BODY:
    ASSERT_LT(e->len + n, sizeof e->body);
    memcpy(e->body + e->len, d, n);
    e->len += n;
    break;
  case WS101_FETCH_DONE:
    e->done++;
    finish_one();
    break;
  case WS101_FETCH_ERROR:
    fprintf(stderr, "fetch error: %.*s\n", (int)n, d);
    e->errors++;
    finish_one();
    break;
  }
}

static void h_hello(ws101_req *req, void *ud) {
  (void)ud;
  ws101_req_respond(req, 200, "text/plain", "hello", 5);
}

static void h_echo(ws101_req *req, void *ud) {
  (void)ud;
  ws101_req_respond(req, 200, "application/octet-stream", ws101_req_body(req),
                    ws101_req_body_len(req));
}

static void srv_echo(ws101_ws *ws, int ev, const char *d, size_t n, int arg,
                     void *ud) {
  (void)arg, (void)ud;
  if (ev == WS101_WS_TEXT) ws101_ws_send(ws, d, n, WS101_OP_TEXT);
}

static void cli_ws(ws101_ws *ws, int ev, const char *d, size_t n, int arg,
                   void *ud) {
  (void)ud, (void)arg;
  switch (ev) {
  case WS101_WS_OPEN:
    T.ws_open++;
    T.ws_status = ws101_ws_response_status(ws);
    ws101_ws_send(ws, "over tls", 8, WS101_OP_TEXT);
    break;
  case WS101_WS_TEXT:
    ASSERT_EQ(n, 8);
    ASSERT_MEM_EQ(d, "over tls", 8);
    T.ws_msgs++;
    ws101_ws_close(ws, 1000, "bye");
    break;
  case WS101_WS_ERROR:
    fprintf(stderr, "ws error: %.*s\n", (int)n, d);
    break;
  case WS101_WS_CLOSE:
    T.ws_closed++;
    finish_one();
    break;
  default:
    break;
  }
}

static void watchdog(uv_timer_t *t) {
  (void)t;
  FAILF("watchdog: the test did not finish in time");
}

static void run_all(int server_h2) {
  ws101_options *so, *co;
  ws101_fetch *f;
  char url[128];
  uv_timer_t wd;
  int i, port;
  memset(&T, 0, sizeof T);
  ASSERT_EQ(ws101_loop_new(&T.loop), 0);
  ASSERT_EQ(ws101_options_new(&so), 0);
  ASSERT_EQ(ws101_options_add_tls_cert(so, NULL, path("server.pem"),
                                       path("server.key"),
                                       WS101_TLS_PEM_FILES),
            0);
  ASSERT_EQ(ws101_options_set(so, WS101_OPT_HTTP2, server_h2), 0);
  ASSERT_EQ(ws101_server_new(T.loop, so, &T.srv), 0);
  ws101_options_free(so);
  ASSERT_EQ(ws101_server_route(T.srv, "/hello", 0, h_hello, NULL), 0);
  ASSERT_EQ(ws101_server_route(T.srv, "/echo", 0, h_echo, NULL), 0);
  ASSERT_EQ(ws101_server_websocket(T.srv, "/ws", srv_echo, NULL), 0);
  ASSERT_EQ(ws101_server_listen_tls(T.srv, "127.0.0.1", 0), 0);
  port = ws101_server_tls_port(T.srv);

  ASSERT_EQ(ws101_options_new(&co), 0);
  ASSERT_EQ(ws101_options_set_tls_ca(co, path("ca.pem"), NULL), 0);
  ASSERT_EQ(ws101_options_set(co, WS101_OPT_CLIENT_HTTP2, 1), 0);
  snprintf(url, sizeof url, "https://localhost:%d/hello", port);
  for (i = 0; i < NGET; i++) {
    ASSERT_EQ(ws101_fetch_new(T.loop, "GET", url, co, on_fetch, &T.gets[i],
                              &f),
              0);
    ASSERT_EQ(ws101_fetch_send(f, NULL, 0), 0);
  }
  snprintf(url, sizeof url, "https://localhost:%d/echo", port);
  ASSERT_EQ(ws101_fetch_new(T.loop, "POST", url, co, on_fetch, &T.post, &f),
            0);
  ASSERT_EQ(ws101_fetch_send(f, "posted body", 11), 0);
  /* Streamed, and still waiting for its end when ALPN answers. */
  ASSERT_EQ(ws101_fetch_new(T.loop, "PUT", url, co, on_fetch, &T.put, &f), 0);
  ASSERT_EQ(ws101_fetch_write(f, "part1-", 6), 0);
  ASSERT_EQ(ws101_fetch_write(f, "part2", 5), 0);
  ASSERT_EQ(ws101_fetch_end(f), 0);
  snprintf(url, sizeof url, "wss://localhost:%d/ws", port);
  ASSERT_EQ(ws101_ws_connect(T.loop, url, co, cli_ws, NULL, NULL), 0);
  ws101_options_free(co);
  T.remaining = NGET + 3;

  uv_timer_init(ws101_loop_uv(T.loop), &wd);
  uv_timer_start(&wd, watchdog, 60000, 0);
  uv_unref((uv_handle_t *)&wd);
  ASSERT_EQ(ws101_loop_run(T.loop), 0);
  uv_close((uv_handle_t *)&wd, NULL);
  uv_run(ws101_loop_uv(T.loop), UV_RUN_NOWAIT);
  ASSERT_EQ(ws101_loop_free(T.loop), 0);

  for (i = 0; i < NGET; i++) {
    ASSERT_EQ(T.gets[i].done, 1);
    ASSERT_EQ(T.gets[i].status, 200);
    ASSERT_EQ(T.gets[i].version, server_h2 ? 20 : 11);
    ASSERT_EQ(T.gets[i].len, 5);
    ASSERT_MEM_EQ(T.gets[i].body, "hello", 5);
  }
  ASSERT_EQ(T.post.done, 1);
  ASSERT_EQ(T.post.version, server_h2 ? 20 : 11);
  ASSERT_EQ(T.post.len, 11);
  ASSERT_MEM_EQ(T.post.body, "posted body", 11);
  ASSERT_EQ(T.put.done, 1);
  ASSERT_EQ(T.put.version, server_h2 ? 20 : 11);
  ASSERT_EQ(T.put.len, 11);
  ASSERT_MEM_EQ(T.put.body, "part1-part2", 11);
  ASSERT_EQ(T.ws_open, 1);
  ASSERT_EQ(T.ws_msgs, 1);
  ASSERT_EQ(T.ws_closed, 1);
}

static void test_alpn_h2(void) {
  run_all(1);
  /* 12 fetches and one WebSocket: one connection, 13 streams. */
  ASSERT_EQ(T.conns, 1);
  ASSERT_EQ(T.streams, NGET + 3);
  ASSERT_EQ(T.websockets, 1);
  ASSERT_EQ(T.ws_status, 200); /* RFC 8441 answers 200, not 101 */
}

static void test_alpn_fallback_h1(void) {
  run_all(0);
  ASSERT_EQ(T.conns, 0);
  ASSERT_EQ(T.streams, 0);
  ASSERT_EQ(T.websockets, 0);
  ASSERT_EQ(T.ws_status, 101);
}

/* ---- which requests share a connection ----------------------------------- */

#define NSTEP 5

static struct {
  ws101_loop *loop;
  ws101_server *srv;
  ws101_options *opts[NSTEP];
  char url[128];
  int step, client_h2;
  int status[NSTEP], version[NSTEP], err[NSTEP];
  char addr[NSTEP][64];
  uint64_t conns;
  ws101_timer *timer;
  int memo[4]; /* ws101__h2cli_h1_only at points of the memo test */
} P;

/* Answers with the client's address: its port names the connection. */
static void h_who(ws101_req *req, void *ud) {
  const char *a = ws101_req_remote_addr(req);
  (void)ud;
  ws101_req_respond(req, 200, "text/plain", a, strlen(a));
}

static void p_next(void);

static void p_fetch(ws101_fetch *f, int ev, const char *d, size_t n, int arg,
                    void *ud) {
  int i = P.step;
  (void)ud;
  switch (ev) {
  case WS101_FETCH_RESPONSE:
    P.status[i] = ws101_fetch_status(f);
    P.version[i] = ws101_fetch_http_version(f);
    break;
  case WS101_FETCH_BODY:
    snprintf(P.addr[i], sizeof P.addr[i], "%.*s", (int)n, d);
    break;
  case WS101_FETCH_DONE:
  case WS101_FETCH_ERROR:
    if (ev == WS101_FETCH_ERROR) P.err[i] = arg;
    P.step++;
    p_next();
    break;
  }
}

static void p_next(void) {
  ws101_fetch *f;
  if (P.step == NSTEP) {
    ASSERT_EQ(ws101_server_h2_stats(P.srv, &P.conns, NULL, NULL), 0);
    ws101_server_close(P.srv, NULL, NULL);
    return;
  }
  ASSERT_EQ(ws101_fetch_new(P.loop, "GET", P.url, P.opts[P.step], p_fetch,
                            NULL, &f),
            0);
  ASSERT_EQ(ws101_fetch_send(f, NULL, 0), 0);
}

static ws101_options *client_opts(int client_h2, int insecure,
                                  const char *ca) {
  ws101_options *o;
  ASSERT_EQ(ws101_options_new(&o), 0);
  ASSERT_EQ(ws101_options_set(o, WS101_OPT_CLIENT_HTTP2, client_h2), 0);
  ASSERT_EQ(ws101_options_set(o, WS101_OPT_TLS_INSECURE_SKIP_VERIFY, insecure),
            0);
  if (ca != NULL) ASSERT_EQ(ws101_options_set_tls_ca(o, ca, NULL), 0);
  return o;
}

static ws101_server *tls_server(ws101_loop *loop, int server_h2, int *port) {
  ws101_options *so;
  ws101_server *srv;
  ASSERT_EQ(ws101_options_new(&so), 0);
  ASSERT_EQ(ws101_options_add_tls_cert(so, NULL, path("server.pem"),
                                       path("server.key"),
                                       WS101_TLS_PEM_FILES),
            0);
  ASSERT_EQ(ws101_options_set(so, WS101_OPT_HTTP2, server_h2), 0);
  ASSERT_EQ(ws101_server_new(loop, so, &srv), 0);
  ws101_options_free(so);
  ASSERT_EQ(ws101_server_route(srv, "/who", 0, h_who, NULL), 0);
  ASSERT_EQ(ws101_server_listen_tls(srv, "127.0.0.1", 0), 0);
  *port = ws101_server_tls_port(srv);
  return srv;
}

/* One after the other, each while the earlier connections idle in the
 * pools: 0 without verification, 1 verifying against the system store
 * (which does not know the test CA), 2 and 3 against the test CA, 4
 * without verification again. */
static void run_pool(int server_h2, int client_h2) {
  int i, port;
  memset(&P, 0, sizeof P);
  ASSERT_EQ(ws101_loop_new(&P.loop), 0);
  P.srv = tls_server(P.loop, server_h2, &port);
  snprintf(P.url, sizeof P.url, "https://localhost:%d/who", port);
  P.opts[0] = client_opts(client_h2, 1, NULL);
  P.opts[1] = client_opts(client_h2, 0, NULL);
  P.opts[2] = client_opts(client_h2, 0, path("ca.pem"));
  P.opts[3] = client_opts(client_h2, 0, path("ca.pem"));
  P.opts[4] = client_opts(client_h2, 1, NULL);
  p_next();
  ASSERT_EQ(ws101_loop_run(P.loop), 0);
  ASSERT_EQ(ws101_loop_free(P.loop), 0);
  for (i = 0; i < NSTEP; i++) ws101_options_free(P.opts[i]);
  ASSERT_EQ(P.step, NSTEP);
  /* The strict request was not served by the lax connection. */
  ASSERT_EQ(P.err[1], WS101_ETLS);
  ASSERT_EQ(P.status[1], 0);
  for (i = 0; i < NSTEP; i++) {
    if (i == 1) continue;
    ASSERT_EQ(P.err[i], 0);
    ASSERT_EQ(P.status[i], 200);
    ASSERT_EQ(P.version[i], server_h2 && client_h2 ? 20 : 11);
  }
  ASSERT(strcmp(P.addr[2], P.addr[0]) != 0); /* other CA: its own */
  ASSERT_STR_EQ(P.addr[3], P.addr[2]);       /* same settings: shared */
  ASSERT_STR_EQ(P.addr[4], P.addr[0]);
  if (server_h2 && client_h2) ASSERT_EQ(P.conns, 2);
}

static void test_pool_keys_tls_settings(void) {
  run_pool(1, 1); /* HTTP/2 connections */
  run_pool(0, 0); /* HTTP/1.1 keep-alive */
  run_pool(0, 1); /* h2 offered, HTTP/1.1 answered (the fallback) */
}

/* ---- the HTTP/1.1-only memo expires -------------------------------------- */

static int memo_now(void) {
  ws101__url u;
  const char *why;
  int r;
  ASSERT_EQ(ws101__url_parse(P.url, &u, &why), 0);
  r = ws101__h2cli_h1_only(P.loop, &u);
  ws101__url_free(&u);
  return r;
}

static void m_fetch(ws101_fetch *f, int ev, const char *d, size_t n, int arg,
                    void *ud);

static void m_send(void) {
  ws101_fetch *f;
  ASSERT_EQ(ws101_fetch_new(P.loop, "GET", P.url, P.opts[0], m_fetch, NULL,
                            &f),
            0);
  ASSERT_EQ(ws101_fetch_send(f, NULL, 0), 0);
}

static void m_expired(ws101_timer *t, void *ud) {
  (void)ud;
  ws101_timer_close(t, NULL, NULL);
  P.memo[2] = memo_now();
  m_send(); /* offers h2 again: a new connection */
}

static void m_fetch(ws101_fetch *f, int ev, const char *d, size_t n, int arg,
                    void *ud) {
  int i = P.step;
  (void)ud;
  switch (ev) {
  case WS101_FETCH_RESPONSE:
    P.status[i] = ws101_fetch_status(f);
    P.version[i] = ws101_fetch_http_version(f);
    break;
  case WS101_FETCH_BODY:
    snprintf(P.addr[i], sizeof P.addr[i], "%.*s", (int)n, d);
    break;
  case WS101_FETCH_ERROR:
    P.err[i] = arg;
    /* fall through */
  case WS101_FETCH_DONE:
    P.memo[i < 2 ? i : 3] = memo_now(); /* [2]: at the timer */
    P.step++;
    if (P.step == 1) {
      m_send(); /* remembered: straight to the pooled HTTP/1.1 one */
    } else if (P.step == 2) {
      /* Loop timers never fire early: the memo is past its time then. */
      ASSERT_EQ(ws101_timer_new(P.loop, m_expired, NULL, &P.timer), 0);
      ASSERT_EQ(ws101_timer_start(P.timer, ws101__h2cli_h1_memo_ms * 2, 0),
                0);
    } else {
      ws101_server_close(P.srv, NULL, NULL);
    }
    break;
  }
}

static void test_h1_memo_expires(void) {
  uint64_t saved = ws101__h2cli_h1_memo_ms;
  int port, i;
  memset(&P, 0, sizeof P);
  ws101__h2cli_h1_memo_ms = 300;
  ASSERT_EQ(ws101_loop_new(&P.loop), 0);
  P.srv = tls_server(P.loop, 0, &port);
  snprintf(P.url, sizeof P.url, "https://localhost:%d/who", port);
  P.opts[0] = client_opts(1, 0, path("ca.pem"));
  ASSERT_EQ(memo_now(), 0);
  m_send();
  ASSERT_EQ(ws101_loop_run(P.loop), 0);
  ASSERT_EQ(ws101_loop_free(P.loop), 0);
  ws101_options_free(P.opts[0]);
  ws101__h2cli_h1_memo_ms = saved;
  ASSERT_EQ(P.step, 3);
  for (i = 0; i < 3; i++) {
    ASSERT_EQ(P.err[i], 0);
    ASSERT_EQ(P.status[i], 200);
    ASSERT_EQ(P.version[i], 11);
  }
  ASSERT_EQ(P.memo[0], 1);                 /* learnt from ALPN */
  ASSERT_STR_EQ(P.addr[1], P.addr[0]);     /* the pooled connection */
  ASSERT_EQ(P.memo[1], 1);
  ASSERT_EQ(P.memo[2], 0);                 /* forgotten in time */
  ASSERT(strcmp(P.addr[2], P.addr[0]) != 0); /* h2 offered anew */
  ASSERT_EQ(P.memo[3], 1);                 /* and learnt again */
}

int main(void) {
  make_pki();
  RUN(test_alpn_h2);
  RUN(test_alpn_fallback_h1);
  RUN(test_pool_keys_tls_settings);
  RUN(test_h1_memo_expires);
  {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", pki);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", pki);
  }
  TEST_DONE();
}

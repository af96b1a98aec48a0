/* test_tls_live.c - our TLS server and our TLS clients in one process.
 *
 * Certificates come from tests/tls/make_certs.sh (the openssl command) in a
 * temp dir. Cases: TLS sessions are reused across the keep-alive pool's
 * connections to one origin; a wss echo where the server pauses reading
 * (ciphertext kept while paused, decrypted after resume); big wss echoes
 * behind a small corked frame, byte for byte; TLS settings
 * errors reported with OpenSSL's reason. */
#include "test.h"
#include "ws101.h"

#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "handles/request.h"
#include "io/conn.h"

static char pki[256];

static void make_pki(void) {
  char cmd[2048], dir[512];
  const char *src = __FILE__; /* .../tests/unit/test_tls_live.c */
  const char *slash = strrchr(src, '/');
  ASSERT(slash != NULL);
  snprintf(dir, sizeof(dir), "%.*s/../tls", (int)(slash - src), src);
  snprintf(pki, sizeof(pki), "/tmp/ws101-tls-unit-XXXXXX");
  ASSERT(mkdtemp(pki) != NULL);
  snprintf(cmd, sizeof(cmd), "bash '%s/make_certs.sh' '%s'", dir, pki);
  ASSERT_EQ(system(cmd), 0);
}

static const char *path(const char *name) {
  static char buf[4][512];
  static int n;
  char *b = buf[n++ % 4];
  snprintf(b, sizeof(buf[0]), "%s/%s", pki, name);
  return b;
}

static ws101_server *tls_server(ws101_loop *loop) {
  ws101_options *o;
  ws101_server *s;
  ASSERT_EQ(ws101_options_new(&o), 0);
  ASSERT_EQ(ws101_options_add_tls_cert(o, NULL, path("server.pem"),
                                       path("server.key"),
                                       WS101_TLS_PEM_FILES),
            0);
  ASSERT_EQ(ws101_server_new(loop, o, &s), 0);
  ws101_options_free(o);
  return s;
}

static ws101_options *client_opts(void) {
  ws101_options *o;
  ASSERT_EQ(ws101_options_new(&o), 0);
  ASSERT_EQ(ws101_options_set_tls_ca(o, path("ca.pem"), NULL), 0);
  return o;
}

static void watchdog(uv_timer_t *t) {
  (void)t;
  FAILF("watchdog: the test did not finish in time");
}

static void run(ws101_loop *loop) {
  uv_timer_t wd;
  uv_timer_init(ws101_loop_uv(loop), &wd);
  uv_timer_start(&wd, watchdog, 60000, 0);
  uv_unref((uv_handle_t *)&wd);
  ASSERT_EQ(ws101_loop_run(loop), 0);
  uv_close((uv_handle_t *)&wd, NULL);
  uv_run(ws101_loop_uv(loop), UV_RUN_NOWAIT);
}

/* ---- sessions across the keep-alive pool ---------------------------------- */

typedef struct pool_state {
  ws101_loop *loop;
  ws101_server *server;
  ws101_options *copts;
  char url[128];
  int done;
  char body[3][16];
  int next;
} pool_state;

static void resumed_route(ws101_req *req, void *ud) {
  const char *r = ws101__conn_tls_resumed(req->conn) ? "resumed" : "full";
  (void)ud;
  ws101_req_respond(req, 200, "text/plain", r, strlen(r));
}

static void pool_fetch(pool_state *s);

static void on_pool(ws101_fetch *f, int ev, const char *data, size_t len,
                    int arg, void *ud) {
  pool_state *s = ud;
  char *slot = ws101_fetch_get_user_data(f);
  (void)arg;
  if (ev == WS101_FETCH_BODY) {
    ASSERT_LT(strlen(slot) + len, 16);
    strncat(slot, data, len);
  } else if (ev == WS101_FETCH_ERROR) {
    FAILF("fetch failed: %s", data);
  } else if (ev == WS101_FETCH_DONE) {
    if (++s->done == 1) {
      /* Two at once: one takes the pooled connection, the other must open
       * a second connection, which should resume the first's session. */
      pool_fetch(s);
      pool_fetch(s);
    } else if (s->done == 3) {
      ws101_server_close(s->server, NULL, NULL);
    }
  }
}

static void pool_fetch(pool_state *s) {
  ws101_fetch *f;
  ASSERT_EQ(ws101_fetch_new(s->loop, "GET", s->url, s->copts, on_pool, s, &f),
            0);
  ws101_fetch_set_user_data(f, s->body[s->next++]);
  ASSERT_EQ(ws101_fetch_send(f, NULL, 0), 0);
}

static void test_pool_session_reuse(void) {
  pool_state s;
  memset(&s, 0, sizeof(s));
  ASSERT_EQ(ws101_loop_new(&s.loop), 0);
  s.server = tls_server(s.loop);
  ASSERT_EQ(ws101_server_route(s.server, "/r", 0, resumed_route, NULL), 0);
  ASSERT_EQ(ws101_server_listen_tls(s.server, "127.0.0.1", 0), 0);
  snprintf(s.url, sizeof(s.url), "https://localhost:%d/r",
           ws101_server_tls_port(s.server));
  s.copts = client_opts();
  pool_fetch(&s);
  run(s.loop);
  ASSERT_EQ(s.done, 3);
  ASSERT_STR_EQ(s.body[0], "full");
  /* One of the two later requests rode the pooled connection (whose
   * handshake was full); the other is a new, resumed one. */
  ASSERT((strcmp(s.body[1], "resumed") == 0) !=
         (strcmp(s.body[2], "resumed") == 0));
  ws101_options_free(s.copts);
  ASSERT_EQ(ws101_loop_free(s.loop), 0);
}

/* ---- wss with a pausing server -------------------------------------------- */

#define N_MSG 200

typedef struct echo_state {
  ws101_loop *loop;
  ws101_server *server;
  ws101_ws *srv_ws;
  uv_timer_t resume;
  int got;
  int opened;
} echo_state;

static void do_resume(uv_timer_t *t) {
  echo_state *s = t->data;
  ASSERT_EQ(ws101_ws_resume(s->srv_ws), 0);
  uv_close((uv_handle_t *)t, NULL);
}

static void srv_ws_cb(ws101_ws *ws, int ev, const char *data, size_t len,
                      int arg, void *ud) {
  echo_state *s = ud;
  (void)arg;
  if (ev == WS101_WS_OPEN) {
    /* Stop reading at once: the client's burst piles up as ciphertext
     * in the kernel and in the TLS filter, all of which must come out
     * intact after the resume. */
    s->srv_ws = ws;
    ASSERT_EQ(ws101_ws_pause(ws), 0);
    uv_timer_init(ws101_loop_uv(s->loop), &s->resume);
    s->resume.data = s;
    uv_timer_start(&s->resume, do_resume, 200, 0);
  } else if (ev == WS101_WS_BINARY) {
    ASSERT_EQ(ws101_ws_send(ws, data, len, WS101_OP_BINARY), 0);
  }
}

static void cli_ws_cb(ws101_ws *ws, int ev, const char *data, size_t len,
                      int arg, void *ud) {
  echo_state *s = ud;
  char msg[3000];
  int i;
  (void)arg;
  if (ev == WS101_WS_OPEN) {
    s->opened = 1;
    for (i = 0; i < N_MSG; i++) {
      memset(msg, 'a' + i % 26, sizeof(msg));
      memcpy(msg, &i, sizeof(i));
      ASSERT_EQ(ws101_ws_send(ws, msg, sizeof(msg), WS101_OP_BINARY), 0);
    }
  } else if (ev == WS101_WS_BINARY) {
    int k;
    ASSERT_EQ(len, sizeof(msg));
    memcpy(&k, data, sizeof(k));
    ASSERT_EQ(k, s->got);
    ASSERT_EQ((unsigned char)data[len - 1], 'a' + k % 26);
    if (++s->got == N_MSG) {
      ws101_ws_close(ws, 1000, "done");
      ws101_server_close(s->server, NULL, NULL);
    }
  } else if (ev == WS101_WS_ERROR) {
    FAILF("client error: %.*s", (int)len, data);
  }
}

static void test_wss_pause_resume(void) {
  echo_state s;
  ws101_options *o;
  char url[128];
  memset(&s, 0, sizeof(s));
  ASSERT_EQ(ws101_loop_new(&s.loop), 0);
  s.server = tls_server(s.loop);
  ASSERT_EQ(ws101_server_websocket(s.server, "/ws", srv_ws_cb, &s), 0);
  ASSERT_EQ(ws101_server_listen_tls(s.server, "127.0.0.1", 0), 0);
  snprintf(url, sizeof(url), "wss://127.0.0.1:%d/ws",
           ws101_server_tls_port(s.server));
  o = client_opts();
  ws101_options_set(o, WS101_OPT_DEFLATE, 0);
  ASSERT_EQ(ws101_ws_connect(s.loop, url, o, cli_ws_cb, &s, NULL), 0);
  ws101_options_free(o);
  run(s.loop);
  ASSERT(s.opened);
  ASSERT_EQ(s.got, N_MSG);
  ASSERT_EQ(ws101_loop_free(s.loop), 0);
}

/* ---- big wss echoes (encrypted straight from the sender's buffer) -------- */

/* Sizes around the 16 KiB record and zero-copy boundaries, and big ones
 * with 2- and 8-byte frame lengths. */
static const size_t big_sizes[] = {16380, 16381, 16385, 65536, 300000,
                                   1000000};
#define N_BIG (sizeof(big_sizes) / sizeof(big_sizes[0]))

typedef struct big_state {
  ws101_loop *loop;
  ws101_server *server;
  char *msg;
  size_t next;     /* index of the echo the client waits for */
  int want_text;   /* the server's small text comes before each echo */
  int opened;
} big_state;

static void fill(char *p, size_t n, size_t k) {
  size_t j;
  for (j = 0; j < n; j++) p[j] = (char)((j * 7 + k) & 0xFF);
}

static void big_srv_cb(ws101_ws *ws, int ev, const char *data, size_t len,
                       int arg, void *ud) {
  (void)arg;
  (void)ud;
  if (ev == WS101_WS_BINARY) {
    /* A small frame corked first: it must leave before the big one,
     * whose bytes the TLS filter encrypts without a copy. */
    ASSERT_EQ(ws101_ws_send(ws, "next", 4, WS101_OP_TEXT), 0);
    ASSERT_EQ(ws101_ws_send(ws, data, len, WS101_OP_BINARY), 0);
  }
}

static void big_send(ws101_ws *ws, big_state *s) {
  fill(s->msg, big_sizes[s->next], s->next);
  ASSERT_EQ(ws101_ws_send(ws, s->msg, big_sizes[s->next], WS101_OP_BINARY),
            0);
  s->want_text = 1;
}

static void big_cli_cb(ws101_ws *ws, int ev, const char *data, size_t len,
                       int arg, void *ud) {
  big_state *s = ud;
  (void)arg;
  if (ev == WS101_WS_OPEN) {
    s->opened = 1;
    big_send(ws, s);
  } else if (ev == WS101_WS_TEXT) {
    ASSERT(s->want_text);
    ASSERT_EQ(len, 4);
    ASSERT(memcmp(data, "next", 4) == 0);
    s->want_text = 0;
  } else if (ev == WS101_WS_BINARY) {
    ASSERT(!s->want_text);
    ASSERT(s->next < N_BIG);
    ASSERT_EQ(len, big_sizes[s->next]);
    fill(s->msg, len, s->next);
    ASSERT(memcmp(data, s->msg, len) == 0);
    if (++s->next < N_BIG) {
      big_send(ws, s);
    } else {
      ws101_ws_close(ws, 1000, "done");
      ws101_server_close(s->server, NULL, NULL);
    }
  } else if (ev == WS101_WS_ERROR) {
    FAILF("client error: %.*s", (int)len, data);
  }
}

static void test_wss_big_echo(void) {
  big_state s;
  ws101_options *o;
  char url[128];
  memset(&s, 0, sizeof(s));
  s.msg = malloc(big_sizes[N_BIG - 1]);
  ASSERT(s.msg != NULL);
  ASSERT_EQ(ws101_loop_new(&s.loop), 0);
  s.server = tls_server(s.loop);
  ASSERT_EQ(ws101_server_websocket(s.server, "/ws", big_srv_cb, &s), 0);
  ASSERT_EQ(ws101_server_listen_tls(s.server, "127.0.0.1", 0), 0);
  snprintf(url, sizeof(url), "wss://127.0.0.1:%d/ws",
           ws101_server_tls_port(s.server));
  o = client_opts();
  ws101_options_set(o, WS101_OPT_DEFLATE, 0);
  ASSERT_EQ(ws101_ws_connect(s.loop, url, o, big_cli_cb, &s, NULL), 0);
  ws101_options_free(o);
  run(s.loop);
  ASSERT(s.opened);
  ASSERT_EQ(s.next, N_BIG);
  ASSERT_EQ(ws101_loop_free(s.loop), 0);
  free(s.msg);
}

/* ---- configuration errors -------------------------------------------------- */

static void test_config_errors(void) {
  ws101_loop *loop;
  ws101_server *s;
  ws101_options *o;
  ASSERT_EQ(ws101_loop_new(&loop), 0);
  /* No certificate at all. */
  ASSERT_EQ(ws101_server_new(loop, NULL, &s), 0);
  ASSERT_EQ(ws101_server_listen_tls(s, "127.0.0.1", 0), WS101_ETLS);
  ASSERT(strstr(ws101_tls_last_error(), "no certificate") != NULL);
  ASSERT_EQ(ws101_server_tls_port(s), WS101_ESTATE);
  ws101_server_close(s, NULL, NULL);
  /* A key that is not the certificate's. */
  ASSERT_EQ(ws101_options_new(&o), 0);
  ASSERT_EQ(ws101_options_add_tls_cert(o, NULL, path("server.pem"),
                                       path("other.key"),
                                       WS101_TLS_PEM_FILES),
            0);
  ASSERT_EQ(ws101_server_new(loop, o, &s), 0);
  ASSERT_EQ(ws101_server_listen_tls(s, "127.0.0.1", 0), WS101_ETLS);
  ASSERT(strstr(ws101_tls_last_error(), "do not match") != NULL);
  ws101_server_close(s, NULL, NULL);
  ws101_options_free(o);
  /* A missing file names itself. */
  ASSERT_EQ(ws101_options_new(&o), 0);
  ASSERT_EQ(ws101_options_add_tls_cert(o, "x.test", "/nonexistent.pem",
                                       path("server.key"),
                                       WS101_TLS_PEM_FILES),
            0);
  ASSERT_EQ(ws101_server_new(loop, o, &s), 0);
  ASSERT_EQ(ws101_server_listen_tls(s, "127.0.0.1", 0), WS101_ETLS);
  ASSERT(strstr(ws101_tls_last_error(), "/nonexistent.pem") != NULL);
  ws101_server_close(s, NULL, NULL);
  /* Bad arguments. */
  ASSERT_EQ(ws101_options_add_tls_cert(o, "", "a", "b", 0), WS101_EINVAL);
  ASSERT_EQ(ws101_options_add_tls_cert(o, NULL, NULL, "b", 0), WS101_EINVAL);
  ASSERT_EQ(ws101_options_add_tls_cert(o, NULL, "a", "b", 7), WS101_EINVAL);
  ASSERT_EQ(ws101_options_set(o, WS101_OPT_TLS_CLIENT_CERT, 3), WS101_EINVAL);
  ws101_options_free(o);
  ASSERT_EQ(ws101_loop_free(loop), 0);
}

int main(void) {
  make_pki();
  RUN(test_config_errors);
  RUN(test_pool_session_reuse);
  RUN(test_wss_pause_resume);
  RUN(test_wss_big_echo);
  {
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", pki);
    if (system(cmd) != 0) return 1;
  }
  return 0;
}

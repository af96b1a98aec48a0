/* test_h2_client.c - ws101_fetch over HTTP/2 by prior knowledge against
 * our own server on the same loop: concurrent fetches share one
 * connection (the server's counters say so), bodies go both ways (fixed
 * and streamed), headers arrive, errors are events. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test.h"
#include "ws101.h"

typedef struct ex {
  int status, done, errors;
  char body[2048];
  size_t len;
  char ctype[64];
} ex;

static int remaining;
static ws101_server *srv;
static uint64_t conns, streams;

static void on_closed(ws101_server *s, void *ud) {
  (void)s, (void)ud;
}

static void finish_one(ws101_loop *loop) {
  if (--remaining == 0) {
    ASSERT_EQ(ws101_server_h2_stats(srv, &conns, &streams, NULL), 0);
    ws101_server_close(srv, on_closed, NULL);
    (void)loop;
  }
}

static void cb(ws101_fetch *f, int event, const char *data, size_t len,
               int arg, void *ud) {
  ex *e = ud;
  (void)arg;
  switch (event) {
  case WS101_FETCH_RESPONSE: {
    const char *ct = ws101_fetch_header(f, "content-type");
    e->status = ws101_fetch_status(f);
    snprintf(e->ctype, sizeof e->ctype, "%s", ct ? ct : "");
    break;
  }
  case WS101_FETCH_BODY:
    if (e->len + len < sizeof e->body) memcpy(e->body + e->len, data, len);
    e->len += len;
    break;
  case WS101_FETCH_DONE:
    e->done++;
    finish_one(NULL);
    break;
  case WS101_FETCH_ERROR:
    fprintf(stderr, "fetch error %.*s\n", (int)len, data);
    e->errors++;
    finish_one(NULL);
    break;
  }
}

static void h_hello(ws101_req *req, void *ud) {
  (void)ud;
  ws101_req_respond(req, 200, "text/x-hello", "hello", 5);
}

static void h_echo(ws101_req *req, void *ud) {
  (void)ud;
  ws101_req_respond(req, 200, "application/octet-stream", ws101_req_body(req),
                    ws101_req_body_len(req));
}

static void test_concurrent_fetches(void) {
  ws101_loop *loop;
  ws101_options *o;
  ex hello[20], post, streamed, bad;
  ws101_fetch *f;
  char url[128];
  int i, port;
  memset(hello, 0, sizeof hello);
  memset(&post, 0, sizeof post);
  memset(&streamed, 0, sizeof streamed);
  memset(&bad, 0, sizeof bad);
  ASSERT_EQ(ws101_loop_new(&loop), 0);
  ASSERT_EQ(ws101_server_new(loop, NULL, &srv), 0);
  ASSERT_EQ(ws101_server_route(srv, "/hello", 0, h_hello, NULL), 0);
  ASSERT_EQ(ws101_server_route(srv, "/echo", 0, h_echo, NULL), 0);
  ASSERT_EQ(ws101_server_listen(srv, "127.0.0.1", 0), 0);
  port = ws101_server_port(srv);
  ASSERT_EQ(ws101_options_new(&o), 0);
  ASSERT_EQ(ws101_options_set(o, WS101_OPT_CLIENT_HTTP2, 1), 0);
  ASSERT_EQ(ws101_options_set(o, WS101_OPT_CLIENT_HTTP2, 3), WS101_EINVAL);
  snprintf(url, sizeof url, "http://127.0.0.1:%d/hello", port);
  for (i = 0; i < 20; i++) {
    ASSERT_EQ(ws101_fetch_new(loop, "GET", url, o, cb, &hello[i], &f), 0);
    ASSERT_EQ(ws101_fetch_add_header(f, "X-Test", "1"), 0);
    ASSERT_EQ(ws101_fetch_send(f, NULL, 0), 0);
  }
  snprintf(url, sizeof url, "http://127.0.0.1:%d/echo", port);
  ASSERT_EQ(ws101_fetch_new(loop, "POST", url, o, cb, &post, &f), 0);
  ASSERT_EQ(ws101_fetch_send(f, "posted body", 11), 0);
  ASSERT_EQ(ws101_fetch_new(loop, "PUT", url, o, cb, &streamed, &f), 0);
  ASSERT_EQ(ws101_fetch_write(f, "part1-", 6), 0);
  ASSERT_EQ(ws101_fetch_write(f, "part2", 5), 0);
  ASSERT_EQ(ws101_fetch_end(f), 0);
  /* Nobody listens on port 1: an error event, not a hang. */
  ASSERT_EQ(ws101_fetch_new(loop, "GET", "http://127.0.0.1:1/", o, cb, &bad,
                            &f),
            0);
  ASSERT_EQ(ws101_fetch_send(f, NULL, 0), 0);
  ws101_options_free(o);
  remaining = 23;
  ASSERT_EQ(ws101_loop_run(loop), 0);
  for (i = 0; i < 20; i++) {
    ASSERT_EQ(hello[i].done, 1);
    ASSERT_EQ(hello[i].status, 200);
    ASSERT_EQ(hello[i].len, 5);
    ASSERT_MEM_EQ(hello[i].body, "hello", 5);
    ASSERT_STR_EQ(hello[i].ctype, "text/x-hello");
  }
  ASSERT_EQ(post.done, 1);
  ASSERT_EQ(post.len, 11);
  ASSERT_MEM_EQ(post.body, "posted body", 11);
  ASSERT_EQ(streamed.done, 1);
  ASSERT_EQ(streamed.len, 11);
  ASSERT_MEM_EQ(streamed.body, "part1-part2", 11);
  ASSERT_EQ(bad.errors, 1);
  ASSERT_EQ(bad.done, 0);
  ASSERT_EQ(conns, 1); /* 22 fetches, one connection */
  ASSERT_EQ(streams, 22);
  ASSERT_EQ(ws101_loop_free(loop), 0);
}

/* ---- WebSockets over HTTP/2 (RFC 8441) ---------------------------------- */

static struct {
  int open, msgs, closed, close_code;
  char ext[128];
  uint64_t ws_streams, conns;
  ws101_loop *loop;
} W;

static void srv_echo(ws101_ws *ws, int ev, const char *d, size_t n, int arg,
                     void *ud) {
  (void)arg, (void)ud;
  if (ev == WS101_WS_TEXT) ws101_ws_send(ws, d, n, WS101_OP_TEXT);
}

static void cli_ws(ws101_ws *ws, int ev, const char *d, size_t n, int arg,
                   void *ud) {
  (void)ud;
  switch (ev) {
  case WS101_WS_OPEN:
    W.open++;
    snprintf(W.ext, sizeof W.ext, "%s", ws101_ws_extensions(ws));
    ws101_ws_send(ws, "ping over h2, long enough to be compressed........",
                  50, WS101_OP_TEXT);
    break;
  case WS101_WS_TEXT:
    ASSERT_EQ(n, 50);
    ASSERT_MEM_EQ(d, "ping over h2", 12);
    if (++W.msgs == 3) {
      ASSERT_EQ(ws101_server_h2_stats(srv, &W.conns, NULL, &W.ws_streams), 0);
      ws101_ws_close(ws, 1000, "bye");
    } else {
      ws101_ws_send(ws, d, n, WS101_OP_TEXT);
    }
    break;
  case WS101_WS_CLOSE:
    W.closed++;
    W.close_code = arg;
    ws101_server_close(srv, on_closed, NULL);
    break;
  default:
    break;
  }
}

static void run_ws(int server_has_h2) {
  ws101_loop *loop;
  ws101_options *o, *so;
  char url[96];
  memset(&W, 0, sizeof W);
  ASSERT_EQ(ws101_loop_new(&loop), 0);
  ASSERT_EQ(ws101_options_new(&so), 0);
  ASSERT_EQ(ws101_options_set(so, WS101_OPT_HTTP2, server_has_h2), 0);
  ASSERT_EQ(ws101_server_new(loop, so, &srv), 0);
  ws101_options_free(so);
  ASSERT_EQ(ws101_server_websocket(srv, "/ws", srv_echo, NULL), 0);
  ASSERT_EQ(ws101_server_listen(srv, "127.0.0.1", 0), 0);
  snprintf(url, sizeof url, "ws://127.0.0.1:%d/ws", ws101_server_port(srv));
  ASSERT_EQ(ws101_options_new(&o), 0);
  ASSERT_EQ(ws101_options_set(o, WS101_OPT_CLIENT_HTTP2, 1), 0);
  ASSERT_EQ(ws101_ws_connect(loop, url, o, cli_ws, NULL, NULL), 0);
  ws101_options_free(o);
  ASSERT_EQ(ws101_loop_run(loop), 0);
  ASSERT_EQ(ws101_loop_free(loop), 0);
}

static void test_ws_over_h2(void) {
  run_ws(1);
  ASSERT_EQ(W.open, 1);
  ASSERT_EQ(W.msgs, 3);
  ASSERT_EQ(W.closed, 1);
  ASSERT_EQ(W.close_code, 1000);
  ASSERT(strstr(W.ext, "permessage-deflate") != NULL);
  /* The server counted it: one HTTP/2 connection, one WebSocket on it. */
  ASSERT_EQ(W.conns, 1);
  ASSERT_EQ(W.ws_streams, 1);
}

/* ---- h2c upgrade from the client, and its fallback ----------------------- */

static struct {
  ws101_loop *loop;
  ws101_options *o;
  char url[96];
  ex e[2];
  int step;
} U;

static void up_cb(ws101_fetch *f, int event, const char *data, size_t len,
                  int arg, void *ud);

static void up_next(void) {
  ws101_fetch *f;
  ASSERT_EQ(ws101_fetch_new(U.loop, "GET", U.url, U.o, up_cb, &U.e[U.step],
                            &f),
            0);
  ASSERT_EQ(ws101_fetch_send(f, NULL, 0), 0);
}

static void up_cb(ws101_fetch *f, int event, const char *data, size_t len,
                  int arg, void *ud) {
  cb(f, event, data, len, arg, ud);
  if (event == WS101_FETCH_DONE || event == WS101_FETCH_ERROR) {
    if (++U.step < 2) up_next();
  }
}

static void run_upgrade(int server_h2c) {
  ws101_options *so;
  memset(&U, 0, sizeof U);
  ASSERT_EQ(ws101_loop_new(&U.loop), 0);
  ASSERT_EQ(ws101_options_new(&so), 0);
  ASSERT_EQ(ws101_options_set(so, WS101_OPT_H2C, server_h2c), 0);
  ASSERT_EQ(ws101_server_new(U.loop, so, &srv), 0);
  ws101_options_free(so);
  ASSERT_EQ(ws101_server_route(srv, "/hello", 0, h_hello, NULL), 0);
  ASSERT_EQ(ws101_server_listen(srv, "127.0.0.1", 0), 0);
  snprintf(U.url, sizeof U.url, "http://127.0.0.1:%d/hello",
           ws101_server_port(srv));
  ASSERT_EQ(ws101_options_new(&U.o), 0);
  ASSERT_EQ(ws101_options_set(U.o, WS101_OPT_CLIENT_HTTP2, 2), 0);
  remaining = 2;
  up_next();
  ASSERT_EQ(ws101_loop_run(U.loop), 0);
  ws101_options_free(U.o);
  ASSERT_EQ(ws101_loop_free(U.loop), 0);
  ASSERT_EQ(U.e[0].done, 1);
  ASSERT_EQ(U.e[1].done, 1);
  ASSERT_EQ(U.e[0].status, 200);
  ASSERT_EQ(U.e[1].status, 200);
  ASSERT_MEM_EQ(U.e[0].body, "hello", 5);
  ASSERT_MEM_EQ(U.e[1].body, "hello", 5);
}

static void test_h2c_upgrade_client(void) {
  run_upgrade(1);
  /* The first fetch upgraded (stream 1), the second reused HTTP/2. */
  ASSERT_EQ(conns, 1);
  ASSERT_EQ(streams, 2);
  /* A server that refuses h2c answers in HTTP/1.1: same results. */
  run_upgrade(0);
  ASSERT_EQ(conns, 0);
  ASSERT_EQ(streams, 0);
}

/* ---- a silent stream times out alone ------------------------------------ */

static ws101_loop *silent_loop;
static ws101_options *silent_opts;
static ex silent, after;
static char after_url[128];

static void h_silent(ws101_req *req, void *ud) {
  /* Never answers: the client's RESPONSE_TIMEOUT_MS must end it (the
   * client's RST_STREAM aborts it here). */
  (void)req, (void)ud;
}

static void silent_cb(ws101_fetch *f, int event, const char *data,
                      size_t len, int arg, void *ud) {
  ws101_fetch *next;
  if (event == WS101_FETCH_ERROR) {
    silent.errors++;
    silent.status = arg;
    snprintf(silent.body, sizeof silent.body, "%.*s", (int)len, data);
    /* The connection is still good: the next fetch rides it. */
    ASSERT_EQ(ws101_fetch_new(silent_loop, "GET", after_url, silent_opts, cb,
                              &after, &next),
              0);
    ASSERT_EQ(ws101_fetch_send(next, NULL, 0), 0);
    return;
  }
  if (event == WS101_FETCH_DONE) silent.done++;
  (void)f, (void)ud;
}

static void test_silent_stream_times_out(void) {
  ws101_fetch *f;
  char url[128];
  int port;
  memset(&silent, 0, sizeof silent);
  memset(&after, 0, sizeof after);
  ASSERT_EQ(ws101_loop_new(&silent_loop), 0);
  ASSERT_EQ(ws101_server_new(silent_loop, NULL, &srv), 0);
  ASSERT_EQ(ws101_server_route(srv, "/hello", 0, h_hello, NULL), 0);
  ASSERT_EQ(ws101_server_route(srv, "/silent", 0, h_silent, NULL), 0);
  ASSERT_EQ(ws101_server_listen(srv, "127.0.0.1", 0), 0);
  port = ws101_server_port(srv);
  ASSERT_EQ(ws101_options_new(&silent_opts), 0);
  ASSERT_EQ(ws101_options_set(silent_opts, WS101_OPT_CLIENT_HTTP2, 1), 0);
  ASSERT_EQ(ws101_options_set(silent_opts, WS101_OPT_RESPONSE_TIMEOUT_MS, 200),
            0);
  snprintf(url, sizeof url, "http://127.0.0.1:%d/silent", port);
  snprintf(after_url, sizeof after_url, "http://127.0.0.1:%d/hello", port);
  ASSERT_EQ(ws101_fetch_new(silent_loop, "GET", url, silent_opts, silent_cb,
                            NULL, &f),
            0);
  ASSERT_EQ(ws101_fetch_send(f, NULL, 0), 0);
  remaining = 1; /* `after` closes the server when it is done */
  ASSERT_EQ(ws101_loop_run(silent_loop), 0);
  ASSERT_EQ(silent.errors, 1);
  ASSERT_EQ(silent.done, 0);
  ASSERT_EQ(silent.status, WS101_ETIMEDOUT);
  ASSERT(strstr(silent.body, "200 ms") != NULL);
  ASSERT_EQ(after.done, 1);
  ASSERT_EQ(after.status, 200);
  ASSERT_EQ(conns, 1); /* the timeout reset the stream, not the connection */
  ASSERT_EQ(streams, 2);
  ws101_options_free(silent_opts);
  ASSERT_EQ(ws101_loop_free(silent_loop), 0);
}

/* The same after an h2c upgrade: the request became stream 1 and its
 * RESPONSE_TIMEOUT_MS goes on holding there. */
static struct {
  int errors, err, done;
  char msg[128];
} C;

static void h2c_silent_cb(ws101_fetch *f, int event, const char *data,
                          size_t len, int arg, void *ud) {
  (void)f, (void)ud;
  if (event == WS101_FETCH_ERROR) {
    C.errors++;
    C.err = arg;
    snprintf(C.msg, sizeof C.msg, "%.*s", (int)len, data);
  }
  if (event == WS101_FETCH_DONE) C.done++;
  if (event == WS101_FETCH_ERROR || event == WS101_FETCH_DONE)
    ws101_server_close(srv, on_closed, NULL);
}

static void test_h2c_silent_stream_times_out(void) {
  ws101_loop *loop;
  ws101_options *o, *so;
  ws101_fetch *f;
  char url[128];
  memset(&C, 0, sizeof C);
  ASSERT_EQ(ws101_loop_new(&loop), 0);
  ASSERT_EQ(ws101_options_new(&so), 0);
  ASSERT_EQ(ws101_options_set(so, WS101_OPT_H2C, 1), 0);
  ASSERT_EQ(ws101_server_new(loop, so, &srv), 0);
  ws101_options_free(so);
  ASSERT_EQ(ws101_server_route(srv, "/silent", 0, h_silent, NULL), 0);
  ASSERT_EQ(ws101_server_listen(srv, "127.0.0.1", 0), 0);
  snprintf(url, sizeof url, "http://127.0.0.1:%d/silent",
           ws101_server_port(srv));
  ASSERT_EQ(ws101_options_new(&o), 0);
  ASSERT_EQ(ws101_options_set(o, WS101_OPT_CLIENT_HTTP2, 2), 0);
  ASSERT_EQ(ws101_options_set(o, WS101_OPT_RESPONSE_TIMEOUT_MS, 200), 0);
  ASSERT_EQ(ws101_fetch_new(loop, "GET", url, o, h2c_silent_cb, NULL, &f), 0);
  ASSERT_EQ(ws101_fetch_send(f, NULL, 0), 0);
  ws101_options_free(o);
  ASSERT_EQ(ws101_loop_run(loop), 0);
  ASSERT_EQ(C.errors, 1);
  ASSERT_EQ(C.done, 0);
  ASSERT_EQ(C.err, WS101_ETIMEDOUT);
  ASSERT(strstr(C.msg, "200 ms") != NULL);
  ASSERT_EQ(ws101_loop_free(loop), 0);
}

/* ---- an extended CONNECT nobody answers (RFC 8441) ----------------------- */

#define HS_MS 200 /* WS101_OPT_WS_HANDSHAKE_TIMEOUT_MS of these tests */

static struct {
  int errors, err, closed, close_code, opened, aborted, guard_fired;
  uint64_t ws_streams;
  char msg[128];
  ws101_timer *guard;
} H;

static void hs_abort(ws101_req *req, void *ud) {
  (void)req, (void)ud;
  H.aborted++;
}

/* Takes the extended CONNECT and never answers it. */
static void h_ws_silent(ws101_req *req, void *ud) {
  (void)ud;
  ASSERT_EQ(ws101_req_is_websocket(req), 1);
  ws101_req_on_abort(req, hs_abort, NULL);
}

/* The test's own deadline: 25 times the handshake timeout. */
static void hs_guard(ws101_timer *t, void *ud) {
  (void)t;
  H.guard_fired = 1;
  ws101_loop_stop(ud);
}

static void hs_cli(ws101_ws *ws, int ev, const char *d, size_t n, int arg,
                   void *ud) {
  (void)ws, (void)ud;
  switch (ev) {
  case WS101_WS_OPEN:
    H.opened++;
    break;
  case WS101_WS_ERROR:
    H.errors++;
    H.err = arg;
    snprintf(H.msg, sizeof H.msg, "%.*s", (int)n, d);
    break;
  case WS101_WS_CLOSE:
    H.closed++;
    H.close_code = arg;
    ws101_timer_close(H.guard, NULL, NULL);
    if (srv != NULL) {
      ASSERT_EQ(ws101_server_h2_stats(srv, &conns, &streams, &H.ws_streams),
                0);
      ws101_server_close(srv, on_closed, NULL);
    }
    break;
  default:
    break;
  }
}

/* Connects to `url` over HTTP/2 with the handshake timeout and runs the
 * loop until the attempt ends (or the guard gives up). */
static void run_hs(ws101_loop *loop, const char *url) {
  ws101_options *o;
  ASSERT_EQ(ws101_options_new(&o), 0);
  ASSERT_EQ(ws101_options_set(o, WS101_OPT_CLIENT_HTTP2, 1), 0);
  ASSERT_EQ(ws101_options_set(o, WS101_OPT_WS_HANDSHAKE_TIMEOUT_MS, HS_MS),
            0);
  ASSERT_EQ(ws101_timer_new(loop, hs_guard, loop, &H.guard), 0);
  ASSERT_EQ(ws101_timer_start(H.guard, HS_MS * 25, 0), 0);
  ASSERT_EQ(ws101_ws_connect(loop, url, o, hs_cli, NULL, NULL), 0);
  ws101_options_free(o);
  ASSERT_EQ(ws101_loop_run(loop), 0);
  ASSERT_EQ(H.guard_fired, 0);
  ASSERT_EQ(H.opened, 0);
  ASSERT_EQ(H.errors, 1);
  ASSERT_EQ(H.err, WS101_ETIMEDOUT);
  ASSERT(strstr(H.msg, "200 ms") != NULL);
  ASSERT_EQ(H.closed, 1);
  ASSERT_EQ(H.close_code, 1006);
}

/* Our server takes the CONNECT (SETTINGS allow RFC 8441) and its handler
 * never answers: the attempt fails after the timeout (the client resets
 * the stream). */
static void test_ws_handshake_times_out(void) {
  ws101_loop *loop;
  char url[96];
  memset(&H, 0, sizeof H);
  H.ws_streams = 1;
  ASSERT_EQ(ws101_loop_new(&loop), 0);
  ASSERT_EQ(ws101_server_new(loop, NULL, &srv), 0);
  ASSERT_EQ(ws101_server_route(srv, "/ws", WS101_ROUTE_WEBSOCKET,
                               h_ws_silent, NULL),
            0);
  ASSERT_EQ(ws101_server_listen(srv, "127.0.0.1", 0), 0);
  snprintf(url, sizeof url, "ws://127.0.0.1:%d/ws", ws101_server_port(srv));
  run_hs(loop, url);
  ASSERT_EQ(conns, 1);
  ASSERT_EQ(streams, 1); /* the CONNECT reached the handler... */
  ASSERT_EQ(H.ws_streams, 0); /* ...which never accepted it */
  ASSERT_EQ(ws101_loop_free(loop), 0);
  /* The stream ended under the handler (the client's RST_STREAM, or the
   * loop's end first); the request it kept was freed with the server. */
  ASSERT_EQ(H.aborted, 1);
  srv = NULL;
}

/* A listening socket nobody accepts: TCP connects (the backlog), and then
 * nothing comes, not even SETTINGS (ws://) or a TLS ServerHello (wss://).
 * The extended CONNECT that waits for them times out all the same. */
static int silent_listener(int *port) {
  struct sockaddr_in a;
  socklen_t len = sizeof a;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  ASSERT_EQ(listen(fd, 8), 0);
  ASSERT_EQ(getsockname(fd, (struct sockaddr *)&a, &len), 0);
  *port = ntohs(a.sin_port);
  return fd;
}

static void test_ws_handshake_silent_peer(void) {
  static const char *const schemes[] = {"ws", "wss"};
  size_t i;
  for (i = 0; i < 2; i++) {
    ws101_loop *loop;
    char url[96];
    int port, fd = silent_listener(&port);
    memset(&H, 0, sizeof H);
    srv = NULL;
    ASSERT_EQ(ws101_loop_new(&loop), 0);
    snprintf(url, sizeof url, "%s://127.0.0.1:%d/ws", schemes[i], port);
    run_hs(loop, url);
    ASSERT_EQ(ws101_loop_free(loop), 0);
    close(fd);
  }
}

int main(void) {
  RUN(test_concurrent_fetches);
  RUN(test_ws_over_h2);
  RUN(test_h2c_upgrade_client);
  RUN(test_silent_stream_times_out);
  RUN(test_h2c_silent_stream_times_out);
  RUN(test_ws_handshake_times_out);
  RUN(test_ws_handshake_silent_peer);
  TEST_DONE();
}

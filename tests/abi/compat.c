/* compat.c - a program of the 1.0 release, run against the current library.
 *
 * tests/abi/compat.sh compiles this file against the frozen release header
 * abi/1.0/include/ws101.h (never include/ws101.h) and runs it against the
 * libws101.so.1 just built. It uses the API the way an application of 1.0
 * does: options, error names, timers, a server with an HTTP route and a
 * WebSocket route on a port chosen at run time, the HTTP client fetching
 * from it, and a WebSocket client echoing text and binary through it. If a
 * later release changed a signature, a constant or a behaviour 1.0
 * documented, one of the checks below fails.
 *
 * Every wait is on an event; a watchdog timer fails the run after 20 s. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ws101.h"

#define CHECK(expr)                                                        \
  do {                                                                     \
    if (!(expr)) {                                                         \
      fprintf(stderr, "compat.c:%d: check failed: %s\n", __LINE__, #expr); \
      exit(1);                                                             \
    }                                                                      \
  } while (0)
#define CHECK_RC(call)                                                     \
  do {                                                                     \
    int rc_ = (call);                                                      \
    if (rc_ != 0) {                                                        \
      fprintf(stderr, "compat.c:%d: %s returned %d (%s)\n", __LINE__,      \
              #call, rc_, ws101_err_name(rc_));                            \
      exit(1);                                                             \
    }                                                                      \
  } while (0)

static ws101_loop *loop;
static ws101_server *server, *closing_server;
static int port;
static int timer_fires, timer_closed, fetch_done, ws_echoes, ws_client_closed,
    ws_server_closed, server_closed;
static char url[64];

/* --- errors and options: pure calls ------------------------------------ */

static void check_errors(void) {
  /* The numbers compiled in from the 1.0 header mean the same errors. */
#define XX(name, val, msg)                                                 \
  CHECK(strcmp(ws101_err_name(val), "WS101_" #name) == 0);                 \
  CHECK(strcmp(ws101_strerror(val), msg) == 0);
  WS101_ERRNO_MAP(XX)
#undef XX
  CHECK(strcmp(ws101_err_name(-9999), "WS101_UNKNOWN") == 0);
}

static void check_options(void) {
  /* 1.0's documented defaults, read through 1.0's option numbers. */
  static const struct {
    ws101_opt opt;
    int64_t value;
  } defaults[] = {
      {WS101_OPT_MAX_REQUEST_LINE, 8192},
      {WS101_OPT_MAX_HEADER_BYTES, 16384},
      {WS101_OPT_MAX_HEADERS, 100},
      {WS101_OPT_MAX_BODY, 1048576},
      {WS101_OPT_WS_MAX_MESSAGE, 16777216},
      {WS101_OPT_WS_BACKPRESSURE_POLICY, WS101_BACKPRESSURE_REFUSE},
      {WS101_OPT_DEFLATE, 1},
      {WS101_OPT_DEFLATE_MEMORY, WS101_DEFLATE_DEDICATED},
      {WS101_OPT_HTTP2, 1},
      {WS101_OPT_CLIENT_HTTP2, 0},
      {WS101_OPT_TLS_CLIENT_CERT, WS101_TLS_CLIENT_CERT_NONE},
      {WS101_OPT_OUTPUT_BUFFER_LIMIT, 1048576},
      {WS101_OPT_MAX_CONNECTIONS, 0},
  };
  ws101_options *o;
  int64_t v;
  size_t i;
  CHECK_RC(ws101_options_new(&o));
  for (i = 0; i < sizeof defaults / sizeof defaults[0]; i++) {
    CHECK_RC(ws101_options_get(o, defaults[i].opt, &v));
    if (v != defaults[i].value) {
      fprintf(stderr, "option %d: default %lld, 1.0 said %lld\n",
              (int)defaults[i].opt, (long long)v,
              (long long)defaults[i].value);
      exit(1);
    }
  }
  CHECK_RC(ws101_options_set(o, WS101_OPT_MAX_BODY, 4096));
  CHECK_RC(ws101_options_get(o, WS101_OPT_MAX_BODY, &v));
  CHECK(v == 4096);
  CHECK(ws101_options_set(o, WS101_OPT_DEFLATE_LEVEL, 10) == WS101_EINVAL);
  CHECK(ws101_options_set(o, (ws101_opt)9999, 1) == WS101_EINVAL);
  CHECK_RC(ws101_options_add_subprotocol(o, "chat"));
  CHECK(ws101_options_add_subprotocol(o, "not a token") == WS101_EINVAL);
  CHECK_RC(ws101_options_add_header(o, "X-Compat", "1.0"));
  CHECK(ws101_options_add_header(o, "X-Bad", "a\r\nb") == WS101_EINVAL);
  CHECK_RC(ws101_options_add_origin(o, "http://app.example"));
  ws101_options_free(o);
}

/* --- the server --------------------------------------------------------- */

static void close_server_if_done(void);

static void on_hello(ws101_req *req, void *ud) {
  CHECK(ud == &port);
  CHECK(strcmp(ws101_req_method(req), "GET") == 0);
  CHECK(strcmp(ws101_req_path(req), "/hello") == 0);
  CHECK(strcmp(ws101_req_query(req), "from=1.0") == 0);
  CHECK(ws101_req_header(req, "x-compat") != NULL);
  CHECK_RC(ws101_req_add_header(req, "X-Served-By", "compat"));
  CHECK_RC(ws101_req_respond(req, 200, "text/plain", "hello 1.0\n", 10));
}

static void on_server_ws(ws101_ws *ws, int event, const char *data,
                         size_t len, int arg, void *ud) {
  (void)arg;
  CHECK(ud == &port);
  if (event == WS101_WS_TEXT || event == WS101_WS_BINARY) {
    CHECK_RC(ws101_ws_send(ws, data, len,
                           event == WS101_WS_TEXT ? WS101_OP_TEXT
                                                  : WS101_OP_BINARY));
  } else if (event == WS101_WS_OPEN) {
    CHECK(strcmp(ws101_ws_path(ws), "/ws") == 0);
    CHECK(strcmp(ws101_ws_subprotocol(ws), "chat") == 0);
  } else if (event == WS101_WS_CLOSE) {
    CHECK(arg == 1000);
    ws_server_closed = 1;
    close_server_if_done();
  }
}

static void on_server_closed(ws101_server *s, void *ud) {
  CHECK(s == closing_server && ud == &port);
  server_closed = 1;
}

static void close_server_if_done(void) {
  if (fetch_done && ws_client_closed && ws_server_closed && server) {
    closing_server = server;
    server = NULL; /* closed once */
    CHECK_RC(ws101_server_close(closing_server, on_server_closed, &port));
  }
}

/* --- the HTTP client --------------------------------------------------- */

static void on_fetch(ws101_fetch *f, int event, const char *data, size_t len,
                     int arg, void *ud) {
  static char body[64];
  static size_t body_len;
  CHECK(ud == url);
  switch (event) {
  case WS101_FETCH_RESPONSE:
    CHECK(ws101_fetch_status(f) == 200);
    CHECK(ws101_fetch_header(f, "x-served-by") != NULL);
    CHECK(strcmp(ws101_fetch_header(f, "x-served-by"), "compat") == 0);
    break;
  case WS101_FETCH_BODY:
    CHECK(body_len + len < sizeof body);
    memcpy(body + body_len, data, len);
    body_len += len;
    break;
  case WS101_FETCH_DONE:
    CHECK(body_len == 10 && memcmp(body, "hello 1.0\n", 10) == 0);
    fetch_done = 1;
    close_server_if_done();
    break;
  default:
    fprintf(stderr, "fetch event %d: %d %.*s\n", event, arg, (int)len, data);
    exit(1);
  }
}

/* --- the WebSocket client ---------------------------------------------- */

static const char binary_msg[4] = {0, 1, (char)0xfe, (char)0xff};

static void on_client_ws(ws101_ws *ws, int event, const char *data,
                         size_t len, int arg, void *ud) {
  CHECK(ud == url);
  switch (event) {
  case WS101_WS_OPEN:
    CHECK(ws101_ws_response_status(ws) == 101);
    CHECK(strcmp(ws101_ws_subprotocol(ws), "chat") == 0);
    CHECK_RC(ws101_ws_send(ws, "echo from 1.0", 13, WS101_OP_TEXT));
    break;
  case WS101_WS_TEXT:
    CHECK(len == 13 && memcmp(data, "echo from 1.0", 13) == 0);
    ws_echoes++;
    CHECK_RC(ws101_ws_send(ws, binary_msg, sizeof binary_msg,
                           WS101_OP_BINARY));
    break;
  case WS101_WS_BINARY:
    CHECK(len == sizeof binary_msg && memcmp(data, binary_msg, len) == 0);
    ws_echoes++;
    CHECK_RC(ws101_ws_close(ws, 1000, "done"));
    break;
  case WS101_WS_PING:
  case WS101_WS_PONG:
  case WS101_WS_DRAIN:
    break;
  case WS101_WS_CLOSE:
    CHECK(arg == 1000 && ws_echoes == 2);
    ws_client_closed = 1;
    close_server_if_done();
    break;
  default:
    fprintf(stderr, "client ws event %d: %d %.*s\n", event, arg, (int)len,
            data);
    exit(1);
  }
}

/* --- timers ------------------------------------------------------------ */

static void on_timer_closed(ws101_timer *t, void *ud) {
  (void)t;
  CHECK(ud == &timer_fires);
  timer_closed = 1;
}

static void on_timer(ws101_timer *t, void *ud) {
  CHECK(ud == &timer_fires);
  if (++timer_fires == 3) {
    CHECK(ws101_timer_active(t) == 1);
    CHECK_RC(ws101_timer_close(t, on_timer_closed, &timer_fires));
  }
}

static void on_watchdog(ws101_timer *t, void *ud) {
  (void)t, (void)ud;
  fprintf(stderr,
          "watchdog: fetch %d, ws echoes %d, client closed %d, server ws "
          "closed %d, timer fires %d\n",
          fetch_done, ws_echoes, ws_client_closed, ws_server_closed,
          timer_fires);
  exit(1);
}

static void on_posted(ws101_loop *l, void *ud) {
  CHECK(l == loop);
  *(int *)ud = 1;
}

int main(void) {
  ws101_options *opts;
  ws101_timer *timer, *watchdog;
  ws101_fetch *f;
  int posted = 0;

  printf("built against libws101 %d.%d.%d, running on %s\n",
         WS101_VERSION_MAJOR, WS101_VERSION_MINOR, WS101_VERSION_PATCH,
         ws101_version_string());
  /* Same major version, and at least the release built against. */
  CHECK((ws101_version() >> 16) == WS101_VERSION_MAJOR);
  CHECK(ws101_version() >= (unsigned)WS101_VERSION_HEX);
  check_errors();
  check_options();

  CHECK_RC(ws101_loop_new(&loop));
  CHECK(ws101_loop_uv(loop) != NULL);
  CHECK_RC(ws101_loop_post(loop, on_posted, &posted));

  CHECK_RC(ws101_options_new(&opts));
  CHECK_RC(ws101_options_add_subprotocol(opts, "chat"));
  CHECK_RC(ws101_options_add_header(opts, "X-Compat", "1.0"));
  CHECK_RC(ws101_server_new(loop, opts, &server));
  CHECK(ws101_server_loop(server) == loop);
  CHECK_RC(ws101_server_route(server, "/hello", 0, on_hello, &port));
  CHECK_RC(ws101_server_websocket(server, "/ws", on_server_ws, &port));
  CHECK(ws101_server_port(server) == WS101_ESTATE);
  CHECK_RC(ws101_server_listen(server, "127.0.0.1", 0));
  port = ws101_server_port(server);
  CHECK(port > 0);

  snprintf(url, sizeof url, "http://127.0.0.1:%d/hello?from=1.0", port);
  CHECK_RC(ws101_fetch_new(loop, "GET", url, opts, on_fetch, url, &f));
  CHECK_RC(ws101_fetch_send(f, NULL, 0));
  {
    char ws_url[64];
    snprintf(ws_url, sizeof ws_url, "ws://127.0.0.1:%d/ws", port);
    CHECK_RC(ws101_ws_connect(loop, ws_url, opts, on_client_ws, url, NULL));
  }
  ws101_options_free(opts); /* copied by everything that took it */

  CHECK_RC(ws101_timer_new(loop, on_timer, &timer_fires, &timer));
  CHECK_RC(ws101_timer_start(timer, 1, 1));
  CHECK_RC(ws101_timer_new(loop, on_watchdog, NULL, &watchdog));
  CHECK_RC(ws101_timer_start(watchdog, 20000, 0));

  /* Step the loop until everything is done and the server closed. */
  while (!(fetch_done && ws_client_closed && ws_server_closed &&
           timer_closed && server_closed))
    CHECK(ws101_loop_run_once(loop, 1) >= 0);
  CHECK(posted == 1);
  CHECK(timer_fires == 3);
  CHECK_RC(ws101_timer_close(watchdog, NULL, NULL));
  CHECK_RC(ws101_loop_run(loop));
  CHECK_RC(ws101_loop_free(loop));
  printf("ok: options, errors, timer, post, server, fetch and WebSocket "
         "echo behave as in 1.0\n");
  return 0;
}

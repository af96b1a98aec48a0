/* ws101-demo - the demo server: an HTML page at /, plain HTTP routes and a
 * WebSocket echo at /ws, all on one port. Uses only the public API.
 *
 *   ws101-demo [--host 127.0.0.1] [--port 8080] [--origin URL]...
 *
 * Routes: GET / (page), GET /hello, POST /echo (buffered body echoed),
 * GET /stream?n=N (chunked), POST /upload (streamed body, counted),
 * /ws (WebSocket echo; "close:CODE:REASON" makes the server close).
 *
 * Prints "listening on http://HOST:PORT/" once it accepts connections.
 * SIGINT/SIGTERM close every WebSocket with 1001 and exit 0. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ws101.h"

static const char page[] =
    "<!doctype html>\n<html><head><meta charset=\"utf-8\">"
    "<title>libws101 demo</title></head>\n<body>\n"
    "<h1>libws101 demo</h1>\n"
    "<p>WebSocket: <span id=\"state\">connecting</span></p>\n"
    "<form id=\"f\"><input id=\"msg\" value=\"hello\"> "
    "<button>send</button></form>\n<pre id=\"log\"></pre>\n<script>\n"
    "const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : "
    "'ws://') + location.host + '/ws');\n"
    "const waiting = [];\n"
    "const log = (t) => { document.getElementById('log').textContent += t + "
    "'\\n'; };\n"
    "const opened = new Promise((ok, fail) => { ws.onopen = ok; ws.onerror = "
    "fail; });\n"
    "ws.onopen = () => { document.getElementById('state').textContent = "
    "'open (' + (ws.extensions || 'no extensions') + ')'; };\n"
    "opened.catch(() => {});\n"
    "ws.addEventListener('open', () => {});\n"
    "ws.onmessage = (e) => { log('< ' + e.data); const w = waiting.shift(); "
    "if (w) w(e.data); };\n"
    "ws.onclose = (e) => { document.getElementById('state').textContent = "
    "'closed ' + e.code; };\n"
    "window.ws101Socket = ws;\n"
    "window.ws101Echo = async (m) => {\n"
    "  if (ws.readyState === 0) await new Promise((ok) => "
    "ws.addEventListener('open', ok, {once: true}));\n"
    "  return new Promise((ok) => { waiting.push(ok); log('> ' + m); "
    "ws.send(m); });\n};\n"
    "document.getElementById('f').onsubmit = (e) => { e.preventDefault(); "
    "window.ws101Echo(document.getElementById('msg').value); };\n"
    "</script>\n</body></html>\n";

static ws101_loop *loop;
static ws101_server *server;

static void on_index(ws101_req *req, void *ud) {
  (void)ud;
  ws101_req_respond(req, 200, "text/html; charset=utf-8", page,
                    sizeof(page) - 1);
}

static void on_hello(ws101_req *req, void *ud) {
  static const char body[] = "hello from libws101\n";
  (void)ud;
  ws101_req_respond(req, 200, "text/plain; charset=utf-8", body,
                    sizeof(body) - 1);
}

static void on_echo(ws101_req *req, void *ud) {
  (void)ud;
  if (strcmp(ws101_req_method(req), "POST") != 0 &&
      strcmp(ws101_req_method(req), "PUT") != 0) {
    ws101_req_add_header(req, "Allow", "POST, PUT");
    ws101_req_respond(req, 405, "text/plain", "use POST\n", 9);
    return;
  }
  ws101_req_respond(req, 200, "application/octet-stream", ws101_req_body(req),
                    ws101_req_body_len(req));
}

static void on_stream(ws101_req *req, void *ud) {
  const char *q = ws101_req_query(req);
  long n = 3, i;
  char line[32];
  (void)ud;
  if (strncmp(q, "n=", 2) == 0) n = strtol(q + 2, NULL, 10);
  if (n < 0 || n > 100000) n = 3;
  ws101_req_add_header(req, "Content-Type", "text/plain");
  for (i = 0; i < n; i++) {
    int len = snprintf(line, sizeof(line), "chunk %ld\n", i);
    ws101_req_write(req, line, (size_t)len);
  }
  ws101_req_end(req);
}

/* Streamed upload: the body is counted as it arrives, never buffered. */
typedef struct upload {
  unsigned long long bytes;
  unsigned long sum; /* a cheap checksum so tests can tell bytes apart */
} upload;

static void on_upload_body(ws101_req *req, const char *data, size_t len,
                           int last, void *ud) {
  upload *u = ud;
  size_t i;
  char line[96];
  int n;
  for (i = 0; i < len; i++) u->sum = (u->sum * 31 + (unsigned char)data[i]) % 1000000007UL;
  u->bytes += len;
  if (!last) return;
  n = snprintf(line, sizeof(line), "%llu bytes, checksum %lu\n", u->bytes,
               u->sum);
  free(u);
  ws101_req_respond(req, 200, "text/plain", line, (size_t)n);
}

static void on_upload(ws101_req *req, void *ud) {
  upload *u = calloc(1, sizeof(*u));
  (void)ud;
  if (u == NULL || ws101_req_read_body(req, on_upload_body, u) != 0) {
    free(u);
    ws101_req_respond(req, 500, "text/plain", "no memory\n", 10);
  }
}

/* Sends an echo and handles every error: nothing is dropped silently. A
 * full send queue (the peer does not read) closes with 1008, any other
 * refusal with 1011; either way a line says what happened. A connection
 * that is already closing just gets the line. */
static void echo(ws101_ws *ws, const char *data, size_t len, int opcode) {
  int rc = ws101_ws_send(ws, data, len, opcode);
  if (rc == 0) return;
  fprintf(stderr, "ws101-demo: %s: echo of %zu bytes not sent: %s\n",
          ws101_ws_remote_addr(ws), len, ws101_strerror(rc));
  if (rc == WS101_EBACKPRESSURE)
    ws101_ws_close(ws, 1008, "send buffer limit reached");
  else if (rc != WS101_ECLOSED)
    ws101_ws_close(ws, 1011, "echo failed");
}

/* Echo, plus "close:CODE:REASON" to make the server close. */
static void on_ws(ws101_ws *ws, int event, const char *data, size_t len,
                  int arg, void *ud) {
  (void)arg;
  (void)ud;
  if (event == WS101_WS_TEXT) {
    if (len > 6 && memcmp(data, "close:", 6) == 0) {
      char buf[160];
      const char *reason;
      size_t n = len < sizeof(buf) - 1 ? len : sizeof(buf) - 1;
      memcpy(buf, data, n);
      buf[n] = '\0';
      reason = strchr(buf + 6, ':');
      ws101_ws_close(ws, atoi(buf + 6), reason ? reason + 1 : NULL);
      return;
    }
    echo(ws, data, len, WS101_OP_TEXT);
  } else if (event == WS101_WS_BINARY) {
    echo(ws, data, len, WS101_OP_BINARY);
  }
}

static void on_closed(ws101_server *s, void *ud) {
  (void)s;
  (void)ud;
  server = NULL;
  ws101_loop_stop(loop);
}

/* Runs on the loop thread, posted by the signal thread. */
static void shutdown_cb(ws101_loop *l, void *ud) {
  (void)l;
  (void)ud;
  if (server != NULL) ws101_server_close(server, on_closed, NULL);
}

static void *signal_thread(void *arg) {
  sigset_t *set = arg;
  int sig;
  if (sigwait(set, &sig) == 0) ws101_loop_post(loop, shutdown_cb, NULL);
  return NULL;
}

static void usage(FILE *f) {
  fprintf(f, "usage: ws101-demo [--host HOST] [--port PORT] [--origin URL]...\n"
             "  --host HOST   address to listen on (default 127.0.0.1)\n"
             "  --port PORT   port (default 8080; 0 picks a free one)\n"
             "  --origin URL  allow WebSocket upgrades only from this Origin "
             "(repeatable)\n");
}

int main(int argc, char **argv) {
  const char *host = "127.0.0.1";
  int port = 8080, i, rc;
  ws101_options *opts;
  sigset_t set;
  pthread_t tid;

  ws101_options_new(&opts);
  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--host") == 0 && i + 1 < argc) {
      host = argv[++i];
    } else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
      port = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--origin") == 0 && i + 1 < argc) {
      if (ws101_options_add_origin(opts, argv[++i]) != 0) {
        fprintf(stderr, "ws101-demo: bad origin %s\n", argv[i]);
        return 2;
      }
    } else if (strcmp(argv[i], "--help") == 0) {
      usage(stdout);
      return 0;
    } else {
      usage(stderr);
      return 2;
    }
  }

  /* Signals go to one thread that posts into the loop: the thread-safe
   * entry point, instead of unsafe work in a signal handler. */
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);

  if ((rc = ws101_loop_new(&loop)) != 0 ||
      (rc = ws101_server_new(loop, opts, &server)) != 0) {
    fprintf(stderr, "ws101-demo: %s\n", ws101_strerror(rc));
    return 1;
  }
  ws101_options_free(opts);
  ws101_server_route(server, "/", 0, on_index, NULL);
  ws101_server_route(server, "/hello", 0, on_hello, NULL);
  ws101_server_route(server, "/echo", 0, on_echo, NULL);
  ws101_server_route(server, "/stream", 0, on_stream, NULL);
  ws101_server_route(server, "/upload", WS101_ROUTE_STREAM_BODY, on_upload,
                     NULL);
  ws101_server_websocket(server, "/ws", on_ws, NULL);
  rc = ws101_server_listen(server, host, port);
  if (rc != 0) {
    fprintf(stderr, "ws101-demo: cannot listen on %s:%d: %s\n", host, port,
            ws101_strerror(rc));
    return 1;
  }
  pthread_create(&tid, NULL, signal_thread, &set);
  printf("listening on http://%s%s%s:%d/\n", strchr(host, ':') ? "[" : "",
         host, strchr(host, ':') ? "]" : "", ws101_server_port(server));
  fflush(stdout);
  ws101_loop_run(loop);
  /* The signal thread is done or blocked in sigwait; either way it never
   * touches the loop again once the server is gone. */
  pthread_cancel(tid);
  pthread_join(tid, NULL);
  ws101_loop_free(loop);
  return 0;
}

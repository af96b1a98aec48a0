/* ws101-demo - the demo server: an HTML page at /, plain HTTP routes and a
 * WebSocket echo at /ws, all on one port. Uses only the public API.
 *
 *   ws101-demo [--host 127.0.0.1] [--port 8080] [--origin URL]...
 *              [--workers N] [--redis redis://HOST:PORT]
 *              [--tls-cert FILE --tls-key FILE]
 *
 * Routes: GET / (page), GET /hello, POST /echo (buffered body echoed),
 * GET /stream?n=N (chunked), POST /upload (streamed body, counted),
 * /ws (WebSocket echo; "close:CODE:REASON" makes the server close),
 * /chat/ROOM (WebSocket chat: every text message is published to every
 * connection on ROOM, the sender included; with --workers on every worker,
 * with --redis on every process sharing that Redis).
 *
 * --workers N runs N worker threads, each with its own SO_REUSEPORT
 * listener and the same routes. --redis attaches a Redis pub/sub backplane
 * and logs "redis: up" / "redis: down ..." lines on stderr as its state
 * changes.
 *
 * Prints "listening on http://HOST:PORT/" (https:// with --tls-cert) once
 * it accepts connections.
 * SIGINT/SIGTERM close every WebSocket with 1001 and exit 0. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

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

/* GET /stats: the server's HTTP/2 counters as JSON, so a test (or a
 * curious user) can tell whether a browser's WebSocket rode HTTP/2. */
static void on_stats(ws101_req *req, void *ud) {
  uint64_t conns = 0, streams = 0, websockets = 0;
  char body[160];
  int n;
  ws101_server_h2_stats((ws101_server *)ud, &conns, &streams, &websockets);
  n = snprintf(body, sizeof(body),
               "{\"h2_conns\": %llu, \"h2_streams\": %llu, "
               "\"h2_websockets\": %llu, \"http_version\": %d}\n",
               (unsigned long long)conns, (unsigned long long)streams,
               (unsigned long long)websockets, ws101_req_http_version(req));
  ws101_req_respond(req, 200, "application/json", body, (size_t)n);
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

/* GET /stream?n=N writes N lines as a chunked body, honouring output
 * backpressure: it writes until a write is refused, then continues from
 * the drain callback, so a client that reads slowly (or never) costs at
 * most WS101_OPT_OUTPUT_BUFFER_LIMIT of memory, not the whole body. */
typedef struct streamer {
  long i, n;
} streamer;

static void stream_more(ws101_req *req, void *ud) {
  streamer *st = ud;
  char line[32];
  while (st->i < st->n) {
    int len = snprintf(line, sizeof(line), "chunk %ld\n", st->i);
    int rc = ws101_req_write(req, line, (size_t)len);
    if (rc == WS101_EBACKPRESSURE) return; /* stream_more again on drain */
    if (rc != 0) break;                   /* peer gone: on_stream_abort */
    st->i++;
  }
  if (st->i == st->n) {
    ws101_req_end(req);
    free(st);
  }
}

static void on_stream_abort(ws101_req *req, void *ud) {
  ws101_req_end(req); /* completes the aborted request */
  free(ud);
}

static void on_stream(ws101_req *req, void *ud) {
  const char *q = ws101_req_query(req);
  streamer *st = calloc(1, sizeof(*st));
  (void)ud;
  if (st == NULL) {
    ws101_req_respond(req, 500, "text/plain", "out of memory\n", 14);
    return;
  }
  st->n = 3;
  if (strncmp(q, "n=", 2) == 0) st->n = strtol(q + 2, NULL, 10);
  if (st->n < 0 || st->n > 100000) st->n = 3;
  ws101_req_add_header(req, "Content-Type", "text/plain");
  ws101_req_on_drain(req, stream_more, st);
  ws101_req_on_abort(req, on_stream_abort, st);
  stream_more(req, st);
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

/* Chat: a connection on /chat/ROOM is subscribed to topic "chat/ROOM";
 * what it sends is published there. Publishing through the connection's
 * own server reaches every worker (and Redis) the same way. */
static void on_chat(ws101_ws *ws, int event, const char *data, size_t len,
                    int arg, void *ud) {
  char topic[256];
  const char *room = ws101_ws_path(ws) + strlen("/chat/");
  (void)arg;
  (void)ud;
  if (snprintf(topic, sizeof topic, "chat/%s", room) >= (int)sizeof topic ||
      room[0] == '\0') {
    if (event == WS101_WS_OPEN) ws101_ws_close(ws, 1008, "bad room name");
    return;
  }
  if (event == WS101_WS_OPEN) {
    if (ws101_ws_subscribe(ws, topic) < 0)
      ws101_ws_close(ws, 1011, "cannot subscribe");
  } else if (event == WS101_WS_TEXT) {
    ws101_server_publish(ws101_ws_server(ws), topic, data, len,
                         WS101_OP_TEXT);
  }
}

static int setup_routes(ws101_server *s, int index, void *ud) {
  int rc = 0;
  (void)index;
  (void)ud;
  if (rc == 0) rc = ws101_server_route(s, "/", 0, on_index, NULL);
  if (rc == 0) rc = ws101_server_route(s, "/hello", 0, on_hello, NULL);
  if (rc == 0) rc = ws101_server_route(s, "/echo", 0, on_echo, NULL);
  if (rc == 0) rc = ws101_server_route(s, "/stats", 0, on_stats, s);
  if (rc == 0) rc = ws101_server_route(s, "/stream", 0, on_stream, NULL);
  if (rc == 0)
    rc = ws101_server_route(s, "/upload", WS101_ROUTE_STREAM_BODY, on_upload,
                            NULL);
  if (rc == 0) rc = ws101_server_websocket(s, "/ws", on_ws, NULL);
  if (rc == 0) rc = ws101_server_websocket(s, "/chat/*", on_chat, NULL);
  return rc;
}

static void on_redis(ws101_redis *r, int event, const char *data, int arg,
                     void *ud) {
  (void)r;
  (void)ud;
  /* A log, on stderr: stdout's first line is "listening on". */
  if (event == WS101_REDIS_UP)
    fprintf(stderr, "redis: up\n");
  else
    fprintf(stderr, "redis: down (%s), retrying in %d ms\n", data, arg);
}

static ws101_workers *workers;

static void on_closed(ws101_server *s, void *ud) {
  (void)s;
  (void)ud;
  server = NULL;
  ws101_loop_stop(loop);
}

/* Runs on the loop thread (on_signal, or posted by the signal thread). */
static void shutdown_cb(ws101_loop *l, void *ud) {
  (void)l;
  (void)ud;
  if (server != NULL) ws101_server_close(server, on_closed, NULL);
}

/* One loop: SIGINT / SIGTERM are watched on the loop itself (libuv's
 * signal handles), not by a thread. A second thread, even one asleep in
 * sigwait, makes every libc syscall wrapper (each read and write) pay for
 * thread cancellation bookkeeping for the rest of the process' life. */
static uv_signal_t sig_int, sig_term;

static void on_signal(uv_signal_t *h, int signum) {
  (void)h;
  (void)signum;
  uv_signal_stop(&sig_int);
  uv_signal_stop(&sig_term);
  shutdown_cb(loop, NULL);
}

static void watch_signals(uv_loop_t *uv) {
  uv_signal_init(uv, &sig_int);
  uv_signal_init(uv, &sig_term);
  uv_signal_start(&sig_int, on_signal, SIGINT);
  uv_signal_start(&sig_term, on_signal, SIGTERM);
  /* They must not keep the loop running once the server is closed. */
  uv_unref((uv_handle_t *)&sig_int);
  uv_unref((uv_handle_t *)&sig_term);
}

static void *signal_thread(void *arg) {
  sigset_t *set = arg;
  int sig;
  if (sigwait(set, &sig) != 0) return NULL;
  if (workers != NULL)
    ws101_workers_stop(workers);
  else
    ws101_loop_post(loop, shutdown_cb, NULL);
  return NULL;
}

static void usage(FILE *f) {
  fprintf(f, "usage: ws101-demo [--host HOST] [--port PORT] [--origin URL]...\n"
             "  --host HOST   address to listen on (default 127.0.0.1)\n"
             "  --port PORT   port (default 8080; 0 picks a free one)\n"
             "  --origin URL  allow WebSocket upgrades only from this Origin "
             "(repeatable)\n"
             "  --workers N   N worker threads, one SO_REUSEPORT listener "
             "each\n"
             "  --redis URL   pub/sub backplane, redis://HOST:PORT\n"
             "  --tls-cert FILE --tls-key FILE  serve https:// and wss:// "
             "with this PEM certificate chain and key\n");
}

int main(int argc, char **argv) {
  const char *host = "127.0.0.1", *redis = NULL, *cert = NULL, *key = NULL;
  int port = 8080, nworkers = 0, i, rc;
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
    } else if (strcmp(argv[i], "--workers") == 0 && i + 1 < argc) {
      nworkers = atoi(argv[++i]);
      if (nworkers < 1 || nworkers > 256) {
        fprintf(stderr, "ws101-demo: --workers takes 1..256\n");
        return 2;
      }
    } else if (strcmp(argv[i], "--redis") == 0 && i + 1 < argc) {
      redis = argv[++i];
    } else if (strcmp(argv[i], "--tls-cert") == 0 && i + 1 < argc) {
      cert = argv[++i];
    } else if (strcmp(argv[i], "--tls-key") == 0 && i + 1 < argc) {
      key = argv[++i];
    } else if (strcmp(argv[i], "--help") == 0) {
      usage(stdout);
      return 0;
    } else {
      usage(stderr);
      return 2;
    }
  }

  if ((cert == NULL) != (key == NULL)) {
    fprintf(stderr, "ws101-demo: --tls-cert and --tls-key go together\n");
    return 2;
  }
  if (cert != NULL && nworkers > 0) {
    /* Worker listeners are plain sockets handed over by fd for now. */
    fprintf(stderr, "ws101-demo: --workers does not serve TLS yet; drop "
                    "--workers or the --tls-* options\n");
    return 2;
  }
  if (cert != NULL &&
      ws101_options_add_tls_cert(opts, NULL, cert, key, WS101_TLS_PEM_FILES)) {
    fprintf(stderr, "ws101-demo: bad --tls-cert / --tls-key\n");
    return 2;
  }

  /* With --workers, signals go to one thread that stops the workers: the
   * thread-safe entry point, instead of unsafe work in a signal handler.
   * One loop watches them itself (watch_signals). */
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);

  if (nworkers > 0) {
    ws101_server *first;
    if ((rc = ws101_workers_new(nworkers, opts, setup_routes, NULL,
                                &workers)) != 0) {
      fprintf(stderr, "ws101-demo: %s\n", ws101_strerror(rc));
      return 1;
    }
    ws101_options_free(opts);
    first = ws101_workers_server(workers, 0);
    if (redis != NULL &&
        (rc = ws101_redis_attach(first, redis, NULL, on_redis, NULL, NULL))) {
      fprintf(stderr, "ws101-demo: --redis %s: %s\n", redis,
              ws101_strerror(rc));
      return 1;
    }
    rc = ws101_workers_listen(workers, host, port);
    if (rc != 0) {
      fprintf(stderr, "ws101-demo: cannot listen on %s:%d: %s\n", host, port,
              ws101_strerror(rc));
      return 1;
    }
    /* Printed before the workers run, so that it is the first line even
     * when a worker has something to say at once ("redis: up"). */
    printf("listening on http://%s%s%s:%d/\n", strchr(host, ':') ? "[" : "",
           host, strchr(host, ':') ? "]" : "", ws101_workers_port(workers));
    fflush(stdout);
    if ((rc = ws101_workers_start(workers)) != 0) {
      fprintf(stderr, "ws101-demo: %s\n", ws101_strerror(rc));
      return 1;
    }
    pthread_create(&tid, NULL, signal_thread, &set);
    /* Returns once the signal thread has stopped every worker. */
    ws101_workers_free(workers);
    pthread_join(tid, NULL);
    return 0;
  }

  if ((rc = ws101_loop_new(&loop)) != 0 ||
      (rc = ws101_server_new(loop, opts, &server)) != 0) {
    fprintf(stderr, "ws101-demo: %s\n", ws101_strerror(rc));
    return 1;
  }
  ws101_options_free(opts);
  setup_routes(server, 0, NULL);
  if (redis != NULL &&
      (rc = ws101_redis_attach(server, redis, NULL, on_redis, NULL, NULL))) {
    fprintf(stderr, "ws101-demo: --redis %s: %s\n", redis,
            ws101_strerror(rc));
    return 1;
  }
  rc = cert != NULL ? ws101_server_listen_tls(server, host, port)
                    : ws101_server_listen(server, host, port);
  if (rc != 0) {
    fprintf(stderr, "ws101-demo: cannot listen on %s:%d: %s%s%s\n", host,
            port, ws101_strerror(rc), rc == WS101_ETLS ? ": " : "",
            rc == WS101_ETLS ? ws101_tls_last_error() : "");
    return 1;
  }
  watch_signals(ws101_loop_uv(loop));
  pthread_sigmask(SIG_UNBLOCK, &set, NULL);
  printf("listening on %s://%s%s%s:%d/\n", cert != NULL ? "https" : "http",
         strchr(host, ':') ? "[" : "",
         host, strchr(host, ':') ? "]" : "", ws101_server_port(server));
  fflush(stdout);
  ws101_loop_run(loop);
  uv_close((uv_handle_t *)&sig_int, NULL);
  uv_close((uv_handle_t *)&sig_term, NULL);
  ws101_loop_free(loop);
  return 0;
}

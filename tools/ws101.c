/* ws101.c - the `ws101` command line tool: a WebSocket/HTTP server, a
 * WebSocket client that pipes stdin/stdout, and an HTTP GET.
 *
 * An application of the library: it uses only the public ws101.h API, plus
 * libuv directly for stdin and signals (through ws101_loop_uv), which the
 * library deliberately does not wrap. */
#include "ws101.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

static const char usage[] =
    "usage:\n"
    "  ws101 serve [--host H] [--port N] [--echo|--broadcast] [--no-deflate]\n"
    "      Serve WebSocket connections on every path (plain HTTP requests get\n"
    "      a short text page). Prints \"listening on http://HOST:PORT/\" once\n"
    "      ready. --host defaults to 127.0.0.1, --port to 8080 (0 picks a\n"
    "      free port). --echo (default) sends each message back to its\n"
    "      sender; --broadcast sends it to every connected client.\n"
    "      --no-deflate disables permessage-deflate. Stops on SIGINT/SIGTERM.\n"
    "      --tls-cert FILE --tls-key FILE serve https:// and wss:// instead.\n"
    "\n"
    "  ws101 connect URL [-H 'Name: value']... [--protocol P]... [--no-deflate]\n"
    "                    [--binary] [--wait MS] [--http2]\n"
    "      Open a WebSocket to URL (ws://host[:port]/path). Each line read\n"
    "      from stdin is sent as one text message (--binary: binary\n"
    "      message); each message received is printed on its own line. When\n"
    "      stdin ends, the tool waits until it has received at least as many\n"
    "      messages as it sent (so an echo or request/response server can\n"
    "      answer the last line) or until no message came for --wait MS\n"
    "      (default 1000; 0 closes at once), then closes with 1000 and exits\n"
    "      0 once the close handshake is done. -H adds a request header,\n"
    "      --protocol offers a subprotocol (both may repeat). --http2 opens\n"
    "      the WebSocket on an HTTP/2 stream (RFC 8441, prior knowledge)\n"
    "      when the server allows it. Exits 1 with a\n"
    "      message on stderr if the connection fails (including a server\n"
    "      answering anything but 101) or is closed abnormally.\n"
    "\n"
    "  connect and get take wss:// and https:// URLs too, verified against\n"
    "  the system CA store, or --cafile FILE; --insecure skips verification\n"
    "  (tests against self-signed servers only).\n"
    "\n"
    "  ws101 get URL [-H 'Name: value']... [--http2|--http2-prior-knowledge]\n"
    "      HTTP GET of URL (http://host[:port]/path); prints the body to\n"
    "      stdout. Exits 1 with a message on stderr on failure or on a\n"
    "      status >= 400 (the body is still printed).\n"
    "      --http2 offers an h2c upgrade (HTTP/1.1 if refused);\n"
    "      --http2-prior-knowledge speaks HTTP/2 from the first byte.\n"
    "\n"
    "  ws101 --help | --version\n";

static int die_usage(const char *msg) {
  fprintf(stderr, "ws101: %s\n\n%s", msg, usage);
  return 2;
}

/* Parses "Name: value" into options. Returns 0 or prints why and -1. */
static int add_header_arg(ws101_options *o, const char *arg) {
  const char *colon = strchr(arg, ':');
  char name[256];
  size_t n;
  int rc;
  if (colon == NULL || colon == arg || (size_t)(colon - arg) >= sizeof(name)) {
    fprintf(stderr, "ws101: -H wants 'Name: value', got '%s'\n", arg);
    return -1;
  }
  n = (size_t)(colon - arg);
  memcpy(name, arg, n);
  name[n] = '\0';
  colon++;
  while (*colon == ' ' || *colon == '\t') colon++;
  rc = ws101_options_add_header(o, name, colon);
  if (rc != 0) {
    fprintf(stderr, "ws101: bad header '%s': %s\n", arg, ws101_strerror(rc));
    return -1;
  }
  return 0;
}

/* ------------------------------------------------------------------------ */
/* serve                                                                    */
/* ------------------------------------------------------------------------ */

typedef struct server_state {
  ws101_loop *loop;
  ws101_server *server;
  int broadcast;
  ws101_ws **clients; /* open connections, for --broadcast */
  size_t nclients, cap;
  uv_signal_t sigint, sigterm;
} server_state;

static void serve_ws(ws101_ws *ws, int event, const char *data, size_t len,
                     int arg, void *ud) {
  server_state *s = ud;
  size_t i;
  (void)arg;
  switch (event) {
    case WS101_WS_OPEN:
      if (s->nclients == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        ws101_ws **p = realloc(s->clients, cap * sizeof(*p));
        if (p == NULL) {
          ws101_ws_close(ws, 1011, "out of memory");
          return;
        }
        s->clients = p;
        s->cap = cap;
      }
      s->clients[s->nclients++] = ws;
      break;
    case WS101_WS_TEXT:
    case WS101_WS_BINARY: {
      int op = event == WS101_WS_TEXT ? WS101_OP_TEXT : WS101_OP_BINARY;
      if (!s->broadcast) {
        ws101_ws_send(ws, data, len, op);
        break;
      }
      for (i = 0; i < s->nclients; i++)
        ws101_ws_send(s->clients[i], data, len, op);
      break;
    }
    case WS101_WS_CLOSE:
      for (i = 0; i < s->nclients; i++) {
        if (s->clients[i] == ws) {
          s->clients[i] = s->clients[--s->nclients];
          break;
        }
      }
      break;
  }
}

static void serve_http(ws101_req *req, void *ud) {
  static const char page[] =
      "ws101 server: connect with a WebSocket client, e.g.\n"
      "  ws101 connect ws://HOST:PORT/\n";
  if (ws101_req_is_websocket(req)) {
    ws101_req_accept_websocket(req, NULL, serve_ws, ud, NULL);
    return;
  }
  ws101_req_respond(req, 200, "text/plain; charset=utf-8", page,
                    sizeof(page) - 1);
}

static void serve_stop(uv_signal_t *sig, int signum) {
  server_state *s = sig->data;
  (void)signum;
  uv_close((uv_handle_t *)&s->sigint, NULL);
  uv_close((uv_handle_t *)&s->sigterm, NULL);
  if (s->server != NULL) ws101_server_close(s->server, NULL, NULL);
  s->server = NULL;
}

/* --cafile FILE / --insecure for the clients; returns 1 if argv[*i] was
 * one of them (consuming its value). */
static int tls_client_arg(ws101_options *o, int argc, char **argv, int *i) {
  if (strcmp(argv[*i], "--cafile") == 0 && *i + 1 < argc) {
    ws101_options_set_tls_ca(o, argv[++*i], NULL);
    return 1;
  }
  if (strcmp(argv[*i], "--insecure") == 0) {
    ws101_options_set(o, WS101_OPT_TLS_INSECURE_SKIP_VERIFY, 1);
    return 1;
  }
  return 0;
}

static int cmd_serve(int argc, char **argv) {
  const char *host = "127.0.0.1", *cert = NULL, *key = NULL;
  int port = 8080, deflate = 1, i, rc, bound;
  server_state s;
  ws101_options *o;
  memset(&s, 0, sizeof(s));
  for (i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--host") == 0 && i + 1 < argc) {
      host = argv[++i];
    } else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
      char *end;
      long v = strtol(argv[++i], &end, 10);
      if (*end != '\0' || v < 0 || v > 65535)
        return die_usage("--port wants a number 0..65535");
      port = (int)v;
    } else if (strcmp(argv[i], "--echo") == 0) {
      s.broadcast = 0;
    } else if (strcmp(argv[i], "--broadcast") == 0) {
      s.broadcast = 1;
    } else if (strcmp(argv[i], "--no-deflate") == 0) {
      deflate = 0;
    } else if (strcmp(argv[i], "--tls-cert") == 0 && i + 1 < argc) {
      cert = argv[++i];
    } else if (strcmp(argv[i], "--tls-key") == 0 && i + 1 < argc) {
      key = argv[++i];
    } else {
      fprintf(stderr, "ws101 serve: unknown argument '%s'\n", argv[i]);
      return 2;
    }
  }
  if ((rc = ws101_loop_new(&s.loop)) != 0 ||
      (rc = ws101_options_new(&o)) != 0) {
    fprintf(stderr, "ws101: %s\n", ws101_strerror(rc));
    return 1;
  }
  ws101_options_set(o, WS101_OPT_DEFLATE, deflate);
  if ((cert == NULL) != (key == NULL))
    return die_usage("--tls-cert and --tls-key go together");
  if (cert != NULL)
    ws101_options_add_tls_cert(o, NULL, cert, key, WS101_TLS_PEM_FILES);
  rc = ws101_server_new(s.loop, o, &s.server);
  ws101_options_free(o);
  if (rc == 0) rc = ws101_server_route(s.server, "*", 0, serve_http, &s);
  if (rc == 0)
    rc = cert != NULL ? ws101_server_listen_tls(s.server, host, port)
                      : ws101_server_listen(s.server, host, port);
  if (rc != 0) {
    fprintf(stderr, "ws101: cannot listen on %s port %d: %s%s%s\n", host,
            port, ws101_strerror(rc), rc == WS101_ETLS ? ": " : "",
            rc == WS101_ETLS ? ws101_tls_last_error() : "");
    ws101_loop_free(s.loop);
    return 1;
  }
  bound = ws101_server_port(s.server);
  printf(strchr(host, ':') ? "listening on %s://[%s]:%d/\n"
                           : "listening on %s://%s:%d/\n",
         cert != NULL ? "https" : "http", host, bound);
  fflush(stdout);
  uv_signal_init(ws101_loop_uv(s.loop), &s.sigint);
  uv_signal_init(ws101_loop_uv(s.loop), &s.sigterm);
  s.sigint.data = s.sigterm.data = &s;
  uv_signal_start(&s.sigint, serve_stop, SIGINT);
  uv_signal_start(&s.sigterm, serve_stop, SIGTERM);
  ws101_loop_run(s.loop);
  ws101_loop_free(s.loop);
  free(s.clients);
  return 0;
}

/* ------------------------------------------------------------------------ */
/* connect                                                                  */
/* ------------------------------------------------------------------------ */

/* Beyond this much unsent data, stop reading stdin until the socket drains,
 * so piping a huge file does not buffer it all in memory. */
#define STDIN_HIGH_WATER (1u << 20)

typedef struct client_state {
  ws101_loop *loop;
  ws101_ws *ws; /* NULL once closed */
  int binary;
  int exit_code;
  int open;
  int stdin_done;
  /* stdin: a stream (pipe, tty, socket) or a regular file read with fs. */
  int stdin_is_file;
  union {
    uv_pipe_t pipe;
    uv_tty_t tty;
  } in;
  int in_active, in_closed;
  uv_fs_t fsreq;
  char fsbuf[64 * 1024];
  int64_t foff;
  char *line; /* partial line carried between reads */
  size_t line_len, line_cap;
  uv_signal_t sigint;
  /* Closing after stdin ends: when the replies caught up, or when quiet. */
  uint64_t sent, received;
  uint64_t wait_ms;
  uv_timer_t quiet;
  int quiet_init;
} client_state;

static void stdin_pause(client_state *s);
static void stdin_resume(client_state *s);

static void send_line(client_state *s, const char *p, size_t n) {
  int rc;
  if (n > 0 && p[n - 1] == '\r') n--; /* CRLF input from Windows tools */
  if (s->ws == NULL) return;
  rc = ws101_ws_send(s->ws, p, n, s->binary ? WS101_OP_BINARY : WS101_OP_TEXT);
  if (rc == WS101_EUTF8)
    fprintf(stderr, "ws101: skipped a line that is not valid UTF-8 "
                    "(use --binary)\n");
  else if (rc != 0)
    fprintf(stderr, "ws101: send failed: %s\n", ws101_strerror(rc));
  else
    s->sent++;
  if (ws101_ws_buffered(s->ws) > STDIN_HIGH_WATER) stdin_pause(s);
}

/* Splits input into lines, keeping an unfinished last line for later. */
static void on_input(client_state *s, const char *p, size_t n) {
  while (n > 0) {
    const char *nl = memchr(p, '\n', n);
    size_t take = nl ? (size_t)(nl - p) : n;
    if (nl != NULL && s->line_len == 0) {
      send_line(s, p, take); /* whole line in this read: no copy */
    } else {
      if (s->line_len + take > s->line_cap) {
        size_t cap = s->line_cap ? s->line_cap : 256;
        while (cap < s->line_len + take) cap *= 2;
        s->line = realloc(s->line, cap);
        if (s->line == NULL) {
          fprintf(stderr, "ws101: out of memory\n");
          exit(1);
        }
        s->line_cap = cap;
      }
      memcpy(s->line + s->line_len, p, take);
      s->line_len += take;
      if (nl != NULL) {
        send_line(s, s->line, s->line_len);
        s->line_len = 0;
      }
    }
    if (nl == NULL) break;
    p = nl + 1;
    n -= take + 1;
  }
}

static void stdin_close_cb(uv_handle_t *h) {
  client_state *s = h->data;
  s->in_closed = 1;
}

static void on_quiet(uv_timer_t *t) {
  client_state *s = t->data;
  uv_close((uv_handle_t *)&s->quiet, NULL);
  if (s->ws != NULL) ws101_ws_close(s->ws, 1000, NULL);
}

/* After stdin ended: close once the replies caught up with what we sent,
 * otherwise (re)arm the quiet timer. Closing right at EOF would race the
 * server's answers: many servers drop replies once our close arrives. */
static void maybe_close(client_state *s) {
  if (!s->stdin_done || s->ws == NULL) return;
  if (s->wait_ms == 0 || s->received >= s->sent) {
    if (s->quiet_init && !uv_is_closing((uv_handle_t *)&s->quiet))
      uv_close((uv_handle_t *)&s->quiet, NULL);
    ws101_ws_close(s->ws, 1000, NULL);
    return;
  }
  if (!s->quiet_init) {
    uv_timer_init(ws101_loop_uv(s->loop), &s->quiet);
    s->quiet.data = s;
    s->quiet_init = 1;
  }
  if (!uv_is_closing((uv_handle_t *)&s->quiet))
    uv_timer_start(&s->quiet, on_quiet, s->wait_ms, 0);
}

/* stdin is exhausted: send what is left, then close when appropriate. */
static void on_stdin_end(client_state *s) {
  if (s->stdin_done) return;
  s->stdin_done = 1;
  if (s->line_len > 0) send_line(s, s->line, s->line_len);
  s->line_len = 0;
  if (!s->stdin_is_file && !s->in_closed)
    uv_close((uv_handle_t *)&s->in, stdin_close_cb);
  maybe_close(s);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  client_state *s = h->data;
  (void)suggested;
  buf->base = s->fsbuf;
  buf->len = sizeof(s->fsbuf);
}

static void read_cb(uv_stream_t *st, ssize_t n, const uv_buf_t *buf) {
  client_state *s = st->data;
  if (n > 0) {
    on_input(s, buf->base, (size_t)n);
  } else if (n < 0) {
    if (n != UV_EOF)
      fprintf(stderr, "ws101: reading stdin: %s\n", uv_strerror((int)n));
    on_stdin_end(s);
  }
}

static void fs_read_cb(uv_fs_t *req) {
  client_state *s = req->data;
  ssize_t n = req->result;
  uv_fs_req_cleanup(req);
  s->in_active = 0;
  if (n > 0) {
    s->foff += n;
    on_input(s, s->fsbuf, (size_t)n);
    if (!s->stdin_done) stdin_resume(s);
    return;
  }
  if (n < 0) fprintf(stderr, "ws101: reading stdin: %s\n", uv_strerror((int)n));
  on_stdin_end(s);
}

static int paused;

static void stdin_pause(client_state *s) {
  paused = 1;
  if (!s->stdin_is_file && s->in_active) {
    uv_read_stop((uv_stream_t *)&s->in);
    s->in_active = 0;
  }
}

static void stdin_resume(client_state *s) {
  if (s->stdin_done || s->ws == NULL) return;
  if (ws101_ws_buffered(s->ws) > STDIN_HIGH_WATER) {
    paused = 1;
    return;
  }
  paused = 0;
  if (s->in_active) return;
  if (s->stdin_is_file) {
    uv_buf_t b = uv_buf_init(s->fsbuf, sizeof(s->fsbuf));
    s->fsreq.data = s;
    if (uv_fs_read(ws101_loop_uv(s->loop), &s->fsreq, 0, &b, 1, s->foff,
                   fs_read_cb) == 0)
      s->in_active = 1;
    else
      on_stdin_end(s);
  } else if (uv_read_start((uv_stream_t *)&s->in, alloc_cb, read_cb) == 0) {
    s->in_active = 1;
  } else {
    on_stdin_end(s);
  }
}

static int stdin_open(client_state *s) {
  uv_loop_t *uv = ws101_loop_uv(s->loop);
  uv_handle_type t = uv_guess_handle(0);
  int rc;
  if (t == UV_FILE) {
    s->stdin_is_file = 1;
    return 0;
  }
  if (t == UV_TTY)
    rc = uv_tty_init(uv, &s->in.tty, 0, 1);
  else {
    rc = uv_pipe_init(uv, &s->in.pipe, 0);
    if (rc == 0) rc = uv_pipe_open(&s->in.pipe, 0);
  }
  if (rc != 0) {
    fprintf(stderr, "ws101: cannot read stdin: %s\n", uv_strerror(rc));
    return -1;
  }
  s->in.pipe.data = s;
  return 0;
}

static void on_sigint(uv_signal_t *sig, int signum) {
  client_state *s = sig->data;
  (void)signum;
  uv_close((uv_handle_t *)&s->sigint, NULL);
  stdin_pause(s);
  on_stdin_end(s);
}

static void client_ws(ws101_ws *ws, int event, const char *data, size_t len,
                      int arg, void *ud) {
  client_state *s = ud;
  switch (event) {
    case WS101_WS_OPEN:
      s->open = 1;
      stdin_resume(s);
      break;
    case WS101_WS_TEXT:
    case WS101_WS_BINARY:
      fwrite(data, 1, len, stdout);
      fputc('\n', stdout);
      fflush(stdout);
      s->received++;
      maybe_close(s);
      break;
    case WS101_WS_DRAIN:
      if (paused) stdin_resume(s);
      break;
    case WS101_WS_ERROR:
      fprintf(stderr, "ws101: %.*s (%s)\n", (int)len, data,
              ws101_err_name(arg));
      s->exit_code = 1;
      break;
    case WS101_WS_CLOSE:
      s->ws = NULL;
      if (s->exit_code == 0 && arg != 1000 && arg != 1005) {
        fprintf(stderr, "ws101: connection closed with code %d%s%.*s\n", arg,
                len ? ": " : "", (int)len, data);
        s->exit_code = 1;
      } else if (s->exit_code == 0 && !s->stdin_done) {
        /* The server ended the session first: a normal end for us too. */
        fprintf(stderr, "ws101: server closed the connection (%d)\n", arg);
      }
      /* Nothing left to send to: stop reading stdin so the loop ends. */
      s->stdin_done = 1;
      if (!s->stdin_is_file && !s->in_closed &&
          !uv_is_closing((uv_handle_t *)&s->in))
        uv_close((uv_handle_t *)&s->in, stdin_close_cb);
      if (!uv_is_closing((uv_handle_t *)&s->sigint))
        uv_close((uv_handle_t *)&s->sigint, NULL);
      if (s->quiet_init && !uv_is_closing((uv_handle_t *)&s->quiet))
        uv_close((uv_handle_t *)&s->quiet, NULL);
      (void)ws;
      break;
  }
}

static int cmd_connect(int argc, char **argv) {
  client_state *s = calloc(1, sizeof(*s));
  ws101_options *o;
  const char *url = NULL;
  int i, rc, code;
  if (s == NULL || ws101_options_new(&o) != 0) return 1;
  s->wait_ms = 1000;
  for (i = 0; i < argc; i++) {
    if (strcmp(argv[i], "-H") == 0 && i + 1 < argc) {
      if (add_header_arg(o, argv[++i]) != 0) return 2;
    } else if (strcmp(argv[i], "--protocol") == 0 && i + 1 < argc) {
      rc = ws101_options_add_subprotocol(o, argv[++i]);
      if (rc != 0) {
        fprintf(stderr, "ws101: bad subprotocol '%s': %s\n", argv[i],
                ws101_strerror(rc));
        return 2;
      }
    } else if (tls_client_arg(o, argc, argv, &i)) {
    } else if (strcmp(argv[i], "--no-deflate") == 0) {
      ws101_options_set(o, WS101_OPT_DEFLATE, 0);
    } else if (strcmp(argv[i], "--http2") == 0) {
      /* RFC 8441 when the server allows it, else the HTTP/1.1 upgrade. */
      ws101_options_set(o, WS101_OPT_CLIENT_HTTP2, 1);
    } else if (strcmp(argv[i], "--binary") == 0) {
      s->binary = 1;
    } else if (strcmp(argv[i], "--wait") == 0 && i + 1 < argc) {
      char *end;
      long v = strtol(argv[++i], &end, 10);
      if (*end != '\0' || v < 0) return die_usage("--wait wants milliseconds");
      s->wait_ms = (uint64_t)v;
    } else if (argv[i][0] == '-' || url != NULL) {
      fprintf(stderr, "ws101 connect: unexpected argument '%s'\n", argv[i]);
      return 2;
    } else {
      url = argv[i];
    }
  }
  if (url == NULL) return die_usage("connect needs a URL");
  if ((rc = ws101_loop_new(&s->loop)) != 0) {
    fprintf(stderr, "ws101: %s\n", ws101_strerror(rc));
    return 1;
  }
  if (stdin_open(s) != 0) return 1;
  rc = ws101_ws_connect(s->loop, url, o, client_ws, s, &s->ws);
  ws101_options_free(o);
  if (rc != 0) {
    fprintf(stderr, "ws101: cannot connect to '%s': %s\n", url,
            ws101_strerror(rc));
    if (!s->stdin_is_file) uv_close((uv_handle_t *)&s->in, NULL);
    ws101_loop_free(s->loop);
    return 1;
  }
  uv_signal_init(ws101_loop_uv(s->loop), &s->sigint);
  s->sigint.data = s;
  uv_signal_start(&s->sigint, on_sigint, SIGINT);
  uv_unref((uv_handle_t *)&s->sigint);
  ws101_loop_run(s->loop);
  ws101_loop_free(s->loop);
  code = s->exit_code;
  free(s->line);
  free(s);
  return code;
}

/* ------------------------------------------------------------------------ */
/* get                                                                      */
/* ------------------------------------------------------------------------ */

static int get_exit = 1;

static void get_cb(ws101_fetch *f, int event, const char *data, size_t len,
                   int arg, void *ud) {
  (void)ud;
  switch (event) {
    case WS101_FETCH_BODY:
      fwrite(data, 1, len, stdout);
      break;
    case WS101_FETCH_DONE:
      fflush(stdout);
      if (ws101_fetch_status(f) >= 400) {
        fprintf(stderr, "ws101: server answered %d\n", ws101_fetch_status(f));
        get_exit = 1;
      } else {
        get_exit = 0;
      }
      break;
    case WS101_FETCH_ERROR:
      fflush(stdout);
      fprintf(stderr, "ws101: %.*s (%s)\n", (int)len, data,
              ws101_err_name(arg));
      get_exit = 1;
      break;
  }
}

static int cmd_get(int argc, char **argv) {
  ws101_loop *loop;
  ws101_options *o;
  ws101_fetch *f;
  const char *url = NULL;
  int i, rc;
  if (ws101_options_new(&o) != 0) return 1;
  for (i = 0; i < argc; i++) {
    if (strcmp(argv[i], "-H") == 0 && i + 1 < argc) {
      if (add_header_arg(o, argv[++i]) != 0) return 2;
    } else if (strcmp(argv[i], "--http2-prior-knowledge") == 0) {
      ws101_options_set(o, WS101_OPT_CLIENT_HTTP2, 1);
    } else if (strcmp(argv[i], "--http2") == 0) {
      ws101_options_set(o, WS101_OPT_CLIENT_HTTP2, 2);
    } else if (tls_client_arg(o, argc, argv, &i)) {
    } else if (argv[i][0] == '-' || url != NULL) {
      fprintf(stderr, "ws101 get: unexpected argument '%s'\n", argv[i]);
      return 2;
    } else {
      url = argv[i];
    }
  }
  if (url == NULL) return die_usage("get needs a URL");
  if ((rc = ws101_loop_new(&loop)) != 0) return 1;
  rc = ws101_fetch_new(loop, "GET", url, o, get_cb, NULL, &f);
  ws101_options_free(o);
  if (rc == 0) rc = ws101_fetch_send(f, NULL, 0);
  if (rc != 0) {
    fprintf(stderr, "ws101: cannot fetch '%s': %s\n", url, ws101_strerror(rc));
    ws101_loop_free(loop);
    return 1;
  }
  ws101_loop_run(loop);
  ws101_loop_free(loop);
  return get_exit;
}

int main(int argc, char **argv) {
  if (argc < 2) return die_usage("missing command");
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
      strcmp(argv[1], "help") == 0) {
    fputs(usage, stdout);
    return 0;
  }
  if (strcmp(argv[1], "--version") == 0) {
    printf("ws101 %s\n", ws101_version_string());
    return 0;
  }
  /* A peer vanishing must be an error code, not a SIGPIPE death. */
  signal(SIGPIPE, SIG_IGN);
  if (strcmp(argv[1], "serve") == 0) return cmd_serve(argc - 2, argv + 2);
  if (strcmp(argv[1], "connect") == 0) return cmd_connect(argc - 2, argv + 2);
  if (strcmp(argv[1], "get") == 0) return cmd_get(argc - 2, argv + 2);
  return die_usage("unknown command");
}

/* serve.c - `ws101 serve`: a WebSocket server on every path, in one of four
 * modes: echo, broadcast, interactive (like `wscat -l`: what clients send
 * is printed with their connection id, stdin lines go to every client or
 * to one) and exec (a process per connection, see exec.c).
 *
 * Every send is checked (cli_serve_send): nothing the library refuses is
 * dropped silently. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "cli.h"

const char cli_serve_usage[] =
    "usage: ws101 serve [options]            (also: ws101 -l PORT, interactive)\n"
    "\n"
    "Serves WebSocket connections on every path; plain HTTP requests get a\n"
    "short text page. Prints \"listening on http://HOST:PORT/\" (https://\n"
    "with --tls-cert) once ready, and stops on SIGINT/SIGTERM (closing\n"
    "every connection with 1001).\n"
    "\n"
    "  -p, --port N           port (default 8080; 0 picks a free one)\n"
    "      --host H           address to listen on (default 127.0.0.1)\n"
    "      --echo             send each message back to its sender (default)\n"
    "      --broadcast        send each message to every client\n"
    "  -i, --interactive      print each message as \"[ID] message\"; each\n"
    "                         stdin line goes to every client, or to one as\n"
    "                         \"@ID message\" (\"@@\" starts a line with \"@\")\n"
    "      --exec CMD         run `sh -c CMD` per connection: messages go to\n"
    "                         its stdin, one per line; each line it prints is\n"
    "                         sent back; its exit closes the connection (1000\n"
    "                         for status 0, else 1011)\n"
    "  -s, --protocol P       accept subprotocol P (repeatable, in order of\n"
    "                         preference)\n"
    "  -o, --origin ORIGIN    accept only these Origins (repeatable; 403 else)\n"
    "      --no-deflate       disable permessage-deflate\n"
    "      --max-message SIZE     largest message accepted (default 16M)\n"
    "      --max-backpressure SIZE  most bytes queued per client before a\n"
    "                         send is refused (default 16M); a refused send\n"
    "                         closes that client with 1008\n"
    "      --ping-interval DURATION  ping idle clients (a bare number is\n"
    "                         seconds)\n"
    "      --tls-cert FILE --tls-key FILE  serve https:// and wss:// with this\n"
    "                         certificate chain (PEM) and key\n"
    "      --workers N        N worker threads, each with its own SO_REUSEPORT\n"
    "                         listener (echo and broadcast modes, plain TCP);\n"
    "                         --broadcast reaches the clients of every worker\n"
    "  -v, --verbose          log each connection's open and close on stderr\n"
    "  -h, --help             this text\n"
    "\n"
    "Logs go to stderr as \"ws101: [ID] ...\"; exits 0 when stopped by a\n"
    "signal, 1 if it cannot listen, 2 on a usage error.\n";

enum {
  O_PORT = 1, O_HOST, O_ECHO, O_BROADCAST, O_INTERACTIVE, O_EXEC, O_PROTOCOL,
  O_ORIGIN, O_NO_DEFLATE, O_MAX_MESSAGE, O_MAX_BACKPRESSURE, O_PING,
  O_VERBOSE, O_HELP, O_TLS_CERT, O_TLS_KEY, O_WORKERS
};

static const cli_opt opts[] = {
    {O_PORT, "--port", "-p", "N"},
    {O_HOST, "--host", NULL, "H"},
    {O_ECHO, "--echo", NULL, NULL},
    {O_BROADCAST, "--broadcast", NULL, NULL},
    {O_INTERACTIVE, "--interactive", "-i", NULL},
    {O_EXEC, "--exec", NULL, "CMD"},
    {O_PROTOCOL, "--protocol", "-s", "P"},
    {O_ORIGIN, "--origin", "-o", "ORIGIN"},
    {O_NO_DEFLATE, "--no-deflate", NULL, NULL},
    {O_MAX_MESSAGE, "--max-message", NULL, "SIZE"},
    {O_MAX_BACKPRESSURE, "--max-backpressure", NULL, "SIZE"},
    {O_PING, "--ping-interval", NULL, "DURATION"},
    {O_VERBOSE, "--verbose", "-v", NULL},
    {O_HELP, "--help", "-h", NULL},
    {O_TLS_CERT, "--tls-cert", NULL, "FILE"},
    {O_TLS_KEY, "--tls-key", NULL, "FILE"},
    {O_WORKERS, "--workers", NULL, "N"},
    {0, NULL, NULL, NULL}};

enum { M_ECHO, M_BROADCAST, M_INTERACTIVE, M_EXEC };

/* The pub/sub topic --broadcast uses across --workers. */
#define BROADCAST_TOPIC "ws101-serve"

typedef struct peer {
  unsigned id;
  ws101_ws *ws;
  cli_exec *exec;
  struct server *srv;
} peer;

typedef struct server {
  ws101_loop *loop;
  ws101_server *server;
  int mode, verbose;
  int nworkers; /* --workers N; 0: one loop on this thread */
  const char *exec_cmd;
  const char *protocols[16];
  size_t nprotocols;
  peer **peers; /* open connections, in id order */
  size_t npeers, cap;
  unsigned next_id;
  cli_input *in; /* interactive mode */
  cli_lines lines;
  uv_signal_t sigint, sigterm;
} server;

int cli_serve_check(ws101_ws *ws, unsigned id, size_t len, int rc) {
  int code;
  if (rc == 0 || rc == WS101_ECLOSED) return rc; /* closing: CLOSE follows */
  code = rc == WS101_EBACKPRESSURE ? 1008 : 1011;
  fprintf(stderr,
          "ws101: [%u] send of %zu bytes refused: %s (%s); closing with %d\n",
          id, len, ws101_strerror(rc), ws101_err_name(rc), code);
  ws101_ws_close(ws, code,
                 code == 1008 ? "send buffer limit reached" : "send failed");
  return rc;
}

int cli_serve_send(ws101_ws *ws, unsigned id, const char *data, size_t len,
                   int opcode) {
  return cli_serve_check(ws, id, len, ws101_ws_send(ws, data, len, opcode));
}

static peer *find_peer(server *s, unsigned id) {
  size_t i;
  for (i = 0; i < s->npeers; i++)
    if (s->peers[i]->id == id) return s->peers[i];
  return NULL;
}

static void remove_peer(server *s, peer *p) {
  size_t i;
  for (i = 0; i < s->npeers; i++) {
    if (s->peers[i] == p) {
      /* Keep id order: interactive output and "@ID" stay predictable. */
      memmove(&s->peers[i], &s->peers[i + 1],
              (s->npeers - i - 1) * sizeof(*s->peers));
      s->npeers--;
      return;
    }
  }
}

static void print_message(peer *p, const char *data, size_t len) {
  printf("[%u] ", p->id);
  fwrite(data, 1, len, stdout);
  fputc('\n', stdout);
  fflush(stdout);
}

static void on_ws(ws101_ws *ws, int event, const char *data, size_t len,
                  int arg, void *ud) {
  peer *p = ud;
  server *s = p->srv;
  size_t i;
  switch (event) {
    case WS101_WS_OPEN:
      if (s->verbose || s->mode == M_INTERACTIVE)
        fprintf(stderr, "ws101: [%u] open from %s on %s%s%s\n", p->id,
                ws101_ws_remote_addr(ws), ws101_ws_path(ws),
                *ws101_ws_subprotocol(ws) ? ", subprotocol " : "",
                ws101_ws_subprotocol(ws));
      if (s->nworkers > 0 && s->mode == M_BROADCAST &&
          ws101_ws_subscribe(ws, BROADCAST_TOPIC) < 0)
        ws101_ws_close(ws, 1011, "cannot subscribe");
      if (s->mode == M_EXEC &&
          cli_exec_start(ws, p->id, s->exec_cmd, s->verbose, &p->exec) != 0)
        ws101_ws_close(ws, 1011, "cannot start the command");
      break;
    case WS101_WS_TEXT:
    case WS101_WS_BINARY: {
      int op = event == WS101_WS_TEXT ? WS101_OP_TEXT : WS101_OP_BINARY;
      switch (s->mode) {
        case M_ECHO:
          cli_serve_send(ws, p->id, data, len, op);
          break;
        case M_BROADCAST:
          if (s->nworkers > 0) {
            /* Every worker's clients are subscribed: one publish reaches
             * them all, framed once. */
            int rc = ws101_server_publish(s->server, BROADCAST_TOPIC, data,
                                          len, op);
            if (rc < 0)
              fprintf(stderr, "ws101: [%u] broadcast failed: %s\n", p->id,
                      ws101_strerror(rc));
            break;
          }
          for (i = 0; i < s->npeers; i++)
            cli_serve_send(s->peers[i]->ws, s->peers[i]->id, data, len, op);
          break;
        case M_INTERACTIVE:
          print_message(p, data, len);
          break;
        case M_EXEC:
          if (p->exec != NULL) cli_exec_message(p->exec, data, len);
          break;
      }
      break;
    }
    case WS101_WS_DRAIN:
      if (p->exec != NULL) cli_exec_drain(p->exec);
      break;
    case WS101_WS_CLOSE:
      if (s->verbose || s->mode == M_INTERACTIVE)
        fprintf(stderr, "ws101: [%u] closed with %d%s%.*s\n", p->id, arg,
                len ? ": " : "", (int)len, data);
      if (p->exec != NULL) cli_exec_closed(p->exec);
      remove_peer(s, p);
      free(p);
      break;
  }
}

/* The first of our subprotocols (in our order) that the client offered. */
static const char *pick_protocol(server *s, const char *offered) {
  size_t i;
  if (offered == NULL) return NULL;
  for (i = 0; i < s->nprotocols; i++) {
    size_t n = strlen(s->protocols[i]);
    const char *q = offered;
    while (*q) {
      const char *end;
      while (*q == ' ' || *q == '\t' || *q == ',') q++;
      end = q;
      while (*end && *end != ',' && *end != ' ' && *end != '\t') end++;
      if ((size_t)(end - q) == n && strncmp(q, s->protocols[i], n) == 0)
        return s->protocols[i];
      q = end;
    }
  }
  return NULL;
}

static void on_http(ws101_req *req, void *ud) {
  static const char page[] =
      "ws101 server: connect with a WebSocket client, e.g.\n"
      "  ws101 connect ws://HOST:PORT/\n";
  server *s = ud;
  peer *p;
  ws101_ws *ws;
  int rc;
  if (!ws101_req_is_websocket(req)) {
    ws101_req_respond(req, 200, "text/plain; charset=utf-8", page,
                      sizeof(page) - 1);
    return;
  }
  if (s->npeers == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 16;
    peer **np = realloc(s->peers, cap * sizeof(*np));
    if (np == NULL) {
      ws101_req_respond(req, 503, "text/plain", "out of memory\n", 14);
      return;
    }
    s->peers = np;
    s->cap = cap;
  }
  p = calloc(1, sizeof(*p));
  if (p == NULL) {
    ws101_req_respond(req, 503, "text/plain", "out of memory\n", 14);
    return;
  }
  p->srv = s;
  p->id = s->next_id + 1;
  rc = ws101_req_accept_websocket(
      req, pick_protocol(s, ws101_req_ws_protocols(req)), on_ws, p, &ws);
  if (rc != 0) {
    /* A bad upgrade was already answered (400/403/426); log why. */
    if (s->verbose || s->mode == M_INTERACTIVE)
      fprintf(stderr, "ws101: refused an upgrade from %s: %s\n",
              ws101_req_remote_addr(req), ws101_strerror(rc));
    free(p);
    return;
  }
  s->next_id++;
  p->ws = ws;
  s->peers[s->npeers++] = p;
}

/* ------------------------------------------------------------------------ */
/* Interactive mode: stdin lines to clients                                 */

static int on_line(const char *line, size_t len, void *ud) {
  server *s = ud;
  peer *to = NULL;
  size_t i;
  if (len > 0 && line[0] == '@') {
    if (len > 1 && line[1] == '@') {
      line++, len--; /* "@@x" sends "@x" to everyone */
    } else {
      char *end;
      unsigned long id = strtoul(line + 1, &end, 10);
      if (end == line + 1 || (end < line + len && *end != ' ')) {
        fprintf(stderr, "ws101: a line starting with '@' needs a connection "
                        "id (\"@ID message\"); \"@@\" sends a literal '@'\n");
        return 0;
      }
      to = find_peer(s, (unsigned)id);
      if (to == NULL) {
        fprintf(stderr, "ws101: no connection [%lu]; line not sent\n", id);
        return 0;
      }
      len -= (size_t)(end - line);
      line = end;
      if (len > 0) line++, len--; /* the space after the id */
    }
  }
  if (to == NULL && s->npeers == 0) {
    fprintf(stderr, "ws101: no client connected; line not sent\n");
    return 0;
  }
  for (i = 0; i < s->npeers; i++) {
    peer *p = s->peers[i];
    int rc;
    if (to != NULL && p != to) continue;
    rc = ws101_ws_send(p->ws, line, len, WS101_OP_TEXT);
    if (rc == WS101_EUTF8) {
      /* Our operator's input, not the client's fault: say so, keep it. */
      fprintf(stderr, "ws101: line is not valid UTF-8; not sent\n");
      return 0;
    }
    cli_serve_check(p->ws, p->id, len, rc);
  }
  return 0;
}

static void on_stdin(cli_input *in, const char *data, size_t len, void *ud) {
  server *s = ud;
  (void)in;
  if (data != NULL) {
    if (cli_lines_feed(&s->lines, data, len, on_line, s) != 0)
      fprintf(stderr, "ws101: out of memory buffering a line\n");
    return;
  }
  cli_lines_finish(&s->lines, on_line, s);
  cli_input_close(s->in);
  s->in = NULL;
  fprintf(stderr, "ws101: stdin ended; still serving (SIGINT stops)\n");
}

/* ------------------------------------------------------------------------ */

static void on_signal(uv_signal_t *sig, int signum) {
  server *s = sig->data;
  (void)signum;
  uv_close((uv_handle_t *)&s->sigint, NULL);
  uv_close((uv_handle_t *)&s->sigterm, NULL);
  if (s->in != NULL) cli_input_close(s->in);
  s->in = NULL;
  if (s->server != NULL) ws101_server_close(s->server, NULL, NULL);
  s->server = NULL;
}

static int parse(server *s, ws101_options *o, const char **host, int *port,
                 const char **cert, const char **key, int argc, char **argv) {
  cli_parser p;
  const char *v;
  uint64_t n;
  int id;
  cli_parser_init(&p, "serve", opts, argc, argv);
  while ((id = cli_next(&p, &v)) != CLI_END) {
    switch (id) {
      case CLI_BAD:
        return CLI_EXIT_USAGE;
      case CLI_POSITIONAL:
        return cli_usage_error("serve", "unexpected argument", v);
      case O_HELP:
        fputs(cli_serve_usage, stdout);
        return -1;
      case O_PORT:
        if (cli_parse_size("serve", "--port", v, 65535, &n) != 0)
          return CLI_EXIT_USAGE;
        *port = (int)n;
        break;
      case O_HOST:
        *host = v;
        break;
      case O_ECHO:
        s->mode = M_ECHO;
        break;
      case O_BROADCAST:
        s->mode = M_BROADCAST;
        break;
      case O_INTERACTIVE:
        s->mode = M_INTERACTIVE;
        break;
      case O_EXEC:
        s->mode = M_EXEC;
        s->exec_cmd = v;
        break;
      case O_PROTOCOL:
        if (s->nprotocols == sizeof(s->protocols) / sizeof(s->protocols[0]) ||
            ws101_options_add_subprotocol(o, v) != 0)
          return cli_usage_error("serve", "bad or too many --protocol", v);
        s->protocols[s->nprotocols++] = v;
        break;
      case O_ORIGIN:
        if (ws101_options_add_origin(o, v) != 0)
          return cli_usage_error("serve", "bad --origin", v);
        break;
      case O_NO_DEFLATE:
        ws101_options_set(o, WS101_OPT_DEFLATE, 0);
        break;
      case O_MAX_MESSAGE:
        if (cli_parse_size("serve", "--max-message", v, UINT64_MAX / 2, &n) ||
            cli_set_option(o, "serve", "--max-message",
                           WS101_OPT_WS_MAX_MESSAGE, (int64_t)n))
          return CLI_EXIT_USAGE;
        break;
      case O_MAX_BACKPRESSURE:
        if (cli_parse_size("serve", "--max-backpressure", v, UINT64_MAX / 2,
                           &n) ||
            cli_set_option(o, "serve", "--max-backpressure",
                           WS101_OPT_WS_MAX_BACKPRESSURE, (int64_t)n))
          return CLI_EXIT_USAGE;
        break;
      case O_PING:
        if (cli_parse_ms("serve", "--ping-interval", v, 1000, &n) ||
            cli_set_option(o, "serve", "--ping-interval",
                           WS101_OPT_WS_PING_INTERVAL_MS, (int64_t)n))
          return CLI_EXIT_USAGE;
        break;
      case O_VERBOSE:
        s->verbose = 1;
        break;
      case O_TLS_CERT:
        *cert = v;
        break;
      case O_TLS_KEY:
        *key = v;
        break;
      case O_WORKERS:
        if (cli_parse_size("serve", "--workers", v, 256, &n) != 0 || n < 1)
          return cli_usage_error("serve", "--workers takes 1..256", v);
        s->nworkers = (int)n;
        break;
    }
  }
  if (s->nworkers > 0 && (s->mode == M_INTERACTIVE || s->mode == M_EXEC ||
                          *cert != NULL))
    return cli_usage_error(
        "serve", "--workers goes with --echo or --broadcast over plain TCP",
        NULL);
  if ((*cert == NULL) != (*key == NULL))
    return cli_usage_error("serve", "--tls-cert and --tls-key go together",
                           NULL);
  if (*cert != NULL &&
      ws101_options_add_tls_cert(o, NULL, *cert, *key, WS101_TLS_PEM_FILES))
    return cli_usage_error("serve", "bad --tls-cert/--tls-key", NULL);
  return 0;
}

/* ------------------------------------------------------------------------ */
/* --workers N: one loop and server per thread, the same routes on each     */

static server *worker_state[256];

static int worker_setup(ws101_server *srv, int index, void *ud) {
  server *w = malloc(sizeof(*w));
  if (w == NULL) return WS101_ENOMEM;
  *w = *(const server *)ud; /* mode, verbosity, subprotocols; no peers */
  w->loop = ws101_server_loop(srv);
  w->server = srv;
  /* Connection ids say which worker: worker i counts from i * 1000000. */
  w->next_id = (unsigned)index * 1000000u;
  worker_state[index] = w;
  return ws101_server_route(srv, "*", 0, on_http, w);
}

static int serve_workers(server *tmpl, ws101_options *o, const char *host,
                         int port) {
  ws101_workers *w = NULL;
  sigset_t set;
  int rc, sig, i, n = tmpl->nworkers;
  /* A client too slow for a broadcast is closed (1008), never skipped
   * silently. */
  if (tmpl->mode == M_BROADCAST)
    ws101_options_set(o, WS101_OPT_WS_BACKPRESSURE_POLICY,
                      WS101_BACKPRESSURE_CLOSE);
  /* Signals go to this thread's sigwait, not to a worker. */
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  rc = ws101_workers_new(n, o, worker_setup, tmpl, &w);
  ws101_options_free(o);
  if (rc == 0) rc = ws101_workers_listen(w, host, port);
  if (rc != 0) {
    fprintf(stderr, "ws101: cannot listen on %s port %d with %d workers: %s\n",
            host, port, n, ws101_strerror(rc));
    if (w != NULL) ws101_workers_free(w);
    for (i = 0; i < n; i++) free(worker_state[i]);
    return CLI_EXIT_FAIL;
  }
  printf(strchr(host, ':') ? "listening on http://[%s]:%d/\n"
                           : "listening on http://%s:%d/\n",
         host, ws101_workers_port(w));
  fflush(stdout);
  if ((rc = ws101_workers_start(w)) == 0) {
    sigwait(&set, &sig);
    ws101_workers_stop(w);
  } else {
    fprintf(stderr, "ws101: cannot start the workers: %s\n",
            ws101_strerror(rc));
  }
  ws101_workers_free(w);
  for (i = 0; i < n; i++) {
    if (worker_state[i] == NULL) continue;
    free(worker_state[i]->peers);
    free(worker_state[i]);
    worker_state[i] = NULL;
  }
  return rc == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

int cli_serve(int argc, char **argv, int interactive) {
  const char *host = "127.0.0.1", *cert = NULL, *key = NULL;
  int port = 8080, rc;
  server s;
  ws101_options *o;
  memset(&s, 0, sizeof(s));
  s.mode = interactive ? M_INTERACTIVE : M_ECHO;
  if (ws101_options_new(&o) != 0) {
    fprintf(stderr, "ws101: out of memory\n");
    return CLI_EXIT_FAIL;
  }
  rc = parse(&s, o, &host, &port, &cert, &key, argc, argv);
  if (rc != 0) {
    ws101_options_free(o);
    return rc < 0 ? CLI_EXIT_OK : rc;
  }
  if (s.nworkers > 0) return serve_workers(&s, o, host, port);
  if ((rc = ws101_loop_new(&s.loop)) != 0) {
    fprintf(stderr, "ws101: %s\n", ws101_strerror(rc));
    ws101_options_free(o);
    return CLI_EXIT_FAIL;
  }
  rc = ws101_server_new(s.loop, o, &s.server);
  ws101_options_free(o);
  if (rc == 0) rc = ws101_server_route(s.server, "*", 0, on_http, &s);
  if (rc == 0)
    rc = cert != NULL ? ws101_server_listen_tls(s.server, host, port)
                      : ws101_server_listen(s.server, host, port);
  if (rc != 0) {
    fprintf(stderr, "ws101: cannot listen on %s port %d: %s%s%s\n", host,
            port, ws101_strerror(rc), rc == WS101_ETLS ? ": " : "",
            rc == WS101_ETLS ? ws101_tls_last_error() : "");
    ws101_loop_free(s.loop);
    return CLI_EXIT_FAIL;
  }
  if (s.mode == M_INTERACTIVE) {
    if (cli_input_open(s.loop, on_stdin, &s, &s.in) != 0) {
      ws101_loop_free(s.loop);
      return CLI_EXIT_FAIL;
    }
    cli_input_resume(s.in);
  }
  printf(strchr(host, ':') ? "listening on %s://[%s]:%d/\n"
                           : "listening on %s://%s:%d/\n",
         cert != NULL ? "https" : "http", host, ws101_server_port(s.server));
  fflush(stdout);
  uv_signal_init(ws101_loop_uv(s.loop), &s.sigint);
  uv_signal_init(ws101_loop_uv(s.loop), &s.sigterm);
  s.sigint.data = s.sigterm.data = &s;
  uv_signal_start(&s.sigint, on_signal, SIGINT);
  uv_signal_start(&s.sigterm, on_signal, SIGTERM);
  ws101_loop_run(s.loop);
  ws101_loop_free(s.loop);
  cli_lines_free(&s.lines);
  free(s.peers);
  return CLI_EXIT_OK;
}

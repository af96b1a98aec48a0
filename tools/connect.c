/* connect.c - `ws101 connect URL`: a WebSocket client on stdin/stdout.
 *
 * Sends stdin (a text message per line, or --binary as one message or
 * fixed-size chunks), prints every message received, and ends the way
 * websocat and wscat users expect: after stdin ends it keeps printing what
 * the server pushes until the server closes, until --wait passes without a
 * message, or (-n) never on its own. The exit status says how it ended. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "cli.h"

const char cli_connect_usage[] =
    "usage: ws101 connect URL [options]      (also: ws101 URL, ws101 -c URL)\n"
    "\n"
    "Opens a WebSocket to URL (ws://host[:port]/path, or wss:// for TLS),\n"
    "sends each line of stdin as a text message and prints each message\n"
    "received on its own line. When stdin ends, it keeps printing what the\n"
    "server sends until the server closes, or until --wait passes without a\n"
    "message; then it closes with 1000 and exits once the close handshake\n"
    "is done.\n"
    "\n"
    "  -H, --header 'Name: value'  add a request header (repeatable)\n"
    "  -s, --protocol P            offer subprotocol P (repeatable)\n"
    "  -o, --origin ORIGIN         send Origin: ORIGIN\n"
    "      --no-deflate            do not offer permessage-deflate\n"
    "  -b, --binary                send all of stdin as one binary message\n"
    "      --chunk N               with --binary: one binary message per N\n"
    "                              bytes of stdin (k/M suffixes allowed)\n"
    "  -1, --one-message           send one message (the first line, or with\n"
    "                              --binary all of stdin), print one reply,\n"
    "                              close\n"
    "  -n, --no-close              do not close when stdin ends: run until the\n"
    "                              server closes (or Ctrl-C)\n"
    "  -w, --wait DURATION         after stdin ends, close once no message came\n"
    "                              for DURATION (default 1s; 0 closes at once;\n"
    "                              a bare number is milliseconds)\n"
    "      --max-messages N        close after receiving N messages\n"
    "      --ping-interval DURATION  ping when idle this long (a bare number\n"
    "                              is seconds)\n"
    "      --max-message SIZE      largest message accepted (default 16M)\n"
    "      --http2                 open the WebSocket on an HTTP/2 stream (RFC\n"
    "                              8441; prior knowledge on ws://, ALPN h2 on\n"
    "                              wss://) when the server allows it, else\n"
    "                              the HTTP/1.1 upgrade (-v: HTTP 200 means\n"
    "                              HTTP/2, 101 the upgrade)\n"
    "  -v, --verbose               show the handshake, pings, pongs and the\n"
    "                              close code and reason on stderr\n"
    "      --cafile FILE           wss://: trust the CAs in FILE instead of\n"
    "                              the system store\n"
    "  -k, --insecure              wss://: do not verify the server's\n"
    "                              certificate (tests only)\n"
    "  -h, --help                  this text\n"
    "\n"
    "Exit status: 0 normal close (1000, 1001 or no code), 1 another failure\n"
    "(a send refused, stdin or stdout failing), 2 usage, 3 could not connect\n"
    "(refused, DNS, timeout, TLS), 4 handshake refused (the server answered\n"
    "something other than 101), 5 connection lost without a close (1006),\n"
    "6 closed with an error code (1002, 1008, 1011, ...).\n";

enum {
  O_HEADER = 1, O_PROTOCOL, O_ORIGIN, O_NO_DEFLATE, O_BINARY, O_CHUNK,
  O_ONE, O_NO_CLOSE, O_WAIT, O_MAX_MESSAGES, O_PING, O_MAX_MESSAGE,
  O_VERBOSE, O_HELP, O_HTTP2, O_CAFILE, O_INSECURE
};

static const cli_opt opts[] = {
    {O_HEADER, "--header", "-H", "'Name: value'"},
    {O_PROTOCOL, "--protocol", "-s", "P"},
    {O_ORIGIN, "--origin", "-o", "ORIGIN"},
    {O_NO_DEFLATE, "--no-deflate", NULL, NULL},
    {O_BINARY, "--binary", "-b", NULL},
    {O_CHUNK, "--chunk", NULL, "N"},
    {O_ONE, "--one-message", "-1", NULL},
    {O_NO_CLOSE, "--no-close", "-n", NULL},
    {O_WAIT, "--wait", "-w", "DURATION"},
    {O_MAX_MESSAGES, "--max-messages", NULL, "N"},
    {O_PING, "--ping-interval", NULL, "DURATION"},
    {O_MAX_MESSAGE, "--max-message", NULL, "SIZE"},
    {O_VERBOSE, "--verbose", "-v", NULL},
    {O_HELP, "--help", "-h", NULL},
    {O_HTTP2, "--http2", NULL, NULL},
    CLI_TLS_CLIENT_OPTS(O_CAFILE, O_INSECURE),
    {0, NULL, NULL, NULL}};

typedef struct client {
  ws101_loop *loop;
  ws101_ws *ws; /* NULL once closed */
  cli_input *in; /* NULL once stdin is done */
  cli_lines lines;
  ws101_timer *quiet; /* --wait after stdin ended */
  uv_signal_t sigint;
  /* settings */
  const char *url;
  int binary, one_message, no_close, verbose;
  uint64_t chunk, wait_ms, max_messages;
  /* state */
  int open, stdin_done, frag_open, closing, paused;
  char *chunk_buf;
  size_t chunk_len;
  uint64_t sent, received;
  int exit_code; /* set by the first thing that decides it */
  int send_failed;
} client;

static void start_close(client *c, const char *why) {
  if (c->ws == NULL || c->closing) return;
  c->closing = 1;
  if (c->verbose) fprintf(stderr, "* closing with 1000 (%s)\n", why);
  ws101_ws_close(c->ws, 1000, NULL);
}

/* A send the library refused is reported, never dropped silently; the
 * session goes on, and the exit status says something was lost. */
static int checked(client *c, int rc, const char *what) {
  if (rc == 0) {
    c->sent++;
    return 0;
  }
  if (rc == WS101_ECLOSED) return rc; /* closing: its CLOSE event follows */
  fprintf(stderr, "ws101: send refused (%s): %s (%s)%s\n", what,
          ws101_strerror(rc), ws101_err_name(rc),
          rc == WS101_EUTF8 ? "; use --binary for binary input" : "");
  c->send_failed = 1;
  return rc;
}

static void after_send(client *c) {
  if (c->ws != NULL && ws101_ws_buffered(c->ws) > CLI_HIGH_WATER) {
    c->paused = 1;
    cli_input_pause(c->in);
  }
}

static void stdin_done(client *c);

static int on_line(const char *line, size_t len, void *ud) {
  client *c = ud;
  if (c->ws == NULL) return 1;
  checked(c, ws101_ws_send(c->ws, line, len, WS101_OP_TEXT), "text line");
  after_send(c);
  if (c->one_message) {
    stdin_done(c); /* one message only: the rest of stdin is not read */
    return 1;
  }
  return 0;
}

static void send_chunk(client *c, const char *p, size_t n) {
  checked(c, ws101_ws_send(c->ws, p, n, WS101_OP_BINARY), "binary chunk");
}

/* --binary: all of stdin is one message, streamed as fragments so that a
 * large file is never held in memory; --chunk N: a message per N bytes. */
static void on_binary(client *c, const char *p, size_t n) {
  if (c->chunk == 0) {
    int rc = ws101_ws_send_fragment(
        c->ws, p, n, c->frag_open ? WS101_OP_CONTINUATION : WS101_OP_BINARY, 0);
    if (rc == 0) c->frag_open = 1;
    else checked(c, rc, "binary fragment");
    return;
  }
  while (n > 0) {
    size_t take = (size_t)c->chunk - c->chunk_len;
    if (take > n) take = n;
    if (c->chunk_len == 0 && take == c->chunk) {
      send_chunk(c, p, take); /* a whole chunk in this read: no copy */
    } else {
      memcpy(c->chunk_buf + c->chunk_len, p, take);
      c->chunk_len += take;
      if (c->chunk_len == c->chunk) {
        send_chunk(c, c->chunk_buf, c->chunk_len);
        c->chunk_len = 0;
      }
    }
    p += take;
    n -= take;
  }
}

static void on_quiet(ws101_timer *t, void *ud) {
  client *c = ud;
  (void)t;
  start_close(c, "no message within --wait after stdin ended");
}

/* Called after stdin ended and after each message received since. */
static void arm_quiet(client *c) {
  if (!c->stdin_done || c->ws == NULL || c->closing) return;
  if (c->no_close || c->one_message) return; /* they close otherwise */
  if (c->wait_ms == 0) {
    start_close(c, "stdin ended");
    return;
  }
  if (c->quiet == NULL && ws101_timer_new(c->loop, on_quiet, c, &c->quiet) != 0) {
    start_close(c, "stdin ended (no timer)");
    return;
  }
  ws101_timer_start(c->quiet, c->wait_ms, 0);
}

/* stdin is exhausted (or -1 took its message): send what is left. */
static void stdin_done(client *c) {
  if (c->stdin_done) return;
  c->stdin_done = 1;
  cli_input_close(c->in);
  c->in = NULL;
  if (c->ws != NULL && !c->closing) {
    if (c->binary && c->chunk == 0) {
      int rc = c->frag_open
                   ? ws101_ws_send_fragment(c->ws, NULL, 0,
                                            WS101_OP_CONTINUATION, 1)
                   : ws101_ws_send(c->ws, NULL, 0, WS101_OP_BINARY);
      checked(c, rc, "binary message");
      c->frag_open = 0;
    } else if (c->binary && c->chunk_len > 0) {
      send_chunk(c, c->chunk_buf, c->chunk_len);
      c->chunk_len = 0;
    } else if (!c->binary && (!c->one_message || c->sent == 0)) {
      cli_lines_finish(&c->lines, on_line, c);
    }
  }
  if (c->verbose)
    fprintf(stderr, "* stdin ended after %llu message(s)\n",
            (unsigned long long)c->sent);
  arm_quiet(c);
}

static void on_input(cli_input *in, const char *data, size_t len, void *ud) {
  client *c = ud;
  (void)in;
  if (data == NULL) {
    stdin_done(c);
    return;
  }
  if (c->ws == NULL || c->closing) return;
  if (c->binary) {
    on_binary(c, data, len);
    if (c->one_message) return; /* the message ends at EOF */
    after_send(c);
    return;
  }
  if (cli_lines_feed(&c->lines, data, len, on_line, c) != 0) {
    fprintf(stderr, "ws101: out of memory buffering a line\n");
    c->exit_code = CLI_EXIT_FAIL;
    start_close(c, "out of memory");
  }
}

static void on_sigint(uv_signal_t *sig, int signum) {
  client *c = sig->data;
  (void)signum;
  if (c->closing || c->ws == NULL) return;
  if (!c->stdin_done) {
    c->no_close = 1; /* stdin_done must not arm --wait: we close now */
    stdin_done(c);
  }
  start_close(c, "interrupted");
}

static void print_message(client *c, const char *data, size_t len) {
  if (fwrite(data, 1, len, stdout) != len || fputc('\n', stdout) == EOF ||
      fflush(stdout) != 0) {
    /* stdout went away (`| head -1`): nobody reads any more, end politely. */
    if (!c->closing) c->exit_code = CLI_EXIT_FAIL;
    start_close(c, "stdout closed");
  }
}

static int close_status(int code) {
  if (code == 1000 || code == 1001 || code == 1005) return CLI_EXIT_OK;
  if (code == 1006) return CLI_EXIT_ABNORMAL;
  return CLI_EXIT_CLOSE_CODE;
}

static void teardown(client *c) {
  if (c->in != NULL) cli_input_close(c->in);
  c->in = NULL;
  c->stdin_done = 1;
  if (c->quiet != NULL) ws101_timer_close(c->quiet, NULL, NULL);
  c->quiet = NULL;
  if (!uv_is_closing((uv_handle_t *)&c->sigint))
    uv_close((uv_handle_t *)&c->sigint, NULL);
}

static void on_event(ws101_ws *ws, int event, const char *data, size_t len,
                     int arg, void *ud) {
  client *c = ud;
  switch (event) {
    case WS101_WS_OPEN:
      c->open = 1;
      if (c->verbose) {
        const char *p = ws101_ws_subprotocol(ws), *e = ws101_ws_extensions(ws);
        fprintf(stderr, "* connected to %s (HTTP %d)\n", c->url,
                ws101_ws_response_status(ws));
        if (*p) fprintf(stderr, "* subprotocol: %s\n", p);
        if (*e) fprintf(stderr, "* extensions: %s\n", e);
      }
      cli_input_resume(c->in);
      break;
    case WS101_WS_TEXT:
    case WS101_WS_BINARY:
      c->received++;
      print_message(c, data, len);
      if (c->max_messages && c->received >= c->max_messages) {
        if (!c->stdin_done) {
          c->no_close = 1;
          stdin_done(c);
        }
        start_close(c, "got the messages asked for");
      } else {
        arm_quiet(c);
      }
      break;
    case WS101_WS_PING:
      if (c->verbose) fprintf(stderr, "* ping (%zu bytes), pong sent\n", len);
      break;
    case WS101_WS_PONG:
      if (c->verbose) fprintf(stderr, "* pong (%zu bytes)\n", len);
      break;
    case WS101_WS_DRAIN:
      if (c->paused) {
        c->paused = 0;
        cli_input_resume(c->in);
      }
      break;
    case WS101_WS_ERROR: {
      int status = ws101_ws_response_status(ws);
      fprintf(stderr, "ws101: %.*s (%s)\n", (int)len, data,
              ws101_err_name(arg));
      if (c->exit_code == 0)
        c->exit_code = arg == WS101_EHANDSHAKE || (status != 0 && status != 101)
                           ? CLI_EXIT_HANDSHAKE
                       : c->open ? CLI_EXIT_FAIL
                                 : CLI_EXIT_CONNECT;
      break;
    }
    case WS101_WS_CLOSE:
      c->ws = NULL;
      if (c->verbose)
        fprintf(stderr, "* closed with %d%s%.*s\n", arg, len ? ": " : "",
                (int)len, data);
      if (c->exit_code == 0 && c->open) {
        c->exit_code = close_status(arg);
        if (c->exit_code != 0 && !c->verbose)
          fprintf(stderr, "ws101: connection closed with code %d%s%.*s\n", arg,
                  len ? ": " : "", (int)len, data);
        else if (!c->closing && !c->verbose)
          fprintf(stderr, "ws101: server closed the connection (%d)\n", arg);
      }
      if (c->exit_code == 0 && c->send_failed) c->exit_code = CLI_EXIT_FAIL;
      teardown(c);
      break;
  }
}

static int setup(client *c, ws101_options *o, int argc, char **argv) {
  cli_parser p;
  const char *v;
  uint64_t n;
  int id;
  cli_parser_init(&p, "connect", opts, argc, argv);
  while ((id = cli_next(&p, &v)) != CLI_END) {
    switch (id) {
      case CLI_BAD:
        return CLI_EXIT_USAGE;
      case O_HELP:
        fputs(cli_connect_usage, stdout);
        return -1;
      case CLI_POSITIONAL:
        if (c->url != NULL)
          return cli_usage_error("connect", "more than one URL:", v);
        c->url = v;
        break;
      case O_HEADER:
        if (cli_add_header(o, "connect", v) != 0) return CLI_EXIT_USAGE;
        break;
      case O_ORIGIN:
        if (ws101_options_add_header(o, "Origin", v) != 0)
          return cli_usage_error("connect", "bad --origin", v);
        break;
      case O_PROTOCOL:
        if (ws101_options_add_subprotocol(o, v) != 0)
          return cli_usage_error("connect", "bad subprotocol", v);
        break;
      case O_NO_DEFLATE:
        ws101_options_set(o, WS101_OPT_DEFLATE, 0);
        break;
      case O_BINARY:
        c->binary = 1;
        break;
      case O_CHUNK:
        if (cli_parse_size("connect", "--chunk", v, 1u << 30, &c->chunk) != 0)
          return CLI_EXIT_USAGE;
        if (c->chunk == 0)
          return cli_usage_error("connect", "--chunk wants at least 1 byte",
                                 NULL);
        break;
      case O_ONE:
        c->one_message = 1;
        break;
      case O_NO_CLOSE:
        c->no_close = 1;
        break;
      case O_WAIT:
        if (cli_parse_ms("connect", "--wait", v, 1, &c->wait_ms) != 0)
          return CLI_EXIT_USAGE;
        break;
      case O_MAX_MESSAGES:
        if (cli_parse_size("connect", "--max-messages", v, UINT64_MAX / 2,
                           &c->max_messages) != 0)
          return CLI_EXIT_USAGE;
        break;
      case O_PING:
        if (cli_parse_ms("connect", "--ping-interval", v, 1000, &n) != 0 ||
            cli_set_option(o, "connect", "--ping-interval",
                           WS101_OPT_WS_PING_INTERVAL_MS, (int64_t)n) != 0)
          return CLI_EXIT_USAGE;
        break;
      case O_MAX_MESSAGE:
        if (cli_parse_size("connect", "--max-message", v, UINT64_MAX / 2,
                           &n) != 0 ||
            cli_set_option(o, "connect", "--max-message",
                           WS101_OPT_WS_MAX_MESSAGE, (int64_t)n) != 0)
          return CLI_EXIT_USAGE;
        break;
      case O_VERBOSE:
        c->verbose = 1;
        break;
      case O_HTTP2:
        ws101_options_set(o, WS101_OPT_CLIENT_HTTP2, 1);
        break;
      case O_CAFILE:
        if (cli_set_cafile(o, "connect", v) != 0) return CLI_EXIT_USAGE;
        break;
      case O_INSECURE:
        ws101_options_set(o, WS101_OPT_TLS_INSECURE_SKIP_VERIFY, 1);
        break;
    }
  }
  if (c->url == NULL) return cli_usage_error("connect", "needs a URL", NULL);
  if (c->chunk && !c->binary)
    return cli_usage_error("connect", "--chunk goes with --binary", NULL);
  if (c->one_message) c->max_messages = 1;
  return 0;
}

int cli_connect(int argc, char **argv) {
  client *c = calloc(1, sizeof(*c));
  ws101_options *o = NULL;
  int rc, code;
  if (c == NULL || ws101_options_new(&o) != 0) {
    fprintf(stderr, "ws101: out of memory\n");
    free(c);
    return CLI_EXIT_FAIL;
  }
  c->wait_ms = 1000;
  rc = setup(c, o, argc, argv);
  if (rc == 0 && c->chunk && (c->chunk_buf = malloc(c->chunk)) == NULL) {
    fprintf(stderr, "ws101: out of memory for --chunk\n");
    rc = CLI_EXIT_FAIL;
  }
  if (rc == 0 && (rc = ws101_loop_new(&c->loop)) != 0) {
    fprintf(stderr, "ws101: %s\n", ws101_strerror(rc));
    rc = CLI_EXIT_FAIL;
  }
  if (rc == 0 && cli_input_open(c->loop, on_input, c, &c->in) != 0)
    rc = CLI_EXIT_FAIL;
  if (rc == 0) {
    int err = ws101_ws_connect(c->loop, c->url, o, on_event, c, &c->ws);
    if (err != 0) {
      fprintf(stderr, "ws101: cannot connect to '%s': %s\n", c->url,
                      ws101_strerror(err));
      rc = err == WS101_EURL ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
    }
  }
  ws101_options_free(o);
  if (rc == 0) {
    uv_signal_init(ws101_loop_uv(c->loop), &c->sigint);
    c->sigint.data = c;
    uv_signal_start(&c->sigint, on_sigint, SIGINT);
    uv_unref((uv_handle_t *)&c->sigint);
    ws101_loop_run(c->loop);
    code = c->exit_code;
  } else {
    code = rc < 0 ? CLI_EXIT_OK : rc; /* -1: --help was printed */
    if (c->in != NULL) cli_input_close(c->in);
  }
  if (c->loop != NULL) ws101_loop_free(c->loop);
  cli_lines_free(&c->lines);
  free(c->chunk_buf);
  free(c);
  return code;
}

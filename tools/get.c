/* get.c - `ws101 get URL`: an HTTP GET that prints the body. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

const char cli_get_usage[] =
    "usage: ws101 get URL [options]\n"
    "\n"
    "HTTP GET of URL (http://host[:port]/path, or https://); prints the\n"
    "body to stdout.\n"
    "\n"
    "  -H, --header 'Name: value'  add a request header (repeatable)\n"
    "      --http2                 HTTP/2 if the server agrees: an h2c upgrade\n"
    "                              offer on http://, ALPN h2 on https://\n"
    "                              (HTTP/1.1 if refused)\n"
    "      --http2-prior-knowledge speak HTTP/2 from the first byte (http://;\n"
    "                              on https:// the same as --http2)\n"
    "  -v, --verbose               print the status and headers on stderr\n"
    "      --cafile FILE           https://: trust the CAs in FILE instead of\n"
    "                              the system store\n"
    "  -k, --insecure              https://: do not verify the server's\n"
    "                              certificate (tests only)\n"
    "  -h, --help                  this text\n"
    "\n"
    "Exit status: 0 for a status below 400, 1 for a status of 400 or more\n"
    "(the body is still printed) or a failed exchange, 2 usage, 3 could not\n"
    "connect (refused, DNS, timeout, TLS).\n";

enum { O_HEADER = 1, O_VERBOSE, O_HELP, O_HTTP2, O_HTTP2_PRIOR, O_CAFILE,
       O_INSECURE };

static const cli_opt opts[] = {{O_HEADER, "--header", "-H", "'Name: value'"},
                               {O_VERBOSE, "--verbose", "-v", NULL},
                               {O_HELP, "--help", "-h", NULL},
                               {O_HTTP2, "--http2", NULL, NULL},
                               {O_HTTP2_PRIOR, "--http2-prior-knowledge",
                                NULL, NULL},
                               CLI_TLS_CLIENT_OPTS(O_CAFILE, O_INSECURE),
                               {0, NULL, NULL, NULL}};

typedef struct get_state {
  int exit_code;
  int verbose;
} get_state;

static void on_fetch(ws101_fetch *f, int event, const char *data, size_t len,
                     int arg, void *ud) {
  get_state *g = ud;
  size_t i;
  int v;
  switch (event) {
    case WS101_FETCH_RESPONSE:
      if (!g->verbose) break;
      v = ws101_fetch_http_version(f);
      if (v == 20)
        fprintf(stderr, "* HTTP/2 %d\n", ws101_fetch_status(f));
      else
        fprintf(stderr, "* HTTP/1.%d %d\n", v % 10, ws101_fetch_status(f));
      for (i = 0; i < ws101_fetch_header_count(f); i++)
        fprintf(stderr, "* %s: %s\n", ws101_fetch_header_name(f, i),
                ws101_fetch_header_value(f, i));
      break;
    case WS101_FETCH_BODY:
      fwrite(data, 1, len, stdout);
      break;
    case WS101_FETCH_DONE:
      fflush(stdout);
      if (ws101_fetch_status(f) >= 400) {
        fprintf(stderr, "ws101: server answered %d\n", ws101_fetch_status(f));
        g->exit_code = CLI_EXIT_FAIL;
      } else {
        g->exit_code = CLI_EXIT_OK;
      }
      break;
    case WS101_FETCH_ERROR:
      fflush(stdout);
      fprintf(stderr, "ws101: %.*s (%s)\n", (int)len, data,
              ws101_err_name(arg));
      g->exit_code = arg == WS101_ECONNREFUSED || arg == WS101_EDNS ||
                             arg == WS101_ETLS ||
                             (arg == WS101_ETIMEDOUT && ws101_fetch_status(f) == 0)
                         ? CLI_EXIT_CONNECT
                         : CLI_EXIT_FAIL;
      break;
  }
}

int cli_get(int argc, char **argv) {
  ws101_loop *loop;
  ws101_options *o;
  ws101_fetch *f;
  get_state g = {CLI_EXIT_FAIL, 0};
  const char *url = NULL, *v;
  cli_parser p;
  int id, rc;
  if (ws101_options_new(&o) != 0) return CLI_EXIT_FAIL;
  cli_parser_init(&p, "get", opts, argc, argv);
  while ((id = cli_next(&p, &v)) != CLI_END) {
    rc = 0;
    if (id == CLI_BAD) rc = CLI_EXIT_USAGE;
    else if (id == O_HELP) fputs(cli_get_usage, stdout), rc = -1;
    else if (id == O_VERBOSE) g.verbose = 1;
    else if (id == O_HTTP2)
      ws101_options_set(o, WS101_OPT_CLIENT_HTTP2, 2);
    else if (id == O_HTTP2_PRIOR)
      ws101_options_set(o, WS101_OPT_CLIENT_HTTP2, 1);
    else if (id == O_INSECURE)
      ws101_options_set(o, WS101_OPT_TLS_INSECURE_SKIP_VERIFY, 1);
    else if (id == O_CAFILE && cli_set_cafile(o, "get", v) != 0)
      rc = CLI_EXIT_USAGE;
    else if (id == O_HEADER && cli_add_header(o, "get", v) != 0)
      rc = CLI_EXIT_USAGE;
    else if (id == CLI_POSITIONAL && url != NULL)
      rc = cli_usage_error("get", "more than one URL:", v);
    else if (id == CLI_POSITIONAL)
      url = v;
    if (rc != 0) {
      ws101_options_free(o);
      return rc < 0 ? CLI_EXIT_OK : rc;
    }
  }
  if (url == NULL) {
    ws101_options_free(o);
    return cli_usage_error("get", "needs a URL", NULL);
  }
  if ((rc = ws101_loop_new(&loop)) != 0) {
    ws101_options_free(o);
    return CLI_EXIT_FAIL;
  }
  rc = ws101_fetch_new(loop, "GET", url, o, on_fetch, &g, &f);
  ws101_options_free(o);
  if (rc == 0) rc = ws101_fetch_send(f, NULL, 0);
  if (rc != 0) {
    fprintf(stderr, "ws101: cannot fetch '%s': %s\n", url, ws101_strerror(rc));
    ws101_loop_free(loop);
    return rc == WS101_EURL ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
  }
  ws101_loop_run(loop);
  ws101_loop_free(loop);
  return g.exit_code;
}

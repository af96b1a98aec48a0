/* ws101.c - the `ws101` command line tool: which command runs.
 *
 *   ws101 connect URL | ws101 URL | ws101 -c URL    connect.c
 *   ws101 serve | ws101 -l PORT (interactive)       serve.c, exec.c
 *   ws101 get URL                                   get.c
 *
 * Options are parsed by each command (args.c); stdin goes through input.c.
 * The habits of wscat (-c, -l) and websocat (a bare URL) are spelled here. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
    "usage:\n"
    "  ws101 connect URL [options]   a WebSocket client on stdin/stdout\n"
    "  ws101 serve [options]         a WebSocket server: echo, broadcast,\n"
    "                                interactive (-i) or a process per\n"
    "                                connection (--exec CMD)\n"
    "  ws101 get URL [options]       HTTP GET, the body to stdout\n"
    "  ws101 help COMMAND | COMMAND --help   the options of a command\n"
    "  ws101 --help | --version\n"
    "\n"
    "Shorthands: 'ws101 ws://HOST/PATH ...' and 'ws101 -c URL ...' are\n"
    "'ws101 connect URL ...'; 'ws101 -l PORT ...' is\n"
    "'ws101 serve --interactive --port PORT ...'.\n"
    "\n"
    "Examples:\n"
    "  ws101 serve --port 9000 --broadcast\n"
    "  printf 'a\\nb\\n' | ws101 connect ws://127.0.0.1:9000/   # prints a, b\n"
    "  echo subscribe | ws101 -n wss://example.com/feed      # keeps printing\n"
    "  ws101 serve --port 9000 --exec 'tr a-z A-Z'\n"
    "\n"
    "Exit status: 0 normal close, 1 other failure, 2 usage, 3 could not\n"
    "connect, 4 handshake refused, 5 connection lost without a close (1006),\n"
    "6 closed with an error code.\n";

static const char *const commands[] = {"connect", "serve", "get", "help"};

static int is_ws_url(const char *s) {
  return strncmp(s, "ws://", 5) == 0 || strncmp(s, "wss://", 6) == 0;
}

static int help(const char *cmd) {
  if (cmd == NULL) fputs(usage, stdout);
  else if (strcmp(cmd, "connect") == 0) fputs(cli_connect_usage, stdout);
  else if (strcmp(cmd, "serve") == 0) fputs(cli_serve_usage, stdout);
  else if (strcmp(cmd, "get") == 0) fputs(cli_get_usage, stdout);
  else {
    fprintf(stderr, "ws101: no help for '%s'\n", cmd);
    return CLI_EXIT_USAGE;
  }
  return CLI_EXIT_OK;
}

/* wscat's spellings: `-c URL [opts]` connects, `-l PORT [opts]` listens.
 * They may come after other options (`ws101 -H 'A: b' -c URL`). Returns -1
 * if argv has neither. */
static int wscat_style(int argc, char **argv) {
  int i;
  for (i = 1; i < argc; i++) {
    int is_c = strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--connect") == 0;
    int is_l = strcmp(argv[i], "-l") == 0 || strcmp(argv[i], "--listen") == 0;
    if (strcmp(argv[i], "--") == 0) break;
    if (!is_c && !is_l) continue;
    if (i + 1 >= argc) {
      fprintf(stderr, "ws101: %s needs a %s\n", argv[i], is_c ? "URL" : "PORT");
      return CLI_EXIT_USAGE;
    }
    if (is_c) {
      /* Drop "-c": the URL is then connect's positional argument. */
      memmove(&argv[i], &argv[i + 1], (size_t)(argc - i - 1) * sizeof(*argv));
      return cli_connect(argc - 2, argv + 1);
    }
    argv[i] = "--port"; /* "-l PORT": the port option of serve */
    return cli_serve(argc - 1, argv + 1, 1);
  }
  return -1;
}

int main(int argc, char **argv) {
  const char *cmd, *near;
  int rc;
  if (argc < 2) {
    fputs(usage, stderr);
    return CLI_EXIT_USAGE;
  }
  cmd = argv[1];
  if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0)
    return help(NULL);
  if (strcmp(cmd, "help") == 0) return help(argc > 2 ? argv[2] : NULL);
  if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
    printf("ws101 %s\n", ws101_version_string());
    return CLI_EXIT_OK;
  }
  /* A peer vanishing must be an error code, not a SIGPIPE death; stdout
   * going away (`| head -1`) too. */
  signal(SIGPIPE, SIG_IGN);
  if (strcmp(cmd, "connect") == 0) return cli_connect(argc - 2, argv + 2);
  if (strcmp(cmd, "serve") == 0) return cli_serve(argc - 2, argv + 2, 0);
  if (strcmp(cmd, "get") == 0) return cli_get(argc - 2, argv + 2);
  if (is_ws_url(cmd)) return cli_connect(argc - 1, argv + 1);
  if (cmd[0] == '-') {
    rc = wscat_style(argc, argv);
    if (rc >= 0) return rc;
    /* `ws101 -n ws://...`: connect options before a bare URL. */
    for (rc = 2; rc < argc; rc++)
      if (is_ws_url(argv[rc])) return cli_connect(argc - 1, argv + 1);
    fprintf(stderr, "ws101: '%s' before a command; try 'ws101 connect URL "
                    "%s', 'ws101 -c URL' or 'ws101 -l PORT'\n",
            cmd, cmd);
    return CLI_EXIT_USAGE;
  }
  near = cli_nearest(cmd, commands, sizeof(commands) / sizeof(*commands));
  if (near != NULL)
    fprintf(stderr, "ws101: unknown command '%s'; did you mean '%s'?\n", cmd,
            near);
  else
    fprintf(stderr, "ws101: unknown command '%s'\n", cmd);
  fprintf(stderr, "Try 'ws101 --help'.\n");
  return CLI_EXIT_USAGE;
}

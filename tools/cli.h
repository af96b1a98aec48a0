/* cli.h - what the parts of the `ws101` tool share: exit statuses, the
 * option parser, stdin and line input, the checked server-side send, and
 * each command's entry point.
 *
 * The tool is an application of the library: it uses the public ws101.h
 * API, plus libuv directly for stdin, signals and child processes (through
 * ws101_loop_uv), which the library deliberately does not wrap. */
#ifndef WS101_TOOLS_CLI_H
#define WS101_TOOLS_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "ws101.h"

/* Exit statuses of every command; the usage text and the README list them. */
enum {
  CLI_EXIT_OK = 0,         /* normal close (1000, 1001, 1005), get < 400 */
  CLI_EXIT_FAIL = 1,       /* anything else: a refused send, I/O, get >= 400 */
  CLI_EXIT_USAGE = 2,      /* bad command line */
  CLI_EXIT_CONNECT = 3,    /* could not connect: refused, DNS, timeout */
  CLI_EXIT_HANDSHAKE = 4,  /* the server refused the upgrade (not a 101) */
  CLI_EXIT_ABNORMAL = 5,   /* connection lost without a close frame (1006) */
  CLI_EXIT_CLOSE_CODE = 6  /* closed with an error code (1002, 1008, 1011...) */
};

/* Beyond this many bytes queued on a WebSocket, the tool stops reading its
 * source (stdin, a child's stdout) until DRAIN, so a fast producer cannot
 * grow memory without bound. Kept below any sensible send-buffer limit so
 * the library never has to refuse a send because of us. */
#define CLI_HIGH_WATER (256u * 1024u)

/* ------------------------------------------------------------------------ */
/* Options (args.c)                                                         */

/* One option of a command. `name` is the long form ("--protocol"), `alias`
 * another spelling ("-s") or NULL, `metavar` NULL for a flag or the name of
 * its value ("P"). */
typedef struct cli_opt {
  int id; /* > 0, returned by cli_next */
  const char *name;
  const char *alias;
  const char *metavar;
} cli_opt;

/* cli_next results besides an option id. */
enum { CLI_END = 0, CLI_POSITIONAL = -1, CLI_BAD = -2 };

typedef struct cli_parser {
  const char *cmd; /* "connect": messages say "ws101 connect: ..." */
  const cli_opt *opts; /* terminated by an entry with id 0 */
  int argc;
  char **argv;
  int i;
  int only_positional; /* after "--" */
} cli_parser;

void cli_parser_init(cli_parser *p, const char *cmd, const cli_opt *opts,
                     int argc, char **argv);

/* Returns the next option's id (its value in *value, for options that take
 * one, from "--name value", "--name=value" or "-xVALUE"), CLI_POSITIONAL
 * (the argument in *value), CLI_END, or CLI_BAD after printing why: an
 * unknown option (naming the nearest known one), or a missing value. */
int cli_next(cli_parser *p, const char **value);

/* Prints "ws101 CMD: MSG" and a pointer to the command's help; returns
 * CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *msg, const char *arg);

/* The candidate closest to `word` (a unique prefix, or within a small edit
 * distance), or NULL if none is close enough to suggest. */
const char *cli_nearest(const char *word, const char *const *cands,
                        size_t n);

/* Parses a count or a size ("65536", "64k", "16M"). Returns 0, or prints a
 * usage error for option `opt` and returns -1. */
int cli_parse_size(const char *cmd, const char *opt, const char *s,
                   uint64_t max, uint64_t *out);

/* Parses a duration into milliseconds: "250ms", "2s", "1.5s", or a bare
 * number in `bare_unit_ms` units (1 for milliseconds, 1000 for seconds).
 * Returns 0, or prints a usage error and returns -1. */
int cli_parse_ms(const char *cmd, const char *opt, const char *s,
                 uint64_t bare_unit_ms, uint64_t *out);

/* Parses "Name: value" into a request header of `o`. Returns 0, or prints
 * why and returns -1. */
int cli_add_header(ws101_options *o, const char *cmd, const char *arg);

/* Sets an integer option from the command line, reporting a refused value.
 * Returns 0 or -1. */
int cli_set_option(ws101_options *o, const char *cmd, const char *opt,
                   ws101_opt which, int64_t value);

/* The clients' TLS options (connect and get): --cafile FILE trusts the CAs
 * in FILE instead of the system store, --insecure skips verification. */
#define CLI_TLS_CLIENT_OPTS(cafile_id, insecure_id)                          \
  {cafile_id, "--cafile", NULL, "FILE"},                                    \
  {insecure_id, "--insecure", "-k", NULL}
int cli_set_cafile(ws101_options *o, const char *cmd, const char *file);

/* ------------------------------------------------------------------------ */
/* Input (input.c): stdin as a stream of chunks, and splitting into lines   */

typedef struct cli_input cli_input;

/* A chunk of stdin, or data == NULL once at the end (EOF, or a read error
 * that was already reported on stderr). */
typedef void (*cli_input_cb)(cli_input *in, const char *data, size_t len,
                             void *user_data);

/* Prepares to read stdin (a pipe, a tty, a socket or a regular file);
 * reading starts with cli_input_resume. Returns 0 or prints why and -1. */
int cli_input_open(ws101_loop *loop, cli_input_cb cb, void *user_data,
                   cli_input **out);
void cli_input_pause(cli_input *in);
void cli_input_resume(cli_input *in);
/* No callback runs after this; the memory goes once libuv lets go. */
void cli_input_close(cli_input *in);

/* Lines carried across chunks. Called once per line, without "\n" or a
 * trailing "\r"; returning non-zero drops the rest of the chunk. */
typedef int (*cli_line_cb)(const char *line, size_t len, void *user_data);

typedef struct cli_lines {
  char *buf;
  size_t len, cap;
} cli_lines;

/* Feeds a chunk. Returns 0 or WS101_ENOMEM. */
int cli_lines_feed(cli_lines *l, const char *data, size_t len, cli_line_cb cb,
                   void *user_data);
/* Delivers an unterminated last line, if any. */
void cli_lines_finish(cli_lines *l, cli_line_cb cb, void *user_data);
void cli_lines_free(cli_lines *l);

/* ------------------------------------------------------------------------ */
/* Server side (serve.c, exec.c)                                            */

/* Sends on a server connection and handles every error: a refused send
 * (WS101_EBACKPRESSURE) closes that connection with 1008, any other failure
 * with 1011, each with a log line naming connection `id`; a connection
 * already closing is left to finish. Returns ws101_ws_send's code. */
int cli_serve_send(ws101_ws *ws, unsigned id, const char *data, size_t len,
                   int opcode);
/* The same handling for the result `rc` of a send of `len` bytes already
 * made. Returns rc. */
int cli_serve_check(ws101_ws *ws, unsigned id, size_t len, int rc);

/* One child process per connection for `ws101 serve --exec`. */
typedef struct cli_exec cli_exec;

/* Starts `sh -c cmd` for connection `ws`; messages go to its stdin (one per
 * line), its stdout lines come back as messages, and its exit closes the
 * connection (1000 for status 0, 1011 otherwise). Returns 0 or prints why
 * and returns -1. */
int cli_exec_start(ws101_ws *ws, unsigned id, const char *cmd, int verbose,
                   cli_exec **out);
void cli_exec_message(cli_exec *x, const char *data, size_t len);
void cli_exec_drain(cli_exec *x);
/* The connection closed: ends the child (stdin EOF, SIGTERM, SIGKILL after
 * a grace period) and frees everything once it is gone. */
void cli_exec_closed(cli_exec *x);

/* ------------------------------------------------------------------------ */
/* Commands                                                                 */

extern const char cli_connect_usage[];
extern const char cli_serve_usage[];
extern const char cli_get_usage[];

int cli_connect(int argc, char **argv);
/* `interactive` is the default mode when none is named (`ws101 -l PORT`). */
int cli_serve(int argc, char **argv, int interactive);
int cli_get(int argc, char **argv);

#endif /* WS101_TOOLS_CLI_H */

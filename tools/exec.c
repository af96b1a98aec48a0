/* exec.c - `ws101 serve --exec CMD`: one `sh -c CMD` per connection, as
 * websocat's sh-c: does. Each message is written to the child's stdin with
 * a newline; each line of its stdout comes back as a message (text, or
 * binary if it is not UTF-8); its stderr is the server's. The child sees
 * WS101_REMOTE_ADDR and WS101_PATH in its environment.
 *
 * Flow control both ways: a child that does not read its stdin pauses the
 * WebSocket (ws101_ws_pause), a client that does not read pauses the
 * child's stdout. The connection closes when the child has exited and its
 * stdout ended (1000 for status 0, 1011 otherwise); a child still running
 * when the connection closes gets EOF on stdin and SIGTERM, then SIGKILL
 * after a grace period (a ws101_timer). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "cli.h"

extern char **environ;

#define KILL_GRACE_MS 2000

struct cli_exec {
  ws101_loop *loop;
  ws101_ws *ws; /* NULL once the connection closed */
  unsigned id;
  int verbose;
  uv_process_t proc;
  uv_pipe_t in, out;
  int handles; /* uv handles not yet closed */
  int spawned, exited, out_eof, out_reading, in_closed, in_broken;
  int64_t status;
  int term_signal;
  size_t pending; /* bytes written to the child's stdin, not yet taken */
  int ws_paused;
  cli_lines lines;
  ws101_timer *kill_timer;
};

typedef struct pending_write {
  uv_write_t req;
  cli_exec *x;
  size_t len;
  char data[];
} pending_write;

static void maybe_free(cli_exec *x) {
  if (x->handles > 0 || x->ws != NULL) return;
  if (x->kill_timer != NULL) ws101_timer_close(x->kill_timer, NULL, NULL);
  cli_lines_free(&x->lines);
  free(x);
}

static void on_closed(uv_handle_t *h) {
  cli_exec *x = h->data;
  x->handles--;
  maybe_free(x);
}

static void close_handle(uv_handle_t *h) {
  if (!uv_is_closing(h)) uv_close(h, on_closed);
}

static void close_stdin(cli_exec *x) {
  if (x->in_closed) return;
  x->in_closed = 1;
  close_handle((uv_handle_t *)&x->in);
}

/* Both the exit status and the end of stdout are in: close the connection
 * with what the child's end means, after its last lines were sent. */
static void maybe_finish(cli_exec *x) {
  char why[64];
  int code;
  if (!x->exited || !x->out_eof || x->ws == NULL) return;
  code = x->status == 0 && x->term_signal == 0 ? 1000 : 1011;
  if (x->term_signal)
    snprintf(why, sizeof(why), "command killed by signal %d", x->term_signal);
  else
    snprintf(why, sizeof(why), "command exited with status %lld",
             (long long)x->status);
  if (code != 1000 || x->verbose)
    fprintf(stderr, "ws101: [%u] %s; closing with %d\n", x->id, why, code);
  ws101_ws_close(x->ws, code, why);
}

static void on_exit_cb(uv_process_t *p, int64_t status, int term_signal) {
  cli_exec *x = p->data;
  x->exited = 1;
  x->status = status;
  x->term_signal = term_signal;
  if (x->kill_timer != NULL) ws101_timer_stop(x->kill_timer);
  close_handle((uv_handle_t *)&x->proc);
  close_stdin(x);
  maybe_finish(x);
}

static void on_kill_timer(ws101_timer *t, void *ud) {
  cli_exec *x = ud;
  (void)t;
  if (!x->exited) uv_process_kill(&x->proc, SIGKILL);
}

static int on_line(const char *line, size_t len, void *ud) {
  cli_exec *x = ud;
  int rc;
  if (x->ws == NULL) return 1;
  rc = ws101_ws_send(x->ws, line, len, WS101_OP_TEXT);
  if (rc == WS101_EUTF8) /* not text: deliver it as binary, lose nothing */
    rc = cli_serve_send(x->ws, x->id, line, len, WS101_OP_BINARY);
  else
    cli_serve_check(x->ws, x->id, len, rc);
  return 0;
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  static char rbuf[64 * 1024]; /* one loop, one read at a time */
  (void)h;
  (void)suggested;
  buf->base = rbuf;
  buf->len = sizeof(rbuf);
}

static void read_cb(uv_stream_t *st, ssize_t n, const uv_buf_t *buf) {
  cli_exec *x = st->data;
  if (n > 0) {
    if (cli_lines_feed(&x->lines, buf->base, (size_t)n, on_line, x) != 0 &&
        x->ws != NULL) {
      fprintf(stderr, "ws101: [%u] out of memory buffering a line\n", x->id);
      ws101_ws_close(x->ws, 1011, "out of memory");
    }
    if (x->ws != NULL && ws101_ws_buffered(x->ws) > CLI_HIGH_WATER) {
      uv_read_stop(st); /* the client is slow: let the child block */
      x->out_reading = 0;
    }
    return;
  }
  if (n == 0) return;
  if (n != UV_EOF)
    fprintf(stderr, "ws101: [%u] reading the command's output: %s\n", x->id,
            uv_strerror((int)n));
  cli_lines_finish(&x->lines, on_line, x);
  x->out_eof = 1;
  x->out_reading = 0;
  close_handle((uv_handle_t *)&x->out);
  maybe_finish(x);
}

static void write_cb(uv_write_t *req, int status) {
  pending_write *w = (pending_write *)req;
  cli_exec *x = w->x;
  x->pending -= w->len;
  free(w);
  if (status < 0 && status != UV_ECANCELED && !x->in_broken) {
    x->in_broken = 1;
    if (x->ws != NULL)
      fprintf(stderr, "ws101: [%u] the command stopped reading its stdin "
                      "(%s); further messages are dropped\n",
              x->id, uv_strerror(status));
  }
  if (x->ws_paused && x->pending < CLI_HIGH_WATER / 2 && x->ws != NULL) {
    x->ws_paused = 0;
    ws101_ws_resume(x->ws);
  }
}

void cli_exec_message(cli_exec *x, const char *data, size_t len) {
  pending_write *w;
  uv_buf_t b;
  if (x->in_closed || x->in_broken) {
    fprintf(stderr, "ws101: [%u] message of %zu bytes dropped: the command "
                    "no longer reads its stdin\n",
            x->id, len);
    return;
  }
  w = malloc(sizeof(*w) + len + 1);
  if (w == NULL) {
    fprintf(stderr, "ws101: [%u] out of memory; closing with 1011\n", x->id);
    ws101_ws_close(x->ws, 1011, "out of memory");
    return;
  }
  memcpy(w->data, data, len);
  w->data[len] = '\n';
  w->len = len + 1;
  w->x = x;
  b = uv_buf_init(w->data, (unsigned)w->len);
  if (uv_write(&w->req, (uv_stream_t *)&x->in, &b, 1, write_cb) != 0) {
    free(w);
    x->in_broken = 1;
    fprintf(stderr, "ws101: [%u] cannot write to the command's stdin\n",
            x->id);
    return;
  }
  x->pending += w->len;
  if (!x->ws_paused && x->pending > CLI_HIGH_WATER) {
    x->ws_paused = 1; /* the child is slow: stop reading the client */
    ws101_ws_pause(x->ws);
  }
}

void cli_exec_drain(cli_exec *x) {
  if (x->out_reading || x->out_eof || x->ws == NULL) return;
  if (uv_read_start((uv_stream_t *)&x->out, alloc_cb, read_cb) == 0)
    x->out_reading = 1;
}

void cli_exec_closed(cli_exec *x) {
  x->ws = NULL;
  close_stdin(x);
  if (!x->out_eof) {
    x->out_eof = 1;
    close_handle((uv_handle_t *)&x->out);
  }
  if (x->spawned && !x->exited) {
    uv_process_kill(&x->proc, SIGTERM);
    if (ws101_timer_new(x->loop, on_kill_timer, x,
                        &x->kill_timer) == 0)
      ws101_timer_start(x->kill_timer, KILL_GRACE_MS, 0);
  }
  maybe_free(x);
}

/* The environment of the child: ours plus what it needs to know about its
 * connection. */
static char **child_env(ws101_ws *ws, char *addr, size_t an, char *path,
                        size_t pn) {
  size_t n = 0, i;
  char **env;
  while (environ[n] != NULL) n++;
  env = malloc((n + 3) * sizeof(*env));
  if (env == NULL) return NULL;
  for (i = 0; i < n; i++) env[i] = environ[i];
  snprintf(addr, an, "WS101_REMOTE_ADDR=%s", ws101_ws_remote_addr(ws));
  snprintf(path, pn, "WS101_PATH=%s", ws101_ws_path(ws));
  env[n] = addr;
  env[n + 1] = path;
  env[n + 2] = NULL;
  return env;
}

int cli_exec_start(ws101_ws *ws, unsigned id, const char *cmd, int verbose,
                   cli_exec **out) {
  uv_loop_t *uv = ws101_loop_uv(ws101_ws_loop(ws));
  uv_process_options_t po;
  uv_stdio_container_t stdio[3];
  char *args[4], addr[96], path[1100];
  char **env;
  cli_exec *x = calloc(1, sizeof(*x));
  int rc;
  *out = NULL;
  if (x == NULL) {
    fprintf(stderr, "ws101: [%u] out of memory starting the command\n", id);
    return -1;
  }
  x->loop = ws101_ws_loop(ws);
  x->ws = ws;
  x->id = id;
  x->verbose = verbose;
  x->proc.data = x->in.data = x->out.data = x;
  uv_pipe_init(uv, &x->in, 0);
  uv_pipe_init(uv, &x->out, 0);
  x->handles = 2;
  args[0] = "sh";
  args[1] = "-c";
  args[2] = (char *)cmd;
  args[3] = NULL;
  memset(&po, 0, sizeof(po));
  po.file = "/bin/sh";
  po.args = args;
  po.exit_cb = on_exit_cb;
  stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
  stdio[0].data.stream = (uv_stream_t *)&x->in;
  stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  stdio[1].data.stream = (uv_stream_t *)&x->out;
  stdio[2].flags = UV_INHERIT_FD;
  stdio[2].data.fd = 2;
  po.stdio = stdio;
  po.stdio_count = 3;
  env = child_env(ws, addr, sizeof(addr), path, sizeof(path));
  po.env = env;
  rc = env == NULL ? UV_ENOMEM : uv_spawn(uv, &x->proc, &po);
  free(env);
  if (rc != 0) {
    fprintf(stderr, "ws101: [%u] cannot start '%s': %s\n", id, cmd,
            uv_strerror(rc));
    x->ws = NULL;
    x->in_closed = x->out_eof = 1;
    uv_close((uv_handle_t *)&x->in, on_closed);
    uv_close((uv_handle_t *)&x->out, on_closed);
    /* libuv wants a failed process handle closed too */
    if (rc != UV_ENOMEM) {
      x->handles++;
      uv_close((uv_handle_t *)&x->proc, on_closed);
    }
    return -1;
  }
  x->spawned = 1;
  x->handles++;
  if (verbose)
    fprintf(stderr, "ws101: [%u] started '%s' (pid %d)\n", id, cmd,
            x->proc.pid);
  if (uv_read_start((uv_stream_t *)&x->out, alloc_cb, read_cb) == 0)
    x->out_reading = 1;
  *out = x;
  return 0;
}

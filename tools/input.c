/* input.c - stdin for the tool, read through libuv so it shares the loop
 * with the WebSockets: a pipe, tty or socket as a stream, a regular file
 * (which libuv cannot poll) with fs reads; plus splitting chunks into
 * lines. Reading pauses and resumes, so a sender can apply backpressure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "cli.h"

struct cli_input {
  ws101_loop *loop;
  cli_input_cb cb;
  void *user_data;
  int is_file;
  union {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_pipe_t pipe;
    uv_tty_t tty;
  } h;
  uv_fs_t fsreq;
  int64_t offset;
  int want;     /* the caller wants data (resumed) */
  int reading;  /* a stream read is started / an fs read is in flight */
  int ended;    /* the end was delivered */
  int closing;  /* cli_input_close was called */
  char buf[64 * 1024];
};

static void on_handle_closed(uv_handle_t *h) { free(h->data); }

static void deliver_end(cli_input *in) {
  if (in->ended || in->closing) return;
  in->ended = 1;
  in->cb(in, NULL, 0, in->user_data);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  cli_input *in = h->data;
  (void)suggested;
  buf->base = in->buf;
  buf->len = sizeof(in->buf);
}

static void read_cb(uv_stream_t *st, ssize_t n, const uv_buf_t *buf) {
  cli_input *in = st->data;
  if (n > 0) {
    in->cb(in, buf->base, (size_t)n, in->user_data);
  } else if (n < 0) {
    uv_read_stop(st);
    in->reading = 0;
    if (n != UV_EOF)
      fprintf(stderr, "ws101: reading stdin: %s\n", uv_strerror((int)n));
    deliver_end(in);
  }
}

static void start_fs_read(cli_input *in);

static void fs_read_cb(uv_fs_t *req) {
  cli_input *in = req->data;
  ssize_t n = req->result;
  uv_fs_req_cleanup(req);
  /* `reading` stays set during the callbacks, so that a cli_input_close
   * from inside them leaves the freeing to us. */
  if (!in->closing) {
    if (n > 0) {
      in->offset += n;
      in->cb(in, in->buf, (size_t)n, in->user_data);
    } else {
      if (n < 0)
        fprintf(stderr, "ws101: reading stdin: %s\n", uv_strerror((int)n));
      deliver_end(in);
    }
  }
  in->reading = 0;
  if (in->closing) {
    free(in);
    return;
  }
  if (n > 0 && in->want) start_fs_read(in);
}

static void start_fs_read(cli_input *in) {
  uv_buf_t b = uv_buf_init(in->buf, sizeof(in->buf));
  in->fsreq.data = in;
  if (uv_fs_read(ws101_loop_uv(in->loop), &in->fsreq, 0, &b, 1, in->offset,
                 fs_read_cb) == 0)
    in->reading = 1;
  else
    deliver_end(in);
}

int cli_input_open(ws101_loop *loop, cli_input_cb cb, void *user_data,
                   cli_input **out) {
  uv_loop_t *uv = ws101_loop_uv(loop);
  cli_input *in = calloc(1, sizeof(*in));
  uv_handle_type t = uv_guess_handle(0);
  int rc;
  *out = NULL;
  if (in == NULL) {
    fprintf(stderr, "ws101: out of memory\n");
    return -1;
  }
  in->loop = loop;
  in->cb = cb;
  in->user_data = user_data;
  if (t == UV_FILE || t == UV_UNKNOWN_HANDLE) {
    /* A regular file (or /dev/null): read with fs requests at an offset. */
    in->is_file = 1;
    *out = in;
    return 0;
  }
  if (t == UV_TTY) {
    rc = uv_tty_init(uv, &in->h.tty, 0, 1);
  } else {
    rc = uv_pipe_init(uv, &in->h.pipe, 0);
    if (rc == 0) {
      rc = uv_pipe_open(&in->h.pipe, 0);
      if (rc != 0) {
        in->h.handle.data = in;
        uv_close(&in->h.handle, on_handle_closed);
        fprintf(stderr, "ws101: cannot read stdin: %s\n", uv_strerror(rc));
        return -1;
      }
    }
  }
  if (rc != 0) {
    fprintf(stderr, "ws101: cannot read stdin: %s\n", uv_strerror(rc));
    free(in);
    return -1;
  }
  in->h.handle.data = in;
  *out = in;
  return 0;
}

void cli_input_pause(cli_input *in) {
  if (in == NULL) return;
  in->want = 0;
  if (!in->is_file && in->reading) {
    uv_read_stop(&in->h.stream);
    in->reading = 0;
  }
  /* An fs read in flight completes; the next one is not started. */
}

void cli_input_resume(cli_input *in) {
  if (in == NULL || in->ended || in->closing) return;
  in->want = 1;
  if (in->reading) return;
  if (in->is_file) {
    start_fs_read(in);
  } else if (uv_read_start(&in->h.stream, alloc_cb, read_cb) == 0) {
    in->reading = 1;
  } else {
    deliver_end(in);
  }
}

void cli_input_close(cli_input *in) {
  if (in == NULL || in->closing) return;
  in->closing = 1;
  if (in->is_file) {
    if (!in->reading) free(in); /* else fs_read_cb frees it */
    return;
  }
  uv_close(&in->h.handle, on_handle_closed);
}

/* ------------------------------------------------------------------------ */
/* Lines                                                                    */

static int emit(const char *p, size_t n, cli_line_cb cb, void *ud) {
  if (n > 0 && p[n - 1] == '\r') n--; /* CRLF input from Windows tools */
  return cb(p, n, ud);
}

int cli_lines_feed(cli_lines *l, const char *p, size_t n, cli_line_cb cb,
                   void *ud) {
  while (n > 0) {
    const char *nl = memchr(p, '\n', n);
    size_t take = nl ? (size_t)(nl - p) : n;
    if (nl != NULL && l->len == 0) {
      if (emit(p, take, cb, ud)) return 0; /* a whole line: no copy */
    } else {
      if (l->len + take > l->cap) {
        size_t cap = l->cap ? l->cap : 256;
        char *nb;
        while (cap < l->len + take) cap *= 2;
        nb = realloc(l->buf, cap);
        if (nb == NULL) return WS101_ENOMEM;
        l->buf = nb;
        l->cap = cap;
      }
      memcpy(l->buf + l->len, p, take);
      l->len += take;
      if (nl != NULL) {
        size_t len = l->len;
        l->len = 0;
        if (emit(l->buf, len, cb, ud)) return 0;
      }
    }
    if (nl == NULL) break;
    p = nl + 1;
    n -= take + 1;
  }
  return 0;
}

void cli_lines_finish(cli_lines *l, cli_line_cb cb, void *ud) {
  size_t len = l->len;
  l->len = 0;
  if (len > 0) emit(l->buf, len, cb, ud);
}

void cli_lines_free(cli_lines *l) {
  free(l->buf);
  memset(l, 0, sizeof(*l));
}

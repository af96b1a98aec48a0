/* h2_fetch_seq - runs ws101_fetch exchanges on one loop against a peer
 * server, for tests/h2/test_h2_client_interop.py.
 *
 *   h2_fetch_seq [-k] [--http2 MODE] [--parallel] ORIGIN STEP...
 *
 * ORIGIN is scheme://host:port; a STEP is METHOD:PATH, METHOD:PATH=BODY
 * (BODY sent with ws101_fetch_send) or METHOD:PATH~BODY (the body
 * streamed with ws101_fetch_write in two parts).
 * Steps run one after another (each starts in the previous one's DONE
 * callback, so a keep-alive or HTTP/2 connection is reused), or all at
 * once with --parallel. One line per step on stdout, in step order:
 *   <step> <status> <http version> <body>
 * Exit 0 when every exchange completed, 1 otherwise (the error on
 * stderr). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ws101.h"

#define MAX_STEPS 64

typedef struct step {
  char method[16];
  char url[512];
  const char *body;
  int streamed;
  int status, version, done;
  char out[4096];
  size_t len;
} step;

static struct {
  ws101_loop *loop;
  ws101_options *o;
  const char *url;
  step steps[MAX_STEPS];
  int n, next, failed;
} S;

static void start(int i);

static void on_fetch(ws101_fetch *f, int ev, const char *d, size_t n, int arg,
                     void *ud) {
  step *s = ud;
  (void)arg;
  switch (ev) {
  case WS101_FETCH_RESPONSE:
    s->status = ws101_fetch_status(f);
    s->version = ws101_fetch_http_version(f);
    break;
  case WS101_FETCH_BODY:
    if (s->len + n < sizeof s->out) {
      memcpy(s->out + s->len, d, n);
      s->len += n;
    }
    break;
  case WS101_FETCH_DONE:
  case WS101_FETCH_ERROR:
    if (ev == WS101_FETCH_ERROR) {
      fprintf(stderr, "h2_fetch_seq: %s: %.*s (%s)\n", s->method, (int)n, d,
              ws101_err_name(arg));
      S.failed = 1;
    }
    s->done = 1;
    if (S.next < S.n) start(S.next++);
    break;
  }
}

static void start(int i) {
  step *s = &S.steps[i];
  ws101_fetch *f;
  int rc = ws101_fetch_new(S.loop, s->method, s->url, S.o, on_fetch, s, &f);
  if (rc == 0 && s->body != NULL && s->streamed) {
    size_t half = strlen(s->body) / 2;
    rc = ws101_fetch_write(f, s->body, half);
    if (rc == 0) rc = ws101_fetch_write(f, s->body + half,
                                        strlen(s->body) - half);
    if (rc == 0) rc = ws101_fetch_end(f);
  } else if (rc == 0) {
    rc = ws101_fetch_send(f, s->body, s->body ? strlen(s->body) : 0);
  }
  if (rc != 0) {
    fprintf(stderr, "h2_fetch_seq: cannot start %s: %s\n", s->method,
            ws101_strerror(rc));
    exit(1);
  }
}

int main(int argc, char **argv) {
  int i, parallel = 0;
  ws101_options_new(&S.o);
  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-k") == 0) {
      ws101_options_set(S.o, WS101_OPT_TLS_INSECURE_SKIP_VERIFY, 1);
    } else if (strcmp(argv[i], "--http2") == 0 && i + 1 < argc) {
      ws101_options_set(S.o, WS101_OPT_CLIENT_HTTP2, atoi(argv[++i]));
    } else if (strcmp(argv[i], "--parallel") == 0) {
      parallel = 1;
    } else if (S.url == NULL) {
      S.url = argv[i];
    } else if (S.n < MAX_STEPS) {
      step *s = &S.steps[S.n++];
      char *colon = strchr(argv[i], ':');
      char *sep = strpbrk(argv[i], "=~");
      if (colon == NULL || (size_t)(colon - argv[i]) >= sizeof s->method)
        return 2;
      memcpy(s->method, argv[i], (size_t)(colon - argv[i]));
      snprintf(s->url, sizeof s->url, "%s%.*s", S.url,
               (int)(sep ? sep - colon - 1 : (long)strlen(colon + 1)),
               colon + 1);
      if (sep != NULL) {
        s->body = sep + 1;
        s->streamed = *sep == '~';
      }
    }
  }
  if (S.url == NULL || S.n == 0) {
    fprintf(stderr, "usage: h2_fetch_seq [-k] [--http2 MODE] [--parallel] "
                    "ORIGIN STEP...\n");
    return 2;
  }
  ws101_loop_new(&S.loop);
  if (parallel) {
    S.next = S.n;
    for (i = 0; i < S.n; i++) start(i);
  } else {
    S.next = 1;
    start(0);
  }
  ws101_loop_run(S.loop);
  ws101_loop_free(S.loop);
  ws101_options_free(S.o);
  for (i = 0; i < S.n; i++) {
    step *s = &S.steps[i];
    if (!s->done) S.failed = 1;
    printf("%s %d %d %.*s\n", s->method, s->status, s->version, (int)s->len,
           s->out);
  }
  return S.failed;
}

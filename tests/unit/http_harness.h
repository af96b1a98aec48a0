/* http_harness.h - shared by the test_http_server*.c tests: a ws101 server
 * running its loop on a second thread, and a blocking-socket HTTP client
 * for the main thread. Synchronisation is by bytes, EOF or events with a
 * deadline, never by sleeping. Everything is static: include it once per
 * test executable. */
#ifndef WS101_HTTP_HARNESS_H
#define WS101_HTTP_HARNESS_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "test.h"
#include "ws101.h"

/* ---- events between the loop thread and the test thread ---------------- */

static pthread_mutex_t hh_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hh_cv = PTHREAD_COND_INITIALIZER;

static inline void hh_add(int *v, int d) {
  pthread_mutex_lock(&hh_mu);
  *v += d;
  pthread_cond_broadcast(&hh_cv);
  pthread_mutex_unlock(&hh_mu);
}

static inline int hh_get(int *v) {
  int r;
  pthread_mutex_lock(&hh_mu);
  r = *v;
  pthread_mutex_unlock(&hh_mu);
  return r;
}

/* Waits until *v >= want or `ms` pass; returns the last value seen. */
static inline int hh_wait(int *v, int want, int ms) {
  struct timespec ts;
  int r;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += ms / 1000;
  ts.tv_nsec += (long)(ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&hh_mu);
  while (*v < want)
    if (pthread_cond_timedwait(&hh_cv, &hh_mu, &ts) == ETIMEDOUT)
      break;
  r = *v;
  pthread_mutex_unlock(&hh_mu);
  return r;
}

/* ---- the server thread -------------------------------------------------- */

typedef struct hh_server {
  ws101_loop *loop;
  ws101_server *srv;
  int port;
  pthread_t th;
  int close_posted; /* test thread only */
  int closed;       /* the server close callback ran (hh_add) */
} hh_server;

/* Options as {opt, value} pairs ending with {0, 0}. */
typedef struct hh_opt {
  int opt;
  int64_t value;
} hh_opt;

/* Creates loop and server; the test adds routes, then calls hh_run. */
static inline void hh_init(hh_server *s, const hh_opt *opts) {
  ws101_options *o;
  memset(s, 0, sizeof(*s));
  ASSERT_EQ(ws101_loop_new(&s->loop), 0);
  ASSERT_EQ(ws101_options_new(&o), 0);
  for (; opts != NULL && opts->opt != 0; opts++)
    ASSERT_EQ(ws101_options_set(o, (ws101_opt)opts->opt, opts->value), 0);
  ASSERT_EQ(ws101_server_new(s->loop, o, &s->srv), 0);
  ws101_options_free(o); /* the server copied it */
}

static inline void *hh_thread(void *arg) {
  hh_server *s = arg;
  ASSERT_EQ(ws101_loop_run(s->loop), 0);
  return NULL;
}

static inline void hh_run(hh_server *s) {
  ASSERT_EQ(ws101_server_listen(s->srv, "127.0.0.1", 0), 0);
  s->port = ws101_server_port(s->srv);
  ASSERT_GT(s->port, 0);
  ASSERT_EQ(pthread_create(&s->th, NULL, hh_thread, s), 0);
}

static inline void hh_on_closed(ws101_server *srv, void *ud) {
  hh_server *s = ud;
  (void)srv;
  hh_add(&s->closed, 1);
}

static inline void hh_close_post(ws101_loop *loop, void *ud) {
  hh_server *s = ud;
  (void)loop;
  ASSERT_EQ(ws101_server_close(s->srv, hh_on_closed, s), 0);
  /* A second close is refused, and never calls back twice. */
  ASSERT_EQ(ws101_server_close(s->srv, hh_on_closed, s), WS101_ECLOSED);
}

/* Asks the loop thread to close the server (graceful). */
static inline void hh_post_close(hh_server *s) {
  ASSERT_EQ(s->close_posted, 0);
  s->close_posted = 1;
  ASSERT_EQ(ws101_loop_post(s->loop, hh_close_post, s), 0);
}

/* Closes the server (unless already asked), waits for the loop to run out
 * of work, and frees everything. LSan checks the rest at exit. */
static inline void hh_stop(hh_server *s) {
  if (!s->close_posted)
    hh_post_close(s);
  ASSERT_EQ(hh_wait(&s->closed, 1, 5000), 1);
  ASSERT_EQ(pthread_join(s->th, NULL), 0);
  ASSERT_EQ(hh_get(&s->closed), 1);
  ASSERT_EQ(ws101_loop_free(s->loop), 0);
}

/* ---- the client ----------------------------------------------------------
 * A blocking socket plus a buffer of bytes received and not yet consumed,
 * so pipelined responses can be read one by one. */

#define HH_BUF (256 * 1024)
#define HH_MS 5000 /* default deadline for "this must arrive" */

typedef struct hh_cli {
  int fd;
  size_t len;
  char buf[HH_BUF];
} hh_cli;

/* A blocking socket connected to 127.0.0.1:port (allocates nothing). */
static inline int hh_socket(int port) {
  struct sockaddr_in a;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT(fd >= 0);
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
  return fd;
}

static inline hh_cli *hh_connect(int port) {
  hh_cli *c = calloc(1, sizeof(*c));
  ASSERT(c != NULL);
  c->fd = hh_socket(port);
  return c;
}

/* Local "127.0.0.1:port" of the client socket. */
static inline void hh_local_addr(hh_cli *c, char *out, size_t n) {
  struct sockaddr_in a;
  socklen_t l = sizeof(a);
  ASSERT_EQ(getsockname(c->fd, (struct sockaddr *)&a, &l), 0);
  snprintf(out, n, "127.0.0.1:%u", (unsigned)ntohs(a.sin_port));
}

static inline void hh_close(hh_cli *c) {
  if (c->fd >= 0)
    close(c->fd);
  free(c);
}

/* Closes with a RST (SO_LINGER 0) instead of a FIN. */
static inline void hh_reset(hh_cli *c) {
  struct linger l = {1, 0};
  ASSERT_EQ(setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l)), 0);
  hh_close(c);
}

static inline void hh_sendn(hh_cli *c, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
    ASSERT_GT(w, 0);
    p += w;
    n -= (size_t)w;
  }
}

static inline void hh_send(hh_cli *c, const char *s) {
  hh_sendn(c, s, strlen(s));
}

/* Receives more bytes within `ms`: >0 bytes added, 0 EOF, -1 deadline,
 * -2 error (reset). */
static inline int hh_fill(hh_cli *c, int ms) {
  struct timeval tv;
  ssize_t r;
  ASSERT_LT(c->len, HH_BUF);
  tv.tv_sec = ms / 1000;
  tv.tv_usec = (ms % 1000) * 1000;
  ASSERT_EQ(setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
  do
    r = recv(c->fd, c->buf + c->len, HH_BUF - c->len, 0);
  while (r < 0 && errno == EINTR);
  if (r > 0) {
    c->len += (size_t)r;
    return (int)r;
  }
  if (r == 0)
    return 0;
  return (errno == EAGAIN || errno == EWOULDBLOCK) ? -1 : -2;
}

static inline void hh_consume(hh_cli *c, size_t n) {
  memmove(c->buf, c->buf + n, c->len - n);
  c->len -= n;
}

/* Returns 1 if the peer ended the connection (FIN or RST) within `ms`
 * without sending anything more, 0 on timeout; fails on unexpected data. */
static inline int hh_eof(hh_cli *c, int ms) {
  for (;;) {
    int r = hh_fill(c, ms);
    if (r == 0 || r == -2)
      break;
    if (r == -1)
      return 0;
  }
  if (c->len != 0)
    FAILF("unexpected bytes before EOF: %.*s", (int)c->len, c->buf);
  return 1;
}

/* Returns 1 if nothing arrives for `ms` (absence check). */
static inline int hh_quiet(hh_cli *c, int ms) {
  struct pollfd p = {c->fd, POLLIN, 0};
  return c->len == 0 && poll(&p, 1, ms) == 0;
}

typedef struct hh_resp {
  int status;
  int minor; /* HTTP/1.minor */
  char head[8192];
  size_t nh;
  char *name[64], *value[64];
  char *body; /* NUL-terminated */
  size_t body_len;
} hh_resp;

enum { HH_HEAD_ONLY = 1 };

static inline const char *hh_hdr(const hh_resp *r, const char *name) {
  size_t i;
  for (i = 0; i < r->nh; i++)
    if (strcasecmp(r->name[i], name) == 0)
      return r->value[i];
  return NULL;
}

static inline void hh_resp_free(hh_resp *r) {
  free(r->body);
  r->body = NULL;
}

/* Waits until the buffer holds `n` bytes; fails on deadline or EOF. */
static inline void hh_need(hh_cli *c, size_t n, int *eof) {
  while (c->len < n) {
    int r = hh_fill(c, HH_MS);
    if (r == 0 && eof != NULL) {
      *eof = 1;
      return;
    }
    if (r <= 0)
      FAILF("need %zu bytes, have %zu (rc %d)", n, c->len, r);
  }
}

static inline size_t hh_find(hh_cli *c, const char *pat, size_t from) {
  size_t pl = strlen(pat), i;
  for (i = from; i + pl <= c->len; i++)
    if (memcmp(c->buf + i, pat, pl) == 0)
      return i;
  return (size_t)-1;
}

/* Waits for `pat` in the buffer and returns its offset. */
static inline size_t hh_until(hh_cli *c, const char *pat) {
  size_t at;
  while ((at = hh_find(c, pat, 0)) == (size_t)-1) {
    int r = hh_fill(c, HH_MS);
    if (r <= 0)
      FAILF("waiting for \"%s\" (rc %d), have: %.*s", pat, r, (int)c->len,
            c->buf);
  }
  return at;
}

static inline void hh_body_add(hh_resp *r, const char *p, size_t n) {
  r->body = realloc(r->body, r->body_len + n + 1);
  ASSERT(r->body != NULL);
  memcpy(r->body + r->body_len, p, n);
  r->body_len += n;
  r->body[r->body_len] = '\0';
}

/* Reads one complete response (a 1xx counts as one). */
static inline void hh_read(hh_cli *c, hh_resp *r, int flags) {
  size_t end = hh_until(c, "\r\n\r\n");
  char *line, *save = NULL;
  const char *te, *cl;
  memset(r, 0, sizeof(*r));
  ASSERT_LT(end + 4, sizeof(r->head));
  memcpy(r->head, c->buf, end + 2);
  r->head[end + 2] = '\0';
  hh_consume(c, end + 4);
  line = strtok_r(r->head, "\r\n", &save);
  ASSERT(line != NULL);
  if (sscanf(line, "HTTP/1.%d %d", &r->minor, &r->status) != 2)
    FAILF("bad status line: %s", line);
  while ((line = strtok_r(NULL, "\r\n", &save)) != NULL) {
    char *colon = strchr(line, ':');
    ASSERT(colon != NULL);
    ASSERT_LT(r->nh, 64);
    *colon = '\0';
    for (colon++; *colon == ' '; colon++) {
    }
    r->name[r->nh] = line;
    r->value[r->nh++] = colon;
  }
  hh_body_add(r, "", 0);
  r->body_len = 0;
  if ((flags & HH_HEAD_ONLY) || r->status < 200 || r->status == 204 ||
      r->status == 304)
    return;
  te = hh_hdr(r, "Transfer-Encoding");
  cl = hh_hdr(r, "Content-Length");
  if (te != NULL) {
    ASSERT_STR_EQ(te, "chunked");
    ASSERT(cl == NULL);
    for (;;) {
      size_t eol = hh_until(c, "\r\n");
      unsigned long n = strtoul(c->buf, NULL, 16);
      hh_consume(c, eol + 2);
      if (n == 0) {
        ASSERT_EQ(hh_until(c, "\r\n"), 0); /* no trailers from us */
        hh_consume(c, 2);
        return;
      }
      hh_need(c, n + 2, NULL);
      hh_body_add(r, c->buf, n);
      ASSERT_MEM_EQ(c->buf + n, "\r\n", 2);
      hh_consume(c, n + 2);
    }
  } else if (cl != NULL) {
    size_t n = (size_t)strtoull(cl, NULL, 10);
    hh_need(c, n, NULL);
    hh_body_add(r, c->buf, n);
    hh_consume(c, n);
  } else { /* close-delimited */
    int eof = 0;
    while (!eof)
      hh_need(c, c->len + 1, &eof);
    hh_body_add(r, c->buf, c->len);
    hh_consume(c, c->len);
  }
}

/* Reads a response and checks status and body (body NULL: not checked). */
static inline void hh_expect(hh_cli *c, int status, const char *body) {
  hh_resp r;
  hh_read(c, &r, 0);
  if (r.status != status)
    FAILF("status %d, expected %d (body: %s)", r.status, status, r.body);
  if (body != NULL)
    ASSERT_STR_EQ(r.body, body);
  hh_resp_free(&r);
}

/* Reads a response that must end the connection. */
static inline void hh_expect_close(hh_cli *c, int status) {
  hh_resp r;
  hh_read(c, &r, 0);
  if (r.status != status)
    FAILF("status %d, expected %d (body: %s)", r.status, status, r.body);
  ASSERT_STR_EQ(hh_hdr(&r, "Connection"), "close");
  hh_resp_free(&r);
  ASSERT_EQ(hh_eof(c, HH_MS), 1);
}

/* A one-line route: answers with the route's user data as body. */
static inline void hh_say(ws101_req *req, void *ud) {
  const char *s = ud;
  ASSERT_EQ(ws101_req_respond(req, 200, "text/plain", s, strlen(s)), 0);
}

#endif

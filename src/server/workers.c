/* workers.c - ws101_workers: N servers on N loops in N threads, each
 * accepting on its own SO_REUSEPORT socket, with one pub/sub group.
 *
 * Every worker is an ordinary loop + server: handlers are the same code as
 * on a lone server and run on their worker's thread. The only thread
 * crossing is ws101_loop_post (publish fan-out, stop). Loops are freed
 * only after every thread has been joined, so a post from one worker to
 * another always finds its loop, and runs (at the latest inside
 * ws101_loop_free). */
/* SO_REUSEPORT is not POSIX: glibc shows it only to default sources. */
#define _DEFAULT_SOURCE
#include "server/pubsub.h"
#include "server/server.h"

#include "io/loop.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define WORKERS_MAX 256

typedef struct worker {
  ws101_workers *w;
  ws101_loop *loop;
  ws101_server *srv; /* NULL once closed (on its thread) */
  uv_thread_t th;
  int th_started;
} worker;

struct ws101_workers {
  int n;
  int started;
  int port; /* 0 until listening */
  worker *wk;
  ws101__ps_group *group;
};

static void free_all(ws101_workers *w) {
  int i;
  for (i = 0; i < w->n; i++)
    if (w->wk[i].loop != NULL) ws101_loop_free(w->wk[i].loop);
  ws101__ps_group_free(w->group);
  free(w->wk);
  free(w);
}

int ws101_workers_new(int n, const ws101_options *opts,
                      ws101_workers_setup_cb setup, void *user_data,
                      ws101_workers **out) {
  ws101_workers *w;
  ws101_server **srvs;
  int i, rc = 0;
  if (out == NULL) return WS101_EINVAL;
  *out = NULL;
  if (n < 1 || n > WORKERS_MAX) return WS101_EINVAL;
  w = calloc(1, sizeof(*w));
  srvs = calloc((size_t)n, sizeof(*srvs));
  if (w == NULL || srvs == NULL || (w->wk = calloc((size_t)n, sizeof(*w->wk))) == NULL) {
    free(srvs);
    free(w);
    return WS101_ENOMEM;
  }
  w->n = n;
  for (i = 0; i < n && rc == 0; i++) {
    worker *k = &w->wk[i];
    k->w = w;
    rc = ws101_loop_new(&k->loop);
    if (rc == 0) rc = ws101_server_new(k->loop, opts, &k->srv);
    srvs[i] = k->srv;
  }
  if (rc == 0 && (w->group = ws101__ps_group_new(srvs, n)) == NULL)
    rc = WS101_ENOMEM;
  for (i = 0; i < n && rc == 0 && setup != NULL; i++)
    rc = setup(w->wk[i].srv, i, user_data);
  free(srvs);
  if (rc != 0) {
    free_all(w);
    return rc > 0 ? WS101_EINVAL : rc;
  }
  *out = w;
  return 0;
}

/* One listening socket, SO_REUSEPORT if the kernel allows it. Returns the
 * fd, or a negative WS101_E* code. *reuseport says whether it took. */
static int make_socket(const struct sockaddr *sa, socklen_t salen,
                       int *reuseport) {
  int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0), on = 1;
  if (fd < 0) return WS101_EIO;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
#ifdef SO_REUSEPORT
  *reuseport = setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) == 0;
#else
  *reuseport = 0;
#endif
  if (sa->sa_family == AF_INET6)
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
  if (bind(fd, sa, salen) != 0) {
    int e = errno;
    close(fd);
    if (e == EADDRINUSE) return WS101_EADDRINUSE;
    if (e == EADDRNOTAVAIL) return WS101_EADDRNOTAVAIL;
    return WS101_EIO;
  }
  return fd;
}

static void set_port(struct sockaddr_storage *ss, int port) {
  if (ss->ss_family == AF_INET6)
    ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
  else
    ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
}

int ws101_workers_listen(ws101_workers *w, const char *host, int port) {
  struct sockaddr_storage ss;
  socklen_t salen;
  int i, fd0 = -1, shared = 0, rc;
  if (w == NULL || host == NULL || port < 0 || port > 65535)
    return WS101_EINVAL;
  if (w->started || w->port != 0) return WS101_ESTATE;
  if (strcmp(host, "localhost") == 0) host = "127.0.0.1";
  memset(&ss, 0, sizeof ss);
  if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) == 0) {
    salen = sizeof(struct sockaddr_in);
  } else if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) == 0) {
    salen = sizeof(struct sockaddr_in6);
  } else {
    return WS101_EINVAL;
  }
  for (i = 0; i < w->n; i++) {
    int fd, reuse = 0;
    if (shared) {
      /* No SO_REUSEPORT: every worker polls the same socket, and the
       * kernel hands each connection to whichever accepts first. */
      fd = dup(fd0);
      if (fd < 0) return WS101_EIO;
    } else {
      fd = make_socket((const struct sockaddr *)&ss, salen, &reuse);
      if (fd < 0) return fd;
      if (i == 0) {
        struct sockaddr_storage got;
        socklen_t glen = sizeof got;
        /* Port 0: the others must bind the port the first one got. */
        if (getsockname(fd, (struct sockaddr *)&got, &glen) != 0) {
          close(fd);
          return WS101_EIO;
        }
        port = ntohs(got.ss_family == AF_INET6
                         ? ((struct sockaddr_in6 *)&got)->sin6_port
                         : ((struct sockaddr_in *)&got)->sin_port);
        set_port(&ss, port);
        fd0 = fd;
        shared = !reuse && w->n > 1;
      }
    }
    rc = ws101__server_listen_fd(w->wk[i].srv, fd);
    if (rc != 0) return rc;
  }
  w->port = port;
  return 0;
}

int ws101_workers_port(const ws101_workers *w) {
  if (w == NULL) return WS101_EINVAL;
  return w->port != 0 ? w->port : WS101_ESTATE;
}

int ws101_workers_count(const ws101_workers *w) { return w ? w->n : 0; }

ws101_server *ws101_workers_server(ws101_workers *w, int index) {
  if (w == NULL || index < 0 || index >= w->n) return NULL;
  return w->wk[index].srv;
}

ws101_loop *ws101_workers_loop(ws101_workers *w, int index) {
  if (w == NULL || index < 0 || index >= w->n) return NULL;
  return w->wk[index].loop;
}

static void run_worker(void *arg) {
  worker *k = arg;
  ws101_loop_run(k->loop);
}

static void closed_cb(ws101_server *srv, void *arg) {
  worker *k = arg;
  (void)srv;
  k->srv = NULL;
  ws101_loop_stop(k->loop);
}

static void stop_cb(ws101_loop *loop, void *arg) {
  worker *k = arg;
  if (k->srv == NULL || ws101_server_close(k->srv, closed_cb, k) != 0)
    ws101_loop_stop(loop);
}

int ws101_workers_start(ws101_workers *w) {
  int i;
  if (w == NULL) return WS101_EINVAL;
  if (w->started) return WS101_ESTATE;
  w->started = 1;
  for (i = 0; i < w->n; i++) {
    if (uv_thread_create(&w->wk[i].th, run_worker, &w->wk[i]) != 0) {
      ws101_workers_stop(w);
      return WS101_EIO;
    }
    w->wk[i].th_started = 1;
  }
  return 0;
}

int ws101_workers_stop(ws101_workers *w) {
  int i;
  if (w == NULL) return WS101_EINVAL;
  for (i = 0; i < w->n; i++)
    if (w->wk[i].th_started) ws101_loop_post(w->wk[i].loop, stop_cb, &w->wk[i]);
  return 0;
}

int ws101_workers_free(ws101_workers *w) {
  int i;
  if (w == NULL) return WS101_EINVAL;
  for (i = 0; i < w->n; i++)
    if (w->wk[i].th_started) uv_thread_join(&w->wk[i].th);
  free_all(w);
  return 0;
}

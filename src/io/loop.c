/* loop.c - ws101_loop: the libuv loop, thread-safe posts, per-iteration
 * output flushing, connection deadlines and the cached Date header. */
#include "io/loop.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "io/conn.h"

typedef struct ws101__post {
  ws101_post_cb cb;
  void *user_data;
  struct ws101__post *next;
} ws101__post;

/* Pops every queued post under the lock and runs them outside it, so a
 * callback may post again without deadlocking. */
static void run_posts(ws101_loop *loop) {
  ws101__post *p, *next;
  uv_mutex_lock(&loop->post_mu);
  p = loop->post_head;
  loop->post_head = loop->post_tail = NULL;
  uv_mutex_unlock(&loop->post_mu);
  for (; p != NULL; p = next) {
    next = p->next;
    p->cb(loop, p->user_data);
    free(p);
  }
}

static void on_async(uv_async_t *h) { run_posts(h->data); }

/* Flushes every connection that was written to since the last flush: this
 * is where a burst of small writes becomes one syscall. */
static void flush_dirty(ws101_loop *loop) {
  while (loop->dirty != NULL) {
    ws101__conn *c = loop->dirty;
    loop->dirty = c->next_dirty;
    c->next_dirty = NULL;
    c->flags &= ~WS101__CONN_DIRTY;
    if (!(c->flags & WS101__CONN_CLOSING)) ws101__conn_flush_from_loop(c);
  }
}

static void on_prepare(uv_prepare_t *h) { flush_dirty(h->data); }
static void on_check(uv_check_t *h) { flush_dirty(h->data); }

static void on_sweep(uv_timer_t *h) {
  ws101_loop *loop = h->data;
  ws101__conn_sweep(loop);
  if (loop->timed == NULL) uv_timer_stop(&loop->sweep);
}

void ws101__loop_arm_sweep(ws101_loop *loop) {
  if (!uv_is_active((uv_handle_t *)&loop->sweep))
    uv_timer_start(&loop->sweep, on_sweep, WS101__SWEEP_MS, WS101__SWEEP_MS);
}

static int loop_init(ws101_loop *loop) {
  int rc;
  loop->rbuf = malloc(WS101__READ_BUF_SIZE);
  if (loop->rbuf == NULL) return WS101_ENOMEM;
  if (uv_mutex_init(&loop->post_mu) != 0) {
    free(loop->rbuf);
    return WS101_EIO;
  }
  rc = uv_async_init(loop->uv, &loop->async, on_async);
  if (rc != 0) {
    uv_mutex_destroy(&loop->post_mu);
    free(loop->rbuf);
    return ws101__uv_err(rc);
  }
  loop->async.data = loop;
  /* Our helper handles never keep the loop alive by themselves: only
   * listeners, connections and pending work do. */
  uv_unref((uv_handle_t *)&loop->async);
  uv_prepare_init(loop->uv, &loop->flush_prepare);
  loop->flush_prepare.data = loop;
  uv_prepare_start(&loop->flush_prepare, on_prepare);
  uv_unref((uv_handle_t *)&loop->flush_prepare);
  uv_check_init(loop->uv, &loop->flush_check);
  loop->flush_check.data = loop;
  uv_check_start(&loop->flush_check, on_check);
  uv_unref((uv_handle_t *)&loop->flush_check);
  uv_timer_init(loop->uv, &loop->sweep);
  loop->sweep.data = loop;
  uv_unref((uv_handle_t *)&loop->sweep);
  return 0;
}

/* Writes to a socket the peer has reset raise SIGPIPE, whose default
 * action kills the process; libuv leaves that to the application. */
static void ignore_sigpipe(void) {
  struct sigaction sa;
  if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL &&
      !(sa.sa_flags & SA_SIGINFO)) {
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
  }
}

int ws101_loop_new(ws101_loop **out) {
  ws101_loop *loop;
  int rc;
  if (out == NULL) return WS101_EINVAL;
  ignore_sigpipe();
  *out = NULL;
  loop = calloc(1, sizeof(*loop));
  if (loop == NULL) return WS101_ENOMEM;
  rc = uv_loop_init(&loop->own_uv);
  if (rc != 0) {
    free(loop);
    return ws101__uv_err(rc);
  }
  loop->uv = &loop->own_uv;
  loop->owns_uv = 1;
  rc = loop_init(loop);
  if (rc != 0) {
    uv_loop_close(&loop->own_uv);
    free(loop);
    return rc;
  }
  *out = loop;
  return 0;
}

int ws101_loop_new_uv(struct uv_loop_s *uv, ws101_loop **out) {
  ws101_loop *loop;
  int rc;
  if (out == NULL) return WS101_EINVAL;
  ignore_sigpipe();
  *out = NULL;
  if (uv == NULL) return WS101_EINVAL;
  loop = calloc(1, sizeof(*loop));
  if (loop == NULL) return WS101_ENOMEM;
  loop->uv = uv;
  rc = loop_init(loop);
  if (rc != 0) {
    free(loop);
    return rc;
  }
  *out = loop;
  return 0;
}

struct uv_loop_s *ws101_loop_uv(ws101_loop *loop) { return loop->uv; }

int ws101_loop_run(ws101_loop *loop) {
  if (loop == NULL) return WS101_EINVAL;
  if (loop->running) return WS101_ESTATE;
  loop->running = 1;
  loop->stopped = 0;
  /* The async handle is unreferenced (an idle loop must return), so posts
   * that arrive as uv_run decides to return are run here. */
  for (;;) {
    int pending;
    uv_run(loop->uv, UV_RUN_DEFAULT);
    if (loop->stopped) break;
    uv_mutex_lock(&loop->post_mu);
    pending = loop->post_head != NULL;
    uv_mutex_unlock(&loop->post_mu);
    if (!pending) break;
    run_posts(loop);
  }
  loop->running = 0;
  return 0;
}

int ws101_loop_run_once(ws101_loop *loop, int block) {
  int more;
  if (loop == NULL) return WS101_EINVAL;
  if (loop->running) return WS101_ESTATE;
  loop->running = 1;
  more = uv_run(loop->uv, block ? UV_RUN_ONCE : UV_RUN_NOWAIT);
  run_posts(loop); /* see ws101_loop_run */
  /* UV_RUN_ONCE runs due timers once more after the check phase, so bytes
   * a timer callback wrote would wait for the next iteration, which a
   * caller stepping the loop may never run: flush them now. */
  flush_dirty(loop);
  loop->running = 0;
  return more != 0;
}

void ws101_loop_stop(ws101_loop *loop) {
  if (loop == NULL) return;
  loop->stopped = 1;
  uv_stop(loop->uv);
}

int ws101_loop_post(ws101_loop *loop, ws101_post_cb cb, void *user_data) {
  ws101__post *p;
  if (loop == NULL || cb == NULL) return WS101_EINVAL;
  p = malloc(sizeof(*p));
  if (p == NULL) return WS101_ENOMEM;
  p->cb = cb;
  p->user_data = user_data;
  p->next = NULL;
  uv_mutex_lock(&loop->post_mu);
  if (loop->post_closed) {
    uv_mutex_unlock(&loop->post_mu);
    free(p);
    return WS101_ECLOSED;
  }
  if (loop->post_tail != NULL)
    loop->post_tail->next = p;
  else
    loop->post_head = p;
  loop->post_tail = p;
  /* Sent under the lock: ws101_loop_free closes the async handle only after
   * setting post_closed under the same lock, so it cannot vanish here. */
  uv_async_send(&loop->async);
  uv_mutex_unlock(&loop->post_mu);
  return 0;
}

static void close_helper(uv_handle_t *h) {
  if (!uv_is_closing(h)) uv_close(h, NULL);
}

static void close_walk(uv_handle_t *h, void *arg) {
  (void)arg;
  close_helper(h);
}

void ws101__loop_add_closable(ws101_loop *loop, ws101__closable *c) {
  c->prev = NULL;
  c->next = loop->closables;
  if (loop->closables != NULL) loop->closables->prev = c;
  loop->closables = c;
}

void ws101__loop_remove_closable(ws101_loop *loop, ws101__closable *c) {
  if (c->prev != NULL)
    c->prev->next = c->next;
  else if (loop->closables == c)
    loop->closables = c->next;
  if (c->next != NULL) c->next->prev = c->prev;
  c->prev = c->next = NULL;
}

void ws101__loop_add_orphan(ws101_loop *loop, ws101__orphan *o) {
  o->loop = loop;
  o->prev = NULL;
  o->next = loop->orphans;
  if (loop->orphans != NULL) loop->orphans->prev = o;
  loop->orphans = o;
}

void ws101__loop_remove_orphan(ws101__orphan *o) {
  if (o->loop == NULL) return;
  if (o->prev != NULL)
    o->prev->next = o->next;
  else
    o->loop->orphans = o->next;
  if (o->next != NULL) o->next->prev = o->prev;
  o->prev = o->next = NULL;
  o->loop = NULL;
}

/* Last in ws101_loop_free: what the application held and never
 * answered. A release may not add orphans. */
static void release_orphans(ws101_loop *loop) {
  while (loop->orphans != NULL) {
    ws101__orphan *o = loop->orphans;
    ws101__loop_remove_orphan(o);
    o->release(o);
  }
}

/* A close may unlink its own entry at once, so the next one is read
 * first. Closing twice is each owner's to ignore (a closing server does). */
static void close_closables(ws101_loop *loop) {
  ws101__closable *c = loop->closables, *next;
  for (; c != NULL; c = next) {
    next = c->next;
    c->close(c);
  }
}

static void cancel_conn(ws101__conn *c, void *arg) {
  (void)arg;
  ws101__conn_close(c, WS101_ECANCELED);
}

int ws101_loop_free(ws101_loop *loop) {
  int i;
  if (loop == NULL) return WS101_EINVAL;
  if (loop->running) return WS101_ESTATE;
  loop->freeing = 1;
  close_closables(loop);
  ws101__timer_close_all(loop);
  ws101__conn_foreach(loop, cancel_conn, NULL);
  if (loop->client_pool_free != NULL && loop->client_pool != NULL) {
    loop->client_pool_free(loop->client_pool);
    loop->client_pool = NULL;
  }
  /* Let close callbacks (final events) and pending posts run. Bounded: a
   * callback that keeps creating work cannot hold the free forever. */
  for (i = 0; i < 1000 && (loop->nconns > 0 || loop->closables != NULL ||
                    loop->timers != NULL);
       i++) {
    run_posts(loop);
    uv_run(loop->uv, UV_RUN_NOWAIT);
  }
  uv_mutex_lock(&loop->post_mu);
  loop->post_closed = 1;
  uv_mutex_unlock(&loop->post_mu);
  run_posts(loop);
  release_orphans(loop);
  if (loop->deflate_shared_free != NULL && loop->deflate_shared != NULL)
    loop->deflate_shared_free(loop->deflate_shared);
  /* Per loop, not per thread: a thread-local buffer leaks when the thread
   * that ran the loop exits. */
  if (loop->ws_scratch_free != NULL && loop->ws_scratch != NULL)
    loop->ws_scratch_free(loop->ws_scratch);
  close_helper((uv_handle_t *)&loop->async);
  close_helper((uv_handle_t *)&loop->flush_prepare);
  close_helper((uv_handle_t *)&loop->flush_check);
  close_helper((uv_handle_t *)&loop->sweep);
  uv_run(loop->uv, UV_RUN_NOWAIT);
  if (loop->owns_uv) {
    /* Anything still open belongs to a misbehaving caller; close it so the
     * loop can be closed rather than leaking it. */
    if (uv_loop_close(loop->uv) == UV_EBUSY) {
      uv_walk(loop->uv, close_walk, NULL);
      uv_run(loop->uv, UV_RUN_DEFAULT);
      uv_loop_close(loop->uv);
    }
  }
  ws101__conn_cache_free(loop);
  ws101__conn_pool_free(loop);
  if (loop->tls_clients_free != NULL && loop->tls_clients != NULL)
    loop->tls_clients_free(loop->tls_clients);
  free(loop->tls_plain);
  free(loop->texp);
  uv_mutex_destroy(&loop->post_mu);
  free(loop->rbuf);
  free(loop);
  return 0;
}

const char *ws101__loop_date(ws101_loop *loop) {
  time_t now = time(NULL);
  if ((uint64_t)now != loop->date_sec || loop->date[0] == '\0') {
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(loop->date, sizeof(loop->date), "%a, %d %b %Y %H:%M:%S GMT",
             &tm);
    loop->date_sec = (uint64_t)now;
  }
  return loop->date;
}

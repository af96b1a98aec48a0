/* test_loop.c - the loop: own and caller's uv loop, the thread-safe post,
 * run/run_once/stop, and freeing with work still pending. */
#include <pthread.h>
#include <uv.h>

#include "test.h"
#include "ws101.h"

typedef struct post_state {
  ws101_loop *loop;
  pthread_t loop_thread;
  int ran;
  int on_loop_thread;
  int order[8];
} post_state;

static void record(ws101_loop *loop, void *ud) {
  post_state *s = ud;
  (void)loop;
  s->on_loop_thread = pthread_equal(pthread_self(), s->loop_thread);
  s->order[s->ran % 8] = s->ran;
  s->ran++;
  if (s->ran == 8) ws101_loop_stop(s->loop);
}

static void *poster(void *arg) {
  post_state *s = arg;
  int i;
  for (i = 0; i < 8; i++) ASSERT_EQ(ws101_loop_post(s->loop, record, s), 0);
  return NULL;
}

/* A listener keeps the loop alive while the other thread posts. */
static void test_post_from_thread(void) {
  post_state s;
  ws101_server *srv;
  pthread_t t;
  memset(&s, 0, sizeof(s));
  ASSERT_EQ(ws101_loop_new(&s.loop), 0);
  ASSERT_EQ(ws101_server_new(s.loop, NULL, &srv), 0);
  ASSERT_EQ(ws101_server_listen(srv, "127.0.0.1", 0), 0);
  s.loop_thread = pthread_self();
  ASSERT_EQ(pthread_create(&t, NULL, poster, &s), 0);
  ASSERT_EQ(ws101_loop_run(s.loop), 0);
  pthread_join(t, NULL);
  ASSERT_EQ(s.ran, 8);
  ASSERT_EQ(s.on_loop_thread, 1);
  for (int i = 0; i < 8; i++) ASSERT_EQ(s.order[i], i);
  ASSERT_EQ(ws101_loop_free(s.loop), 0);
}

static void test_post_runs_on_free(void) {
  post_state s;
  memset(&s, 0, sizeof(s));
  ASSERT_EQ(ws101_loop_new(&s.loop), 0);
  s.loop_thread = pthread_self();
  ASSERT_EQ(ws101_loop_post(s.loop, record, &s), 0);
  ASSERT_EQ(ws101_loop_post(s.loop, record, &s), 0);
  ASSERT_EQ(ws101_loop_free(s.loop), 0);
  ASSERT_EQ(s.ran, 2); /* every successful post runs exactly once */
}

static void never_cb(uv_timer_t *t) {
  (void)t;
  FAILF("the caller's timer should not fire");
}

static void test_caller_uv_loop(void) {
  uv_loop_t uv;
  ws101_loop *loop;
  post_state s;
  memset(&s, 0, sizeof(s));
  ASSERT_EQ(uv_loop_init(&uv), 0);
  ASSERT_EQ(ws101_loop_new_uv(&uv, &loop), 0);
  ASSERT(ws101_loop_uv(loop) == &uv);
  s.loop = loop;
  s.loop_thread = pthread_self();
  ASSERT_EQ(ws101_loop_post(loop, record, &s), 0);
  /* The caller drives its own loop, kept alive by its own handle. */
  {
    uv_timer_t t;
    uv_timer_init(&uv, &t);
    ASSERT_EQ(uv_timer_start(&t, never_cb, 60000, 0), 0);
    uv_run(&uv, UV_RUN_ONCE); /* wakes for the post, not the timer */
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&uv, UV_RUN_NOWAIT);
  }
  ASSERT_EQ(s.ran, 1);
  ASSERT_EQ(ws101_loop_free(loop), 0);
  ASSERT_EQ(uv_loop_close(&uv), 0); /* nothing of ours left on it */
}

static void test_run_once_idle(void) {
  ws101_loop *loop;
  ASSERT_EQ(ws101_loop_new(&loop), 0);
  ASSERT_EQ(ws101_loop_run_once(loop, 0), 0);
  ASSERT_EQ(ws101_loop_run(loop), 0); /* returns: nothing to do */
  ASSERT_EQ(ws101_loop_free(loop), 0);
}

static void reenter(ws101_loop *loop, void *ud) {
  int *rc = ud;
  *rc = ws101_loop_run(loop);
}

static void test_reentrant_run_refused(void) {
  ws101_loop *loop;
  int rc = 0;
  ASSERT_EQ(ws101_loop_new(&loop), 0);
  ASSERT_EQ(ws101_loop_post(loop, reenter, &rc), 0);
  ws101_loop_run_once(loop, 0);
  ASSERT_EQ(rc, WS101_ESTATE);
  ASSERT_EQ(ws101_loop_free(loop), 0);
}

static void test_bad_args(void) {
  ASSERT_EQ(ws101_loop_new(NULL), WS101_EINVAL);
  ASSERT_EQ(ws101_loop_new_uv(NULL, NULL), WS101_EINVAL);
  ASSERT_EQ(ws101_loop_post(NULL, record, NULL), WS101_EINVAL);
}

static int closed_calls;
static void on_server_closed(ws101_server *srv, void *ud) {
  (void)srv;
  ASSERT(ud == &closed_calls);
  closed_calls++;
}

static void test_server_close_cb(void) {
  ws101_loop *loop;
  ws101_server *srv;
  int port;
  ASSERT_EQ(ws101_loop_new(&loop), 0);
  ASSERT_EQ(ws101_server_new(loop, NULL, &srv), 0);
  ASSERT_EQ(ws101_server_port(srv), WS101_ESTATE);
  ASSERT_EQ(ws101_server_listen(srv, "127.0.0.1", 0), 0);
  port = ws101_server_port(srv);
  ASSERT_GT(port, 0);
  ASSERT_EQ(ws101_server_listen(srv, "bogus host", 0), WS101_EINVAL);
  ASSERT_EQ(ws101_server_close(srv, on_server_closed, &closed_calls), 0);
  ASSERT_EQ(closed_calls, 0); /* never inside the call */
  ASSERT_EQ(ws101_loop_run(loop), 0);
  ASSERT_EQ(closed_calls, 1);
  ASSERT_EQ(ws101_loop_free(loop), 0);
}

static void test_listen_conflict(void) {
  ws101_loop *loop;
  ws101_server *a, *b;
  ASSERT_EQ(ws101_loop_new(&loop), 0);
  ASSERT_EQ(ws101_server_new(loop, NULL, &a), 0);
  ASSERT_EQ(ws101_server_new(loop, NULL, &b), 0);
  ASSERT_EQ(ws101_server_listen(a, "127.0.0.1", 0), 0);
  ASSERT_EQ(ws101_server_listen(b, "127.0.0.1", ws101_server_port(a)),
            WS101_EADDRINUSE);
  ASSERT_EQ(ws101_server_route(a, "nope", 0, NULL, NULL), WS101_EINVAL);
  ASSERT_EQ(ws101_loop_free(loop), 0); /* closes both servers */
}

int main(void) {
  RUN(test_post_from_thread);
  RUN(test_post_runs_on_free);
  RUN(test_caller_uv_loop);
  RUN(test_run_once_idle);
  RUN(test_reentrant_run_refused);
  RUN(test_bad_args);
  RUN(test_server_close_cb);
  RUN(test_listen_conflict);
  TEST_DONE();
}

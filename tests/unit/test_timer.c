/* test_timer.c - ws101_timer: one-shot and repeating, stop/restart, closing
 * from its own callback, and timers left open when the loop is freed. */
#include "test.h"
#include "ws101.h"

typedef struct tstate {
  ws101_loop *loop;
  int fired;
  int closed;
  int stop_after;
} tstate;

static void on_close(ws101_timer *t, void *ud) {
  tstate *s = ud;
  (void)t;
  s->closed++;
}

static void count_then_close(ws101_timer *t, void *ud) {
  tstate *s = ud;
  s->fired++;
  if (s->fired == s->stop_after) ASSERT_EQ(ws101_timer_close(t, on_close, s), 0);
}

static void test_repeat_then_close_from_callback(void) {
  tstate s = {0};
  ws101_timer *t;
  ASSERT_EQ(ws101_loop_new(&s.loop), 0);
  s.stop_after = 3;
  ASSERT_EQ(ws101_timer_new(s.loop, count_then_close, &s, &t), 0);
  ASSERT_EQ(ws101_timer_active(t), 0);
  ASSERT_EQ(ws101_timer_start(t, 1, 1), 0);
  ASSERT_EQ(ws101_timer_active(t), 1);
  /* The loop returns once the closed timer is the last handle. */
  ASSERT_EQ(ws101_loop_run(s.loop), 0);
  ASSERT_EQ(s.fired, 3);
  ASSERT_EQ(s.closed, 1);
  ASSERT_EQ(ws101_loop_free(s.loop), 0);
}

static void count(ws101_timer *t, void *ud) {
  tstate *s = ud;
  (void)t;
  s->fired++;
}

static void test_one_shot_and_restart(void) {
  tstate s = {0};
  ws101_timer *t;
  ASSERT_EQ(ws101_loop_new(&s.loop), 0);
  ASSERT_EQ(ws101_timer_new(s.loop, count, &s, &t), 0);
  ASSERT_EQ(ws101_timer_start(t, 0, 0), 0);
  ASSERT_EQ(ws101_loop_run(s.loop), 0); /* one shot: the loop runs dry */
  ASSERT_EQ(s.fired, 1);
  ASSERT_EQ(ws101_timer_active(t), 0);
  ASSERT_EQ(ws101_timer_start(t, 0, 0), 0);
  ASSERT_EQ(ws101_loop_run(s.loop), 0);
  ASSERT_EQ(s.fired, 2);
  /* Stopped before it is due: it never fires. */
  ASSERT_EQ(ws101_timer_start(t, 0, 0), 0);
  ASSERT_EQ(ws101_timer_stop(t), 0);
  ASSERT_EQ(ws101_timer_stop(t), 0);
  ASSERT_EQ(ws101_loop_run(s.loop), 0);
  ASSERT_EQ(s.fired, 2);
  ASSERT_EQ(ws101_timer_close(t, on_close, &s), 0);
  ASSERT_EQ(ws101_timer_close(t, on_close, &s), WS101_ECLOSED);
  ASSERT_EQ(ws101_timer_start(t, 0, 0), WS101_ECLOSED);
  ASSERT_EQ(s.closed, 0); /* asynchronous */
  ASSERT_EQ(ws101_loop_run(s.loop), 0);
  ASSERT_EQ(s.closed, 1);
  ASSERT_EQ(ws101_loop_free(s.loop), 0);
}

static void test_free_closes_open_timers(void) {
  tstate s = {0};
  ws101_timer *t1, *t2;
  ASSERT_EQ(ws101_loop_new(&s.loop), 0);
  ASSERT_EQ(ws101_timer_new(s.loop, count, &s, &t1), 0);
  ASSERT_EQ(ws101_timer_new(s.loop, count, &s, &t2), 0);
  ASSERT_EQ(ws101_timer_start(t1, 100000, 0), 0);
  ASSERT_EQ(ws101_timer_close(t2, on_close, &s), 0);
  ASSERT_EQ(ws101_loop_free(s.loop), 0); /* LSan checks t1 was freed */
  ASSERT_EQ(s.fired, 0);
  ASSERT_EQ(s.closed, 1);
}

static void test_bad_arguments(void) {
  ws101_loop *loop;
  ws101_timer *t = (ws101_timer *)&t;
  ASSERT_EQ(ws101_loop_new(&loop), 0);
  ASSERT_EQ(ws101_timer_new(loop, NULL, NULL, &t), WS101_EINVAL);
  ASSERT(t == NULL);
  ASSERT_EQ(ws101_timer_new(NULL, count, NULL, &t), WS101_EINVAL);
  ASSERT_EQ(ws101_timer_start(NULL, 0, 0), WS101_EINVAL);
  ASSERT_EQ(ws101_timer_stop(NULL), WS101_EINVAL);
  ASSERT_EQ(ws101_timer_close(NULL, NULL, NULL), WS101_EINVAL);
  ASSERT_EQ(ws101_timer_active(NULL), 0);
  ASSERT_EQ(ws101_loop_free(loop), 0);
}

int main(void) {
  RUN(test_repeat_then_close_from_callback);
  RUN(test_one_shot_and_restart);
  RUN(test_free_closes_open_timers);
  RUN(test_bad_arguments);
  TEST_DONE();
}

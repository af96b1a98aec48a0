/* timer.c - ws101_timer: a libuv timer owned by a ws101 loop, so callers
 * need neither uv.h nor a thread to run periodic work (broadcasts, pings of
 * their own, timeouts). */
#include <stdlib.h>

#include "io/loop.h"

struct ws101_timer {
  uv_timer_t uv;
  ws101_loop *loop;
  ws101_timer_cb cb;
  void *user_data;
  ws101_timer_close_cb close_cb;
  void *close_user_data;
  int closing;
  /* The loop's list of open timers, so ws101_loop_free can close them. */
  struct ws101_timer *next, **prevp;
};

static void on_fire(uv_timer_t *h) {
  ws101_timer *t = h->data;
  if (!t->closing) t->cb(t, t->user_data);
}

int ws101_timer_new(ws101_loop *loop, ws101_timer_cb cb, void *user_data,
                    ws101_timer **out) {
  ws101_timer *t;
  if (out != NULL) *out = NULL;
  if (loop == NULL || cb == NULL || out == NULL) return WS101_EINVAL;
  if (loop->freeing) return WS101_ECLOSED;
  t = calloc(1, sizeof(*t));
  if (t == NULL) return WS101_ENOMEM;
  if (uv_timer_init(loop->uv, &t->uv) != 0) {
    free(t);
    return WS101_ENOMEM;
  }
  t->uv.data = t;
  t->loop = loop;
  t->cb = cb;
  t->user_data = user_data;
  t->next = loop->timers;
  if (t->next != NULL) t->next->prevp = &t->next;
  t->prevp = &loop->timers;
  loop->timers = t;
  *out = t;
  return 0;
}

int ws101_timer_start(ws101_timer *t, uint64_t timeout_ms,
                      uint64_t repeat_ms) {
  if (t == NULL) return WS101_EINVAL;
  if (t->closing) return WS101_ECLOSED;
  return uv_timer_start(&t->uv, on_fire, timeout_ms, repeat_ms) == 0
             ? 0
             : WS101_EINVAL;
}

int ws101_timer_stop(ws101_timer *t) {
  if (t == NULL) return WS101_EINVAL;
  if (t->closing) return WS101_ECLOSED;
  uv_timer_stop(&t->uv);
  return 0;
}

int ws101_timer_active(const ws101_timer *t) {
  return t != NULL && !t->closing && uv_is_active((const uv_handle_t *)&t->uv);
}

static void on_closed(uv_handle_t *h) {
  ws101_timer *t = h->data;
  /* Unlinked only now: ws101_loop_free keeps running the loop while the
   * list is non-empty, so the close callback is guaranteed to run. */
  *t->prevp = t->next;
  if (t->next != NULL) t->next->prevp = t->prevp;
  if (t->close_cb != NULL) t->close_cb(t, t->close_user_data);
  free(t);
}

int ws101_timer_close(ws101_timer *t, ws101_timer_close_cb close_cb,
                      void *user_data) {
  if (t == NULL) return WS101_EINVAL;
  if (t->closing) return WS101_ECLOSED;
  t->closing = 1;
  t->close_cb = close_cb;
  t->close_user_data = user_data;
  uv_timer_stop(&t->uv);
  uv_close((uv_handle_t *)&t->uv, on_closed);
  return 0;
}

void ws101__timer_close_all(ws101_loop *loop) {
  ws101_timer *t;
  for (t = loop->timers; t != NULL; t = t->next)
    if (!t->closing) ws101_timer_close(t, NULL, NULL);
}

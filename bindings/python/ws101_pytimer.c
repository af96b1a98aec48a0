/*
 * ws101_pytimer.c - ws101_timer for Python: one callable per timer.
 *
 * The context (a ws101py_cb holding the callable) is the timer's user_data
 * and is released by the close callback, which libws101 runs exactly once
 * after ws101_timer_close. Timers still open when their loop is freed are
 * closed from ws101py_loop_before_free with that same close callback
 * (ws101_loop_free would close them with none, leaking the callable).
 * All live timers are kept in one list for that.
 */
#include "ws101_pyglue.h"

#include <stdlib.h>

typedef struct pytimer {
  ws101py_cb *cb;
  ws101_timer *timer;
  ws101_loop *loop;
  int closing;
  struct pytimer *prev, *next;
} pytimer;

static pytimer *g_timers;

static void timer_tramp(ws101_timer *t, void *ud) {
  pytimer *pt = ud;
  ws101py_cb *c = pt->cb;
  PyGILState_STATE g = PyGILState_Ensure();
  c->busy++;
  if (c->fn) {
    PyObject *r = PyObject_CallNoArgs(c->fn);
    if (r)
      Py_DECREF(r);
    else
      ws101py_report_exc(pt->loop);
  }
  c->busy--;
  if (c->dead && !c->busy) ws101py_cb_release(c);
  PyGILState_Release(g);
}

static void timer_closed(ws101_timer *t, void *ud) {
  pytimer *pt = ud;
  PyGILState_STATE g = PyGILState_Ensure();
  if (pt->prev)
    pt->prev->next = pt->next;
  else
    g_timers = pt->next;
  if (pt->next) pt->next->prev = pt->prev;
  ws101py_cb_release(pt->cb);
  free(pt);
  PyGILState_Release(g);
}

PyObject *ws101py_timer_new(ws101_loop *loop, PyObject *fn) {
  pytimer *pt;
  ws101_timer *t = NULL;
  int rc;
  ws101py_cb *c = ws101py_cb_new(fn, 0);
  if (!c) return NULL;
  pt = calloc(1, sizeof(*pt));
  if (!pt) {
    ws101py_cb_release(c);
    return PyErr_NoMemory();
  }
  pt->cb = c;
  pt->loop = loop;
  c->loop = loop;
  rc = ws101_timer_new(loop, timer_tramp, pt, &t);
  if (rc < 0) {
    ws101py_cb_release(c);
    free(pt);
    return Py_BuildValue("[iO]", rc, Py_None);
  }
  pt->timer = t;
  pt->next = g_timers;
  if (g_timers) g_timers->prev = pt;
  g_timers = pt;
  {
    PyObject *h = ws101py_wrap(t, WS101PY_T_TIMER);
    if (!h) return NULL; /* the timer stays with the loop, which closes it */
    return Py_BuildValue("[iN]", 0, h);
  }
}

int ws101py_timer_close(ws101_timer *t) {
  pytimer *pt;
  for (pt = g_timers; pt; pt = pt->next)
    if (pt->timer == t) break;
  if (!pt || pt->closing) return WS101_ECLOSED;
  pt->closing = 1;
  return ws101_timer_close(t, timer_closed, pt);
}

void ws101py_timers_close_loop(ws101_loop *loop) {
  pytimer *pt;
  for (pt = g_timers; pt; pt = pt->next) {
    if (pt->loop == loop && !pt->closing) {
      pt->closing = 1;
      ws101_timer_close(pt->timer, timer_closed, pt);
    }
  }
}

void ws101py_timers_drop_loop(ws101_loop *loop) {
  pytimer *pt, *n;
  for (pt = g_timers; pt; pt = n) {
    n = pt->next;
    if (pt->loop != loop) continue;
    if (pt->prev)
      pt->prev->next = pt->next;
    else
      g_timers = pt->next;
    if (pt->next) pt->next->prev = pt->prev;
    ws101py_cb_release(pt->cb);
    free(pt);
  }
}

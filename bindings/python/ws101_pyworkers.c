/*
 * ws101_pyworkers.c - ws101_workers for Python: the setup callable and a
 * join that releases the GIL.
 *
 * Worker loops run on threads libws101 starts; their trampolines take the
 * GIL like any other, so Python handlers on N workers run one at a time
 * (the C work around them - parsing, framing, deflate, writes - runs in
 * parallel). Each worker loop gets the binding's loop state (error policy)
 * without the Ctrl-C timer: that timer is a libuv handle, and only the
 * worker's own thread may touch its loop once started.
 *
 * Lifetime: contexts registered on a worker's server (routes, the Redis
 * callback) and timers on a worker loop are released after
 * ws101_workers_free has joined the threads and freed the loops, through
 * the same path as a freed ws101_loop (ws101py_loop_after_free) plus the
 * timers the loop closed without our close callback.
 */
#include "ws101_pyglue.h"

#include <stdlib.h>

typedef struct setup_env {
  PyObject *fn;
  ws101_loop **loops; /* registered so far (to undo on failure) */
  int nloops;
  PyObject *et, *ev, *etb; /* the exception setup raised, to re-raise */
} setup_env;

static int setup_tramp(ws101_server *srv, int index, void *ud) {
  setup_env *e = ud;
  ws101_loop *loop = ws101_server_loop(srv);
  PyObject *h, *r;
  /* Called on this thread, inside ws101_workers_new: the GIL is held. */
  if (ws101py_loop_register_worker(loop) < 0) {
    PyErr_Fetch(&e->et, &e->ev, &e->etb);
    return WS101_ENOMEM;
  }
  e->loops[e->nloops++] = loop;
  h = ws101py_wrap(srv, WS101PY_T_SERVER);
  r = h ? PyObject_CallFunction(e->fn, "Oi", h, index) : NULL;
  Py_XDECREF(h);
  if (!r) {
    PyErr_Fetch(&e->et, &e->ev, &e->etb);
    return WS101_EINVAL;
  }
  Py_DECREF(r);
  return 0;
}

/* The binding's state of a freed worker loop. Returns -1 with an
 * exception set if one was recorded there (raise mode). */
static int drop_loop(ws101_loop *loop) {
  ws101py_timers_drop_loop(loop);
  return ws101py_loop_after_free(loop);
}

PyObject *ws101py_workers_new(int n, const ws101_options *opts,
                              PyObject *setup) {
  setup_env e = {0};
  ws101_workers *w = NULL;
  int rc, i, failed = 0;
  if (!PyCallable_Check(setup)) {
    PyErr_SetString(PyExc_TypeError, "setup must be callable");
    return NULL;
  }
  if (n < 1 || n > 256) return Py_BuildValue("[iO]", WS101_EINVAL, Py_None);
  e.fn = setup;
  e.loops = calloc((size_t)n, sizeof(*e.loops));
  if (!e.loops) return PyErr_NoMemory();
  rc = ws101_workers_new(n, opts, setup_tramp, &e, &w);
  if (rc < 0) {
    /* Everything was freed: forget the loops we registered. */
    for (i = 0; i < e.nloops; i++)
      if (drop_loop(e.loops[i]) < 0) PyErr_Clear();
    failed = 1;
  }
  free(e.loops);
  if (e.et) {
    PyErr_Restore(e.et, e.ev, e.etb);
    return NULL;
  }
  if (failed) return Py_BuildValue("[iO]", rc, Py_None);
  return Py_BuildValue("[iN]", 0, ws101py_wrap(w, WS101PY_T_WORKERS));
}

PyObject *ws101py_workers_free(ws101_workers *w) {
  ws101_loop **loops;
  int n, i, rc;
  if (!w) return PyLong_FromLong(WS101_EINVAL);
  n = ws101_workers_count(w);
  loops = calloc((size_t)n, sizeof(*loops));
  if (!loops) return PyErr_NoMemory();
  for (i = 0; i < n; i++) loops[i] = ws101_workers_loop(w, i);
  /* The join waits for handlers that need the GIL. */
  Py_BEGIN_ALLOW_THREADS
  rc = ws101_workers_free(w);
  Py_END_ALLOW_THREADS
  for (i = 0; i < n; i++) {
    /* Worker loops log their callbacks' exceptions; anything recorded
     * is printed rather than lost. */
    if (drop_loop(loops[i]) < 0) PyErr_WriteUnraisable(NULL);
  }
  free(loops);
  return PyLong_FromLong(rc);
}

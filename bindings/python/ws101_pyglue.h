/*
 * ws101_pyglue.h - C side of the Python binding: callback contexts,
 * trampolines, per-loop error state and the GIL-releasing run.
 *
 * Everything here runs with the GIL held, except the libuv wait inside
 * ws101py_loop_run / ws101py_loop_run_once. Trampolines are called by the
 * library on the loop thread and take the GIL with PyGILState_Ensure.
 */
#ifndef WS101_PYGLUE_H
#define WS101_PYGLUE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "ws101.h"

/* Handle kinds passed to the pointer-wrapping hook. */
enum {
  WS101PY_T_LOOP = 0,
  WS101PY_T_SERVER,
  WS101PY_T_REQ,
  WS101PY_T_WS,
  WS101PY_T_FETCH,
  WS101PY_T_TIMER,
  WS101PY_T_WORKERS
};

/* Turns a C handle of kind WS101PY_T_* into a SWIG pointer object. */
PyObject *ws101py_wrap(void *p, int type);

/* One registered Python callable. `busy` counts calls in progress so a
 * context released from inside its own callback is freed after it. */
typedef struct ws101py_cb {
  PyObject *fn; /* owned reference; NULL once released (or for "no cb") */
  ws101_loop *loop;
  int busy;
  int dead;
  int route; /* held by a server route (not by one handle) */
  struct ws101py_cb *next; /* in a server's route list */
} ws101py_cb;

/* Set by the SWIG module init: turns a C handle into a SWIG pointer. */
void ws101py_set_wrap(PyObject *(*wrap)(void *ptr, int type));

/* Creates a context for `fn` (must be callable; None allowed when
 * `allow_none`). Returns NULL with a Python exception set. */
ws101py_cb *ws101py_cb_new(PyObject *fn, int allow_none);
/* Drops the Python reference; frees now or after the running call. */
void ws101py_cb_release(ws101py_cb *c);

/* Called right after the C function that took the callback returned
 * `rc`: on error the callback will never run, so the context is released;
 * otherwise it is attached to its owner (server route list, request...).
 * `symname` is the wrapped C function, `owner` its first argument. */
void ws101py_cb_commit(ws101py_cb *c, int rc, const char *symname,
                       void *owner);
/* A new ws handle (accept/connect) takes `c` as its per-connection
 * context (kept in the user-data slot so ws101_ws_set_handler can drop
 * it). */
void ws101py_ws_adopt(ws101_ws *ws, ws101py_cb *c);

/* Trampolines. */
void ws101py_post_tramp(ws101_loop *loop, void *ud);
void ws101py_request_tramp(ws101_req *req, void *ud);
void ws101py_server_close_tramp(ws101_server *srv, void *ud);
void ws101py_ws_tramp(ws101_ws *ws, int event, const char *data, size_t len,
                      int arg, void *ud);
void ws101py_fetch_tramp(ws101_fetch *f, int event, const char *data,
                         size_t len, int arg, void *ud);
void ws101py_body_tramp(ws101_req *req, const char *data, size_t len,
                        int last, void *ud);
void ws101py_abort_tramp(ws101_req *req, void *ud);
void ws101py_drain_tramp(ws101_req *req, void *ud);
/* For callbacks the library may call from inside the registering call
 * (ws101_req_read_body): pin_req keeps `c` alive across the call and
 * gives it the request's loop; commit_pinned unpins, then commits unless
 * the final call already came (rc < 0: the call failed or never ran). */
void ws101py_cb_pin_req(ws101py_cb *c, ws101_req *req);
void ws101py_cb_commit_pinned(ws101py_cb *c, int rc, const char *sym,
                              void *owner);
void ws101py_redis_tramp(ws101_redis *r, int event, const char *data,
                         int arg, void *ud);

/* Loop lifetime and running. Each returns -1 with a Python exception set
 * on failure. */
int ws101py_loop_register(ws101_loop *loop);
/* A loop the binding does not run itself (a worker's): no Ctrl-C timer. */
int ws101py_loop_register_worker(ws101_loop *loop);
void ws101py_loop_before_free(ws101_loop *loop);
int ws101py_loop_after_free(ws101_loop *loop);
void ws101py_loop_free_failed(ws101_loop *loop);
int ws101py_loop_run(ws101_loop *loop, int *result);
int ws101py_loop_run_once(ws101_loop *loop, int block, int *result);

/* Error policy of a loop: handler NULL/None = record the first exception,
 * stop the loop and re-raise it from run(); a callable = call it with each
 * exception (log mode; the loop keeps running). Returns 0 or -1. */
int ws101py_loop_set_error_handler(ws101_loop *loop, PyObject *handler);
/* Takes (and clears) the exception recorded for `loop`; NULL if none. */
PyObject *ws101py_loop_take_error(ws101_loop *loop);

/* Consumes the current Python exception as raised by a callback of
 * `loop` (the loop's error policy: log, record or print). */
void ws101py_report_exc(ws101_loop *loop);

/* Timers (ws101_pytimer.c): a Python callable per ws101_timer, released by
 * the timer's close callback. */
PyObject *ws101py_timer_new(ws101_loop *loop, PyObject *fn);
int ws101py_timer_close(ws101_timer *t);
/* Closes the timers of `loop` still open, so their contexts are released
 * (ws101_loop_free would close them without a close callback). */
void ws101py_timers_close_loop(ws101_loop *loop);
/* After `loop` was freed without ws101py_loop_before_free (a worker's):
 * releases the callables of its timers, which it closed without a close
 * callback. */
void ws101py_timers_drop_loop(ws101_loop *loop);

/* Workers (ws101_pyworkers.c). */
PyObject *ws101py_workers_new(int n, const ws101_options *opts,
                              PyObject *setup);
PyObject *ws101py_workers_free(ws101_workers *w);

/* The asyncio driver (ws101_pystep.c). */
int ws101py_backend_fd(ws101_loop *loop);
/* One non-blocking loop iteration; returns the milliseconds until libuv
 * needs the next one (0: at once), or -1 when nothing but I/O on the
 * backend fd can make it needed. -2 with a Python exception set if a
 * callback's exception is to be raised (raise mode). */
int ws101py_step(ws101_loop *loop);

/* Requests: the per-request state lives in the req user-data slot. */
void *ws101py_req_state(ws101_req *req);
/* Called after a call that may complete the request. */
void ws101py_req_after(void *state, int completed);
/* The buffered body as bytes. */
PyObject *ws101py_req_body_bytes(ws101_req *req);

/* Stats for leak tests: live callback contexts and request states. */
long ws101py_live_callbacks(void);
long ws101py_live_requests(void);

#endif

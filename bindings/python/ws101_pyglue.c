/*
 * ws101_pyglue.c - callback contexts, trampolines and loop state of the
 * Python binding. See ws101_pyglue.h.
 *
 * Reference rules (what keeps a Python callable alive, and until when):
 *   ws101_loop_post          until the posted callback has run
 *   ws101_server_route /
 *   ws101_server_websocket   on the server, until its close callback ran
 *                            (or the loop was freed)
 *   ws101_redis_attach       like a route: on the server until it is freed
 *                            (the backplane reports nothing after that)
 *   ws101_server_close       until it ran
 *   ws101_req_accept_websocket /
 *   ws101_ws_connect /
 *   ws101_ws_set_handler     until WS101_WS_CLOSE ran (or it was replaced)
 *   ws101_fetch_new          until WS101_FETCH_DONE / _ERROR ran
 *   ws101_req_on_abort /
 *   ws101_req_on_drain       until the request completed
 *   ws101_req_read_body      until the request completed and the last body
 *                            call came (or the connection was aborted, or
 *                            the loop was freed): the library may still
 *                            deliver body bytes it had read after an early
 *                            response
 * Every dispatched request also gets an internal abort callback (no Python
 * function; replaced by ws101_req_on_abort from Python) so the binding
 * learns when a connection with a pending body is gone.
 */
#include "ws101_pyglue.h"

#include <stdlib.h>
#include <string.h>
#include <uv.h>

static PyObject *(*g_wrap)(void *ptr, int type);
static long g_live_cbs;
static long g_live_reqs;

void ws101py_set_wrap(PyObject *(*wrap)(void *ptr, int type)) {
  g_wrap = wrap;
}

long ws101py_live_callbacks(void) { return g_live_cbs; }
long ws101py_live_requests(void) { return g_live_reqs; }

/* ------------------------------------------------------------------------ */
/* Callback contexts                                                        */
/* ------------------------------------------------------------------------ */

ws101py_cb *ws101py_cb_new(PyObject *fn, int allow_none) {
  ws101py_cb *c;
  if (fn == Py_None && allow_none) {
    fn = NULL;
  } else if (!PyCallable_Check(fn)) {
    PyErr_SetString(PyExc_TypeError, "callback must be callable");
    return NULL;
  }
  c = calloc(1, sizeof(*c));
  if (!c) {
    PyErr_NoMemory();
    return NULL;
  }
  Py_XINCREF(fn);
  c->fn = fn;
  g_live_cbs++;
  return c;
}

static void cb_free(ws101py_cb *c) {
  Py_CLEAR(c->fn);
  free(c);
  g_live_cbs--;
}

void ws101py_cb_release(ws101py_cb *c) {
  if (!c) return;
  if (c->busy) {
    /* Keep the struct (the running trampoline still reads it); the
     * callable itself may go once the call has returned. */
    c->dead = 1;
    return;
  }
  cb_free(c);
}

/* Called by trampolines after the call. */
static void cb_leave(ws101py_cb *c) {
  c->busy--;
  if (c->dead && !c->busy) cb_free(c);
}

/* ------------------------------------------------------------------------ */
/* Loop state: error policy and the Ctrl-C timer                            */
/* ------------------------------------------------------------------------ */

typedef struct loopstate {
  ws101_loop *loop;
  PyObject *pending; /* exception to raise from run() */
  PyObject *handler; /* log-mode handler, or NULL */
  uv_timer_t *sigtimer;
  int running;
  struct loopstate *next;
} loopstate;

static loopstate *g_loops;

static loopstate *loop_find(ws101_loop *loop) {
  loopstate *ls;
  for (ls = g_loops; ls; ls = ls->next)
    if (ls->loop == loop) return ls;
  return NULL;
}

static void timer_free_cb(uv_handle_t *h) { free(h); }

/* Every 50 ms while run() waits: give Python's signal handlers a chance, so
 * Ctrl-C raises KeyboardInterrupt out of run(). The timer is unref'd: it
 * never keeps the loop alive by itself. */
static void report_exc(ws101_loop *loop, int fatal_only);

void ws101py_report_exc(ws101_loop *loop) { report_exc(loop, 0); }

static void sigtimer_cb(uv_timer_t *t) {
  loopstate *ls = t->data;
  PyGILState_STATE g = PyGILState_Ensure();
  if (PyErr_CheckSignals() < 0) report_exc(ls->loop, 1);
  PyGILState_Release(g);
}

static int loop_register(ws101_loop *loop, int sigtimer) {
  loopstate *ls = calloc(1, sizeof(*ls));
  if (!ls) goto nomem;
  if (!sigtimer) goto link;
  ls->sigtimer = malloc(sizeof(*ls->sigtimer));
  if (!ls->sigtimer) goto nomem;
  if (uv_timer_init(ws101_loop_uv(loop), ls->sigtimer) != 0) {
    free(ls->sigtimer);
    ls->sigtimer = NULL;
  } else {
    ls->sigtimer->data = ls;
    uv_unref((uv_handle_t *)ls->sigtimer);
  }
link:
  ls->loop = loop;
  ls->next = g_loops;
  g_loops = ls;
  return 0;
nomem:
  free(ls);
  PyErr_NoMemory();
  return -1;
}

int ws101py_loop_register(ws101_loop *loop) { return loop_register(loop, 1); }

/* A worker's loop runs on its own thread, started by ws101_workers_start:
 * nothing calls run_enter, and its handles may only be touched there. */
int ws101py_loop_register_worker(ws101_loop *loop) {
  return loop_register(loop, 0);
}

int ws101py_loop_set_error_handler(ws101_loop *loop, PyObject *handler) {
  loopstate *ls = loop_find(loop);
  if (!ls) {
    PyErr_SetString(PyExc_ValueError, "unknown loop");
    return -1;
  }
  if (handler == Py_None) handler = NULL;
  if (handler && !PyCallable_Check(handler)) {
    PyErr_SetString(PyExc_TypeError, "error handler must be callable");
    return -1;
  }
  Py_XINCREF(handler);
  Py_XSETREF(ls->handler, handler);
  return 0;
}

PyObject *ws101py_loop_take_error(ws101_loop *loop) {
  loopstate *ls = loop_find(loop);
  PyObject *e;
  if (!ls || !ls->pending) Py_RETURN_NONE;
  e = ls->pending;
  ls->pending = NULL;
  return e;
}

/* Consumes the current Python exception raised by a callback of `loop`.
 * KeyboardInterrupt/SystemExit (not Exception subclasses) always stop the
 * loop and are re-raised from run(). Others go to the loop's handler (log
 * mode) or are recorded and stop the loop (raise mode). With `fatal_only`
 * (signal check) the exception is always recorded. */
static void report_exc(ws101_loop *loop, int fatal_only) {
  PyObject *t, *v, *tb;
  loopstate *ls = loop_find(loop);
  int fatal;

  PyErr_Fetch(&t, &v, &tb);
  if (!t) return;
  PyErr_NormalizeException(&t, &v, &tb);
  if (tb && v) PyException_SetTraceback(v, tb);
  fatal = fatal_only || !PyErr_GivenExceptionMatches(t, PyExc_Exception);

  if (ls && ls->handler && !fatal) {
    PyObject *r = PyObject_CallOneArg(ls->handler, v);
    if (r) {
      Py_DECREF(r);
    } else {
      PyErr_WriteUnraisable(ls->handler);
    }
  } else if (ls && (!ls->pending ||
                    (fatal && PyErr_GivenExceptionMatches(ls->pending,
                                                          PyExc_Exception)))) {
    if (ls->pending) {
      /* A second, non-fatal one is printed rather than lost. */
      PyErr_Restore(Py_NewRef((PyObject *)Py_TYPE(ls->pending)), ls->pending,
                    PyException_GetTraceback(ls->pending));
      ls->pending = NULL;
      PyErr_WriteUnraisable(NULL);
    }
    ls->pending = v;
    v = NULL;
    ws101_loop_stop(loop);
  } else {
    PyErr_Restore(t, v, tb);
    t = v = tb = NULL;
    PyErr_WriteUnraisable(NULL);
  }
  Py_XDECREF(t);
  Py_XDECREF(v);
  Py_XDECREF(tb);
}

static void run_enter(loopstate *ls) {
  if (ls && ls->running++ == 0 && ls->sigtimer)
    uv_timer_start(ls->sigtimer, sigtimer_cb, 50, 50);
}

static int run_leave(ws101_loop *loop) {
  loopstate *ls = loop_find(loop);
  if (!ls) return 0;
  if (--ls->running == 0 && ls->sigtimer) uv_timer_stop(ls->sigtimer);
  if (ls->pending && ls->running == 0) {
    PyObject *e = ls->pending;
    ls->pending = NULL;
    PyErr_Restore(Py_NewRef((PyObject *)Py_TYPE(e)), e,
                  PyException_GetTraceback(e));
    return -1;
  }
  return 0;
}

int ws101py_loop_run(ws101_loop *loop, int *result) {
  int r;
  run_enter(loop_find(loop));
  Py_BEGIN_ALLOW_THREADS
  r = ws101_loop_run(loop);
  Py_END_ALLOW_THREADS
  *result = r;
  return run_leave(loop);
}

int ws101py_loop_run_once(ws101_loop *loop, int block, int *result) {
  int r;
  run_enter(loop_find(loop));
  if (block) {
    Py_BEGIN_ALLOW_THREADS
    r = ws101_loop_run_once(loop, block);
    Py_END_ALLOW_THREADS
  } else {
    r = ws101_loop_run_once(loop, 0);
  }
  *result = r;
  return run_leave(loop);
}

/* ------------------------------------------------------------------------ */
/* Servers: route contexts live until the close callback                    */
/* ------------------------------------------------------------------------ */

typedef struct srvstate {
  ws101_server *srv;
  ws101_loop *loop;
  ws101py_cb *routes;
  struct srvstate *next;
} srvstate;

static srvstate *g_servers;

static srvstate *srv_find(ws101_server *srv, int create) {
  srvstate *s;
  for (s = g_servers; s; s = s->next)
    if (s->srv == srv) return s;
  if (!create) return NULL;
  s = calloc(1, sizeof(*s));
  if (!s) return NULL;
  s->srv = srv;
  s->loop = ws101_server_loop(srv);
  s->next = g_servers;
  g_servers = s;
  return s;
}

static void srv_drop(srvstate *s) {
  srvstate **pp;
  ws101py_cb *c, *n;
  for (pp = &g_servers; *pp; pp = &(*pp)->next) {
    if (*pp == s) {
      *pp = s->next;
      break;
    }
  }
  for (c = s->routes; c; c = n) {
    n = c->next;
    ws101py_cb_release(c);
  }
  free(s);
}

void ws101py_loop_before_free(ws101_loop *loop) {
  loopstate *ls = loop_find(loop);
  ws101py_timers_close_loop(loop);
  if (ls && ls->sigtimer) {
    uv_timer_stop(ls->sigtimer);
    uv_close((uv_handle_t *)ls->sigtimer, timer_free_cb);
    ls->sigtimer = NULL;
  }
}

static void reqs_drop_loop(ws101_loop *loop);

void ws101py_loop_free_failed(ws101_loop *loop) {
  loopstate *ls = loop_find(loop);
  if (!ls || ls->sigtimer) return;
  /* ws101_loop_free refused (called from a callback): bring back the
   * Ctrl-C timer that ws101py_loop_before_free closed. */
  ls->sigtimer = malloc(sizeof(*ls->sigtimer));
  if (!ls->sigtimer) return;
  if (uv_timer_init(ws101_loop_uv(loop), ls->sigtimer) != 0) {
    free(ls->sigtimer);
    ls->sigtimer = NULL;
    return;
  }
  ls->sigtimer->data = ls;
  uv_unref((uv_handle_t *)ls->sigtimer);
  if (ls->running) uv_timer_start(ls->sigtimer, sigtimer_cb, 50, 50);
}

int ws101py_loop_after_free(ws101_loop *loop) {
  loopstate **pp, *ls = NULL;
  srvstate *s, *n;
  PyObject *e = NULL;
  reqs_drop_loop(loop);
  for (s = g_servers; s; s = n) {
    n = s->next;
    if (s->loop == loop) srv_drop(s);
  }
  for (pp = &g_loops; *pp; pp = &(*pp)->next) {
    if ((*pp)->loop == loop) {
      ls = *pp;
      *pp = ls->next;
      break;
    }
  }
  if (!ls) return 0;
  e = ls->pending;
  Py_CLEAR(ls->handler);
  free(ls);
  if (e) {
    PyErr_Restore(Py_NewRef((PyObject *)Py_TYPE(e)), e,
                  PyException_GetTraceback(e));
    return -1;
  }
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Requests                                                                 */
/* ------------------------------------------------------------------------ */

typedef struct reqstate {
  ws101_loop *loop;
  ws101py_cb *body;
  ws101py_cb *abort;
  ws101py_cb *drain;
  int busy;
  int completed;
  /* A body callback is registered and its last call has not come yet.
   * The library may still call it after the request completed (bytes of
   * the body already read when the handler answered), so the context
   * stays until that last call (or until the loop is freed). */
  int body_open;
  /* All live states, so ws101_loop_free can drop those of requests the
   * application never completed (the library frees them with the loop). */
  struct reqstate *prev, *next;
} reqstate;

static reqstate *g_reqs;

static void req_unlink(reqstate *rq) {
  if (rq->prev)
    rq->prev->next = rq->next;
  else
    g_reqs = rq->next;
  if (rq->next) rq->next->prev = rq->prev;
}

void *ws101py_req_state(ws101_req *req) {
  return ws101_req_get_user_data(req);
}

static void req_maybe_free(reqstate *rq) {
  if (rq->completed && !rq->busy && !rq->body_open) {
    req_unlink(rq);
    free(rq);
    g_live_reqs--;
  }
}

static void reqs_drop_loop(ws101_loop *loop) {
  reqstate *rq, *n;
  for (rq = g_reqs; rq; rq = n) {
    n = rq->next;
    if (rq->loop != loop) continue;
    ws101py_cb_release(rq->body);
    ws101py_cb_release(rq->abort);
    ws101py_cb_release(rq->drain);
    rq->body = rq->abort = rq->drain = NULL;
    rq->completed = 1;
    rq->busy = 0;
    rq->body_open = 0;
    req_maybe_free(rq);
  }
}

void ws101py_req_after(void *state, int completed) {
  reqstate *rq = state;
  if (!rq || !completed || rq->completed) return;
  rq->completed = 1;
  ws101py_cb_release(rq->abort);
  ws101py_cb_release(rq->drain); /* never called after completion */
  rq->abort = rq->drain = NULL;
  /* The library never calls a completed request's body callback again, so
   * it can go now even if the body had not ended. */
  ws101py_cb_release(rq->body);
  rq->body = NULL;
  rq->body_open = 0;
  req_maybe_free(rq);
}

/* After an exception in a request callback: answer 500 if nothing was
 * sent, or end what was started, so the connection stays usable. */
static void req_fail(ws101_req *req, reqstate *rq) {
  static const char msg[] = "Internal Server Error\n";
  int rc;
  if (rq->completed) return;
  rc = ws101_req_respond(req, 500, "text/plain; charset=utf-8", msg,
                         sizeof(msg) - 1);
  if (rc == WS101_ESTATE) rc = ws101_req_end(req);
  if (rc == 0 || rc == WS101_ECLOSED) ws101py_req_after(rq, 1);
}

PyObject *ws101py_req_body_bytes(ws101_req *req) {
  const char *b = ws101_req_body(req);
  size_t n = ws101_req_body_len(req);
  if (!b) n = 0;
  return PyBytes_FromStringAndSize(b ? b : "", (Py_ssize_t)n);
}

/* ------------------------------------------------------------------------ */
/* Commit: who owns a context once the C call accepted it                   */
/* ------------------------------------------------------------------------ */

void ws101py_ws_adopt(ws101_ws *ws, ws101py_cb *c) {
  c->loop = ws101_ws_loop(ws);
  if (!ws101_ws_get_user_data(ws)) ws101_ws_set_user_data(ws, c);
}

void ws101py_cb_commit(ws101py_cb *c, int rc, const char *sym, void *owner) {
  if (!c) return;
  if (rc < 0) {
    ws101py_cb_release(c);
    return;
  }
  if (!strcmp(sym, "ws101_loop_post") || !strcmp(sym, "ws101_ws_connect") ||
      !strcmp(sym, "ws101_fetch_new")) {
    c->loop = owner;
  } else if (!strcmp(sym, "ws101_server_route") ||
             !strcmp(sym, "ws101_server_websocket") ||
             !strcmp(sym, "ws101_redis_attach")) {
    srvstate *s = srv_find(owner, 1);
    c->loop = ws101_server_loop(owner);
    c->route = 1;
    if (s) {
      c->next = s->routes;
      s->routes = c;
    } /* else: out of memory, the context leaks rather than dangles */
  } else if (!strcmp(sym, "ws101_server_close")) {
    /* Nothing to record (the trampoline asks the server for its loop), and
     * `c` must not be touched: the callback may already have run. */
  } else if (!strcmp(sym, "ws101_ws_set_handler")) {
    ws101py_cb *old = ws101_ws_get_user_data(owner);
    c->loop = ws101_ws_loop(owner);
    ws101_ws_set_user_data(owner, c);
    ws101py_cb_release(old);
  } else if (!strcmp(sym, "ws101_req_read_body") ||
             !strcmp(sym, "ws101_req_on_abort") ||
             !strcmp(sym, "ws101_req_on_drain")) {
    reqstate *rq = ws101_req_get_user_data(owner);
    ws101py_cb **slot;
    if (!rq) return; /* not a request we dispatched: keep it (leak) */
    c->loop = rq->loop;
    slot = !strcmp(sym, "ws101_req_read_body")  ? &rq->body
           : !strcmp(sym, "ws101_req_on_abort") ? &rq->abort
                                                : &rq->drain;
    ws101py_cb_release(*slot);
    *slot = c;
    if (slot == &rq->body) rq->body_open = 1;
  }
}

void ws101py_cb_pin_req(ws101py_cb *c, ws101_req *req) {
  reqstate *rq = req ? ws101_req_get_user_data(req) : NULL;
  if (rq) c->loop = rq->loop;
  c->busy++;
}

void ws101py_cb_commit_pinned(ws101py_cb *c, int rc, const char *sym,
                              void *owner) {
  if (!c) return;
  c->busy--;
  if (c->dead) { /* its last call ran inside the registering call */
    if (!c->busy) cb_free(c);
    return;
  }
  ws101py_cb_commit(c, rc, sym, owner);
}

/* ------------------------------------------------------------------------ */
/* Trampolines                                                              */
/* ------------------------------------------------------------------------ */

PyObject *ws101py_wrap(void *p, int type) {
  if (!g_wrap) {
    PyErr_SetString(PyExc_RuntimeError, "ws101: module not initialised");
    return NULL;
  }
  return g_wrap(p, type);
}


static PyObject *bytes_of(const char *d, size_t n) {
  return PyBytes_FromStringAndSize(d ? d : "", d ? (Py_ssize_t)n : 0);
}

static PyObject *text_of(const char *d, size_t n, const char *errors) {
  return PyUnicode_DecodeUTF8(d ? d : "", d ? (Py_ssize_t)n : 0, errors);
}

/* Calls fn(handle, *rest): steals `h` and the references in `rest`. */
static PyObject *call4(PyObject *fn, PyObject *h, PyObject *a, PyObject *b,
                       PyObject *c) {
  PyObject *args, *r;
  if (!h || !a || !b || !c) {
    Py_XDECREF(h);
    Py_XDECREF(a);
    Py_XDECREF(b);
    Py_XDECREF(c);
    return NULL;
  }
  args = PyTuple_Pack(4, h, a, b, c);
  Py_DECREF(h);
  Py_DECREF(a);
  Py_DECREF(b);
  Py_DECREF(c);
  if (!args) return NULL;
  r = PyObject_Call(fn, args, NULL);
  Py_DECREF(args);
  return r;
}

void ws101py_post_tramp(ws101_loop *loop, void *ud) {
  ws101py_cb *c = ud;
  PyGILState_STATE g = PyGILState_Ensure();
  c->busy++;
  if (c->fn) {
    PyObject *r = PyObject_CallNoArgs(c->fn);
    if (r)
      Py_DECREF(r);
    else
      report_exc(loop, 0);
  }
  c->dead = 1; /* one-shot */
  cb_leave(c);
  PyGILState_Release(g);
}

void ws101py_request_tramp(ws101_req *req, void *ud) {
  ws101py_cb *c = ud;
  PyGILState_STATE g = PyGILState_Ensure();
  reqstate *rq = calloc(1, sizeof(*rq));
  PyObject *r = NULL, *h;
  if (!rq) {
    static const char msg[] = "Out of memory\n";
    ws101_req_respond(req, 503, "text/plain", msg, sizeof(msg) - 1);
    PyGILState_Release(g);
    return;
  }
  g_live_reqs++;
  rq->next = g_reqs;
  if (g_reqs) g_reqs->prev = rq;
  g_reqs = rq;
  rq->loop = c->loop;
  rq->busy = 1;
  ws101_req_set_user_data(req, rq);
  /* An internal abort callback (no Python function) tells us when the
   * connection is gone, so a streamed body that will never end does not
   * keep its context. ws101_req_on_abort from Python replaces it. */
  {
    ws101py_cb *ac = calloc(1, sizeof(*ac));
    if (ac) {
      g_live_cbs++;
      ac->loop = c->loop;
      if (ws101_req_on_abort(req, ws101py_abort_tramp, ac) == 0)
        rq->abort = ac;
      else
        ws101py_cb_release(ac);
    }
  }
  c->busy++;
  h = ws101py_wrap(req, WS101PY_T_REQ);
  if (h && c->fn) {
    r = PyObject_CallOneArg(c->fn, h);
  }
  Py_XDECREF(h);
  if (r) {
    Py_DECREF(r);
  } else {
    req_fail(req, rq);
    report_exc(c->loop, 0);
  }
  cb_leave(c);
  rq->busy--;
  req_maybe_free(rq);
  PyGILState_Release(g);
}

void ws101py_body_tramp(ws101_req *req, const char *data, size_t len,
                        int last, void *ud) {
  ws101py_cb *c = ud;
  PyGILState_STATE g = PyGILState_Ensure();
  reqstate *rq = ws101_req_get_user_data(req);
  if (rq) rq->busy++;
  c->busy++;
  /* After the request completed the body is of no use: drop it. */
  if (c->fn && !(rq && rq->completed)) {
    PyObject *h = ws101py_wrap(req, WS101PY_T_REQ), *d = bytes_of(data, len);
    PyObject *r = NULL;
    if (h && d)
      r = PyObject_CallFunctionObjArgs(c->fn, h, d, last ? Py_True : Py_False,
                                       NULL);
    Py_XDECREF(h);
    Py_XDECREF(d);
    if (r) {
      Py_DECREF(r);
    } else {
      if (rq) req_fail(req, rq);
      report_exc(c->loop, 0);
    }
  }
  /* After the last piece no more calls come. */
  if (last) {
    if (rq && rq->body == c) rq->body = NULL;
    if (rq) rq->body_open = 0;
    c->dead = 1;
  }
  cb_leave(c);
  if (rq) {
    rq->busy--;
    req_maybe_free(rq);
  }
  PyGILState_Release(g);
}

/* Calls c->fn(req); an exception fails the request (500 or reset) and is
 * reported to the loop. The GIL is held; the caller keeps c and rq alive. */
static void call_req_fn(ws101py_cb *c, ws101_req *req, reqstate *rq) {
  PyObject *r = NULL, *h = ws101py_wrap(req, WS101PY_T_REQ);
  if (h) r = PyObject_CallOneArg(c->fn, h);
  Py_XDECREF(h);
  if (r)
    Py_DECREF(r);
  else {
    if (rq) req_fail(req, rq);
    report_exc(c->loop, 0);
  }
}

void ws101py_abort_tramp(ws101_req *req, void *ud) {
  ws101py_cb *c = ud;
  PyGILState_STATE g = PyGILState_Ensure();
  reqstate *rq = ws101_req_get_user_data(req);
  if (rq) {
    rq->busy++;
    /* The connection is gone: no body callback will come any more (set
     * before the call, which may complete the request). */
    rq->body_open = 0;
  }
  c->busy++;
  if (c->fn) call_req_fn(c, req, rq);
  cb_leave(c);
  if (rq) {
    rq->busy--;
    req_maybe_free(rq);
  }
  PyGILState_Release(g);
}

/* fn(req): the response queue of a streamed response drained. */
void ws101py_drain_tramp(ws101_req *req, void *ud) {
  ws101py_cb *c = ud;
  PyGILState_STATE g = PyGILState_Ensure();
  reqstate *rq = ws101_req_get_user_data(req);
  if (rq) rq->busy++;
  c->busy++;
  if (c->fn && !(rq && rq->completed)) call_req_fn(c, req, rq);
  cb_leave(c);
  if (rq) {
    rq->busy--;
    req_maybe_free(rq);
  }
  PyGILState_Release(g);
}

void ws101py_server_close_tramp(ws101_server *srv, void *ud) {
  ws101py_cb *c = ud;
  PyGILState_STATE g = PyGILState_Ensure();
  ws101_loop *loop = ws101_server_loop(srv);
  srvstate *s;
  c->busy++;
  if (c->fn) {
    PyObject *r = PyObject_CallNoArgs(c->fn);
    if (r)
      Py_DECREF(r);
    else
      report_exc(loop, 0);
  }
  s = srv_find(srv, 0);
  if (s) srv_drop(s);
  c->dead = 1;
  cb_leave(c);
  PyGILState_Release(g);
}

void ws101py_ws_tramp(ws101_ws *ws, int event, const char *data, size_t len,
                      int arg, void *ud) {
  ws101py_cb *c = ud;
  PyGILState_STATE g = PyGILState_Ensure();
  PyObject *payload, *r;
  c->busy++;
  if (c->fn) {
    switch (event) {
    case WS101_WS_TEXT:
      payload = text_of(data, len, "surrogateescape");
      break;
    case WS101_WS_FRAGMENT:
      payload = (arg & WS101_FRAG_TEXT) ? text_of(data, len, "surrogateescape")
                                        : bytes_of(data, len);
      break;
    case WS101_WS_BINARY:
    case WS101_WS_PING:
    case WS101_WS_PONG:
      payload = bytes_of(data, len);
      break;
    case WS101_WS_CLOSE:
    case WS101_WS_ERROR:
      payload = text_of(data, len, "replace");
      break;
    default:
      payload = Py_NewRef(Py_None);
      break;
    }
    r = call4(c->fn, ws101py_wrap(ws, WS101PY_T_WS), PyLong_FromLong(event), payload,
              PyLong_FromLong(arg));
    if (r) {
      Py_DECREF(r);
    } else {
      ws101_loop *loop = ws101_ws_loop(ws);
      if (event != WS101_WS_CLOSE && event != WS101_WS_ERROR)
        ws101_ws_close(ws, 1011, "internal error");
      report_exc(loop, 0);
    }
  }
  /* The final event: a per-connection context dies with its handle. Route
   * contexts stay with their server. */
  if (event == WS101_WS_CLOSE && !c->route) c->dead = 1;
  cb_leave(c);
  PyGILState_Release(g);
}

void ws101py_fetch_tramp(ws101_fetch *f, int event, const char *data,
                         size_t len, int arg, void *ud) {
  ws101py_cb *c = ud;
  PyGILState_STATE g = PyGILState_Ensure();
  PyObject *payload, *r;
  c->busy++;
  if (c->fn) {
    switch (event) {
    case WS101_FETCH_BODY:
      payload = bytes_of(data, len);
      break;
    case WS101_FETCH_ERROR:
      payload = text_of(data, len, "replace");
      break;
    default:
      payload = Py_NewRef(Py_None);
      break;
    }
    r = call4(c->fn, ws101py_wrap(f, WS101PY_T_FETCH), PyLong_FromLong(event),
              payload, PyLong_FromLong(arg));
    if (r) {
      Py_DECREF(r);
    } else {
      if (event != WS101_FETCH_DONE && event != WS101_FETCH_ERROR)
        ws101_fetch_cancel(f);
      report_exc(c->loop, 0);
    }
  }
  if (event == WS101_FETCH_DONE || event == WS101_FETCH_ERROR) c->dead = 1;
  cb_leave(c);
  PyGILState_Release(g);
}

/* Backplane events: fn(event, detail, arg). The context lives on the
 * server (see ws101py_cb_commit), so it is there for every event. */
void ws101py_redis_tramp(ws101_redis *r, int event, const char *data,
                         int arg, void *ud) {
  ws101py_cb *c = ud;
  PyGILState_STATE g = PyGILState_Ensure();
  (void)r;
  c->busy++;
  if (c->fn) {
    PyObject *r2 = PyObject_CallFunction(c->fn, "iNi", event,
                                         text_of(data, data ? strlen(data) : 0,
                                                 "replace"),
                                         arg);
    if (r2)
      Py_DECREF(r2);
    else
      report_exc(c->loop, 0);
  }
  cb_leave(c);
  PyGILState_Release(g);
}

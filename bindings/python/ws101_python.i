/*
 * ws101_python.i - Python-specific part of bindings/ws101.i.
 *
 * Included by ../ws101.i when SWIG runs with -python. The C half (callback
 * contexts, trampolines, loop state) is ws101_pyglue.c.
 *
 * Raw-level callback signatures (the ws101 package wraps them):
 *   ws101_loop_post(loop, fn)              fn()
 *   ws101_server_route(srv, path, fl, fn)  fn(req)
 *   ws101_server_websocket(srv, path, fn)  fn(ws, event, data, arg)
 *   ws101_server_close(srv, fn or None)    fn()
 *   ws101_req_accept_websocket(req, sub, fn) -> [rc, ws]
 *                                          fn(ws, event, data, arg)
 *   ws101_ws_connect(loop, url, opts, fn)  -> [rc, ws]
 *   ws101_ws_set_handler(ws, fn)           fn(ws, event, data, arg)
 *   ws101_fetch_new(loop, m, url, opts, fn) -> [rc, f]
 *                                          fn(f, event, data, arg)
 *   ws101_req_read_body(req, fn)           fn(req, data: bytes, last: bool)
 *   ws101_req_on_abort(req, fn)            fn(req)
 *   ws101_req_on_drain(req, fn)            fn(req)
 * `data` is str for text (TEXT, text FRAGMENT, CLOSE reason, ERROR
 * message), bytes for binary payloads, None when there is none.
 */

%{
#include "ws101_pyglue.h"

static PyObject *ws101py_wrap_impl(void *p, int type) {
  swig_type_info *ti;
  switch (type) {
  case WS101PY_T_LOOP: ti = SWIGTYPE_p_ws101_loop; break;
  case WS101PY_T_SERVER: ti = SWIGTYPE_p_ws101_server; break;
  case WS101PY_T_REQ: ti = SWIGTYPE_p_ws101_req; break;
  case WS101PY_T_WS: ti = SWIGTYPE_p_ws101_ws; break;
  case WS101PY_T_TIMER: ti = SWIGTYPE_p_ws101_timer; break;
  case WS101PY_T_WORKERS: ti = SWIGTYPE_p_ws101_workers; break;
  default: ti = SWIGTYPE_p_ws101_fetch; break;
  }
  return SWIG_NewPointerObj(p, ti, 0);
}
%}

%init %{
  ws101py_set_wrap(ws101py_wrap_impl);
%}

/* ---- out-parameters: int f(..., T **out) -> [rc, handle or None] ------- */
%define WS101PY_OUT(TYPE)
%typemap(in, numinputs=0) TYPE **out (TYPE *tmp = NULL) { $1 = &tmp; }
%typemap(argout) TYPE **out {
  PyObject *o = tmp$argnum ? SWIG_NewPointerObj(tmp$argnum, $*1_descriptor, 0)
                           : (Py_INCREF(Py_None), Py_None);
  $result = SWIG_Python_AppendOutput($result, o);
}
%enddef
WS101PY_OUT(ws101_loop)
WS101PY_OUT(ws101_options)
WS101PY_OUT(ws101_server)
WS101PY_OUT(ws101_ws)
WS101PY_OUT(ws101_fetch)
WS101PY_OUT(ws101_redis)

/* ---- byte buffers: str (UTF-8) or any bytes-like object ---------------- */
%define WS101PY_BUF(PTR, LEN)
%typemap(in) (const char *PTR, size_t LEN) (Py_buffer view, int have_view = 0) {
  if ($input == Py_None) {
    $1 = NULL;
    $2 = 0;
  } else if (PyUnicode_Check($input)) {
    Py_ssize_t n;
    const char *s = PyUnicode_AsUTF8AndSize($input, &n);
    if (!s) SWIG_fail;
    $1 = (char *)s;
    $2 = (size_t)n;
  } else {
    if (PyObject_GetBuffer($input, &view, PyBUF_SIMPLE) < 0) SWIG_fail;
    have_view = 1;
    $1 = (char *)view.buf;
    $2 = (size_t)view.len;
  }
}
%typemap(freearg) (const char *PTR, size_t LEN) {
  if (have_view$argnum) PyBuffer_Release(&view$argnum);
}
%enddef
WS101PY_BUF(data, len)
WS101PY_BUF(body, len)

/* ---- callback pairs ---------------------------------------------------- */
/* `in`: INCREF the callable (ws101py_cb_new) and install the trampoline.
 * `argout`: the C call returned; hand the context to its owner, or release
 *   it if the call failed (then the callback never runs).
 * `freearg`: the call never happened (another argument failed). */
%define WS101PY_CB(CBTYPE, TRAMP, ALLOW_NONE)
%typemap(in) (CBTYPE cb, void *user_data) {
  $2 = ws101py_cb_new($input, ALLOW_NONE);
  if (!$2) SWIG_fail;
  $1 = TRAMP;
}
%typemap(argout) (CBTYPE cb, void *user_data) {
  ws101py_cb_commit((ws101py_cb *)$2, result, "$symname", (void *)arg1);
  $2 = NULL;
}
%typemap(freearg) (CBTYPE cb, void *user_data) {
  if ($2) ws101py_cb_release((ws101py_cb *)$2);
}
%enddef

WS101PY_CB(ws101_post_cb, ws101py_post_tramp, 0)
WS101PY_CB(ws101_request_cb, ws101py_request_tramp, 0)
WS101PY_CB(ws101_server_close_cb, ws101py_server_close_tramp, 1)
WS101PY_CB(ws101_ws_cb, ws101py_ws_tramp, 0)
WS101PY_CB(ws101_fetch_cb, ws101py_fetch_tramp, 0)
/* ws101_req_read_body may deliver what is already there (e.g. the whole
 * body of an h2c-upgraded request) from inside the call: the context is
 * pinned across it, with its loop known, and the commit sees whether the
 * last piece already came. */
%typemap(in) (ws101_body_cb cb, void *user_data) {
  $2 = ws101py_cb_new($input, 0);
  if (!$2) SWIG_fail;
  ws101py_cb_pin_req((ws101py_cb *)$2, arg1);
  $1 = ws101py_body_tramp;
}
%typemap(argout) (ws101_body_cb cb, void *user_data) {
  ws101py_cb_commit_pinned((ws101py_cb *)$2, result, "$symname", (void *)arg1);
  $2 = NULL;
}
%typemap(freearg) (ws101_body_cb cb, void *user_data) {
  if ($2) ws101py_cb_commit_pinned((ws101py_cb *)$2, -1, "", NULL);
}
WS101PY_CB(ws101_abort_cb, ws101py_abort_tramp, 0)
WS101PY_CB(ws101_req_drain_cb, ws101py_drain_tramp, 0)

/* ws101_redis_attach(srv, url, prefix, fn or None) -> [rc, redis]
 *   fn(event, detail: str, arg): held by the server (like its routes)
 * until the server is freed. The loop is known before the call, because
 * the backplane may report WS101_REDIS_DOWN from inside it. */
%typemap(in) (ws101_redis_cb cb, void *user_data) {
  $2 = ws101py_cb_new($input, 1);
  if (!$2) SWIG_fail;
  ((ws101py_cb *)$2)->loop = arg1 ? ws101_server_loop(arg1) : NULL;
  $1 = ws101py_redis_tramp;
}
%typemap(argout) (ws101_redis_cb cb, void *user_data) {
  ws101py_cb_commit((ws101py_cb *)$2, result, "$symname", (void *)arg1);
  $2 = NULL;
}
%typemap(freearg) (ws101_redis_cb cb, void *user_data) {
  if ($2) ws101py_cb_release((ws101py_cb *)$2);
}

/* Workers (ws101_pyworkers.c): the setup callable runs during
 * ws101py_workers_new only; the join releases the GIL. */
%ignore ws101_workers_new;
%ignore ws101_workers_free;
%inline %{
/* [rc, workers]: setup(server, index) runs once per worker, here. */
PyObject *ws101py_workers_new(int n, const ws101_options *opts,
                              PyObject *setup);
/* Joins the worker threads (GIL released) and frees everything; the
 * binding's state of the worker loops goes with them. Returns 0 or
 * WS101_EINVAL. */
PyObject *ws101py_workers_free(ws101_workers *w);
%}

/* ---- loop lifetime, GIL release while waiting ------------------------- */
%exception ws101_loop_new {
  $action
  if (result == 0 && ws101py_loop_register(*arg1) < 0) {
    ws101_loop_free(*arg1);
    *arg1 = NULL;
    SWIG_fail;
  }
}

%exception ws101_loop_free {
  ws101py_loop_before_free(arg1);
  $action
  if (result != 0) ws101py_loop_free_failed(arg1);
  else if (ws101py_loop_after_free(arg1) < 0) SWIG_fail;
}

/* run/run_once release the GIL while libuv waits; an exception recorded by
 * a callback (raise mode) or Ctrl-C is raised here. */
%exception ws101_loop_run {
  if (ws101py_loop_run(arg1, &result) < 0) SWIG_fail;
}
%exception ws101_loop_run_once {
  if (ws101py_loop_run_once(arg1, arg2, &result) < 0) SWIG_fail;
}

/* ---- request completion: release per-request state -------------------- */
%exception ws101_req_respond {
  void *st_ = ws101py_req_state(arg1);
  $action
  ws101py_req_after(st_, result == 0 || result == WS101_ECLOSED);
}
%exception ws101_req_end {
  void *st_ = ws101py_req_state(arg1);
  $action
  ws101py_req_after(st_, result == 0 || result == WS101_ECLOSED);
}
%exception ws101_req_accept_websocket {
  void *st_ = ws101py_req_state(arg1);
  $action
  ws101py_req_after(st_, result == 0 || result == WS101_EBADUPGRADE);
  if (result == 0 && *arg5) ws101py_ws_adopt(*arg5, (ws101py_cb *)arg4);
}
%exception ws101_ws_connect {
  $action
  if (result == 0 && *arg6) ws101py_ws_adopt(*arg6, (ws101py_cb *)arg5);
}

/* ---- Python-only helpers ---------------------------------------------- */
%inline %{
/* The buffered request body as bytes (binary-safe). */
PyObject *ws101_req_body_bytes(ws101_req *req) {
  return ws101py_req_body_bytes(req);
}
/* Error policy of a loop: None = raise from run(); a callable = log mode. */
PyObject *ws101py_set_error_handler(ws101_loop *loop, PyObject *handler) {
  if (ws101py_loop_set_error_handler(loop, handler) < 0) return NULL;
  Py_RETURN_NONE;
}
/* Takes the exception recorded by a callback (None if none). */
PyObject *ws101py_take_error(ws101_loop *loop) {
  return ws101py_loop_take_error(loop);
}
/* Leak accounting for tests: (live callback contexts, live requests). */
PyObject *ws101py_stats(void) {
  return Py_BuildValue("(ll)", ws101py_live_callbacks(),
                       ws101py_live_requests());
}
/* The address of a handle, for use as a dict key. */
unsigned long long ws101py_addr(PyObject *o) {
  void *p = NULL;
  if (SWIG_ConvertPtr(o, &p, 0, 0) < 0) return 0;
  return (unsigned long long)(uintptr_t)p;
}
%}

/* ---- timers and the asyncio driver (ws101_pytimer.c, ws101_pystep.c) -- */
/* One Python callable per timer, released when the timer has closed. */
%ignore ws101_timer_new;
%ignore ws101_timer_close;
%inline %{
/* [rc, timer]: a stopped timer calling fn() on the loop thread. */
PyObject *ws101py_timer_new(ws101_loop *loop, PyObject *fn);
/* Closes a timer made by ws101py_timer_new; its callable is dropped once
 * the close has completed. Returns 0 or WS101_ECLOSED. */
int ws101py_timer_close(ws101_timer *t);
/* The libuv backend fd of the loop, to watch for readability. */
int ws101py_backend_fd(ws101_loop *loop);
%}
/* One non-blocking iteration; the ms until the next one is due, or -1. */
%exception ws101py_step {
  $action
  if (result == -2) SWIG_fail;
}
%inline %{
int ws101py_step(ws101_loop *loop);
%}

/*
 * ws101_pystep.c - what the asyncio driver (ws101/aio/_driver.py) needs to
 * run libuv inside another event loop: the backend fd to watch, and one
 * non-blocking iteration that says when the next one is due.
 *
 * libuv's own poll set (epoll on Linux) is a file descriptor that becomes
 * readable when any of its watched descriptors has an event; asyncio (or
 * uvloop) watches it with add_reader. Timers and deferred work (pending
 * callbacks, closing handles) do not make it readable, so after each
 * iteration the driver arms a timer at uv_backend_timeout().
 */
#include "ws101_pyglue.h"

#include <uv.h>

int ws101py_backend_fd(ws101_loop *loop) {
  return uv_backend_fd(ws101_loop_uv(loop));
}

int ws101py_step(ws101_loop *loop) {
  uv_loop_t *uv = ws101_loop_uv(loop);
  PyObject *e;
  /* Not ws101py_loop_run_once: the Ctrl-C timer is for blocking runs;
   * here the host loop handles signals. */
  if (ws101_loop_run_once(loop, 0) == WS101_ESTATE) {
    PyErr_SetString(PyExc_RuntimeError,
                    "ws101: loop stepped from inside one of its callbacks");
    return -2;
  }
  e = ws101py_loop_take_error(loop);
  if (e != Py_None) {
    PyErr_Restore(Py_NewRef((PyObject *)Py_TYPE(e)), e,
                  PyException_GetTraceback(e));
    return -2;
  }
  Py_DECREF(e);
  if (!uv_loop_alive(uv)) return -1;
  return uv_backend_timeout(uv);
}

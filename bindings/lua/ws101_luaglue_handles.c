/*
 * ws101_luaglue_handles.c - who owns each Lua callback, and the
 * trampolines. The rules are the Python binding's (bindings/python):
 *
 *   ws101_loop_post          until the posted callback has run
 *   ws101_server_route /
 *   ws101_server_websocket   on the server, until its close callback ran
 *                            (or the loop was freed)
 *   ws101_redis_attach       like a route: on the server until it is freed
 *   ws101_server_close       until it ran
 *   ws101_req_accept_websocket /
 *   ws101_ws_connect /
 *   ws101_ws_set_handler     until WS101_WS_CLOSE ran (or it was replaced)
 *   ws101_fetch_new          until WS101_FETCH_DONE / _ERROR ran
 *   ws101_req_on_abort       until the request completed
 *   ws101_req_read_body      until the request completed and the last body
 *                            call came (or the connection was aborted, or
 *                            the loop was freed)
 *   ws101_timer_new          until the timer's close callback ran (or the
 *                            loop was freed)
 * An error raised by a callback is reported (ws101_luaglue_call.c) and
 * its handle is put right: a request gets 500 (or its stream is ended), a
 * WebSocket is closed with 1011, a fetch is cancelled.
 */
#include "ws101_luaglue.h"

#include <stdlib.h>
#include <string.h>

static long g_live_reqs;

long ws101lua_live_requests(void) { return g_live_reqs; }

static void cb_leave(ws101lua_cb *c) {
  c->busy--;
  if (c->dead && !c->busy) {
    c->busy = 0;
    c->dead = 0;
    ws101lua_cb_release(c);
  }
}

/* ------------------------------------------------------------------------ */
/* Servers: route contexts live until the close callback                    */
/* ------------------------------------------------------------------------ */

typedef struct srvstate {
  ws101_server *srv;
  ws101_loop *loop;
  ws101lua_cb *routes;
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
  ws101lua_cb *c, *n;
  for (pp = &g_servers; *pp; pp = &(*pp)->next) {
    if (*pp == s) {
      *pp = s->next;
      break;
    }
  }
  for (c = s->routes; c; c = n) {
    n = c->next;
    ws101lua_cb_release(c);
  }
  free(s);
}

/* ------------------------------------------------------------------------ */
/* Timers: the context is released by the close callback                    */
/* ------------------------------------------------------------------------ */

typedef struct timerstate {
  ws101_timer *timer;
  ws101lua_cb *cb;
  struct timerstate *next;
} timerstate;

static timerstate *g_timers;

void ws101lua_timer_commit(ws101lua_cb *c, int rc, ws101_timer *t) {
  timerstate *ts;
  if (!c) return;
  if (rc < 0 || !(ts = calloc(1, sizeof(*ts)))) {
    /* rc >= 0 here means out of memory: the context leaks rather than
     * dangles. */
    if (rc < 0) ws101lua_cb_release(c);
    return;
  }
  ts->timer = t;
  ts->cb = c;
  ts->next = g_timers;
  g_timers = ts;
}

static timerstate *timer_unlink(ws101_timer *t) {
  timerstate **pp, *ts;
  for (pp = &g_timers; *pp; pp = &(*pp)->next) {
    if ((*pp)->timer == t) {
      ts = *pp;
      *pp = ts->next;
      return ts;
    }
  }
  return NULL;
}

static void timer_close_tramp(ws101_timer *t, void *ud) {
  (void)t;
  ws101lua_cb_release(ud);
}

int ws101lua_timer_close(ws101_timer *t) {
  timerstate *ts;
  int rc;
  for (ts = g_timers; ts; ts = ts->next)
    if (ts->timer == t) break;
  if (!ts) return WS101_ECLOSED;
  rc = ws101_timer_close(t, timer_close_tramp, ts->cb);
  if (rc == 0) free(timer_unlink(t));
  return rc;
}

void ws101lua_timer_tramp(ws101_timer *t, void *ud) {
  ws101lua_cb *c = ud;
  ws101lua_arg a[1];
  a[0].kind = WS101LUA_A_HANDLE;
  a[0].p = t;
  a[0].i = WS101LUA_T_TIMER;
  c->busy++;
  ws101lua_call(c, c->loop, a, 1);
  cb_leave(c);
}

/* ------------------------------------------------------------------------ */
/* Requests                                                                 */
/* ------------------------------------------------------------------------ */

typedef struct reqstate {
  ws101_loop *loop;
  ws101lua_cb *body;
  ws101lua_cb *abort;
  int busy;
  int completed;
  /* A body callback is registered and its last call has not come yet: the
   * library may call it after the request completed. */
  int body_open;
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

void *ws101lua_req_state(ws101_req *req) {
  return ws101_req_get_user_data(req);
}

static void req_maybe_free(reqstate *rq) {
  if (rq->completed && !rq->busy && !rq->body_open) {
    req_unlink(rq);
    free(rq);
    g_live_reqs--;
  }
}

void ws101lua_req_after(void *state, int completed) {
  reqstate *rq = state;
  if (!rq || !completed || rq->completed) return;
  rq->completed = 1;
  ws101lua_cb_release(rq->abort);
  rq->abort = NULL;
  ws101lua_cb_release(rq->body);
  rq->body = NULL;
  rq->body_open = 0;
  req_maybe_free(rq);
}

/* After an error in a request callback: answer 500 if nothing was sent, or
 * end what was started, so that the connection stays usable. */
static void req_fail(ws101_req *req, reqstate *rq) {
  static const char msg[] = "Internal Server Error\n";
  int rc;
  if (rq->completed) return;
  rc = ws101_req_respond(req, 500, "text/plain; charset=utf-8", msg,
                         sizeof(msg) - 1);
  if (rc == WS101_ESTATE) rc = ws101_req_end(req);
  if (rc == 0 || rc == WS101_ECLOSED) ws101lua_req_after(rq, 1);
}

void ws101lua_handles_drop_loop(ws101_loop *loop) {
  reqstate *rq, *rn;
  srvstate *s, *sn;
  timerstate **pp;
  for (rq = g_reqs; rq; rq = rn) {
    rn = rq->next;
    if (rq->loop != loop) continue;
    ws101lua_cb_release(rq->body);
    ws101lua_cb_release(rq->abort);
    rq->body = rq->abort = NULL;
    rq->completed = 1;
    rq->busy = 0;
    rq->body_open = 0;
    req_maybe_free(rq);
  }
  for (s = g_servers; s; s = sn) {
    sn = s->next;
    if (s->loop == loop) srv_drop(s);
  }
  /* ws101_loop_free closed the timers left open, without our close
   * callback: their contexts go here. */
  for (pp = &g_timers; *pp;) {
    timerstate *ts = *pp;
    if (ts->cb->loop == loop) {
      *pp = ts->next;
      ws101lua_cb_release(ts->cb);
      free(ts);
    } else {
      pp = &ts->next;
    }
  }
}

/* ------------------------------------------------------------------------ */
/* Commit: who owns a context once the C call accepted it                   */
/* ------------------------------------------------------------------------ */

void ws101lua_ws_adopt(ws101_ws *ws, ws101lua_cb *c) {
  c->loop = ws101_ws_loop(ws);
  if (!ws101_ws_get_user_data(ws)) ws101_ws_set_user_data(ws, c);
}

void ws101lua_cb_commit(ws101lua_cb *c, int rc, const char *sym,
                        void *owner) {
  if (!c) return;
  if (rc < 0) {
    ws101lua_cb_release(c);
    return;
  }
  if (!strcmp(sym, "ws101_loop_post") || !strcmp(sym, "ws101_ws_connect") ||
      !strcmp(sym, "ws101_fetch_new") || !strcmp(sym, "ws101_timer_new")) {
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
    /* Nothing to record; `c` may already have run. */
  } else if (!strcmp(sym, "ws101_ws_set_handler")) {
    ws101lua_cb *old = ws101_ws_get_user_data(owner);
    c->loop = ws101_ws_loop(owner);
    ws101_ws_set_user_data(owner, c);
    ws101lua_cb_release(old);
  } else if (!strcmp(sym, "ws101_req_read_body") ||
             !strcmp(sym, "ws101_req_on_abort")) {
    reqstate *rq = ws101_req_get_user_data(owner);
    ws101lua_cb **slot;
    if (!rq) return; /* not a request we dispatched: keep it (leak) */
    c->loop = rq->loop;
    slot = !strcmp(sym, "ws101_req_read_body") ? &rq->body : &rq->abort;
    ws101lua_cb_release(*slot);
    *slot = c;
    if (slot == &rq->body) rq->body_open = 1;
  }
}

/* ------------------------------------------------------------------------ */
/* Trampolines                                                              */
/* ------------------------------------------------------------------------ */

static void arg_handle(ws101lua_arg *a, void *p, int type) {
  a->kind = WS101LUA_A_HANDLE;
  a->p = p;
  a->i = type;
}

static void arg_int(ws101lua_arg *a, long long v) {
  a->kind = WS101LUA_A_INT;
  a->i = v;
}

static void arg_str(ws101lua_arg *a, const char *d, size_t n) {
  a->kind = WS101LUA_A_STR;
  a->p = d;
  a->n = n;
}

void ws101lua_post_tramp(ws101_loop *loop, void *ud) {
  ws101lua_cb *c = ud;
  c->busy++;
  ws101lua_call(c, loop, NULL, 0);
  c->dead = 1; /* one-shot */
  cb_leave(c);
}

void ws101lua_request_tramp(ws101_req *req, void *ud) {
  ws101lua_cb *c = ud;
  reqstate *rq = calloc(1, sizeof(*rq));
  ws101lua_arg a[1];
  if (!rq) {
    static const char msg[] = "Out of memory\n";
    ws101_req_respond(req, 503, "text/plain", msg, sizeof(msg) - 1);
    return;
  }
  g_live_reqs++;
  rq->next = g_reqs;
  if (g_reqs) g_reqs->prev = rq;
  g_reqs = rq;
  rq->loop = c->loop;
  rq->busy = 1;
  ws101_req_set_user_data(req, rq);
  /* An internal abort callback (no Lua function) tells us when the
   * connection is gone, so a streamed body that will never end does not
   * keep its context. ws101_req_on_abort from Lua replaces it. */
  {
    ws101lua_cb *ac = calloc(1, sizeof(*ac));
    if (ac) {
      ws101lua_count_cb(1);
      ac->L = c->L;
      ac->ref = LUA_NOREF;
      ac->loop = c->loop;
      if (ws101_req_on_abort(req, ws101lua_abort_tramp, ac) == 0)
        rq->abort = ac;
      else
        ws101lua_cb_release(ac);
    }
  }
  c->busy++;
  arg_handle(&a[0], req, WS101LUA_T_REQ);
  if (ws101lua_call(c, c->loop, a, 1) < 0) req_fail(req, rq);
  cb_leave(c);
  rq->busy--;
  req_maybe_free(rq);
}

void ws101lua_body_tramp(ws101_req *req, const char *data, size_t len,
                         int last, void *ud) {
  ws101lua_cb *c = ud;
  reqstate *rq = ws101_req_get_user_data(req);
  ws101lua_arg a[3];
  if (rq) rq->busy++;
  c->busy++;
  /* After the request completed the body is of no use: drop it. */
  if (!(rq && rq->completed)) {
    arg_handle(&a[0], req, WS101LUA_T_REQ);
    arg_str(&a[1], data, len);
    a[2].kind = WS101LUA_A_BOOL;
    a[2].i = last;
    if (ws101lua_call(c, c->loop, a, 3) < 0 && rq) req_fail(req, rq);
  }
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
}

void ws101lua_abort_tramp(ws101_req *req, void *ud) {
  ws101lua_cb *c = ud;
  reqstate *rq = ws101_req_get_user_data(req);
  ws101lua_arg a[1];
  if (rq) {
    rq->busy++;
    rq->body_open = 0; /* no body callback will come any more */
  }
  c->busy++;
  arg_handle(&a[0], req, WS101LUA_T_REQ);
  if (ws101lua_call(c, c->loop, a, 1) < 0 && rq) req_fail(req, rq);
  cb_leave(c);
  if (rq) {
    rq->busy--;
    req_maybe_free(rq);
  }
}

void ws101lua_server_close_tramp(ws101_server *srv, void *ud) {
  ws101lua_cb *c = ud;
  ws101_loop *loop = ws101_server_loop(srv);
  srvstate *s;
  c->busy++;
  ws101lua_call(c, loop, NULL, 0);
  s = srv_find(srv, 0);
  if (s) srv_drop(s);
  c->dead = 1;
  cb_leave(c);
}

void ws101lua_ws_tramp(ws101_ws *ws, int event, const char *data, size_t len,
                       int arg, void *ud) {
  ws101lua_cb *c = ud;
  ws101lua_arg a[5];
  c->busy++;
  /* The handle as a SWIG object only where the Lua layer needs one (a
   * route's connection is first seen at OPEN); messages pass nil and the
   * key, which saves a userdata per message on the hot path. */
  if (event == WS101_WS_OPEN || event == WS101_WS_ERROR ||
      event == WS101_WS_CLOSE)
    arg_handle(&a[0], ws, WS101LUA_T_WS);
  else
    a[0].kind = WS101LUA_A_NIL;
  arg_int(&a[1], event);
  if (data || event == WS101_WS_TEXT || event == WS101_WS_BINARY ||
      event == WS101_WS_FRAGMENT)
    arg_str(&a[2], data, len);
  else
    a[2].kind = WS101LUA_A_NIL;
  arg_int(&a[3], arg);
  /* The address keys the Lua layer's per-connection object. */
  arg_int(&a[4], (long long)(intptr_t)ws);
  if (ws101lua_call(c, ws101_ws_loop(ws), a, 5) < 0 &&
      event != WS101_WS_CLOSE && event != WS101_WS_ERROR)
    ws101_ws_close(ws, 1011, "internal error");
  /* The final event: a per-connection context dies with its handle. Route
   * contexts stay with their server. */
  if (event == WS101_WS_CLOSE && !c->route) c->dead = 1;
  cb_leave(c);
}

void ws101lua_fetch_tramp(ws101_fetch *f, int event, const char *data,
                          size_t len, int arg, void *ud) {
  ws101lua_cb *c = ud;
  ws101lua_arg a[5];
  c->busy++;
  arg_handle(&a[0], f, WS101LUA_T_FETCH);
  arg_int(&a[1], event);
  if (data || event == WS101_FETCH_BODY)
    arg_str(&a[2], data, len);
  else
    a[2].kind = WS101LUA_A_NIL;
  arg_int(&a[3], arg);
  arg_int(&a[4], (long long)(intptr_t)f);
  if (ws101lua_call(c, c->loop, a, 5) < 0 && event != WS101_FETCH_DONE &&
      event != WS101_FETCH_ERROR)
    ws101_fetch_cancel(f);
  if (event == WS101_FETCH_DONE || event == WS101_FETCH_ERROR) c->dead = 1;
  cb_leave(c);
}

/* Backplane events: fn(event, detail, arg), on the server's loop thread.
 * The context lives on the server (see ws101lua_cb_commit). */
void ws101lua_redis_tramp(ws101_redis *r, int event, const char *data,
                          int arg, void *ud) {
  ws101lua_cb *c = ud;
  ws101lua_arg a[3];
  (void)r;
  c->busy++;
  arg_int(&a[0], event);
  arg_str(&a[1], data ? data : "", data ? strlen(data) : 0);
  arg_int(&a[2], arg);
  ws101lua_call(c, c->loop, a, 3);
  cb_leave(c);
}

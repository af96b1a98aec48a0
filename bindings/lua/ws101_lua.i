/*
 * ws101_lua.i - Lua-specific part of bindings/ws101.i.
 *
 * Included by ../ws101.i when SWIG runs with -lua. The C half (callback
 * contexts, trampolines, loop state) is ws101_luaglue_*.c; the idiomatic
 * layer on top is ws101.lua. The module is opened as `ws101.core`
 * (luaopen_ws101_core below); swig runs with -nomoduleglobal.
 *
 * Raw-level callback signatures (ws101.lua wraps them):
 *   ws101_loop_post(loop, fn)              fn()
 *   ws101_server_route(srv, path, fl, fn)  fn(req)
 *   ws101_server_websocket(srv, path, fn)  fn(ws, event, data, arg, key)
 *   ws101_server_close(srv, fn or nil)     fn()
 *   ws101_req_accept_websocket(req, sub, fn) -> rc, ws
 *                                          fn(ws, event, data, arg, key)
 *   ws101_ws_connect(loop, url, opts, fn)  -> rc, ws
 *   ws101_ws_set_handler(ws, fn)           fn(ws, event, data, arg, key)
 *   ws101_fetch_new(loop, m, url, opts, fn) -> rc, f
 *                                          fn(f, event, data, arg, key)
 *   ws101_req_read_body(req, fn)           fn(req, data, last)
 *   ws101_req_on_abort(req, fn)            fn(req)
 *   ws101_timer_new(loop, fn)              -> rc, timer;  fn(timer)
 *   ws101lua_timer_close(timer)            (releases fn after it closed)
 *   ws101_redis_attach(srv, url, prefix, fn or nil) -> rc, redis
 *                                          fn(event, detail, arg)
 * `data` is a Lua string (text and binary alike) or nil; `key` is the
 * handle's address as an integer, stable until its final event. For
 * WebSocket events `ws` is the handle on OPEN, ERROR and CLOSE only (nil
 * for the others, to keep messages allocation-free: map it by `key`).
 */

%{
#include "ws101_luaglue.h"

static void ws101lua_wrap_impl(lua_State *L, void *p, int type) {
  swig_type_info *ti;
  switch (type) {
  case WS101LUA_T_LOOP: ti = SWIGTYPE_p_ws101_loop; break;
  case WS101LUA_T_SERVER: ti = SWIGTYPE_p_ws101_server; break;
  case WS101LUA_T_REQ: ti = SWIGTYPE_p_ws101_req; break;
  case WS101LUA_T_WS: ti = SWIGTYPE_p_ws101_ws; break;
  case WS101LUA_T_TIMER: ti = SWIGTYPE_p_ws101_timer; break;
  default: ti = SWIGTYPE_p_ws101_fetch; break;
  }
  SWIG_NewPointerObj(L, p, ti, 0);
}
%}

%init %{
  ws101lua_set_wrap(ws101lua_wrap_impl);
  ws101lua_init_state(L);
%}

/* Integers come back as Lua integers (SWIG's default is lua_pushnumber,
 * which makes them floats in Lua 5.3+: a port would print as 8080.0). */
%typemap(out) int, unsigned int, unsigned, size_t, long long, int64_t
  "lua_pushinteger(L, (lua_Integer)$1); SWIG_arg++;"
%typemap(argout) int64_t *value
  "lua_pushinteger(L, (lua_Integer)*$1); SWIG_arg++;"

/* ---- out-parameters: rc, handle (or nil) ------------------------------ */
%define WS101LUA_OUT(TYPE)
%typemap(in, numinputs=0) TYPE **out (TYPE *tmp = NULL) { $1 = &tmp; }
%typemap(argout) TYPE **out {
  if (tmp$argnum)
    SWIG_NewPointerObj(L, tmp$argnum, $*1_descriptor, 0);
  else
    lua_pushnil(L);
  SWIG_arg++;
}
%enddef
WS101LUA_OUT(ws101_loop)
WS101LUA_OUT(ws101_options)
WS101LUA_OUT(ws101_server)
WS101LUA_OUT(ws101_ws)
WS101LUA_OUT(ws101_fetch)
WS101LUA_OUT(ws101_timer)
WS101LUA_OUT(ws101_redis)

/* ---- byte buffers: a Lua string (any bytes) or nil --------------------- */
%define WS101LUA_BUF(PTR, LEN)
%typemap(in, checkfn="SWIG_lua_isnilstring") (const char *PTR, size_t LEN) {
  if (lua_isnil(L, $input)) {
    $1 = NULL;
    $2 = 0;
  } else {
    size_t n_ = 0;
    $1 = (char *)lua_tolstring(L, $input, &n_);
    $2 = n_;
  }
}
%enddef
WS101LUA_BUF(data, len)
WS101LUA_BUF(body, len)

/* ---- callback pairs ---------------------------------------------------- */
/* `in`: luaL_ref the function and install the trampoline.
 * `argout`: the C call returned; hand the context to its owner, or release
 *   it if the call failed (then the callback never runs).
 * `freearg`: the call never happened (another argument failed). */
%define WS101LUA_CB(CBTYPE, TRAMP, ALLOW_NONE)
%typemap(in, checkfn="lua_isfunction") (CBTYPE cb, void *user_data) {
  $2 = ws101lua_cb_new(L, $input, ALLOW_NONE);
  $1 = TRAMP;
}
%typemap(argout) (CBTYPE cb, void *user_data) {
  ws101lua_cb_commit((ws101lua_cb *)$2, result, "$symname", (void *)arg1);
  $2 = NULL;
}
%typemap(freearg) (CBTYPE cb, void *user_data) {
  if ($2) ws101lua_cb_release((ws101lua_cb *)$2);
}
%enddef

WS101LUA_CB(ws101_post_cb, ws101lua_post_tramp, 0)
WS101LUA_CB(ws101_request_cb, ws101lua_request_tramp, 0)
WS101LUA_CB(ws101_ws_cb, ws101lua_ws_tramp, 0)
WS101LUA_CB(ws101_fetch_cb, ws101lua_fetch_tramp, 0)
WS101LUA_CB(ws101_body_cb, ws101lua_body_tramp, 0)
WS101LUA_CB(ws101_abort_cb, ws101lua_abort_tramp, 0)

/* The server close callback may be nil. */
%typemap(in, checkfn="SWIG_lua_isnilfunction") (ws101_server_close_cb cb, void *user_data) {
  $2 = ws101lua_cb_new(L, $input, 1);
  $1 = ws101lua_server_close_tramp;
}
%typemap(argout) (ws101_server_close_cb cb, void *user_data) {
  ws101lua_cb_commit((ws101lua_cb *)$2, result, "$symname", (void *)arg1);
  $2 = NULL;
}
%typemap(freearg) (ws101_server_close_cb cb, void *user_data) {
  if ($2) ws101lua_cb_release((ws101lua_cb *)$2);
}
%{
static int SWIG_lua_isnilfunction(lua_State *L, int idx) {
  return lua_isnil(L, idx) || lua_isfunction(L, idx);
}
%}

/* The Redis backplane's callback (may be nil) is held by the server, like
 * its routes, until the server is freed: the backplane has no close
 * callback and reports nothing once its server's close callback ran. The
 * loop is set before the call, which may already report WS101_REDIS_DOWN. */
%typemap(in, checkfn="SWIG_lua_isnilfunction") (ws101_redis_cb cb, void *user_data) {
  $2 = ws101lua_cb_new(L, $input, 1);
  ((ws101lua_cb *)$2)->loop = arg1 ? ws101_server_loop(arg1) : NULL;
  $1 = ws101lua_redis_tramp;
}
%typemap(argout) (ws101_redis_cb cb, void *user_data) {
  ws101lua_cb_commit((ws101lua_cb *)$2, result, "$symname", (void *)arg1);
  $2 = NULL;
}
%typemap(freearg) (ws101_redis_cb cb, void *user_data) {
  if ($2) ws101lua_cb_release((ws101lua_cb *)$2);
}

/* Workers run handlers on N threads at once; a lua_State is entered by
 * one thread at a time, and giving each worker a state of its own would
 * need the application's code loaded N times: not exported. */
%ignore ws101_workers_new;
%ignore ws101_workers_listen;
%ignore ws101_workers_port;
%ignore ws101_workers_count;
%ignore ws101_workers_server;
%ignore ws101_workers_loop;
%ignore ws101_workers_start;
%ignore ws101_workers_stop;
%ignore ws101_workers_free;

/* Timers: the context is kept until the close callback (see glue). */
%typemap(in, checkfn="lua_isfunction") (ws101_timer_cb cb, void *user_data) {
  $2 = ws101lua_cb_new(L, $input, 0);
  ((ws101lua_cb *)$2)->loop = arg1;
  $1 = ws101lua_timer_tramp;
}
%typemap(argout) (ws101_timer_cb cb, void *user_data) {
  ws101lua_timer_commit((ws101lua_cb *)$2, result, tmp4);
  $2 = NULL;
}
%typemap(freearg) (ws101_timer_cb cb, void *user_data) {
  if ($2) ws101lua_cb_release((ws101lua_cb *)$2);
}
/* The close callback is the binding's: ws101lua_timer_close. */
%ignore ws101_timer_close;

/* A thread-safe post has no meaning for a single-threaded Lua state, and
 * ws101_ws_ref/unref/post_send only serve other threads: not exported. The
 * loop_post above stays (it is also a "call soon" on the loop thread). */
%ignore ws101_ws_ref;
%ignore ws101_ws_unref;
%ignore ws101_ws_post_send;

/* ---- loop lifetime and running ---------------------------------------- */
%exception ws101_loop_new {
  $action
  if (result == 0 && ws101lua_loop_register(L, *arg1, 1) < 0) {
    ws101_loop_free(*arg1);
    *arg1 = NULL;
    result = WS101_ENOMEM;
  }
}

%exception ws101_loop_free {
  {
    const char *why_ = ws101lua_loop_free_refusal(arg1);
    if (why_) {
      lua_pushstring(L, why_);
      SWIG_fail;
    }
  }
  ws101lua_loop_before_free(arg1);
  $action
  if (result == 0 && ws101lua_loop_after_free(L, arg1)) {
    SWIG_fail;
  }
}

/* run/run_once: an error recorded by a callback in "raise" mode, or
 * Ctrl-C ("interrupted!"), is raised here, after libuv returned. */
%exception ws101_loop_run {
  if (ws101lua_loop_run(L, arg1, 0, 0, &result)) SWIG_fail;
}
%exception ws101_loop_run_once {
  if (ws101lua_loop_run(L, arg1, 1, arg2, &result)) SWIG_fail;
}

/* ---- request completion: release per-request state -------------------- */
%exception ws101_req_respond {
  void *st_ = ws101lua_req_state(arg1);
  $action
  ws101lua_req_after(st_, result == 0 || result == WS101_ECLOSED);
}
%exception ws101_req_end {
  void *st_ = ws101lua_req_state(arg1);
  $action
  ws101lua_req_after(st_, result == 0 || result == WS101_ECLOSED);
}
%exception ws101_req_accept_websocket {
  void *st_ = ws101lua_req_state(arg1);
  $action
  ws101lua_req_after(st_, result == 0 || result == WS101_EBADUPGRADE);
  if (result == 0 && *arg5) ws101lua_ws_adopt(*arg5, (ws101lua_cb *)arg4);
}
%exception ws101_ws_connect {
  $action
  if (result == 0 && *arg6) ws101lua_ws_adopt(*arg6, (ws101lua_cb *)arg5);
}

/* ---- Lua-only helpers -------------------------------------------------- */
%native(ws101lua_req_body) int ws101lua_req_body(lua_State *L);
%native(ws101lua_set_error_handler) int ws101lua_set_error_handler(lua_State *L);
%native(ws101lua_stats) int ws101lua_stats(lua_State *L);
%native(ws101lua_in_callback) int ws101lua_in_callback_w(lua_State *L);
%native(ws101lua_loop_new_luv) int ws101lua_loop_new_luv(lua_State *L);
%native(ws101lua_timer_close) int ws101lua_timer_close_w(lua_State *L);
%{
/* The buffered request body as a Lua string (binary-safe). */
static int ws101lua_req_body(lua_State *L) {
  ws101_req *req = NULL;
  const char *b;
  size_t n;
  if (!SWIG_IsOK(SWIG_ConvertPtr(L, 1, (void **)&req, SWIGTYPE_p_ws101_req, 0)) || !req)
    return luaL_argerror(L, 1, "ws101_req expected");
  b = ws101_req_body(req);
  n = ws101_req_body_len(req);
  lua_pushlstring(L, b ? b : "", b ? n : 0);
  return 1;
}

/* ws101lua_set_error_handler(loop, nil | function | "raise") */
static int ws101lua_set_error_handler(lua_State *L) {
  ws101_loop *loop = NULL;
  if (!SWIG_IsOK(SWIG_ConvertPtr(L, 1, (void **)&loop, SWIGTYPE_p_ws101_loop, 0)) || !loop)
    return luaL_argerror(L, 1, "ws101_loop expected");
  ws101lua_loop_set_error_handler(L, loop, 2);
  return 0;
}

/* Leak accounting for tests: live callback contexts, live requests. */
static int ws101lua_stats(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)ws101lua_live_callbacks());
  lua_pushinteger(L, (lua_Integer)ws101lua_live_requests());
  return 2;
}

/* true while a ws101 callback runs: blocking calls refuse to nest. */
static int ws101lua_in_callback_w(lua_State *L) {
  lua_pushboolean(L, ws101lua_in_callback());
  return 1;
}

static int ws101lua_timer_close_w(lua_State *L) {
  ws101_timer *t = NULL;
  if (!SWIG_IsOK(SWIG_ConvertPtr(L, 1, (void **)&t, SWIGTYPE_p_ws101_timer, 0)) || !t)
    return luaL_argerror(L, 1, "ws101_timer expected");
  lua_pushinteger(L, ws101lua_timer_close(t));
  return 1;
}

/* rc, loop = ws101lua_loop_new_luv(): a ws101 loop on the libuv loop of
 * luv (`require "luv"` must have run in this state, as in Neovim). luv
 * keeps its context in the registry under "luv_context"; its first field
 * is the uv_loop_t (luv.h, luv_ctx_t). Reading it there needs no link to
 * luv, so the same module works with lua-luv and with Neovim's luv. */
#include <uv.h>
static int ws101lua_loop_new_luv(lua_State *L) {
  uv_loop_t *uv = NULL;
  ws101_loop *loop = NULL;
  void *ctx = NULL;
  int rc;
  lua_pushstring(L, "luv_context");
  lua_rawget(L, LUA_REGISTRYINDEX);
  if (lua_type(L, -1) == LUA_TUSERDATA) {
    ctx = lua_touserdata(L, -1); /* kept alive by the registry */
    uv = *(uv_loop_t **)ctx;
  }
  lua_pop(L, 1);
  if (!uv) return luaL_error(L, "ws101: luv is not loaded (require \"luv\" first)");
  rc = ws101_loop_new_uv(uv, &loop);
  if (rc == 0 && ws101lua_loop_register(L, loop, 0) < 0) {
    ws101_loop_free(loop);
    loop = NULL;
    rc = WS101_ENOMEM;
  }
  if (loop) ws101lua_loop_set_luv(loop, ctx);
  lua_pushinteger(L, rc);
  if (loop)
    SWIG_NewPointerObj(L, loop, SWIGTYPE_p_ws101_loop, 0);
  else
    lua_pushnil(L);
  return 2;
}
%}

/* The module opens as `ws101.core`: luaopen_ws101_core is in
 * ws101_luaopen.c. */

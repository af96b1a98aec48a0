/*
 * ws101_luaglue.h - C side of the Lua binding: callback contexts, the
 * protected call into Lua, per-loop error policy and Ctrl-C, trampolines.
 *
 * The rules that keep Lua and libuv apart (STYLE.md, Lua section):
 *   - every Lua function the library may call is held by luaL_ref in the
 *     registry, exactly as long as the handle needs it (see
 *     ws101_luaglue_handles.c for the list), and luaL_unref'd after the
 *     handle's final event;
 *   - a callback runs on the main thread of its Lua state (a coroutine that
 *     registered it may be dead or suspended by then);
 *   - everything that can raise a Lua error, pushing the arguments included
 *     (memory errors), runs inside lua_pcall with a traceback handler, so a
 *     Lua error never longjmps across libuv frames.
 * Works with the Lua 5.1 API (LuaJIT) and 5.4.
 */
#ifndef WS101_LUAGLUE_H
#define WS101_LUAGLUE_H

#include <lauxlib.h>
#include <lua.h>
#include <stddef.h>

#include "ws101.h"

/* Handle kinds passed to the pointer-wrapping hook. */
enum {
  WS101LUA_T_LOOP = 0,
  WS101LUA_T_SERVER,
  WS101LUA_T_REQ,
  WS101LUA_T_WS,
  WS101LUA_T_FETCH,
  WS101LUA_T_TIMER
};

/* One registered Lua function. `busy` counts calls in progress so that a
 * context released from inside its own callback is freed after it. */
typedef struct ws101lua_cb {
  lua_State *L; /* main thread of the state that registered it */
  int ref;      /* registry reference; LUA_NOREF when none */
  ws101_loop *loop;
  int busy;
  int dead;
  int route; /* held by a server route (not by one handle) */
  struct ws101lua_cb *next; /* in a server's route list */
} ws101lua_cb;

/* Set by the SWIG module init: pushes a SWIG pointer for a C handle. */
void ws101lua_set_wrap(void (*wrap)(lua_State *L, void *ptr, int type));

/* Records the main thread of `L` (call once from luaopen). */
void ws101lua_init_state(lua_State *L);

/* Creates a context for the function at `idx` (nil allowed when
 * `allow_none`). Raises a Lua error on a wrong type (the caller is a SWIG
 * wrapper, outside any libuv frame). */
ws101lua_cb *ws101lua_cb_new(lua_State *L, int idx, int allow_none);
/* Drops the Lua reference; frees now or after the running call. */
void ws101lua_cb_release(ws101lua_cb *c);
/* See bindings/python: called right after the C function that took the
 * callback returned `rc`: release on error, otherwise attach to the owner
 * (`symname` is the wrapped C function, `owner` its first argument). */
void ws101lua_cb_commit(ws101lua_cb *c, int rc, const char *symname,
                        void *owner);
/* A new ws handle (accept/connect) takes `c` as its own context. */
void ws101lua_ws_adopt(ws101_ws *ws, ws101lua_cb *c);

/* Trampolines. */
void ws101lua_post_tramp(ws101_loop *loop, void *ud);
void ws101lua_request_tramp(ws101_req *req, void *ud);
void ws101lua_server_close_tramp(ws101_server *srv, void *ud);
void ws101lua_ws_tramp(ws101_ws *ws, int event, const char *data, size_t len,
                       int arg, void *ud);
void ws101lua_fetch_tramp(ws101_fetch *f, int event, const char *data,
                          size_t len, int arg, void *ud);
void ws101lua_body_tramp(ws101_req *req, const char *data, size_t len,
                         int last, void *ud);
void ws101lua_abort_tramp(ws101_req *req, void *ud);
void ws101lua_timer_tramp(ws101_timer *t, void *ud);
void ws101lua_redis_tramp(ws101_redis *r, int event, const char *data,
                          int arg, void *ud);

/* Timers: the context is released by the timer's close callback. */
int ws101lua_timer_close(ws101_timer *t);
/* Called right after ws101_timer_new returned `rc` with context `c`. */
void ws101lua_timer_commit(ws101lua_cb *c, int rc, ws101_timer *t);

/* ---- protected calls (ws101_luaglue_call.c) --------------------------- */

/* Argument kinds of ws101lua_call. */
enum {
  WS101LUA_A_NIL = 0,
  WS101LUA_A_INT,
  WS101LUA_A_BOOL,
  WS101LUA_A_STR, /* p, n */
  WS101LUA_A_HANDLE /* p, i = type */
};
typedef struct ws101lua_arg {
  int kind;
  const void *p;
  size_t n;
  long long i;
} ws101lua_arg;

/* Calls the function of `c` with `nargs` arguments on its main thread,
 * protected. Returns 0, or -1 after the error (with traceback) went to the
 * loop's error policy. */
int ws101lua_call(ws101lua_cb *c, ws101_loop *loop, const ws101lua_arg *args,
                  int nargs);

/* Loop state: error policy and the Ctrl-C watcher. */
int ws101lua_loop_register(lua_State *L, ws101_loop *loop, int own_signals);
/* Handler: nil = print to stderr and keep running (default); a function =
 * call it with the message and traceback; the string "raise" = record the
 * first error, stop the loop and raise it from run(). Raises on misuse. */
void ws101lua_loop_set_error_handler(lua_State *L, ws101_loop *loop, int idx);
/* Run wrappers: install the SIGINT watcher while running (own loops only),
 * and return 1 with the recorded error pushed if one must be raised. */
int ws101lua_loop_run(lua_State *L, ws101_loop *loop, int once, int block,
                      int *result);
void ws101lua_loop_before_free(ws101_loop *loop);
/* A loop on luv's libuv loop remembers luv's context (the registry
 * userdata "luv_context", luv.h's luv_ctx_t) to know when uv.run() runs. */
void ws101lua_loop_set_luv(ws101_loop *loop, void *luv_ctx);
/* Returns a message if freeing `loop` now is unsafe (inside one of its
 * callbacks, or while uv.run() runs a luv loop), NULL otherwise. */
const char *ws101lua_loop_free_refusal(ws101_loop *loop);
/* Returns 1 while a ws101 callback runs (any loop). */
int ws101lua_in_callback(void);
/* Returns 1 with an error pushed if one was pending. */
int ws101lua_loop_after_free(lua_State *L, ws101_loop *loop);
/* Drops the server and request states of a freed loop
 * (ws101_luaglue_handles.c). */
void ws101lua_handles_drop_loop(ws101_loop *loop);

/* Requests. */
void *ws101lua_req_state(ws101_req *req);
void ws101lua_req_after(void *state, int completed);

/* Stats for leak tests: live callback contexts and request states. */
long ws101lua_live_callbacks(void);
long ws101lua_live_requests(void);
void ws101lua_count_cb(int delta);

/* Pushes the SWIG pointer for `p` (nil for NULL). */
void ws101lua_push_handle(lua_State *L, void *p, int type);

#endif

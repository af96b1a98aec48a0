/*
 * ws101_luaglue_call.c - callback contexts, the protected call into Lua,
 * and the per-loop state (error policy, Ctrl-C). See ws101_luaglue.h.
 */
#include "ws101_luaglue.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

static void (*g_wrap)(lua_State *L, void *ptr, int type);
static long g_live_cbs;
static char g_mainthread_key; /* its address keys the registry slot */

void ws101lua_set_wrap(void (*wrap)(lua_State *L, void *ptr, int type)) {
  g_wrap = wrap;
}

long ws101lua_live_callbacks(void) { return g_live_cbs; }
void ws101lua_count_cb(int delta) { g_live_cbs += delta; }

void ws101lua_push_handle(lua_State *L, void *p, int type) {
  if (!p || !g_wrap)
    lua_pushnil(L);
  else
    g_wrap(L, p, type);
}

/* ------------------------------------------------------------------------ */
/* Main thread                                                              */
/* ------------------------------------------------------------------------ */

void ws101lua_init_state(lua_State *L) {
  lua_pushlightuserdata(L, &g_mainthread_key);
#if LUA_VERSION_NUM >= 502
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
#else
  /* Lua 5.1 has no registry slot for it. `require` runs on the main thread
   * in practice; if not, the requiring thread is anchored here so that it
   * can never be collected under a pending callback. */
  lua_pushthread(L);
#endif
  lua_rawset(L, LUA_REGISTRYINDEX);
}

static lua_State *main_thread(lua_State *L) {
  lua_State *m;
  lua_pushlightuserdata(L, &g_mainthread_key);
  lua_rawget(L, LUA_REGISTRYINDEX);
  m = lua_tothread(L, -1);
  lua_pop(L, 1);
  return m ? m : L;
}

/* ------------------------------------------------------------------------ */
/* Contexts                                                                 */
/* ------------------------------------------------------------------------ */

ws101lua_cb *ws101lua_cb_new(lua_State *L, int idx, int allow_none) {
  ws101lua_cb *c;
  int none = lua_isnoneornil(L, idx);
  if (none && !allow_none) luaL_argerror(L, idx, "function expected");
  if (!none && !lua_isfunction(L, idx))
    luaL_argerror(L, idx, "function expected");
  c = calloc(1, sizeof(*c));
  if (!c) luaL_error(L, "ws101: out of memory");
  c->L = main_thread(L);
  c->ref = LUA_NOREF;
  if (!none) {
    lua_pushvalue(L, idx);
    c->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  g_live_cbs++;
  return c;
}

static void cb_free(ws101lua_cb *c) {
  if (c->ref != LUA_NOREF) luaL_unref(c->L, LUA_REGISTRYINDEX, c->ref);
  free(c);
  g_live_cbs--;
}

void ws101lua_cb_release(ws101lua_cb *c) {
  if (!c) return;
  if (c->busy) {
    c->dead = 1; /* the running trampoline frees it when it returns */
    return;
  }
  cb_free(c);
}

/* ------------------------------------------------------------------------ */
/* Loop state                                                               */
/* ------------------------------------------------------------------------ */

typedef struct loopstate {
  ws101_loop *loop;
  lua_State *L;
  int handler_ref; /* LUA_NOREF: print to stderr */
  int raise;       /* record + stop + raise from run() */
  int pending_ref; /* error to raise from run(), or LUA_NOREF */
  int own_signals; /* own loop: Ctrl-C stops run() */
  uv_signal_t *sig;
  struct sigaction saved_int;
  int running;
  void *luv_ctx; /* luv's context, for luv loops */
  struct loopstate *next;
} loopstate;

/* Calls into Lua in progress (any loop): ws101_loop_free must not run
 * inside one, whoever drives the loop. */
static int g_depth;

/* The first fields of luv's luv_ctx_t (luv.h), stable since luv 1.33:
 * mode is the uv_run mode while uv.run() runs, -1 otherwise. */
typedef struct luv_ctx_prefix {
  void *loop, *L, *cb_pcall, *thrd_pcall, *thrd_cpcall;
  int mode;
} luv_ctx_prefix;

static loopstate *g_loops;

static loopstate *loop_find(ws101_loop *loop) {
  loopstate *ls;
  for (ls = g_loops; ls; ls = ls->next)
    if (ls->loop == loop) return ls;
  return NULL;
}

int ws101lua_loop_register(lua_State *L, ws101_loop *loop, int own_signals) {
  loopstate *ls = calloc(1, sizeof(*ls));
  if (!ls) return -1;
  ls->loop = loop;
  ls->L = main_thread(L);
  ls->handler_ref = LUA_NOREF;
  ls->pending_ref = LUA_NOREF;
  ls->own_signals = own_signals;
  ls->next = g_loops;
  g_loops = ls;
  return 0;
}

void ws101lua_loop_set_error_handler(lua_State *L, ws101_loop *loop,
                                     int idx) {
  loopstate *ls = loop_find(loop);
  if (!ls) luaL_error(L, "ws101: unknown loop");
  if (lua_isnoneornil(L, idx)) {
    ls->raise = 0;
  } else if (lua_type(L, idx) == LUA_TSTRING &&
             !strcmp(lua_tostring(L, idx), "raise")) {
    ls->raise = 1;
  } else if (lua_isfunction(L, idx)) {
    ls->raise = 0;
  } else {
    luaL_argerror(L, idx, "nil, a function or \"raise\" expected");
  }
  if (ls->handler_ref != LUA_NOREF)
    luaL_unref(L, LUA_REGISTRYINDEX, ls->handler_ref);
  ls->handler_ref = LUA_NOREF;
  if (lua_isfunction(L, idx)) {
    lua_pushvalue(L, idx);
    ls->handler_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  }
}

/* Handles the error message (with traceback) on top of L's stack and pops
 * it: to the handler, to stderr, or recorded to be raised from run(). */
static void report(lua_State *L, ws101_loop *loop) {
  loopstate *ls = loop_find(loop);
  if (ls && ls->raise) {
    if (ls->pending_ref == LUA_NOREF) {
      ls->pending_ref = luaL_ref(L, LUA_REGISTRYINDEX);
      ws101_loop_stop(loop);
      return;
    }
  } else if (ls && ls->handler_ref != LUA_NOREF) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, ls->handler_ref);
    lua_insert(L, -2);
    if (lua_pcall(L, 1, 0, 0) == 0) return;
    fprintf(stderr, "ws101: error handler failed: %s\n",
            lua_isstring(L, -1) ? lua_tostring(L, -1) : "?");
    lua_pop(L, 1);
    return;
  }
  fprintf(stderr, "ws101: error in callback: %s\n",
          lua_isstring(L, -1) ? lua_tostring(L, -1) : "(no message)");
  fflush(stderr);
  lua_pop(L, 1);
}

/* Message handler: the error as a string with the Lua traceback. */
static int traceback(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (!msg) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_isstring(L, -1))
      msg = lua_tostring(L, -1);
    else
      msg = lua_pushfstring(L, "(error object is a %s value)",
                            luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

typedef struct callframe {
  int ref;
  const ws101lua_arg *args;
  int nargs;
} callframe;

/* Runs protected: pushing the arguments may itself raise (memory). */
static int protected_call(lua_State *L) {
  callframe *f = lua_touserdata(L, 1);
  int i;
  lua_settop(L, 0);
  luaL_checkstack(L, f->nargs + 2, "ws101 callback");
  lua_rawgeti(L, LUA_REGISTRYINDEX, f->ref);
  for (i = 0; i < f->nargs; i++) {
    const ws101lua_arg *a = &f->args[i];
    switch (a->kind) {
    case WS101LUA_A_INT: lua_pushinteger(L, (lua_Integer)a->i); break;
    case WS101LUA_A_BOOL: lua_pushboolean(L, a->i != 0); break;
    case WS101LUA_A_STR:
      lua_pushlstring(L, a->p ? (const char *)a->p : "", a->p ? a->n : 0);
      break;
    case WS101LUA_A_HANDLE:
      ws101lua_push_handle(L, (void *)a->p, (int)a->i);
      break;
    default: lua_pushnil(L); break;
    }
  }
  lua_call(L, f->nargs, 0);
  return 0;
}

int ws101lua_call(ws101lua_cb *c, ws101_loop *loop, const ws101lua_arg *args,
                  int nargs) {
  lua_State *L = c->L;
  callframe f;
  int top, rc;
  if (c->ref == LUA_NOREF) return 0;
  f.ref = c->ref;
  f.args = args;
  f.nargs = nargs;
  top = lua_gettop(L);
  if (!lua_checkstack(L, 4)) return -1; /* never raises */
  lua_pushcfunction(L, traceback);
  lua_pushcfunction(L, protected_call);
  lua_pushlightuserdata(L, &f);
  g_depth++;
  rc = lua_pcall(L, 1, 0, top + 1);
  if (rc != 0) report(L, loop);
  g_depth--;
  lua_settop(L, top);
  return rc ? -1 : 0;
}

/* ------------------------------------------------------------------------ */
/* Running: Ctrl-C on our own loops                                         */
/* ------------------------------------------------------------------------ */

static void sig_close_cb(uv_handle_t *h) { free(h); }

/* SIGINT while run() waits: stop the loop and raise "interrupted!" from
 * run(), as the lua interpreter does for a running chunk. */
static void sigint_cb(uv_signal_t *s, int signum) {
  loopstate *ls = s->data;
  (void)signum;
  if (ls->pending_ref == LUA_NOREF) {
    lua_pushstring(ls->L, "interrupted!");
    ls->pending_ref = luaL_ref(ls->L, LUA_REGISTRYINDEX);
  }
  ws101_loop_stop(ls->loop);
}

static void run_enter(loopstate *ls) {
  if (!ls || ls->running++ != 0 || !ls->own_signals) return;
  ls->sig = malloc(sizeof(*ls->sig));
  if (!ls->sig) return;
  /* lua.c's own SIGINT handler only works while Lua code runs; keep it to
   * put it back after run(). */
  sigaction(SIGINT, NULL, &ls->saved_int);
  if (uv_signal_init(ws101_loop_uv(ls->loop), ls->sig) != 0) {
    free(ls->sig);
    ls->sig = NULL;
    return;
  }
  ls->sig->data = ls;
  uv_signal_start(ls->sig, sigint_cb, SIGINT);
  uv_unref((uv_handle_t *)ls->sig); /* never keeps the loop alive */
}

static void sig_stop(loopstate *ls) {
  if (!ls->sig) return;
  uv_signal_stop(ls->sig);
  uv_close((uv_handle_t *)ls->sig, sig_close_cb);
  ls->sig = NULL;
  sigaction(SIGINT, &ls->saved_int, NULL);
}

int ws101lua_loop_run(lua_State *L, ws101_loop *loop, int once, int block,
                      int *result) {
  loopstate *ls = loop_find(loop);
  run_enter(ls);
  *result = once ? ws101_loop_run_once(loop, block) : ws101_loop_run(loop);
  if (!ls) return 0;
  if (--ls->running == 0) sig_stop(ls);
  if (ls->pending_ref != LUA_NOREF && ls->running == 0) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, ls->pending_ref);
    luaL_unref(L, LUA_REGISTRYINDEX, ls->pending_ref);
    ls->pending_ref = LUA_NOREF;
    return 1;
  }
  return 0;
}

void ws101lua_loop_set_luv(ws101_loop *loop, void *luv_ctx) {
  loopstate *ls = loop_find(loop);
  if (ls) ls->luv_ctx = luv_ctx;
}

int ws101lua_in_callback(void) { return g_depth > 0; }

const char *ws101lua_loop_free_refusal(ws101_loop *loop) {
  loopstate *ls = loop_find(loop);
  if (g_depth > 0)
    return "ws101: a loop cannot be closed from inside a ws101 callback "
           "(close it after run() or uv.run() returned)";
  if (ls && ls->luv_ctx && ((luv_ctx_prefix *)ls->luv_ctx)->mode != -1)
    return "ws101: a luv loop cannot be closed while uv.run() runs "
           "(close it after uv.run() returned)";
  return NULL;
}

void ws101lua_loop_before_free(ws101_loop *loop) {
  loopstate *ls = loop_find(loop);
  if (ls) sig_stop(ls);
}

int ws101lua_loop_after_free(lua_State *L, ws101_loop *loop) {
  loopstate **pp, *ls = NULL;
  int raise = 0;
  ws101lua_handles_drop_loop(loop);
  for (pp = &g_loops; *pp; pp = &(*pp)->next) {
    if ((*pp)->loop == loop) {
      ls = *pp;
      *pp = ls->next;
      break;
    }
  }
  if (!ls) return 0;
  if (ls->handler_ref != LUA_NOREF)
    luaL_unref(L, LUA_REGISTRYINDEX, ls->handler_ref);
  if (ls->pending_ref != LUA_NOREF) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, ls->pending_ref);
    luaL_unref(L, LUA_REGISTRYINDEX, ls->pending_ref);
    raise = 1;
  }
  free(ls);
  return raise;
}

/*
 * ws101.i - the language-neutral SWIG interface over include/ws101.h.
 *
 * Shared by every binding. Language-specific parts live beside it and are
 * pulled in by the SWIG<LANG> macro that SWIG defines for the target:
 *
 *   python/ws101_python.i   typemaps + trampolines for -python
 *   lua/ws101_lua.i         (later) for -lua
 *
 * What a language file must provide, because it cannot be expressed
 * neutrally:
 *
 *   - a typemap for each `(ws101_xxx_cb cb, void *user_data)` pair: keep a
 *     reference to the target-language callable, install a C trampoline and
 *     drop the reference when the handle's final event has run;
 *   - a typemap for the `TYPE **out` out-parameters (return the handle next
 *     to the int result);
 *   - a typemap for the `(const char *data, size_t len)` byte-buffer pairs;
 *   - a body getter (ws101_req_body is ignored here: it is not
 *     NUL-terminated and must come back as a byte string of the right size).
 *
 * Conventions kept from the C API: functions return the C int codes
 * (0 / negative WS101_E*); the idiomatic layer of each language turns them
 * into exceptions or errors. The *_set_user_data/*_get_user_data slots are
 * owned by the binding (it keeps its per-handle state there), so they are
 * not exported.
 */
%module ws101

%{
#include "ws101.h"
%}

%include <stdint.i>
%include <typemaps.i>

/* Integer out-parameter of ws101_options_get. */
%apply int64_t *OUTPUT { int64_t *value };

/* Raw libuv access has no meaning in a scripting language. */
%ignore ws101_loop_new_uv;
%ignore ws101_loop_uv;

/* User-data slots belong to the binding (see above). */
%ignore ws101_req_set_user_data;
%ignore ws101_req_get_user_data;
%ignore ws101_ws_set_user_data;
%ignore ws101_ws_get_user_data;
%ignore ws101_fetch_set_user_data;
%ignore ws101_fetch_get_user_data;

/* Binary body: each language supplies ws101_req_body_bytes(req). */
%ignore ws101_req_body;

/* Pub/sub. ws101_redis_attach takes a callback pair: each language file
 * wraps it with a typemap that keeps the callable until the server is
 * freed (the backplane has no close callback; it lives exactly as long as
 * its server, and never reports after the server's close callback ran).
 * ws101_workers_* run handlers on N threads: Python wraps them with its
 * own helpers (the setup callback, a GIL-releasing join); Lua ignores
 * them (one lua_State must not be entered from several threads). */

/* Per-language typemaps, trampolines and helpers. */
#if defined(SWIGPYTHON)
%include "python/ws101_python.i"
#elif defined(SWIGLUA)
%include "lua/ws101_lua.i"
#endif

/* The header itself. WS101_EXTERN expands to nothing for SWIG (no __GNUC__
 * in SWIG's preprocessor); define it anyway so the interface never depends
 * on that. */
#define WS101_EXTERN
%include "ws101.h"

/*
 * ws101_luaopen.c - the entry point of the native module `ws101.core`.
 *
 * SWIG names its entry luaopen_ws101 after the shared %module; the module
 * file is ws101/core.so (ws101.lua is the idiomatic layer that requires
 * it), so Lua looks for luaopen_ws101_core. This is the only symbol the
 * module exports besides SWIG's own.
 */
#include <lua.h>

int luaopen_ws101(lua_State *L);

__attribute__((visibility("default"))) int luaopen_ws101_core(lua_State *L);

int luaopen_ws101_core(lua_State *L) { return luaopen_ws101(L); }

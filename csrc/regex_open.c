/*
** regex_open.c -- the opener of the regex room (fm_open_regex, called by
** core.c): makes the per-state data and the cache tables, and registers
** every face over them -- the fm face's functions and methods, the lrexlib
** face as core._rex, the FFI face's set-up functions.  It sits on top of
** the room, as linit.c sits on top of Lua's libraries: it calls the faces
** and the engine, and nothing calls back into it.
** Owns: the upvalues every function of the room shares (regex.h, UV_*) and
** the classes.  Must not touch: what any function does.
*/
#include "regex.h"
#include "regex_faces.h"

/* Register l into the table at t, each function with the room's RX_NUP
   upvalues, which sit from uv0 on. */
static void setfuncs_uv(lua_State *L, int t, const luaL_Reg *l, int uv0) {
  lua_pushvalue(L, t);
  for (int i = 0; i < RX_NUP; i++)
    lua_pushvalue(L, uv0 + i);
  luaL_setfuncs(L, l, RX_NUP);
  lua_pop(L, 1);
}

void fm_open_regex(lua_State *L) {
  int mod = lua_gettop(L), uv0;
  if (gctx() == NULL) luaL_error(L, "fastmatch: not enough memory");
  luaL_newmetatable(L, RX_BUF_MT);
  lua_pushcfunction(L, buf_gc);
  lua_setfield(L, -2, "__gc");
  luaL_newmetatable(L, RX_TABLES_MT);
  lua_pushcfunction(L, tables_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, tables_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_settop(L, mod);

  uv0 = mod + 1;
  rx_state_new(L);                                          /* 1: state */
  lua_newtable(L);                                          /* 2: root */
  fm_newclass(L, "fastmatch.regex", NULL, fm_meta, 1);      /* 3 */
  fm_newclass(L, "fastmatch.rex_regex", NULL, rex_meta, 1); /* 4 */
  lua_newtable(L); /* 5: cache table for options "" */
  lua_pushvalue(L, -1);
  lua_setfield(L, uv0 + 1, "");

  lua_newtable(L); /* fm methods: each object's __index table copies them */
  setfuncs_uv(L, lua_gettop(L), fm_methods, uv0);
  lua_setfield(L, uv0 + 2, "__methods");

  lua_newtable(L); /* rex methods */
  setfuncs_uv(L, lua_gettop(L), rex_methods, uv0);
  lua_setfield(L, uv0 + 3, "__index");

  setfuncs_uv(L, mod, fm_funcs, uv0);
  setfuncs_uv(L, mod, ffi_funcs, uv0); /* core._ffi_*: ffi.lua's set-up */
  ffi_open(L, mod);

  lua_newtable(L);
  setfuncs_uv(L, lua_gettop(L), rex_funcs, uv0);
  lua_pushliteral(L, "Lrexlib 2.9 compatible (fastmatch " FM_VERSION
                     ", for PCRE2)");
  lua_setfield(L, -2, "_VERSION");
  lua_setfield(L, mod, "_rex");
  lua_settop(L, mod);
}

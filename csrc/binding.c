/*
** binding.c -- what every capability's Lua binding shares, as lauxlib.c is
** to Lua's libraries: matcher lookup, the error a matcher's code stands for,
** class creation, option and size checks.
** Owns: these helpers.  Must not touch: any capability (nothing here calls
** a capability; the capabilities call this) nor the opener (core.c).
*/
#include <limits.h>
#include <string.h>

#include "lauxlib.h"
#include "lua.h"

#include "binding.h"
#include "fastmatch.h"

fm_matcher *fm_tomatcher(lua_State *L, int idx) {
  fm_matcher *m;
  if (lua_type(L, idx) != LUA_TUSERDATA) return NULL;
  if (luaL_getmetafield(L, idx, FM_MATCHER_FIELD) == LUA_TNIL) return NULL;
  lua_pop(L, 1);
  m = (fm_matcher *)lua_touserdata(L, idx);
  return (m != NULL && m->test != NULL) ? m : NULL;
}

int fm_matcher_error(lua_State *L, int code) {
  switch (code) {
  /* the exact words, whichever PCRE2 limit stopped the match (a
     caller can compare the message); fm.limits raises each of them */
  case FM_EMATCHLIMIT:
  case FM_EDEPTHLIMIT:
  case FM_EHEAPLIMIT:
    return luaL_error(L, "fastmatch: match limit exceeded");
  case FM_EUTF: return luaL_error(L, "fastmatch: invalid UTF-8 in subject");
  case FM_ENOMEM: return luaL_error(L, "fastmatch: not enough memory");
  default: return luaL_error(L, "fastmatch: match error %d", code);
  }
}

void fm_setfuncs(lua_State *L, const luaL_Reg *l) { luaL_setfuncs(L, l, 0); }

void fm_newclass(lua_State *L, const char *name, const luaL_Reg *methods,
                 const luaL_Reg *meta, int ismatcher) {
  luaL_newmetatable(L, name);
  if (meta != NULL) luaL_setfuncs(L, meta, 0);
  if (methods != NULL) {
    lua_getfield(L, -1, "__index");
    if (lua_isnil(L, -1)) { /* no custom __index: methods table */
      lua_pop(L, 1);
      lua_newtable(L);
      luaL_setfuncs(L, methods, 0);
      lua_setfield(L, -2, "__index");
    } else
      lua_pop(L, 1);
  }
  if (ismatcher) {
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, FM_MATCHER_FIELD);
  }
}

/* Raise for a key of the options table at arg that is not in known (a
   NULL-terminated list): a misspelt option is a programming mistake, and
   ignoring it would silently change the result. */
void fm_checkopts(lua_State *L, int arg, const char *const known[]) {
  lua_pushnil(L);
  while (lua_next(L, arg) != 0) {
    const char *const *k = known;
    lua_pop(L, 1);
    if (lua_type(L, -1) == LUA_TSTRING) {
      size_t kl;
      const char *ks = lua_tolstring(L, -1, &kl); /* "crlf\0x" is not crlf */
      for (; *k != NULL; k++)
        if (strlen(*k) == kl && memcmp(*k, ks, kl) == 0) break;
    }
    if (lua_type(L, -1) != LUA_TSTRING || *k == NULL) {
      lua_pushfstring(L, "unknown option '%s'", luaL_tolstring(L, -1, NULL));
      luaL_argerror(L, arg, lua_tostring(L, -1));
    }
  }
}

size_t fm_checksize(lua_State *L, int arg) {
  lua_Integer i = luaL_checkinteger(L, arg);
  luaL_argcheck(L, i >= 0, arg, "must not be negative");
#if LUA_MAXINTEGER > SIZE_MAX
  luaL_argcheck(L, (lua_Unsigned)i <= SIZE_MAX, arg, "too large");
#endif
  return (size_t)i;
}

size_t fm_optsize(lua_State *L, int arg, size_t def) {
  return lua_isnoneornil(L, arg) ? def : fm_checksize(L, arg);
}

/* A matcher class: methods are closures over the metatable (each checks
   self with one rawequal), __call is the test method, __index a closure
   over the methods table. */
void fm_matcherclass(lua_State *L, const char *name, const luaL_Reg *methods,
                     const luaL_Reg *meta, lua_CFunction index) {
  fm_newclass(L, name, NULL, meta, 1); /* mt */
  lua_newtable(L);                     /* mt methods */
  for (; methods->name != NULL; methods++) {
    lua_pushvalue(L, -2);
    lua_pushcclosure(L, methods->func, 1);
    lua_setfield(L, -2, methods->name);
  }
  lua_getfield(L, -1, "test");
  lua_setfield(L, -3, "__call");
  if (index == NULL) { /* per-object __index tables copy these */
    lua_setfield(L, -2, "__methods");
    lua_pop(L, 1);
    return;
  }
  lua_pushvalue(L, -2); /* mt methods mt */
  lua_insert(L, -2);    /* mt mt methods */
  lua_pushcclosure(L, index, 2);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
}


/*
** core.c -- luaopen_fastmatch_core: one table that every capability fills,
** and the small binding helpers they share (matcher lookup, class creation,
** size_t argument checks).
*/
#include <limits.h>
#include <string.h>
#include <time.h>

#include "lauxlib.h"
#include "lua.h"

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

/* fm.now() -> seconds from a monotonic clock, as a float: wall time for
   benchmarks (os.clock is CPU time of the whole process). */
static int l_now(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec * 1e-9);
  return 1;
}

static const luaL_Reg core_funcs[] = {{"now", l_now}, {NULL, NULL}};

/* Each capability file adds its functions in its fm_open_* function. */
LUAMOD_API int luaopen_fastmatch_core(lua_State *L) {
  lua_newtable(L);
  lua_pushliteral(L, FM_VERSION);
  lua_setfield(L, -2, "version");
  fm_setfuncs(L, core_funcs);
  fm_open_alloc(L);
  fm_open_lines(L);
  fm_open_writer(L);
  fm_open_regex(L);
  fm_open_wildcard(L);
  return 1;
}

/*
** evtable.c -- the Lua table front end: an event table (what lua-cjson
** decodes, or one built in Lua) as a stream of structure events
** (evsink.h), in the order lua_next gives, which is the order pairs()
** gives flatten(): a consumer may let the first writer win (the event
** model's FM_EV_DUP_FIRST).
** Owns: what a Lua value is as JSON.  Must not touch: how fields are named
** (evmodel.c), the rules.
**
** A table is an array when t[1] is not nil (as flatten() tells a list),
** else an object.  What JSON cannot say, or what pairs() might not give
** as lua_next does, stops the walk with FM_SINK_OTHER and a reason: a
** table with a metatable, an object key that is not a string, an array
** with other keys or holes, nesting past MAXDEPTH (a table holding itself).
** Strings are FM_SV_STABLE (the table holds them while the caller does);
** numbers are written here: an integer as its digits, others as %.17g.
*/
#include <stdio.h>
#include <string.h>

#include "binding.h"
#include "evsink.h"
#include "evmodel.h"

enum { MAXDEPTH = 100 };

static int walk(lua_State *L, int t, const char *key, size_t klen, fm_sink *S, int depth, int *why);

/* The value at idx, under key (NULL: an array's element). */
static int emit(lua_State *L, int idx, const char *key, size_t klen, fm_sink *S, int depth, int *why) {
  switch (lua_type(L, idx)) {
    case LUA_TSTRING: {
      size_t n;
      const char *s = lua_tolstring(L, idx, &n);
      return S->scalar(S, key, klen, FM_SV_STR | FM_SV_STABLE, s, n);
    }
    case LUA_TNUMBER: {
      char buf[40];
      int n;
      if (lua_isinteger(L, idx)) {
        n = snprintf(buf, sizeof buf, "%lld", (long long)lua_tointeger(L, idx));
      } else {
        lua_Number d = lua_tonumber(L, idx);
        if (d >= -9.2e18 && d <= 9.2e18 && d == (lua_Number)(long long)d)
          n = snprintf(buf, sizeof buf, "%lld", (long long)d); /* -0.0 too: "0", as flatten() */
        else
          n = snprintf(buf, sizeof buf, "%.17g", (double)d);
      }
      return S->scalar(S, key, klen, FM_SV_NUM, buf, (size_t)n);
    }
    case LUA_TBOOLEAN:
      return lua_toboolean(L, idx) ? S->scalar(S, key, klen, FM_SV_BOOL | FM_SV_STABLE, "true", 4)
                                   : S->scalar(S, key, klen, FM_SV_BOOL | FM_SV_STABLE, "false", 5);
    case LUA_TTABLE: return walk(L, lua_absindex(L, idx), key, klen, S, depth + 1, why);
    default: /* lua-cjson's null, and what JSON has no value for: absent */
      return S->scalar(S, key, klen, FM_SV_NULL | FM_SV_STABLE, "null", 4);
  }
}

static int walk(lua_State *L, int t, const char *key, size_t klen, fm_sink *S, int depth, int *why) {
  int rc;
  if (depth > MAXDEPTH || !lua_checkstack(L, 6)) {
    *why = FM_EV_NESTING;
    return FM_SINK_OTHER;
  }
  if (lua_getmetatable(L, t)) {
    lua_pop(L, 1);
    *why = FM_EV_METATABLE;
    return FM_SINK_OTHER;
  }
  if (lua_rawgeti(L, t, 1) != LUA_TNIL) { /* an array: 1 .. n, and no other key */
    size_t n = (size_t)lua_rawlen(L, t), i, keys = 0;
    lua_pop(L, 1);
    if ((rc = S->begin(S, key, klen, 1 | FM_SV_STABLE)) != FM_SINK_OK) return rc;
    for (i = 1; i <= n; i++) {
      lua_rawgeti(L, t, (lua_Integer)i);
      rc = emit(L, -1, NULL, 0, S, depth, why);
      lua_pop(L, 1);
      if (rc != FM_SINK_OK) return rc;
    }
    lua_pushnil(L);
    while (lua_next(L, t)) {
      lua_pop(L, 1);
      keys++;
    }
    if (keys != n) {
      *why = FM_EV_KEY;
      return FM_SINK_OTHER;
    }
    return S->end(S);
  }
  lua_pop(L, 1);
  if ((rc = S->begin(S, key, klen, FM_SV_STABLE)) != FM_SINK_OK) return rc;
  lua_pushnil(L);
  while (lua_next(L, t)) {
    size_t kn;
    const char *k;
    if (lua_type(L, -2) != LUA_TSTRING) {
      lua_pop(L, 2);
      *why = FM_EV_KEY;
      return FM_SINK_OTHER;
    }
    k = lua_tolstring(L, -2, &kn);
    rc = emit(L, -1, k, kn, S, depth, why);
    lua_pop(L, 1);
    if (rc != FM_SINK_OK) {
      lua_pop(L, 1);
      return rc;
    }
  }
  return S->end(S);
}

int fm_evtable_walk(lua_State *L, int idx, fm_sink *sink, int *why) {
  int top = lua_gettop(L), rc;
  *why = FM_EV_OK;
  luaL_checktype(L, idx, LUA_TTABLE);
  rc = walk(L, lua_absindex(L, idx), NULL, 0, sink, 0, why);
  lua_settop(L, top);
  return rc;
}

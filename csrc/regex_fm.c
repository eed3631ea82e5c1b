/*
** regex_fm.c -- the fm face of the regex room: fm.compile, the cached
** module functions (fm.find/match/test/exec/gmatch/gsub/split/count),
** fm.cache_size/cache_stats/limits, and the methods of fastmatch.regex.
** Owns: the fm argument order and return conventions, the cached-call fast
** path.  Must not touch: the lrexlib face (regex_rex.c); the limits
** themselves and what a cache hit does are the engine's (regex.c,
** regex.h).
*/
#include <stdint.h>
#include <string.h>

#include "regex.h"
#include "regex_faces.h"

/* ---------------------------------------------------------------------
** fm face: module functions
** ------------------------------------------------------------------- */
/* fm_arg leaves a cached object on the top; make sure there is one */
static fm_regex *fm_arg_top(lua_State *L, int pidx, int oidx, int nargs) {
  fm_regex *r = fm_arg(L, pidx, oidx, nargs);
  if (lua_type(L, pidx) != LUA_TSTRING) lua_pushvalue(L, pidx);
  return r;
}

/* find/match/test/exec (s, pattern, [init], [opts]): the arguments are
   read before the cached object is pushed, so no settop is needed */
RX_INLINE int fm_findfunc(lua_State *L, int method) {
  size_t n, pl, off = 0;
  const char *s = rx_subject(L, 1, &n), *p;
  int top = lua_gettop(L), t4 = LUA_TNONE;
  fm_regex *r;
  if (top >= 3 && !rx_init(L, 3, n, &off)) off = SIZE_MAX;
  if (top <= 4 && (p = lua_tolstring(L, 2, &pl)) != NULL &&
      (top < 4 || (t4 = lua_type(L, 4)) == LUA_TSTRING || t4 == LUA_TNIL)) {
    /* the hot case: string pattern, cached, with or without an options
       string.  The object is not anchored on the stack: nothing below runs
       Lua code or compiles, so it stays in the cache (which holds it) for
       the whole call. */
    rx_state *st = (rx_state *)lua_touserdata(L, UV_STATE);
    const char *o = NULL;
    rx_slot *sl;
    if (top == 4 && t4 == LUA_TSTRING) {
      size_t ol;
      o = lua_tolstring(L, 4, &ol);
      if (ol == 0) o = NULL; /* "" is no options: the same object */
    }
    sl = rx_slotof(st, p, o);
    if (sl->pat == p && sl->opts == o)
      r = sl->r;
    else {
      if (o != NULL) {
        lua_pushvalue(L, 4);
        if (lua_rawget(L, UV_ROOT) != LUA_TTABLE) {
          lua_pop(L, 1);
          goto slow;
        }
        lua_pushvalue(L, 2);
        if (lua_rawget(L, -2) != LUA_TUSERDATA) {
          lua_pop(L, 2);
          goto slow;
        }
      } else {
        lua_pushvalue(L, 2);
        if (lua_rawget(L, UV_DEFSUB) != LUA_TUSERDATA) {
          lua_pop(L, 1);
          goto slow;
        }
      }
      r = (fm_regex *)lua_touserdata(L, -1);
      if (r->pat == p && (o == NULL ? r->keylen == 0 : r->key == o))
        sl->pat = p, sl->opts = o, sl->r = r;
    }
    rx_cache_hit(st, r);
    if (r->literal && method == M_FIND && off != SIZE_MAX) {
      /* a literal: what string.find(s, p, init, true) does */
      const char *at = rx_litfind(r, s + off, n - off);
      if (at == NULL) {
        lua_pushnil(L);
        return 1;
      }
      lua_pushinteger(L, (lua_Integer)(at - s) + 1);
      lua_pushinteger(L, (lua_Integer)(at - s + r->patlen));
      return 2;
    }
    if (method != M_TFIND && !r->prevalidate && off != SIZE_MAX)
      return rx_find_fast(L, r, s, n, off, method);
    return rx_find_at(L, r, s, n, off, 0, method);
  }
slow:
  r = fm_arg(L, 2, 4, 0);
  return rx_find_at(L, r, s, n, off, 0, method);
}

static int l_compile(lua_State *L) {
  uint32_t f = 0;
  luaL_checktype(L, 1, LUA_TSTRING);
  if (lua_isnoneornil(L, 2)) {
    lua_settop(L, 1);
    lua_pushliteral(L, "");
  } else {
    size_t ol;
    const char *o;
    luaL_checktype(L, 2, LUA_TSTRING);
    o = lua_tolstring(L, 2, &ol);
    f = rx_fmopts(L, 2, o, ol);
  }
  rx_compile(L, 1, f, 0, 2, NULL, 0, NULL);
  return 1;
}

static int l_find(lua_State *L) { return fm_findfunc(L, M_FIND); }
static int l_match(lua_State *L) { return fm_findfunc(L, M_MATCH); }
static int l_test(lua_State *L) { return fm_findfunc(L, M_TEST); }
static int l_exec(lua_State *L) { return fm_findfunc(L, M_TFIND); }

static int fm_gmatch_common(lua_State *L, fm_regex *r, int sidx, int iidx) {
  size_t n, off = 0;
  int ok;
  rx_subject(L, sidx, &n);
  ok = rx_init(L, iidx, n, &off);
  return rx_gmatch(L, r, sidx, off, 0, !ok);
}

static int l_gmatch(lua_State *L) {
  fm_regex *r;
  rx_subject(L, 1, NULL);
  r = fm_arg_top(L, 2, 4, 4);
  return fm_gmatch_common(L, r, 1, 3);
}

static int l_gsub(lua_State *L) {
  fm_regex *r = fm_arg(L, 2, 5, 5);
  return rx_gsub(L, r, 1, 3, 4, 0);
}

static int fm_split_common(lua_State *L, fm_regex *r, int sidx, int midx) {
  size_t n;
  lua_Integer max = luaL_optinteger(L, midx, 0);
  rx_subject(L, sidx, &n);
  rx_checkutf(L, r, lua_tostring(L, sidx), n);
  lua_pushvalue(L, sidx);
  lua_pushinteger(L, 0);
  lua_pushinteger(L, -1);
  lua_pushinteger(L, 0);
  lua_pushinteger(L, max);
  lua_pushcclosure(L, split_iter, 6);
  return 1;
}

static int l_split(lua_State *L) {
  fm_regex *r;
  rx_subject(L, 1, NULL);
  r = fm_arg_top(L, 2, 4, 4);
  return fm_split_common(L, r, 1, 3);
}

static int l_count(lua_State *L) {
  fm_regex *r = fm_arg(L, 2, 3, 3);
  return rx_count(L, r, 1, 0);
}

static int l_cache_size(lua_State *L) {
  rx_state *st = (rx_state *)lua_touserdata(L, UV_STATE);
  if (!lua_isnoneornil(L, 1)) {
    st->capacity = fm_checksize(L, 1);
    while (st->size > st->capacity)
      cache_evict_tail(L, st);
  }
  lua_pushinteger(L, (lua_Integer)st->capacity);
  return 1;
}

static int l_cache_stats(lua_State *L) {
  rx_state *st = (rx_state *)lua_touserdata(L, UV_STATE);
  lua_createtable(L, 0, 5);
  lua_pushinteger(L, (lua_Integer)st->size);
  lua_setfield(L, -2, "size");
  lua_pushinteger(L, (lua_Integer)st->capacity);
  lua_setfield(L, -2, "capacity");
  lua_pushinteger(L, st->hits);
  lua_setfield(L, -2, "hits");
  lua_pushinteger(L, st->misses);
  lua_setfield(L, -2, "misses");
  lua_pushinteger(L, st->evictions);
  lua_setfield(L, -2, "evictions");
  return 1;
}

static uint32_t limit_field(lua_State *L, const char *k, uint32_t cur) {
  lua_Integer v;
  int isnum;
  if (lua_getfield(L, 1, k) == LUA_TNIL) {
    lua_pop(L, 1);
    return cur;
  }
  v = lua_tointegerx(L, -1, &isnum);
  if (!isnum || v < 1 || v > (lua_Integer)UINT32_MAX)
    luaL_error(L, "bad field '%s' to 'limits' (integer in [1, %I] expected)", k,
               (lua_Integer)UINT32_MAX);
  lua_pop(L, 1);
  return (uint32_t)v;
}

/* fm.limits([{match=, depth=, heap=}]) -> the limits now in force
   (heap in KiB, as PCRE2 counts it) */
static int l_limits(lua_State *L) {
  rx_state *st = (rx_state *)lua_touserdata(L, UV_STATE);
  if (!lua_isnoneornil(L, 1)) {
    luaL_checktype(L, 1, LUA_TTABLE);
    st->match_limit = limit_field(L, "match", st->match_limit);
    st->depth_limit = limit_field(L, "depth", st->depth_limit);
    st->heap_limit = limit_field(L, "heap", st->heap_limit);
    rx_limits_apply(st);
  }
  lua_createtable(L, 0, 3);
  lua_pushinteger(L, st->match_limit);
  lua_setfield(L, -2, "match");
  lua_pushinteger(L, st->depth_limit);
  lua_setfield(L, -2, "depth");
  lua_pushinteger(L, st->heap_limit);
  lua_setfield(L, -2, "heap");
  return 1;
}

/* ---------------------------------------------------------------------
** fm face: methods
** ------------------------------------------------------------------- */
/* re:test/find/match(s [, init]): the class check of check_self inline,
   then rx_find_fast; UTF objects (prevalidation) take the generic path */
RX_INLINE int m_findfunc(lua_State *L, int method) {
  fm_regex *r = (fm_regex *)lua_touserdata(L, 1);
  size_t n, off = 0;
  const char *s;
  if (r == NULL || lua_rawlen(L, 1) != sizeof(fm_regex) ||
      r->tag != &rx_tag_fm || r->code == NULL || r->prevalidate)
    return rx_find(L, check_self(L, 0), 2, 3, 0, method);
  s = rx_subject(L, 2, &n);
  if (lua_gettop(L) >= 3 && !rx_init(L, 3, n, &off))
    return rx_find_at(L, r, s, n, SIZE_MAX, 0, method); /* past the end */
  return rx_find_fast(L, r, s, n, off, method);
}
static int m_test(lua_State *L) { return m_findfunc(L, M_TEST); }
static int m_find(lua_State *L) { return m_findfunc(L, M_FIND); }
static int m_match(lua_State *L) { return m_findfunc(L, M_MATCH); }
static int m_exec(lua_State *L) {
  return rx_find(L, check_self(L, 0), 2, 3, 0, M_TFIND);
}
static int m_gmatch(lua_State *L) {
  fm_regex *r = check_self(L, 0);
  rx_subject(L, 2, NULL);
  lua_settop(L, 3); /* the object pushed next must not pose as init */
  lua_pushvalue(L, 1);
  return fm_gmatch_common(L, r, 2, 3);
}
static int m_gsub(lua_State *L) {
  return rx_gsub(L, check_self(L, 0), 2, 3, 4, 0);
}
static int m_split(lua_State *L) {
  fm_regex *r = check_self(L, 0);
  rx_subject(L, 2, NULL);
  lua_settop(L, 3); /* the object pushed next must not pose as max */
  lua_pushvalue(L, 1);
  return fm_split_common(L, r, 2, 3);
}
static int m_count(lua_State *L) { return rx_count(L, check_self(L, 0), 2, 0); }

static int m_info(lua_State *L) {
  fm_regex *r = check_self(L, 0);
  uint32_t cnt = 0, esz = 0;
  PCRE2_SPTR tab;
  lua_createtable(L, 0, 5);
  lua_pushinteger(L, r->ncap);
  lua_setfield(L, -2, "captures");
  lua_pushboolean(L, r->jit);
  lua_setfield(L, -2, "jit");
  lua_pushboolean(L, r->literal);
  lua_setfield(L, -2, "literal");
  lua_pushinteger(L, r->minlen);
  lua_setfield(L, -2, "minlength");
  lua_newtable(L);
  pcre2_pattern_info(r->code, PCRE2_INFO_NAMECOUNT, &cnt);
  if (cnt) {
    pcre2_pattern_info(r->code, PCRE2_INFO_NAMETABLE, &tab);
    pcre2_pattern_info(r->code, PCRE2_INFO_NAMEENTRYSIZE, &esz);
    for (uint32_t i = 0, k = 0; i < cnt; i++) {
      const char *nm = (const char *)tab + (size_t)i * esz + 2;
      if (k > 0) { /* duplicate names are listed once */
        lua_rawgeti(L, -1, k);
        if (strcmp(lua_tostring(L, -1), nm) == 0) {
          lua_pop(L, 1);
          continue;
        }
        lua_pop(L, 1);
      }
      lua_pushstring(L, nm);
      lua_rawseti(L, -2, ++k);
    }
  }
  lua_setfield(L, -2, "names");
  return 1;
}

static int fm_tostring(lua_State *L) {
  fm_regex *r = (fm_regex *)lua_touserdata(L, 1);
  if (r->code == NULL)
    lua_pushliteral(L, "fastmatch.regex (closed)");
  else {
    lua_getiuservalue(L, 1, 1);
    lua_pushfstring(L, "fastmatch.regex (%p): %s", (void *)r,
                    lua_tostring(L, -1));
  }
  return 1;
}

const luaL_Reg fm_funcs[] = {{"compile", l_compile},
                                    {"find", l_find},
                                    {"match", l_match},
                                    {"test", l_test},
                                    {"exec", l_exec},
                                    {"gmatch", l_gmatch},
                                    {"gsub", l_gsub},
                                    {"split", l_split},
                                    {"count", l_count},
                                    {"cache_size", l_cache_size},
                                    {"cache_stats", l_cache_stats},
                                    {"limits", l_limits},
                                    {NULL, NULL}};

const luaL_Reg fm_methods[] = {{"test", m_test},     {"find", m_find},
                                      {"match", m_match},   {"exec", m_exec},
                                      {"gmatch", m_gmatch}, {"gsub", m_gsub},
                                      {"split", m_split},   {"count", m_count},
                                      {"info", m_info},     {NULL, NULL}};

const luaL_Reg fm_meta[] = {
    {"__gc", rx_gc}, {"__tostring", fm_tostring}, {NULL, NULL}};


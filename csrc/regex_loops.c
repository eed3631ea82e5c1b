/*
** regex_loops.c -- the loops both regex faces share, written once: find
** (with the result pushing), gmatch, split, count and gsub (buffers and
** replacement templates).  The faces differ only in argument order and a
** few return conventions, passed in as flags.
** Owns: iteration over a subject and pushing results.  Must not touch:
** compiling or the cache (regex.c), either face's argument reading.
*/
#include <stdint.h>
#include <string.h>

#include "regex.h"

/* ---------------------------------------------------------------------
** Pushing results
** ------------------------------------------------------------------- */
int push_caps(lua_State *L, const fm_regex *r, const char *s) {
  if (r->ncap == 0) {
    push_cap(L, r, s, 0);
    return 1;
  }
  /* a C function starts with LUA_MINSTACK free slots; our callers have
     used at most 3 of them (start, end, an anchored object) */
  if (r->ncap > LUA_MINSTACK - 3)
    luaL_checkstack(L, (int)r->ncap, "too many captures");
  for (uint32_t i = 1; i <= r->ncap; i++)
    push_cap(L, r, s, i);
  return (int)r->ncap;
}

/* named groups into the table on top.  fm: with duplicate names, the first
   set group wins; rex: the last entry wins, as lrexlib does. */
void push_names(lua_State *L, const fm_regex *r, const char *s) {
  uint32_t cnt = 0, esz = 0;
  PCRE2_SPTR tab;
  pcre2_pattern_info(r->code, PCRE2_INFO_NAMECOUNT, &cnt);
  if (cnt == 0) return;
  pcre2_pattern_info(r->code, PCRE2_INFO_NAMETABLE, &tab);
  pcre2_pattern_info(r->code, PCRE2_INFO_NAMEENTRYSIZE, &esz);
  for (uint32_t i = 0; i < cnt; i++, tab += esz) {
    uint32_t g = ((uint32_t)tab[0] << 8) | tab[1];
    const char *name = (const char *)tab + 2;
    if (g == 0 || g > r->ncap) continue;
    if (!r->rex && r->ov[2 * g] == PCRE2_UNSET) {
      if (lua_getfield(L, -1, name) != LUA_TNIL) {
        lua_pop(L, 1);
        continue;
      }
      lua_pop(L, 1);
    }
    push_cap(L, r, s, g);
    lua_setfield(L, -2, name);
  }
}

/* off == SIZE_MAX: init lay past the end */
int rx_find_at(lua_State *L, fm_regex *r, const char *s, size_t n,
                      size_t off, uint32_t ef, int method) {
  int rc;
  if (off == SIZE_MAX) goto nomatch;
  rx_checkutf(L, r, s, n);
  rx_checkinit(L, r, s, n, off);
  rc = rx_exec(r, s, n, off, ef);
  if (rc == 0) goto nomatch;
  if (rc < 0) return rx_raise(L, r, rc);
  switch (method) {
  case M_TEST:
    lua_pushboolean(L, 1);
    return 1;
  case M_MATCH:
    return push_caps(L, r, s);
  case M_FIND:
    lua_pushinteger(L, (lua_Integer)r->ov[0] + 1);
    lua_pushinteger(L, (lua_Integer)r->ov[1]);
    if (r->ncap == 0) return 2;
    return 2 + push_caps(L, r, s);
  case M_TFIND:
    lua_pushinteger(L, (lua_Integer)r->ov[0] + 1);
    lua_pushinteger(L, (lua_Integer)r->ov[1]);
    lua_createtable(L, (int)r->ncap, 0);
    for (uint32_t i = 1; i <= r->ncap; i++) {
      push_cap(L, r, s, i);
      lua_rawseti(L, -2, i);
    }
    push_names(L, r, s);
    return 3;
  default: /* M_REXEXEC: offsets */
    lua_pushinteger(L, (lua_Integer)r->ov[0] + 1);
    lua_pushinteger(L, (lua_Integer)r->ov[1]);
    lua_createtable(L, 2 * (int)r->ncap, 0);
    for (uint32_t i = 1; i <= r->ncap; i++) {
      if (r->ov[2 * i] == PCRE2_UNSET) {
        lua_pushboolean(L, 0);
        lua_rawseti(L, -2, 2 * i - 1);
        lua_pushboolean(L, 0);
        lua_rawseti(L, -2, 2 * i);
      } else {
        lua_pushinteger(L, (lua_Integer)r->ov[2 * i] + 1);
        lua_rawseti(L, -2, 2 * i - 1);
        lua_pushinteger(L, (lua_Integer)r->ov[2 * i + 1]);
        lua_rawseti(L, -2, 2 * i);
      }
    }
    push_names(L, r, s);
    return 3;
  }
nomatch:
  if (method == M_TEST)
    lua_pushboolean(L, 0);
  else
    lua_pushnil(L);
  return 1;
}

int rx_find(lua_State *L, fm_regex *r, int sidx, int initidx,
                   uint32_t ef, int method) {
  size_t n, off = 0;
  const char *s = rx_subject(L, sidx, &n);
  if (lua_gettop(L) >= initidx && !rx_init(L, initidx, n, &off))
    off = SIZE_MAX;
  return rx_find_at(L, r, s, n, off, ef, method);
}

/* ---------------------------------------------------------------------
** gmatch: Lua 5.4's rule (an empty match right after the previous match
** is skipped), which lrexlib 2.9 follows as well.
** upvalues: object, subject, next offset, end of the last match, ef
** ------------------------------------------------------------------- */
static int gmatch_iter(lua_State *L) {
  fm_regex *r = (fm_regex *)lua_touserdata(L, lua_upvalueindex(1));
  size_t n;
  const char *s = lua_tolstring(L, lua_upvalueindex(2), &n);
  lua_Integer pos = lua_tointeger(L, lua_upvalueindex(3));
  lua_Integer last = lua_tointeger(L, lua_upvalueindex(4));
  uint32_t ef = (uint32_t)lua_tointeger(L, lua_upvalueindex(5));
  if (r->code == NULL) return luaL_error(L, "fastmatch: regex is closed");
  for (;;) {
    int rc;
    size_t ms, me;
    if (pos < 0 || (size_t)pos > n) return 0;
    rc = rx_exec(r, s, n, (size_t)pos, ef);
    if (rc == 0) {
      lua_pushinteger(L, -1);
      lua_replace(L, lua_upvalueindex(3));
      return 0;
    }
    if (rc < 0) return rx_raise(L, r, rc);
    ms = r->ov[0], me = r->ov[1];
    if (me <= ms && (lua_Integer)me == last) {
      pos = (lua_Integer)rx_nextchar(r, s, n, (size_t)pos);
      continue;
    }
    lua_pushinteger(L, me > ms ? (lua_Integer)me
                               : (lua_Integer)rx_nextchar(r, s, n, me));
    lua_replace(L, lua_upvalueindex(3));
    lua_pushinteger(L, (lua_Integer)me);
    lua_replace(L, lua_upvalueindex(4));
    return push_caps(L, r, s);
  }
}

/* the object is on the stack top; leaves the iterator there */
int rx_gmatch(lua_State *L, fm_regex *r, int sidx, size_t off,
                     uint32_t ef, int past) {
  size_t n;
  const char *s = lua_tolstring(L, sidx, &n);
  rx_checkutf(L, r, s, n);
  if (!past) rx_checkinit(L, r, s, n, off);
  lua_pushvalue(L, sidx);
  lua_pushinteger(L, past ? -1 : (lua_Integer)off);
  lua_pushinteger(L, -1);
  lua_pushinteger(L, (lua_Integer)ef);
  lua_pushcclosure(L, gmatch_iter, 5);
  return 1;
}

/* ---------------------------------------------------------------------
** split
** fm: yields the pieces between matches (matches as gmatch finds them; an
** empty match at the very start or end of the subject does not split);
** at most max pieces when max > 0, the last one holding the rest.
** upvalues: object, subject, piece start (-1: done), last end, count, max
** ------------------------------------------------------------------- */
int split_iter(lua_State *L) {
  fm_regex *r = (fm_regex *)lua_touserdata(L, lua_upvalueindex(1));
  size_t n;
  const char *s = lua_tolstring(L, lua_upvalueindex(2), &n);
  lua_Integer start = lua_tointeger(L, lua_upvalueindex(3));
  lua_Integer last = lua_tointeger(L, lua_upvalueindex(4));
  lua_Integer count = lua_tointeger(L, lua_upvalueindex(5));
  lua_Integer max = lua_tointeger(L, lua_upvalueindex(6));
  size_t st;
  if (start < 0) return 0;
  if (r->code == NULL) return luaL_error(L, "fastmatch: regex is closed");
  st = (size_t)start;
  if (max <= 0 || count + 1 < max) {
    while (st <= n) {
      size_t ms, me;
      int rc = rx_exec(r, s, n, st, 0);
      if (rc == 0) break;
      if (rc < 0) return rx_raise(L, r, rc);
      ms = r->ov[0], me = r->ov[1];
      if (me <= ms && ((lua_Integer)me == last || ms == 0 || ms >= n)) {
        if (st >= n) break;
        st = rx_nextchar(r, s, n, st);
        continue;
      }
      if (me < ms) me = ms;
      lua_pushinteger(L, (lua_Integer)me);
      lua_replace(L, lua_upvalueindex(3));
      lua_pushinteger(L, (lua_Integer)me);
      lua_replace(L, lua_upvalueindex(4));
      lua_pushinteger(L, count + 1);
      lua_replace(L, lua_upvalueindex(5));
      lua_pushlstring(L, s + start, ms - (size_t)start);
      return 1;
    }
  }
  lua_pushinteger(L, -1);
  lua_replace(L, lua_upvalueindex(3));
  lua_pushlstring(L, s + start, n - (size_t)start);
  return 1;
}

/* rex: lrexlib 2.9's split: each step yields the text before the match and
   the captures (or the match); the last step yields the rest alone.
   upvalues: object, subject, start, incr (-1: done), last end, ef */
int rexsplit_iter(lua_State *L) {
  fm_regex *r = (fm_regex *)lua_touserdata(L, lua_upvalueindex(1));
  size_t n;
  const char *s = lua_tolstring(L, lua_upvalueindex(2), &n);
  lua_Integer start = lua_tointeger(L, lua_upvalueindex(3));
  lua_Integer incr = lua_tointeger(L, lua_upvalueindex(4));
  lua_Integer last = lua_tointeger(L, lua_upvalueindex(5));
  uint32_t ef = (uint32_t)lua_tointeger(L, lua_upvalueindex(6));
  if (incr < 0) return 0;
  if (r->code == NULL) return luaL_error(L, "fastmatch: regex is closed");
  for (;;) {
    size_t off = (size_t)start + (size_t)incr, ms, me;
    int rc;
    if (off > n) break;
    rc = rx_exec(r, s, n, off, ef);
    if (rc == 0) break;
    if (rc < 0) return rx_raise(L, r, rc);
    ms = r->ov[0], me = r->ov[1];
    if (me <= ms && (lua_Integer)me == last) {
      incr = (lua_Integer)(rx_nextchar(r, s, n, off) - (size_t)start);
      continue;
    }
    lua_pushinteger(L, (lua_Integer)me);
    lua_replace(L, lua_upvalueindex(3));
    lua_pushinteger(L,
                    me > ms ? 0 : (lua_Integer)(rx_nextchar(r, s, n, me) - me));
    lua_replace(L, lua_upvalueindex(4));
    lua_pushinteger(L, (lua_Integer)me);
    lua_replace(L, lua_upvalueindex(5));
    lua_pushlstring(L, s + start, ms > (size_t)start ? ms - (size_t)start : 0);
    return 1 + push_caps(L, r, s);
  }
  lua_pushinteger(L, -1);
  lua_replace(L, lua_upvalueindex(4));
  lua_pushlstring(L, s + start, n - (size_t)start);
  return 1;
}

/* ---------------------------------------------------------------------
** count and gsub share the loop of lrexlib 2.9 / Lua 5.4: after an empty
** match, copy one character and go on; an empty match where the previous
** one ended is not a match.
** ------------------------------------------------------------------- */
int rx_count(lua_State *L, fm_regex *r, int sidx, uint32_t ef) {
  size_t n, st = 0;
  const char *s = rx_subject(L, sidx, &n);
  lua_Integer cnt = 0;
  PCRE2_SIZE last = PCRE2_UNSET;
  rx_checkutf(L, r, s, n);
  while (st <= n) {
    size_t from, to;
    int rc = rx_exec(r, s, n, st, ef);
    if (rc == 0) break;
    if (rc < 0) return rx_raise(L, r, rc);
    from = r->ov[0], to = r->ov[1];
    if (to < from) to = from;
    if (to == last) {
      if (st < n) {
        st = rx_nextchar(r, s, n, st);
        continue;
      }
      break;
    }
    last = to;
    cnt++;
    if (st < from) st = from;
    if (st < to)
      st = to;
    else if (st < n)
      st = rx_nextchar(r, s, n, st);
    else
      break;
  }
  lua_pushinteger(L, cnt);
  return 1;
}

/* A growable output buffer owned by a userdata on the stack, so that Lua
   code (replacement functions) may run between appends and an error frees
   it through __gc. */
typedef struct rx_buf {
  char *p;
  size_t n, cap;
} rx_buf;

int buf_gc(lua_State *L) {
  rx_buf *b = (rx_buf *)lua_touserdata(L, 1);
  if (b && b->p) fm_free(b->p);
  if (b) b->p = NULL, b->n = b->cap = 0;
  return 0;
}

static rx_buf *buf_new(lua_State *L) {
  rx_buf *b = (rx_buf *)lua_newuserdatauv(L, sizeof(rx_buf), 0);
  b->p = NULL, b->n = b->cap = 0;
  luaL_setmetatable(L, RX_BUF_MT);
  return b;
}

static void buf_add(lua_State *L, rx_buf *b, const char *s, size_t k) {
  if (k == 0) return;
  if (b->cap - b->n < k) {
    size_t need = b->n + k, cap = b->cap ? b->cap : 256;
    char *p;
    if (need < b->n) luaL_error(L, "fastmatch: result too large");
    while (cap < need)
      cap = cap * 2 > cap ? cap * 2 : need;
    p = (char *)fm_realloc(b->p, cap);
    if (p == NULL) luaL_error(L, "fastmatch: not enough memory");
    b->p = p, b->cap = cap;
  }
  memcpy(b->p + b->n, s, k);
  b->n += k;
}

static void buf_addvalue(lua_State *L, rx_buf *b, int idx) {
  size_t k;
  const char *v = lua_tolstring(L, idx, &k);
  buf_add(L, b, v, k);
}

/* A parsed template whose group references are resolved for r.
   NAME items become (first name-table entry, entry count). */
typedef struct rx_tpl {
  fm_tpl_item *it;
  size_t n;
  const char *t;
} rx_tpl;

static void tpl_load(lua_State *L, fm_regex *r, int ridx, rx_tpl *tp,
                     fm_tpl_item *local, size_t nlocal) {
  size_t tl, err = 0;
  const char *t = lua_tolstring(L, ridx, &tl);
  int mode = r->rex ? FM_TPL_REX : FM_TPL_LUA;
  size_t k = fm_tpl_parse(t, tl, mode, local, nlocal, &err);
  if (k == (size_t)-1)
    luaL_error(L,
               "fastmatch: invalid use of '%%' in replacement string at "
               "offset %I",
               (lua_Integer)err);
  tp->it = local;
  if (k > nlocal) { /* a long template: items in a userdata left on the
                       stack, which the caller's frame keeps alive */
    tp->it = (fm_tpl_item *)lua_newuserdatauv(L, k * sizeof(fm_tpl_item), 0);
    fm_tpl_parse(t, tl, mode, tp->it, k, &err);
  }
  tp->n = k;
  tp->t = t;
  for (size_t i = 0; i < k; i++) {
    fm_tpl_item *x = &tp->it[i];
    if (x->kind == FM_TPL_GROUP) {
      if (x->a > r->ncap) {
        if (x->a == 1 && r->ncap == 0)
          x->a = 0;
        else if (r->rex)
          luaL_error(L, "invalid capture index");
        else
          luaL_error(L,
                     "fastmatch: invalid capture index %%%d in "
                     "replacement string",
                     (int)x->a);
      }
    } else if (x->kind == FM_TPL_NAME) {
      uint32_t cnt = 0, esz = 0, first = 0, found = 0;
      PCRE2_SPTR tab;
      pcre2_pattern_info(r->code, PCRE2_INFO_NAMECOUNT, &cnt);
      if (cnt) {
        pcre2_pattern_info(r->code, PCRE2_INFO_NAMETABLE, &tab);
        pcre2_pattern_info(r->code, PCRE2_INFO_NAMEENTRYSIZE, &esz);
      }
      for (uint32_t e = 0; e < cnt; e++) {
        const char *nm = (const char *)tab + (size_t)e * esz + 2;
        if (strncmp(nm, t + x->a, x->b) == 0 && nm[x->b] == '\0') {
          if (found == 0) first = e;
          found++;
        }
      }
      if (found == 0) {
        lua_pushlstring(L, t + x->a, x->b);
        luaL_error(L,
                   "fastmatch: unknown group name '%s' in replacement "
                   "string",
                   lua_tostring(L, -1));
      }
      x->a = first, x->b = found;
    }
  }
}

static void tpl_expand(lua_State *L, const fm_regex *r, const rx_tpl *tp,
                       const char *s, rx_buf *b) {
  for (size_t i = 0; i < tp->n; i++) {
    const fm_tpl_item *x = &tp->it[i];
    uint32_t g;
    if (x->kind == FM_TPL_TEXT) {
      buf_add(L, b, tp->t + x->a, x->b);
      continue;
    }
    if (x->kind == FM_TPL_GROUP)
      g = (uint32_t)x->a;
    else { /* first set group of that name */
      uint32_t esz = 0;
      PCRE2_SPTR tab;
      pcre2_pattern_info(r->code, PCRE2_INFO_NAMETABLE, &tab);
      pcre2_pattern_info(r->code, PCRE2_INFO_NAMEENTRYSIZE, &esz);
      g = 0;
      for (size_t e = x->a; e < x->a + x->b; e++) {
        PCRE2_SPTR en = tab + e * esz;
        uint32_t gg = ((uint32_t)en[0] << 8) | en[1];
        if (gg <= r->ncap && r->ov[2 * gg] != PCRE2_UNSET) {
          g = gg;
          break;
        }
      }
      if (g == 0) continue;
    }
    if (r->ov[2 * g] != PCRE2_UNSET && r->ov[2 * g + 1] > r->ov[2 * g])
      buf_add(L, b, s + r->ov[2 * g], r->ov[2 * g + 1] - r->ov[2 * g]);
  }
}

/* Push the replacement value of a table/function repl for this match. */
static void repl_value(lua_State *L, fm_regex *r, int ridx, int rtype,
                       const char *s) {
  if (rtype == LUA_TTABLE) {
    push_cap(L, r, s, r->ncap > 0 ? 1 : 0);
    lua_gettable(L, ridx);
  } else {
    int k;
    lua_pushvalue(L, ridx);
    k = push_caps(L, r, s);
    lua_call(L, k, 1);
  }
}

/* gsub(s, repl, n): nidx holds n (fm: integer; rex: integer or a control
   function).  Returns result, matches, substitutions. */
int rx_gsub(lua_State *L, fm_regex *r, int sidx, int ridx, int nidx,
                   uint32_t ef) {
  size_t n, st = 0;
  const char *s = rx_subject(L, sidx, &n);
  int rtype = lua_type(L, ridx);
  lua_Integer max = -1, nmatch = 0, nsub = 0;
  int ctl = 0;
  rx_tpl tp = {NULL, 0, NULL};
  fm_tpl_item local[16];
  rx_buf *out, *tmp = NULL;
  PCRE2_SIZE last = PCRE2_UNSET;
  if (rtype == LUA_TNUMBER) {
    lua_tolstring(L, ridx, NULL); /* converts in place, as string.gsub */
    rtype = LUA_TSTRING;
  }
  if (rtype != LUA_TSTRING && rtype != LUA_TTABLE && rtype != LUA_TFUNCTION)
    luaL_typeerror(L, ridx, "string, table or function");
  if (!lua_isnoneornil(L, nidx)) {
    if (r->rex && lua_isfunction(L, nidx))
      ctl = 1;
    else if (r->rex && !lua_isnumber(L, nidx))
      luaL_typeerror(L, nidx, "number or function");
    else {
      max = luaL_checkinteger(L, nidx);
      if (max < 0) max = 0;
    }
  }
  rx_checkutf(L, r, s, n);
  if (rtype == LUA_TSTRING) tpl_load(L, r, ridx, &tp, local, 16);
  out = buf_new(L);
  if (ctl) tmp = buf_new(L);
  while ((max < 0 || nmatch < max) && st <= n) {
    size_t from, to;
    int rc = rx_exec(r, s, n, st, ef), sub = 0;
    if (rc == 0) break;
    if (rc < 0) return rx_raise(L, r, rc);
    from = r->ov[0], to = r->ov[1];
    if (to < from) to = from;
    if (to == last) { /* empty match where the last one ended */
      if (st < n) {
        size_t nx = rx_nextchar(r, s, n, st);
        buf_add(L, out, s + st, nx - st);
        st = nx;
        continue;
      }
      break;
    }
    last = to;
    nmatch++;
    if (st < from) {
      buf_add(L, out, s + st, from - st);
      st = from;
    }
    if (!ctl) {
      if (rtype == LUA_TSTRING) {
        tpl_expand(L, r, &tp, s, out);
        sub = 1;
      } else {
        repl_value(L, r, ridx, rtype, s);
        if (lua_isstring(L, -1)) {
          buf_addvalue(L, out, -1);
          sub = 1;
        } else if (!lua_toboolean(L, -1))
          buf_add(L, out, s + from, to - from);
        else
          return luaL_error(L, "invalid replacement value (a %s)",
                            luaL_typename(L, -1));
        lua_pop(L, 1);
      }
    } else { /* lrexlib's control function: n(from, to, repl) */
      int sub1;
      if (rtype == LUA_TSTRING) {
        tmp->n = 0;
        tpl_expand(L, r, &tp, s, tmp);
        lua_pushlstring(L, tmp->p ? tmp->p : "", tmp->n); /* rep1 */
        lua_pushvalue(L, -1);                             /* raw */
        sub1 = 1;
      } else {
        repl_value(L, r, ridx, rtype, s); /* raw */
        if (lua_isstring(L, -1)) {
          lua_pushvalue(L, -1);
          sub1 = 1;
        } else if (!lua_toboolean(L, -1)) {
          lua_pushlstring(L, s + from, to - from);
          sub1 = 0;
        } else
          return luaL_error(L, "invalid replacement value (a %s)",
                            luaL_typename(L, -1));
        lua_insert(L, -2); /* rep1 below raw */
      }
      lua_pushvalue(L, nidx);
      lua_pushinteger(L, (lua_Integer)from + 1);
      lua_pushinteger(L, (lua_Integer)to);
      lua_pushvalue(L, -4);
      lua_call(L, 3, 2); /* ... rep1 raw r1 r2 */
      if (lua_isstring(L, -2)) {
        buf_addvalue(L, out, -2);
        sub = 1;
      } else if (lua_toboolean(L, -2)) {
        buf_addvalue(L, out, -4);
        sub = sub1;
      } else {
        buf_add(L, out, s + from, to - from);
        sub = 0;
      }
      if (lua_type(L, -1) == LUA_TNUMBER) {
        lua_Integer k = lua_tointeger(L, -1);
        max = nmatch + (k < 0 ? 0 : k);
        ctl = 0;
      } else if (lua_toboolean(L, -1)) {
        max = -1;
        ctl = 0;
      }
      lua_pop(L, 4);
    }
    nsub += sub;
    if (st < to)
      st = to;
    else if (st < n) {
      size_t nx = rx_nextchar(r, s, n, st);
      buf_add(L, out, s + st, nx - st);
      st = nx;
    } else
      break;
  }
  if (st < n) buf_add(L, out, s + st, n - st);
  lua_pushlstring(L, out->p ? out->p : "", out->n);
  fm_free(out->p);
  out->p = NULL, out->n = out->cap = 0;
  lua_pushinteger(L, nmatch);
  lua_pushinteger(L, nsub);
  return 3;
}


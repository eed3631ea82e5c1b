/*
** compat.h -- the Lua 5.4 C API on Lua 5.1, 5.2, 5.3 and LuaJIT 2.1.
**
** The module is written against Lua 5.4.  On 5.4 this header defines
** nothing but the FM_LUA_* feature flags: every call compiles to the 5.4 call
** itself, so 5.4 neither slows down nor changes.  On older versions each
** missing or different function is a macro onto a small static function
** here (fm_c_* names, so that none clashes with a declaration LuaJIT's
** headers already have).  Include it after lua.h and lauxlib.h.
**
** What cannot exist is emulated, or said plainly:
**   - uservalues: 5.2/5.3 have one per userdata, 5.1/LuaJIT one environment
**     table; a userdata asking for n > 0 values gets a table in that slot
**     holding them (one table more per object on those versions);
**   - integers: 5.1, 5.2 and LuaJIT have none: lua_Integer is ptrdiff_t
**     there and lua_isinteger() is always 0, so numbers are what that
**     version has (lua_pushinteger pushes a float);
**   - %I in lua_pushfstring/luaL_error (5.3+) is formatted here on 5.1/5.2;
**   - Lua files: 5.2+ give a luaL_Stream, 5.1 a FILE** and LuaJIT a struct
**     starting with the FILE*; fm_stream reads the FILE* of each;
**   - __close and <close> exist only on 5.4 (the metamethods are set on
**     every version and ignored where the language has no <close>);
**   - switching the state's allocator: see fm_allocf_forbidden().
*/
#ifndef FASTMATCH_COMPAT_H
#define FASTMATCH_COMPAT_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <errno.h>

#include "lauxlib.h"
#include "lua.h"
#include "lualib.h" /* LUA_FILEHANDLE (5.1) */

/* Which language features this Lua has (for the bindings and the tests). */
#define FM_LUA_HAS_CLOSE (LUA_VERSION_NUM >= 504)    /* <close>, __close */
#define FM_LUA_HAS_INTEGERS (LUA_VERSION_NUM >= 503) /* an integer subtype */

/* ---------------------------------------------------------------------
** Lua files.  5.2+: luaL_Stream, closed when closef is NULL.  5.1: the
** userdata is a FILE*, NULL once closed; LuaJIT's (IOFileUD) starts with
** that FILE* too.
** ------------------------------------------------------------------- */
#if LUA_VERSION_NUM >= 502
typedef luaL_Stream fm_stream;
#define fm_stream_closed(p) ((p)->closef == NULL)
#else
typedef struct fm_stream {
  FILE *f;
} fm_stream;
#define fm_stream_closed(p) ((p)->f == NULL)
#endif

/* ---------------------------------------------------------------------
** 5.3 and older
** ------------------------------------------------------------------- */
#if LUA_VERSION_NUM < 504
/* Uservalues: n > 0 values live in a table in the userdata's one slot
   (5.2/5.3: its uservalue; 5.1/LuaJIT: its environment). */
#if LUA_VERSION_NUM >= 502
#define fm_c_setuv(L, idx) lua_setuservalue(L, idx)
#define fm_c_getuv(L, idx) ((void)lua_getuservalue(L, idx))
#else
#define fm_c_setuv(L, idx) ((void)lua_setfenv(L, idx))
#define fm_c_getuv(L, idx) lua_getfenv(L, idx)
#endif

static inline void *fm_c_newuserdatauv(lua_State *L, size_t size, int nuv) {
  void *p = lua_newuserdata(L, size);
  if (nuv > 0) {
    lua_createtable(L, nuv, 0);
    fm_c_setuv(L, -2);
  }
  return p;
}

/* lua_setiuservalue: pops the value; 0 when the userdata has no slot n. */
static inline int fm_c_setiuservalue(lua_State *L, int idx, int n) {
  if (idx < 0 && idx > LUA_REGISTRYINDEX) idx = lua_gettop(L) + idx + 1;
  fm_c_getuv(L, idx);
  if (lua_type(L, -1) != LUA_TTABLE) {
    lua_pop(L, 2);
    return 0;
  }
  lua_pushvalue(L, -2);
  lua_rawseti(L, -2, n);
  lua_pop(L, 2);
  return 1;
}

static inline int fm_c_getiuservalue(lua_State *L, int idx, int n) {
  fm_c_getuv(L, idx);
  if (lua_type(L, -1) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_pushnil(L);
    return LUA_TNONE;
  }
  lua_rawgeti(L, -1, n);
  lua_remove(L, -2);
  return lua_type(L, -1);
}

#define lua_newuserdatauv(L, s, n) fm_c_newuserdatauv(L, s, n)
/* lua_gc's data argument became optional in 5.4 */
#define lua_gc(L, what) (lua_gc)(L, what, 0)
#define lua_setiuservalue(L, idx, n) fm_c_setiuservalue(L, idx, n)
#define lua_getiuservalue(L, idx, n) fm_c_getiuservalue(L, idx, n)

/* 5.4's luaL_typeerror (5.1 had luaL_typerror, 5.2/5.3 none): uses __name
   as 5.4 does. */
static inline int fm_c_typeerror(lua_State *L, int arg, const char *tname) {
  const char *typearg;
  if (luaL_getmetafield(L, arg, "__name") && lua_type(L, -1) == LUA_TSTRING)
    typearg = lua_tostring(L, -1);
  else if (lua_type(L, arg) == LUA_TLIGHTUSERDATA)
    typearg = "light userdata";
  else
    typearg = luaL_typename(L, arg);
  return luaL_argerror(L, arg,
                       lua_pushfstring(L, "%s expected, got %s", tname, typearg));
}
#define luaL_typeerror(L, arg, tname) fm_c_typeerror(L, arg, tname)
#endif

/* ---------------------------------------------------------------------
** 5.2 and older
** ------------------------------------------------------------------- */
#if LUA_VERSION_NUM < 503
/* no integer subtype: every number is a float */
#define lua_isinteger(L, idx) ((void)(L), (void)(idx), 0)
#define LUA_MAXINTEGER PTRDIFF_MAX
#define LUA_MININTEGER PTRDIFF_MIN
#define LUA_INTEGER_FMT "%td"
#define LUAI_UACINT lua_Integer
/* 5.2's lua_Unsigned is 32 bits: ours is as wide as lua_Integer */
typedef size_t fm_c_unsigned;
#define lua_Unsigned fm_c_unsigned

/* lua_tointegerx as 5.3 has it: only numbers (or numeric strings) with an
   integral value in range; 5.2's truncates 1.5 to 1. */
static inline lua_Integer fm_c_tointegerx(lua_State *L, int idx, int *isnum) {
  int ok = 0;
  lua_Integer i = 0;
  if (lua_isnumber(L, idx)) {
    lua_Number n = lua_tonumber(L, idx);
    if (n >= -9223372036854775808.0 && n < 9223372036854775808.0 &&
        (lua_Number)(lua_Integer)n == n) {
      i = (lua_Integer)n;
      ok = 1;
    }
  }
  if (isnum != NULL) *isnum = ok;
  return i;
}
#define lua_tointegerx(L, idx, isnum) fm_c_tointegerx(L, idx, isnum)

/* luaL_newmetatable sets __name from 5.3 on (error messages, tostring and
   the specs read it) */
static inline int fm_c_newmetatable(lua_State *L, const char *tname) {
  if (!luaL_newmetatable(L, tname)) return 0;
  lua_pushstring(L, tname);
  lua_setfield(L, -2, "__name");
  return 1;
}
#define luaL_newmetatable(L, tname) fm_c_newmetatable(L, tname)

/* the get functions return the value's type from 5.3 on */
#define lua_getfield(L, idx, k) (lua_getfield(L, idx, k), lua_type(L, -1))
#define lua_rawgeti(L, idx, n) (lua_rawgeti(L, idx, n), lua_type(L, -1))
#define lua_rawget(L, idx) (lua_rawget(L, idx), lua_type(L, -1))
#define luaL_getmetafield(L, obj, e)                                           \
  (luaL_getmetafield(L, obj, e) ? lua_type(L, -1) : LUA_TNIL)

/* A number as tostring gives it (and io.write writes it): 5.1/5.2 use
   LUA_NUMBER_FMT, LuaJIT its own formatter (ties round away from zero, one
   "nan").  From 5.3 on tostring adds ".0" and io.write uses printf. */
static inline int fm_c_number2str(lua_State *L, int idx, char *buf,
                                  size_t size) {
  size_t l;
  const char *s;
  lua_pushvalue(L, idx);
  s = lua_tolstring(L, -1, &l);
  if (l >= size) l = size - 1;
  memcpy(buf, s, l);
  buf[l] = '\0';
  lua_pop(L, 1);
  return (int)l;
}

static inline int fm_c_geti(lua_State *L, int idx, lua_Integer i) {
  if (idx < 0 && idx > LUA_REGISTRYINDEX) idx = lua_gettop(L) + idx + 1;
  lua_pushinteger(L, i);
  lua_gettable(L, idx);
  return lua_type(L, -1);
}
#define lua_geti(L, idx, i) fm_c_geti(L, idx, i)

/* lua_rotate for the rotations the module does: n = 1 (lua_insert) and
   n = -1 (move the element at idx to the top). */
static inline void fm_c_rotate(lua_State *L, int idx, int n) {
  if (idx < 0 && idx > LUA_REGISTRYINDEX) idx = lua_gettop(L) + idx + 1;
  for (; n > 0; n--) lua_insert(L, idx);
  for (; n < 0; n++) {
    lua_pushvalue(L, idx);
    lua_remove(L, idx);
  }
}
#define lua_rotate(L, idx, n) fm_c_rotate(L, idx, n)

/* %I (a lua_Integer) in lua_pushfstring and luaL_error is 5.3+: on 5.1/5.2
   these format the conversions the module uses (%s %d %c %f %p %I %%),
   each one but %I by Lua's own lua_pushfstring. */
static inline const char *fm_c_pushvfstring(lua_State *L, const char *fmt,
                                            va_list ap) {
  int n = 0;
  const char *p;
  while ((p = strchr(fmt, '%')) != NULL) {
    luaL_checkstack(L, 3, "fastmatch: format");
    lua_pushlstring(L, fmt, (size_t)(p - fmt));
    switch (p[1]) {
    case 's': {
      const char *s = va_arg(ap, const char *);
      lua_pushstring(L, s != NULL ? s : "(null)");
      break;
    }
    case 'd': lua_pushfstring(L, "%d", va_arg(ap, int)); break;
    case 'c': lua_pushfstring(L, "%c", va_arg(ap, int)); break;
    case 'f':
      lua_pushfstring(L, "%f", (lua_Number)va_arg(ap, LUAI_UACNUMBER));
      break;
    case 'p': lua_pushfstring(L, "%p", va_arg(ap, void *)); break;
    case 'I': {
      char b[32];
      snprintf(b, sizeof b, "%td", (ptrdiff_t)va_arg(ap, lua_Integer));
      lua_pushstring(L, b);
      break;
    }
    default: lua_pushliteral(L, "%"); break; /* "%%" */
    }
    n += 2;
    fmt = p[1] != '\0' ? p + 2 : p + 1;
  }
  lua_pushstring(L, fmt);
  lua_concat(L, n + 1);
  return lua_tostring(L, -1);
}

static inline const char *fm_c_pushfstring(lua_State *L, const char *fmt, ...) {
  const char *r;
  va_list ap;
  va_start(ap, fmt);
  r = fm_c_pushvfstring(L, fmt, ap);
  va_end(ap);
  return r;
}

static inline int fm_c_error(lua_State *L, const char *fmt, ...) {
  va_list ap;
  luaL_where(L, 1);
  va_start(ap, fmt);
  fm_c_pushvfstring(L, fmt, ap);
  va_end(ap);
  lua_concat(L, 2);
  return lua_error(L);
}
#endif

/* ---------------------------------------------------------------------
** 5.1 and LuaJIT
** ------------------------------------------------------------------- */
#if LUA_VERSION_NUM < 502
#ifndef LUA_OK
#define LUA_OK 0
#endif
#define LUAMOD_API LUALIB_API

static inline int fm_c_absindex(lua_State *L, int idx) {
  return (idx > 0 || idx <= LUA_REGISTRYINDEX) ? idx : lua_gettop(L) + idx + 1;
}
#define lua_absindex(L, idx) fm_c_absindex(L, idx)
#define lua_rawlen(L, idx) lua_objlen(L, idx)
#define luaL_len(L, idx) ((lua_Integer)lua_objlen(L, idx))

static inline void fm_c_setfuncs(lua_State *L, const luaL_Reg *l, int nup) {
  luaL_checkstack(L, nup, "too many upvalues");
  for (; l->name != NULL; l++) {
    int i;
    for (i = 0; i < nup; i++) lua_pushvalue(L, -nup);
    lua_pushcclosure(L, l->func, nup);
    lua_setfield(L, -(nup + 2), l->name);
  }
  lua_pop(L, nup);
}
#define luaL_setfuncs(L, l, nup) fm_c_setfuncs(L, l, nup)

static inline void fm_c_setmetatable(lua_State *L, const char *tname) {
  luaL_getmetatable(L, tname);
  lua_setmetatable(L, -2);
}
#define luaL_setmetatable(L, tname) fm_c_setmetatable(L, tname)

static inline void *fm_c_testudata(lua_State *L, int ud, const char *tname) {
  void *p = lua_touserdata(L, ud);
  if (p != NULL && lua_getmetatable(L, ud)) {
    luaL_getmetatable(L, tname);
    if (!lua_rawequal(L, -1, -2)) p = NULL;
    lua_pop(L, 2);
    return p;
  }
  return NULL;
}
#define luaL_testudata(L, ud, tname) fm_c_testudata(L, ud, tname)

static inline const char *fm_c_tolstring(lua_State *L, int idx, size_t *len) {
  if (luaL_callmeta(L, idx, "__tostring")) {
    if (!lua_isstring(L, -1)) luaL_error(L, "'__tostring' must return a string");
  } else {
    switch (lua_type(L, idx)) {
    case LUA_TNUMBER:
    case LUA_TSTRING: lua_pushvalue(L, idx); break;
    case LUA_TBOOLEAN:
      lua_pushstring(L, lua_toboolean(L, idx) ? "true" : "false");
      break;
    case LUA_TNIL: lua_pushliteral(L, "nil"); break;
    default:
      lua_pushfstring(L, "%s: %p", luaL_typename(L, idx), lua_topointer(L, idx));
      break;
    }
  }
  return lua_tolstring(L, -1, len);
}
#define luaL_tolstring(L, idx, len) fm_c_tolstring(L, idx, len)

/* nil, message, errno (or true), as io functions return */
static inline int fm_c_fileresult(lua_State *L, int stat, const char *fname) {
  int en = errno;
  if (stat) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushnil(L);
  if (fname != NULL) lua_pushfstring(L, "%s: %s", fname, strerror(en));
  else lua_pushstring(L, strerror(en));
  lua_pushinteger(L, en);
  return 3;
}
#define luaL_fileresult(L, stat, fname) fm_c_fileresult(L, stat, fname)

/* luaL_buffinitsize/luaL_pushresultsize for one piece of known size: the
   bytes are written into a scratch userdata, then copied into the string
   (5.1's buffer holds only LUAL_BUFFERSIZE bytes). */
static inline char *fm_c_buffinitsize(lua_State *L, luaL_Buffer *B, size_t sz) {
  B->L = L;
  return (char *)lua_newuserdata(L, sz);
}
static inline void fm_c_pushresultsize(luaL_Buffer *B, size_t sz) {
  lua_State *L = B->L;
  lua_pushlstring(L, (const char *)lua_touserdata(L, -1), sz);
  lua_remove(L, -2);
}
#define luaL_buffinitsize(L, B, sz) fm_c_buffinitsize(L, B, sz)
#define luaL_pushresultsize(B, sz) fm_c_pushresultsize(B, sz)
#endif

/* ---------------------------------------------------------------------
** The state's allocator (alloc.c).
** ------------------------------------------------------------------- */
/* Why lua_setallocf must not be used on this state, or NULL when it may.
   LuaJIT runs on its own allocator, which its GC (64-bit: GC64) relies on;
   a 5.1 build can be loaded by LuaJIT, so this is asked at run time. */
static inline const char *fm_c_allocf_forbidden(lua_State *L) {
#if LUA_VERSION_NUM < 502
  int jit;
  lua_getfield(L, LUA_REGISTRYINDEX, "_LOADED");
  lua_getfield(L, -1, "jit");
  jit = !lua_isnil(L, -1);
  lua_pop(L, 2);
  if (jit)
    return "LuaJIT does not allow switching the allocator of a running state "
           "(its 64-bit GC needs its own allocator)";
  if (lua_pushthread(L) != 1) {
    lua_pop(L, 1);
    return "Lua 5.1: switch the allocator from the main thread";
  }
  lua_pop(L, 1);
#else
  (void)L;
#endif
  return NULL;
}

/* The block lua_newstate allocated for the main thread: Lua frees it last,
   with the allocator of the moment.  5.3+: LUA_EXTRASPACE bytes in front of
   the main thread; 5.1/5.2 (no extra space): the main thread itself (5.1:
   L is the main thread, fm_c_allocf_forbidden checked it). */
static inline void *fm_c_stateblock(lua_State *L) {
#if LUA_VERSION_NUM >= 502
  lua_State *mainL;
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  mainL = lua_tothread(L, -1);
  lua_pop(L, 1);
#if LUA_VERSION_NUM >= 503
  return lua_getextraspace(mainL);
#else
  return (void *)mainL;
#endif
#else
#ifdef LUAI_EXTRASPACE /* LuaJIT has none (and never gets here) */
  return (void *)((char *)L - LUAI_EXTRASPACE);
#else
  return (void *)L;
#endif
#endif
}

/* last: the helpers above call Lua's own */
#if LUA_VERSION_NUM < 503
#define lua_pushfstring fm_c_pushfstring
#define luaL_error fm_c_error
#endif

#endif

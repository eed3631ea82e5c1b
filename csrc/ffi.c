/*
** ffi.c -- the FFI face, for LuaJIT: a few exported entry points with plain
** C arguments (no lua_State) that lua/fastmatch/ffi.lua calls through
** LuaJIT's FFI, so that a JIT-compiled trace calls them directly instead of
** leaving the trace for a classic Lua C API call (what lua-resty-core does
** for ngx.re).  And the two Lua functions ffi.lua needs to set itself up:
** core._ffi_cached (the cached object of a pattern, if any) and
** core._ffi_path (the file this module was loaded from, for ffi.load).
** Owns: those entry points and their return codes.  Must not touch: how a
** match is made (rx_exec, regex.h), the cache's policy (regex.c: a hit is
** rx_cache_hit, regex.h, as for a cached fm.find), argument
** conventions of the Lua faces (ffi.lua falls back to them for anything
** but the plain case).  It is a third face of the regex room, so it is the
** one file besides regex*.c that includes regex.h; regex_open.c registers
** it.
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* dladdr */
#endif
#include <dlfcn.h>
#include <stdint.h>
#include <string.h>

#include "regex.h"
#include "regex_faces.h"

#if defined(__GNUC__) || defined(__clang__)
#define FM_FFI_API __attribute__((visibility("default")))
#else
#define FM_FFI_API
#endif

/* "Take the Lua C API path": the object is no longer in the cache (or was
   closed), it checks UTF-8 (u), or has more captures than ovn pairs. */
#define FM_FFI_FALLBACK (-100)

/* The declarations ffi.lua gives ffi.cdef (kept here, beside the code). */
FM_FFI_API int fm_ffi_exec(void *ud, const char *s, size_t n, size_t off,
                           size_t *ov, int ovn);
FM_FFI_API int fm_ffi_oexec(void *ud, const char *s, size_t n, size_t off,
                            size_t *ov, int ovn);
FM_FFI_API int fm_ffi_mtest(void *ud, const char *s, size_t n);
FM_FFI_API const void *fm_ffi_id(void);

/* One match of fm object ud (the userdata's payload, which LuaJIT passes
   for a userdata argument) at byte offset off <= n.  Returns ncap + 1 on a
   match with the first ncap + 1 offset pairs copied to ov (PCRE2_UNSET,
   i.e. SIZE_MAX, for an unset group), 0 on no match, an FM_E* code on an
   engine error (the caller re-runs the call on the C API path, which
   raises), or FM_FFI_FALLBACK: the object was closed, checks UTF-8 ('u'),
   or (ov non-NULL) has ovn groups or more.  With cached, the object must
   still be in the cache, and a hit is counted and the LRU list touched
   exactly as a cached fm.find does (except on an error: the C API path
   counts that call again). */
static int ffi_match(void *ud, const char *s, size_t n, size_t off, size_t *ov,
                     int ovn, int cached) {
  fm_regex *r = (fm_regex *)ud;
  int rc;
  if (r == NULL || r->tag != &rx_tag_fm || r->code == NULL ||
      (cached && !r->incache) || r->prevalidate || off > n)
    return FM_FFI_FALLBACK;
  if (ov != NULL && (ovn < 1 || r->ncap >= (uint32_t)ovn))
    return FM_FFI_FALLBACK;
  rc = rx_exec(r, s, n, off, 0);
  if (rc < 0) return rc;
  if (cached) rx_cache_hit(r->st, r);
  if (rc == 0) return 0;
  if (ov != NULL)
    memcpy(ov, r->ov, 2 * sizeof(size_t) * ((size_t)r->ncap + 1));
  return (int)r->ncap + 1;
}

/* fm.find & co. with a string pattern: the cache's object */
int fm_ffi_exec(void *ud, const char *s, size_t n, size_t off, size_t *ov,
                int ovn) {
  return ffi_match(ud, s, n, off, ov, ovn, 1);
}

/* re:find & co.: an object of fm.compile (the caller checked it is one) */
int fm_ffi_oexec(void *ud, const char *s, size_t n, size_t off, size_t *ov,
                 int ovn) {
  return ffi_match(ud, s, n, off, ov, ovn, 0);
}

/* The matcher interface's test on a matcher userdata (a wildcard, a set,
   a regex): 1, 0, an FM_E* code, or FM_FFI_FALLBACK when it has been
   garbage-collected or closed (the C API path then raises).  The caller
   (ffi.lua) has checked the userdata's class. */
int fm_ffi_mtest(void *ud, const char *s, size_t n) {
  fm_matcher *m = (fm_matcher *)ud;
  if (m == NULL || m->test == NULL) return FM_FFI_FALLBACK;
  return m->test(m, s, n);
}

/* An address unique to this copy of the module: ffi.lua compares it with
   core._ffi_id to know that ffi.load found the copy Lua loaded. */
const void *fm_ffi_id(void) { return &rx_tag_fm; }

/* core._ffi_cached(pattern [, opts [, maxcap]]) -> the object the cache
   holds for (pattern, opts), or nil; also nil for an object fm_ffi_exec
   would send back (a 'u' pattern, more than maxcap groups).  Counts
   nothing, compiles nothing. */
static int l_ffi_cached(lua_State *L) {
  lua_Integer maxcap = luaL_optinteger(L, 3, LUA_MAXINTEGER);
  fm_regex *r;
  int t;
  if (lua_type(L, 1) != LUA_TSTRING) return 0;
  if (lua_isnoneornil(L, 2))
    lua_pushvalue(L, UV_DEFSUB);
  else if (lua_type(L, 2) == LUA_TSTRING) {
    lua_pushvalue(L, 2);
    if (lua_rawget(L, UV_ROOT) != LUA_TTABLE) return 0;
  } else
    return 0;
  lua_pushvalue(L, 1);
  t = lua_rawget(L, -2);
  if (t != LUA_TUSERDATA) return 0;
  r = (fm_regex *)lua_touserdata(L, -1);
  if (!r->incache || r->prevalidate || (lua_Integer)r->ncap > maxcap) return 0;
  return 1;
}

/* core._ffi_path() -> the file this module's code was loaded from, or
   nil when the system cannot say */
static int l_ffi_path(lua_State *L) {
  Dl_info info;
  if (dladdr((const void *)&fm_ffi_exec, &info) == 0 || info.dli_fname == NULL)
    return 0;
  lua_pushstring(L, info.dli_fname);
  return 1;
}

const luaL_Reg ffi_funcs[] = {{"_ffi_cached", l_ffi_cached},
                              {"_ffi_path", l_ffi_path},
                              {NULL, NULL}};

void ffi_open(lua_State *L, int mod) {
  lua_pushlightuserdata(L, (void *)&rx_tag_fm);
  lua_setfield(L, mod, "_ffi_id");
}

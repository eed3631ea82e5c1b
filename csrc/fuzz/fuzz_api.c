/*
** fuzz_api.c -- libFuzzer target for the Lua binding as a whole: each input
** is a program for csrc/fuzz/api_driver.lua, which calls every public
** function of fastmatch.core (as each capability lands, with no change here)
** with fuzzed arguments, re-entrant and yielding callbacks, objects reused
** after close/__gc, iterators abandoned.  A fresh Lua state per input, closed
** at the end (so finalizers run and LeakSanitizer sees every leak), with the
** Lua heap capped so that a driver-built huge string fails in Lua, not here.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lauxlib.h"
#include "lua.h"
#include "lualib.h"

#include "fastmatch.h"

LUAMOD_API int luaopen_fastmatch_core(lua_State *L);

#ifndef FM_SRCDIR
#define FM_SRCDIR "."
#endif

static char *driver; /* the driver, precompiled to bytecode once */
static size_t driver_len;

static int to_driver(lua_State *L, const void *p, size_t n, void *ud) {
  char *d = realloc(driver, driver_len + n);
  (void)L, (void)ud;
  if (d == NULL) return 1;
  memcpy(d + driver_len, p, n);
  driver = d;
  driver_len += n;
  return 0;
}

/* The libraries the driver uses (io for io.tmpfile only); os and package
   stay out (it gets the module as an argument), which also keeps each fresh
   state cheap. */
static void open_libs(lua_State *L) {
  static const luaL_Reg libs[] = {{LUA_GNAME, luaopen_base},
                                  {LUA_COLIBNAME, luaopen_coroutine},
                                  {LUA_TABLIBNAME, luaopen_table},
                                  {LUA_STRLIBNAME, luaopen_string},
                                  {LUA_MATHLIBNAME, luaopen_math},
                                  {LUA_DBLIBNAME, luaopen_debug},
                                  {LUA_IOLIBNAME, luaopen_io},
                                  {NULL, NULL}};
  const luaL_Reg *l;
  for (l = libs; l->func != NULL; l++) {
    luaL_requiref(L, l->name, l->func, 1);
    lua_pop(L, 1);
  }
}

typedef struct heap {
  size_t used, cap;
} heap;

static void *capped_alloc(void *ud, void *p, size_t osize, size_t nsize) {
  heap *h = (heap *)ud;
  void *q;
  if (p == NULL) osize = 0;
  if (nsize == 0) {
    free(p);
    h->used -= osize;
    return NULL;
  }
  if (nsize > osize && h->used + (nsize - osize) > h->cap) return NULL;
  q = realloc(p, nsize);
  if (q != NULL) h->used = h->used - osize + nsize;
  return q;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  const char *path = FM_SRCDIR "/csrc/fuzz/api_driver.lua";
  lua_State *L = luaL_newstate();
  (void)argc, (void)argv;
  if (luaL_loadfile(L, path) != LUA_OK) {
    fprintf(stderr, "fuzz_api: %s\n", lua_tostring(L, -1));
    abort();
  }
  if (lua_dump(L, to_driver, NULL, 0) != 0) abort();
  lua_close(L);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  heap h = {0, (size_t)256 << 20};
  lua_State *L = lua_newstate(capped_alloc, &h);
  if (L == NULL) return 0;
  open_libs(L);
  if (luaL_loadbufferx(L, driver, driver_len, "=api_driver", "b") != LUA_OK) {
    fprintf(stderr, "fuzz_api: %s\n", lua_tostring(L, -1));
    abort();
  }
  lua_pushlstring(L, (const char *)data, size);
  luaopen_fastmatch_core(L);
  /* The driver protects every call into fastmatch; an error that reaches
     here is the driver's own bug, or the capped Lua heap running out. */
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    if (msg == NULL || strstr(msg, "not enough memory") == NULL) {
      fprintf(stderr, "fuzz_api: driver error: %s\n", msg ? msg : "(not a string)");
      abort();
    }
  }
  lua_close(L);
  return 0;
}

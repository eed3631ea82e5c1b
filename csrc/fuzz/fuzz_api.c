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

static char *driver;
static size_t driver_len;

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
  FILE *f = fopen(path, "rb");
  long len;
  (void)argc, (void)argv;
  if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0) {
    fprintf(stderr, "fuzz_api: cannot read %s\n", path);
    abort();
  }
  rewind(f);
  driver = malloc((size_t)len);
  if (driver == NULL || fread(driver, 1, (size_t)len, f) != (size_t)len) abort();
  driver_len = (size_t)len;
  fclose(f);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  heap h = {0, (size_t)256 << 20};
  lua_State *L = lua_newstate(capped_alloc, &h);
  if (L == NULL) return 0;
  luaL_openlibs(L);
  luaL_requiref(L, "fastmatch.core", luaopen_fastmatch_core, 0);
  lua_pop(L, 1);
  if (luaL_loadbuffer(L, driver, driver_len, "=api_driver") != LUA_OK) {
    fprintf(stderr, "fuzz_api: %s\n", lua_tostring(L, -1));
    abort();
  }
  lua_pushlstring(L, (const char *)data, size);
  /* The driver protects every call into fastmatch; an error that reaches
     here is the driver's own bug, or the capped Lua heap running out. */
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    if (msg == NULL || strstr(msg, "not enough memory") == NULL) {
      fprintf(stderr, "fuzz_api: driver error: %s\n", msg ? msg : "(not a string)");
      abort();
    }
  }
  lua_close(L);
  return 0;
}

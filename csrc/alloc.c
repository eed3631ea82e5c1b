/*
** alloc.c -- memory figures (memstats), mimalloc's statistics, and the
** switch of a whole Lua state's allocator to mimalloc (use_mimalloc).
** Owns: the Lua state's allocator record.  Must not touch: the module's own
** allocations (fm_malloc & co. in fastmatch.h choose those at build time).
*/
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "lauxlib.h"
#include "lua.h"
#include "lualib.h"

#include "binding.h"
#include "fastmatch.h"

/* ---------------------------------------------------------------------
** OS figures: VmRSS / VmHWM from /proc (Linux), getrusage elsewhere.
** ------------------------------------------------------------------- */
static void os_rss(size_t *rss, size_t *peak) {
  char line[256];
  FILE *f = fopen("/proc/self/status", "r");
  *rss = *peak = 0;
  if (f != NULL) {
    while (fgets(line, sizeof line, f) != NULL) {
      unsigned long kb;
      if (sscanf(line, "VmRSS: %lu kB", &kb) == 1) *rss = (size_t)kb * 1024;
      else if (sscanf(line, "VmHWM: %lu kB", &kb) == 1)
        *peak = (size_t)kb * 1024;
    }
    fclose(f);
  }
  if (*peak == 0) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0) *peak = (size_t)ru.ru_maxrss * 1024;
  }
  if (*rss == 0) *rss = *peak;
  if (*peak < *rss) *peak = *rss;
}

/* ---------------------------------------------------------------------
** The state allocator.  Blocks allocated before the switch belong to the
** previous allocator; mi_is_in_heap_region tells them apart in constant
** time (a lookup in mimalloc's segment map).
** ------------------------------------------------------------------- */
#if FM_MIMALLOC
typedef struct prev_alloc {
  lua_Alloc f;
  void *ud;
  void *stateblock; /* the main thread's block: Lua frees it last */
} prev_alloc;

static void *mi_lua_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  prev_alloc *prev = (prev_alloc *)ud;
  if (nsize == 0) {
    if (ptr == NULL) return NULL;
    if (mi_is_in_heap_region(ptr)) mi_free(ptr);
    else {
      lua_Alloc f = prev->f;
      void *fud = prev->ud;
      /* lua_close frees the state's own block last, with the allocator it
         came from (the previous one); our record is no longer needed. */
      if (ptr == prev->stateblock) mi_free(prev);
      f(fud, ptr, osize, 0);
    }
    return NULL;
  }
  if (ptr == NULL) return mi_malloc(nsize);
  if (mi_is_in_heap_region(ptr)) return mi_realloc(ptr, nsize);
  {
    void *n = mi_malloc(nsize);
    if (n == NULL) return NULL; /* Lua keeps the old block */
    memcpy(n, ptr, osize < nsize ? osize : nsize);
    prev->f(prev->ud, ptr, osize, 0);
    return n;
  }
}
#endif

/* fm.use_mimalloc() -> true | false, reason */
static int l_use_mimalloc(lua_State *L) {
#if FM_MIMALLOC
  void *ud;
  lua_Alloc f = lua_getallocf(L, &ud);
  prev_alloc *prev;
  const char *why = fm_c_allocf_forbidden(L);
  if (why != NULL) {
    lua_pushboolean(L, 0);
    lua_pushstring(L, why);
    return 2;
  }
  if (f == mi_lua_alloc) {
    lua_pushboolean(L, 1);
    return 1;
  }
  prev = (prev_alloc *)mi_malloc(sizeof *prev);
  if (prev == NULL) return luaL_error(L, "fastmatch: not enough memory");
  prev->f = f;
  prev->ud = ud;
  /* lua_newstate allocates the main thread's block, and LUA_EXTRASPACE
     bytes in front of it, in one piece starting at the extra space. */
  prev->stateblock = fm_c_stateblock(L);
  lua_setallocf(L, mi_lua_alloc, prev);
  lua_pushboolean(L, 1);
  return 1;
#else
  lua_pushboolean(L, 0);
  lua_pushliteral(L, "fastmatch was built without mimalloc (MIMALLOC=0)");
  return 2;
#endif
}

static const char *lua_allocator(lua_State *L) {
#if FM_MIMALLOC
  void *ud;
  if (lua_getallocf(L, &ud) == mi_lua_alloc) return "mimalloc";
#else
  (void)L;
#endif
  return "default";
}

#define setsize(L, name, v)                                                    \
  (lua_pushinteger(L, (lua_Integer)(v)), lua_setfield(L, -2, name))

/* fm.memstats() -> { rss, peak_rss, commit, peak_commit, lua_bytes,
                      allocator, lua_allocator } */
static int l_memstats(lua_State *L) {
  size_t rss, peak;
  os_rss(&rss, &peak);
  lua_createtable(L, 0, 7);
  setsize(L, "rss", rss);
  setsize(L, "peak_rss", peak);
#if FM_MIMALLOC
  {
    size_t elapsed, user, sys, crss, prss, ccommit, pcommit, faults;
    mi_process_info(&elapsed, &user, &sys, &crss, &prss, &ccommit, &pcommit,
                    &faults);
    setsize(L, "commit", ccommit);
    setsize(L, "peak_commit", pcommit);
  }
#endif
  setsize(L, "lua_bytes",
          (lua_Integer)lua_gc(L, LUA_GCCOUNT) * 1024 + lua_gc(L, LUA_GCCOUNTB));
  lua_pushstring(L, FM_ALLOCATOR);
  lua_setfield(L, -2, "allocator");
  lua_pushstring(L, lua_allocator(L));
  lua_setfield(L, -2, "lua_allocator");
  return 1;
}

#if FM_MIMALLOC
static void stats_out(const char *msg, void *arg) {
  fputs(msg, (FILE *)arg);
}
#endif

/* fm.mi_stats_print([file]) -> true | false, reason */
static int l_mi_stats_print(lua_State *L) {
  FILE *out = stdout;
  if (!lua_isnoneornil(L, 1)) {
    fm_stream *p = (fm_stream *)luaL_checkudata(L, 1, LUA_FILEHANDLE);
    if (fm_stream_closed(p)) return luaL_argerror(L, 1, "attempt to use a closed file");
    out = p->f;
  }
#if FM_MIMALLOC
  mi_stats_print_out(stats_out, out);
  fflush(out);
  lua_pushboolean(L, 1);
  return 1;
#else
  (void)out;
  lua_pushboolean(L, 0);
  lua_pushliteral(L, "fastmatch was built without mimalloc (MIMALLOC=0)");
  return 2;
#endif
}

/* core._large_pages(on) -> whether mimalloc now asks the OS for 2 MiB
   pages (transparent huge pages where the kernel gives them; nothing
   changes where it does not).  For a command that builds a large engine in
   a fresh process (fastmatch-hunt): page faults were most of its start on a
   virtual machine (docs/startup.md).  A library leaves this to its host. */
static int l_large_pages(lua_State *L) {
#if FM_MIMALLOC
  mi_option_set_enabled(mi_option_large_os_pages, lua_toboolean(L, 1));
  lua_pushboolean(L, mi_option_is_enabled(mi_option_large_os_pages));
#else
  lua_pushboolean(L, 0);
#endif
  return 1;
}

static const luaL_Reg alloc_funcs[] = {{"memstats", l_memstats},
                                       {"mi_stats_print", l_mi_stats_print},
                                       {"use_mimalloc", l_use_mimalloc},
                                       {"_large_pages", l_large_pages},
                                       {NULL, NULL}};

void fm_open_alloc(lua_State *L) {
  fm_setfuncs(L, alloc_funcs);
  lua_pushstring(L, FM_ALLOCATOR);
  lua_setfield(L, -2, "allocator");
#if FM_MIMALLOC
  lua_pushinteger(L, mi_version());
  lua_setfield(L, -2, "mimalloc_version");
#endif
}

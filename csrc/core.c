/*
** core.c -- luaopen_fastmatch_core, as linit.c is to Lua's libraries: one
** table that every capability fills through its fm_open_* function.
** Owns: the module table, its version and fm.now.  Nothing calls back into
** this file: the shared binding helpers live in binding.c.
*/
#include <time.h>

#include "lauxlib.h"
#include "lua.h"

#include "binding.h"
#include "fastmatch.h"

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
  fm_open_regex(L); /* both faces: fm.compile & co. and core._rex */
  fm_open_wildcard(L);
  fm_open_sets(L);
  fm_open_text(L);
  fm_open_gate(L);
  fm_open_evtx(L);
  fm_open_yaml(L);
  fm_open_pack(L);
  return 1;
}

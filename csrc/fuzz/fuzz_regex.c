/*
** fuzz_regex.c -- compile hostile patterns and run every regex call (both
** faces: fastmatch and fastmatch.rex) on hostile subjects, through Lua.
**   input: byte 0 = option bits, byte 1 = pattern length (mod the rest),
**   then the pattern, then the subject.  Errors raised to Lua are expected;
**   crashes, hangs and sanitizer reports are not.
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lauxlib.h"
#include "lua.h"
#include "lualib.h"

#include "fastmatch.h"

int luaopen_fastmatch_core(lua_State *L);

static const char *script =
    "local fm, p, s, o, sel = ...\n"
    "local ok, re = pcall(fm.compile, p, o)\n"
    "if not ok then return end\n"
    "re:test(s); re:find(s); re:find(s, -3); re:match(s, 2); re:exec(s)\n"
    "local k = 0\n"
    "for _ in re:gmatch(s) do k = k + 1; if k > 200 then break end end\n"
    "k = 0\n"
    "for _ in re:split(s, sel % 4) do k = k + 1; if k > 200 then break end "
    "end\n"
    "re:count(s)\n"
    "pcall(re.gsub, re, s, '<%0%%>')\n"
    "pcall(re.gsub, re, s, '%{1}%1', 3)\n"
    "re:gsub(s, function(...) return select('#', ...) > 1 and 'x' or nil end)\n"
    "re:gsub(s, {})\n"
    "fm.find(s, p, sel - 128, o); fm.gsub(s, p, 'y', nil, o)\n"
    "local rex = fm._rex\n"
    "local ok2, r = pcall(rex.new, p, sel)\n"
    "if ok2 then\n"
    "  pcall(r.exec, r, s); pcall(r.tfind, r, s, 2); pcall(r.dfa_exec, r, s)\n"
    "  pcall(rex.gsub, s, r, '%1%x%', function(a, b, c) return c, a > 3 end)\n"
    "  k = 0\n"
    "  for _ in rex.split(s, r) do k = k + 1; if k > 200 then break end end\n"
    "  rex.count(s, r)\n"
    "end\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static lua_State *L;
  static int calls;
  static const char *letters = "imsxuUaD";
  char opts[9];
  size_t plen, k = 0;
  if (L == NULL) {
    L = luaL_newstate();
    luaL_openlibs(L);
    luaopen_fastmatch_core(L);
    lua_setglobal(L, "fm");
    lua_getglobal(L, "fm");
    lua_getfield(L, -1, "limits");
    lua_newtable(L);
    lua_pushinteger(L, 20000);
    lua_setfield(L, -2, "match");
    lua_call(L, 1, 0);
    lua_pop(L, 1);
    if (luaL_loadstring(L, script) != LUA_OK) abort();
    lua_setglobal(L, "fuzz_body");
  }
  if (size < 2) return 0;
  for (int i = 0; i < 8; i++)
    if (data[0] & (1u << i)) opts[k++] = letters[i];
  opts[k] = '\0';
  plen = size > 2 ? data[1] % (size - 1) : 0;
  if (plen > size - 2) plen = size - 2;
  lua_getglobal(L, "fuzz_body");
  lua_getglobal(L, "fm");
  lua_pushlstring(L, (const char *)data + 2, plen);
  lua_pushlstring(L, (const char *)data + 2 + plen, size - 2 - plen);
  lua_pushstring(L, opts);
  lua_pushinteger(L, data[1]);
  (void)lua_pcall(L, 5, 0, 0);
  lua_settop(L, 0);
  if (++calls % 256 == 0) lua_gc(L, LUA_GCCOLLECT);
  return 0;
}

/*
** regex_faces.h -- what each face of the regex room hands its opener
** (regex_open.c), as lualib.h declares the luaopen_* functions for
** linit.c: the registration tables and the extra set-up a face needs.
** Included by the faces, which define these, and by the opener, which
** uses them; the engine (regex.c) and the shared loops (regex_loops.c) do
** not include it, so nothing below the opener can call a face.
*/
#ifndef FM_REGEX_FACES_H
#define FM_REGEX_FACES_H

#include "lauxlib.h"
#include "lua.h"

#if defined(__GNUC__) || defined(__clang__)
#pragma GCC visibility push(hidden)
#endif

/* regex_fm.c: the fm face (fm.compile, fm.find & co., fastmatch.regex) */
extern const luaL_Reg fm_funcs[], fm_methods[], fm_meta[];

/* regex_rex.c: the lrexlib face (core._rex, read by fastmatch.rex), and
   the metamethods of its maketables() objects */
extern const luaL_Reg rex_funcs[], rex_methods[], rex_meta[];
int tables_gc(lua_State *L);
int tables_tostring(lua_State *L);

/* ffi.c: the FFI face (LuaJIT's ffi calls its exported entry points);
   ffi_funcs are core._ffi_*, ffi_open sets core._ffi_id */
extern const luaL_Reg ffi_funcs[];
void ffi_open(lua_State *L, int mod);

#if defined(__GNUC__) || defined(__clang__)
#pragma GCC visibility pop
#endif

#endif

/*
** binding.h -- the Lua side's shared declarations: the binding helpers
** (binding.c) and each capability's opener (called by core.c only).  Only
** binding code includes this; kernels include fastmatch.h alone.
*/
#ifndef FM_BINDING_H
#define FM_BINDING_H

#include "lauxlib.h"
#include "lua.h"

#include "compat.h"
#include "fastmatch.h"

/* ---------------------------------------------------------------------
** Binding helpers (binding.c).
** ------------------------------------------------------------------- */
/* The matcher at stack index idx, or NULL if the value is not one. */
fm_matcher *fm_tomatcher(lua_State *L, int idx);
/* Raise the error that a negative test() code stands for. */
int fm_matcher_error(lua_State *L, int code);
/* Register functions into the module table at the top of the stack. */
void fm_setfuncs(lua_State *L, const luaL_Reg *l);
/* Create a metatable with methods (as __index), metamethods and the
   matcher mark when ismatcher; leaves it on the stack. */
void fm_newclass(lua_State *L, const char *name, const luaL_Reg *methods,
                 const luaL_Reg *meta, int ismatcher);
/* Raise "unknown option 'x'" (an argument error at arg) for a key of the
   options table at arg missing from known, a NULL-terminated list. */
void fm_checkopts(lua_State *L, int arg, const char *const known[]);
/* Lua integer argument as a size_t, raising when it does not fit. */
size_t fm_checksize(lua_State *L, int arg);
size_t fm_optsize(lua_State *L, int arg, size_t def);

/* A matcher class (wildcards, sets): methods are closures over the
   metatable, __call is the test method, __index a closure over the methods
   table (or, with index NULL, per-object __index tables copy "__methods"). */
void fm_matcherclass(lua_State *L, const char *name, const luaL_Reg *methods,
                     const luaL_Reg *meta, lua_CFunction index);

/* The fm.set at idx (sets.c): a pointer to its set, which is NULL once the
   set was finalized; NULL when the value is not an fm.set. */
fm_wcset **fm_setref(lua_State *L, int idx);

/* The event table at idx as structure events into sink (evtable.c; see
   evsink.h): FM_SINK_OK, what a callback returned, or FM_SINK_OTHER with
   *why (an FM_EV_* of evmodel.h) for what it does not walk. */
struct fm_sink;
int fm_evtable_walk(lua_State *L, int idx, struct fm_sink *sink, int *why);

/* The Sigma gate's loader (gateload.c): the table at spec to the program
   p (zeroed by the caller, who frees it with fm_gprog_free, also after an
   error); the sets and regexes it holds are appended to the table at keep,
   to be kept alive as long as p.  Raises on a malformed table. */
struct fm_gprog;
void fm_gate_load(lua_State *L, int spec, struct fm_gprog *p, int keep);
/* The program of the gate userdata at idx (core._sigma_gate), or NULL:
   for a C front end that runs it (gatevm.h). */
const struct fm_gprog *fm_gate_prog(lua_State *L, int idx);

/* Each capability adds its functions to the module table on the stack
   (called by core.c only). */
void fm_open_alloc(lua_State *L);
void fm_open_lines(lua_State *L);
void fm_open_writer(lua_State *L);
void fm_open_regex(lua_State *L);
void fm_open_wildcard(lua_State *L);
void fm_open_sets(lua_State *L);
void fm_open_text(lua_State *L);
void fm_open_gate(lua_State *L);
void fm_open_evtx(lua_State *L);
void fm_open_yaml(lua_State *L);  /* core._yaml: empty without libyaml */
void fm_open_pack(lua_State *L);

#endif

/*
** fastmatch.h -- what every capability file shares: allocation (mimalloc or
** libc), the matcher interface the line filter calls, and small helpers for
** the Lua bindings.  Kernels include this for fm_malloc & co. only; they must
** not touch a lua_State, so that `make fuzz` can drive them without Lua.
*/
#ifndef FASTMATCH_H
#define FASTMATCH_H

#include <stddef.h>

#define FM_VERSION "0.1.0"

/* ---------------------------------------------------------------------
** Allocation.  Every byte the module owns goes through these, so that the
** build switch MIMALLOC=0 (for valgrind and heaptrack, which cannot see
** inside mimalloc) changes one place.
** ------------------------------------------------------------------- */
#if FM_MIMALLOC
#include <mimalloc.h>
#define fm_malloc(n) mi_malloc(n)
#define fm_calloc(k, n) mi_calloc(k, n)
#define fm_realloc(p, n) mi_realloc(p, n)
#define fm_free(p) mi_free(p)
#define FM_ALLOCATOR "mimalloc"
#else
#include <stdlib.h>
#define fm_malloc(n) malloc(n)
#define fm_calloc(k, n) calloc(k, n)
#define fm_realloc(p, n) realloc(p, n)
#define fm_free(p) free(p)
#define FM_ALLOCATOR "libc"
#endif

/* ---------------------------------------------------------------------
** The matcher interface.  Every matcher userdata (compiled regex, wildcard,
** wildcard set) starts with an fm_matcher and its metatable has the field
** FM_MATCHER_FIELD = true.  The line filter then tests each line as a byte
** range with no Lua round trip.
**   test() returns 1 (match), 0 (no match) or a negative FM_E* code.
** ------------------------------------------------------------------- */
typedef struct fm_matcher fm_matcher;
typedef int (*fm_testfn)(fm_matcher *m, const char *s, size_t n);
struct fm_matcher {
  fm_testfn test;
};

#define FM_MATCHER_FIELD "__fm_matcher"

enum {
  FM_EMATCHLIMIT = -1, /* PCRE2 match limit */
  FM_EDEPTHLIMIT = -2, /* PCRE2 depth limit */
  FM_EHEAPLIMIT = -3,  /* PCRE2 heap limit */
  FM_EUTF = -4,        /* invalid UTF-8 in a subject matched with 'u' */
  FM_ENOMEM = -5,      /* allocation failed */
  FM_EOTHER = -6       /* any other engine error */
};

/* ---------------------------------------------------------------------
** Regex kernels (regex.c): plain C, fuzzable without Lua.
** ------------------------------------------------------------------- */
/* Offset of the first byte of s[0..n) that does not start a valid UTF-8
   sequence, or n when all of it is valid. */
size_t fm_utf8_check(const char *s, size_t n);

/* gsub replacement templates.  FM_TPL_LUA: %0-%9, %{name}, %{12}, %%; any
   other use of '%' is an error.  FM_TPL_REX (lrexlib): %0-%9, '%' before
   any other character stands for that character, a final '%' is dropped. */
enum { FM_TPL_LUA = 0, FM_TPL_REX = 1 };
enum { FM_TPL_TEXT, FM_TPL_GROUP, FM_TPL_NAME };
typedef struct fm_tpl_item {
  int kind;    /* FM_TPL_TEXT: t[a..a+b); GROUP: group a; NAME: t[a..a+b) */
  size_t a, b;
} fm_tpl_item;
/* Parse t[0..n) into out[0..cap).  Returns the item count (if it exceeds
   cap, call again with that much room), or (size_t)-1 on a syntax error
   with *errpos = offset of the offending '%'. */
size_t fm_tpl_parse(const char *t, size_t n, int mode, fm_tpl_item *out,
                    size_t cap, size_t *errpos);

/* ---------------------------------------------------------------------
** Binding helpers (core.c).  Only binding code may use these.
** ------------------------------------------------------------------- */
#ifdef LUA_VERSION_NUM
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
/* Lua integer argument as a size_t, raising when it does not fit. */
size_t fm_checksize(lua_State *L, int arg);
size_t fm_optsize(lua_State *L, int arg, size_t def);

/* Each capability adds its functions to the module table on the stack. */
void fm_open_alloc(lua_State *L);
void fm_open_regex(lua_State *L);
#endif

#endif

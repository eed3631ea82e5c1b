/*
** regex.h -- what the regex room's files share (regex.c, regex_loops.c,
** regex_fm.c, regex_rex.c, ffi.c, its FFI face, and regex_open.c, the
** opener) and nobody else includes: the compiled object, the per-state
** data, the hot inline helpers (one match, the cache's hit, argument
** reading, the find fast path) and the room's functions.
** The room is layered, each file calling only the ones below it:
**   regex_open.c                       the opener: registers every face
**   regex_fm.c  regex_rex.c  ffi.c     the faces (fm, lrexlib, LuaJIT FFI)
**   regex_loops.c                      the loops both Lua faces share
**   regex.c (+ this header's inlines)  the engine: objects, JIT, the cache,
**                                      limits, errors and their names
** The rx_ names are the room's own: they are hidden (never exported from
** core.so), so they keep their short names instead of the module-wide fm_
** prefix that STYLE.md asks of symbols visible across rooms.
*/
#ifndef FM_REGEX_H
#define FM_REGEX_H

#include <stdint.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "lauxlib.h"
#include "lua.h"

#include "binding.h"
#include "fastmatch.h"

#if defined(__GNUC__) || defined(__clang__)
#pragma GCC visibility push(hidden)
/* The find fast path must be inlined into each method, where the method is
   a constant: GCC's heuristics stopped doing so once the callers moved to
   other files (callgrind: +5 instructions a call). */
#define RX_INLINE static inline __attribute__((always_inline))
#else
#define RX_INLINE static inline
#endif

/* ---------------------------------------------------------------------
** Per-Lua-state data: match context (limits, the shared JIT stack) and the
** cache's bookkeeping.  A full userdata, upvalue 1 of every function.
** ------------------------------------------------------------------- */
typedef struct fm_regex fm_regex;

/* The cache's front door for fm.find(s, "literal pattern") and friends: a
   direct-mapped table keyed by the address of the pattern string's bytes.
   A slot only ever names an object in the cache without options, and its key
   is that object's own pattern string (r->pat), which the cache table and the
   object's uservalue keep alive: while the slot is set no other string can
   live at that address, and Lua interns short strings, so an equal short
   pattern always arrives with that same address.  A long pattern equal to a
   cached one but stored elsewhere simply misses here and takes the table
   lookup.  Eviction clears the slot.  Saves the push/rawget/touserdata of a
   table lookup on every call (callgrind: see docs/regex.md). */
#define RX_FAST 64 /* slots, a power of two */
typedef struct rx_slot {
  const char *pat;
  const char *opts; /* the options string, NULL for none (or "") */
  fm_regex *r;
} rx_slot;

typedef struct rx_state {
  pcre2_match_context *mctx;
  pcre2_jit_stack *jstack;
  uint32_t match_limit, depth_limit, heap_limit;
  size_t capacity, size;
  lua_Integer hits, misses, evictions;
  fm_regex *head, *tail; /* LRU list of cached objects, head = most recent */
  rx_slot fast[RX_FAST];
} rx_state;

/* Options strings are short, hence interned too: the slot's key is the
   pair of addresses. */
static inline rx_slot *rx_slotof(rx_state *st, const char *p, const char *o) {
  uintptr_t u = (uintptr_t)p ^ ((uintptr_t)o >> 3);
  return &st->fast[((u >> 4) ^ (u >> 10)) & (RX_FAST - 1)];
}

#define RX_DEFAULT_MATCH_LIMIT 1000000u
#define RX_DEFAULT_DEPTH_LIMIT 1000000u
#define RX_DEFAULT_HEAP_LIMIT 262144u /* KiB */
#define RX_JIT_STACK_START (64u * 1024u)
#define RX_JIT_STACK_MAX (4u * 1024u * 1024u)

/* upvalues shared by the module functions and methods */
#define UV_STATE lua_upvalueindex(1)
/* cache: options key -> {pattern -> obj} */
#define UV_ROOT lua_upvalueindex(2)
#define UV_FMMT lua_upvalueindex(3)
#define UV_REXMT lua_upvalueindex(4)
#define UV_DEFSUB lua_upvalueindex(5) /* cache table for options "" */
#define RX_NUP 5

#define RX_BUF_MT "fastmatch.regex_buffer"
#define RX_STATE_MT "fastmatch.regex_state"
#define RX_TABLES_MT "chartables"


/* ---------------------------------------------------------------------
** Compiled objects
** ------------------------------------------------------------------- */
#define RX_NEED_MAX 64 /* longest required literal kept (a part is one too) */
struct fm_regex {
  fm_matcher m; /* first: the line filter calls m.test */
  pcre2_code *code;
  pcre2_match_data *md;
  PCRE2_SIZE *ov;
  rx_state *st;
  const uint8_t *tables; /* owned locale tables (rex `lo` as a locale) */
  const char *pat;       /* the pattern (uservalue 1 keeps it alive) */
  size_t patlen;
  const char *key; /* cache key of a fm object: its options (uservalue 2) */
  size_t keylen;
  lua_Integer cf; /* compile flags (the cache key of a rex object) */
  uint32_t ncap, minlen;
  int lastrc;      /* raw PCRE2 code of the last failed match */
  const char *tag; /* &rx_tag_fm or &rx_tag_rex (check_self) */
  unsigned char jit, literal, utf, prevalidate, rex, incache;
  unsigned char needdone; /* need/needbuf are filled (rx_literals) */
  fm_regex *prev, *next;
  fm_literal need;        /* the literal every match contains; n 0: none */
  char needbuf[RX_NEED_MAX];
};

/* uservalues: 1 pattern, 2 options key, 3 state, 4 chartables anchor */

/* The class tag of an object: the address of one of these (defined in
   regex.c).  Only the regex room writes it, so a userdata of our size
   holding it is one of ours. */
extern const char rx_tag_fm, rx_tag_rex;
#define RX_NUV 4

static inline size_t rx_nextchar(const fm_regex *r, const char *s, size_t n,
                          size_t p) {
  p++;
  if (r->utf)
    while (p < n && ((unsigned char)s[p] & 0xC0) == 0x80)
      p++;
  return p;
}

/* A literal pattern's first occurrence in s[0..n): exact (fm_search) or,
   for 'i', ASCII-caseless with search.c's SIMD kernel -- exactly what PCRE2
   finds without UTF, whose default tables fold A-Z only. */
static inline const char *rx_litfind(const fm_regex *r, const char *s, size_t n) {
  size_t at;
  if (r->patlen == 0) return s;
  at = r->literal == 1 ? fm_search(s, n, r->pat, r->patlen)
                       : fm_isearch(s, n, r->pat, r->patlen);
  return at == FM_NOTFOUND ? NULL : s + at;
}

static inline int rx_errcode(int rc);

/* One match at off.  1 = match (ov valid), 0 = none, < 0 = FM_E* code. */
RX_INLINE int rx_exec(fm_regex *r, const char *s, size_t n, size_t off,
                   uint32_t ef) {
  int rc;
  if (ef == 0) {
    /* unvalidated UTF (rex): PCRE2 must see the subject to report bad UTF */
    if (n - off < r->minlen && !(r->utf && !r->prevalidate)) return 0;
    if (r->literal) {
      const char *p = rx_litfind(r, s + off, n - off);
      if (p == NULL) return 0;
      r->ov[0] = (PCRE2_SIZE)(p - s);
      r->ov[1] = r->ov[0] + r->patlen;
      return 1;
    }
    if (r->jit && !(r->utf && !r->prevalidate))
      rc = pcre2_jit_match(r->code, (PCRE2_SPTR)s, n, off, 0, r->md,
                           r->st->mctx);
    else
      rc = pcre2_match(r->code, (PCRE2_SPTR)s, n, off,
                       r->prevalidate ? PCRE2_NO_UTF_CHECK : 0, r->md,
                       r->st->mctx);
  } else
    rc = pcre2_match(r->code, (PCRE2_SPTR)s, n, off,
                     ef | (r->prevalidate ? PCRE2_NO_UTF_CHECK : 0), r->md,
                     r->st->mctx);
  if (rc >= 0) return 1;
  r->lastrc = rc;
  return rx_errcode(rc);
}

/* A PCRE2 match's failure as 0 (no match) or an FM_E* code. */
static inline int rx_errcode(int rc) {
  switch (rc) {
  case PCRE2_ERROR_NOMATCH:
    return 0;
  case PCRE2_ERROR_MATCHLIMIT:
  case PCRE2_ERROR_JIT_STACKLIMIT:
    return FM_EMATCHLIMIT;
  case PCRE2_ERROR_DEPTHLIMIT:
    return FM_EDEPTHLIMIT;
  case PCRE2_ERROR_HEAPLIMIT:
    return FM_EHEAPLIMIT;
  case PCRE2_ERROR_NOMEMORY:
    return FM_ENOMEM;
  default:
    if (rc <= PCRE2_ERROR_UTF8_ERR1 && rc >= PCRE2_ERROR_UTF8_ERR21)
      return FM_EUTF;
    return FM_EOTHER;
  }
}


static inline void lru_unlink(rx_state *st, fm_regex *r) {
  if (r->prev)
    r->prev->next = r->next;
  else
    st->head = r->next;
  if (r->next)
    r->next->prev = r->prev;
  else
    st->tail = r->prev;
  r->prev = r->next = NULL;
}

static inline void lru_push(rx_state *st, fm_regex *r) {
  r->prev = NULL;
  r->next = st->head;
  if (st->head) st->head->prev = r;
  st->head = r;
  if (st->tail == NULL) st->tail = r;
}

/* A cache hit on r: counted, and r moved to the head of the LRU list.  The
   one statement of what a hit does, for every door into the cache: the
   lookup (rx_cached), fm.find's front door (regex_fm.c) and the FFI path
   (ffi.c), so that fm.cache_stats() and the eviction order are the same
   whichever door a call took. */
static inline void rx_cache_hit(rx_state *st, fm_regex *r) {
  st->hits++;
  if (st->head != r) {
    lru_unlink(st, r);
    lru_push(st, r);
  }
}

/* ---------------------------------------------------------------------
** Argument helpers
** ------------------------------------------------------------------- */
/* a string, or a number converted in place (as string.find and lrexlib's
   luaL_checklstring take it); one API call on the hot path */
static inline const char *rx_subject(lua_State *L, int idx, size_t *n) {
  const char *s = lua_tolstring(L, idx, n);
  if (s == NULL) luaL_typeerror(L, idx, "string");
  return s;
}

/* init as string.find reads it: 1-based, negative from the end; returns 0
   when it lies past the end (no match possible). */
static inline int rx_init(lua_State *L, int idx, size_t n, size_t *off) {
  int isint = 0;
  lua_Integer i = idx ? lua_tointegerx(L, idx, &isint) : 1;
  if (idx && !isint) i = luaL_optinteger(L, idx, 1); /* nil, "3", errors */
  if (i > 0) {
    if ((lua_Unsigned)i - 1 > (lua_Unsigned)n) return 0;
    *off = (size_t)(i - 1);
  } else if (i == 0)
    *off = 0;
  else if ((lua_Unsigned)0 - (lua_Unsigned)i > (lua_Unsigned)n)
    *off = 0;
  else
    *off = n - (size_t)((lua_Unsigned)0 - (lua_Unsigned)i);
  return 1;
}

static inline uint32_t rx_ef(lua_State *L, int idx) {
  return (uint32_t)luaL_optinteger(L, idx, 0);
}

/* ---------------------------------------------------------------------
** Pushing results (the rest is in regex_loops.c)
** ------------------------------------------------------------------- */
static inline void push_cap(lua_State *L, const fm_regex *r, const char *s,
                     uint32_t i) {
  PCRE2_SIZE a = r->ov[2 * i], b = r->ov[2 * i + 1];
  if (a == PCRE2_UNSET)
    lua_pushboolean(L, 0);
  else
    lua_pushlstring(L, s + a, b > a ? b - a : 0);
}

/* captures 1..ncap, or the whole match when there are none */
enum { M_TEST, M_FIND, M_MATCH, M_TFIND, M_REXEXEC };

/* regex.c: the engine: errors and their names, limits, objects, the cache */
pcre2_general_context *gctx(void);
int rx_raise(lua_State *L, fm_regex *r, int rc);
/* PCRE2's error codes by name, as lrexlib spells them ("ERROR_NOMATCH"):
   the list ends with a NULL name; rx_errname(code) finds one or NULL. */
typedef struct rx_named {
  const char *name;
  int value; /* as int, like lrexlib: PCRE2_ANCHORED reads negative */
} rx_named;
extern const rx_named rx_errors[];
const char *rx_errname(int code);
/* The state's limits (match, depth, heap) into its match context */
void rx_limits_apply(rx_state *st);
/* A new per-state userdata on the stack top: match context with the
   default limits, JIT stack, empty cache of the default capacity */
rx_state *rx_state_new(lua_State *L);
void rx_checkutf(lua_State *L, fm_regex *r, const char *s, size_t n);
void rx_checkinit(lua_State *L, const fm_regex *r, const char *s, size_t n,
                  size_t off);
uint32_t rx_fmopts(lua_State *L, int arg, const char *o, size_t n);
/* The flags of option letter c among the first k letters; 0 if not one.
   lrexlib's cf strings know the first RX_REX_LETTERS. */
#define RX_REX_LETTERS 5
uint32_t rx_letter(char c, size_t k);
void cache_evict_tail(lua_State *L, rx_state *st);
int rx_gc(lua_State *L);
fm_regex *rx_compile(lua_State *L, int pidx, uint32_t cflags, int rex,
                     int keyidx, const uint8_t *tables, int tablesidx,
                     const char *locale);
fm_regex *rx_cached(lua_State *L, int pidx, int oidx, int rex,
                    lua_Integer cf);
fm_regex *rx_test_ud(lua_State *L, int idx);
fm_regex *fm_arg(lua_State *L, int pidx, int oidx, int nargs);
fm_regex *check_self(lua_State *L, int rex);

/* regex_loops.c: the loops both faces share */
int push_caps(lua_State *L, const fm_regex *r, const char *s);
void push_names(lua_State *L, const fm_regex *r, const char *s);
int rx_find_at(lua_State *L, fm_regex *r, const char *s, size_t n, size_t off,
               uint32_t ef, int method);
int rx_find(lua_State *L, fm_regex *r, int sidx, int initidx, uint32_t ef,
            int method);
int rx_gmatch(lua_State *L, fm_regex *r, int sidx, size_t off, uint32_t ef,
              int past);
int split_iter(lua_State *L);
int rexsplit_iter(lua_State *L);
int rx_count(lua_State *L, fm_regex *r, int sidx, uint32_t ef);
int rx_gsub(lua_State *L, fm_regex *r, int sidx, int ridx, int nidx,
            uint32_t ef);
int buf_gc(lua_State *L);

/* What each face hands the opener is in regex_faces.h: nothing below the
   opener calls a face. */

/* rx_find_at for test/find/match on an object without UTF prevalidation
   and a start inside the subject: the same results with none of the
   generic plumbing (callgrind: re:find 1371 -> 1277 instructions a call).
   Inlined into each caller, where method is a constant. */
RX_INLINE int rx_find_fast(lua_State *L, fm_regex *r, const char *s,
                               size_t n, size_t off, int method) {
  int rc = rx_exec(r, s, n, off, 0);
  int k = 0;
  if (rc == 0) {
    if (method == M_TEST)
      lua_pushboolean(L, 0);
    else
      lua_pushnil(L);
    return 1;
  }
  if (rc < 0) return rx_raise(L, r, rc);
  if (method == M_TEST) {
    lua_pushboolean(L, 1);
    return 1;
  }
  if (method == M_FIND) {
    lua_pushinteger(L, (lua_Integer)r->ov[0] + 1);
    lua_pushinteger(L, (lua_Integer)r->ov[1]);
    if (r->ncap == 0) return 2;
    k = 2;
  } else if (r->ncap == 0) {
    push_cap(L, r, s, 0);
    return 1;
  }
  if (r->ncap > LUA_MINSTACK - 3)
    luaL_checkstack(L, (int)r->ncap, "too many captures");
  for (uint32_t i = 1; i <= r->ncap; i++)
    push_cap(L, r, s, i);
  return k + (int)r->ncap;
}

#if defined(__GNUC__) || defined(__clang__)
#pragma GCC visibility pop
#endif

#endif

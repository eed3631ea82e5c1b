/*
** regex.c -- PCRE2 objects (JIT, one match data each), the LRU cache behind
** the module-level functions, the fastmatch.regex binding and the
** lrexlib-compatible face (fastmatch.rex, built from core._rex).
**
** Stages: kernels (UTF-8 check, replacement-template parser) know nothing of
** Lua; rx_exec runs one match on a byte range; the loops (find, gmatch, gsub,
** split, count) are written once and shared by both faces, which differ only
** in argument order and a few return conventions.
*/
#include <locale.h>
#include <stdint.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "lauxlib.h"
#include "lua.h"

#include "fastmatch.h"

/* ---------------------------------------------------------------------
** Kernels (declared in fastmatch.h; no Lua)
** ------------------------------------------------------------------- */

/* Offset of the first byte that does not start a valid UTF-8 sequence
   (overlongs, surrogates and code points past U+10FFFF are invalid), or n. */
size_t fm_utf8_check(const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0;
  while (i < n) {
    unsigned c = p[i];
    size_t k;
    unsigned cp, min;
    if (c < 0x80) {
      i++;
      continue;
    }
    if (c >= 0xC2 && c <= 0xDF)
      k = 1, cp = c & 0x1F, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF)
      k = 2, cp = c & 0x0F, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4)
      k = 3, cp = c & 0x07, min = 0x10000;
    else
      return i;
    if (n - i <= k) return i;
    for (size_t j = 1; j <= k; j++) {
      if ((p[i + j] & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (p[i + j] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += k + 1;
  }
  return n;
}

static int tpl_isname(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '_';
}

/* Parse a gsub replacement template.  Items go to out[0..cap); the return
   value is how many there are (call again with more room when it exceeds
   cap), or (size_t)-1 on a syntax error (FM_TPL_LUA only), *errpos = the
   offset of the offending '%'. */
size_t fm_tpl_parse(const char *t, size_t n, int mode, fm_tpl_item *out,
                    size_t cap, size_t *errpos) {
  size_t i = 0, k = 0;
#define TPL_PUT(K, A, B)                                                       \
  do {                                                                         \
    if (k < cap) out[k].kind = (K), out[k].a = (A), out[k].b = (B);            \
    k++;                                                                       \
  } while (0)
  while (i < n) {
    size_t j = i;
    while (j < n && t[j] != '%')
      j++;
    if (j > i) TPL_PUT(FM_TPL_TEXT, i, j - i);
    if (j >= n) break;
    /* t[j] == '%' */
    if (j + 1 >= n) { /* a lone '%' at the end */
      if (mode == FM_TPL_REX) break;
      if (errpos) *errpos = j;
      return (size_t)-1;
    }
    unsigned char c = (unsigned char)t[j + 1];
    if (c >= '0' && c <= '9') {
      TPL_PUT(FM_TPL_GROUP, (size_t)(c - '0'), 0);
      i = j + 2;
    } else if (mode == FM_TPL_REX || c == '%') {
      TPL_PUT(FM_TPL_TEXT, j + 1, 1);
      i = j + 2;
    } else if (c == '{') {
      size_t a = j + 2, e = a;
      int digits = 1;
      while (e < n && tpl_isname((unsigned char)t[e])) {
        if (t[e] < '0' || t[e] > '9') digits = 0;
        e++;
      }
      if (e == a || e >= n || t[e] != '}' || (digits && e - a > 5)) {
        if (errpos) *errpos = j;
        return (size_t)-1;
      }
      if (digits) {
        size_t g = 0;
        for (size_t x = a; x < e; x++)
          g = g * 10 + (size_t)(t[x] - '0');
        TPL_PUT(FM_TPL_GROUP, g, 0);
      } else
        TPL_PUT(FM_TPL_NAME, a, e - a);
      i = e + 1;
    } else {
      if (errpos) *errpos = j;
      return (size_t)-1;
    }
  }
#undef TPL_PUT
  return k;
}

/* ---------------------------------------------------------------------
** PCRE2 memory goes through fm_malloc/fm_free (mimalloc or libc).
** ------------------------------------------------------------------- */
static void *pcre_malloc(PCRE2_SIZE n, void *ud) {
  (void)ud;
  return fm_malloc(n);
}
static void pcre_free(void *p, void *ud) {
  (void)ud;
  fm_free(p);
}

static pcre2_general_context *gctx(void) {
  /* Immutable once made; made at module load (fm_open_regex). */
  static pcre2_general_context *g;
  if (g == NULL) g = pcre2_general_context_create(pcre_malloc, pcre_free, NULL);
  return g;
}

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
   table lookup on every call (callgrind: see README, regex benchmarks). */
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
static rx_slot *rx_slotof(rx_state *st, const char *p, const char *o) {
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
  fm_regex *prev, *next;
};

/* uservalues: 1 pattern, 2 options key, 3 state, 4 chartables anchor */

/* The class tag of an object: the address of one of these.  Only this file
   writes it, so a userdata of our size holding it is one of ours. */
static const char rx_tag_fm, rx_tag_rex;
#define RX_NUV 4

static size_t rx_nextchar(const fm_regex *r, const char *s, size_t n,
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
static const char *rx_litfind(const fm_regex *r, const char *s, size_t n) {
  size_t at;
  if (r->patlen == 0) return s;
  at = r->literal == 1 ? fm_search(s, n, r->pat, r->patlen)
                       : fm_isearch(s, n, r->pat, r->patlen);
  return at == FM_NOTFOUND ? NULL : s + at;
}

/* One match at off.  1 = match (ov valid), 0 = none, < 0 = FM_E* code. */
static inline int rx_exec(fm_regex *r, const char *s, size_t n, size_t off,
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

/* The matcher interface: whole range, no captures. */
static int rx_test(fm_matcher *m, const char *s, size_t n) {
  fm_regex *r = (fm_regex *)m;
  if (r->prevalidate && fm_utf8_check(s, n) != n) return FM_EUTF;
  return rx_exec(r, s, n, 0, 0);
}

/* ---------------------------------------------------------------------
** Errors
** ------------------------------------------------------------------- */
static const char *rx_errname(int code); /* rex flags table, below */

static int rx_raise(lua_State *L, fm_regex *r, int rc) {
  if (r->rex) {
    const char *name = rx_errname(r->lastrc);
    if (name) return luaL_error(L, "error PCRE2_%s", name);
    return luaL_error(L, "PCRE2 error code %d", r->lastrc);
  }
  if (rc == FM_EOTHER) {
    PCRE2_UCHAR buf[256];
    if (pcre2_get_error_message(r->lastrc, buf, sizeof buf) < 0)
      strcpy((char *)buf, "unknown error");
    return luaL_error(L, "fastmatch: match error: %s", (const char *)buf);
  }
  return fm_matcher_error(L, rc);
}

static void rx_checkutf(lua_State *L, fm_regex *r, const char *s, size_t n) {
  if (r->prevalidate) {
    size_t bad = fm_utf8_check(s, n);
    if (bad != n)
      luaL_error(L, "fastmatch: invalid UTF-8 in subject at byte offset %I",
                 (lua_Integer)bad);
  }
}

/* With u, a start offset inside a character: PCRE2 leaves the JIT (and
   NO_UTF_CHECK) undefined there -- it matched "." against a lone
   continuation byte -- and raises BADUTFOFFSET in the interpreter. */
static void rx_checkinit(lua_State *L, const fm_regex *r, const char *s,
                         size_t n, size_t off) {
  if (r->prevalidate && off < n && ((unsigned char)s[off] & 0xC0) == 0x80)
    luaL_error(L,
               "fastmatch: init (byte %I) is inside a UTF-8 character",
               (lua_Integer)off + 1);
}

/* ---------------------------------------------------------------------
** Compiling
** ------------------------------------------------------------------- */
static int rx_isliteral(const char *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    if (c != 0 && strchr("\\^$.[]|()?*+{}", c) != NULL) return 0;
  }
  return 1;
}

/* Option letters, as ngx.re and lrexlib spell them.  lrexlib's cf strings
   know the first RX_REX_LETTERS of them (and ignore other letters). */
static const struct {
  char letter;
  uint32_t flags;
} rx_letters[] = {{'i', PCRE2_CASELESS}, {'m', PCRE2_MULTILINE},
                  {'s', PCRE2_DOTALL},   {'x', PCRE2_EXTENDED},
                  {'U', PCRE2_UNGREEDY}, {'u', PCRE2_UTF | PCRE2_UCP},
                  {'a', PCRE2_ANCHORED}, {'D', PCRE2_DUPNAMES}};
#define RX_ALL_LETTERS (sizeof rx_letters / sizeof rx_letters[0])
#define RX_REX_LETTERS 5

/* The flags of letter c among the first k option letters; 0 if not one. */
static uint32_t rx_letter(char c, size_t k) {
  for (size_t j = 0; j < k; j++)
    if (rx_letters[j].letter == c) return rx_letters[j].flags;
  return 0;
}

/* fm option letters -> PCRE2 compile options; raises on an unknown one */
static uint32_t rx_fmopts(lua_State *L, int arg, const char *o, size_t n) {
  uint32_t f = 0;
  for (size_t i = 0; i < n; i++) {
    uint32_t one = rx_letter(o[i], RX_ALL_LETTERS);
    if (one == 0)
      return (uint32_t)luaL_argerror(
          L, arg,
          lua_pushfstring(L, "unknown option letter '%c' (known: imsxuUaD)",
                          (unsigned char)o[i]));
    f |= one;
  }
  return f;
}

static int rx_gc(lua_State *L) {
  fm_regex *r = (fm_regex *)lua_touserdata(L, 1);
  if (r == NULL) return 0;
  if (r->md) pcre2_match_data_free(r->md);
  if (r->code) pcre2_code_free(r->code);
  if (r->tables) pcre2_maketables_free(gctx(), r->tables);
  r->md = NULL, r->code = NULL, r->tables = NULL;
  r->m.test = NULL;
  return 0;
}

/* Give the fm object on the top its own metatable: a copy of the class's
   whose __index is a plain table holding the methods and the fields pattern
   and options.  re:find(s) and re.pattern are then table lookups inside the
   VM; a shared metatable needs an __index function for the fields, a C call
   on every method call (about 290 instructions, measured with callgrind on
   a wildcard, where the same change took w:test(s) from 954 to 570).  The
   price: two small tables per compiled object. */
static void rx_own_metatable(lua_State *L, int pidx, int keyidx) {
  lua_createtable(L, 0, 8); /* ud mt */
  lua_pushnil(L);
  while (lua_next(L, UV_FMMT)) { /* ud mt k v: copy all but __index */
    if (lua_type(L, -2) == LUA_TSTRING &&
        (strcmp(lua_tostring(L, -2), "__index") == 0 ||
         strcmp(lua_tostring(L, -2), "__methods") == 0)) {
      lua_pop(L, 1);
      continue;
    }
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, -4);
  }
  lua_createtable(L, 0, 12); /* ud mt idx */
  lua_getfield(L, UV_FMMT, "__methods");
  lua_pushnil(L);
  while (lua_next(L, -2)) { /* ud mt idx methods k v */
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, -5);
  }
  lua_pop(L, 1);
  lua_pushvalue(L, pidx);
  lua_setfield(L, -2, "pattern");
  if (keyidx) {
    lua_pushvalue(L, keyidx);
    lua_setfield(L, -2, "options");
  }
  lua_setfield(L, -2, "__index"); /* ud mt */
  lua_setmetatable(L, -2);
}

/* Compile the pattern at pidx; pushes the new object.  keyidx: the value
   kept as uservalue 2 (options string or cf); tables/tablesidx: rex `lo`. */
static fm_regex *rx_compile(lua_State *L, int pidx, uint32_t cflags, int rex,
                            int keyidx, const uint8_t *tables, int tablesidx,
                            const char *locale) {
  size_t plen;
  const char *p = lua_tolstring(L, pidx, &plen);
  rx_state *st = (rx_state *)lua_touserdata(L, UV_STATE);
  int err;
  PCRE2_SIZE eo;
  pcre2_compile_context *cc = NULL;
  fm_regex *r;
  pidx = lua_absindex(L, pidx);
  keyidx = keyidx ? lua_absindex(L, keyidx) : 0;
  r = (fm_regex *)lua_newuserdatauv(L, sizeof(fm_regex), RX_NUV);
  memset(r, 0, sizeof *r);
  lua_pushvalue(L, rex ? UV_REXMT : UV_FMMT);
  lua_setmetatable(L, -2);
  lua_pushvalue(L, pidx);
  lua_setiuservalue(L, -2, 1);
  if (keyidx) {
    lua_pushvalue(L, keyidx);
    lua_setiuservalue(L, -2, 2);
  }
  lua_pushvalue(L, UV_STATE);
  lua_setiuservalue(L, -2, 3);
  if (tablesidx) {
    lua_pushvalue(L, tablesidx);
    lua_setiuservalue(L, -2, 4);
  }
  r->st = st;
  r->pat = p, r->patlen = plen;
  r->rex = (unsigned char)rex;
  r->tag = rex ? &rx_tag_rex : &rx_tag_fm;
  r->cf = (lua_Integer)cflags;
  if (keyidx && lua_type(L, keyidx) == LUA_TSTRING)
    r->key = lua_tolstring(L, keyidx, &r->keylen);
  if (locale != NULL) {
    char old[256];
    const char *cur = setlocale(LC_CTYPE, NULL);
    snprintf(old, sizeof old, "%s", cur ? cur : "C");
    if (setlocale(LC_CTYPE, locale) == NULL) luaL_error(L, "cannot set locale");
    r->tables = pcre2_maketables(gctx());
    setlocale(LC_CTYPE, old);
    tables = r->tables;
  }
  /* a compile context even without tables: the compiled code inherits its
     memory functions (fm_malloc/fm_free) */
  cc = pcre2_compile_context_create(gctx());
  if (cc == NULL) luaL_error(L, "fastmatch: not enough memory");
  if (tables != NULL) pcre2_set_character_tables(cc, tables);
  r->code = pcre2_compile((PCRE2_SPTR)p, plen, cflags, &err, &eo, cc);
  pcre2_compile_context_free(cc);
  if (r->code == NULL) {
    PCRE2_UCHAR buf[256];
    if (pcre2_get_error_message(err, buf, sizeof buf) < 0)
      strcpy((char *)buf, "pattern compile error");
    if (rex)
      return (fm_regex *)(intptr_t)luaL_error(L, "%s (pattern offset: %d)",
                                              (const char *)buf, (int)eo + 1);
    else {
      luaL_Buffer b;
      luaL_buffinit(L, &b);
      lua_pushfstring(L, "fastmatch: bad pattern at offset %I: %s: ",
                      (lua_Integer)eo, (const char *)buf);
      luaL_addvalue(&b);
      luaL_addlstring(&b, p, plen > 60 ? 60 : plen); /* cut, no marker */
      luaL_pushresult(&b);
      lua_error(L);
    }
  }
  pcre2_pattern_info(r->code, PCRE2_INFO_CAPTURECOUNT, &r->ncap);
  pcre2_pattern_info(r->code, PCRE2_INFO_MINLENGTH, &r->minlen);
  r->utf = (cflags & PCRE2_UTF) != 0;
  if (!r->utf) {
    uint32_t all = 0;
    pcre2_pattern_info(r->code, PCRE2_INFO_ALLOPTIONS, &all);
    r->utf = (all & PCRE2_UTF) != 0; /* (*UTF) in the pattern */
  }
  r->prevalidate = r->utf && !rex;
  r->md = pcre2_match_data_create(r->ncap + 1, gctx());
  if (r->md == NULL) luaL_error(L, "fastmatch: not enough memory");
  r->ov = pcre2_get_ovector_pointer(r->md);
  r->jit = pcre2_jit_compile(r->code, PCRE2_JIT_COMPLETE) == 0;
  /* Literal fast path: memmem (1), or the ASCII-caseless search kernel for
     'i' (2), finds exactly what PCRE2 would.  Extended, anchored and UTF
     patterns (or custom tables) keep PCRE2. */
  r->literal = !rex && tables == NULL &&
               (cflags & (PCRE2_EXTENDED | PCRE2_ANCHORED | PCRE2_UTF)) == 0 &&
               !r->utf && rx_isliteral(p, plen) && r->ncap == 0;
  if (r->literal && (cflags & PCRE2_CASELESS)) r->literal = 2;
  r->m.test = rx_test;
  if (!rex) rx_own_metatable(L, pidx, keyidx);
  return r;
}

/* ---------------------------------------------------------------------
** The cache: options key -> {pattern -> object}, plus an intrusive LRU
** list.  Hits touch the list (no allocation, no string building); only
** an eviction looks keys up again.
** ------------------------------------------------------------------- */
static void lru_unlink(rx_state *st, fm_regex *r) {
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

static void lru_push(rx_state *st, fm_regex *r) {
  r->prev = NULL;
  r->next = st->head;
  if (st->head) st->head->prev = r;
  st->head = r;
  if (st->tail == NULL) st->tail = r;
}

static void cache_evict_tail(lua_State *L, rx_state *st) {
  fm_regex *r = st->tail;
  if (r == NULL) return;
  lru_unlink(st, r);
  r->incache = 0;
  {
    rx_slot *sl = rx_slotof(st, r->pat, r->keylen > 0 ? r->key : NULL);
    if (sl->r == r) sl->r = NULL, sl->pat = NULL, sl->opts = NULL;
  }
  st->size--;
  st->evictions++;
  if (r->rex)
    lua_rawgeti(L, UV_ROOT, r->cf);
  else {
    lua_pushlstring(L, r->key ? r->key : "", r->key ? r->keylen : 0);
    lua_rawget(L, UV_ROOT);
  }
  if (lua_istable(L, -1)) {
    lua_pushlstring(L, r->pat, r->patlen);
    lua_pushnil(L);
    lua_rawset(L, -3);
  }
  lua_pop(L, 1);
}

/* The object for the pattern string at pidx, from the cache or compiled
   into it; left on the stack top (anchoring it for this call). */
static fm_regex *rx_cached(lua_State *L, int pidx, int oidx, int rex,
                           lua_Integer cf) {
  rx_state *st;
  fm_regex *r;
  int sub, noopts = !rex && (oidx == 0 || lua_isnoneornil(L, oidx));
  if (noopts) {
    /* the common case, kept short: one table lookup */
    lua_pushvalue(L, pidx);
    if (lua_rawget(L, UV_DEFSUB) == LUA_TUSERDATA) {
      r = (fm_regex *)lua_touserdata(L, -1);
      goto hit;
    }
    lua_pop(L, 1);
    lua_pushvalue(L, UV_DEFSUB);
  } else {
    int t;
    if (rex)
      t = lua_rawgeti(L, UV_ROOT, cf);
    else {
      luaL_checktype(L, oidx, LUA_TSTRING);
      lua_pushvalue(L, oidx);
      t = lua_rawget(L, UV_ROOT);
    }
    if (t != LUA_TTABLE) {
      lua_pop(L, 1);
      lua_newtable(L);
      if (rex) {
        lua_pushvalue(L, -1);
        lua_rawseti(L, UV_ROOT, cf);
      } else {
        lua_pushvalue(L, oidx);
        lua_pushvalue(L, -2);
        lua_rawset(L, UV_ROOT);
      }
    }
  }
  sub = lua_gettop(L);
  lua_pushvalue(L, pidx);
  if (lua_rawget(L, sub) == LUA_TUSERDATA) {
    /* the sub-table stays below the object: harmless, saves a rotate */
    r = (fm_regex *)lua_touserdata(L, -1);
    goto hit;
  }
  lua_pop(L, 1);
  st = (rx_state *)lua_touserdata(L, UV_STATE);
  st->misses++;
  if (rex) {
    lua_pushinteger(L, cf);
    r = rx_compile(L, pidx, (uint32_t)cf, 1, lua_gettop(L), NULL, 0, NULL);
  } else if (noopts) {
    lua_pushliteral(L, "");
    r = rx_compile(L, pidx, 0, 0, lua_gettop(L), NULL, 0, NULL);
  } else {
    size_t ol;
    const char *o = lua_tolstring(L, oidx, &ol);
    r = rx_compile(L, pidx, rx_fmopts(L, oidx, o, ol), 0, oidx, NULL, 0, NULL);
  }
  if (st->capacity > 0) {
    lua_pushvalue(L, pidx);
    lua_pushvalue(L, -2);
    lua_rawset(L, sub);
    lru_push(st, r);
    r->incache = 1;
    if (!rex) {
      const char *o = r->keylen > 0 ? r->key : NULL;
      rx_slot *sl = rx_slotof(st, r->pat, o);
      sl->pat = r->pat, sl->opts = o, sl->r = r;
    }
    st->size++;
    while (st->size > st->capacity)
      cache_evict_tail(L, st);
  }
  return r;
hit:
  st = r->st;
  st->hits++;
  if (st->head != r) {
    lru_unlink(st, r);
    lru_push(st, r);
  }
  return r;
}

/* A compiled object of either face at idx, or NULL */
static fm_regex *rx_test_ud(lua_State *L, int idx) {
  fm_regex *r = NULL;
  if (lua_type(L, idx) == LUA_TUSERDATA &&
      lua_rawlen(L, idx) == sizeof(fm_regex)) {
    r = (fm_regex *)lua_touserdata(L, idx);
    if (r->tag != &rx_tag_fm && r->tag != &rx_tag_rex) r = NULL;
  }
  if (r != NULL && r->code == NULL) luaL_error(L, "fastmatch: regex is closed");
  return r;
}

/* fm face: the pattern argument (string or compiled object) */
static fm_regex *fm_arg(lua_State *L, int pidx, int oidx, int nargs) {
  fm_regex *r;
  if (nargs) lua_settop(L, nargs); /* what we push lands above the args */
  if (lua_type(L, pidx) == LUA_TSTRING) return rx_cached(L, pidx, oidx, 0, 0);
  if (lua_type(L, pidx) == LUA_TNUMBER) { /* as string.find: "5" */
    lua_tolstring(L, pidx, NULL);
    return rx_cached(L, pidx, oidx, 0, 0);
  }
  r = rx_test_ud(L, pidx);
  if (r == NULL) luaL_typeerror(L, pidx, "string or compiled regex");
  return r;
}

static fm_regex *check_self(lua_State *L, int rex) {
  fm_regex *r = (fm_regex *)lua_touserdata(L, 1);
  /* fast path (methods are hot): size and class tag, no metatable lookup */
  if (r != NULL && lua_rawlen(L, 1) == sizeof(fm_regex) &&
      r->tag == (rex ? &rx_tag_rex : &rx_tag_fm) && r->code != NULL)
    return r;
  if (r != NULL && (lua_type(L, 1) != LUA_TUSERDATA ||
                    lua_rawlen(L, 1) != sizeof(fm_regex) ||
                    r->tag != (rex ? &rx_tag_rex : &rx_tag_fm)))
    r = NULL;
  if (r == NULL)
    luaL_typeerror(L, 1, rex ? "rex_pcre2_regex" : "fastmatch.regex");
  if (r->code == NULL) luaL_error(L, "fastmatch: regex is closed");
  return r;
}

/* ---------------------------------------------------------------------
** Argument helpers
** ------------------------------------------------------------------- */
/* a string, or a number converted in place (as string.find and lrexlib's
   luaL_checklstring take it); one API call on the hot path */
static const char *rx_subject(lua_State *L, int idx, size_t *n) {
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

static uint32_t rx_ef(lua_State *L, int idx) {
  return (uint32_t)luaL_optinteger(L, idx, 0);
}

/* ---------------------------------------------------------------------
** Pushing results
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
static int push_caps(lua_State *L, const fm_regex *r, const char *s) {
  if (r->ncap == 0) {
    push_cap(L, r, s, 0);
    return 1;
  }
  /* a C function starts with LUA_MINSTACK free slots; our callers have
     used at most 3 of them (start, end, an anchored object) */
  if (r->ncap > LUA_MINSTACK - 3)
    luaL_checkstack(L, (int)r->ncap, "too many captures");
  for (uint32_t i = 1; i <= r->ncap; i++)
    push_cap(L, r, s, i);
  return (int)r->ncap;
}

/* named groups into the table on top.  fm: with duplicate names, the first
   set group wins; rex: the last entry wins, as lrexlib does. */
static void push_names(lua_State *L, const fm_regex *r, const char *s) {
  uint32_t cnt = 0, esz = 0;
  PCRE2_SPTR tab;
  pcre2_pattern_info(r->code, PCRE2_INFO_NAMECOUNT, &cnt);
  if (cnt == 0) return;
  pcre2_pattern_info(r->code, PCRE2_INFO_NAMETABLE, &tab);
  pcre2_pattern_info(r->code, PCRE2_INFO_NAMEENTRYSIZE, &esz);
  for (uint32_t i = 0; i < cnt; i++, tab += esz) {
    uint32_t g = ((uint32_t)tab[0] << 8) | tab[1];
    const char *name = (const char *)tab + 2;
    if (g == 0 || g > r->ncap) continue;
    if (!r->rex && r->ov[2 * g] == PCRE2_UNSET) {
      if (lua_getfield(L, -1, name) != LUA_TNIL) {
        lua_pop(L, 1);
        continue;
      }
      lua_pop(L, 1);
    }
    push_cap(L, r, s, g);
    lua_setfield(L, -2, name);
  }
}

enum { M_TEST, M_FIND, M_MATCH, M_TFIND, M_REXEXEC };

/* off == SIZE_MAX: init lay past the end */
static int rx_find_at(lua_State *L, fm_regex *r, const char *s, size_t n,
                      size_t off, uint32_t ef, int method) {
  int rc;
  if (off == SIZE_MAX) goto nomatch;
  rx_checkutf(L, r, s, n);
  rx_checkinit(L, r, s, n, off);
  rc = rx_exec(r, s, n, off, ef);
  if (rc == 0) goto nomatch;
  if (rc < 0) return rx_raise(L, r, rc);
  switch (method) {
  case M_TEST:
    lua_pushboolean(L, 1);
    return 1;
  case M_MATCH:
    return push_caps(L, r, s);
  case M_FIND:
    lua_pushinteger(L, (lua_Integer)r->ov[0] + 1);
    lua_pushinteger(L, (lua_Integer)r->ov[1]);
    if (r->ncap == 0) return 2;
    return 2 + push_caps(L, r, s);
  case M_TFIND:
    lua_pushinteger(L, (lua_Integer)r->ov[0] + 1);
    lua_pushinteger(L, (lua_Integer)r->ov[1]);
    lua_createtable(L, (int)r->ncap, 0);
    for (uint32_t i = 1; i <= r->ncap; i++) {
      push_cap(L, r, s, i);
      lua_rawseti(L, -2, i);
    }
    push_names(L, r, s);
    return 3;
  default: /* M_REXEXEC: offsets */
    lua_pushinteger(L, (lua_Integer)r->ov[0] + 1);
    lua_pushinteger(L, (lua_Integer)r->ov[1]);
    lua_createtable(L, 2 * (int)r->ncap, 0);
    for (uint32_t i = 1; i <= r->ncap; i++) {
      if (r->ov[2 * i] == PCRE2_UNSET) {
        lua_pushboolean(L, 0);
        lua_rawseti(L, -2, 2 * i - 1);
        lua_pushboolean(L, 0);
        lua_rawseti(L, -2, 2 * i);
      } else {
        lua_pushinteger(L, (lua_Integer)r->ov[2 * i] + 1);
        lua_rawseti(L, -2, 2 * i - 1);
        lua_pushinteger(L, (lua_Integer)r->ov[2 * i + 1]);
        lua_rawseti(L, -2, 2 * i);
      }
    }
    push_names(L, r, s);
    return 3;
  }
nomatch:
  if (method == M_TEST)
    lua_pushboolean(L, 0);
  else
    lua_pushnil(L);
  return 1;
}

/* rx_find_at for test/find/match on an object without UTF prevalidation
   and a start inside the subject: the same results with none of the
   generic plumbing (callgrind: re:find 1371 -> 1277 instructions a call).
   Inlined into each caller, where method is a constant. */
static inline int rx_find_fast(lua_State *L, fm_regex *r, const char *s,
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

static int rx_find(lua_State *L, fm_regex *r, int sidx, int initidx,
                   uint32_t ef, int method) {
  size_t n, off = 0;
  const char *s = rx_subject(L, sidx, &n);
  if (lua_gettop(L) >= initidx && !rx_init(L, initidx, n, &off))
    off = SIZE_MAX;
  return rx_find_at(L, r, s, n, off, ef, method);
}

/* ---------------------------------------------------------------------
** gmatch: Lua 5.4's rule (an empty match right after the previous match
** is skipped), which lrexlib 2.9 follows as well.
** upvalues: object, subject, next offset, end of the last match, ef
** ------------------------------------------------------------------- */
static int gmatch_iter(lua_State *L) {
  fm_regex *r = (fm_regex *)lua_touserdata(L, lua_upvalueindex(1));
  size_t n;
  const char *s = lua_tolstring(L, lua_upvalueindex(2), &n);
  lua_Integer pos = lua_tointeger(L, lua_upvalueindex(3));
  lua_Integer last = lua_tointeger(L, lua_upvalueindex(4));
  uint32_t ef = (uint32_t)lua_tointeger(L, lua_upvalueindex(5));
  if (r->code == NULL) return luaL_error(L, "fastmatch: regex is closed");
  for (;;) {
    int rc;
    size_t ms, me;
    if (pos < 0 || (size_t)pos > n) return 0;
    rc = rx_exec(r, s, n, (size_t)pos, ef);
    if (rc == 0) {
      lua_pushinteger(L, -1);
      lua_replace(L, lua_upvalueindex(3));
      return 0;
    }
    if (rc < 0) return rx_raise(L, r, rc);
    ms = r->ov[0], me = r->ov[1];
    if (me <= ms && (lua_Integer)me == last) {
      pos = (lua_Integer)rx_nextchar(r, s, n, (size_t)pos);
      continue;
    }
    lua_pushinteger(L, me > ms ? (lua_Integer)me
                               : (lua_Integer)rx_nextchar(r, s, n, me));
    lua_replace(L, lua_upvalueindex(3));
    lua_pushinteger(L, (lua_Integer)me);
    lua_replace(L, lua_upvalueindex(4));
    return push_caps(L, r, s);
  }
}

/* the object is on the stack top; leaves the iterator there */
static int rx_gmatch(lua_State *L, fm_regex *r, int sidx, size_t off,
                     uint32_t ef, int past) {
  size_t n;
  const char *s = lua_tolstring(L, sidx, &n);
  rx_checkutf(L, r, s, n);
  if (!past) rx_checkinit(L, r, s, n, off);
  lua_pushvalue(L, sidx);
  lua_pushinteger(L, past ? -1 : (lua_Integer)off);
  lua_pushinteger(L, -1);
  lua_pushinteger(L, (lua_Integer)ef);
  lua_pushcclosure(L, gmatch_iter, 5);
  return 1;
}

/* ---------------------------------------------------------------------
** split
** fm: yields the pieces between matches (matches as gmatch finds them; an
** empty match at the very start or end of the subject does not split);
** at most max pieces when max > 0, the last one holding the rest.
** upvalues: object, subject, piece start (-1: done), last end, count, max
** ------------------------------------------------------------------- */
static int split_iter(lua_State *L) {
  fm_regex *r = (fm_regex *)lua_touserdata(L, lua_upvalueindex(1));
  size_t n;
  const char *s = lua_tolstring(L, lua_upvalueindex(2), &n);
  lua_Integer start = lua_tointeger(L, lua_upvalueindex(3));
  lua_Integer last = lua_tointeger(L, lua_upvalueindex(4));
  lua_Integer count = lua_tointeger(L, lua_upvalueindex(5));
  lua_Integer max = lua_tointeger(L, lua_upvalueindex(6));
  size_t st;
  if (start < 0) return 0;
  if (r->code == NULL) return luaL_error(L, "fastmatch: regex is closed");
  st = (size_t)start;
  if (max <= 0 || count + 1 < max) {
    while (st <= n) {
      size_t ms, me;
      int rc = rx_exec(r, s, n, st, 0);
      if (rc == 0) break;
      if (rc < 0) return rx_raise(L, r, rc);
      ms = r->ov[0], me = r->ov[1];
      if (me <= ms && ((lua_Integer)me == last || ms == 0 || ms >= n)) {
        if (st >= n) break;
        st = rx_nextchar(r, s, n, st);
        continue;
      }
      if (me < ms) me = ms;
      lua_pushinteger(L, (lua_Integer)me);
      lua_replace(L, lua_upvalueindex(3));
      lua_pushinteger(L, (lua_Integer)me);
      lua_replace(L, lua_upvalueindex(4));
      lua_pushinteger(L, count + 1);
      lua_replace(L, lua_upvalueindex(5));
      lua_pushlstring(L, s + start, ms - (size_t)start);
      return 1;
    }
  }
  lua_pushinteger(L, -1);
  lua_replace(L, lua_upvalueindex(3));
  lua_pushlstring(L, s + start, n - (size_t)start);
  return 1;
}

/* rex: lrexlib 2.9's split: each step yields the text before the match and
   the captures (or the match); the last step yields the rest alone.
   upvalues: object, subject, start, incr (-1: done), last end, ef */
static int rexsplit_iter(lua_State *L) {
  fm_regex *r = (fm_regex *)lua_touserdata(L, lua_upvalueindex(1));
  size_t n;
  const char *s = lua_tolstring(L, lua_upvalueindex(2), &n);
  lua_Integer start = lua_tointeger(L, lua_upvalueindex(3));
  lua_Integer incr = lua_tointeger(L, lua_upvalueindex(4));
  lua_Integer last = lua_tointeger(L, lua_upvalueindex(5));
  uint32_t ef = (uint32_t)lua_tointeger(L, lua_upvalueindex(6));
  if (incr < 0) return 0;
  if (r->code == NULL) return luaL_error(L, "fastmatch: regex is closed");
  for (;;) {
    size_t off = (size_t)start + (size_t)incr, ms, me;
    int rc;
    if (off > n) break;
    rc = rx_exec(r, s, n, off, ef);
    if (rc == 0) break;
    if (rc < 0) return rx_raise(L, r, rc);
    ms = r->ov[0], me = r->ov[1];
    if (me <= ms && (lua_Integer)me == last) {
      incr = (lua_Integer)(rx_nextchar(r, s, n, off) - (size_t)start);
      continue;
    }
    lua_pushinteger(L, (lua_Integer)me);
    lua_replace(L, lua_upvalueindex(3));
    lua_pushinteger(L,
                    me > ms ? 0 : (lua_Integer)(rx_nextchar(r, s, n, me) - me));
    lua_replace(L, lua_upvalueindex(4));
    lua_pushinteger(L, (lua_Integer)me);
    lua_replace(L, lua_upvalueindex(5));
    lua_pushlstring(L, s + start, ms > (size_t)start ? ms - (size_t)start : 0);
    return 1 + push_caps(L, r, s);
  }
  lua_pushinteger(L, -1);
  lua_replace(L, lua_upvalueindex(4));
  lua_pushlstring(L, s + start, n - (size_t)start);
  return 1;
}

/* ---------------------------------------------------------------------
** count and gsub share the loop of lrexlib 2.9 / Lua 5.4: after an empty
** match, copy one character and go on; an empty match where the previous
** one ended is not a match.
** ------------------------------------------------------------------- */
static int rx_count(lua_State *L, fm_regex *r, int sidx, uint32_t ef) {
  size_t n, st = 0;
  const char *s = rx_subject(L, sidx, &n);
  lua_Integer cnt = 0;
  PCRE2_SIZE last = PCRE2_UNSET;
  rx_checkutf(L, r, s, n);
  while (st <= n) {
    size_t from, to;
    int rc = rx_exec(r, s, n, st, ef);
    if (rc == 0) break;
    if (rc < 0) return rx_raise(L, r, rc);
    from = r->ov[0], to = r->ov[1];
    if (to < from) to = from;
    if (to == last) {
      if (st < n) {
        st = rx_nextchar(r, s, n, st);
        continue;
      }
      break;
    }
    last = to;
    cnt++;
    if (st < from) st = from;
    if (st < to)
      st = to;
    else if (st < n)
      st = rx_nextchar(r, s, n, st);
    else
      break;
  }
  lua_pushinteger(L, cnt);
  return 1;
}

/* A growable output buffer owned by a userdata on the stack, so that Lua
   code (replacement functions) may run between appends and an error frees
   it through __gc. */
typedef struct rx_buf {
  char *p;
  size_t n, cap;
} rx_buf;

static int buf_gc(lua_State *L) {
  rx_buf *b = (rx_buf *)lua_touserdata(L, 1);
  if (b && b->p) fm_free(b->p);
  if (b) b->p = NULL, b->n = b->cap = 0;
  return 0;
}

static rx_buf *buf_new(lua_State *L) {
  rx_buf *b = (rx_buf *)lua_newuserdatauv(L, sizeof(rx_buf), 0);
  b->p = NULL, b->n = b->cap = 0;
  luaL_setmetatable(L, RX_BUF_MT);
  return b;
}

static void buf_add(lua_State *L, rx_buf *b, const char *s, size_t k) {
  if (k == 0) return;
  if (b->cap - b->n < k) {
    size_t need = b->n + k, cap = b->cap ? b->cap : 256;
    char *p;
    if (need < b->n) luaL_error(L, "fastmatch: result too large");
    while (cap < need)
      cap = cap * 2 > cap ? cap * 2 : need;
    p = (char *)fm_realloc(b->p, cap);
    if (p == NULL) luaL_error(L, "fastmatch: not enough memory");
    b->p = p, b->cap = cap;
  }
  memcpy(b->p + b->n, s, k);
  b->n += k;
}

static void buf_addvalue(lua_State *L, rx_buf *b, int idx) {
  size_t k;
  const char *v = lua_tolstring(L, idx, &k);
  buf_add(L, b, v, k);
}

/* A parsed template whose group references are resolved for r.
   NAME items become (first name-table entry, entry count). */
typedef struct rx_tpl {
  fm_tpl_item *it;
  size_t n;
  const char *t;
} rx_tpl;

static void tpl_load(lua_State *L, fm_regex *r, int ridx, rx_tpl *tp,
                     fm_tpl_item *local, size_t nlocal) {
  size_t tl, err = 0;
  const char *t = lua_tolstring(L, ridx, &tl);
  int mode = r->rex ? FM_TPL_REX : FM_TPL_LUA;
  size_t k = fm_tpl_parse(t, tl, mode, local, nlocal, &err);
  if (k == (size_t)-1)
    luaL_error(L,
               "fastmatch: invalid use of '%%' in replacement string at "
               "offset %I",
               (lua_Integer)err);
  tp->it = local;
  if (k > nlocal) { /* a long template: items in a userdata left on the
                       stack, which the caller's frame keeps alive */
    tp->it = (fm_tpl_item *)lua_newuserdatauv(L, k * sizeof(fm_tpl_item), 0);
    fm_tpl_parse(t, tl, mode, tp->it, k, &err);
  }
  tp->n = k;
  tp->t = t;
  for (size_t i = 0; i < k; i++) {
    fm_tpl_item *x = &tp->it[i];
    if (x->kind == FM_TPL_GROUP) {
      if (x->a > r->ncap) {
        if (x->a == 1 && r->ncap == 0)
          x->a = 0;
        else if (r->rex)
          luaL_error(L, "invalid capture index");
        else
          luaL_error(L,
                     "fastmatch: invalid capture index %%%d in "
                     "replacement string",
                     (int)x->a);
      }
    } else if (x->kind == FM_TPL_NAME) {
      uint32_t cnt = 0, esz = 0, first = 0, found = 0;
      PCRE2_SPTR tab;
      pcre2_pattern_info(r->code, PCRE2_INFO_NAMECOUNT, &cnt);
      if (cnt) {
        pcre2_pattern_info(r->code, PCRE2_INFO_NAMETABLE, &tab);
        pcre2_pattern_info(r->code, PCRE2_INFO_NAMEENTRYSIZE, &esz);
      }
      for (uint32_t e = 0; e < cnt; e++) {
        const char *nm = (const char *)tab + (size_t)e * esz + 2;
        if (strncmp(nm, t + x->a, x->b) == 0 && nm[x->b] == '\0') {
          if (found == 0) first = e;
          found++;
        }
      }
      if (found == 0) {
        lua_pushlstring(L, t + x->a, x->b);
        luaL_error(L,
                   "fastmatch: unknown group name '%s' in replacement "
                   "string",
                   lua_tostring(L, -1));
      }
      x->a = first, x->b = found;
    }
  }
}

static void tpl_expand(lua_State *L, const fm_regex *r, const rx_tpl *tp,
                       const char *s, rx_buf *b) {
  for (size_t i = 0; i < tp->n; i++) {
    const fm_tpl_item *x = &tp->it[i];
    uint32_t g;
    if (x->kind == FM_TPL_TEXT) {
      buf_add(L, b, tp->t + x->a, x->b);
      continue;
    }
    if (x->kind == FM_TPL_GROUP)
      g = (uint32_t)x->a;
    else { /* first set group of that name */
      uint32_t esz = 0;
      PCRE2_SPTR tab;
      pcre2_pattern_info(r->code, PCRE2_INFO_NAMETABLE, &tab);
      pcre2_pattern_info(r->code, PCRE2_INFO_NAMEENTRYSIZE, &esz);
      g = 0;
      for (size_t e = x->a; e < x->a + x->b; e++) {
        PCRE2_SPTR en = tab + e * esz;
        uint32_t gg = ((uint32_t)en[0] << 8) | en[1];
        if (gg <= r->ncap && r->ov[2 * gg] != PCRE2_UNSET) {
          g = gg;
          break;
        }
      }
      if (g == 0) continue;
    }
    if (r->ov[2 * g] != PCRE2_UNSET && r->ov[2 * g + 1] > r->ov[2 * g])
      buf_add(L, b, s + r->ov[2 * g], r->ov[2 * g + 1] - r->ov[2 * g]);
  }
}

/* Push the replacement value of a table/function repl for this match. */
static void repl_value(lua_State *L, fm_regex *r, int ridx, int rtype,
                       const char *s) {
  if (rtype == LUA_TTABLE) {
    push_cap(L, r, s, r->ncap > 0 ? 1 : 0);
    lua_gettable(L, ridx);
  } else {
    int k;
    lua_pushvalue(L, ridx);
    k = push_caps(L, r, s);
    lua_call(L, k, 1);
  }
}

/* gsub(s, repl, n): nidx holds n (fm: integer; rex: integer or a control
   function).  Returns result, matches, substitutions. */
static int rx_gsub(lua_State *L, fm_regex *r, int sidx, int ridx, int nidx,
                   uint32_t ef) {
  size_t n, st = 0;
  const char *s = rx_subject(L, sidx, &n);
  int rtype = lua_type(L, ridx);
  lua_Integer max = -1, nmatch = 0, nsub = 0;
  int ctl = 0;
  rx_tpl tp = {NULL, 0, NULL};
  fm_tpl_item local[16];
  rx_buf *out, *tmp = NULL;
  PCRE2_SIZE last = PCRE2_UNSET;
  if (rtype == LUA_TNUMBER) {
    lua_tolstring(L, ridx, NULL); /* converts in place, as string.gsub */
    rtype = LUA_TSTRING;
  }
  if (rtype != LUA_TSTRING && rtype != LUA_TTABLE && rtype != LUA_TFUNCTION)
    luaL_typeerror(L, ridx, "string, table or function");
  if (!lua_isnoneornil(L, nidx)) {
    if (r->rex && lua_isfunction(L, nidx))
      ctl = 1;
    else if (r->rex && !lua_isnumber(L, nidx))
      luaL_typeerror(L, nidx, "number or function");
    else {
      max = luaL_checkinteger(L, nidx);
      if (max < 0) max = 0;
    }
  }
  rx_checkutf(L, r, s, n);
  if (rtype == LUA_TSTRING) tpl_load(L, r, ridx, &tp, local, 16);
  out = buf_new(L);
  if (ctl) tmp = buf_new(L);
  while ((max < 0 || nmatch < max) && st <= n) {
    size_t from, to;
    int rc = rx_exec(r, s, n, st, ef), sub = 0;
    if (rc == 0) break;
    if (rc < 0) return rx_raise(L, r, rc);
    from = r->ov[0], to = r->ov[1];
    if (to < from) to = from;
    if (to == last) { /* empty match where the last one ended */
      if (st < n) {
        size_t nx = rx_nextchar(r, s, n, st);
        buf_add(L, out, s + st, nx - st);
        st = nx;
        continue;
      }
      break;
    }
    last = to;
    nmatch++;
    if (st < from) {
      buf_add(L, out, s + st, from - st);
      st = from;
    }
    if (!ctl) {
      if (rtype == LUA_TSTRING) {
        tpl_expand(L, r, &tp, s, out);
        sub = 1;
      } else {
        repl_value(L, r, ridx, rtype, s);
        if (lua_isstring(L, -1)) {
          buf_addvalue(L, out, -1);
          sub = 1;
        } else if (!lua_toboolean(L, -1))
          buf_add(L, out, s + from, to - from);
        else
          return luaL_error(L, "invalid replacement value (a %s)",
                            luaL_typename(L, -1));
        lua_pop(L, 1);
      }
    } else { /* lrexlib's control function: n(from, to, repl) */
      int sub1;
      if (rtype == LUA_TSTRING) {
        tmp->n = 0;
        tpl_expand(L, r, &tp, s, tmp);
        lua_pushlstring(L, tmp->p ? tmp->p : "", tmp->n); /* rep1 */
        lua_pushvalue(L, -1);                             /* raw */
        sub1 = 1;
      } else {
        repl_value(L, r, ridx, rtype, s); /* raw */
        if (lua_isstring(L, -1)) {
          lua_pushvalue(L, -1);
          sub1 = 1;
        } else if (!lua_toboolean(L, -1)) {
          lua_pushlstring(L, s + from, to - from);
          sub1 = 0;
        } else
          return luaL_error(L, "invalid replacement value (a %s)",
                            luaL_typename(L, -1));
        lua_insert(L, -2); /* rep1 below raw */
      }
      lua_pushvalue(L, nidx);
      lua_pushinteger(L, (lua_Integer)from + 1);
      lua_pushinteger(L, (lua_Integer)to);
      lua_pushvalue(L, -4);
      lua_call(L, 3, 2); /* ... rep1 raw r1 r2 */
      if (lua_isstring(L, -2)) {
        buf_addvalue(L, out, -2);
        sub = 1;
      } else if (lua_toboolean(L, -2)) {
        buf_addvalue(L, out, -4);
        sub = sub1;
      } else {
        buf_add(L, out, s + from, to - from);
        sub = 0;
      }
      if (lua_type(L, -1) == LUA_TNUMBER) {
        lua_Integer k = lua_tointeger(L, -1);
        max = nmatch + (k < 0 ? 0 : k);
        ctl = 0;
      } else if (lua_toboolean(L, -1)) {
        max = -1;
        ctl = 0;
      }
      lua_pop(L, 4);
    }
    nsub += sub;
    if (st < to)
      st = to;
    else if (st < n) {
      size_t nx = rx_nextchar(r, s, n, st);
      buf_add(L, out, s + st, nx - st);
      st = nx;
    } else
      break;
  }
  if (st < n) buf_add(L, out, s + st, n - st);
  lua_pushlstring(L, out->p ? out->p : "", out->n);
  fm_free(out->p);
  out->p = NULL, out->n = out->cap = 0;
  lua_pushinteger(L, nmatch);
  lua_pushinteger(L, nsub);
  return 3;
}

/* ---------------------------------------------------------------------
** fm face: module functions
** ------------------------------------------------------------------- */
/* fm_arg leaves a cached object on the top; make sure there is one */
static fm_regex *fm_arg_top(lua_State *L, int pidx, int oidx, int nargs) {
  fm_regex *r = fm_arg(L, pidx, oidx, nargs);
  if (lua_type(L, pidx) != LUA_TSTRING) lua_pushvalue(L, pidx);
  return r;
}

/* find/match/test/exec (s, pattern, [init], [opts]): the arguments are
   read before the cached object is pushed, so no settop is needed */
static inline int fm_findfunc(lua_State *L, int method) {
  size_t n, pl, off = 0;
  const char *s = rx_subject(L, 1, &n), *p;
  int top = lua_gettop(L), t4 = LUA_TNONE;
  fm_regex *r;
  if (top >= 3 && !rx_init(L, 3, n, &off)) off = SIZE_MAX;
  if (top <= 4 && (p = lua_tolstring(L, 2, &pl)) != NULL &&
      (top < 4 || (t4 = lua_type(L, 4)) == LUA_TSTRING || t4 == LUA_TNIL)) {
    /* the hot case: string pattern, cached, with or without an options
       string.  The object is not anchored on the stack: nothing below runs
       Lua code or compiles, so it stays in the cache (which holds it) for
       the whole call. */
    rx_state *st = (rx_state *)lua_touserdata(L, UV_STATE);
    const char *o = NULL;
    rx_slot *sl;
    if (top == 4 && t4 == LUA_TSTRING) {
      size_t ol;
      o = lua_tolstring(L, 4, &ol);
      if (ol == 0) o = NULL; /* "" is no options: the same object */
    }
    sl = rx_slotof(st, p, o);
    if (sl->pat == p && sl->opts == o)
      r = sl->r;
    else {
      if (o != NULL) {
        lua_pushvalue(L, 4);
        if (lua_rawget(L, UV_ROOT) != LUA_TTABLE) {
          lua_pop(L, 1);
          goto slow;
        }
        lua_pushvalue(L, 2);
        if (lua_rawget(L, -2) != LUA_TUSERDATA) {
          lua_pop(L, 2);
          goto slow;
        }
      } else {
        lua_pushvalue(L, 2);
        if (lua_rawget(L, UV_DEFSUB) != LUA_TUSERDATA) {
          lua_pop(L, 1);
          goto slow;
        }
      }
      r = (fm_regex *)lua_touserdata(L, -1);
      if (r->pat == p && (o == NULL ? r->keylen == 0 : r->key == o))
        sl->pat = p, sl->opts = o, sl->r = r;
    }
    st->hits++;
    if (st->head != r) {
      lru_unlink(st, r);
      lru_push(st, r);
    }
    if (r->literal && method == M_FIND && off != SIZE_MAX) {
      /* a literal: what string.find(s, p, init, true) does */
      const char *at = rx_litfind(r, s + off, n - off);
      if (at == NULL) {
        lua_pushnil(L);
        return 1;
      }
      lua_pushinteger(L, (lua_Integer)(at - s) + 1);
      lua_pushinteger(L, (lua_Integer)(at - s + r->patlen));
      return 2;
    }
    if (method != M_TFIND && !r->prevalidate && off != SIZE_MAX)
      return rx_find_fast(L, r, s, n, off, method);
    return rx_find_at(L, r, s, n, off, 0, method);
  }
slow:
  r = fm_arg(L, 2, 4, 0);
  return rx_find_at(L, r, s, n, off, 0, method);
}

static int l_compile(lua_State *L) {
  uint32_t f = 0;
  luaL_checktype(L, 1, LUA_TSTRING);
  if (lua_isnoneornil(L, 2)) {
    lua_settop(L, 1);
    lua_pushliteral(L, "");
  } else {
    size_t ol;
    const char *o;
    luaL_checktype(L, 2, LUA_TSTRING);
    o = lua_tolstring(L, 2, &ol);
    f = rx_fmopts(L, 2, o, ol);
  }
  rx_compile(L, 1, f, 0, 2, NULL, 0, NULL);
  return 1;
}

static int l_find(lua_State *L) { return fm_findfunc(L, M_FIND); }
static int l_match(lua_State *L) { return fm_findfunc(L, M_MATCH); }
static int l_test(lua_State *L) { return fm_findfunc(L, M_TEST); }
static int l_exec(lua_State *L) { return fm_findfunc(L, M_TFIND); }

static int fm_gmatch_common(lua_State *L, fm_regex *r, int sidx, int iidx) {
  size_t n, off = 0;
  int ok;
  rx_subject(L, sidx, &n);
  ok = rx_init(L, iidx, n, &off);
  return rx_gmatch(L, r, sidx, off, 0, !ok);
}

static int l_gmatch(lua_State *L) {
  fm_regex *r;
  rx_subject(L, 1, NULL);
  r = fm_arg_top(L, 2, 4, 4);
  return fm_gmatch_common(L, r, 1, 3);
}

static int l_gsub(lua_State *L) {
  fm_regex *r = fm_arg(L, 2, 5, 5);
  return rx_gsub(L, r, 1, 3, 4, 0);
}

static int fm_split_common(lua_State *L, fm_regex *r, int sidx, int midx) {
  size_t n;
  lua_Integer max = luaL_optinteger(L, midx, 0);
  rx_subject(L, sidx, &n);
  rx_checkutf(L, r, lua_tostring(L, sidx), n);
  lua_pushvalue(L, sidx);
  lua_pushinteger(L, 0);
  lua_pushinteger(L, -1);
  lua_pushinteger(L, 0);
  lua_pushinteger(L, max);
  lua_pushcclosure(L, split_iter, 6);
  return 1;
}

static int l_split(lua_State *L) {
  fm_regex *r;
  rx_subject(L, 1, NULL);
  r = fm_arg_top(L, 2, 4, 4);
  return fm_split_common(L, r, 1, 3);
}

static int l_count(lua_State *L) {
  fm_regex *r = fm_arg(L, 2, 3, 3);
  return rx_count(L, r, 1, 0);
}

static int l_cache_size(lua_State *L) {
  rx_state *st = (rx_state *)lua_touserdata(L, UV_STATE);
  if (!lua_isnoneornil(L, 1)) {
    st->capacity = fm_checksize(L, 1);
    while (st->size > st->capacity)
      cache_evict_tail(L, st);
  }
  lua_pushinteger(L, (lua_Integer)st->capacity);
  return 1;
}

static int l_cache_stats(lua_State *L) {
  rx_state *st = (rx_state *)lua_touserdata(L, UV_STATE);
  lua_createtable(L, 0, 5);
  lua_pushinteger(L, (lua_Integer)st->size);
  lua_setfield(L, -2, "size");
  lua_pushinteger(L, (lua_Integer)st->capacity);
  lua_setfield(L, -2, "capacity");
  lua_pushinteger(L, st->hits);
  lua_setfield(L, -2, "hits");
  lua_pushinteger(L, st->misses);
  lua_setfield(L, -2, "misses");
  lua_pushinteger(L, st->evictions);
  lua_setfield(L, -2, "evictions");
  return 1;
}

static void limits_apply(rx_state *st) {
  pcre2_set_match_limit(st->mctx, st->match_limit);
  pcre2_set_depth_limit(st->mctx, st->depth_limit);
  pcre2_set_heap_limit(st->mctx, st->heap_limit);
}

static uint32_t limit_field(lua_State *L, const char *k, uint32_t cur) {
  lua_Integer v;
  int isnum;
  if (lua_getfield(L, 1, k) == LUA_TNIL) {
    lua_pop(L, 1);
    return cur;
  }
  v = lua_tointegerx(L, -1, &isnum);
  if (!isnum || v < 1 || v > (lua_Integer)UINT32_MAX)
    luaL_error(L, "bad field '%s' to 'limits' (integer in [1, %I] expected)", k,
               (lua_Integer)UINT32_MAX);
  lua_pop(L, 1);
  return (uint32_t)v;
}

/* fm.limits([{match=, depth=, heap=}]) -> the limits now in force
   (heap in KiB, as PCRE2 counts it) */
static int l_limits(lua_State *L) {
  rx_state *st = (rx_state *)lua_touserdata(L, UV_STATE);
  if (!lua_isnoneornil(L, 1)) {
    luaL_checktype(L, 1, LUA_TTABLE);
    st->match_limit = limit_field(L, "match", st->match_limit);
    st->depth_limit = limit_field(L, "depth", st->depth_limit);
    st->heap_limit = limit_field(L, "heap", st->heap_limit);
    limits_apply(st);
  }
  lua_createtable(L, 0, 3);
  lua_pushinteger(L, st->match_limit);
  lua_setfield(L, -2, "match");
  lua_pushinteger(L, st->depth_limit);
  lua_setfield(L, -2, "depth");
  lua_pushinteger(L, st->heap_limit);
  lua_setfield(L, -2, "heap");
  return 1;
}

/* ---------------------------------------------------------------------
** fm face: methods
** ------------------------------------------------------------------- */
/* re:test/find/match(s [, init]): the class check of check_self inline,
   then rx_find_fast; UTF objects (prevalidation) take the generic path */
static inline int m_findfunc(lua_State *L, int method) {
  fm_regex *r = (fm_regex *)lua_touserdata(L, 1);
  size_t n, off = 0;
  const char *s;
  if (r == NULL || lua_rawlen(L, 1) != sizeof(fm_regex) ||
      r->tag != &rx_tag_fm || r->code == NULL || r->prevalidate)
    return rx_find(L, check_self(L, 0), 2, 3, 0, method);
  s = rx_subject(L, 2, &n);
  if (lua_gettop(L) >= 3 && !rx_init(L, 3, n, &off))
    return rx_find_at(L, r, s, n, SIZE_MAX, 0, method); /* past the end */
  return rx_find_fast(L, r, s, n, off, method);
}
static int m_test(lua_State *L) { return m_findfunc(L, M_TEST); }
static int m_find(lua_State *L) { return m_findfunc(L, M_FIND); }
static int m_match(lua_State *L) { return m_findfunc(L, M_MATCH); }
static int m_exec(lua_State *L) {
  return rx_find(L, check_self(L, 0), 2, 3, 0, M_TFIND);
}
static int m_gmatch(lua_State *L) {
  fm_regex *r = check_self(L, 0);
  rx_subject(L, 2, NULL);
  lua_settop(L, 3); /* the object pushed next must not pose as init */
  lua_pushvalue(L, 1);
  return fm_gmatch_common(L, r, 2, 3);
}
static int m_gsub(lua_State *L) {
  return rx_gsub(L, check_self(L, 0), 2, 3, 4, 0);
}
static int m_split(lua_State *L) {
  fm_regex *r = check_self(L, 0);
  rx_subject(L, 2, NULL);
  lua_settop(L, 3); /* the object pushed next must not pose as max */
  lua_pushvalue(L, 1);
  return fm_split_common(L, r, 2, 3);
}
static int m_count(lua_State *L) { return rx_count(L, check_self(L, 0), 2, 0); }

static int m_info(lua_State *L) {
  fm_regex *r = check_self(L, 0);
  uint32_t cnt = 0, esz = 0;
  PCRE2_SPTR tab;
  lua_createtable(L, 0, 5);
  lua_pushinteger(L, r->ncap);
  lua_setfield(L, -2, "captures");
  lua_pushboolean(L, r->jit);
  lua_setfield(L, -2, "jit");
  lua_pushboolean(L, r->literal);
  lua_setfield(L, -2, "literal");
  lua_pushinteger(L, r->minlen);
  lua_setfield(L, -2, "minlength");
  lua_newtable(L);
  pcre2_pattern_info(r->code, PCRE2_INFO_NAMECOUNT, &cnt);
  if (cnt) {
    pcre2_pattern_info(r->code, PCRE2_INFO_NAMETABLE, &tab);
    pcre2_pattern_info(r->code, PCRE2_INFO_NAMEENTRYSIZE, &esz);
    for (uint32_t i = 0, k = 0; i < cnt; i++) {
      const char *nm = (const char *)tab + (size_t)i * esz + 2;
      if (k > 0) { /* duplicate names are listed once */
        lua_rawgeti(L, -1, k);
        if (strcmp(lua_tostring(L, -1), nm) == 0) {
          lua_pop(L, 1);
          continue;
        }
        lua_pop(L, 1);
      }
      lua_pushstring(L, nm);
      lua_rawseti(L, -2, ++k);
    }
  }
  lua_setfield(L, -2, "names");
  return 1;
}

static int fm_tostring(lua_State *L) {
  fm_regex *r = (fm_regex *)lua_touserdata(L, 1);
  if (r->code == NULL)
    lua_pushliteral(L, "fastmatch.regex (closed)");
  else {
    lua_getiuservalue(L, 1, 1);
    lua_pushfstring(L, "fastmatch.regex (%p): %s", (void *)r,
                    lua_tostring(L, -1));
  }
  return 1;
}

/* ---------------------------------------------------------------------
** rex face (lrexlib 2.9 rex_pcre2)
** ------------------------------------------------------------------- */
#define F(x)                                                                   \
  { #x, PCRE2_##x }
static const struct {
  const char *name;
  int value; /* as int, like lrexlib: PCRE2_ANCHORED reads negative */
} rx_flagtab[] = {F(ALLOW_EMPTY_CLASS),
                  F(ALT_BSUX),
                  F(ALT_CIRCUMFLEX),
                  F(ALT_VERBNAMES),
                  F(ANCHORED),
                  F(AUTO_CALLOUT),
                  F(BSR_ANYCRLF),
                  F(BSR_UNICODE),
                  F(CASELESS),
                  F(DFA_RESTART),
                  F(DFA_SHORTEST),
                  F(DOLLAR_ENDONLY),
                  F(DOTALL),
                  F(DUPNAMES),
                  F(ERROR_BADDATA),
                  F(ERROR_BADMAGIC),
                  F(ERROR_BADMODE),
                  F(ERROR_BADOFFSET),
                  F(ERROR_BADOFFSETLIMIT),
                  F(ERROR_BADOPTION),
                  F(ERROR_BADREPESCAPE),
                  F(ERROR_BADREPLACEMENT),
                  F(ERROR_BADSERIALIZEDDATA),
                  F(ERROR_BADSUBSPATTERN),
                  F(ERROR_BADSUBSTITUTION),
                  F(ERROR_BADUTFOFFSET),
                  F(ERROR_CALLOUT),
                  F(ERROR_DFA_BADRESTART),
                  F(ERROR_DFA_RECURSE),
                  F(ERROR_DFA_UCOND),
                  F(ERROR_DFA_UFUNC),
                  F(ERROR_DFA_UITEM),
                  F(ERROR_DFA_WSSIZE),
                  F(ERROR_INTERNAL),
                  F(ERROR_JIT_BADOPTION),
                  F(ERROR_JIT_STACKLIMIT),
                  F(ERROR_MATCHLIMIT),
                  F(ERROR_MIXEDTABLES),
                  F(ERROR_NOMATCH),
                  F(ERROR_NOMEMORY),
                  F(ERROR_NOSUBSTRING),
                  F(ERROR_NOUNIQUESUBSTRING),
                  F(ERROR_NULL),
                  F(ERROR_PARTIAL),
                  F(ERROR_RECURSELOOP),
                  F(ERROR_RECURSIONLIMIT),
                  F(ERROR_REPMISSINGBRACE),
                  F(ERROR_TOOMANYREPLACE),
                  F(ERROR_UNAVAILABLE),
                  F(ERROR_UNSET),
                  F(ERROR_UTF16_ERR1),
                  F(ERROR_UTF16_ERR2),
                  F(ERROR_UTF16_ERR3),
                  F(ERROR_UTF32_ERR1),
                  F(ERROR_UTF32_ERR2),
                  F(ERROR_UTF8_ERR1),
                  F(ERROR_UTF8_ERR10),
                  F(ERROR_UTF8_ERR11),
                  F(ERROR_UTF8_ERR12),
                  F(ERROR_UTF8_ERR13),
                  F(ERROR_UTF8_ERR14),
                  F(ERROR_UTF8_ERR15),
                  F(ERROR_UTF8_ERR16),
                  F(ERROR_UTF8_ERR17),
                  F(ERROR_UTF8_ERR18),
                  F(ERROR_UTF8_ERR19),
                  F(ERROR_UTF8_ERR2),
                  F(ERROR_UTF8_ERR20),
                  F(ERROR_UTF8_ERR21),
                  F(ERROR_UTF8_ERR3),
                  F(ERROR_UTF8_ERR4),
                  F(ERROR_UTF8_ERR5),
                  F(ERROR_UTF8_ERR6),
                  F(ERROR_UTF8_ERR7),
                  F(ERROR_UTF8_ERR8),
                  F(ERROR_UTF8_ERR9),
                  F(EXTENDED),
                  F(FIRSTLINE),
                  F(INFO_ALLOPTIONS),
                  F(INFO_ARGOPTIONS),
                  F(INFO_BACKREFMAX),
                  F(INFO_BSR),
                  F(INFO_CAPTURECOUNT),
                  F(INFO_FIRSTBITMAP),
                  F(INFO_FIRSTCODETYPE),
                  F(INFO_FIRSTCODEUNIT),
                  F(INFO_HASBACKSLASHC),
                  F(INFO_HASCRORLF),
                  F(INFO_JCHANGED),
                  F(INFO_JITSIZE),
                  F(INFO_LASTCODETYPE),
                  F(INFO_LASTCODEUNIT),
                  F(INFO_MATCHEMPTY),
                  F(INFO_MATCHLIMIT),
                  F(INFO_MAXLOOKBEHIND),
                  F(INFO_MINLENGTH),
                  F(INFO_NAMECOUNT),
                  F(INFO_NAMEENTRYSIZE),
                  F(INFO_NAMETABLE),
                  F(INFO_NEWLINE),
                  F(INFO_RECURSIONLIMIT),
                  F(INFO_SIZE),
                  F(JIT_COMPLETE),
                  F(JIT_PARTIAL_HARD),
                  F(JIT_PARTIAL_SOFT),
                  F(MAJOR),
                  F(MATCH_UNSET_BACKREF),
                  F(MINOR),
                  F(MULTILINE),
                  F(NEVER_BACKSLASH_C),
                  F(NEVER_UCP),
                  F(NEVER_UTF),
                  F(NEWLINE_ANY),
                  F(NEWLINE_ANYCRLF),
                  F(NEWLINE_CR),
                  F(NEWLINE_CRLF),
                  F(NEWLINE_LF),
                  F(NOTBOL),
                  F(NOTEMPTY),
                  F(NOTEMPTY_ATSTART),
                  F(NOTEOL),
                  F(NO_AUTO_CAPTURE),
                  F(NO_AUTO_POSSESS),
                  F(NO_DOTSTAR_ANCHOR),
                  F(NO_JIT),
                  F(NO_START_OPTIMIZE),
                  F(NO_UTF_CHECK),
                  F(PARTIAL_HARD),
                  F(PARTIAL_SOFT),
                  F(SUBSTITUTE_EXTENDED),
                  F(SUBSTITUTE_GLOBAL),
                  F(SUBSTITUTE_OVERFLOW_LENGTH),
                  F(SUBSTITUTE_UNKNOWN_UNSET),
                  F(SUBSTITUTE_UNSET_EMPTY),
                  F(UCP),
                  F(UNGREEDY),
                  F(USE_OFFSET_LIMIT),
                  F(UTF),
                  {NULL, 0}};
#undef F

static const char *rx_errname(int code) {
  for (int i = 0; rx_flagtab[i].name; i++)
    if (strncmp(rx_flagtab[i].name, "ERROR_", 6) == 0 &&
        rx_flagtab[i].value == code)
      return rx_flagtab[i].name;
  return NULL;
}

static uint32_t rex_cf(lua_State *L, int idx) {
  switch (lua_type(L, idx)) {
  case LUA_TNONE:
  case LUA_TNIL:
    return 0;
  case LUA_TNUMBER:
    return (uint32_t)lua_tointeger(L, idx);
  case LUA_TSTRING: {
    size_t n;
    const char *s = lua_tolstring(L, idx, &n);
    uint32_t f = 0;
    for (size_t i = 0; i < n; i++) f |= rx_letter(s[i], RX_REX_LETTERS);
    return f;
  }
  default:
    return (uint32_t)luaL_typeerror(L, idx, "number or string");
  }
}

static const uint8_t *rex_tables(lua_State *L, int idx) {
  const uint8_t **p = (const uint8_t **)luaL_testudata(L, idx, RX_TABLES_MT);
  if (p == NULL) luaL_argerror(L, idx, "not a chartables");
  return *p;
}

/* lrexlib checks every argument, in order, before it compiles or matches
   (checkarg_* in its algo.h); these do the same so that the first bad
   argument is the one reported, and a find whose init lies past the end
   returns nil without compiling the pattern. */

/* A subject: a string, or a number converted in place (lrexlib's
   lua_tolstring); lrexlib's table/userdata subjects with a topointer
   method are not supported. */
static void rex_subject(lua_State *L, int idx) {
  switch (lua_type(L, idx)) {
  case LUA_TSTRING:
    return;
  case LUA_TNUMBER:
    lua_tolstring(L, idx, NULL);
    return;
  case LUA_TTABLE:
  case LUA_TUSERDATA:
    luaL_argerror(L, idx,
                  "a table or userdata subject (lrexlib's topointer) is not "
                  "supported by fastmatch.rex");
    return;
  default:
    luaL_typeerror(L, idx, "string, table or userdata");
  }
}

/* A pattern: string, number (converted) or compiled object */
static void rex_pattern(lua_State *L, int idx) {
  if (lua_type(L, idx) == LUA_TNUMBER)
    lua_tolstring(L, idx, NULL);
  else if (lua_type(L, idx) != LUA_TSTRING && rx_test_ud(L, idx) == NULL)
    luaL_typeerror(L, idx, "string or rex_pcre2_regex");
}

/* lo: nil, a locale name (any string or number) or maketables() tables */
static void rex_lo(lua_State *L, int idx) {
  if (!lua_isnoneornil(L, idx) && !lua_isstring(L, idx)) rex_tables(L, idx);
}

/* The rex pattern argument: string (cached unless lo is given) or object;
   leaves the object on the stack top. */
static fm_regex *rex_arg(lua_State *L, int pidx, int cfidx, int loidx) {
  fm_regex *r;
  lua_settop(L, loidx); /* what we push lands above the arguments */
  if (lua_type(L, pidx) == LUA_TSTRING || lua_type(L, pidx) == LUA_TNUMBER) {
    uint32_t cf = rex_cf(L, cfidx);
    lua_tolstring(L, pidx, NULL);
    if (loidx && !lua_isnoneornil(L, loidx)) {
      lua_pushinteger(L, cf);
      if (lua_isstring(L, loidx))
        r = rx_compile(L, pidx, cf, 1, lua_gettop(L), NULL, 0,
                       lua_tostring(L, loidx));
      else
        r = rx_compile(L, pidx, cf, 1, lua_gettop(L), rex_tables(L, loidx),
                       loidx, NULL);
      lua_remove(L, -2);
      return r;
    }
    return rx_cached(L, pidx, 0, 1, (lua_Integer)cf);
  }
  r = rx_test_ud(L, pidx);
  if (r == NULL) luaL_typeerror(L, pidx, "string or rex_pcre2_regex");
  lua_pushvalue(L, pidx);
  return r;
}

static int rex_new(lua_State *L) {
  uint32_t cf;
  luaL_checklstring(L, 1, NULL); /* converts a number in place */
  cf = rex_cf(L, 2);
  rex_lo(L, 3);
  lua_settop(L, 3);
  lua_pushinteger(L, cf);
  if (lua_isnil(L, 3))
    rx_compile(L, 1, cf, 1, 4, NULL, 0, NULL);
  else if (lua_isstring(L, 3))
    rx_compile(L, 1, cf, 1, 4, NULL, 0, lua_tostring(L, 3));
  else
    rx_compile(L, 1, cf, 1, 4, rex_tables(L, 3), 3, NULL);
  return 1;
}

/* find/match (s, patt, [init], [cf], [ef], [lo]) */
static int rex_findfunc(lua_State *L, int method) {
  size_t n, off;
  const char *s;
  fm_regex *r;
  uint32_t ef;
  int ok;
  rex_subject(L, 1);
  rex_pattern(L, 2);
  s = lua_tolstring(L, 1, &n);
  ok = rx_init(L, 3, n, &off);
  rex_cf(L, 4);
  ef = rx_ef(L, 5);
  rex_lo(L, 6);
  if (!ok) {
    lua_pushnil(L);
    return 1;
  }
  r = rex_arg(L, 2, 4, 6);
  return rx_find_at(L, r, s, n, off, ef, method);
}
static int rex_find(lua_State *L) { return rex_findfunc(L, M_FIND); }
static int rex_match(lua_State *L) { return rex_findfunc(L, M_MATCH); }

/* gmatch/split/count (s, patt, [cf], [ef], [lo]): checked in that order;
   leaves the object on the stack top */
static fm_regex *rex_args3(lua_State *L, uint32_t *ef) {
  rex_subject(L, 1);
  rex_pattern(L, 2);
  rex_cf(L, 3);
  *ef = rx_ef(L, 4);
  rex_lo(L, 5);
  return rex_arg(L, 2, 3, 5);
}
static int rex_gmatch(lua_State *L) {
  uint32_t ef;
  fm_regex *r = rex_args3(L, &ef);
  return rx_gmatch(L, r, 1, 0, ef, 0);
}
static int rex_split(lua_State *L) {
  uint32_t ef;
  (void)rex_args3(L, &ef); /* on the stack; the iterator's upvalue 1 */
  lua_pushvalue(L, 1);
  lua_pushinteger(L, 0);
  lua_pushinteger(L, 0);
  lua_pushinteger(L, -1);
  lua_pushinteger(L, (lua_Integer)ef);
  lua_pushcclosure(L, rexsplit_iter, 6);
  return 1;
}
static int rex_count(lua_State *L) {
  uint32_t ef;
  fm_regex *r = rex_args3(L, &ef);
  return rx_count(L, r, 1, ef);
}
/* gsub (s, patt, repl, [n], [cf], [ef], [lo]) */
static int rex_gsub(lua_State *L) {
  fm_regex *r;
  uint32_t ef;
  int rt;
  rex_subject(L, 1);
  rex_pattern(L, 2);
  rt = lua_type(L, 3);
  if (rt != LUA_TSTRING && rt != LUA_TNUMBER && rt != LUA_TTABLE &&
      rt != LUA_TFUNCTION)
    luaL_typeerror(L, 3, "string, table or function");
  if (!lua_isnoneornil(L, 4) && !lua_isfunction(L, 4) && !lua_isnumber(L, 4))
    luaL_typeerror(L, 4, "number or function");
  rex_cf(L, 5);
  ef = rx_ef(L, 6);
  rex_lo(L, 7);
  r = rex_arg(L, 2, 5, 7);
  return rx_gsub(L, r, 1, 3, 4, ef);
}

static int rex_flags(lua_State *L) {
  if (lua_isnoneornil(L, 1))
    lua_newtable(L);
  else {
    luaL_argcheck(L, lua_istable(L, 1), 1, "not a table");
    lua_pushvalue(L, 1);
  }
  for (int i = 0; rx_flagtab[i].name; i++) {
    lua_pushinteger(L, rx_flagtab[i].value);
    lua_setfield(L, -2, rx_flagtab[i].name);
  }
  return 1;
}

static int rex_config(lua_State *L) {
  static const struct {
    const char *name;
    int what;
  } ints[] = {{"PCRE2_CONFIG_BSR", PCRE2_CONFIG_BSR},
              {"PCRE2_CONFIG_JIT", PCRE2_CONFIG_JIT},
              {"PCRE2_CONFIG_LINKSIZE", PCRE2_CONFIG_LINKSIZE},
              {"PCRE2_CONFIG_MATCHLIMIT", PCRE2_CONFIG_MATCHLIMIT},
              {"PCRE2_CONFIG_NEWLINE", PCRE2_CONFIG_NEWLINE},
              {"PCRE2_CONFIG_PARENSLIMIT", PCRE2_CONFIG_PARENSLIMIT},
              {"PCRE2_CONFIG_RECURSIONLIMIT", PCRE2_CONFIG_RECURSIONLIMIT},
              {"PCRE2_CONFIG_STACKRECURSE", PCRE2_CONFIG_STACKRECURSE},
              {"PCRE2_CONFIG_UNICODE", PCRE2_CONFIG_UNICODE},
              {NULL, 0}};
  char buf[128];
  if (lua_isnoneornil(L, 1))
    lua_newtable(L);
  else {
    luaL_argcheck(L, lua_istable(L, 1), 1, "not a table");
    lua_pushvalue(L, 1);
  }
  for (int i = 0; ints[i].name; i++) {
    uint32_t v = 0;
    if (pcre2_config(ints[i].what, &v) >= 0) {
      lua_pushinteger(L, v);
      lua_setfield(L, -2, ints[i].name);
    }
  }
  if (pcre2_config(PCRE2_CONFIG_JITTARGET, NULL) > 0 &&
      pcre2_config(PCRE2_CONFIG_JITTARGET, buf) > 0) {
    lua_pushstring(L, buf);
    lua_setfield(L, -2, "PCRE2_CONFIG_JITTARGET");
  }
  return 1;
}

static int rex_version(lua_State *L) {
  char buf[64];
  pcre2_config(PCRE2_CONFIG_VERSION, buf);
  lua_pushstring(L, buf);
  return 1;
}

static int tables_gc(lua_State *L) {
  const uint8_t **p = (const uint8_t **)luaL_checkudata(L, 1, RX_TABLES_MT);
  if (*p) pcre2_maketables_free(gctx(), *p);
  *p = NULL;
  return 0;
}
static int tables_tostring(lua_State *L) {
  lua_pushfstring(L, "chartables (%p)", lua_touserdata(L, 1));
  return 1;
}

static int rex_maketables(lua_State *L) {
  const uint8_t **p =
      (const uint8_t **)lua_newuserdatauv(L, sizeof(const uint8_t *), 0);
  *p = NULL;
  luaL_setmetatable(L, RX_TABLES_MT);
  *p = pcre2_maketables(gctx());
  if (*p == NULL) return luaL_error(L, "malloc failed");
  return 1;
}

/* methods (s, [init], [ef]): checked in lrexlib's order */
static fm_regex *rexm_args(lua_State *L, uint32_t *ef) {
  fm_regex *r = check_self(L, 1);
  rex_subject(L, 2);
  if (!lua_isnoneornil(L, 3)) luaL_checkinteger(L, 3);
  *ef = rx_ef(L, 4);
  return r;
}
static int rexm_exec(lua_State *L) {
  uint32_t ef;
  fm_regex *r = rexm_args(L, &ef);
  return rx_find(L, r, 2, 3, ef, M_REXEXEC);
}
static int rexm_tfind(lua_State *L) {
  uint32_t ef;
  fm_regex *r = rexm_args(L, &ef);
  return rx_find(L, r, 2, 3, ef, M_TFIND);
}
static int rexm_find(lua_State *L) {
  uint32_t ef;
  fm_regex *r = rexm_args(L, &ef);
  return rx_find(L, r, 2, 3, ef, M_FIND);
}
static int rexm_match(lua_State *L) {
  uint32_t ef;
  fm_regex *r = rexm_args(L, &ef);
  return rx_find(L, r, 2, 3, ef, M_MATCH);
}

/* r:dfa_exec(s, [init], [ef], [ovecsize], [wscount]) */
static int rexm_dfa_exec(lua_State *L) {
  fm_regex *r = check_self(L, 1);
  size_t n, off = 0;
  const char *s = luaL_checklstring(L, 2, &n);
  int ok = rx_init(L, 3, n, &off);
  uint32_t ef = rx_ef(L, 4);
  lua_Integer ovs = luaL_optinteger(L, 5, 100), wsc = luaL_optinteger(L, 6, 50);
  pcre2_match_data *md;
  int *ws, rc;
  /* lrexlib hands a wscount under PCRE2's minimum (20) to PCRE2, which
     refuses it; an ovecsize under 2 still gets one pair (PCRE2's minimum)
     but, full, reports ovecsize / 2 = 0 ends */
  if (ovs < 0 || ovs > 65535 * 2) /* lrexlib: a (size_t) cast; PCRE2 */
    ovs = 65535 * 2;                /* gives at most 65535 pairs */
  if (wsc < 20) {
    r->lastrc = PCRE2_ERROR_DFA_WSSIZE;
    return rx_raise(L, r, FM_EOTHER);
  }
  if (wsc > (1 << 24)) return luaL_error(L, "too large");
  md = pcre2_match_data_create(ovs < 2 ? 1u : (uint32_t)(ovs / 2), gctx());
  ws = (int *)fm_malloc((size_t)wsc * sizeof(int));
  if (md == NULL || ws == NULL) {
    if (md) pcre2_match_data_free(md);
    fm_free(ws);
    return luaL_error(L, "malloc failed");
  }
  if (!ok) /* init past the end: nil, as find does (lrexlib raises) */
    rc = PCRE2_ERROR_NOMATCH;
  else
    rc = pcre2_dfa_match(r->code, (PCRE2_SPTR)s, n, off, ef, md, r->st->mctx,
                         ws, (PCRE2_SIZE)wsc);
  fm_free(ws);
  if (rc >= 0 || rc == PCRE2_ERROR_PARTIAL) {
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    int max = rc > 0 ? rc : rc == 0 ? (int)(ovs / 2) : 1;
    lua_pushinteger(L, (lua_Integer)ov[0] + 1);
    lua_createtable(L, max, 0);
    for (int i = 0; i < max; i++) {
      lua_pushinteger(L, (lua_Integer)ov[2 * i + 1]);
      lua_rawseti(L, -2, i + 1);
    }
    lua_pushinteger(L, rc);
    pcre2_match_data_free(md);
    return 3;
  }
  pcre2_match_data_free(md);
  if (rc == PCRE2_ERROR_NOMATCH) {
    lua_pushnil(L);
    return 1;
  }
  r->lastrc = rc;
  return rx_raise(L, r, FM_EOTHER);
}

static int rexm_jit_compile(lua_State *L) {
  fm_regex *r = check_self(L, 1);
  uint32_t o = (uint32_t)luaL_optinteger(L, 2, PCRE2_JIT_COMPLETE);
  int rc = pcre2_jit_compile(r->code, o);
  PCRE2_UCHAR buf[256];
  if (rc == 0) {
    if (o & PCRE2_JIT_COMPLETE) r->jit = 1;
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushboolean(L, 0);
  if (pcre2_get_error_message(rc, buf, sizeof buf) < 0) return 1;
  lua_pushstring(L, (const char *)buf);
  return 2;
}

static int rexm_patterninfo(lua_State *L) {
  static const struct {
    const char *name;
    uint32_t what;
    int issize;
  } f[] = {{"ALLOPTIONS", PCRE2_INFO_ALLOPTIONS, 0},
           {"ARGOPTIONS", PCRE2_INFO_ARGOPTIONS, 0},
           {"BACKREFMAX", PCRE2_INFO_BACKREFMAX, 0},
           {"BSR", PCRE2_INFO_BSR, 0},
           {"CAPTURECOUNT", PCRE2_INFO_CAPTURECOUNT, 0},
           {"FIRSTCODETYPE", PCRE2_INFO_FIRSTCODETYPE, 0},
           {"FIRSTCODEUNIT", PCRE2_INFO_FIRSTCODEUNIT, 0},
           {"HASBACKSLASHC", PCRE2_INFO_HASBACKSLASHC, 0},
           {"HASCRORLF", PCRE2_INFO_HASCRORLF, 0},
           {"JCHANGED", PCRE2_INFO_JCHANGED, 0},
           {"JITSIZE", PCRE2_INFO_JITSIZE, 1},
           {"LASTCODETYPE", PCRE2_INFO_LASTCODETYPE, 0},
           {"LASTCODEUNIT", PCRE2_INFO_LASTCODEUNIT, 0},
           {"MATCHEMPTY", PCRE2_INFO_MATCHEMPTY, 0},
           {"MATCHLIMIT", PCRE2_INFO_MATCHLIMIT, 0},
           {"MAXLOOKBEHIND", PCRE2_INFO_MAXLOOKBEHIND, 0},
           {"MINLENGTH", PCRE2_INFO_MINLENGTH, 0},
           {"NAMECOUNT", PCRE2_INFO_NAMECOUNT, 0},
           {"NAMEENTRYSIZE", PCRE2_INFO_NAMEENTRYSIZE, 0},
           {"NEWLINE", PCRE2_INFO_NEWLINE, 0},
           {"RECURSIONLIMIT", PCRE2_INFO_DEPTHLIMIT, 0},
           {"SIZE", PCRE2_INFO_SIZE, 1},
           {NULL, 0, 0}};
  fm_regex *r = check_self(L, 1);
  lua_newtable(L);
  /* floats, as lrexlib pushes them (lua_pushnumber): tostring gives "2.0" */
  for (int i = 0; f[i].name; i++) {
    if (f[i].issize) {
      size_t v = 0;
      if (pcre2_pattern_info(r->code, f[i].what, &v) != 0) continue;
      lua_pushnumber(L, (lua_Number)v);
    } else {
      uint32_t v = 0;
      if (pcre2_pattern_info(r->code, f[i].what, &v) != 0) continue;
      lua_pushnumber(L, (lua_Number)v);
    }
    lua_setfield(L, -2, f[i].name);
  }
  return 1;
}

static int rex_tostring(lua_State *L) {
  fm_regex *r = (fm_regex *)lua_touserdata(L, 1);
  if (r->code == NULL)
    lua_pushliteral(L, "rex_pcre2_regex (deleted)");
  else
    lua_pushfstring(L, "rex_pcre2_regex (%p)", (void *)r);
  return 1;
}

/* ---------------------------------------------------------------------
** Registration
** ------------------------------------------------------------------- */
static int state_gc(lua_State *L) {
  rx_state *st = (rx_state *)lua_touserdata(L, 1);
  if (st->mctx) pcre2_match_context_free(st->mctx);
  if (st->jstack) pcre2_jit_stack_free(st->jstack);
  st->mctx = NULL, st->jstack = NULL;
  return 0;
}

static const luaL_Reg fm_funcs[] = {{"compile", l_compile},
                                    {"find", l_find},
                                    {"match", l_match},
                                    {"test", l_test},
                                    {"exec", l_exec},
                                    {"gmatch", l_gmatch},
                                    {"gsub", l_gsub},
                                    {"split", l_split},
                                    {"count", l_count},
                                    {"cache_size", l_cache_size},
                                    {"cache_stats", l_cache_stats},
                                    {"limits", l_limits},
                                    {NULL, NULL}};

static const luaL_Reg fm_methods[] = {{"test", m_test},     {"find", m_find},
                                      {"match", m_match},   {"exec", m_exec},
                                      {"gmatch", m_gmatch}, {"gsub", m_gsub},
                                      {"split", m_split},   {"count", m_count},
                                      {"info", m_info},     {NULL, NULL}};

static const luaL_Reg fm_meta[] = {
    {"__gc", rx_gc}, {"__tostring", fm_tostring}, {NULL, NULL}};

static const luaL_Reg rex_funcs[] = {{"new", rex_new},
                                     {"find", rex_find},
                                     {"match", rex_match},
                                     {"gmatch", rex_gmatch},
                                     {"gsub", rex_gsub},
                                     {"split", rex_split},
                                     {"count", rex_count},
                                     {"flags", rex_flags},
                                     {"config", rex_config},
                                     {"version", rex_version},
                                     {"maketables", rex_maketables},
                                     {NULL, NULL}};

static const luaL_Reg rex_methods[] = {{"exec", rexm_exec},
                                       {"tfind", rexm_tfind},
                                       {"find", rexm_find},
                                       {"match", rexm_match},
                                       {"dfa_exec", rexm_dfa_exec},
                                       {"patterninfo", rexm_patterninfo},
                                       {"fullinfo", rexm_patterninfo},
                                       {"jit_compile", rexm_jit_compile},
                                       {NULL, NULL}};

static const luaL_Reg rex_meta[] = {
    {"__gc", rx_gc}, {"__tostring", rex_tostring}, {NULL, NULL}};

static void setfuncs_uv(lua_State *L, int t, const luaL_Reg *l, int uv0) {
  lua_pushvalue(L, t);
  for (int i = 0; i < RX_NUP; i++)
    lua_pushvalue(L, uv0 + i);
  luaL_setfuncs(L, l, RX_NUP);
  lua_pop(L, 1);
}

void fm_open_regex(lua_State *L) {
  int mod = lua_gettop(L), uv0;
  rx_state *st;
  if (gctx() == NULL) luaL_error(L, "fastmatch: not enough memory");
  luaL_newmetatable(L, RX_BUF_MT);
  lua_pushcfunction(L, buf_gc);
  lua_setfield(L, -2, "__gc");
  luaL_newmetatable(L, RX_STATE_MT);
  lua_pushcfunction(L, state_gc);
  lua_setfield(L, -2, "__gc");
  luaL_newmetatable(L, RX_TABLES_MT);
  lua_pushcfunction(L, tables_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, tables_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_settop(L, mod);

  uv0 = mod + 1;
  st = (rx_state *)lua_newuserdatauv(L, sizeof(rx_state), 0); /* 1 */
  memset(st, 0, sizeof *st);
  luaL_setmetatable(L, RX_STATE_MT);
  st->mctx = pcre2_match_context_create(gctx());
  if (st->mctx == NULL) luaL_error(L, "fastmatch: not enough memory");
  st->jstack =
      pcre2_jit_stack_create(RX_JIT_STACK_START, RX_JIT_STACK_MAX, gctx());
  if (st->jstack) pcre2_jit_stack_assign(st->mctx, NULL, st->jstack);
  st->match_limit = RX_DEFAULT_MATCH_LIMIT;
  st->depth_limit = RX_DEFAULT_DEPTH_LIMIT;
  st->heap_limit = RX_DEFAULT_HEAP_LIMIT;
  limits_apply(st);
  st->capacity = 1024;
  lua_newtable(L);                                          /* 2: root */
  fm_newclass(L, "fastmatch.regex", NULL, fm_meta, 1);      /* 3 */
  fm_newclass(L, "fastmatch.rex_regex", NULL, rex_meta, 1); /* 4 */
  lua_newtable(L); /* 5: cache table for options "" */
  lua_pushvalue(L, -1);
  lua_setfield(L, uv0 + 1, "");

  lua_newtable(L); /* fm methods: each object's __index table copies them */
  setfuncs_uv(L, lua_gettop(L), fm_methods, uv0);
  lua_setfield(L, uv0 + 2, "__methods");

  lua_newtable(L); /* rex methods */
  setfuncs_uv(L, lua_gettop(L), rex_methods, uv0);
  lua_setfield(L, uv0 + 3, "__index");

  setfuncs_uv(L, mod, fm_funcs, uv0);

  lua_newtable(L);
  setfuncs_uv(L, lua_gettop(L), rex_funcs, uv0);
  lua_pushliteral(L, "Lrexlib 2.9 compatible (fastmatch " FM_VERSION
                     ", for PCRE2)");
  lua_setfield(L, -2, "_VERSION");
  lua_setfield(L, mod, "_rex");
  lua_settop(L, mod);
}

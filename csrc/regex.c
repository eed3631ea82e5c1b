/*
** regex.c -- the regex room's engine: PCRE2 objects (JIT, one match data
** each), the per-state data (limits, the JIT stack) and the LRU cache
** behind the module-level functions.
** Owns: compiling, the cache, object lifetime, limits, errors and their
** names.  Must not touch: argument conventions of any face (regex_fm.c,
** regex_rex.c, ffi.c), the loops they share (regex_loops.c), nor the
** opener (regex_open.c): the engine calls none of them.
*/
#include <locale.h>
#include <stdint.h>
#include <string.h>

#include "regex.h"

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

pcre2_general_context *gctx(void) {
  /* Immutable once made; made at module load (fm_open_regex, regex_open.c). */
  static pcre2_general_context *g;
  if (g == NULL) g = pcre2_general_context_create(pcre_malloc, pcre_free, NULL);
  return g;
}


/* The class tags (see regex.h). */
const char rx_tag_fm, rx_tag_rex;

/* The matcher interface: whole range, no captures. */
static int rx_test(fm_matcher *m, const char *s, size_t n) {
  fm_regex *r = (fm_regex *)m;
  if (r->prevalidate && fm_utf8_check(s, n) != n) return FM_EUTF;
  return rx_exec(r, s, n, 0, 0);
}

/* ---------------------------------------------------------------------
** The line filter's extras: the literal every match needs (block search)
** and thread copies (count_lines with threads).
** ------------------------------------------------------------------- */
/* The longest run of literal bytes at the top level of a pattern, outside
   groups, classes and quantified atoms, into out[0..cap) (cut at cap: a
   part of a required literal is required too).  Conservative: any '|',
   "(?" (inline options, lookarounds), \Q, an escape that takes arguments,
   or '{' gives 0.  Every match of the pattern contains the run, when the
   pattern is not compiled extended (x). */
size_t fm_rx_literal(const char *p, size_t n, char *out, size_t cap) {
  size_t i = 0, depth = 0, run = 0, best = 0, bestat = 0;
  char cur[RX_NEED_MAX];
  if (cap > sizeof cur) cap = sizeof cur;
#define END_RUN()                                                              \
  do {                                                                         \
    if (run > best) memcpy(out, cur, best = run), bestat = 1;                  \
    run = 0;                                                                   \
  } while (0)
  while (i < n) {
    unsigned char c = (unsigned char)p[i];
    if (c == '|' || c == '{') return 0;
    if (c == '(') {
      if (i + 1 < n && p[i + 1] == '?') return 0;
      if (i + 1 < n && p[i + 1] == '*') return 0; /* (*UTF), (*CR)... */
      END_RUN();
      depth++, i++;
    } else if (c == ')') {
      END_RUN();
      if (depth > 0) depth--;
      i++;
    } else if (c == '[') { /* skip the class */
      END_RUN();
      i++;
      if (i < n && p[i] == '^') i++;
      if (i < n && p[i] == ']') i++;
      while (i < n && p[i] != ']') {
        if (p[i] == '\\') i++;
        else if (p[i] == '[' && i + 1 < n && p[i + 1] == ':') {
          const char *e = memchr(p + i + 2, ']', n - i - 2);
          if (e == NULL) return 0;
          i = (size_t)(e - p);
        }
        i++;
      }
      i++;
    } else if (c == '?' || c == '*' || c == '+') { /* the atom before is
                                                      optional or counted */
      if (run > 0) run--;
      END_RUN();
      i++;
    } else if (c == '.' || c == '^' || c == '$') {
      END_RUN();
      i++;
    } else if (c == '\\') {
      unsigned char e = i + 1 < n ? (unsigned char)p[i + 1] : 0;
      if (i + 1 >= n) return 0;
      if ((e >= '0' && e <= '9')) { /* back reference or octal */
        END_RUN();
        i++;
        while (i < n && p[i] >= '0' && p[i] <= '9')
          i++;
      } else if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z')) {
        /* only escapes that take no argument */
        if (strchr("dDwWsSbBhHvVRXAzZGKnrtfeaN", e) == NULL) return 0;
        if (e == 'N' && i + 2 < n && p[i + 2] == '{') return 0;
        END_RUN();
        i += 2;
      } else { /* an escaped punctuation byte is itself */
        if (depth == 0 && run < cap) cur[run++] = (char)e;
        else if (depth == 0) END_RUN();
        i += 2;
      }
    } else {
      if (depth == 0 && run < cap) cur[run++] = (char)c;
      else if (depth == 0) END_RUN();
      i++;
    }
  }
  END_RUN();
#undef END_RUN
  (void)bestat;
  return best;
}

static int has_letter(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if ((unsigned)(((unsigned char)s[i] | 0x20) - 'a') < 26u) return 1;
  return 0;
}

/* Fill r->need once: the literal pattern itself; else the pattern's
   longest top-level literal run; else PCRE2's required first or last code
   unit.  Caseless when compiled caseless -- ASCII folding, which is what
   PCRE2's default tables do without UTF; with UTF (Unicode folding: 'k'
   matches KELVIN SIGN) or locale tables, only literals without letters. */
static void rx_need(fm_regex *r) {
  uint32_t all = 0, t = 0, cu = 0;
  int caseless;
  r->needdone = 1;
  r->need.s = r->needbuf, r->need.n = 0;
  /* with UTF, testing a line checks it (FM_EUTF): the skipped lines would
     not be, so such a filter goes line by line */
  if (r->utf) return;
  if (r->literal) {
    size_t k = r->patlen < RX_NEED_MAX ? r->patlen : RX_NEED_MAX;
    memcpy(r->needbuf, r->pat, k);
    r->need.n = k, r->need.caseless = r->literal == 2;
    return;
  }
  pcre2_pattern_info(r->code, PCRE2_INFO_ALLOPTIONS, &all);
  if (all & (PCRE2_EXTENDED | PCRE2_EXTENDED_MORE | PCRE2_LITERAL)) return;
  caseless = (all & PCRE2_CASELESS) != 0;
  r->need.caseless = caseless;
  r->need.n = fm_rx_literal(r->pat, r->patlen, r->needbuf, RX_NEED_MAX);
  if (r->need.n == 0 && memchr(r->pat, '(', r->patlen) == NULL) {
    /* no inline options can be in force: the code units are compared as
       the options say */
    pcre2_pattern_info(r->code, PCRE2_INFO_LASTCODETYPE, &t);
    if (t == 1) pcre2_pattern_info(r->code, PCRE2_INFO_LASTCODEUNIT, &cu);
    else {
      pcre2_pattern_info(r->code, PCRE2_INFO_FIRSTCODETYPE, &t);
      if (t == 1) pcre2_pattern_info(r->code, PCRE2_INFO_FIRSTCODEUNIT, &cu);
    }
    if (t == 1) r->needbuf[0] = (char)cu, r->need.n = 1;
  }
  if (caseless && (r->utf || r->tables != NULL) &&
      has_letter(r->needbuf, r->need.n))
    r->need.n = 0;
}

static size_t rx_literals(fm_matcher *m, const fm_literal **lits) {
  fm_regex *r = (fm_regex *)m;
  if (!r->needdone) rx_need(r);
  *lits = &r->need;
  return r->need.n > 0;
}

/* A thread's copy: the shared compiled code (read only while matching),
   its own match data, match context and JIT stack. */
typedef struct rx_copy {
  fm_matcher m;
  fm_regex *r;
  pcre2_match_data *md;
  pcre2_match_context *mctx;
  pcre2_jit_stack *js;
} rx_copy;

static int rx_copy_test(fm_matcher *m, const char *s, size_t n) {
  rx_copy *c = (rx_copy *)m;
  fm_regex *r = c->r;
  int rc;
  if (r->prevalidate && fm_utf8_check(s, n) != n) return FM_EUTF;
  if (n < r->minlen && !(r->utf && !r->prevalidate)) return 0;
  if (r->literal) return rx_litfind(r, s, n) != NULL;
  if (r->jit && !(r->utf && !r->prevalidate))
    rc = pcre2_jit_match(r->code, (PCRE2_SPTR)s, n, 0, 0, c->md, c->mctx);
  else
    rc = pcre2_match(r->code, (PCRE2_SPTR)s, n, 0,
                     r->prevalidate ? PCRE2_NO_UTF_CHECK : 0, c->md, c->mctx);
  return rc >= 0 ? 1 : rx_errcode(rc);
}

static void rx_thread_drop(fm_matcher *m, fm_matcher *copy) {
  rx_copy *c = (rx_copy *)copy;
  (void)m;
  if (c == NULL) return;
  if (c->md) pcre2_match_data_free(c->md);
  if (c->mctx) pcre2_match_context_free(c->mctx);
  if (c->js) pcre2_jit_stack_free(c->js);
  fm_free(c);
}

static fm_matcher *rx_thread_copy(fm_matcher *m) {
  fm_regex *r = (fm_regex *)m;
  rx_copy *c = (rx_copy *)fm_calloc(1, sizeof *c);
  if (c == NULL) return NULL;
  c->m.test = rx_copy_test;
  c->r = r;
  c->md = pcre2_match_data_create(1, gctx());
  c->mctx = pcre2_match_context_copy(r->st->mctx); /* the limits */
  if (c->md == NULL || c->mctx == NULL) {
    rx_thread_drop(m, &c->m);
    return NULL;
  }
  if (r->st->jstack != NULL) {
    c->js = pcre2_jit_stack_create(RX_JIT_STACK_START, RX_JIT_STACK_MAX,
                                   gctx());
    if (c->js == NULL) {
      rx_thread_drop(m, &c->m);
      return NULL;
    }
    pcre2_jit_stack_assign(c->mctx, NULL, c->js);
  }
  return &c->m;
}

static const fm_matcher_ops rx_ops = {rx_literals, rx_thread_copy,
                                      rx_thread_drop};


/* ---------------------------------------------------------------------
** Errors
** ------------------------------------------------------------------- */
/* PCRE2's error codes by name, as lrexlib's flags table lists them: a rex
   object's failed match raises "error PCRE2_<name>" (rx_raise), and
   rex.flags() lists them among the flags. */
#define E(x)                                                                   \
  { #x, PCRE2_##x }
const rx_named rx_errors[] = {E(ERROR_BADDATA),
                              E(ERROR_BADMAGIC),
                              E(ERROR_BADMODE),
                              E(ERROR_BADOFFSET),
                              E(ERROR_BADOFFSETLIMIT),
                              E(ERROR_BADOPTION),
                              E(ERROR_BADREPESCAPE),
                              E(ERROR_BADREPLACEMENT),
                              E(ERROR_BADSERIALIZEDDATA),
                              E(ERROR_BADSUBSPATTERN),
                              E(ERROR_BADSUBSTITUTION),
                              E(ERROR_BADUTFOFFSET),
                              E(ERROR_CALLOUT),
                              E(ERROR_DFA_BADRESTART),
                              E(ERROR_DFA_RECURSE),
                              E(ERROR_DFA_UCOND),
                              E(ERROR_DFA_UFUNC),
                              E(ERROR_DFA_UITEM),
                              E(ERROR_DFA_WSSIZE),
                              E(ERROR_INTERNAL),
                              E(ERROR_JIT_BADOPTION),
                              E(ERROR_JIT_STACKLIMIT),
                              E(ERROR_MATCHLIMIT),
                              E(ERROR_MIXEDTABLES),
                              E(ERROR_NOMATCH),
                              E(ERROR_NOMEMORY),
                              E(ERROR_NOSUBSTRING),
                              E(ERROR_NOUNIQUESUBSTRING),
                              E(ERROR_NULL),
                              E(ERROR_PARTIAL),
                              E(ERROR_RECURSELOOP),
                              E(ERROR_RECURSIONLIMIT),
                              E(ERROR_REPMISSINGBRACE),
                              E(ERROR_TOOMANYREPLACE),
                              E(ERROR_UNAVAILABLE),
                              E(ERROR_UNSET),
                              E(ERROR_UTF16_ERR1),
                              E(ERROR_UTF16_ERR2),
                              E(ERROR_UTF16_ERR3),
                              E(ERROR_UTF32_ERR1),
                              E(ERROR_UTF32_ERR2),
                              E(ERROR_UTF8_ERR1),
                              E(ERROR_UTF8_ERR10),
                              E(ERROR_UTF8_ERR11),
                              E(ERROR_UTF8_ERR12),
                              E(ERROR_UTF8_ERR13),
                              E(ERROR_UTF8_ERR14),
                              E(ERROR_UTF8_ERR15),
                              E(ERROR_UTF8_ERR16),
                              E(ERROR_UTF8_ERR17),
                              E(ERROR_UTF8_ERR18),
                              E(ERROR_UTF8_ERR19),
                              E(ERROR_UTF8_ERR2),
                              E(ERROR_UTF8_ERR20),
                              E(ERROR_UTF8_ERR21),
                              E(ERROR_UTF8_ERR3),
                              E(ERROR_UTF8_ERR4),
                              E(ERROR_UTF8_ERR5),
                              E(ERROR_UTF8_ERR6),
                              E(ERROR_UTF8_ERR7),
                              E(ERROR_UTF8_ERR8),
                              E(ERROR_UTF8_ERR9),
                              {NULL, 0}};
#undef E

const char *rx_errname(int code) {
  for (int i = 0; rx_errors[i].name; i++)
    if (rx_errors[i].value == code) return rx_errors[i].name;
  return NULL;
}

int rx_raise(lua_State *L, fm_regex *r, int rc) {
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

void rx_checkutf(lua_State *L, fm_regex *r, const char *s, size_t n) {
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
void rx_checkinit(lua_State *L, const fm_regex *r, const char *s,
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
   know the first RX_REX_LETTERS of them (regex.h; other letters ignored). */
static const struct {
  char letter;
  uint32_t flags;
} rx_letters[] = {{'i', PCRE2_CASELESS}, {'m', PCRE2_MULTILINE},
                  {'s', PCRE2_DOTALL},   {'x', PCRE2_EXTENDED},
                  {'U', PCRE2_UNGREEDY}, {'u', PCRE2_UTF | PCRE2_UCP},
                  {'a', PCRE2_ANCHORED}, {'D', PCRE2_DUPNAMES}};
#define RX_ALL_LETTERS (sizeof rx_letters / sizeof rx_letters[0])

/* The flags of letter c among the first k option letters; 0 if not one. */
uint32_t rx_letter(char c, size_t k) {
  for (size_t j = 0; j < k; j++)
    if (rx_letters[j].letter == c) return rx_letters[j].flags;
  return 0;
}

/* fm option letters -> PCRE2 compile options; raises on an unknown one */
uint32_t rx_fmopts(lua_State *L, int arg, const char *o, size_t n) {
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

int rx_gc(lua_State *L) {
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
fm_regex *rx_compile(lua_State *L, int pidx, uint32_t cflags, int rex,
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
  r->m.ops = &rx_ops;
  if (!rex) rx_own_metatable(L, pidx, keyidx);
  return r;
}

/* ---------------------------------------------------------------------
** The cache: options key -> {pattern -> object}, plus an intrusive LRU
** list.  Hits touch the list (no allocation, no string building); only
** an eviction looks keys up again.
** ------------------------------------------------------------------- */
void cache_evict_tail(lua_State *L, rx_state *st) {
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
fm_regex *rx_cached(lua_State *L, int pidx, int oidx, int rex,
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
  rx_cache_hit(r->st, r);
  return r;
}

/* A compiled object of either face at idx, or NULL */
fm_regex *rx_test_ud(lua_State *L, int idx) {
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
fm_regex *fm_arg(lua_State *L, int pidx, int oidx, int nargs) {
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

fm_regex *check_self(lua_State *L, int rex) {
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
** The per-state data and its limits
** ------------------------------------------------------------------- */
void rx_limits_apply(rx_state *st) {
  pcre2_set_match_limit(st->mctx, st->match_limit);
  pcre2_set_depth_limit(st->mctx, st->depth_limit);
  pcre2_set_heap_limit(st->mctx, st->heap_limit);
}

static int state_gc(lua_State *L) {
  rx_state *st = (rx_state *)lua_touserdata(L, 1);
  if (st->mctx) pcre2_match_context_free(st->mctx);
  if (st->jstack) pcre2_jit_stack_free(st->jstack);
  st->mctx = NULL, st->jstack = NULL;
  return 0;
}

rx_state *rx_state_new(lua_State *L) {
  rx_state *st;
  if (luaL_newmetatable(L, RX_STATE_MT)) {
    lua_pushcfunction(L, state_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  st = (rx_state *)lua_newuserdatauv(L, sizeof(rx_state), 0);
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
  rx_limits_apply(st);
  st->capacity = 1024;
  return st;
}

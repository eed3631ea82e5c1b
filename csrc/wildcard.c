/*
** wildcard.c -- Sigma wildcard patterns: parse -> plan -> match, and the
** binding of fm.wildcard.
** Owns: the plan (wildcard.h) and matching one subject.  Must not touch:
** pattern sets (sets.c), the string helpers (text.c), UTF-8 decoding and
** folding (utf8.c).
**
** Semantics (Sigma, as pySigma parses values): a pattern matches the whole
** subject; '*' is any run of characters, '?' exactly one character -- one
** UTF-8 code point, or one byte that is not part of valid UTF-8; "\*",
** "\?", "\\" are literal; any other '\' is a literal backslash and the next
** character keeps its meaning.  Caseless unless FM_WC_CASED.
**
** Stages: parse() turns the pattern into segments (the runs between '*'s)
** of atoms (a literal run, or a run of k '?'s); plan_kind() picks the
** cheapest exact strategy; match() runs it.  Caseless patterns whose
** non-ASCII characters have case variants ("umode") compare folded code
** points, decoded in place from the subject; every other pattern compares
** bytes (ASCII-folded when caseless).  No copy of the subject is made.
*/
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lauxlib.h"
#include "lua.h"

#include "binding.h"
#include "fastmatch.h"
#include "utf8.h"
#include "wildcard.h"

static const char *const kind_names[] = {"exact",    "prefix",        "suffix",
                                         "contains", "prefix_suffix", "glob"};



void fm_wc_free(fm_wcplan *p) {
  if (p == NULL) return;
  fm_free(p->lit);
  fm_free(p->cps);
  fm_free(p->fail);
  fm_free(p->atoms);
  fm_free(p->segs);
  fm_free(p->req);
  fm_free(p);
}

const char *fm_wc_kind(const fm_wcplan *p) { return kind_names[p->kind]; }

/* Parse into lit/atoms/segs.  Every pattern parses: there is no malformed
   Sigma value.  Returns 0 when out of memory. */
static int parse(fm_wcplan *p, const char *pat, size_t n) {
  size_t i = 0, cap = n + 1;
  int last = -1; /* type of the previous token: A_LIT, A_ANY, '*' */
  seg *cur = NULL;
  p->lit = fm_malloc(n + 1);
  p->atoms = fm_malloc(cap * sizeof(atom));
  p->segs = fm_malloc(cap * sizeof(seg));
  if (!p->lit || !p->atoms || !p->segs) return 0;
  while (i < n) {
    unsigned char c = (unsigned char)pat[i];
    int tok;
    if (c == '*') {
      tok = '*', i++;
    } else if (c == '?') {
      tok = A_ANY, i++;
    } else {
      tok = A_LIT;
      if (c == '\\' && i + 1 < n &&
          (pat[i + 1] == '*' || pat[i + 1] == '?' || pat[i + 1] == '\\'))
        c = (unsigned char)pat[i + 1], i += 2;
      else
        i++; /* a lone '\' is itself; what follows keeps its meaning */
    }
    if (tok == '*') {
      if (p->nstars == 0 && p->natoms == 0) p->lead = 1;
      p->nstars++;
      cur = NULL;
      last = '*';
      continue;
    }
    if (cur == NULL) {
      cur = &p->segs[p->nsegs++];
      cur->a0 = p->natoms, cur->na = 0, cur->first = SIZE_MAX;
    }
    if (tok != last) {
      atom *a = &p->atoms[p->natoms++];
      a->type = tok, a->clean = 1, a->off = p->nlit, a->len = 0;
      cur->na++;
      if (tok == A_LIT && cur->first == SIZE_MAX) cur->first = p->natoms - 1;
    }
    if (tok == A_LIT) p->lit[p->nlit++] = (char)c;
    p->atoms[p->natoms - 1].len++;
    last = tok;
  }
  p->trail = (last == '*');
  if (p->nstars == 0 && p->nsegs == 0) { /* empty pattern: one empty seg */
    p->segs[0].a0 = 0, p->segs[0].na = 0, p->segs[0].first = SIZE_MAX;
    p->nsegs = 1;
  }
  { /* give back what the worst case reserved (sets hold many plans) */
    atom *a = fm_realloc(p->atoms, (p->natoms + 1) * sizeof(atom));
    seg *g = fm_realloc(p->segs, (p->nsegs + 1) * sizeof(seg));
    if (a != NULL) p->atoms = a;
    if (g != NULL) p->segs = g;
  }
  return 1;
}

/* Decide umode, cleanliness, code points, minlen; returns 0 on no memory. */
static int analyse(fm_wcplan *p) {
  size_t k, i;
  const unsigned char *lit = (const unsigned char *)p->lit;
  p->clean = 1;
  for (k = 0; k < p->natoms; k++) {
    atom *a = &p->atoms[k];
    if (a->type != A_LIT) continue;
    for (i = a->off; i < a->off + a->len;) {
      size_t l = u8len(lit + i, a->off + a->len - i);
      if (l == 1 && lit[i] >= 0x80) a->clean = 0, p->clean = 0;
      if (l > 1 && !p->cased && fm_cased_cp(u8code(lit + i, l))) p->umode = 1;
      i += l;
    }
  }
  if (p->umode) { /* literal atoms become folded code points */
    size_t ncp = 0;
    p->cps = fm_malloc((p->nlit + 1) * sizeof(uint32_t));
    if (p->cps == NULL) return 0;
    for (k = 0; k < p->natoms; k++) {
      atom *a = &p->atoms[k];
      size_t start = ncp;
      if (a->type != A_LIT) continue;
      for (i = a->off; i < a->off + a->len;) {
        size_t l = u8len(lit + i, a->off + a->len - i);
        p->cps[ncp++] = fm_fold(u8code(lit + i, l));
        i += l;
      }
      a->off = start, a->len = ncp - start;
    }
    p->fail = fm_malloc((ncp + 1) * sizeof(uint32_t));
    if (p->fail == NULL) return 0;
    for (k = 0; k < p->natoms; k++)
      if (p->atoms[k].type == A_LIT)
        fm_kmp_build(p->cps + p->atoms[k].off, p->atoms[k].len,
                  p->fail + p->atoms[k].off);
  }
  p->minlen = 0;
  for (k = 0; k < p->natoms; k++)
    p->minlen += p->atoms[k].len;
  return 1;
}

/* The longest literal a plan requires, as bytes to copy into keys: for
   byte-level plans a literal atom; for umode plans the longest ASCII run of
   a literal atom (ASCII letters fold only to ASCII letters, so the run must
   appear in the subject, ASCII-caseless).  Writes *len; 0 if none. */
static size_t required_literal(const fm_wcplan *p, char *out) {
  size_t k, i, best = 0;
  for (k = 0; k < p->natoms; k++) {
    const atom *a = &p->atoms[k];
    if (a->type != A_LIT) continue;
    if (!p->umode) {
      if (a->len > best) memcpy(out, p->lit + a->off, best = a->len);
      continue;
    }
    for (i = 0; i < a->len;) {
      size_t j = i;
      while (j < a->len && p->cps[a->off + j] < 0x80)
        j++;
      if (j - i > best) {
        size_t m;
        best = j - i;
        for (m = 0; m < best; m++)
          out[m] = (char)p->cps[a->off + i + m];
      }
      i = j + 1;
    }
  }
  return best;
}

static int has_letters(const char *s, size_t n) {
  size_t i;
  for (i = 0; i < n; i++)
    if ((unsigned)(((unsigned char)s[i] | 0x20) - 'a') < 26u) return 1;
  return 0;
}

/* The strategy: the literal kinds when the pattern is byte-comparable and
   has no '?'; glob otherwise.  umode patterns keep their shape's name (the
   same strategy, comparing folded code points). */
static void plan_kind(fm_wcplan *p) {
  int q = 0, lit_only;
  size_t k;
  for (k = 0; k < p->natoms; k++)
    q |= p->atoms[k].type == A_ANY;
  lit_only = !q && (p->nstars == 0 || p->clean || p->umode);
  p->kind = K_GLOB;
  if (!lit_only) return;
  if (p->nstars == 0)
    p->kind = K_EXACT;
  else if (p->nsegs == 0)
    p->kind = K_CONTAINS; /* "*": contains "" */
  else if (p->nsegs == 1 && p->lead && p->trail)
    p->kind = K_CONTAINS;
  else if (p->nsegs == 1 && p->lead)
    p->kind = K_SUFFIX;
  else if (p->nsegs == 1 && p->trail)
    p->kind = K_PREFIX;
  else if (p->nsegs == 2 && !p->lead && !p->trail)
    p->kind = K_PREFIX_SUFFIX;
  if (p->umode || p->kind == K_GLOB) return;
  /* byte-level fast path: point at the literals */
  if (p->nsegs > 0 && p->segs[0].na > 0) {
    const atom *a = &p->atoms[p->segs[0].a0];
    p->a = p->lit + a->off, p->na = a->len;
    if (p->kind == K_SUFFIX) p->b = p->a, p->nb = p->na;
    if (p->kind == K_PREFIX_SUFFIX) {
      a = &p->atoms[p->segs[1].a0];
      p->b = p->lit + a->off, p->nb = a->len;
    }
  } else
    p->a = p->lit, p->na = 0;
  p->ci = !p->cased && has_letters(p->a, p->na);
}

fm_wcplan *fm_wc_compile(const char *pattern, size_t n, int flags) {
  fm_wcplan *p = fm_calloc(1, sizeof *p);
  if (p == NULL) return NULL;
  p->cased = (flags & FM_WC_CASED) != 0;
  if (!parse(p, pattern, n) || !analyse(p)) {
    fm_wc_free(p);
    return NULL;
  }
  plan_kind(p);
  p->req = fm_malloc(p->nlit + 1);
  if (p->req == NULL) {
    fm_wc_free(p);
    return NULL;
  }
  p->nreq = required_literal(p, p->req);
  return p;
}

int fm_wc_literal(const fm_wcplan *p, fm_literal *out) {
  out->s = p->req, out->n = p->nreq;
  out->caseless = !p->cased && has_letters(p->req, p->nreq);
  return p->nreq > 0;
}

/* ---------------------------------------------------------------------
** Matching: the general engine.  Each segment matches at a given start in
** at most one way ('?' takes exactly one character, literals are fixed),
** so: the first segment anchored at 0, the last anchored at the end, and
** each middle one at its leftmost place after the previous -- greedy is
** optimal and nothing is ever retried (no backtracking).
** ------------------------------------------------------------------- */
static int eq(const fm_wcplan *p, const char *s, const char *lit, size_t n) {
  return p->cased ? memcmp(s, lit, n) == 0 : fm_iequal(s, lit, n);
}

/* Match atom a forwards at boundary i of s[0..n); new offset or NOTFOUND. */
static size_t atom_fwd(const fm_wcplan *p, const atom *a,
                       const unsigned char *s, size_t n, size_t i) {
  size_t k;
  if (a->type == A_ANY) {
    for (k = 0; k < a->len; k++) {
      if (i >= n) return FM_NOTFOUND;
      i += u8len(s + i, n - i);
    }
    return i;
  }
  if (p->umode) {
    for (k = 0; k < a->len; k++) {
      size_t l;
      if (i >= n) return FM_NOTFOUND;
      l = u8len(s + i, n - i);
      if (fm_fold(u8code(s + i, l)) != p->cps[a->off + k]) return FM_NOTFOUND;
      i += l;
    }
    return i;
  }
  if (n - i < a->len || !eq(p, (const char *)s + i, p->lit + a->off, a->len))
    return FM_NOTFOUND;
  i += a->len;
  if (!a->clean && !u8boundary(s, n, i)) return FM_NOTFOUND;
  return i;
}

/* Match atom a backwards, ending at boundary j, not before lo. */
static size_t atom_bwd(const fm_wcplan *p, const atom *a,
                       const unsigned char *s, size_t n, size_t j, size_t lo) {
  size_t k;
  if (a->type == A_ANY) {
    for (k = 0; k < a->len; k++) {
      if (j <= lo) return FM_NOTFOUND;
      j = u8back(s, j);
    }
    return j;
  }
  if (p->umode) {
    for (k = a->len; k-- > 0;) {
      size_t st;
      if (j <= lo) return FM_NOTFOUND;
      st = u8back(s, j);
      if (fm_fold(u8code(s + st, j - st)) != p->cps[a->off + k])
        return FM_NOTFOUND;
      j = st;
    }
    return j;
  }
  if (j - lo < a->len ||
      !eq(p, (const char *)s + j - a->len, p->lit + a->off, a->len))
    return FM_NOTFOUND;
  j -= a->len;
  if (!a->clean && !u8boundary(s, n, j)) return FM_NOTFOUND;
  return j;
}

static size_t seg_fwd(const fm_wcplan *p, const seg *g, const unsigned char *s,
                      size_t n, size_t i) {
  size_t k;
  for (k = 0; k < g->na && i != FM_NOTFOUND; k++)
    i = atom_fwd(p, &p->atoms[g->a0 + k], s, n, i);
  return i;
}

static size_t seg_bwd(const fm_wcplan *p, const seg *g, const unsigned char *s,
                      size_t n, size_t j, size_t lo) {
  size_t k;
  for (k = g->na; k-- > 0 && j != FM_NOTFOUND;)
    j = atom_bwd(p, &p->atoms[g->a0 + k], s, n, j, lo);
  return j;
}

/* Leftmost match of segment g in s[from..n) (n is a boundary); returns its
   end and sets *start, or NOTFOUND. */
/* The first offset >= x of a byte that can lead a valid non-ASCII
   character (>= 0xC2), or n: eight ASCII bytes at a time.  A byte loop here
   was most of set:all on the SigmaHQ set (folded non-ASCII literals tried
   against ASCII command lines: 15 of 52 M instructions, callgrind). */
static size_t next_lead(const unsigned char *s, size_t n, size_t x) {
  while (x < n) {
    if (n - x >= 8) {
      uint64_t w;
      memcpy(&w, s + x, 8);
      if ((w & 0x8080808080808080ull) == 0) {
        x += 8;
        continue;
      }
    }
    if (s[x] >= 0xC2) return x;
    x++;
  }
  return n;
}

static size_t seg_find(const fm_wcplan *p, const seg *g, const unsigned char *s,
                       size_t n, size_t from) {
  size_t x, e;
  if (p->umode && g->first == g->a0) { /* starts with a folded literal */
    const atom *a = &p->atoms[g->first];
    uint32_t c0 = p->cps[a->off];
    char ch = (char)c0;
    int misses = 0;
    for (x = from; x < n; x++) {
      if (c0 < 0x80) { /* an ASCII letter matches only ASCII: SIMD jump */
        size_t r = fm_isearch((const char *)s + x, n - x, &ch, 1);
        if (r == FM_NOTFOUND) return FM_NOTFOUND;
        x += r;
      } else if (c0 < INVALID_BASE) { /* a valid non-ASCII char: a lead */
        x = next_lead(s, n, x);
        if (x >= n) return FM_NOTFOUND;
      } else if (!u8boundary(s, n, x))
        continue;
      /* x is a candidate start, so a character boundary */
      if (g->na == 1 && ++misses > KMP_AFTER)
        return fm_kmp_find(p->cps + a->off, p->fail + a->off, a->len, s, n, x);
      if ((e = seg_fwd(p, g, s, n, x)) != FM_NOTFOUND) return e;
    }
    return FM_NOTFOUND;
  }
  if (p->umode || g->first == SIZE_MAX) { /* try each boundary in turn */
    for (x = from;;) {
      e = seg_fwd(p, g, s, n, x);
      if (e != FM_NOTFOUND || x >= n) return e;
      if (g->first == SIZE_MAX) return FM_NOTFOUND; /* only '?': at from */
      x += u8len(s + x, n - x);
    }
  } else { /* search the first literal, step back over the '?'s before it */
    const atom *a = &p->atoms[g->first];
    size_t nq = g->first > g->a0 ? p->atoms[g->a0].len : 0;
    const char *needle = p->lit + a->off;
    x = from;
    while (x <= n) {
      size_t r = p->cased
                     ? fm_search((const char *)s + x, n - x, needle, a->len)
                     : fm_isearch((const char *)s + x, n - x, needle, a->len);
      size_t st, k;
      if (r == FM_NOTFOUND) return FM_NOTFOUND;
      x += r;
      st = x;
      if (a->clean || u8boundary(s, n, st)) {
        for (k = 0; k < nq && st != FM_NOTFOUND; k++)
          st = st > from ? u8back(s, st) : FM_NOTFOUND;
        if (st != FM_NOTFOUND && (e = seg_fwd(p, g, s, n, st)) != FM_NOTFOUND)
          return e;
      }
      x++;
    }
    return FM_NOTFOUND;
  }
}

static int match_general(const fm_wcplan *p, const unsigned char *s, size_t n) {
  size_t i = 0, end = n, k0 = 0, k1 = p->nsegs, k;
  if (p->nstars == 0) return seg_fwd(p, &p->segs[0], s, n, 0) == n;
  if (!p->lead) {
    if ((i = seg_fwd(p, &p->segs[0], s, n, 0)) == FM_NOTFOUND) return 0;
    k0 = 1;
  }
  if (!p->trail) {
    end = seg_bwd(p, &p->segs[p->nsegs - 1], s, n, n, i);
    if (end == FM_NOTFOUND) return 0;
    k1 = p->nsegs - 1;
  }
  for (k = k0; k < k1; k++)
    if ((i = seg_find(p, &p->segs[k], s, end, i)) == FM_NOTFOUND) return 0;
  return 1;
}

int fm_wc_match(const fm_wcplan *p, const char *s, size_t n) {
  if (n < p->minlen) return 0;
  if (p->umode) return match_general(p, (const unsigned char *)s, n);
  switch (p->kind) {
  case K_EXACT:
    return n == p->na && eq(p, s, p->a, n);
  case K_PREFIX:
    return eq(p, s, p->a, p->na);
  case K_SUFFIX:
    return eq(p, s + n - p->nb, p->b, p->nb);
  case K_CONTAINS:
    return (p->ci ? fm_isearch(s, n, p->a, p->na)
                  : fm_search(s, n, p->a, p->na)) != FM_NOTFOUND;
  case K_PREFIX_SUFFIX:
    return eq(p, s, p->a, p->na) && eq(p, s + n - p->nb, p->b, p->nb);
  default:
    return match_general(p, (const unsigned char *)s, n);
  }
}

/* ---------------------------------------------------------------------
** Lua binding: fm.wildcard, fm.set, and the string helpers.
** ------------------------------------------------------------------- */
typedef struct wc_ud {
  fm_matcher base; /* first: the line filter calls base.test directly */
  const char *tag; /* &wc_tag: marks the userdata as one of ours */
  fm_wcplan *plan;
  fm_literal lit; /* filled by wc_literals */
} wc_ud;

/* Only this file writes its address, so a userdata of wc_ud's size holding
   it is a wildcard: checking self needs no metatable lookup. */
static const char wc_tag;

static int wc_testfn(fm_matcher *m, const char *s, size_t n) {
  return fm_wc_match(((wc_ud *)m)->plan, s, n);
}

/* The line filter's extras: the plan's required literal; and the plan is
   never written while matching, so threads share the wildcard itself. */
static size_t wc_literals(fm_matcher *m, const fm_literal **lits) {
  wc_ud *w = (wc_ud *)m;
  if (!fm_wc_literal(w->plan, &w->lit)) return 0;
  *lits = &w->lit;
  return 1;
}
static fm_matcher *wc_thread_copy(fm_matcher *m) { return m; }
static void wc_thread_drop(fm_matcher *m, fm_matcher *copy) {
  (void)m, (void)copy;
}
static const fm_matcher_ops wc_ops = {wc_literals, wc_thread_copy,
                                      wc_thread_drop};

int fm_wc_checkopts(lua_State *L, int arg) {
  int flags = 0;
  if (lua_isnoneornil(L, arg)) return 0;
  luaL_checktype(L, arg, LUA_TTABLE);
  lua_pushnil(L);
  while (lua_next(L, arg) != 0) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING ||
        strcmp(lua_tostring(L, -1), "cased") != 0) {
      lua_pushfstring(L, "unknown option '%s'", luaL_tolstring(L, -1, NULL));
      return luaL_argerror(L, arg, lua_tostring(L, -1));
    }
  }
  if (lua_getfield(L, arg, "cased") != LUA_TNIL && lua_toboolean(L, -1))
    flags |= FM_WC_CASED;
  lua_pop(L, 1);
  return flags;
}

static fm_wcplan *compile_or_raise(lua_State *L, const char *p, size_t n,
                                   int flags) {
  fm_wcplan *plan = fm_wc_compile(p, n, flags);
  if (plan == NULL) luaL_error(L, "fastmatch: not enough memory");
  return plan;
}

/* The wildcard at index idx, or a type error naming the class. */
static wc_ud *to_wc(lua_State *L, int idx) {
  wc_ud *w = (wc_ud *)lua_touserdata(L, idx);
  if (w == NULL || lua_rawlen(L, idx) != sizeof(wc_ud) || w->tag != &wc_tag)
    luaL_typeerror(L, idx, WILDCARD_MT);
  return w;
}

static wc_ud *check_wc(lua_State *L) {
  wc_ud *w = to_wc(L, 1);
  /* __gc ran (an object resurrected by another finalizer): its plan is
     gone, so say so instead of touching freed memory. */
  if (w->plan == NULL)
    luaL_error(L, "fastmatch: %s used after it was garbage-collected",
               WILDCARD_MT);
  return w;
}

/* fm.wildcard(pattern [, opts]) -> matcher.
   Each wildcard gets its own metatable, a copy of the class's whose __index
   is a plain table holding the methods and the fields kind, pattern and
   cased: w:test(s) and w.kind are then table lookups inside the VM, where a
   shared metatable would need an __index function -- a C call that cost
   about 300 instructions on every w:test(s), a third of the call (measured
   with callgrind).  The price is two small tables per wildcard. */
static int l_wildcard(lua_State *L) {
  size_t n;
  const char *p;
  int flags;
  wc_ud *w;
  if (lua_type(L, 1) != LUA_TSTRING) return luaL_typeerror(L, 1, "string");
  p = lua_tolstring(L, 1, &n);
  flags = fm_wc_checkopts(L, 2);
  w = (wc_ud *)lua_newuserdatauv(L, sizeof *w, 1);
  w->base.test = NULL, w->plan = NULL, w->tag = &wc_tag;
  w->base.ops = &wc_ops;
  luaL_setmetatable(L, WILDCARD_MT); /* __gc frees the plan if we raise */
  w->plan = compile_or_raise(L, p, n, flags);
  w->base.test = wc_testfn;
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);
  /* ud -> ud mt: copy the class's entries but __index and __methods */
  lua_createtable(L, 0, 8);
  luaL_getmetatable(L, WILDCARD_MT);
  lua_pushnil(L);
  while (lua_next(L, -2)) { /* ud mt cls k v */
    const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "";
    if (strcmp(k, "__index") == 0 || strcmp(k, "__methods") == 0) {
      lua_pop(L, 1);
      continue;
    }
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, -5);
  }
  /* ud mt cls -> ud mt cls idx: the methods, then the fields */
  lua_createtable(L, 0, 4);
  lua_getfield(L, -2, "__methods");
  lua_pushnil(L);
  while (lua_next(L, -2)) { /* ud mt cls idx methods k v */
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, -5);
  }
  lua_pop(L, 1);
  lua_pushstring(L, fm_wc_kind(w->plan));
  lua_setfield(L, -2, "kind");
  lua_pushvalue(L, 1);
  lua_setfield(L, -2, "pattern");
  lua_pushboolean(L, w->plan->cased);
  lua_setfield(L, -2, "cased");
  lua_setfield(L, -3, "__index"); /* ud mt cls */
  lua_pop(L, 1);
  lua_setmetatable(L, -2);
  return 1;
}

static int wc_test(lua_State *L) {
  wc_ud *w = check_wc(L);
  size_t n;
  const char *s = luaL_checklstring(L, 2, &n);
  lua_pushboolean(L, fm_wc_match(w->plan, s, n));
  return 1;
}

static int wc_tostring(lua_State *L) {
  wc_ud *w = to_wc(L, 1);
  lua_getiuservalue(L, 1, 1);
  if (w->plan == NULL) { /* collected */
    lua_pushfstring(L, "fastmatch.wildcard(%s, collected)",
                    lua_tostring(L, -1));
    return 1;
  }
  lua_pushfstring(L, "fastmatch.wildcard(%s, %s%s)", lua_tostring(L, -1),
                  fm_wc_kind(w->plan), w->plan->cased ? ", cased" : "");
  return 1;
}

static int wc_gc(lua_State *L) {
  wc_ud *w = to_wc(L, 1);
  fm_wc_free(w->plan);
  w->plan = NULL, w->base.test = NULL;
  return 0;
}

static const luaL_Reg wc_methods[] = {{"test", wc_test}, {NULL, NULL}};
static const luaL_Reg wc_meta[] = {
    {"__tostring", wc_tostring}, {"__gc", wc_gc}, {NULL, NULL}};

static const luaL_Reg wildcard_funcs[] = {{"wildcard", l_wildcard},
                                          {NULL, NULL}};

void fm_open_wildcard(lua_State *L) {
  fm_matcherclass(L, WILDCARD_MT, wc_methods, wc_meta, NULL);
  fm_setfuncs(L, wildcard_funcs);
}

/*
** text.c -- the string helpers: fm.startswith, fm.endswith, fm.contains,
** fm.iequals (caseless as wildcards are: ASCII folding in place, Unicode
** simple folding for non-ASCII letters) and fm._search_impl.
** Owns: these bindings and their Unicode fallbacks.  Must not touch: the
** search kernels (search.c) or folding (utf8.c), which it only calls.
*/
#include <stdint.h>
#include <string.h>

#include "lauxlib.h"
#include "lua.h"

#include "binding.h"
#include "fastmatch.h"
#include "utf8.h"

/* ---- string helpers: no pattern syntax, no copies ----
   "Caseless" means what it means for a wildcard: ASCII folding, and
   Unicode simple folding for non-ASCII letters.  ASCII letters fold only to
   ASCII letters and uncased characters only to themselves, so the Unicode
   path is taken only when the needle holds a non-ASCII letter; it then
   compares characters (as a wildcard "*needle*" would), decoded in place. */

/* The Unicode paths stay out of line: inlined, they made every call of the
   helpers pay for a bigger stack frame. */
#if defined(__GNUC__) || defined(__clang__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE
#endif

/* Whether s[0..n) is all ASCII (the usual needle): OR it together in words,
   the last one overlapping, and test the high bits once. */
static inline int is_ascii(const unsigned char *s, size_t n) {
  uint64_t acc = 0, w;
  uint32_t h;
  size_t i;
  if (n >= 8) {
    for (i = 0; i + 8 <= n; i += 8)
      memcpy(&w, s + i, 8), acc |= w;
    memcpy(&w, s + n - 8, 8), acc |= w;
  } else if (n >= 4) {
    memcpy(&h, s, 4), acc = h;
    memcpy(&h, s + n - 4, 4), acc |= h;
  } else
    for (i = 0; i < n; i++)
      acc |= s[i];
  return (acc & 0x8080808080808080ull) == 0;
}

/* Whether s[0..n) holds a non-ASCII character that has case variants. */
static NOINLINE int has_cased_nonascii(const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    size_t l;
    if (s[i] < 0x80) {
      i++;
      continue;
    }
    l = u8len(s + i, n - i);
    if (l > 1 && fm_cased_cp(u8code(s + i, l))) return 1;
    i += l;
  }
  return 0;
}

/* Match the characters of p[0..m), folded, at boundary i of s[0..n):
   the offset after them, or FM_NOTFOUND. */
static NOINLINE size_t ufold_fwd(const unsigned char *s, size_t n, size_t i,
                                 const unsigned char *p, size_t m) {
  size_t j = 0;
  while (j < m) {
    size_t lp, ls;
    if (i >= n) return FM_NOTFOUND;
    lp = u8len(p + j, m - j);
    ls = u8len(s + i, n - i);
    if (fm_fold(u8code(p + j, lp)) != fm_fold(u8code(s + i, ls))) return FM_NOTFOUND;
    i += ls, j += lp;
  }
  return i;
}

/* The same backwards: p's characters ending at boundary j of s; the start
   offset, or FM_NOTFOUND. */
static NOINLINE size_t ufold_bwd(const unsigned char *s, size_t j,
                                 const unsigned char *p, size_t m) {
  while (m > 0) {
    size_t sp, ss;
    if (j == 0) return FM_NOTFOUND;
    sp = u8back(p, m);
    ss = u8back(s, j);
    if (fm_fold(u8code(p + sp, m - sp)) != fm_fold(u8code(s + ss, j - ss)))
      return FM_NOTFOUND;
    j = ss, m = sp;
  }
  return j;
}

/* KMP (utf8.h) for ufold_find, from boundary x: folds p into a buffer
   (on the stack when short).  The start of the match, FM_NOTFOUND, or
   FM_NOTFOUND - 1 when out of memory. */
static size_t ufold_kmp(const unsigned char *s, size_t n, size_t x,
                        const unsigned char *p, size_t m) {
  uint32_t sa[128], sf[128], *a = sa, *f = sf;
  size_t np = 0, j, e;
  for (j = 0; j < m; j += u8len(p + j, m - j))
    np++;
  if (np > 128) {
    if ((a = fm_malloc(2 * np * sizeof(uint32_t))) == NULL)
      return FM_NOTFOUND - 1;
    f = a + np;
  }
  for (j = 0, np = 0; j < m; np++) {
    size_t l = u8len(p + j, m - j);
    a[np] = fm_fold(u8code(p + j, l));
    j += l;
  }
  fm_kmp_build(a, np, f);
  e = fm_kmp_find(a, f, np, s, n, x);
  if (a != sa) fm_free(a);
  if (e == FM_NOTFOUND) return e;
  for (j = 0; j < np; j++) /* back over the np characters matched */
    e = u8back(s, e);
  return e;
}

/* First boundary of s where p's characters match folded, or FM_NOTFOUND. */
static NOINLINE size_t ufold_find(const unsigned char *s, size_t n,
                                  const unsigned char *p, size_t m) {
  size_t x = 0;
  int misses = 0;
  if (m == 0) return 0;
  while (x < n) {
    if (p[0] < 0x80) { /* an ASCII first char matches only ASCII: jump */
      size_t r = fm_isearch((const char *)s + x, n - x, (const char *)p, 1);
      if (r == FM_NOTFOUND) return FM_NOTFOUND;
      x += r;
    } else { /* a non-ASCII one starts with a lead byte */
      while (x < n && s[x] < 0xC2)
        x++;
      if (x >= n) return FM_NOTFOUND;
    }
    if (++misses > KMP_AFTER) { /* x is a candidate, so a boundary */
      size_t r = ufold_kmp(s, n, x, p, m);
      if (r != FM_NOTFOUND - 1) return r;
      misses = INT_MIN; /* no memory for it: go on trying candidates */
    }
    if (ufold_fwd(s, n, x, p, m) != FM_NOTFOUND) return x;
    x += u8len(s + x, n - x);
  }
  return FM_NOTFOUND;
}

#define UCASE(p, m)                                                            \
  (!is_ascii((const unsigned char *)(p), (m)) &&                               \
   has_cased_nonascii((const unsigned char *)(p), (m)))
#define U8(s) ((const unsigned char *)(s))

static int l_startswith(lua_State *L) {
  size_t n, m;
  const char *s = luaL_checklstring(L, 1, &n);
  const char *p = luaL_checklstring(L, 2, &m);
  int r;
  if (!lua_toboolean(L, 3))
    r = m <= n && memcmp(s, p, m) == 0;
  else if (m <= n && fm_iequal(s, p, m))
    r = 1;
  else
    r = UCASE(p, m) && ufold_fwd(U8(s), n, 0, U8(p), m) != FM_NOTFOUND;
  lua_pushboolean(L, r);
  return 1;
}

static int l_endswith(lua_State *L) {
  size_t n, m;
  const char *s = luaL_checklstring(L, 1, &n);
  const char *p = luaL_checklstring(L, 2, &m);
  int r;
  if (!lua_toboolean(L, 3))
    r = m <= n && memcmp(s + n - m, p, m) == 0;
  else if (m <= n && fm_iequal(s + n - m, p, m))
    r = 1;
  else
    r = UCASE(p, m) && ufold_bwd(U8(s), n, U8(p), m) != FM_NOTFOUND;
  lua_pushboolean(L, r);
  return 1;
}

static int l_contains(lua_State *L) {
  size_t n, m, r;
  const char *s = luaL_checklstring(L, 1, &n);
  const char *p = luaL_checklstring(L, 2, &m);
  if (!lua_toboolean(L, 3))
    r = fm_search(s, n, p, m);
  else if (UCASE(p, m))
    r = ufold_find(U8(s), n, U8(p), m);
  else
    r = fm_isearch(s, n, p, m);
  if (r == FM_NOTFOUND)
    lua_pushnil(L);
  else
    lua_pushinteger(L, (lua_Integer)r + 1);
  return 1;
}

/* Equal under folding: with no non-ASCII letter in b, a must have none
   either, and ASCII folding byte by byte is the whole answer. */
static int l_iequals(lua_State *L) {
  size_t n, m;
  const char *a = luaL_checklstring(L, 1, &n);
  const char *b = luaL_checklstring(L, 2, &m);
  int r;
  if (n == m && fm_iequal(a, b, n))
    r = 1;
  else
    r = UCASE(b, m) && ufold_fwd(U8(a), n, 0, U8(b), m) == n;
  lua_pushboolean(L, r);
  return 1;
}

/* fm._search_impl([name]) -> the caseless search implementation in use,
   and the list of those this CPU has; with a name, switch to it first
   (raises if unavailable).  For specs and benchmarks. */
static int l_search_impl(lua_State *L) {
  size_t k;
  const char *name;
  if (!lua_isnoneornil(L, 1)) {
    const char *want = luaL_checkstring(L, 1);
    if (!fm_search_use(want))
      return luaL_argerror(L, 1, "implementation not available here");
  }
  lua_pushstring(L, fm_search_impl());
  lua_newtable(L);
  for (k = 0; (name = fm_search_impls(k)) != NULL; k++)
    if (*name != '\0') {
      lua_pushstring(L, name);
      lua_rawseti(L, -2, (lua_Integer)luaL_len(L, -2) + 1);
    }
  return 2;
}

static const luaL_Reg text_funcs[] = {
    {"startswith", l_startswith},    {"endswith", l_endswith},
    {"contains", l_contains},        {"iequals", l_iequals},
    {"_search_impl", l_search_impl}, {NULL, NULL}};

void fm_open_text(lua_State *L) { fm_setfuncs(L, text_funcs); }

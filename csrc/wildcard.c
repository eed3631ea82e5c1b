/*
** wildcard.c -- Sigma wildcard patterns: parse -> plan -> match, pattern
** sets, and the string helpers' bindings.
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

#include "casefold.h"
#include "fastmatch.h"

/* ---------------------------------------------------------------------
** UTF-8: strict decoding (no overlongs, surrogates or > U+10FFFF); a byte
** that does not start a valid sequence is one character of its own.  Since
** continuation bytes only follow their lead, character boundaries are the
** same read forwards or backwards.
** ------------------------------------------------------------------- */
#define INVALID_BASE 0x110000u /* code of an invalid byte b: base + b */
#define ISCONT(c) (((c)&0xC0) == 0x80)

static size_t u8len(const unsigned char *s, size_t n) {
  unsigned c = s[0], lo = 0x80, hi = 0xBF;
  if (c < 0xC2) return 1; /* ASCII, continuation, overlong lead */
  if (c < 0xE0) return (n >= 2 && ISCONT(s[1])) ? 2 : 1;
  if (c < 0xF0) {
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
    return (n >= 3 && s[1] >= lo && s[1] <= hi && ISCONT(s[2])) ? 3 : 1;
  }
  if (c < 0xF5) {
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
    return (n >= 4 && s[1] >= lo && s[1] <= hi && ISCONT(s[2]) && ISCONT(s[3]))
               ? 4
               : 1;
  }
  return 1;
}

/* The code of the character of length len at s. */
static uint32_t u8code(const unsigned char *s, size_t len) {
  switch (len) {
  case 1:
    return s[0] < 0x80 ? s[0] : INVALID_BASE + s[0];
  case 2:
    return ((uint32_t)(s[0] & 0x1F) << 6) | (s[1] & 0x3F);
  case 3:
    return ((uint32_t)(s[0] & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) |
           (s[2] & 0x3F);
  default:
    return ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
           ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
  }
}

/* Start of the character that ends at boundary i > 0. */
static size_t u8back(const unsigned char *s, size_t i) {
  size_t k;
  for (k = 1; k <= 4 && k <= i; k++) {
    if (!ISCONT(s[i - k])) return u8len(s + i - k, k) == k ? i - k : i - 1;
  }
  return i - 1;
}

/* Whether offset i of s[0..n) falls between two characters. */
static int u8boundary(const unsigned char *s, size_t n, size_t i) {
  size_t k;
  if (i == 0 || i >= n || !ISCONT(s[i])) return 1;
  for (k = 1; k <= 3 && k <= i; k++)
    if (!ISCONT(s[i - k])) return u8len(s + i - k, n - (i - k)) <= k;
  return 1;
}

/* Simple case folding of a character code (ASCII by table). */
static uint32_t fold(uint32_t c) {
  size_t lo = 0, hi = sizeof fm_foldruns / sizeof fm_foldruns[0];
  if (c < 0x80) return fm_lower[c];
  if (c >= INVALID_BASE) return c;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    const fm_foldrun *r = &fm_foldruns[mid];
    if (c < r->lo)
      hi = mid;
    else if (c > r->hi)
      lo = mid + 1;
    else
      return (c - r->lo) % r->step == 0 ? (uint32_t)((int)c + r->delta) : c;
  }
  return c;
}

/* Whether a (valid, non-ASCII) code point has case variants. */
static int cased_cp(uint32_t c) {
  size_t lo = 0, hi = sizeof fm_casedranges / sizeof fm_casedranges[0];
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (c < fm_casedranges[mid][0])
      hi = mid;
    else if (c > fm_casedranges[mid][1])
      lo = mid + 1;
    else
      return 1;
  }
  return 0;
}

/* ---------------------------------------------------------------------
** Knuth-Morris-Pratt over folded code points.  A umode literal is found by
** trying each candidate start, which is fastest on real text; a hostile
** subject ("ää...ä" against "*ää...äb*") would make that O(n*m), so after a
** few failed candidates the search hands over to KMP: one pass over the
** subject's characters, whatever the input.
** ------------------------------------------------------------------- */
#define KMP_AFTER 8 /* failed candidates before the handover */

/* f[k]: length of the longest proper border of a[0..k]. */
static void kmp_build(const uint32_t *a, size_t m, uint32_t *f) {
  size_t k, q = 0;
  if (m == 0) return;
  f[0] = 0;
  for (k = 1; k < m; k++) {
    while (q > 0 && a[k] != a[q])
      q = f[q - 1];
    if (a[k] == a[q]) q++;
    f[k] = (uint32_t)q;
  }
}

/* The end of the first occurrence of the folded characters a[0..m) in
   s[from..n), from a character boundary; or FM_NOTFOUND. */
static size_t kmp_find(const uint32_t *a, const uint32_t *f, size_t m,
                       const unsigned char *s, size_t n, size_t from) {
  size_t i = from, q = 0;
  if (m == 0) return from;
  while (i < n) {
    size_t l = u8len(s + i, n - i);
    uint32_t c = fold(u8code(s + i, l));
    while (q > 0 && c != a[q])
      q = f[q - 1];
    if (c == a[q]) q++;
    i += l;
    if (q == m) return i;
  }
  return FM_NOTFOUND;
}

/* ---------------------------------------------------------------------
** The plan.
** ------------------------------------------------------------------- */
enum { A_LIT, A_ANY };
enum { K_EXACT, K_PREFIX, K_SUFFIX, K_CONTAINS, K_PREFIX_SUFFIX, K_GLOB };
static const char *const kind_names[] = {"exact",    "prefix",        "suffix",
                                         "contains", "prefix_suffix", "glob"};

typedef struct atom {
  int type;
  int clean;  /* A_LIT: the bytes are valid UTF-8 (matches fall on char
                 boundaries by themselves) */
  size_t off; /* A_LIT: into lit (bytes) or cps (umode) */
  size_t len; /* A_LIT: bytes or code points; A_ANY: number of '?' */
} atom;

typedef struct seg {
  size_t a0, na; /* atoms[a0 .. a0+na) */
  size_t first;  /* index of the first A_LIT atom in atoms, or SIZE_MAX */
} seg;

struct fm_wcplan {
  int kind, cased, umode, clean;
  int nstars, lead, trail; /* '*' count; pattern starts / ends with '*' */
  char *lit;               /* unescaped literal bytes, all atoms */
  size_t nlit;
  uint32_t *cps;  /* umode: folded codes of the literal characters */
  uint32_t *fail; /* umode: KMP failure links of each literal atom's cps */
  atom *atoms;
  size_t natoms;
  seg *segs;
  size_t nsegs;
  size_t minlen; /* no subject shorter than this (bytes) can match */
  /* the fast kinds: a = exact / prefix / contains needle, b = suffix */
  const char *a, *b;
  size_t na, nb;
  int ci; /* caseless and the needle has letters */
  char *req;   /* the block search's literal: the longest one every match */
  size_t nreq; /* contains (required_literal), 0 for none */
};

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
      if (l > 1 && !p->cased && cased_cp(u8code(lit + i, l))) p->umode = 1;
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
        p->cps[ncp++] = fold(u8code(lit + i, l));
        i += l;
      }
      a->off = start, a->len = ncp - start;
    }
    p->fail = fm_malloc((ncp + 1) * sizeof(uint32_t));
    if (p->fail == NULL) return 0;
    for (k = 0; k < p->natoms; k++)
      if (p->atoms[k].type == A_LIT)
        kmp_build(p->cps + p->atoms[k].off, p->atoms[k].len,
                  p->fail + p->atoms[k].off);
  }
  p->minlen = 0;
  for (k = 0; k < p->natoms; k++)
    p->minlen += p->atoms[k].len;
  return 1;
}

static size_t required_literal(const fm_wcplan *p, char *out);

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
      if (fold(u8code(s + i, l)) != p->cps[a->off + k]) return FM_NOTFOUND;
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
      if (fold(u8code(s + st, j - st)) != p->cps[a->off + k])
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
        while (x < n && s[x] < 0xC2)
          x++;
        if (x >= n) return FM_NOTFOUND;
      } else if (!u8boundary(s, n, x))
        continue;
      /* x is a candidate start, so a character boundary */
      if (g->na == 1 && ++misses > KMP_AFTER)
        return kmp_find(p->cps + a->off, p->fail + a->off, a->len, s, n, x);
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
** Pattern sets.  Each plan is reached through one route:
**   - a trie of folded prefixes, walked from the subject's start (exact,
**     prefix and prefix_suffix plans), and one of folded reversed
**     suffixes walked from its end (suffix plans);
**   - an index of folded 1..4-byte grams of one required literal per plan
**     (contains; glob and umode plans: their longest byte-comparable
**     literal), probed at every offset in a single pass over the subject;
**   - a short list of plans without any literal ("*", "?*"), tested as is.
** A hit either proves the match (caseless prefix/suffix/exact trie hits,
** contains literals compared in the plan's case) or makes the plan a
** candidate for fm_wc_match.  Each plan is tested at most once per run.
** ------------------------------------------------------------------- */
enum { R_NONE, R_PRE, R_SUF, R_GRAM };

typedef struct lkey { /* a literal that plan must contain */
  uint32_t plan;
  int confirm;       /* a hit proves the match */
  size_t key, klen;  /* into set->keys */
  size_t goff, glen; /* the indexed gram: key[goff .. goff+glen) */
  uint32_t gram;     /* its folded value */
} lkey;

typedef struct gtab {             /* grams of one length -> runs of lkeys */
  uint32_t bits;                  /* log2 of the slot count */
  uint32_t *gram, *start, *count; /* slots; count 0 = empty */
  uint64_t bloom[1024];           /* 65536 bits */
} gtab;

typedef struct trie {
  size_t nnodes, mask; /* edge table: slots mask+1 */
  uint64_t *ekey;      /* (parent << 8 | byte) + 1; 0 = empty slot */
  uint32_t *echild;
  uint32_t *tstart, *tcount; /* per node: its terminals */
  uint32_t *term;            /* plan indexes, grouped by node */
  size_t maxdepth;
} trie;

struct fm_wcset {
  fm_wcplan **plans;
  size_t n;
  char *keys; /* the literal keys' bytes */
  lkey *lk;   /* sorted by (glen, gram) */
  size_t nlk;
  gtab *g[5]; /* by gram length; NULL when absent */
  /* first filter of the scan: the last two folded bytes of some gram of
     length >= 2 (65536 bits), the byte of some gram of length 1 */
  uint64_t pair[1024], single[4];
  trie pre, suf;
  uint32_t *always;
  size_t nalways;
  /* run state */
  uint32_t *seen, gen;
  size_t *res, nres;
  uint32_t *cand;
  size_t ncand;
};

static uint32_t hash32(uint32_t v) { return v * 0x9E3779B1u; }
static uint64_t hash64(uint64_t v) { return v * 0x9E3779B97F4A7C15ull; }

static void trie_free(trie *t) {
  fm_free(t->ekey);
  fm_free(t->echild);
  fm_free(t->tstart);
  fm_free(t->tcount);
  fm_free(t->term);
}

/* Child of node via byte c, or 0 (the root is never a child). */
static uint32_t trie_child(const trie *t, size_t node, unsigned c) {
  uint64_t key = (((uint64_t)node << 8) | c) + 1;
  size_t i = (size_t)(hash64(key) >> 32) & t->mask;
  while (t->ekey[i] != 0) {
    if (t->ekey[i] == key) return t->echild[i];
    i = (i + 1) & t->mask;
  }
  return 0;
}

typedef struct tkey { /* building: a key to insert */
  const char *s;
  size_t n;
  uint32_t plan;
  int rev;
} tkey;

/* Build a trie from keys (folded on insertion). Returns 0 on no memory. */
static int trie_build(trie *t, const tkey *keys, size_t nk) {
  size_t total = 1, k, i, slots = 16, nt = 0;
  uint32_t *node_of;
  for (k = 0; k < nk; k++)
    total += keys[k].n;
  while (slots < 2 * total)
    slots *= 2;
  t->mask = slots - 1;
  t->ekey = fm_calloc(slots, sizeof(uint64_t));
  t->echild = fm_malloc(slots * sizeof(uint32_t));
  t->tstart = fm_calloc(total, sizeof(uint32_t));
  t->tcount = fm_calloc(total, sizeof(uint32_t));
  t->term = fm_malloc((nk + 1) * sizeof(uint32_t));
  node_of = fm_malloc((nk + 1) * sizeof(uint32_t));
  if (!t->ekey || !t->echild || !t->tstart || !t->tcount || !t->term ||
      !node_of) {
    fm_free(node_of);
    return 0;
  }
  t->nnodes = 1;
  for (k = 0; k < nk; k++) {
    size_t node = 0;
    if (keys[k].n > t->maxdepth) t->maxdepth = keys[k].n;
    for (i = 0; i < keys[k].n; i++) {
      unsigned c = fm_lower[(unsigned char)keys[k]
                                .s[keys[k].rev ? keys[k].n - 1 - i : i]];
      uint32_t ch = trie_child(t, node, c);
      if (ch == 0) {
        uint64_t key = (((uint64_t)node << 8) | c) + 1;
        size_t j = (size_t)(hash64(key) >> 32) & t->mask;
        while (t->ekey[j] != 0)
          j = (j + 1) & t->mask;
        t->ekey[j] = key;
        t->echild[j] = ch = (uint32_t)t->nnodes++;
      }
      node = ch;
    }
    node_of[k] = (uint32_t)node;
    t->tcount[node]++;
  }
  for (i = 0; i < t->nnodes; i++)
    t->tstart[i] = (uint32_t)nt, nt += t->tcount[i];
  for (i = 0; i < t->nnodes; i++)
    t->tcount[i] = 0;
  for (k = 0; k < nk; k++) {
    uint32_t node = node_of[k];
    t->term[t->tstart[node] + t->tcount[node]++] = keys[k].plan;
  }
  fm_free(node_of);
  return 1;
}

void fm_wcset_free(fm_wcset *set) {
  size_t k;
  if (set == NULL) return;
  for (k = 0; k < set->n; k++)
    fm_wc_free(set->plans[k]);
  fm_free(set->plans);
  fm_free(set->keys);
  fm_free(set->lk);
  for (k = 1; k <= 4; k++)
    if (set->g[k] != NULL) {
      fm_free(set->g[k]->gram);
      fm_free(set->g[k]->start);
      fm_free(set->g[k]->count);
      fm_free(set->g[k]);
    }
  trie_free(&set->pre);
  trie_free(&set->suf);
  fm_free(set->always);
  fm_free(set->seen);
  fm_free(set->res);
  fm_free(set->cand);
  fm_free(set);
}

size_t fm_wcset_size(const fm_wcset *set) { return set->n; }
const size_t *fm_wcset_matches(const fm_wcset *set) { return set->res; }

static uint32_t gram_value(const char *s, size_t n) {
  uint32_t v = 0;
  size_t i;
  for (i = 0; i < n; i++)
    v = (v << 8) | fm_lower[(unsigned char)s[i]];
  return v;
}

static int lkey_cmp(const void *a, const void *b) {
  const lkey *x = a, *y = b;
  if (x->glen != y->glen) return x->glen < y->glen ? -1 : 1;
  if (x->gram != y->gram) return x->gram < y->gram ? -1 : 1;
  return x->plan < y->plan ? -1 : x->plan > y->plan;
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

/* How common a folded byte is in log lines and command lines (0..10): the
   scan's first filter looks at a gram's last two bytes, so rare ones are
   preferred there. */
static unsigned byte_weight(unsigned char c) {
  if (c == ' ') return 10;
  if (strchr("etaoinsr", c) != NULL && c) return 8;
  if ((c >= '0' && c <= '9') || (c && strchr("\\/.-:_", c) != NULL)) return 7;
  if (c && strchr("lcdhump", c) != NULL) return 6;
  if (c && strchr("fgbyw", c) != NULL) return 4;
  if (c == 'v' || c == 'k') return 3;
  if (c && strchr("xjqz", c) != NULL) return 1;
  if (c >= 0x80) return 2;
  return 5;
}

/* Build the gram tables from set->lk (already filled, unsorted). */
static int grams_build(fm_wcset *set) {
  size_t k, i;
  /* choose each key's gram: the one fewest other keys share (a cheap count
     over a hashed table of grams) */
  size_t cslots = 64, ctotal = 0;
  uint32_t *cgram, *ccount;
  for (k = 0; k < set->nlk; k++)
    ctotal += set->lk[k].klen;
  while (cslots < 2 * ctotal + 2)
    cslots *= 2;
  cgram = fm_malloc(cslots * sizeof(uint32_t));
  ccount = fm_calloc(cslots, sizeof(uint32_t));
  if (!cgram || !ccount) {
    fm_free(cgram);
    fm_free(ccount);
    return 0;
  }
#define CSLOT(v, glen, out)                                                    \
  do {                                                                         \
    uint32_t h_ = hash32((v) ^ ((uint32_t)(glen) << 29));                      \
    size_t j_ = (size_t)h_ & (cslots - 1);                                     \
    while (ccount[j_] != 0 && cgram[j_] != (v))                                \
      j_ = (j_ + 1) & (cslots - 1);                                            \
    (out) = j_;                                                                \
  } while (0)
  for (k = 0; k < set->nlk; k++) {
    lkey *l = &set->lk[k];
    size_t glen = l->klen < 4 ? l->klen : 4, j;
    l->glen = glen;
    for (i = 0; i + glen <= l->klen; i++) {
      uint32_t v = gram_value(set->keys + l->key + i, glen);
      CSLOT(v, glen, j);
      cgram[j] = v, ccount[j]++;
    }
  }
  for (k = 0; k < set->nlk; k++) {
    lkey *l = &set->lk[k];
    uint64_t best = UINT64_MAX;
    size_t j;
    for (i = 0; i + l->glen <= l->klen; i++) {
      uint32_t v = gram_value(set->keys + l->key + i, l->glen);
      uint64_t score;
      CSLOT(v, l->glen, j);
      /* fewest keys sharing it first, then the rarest last two bytes */
      score = (uint64_t)ccount[j] * 64 + byte_weight(v & 0xFF) * 4 +
              byte_weight((v >> 8) & 0xFF) * 2 + byte_weight(v >> 16 & 0xFF) +
              byte_weight(v >> 24);
      if (score < best) best = score, l->goff = i, l->gram = v;
    }
  }
#undef CSLOT
  fm_free(cgram);
  fm_free(ccount);
  qsort(set->lk, set->nlk, sizeof(lkey), lkey_cmp);
  for (k = 0; k < set->nlk;) {
    size_t glen = set->lk[k].glen, e = k, ngrams = 0, slots = 16;
    gtab *t;
    while (e < set->nlk && set->lk[e].glen == glen) {
      if (e == k || set->lk[e].gram != set->lk[e - 1].gram) ngrams++;
      e++;
    }
    while (slots < 2 * ngrams)
      slots *= 2;
    t = set->g[glen] = fm_calloc(1, sizeof(gtab));
    if (t == NULL) return 0;
    for (t->bits = 0; ((size_t)1 << t->bits) < slots; t->bits++) {
    }
    t->gram = fm_malloc(slots * sizeof(uint32_t));
    t->start = fm_malloc(slots * sizeof(uint32_t));
    t->count = fm_calloc(slots, sizeof(uint32_t));
    if (!t->gram || !t->start || !t->count) return 0;
    for (i = k; i < e;) {
      uint32_t v = set->lk[i].gram, h = hash32(v);
      size_t j = h >> (32 - t->bits), run = i;
      while (run < e && set->lk[run].gram == v)
        run++;
      while (t->count[j] != 0)
        j = (j + 1) & (slots - 1);
      t->gram[j] = v, t->start[j] = (uint32_t)i,
      t->count[j] = (uint32_t)(run - i);
      t->bloom[(h >> 16) >> 6] |= (uint64_t)1 << ((h >> 16) & 63);
      if (glen == 1)
        set->single[v >> 6] |= (uint64_t)1 << (v & 63);
      else
        set->pair[(v & 0xFFFF) >> 6] |= (uint64_t)1 << (v & 63);
      i = run;
    }
    k = e;
  }
  return 1;
}

fm_wcset *fm_wcset_new(fm_wcplan **plans, size_t n) {
  fm_wcset *set = fm_calloc(1, sizeof *set);
  tkey *pk = NULL, *sk = NULL;
  size_t npk = 0, nsk = 0, k, keybytes = 0, nkeys = 0;
  int ok = 0;
  if (set == NULL) goto fail;
  set->plans = plans, set->n = n;
  for (k = 0; k < n; k++)
    keybytes += plans[k]->nlit;
  set->keys = fm_malloc(keybytes + 1);
  set->lk = fm_malloc((n + 1) * sizeof(lkey));
  set->always = fm_malloc((n + 1) * sizeof(uint32_t));
  set->seen = fm_calloc(n + 1, sizeof(uint32_t));
  set->res = fm_malloc((n + 1) * sizeof(size_t));
  set->cand = fm_malloc((n + 1) * sizeof(uint32_t));
  pk = fm_malloc((n + 1) * sizeof(tkey));
  sk = fm_malloc((n + 1) * sizeof(tkey));
  if (!set->keys || !set->lk || !set->always || !set->seen || !set->res ||
      !set->cand || !pk || !sk)
    goto fail;
  for (k = 0; k < n; k++) {
    fm_wcplan *p = plans[k];
    size_t len;
    if (!p->umode && (p->kind == K_EXACT || p->kind == K_PREFIX ||
                      p->kind == K_PREFIX_SUFFIX)) {
      pk[npk].s = p->a, pk[npk].n = p->na, pk[npk].plan = (uint32_t)k;
      pk[npk++].rev = 0;
      continue;
    }
    if (!p->umode && p->kind == K_SUFFIX) {
      sk[nsk].s = p->b, sk[nsk].n = p->nb, sk[nsk].plan = (uint32_t)k;
      sk[nsk++].rev = 1;
      continue;
    }
    len = required_literal(p, set->keys + nkeys);
    if (len == 0) {
      set->always[set->nalways++] = (uint32_t)k;
      continue;
    }
    set->lk[set->nlk].plan = (uint32_t)k;
    set->lk[set->nlk].confirm = !p->umode && p->kind == K_CONTAINS;
    set->lk[set->nlk].key = nkeys, set->lk[set->nlk].klen = len;
    set->nlk++;
    nkeys += len;
  }
  if (!trie_build(&set->pre, pk, npk) || !trie_build(&set->suf, sk, nsk) ||
      !grams_build(set))
    goto fail;
  ok = 1;
fail:
  fm_free(pk);
  fm_free(sk);
  if (!ok) {
    if (set != NULL)
      fm_wcset_free(set);
    else {
      for (k = 0; k < n; k++)
        fm_wc_free(plans[k]);
      fm_free(plans);
    }
    return NULL;
  }
  return set;
}

/* One hit on plan k; returns 1 when an FM_SET_ANY run may stop. */
static int set_hit(fm_wcset *set, uint32_t k, int confirmed, const char *s,
                   size_t n, int mode) {
  if (set->seen[k] == set->gen) return 0;
  set->seen[k] = set->gen;
  if (!confirmed) {
    if (mode != FM_SET_ANY) {
      set->cand[set->ncand++] = k;
      return 0;
    }
    confirmed = fm_wc_match(set->plans[k], s, n);
  }
  if (!confirmed) return 0;
  set->res[set->nres++] = k;
  return mode == FM_SET_ANY;
}

static int trie_walk(fm_wcset *set, const trie *t, const unsigned char *s,
                     size_t n, int rev, int mode) {
  size_t node = 0, d = 0, i;
  for (;;) {
    for (i = 0; i < t->tcount[node]; i++) {
      uint32_t k = t->term[t->tstart[node] + i];
      const fm_wcplan *p = set->plans[k];
      int exact = p->kind == K_EXACT;
      if (exact && d != n) continue;
      /* the walk compared ASCII-folded bytes: that proves a caseless
         exact/prefix/suffix plan; cased ones and prefix_suffix get tested */
      if (set_hit(set, k, !p->cased && p->kind != K_PREFIX_SUFFIX,
                  (const char *)s, n, mode))
        return 1;
    }
    if (d >= n || d >= t->maxdepth) return 0;
    node = trie_child(t, node, fm_lower[s[rev ? n - 1 - d : d]]);
    if (node == 0) return 0;
    d++;
  }
}

/* Probe the grams of length glen ending at s[i] (w: the folded bytes). */
static int gram_probe(fm_wcset *set, const unsigned char *s, size_t n, size_t i,
                      uint32_t w, size_t glen, int mode) {
  static const uint32_t gmask[5] = {0, 0xFF, 0xFFFF, 0xFFFFFF, 0xFFFFFFFF};
  const gtab *t = set->g[glen];
  uint32_t v, h;
  size_t j, r;
  if (t == NULL || i + 1 < glen) return 0;
  v = w & gmask[glen], h = hash32(v);
  if (!(t->bloom[(h >> 16) >> 6] & ((uint64_t)1 << ((h >> 16) & 63)))) return 0;
  j = h >> (32 - t->bits);
  while (t->count[j] != 0 && t->gram[j] != v)
    j = (j + 1) & (((size_t)1 << t->bits) - 1);
  if (t->count[j] == 0) return 0;
  for (r = t->start[j]; r < t->start[j] + t->count[j]; r++) {
    const lkey *l = &set->lk[r];
    size_t gs = i + 1 - glen, ks;
    const fm_wcplan *p = set->plans[l->plan];
    if (set->seen[l->plan] == set->gen || l->goff > gs) continue;
    ks = gs - l->goff;
    if (l->klen > n - ks) continue;
    if (p->cased
            ? memcmp(s + ks, set->keys + l->key, l->klen) != 0
            : !fm_iequal((const char *)s + ks, set->keys + l->key, l->klen))
      continue;
    if (set_hit(set, l->plan, l->confirm, (const char *)s, n, mode)) return 1;
  }
  return 0;
}

/* The single pass: a rolling word of the last four folded bytes; two bit
   tables reject most offsets before any hashing. */
static int gram_scan(fm_wcset *set, const unsigned char *s, size_t n,
                     int mode) {
  const uint64_t *pair = set->pair, *single = set->single;
  uint32_t w = 0;
  size_t i;
  if (set->nlk == 0) return 0;
  for (i = 0; i < n; i++) {
    uint32_t pr;
    w = (w << 8) | fm_lower[s[i]];
    pr = w & 0xFFFF; /* at i = 0 a pair hit is harmless: probes check i */
    if ((pair[pr >> 6] >> (pr & 63)) & 1) {
      if (gram_probe(set, s, n, i, w, 2, mode) ||
          gram_probe(set, s, n, i, w, 3, mode) ||
          gram_probe(set, s, n, i, w, 4, mode))
        return 1;
    }
    /* single[] is all zero when no key has a one-byte gram */
    if ((single[(w & 0xFF) >> 6] >> (w & 63)) & 1 &&
        gram_probe(set, s, n, i, w, 1, mode))
      return 1;
  }
  return 0;
}

static int u32_cmp(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}
static int size_cmp(const void *a, const void *b) {
  size_t x = *(const size_t *)a, y = *(const size_t *)b;
  return x < y ? -1 : x > y;
}

size_t fm_wcset_run(fm_wcset *set, const char *s, size_t n, int mode) {
  const unsigned char *u = (const unsigned char *)s;
  size_t k, best = SIZE_MAX;
  if (++set->gen == 0) { /* wrapped: forget every stamp */
    memset(set->seen, 0, (set->n + 1) * sizeof(uint32_t));
    set->gen = 1;
  }
  set->nres = set->ncand = 0;
  if (trie_walk(set, &set->pre, u, n, 0, mode) ||
      trie_walk(set, &set->suf, u, n, 1, mode) || gram_scan(set, u, n, mode))
    return 1;
  for (k = 0; k < set->nalways; k++)
    if (set_hit(set, set->always[k], 0, s, n, mode)) return 1;
  if (mode == FM_SET_ANY) return 0;
  if (mode == FM_SET_FIRST) {
    for (k = 0; k < set->nres; k++)
      if (set->res[k] < best) best = set->res[k];
    qsort(set->cand, set->ncand, sizeof(uint32_t), u32_cmp);
    for (k = 0; k < set->ncand && set->cand[k] < best; k++)
      if (fm_wc_match(set->plans[set->cand[k]], s, n))
        return (size_t)set->cand[k] + 1;
    return best == SIZE_MAX ? 0 : best + 1;
  }
  for (k = 0; k < set->ncand; k++)
    if (fm_wc_match(set->plans[set->cand[k]], s, n))
      set->res[set->nres++] = set->cand[k];
  qsort(set->res, set->nres, sizeof(size_t), size_cmp);
  return set->nres;
}

/* ---------------------------------------------------------------------
** Lua binding: fm.wildcard, fm.set, and the string helpers.
** ------------------------------------------------------------------- */
#define WILDCARD_MT "fastmatch.wildcard"
#define SET_MT "fastmatch.set"

typedef struct wc_ud {
  fm_matcher base; /* first: the line filter calls base.test directly */
  const char *tag; /* &wc_tag: marks the userdata as one of ours */
  fm_wcplan *plan;
  fm_literal lit; /* filled by wc_literals */
} wc_ud;

/* Only this file writes its address, so a userdata of wc_ud's size holding
   it is a wildcard: checking self needs no metatable lookup. */
static const char wc_tag;

typedef struct set_ud {
  fm_matcher base;
  fm_wcset *set;
} set_ud;

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

static int set_testfn(fm_matcher *m, const char *s, size_t n) {
  return (int)fm_wcset_run(((set_ud *)m)->set, s, n, FM_SET_ANY);
}

/* opts: nil or a table whose only key is `cased`; returns the flags. */
static int check_opts(lua_State *L, int arg) {
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

/* Methods are closures whose upvalue 1 is their class's metatable: checking
   self is then one rawequal, no registry lookup (this is the hot path of
   w:test(s) in a Lua loop). */
static void *check_self(lua_State *L, const char *tname) {
  void *u = lua_touserdata(L, 1);
  if (u != NULL && lua_getmetatable(L, 1)) {
    int ok = lua_rawequal(L, -1, lua_upvalueindex(1));
    lua_pop(L, 1);
    /* __gc ran (an object resurrected by another finalizer): its plan is
       gone, so say so instead of touching freed memory. */
    if (ok && ((fm_matcher *)u)->test == NULL)
      luaL_error(L, "fastmatch: %s used after it was garbage-collected", tname);
    if (ok) return u;
  }
  luaL_typeerror(L, 1, tname);
  return NULL;
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
  flags = check_opts(L, 2);
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

/* fm.set(list [, opts]) */
static int l_set(lua_State *L) {
  lua_Integer len, i;
  int flags;
  fm_wcplan **plans;
  set_ud *u;
  luaL_checktype(L, 1, LUA_TTABLE);
  flags = check_opts(L, 2);
  len = luaL_len(L, 1);
  for (i = 1; i <= len; i++) { /* check every entry before allocating */
    if (lua_geti(L, 1, i) != LUA_TSTRING) {
      lua_pushfstring(L, "string expected at index %I, got %s", i,
                      luaL_typename(L, -1));
      return luaL_argerror(L, 1, lua_tostring(L, -1));
    }
    lua_pop(L, 1);
  }
  if ((size_t)len >= UINT32_MAX / 2)
    return luaL_error(L, "fastmatch: too many patterns in one set");
  u = (set_ud *)lua_newuserdatauv(L, sizeof *u, 1);
  u->base.test = NULL, u->set = NULL, u->base.ops = NULL;
  luaL_setmetatable(L, SET_MT);
  plans = fm_calloc((size_t)len + 1, sizeof *plans);
  if (plans == NULL) return luaL_error(L, "fastmatch: not enough memory");
  for (i = 1; i <= len; i++) {
    size_t n;
    const char *p;
    lua_geti(L, 1, i);
    p = lua_tolstring(L, -1, &n);
    plans[i - 1] = fm_wc_compile(p, n, flags);
    lua_pop(L, 1);
    if (plans[i - 1] == NULL) {
      while (--i > 0)
        fm_wc_free(plans[i - 1]);
      fm_free(plans);
      return luaL_error(L, "fastmatch: not enough memory");
    }
  }
  u->set = fm_wcset_new(plans, (size_t)len);
  if (u->set == NULL) return luaL_error(L, "fastmatch: not enough memory");
  u->base.test = set_testfn;
  lua_pushvalue(L, 1); /* keep the list: set.patterns */
  lua_setiuservalue(L, -2, 1);
  return 1;
}

#define check_set(L) ((set_ud *)check_self(L, SET_MT))

static int set_test(lua_State *L) {
  set_ud *u = check_set(L);
  size_t n;
  const char *s = luaL_checklstring(L, 2, &n);
  lua_pushboolean(L, fm_wcset_run(u->set, s, n, FM_SET_ANY) != 0);
  return 1;
}

static int set_first(lua_State *L) {
  set_ud *u = check_set(L);
  size_t n, r;
  const char *s = luaL_checklstring(L, 2, &n);
  r = fm_wcset_run(u->set, s, n, FM_SET_FIRST);
  if (r == 0)
    lua_pushnil(L);
  else
    lua_pushinteger(L, (lua_Integer)r);
  return 1;
}

static int set_all(lua_State *L) {
  set_ud *u = check_set(L);
  size_t n, r, k;
  const char *s = luaL_checklstring(L, 2, &n);
  const size_t *m;
  r = fm_wcset_run(u->set, s, n, FM_SET_ALL);
  m = fm_wcset_matches(u->set);
  lua_createtable(L, (int)(r < INT_MAX ? r : INT_MAX), 0);
  for (k = 0; k < r; k++) {
    lua_pushinteger(L, (lua_Integer)m[k] + 1);
    lua_rawseti(L, -2, (lua_Integer)k + 1);
  }
  return 1;
}

static int set_len(lua_State *L) {
  set_ud *u = (set_ud *)luaL_checkudata(L, 1, SET_MT);
  lua_pushinteger(L, u->set != NULL ? (lua_Integer)fm_wcset_size(u->set) : 0);
  return 1;
}

static int set_index(lua_State *L) {
  const char *k;
  lua_settop(L, 2);
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(2)) != LUA_TNIL) return 1;
  check_set(L);
  k = lua_tostring(L, 2);
  if (k != NULL && strcmp(k, "patterns") == 0)
    lua_getiuservalue(L, 1, 1);
  else
    lua_pushnil(L);
  return 1;
}

static int set_tostring(lua_State *L) {
  set_ud *u = (set_ud *)luaL_checkudata(L, 1, SET_MT);
  lua_pushfstring(L, "fastmatch.set(%d patterns)",
                  u->set != NULL ? (int)fm_wcset_size(u->set) : 0);
  return 1;
}

static int set_gc(lua_State *L) {
  set_ud *u = (set_ud *)luaL_checkudata(L, 1, SET_MT);
  fm_wcset_free(u->set);
  u->set = NULL, u->base.test = NULL;
  return 0;
}

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
    if (l > 1 && cased_cp(u8code(s + i, l))) return 1;
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
    if (fold(u8code(p + j, lp)) != fold(u8code(s + i, ls))) return FM_NOTFOUND;
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
    if (fold(u8code(p + sp, m - sp)) != fold(u8code(s + ss, j - ss)))
      return FM_NOTFOUND;
    j = ss, m = sp;
  }
  return j;
}

/* KMP (see above) for ufold_find, from boundary x: folds p into a buffer
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
    a[np] = fold(u8code(p + j, l));
    j += l;
  }
  kmp_build(a, np, f);
  e = kmp_find(a, f, np, s, n, x);
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

static const luaL_Reg wc_methods[] = {{"test", wc_test}, {NULL, NULL}};
static const luaL_Reg wc_meta[] = {
    {"__tostring", wc_tostring}, {"__gc", wc_gc}, {NULL, NULL}};

static const luaL_Reg set_methods[] = {
    {"test", set_test}, {"first", set_first}, {"all", set_all}, {NULL, NULL}};
static const luaL_Reg set_meta[] = {{"__len", set_len},
                                    {"__tostring", set_tostring},
                                    {"__gc", set_gc},
                                    {NULL, NULL}};

static const luaL_Reg wildcard_funcs[] = {
    {"wildcard", l_wildcard},        {"set", l_set},
    {"startswith", l_startswith},    {"endswith", l_endswith},
    {"contains", l_contains},        {"iequals", l_iequals},
    {"_search_impl", l_search_impl}, {NULL, NULL}};

/* A matcher class: methods are closures over the metatable (check_self),
   __call is the test method, __index a closure over the methods table. */
static void make_class(lua_State *L, const char *name, const luaL_Reg *methods,
                       const luaL_Reg *meta, lua_CFunction index) {
  fm_newclass(L, name, NULL, meta, 1); /* mt */
  lua_newtable(L);                     /* mt methods */
  for (; methods->name != NULL; methods++) {
    lua_pushvalue(L, -2);
    lua_pushcclosure(L, methods->func, 1);
    lua_setfield(L, -2, methods->name);
  }
  lua_getfield(L, -1, "test");
  lua_setfield(L, -3, "__call");
  if (index == NULL) { /* per-object __index tables copy these */
    lua_setfield(L, -2, "__methods");
    lua_pop(L, 1);
    return;
  }
  lua_pushvalue(L, -2); /* mt methods mt */
  lua_insert(L, -2);    /* mt mt methods */
  lua_pushcclosure(L, index, 2);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
}

void fm_open_wildcard(lua_State *L) {
  make_class(L, WILDCARD_MT, wc_methods, wc_meta, NULL);
  make_class(L, SET_MT, set_methods, set_meta, set_index);
  fm_setfuncs(L, wildcard_funcs);
}

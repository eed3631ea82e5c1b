/*
** literals.c -- multi-literal search: the first offset in a haystack at
** which any of a few literals occurs, exact or ASCII-caseless per literal.
** It is the block search's finder (lines.c): a line filter whose matcher
** requires one of these literals searches whole buffers with it and tests
** only the lines around its hits.
**
** One literal is one call of search.c's kernels (memchr/memmem, or the
** SIMD caseless search).  A few literals are searched one after another,
** each only before the best hit so far, so the cost is at most one pass
** per literal over the part of the haystack before the first hit; for
** more than FM_LITSET_MAX literals that loses to the per-line test, and
** fm_litset_new declines.
*/
#include <string.h>

#include "fastmatch.h"

#define FM_LITSET_MAX 8

struct fm_litset {
  size_t n;
  fm_literal lit[FM_LITSET_MAX];
  char *bytes; /* the literals' bytes, owned */
};

fm_litset *fm_litset_new(const fm_literal *lits, size_t n) {
  fm_litset *set;
  size_t k, total = 0, off = 0;
  if (n == 0 || n > FM_LITSET_MAX) return NULL;
  for (k = 0; k < n; k++) {
    if (lits[k].n == 0) return NULL;
    total += lits[k].n;
  }
  set = (fm_litset *)fm_calloc(1, sizeof *set);
  if (set == NULL) return NULL;
  set->bytes = (char *)fm_malloc(total);
  if (set->bytes == NULL) {
    fm_free(set);
    return NULL;
  }
  set->n = n;
  for (k = 0; k < n; k++) {
    memcpy(set->bytes + off, lits[k].s, lits[k].n);
    set->lit[k].s = set->bytes + off;
    set->lit[k].n = lits[k].n;
    set->lit[k].caseless = lits[k].caseless;
    off += lits[k].n;
  }
  return set;
}

void fm_litset_free(fm_litset *set) {
  if (set == NULL) return;
  fm_free(set->bytes);
  fm_free(set);
}

static size_t find_one(const fm_literal *l, const char *hay, size_t n) {
  return l->caseless ? fm_isearch(hay, n, l->s, l->n)
                     : fm_search(hay, n, l->s, l->n);
}

size_t fm_litset_find(const void *ud, const char *hay, size_t n) {
  const fm_litset *set = (const fm_litset *)ud;
  size_t k, best = FM_NOTFOUND, lim = n;
  for (k = 0; k < set->n; k++) {
    /* a hit must start before the best one: search hay[0, best + len) */
    size_t at = find_one(&set->lit[k], hay, lim);
    if (at != FM_NOTFOUND && (best == FM_NOTFOUND || at < best)) {
      best = at;
      if (best == 0) break;
    }
    if (best != FM_NOTFOUND && k + 1 < set->n) {
      size_t nl = set->lit[k + 1].n;
      lim = best + nl - 1 < n ? best + nl - 1 : n;
    }
  }
  return best;
}

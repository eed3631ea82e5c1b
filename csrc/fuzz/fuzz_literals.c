/*
** fuzz_literals.c -- the multi-literal kernels against naive searches:
** fm_ac_scan must report exactly the (key, end) pairs at which a key
** occurs under ASCII folding, in order of end; fm_litset_find must give a
** hit no line-start-relevant occurrence precedes: the smallest start among
** occurrences (it searches each literal before the best so far).
**
** Input: byte 0 the key count - 1 (low 4 bits: up to 16 keys) and the
** caseless bits' seed; then each key as a length byte (low 3 bits) and its
** bytes; the rest is the haystack.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fastmatch.h"

#define MAXK 16

typedef struct Rec {
  uint32_t key[4096];
  size_t end[4096];
  size_t n;
} Rec;

static int rec_hit(void *ud, uint32_t key, size_t end) {
  Rec *r = (Rec *)ud;
  if (r->n < 4096) r->key[r->n] = key, r->end[r->n] = end;
  r->n++;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *keys[MAXK];
  size_t lens[MAXK], nk, k, pos = 1, i;
  fm_literal lits[MAXK];
  const char *hay;
  size_t hn;
  static Rec got;
  fm_ac *ac;
  if (size < 2) return 0;
  nk = 1 + (data[0] & 15);
  for (k = 0; k < nk && pos < size; k++) {
    size_t len = data[pos] & 7;
    pos++;
    if (len > size - pos) len = size - pos;
    keys[k] = (const char *)data + pos, lens[k] = len;
    lits[k].s = keys[k], lits[k].n = len;
    lits[k].caseless = (data[0] >> (4 + k % 4)) & 1;
    pos += len;
  }
  nk = k;
  if (nk == 0) return 0;
  hay = (const char *)data + pos, hn = size - pos;
  if (hn > 2000) hn = 2000;
  /* Aho-Corasick: every (key, end), by end, then by the key order the
     automaton reports (compare as sets per end) */
  ac = fm_ac_new(keys, lens, nk);
  if (ac == NULL) abort();
  got.n = 0;
  fm_ac_scan(ac, hay, hn, rec_hit, &got);
  if (got.n <= 4096) {
    size_t want = 0, g = 0, e;
    for (e = 1; e <= hn; e++) {
      size_t here = 0, seen = 0;
      for (k = 0; k < nk; k++)
        if (lens[k] > 0 && lens[k] <= e &&
            fm_iequal(hay + e - lens[k], keys[k], lens[k]))
          here++;
      want += here;
      for (; g < got.n && got.end[g] == e; g++) {
        uint32_t kk = got.key[g];
        if (kk >= nk || lens[kk] == 0 || lens[kk] > e ||
            !fm_iequal(hay + e - lens[kk], keys[kk], lens[kk]))
          abort();
        seen++;
      }
      if (seen != here) {
        fprintf(stderr, "end %zu: %zu reported, %zu occur\n", e, seen, here);
        abort();
      }
    }
    if (g != got.n || want != got.n) abort();
  }
  fm_ac_free(ac);
  /* the literal loop: the smallest start of any occurrence */
  {
    int empty = 0;
    for (k = 0; k < nk; k++)
      empty |= lens[k] == 0;
    if (!empty) {
      fm_litset *set = fm_litset_new(lits, nk);
      size_t best = FM_NOTFOUND, at, firstend = FM_NOTFOUND;
      int ok = 0;
      if (set == NULL) abort();
      for (i = 0; i < hn; i++)
        for (k = 0; k < nk; k++) {
          const fm_literal *l = &lits[k];
          if (l->n <= hn - i &&
              (l->caseless ? fm_iequal(hay + i, l->s, l->n)
                           : memcmp(hay + i, l->s, l->n) == 0)) {
            if (best == FM_NOTFOUND) best = i;
            if (firstend == FM_NOTFOUND || i + l->n < firstend)
              firstend = i + l->n;
          }
        }
      at = fm_litset_find(set, hay, hn);
      if (nk <= 8) /* one search a literal: the first by start */
        ok = at == best;
      else if (at == FM_NOTFOUND) /* the automaton: an occurrence ending */
        ok = best == FM_NOTFOUND;  /* first */
      else
        for (k = 0; k < nk; k++) {
          const fm_literal *l = &lits[k];
          if (at + l->n == firstend && l->n <= hn - at &&
              (l->caseless ? fm_iequal(hay + at, l->s, l->n)
                           : memcmp(hay + at, l->s, l->n) == 0))
            ok = 1;
        }
      if (!ok) {
        fprintf(stderr, "litset (%zu literals): %zu, first start %zu, first end %zu\n",
                nk, at, best, firstend);
        abort();
      }
      fm_litset_free(set);
    }
  }
  return 0;
}

/*
** fuzz_wildcard.c -- Sigma wildcard plans and sets against a naive
** reference (a dynamic program over characters, written here).
** Input: flags byte (bit 0: cased), pattern-length byte, then the pattern
** and the subject.  The pattern is also cut at 0x01 bytes into the
** patterns of a set, whose answers must agree with the single plans.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fastmatch.h"

/* Length of the character at s (strict UTF-8; an invalid byte is one). */
static size_t ref_len(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  size_t need, i;
  uint32_t cp, min;
  if (c < 0x80) return 1;
  if (c >= 0xC0 && c < 0xE0) need = 2, cp = c & 0x1F, min = 0x80;
  else if (c >= 0xE0 && c < 0xF0) need = 3, cp = c & 0x0F, min = 0x800;
  else if (c >= 0xF0 && c < 0xF8) need = 4, cp = c & 0x07, min = 0x10000;
  else return 1;
  if (n < need) return 1;
  for (i = 1; i < need; i++) {
    if ((s[i] & 0xC0) != 0x80) return 1;
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 1;
  return need;
}

enum { T_STAR, T_ANY, T_LIT };
typedef struct { int t; const unsigned char *s; size_t n; } tok;

static int ref_match(const unsigned char *p, size_t pn, const unsigned char *s,
                     size_t sn, int cased) {
  tok toks[128];
  unsigned char lit[128];
  size_t nt = 0, nl = 0, i = 0, runstart = 0, j, k;
  size_t cs[300], cl[300], nc = 0; /* subject chars: start, length */
  unsigned char *dp, *nx;
  int r;
  while (i <= pn) {
    int end = i == pn, special = !end && (p[i] == '*' || p[i] == '?');
    if (end || special) { /* flush the literal run as characters */
      size_t q = runstart;
      while (q < nl) {
        size_t l = ref_len(lit + q, nl - q);
        toks[nt].t = T_LIT, toks[nt].s = lit + q, toks[nt].n = l, nt++;
        q += l;
      }
      runstart = nl;
      if (end) break;
      toks[nt++].t = p[i] == '*' ? T_STAR : T_ANY;
      i++;
      continue;
    }
    if (p[i] == '\\' && i + 1 < pn &&
        (p[i + 1] == '*' || p[i + 1] == '?' || p[i + 1] == '\\'))
      lit[nl++] = p[i + 1], i += 2;
    else
      lit[nl++] = p[i], i++;
  }
  for (i = 0; i < sn; i += cl[nc++]) cs[nc] = i, cl[nc] = ref_len(s + i, sn - i);
  dp = calloc(nc + 1, 1), nx = calloc(nc + 1, 1);
  nx[nc] = 1;
  for (k = nt; k-- > 0;) {
    for (j = nc + 1; j-- > 0;) {
      if (toks[k].t == T_STAR) dp[j] = nx[j] || (j < nc && dp[j + 1]);
      else if (j == nc) dp[j] = 0;
      else if (toks[k].t == T_ANY) dp[j] = nx[j + 1];
      else {
        int same = toks[k].n == cl[j];
        size_t m;
        for (m = 0; same && m < cl[j]; m++) {
          unsigned a = toks[k].s[m], b = s[cs[j] + m];
          same = cased ? a == b : fm_lower[a] == fm_lower[b];
        }
        dp[j] = same && nx[j + 1];
      }
    }
    memcpy(nx, dp, nc + 1);
  }
  r = nx[0];
  free(dp);
  free(nx);
  return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  int cased, got, want, ascii = 1;
  size_t pn, sn, i, np = 0, start = 0;
  const unsigned char *p, *s;
  fm_wcplan *plan, **plans;
  fm_wcset *set;
  if (size < 2) return 0;
  cased = data[0] & 1;
  pn = data[1] % 64;
  if (pn > size - 2) pn = size - 2;
  p = data + 2, s = p + pn, sn = size - 2 - pn;
  if (sn > 256) sn = 256;
  plan = fm_wc_compile((const char *)p, pn, cased ? FM_WC_CASED : 0);
  if (plan == NULL) return 0;
  got = fm_wc_match(plan, (const char *)s, sn);
  for (i = 0; i < pn; i++) ascii &= p[i] < 0x80;
  /* the reference folds ASCII only: it speaks for cased or ASCII patterns */
  if (cased || ascii) {
    want = ref_match(p, pn, s, sn, cased);
    if (got != want) {
      fprintf(stderr, "kind %s cased %d: got %d, reference %d\n",
              fm_wc_kind(plan), cased, got, want);
      abort();
    }
  }
  fm_wc_free(plan);
  /* the set of the 0x01-separated pieces agrees with its plans */
  plans = malloc((pn + 2) * sizeof *plans);
  for (i = 0; i <= pn; i++)
    if (i == pn || p[i] == 1) {
      plans[np] = fm_wc_compile((const char *)p + start, i - start,
                                cased ? FM_WC_CASED : 0);
      if (plans[np] == NULL) abort();
      np++, start = i + 1;
    }
  {
    int single[130], anyw = 0;
    size_t first = 0, nall = 0, k, r;
    const size_t *m;
    fm_wcplan **owned = fm_malloc(np * sizeof *owned);
    for (k = 0; k < np; k++) {
      single[k] = fm_wc_match(plans[k], (const char *)s, sn);
      if (single[k]) { anyw = 1; nall++; if (!first) first = k + 1; }
      owned[k] = plans[k];
    }
    set = fm_wcset_new(owned, np);
    if (set == NULL) abort();
    if ((int)fm_wcset_run(set, (const char *)s, sn, FM_SET_ANY) != anyw) abort();
    if (fm_wcset_run(set, (const char *)s, sn, FM_SET_FIRST) != first) abort();
    r = fm_wcset_run(set, (const char *)s, sn, FM_SET_ALL);
    if (r != nall) abort();
    m = fm_wcset_matches(set);
    for (k = 0; k < r; k++)
      if (!single[m[k]] || (k > 0 && m[k] <= m[k - 1])) abort();
    fm_wcset_free(set);
  }
  free(plans);
  return 0;
}

/*
** utf8.h -- strict UTF-8 decoding shared by the wildcard matcher, the pattern
** sets and the string helpers.  The decoders are tiny and sit on the hot
** path of every '?' and every non-ASCII caseless comparison, so they are
** static inline here; folding, KMP and the validity check live in utf8.c.
** Plain C: no Lua (fuzzable).
*/
#ifndef FM_UTF8_H
#define FM_UTF8_H

#include <stddef.h>
#include <stdint.h>

#include "fastmatch.h"

/* ---------------------------------------------------------------------
** UTF-8: strict decoding (no overlongs, surrogates or > U+10FFFF); a byte
** that does not start a valid sequence is one character of its own.  Since
** continuation bytes only follow their lead, character boundaries are the
** same read forwards or backwards.
** ------------------------------------------------------------------- */
#define INVALID_BASE 0x110000u /* code of an invalid byte b: base + b */
#define ISCONT(c) (((c)&0xC0) == 0x80)

static inline size_t u8len(const unsigned char *s, size_t n) {
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
static inline uint32_t u8code(const unsigned char *s, size_t len) {
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
static inline size_t u8back(const unsigned char *s, size_t i) {
  size_t k;
  for (k = 1; k <= 4 && k <= i; k++) {
    if (!ISCONT(s[i - k])) return u8len(s + i - k, k) == k ? i - k : i - 1;
  }
  return i - 1;
}

/* Whether offset i of s[0..n) falls between two characters. */
static inline int u8boundary(const unsigned char *s, size_t n, size_t i) {
  size_t k;
  if (i == 0 || i >= n || !ISCONT(s[i])) return 1;
  for (k = 1; k <= 3 && k <= i; k++)
    if (!ISCONT(s[i - k])) return u8len(s + i - k, n - (i - k)) <= k;
  return 1;
}

/* Simple case folding of a character code (ASCII by table); codes of
   invalid bytes (INVALID_BASE + b) fold to themselves. */
uint32_t fm_fold(uint32_t c);
/* Whether a (valid, non-ASCII) code point has case variants. */
int fm_cased_cp(uint32_t c);

/* ---------------------------------------------------------------------
** Knuth-Morris-Pratt over folded code points.  A umode literal is found by
** trying each candidate start, which is fastest on real text; a hostile
** subject ("ää...ä" against "*ää...äb*") would make that O(n*m), so after a
** few failed candidates the search hands over to KMP: one pass over the
** subject's characters, whatever the input.  Inline: the matcher calls
** it on its hot path, as it did when this lived in wildcard.c.
** ------------------------------------------------------------------- */
#define KMP_AFTER 8 /* failed candidates before the handover */

/* f[k]: length of the longest proper border of a[0..k]. */
static inline void fm_kmp_build(const uint32_t *a, size_t m, uint32_t *f) {
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
static inline size_t fm_kmp_find(const uint32_t *a, const uint32_t *f,
                                 size_t m, const unsigned char *s, size_t n,
                                 size_t from) {
  size_t i = from, q = 0;
  if (m == 0) return from;
  while (i < n) {
    size_t l = u8len(s + i, n - i);
    uint32_t c = fm_fold(u8code(s + i, l));
    while (q > 0 && c != a[q])
      q = f[q - 1];
    if (c == a[q]) q++;
    i += l;
    if (q == m) return i;
  }
  return FM_NOTFOUND;
}

#endif

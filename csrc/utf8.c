/*
** utf8.c -- UTF-8 for the whole module: the validity check (regex 'u'
** prevalidation) and Unicode simple case folding (Unicode 14, from
** csrc/casefold.h).  The decoders and KMP over folded code points are
** inline in utf8.h.
** Owns: these kernels.  Must not touch: a lua_State (fuzzable without Lua),
** any matcher's state.
*/
#include <stddef.h>
#include <stdint.h>

#include "casefold.h"
#include "fastmatch.h"
#include "utf8.h"

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

/* Simple case folding of a character code (ASCII by table). */
uint32_t fm_fold(uint32_t c) {
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
int fm_cased_cp(uint32_t c) {
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

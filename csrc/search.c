/*
** search.c -- substring search kernels: exact (libc memchr/memmem) and
** ASCII-caseless, without ever building a lowered copy of the haystack.
**
** Caseless search follows Wojciech Muła's "SIMD-friendly algorithms for
** substring searching": two bytes of the needle (the first, and the last
** one that folds differently) are broadcast; each block of the haystack is
** compared at both offsets at once, and only positions where both agree are
** verified.  Folding costs one OR per vector: for a letter, x | 0x20 equals
** the lower-case letter exactly when x is that letter in either case; other
** bytes are compared as they are.  AVX2 (picked at run time), SSE2 (the
** x86-64 baseline) or a portable scalar loop.
** Owns: these kernels.  Must not touch: a lua_State (fuzz_search drives
** them without Lua); the string helpers' binding is text.c.
*/
#include <stdint.h>
#include <string.h>

#include "fastmatch.h"

#if (defined(__x86_64__) || defined(__i386__)) && defined(__SSE2__) &&         \
    (defined(__GNUC__) || defined(__clang__))
#define FM_X86 1
#include <immintrin.h>
#else
#define FM_X86 0
#endif

/* A-Z -> a-z, every other byte unchanged. */
const unsigned char fm_lower[256] = {
#define R8(b) b, b + 1, b + 2, b + 3, b + 4, b + 5, b + 6, b + 7
    R8(0x00), R8(0x08), R8(0x10), R8(0x18), R8(0x20), R8(0x28), R8(0x30),
    R8(0x38), 0x40,     R8(0x61), R8(0x69), R8(0x71), 0x79,     0x7a,
    0x5b,     0x5c,     0x5d,     0x5e,     0x5f,     R8(0x60), R8(0x68),
    R8(0x70), R8(0x78), R8(0x80), R8(0x88), R8(0x90), R8(0x98), R8(0xa0),
    R8(0xa8), R8(0xb0), R8(0xb8), R8(0xc0), R8(0xc8), R8(0xd0), R8(0xd8),
    R8(0xe0), R8(0xe8), R8(0xf0), R8(0xf8)
#undef R8
};

#define ISALPHA(c) ((unsigned)(((c) | 0x20) - 'a') < 26u)

/* ---------------------------------------------------------------------
** Caseless equality: eight bytes at a time, folded with SWAR only when the
** raw words differ.
** ------------------------------------------------------------------- */
static inline uint64_t lower64(uint64_t x) {
  uint64_t h = x & 0x7f7f7f7f7f7f7f7fULL;
  uint64_t ge_a = h + 0x3f3f3f3f3f3f3f3fULL; /* bit 7: byte >= 'A' */
  uint64_t gt_z = h + 0x2525252525252525ULL; /* bit 7: byte > 'Z' */
  uint64_t up = ge_a & ~gt_z & ~x & 0x8080808080808080ULL;
  return x | (up >> 2);
}

int fm_iequal(const char *a, const char *b, size_t n) {
  const unsigned char *p = (const unsigned char *)a;
  const unsigned char *q = (const unsigned char *)b;
  while (n >= 8) {
    uint64_t x, y;
    memcpy(&x, p, 8);
    memcpy(&y, q, 8);
    if (x != y && lower64(x) != lower64(y)) return 0;
    p += 8, q += 8, n -= 8;
  }
  while (n > 0) {
    if (fm_lower[*p] != fm_lower[*q]) return 0;
    p++, q++, n--;
  }
  return 1;
}

/* ---------------------------------------------------------------------
** Exact search.
** ------------------------------------------------------------------- */
/* memchr on the first byte and memcmp, as Lua's own lmemfind: in the short
   subjects of log lines this beats memmem, whose setup (a shift table)
   costs more than the search.  After a few false starts (a hostile
   haystack such as "aaaa...") it hands over to memmem, which is linear. */
size_t fm_search(const char *hay, size_t hn, const char *needle, size_t nn) {
  const char *r, *q = hay, *end = hay + hn;
  int misses = 0;
  if (nn == 0) return 0;
  if (nn > hn) return FM_NOTFOUND;
  if (nn == 1) {
    r = memchr(hay, (unsigned char)needle[0], hn);
    return r ? (size_t)(r - hay) : FM_NOTFOUND;
  }
  while ((size_t)(end - q) >= nn) {
    q = memchr(q, (unsigned char)needle[0], (size_t)(end - q) - nn + 1);
    if (q == NULL) return FM_NOTFOUND;
    if (memcmp(q + 1, needle + 1, nn - 1) == 0) return (size_t)(q - hay);
    q++;
    if (++misses > 8) {
      r = memmem(q, (size_t)(end - q), needle, nn);
      return r ? (size_t)(r - hay) : FM_NOTFOUND;
    }
  }
  return FM_NOTFOUND;
}

/* ---------------------------------------------------------------------
** Caseless search.  Every implementation gets the needle's two probe
** offsets o1 <= o2 (o2 < nn) and scans candidate starts i with
** i + nn <= hn.
** ------------------------------------------------------------------- */
typedef size_t (*isearch_fn)(const unsigned char *h, size_t hn,
                             const unsigned char *nd, size_t nn, size_t o1,
                             size_t o2);

static size_t isearch_tail(const unsigned char *h, size_t hn,
                           const unsigned char *nd, size_t nn, size_t o1,
                           size_t o2, size_t i) {
  unsigned char c1 = fm_lower[nd[o1]], c2 = fm_lower[nd[o2]];
  for (; i + nn <= hn; i++)
    if (fm_lower[h[i + o1]] == c1 && fm_lower[h[i + o2]] == c2 &&
        fm_iequal((const char *)h + i, (const char *)nd, nn))
      return i;
  return FM_NOTFOUND;
}

static size_t isearch_scalar(const unsigned char *h, size_t hn,
                             const unsigned char *nd, size_t nn, size_t o1,
                             size_t o2) {
  return isearch_tail(h, hn, nd, nn, o1, o2, 0);
}

#if FM_X86
/* Check the candidates i+k (k < 16, bit k of keep set) of one block. */
#define VERIFY_MASK(mask, i)                                                   \
  while (mask != 0) {                                                          \
    size_t k_ = (i) + (size_t)__builtin_ctz(mask);                             \
    if (k_ + nn <= hn &&                                                       \
        fm_iequal((const char *)h + k_, (const char *)nd, nn))                 \
      return k_;                                                               \
    mask &= mask - 1;                                                          \
  }

static size_t isearch_sse2(const unsigned char *h, size_t hn,
                           const unsigned char *nd, size_t nn, size_t o1,
                           size_t o2) {
  const __m128i m1 = _mm_set1_epi8(ISALPHA(nd[o1]) ? 0x20 : 0);
  const __m128i m2 = _mm_set1_epi8(ISALPHA(nd[o2]) ? 0x20 : 0);
  const __m128i v1 = _mm_set1_epi8((char)fm_lower[nd[o1]]);
  const __m128i v2 = _mm_set1_epi8((char)fm_lower[nd[o2]]);
  size_t i = 0;
#define BLOCK16(at)                                                            \
  _mm_movemask_epi8(_mm_and_si128(                                             \
      _mm_cmpeq_epi8(                                                          \
          _mm_or_si128(_mm_loadu_si128((const __m128i *)(h + (at) + o1)), m1), \
          v1),                                                                 \
      _mm_cmpeq_epi8(                                                          \
          _mm_or_si128(_mm_loadu_si128((const __m128i *)(h + (at) + o2)), m2), \
          v2)))
  if (hn < o2 + 16) return isearch_tail(h, hn, nd, nn, o1, o2, 0);
  /* loads at i+o1 and i+o2 (o1 <= o2) stay inside while i + o2 + 16 <= hn */
  for (; i + o2 + 16 <= hn; i += 16) {
    unsigned mask = (unsigned)BLOCK16(i);
    VERIFY_MASK(mask, i)
  }
  if (i + nn <= hn) { /* the rest: one last block, overlapping the previous */
    size_t last = hn - o2 - 16;
    unsigned mask = (unsigned)BLOCK16(last) & (0xFFFFu << (i - last));
    VERIFY_MASK(mask, last)
  }
  return FM_NOTFOUND;
#undef BLOCK16
}

__attribute__((target("avx2"))) static size_t
isearch_avx2(const unsigned char *h, size_t hn, const unsigned char *nd,
             size_t nn, size_t o1, size_t o2) {
  const __m256i m1 = _mm256_set1_epi8(ISALPHA(nd[o1]) ? 0x20 : 0);
  const __m256i m2 = _mm256_set1_epi8(ISALPHA(nd[o2]) ? 0x20 : 0);
  const __m256i v1 = _mm256_set1_epi8((char)fm_lower[nd[o1]]);
  const __m256i v2 = _mm256_set1_epi8((char)fm_lower[nd[o2]]);
  size_t i = 0;
#define BLOCK32(at)                                                            \
  _mm256_movemask_epi8(_mm256_and_si256(                                       \
      _mm256_cmpeq_epi8(                                                       \
          _mm256_or_si256(                                                     \
              _mm256_loadu_si256((const __m256i *)(h + (at) + o1)), m1),       \
          v1),                                                                 \
      _mm256_cmpeq_epi8(                                                       \
          _mm256_or_si256(                                                     \
              _mm256_loadu_si256((const __m256i *)(h + (at) + o2)), m2),       \
          v2)))
  if (hn < o2 + 32) return isearch_sse2(h, hn, nd, nn, o1, o2);
  for (; i + o2 + 32 <= hn; i += 32) {
    unsigned mask = (unsigned)BLOCK32(i);
    VERIFY_MASK(mask, i)
  }
  if (i + nn <= hn) {
    size_t last = hn - o2 - 32;
    unsigned mask = (unsigned)BLOCK32(last) & (0xFFFFFFFFu << (i - last));
    VERIFY_MASK(mask, last)
  }
  return FM_NOTFOUND;
#undef BLOCK32
}
#undef VERIFY_MASK
#endif

static struct {
  const char *name;
  isearch_fn fn;
  int usable;
} impls[] = {
#if FM_X86
    {"avx2", isearch_avx2, -1}, /* -1: ask the CPU on first use */
    {"sse2", isearch_sse2, 1},
#endif
    {"scalar", isearch_scalar, 1},
};
#define NIMPLS (sizeof impls / sizeof impls[0])

static int impl_usable(size_t k) {
#if FM_X86
  if (impls[k].usable < 0) {
    __builtin_cpu_init();
    impls[k].usable = __builtin_cpu_supports("avx2") ? 1 : 0;
  }
#endif
  return impls[k].usable;
}

static int current = -1; /* index into impls; -1 until first use */

static isearch_fn pick(void) {
  if (current < 0) {
    size_t k = 0;
    while (!impl_usable(k))
      k++; /* the scalar one is always usable */
    current = (int)k;
  }
  return impls[current].fn;
}

const char *fm_search_impl(void) {
  pick();
  return impls[current].name;
}

int fm_search_use(const char *name) {
  size_t k;
  for (k = 0; k < NIMPLS; k++)
    if (strcmp(impls[k].name, name) == 0) {
      if (!impl_usable(k)) return 0;
      current = (int)k;
      return 1;
    }
  return 0;
}

const char *fm_search_impls(size_t k) {
  return k < NIMPLS && impl_usable(k) ? impls[k].name : k < NIMPLS ? "" : NULL;
}

size_t fm_isearch(const char *hay, size_t hn, const char *needle, size_t nn) {
  const unsigned char *nd = (const unsigned char *)needle;
  size_t k, o1 = 0, o2;
  int letters = 0;
  if (nn == 0) return 0;
  if (nn > hn) return FM_NOTFOUND;
  for (k = 0; k < nn && !letters; k++)
    letters = ISALPHA(nd[k]);
  if (!letters) return fm_search(hay, hn, needle, nn); /* folding is moot */
  /* second probe: the last byte that folds differently from the first,
     so that runs like "aaaa" still filter on the last byte */
  o2 = nn - 1;
  while (o2 > 0 && fm_lower[nd[o2]] == fm_lower[nd[o1]])
    o2--;
  if (o2 == 0) o2 = nn - 1;
  return pick()((const unsigned char *)hay, hn, nd, nn, o1, o2);
}

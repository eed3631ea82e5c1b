/*
** jsonout.c -- the JSON writer: an fm_sink (evsink.h) that writes each event
** as JSON text into a growing buffer, compact or indented as evtx_dump's
** default output is (serde_json's pretty printer: two spaces, "key": value,
** {} and [] when empty).
** Owns: JSON syntax and string escaping.  Must not touch: any front end
** (it knows only the sink's calls), Lua.
*/
#include <stdint.h>
#include <string.h>

#include "evtx.h"
#include "fastmatch.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define MAXLEVEL 512

static int grow(fm_jsonout *j, size_t more) {
  size_t cap;
  char *nb;
  if (j->cap - j->len >= more) return 0;
  cap = j->cap ? j->cap : 4096;
  while (cap - j->len < more) cap *= 2;
  nb = fm_realloc(j->buf, cap);
  if (nb == NULL) return j->err = 1, FM_SINK_NOMEM;
  j->buf = nb, j->cap = cap;
  return 0;
}

int fm_jsonout_raw(fm_jsonout *j, const char *s, size_t n) {
  if (grow(j, n) != 0) return FM_SINK_NOMEM;
  memcpy(j->buf + j->len, s, n);
  j->len += n;
  return 0;
}

/* Bytes that need an escape in a JSON string: 1 for \" \\ \n \r \t \b \f,
   2 for \u00XX. */
static const unsigned char esc[256] = {
    2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 2, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

/* The high bit of each byte of x that is below 0x20, '"' or '\\' (bits
   above the lowest one set may be wrong: only the lowest is used). */
static inline uint64_t special8(uint64_t x) {
  const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
  uint64_t q = x ^ (ones * 0x22), b = x ^ (ones * 0x5C);
  return ((x - ones * 0x20) & ~x & high) | ((q - ones) & ~q & high) | ((b - ones) & ~b & high);
}

/* The escape of byte c (one that needs one) at d: the end. */
static inline char *esc_one(char *d, unsigned char c) {
  static const char hx[] = "0123456789abcdef";
  static const char two[256] = {['"'] = '"', ['\\'] = '\\', ['\n'] = 'n', ['\r'] = 'r',
                                ['\t'] = 't', ['\b'] = 'b', ['\f'] = 'f'};
  *d++ = '\\';
  if (two[c]) {
    *d++ = two[c];
    return d;
  }
  d[0] = 'u', d[1] = '0', d[2] = '0', d[3] = hx[c >> 4], d[4] = hx[c & 15];
  return d + 5;
}

/* Write s[0..n) quoted and escaped at d (room for 6n + 16): the end.
   Runs of bytes that need no escape go 16 or 8 at a time; the last few
   bytes of a string of 8 or more go as its last 8. */
static char *put_string(char *d, const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s, *e = p + n;
  *d++ = '"';
#if defined(__SSE2__)
  while (e - p >= 16) {
    __m128i v = _mm_loadu_si128((const __m128i *)p);
    /* bytes < 0x20 (signed compare after flipping the sign bit), '"', '\\' */
    __m128i lo = _mm_cmplt_epi8(_mm_xor_si128(v, _mm_set1_epi8((char)0x80)),
                                _mm_set1_epi8((char)(0x20 ^ 0x80)));
    __m128i q = _mm_cmpeq_epi8(v, _mm_set1_epi8('"'));
    __m128i b = _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'));
    int m = _mm_movemask_epi8(_mm_or_si128(lo, _mm_or_si128(q, b)));
    _mm_storeu_si128((__m128i *)d, v);
    if (m == 0) {
      d += 16, p += 16;
      continue;
    }
    int k = __builtin_ctz((unsigned)m);
    d += k, p += k;
    d = esc_one(d, *p++);
  }
#endif
  while (e - p >= 8) {
    uint64_t x, m;
    memcpy(&x, p, 8);
    m = special8(x);
    memcpy(d, &x, 8);
    if (m == 0) {
      d += 8, p += 8;
      continue;
    }
    int k = __builtin_ctzll(m) >> 3;
    d += k, p += k;
    d = esc_one(d, *p++);
  }
  if (p < e) { /* the last 1-7 bytes as one word (written whole: there is room) */
    size_t r = (size_t)(e - p);
    uint64_t x;
    if (n >= 8) {
      memcpy(&x, e - 8, 8);
      x >>= 8 * (8 - r);
    } else if (r >= 4) {
      uint32_t lo, hi;
      memcpy(&lo, p, 4), memcpy(&hi, e - 4, 4);
      x = lo | (uint64_t)hi << (8 * (r - 4));
    } else if (r >= 2) {
      uint16_t lo, hi;
      memcpy(&lo, p, 2), memcpy(&hi, e - 2, 2);
      x = lo | (uint64_t)hi << (8 * (r - 2));
    } else
      x = p[0];
    if ((special8(x) & (((uint64_t)1 << (8 * r)) - 1)) == 0) {
      memcpy(d, &x, 8);
      d += r, p = e;
    }
  }
  for (; p < e; p++) {
    if (!esc[*p]) *d++ = (char)*p;
    else d = esc_one(d, *p);
  }
  *d++ = '"';
  return d;
}

static inline int bit(const unsigned char *b, int i) { return b[i]; }
static inline void setbit(unsigned char *b, int i, int v) { b[i] = (unsigned char)v; }

/* Room for an event: its separator, indentation, key and value (more
   bytes): the place to write at, or NULL. */
static char *room(fm_jsonout *j, size_t more) {
  more += 16 + (size_t)j->indent * (size_t)(j->depth + 1);
  if (j->cap - j->len < more && grow(j, more) != 0) return NULL;
  return j->buf + j->len;
}

/* The separator and key before a member or element, at d. */
static char *lead(fm_jsonout *j, char *d, const char *key, size_t klen) {
  if (j->depth > 0) {
    int lv = j->depth - 1;
    if (!bit(j->first, lv)) *d++ = ',';
    else setbit(j->first, lv, 0);
    if (j->indent) {
      size_t k = (size_t)j->indent * (size_t)j->depth;
      *d++ = '\n';
      memset(d, ' ', k);
      d += k;
    }
    if (!bit(j->arr, lv)) {
      d = put_string(d, key != NULL ? key : "", key != NULL ? klen : 0);
      *d++ = ':';
      if (j->indent) *d++ = ' ';
    }
  }
  return d;
}

static int jo_begin(fm_sink *s, const char *key, size_t klen, int array) {
  fm_jsonout *j = (fm_jsonout *)s;
  int arr = FM_SV_KIND(array) != 0;
  char *d;
  if (j->depth >= MAXLEVEL) return j->err = 1, FM_SINK_OTHER;
  if ((d = room(j, 6 * klen + 4)) == NULL) return FM_SINK_NOMEM;
  d = lead(j, d, key, klen);
  *d++ = arr ? '[' : '{';
  j->len = (size_t)(d - j->buf);
  setbit(j->first, j->depth, 1);
  setbit(j->arr, j->depth, arr);
  j->depth++;
  return 0;
}

static int jo_end(fm_sink *s) {
  fm_jsonout *j = (fm_jsonout *)s;
  int lv;
  char *d;
  if (j->depth == 0) return j->err = 1, FM_SINK_OTHER;
  lv = --j->depth;
  if ((d = room(j, 2)) == NULL) return FM_SINK_NOMEM;
  if (j->indent && !bit(j->first, lv)) {
    size_t k = (size_t)j->indent * (size_t)lv;
    *d++ = '\n';
    memset(d, ' ', k);
    d += k;
  }
  *d++ = bit(j->arr, lv) ? ']' : '}';
  j->len = (size_t)(d - j->buf);
  return 0;
}

static int jo_scalar(fm_sink *s, const char *key, size_t klen, int kind,
                     const char *v, size_t vlen) {
  fm_jsonout *j = (fm_jsonout *)s;
  char *d = room(j, 6 * (klen + vlen) + 8);
  if (d == NULL) return FM_SINK_NOMEM;
  d = lead(j, d, key, klen);
  switch (FM_SV_KIND(kind)) {
  case FM_SV_STR: d = put_string(d, v, vlen); break;
  case FM_SV_NULL: memcpy(d, "null", 4), d += 4; break;
  default: memcpy(d, v, vlen), d += vlen; break; /* a number, true, false */
  }
  j->len = (size_t)(d - j->buf);
  return 0;
}

void fm_jsonout_init(fm_jsonout *j, int indent) {
  memset(j, 0, sizeof *j);
  j->sink.begin = jo_begin;
  j->sink.end = jo_end;
  j->sink.scalar = jo_scalar;
  j->indent = indent;
}

void fm_jsonout_free(fm_jsonout *j) {
  fm_free(j->buf);
  j->buf = NULL;
  j->len = j->cap = 0;
}

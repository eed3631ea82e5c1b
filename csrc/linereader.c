/*
** linereader.c -- the line reader, a kernel (plain C, no Lua): a block
** reader and line splitter over any read callback or a borrowed string
** (fm_lines_next), the block search that hands out only the lines around a
** literal's hit (fm_lines_next_hit), the line count (fm_lines_count) and a
** SIMD newline counter (fm_count_nl).  Declared in fastmatch.h, beside the
** one inline the binding's hot loop shares with it (fm_lines_give).
** Its callers: the binding lines.c (fm.lines, fm.lines_of, fm.count_lines),
** parcount.c (a thread per range) and the fuzz targets, none of which it
** calls back.
** Owns: the buffer, line boundaries, line numbers, max_line.  Must not
** touch: Lua, matchers (find is a plain callback).
*/
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "fastmatch.h"

/* ---------------------------------------------------------------------
** Block reader + line splitter
** ------------------------------------------------------------------- */

void fm_lines_init(fm_linereader *r, size_t block, size_t max_line, int crlf,
                   fm_readfn read, void *ud) {
  memset(r, 0, sizeof *r);
  r->block = block > 0 ? block : 1;
  r->max_line = max_line;
  r->crlf = crlf != 0;
  r->read = read;
  r->ud = ud;
}

void fm_lines_init_string(fm_linereader *r, const char *s, size_t n,
                          size_t max_line, int crlf) {
  fm_lines_init(r, 1, max_line, crlf, NULL, NULL);
  r->buf = (char *)s; /* cap == 0 marks it borrowed: never written */
  r->end = n;
  r->eof = 1;
}

void fm_lines_free(fm_linereader *r) {
  if (r->cap > 0) fm_free(r->buf);
  r->buf = NULL;
  r->cap = r->beg = r->end = r->scan = 0;
}

/* Make room for at least half a block after the pending bytes: move them
   to the front, then grow (a long line) or shrink (after one). */
static int make_room(fm_linereader *r) {
  size_t pend = r->end - r->beg;
  size_t want = r->block / 2 + 1;
  if (r->beg > 0) {
    if (pend > 0) memmove(r->buf, r->buf + r->beg, pend);
    r->scan -= r->beg;
    r->beg = 0;
    r->end = pend;
  }
  if (r->cap / 4 > r->block && pend < r->block / 2) { /* a long line passed */
    char *nb = (char *)fm_realloc(r->buf, r->block);
    if (nb != NULL) {
      r->buf = nb;
      r->cap = r->block;
    }
  }
  if (r->cap - r->end < want) {
    size_t ncap = r->cap == 0 ? r->block : r->cap;
    char *nb;
    while (ncap - r->end < want) {
      if (ncap > ((size_t)-1) / 2) return FM_ENOMEM;
      ncap *= 2;
    }
    nb = (char *)fm_realloc(r->buf, ncap);
    if (nb == NULL) return FM_ENOMEM;
    r->buf = nb;
    r->cap = ncap;
  }
  return 0;
}

int fm_lines_next(fm_linereader *r, fm_line *ln) {
  for (;;) {
    size_t pend;
    const char *nl;
    int rc;
    if (r->status < 0) return r->status;
    nl = r->end > r->scan
             ? (const char *)memchr(r->buf + r->scan, '\n', r->end - r->scan)
             : NULL;
    if (nl != NULL) {
      size_t at = (size_t)(nl - r->buf);
      return fm_lines_give(r, ln, at, at + 1, 1);
    }
    r->scan = r->end;
    pend = r->end - r->beg;
    /* No newline yet: stop a line over max_line before buffering more of
       it (with crlf, one more byte may be the '\r' of its terminator). */
    if (pend > r->max_line && pend - r->max_line > (size_t)r->crlf) {
      r->lineno++;
      return r->status = FM_LINES_ETOOLONG;
    }
    if (r->eof) {
      if (pend == 0) return 0;
      return fm_lines_give(r, ln, r->end, r->end, 0); /* last line, no newline */
    }
    rc = make_room(r);
    if (rc < 0) return r->status = rc;
    {
      ptrdiff_t got = r->read(r->ud, r->buf + r->end, r->cap - r->end);
      if (got < 0) {
        r->err = errno;
        return r->status = FM_LINES_EREAD;
      }
      if (got == 0)
        r->eof = 1;
      else
        r->end += (size_t)got;
    }
  }
}

/* ---------------------------------------------------------------------
** Block search: hand out only the lines around a hit of find() in the
** buffered complete lines; count and check the lines in between.
** ------------------------------------------------------------------- */
#if (defined(__x86_64__) || defined(__i386__)) && defined(__SSE2__) &&         \
    (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
/* cmpeq gives -1 per '\n': subtracting it counts in byte lanes, summed
   (psadbw) before a lane can overflow. */
static size_t count_nl_sse2(const char *s, size_t n) {
  const __m128i nl = _mm_set1_epi8('\n');
  size_t total = 0, i = 0;
  while (n - i >= 16) {
    __m128i acc = _mm_setzero_si128();
    size_t rounds = (n - i) / 16;
    if (rounds > 255) rounds = 255;
    for (; rounds > 0; rounds--, i += 16) {
      __m128i v = _mm_loadu_si128((const __m128i *)(s + i));
      acc = _mm_sub_epi8(acc, _mm_cmpeq_epi8(v, nl));
    }
    acc = _mm_sad_epu8(acc, _mm_setzero_si128());
    total += (size_t)_mm_cvtsi128_si32(acc) +
             (size_t)_mm_cvtsi128_si32(_mm_srli_si128(acc, 8));
  }
  for (; i < n; i++)
    total += s[i] == '\n';
  return total;
}

__attribute__((target("avx2"))) static size_t count_nl_avx2(const char *s,
                                                            size_t n) {
  const __m256i nl = _mm256_set1_epi8('\n');
  size_t total = 0, i = 0;
  while (n - i >= 64) {
    __m256i acc = _mm256_setzero_si256(), sum;
    size_t rounds = (n - i) / 64;
    if (rounds > 127) rounds = 127; /* two adds a round per lane */
    for (; rounds > 0; rounds--, i += 64) {
      __m256i a = _mm256_loadu_si256((const __m256i *)(s + i));
      __m256i b = _mm256_loadu_si256((const __m256i *)(s + i + 32));
      acc = _mm256_sub_epi8(acc, _mm256_cmpeq_epi8(a, nl));
      acc = _mm256_sub_epi8(acc, _mm256_cmpeq_epi8(b, nl));
    }
    sum = _mm256_sad_epu8(acc, _mm256_setzero_si256());
    total += (size_t)_mm256_extract_epi64(sum, 0) +
             (size_t)_mm256_extract_epi64(sum, 1) +
             (size_t)_mm256_extract_epi64(sum, 2) +
             (size_t)_mm256_extract_epi64(sum, 3);
  }
  return total + count_nl_sse2(s + i, n - i);
}

size_t fm_count_nl(const char *s, size_t n) {
  static int avx2 = -1; /* ask the CPU on first use */
  if (avx2 < 0) avx2 = __builtin_cpu_supports("avx2") ? 1 : 0;
  return avx2 ? count_nl_avx2(s, n) : count_nl_sse2(s, n);
}
#else
size_t fm_count_nl(const char *s, size_t n) {
  size_t total = 0, i;
  for (i = 0; i < n; i++)
    total += s[i] == '\n';
  return total;
}
#endif

/* The lines buf[beg, to) go by unseen (to is a line start, or the end of
   the input): count them, and check them against max_line as give() would
   -- a line is too long only if no '\n' follows within max_line + 1 bytes
   of its start, so a window per line over max_line finds it without
   splitting every line.  0, or FM_LINES_ETOOLONG naming the line. */
static int skip_lines(fm_linereader *r, size_t to) {
  const char *b = r->buf + r->beg, *e = r->buf + to, *p = b;
  if (to == r->beg) return 0;
  if (r->max_line != FM_LINES_NOLIMIT) {
    while ((size_t)(e - p) > r->max_line) {
      const char *q = (const char *)memrchr(p, '\n', r->max_line + 1);
      size_t len;
      if (q != NULL) {
        p = q + 1;
        continue;
      }
      /* no '\n' in the window: measure this line exactly */
      q = (const char *)memchr(p, '\n', (size_t)(e - p));
      len = (size_t)((q != NULL ? q : e) - p);
      if (q != NULL && r->crlf && len > 0 && q[-1] == '\r') len--;
      if (len > r->max_line) {
        r->lineno += fm_count_nl(b, (size_t)(p - b)) + 1;
        r->beg = r->scan = (size_t)(p - r->buf);
        return r->status = FM_LINES_ETOOLONG;
      }
      if (q == NULL) break;
      p = q + 1;
    }
  }
  r->lineno += fm_count_nl(b, (size_t)(e - b));
  if (e[-1] != '\n') r->lineno++; /* the last line, without '\n' */
  r->beg = r->scan = to;
  return 0;
}

/* Every DENSE_EVERY hits, fewer than DENSE_SKIP lines skipped in all means
   the literal is on most lines: the next DENSE_PLAIN lines are split one by
   one (the same lines come out either way; only the cost differs). */
#define DENSE_EVERY 64
#define DENSE_SKIP 128
#define DENSE_PLAIN 4096

int fm_lines_next_hit(fm_linereader *r, fm_findfn find, const void *fud,
                      fm_line *ln) {
  if (r->plain > 0) {
    r->plain--;
    return fm_lines_next(r, ln);
  }
  for (;;) {
    size_t pend;
    int rc;
    if (r->status < 0) return r->status;
    if (r->end > r->beg) {
      size_t stop = r->end; /* complete lines: buf[beg, stop) */
      if (!r->eof) {
        const char *q =
            (const char *)memrchr(r->buf + r->beg, '\n', r->end - r->beg);
        stop = q != NULL ? (size_t)(q - r->buf) + 1 : r->beg;
      }
      if (stop > r->beg) {
        size_t h = find(fud, r->buf + r->beg, stop - r->beg);
        if (h == FM_NOTFOUND) {
          if (skip_lines(r, stop) < 0) return r->status;
        } else { /* the line holding the hit's first byte */
          size_t at = r->beg + h, ls = r->beg;
          const char *q =
              h > 0 ? (const char *)memrchr(r->buf + r->beg, '\n', h) : NULL;
          if (q != NULL) ls = (size_t)(q - r->buf) + 1;
          {
            size_t before = r->lineno;
            if (skip_lines(r, ls) < 0) return r->status;
            r->skipped += r->lineno - before;
            if (++r->hits == DENSE_EVERY) {
              if (r->skipped < DENSE_SKIP) r->plain = DENSE_PLAIN;
              r->hits = r->skipped = 0;
            }
          }
          q = (const char *)memchr(r->buf + at, '\n', stop - at);
          if (q != NULL) {
            size_t le = (size_t)(q - r->buf);
            return fm_lines_give(r, ln, le, le + 1, 1);
          }
          return fm_lines_give(r, ln, stop, stop, 0); /* last line, no newline */
        }
      }
    }
    pend = r->end - r->beg;
    if (pend > r->max_line && pend - r->max_line > (size_t)r->crlf) {
      r->lineno++;
      return r->status = FM_LINES_ETOOLONG;
    }
    if (r->eof) return 0;
    rc = make_room(r);
    if (rc < 0) return r->status = rc;
    {
      ptrdiff_t got = r->read(r->ud, r->buf + r->end, r->cap - r->end);
      if (got < 0) {
        r->err = errno;
        return r->status = FM_LINES_EREAD;
      }
      if (got == 0)
        r->eof = 1;
      else
        r->end += (size_t)got;
    }
  }
}

/* Count the lines left (a last line without '\n' included) with one
   memchr run per line and no line handed out; max_line is not checked, and
   a long line is not kept (memory stays at the block size).  0, or a
   negative code as fm_lines_next. */
int fm_lines_count(fm_linereader *r, size_t *count) {
  size_t n = 0;
  int partial = 0; /* bytes of an unfinished line were dropped */
  for (;;) {
    const char *p, *e;
    int rc;
    if (r->status < 0) return r->status;
    if (r->end > r->beg) { /* (buf is NULL before the first read) */
      p = r->buf + r->beg;
      e = r->buf + r->end;
      while (p < e && (p = (const char *)memchr(p, '\n', (size_t)(e - p)))) {
        n++;
        r->lineno++;
        partial = 0;
        p++;
      }
      if (r->buf[r->end - 1] != '\n') partial = 1;
      r->beg = r->scan = r->end; /* all seen: nothing to keep */
    }
    if (r->eof) {
      if (partial) { /* last line, no newline */
        n++;
        r->lineno++;
      }
      *count = n;
      return 0;
    }
    rc = make_room(r);
    if (rc < 0) return r->status = rc;
    {
      ptrdiff_t got = r->read(r->ud, r->buf + r->end, r->cap - r->end);
      if (got < 0) {
        r->err = errno;
        *count = n;
        return r->status = FM_LINES_EREAD;
      }
      if (got == 0)
        r->eof = 1;
      else
        r->end += (size_t)got;
    }
  }
}

/*
** fuzz_blocksearch.c -- the block search (fm_lines_next_hit with an
** fm_litset finder) against the per-line path (fm_lines_next, every line
** tested), over the same input read in random short chunks: the same
** lines, numbers, terminators, and the same error (max_line, with its line
** number) must come out.  The filter is "contains one of the literals" and
** also "has an even length", so that verification can reject a hit line.
**
** Input: byte 0 block size (low 6 bits; 0 means 1) and "verify rejects odd
** lengths" (0x40); byte 1 crlf (bit 0), "max_line is set" (bit 1), caseless
** per literal (bits 2-4), literal count - 1 (bits 5-6); byte 2 max_line and
** the chunk seed; byte 3.. up to three literals, each as a length byte
** (low 3 bits + 1) and its bytes; the rest is the data.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fastmatch.h"

typedef struct Src {
  const uint8_t *p;
  size_t n, off;
  uint32_t rng;
} Src;

static uint32_t rnd(uint32_t *s) {
  uint32_t x = *s;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return *s = x;
}

static ptrdiff_t src_read(void *ud, char *dst, size_t n) {
  Src *s = (Src *)ud;
  size_t k = 1 + rnd(&s->rng) % 53;
  if (s->off == s->n) return 0;
  if (k > n) k = n;
  if (k > s->n - s->off) k = s->n - s->off;
  memcpy(dst, s->p + s->off, k);
  s->off += k;
  return (ptrdiff_t)k;
}

typedef struct Filter {
  fm_literal lit[3];
  size_t n;
  int even; /* also require an even length */
} Filter;

static int keep(const Filter *f, const char *s, size_t n) {
  size_t k;
  if (f->even && n % 2) return 0;
  for (k = 0; k < f->n; k++) {
    const fm_literal *l = &f->lit[k];
    size_t at = l->caseless ? fm_isearch(s, n, l->s, l->n)
                            : fm_search(s, n, l->s, l->n);
    if (at != FM_NOTFOUND) return 1;
  }
  return 0;
}

/* One kept line or the end, as comparable values. */
typedef struct Out {
  int rc;
  size_t lineno, len, full, off; /* off: the line's offset in the input */
} Out;

static Out next(fm_linereader *r, const Filter *f, fm_litset *set,
                const uint8_t *base, const Src *src) {
  Out o;
  fm_line ln;
  for (;;) {
    o.rc = set != NULL ? fm_lines_next_hit(r, fm_litset_find, set, &ln)
                       : fm_lines_next(r, &ln);
    if (o.rc <= 0 || keep(f, ln.s, ln.len)) break;
  }
  o.lineno = r->lineno;
  o.len = o.rc > 0 ? ln.len : 0;
  o.full = o.rc > 0 ? ln.full : 0;
  /* the bytes themselves: compare with the input at this line's place */
  o.off = 0;
  if (o.rc > 0) {
    /* the buffer ends at what was read so far: src->off - (end - s) */
    size_t behind = (size_t)((r->buf + r->end) - ln.s);
    o.off = src->off - behind;
    if (memcmp(ln.s, base + o.off, ln.full) != 0) abort();
  }
  return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t block, max_line = FM_LINES_NOLIMIT, pos = 3, k, nlit;
  int crlf;
  Filter f;
  fm_litset *set;
  fm_linereader a, b;
  Src sa, sb;
  if (size < 4) return 0;
  block = data[0] & 0x3f;
  if (block == 0) block = 1;
  f.even = (data[0] & 0x40) != 0;
  crlf = data[1] & 1;
  if (data[1] & 2) max_line = data[2] % 64;
  nlit = 1 + ((data[1] >> 5) & 3);
  if (nlit > 3) nlit = 3;
  f.n = 0;
  for (k = 0; k < nlit && pos < size; k++) {
    size_t len = 1 + (data[pos] & 7);
    pos++;
    if (len > size - pos) break;
    f.lit[f.n].s = (const char *)data + pos;
    f.lit[f.n].n = len;
    f.lit[f.n].caseless = (data[1] >> (2 + k)) & 1;
    f.n++;
    pos += len;
  }
  if (f.n == 0) return 0;
  set = fm_litset_new(f.lit, f.n);
  if (set == NULL) abort();
  data += pos, size -= pos;
  sa.p = sb.p = data;
  sa.n = sb.n = size;
  sa.off = sb.off = 0;
  sa.rng = sb.rng = 0x9e3779b9u ^ (uint32_t)block ^ ((uint32_t)size << 8);
  fm_lines_init(&a, block, max_line, crlf, src_read, &sa);
  fm_lines_init(&b, block, max_line, crlf, src_read, &sb);
  for (;;) {
    Out x = next(&a, &f, NULL, data, &sa);
    Out y = next(&b, &f, set, data, &sb);
    if (x.rc != y.rc || x.lineno != y.lineno || x.len != y.len ||
        x.full != y.full || x.off != y.off) {
      fprintf(stderr,
              "per line: rc %d line %zu len %zu full %zu off %zu\n"
              "block:    rc %d line %zu len %zu full %zu off %zu\n",
              x.rc, x.lineno, x.len, x.full, x.off, y.rc, y.lineno, y.len,
              y.full, y.off);
      abort();
    }
    if (x.rc <= 0) break;
  }
  fm_lines_free(&a);
  fm_lines_free(&b);
  fm_litset_free(set);
  /* the newline counter against a plain loop */
  {
    size_t want = 0, i;
    for (i = 0; i < size; i++)
      want += data[i] == '\n';
    if (fm_count_nl((const char *)data, size) != want) abort();
  }
  return 0;
}

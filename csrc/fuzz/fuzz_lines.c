/*
** fuzz_lines.c -- the line splitter (fm_lines_next) against a naive
** byte-by-byte splitter, fed through a read callback that returns random
** short blocks (and sometimes fails), with random block sizes, crlf and
** max_line; and the same over a borrowed string (fm_lines_init_string).
**
** Input: byte 0 block size (low 6 bits) and "inject a read error" (0x80);
** byte 1 crlf (bit 0) and "max_line is set" (bit 1); byte 2 max_line and
** the seed of the chunk sizes; the rest is the data.
*/
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fastmatch.h"

#define CHECK(c)                                                              \
  do {                                                                        \
    if (!(c)) __builtin_trap();                                               \
  } while (0)

typedef struct Src {
  const uint8_t *p;
  size_t n, off, fail_at;
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
  size_t k = 1 + rnd(&s->rng) % 37;
  if (s->off >= s->fail_at) {
    errno = EIO;
    return -1;
  }
  if (s->off == s->n) return 0;
  if (k > n) k = n;
  if (k > s->n - s->off) k = s->n - s->off;
  memcpy(dst, s->p + s->off, k);
  s->off += k;
  return (ptrdiff_t)k;
}

/* Compare a reader with the naive split of s[0, n); 'canfail': the reader
   may stop with FM_LINES_EREAD. */
static void run(fm_linereader *r, const uint8_t *s, size_t n, int crlf,
                size_t max_line, int canfail) {
  size_t pos = 0, lineno = 0;
  fm_line ln;
  int rc;
  for (;;) {
    size_t e = pos, len, full;
    rc = fm_lines_next(r, &ln);
    while (e < n && s[e] != '\n') e++;
    if (pos == n) { /* the naive splitter is done */
      CHECK(rc == 0 || (canfail && rc == FM_LINES_EREAD));
      break;
    }
    lineno++;
    full = (e < n ? e + 1 : e) - pos;
    len = e - pos;
    if (e < n && crlf && len > 0 && s[e - 1] == '\r') len--;
    if (rc == FM_LINES_ETOOLONG) {
      CHECK(len > max_line);
      CHECK(r->lineno == lineno);
      CHECK(fm_lines_next(r, &ln) == FM_LINES_ETOOLONG); /* sticky */
      break;
    }
    if (rc == FM_LINES_EREAD && canfail) break;
    CHECK(rc == 1);
    CHECK(len <= max_line);
    CHECK(ln.len == len && ln.full == full);
    CHECK(memcmp(ln.s, s + pos, full) == 0);
    CHECK(r->lineno == lineno);
    pos += full;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fm_linereader r;
  Src src;
  size_t block, max_line, n;
  int crlf;
  if (size < 3) return 0;
  block = 1 + (data[0] & 63);
  crlf = data[1] & 1;
  max_line = (data[1] & 2) ? data[2] % 40 : FM_LINES_NOLIMIT;
  n = size - 3;
  src.p = data + 3;
  src.n = n;
  src.off = 0;
  src.fail_at = (data[0] & 0x80) ? (data[2] * 7u) % (n + 1) : (size_t)-1;
  src.rng = 0x9e3779b9u ^ data[2];
  fm_lines_init(&r, block, max_line, crlf, src_read, &src);
  run(&r, data + 3, n, crlf, max_line, src.fail_at != (size_t)-1);
  fm_lines_free(&r);
  fm_lines_free(&r); /* idempotent */

  fm_lines_init_string(&r, (const char *)data + 3, n, max_line, crlf);
  run(&r, data + 3, n, crlf, max_line, 0);
  fm_lines_free(&r); /* must not free the borrowed string */
  return 0;
}

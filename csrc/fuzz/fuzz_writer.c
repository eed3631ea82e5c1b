/*
** fuzz_writer.c -- the output buffer (fm_wbuf_add / fm_wbuf_flush) over a
** sink that takes random short writes, fails with EINTR now and then, and
** (when asked) fails for good with ENOSPC after some bytes.  Invariants:
** the sink holds a prefix of the bytes accepted, and the sink plus the
** buffer hold exactly the bytes accepted; without the failure, everything
** arrives after the last flush.
**
** Input: byte 0 buffer size; byte 1 seed and "fail after" (0x80); then
** ops: a byte b (b % 8 == 0: flush; else add the next b bytes).
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

typedef struct Sink {
  char *out;
  size_t len, cap, fail_after;
  uint32_t rng;
} Sink;

static uint32_t rnd(uint32_t *s) {
  uint32_t x = *s;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return *s = x;
}

static ptrdiff_t sink_write(void *ud, const char *p, size_t n) {
  Sink *s = (Sink *)ud;
  size_t k;
  if (rnd(&s->rng) % 5 == 0) {
    errno = EINTR;
    return -1;
  }
  if (s->len >= s->fail_after) {
    errno = ENOSPC;
    return -1;
  }
  k = 1 + rnd(&s->rng) % n;
  if (s->len + k > s->cap) {
    s->cap = (s->len + k) * 2;
    s->out = (char *)realloc(s->out, s->cap);
    CHECK(s->out != NULL);
  }
  memcpy(s->out + s->len, p, k);
  s->len += k;
  return (ptrdiff_t)k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fm_wbuf b;
  Sink sink = {NULL, 0, 0, (size_t)-1, 0};
  char *want;
  size_t wlen = 0, i = 2;
  int failing;
  if (size < 2) return 0;
  failing = (data[1] & 0x80) != 0;
  if (failing) sink.fail_after = (size_t)data[1] * 3;
  sink.rng = 0x2545f491u ^ data[1];
  want = (char *)malloc(size + 1);
  CHECK(want != NULL);
  CHECK(fm_wbuf_init(&b, 1 + data[0], sink_write, &sink) == 0);
  while (i < size) {
    uint8_t op = data[i++];
    int err;
    if (op % 8 == 0) {
      err = fm_wbuf_flush(&b);
      CHECK(err == 0 || (failing && err == ENOSPC));
      if (err == 0) CHECK(b.len == 0);
    } else {
      size_t n = op, taken;
      if (n > size - i) n = size - i;
      err = fm_wbuf_add(&b, (const char *)data + i, n, &taken);
      CHECK(err == 0 || (failing && err == ENOSPC));
      CHECK(err != 0 || taken == n);
      CHECK(taken <= n);
      memcpy(want + wlen, data + i, taken);
      wlen += taken;
      i += n;
    }
    CHECK(b.len <= b.cap);
    CHECK(sink.len + b.len == wlen);
    CHECK(sink.len == 0 || memcmp(sink.out, want, sink.len) == 0);
    CHECK(b.len == 0 || memcmp(b.buf, want + sink.len, b.len) == 0);
  }
  if (fm_wbuf_flush(&b) == 0) {
    CHECK(sink.len == wlen);
    CHECK(wlen == 0 || memcmp(sink.out, want, wlen) == 0);
  } else
    CHECK(failing);
  fm_wbuf_free(&b);
  free(want);
  free(sink.out);
  return 0;
}

/*
** fuzz_search.c -- the substring search kernels against naive loops, for
** every caseless implementation this CPU has.  Input: a needle-length byte,
** the needle, then the haystack.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fastmatch.h"

static size_t naive(const char *h, size_t hn, const char *nd, size_t nn,
                    int ci) {
  size_t i, k;
  if (nn > hn) return FM_NOTFOUND;
  for (i = 0; i + nn <= hn; i++) {
    for (k = 0; k < nn; k++) {
      unsigned char a = (unsigned char)h[i + k], b = (unsigned char)nd[k];
      if (ci ? fm_lower[a] != fm_lower[b] : a != b) break;
    }
    if (k == nn) return i;
  }
  return FM_NOTFOUND;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t nn, hn, k, want, got;
  const char *nd, *h, *name;
  const char *keep;
  if (size < 1) return 0;
  nn = data[0] % 48;
  if (nn > size - 1) nn = size - 1;
  nd = (const char *)data + 1, h = nd + nn, hn = size - 1 - nn;
  if (fm_search(h, hn, nd, nn) != naive(h, hn, nd, nn, 0)) abort();
  want = naive(h, hn, nd, nn, 1);
  keep = fm_search_impl();
  for (k = 0; (name = fm_search_impls(k)) != NULL; k++) {
    if (*name == '\0') continue;
    fm_search_use(name);
    got = fm_isearch(h, hn, nd, nn);
    if (got != want) {
      fprintf(stderr, "%s: got %zu want %zu\n", name, got, want);
      abort();
    }
  }
  fm_search_use(keep);
  if (hn >= nn && fm_iequal(h, nd, nn) != (naive(h, nn, nd, nn, 1) == 0))
    abort();
  return 0;
}

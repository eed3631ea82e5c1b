/*
** fuzz_gsub_template.c -- the gsub replacement-template parser and the UTF-8
** checker (template.c and utf8.c kernels), driven without Lua.
**   input: byte 0 selects the mode (even: FM_TPL_LUA, odd: FM_TPL_REX),
**   the rest is the template (and the UTF-8 checker's input).
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fastmatch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *t;
  size_t n, k, k2, err = (size_t)-2, u;
  int mode;
  fm_tpl_item small[4], *items;
  if (size < 1) return 0;
  mode = (data[0] & 1) ? FM_TPL_REX : FM_TPL_LUA;
  t = (const char *)data + 1;
  n = size - 1;

  k = fm_tpl_parse(t, n, mode, small, 4, &err);
  if (k == (size_t)-1) {
    if (mode == FM_TPL_REX) abort(); /* the lrexlib mode never fails */
    if (err >= n || t[err] != '%') abort();
  } else {
    if (k > n + 1) abort();
    items = (fm_tpl_item *)malloc((k ? k : 1) * sizeof *items);
    k2 = fm_tpl_parse(t, n, mode, items, k, &err);
    if (k2 != k) abort();
    for (size_t i = 0; i < k; i++) {
      const fm_tpl_item *x = &items[i];
      if (i < 4 && (x->kind != small[i].kind || x->a != small[i].a ||
                    x->b != small[i].b))
        abort();
      switch (x->kind) {
      case FM_TPL_TEXT:
      case FM_TPL_NAME:
        if (x->a > n || x->b > n - x->a || x->b == 0) abort();
        break;
      case FM_TPL_GROUP:
        if (x->a > 99999) abort();
        break;
      default:
        abort();
      }
    }
    free(items);
  }

  u = fm_utf8_check(t, n);
  if (u > n) abort();
  if (fm_utf8_check(t, u) != u) abort(); /* the valid prefix is valid */
  return 0;
}

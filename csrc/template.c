/*
** template.c -- the gsub replacement-template parser both regex faces use
** (Lua's %0-%9/%{name} and lrexlib's %0-%9).  Owns: parsing a template
** into items.  Must not touch: a lua_State (fuzz_gsub_template drives it
** without Lua), PCRE2; expanding the items is regex_loops.c's job.
*/
#include <stddef.h>

#include "fastmatch.h"

static int tpl_isname(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '_';
}

/* Parse a gsub replacement template.  Items go to out[0..cap); the return
   value is how many there are (call again with more room when it exceeds
   cap), or (size_t)-1 on a syntax error (FM_TPL_LUA only), *errpos = the
   offset of the offending '%'. */
size_t fm_tpl_parse(const char *t, size_t n, int mode, fm_tpl_item *out,
                    size_t cap, size_t *errpos) {
  size_t i = 0, k = 0;
#define TPL_PUT(K, A, B)                                                       \
  do {                                                                         \
    if (k < cap) out[k].kind = (K), out[k].a = (A), out[k].b = (B);            \
    k++;                                                                       \
  } while (0)
  while (i < n) {
    size_t j = i;
    while (j < n && t[j] != '%')
      j++;
    if (j > i) TPL_PUT(FM_TPL_TEXT, i, j - i);
    if (j >= n) break;
    /* t[j] == '%' */
    if (j + 1 >= n) { /* a lone '%' at the end */
      if (mode == FM_TPL_REX) break;
      if (errpos) *errpos = j;
      return (size_t)-1;
    }
    unsigned char c = (unsigned char)t[j + 1];
    if (c >= '0' && c <= '9') {
      TPL_PUT(FM_TPL_GROUP, (size_t)(c - '0'), 0);
      i = j + 2;
    } else if (mode == FM_TPL_REX || c == '%') {
      TPL_PUT(FM_TPL_TEXT, j + 1, 1);
      i = j + 2;
    } else if (c == '{') {
      size_t a = j + 2, e = a;
      int digits = 1;
      while (e < n && tpl_isname((unsigned char)t[e])) {
        if (t[e] < '0' || t[e] > '9') digits = 0;
        e++;
      }
      if (e == a || e >= n || t[e] != '}' || (digits && e - a > 5)) {
        if (errpos) *errpos = j;
        return (size_t)-1;
      }
      if (digits) {
        size_t g = 0;
        for (size_t x = a; x < e; x++)
          g = g * 10 + (size_t)(t[x] - '0');
        TPL_PUT(FM_TPL_GROUP, g, 0);
      } else
        TPL_PUT(FM_TPL_NAME, a, e - a);
      i = e + 1;
    } else {
      if (errpos) *errpos = j;
      return (size_t)-1;
    }
  }
#undef TPL_PUT
  return k;
}

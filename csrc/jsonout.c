/*
** jsonout.c -- the JSON writer: an fm_sink (evsink.h) that writes each event
** as JSON text into a growing buffer, compact or indented as evtx_dump's
** default output is (serde_json's pretty printer: two spaces, "key": value,
** {} and [] when empty).
** Owns: JSON syntax and string escaping.  Must not touch: any front end
** (it knows only the sink's calls), Lua.
*/
#include <string.h>

#include "evtx.h"
#include "fastmatch.h"

#define MAXLEVEL (64 * 8)

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

static int put_string(fm_jsonout *j, const char *s, size_t n) {
  static const char hx[] = "0123456789abcdef";
  const unsigned char *p = (const unsigned char *)s, *e = p + n;
  char *d;
  if (grow(j, 6 * n + 2) != 0) return FM_SINK_NOMEM; /* the worst case */
  d = j->buf + j->len;
  *d++ = '"';
  while (p < e) {
    const unsigned char *r = p;
    while (r < e && !esc[*r]) r++;
    memcpy(d, p, (size_t)(r - p));
    d += r - p;
    if (r == e) break;
    *d++ = '\\';
    switch (*r) {
    case '"': *d++ = '"'; break;
    case '\\': *d++ = '\\'; break;
    case '\n': *d++ = 'n'; break;
    case '\r': *d++ = 'r'; break;
    case '\t': *d++ = 't'; break;
    case '\b': *d++ = 'b'; break;
    case '\f': *d++ = 'f'; break;
    default:
      *d++ = 'u', *d++ = '0', *d++ = '0';
      *d++ = hx[*r >> 4], *d++ = hx[*r & 15];
    }
    p = r + 1;
  }
  *d++ = '"';
  j->len = (size_t)(d - j->buf);
  return 0;
}

static int bit(const unsigned char *b, int i) { return b[i >> 3] >> (i & 7) & 1; }
static void setbit(unsigned char *b, int i, int v) {
  if (v) b[i >> 3] |= (unsigned char)(1 << (i & 7));
  else b[i >> 3] &= (unsigned char)~(1 << (i & 7));
}

static int newline(fm_jsonout *j, int level) {
  size_t n = 1 + (size_t)j->indent * (size_t)level;
  if (grow(j, n) != 0) return FM_SINK_NOMEM;
  j->buf[j->len] = '\n';
  memset(j->buf + j->len + 1, ' ', n - 1);
  j->len += n;
  return 0;
}

/* The separator and key before a member or element. */
static int lead(fm_jsonout *j, const char *key, size_t klen) {
  if (j->depth > 0) {
    int lv = j->depth - 1;
    if (!bit(j->first, lv) && fm_jsonout_raw(j, ",", 1) != 0) return FM_SINK_NOMEM;
    setbit(j->first, lv, 0);
    if (j->indent && newline(j, j->depth) != 0) return FM_SINK_NOMEM;
    if (!bit(j->arr, lv)) {
      if (put_string(j, key != NULL ? key : "", key != NULL ? klen : 0) != 0)
        return FM_SINK_NOMEM;
      if (fm_jsonout_raw(j, j->indent ? ": " : ":", j->indent ? 2 : 1) != 0)
        return FM_SINK_NOMEM;
    }
  }
  return 0;
}

static int jo_begin(fm_sink *s, const char *key, size_t klen, int array) {
  fm_jsonout *j = (fm_jsonout *)s;
  int arr = FM_SV_KIND(array) != 0;
  if (j->depth >= MAXLEVEL) return j->err = 1, FM_SINK_OTHER;
  if (lead(j, key, klen) != 0 || fm_jsonout_raw(j, arr ? "[" : "{", 1) != 0)
    return FM_SINK_NOMEM;
  setbit(j->first, j->depth, 1);
  setbit(j->arr, j->depth, arr);
  j->depth++;
  return 0;
}

static int jo_end(fm_sink *s) {
  fm_jsonout *j = (fm_jsonout *)s;
  int lv;
  if (j->depth == 0) return j->err = 1, FM_SINK_OTHER;
  lv = --j->depth;
  if (j->indent && !bit(j->first, lv) && newline(j, lv) != 0) return FM_SINK_NOMEM;
  return fm_jsonout_raw(j, bit(j->arr, lv) ? "]" : "}", 1);
}

static int jo_scalar(fm_sink *s, const char *key, size_t klen, int kind,
                     const char *v, size_t vlen) {
  fm_jsonout *j = (fm_jsonout *)s;
  if (lead(j, key, klen) != 0) return FM_SINK_NOMEM;
  switch (FM_SV_KIND(kind)) {
  case FM_SV_STR: return put_string(j, v, vlen);
  case FM_SV_NULL: return fm_jsonout_raw(j, "null", 4);
  default: return fm_jsonout_raw(j, v, vlen); /* a number, true, false */
  }
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

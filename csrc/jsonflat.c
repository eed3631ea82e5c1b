/*
** jsonflat.c -- the JSON front end (see jsonflat.h): a strict reader of
** one JSON object that hands each member to a sink (evsink.h) as it goes.
** Owns: JSON's syntax and what lua-cjson makes of it.  Must not touch:
** how fields are named (evmodel.c), Lua (none is included), the rules.
**
** Strings without escapes are not copied: keys and values point into the
** text.  Unescaped strings go to one buffer as long as the text (an escape
** never makes its string longer), reserved at the first escape and never
** moved while the text is read, so they are stable too.
*/
#include <stdint.h>
#include <string.h>

#include "fastmatch.h"
#include "jsonflat.h"

enum { MAXDEPTH = 48, MAXKEYS = 64 };

typedef struct jp {
  fm_jsonev *j;
  fm_sink *sink;
  const unsigned char *s, *p, *e;
  size_t n;
  int depth, why;
} jp;

/* every function returns 0, a sink's code, FM_JSON_BAD or FM_SINK_OTHER
   (with P->why), carried up unchanged */
#define TRY(x)             \
  do {                     \
    int rc_ = (x);         \
    if (rc_ != 0) return rc_; \
  } while (0)

static int other(jp *P, int why) {
  P->why = why;
  return FM_SINK_OTHER;
}

static uint32_t hash_bytes(const char *s, size_t n) {
  uint32_t h = 2166136261u; /* FNV-1a */
  size_t i;
  for (i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
  return h;
}

static void ws(jp *P) {
  while (P->p < P->e && (*P->p == ' ' || *P->p == '\t' || *P->p == '\n' || *P->p == '\r'))
    P->p++;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* A string at P->p (on its '"'), unescaped: *out, *olen. */
static int str(jp *P, const char **out, size_t *olen) {
  const unsigned char *q = ++P->p, *e = P->e;
  fm_jsonev *j = P->j;
  char *d;
  /* 8 bytes at a time to the first '"', '\\' or control byte */
  while (e - q >= 8) {
    uint64_t w, t;
    memcpy(&w, q, 8);
#define HASZERO(x) (((x) - 0x0101010101010101ull) & ~(x) & 0x8080808080808080ull)
    t = HASZERO(w ^ 0x2222222222222222ull) | HASZERO(w ^ 0x5C5C5C5C5C5C5C5Cull) |
        ((w - 0x2020202020202020ull) & ~w & 0x8080808080808080ull);
#undef HASZERO
    if (t != 0) break;
    q += 8;
  }
  while (q < e && *q != '"' && *q != '\\' && *q >= 0x20) q++;
  if (q >= e || *q < 0x20) return FM_JSON_BAD;
  if (*q == '"') { /* no escape: the text's own bytes */
    *out = (const char *)P->p, *olen = (size_t)(q - P->p);
    P->p = q + 1;
    return 0;
  }
  /* escapes: into the buffer, reserved once per text */
  if (j->cap < P->n) {
    char *nb = fm_realloc(j->buf, P->n);
    if (nb == NULL) return FM_SINK_NOMEM;
    j->buf = nb, j->cap = P->n;
  }
  d = j->buf + j->len;
  *out = d;
  memcpy(d, P->p, (size_t)(q - P->p));
  d += q - P->p;
  for (;;) {
    unsigned c;
    if (q >= e || *q < 0x20) return FM_JSON_BAD;
    c = *q++;
    if (c == '"') break;
    if (c != '\\') {
      *d++ = (char)c;
      continue;
    }
    if (q >= e) return FM_JSON_BAD;
    c = *q++;
    switch (c) {
      case '"': case '\\': case '/': *d++ = (char)c; break;
      case 'b': *d++ = '\b'; break;
      case 'f': *d++ = '\f'; break;
      case 'n': *d++ = '\n'; break;
      case 'r': *d++ = '\r'; break;
      case 't': *d++ = '\t'; break;
      case 'u': {
        int k, h;
        unsigned cp = 0;
        if (e - q < 4) return FM_JSON_BAD;
        for (k = 0; k < 4; k++) {
          if ((h = hexval(q[k])) < 0) return FM_JSON_BAD;
          cp = cp << 4 | (unsigned)h;
        }
        q += 4;
        if (cp >= 0xD800 && cp <= 0xDFFF) return other(P, FM_EV_ESCAPE);
        /* 6 source bytes give at most 3 */
        if (cp < 0x80) {
          *d++ = (char)cp;
        } else if (cp < 0x800) {
          *d++ = (char)(0xC0 | cp >> 6);
          *d++ = (char)(0x80 | (cp & 0x3F));
        } else {
          *d++ = (char)(0xE0 | cp >> 12);
          *d++ = (char)(0x80 | (cp >> 6 & 0x3F));
          *d++ = (char)(0x80 | (cp & 0x3F));
        }
        break;
      }
      default: return FM_JSON_BAD;
    }
  }
  *olen = (size_t)(d - *out);
  j->len = (size_t)(d - j->buf);
  P->p = q;
  return 0;
}

/* A number at P->p, checked: its text. */
static int num(jp *P, const char **out, size_t *olen) {
  const unsigned char *q = P->p, *e = P->e;
  if (q < e && *q == '-') q++;
  if (q >= e || *q < '0' || *q > '9') return FM_JSON_BAD;
  if (*q == '0') {
    q++;
    if (q < e && *q >= '0' && *q <= '9') return FM_JSON_BAD;
  } else {
    while (q < e && *q >= '0' && *q <= '9') q++;
  }
  if (q < e && *q == '.') {
    q++;
    if (q >= e || *q < '0' || *q > '9') return FM_JSON_BAD;
    while (q < e && *q >= '0' && *q <= '9') q++;
  }
  if (q < e && (*q == 'e' || *q == 'E')) {
    q++;
    if (q < e && (*q == '+' || *q == '-')) q++;
    if (q >= e || *q < '0' || *q > '9') return FM_JSON_BAD;
    while (q < e && *q >= '0' && *q <= '9') q++;
  }
  *out = (const char *)P->p, *olen = (size_t)(q - P->p);
  P->p = q;
  return 0;
}

static int word(jp *P, const char *w, size_t n) {
  if ((size_t)(P->e - P->p) < n || memcmp(P->p, w, n) != 0) return FM_JSON_BAD;
  P->p += n;
  return 0;
}

static int value(jp *P, const char *key, size_t klen);

/* An object at P->p (on its '{'), under key.  A key given twice is
   FM_EV_DUPKEY (lua-cjson keeps the last, and the first was handed on). */
static int object(jp *P, const char *key, size_t klen) {
  uint64_t bloom = 0;
  const char *keys[MAXKEYS];
  size_t lens[MAXKEYS];
  uint32_t hashes[MAXKEYS];
  size_t nk = 0, k;
  fm_sink *S = P->sink;
  if (++P->depth > MAXDEPTH) return other(P, FM_EV_NESTING);
  TRY(S->begin(S, key, klen, FM_SV_STABLE));
  P->p++;
  ws(P);
  if (P->p < P->e && *P->p == '}') {
    P->p++;
    P->depth--;
    return S->end(S);
  }
  for (;;) {
    const char *kk;
    size_t kn;
    uint32_t h;
    if (P->p >= P->e || *P->p != '"') return FM_JSON_BAD;
    TRY(str(P, &kk, &kn));
    h = hash_bytes(kk, kn);
    if (bloom >> (h & 63) & 1) {
      for (k = 0; k < nk; k++)
        if (hashes[k] == h && lens[k] == kn && memcmp(keys[k], kk, kn) == 0)
          return other(P, FM_EV_DUPKEY);
    }
    bloom |= (uint64_t)1 << (h & 63);
    if (nk == MAXKEYS) return other(P, FM_EV_DUPKEY); /* too many keys to check */
    keys[nk] = kk, lens[nk] = kn, hashes[nk++] = h;
    ws(P);
    if (P->p >= P->e || *P->p != ':') return FM_JSON_BAD;
    P->p++;
    ws(P);
    TRY(value(P, kk, kn));
    ws(P);
    if (P->p < P->e && *P->p == ',') {
      P->p++;
      ws(P);
      continue;
    }
    if (P->p < P->e && *P->p == '}') {
      P->p++;
      P->depth--;
      return S->end(S);
    }
    return FM_JSON_BAD;
  }
}

static int array(jp *P, const char *key, size_t klen) {
  fm_sink *S = P->sink;
  if (++P->depth > MAXDEPTH) return other(P, FM_EV_NESTING);
  TRY(S->begin(S, key, klen, 1 | FM_SV_STABLE));
  P->p++;
  ws(P);
  if (P->p < P->e && *P->p == ']') {
    P->p++;
    P->depth--;
    return S->end(S);
  }
  for (;;) {
    TRY(value(P, NULL, 0));
    ws(P);
    if (P->p < P->e && *P->p == ',') {
      P->p++;
      ws(P);
      continue;
    }
    if (P->p < P->e && *P->p == ']') {
      P->p++;
      P->depth--;
      return S->end(S);
    }
    return FM_JSON_BAD;
  }
}

/* Any value at P->p, under key (NULL: an array's element). */
static int value(jp *P, const char *key, size_t klen) {
  fm_sink *S = P->sink;
  const char *v = (const char *)P->p;
  size_t vn;
  int kind;
  if (P->p >= P->e) return FM_JSON_BAD;
  switch (*P->p) {
    case '{': return object(P, key, klen);
    case '[': return array(P, key, klen);
    case '"': TRY(str(P, &v, &vn)); kind = FM_SV_STR; break;
    case 't': TRY(word(P, "true", 4)); vn = 4, kind = FM_SV_BOOL; break;
    case 'f': TRY(word(P, "false", 5)); vn = 5, kind = FM_SV_BOOL; break;
    case 'n': TRY(word(P, "null", 4)); vn = 4, kind = FM_SV_NULL; break;
    default: TRY(num(P, &v, &vn)); kind = FM_SV_NUM; break;
  }
  return S->scalar(S, key, klen, kind | FM_SV_STABLE, v, vn);
}

void fm_jsonev_init(fm_jsonev *j) { memset(j, 0, sizeof *j); }

int fm_json_events(fm_jsonev *j, const char *s, size_t n, fm_sink *sink, int *why) {
  jp P;
  P.j = j, P.sink = sink, P.s = (const unsigned char *)s, P.p = P.s, P.e = P.s + n, P.n = n;
  P.depth = 0, P.why = FM_EV_OK;
  j->len = 0;
  *why = FM_EV_OK;
  ws(&P);
  if (P.p >= P.e || *P.p != '{') return FM_JSON_BAD;
  {
    int rc = object(&P, NULL, 0);
    if (rc != 0) {
      *why = P.why;
      return rc;
    }
  }
  ws(&P);
  return P.p == P.e ? FM_SINK_OK : FM_JSON_BAD;
}

void fm_jsonev_free(fm_jsonev *j) {
  fm_free(j->buf);
  fm_jsonev_init(j);
}

/* ---------------------------------------------------------------- a line to
   its fields */
void fm_jflat_init(fm_jflat *j) {
  j->f = NULL, j->n = 0, j->why = FM_EV_OK;
  fm_jsonev_init(&j->tok);
  fm_evmodel_init(&j->model);
}

int fm_jflat_parse(fm_jflat *j, const char *s, size_t len) {
  int why, rc;
  fm_evmodel_reset(&j->model, FM_EV_DUP_OTHER);
  j->f = NULL, j->n = 0, j->why = FM_EV_OK;
  rc = fm_json_events(&j->tok, s, len, &j->model.sink, &why);
  if (rc == FM_JSON_BAD) return FM_JF_BAD;
  if (rc == FM_SINK_NOMEM) return FM_JF_NOMEM;
  if (rc != FM_SINK_OK) {
    j->why = why != FM_EV_OK ? why : j->model.why;
    return FM_JF_OTHER;
  }
  if (!fm_evmodel_done(&j->model)) return FM_JF_BAD; /* cannot be: the root closed */
  j->f = j->model.f, j->n = j->model.n;
  return FM_JF_OK;
}

void fm_jflat_free(fm_jflat *j) {
  fm_jsonev_free(&j->tok);
  fm_evmodel_free(&j->model);
  j->f = NULL, j->n = 0;
}

/*
** jsonflat.c -- one JSON line to the fields a Sigma rule reads (see
** jsonflat.h for what it models and what it hands back as FM_JF_OTHER).
** Owns: a strict JSON reader for one object and event.lua's flattening
** rules.  Must not touch: Lua (none is included), the rules (gate.c).
**
** Strings without escapes are not copied: names and values point into the
** line.  Unescaped strings and composed names (Provider_Name, a.b) go to
** one growing buffer, referred to by offset until the parse ends (the
** buffer may move while it grows).
*/
#include <stdlib.h>
#include <string.h>

#include "fastmatch.h"
#include "jsonflat.h"

/* A string: bytes of the line (inbuf 0) or of j->buf (inbuf 1). */
typedef struct jref {
  size_t off, len;
  int inbuf;
} jref;

struct jf_raw {
  jref name, val;
  int section; /* 0 flat, 1 EventData, 2 UserData, 3 System: lower wins */
  uint32_t hash;
};

enum { S_FLAT, S_DATA, S_USER, S_SYSTEM };
enum { MAXDEPTH = 48 };

typedef struct jp {
  fm_jflat *j;
  const unsigned char *s, *p, *e;
  int depth;
  size_t blimit; /* the most j->buf may hold for this line */
} jp;

/* parse results: FM_JF_* codes, carried up by every function */
#define TRY(x)                      \
  do {                              \
    int rc_ = (x);                  \
    if (rc_ != FM_JF_OK) return rc_; \
  } while (0)

static const char *ref_ptr(const jp *P, jref r) {
  return r.inbuf ? P->j->buf + r.off : (const char *)P->s + r.off;
}

static uint32_t hash_bytes(const char *s, size_t n) {
  uint32_t h = 2166136261u; /* FNV-1a */
  size_t i;
  for (i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
  return h;
}

/* Room for more bytes in the buffer.  A composed name repeats its prefix
   for every field under it, so one long key over a few levels of nested
   objects makes names far longer than the line (a 2.1 MB line: 26 GB of
   names; a 133 kB one: 400 MB, which the gate's fm_jflat then kept for the
   rest of its scan).  Past BUFMUL times the line (plus BUFMIN) the line is
   not modelled: no evtx_dump line comes near.  The limit is the line's,
   not the buffer's capacity (which an earlier line may have grown), so
   the answer does not depend on what was parsed before. */
enum { BUFMUL = 16, BUFMIN = 65536 };

static int buf_reserve(jp *P, size_t more) {
  fm_jflat *j = P->j;
  size_t want, cap;
  char *nb;
  if (more > P->blimit - j->blen) return FM_JF_OTHER;
  want = j->blen + more;
  if (want <= j->bcap) return FM_JF_OK;
  cap = j->bcap ? j->bcap : 256;
  while (cap < want) cap *= 2;
  nb = fm_realloc(j->buf, cap);
  if (nb == NULL) return FM_JF_NOMEM;
  j->buf = nb, j->bcap = cap;
  return FM_JF_OK;
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

/* A string at P->p (on its '"'), unescaped: *out.  Surrogate escapes are
   FM_JF_OTHER (lua-cjson's handling of lone ones is its own). */
static int str(jp *P, jref *out) {
  const unsigned char *q = ++P->p, *e = P->e;
  fm_jflat *j = P->j;
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
  if (q >= e || *q < 0x20) return FM_JF_BAD;
  if (*q == '"') { /* no escape: the line's own bytes */
    out->off = (size_t)(P->p - P->s), out->len = (size_t)(q - P->p), out->inbuf = 0;
    P->p = q + 1;
    return FM_JF_OK;
  }
  /* escapes: copy into the buffer (never longer than the source) */
  TRY(buf_reserve(P, (size_t)(e - P->p)));
  out->off = j->blen, out->inbuf = 1;
  memcpy(j->buf + j->blen, P->p, (size_t)(q - P->p));
  j->blen += (size_t)(q - P->p);
  for (;;) {
    unsigned c;
    if (q >= e || *q < 0x20) return FM_JF_BAD;
    c = *q++;
    if (c == '"') break;
    if (c != '\\') {
      j->buf[j->blen++] = (char)c;
      continue;
    }
    if (q >= e) return FM_JF_BAD;
    c = *q++;
    switch (c) {
      case '"': case '\\': case '/': j->buf[j->blen++] = (char)c; break;
      case 'b': j->buf[j->blen++] = '\b'; break;
      case 'f': j->buf[j->blen++] = '\f'; break;
      case 'n': j->buf[j->blen++] = '\n'; break;
      case 'r': j->buf[j->blen++] = '\r'; break;
      case 't': j->buf[j->blen++] = '\t'; break;
      case 'u': {
        int k, h;
        unsigned cp = 0;
        if (e - q < 4) return FM_JF_BAD;
        for (k = 0; k < 4; k++) {
          if ((h = hexval(q[k])) < 0) return FM_JF_BAD;
          cp = cp << 4 | (unsigned)h;
        }
        q += 4;
        if (cp >= 0xD800 && cp <= 0xDFFF) return FM_JF_OTHER;
        /* 6 source bytes give at most 3: the reserve above holds */
        if (cp < 0x80) {
          j->buf[j->blen++] = (char)cp;
        } else if (cp < 0x800) {
          j->buf[j->blen++] = (char)(0xC0 | cp >> 6);
          j->buf[j->blen++] = (char)(0x80 | (cp & 0x3F));
        } else {
          j->buf[j->blen++] = (char)(0xE0 | cp >> 12);
          j->buf[j->blen++] = (char)(0x80 | (cp >> 6 & 0x3F));
          j->buf[j->blen++] = (char)(0x80 | (cp & 0x3F));
        }
        break;
      }
      default: return FM_JF_BAD;
    }
  }
  out->len = j->blen - out->off;
  P->p = q;
  return FM_JF_OK;
}

/* A number at P->p: *out its text when it is an integer that flatten()
   writes back as the same digits (no fraction, exponent or -0; below
   2^53 in magnitude); FM_JF_OTHER for valid others. */
static int num(jp *P, jref *out) {
  const unsigned char *q = P->p, *e = P->e, *d;
  int plain = 1;
  if (q < e && *q == '-') q++;
  d = q;
  if (q >= e || *q < '0' || *q > '9') return FM_JF_BAD;
  if (*q == '0') {
    q++;
    if (q < e && *q >= '0' && *q <= '9') return FM_JF_BAD;
    if (d != P->p) plain = 0; /* -0 */
  } else {
    while (q < e && *q >= '0' && *q <= '9') q++;
  }
  /* flatten() writes integers below 2^53 as digits: 16 digits may be */
  if (q - d > 16 || (q - d == 16 && memcmp(d, "9007199254740992", 16) >= 0)) plain = 0;
  if (q < e && *q == '.') {
    plain = 0, q++;
    if (q >= e || *q < '0' || *q > '9') return FM_JF_BAD;
    while (q < e && *q >= '0' && *q <= '9') q++;
  }
  if (q < e && (*q == 'e' || *q == 'E')) {
    plain = 0, q++;
    if (q < e && (*q == '+' || *q == '-')) q++;
    if (q >= e || *q < '0' || *q > '9') return FM_JF_BAD;
    while (q < e && *q >= '0' && *q <= '9') q++;
  }
  out->off = (size_t)(P->p - P->s), out->len = (size_t)(q - P->p), out->inbuf = 0;
  P->p = q;
  return plain ? FM_JF_OK : FM_JF_OTHER;
}

static int word(jp *P, const char *w, size_t n) {
  if ((size_t)(P->e - P->p) < n || memcmp(P->p, w, n) != 0) return FM_JF_BAD;
  P->p += n;
  return FM_JF_OK;
}

static int skip_value(jp *P);

/* Walk an object at P->p (on its '{'): each key to fn, which must consume
   the value.  A key given twice is FM_JF_OTHER (lua-cjson keeps the last,
   and what the first added would stay). */
typedef int (*keyfn)(jp *P, jref key, void *ud);

static int object(jp *P, keyfn fn, void *ud) {
  uint64_t bloom = 0;
  jref keys[64];
  uint32_t hashes[64];
  size_t nk = 0, k;
  if (++P->depth > MAXDEPTH) return FM_JF_OTHER;
  P->p++;
  ws(P);
  if (P->p < P->e && *P->p == '}') {
    P->p++;
    P->depth--;
    return FM_JF_OK;
  }
  for (;;) {
    jref key;
    uint32_t h;
    if (P->p >= P->e || *P->p != '"') return FM_JF_BAD;
    TRY(str(P, &key));
    h = hash_bytes(ref_ptr(P, key), key.len);
    if (bloom >> (h & 63) & 1) {
      for (k = 0; k < nk; k++)
        if (hashes[k] == h && keys[k].len == key.len &&
            memcmp(ref_ptr(P, keys[k]), ref_ptr(P, key), key.len) == 0)
          return FM_JF_OTHER;
    }
    bloom |= (uint64_t)1 << (h & 63);
    if (nk == 64) return FM_JF_OTHER; /* too many keys to check: not modelled */
    keys[nk] = key, hashes[nk++] = h;
    ws(P);
    if (P->p >= P->e || *P->p != ':') return FM_JF_BAD;
    P->p++;
    ws(P);
    TRY(fn(P, key, ud));
    ws(P);
    if (P->p < P->e && *P->p == ',') {
      P->p++;
      ws(P);
      continue;
    }
    if (P->p < P->e && *P->p == '}') {
      P->p++;
      P->depth--;
      return FM_JF_OK;
    }
    return FM_JF_BAD;
  }
}

static int skip_key(jp *P, jref key, void *ud) {
  (void)key, (void)ud;
  return skip_value(P);
}

/* Any value: checked and passed over (parts of the event no rule reads). */
static int skip_value(jp *P) {
  jref r;
  int rc;
  if (P->p >= P->e) return FM_JF_BAD;
  switch (*P->p) {
    case '{': return object(P, skip_key, NULL);
    case '[':
      if (++P->depth > MAXDEPTH) return FM_JF_OTHER;
      P->p++;
      ws(P);
      if (P->p < P->e && *P->p == ']') {
        P->p++;
        P->depth--;
        return FM_JF_OK;
      }
      for (;;) {
        TRY(skip_value(P));
        ws(P);
        if (P->p < P->e && *P->p == ',') {
          P->p++;
          ws(P);
          continue;
        }
        if (P->p < P->e && *P->p == ']') {
          P->p++;
          P->depth--;
          return FM_JF_OK;
        }
        return FM_JF_BAD;
      }
    case '"': return str(P, &r);
    case 't': return word(P, "true", 4);
    case 'f': return word(P, "false", 5);
    case 'n': return word(P, "null", 4);
    default:
      rc = num(P, &r);
      return rc == FM_JF_OTHER ? FM_JF_OK : rc;
  }
}

/* A value: *kind says what it is; a scalar's text as flatten() has it in
   *out (booleans as "true"/"false": the line's own bytes); objects and
   arrays are left unread, at their bracket. */
enum { V_SCALAR, V_NULL, V_OBJECT, V_ARRAY };
static int scalar(jp *P, jref *out, int *kind) {
  if (P->p >= P->e) return FM_JF_BAD;
  *kind = V_SCALAR;
  out->off = (size_t)(P->p - P->s), out->inbuf = 0;
  switch (*P->p) {
    case '{': *kind = V_OBJECT; return FM_JF_OK;
    case '[': *kind = V_ARRAY; return FM_JF_OK;
    case '"': return str(P, out);
    case 'n': *kind = V_NULL; return word(P, "null", 4);
    case 't': out->len = 4; return word(P, "true", 4);
    case 'f': out->len = 5; return word(P, "false", 5);
    default: return num(P, out);
  }
}

/* name = a .. sep .. b (sep 0: none), into the buffer */
static int compose(jp *P, jref a, int sep, jref b, jref *out) {
  fm_jflat *j = P->j;
  size_t n = a.len + (sep ? 1 : 0) + b.len;
  /* sigma/event.lua's MAXNAME: no longer name is made there */
  if (n > 512) return FM_JF_OTHER;
  TRY(buf_reserve(P, n));
  out->off = j->blen, out->len = n, out->inbuf = 1;
  memcpy(j->buf + j->blen, ref_ptr(P, a), a.len);
  j->blen += a.len;
  if (sep) j->buf[j->blen++] = (char)sep;
  memcpy(j->buf + j->blen, ref_ptr(P, b), b.len);
  j->blen += b.len;
  return FM_JF_OK;
}

static int raw_add(jp *P, jref name, jref val, int section) {
  fm_jflat *j = P->j;
  struct jf_raw *r;
  if (j->nraw == j->rawcap) {
    size_t cap = j->rawcap ? j->rawcap * 2 : 64;
    struct jf_raw *nr = fm_realloc(j->raw, cap * sizeof *nr);
    if (nr == NULL) return FM_JF_NOMEM;
    j->raw = nr, j->rawcap = cap;
  }
  r = &j->raw[j->nraw++];
  r->name = name, r->val = val, r->section = section;
  r->hash = 0;
  return FM_JF_OK;
}

/* put(): the name, and the name without its spaces */
static int put(jp *P, jref name, jref val, int section) {
  const char *s = ref_ptr(P, name);
  TRY(raw_add(P, name, val, section));
  if (memchr(s, ' ', name.len) != NULL) {
    fm_jflat *j = P->j;
    jref d;
    size_t k;
    TRY(buf_reserve(P, name.len));
    s = ref_ptr(P, name); /* the buffer may have moved */
    d.off = j->blen, d.inbuf = 1;
    for (k = 0; k < name.len; k++)
      if (s[k] != ' ') j->buf[j->blen++] = s[k];
    d.len = j->blen - d.off;
    TRY(raw_add(P, d, val, section));
  }
  return FM_JF_OK;
}

/* ------------------------------------------------------------ the flat part:
   put_flat(): scalars by name, objects as "name." prefixes */
typedef struct flatud {
  jref prefix;
  int has_prefix;
} flatud;

static int flat_key(jp *P, jref key, void *ud) {
  flatud *F = ud;
  jref name = key, v;
  int kind;
  if (F->has_prefix) TRY(compose(P, F->prefix, 0, key, &name));
  TRY(scalar(P, &v, &kind));
  if (kind == V_SCALAR) return put(P, name, v, S_FLAT);
  if (kind == V_NULL) return FM_JF_OK;
  if (kind == V_ARRAY) return FM_JF_OTHER; /* a list of values: not modelled */
  {
    flatud sub;
    jref dot = {0, 0, 1};
    TRY(compose(P, name, '.', dot, &sub.prefix));
    sub.has_prefix = 1;
    return object(P, flat_key, &sub);
  }
}

/* ------------------------------------------------------------ EventData and
   UserData children: put_data(): scalars by name, {"#text": v} elements by
   their text; '#' names are not fields */
typedef struct elemud {
  jref text;
  int has_text;
} elemud;

static int elem_key(jp *P, jref key, void *ud) {
  elemud *E = ud;
  const char *k = ref_ptr(P, key);
  int kind;
  if (key.len == 5 && memcmp(k, "#text", 5) == 0) {
    TRY(scalar(P, &E->text, &kind));
    if (kind == V_SCALAR) E->has_text = 1;
    else if (kind != V_NULL) return FM_JF_OTHER;
    return FM_JF_OK;
  }
  if (key.len == 11 && memcmp(k, "#attributes", 11) == 0) return skip_value(P);
  return FM_JF_OTHER; /* a nested map of fields: not modelled */
}

static int data_key(jp *P, jref key, void *ud) {
  int section = *(int *)ud, kind;
  jref v;
  if (key.len > 0 && ref_ptr(P, key)[0] == '#') return skip_value(P);
  TRY(scalar(P, &v, &kind));
  if (kind == V_SCALAR) return put(P, key, v, section);
  if (kind == V_NULL) return FM_JF_OK;
  if (kind == V_ARRAY) return FM_JF_OTHER;
  {
    elemud E = {{0, 0, 0}, 0};
    TRY(object(P, elem_key, &E));
    return E.has_text ? put(P, key, E.text, section) : FM_JF_OK;
  }
}

static int user_key(jp *P, jref key, void *ud) {
  int section = S_USER;
  (void)key, (void)ud;
  if (P->p < P->e && *P->p == '{') return object(P, data_key, &section);
  if (P->p < P->e && *P->p == '[') return FM_JF_OTHER;
  return skip_value(P);
}

/* ------------------------------------------------------------ System:
   put_system(): scalars by name; an element's "#attributes" as
   <name>_<attribute>, its "#text" as <name>, its children as <name>_<child> */
typedef struct sysud {
  jref prefix;
  int has_prefix;
} sysud;

static int sys_key(jp *P, jref key, void *ud);

typedef struct attrud {
  jref name;
} attrud;

static int attr_key(jp *P, jref key, void *ud) {
  attrud *A = ud;
  jref name, v;
  int kind;
  TRY(scalar(P, &v, &kind));
  if (kind == V_NULL) return FM_JF_OK;
  if (kind != V_SCALAR) return FM_JF_OTHER;
  TRY(compose(P, A->name, '_', key, &name));
  return put(P, name, v, S_SYSTEM);
}

static int elemsys_key(jp *P, jref key, void *ud) {
  attrud *A = ud; /* the element's name */
  const char *k = ref_ptr(P, key);
  if (key.len == 11 && memcmp(k, "#attributes", 11) == 0) {
    if (P->p < P->e && *P->p == '{') return object(P, attr_key, A);
    if (P->p < P->e && *P->p == '[') return FM_JF_OTHER;
    return skip_value(P); /* not a table: flatten() passes over it */
  }
  if (key.len == 5 && memcmp(k, "#text", 5) == 0) {
    jref v;
    int kind;
    TRY(scalar(P, &v, &kind));
    if (kind == V_SCALAR) return put(P, A->name, v, S_SYSTEM);
    if (kind == V_NULL) return FM_JF_OK;
    return FM_JF_OTHER;
  }
  {
    sysud sub;
    jref under = {0, 0, 1};
    TRY(compose(P, A->name, '_', under, &sub.prefix));
    sub.has_prefix = 1;
    return sys_key(P, key, &sub);
  }
}

static int sys_key(jp *P, jref key, void *ud) {
  sysud *S = ud;
  jref name = key, v;
  int kind;
  if (S->has_prefix) TRY(compose(P, S->prefix, 0, key, &name));
  TRY(scalar(P, &v, &kind));
  if (kind == V_SCALAR) return put(P, name, v, S_SYSTEM);
  if (kind == V_NULL) return FM_JF_OK;
  if (kind == V_ARRAY) return FM_JF_OTHER;
  {
    attrud A;
    A.name = name;
    return object(P, elemsys_key, &A);
  }
}

/* ------------------------------------------------------------ Event */
static int event_key(jp *P, jref key, void *ud) {
  const char *k = ref_ptr(P, key);
  (void)ud;
  if (P->p >= P->e) return FM_JF_BAD;
  if (key.len == 9 && memcmp(k, "EventData", 9) == 0) {
    int section = S_DATA;
    if (*P->p == '{') return object(P, data_key, &section);
    if (*P->p == '[') return FM_JF_OTHER;
    return skip_value(P);
  }
  if (key.len == 8 && memcmp(k, "UserData", 8) == 0) {
    if (*P->p == '{') return object(P, user_key, NULL);
    if (*P->p == '[') return FM_JF_OTHER;
    return skip_value(P);
  }
  if (key.len == 6 && memcmp(k, "System", 6) == 0) {
    sysud S;
    S.has_prefix = 0;
    if (*P->p == '{') return object(P, sys_key, &S);
    if (*P->p == '[') return FM_JF_OTHER;
    return skip_value(P);
  }
  return skip_value(P);
}

static int top_key(jp *P, jref key, void *ud) {
  const char *k = ref_ptr(P, key);
  int *event_mode = ud;
  if (key.len == 5 && memcmp(k, "Event", 5) == 0 && P->p < P->e) {
    if (*P->p == '{') {
      *event_mode = 1;
      return object(P, event_key, NULL);
    }
    if (*P->p == '[') return FM_JF_OTHER;
  }
  {
    flatud F;
    F.has_prefix = 0;
    return flat_key(P, key, &F);
  }
}

/* ------------------------------------------------------------ settling names:
   the lowest section wins; a name twice in one section is Lua's table
   order's to decide, so not modelled */
static int settle(jp *P) {
  fm_jflat *j = P->j;
  size_t k, want = 16, i;
  while (want < j->nraw * 2) want *= 2;
  if (want - 1 > j->smask) {
    uint32_t *ns = fm_realloc(j->slot, want * sizeof *ns);
    if (ns == NULL) return FM_JF_NOMEM;
    j->slot = ns, j->smask = want - 1;
  }
  memset(j->slot, 0, (j->smask + 1) * sizeof *j->slot);
  if (j->cap < j->nraw) {
    size_t cap = j->nraw < 32 ? 32 : j->nraw;
    fm_jfield *nf = fm_realloc(j->f, cap * sizeof *nf);
    if (nf == NULL) return FM_JF_NOMEM;
    j->f = nf, j->cap = cap;
  }
  j->n = 0;
  for (k = 0; k < j->nraw; k++) {
    struct jf_raw *r = &j->raw[k];
    const char *name = ref_ptr(P, r->name);
    uint32_t h = hash_bytes(name, r->name.len);
    for (i = h & j->smask;; i = (i + 1) & j->smask) {
      uint32_t at = j->slot[i];
      struct jf_raw *o;
      if (at == 0) {
        j->slot[i] = (uint32_t)k + 1;
        r->hash = h;
        break;
      }
      o = &j->raw[at - 1];
      if (o->hash == h && o->name.len == r->name.len &&
          memcmp(ref_ptr(P, o->name), name, r->name.len) == 0) {
        if (o->section == r->section) return FM_JF_OTHER;
        if (r->section < o->section) j->slot[i] = (uint32_t)k + 1, r->hash = h;
        break;
      }
    }
  }
  for (i = 0; i <= j->smask; i++) {
    uint32_t at = j->slot[i];
    if (at != 0) {
      struct jf_raw *r = &j->raw[at - 1];
      fm_jfield *f = &j->f[j->n++];
      f->name = ref_ptr(P, r->name), f->nlen = r->name.len;
      f->val = ref_ptr(P, r->val), f->vlen = r->val.len;
    }
  }
  return FM_JF_OK;
}

void fm_jflat_init(fm_jflat *j) { memset(j, 0, sizeof *j); }

int fm_jflat_parse(fm_jflat *j, const char *s, size_t len) {
  jp P;
  int event_mode = 0;
  P.j = j, P.s = (const unsigned char *)s, P.p = P.s, P.e = P.s + len, P.depth = 0;
  P.blimit = len <= ((size_t)-1 - BUFMIN) / BUFMUL ? len * BUFMUL + BUFMIN : (size_t)-1;
  j->n = j->nraw = j->blen = 0;
  ws(&P);
  if (P.p >= P.e || *P.p != '{') return FM_JF_BAD;
  TRY(object(&P, top_key, &event_mode));
  ws(&P);
  if (P.p != P.e) return FM_JF_BAD;
  return settle(&P);
}

void fm_jflat_free(fm_jflat *j) {
  fm_free(j->f);
  fm_free(j->raw);
  fm_free(j->buf);
  fm_free(j->slot);
  fm_jflat_init(j);
}

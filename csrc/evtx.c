/*
** evtx.c -- the EVTX reader (see evtx.h): chunks, records, binary XML and
** values to structure events in evtx_dump's JSON shape.
** Owns: the format (file and chunk headers, records, tokens, templates,
** value types) and evtx_dump's JSON rules.  Must not touch: Lua, what the
** sink does with the events (jsonout.c, the bindings, the event model).
**
** A record is read in two passes.  The parse builds a small tree in the
** record's arena: the record's fragment, template instances pointing at
** their chunk-cached template (a tree with placeholders, parsed once per
** chunk) and their substitution values, binary XML values parsed into
** fragments of their own.  It also adds up what the record expands to
** (nodes and value bytes, through every placeholder) and how deep, so a
** record that would blow up (one value repeated by thousands of
** placeholders, nested again and again) is reported before the second
** pass, the walk that hands events to the sink, begins: a record reaches
** the sink whole or not at all.
**
** The walk follows evtx_dump (the Rust evtx crate's JSON renderer):
**   - an element is null when it has no child element, no text and no
**     attribute with text; its text alone (a number when it is one integer
**     or boolean value) when it has no child element and no attribute with
**     text; else an object: "#attributes" (those with text), "#text", then
**     its children, a repeated name suffixed _1, _2, ... (the first 64
**     names only);
**   - in EventData and UserData, Data elements with a Name become
**     Name: value ("" when empty); Data elements without names become one
**     "Data": {"#text": value or [values]};
**   - values print as the crate prints them: GUIDs upper case without
**     braces, FILETIME/SYSTEMTIME as 2006-01-02T15:04:05.000000Z (micro-
**     seconds, truncated), hex integers and size_t as 0x..., binary as
**     upper-case hex, arrays as their items joined by ','.
** Two deliberate differences: an entity reference (&amp; ...) and a
** character reference (&#38;) become the character they stand for (the
** crate writes them as they are), and CDATA and character references are
** read (the crate rejects their records).
*/
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evtx.h"
#include "fastmatch.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* Caps (see the file comment): element levels after expansion, nested
   binary XML levels, and what one record may expand to (nodes + value
   bytes, a proxy for its output). */
enum { MAXDEPTH = 64, MAXNEST = 16, MAXNAMES = 64 };
#define MAXCOST ((uint64_t)1 << 22)

/* ---------------------------------------------------------------------
** Little-endian reads (bounds are checked by the callers).
** ------------------------------------------------------------------- */
static inline uint16_t rd16(const unsigned char *p) {
  return (uint16_t)(p[0] | p[1] << 8);
}
static inline uint32_t rd32(const unsigned char *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}
static inline uint64_t rd64(const unsigned char *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

/* ---------------------------------------------------------------------
** CRC-32 (IEEE, reflected; the file and chunk checksums), slicing by 8.
** ------------------------------------------------------------------- */
static uint32_t crctab[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void hexup_init(void);
static int have_clmul; /* the CPU has PCLMULQDQ and SSE4.1 */

static void crc_init(void) {
  hexup_init();
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  have_clmul = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
#endif
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    crctab[0][i] = c;
  }
  for (int t = 1; t < 8; t++)
    for (uint32_t i = 0; i < 256; i++)
      crctab[t][i] = (crctab[t - 1][i] >> 8) ^ crctab[0][crctab[t - 1][i] & 0xFF];
}

static uint32_t crc32_upd(uint32_t crc, const unsigned char *p, size_t n) {
  crc = ~crc;
  while (n >= 8) {
    uint32_t a = rd32(p) ^ crc, b = rd32(p + 4);
    crc = crctab[7][a & 0xFF] ^ crctab[6][(a >> 8) & 0xFF] ^
          crctab[5][(a >> 16) & 0xFF] ^ crctab[4][a >> 24] ^
          crctab[3][b & 0xFF] ^ crctab[2][(b >> 8) & 0xFF] ^
          crctab[1][(b >> 16) & 0xFF] ^ crctab[0][b >> 24];
    p += 8, n -= 8;
  }
  while (n--) crc = crctab[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
/* The same CRC by carry-less multiplication, folding 64 bytes at a time
   (Intel's "Fast CRC Computation for Generic Polynomials Using PCLMULQDQ",
   as zlib's crc32_simd.c has it for this polynomial): ten times the
   tables' speed on a 64 KiB chunk.  crc is the inverted state; n >= 64.
   Returns the state after the multiple of 16 bytes it took (*done). */
__attribute__((target("pclmul,sse4.1"))) static uint32_t
crc32_clmul(uint32_t crc, const unsigned char *p, size_t n, size_t *done) {
  const __m128i k1k2 = _mm_set_epi64x(0x01c6e41596, 0x0154442bd4);
  const __m128i k3k4 = _mm_set_epi64x(0x00ccaa009e, 0x01751997d0);
  const __m128i k5k0 = _mm_set_epi64x(0, 0x0163cd6124);
  const __m128i poly = _mm_set_epi64x(0x01f7011641, 0x01db710641);
  const __m128i mask = _mm_setr_epi32(~0, 0, ~0, 0);
  __m128i x0, x1, x2, x3, x4, x5, x6, x7, x8;
  size_t len = n & ~(size_t)15;
  *done = len;
  x1 = _mm_loadu_si128((const __m128i *)(p + 0x00));
  x2 = _mm_loadu_si128((const __m128i *)(p + 0x10));
  x3 = _mm_loadu_si128((const __m128i *)(p + 0x20));
  x4 = _mm_loadu_si128((const __m128i *)(p + 0x30));
  x1 = _mm_xor_si128(x1, _mm_cvtsi32_si128((int)crc));
  x0 = k1k2;
  p += 64, len -= 64;
  while (len >= 64) {
    x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
    x6 = _mm_clmulepi64_si128(x2, x0, 0x00);
    x7 = _mm_clmulepi64_si128(x3, x0, 0x00);
    x8 = _mm_clmulepi64_si128(x4, x0, 0x00);
    x1 = _mm_clmulepi64_si128(x1, x0, 0x11);
    x2 = _mm_clmulepi64_si128(x2, x0, 0x11);
    x3 = _mm_clmulepi64_si128(x3, x0, 0x11);
    x4 = _mm_clmulepi64_si128(x4, x0, 0x11);
    x1 = _mm_xor_si128(_mm_xor_si128(x1, x5), _mm_loadu_si128((const __m128i *)(p + 0x00)));
    x2 = _mm_xor_si128(_mm_xor_si128(x2, x6), _mm_loadu_si128((const __m128i *)(p + 0x10)));
    x3 = _mm_xor_si128(_mm_xor_si128(x3, x7), _mm_loadu_si128((const __m128i *)(p + 0x20)));
    x4 = _mm_xor_si128(_mm_xor_si128(x4, x8), _mm_loadu_si128((const __m128i *)(p + 0x30)));
    p += 64, len -= 64;
  }
  x0 = k3k4; /* fold the four into one */
  x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
  x1 = _mm_clmulepi64_si128(x1, x0, 0x11);
  x1 = _mm_xor_si128(_mm_xor_si128(x1, x2), x5);
  x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
  x1 = _mm_clmulepi64_si128(x1, x0, 0x11);
  x1 = _mm_xor_si128(_mm_xor_si128(x1, x3), x5);
  x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
  x1 = _mm_clmulepi64_si128(x1, x0, 0x11);
  x1 = _mm_xor_si128(_mm_xor_si128(x1, x4), x5);
  while (len >= 16) {
    x2 = _mm_loadu_si128((const __m128i *)p);
    x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
    x1 = _mm_clmulepi64_si128(x1, x0, 0x11);
    x1 = _mm_xor_si128(_mm_xor_si128(x1, x2), x5);
    p += 16, len -= 16;
  }
  /* 128 bits to 64, then Barrett reduction to 32 */
  x2 = _mm_clmulepi64_si128(x1, x0, 0x10);
  x1 = _mm_xor_si128(_mm_srli_si128(x1, 8), x2);
  x0 = k5k0;
  x2 = _mm_srli_si128(x1, 4);
  x1 = _mm_and_si128(x1, mask);
  x1 = _mm_xor_si128(_mm_clmulepi64_si128(x1, x0, 0x00), x2);
  x0 = poly;
  x2 = _mm_and_si128(x1, mask);
  x2 = _mm_clmulepi64_si128(x2, x0, 0x10);
  x2 = _mm_and_si128(x2, mask);
  x2 = _mm_clmulepi64_si128(x2, x0, 0x00);
  x1 = _mm_xor_si128(x1, x2);
  return (uint32_t)_mm_extract_epi32(x1, 1);
}
#endif

/* The CRC of p[0..n) after crc (0 to start). */
static uint32_t crc32_of(uint32_t crc, const unsigned char *p, size_t n) {
#if defined(__x86_64__) && defined(__GNUC__)
  if (have_clmul && n >= 64) {
    size_t done;
    uint32_t st = crc32_clmul(~crc, p, n, &done);
    return crc32_upd(~st, p + done, n - done);
  }
#endif
  return crc32_upd(crc, p, n);
}

/* For the fuzz target: the CRC both ways (tables, and the fast path). */
void fm_evtx_crc_check(const unsigned char *p, size_t n, uint32_t *tab,
                       uint32_t *fast) {
  pthread_once(&crc_once, crc_init);
  *tab = crc32_upd(0, p, n);
  *fast = crc32_of(0, p, n);
}

/* ---------------------------------------------------------------------
** Arenas: bump allocation in blocks, reset as a whole.  After a reset the
** first block is grown to what the last use took, so a steady stream of
** records allocates nothing.
** ------------------------------------------------------------------- */
typedef struct ablock {
  struct ablock *next;
  size_t cap, used;
  /* data follows, 16-aligned */
} ablock;

typedef struct arena {
  ablock *cur;  /* the block in use (head of the list) */
  size_t total; /* bytes taken since the reset */
  size_t first; /* size to give the first block */
} arena;

#define ABLK_HDR ((sizeof(ablock) + 15) & ~(size_t)15)
#define ABLK_DATA(b) ((char *)(b) + ABLK_HDR)

static ablock *ablock_new(size_t cap) {
  ablock *b = fm_malloc(ABLK_HDR + cap);
  if (b == NULL) return NULL;
  b->next = NULL, b->cap = cap, b->used = 0;
  return b;
}

static void arena_free(arena *a) {
  ablock *b = a->cur;
  while (b != NULL) {
    ablock *n = b->next;
    fm_free(b);
    b = n;
  }
  a->cur = NULL, a->total = 0;
}

static void arena_reset(arena *a) {
  ablock *b = a->cur;
  if (b == NULL) return;
  if (b->next == NULL) {
    b->used = 0;
    a->total = 0;
    return;
  }
  /* several blocks: keep one as large as they were together */
  if (a->total > a->first) a->first = a->total;
  arena_free(a);
  a->cur = ablock_new(a->first);
}

/* n bytes at the end of the current block, or a new block: 8-aligned. */
static void *arena_grow(arena *a, size_t n);
static inline void *arena_alloc(arena *a, size_t n) {
  ablock *b = a->cur;
  n = (n + 7) & ~(size_t)7;
  if (__builtin_expect(b != NULL && b->cap - b->used >= n, 1)) {
    void *p = ABLK_DATA(b) + b->used;
    b->used += n;
    a->total += n;
    return p;
  }
  return arena_grow(a, n);
}

static void *arena_grow(arena *a, size_t n) {
  ablock *b = a->cur;
  if (b == NULL || b->cap - b->used < n) {
    size_t cap = a->first;
    if (cap < n) cap = n;
    if (b != NULL && cap < b->cap) cap = b->cap;
    ablock *nb = ablock_new(cap);
    if (nb == NULL) return NULL;
    nb->next = b;
    a->cur = b = nb;
  }
  void *p = ABLK_DATA(b) + b->used;
  b->used += n;
  a->total += n;
  return p;
}

/* A string built in place at the end of the current block: tb_room makes
   room for more bytes (moving what was built to a new block if needed),
   tb_done takes it.  Only one string is built at a time. */
typedef struct tbuf {
  arena *a;
  char *s;    /* start of the string being built */
  size_t len; /* its length so far */
} tbuf;

static int tb_start(tbuf *t, arena *a) {
  t->a = a, t->len = 0;
  if (a->cur == NULL) {
    a->cur = ablock_new(a->first);
    if (a->cur == NULL) return -1;
  }
  t->s = ABLK_DATA(a->cur) + a->cur->used;
  return 0;
}

/* Room for more bytes, and 8 to spare for tb_done's NUL and alignment. */
static char *tb_room(tbuf *t, size_t more) {
  ablock *b = t->a->cur;
  more += 8;
  if (b->cap - b->used - t->len < more) {
    size_t cap = t->a->first;
    if (cap < 2 * (t->len + more)) cap = 2 * (t->len + more);
    ablock *nb = ablock_new(cap);
    if (nb == NULL) return NULL;
    memcpy(ABLK_DATA(nb), t->s, t->len);
    nb->next = b;
    t->a->cur = nb;
    t->s = ABLK_DATA(nb);
  }
  return t->s + t->len;
}

static const char *tb_done(tbuf *t) {
  size_t n = (t->len + 8) & ~(size_t)7; /* keep a NUL after it */
  t->s[t->len] = '\0';
  t->a->cur->used += n;
  t->a->total += n;
  return t->s;
}

static int tb_put(tbuf *t, const char *s, size_t n) {
  char *d = tb_room(t, n + 1);
  if (d == NULL) return -1;
  memcpy(d, s, n);
  t->len += n;
  return 0;
}

/* ---------------------------------------------------------------------
** The tree one record parses into (record arena) and templates parse into
** (chunk arena).  Lists are linked through next.
** ------------------------------------------------------------------- */
typedef struct xnode xnode;
typedef struct xelem xelem;
typedef struct xattr xattr;
typedef struct xti xti;
typedef struct xval xval;
typedef struct xfrag xfrag;

enum {
  N_ELEM,    /* u.e */
  N_UTF8,    /* text (a string value token, CDATA), converted to UTF-8 at
                parse (once per chunk for a template's): u.p, len bytes */
  N_VALUE,   /* a value token of another type: type, u.p, len bytes */
  N_SUBST,   /* a placeholder: idx, type, optional */
  N_CHARREF, /* idx = the character */
  N_ENTREF,  /* u.name, len */
  N_TI       /* a template instance: u.ti */
};

struct xnode {
  xnode *next;
  uint8_t kind, type, optional;
  uint16_t idx;
  uint32_t len;
  union {
    const unsigned char *p;
    xelem *e;
    const char *name;
    xti *ti;
  } u;
};

struct xattr {
  xattr *next;
  const char *name;
  uint32_t nlen;
  xnode *val, *vtail;
  uint8_t dyn;   /* its value has a placeholder */
  uint8_t stext; /* its value has text of its own */
};

/* An element, with what can be known of it before any values (its shape,
   found when it closes): the walk's decisions for the common elements --
   no placeholder among the children, or one -- take no pass over them. */
struct xelem {
  const char *name;
  uint32_t nlen;
  xattr *attrs, *atail;
  xnode *kids, *ktail;
  uint8_t dyn;    /* a child is a placeholder or a template instance */
  uint8_t stext;  /* a child is text of its own */
  uint8_t adyn;   /* an attribute's value has a placeholder */
  uint8_t astext; /* an attribute has text of its own */
  uint8_t isdata; /* named Data */
  uint8_t iscont; /* named EventData or UserData */
  uint8_t flat;   /* (no dyn) its Data children go by Name: 0, 1, 2 unknown */
  uint16_t selems;/* child elements of its own */
  uint16_t npos;  /* (no dyn) Data children */
};

/* A placeholder of a template: the value it takes and how deep it sits
   (elements around it; ATTR when in an attribute value). */
typedef struct xph {
  uint16_t idx, depth;
} xph;
#define PH_ATTR 0xFFFF

typedef struct xtmpl {
  uint32_t off;     /* definition offset in the chunk (the cache key) */
  int bad;          /* it did not parse: why is in why */
  const char *why;
  xnode *items;     /* top-level elements */
  uint32_t nodes;   /* nodes of its own */
  uint32_t depth;   /* element levels of its own */
  xph *ph;
  uint32_t nph;
} xtmpl;

struct xval {
  uint8_t type;
  uint8_t kind;  /* the item it is (I_*), found once at parse */
  uint8_t empty; /* nothing for an optional placeholder */
  uint32_t len;
  uint32_t ilen; /* the item's length: strings cut at a NUL, trimmed */
  const unsigned char *p;
  xfrag *frag; /* a binary XML value, parsed */
};

struct xfrag {
  xnode *items; /* elements and template instances */
  uint64_t cost;
  uint32_t depth;
};

struct xti {
  xtmpl *t;
  xval *v;
  uint32_t n;
  uint64_t cost;
  uint32_t depth;
};

/* ---------------------------------------------------------------------
** The reader.
** ------------------------------------------------------------------- */
typedef struct nslot {
  uint32_t off; /* name offset + 1 (0: free) */
  uint32_t len;
  const char *s;
} nslot;

typedef struct tslot {
  uint32_t off; /* + 1 */
  xtmpl *t;
} tslot;

struct fm_evtx {
  unsigned flags;
  int64_t counted; /* the header's chunk count, -1 when unknown */
  fm_evtx_reportfn report;
  void *ud;
  fm_evtx_stats st;
  /* the chunk */
  const unsigned char *c;
  size_t cn;
  uint64_t base;
  int64_t index;
  uint32_t pos, limit;
  uint64_t first_id, last_id;
  int loaded, done;
  arena ca, ra; /* chunk-scoped, record-scoped */
  nslot *names;
  size_t nmask, ncount;
  tslot *tmpls;
  size_t tmask, tcount;
  /* the record */
  char why[128]; /* a parse error */
  int nomem;
  int sinkrc;
  fm_sink *sink;
};

static void set_why(fm_evtx *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_why(fm_evtx *x, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(x->why, sizeof x->why, fmt, ap);
  va_end(ap);
}

/* parse results */
enum { P_OK = 0, P_BAD = -1, P_NOMEM = -2 };
#define BAD(...) (set_why(x, __VA_ARGS__), P_BAD)
#define TRY(e)                   \
  do {                           \
    int rc_ = (e);               \
    if (rc_ != P_OK) return rc_; \
  } while (0)

fm_evtx *fm_evtx_new(unsigned flags, fm_evtx_reportfn report, void *ud) {
  fm_evtx *x;
  pthread_once(&crc_once, crc_init);
  x = fm_calloc(1, sizeof *x);
  if (x == NULL) return NULL;
  x->flags = flags, x->report = report, x->ud = ud;
  x->counted = -1;
  x->ca.first = 64 * 1024;
  x->ra.first = 32 * 1024;
  return x;
}

void fm_evtx_free(fm_evtx *x) {
  if (x == NULL) return;
  arena_free(&x->ca);
  arena_free(&x->ra);
  fm_free(x->names);
  fm_free(x->tmpls);
  fm_free(x);
}

int fm_evtx_sinkrc(const fm_evtx *x) { return x->sinkrc; }
void fm_evtx_set_counted(fm_evtx *x, int64_t nchunks) { x->counted = nchunks; }
const fm_evtx_stats *fm_evtx_stats_of(const fm_evtx *x) { return &x->st; }

void fm_evtx_report_to(fm_evtx *x, int kind, int64_t chunk, uint64_t offset,
                       uint64_t record_id, const char *fmt, ...) {
  fm_evtx_report r;
  va_list ap;
  switch (kind) {
  case FM_EVTX_R_CHUNK: x->st.bad_chunks++; break;
  case FM_EVTX_R_RECORD: x->st.bad_records++; break;
  default: x->st.warnings++; break;
  }
  if (x->report == NULL) return;
  r.kind = kind, r.chunk = chunk, r.offset = offset, r.record_id = record_id;
  va_start(ap, fmt);
  vsnprintf(r.reason, sizeof r.reason, fmt, ap);
  va_end(ap);
  x->report(x->ud, &r);
}

/* ---------------------------------------------------------------------
** Text conversions.
** ------------------------------------------------------------------- */
/* UTF-16LE units at p to UTF-8 at d (room for 3 bytes a unit): bytes
   written.  An unpaired surrogate becomes U+FFFD. */
static size_t utf16_to_utf8(char *d, const unsigned char *p, size_t units) {
  char *d0 = d;
  size_t i = 0;
  while (i < units) {
#if defined(__SSE2__)
    /* 8 ASCII units at a time */
    while (i + 8 <= units) {
      __m128i v = _mm_loadu_si128((const __m128i *)(p + 2 * i));
      if (_mm_movemask_epi8(_mm_cmpeq_epi16(
              _mm_and_si128(v, _mm_set1_epi16((short)0xFF80)),
              _mm_setzero_si128())) != 0xFFFF)
        break;
      _mm_storel_epi64((__m128i *)d, _mm_packus_epi16(v, v));
      d += 8, i += 8;
    }
    if (i >= units) break;
#endif
    uint32_t c = rd16(p + 2 * i++);
    if (c < 0x80) {
      *d++ = (char)c;
    } else if (c < 0x800) {
      *d++ = (char)(0xC0 | c >> 6);
      *d++ = (char)(0x80 | (c & 0x3F));
    } else {
      if (c >= 0xD800 && c <= 0xDBFF && i < units) {
        uint32_t c2 = rd16(p + 2 * i);
        if (c2 >= 0xDC00 && c2 <= 0xDFFF) {
          i++;
          c = 0x10000 + ((c - 0xD800) << 10) + (c2 - 0xDC00);
          *d++ = (char)(0xF0 | c >> 18);
          *d++ = (char)(0x80 | ((c >> 12) & 0x3F));
          *d++ = (char)(0x80 | ((c >> 6) & 0x3F));
          *d++ = (char)(0x80 | (c & 0x3F));
          continue;
        }
      }
      if (c >= 0xD800 && c <= 0xDFFF) c = 0xFFFD;
      *d++ = (char)(0xE0 | c >> 12);
      *d++ = (char)(0x80 | ((c >> 6) & 0x3F));
      *d++ = (char)(0x80 | (c & 0x3F));
    }
  }
  return (size_t)(d - d0);
}

/* Windows-1252 (the crate's ANSI code page) 0x80-0x9F; the rest is
   Latin-1. */
static const uint16_t cp1252[32] = {
    0x20AC, 0xFFFD, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
    0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0xFFFD, 0x017D, 0xFFFD,
    0xFFFD, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0xFFFD, 0x017E, 0x0178};

static size_t ansi_to_utf8(char *d, const unsigned char *p, size_t n) {
  char *d0 = d;
  for (size_t i = 0; i < n; i++) {
    uint32_t c = p[i];
    if (c >= 0x80 && c < 0xA0) c = cp1252[c - 0x80];
    if (c < 0x80)
      *d++ = (char)c;
    else if (c < 0x800) {
      *d++ = (char)(0xC0 | c >> 6);
      *d++ = (char)(0x80 | (c & 0x3F));
    } else {
      *d++ = (char)(0xE0 | c >> 12);
      *d++ = (char)(0x80 | ((c >> 6) & 0x3F));
      *d++ = (char)(0x80 | (c & 0x3F));
    }
  }
  return (size_t)(d - d0);
}

static size_t put_cp(char *d, uint32_t c) {
  if (c >= 0xD800 && c <= 0xDFFF) c = 0xFFFD;
  if (c < 0x80) {
    d[0] = (char)c;
    return 1;
  }
  if (c < 0x800) {
    d[0] = (char)(0xC0 | c >> 6), d[1] = (char)(0x80 | (c & 0x3F));
    return 2;
  }
  d[0] = (char)(0xE0 | c >> 12), d[1] = (char)(0x80 | ((c >> 6) & 0x3F));
  d[2] = (char)(0x80 | (c & 0x3F));
  return 3;
}

/* Units before the first NUL (a substituted string ends there). */
static size_t utf16_strlen(const unsigned char *p, size_t units) {
  size_t i = 0;
#if defined(__SSE2__)
  for (; i + 8 <= units; i += 8) {
    int m = _mm_movemask_epi8(
        _mm_cmpeq_epi16(_mm_loadu_si128((const __m128i *)(p + 2 * i)), _mm_setzero_si128()));
    if (m != 0) return i + (size_t)(__builtin_ctz((unsigned)m) >> 1);
  }
#endif
  for (; i < units; i++)
    if (p[2 * i] == 0 && p[2 * i + 1] == 0) return i;
  return units;
}

/* ---------------------------------------------------------------------
** Names: read once per chunk (the string table's entries, or a name
** stored inline), cached by offset.
** ------------------------------------------------------------------- */
static int names_grow(fm_evtx *x) {
  size_t cap = x->nmask ? 2 * (x->nmask + 1) : 256;
  nslot *ns = fm_calloc(cap, sizeof *ns);
  if (ns == NULL) return P_NOMEM;
  for (size_t i = 0; x->nmask && i <= x->nmask; i++) {
    nslot *o = &x->names[i];
    if (o->off == 0) continue;
    size_t h = (o->off * 2654435761u) & (cap - 1);
    while (ns[h].off != 0) h = (h + 1) & (cap - 1);
    ns[h] = *o;
  }
  fm_free(x->names);
  x->names = ns, x->nmask = cap - 1;
  return P_OK;
}

/* The name at chunk offset off.  *size gets the bytes its structure takes
   (for a name stored inline, which the stream skips). */
static int read_name(fm_evtx *x, uint32_t off, const char **s, uint32_t *len,
                     uint32_t *size) {
  size_t h;
  uint32_t n;
  if ((size_t)off + 8 > x->cn) return BAD("name offset %u out of the chunk", off);
  n = rd16(x->c + off + 6);
  if ((size_t)off + 8 + 2 * (size_t)n > x->cn)
    return BAD("name at offset %u runs past the chunk", off);
  *size = 8 + 2 * n + 2;
  if (x->ncount * 2 >= x->nmask) TRY(names_grow(x));
  h = (off * 2654435761u) & x->nmask;
  while (x->names[h].off != 0) {
    if (x->names[h].off == off + 1) {
      *s = x->names[h].s, *len = x->names[h].len;
      return P_OK;
    }
    h = (h + 1) & x->nmask;
  }
  char *d = arena_alloc(&x->ca, 3 * (size_t)n + 1);
  if (d == NULL) return P_NOMEM;
  n = (uint32_t)utf16_to_utf8(d, x->c + off + 8, utf16_strlen(x->c + off + 8, n));
  d[n] = '\0';
  x->names[h].off = off + 1, x->names[h].s = d, x->names[h].len = n;
  x->ncount++;
  *s = d, *len = n;
  return P_OK;
}

/* ---------------------------------------------------------------------
** The token stream.
** ------------------------------------------------------------------- */
enum { M_TEMPLATE, M_RECORD };

typedef struct pst {
  fm_evtx *x;
  arena *a;
  int mode, nest;
  uint32_t pos, end;
  xnode *items, *itail;
  xelem *stack[MAXDEPTH];
  int sp;
  xelem *open;   /* element whose start tag is being read */
  xattr *attr;   /* its attribute being read */
  uint64_t cost; /* nodes + instances' costs */
  uint32_t depth;
  /* templates: placeholders */
  xph *ph;
  uint32_t nph, phcap;
} pst;

static int parse_stream(fm_evtx *x, arena *a, int mode, int nest, uint32_t pos,
                        uint32_t end, xnode **items, uint64_t *cost,
                        uint32_t *depth, pst *out);

static int need(pst *S, uint32_t n) {
  fm_evtx *x = S->x;
  if (S->end - S->pos < n)
    return BAD("binary XML cut at offset %u (%u bytes short)", S->pos,
               n - (S->end - S->pos));
  return P_OK;
}

static xnode *new_node(pst *S, int kind) {
  xnode *n = arena_alloc(S->a, sizeof *n);
  if (n == NULL) return NULL;
  memset(n, 0, sizeof *n);
  n->kind = (uint8_t)kind;
  S->cost++;
  return n;
}

/* Put a content node where it belongs: the open attribute, the innermost
   element, or the top level (elements and instances only). */
static int place(pst *S, xnode *n) {
  fm_evtx *x = S->x;
  if (S->open != NULL) {
    if (S->attr == NULL) return BAD("content inside a start tag at offset %u", S->pos);
    if (n->kind == N_ELEM || n->kind == N_TI)
      return BAD("an element inside an attribute value at offset %u", S->pos);
    if (S->attr->vtail) S->attr->vtail->next = n;
    else S->attr->val = n;
    S->attr->vtail = n;
    return P_OK;
  }
  if (S->sp > 0) {
    xelem *e = S->stack[S->sp - 1];
    if (e->ktail) e->ktail->next = n;
    else e->kids = n;
    e->ktail = n;
    return P_OK;
  }
  if (n->kind != N_ELEM && n->kind != N_TI)
    return BAD("content outside any element at offset %u", S->pos);
  if (S->itail) S->itail->next = n;
  else S->items = n;
  S->itail = n;
  return P_OK;
}

/* A name reference: a chunk offset, the name inline when it points here. */
static int name_ref(pst *S, const char **s, uint32_t *len) {
  fm_evtx *x = S->x;
  uint32_t off, size;
  TRY(need(S, 4));
  off = rd32(x->c + S->pos);
  S->pos += 4;
  TRY(read_name(x, off, s, len, &size));
  if (off == S->pos) {
    TRY(need(S, size));
    S->pos += size;
  }
  return P_OK;
}

/* Value data sizes for the types a value token can carry besides
   strings; 0 for a type that needs a size from elsewhere. */
static uint32_t fixed_size(int type) {
  switch (type) {
  case 0x03: case 0x04: return 1;
  case 0x05: case 0x06: return 2;
  case 0x07: case 0x08: case 0x0b: case 0x0d: case 0x14: return 4;
  case 0x09: case 0x0a: case 0x0c: case 0x11: case 0x15: return 8;
  case 0x0f: case 0x12: return 16;
  default: return 0;
  }
}

/* A text node for the units UTF-16 units at S->pos (skipped): UTF-8 in the
   stream's arena. */
static int text_node(pst *S, uint32_t units, xnode **out) {
  xnode *n = new_node(S, N_UTF8);
  char *d;
  if (n == NULL || (d = arena_alloc(S->a, 3 * (size_t)units + 1)) == NULL)
    return P_NOMEM;
  n->len = (uint32_t)utf16_to_utf8(d, S->x->c + S->pos, units);
  d[n->len] = '\0';
  n->u.p = (const unsigned char *)d;
  S->pos += 2 * units;
  *out = n;
  return P_OK;
}

static int known_type(int t) {
  if (t <= 0x15 || t == 0x20 || t == 0x21 || t == 0x23) return 1;
  return t >= 0x81 && t <= 0x95;
}

static int add_ph(pst *S, uint16_t idx, uint16_t depth) {
  if (S->nph == S->phcap) {
    uint32_t cap = S->phcap ? 2 * S->phcap : 32;
    xph *np = arena_alloc(S->a, cap * sizeof *np);
    if (np == NULL) return P_NOMEM;
    if (S->nph) memcpy(np, S->ph, S->nph * sizeof *np);
    S->ph = np, S->phcap = cap;
  }
  S->ph[S->nph].idx = idx, S->ph[S->nph].depth = depth;
  S->nph++;
  return P_OK;
}

static int parse_ti(pst *S, xti **out);

static int name_eq(const char *a, uint32_t an, const char *b, size_t bn) {
  return an == bn && memcmp(a, b, bn) == 0;
}

/* Is a node text of its own (not a placeholder) that is not empty? */
static int node_stext(const xnode *n) {
  switch (n->kind) {
  case N_UTF8: return n->len > 0;
  case N_VALUE:
    return !(n->type == 0x00 ||
             ((n->type == 0x0e || n->type >= 0x81) && n->len == 0));
  case N_CHARREF: case N_ENTREF: return 1;
  default: return 0;
  }
}

/* What can be known of a closed element before any values. */
static void shape(xelem *e) {
  const char *names[MAXNAMES];
  uint32_t lens[MAXNAMES], counts[MAXNAMES];
  int nnames = 0;
  e->isdata = name_eq(e->name, e->nlen, "Data", 4);
  e->iscont = name_eq(e->name, e->nlen, "EventData", 9) ||
              name_eq(e->name, e->nlen, "UserData", 8);
  for (xattr *a = e->attrs; a != NULL; a = a->next) {
    for (const xnode *n = a->val; n != NULL; n = n->next) {
      if (n->kind == N_SUBST) a->dyn = 1;
      else if (node_stext(n)) a->stext = 1;
    }
    e->adyn |= a->dyn, e->astext |= a->stext;
  }
  for (xnode *n = e->kids; n != NULL; n = n->next) {
    if (n->kind == N_SUBST || n->kind == N_TI) e->dyn = 1;
    else if (n->kind == N_ELEM) e->selems++;
    else if (node_stext(n)) e->stext = 1;
  }
  if (e->dyn) return;
  /* the children are fixed: their keys' suffixes (Name, Name_1, ... for
     the first MAXNAMES names) and how Data children go */
  for (xnode *n = e->kids; n != NULL; n = n->next) {
    const xelem *c;
    int i;
    if (n->kind != N_ELEM) continue;
    c = n->u.e;
    n->idx = 0;
    if (e->iscont && c->isdata) {
      const xattr *na = NULL;
      e->npos++;
      for (const xattr *a = c->attrs; a != NULL; a = a->next)
        if (name_eq(a->name, a->nlen, "Name", 4)) {
          na = a;
          break;
        }
      if (na != NULL && e->flat != 1) e->flat = na->stext ? 1 : na->dyn ? 2 : e->flat;
      continue;
    }
    for (i = 0; i < nnames; i++)
      if (lens[i] == c->nlen && (names[i] == c->name || memcmp(names[i], c->name, c->nlen) == 0))
        break;
    if (i < nnames)
      n->idx = (uint16_t)(counts[i] < 0xFFFF ? counts[i]++ : counts[i]);
    else if (nnames < MAXNAMES)
      names[nnames] = c->name, lens[nnames] = c->nlen, counts[nnames++] = 1;
  }
}

static int parse_tokens(pst *S) {
  fm_evtx *x = S->x;
  const unsigned char *c = x->c;
  while (S->pos < S->end) {
    uint32_t at = S->pos;
    int tok = c[S->pos++];
    xnode *n;
    if (tok & 0xA0) goto badtok; /* only 0x40 (more data) may be set */
    switch (tok & 0x1F) {
    case 0x00: /* end of stream */
      if (tok != 0x00) goto badtok;
      S->pos = S->end;
      break;
    case 0x0f: /* fragment header */
      if (tok != 0x0f) goto badtok;
      TRY(need(S, 3));
      S->pos += 3;
      break;
    case 0x01: { /* open start element */
      xelem *e;
      if (S->open != NULL) return BAD("element start inside a start tag at offset %u", at);
      if (S->sp >= MAXDEPTH)
        return BAD("elements nested deeper than %d at offset %u", MAXDEPTH, at);
      if (S->mode == M_TEMPLATE) {
        TRY(need(S, 2));
        S->pos += 2; /* dependency identifier */
      }
      TRY(need(S, 4));
      S->pos += 4; /* data size */
      e = arena_alloc(S->a, sizeof *e);
      if (e == NULL) return P_NOMEM;
      memset(e, 0, sizeof *e);
      TRY(name_ref(S, &e->name, &e->nlen));
      if (tok & 0x40) {
        TRY(need(S, 4));
        S->pos += 4; /* attribute list size */
      }
      S->open = e;
      S->attr = NULL;
      S->cost++;
      break;
    }
    case 0x02:   /* close start element */
    case 0x03: { /* close empty element */
      xelem *e = S->open;
      if (e == NULL || (tok & 0x40)) {
        if (e == NULL) return BAD("tag close without a start at offset %u", at);
        goto badtok;
      }
      S->open = NULL, S->attr = NULL;
      n = new_node(S, N_ELEM);
      if (n == NULL) return P_NOMEM;
      n->u.e = e;
      TRY(place(S, n));
      if (tok == 0x02) {
        S->stack[S->sp++] = e;
        if ((uint32_t)S->sp > S->depth) S->depth = (uint32_t)S->sp;
      } else {
        shape(e);
        if ((uint32_t)S->sp + 1 > S->depth) S->depth = (uint32_t)S->sp + 1;
      }
      break;
    }
    case 0x04: /* end element */
      if (tok != 0x04) goto badtok;
      if (S->open != NULL || S->sp == 0)
        return BAD("unbalanced end element at offset %u", at);
      shape(S->stack[--S->sp]);
      break;
    case 0x05: { /* value */
      int type;
      TRY(need(S, 1));
      type = c[S->pos++];
      if (type == 0x01) {
        uint32_t units;
        TRY(need(S, 2));
        units = rd16(c + S->pos);
        S->pos += 2;
        TRY(need(S, 2 * units));
        TRY(text_node(S, units, &n));
      } else {
        uint32_t sz = fixed_size(type);
        if (sz == 0) return BAD("value token of type 0x%02x at offset %u", type, at);
        TRY(need(S, sz));
        n = new_node(S, N_VALUE);
        if (n == NULL) return P_NOMEM;
        n->type = (uint8_t)type, n->u.p = c + S->pos, n->len = sz;
        S->pos += sz;
      }
      TRY(place(S, n));
      break;
    }
    case 0x06: { /* attribute */
      xattr *a;
      if (S->open == NULL) return BAD("attribute outside a start tag at offset %u", at);
      a = arena_alloc(S->a, sizeof *a);
      if (a == NULL) return P_NOMEM;
      memset(a, 0, sizeof *a);
      TRY(name_ref(S, &a->name, &a->nlen));
      if (S->open->atail) S->open->atail->next = a;
      else S->open->attrs = a;
      S->open->atail = a;
      S->attr = a;
      S->cost++;
      break;
    }
    case 0x07: { /* CDATA section */
      uint32_t units;
      TRY(need(S, 2));
      units = rd16(c + S->pos);
      S->pos += 2;
      TRY(need(S, 2 * units));
      TRY(text_node(S, units, &n));
      TRY(place(S, n));
      break;
    }
    case 0x08: /* character reference */
      TRY(need(S, 2));
      n = new_node(S, N_CHARREF);
      if (n == NULL) return P_NOMEM;
      n->idx = rd16(c + S->pos);
      S->pos += 2;
      TRY(place(S, n));
      break;
    case 0x09: { /* entity reference */
      const char *s;
      uint32_t len;
      TRY(name_ref(S, &s, &len));
      n = new_node(S, N_ENTREF);
      if (n == NULL) return P_NOMEM;
      n->u.name = s, n->len = len;
      TRY(place(S, n));
      break;
    }
    case 0x0a: { /* PI target: not part of the JSON */
      const char *s;
      uint32_t len;
      if (tok != 0x0a) goto badtok;
      TRY(name_ref(S, &s, &len));
      break;
    }
    case 0x0b: { /* PI data */
      uint32_t units;
      if (tok != 0x0b) goto badtok;
      TRY(need(S, 2));
      units = rd16(c + S->pos);
      S->pos += 2;
      TRY(need(S, 2 * units));
      S->pos += 2 * units;
      break;
    }
    case 0x0c: { /* template instance */
      xti *ti;
      if (tok != 0x0c) goto badtok;
      if (S->mode == M_TEMPLATE)
        return BAD("template instance inside a template at offset %u", at);
      if (S->open != NULL)
        return BAD("template instance inside a start tag at offset %u", at);
      TRY(parse_ti(S, &ti));
      n = new_node(S, N_TI);
      if (n == NULL) return P_NOMEM;
      n->u.ti = ti;
      TRY(place(S, n));
      if (ti->cost > MAXCOST - S->cost) S->cost = MAXCOST;
      else S->cost += ti->cost;
      if (S->sp + ti->depth > S->depth) S->depth = S->sp + ti->depth;
      if (S->cost >= MAXCOST || S->depth > MAXDEPTH)
        return BAD("record expands past the reader's caps (offset %u)", at);
      break;
    }
    case 0x0d:   /* normal substitution */
    case 0x0e: { /* optional substitution */
      if (tok & 0x40) goto badtok;
      if (S->mode != M_TEMPLATE)
        return BAD("substitution outside a template at offset %u", at);
      TRY(need(S, 3));
      n = new_node(S, N_SUBST);
      if (n == NULL) return P_NOMEM;
      n->idx = rd16(c + S->pos);
      n->type = c[S->pos + 2];
      n->optional = (tok == 0x0e);
      S->pos += 3;
      if (!known_type(n->type))
        return BAD("unknown value type 0x%02x at offset %u", n->type, at);
      TRY(place(S, n));
      TRY(add_ph(S, n->idx, S->open != NULL ? PH_ATTR : (uint16_t)S->sp));
      break;
    }
    default:
    badtok:
      return BAD("unknown token 0x%02x at offset %u", tok, at);
    }
  }
  if (S->open != NULL || S->sp != 0)
    return BAD("binary XML ends inside an element (offset %u)", S->end);
  return P_OK;
}

static int parse_stream(fm_evtx *x, arena *a, int mode, int nest, uint32_t pos,
                        uint32_t end, xnode **items, uint64_t *cost,
                        uint32_t *depth, pst *out) {
  pst S;
  memset(&S, 0, sizeof S);
  S.x = x, S.a = a, S.mode = mode, S.nest = nest, S.pos = pos, S.end = end;
  TRY(parse_tokens(&S));
  *items = S.items, *cost = S.cost, *depth = S.depth;
  if (out != NULL) *out = S;
  return P_OK;
}

/* The template defined at chunk offset off, parsed once per chunk (a
   failure is cached too: the next record naming it fails at once). */
static int get_template(fm_evtx *x, uint32_t off, xtmpl **out) {
  size_t h;
  xtmpl *t;
  if (x->tcount * 2 >= x->tmask) {
    size_t cap = x->tmask ? 2 * (x->tmask + 1) : 64;
    tslot *ts = fm_calloc(cap, sizeof *ts);
    if (ts == NULL) return P_NOMEM;
    for (size_t i = 0; x->tmask && i <= x->tmask; i++) {
      if (x->tmpls[i].off == 0) continue;
      size_t k = (x->tmpls[i].off * 2654435761u) & (cap - 1);
      while (ts[k].off != 0) k = (k + 1) & (cap - 1);
      ts[k] = x->tmpls[i];
    }
    fm_free(x->tmpls);
    x->tmpls = ts, x->tmask = cap - 1;
  }
  h = (off * 2654435761u) & x->tmask;
  while (x->tmpls[h].off != 0) {
    if (x->tmpls[h].off == off + 1) {
      t = x->tmpls[h].t;
      goto found;
    }
    h = (h + 1) & x->tmask;
  }
  t = arena_alloc(&x->ca, sizeof *t);
  if (t == NULL) return P_NOMEM;
  memset(t, 0, sizeof *t);
  t->off = off;
  if ((size_t)off + 24 > x->cn) {
    t->bad = 1, t->why = "template definition out of the chunk";
  } else {
    uint32_t size = rd32(x->c + off + 20);
    if ((size_t)off + 24 + size > x->cn) {
      t->bad = 1, t->why = "template definition runs past the chunk";
    } else {
      pst S;
      uint64_t cost;
      int rc = parse_stream(x, &x->ca, M_TEMPLATE, 0, off + 24, off + 24 + size,
                            &t->items, &cost, &t->depth, &S);
      if (rc == P_NOMEM) return P_NOMEM;
      if (rc == P_BAD) {
        size_t n = strlen(x->why) + 1;
        char *w = arena_alloc(&x->ca, n);
        if (w == NULL) return P_NOMEM;
        memcpy(w, x->why, n);
        t->bad = 1, t->why = w;
      } else if (t->items == NULL) {
        t->bad = 1, t->why = "empty template definition";
      } else {
        t->nodes = cost > UINT32_MAX ? UINT32_MAX : (uint32_t)cost;
        t->ph = S.ph, t->nph = S.nph;
      }
    }
  }
  x->tmpls[h].off = off + 1, x->tmpls[h].t = t;
  x->tcount++;
found:
  if (t->bad) return BAD("template at offset %u: %s", off, t->why);
  *out = t;
  return P_OK;
}

static void val_prep(xval *v);

static int parse_ti(pst *S, xti **out) {
  fm_evtx *x = S->x;
  const unsigned char *c = x->c;
  uint32_t def, nv, i;
  xti *ti;
  uint64_t cost;
  TRY(need(S, 9));
  def = rd32(c + S->pos + 5);
  S->pos += 9;
  if (def == S->pos) { /* the definition follows: skip it */
    uint32_t size;
    TRY(need(S, 24));
    size = rd32(c + S->pos + 20);
    S->pos += 24;
    TRY(need(S, size));
    S->pos += size;
  }
  ti = arena_alloc(S->a, sizeof *ti);
  if (ti == NULL) return P_NOMEM;
  memset(ti, 0, sizeof *ti);
  TRY(get_template(x, def, &ti->t));
  TRY(need(S, 4));
  nv = rd32(c + S->pos);
  S->pos += 4;
  if (nv > (S->end - S->pos) / 4)
    return BAD("%u substitution values do not fit the record (offset %u)", nv,
               S->pos - 4);
  ti->n = nv;
  ti->v = arena_alloc(S->a, (nv ? nv : 1) * sizeof *ti->v);
  if (ti->v == NULL) return P_NOMEM;
  {
    const unsigned char *d = c + S->pos;
    S->pos += 4 * nv;
    for (i = 0; i < nv; i++) {
      xval *v = &ti->v[i];
      v->len = rd16(d + 4 * i);
      v->type = d[4 * i + 2];
      v->frag = NULL;
      if (!known_type(v->type))
        return BAD("unknown value type 0x%02x in substitution %u", v->type, i);
    }
  }
  for (i = 0; i < nv; i++) {
    xval *v = &ti->v[i];
    TRY(need(S, v->len));
    v->p = c + S->pos;
    S->pos += v->len;
    val_prep(v);
    if (v->type == 0x21 && v->len > 0) {
      xfrag *f;
      if (S->nest + 1 > MAXNEST)
        return BAD("binary XML nested deeper than %d levels", MAXNEST);
      f = arena_alloc(S->a, sizeof *f);
      if (f == NULL) return P_NOMEM;
      TRY(parse_stream(x, S->a, M_RECORD, S->nest + 1, (uint32_t)(v->p - c),
                       (uint32_t)(v->p - c) + v->len, &f->items, &f->cost,
                       &f->depth, NULL));
      v->frag = f;
    }
  }
  /* what the instance expands to */
  cost = ti->t->nodes;
  ti->depth = ti->t->depth;
  for (i = 0; i < ti->t->nph && cost < MAXCOST; i++) {
    const xph *ph = &ti->t->ph[i];
    const xval *v;
    if (ph->idx >= nv) continue;
    v = &ti->v[ph->idx];
    if (v->frag != NULL && ph->depth != PH_ATTR) {
      cost += v->frag->cost;
      if (ph->depth + v->frag->depth > ti->depth) ti->depth = ph->depth + v->frag->depth;
    } else
      cost += 1 + v->len;
  }
  ti->cost = cost;
  if (cost >= MAXCOST || ti->depth > MAXDEPTH)
    return BAD("record expands past the reader's caps (%s)",
               cost >= MAXCOST ? "size" : "depth");
  *out = ti;
  return P_OK;
}

/* ---------------------------------------------------------------------
** The walk: resolved children.  An element's children, placeholders
** replaced by their values (an optional one that is empty by nothing; a
** binary XML one by its fragment's elements), template instances by
** their templates' elements under the instance's values.
** ------------------------------------------------------------------- */
enum { I_ELEM = 1, I_TEXT16, I_TEXT8, I_UTF8, I_VAL, I_CHARREF, I_ENTREF };

typedef struct item {
  int kind;
  uint8_t type, empty;
  uint32_t len; /* TEXT16: units; TEXT8, VAL: bytes; ENTREF: name bytes */
  const unsigned char *p;
  const xelem *e;
  const xti *f; /* ELEM: the values its placeholders take */
} item;

typedef struct citer {
  const xnode *n[4];
  const xti *f[4];
  int sp;
} citer;

static void ci_init(citer *it, const xnode *list, const xti *f) {
  it->sp = 0, it->n[0] = list, it->f[0] = f;
}

/* White space as Rust's char::is_whitespace has it (the crate trims it off
   the end of substituted strings: evtx 0.8.5, its issue 249). */
static int is_ws(uint32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
         c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/* A value as an item: subst, a substituted value (strings cut at their
   first NUL and trimmed, as the crate reads them). */
static void value_item(item *o, int type, const unsigned char *p, uint32_t len,
                       int subst) {
  o->p = p, o->type = (uint8_t)type;
  if (type == 0x01) {
    uint32_t n = len / 2;
    if (subst) {
      n = (uint32_t)utf16_strlen(p, n);
      while (n > 0 && is_ws(rd16(p + 2 * (n - 1)))) n--;
    } else
      n = len;
    o->kind = I_TEXT16, o->len = n, o->empty = n == 0;
  } else if (type == 0x02) {
    uint32_t n = 0;
    while (n < len && p[n] != 0) n++;
    while (subst && n > 0 && is_ws(p[n - 1])) n--;
    o->kind = I_TEXT8, o->len = n, o->empty = n == 0;
  } else {
    o->kind = I_VAL, o->len = len;
    o->empty = type == 0x00 ||
               ((type == 0x0e || type == 0x21 || type >= 0x81) && len == 0);
  }
}

static void val_prep(xval *v) {
  item o;
  value_item(&o, v->type, v->p, v->len, 1);
  v->kind = (uint8_t)o.kind, v->ilen = o.len, v->empty = o.empty;
}

static inline int ci_next(citer *it, item *o) {
  for (;;) {
    const xnode *n = it->n[it->sp];
    const xti *f;
    if (n == NULL) {
      if (it->sp == 0) return 0;
      it->sp--;
      continue;
    }
    f = it->f[it->sp];
    it->n[it->sp] = n->next;
    switch (n->kind) {
    case N_ELEM: o->kind = I_ELEM, o->e = n->u.e, o->f = f; return 1;
    case N_UTF8: o->kind = I_UTF8, o->p = n->u.p, o->len = n->len; return 1;
    case N_VALUE: value_item(o, n->type, n->u.p, n->len, 0); return 1;
    case N_CHARREF: o->kind = I_CHARREF, o->len = n->idx; return 1;
    case N_ENTREF:
      o->kind = I_ENTREF, o->p = (const unsigned char *)n->u.name, o->len = n->len;
      return 1;
    case N_TI:
      if (it->sp < 3) {
        it->sp++;
        it->n[it->sp] = n->u.ti->t->items, it->f[it->sp] = n->u.ti;
      }
      continue;
    case N_SUBST: {
      const xval *v;
      if (f == NULL || n->idx >= f->n) continue;
      v = &f->v[n->idx];
      if (n->optional && v->empty) continue;
      if (v->type == 0x21) {
        if (v->frag != NULL && it->sp < 3) {
          it->sp++;
          it->n[it->sp] = v->frag->items, it->f[it->sp] = NULL;
        }
        continue;
      }
      o->kind = v->kind, o->type = v->type, o->empty = v->empty;
      o->p = v->p, o->len = v->ilen;
      return 1;
    }
    default: continue;
    }
  }
}

/* The items of a one-node list without the iterator: 0 or 1 items (*o),
   or -1 when the node expands to more (an instance, binary XML). */
static inline int single_item(const xnode *n, const xti *f, item *o) {
  const xval *v;
  switch (n->kind) {
  case N_ELEM: o->kind = I_ELEM, o->e = n->u.e, o->f = f; return 1;
  case N_UTF8: o->kind = I_UTF8, o->p = n->u.p, o->len = n->len; return 1;
  case N_SUBST:
    if (f == NULL || n->idx >= f->n) return 0;
    v = &f->v[n->idx];
    if (n->optional && v->empty) return 0;
    if (v->type == 0x21) return v->frag == NULL ? 0 : -1;
    o->kind = v->kind, o->type = v->type, o->empty = v->empty;
    o->p = v->p, o->len = v->ilen;
    return 1;
  case N_TI: return -1;
  default: {
    citer it;
    ci_init(&it, n, f);
    return ci_next(&it, o);
  }
  }
}

/* Is the item text that is not empty (the crate's has_non_empty_text)? */
static int item_has_text(const item *o) {
  switch (o->kind) {
  case I_TEXT16: case I_TEXT8: case I_UTF8: return o->len > 0;
  case I_VAL: return !o->empty;
  case I_CHARREF: case I_ENTREF: return 1;
  default: return 0;
  }
}

static int is_number_type(int t) { return (t >= 0x03 && t <= 0x0a) || t == 0x0d; }

/* What a list of children holds. */
typedef struct cinfo {
  int count;    /* resolved items */
  int elems;    /* element items */
  int text;     /* some item is text that is not empty */
  int other;    /* TEXT (non-empty), CHARREF, ENTREF: not one number */
  int nvals;    /* non-empty values */
  int arrays;   /* non-empty array values */
  item first;   /* the first item */
  item val;     /* the last non-empty value */
} cinfo;

static void classify(const xnode *list, const xti *f, cinfo *ci) {
  citer it;
  item o;
  int one = -1;
  ci->count = ci->elems = ci->text = ci->other = ci->nvals = ci->arrays = 0;
  if (list == NULL) return;
  if (list->next == NULL) one = single_item(list, f, &o);
  if (one == 0) return;
  ci_init(&it, list, f);
  while (one == 1 || ci_next(&it, &o)) {
    if (ci->count++ == 0) ci->first = o;
    if (o.kind == I_ELEM) {
      ci->elems++;
    } else if (item_has_text(&o)) {
      ci->text = 1;
      if (o.kind == I_VAL) {
        ci->nvals++;
        ci->val = o;
        if (o.type >= 0x81) ci->arrays++;
      } else
        ci->other = 1;
    }
    if (one == 1) break;
  }
}

/* ---------------------------------------------------------------------
** Values as text.
** ------------------------------------------------------------------- */
static const char dig2[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536"
    "37383940414243444546474849505152535455565758596061626364656667686970717273"
    "7475767778798081828384858687888990919293949596979899";

static size_t fmt_u64(char *d, uint64_t v) {
  char t[24], *e = t + sizeof t, *b = e;
  size_t n;
  while (v >= 100) {
    unsigned r = (unsigned)(v % 100);
    v /= 100;
    b -= 2;
    memcpy(b, dig2 + 2 * r, 2);
  }
  if (v >= 10) {
    b -= 2;
    memcpy(b, dig2 + 2 * v, 2);
  } else
    *--b = (char)('0' + v);
  n = (size_t)(e - b);
  memcpy(d, b, n);
  return n;
}

static size_t fmt_i64(char *d, int64_t v) {
  if (v < 0) {
    d[0] = '-';
    return 1 + fmt_u64(d + 1, (uint64_t)0 - (uint64_t)v);
  }
  return fmt_u64(d, (uint64_t)v);
}

static size_t fmt_hex(char *d, uint64_t v) {
  static const char hx[] = "0123456789abcdef";
  int n = v ? (67 - __builtin_clzll(v)) / 4 : 1; /* digits */
  d[0] = '0', d[1] = 'x';
  for (int i = n + 1; i >= 2; i--) d[i] = hx[v & 15], v >>= 4;
  return 2 + (size_t)n;
}

/* Unsigned little-endian integer of up to 8 bytes. */
static uint64_t rd_uint(const unsigned char *p, uint32_t len, uint32_t width) {
  uint64_t v = 0;
  uint32_t n = len < width ? len : width;
  for (uint32_t i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

static int64_t sext(uint64_t v, uint32_t width) {
  if (width >= 8) return (int64_t)v;
  uint64_t m = (uint64_t)1 << (8 * width - 1);
  return (int64_t)((v ^ m) - m);
}

/* Shortest text that reads back as the same number, as Rust prints it
   (1.0, 1e-7, 1e30). */
static size_t fmt_float(char *d, double v, int single) {
  char t[40];
  int p;
  if (v != v) return (size_t)(memcpy(d, "NaN", 3), 3);
  if (v == 1.0 / 0.0) return (size_t)(memcpy(d, "inf", 3), 3);
  if (v == -1.0 / 0.0) return (size_t)(memcpy(d, "-inf", 4), 4);
  for (p = 1; p <= 17; p++) {
    snprintf(t, sizeof t, "%.*g", p, v);
    if (single ? (float)strtod(t, NULL) == (float)v : strtod(t, NULL) == v) break;
  }
  /* %g's exponent form: e+30 -> e30, e-07 -> e-7; an integer gets ".0" */
  size_t n = 0;
  char *e = strchr(t, 'e');
  if (e == NULL) {
    n = strlen(t);
    memcpy(d, t, n);
    if (strchr(t, '.') == NULL) d[n++] = '.', d[n++] = '0';
    return n;
  }
  memcpy(d, t, (size_t)(e - t));
  n = (size_t)(e - t);
  d[n++] = 'e';
  e++;
  if (*e == '+') e++;
  else if (*e == '-') d[n++] = *e++;
  while (*e == '0' && e[1] != '\0') e++;
  while (*e) d[n++] = *e++;
  return n;
}

/* Days from 1970-01-01 to a civil date (H. Hinnant's algorithm). */
static void civil(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  unsigned doe = (unsigned)(z - era * 146097);
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t yy = (int64_t)yoe + era * 400;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = yy + (*m <= 2);
}

static size_t put_num(char *d, uint64_t v, int width) {
  for (int i = width - 1; i >= 0; i--) d[i] = (char)('0' + v % 10), v /= 10;
  return (size_t)width;
}

static size_t fmt_time(char *d, int64_t y, unsigned mo, unsigned da, unsigned h,
                       unsigned mi, unsigned s, unsigned us) {
  size_t n = 0;
  if (y < 0) d[n++] = '-', y = -y;
  n += y > 9999 ? fmt_u64(d + n, (uint64_t)y) : put_num(d + n, (uint64_t)y, 4);
  d[n++] = '-';
  n += put_num(d + n, mo, 2);
  d[n++] = '-';
  n += put_num(d + n, da, 2);
  d[n++] = 'T';
  n += put_num(d + n, h, 2);
  d[n++] = ':';
  n += put_num(d + n, mi, 2);
  d[n++] = ':';
  n += put_num(d + n, s, 2);
  d[n++] = '.';
  n += put_num(d + n, us, 6);
  d[n++] = 'Z';
  return n;
}

static size_t fmt_filetime(char *d, uint64_t ft) {
  uint64_t secs = ft / 10000000u;
  unsigned us = (unsigned)(ft % 10000000u / 10);
  int64_t days = (int64_t)(secs / 86400) - 134774; /* 1601 -> 1970 */
  unsigned sod = (unsigned)(secs % 86400), mo, da;
  int64_t y;
  civil(days, &y, &mo, &da);
  return fmt_time(d, y, mo, da, sod / 3600, sod / 60 % 60, sod % 60, us);
}

static size_t fmt_systime(char *d, const unsigned char *p) {
  return fmt_time(d, rd16(p), rd16(p + 2) % 100, rd16(p + 6) % 100,
                  rd16(p + 8) % 100, rd16(p + 10) % 100, rd16(p + 12) % 100,
                  (unsigned)(rd16(p + 14) % 1000) * 1000);
}

/* Two upper-case hex digits of every byte. */
static char hexup[512];
static void hexup_init(void) {
  static const char hx[] = "0123456789ABCDEF";
  for (int i = 0; i < 256; i++) hexup[2 * i] = hx[i >> 4], hexup[2 * i + 1] = hx[i & 15];
}

static size_t fmt_guid(char *d, const unsigned char *p) {
  /* Data1-3 little-endian, the rest as it is: 36 bytes */
  static const signed char order[36] = {3, 2, 1, 0, -1, 5, 4, -1, 7, 6, -1, 8, 9, -1,
                                        10, 11, 12, 13, 14, 15};
  size_t n = 0;
  for (int i = 0; i < 20; i++) {
    if (order[i] < 0) {
      d[n++] = '-';
      continue;
    }
    memcpy(d + n, hexup + 2 * p[order[i]], 2);
    n += 2;
  }
  return n;
}

/* A SID at p (len bytes available): its text, *used gets its size. */
static size_t fmt_sid(char *d, const unsigned char *p, uint32_t len,
                      uint32_t *used) {
  size_t n = 0;
  uint32_t subs, i;
  uint64_t auth = 0;
  if (len < 8) {
    *used = len;
    memcpy(d, "S-?", 3);
    return 3;
  }
  subs = p[1];
  if (subs > (len - 8) / 4) subs = (len - 8) / 4;
  for (i = 2; i < 8; i++) auth = auth << 8 | p[i];
  d[n++] = 'S', d[n++] = '-';
  n += fmt_u64(d + n, p[0]);
  d[n++] = '-';
  n += fmt_u64(d + n, auth);
  for (i = 0; i < subs; i++) {
    d[n++] = '-';
    n += fmt_u64(d + n, rd32(p + 8 + 4 * i));
  }
  *used = 8 + 4 * subs;
  return n;
}

/* Bytes a value's text can take at most. */
static size_t val_bound(int type, uint32_t len) {
  switch (type) {
  case 0x0e: case 0x8e: return 2 * (size_t)len + 8;
  case 0x81: return 3 * (size_t)len / 2 + 8;
  case 0x82: case 0x02: return 3 * (size_t)len + 8;
  default: return 48 + 24 * (size_t)len; /* numbers, times, SIDs, arrays */
  }
}

/* A scalar value of type t at p (len bytes) as text at d. */
static size_t fmt_scalar(char *d, int t, const unsigned char *p, uint32_t len) {
  switch (t) {
  case 0x00: return 0;
  case 0x03: return fmt_i64(d, sext(rd_uint(p, len, 1), 1));
  case 0x04: return fmt_u64(d, rd_uint(p, len, 1));
  case 0x05: return fmt_i64(d, sext(rd_uint(p, len, 2), 2));
  case 0x06: return fmt_u64(d, rd_uint(p, len, 2));
  case 0x07: return fmt_i64(d, sext(rd_uint(p, len, 4), 4));
  case 0x08: return fmt_u64(d, rd_uint(p, len, 4));
  case 0x09: return fmt_i64(d, (int64_t)rd_uint(p, len, 8));
  case 0x0a: return fmt_u64(d, rd_uint(p, len, 8));
  case 0x0b: {
    uint32_t b = (uint32_t)rd_uint(p, len, 4);
    float f;
    memcpy(&f, &b, 4);
    return fmt_float(d, f, 1);
  }
  case 0x0c: {
    uint64_t b = rd_uint(p, len, 8);
    double f;
    memcpy(&f, &b, 8);
    return fmt_float(d, f, 0);
  }
  case 0x0d:
    if (rd_uint(p, len, 4) != 0) return (size_t)(memcpy(d, "true", 4), 4);
    return (size_t)(memcpy(d, "false", 5), 5);
  case 0x0f: {
    unsigned char g[16] = {0};
    memcpy(g, p, len < 16 ? len : 16);
    return fmt_guid(d, g);
  }
  case 0x10: return fmt_hex(d, rd_uint(p, len, len <= 4 ? 4 : 8));
  case 0x11: return fmt_filetime(d, rd_uint(p, len, 8));
  case 0x12: {
    unsigned char s[16] = {0};
    memcpy(s, p, len < 16 ? len : 16);
    return fmt_systime(d, s);
  }
  case 0x13: {
    uint32_t used;
    return fmt_sid(d, p, len, &used);
  }
  case 0x14: return fmt_hex(d, rd_uint(p, len, 4));
  case 0x15: return fmt_hex(d, rd_uint(p, len, 8));
  default: /* binary, handles, anything else: upper-case hex */
    for (uint32_t i = 0; i < len; i++) memcpy(d + 2 * i, hexup + 2 * p[i], 2);
    return 2 * (size_t)len;
  }
}

static uint32_t elem_width(int t) {
  switch (t) {
  case 0x03: case 0x04: return 1;
  case 0x05: case 0x06: return 2;
  case 0x07: case 0x08: case 0x0b: case 0x0d: case 0x14: return 4;
  case 0x09: case 0x0a: case 0x0c: case 0x11: case 0x15: return 8;
  case 0x0f: case 0x12: return 16;
  default: return 0;
  }
}

/* Any value (arrays too) as text at d: bytes written (at most val_bound). */
static size_t fmt_value(char *d, int type, const unsigned char *p, uint32_t len) {
  size_t n = 0;
  if (type < 0x80) return fmt_scalar(d, type, p, len);
  int t = type & 0x7F;
  if (t == 0x01) { /* strings, each ended by a NUL */
    uint32_t units = len / 2, i = 0, start = 0;
    int first = 1;
    for (i = 0; i <= units; i++) {
      if (i < units && !(p[2 * i] == 0 && p[2 * i + 1] == 0)) continue;
      if (i == units && start == units) break;
      if (!first) d[n++] = ',';
      first = 0;
      n += utf16_to_utf8(d + n, p + 2 * start, i - start);
      start = i + 1;
    }
    return n;
  }
  if (t == 0x02) {
    uint32_t i = 0, start = 0;
    int first = 1;
    for (i = 0; i <= len; i++) {
      if (i < len && p[i] != 0) continue;
      if (i == len && start == len) break;
      if (!first) d[n++] = ',';
      first = 0;
      n += ansi_to_utf8(d + n, p + start, i - start);
      start = i + 1;
    }
    return n;
  }
  if (t == 0x13) { /* SIDs of their own sizes */
    uint32_t at = 0;
    while (at < len) {
      uint32_t used;
      if (at) d[n++] = ',';
      n += fmt_sid(d + n, p + at, len - at, &used);
      if (used == 0) break;
      at += used;
    }
    return n;
  }
  uint32_t w = t == 0x10 ? (len % 8 == 0 ? 8 : 4) : elem_width(t);
  if (w == 0) return fmt_scalar(d, 0x0e, p, len);
  for (uint32_t at = 0; at + w <= len; at += w) {
    if (at) d[n++] = ',';
    n += fmt_scalar(d + n, t, p + at, w);
  }
  return n;
}

/* ---------------------------------------------------------------------
** Emitting: text into the record arena, events to the sink.
** ------------------------------------------------------------------- */
#define STABLE FM_SV_STABLE

typedef struct walk {
  fm_evtx *x;
  fm_sink *s;
} walk;

#define SINK(call)                         \
  do {                                     \
    int rc_ = (call);                      \
    if (rc_ != 0) return W->x->sinkrc = rc_, FM_EVTX_SINK; \
  } while (0)

/* Append an item's text to t. */
static int item_text(tbuf *t, const item *o) {
  char *d;
  switch (o->kind) {
  case I_TEXT16:
    if ((d = tb_room(t, 3 * (size_t)o->len + 1)) == NULL) return -1;
    t->len += utf16_to_utf8(d, o->p, o->len);
    return 0;
  case I_TEXT8:
    if ((d = tb_room(t, 3 * (size_t)o->len + 1)) == NULL) return -1;
    t->len += ansi_to_utf8(d, o->p, o->len);
    return 0;
  case I_UTF8: return tb_put(t, (const char *)o->p, o->len);
  case I_VAL:
    if ((d = tb_room(t, val_bound(o->type, o->len) + 1)) == NULL) return -1;
    t->len += fmt_value(d, o->type, o->p, o->len);
    return 0;
  case I_CHARREF:
    if ((d = tb_room(t, 4)) == NULL) return -1;
    t->len += put_cp(d, o->len);
    return 0;
  case I_ENTREF: {
    static const struct { const char *n; char c; } ents[] = {
        {"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}};
    for (size_t i = 0; i < sizeof ents / sizeof ents[0]; i++)
      if (strlen(ents[i].n) == o->len && memcmp(ents[i].n, o->p, o->len) == 0)
        return tb_put(t, &ents[i].c, 1);
    if (tb_put(t, "&", 1) || tb_put(t, (const char *)o->p, o->len)) return -1;
    return tb_put(t, ";", 1);
  }
  default: return 0;
  }
}

/* The text of a list (elements skipped) as one string in the arena. */
static int list_text(walk *W, const xnode *list, const xti *f, const char **s,
                     size_t *n) {
  tbuf t;
  citer it;
  item o, o2;
  int one = -1;
  if (list != NULL && list->next == NULL) one = single_item(list, f, &o);
  if (one < 0) {
    ci_init(&it, list, f);
    one = ci_next(&it, &o) ? (ci_next(&it, &o2) ? 2 : 1) : 0;
  }
  if (one == 0) {
    *s = "", *n = 0;
    return 0;
  }
  if (one == 1) { /* one item: no building */
    char *d;
    switch (o.kind) {
    case I_UTF8: *s = (const char *)o.p, *n = o.len; return 0;
    case I_TEXT16:
      if ((d = arena_alloc(&W->x->ra, 3 * (size_t)o.len + 1)) == NULL) return FM_EVTX_NOMEM;
      *n = utf16_to_utf8(d, o.p, o.len);
      *s = d;
      return 0;
    case I_VAL:
      if ((d = arena_alloc(&W->x->ra, val_bound(o.type, o.len) + 1)) == NULL)
        return FM_EVTX_NOMEM;
      *n = fmt_value(d, o.type, o.p, o.len);
      *s = d;
      return 0;
    case I_ELEM: *s = "", *n = 0; return 0;
    default: break;
    }
  }
  if (tb_start(&t, &W->x->ra) != 0) return FM_EVTX_NOMEM;
  ci_init(&it, list, f);
  while (ci_next(&it, &o))
    if (item_text(&t, &o) != 0) return FM_EVTX_NOMEM;
  if (tb_room(&t, 1) == NULL) return FM_EVTX_NOMEM;
  *n = t.len;
  *s = tb_done(&t);
  return 0;
}

/* A number or boolean value as its scalar event. */
static int emit_number(walk *W, const char *key, size_t klen, const item *o) {
  char buf[32];
  size_t n;
  char *d;
  if (o->type == 0x0d) {
    int b = rd_uint(o->p, o->len, 4) != 0;
    SINK(W->s->scalar(W->s, key, klen, FM_SV_BOOL | STABLE, b ? "true" : "false",
                      b ? 4 : 5));
    return 0;
  }
  n = fmt_scalar(buf, o->type, o->p, o->len);
  d = arena_alloc(&W->x->ra, n + 1);
  if (d == NULL) return FM_EVTX_NOMEM;
  memcpy(d, buf, n);
  d[n] = '\0';
  SINK(W->s->scalar(W->s, key, klen, FM_SV_NUM | STABLE, d, n));
  return 0;
}

/* One scalar of a value's own text (kind FM_SV_*). */
static int emit_text(walk *W, int kind, int type, const unsigned char *p,
                     uint32_t len) {
  char *d = arena_alloc(&W->x->ra, val_bound(type, len) + 1);
  size_t n;
  if (d == NULL) return FM_EVTX_NOMEM;
  n = fmt_value(d, type, p, len);
  d[n] = '\0';
  if (kind == FM_SV_NUM && (n == 0 || d[n - 1] == 'N' || d[n - 1] == 'f'))
    kind = FM_SV_STR; /* NaN, inf: no JSON number */
  SINK(W->s->scalar(W->s, NULL, 0, kind | STABLE, d, n));
  return 0;
}

/* An array value's items, each as the JSON value it is. */
static int emit_items(walk *W, int type, const unsigned char *p, uint32_t len) {
  int t = type & 0x7F, rc;
  int kind = (t >= 0x03 && t <= 0x0c) ? FM_SV_NUM : t == 0x0d ? FM_SV_BOOL : FM_SV_STR;
  uint32_t w = elem_width(t), at, i, start;
  if (t == 0x01 || t == 0x02) { /* strings, each ended by a NUL */
    uint32_t unit = t == 0x01 ? 2 : 1, n = len / unit;
    for (i = 0, start = 0; i <= n; i++) {
      char *d;
      size_t dn;
      if (i < n && (unit == 2 ? rd16(p + 2 * i) : p[i]) != 0) continue;
      if (i == n && start == n) break;
      d = arena_alloc(&W->x->ra, 3 * (size_t)(i - start) + 1);
      if (d == NULL) return FM_EVTX_NOMEM;
      dn = unit == 2 ? utf16_to_utf8(d, p + 2 * start, i - start)
                     : ansi_to_utf8(d, p + start, i - start);
      SINK(W->s->scalar(W->s, NULL, 0, FM_SV_STR | STABLE, d, dn));
      start = i + 1;
    }
    return 0;
  }
  if (t == 0x13) { /* SIDs of their own sizes */
    for (at = 0; at < len;) {
      uint32_t used;
      char *d = arena_alloc(&W->x->ra, 48 + 12 * (size_t)(len - at));
      size_t dn;
      if (d == NULL) return FM_EVTX_NOMEM;
      dn = fmt_sid(d, p + at, len - at, &used);
      SINK(W->s->scalar(W->s, NULL, 0, FM_SV_STR | STABLE, d, dn));
      if (used == 0) break;
      at += used;
    }
    return 0;
  }
  if (t == 0x10) w = len % 8 == 0 ? 8 : 4;
  if (w == 0) return emit_text(W, FM_SV_STR, type, p, len);
  for (at = 0; at + w <= len; at += w)
    if ((rc = emit_text(W, kind, t, p + at, w)) != 0) return rc;
  return 0;
}

/* Content holding an array value: a JSON array of every item (an array
   value's items spread in it), as the crate writes it. */
static int emit_array(walk *W, const char *key, size_t klen, const xnode *list,
                      const xti *f) {
  citer it;
  item o;
  int rc;
  SINK(W->s->begin(W->s, key, klen, 1 | STABLE));
  ci_init(&it, list, f);
  while (ci_next(&it, &o)) {
    if (o.kind == I_ELEM || !item_has_text(&o)) continue;
    if (o.kind == I_VAL && o.type >= 0x81) {
      if ((rc = emit_items(W, o.type, o.p, o.len)) != 0) return rc;
    } else if (o.kind == I_VAL && is_number_type(o.type)) {
      if ((rc = emit_number(W, NULL, 0, &o)) != 0) return rc;
    } else {
      tbuf t;
      if (tb_start(&t, &W->x->ra) != 0 || item_text(&t, &o) != 0 ||
          tb_room(&t, 1) == NULL)
        return FM_EVTX_NOMEM;
      size_t n = t.len;
      const char *s = tb_done(&t);
      SINK(W->s->scalar(W->s, NULL, 0, FM_SV_STR | STABLE, s, n));
    }
  }
  SINK(W->s->end(W->s));
  return 0;
}

/* An element's content as one value: a number when it is one, else its
   text.  skip: the crate's "skip elements" variant (for #text). */
static int emit_content(walk *W, const char *key, size_t klen, const xnode *list,
                        const xti *f, const cinfo *ci, int skip) {
  const char *s;
  size_t n;
  int rc;
  if (ci->arrays) return emit_array(W, key, klen, list, f);
  if (!skip && ci->count == 1) { /* one item: no second pass */
    const item *o = &ci->first;
    char *d;
    switch (o->kind) {
    case I_VAL:
      if (is_number_type(o->type)) return emit_number(W, key, klen, o);
      if ((d = arena_alloc(&W->x->ra, val_bound(o->type, o->len) + 1)) == NULL)
        return FM_EVTX_NOMEM;
      n = fmt_value(d, o->type, o->p, o->len);
      SINK(W->s->scalar(W->s, key, klen, FM_SV_STR | STABLE, d, n));
      return 0;
    case I_TEXT16:
      if ((d = arena_alloc(&W->x->ra, 3 * (size_t)o->len + 1)) == NULL) return FM_EVTX_NOMEM;
      n = utf16_to_utf8(d, o->p, o->len);
      SINK(W->s->scalar(W->s, key, klen, FM_SV_STR | STABLE, d, n));
      return 0;
    case I_UTF8:
      SINK(W->s->scalar(W->s, key, klen, FM_SV_STR | STABLE, (const char *)o->p, o->len));
      return 0;
    default: break;
    }
  }
  if (skip && !ci->other && ci->nvals == 1 && is_number_type(ci->val.type))
    return emit_number(W, key, klen, &ci->val);
  if ((rc = list_text(W, list, f, &s, &n)) != 0) return rc;
  SINK(W->s->scalar(W->s, key, klen, FM_SV_STR | STABLE, s, n));
  return 0;
}

/* An element's children: what its shape tells, else a pass over them. */
static void classify_kids(const xelem *e, const xti *f, cinfo *ci) {
  if (!e->dyn && !e->stext) { /* elements of its own, no text */
    ci->count = ci->elems = e->selems;
    ci->text = ci->other = ci->nvals = ci->arrays = 0;
    return;
  }
  classify(e->kids, f, ci);
}

static const xattr *name_attr(const xelem *e) {
  for (const xattr *a = e->attrs; a != NULL; a = a->next)
    if (a->nlen == 4 && memcmp(a->name, "Name", 4) == 0) return a;
  return NULL;
}

static int list_has_text(const xnode *list, const xti *f) {
  citer it;
  item o;
  if (list != NULL && list->next == NULL) {
    int one = single_item(list, f, &o);
    if (one >= 0) return one == 1 && item_has_text(&o);
  }
  ci_init(&it, list, f);
  while (ci_next(&it, &o))
    if (item_has_text(&o)) return 1;
  return 0;
}

static int attrs_have_text(const xelem *e, const xti *f) {
  if (e->astext) return 1;
  if (!e->adyn) return 0;
  for (const xattr *a = e->attrs; a != NULL; a = a->next)
    if (a->dyn && list_has_text(a->val, f)) return 1;
  return 0;
}

static int emit_body(walk *W, const char *key, size_t klen, const xelem *e,
                     const xti *f, const cinfo *ci, int container);

static int emit_element(walk *W, const char *key, size_t klen, const xelem *e,
                        const xti *f, int container) {
  cinfo ci;
  int at;
  classify_kids(e, f, &ci);
  at = attrs_have_text(e, f);
  if (!ci.elems && !ci.text && !at) {
    SINK(W->s->scalar(W->s, key, klen, FM_SV_NULL | STABLE, "null", 4));
    return 0;
  }
  if (!ci.elems && !at) return emit_content(W, key, klen, e->kids, f, &ci, 0);
  return emit_body(W, key, klen, e, f, &ci, container);
}

/* A Data element's value in EventData/UserData. */
static int emit_data(walk *W, const char *key, size_t klen, const xelem *e,
                     const xti *f) {
  cinfo ci;
  classify_kids(e, f, &ci);
  if (!ci.text && !ci.elems) {
    SINK(W->s->scalar(W->s, key, klen, FM_SV_STR | STABLE, "", 0));
    return 0;
  }
  if (ci.elems) return emit_body(W, key, klen, e, f, &ci, 0);
  return emit_content(W, key, klen, e->kids, f, &ci, 0);
}

typedef struct namecount {
  const char *name;
  uint32_t len;
  uint32_t count;
} namecount;

/* The children's walk state in emit_body. */
typedef struct kids {
  const xelem *e;
  const xti *f;
  int flatten, npos, posdone;
} kids;

/* A Data child of EventData/UserData: Name: value, or (the first one) all
   of them as "Data": {"#text": ...}. */
static int emit_data_child(walk *W, kids *K, const xelem *c, const xti *cf) {
  int rc;
  if (K->flatten) {
    const xattr *na = name_attr(c);
    const char *k;
    size_t kn;
    if (na == NULL || !(na->stext || (na->dyn && list_has_text(na->val, cf))))
      return 0;
    if ((rc = list_text(W, na->val, cf, &k, &kn)) != 0) return rc;
    return emit_data(W, k, kn, c, cf);
  }
  if (K->posdone) return 0;
  K->posdone = 1;
  SINK(W->s->begin(W->s, "Data", 4, 0 | STABLE));
  if (K->npos == 1) {
    if ((rc = emit_data(W, "#text", 5, c, cf)) != 0) return rc;
  } else {
    citer it;
    item o;
    SINK(W->s->begin(W->s, "#text", 5, 1 | STABLE));
    ci_init(&it, K->e->kids, K->f);
    while (ci_next(&it, &o))
      if (o.kind == I_ELEM && o.e->isdata && (rc = emit_data(W, NULL, 0, o.e, o.f)) != 0)
        return rc;
    SINK(W->s->end(W->s));
  }
  SINK(W->s->end(W->s));
  return 0;
}

/* A child element under its key: Name, or Name_<suffix>. */
static int emit_child(walk *W, const xelem *c, const xti *cf, uint32_t suffix) {
  const char *k = c->name;
  size_t kn = c->nlen;
  if (suffix > 0) {
    char *d = arena_alloc(&W->x->ra, kn + 24);
    if (d == NULL) return FM_EVTX_NOMEM;
    memcpy(d, c->name, kn);
    d[kn] = '_';
    kn += 1 + fmt_u64(d + kn + 1, suffix);
    d[kn] = '\0';
    k = d;
  }
  return emit_element(W, k, kn, c, cf, c->iscont);
}

static int emit_body(walk *W, const char *key, size_t klen, const xelem *e,
                     const xti *f, const cinfo *ci, int container) {
  int rc;
  kids K;
  SINK(W->s->begin(W->s, key, klen, 0 | STABLE));
  if (attrs_have_text(e, f)) {
    SINK(W->s->begin(W->s, "#attributes", 11, 0 | STABLE));
    for (const xattr *a = e->attrs; a != NULL; a = a->next) {
      cinfo ai;
      if (!a->stext && !a->dyn) continue;
      classify(a->val, f, &ai);
      if (!ai.text) continue;
      if ((rc = emit_content(W, a->name, a->nlen, a->val, f, &ai, 0)) != 0) return rc;
    }
    SINK(W->s->end(W->s));
  }
  if (ci->text && (rc = emit_content(W, "#text", 5, e->kids, f, ci, 1)) != 0)
    return rc;
  K.e = e, K.f = f, K.flatten = 0, K.npos = 0, K.posdone = 0;
  if (!e->dyn && e->flat != 2 && container == e->iscont) {
    /* fixed children: their suffixes and the Data decision are known */
    K.flatten = e->flat, K.npos = e->npos;
    for (const xnode *n = e->kids; n != NULL; n = n->next) {
      const xelem *c;
      if (n->kind != N_ELEM) continue;
      c = n->u.e;
      rc = container && c->isdata ? emit_data_child(W, &K, c, f)
                                  : emit_child(W, c, f, n->idx);
      if (rc != 0) return rc;
    }
  } else {
    namecount nc[MAXNAMES];
    int nnames = 0;
    citer it;
    item o;
    if (container) { /* Data elements named, or by position? */
      ci_init(&it, e->kids, f);
      while (ci_next(&it, &o)) {
        const xattr *na;
        if (o.kind != I_ELEM || !o.e->isdata) continue;
        K.npos++;
        if (!K.flatten && (na = name_attr(o.e)) != NULL &&
            (na->stext || (na->dyn && list_has_text(na->val, o.f))))
          K.flatten = 1;
      }
    }
    ci_init(&it, e->kids, f);
    while (ci_next(&it, &o)) {
      const xelem *c;
      uint32_t suffix = 0;
      int i;
      if (o.kind != I_ELEM) continue;
      c = o.e;
      if (container && c->isdata) {
        if ((rc = emit_data_child(W, &K, c, o.f)) != 0) return rc;
        continue;
      }
      /* a repeated name: Name, Name_1, ... (the first MAXNAMES names) */
      for (i = 0; i < nnames; i++)
        if (nc[i].len == c->nlen &&
            (nc[i].name == c->name || memcmp(nc[i].name, c->name, c->nlen) == 0))
          break;
      if (i < nnames)
        suffix = nc[i].count++;
      else if (nnames < MAXNAMES)
        nc[nnames].name = c->name, nc[nnames].len = c->nlen, nc[nnames++].count = 1;
      if ((rc = emit_child(W, c, o.f, suffix)) != 0) return rc;
    }
  }
  SINK(W->s->end(W->s));
  return 0;
}

/* ---------------------------------------------------------------------
** Chunks and records.
** ------------------------------------------------------------------- */
static int all_zero(const unsigned char *p, size_t n) {
  uint64_t acc = 0;
  size_t i = 0;
  for (; i + 64 <= n; i += 64) { /* a word at a time, a cache line a step */
    for (int k = 0; k < 64; k += 8) acc |= rd64(p + i + k);
    if (acc) return 0;
  }
  for (; i < n; i++) acc |= p[i];
  return acc == 0;
}

int fm_evtx_load(fm_evtx *x, const unsigned char *data, size_t n, uint64_t base,
                 int64_t index) {
  uint32_t fso, hcrc;
  int bad_h, bad_d;
  x->loaded = 0;
  x->c = data, x->cn = n, x->base = base, x->index = index;
  if (n < FM_EVTX_CHUNK_SIZE) {
    if (all_zero(data, n)) return 0;
    fm_evtx_report_to(x, FM_EVTX_R_CHUNK, index, base, 0,
                      "chunk cut short: %zu of %d bytes", n, FM_EVTX_CHUNK_SIZE);
    return 0;
  }
  if (memcmp(data, "ElfChnk", 8) != 0) {
    /* all zero, or past the chunks the header counts (a file's unused
       space, where old data may linger): nothing to report */
    if ((x->counted >= 0 && index >= x->counted) || all_zero(data, n)) {
      x->st.empty_chunks++;
      return 0;
    }
    fm_evtx_report_to(x, FM_EVTX_R_CHUNK, index, base, 0, "bad chunk magic");
    return 0;
  }
  fso = rd32(data + 48);
  if (rd32(data + 120) & 4) { /* flag: written without checksums */
    bad_h = 0;
    bad_d = fso < 512 || fso > n;
  } else {
    hcrc = crc32_of(crc32_of(0, data, 120), data + 128, 384);
    bad_h = hcrc != rd32(data + 124);
    bad_d = fso < 512 || fso > n ||
            crc32_of(0, data + 512, fso - 512) != rd32(data + 52);
  }
  if (bad_h || bad_d) {
    const char *what = bad_h && bad_d ? "header and records checksums fail"
                       : bad_h        ? "header checksum fails"
                       : fso < 512 || fso > n ? "free space offset out of the chunk"
                                             : "records checksum fails";
    if (x->flags & FM_EVTX_STRICT_CRC) {
      fm_evtx_report_to(x, FM_EVTX_R_CHUNK, index, base, 0, "%s", what);
      return 0;
    }
    fm_evtx_report_to(x, FM_EVTX_R_WARN, index, base, 0, "%s (records read anyway)",
                      what);
  }
  /* a new chunk: its names and templates are its own */
  arena_reset(&x->ca);
  if (x->names) memset(x->names, 0, (x->nmask + 1) * sizeof *x->names);
  if (x->tmpls) memset(x->tmpls, 0, (x->tmask + 1) * sizeof *x->tmpls);
  x->ncount = x->tcount = 0;
  x->pos = 512;
  x->limit = (fso >= 512 && fso <= n) ? fso : (uint32_t)n;
  x->first_id = rd64(data + 24);
  x->last_id = rd64(data + 32);
  x->done = 0;
  x->loaded = 1;
  x->st.chunks++;
  return 1;
}

/* Is there a plausible record of this chunk at pos: its magic, a size
   that fits, the copy of the size after it, an id in the chunk's range? */
static int record_at(const fm_evtx *x, uint32_t pos) {
  uint32_t size;
  uint64_t id;
  if ((size_t)pos + 28 > x->limit) return 0;
  if (rd32(x->c + pos) != 0x00002a2a) return 0;
  size = rd32(x->c + pos + 4);
  if (size < 28 || size > x->limit - pos) return 0;
  id = rd64(x->c + pos + 8);
  return rd32(x->c + pos + size - 4) == size && id >= x->first_id &&
         id <= x->last_id;
}

/* After a damaged record header: the next plausible record, or limit.
   (Records are 8-byte aligned.  The id range keeps out the stale records
   a chunk's slack holds -- a shadow copy taken while a chunk was being
   rewritten has an older chunk's records after the new ones.) */
static uint32_t resync(const fm_evtx *x, uint32_t pos) {
  for (pos = (pos + 8) & ~(uint32_t)7; (size_t)pos + 28 <= x->limit; pos += 8)
    if (record_at(x, pos)) return pos;
  return x->limit;
}

int fm_evtx_next(fm_evtx *x, fm_sink *s, fm_evtx_rec *rec) {
  while (x->loaded && !x->done && (size_t)x->pos + 24 <= x->limit) {
    uint32_t pos = x->pos, size;
    uint64_t id;
    xnode *items = NULL;
    uint64_t cost;
    uint32_t depth;
    int rc;
    if (rd32(x->c + pos) != 0x00002a2a) {
      if (all_zero(x->c + pos, x->limit - pos)) break; /* zeroed tail */
      x->pos = resync(x, pos);
      fm_evtx_report_to(x, FM_EVTX_R_RECORD, x->index, x->base + pos, 0,
                        "bad record magic (%u bytes skipped)", x->pos - pos);
      continue;
    }
    size = rd32(x->c + pos + 4);
    id = rd64(x->c + pos + 8);
    /* (a size whose copy differs is read as evtx_dump reads it: the
       record parses or is reported below) */
    if (size < 28 || size > x->limit - pos) {
      const char *why = size < 28 ? "record size below 28"
                                  : "record runs past the chunk's records";
      x->pos = resync(x, pos);
      fm_evtx_report_to(x, FM_EVTX_R_RECORD, x->index, x->base + pos, id,
                        "%s (size %u; %u bytes skipped)", why, size, x->pos - pos);
      continue;
    }
    x->pos = pos + size;
    if (id == x->last_id) x->done = 1;
    arena_reset(&x->ra);
    x->why[0] = '\0';
    rc = parse_stream(x, &x->ra, M_RECORD, 0, pos + 24, pos + size - 4, &items,
                      &cost, &depth, NULL);
    if (rc == P_NOMEM) return FM_EVTX_NOMEM;
    if (rc == P_OK && items == NULL) rc = (set_why(x, "record without an element"), P_BAD);
    if (rc == P_OK && (cost >= MAXCOST || depth > MAXDEPTH))
      rc = (set_why(x, "record expands past the reader's caps"), P_BAD);
    if (rc == P_BAD) {
      fm_evtx_report_to(x, FM_EVTX_R_RECORD, x->index, x->base + pos, id, "%s",
                        x->why);
      continue;
    }
    rec->id = id;
    rec->filetime = rd64(x->c + pos + 16);
    rec->offset = x->base + pos;
    rec->size = size;
    rec->chunk = x->index;
    {
      /* the first element (after an instance, its template's) is the
         record: {"Event": ...} */
      walk W;
      citer it;
      item o;
      W.x = x, W.s = s;
      ci_init(&it, items, NULL);
      while (ci_next(&it, &o) && o.kind != I_ELEM) {}
      if (o.kind != I_ELEM) {
        fm_evtx_report_to(x, FM_EVTX_R_RECORD, x->index, x->base + pos, id,
                          "record without an element");
        continue;
      }
      x->st.records++;
      x->sinkrc = 0;
      rc = s->begin(s, NULL, 0, 0 | STABLE);
      if (rc != 0) return x->sinkrc = rc, FM_EVTX_SINK;
      rc = emit_element(&W, o.e->name, o.e->nlen, o.e, o.f, 0);
      if (rc != 0) return rc;
      rc = s->end(s);
      if (rc != 0) return x->sinkrc = rc, FM_EVTX_SINK;
      return FM_EVTX_RECORD;
    }
  }
  x->loaded = 0;
  return FM_EVTX_END;
}

/* ---------------------------------------------------------------------
** Files.
** ------------------------------------------------------------------- */
int fm_evtx_sniff(const void *p, size_t n) {
  return n >= 8 && (memcmp(p, "ElfFile", 8) == 0 || memcmp(p, "ElfChnk", 8) == 0);
}

/* Read up to n bytes (short only at the end): bytes read, or -1. */
static ptrdiff_t read_full(fm_evtx_file *f, unsigned char *d, size_t n) {
  size_t got = 0;
  while (got < n && !f->eof) {
    ptrdiff_t r = f->read(f->ud, (char *)d + got, n - got);
    if (r < 0) {
      f->err = errno ? errno : EIO;
      return -1;
    }
    if (r == 0) f->eof = 1;
    got += (size_t)r;
  }
  f->pos += got;
  return (ptrdiff_t)got;
}

int fm_evtx_file_open(fm_evtx_file *f, fm_evtx *x, fm_evtx_readfn read, void *ud) {
  ptrdiff_t got;
  const unsigned char *h;
  memset(f, 0, sizeof *f);
  f->read = read, f->ud = ud;
  f->counted = -1;
  f->buf = fm_malloc(FM_EVTX_CHUNK_SIZE);
  if (f->buf == NULL) return FM_EVTX_NOMEM;
  got = read_full(f, f->buf, FM_EVTX_HEADER_SIZE);
  if (got < 0) return FM_EVTX_EREAD;
  h = f->buf;
  if (got < FM_EVTX_HEADER_SIZE) {
    fm_evtx_report_to(x, FM_EVTX_R_FILE, -1, 0, 0,
                      got == 0 ? "empty file" : "file cut inside its header (%zd bytes)",
                      got);
    f->notevtx = 1;
    f->eof = 1;
    return 0;
  }
  if (memcmp(h, "ElfFile", 8) != 0) {
    fm_evtx_report_to(x, FM_EVTX_R_FILE, -1, 0, 0, "bad file header magic");
    f->notevtx = -1; /* decided by the first chunk */
    return 0;
  }
  f->flags = rd32(h + 120);
  f->dirty = f->flags & 1;
  if (!(f->flags & 4) && crc32_of(0, h, 120) != rd32(h + 124)) {
    fm_evtx_report_to(x, FM_EVTX_R_FILE, -1, 0, 0, "file header checksum fails");
    return 0; /* its count is not to be trusted */
  }
  f->first_chunk = rd64(h + 8), f->last_chunk = rd64(h + 16);
  f->next_record_id = rd64(h + 24);
  f->header_chunks = rd16(h + 42);
  f->counted = f->header_chunks;
  fm_evtx_set_counted(x, f->counted);
  return 0;
}

int fm_evtx_file_read_chunk(fm_evtx_file *f, unsigned char *dst, size_t *n,
                            int64_t *index, uint64_t *base) {
  ptrdiff_t got;
  if (f->notevtx == 1 || f->eof) return 0;
  *base = f->pos;
  got = read_full(f, dst, FM_EVTX_CHUNK_SIZE);
  if (got < 0) return FM_EVTX_EREAD;
  if (got == 0) return 0;
  if (f->notevtx == -1) { /* no file header: is the first chunk one? */
    if (memcmp(dst, "ElfChnk", 8) != 0) {
      f->notevtx = 1;
      return 0;
    }
    f->notevtx = 0;
  }
  *n = (size_t)got;
  *index = f->next++;
  return 1;
}

int fm_evtx_file_next(fm_evtx_file *f, fm_evtx *x) {
  for (;;) {
    size_t n;
    int64_t index;
    uint64_t base;
    int rc = fm_evtx_file_read_chunk(f, f->buf, &n, &index, &base);
    if (rc <= 0) {
      if (rc == 0) fm_evtx_file_end(f, x);
      return rc;
    }
    rc = fm_evtx_load(x, f->buf, n, base, index);
    if (rc != 0) return rc;
  }
}

void fm_evtx_file_end(fm_evtx_file *f, fm_evtx *x) {
  if (f->notevtx == 1 && f->next == 0 && f->pos > FM_EVTX_HEADER_SIZE &&
      !f->ended) /* neither a file header nor a chunk */
    fm_evtx_report_to(x, FM_EVTX_R_FILE, -1, 0, 0, "not an EVTX file");
  f->ended = 1;
}

void fm_evtx_file_close(fm_evtx_file *f) {
  fm_free(f->buf);
  f->buf = NULL;
}

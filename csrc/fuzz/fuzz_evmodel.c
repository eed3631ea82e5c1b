/*
** fuzz_evmodel.c -- the event model (evmodel.c) alone, driven by random
** streams of structure events (evsink.h), against a reference written here.
**
** The input is read as a program that builds one event: a tree of objects,
** arrays and scalars over names chosen to collide (the section names,
** "#text", "#attributes", names with spaces and their despaced twins, "a.b"
** against {"a":{"b"}}, "A_B" against {"A":{"B"}}, keys near the 512-byte
** cap), numbers the model takes and does not, up to ~80 levels.  The tree is
** streamed into the model as a front end would (each key and value stable
** or not: unstable bytes are overwritten after the call, so a model that
** kept a pointer to them reads garbage), and flattened by the reference:
** event.lua's flatten() over the tree, written recursively, with the
** declines evmodel.h documents.  Checked:
**   - the model's answer is OK, FM_SINK_OTHER with a reason, or NOMEM;
**   - with the first writer winning (FM_EV_DUP_FIRST, a Lua table's order:
**     the tree's), OK <=> the reference takes the event, and then the same
**     fields (name and value), each name once;
**   - with FM_EV_DUP_OTHER, the same, and OTHER also when a name comes twice
**     in the section that wins it (the reference counts them);
**   - a decline for size (names many times the input) is accepted as is;
**   - one model reused across inputs, twice on the same stream: the same
**     answer in the same order; a fresh model: the same.
** A first byte 0xFF streams the input as raw events instead (begin, end,
** scalar in any order, keys or none): any answer, no crash, no leak, and
** with OK distinct names.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evmodel.h"
#include "fastmatch.h"

#define CHECK(c)                                                            \
  do {                                                                      \
    if (!(c)) {                                                             \
      fprintf(stderr, "fuzz_evmodel: %s:%d: %s\n", __FILE__, __LINE__, #c); \
      __builtin_trap();                                                     \
    }                                                                       \
  } while (0)

enum { MAXNODES = 1500, MAXDEPTH = 80, ARENA = 1 << 20, NAMES = 4 << 20 };
static char gen_arena[ARENA], names_arena[NAMES]; /* reused: no 5 MB per input */
enum { N_OBJ, N_ARR, N_SCALAR };

typedef struct node {
  int type, kind; /* kind: FM_SV_* for a scalar */
  const char *key, *val;
  size_t klen, vlen;
  int kstable, vstable;
  int first, next; /* children: first child, next sibling (-1: none) */
} node;

typedef struct gen {
  const uint8_t *p, *e;
  node nodes[MAXNODES];
  int nn;
  char *arena;
  size_t alen;
} gen;

static unsigned byte(gen *g) { return g->p < g->e ? *g->p++ : 0; }

static const char *keep(gen *g, const char *s, size_t n) {
  char *d;
  if (g->alen + n + 1 > ARENA) return NULL;
  d = g->arena + g->alen;
  memcpy(d, s, n);
  g->alen += n;
  return d;
}

static const char *const KEYS[] = {
    "Event", "EventData", "UserData", "System", "#text", "#attributes", "#x", "Name", "A B",
    "AB", "a", "b", "a.b", "A_B", "A", "B", "x y", "xy", "", " ", "Provider", "EventID", "Data",
    "Channel", "Qualifiers", "C"};
static const char *const NUMS[] = {"0",   "-5",  "12",  "4624",          "9007199254740991",
                                   "-9007199254740991", "9007199254740992", "-0", "1.5", "1e3",
                                   "00",  "-",   "12345678901234567890", "x1"};
static const char *const STRS[] = {"v", "w x", "", "C:\\x.exe", "a\0b", "\xc3\xa9"};

/* a key: from the names above, random bytes, or long (around the cap) */
static int gen_key(gen *g, node *n, int parent_event) {
  unsigned b = byte(g);
  char buf[800];
  size_t len, k;
  if (parent_event && b < 160) {
    static const char *const SEC[] = {"System", "EventData", "UserData", "Other"};
    n->key = SEC[b & 3], n->klen = strlen(n->key);
  } else if (b < 200) {
    n->key = KEYS[b % (sizeof KEYS / sizeof *KEYS)];
    n->klen = n->key[0] == '\0' ? 0 : strlen(n->key);
  } else if (b < 235) {
    len = byte(g) % 6;
    for (k = 0; k < len; k++) buf[k] = (char)("aAbB _.#"[byte(g) & 7]);
    if ((n->key = keep(g, buf, len)) == NULL) return -1;
    n->klen = len;
  } else {
    len = 250 + (b - 235) * 16 + byte(g) % 16; /* 250 .. 590 */
    memset(buf, 'L', len);
    if (b & 1) buf[len / 2] = ' ';
    if ((n->key = keep(g, buf, len)) == NULL) return -1;
    n->klen = len;
  }
  n->kstable = (b >> 3) & 1;
  return 0;
}

static int gen_node(gen *g, int depth, int parent_event, int root);

/* children of an object (distinct keys: a Lua table or a JSON object
   lua-cjson would take) or of an array (no keys) */
static int gen_children(gen *g, int at, int depth, int is_event) {
  unsigned n = byte(g) % 7, i;
  int last = -1;
  for (i = 0; i < n && g->nn < MAXNODES - 1; i++) {
    int c = gen_node(g, depth + 1, is_event, 0), s, dup = 0;
    if (c < 0) return -1;
    if (g->nodes[at].type == N_OBJ) {
      for (s = g->nodes[at].first; s >= 0 && !dup; s = g->nodes[s].next)
        dup = g->nodes[s].klen == g->nodes[c].klen &&
              memcmp(g->nodes[s].key, g->nodes[c].key, g->nodes[c].klen) == 0;
      if (dup) continue; /* the node stays unlinked */
    } else {
      g->nodes[c].key = NULL, g->nodes[c].klen = 0;
    }
    if (last < 0) g->nodes[at].first = c;
    else g->nodes[last].next = c;
    last = c;
  }
  return 0;
}

static int gen_node(gen *g, int depth, int parent_event, int root) {
  int at = g->nn++;
  node *n = &g->nodes[at];
  unsigned b;
  memset(n, 0, sizeof *n);
  n->first = n->next = -1;
  if (!root && gen_key(g, n, parent_event) < 0) return -1;
  b = byte(g);
  if (root || (depth < MAXDEPTH && g->nn < MAXNODES - 8 && b % 8 < 4)) {
    n->type = b % 8 == 3 && !root ? N_ARR : N_OBJ;
    n->kstable = n->kstable || (b & 0x80);
    if (root && b == 0xFE) n->type = N_ARR; /* now and then, a root that is not an object */
    if (gen_children(g, at, depth, n->klen == 5 && memcmp(n->key, "Event", 5) == 0) < 0) return -1;
    return at;
  }
  n->type = N_SCALAR;
  n->vstable = (b >> 4) & 1;
  switch (b % 8) {
    case 4: {
      unsigned k = byte(g);
      n->kind = FM_SV_NUM;
      n->val = NUMS[k % (sizeof NUMS / sizeof *NUMS)];
      n->vlen = strlen(n->val);
      break;
    }
    case 5:
      n->kind = FM_SV_BOOL;
      n->val = b & 0x20 ? "true" : "false", n->vlen = strlen(n->val);
      break;
    case 6: n->kind = FM_SV_NULL, n->val = "null", n->vlen = 4; break;
    default: {
      unsigned k = byte(g);
      n->kind = FM_SV_STR;
      n->val = STRS[k % (sizeof STRS / sizeof *STRS)];
      n->vlen = k % 6 == 4 ? 3 : strlen(n->val);
      break;
    }
  }
  return at;
}

/* ---------------------------------------------------------------- streaming */
static char scratch[2][1024];

/* bytes handed over unstable are a copy, spoilt after the call */
static const char *pass(int which, const char *s, size_t n, int stable) {
  if (stable || n > sizeof scratch[0]) return s;
  memcpy(scratch[which], s, n);
  return scratch[which];
}
static void spoil(void) { memset(scratch, 0xA5, sizeof scratch); }

static int stream(const gen *g, int at, fm_sink *S) {
  const node *n = &g->nodes[at];
  int stable = n->kstable || n->klen > sizeof scratch[0];
  const char *key = n->key ? pass(0, n->key, n->klen, stable) : NULL;
  int rc, c;
  if (n->type == N_SCALAR) {
    int vs = n->vstable || n->vlen > sizeof scratch[1];
    rc = S->scalar(S, key, n->klen, n->kind | (vs && stable ? FM_SV_STABLE : 0),
                   pass(1, n->val, n->vlen, vs && stable), n->vlen);
    spoil();
    return rc;
  }
  rc = S->begin(S, key, n->klen, (n->type == N_ARR) | (stable ? FM_SV_STABLE : 0));
  spoil();
  if (rc != FM_SINK_OK) return rc;
  for (c = n->first; c >= 0; c = g->nodes[c].next)
    if ((rc = stream(g, c, S)) != FM_SINK_OK) return rc;
  return S->end(S);
}

/* ---------------------------------------------------------------- the reference */
typedef struct entry {
  const char *name, *val;
  size_t nlen, vlen, seq;
  int section;
} entry;

typedef struct ref {
  const gen *g;
  entry *e;
  size_t ne, cap;
  char *names; /* composed names */
  size_t nlen, ncap;
  int declined, depth_over;
} ref;

enum { S_FLAT, S_DATA, S_USER, S_SYS };

static int key_is(const node *n, const char *s) { return n->klen == strlen(s) && memcmp(n->key, s, n->klen) == 0; }

static const char *mkname(ref *R, const char *a, size_t an, int sep, const char *b, size_t bn, size_t *out) {
  char *d;
  size_t n = an + (sep ? 1 : 0) + bn;
  if (R->nlen + n > R->ncap) { /* never moves: sized for the worst case */
    R->depth_over = 1;
    return NULL;
  }
  d = R->names + R->nlen;
  memcpy(d, a, an);
  if (sep) d[an] = (char)sep;
  memcpy(d + n - bn, b, bn);
  R->nlen += n;
  *out = n;
  return d;
}

/* an integer below 2^53 in magnitude, written as Lua would */
static int number_taken(const char *s, size_t n) {
  size_t i = 0;
  unsigned long long v = 0;
  if (n > 0 && s[0] == '-') i = 1;
  if (i == n || n - i > 17) return 0;
  if (s[i] == '0' && n - i > 1) return 0;
  if (s[i] == '0' && i == 1) return 0; /* -0 */
  for (; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return 0;
    v = v * 10 + (unsigned)(s[i] - '0');
  }
  return v < (1ull << 53);
}

static void add(ref *R, const char *name, size_t nlen, const node *v, int section) {
  if (R->ne == R->cap) {
    R->cap = R->cap ? R->cap * 2 : 256;
    R->e = realloc(R->e, R->cap * sizeof *R->e);
    CHECK(R->e != NULL);
  }
  R->e[R->ne].name = name, R->e[R->ne].nlen = nlen;
  R->e[R->ne].val = v->val, R->e[R->ne].vlen = v->vlen;
  R->e[R->ne].section = section, R->e[R->ne].seq = R->ne;
  R->ne++;
}

/* put(f, name, text(v)): 0, or a reason to decline */
static int put(ref *R, const char *name, size_t nlen, const node *v, int section) {
  size_t k, dn = 0;
  char tmp[1200];
  if (v->kind == FM_SV_NULL) return 0;
  if (v->kind == FM_SV_NUM && !number_taken(v->val, v->vlen)) return 1;
  add(R, name, nlen, v, section);
  if (memchr(name, ' ', nlen) != NULL) {
    const char *d;
    size_t out;
    for (k = 0; k < nlen; k++)
      if (name[k] != ' ') tmp[dn++] = name[k];
    d = mkname(R, tmp, dn, 0, "", 0, &out);
    if (d != NULL) add(R, d, out, v, section);
  }
  return 0;
}

#define KIDS(n, c) for (c = (n)->first; c >= 0; c = R->g->nodes[c].next)
#define NODE(c) (&R->g->nodes[c])

/* the frames the model would push: past 64, it declines */
static int deep(ref *R, int depth) {
  if (depth > 64) R->declined = 1;
  return R->declined;
}

static void flat(ref *R, const node *o, const char *prefix, size_t pn, int depth) {
  int c;
  if (deep(R, depth)) return;
  KIDS(o, c) {
    const node *m = NODE(c);
    size_t nn;
    const char *name;
    if (pn + m->klen > FM_EV_MAXNAME) { R->declined = 1; return; } /* spilled */
    name = mkname(R, prefix, pn, 0, m->key, m->klen, &nn);
    if (name == NULL) return;
    if (m->type == N_ARR) { R->declined = 1; return; }
    if (m->type == N_SCALAR) {
      if (put(R, name, nn, m, S_FLAT)) { R->declined = 1; return; }
    } else {
      const char *p2 = mkname(R, name, nn, 0, ".", 1, &nn);
      if (p2 == NULL) return;
      flat(R, m, p2, nn, depth + 1);
    }
    if (R->declined) return;
  }
}

/* put_data: 0, or a reason (inside an element it may be cancelled by the
   element's #text, which the caller sees) */
static int data(ref *R, const node *o, int section, int depth) {
  int c, why = 0;
  if (deep(R, depth)) return 0;
  KIDS(o, c) {
    const node *m = NODE(c);
    if (m->klen > 0 && m->key[0] == '#') continue;
    if (m->type == N_SCALAR) {
      if (put(R, m->key, m->klen, m, section) && !why) why = 1;
    } else if (m->type == N_ARR) {
      if (!why) why = 1;
    } else {
      const node *text = NULL;
      int k;
      KIDS(m, k) if (key_is(NODE(k), "#text")) text = NODE(k);
      if (text != NULL) {
        size_t mark = R->ne;
        /* the model pushes the element's nested objects before it knows:
           only their depth counts */
        int sub = data(R, m, section, depth + 1);
        (void)sub;
        R->ne = mark;
        if (R->declined) return 0;
        if (text->type != N_SCALAR) {
          if (!why) why = 1;
        } else if (put(R, m->key, m->klen, text, section) && !why) {
          why = 1;
        }
      } else {
        int sub = data(R, m, section, depth + 1);
        if (sub && !why) why = sub;
      }
    }
    if (R->declined) return 0;
  }
  return why;
}

static void sys_member(ref *R, const node *m, const char *name, size_t nn, int depth);

static void sysel(ref *R, const node *o, const char *name, size_t nn, int depth) {
  int c;
  if (deep(R, depth)) return;
  KIDS(o, c) {
    const node *m = NODE(c);
    if (key_is(m, "#attributes")) {
      int a;
      if (m->type == N_ARR) { R->declined = 1; return; }
      if (m->type != N_OBJ) continue;
      if (deep(R, depth + 1)) return;
      KIDS(m, a) {
        const node *at = NODE(a);
        size_t an;
        const char *aname;
        if (at->type != N_SCALAR) { R->declined = 1; return; }
        if (nn + 1 + at->klen > FM_EV_MAXNAME) { R->declined = 1; return; }
        aname = mkname(R, name, nn, '_', at->key, at->klen, &an);
        if (aname == NULL) return;
        if (put(R, aname, an, at, S_SYS)) { R->declined = 1; return; }
      }
    } else if (key_is(m, "#text")) {
      if (m->type != N_SCALAR) { R->declined = 1; return; }
      if (put(R, name, nn, m, S_SYS)) { R->declined = 1; return; }
    } else {
      size_t n2;
      const char *name2;
      if (nn + 1 + m->klen > FM_EV_MAXNAME) { R->declined = 1; return; }
      name2 = mkname(R, name, nn, '_', m->key, m->klen, &n2);
      if (name2 == NULL) return;
      sys_member(R, m, name2, n2, depth + 1);
    }
    if (R->declined) return;
  }
}

static void sys_member(ref *R, const node *m, const char *name, size_t nn, int depth) {
  if (m->type == N_SCALAR) {
    if (put(R, name, nn, m, S_SYS)) R->declined = 1;
  } else if (m->type == N_ARR) {
    R->declined = 1;
  } else {
    sysel(R, m, name, nn, depth);
  }
}

static void reference(ref *R, const node *root) {
  const node *ev = NULL;
  int c;
  if (root->type != N_OBJ) { R->declined = 1; return; }
  KIDS(root, c) if (key_is(NODE(c), "Event") && NODE(c)->type != N_SCALAR) ev = NODE(c);
  /* the flat section: every member but a table Event */
  KIDS(root, c) {
    const node *m = NODE(c);
    if (m == ev) continue;
    if (ev == NULL && m->klen > FM_EV_MAXNAME) { R->declined = 1; return; } /* spilled */
    if (m->type == N_ARR) { R->declined = 1; return; }
    if (m->type == N_SCALAR) {
      if (put(R, m->key, m->klen, m, S_FLAT)) { R->declined = 1; return; }
    } else {
      size_t pn;
      const char *p = mkname(R, m->key, m->klen, 0, ".", 1, &pn);
      if (p == NULL) return;
      if (pn > FM_EV_MAXNAME) { /* every member's name is over the cap */
        if (m->first >= 0) { R->declined = 1; return; }
      } else {
        flat(R, m, p, pn, 2);
      }
    }
    if (R->declined) return;
  }
  if (ev == NULL) return;
  if (ev->type == N_ARR) { R->declined = 1; return; }
  /* sections in flatten()'s order, each in the tree's */
  KIDS(ev, c) {
    const node *m = NODE(c);
    if (m->type == N_SCALAR) continue;
    if (key_is(m, "EventData") || key_is(m, "UserData") || key_is(m, "System")) {
      if (m->type == N_ARR) { R->declined = 1; return; }
      if (deep(R, 3)) return;
    }
    if (key_is(m, "EventData") && data(R, m, S_DATA, 3)) R->declined = 1;
    if (R->declined) return;
  }
  KIDS(ev, c) {
    const node *m = NODE(c);
    int u;
    if (!key_is(m, "UserData") || m->type != N_OBJ) continue;
    KIDS(m, u) {
      const node *k = NODE(u);
      if (k->type == N_ARR) { R->declined = 1; return; }
      if (k->type == N_OBJ && data(R, k, S_USER, 4)) R->declined = 1;
      if (R->declined) return;
    }
  }
  KIDS(ev, c) {
    const node *m = NODE(c);
    int s;
    if (!key_is(m, "System") || m->type != N_OBJ) continue;
    KIDS(m, s) {
      const node *k = NODE(s);
      if (k->klen > FM_EV_MAXNAME) { R->declined = 1; return; }
      sys_member(R, k, k->key, k->klen, 4);
      if (R->declined) return;
    }
  }
}

static int by_name(const void *a, const void *b) {
  const entry *x = a, *y = b;
  size_t n = x->nlen < y->nlen ? x->nlen : y->nlen;
  int c = memcmp(x->name, y->name, n);
  if (c != 0) return c;
  if (x->nlen != y->nlen) return x->nlen < y->nlen ? -1 : 1;
  if (x->section != y->section) return x->section - y->section;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int field_cmp(const void *a, const void *b) {
  const fm_evfield *x = a, *y = b;
  size_t n = x->nlen < y->nlen ? x->nlen : y->nlen;
  int c = memcmp(x->name, y->name, n);
  if (c != 0) return c;
  return x->nlen < y->nlen ? -1 : x->nlen > y->nlen;
}

/* The reference's winners into out (sorted by name): the first entry of
   the lowest section writing a name.  -1 when another entry of that
   section writes it too and dups is FM_EV_DUP_OTHER (Lua's table order
   would pick the winner). */
static long winners(ref *R, fm_evfield *out, int dups) {
  size_t k = 0, n = 0;
  if (R->ne > 0) qsort(R->e, R->ne, sizeof *R->e, by_name);
  while (k < R->ne) {
    const entry *w = &R->e[k];
    size_t j = k + 1;
    while (j < R->ne && R->e[j].nlen == w->nlen && memcmp(R->e[j].name, w->name, w->nlen) == 0) j++;
    if (dups == FM_EV_DUP_OTHER && j > k + 1 && R->e[k + 1].section == w->section) return -1;
    out[n].name = w->name, out[n].nlen = w->nlen, out[n].val = w->val, out[n].vlen = w->vlen;
    n++;
    k = j;
  }
  return (long)n;
}

/* ---------------------------------------------------------------- one answer */
typedef struct answer {
  int rc, why;
  size_t n;
  fm_evfield *f; /* a copy, in the model's order */
  char *bytes;
} answer;

static void take_answer(answer *a, const fm_evmodel *m, int rc) {
  size_t k, total = 0, at = 0;
  a->rc = rc, a->why = m->why, a->n = 0, a->f = NULL, a->bytes = NULL;
  CHECK(rc == FM_SINK_OK || rc == FM_SINK_OTHER || rc == FM_SINK_NOMEM);
  if (rc == FM_SINK_OTHER) CHECK(m->why > FM_EV_OK && m->why < FM_EV_NWHY);
  if (rc != FM_SINK_OK) return;
  CHECK(fm_evmodel_done(m));
  a->n = m->n;
  for (k = 0; k < m->n; k++) total += m->f[k].nlen + m->f[k].vlen;
  a->f = malloc((m->n + 1) * sizeof *a->f);
  a->bytes = malloc(total + 1);
  CHECK(a->f != NULL && a->bytes != NULL);
  for (k = 0; k < m->n; k++) {
    fm_evfield *f = &a->f[k];
    f->nlen = m->f[k].nlen, f->vlen = m->f[k].vlen;
    if (f->nlen) memcpy(a->bytes + at, m->f[k].name, f->nlen);
    f->name = a->bytes + at, at += f->nlen;
    if (f->vlen) memcpy(a->bytes + at, m->f[k].val, f->vlen);
    f->val = a->bytes + at, at += f->vlen;
  }
}

static int same_answer(const answer *a, const answer *b) {
  size_t k;
  if (a->rc != b->rc || a->n != b->n) return 0;
  if (a->rc == FM_SINK_OTHER && a->why != b->why) return 0;
  for (k = 0; k < a->n; k++)
    if (a->f[k].nlen != b->f[k].nlen || a->f[k].vlen != b->f[k].vlen ||
        memcmp(a->f[k].name, b->f[k].name, a->f[k].nlen) != 0 ||
        memcmp(a->f[k].val, b->f[k].val, a->f[k].vlen) != 0)
      return 0;
  return 1;
}

static void drop_answer(answer *a) { free(a->f), free(a->bytes); }

static void dump_field(const char *who, const fm_evfield *f) {
  fprintf(stderr, "  %s: %.*s = %.*s\n", who, (int)(f->nlen < 80 ? f->nlen : 80), f->name,
          (int)(f->vlen < 80 ? f->vlen : 80), f->val);
}

/* the model's answer against the reference's */
static void compare(const answer *a, const gen *g, int dups) {
  ref R;
  fm_evfield *want, *got;
  long nw;
  size_t k;
  memset(&R, 0, sizeof R);
  R.g = g;
  R.ncap = NAMES;
  R.names = names_arena;
  reference(&R, &g->nodes[0]);
  if (a->rc == FM_SINK_NOMEM || (a->rc == FM_SINK_OTHER && a->why == FM_EV_SIZE) || R.depth_over) {
    free(R.e);
    return;
  }
  want = malloc((R.ne + 1) * sizeof *want);
  CHECK(want != NULL);
  nw = R.declined ? -2 : winners(&R, want, dups);
  if (nw < 0) {
    if (a->rc != FM_SINK_OTHER)
      fprintf(stderr, "fuzz_evmodel: the model took an event the reference declines (%s)\n",
              nw == -1 ? "a name twice in its section" : "not modelled");
    CHECK(a->rc == FM_SINK_OTHER);
  } else {
    if (a->rc != FM_SINK_OK)
      fprintf(stderr, "fuzz_evmodel: the model declines (%s) an event the reference takes\n",
              fm_ev_why_name(a->why));
    CHECK(a->rc == FM_SINK_OK);
    got = malloc((a->n + 1) * sizeof *got);
    CHECK(got != NULL);
    if (a->n) memcpy(got, a->f, a->n * sizeof *got);
    if (a->n > 0) qsort(got, a->n, sizeof *got, field_cmp);
    for (k = 1; k < a->n; k++) CHECK(field_cmp(&got[k - 1], &got[k]) != 0);
    if (a->n != (size_t)nw) fprintf(stderr, "fuzz_evmodel: %zu fields, the reference %ld\n", a->n, nw);
    for (k = 0; k < a->n && k < (size_t)nw; k++)
      if (field_cmp(&got[k], &want[k]) != 0 || got[k].vlen != want[k].vlen ||
          memcmp(got[k].val, want[k].val, got[k].vlen) != 0) {
        dump_field("model", &got[k]);
        dump_field("reference", &want[k]);
        CHECK(0);
      }
    CHECK(a->n == (size_t)nw);
    free(got);
  }
  free(want), free(R.e);
}

/* ---------------------------------------------------------------- raw events */
static int raw_stream(const uint8_t *p, size_t n, fm_sink *S) {
  size_t i;
  int rc = FM_SINK_OK;
  for (i = 0; i + 1 < n && rc == FM_SINK_OK; i += 2) {
    const char *key = p[i + 1] & 1 ? KEYS[p[i + 1] % (sizeof KEYS / sizeof *KEYS)] : NULL;
    size_t kl = key ? strlen(key) : 0;
    switch (p[i] % 4) {
      case 0: rc = S->begin(S, key, kl, (p[i] >> 2) & 1); break;
      case 1: rc = S->end(S); break;
      default: {
        const char *v = NUMS[p[i] % (sizeof NUMS / sizeof *NUMS)];
        rc = S->scalar(S, key, kl, (p[i] >> 2) & 3, v, strlen(v));
        break;
      }
    }
  }
  return rc;
}

static fm_evmodel reused;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  fm_evmodel_init(&reused);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static gen g;
  int d;
  if (size > 1 << 16) return 0;
  if (size > 0 && data[0] == 0xFF) { /* raw events */
    fm_evmodel m;
    int rc;
    answer a;
    fm_evmodel_init(&m);
    fm_evmodel_reset(&m, size > 1 && (data[1] & 1) ? FM_EV_DUP_FIRST : FM_EV_DUP_OTHER);
    rc = raw_stream(data + 1, size - 1, &m.sink);
    if (rc == FM_SINK_OK && !fm_evmodel_done(&m)) rc = FM_SINK_OTHER, m.why = FM_EV_SHAPE;
    take_answer(&a, &m, rc);
    if (rc == FM_SINK_OK) {
      size_t k, j;
      for (k = 0; k < a.n; k++)
        for (j = k + 1; j < a.n; j++) CHECK(field_cmp(&a.f[k], &a.f[j]) != 0);
    }
    drop_answer(&a);
    fm_evmodel_free(&m);
    return 0;
  }
  g.p = data, g.e = data + size, g.nn = 0, g.alen = 0;
  g.arena = gen_arena;
  if (gen_node(&g, 0, 0, 1) < 0) return 0;
  for (d = FM_EV_DUP_OTHER; d <= FM_EV_DUP_FIRST; d++) {
    answer a, b, c;
    fm_evmodel fresh;
    int rc;
    fm_evmodel_reset(&reused, d);
    rc = stream(&g, 0, &reused.sink);
    take_answer(&a, &reused, rc);
    compare(&a, &g, d);
    fm_evmodel_reset(&reused, d);
    rc = stream(&g, 0, &reused.sink);
    take_answer(&b, &reused, rc);
    CHECK(same_answer(&a, &b));
    fm_evmodel_init(&fresh);
    fm_evmodel_reset(&fresh, d);
    rc = stream(&g, 0, &fresh.sink);
    take_answer(&c, &fresh, rc);
    fm_evmodel_free(&fresh);
    CHECK(same_answer(&a, &c));
    drop_answer(&a), drop_answer(&b), drop_answer(&c);
  }
  return 0;
}

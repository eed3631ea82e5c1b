/*
** gate.c -- fastmatch.sigma's scan gate: can this JSON line make any rule
** fire?  One C pass per line: the line's fields (jsonflat.c), the variants
** (logsource mappings) its Channel/EventID select, each field value through
** that variant's pattern sets (sets.c), the rules those hits make
** candidates, and each candidate's condition in three-valued logic over its
** items.  A line is let through when some condition is true or unknown
** (a cidr, a comparison: left to the engine), or when the line is not an
** event the gate models; only lines that no rule can fire
** on are dropped, so they are never decoded.
** Owns: the gate's program and its run; the binding core._sigma_gate and
** core._jsonflat.  Must not touch: what a rule means (lua/fastmatch/sigma:
** the program is compiled there, from the same index eng:match uses).
**
** The program a rule compiles to, per variant (integers, postfix):
**   ITEM field all ngroups {flags nbits bit.. nre rx.. nref (field how
**        cased).. ncidr (net_hi net_lo bits)..}*  push the item's value
**   NOT | ATLEAST need n (pop n, push: >= need true...) | CONST v | END
** An item is an OR (all: an AND) of its value groups; a group is true when
** a pattern it holds matched the field's value (a hit bit), or by its null /
** exists flags, a regex (run here), a field reference or an IPv4 network; a
** group with other values (gt, an IPv6 network...) is unknown unless one of
** those made it true; a group of regexes each behind its required literal
** (G_GUARDS: the bits are those literals) is false unless one matched, then
** unknown.  Values: 0 false, 1 true, 2 unknown (Kleene).
*/
#include <limits.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lauxlib.h"
#include "lua.h"

#include "binding.h"
#include "fastmatch.h"
#include "jsonflat.h"

enum { OP_END, OP_ITEM, OP_NOT, OP_ATLEAST, OP_CONST };
enum { G_NULL = 1, G_EXISTS = 2, G_ABSENT = 4, G_OTHER = 8, G_GUARDS = 16, G_CIDR6 = 32 };
enum { K_F = 0, K_T = 1, K_U = 2 };
enum { MAXSTACK = 256 };

typedef struct gcond {
  uint32_t field;
  uint32_t nvals;
  uint32_t *off, *len; /* values (lower case) in the gate's text pool */
} gcond;

typedef struct gprobe {
  uint32_t field; /* 0: every value of the event (keywords) */
  uint32_t base;  /* the hit bit of the set's first pattern */
  fm_wcset **set; /* the set userdata's own pointer (NULL once collected) */
} gprobe;

typedef struct gvar {
  uint32_t ncond, nprobe, nbits, nrules;
  gcond *conds;
  gprobe *probes;    /* sorted by field */
  uint32_t *pstart;  /* per field id: probes[pstart[f] .. pstart[f + 1]) */
  uint32_t *trig_at; /* per bit: trig[trig_at[b] .. trig_at[b + 1]) pairs */
  uint32_t *trig;    /* slot, gate bits */
  uint32_t *full, *prog, *always, *ids; /* per rule; ids: the engine's */
  uint32_t nalways;
  int32_t *code;
  size_t ncode;
  uint32_t *bstamp, *rstamp; /* per bit, per rule: the run they belong to */
  uint32_t *rmask, *cand;
} gvar;

typedef struct gate {
  uint32_t nfields, nvars;
  char *pool; /* names and condition values */
  size_t npool;
  uint32_t *name_off, *name_len;
  uint32_t *htab; /* name hash -> field id (0 empty) */
  size_t hmask;
  gvar *vars;
  fm_matcher **rx; /* regexes (the fm.compile objects, kept alive) */
  struct gcache *cache; /* CV_SLOTS; NULL: not allocated (no memory) */
  uint32_t nrx;
  /* per event */
  fm_jflat flat;
  uint32_t *fstamp, *fid_of; /* per field id; per flat field: its id */
  size_t fidcap;
  fm_jfield *mf; /* match_flat's fields */
  size_t mfcap;
  uint32_t *mslot; /* match_event's names: hash -> mf index + 1 */
  size_t mmask;
  uint32_t *out; /* match_flat's answers: variant, slot, value */
  size_t nout, outcap;
  const char **fval;
  size_t *flen;
  uint32_t ev, run;
  /* counters */
  double lines, passed, unmodelled;
} gate;

static uint32_t name_hash(const char *s, size_t n) {
  uint32_t h = 2166136261u;
  size_t i;
  for (i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
  return h;
}

static uint32_t field_id(const gate *g, const char *s, size_t n) {
  size_t i;
  for (i = name_hash(s, n) & g->hmask;; i = (i + 1) & g->hmask) {
    uint32_t id = g->htab[i];
    if (id == 0) return 0;
    if (g->name_len[id] == n && memcmp(g->pool + g->name_off[id], s, n) == 0)
      return id;
  }
}

static void var_free(gvar *v) {
  uint32_t k;
  for (k = 0; k < v->ncond; k++) fm_free(v->conds[k].off), fm_free(v->conds[k].len);
  fm_free(v->conds), fm_free(v->probes), fm_free(v->pstart), fm_free(v->trig_at);
  fm_free(v->trig), fm_free(v->full), fm_free(v->prog), fm_free(v->always), fm_free(v->ids);
  fm_free(v->code), fm_free(v->bstamp), fm_free(v->rstamp), fm_free(v->rmask);
  fm_free(v->cand);
}

static void gate_free(gate *g) {
  uint32_t k;
  if (g == NULL) return;
  for (k = 0; k < g->nvars; k++) var_free(&g->vars[k]);
  fm_free(g->vars), fm_free(g->pool), fm_free(g->name_off), fm_free(g->name_len);
  fm_free(g->htab), fm_free(g->fstamp), fm_free(g->fval), fm_free(g->flen);
  fm_free(g->fid_of), fm_free(g->rx), fm_free(g->mf), fm_free(g->out), fm_free(g->mslot), fm_free(g->cache);
  fm_jflat_free(&g->flat);
  fm_free(g);
}

/* ---------------------------------------------------------------- the run */
static int ascii_ieq(const char *a, const char *lower, size_t n) {
  size_t k;
  for (k = 0; k < n; k++) {
    unsigned char c = (unsigned char)a[k];
    if (c >= 'A' && c <= 'Z') c = (unsigned char)(c + 32);
    if (c != (unsigned char)lower[k]) return 0;
  }
  return 1;
}

static int var_applies(const gate *g, const gvar *v) {
  uint32_t k, i;
  for (k = 0; k < v->ncond; k++) {
    const gcond *c = &v->conds[k];
    const char *s;
    size_t n;
    int any = 0;
    if (g->fstamp[c->field] != g->ev) return 0;
    s = g->fval[c->field], n = g->flen[c->field];
    for (i = 0; i < c->nvals && !any; i++)
      any = c->len[i] == n && ascii_ieq(s, g->pool + c->off[i], n);
    if (!any) return 0;
  }
  return 1;
}

/* One value through one set: its hits stamped, the rules whose gates they
   complete appended to the candidates. */
/* What a set matched of a value, remembered: event logs repeat their values
   (images, parents, users, hosts, integrity levels), and a set's answer
   depends on the value alone.  Direct-mapped by a hash of set and value;
   a value over CV_MAX bytes or with over CV_IDX matches is not kept. */
enum { CV_SLOTS = 4096, CV_MAX = 320, CV_IDX = 14 };
struct gcache {
  const fm_wcset *set; /* NULL: empty */
  uint64_t h;
  uint32_t len, nidx;
  uint32_t idx[CV_IDX];
  char val[CV_MAX];
};

static uint64_t hash64(const char *s, size_t n) {
  uint64_t h = 1469598103934665603ull;
  size_t i;
  for (i = 0; i + 8 <= n; i += 8) {
    uint64_t w;
    memcpy(&w, s + i, 8);
    h = (h ^ w) * 0x100000001B3ull;
    h ^= h >> 29;
  }
  for (; i < n; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001B3ull;
  return h ^ (h >> 32);
}

/* One matched pattern: its hit bit stamped, the rules whose gates it
   completes appended to the candidates. */
static int hit(gvar *v, const gprobe *p, size_t idx, uint32_t run, uint32_t *ncand) {
  uint32_t bit = p->base + (uint32_t)idx, t;
  if (bit >= v->nbits) return -1; /* a set grown since (cannot, but checked) */
  v->bstamp[bit] = run;
  for (t = v->trig_at[bit]; t < v->trig_at[bit + 1]; t += 2) {
    uint32_t slot = v->trig[t], gb = v->trig[t + 1], now;
    if (v->rstamp[slot] != run) v->rstamp[slot] = run, v->rmask[slot] = 0;
    now = v->rmask[slot] | gb;
    if (now != v->rmask[slot]) {
      v->rmask[slot] = now;
      if (now == v->full[slot]) v->cand[(*ncand)++] = slot;
    }
  }
  return 0;
}

/* One value through one set (or its remembered answer); h0: hash64 of the
   value (computed once for all its sets). */
static int probe(gate *g, gvar *v, const gprobe *p, const char *s, size_t n, uint64_t h0,
                 uint32_t run, uint32_t *ncand) {
  fm_wcset *set = *p->set;
  size_t r, k;
  const size_t *m;
  struct gcache *e = NULL;
  uint64_t h = 0;
  if (set == NULL) return -1;
  if (n <= CV_MAX && g->cache != NULL) {
    h = h0 ^ ((uint64_t)(uintptr_t)set * 0x9E3779B97F4A7C15ull);
    e = &g->cache[h & (CV_SLOTS - 1)];
    if (e->set == set && e->h == h && e->len == n && memcmp(e->val, s, n) == 0) {
      for (k = 0; k < e->nidx; k++)
        if (hit(v, p, e->idx[k], run, ncand) < 0) return -1;
      return 0;
    }
  }
  r = fm_wcset_run(set, s, n, FM_SET_ALL);
  m = fm_wcset_matches(set);
  if (e != NULL) {
    if (r <= CV_IDX) {
      e->set = set, e->h = h, e->len = (uint32_t)n, e->nidx = (uint32_t)r;
      memcpy(e->val, s, n);
      for (k = 0; k < r; k++) e->idx[k] = (uint32_t)m[k];
    }
  }
  for (k = 0; k < r; k++)
    if (hit(v, p, m[k], run, ncand) < 0) return -1;
  return 0;
}

/* A field-reference test (fieldref): s against the other field's value o,
   as lua/fastmatch/sigma.lua's alt_test with fm.iequals/contains/
   startswith/endswith; caseless against an o with a non-ASCII byte is
   left unknown (Unicode folding: the engine decides). */
enum { REF_EQUALS, REF_CONTAINS, REF_STARTS, REF_ENDS };
static int fieldref(const char *s, size_t n, const char *o, size_t m, int how, int cased) {
  size_t k;
  int ascii = 1, r;
  if (!cased)
    for (k = 0; k < m && ascii; k++) ascii = (unsigned char)o[k] < 0x80;
  switch (how) {
    case REF_EQUALS: r = n == m && (cased ? memcmp(s, o, m) == 0 : fm_iequal(s, o, m)); break;
    case REF_CONTAINS:
      r = (cased ? fm_search(s, n, o, m) : fm_isearch(s, n, o, m)) != FM_NOTFOUND;
      break;
    case REF_STARTS: r = m <= n && (cased ? memcmp(s, o, m) == 0 : fm_iequal(s, o, m)); break;
    default: r = m <= n && (cased ? memcmp(s + n - m, o, m) == 0 : fm_iequal(s + n - m, o, m)); break;
  }
  if (r) return K_T;
  return ascii ? K_F : K_U;
}

/* An IPv4 address as modifiers.lua's parse_ipv4 reads it: four dot-separated
   runs of digits, each at most 255 (leading zeros allowed). */
static int ipv4(const char *s, size_t n, uint32_t *out) {
  size_t i = 0;
  uint32_t a = 0;
  int part;
  for (part = 0; part < 4; part++) {
    uint32_t v = 0;
    size_t d = i;
    while (i < n && s[i] >= '0' && s[i] <= '9') {
      v = v * 10 + (uint32_t)(s[i++] - '0');
      if (v > 1000) v = 1000; /* stays over 255: no overflow */
    }
    if (i == d || v > 255) return 0;
    a = a << 8 | v;
    if (part < 3) {
      if (i >= n || s[i] != '.') return 0;
      i++;
    }
  }
  if (i != n) return 0;
  *out = a;
  return 1;
}

/* One value group at *pcp: flags nbits bit.. nre rx.. nref (field how
   cased).. ncidr (net_hi net_lo bits)..; the field's value when present.
   IPv4 networks are decided here; an IPv6 one (G_CIDR6) is false for a
   value without ':' (no IPv6 address), else unknown. */
static int group(const gate *g, const gvar *v, const int32_t **pcp, uint32_t field,
                 int present, uint32_t run) {
  const int32_t *pc = *pcp;
  int flags = *pc++, nb = *pc++, b, nre, nref, ncidr, val = K_F, hit = 0;
  const char *s = present ? g->fval[field] : NULL;
  size_t n = present ? g->flen[field] : 0;
  for (b = 0; b < nb; b++)
    if (v->bstamp[pc[b]] == run) hit = 1;
  pc += nb;
  if (hit && !(flags & G_GUARDS)) val = K_T;
  if (field == 0 && (flags & (G_NULL | G_EXISTS | G_ABSENT))) flags |= G_OTHER;
  else if (((flags & G_NULL) && (!present || n == 0)) || ((flags & G_EXISTS) && present) ||
           ((flags & G_ABSENT) && !present))
    val = K_T;
  /* regexes: skipped when none of their required literals (guards) matched */
  nre = *pc++;
  if (val != K_T && present && (hit || !(flags & G_GUARDS)))
    for (b = 0; b < nre && val != K_T; b++) {
      fm_matcher *m = g->rx[pc[b]];
      int r = m->test != NULL ? m->test(m, s, n) : -1;
      if (r > 0) val = K_T;
      else if (r < 0) val = K_U;
    }
  pc += nre;
  nref = *pc++;
  if (val != K_T && present)
    for (b = 0; b < nref && val != K_T; b++) {
      uint32_t of = (uint32_t)pc[3 * b];
      if (g->fstamp[of] == g->ev) {
        int r = fieldref(s, n, g->fval[of], g->flen[of], pc[3 * b + 1], pc[3 * b + 2]);
        if (r > val) val = r;
      }
    }
  pc += 3 * nref;
  ncidr = *pc++;
  if (val != K_T && present) {
    uint32_t a;
    if (ncidr > 0 && ipv4(s, n, &a))
      for (b = 0; b < ncidr && val != K_T; b++) {
        uint32_t net = (uint32_t)pc[3 * b] << 16 | (uint32_t)pc[3 * b + 1];
        int bits = pc[3 * b + 2];
        if (bits == 0 || a >> (32 - bits) == net) val = K_T;
      }
    if (val == K_F && (flags & G_CIDR6) && memchr(s, ':', n) != NULL) val = K_U;
  }
  pc += 3 * ncidr;
  if (val == K_F && (flags & G_OTHER)) val = K_U;
  *pcp = pc;
  return val;
}

static int eval(const gate *g, const gvar *v, uint32_t at, uint32_t run) {
  uint8_t st[MAXSTACK];
  int sp = 0;
  const int32_t *pc = v->code + at;
  for (;;) {
    switch (*pc++) {
      case OP_END: return st[0];
      case OP_CONST: st[sp++] = (uint8_t)*pc++; break;
      case OP_NOT:
        if (st[sp - 1] != K_U) st[sp - 1] = st[sp - 1] == K_T ? K_F : K_T;
        break;
      case OP_ATLEAST: {
        int32_t need = *pc++, n = *pc++, k, t = 0, u = 0;
        for (k = sp - n; k < sp; k++) t += st[k] == K_T, u += st[k] == K_U;
        sp -= n;
        st[sp++] = t >= need ? K_T : t + u >= need ? K_U : K_F;
        break;
      }
      case OP_ITEM: {
        uint32_t field = (uint32_t)*pc++;
        int all = *pc++, ng = *pc++, gi, res = all ? K_T : K_F;
        int present = field != 0 && g->fstamp[field] == g->ev;
        for (gi = 0; gi < ng; gi++) {
          int val = group(g, v, &pc, field, present, run);
          if (all) {
            if (val == K_F || (val == K_U && res == K_T)) res = val;
          } else {
            if (val == K_T || (val == K_U && res == K_F)) res = val;
          }
        }
        st[sp++] = (uint8_t)res;
        break;
      }
      default: return K_U; /* checked when built: never */
    }
  }
}

/* Each rule whose condition is not false on the fields fs[0 .. nf) goes
   to emit(ud, variant, slot, value), until emit returns nonzero.  Returns
   1 when emit stopped it, 0 when every rule was seen, -1 when the gate
   cannot answer (no memory; a set or regex finalized by hand). */
typedef int (*gate_emit)(void *ud, uint32_t var, uint32_t slot, int val);

static int gate_eval(gate *g, const fm_jfield *fs, size_t nf, gate_emit emit, void *ud) {
  size_t k;
  uint32_t vi;
  if (++g->ev == 0) { /* wrapped: forget every stamp */
    memset(g->fstamp, 0, (g->nfields + 1) * sizeof *g->fstamp);
    g->ev = 1;
  }
  if (nf > g->fidcap) {
    uint32_t *nfid = fm_realloc(g->fid_of, nf * sizeof *nfid);
    if (nfid == NULL) return -1;
    g->fid_of = nfid, g->fidcap = nf;
  }
  for (k = 0; k < nf; k++) {
    uint32_t id = field_id(g, fs[k].name, fs[k].nlen);
    g->fid_of[k] = id;
    if (id != 0) g->fstamp[id] = g->ev, g->fval[id] = fs[k].val, g->flen[id] = fs[k].vlen;
  }
  for (vi = 0; vi < g->nvars; vi++) {
    gvar *v = &g->vars[vi];
    uint32_t run, ncand = 0, c;
    if (!var_applies(g, v)) continue;
    if (++g->run == 0) {
      for (c = 0; c < g->nvars; c++) {
        memset(g->vars[c].bstamp, 0, (g->vars[c].nbits + 1) * sizeof(uint32_t));
        memset(g->vars[c].rstamp, 0, (g->vars[c].nrules + 1) * sizeof(uint32_t));
      }
      g->run = 1;
    }
    run = g->run;
    for (k = 0; k < nf; k++) {
      uint32_t id = g->fid_of[k], p;
      uint64_t h0;
      if (v->pstart[1] == 0 && (id == 0 || v->pstart[id] == v->pstart[id + 1])) continue;
      h0 = fs[k].vlen <= CV_MAX ? hash64(fs[k].val, fs[k].vlen) : 0;
      /* keywords (probes of field 0): every value, known field or not */
      for (p = v->pstart[0]; p < v->pstart[1]; p++)
        if (probe(g, v, &v->probes[p], fs[k].val, fs[k].vlen, h0, run, &ncand) < 0) return -1;
      if (id != 0)
        for (p = v->pstart[id]; p < v->pstart[id + 1]; p++)
          if (probe(g, v, &v->probes[p], fs[k].val, fs[k].vlen, h0, run, &ncand) < 0) return -1;
    }
    for (c = 0; c < ncand + v->nalways; c++) {
      uint32_t slot = c < ncand ? v->cand[c] : v->always[c - ncand];
      int r = eval(g, v, v->prog[slot], run);
      if (r != K_F && emit(ud, vi, slot, r)) return 1;
    }
  }
  return 0;
}

/* the gate's emit: the first rule stops the run; why[] says which */
static int emit_first(void *ud, uint32_t var, uint32_t slot, int val) {
  uint32_t *why = ud;
  if (why != NULL) why[0] = var + 1, why[1] = slot + 1, why[2] = (uint32_t)val;
  return 1;
}

/* 1: some rule may fire on the line (or the line is not modelled), 0: none.
   why (may be NULL): the variant and rule slot (1-based) that let it
   through and the condition's value, or zeros. */
static int gate_run(gate *g, const char *s, size_t n, uint32_t why[3]) {
  int rc = fm_jflat_parse(&g->flat, s, n);
  g->lines++;
  if (rc != FM_JF_OK) {
    g->unmodelled++, g->passed++;
    return 1;
  }
  if (gate_eval(g, g->flat.f, g->flat.n, emit_first, why) != 0) return g->passed++, 1;
  return 0;
}

/* ---------------------------------------------------------------- building
   from the table fastmatch.sigma makes (see the top comment); every index
   is checked, so a wrong table raises instead of reading out of bounds. */
typedef struct gate_ud {
  fm_matcher base;
  gate *g;
} gate_ud;

#define GATE_MT "fastmatch.sigma_gate"

static uint32_t geti_u32(lua_State *L, int t, lua_Integer i, uint32_t max, const char *what) {
  lua_Integer v;
  int ok;
  lua_geti(L, t, i);
  v = lua_tointegerx(L, -1, &ok);
  lua_pop(L, 1);
  if (!ok || v < 0 || (lua_Unsigned)v > max)
    luaL_error(L, "fastmatch: sigma gate: bad %s at %d", what, (int)i);
  return (uint32_t)v;
}

static void *xcalloc(lua_State *L, size_t n, size_t size) {
  void *p = fm_calloc(n ? n : 1, size);
  if (p == NULL) luaL_error(L, "fastmatch: not enough memory");
  return p;
}

static size_t pool_add(lua_State *L, gate *g, const char *s, size_t n, size_t *cap) {
  size_t at = g->npool;
  if (g->npool + n > *cap) {
    size_t nc = *cap ? *cap : 1024;
    char *np;
    while (nc < g->npool + n) nc *= 2;
    np = fm_realloc(g->pool, nc);
    if (np == NULL) luaL_error(L, "fastmatch: not enough memory");
    g->pool = np, *cap = nc;
  }
  memcpy(g->pool + g->npool, s, n);
  g->npool += n;
  return at;
}

static lua_Integer field_len(lua_State *L, int t, const char *k) {
  lua_Integer n;
  if (lua_getfield(L, t, k) != LUA_TTABLE) luaL_error(L, "fastmatch: sigma gate: '%s' must be a table", k);
  n = luaL_len(L, -1);
  if (n < 0 || n > INT32_MAX / 4) luaL_error(L, "fastmatch: sigma gate: '%s' is too long", k);
  return n;
}

/* Check a rule's program: ops known, operands in range, the stack never
   under- or overflows and holds one value at END. */
static int code_ok(const gvar *v, const gate *g, size_t at) {
  size_t pc = at;
  int sp = 0;
  while (pc < v->ncode) {
    int32_t op = v->code[pc++];
    if (op == OP_END) return sp == 1;
    if (op == OP_CONST) {
      if (pc >= v->ncode || v->code[pc] < 0 || v->code[pc] > 2) return 0;
      pc++, sp++;
    } else if (op == OP_NOT) {
      if (sp < 1) return 0;
    } else if (op == OP_ATLEAST) {
      if (pc + 2 > v->ncode) return 0;
      if (v->code[pc + 1] < 1 || v->code[pc + 1] > sp || v->code[pc] < 0) return 0;
      sp -= v->code[pc + 1] - 1, pc += 2;
    } else if (op == OP_ITEM) {
      int32_t ng, gi;
      if (pc + 3 > v->ncode) return 0;
      if (v->code[pc] < 0 || (uint32_t)v->code[pc] > g->nfields) return 0;
      ng = v->code[pc + 2], pc += 3;
      if (ng < 0) return 0;
      for (gi = 0; gi < ng; gi++) {
        int32_t nb, b;
        if (pc + 2 > v->ncode) return 0;
        nb = v->code[pc + 1], pc += 2;
        if (nb < 0 || (size_t)nb > v->ncode - pc) return 0;
        for (b = 0; b < nb; b++)
          if (v->code[pc + b] < 0 || (uint32_t)v->code[pc + b] >= v->nbits) return 0;
        pc += nb;
        if (pc >= v->ncode) return 0; /* nre */
        nb = v->code[pc++];
        if (nb < 0 || (size_t)nb > v->ncode - pc) return 0;
        for (b = 0; b < nb; b++)
          if (v->code[pc + b] < 0 || (uint32_t)v->code[pc + b] >= g->nrx) return 0;
        pc += nb;
        if (pc >= v->ncode) return 0; /* nref */
        nb = v->code[pc++];
        if (nb < 0 || (size_t)nb > (v->ncode - pc) / 3) return 0;
        for (b = 0; b < nb; b++) {
          const int32_t *r = v->code + pc + 3 * b;
          if (r[0] < 1 || (uint32_t)r[0] > g->nfields || r[1] < 0 || r[1] > 3 || r[2] < 0 || r[2] > 1)
            return 0;
        }
        pc += 3 * nb;
        if (pc >= v->ncode) return 0; /* ncidr */
        nb = v->code[pc++];
        if (nb < 0 || (size_t)nb > (v->ncode - pc) / 3) return 0;
        for (b = 0; b < nb; b++) {
          const int32_t *r = v->code + pc + 3 * b;
          if (r[0] < 0 || r[0] > 0xFFFF || r[1] < 0 || r[1] > 0xFFFF || r[2] < 0 || r[2] > 32)
            return 0;
          if (r[2] < 32 && r[2] > 0 && ((uint32_t)r[0] << 16 | (uint32_t)r[1]) >> r[2] != 0) return 0;
        }
        pc += 3 * nb;
      }
      sp++;
    } else {
      return 0;
    }
    if (sp > MAXSTACK) return 0;
  }
  return 0;
}

static int probe_cmp(const void *a, const void *b) {
  const gprobe *x = a, *y = b;
  return x->field < y->field ? -1 : x->field > y->field;
}

static void build_var(lua_State *L, gate *g, gvar *v, int vt, int keep, size_t *pcap) {
  int top = lua_gettop(L);
  lua_Integer n, i, k;
  uint32_t *cnt;
  /* conds = { {field, value, ...}, ... } */
  n = field_len(L, vt, "conds");
  v->conds = xcalloc(L, (size_t)n, sizeof *v->conds);
  for (i = 1; i <= n; i++) {
    gcond *c = &v->conds[v->ncond];
    lua_Integer m;
    if (lua_geti(L, -1, i) != LUA_TTABLE) luaL_error(L, "fastmatch: sigma gate: bad condition");
    m = luaL_len(L, -1);
    if (m < 1 || m > INT32_MAX / 8) luaL_error(L, "fastmatch: sigma gate: bad condition");
    c->field = geti_u32(L, -1, 1, g->nfields, "condition field");
    if (c->field == 0) luaL_error(L, "fastmatch: sigma gate: bad condition field");
    c->off = xcalloc(L, (size_t)m, sizeof *c->off);
    c->len = xcalloc(L, (size_t)m, sizeof *c->len);
    v->ncond++;
    for (k = 2; k <= m; k++) {
      size_t len;
      const char *s;
      lua_geti(L, -1, k);
      s = lua_tolstring(L, -1, &len);
      if (s == NULL || len > UINT32_MAX) luaL_error(L, "fastmatch: sigma gate: bad condition value");
      c->off[c->nvals] = (uint32_t)pool_add(L, g, s, len, pcap);
      c->len[c->nvals++] = (uint32_t)len;
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  /* nbits */
  lua_getfield(L, vt, "nbits");
  {
    int ok;
    lua_Integer nb = lua_tointegerx(L, -1, &ok);
    if (!ok || nb < 0 || nb > INT32_MAX / 4) luaL_error(L, "fastmatch: sigma gate: bad nbits");
    v->nbits = (uint32_t)nb;
  }
  lua_pop(L, 1);
  /* probes = { {field, set, base}, ... } */
  n = field_len(L, vt, "probes");
  v->probes = xcalloc(L, (size_t)n, sizeof *v->probes);
  for (i = 1; i <= n; i++) {
    gprobe *p = &v->probes[i - 1];
    fm_wcset **ref;
    if (lua_geti(L, -1, i) != LUA_TTABLE) luaL_error(L, "fastmatch: sigma gate: bad probe");
    p->field = geti_u32(L, -1, 1, g->nfields, "probe field");
    p->base = geti_u32(L, -1, 3, v->nbits, "probe base");
    lua_geti(L, -1, 2);
    ref = fm_setref(L, -1);
    if (ref == NULL || *ref == NULL) luaL_error(L, "fastmatch: sigma gate: a probe's set is not a live fm.set");
    if ((uint64_t)p->base + fm_wcset_size(*ref) > v->nbits)
      luaL_error(L, "fastmatch: sigma gate: a probe's set does not fit its bits");
    p->set = ref;
    /* keep the set alive as long as the gate */
    lua_rawseti(L, keep, (int)lua_rawlen(L, keep) + 1);
    lua_pop(L, 1);
  }
  v->nprobe = (uint32_t)n;
  lua_pop(L, 1);
  qsort(v->probes, v->nprobe, sizeof *v->probes, probe_cmp);
  v->pstart = xcalloc(L, (size_t)g->nfields + 2, sizeof *v->pstart);
  for (i = 0; i < (lua_Integer)v->nprobe; i++) v->pstart[v->probes[i].field + 1]++;
  for (i = 1; i <= (lua_Integer)g->nfields + 1; i++) v->pstart[i] += v->pstart[i - 1];
  /* rules: full = {...}, always = {0|1...}, prog = {start...} (1-based
     offsets into code) */
  n = field_len(L, vt, "full");
  v->nrules = (uint32_t)n;
  v->full = xcalloc(L, (size_t)n + 1, sizeof *v->full);
  v->prog = xcalloc(L, (size_t)n + 1, sizeof *v->prog);
  v->always = xcalloc(L, (size_t)n + 1, sizeof *v->always);
  v->rstamp = xcalloc(L, (size_t)n + 1, sizeof *v->rstamp);
  v->rmask = xcalloc(L, (size_t)n + 1, sizeof *v->rmask);
  v->cand = xcalloc(L, (size_t)n + 1, sizeof *v->cand);
  for (i = 1; i <= n; i++) v->full[i - 1] = geti_u32(L, -1, i, 0xFFFF, "full");
  lua_pop(L, 1);
  v->ids = xcalloc(L, (size_t)n + 1, sizeof *v->ids);
  if (field_len(L, vt, "ids") != (lua_Integer)v->nrules)
    luaL_error(L, "fastmatch: sigma gate: full and ids differ in length");
  for (i = 1; i <= n; i++) v->ids[i - 1] = geti_u32(L, -1, i, INT32_MAX, "ids");
  lua_pop(L, 1);
  /* code */
  n = field_len(L, vt, "code");
  v->code = xcalloc(L, (size_t)n + 1, sizeof *v->code);
  for (i = 1; i <= n; i++) {
    int ok;
    lua_Integer x;
    lua_geti(L, -1, i);
    x = lua_tointegerx(L, -1, &ok);
    lua_pop(L, 1);
    if (!ok || x < INT32_MIN || x > INT32_MAX) luaL_error(L, "fastmatch: sigma gate: bad code");
    v->code[i - 1] = (int32_t)x;
  }
  v->ncode = (size_t)n;
  lua_pop(L, 1);
  if (field_len(L, vt, "prog") != (lua_Integer)v->nrules ||
      field_len(L, vt, "always") != (lua_Integer)v->nrules)
    luaL_error(L, "fastmatch: sigma gate: full, prog and always differ in length");
  for (i = 1; i <= (lua_Integer)v->nrules; i++) {
    uint32_t at = geti_u32(L, -2, i, (uint32_t)(v->ncode ? v->ncode : 1), "prog");
    if (at < 1 || !code_ok(v, g, at - 1)) luaL_error(L, "fastmatch: sigma gate: bad program for rule %d", (int)i);
    v->prog[i - 1] = at - 1;
    if (geti_u32(L, -1, i, 1, "always")) v->always[v->nalways++] = (uint32_t)(i - 1);
  }
  lua_pop(L, 2);
  /* trig = { bit, slot, gates, ... } (bit 0-based, slot 1-based) */
  n = field_len(L, vt, "trig");
  if (n % 3 != 0) luaL_error(L, "fastmatch: sigma gate: trig is not triples");
  v->trig_at = xcalloc(L, (size_t)v->nbits + 2, sizeof *v->trig_at);
  v->trig = xcalloc(L, (size_t)(n / 3) * 2 + 1, sizeof *v->trig);
  /* counts in a userdata: an error below leaves it to the collector */
  cnt = lua_newuserdatauv(L, ((size_t)v->nbits + 1) * sizeof *cnt, 0);
  memset(cnt, 0, ((size_t)v->nbits + 1) * sizeof *cnt);
  lua_insert(L, -2); /* cnt trig */
  for (i = 1; i <= n; i += 3) v->trig_at[geti_u32(L, -1, i, v->nbits ? v->nbits - 1 : 0, "trig bit") + 1]++;
  if (v->nbits == 0 && n > 0) luaL_error(L, "fastmatch: sigma gate: trig without bits");
  for (k = 1; k <= (lua_Integer)v->nbits; k++) v->trig_at[k] += v->trig_at[k - 1];
  for (i = 1; i <= n; i += 3) {
    uint32_t bit = geti_u32(L, -1, i, v->nbits - 1, "trig bit");
    uint32_t slot = geti_u32(L, -1, i + 1, v->nrules, "trig slot");
    uint32_t gb = geti_u32(L, -1, i + 2, 0xFFFF, "trig gates");
    uint32_t at = (v->trig_at[bit] + cnt[bit]++) * 2;
    if (slot == 0) luaL_error(L, "fastmatch: sigma gate: bad trig slot");
    v->trig[at] = slot - 1, v->trig[at + 1] = gb;
  }
  for (k = 0; k <= (lua_Integer)v->nbits; k++) v->trig_at[k] *= 2;
  lua_pop(L, 2);
  v->bstamp = xcalloc(L, (size_t)v->nbits + 1, sizeof *v->bstamp);
  lua_settop(L, top);
}

static int gate_gc(lua_State *L) {
  gate_ud *u = luaL_checkudata(L, 1, GATE_MT);
  gate_free(u->g);
  u->g = NULL, u->base.test = NULL;
  return 0;
}

static int gate_testfn(fm_matcher *m, const char *s, size_t n) {
  gate *g = ((gate_ud *)m)->g;
  return g == NULL ? 1 : gate_run(g, s, n, NULL);
}

/* core._sigma_gate{names = {...}, variants = {...}} */
static int l_gate(lua_State *L) {
  gate_ud *u;
  gate *g;
  lua_Integer n, i;
  size_t pcap = 0, hs = 16;
  int keep;
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  u = lua_newuserdatauv(L, sizeof *u, 1); /* 2 */
  u->base.test = NULL, u->base.ops = NULL, u->g = NULL;
  luaL_setmetatable(L, GATE_MT);
  lua_newtable(L); /* 3: the sets, kept */
  lua_pushvalue(L, 3);
  lua_setiuservalue(L, 2, 1);
  keep = 3;
  g = u->g = fm_calloc(1, sizeof *g);
  if (g == NULL) return luaL_error(L, "fastmatch: not enough memory");
  fm_jflat_init(&g->flat);
  g->cache = fm_calloc(CV_SLOTS, sizeof *g->cache); /* NULL: runs without it */
  /* names */
  n = field_len(L, 1, "names"); /* 4 */
  if (n >= INT32_MAX / 8) luaL_error(L, "fastmatch: sigma gate: too many names");
  g->nfields = (uint32_t)n;
  g->name_off = xcalloc(L, (size_t)n + 1, sizeof *g->name_off);
  g->name_len = xcalloc(L, (size_t)n + 1, sizeof *g->name_len);
  while (hs < (size_t)n * 2 + 2) hs *= 2;
  g->htab = xcalloc(L, hs, sizeof *g->htab);
  g->hmask = hs - 1;
  for (i = 1; i <= n; i++) {
    size_t len, h;
    const char *s;
    lua_geti(L, 4, i);
    s = lua_tolstring(L, -1, &len);
    if (s == NULL || len > UINT32_MAX) luaL_error(L, "fastmatch: sigma gate: names must be strings");
    if (field_id(g, s, len) != 0) luaL_error(L, "fastmatch: sigma gate: name '%s' given twice", s);
    g->name_off[i] = (uint32_t)pool_add(L, g, s, len, &pcap);
    g->name_len[i] = (uint32_t)len;
    for (h = name_hash(s, len) & g->hmask; g->htab[h] != 0; h = (h + 1) & g->hmask) {}
    g->htab[h] = (uint32_t)i;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  g->fstamp = xcalloc(L, (size_t)n + 1, sizeof *g->fstamp);
  g->fval = xcalloc(L, (size_t)n + 1, sizeof *g->fval);
  g->flen = xcalloc(L, (size_t)n + 1, sizeof *g->flen);
  /* regexes = { fm.compile objects } */
  n = field_len(L, 1, "regexes"); /* 4 */
  g->rx = xcalloc(L, (size_t)n + 1, sizeof *g->rx);
  for (i = 1; i <= n; i++) {
    fm_matcher *m;
    lua_geti(L, 4, i);
    m = fm_tomatcher(L, -1);
    if (m == NULL || m->test == NULL) luaL_error(L, "fastmatch: sigma gate: regexes[%d] is not a live matcher", (int)i);
    g->rx[g->nrx++] = m;
    lua_rawseti(L, keep, (int)lua_rawlen(L, keep) + 1); /* kept alive */
  }
  lua_pop(L, 1);
  /* variants */
  n = field_len(L, 1, "variants"); /* 4 */
  g->vars = xcalloc(L, (size_t)n, sizeof *g->vars);
  for (i = 1; i <= n; i++) {
    if (lua_geti(L, 4, i) != LUA_TTABLE) luaL_error(L, "fastmatch: sigma gate: bad variant");
    g->nvars++;
    build_var(L, g, &g->vars[i - 1], lua_gettop(L), keep, &pcap);
    lua_pop(L, 1);
  }
  lua_settop(L, 2);
  u->base.test = gate_testfn;
  return 1;
}

static gate *check_gate(lua_State *L) {
  gate_ud *u = luaL_checkudata(L, 1, GATE_MT);
  if (u->g == NULL) luaL_error(L, "fastmatch: sigma gate used after it was garbage-collected");
  return u->g;
}

/* gate:test(line) -> true when some rule may fire on it; then also the
   variant and rule (1-based, 0 when the line is not modelled) that let it
   through, and whether its condition was true (else unknown) */
static int gate_test(lua_State *L) {
  gate *g = check_gate(L);
  size_t n;
  const char *s = luaL_checklstring(L, 2, &n);
  uint32_t why[3] = {0, 0, 0};
  int r = gate_run(g, s, n, why);
  lua_pushboolean(L, r);
  if (!r) return 1;
  lua_pushinteger(L, (lua_Integer)why[0]);
  lua_pushinteger(L, (lua_Integer)why[1]);
  lua_pushboolean(L, why[2] == K_T);
  return 4;
}

static int emit_all(void *ud, uint32_t var, uint32_t slot, int val) {
  gate *g = ud;
  if (g->nout + 3 > g->outcap) {
    size_t cap = g->outcap ? g->outcap * 2 : 96;
    uint32_t *no = fm_realloc(g->out, cap * sizeof *no);
    if (no == NULL) return 1; /* stopped early: reported as -1 below */
    g->out = no, g->outcap = cap;
  }
  g->out[g->nout++] = var, g->out[g->nout++] = slot, g->out[g->nout++] = (uint32_t)val;
  return 0;
}

/* Push what gate_eval (rc) gave emit_all: see gate:match_flat. */
static int match_out(lua_State *L, gate *g, int rc) {
  size_t k;
  lua_Integer nt = 0, nu = 0;
  if (rc != 0) {
    lua_pushnil(L);
    return 1;
  }
  for (k = 0; k < g->nout; k += 3) {
    const gvar *v = &g->vars[g->out[k]];
    lua_Integer id = (lua_Integer)v->ids[g->out[k + 1]];
    if (g->out[k + 2] == K_T) {
      lua_pushinteger(L, id);
      lua_rawseti(L, 3, (int)++nt);
    } else {
      lua_pushinteger(L, (lua_Integer)g->out[k] + 1);
      lua_rawseti(L, 4, (int)(++nu * 2 - 1));
      lua_pushinteger(L, id);
      lua_rawseti(L, 4, (int)(nu * 2));
    }
  }
  lua_pushinteger(L, nt);
  lua_pushinteger(L, nu);
  return 2;
}

/* gate:match_flat(f, sure, unsure) -> nsure, nunsure: f is a flat event
   (name -> text, as sigma/event.lua makes it); the ids of the rules whose
   condition holds go to sure[1 .. nsure] (a rule may repeat: several
   variants), variant and id pairs of those the gate cannot decide to
   unsure[1 .. 2 * nunsure].  nil when f holds a value that is not a string
   (a list: the engine's own path). */
static int gate_match_flat(lua_State *L) {
  gate *g = check_gate(L);
  size_t nf = 0;
  luaL_checktype(L, 2, LUA_TTABLE);
  luaL_checktype(L, 3, LUA_TTABLE);
  luaL_checktype(L, 4, LUA_TTABLE);
  lua_settop(L, 4);
  lua_pushnil(L);
  while (lua_next(L, 2)) {
    if (lua_type(L, -1) != LUA_TSTRING || lua_type(L, -2) != LUA_TSTRING) {
      lua_pushnil(L);
      return 1;
    }
    if (nf == g->mfcap) {
      size_t cap = g->mfcap ? g->mfcap * 2 : 64;
      fm_jfield *nm = fm_realloc(g->mf, cap * sizeof *nm);
      if (nm == NULL) return luaL_error(L, "fastmatch: not enough memory");
      g->mf = nm, g->mfcap = cap;
    }
    /* the strings stay alive: f holds them, and is not changed meanwhile */
    g->mf[nf].name = lua_tolstring(L, -2, &g->mf[nf].nlen);
    g->mf[nf].val = lua_tolstring(L, -1, &g->mf[nf].vlen);
    nf++;
    lua_pop(L, 1);
  }
  g->nout = 0;
  return match_out(L, g, gate_eval(g, g->mf, nf, emit_all, g));
}

/* ---------------------------------------------------------------- events
   as Lua tables: sigma/event.lua's flatten() walked in C, in the order
   pairs() gives (lua_next), so that "the first writer wins" picks the same
   value.  What it does not model (a list value, a number that is not an
   integer below 2^53, a table with a metatable, deep nesting) makes it
   give up: the engine then flattens in Lua. */
typedef struct walk {
  lua_State *L;
  gate *g;
  int anchor; /* a table keeping composed names and number texts alive */
  int nanchor;
  size_t nf;
} walk;

/* W_MAXNAME: sigma/event.lua's MAXNAME; past it Lua spills the values into
   a list (keywords still see them), which the walk leaves to Lua. */
enum { W_OK = 0, W_GIVEUP = 1, W_MAXDEPTH = 24, W_MAXNAME = 512 };

static const char *anchor_top(walk *w, size_t *n) {
  const char *s = lua_tolstring(w->L, -1, n);
  lua_rawseti(w->L, w->anchor, ++w->nanchor);
  return s;
}

/* mf's names: open addressing over name bytes, emptied per event */
static int mf_has(walk *w, const char *s, size_t n, size_t *slot) {
  gate *g = w->g;
  size_t i;
  for (i = name_hash(s, n) & g->mmask;; i = (i + 1) & g->mmask) {
    uint32_t at = g->mslot[i];
    if (at == 0) {
      *slot = i;
      return 0;
    }
    if (g->mf[at - 1].nlen == n && memcmp(g->mf[at - 1].name, s, n) == 0) return 1;
  }
}

static int mf_add(walk *w, const char *name, size_t nlen, const char *val, size_t vlen) {
  gate *g = w->g;
  size_t slot;
  if (w->nf * 2 + 2 > g->mmask) { /* grow the table and rehash */
    size_t cap = (g->mmask + 1) * 2, k;
    uint32_t *ns = fm_calloc(cap, sizeof *ns);
    if (ns == NULL) return W_GIVEUP;
    fm_free(g->mslot);
    g->mslot = ns, g->mmask = cap - 1;
    for (k = 0; k < w->nf; k++) {
      size_t i = name_hash(g->mf[k].name, g->mf[k].nlen) & g->mmask;
      while (g->mslot[i] != 0) i = (i + 1) & g->mmask;
      g->mslot[i] = (uint32_t)k + 1;
    }
  }
  if (mf_has(w, name, nlen, &slot)) return W_OK; /* the first writer won */
  if (w->nf == g->mfcap) {
    size_t cap = g->mfcap ? g->mfcap * 2 : 64;
    fm_jfield *nm = fm_realloc(g->mf, cap * sizeof *nm);
    if (nm == NULL) return W_GIVEUP;
    g->mf = nm, g->mfcap = cap;
  }
  g->mf[w->nf].name = name, g->mf[w->nf].nlen = nlen;
  g->mf[w->nf].val = val, g->mf[w->nf].vlen = vlen;
  g->mslot[slot] = (uint32_t)++w->nf;
  return W_OK;
}

/* put(f, name, text(value at the top)) */
static int w_put(walk *w, const char *name, size_t nlen) {
  lua_State *L = w->L;
  const char *v;
  size_t vn;
  char buf[32];
  switch (lua_type(L, -1)) {
    case LUA_TSTRING: v = lua_tolstring(L, -1, &vn); break;
    case LUA_TBOOLEAN:
      v = lua_toboolean(L, -1) ? "true" : "false", vn = strlen(v);
      break;
    case LUA_TNUMBER: {
      lua_Number d = lua_tonumber(L, -1);
      if (!(d > -9007199254740992.0 && d < 9007199254740992.0) || d != (lua_Number)(long long)d)
        return W_GIVEUP; /* tostring()'s text: the engine's */
      snprintf(buf, sizeof buf, "%lld", (long long)d);
      lua_pushstring(L, buf);
      v = anchor_top(w, &vn);
      break;
    }
    default: return W_OK; /* nil, null, userdata: absent */
  }
  if (mf_add(w, name, nlen, v, vn) != W_OK) return W_GIVEUP;
  if (memchr(name, ' ', nlen) != NULL) { /* the name without its spaces too */
    luaL_Buffer b;
    size_t k, dn;
    const char *d;
    luaL_buffinit(L, &b);
    for (k = 0; k < nlen; k++)
      if (name[k] != ' ') luaL_addchar(&b, name[k]);
    luaL_pushresult(&b);
    d = anchor_top(w, &dn);
    if (mf_add(w, d, dn, v, vn) != W_OK) return W_GIVEUP;
  }
  return W_OK;
}

/* prefix .. key (.. sep), anchored */
static const char *w_name(walk *w, const char *prefix, size_t pn, int key, const char *sep,
                          size_t *n) {
  lua_State *L = w->L;
  lua_pushlstring(L, prefix, pn);
  lua_pushvalue(L, key);
  lua_pushstring(L, sep);
  lua_concat(L, 3);
  return anchor_top(w, n);
}

static int w_plain(lua_State *L, int idx) { /* a table without a metatable */
  if (!lua_getmetatable(L, idx)) return 1;
  lua_pop(L, 1);
  return 0;
}

/* put_flat(f, t at idx, prefix) */
static int w_flat(walk *w, int idx, const char *prefix, size_t pn, int depth) {
  lua_State *L = w->L;
  if (depth > W_MAXDEPTH || !w_plain(L, idx) || !lua_checkstack(L, 8)) return W_GIVEUP;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    if (lua_type(L, -2) == LUA_TSTRING) {
      size_t nn;
      const char *name;
      int rc = W_OK;
      if (pn + lua_rawlen(L, -2) > W_MAXNAME) return W_GIVEUP;
      name = w_name(w, prefix, pn, lua_gettop(L) - 1, "", &nn);
      if (lua_type(L, -1) != LUA_TTABLE) {
        rc = w_put(w, name, nn);
      } else {
        int t = lua_gettop(L);
        if (lua_rawgeti(L, t, 1) != LUA_TNIL) rc = W_GIVEUP; /* a list */
        lua_pop(L, 1);
        if (rc == W_OK && !w_plain(L, t)) rc = W_GIVEUP;
        if (rc == W_OK) {
          lua_pushnil(L);
          if (lua_next(L, t)) { /* not empty */
            lua_pop(L, 2);
            name = w_name(w, prefix, pn, t - 1, ".", &nn);
            rc = w_flat(w, t, name, nn, depth + 1);
          }
        }
      }
      if (rc != W_OK) return rc;
    }
    lua_pop(L, 1);
  }
  return W_OK;
}

/* put_data(f, t at idx) */
static int w_data(walk *w, int idx, int depth) {
  lua_State *L = w->L;
  if (depth > W_MAXDEPTH || !w_plain(L, idx) || !lua_checkstack(L, 8)) return W_GIVEUP;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    size_t kn;
    const char *k;
    int rc = W_OK;
    if (lua_type(L, -2) == LUA_TSTRING && (k = lua_tolstring(L, -2, &kn), kn == 0 || k[0] != '#')) {
      if (lua_type(L, -1) != LUA_TTABLE) {
        rc = w_put(w, k, kn);
      } else {
        int t = lua_gettop(L);
        if (!w_plain(L, t)) {
          rc = W_GIVEUP;
        } else if (lua_getfield(L, t, "#text") != LUA_TNIL) {
          rc = lua_type(L, -1) == LUA_TTABLE ? W_OK : w_put(w, k, kn);
          lua_pop(L, 1);
        } else {
          lua_pop(L, 1);
          if (lua_rawgeti(L, t, 1) != LUA_TNIL) rc = W_GIVEUP; /* <Data> elements */
          lua_pop(L, 1);
          if (rc == W_OK) rc = w_data(w, t, depth + 1);
        }
      }
    }
    if (rc != W_OK) return rc;
    lua_pop(L, 1);
  }
  return W_OK;
}

static int w_sys(walk *w, int idx, const char *prefix, size_t pn, int depth);

/* put_system's body for one entry: the value at the top, under name */
static int w_sys_entry(walk *w, const char *name, size_t nn, int depth) {
  lua_State *L = w->L;
  int t = lua_gettop(L);
  if (lua_type(L, t) != LUA_TTABLE) return w_put(w, name, nn);
  if (depth > W_MAXDEPTH || !w_plain(L, t) || !lua_checkstack(L, 8)) return W_GIVEUP;
  lua_pushnil(L);
  while (lua_next(L, t)) {
    int rc = W_OK;
    if (lua_type(L, -2) == LUA_TSTRING) {
      size_t cn;
      const char *ck = lua_tolstring(L, -2, &cn);
      if (cn == 11 && memcmp(ck, "#attributes", 11) == 0) {
        if (lua_type(L, -1) == LUA_TTABLE) {
          int a = lua_gettop(L);
          if (!w_plain(L, a)) return W_GIVEUP;
          lua_pushnil(L);
          while (lua_next(L, a)) {
            size_t an;
            const char *aname;
            if (lua_type(L, -2) != LUA_TSTRING) return W_GIVEUP; /* name .. number */
            if (nn + lua_rawlen(L, -2) >= W_MAXNAME) return W_GIVEUP;
            lua_pushlstring(L, name, nn);
            lua_pushliteral(L, "_");
            lua_pushvalue(L, -4);
            lua_concat(L, 3);
            aname = anchor_top(w, &an);
            if (lua_type(L, -1) != LUA_TTABLE && w_put(w, aname, an) != W_OK) return W_GIVEUP;
            lua_pop(L, 1);
          }
        }
      } else if (cn == 5 && memcmp(ck, "#text", 5) == 0) {
        if (lua_type(L, -1) != LUA_TTABLE) rc = w_put(w, name, nn);
      } else {
        size_t sn;
        const char *sub;
        if (nn + cn >= W_MAXNAME) return W_GIVEUP;
        lua_pushlstring(L, name, nn);
        lua_pushliteral(L, "_");
        lua_pushvalue(L, -4);
        lua_concat(L, 3);
        sub = anchor_top(w, &sn);
        rc = w_sys_entry(w, sub, sn, depth + 1);
      }
    }
    if (rc != W_OK) return rc;
    lua_pop(L, 1);
  }
  (void)w_sys;
  return W_OK;
}

/* put_system(f, t at idx, "") */
static int w_sys(walk *w, int idx, const char *prefix, size_t pn, int depth) {
  lua_State *L = w->L;
  (void)prefix, (void)pn;
  if (!w_plain(L, idx) || !lua_checkstack(L, 8)) return W_GIVEUP;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    if (lua_type(L, -2) == LUA_TSTRING) {
      size_t kn;
      const char *k = lua_tolstring(L, -2, &kn);
      if (kn > W_MAXNAME || w_sys_entry(w, k, kn, depth + 1) != W_OK) return W_GIVEUP;
    }
    lua_pop(L, 1);
  }
  return W_OK;
}

/* flatten(event at idx) into mf */
static int w_event(walk *w, int ev) {
  lua_State *L = w->L;
  int E;
  if (!w_plain(L, ev) || !lua_checkstack(L, 16)) return W_GIVEUP;
  lua_getfield(L, ev, "Event");
  E = lua_gettop(L);
  if (lua_type(L, E) != LUA_TTABLE) {
    lua_pop(L, 1);
    return w_flat(w, ev, "", 0, 0);
  }
  if (!w_plain(L, E)) return W_GIVEUP;
  lua_pushnil(L);
  while (lua_next(L, ev)) {
    if (lua_type(L, -2) == LUA_TSTRING) {
      size_t kn;
      const char *k = lua_tolstring(L, -2, &kn);
      int rc = W_OK;
      if (!(kn == 5 && memcmp(k, "Event", 5) == 0)) {
        if (lua_type(L, -1) == LUA_TTABLE) {
          size_t nn;
          const char *name = w_name(w, "", 0, lua_gettop(L) - 1, ".", &nn);
          rc = w_flat(w, lua_gettop(L), name, nn, 1);
        } else {
          rc = w_put(w, k, kn);
        }
      }
      if (rc != W_OK) return rc;
    }
    lua_pop(L, 1);
  }
  if (lua_getfield(L, E, "EventData") == LUA_TTABLE && w_data(w, lua_gettop(L), 0) != W_OK)
    return W_GIVEUP;
  lua_pop(L, 1);
  if (lua_getfield(L, E, "UserData") == LUA_TTABLE) {
    int u = lua_gettop(L);
    if (!w_plain(L, u)) return W_GIVEUP;
    lua_pushnil(L);
    while (lua_next(L, u)) {
      if (lua_type(L, -1) == LUA_TTABLE && w_data(w, lua_gettop(L), 0) != W_OK) return W_GIVEUP;
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  if (lua_getfield(L, E, "System") == LUA_TTABLE && w_sys(w, lua_gettop(L), "", 0, 0) != W_OK)
    return W_GIVEUP;
  lua_pop(L, 2);
  return W_OK;
}

/* gate:match_event(event, sure, unsure, anchor) -> as match_flat, for an
   event table (evtx_dump's shape or flat), flattened here; nil when the
   event holds what the C walk does not model (the engine flattens it). */
static int gate_match_event(lua_State *L) {
  gate *g = check_gate(L);
  walk w;
  luaL_checktype(L, 2, LUA_TTABLE);
  luaL_checktype(L, 3, LUA_TTABLE);
  luaL_checktype(L, 4, LUA_TTABLE);
  luaL_checktype(L, 5, LUA_TTABLE);
  lua_settop(L, 5);
  if (g->mslot == NULL) {
    g->mslot = fm_calloc(128, sizeof *g->mslot);
    if (g->mslot == NULL) return luaL_error(L, "fastmatch: not enough memory");
    g->mmask = 127;
  }
  memset(g->mslot, 0, (g->mmask + 1) * sizeof *g->mslot);
  w.L = L, w.g = g, w.anchor = 5, w.nanchor = 0, w.nf = 0;
  if (w_event(&w, 2) != W_OK) {
    lua_settop(L, 0);
    lua_pushnil(L);
    return 1;
  }
  lua_settop(L, 4);
  g->nout = 0;
  return match_out(L, g, gate_eval(g, g->mf, w.nf, emit_all, g));
}

/* gate:stats() -> {lines =, passed =, unmodelled =} since it was made */
static int gate_stats(lua_State *L) {
  gate *g = check_gate(L);
  lua_createtable(L, 0, 3);
  lua_pushnumber(L, g->lines);
  lua_setfield(L, -2, "lines");
  lua_pushnumber(L, g->passed);
  lua_setfield(L, -2, "passed");
  lua_pushnumber(L, g->unmodelled);
  lua_setfield(L, -2, "unmodelled");
  return 1;
}

/* core._jsonflat(line) -> {name = value}, or nil, "other" | "bad" */
static int l_jsonflat(lua_State *L) {
  size_t n, k;
  const char *s = luaL_checklstring(L, 1, &n);
  fm_jflat j;
  int rc;
  fm_jflat_init(&j);
  rc = fm_jflat_parse(&j, s, n);
  if (rc != FM_JF_OK) {
    fm_jflat_free(&j);
    if (rc == FM_JF_NOMEM) return luaL_error(L, "fastmatch: not enough memory");
    lua_pushnil(L);
    lua_pushstring(L, rc == FM_JF_OTHER ? "other" : "bad");
    return 2;
  }
  lua_createtable(L, 0, (int)(j.n < INT_MAX ? j.n : 0));
  for (k = 0; k < j.n; k++) {
    lua_pushlstring(L, j.f[k].name, j.f[k].nlen);
    lua_pushlstring(L, j.f[k].val, j.f[k].vlen);
    lua_rawset(L, -3);
  }
  fm_jflat_free(&j);
  return 1;
}

static const luaL_Reg gate_methods[] = {
    {"test", gate_test}, {"stats", gate_stats}, {"match_flat", gate_match_flat},
    {"match_event", gate_match_event}, {NULL, NULL}};
static const luaL_Reg gate_meta[] = {{"__gc", gate_gc}, {NULL, NULL}};
static const luaL_Reg gate_funcs[] = {{"_sigma_gate", l_gate}, {"_jsonflat", l_jsonflat}, {NULL, NULL}};

void fm_open_gate(lua_State *L) {
  fm_newclass(L, GATE_MT, gate_methods, gate_meta, 1);
  lua_pop(L, 1);
  fm_setfuncs(L, gate_funcs);
}

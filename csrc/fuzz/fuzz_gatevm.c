/*
** fuzz_gatevm.c -- the gate's VM (gatevm.c) alone: random programs over
** random field sets, every rule's three-valued (Kleene) result checked
** against a plain evaluator written here from gatevm.h's description.
**
** The input is read as a program to build: up to 6 field names; up to 3
** variants, each with a Channel-like condition or none, probes (fm.set of
** Sigma wildcards over a small alphabet, for a field or for every value:
** keywords), and up to 6 rules, each evaluated always or behind gates that
** hit bits open, its condition a random tree (items of value groups with
** hit bits, null/exists/absent, regexes, field references, IPv4 networks,
** other/cmp/cidr6 flags; not, at-least, constants) compiled to postfix
** code.  Regexes are three small matchers of this file (one errs on 'z';
** one cannot be copied for another thread).  Then up to 4 events: each
** field present or not with a value chosen to meet the patterns, addresses,
** ':' and non-ASCII bytes.
**
** Checked, per event, for a run of the program's own (thread 0) and a
** thread run (its own copies of sets and regexes): the rules emitted (with
** their variant and value) are exactly the rules the plain evaluator finds
** not false among those the VM evaluates (always, or all gates open); an
** unknown one has a reason, a true one none.  A byte of the input may also
** spoil one code word: fm_gprog_finish must then refuse the program, or
** the program must run (ASan watches) without a differential check.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fastmatch.h"
#include "gatevm.h"

#define CHECK(c)                                                           \
  do {                                                                     \
    if (!(c)) {                                                            \
      fprintf(stderr, "fuzz_gatevm: %s:%d: %s\n", __FILE__, __LINE__, #c); \
      __builtin_trap();                                                    \
    }                                                                      \
  } while (0)

enum { MAXF = 6, MAXV = 3, MAXR = 6, MAXP = 4, MAXPAT = 5, MAXCODE = 2048, MAXT = 64, MAXG = 3 };

typedef struct rd {
  const uint8_t *p, *e;
} rd;
static unsigned byte(rd *r) { return r->p < r->e ? *r->p++ : 0; }
static unsigned upto(rd *r, unsigned n) { return n ? byte(r) % n : 0; }

/* ---------------------------------------------------------------- regexes */
typedef struct rx {
  fm_matcher m;
  int kind; /* 0: contains 'a' (any case); 1: odd length; 2: contains 'b', errs on 'z' */
} rx;

static int rx_answer(int kind, const char *s, size_t n) {
  size_t k;
  if (kind == 1) return (int)(n & 1);
  for (k = 0; k < n; k++) {
    if (kind == 2 && s[k] == 'z') return FM_EOTHER;
    if ((kind == 0 && (s[k] == 'a' || s[k] == 'A')) || (kind == 2 && s[k] == 'b')) return 1;
  }
  return 0;
}
static int rx_test(fm_matcher *m, const char *s, size_t n) { return rx_answer(((rx *)m)->kind, s, n); }
static fm_matcher *rx_copy(fm_matcher *m) { return m; } /* reentrant */
static void rx_drop(fm_matcher *m, fm_matcher *c) { (void)m, (void)c; }
static const fm_matcher_ops copyable = {NULL, rx_copy, rx_drop};
static const fm_matcher_ops single = {NULL, NULL, NULL};
static rx regexes[3] = {{{rx_test, &copyable}, 0}, {{rx_test, &copyable}, 1}, {{rx_test, &single}, 2}};

/* ---------------------------------------------------------------- the program */
typedef struct pat {
  char s[8];
  size_t n;
  int cased;
  fm_wcplan *plan; /* the reference's own */
} pat;

typedef struct probe {
  uint32_t field, base, npat;
  pat pats[MAXPAT];
} probe;

typedef struct var {
  uint32_t cond_field; /* 0: none */
  char cond_val[2][4];
  size_t cond_len[2];
  uint32_t nprobe, nbits, nrules;
  probe probes[MAXP];
  fm_wcset *sets[MAXP];
  int always[MAXR];
  uint32_t full[MAXR];
  uint32_t trig[MAXT][3]; /* bit, slot, gates */
  uint32_t ntrig;
  int32_t code[MAXCODE];
  uint32_t ncode, prog[MAXR];
} var;

typedef struct prog_in {
  uint32_t nf;
  uint32_t nvars;
  var vars[MAXV];
} prog_in;

/* Sigma wildcards over "abAB" with * and ? */
static void gen_pat(rd *r, pat *p) {
  static const char A[] = "abAB*?a*";
  size_t k;
  p->n = 1 + upto(r, 4);
  for (k = 0; k < p->n; k++) p->s[k] = A[byte(r) & 7];
  p->cased = byte(r) & 1;
}

/* ---------------------------------------------------------------- conditions */
typedef struct ctx {
  rd *r;
  var *v;
  uint32_t nf;
  int32_t *code;
  uint32_t n;
  int over;
} ctx;

static void emit(ctx *c, int32_t x) {
  if (c->n < MAXCODE) c->code[c->n++] = x;
  else c->over = 1;
}

/* bits of the probes of a field (0: the keyword probes) */
static uint32_t pick_bit(ctx *c, uint32_t field, int *ok) {
  uint32_t k, n = 0, which;
  for (k = 0; k < c->v->nprobe; k++)
    if (c->v->probes[k].field == field) n += c->v->probes[k].npat;
  *ok = n > 0;
  if (!n) return 0;
  which = upto(c->r, n);
  for (k = 0; k < c->v->nprobe; k++)
    if (c->v->probes[k].field == field) {
      if (which < c->v->probes[k].npat) return c->v->probes[k].base + which;
      which -= c->v->probes[k].npat;
    }
  return 0;
}

static void gen_item(ctx *c) {
  rd *r = c->r;
  uint32_t field = upto(r, c->nf + 1), ng = 1 + upto(r, MAXG), g;
  emit(c, FM_OP_ITEM), emit(c, (int32_t)field), emit(c, (int32_t)(byte(r) & 1)), emit(c, (int32_t)ng);
  for (g = 0; g < ng; g++) {
    unsigned f = byte(r), nb = upto(r, 3), nre = upto(r, 3), nref = upto(r, 2), ncidr = upto(r, 3), k;
    int32_t flags = 0;
    if (f & 1) flags |= FM_G_NULL;
    if (f & 2) flags |= FM_G_EXISTS;
    if (f & 4) flags |= FM_G_ABSENT;
    if ((f & 0x18) == 0x18) flags |= FM_G_OTHER;
    if ((f & 0x60) == 0x60) flags |= FM_G_CMP;
    if ((f & 0x90) == 0x90) flags |= FM_G_CIDR6;
    if ((f & 0xC0) == 0xC0) flags |= FM_G_GUARDS;
    if (f < 0x40) flags &= ~(FM_G_NULL | FM_G_EXISTS | FM_G_ABSENT); /* most groups: values */
    emit(c, flags), emit(c, (int32_t)nb);
    for (k = 0; k < nb; k++) {
      int ok;
      uint32_t b = pick_bit(c, field, &ok);
      if (!ok) b = c->v->nbits ? upto(r, c->v->nbits) : 0;
      if (!c->v->nbits) { /* no bits at all: drop it */
        c->code[c->n - 1]--;
        continue;
      }
      emit(c, (int32_t)b);
    }
    emit(c, (int32_t)nre);
    for (k = 0; k < nre; k++) emit(c, (int32_t)upto(r, 3));
    if (c->nf == 0) nref = 0;
    emit(c, (int32_t)nref);
    for (k = 0; k < nref; k++)
      emit(c, (int32_t)(1 + upto(r, c->nf))), emit(c, (int32_t)upto(r, FM_REF_N)), emit(c, (int32_t)(byte(r) & 1));
    emit(c, (int32_t)ncidr);
    for (k = 0; k < ncidr; k++) {
      static const int BITS[] = {0, 8, 16, 24, 32, 12};
      int bits = BITS[upto(r, 6)];
      uint32_t addr = (uint32_t)(10u << 24 | (byte(r) % 3) << 16 | (byte(r) % 3) << 8 | (byte(r) % 3));
      uint32_t net = bits == 0 ? 0 : addr >> (32 - bits);
      emit(c, (int32_t)(net >> 16)), emit(c, (int32_t)(net & 0xFFFF)), emit(c, bits);
    }
  }
}

/* a condition: its code, postfix; returns the stack depth it needs */
static int gen_cond(ctx *c, int depth) {
  unsigned k = byte(c->r) % 8;
  if (depth >= 4 || k < 4) {
    gen_item(c);
    return 1;
  }
  if (k == 4) {
    int d = gen_cond(c, depth + 1);
    emit(c, FM_OP_NOT);
    return d;
  }
  if (k == 5) {
    emit(c, FM_OP_CONST), emit(c, (int32_t)upto(c->r, 3));
    return 1;
  } else {
    uint32_t n = 1 + upto(c->r, 3), i, need;
    int d = 0;
    for (i = 0; i < n; i++) {
      int sd = gen_cond(c, depth + 1);
      if ((int)i + sd > d) d = (int)i + sd;
    }
    need = upto(c->r, n + 1);
    emit(c, FM_OP_ATLEAST), emit(c, (int32_t)need), emit(c, (int32_t)n);
    return d;
  }
}

/* ---------------------------------------------------------------- the plain evaluator */
typedef struct event {
  uint32_t n;          /* fields (known names first, then unknown ones) */
  char name[MAXF + 2][4];
  char val[MAXF + 2][16];
  size_t nlen[MAXF + 2], vlen[MAXF + 2];
  int of_id[MAXF + 2]; /* its field id, 0: a name the program does not know */
} event;

static const char *value_of(const event *e, uint32_t id, size_t *n) {
  uint32_t k;
  for (k = 0; k < e->n; k++)
    if (e->of_id[k] == (int)id) {
      *n = e->vlen[k];
      return e->val[k];
    }
  return NULL;
}

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

static int ieq(const char *a, const char *b, size_t n, int cased) {
  size_t k;
  for (k = 0; k < n; k++)
    if (cased ? a[k] != b[k] : lower((unsigned char)a[k]) != lower((unsigned char)b[k])) return 0;
  return 1;
}

/* fieldref: K value */
static int ref_value(const char *s, size_t n, const char *o, size_t m, int how, int cased) {
  int res = 0, ascii = 1;
  size_t k;
  for (k = 0; k < m; k++)
    if ((unsigned char)o[k] >= 0x80) ascii = 0;
  if (how == FM_REF_equals) res = n == m && ieq(s, o, m, cased);
  else if (how == FM_REF_startswith) res = m <= n && ieq(s, o, m, cased);
  else if (how == FM_REF_endswith) res = m <= n && ieq(s + n - m, o, m, cased);
  else
    for (k = 0; k + m <= n && !res; k++) res = ieq(s + k, o, m, cased);
  if (res) return FM_K_T;
  return cased || ascii ? FM_K_F : FM_K_U;
}

static int parse_ipv4(const char *s, size_t n, uint32_t *out) {
  uint32_t parts[4];
  size_t i = 0;
  int p;
  for (p = 0; p < 4; p++) {
    size_t start = i;
    uint32_t v = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9') {
      v = v * 10 + (uint32_t)(s[i++] - '0');
      if (v > 255) v = 256; /* too big, however many digits follow */
    }
    if (i == start || v > 255) return 0;
    parts[p] = v;
    if (p < 3) {
      if (i >= n || s[i] != '.') return 0;
      i++;
    }
  }
  if (i != n) return 0;
  *out = parts[0] << 24 | parts[1] << 16 | parts[2] << 8 | parts[3];
  return 1;
}

static int k_or(int a, int b) { return a == FM_K_T || b == FM_K_T ? FM_K_T : a == FM_K_U || b == FM_K_U ? FM_K_U : FM_K_F; }
static int k_and(int a, int b) { return a == FM_K_F || b == FM_K_F ? FM_K_F : a == FM_K_U || b == FM_K_U ? FM_K_U : FM_K_T; }

/* the value of a group as gatevm.h describes it: the OR of its alternatives */
static int plain_group(const int32_t **pcp, uint32_t field, const event *e, const int *hitbits, int thread) {
  const int32_t *pc = *pcp;
  int flags = *pc++, nb = *pc++, b, hit = 0, val = FM_K_F, nre, nref, ncidr;
  size_t n = 0;
  const char *s = field ? value_of(e, field, &n) : NULL;
  for (b = 0; b < nb; b++) hit |= hitbits[pc[b]];
  pc += nb;
  if (hit && !(flags & FM_G_GUARDS)) val = FM_K_T;
  if (field == 0) {
    if (flags & (FM_G_NULL | FM_G_EXISTS | FM_G_ABSENT)) val = k_or(val, FM_K_U);
  } else {
    if ((flags & FM_G_NULL) && (s == NULL || n == 0)) val = FM_K_T;
    if ((flags & FM_G_EXISTS) && s != NULL) val = FM_K_T;
    if ((flags & FM_G_ABSENT) && s == NULL) val = FM_K_T;
  }
  nre = *pc++;
  for (b = 0; b < nre; b++)
    if (s != NULL && (hit || !(flags & FM_G_GUARDS))) {
      int kind = pc[b], t = thread && kind == 2 ? -1 : rx_answer(kind, s, n);
      val = k_or(val, t > 0 ? FM_K_T : t < 0 ? FM_K_U : FM_K_F);
    }
  pc += nre;
  nref = *pc++;
  for (b = 0; b < nref; b++) {
    size_t m;
    const char *o = value_of(e, (uint32_t)pc[3 * b], &m);
    if (s != NULL && o != NULL) val = k_or(val, ref_value(s, n, o, m, pc[3 * b + 1], pc[3 * b + 2]));
  }
  pc += 3 * nref;
  ncidr = *pc++;
  if (s != NULL) {
    uint32_t a;
    for (b = 0; b < ncidr; b++) {
      uint32_t net = (uint32_t)pc[3 * b] << 16 | (uint32_t)pc[3 * b + 1];
      int bits = pc[3 * b + 2];
      if (parse_ipv4(s, n, &a) && (bits == 0 || a >> (32 - bits) == net)) val = FM_K_T;
    }
    if ((flags & FM_G_CIDR6) && memchr(s, ':', n) != NULL) val = k_or(val, FM_K_U);
  }
  pc += 3 * ncidr;
  if (flags & (FM_G_OTHER | FM_G_CMP)) val = k_or(val, FM_K_U);
  *pcp = pc;
  return val;
}

static int plain_eval(const int32_t *code, const event *e, const int *hitbits, int thread) {
  int st[64], sp = 0;
  const int32_t *pc = code;
  for (;;) {
    int32_t op = *pc++;
    if (op == FM_OP_END) return st[0];
    if (op == FM_OP_CONST) {
      st[sp++] = *pc++;
    } else if (op == FM_OP_NOT) {
      st[sp - 1] = st[sp - 1] == FM_K_U ? FM_K_U : st[sp - 1] == FM_K_T ? FM_K_F : FM_K_T;
    } else if (op == FM_OP_ATLEAST) {
      /* at least need of n: an OR over the ways to choose them (a plain
         reading; n <= 3) */
      int need = *pc++, n = *pc++, best = FM_K_F, mask, k;
      for (mask = 0; mask < 1 << n; mask++) {
        int cnt = 0, v = FM_K_T;
        for (k = 0; k < n; k++)
          if (mask >> k & 1) cnt++, v = k_and(v, st[sp - n + k]);
        if (cnt >= need) best = k_or(best, v);
      }
      sp -= n;
      st[sp++] = best;
    } else {
      uint32_t field = (uint32_t)*pc++;
      int all = *pc++, ng = *pc++, g, res = all ? FM_K_T : FM_K_F;
      for (g = 0; g < ng; g++) {
        int v = plain_group(&pc, field, e, hitbits, thread);
        res = all ? k_and(res, v) : k_or(res, v);
      }
      st[sp++] = res;
    }
  }
}

/* ---------------------------------------------------------------- emitted rules */
typedef struct got {
  uint32_t n, v[MAXV * MAXR * 2][4]; /* var, slot, val, why */
} got;

static int collect(void *ud, uint32_t var, uint32_t slot, int val, unsigned why) {
  got *g = ud;
  CHECK(g->n < MAXV * MAXR * 2);
  g->v[g->n][0] = var, g->v[g->n][1] = slot, g->v[g->n][2] = (uint32_t)val, g->v[g->n][3] = why;
  g->n++;
  return 0;
}

static int cmp4(const void *a, const void *b) {
  const uint32_t *x = a, *y = b;
  int k;
  for (k = 0; k < 3; k++)
    if (x[k] != y[k]) return x[k] < y[k] ? -1 : 1;
  return 0;
}

static void expect(const prog_in *in, const event *e, int thread, got *want) {
  uint32_t vi, k, i;
  want->n = 0;
  for (vi = 0; vi < in->nvars; vi++) {
    const var *v = &in->vars[vi];
    int hitbits[MAXP * MAXPAT + 1] = {0};
    uint32_t opened[MAXR] = {0};
    if (v->cond_field) {
      size_t n;
      const char *s = value_of(e, v->cond_field, &n);
      int any = 0;
      for (k = 0; k < 2 && s; k++) any |= n == v->cond_len[k] && ieq(s, v->cond_val[k], n, 0);
      if (!any) continue;
    }
    for (k = 0; k < v->nprobe; k++) {
      const probe *p = &v->probes[k];
      for (i = 0; i < p->npat; i++) {
        uint32_t f;
        for (f = 0; f < e->n; f++)
          if ((p->field == 0 || e->of_id[f] == (int)p->field) && fm_wc_match(p->pats[i].plan, e->val[f], e->vlen[f]))
            hitbits[p->base + i] = 1;
      }
    }
    for (k = 0; k < v->ntrig; k++)
      if (hitbits[v->trig[k][0]]) opened[v->trig[k][1]] |= v->trig[k][2];
    for (k = 0; k < v->nrules; k++) {
      int val;
      if (!v->always[k] && (v->full[k] == 0 || opened[k] != v->full[k])) continue;
      val = plain_eval(v->code + v->prog[k], e, hitbits, thread);
      if (val != FM_K_F) {
        want->v[want->n][0] = vi, want->v[want->n][1] = k, want->v[want->n][2] = (uint32_t)val;
        want->n++;
      }
    }
  }
}

static void check_run(const fm_gprog *p, fm_grun *r, const prog_in *in, const event *e, const fm_evfield *fs,
                      int thread, int differential) {
  got have, want;
  uint32_t k;
  have.n = 0;
  CHECK(fm_gate_eval(p, r, fs, e->n, collect, &have) == 0);
  for (k = 0; k < have.n; k++) {
    CHECK(have.v[k][2] == FM_K_T || have.v[k][2] == FM_K_U);
    CHECK(have.v[k][2] == FM_K_U ? have.v[k][3] != 0 : have.v[k][3] == 0);
  }
  if (!differential) return;
  expect(in, e, thread, &want);
  qsort(have.v, have.n, sizeof have.v[0], cmp4);
  qsort(want.v, want.n, sizeof want.v[0], cmp4);
  /* the triples compared (the why is the VM's alone) */
  for (k = 0; k < have.n && k < want.n; k++)
    if (cmp4(have.v[k], want.v[k]) != 0) break;
  if (have.n != want.n || k < have.n) {
    fprintf(stderr, "fuzz_gatevm: %s run: the VM emitted %u rules, the plain evaluator %u\n",
            thread ? "a thread" : "the primary", have.n, want.n);
    for (k = 0; k < have.n; k++) fprintf(stderr, "  vm: var %u slot %u val %u\n", have.v[k][0], have.v[k][1], have.v[k][2]);
    for (k = 0; k < want.n; k++) fprintf(stderr, "  plain: var %u slot %u val %u\n", want.v[k][0], want.v[k][1], want.v[k][2]);
    CHECK(0);
  }
}

/* ---------------------------------------------------------------- one input */
static prog_in in;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  rd r = {data, data + size};
  fm_gprog p;
  const char *err;
  uint32_t vi, k, i, nev, spoil;
  int differential = 1, ok;
  char pool[256];
  size_t npool = 0;
  if (size > 4096) return 0;
  memset(&in, 0, sizeof in);
  memset(&p, 0, sizeof p);
  in.nf = upto(&r, MAXF + 1);
  in.nvars = 1 + upto(&r, MAXV);
  /* names f1 .. fN */
  p.nfields = in.nf;
  p.name_off = fm_calloc(in.nf + 1, sizeof *p.name_off);
  p.name_len = fm_calloc(in.nf + 1, sizeof *p.name_len);
  CHECK(p.name_off && p.name_len);
  for (k = 1; k <= in.nf; k++) {
    p.name_off[k] = (uint32_t)npool, p.name_len[k] = 2;
    pool[npool++] = 'f', pool[npool++] = (char)('0' + k);
  }
  p.nrx = 3;
  p.rx = fm_calloc(3, sizeof *p.rx);
  CHECK(p.rx);
  for (k = 0; k < 3; k++) p.rx[k] = &regexes[k].m;
  p.nvars = in.nvars;
  p.vars = fm_calloc(in.nvars, sizeof *p.vars);
  CHECK(p.vars);
  for (vi = 0; vi < in.nvars; vi++) {
    var *v = &in.vars[vi];
    fm_gvar *g = &p.vars[vi];
    ctx c;
    v->cond_field = in.nf ? upto(&r, in.nf + 1) : 0;
    for (k = 0; k < 2; k++) {
      v->cond_len[k] = 1 + upto(&r, 2);
      for (i = 0; i < v->cond_len[k]; i++) v->cond_val[k][i] = "ab"[byte(&r) & 1];
    }
    v->nprobe = upto(&r, MAXP + 1);
    for (k = 0; k < v->nprobe; k++) {
      probe *q = &v->probes[k];
      fm_wcplan **plans;
      q->field = upto(&r, in.nf + 1), q->base = v->nbits, q->npat = 1 + upto(&r, MAXPAT);
      plans = fm_malloc(q->npat * sizeof *plans);
      CHECK(plans);
      for (i = 0; i < q->npat; i++) {
        gen_pat(&r, &q->pats[i]);
        plans[i] = fm_wc_compile(q->pats[i].s, q->pats[i].n, q->pats[i].cased ? FM_WC_CASED : 0);
        q->pats[i].plan = fm_wc_compile(q->pats[i].s, q->pats[i].n, q->pats[i].cased ? FM_WC_CASED : 0);
        CHECK(plans[i] && q->pats[i].plan);
      }
      v->sets[k] = fm_wcset_new(plans, q->npat);
      CHECK(v->sets[k]);
      v->nbits += q->npat;
    }
    v->nrules = 1 + upto(&r, MAXR);
    c.r = &r, c.v = v, c.nf = in.nf, c.code = v->code, c.n = 0, c.over = 0;
    for (k = 0; k < v->nrules; k++) {
      unsigned gates = upto(&r, 3), gi;
      v->prog[k] = c.n;
      gen_cond(&c, 0);
      emit(&c, FM_OP_END);
      v->always[k] = gates == 0 || v->nbits == 0;
      for (gi = 0; gi < gates && v->nbits; gi++) {
        unsigned nbt = 1 + upto(&r, 2), b;
        v->full[k] |= 1u << gi;
        for (b = 0; b < nbt && v->ntrig < MAXT; b++) {
          v->trig[v->ntrig][0] = upto(&r, v->nbits), v->trig[v->ntrig][1] = k, v->trig[v->ntrig][2] = 1u << gi;
          v->ntrig++;
        }
      }
      if (v->always[k]) v->full[k] = 0;
    }
    v->ncode = c.n;
    if (c.over) differential = 0;
    /* into the program */
    if (v->cond_field) {
      g->ncond = 1;
      g->conds = fm_calloc(1, sizeof *g->conds);
      CHECK(g->conds);
      g->conds[0].field = v->cond_field, g->conds[0].nvals = 2;
      g->conds[0].off = fm_calloc(2, sizeof(uint32_t));
      g->conds[0].len = fm_calloc(2, sizeof(uint32_t));
      CHECK(g->conds[0].off && g->conds[0].len);
      for (k = 0; k < 2; k++) {
        g->conds[0].off[k] = (uint32_t)npool, g->conds[0].len[k] = (uint32_t)v->cond_len[k];
        memcpy(pool + npool, v->cond_val[k], v->cond_len[k]);
        npool += v->cond_len[k];
      }
    }
    g->nbits = v->nbits, g->nrules = v->nrules, g->nprobe = v->nprobe, g->ntrig = v->ntrig;
    g->probes = fm_calloc(v->nprobe + 1, sizeof *g->probes);
    g->full = fm_calloc(v->nrules, sizeof *g->full);
    g->prog = fm_calloc(v->nrules, sizeof *g->prog);
    g->ids = fm_calloc(v->nrules, sizeof *g->ids);
    g->always = fm_calloc(v->nrules, sizeof *g->always);
    g->trig = fm_calloc(v->ntrig * 3 + 1, sizeof *g->trig);
    g->code = fm_calloc(v->ncode + 1, sizeof *g->code);
    CHECK(g->probes && g->full && g->prog && g->ids && g->always && g->trig && g->code);
    for (k = 0; k < v->nprobe; k++) {
      g->probes[k].field = v->probes[k].field, g->probes[k].base = v->probes[k].base;
      g->probes[k].set = &v->sets[k];
    }
    for (k = 0; k < v->nrules; k++) {
      g->full[k] = v->full[k], g->prog[k] = v->prog[k], g->ids[k] = vi * 100 + k;
      if (v->always[k]) g->always[g->nalways++] = k;
    }
    for (k = 0; k < v->ntrig; k++) memcpy(&g->trig[3 * k], v->trig[k], sizeof v->trig[k]);
    memcpy(g->code, v->code, v->ncode * sizeof *g->code);
    g->ncode = v->ncode;
  }
  p.pool = fm_malloc(npool + 1);
  CHECK(p.pool);
  memcpy(p.pool, pool, npool);
  p.npool = npool;
  /* now and then, one code word spoilt: refused, or run unchecked */
  spoil = byte(&r);
  if (spoil >= 0xF0 && p.vars[0].ncode > 0) {
    uint32_t at = upto(&r, (unsigned)p.vars[0].ncode);
    p.vars[0].code[at] = (int32_t)(byte(&r) % 12) - 2;
    if (byte(&r) & 1) p.vars[0].code[at] += 1000;
    differential = 0;
  }
  ok = fm_gprog_finish(&p, &err) == 0;
  if (!ok) CHECK(!differential); /* a well-built program is taken */
  if (ok) {
    fm_grun *r0 = fm_grun_new(&p, 0), *r1 = fm_grun_new(&p, 1);
    CHECK(r0 && r1);
    nev = 1 + upto(&r, 4);
    for (i = 0; i < nev; i++) {
      event e;
      fm_evfield fs[MAXF + 2];
      static const char *const VALS[] = {"a", "b", "ab", "AB", "", "ba", "aab", "10.0.1.2", "10.1.2.0", "10.2.2.2",
                                         "0010.0.1.2", "10.0.1", "fe80::1", "\xc3\xa9", "bz", "A\xc3\xa9"};
      memset(&e, 0, sizeof e);
      for (k = 1; k <= in.nf + 2; k++) {
        unsigned b = byte(&r);
        const char *val;
        if (b & 1) continue;
        if (k > in.nf && e.n > 0 && (b & 2)) continue;
        e.nlen[e.n] = 2;
        e.name[e.n][0] = k <= in.nf ? 'f' : 'u', e.name[e.n][1] = (char)('0' + k);
        e.of_id[e.n] = k <= in.nf ? (int)k : 0;
        val = VALS[(b >> 2) % (sizeof VALS / sizeof *VALS)];
        e.vlen[e.n] = strlen(val);
        memcpy(e.val[e.n], val, e.vlen[e.n]);
        e.n++;
      }
      for (k = 0; k < e.n; k++) {
        fs[k].name = e.name[k], fs[k].nlen = e.nlen[k];
        fs[k].val = e.val[k], fs[k].vlen = e.vlen[k];
      }
      check_run(&p, r0, &in, &e, fs, 0, differential);
      check_run(&p, r1, &in, &e, fs, 1, differential);
    }
    fm_grun_free(r0);
    fm_grun_free(r1);
  }
  fm_gprog_free(&p);
  for (vi = 0; vi < in.nvars; vi++) {
    var *v = &in.vars[vi];
    for (k = 0; k < v->nprobe; k++) {
      fm_wcset_free(v->sets[k]);
      for (i = 0; i < v->probes[k].npat; i++) fm_wc_free(v->probes[k].pats[i].plan);
    }
  }
  return 0;
}

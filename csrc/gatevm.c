/*
** gatevm.c -- the Sigma gate's VM (see gatevm.h for the program and the
** opcodes): which rules' conditions an event's fields may make true.
** Owns: checking a built program, and running it (a run's state is its
** own, the program is read only).  Must not touch: Lua (the loader in
** gateload.c builds programs from the engine's tables; the binding in
** gate.c), how fields are named (evmodel.c).
**
** One event: the field values are looked up by name (field ids); the
** variants whose Channel/EventID conditions hold are run; in each, every
** value goes through the sets its field has (a direct-mapped cache
** remembers a set's answer for a value: event logs repeat theirs), each
** matched pattern stamps its hit bit and moves the rules it gates; the
** rules whose gates are all open (candidates), and the few evaluated
** always, have their code run.
*/
#include <stdlib.h>
#include <string.h>

#include "gatevm.h"

/* ---------------------------------------------------------------- names */
static uint32_t name_hash(const char *s, size_t n) {
  uint32_t h = 2166136261u; /* FNV-1a */
  size_t i;
  for (i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
  return h;
}

uint32_t fm_gprog_field(const fm_gprog *p, const char *s, size_t n) {
  size_t i;
  if (p->htab == NULL) return 0;
  for (i = name_hash(s, n) & p->hmask;; i = (i + 1) & p->hmask) {
    uint32_t id = p->htab[i];
    if (id == 0) return 0;
    if (p->name_len[id] == n && memcmp(p->pool + p->name_off[id], s, n) == 0) return id;
  }
}

/* ---------------------------------------------------------------- checking */
/* A rule's code from at: ops known, operands in range, the stack never
   under- or overflows and holds one value at END. */
static int code_ok(const fm_gprog *p, const fm_gvar *v, size_t at) {
  size_t pc = at;
  int sp = 0;
  const int32_t *c = v->code;
  while (pc < v->ncode) {
    int32_t op = c[pc++];
    if (op == FM_OP_END) return sp == 1;
    if (op == FM_OP_CONST) {
      if (pc >= v->ncode || c[pc] < FM_K_F || c[pc] > FM_K_U) return 0;
      pc++, sp++;
    } else if (op == FM_OP_NOT) {
      if (sp < 1) return 0;
    } else if (op == FM_OP_ATLEAST) {
      if (pc + 2 > v->ncode) return 0;
      if (c[pc + 1] < 1 || c[pc + 1] > sp || c[pc] < 0) return 0;
      sp -= c[pc + 1] - 1, pc += 2;
    } else if (op == FM_OP_ITEM) {
      int32_t ng, gi;
      if (pc + 3 > v->ncode) return 0;
      if (c[pc] < 0 || (uint32_t)c[pc] > p->nfields) return 0;
      if (c[pc + 1] < 0 || c[pc + 1] > 1) return 0;
      ng = c[pc + 2], pc += 3;
      if (ng < 0) return 0;
      for (gi = 0; gi < ng; gi++) {
        int32_t nb, b;
        if (pc + 2 > v->ncode) return 0;
        if (c[pc] < 0 || c[pc] > FM_G_ALL) return 0; /* flags */
        nb = c[pc + 1], pc += 2;
        if (nb < 0 || (size_t)nb > v->ncode - pc) return 0;
        for (b = 0; b < nb; b++)
          if (c[pc + b] < 0 || (uint32_t)c[pc + b] >= v->nbits) return 0;
        pc += nb;
        if (pc >= v->ncode) return 0; /* nre */
        nb = c[pc++];
        if (nb < 0 || (size_t)nb > v->ncode - pc) return 0;
        for (b = 0; b < nb; b++)
          if (c[pc + b] < 0 || (uint32_t)c[pc + b] >= p->nrx) return 0;
        pc += nb;
        if (pc >= v->ncode) return 0; /* nref */
        nb = c[pc++];
        if (nb < 0 || (size_t)nb > (v->ncode - pc) / 3) return 0;
        for (b = 0; b < nb; b++) {
          const int32_t *r = c + pc + 3 * b;
          if (r[0] < 1 || (uint32_t)r[0] > p->nfields || r[1] < 0 || r[1] >= FM_REF_N || r[2] < 0 ||
              r[2] > 1)
            return 0;
        }
        pc += 3 * nb;
        if (pc >= v->ncode) return 0; /* ncidr */
        nb = c[pc++];
        if (nb < 0 || (size_t)nb > (v->ncode - pc) / 3) return 0;
        for (b = 0; b < nb; b++) {
          const int32_t *r = c + pc + 3 * b;
          if (r[0] < 0 || r[0] > 0xFFFF || r[1] < 0 || r[1] > 0xFFFF || r[2] < 0 || r[2] > 32) return 0;
          if (r[2] < 32 && r[2] > 0 && ((uint32_t)r[0] << 16 | (uint32_t)r[1]) >> r[2] != 0) return 0;
        }
        pc += 3 * nb;
      }
      sp++;
    } else {
      return 0;
    }
    if (sp > FM_GATE_MAXSTACK) return 0;
  }
  return 0;
}

static int probe_cmp(const void *a, const void *b) {
  const fm_gprobe *x = a, *y = b;
  return x->field < y->field ? -1 : x->field > y->field;
}

#define FAIL(msg)  \
  do {             \
    *err = (msg);  \
    return -1;     \
  } while (0)

/* One variant: probes sorted and indexed by field, the trigger triples
   (bit, slot, gates) grouped by bit, every rule's code checked. */
static int var_finish(fm_gprog *p, fm_gvar *v, const char **err) {
  uint32_t k, ntrig = v->ntrig, *at, *pairs, *fill;
  for (k = 0; k < v->ncond; k++)
    if (v->conds[k].field == 0 || v->conds[k].field > p->nfields) FAIL("bad condition field");
  for (k = 0; k < v->nprobe; k++) {
    const fm_gprobe *q = &v->probes[k];
    if (q->field > p->nfields) FAIL("bad probe field");
    if (q->set == NULL || *q->set == NULL) FAIL("a probe's set is not a live fm.set");
    if ((uint64_t)q->base + fm_wcset_size(*q->set) > v->nbits) FAIL("a probe's set does not fit its bits");
  }
  if (v->nprobe > 0) qsort(v->probes, v->nprobe, sizeof *v->probes, probe_cmp);
  v->pstart = fm_calloc((size_t)p->nfields + 2, sizeof *v->pstart);
  if (v->pstart == NULL) FAIL("not enough memory");
  for (k = 0; k < v->nprobe; k++) v->pstart[v->probes[k].field + 1]++;
  for (k = 1; k <= p->nfields + 1; k++) v->pstart[k] += v->pstart[k - 1];
  v->probe0 = p->nprobes;
  p->nprobes += v->nprobe;
  /* triggers: ntrig triples (bit, slot, gates) to pairs grouped by bit */
  at = fm_calloc((size_t)v->nbits + 2, sizeof *at);
  pairs = fm_calloc((size_t)ntrig * 2 + 1, sizeof *pairs);
  fill = fm_calloc((size_t)v->nbits + 1, sizeof *fill);
  if (at == NULL || pairs == NULL || fill == NULL) {
    fm_free(at), fm_free(pairs), fm_free(fill);
    FAIL("not enough memory");
  }
  v->trig_at = at;
  for (k = 0; k < ntrig; k++) {
    uint32_t bit = v->trig[3 * k], slot = v->trig[3 * k + 1];
    if (bit >= v->nbits || slot >= v->nrules) {
      fm_free(pairs), fm_free(fill);
      FAIL(bit >= v->nbits ? "bad trig bit" : "bad trig slot");
    }
    at[bit + 1]++;
  }
  for (k = 1; k <= v->nbits; k++) at[k] += at[k - 1];
  for (k = 0; k < ntrig; k++) {
    uint32_t bit = v->trig[3 * k], to = (at[bit] + fill[bit]++) * 2;
    pairs[to] = v->trig[3 * k + 1], pairs[to + 1] = v->trig[3 * k + 2];
  }
  for (k = 0; k <= v->nbits; k++) at[k] *= 2;
  fm_free(fill);
  fm_free(v->trig);
  v->trig = pairs;
  for (k = 0; k < v->nrules; k++)
    if (v->prog[k] >= v->ncode || !code_ok(p, v, v->prog[k])) FAIL("bad program");
  for (k = 0; k < v->nalways; k++)
    if (v->always[k] >= v->nrules) FAIL("bad always");
  return 0;
}

int fm_gprog_finish(fm_gprog *p, const char **err) {
  size_t hs = 16;
  uint32_t i;
  while (hs < (size_t)p->nfields * 2 + 2) hs *= 2;
  p->htab = fm_calloc(hs, sizeof *p->htab);
  if (p->htab == NULL) FAIL("not enough memory");
  p->hmask = hs - 1;
  for (i = 1; i <= p->nfields; i++) {
    const char *s = p->pool + p->name_off[i];
    size_t n = p->name_len[i], h;
    if (fm_gprog_field(p, s, n) != 0) FAIL("a name given twice");
    for (h = name_hash(s, n) & p->hmask; p->htab[h] != 0; h = (h + 1) & p->hmask) {}
    p->htab[h] = i;
  }
  p->nprobes = 0;
  for (i = 0; i < p->nvars; i++)
    if (var_finish(p, &p->vars[i], err) != 0) return -1;
  return 0;
}

void fm_gprog_free(fm_gprog *p) {
  uint32_t k, i;
  for (k = 0; k < p->nvars; k++) {
    fm_gvar *v = &p->vars[k];
    for (i = 0; i < v->ncond; i++) fm_free(v->conds[i].off), fm_free(v->conds[i].len);
    fm_free(v->conds), fm_free(v->probes), fm_free(v->pstart), fm_free(v->trig_at);
    fm_free(v->trig), fm_free(v->full), fm_free(v->prog), fm_free(v->always), fm_free(v->ids);
    fm_free(v->code);
  }
  fm_free(p->vars), fm_free(p->pool), fm_free(p->name_off), fm_free(p->name_len);
  fm_free(p->htab), fm_free(p->rx);
  memset(p, 0, sizeof *p);
}

/* ---------------------------------------------------------------- a run */
/* What a set matched of a value, remembered: event logs repeat their values
   (images, parents, users, hosts, integrity levels), and a set's answer
   depends on the value alone.  Direct-mapped by a hash of set and value;
   a value over CV_MAX bytes or with over CV_IDX matches is not kept.  Its
   1.6 MB come in blocks as they are first used: a run that sees a few
   values (a fuzz input, a short file) does not zero them all. */
enum { CV_SLOTS = 4096, CV_BLOCK = 64, CV_MAX = 320, CV_IDX = 14 };
struct gcache {
  const fm_wcset *set; /* NULL: empty */
  uint64_t h;
  uint32_t len, nidx;
  uint32_t idx[CV_IDX];
  char val[CV_MAX];
};

typedef struct grvar { /* per rule, per bit: the evaluation they belong to */
  uint32_t *bstamp, *rstamp, *rmask, *cand;
} grvar;

struct fm_grun {
  const fm_gprog *p;
  grvar *vars;
  uint32_t *fstamp; /* per field id: the event it was last seen in */
  const char **fval;
  size_t *flen;
  uint32_t *fid_of; /* per field of the event: its id */
  size_t fidcap;
  uint32_t ev, run;
  struct gcache *cache[CV_SLOTS / CV_BLOCK]; /* NULL: not used yet (or no memory) */
  fm_wcset **sets;      /* thread: per probe, its copy; NULL: the program's */
  fm_matcher **rx;      /* per regex: the one called (NULL: cannot answer) */
  int thread;
};

void fm_grun_free(fm_grun *r) {
  uint32_t k;
  const fm_gprog *p;
  if (r == NULL) return;
  p = r->p;
  if (r->vars != NULL)
    for (k = 0; k < p->nvars; k++) {
      grvar *g = &r->vars[k];
      fm_free(g->bstamp), fm_free(g->rstamp), fm_free(g->rmask), fm_free(g->cand);
    }
  if (r->sets != NULL)
    for (k = 0; k < p->nprobes; k++)
      if (r->sets[k] != NULL) fm_wcset_free(r->sets[k]);
  if (r->thread && r->rx != NULL)
    for (k = 0; k < p->nrx; k++) {
      fm_matcher *m = p->rx[k];
      if (r->rx[k] != NULL && m->ops != NULL && m->ops->thread_drop != NULL)
        m->ops->thread_drop(m, r->rx[k]);
    }
  fm_free(r->vars), fm_free(r->fstamp), fm_free(r->fval), fm_free(r->flen), fm_free(r->fid_of);
  for (k = 0; k < CV_SLOTS / CV_BLOCK; k++) fm_free(r->cache[k]);
  fm_free(r->sets), fm_free(r->rx);
  fm_free(r);
}

fm_grun *fm_grun_new(const fm_gprog *p, int thread) {
  fm_grun *r = fm_calloc(1, sizeof *r);
  uint32_t k, i;
  if (r == NULL) return NULL;
  r->p = p, r->thread = thread;
  r->vars = fm_calloc(p->nvars + 1, sizeof *r->vars);
  r->fstamp = fm_calloc((size_t)p->nfields + 1, sizeof *r->fstamp);
  r->fval = fm_calloc((size_t)p->nfields + 1, sizeof *r->fval);
  r->flen = fm_calloc((size_t)p->nfields + 1, sizeof *r->flen);
  r->rx = fm_calloc((size_t)p->nrx + 1, sizeof *r->rx);
  if (r->vars == NULL || r->fstamp == NULL || r->fval == NULL || r->flen == NULL || r->rx == NULL)
    goto fail;
  for (k = 0; k < p->nvars; k++) {
    const fm_gvar *v = &p->vars[k];
    grvar *g = &r->vars[k];
    g->bstamp = fm_calloc((size_t)v->nbits + 1, sizeof *g->bstamp);
    g->rstamp = fm_calloc((size_t)v->nrules + 1, sizeof *g->rstamp);
    g->rmask = fm_calloc((size_t)v->nrules + 1, sizeof *g->rmask);
    g->cand = fm_calloc((size_t)v->nrules + 1, sizeof *g->cand);
    if (g->bstamp == NULL || g->rstamp == NULL || g->rmask == NULL || g->cand == NULL) goto fail;
  }
  if (thread) {
    r->sets = fm_calloc((size_t)p->nprobes + 1, sizeof *r->sets);
    if (r->sets == NULL) goto fail;
    for (k = 0; k < p->nvars; k++)
      for (i = 0; i < p->vars[k].nprobe; i++) {
        fm_wcset *s = *p->vars[k].probes[i].set;
        if (s != NULL && (r->sets[p->vars[k].probe0 + i] = fm_wcset_thread_copy(s)) == NULL) goto fail;
      }
    for (k = 0; k < p->nrx; k++) {
      fm_matcher *m = p->rx[k];
      /* none: this run leaves the regex's groups unknown */
      r->rx[k] = m->ops != NULL && m->ops->thread_copy != NULL ? m->ops->thread_copy(m) : NULL;
    }
  } else {
    for (k = 0; k < p->nrx; k++) r->rx[k] = p->rx[k];
  }
  return r;
fail:
  fm_grun_free(r);
  return NULL;
}

static int ascii_ieq(const char *a, const char *lower, size_t n) {
  size_t k;
  for (k = 0; k < n; k++) {
    unsigned char c = (unsigned char)a[k];
    if (c >= 'A' && c <= 'Z') c = (unsigned char)(c + 32);
    if (c != (unsigned char)lower[k]) return 0;
  }
  return 1;
}

static int var_applies(const fm_gprog *p, const fm_grun *r, const fm_gvar *v) {
  uint32_t k, i;
  for (k = 0; k < v->ncond; k++) {
    const fm_gcond *c = &v->conds[k];
    const char *s;
    size_t n;
    int any = 0;
    if (r->fstamp[c->field] != r->ev) return 0;
    s = r->fval[c->field], n = r->flen[c->field];
    for (i = 0; i < c->nvals && !any; i++)
      any = c->len[i] == n && ascii_ieq(s, p->pool + c->off[i], n);
    if (!any) return 0;
  }
  return 1;
}

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
static int hit(const fm_gvar *v, grvar *g, const fm_gprobe *q, size_t idx, uint32_t run,
               uint32_t *ncand) {
  uint32_t bit = q->base + (uint32_t)idx, t;
  if (bit >= v->nbits) return -1; /* a set grown since (cannot, but checked) */
  g->bstamp[bit] = run;
  for (t = v->trig_at[bit]; t < v->trig_at[bit + 1]; t += 2) {
    uint32_t slot = v->trig[t], gb = v->trig[t + 1], now;
    if (g->rstamp[slot] != run) g->rstamp[slot] = run, g->rmask[slot] = 0;
    now = g->rmask[slot] | gb;
    if (now != g->rmask[slot]) {
      g->rmask[slot] = now;
      if (now == v->full[slot]) g->cand[(*ncand)++] = slot;
    }
  }
  return 0;
}

/* One value through one set (or its remembered answer); h0: hash64 of the
   value (computed once for all its sets). */
static int probe(fm_grun *r, const fm_gvar *v, grvar *g, uint32_t pi, const char *s, size_t n,
                 uint64_t h0, uint32_t run, uint32_t *ncand) {
  const fm_gprobe *q = &v->probes[pi];
  fm_wcset *set = r->sets != NULL ? r->sets[v->probe0 + pi] : *q->set;
  size_t res, k;
  const size_t *m;
  struct gcache *e = NULL;
  uint64_t h = 0;
  if (set == NULL) return -1;
  if (n <= CV_MAX) {
    struct gcache **blk;
    h = h0 ^ ((uint64_t)(uintptr_t)set * 0x9E3779B97F4A7C15ull);
    blk = &r->cache[(h & (CV_SLOTS - 1)) / CV_BLOCK];
    if (*blk == NULL) *blk = fm_calloc(CV_BLOCK, sizeof **blk); /* NULL: not kept */
    e = *blk == NULL ? NULL : &(*blk)[h & (CV_BLOCK - 1)];
  }
  if (e != NULL) {
    if (e->set == set && e->h == h && e->len == n && memcmp(e->val, s, n) == 0) {
      for (k = 0; k < e->nidx; k++)
        if (hit(v, g, q, e->idx[k], run, ncand) < 0) return -1;
      return 0;
    }
  }
  res = fm_wcset_run(set, s, n, FM_SET_ALL);
  m = fm_wcset_matches(set);
  if (e != NULL && res <= CV_IDX) {
    e->set = set, e->h = h, e->len = (uint32_t)n, e->nidx = (uint32_t)res;
    memcpy(e->val, s, n);
    for (k = 0; k < res; k++) e->idx[k] = (uint32_t)m[k];
  }
  for (k = 0; k < res; k++)
    if (hit(v, g, q, m[k], run, ncand) < 0) return -1;
  return 0;
}

/* A field reference (fieldref): s against the other field's value o, as
   lua/fastmatch/sigma.lua's alt_test with fm.iequals/contains/startswith/
   endswith; caseless against an o with a non-ASCII byte is unknown
   (Unicode folding: the engine decides). */
static int fieldref(const char *s, size_t n, const char *o, size_t m, int how, int cased) {
  size_t k;
  int ascii = 1, res;
  if (!cased)
    for (k = 0; k < m && ascii; k++) ascii = (unsigned char)o[k] < 0x80;
  switch (how) {
    case FM_REF_equals: res = n == m && (cased ? memcmp(s, o, m) == 0 : fm_iequal(s, o, m)); break;
    case FM_REF_contains:
      res = (cased ? fm_search(s, n, o, m) : fm_isearch(s, n, o, m)) != FM_NOTFOUND;
      break;
    case FM_REF_startswith: res = m <= n && (cased ? memcmp(s, o, m) == 0 : fm_iequal(s, o, m)); break;
    default: res = m <= n && (cased ? memcmp(s + n - m, o, m) == 0 : fm_iequal(s + n - m, o, m)); break;
  }
  if (res) return FM_K_T;
  return ascii ? FM_K_F : FM_K_U;
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

/* One value group at *pcp (see FM_GATE_FLAGS), for the field's value when
   present; the causes of an unknown go to *why. */
static int group(const fm_grun *r, const grvar *g, const int32_t **pcp, uint32_t field, int present,
                 uint32_t run, unsigned *why) {
  const int32_t *pc = *pcp;
  int flags = *pc++, nb = *pc++, b, nre, nref, ncidr, val = FM_K_F, hit = 0;
  const char *s = present ? r->fval[field] : NULL;
  size_t n = present ? r->flen[field] : 0;
  unsigned cause = 0;
  for (b = 0; b < nb; b++)
    if (g->bstamp[pc[b]] == run) hit = 1;
  pc += nb;
  if (hit && !(flags & FM_G_GUARDS)) val = FM_K_T;
  if (field == 0 && (flags & (FM_G_NULL | FM_G_EXISTS | FM_G_ABSENT)))
    cause |= FM_GU_keyword;
  else if (((flags & FM_G_NULL) && (!present || n == 0)) || ((flags & FM_G_EXISTS) && present) ||
           ((flags & FM_G_ABSENT) && !present))
    val = FM_K_T;
  /* regexes: skipped when none of their required literals (guards) matched */
  nre = *pc++;
  if (val != FM_K_T && present && (hit || !(flags & FM_G_GUARDS)))
    for (b = 0; b < nre && val != FM_K_T; b++) {
      fm_matcher *m = r->rx[pc[b]];
      int t = m != NULL && m->test != NULL ? m->test(m, s, n) : -1;
      if (t > 0) val = FM_K_T;
      else if (t < 0) val = FM_K_U, cause |= FM_GU_regex;
    }
  pc += nre;
  nref = *pc++;
  if (val != FM_K_T && present)
    for (b = 0; b < nref && val != FM_K_T; b++) {
      uint32_t of = (uint32_t)pc[3 * b];
      if (r->fstamp[of] == r->ev) {
        int t = fieldref(s, n, r->fval[of], r->flen[of], pc[3 * b + 1], pc[3 * b + 2]);
        if (t == FM_K_T) val = FM_K_T;
        else if (t == FM_K_U) val = FM_K_U, cause |= FM_GU_fold;
      }
    }
  pc += 3 * nref;
  ncidr = *pc++;
  if (val != FM_K_T && present) {
    uint32_t a;
    if (ncidr > 0 && ipv4(s, n, &a))
      for (b = 0; b < ncidr && val != FM_K_T; b++) {
        uint32_t net = (uint32_t)pc[3 * b] << 16 | (uint32_t)pc[3 * b + 1];
        int bits = pc[3 * b + 2];
        if (bits == 0 || a >> (32 - bits) == net) val = FM_K_T;
      }
    if (val == FM_K_F && (flags & FM_G_CIDR6) && memchr(s, ':', n) != NULL)
      val = FM_K_U, cause |= FM_GU_cidr6;
  }
  pc += 3 * ncidr;
  if (val == FM_K_F && (flags & (FM_G_OTHER | FM_G_CMP))) {
    val = FM_K_U;
    cause |= (flags & FM_G_OTHER ? FM_GU_value : 0) | (flags & FM_G_CMP ? FM_GU_cmp : 0);
  }
  if (val == FM_K_F && (cause & FM_GU_keyword)) val = FM_K_U;
  if (val == FM_K_U) *why |= cause;
  *pcp = pc;
  return val;
}

static int eval(const fm_grun *r, const fm_gvar *v, const grvar *g, uint32_t at, uint32_t run,
                unsigned *why) {
  uint8_t st[FM_GATE_MAXSTACK];
  int sp = 0;
  const int32_t *pc = v->code + at;
  for (;;) {
    switch (*pc++) {
      case FM_OP_END: return st[0];
      case FM_OP_CONST:
        if (*pc == FM_K_U) *why |= FM_GU_const;
        st[sp++] = (uint8_t)*pc++;
        break;
      case FM_OP_NOT:
        if (st[sp - 1] != FM_K_U) st[sp - 1] = st[sp - 1] == FM_K_T ? FM_K_F : FM_K_T;
        break;
      case FM_OP_ATLEAST: {
        int32_t need = *pc++, n = *pc++, k, t = 0, u = 0;
        for (k = sp - n; k < sp; k++) t += st[k] == FM_K_T, u += st[k] == FM_K_U;
        sp -= n;
        st[sp++] = t >= need ? FM_K_T : t + u >= need ? FM_K_U : FM_K_F;
        break;
      }
      case FM_OP_ITEM: {
        uint32_t field = (uint32_t)*pc++;
        int all = *pc++, ng = *pc++, gi, res = all ? FM_K_T : FM_K_F;
        int present = field != 0 && r->fstamp[field] == r->ev;
        for (gi = 0; gi < ng; gi++) {
          int val = group(r, g, &pc, field, present, run, why);
          if (all) {
            if (val == FM_K_F || (val == FM_K_U && res == FM_K_T)) res = val;
          } else {
            if (val == FM_K_T || (val == FM_K_U && res == FM_K_F)) res = val;
          }
        }
        st[sp++] = (uint8_t)res;
        break;
      }
      default: return FM_K_U; /* checked when built: never */
    }
  }
}

int fm_gate_eval(const fm_gprog *p, fm_grun *r, const fm_evfield *fs, size_t nf, fm_gate_emit emit,
                 void *ud) {
  size_t k;
  uint32_t vi;
  if (++r->ev == 0) { /* wrapped: forget every stamp */
    memset(r->fstamp, 0, ((size_t)p->nfields + 1) * sizeof *r->fstamp);
    r->ev = 1;
  }
  if (nf > r->fidcap) {
    uint32_t *nfid = fm_realloc(r->fid_of, nf * sizeof *nfid);
    if (nfid == NULL) return -1;
    r->fid_of = nfid, r->fidcap = nf;
  }
  for (k = 0; k < nf; k++) {
    uint32_t id = fm_gprog_field(p, fs[k].name, fs[k].nlen);
    r->fid_of[k] = id;
    if (id != 0) r->fstamp[id] = r->ev, r->fval[id] = fs[k].val, r->flen[id] = fs[k].vlen;
  }
  for (vi = 0; vi < p->nvars; vi++) {
    const fm_gvar *v = &p->vars[vi];
    grvar *g = &r->vars[vi];
    uint32_t run, ncand = 0, c;
    if (!var_applies(p, r, v)) continue;
    if (++r->run == 0) {
      for (c = 0; c < p->nvars; c++) {
        memset(r->vars[c].bstamp, 0, ((size_t)p->vars[c].nbits + 1) * sizeof(uint32_t));
        memset(r->vars[c].rstamp, 0, ((size_t)p->vars[c].nrules + 1) * sizeof(uint32_t));
      }
      r->run = 1;
    }
    run = r->run;
    for (k = 0; k < nf; k++) {
      uint32_t id = r->fid_of[k], q;
      uint64_t h0;
      if (v->pstart[1] == 0 && (id == 0 || v->pstart[id] == v->pstart[id + 1])) continue;
      h0 = fs[k].vlen <= CV_MAX ? hash64(fs[k].val, fs[k].vlen) : 0;
      /* keywords (probes of field 0): every value, known field or not */
      for (q = v->pstart[0]; q < v->pstart[1]; q++)
        if (probe(r, v, g, q, fs[k].val, fs[k].vlen, h0, run, &ncand) < 0) return -1;
      if (id != 0)
        for (q = v->pstart[id]; q < v->pstart[id + 1]; q++)
          if (probe(r, v, g, q, fs[k].val, fs[k].vlen, h0, run, &ncand) < 0) return -1;
    }
    for (c = 0; c < ncand + v->nalways; c++) {
      uint32_t slot = c < ncand ? g->cand[c] : v->always[c - ncand];
      unsigned why = 0;
      int res = eval(r, v, g, v->prog[slot], run, &why);
      if (res != FM_K_F && emit(ud, vi, slot, res, res == FM_K_U ? why : 0)) return 1;
    }
  }
  return 0;
}

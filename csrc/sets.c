/*
** sets.c -- many Sigma wildcards as one matcher (fm.set): tries for exact,
** prefix and suffix patterns, a rare-gram index of required literals for
** the rest, one pass over the subject; and the binding of fm.set.
** Owns: the set's index and its run.  Must not touch: a plan's matching
** (fm_wc_match in wildcard.c decides every candidate the index cannot).
*/
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lauxlib.h"
#include "lua.h"

#include "binding.h"
#include "fastmatch.h"
#include "utf8.h"
#include "wildcard.h"

/* ---------------------------------------------------------------------
** Pattern sets.  Each plan is reached through one route:
**   - a trie of folded prefixes, walked from the subject's start (exact,
**     prefix and prefix_suffix plans), and one of folded reversed
**     suffixes walked from its end (suffix plans);
**   - an index of folded 1..4-byte grams of one required literal per plan
**     (contains; glob and umode plans: their longest byte-comparable
**     literal), probed at every offset in a single pass over the subject;
**   - a short list of plans without any literal ("*", "?*"), tested as is.
** A hit either proves the match (caseless prefix/suffix/exact trie hits,
** contains literals compared in the plan's case) or makes the plan a
** candidate for fm_wc_match.  Each plan is tested at most once per run.
** ------------------------------------------------------------------- */
enum { R_NONE, R_PRE, R_SUF, R_GRAM };

typedef struct lkey { /* a literal that plan must contain */
  uint32_t plan;
  int confirm;       /* a hit proves the match */
  size_t key, klen;  /* into set->keys */
  size_t goff, glen; /* the indexed gram: key[goff .. goff+glen) */
  uint32_t gram;     /* its folded value */
} lkey;

typedef struct gtab {             /* grams of one length -> runs of lkeys */
  uint32_t bits;                  /* log2 of the slot count */
  uint32_t *gram, *start, *count; /* slots; count 0 = empty */
  uint64_t bloom[1024];           /* 65536 bits */
} gtab;

typedef struct trie {
  size_t nnodes, mask; /* edge table: slots mask+1 */
  uint64_t *ekey;      /* (parent << 8 | byte) + 1; 0 = empty slot */
  uint32_t *echild;
  uint32_t *tstart, *tcount; /* per node: its terminals */
  uint32_t *term;            /* plan indexes, grouped by node */
  size_t maxdepth;
} trie;

struct fm_wcset {
  fm_wcplan **plans;
  size_t n;
  char *keys; /* the literal keys' bytes */
  lkey *lk;   /* sorted by (glen, gram) */
  size_t nlk;
  gtab *g[5]; /* by gram length; NULL when absent */
  fm_ac *ac;  /* the same keys (lk order) as one automaton: first and all */
  uint32_t *kinfo; /* per lkey: plan | KI_CASED | KI_CONFIRM (a hit reads
                      this small array, not the lkey and its plan) */
  /* first filter of the scan: the last two folded bytes of some gram of
     length >= 2 (65536 bits), the byte of some gram of length 1 */
  uint64_t pair[1024], single[4];
  trie pre, suf;
  uint32_t *always; /* plans without a literal: those that can match an */
  size_t nalways;   /* ASCII subject, then those that need a byte >= 0x80 */
  size_t nalways_ascii;
  /* run state */
  uint32_t *seen, gen;
  size_t *res, nres;
  uint32_t *cand;
  size_t ncand;
  uint64_t *bits; /* one bit a plan, all zero between runs: sorts results */
  const fm_wcset *owner; /* a thread copy: the set whose tables it shares */
};

static uint32_t hash32(uint32_t v) { return v * 0x9E3779B1u; }
static uint64_t hash64(uint64_t v) { return v * 0x9E3779B97F4A7C15ull; }

static void trie_free(trie *t) {
  fm_free(t->ekey);
  fm_free(t->echild);
  fm_free(t->tstart);
  fm_free(t->tcount);
  fm_free(t->term);
}

/* Child of node via byte c, or 0 (the root is never a child). */
static uint32_t trie_child(const trie *t, size_t node, unsigned c) {
  uint64_t key = (((uint64_t)node << 8) | c) + 1;
  size_t i = (size_t)(hash64(key) >> 32) & t->mask;
  while (t->ekey[i] != 0) {
    if (t->ekey[i] == key) return t->echild[i];
    i = (i + 1) & t->mask;
  }
  return 0;
}

typedef struct tkey { /* building: a key to insert */
  const char *s;
  size_t n;
  uint32_t plan;
  int rev;
} tkey;

/* Build a trie from keys (folded on insertion). Returns 0 on no memory. */
static int trie_build(trie *t, const tkey *keys, size_t nk) {
  size_t total = 1, k, i, slots = 16, nt = 0;
  uint32_t *node_of;
  for (k = 0; k < nk; k++)
    total += keys[k].n;
  while (slots < 2 * total)
    slots *= 2;
  t->mask = slots - 1;
  t->ekey = fm_calloc(slots, sizeof(uint64_t));
  t->echild = fm_malloc(slots * sizeof(uint32_t));
  t->tstart = fm_calloc(total, sizeof(uint32_t));
  t->tcount = fm_calloc(total, sizeof(uint32_t));
  t->term = fm_malloc((nk + 1) * sizeof(uint32_t));
  node_of = fm_malloc((nk + 1) * sizeof(uint32_t));
  if (!t->ekey || !t->echild || !t->tstart || !t->tcount || !t->term ||
      !node_of) {
    fm_free(node_of);
    return 0;
  }
  t->nnodes = 1;
  for (k = 0; k < nk; k++) {
    size_t node = 0;
    if (keys[k].n > t->maxdepth) t->maxdepth = keys[k].n;
    for (i = 0; i < keys[k].n; i++) {
      unsigned c = fm_lower[(unsigned char)keys[k]
                                .s[keys[k].rev ? keys[k].n - 1 - i : i]];
      uint32_t ch = trie_child(t, node, c);
      if (ch == 0) {
        uint64_t key = (((uint64_t)node << 8) | c) + 1;
        size_t j = (size_t)(hash64(key) >> 32) & t->mask;
        while (t->ekey[j] != 0)
          j = (j + 1) & t->mask;
        t->ekey[j] = key;
        t->echild[j] = ch = (uint32_t)t->nnodes++;
      }
      node = ch;
    }
    node_of[k] = (uint32_t)node;
    t->tcount[node]++;
  }
  for (i = 0; i < t->nnodes; i++)
    t->tstart[i] = (uint32_t)nt, nt += t->tcount[i];
  for (i = 0; i < t->nnodes; i++)
    t->tcount[i] = 0;
  for (k = 0; k < nk; k++) {
    uint32_t node = node_of[k];
    t->term[t->tstart[node] + t->tcount[node]++] = keys[k].plan;
  }
  fm_free(node_of);
  return 1;
}

/* Only the run state is a copy's own. */
static void free_scratch(fm_wcset *set) {
  fm_free(set->seen);
  fm_free(set->res);
  fm_free(set->cand);
  fm_free(set->bits);
}

fm_wcset *fm_wcset_thread_copy(const fm_wcset *set) {
  fm_wcset *c = fm_malloc(sizeof *c);
  if (c == NULL) return NULL;
  memcpy(c, set, sizeof *c);
  c->owner = set;
  c->gen = 0;
  c->seen = fm_calloc(set->n + 1, sizeof(uint32_t));
  c->res = fm_malloc((set->n + 1) * sizeof(size_t));
  c->cand = fm_malloc((set->n + 1) * sizeof(uint32_t));
  c->bits = fm_calloc(set->n / 64 + 1, sizeof(uint64_t));
  if (!c->seen || !c->res || !c->cand || !c->bits) {
    free_scratch(c);
    fm_free(c);
    return NULL;
  }
  return c;
}

void fm_wcset_free(fm_wcset *set) {
  size_t k;
  if (set == NULL) return;
  if (set->owner != NULL) { /* a thread copy */
    free_scratch(set);
    fm_free(set);
    return;
  }
  for (k = 0; k < set->n; k++)
    fm_wc_free(set->plans[k]);
  fm_free(set->plans);
  fm_free(set->keys);
  fm_free(set->lk);
  for (k = 1; k <= 4; k++)
    if (set->g[k] != NULL) {
      fm_free(set->g[k]->gram);
      fm_free(set->g[k]->start);
      fm_free(set->g[k]->count);
      fm_free(set->g[k]);
    }
  trie_free(&set->pre);
  trie_free(&set->suf);
  fm_free(set->always);
  free_scratch(set);
  fm_ac_free(set->ac);
  fm_free(set->kinfo);
  fm_free(set);
}

size_t fm_wcset_size(const fm_wcset *set) { return set->n; }

size_t fm_wcset_literals(const fm_wcset *set, fm_literal *out, size_t cap) {
  size_t k;
  if (set->n == 0 || set->n > cap) return 0;
  for (k = 0; k < set->n; k++)
    if (!fm_wc_literal(set->plans[k], &out[k])) return 0;
  return set->n;
}
const size_t *fm_wcset_matches(const fm_wcset *set) { return set->res; }

static uint32_t gram_value(const char *s, size_t n) {
  uint32_t v = 0;
  size_t i;
  for (i = 0; i < n; i++)
    v = (v << 8) | fm_lower[(unsigned char)s[i]];
  return v;
}

static int lkey_cmp(const void *a, const void *b) {
  const lkey *x = a, *y = b;
  if (x->glen != y->glen) return x->glen < y->glen ? -1 : 1;
  if (x->gram != y->gram) return x->gram < y->gram ? -1 : 1;
  return x->plan < y->plan ? -1 : x->plan > y->plan;
}

/* How common a folded byte is in log lines and command lines (0..10): the
   scan's first filter looks at a gram's last two bytes, so rare ones are
   preferred there.  A table (it was four strchr per gram position): ' ' 10;
   "etaoinsr" 8; digits and "\\/.-:_" 7; "lcdhump" 6; "fgbyw" 4; 'v', 'k' 3;
   "xjqz" 1; bytes >= 0x80 2; any other 5. */
static const unsigned char weight_tab[256] = {
    5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5,
    5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5,
    10, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 5, 5, 5, 5, 5,
    5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5,
    5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 7, 5, 5, 7,
    5, 8, 4, 6, 6, 8, 4, 4, 6, 8, 1, 3, 6, 6, 8, 8,
    6, 1, 8, 8, 8, 6, 3, 4, 1, 4, 1, 5, 5, 5, 5, 5,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
};
static unsigned byte_weight(unsigned char c) { return weight_tab[c]; }

/* Build the gram tables from set->lk (already filled, unsorted). */
static int grams_build(fm_wcset *set) {
  size_t k, i;
  /* choose each key's gram: the one fewest other keys share (a cheap count
     over a hashed table of grams) */
  size_t cslots = 64, ctotal = 0, at;
  uint32_t *cgram, *ccount, *slot_of;
  for (k = 0; k < set->nlk; k++)
    ctotal += set->lk[k].klen;
  while (cslots < 2 * ctotal + 2)
    cslots *= 2;
  cgram = fm_malloc(cslots * sizeof(uint32_t));
  ccount = fm_calloc(cslots, sizeof(uint32_t));
  if (!cgram || !ccount) {
    fm_free(cgram);
    fm_free(ccount);
    return 0;
  }
#define CSLOT(v, glen, out)                                                    \
  do {                                                                         \
    /* the product's high bits: its low ones follow the gram's last byte \
       alone, and the probe runs grew to thousands (docs/startup.md) */     \
    uint64_t h_ = hash64((uint64_t)(v) ^ ((uint64_t)(glen) << 32));           \
    size_t j_ = (size_t)(h_ >> 32) & (cslots - 1);                             \
    while (ccount[j_] != 0 && cgram[j_] != (v))                                \
      j_ = (j_ + 1) & (cslots - 1);                                            \
    (out) = j_;                                                                \
  } while (0)
  /* each gram's slot, found once: the second pass reads it back instead
     of probing the (cache-missing) table again */
  slot_of = fm_malloc((ctotal + 1) * sizeof(uint32_t));
  if (slot_of == NULL) {
    fm_free(cgram);
    fm_free(ccount);
    return 0;
  }
  for (k = 0, at = 0; k < set->nlk; k++) {
    lkey *l = &set->lk[k];
    size_t glen = l->klen < 4 ? l->klen : 4, j;
    l->glen = glen;
    for (i = 0; i + glen <= l->klen; i++) {
      uint32_t v = gram_value(set->keys + l->key + i, glen);
      CSLOT(v, glen, j);
      cgram[j] = v, ccount[j]++;
      slot_of[at++] = (uint32_t)j;
    }
  }
  for (k = 0, at = 0; k < set->nlk; k++) {
    lkey *l = &set->lk[k];
    uint64_t best = UINT64_MAX;
    size_t j;
    for (i = 0; i + l->glen <= l->klen; i++) {
      uint32_t v = gram_value(set->keys + l->key + i, l->glen);
      uint64_t score;
      j = slot_of[at++];
      /* fewest keys sharing it first, then the rarest last two bytes */
      score = (uint64_t)ccount[j] * 64 + byte_weight(v & 0xFF) * 4 +
              byte_weight((v >> 8) & 0xFF) * 2 + byte_weight(v >> 16 & 0xFF) +
              byte_weight(v >> 24);
      if (score < best) best = score, l->goff = i, l->gram = v;
    }
  }
#undef CSLOT
  fm_free(slot_of);
  fm_free(cgram);
  fm_free(ccount);
  qsort(set->lk, set->nlk, sizeof(lkey), lkey_cmp);
  for (k = 0; k < set->nlk;) {
    size_t glen = set->lk[k].glen, e = k, ngrams = 0, slots = 16;
    gtab *t;
    while (e < set->nlk && set->lk[e].glen == glen) {
      if (e == k || set->lk[e].gram != set->lk[e - 1].gram) ngrams++;
      e++;
    }
    while (slots < 2 * ngrams)
      slots *= 2;
    t = set->g[glen] = fm_calloc(1, sizeof(gtab));
    if (t == NULL) return 0;
    for (t->bits = 0; ((size_t)1 << t->bits) < slots; t->bits++) {
    }
    t->gram = fm_malloc(slots * sizeof(uint32_t));
    t->start = fm_malloc(slots * sizeof(uint32_t));
    t->count = fm_calloc(slots, sizeof(uint32_t));
    if (!t->gram || !t->start || !t->count) return 0;
    for (i = k; i < e;) {
      uint32_t v = set->lk[i].gram, h = hash32(v);
      size_t j = h >> (32 - t->bits), run = i;
      while (run < e && set->lk[run].gram == v)
        run++;
      while (t->count[j] != 0)
        j = (j + 1) & (slots - 1);
      t->gram[j] = v, t->start[j] = (uint32_t)i,
      t->count[j] = (uint32_t)(run - i);
      t->bloom[(h >> 16) >> 6] |= (uint64_t)1 << ((h >> 16) & 63);
      if (glen == 1)
        set->single[v >> 6] |= (uint64_t)1 << (v & 63);
      else
        set->pair[(v & 0xFFFF) >> 6] |= (uint64_t)1 << (v & 63);
      i = run;
    }
    k = e;
  }
  return 1;
}

/* A plan with a literal byte >= 0x80 matches only subjects that have one:
   ASCII bytes never fold to non-ASCII ones (and KELVIN SIGN / LONG S, which
   fold to ASCII, are left out of folding, see wildcard.c). */
static int needs_high(const fm_wcplan *p) {
  size_t i;
  for (i = 0; i < p->nlit; i++)
    if ((unsigned char)p->lit[i] >= 0x80) return 1;
  return 0;
}

static int is_ascii(const unsigned char *s, size_t n) {
  uint64_t acc = 0;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    memcpy(&w, s + i, 8);
    acc |= w;
  }
  for (; i < n; i++)
    acc |= s[i];
  return (acc & 0x8080808080808080ull) == 0;
}

/* The automaton over the lkeys (in their sorted order: a hit's id is its
   lkey).  set:first and set:all take it: one pass over the subject reports
   every key occurrence, where the gram scan probes its tables at most
   bytes of a short command line once 15 006 keys make its first filter
   pass nearly every byte (callgrind: 265 instructions a byte on the
   SigmaHQ set).  set:test keeps the gram scan, which stops at the first
   confirmed hit. */
#define KI_CASED 0x80000000u
#define KI_CONFIRM 0x40000000u
#define KI_PLAN 0x3FFFFFFFu
static int ac_build(fm_wcset *set) {
  const char **keys;
  size_t *lens, k;
  if (set->nlk == 0 || set->n > KI_PLAN) return 1; /* (the gram scan then) */
  keys = (const char **)fm_malloc(set->nlk * sizeof *keys);
  lens = (size_t *)fm_malloc(set->nlk * sizeof *lens);
  set->kinfo = (uint32_t *)fm_malloc(set->nlk * sizeof(uint32_t));
  if (keys != NULL && lens != NULL && set->kinfo != NULL) {
    for (k = 0; k < set->nlk; k++) {
      const lkey *l = &set->lk[k];
      keys[k] = set->keys + l->key, lens[k] = l->klen;
      set->kinfo[k] = l->plan | (set->plans[l->plan]->cased ? KI_CASED : 0) |
                      (l->confirm ? KI_CONFIRM : 0);
    }
    set->ac = fm_ac_new(keys, lens, set->nlk);
  }
  fm_free(keys);
  fm_free(lens);
  return set->ac != NULL;
}

fm_wcset *fm_wcset_new(fm_wcplan **plans, size_t n) {
  fm_wcset *set = fm_calloc(1, sizeof *set);
  tkey *pk = NULL, *sk = NULL;
  size_t npk = 0, nsk = 0, k, keybytes = 0, nkeys = 0;
  int ok = 0;
  if (set == NULL) goto fail;
  set->plans = plans, set->n = n;
  for (k = 0; k < n; k++)
    keybytes += plans[k]->nlit;
  set->keys = fm_malloc(keybytes + 1);
  set->lk = fm_malloc((n + 1) * sizeof(lkey));
  set->always = fm_malloc((n + 1) * sizeof(uint32_t));
  set->seen = fm_calloc(n + 1, sizeof(uint32_t));
  set->res = fm_malloc((n + 1) * sizeof(size_t));
  set->cand = fm_malloc((n + 1) * sizeof(uint32_t));
  set->bits = fm_calloc(n / 64 + 1, sizeof(uint64_t));
  pk = fm_malloc((n + 1) * sizeof(tkey));
  sk = fm_malloc((n + 1) * sizeof(tkey));
  if (!set->keys || !set->lk || !set->always || !set->seen || !set->res ||
      !set->cand || !set->bits || !pk || !sk)
    goto fail;
  for (k = 0; k < n; k++) {
    fm_wcplan *p = plans[k];
    size_t len;
    if (!p->umode && (p->kind == K_EXACT || p->kind == K_PREFIX ||
                      p->kind == K_PREFIX_SUFFIX)) {
      pk[npk].s = p->a, pk[npk].n = p->na, pk[npk].plan = (uint32_t)k;
      pk[npk++].rev = 0;
      continue;
    }
    if (!p->umode && p->kind == K_SUFFIX) {
      sk[nsk].s = p->b, sk[nsk].n = p->nb, sk[nsk].plan = (uint32_t)k;
      sk[nsk++].rev = 1;
      continue;
    }
    len = p->nreq; /* the plan's required literal (wildcard.c) */
    memcpy(set->keys + nkeys, p->req, len);
    if (len == 0) {
      set->always[set->nalways++] = (uint32_t)k;
      continue;
    }
    set->lk[set->nlk].plan = (uint32_t)k;
    set->lk[set->nlk].confirm = !p->umode && p->kind == K_CONTAINS;
    set->lk[set->nlk].key = nkeys, set->lk[set->nlk].klen = len;
    set->nlk++;
    nkeys += len;
  }
  { /* the always list: ASCII-capable plans first, in index order (the
       SigmaHQ set has 50 homoglyph patterns such as "*А*": no ASCII
       subject can match them, and trying each cost a quarter of set:all) */
    size_t a = 0, b;
    uint32_t *tmp = fm_malloc((set->nalways + 1) * sizeof(uint32_t));
    if (tmp == NULL) goto fail;
    for (b = 0; b < set->nalways; b++)
      if (!needs_high(set->plans[set->always[b]])) tmp[a++] = set->always[b];
    set->nalways_ascii = a;
    for (b = 0; b < set->nalways; b++)
      if (needs_high(set->plans[set->always[b]])) tmp[a++] = set->always[b];
    memcpy(set->always, tmp, set->nalways * sizeof(uint32_t));
    fm_free(tmp);
  }
  if (!trie_build(&set->pre, pk, npk) || !trie_build(&set->suf, sk, nsk) ||
      !grams_build(set) || !ac_build(set))
    goto fail;
  ok = 1;
fail:
  fm_free(pk);
  fm_free(sk);
  if (!ok) {
    if (set != NULL)
      fm_wcset_free(set);
    else {
      for (k = 0; k < n; k++)
        fm_wc_free(plans[k]);
      fm_free(plans);
    }
    return NULL;
  }
  return set;
}

/* One hit on plan k; returns 1 when an FM_SET_ANY run may stop. */
static int set_hit(fm_wcset *set, uint32_t k, int confirmed, const char *s,
                   size_t n, int mode) {
  if (set->seen[k] == set->gen) return 0;
  set->seen[k] = set->gen;
  if (!confirmed) {
    if (mode != FM_SET_ANY) {
      set->cand[set->ncand++] = k;
      return 0;
    }
    confirmed = fm_wc_match(set->plans[k], s, n);
  }
  if (!confirmed) return 0;
  set->res[set->nres++] = k;
  return mode == FM_SET_ANY;
}

static int trie_walk(fm_wcset *set, const trie *t, const unsigned char *s,
                     size_t n, int rev, int mode) {
  size_t node = 0, d = 0, i;
  for (;;) {
    for (i = 0; i < t->tcount[node]; i++) {
      uint32_t k = t->term[t->tstart[node] + i];
      const fm_wcplan *p = set->plans[k];
      int exact = p->kind == K_EXACT;
      if (exact && d != n) continue;
      /* the walk compared ASCII-folded bytes: that proves a caseless
         exact/prefix/suffix plan; cased ones and prefix_suffix get tested */
      if (set_hit(set, k, !p->cased && p->kind != K_PREFIX_SUFFIX,
                  (const char *)s, n, mode))
        return 1;
    }
    if (d >= n || d >= t->maxdepth) return 0;
    node = trie_child(t, node, fm_lower[s[rev ? n - 1 - d : d]]);
    if (node == 0) return 0;
    d++;
  }
}

/* Probe the grams of length glen ending at s[i] (w: the folded bytes). */
static int gram_probe(fm_wcset *set, const unsigned char *s, size_t n, size_t i,
                      uint32_t w, size_t glen, int mode) {
  static const uint32_t gmask[5] = {0, 0xFF, 0xFFFF, 0xFFFFFF, 0xFFFFFFFF};
  const gtab *t = set->g[glen];
  uint32_t v, h;
  size_t j, r;
  if (t == NULL || i + 1 < glen) return 0;
  v = w & gmask[glen], h = hash32(v);
  if (!(t->bloom[(h >> 16) >> 6] & ((uint64_t)1 << ((h >> 16) & 63)))) return 0;
  j = h >> (32 - t->bits);
  while (t->count[j] != 0 && t->gram[j] != v)
    j = (j + 1) & (((size_t)1 << t->bits) - 1);
  if (t->count[j] == 0) return 0;
  for (r = t->start[j]; r < t->start[j] + t->count[j]; r++) {
    const lkey *l = &set->lk[r];
    size_t gs = i + 1 - glen, ks;
    const fm_wcplan *p = set->plans[l->plan];
    if (set->seen[l->plan] == set->gen || l->goff > gs) continue;
    ks = gs - l->goff;
    if (l->klen > n - ks) continue;
    if (p->cased
            ? memcmp(s + ks, set->keys + l->key, l->klen) != 0
            : !fm_iequal((const char *)s + ks, set->keys + l->key, l->klen))
      continue;
    if (set_hit(set, l->plan, l->confirm, (const char *)s, n, mode)) return 1;
  }
  return 0;
}

/* The single pass: a rolling word of the last four folded bytes; two bit
   tables reject most offsets before any hashing. */
static int gram_scan(fm_wcset *set, const unsigned char *s, size_t n,
                     int mode) {
  const uint64_t *pair = set->pair, *single = set->single;
  uint32_t w = 0;
  size_t i;
  if (set->nlk == 0) return 0;
  for (i = 0; i < n; i++) {
    uint32_t pr;
    w = (w << 8) | fm_lower[s[i]];
    pr = w & 0xFFFF; /* at i = 0 a pair hit is harmless: probes check i */
    if ((pair[pr >> 6] >> (pr & 63)) & 1) {
      if (gram_probe(set, s, n, i, w, 2, mode) ||
          gram_probe(set, s, n, i, w, 3, mode) ||
          gram_probe(set, s, n, i, w, 4, mode))
        return 1;
    }
    /* single[] is all zero when no key has a one-byte gram */
    if ((single[(w & 0xFF) >> 6] >> (w & 63)) & 1 &&
        gram_probe(set, s, n, i, w, 1, mode))
      return 1;
  }
  return 0;
}

/* Sorting plan indexes (distinct, below set->n): insertion for a few, else
   through the set's bitmap -- one pass over n/64 words, where qsort took a
   fifth of set:all on the SigmaHQ set (81 results an event, callgrind). */
#define SORT_FEW 24
/* One body for both element types (the candidates are uint32_t, the
   results size_t): a macro, as C has no generics. */
#define DEFINE_SORT(name, T)                                                   \
  static void name(fm_wcset *set, T *a, size_t m) {                            \
    size_t i, j, w;                                                            \
    if (m <= SORT_FEW) {                                                       \
      for (i = 1; i < m; i++) {                                                \
        T x = a[i];                                                            \
        for (j = i; j > 0 && a[j - 1] > x; j--)                                \
          a[j] = a[j - 1];                                                     \
        a[j] = x;                                                              \
      }                                                                        \
      return;                                                                  \
    }                                                                          \
    for (i = 0; i < m; i++)                                                    \
      set->bits[a[i] >> 6] |= (uint64_t)1 << (a[i] & 63);                      \
    for (w = 0, j = 0; j < m; w++)                                             \
      while (set->bits[w] != 0) {                                              \
        a[j++] = (T)(w * 64 + (size_t)__builtin_ctzll(set->bits[w]));          \
        set->bits[w] &= set->bits[w] - 1;                                      \
      }                                                                        \
  }
DEFINE_SORT(sort_u32, uint32_t)
DEFINE_SORT(sort_size, size_t)
#undef DEFINE_SORT

/* An occurrence of lkey id ending at end: under ASCII folding already;
   a cased plan's key is compared byte for byte. */
typedef struct acrun {
  fm_wcset *set;
  const unsigned char *s;
  size_t n;
  int mode;
} acrun;

static int ac_hit(void *ud, uint32_t id, size_t end) {
  acrun *c = (acrun *)ud;
  fm_wcset *set = c->set;
  uint32_t ki = set->kinfo[id], plan = ki & KI_PLAN;
  if (set->seen[plan] == set->gen) return 0;
  if (ki & KI_CASED) {
    const lkey *l = &set->lk[id];
    if (memcmp(c->s + end - l->klen, set->keys + l->key, l->klen) != 0)
      return 0;
  }
  return set_hit(set, plan, (ki & KI_CONFIRM) != 0, (const char *)c->s, c->n,
                 c->mode);
}

static int literal_scan(fm_wcset *set, const unsigned char *s, size_t n,
                        int mode) {
  acrun c;
  if (mode == FM_SET_ANY || set->ac == NULL) return gram_scan(set, s, n, mode);
  c.set = set, c.s = s, c.n = n, c.mode = mode;
  return fm_ac_scan(set->ac, (const char *)s, n, ac_hit, &c);
}

size_t fm_wcset_run(fm_wcset *set, const char *s, size_t n, int mode) {
  const unsigned char *u = (const unsigned char *)s;
  size_t k, best = SIZE_MAX, lim;
  if (++set->gen == 0) { /* wrapped: forget every stamp */
    memset(set->seen, 0, (set->n + 1) * sizeof(uint32_t));
    set->gen = 1;
  }
  set->nres = set->ncand = 0;
  if (trie_walk(set, &set->pre, u, n, 0, mode) ||
      trie_walk(set, &set->suf, u, n, 1, mode) ||
      literal_scan(set, u, n, mode))
    return 1;
  for (k = 0, lim = is_ascii(u, n) ? set->nalways_ascii : set->nalways;
       k < lim; k++)
    if (set_hit(set, set->always[k], 0, s, n, mode)) return 1;
  if (mode == FM_SET_ANY) return 0;
  if (mode == FM_SET_FIRST) {
    for (k = 0; k < set->nres; k++)
      if (set->res[k] < best) best = set->res[k];
    sort_u32(set, set->cand, set->ncand);
    for (k = 0; k < set->ncand && set->cand[k] < best; k++)
      if (fm_wc_match(set->plans[set->cand[k]], s, n))
        return (size_t)set->cand[k] + 1;
    return best == SIZE_MAX ? 0 : best + 1;
  }
  for (k = 0; k < set->ncand; k++)
    if (fm_wc_match(set->plans[set->cand[k]], s, n))
      set->res[set->nres++] = set->cand[k];
  sort_size(set, set->res, set->nres);
  return set->nres;
}

/* ---------------------------------------------------------------------
** Lua binding: fm.set
** ------------------------------------------------------------------- */
#define SET_LITS 64 /* literals the block search takes (FM_LITSET_MAX) */
typedef struct set_ud {
  fm_matcher base;
  fm_wcset *set;
  fm_literal lits[SET_LITS]; /* the block search's, pointing into plans */
  size_t nlits;
} set_ud;

static int set_testfn(fm_matcher *m, const char *s, size_t n) {
  return (int)fm_wcset_run(((set_ud *)m)->set, s, n, FM_SET_ANY);
}

/* The line filter's extras: the plans' required literals when every plan
   has one and there are few (the block search's multi-literal loop; a big
   set is faster line by line through its own gram index); and thread
   copies, which share the set's tables and keep their own run state. */
static size_t set_literals(fm_matcher *m, const fm_literal **lits) {
  set_ud *u = (set_ud *)m;
  *lits = u->lits;
  return u->nlits;
}

typedef struct set_copy {
  fm_matcher base;
  fm_wcset *set;
} set_copy;

static int set_copy_testfn(fm_matcher *m, const char *s, size_t n) {
  return (int)fm_wcset_run(((set_copy *)m)->set, s, n, FM_SET_ANY);
}

static fm_matcher *set_thread_copy(fm_matcher *m) {
  set_copy *c = fm_calloc(1, sizeof *c);
  if (c == NULL) return NULL;
  c->set = fm_wcset_thread_copy(((set_ud *)m)->set);
  if (c->set == NULL) {
    fm_free(c);
    return NULL;
  }
  c->base.test = set_copy_testfn;
  return &c->base;
}

static void set_thread_drop(fm_matcher *m, fm_matcher *copy) {
  (void)m;
  if (copy == NULL) return;
  fm_wcset_free(((set_copy *)copy)->set);
  fm_free(copy);
}

static const fm_matcher_ops set_ops = {set_literals, set_thread_copy,
                                       set_thread_drop};

/* Methods are closures whose upvalue 1 is their class's metatable: checking
   self is then one rawequal, no registry lookup (this is the hot path of
   w:test(s) in a Lua loop). */
static void *check_self(lua_State *L, const char *tname) {
  void *u = lua_touserdata(L, 1);
  if (u != NULL && lua_getmetatable(L, 1)) {
    int ok = lua_rawequal(L, -1, lua_upvalueindex(1));
    lua_pop(L, 1);
    /* __gc ran (an object resurrected by another finalizer): its plan is
       gone, so say so instead of touching freed memory. */
    if (ok && ((fm_matcher *)u)->test == NULL)
      luaL_error(L, "fastmatch: %s used after it was garbage-collected", tname);
    if (ok) return u;
  }
  luaL_typeerror(L, 1, tname);
  return NULL;
}

/* fm.set(list [, opts]) */
static int l_set(lua_State *L) {
  lua_Integer len, i;
  int flags;
  fm_wcplan **plans;
  set_ud *u;
  luaL_checktype(L, 1, LUA_TTABLE);
  flags = fm_wc_checkopts(L, 2);
  len = luaL_len(L, 1);
  for (i = 1; i <= len; i++) { /* check every entry before allocating */
    if (lua_geti(L, 1, i) != LUA_TSTRING) {
      lua_pushfstring(L, "string expected at index %I, got %s", i,
                      luaL_typename(L, -1));
      return luaL_argerror(L, 1, lua_tostring(L, -1));
    }
    lua_pop(L, 1);
  }
  if ((size_t)len >= UINT32_MAX / 2)
    return luaL_error(L, "fastmatch: too many patterns in one set");
  u = (set_ud *)lua_newuserdatauv(L, sizeof *u, 1);
  u->base.test = NULL, u->set = NULL, u->base.ops = NULL, u->nlits = 0;
  luaL_setmetatable(L, SET_MT);
  plans = fm_calloc((size_t)len + 1, sizeof *plans);
  if (plans == NULL) return luaL_error(L, "fastmatch: not enough memory");
  for (i = 1; i <= len; i++) {
    size_t n;
    const char *p;
    lua_geti(L, 1, i);
    p = lua_tolstring(L, -1, &n);
    plans[i - 1] = fm_wc_compile(p, n, flags);
    lua_pop(L, 1);
    if (plans[i - 1] == NULL) {
      while (--i > 0)
        fm_wc_free(plans[i - 1]);
      fm_free(plans);
      return luaL_error(L, "fastmatch: not enough memory");
    }
  }
  u->set = fm_wcset_new(plans, (size_t)len);
  if (u->set == NULL) return luaL_error(L, "fastmatch: not enough memory");
  u->base.test = set_testfn;
  u->nlits = fm_wcset_literals(u->set, u->lits, SET_LITS);
  u->base.ops = &set_ops;
  lua_pushvalue(L, 1); /* keep the list: set.patterns */
  lua_setiuservalue(L, -2, 1);
  return 1;
}

#define check_set(L) ((set_ud *)check_self(L, SET_MT))

static int set_test(lua_State *L) {
  set_ud *u = check_set(L);
  size_t n;
  const char *s = luaL_checklstring(L, 2, &n);
  lua_pushboolean(L, fm_wcset_run(u->set, s, n, FM_SET_ANY) != 0);
  return 1;
}

static int set_first(lua_State *L) {
  set_ud *u = check_set(L);
  size_t n, r;
  const char *s = luaL_checklstring(L, 2, &n);
  r = fm_wcset_run(u->set, s, n, FM_SET_FIRST);
  if (r == 0)
    lua_pushnil(L);
  else
    lua_pushinteger(L, (lua_Integer)r);
  return 1;
}

/* set:all(s [, into]) -> indices, count.  With `into` the indices go to
   into[1 .. count] and into[count + 1] becomes nil: a caller that probes
   many values reuses one table, and needs no set:test first (on a miss both
   scan the same way). */
static int set_all(lua_State *L) {
  set_ud *u = check_set(L);
  size_t n, r, k;
  const char *s = luaL_checklstring(L, 2, &n);
  const size_t *m;
  int into = !lua_isnoneornil(L, 3);
  if (into) luaL_checktype(L, 3, LUA_TTABLE);
  r = fm_wcset_run(u->set, s, n, FM_SET_ALL);
  m = fm_wcset_matches(u->set);
  if (into)
    lua_settop(L, 3);
  else
    lua_createtable(L, (int)(r < INT_MAX ? r : INT_MAX), 0);
  for (k = 0; k < r; k++) {
    lua_pushinteger(L, (lua_Integer)m[k] + 1);
    lua_rawseti(L, -2, (lua_Integer)k + 1);
  }
  if (into) {
    lua_pushnil(L);
    lua_rawseti(L, -2, (lua_Integer)r + 1);
  }
  lua_pushinteger(L, (lua_Integer)r);
  return 2;
}

static int set_len(lua_State *L) {
  set_ud *u = (set_ud *)luaL_checkudata(L, 1, SET_MT);
  lua_pushinteger(L, u->set != NULL ? (lua_Integer)fm_wcset_size(u->set) : 0);
  return 1;
}

static int set_index(lua_State *L) {
  const char *k;
  lua_settop(L, 2);
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(2)) != LUA_TNIL) return 1;
  check_set(L);
  k = lua_tostring(L, 2);
  if (k != NULL && strcmp(k, "patterns") == 0)
    lua_getiuservalue(L, 1, 1);
  else
    lua_pushnil(L);
  return 1;
}

static int set_tostring(lua_State *L) {
  set_ud *u = (set_ud *)luaL_checkudata(L, 1, SET_MT);
  lua_pushfstring(L, "fastmatch.set(%d patterns)",
                  u->set != NULL ? (int)fm_wcset_size(u->set) : 0);
  return 1;
}

static int set_gc(lua_State *L) {
  set_ud *u = (set_ud *)luaL_checkudata(L, 1, SET_MT);
  fm_wcset_free(u->set);
  u->set = NULL, u->base.test = NULL;
  return 0;
}

/* The fm.set at idx: a pointer to its set (NULL once collected: a
   finalizer run by hand, which callers holding it must check), or NULL when
   the value is not a set. */
fm_wcset **fm_setref(lua_State *L, int idx) {
  set_ud *u = (set_ud *)luaL_testudata(L, idx, SET_MT);
  return u != NULL ? &u->set : NULL;
}

static const luaL_Reg set_methods[] = {
    {"test", set_test}, {"first", set_first}, {"all", set_all}, {NULL, NULL}};
static const luaL_Reg set_meta[] = {{"__len", set_len},
                                    {"__tostring", set_tostring},
                                    {"__gc", set_gc},
                                    {NULL, NULL}};

static const luaL_Reg set_funcs[] = {{"set", l_set}, {NULL, NULL}};

void fm_open_sets(lua_State *L) {
  fm_matcherclass(L, SET_MT, set_methods, set_meta, set_index);
  fm_setfuncs(L, set_funcs);
}

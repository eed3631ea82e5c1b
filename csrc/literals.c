/*
** literals.c -- multi-literal search: the first offset in a haystack at
** which any of a few literals occurs, exact or ASCII-caseless per literal.
** It is the block search's finder (lines.c): a line filter whose matcher
** requires one of these literals searches whole buffers with it and tests
** only the lines around its hits.
**
** One literal is one call of search.c's kernels (memchr/memmem, or the
** SIMD caseless search).  A few literals are searched one after another,
** each only before the best hit so far, so the cost is at most one pass
** per literal over the part of the haystack before the first hit; more
** (up to FM_LITSET_MAX) go through the Aho-Corasick automaton below, one
** pass for all.  For more still the matcher's own per-line test (a set's
** gram index) wins, and fm_litset_new declines.
*/
#include <stdint.h>
#include <string.h>

#include "fastmatch.h"

#define FM_LITSET_LOOP 8 /* up to this many: one search each */
#define FM_LITSET_MAX 64 /* up to this many: the automaton below */

struct fm_litset {
  size_t n;
  fm_literal *lit;
  char *bytes; /* the literals' bytes, owned */
  fm_ac *ac;   /* more than FM_LITSET_LOOP literals */
};

void fm_litset_free(fm_litset *set) {
  if (set == NULL) return;
  fm_free(set->lit);
  fm_free(set->bytes);
  fm_ac_free(set->ac);
  fm_free(set);
}

fm_litset *fm_litset_new(const fm_literal *lits, size_t n) {
  fm_litset *set;
  size_t k, total = 0, off = 0;
  if (n == 0 || n > FM_LITSET_MAX) return NULL;
  for (k = 0; k < n; k++) {
    if (lits[k].n == 0) return NULL;
    total += lits[k].n;
  }
  set = (fm_litset *)fm_calloc(1, sizeof *set);
  if (set == NULL) return NULL;
  set->bytes = (char *)fm_malloc(total);
  set->lit = (fm_literal *)fm_malloc(n * sizeof(fm_literal));
  if (set->bytes == NULL || set->lit == NULL) {
    fm_litset_free(set);
    return NULL;
  }
  set->n = n;
  for (k = 0; k < n; k++) {
    memcpy(set->bytes + off, lits[k].s, lits[k].n);
    set->lit[k].s = set->bytes + off;
    set->lit[k].n = lits[k].n;
    set->lit[k].caseless = lits[k].caseless;
    off += lits[k].n;
  }
  if (n > FM_LITSET_LOOP) {
    const char *keys[FM_LITSET_MAX];
    size_t lens[FM_LITSET_MAX];
    for (k = 0; k < n; k++)
      keys[k] = set->lit[k].s, lens[k] = set->lit[k].n;
    set->ac = fm_ac_new(keys, lens, n);
    if (set->ac == NULL) {
      fm_litset_free(set);
      return NULL;
    }
  }
  return set;
}

static size_t find_one(const fm_literal *l, const char *hay, size_t n) {
  return l->caseless ? fm_isearch(hay, n, l->s, l->n)
                     : fm_search(hay, n, l->s, l->n);
}

/* The automaton's first occurrence that is one: a cased literal's bytes
   are compared as they are.  Occurrences come in order of their end, so
   no literal lies wholly before the one found. */
typedef struct acfind {
  const fm_litset *set;
  const char *hay;
  size_t at;
} acfind;

static int acfind_hit(void *ud, uint32_t key, size_t end) {
  acfind *f = (acfind *)ud;
  const fm_literal *l = &f->set->lit[key];
  if (!l->caseless && memcmp(f->hay + end - l->n, l->s, l->n) != 0) return 0;
  f->at = end - l->n;
  return 1;
}

size_t fm_litset_find(const void *ud, const char *hay, size_t n) {
  const fm_litset *set = (const fm_litset *)ud;
  size_t k, best = FM_NOTFOUND, lim = n;
  if (set->ac != NULL) {
    acfind f;
    f.set = set, f.hay = hay, f.at = FM_NOTFOUND;
    fm_ac_scan(set->ac, hay, n, acfind_hit, &f);
    return f.at;
  }
  for (k = 0; k < set->n; k++) {
    /* a hit must start before the best one: search hay[0, best + len) */
    size_t at = find_one(&set->lit[k], hay, lim);
    if (at != FM_NOTFOUND && (best == FM_NOTFOUND || at < best)) {
      best = at;
      if (best == 0) break;
    }
    if (best != FM_NOTFOUND && k + 1 < set->n) {
      size_t nl = set->lit[k + 1].n;
      lim = best + nl - 1 < n ? best + nl - 1 : n;
    }
  }
  return best;
}

/* =====================================================================
** Aho-Corasick over ASCII-folded keys: every occurrence of every key in
** one pass over the subject.  Keys are folded (fm_lower) when built and
** the subject is folded as it is read, so a hit is an occurrence under
** ASCII folding; a caller with exact keys compares the bytes itself.
** Built through a hashed edge table ((node << 8 | byte) -> child), then
** laid out for the scan: each node's children sorted in one run of a
** byte array (most nodes of a long key have one), a dense row for the
** few nodes with many children (the root among them).  The hashed table
** alone scanned in fewer instructions but slower -- a cache miss a byte on
** the SigmaHQ set's 77 000 nodes.  Failure links and dictionary links
** (the nearest state on the failure chain that ends a key) come from a
** breadth-first walk.
** =================================================================== */
#define AC_DENSE 12 /* children from which a node gets a dense row */
struct fm_ac {
  size_t nnodes, mask;   /* build-time edge table: mask + 1 slots */
  uint64_t *ekey;        /* (parent << 8 | byte) + 1; 0 = empty slot */
  uint32_t *echild;
  uint32_t root[256];    /* the root's children (0 = none: stay at root) */
  uint32_t *fail, *dict; /* per node; dict 0 = none */
  uint32_t *ostart, *ocount, *out; /* per node: the key ids ending here */
  /* the scan's goto: node k's children are cnode[cfirst[k] ..
     + cnum[k]) by byte cbyte[...], or row crow[k] - 1 of rows (dense) */
  uint32_t *cfirst, *cnode, *crow, *rows;
  uint8_t *cnum, *cbyte;
  /* ... then packed so that a step reads one node record and one run of
     edges (the scan is bound by load latency, not by instructions) */
  struct acnode *node;
  uint64_t *edge; /* child << 8 | byte, each node's run sorted by byte */
};

typedef struct acnode {
  uint32_t first; /* its edges' run, or its dense row */
  uint32_t fail, dict;
  uint16_t num;  /* edges in the run */
  uint8_t dense; /* first is a row of rows */
  uint8_t out;   /* keys end here */
} acnode;

static uint64_t ac_hash(uint64_t v) { return v * 0x9E3779B97F4A7C15ull; }

static uint32_t ac_child(const fm_ac *ac, uint32_t node, unsigned c) {
  uint64_t k = ((uint64_t)node << 8 | c) + 1;
  size_t j = (size_t)(ac_hash(k) >> 20) & ac->mask;
  for (;;) {
    if (ac->ekey[j] == k) return ac->echild[j];
    if (ac->ekey[j] == 0) return 0;
    j = (j + 1) & ac->mask;
  }
}

static void ac_setchild(fm_ac *ac, uint32_t node, unsigned c, uint32_t child) {
  uint64_t k = ((uint64_t)node << 8 | c) + 1;
  size_t j = (size_t)(ac_hash(k) >> 20) & ac->mask;
  while (ac->ekey[j] != 0)
    j = (j + 1) & ac->mask;
  ac->ekey[j] = k, ac->echild[j] = child;
}

void fm_ac_free(fm_ac *ac) {
  if (ac == NULL) return;
  fm_free(ac->ekey);
  fm_free(ac->echild);
  fm_free(ac->cfirst);
  fm_free(ac->cnode);
  fm_free(ac->crow);
  fm_free(ac->rows);
  fm_free(ac->cnum);
  fm_free(ac->cbyte);
  fm_free(ac->node);
  fm_free(ac->edge);
  fm_free(ac->fail);
  fm_free(ac->dict);
  fm_free(ac->ostart);
  fm_free(ac->ocount);
  fm_free(ac->out);
  fm_free(ac);
}

fm_ac *fm_ac_new(const char *const *keys, const size_t *lens, size_t n) {
  fm_ac *ac = (fm_ac *)fm_calloc(1, sizeof *ac);
  size_t total = 1, k, i, slots = 16, nn = 1;
  uint32_t *par = NULL, *first = NULL, *next = NULL, *queue = NULL;
  unsigned char *byte = NULL;
  if (ac == NULL) return NULL;
  for (k = 0; k < n; k++)
    total += lens[k];
  if (total >= UINT32_MAX / 2) goto fail;
  while (slots < 2 * total)
    slots *= 2;
  ac->mask = slots - 1;
  ac->ekey = (uint64_t *)fm_calloc(slots, sizeof(uint64_t));
  ac->echild = (uint32_t *)fm_malloc(slots * sizeof(uint32_t));
  ac->fail = (uint32_t *)fm_calloc(total, sizeof(uint32_t));
  ac->dict = (uint32_t *)fm_calloc(total, sizeof(uint32_t));
  ac->ostart = (uint32_t *)fm_calloc(total + 1, sizeof(uint32_t));
  ac->ocount = (uint32_t *)fm_calloc(total, sizeof(uint32_t));
  ac->out = (uint32_t *)fm_malloc((n + 1) * sizeof(uint32_t));
  par = (uint32_t *)fm_calloc(n + 1, sizeof(uint32_t)); /* key -> end node */
  first = (uint32_t *)fm_calloc(total, sizeof(uint32_t)); /* child lists */
  next = (uint32_t *)fm_calloc(total, sizeof(uint32_t));
  byte = (unsigned char *)fm_calloc(total, 1);
  queue = (uint32_t *)fm_malloc(total * sizeof(uint32_t));
  if (!ac->ekey || !ac->echild || !ac->fail || !ac->dict || !ac->ostart ||
      !ac->ocount || !ac->out || !par || !first || !next || !byte || !queue)
    goto fail;
  /* the trie */
  for (k = 0; k < n; k++) {
    uint32_t node = 0;
    for (i = 0; i < lens[k]; i++) {
      unsigned c = fm_lower[(unsigned char)keys[k][i]];
      uint32_t ch = node == 0 ? ac->root[c] : ac_child(ac, node, c);
      if (ch == 0) {
        ch = (uint32_t)nn++;
        if (node == 0)
          ac->root[c] = ch;
        else
          ac_setchild(ac, node, c, ch);
        byte[ch] = (unsigned char)c;
        next[ch] = first[node], first[node] = ch;
      }
      node = ch;
    }
    par[k] = node;
    ac->ocount[node]++;
  }
  ac->nnodes = nn;
  /* outputs grouped by node */
  for (i = 0, total = 0; i < nn; i++) {
    ac->ostart[i] = (uint32_t)total;
    total += ac->ocount[i];
    ac->ocount[i] = 0;
  }
  for (k = 0; k < n; k++) {
    uint32_t node = par[k];
    ac->out[ac->ostart[node] + ac->ocount[node]++] = (uint32_t)k;
  }
  /* failure and dictionary links, breadth first */
  {
    size_t qh = 0, qt = 0;
    uint32_t ch;
    for (ch = first[0]; ch != 0; ch = next[ch])
      queue[qt++] = ch; /* fail = 0 */
    while (qh < qt) {
      uint32_t node = queue[qh++];
      for (ch = first[node]; ch != 0; ch = next[ch]) {
        unsigned c = byte[ch];
        uint32_t f = ac->fail[node], g;
        for (;;) {
          g = f == 0 ? ac->root[c] : ac_child(ac, f, c);
          if (g != 0 || f == 0) break;
          f = ac->fail[f];
        }
        ac->fail[ch] = g;
        ac->dict[ch] = ac->ocount[g] > 0 ? g : ac->dict[g];
        queue[qt++] = ch;
      }
    }
  }
  /* the scan's layout */
  {
    size_t ndense = 0, e = 0;
    uint32_t node, ch;
    ac->cfirst = (uint32_t *)fm_malloc(nn * sizeof(uint32_t));
    ac->crow = (uint32_t *)fm_calloc(nn, sizeof(uint32_t));
    ac->cnum = (uint8_t *)fm_calloc(nn, 1);
    ac->cnode = (uint32_t *)fm_malloc(nn * sizeof(uint32_t));
    ac->cbyte = (uint8_t *)fm_malloc(nn);
    if (!ac->cfirst || !ac->crow || !ac->cnum || !ac->cnode || !ac->cbyte)
      goto fail;
    for (node = 0; node < nn; node++) {
      size_t m = 0;
      for (ch = first[node]; ch != 0; ch = next[ch])
        m++;
      if (m >= AC_DENSE) ac->crow[node] = (uint32_t)++ndense;
    }
    ac->rows = (uint32_t *)fm_calloc(ndense * 256 + 1, sizeof(uint32_t));
    if (ac->rows == NULL) goto fail;
    for (node = 0; node < nn; node++) {
      size_t m = 0, a, b;
      ac->cfirst[node] = (uint32_t)e;
      for (ch = first[node]; ch != 0; ch = next[ch]) {
        if (ac->crow[node] != 0)
          ac->rows[(ac->crow[node] - 1) * 256 + byte[ch]] = ch;
        else
          ac->cbyte[e + m] = byte[ch], ac->cnode[e + m] = ch, m++;
      }
      for (a = 1; a < m; a++) /* by byte: a node's few children */
        for (b = a; b > 0 && ac->cbyte[e + b - 1] > ac->cbyte[e + b]; b--) {
          uint8_t tb = ac->cbyte[e + b];
          uint32_t tn = ac->cnode[e + b];
          ac->cbyte[e + b] = ac->cbyte[e + b - 1];
          ac->cnode[e + b] = ac->cnode[e + b - 1];
          ac->cbyte[e + b - 1] = tb, ac->cnode[e + b - 1] = tn;
        }
      ac->cnum[node] = (uint8_t)m;
      e += m;
    }
    fm_free(ac->ekey);
    fm_free(ac->echild);
    ac->ekey = NULL, ac->echild = NULL;
    /* pack */
    ac->node = (acnode *)fm_malloc(nn * sizeof(acnode));
    ac->edge = (uint64_t *)fm_malloc((e + 1) * sizeof(uint64_t));
    if (ac->node == NULL || ac->edge == NULL) goto fail;
    for (i = 0; i < e; i++)
      ac->edge[i] = (uint64_t)ac->cnode[i] << 8 | ac->cbyte[i];
    for (node = 0; node < nn; node++) {
      acnode *q = &ac->node[node];
      q->dense = ac->crow[node] != 0;
      q->first = q->dense ? ac->crow[node] - 1 : ac->cfirst[node];
      q->num = ac->cnum[node];
      q->fail = ac->fail[node], q->dict = ac->dict[node];
      q->out = ac->ocount[node] > 0;
    }
    fm_free(ac->cfirst);
    fm_free(ac->cnode);
    fm_free(ac->crow);
    fm_free(ac->cnum);
    fm_free(ac->cbyte);
    ac->cfirst = ac->cnode = ac->crow = NULL;
    ac->cnum = ac->cbyte = NULL;
  }
  fm_free(par);
  fm_free(first);
  fm_free(next);
  fm_free(byte);
  fm_free(queue);
  return ac;
fail:
  fm_free(par);
  fm_free(first);
  fm_free(next);
  fm_free(byte);
  fm_free(queue);
  fm_ac_free(ac);
  return NULL;
}

/* The scan's goto: 0 when q has no child by c. */
static inline uint32_t ac_go(const fm_ac *ac, const acnode *q, unsigned c) {
  const uint64_t *e;
  uint32_t k;
  if (q->dense) return ac->rows[(size_t)q->first * 256 + c];
  e = ac->edge + q->first;
  for (k = 0; k < q->num; k++) {
    unsigned b = (unsigned)(e[k] & 0xFF);
    if (b >= c) return b == c ? (uint32_t)(e[k] >> 8) : 0;
  }
  return 0;
}

int fm_ac_scan(const fm_ac *ac, const char *s, size_t n, fm_achit hit,
               void *ud) {
  const unsigned char *u = (const unsigned char *)s;
  const acnode *node = ac->node;
  uint32_t st = 0;
  size_t i;
  for (i = 0; i < n; i++) {
    unsigned c = fm_lower[u[i]];
    uint32_t d;
    for (;;) {
      uint32_t g = st == 0 ? ac->root[c] : ac_go(ac, &node[st], c);
      if (g != 0 || st == 0) {
        st = g;
        break;
      }
      st = node[st].fail;
    }
    if (st == 0) continue;
    for (d = node[st].out ? st : node[st].dict; d != 0; d = node[d].dict) {
      uint32_t j, o = ac->ostart[d], m = ac->ocount[d];
      for (j = 0; j < m; j++) {
        int rc = hit(ud, ac->out[o + j], i + 1);
        if (rc != 0) return rc;
      }
    }
  }
  return 0;
}

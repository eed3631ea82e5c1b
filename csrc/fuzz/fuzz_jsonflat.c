/*
** fuzz_jsonflat.c -- a JSON line to its fields (fm_jflat_parse: the JSON
** front end, jsonflat.c, into the event model, evmodel.c), alone.  Any bytes must give FM_JF_OK, OTHER, BAD or NOMEM; with OK every
** name and value is readable for its length and no two names are equal.
** One fm_jflat lives across inputs, as the scan gate keeps one for all its
** lines: each input is parsed twice with it and must give the same answer
** byte for byte (rc, n, each name and value in order); a fresh fm_jflat
** must give the same fields too (as a set: its slot table may be smaller
** than the reused one's, which orders the fields differently).
**
** Input: byte 0 0x01, 0x02 or 0x03 puts the rest inside an evtx_dump-shaped
** event, as its EventData (1), its System (2) or a child of its UserData
** (3); a modelled line must then have the wrapper's own fields too (see
** wrappers[]).  Any other first byte: the input is the line as it is.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fastmatch.h"
#include "jsonflat.h"

#define CHECK(c)                                                             \
  do {                                                                       \
    if (!(c)) {                                                              \
      fprintf(stderr, "fuzz_jsonflat: %s:%d: %s\n", __FILE__, __LINE__, #c); \
      __builtin_trap();                                                      \
    }                                                                        \
  } while (0)

/* A wrapper: the line is pre .. body .. post; must[] the fields the line
   must have when modelled.  The wrapper's own top-level scalars must come
   out with their values (the flat part wins over every section, and a
   name twice in it is not modelled), its Event's fields at least by name
   (the body may give the same names in a section that wins, or close the
   Event's object and add top-level keys, but nothing takes a name away). */
typedef struct want {
  const char *name, *val; /* val NULL: present, any value */
} want;

typedef struct wrapper {
  const char *pre, *post;
  want must[8];
} wrapper;

static const wrapper wrappers[3] = {
    /* the body as EventData */
    {"{\"host\":{\"name\":\"WS 1\",\"ip\":\"10.0.0.1\"},\"Event\":{\"System\":{\"Provider\":"
     "{\"#attributes\":{\"Name\":\"Microsoft-Windows-Sysmon\"}},\"EventID\":1,"
     "\"Channel\":\"Microsoft-Windows-Sysmon/Operational\",\"Computer\":\"WS-1\","
     "\"Security\":{\"#attributes\":{\"UserID\":\"S-1-5-18\"}}},\"EventData\":",
     "}}",
     {{"host.name", "WS 1"},
      {"host.ip", "10.0.0.1"},
      {"Provider_Name", NULL},
      {"EventID", NULL},
      {"Channel", NULL},
      {"Computer", NULL},
      {"Security_UserID", NULL},
      {NULL, NULL}}},
    /* the body as System */
    {"{\"Event\":{\"EventData\":{\"Threat Name\":\"Tr\\/x\",\"Image\":\"C:\\\\x.exe\"},\"System\":",
     "},\"log\":{\"file path\":\"C:\\\\l\\u00e9.evtx\",\"n\":-7}}",
     {{"log.file path", "C:\\l\xc3\xa9.evtx"},
      {"log.filepath", "C:\\l\xc3\xa9.evtx"},
      {"log.n", "-7"},
      {"Threat Name", NULL},
      {"ThreatName", NULL},
      {"Image", NULL},
      {NULL, NULL}}},
    /* the body as a child of UserData */
    {"{\"b\":true,\"Event\":{\"EventData\":{\"Image\":\"C:\\\\x.exe\"},"
     "\"System\":{\"EventID\":{\"#attributes\":{\"Qualifiers\":0},\"#text\":4624}},"
     "\"UserData\":{\"Child\":",
     "}},\"z\":9007199254740991}",
     {{"b", "true"},
      {"z", "9007199254740991"},
      {"Image", NULL},
      {"EventID", NULL},
      {"EventID_Qualifiers", NULL},
      {NULL, NULL}}},
};

/* One parse's answer, kept: rc, and the fields' bytes one after another
   (name length, name, value length, value), in the kernel's order or
   sorted by name. */
typedef struct snap {
  int rc;
  size_t n, len;
  unsigned char *b;
} snap;

static int by_name(const void *a, const void *b) {
  const fm_evfield *x = a, *y = b;
  size_t n = x->nlen < y->nlen ? x->nlen : y->nlen;
  int c = memcmp(x->name, y->name, n);
  if (c != 0) return c;
  return x->nlen < y->nlen ? -1 : x->nlen > y->nlen;
}

static void put_bytes(snap *s, const void *p, size_t n) {
  memcpy(s->b + s->len, p, n); /* reads all n bytes: ASan checks them */
  s->len += n;
}

/* Take j's answer; sorted: by name, checking that no name is there twice. */
static void take(snap *s, const fm_jflat *j, int rc, int sorted) {
  const fm_evfield *f = j->f;
  fm_evfield *copy = NULL;
  size_t k, total = 0;
  s->rc = rc, s->n = 0, s->len = 0, s->b = NULL;
  CHECK(rc == FM_JF_OK || rc == FM_JF_OTHER || rc == FM_JF_BAD || rc == FM_JF_NOMEM);
  if (rc != FM_JF_OK) return;
  s->n = j->n;
  for (k = 0; k < j->n; k++) {
    CHECK(f[k].name != NULL || f[k].nlen == 0);
    CHECK(f[k].val != NULL || f[k].vlen == 0);
    total += 2 * sizeof(size_t) + f[k].nlen + f[k].vlen;
  }
  if (sorted && j->n > 0) {
    copy = malloc(j->n * sizeof *copy);
    CHECK(copy != NULL);
    memcpy(copy, f, j->n * sizeof *copy);
    qsort(copy, j->n, sizeof *copy, by_name);
    for (k = 1; k < j->n; k++) CHECK(by_name(&copy[k - 1], &copy[k]) != 0);
    f = copy;
  }
  s->b = malloc(total + 1);
  CHECK(s->b != NULL);
  for (k = 0; k < j->n; k++) {
    put_bytes(s, &f[k].nlen, sizeof f[k].nlen);
    if (f[k].nlen) put_bytes(s, f[k].name, f[k].nlen);
    put_bytes(s, &f[k].vlen, sizeof f[k].vlen);
    if (f[k].vlen) put_bytes(s, f[k].val, f[k].vlen);
  }
  free(copy);
}

static int same(const snap *a, const snap *b) {
  return a->rc == b->rc && a->n == b->n && a->len == b->len &&
         (a->len == 0 || memcmp(a->b, b->b, a->len) == 0);
}

static void dump(const char *what, const snap *a, const snap *b, const uint8_t *line, size_t n) {
  fprintf(stderr, "fuzz_jsonflat: %s differ: rc %d/%d, n %zu/%zu, bytes %zu/%zu\nline: %.*s\n",
          what, a->rc, b->rc, a->n, b->n, a->len, b->len, (int)(n < 4096 ? n : 4096), (const char *)line);
}

static const fm_evfield *field(const fm_jflat *j, const char *name) {
  size_t k, n = strlen(name);
  for (k = 0; k < j->n; k++)
    if (j->f[k].nlen == n && memcmp(j->f[k].name, name, n) == 0) return &j->f[k];
  return NULL;
}

static fm_jflat reused; /* across inputs, like the gate's */

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  fm_jflat_init(&reused);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const wrapper *w = NULL;
  uint8_t *line = NULL;
  const uint8_t *s = data;
  size_t n = size;
  snap a, b, fa, fb;
  fm_jflat fresh;
  int rc;
  if (size > (size_t)1 << 20) return 0;
  if (size > 0 && data[0] >= 1 && data[0] <= 3) {
    size_t lp, lq;
    w = &wrappers[data[0] - 1];
    lp = strlen(w->pre), lq = strlen(w->post);
    line = malloc(lp + size - 1 + lq);
    CHECK(line != NULL);
    memcpy(line, w->pre, lp);
    if (size > 1) memcpy(line + lp, data + 1, size - 1);
    memcpy(line + lp + size - 1, w->post, lq);
    s = line, n = lp + size - 1 + lq;
  }

  /* the reused fm_jflat, twice: the same answer in the same order */
  rc = fm_jflat_parse(&reused, (const char *)s, n);
  take(&a, &reused, rc, 0);
  if (rc == FM_JF_OK && w != NULL) {
    const want *x;
    for (x = w->must; x->name != NULL; x++) {
      const fm_evfield *f = field(&reused, x->name);
      if (f == NULL) fprintf(stderr, "fuzz_jsonflat: no field %s\n", x->name);
      CHECK(f != NULL);
      if (x->val != NULL) CHECK(f->vlen == strlen(x->val) && memcmp(f->val, x->val, f->vlen) == 0);
    }
  }
  take(&fa, &reused, rc, 1); /* sorted: checks the names are distinct */
  rc = fm_jflat_parse(&reused, (const char *)s, n);
  take(&b, &reused, rc, 0);
  if (!same(&a, &b)) {
    dump("two parses with one fm_jflat", &a, &b, s, n);
    __builtin_trap();
  }

  /* a fresh one: the same fields */
  fm_jflat_init(&fresh);
  rc = fm_jflat_parse(&fresh, (const char *)s, n);
  take(&fb, &fresh, rc, 1);
  fm_jflat_free(&fresh);
  if (!same(&fa, &fb)) {
    dump("the reused and a fresh fm_jflat", &fa, &fb, s, n);
    __builtin_trap();
  }

  free(a.b), free(b.b), free(fa.b), free(fb.b);
  free(line);
  return 0;
}

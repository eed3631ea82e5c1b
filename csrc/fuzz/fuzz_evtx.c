/*
** fuzz_evtx.c -- the EVTX reader (evtx.c) over whole files, also through
** its threads (evtx_pool.c), and the JSON writer (jsonout.c).
**
** The input is a file.  One shorter than a file header and a chunk is
** padded with zeros to a whole chunk, so that small seeds (a header and a
** few records) reach the records.  Checks:
**   - the sink sees a well-formed stream: begin/end balanced, a key for
**     every object member and none for array elements or the root, scalar
**     kinds known; the JSON writer's text of each record is one line;
**   - the pool (2 threads, JSON text or recorded events played back to a
**     JSON writer, by the input's length) hands out the same records' text
**     and the same reports, in the same order, as one thread;
**   - the counters add up; the CRC's fast path equals the tables.
** Memory: the reader's caps bound a record's expansion (see evtx.c), so a
** 2 GB rss_limit is never approached.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evtx.h"
#include "fastmatch.h"

#define CHECK(c)                                                          \
  do {                                                                    \
    if (!(c)) {                                                           \
      fprintf(stderr, "fuzz_evtx: %s:%d: %s\n", __FILE__, __LINE__, #c);  \
      __builtin_trap();                                                   \
    }                                                                     \
  } while (0)

/* ---- a growing list of strings (records' text, reports) */
typedef struct strs {
  char *buf;
  size_t len, cap, n;
} strs;

static void strs_add(strs *s, const char *p, size_t n) {
  if (s->cap - s->len < n + 1) {
    size_t cap = s->cap ? s->cap : 4096;
    while (cap - s->len < n + 1) cap *= 2;
    s->buf = realloc(s->buf, cap);
    CHECK(s->buf != NULL);
    s->cap = cap;
  }
  memcpy(s->buf + s->len, p, n);
  s->buf[s->len + n] = '\n';
  s->len += n + 1;
  s->n++;
}

/* ---- a checking sink in front of the JSON writer */
typedef struct chk {
  fm_sink sink;
  fm_jsonout *jo;
  int depth;
  unsigned char arr[600];
} chk;

static int chk_begin(fm_sink *s, const char *key, size_t klen, int array) {
  chk *c = (chk *)s;
  if (c->depth == 0) CHECK(key == NULL);
  else if (c->arr[c->depth - 1]) CHECK(key == NULL);
  else CHECK(key != NULL);
  (void)klen;
  CHECK(c->depth < 600);
  c->arr[c->depth++] = FM_SV_KIND(array) != 0;
  return c->jo->sink.begin(&c->jo->sink, key, klen, array);
}

static int chk_end(fm_sink *s) {
  chk *c = (chk *)s;
  CHECK(c->depth > 0);
  c->depth--;
  return c->jo->sink.end(&c->jo->sink);
}

static int chk_scalar(fm_sink *s, const char *key, size_t klen, int kind,
                      const char *v, size_t vlen) {
  chk *c = (chk *)s;
  CHECK(c->depth > 0);
  if (c->arr[c->depth - 1]) CHECK(key == NULL);
  else CHECK(key != NULL);
  CHECK(FM_SV_KIND(kind) <= FM_SV_NULL);
  if (vlen > 0) CHECK(v != NULL);
  if (FM_SV_KIND(kind) == FM_SV_BOOL) CHECK(vlen == 4 || vlen == 5);
  return c->jo->sink.scalar(&c->jo->sink, key, klen, kind, v, vlen);
}

static void chk_init(chk *c, fm_jsonout *jo) {
  memset(c, 0, sizeof *c);
  c->sink.begin = chk_begin, c->sink.end = chk_end, c->sink.scalar = chk_scalar;
  c->jo = jo;
}

/* ---- reading from memory */
typedef struct mem {
  const unsigned char *p;
  size_t n, at;
} mem;

static ptrdiff_t mem_read(void *ud, char *dst, size_t n) {
  mem *m = ud;
  size_t k = m->n - m->at < n ? m->n - m->at : n;
  memcpy(dst, m->p + m->at, k);
  m->at += k;
  return (ptrdiff_t)k;
}

static void add_report(strs *r, const fm_evtx_report *rep) {
  char line[256];
  int n = snprintf(line, sizeof line, "%d %lld %llu %llu %s", rep->kind, (long long)rep->chunk,
                   (unsigned long long)rep->offset, (unsigned long long)rep->record_id, rep->reason);
  strs_add(r, line, (size_t)n);
}

static void on_report(void *ud, const fm_evtx_report *rep) { add_report(ud, rep); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  unsigned char *file = NULL;
  size_t n = size;
  strs one = {0}, rone = {0}, many = {0}, rmany = {0};
  fm_jsonout jo;
  chk c;
  mem m;
  fm_evtx *x;
  fm_evtx_file f;
  int rc;
  uint32_t tab, fast;

  fm_evtx_crc_check(data, size, &tab, &fast);
  CHECK(tab == fast);

  if (size < FM_EVTX_HEADER_SIZE + FM_EVTX_CHUNK_SIZE) {
    n = FM_EVTX_HEADER_SIZE + FM_EVTX_CHUNK_SIZE;
    file = calloc(1, n);
    CHECK(file != NULL);
    memcpy(file, data, size);
  }

  /* one thread */
  fm_jsonout_init(&jo, 0);
  chk_init(&c, &jo);
  x = fm_evtx_new(0, on_report, &rone);
  CHECK(x != NULL);
  m.p = file ? file : data, m.n = n, m.at = 0;
  rc = fm_evtx_file_open(&f, x, mem_read, &m);
  CHECK(rc == 0);
  while ((rc = fm_evtx_file_next(&f, x)) == 1) {
    fm_evtx_rec rec;
    int r;
    jo.len = 0;
    while ((r = fm_evtx_next(x, &c.sink, &rec)) == FM_EVTX_RECORD) {
      CHECK(c.depth == 0);
      CHECK(jo.len > 0 && memchr(jo.buf, '\n', jo.len) == NULL);
      strs_add(&one, jo.buf, jo.len);
      jo.len = 0;
    }
    CHECK(r == FM_EVTX_END);
  }
  CHECK(rc == 0);
  {
    const fm_evtx_stats *st = fm_evtx_stats_of(x);
    CHECK(st->records == one.n);
  }
  fm_evtx_file_close(&f);
  fm_evtx_free(x);

  /* two threads: the same records and reports, in order */
  {
    int json = size % 2 == 0;
    fm_evtx_pool *p = fm_evtx_pool_new(2, json ? FM_EVTX_POOL_JSON : FM_EVTX_POOL_EVENTS, 0, 0);
    fm_evtx_item it;
    CHECK(p != NULL);
    x = fm_evtx_new(0, on_report, &rmany);
    CHECK(x != NULL);
    m.at = 0;
    rc = fm_evtx_file_open(&f, x, mem_read, &m);
    CHECK(rc == 0);
    while ((rc = fm_evtx_pool_next(p, &f, &it)) == 1) {
      if (it.kind != FM_EVTX_RECORD) {
        add_report(&rmany, it.report);
        continue;
      }
      if (json) {
        strs_add(&many, it.json, it.jlen);
      } else {
        jo.len = 0;
        CHECK(fm_evtx_pool_replay(p, &c.sink) == 0);
        CHECK(c.depth == 0);
        strs_add(&many, jo.buf, jo.len);
      }
    }
    CHECK(rc == 0);
    fm_evtx_file_end(&f, x);
    fm_evtx_file_close(&f);
    fm_evtx_free(x);
    fm_evtx_pool_free(p);
  }
  if (one.len != many.len || (one.len > 0 && memcmp(one.buf, many.buf, one.len) != 0) ||
      rone.len != rmany.len || (rone.len > 0 && memcmp(rone.buf, rmany.buf, rone.len) != 0)) {
    fprintf(stderr, "fuzz_evtx: one thread and two differ (%zu/%zu records, %zu/%zu reports)\n",
            one.n, many.n, rone.n, rmany.n);
    __builtin_trap();
  }

  fm_jsonout_free(&jo);
  free(one.buf), free(rone.buf), free(many.buf), free(rmany.buf);
  free(file);
  return 0;
}

/*
** evtx_pool.c -- one EVTX file's chunks read on several threads, records
** handed out in file order (see evtx.h).
** Owns: the threads, the jobs (a chunk in, its records out) and the
** recording of sink events a worker makes for the caller's sink.  Must not
** touch: the format (evtx.c), Lua.
**
** The caller's thread reads the chunks, in order, into free jobs; workers
** take jobs in order and turn each into a byte tape of items (records,
** reports); the caller takes the tapes back in order.  A job's tape holds
** either each record's JSON text or a recording of its sink events, which
** fm_evtx_pool_replay plays to any sink on the caller's thread (a Lua
** table builder must run there).  At most 2 jobs per thread are in flight,
** so memory stays bounded whatever the file's size.
*/
#include <pthread.h>
#include <stddef.h>
#include <string.h>

#include "evtx.h"
#include "fastmatch.h"

enum { J_FREE, J_READY, J_BUSY, J_DONE };

typedef struct job {
  unsigned char *in; /* the chunk */
  size_t n;
  int64_t index;
  uint64_t base;
  int state;
  uint64_t seq;
  /* the tape: items, each a tag byte and its bytes */
  char *out;
  size_t olen, ocap;
  fm_evtx_stats st; /* what the chunk added to the worker's counters */
  int nomem;
} job;

typedef struct worker {
  fm_evtx_pool *p;
  fm_evtx *x;
  job *cur;
  /* reports made while a record is read: they go before it on the tape */
  fm_evtx_report *q;
  size_t qn, qcap;
  int qnomem;
  fm_jsonout jo;
  fm_sink rec; /* the recording sink */
  pthread_t th;
  int started;
} worker;

struct fm_evtx_pool {
  int mode, indent;
  unsigned flags;
  size_t nthreads, njobs;
  worker *w;
  job *jobs;
  pthread_mutex_t mu;
  pthread_cond_t work, done;
  uint64_t filled, taken, consumed; /* job sequence numbers */
  int stop, eof, started;
  int64_t counted;
  /* the caller's side */
  job *cur;
  size_t rpos;
  const char *payload; /* the last record's tape (POOL_EVENTS) */
  size_t plen;
  fm_evtx_report rep;
  fm_evtx_stats st;
};

/* ---- the tape */

/* Append n bytes (s NULL: n bytes of room, taken). */
static int put(job *j, const void *s, size_t n) {
  if (j->ocap - j->olen < n) {
    size_t cap = j->ocap ? j->ocap : 256 * 1024;
    char *nb;
    while (cap - j->olen < n) cap *= 2;
    nb = fm_realloc(j->out, cap);
    if (nb == NULL) return j->nomem = 1, -1;
    j->out = nb, j->ocap = cap;
  }
  if (s != NULL) memcpy(j->out + j->olen, s, n);
  j->olen += n;
  return 0;
}

static int put32(job *j, uint32_t v) { return put(j, &v, 4); }

/* The recording sink: B flags klen key | E | S kind klen vlen key value,
   klen 0xFFFFFFFF for no key. */
static int rec_key(job *j, const char *key, size_t klen) {
  if (key == NULL) return put32(j, 0xFFFFFFFFu);
  if (put32(j, (uint32_t)klen) != 0) return -1;
  return put(j, key, klen);
}

static int rec_begin(fm_sink *s, const char *key, size_t klen, int array) {
  job *j = ((worker *)((char *)s - offsetof(worker, rec)))->cur;
  char t[2] = {'B', (char)(FM_SV_KIND(array) != 0)};
  if (put(j, t, 2) != 0 || rec_key(j, key, klen) != 0) return FM_SINK_NOMEM;
  return 0;
}

static int rec_end(fm_sink *s) {
  job *j = ((worker *)((char *)s - offsetof(worker, rec)))->cur;
  return put(j, "E", 1) != 0 ? FM_SINK_NOMEM : 0;
}

static int rec_scalar(fm_sink *s, const char *key, size_t klen, int kind,
                      const char *v, size_t vlen) {
  job *j = ((worker *)((char *)s - offsetof(worker, rec)))->cur;
  char t[2] = {'S', (char)FM_SV_KIND(kind)};
  if (put(j, t, 2) != 0 || rec_key(j, key, klen) != 0 || put32(j, (uint32_t)vlen) != 0 ||
      put(j, v, vlen) != 0)
    return FM_SINK_NOMEM;
  return 0;
}

int fm_evtx_pool_replay(fm_evtx_pool *p, fm_sink *s) {
  const char *t = p->payload, *e = t + p->plen;
  while (t < e) {
    char op = *t++;
    const char *key = NULL;
    uint32_t klen = 0, vlen;
    int rc, arg = 0;
    if (op == 'E') {
      if ((rc = s->end(s)) != 0) return rc;
      continue;
    }
    arg = (unsigned char)*t++;
    memcpy(&klen, t, 4), t += 4;
    if (klen != 0xFFFFFFFFu) key = t, t += klen;
    else klen = 0;
    if (op == 'B') {
      if ((rc = s->begin(s, key, klen, arg | FM_SV_STABLE)) != 0) return rc;
      continue;
    }
    memcpy(&vlen, t, 4), t += 4;
    rc = s->scalar(s, key, klen, arg | FM_SV_STABLE, t, vlen);
    t += vlen;
    if (rc != 0) return rc;
  }
  return 0;
}

/* ---- workers */

static void on_report(void *ud, const fm_evtx_report *r) {
  worker *w = ud;
  if (w->qn == w->qcap) {
    size_t cap = w->qcap ? 2 * w->qcap : 16;
    fm_evtx_report *nq = fm_realloc(w->q, cap * sizeof *nq);
    if (nq == NULL) {
      w->qnomem = 1;
      return;
    }
    w->q = nq, w->qcap = cap;
  }
  w->q[w->qn++] = *r;
}

/* Put the waiting reports on the tape at offset at (before the record
   written from there, which moves up). */
static int flush_reports(worker *w, job *j, size_t at) {
  size_t k = w->qn * (1 + sizeof(fm_evtx_report)), tail = j->olen - at, i;
  if (w->qnomem) j->nomem = 1;
  w->qnomem = 0;
  if (w->qn == 0) return 0;
  if (put(j, NULL, k) != 0) return -1; /* room */
  memmove(j->out + at + k, j->out + at, tail);
  for (i = 0; i < w->qn; i++) {
    char *d = j->out + at + i * (1 + sizeof(fm_evtx_report));
    d[0] = 'D';
    memcpy(d + 1, &w->q[i], sizeof(fm_evtx_report));
  }
  w->qn = 0;
  return 0;
}

static void stats_sub(fm_evtx_stats *d, const fm_evtx_stats *a, const fm_evtx_stats *b) {
  d->records = a->records - b->records;
  d->bad_records = a->bad_records - b->bad_records;
  d->chunks = a->chunks - b->chunks;
  d->bad_chunks = a->bad_chunks - b->bad_chunks;
  d->empty_chunks = a->empty_chunks - b->empty_chunks;
  d->warnings = a->warnings - b->warnings;
}

static void stats_add(fm_evtx_stats *d, const fm_evtx_stats *a) {
  d->records += a->records, d->bad_records += a->bad_records;
  d->chunks += a->chunks, d->bad_chunks += a->bad_chunks;
  d->empty_chunks += a->empty_chunks, d->warnings += a->warnings;
}

/* A chunk to its tape: R rec len payload per record, D report. */
static void run_job(worker *w, job *j) {
  fm_evtx_pool *p = w->p;
  fm_evtx_stats before = *fm_evtx_stats_of(w->x);
  fm_evtx_rec rec;
  int rc;
  w->cur = j;
  j->olen = 0, j->nomem = 0;
  fm_evtx_set_counted(w->x, p->counted);
  rc = fm_evtx_load(w->x, j->in, j->n, j->base, j->index);
  flush_reports(w, j, 0);
  while (rc == 1) {
    size_t at = j->olen, lenat;
    if (put(j, "R", 1) != 0 || put(j, &rec, sizeof rec) != 0) break;
    lenat = j->olen;
    if (put32(j, 0) != 0) break;
    if (p->mode == FM_EVTX_POOL_JSON) {
      /* the writer appends to the tape itself */
      w->jo.buf = j->out, w->jo.len = j->olen, w->jo.cap = j->ocap;
      rc = fm_evtx_next(w->x, &w->jo.sink, &rec);
      j->out = w->jo.buf, j->olen = w->jo.len, j->ocap = w->jo.cap;
      w->jo.buf = NULL, w->jo.len = w->jo.cap = 0;
    } else
      rc = fm_evtx_next(w->x, &w->rec, &rec);
    if (rc != FM_EVTX_RECORD) {
      j->olen = at; /* no record (the end), or out of memory */
      if (rc != FM_EVTX_END) j->nomem = 1;
      flush_reports(w, j, at);
      break;
    }
    memcpy(j->out + at + 1, &rec, sizeof rec);
    {
      uint32_t len = (uint32_t)(j->olen - lenat - 4);
      memcpy(j->out + lenat, &len, 4);
    }
    if (flush_reports(w, j, at) != 0) break;
    rc = 1;
  }
  if (rc < 0) j->nomem = 1;
  stats_sub(&j->st, fm_evtx_stats_of(w->x), &before);
}

static void *worker_main(void *ud) {
  worker *w = ud;
  fm_evtx_pool *p = w->p;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    job *j = NULL;
    while (!p->stop && p->taken == p->filled) pthread_cond_wait(&p->work, &p->mu);
    if (p->stop) break;
    j = &p->jobs[p->taken % p->njobs];
    p->taken++;
    j->state = J_BUSY;
    pthread_mutex_unlock(&p->mu);
    run_job(w, j);
    pthread_mutex_lock(&p->mu);
    j->state = J_DONE;
    pthread_cond_broadcast(&p->done);
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

fm_evtx_pool *fm_evtx_pool_new(size_t nthreads, int mode, unsigned flags, int indent) {
  fm_evtx_pool *p;
  size_t i;
  if (nthreads < 1) nthreads = 1;
  p = fm_calloc(1, sizeof *p);
  if (p == NULL) return NULL;
  p->mode = mode, p->flags = flags, p->indent = indent;
  p->nthreads = nthreads, p->njobs = 2 * nthreads;
  p->counted = -1;
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->work, NULL);
  pthread_cond_init(&p->done, NULL);
  p->started = 1;
  p->w = fm_calloc(nthreads, sizeof *p->w);
  p->jobs = fm_calloc(p->njobs, sizeof *p->jobs);
  if (p->w == NULL || p->jobs == NULL) goto fail;
  for (i = 0; i < p->njobs; i++)
    if ((p->jobs[i].in = fm_malloc(FM_EVTX_CHUNK_SIZE)) == NULL) goto fail;
  for (i = 0; i < nthreads; i++) {
    worker *w = &p->w[i];
    w->p = p;
    w->x = fm_evtx_new(flags, on_report, w);
    if (w->x == NULL) goto fail;
    fm_jsonout_init(&w->jo, indent);
    w->rec.begin = rec_begin, w->rec.end = rec_end, w->rec.scalar = rec_scalar;
  }
  for (i = 0; i < nthreads; i++) {
    if (pthread_create(&p->w[i].th, NULL, worker_main, &p->w[i]) != 0) goto fail;
    p->w[i].started = 1;
  }
  return p;
fail:
  fm_evtx_pool_free(p);
  return NULL;
}

void fm_evtx_pool_free(fm_evtx_pool *p) {
  size_t i;
  if (p == NULL) return;
  if (p->w != NULL) {
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (i = 0; i < p->nthreads; i++) {
      if (p->w[i].started) pthread_join(p->w[i].th, NULL);
      fm_evtx_free(p->w[i].x);
      fm_jsonout_free(&p->w[i].jo);
      fm_free(p->w[i].q);
    }
    fm_free(p->w);
  }
  if (p->jobs != NULL) {
    for (i = 0; i < p->njobs; i++) {
      fm_free(p->jobs[i].in);
      fm_free(p->jobs[i].out);
    }
    fm_free(p->jobs);
  }
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->work);
  pthread_cond_destroy(&p->done);
  fm_free(p);
}

/* ---- the caller's side */

/* Read chunks into the free jobs: 0, or FM_EVTX_EREAD. */
static int fill(fm_evtx_pool *p, fm_evtx_file *f) {
  while (!p->eof && p->filled - p->consumed < p->njobs) {
    job *j = &p->jobs[p->filled % p->njobs];
    int rc;
    /* the slot is free: its job was consumed (the workers are done with it) */
    rc = fm_evtx_file_read_chunk(f, j->in, &j->n, &j->index, &j->base);
    if (rc < 0) return rc;
    if (rc == 0) {
      p->eof = 1;
      break;
    }
    pthread_mutex_lock(&p->mu);
    j->state = J_READY;
    j->seq = p->filled++;
    pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->mu);
  }
  return 0;
}

int fm_evtx_pool_next(fm_evtx_pool *p, fm_evtx_file *f, fm_evtx_item *it) {
  for (;;) {
    job *j = p->cur;
    if (j != NULL && p->rpos < j->olen) {
      char tag = j->out[p->rpos++];
      if (tag == 'D') {
        memcpy(&p->rep, j->out + p->rpos, sizeof p->rep);
        p->rpos += sizeof p->rep;
        it->kind = p->rep.kind;
        it->report = &p->rep;
        return 1;
      }
      uint32_t len;
      memcpy(&it->rec, j->out + p->rpos, sizeof it->rec);
      p->rpos += sizeof it->rec;
      memcpy(&len, j->out + p->rpos, 4);
      p->rpos += 4;
      it->kind = FM_EVTX_RECORD;
      it->json = p->payload = j->out + p->rpos;
      it->jlen = p->plen = len;
      p->rpos += len;
      return 1;
    }
    if (j != NULL) { /* done with it: the slot is free again */
      int nomem = j->nomem;
      stats_add(&p->st, &j->st);
      j->state = J_FREE;
      p->cur = NULL;
      p->consumed++;
      if (nomem) return FM_EVTX_NOMEM;
    }
    if (p->filled == 0) p->counted = f->counted; /* before any job: no worker reads it yet */
    if (fill(p, f) != 0) return FM_EVTX_EREAD;
    if (p->consumed == p->filled) return 0; /* eof and all taken */
    j = &p->jobs[p->consumed % p->njobs];
    pthread_mutex_lock(&p->mu);
    while (j->state != J_DONE) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
    p->cur = j;
    p->rpos = 0;
  }
}

void fm_evtx_pool_stats(fm_evtx_pool *p, fm_evtx_stats *out) { *out = p->st; }

/*
** parcount.c -- fm.count_lines(path, matcher, {threads = N}): the file is
** split at line boundaries into N ranges, each counted by its own thread
** with its own line reader (pread, so the threads share no file offset)
** and its own copy of the matcher (fm_matcher_ops.thread_copy).  No Lua
** runs inside a thread.  Any error (a long line, a matcher's, a read's)
** makes the whole count fail, and the caller counts again on one thread,
** which reports it with the exact line number a sequential run gives.
*/
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "fastmatch.h"

typedef struct range {
  int fd;
  size_t off, lim; /* bytes [off, lim) of the file */
  fm_matcher *m;   /* this thread's copy */
  fm_findfn find;
  const void *fud;
  size_t block, max_line;
  int crlf;
  size_t count;
  int rc;
} range;

static ptrdiff_t read_range(void *ud, char *dst, size_t n) {
  range *g = (range *)ud;
  ssize_t got;
  if (g->off >= g->lim) return 0;
  if (n > g->lim - g->off) n = g->lim - g->off;
  do
    got = pread(g->fd, dst, n, (off_t)g->off);
  while (got < 0 && errno == EINTR);
  if (got > 0) g->off += (size_t)got;
  return got;
}

static void *count_range(void *ud) {
  range *g = (range *)ud;
  fm_linereader r;
  fm_line ln;
  int rc;
  fm_lines_init(&r, g->block, g->max_line, g->crlf, read_range, g);
  for (;;) {
    rc = g->find != NULL ? fm_lines_next_hit(&r, g->find, g->fud, &ln)
                         : fm_lines_next(&r, &ln);
    if (rc <= 0) break;
    rc = g->m->test(g->m, ln.s, ln.len);
    if (rc < 0) break;
    g->count += (size_t)rc;
  }
  fm_lines_free(&r);
  g->rc = rc;
  return NULL;
}

/* The first line start at or after pos (a line starts at 0 or after a
   '\n'), or size. */
static size_t line_start(int fd, size_t size, size_t pos) {
  char buf[4096];
  if (pos == 0) return 0;
  pos--; /* the byte before a line start is '\n' */
  while (pos < size) {
    size_t want = size - pos < sizeof buf ? size - pos : sizeof buf;
    ssize_t got = pread(fd, buf, want, (off_t)pos);
    const char *q;
    if (got <= 0) return size; /* the caller's range will meet it */
    q = (const char *)memchr(buf, '\n', (size_t)got);
    if (q != NULL) return pos + (size_t)(q - buf) + 1;
    pos += (size_t)got;
  }
  return size;
}

int fm_count_parallel(int fd, size_t size, size_t nthreads, fm_matcher *m,
                      fm_findfn find, const void *fud, size_t block,
                      size_t max_line, int crlf, size_t *count) {
  range *g;
  pthread_t *tid;
  size_t k, started = 0, total = 0;
  int rc = 0;
  if (m->ops == NULL || m->ops->thread_copy == NULL) return FM_EOTHER;
  /* no thread for less than a few blocks of input each */
  if (nthreads > size / (4 * block) + 1) nthreads = size / (4 * block) + 1;
  if (nthreads < 2) return FM_EOTHER;
  g = (range *)fm_calloc(nthreads, sizeof *g);
  tid = (pthread_t *)fm_calloc(nthreads, sizeof *tid);
  if (g == NULL || tid == NULL) {
    fm_free(g);
    fm_free(tid);
    return FM_ENOMEM;
  }
  for (k = 0; k < nthreads; k++) {
    size_t at = line_start(fd, size, size / nthreads * k);
    g[k].fd = fd;
    g[k].off = k > 0 && at < g[k - 1].off ? g[k - 1].off : at;
    if (k > 0) g[k - 1].lim = g[k].off;
    g[k].find = find, g[k].fud = fud;
    g[k].block = block, g[k].max_line = max_line, g[k].crlf = crlf;
  }
  g[nthreads - 1].lim = size;
  for (k = 0; k < nthreads; k++) {
    g[k].m = m->ops->thread_copy(m);
    if (g[k].m == NULL) {
      rc = FM_ENOMEM;
      break;
    }
  }
  /* thread 0 is this one */
  for (k = 1; rc == 0 && k < nthreads; k++, started++)
    if (pthread_create(&tid[k], NULL, count_range, &g[k]) != 0) {
      rc = FM_ENOMEM;
      break;
    }
  if (rc == 0) count_range(&g[0]);
  for (k = 1; k <= started; k++)
    pthread_join(tid[k], NULL);
  for (k = 0; k < nthreads; k++) {
    if (rc == 0 && g[k].rc < 0) rc = g[k].rc;
    total += g[k].count;
    if (g[k].m != NULL && m->ops->thread_drop != NULL)
      m->ops->thread_drop(m, g[k].m);
  }
  fm_free(g);
  fm_free(tid);
  if (rc == 0) *count = total;
  return rc;
}

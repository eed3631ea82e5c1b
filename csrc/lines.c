/*
** lines.c -- streaming line input: a block reader and line splitter (the
** kernel, no Lua), and the binding fm.lines / fm.lines_of / fm.count_lines.
**
** liolib.c's io.lines is the model for the Lua face (generic-for results,
** the to-be-closed 4th value, errors raised from the iterator); the inside
** differs: input is read in big blocks and split with memchr, so a line
** costs one memchr run and one copy into a Lua string, and a line that a C
** matcher rejects costs no Lua string at all.
** Owns: the line reader and the filter loop.  Must not touch: any matcher's
** internals -- it calls a matcher only through fm_matcher.test.
*/
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lauxlib.h"
#include "lua.h"

#include "binding.h"
#include "fastmatch.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* =====================================================================
** Kernel: block reader + line splitter
** =================================================================== */

void fm_lines_init(fm_linereader *r, size_t block, size_t max_line, int crlf,
                   fm_readfn read, void *ud) {
  memset(r, 0, sizeof *r);
  r->block = block > 0 ? block : 1;
  r->max_line = max_line;
  r->crlf = crlf != 0;
  r->read = read;
  r->ud = ud;
}

void fm_lines_init_string(fm_linereader *r, const char *s, size_t n,
                          size_t max_line, int crlf) {
  fm_lines_init(r, 1, max_line, crlf, NULL, NULL);
  r->buf = (char *)s; /* cap == 0 marks it borrowed: never written */
  r->end = n;
  r->eof = 1;
}

void fm_lines_free(fm_linereader *r) {
  if (r->cap > 0) fm_free(r->buf);
  r->buf = NULL;
  r->cap = r->beg = r->end = r->scan = 0;
}

/* Make room for at least half a block after the pending bytes: move them
   to the front, then grow (a long line) or shrink (after one). */
static int make_room(fm_linereader *r) {
  size_t pend = r->end - r->beg;
  size_t want = r->block / 2 + 1;
  if (r->beg > 0) {
    if (pend > 0) memmove(r->buf, r->buf + r->beg, pend);
    r->scan -= r->beg;
    r->beg = 0;
    r->end = pend;
  }
  if (r->cap / 4 > r->block && pend < r->block / 2) { /* a long line passed */
    char *nb = (char *)fm_realloc(r->buf, r->block);
    if (nb != NULL) {
      r->buf = nb;
      r->cap = r->block;
    }
  }
  if (r->cap - r->end < want) {
    size_t ncap = r->cap == 0 ? r->block : r->cap;
    char *nb;
    while (ncap - r->end < want) {
      if (ncap > ((size_t)-1) / 2) return FM_ENOMEM;
      ncap *= 2;
    }
    nb = (char *)fm_realloc(r->buf, ncap);
    if (nb == NULL) return FM_ENOMEM;
    r->buf = nb;
    r->cap = ncap;
  }
  return 0;
}

/* Hand out the line buf[beg, at) whose terminator ends at 'next'. */
static int give(fm_linereader *r, fm_line *ln, size_t at, size_t next, int nl) {
  ln->s = r->buf + r->beg;
  ln->len = at - r->beg;
  ln->full = next - r->beg;
  if (nl && r->crlf && ln->len > 0 && ln->s[ln->len - 1] == '\r') ln->len--;
  r->beg = r->scan = next;
  r->lineno++;
  if (ln->len > r->max_line) return r->status = FM_LINES_ETOOLONG;
  return 1;
}

int fm_lines_next(fm_linereader *r, fm_line *ln) {
  for (;;) {
    size_t pend;
    const char *nl;
    int rc;
    if (r->status < 0) return r->status;
    nl = r->end > r->scan
             ? (const char *)memchr(r->buf + r->scan, '\n', r->end - r->scan)
             : NULL;
    if (nl != NULL) {
      size_t at = (size_t)(nl - r->buf);
      return give(r, ln, at, at + 1, 1);
    }
    r->scan = r->end;
    pend = r->end - r->beg;
    /* No newline yet: stop a line over max_line before buffering more of
       it (with crlf, one more byte may be the '\r' of its terminator). */
    if (pend > r->max_line && pend - r->max_line > (size_t)r->crlf) {
      r->lineno++;
      return r->status = FM_LINES_ETOOLONG;
    }
    if (r->eof) {
      if (pend == 0) return 0;
      return give(r, ln, r->end, r->end, 0); /* last line, no newline */
    }
    rc = make_room(r);
    if (rc < 0) return r->status = rc;
    {
      ptrdiff_t got = r->read(r->ud, r->buf + r->end, r->cap - r->end);
      if (got < 0) {
        r->err = errno;
        return r->status = FM_LINES_EREAD;
      }
      if (got == 0)
        r->eof = 1;
      else
        r->end += (size_t)got;
    }
  }
}

/* ---------------------------------------------------------------------
** Block search: hand out only the lines around a hit of find() in the
** buffered complete lines; count and check the lines in between.
** ------------------------------------------------------------------- */
#if (defined(__x86_64__) || defined(__i386__)) && defined(__SSE2__) &&         \
    (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
/* cmpeq gives -1 per '\n': subtracting it counts in byte lanes, summed
   (psadbw) before a lane can overflow. */
static size_t count_nl_sse2(const char *s, size_t n) {
  const __m128i nl = _mm_set1_epi8('\n');
  size_t total = 0, i = 0;
  while (n - i >= 16) {
    __m128i acc = _mm_setzero_si128();
    size_t rounds = (n - i) / 16;
    if (rounds > 255) rounds = 255;
    for (; rounds > 0; rounds--, i += 16) {
      __m128i v = _mm_loadu_si128((const __m128i *)(s + i));
      acc = _mm_sub_epi8(acc, _mm_cmpeq_epi8(v, nl));
    }
    acc = _mm_sad_epu8(acc, _mm_setzero_si128());
    total += (size_t)_mm_cvtsi128_si32(acc) +
             (size_t)_mm_cvtsi128_si32(_mm_srli_si128(acc, 8));
  }
  for (; i < n; i++)
    total += s[i] == '\n';
  return total;
}

__attribute__((target("avx2"))) static size_t count_nl_avx2(const char *s,
                                                            size_t n) {
  const __m256i nl = _mm256_set1_epi8('\n');
  size_t total = 0, i = 0;
  while (n - i >= 64) {
    __m256i acc = _mm256_setzero_si256(), sum;
    size_t rounds = (n - i) / 64;
    if (rounds > 127) rounds = 127; /* two adds a round per lane */
    for (; rounds > 0; rounds--, i += 64) {
      __m256i a = _mm256_loadu_si256((const __m256i *)(s + i));
      __m256i b = _mm256_loadu_si256((const __m256i *)(s + i + 32));
      acc = _mm256_sub_epi8(acc, _mm256_cmpeq_epi8(a, nl));
      acc = _mm256_sub_epi8(acc, _mm256_cmpeq_epi8(b, nl));
    }
    sum = _mm256_sad_epu8(acc, _mm256_setzero_si256());
    total += (size_t)_mm256_extract_epi64(sum, 0) +
             (size_t)_mm256_extract_epi64(sum, 1) +
             (size_t)_mm256_extract_epi64(sum, 2) +
             (size_t)_mm256_extract_epi64(sum, 3);
  }
  return total + count_nl_sse2(s + i, n - i);
}

size_t fm_count_nl(const char *s, size_t n) {
  static int avx2 = -1; /* ask the CPU on first use */
  if (avx2 < 0) avx2 = __builtin_cpu_supports("avx2") ? 1 : 0;
  return avx2 ? count_nl_avx2(s, n) : count_nl_sse2(s, n);
}
#else
size_t fm_count_nl(const char *s, size_t n) {
  size_t total = 0, i;
  for (i = 0; i < n; i++)
    total += s[i] == '\n';
  return total;
}
#endif

/* The lines buf[beg, to) go by unseen (to is a line start, or the end of
   the input): count them, and check them against max_line as give() would
   -- a line is too long only if no '\n' follows within max_line + 1 bytes
   of its start, so a window per line over max_line finds it without
   splitting every line.  0, or FM_LINES_ETOOLONG naming the line. */
static int skip_lines(fm_linereader *r, size_t to) {
  const char *b = r->buf + r->beg, *e = r->buf + to, *p = b;
  if (to == r->beg) return 0;
  if (r->max_line != FM_LINES_NOLIMIT) {
    while ((size_t)(e - p) > r->max_line) {
      const char *q = (const char *)memrchr(p, '\n', r->max_line + 1);
      size_t len;
      if (q != NULL) {
        p = q + 1;
        continue;
      }
      /* no '\n' in the window: measure this line exactly */
      q = (const char *)memchr(p, '\n', (size_t)(e - p));
      len = (size_t)((q != NULL ? q : e) - p);
      if (q != NULL && r->crlf && len > 0 && q[-1] == '\r') len--;
      if (len > r->max_line) {
        r->lineno += fm_count_nl(b, (size_t)(p - b)) + 1;
        r->beg = r->scan = (size_t)(p - r->buf);
        return r->status = FM_LINES_ETOOLONG;
      }
      if (q == NULL) break;
      p = q + 1;
    }
  }
  r->lineno += fm_count_nl(b, (size_t)(e - b));
  if (e[-1] != '\n') r->lineno++; /* the last line, without '\n' */
  r->beg = r->scan = to;
  return 0;
}

/* Every DENSE_EVERY hits, fewer than DENSE_SKIP lines skipped in all means
   the literal is on most lines: the next DENSE_PLAIN lines are split one by
   one (the same lines come out either way; only the cost differs). */
#define DENSE_EVERY 64
#define DENSE_SKIP 128
#define DENSE_PLAIN 4096

int fm_lines_next_hit(fm_linereader *r, fm_findfn find, const void *fud,
                      fm_line *ln) {
  if (r->plain > 0) {
    r->plain--;
    return fm_lines_next(r, ln);
  }
  for (;;) {
    size_t pend;
    int rc;
    if (r->status < 0) return r->status;
    if (r->end > r->beg) {
      size_t stop = r->end; /* complete lines: buf[beg, stop) */
      if (!r->eof) {
        const char *q =
            (const char *)memrchr(r->buf + r->beg, '\n', r->end - r->beg);
        stop = q != NULL ? (size_t)(q - r->buf) + 1 : r->beg;
      }
      if (stop > r->beg) {
        size_t h = find(fud, r->buf + r->beg, stop - r->beg);
        if (h == FM_NOTFOUND) {
          if (skip_lines(r, stop) < 0) return r->status;
        } else { /* the line holding the hit's first byte */
          size_t at = r->beg + h, ls = r->beg;
          const char *q =
              h > 0 ? (const char *)memrchr(r->buf + r->beg, '\n', h) : NULL;
          if (q != NULL) ls = (size_t)(q - r->buf) + 1;
          {
            size_t before = r->lineno;
            if (skip_lines(r, ls) < 0) return r->status;
            r->skipped += r->lineno - before;
            if (++r->hits == DENSE_EVERY) {
              if (r->skipped < DENSE_SKIP) r->plain = DENSE_PLAIN;
              r->hits = r->skipped = 0;
            }
          }
          q = (const char *)memchr(r->buf + at, '\n', stop - at);
          if (q != NULL) {
            size_t le = (size_t)(q - r->buf);
            return give(r, ln, le, le + 1, 1);
          }
          return give(r, ln, stop, stop, 0); /* last line, no newline */
        }
      }
    }
    pend = r->end - r->beg;
    if (pend > r->max_line && pend - r->max_line > (size_t)r->crlf) {
      r->lineno++;
      return r->status = FM_LINES_ETOOLONG;
    }
    if (r->eof) return 0;
    rc = make_room(r);
    if (rc < 0) return r->status = rc;
    {
      ptrdiff_t got = r->read(r->ud, r->buf + r->end, r->cap - r->end);
      if (got < 0) {
        r->err = errno;
        return r->status = FM_LINES_EREAD;
      }
      if (got == 0)
        r->eof = 1;
      else
        r->end += (size_t)got;
    }
  }
}

/* Count the lines left (a last line without '\n' included) with one
   memchr run per line and no line handed out; max_line is not checked, and
   a long line is not kept (memory stays at the block size).  0, or a
   negative code as fm_lines_next. */
int fm_lines_count(fm_linereader *r, size_t *count) {
  size_t n = 0;
  int partial = 0; /* bytes of an unfinished line were dropped */
  for (;;) {
    const char *p, *e;
    int rc;
    if (r->status < 0) return r->status;
    if (r->end > r->beg) { /* (buf is NULL before the first read) */
      p = r->buf + r->beg;
      e = r->buf + r->end;
      while (p < e && (p = (const char *)memchr(p, '\n', (size_t)(e - p)))) {
        n++;
        r->lineno++;
        partial = 0;
        p++;
      }
      if (r->buf[r->end - 1] != '\n') partial = 1;
      r->beg = r->scan = r->end; /* all seen: nothing to keep */
    }
    if (r->eof) {
      if (partial) { /* last line, no newline */
        n++;
        r->lineno++;
      }
      *count = n;
      return 0;
    }
    rc = make_room(r);
    if (rc < 0) return r->status = rc;
    {
      ptrdiff_t got = r->read(r->ud, r->buf + r->end, r->cap - r->end);
      if (got < 0) {
        r->err = errno;
        *count = n;
        return r->status = FM_LINES_EREAD;
      }
      if (got == 0)
        r->eof = 1;
      else
        r->end += (size_t)got;
    }
  }
}

/* =====================================================================
** Binding
** =================================================================== */

#define LINES_MT "fastmatch.lines"
#define DEFAULT_BLOCK ((size_t)64 * 1024)

/* uservalues of a line iterator */
#define UV_SRC 1    /* path string, Lua file, or the string of lines_of */
#define UV_FILTER 2 /* the filter (matcher or function) */

typedef struct LinesIter {
  fm_linereader r;
  int fd;          /* fd opened from a path (owned), or -1 */
  FILE *f;         /* stdin, or NULL */
  fm_stream *ls;   /* the Lua file read from, or NULL */
  int pipe;        /* f/ls is no regular file: read what is there, now */
  int fileclosed;  /* a read met the Lua file closed */
  fm_matcher *m;   /* C filter */
  fm_litset *find; /* its required literals' block search, or NULL */
  size_t threads;  /* count_lines: opts.threads (1 when not given) */
  int ffilter;     /* Lua function filter in UV_FILTER */
  int keepnl, lineno;
  int closed;
  /* the unfiltered fast path: newlines of the 64-byte window at buf +
     nlbase as bits (consumed low to high); windows advance from nlnext */
  uint64_t nlmask;
  size_t nlbase, nlnext;
} LinesIter;

/* ---- read callbacks */

static ptrdiff_t read_fd(int fd, char *dst, size_t n) {
  ssize_t got;
  do
    got = read(fd, dst, n);
  while (got < 0 && errno == EINTR);
  return got;
}

static ptrdiff_t read_owned(void *ud, char *dst, size_t n) {
  return read_fd(((LinesIter *)ud)->fd, dst, n);
}

/* What stdio holds of f already (glibc: the get area, as gnulib's
   freadahead reads it); SIZE_MAX when unknown. */
static size_t stdio_ahead(FILE *f) {
#ifdef __GLIBC__
  if (f->_flags & 0x100) return 1; /* _IO_IN_BACKUP: ungetc'd bytes */
  return (size_t)(f->_IO_read_end - f->_IO_read_ptr);
#else
  (void)f;
  return (size_t)-1;
#endif
}

/* A stdio stream: fread, so that what stdio buffered before is read
   first.  On a pipe or terminal fread would wait for a whole block, so
   there (glibc) we take stdio's bytes, then read(2) what has arrived:
   lines reach Lua as they come (tail -f | lua ...). */
static ptrdiff_t read_stdio(void *ud, char *dst, size_t n) {
  LinesIter *it = (LinesIter *)ud;
  FILE *f = it->f;
  size_t got;
  if (it->ls != NULL) {
    if (fm_stream_closed(it->ls)) { /* closed under us */
      it->fileclosed = 1;
      errno = EBADF;
      return -1;
    }
    f = it->ls->f;
  }
  if (it->pipe) {
    size_t ahead = stdio_ahead(f);
    if (ahead == 0) return read_fd(fileno(f), dst, n);
    if (ahead < n) n = ahead;
  }
  clearerr(f); /* as liolib's g_read: an old EOF must not stop us */
  got = fread(dst, 1, n, f);
  if (got == 0 && ferror(f)) {
    if (errno == 0) errno = EIO;
    return -1;
  }
  return (ptrdiff_t)got;
}

/* ---- the iterator object */

static LinesIter *checklines(lua_State *L, int idx) {
  return (LinesIter *)luaL_checkudata(L, idx, LINES_MT);
}

/* Release everything.  'giveback': put unread bytes back into a Lua file
   or stdin (seek back; regular files only), so that after a break the
   file stands right after the last line, as with io.lines.  Not from
   __gc: by then the program may have moved the file itself. */
static void lines_release(LinesIter *it, int giveback) {
  if (it->closed) return;
  it->closed = 1;
  if (giveback && !it->pipe && it->r.cap > 0 && it->r.end > it->r.beg) {
    FILE *f = it->f;
    if (it->ls != NULL) f = !fm_stream_closed(it->ls) ? it->ls->f : NULL;
    if (f != NULL) fseeko(f, -(off_t)(it->r.end - it->r.beg), SEEK_CUR);
  }
  fm_lines_free(&it->r);
  fm_litset_free(it->find);
  it->find = NULL;
  if (it->fd >= 0) close(it->fd);
  it->fd = -1;
}

static int lines_gc(lua_State *L) {
  lines_release(checklines(L, 1), 0);
  return 0;
}

/* __close and it:close(): also gives unread bytes back to a Lua file. */
static int lines_close(lua_State *L) {
  lines_release(checklines(L, 1), 1);
  return 0;
}

static int lines_tostring(lua_State *L) {
  LinesIter *it = checklines(L, 1);
  if (it->closed)
    lua_pushliteral(L, "fastmatch.lines (closed)");
  else
    lua_pushfstring(L, "fastmatch.lines (%p)", (void *)it);
  return 1;
}

/* Push the message for a failed fm_lines_next, naming the source (the
   object is at index obj). */
static void lines_pusherror(lua_State *L, LinesIter *it, int obj, int rc) {
  if (rc == FM_LINES_ETOOLONG)
    lua_pushfstring(L,
                    "fastmatch: line %I longer than max_line (%I bytes; "
                    "raise opts.max_line)",
                    (lua_Integer)it->r.lineno, (lua_Integer)it->r.max_line);
  else if (rc == FM_LINES_EREAD && it->fileclosed)
    lua_pushliteral(L, "fastmatch: attempt to use a closed file");
  else if (rc == FM_LINES_EREAD && it->fd >= 0) {
    lua_getiuservalue(L, obj, UV_SRC);
    lua_pushfstring(L, "fastmatch: cannot read '%s': %s", lua_tostring(L, -1),
                    strerror(it->r.err));
  } else if (rc == FM_LINES_EREAD)
    lua_pushfstring(L, "fastmatch: cannot read %s: %s",
                    it->f != NULL ? "stdin" : "file", strerror(it->r.err));
  else
    lua_pushliteral(L, "fastmatch: not enough memory");
}

/* A matcher's error while filtering: the regex's own message, except that
   bad UTF-8 (a filter compiled with 'u') names the line, which is what a
   user scanning a big log needs to find it. */
static int lines_matcher_error(lua_State *L, LinesIter *it, int code) {
  if (code == FM_EUTF)
    return luaL_error(L, "fastmatch: invalid UTF-8 in subject (line %I)",
                      (lua_Integer)it->r.lineno);
  return fm_matcher_error(L, code);
}

/* Push the line as the loop hands it out.  With keep_newline and crlf the
   terminator is "\n" whatever the file had: crlf strips the '\r' before
   the '\n' in both modes.  (full == len + 2 only when that '\r' went.) */
static void lines_push(lua_State *L, LinesIter *it, const fm_line *ln) {
  if (!it->keepnl)
    lua_pushlstring(L, ln->s, ln->len);
  else if (ln->full == ln->len + 2) {
    luaL_Buffer b;
    char *p = luaL_buffinitsize(L, &b, ln->len + 1);
    memcpy(p, ln->s, ln->len);
    p[ln->len] = '\n';
    luaL_pushresultsize(&b, ln->len + 1);
  } else
    lua_pushlstring(L, ln->s, ln->full);
}

/* Is the line kept?  Pushes nothing for a C matcher; for a Lua function
   it leaves the line string on the stack when kept (pushed before the call:
   the call may move the buffer under ln). */
static int lines_keep(lua_State *L, LinesIter *it, int iter, fm_line *ln) {
  if (it->m != NULL) {
    int t = it->m->test(it->m, ln->s, ln->len);
    if (t < 0) lines_matcher_error(L, it, t);
    return t;
  }
  if (it->keepnl) lines_push(L, it, ln);
  lua_getiuservalue(L, iter, UV_FILTER);
  lua_pushlstring(L, ln->s, ln->len);
  if (!it->keepnl) lua_pushvalue(L, -1); /* the result if kept */
  if (!it->keepnl) lua_insert(L, -3);
  lua_pushinteger(L, (lua_Integer)it->r.lineno);
  lua_call(L, 2, 1);
  if (it->closed) luaL_error(L, "fastmatch: line iterator is closed");
  if (lua_toboolean(L, -1)) {
    lua_pop(L, 1);
    return 2; /* kept, string on the stack */
  }
  lua_pop(L, 2);
  return 0;
}

/* Bit i set when p[i] is '\n', for the 64 bytes at p. */
static inline uint64_t nl_mask64(const char *p) {
#if defined(__SSE2__)
  const __m128i nl = _mm_set1_epi8('\n');
  uint64_t a = (uint32_t)_mm_movemask_epi8(
      _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)p), nl));
  uint64_t b = (uint32_t)_mm_movemask_epi8(
      _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(p + 16)), nl));
  uint64_t c = (uint32_t)_mm_movemask_epi8(
      _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(p + 32)), nl));
  uint64_t d = (uint32_t)_mm_movemask_epi8(
      _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(p + 48)), nl));
  return a | b << 16 | c << 32 | d << 48;
#else
  uint64_t m = 0;
  for (int i = 0; i < 64; i++)
    m |= (uint64_t)(p[i] == '\n') << i;
  return m;
#endif
}

/* The next line the filter may keep: through the block search when the
   matcher requires literals.  The common case -- a whole line waiting in
   the buffer -- is inlined here (one memchr, no call into the kernel's
   loop): callgrind counted fm_lines_next's call and loop at a tenth of an
   unfiltered line's instructions. */
static inline int lines_next(LinesIter *it, fm_line *ln) {
  fm_linereader *r = &it->r;
  int rc;
  if (it->find != NULL)
    return fm_lines_next_hit(r, fm_litset_find, it->find, ln);
  if (r->status == 0) {
    for (;;) {
      if (it->nlmask != 0) {
        size_t at = it->nlbase + (size_t)__builtin_ctzll(it->nlmask);
        it->nlmask &= it->nlmask - 1;
        return give(r, ln, at, at + 1, 1);
      }
      if (r->end < 64 || it->nlnext > r->end - 64) break;
      it->nlbase = it->nlnext;
      it->nlmask = nl_mask64(r->buf + it->nlbase);
      it->nlnext += 64;
    }
  }
  /* the buffer's last bytes, a refill, the end: the kernel (which may move
     the buffer: windows start again after the line it gives) */
  rc = fm_lines_next(r, ln);
  it->nlmask = 0;
  it->nlnext = r->beg;
  return rc;
}

/* The generic-for iterator: upvalue 1 is the LinesIter. */
static int lines_iter(lua_State *L) {
  LinesIter *it = (LinesIter *)lua_touserdata(L, lua_upvalueindex(1));
  fm_line ln;
  int rc;
  if (it->closed) return luaL_error(L, "fastmatch: line iterator is closed");
  while ((rc = lines_next(it, &ln)) > 0) {
    int keep = 1;
    if (it->m != NULL || it->ffilter) {
      keep = lines_keep(L, it, lua_upvalueindex(1), &ln);
      if (keep == 0) continue;
    }
    if (keep != 2) lines_push(L, it, &ln);
    if (!it->lineno) return 1;
    lua_pushinteger(L, (lua_Integer)it->r.lineno);
    return 2;
  }
  if (rc == 0) { /* end of input: close now, as io.lines does */
    lines_release(it, 0);
    return 0;
  }
  lines_pusherror(L, it, lua_upvalueindex(1), rc);
  return lua_error(L);
}

/* fm._block_search([on]): whether filters use the block search (on by
   default; off, every line is split and tested, for differential specs and
   benchmarks).  Returns the setting before the call. */
static int block_search = 1;
static int l_block_search(lua_State *L) {
  int was = block_search;
  if (!lua_isnoneornil(L, 1)) block_search = lua_toboolean(L, 1);
  lua_pushboolean(L, was);
  return 1;
}

/* fm._literals(m): the literals the block search would use for matcher m,
   as a list of {literal, caseless}; empty when it goes line by line. */
static int l_literals(lua_State *L) {
  fm_matcher *m = fm_tomatcher(L, 1);
  const fm_literal *lits;
  size_t n = 0, k;
  if (m == NULL) return luaL_typeerror(L, 1, "matcher");
  if (m->ops != NULL && m->ops->literals != NULL)
    n = m->ops->literals(m, &lits);
  lua_createtable(L, (int)n, 0);
  for (k = 0; k < n; k++) {
    lua_createtable(L, 2, 0);
    lua_pushlstring(L, lits[k].s, lits[k].n);
    lua_rawseti(L, -2, 1);
    lua_pushboolean(L, lits[k].caseless);
    lua_rawseti(L, -2, 2);
    lua_rawseti(L, -2, (lua_Integer)k + 1);
  }
  return 1;
}

static size_t online_cpus(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (size_t)n : 1;
}

/* Read opts (a table at index 'arg', or nil) into it. */
static void lines_opts(lua_State *L, int arg, LinesIter *it, size_t *block,
                       size_t *max_line, int *crlf, int forcount) {
  *block = DEFAULT_BLOCK;
  *max_line = FM_LINES_NOLIMIT;
  *crlf = 0;
  if (lua_isnoneornil(L, arg)) return;
  if (forcount && lua_type(L, arg) != LUA_TTABLE) { /* count_lines(src, m) */
    lua_pushvalue(L, arg);
  } else {
    static const char *const known[] = {
        "buffer", "max_line", "crlf", "filter", "keep_newline", "lineno", NULL};
    static const char *const known_count[] = {
        "buffer", "max_line", "crlf",  "filter",
        "keep_newline", "lineno", "threads", NULL};
    luaL_checktype(L, arg, LUA_TTABLE);
    fm_checkopts(L, arg, forcount ? known_count : known);
    if (forcount && lua_getfield(L, arg, "threads") != LUA_TNIL) {
      int isint;
      lua_Integer t = lua_tointegerx(L, -1, &isint);
      if (!isint || t < 0 || t > 1024)
        luaL_argerror(L, arg, "opts.threads must be an integer in [0, 1024]");
      it->threads = t == 0 ? online_cpus() : (size_t)t;
    }
    if (forcount) lua_pop(L, 1);
    if (lua_getfield(L, arg, "buffer") != LUA_TNIL) {
      int isint;
      lua_Integer b = lua_tointegerx(L, -1, &isint);
      if (!isint || b < 1)
        luaL_argerror(L, arg, "opts.buffer must be a positive integer");
      *block = (size_t)b;
    }
    if (lua_getfield(L, arg, "max_line") != LUA_TNIL) {
      int isint;
      lua_Integer b = lua_tointegerx(L, -1, &isint);
      if (!isint || b < 0)
        luaL_argerror(L, arg, "opts.max_line must be a non-negative integer");
      *max_line = (size_t)b;
    }
    lua_getfield(L, arg, "crlf");
    *crlf = lua_toboolean(L, -1);
    lua_getfield(L, arg, "keep_newline");
    it->keepnl = lua_toboolean(L, -1);
    lua_getfield(L, arg, "lineno");
    it->lineno = lua_toboolean(L, -1);
    lua_pop(L, 5);
    lua_getfield(L, arg, "filter");
  }
  /* the filter is on the stack top; false means none, as nil does
     (so `filter = cond and m` works) */
  if (!lua_isnil(L, -1) && !(lua_isboolean(L, -1) && !lua_toboolean(L, -1))) {
    it->m = fm_tomatcher(L, -1);
    if (it->m != NULL && block_search && it->m->ops != NULL &&
        it->m->ops->literals != NULL) {
      const fm_literal *lits;
      size_t n = it->m->ops->literals(it->m, &lits);
      if (n > 0) it->find = fm_litset_new(lits, n); /* NULL: per line */
    }
    if (it->m == NULL) {
      if (!lua_isfunction(L, -1))
        luaL_argerror(L, arg,
                      lua_pushfstring(L,
                                      "filter must be a matcher or a "
                                      "function, got %s",
                                      luaL_typename(L, -1)));
      it->ffilter = 1;
    }
    lua_setiuservalue(L, -2, UV_FILTER);
  } else
    lua_pop(L, 1);
}

/* New iterator object on the stack top over src at index 1 (path, "-",
   Lua file; or a string when ofstring).  Raises when a path cannot be
   opened. */
static LinesIter *lines_new(lua_State *L, int optarg, int ofstring,
                            int forcount) {
  LinesIter *it;
  size_t block, max_line;
  int crlf;
  fm_stream *ls = NULL;
  lua_settop(L, optarg); /* the object goes above the arguments */
  if (ofstring)
    luaL_checktype(L, 1, LUA_TSTRING);
  else if (lua_type(L, 1) != LUA_TSTRING) {
    ls = (fm_stream *)luaL_testudata(L, 1, LUA_FILEHANDLE);
    if (ls == NULL) luaL_typeerror(L, 1, "path, \"-\" or file");
    if (fm_stream_closed(ls)) luaL_error(L, "attempt to use a closed file");
  }
  it = (LinesIter *)lua_newuserdatauv(L, sizeof(LinesIter), 2);
  memset(it, 0, sizeof *it);
  it->fd = -1;
  it->threads = 1;
  it->closed = 1; /* until it holds something */
  luaL_setmetatable(L, LINES_MT);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, UV_SRC); /* keeps the file / string alive */
  lines_opts(L, optarg, it, &block, &max_line, &crlf, forcount);
  if (ofstring) {
    size_t n;
    const char *s = lua_tolstring(L, 1, &n);
    fm_lines_init_string(&it->r, s, n, max_line, crlf);
  } else {
    size_t n;
    const char *path = lua_tolstring(L, 1, &n);
    fm_readfn rd = read_stdio;
    if (ls != NULL)
      it->ls = ls;
    else if (n == 1 && path[0] == '-')
      it->f = stdin;
    else {
      if (memchr(path, '\0', n) != NULL)
        luaL_argerror(L, 1, "path contains a NUL byte");
      it->fd = open(path, O_RDONLY | O_CLOEXEC);
      if (it->fd < 0)
        luaL_error(L, "fastmatch: cannot open '%s': %s", path, strerror(errno));
      rd = read_owned;
    }
    if (it->fd < 0) {
      struct stat st;
      FILE *f = ls != NULL ? ls->f : it->f;
      it->pipe = !(fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode));
    }
    fm_lines_init(&it->r, block, max_line, crlf, rd, it);
  }
  it->closed = 0;
  return it;
}

/* fm.lines(src [, opts]) -> iter, nil, nil, closer  (as io.lines) */
static int l_lines(lua_State *L) {
  lines_new(L, 2, 0, 0);
  lua_pushvalue(L, -1);
  lua_pushcclosure(L, lines_iter, 1);
  lua_pushnil(L);
  lua_pushnil(L);
  lua_rotate(L, -4, -1); /* iter, nil, nil, object */
  return 4;
}

/* fm.lines_of(str [, opts]): the same over a Lua string, which is kept
   alive by the iterator and never copied as a whole. */
static int l_lines_of(lua_State *L) {
  lines_new(L, 2, 1, 0);
  lua_pushvalue(L, -1);
  lua_pushcclosure(L, lines_iter, 1);
  lua_pushnil(L);
  lua_pushnil(L);
  lua_rotate(L, -4, -1);
  return 4;
}

/* fm.count_lines(src [, filter | opts]), fm.count_lines(src, filter, opts)
   -> number of (matching) lines,
   creating no Lua string for a C matcher or no filter. */
static int l_count_lines(lua_State *L) {
  LinesIter *it;
  if (!lua_isnoneornil(L, 3)) {
    /* count_lines(src, filter, opts): the opts table at 3 with the filter
       added (a copy; the caller's table is not touched) */
    static const char *const known3[] = {"buffer", "max_line", "crlf",
                                         "keep_newline", "lineno",
                                         "threads", NULL};
    luaL_checktype(L, 3, LUA_TTABLE);
    fm_checkopts(L, 3, known3); /* a misspelt key is named at #3 */
    if (lua_type(L, 2) == LUA_TTABLE)
      luaL_argerror(L, 2, "a filter expected when options follow");
    lua_settop(L, 3);
    lua_newtable(L);
    lua_pushnil(L);
    while (lua_next(L, 3) != 0) {
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_rawset(L, 4);
    }
    if (!lua_isnil(L, 2)) {
      lua_pushvalue(L, 2);
      lua_setfield(L, 4, "filter");
    }
    lua_replace(L, 2);
    lua_settop(L, 2);
  }
  it = lines_new(L, 2, 0, 1);
  int obj = lua_gettop(L);
  lua_Integer count = 0;
  fm_line ln;
  int rc;
  if (it->m == NULL && !it->ffilter && it->r.max_line == FM_LINES_NOLIMIT) {
    size_t n = 0; /* no filter: count newlines, hand out nothing */
    rc = fm_lines_count(&it->r, &n);
    count = (lua_Integer)n;
  } else
    rc = 1;
  if (rc > 0 && it->m != NULL && it->threads > 1 && it->fd >= 0) {
    struct stat st;
    size_t n = 0;
    /* the threads use pread: the file position stays at 0, so on their
       error the count below starts afresh and reports it exactly */
    if (fstat(it->fd, &st) == 0 && S_ISREG(st.st_mode) &&
        fm_count_parallel(it->fd, (size_t)st.st_size, it->threads, it->m,
                          it->find != NULL ? fm_litset_find : NULL, it->find,
                          it->r.block, it->r.max_line, it->r.crlf,
                          &n) == 0) {
      lines_release(it, 0);
      lua_pushinteger(L, (lua_Integer)n);
      return 1;
    }
  }
  while (rc > 0 && (rc = lines_next(it, &ln)) > 0) {
    if (it->m != NULL) {
      int t = it->m->test(it->m, ln.s, ln.len);
      if (t < 0) {
        lines_release(it, 0);
        return lines_matcher_error(L, it, t);
      }
      count += t;
    } else if (it->ffilter) {
      lua_getiuservalue(L, obj, UV_FILTER);
      lua_pushlstring(L, ln.s, ln.len);
      lua_pushinteger(L, (lua_Integer)it->r.lineno);
      /* protected: a file opened from a path is closed before the filter's
         error goes on (no for loop closes this one) */
      if (lua_pcall(L, 2, 1, 0) != LUA_OK) {
        lines_release(it, 0);
        return lua_error(L);
      }
      if (it->closed)
        return luaL_error(L, "fastmatch: line iterator is closed");
      count += lua_toboolean(L, -1);
      lua_pop(L, 1);
    } else
      count++;
  }
  if (rc < 0) {
    lines_pusherror(L, it, obj, rc);
    lines_release(it, 0);
    return lua_error(L);
  }
  lines_release(it, 0);
  lua_pushinteger(L, count);
  return 1;
}

static const luaL_Reg lines_methods[] = {{"close", lines_close}, {NULL, NULL}};
static const luaL_Reg lines_meta[] = {{"__gc", lines_gc},
                                      {"__close", lines_close},
                                      {"__tostring", lines_tostring},
                                      {NULL, NULL}};
static const luaL_Reg lines_funcs[] = {{"lines", l_lines},
                                       {"lines_of", l_lines_of},
                                       {"count_lines", l_count_lines},
                                       {"_block_search", l_block_search},
                                       {"_literals", l_literals},
                                       {NULL, NULL}};

void fm_open_lines(lua_State *L) {
  fm_newclass(L, LINES_MT, lines_methods, lines_meta, 0);
  lua_pop(L, 1);
  fm_setfuncs(L, lines_funcs);
}

/*
** lines.c -- the binding of the line reader: fm.lines, fm.lines_of and
** fm.count_lines over the kernel of linereader.c (and parcount.c for
** count_lines with threads).
**
** liolib.c's io.lines is the model for the Lua face (generic-for results,
** the to-be-closed 4th value, errors raised from the iterator); the inside
** differs: input is read in big blocks and split with memchr, so a line
** costs one memchr run and one copy into a Lua string, and a line that a C
** matcher rejects costs no Lua string at all.
** Owns: the sources (path, stdin, a Lua file, a string), the options, the
** filter loop and the iterator object.  Must not touch: how lines are
** split (linereader.c), any matcher's internals -- it calls a matcher only
** through fm_matcher.test.
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
   unfiltered line's instructions.  Forced inline into lines_iter: since
   the kernel moved to linereader.c GCC made it a call of its own
   (callgrind, 200 000 short lines unfiltered: 730 instructions a line
   so, 715 inlined, 727 before the split). */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((always_inline))
#endif
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
        return fm_lines_give(r, ln, at, at + 1, 1);
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

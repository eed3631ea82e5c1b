/*
** writer.c -- buffered output that loses nothing: an output buffer over a
** write(2) loop (the kernel, no Lua), and the binding fm.writer.
**
** liolib.c is the model for the Lua face: numbers are formatted as
** g_write formats them (LUA_INTEGER_FMT, LUA_NUMBER_FMT), failures of the
** world come back as luaL_fileresult's nil, message, errno.  The inside
** differs: one buffer per writer, no stdio locking per call, and every
** failed write(2) is reported by the call that meets it.
** Owns: the output buffer and its write loop.  Must not touch: anything
** outside output (no matcher, no reader).
*/
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lauxlib.h"
#include "lua.h"

#include "binding.h"
#include "fastmatch.h"

/* =====================================================================
** Kernel: output buffer
** =================================================================== */

int fm_write_all(fm_writefn write, void *ud, const char *p, size_t n,
                 size_t *done) {
  size_t off = 0;
  int err = 0;
  while (off < n) {
    ptrdiff_t w = write(ud, p + off, n - off);
    if (w > 0)
      off += (size_t)w;
    else if (w < 0 && errno == EINTR)
      continue;
    else {
      err = w < 0 && errno != 0 ? errno : EIO; /* write(2) returning 0 */
      break;
    }
  }
  if (done != NULL) *done = off;
  return err;
}

int fm_wbuf_init(fm_wbuf *b, size_t cap, fm_writefn write, void *ud) {
  if (cap == 0) cap = 1;
  b->buf = (char *)fm_malloc(cap);
  b->cap = b->buf != NULL ? cap : 0;
  b->len = 0;
  b->write = write;
  b->ud = ud;
  return b->buf != NULL ? 0 : FM_ENOMEM;
}

int fm_wbuf_flush(fm_wbuf *b) {
  size_t done;
  int err;
  if (b->len == 0) return 0;
  err = fm_write_all(b->write, b->ud, b->buf, b->len, &done);
  if (done < b->len) memmove(b->buf, b->buf + done, b->len - done);
  b->len -= done;
  return err;
}

int fm_wbuf_add(fm_wbuf *b, const char *s, size_t n, size_t *taken) {
  int err;
  *taken = 0;
  if (n <= b->cap - b->len) { /* the common case */
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    *taken = n;
    return 0;
  }
  /* Flush first, so that a string is accepted whole or not at all. */
  if ((err = fm_wbuf_flush(b)) != 0) return err;
  if (n < b->cap) {
    memcpy(b->buf, s, n);
    b->len = n;
    *taken = n;
    return 0;
  }
  return fm_write_all(b->write, b->ud, s, n, taken); /* straight through */
}

void fm_wbuf_free(fm_wbuf *b) {
  fm_free(b->buf);
  b->buf = NULL;
  b->cap = b->len = 0;
}

/* =====================================================================
** Binding
** =================================================================== */

#define WRITER_MT "fastmatch.writer"
#define DEFAULT_BUFFER ((size_t)64 * 1024)

#define UV_DST 1 /* the Lua file written to, kept alive */

typedef struct Writer {
  fm_wbuf b;
  int fd;
  int owned;       /* fd opened from a path: ours to close */
  FILE *f;         /* stdout for "-": flushed before each write(2) */
  luaL_Stream *ls; /* the Lua file written to, or NULL */
  int sync;        /* fsync on flush and close */
  int closed;
  lua_Integer total; /* bytes accepted */
  void *self;        /* == this Writer while alive: see checkwriter */
} Writer;

/* The write(2) under the buffer.  A stdio stream's own buffer is flushed
   first, so that what the program wrote through it comes first. */
static ptrdiff_t write_fd(void *ud, const char *p, size_t n) {
  Writer *w = (Writer *)ud;
  FILE *f = w->f;
  if (w->ls != NULL) {
    if (w->ls->closef == NULL) { /* the Lua file was closed under us */
      errno = EBADF;
      return -1;
    }
    f = w->ls->f;
  }
  if (f != NULL && fflush(f) != 0) return -1;
  return write(w->fd, p, n);
}

/* luaL_checkudata without its two lookups on the hot path: write() is
   called per line, and checking the metatable cost a fifth of it.  A
   Writer records its own address (cleared by __gc before the memory can be
   reused), which only a Writer of this size can show; anything else takes
   the full check, which raises as usual. */
static Writer *checkwriter(lua_State *L) {
  Writer *w = (Writer *)lua_touserdata(L, 1);
  if (w != NULL && lua_rawlen(L, 1) == sizeof(Writer) && w->self == w) return w;
  return (Writer *)luaL_checkudata(L, 1, WRITER_MT);
}

static Writer *checkopen(lua_State *L) {
  Writer *w = checkwriter(L);
  if (w->closed) luaL_error(L, "fastmatch: writer is closed");
  return w;
}

/* nil, strerror(err), err -- luaL_fileresult's shape */
static int ioerror(lua_State *L, int err) {
  errno = err;
  return luaL_fileresult(L, 0, NULL);
}

static int do_sync(Writer *w) {
  if (w->sync && fsync(w->fd) != 0 && errno != EINVAL) return errno;
  return 0; /* EINVAL: a pipe or terminal, nothing to sync */
}

/* Flush, sync, close the fd if ours, free: 0 or the first errno.  The
   writer is closed whatever happens (as fclose). */
static int writer_finish(Writer *w) {
  int err, e2;
  if (w->closed) return 0;
  w->closed = 1;
  err = fm_wbuf_flush(&w->b);
  e2 = do_sync(w);
  if (err == 0) err = e2;
  if (w->owned && close(w->fd) != 0 && err == 0 && errno != EINTR) err = errno;
  w->fd = -1;
  fm_wbuf_free(&w->b);
  return err;
}

/* g_write, into the buffer: strings as they are, numbers as io.write
   prints them. */
static int g_write(lua_State *L, Writer *w, int arg, int nl) {
  int top = lua_gettop(L);
  for (; arg <= top + nl; arg++) {
    char nb[64]; /* "%.14g" needs 24 at most, LUA_INTEGER_FMT 20 */
    const char *s;
    size_t l, taken;
    int err;
    if (arg > top) { /* writeln's "\n" */
      s = "\n";
      l = 1;
    } else if (lua_type(L, arg) == LUA_TNUMBER) {
      int len = lua_isinteger(L, arg)
                    ? snprintf(nb, sizeof nb, LUA_INTEGER_FMT,
                               (LUAI_UACINT)lua_tointeger(L, arg))
                    : snprintf(nb, sizeof nb, LUA_NUMBER_FMT,
                               (LUAI_UACNUMBER)lua_tonumber(L, arg));
      s = nb;
      l = len > 0 ? (size_t)len : 0;
    } else
      s = luaL_checklstring(L, arg, &l);
    err = fm_wbuf_add(&w->b, s, l, &taken);
    w->total += (lua_Integer)taken;
    if (err != 0) return ioerror(L, err);
  }
  lua_pushvalue(L, 1);
  return 1;
}

/* w:write(...) -> w, or nil, msg, errno */
static int w_write(lua_State *L) {
  Writer *w = checkopen(L);
  if (lua_gettop(L) == 2 && lua_type(L, 2) == LUA_TSTRING) {
    size_t l, taken;
    const char *s = lua_tolstring(L, 2, &l);
    int err;
    if (l <= w->b.cap - w->b.len) { /* the one-string fast path */
      memcpy(w->b.buf + w->b.len, s, l);
      w->b.len += l;
      w->total += (lua_Integer)l;
      lua_pushvalue(L, 1); /* not lua_settop: it is dearer (tbc checks) */
      return 1;
    }
    err = fm_wbuf_add(&w->b, s, l, &taken);
    w->total += (lua_Integer)taken;
    if (err != 0) return ioerror(L, err);
    lua_pushvalue(L, 1);
    return 1;
  }
  return g_write(L, w, 2, 0);
}

/* w:writeln(...): write(...) then "\n" */
static int w_writeln(lua_State *L) { return g_write(L, checkopen(L), 2, 1); }

/* w:flush() -> true, or nil, msg, errno */
static int w_flush(lua_State *L) {
  Writer *w = checkopen(L);
  int err = fm_wbuf_flush(&w->b);
  if (err == 0) err = do_sync(w);
  if (err != 0) return ioerror(L, err);
  lua_pushboolean(L, 1);
  return 1;
}

/* w:close() -> true, or nil, msg, errno.  Closing again is a no-op. */
static int w_close(lua_State *L) {
  int err = writer_finish(checkwriter(L));
  if (err != 0) return ioerror(L, err);
  lua_pushboolean(L, 1);
  return 1;
}

/* w:bytes() -> bytes accepted so far (also after close) */
static int w_bytes(lua_State *L) {
  lua_pushinteger(L, checkwriter(L)->total);
  return 1;
}

/* __gc: flush and close a writer the program forgot; nobody is left to
   hear about a failure.  __close raises it instead (unless an error is
   already on its way out), so that `local w <close>` loses nothing
   silently. */
static int w_gc(lua_State *L) {
  Writer *w = checkwriter(L);
  writer_finish(w);
  w->self = NULL;
  return 0;
}

static int w_tbc(lua_State *L) {
  int err = writer_finish(checkwriter(L));
  if (err != 0 && lua_isnil(L, 2))
    return luaL_error(L, "fastmatch: writer close failed: %s", strerror(err));
  return 0;
}

static int w_tostring(lua_State *L) {
  Writer *w = checkwriter(L);
  if (w->closed)
    lua_pushliteral(L, "fastmatch.writer (closed)");
  else
    lua_pushfstring(L, "fastmatch.writer (%p)", (void *)w);
  return 1;
}

/* fm.writer(dst [, opts]) -> w, or nil, "path: msg", errno */
static int l_writer(lua_State *L) {
  size_t cap = DEFAULT_BUFFER;
  const char *mode = "w";
  int sync = 0, fd = -1, owned = 0;
  FILE *f = NULL;
  luaL_Stream *ls = NULL;
  Writer *w;
  if (!lua_isnoneornil(L, 2)) {
    static const char *const known[] = {"buffer", "mode", "sync", NULL};
    luaL_checktype(L, 2, LUA_TTABLE);
    fm_checkopts(L, 2, known);
    if (lua_getfield(L, 2, "buffer") != LUA_TNIL) {
      int isint;
      lua_Integer b = lua_tointegerx(L, -1, &isint);
      if (!isint || b < 1)
        luaL_argerror(L, 2, "opts.buffer must be a positive integer");
      cap = (size_t)b;
    }
    if (lua_getfield(L, 2, "mode") != LUA_TNIL) {
      mode = lua_tostring(L, -1);
      if (mode == NULL || !(strcmp(mode, "w") == 0 || strcmp(mode, "a") == 0 ||
                            strcmp(mode, "wb") == 0 || strcmp(mode, "ab") == 0))
        luaL_argerror(L, 2, "opts.mode must be \"w\" or \"a\"");
    }
    lua_getfield(L, 2, "sync");
    sync = lua_toboolean(L, -1);
    lua_pop(L, 3);
  }
  if (lua_type(L, 1) == LUA_TSTRING) {
    size_t n;
    const char *path = lua_tolstring(L, 1, &n);
    if (n == 1 && path[0] == '-') {
      f = stdout;
      fd = fileno(stdout);
    } else {
      int flags = O_WRONLY | O_CREAT | O_CLOEXEC |
                  (mode[0] == 'a' ? O_APPEND : O_TRUNC);
      if (memchr(path, '\0', n) != NULL)
        return luaL_argerror(L, 1, "path contains a NUL byte");
      fd = open(path, flags, 0666);
      if (fd < 0) return luaL_fileresult(L, 0, path);
      owned = 1;
    }
  } else {
    ls = (luaL_Stream *)luaL_testudata(L, 1, LUA_FILEHANDLE);
    if (ls == NULL) return luaL_typeerror(L, 1, "path, \"-\" or file");
    if (ls->closef == NULL)
      return luaL_error(L, "attempt to use a closed file");
    fd = fileno(ls->f);
  }
  w = (Writer *)lua_newuserdatauv(L, sizeof(Writer), 1);
  memset(w, 0, sizeof *w);
  w->closed = 1; /* until set up: __gc must find nothing to do */
  w->fd = -1;
  luaL_setmetatable(L, WRITER_MT);
  w->self = w;
  if (fm_wbuf_init(&w->b, cap, write_fd, w) != 0) {
    if (owned) close(fd);
    return luaL_error(L, "fastmatch: not enough memory");
  }
  w->fd = fd;
  w->owned = owned;
  w->f = f;
  w->ls = ls;
  w->sync = sync;
  w->closed = 0;
  if (ls != NULL) {
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, UV_DST);
    fflush(ls->f); /* what the program wrote through it comes first */
  } else if (f != NULL)
    fflush(f);
  return 1;
}

static const luaL_Reg writer_methods[] = {
    {"write", w_write}, {"writeln", w_writeln}, {"flush", w_flush},
    {"close", w_close}, {"bytes", w_bytes},     {NULL, NULL}};
static const luaL_Reg writer_meta[] = {{"__gc", w_gc},
                                       {"__close", w_tbc},
                                       {"__tostring", w_tostring},
                                       {NULL, NULL}};
static const luaL_Reg writer_funcs[] = {{"writer", l_writer}, {NULL, NULL}};

void fm_open_writer(lua_State *L) {
  fm_newclass(L, WRITER_MT, writer_methods, writer_meta, 0);
  lua_pop(L, 1);
  fm_setfuncs(L, writer_funcs);
}

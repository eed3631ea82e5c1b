/*
** evtx_lua.c -- fm.evtx: the EVTX reader's Lua face, and the Lua table
** builder (an fm_sink that makes the table cjson.decode gives for
** evtx_dump's JSON of a record).
**
**   for rec, n in fm.evtx(src [, opts]) do ... end
**
** src: a path, "-" (stdin) or an open Lua file.  opts: as = "table"
** (default) | "json"; indent = N (JSON's indentation, 0: one line);
** on_error = function(info) for each damage report (info.kind "file",
** "chunk", "record" or "warning"; info.file, chunk, offset, record_id,
** reason); checksums = "keep" (default: a chunk whose checksum fails is
** read, and reported as a warning) | "skip" (it is reported and skipped);
** threads = N (0: one per core) reads the chunks on N threads, records
** still in file order; name = how reports name the source.
** Errors are fm.lines': a path that cannot be opened and a read error
** raise "fastmatch: cannot ..."; misuse raises; damage in the file is not
** an error (it is reported and skipped).
** Owns: the iterator object and the table builder.  Must not touch: the
** format (evtx.c), the threads (evtx_pool.c).
*/
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lauxlib.h"
#include "lua.h"

#include "binding.h"
#include "evtx.h"
#include "fastmatch.h"

#define EVTX_MT "fastmatch.evtx"
enum { UV_SRC = 1, UV_ONERR = 2 };
enum { MAXLV = 512 };

/* ---------------------------------------------------------------------
** The table builder: the record's tables built on the Lua stack as the
** events come.  An object member's key is pushed before its value; end()
** stores the finished table into its parent.
** ------------------------------------------------------------------- */
typedef struct tbsink {
  fm_sink s;
  lua_State *L;
  int depth;
  lua_Integer cnt[MAXLV];  /* an array's elements so far */
  unsigned char arr[MAXLV];/* the level is an array */
} tbsink;

static void tb_key(tbsink *t, const char *key, size_t klen) {
  if (t->depth > 0 && !t->arr[t->depth - 1]) lua_pushlstring(t->L, key ? key : "", key ? klen : 0);
}

/* Store the value on the stack top into the open level below it. */
static void tb_store(tbsink *t) {
  if (t->depth == 0) return; /* the root stays on the stack */
  if (t->arr[t->depth - 1])
    lua_rawseti(t->L, -2, (int)++t->cnt[t->depth - 1]);
  else
    lua_rawset(t->L, -3);
}

static int tb_begin(fm_sink *s, const char *key, size_t klen, int array) {
  tbsink *t = (tbsink *)s;
  if (t->depth >= MAXLV) return FM_SINK_OTHER;
  luaL_checkstack(t->L, 4, "fastmatch: event nested too deep");
  tb_key(t, key, klen);
  lua_newtable(t->L);
  t->arr[t->depth] = FM_SV_KIND(array) != 0;
  t->cnt[t->depth] = 0;
  t->depth++;
  return 0;
}

static int tb_end(fm_sink *s) {
  tbsink *t = (tbsink *)s;
  if (t->depth == 0) return FM_SINK_OTHER;
  t->depth--;
  tb_store(t);
  return 0;
}

/* A JSON number's text as cjson gives it: a Lua integer when the text is
   one that fits (5.3+), else a float. */
static void push_number(lua_State *L, const char *s, size_t n) {
  char buf[64];
#if FM_LUA_HAS_INTEGERS
  {
    size_t i = (n > 0 && s[0] == '-');
    lua_Unsigned v = 0, lim = (lua_Unsigned)LUA_MAXINTEGER + (i ? 1u : 0u);
    int ok = i < n;
    for (; ok && i < n; i++) {
      unsigned d = (unsigned)(s[i] - '0');
      if (d > 9 || v > (lim - d) / 10) ok = 0;
      else v = v * 10 + d;
    }
    if (ok) {
      lua_pushinteger(L, s[0] == '-' ? (lua_Integer)(0u - v) : (lua_Integer)v);
      return;
    }
  }
#endif
  if (n >= sizeof buf) n = sizeof buf - 1;
  memcpy(buf, s, n);
  buf[n] = '\0';
  lua_pushnumber(L, (lua_Number)strtod(buf, NULL));
}

static int tb_scalar(fm_sink *s, const char *key, size_t klen, int kind,
                     const char *v, size_t vlen) {
  tbsink *t = (tbsink *)s;
  luaL_checkstack(t->L, 3, "fastmatch: event nested too deep");
  tb_key(t, key, klen);
  switch (FM_SV_KIND(kind)) {
  case FM_SV_STR: lua_pushlstring(t->L, v, vlen); break;
  case FM_SV_NUM: push_number(t->L, v, vlen); break;
  case FM_SV_BOOL: lua_pushboolean(t->L, vlen == 4); break;
  default: lua_pushlightuserdata(t->L, NULL); break; /* cjson.null */
  }
  tb_store(t);
  return 0;
}

static void tb_init(tbsink *t) {
  memset(t, 0, sizeof *t);
  t->s.begin = tb_begin, t->s.end = tb_end, t->s.scalar = tb_scalar;
}

/* ---------------------------------------------------------------------
** The iterator.
** ------------------------------------------------------------------- */
typedef struct EvtxIter {
  fm_evtx *x;
  fm_evtx_file f;
  fm_evtx_pool *pool;
  int fd;          /* opened from a path (owned), or -1 */
  FILE *fp;        /* stdin, or NULL */
  fm_stream *ls;   /* a Lua file, or NULL */
  int fileclosed;  /* a read met the Lua file closed */
  int json, indent, onerr;
  unsigned flags;
  size_t threads;
  int opened, active, closed;
  lua_Integer n;
  fm_evtx_rec last; /* the record handed out last */
  fm_jsonout jo;
  tbsink tb;
  fm_evtx_report *q; /* reports not yet handed to on_error: q[qhead, qn) */
  size_t qhead, qn, qcap;
} EvtxIter;

static ptrdiff_t it_read(void *ud, char *dst, size_t n) {
  EvtxIter *it = ud;
  if (it->fd >= 0) {
    ssize_t got;
    do got = read(it->fd, dst, n);
    while (got < 0 && errno == EINTR);
    return got;
  } else {
    FILE *f = it->fp;
    size_t got;
    if (it->ls != NULL) {
      if (fm_stream_closed(it->ls)) {
        it->fileclosed = 1;
        errno = EBADF;
        return -1;
      }
      f = it->ls->f;
    }
    clearerr(f);
    got = fread(dst, 1, n, f);
    if (got == 0 && ferror(f)) {
      if (errno == 0) errno = EIO;
      return -1;
    }
    return (ptrdiff_t)got;
  }
}

/* Reports wait in a queue: the reader calls this in the middle of its
   work, where Lua must not be entered. */
static void it_report(void *ud, const fm_evtx_report *r) {
  EvtxIter *it = ud;
  if (it->qn == it->qcap) {
    size_t cap = it->qcap ? 2 * it->qcap : 8;
    fm_evtx_report *nq = fm_realloc(it->q, cap * sizeof *nq);
    if (nq == NULL) return; /* counted in the stats all the same */
    it->q = nq, it->qcap = cap;
  }
  it->q[it->qn++] = *r;
}

static EvtxIter *checkevtx(lua_State *L, int idx) {
  return (EvtxIter *)luaL_checkudata(L, idx, EVTX_MT);
}

static void it_release(EvtxIter *it) {
  if (it->closed) return;
  it->closed = 1;
  fm_evtx_pool_free(it->pool);
  it->pool = NULL;
  fm_evtx_free(it->x);
  it->x = NULL;
  fm_evtx_file_close(&it->f);
  fm_jsonout_free(&it->jo);
  fm_free(it->q);
  it->q = NULL, it->qhead = it->qn = it->qcap = 0;
  if (it->fd >= 0) close(it->fd);
  it->fd = -1;
}

static int evtx_gc(lua_State *L) {
  it_release(checkevtx(L, 1));
  return 0;
}

static int evtx_tostring(lua_State *L) {
  EvtxIter *it = checkevtx(L, 1);
  if (it->closed) lua_pushliteral(L, "fastmatch.evtx (closed)");
  else lua_pushfstring(L, "fastmatch.evtx (%p)", (void *)it);
  return 1;
}

/* it:record() -> {chunk, offset, id, size, filetime}: where the record
   handed out last lies (its header's id and written time), nil before
   the first. */
static int evtx_record(lua_State *L) {
  EvtxIter *it = checkevtx(L, 1);
  if (it->n == 0) return 0;
  lua_createtable(L, 0, 5);
  lua_pushinteger(L, (lua_Integer)it->last.chunk);
  lua_setfield(L, -2, "chunk");
  lua_pushinteger(L, (lua_Integer)it->last.offset);
  lua_setfield(L, -2, "offset");
  lua_pushinteger(L, (lua_Integer)it->last.id);
  lua_setfield(L, -2, "id");
  lua_pushinteger(L, (lua_Integer)it->last.size);
  lua_setfield(L, -2, "size");
  lua_pushinteger(L, (lua_Integer)it->last.filetime);
  lua_setfield(L, -2, "filetime");
  return 1;
}

static void set_count(lua_State *L, const char *k, uint64_t v) {
  lua_pushinteger(L, (lua_Integer)v);
  lua_setfield(L, -2, k);
}

/* it:stats() -> {records, bad_records, chunks, bad_chunks, empty_chunks,
   warnings}: what the reader met so far. */
static int evtx_stats(lua_State *L) {
  EvtxIter *it = checkevtx(L, 1);
  fm_evtx_stats st;
  if (it->closed) { /* the counts kept when it closed */
    if (lua_getiuservalue(L, 1, 3) == LUA_TNIL) lua_newtable(L);
    return 1;
  }
  lua_createtable(L, 0, 6);
  st = *fm_evtx_stats_of(it->x);
  if (it->pool != NULL) {
    fm_evtx_stats ps;
    fm_evtx_pool_stats(it->pool, &ps);
    st.records += ps.records, st.bad_records += ps.bad_records;
    st.chunks += ps.chunks, st.bad_chunks += ps.bad_chunks;
    st.empty_chunks += ps.empty_chunks, st.warnings += ps.warnings;
  }
  set_count(L, "records", st.records);
  set_count(L, "bad_records", st.bad_records);
  set_count(L, "chunks", st.chunks);
  set_count(L, "bad_chunks", st.bad_chunks);
  set_count(L, "empty_chunks", st.empty_chunks);
  set_count(L, "warnings", st.warnings);
  return 1;
}

/* Keep the final counts (user value 3) and free everything. */
static void it_finish(lua_State *L, EvtxIter *it, int obj) {
  if (it->closed) return;
  lua_pushcfunction(L, evtx_stats);
  lua_pushvalue(L, obj);
  lua_call(L, 1, 1);
  lua_setiuservalue(L, obj, 3);
  it_release(it);
}

static int evtx_close(lua_State *L) {
  EvtxIter *it = checkevtx(L, 1);
  it_finish(L, it, 1);
  return 0;
}

static const char *const kinds[] = {"", "file", "chunk", "record", "warning"};

/* Hand the queued reports to on_error, in order, one at a time (on_error
   may raise, close the iterator or call it again). */
static void it_deliver(lua_State *L, EvtxIter *it, int obj) {
  while (!it->closed && it->qhead < it->qn) {
    fm_evtx_report r = it->q[it->qhead++];
    if (it->qhead == it->qn) it->qhead = it->qn = 0;
    if (!it->onerr) continue;
    lua_getiuservalue(L, obj, UV_ONERR);
    lua_createtable(L, 0, 6);
    lua_pushstring(L, kinds[r.kind >= 1 && r.kind <= 4 ? r.kind : 0]);
    lua_setfield(L, -2, "kind");
    lua_getiuservalue(L, obj, 4);
    lua_setfield(L, -2, "file");
    lua_pushinteger(L, (lua_Integer)r.chunk);
    lua_setfield(L, -2, "chunk");
    lua_pushinteger(L, (lua_Integer)r.offset);
    lua_setfield(L, -2, "offset");
    if (r.record_id != 0) {
      lua_pushinteger(L, (lua_Integer)r.record_id);
      lua_setfield(L, -2, "record_id");
    }
    lua_pushstring(L, r.reason);
    lua_setfield(L, -2, "reason");
    lua_call(L, 1, 0);
  }
}

static int it_readerror(lua_State *L, EvtxIter *it, int obj) {
  int e = it->f.err;
  if (it->fileclosed) return luaL_error(L, "fastmatch: attempt to use a closed file");
  lua_getiuservalue(L, obj, 4);
  lua_pushfstring(L, "fastmatch: cannot read '%s': %s", lua_tostring(L, -1), strerror(e));
  it_finish(L, it, obj);
  return lua_error(L);
}

/* The generic-for iterator: upvalue 1 is the object. */
static int evtx_iter(lua_State *L) {
  EvtxIter *it = (EvtxIter *)lua_touserdata(L, lua_upvalueindex(1));
  int obj = lua_upvalueindex(1);
  int rc;
  if (it->closed) return luaL_error(L, "fastmatch: evtx iterator is closed");
  for (;;) {
    it_deliver(L, it, obj);
    if (it->closed) return luaL_error(L, "fastmatch: evtx iterator is closed");
    if (it->pool != NULL) {
      fm_evtx_item item;
      rc = fm_evtx_pool_next(it->pool, &it->f, &item);
      if (rc == 0) break;
      if (rc == FM_EVTX_EREAD) return it_readerror(L, it, obj);
      if (rc < 0) return luaL_error(L, "fastmatch: not enough memory");
      if (item.kind != FM_EVTX_RECORD) {
        it_report(it, item.report);
        continue;
      }
      it->last = item.rec;
      if (it->json)
        lua_pushlstring(L, item.json, item.jlen);
      else {
        it->tb.L = L, it->tb.depth = 0;
        if (fm_evtx_pool_replay(it->pool, &it->tb.s) != 0 || it->tb.depth != 0)
          return luaL_error(L, "fastmatch: not enough memory");
      }
    } else {
      fm_evtx_rec rec;
      if (!it->active) {
        rc = fm_evtx_file_next(&it->f, it->x);
        if (rc == 0) break;
        if (rc == FM_EVTX_EREAD) return it_readerror(L, it, obj);
        if (rc < 0) return luaL_error(L, "fastmatch: not enough memory");
        it->active = 1;
        continue;
      }
      if (it->json) {
        it->jo.len = 0;
        rc = fm_evtx_next(it->x, &it->jo.sink, &rec);
      } else {
        it->tb.L = L, it->tb.depth = 0;
        rc = fm_evtx_next(it->x, &it->tb.s, &rec);
      }
      if (rc == FM_EVTX_END) {
        it->active = 0;
        continue;
      }
      if (rc != FM_EVTX_RECORD) return luaL_error(L, "fastmatch: not enough memory");
      if (it->json) lua_pushlstring(L, it->jo.buf, it->jo.len);
      it->last = rec;
    }
    /* reports about what came before this record go first */
    if (it->qn > it->qhead) {
      it_deliver(L, it, obj);
      if (it->closed) return luaL_error(L, "fastmatch: evtx iterator is closed");
    }
    lua_pushinteger(L, ++it->n);
    return 2;
  }
  if (it->pool != NULL) fm_evtx_file_end(&it->f, it->x);
  it_deliver(L, it, obj);
  it_finish(L, it, obj); /* the end: close now, as io.lines does */
  return 0;
}

static size_t online_cpus(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (size_t)n : 1;
}

/* fm.evtx(src [, opts]) -> iter, nil, nil, object (the object is
   to-be-closed, as io.lines's 4th value) */
static int l_evtx(lua_State *L) {
  static const char *const known[] = {"as", "indent", "on_error", "checksums",
                                      "threads", "name", NULL};
  EvtxIter *it;
  fm_stream *ls = NULL;
  const char *path = NULL;
  size_t plen = 0;
  int rc;
  lua_settop(L, 2);
  if (lua_type(L, 1) == LUA_TSTRING)
    path = lua_tolstring(L, 1, &plen);
  else {
    ls = (fm_stream *)luaL_testudata(L, 1, LUA_FILEHANDLE);
    if (ls == NULL) luaL_typeerror(L, 1, "path, \"-\" or file");
    if (fm_stream_closed(ls)) luaL_error(L, "attempt to use a closed file");
  }
  it = (EvtxIter *)lua_newuserdatauv(L, sizeof *it, 4);
  memset(it, 0, sizeof *it);
  it->fd = -1;
  it->closed = 1; /* until it holds something */
  it->threads = 1;
  luaL_setmetatable(L, EVTX_MT);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, 3 + 0, UV_SRC); /* keeps the file alive */
  /* the name reports give the source */
  if (path != NULL) lua_pushvalue(L, 1);
  else lua_pushliteral(L, "(file)");
  lua_setiuservalue(L, 3, 4);
  if (!lua_isnil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    fm_checkopts(L, 2, known);
    if (lua_getfield(L, 2, "as") != LUA_TNIL) {
      const char *as = lua_tostring(L, -1);
      if (lua_type(L, -1) != LUA_TSTRING || (strcmp(as, "table") != 0 && strcmp(as, "json") != 0))
        luaL_argerror(L, 2, "opts.as must be \"table\" or \"json\"");
      it->json = as[0] == 'j';
    }
    if (lua_getfield(L, 2, "indent") != LUA_TNIL) {
      int isint;
      lua_Integer v = lua_tointegerx(L, -1, &isint);
      if (!isint || v < 0 || v > 16)
        luaL_argerror(L, 2, "opts.indent must be an integer in [0, 16]");
      it->indent = (int)v;
    }
    if (lua_getfield(L, 2, "checksums") != LUA_TNIL) {
      const char *c = lua_tostring(L, -1);
      if (lua_type(L, -1) != LUA_TSTRING || (strcmp(c, "keep") != 0 && strcmp(c, "skip") != 0))
        luaL_argerror(L, 2, "opts.checksums must be \"keep\" or \"skip\"");
      if (c[0] == 's') it->flags |= FM_EVTX_STRICT_CRC;
    }
    if (lua_getfield(L, 2, "threads") != LUA_TNIL) {
      int isint;
      lua_Integer t = lua_tointegerx(L, -1, &isint);
      if (!isint || t < 0 || t > 1024)
        luaL_argerror(L, 2, "opts.threads must be an integer in [0, 1024]");
      it->threads = t == 0 ? online_cpus() : (size_t)t;
    }
    if (lua_getfield(L, 2, "name") != LUA_TNIL) {
      if (lua_type(L, -1) != LUA_TSTRING) luaL_argerror(L, 2, "opts.name must be a string");
      lua_pushvalue(L, -1);
      lua_setiuservalue(L, 3, 4);
    }
    lua_pop(L, 5);
    if (lua_getfield(L, 2, "on_error") != LUA_TNIL) {
      if (!lua_isfunction(L, -1)) luaL_argerror(L, 2, "opts.on_error must be a function");
      lua_setiuservalue(L, 3, UV_ONERR);
      it->onerr = 1;
    } else
      lua_pop(L, 1);
  }
  if (ls != NULL)
    it->ls = ls;
  else if (plen == 1 && path[0] == '-')
    it->fp = stdin;
  else {
    if (memchr(path, '\0', plen) != NULL) luaL_argerror(L, 1, "path contains a NUL byte");
    it->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (it->fd < 0) luaL_error(L, "fastmatch: cannot open '%s': %s", path, strerror(errno));
  }
  it->closed = 0;
  tb_init(&it->tb);
  fm_jsonout_init(&it->jo, it->indent);
  it->x = fm_evtx_new(it->flags, it_report, it);
  if (it->x == NULL) {
    it_release(it);
    return luaL_error(L, "fastmatch: not enough memory");
  }
  rc = fm_evtx_file_open(&it->f, it->x, it_read, it);
  if (rc == FM_EVTX_EREAD) return it_readerror(L, it, 3);
  if (rc < 0) {
    it_release(it);
    return luaL_error(L, "fastmatch: not enough memory");
  }
  it->opened = 1;
  if (it->threads > 1) {
    it->pool = fm_evtx_pool_new(it->threads, it->json ? FM_EVTX_POOL_JSON : FM_EVTX_POOL_EVENTS,
                                it->flags, it->indent);
    if (it->pool == NULL) { /* no threads to be had: read on this one */
      it->threads = 1;
    }
  }
  lua_pushvalue(L, 3);
  lua_pushcclosure(L, evtx_iter, 1);
  lua_pushnil(L);
  lua_pushnil(L);
  lua_pushvalue(L, 3);
  return 4;
}

/* ---------------------------------------------------------------------
** For benchmarks and tools: the reader with no Lua per record.
** ------------------------------------------------------------------- */
typedef struct countsink {
  fm_sink s;
  uint64_t events, bytes;
} countsink;

static int cs_begin(fm_sink *s, const char *key, size_t klen, int array) {
  countsink *c = (countsink *)s;
  (void)key, (void)array;
  c->events++, c->bytes += klen;
  return 0;
}
static int cs_end(fm_sink *s) {
  ((countsink *)s)->events++;
  return 0;
}
static int cs_scalar(fm_sink *s, const char *key, size_t klen, int kind, const char *v,
                     size_t vlen) {
  countsink *c = (countsink *)s;
  (void)key, (void)kind, (void)v;
  c->events++, c->bytes += klen + vlen;
  return 0;
}
static int ns_begin(fm_sink *s, const char *key, size_t klen, int array) {
  (void)s, (void)key, (void)klen, (void)array;
  return 0;
}
static int ns_end(fm_sink *s) {
  (void)s;
  return 0;
}
static int ns_scalar(fm_sink *s, const char *key, size_t klen, int kind, const char *v,
                     size_t vlen) {
  (void)s, (void)key, (void)klen, (void)kind, (void)v, (void)vlen;
  return 0;
}

typedef struct fdsrc {
  int fd;
} fdsrc;

static ptrdiff_t fd_read(void *ud, char *dst, size_t n) {
  ssize_t got;
  do got = read(((fdsrc *)ud)->fd, dst, n);
  while (got < 0 && errno == EINTR);
  return got;
}

/* fm._evtx_scan(path, consumer [, threads]) -> records, events, bytes:
   read a file with its records going to a C consumer -- "null" (a sink
   that does nothing), "count" (counts events and key and value bytes) or
   "json" (the JSON writer; bytes = its output) -- on one thread or
   through the pool.  Reports are counted only. */
static int l_evtx_scan(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  const char *mode = luaL_checkstring(L, 2);
  size_t threads = fm_optsize(L, 3, 1);
  int json = strcmp(mode, "json") == 0, count = strcmp(mode, "count") == 0;
  countsink cs;
  fm_sink ns;
  fm_jsonout jo;
  fm_sink *sink;
  fm_evtx *x;
  fm_evtx_file f;
  fm_evtx_pool *pool = NULL;
  fdsrc src;
  uint64_t records = 0, bytes = 0;
  int rc;
  luaL_argcheck(L, threads <= 1024, 3, "at most 1024 threads");
  if (!json && !count && strcmp(mode, "null") != 0)
    luaL_argerror(L, 2, "\"null\", \"count\" or \"json\" expected");
  memset(&cs, 0, sizeof cs);
  cs.s.begin = cs_begin, cs.s.end = cs_end, cs.s.scalar = cs_scalar;
  ns.begin = ns_begin, ns.end = ns_end, ns.scalar = ns_scalar;
  fm_jsonout_init(&jo, 0);
  sink = json ? &jo.sink : count ? &cs.s : &ns;
  src.fd = open(path, O_RDONLY | O_CLOEXEC);
  if (src.fd < 0) return luaL_error(L, "fastmatch: cannot open '%s': %s", path, strerror(errno));
  x = fm_evtx_new(0, NULL, NULL);
  if (x == NULL || fm_evtx_file_open(&f, x, fd_read, &src) != 0) {
    fm_evtx_free(x);
    close(src.fd);
    return luaL_error(L, "fastmatch: cannot read '%s'", path);
  }
  if (threads > 1)
    pool = fm_evtx_pool_new(threads, json ? FM_EVTX_POOL_JSON : FM_EVTX_POOL_EVENTS, 0, 0);
  if (pool != NULL) {
    fm_evtx_item it;
    while ((rc = fm_evtx_pool_next(pool, &f, &it)) == 1) {
      if (it.kind != FM_EVTX_RECORD) continue;
      records++;
      if (json) bytes += it.jlen;
      else if (fm_evtx_pool_replay(pool, sink) != 0) rc = -1;
    }
  } else {
    while ((rc = fm_evtx_file_next(&f, x)) == 1) {
      fm_evtx_rec rec;
      int r;
      while ((r = fm_evtx_next(x, sink, &rec)) == FM_EVTX_RECORD) {
        records++;
        bytes += jo.len;
        jo.len = 0;
      }
      if (r != FM_EVTX_END) {
        rc = r;
        break;
      }
    }
  }
  fm_evtx_pool_free(pool);
  fm_evtx_file_close(&f);
  fm_evtx_free(x);
  fm_jsonout_free(&jo);
  close(src.fd);
  if (rc < 0) return luaL_error(L, "fastmatch: cannot read '%s'", path);
  lua_pushinteger(L, (lua_Integer)records);
  lua_pushinteger(L, (lua_Integer)cs.events);
  lua_pushinteger(L, (lua_Integer)(count ? cs.bytes : bytes));
  return 3;
}

/* fm._evtx_crc(s) -> the CRC-32 the EVTX checksums use (benchmarks build
   files with it). */
static int l_evtx_crc(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  uint32_t tab, fast;
  fm_evtx_crc_check((const unsigned char *)s, n, &tab, &fast);
  lua_pushinteger(L, (lua_Integer)fast);
  return 1;
}

/* fm._evtx_sniff(s): does the string start like an EVTX file? */
static int l_evtx_sniff(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  lua_pushboolean(L, fm_evtx_sniff(s, n));
  return 1;
}

static const luaL_Reg evtx_methods[] = {
    {"close", evtx_close}, {"stats", evtx_stats}, {"record", evtx_record}, {NULL, NULL}};
static const luaL_Reg evtx_meta[] = {{"__gc", evtx_gc},
                                     {"__close", evtx_close},
                                     {"__tostring", evtx_tostring},
                                     {NULL, NULL}};
static const luaL_Reg evtx_funcs[] = {
    {"evtx", l_evtx},           {"_evtx_sniff", l_evtx_sniff}, {"_evtx_scan", l_evtx_scan},
    {"_evtx_crc", l_evtx_crc}, {NULL, NULL}};

void fm_open_evtx(lua_State *L) {
  fm_newclass(L, EVTX_MT, evtx_methods, evtx_meta, 0);
  lua_pop(L, 1);
  fm_setfuncs(L, evtx_funcs);
}

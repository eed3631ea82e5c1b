/*
** pack.c -- a graph of Lua values to bytes and back, for the compiled-rule
** cache (lua/fastmatch/sigma/cache.lua): tables shared stay shared (cycles
** too), each distinct string is written once, integers and floats keep their
** subtype.  Userdata and functions go through a hook: pack asks hook(x) for
** a plain description (or nil: left out), unpack hands the description to
** revive(d), which makes the object again.
**   core._pack(v, hook [, known]) -> string
**   core._unpack(s, at, revive [, known]) -> v  (raises on bytes it cannot read)
** known: a list of values both sides hold already (sentinels such as
** modifiers.STAR, compared by identity): written as references to them.
**   core._hash(s [, at]) -> 32 hex digits of s[at ..] (integrity, not secrecy)
**   core._hash_file(path) -> hash, size | nil, message: the same of a file's
**                             bytes, read here (no Lua string made)
** _pack's omit: key names left out of every table (fields only compiling
** reads: cache.lua says which).
** Owns: the byte format, below; a cache file's header is cache.lua's.
** Loading the engine this way is several times faster than load() of Lua
** source (no parser, strings interned once): docs/startup.md.
** Unpack trusts nothing: every count is checked against the bytes left,
** every reference against what was read, the depth is capped.  The format
** is the running Lua's (integers where it has them): cache.lua keys files
** by the Lua version.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lauxlib.h"
#include "lua.h"

#include "binding.h"

/* The byte format: a value is a tag byte and its body. */
enum {
  T_NONE,  /* nothing (a left-out value: its table entry is skipped) */
  T_FALSE,
  T_TRUE,
  T_INT,   /* zigzag varint */
  T_FLOAT, /* 8 bytes, little-endian IEEE double */
  T_STR,   /* varint length, bytes; becomes string #k */
  T_SREF,  /* varint k */
  T_TABLE, /* varint narr, varint nhash; becomes object #k; narr values,
              nhash key/value pairs */
  T_REF,   /* varint k: object #k */
  T_OBJ    /* a description, then revive(description); becomes object #k */
};
#define MAXDEPTH 200

/* ---------------------------------------------------------------- writing */
/* What pack has written, by identity: a pointer -> id map (open
   addressing).  Tables, userdata and functions are their identity; a short
   string too (short strings are interned: one object per content), a long
   one goes by content through a Lua table. */
typedef struct pmap {
  const void **key;
  uint32_t *val;
  size_t mask, n;
} pmap;

typedef struct wbuf {
  char *p;
  size_t n, cap;
  pmap objs, strs;
} wbuf;

static int wbuf_gc(lua_State *L) {
  wbuf *b = (wbuf *)lua_touserdata(L, 1);
  free(b->p);
  free(b->objs.key), free(b->objs.val), free(b->strs.key), free(b->strs.val);
  memset(b, 0, sizeof *b);
  return 0;
}

static size_t pslot(const pmap *m, const void *k) {
  uint64_t h = (uint64_t)(uintptr_t)k * 0x9E3779B97F4A7C15ull;
  size_t i = (size_t)(h >> 32) & m->mask;
  while (m->key[i] != NULL && m->key[i] != k) i = (i + 1) & m->mask;
  return i;
}

/* the id of k, or 0 after giving it id (k non-NULL) */
static uint32_t pmap_put(lua_State *L, pmap *m, const void *k, uint32_t id) {
  size_t i;
  if (m->key == NULL || 2 * (m->n + 1) > m->mask + 1) {
    pmap g;
    size_t cap = m->key ? 2 * (m->mask + 1) : 64, j;
    g.key = (const void **)calloc(cap, sizeof *g.key);
    g.val = (uint32_t *)malloc(cap * sizeof *g.val);
    if (g.key == NULL || g.val == NULL) {
      free(g.key), free(g.val);
      luaL_error(L, "fastmatch: not enough memory");
    }
    g.mask = cap - 1, g.n = m->n;
    for (j = 0; m->key && j <= m->mask; j++)
      if (m->key[j] != NULL) {
        size_t t = pslot(&g, m->key[j]);
        g.key[t] = m->key[j], g.val[t] = m->val[j];
      }
    free(m->key), free(m->val);
    *m = g;
  }
  i = pslot(m, k);
  if (m->key[i] != NULL) return m->val[i];
  m->key[i] = k, m->val[i] = id, m->n++;
  return 0;
}

static void wreserve(lua_State *L, wbuf *b, size_t more) {
  if (b->cap - b->n < more) {
    size_t cap = b->cap ? b->cap : 4096;
    char *np;
    while (cap - b->n < more) {
      if (cap > SIZE_MAX / 2) luaL_error(L, "fastmatch: not enough memory");
      cap *= 2;
    }
    np = (char *)realloc(b->p, cap);
    if (np == NULL) luaL_error(L, "fastmatch: not enough memory");
    b->p = np, b->cap = cap;
  }
}

static void wbyte(lua_State *L, wbuf *b, int c) {
  wreserve(L, b, 1);
  b->p[b->n++] = (char)c;
}

static void wvarint(lua_State *L, wbuf *b, uint64_t v) {
  wreserve(L, b, 10);
  while (v >= 0x80) {
    b->p[b->n++] = (char)(v | 0x80);
    v >>= 7;
  }
  b->p[b->n++] = (char)v;
}

typedef struct packer {
  lua_State *L;
  wbuf *b;
  int hook, strs; /* stack slots: the hook, long string -> id */
  int omit;             /* stack slot of a set of key names, or 0 */
  lua_Integer nobj, nstr;
  int depth;
} packer;

static void pack_value(packer *pk, int idx);

/* object id of the value at idx, or 0 (and it is given the next id) */
static lua_Integer seen_obj(packer *pk, int idx) {
  lua_Integer id = pmap_put(pk->L, &pk->b->objs, lua_topointer(pk->L, idx),
                            (uint32_t)(pk->nobj + 1));
  if (id == 0) pk->nobj++;
  return id;
}

/* a long string: by content, in the Lua table at map */
static lua_Integer seen(packer *pk, int idx, int map, lua_Integer *count) {
  lua_State *L = pk->L;
  lua_Integer id;
  lua_pushvalue(L, idx);
  lua_rawget(L, map);
  id = lua_tointeger(L, -1);
  lua_pop(L, 1);
  if (id != 0) return id;
  lua_pushvalue(L, idx);
  lua_pushinteger(L, ++*count);
  lua_rawset(L, map);
  return 0;
}

/* is the key at idx one of the omitted names? */
static int omitted(packer *pk, int idx) {
  lua_State *L = pk->L;
  int r;
  if (!pk->omit || lua_type(L, idx) != LUA_TSTRING) return 0;
  lua_pushvalue(L, idx);
  lua_rawget(L, pk->omit);
  r = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return r;
}

static void pack_table(packer *pk, int t) {
  lua_State *L = pk->L;
  size_t narr = (size_t)lua_rawlen(L, t), nhash = 0, i;
  lua_pushnil(L);
  while (lua_next(L, t)) {
    lua_pop(L, 1);
    if (omitted(pk, lua_gettop(L))) continue;
    if (lua_type(L, -1) == LUA_TNUMBER && lua_isinteger(L, -1)) {
      lua_Integer k = lua_tointeger(L, -1);
      if (k >= 1 && (size_t)k <= narr) continue;
    } else if (lua_type(L, -1) == LUA_TNUMBER) {
      lua_Number k = lua_tonumber(L, -1);
      if (k >= 1 && k <= (lua_Number)narr && k == (lua_Number)(size_t)k) continue;
    }
    nhash++;
  }
  wbyte(L, pk->b, T_TABLE);
  wvarint(L, pk->b, narr);
  wvarint(L, pk->b, nhash);
  for (i = 1; i <= narr; i++) {
    lua_rawgeti(L, t, (lua_Integer)i);
    pack_value(pk, lua_gettop(L));
    lua_pop(L, 1);
  }
  lua_pushnil(L);
  while (lua_next(L, t)) {
    int kv = lua_gettop(L);
    int skip = 0;
    if (lua_type(L, kv - 1) == LUA_TNUMBER) {
      lua_Number k = lua_tonumber(L, kv - 1);
      skip = k >= 1 && k <= (lua_Number)narr && k == (lua_Number)(size_t)k;
    }
    if (!skip && !omitted(pk, kv - 1)) {
      pack_value(pk, kv - 1);
      pack_value(pk, kv);
    }
    lua_pop(L, 1);
  }
}

static void pack_value(packer *pk, int idx) {
  lua_State *L = pk->L;
  wbuf *b = pk->b;
  switch (lua_type(L, idx)) {
  case LUA_TBOOLEAN: wbyte(L, b, lua_toboolean(L, idx) ? T_TRUE : T_FALSE); return;
  case LUA_TNUMBER:
    if (lua_isinteger(L, idx)) {
      lua_Integer i = lua_tointeger(L, idx);
      uint64_t u = (uint64_t)i;
      wbyte(L, b, T_INT);
      wvarint(L, b, (u << 1) ^ (i < 0 ? UINT64_MAX : 0));
    } else {
      double d = (double)lua_tonumber(L, idx);
      uint64_t u;
      int k;
      memcpy(&u, &d, 8);
      wbyte(L, b, T_FLOAT);
      wreserve(L, b, 8);
      for (k = 0; k < 8; k++) b->p[b->n++] = (char)(u >> (8 * k));
    }
    return;
  case LUA_TSTRING: {
    size_t len;
    const char *str = lua_tolstring(L, idx, &len);
    lua_Integer id;
    if (len <= 40) { /* (5.2+ intern up to 40 bytes; 5.1 and LuaJIT all) */
      id = pmap_put(L, &pk->b->strs, str, (uint32_t)(pk->nstr + 1));
      if (id == 0) pk->nstr++;
    } else {
      id = seen(pk, idx, pk->strs, &pk->nstr);
    }
    if (id) {
      wbyte(L, b, T_SREF);
      wvarint(L, b, (uint64_t)id);
    } else {
      size_t n;
      const char *s = lua_tolstring(L, idx, &n);
      wbyte(L, b, T_STR);
      wvarint(L, b, n);
      wreserve(L, b, n);
      memcpy(b->p + b->n, s, n);
      b->n += n;
    }
    return;
  }
  case LUA_TTABLE: {
    lua_Integer id = seen_obj(pk, idx);
    if (id) {
      wbyte(L, b, T_REF);
      wvarint(L, b, (uint64_t)id);
      return;
    }
    if (++pk->depth > MAXDEPTH) luaL_error(L, "fastmatch: pack: nested too deeply");
    luaL_checkstack(L, 8, "pack: nested too deeply");
    pack_table(pk, idx);
    pk->depth--;
    return;
  }
  case LUA_TNIL: wbyte(L, b, T_NONE); return;
  default: { /* userdata, functions, threads: the hook describes them */
    lua_Integer id;
    {
      size_t i = b->objs.key ? pslot(&b->objs, lua_topointer(L, idx)) : 0;
      id = b->objs.key && b->objs.key[i] != NULL ? b->objs.val[i] : 0;
    }
    if (id) {
      wbyte(L, b, T_REF);
      wvarint(L, b, (uint64_t)id);
      return;
    }
    lua_pushvalue(L, pk->hook);
    lua_pushvalue(L, idx);
    lua_call(L, 1, 1);
    if (lua_isnil(L, -1)) {
      wbyte(L, b, T_NONE);
    } else {
      if (++pk->depth > MAXDEPTH) luaL_error(L, "fastmatch: pack: nested too deeply");
      wbyte(L, b, T_OBJ);
      pack_value(pk, lua_gettop(L));
      pk->depth--;
      /* its id once described, as unpack numbers it after revive */
      seen_obj(pk, idx);
    }
    lua_pop(L, 1);
  }
  }
}

/* known (at arg) -> objects #1 .. #n of unpack's list (pack seeds its
   pointer map the same way, in l_pack) */
static lua_Integer seed_known(lua_State *L, int arg, int list) {
  lua_Integer i, n;
  if (lua_isnoneornil(L, arg)) return 0;
  luaL_checktype(L, arg, LUA_TTABLE);
  n = (lua_Integer)lua_rawlen(L, arg);
  for (i = 1; i <= n; i++) {
    lua_rawgeti(L, arg, i);
    lua_rawseti(L, list, i);
  }
  return n;
}

/* core._pack(v, hook [, known [, omit]]) -> string */
static int l_pack(lua_State *L) {
  packer pk;
  wbuf *b;
  luaL_checkany(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  if (!lua_isnoneornil(L, 4)) luaL_checktype(L, 4, LUA_TTABLE);
  lua_settop(L, 4);
  lua_insert(L, 3); /* v hook omit known */
  b = (wbuf *)lua_newuserdatauv(L, sizeof *b, 0); /* 5 */
  memset(b, 0, sizeof *b);
  lua_newtable(L);
  lua_pushcfunction(L, wbuf_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, 5);
  lua_newtable(L); /* 6: long strings by content (the rest: b's maps) */
  pk.L = L, pk.b = b, pk.hook = 2, pk.strs = 6;
  pk.omit = lua_istable(L, 3) ? 3 : 0;
  pk.nobj = 0, pk.nstr = 0, pk.depth = 0;
  if (!lua_isnoneornil(L, 4)) { /* the known objects: ids 1 .. n */
    lua_Integer i, n;
    luaL_checktype(L, 4, LUA_TTABLE);
    n = (lua_Integer)lua_rawlen(L, 4);
    for (i = 1; i <= n; i++) {
      const void *k;
      lua_rawgeti(L, 4, i);
      k = lua_topointer(L, -1);
      if (k != NULL) pmap_put(L, &b->objs, k, (uint32_t)i);
      lua_pop(L, 1);
    }
    pk.nobj = n;
  }
  pack_value(&pk, 1);
  lua_pushlstring(L, b->p, b->n);
  free(b->p);
  b->p = NULL;
  return 1;
}

/* ---------------------------------------------------------------- reading */
typedef struct unpacker {
  lua_State *L;
  const unsigned char *p, *end;
  int revive, objs, strs;
  lua_Integer nobj, nstr;
  int depth;
} unpacker;

static int bad(unpacker *u, const char *what) {
  return luaL_error(u->L, "fastmatch: unpack: %s at byte %d", what,
                    (int)(u->end - u->p));
}

static uint64_t rvarint(unpacker *u) {
  uint64_t v = 0;
  int shift = 0;
  for (;;) {
    unsigned c;
    if (u->p >= u->end || shift > 63) bad(u, "truncated varint");
    c = *u->p++;
    v |= (uint64_t)(c & 0x7F) << shift;
    if (c < 0x80) return v;
    shift += 7;
  }
}

/* a count that the bytes left could hold (each entry takes a byte) */
static size_t rcount(unpacker *u, int per) {
  uint64_t n = rvarint(u);
  if (n > (uint64_t)(u->end - u->p) / (uint64_t)per) bad(u, "count past the end");
  return (size_t)n;
}

/* pushes the value read; returns 0 for T_NONE (and pushes nil) */
static int unpack_value(unpacker *u) {
  lua_State *L = u->L;
  int tag;
  if (u->p >= u->end) bad(u, "truncated");
  tag = *u->p++;
  switch (tag) {
  case T_NONE: lua_pushnil(L); return 0;
  case T_FALSE: lua_pushboolean(L, 0); return 1;
  case T_TRUE: lua_pushboolean(L, 1); return 1;
  case T_INT: {
    uint64_t z = rvarint(u);
    int64_t i = (int64_t)((z >> 1) ^ (0 - (z & 1)));
#if FM_LUA_HAS_INTEGERS
    lua_pushinteger(L, (lua_Integer)i);
#else
    lua_pushnumber(L, (lua_Number)i);
#endif
    return 1;
  }
  case T_FLOAT: {
    uint64_t w = 0;
    double d;
    int k;
    if (u->end - u->p < 8) bad(u, "truncated number");
    for (k = 0; k < 8; k++) w |= (uint64_t)u->p[k] << (8 * k);
    u->p += 8;
    memcpy(&d, &w, 8);
    lua_pushnumber(L, (lua_Number)d);
    return 1;
  }
  case T_STR: {
    size_t n = rcount(u, 1);
    lua_pushlstring(L, (const char *)u->p, n);
    u->p += n;
    lua_pushvalue(L, -1);
    lua_rawseti(L, u->strs, ++u->nstr);
    return 1;
  }
  case T_SREF: {
    uint64_t k = rvarint(u);
    if (k == 0 || k > (uint64_t)u->nstr) bad(u, "bad string reference");
    lua_rawgeti(L, u->strs, (lua_Integer)k);
    return 1;
  }
  case T_REF: {
    uint64_t k = rvarint(u);
    if (k == 0 || k > (uint64_t)u->nobj) bad(u, "bad reference");
    lua_rawgeti(L, u->objs, (lua_Integer)k);
    return 1;
  }
  case T_TABLE: {
    size_t narr = rcount(u, 1), nhash, i;
    int t;
    nhash = rcount(u, 2);
    if (++u->depth > MAXDEPTH) bad(u, "nested too deeply");
    luaL_checkstack(L, 8, "unpack: nested too deeply");
    lua_createtable(L, narr > INT32_MAX ? 0 : (int)narr, nhash > INT32_MAX ? 0 : (int)nhash);
    t = lua_gettop(L);
    lua_pushvalue(L, t);
    lua_rawseti(L, u->objs, ++u->nobj);
    for (i = 1; i <= narr; i++) {
      if (unpack_value(u)) lua_rawseti(L, t, (lua_Integer)i);
      else lua_pop(L, 1);
    }
    for (i = 0; i < nhash; i++) {
      int k = unpack_value(u);
      int v = unpack_value(u);
      if (k && v) {
        if (lua_type(L, -2) == LUA_TNUMBER) {
          lua_Number x = lua_tonumber(L, -2);
          if (x != x) bad(u, "NaN key");
        }
        lua_rawset(L, t);
      } else {
        lua_pop(L, 2);
      }
    }
    u->depth--;
    return 1;
  }
  case T_OBJ: {
    if (++u->depth > MAXDEPTH) bad(u, "nested too deeply");
    luaL_checkstack(L, 8, "unpack: nested too deeply");
    lua_pushvalue(L, u->revive);
    if (!unpack_value(u)) bad(u, "empty object description");
    lua_call(L, 1, 1);
    u->depth--;
    lua_pushvalue(L, -1);
    lua_rawseti(L, u->objs, ++u->nobj);
    return 1;
  }
  default: return bad(u, "unknown tag");
  }
}

/* core._unpack(s, at, revive [, known]) -> v */
static int l_unpack(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  size_t at = fm_checksize(L, 2);
  unpacker u;
  luaL_checktype(L, 3, LUA_TFUNCTION);
  lua_settop(L, 4);
  if (at < 1 || at > n + 1) return luaL_argerror(L, 2, "out of range");
  lua_newtable(L); /* 5 */
  lua_newtable(L); /* 6 */
  u.L = L, u.p = (const unsigned char *)s + at - 1, u.end = (const unsigned char *)s + n;
  u.revive = 3, u.objs = 5, u.strs = 6, u.nstr = 0, u.depth = 0;
  u.nobj = seed_known(L, 4, 5);
  unpack_value(&u);
  if (u.p != u.end) bad(&u, "bytes after the value");
  return 1;
}

/* ---------------------------------------------------------------- hashing */
static uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
static uint64_t fmix(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}

/* Two independent 64-bit lanes over 8-byte words (murmur3's mixing). */
static void fm_hash128(const char *s, size_t n, uint64_t out[2]) {
  uint64_t a = 0x9E3779B97F4A7C15ull ^ n, b = 0xC2B2AE3D27D4EB4Full + n, w;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    memcpy(&w, s + i, 8);
    a = rotl(a ^ (w * 0x87c37b91114253d5ull), 31) * 0x4cf5ad432745937full;
    b = rotl(b ^ (w * 0x52dce729da3ed7b5ull), 33) * 0x38495ab5ab5f8d47ull;
  }
  w = 0;
  if (i < n) memcpy(&w, s + i, n - i);
  a = fmix(a ^ (w * 0x87c37b91114253d5ull) ^ (a >> 29));
  b = fmix(b ^ (w * 0x52dce729da3ed7b5ull) ^ a);
  out[0] = a, out[1] = b;
}

static void push_hex(lua_State *L, const uint64_t h[2]) {
  char hex[33];
  int k;
  for (k = 0; k < 32; k++) hex[k] = "0123456789abcdef"[(h[k / 16] >> (60 - 4 * (k % 16))) & 15];
  lua_pushlstring(L, hex, 32);
}

/* core._hash(s [, at]) -> 32 hex digits */
static int l_hash(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  size_t at = lua_isnoneornil(L, 2) ? 1 : fm_checksize(L, 2);
  uint64_t h[2];
  if (at < 1 || at > n + 1) return luaL_argerror(L, 2, "out of range");
  fm_hash128(s + at - 1, n - (at - 1), h);
  push_hex(L, h);
  return 1;
}

/* core._hash_file(path) -> hash, size | nil, message.  A rule file fits the
   stack buffer (SigmaHQ's largest is 40 kB); a larger one is read whole
   into the heap. */
static int l_hash_file(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  FILE *f = fopen(path, "rb");
  char stackbuf[65536];
  char *buf = stackbuf;
  size_t n = 0, cap = sizeof stackbuf;
  uint64_t h[2];
  int err;
  if (f == NULL) return luaL_fileresult(L, 0, path);
  for (;;) {
    size_t got;
    if (n == cap) {
      char *nb = (char *)realloc(buf == stackbuf ? NULL : buf, cap * 2);
      if (nb == NULL) {
        if (buf != stackbuf) free(buf);
        fclose(f);
        return luaL_error(L, "fastmatch: not enough memory");
      }
      if (buf == stackbuf) memcpy(nb, stackbuf, n);
      buf = nb, cap *= 2;
    }
    got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (got == 0) break;
  }
  err = ferror(f);
  fclose(f);
  if (!err) fm_hash128(buf, n, h);
  if (buf != stackbuf) free(buf);
  if (err) {
    lua_pushnil(L);
    lua_pushfstring(L, "%s: read error", path);
    return 2;
  }
  push_hex(L, h);
  lua_pushinteger(L, (lua_Integer)n);
  return 2;
}

static const luaL_Reg pack_funcs[] = {{"_pack", l_pack},
                                      {"_unpack", l_unpack},
                                      {"_hash", l_hash},
                                      {"_hash_file", l_hash_file},
                                      {NULL, NULL}};

void fm_open_pack(lua_State *L) { fm_setfuncs(L, pack_funcs); }

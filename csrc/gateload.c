/*
** gateload.c -- the gate's loader: the table lua/fastmatch/sigma/program.lua
** builds (from the engine's index and the rules' conditions) to a program
** the VM runs (gatevm.h).  Owns: reading and checking that table.  Must not
** touch: what a rule means (program.lua), running (gatevm.c).
**
**   { names = {field name, ...},              field ids 1 .. #names
**     regexes = {fm.compile object, ...},      regex ids 0 ..
**     variants = { {
**       conds = { {field, value, ...}, ... },  the variant applies when each
**                                              field is one of its values
**       probes = { {field, set, base}, ... },  an fm.set asked for a field's
**                                              values (field 0: all values);
**                                              its patterns are bits base ..
**       nbits = n,
**       trig = { bit, slot, gates, ... },      a hit bit opens gates of a rule
**       full = {...}, always = {0|1...},       per rule (slot): the gates that
**       prog = {...}, ids = {...},             make it a candidate, evaluated
**                                              always, its code's start (1-based),
**                                              the engine's index
**       code = {int, ...} }, ... } }           every rule's code (gatevm.h)
**
** Every index is checked (the VM's fm_gprog_finish checks the code), so a
** wrong table raises "fastmatch: sigma gate: ..." instead of reading out
** of bounds.  The program's arrays are the caller's (freed with
** fm_gprog_free, also after an error here); the sets and regexes are
** appended to the table at keep, which the caller keeps alive.
*/
#include <limits.h>
#include <string.h>

#include "binding.h"
#include "gatevm.h"

static uint32_t geti_u32(lua_State *L, int t, lua_Integer i, uint32_t max, const char *what) {
  lua_Integer v;
  int ok;
  lua_geti(L, t, i);
  v = lua_tointegerx(L, -1, &ok);
  lua_pop(L, 1);
  if (!ok || v < 0 || (lua_Unsigned)v > max) luaL_error(L, "fastmatch: sigma gate: bad %s at %d", what, (int)i);
  return (uint32_t)v;
}

static void *xcalloc(lua_State *L, size_t n, size_t size) {
  void *p = fm_calloc(n ? n : 1, size);
  if (p == NULL) luaL_error(L, "fastmatch: not enough memory");
  return p;
}

static uint32_t pool_add(lua_State *L, fm_gprog *p, const char *s, size_t n, size_t *cap) {
  size_t at = p->npool;
  if (n > UINT32_MAX || p->npool + n > UINT32_MAX) luaL_error(L, "fastmatch: sigma gate: too many names");
  if (p->npool + n > *cap) {
    size_t nc = *cap ? *cap : 1024;
    char *np;
    while (nc < p->npool + n) nc *= 2;
    np = fm_realloc(p->pool, nc);
    if (np == NULL) luaL_error(L, "fastmatch: not enough memory");
    p->pool = np, *cap = nc;
  }
  memcpy(p->pool + p->npool, s, n);
  p->npool += n;
  return (uint32_t)at;
}

/* t[k], a table, pushed; its length */
static lua_Integer field_len(lua_State *L, int t, const char *k) {
  lua_Integer n;
  if (lua_getfield(L, t, k) != LUA_TTABLE) luaL_error(L, "fastmatch: sigma gate: '%s' must be a table", k);
  n = luaL_len(L, -1);
  if (n < 0 || n > INT32_MAX / 4) luaL_error(L, "fastmatch: sigma gate: '%s' is too long", k);
  return n;
}

/* vt[k], a list of n integers (want: n must be that, -1: any) into *dst,
   which owns the array before an error can leave it */
static lua_Integer u32_list(lua_State *L, int vt, const char *k, lua_Integer want, uint32_t max,
                            uint32_t **dst) {
  lua_Integer n = field_len(L, vt, k), i;
  uint32_t *a;
  if (want >= 0 && n != want) luaL_error(L, "fastmatch: sigma gate: full, %s differ in length", k);
  a = *dst = xcalloc(L, (size_t)n + 1, sizeof *a);
  for (i = 1; i <= n; i++) a[i - 1] = geti_u32(L, -1, i, max, k);
  lua_pop(L, 1);
  return n;
}

static void load_var(lua_State *L, fm_gprog *p, fm_gvar *v, int vt, int keep, size_t *pcap) {
  int top = lua_gettop(L);
  lua_Integer n, i, k;
  uint32_t *flags;
  /* conds = { {field, value, ...}, ... } */
  n = field_len(L, vt, "conds");
  v->conds = xcalloc(L, (size_t)n, sizeof *v->conds);
  for (i = 1; i <= n; i++) {
    fm_gcond *c = &v->conds[v->ncond];
    lua_Integer m;
    if (lua_geti(L, -1, i) != LUA_TTABLE) luaL_error(L, "fastmatch: sigma gate: bad condition");
    m = luaL_len(L, -1);
    if (m < 1 || m > INT32_MAX / 8) luaL_error(L, "fastmatch: sigma gate: bad condition");
    v->ncond++; /* first: what it holds is freed with it */
    c->field = geti_u32(L, -1, 1, p->nfields, "condition field");
    if (c->field == 0) luaL_error(L, "fastmatch: sigma gate: bad condition field");
    c->off = xcalloc(L, (size_t)m, sizeof *c->off);
    c->len = xcalloc(L, (size_t)m, sizeof *c->len);
    for (k = 2; k <= m; k++) {
      size_t len;
      const char *s;
      lua_geti(L, -1, k);
      s = lua_tolstring(L, -1, &len);
      if (s == NULL) luaL_error(L, "fastmatch: sigma gate: bad condition value");
      c->off[c->nvals] = pool_add(L, p, s, len, pcap);
      c->len[c->nvals++] = (uint32_t)len;
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  lua_getfield(L, vt, "nbits");
  {
    int ok;
    lua_Integer nb = lua_tointegerx(L, -1, &ok);
    if (!ok || nb < 0 || nb > INT32_MAX / 4) luaL_error(L, "fastmatch: sigma gate: bad nbits");
    v->nbits = (uint32_t)nb;
  }
  lua_pop(L, 1);
  /* probes = { {field, set, base}, ... } */
  n = field_len(L, vt, "probes");
  v->probes = xcalloc(L, (size_t)n, sizeof *v->probes);
  for (i = 1; i <= n; i++) {
    fm_gprobe *q = &v->probes[i - 1];
    fm_wcset **ref;
    if (lua_geti(L, -1, i) != LUA_TTABLE) luaL_error(L, "fastmatch: sigma gate: bad probe");
    q->field = geti_u32(L, -1, 1, p->nfields, "probe field");
    q->base = geti_u32(L, -1, 3, v->nbits, "probe base");
    lua_geti(L, -1, 2);
    ref = fm_setref(L, -1);
    if (ref == NULL || *ref == NULL) luaL_error(L, "fastmatch: sigma gate: a probe's set is not a live fm.set");
    q->set = ref;
    lua_rawseti(L, keep, (int)lua_rawlen(L, keep) + 1); /* alive as long as the gate */
    lua_pop(L, 1);
    v->nprobe++;
  }
  lua_pop(L, 1);
  /* per rule */
  v->nrules = (uint32_t)u32_list(L, vt, "full", -1, 0xFFFF, &v->full);
  u32_list(L, vt, "ids", v->nrules, INT32_MAX, &v->ids);
  n = field_len(L, vt, "code");
  v->code = xcalloc(L, (size_t)n + 1, sizeof *v->code);
  for (i = 1; i <= n; i++) {
    int ok;
    lua_Integer x;
    lua_geti(L, -1, i);
    x = lua_tointegerx(L, -1, &ok);
    lua_pop(L, 1);
    if (!ok || x < INT32_MIN || x > INT32_MAX) luaL_error(L, "fastmatch: sigma gate: bad code");
    v->code[i - 1] = (int32_t)x;
  }
  v->ncode = (size_t)n;
  lua_pop(L, 1);
  u32_list(L, vt, "prog", v->nrules, (uint32_t)(v->ncode ? v->ncode : 1), &v->prog);
  for (i = 0; i < (lua_Integer)v->nrules; i++) {
    if (v->prog[i] < 1) luaL_error(L, "fastmatch: sigma gate: bad program for rule %d", (int)i + 1);
    v->prog[i]--;
  }
  u32_list(L, vt, "always", v->nrules, 1, &v->always);
  flags = v->always; /* the flags, turned into the list of slots */
  for (i = 0; i < (lua_Integer)v->nrules; i++)
    if (flags[i]) v->always[v->nalways++] = (uint32_t)i;
  /* trig = { bit, slot, gates, ... } (bit 0-based, slot 1-based) */
  n = field_len(L, vt, "trig");
  if (n % 3 != 0) luaL_error(L, "fastmatch: sigma gate: trig is not triples");
  v->trig = xcalloc(L, (size_t)n + 1, sizeof *v->trig);
  for (i = 0; i < n; i += 3) {
    uint32_t slot = geti_u32(L, -1, i + 2, v->nrules, "trig slot");
    if (slot == 0) luaL_error(L, "fastmatch: sigma gate: bad trig slot");
    v->trig[i] = geti_u32(L, -1, i + 1, UINT32_MAX, "trig bit");
    v->trig[i + 1] = slot - 1;
    v->trig[i + 2] = geti_u32(L, -1, i + 3, 0xFFFF, "trig gates");
    v->ntrig++;
  }
  lua_settop(L, top);
}

void fm_gate_load(lua_State *L, int spec, fm_gprog *p, int keep) {
  lua_Integer n, i;
  size_t pcap = 0;
  const char *err;
  int top = lua_gettop(L);
  spec = lua_absindex(L, spec), keep = lua_absindex(L, keep);
  luaL_checktype(L, spec, LUA_TTABLE);
  /* names */
  n = field_len(L, spec, "names");
  if (n >= INT32_MAX / 8) luaL_error(L, "fastmatch: sigma gate: too many names");
  p->name_off = xcalloc(L, (size_t)n + 1, sizeof *p->name_off);
  p->name_len = xcalloc(L, (size_t)n + 1, sizeof *p->name_len);
  for (i = 1; i <= n; i++) {
    size_t len;
    const char *s;
    lua_geti(L, -1, i);
    s = lua_tolstring(L, -1, &len);
    if (s == NULL || lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "fastmatch: sigma gate: names must be strings");
    p->name_off[i] = pool_add(L, p, s, len, &pcap);
    p->name_len[i] = (uint32_t)len;
    lua_pop(L, 1);
  }
  p->nfields = (uint32_t)n;
  lua_pop(L, 1);
  /* regexes = { fm.compile objects } */
  n = field_len(L, spec, "regexes");
  p->rx = xcalloc(L, (size_t)n + 1, sizeof *p->rx);
  for (i = 1; i <= n; i++) {
    fm_matcher *m;
    lua_geti(L, -1, i);
    m = fm_tomatcher(L, -1);
    if (m == NULL || m->test == NULL)
      luaL_error(L, "fastmatch: sigma gate: regexes[%d] is not a live matcher", (int)i);
    p->rx[p->nrx++] = m;
    lua_rawseti(L, keep, (int)lua_rawlen(L, keep) + 1); /* kept alive */
  }
  lua_pop(L, 1);
  /* variants */
  n = field_len(L, spec, "variants");
  p->vars = xcalloc(L, (size_t)n, sizeof *p->vars);
  for (i = 1; i <= n; i++) {
    if (lua_geti(L, -1, i) != LUA_TTABLE) luaL_error(L, "fastmatch: sigma gate: bad variant");
    p->nvars++;
    load_var(L, p, &p->vars[i - 1], lua_gettop(L), keep, &pcap);
    lua_pop(L, 1);
  }
  lua_settop(L, top);
  if (fm_gprog_finish(p, &err) != 0) luaL_error(L, "fastmatch: sigma gate: %s", err);
}

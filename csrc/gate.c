/*
** gate.c -- the binding of fastmatch.sigma's gate: core._sigma_gate (a
** matcher for fm.lines' filter, and eng:match's C path), core._jsonflat and
** core._event_fields (an event's fields as the model settles them), and
** the numbers Lua's compiler writes programs with (core.gate_codes,
** core.event_maxname), from gatevm.h and evmodel.h: not restated in Lua.
** Owns: the gate userdata and what it hands Lua.  Must not touch: the VM
** (gatevm.c), the loader (gateload.c), the event model (evmodel.c), the
** front ends (jsonflat.c: JSON text; evtable.c: Lua tables).
**
** A scanned line: JSON front end -> event model -> VM (the first rule
** that may fire stops it).  An event table: the table front end -> model
** -> VM (every rule); what the model declines comes back as nil and the
** reason, for the engine to take in Lua.
*/
#include <limits.h>
#include <string.h>

#include "binding.h"
#include "evmodel.h"
#include "gatevm.h"
#include "jsonflat.h"

#define GATE_MT "fastmatch.sigma_gate"

typedef struct gate_ud {
  fm_matcher base;
  fm_gprog prog;
  fm_grun *run;
  fm_jflat line;    /* a scanned line's front end and model */
  fm_evmodel model; /* an event table's */
  const fm_evfield *last; /* the last event's fields (gate:fields) */
  size_t nlast;
  fm_evfield *mf; /* match_flat's fields */
  size_t mfcap;
  uint32_t *out; /* emit_all's answers: variant, slot, value, why */
  size_t nout, outcap;
  /* counters */
  double lines, passed, unmodelled;
  double why[FM_EV_NWHY + 1]; /* unmodelled lines by reason (the last: not JSON) */
} gate_ud;

static void gate_free(gate_ud *u) {
  fm_grun_free(u->run);
  u->run = NULL;
  fm_gprog_free(&u->prog);
  fm_jflat_free(&u->line);
  fm_evmodel_free(&u->model);
  fm_free(u->mf), fm_free(u->out);
  u->mf = NULL, u->out = NULL, u->mfcap = u->outcap = u->nout = 0;
  u->last = NULL, u->nlast = 0;
  u->base.test = NULL;
}

static int gate_gc(lua_State *L) {
  gate_free(luaL_checkudata(L, 1, GATE_MT));
  return 0;
}

static gate_ud *check_gate(lua_State *L) {
  gate_ud *u = luaL_checkudata(L, 1, GATE_MT);
  if (u->run == NULL) luaL_error(L, "fastmatch: sigma gate used after it was garbage-collected");
  return u;
}

const fm_gprog *fm_gate_prog(lua_State *L, int idx) {
  gate_ud *u = luaL_testudata(L, idx, GATE_MT);
  return u != NULL && u->run != NULL ? &u->prog : NULL;
}

/* ---------------------------------------------------------------- the scan */
/* the first rule stops the run; why[] says which */
static int emit_first(void *ud, uint32_t var, uint32_t slot, int val, unsigned why) {
  uint32_t *w = ud;
  (void)why;
  if (w != NULL) w[0] = var + 1, w[1] = slot + 1, w[2] = (uint32_t)val;
  return 1;
}

/* 1: some rule may fire on the line (or the line is not modelled), 0: none.
   w (may be NULL): the variant and rule slot (1-based) that let it
   through and the condition's value, or zeros. */
static int gate_run(gate_ud *u, const char *s, size_t n, uint32_t w[3]) {
  int rc = fm_jflat_parse(&u->line, s, n);
  u->lines++;
  u->last = NULL, u->nlast = 0;
  if (rc != FM_JF_OK) {
    u->unmodelled++, u->passed++;
    u->why[rc == FM_JF_OTHER && u->line.why < FM_EV_NWHY ? u->line.why : FM_EV_NWHY]++;
    return 1;
  }
  u->last = u->line.f, u->nlast = u->line.n;
  if (fm_gate_eval(&u->prog, u->run, u->line.f, u->line.n, emit_first, w) != 0) return u->passed++, 1;
  return 0;
}

static int gate_testfn(fm_matcher *m, const char *s, size_t n) {
  gate_ud *u = (gate_ud *)m;
  return u->run == NULL ? 1 : gate_run(u, s, n, NULL);
}

/* core._sigma_gate(spec) -> gate (see gateload.c for spec) */
static int l_gate(lua_State *L) {
  gate_ud *u;
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  u = lua_newuserdatauv(L, sizeof *u, 1); /* 2 */
  memset(u, 0, sizeof *u);
  fm_jflat_init(&u->line);
  fm_evmodel_init(&u->model);
  luaL_setmetatable(L, GATE_MT);
  lua_newtable(L); /* 3: the sets and regexes, kept alive */
  lua_pushvalue(L, 3);
  lua_setiuservalue(L, 2, 1);
  fm_gate_load(L, 1, &u->prog, 3); /* raises: __gc frees what was built */
  u->run = fm_grun_new(&u->prog, 0);
  if (u->run == NULL) return luaL_error(L, "fastmatch: not enough memory");
  u->base.test = gate_testfn;
  lua_settop(L, 2);
  return 1;
}

/* gate:test(line) -> true when some rule may fire on it; then also the
   variant and rule (1-based, 0 when the line is not modelled) that let it
   through, and whether its condition was true (else unknown) */
static int gate_test(lua_State *L) {
  gate_ud *u = check_gate(L);
  size_t n;
  const char *s = luaL_checklstring(L, 2, &n);
  uint32_t w[3] = {0, 0, 0};
  int r = gate_run(u, s, n, w);
  lua_pushboolean(L, r);
  if (!r) return 1;
  lua_pushinteger(L, (lua_Integer)w[0]);
  lua_pushinteger(L, (lua_Integer)w[1]);
  lua_pushboolean(L, w[2] == FM_K_T);
  return 4;
}

/* ---------------------------------------------------------------- matching */
static int emit_all(void *ud, uint32_t var, uint32_t slot, int val, unsigned why) {
  gate_ud *u = ud;
  if (u->nout + 4 > u->outcap) {
    size_t cap = u->outcap ? u->outcap * 2 : 128;
    uint32_t *no = fm_realloc(u->out, cap * sizeof *no);
    if (no == NULL) return 1; /* stopped early: reported as no answer below */
    u->out = no, u->outcap = cap;
  }
  u->out[u->nout++] = var, u->out[u->nout++] = slot;
  u->out[u->nout++] = (uint32_t)val, u->out[u->nout++] = why;
  return 0;
}

/* Every rule through the VM over fs, pushed: sure ids to the table at 3,
   (variant, id, why) triples of the unknown ones to the table at 4; their
   counts, or nil, "gate" when the run cannot answer. */
static int match_fields(lua_State *L, gate_ud *u, const fm_evfield *fs, size_t nf) {
  size_t k;
  lua_Integer nt = 0, nu = 0;
  u->nout = 0;
  u->last = fs, u->nlast = nf;
  if (fm_gate_eval(&u->prog, u->run, fs, nf, emit_all, u) != 0) {
    lua_pushnil(L);
    lua_pushliteral(L, "gate");
    return 2;
  }
  for (k = 0; k < u->nout; k += 4) {
    lua_Integer id = (lua_Integer)fm_gprog_rule(&u->prog, u->out[k], u->out[k + 1]);
    if (u->out[k + 2] == FM_K_T) {
      lua_pushinteger(L, id);
      lua_rawseti(L, 3, (int)++nt);
    } else {
      nu++;
      lua_pushinteger(L, (lua_Integer)u->out[k] + 1);
      lua_rawseti(L, 4, (int)(nu * 3 - 2));
      lua_pushinteger(L, id);
      lua_rawseti(L, 4, (int)(nu * 3 - 1));
      lua_pushinteger(L, (lua_Integer)u->out[k + 3]);
      lua_rawseti(L, 4, (int)(nu * 3));
    }
  }
  lua_pushinteger(L, nt);
  lua_pushinteger(L, nu);
  return 2;
}

/* gate:match_event(event, sure, unsure) -> nsure, nunsure: the event table
   (evtx_dump's shape or flat) through the table front end, the model and
   the VM; the ids of the rules whose condition holds go to sure[1 ..
   nsure] (a rule may repeat: several variants), variant, id and why
   (core.gate_codes.why bits) of those it cannot decide to unsure[1 .. 3 *
   nunsure].  nil and the reason (core._event_fields's) when the model
   declines the event. */
static int gate_match_event(lua_State *L) {
  gate_ud *u = check_gate(L);
  int why = FM_EV_OK, rc;
  luaL_checktype(L, 2, LUA_TTABLE);
  luaL_checktype(L, 3, LUA_TTABLE);
  luaL_checktype(L, 4, LUA_TTABLE);
  lua_settop(L, 4);
  u->last = NULL, u->nlast = 0;
  fm_evmodel_reset(&u->model, FM_EV_DUP_FIRST);
  rc = fm_evtable_walk(L, 2, &u->model.sink, &why);
  if (rc == FM_SINK_NOMEM) return luaL_error(L, "fastmatch: not enough memory");
  if (rc != FM_SINK_OK || !fm_evmodel_done(&u->model)) {
    lua_pushnil(L);
    lua_pushstring(L, fm_ev_why_name(why != FM_EV_OK ? why : u->model.why));
    return 2;
  }
  return match_fields(L, u, u->model.f, u->model.n);
}

/* gate:match_flat(f, sure, unsure) -> as match_event, for fields already
   settled (name -> text, as sigma/event.lua's flatten makes them); nil,
   "list" when f holds a value that is not a string. */
static int gate_match_flat(lua_State *L) {
  gate_ud *u = check_gate(L);
  size_t nf = 0;
  luaL_checktype(L, 2, LUA_TTABLE);
  luaL_checktype(L, 3, LUA_TTABLE);
  luaL_checktype(L, 4, LUA_TTABLE);
  lua_settop(L, 4);
  u->last = NULL, u->nlast = 0;
  lua_pushnil(L);
  while (lua_next(L, 2)) {
    if (lua_type(L, -1) != LUA_TSTRING || lua_type(L, -2) != LUA_TSTRING) {
      lua_pushnil(L);
      lua_pushliteral(L, "list");
      return 2;
    }
    if (nf == u->mfcap) {
      size_t cap = u->mfcap ? u->mfcap * 2 : 64;
      fm_evfield *nm = fm_realloc(u->mf, cap * sizeof *nm);
      if (nm == NULL) return luaL_error(L, "fastmatch: not enough memory");
      u->mf = nm, u->mfcap = cap;
    }
    /* the strings stay alive: f holds them, and is not changed meanwhile */
    u->mf[nf].name = lua_tolstring(L, -2, &u->mf[nf].nlen);
    u->mf[nf].val = lua_tolstring(L, -1, &u->mf[nf].vlen);
    nf++;
    lua_pop(L, 1);
  }
  return match_fields(L, u, u->mf, nf);
}

static void push_fields(lua_State *L, const fm_evfield *f, size_t n) {
  size_t k;
  for (k = 0; k < n; k++) {
    lua_pushlstring(L, f[k].name, f[k].nlen);
    lua_pushlstring(L, f[k].val, f[k].vlen);
    lua_rawset(L, -3);
  }
}

/* gate:fields(f) -> f, holding the fields of the last event the gate took
   (match_event, match_flat, test), as the model settled them: what the
   engine decides the unknown rules on, without flattening again.  Valid
   while that event's table (or line) is unchanged. */
static int gate_fields(lua_State *L) {
  gate_ud *u = check_gate(L);
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  push_fields(L, u->last, u->nlast);
  return 1;
}

/* gate:stats() -> {lines =, passed =, unmodelled =, why = {reason = n}}
   since it was made (the scanned lines) */
static int gate_stats(lua_State *L) {
  gate_ud *u = check_gate(L);
  int k;
  lua_createtable(L, 0, 4);
  lua_pushnumber(L, u->lines);
  lua_setfield(L, -2, "lines");
  lua_pushnumber(L, u->passed);
  lua_setfield(L, -2, "passed");
  lua_pushnumber(L, u->unmodelled);
  lua_setfield(L, -2, "unmodelled");
  lua_newtable(L);
  for (k = 0; k <= FM_EV_NWHY; k++)
    if (u->why[k] > 0) {
      lua_pushnumber(L, u->why[k]);
      lua_setfield(L, -2, k < FM_EV_NWHY ? fm_ev_why_name(k) : "not JSON");
    }
  lua_setfield(L, -2, "why");
  return 1;
}

/* ---------------------------------------------------------------- fields */
/* core._jsonflat(line) -> {name = value}, or nil, "other" | "bad" and the
   reason */
static int l_jsonflat(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  fm_jflat j;
  int rc;
  fm_jflat_init(&j);
  rc = fm_jflat_parse(&j, s, n);
  if (rc != FM_JF_OK) {
    int why = j.why;
    fm_jflat_free(&j);
    if (rc == FM_JF_NOMEM) return luaL_error(L, "fastmatch: not enough memory");
    lua_pushnil(L);
    lua_pushstring(L, rc == FM_JF_OTHER ? "other" : "bad");
    if (rc != FM_JF_OTHER) return 2;
    lua_pushstring(L, fm_ev_why_name(why));
    return 3;
  }
  lua_createtable(L, 0, (int)(j.n < INT_MAX ? j.n : 0));
  push_fields(L, j.f, j.n);
  fm_jflat_free(&j);
  return 1;
}

/* core._event_fields(event) -> {name = value} as eng:match's C path
   settles an event table (the table front end, the model with the first
   writer winning in pairs() order), or nil and the reason it declines */
static int l_event_fields(lua_State *L) {
  fm_evmodel m;
  int why = FM_EV_OK, rc;
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  fm_evmodel_init(&m);
  fm_evmodel_reset(&m, FM_EV_DUP_FIRST);
  rc = fm_evtable_walk(L, 1, &m.sink, &why);
  if (rc == FM_SINK_OK && fm_evmodel_done(&m)) {
    lua_createtable(L, 0, (int)(m.n < INT_MAX ? m.n : 0));
    push_fields(L, m.f, m.n);
    fm_evmodel_free(&m);
    return 1;
  }
  if (why == FM_EV_OK) why = m.why;
  fm_evmodel_free(&m);
  if (rc == FM_SINK_NOMEM) return luaL_error(L, "fastmatch: not enough memory");
  lua_pushnil(L);
  lua_pushstring(L, fm_ev_why_name(why));
  return 2;
}

/* ---------------------------------------------------------------- codes */
/* core.gate_codes = {ops = {END = 0, ...}, flags = {NULL = 1, ...},
   refs = {equals = 0, ...}, kleene = {F = 0, T = 1, U = 2},
   why = {value = 1, ...}, maxstack = n}: what sigma/program.lua writes */
static void push_codes(lua_State *L) {
  lua_createtable(L, 0, 6);
  lua_newtable(L);
#define FM_PUSH_OP(name, value, operands, what) lua_pushinteger(L, value), lua_setfield(L, -2, #name);
  FM_GATE_OPS(FM_PUSH_OP)
#undef FM_PUSH_OP
  lua_setfield(L, -2, "ops");
  lua_newtable(L);
#define FM_PUSH_FLAG(name, bit, what) lua_pushinteger(L, bit), lua_setfield(L, -2, #name);
  FM_GATE_FLAGS(FM_PUSH_FLAG)
#undef FM_PUSH_FLAG
  lua_setfield(L, -2, "flags");
  lua_newtable(L);
#define FM_PUSH_REF(name, value) lua_pushinteger(L, value), lua_setfield(L, -2, #name);
  FM_GATE_REFS(FM_PUSH_REF)
#undef FM_PUSH_REF
  lua_setfield(L, -2, "refs");
  lua_newtable(L);
#define FM_PUSH_WHY(name, bit) lua_pushinteger(L, bit), lua_setfield(L, -2, #name);
  FM_GATE_WHY(FM_PUSH_WHY)
#undef FM_PUSH_WHY
  lua_setfield(L, -2, "why");
  lua_createtable(L, 0, 3);
  lua_pushinteger(L, FM_K_F), lua_setfield(L, -2, "F");
  lua_pushinteger(L, FM_K_T), lua_setfield(L, -2, "T");
  lua_pushinteger(L, FM_K_U), lua_setfield(L, -2, "U");
  lua_setfield(L, -2, "kleene");
  lua_pushinteger(L, FM_GATE_MAXSTACK);
  lua_setfield(L, -2, "maxstack");
}

static const luaL_Reg gate_methods[] = {
    {"test", gate_test},       {"stats", gate_stats},   {"match_flat", gate_match_flat},
    {"match_event", gate_match_event}, {"fields", gate_fields}, {NULL, NULL}};
static const luaL_Reg gate_meta[] = {{"__gc", gate_gc}, {NULL, NULL}};
static const luaL_Reg gate_funcs[] = {{"_sigma_gate", l_gate},
                                      {"_jsonflat", l_jsonflat},
                                      {"_event_fields", l_event_fields},
                                      {NULL, NULL}};

void fm_open_gate(lua_State *L) {
  fm_newclass(L, GATE_MT, gate_methods, gate_meta, 1);
  lua_pop(L, 1);
  fm_setfuncs(L, gate_funcs);
  push_codes(L);
  lua_setfield(L, -2, "gate_codes");
  lua_pushinteger(L, FM_EV_MAXNAME);
  lua_setfield(L, -2, "event_maxname");
}

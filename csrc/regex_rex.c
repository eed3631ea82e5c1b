/*
** regex_rex.c -- the lrexlib-compatible face (fastmatch.rex, built from
** core._rex): lrexlib 2.9 rex_pcre2's functions, methods, flags table and
** argument conventions, over the shared objects and loops.
** Owns: lrexlib's argument order, cf/ef/locale handling, its flags table
** (the error names in it are the engine's: rx_errors, regex.c).
** Must not touch: the fm face (regex_fm.c).
*/
#include <locale.h>
#include <stdint.h>
#include <string.h>

#include "regex.h"
#include "regex_faces.h"

/* ---------------------------------------------------------------------
** rex face (lrexlib 2.9 rex_pcre2)
** ------------------------------------------------------------------- */
#define F(x)                                                                   \
  { #x, PCRE2_##x }
/* lrexlib's flags table: these, and the error codes (rx_errors, regex.c) */
static const rx_named rx_flagtab[] = {F(ALLOW_EMPTY_CLASS),
                  F(ALT_BSUX),
                  F(ALT_CIRCUMFLEX),
                  F(ALT_VERBNAMES),
                  F(ANCHORED),
                  F(AUTO_CALLOUT),
                  F(BSR_ANYCRLF),
                  F(BSR_UNICODE),
                  F(CASELESS),
                  F(DFA_RESTART),
                  F(DFA_SHORTEST),
                  F(DOLLAR_ENDONLY),
                  F(DOTALL),
                  F(DUPNAMES),
                  F(EXTENDED),
                  F(FIRSTLINE),
                  F(INFO_ALLOPTIONS),
                  F(INFO_ARGOPTIONS),
                  F(INFO_BACKREFMAX),
                  F(INFO_BSR),
                  F(INFO_CAPTURECOUNT),
                  F(INFO_FIRSTBITMAP),
                  F(INFO_FIRSTCODETYPE),
                  F(INFO_FIRSTCODEUNIT),
                  F(INFO_HASBACKSLASHC),
                  F(INFO_HASCRORLF),
                  F(INFO_JCHANGED),
                  F(INFO_JITSIZE),
                  F(INFO_LASTCODETYPE),
                  F(INFO_LASTCODEUNIT),
                  F(INFO_MATCHEMPTY),
                  F(INFO_MATCHLIMIT),
                  F(INFO_MAXLOOKBEHIND),
                  F(INFO_MINLENGTH),
                  F(INFO_NAMECOUNT),
                  F(INFO_NAMEENTRYSIZE),
                  F(INFO_NAMETABLE),
                  F(INFO_NEWLINE),
                  F(INFO_RECURSIONLIMIT),
                  F(INFO_SIZE),
                  F(JIT_COMPLETE),
                  F(JIT_PARTIAL_HARD),
                  F(JIT_PARTIAL_SOFT),
                  F(MAJOR),
                  F(MATCH_UNSET_BACKREF),
                  F(MINOR),
                  F(MULTILINE),
                  F(NEVER_BACKSLASH_C),
                  F(NEVER_UCP),
                  F(NEVER_UTF),
                  F(NEWLINE_ANY),
                  F(NEWLINE_ANYCRLF),
                  F(NEWLINE_CR),
                  F(NEWLINE_CRLF),
                  F(NEWLINE_LF),
                  F(NOTBOL),
                  F(NOTEMPTY),
                  F(NOTEMPTY_ATSTART),
                  F(NOTEOL),
                  F(NO_AUTO_CAPTURE),
                  F(NO_AUTO_POSSESS),
                  F(NO_DOTSTAR_ANCHOR),
                  F(NO_JIT),
                  F(NO_START_OPTIMIZE),
                  F(NO_UTF_CHECK),
                  F(PARTIAL_HARD),
                  F(PARTIAL_SOFT),
                  F(SUBSTITUTE_EXTENDED),
                  F(SUBSTITUTE_GLOBAL),
                  F(SUBSTITUTE_OVERFLOW_LENGTH),
                  F(SUBSTITUTE_UNKNOWN_UNSET),
                  F(SUBSTITUTE_UNSET_EMPTY),
                  F(UCP),
                  F(UNGREEDY),
                  F(USE_OFFSET_LIMIT),
                  F(UTF),
                  {NULL, 0}};
#undef F

static uint32_t rex_cf(lua_State *L, int idx) {
  switch (lua_type(L, idx)) {
  case LUA_TNONE:
  case LUA_TNIL:
    return 0;
  case LUA_TNUMBER:
    return (uint32_t)lua_tointeger(L, idx);
  case LUA_TSTRING: {
    size_t n;
    const char *s = lua_tolstring(L, idx, &n);
    uint32_t f = 0;
    for (size_t i = 0; i < n; i++) f |= rx_letter(s[i], RX_REX_LETTERS);
    return f;
  }
  default:
    return (uint32_t)luaL_typeerror(L, idx, "number or string");
  }
}

static const uint8_t *rex_tables(lua_State *L, int idx) {
  const uint8_t **p = (const uint8_t **)luaL_testudata(L, idx, RX_TABLES_MT);
  if (p == NULL) luaL_argerror(L, idx, "not a chartables");
  return *p;
}

/* lrexlib checks every argument, in order, before it compiles or matches
   (checkarg_* in its algo.h); these do the same so that the first bad
   argument is the one reported, and a find whose init lies past the end
   returns nil without compiling the pattern. */

/* A subject: a string, or a number converted in place (lrexlib's
   lua_tolstring); lrexlib's table/userdata subjects with a topointer
   method are not supported. */
static void rex_subject(lua_State *L, int idx) {
  switch (lua_type(L, idx)) {
  case LUA_TSTRING:
    return;
  case LUA_TNUMBER:
    lua_tolstring(L, idx, NULL);
    return;
  case LUA_TTABLE:
  case LUA_TUSERDATA:
    luaL_argerror(L, idx,
                  "a table or userdata subject (lrexlib's topointer) is not "
                  "supported by fastmatch.rex");
    return;
  default:
    luaL_typeerror(L, idx, "string, table or userdata");
  }
}

/* A pattern: string, number (converted) or compiled object */
static void rex_pattern(lua_State *L, int idx) {
  if (lua_type(L, idx) == LUA_TNUMBER)
    lua_tolstring(L, idx, NULL);
  else if (lua_type(L, idx) != LUA_TSTRING && rx_test_ud(L, idx) == NULL)
    luaL_typeerror(L, idx, "string or rex_pcre2_regex");
}

/* lo: nil, a locale name (any string or number) or maketables() tables */
static void rex_lo(lua_State *L, int idx) {
  if (!lua_isnoneornil(L, idx) && !lua_isstring(L, idx)) rex_tables(L, idx);
}

/* The rex pattern argument: string (cached unless lo is given) or object;
   leaves the object on the stack top. */
static fm_regex *rex_arg(lua_State *L, int pidx, int cfidx, int loidx) {
  fm_regex *r;
  lua_settop(L, loidx); /* what we push lands above the arguments */
  if (lua_type(L, pidx) == LUA_TSTRING || lua_type(L, pidx) == LUA_TNUMBER) {
    uint32_t cf = rex_cf(L, cfidx);
    lua_tolstring(L, pidx, NULL);
    if (loidx && !lua_isnoneornil(L, loidx)) {
      lua_pushinteger(L, cf);
      if (lua_isstring(L, loidx))
        r = rx_compile(L, pidx, cf, 1, lua_gettop(L), NULL, 0,
                       lua_tostring(L, loidx));
      else
        r = rx_compile(L, pidx, cf, 1, lua_gettop(L), rex_tables(L, loidx),
                       loidx, NULL);
      lua_remove(L, -2);
      return r;
    }
    return rx_cached(L, pidx, 0, 1, (lua_Integer)cf);
  }
  r = rx_test_ud(L, pidx);
  if (r == NULL) luaL_typeerror(L, pidx, "string or rex_pcre2_regex");
  lua_pushvalue(L, pidx);
  return r;
}

static int rex_new(lua_State *L) {
  uint32_t cf;
  luaL_checklstring(L, 1, NULL); /* converts a number in place */
  cf = rex_cf(L, 2);
  rex_lo(L, 3);
  lua_settop(L, 3);
  lua_pushinteger(L, cf);
  if (lua_isnil(L, 3))
    rx_compile(L, 1, cf, 1, 4, NULL, 0, NULL);
  else if (lua_isstring(L, 3))
    rx_compile(L, 1, cf, 1, 4, NULL, 0, lua_tostring(L, 3));
  else
    rx_compile(L, 1, cf, 1, 4, rex_tables(L, 3), 3, NULL);
  return 1;
}

/* find/match (s, patt, [init], [cf], [ef], [lo]) */
static int rex_findfunc(lua_State *L, int method) {
  size_t n, off;
  const char *s;
  fm_regex *r;
  uint32_t ef;
  int ok;
  rex_subject(L, 1);
  rex_pattern(L, 2);
  s = lua_tolstring(L, 1, &n);
  ok = rx_init(L, 3, n, &off);
  rex_cf(L, 4);
  ef = rx_ef(L, 5);
  rex_lo(L, 6);
  if (!ok) {
    lua_pushnil(L);
    return 1;
  }
  r = rex_arg(L, 2, 4, 6);
  return rx_find_at(L, r, s, n, off, ef, method);
}
static int rex_find(lua_State *L) { return rex_findfunc(L, M_FIND); }
static int rex_match(lua_State *L) { return rex_findfunc(L, M_MATCH); }

/* gmatch/split/count (s, patt, [cf], [ef], [lo]): checked in that order;
   leaves the object on the stack top */
static fm_regex *rex_args3(lua_State *L, uint32_t *ef) {
  rex_subject(L, 1);
  rex_pattern(L, 2);
  rex_cf(L, 3);
  *ef = rx_ef(L, 4);
  rex_lo(L, 5);
  return rex_arg(L, 2, 3, 5);
}
static int rex_gmatch(lua_State *L) {
  uint32_t ef;
  fm_regex *r = rex_args3(L, &ef);
  return rx_gmatch(L, r, 1, 0, ef, 0);
}
static int rex_split(lua_State *L) {
  uint32_t ef;
  (void)rex_args3(L, &ef); /* on the stack; the iterator's upvalue 1 */
  lua_pushvalue(L, 1);
  lua_pushinteger(L, 0);
  lua_pushinteger(L, 0);
  lua_pushinteger(L, -1);
  lua_pushinteger(L, (lua_Integer)ef);
  lua_pushcclosure(L, rexsplit_iter, 6);
  return 1;
}
static int rex_count(lua_State *L) {
  uint32_t ef;
  fm_regex *r = rex_args3(L, &ef);
  return rx_count(L, r, 1, ef);
}
/* gsub (s, patt, repl, [n], [cf], [ef], [lo]) */
static int rex_gsub(lua_State *L) {
  fm_regex *r;
  uint32_t ef;
  int rt;
  rex_subject(L, 1);
  rex_pattern(L, 2);
  rt = lua_type(L, 3);
  if (rt != LUA_TSTRING && rt != LUA_TNUMBER && rt != LUA_TTABLE &&
      rt != LUA_TFUNCTION)
    luaL_typeerror(L, 3, "string, table or function");
  if (!lua_isnoneornil(L, 4) && !lua_isfunction(L, 4) && !lua_isnumber(L, 4))
    luaL_typeerror(L, 4, "number or function");
  rex_cf(L, 5);
  ef = rx_ef(L, 6);
  rex_lo(L, 7);
  r = rex_arg(L, 2, 5, 7);
  return rx_gsub(L, r, 1, 3, 4, ef);
}

static int rex_flags(lua_State *L) {
  if (lua_isnoneornil(L, 1))
    lua_newtable(L);
  else {
    luaL_argcheck(L, lua_istable(L, 1), 1, "not a table");
    lua_pushvalue(L, 1);
  }
  for (int i = 0; rx_flagtab[i].name; i++) {
    lua_pushinteger(L, rx_flagtab[i].value);
    lua_setfield(L, -2, rx_flagtab[i].name);
  }
  for (int i = 0; rx_errors[i].name; i++) {
    lua_pushinteger(L, rx_errors[i].value);
    lua_setfield(L, -2, rx_errors[i].name);
  }
  return 1;
}

static int rex_config(lua_State *L) {
  static const struct {
    const char *name;
    int what;
  } ints[] = {{"PCRE2_CONFIG_BSR", PCRE2_CONFIG_BSR},
              {"PCRE2_CONFIG_JIT", PCRE2_CONFIG_JIT},
              {"PCRE2_CONFIG_LINKSIZE", PCRE2_CONFIG_LINKSIZE},
              {"PCRE2_CONFIG_MATCHLIMIT", PCRE2_CONFIG_MATCHLIMIT},
              {"PCRE2_CONFIG_NEWLINE", PCRE2_CONFIG_NEWLINE},
              {"PCRE2_CONFIG_PARENSLIMIT", PCRE2_CONFIG_PARENSLIMIT},
              {"PCRE2_CONFIG_RECURSIONLIMIT", PCRE2_CONFIG_RECURSIONLIMIT},
              {"PCRE2_CONFIG_STACKRECURSE", PCRE2_CONFIG_STACKRECURSE},
              {"PCRE2_CONFIG_UNICODE", PCRE2_CONFIG_UNICODE},
              {NULL, 0}};
  char buf[128];
  if (lua_isnoneornil(L, 1))
    lua_newtable(L);
  else {
    luaL_argcheck(L, lua_istable(L, 1), 1, "not a table");
    lua_pushvalue(L, 1);
  }
  for (int i = 0; ints[i].name; i++) {
    uint32_t v = 0;
    if (pcre2_config(ints[i].what, &v) >= 0) {
      lua_pushinteger(L, v);
      lua_setfield(L, -2, ints[i].name);
    }
  }
  if (pcre2_config(PCRE2_CONFIG_JITTARGET, NULL) > 0 &&
      pcre2_config(PCRE2_CONFIG_JITTARGET, buf) > 0) {
    lua_pushstring(L, buf);
    lua_setfield(L, -2, "PCRE2_CONFIG_JITTARGET");
  }
  return 1;
}

static int rex_version(lua_State *L) {
  char buf[64];
  pcre2_config(PCRE2_CONFIG_VERSION, buf);
  lua_pushstring(L, buf);
  return 1;
}

int tables_gc(lua_State *L) {
  const uint8_t **p = (const uint8_t **)luaL_checkudata(L, 1, RX_TABLES_MT);
  if (*p) pcre2_maketables_free(gctx(), *p);
  *p = NULL;
  return 0;
}
int tables_tostring(lua_State *L) {
  lua_pushfstring(L, "chartables (%p)", lua_touserdata(L, 1));
  return 1;
}

static int rex_maketables(lua_State *L) {
  const uint8_t **p =
      (const uint8_t **)lua_newuserdatauv(L, sizeof(const uint8_t *), 0);
  *p = NULL;
  luaL_setmetatable(L, RX_TABLES_MT);
  *p = pcre2_maketables(gctx());
  if (*p == NULL) return luaL_error(L, "malloc failed");
  return 1;
}

/* methods (s, [init], [ef]): checked in lrexlib's order */
static fm_regex *rexm_args(lua_State *L, uint32_t *ef) {
  fm_regex *r = check_self(L, 1);
  rex_subject(L, 2);
  if (!lua_isnoneornil(L, 3)) luaL_checkinteger(L, 3);
  *ef = rx_ef(L, 4);
  return r;
}
static int rexm_exec(lua_State *L) {
  uint32_t ef;
  fm_regex *r = rexm_args(L, &ef);
  return rx_find(L, r, 2, 3, ef, M_REXEXEC);
}
static int rexm_tfind(lua_State *L) {
  uint32_t ef;
  fm_regex *r = rexm_args(L, &ef);
  return rx_find(L, r, 2, 3, ef, M_TFIND);
}
static int rexm_find(lua_State *L) {
  uint32_t ef;
  fm_regex *r = rexm_args(L, &ef);
  return rx_find(L, r, 2, 3, ef, M_FIND);
}
static int rexm_match(lua_State *L) {
  uint32_t ef;
  fm_regex *r = rexm_args(L, &ef);
  return rx_find(L, r, 2, 3, ef, M_MATCH);
}

/* r:dfa_exec(s, [init], [ef], [ovecsize], [wscount]) */
static int rexm_dfa_exec(lua_State *L) {
  fm_regex *r = check_self(L, 1);
  size_t n, off = 0;
  const char *s = luaL_checklstring(L, 2, &n);
  int ok = rx_init(L, 3, n, &off);
  uint32_t ef = rx_ef(L, 4);
  lua_Integer ovs = luaL_optinteger(L, 5, 100), wsc = luaL_optinteger(L, 6, 50);
  pcre2_match_data *md;
  int *ws, rc;
  /* lrexlib hands a wscount under PCRE2's minimum (20) to PCRE2, which
     refuses it; an ovecsize under 2 still gets one pair (PCRE2's minimum)
     but, full, reports ovecsize / 2 = 0 ends */
  if (ovs < 0 || ovs > 65535 * 2) /* lrexlib: a (size_t) cast; PCRE2 */
    ovs = 65535 * 2;                /* gives at most 65535 pairs */
  if (wsc < 20) {
    r->lastrc = PCRE2_ERROR_DFA_WSSIZE;
    return rx_raise(L, r, FM_EOTHER);
  }
  if (wsc > (1 << 24)) return luaL_error(L, "too large");
  md = pcre2_match_data_create(ovs < 2 ? 1u : (uint32_t)(ovs / 2), gctx());
  ws = (int *)fm_malloc((size_t)wsc * sizeof(int));
  if (md == NULL || ws == NULL) {
    if (md) pcre2_match_data_free(md);
    fm_free(ws);
    return luaL_error(L, "malloc failed");
  }
  if (!ok) /* init past the end: nil, as find does (lrexlib raises) */
    rc = PCRE2_ERROR_NOMATCH;
  else
    rc = pcre2_dfa_match(r->code, (PCRE2_SPTR)s, n, off, ef, md, r->st->mctx,
                         ws, (PCRE2_SIZE)wsc);
  fm_free(ws);
  if (rc >= 0 || rc == PCRE2_ERROR_PARTIAL) {
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    int max = rc > 0 ? rc : rc == 0 ? (int)(ovs / 2) : 1;
    lua_pushinteger(L, (lua_Integer)ov[0] + 1);
    lua_createtable(L, max, 0);
    for (int i = 0; i < max; i++) {
      lua_pushinteger(L, (lua_Integer)ov[2 * i + 1]);
      lua_rawseti(L, -2, i + 1);
    }
    lua_pushinteger(L, rc);
    pcre2_match_data_free(md);
    return 3;
  }
  pcre2_match_data_free(md);
  if (rc == PCRE2_ERROR_NOMATCH) {
    lua_pushnil(L);
    return 1;
  }
  r->lastrc = rc;
  return rx_raise(L, r, FM_EOTHER);
}

static int rexm_jit_compile(lua_State *L) {
  fm_regex *r = check_self(L, 1);
  uint32_t o = (uint32_t)luaL_optinteger(L, 2, PCRE2_JIT_COMPLETE);
  int rc = pcre2_jit_compile(r->code, o);
  PCRE2_UCHAR buf[256];
  if (rc == 0) {
    if (o & PCRE2_JIT_COMPLETE) r->jit = 1;
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushboolean(L, 0);
  if (pcre2_get_error_message(rc, buf, sizeof buf) < 0) return 1;
  lua_pushstring(L, (const char *)buf);
  return 2;
}

static int rexm_patterninfo(lua_State *L) {
  static const struct {
    const char *name;
    uint32_t what;
    int issize;
  } f[] = {{"ALLOPTIONS", PCRE2_INFO_ALLOPTIONS, 0},
           {"ARGOPTIONS", PCRE2_INFO_ARGOPTIONS, 0},
           {"BACKREFMAX", PCRE2_INFO_BACKREFMAX, 0},
           {"BSR", PCRE2_INFO_BSR, 0},
           {"CAPTURECOUNT", PCRE2_INFO_CAPTURECOUNT, 0},
           {"FIRSTCODETYPE", PCRE2_INFO_FIRSTCODETYPE, 0},
           {"FIRSTCODEUNIT", PCRE2_INFO_FIRSTCODEUNIT, 0},
           {"HASBACKSLASHC", PCRE2_INFO_HASBACKSLASHC, 0},
           {"HASCRORLF", PCRE2_INFO_HASCRORLF, 0},
           {"JCHANGED", PCRE2_INFO_JCHANGED, 0},
           {"JITSIZE", PCRE2_INFO_JITSIZE, 1},
           {"LASTCODETYPE", PCRE2_INFO_LASTCODETYPE, 0},
           {"LASTCODEUNIT", PCRE2_INFO_LASTCODEUNIT, 0},
           {"MATCHEMPTY", PCRE2_INFO_MATCHEMPTY, 0},
           {"MATCHLIMIT", PCRE2_INFO_MATCHLIMIT, 0},
           {"MAXLOOKBEHIND", PCRE2_INFO_MAXLOOKBEHIND, 0},
           {"MINLENGTH", PCRE2_INFO_MINLENGTH, 0},
           {"NAMECOUNT", PCRE2_INFO_NAMECOUNT, 0},
           {"NAMEENTRYSIZE", PCRE2_INFO_NAMEENTRYSIZE, 0},
           {"NEWLINE", PCRE2_INFO_NEWLINE, 0},
           {"RECURSIONLIMIT", PCRE2_INFO_DEPTHLIMIT, 0},
           {"SIZE", PCRE2_INFO_SIZE, 1},
           {NULL, 0, 0}};
  fm_regex *r = check_self(L, 1);
  lua_newtable(L);
  /* floats, as lrexlib pushes them (lua_pushnumber): tostring gives "2.0" */
  for (int i = 0; f[i].name; i++) {
    if (f[i].issize) {
      size_t v = 0;
      if (pcre2_pattern_info(r->code, f[i].what, &v) != 0) continue;
      lua_pushnumber(L, (lua_Number)v);
    } else {
      uint32_t v = 0;
      if (pcre2_pattern_info(r->code, f[i].what, &v) != 0) continue;
      lua_pushnumber(L, (lua_Number)v);
    }
    lua_setfield(L, -2, f[i].name);
  }
  return 1;
}

static int rex_tostring(lua_State *L) {
  fm_regex *r = (fm_regex *)lua_touserdata(L, 1);
  if (r->code == NULL)
    lua_pushliteral(L, "rex_pcre2_regex (deleted)");
  else
    lua_pushfstring(L, "rex_pcre2_regex (%p)", (void *)r);
  return 1;
}

const luaL_Reg rex_funcs[] = {{"new", rex_new},
                                     {"find", rex_find},
                                     {"match", rex_match},
                                     {"gmatch", rex_gmatch},
                                     {"gsub", rex_gsub},
                                     {"split", rex_split},
                                     {"count", rex_count},
                                     {"flags", rex_flags},
                                     {"config", rex_config},
                                     {"version", rex_version},
                                     {"maketables", rex_maketables},
                                     {NULL, NULL}};

const luaL_Reg rex_methods[] = {{"exec", rexm_exec},
                                       {"tfind", rexm_tfind},
                                       {"find", rexm_find},
                                       {"match", rexm_match},
                                       {"dfa_exec", rexm_dfa_exec},
                                       {"patterninfo", rexm_patterninfo},
                                       {"fullinfo", rexm_patterninfo},
                                       {"jit_compile", rexm_jit_compile},
                                       {NULL, NULL}};

const luaL_Reg rex_meta[] = {
    {"__gc", rx_gc}, {"__tostring", rex_tostring}, {NULL, NULL}};


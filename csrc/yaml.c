/*
** yaml.c -- YAML text -> Lua values over libyaml's event parser, read as
** lyaml reads it (YAML 1.1 implicit types, the explicit !!bool/float/int/
** null/str tags, anchors, aliases, '<<' merges): core._yaml(text, null)
** gives the table lyaml.load(text, {all = true}) gives, with `null` where
** lyaml puts lyaml.null.  lyaml is libyaml under a Lua layer that spends
** four fifths of its time deciding what a scalar is (a chain of gsub
** patterns per scalar); the same decisions here, in C, read SigmaHQ's rules
** about ten times faster (docs/startup.md).
** Owns: core._yaml.  Built only with libyaml (FM_YAML=1, the Makefile
** finds it); without it core._yaml is absent and fastmatch.sigma.yaml
** falls back to lyaml.
** Scalars follow lyaml on the running Lua: numbers go through the Lua's own
** string-to-number conversion, integers wrap and floats round as lyaml's
** arithmetic would there (spec/yaml_spec.lua compares the two).
*/
#include <math.h>
#include <string.h>

#include "lauxlib.h"
#include "lua.h"

#include "binding.h"

#if FM_YAML
#include <yaml.h>

#define TAG_PREFIX "tag:yaml.org,2002:"
#define MAXDEPTH 256 /* lyaml itself stops near 60 (Lua's call depth) */

/* ---------------------------------------------------------------------
** Scalars: lyaml.implicit's resolvers, in lyaml's order.  Each pushes a
** value and returns 1, or pushes nothing and returns 0 (the next one is
** tried); arithmetic on a number that is not there raises, as in lyaml.
** ------------------------------------------------------------------- */
static int is_digit(int c) { return c >= '0' && c <= '9'; }

/* tonumber(s) of the running Lua: pushes the number and returns 1, or 0 */
static int str2num(lua_State *L, const char *s, size_t n) {
#if LUA_VERSION_NUM >= 503
  char buf[80];
  const char *z = buf;
  if (n < sizeof buf) {
    memcpy(buf, s, n);
    buf[n] = '\0';
  } else {
    lua_pushlstring(L, s, n);
    z = lua_tostring(L, -1);
  }
  if (lua_stringtonumber(L, z) == n + 1) {
    if (z != buf) lua_remove(L, -2);
    return 1;
  }
  if (z != buf) lua_pop(L, 1);
  return 0;
#else
  lua_pushlstring(L, s, n);
  if (lua_isnumber(L, -1)) {
    lua_Number x = lua_tonumber(L, -1);
    lua_pop(L, 1);
    lua_pushnumber(L, x);
    return 1;
  }
  lua_pop(L, 1);
  return 0;
#endif
}

/* lyaml's tointeger on the number at the top (its own: the global it
   tests for is never set): keeps it, integer or float, when it has no
   fraction and returns 1; else pops it and returns 0 */
static int to_integer(lua_State *L) {
  lua_Number x;
  if (lua_isinteger(L, -1)) return 1;
  x = lua_tonumber(L, -1);
  if (x - floor(x) == 0) return 1;
  lua_pop(L, 1);
  return 0;
}

/* int(s): tonumber then tointeger */
static int int_of(lua_State *L, const char *s, size_t n) {
  return str2num(L, s, n) && to_integer(L);
}

static int nil_arith(lua_State *L) {
  lua_pushliteral(L, "attempt to perform arithmetic on a nil value");
  return lua_error(L);
}

/* r * -1 on the number at the top */
static void negate(lua_State *L) {
#if FM_LUA_HAS_INTEGERS
  if (lua_isinteger(L, -1)) {
    lua_Unsigned u = (lua_Unsigned)lua_tointeger(L, -1);
    lua_pop(L, 1);
    lua_pushinteger(L, (lua_Integer)(0u - u));
    return;
  }
#endif
  {
    lua_Number x = lua_tonumber(L, -1);
    lua_pop(L, 1);
    lua_pushnumber(L, x * -1);
  }
}

/* The accumulator of lyaml's digit loops (r = r * base + digit): integer
   arithmetic (wrapping) where the Lua has integers, floats elsewhere. */
#if FM_LUA_HAS_INTEGERS
typedef lua_Unsigned acc_t;
#define push_acc(L, r) lua_pushinteger(L, (lua_Integer)(r))
#else
typedef lua_Number acc_t;
#define push_acc(L, r) lua_pushnumber(L, (r))
#endif

/* gsub(rest, '_*(.)', r = r * base + int(digit)): a trailing '_' is a
   digit of its own there (int('_') is nil: an error) */
static void digits_base(lua_State *L, const char *s, size_t n, int base, int neg) {
  acc_t r = 0;
  size_t i;
  if (n > 0 && s[n - 1] == '_') nil_arith(L);
  for (i = 0; i < n; i++)
    if (s[i] != '_') r = r * base + (acc_t)(s[i] - '0');
  push_acc(L, r);
  if (neg) negate(L);
}

static size_t sign_len(const char *s, size_t n) {
  return n > 0 && (s[0] == '+' || s[0] == '-') ? 1 : 0;
}

/* '^([+-]?)0_*([0-7][0-7_]*)$' */
static int r_octal(lua_State *L, const char *s, size_t n) {
  size_t i = sign_len(s, n), j;
  if (i >= n || s[i] != '0') return 0;
  for (i++; i < n && s[i] == '_'; i++) {}
  if (i >= n || s[i] < '0' || s[i] > '7') return 0;
  for (j = i; j < n; j++)
    if (!((s[j] >= '0' && s[j] <= '7') || s[j] == '_')) return 0;
  digits_base(L, s + i, n - i, 8, s[0] == '-');
  return 1;
}

/* '^([+-]?)0b_*([01][01_]+)$' */
static int r_binary(lua_State *L, const char *s, size_t n) {
  size_t i = sign_len(s, n), j;
  if (i + 1 >= n || s[i] != '0' || s[i + 1] != 'b') return 0;
  for (i += 2; i < n && s[i] == '_'; i++) {}
  if (i >= n || (s[i] != '0' && s[i] != '1') || n - i < 2) return 0;
  for (j = i; j < n; j++)
    if (s[j] != '0' && s[j] != '1' && s[j] != '_') return 0;
  digits_base(L, s + i, n - i, 2, s[0] == '-');
  return 1;
}

/* s without its '_' into a buffer on the stack's string: pushes it */
static void push_stripped(lua_State *L, const char *s, size_t n) {
  luaL_Buffer b;
  size_t i;
  luaL_buffinit(L, &b);
  for (i = 0; i < n; i++)
    if (s[i] != '_') luaL_addchar(&b, s[i]);
  luaL_pushresult(&b);
}

/* int(rest), negated for '-': 1 pushed, 0 none (nil; '-' then raises) */
static int int_signed(lua_State *L, const char *rest, size_t n, int neg) {
  int ok;
  push_stripped(L, rest, n);
  {
    size_t m;
    const char *t = lua_tolstring(L, -1, &m);
    ok = int_of(L, t, m);
  }
  lua_remove(L, ok ? -2 : -1);
  if (!ok) {
    if (neg) nil_arith(L);
    return 0;
  }
  if (neg) negate(L);
  return 1;
}

/* '^([+-]?)_*([0-9][0-9_]*)$' */
static int r_decimal(lua_State *L, const char *s, size_t n) {
  size_t i = sign_len(s, n), j;
  for (; i < n && s[i] == '_'; i++) {}
  if (i >= n || !is_digit((unsigned char)s[i])) return 0;
  for (j = i; j < n; j++)
    if (!is_digit((unsigned char)s[j]) && s[j] != '_') return 0;
  return int_signed(L, s + i, n - i, s[0] == '-');
}

/* '^([+-]?)(0x_*[0-9a-fA-F][0-9a-fA-F_]*)$' */
static int r_hex(lua_State *L, const char *s, size_t n) {
  size_t i = sign_len(s, n), j, k;
  if (i + 1 >= n || s[i] != '0' || s[i + 1] != 'x') return 0;
  for (k = i + 2; k < n && s[k] == '_'; k++) {}
  if (k >= n) return 0;
  for (j = k; j < n; j++) {
    unsigned char c = (unsigned char)s[j];
    if (!(is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
          (c == '_' && j > k)))
      return 0;
  }
  return int_signed(L, s + i, n - i, s[0] == '-');
}

/* tonumber(gsub(s, '_', '')) when s holds '.', 'e' or 'E' */
static int r_float(lua_State *L, const char *s, size_t n) {
  size_t m;
  const char *t;
  int ok;
  if (memchr(s, '.', n) == NULL && memchr(s, 'e', n) == NULL &&
      memchr(s, 'E', n) == NULL)
    return 0;
  push_stripped(L, s, n);
  t = lua_tolstring(L, -1, &m);
  ok = str2num(L, t, m);
  lua_remove(L, ok ? -2 : -1);
  return ok;
}

/* '^([+-]?)([0-9]+:[0-5]?[0-9][:0-9]*)$', with (%.[0-9]+) before the end
   for sexfloat: the end of the part before the fraction, or 0 */
static size_t sexa_end(const char *s, size_t n, int frac) {
  size_t i = sign_len(s, n), j;
  size_t d0 = i;
  while (i < n && is_digit((unsigned char)s[i])) i++;
  if (i == d0 || i >= n || s[i] != ':') return 0;
  i++;
  if (i >= n || !is_digit((unsigned char)s[i])) return 0;
  for (j = i; j < n && (is_digit((unsigned char)s[j]) || s[j] == ':'); j++) {}
  if (!frac) return j == n ? j : 0;
  if (j >= n || s[j] != '.' || j + 1 >= n) return 0;
  {
    size_t k;
    for (k = j + 1; k < n; k++)
      if (!is_digit((unsigned char)s[k])) return 0;
  }
  return j;
}

/* gsub(rest, '([0-9]+):?', r = r * 60 + int(run)) over s[i0 .. e): integer
   arithmetic (wrapping) while every run is an integer, float once one is not */
static void sexa_value(lua_State *L, const char *s, size_t i0, size_t e) {
  acc_t r = 0;
  lua_Number f = 0;
  int isfloat = 0;
  size_t i = i0;
  while (i < e) {
    size_t j = i;
    if (!is_digit((unsigned char)s[i])) {
      i++;
      continue;
    }
    while (j < e && is_digit((unsigned char)s[j])) j++;
    if (!int_of(L, s + i, j - i)) nil_arith(L);
    if (!isfloat && !lua_isinteger(L, -1) && FM_LUA_HAS_INTEGERS)
      isfloat = 1, f = (lua_Number)(lua_Integer)r;
    if (isfloat) f = f * 60 + lua_tonumber(L, -1);
#if FM_LUA_HAS_INTEGERS
    else r = r * 60 + (lua_Unsigned)lua_tointeger(L, -1);
#else
    else r = r * 60 + lua_tonumber(L, -1);
#endif
    lua_pop(L, 1);
    i = j;
  }
  if (isfloat) lua_pushnumber(L, f);
  else push_acc(L, r);
}

static int r_sexagesimal(lua_State *L, const char *s, size_t n) {
  size_t e = sexa_end(s, n, 0);
  if (e == 0) return 0;
  sexa_value(L, s, sign_len(s, n), e);
  if (s[0] == '-') negate(L);
  return 1;
}

static int r_sexfloat(lua_State *L, const char *s, size_t n) {
  size_t e = sexa_end(s, n, 1);
  lua_Number r, f;
  if (e == 0) return 0;
  sexa_value(L, s, sign_len(s, n), e);
  r = lua_tonumber(L, -1);
  lua_pop(L, 1);
  if (!str2num(L, s + e, n - e)) return 0; /* (never: '.' digits) */
  f = lua_tonumber(L, -1);
  lua_pop(L, 1);
  lua_pushnumber(L, s[0] == '-' ? (r + f) * -1 : r + f);
  return 1;
}

static int word_in(const char *s, size_t n, const char *const *words) {
  for (; *words; words++)
    if (strlen(*words) == n && memcmp(*words, s, n) == 0) return 1;
  return 0;
}

static const char *const W_NULL[] = {"~", "null", "Null", "NULL", NULL};
static const char *const W_TRUE[] = {"true", "True", "TRUE", "yes", "Yes",
                                     "YES",  "on",   "On",   "ON",  NULL};
static const char *const W_FALSE[] = {"false", "False", "FALSE", "no", "No",
                                      "NO",    "off",   "Off",   "OFF", NULL};
static const char *const W_INF[] = {".inf", ".Inf", ".INF", "+.inf", "+.Inf",
                                    "+.INF", NULL};
static const char *const W_NINF[] = {"-.inf", "-.Inf", "-.INF", NULL};
static const char *const W_NAN[] = {".nan", ".NaN", ".NAN", NULL};

static int r_null(lua_State *L, const char *s, size_t n, int null_idx) {
  if (n != 0 && !word_in(s, n, W_NULL)) return 0;
  lua_pushvalue(L, null_idx);
  return 1;
}

static int r_bool(lua_State *L, const char *s, size_t n) {
  if (word_in(s, n, W_TRUE)) lua_pushboolean(L, 1);
  else if (word_in(s, n, W_FALSE)) lua_pushboolean(L, 0);
  else return 0;
  return 1;
}

static int r_inf(lua_State *L, const char *s, size_t n) {
  if (word_in(s, n, W_INF)) lua_pushnumber(L, (lua_Number)HUGE_VAL);
  else if (word_in(s, n, W_NINF)) lua_pushnumber(L, -(lua_Number)HUGE_VAL);
  else return 0;
  return 1;
}

static int r_nan(lua_State *L, const char *s, size_t n) {
  volatile lua_Number zero = 0; /* 0/0 at run time, as Lua computes it */
  if (!word_in(s, n, W_NAN)) return 0;
  lua_pushnumber(L, zero / zero);
  return 1;
}

/* A plain scalar: lyaml's default implicit_scalar chain. */
static void implicit(lua_State *L, const char *s, size_t n, int null_idx) {
  unsigned char c = n ? (unsigned char)s[0] : 0;
  /* what no resolver takes: a first byte none of them starts with */
  if (n > 0 && !is_digit(c) && !strchr("+-._~nNtTfFyYoO", c)) {
    lua_pushlstring(L, s, n);
    return;
  }
  if (r_null(L, s, n, null_idx) || r_octal(L, s, n) || r_decimal(L, s, n) ||
      r_float(L, s, n) || r_bool(L, s, n) || r_inf(L, s, n) ||
      r_nan(L, s, n) || r_hex(L, s, n) || r_binary(L, s, n) ||
      r_sexagesimal(L, s, n) || r_sexfloat(L, s, n))
    return;
  lua_pushlstring(L, s, n);
}

/* maybefloat(f): the number + 0.0 */
static int as_float(lua_State *L, int ok) {
  if (ok) {
    lua_Number x = lua_tonumber(L, -1);
    lua_pop(L, 1);
    lua_pushnumber(L, x);
  }
  return ok;
}

/* An explicitly tagged scalar (lyaml.explicit); 0 when the tag is not one
   of these five, -1 when the value is not of its type. */
static int explicit_scalar(lua_State *L, const char *tag, const char *s,
                           size_t n, int null_idx) {
  if (strncmp(tag, TAG_PREFIX, sizeof TAG_PREFIX - 1) != 0) return 0;
  tag += sizeof TAG_PREFIX - 1;
  if (strcmp(tag, "str") == 0) {
    lua_pushlstring(L, s, n);
    return 1;
  }
  if (strcmp(tag, "null") == 0) {
    lua_pushvalue(L, null_idx);
    return 1;
  }
  if (strcmp(tag, "bool") == 0) {
    if (r_bool(L, s, n)) return 1;
    if (n == 1 && (s[0] == 'y' || s[0] == 'Y' || s[0] == 'n' || s[0] == 'N')) {
      lua_pushboolean(L, s[0] == 'y' || s[0] == 'Y');
      return 1;
    }
    return -1;
  }
  if (strcmp(tag, "float") == 0)
    return r_float(L, s, n) || r_nan(L, s, n) || r_inf(L, s, n) ||
                   as_float(L, r_octal(L, s, n)) ||
                   as_float(L, r_decimal(L, s, n)) ||
                   as_float(L, r_hex(L, s, n)) ||
                   as_float(L, r_binary(L, s, n)) || r_sexfloat(L, s, n)
               ? 1
               : -1;
  if (strcmp(tag, "int") == 0)
    return r_octal(L, s, n) || r_decimal(L, s, n) || r_hex(L, s, n) ||
                   r_binary(L, s, n) || r_sexagesimal(L, s, n)
               ? 1
               : -1;
  return 0;
}

/* ---------------------------------------------------------------------
** The tree: lyaml's load_node/load_map/load_sequence over libyaml events.
** The parser and its current event live in a userdata whose __gc frees
** them, so an error raised anywhere (a NaN key, memory) leaks nothing.
** ------------------------------------------------------------------- */
typedef struct ystate {
  yaml_parser_t parser;
  yaml_event_t ev;
  int parser_live, ev_live;
} ystate;

typedef struct loader {
  lua_State *L;
  ystate *y;
  int null_idx, anchors, kinds; /* stack slots */
  int depth;
} loader;

enum { N_END = 0, N_SCALAR, N_MAP, N_SEQ };

static int ys_gc(lua_State *L) {
  ystate *y = (ystate *)lua_touserdata(L, 1);
  if (y->ev_live) yaml_event_delete(&y->ev), y->ev_live = 0;
  if (y->parser_live) yaml_parser_delete(&y->parser), y->parser_live = 0;
  return 0;
}

static int next_event(loader *ld) {
  ystate *y = ld->y;
  if (y->ev_live) yaml_event_delete(&y->ev), y->ev_live = 0;
  if (!yaml_parser_parse(&y->parser, &y->ev)) {
    const yaml_parser_t *p = &y->parser;
    lua_pushfstring(ld->L, "%d:%d: %s%s%s", (int)p->problem_mark.line + 1,
                    (int)p->problem_mark.column + 1,
                    p->problem ? p->problem : "YAML error", p->context ? " " : "",
                    p->context ? p->context : "");
    return lua_error(ld->L);
  }
  y->ev_live = 1;
  return (int)y->ev.type;
}

static int mark_error(loader *ld, const char *msg) {
  const yaml_mark_t *m = &ld->y->ev.start_mark;
  lua_pushfstring(ld->L, "%d:%d: %s", (int)m->line + 1, (int)m->column + 1, msg);
  return lua_error(ld->L);
}

/* anchors[name] = value at idx, kinds[name] = kind */
static void add_anchor(loader *ld, const yaml_char_t *anchor, int idx, int kind) {
  lua_State *L = ld->L;
  if (anchor == NULL) return;
  idx = lua_absindex(L, idx);
  lua_pushstring(L, (const char *)anchor);
  lua_pushvalue(L, -1);
  lua_pushvalue(L, idx);
  lua_rawset(L, ld->anchors);
  lua_pushinteger(L, kind);
  lua_rawset(L, ld->kinds);
}

static int load_node(loader *ld);

static void enter(loader *ld) {
  if (++ld->depth > MAXDEPTH) mark_error(ld, "nested too deeply");
  luaL_checkstack(ld->L, 8, "YAML nested too deeply");
}

/* for k, v in pairs(src at top) do if map[k] == nil then map[k] = v end end */
static void merge_from(lua_State *L, int map) {
  int src = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, src)) {
    lua_pushvalue(L, -2);
    lua_rawget(L, map);
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_rawset(L, map);
    } else {
      lua_pop(L, 2);
    }
  }
}

static int load_map(loader *ld) {
  lua_State *L = ld->L;
  int map;
  enter(ld);
  lua_newtable(L);
  map = lua_gettop(L);
  add_anchor(ld, ld->y->ev.data.mapping_start.anchor, map, N_MAP);
  for (;;) {
    int kk = load_node(ld), merge;
    const yaml_event_t *ev = &ld->y->ev;
    if (kk == N_END) break;
    /* '<<' (however quoted) or a key tagged !!merge */
    merge = ev->type == YAML_SCALAR_EVENT && ev->data.scalar.tag != NULL &&
            strcmp((const char *)ev->data.scalar.tag, TAG_PREFIX "merge") == 0;
    if (!merge && lua_type(L, -1) == LUA_TSTRING) {
      size_t n;
      const char *k = lua_tolstring(L, -1, &n);
      merge = n == 2 && k[0] == '<' && k[1] == '<';
    }
    if (merge) {
      int vk;
      lua_pop(L, 1);
      vk = load_node(ld);
      if (vk == N_MAP) {
        merge_from(L, map);
      } else if (vk == N_SEQ) {
        int seq = lua_gettop(L);
        lua_Integer i;
        for (i = 1;; i++) {
          lua_rawgeti(L, seq, i);
          if (lua_isnil(L, -1)) {
            lua_pop(L, 1);
            break;
          }
          if (!lua_istable(L, -1))
            mark_error(ld, "invalid merge sequence element (not a map)");
          merge_from(L, map);
          lua_pop(L, 1);
        }
      } else {
        mark_error(ld, "invalid merge event");
      }
      lua_pop(L, 1);
    } else {
      if (load_node(ld) == N_END) mark_error(ld, "unexpected end of a collection");
      lua_rawset(L, map);
    }
  }
  ld->depth--;
  return N_MAP;
}

static int load_seq(loader *ld) {
  lua_State *L = ld->L;
  int seq;
  lua_Integer n = 0;
  enter(ld);
  lua_newtable(L);
  seq = lua_gettop(L);
  add_anchor(ld, ld->y->ev.data.sequence_start.anchor, seq, N_SEQ);
  while (load_node(ld) != N_END) lua_rawseti(L, seq, ++n);
  ld->depth--;
  return N_SEQ;
}

static int load_scalar(loader *ld) {
  lua_State *L = ld->L;
  const yaml_event_t *ev = &ld->y->ev;
  const char *s = (const char *)ev->data.scalar.value;
  size_t n = ev->data.scalar.length;
  const char *tag = (const char *)ev->data.scalar.tag;
  int done = tag ? explicit_scalar(L, tag, s, n, ld->null_idx) : 0;
  if (done < 0) {
    lua_pushfstring(L, "invalid '%s' value: '", tag);
    lua_pushlstring(L, s, n);
    lua_pushliteral(L, "'");
    lua_concat(L, 3);
    mark_error(ld, lua_tostring(L, -1));
  }
  if (done == 0) {
    if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) implicit(L, s, n, ld->null_idx);
    else lua_pushlstring(L, s, n);
  }
  add_anchor(ld, ev->data.scalar.anchor, -1, N_SCALAR);
  return N_SCALAR;
}

static int load_alias(loader *ld) {
  lua_State *L = ld->L;
  const char *name = (const char *)ld->y->ev.data.alias.anchor;
  int kind;
  lua_pushstring(L, name);
  lua_rawget(L, ld->kinds);
  kind = (int)lua_tointeger(L, -1);
  lua_pop(L, 1);
  if (kind == 0) {
    lua_pushfstring(L, "invalid reference: %s", name);
    mark_error(ld, lua_tostring(L, -1));
  }
  lua_pushstring(L, name);
  lua_rawget(L, ld->anchors);
  return kind;
}

static int load_node(loader *ld) {
  switch (next_event(ld)) {
  case YAML_SCALAR_EVENT: return load_scalar(ld);
  case YAML_ALIAS_EVENT: return load_alias(ld);
  case YAML_MAPPING_START_EVENT: return load_map(ld);
  case YAML_SEQUENCE_START_EVENT: return load_seq(ld);
  case YAML_MAPPING_END_EVENT:
  case YAML_SEQUENCE_END_EVENT: return N_END;
  default: return mark_error(ld, "invalid event");
  }
}

/* core._yaml(text, null) -> {document, ...}; raises "line:col: problem" */
static int l_yaml(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  loader ld;
  lua_Integer ndoc = 0;
  ystate *y;
  luaL_checkany(L, 2);
  lua_settop(L, 2);
  y = (ystate *)lua_newuserdatauv(L, sizeof *y, 0);
  memset(y, 0, sizeof *y);
  lua_newtable(L); /* its metatable: __gc */
  lua_pushcfunction(L, ys_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  if (!yaml_parser_initialize(&y->parser)) return luaL_error(L, "fastmatch: not enough memory");
  y->parser_live = 1;
  yaml_parser_set_input_string(&y->parser, (const unsigned char *)s, n);
  ld.L = L, ld.y = y, ld.null_idx = 2, ld.depth = 0;
  lua_newtable(L); /* 4: anchors */
  lua_newtable(L); /* 5: their kinds */
  ld.anchors = 4, ld.kinds = 5;
  lua_newtable(L); /* 6: the documents */
  if (next_event(&ld) != YAML_STREAM_START_EVENT) return mark_error(&ld, "expecting STREAM_START");
  while (next_event(&ld) != YAML_STREAM_END_EVENT) {
    if (load_node(&ld) == N_END) return mark_error(&ld, "unexpected end of a collection");
    if (next_event(&ld) != YAML_DOCUMENT_END_EVENT) return mark_error(&ld, "expecting DOCUMENT_END");
    lua_rawseti(L, 6, ++ndoc);
    lua_newtable(L); /* anchors are the document's */
    lua_replace(L, 4);
    lua_newtable(L);
    lua_replace(L, 5);
  }
  lua_pushcfunction(L, ys_gc);
  lua_pushvalue(L, 3);
  lua_call(L, 1, 0);
  lua_settop(L, 6);
  return 1;
}

static const luaL_Reg yaml_funcs[] = {{"_yaml", l_yaml}, {NULL, NULL}};

void fm_open_yaml(lua_State *L) { fm_setfuncs(L, yaml_funcs); }

#else /* no libyaml: fastmatch.sigma.yaml uses lyaml */
void fm_open_yaml(lua_State *L) { (void)L; }
#endif

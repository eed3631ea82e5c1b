/*
** wildcard.h -- the compiled plan of a Sigma wildcard, shared by the
** matcher (wildcard.c) and the pattern sets (sets.c), which index the
** plans' literals.  Nothing else includes it.  Plain C: no Lua.
*/
#ifndef FM_WILDCARD_H
#define FM_WILDCARD_H

#include <stddef.h>
#include <stdint.h>

#include "fastmatch.h"

/* ---------------------------------------------------------------------
** The plan.
** ------------------------------------------------------------------- */
enum { A_LIT, A_ANY };
enum { K_EXACT, K_PREFIX, K_SUFFIX, K_CONTAINS, K_PREFIX_SUFFIX, K_GLOB };
typedef struct atom {
  int type;
  int clean;  /* A_LIT: the bytes are valid UTF-8 (matches fall on char
                 boundaries by themselves) */
  size_t off; /* A_LIT: into lit (bytes) or cps (umode) */
  size_t len; /* A_LIT: bytes or code points; A_ANY: number of '?' */
} atom;

typedef struct seg {
  size_t a0, na; /* atoms[a0 .. a0+na) */
  size_t first;  /* index of the first A_LIT atom in atoms, or SIZE_MAX */
} seg;

struct fm_wcplan {
  int kind, cased, umode, clean;
  int nstars, lead, trail; /* '*' count; pattern starts / ends with '*' */
  char *lit;               /* unescaped literal bytes, all atoms */
  size_t nlit;
  uint32_t *cps;  /* umode: folded codes of the literal characters */
  uint32_t *fail; /* umode: KMP failure links of each literal atom's cps */
  atom *atoms;
  size_t natoms;
  seg *segs;
  size_t nsegs;
  size_t minlen; /* no subject shorter than this (bytes) can match */
  /* the fast kinds: a = exact / prefix / contains needle, b = suffix */
  const char *a, *b;
  size_t na, nb;
  int ci; /* caseless and the needle has letters */
  char *req;   /* the longest literal every match contains (see */
  size_t nreq; /* required_literal): the set index's key, the line */
               /* filter's block search; nreq 0 for none */
};

#ifdef LUA_VERSION_NUM
/* Binding helpers shared by fm.wildcard and fm.set (wildcard.c). */
#define WILDCARD_MT "fastmatch.wildcard"
#define SET_MT "fastmatch.set"
/* opts: nil or a table whose only key is `cased`; returns the flags. */
int fm_wc_checkopts(lua_State *L, int arg);
#endif

#endif

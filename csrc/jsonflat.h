/*
** jsonflat.h -- one JSON line (an evtx_dump event, or a flat object) to the
** fields a Sigma rule reads, without building any Lua value.  The kernel
** behind fastmatch.sigma's scan gate (gate.c); plain C, fuzzed alone.
**
** It reproduces lua/fastmatch/sigma/event.lua's flatten() over what
** lua-cjson would decode, for the shapes event logs have: the flat object's
** own scalars ("a.b" for nested objects), Event.EventData, the children of
** Event.UserData, Event.System (with "#attributes" as <element>_<attribute>
** and "#text" as the element), a name with spaces also without them, the
** first section in that order winning.  Where flatten()'s answer would
** depend on something the kernel does not model (an array value, a
** fraction, a name given twice in one section, whose winner is Lua's table
** order), it says FM_JF_OTHER: the caller must then decode the line itself.
** So it does too when the names would be many times longer than the line
** (a long key over many nested fields: see buf_reserve in jsonflat.c).
*/
#ifndef FM_JSONFLAT_H
#define FM_JSONFLAT_H

#include <stddef.h>
#include <stdint.h>

typedef struct fm_jfield {
  const char *name, *val; /* valid until the next parse */
  size_t nlen, vlen;
} fm_jfield;

typedef struct fm_jflat {
  fm_jfield *f; /* the fields, each name once */
  size_t n;
  /* private: */
  size_t cap;
  struct jf_raw *raw; /* fields as found, before names are settled */
  size_t nraw, rawcap;
  char *buf; /* unescaped strings, composed names */
  size_t blen, bcap;
  uint32_t *slot; /* name hash -> raw index + 1 */
  size_t smask;
} fm_jflat;

enum {
  FM_JF_OK = 0,    /* j->f[0 .. j->n) are the event's fields */
  FM_JF_OTHER = 1, /* JSON the kernel does not model: decode it elsewhere */
  FM_JF_BAD = 2,   /* not one JSON object (a decoder reports the error) */
  FM_JF_NOMEM = -1
};

void fm_jflat_init(fm_jflat *j);
int fm_jflat_parse(fm_jflat *j, const char *s, size_t len);
void fm_jflat_free(fm_jflat *j);

#endif

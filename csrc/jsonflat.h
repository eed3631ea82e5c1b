/*
** jsonflat.h -- the JSON front end: one JSON object's text as a stream of
** structure events (csrc/evsink.h), read strictly (RFC 8259) and as
** lua-cjson would decode it; and, composed with the event model
** (evmodel.h), one JSON line to the fields a Sigma rule reads without
** building any Lua value: the scan gate's kernel.  Plain C, fuzzed alone
** (fuzz_jsonflat).
**
** Where lua-cjson's table would depend on what the front end does not
** model (a key given twice in one object: it keeps the last; a \u
** surrogate escape; more than 48 levels), it says FM_SINK_OTHER with its
** reason: the caller must then decode the line itself.
*/
#ifndef FM_JSONFLAT_H
#define FM_JSONFLAT_H

#include <stddef.h>

#include "evmodel.h"
#include "evsink.h"

/* The front end's state: the unescaped strings of one text (every string
   it hands out is FM_SV_STABLE: a pointer into the text, or into buf,
   valid until the next fm_json_events with the same fm_jsonev). */
typedef struct fm_jsonev {
  char *buf;
  size_t cap, len;
} fm_jsonev;

enum { FM_JSON_BAD = -2 }; /* not one JSON object (a decoder reports the error) */

void fm_jsonev_init(fm_jsonev *j);
/* Stream the object s[0 .. n) into sink: FM_SINK_OK; what a callback
   returned (it stops the walk); FM_JSON_BAD; or FM_SINK_OTHER with *why
   (FM_EV_DUPKEY, FM_EV_ESCAPE, FM_EV_NESTING). */
int fm_json_events(fm_jsonev *j, const char *s, size_t n, fm_sink *sink, int *why);
void fm_jsonev_free(fm_jsonev *j);

/* A JSON line to its fields: the front end and the event model composed
   (FM_EV_DUP_OTHER: a name twice in one section is lua-cjson's table
   order's to settle, so not modelled). */
typedef struct fm_jflat {
  const fm_evfield *f; /* the fields, each name once, valid until the next parse */
  size_t n;
  int why; /* after FM_JF_OTHER: FM_EV_* */
  /* private: */
  fm_jsonev tok;
  fm_evmodel model;
} fm_jflat;

enum {
  FM_JF_OK = 0,    /* j->f[0 .. j->n) are the event's fields */
  FM_JF_OTHER = 1, /* JSON the model does not take (j->why): decode it elsewhere */
  FM_JF_BAD = 2,   /* not one JSON object */
  FM_JF_NOMEM = -1
};

void fm_jflat_init(fm_jflat *j);
int fm_jflat_parse(fm_jflat *j, const char *s, size_t len);
void fm_jflat_free(fm_jflat *j);

#endif

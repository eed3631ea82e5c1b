/*
** evmodel.h -- the event model: the one place that says how an event's
** fields are named.  A consumer of csrc/evsink.h: any front end (JSON
** text, a Lua table, an EVTX record) streams one event into it, and it
** settles the fields a Sigma rule reads, as lua/fastmatch/sigma/event.lua's
** flatten() does for the table that event would be:
**
**   sections, the first writer winning in this order:
**     0 flat     the root's members other than "Event": scalars by name,
**                objects' as "a.b" (every member, when there is no Event
**                object: the flat event)
**     1 data     Event.EventData: scalars by name; an element (an object)
**                by its "#text", or, without one, its members by their own
**                names (a nested map); '#' names are not fields
**     2 user     each object child of Event.UserData, as EventData
**     3 system   Event.System: scalars by name; an element's "#text" as the
**                element, its "#attributes" as <element>_<attribute>, its
**                children as <element>_<child>
**   names with spaces also answer without them ("Threat Name": ThreatName);
**   numbers as decimal digits; booleans as "true"/"false"; null is absent;
**   Event's other members are not read.
**
** What flatten() would answer and the model does not take, it declines
** with FM_SINK_OTHER and a reason (why): the caller flattens that event in
** Lua.  A list where flatten() reads a value; a number that is not an
** integer below 2^53 (tostring's text is Lua's); a composed name over
** FM_EV_MAXNAME (flatten() spills such values into one list); a name
** given twice in one section when the front end cannot tell Lua's table
** order (FM_EV_DUP_OTHER: JSON text, whose table lua-cjson builds); deeper
** than the model's frames; names many times larger than the input.
**
** Plain C, no Lua: fuzz_evmodel drives it with random streams.
*/
#ifndef FM_EVMODEL_H
#define FM_EVMODEL_H

#include <stddef.h>
#include <stdint.h>

#include "evsink.h"

/* The longest name composed (a.b, Element_Attr, Element_Child): no rule
   reads a longer one, and one long key over nested objects would make
   names far longer than the event (event.lua reads it from fastmatch.core
   as event_maxname). */
#define FM_EV_MAXNAME 512

/* One settled field: name -> value text (not NUL-terminated). */
typedef struct fm_evfield {
  const char *name, *val;
  size_t nlen, vlen;
} fm_evfield;

/* How a name given twice in one section is settled. */
enum {
  FM_EV_DUP_OTHER = 0, /* decline (JSON text: the winner is lua-cjson's table order) */
  FM_EV_DUP_FIRST = 1  /* the first in the stream wins (a Lua table walked with
                          lua_next: the order flatten()'s pairs() sees) */
};

/* Why an event was declined (m->why after FM_SINK_OTHER), and the front
   ends' own reasons, so that one table names them all (fm_ev_why_name). */
enum {
  FM_EV_OK = 0,
  FM_EV_LIST,      /* a list where flatten() reads a value */
  FM_EV_NUMBER,    /* a number that is not an integer below 2^53 */
  FM_EV_LONGNAME,  /* a composed name over FM_EV_MAXNAME */
  FM_EV_DUPLICATE, /* a name twice in one section (FM_EV_DUP_OTHER) */
  FM_EV_NESTING,   /* deeper than the model's (or the front end's) frames */
  FM_EV_SIZE,      /* names many times larger than the input */
  FM_EV_SHAPE,     /* not one object, or events after it */
  /* front ends' reasons */
  FM_EV_METATABLE, /* a Lua table with a metatable (pairs may differ) */
  FM_EV_KEY,       /* a Lua table key that is not a string, or a mixed table */
  FM_EV_DUPKEY,    /* a JSON key twice in one object (lua-cjson keeps the last) */
  FM_EV_ESCAPE,    /* a JSON \u surrogate escape (lua-cjson's handling is its own) */
  FM_EV_NWHY
};
/* "list", "number", ...: the reason's name ("?" for an unknown code) */
const char *fm_ev_why_name(int why);

struct ev_raw;
struct ev_frame;

typedef struct fm_evmodel {
  fm_sink sink; /* what the front end is given: &m->sink */
  /* after the event's root end() returned FM_SINK_OK: its fields, each name
     once, valid until the next fm_evmodel_reset (they point into the
     model's buffer, and into the bytes the front end marked FM_SV_STABLE,
     which must therefore live as long: longer than evsink.h asks) */
  fm_evfield *f;
  size_t n;
  int why; /* after FM_SINK_OTHER: FM_EV_* */
  /* private: */
  int dups, state, event_mode, root_long, done;
  size_t skip, nframes, fcap, fcap_out;
  struct ev_frame *frames;
  struct ev_raw *raw;
  size_t nraw, rawcap;
  char *buf; /* composed names and copied bytes */
  size_t blen, bcap, inbytes;
  uint32_t *slot; /* settling: name hash -> raw index + 1 */
  size_t smask;
} fm_evmodel;

void fm_evmodel_init(fm_evmodel *m);
/* Before each event: forget the last one; dups: FM_EV_DUP_*. */
void fm_evmodel_reset(fm_evmodel *m, int dups);
/* 1 when the event's root was closed and its fields settled (m->f) */
int fm_evmodel_done(const fm_evmodel *m);
void fm_evmodel_free(fm_evmodel *m);

#endif

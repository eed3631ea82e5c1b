/*
** evsink.h -- one event as a stream of structure events (a JSON-shaped SAX):
** the boundary between the input front ends and what consumes an event.
**
**   front ends (each knows its input's syntax, nothing of rules)
**     JSON text (jsonflat.c), a Lua table (its binding), an EVTX record
**     (evtx.c: binary XML read into evtx_dump's JSON shape)
**   consumers (each knows nothing of the input)
**     the event model (the fields a Sigma rule reads), the JSON writer
**     (evtx_dump-compatible text), the Lua table builder (the table
**     cjson.decode gives for that text)
**
** The stream of one event is the walk of the JSON value it would be:
**   begin(root) { begin(key) ... end | scalar(key) }* end
** An object's members come with their key; an array's elements and the root
** come with key == NULL.  Plain C, no Lua: kernels on either side of it can
** be fuzzed alone.
*/
#ifndef FM_EVSINK_H
#define FM_EVSINK_H

#include <stddef.h>

/* A scalar's kind.  Numbers come as their JSON text (an integer in decimal
   digits, or a JSON number with a fraction or an exponent): each consumer
   decides what it needs of them (the event model: decimal digits; the
   table builder: a Lua number; the writer: the text as it is). */
enum {
  FM_SV_STR = 0,  /* UTF-8 text (not escaped) */
  FM_SV_NUM = 1,  /* a JSON number's text */
  FM_SV_BOOL = 2, /* "true" or "false" */
  FM_SV_NULL = 3  /* v is "null" */
};

/* Or'ed into kind (and into begin's array argument's flags): the key's and
   the value's bytes stay valid and unchanged until the event's last end()
   returns, so a consumer may keep pointers instead of copying (the JSON
   front end: pointers into the line).  Without it, they are valid for the
   call only. */
#define FM_SV_STABLE 0x100
#define FM_SV_KIND(k) ((k) & 0xFF)

/* What a callback returns: 0 to go on; anything else stops the front end,
   which returns that code to its caller unchanged (the consumer's own
   codes: FM_SINK_OTHER, FM_SINK_NOMEM, or a larger positive one). */
enum {
  FM_SINK_OK = 0,
  FM_SINK_OTHER = 1,  /* the consumer does not model this event: the caller
                         must take it another way (decode it in Lua) */
  FM_SINK_NOMEM = -1
};

typedef struct fm_sink fm_sink;
struct fm_sink {
  /* enter an object (array == 0) or an array (array == 1), under key */
  int (*begin)(fm_sink *s, const char *key, size_t klen, int array);
  /* leave the innermost open object or array */
  int (*end)(fm_sink *s);
  /* a member or element that is not an object or an array */
  int (*scalar)(fm_sink *s, const char *key, size_t klen, int kind, const char *v,
                size_t vlen);
};

#endif

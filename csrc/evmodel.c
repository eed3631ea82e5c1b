/*
** evmodel.c -- the event model (see evmodel.h for the naming rules and
** what it declines).  Owns: how an event's fields are named and which
** writer wins.  Must not touch: any input's syntax (the front ends: JSON
** text in jsonflat.c, Lua tables in evtable.c, EVTX records) or the rules
** (the gate's VM reads the fields).
**
** One pass over the stream: a stack of frames says what the open object is
** (the root, a flat object, the Event, a data section or element, System,
** an element's attributes); each scalar a rule can read becomes a raw
** field (name, value, section), in stream order.  At the root's end the
** raw fields are settled: the lowest section wins a name, and within one
** section the first (FM_EV_DUP_FIRST) or none (FM_EV_DUP_OTHER).
**
** A data element ({"#text": v, ...}) is known only at its end: its
** members are recorded as a nested map, and dropped if a "#text" came
** (flatten() then takes the text alone).  So a reason to decline met
** inside an element waits for the element's end too.
**
** Bytes the front end marks FM_SV_STABLE are pointed at, not copied;
** composed names and other bytes go to one growing buffer, referred to by
** offset until the fields are settled (the buffer may move as it grows).
*/
#include <string.h>

#include "evmodel.h"
#include "fastmatch.h"

/* Frames: the model's nesting in the parts it reads (Event's other parts
   are passed over by counting, at any depth).  The buffer: past BUFMUL
   times the bytes given (plus BUFMIN), the names would be many times the
   event (a long prefix over many small members): declined. */
enum { MAXFRAMES = 64, BUFMUL = 16, BUFMIN = 65536 };
enum { SEC_FLAT, SEC_DATA, SEC_USER, SEC_SYSTEM };
enum { R_ROOT, R_FLAT, R_EVENT, R_DATA, R_ELEM, R_USER, R_SYS, R_SYSEL, R_ATTR };
enum { ST_BEFORE, ST_IN, ST_DONE };
enum { V_SCALAR, V_OBJECT, V_ARRAY };

/* Bytes of the front end's (p != NULL) or of the buffer (at off). */
typedef struct ev_ref {
  const char *p;
  size_t off, len;
} ev_ref;

struct ev_raw {
  ev_ref name, val;
  uint32_t hash;
  uint8_t section, win, dup; /* dup: a later one of its section has its name */
};

struct ev_frame {
  uint8_t role, section;
  uint8_t has_text; /* R_ELEM: 0 none, 1 "#text" without a value, 2 with */
  uint8_t toolong;  /* R_FLAT, R_SYS: every member's name would be over the cap */
  int other;        /* R_ELEM: a reason to decline, unless "#text" comes */
  int text_why;     /* R_ELEM: "#text" is a value the model declines */
  ev_ref name;      /* R_FLAT, R_SYS: members' prefix; R_ELEM, R_SYSEL, R_ATTR:
                       the element's name */
  ev_ref text;      /* R_ELEM: its "#text" */
  size_t mark;      /* R_ELEM: the raw fields before it */
};

static const char *const why_names[FM_EV_NWHY] = {
    "ok",    "list",  "number",    "long name", "duplicate", "nesting",
    "size",  "shape", "metatable", "key",       "duplicate key", "surrogate escape"};

const char *fm_ev_why_name(int why) {
  return why >= 0 && why < FM_EV_NWHY ? why_names[why] : "?";
}

#define NOREF_INIT {"", 0, 0} /* no bytes (never NULL: ref_ptr adds no offset to it) */
static const ev_ref NOREF = NOREF_INIT;

static const char *ref_ptr(const fm_evmodel *m, ev_ref r) {
  return r.p != NULL ? r.p : m->buf + r.off;
}

static uint32_t hash_bytes(const char *s, size_t n) {
  uint32_t h = 2166136261u; /* FNV-1a */
  size_t i;
  for (i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
  return h;
}

/* Decline the event: m->why, FM_SINK_OTHER. */
static int decline_now(fm_evmodel *m, int why) {
  m->why = why;
  return FM_SINK_OTHER;
}

/* Decline, or inside a data element, wait for its end: a "#text" there
   makes flatten() read the text alone. */
static int decline(fm_evmodel *m, int why) {
  if (m->nframes > 0) {
    struct ev_frame *t = &m->frames[m->nframes - 1];
    if (t->role == R_ELEM) {
      if (t->other == 0) t->other = why;
      return FM_SINK_OK;
    }
  }
  return decline_now(m, why);
}

static int buf_reserve(fm_evmodel *m, size_t more) {
  size_t limit = m->inbytes <= ((size_t)-1 - BUFMIN) / BUFMUL ? m->inbytes * BUFMUL + BUFMIN : (size_t)-1;
  size_t want, cap;
  char *nb;
  if (more > limit || m->blen > limit - more) return decline_now(m, FM_EV_SIZE);
  want = m->blen + more;
  if (want <= m->bcap) return FM_SINK_OK;
  cap = m->bcap ? m->bcap : 1024;
  while (cap < want) cap *= 2;
  nb = fm_realloc(m->buf, cap);
  if (nb == NULL) return FM_SINK_NOMEM;
  m->buf = nb, m->bcap = cap;
  return FM_SINK_OK;
}

/* The bytes s[0 .. n) as a ref: pointed at when stable, else copied. */
static int take(fm_evmodel *m, const char *s, size_t n, int stable, ev_ref *out) {
  int rc;
  if (stable || n == 0) {
    out->p = n == 0 ? "" : s, out->off = 0, out->len = n;
    return FM_SINK_OK;
  }
  if ((rc = buf_reserve(m, n)) != FM_SINK_OK) return rc;
  memcpy(m->buf + m->blen, s, n);
  out->p = NULL, out->off = m->blen, out->len = n;
  m->blen += n;
  return FM_SINK_OK;
}

/* a .. sep .. key .. tail (sep, tail 0: none) into the buffer; TOOLONG
   (the caller's to decline, or to mark a prefix) past the cap */
enum { TOOLONG = 2 };
static int compose(fm_evmodel *m, ev_ref a, int sep, const char *key, size_t klen, int tail,
                   ev_ref *out) {
  size_t n = a.len + (sep ? 1 : 0) + (tail ? 1 : 0);
  char *d;
  int rc;
  if (klen > FM_EV_MAXNAME || n > FM_EV_MAXNAME - klen) return TOOLONG;
  n += klen;
  if ((rc = buf_reserve(m, n)) != FM_SINK_OK) return rc;
  d = m->buf + m->blen;
  memcpy(d, ref_ptr(m, a), a.len); /* after the reserve: a may be in the buffer */
  d += a.len;
  if (sep) *d++ = (char)sep;
  memcpy(d, key, klen);
  if (tail) d[klen] = (char)tail;
  out->p = NULL, out->off = m->blen, out->len = n;
  m->blen += n;
  return FM_SINK_OK;
}

static int raw_add(fm_evmodel *m, ev_ref name, ev_ref val, int section) {
  struct ev_raw *r;
  if (m->nraw == m->rawcap) {
    size_t cap = m->rawcap ? m->rawcap * 2 : 64;
    struct ev_raw *nr = fm_realloc(m->raw, cap * sizeof *nr);
    if (nr == NULL) return FM_SINK_NOMEM;
    m->raw = nr, m->rawcap = cap;
  }
  r = &m->raw[m->nraw++];
  r->name = name, r->val = val, r->section = (uint8_t)section, r->win = r->dup = 0, r->hash = 0;
  return FM_SINK_OK;
}

/* flatten()'s put: the name, and the name without its spaces */
static int put(fm_evmodel *m, int section, ev_ref name, ev_ref val) {
  int rc;
  if ((rc = raw_add(m, name, val, section)) != FM_SINK_OK) return rc;
  if (memchr(ref_ptr(m, name), ' ', name.len) != NULL) {
    ev_ref d;
    const char *s;
    size_t k;
    if ((rc = buf_reserve(m, name.len)) != FM_SINK_OK) return rc;
    s = ref_ptr(m, name); /* the buffer may have moved */
    d.p = NULL, d.off = m->blen;
    for (k = 0; k < name.len; k++)
      if (s[k] != ' ') m->buf[m->blen++] = s[k];
    d.len = m->blen - d.off;
    return raw_add(m, d, val, section);
  }
  return FM_SINK_OK;
}

/* A JSON number's text as flatten() writes it: an integer below 2^53 in
   magnitude is its digits (not "-0": that reads "0" in Lua); others are
   tostring()'s, which is Lua's to say. */
static int number_ok(const char *v, size_t n) {
  const char *d = v;
  size_t nd;
  if (n > 0 && *d == '-') d++, n--;
  if (n == 0 || n > 16) return 0;
  for (nd = 0; nd < n; nd++)
    if (d[nd] < '0' || d[nd] > '9') return 0;
  if (d[0] == '0') return n == 1 && d == v;
  return n < 16 || memcmp(d, "9007199254740992", 16) < 0;
}

/* A scalar's value as a ref: 1 with *out for a value, 0 for null; a
   number the model does not take: -1 with *why. */
static int value(fm_evmodel *m, int kind, const char *v, size_t vlen, ev_ref *out, int *rc) {
  int k = FM_SV_KIND(kind);
  *rc = FM_SINK_OK;
  if (k == FM_SV_NULL) return 0;
  if (k == FM_SV_NUM && !number_ok(v, vlen)) return -1;
  if (k != FM_SV_STR && k != FM_SV_NUM && k != FM_SV_BOOL) return -2;
  *rc = take(m, v, vlen, (kind & FM_SV_STABLE) != 0, out);
  return 1;
}

/* put(section, name, scalar) for a member whose name is settled */
static int put_scalar(fm_evmodel *m, int section, ev_ref name, int kind, const char *v, size_t vlen) {
  ev_ref val;
  int rc, r = value(m, kind, v, vlen, &val, &rc);
  if (r == -1) return decline(m, FM_EV_NUMBER);
  if (r == -2) return decline_now(m, FM_EV_SHAPE);
  if (r == 0 || rc != FM_SINK_OK) return rc;
  return put(m, section, name, val);
}

static int push(fm_evmodel *m, int role, int section, ev_ref name) {
  struct ev_frame *f;
  if (m->nframes == MAXFRAMES) return decline_now(m, FM_EV_NESTING);
  if (m->nframes == m->fcap) {
    size_t cap = m->fcap ? m->fcap * 2 : 16;
    struct ev_frame *nf = fm_realloc(m->frames, cap * sizeof *nf);
    if (nf == NULL) return FM_SINK_NOMEM;
    m->frames = nf, m->fcap = cap;
  }
  f = &m->frames[m->nframes++];
  memset(f, 0, sizeof *f);
  f->role = (uint8_t)role, f->section = (uint8_t)section, f->name = name;
  f->mark = m->nraw;
  return FM_SINK_OK;
}

/* A flat object's frame: its members are named prefix .. key, the prefix
   being a .. key .. '.'; when that is over the cap already, so is every
   member's name (flatten() spills them): the frame is marked. */
static int push_flat(fm_evmodel *m, ev_ref a, const char *key, size_t klen) {
  ev_ref p = NOREF_INIT;
  int toolong = compose(m, a, 0, key, klen, '.', &p), rc;
  if (toolong != FM_SINK_OK && toolong != TOOLONG) return toolong;
  if ((rc = push(m, R_FLAT, SEC_FLAT, p)) != FM_SINK_OK) return rc;
  m->frames[m->nframes - 1].toolong = toolong == TOOLONG;
  return FM_SINK_OK;
}

static int is(const char *k, size_t n, const char *lit, size_t l) {
  return n == l && memcmp(k, lit, l) == 0;
}
#define IS(k, n, lit) is(k, n, lit, sizeof lit - 1)

/* A member of System's object (R_SYS: named key) or of an element of it
   (R_SYSEL: named element_key). */
static int sys_member(fm_evmodel *m, const struct ev_frame *t, const char *key, size_t klen,
                      int stable, int what, int kind, const char *v, size_t vlen) {
  ev_ref name;
  int rc;
  if (t->role == R_SYS) {
    if (klen > FM_EV_MAXNAME) return decline_now(m, FM_EV_LONGNAME);
    rc = take(m, key, klen, stable, &name);
  } else {
    rc = compose(m, t->name, '_', key, klen, 0, &name);
    if (rc == TOOLONG) return decline_now(m, FM_EV_LONGNAME);
  }
  if (rc != FM_SINK_OK) return rc;
  if (what == V_SCALAR) return put_scalar(m, SEC_SYSTEM, name, kind, v, vlen);
  if (what == V_ARRAY) return decline_now(m, FM_EV_LIST);
  return push(m, R_SYSEL, SEC_SYSTEM, name);
}

/* A member of a data section or element: scalars by name, objects as
   elements (or nested maps), '#' names passed over. */
static int data_member(fm_evmodel *m, struct ev_frame *t, const char *key, size_t klen, int stable,
                       int what, int kind, const char *v, size_t vlen) {
  ev_ref name;
  int rc;
  if (t->role == R_ELEM && IS(key, klen, "#text")) {
    int r;
    if (what != V_SCALAR) { /* a table: read as no text; not modelled */
      t->has_text = 1, t->text_why = FM_EV_LIST;
      m->skip = 1;
      return FM_SINK_OK;
    }
    r = value(m, kind, v, vlen, &t->text, &rc);
    if (r == -2) return decline_now(m, FM_EV_SHAPE);
    if (rc != FM_SINK_OK) return rc;
    t->has_text = r == 1 ? 2 : 1;
    t->text_why = r == -1 ? FM_EV_NUMBER : FM_EV_OK;
    return FM_SINK_OK;
  }
  if (klen > 0 && key[0] == '#') { /* attributes, text: not fields */
    if (what != V_SCALAR) m->skip = 1;
    return FM_SINK_OK;
  }
  if (what == V_SCALAR) {
    if (FM_SV_KIND(kind) == FM_SV_NULL) return FM_SINK_OK;
    if ((rc = take(m, key, klen, stable, &name)) != FM_SINK_OK) return rc;
    return put_scalar(m, t->section, name, kind, v, vlen);
  }
  if (what == V_ARRAY) { /* <Data> elements, or a list of values */
    if ((rc = decline(m, FM_EV_LIST)) == FM_SINK_OK) m->skip = 1;
    return rc;
  }
  if ((rc = take(m, key, klen, stable, &name)) != FM_SINK_OK) return rc;
  return push(m, R_ELEM, t->section, name);
}

/* One member (its key, and a scalar or the begin of an object or array) of
   the innermost open frame. */
static int member(fm_evmodel *m, const char *key, size_t klen, int stable, int what, int kind,
                  const char *v, size_t vlen) {
  struct ev_frame *t = &m->frames[m->nframes - 1];
  ev_ref name;
  int rc;
  switch (t->role) {
    case R_ROOT:
      if (IS(key, klen, "Event") && what != V_SCALAR) {
        if (what == V_ARRAY) return decline_now(m, FM_EV_LIST);
        m->event_mode = 1;
        return push(m, R_EVENT, SEC_FLAT, NOREF);
      }
      if (klen > FM_EV_MAXNAME) m->root_long = 1; /* see the root's end */
      if (what == V_ARRAY) return decline_now(m, FM_EV_LIST);
      if (what == V_OBJECT) return push_flat(m, NOREF, key, klen);
      if (FM_SV_KIND(kind) == FM_SV_NULL) return FM_SINK_OK;
      if ((rc = take(m, key, klen, stable, &name)) != FM_SINK_OK) return rc;
      return put_scalar(m, SEC_FLAT, name, kind, v, vlen);
    case R_FLAT:
      if (t->toolong) return decline_now(m, FM_EV_LONGNAME);
      if (what == V_ARRAY) return decline_now(m, FM_EV_LIST);
      /* prefix .. key over the cap: spilled, whatever the value */
      if (klen > FM_EV_MAXNAME || t->name.len > FM_EV_MAXNAME - klen) return decline_now(m, FM_EV_LONGNAME);
      if (what == V_OBJECT) return push_flat(m, t->name, key, klen);
      rc = compose(m, t->name, 0, key, klen, 0, &name);
      if (rc == TOOLONG) return decline_now(m, FM_EV_LONGNAME);
      if (rc != FM_SINK_OK) return rc;
      return put_scalar(m, SEC_FLAT, name, kind, v, vlen);
    case R_EVENT: {
      int role = IS(key, klen, "EventData") ? R_DATA
                 : IS(key, klen, "UserData") ? R_USER
                 : IS(key, klen, "System")   ? R_SYS
                                             : -1;
      if (what == V_SCALAR) return FM_SINK_OK;
      if (role < 0) { /* a part no rule reads */
        m->skip = 1;
        return FM_SINK_OK;
      }
      if (what == V_ARRAY) return decline_now(m, FM_EV_LIST);
      return push(m, role, role == R_DATA ? SEC_DATA : role == R_USER ? SEC_USER : SEC_SYSTEM, NOREF);
    }
    case R_USER: /* each object child is a data section */
      if (what == V_SCALAR) return FM_SINK_OK;
      if (what == V_ARRAY) return decline_now(m, FM_EV_LIST);
      return push(m, R_DATA, SEC_USER, NOREF);
    case R_DATA:
    case R_ELEM: return data_member(m, t, key, klen, stable, what, kind, v, vlen);
    case R_SYSEL:
      if (IS(key, klen, "#attributes")) {
        if (what == V_SCALAR) return FM_SINK_OK; /* not a table: passed over */
        if (what == V_ARRAY) return decline_now(m, FM_EV_LIST);
        return push(m, R_ATTR, SEC_SYSTEM, t->name);
      }
      if (IS(key, klen, "#text")) {
        if (what != V_SCALAR) return decline_now(m, FM_EV_LIST);
        return put_scalar(m, SEC_SYSTEM, t->name, kind, v, vlen);
      }
      return sys_member(m, t, key, klen, stable, what, kind, v, vlen);
    case R_SYS: return sys_member(m, t, key, klen, stable, what, kind, v, vlen);
    default: /* R_ATTR */
      if (what != V_SCALAR) return decline_now(m, FM_EV_LIST);
      rc = compose(m, t->name, '_', key, klen, 0, &name);
      if (rc == TOOLONG) return decline_now(m, FM_EV_LONGNAME);
      if (rc != FM_SINK_OK) return rc;
      return put_scalar(m, SEC_SYSTEM, name, kind, v, vlen);
  }
}

/* ---------------------------------------------------------------- settling:
   the lowest section wins a name; within it, the first (FM_EV_DUP_FIRST) or
   none (FM_EV_DUP_OTHER: the event is declined) */
static int settle(fm_evmodel *m) {
  size_t k, want = 16, i;
  while (want < m->nraw * 2) want *= 2;
  if (want - 1 > m->smask) {
    uint32_t *ns = fm_realloc(m->slot, want * sizeof *ns);
    if (ns == NULL) return FM_SINK_NOMEM;
    m->slot = ns, m->smask = want - 1;
  }
  memset(m->slot, 0, (m->smask + 1) * sizeof *m->slot);
  for (k = 0; k < m->nraw; k++) {
    struct ev_raw *r = &m->raw[k];
    const char *name = ref_ptr(m, r->name);
    uint32_t h = hash_bytes(name, r->name.len);
    r->hash = h;
    for (i = h & m->smask;; i = (i + 1) & m->smask) {
      uint32_t at = m->slot[i];
      struct ev_raw *o;
      if (at == 0) {
        m->slot[i] = (uint32_t)k + 1, r->win = 1;
        break;
      }
      o = &m->raw[at - 1];
      if (o->hash == h && o->name.len == r->name.len &&
          memcmp(ref_ptr(m, o->name), name, r->name.len) == 0) {
        if (r->section < o->section) {
          m->slot[i] = (uint32_t)k + 1, r->win = 1, o->win = 0;
        } else if (r->section == o->section) {
          o->dup = 1; /* ambiguous, unless a lower section wins the name */
        }
        break;
      }
    }
  }
  if (m->fcap_out < m->nraw) {
    size_t cap = m->nraw < 32 ? 32 : m->nraw;
    fm_evfield *nf = fm_realloc(m->f, cap * sizeof *nf);
    if (nf == NULL) return FM_SINK_NOMEM;
    m->f = nf, m->fcap_out = cap;
  }
  m->n = 0;
  for (k = 0; k < m->nraw; k++) {
    const struct ev_raw *r = &m->raw[k];
    if (r->win && r->dup && m->dups == FM_EV_DUP_OTHER) return decline_now(m, FM_EV_DUPLICATE);
    if (r->win) {
      fm_evfield *f = &m->f[m->n++];
      f->name = ref_ptr(m, r->name), f->nlen = r->name.len;
      f->val = ref_ptr(m, r->val), f->vlen = r->val.len;
    }
  }
  return FM_SINK_OK;
}

/* ---------------------------------------------------------------- the sink */
static int ev_begin(fm_sink *s, const char *key, size_t klen, int array) {
  fm_evmodel *m = (fm_evmodel *)s;
  m->inbytes += klen + 16;
  if (m->skip > 0) {
    m->skip++;
    return FM_SINK_OK;
  }
  if (m->state != ST_IN) {
    if (m->state != ST_BEFORE || key != NULL || FM_SV_KIND(array) != 0) return decline_now(m, FM_EV_SHAPE);
    m->state = ST_IN;
    return push(m, R_ROOT, SEC_FLAT, NOREF);
  }
  if (key == NULL) return decline_now(m, FM_EV_SHAPE); /* inside an array it reads */
  return member(m, key, klen, (array & FM_SV_STABLE) != 0, FM_SV_KIND(array) ? V_ARRAY : V_OBJECT, 0,
                NULL, 0);
}

static int ev_scalar(fm_sink *s, const char *key, size_t klen, int kind, const char *v, size_t vlen) {
  fm_evmodel *m = (fm_evmodel *)s;
  m->inbytes += klen + vlen + 16;
  if (m->skip > 0) return FM_SINK_OK;
  if (m->state != ST_IN || key == NULL) return decline_now(m, FM_EV_SHAPE);
  return member(m, key, klen, (kind & FM_SV_STABLE) != 0, V_SCALAR, kind, v, vlen);
}

static int ev_end(fm_sink *s) {
  fm_evmodel *m = (fm_evmodel *)s;
  struct ev_frame f;
  int rc;
  if (m->skip > 0) {
    m->skip--;
    return FM_SINK_OK;
  }
  if (m->state != ST_IN || m->nframes == 0) return decline_now(m, FM_EV_SHAPE);
  f = m->frames[--m->nframes];
  switch (f.role) {
    case R_ELEM:
      if (f.has_text) { /* flatten() reads the text alone */
        m->nraw = f.mark;
        if (f.text_why != FM_EV_OK) return decline(m, f.text_why);
        return f.has_text == 2 ? put(m, f.section, f.name, f.text) : FM_SINK_OK;
      }
      return f.other != FM_EV_OK ? decline(m, f.other) : FM_SINK_OK;
    case R_ROOT:
      m->state = ST_DONE;
      /* a flat event spills a long key's values (event.lua's LONG) */
      if (!m->event_mode && m->root_long) return decline_now(m, FM_EV_LONGNAME);
      if ((rc = settle(m)) != FM_SINK_OK) return rc;
      m->done = 1;
      return FM_SINK_OK;
    default: return FM_SINK_OK;
  }
}

void fm_evmodel_init(fm_evmodel *m) {
  memset(m, 0, sizeof *m);
  m->sink.begin = ev_begin, m->sink.end = ev_end, m->sink.scalar = ev_scalar;
}

void fm_evmodel_reset(fm_evmodel *m, int dups) {
  m->n = 0, m->why = FM_EV_OK, m->dups = dups;
  m->state = ST_BEFORE, m->event_mode = m->root_long = m->done = 0;
  m->skip = m->nframes = m->nraw = m->blen = m->inbytes = 0;
}

int fm_evmodel_done(const fm_evmodel *m) { return m->done; }

void fm_evmodel_free(fm_evmodel *m) {
  fm_free(m->f), fm_free(m->frames), fm_free(m->raw), fm_free(m->buf), fm_free(m->slot);
  fm_evmodel_init(m);
}

/*
** gatevm.h -- the Sigma gate's program and the VM that runs it over an
** event's fields, in plain C (no Lua): what a front end calls to know which
** rules an event fires.
**
** How a front end uses it (an EVTX reader, a thread of a parallel hunt):
**
**   const fm_gprog *p = fm_gate_prog(L, idx);  // a built gate (eng:gate()),
**                                              // from the binding (binding.h)
**   fm_grun *run = fm_grun_new(p, 1);          // 1: its own copies of the sets
**   fm_evmodel m;                              // and regexes (another thread)
**   fm_evmodel_init(&m);
**   for each record:
**     fm_evmodel_reset(&m, FM_EV_DUP_OTHER);   // or _FIRST: see evmodel.h
**     rc = my_front_end(record, &m.sink);      // begin/scalar/end (evsink.h)
**     if (rc == FM_SINK_OTHER) ...             // not modelled (m.why): the
**                                              // record goes to the Lua engine
**     rc = fm_gate_eval(p, run, m.f, m.n, my_emit, ud);
**       // my_emit(ud, var, slot, val, why) for each rule whose condition is
**       // true (val FM_K_T) or unknown (FM_K_U: the engine decides it; why
**       // says what was unknown); fm_gprog_rule(p, var, slot) is its id
**       // (the engine's rule index)
**   fm_grun_free(run); fm_evmodel_free(&m);
**
** The program is immutable once built: several runs (each in one thread)
** may use it at once.  A run holds everything an evaluation writes (stamps,
** candidates, the value cache) and, made with thread = 1, its own copy of
** each set (fm_wcset_thread_copy) and regex (its ops->thread_copy); made
** with thread = 0 it calls the program's own, which only one thread may
** then use.  The program's sets and regexes must outlive every run: the
** binding keeps them alive while the gate lives; a thread run must be freed
** before the gate is collected, and no set of it finalized by hand meanwhile
** (the primary run sees a set finalized by hand and lets events through;
** a thread copy shares that set's tables and cannot).
*/
#ifndef FM_GATEVM_H
#define FM_GATEVM_H

#include <stddef.h>
#include <stdint.h>

#include "evmodel.h"
#include "fastmatch.h"

/* ---------------------------------------------------------------------
** The program: per variant (a logsource mapping), per rule, postfix code
** over the rule's items, evaluated in three-valued (Kleene) logic.  An
** opcode is followed by its operands (int32).  X(name, value, operands,
** what it does)
** ------------------------------------------------------------------- */
#define FM_GATE_OPS(X)                                                                        \
  X(END, 0, "", "end of the rule's code: the stack holds one value, the condition's")        \
  X(ITEM, 1, "field all ngroups group*", "push an item's value: the OR (all: the AND) of its" \
    " value groups over the field's value (field 0: every value, keywords)")                   \
  X(NOT, 2, "", "negate the top (unknown stays unknown)")                                      \
  X(ATLEAST, 3, "need n", "pop n values, push true when need of them are true, unknown when"   \
    " they could be, else false (and: need = n, or: need = 1, 1 of them...)")                \
  X(CONST, 4, "value", "push a value (the compiler's unknown: a condition it cannot encode)")

enum {
#define FM_GATE_OP_ENUM(name, value, operands, what) FM_OP_##name = value,
  FM_GATE_OPS(FM_GATE_OP_ENUM)
#undef FM_GATE_OP_ENUM
  FM_OP_N
};

/* A value group: flags nbits bit* nre rx* nref (field how cased)* ncidr
   (net_hi net_lo bits)*.  It is true when one of its patterns matched the
   value (a hit bit of the variant's sets), or by its flags, a regex (run
   here), a field reference or an IPv4 network; else unknown when it holds
   a value the VM cannot decide, else false.  X(name, bit, what) */
#define FM_GATE_FLAGS(X)                                                              \
  X(NULL, 1, "true when the field is absent or empty (|null)")                          \
  X(EXISTS, 2, "true when the field is present (|exists: true)")                        \
  X(ABSENT, 4, "true when the field is absent (|exists: false)")                        \
  X(OTHER, 8, "holds a value the VM cannot decide: unknown unless the group is true")   \
  X(GUARDS, 16, "the bits are its regexes' required literals: no hit, no regex run,"    \
    " and the group is not true by a bit")                                              \
  X(CIDR6, 32, "holds an IPv6 network: unknown for a value with ':', else false")       \
  X(CMP, 64, "holds a comparison (gt, gte, lt, lte): unknown unless the group is true")

enum {
#define FM_GATE_FLAG_ENUM(name, bit, what) FM_G_##name = bit,
  FM_GATE_FLAGS(FM_GATE_FLAG_ENUM)
#undef FM_GATE_FLAG_ENUM
  FM_G_ALL = 127
};

/* A field reference's comparison (fieldref, with |contains & co.) */
#define FM_GATE_REFS(X) X(equals, 0) X(contains, 1) X(startswith, 2) X(endswith, 3)
enum {
#define FM_GATE_REF_ENUM(name, value) FM_REF_##name = value,
  FM_GATE_REFS(FM_GATE_REF_ENUM)
#undef FM_GATE_REF_ENUM
  FM_REF_N
};

/* Kleene values (CONST's operand, emit's val) */
enum { FM_K_F = 0, FM_K_T = 1, FM_K_U = 2 };

/* Why a rule is unknown (emit's why: the causes met while evaluating it).
   X(name, bit) */
#define FM_GATE_WHY(X) \
  X(value, 1) X(cmp, 2) X(cidr6, 4) X(regex, 8) X(fold, 16) X(keyword, 32) X(const, 64)
enum {
#define FM_GATE_WHY_ENUM(name, bit) FM_GU_##name = bit,
  FM_GATE_WHY(FM_GATE_WHY_ENUM)
#undef FM_GATE_WHY_ENUM
  FM_GU_ALL = 127
};
/* value: a value no set holds nor the VM decides (a Lua-side regex, ...)
   cmp: a comparison; cidr6: an IPv6 network over an address with ':';
   regex: a regex that could not answer (an engine error, no thread copy);
   fold: a caseless field reference with non-ASCII bytes (Unicode folding);
   keyword: null or exists on keywords; const: the compiler's unknown */

enum { FM_GATE_MAXSTACK = 256 }; /* the deepest stack a rule's code may need */

typedef struct fm_gcond { /* the variant applies when field is one of vals */
  uint32_t field, nvals;
  uint32_t *off, *len; /* values (lower case) in the program's pool */
} fm_gcond;

typedef struct fm_gprobe { /* one set asked for one field's values */
  uint32_t field;          /* 0: every value of the event (keywords) */
  uint32_t base;           /* the hit bit of the set's first pattern */
  fm_wcset *const *set;    /* the owner's pointer to it (NULL once finalized) */
} fm_gprobe;

typedef struct fm_gvar {
  uint32_t ncond, nprobe, nbits, nrules, nalways, ntrig;
  fm_gcond *conds;
  fm_gprobe *probes;  /* sorted by field */
  uint32_t *pstart;   /* per field id: probes[pstart[f] .. pstart[f + 1]) */
  uint32_t *trig_at;  /* per bit: trig[trig_at[b] .. trig_at[b + 1]) pairs */
  uint32_t *trig;     /* slot, gate bits: the rules a hit bit moves (as
                         built: ntrig triples bit, slot, gate bits) */
  uint32_t *full;     /* per rule: the gate bits that make it a candidate */
  uint32_t *prog;     /* per rule: its code's start */
  uint32_t *always;   /* the rules evaluated on every event */
  uint32_t *ids;      /* per rule: the engine's index */
  int32_t *code;
  size_t ncode;
  uint32_t probe0;    /* the index of probes[0] among the program's probes */
} fm_gvar;

typedef struct fm_gprog {
  uint32_t nfields, nvars, nrx, nprobes;
  char *pool; /* field names and condition values */
  size_t npool;
  uint32_t *name_off, *name_len; /* per field id (1-based) */
  uint32_t *htab;                /* name hash -> field id (0: empty) */
  size_t hmask;
  fm_gvar *vars;
  fm_matcher **rx; /* regexes (kept alive by the program's owner) */
} fm_gprog;

/* Building (the loader, or a fuzz target): fill the names (name_off,
   name_len into pool, ids 1 .. nfields), rx, and each variant's conds,
   probes, nbits, trig (ntrig triples), full, prog, always, ids and code;
   then fm_gprog_finish indexes the names and probes and checks every
   rule's code (operands in range, the stack never under- or overflowing,
   one value at END): 0, or -1 with *err saying what is wrong (a static
   string).  fm_gprog_free frees what the program's arrays hold (not the
   sets nor the regexes). */
int fm_gprog_finish(fm_gprog *p, const char **err);
uint32_t fm_gprog_field(const fm_gprog *p, const char *name, size_t n); /* 0: none */
void fm_gprog_free(fm_gprog *p);
static inline uint32_t fm_gprog_rule(const fm_gprog *p, uint32_t var, uint32_t slot) {
  return p->vars[var].ids[slot];
}

/* ---------------------------------------------------------------------
** Running
** ------------------------------------------------------------------- */
typedef struct fm_grun fm_grun;
fm_grun *fm_grun_new(const fm_gprog *p, int thread); /* NULL: no memory */
void fm_grun_free(fm_grun *r);

/* emit(ud, var, slot, val, why) for each rule whose condition on the
   fields fs[0 .. nf) (each name once) is not false, until emit returns
   nonzero.  Returns 1 when emit stopped it, 0 when every rule was seen,
   -1 when the run cannot answer (no memory, a set finalized by hand): the
   event must then go to the engine. */
typedef int (*fm_gate_emit)(void *ud, uint32_t var, uint32_t slot, int val, unsigned why);
int fm_gate_eval(const fm_gprog *p, fm_grun *r, const fm_evfield *fs, size_t nf, fm_gate_emit emit,
                 void *ud);

#endif

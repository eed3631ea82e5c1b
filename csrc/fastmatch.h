/*
** fastmatch.h -- what every capability file shares: allocation (mimalloc or
** libc), the matcher interface the line filter calls, and the kernels'
** declarations.  Nothing here touches a lua_State, so that `make fuzz` can
** drive the kernels without Lua; the bindings' helpers are in binding.h.
*/
#ifndef FASTMATCH_H
#define FASTMATCH_H

#include <stddef.h>
#include <stdint.h>

#define FM_VERSION "0.1.0"

/* ---------------------------------------------------------------------
** Allocation.  Every byte the module owns goes through these, so that the
** build switch MIMALLOC=0 (for valgrind and heaptrack, which cannot see
** inside mimalloc) changes one place.
** ------------------------------------------------------------------- */
#if FM_MIMALLOC
#include <mimalloc.h>
#define fm_malloc(n) mi_malloc(n)
#define fm_calloc(k, n) mi_calloc(k, n)
#define fm_realloc(p, n) mi_realloc(p, n)
#define fm_free(p) mi_free(p)
#define FM_ALLOCATOR "mimalloc"
#else
#include <stdlib.h>
#define fm_malloc(n) malloc(n)
#define fm_calloc(k, n) calloc(k, n)
#define fm_realloc(p, n) realloc(p, n)
#define fm_free(p) free(p)
#define FM_ALLOCATOR "libc"
#endif

/* ---------------------------------------------------------------------
** The matcher interface.  Every matcher userdata (compiled regex, wildcard,
** wildcard set) starts with an fm_matcher and its metatable has the field
** FM_MATCHER_FIELD = true.  The line filter then tests each line as a byte
** range with no Lua round trip.
**   test() returns 1 (match), 0 (no match) or a negative FM_E* code.
** ------------------------------------------------------------------- */
typedef struct fm_matcher fm_matcher;
typedef int (*fm_testfn)(fm_matcher *m, const char *s, size_t n);
typedef struct fm_matcher_ops fm_matcher_ops;
struct fm_matcher {
  fm_testfn test;
  const fm_matcher_ops *ops; /* the extras below, or NULL for none */
};

/* A literal a subject must contain (bytes s[0..n), n > 0), compared
   ASCII-caseless (fm_isearch) when caseless, else exactly (fm_search). */
typedef struct fm_literal {
  const char *s;
  size_t n;
  int caseless;
} fm_literal;

/* What a matcher can tell the line filter beyond test().
   literals: a list such that every subject test() matches contains at least
     one of them; *lits points at the matcher's own array (valid while the
     matcher lives); returns its length, 0 when there is no such list.
   thread_copy: a matcher whose test() may run in another thread beside m's
     and beside other copies (m itself when test() is reentrant); NULL when
     m cannot (out of memory, or not supported).  thread_drop releases one.
     Either may be NULL: no literals / never threaded. */
struct fm_matcher_ops {
  size_t (*literals)(fm_matcher *m, const fm_literal **lits);
  fm_matcher *(*thread_copy)(fm_matcher *m);
  void (*thread_drop)(fm_matcher *m, fm_matcher *copy);
};

#define FM_MATCHER_FIELD "__fm_matcher"

enum {
  FM_EMATCHLIMIT = -1, /* PCRE2 match limit */
  FM_EDEPTHLIMIT = -2, /* PCRE2 depth limit */
  FM_EHEAPLIMIT = -3,  /* PCRE2 heap limit */
  FM_EUTF = -4,        /* invalid UTF-8 in a subject matched with 'u' */
  FM_ENOMEM = -5,      /* allocation failed */
  FM_EOTHER = -6       /* any other engine error */
};

/* ---------------------------------------------------------------------
** Lines (linereader.c): a block reader and line splitter.  Data is read
** in big blocks through a read callback (or lies in a borrowed string) and
** split at '\n' with memchr; each line is handed out as a pointer into the
** buffer, valid until the next call.  Errors are sticky.
** ------------------------------------------------------------------- */
/* Read up to n bytes into dst: bytes read, 0 at end of input, -1 with
   errno set on error. */
typedef ptrdiff_t (*fm_readfn)(void *ud, char *dst, size_t n);

#define FM_LINES_EREAD (-20)   /* the read callback failed: see err */
#define FM_LINES_ETOOLONG (-21) /* line number lineno is over max_line */
#define FM_LINES_NOLIMIT ((size_t)-1)

typedef struct fm_linereader {
  char *buf;        /* owned buffer, or the borrowed string */
  size_t cap;       /* bytes allocated at buf (0 when borrowed) */
  size_t beg, end;  /* unconsumed input is buf[beg, end) */
  size_t scan;      /* buf[beg, scan) is known to hold no '\n' */
  size_t block;     /* bytes asked of read at a time (at least 1) */
  size_t max_line;  /* longest line allowed, FM_LINES_NOLIMIT for none */
  size_t lineno;    /* number of the last line returned (1-based) */
  int crlf;         /* strip a '\r' before '\n' from the line's length */
  int eof;          /* read returned 0, or borrowed input */
  int status;       /* 0, or the sticky negative error */
  int err;          /* errno of the failed read */
  /* fm_lines_next_hit: when hits come on most lines, split line by line
     for a while (dense hits cost more than they skip) */
  size_t hits, skipped, plain;
  fm_readfn read;
  void *ud;
} fm_linereader;

typedef struct fm_line {
  const char *s; /* start of the line */
  size_t len;    /* without the terminator ("\n", or "\r\n" with crlf) */
  size_t full;   /* with the terminator as it is in the input */
} fm_line;

/* A reader over read(ud, ...); nothing is allocated before the first
   fm_lines_next.  max_line is FM_LINES_NOLIMIT for no limit. */
void fm_lines_init(fm_linereader *r, size_t block, size_t max_line, int crlf,
                   fm_readfn read, void *ud);
/* A reader over the n bytes at s, which must outlive it (never copied,
   never written). */
void fm_lines_init_string(fm_linereader *r, const char *s, size_t n,
                          size_t max_line, int crlf);
/* 1: *ln is the next line; 0: end of input; or FM_LINES_EREAD,
   FM_LINES_ETOOLONG (r->lineno names the line), FM_ENOMEM. */
int fm_lines_next(fm_linereader *r, fm_line *ln);
/* Count the lines left without handing them out (max_line unchecked):
   0 with *count set, or a negative code as above. */
int fm_lines_count(fm_linereader *r, size_t *count);
/* Free the buffer (idempotent).  Unconsumed input is lost. */
void fm_lines_free(fm_linereader *r);
/* Hand out the line buf[beg, at) whose terminator ends at next (nl: it
   has one, so crlf may strip a '\r'): 1, or FM_LINES_ETOOLONG.  The
   kernel's (linereader.c) and, inline, the binding's hot loop's (lines.c),
   which finds the newline itself 64 bytes at a time. */
static inline int fm_lines_give(fm_linereader *r, fm_line *ln, size_t at,
                                size_t next, int nl) {
  ln->s = r->buf + r->beg;
  ln->len = at - r->beg;
  ln->full = next - r->beg;
  if (nl && r->crlf && ln->len > 0 && ln->s[ln->len - 1] == '\r') ln->len--;
  r->beg = r->scan = next;
  r->lineno++;
  if (ln->len > r->max_line) return r->status = FM_LINES_ETOOLONG;
  return 1;
}

/* ---------------------------------------------------------------------
** Block search (linereader.c, literals.c): a scan for rare lines searches the
** whole buffer for a literal every matching line must contain, and finds
** line boundaries only around a hit (as grep does), so that most of the
** input is touched once, by SIMD search.
** ------------------------------------------------------------------- */
/* Offset of the first candidate in hay[0..n) (an occurrence of one of the
   literals), or FM_NOTFOUND. */
typedef size_t (*fm_findfn)(const void *ud, const char *hay, size_t n);

/* As fm_lines_next, but hands out only lines that contain a candidate of
   find (starting in the line) -- every other line is skipped, counted in
   lineno and checked against max_line, exactly as fm_lines_next would. */
int fm_lines_next_hit(fm_linereader *r, fm_findfn find, const void *fud,
                      fm_line *ln);

/* Number of '\n' bytes in s[0..n) (SIMD where available). */
size_t fm_count_nl(const char *s, size_t n);

/* A compiled multi-literal searcher over up to 64 fm_literal (copied):
   fm_litset_find is an fm_findfn (ud = the set) giving the start of an
   occurrence of one of them such that no occurrence ends before it does
   (for up to 8 literals, searched one by one, the first by start; beyond,
   an Aho-Corasick automaton's first).  NULL when out of memory, for none
   or more than 64, or when a literal is empty. */
typedef struct fm_litset fm_litset;
fm_litset *fm_litset_new(const fm_literal *lits, size_t n);
size_t fm_litset_find(const void *set, const char *hay, size_t n);
void fm_litset_free(fm_litset *set);

/* Aho-Corasick over ASCII-folded keys (literals.c): every occurrence of
   every key in one pass.  fm_ac_new folds keys[k][0..lens[k]) (copies
   nothing it keeps but the automaton); NULL when out of memory.  An empty
   key never hits.  fm_ac_scan calls hit(ud, k, end) for each occurrence of
   key k under ASCII folding ending at offset end (one past its last byte),
   in order of end; a nonzero return stops the scan and is returned. */
typedef struct fm_ac fm_ac;
typedef int (*fm_achit)(void *ud, uint32_t key, size_t end);
fm_ac *fm_ac_new(const char *const *keys, const size_t *lens, size_t n);
int fm_ac_scan(const fm_ac *ac, const char *s, size_t n, fm_achit hit,
               void *ud);
void fm_ac_free(fm_ac *ac);

/* Count the lines of fd's bytes [0, size) that m matches, with nthreads
   threads over ranges split at line boundaries (pread; no Lua).  find/fud:
   the block search (NULL for none).  0 with *count set; or a negative code
   (FM_LINES_*, FM_E*): the caller then counts again on one thread, which
   reports the error with its exact line number. */
int fm_count_parallel(int fd, size_t size, size_t nthreads, fm_matcher *m,
                      fm_findfn find, const void *fud, size_t block,
                      size_t max_line, int crlf, size_t *count);

/* ---------------------------------------------------------------------
** Writer (writer.c): an output buffer over a write callback.  Every byte
** accepted is either in the buffer or was written; a failed write leaves
** the unwritten bytes in the buffer and returns the errno.
** ------------------------------------------------------------------- */
/* Write up to n bytes: bytes written (> 0), or -1 with errno set. */
typedef ptrdiff_t (*fm_writefn)(void *ud, const char *p, size_t n);

typedef struct fm_wbuf {
  char *buf;
  size_t cap, len; /* buffer size; bytes waiting in it */
  fm_writefn write;
  void *ud;
} fm_wbuf;

/* Write all n bytes, retrying short writes and EINTR: 0, or an errno
   (*done, when not NULL, gets the bytes written either way). */
int fm_write_all(fm_writefn write, void *ud, const char *p, size_t n,
                 size_t *done);
/* 0 or FM_ENOMEM.  cap is at least 1. */
int fm_wbuf_init(fm_wbuf *b, size_t cap, fm_writefn write, void *ud);
/* Accept n bytes: buffered, or (when n >= cap) written straight through
   after a flush.  0, or an errno; *taken gets the bytes accepted (n, or
   on error the bytes written straight through). */
int fm_wbuf_add(fm_wbuf *b, const char *s, size_t n, size_t *taken);
/* Write the buffered bytes: 0, or an errno (what was not written stays). */
int fm_wbuf_flush(fm_wbuf *b);
void fm_wbuf_free(fm_wbuf *b);

/* ---------------------------------------------------------------------
** UTF-8 (utf8.c; the inline decoders and folding are in utf8.h).
** ------------------------------------------------------------------- */
/* The longest run of literal bytes at the top level of pattern p[0..n)
   (outside groups and classes, not quantified) into out[0..cap), cap at
   most 64: every match contains it.  0 when there is none or the pattern
   has '|', "(?", "(*", '{' or an escape with arguments (conservative).
   Not for patterns compiled extended (x). */
size_t fm_rx_literal(const char *p, size_t n, char *out, size_t cap);

/* Offset of the first byte of s[0..n) that does not start a valid UTF-8
   sequence, or n when all of it is valid. */
size_t fm_utf8_check(const char *s, size_t n);

/* ---------------------------------------------------------------------
** Replacement templates (template.c): plain C, fuzzable without Lua.
** ------------------------------------------------------------------- */
/* gsub replacement templates.  FM_TPL_LUA: %0-%9, %{name}, %{12}, %%; any
   other use of '%' is an error.  FM_TPL_REX (lrexlib): %0-%9, '%' before
   any other character stands for that character, a final '%' is dropped. */
enum { FM_TPL_LUA = 0, FM_TPL_REX = 1 };
enum { FM_TPL_TEXT, FM_TPL_GROUP, FM_TPL_NAME };
typedef struct fm_tpl_item {
  int kind;    /* FM_TPL_TEXT: t[a..a+b); GROUP: group a; NAME: t[a..a+b) */
  size_t a, b;
} fm_tpl_item;
/* Parse t[0..n) into out[0..cap).  Returns the item count (if it exceeds
   cap, call again with that much room), or (size_t)-1 on a syntax error
   with *errpos = offset of the offending '%'. */
size_t fm_tpl_parse(const char *t, size_t n, int mode, fm_tpl_item *out,
                    size_t cap, size_t *errpos);

/* ---------------------------------------------------------------------
** Substring search kernels (search.c).  Byte offsets; FM_NOTFOUND when
** absent; an empty needle is found at offset 0.  "Caseless" means ASCII
** folding: A-Z match a-z, every other byte (NUL and bytes >= 0x80
** included) matches only itself.  No copy of the haystack is ever made.
** ------------------------------------------------------------------- */
#define FM_NOTFOUND ((size_t)-1)

/* A-Z -> a-z, every other byte unchanged. */
extern const unsigned char fm_lower[256];

/* Offset of the first occurrence of needle[0..nn) in hay[0..hn), bytes
   compared exactly (memchr for one byte, else libc memmem). */
size_t fm_search(const char *hay, size_t hn, const char *needle, size_t nn);

/* The same, ASCII-caseless: SIMD (AVX2 chosen at run time, else SSE2) with a
   scalar fallback; needles without letters go to fm_search.  The caseless-
   literal fast path of a regex can call this directly. */
size_t fm_isearch(const char *hay, size_t hn, const char *needle, size_t nn);

/* 1 if a[0..n) and b[0..n) are equal under ASCII folding, else 0. */
int fm_iequal(const char *a, const char *b, size_t n);

/* The caseless implementation in use ("avx2", "sse2" or "scalar");
   fm_search_use(name) switches to another (for specs and benchmarks) and
   returns 0 when this CPU or build lacks it; fm_search_impls(k) names the
   k-th implementation ("" if this CPU lacks it, NULL past the last). */
const char *fm_search_impl(void);
int fm_search_use(const char *name);
const char *fm_search_impls(size_t k);

/* ---------------------------------------------------------------------
** Sigma wildcards (wildcard.c; the plan's layout is in wildcard.h).  A
** pattern compiles to a plan whose test() matches a whole subject; see the
** docs/wildcards.md for the semantics.
** ------------------------------------------------------------------- */
typedef struct fm_wcplan fm_wcplan;
enum { FM_WC_CASED = 1 };
/* Compile pattern[0..n) (flags: FM_WC_CASED); NULL when out of memory. */
fm_wcplan *fm_wc_compile(const char *pattern, size_t n, int flags);
/* 1 if the plan matches all of s[0..n), else 0. */
int fm_wc_match(const fm_wcplan *p, const char *s, size_t n);
/* The strategy: "exact", "prefix", "suffix", "contains", "prefix_suffix"
   or "glob". */
const char *fm_wc_kind(const fm_wcplan *p);
/* The literal every subject the plan matches contains (the longest one;
   for caseless non-ASCII plans the longest ASCII run, searched ASCII-
   caseless): 1 with *out pointing into the plan, or 0 when there is none
   ("*", "?"). */
int fm_wc_literal(const fm_wcplan *p, fm_literal *out);
void fm_wc_free(fm_wcplan *p);

/* Pattern sets (sets.c).  A set of plans: which of them match s, in one pass over s for the
   literal parts.  fm_wcset_new takes ownership of the plans and of the
   fm_malloc'd array holding them (also when it fails: NULL when out of
   memory).  Not reentrant: a run keeps its
   scratch state in the set. */
typedef struct fm_wcset fm_wcset;
fm_wcset *fm_wcset_new(fm_wcplan **plans, size_t n);
/* FM_SET_ANY: 1 if any plan matches, else 0.  FM_SET_FIRST: the 1-based
   index of the lowest matching plan, 0 if none.  FM_SET_ALL: the number of
   matching plans; fm_wcset_matches() then holds their 0-based indexes in
   ascending order, valid until the next run. */
enum { FM_SET_ANY, FM_SET_FIRST, FM_SET_ALL };
size_t fm_wcset_run(fm_wcset *set, const char *s, size_t n, int mode);
const size_t *fm_wcset_matches(const fm_wcset *set);
size_t fm_wcset_size(const fm_wcset *set);
/* The plans' required literals (fm_wc_literal) into out[0..cap): their
   number, or 0 when some plan has none, or there are more than cap. */
size_t fm_wcset_literals(const fm_wcset *set, fm_literal *out, size_t cap);
/* A set for another thread: it shares set's tables (which must outlive it
   and stay unchanged) and has its own run state; free with fm_wcset_free.
   NULL when out of memory. */
fm_wcset *fm_wcset_thread_copy(const fm_wcset *set);
void fm_wcset_free(fm_wcset *set);


#endif

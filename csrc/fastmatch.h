/*
** fastmatch.h -- what every capability file shares: allocation (mimalloc or
** libc), the matcher interface the line filter calls, and small helpers for
** the Lua bindings.  Kernels include this for fm_malloc & co. only; they must
** not touch a lua_State, so that `make fuzz` can drive them without Lua.
*/
#ifndef FASTMATCH_H
#define FASTMATCH_H

#include <stddef.h>

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
struct fm_matcher {
  fm_testfn test;
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
** Lines (lines.c): a block reader and line splitter.  Data is read in big
** blocks through a read callback (or lies in a borrowed string) and split
** at '\n' with memchr; each line is handed out as a pointer into the
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
/* Free the buffer (idempotent).  Unconsumed input is lost. */
void fm_lines_free(fm_linereader *r);

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
** Binding helpers (core.c).  Only binding code may use these.
** ------------------------------------------------------------------- */
#ifdef LUA_VERSION_NUM
/* The matcher at stack index idx, or NULL if the value is not one. */
fm_matcher *fm_tomatcher(lua_State *L, int idx);
/* Raise the error that a negative test() code stands for. */
int fm_matcher_error(lua_State *L, int code);
/* Register functions into the module table at the top of the stack. */
void fm_setfuncs(lua_State *L, const luaL_Reg *l);
/* Create a metatable with methods (as __index), metamethods and the
   matcher mark when ismatcher; leaves it on the stack. */
void fm_newclass(lua_State *L, const char *name, const luaL_Reg *methods,
                 const luaL_Reg *meta, int ismatcher);
/* Lua integer argument as a size_t, raising when it does not fit. */
size_t fm_checksize(lua_State *L, int arg);
size_t fm_optsize(lua_State *L, int arg, size_t def);

/* Each capability adds its functions to the module table on the stack. */
void fm_open_alloc(lua_State *L);
void fm_open_lines(lua_State *L);
void fm_open_writer(lua_State *L);
#endif

#endif

/*
** evtx.h -- Windows event log files (.evtx) read into structure events
** (evsink.h): the file header, 64 KiB chunks, their binary XML, every value
** type, handed to an fm_sink as the JSON value evtx_dump (the Rust evtx
** crate) writes for each record.  Plain C, no Lua; fuzzed alone.
**
** A chunk is independent of every other: fm_evtx_load takes its 65536 bytes
** and fm_evtx_next hands out its records, so chunks can be read on any
** thread, each with its own fm_evtx (the workspace: chunk-scoped template
** and name caches, record-scoped arenas).  fm_evtx_file reads a file's
** header and chunks in order through a read callback (a pipe will do).
**
** Damage is normal in forensics: what cannot be read is reported through
** the fm_evtx's report callback (chunk number, file offset, reason) and
** skipped, and the rest is read.  Nothing in the input can make the reader
** loop, recurse or allocate without bound: element nesting, nested binary
** XML and what a record expands to (templates whose placeholders repeat a
** value) are capped, and a record over a cap is reported and skipped.
*/
#ifndef FM_EVTX_H
#define FM_EVTX_H

#include <stddef.h>
#include <stdint.h>

#include "evsink.h"

#define FM_EVTX_HEADER_SIZE 4096
#define FM_EVTX_CHUNK_SIZE 65536

/* What a report is about. */
enum {
  FM_EVTX_R_FILE = 1,   /* the file header (chunk is -1): noted, chunks read */
  FM_EVTX_R_CHUNK = 2,  /* a chunk that is skipped whole */
  FM_EVTX_R_RECORD = 3, /* a record that is skipped */
  FM_EVTX_R_WARN = 4    /* noted, the data is read anyway (a checksum) */
};

typedef struct fm_evtx_report {
  int kind;           /* FM_EVTX_R_* */
  int64_t chunk;      /* chunk number from 0 (file order), -1: file header */
  uint64_t offset;    /* file offset of what is reported */
  uint64_t record_id; /* the record's id from its header, 0 when unknown */
  char reason[160];   /* what is wrong, in words */
} fm_evtx_report;

typedef void (*fm_evtx_reportfn)(void *ud, const fm_evtx_report *r);

/* Options (fm_evtx_new's flags). */
enum {
  /* skip a chunk whose header or records checksum fails (reported as
     FM_EVTX_R_CHUNK); without it such a chunk is read and reported as
     FM_EVTX_R_WARN, as evtx_dump reads it */
  FM_EVTX_STRICT_CRC = 1
};

/* A record handed out. */
typedef struct fm_evtx_rec {
  uint64_t id;       /* event record identifier (record header) */
  uint64_t filetime; /* written time (record header): 100 ns since 1601 */
  uint64_t offset;   /* file offset of the record */
  uint32_t size;     /* its size in bytes */
  int64_t chunk;     /* its chunk's number */
} fm_evtx_rec;

/* fm_evtx_next's answers (and fm_evtx_load's, fm_evtx_file_*'s). */
enum {
  FM_EVTX_END = 0,     /* no more records in this chunk */
  FM_EVTX_RECORD = 1,  /* a record went to the sink */
  FM_EVTX_SINK = -2,   /* the sink stopped: its code is fm_evtx_sinkrc() */
  FM_EVTX_NOMEM = -5,  /* = FM_ENOMEM */
  FM_EVTX_EREAD = -20  /* the read callback failed (fm_evtx_file) */
};

typedef struct fm_evtx fm_evtx;

/* A workspace (one per thread); NULL when out of memory.  report may be
   NULL (reports are then only counted in fm_evtx_stats). */
fm_evtx *fm_evtx_new(unsigned flags, fm_evtx_reportfn report, void *ud);
void fm_evtx_free(fm_evtx *x);

/* Take the chunk data[0..n) (n is 65536 for a whole chunk, less for the
   cut end of a file; it is borrowed until the next load or free), found at
   file offset base as chunk number index.  1: its records follow through
   fm_evtx_next; 0: nothing to read (an all-zero chunk, silently; a damaged
   or cut one, reported); or FM_EVTX_NOMEM. */
int fm_evtx_load(fm_evtx *x, const unsigned char *data, size_t n,
                 uint64_t base, int64_t index);

/* The loaded chunk's next record into sink s: FM_EVTX_RECORD (*rec
   filled), FM_EVTX_END, FM_EVTX_SINK or FM_EVTX_NOMEM.  A record that does
   not parse is reported and skipped before any of it reaches the sink.
   The sink may longjmp out (a Lua error): the reader stays usable and the
   next call goes on after that record. */
int fm_evtx_next(fm_evtx *x, fm_sink *s, fm_evtx_rec *rec);
int fm_evtx_sinkrc(const fm_evtx *x);

/* Chunks numbered nchunks or more lie past the file header's count: one
   without a chunk magic there is unused space, skipped without a report
   (fm_evtx_file_open sets it from a header it trusts). */
void fm_evtx_set_counted(fm_evtx *x, int64_t nchunks);

/* Counters since fm_evtx_new. */
typedef struct fm_evtx_stats {
  uint64_t records;     /* handed to a sink */
  uint64_t bad_records; /* reported and skipped */
  uint64_t chunks;      /* loaded with records to read */
  uint64_t bad_chunks;  /* reported and skipped */
  uint64_t empty_chunks;/* all zero, or unused space: skipped silently */
  uint64_t warnings;    /* FM_EVTX_R_WARN and FM_EVTX_R_FILE reports */
} fm_evtx_stats;
const fm_evtx_stats *fm_evtx_stats_of(const fm_evtx *x);
/* Send a report through x's callback (and count it): for drivers that find
   damage themselves (a cut chunk, a bad file header). */
void fm_evtx_report_to(fm_evtx *x, int kind, int64_t chunk, uint64_t offset,
                       uint64_t record_id, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* ---------------------------------------------------------------------
** A file in order: its header, then every chunk to the end of the input
** (chunks past the header's count included: a dirty file's last ones are
** often not counted yet).
** ------------------------------------------------------------------- */
typedef ptrdiff_t (*fm_evtx_readfn)(void *ud, char *dst, size_t n);

typedef struct fm_evtx_file {
  fm_evtx_readfn read;
  void *ud;
  unsigned char *buf; /* one chunk */
  uint64_t pos;       /* file offset of the next byte to read */
  int64_t next;       /* number of the next chunk */
  int eof, err;       /* err: errno of a failed read */
  int notevtx;        /* the header and the first chunk are both bad */
  int ended;          /* fm_evtx_file_end was called */
  /* the header's fields (0 when the header is bad) */
  uint64_t first_chunk, last_chunk, next_record_id;
  uint32_t header_chunks, flags;
  int dirty;
  int64_t counted; /* the header's chunk count if the header is trusted, else -1 */
} fm_evtx_file;

/* Read and check the header (reports go to x): 0, FM_EVTX_EREAD or
   FM_EVTX_NOMEM.  A bad header is reported and the chunks are read. */
int fm_evtx_file_open(fm_evtx_file *f, fm_evtx *x, fm_evtx_readfn read,
                      void *ud);
/* Read the next chunk into dst (65536 bytes): 1 with *n its size (65536,
   or less for a cut last chunk) and *index, *base set; 0 at the end;
   FM_EVTX_EREAD. */
int fm_evtx_file_read_chunk(fm_evtx_file *f, unsigned char *dst, size_t *n,
                            int64_t *index, uint64_t *base);
/* Load the next chunk that has records into x: 1, 0 at the end, or a
   negative code.  A cut chunk is reported here. */
int fm_evtx_file_next(fm_evtx_file *f, fm_evtx *x);
/* At the end of the chunks (fm_evtx_file_next calls it): reports a file
   that had neither a file header nor a chunk, once. */
void fm_evtx_file_end(fm_evtx_file *f, fm_evtx *x);
void fm_evtx_file_close(fm_evtx_file *f);

/* The CRC-32 of p[0..n) by tables and by the fast path (fuzzing). */
void fm_evtx_crc_check(const unsigned char *p, size_t n, uint32_t *tab,
                       uint32_t *fast);

/* Does p[0..n) start like an EVTX file (its header magic, or a chunk's)? */
int fm_evtx_sniff(const void *p, size_t n);

/* ---------------------------------------------------------------------
** The JSON writer (jsonout.c): an fm_sink that writes evtx_dump's JSON
** text of each event into a growing buffer (compact, or indented as
** evtx_dump's default output is).
** ------------------------------------------------------------------- */
typedef struct fm_jsonout {
  fm_sink sink; /* first: the writer is its own sink */
  char *buf;
  size_t len, cap;
  int indent; /* spaces per level, 0: one line */
  int depth, err;
  unsigned char first[512]; /* per level: no member yet */
  unsigned char arr[512];   /* per level: an array */
} fm_jsonout;

void fm_jsonout_init(fm_jsonout *j, int indent);
void fm_jsonout_free(fm_jsonout *j);
/* Append raw bytes (a separator between events): 0 or FM_SINK_NOMEM. */
int fm_jsonout_raw(fm_jsonout *j, const char *s, size_t n);

/* ---------------------------------------------------------------------
** Threads (evtx_pool.c): one file's chunks read on several cores, records
** handed out in file order.  The caller reads the chunks (in order) and
** feeds them; workers turn each into a job's output: JSON text per record,
** or a recording of the sink events that fm_evtx_pool_replay plays back
** to any sink.  Memory is bounded by the jobs in flight (2 per thread).
** ------------------------------------------------------------------- */
typedef struct fm_evtx_pool fm_evtx_pool;
enum { FM_EVTX_POOL_JSON = 1, FM_EVTX_POOL_EVENTS = 2 };
/* nthreads workers; mode FM_EVTX_POOL_*; indent for JSON.  NULL when out
   of memory or threads cannot start. */
fm_evtx_pool *fm_evtx_pool_new(size_t nthreads, int mode, unsigned flags,
                               int indent);
void fm_evtx_pool_free(fm_evtx_pool *p);

/* One item out of the pool, in file order. */
typedef struct fm_evtx_item {
  int kind;           /* FM_EVTX_RECORD, or FM_EVTX_R_* for a report */
  fm_evtx_rec rec;    /* for a record */
  const char *json;   /* POOL_JSON: the record's text */
  size_t jlen;
  const fm_evtx_report *report; /* for a report */
} fm_evtx_item;

/* Drive a file through the pool: 1 with *it the next item (valid until the
   next call); 0 at the end; FM_EVTX_EREAD, FM_EVTX_NOMEM.  The file must
   be open (fm_evtx_file_open, whose reports the caller took already). */
int fm_evtx_pool_next(fm_evtx_pool *p, fm_evtx_file *f, fm_evtx_item *it);
/* POOL_EVENTS: play the last record's events to s: 0 or the sink's code. */
int fm_evtx_pool_replay(fm_evtx_pool *p, fm_sink *s);
/* The counters of every worker, added up. */
void fm_evtx_pool_stats(fm_evtx_pool *p, fm_evtx_stats *out);

#endif

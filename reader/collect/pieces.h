/* The capture file as the collector writes it: each stream's bytes gathered and written as
 * pieces (include/memtap/container.h), an LZ4 frame each, so streams of processes that run
 * at the same time interleave in one file. A write error is sticky: it is said once, and
 * the streams go on being drained (the program must never wait for a broken disk). */
#ifndef MEMTAP_READER_PIECES_H
#define MEMTAP_READER_PIECES_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Raw bytes gathered before a stream's piece is written (and every 500 ms). */
#define MEMTAP_PIECE_RAW (1u << 20)

typedef ssize_t (*memtap_piece_write_fn)(int fd, const void *buf, size_t len);

typedef struct {
    int fd;
    int error;                   /* errno of the first failed write, sticky */
    uint64_t bytes;              /* file bytes written */
    uint64_t next_stream;        /* the id the next stream gets */
    uint8_t *out;                /* compressed piece under way */
    size_t out_cap;
    memtap_piece_write_fn write; /* write(2); tests inject failures */
} memtap_piece_file_t;

typedef struct {
    uint64_t id, pid;
    unsigned flags;    /* MEMTAP_PIECE_ROOT when the root process's */
    int first_written; /* a piece of it is in the file */
    int ended;         /* its LAST piece is written */
    uint8_t *raw;      /* bytes not yet written */
    size_t len;
    uint64_t since_ns; /* when raw got its first byte */
} memtap_piece_stream_t;

/* Takes fd (already created for the capture). write_fn NULL: write(2). */
void memtap_piece_file_init(memtap_piece_file_t *f, int fd, memtap_piece_write_fn write_fn);
void memtap_piece_file_free(memtap_piece_file_t *f);

/* Starts a stream for process pid. Returns 0, or -1 when out of memory. */
int memtap_piece_stream_open(memtap_piece_file_t *f, memtap_piece_stream_t *s, uint64_t pid,
                             int root);

/* Appends bytes to the stream; writes a piece whenever MEMTAP_PIECE_RAW are gathered. */
int memtap_piece_put(memtap_piece_file_t *f, memtap_piece_stream_t *s, const void *p, size_t n);

/* Writes what is gathered as a piece (nothing when empty), with LAST (and KILLED, with the
 * signal in status) when `last`. The last piece is written even when empty. */
int memtap_piece_flush(memtap_piece_file_t *f, memtap_piece_stream_t *s, int last, int killed,
                       int status);

/* Frees the stream's buffer (its LAST piece should be written first). */
void memtap_piece_stream_free(memtap_piece_stream_t *s);

#endif

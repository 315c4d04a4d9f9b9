/* The container index: one pass over a capture file (docs/format.md, section 1) that reads
 * its piece headers and walks each piece's LZ4 frame by its block headers, without
 * decompressing, then reads each stream's image header (the start of its first piece only)
 * and links streams into processes and processes into a tree. Every length and offset is
 * checked; memory is 16 bytes a piece plus a little per stream and process (the limits
 * below). May call:
 * liblz4's LZ4F API, records.c's header parser (decoder_internal.h), include/memtap. */
#ifndef MEMTAP_READER_CONTAINER_H
#define MEMTAP_READER_CONTAINER_H

#include <stddef.h>
#include <stdint.h>

#include "common/vec.h"

#define MEMTAP_NONE UINT32_MAX /* no piece, stream or process */
/* Limits that bound the index's memory whatever the file holds (about 2 GiB at most;
 * a real capture needs a piece per 1 MiB of records or 500 ms of a process's life) */
#define MEMTAP_MAX_PIECES (1u << 26)  /* 16 bytes each */
#define MEMTAP_MAX_STREAMS (1u << 22) /* images: about 100 bytes each, and their commands */

/* One piece: where its LZ4 frame starts, whose it is, and its stream's next piece. */
typedef struct {
    uint64_t frame;  /* file offset of the LZ4 frame */
    uint32_t stream; /* index in streams */
    uint32_t next;   /* the stream's next piece (MEMTAP_NONE: the last in the file) */
} memtap_piece_t;

/* One stream: the records of one process image, its pieces in file order. */
typedef struct {
    uint64_t id, pid;     /* the piece headers' */
    uint64_t at;          /* file offset of its first piece's header */
    uint32_t first, last; /* its first and last pieces in the file */
    unsigned flags;       /* MEMTAP_PIECE_* of all its pieces together */
    uint32_t status;      /* with MEMTAP_PIECE_KILLED: the signal (0: not known) */
    int whole;            /* its LAST piece is in the file, its LZ4 frame whole */
    /* its image header, when its first piece holds it (has_header) */
    int has_header;
    uint32_t header_flags; /* MEMTAP_HDR_* */
    uint64_t header_pid, ppid, start_unix_ns;
    uint32_t process;    /* the process it belongs to */
    uint32_t next_image; /* the process's next stream (MEMTAP_NONE: its last) */
} memtap_stream_t;

/* One process: its images' streams in order (an exec continues the same process). */
typedef struct {
    uint64_t pid, ppid;     /* the first image's header (the piece's pid without one) */
    uint64_t start_unix_ns; /* 0: no image header */
    uint32_t first, last;   /* its first and last streams */
    uint32_t images;        /* streams */
    uint32_t parent;        /* the latest earlier process whose pid is ppid, or MEMTAP_NONE */
    uint32_t depth;         /* in the tree: 0 for a process without a parent here */
    int root;               /* its streams carry MEMTAP_PIECE_ROOT */
    int complete;           /* every image ended by its own LAST piece, none killed */
    int killed;             /* its last image's LAST piece says KILLED */
    uint32_t signal;        /* when killed: the signal (0: not known) */
    char *command;          /* its last header's command line, arguments joined by spaces
                               (at most 4 KiB kept), "" without a header */
} memtap_process_t;

typedef struct memtap_container {
    int fd;
    uint64_t file_size;
    MEMTAP_VEC(memtap_piece_t) pieces;
    MEMTAP_VEC(memtap_stream_t) streams;
    MEMTAP_VEC(memtap_process_t) processes; /* in the order of their first streams' ids */
    uint32_t root; /* the root process (the first with ROOT), MEMTAP_NONE: none */
    int cut;       /* the file ends inside a piece or its header (memtap run was killed) */
    uint64_t end;  /* file offset where the last whole piece ends */
    char error[512];
} memtap_container_t;

/* Indexes the capture at path into *c (allocated here; free it with memtap_container_free
 * whatever the result). Returns MEMTAP_OK, or MEMTAP_ERR_IO (cannot read: exit 2),
 * MEMTAP_ERR_CORRUPT ("corrupt capture at byte N: what", N a file offset, or "not a memtap
 * capture ..."), MEMTAP_ERR_VERSION or MEMTAP_ERR_NOMEM, the message in (*c)->error (*c is
 * NULL only when out of memory). At least one process when MEMTAP_OK. Not for use inside
 * malloc. */
int memtap_container_open(memtap_container_t **c, const char *path);
void memtap_container_free(memtap_container_t *c);

/* The process a report shows for pid (-1: the root process, else the first whose pid it
 * is; the first process when none is ROOT). MEMTAP_NONE when pid names none. */
uint32_t memtap_container_find(const memtap_container_t *c, long long pid);

/* Walks the LZ4 frame at file offset `at` by its headers, without decompressing. Returns
 * 1 with *end just past its end mark (and content checksum), 0 when the file ends inside
 * it (*end: the file's size), -1 when it is not a valid LZ4 frame (why: what). */
int memtap_lz4_frame_walk(int fd, uint64_t file_size, uint64_t at, uint64_t *end, const char **why);

#endif

/* Decoder: turns one process of a capture (format version MEMTAP_FORMAT_VERSION only) into
 * validated events, in the order the records happened: its images one after another. All
 * validation of capture contents lives here (and in container.c for the container):
 * lengths, indices, counts, record order. Errors name the byte offset in the process's
 * images' decompressed bytes, one after another (for a capture of one process, what
 * `lz4 -dc FILE` prints), or, for LZ4 damage, in the file. Not for use inside malloc (it
 * allocates). */
#ifndef MEMTAP_READER_DECODER_H
#define MEMTAP_READER_DECODER_H

#include <stddef.h>
#include <stdint.h>

#include "memtap/format.h"
#include "container/container.h"
#include "container/source.h"

typedef enum {
    MEMTAP_EV_HEADER,
    MEMTAP_EV_MODULES_RESET,
    MEMTAP_EV_MODULE,
    MEMTAP_EV_THREAD,
    MEMTAP_EV_THREAD_NAME,
    MEMTAP_EV_NODE,
    MEMTAP_EV_ALLOC,
    MEMTAP_EV_FREE,
    MEMTAP_EV_MUNMAP,
    MEMTAP_EV_TIME,
    MEMTAP_EV_EXEC,
    MEMTAP_EV_EXIT,
    MEMTAP_EV_TRAILER,
    MEMTAP_EV_PY_CODE,
    MEMTAP_EV_MAIN_DONE,
    MEMTAP_EV_LEAK_SCAN,    /* the leak scan at exit: the blocks it classified */
    MEMTAP_EV_LEAK_CLASSES, /* classes of blocks first .. first + n - 1, by address */
    MEMTAP_EV_END, /* no more events: see complete */
} memtap_ev_type_t;

typedef struct {
    uint64_t vaddr, memsz;
    uint32_t flags;
} memtap_seg_t;

/* Strings point into the decoder's window: valid until the next memtap_decoder_next. */
typedef struct {
    memtap_ev_type_t type;
    uint64_t offset; /* of the record in the decompressed stream */
    union {
        struct {
            unsigned version; /* always MEMTAP_FORMAT_VERSION */
            uint32_t flags;
            uint64_t pid, ppid, start_unix_ns, page_size;
            const char *exe, *cmdline;
            size_t exe_len, cmdline_len;
        } header;
        struct {
            const char *path;
            size_t path_len;
            uint64_t bias;
            const uint8_t *build_id;
            size_t build_id_len;
            size_t nseg;
            const memtap_seg_t *segs;
        } module;
        struct {
            uint32_t index; /* THREAD: the index it gets; THREAD_NAME: the one named */
            uint64_t tid;
            const char *name;
            size_t name_len;
        } thread;
        struct {
            uint32_t id, parent;
            uint64_t frame; /* a Python frame (PY_NODE) is tagged: memtap_is_py_frame */
        } node;
        struct {
            uint64_t id, firstline;
            const char *qualname, *filename;
            size_t qualname_len, filename_len;
        } py_code;
        struct {
            unsigned kind;
            uint64_t addr, size;
            uint32_t node;
            uint32_t thread; /* the allocating thread's source number (batch.h) */
        } alloc;
        struct {
            uint64_t addr, len; /* len: MUNMAP only */
        } free;
        struct {
            uint64_t ms, rss;
        } time; /* EXEC, EXIT and MAIN_DONE use ms */
        struct {
            uint64_t allocations, frees, nodes;
        } trailer;
        struct {
            uint64_t blocks, hash, ms; /* LEAK_SCAN (memtap_leak_hash of their addresses) */
        } leak_scan;
        struct {
            uint64_t first, n;
            const uint8_t *bits; /* (n + 3) / 4 bytes, 2 bits a block (MEMTAP_CLASS_*) */
        } leak_classes;
        struct {
            int complete; /* 0: an image was cut (killed, or the file ends inside it) */
        } end;
    } u;
} memtap_event_t;

typedef struct memtap_decoder memtap_decoder_t;

/* Opens process `process` of c (an index from memtap_container_open, which must outlive the
 * decoder) for decoding. Returns MEMTAP_OK or an error with the message in *dec's
 * memtap_decoder_error (the decoder must still be freed; *dec is NULL when out of memory). */
int memtap_decoder_open_process(memtap_decoder_t **dec, const memtap_container_t *c,
                                uint32_t process);

/* Indexes the capture at path and opens its root process (memtap_container_find(c, -1)),
 * as memtap_decoder_open_process; the index's errors come the same way. */
int memtap_decoder_open(memtap_decoder_t **dec, const char *path);
void memtap_decoder_free(memtap_decoder_t *dec);

/* Next event. Returns MEMTAP_OK (ev filled; MEMTAP_EV_END last), or an error code:
 * MEMTAP_ERR_CORRUPT, MEMTAP_ERR_VERSION (an image of another format version),
 * MEMTAP_ERR_IO or MEMTAP_ERR_NOMEM. */
int memtap_decoder_next(memtap_decoder_t *dec, memtap_event_t *ev);

/* The message of the last error: "corrupt capture at byte N: what" (" (process P)" after
 * it when the capture holds several), or "capture format version V, this memtap reads
 * version 6". */
const char *memtap_decoder_error(const memtap_decoder_t *dec);

/* Progress: the file offset reached and the file's size. */
void memtap_decoder_progress(const memtap_decoder_t *dec, uint64_t *done, uint64_t *total);

#endif
